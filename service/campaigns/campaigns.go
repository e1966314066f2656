// Package campaigns runs 最美家庭 (德润万家): campaigns with categories,
// windows and quotas; nominations whose stories and photos go through
// WeChat content security and then a reviewer; a public gallery; votes
// that can be trusted; integrity figures and a ledger digest; winners
// fixed when the vote window ends, with recorded overrides; the figures
// the federation reports.
//
// # Votes
//
// The append-only ledger in the database is the truth. The vote limits
// (per voter per day, per voter per nomination per day, days in
// Asia/Shanghai) are unique indexes of the ledger (see store.RecordVotes):
// every vote takes a free "slot" under each limit, so no database holds a
// vote over a limit, whatever the concurrency and with or without Redis.
// Redis is the fast path in front of it: per-IP and per-device minute
// limits, and the slots each voter's committed votes took today (primed
// from the ledger when missing), so that obvious repeats are refused
// without touching the database and the others start from the right slot.
// Votes from concurrent requests are written in batches (group commit: one
// transaction, one multi-row INSERT), and each request is answered once
// its batch has committed: an acknowledged vote is durable. Counts live
// beside the ledger (each nomination's count changes in the transactions
// that insert or void its votes); leaderboards are Redis sorted sets
// rebuilt from the database whenever they are missing.
package campaigns

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"wanjia/model"
)

// Store is the campaign store (store.Campaigns satisfies it).
type Store interface {
	CreateCampaign(ctx context.Context, c model.Campaign) (model.Campaign, error)
	UpdateCampaign(ctx context.Context, c model.Campaign) (model.Campaign, error)
	Campaign(ctx context.Context, id int64) (model.Campaign, error)
	Campaigns(ctx context.Context, limit int) ([]model.Campaign, error)
	CampaignsToFix(ctx context.Context, now time.Time) ([]model.Campaign, error)

	CreateNomination(ctx context.Context, n model.Nomination) (model.Nomination, error)
	EditNomination(ctx context.Context, n model.Nomination, userID int64) (model.Nomination, error)
	Nomination(ctx context.Context, id int64) (model.Nomination, error)
	VoteTarget(ctx context.Context, id int64) (model.Nomination, error)
	CountNominations(ctx context.Context, campaignID, userID int64, since time.Time) (total, recent int64, err error)
	NominationsByUser(ctx context.Context, userID int64, p model.Page) ([]model.Nomination, string, error)
	ListNominations(ctx context.Context, f model.NominationFilter, p model.Page) ([]model.Nomination, string, error)
	Gallery(ctx context.Context, g model.GalleryQuery) ([]model.Nomination, string, error)
	Review(ctx context.Context, id int64, d model.ReviewDecision) (before, after model.Nomination, err error)
	PhotosToSubmit(ctx context.Context, id int64) ([]model.NominationPhoto, error)
	SetPhotoTrace(ctx context.Context, photoID int64, traceID string, now time.Time) error
	RecordPhotoCheck(ctx context.Context, traceID, suggest string, label int, now time.Time) (int64, bool, error)
	StalePhotoChecks(ctx context.Context, before time.Time, maxAttempts int) ([]int64, error)
	UnsubmittedPhotos(ctx context.Context, before time.Time, maxAttempts int) ([]int64, error)
	SetShareCode(ctx context.Context, id int64, key string) (string, bool, error)

	RecordVotes(ctx context.Context, votes []model.VoteAttempt) []model.VoteOutcome
	VoterDay(ctx context.Context, campaignID, voterID int64, day int) ([]model.VoterSlot, error)
	VoteCounts(ctx context.Context, campaignID int64) ([]model.NominationCount, error)
	Recount(ctx context.Context, campaignID int64) error
	VoidVotes(ctx context.Context, campaignID int64, f model.VoteFilter, reason string, by int64, now time.Time) (int64, error)
	LedgerPage(ctx context.Context, campaignID, afterID int64, limit int) ([]model.LedgerRow, error)
	Totals(ctx context.Context, campaignID int64) (model.VoteTotals, error)
	Bursts(ctx context.Context, campaignID int64, by string, min int) ([]model.VoteBurst, error)
	FreshAccounts(ctx context.Context, campaignID int64, min int, fresh time.Duration) ([]model.FreshVoters, error)
	OddHours(ctx context.Context, campaignID int64, min int) ([]model.HourShare, error)

	Standings(ctx context.Context, campaignID int64) ([]model.Standing, error)
	FixResults(ctx context.Context, campaignID int64, ws []model.Winner, digest string, now time.Time) (bool, error)
	OverrideWinners(ctx context.Context, campaignID int64, category string, ws []model.Winner, now time.Time) error
	Winners(ctx context.Context, campaignID int64, all bool) ([]model.Winner, error)
	Figures(ctx context.Context, from, to time.Time) (model.CampaignFigures, error)
}

