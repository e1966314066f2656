package job_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hibiken/asynq"

	"wanjia/job"
	"wanjia/model"
)

// settle is how long a test waits to be sure that something does not happen
// (a second run): many poll intervals of the test runners.
const settle = 300 * time.Millisecond

func TestEnqueueRunsOnceWithPayloadIntact(t *testing.T) {
	rdb := mustRedis(t)
	var rc recorder
	payload := string([]byte{0, 1, 2, 0xff, 0xfe}) + `{"case_id":42,"名字":"测试"}`
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("push", func(ctx context.Context, p []byte) error {
			rc.add(ctx, p)
			return nil
		})
	})

	id, err := r.Enqueue(context.Background(), "push", []byte(payload))
	if err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	waitFor(t, 5*time.Second, "the task to run", func() bool { return rc.count() > 0 })
	time.Sleep(settle)

	got := rc.snapshot()
	want := []run{{id: id, payload: payload}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(run{}), cmpopts.IgnoreFields(run{}, "at")); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
	if got := r.counter(t, "wanjia_jobs_processed_total", "type", "push", "result", "ok"); got != 1 {
		t.Errorf("processed{push,ok} = %v, want 1", got)
	}
	if got := r.counter(t, "wanjia_job_duration_seconds", "type", "push"); got != 1 {
		t.Errorf("duration{push} samples = %v, want 1", got)
	}
	stats, err := r.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	if got, want := stats["default"], (job.QueueCounts{}); got != want {
		t.Errorf("Stats()[default] = %+v, want %+v", got, want)
	}
}

func TestRetryWithConfiguredDelayThenSuccess(t *testing.T) {
	rdb := mustRedis(t)
	const delay = 10 * time.Millisecond
	var (
		rc     recorder
		mu     sync.Mutex
		delays []string // "n:err" of each RetryDelay call
	)
	opts := job.Options{RetryDelay: func(n int, err error) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		delays = append(delays, fmt.Sprintf("%d:%v", n, err))
		return delay
	}}
	r := mustRunner(t, rdb, opts, func(r *job.Runner) {
		r.Handle("sync", func(ctx context.Context, p []byte) error {
			rc.add(ctx, p)
			if rc.count() < 3 {
				return errors.New("wechat busy")
			}
			return nil
		})
	})

	if _, err := r.Enqueue(context.Background(), "sync", nil); err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	waitFor(t, 5*time.Second, "three runs", func() bool { return rc.count() >= 3 })
	time.Sleep(settle)

	if got := rc.count(); got != 3 {
		t.Fatalf("runs = %d, want 3", got)
	}
	mu.Lock()
	gotDelays := delays
	mu.Unlock()
	if diff := cmp.Diff([]string{"0:wechat busy", "1:wechat busy"}, gotDelays); diff != "" {
		t.Errorf("RetryDelay calls (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		result string
		want   float64
	}{{"ok", 1}, {"error", 2}, {"dead", 0}} {
		if got := r.counter(t, "wanjia_jobs_processed_total", "type", "sync", "result", c.result); got != c.want {
			t.Errorf("processed{sync,%s} = %v, want %v", c.result, got, c.want)
		}
	}
	if got := len(logLines(r.log, "job failed", "type=sync")); got != 2 {
		t.Errorf("'job failed' log lines = %d, want 2\n%s", got, r.log)
	}
}

