package cache_test

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

	"wanjia/cache"
	"wanjia/internal/testutil"
)

// The tests on mustRedis are not parallel: with WANJIA_TEST_REDIS_URL
// they share one real Redis, flushed by each.

func TestNonceGuard(t *testing.T) {
	c, m := mustRedis(t)
	g := cache.NewNonceGuard(c, 10*time.Minute)
	ctx := context.Background()
	steps := []struct {
		name                 string
		scope, ts, nonce, fp string
		want                 error
	}{
		{"first", "oa", "100", "n1", "fpA", nil},
		{"same request again (a WeChat retry)", "oa", "100", "n1", "fpA", nil},
		{"same pair, other body", "oa", "100", "n1", "fpB", cache.ErrReplayed},
		{"other nonce", "oa", "100", "n2", "fpB", nil},
		{"other timestamp", "oa", "101", "n1", "fpB", nil},
		{"other app", "mp", "100", "n1", "fpB", nil},
	}
	for _, s := range steps {
		if err := g.Check(ctx, cache.Nonce{Scope: s.scope, Timestamp: s.ts, Nonce: s.nonce, Fingerprint: s.fp}); !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
			t.Errorf("Check(%s) = %v, want %v", s.name, err, s.want)
		}
	}
	if m != nil {
		if ttl := m.TTL("nonce:oa:100:n1"); ttl != 10*time.Minute {
			t.Errorf("nonce TTL = %v, want 10m", ttl)
		}
		m.FastForward(11 * time.Minute)
		if err := g.Check(ctx, cache.Nonce{Scope: "oa", Timestamp: "100", Nonce: "n1", Fingerprint: "fpB"}); err != nil {
			t.Errorf("Check(after the TTL) = %v, want nil", err)
		}
	}
}

func TestNonceGuardRedisDown(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	if err := cache.NewNonceGuard(c, time.Minute).Check(context.Background(), cache.Nonce{Scope: "oa", Timestamp: "1", Nonce: "2", Fingerprint: "f"}); err == nil || errors.Is(err, cache.ErrReplayed) {
		t.Errorf("Check(redis down) = %v, want a redis error", err)
	}
	if _, err := cache.NewDedupe(c, cache.DedupeOptions{}).Begin(context.Background(), "k"); err == nil {
		t.Error("Begin(redis down) = nil error, want one")
	}
}

func mustBegin(tb testing.TB, d *cache.Dedupe, key string) *cache.Claim {
	tb.Helper()
	cl, err := d.Begin(context.Background(), key)
	if err != nil {
		tb.Fatalf("Begin(%s) = %v", key, err)
	}
	return cl
}

func TestDedupeLifecycle(t *testing.T) {
	c, m := mustRedis(t)
	d := cache.NewDedupe(c, cache.DedupeOptions{Wait: 50 * time.Millisecond, Poll: 5 * time.Millisecond})
	ctx := context.Background()

	first := mustBegin(t, d, "oa:msg:1")
	if first.State != cache.DedupeNew {
		t.Fatalf("Begin(fresh) = %v, want new", first.State)
	}
	if m != nil {
		if ttl := m.TTL("dedupe:oa:msg:1"); ttl < time.Minute {
			t.Errorf("processing TTL = %v, want at least 1m", ttl)
		}
	}
	if busy := mustBegin(t, d, "oa:msg:1"); busy.State != cache.DedupeBusy {
		t.Errorf("Begin(while processing) = %v, want busy", busy.State)
	}
	if err := first.Done(ctx, []byte("<xml>reply</xml>")); err != nil {
		t.Fatalf("Done() = %v", err)
	}
	again := mustBegin(t, d, "oa:msg:1")
	if again.State != cache.DedupeDone || string(again.Reply) != "<xml>reply</xml>" {
		t.Errorf("Begin(after done) = %v %q, want done with the reply", again.State, again.Reply)
	}
	if m != nil {
		if ttl := m.TTL("dedupe:oa:msg:1"); ttl < time.Minute {
			t.Errorf("done TTL = %v, want at least 1m", ttl)
		}
	}
	if err := again.Release(); err != nil { // not the owner: no effect
		t.Fatal(err)
	}
	if cl := mustBegin(t, d, "oa:msg:1"); cl.State != cache.DedupeDone {
		t.Errorf("Begin(after a non-owner release) = %v, want done", cl.State)
	}

	failed := mustBegin(t, d, "oa:msg:2")
	if err := failed.Release(); err != nil {
		t.Fatalf("Release() = %v", err)
	}
	if retry := mustBegin(t, d, "oa:msg:2"); retry.State != cache.DedupeNew {
		t.Errorf("Begin(after release) = %v, want new (the retry is processed again)", retry.State)
	}
	empty := mustBegin(t, d, "oa:msg:3")
	if err := empty.Done(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if cl := mustBegin(t, d, "oa:msg:3"); cl.State != cache.DedupeDone || len(cl.Reply) != 0 {
		t.Errorf("Begin(done without reply) = %v %q, want done, empty", cl.State, cl.Reply)
	}
}

func TestDedupeConcurrentCopies(t *testing.T) {
	c, _ := mustRedis(t)
	// Three copies share Redis; the first to arrive processes for 60 ms.
	var wg sync.WaitGroup
	states := make([]cache.DedupeState, 3)
	replies := make([]string, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := cache.NewDedupe(c, cache.DedupeOptions{Poll: 5 * time.Millisecond})
			cl, err := d.Begin(context.Background(), "mp:msg:7")
			if err != nil {
				t.Errorf("Begin() = %v", err)
				return
			}
			states[i] = cl.State
			if cl.State == cache.DedupeNew {
				time.Sleep(60 * time.Millisecond)
				replies[i] = "R"
				if err := cl.Done(context.Background(), []byte("R")); err != nil {
					t.Errorf("Done() = %v", err)
				}
				return
			}
			replies[i] = string(cl.Reply)
		}()
	}
	wg.Wait()
	news := 0
	for i, s := range states {
		if s == cache.DedupeNew {
			news++
		} else if s != cache.DedupeDone {
			t.Errorf("copy %d: state %v, want done after waiting", i, s)
		}
		if replies[i] != "R" {
			t.Errorf("copy %d: reply %q, want R", i, replies[i])
		}
	}
	if news != 1 {
		t.Errorf("%d copies processed, want 1", news)
	}
}

