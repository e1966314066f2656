package notifyredis_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"wanjia/service/notify"
	"wanjia/service/notify/notifyredis"
)

func mustRedis(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	m := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestLimiterSharedCap: two limiters on one Redis (two copies of the
// service) share one app's cap; another app has its own.
func TestLimiterSharedCap(t *testing.T) {
	rdb := mustRedis(t)
	a, b := notifyredis.NewLimiter(rdb, 100, 1), notifyredis.NewLimiter(rdb, 100, 1)
	ctx := context.Background()
	const n = 21
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Wait(ctx, "wxapp"); err != nil {
				t.Errorf("Wait() = %v", err)
			}
		}()
	}
	wg.Wait()
	if took, want := time.Since(start), (n-1)*10*time.Millisecond; took < want-5*time.Millisecond || took > want+300*time.Millisecond {
		t.Errorf("%d waits at 100/s across two copies took %v, want about %v", n, took, want)
	}
	other := time.Now()
	if err := a.Wait(ctx, "wxother"); err != nil || time.Since(other) > 20*time.Millisecond {
		t.Errorf("Wait(another app) = %v after %v, want at once", err, time.Since(other))
	}
}

func TestLimiterBurstAndCancel(t *testing.T) {
	rdb := mustRedis(t)
	l := notifyredis.NewLimiter(rdb, 2, 3)
	ctx := context.Background()
	start := time.Now()
	for range 3 {
		if err := l.Wait(ctx, "wxapp"); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("a burst of 3 took %v, want at once", took)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := l.Wait(cctx, "wxapp"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait(past the burst, 50 ms deadline) = %v, want DeadlineExceeded", err)
	}
}

func TestTwins(t *testing.T) {
	tests := []struct {
		name    string
		reports []string
		counted []bool
	}{
		{"client then event", []string{"client", "event"}, []bool{true, false}},
		{"event then client", []string{"event", "client"}, []bool{true, false}},
		{"two clients then two events", []string{"client", "client", "event", "event"}, []bool{true, true, false, false}},
		{"events only", []string{"event", "event"}, []bool{true, true}},
		{"interleaved", []string{"client", "event", "event", "client"}, []bool{true, false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := notifyredis.NewTwins(mustRedis(t), time.Minute)
			for i, src := range tt.reports {
				got, err := tw.Match(context.Background(), "mp:oU:tpl", src)
				if err != nil || got != tt.counted[i] {
					t.Errorf("report %d (%s): Match() = %v, %v, want %v", i, src, got, err, tt.counted[i])
				}
			}
		})
	}
	tw := notifyredis.NewTwins(mustRedis(t), time.Minute)
	if _, err := tw.Match(context.Background(), "k", "other"); err == nil {
		t.Errorf("Match(unknown source) = nil error")
	}
	// Keys are separate: another template counts on its own.
	if got, _ := tw.Match(context.Background(), "mp:oU:a", notify.SourceClient); !got {
		t.Errorf("Match(a) = false")
	}
	if got, _ := tw.Match(context.Background(), "mp:oU:b", notify.SourceEvent); !got {
		t.Errorf("Match(b) = false, want true (another template)")
	}
}

// TestTwinWindow: a twin arriving after the window counts again.
func TestTwinWindow(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	tw := notifyredis.NewTwins(rdb, time.Minute)
	ctx := context.Background()
	if got, _ := tw.Match(ctx, "k", notify.SourceClient); !got {
		t.Fatal("first report not counted")
	}
	m.FastForward(2 * time.Minute)
	if got, _ := tw.Match(ctx, "k", notify.SourceEvent); !got {
		t.Errorf("Match(event after the window) = false, want true")
	}
}
