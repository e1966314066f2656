// Command fanout measures the notification centre's fan-out: one push of N
// Mini Program subscribe messages (default 10,000) through Notify, the
// outbox, the asynq delivery tasks and the per-app send-rate cap (default
// 200/s) to the WeChat simulator, over the zero-configuration stack
// (SQLite file, an in-process Redis by default). Halfway through it stops the worker (the
// job runner's shutdown, as on SIGTERM) and starts a new one with a new
// service instance, as a restarted copy would. It then counts what the
// simulator received: every recipient exactly once, none twice, none lost,
// and the push finished within 10% of N/rate. See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/cache"
	"wanjia/job"
	"wanjia/model"
	"wanjia/service/notify"
	"wanjia/service/notify/notifyjob"
	"wanjia/service/notify/notifyredis"
	"wanjia/service/notify/notifywx"
	"wanjia/store"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	n         int
	rate      float64
	burst     int
	workers   int
	notifiers int
	killAt    float64
	tolerance float64
	timeout   time.Duration
	dir       string
	redisURL  string
	profile   string
}

const (
	oaApp    = "wxfanoutoa0000001"
	oaSecret = "fanoutoasecret000000000000000001"
	mpApp    = "wxfanoutmp0000001"
	mpSecret = "fanoutmpsecret000000000000000001"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 10000, "subscribe messages in the push (the simulator keeps at least the last 10,000)")
	fs.Float64Var(&o.rate, "rate", 200, "send-rate cap per app, messages per second")
	fs.IntVar(&o.burst, "burst", 20, "sends the cap lets through at once after a pause (token bucket size)")
	fs.IntVar(&o.workers, "workers", 16, "delivery tasks run at once (job concurrency)")
	fs.IntVar(&o.notifiers, "notifiers", 4, "goroutines calling Notify")
	fs.Float64Var(&o.killAt, "kill-at", 0.5, "stop the worker when this share of the push was sent, then start a new one (0: never)")
	fs.Float64Var(&o.tolerance, "tolerance", 0.10, "the push must finish within this share of n/rate")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up after this")
	fs.StringVar(&o.dir, "dir", "", "folder for the SQLite file (default: a temporary folder, removed at the end)")
	fs.StringVar(&o.redisURL, "redis", "memory", `"memory" (in-process, TTLs ticked every 50 ms), "embedded" (wanjia's zero-configuration Redis) or a Redis URL, whose database is used as is`)
	fs.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return errors.New("usage: fanout [-n N] [-rate R] [-workers W] [-kill-at F] [-timeout D] [-dir DIR] [-redis URL]")
	case o.n < 1 || o.n > 19999:
		return errors.New("-n must be 1–19999 (the simulator's record of sent messages)")
	case o.rate <= 0 || o.burst < 1 || o.workers < 1 || o.notifiers < 1 || o.killAt < 0 || o.killAt >= 1 || o.timeout <= 0:
		return errors.New("-rate, -burst, -workers, -notifiers and -timeout must be positive, -kill-at in [0, 1)")
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "wanjia-fanout-")
		if err != nil {
			return fmt.Errorf("temp dir: %w", err)
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := measure(ctx, o, stderr)
	if err != nil {
		return err
	}
	return report(stdout, o, res)
}

// stack is the shared infrastructure: what every copy of the service uses.
type stack struct {
	db  *store.DB
	rdb redis.UniversalClient
	sim *wxsim.Sim
	wx  *wechat.Client
	log *slog.Logger
}

