package campaigns_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"wanjia/cache"
	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/campaigns"
	"wanjia/service/protect"
	"wanjia/store"
	"wanjia/store/storetest"
)

// t0 is 2026-05-01 00:00 in Shanghai.
var t0 = time.Date(2026, 4, 30, 16, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// fakeWeChat judges text risky when it holds "违规" and review when it
// holds "待核实"; media checks get trace ids t-1, t-2, …
type fakeWeChat struct {
	mu      sync.Mutex
	checks  int
	traces  []string
	urls    []string
	codes   int
	failTxt error
}

func (f *fakeWeChat) CheckText(_ context.Context, openID, title, content string) (campaigns.TextCheck, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	if f.failTxt != nil {
		return campaigns.TextCheck{}, f.failTxt
	}
	if openID == "" {
		return campaigns.TextCheck{}, errors.New("no openid")
	}
	text := title + "\n" + content
	switch {
	case strings.Contains(text, "违规"):
		return campaigns.TextCheck{Suggest: model.SuggestRisky, Label: 20006, TraceID: "txt"}, nil
	case strings.Contains(text, "待核实"):
		return campaigns.TextCheck{Suggest: model.SuggestReview, Label: 21000, TraceID: "txt"}, nil
	}
	return campaigns.TextCheck{Suggest: model.SuggestPass, Label: 100, TraceID: "txt"}, nil
}

func (f *fakeWeChat) SubmitMediaCheck(_ context.Context, openID, url string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := fmt.Sprintf("t-%d", len(f.traces)+1)
	f.traces = append(f.traces, t)
	f.urls = append(f.urls, url)
	return t, nil
}

func (f *fakeWeChat) ShareCode(context.Context, string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.codes++
	return []byte("\xff\xd8jpeg"), nil
}

type fakeImages struct {
	mu      sync.Mutex
	saved   []string
	deleted []string
}

func (f *fakeImages) SaveImage(context.Context, []byte) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fmt.Sprintf("uploads/2026/05/%032d.jpg", len(f.saved)+1)
	f.saved = append(f.saved, k)
	return k, nil
}

func (f *fakeImages) DeleteImage(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, key)
	return nil
}

type queued struct {
	Type, ID string
	Payload  []byte
}

type fakeJobs struct {
	mu   sync.Mutex
	jobs []queued
}

func (f *fakeJobs) Enqueue(_ context.Context, typ string, payload []byte, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = append(f.jobs, queued{typ, id, payload})
	return nil
}

func (f *fakeJobs) take() []queued {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.jobs
	f.jobs = nil
	return out
}

// redisMode says which Redis a test environment gets.
type redisMode int

const (
	withMiniredis redisMode = iota
	withoutRedis
	withRealRedis // WANJIA_TEST_REDIS_URL, flushed
)

type env struct {
	db      *store.DB
	st      *store.Campaigns
	svc     *campaigns.Service
	wx      *fakeWeChat
	images  *fakeImages
	jobs    *fakeJobs
	notes   *testutil.Notifier
	audit   *testutil.Audit
	clock   *testutil.Clock
	rdb     redis.UniversalClient
	mini    *miniredis.Miniredis
	users   *store.Users
	uploads *store.Uploads
	results *store.Results
	staff   context.Context
	editor  context.Context
}

func mustEnv(tb testing.TB, d storetest.Dialect, mode redisMode) *env {
	tb.Helper()
	db := d.Open(tb)
	e := &env{db: db, st: store.NewCampaigns(db), wx: &fakeWeChat{}, images: &fakeImages{}, jobs: &fakeJobs{},
		notes: &testutil.Notifier{}, audit: &testutil.Audit{}, clock: testutil.NewClock(t0), users: store.NewUsers(db),
		uploads: store.NewUploads(db), results: store.NewResults(db)}
	var vc campaigns.VoteCache
	switch mode {
	case withMiniredis:
		e.mini = miniredis.RunT(tb)
		e.rdb = redis.NewClient(&redis.Options{Addr: e.mini.Addr()})
	case withRealRedis:
		u := os.Getenv("WANJIA_TEST_REDIS_URL")
		if u == "" {
			tb.Skip("WANJIA_TEST_REDIS_URL not set")
		}
		c, cleanup, err := cache.Open(context.Background(), u, nil)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(cleanup)
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			tb.Fatal(err)
		}
		e.rdb = c
	}
	if e.rdb != nil {
		vc = cache.NewVotes(e.rdb)
	}
	keys, err := protect.NewKeyring(bytes.Repeat([]byte{7}, protect.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	e.svc, err = campaigns.New(campaigns.Deps{
		Store: e.st, Users: e.users, Uploads: e.uploads, Results: e.results, WeChat: e.wx, Images: e.images, Cache: vc,
		Jobs: e.jobs, Notifier: e.notes, Audit: e.audit, Keys: keys, Now: e.clock.Now,
		Options: campaigns.Options{PhotoURL: func(k string) string { return "https://wanjia.example.org/api/files/" + k },
			MetaTTL: time.Nanosecond, GalleryTTL: time.Nanosecond},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.svc.Close)
	e.staff = model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 5, Username: "rev",
		Roles: []model.Role{model.RoleReviewer}})
	e.editor = model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 6, Username: "ed",
		Roles: []model.Role{model.RoleEditor}})
	return e
}

