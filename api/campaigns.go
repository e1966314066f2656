package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/service/campaigns"
)

// Campaigns is what the 最美家庭 handlers need (campaigns.Service
// satisfies it). Role checks are repeated by the service.
type Campaigns interface {
	Now() time.Time
	Campaigns(ctx context.Context) ([]model.Campaign, error)
	Campaign(ctx context.Context, id int64) (model.Campaign, error)
	PublicWinners(ctx context.Context, c model.Campaign) ([]model.Winner, error)
	Nominate(ctx context.Context, userID, campaignID int64, in campaigns.NominationInput) (model.Nomination, error)
	EditNomination(ctx context.Context, userID, id int64, in campaigns.NominationInput) (model.Nomination, error)
	MyNominations(ctx context.Context, userID int64, p model.Page) ([]model.Nomination, string, error)
	Nomination(ctx context.Context, userID, id int64) (model.Nomination, error)
	Gallery(ctx context.Context, q model.GalleryQuery) (*campaigns.GalleryPage, error)
	Vote(ctx context.Context, voterID, nominationID int64, m campaigns.VoteMeta) (campaigns.VoteResult, error)
	Leaderboard(ctx context.Context, campaignID int64, category string, limit int) ([]campaigns.LeaderboardEntry, error)
	ShareCode(ctx context.Context, userID, id int64) (string, error)

	CreateCampaign(ctx context.Context, in campaigns.CampaignInput) (model.Campaign, error)
	UpdateCampaign(ctx context.Context, id int64, p campaigns.CampaignPatch) (model.Campaign, error)
	ReviewList(ctx context.Context, f model.NominationFilter, p model.Page) ([]model.Nomination, string, error)
	ReviewNomination(ctx context.Context, id int64, approve bool, reason string) (model.Nomination, error)
	Integrity(ctx context.Context, campaignID int64) (campaigns.Integrity, error)
	VoidVotes(ctx context.Context, campaignID int64, in campaigns.VoidInput) (int64, error)
	Recount(ctx context.Context, campaignID int64) error
	WriteLedger(ctx context.Context, campaignID int64, w io.Writer) (string, int64, error)
	Winners(ctx context.Context, campaignID int64, all bool) ([]model.Winner, error)
	OverrideWinners(ctx context.Context, campaignID int64, in campaigns.OverrideInput) ([]model.Winner, error)
}

