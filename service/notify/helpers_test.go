package notify_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/internal/testutil"
	"wanjia/job"
	"wanjia/model"
	"wanjia/service/notify"
	"wanjia/service/notify/notifyjob"
	"wanjia/service/notify/notifyredis"
	"wanjia/service/notify/notifywx"
	"wanjia/store"
	"wanjia/store/storetest"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

const (
	oaApp    = "wxnotifyoa0000001"
	oaSecret = "notifyoasecret000000000000000001"
	mpApp    = "wxnotifymp0000001"
	mpSecret = "notifympsecret000000000000000001"

	subscribePath = "/cgi-bin/message/subscribe/send"
	templatePath  = "/cgi-bin/message/template/send"
)

// simRoute is where silenceper's global util.DefaultHTTPClient sends
// WeChat calls: the simulator of the running test. Tests that use it are
// not parallel.
var simRoute = &testutil.SimRoute{}

func TestMain(m *testing.M) { testutil.MainWithSimRoute(m, simRoute) }

// fakeFollowers is the follower table (G2's store) by openid.
type fakeFollowers struct {
	mu sync.Mutex
	fs map[string]model.Follower
}

func (f *fakeFollowers) put(fl model.Follower) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fs == nil {
		f.fs = map[string]model.Follower{}
	}
	f.fs[fl.OpenID] = fl
}

func (f *fakeFollowers) FollowerByOpenID(_ context.Context, openID string) (model.Follower, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.fs[openID]; ok {
		return fl, nil
	}
	return model.Follower{}, model.Errorf(model.ErrNotFound, "粉丝不存在")
}

func (f *fakeFollowers) FollowerByUnionID(_ context.Context, unionID string) (model.Follower, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fl := range f.fs {
		if fl.UnionID == unionID {
			return fl, nil
		}
	}
	return model.Follower{}, model.Errorf(model.ErrNotFound, "粉丝不存在")
}

// fakeMessages is the message log's LastMessageAt (G1's store).
type fakeMessages struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (m *fakeMessages) wrote(openID string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == nil {
		m.last = map[string]time.Time{}
	}
	m.last[openID] = at
}

func (m *fakeMessages) LastMessageAt(_ context.Context, app model.App, openID string) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if app != model.AppOA {
		return time.Time{}, nil
	}
	return m.last[openID], nil
}

// recordingQueue records enqueues instead of running them.
type recordingQueue struct {
	mu    sync.Mutex
	tasks []queued
}

type queued struct {
	taskID string
	id     int64
	at     time.Time
}

func (q *recordingQueue) Enqueue(_ context.Context, taskID string, id int64, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks = append(q.tasks, queued{taskID, id, at})
	return nil
}

func (q *recordingQueue) snapshot() []queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]queued(nil), q.tasks...)
}

// env is one notification centre over SQLite, miniredis and the simulator.
type env struct {
	db        *store.DB
	ns        *store.Notify
	users     *store.Users
	rdb       redis.UniversalClient
	sim       *wxsim.Sim
	wx        *wechat.Client
	followers *fakeFollowers
	messages  *fakeMessages
	audit     *testutil.Audit
	clock     *testutil.Clock
	queue     notify.Queue
	rq        *recordingQueue // when the queue records
	svc       *notify.Service
	deps      notify.Deps
	shutdown  time.Duration
}

type envOptions struct {
	rate     float64   // sends per second per app; default 1000
	runner   bool      // deliver through a job runner (else a recording queue)
	now      time.Time // the service's clock; default the wall clock
	quiet    string
	workers  int
	noWorker bool          // with runner: start workers with startWorker
	shutdown time.Duration // workers' shutdown timeout (default 500 ms)
	feed     int           // FeedWindow (default notify's)
}

// jobOptions are the delivery task options of the tests: a sweep a second
// and three retries.
var jobOptions = notifyjob.Options{SweepEvery: time.Second, MaxRetry: 3}