func TestDedupeTakesOverAStaleClaim(t *testing.T) {
	c, _ := mustRedis(t)
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	d := cache.NewDedupe(c, cache.DedupeOptions{Now: clock, Wait: 10 * time.Millisecond, Poll: time.Millisecond, StaleAfter: 3 * time.Second})
	dead := mustBegin(t, d, "oa:msg:9") // a copy that crashes and never finishes
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	if cl := mustBegin(t, d, "oa:msg:9"); cl.State != cache.DedupeBusy {
		t.Errorf("Begin(2 s into processing) = %v, want busy", cl.State)
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	retry := mustBegin(t, d, "oa:msg:9")
	if retry.State != cache.DedupeNew {
		t.Fatalf("Begin(4 s into a dead copy's processing) = %v, want new", retry.State)
	}
	if err := dead.Release(); err != nil { // too late: no longer the owner
		t.Fatal(err)
	}
	if cl := mustBegin(t, d, "oa:msg:9"); cl.State != cache.DedupeBusy {
		t.Errorf("Begin(after the dead copy's late release) = %v, want busy (the retry still holds it)", cl.State)
	}
}

func TestDedupeBeginHonoursContext(t *testing.T) {
	c, _ := mustRedis(t)
	d := cache.NewDedupe(c, cache.DedupeOptions{Wait: time.Minute})
	mustBegin(t, d, "k")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := d.Begin(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Begin(busy, ctx ends) = %v, want DeadlineExceeded", err)
	}
}

func TestDedupeBeginGuarded(t *testing.T) {
	c, _ := mustRedis(t)
	g := cache.NewNonceGuard(c, time.Minute)
	d := cache.NewDedupe(c, cache.DedupeOptions{Wait: 20 * time.Millisecond, Poll: time.Millisecond})
	ctx := context.Background()
	n := cache.Nonce{Scope: "oa", Timestamp: "1", Nonce: "2", Fingerprint: "A"}
	cl, err := d.BeginGuarded(ctx, "oa:msg:1", g, n)
	if err != nil || cl.State != cache.DedupeNew {
		t.Fatalf("BeginGuarded(new) = %v, %v, want new", cl, err)
	}
	if err := cl.Done(ctx, []byte("R")); err != nil {
		t.Fatal(err)
	}
	// The same request again: the nonce passes, the dedupe answers.
	if cl, err := d.BeginGuarded(ctx, "oa:msg:1", g, n); err != nil || cl.State != cache.DedupeDone || string(cl.Reply) != "R" {
		t.Errorf("BeginGuarded(re-sent) = %+v, %v, want done with R", cl, err)
	}
	// The same pair with another body, for a new key: refused, and the key left free.
	forged := n
	forged.Fingerprint = "B"
	if _, err := d.BeginGuarded(ctx, "oa:msg:2", g, forged); !errors.Is(err, cache.ErrReplayed) {
		t.Errorf("BeginGuarded(replayed nonce) = %v, want ErrReplayed", err)
	}
	if cl := mustBegin(t, d, "oa:msg:2"); cl.State != cache.DedupeNew {
		t.Errorf("Begin(key of the refused replay) = %v, want new", cl.State)
	}
}

func TestDedupeBatchesConcurrentCallers(t *testing.T) {
	c, _ := mustRedis(t)
	d := cache.NewDedupe(c, cache.DedupeOptions{})
	g := cache.NewNonceGuard(c, time.Minute)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "oa:msg:" + strconv.Itoa(i)
			cl, err := d.BeginGuarded(ctx, key, g, cache.Nonce{Scope: "oa", Timestamp: "1", Nonce: strconv.Itoa(i), Fingerprint: "f"})
			if err != nil || cl.State != cache.DedupeNew {
				errs <- fmt.Errorf("BeginGuarded(%s) = %v, %v", key, cl, err)
				return
			}
			if err := cl.Done(ctx, []byte(key)); err != nil {
				errs <- err
				return
			}
			if cl := mustBegin(t, d, key); cl.State != cache.DedupeDone || string(cl.Reply) != key {
				errs <- fmt.Errorf("Begin(%s) after done = %v %q", key, cl.State, cl.Reply)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// waitDone polls key until it is done (Remember returns before the reply
// is recorded) and returns its reply.
func waitDone(tb testing.TB, d *cache.Dedupe, key string) string {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cl := mustBegin(tb, d, key)
		if cl.State == cache.DedupeDone {
			return string(cl.Reply)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("Begin(%s) = %v five seconds after Remember, want done", key, cl.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDedupeRemember(t *testing.T) {
	c, m := mustRedis(t)
	d := cache.NewDedupe(c, cache.DedupeOptions{Wait: 10 * time.Millisecond, Poll: time.Millisecond, DoneTTL: 7 * time.Minute})
	// Alone (no other caller to carry it): the timer sends it.
	first := mustBegin(t, d, "oa:msg:1")
	first.Remember([]byte("<xml>reply</xml>"))
	if got := waitDone(t, d, "oa:msg:1"); got != "<xml>reply</xml>" {
		t.Errorf("reply after Remember = %q, want <xml>reply</xml>", got)
	}
	if m != nil {
		if ttl := m.TTL("dedupe:oa:msg:1"); ttl != 7*time.Minute {
			t.Errorf("done TTL = %v, want 7m", ttl)
		}
	}
	// A copy that finds the key processing waits for the remembered reply.
	second := mustBegin(t, d, "oa:msg:2")
	waiting := cache.NewDedupe(c, cache.DedupeOptions{Wait: 2 * time.Second, Poll: 2 * time.Millisecond})
	got := make(chan *cache.Claim)
	go func() { got <- mustBegin(t, waiting, "oa:msg:2") }()
	time.Sleep(20 * time.Millisecond)
	second.Remember([]byte("R2"))
	if cl := <-got; cl.State != cache.DedupeDone || string(cl.Reply) != "R2" {
		t.Errorf("Begin(waiting copy) = %v %q, want done with R2", cl.State, cl.Reply)
	}
	// Only a new claim records anything.
	mustBegin(t, d, "oa:msg:1").Remember([]byte("other"))
	if got := waitDone(t, d, "oa:msg:1"); got != "<xml>reply</xml>" {
		t.Errorf("reply after a done claim's Remember = %q, want the first reply", got)
	}
}

// TestDedupeRememberAmongCallers mixes Remember with waiting callers, so
// that remembered replies ride in their pipelines and pipelines are handed
// over past them; every reply must land.
func TestDedupeRememberAmongCallers(t *testing.T) {
	c, _ := mustRedis(t)
	d := cache.NewDedupe(c, cache.DedupeOptions{})
	g := cache.NewNonceGuard(c, time.Minute)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "oa:msg:" + strconv.Itoa(i)
			cl, err := d.BeginGuarded(ctx, key, g, cache.Nonce{Scope: "oa", Timestamp: "1", Nonce: strconv.Itoa(i), Fingerprint: "f"})
			if err != nil || cl.State != cache.DedupeNew {
				errs <- fmt.Errorf("BeginGuarded(%s) = %v, %v", key, cl, err)
				return
			}
			if i%3 == 0 {
				err = cl.Done(ctx, []byte(key))
			} else {
				cl.Remember([]byte(key))
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range 300 {
		key := "oa:msg:" + strconv.Itoa(i)
		if got := waitDone(t, d, key); got != key {
			t.Errorf("reply of %s = %q, want %q", key, got, key)
		}
	}
}

// TestDedupeRememberFailureIsLogged: with Redis gone, Remember logs and
// returns; nothing blocks.
func TestDedupeRememberFailureIsLogged(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	var logged testutil.SyncBuffer
	d := cache.NewDedupe(c, cache.DedupeOptions{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	cl := mustBegin(t, d, "oa:msg:1")
	m.Close()
	cl.Remember([]byte("R"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logged.String(), "dedupe: remember reply") {
		if time.Now().After(deadline) {
			t.Fatalf("log = %q, want the failed Remember", logged.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
