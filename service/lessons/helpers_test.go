package lessons_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/internal/testutil"
	"wanjia/job"
	"wanjia/model"
	"wanjia/service/lessons"
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
	oaApp    = "wxlessonsoa000001"
	oaSecret = "lessonsoasecret00000000000000001"
	mpApp    = "wxlessonsmp000001"
	mpSecret = "lessonsmpsecret00000000000000001"

	mpTemplate    = "sandbox_mp_lesson_published"
	subscribePath = "/cgi-bin/message/subscribe/send"
)

// simRoute is where silenceper's global util.DefaultHTTPClient sends
// WeChat calls: the simulator of the running test. Tests using it are not
// parallel.
var simRoute = &testutil.SimRoute{}

func TestMain(m *testing.M) { testutil.MainWithSimRoute(m, simRoute) }

// recordingQueue records notify's enqueues.
type recordingQueue struct {
	mu  sync.Mutex
	ids []int64
}

func (q *recordingQueue) Enqueue(_ context.Context, _ string, id int64, _ time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ids = append(q.ids, id)
	return nil
}

func (q *recordingQueue) snapshot() []int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]int64(nil), q.ids...)
}

// fanoutQueue records the lessons' fan-out enqueues.
type fanoutQueue struct {
	mu    sync.Mutex
	tasks []string
}

func (q *fanoutQueue) EnqueueFanout(_ context.Context, id int64, resume string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks = append(q.tasks, fmt.Sprintf("%d:%s", id, resume))
	return nil
}

func (q *fanoutQueue) snapshot() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.tasks...)
}

// env is the lessons area over SQLite, miniredis, the notification
// centre and the simulator.
type env struct {
	db        *store.DB
	ls        *store.Lessons
	ns        *store.Notify
	users     *store.Users
	followers *store.Followers
	rdb       redis.UniversalClient
	sim       *wxsim.Sim
	wx        *wechat.Client
	clock     *testutil.Clock
	audit     *testutil.Audit
	nq        *recordingQueue // notify's queue when there is no runner
	fq        *fanoutQueue    // the fan-out queue when there is no runner
	notify    *notify.Service
	svc       *lessons.Service
	ndeps     notify.Deps
	ldeps     lessons.Deps
}

type envOptions struct {
	runner bool // deliver through job runners (else recording queues)
	batch  int  // FanoutBatch
	rate   float64
}

