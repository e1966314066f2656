package job_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"wanjia/internal/testutil"
	"wanjia/job"
)

// mustRedis returns a Redis client for one test. With WANJIA_TEST_REDIS_URL
// set (e.g. redis://127.0.0.1:6379/15) it is that Redis, whose DB is flushed
// before and after the test, and the test runs alone (asynq keys have no
// prefix). Otherwise it is a fresh miniredis, set up like the embedded one
// (TTLs follow the clock), and the test runs in parallel.
func mustRedis(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	if url := os.Getenv("WANJIA_TEST_REDIS_URL"); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			tb.Fatalf("redis.ParseURL(%q) = %v", url, err)
		}
		rdb := redis.NewClient(opt)
		flush := func() {
			if err := rdb.FlushDB(context.Background()).Err(); err != nil {
				tb.Errorf("FLUSHDB = %v", err)
			}
		}
		flush()
		tb.Cleanup(func() {
			flush()
			if err := rdb.Close(); err != nil {
				tb.Errorf("Close() = %v", err)
			}
		})
		return rdb
	}
	if t, ok := tb.(*testing.T); ok {
		t.Parallel()
	}
	s := miniredis.NewMiniRedis()
	s.ClockTTL(true)
	if err := s.Start(); err != nil {
		tb.Fatalf("miniredis.Start() = %v", err)
	}
	tb.Cleanup(s.Close)
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
	tb.Cleanup(func() { _ = rdb.Close() }) // closing a client of a closed server may fail; nothing to check
	return rdb
}

// testRunner is a Runner with what the tests look at.
type testRunner struct {
	*job.Runner
	reg *prometheus.Registry
	log *testutil.SyncBuffer
}

// mustRunner returns a Runner over rdb with fast polling and a short
// shutdown timeout, unless opts says otherwise; it is shut down at cleanup.
// Handlers and schedules are registered by setup before Start.
func mustRunner(tb testing.TB, rdb redis.UniversalClient, opts job.Options, setup func(r *job.Runner)) *testRunner {
	tb.Helper()
	tr := &testRunner{reg: prometheus.NewRegistry(), log: &testutil.SyncBuffer{}}
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = time.Second
	}
	if opts.RetryDelay == nil {
		opts.RetryDelay = func(int, error) time.Duration { return 10 * time.Millisecond }
	}
	opts.Registerer = tr.reg
	opts.Logger = slog.New(slog.NewTextHandler(tr.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := job.New(rdb, opts)
	if err != nil {
		tb.Fatalf("job.New() = %v", err)
	}
	tr.Runner = r
	if setup != nil {
		setup(r)
	}
	if err := r.Start(context.Background()); err != nil {
		tb.Fatalf("Start() = %v", err)
	}
	tb.Cleanup(r.Shutdown)
	return tr
}

// counter returns the value of the counter or gauge name with labels.
func (tr *testRunner) counter(tb testing.TB, name string, labels ...string) float64 {
	tb.Helper()
	return metricValue(tb, tr.reg, name, labels...)
}

func metricValue(tb testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatalf("Gather() = %v", err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			return value(m)
		}
	}
	return 0
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder records handler runs.
type recorder struct {
	mu   sync.Mutex
	runs []run
}

type run struct {
	id      string
	payload string
	at      time.Time
}

func (rc *recorder) add(ctx context.Context, payload []byte) {
	m, _ := job.CurrentTask(ctx)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.runs = append(rc.runs, run{id: m.ID, payload: string(payload), at: time.Now()})
}

func (rc *recorder) snapshot() []run {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]run(nil), rc.runs...)
}

func (rc *recorder) count() int { return len(rc.snapshot()) }

// logLines returns the lines of b containing all of subs.
func logLines(b *testutil.SyncBuffer, subs ...string) []string {
	var out []string
	for line := range strings.Lines(b.String()) {
		match := true
		for _, s := range subs {
			match = match && strings.Contains(line, s)
		}
		if match {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}