func sqlite(tb testing.TB, mode redisMode) *env { return mustEnv(tb, storetest.Dialects()[0], mode) }

// mustCampaign creates a campaign: nominations from t0 for 10 days,
// review from t0 to day 20, votes from day 12 to day 20, results day 21.
func (e *env) mustCampaign(tb testing.TB, perDay, perNom int) model.Campaign {
	tb.Helper()
	c, err := e.svc.CreateCampaign(e.staff, campaigns.CampaignInput{
		Title: "2026年度最美家庭", Description: "德润万家",
		NominateFrom: t0, NominateTo: t0.Add(10 * day), ReviewFrom: t0, ReviewTo: t0.Add(20 * day),
		VoteFrom: t0.Add(12 * day), VoteTo: t0.Add(20 * day), ResultsAt: t0.Add(21 * day),
		VotesPerDay: perDay, PerNominationDaily: perNom,
	})
	if err != nil {
		tb.Fatalf("CreateCampaign() = %v", err)
	}
	return c
}

// mustUser signs up a Mini Program user with n uploads.
func (e *env) mustUser(tb testing.TB, name string, uploads int) (model.User, []int64) {
	tb.Helper()
	ctx := context.Background()
	u, err := e.users.UpsertUserByOpenID(ctx, "o_"+name, "")
	if err != nil {
		tb.Fatal(err)
	}
	var ids []int64
	for i := range uploads {
		up, err := e.uploads.Create(ctx, model.Upload{Key: fmt.Sprintf("uploads/2026/05/%016x%016x.jpg", u.ID, i), UserID: u.ID,
			ContentType: "image/jpeg", Size: 100, Width: 10, Height: 10, SHA256: "00"})
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, up.ID)
	}
	return u, ids
}

// mustApproved nominates a family as a new user, passes its media checks
// and approves it.
func (e *env) mustApproved(tb testing.TB, c model.Campaign, name, category string) model.Nomination {
	tb.Helper()
	n := e.mustNominate(tb, c, name, category)
	e.passChecks(tb, n.ID)
	now := e.clock.Now()
	if now.Before(c.ReviewFrom) || !now.Before(c.ReviewTo) {
		e.clock.Set(c.ReviewFrom)
		defer e.clock.Set(now)
	}
	got, err := e.svc.ReviewNomination(e.staff, n.ID, true, "")
	if err != nil {
		tb.Fatalf("ReviewNomination(approve) = %v", err)
	}
	return got
}

func (e *env) mustNominate(tb testing.TB, c model.Campaign, name, category string) model.Nomination {
	tb.Helper()
	u, photos := e.mustUser(tb, name, 2)
	now := e.clock.Now()
	if !c.NominationOpen(now) {
		e.clock.Set(c.NominateFrom)
		defer e.clock.Set(now)
	}
	n, err := e.svc.Nominate(context.Background(), u.ID, c.ID, campaigns.NominationInput{
		Category: category, FamilyName: name + "家", Story: "三代同堂，孝老爱亲，邻里和睦。", PhotoIDs: photos, Consent: true})
	if err != nil {
		tb.Fatalf("Nominate(%s) = %v", name, err)
	}
	return n
}

// passChecks runs the queued media-check tasks of nomination id and
// answers every check with pass.
func (e *env) passChecks(tb testing.TB, id int64) {
	tb.Helper()
	e.runMediaChecks(tb)
	n, err := e.st.Nomination(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range n.Photos {
		if err := e.svc.MediaCheckResult(context.Background(), model.WeChatResult{Kind: model.ResultMediaCheck, Key: p.TraceID,
			Suggest: model.SuggestPass, CheckLabel: 100}); err != nil {
			tb.Fatal(err)
		}
	}
}

func (e *env) runMediaChecks(tb testing.TB) {
	tb.Helper()
	for _, j := range e.jobs.take() {
		if j.Type != campaigns.TaskMediaCheck {
			continue
		}
		if err := e.svc.RunMediaCheck(context.Background(), j.Payload); err != nil {
			tb.Fatalf("RunMediaCheck() = %v", err)
		}
	}
}

func code(err error) string {
	var me *model.Error
	if errors.As(err, &me) {
		return me.Code
	}
	return ""
}
