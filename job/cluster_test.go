package job_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/job"
)

// Two copies share one Redis and both tick every second; b's clock lags by
// 300ms, so its enqueue of each tick comes after a's task has completed.
// Every tick must run exactly once.
func TestEveryRunsOncePerClusterTick(t *testing.T) {
	rdb := mustRedis(t)
	var rc recorder
	setup := func(r *job.Runner) {
		r.Handle("stats", func(ctx context.Context, p []byte) error {
			rc.add(ctx, p)
			return nil
		})
		r.Every("stats-sync", time.Second, "stats", []byte("p"))
	}
	a := mustRunner(t, rdb, job.Options{Instance: "a"}, setup)
	lag := func() time.Time { return time.Now().Add(-300 * time.Millisecond) }
	b := mustRunner(t, rdb, job.Options{Instance: "b", Now: lag}, setup)

	distinct := func() map[string]int {
		n := map[string]int{}
		for _, r := range rc.snapshot() {
			n[r.id]++
		}
		return n
	}
	waitFor(t, 5*time.Second, "two ticks", func() bool { return len(distinct()) >= 2 })
	time.Sleep(500 * time.Millisecond) // b's enqueue of the last tick
	a.Shutdown()
	b.Shutdown()

	for id, n := range distinct() {
		if n != 1 {
			t.Errorf("tick %s ran %d times, want 1", id, n)
		}
		unix, ok := strings.CutPrefix(id, "stats-sync:")
		var sec int64
		if _, err := fmt.Sscan(unix, &sec); !ok || err != nil {
			t.Errorf("tick id %q, want stats-sync:<unix seconds>", id)
		}
	}
	for _, r := range rc.snapshot() {
		if r.payload != "p" {
			t.Errorf("tick payload = %q, want %q", r.payload, "p")
		}
	}
	ticks := func(result string) float64 {
		return a.counter(t, "wanjia_job_schedule_ticks_total", "schedule", "stats-sync", "result", result) +
			b.counter(t, "wanjia_job_schedule_ticks_total", "schedule", "stats-sync", "result", result)
	}
	if got := ticks("duplicate"); got < 1 {
		t.Errorf("duplicate ticks = %v, want ≥ 1 (both copies tick)", got)
	}
	if got, want := ticks("enqueued"), float64(len(distinct())); got != want {
		t.Errorf("enqueued ticks = %v, want %v (one per tick run)", got, want)
	}
}

// DailyAt with a clock shifted so that 08:30 in Shanghai comes in a second:
// both copies fire and the task runs once, with the id of that instant.
func TestDailyAtRunsOncePerCluster(t *testing.T) {
	rdb := mustRedis(t)
	shanghai := time.FixedZone("CST", 8*60*60)
	now := time.Now().In(shanghai)
	target := time.Date(now.Year(), now.Month(), now.Day()+1, 8, 30, 0, 0, shanghai)
	offset := target.Sub(now) - time.Second
	clock := func() time.Time { return time.Now().Add(offset) }

	var rc recorder
	setup := func(r *job.Runner) {
		r.Handle("remind", func(ctx context.Context, p []byte) error {
			rc.add(ctx, p)
			return nil
		}, job.Queue("critical"))
		r.DailyAt("fair-reminders", "08:30", nil, "remind", nil)
	}
	a := mustRunner(t, rdb, job.Options{Now: clock}, setup)
	b := mustRunner(t, rdb, job.Options{Now: clock}, setup)

	waitFor(t, 5*time.Second, "the daily run", func() bool { return rc.count() > 0 })
	time.Sleep(settle)
	var got []string
	for _, r := range rc.snapshot() {
		got = append(got, r.id)
	}
	want := []string{fmt.Sprintf("fair-reminders:%d", target.Unix())}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("daily runs (-want +got):\n%s", diff)
	}
	for _, result := range []string{"enqueued", "duplicate"} {
		n := a.counter(t, "wanjia_job_schedule_ticks_total", "schedule", "fair-reminders", "result", result) +
			b.counter(t, "wanjia_job_schedule_ticks_total", "schedule", "fair-reminders", "result", result)
		if n != 1 {
			t.Errorf("ticks{%s} = %v, want 1", result, n)
		}
	}
}

func TestShutdownWaitsForRunningHandler(t *testing.T) {
	rdb := mustRedis(t)
	started := make(chan struct{})
	var finished atomic.Bool
	r := mustRunner(t, rdb, job.Options{ShutdownTimeout: 3 * time.Second}, func(r *job.Runner) {
		r.Handle("long", func(ctx context.Context, _ []byte) error {
			close(started)
			select {
			case <-time.After(300 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
			finished.Store(true)
			return nil
		})
	})
	if _, err := r.Enqueue(context.Background(), "long", nil); err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatalf("handler did not start")
	}
	begin := time.Now()
	r.Shutdown()
	if elapsed := time.Since(begin); elapsed > 2*time.Second {
		t.Errorf("Shutdown() took %v, want about the handler's 300ms", elapsed)
	}
	if !finished.Load() {
		t.Errorf("Shutdown() returned before the handler finished")
	}
	if got := r.counter(t, "wanjia_jobs_processed_total", "type", "long", "result", "ok"); got != 1 {
		t.Errorf("processed{long,ok} = %v, want 1", got)
	}
	s, err := r.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	if got, want := s["default"], (job.QueueCounts{}); got != want {
		t.Errorf("Stats()[default] = %+v, want %+v (nothing re-queued)", got, want)
	}
}

func TestShutdownRequeuesStuckHandler(t *testing.T) {
	rdb := mustRedis(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	started := make(chan struct{}, 1)
	a := mustRunner(t, rdb, job.Options{ShutdownTimeout: 200 * time.Millisecond}, func(r *job.Runner) {
		r.Handle("stuck", func(context.Context, []byte) error {
			started <- struct{}{}
			<-release // ignores ctx
			return nil
		})
	})
	id, err := a.Enqueue(context.Background(), "stuck", []byte("keep me"))
	if err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatalf("handler did not start")
	}
	begin := time.Now()
	a.Shutdown()
	if elapsed := time.Since(begin); elapsed < 200*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("Shutdown() took %v, want about the 200ms timeout", elapsed)
	}
	s, err := a.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	if got, want := s["default"], (job.QueueCounts{Pending: 1}); got != want {
		t.Errorf("Stats()[default] after Shutdown = %+v, want %+v", got, want)
	}

	var rc recorder
	mustRunner(t, rdb, job.Options{}, func(r *job.Runner) {
		r.Handle("stuck", func(ctx context.Context, p []byte) error {
			rc.add(ctx, p)
			return nil
		})
	})
	waitFor(t, 5*time.Second, "the re-queued task to run on the new runner", func() bool { return rc.count() > 0 })
	got := rc.snapshot()[0]
	if got.id != id || got.payload != "keep me" {
		t.Errorf("re-run = %q %q, want %q %q", got.id, got.payload, id, "keep me")
	}
}