// The configured delay decides when the retry is due: with an hour, the task
// waits in the retry set an hour from now and does not run again meanwhile.
func TestRetryDelayHonoured(t *testing.T) {
	rdb := mustRedis(t)
	var calls atomic.Int32
	r := mustRunner(t, rdb, job.Options{RetryDelay: func(int, error) time.Duration { return time.Hour }}, func(r *job.Runner) {
		r.Handle("sync", func(context.Context, []byte) error {
			calls.Add(1)
			return errors.New("wechat busy")
		})
	})
	ctx := context.Background()
	id, err := r.Enqueue(ctx, "sync", nil)
	if err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	waitFor(t, 5*time.Second, "the task to wait for its retry", func() bool {
		s, err := r.Stats(ctx)
		return err == nil && s["default"].Retry == 1
	})
	failedAt := time.Now()
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo("default", id)
	if err != nil {
		t.Fatalf("GetTaskInfo() = %v", err)
	}
	if due := info.NextProcessAt.Sub(failedAt); due < 59*time.Minute || due > 61*time.Minute {
		t.Errorf("retry due in %v, want about an hour", due)
	}
	time.Sleep(settle)
	if got := calls.Load(); got != 1 {
		t.Errorf("runs = %d, want 1", got)
	}
}

func TestDeadTaskListedAndRetried(t *testing.T) {
	rdb := mustRedis(t)
	var (
		rc   recorder
		heal atomic.Bool
	)
	const secret = "13800000000" // stands for personal data in a payload
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("notify", func(ctx context.Context, p []byte) error {
			rc.add(ctx, p)
			if heal.Load() {
				return nil
			}
			return errors.New("upstream 500")
		}, job.MaxRetry(1), job.Queue("low"))
	})
	ctx := context.Background()

	id, err := r.Enqueue(ctx, "notify", []byte(secret))
	if err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	var dead []job.DeadTask
	waitFor(t, 5*time.Second, "the task to be dead", func() bool {
		dead, err = r.Dead(ctx, 10)
		return err == nil && len(dead) == 1
	})
	want := []job.DeadTask{{ID: id, Queue: "low", Type: "notify", LastErr: "upstream 500", Retried: 1, MaxRetry: 1}}
	if diff := cmp.Diff(want, dead, cmpopts.IgnoreFields(job.DeadTask{}, "FailedAt")); diff != "" {
		t.Errorf("Dead() (-want +got):\n%s", diff)
	}
	if dead[0].FailedAt.IsZero() {
		t.Errorf("Dead()[0].FailedAt is zero")
	}
	if got := rc.count(); got != 2 {
		t.Errorf("runs before dead = %d, want 2 (1 + 1 retry)", got)
	}
	if got := r.counter(t, "wanjia_jobs_processed_total", "type", "notify", "result", "dead"); got != 1 {
		t.Errorf("processed{notify,dead} = %v, want 1", got)
	}
	deadLines := logLines(r.log, "job dead", "type=notify", "id="+id)
	if len(deadLines) != 1 {
		t.Errorf("'job dead' log lines = %q, want one", deadLines)
	}
	if strings.Contains(r.log.String(), secret) {
		t.Errorf("log contains the payload:\n%s", r.log)
	}
	stats, err := r.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	if got, want := stats["low"].Dead, 1; got != want {
		t.Errorf("Stats()[low].Dead = %d, want %d", got, want)
	}
	if got := r.counter(t, "wanjia_job_queue_size", "queue", "low", "state", "dead"); got != 1 {
		t.Errorf("queue_size{low,dead} = %v, want 1", got)
	}

	heal.Store(true)
	if err := r.Retry(ctx, "low", id); err != nil {
		t.Fatalf("Retry(low, %s) = %v", id, err)
	}
	waitFor(t, 5*time.Second, "the retried task to run", func() bool { return rc.count() == 3 })
	waitFor(t, 5*time.Second, "the dead list to empty", func() bool {
		dead, err = r.Dead(ctx, 10)
		return err == nil && len(dead) == 0
	})
	if got := r.counter(t, "wanjia_jobs_processed_total", "type", "notify", "result", "ok"); got != 1 {
		t.Errorf("processed{notify,ok} = %v, want 1", got)
	}
}