// addCampaignRoutes adds the 最美家庭 routes (with Deps.Campaigns and
// Deps.Accounts): campaigns, nominations, the gallery, votes, leaderboards
// and share codes in the Mini Program; campaigns, review, integrity,
// voids, the ledger export and winners for reviewers.
//
// The vote route hangs off the root, not api: it skips the generic per-IP
// limiter because the vote itself counts the client IP and the device in
// the same Redis round trip that reads the voter's day (campaigns.Vote),
// for every vote, refused ones included. That saves a round trip on the
// hottest route.
func (s *server) addCampaignRoutes(r, api *Router) {
	if s.Campaigns == nil || s.Accounts == nil {
		return
	}
	svc, files := s.Campaigns, s.FileURLPrefix
	mp := api.Group("/mp", "mp", "mp", s.requireMP())
	mp.Handle(http.MethodGet, "/campaigns", "最美家庭 campaigns, the latest first", s.wrap(handleListCampaigns(svc)))
	mp.Handle(http.MethodGet, "/campaigns/:id", "One campaign with its phase (and winners once shown)", s.wrap(handleGetCampaign(svc)))
	mp.Handle(http.MethodPost, "/campaigns/:id/nominations", "Nominate a family (story and photos are content-checked, then reviewed)",
		s.wrap(handleNominate(svc, files)))
	mp.Handle(http.MethodGet, "/campaigns/:id/nominations", "The gallery: approved nominations (?category=&sort=votes|recent&cursor=&limit=)",
		s.wrap(handleGallery(svc, files)))
	mp.Handle(http.MethodGet, "/campaigns/:id/leaderboard", "The most-voted approved nominations (?category=&limit=)",
		s.wrap(handleLeaderboard(svc)))
	mp.Handle(http.MethodGet, "/nominations/:id", "An approved nomination, or one of the caller's own", s.wrap(handleGetNomination(svc, files)))
	mp.Handle(http.MethodPatch, "/nominations/:id", "Edit the caller's pending nomination", s.wrap(handleEditNomination(svc, files)))
	mp.Handle(http.MethodGet, "/me/nominations", "The caller's nominations with status and reject reason", s.wrap(handleMyNominations(svc, files)))
	votes := r.Group("/api/mp", "mp", "mp", requestTimeout(30*time.Second), s.requireMP())
	votes.Handle(http.MethodPost, "/nominations/:id/votes", "Vote for a nomination (429 vote_limit or rate_limited, 409 not_open)",
		s.wrap(handleVote(svc)))
	mp.Handle(http.MethodGet, "/nominations/:id/share-code", "The nomination's Mini Program code (generated once)",
		s.wrap(handleShareCode(svc, files)))

	rv := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleReviewer))
	rv.Handle(http.MethodGet, "/campaigns", "最美家庭 campaigns", s.wrap(handleListCampaigns(svc)))
	rv.Handle(http.MethodPost, "/campaigns", "Create a campaign (audited)", s.wrap(handleCreateCampaign(svc)))
	rv.Handle(http.MethodGet, "/campaigns/:id", "One campaign", s.wrap(handleGetCampaign(svc)))
	rv.Handle(http.MethodPatch, "/campaigns/:id", "Change a campaign (audited)", s.wrap(handleUpdateCampaign(svc)))
	rv.Handle(http.MethodGet, "/campaigns/:id/integrity", "Vote totals, voided by reason, anomaly flags and the ledger digest",
		s.wrap(handleIntegrity(svc)))
	rv.Handle(http.MethodPost, "/campaigns/:id/voids", "Void votes by voter, nomination or time range, with a reason (audited)",
		s.wrap(handleVoid(svc)))
	rv.Handle(http.MethodPost, "/campaigns/:id/recount", "Recount every nomination from the ledger (audited)", s.wrap(handleRecount(svc)))
	rv.Handle(http.MethodGet, "/campaigns/:id/ledger", "The public ledger export (CSV; its SHA-256 is the digest)", s.wrap(handleLedger(svc, s.log)))
	rv.Handle(http.MethodGet, "/campaigns/:id/winners", "Winners (?all=true: with replaced records)", s.wrap(handleWinners(svc)))
	rv.Handle(http.MethodPost, "/campaigns/:id/winners", "Override a category's winners, with a reason (audited)",
		s.wrap(handleOverrideWinners(svc)))
	rv.Handle(http.MethodGet, "/nominations", "Nominations to review (?status=pending&campaign_id=&category=)",
		s.wrap(handleReviewList(svc, files)))
	rv.Handle(http.MethodPost, "/nominations/:id/review", "Approve or reject a nomination (audited; the nominator is told)",
		s.wrap(handleReview(svc, files)))
}

// --- answers ---

type categoryAnswer struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Quota int    `json:"quota"`
}

type winnerAnswer struct {
	Category     string  `json:"category"`
	NominationID int64   `json:"nomination_id"`
	FamilyName   string  `json:"family_name"`
	Rank         int     `json:"rank"`
	Votes        int64   `json:"votes"`
	Source       string  `json:"source"`
	Reason       string  `json:"reason,omitempty"`
	DecidedBy    int64   `json:"decided_by,omitempty"`
	DecidedAt    string  `json:"decided_at"`
	ReplacedAt   *string `json:"replaced_at,omitempty"`
}

func toWinnerAnswer(w model.Winner) winnerAnswer {
	return winnerAnswer{Category: w.Category, NominationID: w.NominationID, FamilyName: w.FamilyName, Rank: w.Rank, Votes: w.Votes,
		Source: w.Source, Reason: w.Reason, DecidedBy: w.DecidedBy, DecidedAt: apiTime(w.DecidedAt), ReplacedAt: apiTimePtr(w.ReplacedAt)}
}