func openStack(ctx context.Context, o options, stderr io.Writer) (*stack, func(), error) {
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	db, closeDB, err := store.Open(ctx, store.Options{Driver: "sqlite", DSN: filepath.Join(o.dir, "wanjia.db"),
		MaxOpenConns: 8, MaxIdleConns: 8, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, closeDB)
	if err := db.Migrate(ctx); err != nil {
		cleanup()
		return nil, nil, err
	}
	rdb, closeRedis, err := openRedis(ctx, o.redisURL)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	closers = append(closers, closeRedis)
	sim := wxsim.New(wxsim.WithApp(oaApp, oaSecret), wxsim.WithApp(mpApp, mpSecret), wxsim.WithLenient(""))
	closers = append(closers, func() { _ = sim.Close() })
	for _, t := range notify.DefaultTemplates(true) {
		if t.MPTemplateID != "" {
			sim.AddTemplate(mpApp, t.MPTemplateID, notify.TemplateKeys(t.MPFields)...)
		}
	}
	httpc, err := wechat.NewHTTPClient(wechat.HTTPOptions{Transport: sim.Transport()})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	// silenceper reads this package variable for every call; set once here.
	util.DefaultHTTPClient = httpc
	wx, err := wechat.New(wechat.Config{OA: wechat.App{AppID: oaApp, Secret: oaSecret}, MP: wechat.App{AppID: mpApp, Secret: mpSecret}},
		wechat.Deps{Redis: rdb, HTTP: httpc, Logger: log})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return &stack{db: db, rdb: rdb, sim: sim, wx: wx, log: log}, cleanup, nil
}

// openRedis opens the Redis of -redis: "memory" is an in-process
// miniredis whose TTLs a ticker advances every 50 ms; "embedded" is
// exactly wanjia's zero-configuration Redis (cache.Open with no URL:
// miniredis with ClockTTL, which scans every key on every command); a URL
// is that Redis.
func openRedis(ctx context.Context, url string) (redis.UniversalClient, func(), error) {
	switch url {
	case "embedded":
		return cache.Open(ctx, "", slog.New(slog.DiscardHandler))
	case "memory":
	default:
		return cache.Open(ctx, url, slog.New(slog.DiscardHandler))
	}
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		return nil, nil, fmt.Errorf("in-process redis: %w", err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // exits when done is closed
		defer wg.Done()
		last := time.Now()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	return rdb, func() {
		_ = rdb.Close()
		close(done)
		wg.Wait()
		m.Close()
	}, nil
}

// copyOf is one copy of the service: its notify.Service and, once
// started, its job runner.
type copyOf struct {
	svc    *notify.Service
	runner *job.Runner
}

func (st *stack) newCopy(o options) (*copyOf, error) {
	r, err := job.New(st.rdb, job.Options{Concurrency: o.workers, Logger: st.log, Instance: "fanout",
		Queues: map[string]int{notifyjob.QueueName: 1}})
	if err != nil {
		return nil, err
	}
	svc, err := notify.New(notify.Deps{
		Store: store.NewNotify(st.db), Users: store.NewUsers(st.db), Sender: notifywx.New(st.wx, ""),
		Limiter: notifyredis.NewLimiter(st.rdb, o.rate, o.burst), Queue: notifyjob.NewQueue(r),
		Twins: notifyredis.NewTwins(st.rdb, 0), Tx: st.db, Logger: st.log,
		Options: notify.Options{QuietHours: "off"},
	})
	if err != nil {
		return nil, err
	}
	notifyjob.Register(r, svc, notifyjob.Options{})
	return &copyOf{svc: svc, runner: r}, nil
}

// result is what one run measured.
type result struct {
	setup      time.Duration // users and consents
	notified   time.Duration // first Notify to last Notify
	elapsed    time.Duration // first Notify to the last message WeChat received
	stoppedAt  int           // messages sent when the first worker was stopped
	downtime   time.Duration // from the stop to the new worker running
	received   int           // subscribe messages the simulator received
	distinct   int           // recipients among them
	twice      int           // recipients who got more than one
	firstAfter time.Duration // first Notify to the first message
	maxGap     time.Duration // the longest pause between two messages
	counts     model.PushCounts
}

func measure(ctx context.Context, o options, stderr io.Writer) (result, error) {
	var res result
	st, cleanup, err := openStack(ctx, o, stderr)
	if err != nil {
		return res, err
	}
	defer cleanup()

	first, err := st.newCopy(o)
	if err != nil {
		return res, err
	}
	if _, err := first.svc.SeedTemplates(ctx, notify.DefaultTemplates(true)); err != nil {
		return res, err
	}
	start := time.Now()
	users, err := setupUsers(ctx, st, o.n)
	if err != nil {
		return res, err
	}
	res.setup = time.Since(start)
	if err := first.runner.Start(ctx); err != nil {
		return res, err
	}
	defer func() { first.runner.Shutdown() }()

	pushID, err := first.svc.CreatePush(ctx, "微课上新（压测）", notify.TopicLessonPublished)
	if err != nil {
		return res, err
	}
	ns := store.NewNotify(st.db)
	counts := func() (model.PushCounts, error) {
		m, err := ns.CountPushes(ctx, []int64{pushID})
		return m[pushID], err
	}

	t0 := time.Now()
	notifyDone := make(chan error, 1)
	go func() { notifyDone <- notifyAll(ctx, first.svc, users, pushID, o.notifiers) }()

	second := first
	killed := o.killAt == 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-notifyDone:
			if err != nil {
				return res, fmt.Errorf("notify: %w", err)
			}
			res.notified = time.Since(t0)
			notifyDone = nil
		case <-ctx.Done():
			n := len(st.sim.Sent(wxsim.KindSubscribe))
			return res, fmt.Errorf("push not finished after %v: %d of %d messages sent (%.0f/s): %w",
				time.Since(t0).Round(time.Second), n, o.n, float64(n)/time.Since(t0).Seconds(), ctx.Err())
		case <-tick.C:
		}
		c, err := counts()
		if err != nil {
			return res, err
		}
		if !killed && float64(c.Sent) >= o.killAt*float64(o.n) {
			killed = true
			stop := time.Now()
			first.runner.Shutdown()
			res.stoppedAt = len(st.sim.Sent(wxsim.KindSubscribe))
			if second, err = st.newCopy(o); err != nil {
				return res, err
			}
			if err := second.runner.Start(ctx); err != nil {
				return res, err
			}
			defer second.runner.Shutdown()
			res.downtime = time.Since(stop)
		}
		if notifyDone == nil && c.Targets == o.n && c.Pending == 0 {
			res.counts = c
			break
		}
	}
	sent := st.sim.Sent(wxsim.KindSubscribe)
	per := make(map[string]int, len(sent))
	var last time.Time
	for _, m := range sent {
		per[m.ToUser]++
		if m.At.After(last) {
			last = m.At
		}
	}
	res.received, res.distinct, res.elapsed = len(sent), len(per), last.Sub(t0)
	for i := 1; i < len(sent); i++ {
		if g := sent[i].At.Sub(sent[i-1].At); g > res.maxGap {
			res.maxGap = g
		}
	}
	if len(sent) > 0 {
		res.firstAfter = sent[0].At.Sub(t0)
	}
	return res, nil
}

