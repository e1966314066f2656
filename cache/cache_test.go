package cache_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"wanjia/cache"
)

// mustRedis returns a client on a fresh miniredis, or on the real Redis of
// WANJIA_TEST_REDIS_URL (flushed first) when set.
func mustRedis(tb testing.TB) (cache.Client, *miniredis.Miniredis) {
	tb.Helper()
	if u := os.Getenv("WANJIA_TEST_REDIS_URL"); u != "" {
		c, cleanup, err := cache.Open(context.Background(), u, nil)
		if err != nil {
			tb.Fatalf("cache.Open(%q) = %v", u, err)
		}
		tb.Cleanup(cleanup)
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			tb.Fatal(err)
		}
		return c, nil
	}
	m := miniredis.RunT(tb)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tb.Cleanup(func() { c.Close() })
	return c, m
}

func TestOpenEmbeddedExpiresKeys(t *testing.T) {
	c, cleanup, err := cache.Open(context.Background(), "", nil)
	if err != nil {
		t.Fatalf("Open(\"\") = %v", err)
	}
	defer cleanup()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 150*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for c.Exists(ctx, "k").Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("embedded Redis never expired a key with a 150ms TTL")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"redis://:pw@[::1", "redis-sentinel://h:1", "redis-sentinel://h:1/", "http://x:1"} {
		if _, _, err := cache.Open(context.Background(), u, nil); err == nil {
			t.Errorf("Open(%q) = nil error, want an error", u)
		} else if u == "redis://:pw@[::1" && strings.Contains(err.Error(), "pw") {
			t.Errorf("Open(%q) error leaks the password: %v", u, err)
		}
	}
}

func TestOpenReal(t *testing.T) {
	u := os.Getenv("WANJIA_TEST_REDIS_URL")
	if u == "" {
		t.Skip("WANJIA_TEST_REDIS_URL not set")
	}
	c, cleanup, err := cache.Open(context.Background(), u, nil)
	if err != nil {
		t.Fatalf("Open(%q) = %v", u, err)
	}
	defer cleanup()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestLock(t *testing.T) {
	c, _ := mustRedis(t)
	ctx := context.Background()
	l, err := cache.TryLock(ctx, c, "lock:a", time.Minute)
	if err != nil {
		t.Fatalf("TryLock() = %v", err)
	}
	if _, err := cache.TryLock(ctx, c, "lock:a", time.Minute); !errors.Is(err, cache.ErrLocked) {
		t.Fatalf("second TryLock() = %v, want ErrLocked", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := cache.TryLock(ctx, c, "lock:a", time.Minute)
	if err != nil {
		t.Fatalf("TryLock() after Unlock = %v", err)
	}
	// A stale holder cannot release the new holder's lock.
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.TryLock(ctx, c, "lock:a", time.Minute); !errors.Is(err, cache.ErrLocked) {
		t.Fatalf("stale Unlock released another holder's lock: %v", err)
	}
	_ = l2.Unlock()
}

func TestLimiter(t *testing.T) {
	c, m := mustRedis(t)
	ctx := context.Background()
	l := cache.NewLimiter(c, "rl:")
	for i := range 3 {
		ok, _, err := l.Allow(ctx, "ip:1", 3, time.Second)
		if err != nil || !ok {
			t.Fatalf("Allow() #%d = %v, %v, want true", i+1, ok, err)
		}
	}
	ok, retry, err := l.Allow(ctx, "ip:1", 3, time.Second)
	if err != nil || ok || retry <= 0 || retry > time.Second {
		t.Fatalf("Allow() #4 = %v, %v, %v, want false with a retry within 1s", ok, retry, err)
	}
	if ok, _, _ := l.Allow(ctx, "ip:2", 3, time.Second); !ok {
		t.Error("another key was limited")
	}
	if m == nil {
		time.Sleep(1100 * time.Millisecond)
	} else {
		m.FastForward(1100 * time.Millisecond)
	}
	if ok, _, _ := l.Allow(ctx, "ip:1", 3, time.Second); !ok {
		t.Error("limit did not reset after the window")
	}
}

// BenchmarkLimiter measures one Allow against the embedded Redis.
func BenchmarkLimiter(b *testing.B) {
	m := miniredis.RunT(b)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer c.Close()
	l := cache.NewLimiter(c, "rl:")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := l.Allow(ctx, "k", 1<<30, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