type campaignAnswer struct {
	ID                 int64            `json:"id"`
	Title              string           `json:"title"`
	Description        string           `json:"description"`
	Phase              string           `json:"phase"`
	Categories         []categoryAnswer `json:"categories"`
	NominateFrom       string           `json:"nominate_from"`
	NominateTo         string           `json:"nominate_to"`
	ReviewFrom         string           `json:"review_from"`
	ReviewTo           string           `json:"review_to"`
	VoteFrom           string           `json:"vote_from"`
	VoteTo             string           `json:"vote_to"`
	ResultsAt          string           `json:"results_at"`
	VotesPerDay        int              `json:"votes_per_day"`
	PerNominationDaily int              `json:"per_nomination_daily"`
	ResultsFixedAt     *string          `json:"results_fixed_at,omitempty"`
	ResultsDigest      string           `json:"results_digest,omitempty"`
	Winners            []winnerAnswer   `json:"winners,omitempty"`
}

func toCampaignAnswer(c model.Campaign, now time.Time) campaignAnswer {
	cats := make([]categoryAnswer, len(c.Categories))
	for i, x := range c.Categories {
		cats[i] = categoryAnswer{Code: x.Code, Name: x.Name, Quota: x.Quota}
	}
	return campaignAnswer{ID: c.ID, Title: c.Title, Description: c.Description, Phase: string(c.Phase(now)), Categories: cats,
		NominateFrom: apiTime(c.NominateFrom), NominateTo: apiTime(c.NominateTo), ReviewFrom: apiTime(c.ReviewFrom),
		ReviewTo: apiTime(c.ReviewTo), VoteFrom: apiTime(c.VoteFrom), VoteTo: apiTime(c.VoteTo), ResultsAt: apiTime(c.ResultsAt),
		VotesPerDay: c.VotesPerDay, PerNominationDaily: c.PerNominationDaily, ResultsFixedAt: apiTimePtr(c.ResultsFixedAt),
		ResultsDigest: c.ResultsDigest}
}

func photoURLs(files string, ps []model.NominationPhoto) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = files + p.Key
	}
	return out
}

// galleryItem is a public nomination (API.md).
type galleryItem struct {
	ID         int64    `json:"id"`
	CampaignID int64    `json:"campaign_id"`
	FamilyName string   `json:"family_name"`
	Category   string   `json:"category"`
	Story      string   `json:"story"`
	Photos     []string `json:"photos"`
	Votes      int64    `json:"votes"`
}

func toGalleryItem(files string) func(n model.Nomination) galleryItem {
	return func(n model.Nomination) galleryItem {
		return galleryItem{ID: n.ID, CampaignID: n.CampaignID, FamilyName: n.FamilyName, Category: n.Category, Story: n.Story,
			Photos: photoURLs(files, n.Photos), Votes: n.Votes}
	}
}

// myNomination is a nomination as its nominator (or a public reader)
// sees it: status and reject reason, never the machine checks.
type myNomination struct {
	galleryItem
	Status       string  `json:"status"`
	RejectReason string  `json:"reject_reason"`
	CreatedAt    string  `json:"created_at"`
	ReviewedAt   *string `json:"reviewed_at,omitempty"`
	ShareCodeURL string  `json:"share_code_url,omitempty"`
}

func toMyNomination(files string) func(n model.Nomination) myNomination {
	return func(n model.Nomination) myNomination {
		a := myNomination{galleryItem: toGalleryItem(files)(n), Status: string(n.Status), RejectReason: n.RejectReason,
			CreatedAt: apiTime(n.CreatedAt), ReviewedAt: apiTimePtr(n.ReviewedAt)}
		if n.ShareCodeKey != "" {
			a.ShareCodeURL = files + n.ShareCodeKey
		}
		return a
	}
}