// startWorker starts a job runner that runs the delivery tasks; it is shut
// down at cleanup (Shutdown twice is fine).
func (e *env) startWorker(tb testing.TB, workers int) *job.Runner {
	tb.Helper()
	r := mustRunner(tb, e.rdb, workers, e.shutdown)
	notifyjob.Register(r, e.svc, jobOptions)
	if err := r.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Shutdown)
	return r
}

// mustEnv builds an env. Tests using it are not parallel (the simulator
// sits behind silenceper's global HTTP client).
func mustEnv(tb testing.TB, o envOptions) *env {
	tb.Helper()
	e := &env{followers: &fakeFollowers{}, messages: &fakeMessages{}, audit: &testutil.Audit{}, clock: testutil.NewClock(time.Time{})}
	e.db = storetest.Dialects()[0].Open(tb)
	e.ns, e.users = store.NewNotify(e.db), store.NewUsers(e.db)
	mr := miniredis.NewMiniRedis()
	mr.ClockTTL(true)
	if err := mr.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(mr.Close)
	e.rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
	tb.Cleanup(func() { _ = e.rdb.Close() })

	e.sim = wxsim.New(wxsim.WithApp(oaApp, oaSecret), wxsim.WithApp(mpApp, mpSecret), wxsim.WithLenient(""))
	tb.Cleanup(func() { _ = e.sim.Close() })
	simRoute.Use(tb, e.sim.Transport())
	var err error
	e.wx, err = wechat.New(wechat.Config{OA: wechat.App{AppID: oaApp, Secret: oaSecret}, MP: wechat.App{AppID: mpApp, Secret: mpSecret}},
		wechat.Deps{Redis: e.rdb, HTTP: util.DefaultHTTPClient})
	if err != nil {
		tb.Fatal(err)
	}
	for _, t := range notify.DefaultTemplates(true) {
		if t.MPTemplateID != "" {
			e.sim.AddTemplate(mpApp, t.MPTemplateID, notify.TemplateKeys(t.MPFields)...)
		}
		if t.OATemplateID != "" {
			e.sim.AddTemplate(oaApp, t.OATemplateID, notify.TemplateKeys(t.OAFields)...)
		}
	}
	if o.rate == 0 {
		o.rate = 1000
	}
	e.shutdown = o.shutdown
	if o.now.IsZero() {
		e.clock = nil
	} else {
		e.clock.Set(o.now)
	}
	if o.quiet == "" {
		o.quiet = "off"
	}
	e.deps = notify.Deps{
		Store: e.ns, Users: e.users, Followers: e.followers, Messages: e.messages,
		Sender: notifywx.New(e.wx, ""), Limiter: notifyredis.NewLimiter(e.rdb, o.rate, 1),
		Twins: notifyredis.NewTwins(e.rdb, time.Minute), Tx: e.db, Audit: e.audit,
		Options: notify.Options{QuietHours: o.quiet, StaleAfter: time.Minute, FeedWindow: o.feed},
	}
	if e.clock != nil {
		e.deps.Now = e.clock.Now
	}
	if o.runner {
		// The service enqueues through a runner of its own that never
		// runs tasks; workers are separate runners (startWorker).
		producer := mustRunner(tb, e.rdb, 1, 0)
		e.queue = notifyjob.NewQueue(producer)
		e.deps.Queue = e.queue
		e.svc = mustService(tb, e.deps)
		notifyjob.Register(producer, e.svc, jobOptions)
		if !o.noWorker {
			e.startWorker(tb, o.workers)
		}
	} else {
		e.rq = &recordingQueue{}
		e.queue, e.deps.Queue = e.rq, e.rq
		e.svc = mustService(tb, e.deps)
	}
	if _, err := e.svc.SeedTemplates(context.Background(), notify.DefaultTemplates(true)); err != nil {
		tb.Fatal(err)
	}
	return e
}