// VoteCache is the Redis fast path of votes and the leaderboards
// (cache.Votes satisfies it). Every error is survivable: the ledger holds
// the limits.
type VoteCache interface {
	Check(ctx context.Context, q model.VoteCheck) (model.VoteState, error)
	Prime(ctx context.Context, campaign, voter int64, day int, taken []model.VoterSlot) error
	Committed(ctx context.Context, votes []model.CommittedVote, scores []model.NominationScore) error
	Leaderboard(ctx context.Context, campaign int64, category string, limit int) ([]model.NominationCount, bool, error)
	SetLeaderboards(ctx context.Context, campaign int64, counts []model.NominationCount) error
	SetNominationScore(ctx context.Context, campaign int64, category string, nomination, votes int64) error
	RemoveNomination(ctx context.Context, campaign int64, category string, nomination int64) error
	DropLeaderboards(ctx context.Context, campaign int64) error
}

// TextCheck is msg_sec_check's verdict on a text.
type TextCheck struct {
	Suggest string // pass, review, risky
	Label   int
	TraceID string
}

// WeChat is what the area needs from WeChat (campaignwx.WeChat satisfies
// it). Errors are model kinds (wechat.Translate).
type WeChat interface {
	// CheckText runs msg_sec_check v2 for the user openID.
	CheckText(ctx context.Context, openID, title, content string) (TextCheck, error)
	// SubmitMediaCheck submits an image URL to media_check_async and
	// returns the trace_id its result will carry.
	SubmitMediaCheck(ctx context.Context, openID, mediaURL string) (string, error)
	// ShareCode returns a Mini Program code (JPEG) carrying scene.
	ShareCode(ctx context.Context, scene string) ([]byte, error)
}

// Users finds Mini Program users (store.Users satisfies it).
type Users interface {
	UserByID(ctx context.Context, id int64) (model.User, error)
}

// Uploads checks that upload ids belong to a user (store.Uploads
// satisfies it).
type Uploads interface {
	OwnedBy(ctx context.Context, ids []int64, userID int64) ([]model.Upload, error)
}

// Results reads recorded WeChat results (store.Results satisfies it): a
// media-check result may arrive before its trace id is recorded.
type Results interface {
	Result(ctx context.Context, kind model.ResultKind, key string) (model.WeChatResult, error)
}

// Images stores generated images (share codes) in the upload storage and
// returns their keys.
type Images interface {
	SaveImage(ctx context.Context, data []byte) (string, error)
	DeleteImage(ctx context.Context, key string) error
}

// Enqueuer queues a background task under an id; an id already queued,
// running or recently done is a success that runs nothing (gateway's
// adapters.Jobs satisfies it).
type Enqueuer interface {
	Enqueue(ctx context.Context, taskType string, payload []byte, id string) error
}

// Notifier sends notices (notify.Service satisfies it).
type Notifier interface {
	Notify(ctx context.Context, r model.Recipient, n model.Notice) error
}

// Auditor appends to the audit log (auth.Auth satisfies it).
type Auditor interface {
	Audit(ctx context.Context, action, targetType, targetID string, before, after any) error
}

// Keys derives the service's keyed hashes (protect.Keyring satisfies it).
type Keys interface {
	BlindIndex(value, purpose string) string
}

// TopicNominationReviewed is the notice a nominator gets for a decision
// (seeded by the notification centre).
const TopicNominationReviewed = "nomination_reviewed"