type photoCheck struct {
	URL     string `json:"url"`
	Suggest string `json:"suggest"` // "" while the check is out
	Label   int    `json:"label"`
}

// staffNomination is a nomination as reviewers see it.
type staffNomination struct {
	myNomination
	UserID         int64        `json:"user_id"`
	TextSuggest    string       `json:"text_suggest"`
	TextLabel      int          `json:"text_label"`
	MachineVerdict string       `json:"machine_verdict"`
	PhotoChecks    []photoCheck `json:"photo_checks"`
	ReviewedBy     int64        `json:"reviewed_by,omitempty"`
}

func toStaffNomination(files string) func(n model.Nomination) staffNomination {
	return func(n model.Nomination) staffNomination {
		checks := make([]photoCheck, len(n.Photos))
		for i, p := range n.Photos {
			checks[i] = photoCheck{URL: files + p.Key, Suggest: p.Suggest, Label: p.Label}
		}
		return staffNomination{myNomination: toMyNomination(files)(n), UserID: n.UserID, TextSuggest: n.TextSuggest,
			TextLabel: n.TextLabel, MachineVerdict: n.MachineVerdict(), PhotoChecks: checks, ReviewedBy: n.ReviewedBy}
	}
}

// --- Mini Program ---

// handleListCampaigns: GET /api/mp/campaigns, /api/admin/campaigns → {"items":[campaign]}.
func handleListCampaigns(svc Campaigns) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		cs, err := svc.Campaigns(c.Request.Context())
		if err != nil {
			return err
		}
		now := svc.Now()
		c.JSON(http.StatusOK, list(cs, "", func(x model.Campaign) campaignAnswer { return toCampaignAnswer(x, now) }))
		return nil
	}
}

// handleGetCampaign: GET /api/mp/campaigns/:id (winners once shown),
// /api/admin/campaigns/:id.
func handleGetCampaign(svc Campaigns) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		camp, err := svc.Campaign(c.Request.Context(), id)
		if err != nil {
			return err
		}
		a := toCampaignAnswer(camp, svc.Now())
		ws, err := svc.PublicWinners(c.Request.Context(), camp)
		if err != nil {
			return err
		}
		for _, w := range ws {
			a.Winners = append(a.Winners, toWinnerAnswer(w))
		}
		c.JSON(http.StatusOK, a)
		return nil
	}
}

type nominationRequest struct {
	Category   string  `json:"category"`
	FamilyName string  `json:"family_name"`
	Story      string  `json:"story"`
	PhotoIDs   []int64 `json:"photo_ids"`
	Consent    bool    `json:"consent"`
}

func (r nominationRequest) input() campaigns.NominationInput {
	return campaigns.NominationInput{Category: r.Category, FamilyName: r.FamilyName, Story: r.Story, PhotoIDs: r.PhotoIDs, Consent: r.Consent}
}

func (r nominationRequest) Valid() map[string]string { return r.input().Valid() }

// handleNominate: POST /api/mp/campaigns/:id/nominations {"category",
// "family_name","story","photo_ids","consent":true} → 201 {"id","status":"pending",…};
// 409 not_open, 400 content_risky.
func handleNominate(svc Campaigns, files string) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[nominationRequest](c)
		if err != nil {
			return err
		}
		n, err := svc.Nominate(c.Request.Context(), p.SubjectID, id, req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toMyNomination(files)(n))
		return nil
	}
}

// handleEditNomination: PATCH /api/mp/nominations/:id (the same body as a
// nomination) → the nomination; 409 not_pending once reviewed.
func handleEditNomination(svc Campaigns, files string) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[nominationRequest](c)
		if err != nil {
			return err
		}
		n, err := svc.EditNomination(c.Request.Context(), p.SubjectID, id, req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toMyNomination(files)(n))
		return nil
	}
}