func TestRetryErrors(t *testing.T) {
	rdb := mustRedis(t)
	release := make(chan struct{})
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("slow", func(ctx context.Context, _ []byte) error {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		})
	})
	t.Cleanup(func() { close(release) }) // before the runner's Shutdown
	ctx := context.Background()
	id, err := r.Enqueue(ctx, "slow", nil)
	if err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	tests := []struct {
		queue, id string
		want      error
	}{
		{"default", id, model.ErrConflict}, // pending or running, not dead
		{"default", "no-such-task", model.ErrNotFound},
		{"no-such-queue", id, model.ErrNotFound},
		{"", id, model.ErrNotFound},
		{"default", "", model.ErrNotFound},
	}
	for _, tt := range tests {
		if err := r.Retry(ctx, tt.queue, tt.id); !errors.Is(err, tt.want) {
			t.Errorf("Retry(%q, %q) = %v, want %v", tt.queue, tt.id, err, tt.want)
		}
	}
}

func TestSkipRetryGoesDeadAtOnce(t *testing.T) {
	rdb := mustRedis(t)
	var rc recorder
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("subscribe-msg", func(ctx context.Context, p []byte) error {
			rc.add(ctx, p)
			return job.SkipRetry(errors.New("wechat 43101: user refused"))
		}, job.MaxRetry(5))
	})
	ctx := context.Background()
	if _, err := r.Enqueue(ctx, "subscribe-msg", nil); err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	var dead []job.DeadTask
	waitFor(t, 5*time.Second, "the task to be dead", func() bool {
		var err error
		dead, err = r.Dead(ctx, 0)
		return err == nil && len(dead) == 1
	})
	time.Sleep(settle)
	if got := rc.count(); got != 1 {
		t.Errorf("runs = %d, want 1", got)
	}
	if got, want := dead[0].Retried, 0; got != want {
		t.Errorf("Dead()[0].Retried = %d, want %d", got, want)
	}
	if !strings.Contains(dead[0].LastErr, "43101") {
		t.Errorf("Dead()[0].LastErr = %q, want it to contain 43101", dead[0].LastErr)
	}
}

func TestSkipRetryHelper(t *testing.T) {
	t.Parallel()
	base := errors.New("wechat 43101")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"plain", base, false},
		{"marked", job.SkipRetry(base), true},
		{"marked then wrapped", fmt.Errorf("send: %w", job.SkipRetry(base)), true},
	}
	for _, tt := range tests {
		if got := job.IsSkipRetry(tt.err); got != tt.want {
			t.Errorf("%s: IsSkipRetry(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
	if got := job.SkipRetry(nil); got != nil {
		t.Errorf("SkipRetry(nil) = %v, want nil", got)
	}
	if got := job.SkipRetry(base); !errors.Is(got, base) {
		t.Errorf("SkipRetry(%v) = %v, does not wrap its argument", base, got)
	}
}

func TestPanicRecoveredAndCounted(t *testing.T) {
	rdb := mustRedis(t)
	var calls atomic.Int32
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("buggy", func(context.Context, []byte) error {
			calls.Add(1)
			var m map[string]int
			m["boom"]++ // a nil-map panic
			return nil
		}, job.MaxRetry(1))
	})
	ctx := context.Background()
	id, err := r.Enqueue(ctx, "buggy", nil)
	if err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	waitFor(t, 5*time.Second, "the task to be dead", func() bool {
		dead, err := r.Dead(ctx, 0)
		return err == nil && len(dead) == 1 && dead[0].ID == id
	})
	if got := calls.Load(); got != 2 {
		t.Errorf("runs = %d, want 2", got)
	}
	for _, c := range []struct {
		result string
		want   float64
	}{{"panic", 2}, {"dead", 1}, {"error", 0}, {"ok", 0}} {
		if got := r.counter(t, "wanjia_jobs_processed_total", "type", "buggy", "result", c.result); got != c.want {
			t.Errorf("processed{buggy,%s} = %v, want %v", c.result, got, c.want)
		}
	}
}

