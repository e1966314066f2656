package gateway_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/gateway"
	"wanjia/service/gateway/adapters"
	"wanjia/store"
	"wanjia/store/storetest"
)

type enqueued struct {
	Type    string
	Payload []byte
	ID      string
}

// fakeJobs records enqueued tasks; like job.ID, an id already queued is
// not queued again.
type fakeJobs struct {
	mu    sync.Mutex
	tasks []enqueued
	calls int
	fail  error
}

func (f *fakeJobs) Enqueue(_ context.Context, typ string, payload []byte, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return f.fail
	}
	if slices.ContainsFunc(f.tasks, func(t enqueued) bool { return t.ID == id }) {
		return nil
	}
	f.tasks = append(f.tasks, enqueued{Type: typ, Payload: payload, ID: id})
	return nil
}

func (f *fakeJobs) ofType(typ string) []enqueued {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []enqueued
	for _, t := range f.tasks {
		if t.Type == typ {
			out = append(out, t)
		}
	}
	return out
}

type consentCall struct {
	App    model.App
	OpenID string
	Events []model.SubscribeEvent
}

type fakeNotify struct {
	mu        sync.Mutex
	consents  []consentCall
	templates [][2]string
	fail      error
}

func (f *fakeNotify) RecordSubscribeEvents(_ context.Context, app model.App, openID string, evs []model.SubscribeEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.consents = append(f.consents, consentCall{app, openID, evs})
	return nil
}

func (f *fakeNotify) TemplateSendFinished(_ context.Context, msgID, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.templates = append(f.templates, [2]string{msgID, status})
	return nil
}

type fakeOA struct {
	mu        sync.Mutex
	published [][]model.MenuButton
	info      map[string]gateway.FollowerInfo
	fail      error
}

func (f *fakeOA) PublishMenu(_ context.Context, b []model.MenuButton) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.published = append(f.published, b)
	return nil
}

func (f *fakeOA) FollowerInfo(_ context.Context, openID string) (gateway.FollowerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return gateway.FollowerInfo{}, f.fail
	}
	return f.info[openID], nil
}

// env is a gateway over a real SQLite database and a miniredis, with fakes
// for the job queue, the notification centre and WeChat.
type env struct {
	db        *store.DB
	mr        *miniredis.Miniredis
	rdb       redis.UniversalClient
	clock     *testutil.Clock
	jobs      *fakeJobs
	notifier  *testutil.Notifier
	notify    *fakeNotify
	oa        *fakeOA
	audit     *testutil.Audit
	reg       *prometheus.Registry
	followers *store.Followers
	staff     *store.Staff
	svc       *gateway.Service
}

var t0 = time.Date(2025, 3, 8, 9, 0, 0, 0, time.UTC)

func mustEnv(tb testing.TB) *env {
	tb.Helper()
	db := storetest.Dialects()[0].Open(tb)
	mr := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	tb.Cleanup(func() { rdb.Close() })
	e := &env{
		db: db, mr: mr, rdb: rdb, clock: testutil.NewClock(t0), jobs: &fakeJobs{}, notifier: &testutil.Notifier{},
		notify: &fakeNotify{}, oa: &fakeOA{info: map[string]gateway.FollowerInfo{}}, audit: &testutil.Audit{},
		reg: prometheus.NewRegistry(), followers: store.NewFollowers(db), staff: store.NewStaff(db),
	}
	e.svc = e.newService(tb)
	return e
}

// newService returns another copy of the service over the same database,
// Redis and fakes.
func (e *env) newService(tb testing.TB, mods ...func(*gateway.Deps)) *gateway.Service {
	tb.Helper()
	d := gateway.Deps{
		Rules: store.NewReplyRules(e.db), Settings: store.NewGatewaySettings(e.db), Followers: e.followers,
		Menus: store.NewMenus(e.db), Results: store.NewResults(e.db), Staff: e.staff, Tx: e.db, Audit: e.audit,
		Jobs: e.jobs, Versions: adapters.NewVersions(e.rdb), OA: e.oa, Notifier: e.notifier,
		Consents: e.notify, Templates: e.notify, Registerer: e.reg, Now: e.clock.Now,
	}
	for _, m := range mods {
		m(&d)
	}
	svc, err := gateway.New(d)
	if err != nil {
		tb.Fatalf("gateway.New() = %v", err)
	}
	return svc
}

func (e *env) mustStaff(tb testing.TB, username string, disabled bool, roles ...model.Role) model.Staff {
	tb.Helper()
	st, err := e.staff.CreateStaff(context.Background(), model.Staff{Username: username, PasswordHash: "x", Roles: roles,
		Disabled: disabled})
	if err != nil {
		tb.Fatalf("CreateStaff(%s) = %v", username, err)
	}
	return st
}

// as returns ctx carrying a staff principal with roles.
func as(roles ...model.Role) context.Context {
	return model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 42,
		Username: "tester", Roles: roles})
}

// runTask runs the handler of an enqueued task.
func (e *env) runTask(tb testing.TB, svc *gateway.Service, t enqueued) error {
	tb.Helper()
	h, ok := svc.Tasks()[t.Type]
	if !ok {
		tb.Fatalf("no handler for task %s", t.Type)
	}
	return h(context.Background(), t.Payload)
}

func text(openID, content string, msgID string) model.InboundMessage {
	return model.InboundMessage{App: model.AppOA, ToUser: "gh_test", FromUser: openID, CreateTime: t0,
		MsgType: "text", MsgID: msgID, Content: content}
}

func event(openID, ev, key string) model.InboundMessage {
	return model.InboundMessage{App: model.AppOA, ToUser: "gh_test", FromUser: openID, CreateTime: t0,
		MsgType: "event", Event: ev, EventKey: key}
}

func mustHandle(tb testing.TB, svc *gateway.Service, m model.InboundMessage) *model.Reply {
	tb.Helper()
	r, err := svc.Handle(context.Background(), m)
	if err != nil {
		tb.Fatalf("Handle(%s %s %s) = %v", m.MsgType, m.Event, m.DedupeKey(), err)
	}
	return r
}

func replyText(r *model.Reply) string {
	if r == nil {
		return "<nil>"
	}
	if r.Kind != model.ReplyText {
		return "<" + string(r.Kind) + ">"
	}
	return r.Text
}

var errBoom = errors.New("boom")

// brokenFollowers fails every write, as a database that is down does.
type brokenFollowers struct{ gateway.FollowerStore }

func (brokenFollowers) Subscribe(context.Context, string, string, string, time.Time) (model.Follower, error) {
	return model.Follower{}, errBoom
}

func (brokenFollowers) Unsubscribe(context.Context, string, time.Time) error { return errBoom }

func (brokenFollowers) RecordScan(context.Context, model.QRScan) error { return errBoom }