// Options tune the service; zero values take the defaults.
type Options struct {
	Location *time.Location // days and figures; Asia/Shanghai (UTC+8)
	// PhotoURL is the public URL WeChat fetches a photo from for its media
	// check. Nil: photos cannot be checked (their nominations cannot be
	// approved); the service says so at start.
	PhotoURL func(key string) string
	// SharePage is the Mini Program page a nomination's share code opens
	// (for the notice page links too); "pages/campaigns/nomination".
	SharePage string

	NominationsPerUser int // per campaign; 5
	NominationsPerDay  int // per user per campaign per day; 3

	VotesPerIPMinute     int           // votes a client IP may send a minute; 120 (NATs share IPs)
	VotesPerDeviceMinute int           // votes a device (or session) may send a minute; 30
	MetaTTL              time.Duration // how long a copy caches a campaign or nomination for votes; 2 s
	GalleryTTL           time.Duration // how long a copy caches a gallery page; 2 s

	CommitWriters int           // concurrent vote batches; 1
	MaxBatch      int           // votes per batch; 512
	CommitLinger  time.Duration // how long a small batch waits for more votes; 2 ms (negative: never)

	MediaCheckTimeout time.Duration // a photo check with no result is submitted again after; 30 min
	MediaCheckTries   int           // at most; 3

	// Integrity thresholds.
	BurstVotes      int           // valid votes in one minute for one nomination or one IP; 30
	FreshIPVoters   int           // distinct voters from one IP before their accounts' ages are looked at; 10
	FreshAccountAge time.Duration // an account younger than this at its first vote is fresh; 24 h
	OddHourVotes    int           // odd-hour (00:00–06:00) votes of a nomination before its share is looked at; 20
	OddHourShare    float64       // flagged when at least this share of its votes came in the odd hours; 0.5
}

func (o *Options) defaults() {
	if o.Location == nil {
		o.Location = time.FixedZone("CST", 8*3600)
	}
	if o.SharePage == "" {
		o.SharePage = "pages/campaigns/nomination"
	}
	setInt := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	setInt(&o.NominationsPerUser, 5)
	setInt(&o.NominationsPerDay, 3)
	setInt(&o.VotesPerIPMinute, 120)
	setInt(&o.VotesPerDeviceMinute, 30)
	setInt(&o.CommitWriters, 1)
	setInt(&o.MaxBatch, 512)
	setInt(&o.MediaCheckTries, 3)
	setInt(&o.BurstVotes, 30)
	setInt(&o.FreshIPVoters, 10)
	setInt(&o.OddHourVotes, 20)
	if o.MetaTTL <= 0 {
		o.MetaTTL = 2 * time.Second
	}
	if o.GalleryTTL <= 0 {
		o.GalleryTTL = 2 * time.Second
	}
	if o.CommitLinger == 0 {
		o.CommitLinger = 2 * time.Millisecond
	}
	if o.MediaCheckTimeout <= 0 {
		o.MediaCheckTimeout = 30 * time.Minute
	}
	if o.FreshAccountAge <= 0 {
		o.FreshAccountAge = 24 * time.Hour
	}
	if o.OddHourShare <= 0 {
		o.OddHourShare = 0.5
	}
}

// Deps are what New needs. Cache may be nil (no fast path: every vote goes
// to the database, which still holds the limits); Logger, Now and
// Registerer may be nil.
type Deps struct {
	Store      Store
	Users      Users
	Uploads    Uploads
	Results    Results
	WeChat     WeChat
	Images     Images
	Cache      VoteCache
	Jobs       Enqueuer
	Notifier   Notifier
	Audit      Auditor
	Keys       Keys
	Logger     *slog.Logger
	Now        func() time.Time
	Registerer prometheus.Registerer
	Options    Options
}