// setupUsers creates n Mini Program users, each with one consent to the
// lesson template, in one transaction.
func setupUsers(ctx context.Context, st *stack, n int) ([]int64, error) {
	users, ns := store.NewUsers(st.db), store.NewNotify(st.db)
	ids := make([]int64, n)
	err := st.db.WithTx(ctx, func(ctx context.Context) error {
		for i := range n {
			openID := fmt.Sprintf("oFanout%020d", i)
			u, err := users.UpsertUserByOpenID(ctx, openID, "")
			if err != nil {
				return err
			}
			if err := ns.GrantConsent(ctx, model.AppMP, openID, "sandbox_mp_lesson_published", false); err != nil {
				return err
			}
			ids[i] = u.ID
		}
		return nil
	})
	return ids, err
}

// notifyAll notifies every user of the push from workers goroutines.
func notifyAll(ctx context.Context, svc *notify.Service, users []int64, pushID int64, workers int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(users) || ctx.Err() != nil {
					return
				}
				err := svc.Notify(ctx, model.Recipient{UserID: users[i]}, model.Notice{
					Topic: notify.TopicLessonPublished, PushID: pushID, Page: "pages/lesson/index?id=1",
					DedupeKey: fmt.Sprintf("push:%d:user:%d", pushID, users[i]),
					Fields:    map[string]string{"title": "亲子沟通的三个技巧", "time": "2026-03-08T20:00:00+08:00"},
				})
				if err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// redisName names -redis without a password.
func redisName(u string) string {
	if u == "memory" || u == "embedded" {
		return u
	}
	return "url"
}

func report(w io.Writer, o options, r result) error {
	ideal := time.Duration(float64(o.n) / o.rate * float64(time.Second))
	fmt.Fprintf(w, "fan-out: %d subscribe messages at %.0f/s per app (burst %d), %d workers, redis %s\n", o.n, o.rate, o.burst,
		o.workers, redisName(o.redisURL))
	fmt.Fprintf(w, "  setup (users + consents):      %v\n", r.setup.Round(time.Millisecond))
	fmt.Fprintf(w, "  Notify × %d:                   %v (%.0f/s)\n", o.n, r.notified.Round(time.Millisecond),
		float64(o.n)/r.notified.Seconds())
	if o.killAt > 0 {
		fmt.Fprintf(w, "  worker stopped after:          %d messages; new worker running %v later\n", r.stoppedAt,
			r.downtime.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "  first Notify → last message:   %v (ideal %v, %+.1f%%)\n", r.elapsed.Round(time.Millisecond), ideal,
		100*(r.elapsed.Seconds()/ideal.Seconds()-1))
	fmt.Fprintf(w, "  first message after:           %v; longest pause between two: %v\n", r.firstAfter.Round(time.Millisecond),
		r.maxGap.Round(time.Millisecond))
	fmt.Fprintf(w, "  received %d messages, %d recipients, %d twice, %d lost\n", r.received, r.distinct, r.twice, o.n-r.distinct)
	fmt.Fprintf(w, "  push counts: targets %d sent %d failed %d no_consent %d pending %d\n", r.counts.Targets, r.counts.Sent,
		r.counts.Failed, r.counts.NoConsent, r.counts.Pending)
	var errs []error
	if r.twice > 0 || r.received != o.n || r.distinct != o.n {
		errs = append(errs, fmt.Errorf("%d recipients got a message twice, %d got none", r.twice, o.n-r.distinct))
	}
	if r.counts.Sent != o.n {
		errs = append(errs, fmt.Errorf("the push counts %d sent, want %d", r.counts.Sent, o.n))
	}
	lo, hi := ideal-time.Duration(o.tolerance*float64(ideal)), ideal+time.Duration(o.tolerance*float64(ideal))
	if r.elapsed < lo || r.elapsed > hi {
		errs = append(errs, fmt.Errorf("the push took %v, want %v–%v", r.elapsed.Round(time.Millisecond), lo, hi))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(w, "  FAIL")
		return err
	}
	fmt.Fprintln(w, "  PASS")
	return nil
}
