package campaigns

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"wanjia/model"
)

// Limits of a nomination.
const (
	MaxFamilyName = 32   // characters
	MaxStory      = 2000 // characters
	MaxPhotos     = 9
	MaxReason     = 200 // characters of a reject or void reason
)

// NominationInput is a nomination as a Mini Program user writes it.
type NominationInput struct {
	Category   string
	FamilyName string
	Story      string
	PhotoIDs   []int64 // uploads of the nominator's, in display order
	Consent    bool    // the nominee family agreed to be nominated and shown
}

// Valid reports field problems (Chinese).
func (in NominationInput) Valid() map[string]string {
	bad := map[string]string{}
	if in.Category == "" || len(in.Category) > 32 {
		bad["category"] = "请选择类别"
	}
	if !runes(strings.TrimSpace(in.FamilyName), 1, MaxFamilyName) {
		bad["family_name"] = fmt.Sprintf("须为 1–%d 个字", MaxFamilyName)
	}
	if !runes(strings.TrimSpace(in.Story), 1, MaxStory) {
		bad["story"] = fmt.Sprintf("须为 1–%d 个字", MaxStory)
	}
	if len(in.PhotoIDs) < 1 || len(in.PhotoIDs) > MaxPhotos {
		bad["photo_ids"] = fmt.Sprintf("须上传 1–%d 张照片", MaxPhotos)
	} else {
		seen := map[int64]bool{}
		for _, id := range in.PhotoIDs {
			if id <= 0 || seen[id] {
				bad["photo_ids"] = "照片编号无效或重复"
			}
			seen[id] = true
		}
	}
	if !in.Consent {
		bad["consent"] = "须确认被推荐家庭同意推荐和公开展示"
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

var errContentRisky = &model.Error{Kind: model.ErrInvalid, Code: "content_risky",
	Message: "内容未通过安全检测，请修改后重新提交", Fields: map[string]string{"story": "内容可能含有违规信息，请修改"}}

// prepare checks what a nomination or an edit needs in the campaign: the
// category, the photos (owned by the user) and the text (WeChat's
// msg_sec_check v2; risky text is refused here and never stored, 400
// content_risky).
func (s *Service) prepare(ctx context.Context, userID int64, c model.Campaign, in NominationInput) (model.Nomination, error) {
	if bad := in.Valid(); bad != nil {
		return model.Nomination{}, model.Invalid(bad)
	}
	if _, ok := c.Category(in.Category); !ok {
		return model.Nomination{}, model.Invalid(map[string]string{"category": "没有这个类别"})
	}
	ups, err := s.uploads.OwnedBy(ctx, in.PhotoIDs, userID)
	if err != nil {
		var me *model.Error
		if errors.As(err, &me) && errors.Is(err, model.ErrInvalid) && me.Fields == nil {
			return model.Nomination{}, model.Invalid(map[string]string{"photo_ids": me.Message})
		}
		return model.Nomination{}, err
	}
	u, err := s.users.UserByID(ctx, userID)
	if err != nil {
		return model.Nomination{}, fmt.Errorf("nominate: %w", err)
	}
	family, story := strings.TrimSpace(in.FamilyName), strings.TrimSpace(in.Story)
	tc, err := s.wx.CheckText(ctx, u.OpenID, family, story)
	if err != nil {
		return model.Nomination{}, err
	}
	switch tc.Suggest {
	case model.SuggestRisky:
		s.log.InfoContext(ctx, "nomination text refused by content security", "user_id", userID, "label", tc.Label)
		return model.Nomination{}, errContentRisky
	case model.SuggestPass, model.SuggestReview:
	default:
		tc.Suggest = model.SuggestReview // an answer we do not know: a human looks
	}
	n := model.Nomination{
		CampaignID: c.ID, Category: in.Category, FamilyName: family, Story: story, UserID: userID, ConsentAt: s.now(),
		CreatedAt: s.now(), UpdatedAt: s.now(),
		TextSuggest: tc.Suggest, TextLabel: tc.Label, TextTraceID: clip(tc.TraceID, 64),
	}
	for _, up := range ups {
		n.Photos = append(n.Photos, model.NominationPhoto{UploadID: up.ID, Key: up.Key})
	}
	return n, nil
}

// Nominate takes userID's nomination for a campaign inside its nominate
// window (409 not_open outside): at most NominationsPerUser per campaign
// and NominationsPerDay a day (409 nomination_limit). The story goes
// through msg_sec_check (risky: 400 content_risky, nothing stored); the
// photos' media checks are queued. The nomination is pending until a
// reviewer decides.
func (s *Service) Nominate(ctx context.Context, userID, campaignID int64, in NominationInput) (model.Nomination, error) {
	c, err := s.store.Campaign(ctx, campaignID)
	if err != nil {
		return model.Nomination{}, err
	}
	now := s.now()
	if !c.NominationOpen(now) {
		return model.Nomination{}, errNotOpen("不在推荐时间内")
	}
	lt := now.In(s.loc)
	total, today, err := s.store.CountNominations(ctx, campaignID, userID, time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, s.loc))
	if err != nil {
		return model.Nomination{}, err
	}
	if total >= int64(s.opt.NominationsPerUser) || today >= int64(s.opt.NominationsPerDay) {
		return model.Nomination{}, model.Coded(model.ErrConflict, "nomination_limit",
			fmt.Sprintf("每人每个活动最多推荐 %d 户、每天 %d 户", s.opt.NominationsPerUser, s.opt.NominationsPerDay))
	}
	n, err := s.prepare(ctx, userID, c, in)
	if err != nil {
		return model.Nomination{}, err
	}
	n, err = s.store.CreateNomination(ctx, n)
	if err != nil {
		return model.Nomination{}, err
	}
	s.queueMediaCheck(ctx, n)
	s.log.InfoContext(ctx, "nomination submitted", "nomination", n, "text", n.TextSuggest)
	return n, nil
}

// EditNomination changes userID's pending nomination while nominations
// are taken: the same checks as Nominate; kept photos keep their media
// checks, new ones are checked. Someone else's is 404; a reviewed one 409
// not_pending.
func (s *Service) EditNomination(ctx context.Context, userID, id int64, in NominationInput) (model.Nomination, error) {
	old, err := s.store.Nomination(ctx, id)
	if err != nil {
		return model.Nomination{}, err
	}
	if old.UserID != userID {
		return model.Nomination{}, errNomMissing
	}
	c, err := s.store.Campaign(ctx, old.CampaignID)
	if err != nil {
		return model.Nomination{}, err
	}
	if !c.NominationOpen(s.now()) {
		return model.Nomination{}, errNotOpen("不在推荐时间内")
	}
	if old.Status != model.NominationPending {
		return model.Nomination{}, model.Coded(model.ErrConflict, "not_pending", "推荐已审核，不能再修改")
	}
	n, err := s.prepare(ctx, userID, c, in)
	if err != nil {
		return model.Nomination{}, err
	}
	n.ID = id
	n, err = s.store.EditNomination(ctx, n, userID)
	if err != nil {
		return model.Nomination{}, err
	}
	s.queueMediaCheck(ctx, n)
	return n, nil
}

// MyNominations returns a page of userID's nominations, newest first, in
// every status (with reject reasons).
func (s *Service) MyNominations(ctx context.Context, userID int64, p model.Page) ([]model.Nomination, string, error) {
	return s.store.NominationsByUser(ctx, userID, p)
}

// Nomination returns a nomination to a Mini Program user: an approved one,
// or one of her own in any status; anything else is 404.
func (s *Service) Nomination(ctx context.Context, userID, id int64) (model.Nomination, error) {
	n, err := s.store.Nomination(ctx, id)
	if err != nil {
		return model.Nomination{}, err
	}
	if !n.Public() && n.UserID != userID {
		return model.Nomination{}, errNomMissing
	}
	return n, nil
}

// --- gallery ---

// GalleryPage is one cached page of a gallery. Items and Next must not be
// changed: the page is shared by every request that reads it while it is
// cached.
type GalleryPage struct {
	Items []model.Nomination
	Next  string

	once sync.Once
	enc  []byte
	err  error

	gzOnce sync.Once
	gz     []byte
}

// Encoded returns enc(p), computed once per cached page (the transport's
// rendering of it), so a page served from the cache is not rendered again.
func (p *GalleryPage) Encoded(enc func(*GalleryPage) ([]byte, error)) ([]byte, error) {
	p.once.Do(func() { p.enc, p.err = enc(p) })
	return p.enc, p.err
}

// Gzipped returns body (the page's Encoded form) gzip-compressed, made
// once per cached page like Encoded, for clients that accept gzip: a page
// of 20 stories shrinks to about a third, less data on a phone and one
// write instead of two for the server.
func (p *GalleryPage) Gzipped(body []byte) []byte {
	p.gzOnce.Do(func() {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body) // writes to a bytes.Buffer do not fail
		_ = zw.Close()
		p.gz = b.Bytes()
	})
	return p.gz
}