// galleryQuery reads ?category=&sort=&cursor=&limit=.
func galleryQuery(c *gin.Context, campaignID int64) (model.GalleryQuery, error) {
	pg, err := pageQuery(c)
	if err != nil {
		return model.GalleryQuery{}, err
	}
	q := model.GalleryQuery{CampaignID: campaignID, Category: c.Query("category"), Sort: c.Query("sort"), Cursor: pg.Cursor, Limit: pg.Limit}
	if len(q.Category) > 32 {
		return q, model.Invalid(map[string]string{"category": "没有这个类别"})
	}
	return q, nil
}

// handleGallery: GET /api/mp/campaigns/:id/nominations?category=&sort=votes|recent&cursor=&limit=
// → {"items":[{"id","family_name","category","story","photos":[url],"votes"}],"next_cursor"}.
// A cached page is sent as rendered the first time.
func handleGallery(svc Campaigns, files string) func(c *gin.Context) error {
	conv := toGalleryItem(files)
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		q, err := galleryQuery(c, id)
		if err != nil {
			return err
		}
		page, err := svc.Gallery(c.Request.Context(), q)
		if err != nil {
			return err
		}
		body, err := page.Encoded(func(p *campaigns.GalleryPage) ([]byte, error) {
			return json.Marshal(list(p.Items, p.Next, conv))
		})
		if err != nil {
			return err
		}
		c.Header("Vary", "Accept-Encoding")
		if acceptsGzip(c.GetHeader("Accept-Encoding")) {
			c.Header("Content-Encoding", "gzip")
			body = page.Gzipped(body)
		}
		sendBytes(c, http.StatusOK, "application/json; charset=utf-8", body)
		return nil
	}
}

// handleLeaderboard: GET /api/mp/campaigns/:id/leaderboard?category=&limit=
// → {"items":[{"rank","nomination_id","family_name","category","votes"}]}.
func handleLeaderboard(svc Campaigns) func(c *gin.Context) error {
	type item struct {
		Rank         int    `json:"rank"`
		NominationID int64  `json:"nomination_id"`
		FamilyName   string `json:"family_name"`
		Category     string `json:"category"`
		Votes        int64  `json:"votes"`
	}
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		pg, err := pageQuery(c)
		if err != nil {
			return err
		}
		cat := c.Query("category")
		if len(cat) > 32 {
			return model.Invalid(map[string]string{"category": "没有这个类别"})
		}
		es, err := svc.Leaderboard(c.Request.Context(), id, cat, pg.Limit)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(es, "", func(e campaigns.LeaderboardEntry) item {
			return item{Rank: e.Rank, NominationID: e.NominationID, FamilyName: e.FamilyName, Category: e.Category, Votes: e.Votes}
		}))
		return nil
	}
}

// handleGetNomination: GET /api/mp/nominations/:id → an approved
// nomination, or the caller's own in any status; else 404.
func handleGetNomination(svc Campaigns, files string) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		n, err := svc.Nomination(c.Request.Context(), p.SubjectID, id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toMyNomination(files)(n))
		return nil
	}
}

// handleMyNominations: GET /api/mp/me/nominations → {"items":[…],"next_cursor"}.
func handleMyNominations(svc Campaigns, files string) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		pg, err := pageQuery(c)
		if err != nil {
			return err
		}
		ns, next, err := svc.MyNominations(c.Request.Context(), p.SubjectID, pg)
		if err != nil {
			return err
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, list(ns, next, toMyNomination(files)))
		return nil
	}
}

// deviceID is the Mini Program's device id from the X-Device-Id header
// when it is well formed (1–64 of [A-Za-z0-9._-]), else "".
func deviceID(h string) string {
	if len(h) == 0 || len(h) > 64 {
		return ""
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return ""
		}
	}
	return h
}