var t0 = time.Date(2026, 3, 8, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

func mustEnv(tb testing.TB, o envOptions) *env {
	tb.Helper()
	e := &env{clock: testutil.NewClock(t0), audit: &testutil.Audit{}}
	e.db = storetest.Dialects()[0].Open(tb)
	e.ls, e.ns, e.users, e.followers = store.NewLessons(e.db), store.NewNotify(e.db), store.NewUsers(e.db), store.NewFollowers(e.db)
	mr := miniredis.NewMiniRedis()
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
	e.ndeps = notify.Deps{
		Store: e.ns, Users: e.users, Followers: e.followers, Sender: notifywx.New(e.wx, ""),
		Limiter: notifyredis.NewLimiter(e.rdb, o.rate, 1), Twins: notifyredis.NewTwins(e.rdb, time.Minute), Tx: e.db,
		Options: notify.Options{QuietHours: "off"},
	}
	e.ldeps = lessons.Deps{Store: e.ls, Counts: e.ns, Audit: e.audit, Tx: e.db, Now: e.clock.Now,
		Options: lessons.Options{FanoutBatch: o.batch}}
	if o.runner {
		r := mustRunner(tb, e.rdb)
		e.ndeps.Queue = notifyjob.NewQueue(r)
		e.notify = mustNotify(tb, e.ndeps)
		e.ldeps.Notifier, e.ldeps.Queue = e.notify, lessons.NewQueue(r)
		e.svc = mustLessons(tb, e.ldeps)
		notifyjob.Register(r, e.notify, notifyjob.Options{SweepEvery: time.Second, MaxRetry: 3})
		lessons.Register(r, e.svc, time.Second)
		if err := r.Start(context.Background()); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(r.Shutdown)
	} else {
		e.nq, e.fq = &recordingQueue{}, &fanoutQueue{}
		e.ndeps.Queue = e.nq
		e.notify = mustNotify(tb, e.ndeps)
		e.ldeps.Notifier, e.ldeps.Queue = e.notify, e.fq
		e.svc = mustLessons(tb, e.ldeps)
	}
	if _, err := e.notify.SeedTemplates(context.Background(), notify.DefaultTemplates(true)); err != nil {
		tb.Fatal(err)
	}
	return e
}

func mustNotify(tb testing.TB, d notify.Deps) *notify.Service {
	tb.Helper()
	s, err := notify.New(d)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustLessons(tb testing.TB, d lessons.Deps) *lessons.Service {
	tb.Helper()
	s, err := lessons.New(d)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustRunner(tb testing.TB, rdb redis.UniversalClient) *job.Runner {
	tb.Helper()
	r, err := job.New(rdb, job.Options{
		Concurrency: 4, PollInterval: 20 * time.Millisecond, ShutdownTimeout: 500 * time.Millisecond,
		RetryDelay: func(int, error) time.Duration { return 10 * time.Millisecond }, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// editor is a staff context with the editor role.
func editor() context.Context {
	return model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 1, Username: "ed",
		Roles: []model.Role{model.RoleEditor}})
}

func (e *env) mustCourse(tb testing.TB, title string) model.Course {
	tb.Helper()
	c, err := e.svc.CreateCourse(editor(), lessons.CourseInput{Title: title, Intro: "给家长的课", Audience: model.AudiencePrimary})
	if err != nil {
		tb.Fatalf("CreateCourse() = %v", err)
	}
	return c
}

func (e *env) mustLesson(tb testing.TB, courseID int64, title string) model.Lesson {
	tb.Helper()
	l, err := e.svc.CreateLesson(editor(), courseID, lessons.LessonInput{Title: title, Kind: model.LessonVideo,
		URL: "https://v.example.cn/lesson.mp4", DurationS: 600})
	if err != nil {
		tb.Fatalf("CreateLesson() = %v", err)
	}
	return l
}

func (e *env) mustPublish(tb testing.TB, id int64) model.Lesson {
	tb.Helper()
	l, err := e.svc.Publish(editor(), id)
	if err != nil {
		tb.Fatalf("Publish(%d) = %v", id, err)
	}
	return l
}

// mustUser creates a Mini Program user (unionid optional) subscribed to
// courseID, with consents one-time authorisations of the lesson template.
func (e *env) mustUser(tb testing.TB, openID, union string, courseID int64, consents int) model.User {
	tb.Helper()
	ctx := context.Background()
	u, err := e.users.UpsertUserByOpenID(ctx, openID, union)
	if err != nil {
		tb.Fatal(err)
	}
	for range consents {
		if err := e.ns.GrantConsent(ctx, model.AppMP, openID, mpTemplate, false); err != nil {
			tb.Fatal(err)
		}
	}
	if courseID != 0 {
		if err := e.ls.Subscribe(ctx, courseID, u.ID, t0); err != nil {
			tb.Fatal(err)
		}
	}
	return u
}

// follow makes openID an OA follower with unionID.
func (e *env) follow(tb testing.TB, openID, unionID string) {
	tb.Helper()
	if _, err := e.followers.Subscribe(context.Background(), openID, unionID, "", t0); err != nil {
		tb.Fatal(err)
	}
}

// deliverAll runs the fan-outs and notify's tasks recorded so far, and
// what they lead to, until nothing new comes (the recording queues'
// stand-in for the job runner).
func (e *env) deliverAll(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	doneF, doneD := 0, 0
	for range 100 {
		fs, ds := e.fq.snapshot(), e.nq.snapshot()
		if doneF == len(fs) && doneD == len(ds) {
			if err := e.notify.Feed(ctx); err != nil {
				tb.Fatal(err)
			}
			if len(e.nq.snapshot()) == doneD {
				return
			}
			continue
		}
		for _, f := range fs[doneF:] {
			lesson, _, _ := strings.Cut(f, ":")
			id, err := strconv.ParseInt(lesson, 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			if err := e.svc.Fanout(ctx, id); err != nil {
				tb.Fatalf("Fanout(%d) = %v", id, err)
			}
		}
		for _, id := range ds[doneD:] {
			if err := e.notify.Deliver(ctx, id, false); err != nil && !errors.Is(err, notify.ErrPermanent) {
				tb.Fatalf("Deliver(%d) = %v", id, err)
			}
		}
		doneF, doneD = len(fs), len(ds)
	}
	tb.Fatal("deliverAll: still busy after 100 rounds")
}

// delivery returns the delivery of lesson lessonID to user userID.
func (e *env) delivery(tb testing.TB, lessonID, userID int64) model.Delivery {
	tb.Helper()
	d, ok := e.findDelivery(tb, lessonID, userID)
	if !ok {
		tb.Fatalf("no delivery of lesson %d to user %d", lessonID, userID)
	}
	return d
}

// status is the status of the delivery of lesson lessonID to user userID,
// or "" while there is none.
func (e *env) status(tb testing.TB, lessonID, userID int64) string {
	tb.Helper()
	d, _ := e.findDelivery(tb, lessonID, userID)
	return d.Status
}

func (e *env) findDelivery(tb testing.TB, lessonID, userID int64) (model.Delivery, bool) {
	tb.Helper()
	ds, _, err := e.ns.ListDeliveries(context.Background(), model.DeliveryFilter{UserID: userID}, model.Page{Limit: 100})
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range ds {
		if d.DedupeKey == lessons.DedupeKey(lessonID, userID) {
			return d, true
		}
	}
	return model.Delivery{}, false
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