func TestIDIsIdempotent(t *testing.T) {
	rdb := mustRedis(t)
	var rc recorder
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("followup", func(ctx context.Context, p []byte) error {
			rc.add(ctx, p)
			return nil
		})
	})
	ctx := context.Background()
	const id = "followup:msg-123"
	for i, when := range []string{"first", "while pending or running"} {
		got, err := r.Enqueue(ctx, "followup", []byte(when), job.ID(id))
		if err != nil || got != id {
			t.Fatalf("Enqueue #%d (%s) = %q, %v, want %q, nil", i+1, when, got, err, id)
		}
	}
	waitFor(t, 5*time.Second, "the task to run", func() bool { return rc.count() > 0 })
	waitFor(t, 5*time.Second, "the task to complete", func() bool {
		s, err := r.Stats(ctx)
		return err == nil && s["default"].Completed == 1
	})
	got, err := r.Enqueue(ctx, "followup", []byte("after completion"), job.ID(id))
	if err != nil || got != id {
		t.Fatalf("Enqueue after completion = %q, %v, want %q, nil", got, err, id)
	}
	time.Sleep(settle)
	want := []run{{id: id, payload: "first"}}
	if diff := cmp.Diff(want, rc.snapshot(), cmp.AllowUnexported(run{}), cmpopts.IgnoreFields(run{}, "at")); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
}

func TestUniqueRejectsTwin(t *testing.T) {
	rdb := mustRedis(t)
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("stats-sync", func(context.Context, []byte) error { return nil })
	})
	ctx := context.Background()
	later := job.ProcessIn(time.Hour) // keeps the first one waiting
	if _, err := r.Enqueue(ctx, "stats-sync", []byte("2026-05-01"), job.Unique(time.Minute), later); err != nil {
		t.Fatalf("first Enqueue() = %v", err)
	}
	_, err := r.Enqueue(ctx, "stats-sync", []byte("2026-05-01"), job.Unique(time.Minute), later)
	if !errors.Is(err, job.ErrDuplicate) || !errors.Is(err, model.ErrConflict) {
		t.Errorf("twin Enqueue() = %v, want ErrDuplicate (conflict)", err)
	}
	if _, err := r.Enqueue(ctx, "stats-sync", []byte("2026-05-02"), job.Unique(time.Minute), later); err != nil {
		t.Errorf("Enqueue() of another payload = %v, want nil", err)
	}
	s, err := r.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	if got, want := s["default"].Scheduled, 2; got != want {
		t.Errorf("Stats()[default].Scheduled = %d, want %d", got, want)
	}
}

// The lock of Unique lapses after its ttl even while the first task runs.
func TestUniqueLockExpires(t *testing.T) {
	rdb := mustRedis(t)
	var runs atomic.Int32
	release := make(chan struct{})
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("export", func(ctx context.Context, _ []byte) error {
			runs.Add(1)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		})
	})
	t.Cleanup(func() { close(release) }) // before the runner's Shutdown
	ctx := context.Background()
	if _, err := r.Enqueue(ctx, "export", nil, job.Unique(time.Second)); err != nil {
		t.Fatalf("first Enqueue() = %v", err)
	}
	if _, err := r.Enqueue(ctx, "export", nil, job.Unique(time.Second)); !errors.Is(err, job.ErrDuplicate) {
		t.Fatalf("twin Enqueue() = %v, want ErrDuplicate", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := r.Enqueue(ctx, "export", nil, job.Unique(time.Second)); err != nil {
		t.Errorf("Enqueue() after the ttl = %v, want nil", err)
	}
	waitFor(t, 5*time.Second, "both tasks to run", func() bool { return runs.Load() == 2 })
}

func TestEnqueueMisuse(t *testing.T) {
	rdb := mustRedis(t)
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("known", func(context.Context, []byte) error { return nil })
	})
	ctx := context.Background()
	tests := []struct {
		name     string
		taskType string
		opts     []job.EnqueueOption
	}{
		{"unknown type", "unknown", nil},
		{"queue not served", "known", []job.EnqueueOption{job.Queue("nobody-serves-this")}},
		{"empty id", "known", []job.EnqueueOption{job.ID("")}},
	}
	for _, tt := range tests {
		if _, err := r.Enqueue(ctx, tt.taskType, nil, tt.opts...); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("%s: Enqueue(%q) = %v, want ErrInvalid", tt.name, tt.taskType, err)
		}
	}
}