// Service is the 最美家庭 use cases. It is safe for concurrent use. Close
// it after the HTTP server stopped: it writes the votes still queued.
type Service struct {
	store   Store
	users   Users
	uploads Uploads
	results Results
	wx      WeChat
	images  Images
	cache   VoteCache
	jobs    Enqueuer
	notify  Notifier
	audit   Auditor
	log     *slog.Logger
	now     func() time.Time
	opt     Options
	loc     *time.Location

	hashKey      []byte // client IP and device hashes in the ledger
	hashers      sync.Pool
	pseudonymKey []byte // voter pseudonyms in the public ledger export

	meta        *metaCache
	gallery     *galleryCache
	rebuilds    singleflight.Group
	closeOnce   sync.Once
	shares      singleflight.Group
	committer   *committer
	redisQ      chan redisWrite // committed votes for Redis (redisWriter)
	redisDone   chan struct{}   // closed when redisWriter has exited
	redisMu     sync.RWMutex    // held for reading by syncRedis's send, for writing to close redisQ
	redisClosed bool
	votes       *prometheus.CounterVec
	warned      rateWarn
}

// New checks d and returns the service with its vote writers running.
func New(d Deps) (*Service, error) {
	switch {
	case d.Store == nil, d.Users == nil, d.Uploads == nil, d.Results == nil:
		return nil, errors.New("campaigns: stores required")
	case d.WeChat == nil, d.Images == nil, d.Jobs == nil, d.Notifier == nil, d.Audit == nil, d.Keys == nil:
		return nil, errors.New("campaigns: wechat, images, job queue, notifier, auditor and keys required")
	}
	d.Options.defaults()
	s := &Service{
		store: d.Store, users: d.Users, uploads: d.Uploads, results: d.Results, wx: d.WeChat, images: d.Images,
		cache: d.Cache, jobs: d.Jobs, notify: d.Notifier, audit: d.Audit, log: d.Logger, now: d.Now,
		opt: d.Options, loc: d.Options.Location,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	// Keys of our own HMACs, derived once from the master key.
	s.hashKey = []byte(d.Keys.BlindIndex("vote-client-hash", "campaigns.hash_key"))
	s.pseudonymKey = []byte(d.Keys.BlindIndex("vote-voter-pseudonym", "campaigns.pseudonym_key"))
	s.hashers.New = func() any { return &hasher{mac: hmac.New(sha256.New, s.hashKey), buf: make([]byte, 0, 128)} }
	s.votes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wanjia_campaign_votes_total",
		Help: "最美家庭 vote requests by result: accepted, limit (vote_limit), rate_limited, not_open, error.",
	}, []string{"result"})
	batches := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "wanjia_campaign_vote_batch_size", Help: "Votes written per ledger transaction (group commit).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
	})
	if d.Registerer != nil {
		for _, c := range []prometheus.Collector{s.votes, batches} {
			if err := d.Registerer.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					return nil, fmt.Errorf("campaigns: metrics: %w", err)
				}
			}
		}
	}
	s.meta = newMetaCache(s.opt.MetaTTL, s.now)
	s.gallery = newGalleryCache(s.opt.GalleryTTL, s.now)
	if s.cache != nil {
		s.redisQ, s.redisDone = make(chan redisWrite, 1024), make(chan struct{})
		go s.redisWriter()
	}
	s.committer = newCommitter(s.opt.CommitWriters, s.opt.MaxBatch, s.opt.CommitLinger, s.writeVotes, batches)
	if s.opt.PhotoURL == nil {
		s.log.Warn("campaigns: no public URL for photos (campaigns.public_url): photo checks cannot be submitted, " +
			"so nominations with photos cannot be approved")
	}
	return s, nil
}

// Close stops taking votes, writes those queued (to the ledger, then to
// Redis) and waits for the writers.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.committer.close() // its writers were the other senders on redisQ
		if s.redisQ != nil {
			s.redisMu.Lock()
			s.redisClosed = true
			close(s.redisQ)
			s.redisMu.Unlock()
			<-s.redisDone
		}
	})
}

// --- helpers ---

