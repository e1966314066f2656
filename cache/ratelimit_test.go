package cache_test

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"wanjia/cache"
	"wanjia/internal/testutil"
)

func newClock() *testutil.Clock { return testutil.NewClock(time.Unix(1_800_000_000, 0)) }

func allowN(l *cache.SyncedLimiter, key string, n int) (allowed int) {
	for range n {
		if ok, _ := l.Allow(key); ok {
			allowed++
		}
	}
	return allowed
}

func TestSyncedLimiterAlone(t *testing.T) {
	clk := newClock()
	l := cache.NewSyncedLimiter(nil, cache.SyncedLimiterOptions{Limit: 5, Window: time.Second, Now: clk.Now})
	if got := allowN(l, "api:1.2.3.4", 8); got != 5 {
		t.Fatalf("8 events with a limit of 5 = %d allowed", got)
	}
	clk.Add(300 * time.Millisecond)
	ok, retry := l.Allow("api:1.2.3.4")
	if ok || retry != 700*time.Millisecond {
		t.Errorf("over the limit: ok=%v retry=%v, want refused until the window ends in 700ms", ok, retry)
	}
	if got := allowN(l, "api:5.6.7.8", 5); got != 5 {
		t.Errorf("another key = %d allowed, want its own 5", got)
	}
	clk.Add(700 * time.Millisecond)
	if got := allowN(l, "api:1.2.3.4", 8); got != 5 {
		t.Errorf("next window = %d allowed, want 5 again", got)
	}
}

func TestSyncedLimiterConcurrent(t *testing.T) {
	clk := newClock()
	l := cache.NewSyncedLimiter(nil, cache.SyncedLimiterOptions{Limit: 100, Window: time.Second, Now: clk.Now})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			allowed.Add(int64(allowN(l, "k", 10)))
		}()
	}
	wg.Wait()
	if allowed.Load() != 100 {
		t.Fatalf("500 concurrent events, limit 100: %d allowed", allowed.Load())
	}
}

// Two copies share their counts through Redis at each flush.
func TestSyncedLimiterSharesAcrossCopies(t *testing.T) {
	m := miniredis.RunT(t)
	clk := newClock()
	opts := cache.SyncedLimiterOptions{Prefix: "rl:", Limit: 8, Window: time.Second, Interval: time.Hour, Now: clk.Now}
	a := cache.NewSyncedLimiter(redis.NewClient(&redis.Options{Addr: m.Addr()}), opts)
	b := cache.NewSyncedLimiter(redis.NewClient(&redis.Options{Addr: m.Addr()}), opts)
	if got := allowN(a, "ip", 5); got != 5 {
		t.Fatalf("copy A: %d of 5 allowed", got)
	}
	if n := a.Flush(); n != 1 {
		t.Fatalf("A flushed %d keys, want 1", n)
	}
	if got := allowN(b, "ip", 1); got != 1 {
		t.Fatal("copy B refused its first event")
	}
	b.Flush() // B learns A's 5: the cluster is at 6 of 8
	if got := allowN(b, "ip", 5); got != 2 {
		t.Errorf("copy B after learning the total: %d allowed, want 2", got)
	}
	b.Flush()
	win := strconv.FormatInt(clk.Now().Unix(), 10)
	if v, _ := m.Get("rl:ip:" + win); v != "8" {
		t.Errorf("Redis holds %q for the window, want 8", v)
	}
	if ttl := m.TTL("rl:ip:" + win); ttl <= 0 || ttl > 2*time.Second {
		t.Errorf("window key TTL = %v, want ≤ 2 windows", ttl)
	}
	// A learns the total with its next flush and refuses from then on.
	allowN(a, "ip", 1)
	a.Flush()
	if got := allowN(a, "ip", 3); got != 0 {
		t.Errorf("copy A after the cluster reached the limit: %d allowed", got)
	}
}

func TestSyncedLimiterRedisDown(t *testing.T) {
	m := miniredis.RunT(t)
	clk := newClock()
	var errs atomic.Int64
	l := cache.NewSyncedLimiter(redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1}), cache.SyncedLimiterOptions{
		Limit: 4, Window: time.Second, Interval: time.Hour, Now: clk.Now,
		OnError: func(err error) {
			if err == nil || errors.Is(err, redis.Nil) {
				t.Errorf("OnError(%v)", err)
			}
			errs.Add(1)
		},
	})
	m.Close()
	allowN(l, "ip", 2)
	l.Flush()
	if errs.Load() == 0 {
		t.Error("a failed flush was not reported")
	}
	if got := allowN(l, "ip", 5); got != 2 {
		t.Errorf("with Redis down: %d more allowed, want 2 (the limit still holds per copy)", got)
	}
}

// The background flush runs while there are counts and stops when idle.
func TestSyncedLimiterFlushesInBackground(t *testing.T) {
	m := miniredis.RunT(t)
	l := cache.NewSyncedLimiter(redis.NewClient(&redis.Options{Addr: m.Addr()}),
		cache.SyncedLimiterOptions{Prefix: "rl:", Limit: 100, Window: time.Hour, Interval: 5 * time.Millisecond})
	allowN(l, "ip", 3)
	key := "rl:ip:" + strconv.FormatInt(time.Now().UnixNano()/int64(time.Hour), 10)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if v, _ := m.Get(key); v == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the counts never reached Redis (%v)", m.Keys())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A spray of distinct keys costs bounded memory and keeps limiting.
func TestSyncedLimiterBoundedKeys(t *testing.T) {
	clk := newClock()
	l := cache.NewSyncedLimiter(nil, cache.SyncedLimiterOptions{Limit: 1, Window: time.Second, Now: clk.Now})
	for i := range 300_000 {
		l.Allow(strconv.Itoa(i))
	}
	if n := l.Keys(); n > 128<<10 {
		t.Errorf("%d keys remembered, want ≤ %d", n, 128<<10)
	}
	l.Allow("hot")
	if ok, _ := l.Allow("hot"); ok {
		t.Error("a key over its limit was allowed after the spray")
	}
}
