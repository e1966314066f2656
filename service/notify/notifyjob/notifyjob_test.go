package notifyjob_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"wanjia/job"
	"wanjia/service/notify"
	"wanjia/service/notify/notifyjob"
)

// fakeDeliverer fails each delivery as told and records the calls.
type fakeDeliverer struct {
	mu     sync.Mutex
	calls  map[int64][]bool // final flags per call
	sweeps int
	fail   map[int64]error
}

func (f *fakeDeliverer) Deliver(_ context.Context, id int64, final bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[id] = append(f.calls[id], final)
	return f.fail[id]
}

func (f *fakeDeliverer) Sweep(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweeps++
	return nil
}

func (f *fakeDeliverer) snapshot() (map[int64][]bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int64][]bool{}
	for k, v := range f.calls {
		out[k] = append([]bool(nil), v...)
	}
	return out, f.sweeps
}

func TestRegister(t *testing.T) {
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	r, err := job.New(rdb, job.Options{PollInterval: 20 * time.Millisecond, ShutdownTimeout: time.Second,
		RetryDelay: func(int, error) time.Duration { return 10 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDeliverer{calls: map[int64][]bool{}, fail: map[int64]error{
		2: errors.New("45009"),
		3: fmt.Errorf("deliver: %w", notify.ErrPermanent),
	}}
	notifyjob.Register(r, d, notifyjob.Options{SweepEvery: time.Second, MaxRetry: 2})
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Shutdown)
	q := notifyjob.NewQueue(r)
	ctx := context.Background()
	for _, id := range []int64{1, 2, 3} {
		if err := q.Enqueue(ctx, notify.TaskID(id), id, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	// The same task id again is a no-op.
	if err := q.Enqueue(ctx, notify.TaskID(1), 1, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, "notify:4:later", 4, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls, sweeps := d.snapshot()
		if len(calls[1]) == 1 && len(calls[2]) == 3 && len(calls[3]) == 1 && sweeps > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls = %v, sweeps = %d", calls, sweeps)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	calls, _ := d.snapshot()
	want := map[int64][]bool{1: {false}, 2: {false, false, true}, 3: {false}}
	for id, w := range want {
		if fmt.Sprint(calls[id]) != fmt.Sprint(w) {
			t.Errorf("Deliver(%d) calls (final flags) = %v, want %v", id, calls[id], w)
		}
	}
	if len(calls[4]) != 0 {
		t.Errorf("Deliver(4) ran before its time")
	}
	dead, err := r.Dead(ctx, 10)
	if err != nil || len(dead) != 2 {
		t.Errorf("Dead() = %+v, %v, want delivery 2 (retries spent) and 3 (permanent)", dead, err)
	}
}