func TestEnqueueFailureIsUnavailable(t *testing.T) {
	rdb := mustRedis(t)
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("known", func(context.Context, []byte) error { return nil })
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Enqueue(ctx, "known", nil); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("Enqueue(cancelled ctx) = %v, want ErrUnavailable", err)
	}
}

func TestHandlerOptionsAndOverrides(t *testing.T) {
	rdb := mustRedis(t)
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		fail := func(context.Context, []byte) error { return errors.New("no") }
		r.Handle("reminder", fail, job.Queue("critical"), job.MaxRetry(0))
		r.Handle("export", fail, job.Queue("reports"), job.MaxRetry(0)) // a queue not in Options.Queues
		r.Handle("sla", func(ctx context.Context, _ []byte) error {
			<-ctx.Done() // a handler stuck until its timeout
			return ctx.Err()
		}, job.Timeout(500*time.Millisecond), job.MaxRetry(0)) // rounded up to 1s
	})
	ctx := context.Background()
	ids := map[string]string{}
	for _, c := range []struct {
		taskType string
		opts     []job.EnqueueOption
	}{
		{"reminder", nil},
		{"export", nil},
		{"sla", nil},
		{"reminder", []job.EnqueueOption{job.Queue("low"), job.MaxRetry(1)}}, // overrides
	} {
		id, err := r.Enqueue(ctx, c.taskType, nil, c.opts...)
		if err != nil {
			t.Fatalf("Enqueue(%s) = %v", c.taskType, err)
		}
		ids[id] = c.taskType
	}
	var dead []job.DeadTask
	waitFor(t, 5*time.Second, "four dead tasks", func() bool {
		var err error
		dead, err = r.Dead(ctx, 0)
		return err == nil && len(dead) == 4
	})
	type key struct {
		Type, Queue       string
		Retried, MaxRetry int
	}
	var got []key
	for _, d := range dead {
		got = append(got, key{d.Type, d.Queue, d.Retried, d.MaxRetry})
		if d.Type == "sla" && !strings.Contains(d.LastErr, "deadline exceeded") {
			t.Errorf("sla LastErr = %q, want a deadline error", d.LastErr)
		}
	}
	want := []key{
		{"export", "reports", 0, 0},
		{"reminder", "critical", 0, 0},
		{"reminder", "low", 1, 1},
		{"sla", "default", 0, 0},
	}
	sortKeys := cmpopts.SortSlices(func(a, b key) bool { return fmt.Sprint(a) < fmt.Sprint(b) })
	if diff := cmp.Diff(want, got, sortKeys); diff != "" {
		t.Errorf("dead tasks (-want +got):\n%s", diff)
	}
}