// galleryCache keeps gallery pages per campaign for ttl; a change made
// through this copy (a review, an edit of the campaign) drops the
// campaign's pages at once, other copies within ttl. Vote counts on a page
// are as of its load.
type galleryCache struct {
	ttl   time.Duration
	now   func() time.Time
	group singleflight.Group

	mu    sync.RWMutex
	pages map[int64]map[string]galleryEntry
	gen   map[int64]uint64 // bumped by drop, so a load that started before it is not kept
}

type galleryEntry struct {
	page *GalleryPage
	at   time.Time
}

const maxGalleryPages = 10_000 // per campaign

func newGalleryCache(ttl time.Duration, now func() time.Time) *galleryCache {
	return &galleryCache{ttl: ttl, now: now, pages: map[int64]map[string]galleryEntry{}, gen: map[int64]uint64{}}
}

func (g *galleryCache) get(campaignID int64, key string, load func() (*GalleryPage, error)) (*GalleryPage, error) {
	now := g.now()
	g.mu.RLock()
	e, ok := g.pages[campaignID][key]
	gen := g.gen[campaignID]
	g.mu.RUnlock()
	if ok && now.Sub(e.at) < g.ttl {
		return e.page, nil
	}
	v, err, _ := g.group.Do(strconv.FormatInt(campaignID, 10)+"|"+key, func() (any, error) {
		p, err := load()
		if err != nil {
			return nil, err
		}
		g.mu.Lock()
		if g.gen[campaignID] == gen {
			m := g.pages[campaignID]
			if m == nil || len(m) >= maxGalleryPages {
				m = map[string]galleryEntry{}
				g.pages[campaignID] = m
			}
			m[key] = galleryEntry{page: p, at: now}
		}
		g.mu.Unlock()
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*GalleryPage), nil
}

func (g *galleryCache) drop(campaignID int64) {
	g.mu.Lock()
	delete(g.pages, campaignID)
	g.gen[campaignID]++
	g.mu.Unlock()
}

// Gallery returns a page of a campaign's approved nominations, by votes
// (sort "votes", the default) or most recently approved first ("recent"),
// of one category or all, from this copy's cache (GalleryTTL).
func (s *Service) Gallery(ctx context.Context, q model.GalleryQuery) (*GalleryPage, error) {
	switch q.Sort {
	case "":
		q.Sort = model.SortVotes
	case model.SortVotes, model.SortRecent:
	default:
		return nil, model.Invalid(map[string]string{"sort": "须为 votes 或 recent"})
	}
	q.Limit = model.Page{Limit: q.Limit}.Size()
	c, err := s.campaignMeta(ctx, q.CampaignID)
	if err != nil {
		return nil, err
	}
	if q.Category != "" {
		if _, ok := c.Category(q.Category); !ok {
			return nil, model.Invalid(map[string]string{"category": "没有这个类别"})
		}
	}
	key := q.Category + "|" + q.Sort + "|" + strconv.Itoa(q.Limit) + "|" + q.Cursor
	return s.gallery.get(q.CampaignID, key, func() (*GalleryPage, error) {
		items, next, err := s.store.Gallery(context.WithoutCancel(ctx), q)
		if err != nil {
			return nil, err
		}
		return &GalleryPage{Items: items, Next: next}, nil
	})
}

// --- review ---

// ReviewList returns a page of nominations for reviewers (oldest first).
func (s *Service) ReviewList(ctx context.Context, f model.NominationFilter, p model.Page) ([]model.Nomination, string, error) {
	if _, err := requireReviewer(ctx); err != nil {
		return nil, "", err
	}
	switch f.Status {
	case "", model.NominationPending, model.NominationApproved, model.NominationRejected:
	default:
		return nil, "", model.Invalid(map[string]string{"status": "须为 pending、approved 或 rejected"})
	}
	return s.store.ListNominations(ctx, f, p)
}

// ReviewNomination records a reviewer's decision (audited) and tells the
// nominator through the notification centre. Approving needs a pending
// nomination inside the review window (409 not_open) whose text and photo
// checks have all come back (409 check_pending) and none of which is risky
// (409 machine_rejected: machine-rejected content never becomes public).
// Rejecting needs a reason; an approved nomination may be rejected at any
// time (taken down), a rejected one is final.
func (s *Service) ReviewNomination(ctx context.Context, id int64, approve bool, reason string) (model.Nomination, error) {
	p, err := requireReviewer(ctx)
	if err != nil {
		return model.Nomination{}, err
	}
	reason = strings.TrimSpace(reason)
	if !approve && !runes(reason, 1, MaxReason) {
		return model.Nomination{}, model.Invalid(map[string]string{"reason": fmt.Sprintf("不通过须填写原因（1–%d 个字）", MaxReason)})
	}
	if !runes(reason, 0, MaxReason) {
		return model.Nomination{}, model.Invalid(map[string]string{"reason": fmt.Sprintf("不超过 %d 个字", MaxReason)})
	}
	now := s.now()
	before, after, err := s.store.Review(ctx, id, model.ReviewDecision{Approve: approve, Reason: reason, StaffID: p.SubjectID, At: now,
		Validate: func(n model.Nomination) error {
			c, err := s.store.Campaign(ctx, n.CampaignID)
			if err != nil {
				return err
			}
			if n.Status == model.NominationPending && !c.ReviewOpen(now) {
				return errNotOpen("不在审核时间内")
			}
			if !approve {
				return nil
			}
			switch n.MachineVerdict() {
			case model.VerdictRisky:
				return model.Coded(model.ErrConflict, "machine_rejected", "内容未通过微信内容安全检测，不能通过")
			case model.VerdictPending:
				return model.Coded(model.ErrConflict, "check_pending", "图片安全检测尚未完成，请稍后再审")
			}
			return nil
		}})
	if err != nil {
		return model.Nomination{}, err
	}
	decision := "reject"
	if approve {
		decision = "approve"
	}
	s.record(ctx, "nomination."+decision, "nomination", id,
		map[string]any{"status": before.Status}, map[string]any{"status": after.Status, "reason": reason,
			"machine_verdict": after.MachineVerdict()})
	s.meta.dropNomination(id)
	s.gallery.drop(after.CampaignID)
	if s.cache != nil {
		var err error
		if approve {
			err = s.cache.SetNominationScore(ctx, after.CampaignID, after.Category, id, after.Votes)
		} else {
			err = s.cache.RemoveNomination(ctx, after.CampaignID, after.Category, id)
		}
		if err != nil {
			s.warned.warn(ctx, s.log, "campaigns: leaderboard not updated after a review; it will be rebuilt", err)
			_ = s.cache.DropLeaderboards(ctx, after.CampaignID)
		}
	}
	s.tellReviewed(ctx, after, decision)
	return after, nil
}

func (s *Service) tellReviewed(ctx context.Context, n model.Nomination, decision string) {
	result, hint := "已通过", "推荐已公开展示，欢迎分享"
	if decision == "reject" {
		result, hint = "未通过", clip(n.RejectReason, 20)
	}
	err := s.notify.Notify(ctx, model.Recipient{UserID: n.UserID}, model.Notice{
		Topic:     TopicNominationReviewed,
		Fields:    map[string]string{"family": clip(n.FamilyName, 20), "result": result, "hint": hint},
		Page:      s.opt.SharePage + "?id=" + strconv.FormatInt(n.ID, 10),
		DedupeKey: fmt.Sprintf("nomination:%d:review:%s:%d", n.ID, decision, n.ReviewedAt.UnixMilli()),
	})
	if err != nil {
		s.log.WarnContext(ctx, "notify nominator", "nomination", n, "err", err)
	}
}

// --- media checks ---

// TaskMediaCheck submits a nomination's unchecked photos to WeChat.
const TaskMediaCheck = "campaigns:media_check"

type mediaCheckTask struct {
	NominationID int64 `json:"nomination_id"`
}

func (s *Service) queueMediaCheck(ctx context.Context, n model.Nomination) {
	payload, err := json.Marshal(mediaCheckTask{NominationID: n.ID})
	if err == nil {
		err = s.jobs.Enqueue(ctx, TaskMediaCheck, payload, fmt.Sprintf("campaigns:media:%d:%d", n.ID, n.UpdatedAt.UnixNano()))
	}
	if err != nil {
		// The sweep (SweepMediaChecks) queues it again.
		s.log.WarnContext(ctx, "queue media check", "nomination", n, "err", err)
	}
}

// RunMediaCheck is the handler of TaskMediaCheck: it submits every photo
// of a pending nomination that has no check in flight to
// media_check_async and records the trace ids; a result that already
// arrived for a trace id is applied at once. An error retries the task.
func (s *Service) RunMediaCheck(ctx context.Context, payload []byte) error {
	var t mediaCheckTask
	if err := json.Unmarshal(payload, &t); err != nil || t.NominationID <= 0 {
		return fmt.Errorf("%w: media check payload", ErrBadPayload)
	}
	n, err := s.store.Nomination(ctx, t.NominationID)
	if errors.Is(err, model.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if n.Status != model.NominationPending {
		return nil
	}
	if s.opt.PhotoURL == nil {
		return nil // said at start: nothing can be checked
	}
	photos, err := s.store.PhotosToSubmit(ctx, n.ID)
	if err != nil || len(photos) == 0 {
		return err
	}
	u, err := s.users.UserByID(ctx, n.UserID)
	if err != nil {
		return fmt.Errorf("media check: %w", err)
	}
	for _, p := range photos {
		if p.Attempts >= s.opt.MediaCheckTries {
			continue
		}
		trace, err := s.wx.SubmitMediaCheck(ctx, u.OpenID, s.opt.PhotoURL(p.Key))
		if err != nil {
			return fmt.Errorf("media check: %w", err)
		}
		if err := s.store.SetPhotoTrace(ctx, p.ID, trace, s.now()); err != nil {
			return err
		}
		r, err := s.results.Result(ctx, model.ResultMediaCheck, trace)
		switch {
		case err == nil:
			if err := s.MediaCheckResult(ctx, r); err != nil {
				return err
			}
		case !errors.Is(err, model.ErrNotFound):
			return fmt.Errorf("media check: %w", err)
		}
	}
	return nil
}

// ErrBadPayload marks a task whose payload cannot be read: retrying it
// cannot help.
var ErrBadPayload = errors.New("campaigns: bad task payload")

// MediaCheckResult is the gateway's result sink for wxa_media_check
// events: it records the result on the photo whose check carries the
// trace id (an unknown trace id is someone else's check and ignored). An
// answer other than pass, review or risky counts as review, so a human
// looks. Idempotent.
func (s *Service) MediaCheckResult(ctx context.Context, r model.WeChatResult) error {
	if r.Kind != model.ResultMediaCheck {
		return nil
	}
	suggest := r.Suggest
	switch suggest {
	case model.SuggestPass, model.SuggestReview, model.SuggestRisky:
	default:
		suggest = model.SuggestReview
	}
	id, found, err := s.store.RecordPhotoCheck(ctx, r.Key, suggest, r.CheckLabel, s.now())
	if err != nil || !found {
		return err
	}
	s.meta.dropNomination(id)
	if suggest == model.SuggestRisky {
		s.log.InfoContext(ctx, "nomination photo refused by content security", "nomination_id", id, "label", r.CheckLabel)
	}
	return nil
}

// SweepMediaChecks submits again the photo checks that got no result
// within MediaCheckTimeout (at most MediaCheckTries times) and queues the
// checks of photos never submitted (a queue that was down). It returns
// the nominations queued.
func (s *Service) SweepMediaChecks(ctx context.Context) (int, error) {
	stale, err := s.store.StalePhotoChecks(ctx, s.now().Add(-s.opt.MediaCheckTimeout), s.opt.MediaCheckTries)
	if err != nil {
		return 0, err
	}
	unsent, err := s.store.UnsubmittedPhotos(ctx, s.now().Add(-5*time.Minute), s.opt.MediaCheckTries)
	if err != nil {
		return 0, err
	}
	seen := map[int64]bool{}
	for _, id := range append(stale, unsent...) {
		if seen[id] {
			continue
		}
		seen[id] = true
		payload, _ := json.Marshal(mediaCheckTask{NominationID: id})
		// One sweep's id: a task already queued for this minute is not doubled.
		if err := s.jobs.Enqueue(ctx, TaskMediaCheck, payload, fmt.Sprintf("campaigns:media:%d:sweep:%d", id, s.now().Unix()/60)); err != nil {
			return len(seen) - 1, err
		}
	}
	return len(seen), nil
}

// --- share codes ---

// ShareCode returns the storage key of an approved nomination's share code
// (a Mini Program code whose scene is "n=<id>", opening SharePage),
// generating and storing it on the first request only. A nomination that is
// not public is 404 (409 not_public to its own nominator).
func (s *Service) ShareCode(ctx context.Context, userID, id int64) (string, error) {
	n, err := s.store.Nomination(ctx, id)
	if err != nil {
		return "", err
	}
	if !n.Public() {
		if n.UserID == userID {
			return "", model.Coded(model.ErrConflict, "not_public", "推荐审核通过后才能分享")
		}
		return "", errNomMissing
	}
	if n.ShareCodeKey != "" {
		return n.ShareCodeKey, nil
	}
	v, err, _ := s.shares.Do(strconv.FormatInt(id, 10), func() (any, error) {
		img, err := s.wx.ShareCode(ctx, "n="+strconv.FormatInt(id, 10))
		if err != nil {
			return "", err
		}
		key, err := s.images.SaveImage(ctx, img)
		if err != nil {
			return "", fmt.Errorf("share code: %w", err)
		}
		kept, mine, err := s.store.SetShareCode(ctx, id, key)
		if err != nil || !mine {
			if derr := s.images.DeleteImage(context.WithoutCancel(ctx), key); derr != nil {
				s.log.WarnContext(ctx, "share code: delete the copy not kept", "nomination_id", id, "err", derr)
			}
		}
		return kept, err
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}