// handleVote: POST /api/mp/nominations/:id/votes (no body; the voter is
// the session's user) → {"votes","remaining_today"}; 429 vote_limit or
// rate_limited; 409 not_open. The device is X-Device-Id when the Mini
// Program sends one, else the session.
func handleVote(svc Campaigns) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		dev := deviceID(c.GetHeader("X-Device-Id"))
		if dev == "" {
			dev = "s:" + p.SessionID
		}
		res, err := svc.Vote(c.Request.Context(), p.SubjectID, id, campaigns.VoteMeta{IP: clientIP(c), Device: dev})
		if err != nil {
			return err
		}
		// Written by hand: this is the hottest route.
		b := make([]byte, 0, 48)
		b = append(b, `{"votes":`...)
		b = strconv.AppendInt(b, res.Votes, 10)
		b = append(b, `,"remaining_today":`...)
		b = strconv.AppendInt(b, int64(res.RemainingToday), 10)
		b = append(b, '}')
		sendBytes(c, http.StatusOK, "application/json; charset=utf-8", b)
		return nil
	}
}

// handleShareCode: GET /api/mp/nominations/:id/share-code → {"url"} of the
// stored Mini Program code image.
func handleShareCode(svc Campaigns, files string) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		key, err := svc.ShareCode(c.Request.Context(), p.SubjectID, id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"url": files + key})
		return nil
	}
}

// --- staff ---

type campaignRequest struct {
	Title              *string           `json:"title"`
	Description        *string           `json:"description"`
	Categories         *[]categoryAnswer `json:"categories"`
	NominateFrom       *time.Time        `json:"nominate_from"`
	NominateTo         *time.Time        `json:"nominate_to"`
	ReviewFrom         *time.Time        `json:"review_from"`
	ReviewTo           *time.Time        `json:"review_to"`
	VoteFrom           *time.Time        `json:"vote_from"`
	VoteTo             *time.Time        `json:"vote_to"`
	ResultsAt          *time.Time        `json:"results_at"`
	VotesPerDay        *int              `json:"votes_per_day"`
	PerNominationDaily *int              `json:"per_nomination_daily"`
}

// Valid checks the sizes; the rules are the service's.
func (r campaignRequest) Valid() map[string]string {
	if r.Categories != nil && len(*r.Categories) > 20 {
		return map[string]string{"categories": "最多 20 个类别"}
	}
	return nil
}

func (r campaignRequest) categories() []model.CampaignCategory {
	if r.Categories == nil {
		return nil
	}
	out := make([]model.CampaignCategory, len(*r.Categories))
	for i, c := range *r.Categories {
		out[i] = model.CampaignCategory{Code: c.Code, Name: c.Name, Quota: c.Quota}
	}
	return out
}

func (r campaignRequest) patch() campaigns.CampaignPatch {
	return campaigns.CampaignPatch{Title: r.Title, Description: r.Description, Categories: r.categories(),
		NominateFrom: r.NominateFrom, NominateTo: r.NominateTo, ReviewFrom: r.ReviewFrom, ReviewTo: r.ReviewTo,
		VoteFrom: r.VoteFrom, VoteTo: r.VoteTo, ResultsAt: r.ResultsAt, VotesPerDay: r.VotesPerDay,
		PerNominationDaily: r.PerNominationDaily}
}

func (r campaignRequest) input() campaigns.CampaignInput {
	val := func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	}
	str := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	num := func(n *int) int {
		if n == nil {
			return 0
		}
		return *n
	}
	return campaigns.CampaignInput{Title: str(r.Title), Description: str(r.Description), Categories: r.categories(),
		NominateFrom: val(r.NominateFrom), NominateTo: val(r.NominateTo), ReviewFrom: val(r.ReviewFrom), ReviewTo: val(r.ReviewTo),
		VoteFrom: val(r.VoteFrom), VoteTo: val(r.VoteTo), ResultsAt: val(r.ResultsAt), VotesPerDay: num(r.VotesPerDay),
		PerNominationDaily: num(r.PerNominationDaily)}
}