func TestDeadLimitNewestFirst(t *testing.T) {
	rdb := mustRedis(t)
	// One worker runs the tasks in order, so they die in order. asynq keeps
	// failure times in whole seconds; ties are broken by id, and the ids are
	// chosen to sort in the same order.
	r := mustRunner(t, rdb, job.Options{Concurrency: 1}, func(r *job.Runner) {
		r.Handle("x", func(context.Context, []byte) error { return errors.New("x") }, job.MaxRetry(0))
	})
	ctx := context.Background()
	const n = 5
	var ids []string
	for i := range n {
		id, err := r.Enqueue(ctx, "x", nil, job.ID(fmt.Sprintf("x-%d", i)))
		if err != nil {
			t.Fatalf("Enqueue() = %v", err)
		}
		ids = append(ids, id)
	}
	waitFor(t, 5*time.Second, "all tasks dead", func() bool {
		s, err := r.Stats(ctx)
		return err == nil && s["default"].Dead == n
	})
	for _, limit := range []int{1, 2, 3, n, n + 1} {
		dead, err := r.Dead(ctx, limit)
		if err != nil {
			t.Fatalf("Dead(%d) = %v", limit, err)
		}
		var got []string
		for _, d := range dead {
			got = append(got, d.ID)
		}
		var want []string
		for i := n - 1; i >= max(n-limit, 0); i-- {
			want = append(want, ids[i])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Dead(%d) (-want +got):\n%s", limit, diff)
		}
	}
}

func TestRegistrationErrors(t *testing.T) {
	t.Parallel()
	noop := func(context.Context, []byte) error { return nil }
	tests := []struct {
		name  string
		setup func(r *job.Runner)
		want  string
	}{
		{"empty type", func(r *job.Runner) { r.Handle("", noop) }, "empty task type"},
		{"nil handler", func(r *job.Runner) { r.Handle("a", nil) }, "nil handler"},
		{"twice", func(r *job.Runner) { r.Handle("a", noop); r.Handle("a", noop) }, "registered twice"},
		{"short interval", func(r *job.Runner) { r.Handle("a", noop); r.Every("s", time.Millisecond, "a", nil) }, "shorter than a second"},
		{"bad clock", func(r *job.Runner) { r.Handle("a", noop); r.DailyAt("s", "24:00", nil, "a", nil) }, "out of range"},
		{"schedule without handler", func(r *job.Runner) { r.Every("s", time.Minute, "a", nil) }, "no handler"},
		{"schedule twice", func(r *job.Runner) {
			r.Handle("a", noop)
			r.Every("s", time.Minute, "a", nil)
			r.DailyAt("s", "08:30", nil, "a", nil)
		}, "registered twice"},
		{"schedule name with colon", func(r *job.Runner) { r.Handle("a", noop); r.Every("s:1", time.Minute, "a", nil) }, "without ':'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := job.New(mustRedis(t), job.Options{})
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			tt.setup(r)
			err = r.Start(context.Background())
			t.Cleanup(r.Shutdown)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestStartTwiceAndHandleAfterStart(t *testing.T) {
	r := mustRunner(t, mustRedis(t), job.Options{}, nil)
	if err := r.Start(context.Background()); err == nil {
		t.Errorf("second Start() = nil, want an error")
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Handle after Start did not panic")
		}
	}()
	r.Handle("late", func(context.Context, []byte) error { return nil })
}

func TestNewRejectsBadQueuesAndDoubleRegistration(t *testing.T) {
	rdb := mustRedis(t)
	if _, err := job.New(rdb, job.Options{Queues: map[string]int{"default": 0}}); err == nil {
		t.Errorf("New(weight 0) = nil error, want one")
	}
	r := mustRunner(t, rdb, job.Options{}, nil)
	if _, err := job.New(rdb, job.Options{Registerer: r.reg}); err == nil {
		t.Errorf("New(same registerer twice) = nil error, want one")
	}
}

func TestAsynqLogsQuiet(t *testing.T) {
	rdb := mustRedis(t)
	r := mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("a", func(context.Context, []byte) error { return nil })
	})
	if _, err := r.Enqueue(context.Background(), "a", nil); err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	waitFor(t, 5*time.Second, "the task to run", func() bool {
		return r.counter(t, "wanjia_jobs_processed_total", "type", "a", "result", "ok") == 1
	})
	r.Shutdown()
	// asynq logs "Starting processing" and "Starting graceful shutdown" at info.
	if lines := logLines(r.log, "component=asynq"); len(lines) != 0 {
		t.Errorf("asynq log lines = %q, want none below warn", lines)
	}
}