func mustService(tb testing.TB, d notify.Deps) *notify.Service {
	tb.Helper()
	s, err := notify.New(d)
	if err != nil {
		tb.Fatalf("notify.New() = %v", err)
	}
	return s
}

// mustRunner returns an unstarted job runner with fast polling and
// retries, and shutdown (default 500 ms) for its handlers to finish.
func mustRunner(tb testing.TB, rdb redis.UniversalClient, workers int, shutdown time.Duration) *job.Runner {
	tb.Helper()
	if workers == 0 {
		workers = 4
	}
	if shutdown == 0 {
		shutdown = 500 * time.Millisecond
	}
	r, err := job.New(rdb, job.Options{
		Concurrency: workers, PollInterval: 20 * time.Millisecond, ShutdownTimeout: shutdown,
		RetryDelay: func(int, error) time.Duration { return 10 * time.Millisecond },
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatalf("job.New() = %v", err)
	}
	return r
}

// mustUser creates a Mini Program user openid (unionid union, optional).
func (e *env) mustUser(tb testing.TB, openID, union string) model.User {
	tb.Helper()
	u, err := e.users.UpsertUserByOpenID(context.Background(), openID, union)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// mustGrant gives openID n one-time authorisations of the MP template of topic.
func (e *env) mustGrant(tb testing.TB, openID, topic string, n int) {
	tb.Helper()
	for range n {
		if err := e.ns.GrantConsent(context.Background(), model.AppMP, openID, mpTemplate(topic), false); err != nil {
			tb.Fatal(err)
		}
	}
}

func mpTemplate(topic string) string { return "sandbox_mp_" + topic }

// lessonNotice is a lesson_published notice with key.
func lessonNotice(key string) model.Notice {
	return model.Notice{Topic: notify.TopicLessonPublished, DedupeKey: key, Page: "pages/lesson/index?id=3",
		Fields: map[string]string{"title": "亲子沟通的三个技巧", "time": "2026-03-08T20:00:00+08:00"}}
}

// mustNotify calls Notify and fails on an error.
func (e *env) mustNotify(tb testing.TB, r model.Recipient, n model.Notice) {
	tb.Helper()
	if err := e.svc.Notify(context.Background(), r, n); err != nil {
		tb.Fatalf("Notify(%+v, %s) = %v", r, n.DedupeKey, err)
	}
}

// delivery returns the delivery of key.
func (e *env) delivery(tb testing.TB, key string) model.Delivery {
	tb.Helper()
	ds, _, err := e.ns.ListDeliveries(context.Background(), model.DeliveryFilter{}, model.Page{Limit: 100})
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range ds {
		if d.DedupeKey == key {
			return d
		}
	}
	tb.Fatalf("no delivery with key %s", key)
	return model.Delivery{}
}

// deliverAll runs Deliver for every recorded task until the queue has no
// new ones, and returns the errors by delivery id.
func (e *env) deliverAll(tb testing.TB) map[int64]error {
	tb.Helper()
	errs := map[int64]error{}
	done := 0
	for {
		tasks := e.rq.snapshot()
		if done == len(tasks) {
			return errs
		}
		for _, t := range tasks[done:] {
			if err := e.svc.Deliver(context.Background(), t.id, false); err != nil {
				errs[t.id] = err
			}
		}
		done = len(tasks)
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finalCount counts deliveries in a final status.
func (e *env) finalCount(tb testing.TB) int {
	tb.Helper()
	n := 0
	cursor := ""
	for {
		ds, next, err := e.ns.ListDeliveries(context.Background(), model.DeliveryFilter{}, model.Page{Cursor: cursor, Limit: 100})
		if err != nil {
			tb.Fatal(err)
		}
		for _, d := range ds {
			if model.DeliveryFinal(d.Status) {
				n++
			}
		}
		if next == "" {
			return n
		}
		cursor = next
	}
}