// handleCreateCampaign: POST /api/admin/campaigns {"title","description",
// "categories":[{"code","name","quota"}],"nominate_from","nominate_to",
// "review_from","review_to","vote_from","vote_to","results_at",
// "votes_per_day","per_nomination_daily"} → 201 campaign.
func handleCreateCampaign(svc Campaigns) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[campaignRequest](c)
		if err != nil {
			return err
		}
		camp, err := svc.CreateCampaign(c.Request.Context(), req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toCampaignAnswer(camp, svc.Now()))
		return nil
	}
}

// handleUpdateCampaign: PATCH /api/admin/campaigns/:id (any fields of the
// creation body) → the campaign.
func handleUpdateCampaign(svc Campaigns) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[campaignRequest](c)
		if err != nil {
			return err
		}
		camp, err := svc.UpdateCampaign(c.Request.Context(), id, req.patch())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toCampaignAnswer(camp, svc.Now()))
		return nil
	}
}

// handleReviewList: GET /api/admin/nominations?status=pending&campaign_id=&category=&cursor=&limit=
// → {"items":[nomination with machine checks],"next_cursor"}, oldest first.
func handleReviewList(svc Campaigns, files string) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		pg, err := pageQuery(c)
		if err != nil {
			return err
		}
		cid, err := idQuery(c, "campaign_id")
		if err != nil {
			return err
		}
		f := model.NominationFilter{CampaignID: cid, Status: model.NominationStatus(c.Query("status")), Category: c.Query("category")}
		if len(f.Category) > 32 {
			return model.Invalid(map[string]string{"category": "没有这个类别"})
		}
		ns, next, err := svc.ReviewList(c.Request.Context(), f, pg)
		if err != nil {
			return err
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, list(ns, next, toStaffNomination(files)))
		return nil
	}
}

type reviewRequest struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

func (r reviewRequest) Valid() map[string]string {
	if r.Decision != "approve" && r.Decision != "reject" {
		return map[string]string{"decision": "须为 approve 或 reject"}
	}
	if len(r.Reason) > 4*campaigns.MaxReason {
		return map[string]string{"reason": "原因太长"}
	}
	return nil
}

// handleReview: POST /api/admin/nominations/:id/review {"decision":"approve"|"reject","reason"}
// → the nomination; 409 check_pending, machine_rejected, already_reviewed, not_open.
func handleReview(svc Campaigns, files string) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[reviewRequest](c)
		if err != nil {
			return err
		}
		n, err := svc.ReviewNomination(c.Request.Context(), id, req.Decision == "approve", req.Reason)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toStaffNomination(files)(n))
		return nil
	}
}

// handleIntegrity: GET /api/admin/campaigns/:id/integrity → totals, voided
// by reason, flags and the ledger digest (see campaigns.LedgerHeader).
func handleIntegrity(svc Campaigns) func(c *gin.Context) error {
	type flag struct {
		Kind         string  `json:"kind"`
		NominationID int64   `json:"nomination_id,omitempty"`
		IPHash       string  `json:"ip_hash,omitempty"`
		Minute       *string `json:"minute,omitempty"`
		Votes        int64   `json:"votes,omitempty"`
		OddVotes     int64   `json:"odd_votes,omitempty"`
		Voters       int64   `json:"voters,omitempty"`
		Fresh        int64   `json:"fresh_accounts,omitempty"`
		Detail       string  `json:"detail"`
	}
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		r, err := svc.Integrity(c.Request.Context(), id)
		if err != nil {
			return err
		}
		flags := make([]flag, len(r.Flags))
		for i, f := range r.Flags {
			flags[i] = flag{Kind: f.Kind, NominationID: f.NominationID, IPHash: f.IPHash, Minute: apiTimePtr(f.Minute), Votes: f.Votes,
				OddVotes: f.OddVotes, Voters: f.Voters, Fresh: f.Fresh, Detail: f.Detail}
		}
		byReason := r.VoidedByReason
		if byReason == nil {
			byReason = map[string]int64{}
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{
			"campaign_id": r.CampaignID, "at": apiTime(r.At),
			"totals":           gin.H{"total": r.Total, "valid": r.Valid, "voided": r.Voided, "voters": r.Voters},
			"voided_by_reason": byReason,
			"flags":            flags,
			"digest": gin.H{"algorithm": "sha256", "value": r.Digest, "rows": r.DigestRows,
				"definition": "SHA-256 of GET /api/admin/campaigns/:id/ledger: the header line " +
					strings.TrimSpace(campaigns.LedgerHeader) + ", then one line per ledger row in id order"},
			"results_digest": r.ResultsDigest, "results_fixed_at": apiTimePtr(r.ResultsFixedAt),
		})
		return nil
	}
}