func runes(s string, lo, hi int) bool {
	n := utf8.RuneCountInString(s)
	return n >= lo && n <= hi
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

var (
	errNotOpen    = func(what string) error { return model.Coded(model.ErrConflict, "not_open", what) }
	errForbidden  = model.Errorf(model.ErrForbidden, "没有管理最美家庭活动的权限")
	errNomMissing = model.Errorf(model.ErrNotFound, "推荐不存在")
)

func requireReviewer(ctx context.Context) (model.Principal, error) {
	p, ok := model.StaffFrom(ctx)
	if !ok || !p.HasRole(model.RoleReviewer) {
		return model.Principal{}, errForbidden
	}
	return p, nil
}

func (s *Service) record(ctx context.Context, action, targetType string, id int64, before, after any) {
	if err := s.audit.Audit(ctx, action, targetType, fmt.Sprint(id), before, after); err != nil {
		s.log.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
}

// day is the Asia/Shanghai day of t as yyyymmdd.
func (s *Service) day(t time.Time) int {
	y, m, d := t.In(s.loc).Date()
	return y*10000 + int(m)*100 + d
}

// hash is a keyed, truncated hash of a client IP or device id: enough to
// group votes, useless to learn the address. Its HMACs are pooled: a new
// one per call was a sixth of a vote's allocations.
func (s *Service) hash(purpose, v string) string {
	if v == "" {
		return ""
	}
	h := s.hashers.Get().(*hasher)
	h.mac.Reset()
	h.buf = append(append(append(h.buf[:0], purpose...), 0), v...)
	h.mac.Write(h.buf)
	h.buf = h.mac.Sum(h.buf[:0])
	var out [16]byte
	hex.Encode(out[:], h.buf[:8])
	s.hashers.Put(h)
	return string(out[:])
}

// hasher is a pooled HMAC for hash, with its scratch buffer.
type hasher struct {
	mac hash.Hash
	buf []byte
}

// --- campaigns ---

var codePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{1,31}$`)

// CampaignInput is a campaign as staff write it. Zero windows take
// defaults: the review window is the nominate window's start to the vote
// window's end, results show when the vote window ends.
type CampaignInput struct {
	Title              string
	Description        string
	Categories         []model.CampaignCategory // none: DefaultCampaignCategories
	NominateFrom       time.Time
	NominateTo         time.Time
	ReviewFrom         time.Time
	ReviewTo           time.Time
	VoteFrom           time.Time
	VoteTo             time.Time
	ResultsAt          time.Time
	VotesPerDay        int // 0: 1
	PerNominationDaily int // 0: 1
}

func (in *CampaignInput) fill() {
	if len(in.Categories) == 0 {
		in.Categories = model.DefaultCampaignCategories()
	}
	if in.ReviewFrom.IsZero() {
		in.ReviewFrom = in.NominateFrom
	}
	if in.ReviewTo.IsZero() {
		in.ReviewTo = in.VoteTo
	}
	if in.ResultsAt.IsZero() {
		in.ResultsAt = in.VoteTo
	}
	if in.VotesPerDay == 0 {
		in.VotesPerDay = 1
	}
	if in.PerNominationDaily == 0 {
		in.PerNominationDaily = 1
	}
}

// Valid reports field problems (Chinese) of a filled input.
func (in CampaignInput) Valid() map[string]string {
	bad := map[string]string{}
	if !runes(strings.TrimSpace(in.Title), 1, 64) {
		bad["title"] = "须为 1–64 个字"
	}
	if !runes(in.Description, 0, 2000) {
		bad["description"] = "不超过 2000 个字"
	}
	if len(in.Categories) > 20 {
		bad["categories"] = "最多 20 个类别"
	}
	seen := map[string]bool{}
	for _, c := range in.Categories {
		switch {
		case !codePattern.MatchString(c.Code):
			bad["categories"] = "类别代码须为小写字母开头的 2–32 位字母、数字或下划线"
		case seen[c.Code]:
			bad["categories"] = "类别代码重复：" + c.Code
		case !runes(strings.TrimSpace(c.Name), 1, 16):
			bad["categories"] = "类别名称须为 1–16 个字"
		case c.Quota < 0 || c.Quota > 1000:
			bad["categories"] = "获奖名额须为 0–1000"
		}
		seen[c.Code] = true
	}
	order := func(field string, from, to time.Time) {
		if from.IsZero() || to.IsZero() || !to.After(from) {
			bad[field] = "结束时间须晚于开始时间"
		}
	}
	order("nominate_to", in.NominateFrom, in.NominateTo)
	order("review_to", in.ReviewFrom, in.ReviewTo)
	order("vote_to", in.VoteFrom, in.VoteTo)
	if !in.VoteFrom.IsZero() && in.VoteFrom.Before(in.NominateFrom) {
		bad["vote_from"] = "投票不能早于推荐开始"
	}
	if in.ResultsAt.Before(in.VoteTo) {
		bad["results_at"] = "结果公布不能早于投票结束"
	}
	if in.VotesPerDay < 1 || in.VotesPerDay > model.MaxVotesPerDay {
		bad["votes_per_day"] = fmt.Sprintf("须为 1–%d", model.MaxVotesPerDay)
	}
	if in.PerNominationDaily < 1 || in.PerNominationDaily > model.MaxPerNominationDaily || in.PerNominationDaily > in.VotesPerDay {
		bad["per_nomination_daily"] = fmt.Sprintf("须为 1–%d，且不超过每日票数", model.MaxPerNominationDaily)
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

func (in CampaignInput) toModel() model.Campaign {
	cats := make([]model.CampaignCategory, len(in.Categories))
	for i, c := range in.Categories {
		cats[i] = model.CampaignCategory{Code: c.Code, Name: strings.TrimSpace(c.Name), Quota: c.Quota}
	}
	return model.Campaign{
		Title: strings.TrimSpace(in.Title), Description: in.Description, Categories: cats,
		NominateFrom: in.NominateFrom, NominateTo: in.NominateTo, ReviewFrom: in.ReviewFrom, ReviewTo: in.ReviewTo,
		VoteFrom: in.VoteFrom, VoteTo: in.VoteTo, ResultsAt: in.ResultsAt, VotesPerDay: in.VotesPerDay,
		PerNominationDaily: in.PerNominationDaily,
	}
}

// auditView is what the audit log keeps of a campaign.
func auditView(c model.Campaign) map[string]any {
	return map[string]any{
		"title": c.Title, "categories": c.Categories, "nominate_from": c.NominateFrom, "nominate_to": c.NominateTo,
		"review_from": c.ReviewFrom, "review_to": c.ReviewTo, "vote_from": c.VoteFrom, "vote_to": c.VoteTo,
		"results_at": c.ResultsAt, "votes_per_day": c.VotesPerDay, "per_nomination_daily": c.PerNominationDaily,
	}
}

// CreateCampaign creates a campaign (reviewer; audited).
func (s *Service) CreateCampaign(ctx context.Context, in CampaignInput) (model.Campaign, error) {
	p, err := requireReviewer(ctx)
	if err != nil {
		return model.Campaign{}, err
	}
	in.fill()
	if bad := in.Valid(); bad != nil {
		return model.Campaign{}, model.Invalid(bad)
	}
	c := in.toModel()
	c.CreatedBy = p.SubjectID
	c, err = s.store.CreateCampaign(ctx, c)
	if err != nil {
		return model.Campaign{}, err
	}
	s.record(ctx, "campaign.create", "campaign", c.ID, nil, auditView(c))
	return c, nil
}

// CampaignPatch changes some fields of a campaign; nil fields stay.
type CampaignPatch struct {
	Title              *string
	Description        *string
	Categories         []model.CampaignCategory // nil: unchanged
	NominateFrom       *time.Time
	NominateTo         *time.Time
	ReviewFrom         *time.Time
	ReviewTo           *time.Time
	VoteFrom           *time.Time
	VoteTo             *time.Time
	ResultsAt          *time.Time
	VotesPerDay        *int
	PerNominationDaily *int
}

func (p CampaignPatch) apply(c model.Campaign) CampaignInput {
	in := CampaignInput{Title: c.Title, Description: c.Description, Categories: c.Categories, NominateFrom: c.NominateFrom,
		NominateTo: c.NominateTo, ReviewFrom: c.ReviewFrom, ReviewTo: c.ReviewTo, VoteFrom: c.VoteFrom, VoteTo: c.VoteTo,
		ResultsAt: c.ResultsAt, VotesPerDay: c.VotesPerDay, PerNominationDaily: c.PerNominationDaily}
	set := func(dst *time.Time, v *time.Time) {
		if v != nil {
			*dst = *v
		}
	}
	if p.Title != nil {
		in.Title = *p.Title
	}
	if p.Description != nil {
		in.Description = *p.Description
	}
	if p.Categories != nil {
		in.Categories = p.Categories
	}
	set(&in.NominateFrom, p.NominateFrom)
	set(&in.NominateTo, p.NominateTo)
	set(&in.ReviewFrom, p.ReviewFrom)
	set(&in.ReviewTo, p.ReviewTo)
	set(&in.VoteFrom, p.VoteFrom)
	set(&in.VoteTo, p.VoteTo)
	set(&in.ResultsAt, p.ResultsAt)
	if p.VotesPerDay != nil {
		in.VotesPerDay = *p.VotesPerDay
	}
	if p.PerNominationDaily != nil {
		in.PerNominationDaily = *p.PerNominationDaily
	}
	return in
}

// UpdateCampaign changes a campaign (reviewer; audited). A category with
// nominations cannot be removed (409 category_in_use); a campaign whose
// results are fixed cannot change (409 results_fixed). New limits apply
// to votes from then on: votes already cast keep their slots.
func (s *Service) UpdateCampaign(ctx context.Context, id int64, p CampaignPatch) (model.Campaign, error) {
	if _, err := requireReviewer(ctx); err != nil {
		return model.Campaign{}, err
	}
	old, err := s.store.Campaign(ctx, id)
	if err != nil {
		return model.Campaign{}, err
	}
	in := p.apply(old)
	if len(in.Categories) == 0 {
		in.Categories = nil // an explicit empty list is refused, not defaulted
		return model.Campaign{}, model.Invalid(map[string]string{"categories": "至少一个类别"})
	}
	if bad := in.Valid(); bad != nil {
		return model.Campaign{}, model.Invalid(bad)
	}
	c := in.toModel()
	c.ID = id
	c, err = s.store.UpdateCampaign(ctx, c)
	if err != nil {
		return model.Campaign{}, err
	}
	s.meta.dropCampaign(id)
	s.gallery.drop(id)
	s.record(ctx, "campaign.update", "campaign", id, auditView(old), auditView(c))
	return c, nil
}

// Campaign returns a campaign.
func (s *Service) Campaign(ctx context.Context, id int64) (model.Campaign, error) {
	return s.store.Campaign(ctx, id)
}

// Campaigns returns up to 50 campaigns, the latest first.
func (s *Service) Campaigns(ctx context.Context) ([]model.Campaign, error) {
	return s.store.Campaigns(ctx, 50)
}

// Now is the service's clock (phases are computed at it).
func (s *Service) Now() time.Time { return s.now() }

// Reply answers the OA intent 最美家庭 with the current campaign (the
// gateway provider "campaign"): the latest campaign whose results have not
// been out for more than 30 days; nil when there is none, so the rule's
// static reply answers.
func (s *Service) Reply(ctx context.Context) (*model.Reply, error) {
	cs, err := s.store.Campaigns(ctx, 10)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for _, c := range cs {
		if now.After(c.ResultsAt.Add(30 * 24 * time.Hour)) {
			continue
		}
		when := func(t time.Time) string { return t.In(s.loc).Format("1月2日 15:04") }
		var line string
		switch c.Phase(now) {
		case model.PhaseUpcoming:
			line = "推荐将于" + when(c.NominateFrom) + "开始。"
		case model.PhaseNominating, model.PhaseReviewing:
			line = "正在接受推荐，截止" + when(c.NominateTo) + "；投票" + when(c.VoteFrom) + "开始。"
		case model.PhaseVoting:
			line = fmt.Sprintf("投票进行中，截止%s，每人每天可投 %d 票。", when(c.VoteTo), c.VotesPerDay)
		case model.PhaseCounting:
			line = "投票已结束，结果将于" + when(c.ResultsAt) + "公布。"
		case model.PhaseResults:
			line = "评选结果已公布。"
		}
		return &model.Reply{Kind: model.ReplyText, Text: "「" + c.Title + "」" + line + "\n请在小程序“最美家庭”中参与。"}, nil
	}
	return nil, nil
}