type voidRequest struct {
	VoterID      int64      `json:"voter_id"`
	NominationID int64      `json:"nomination_id"`
	From         *time.Time `json:"from"`
	To           *time.Time `json:"to"`
	Reason       string     `json:"reason"`
}

func (r voidRequest) input() campaigns.VoidInput {
	in := campaigns.VoidInput{VoterID: r.VoterID, NominationID: r.NominationID, Reason: r.Reason}
	if r.From != nil {
		in.From = *r.From
	}
	if r.To != nil {
		in.To = *r.To
	}
	return in
}

func (r voidRequest) Valid() map[string]string { return r.input().Valid() }

// handleVoid: POST /api/admin/campaigns/:id/voids {"voter_id","nomination_id","from","to","reason"}
// → {"voided":n}.
func handleVoid(svc Campaigns) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[voidRequest](c)
		if err != nil {
			return err
		}
		n, err := svc.VoidVotes(c.Request.Context(), id, req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"voided": n})
		return nil
	}
}

// handleRecount: POST /api/admin/campaigns/:id/recount → {"recounted":true}.
func handleRecount(svc Campaigns) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		if err := svc.Recount(c.Request.Context(), id); err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"recounted": true})
		return nil
	}
}

// handleLedger: GET /api/admin/campaigns/:id/ledger → text/csv, the
// public export whose SHA-256 is the ledger digest.
func handleLedger(svc Campaigns, log *slog.Logger) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		// Checked before the first byte, so that a missing campaign gets
		// the envelope (the route's middleware checked the role).
		if _, err := svc.Campaign(c.Request.Context(), id); err != nil {
			return err
		}
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="campaign-`+strconv.FormatInt(id, 10)+`-ledger.csv"`)
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		if _, _, err := svc.WriteLedger(c.Request.Context(), id, c.Writer); err != nil {
			// The headers are out: the client gets a truncated file, whose
			// digest will not match.
			log.ErrorContext(c.Request.Context(), "ledger export failed", "campaign_id", id, "err", err, "request_id", requestID(c))
		}
		return nil
	}
}

// handleWinners: GET /api/admin/campaigns/:id/winners?all=true → {"items":[winner]}.
func handleWinners(svc Campaigns) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		ws, err := svc.Winners(c.Request.Context(), id, c.Query("all") == "true")
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(ws, "", toWinnerAnswer))
		return nil
	}
}

type overrideRequest struct {
	Category      string  `json:"category"`
	NominationIDs []int64 `json:"nomination_ids"`
	Reason        string  `json:"reason"`
}

func (r overrideRequest) Valid() map[string]string {
	if r.Category == "" || len(r.Category) > 32 {
		return map[string]string{"category": "请选择类别"}
	}
	if len(r.NominationIDs) > 100 {
		return map[string]string{"nomination_ids": "最多 100 个"}
	}
	return nil
}

// handleOverrideWinners: POST /api/admin/campaigns/:id/winners
// {"category","nomination_ids":[…],"reason"} → the current winners; 409
// results_not_fixed before the vote window ends.
func handleOverrideWinners(svc Campaigns) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[overrideRequest](c)
		if err != nil {
			return err
		}
		ws, err := svc.OverrideWinners(c.Request.Context(), id, campaigns.OverrideInput{Category: req.Category,
			NominationIDs: req.NominationIDs, Reason: req.Reason})
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(ws, "", toWinnerAnswer))
		return nil
	}
}
