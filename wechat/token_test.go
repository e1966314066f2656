package wechat_test

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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/model"
	"wanjia/wechat"
)

const testAppID = "wxtest0000000001"

var _ credential.AccessTokenContextHandle = (*wechat.TokenService)(nil)

// fetches returns wanjia_wechat_token_fetches_total{appid,result}.
func fetches(tb testing.TB, reg prometheus.Gatherer, result string) float64 {
	tb.Helper()
	v, _ := metric(tb, reg, "wanjia_wechat_token_fetches_total", map[string]string{"appid": testAppID, "result": result})
	return v
}

// getAll calls get n times concurrently and returns the distinct results.
func getAll(t *testing.T, n int, get func(i int) (string, error)) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := get(i)
			if err != nil {
				v = "error: " + err.Error()
			}
			mu.Lock()
			got[v]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return got
}

func TestTokenServiceOneFetchAcrossCopies(t *testing.T) {
	t.Parallel()
	mr, rdb := mustRedis(t)
	stub := newTokenStub(t, "s3cret")
	stub.set(func(s *tokenStub) { s.delay = 50 * time.Millisecond })
	clk := newClock()
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	copies := []*wechat.TokenService{
		mustTokenService(t, testAppID, stub, rdb, clk, regA),
		mustTokenService(t, testAppID, stub, rdb, clk, regB),
	}
	ctx := context.Background()

	got := getAll(t, 50, func(i int) (string, error) { return copies[i%2].Get(ctx) })
	want := map[string]int{"TOKEN_" + testAppID + "_1": 50}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("50 concurrent Get (-want +got):\n%s", diff)
	}
	if n := stub.fetches.Load(); n != 1 {
		t.Errorf("upstream fetches = %d, want 1", n)
	}
	if n := fetches(t, regA, "ok") + fetches(t, regB, "ok"); n != 1 {
		t.Errorf("token_fetches_total{ok} over both copies = %v, want 1", n)
	}
	key := "wechat:token:{" + testAppID + "}"
	if ttl := mr.TTL(key); ttl != 6900*time.Second {
		t.Errorf("TTL(%s) = %v, want expires_in-300s = 1h55m", key, ttl)
	}
	if v := mr.HGet(key, "token"); v != "TOKEN_"+testAppID+"_1" {
		t.Errorf("HGET %s token = %q", key, v)
	}
	if mr.Exists(key + ":lock") {
		t.Errorf("lock %s:lock still held", key)
	}

	// Cached until expires_in-300 s by the clock.
	clk.Add(6899 * time.Second)
	if _, err := copies[0].Get(ctx); err != nil || stub.fetches.Load() != 1 {
		t.Errorf("Get() before expiry = %v with %d fetches, want cached", err, stub.fetches.Load())
	}
	clk.Add(2 * time.Second)
	stub.reject() // WeChat renewed it
	tok, err := copies[1].Get(ctx)
	if err != nil || tok != "TOKEN_"+testAppID+"_2" || stub.fetches.Load() != 2 {
		t.Errorf("Get() after expiry = %q, %v with %d fetches, want a new token from a second fetch", tok, err, stub.fetches.Load())
	}
}

func TestTokenServiceDoRefreshesOnce(t *testing.T) {
	t.Parallel()
	for _, code := range []int64{40001, 42001, 40014} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			_, rdb := mustRedis(t)
			stub := newTokenStub(t, "s3cret")
			ts := mustTokenService(t, testAppID, stub, rdb, newClock(), nil)
			ctx := context.Background()
			bad, err := ts.Get(ctx)
			if err != nil {
				t.Fatalf("Get() = %v", err)
			}
			stub.reject()

			var used []string
			err = ts.Do(ctx, func(tok string) error {
				used = append(used, tok)
				if tok == bad {
					return fmt.Errorf("call: %w", util.NewCommonError("api", code, "bad token"))
				}
				return nil
			})
			if err != nil {
				t.Errorf("Do() = %v, want success after one refresh", err)
			}
			want := []string{bad, "TOKEN_" + testAppID + "_2"}
			if diff := cmp.Diff(want, used); diff != "" {
				t.Errorf("tokens used (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]bool{false, false}, stub.forcedCalls()); diff != "" {
				t.Errorf("force_refresh of each fetch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenServiceDoDoesNotLoop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		code      int64
		wantCalls int
		wantFetch int64
	}{
		{"token errcode twice", 40001, 2, 2},
		{"non-token errcode", 45009, 1, 1},
		{"invalid code", 40029, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, rdb := mustRedis(t)
			stub := newTokenStub(t, "s3cret")
			ts := mustTokenService(t, testAppID, stub, rdb, newClock(), nil)
			calls := 0
			err := ts.Do(context.Background(), func(tok string) error {
				calls++
				stub.reject()
				return util.NewCommonError("api", tt.code, "failure")
			})
			if code, _ := wechat.Errcode(err); code != int(tt.code) {
				t.Errorf("Do() = %v, want errcode %d", err, tt.code)
			}
			if calls != tt.wantCalls || stub.fetches.Load() != tt.wantFetch {
				t.Errorf("Do() made %d calls and %d fetches, want %d and %d", calls, stub.fetches.Load(), tt.wantCalls, tt.wantFetch)
			}
		})
	}
}

func TestTokenServiceDoGetError(t *testing.T) {
	t.Parallel()
	_, rdb := mustRedis(t)
	stub := newTokenStub(t, "right")
	ts, err := wechat.NewTokenService(wechat.TokenOptions{
		AppID: testAppID, Secret: "wrong", Redis: rdb,
		HTTP: mustHTTPClient(t, wechat.HTTPOptions{BaseURL: stub.srv.URL}),
	})
	if err != nil {
		t.Fatalf("NewTokenService() = %v", err)
	}
	called := false
	err = ts.Do(context.Background(), func(string) error { called = true; return nil })
	if code, ok := wechat.Errcode(err); !ok || code != 40001 || called {
		t.Errorf("Do() with a wrong secret = %v (fn called: %v), want errcode 40001 and no call", err, called)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("Do() error %q contains the secret", err)
	}
}

func TestTokenServiceConcurrentRevoke(t *testing.T) {
	t.Parallel()
	_, rdb := mustRedis(t)
	stub := newTokenStub(t, "s3cret")
	clk := newClock()
	copies := []*wechat.TokenService{
		mustTokenService(t, testAppID, stub, rdb, clk, nil),
		mustTokenService(t, testAppID, stub, rdb, clk, nil),
	}
	ctx := context.Background()
	bad, err := copies[0].Get(ctx)
	if err != nil {
		t.Fatalf("Get() = %v", err)
	}
	stub.reject()
	stub.set(func(s *tokenStub) { s.delay = 20 * time.Millisecond })
	// Every caller holds the revoked token before any of them sees 40001.
	var holding sync.WaitGroup
	holding.Add(50)
	var failures atomic.Int64
	got := getAll(t, 50, func(i int) (string, error) {
		var used string
		err := copies[i%2].Do(ctx, func(tok string) error {
			if tok == bad {
				holding.Done()
				holding.Wait()
				failures.Add(1)
				return util.NewCommonError("api", 40001, "invalid credential")
			}
			used = tok
			return nil
		})
		return used, err
	})
	if diff := cmp.Diff(map[string]int{"TOKEN_" + testAppID + "_2": 50}, got); diff != "" {
		t.Errorf("50 Do after revoke (-want +got):\n%s", diff)
	}
	if n := stub.fetches.Load(); n != 2 {
		t.Errorf("upstream fetches = %d, want 2 (one before, one after the revoke)", n)
	}
	if n := failures.Load(); n != 50 {
		t.Errorf("calls that saw 40001 = %d, want 50 (each failed once)", n)
	}
}

func TestTokenServiceForcesRefreshForStickyToken(t *testing.T) {
	t.Parallel()
	_, rdb := mustRedis(t)
	stub := newTokenStub(t, "s3cret")
	stub.set(func(s *tokenStub) { s.sticky = true })
	clk := newClock()
	reg := prometheus.NewRegistry()
	a := mustTokenService(t, testAppID, stub, rdb, clk, reg)
	b := mustTokenService(t, testAppID, stub, rdb, clk, reg)
	ctx := context.Background()
	bad, err := a.Get(ctx)
	if err != nil {
		t.Fatalf("Get() = %v", err)
	}
	// Copy a sees the token rejected; copy b does the refetch: the
	// rejected marker in Redis tells it to force.
	a.Invalidate(ctx, bad)
	tok, err := b.Get(ctx)
	if err != nil || tok == bad {
		t.Fatalf("Get() after Invalidate = %q, %v; want a new token", tok, err)
	}
	if diff := cmp.Diff([]bool{false, false, true}, stub.forcedCalls()); diff != "" {
		t.Errorf("force_refresh of each fetch (-want +got):\n%s", diff)
	}
	if fetches(t, reg, "forced") != 1 || fetches(t, reg, "ok") != 1 {
		t.Errorf("token_fetches_total: forced %v ok %v, want 1 and 1", fetches(t, reg, "forced"), fetches(t, reg, "ok"))
	}
}

func TestTokenServiceInvalidateOnlyTheBadToken(t *testing.T) {
	t.Parallel()
	mr, rdb := mustRedis(t)
	stub := newTokenStub(t, "s3cret")
	ts := mustTokenService(t, testAppID, stub, rdb, newClock(), nil)
	ctx := context.Background()
	cur, err := ts.Get(ctx)
	if err != nil {
		t.Fatalf("Get() = %v", err)
	}
	ts.Invalidate(ctx, "SOME_OLDER_TOKEN")
	ts.Invalidate(ctx, "")
	if got, err := ts.Get(ctx); got != cur || err != nil || stub.fetches.Load() != 1 {
		t.Errorf("Get() after Invalidate(other) = %q, %v (%d fetches), want %q cached", got, err, stub.fetches.Load(), cur)
	}
	ts.Invalidate(ctx, cur)
	if mr.Exists("wechat:token:{" + testAppID + "}") {
		t.Errorf("Invalidate(current) kept the token")
	}
	if got := mr.HGet("wechat:token:{"+testAppID+"}", "token"); got != "" {
		t.Errorf("token after Invalidate = %q", got)
	}
}

func TestTokenServiceRedisDown(t *testing.T) {
	t.Parallel()
	mr, rdb := mustRedis(t)
	stub := newTokenStub(t, "s3cret")
	clk := newClock()
	reg := prometheus.NewRegistry()
	ts := mustTokenService(t, testAppID, stub, rdb, clk, reg)
	ctx := context.Background()
	cur, err := ts.Get(ctx)
	if err != nil {
		t.Fatalf("Get() = %v", err)
	}
	mr.Close()

	// Served from the in-process copy, without fetching.
	got := getAll(t, 20, func(int) (string, error) { return ts.Get(ctx) })
	if diff := cmp.Diff(map[string]int{cur: 20}, got); diff != "" {
		t.Errorf("Get() with redis down (-want +got):\n%s", diff)
	}
	if n := stub.fetches.Load(); n != 1 {
		t.Errorf("fetches = %d, want 1", n)
	}

	// The copy expires: one fetch, then the new copy is served.
	clk.Add(7000 * time.Second)
	stub.reject()
	got = getAll(t, 20, func(int) (string, error) { return ts.Get(ctx) })
	if diff := cmp.Diff(map[string]int{"TOKEN_" + testAppID + "_2": 20}, got); diff != "" {
		t.Errorf("Get() with redis down after expiry (-want +got):\n%s", diff)
	}
	if n := stub.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}

	// A rejected token is dropped from the copy; the refetch comes at
	// most once per 10 s.
	ts.Invalidate(ctx, "TOKEN_"+testAppID+"_2")
	_, err = ts.Get(ctx)
	if err == nil || !strings.Contains(err.Error(), "redis down") {
		t.Errorf("Get() 0s after the last fetch = %v, want a redis-down error", err)
	}
	if !errors.Is(wechat.Translate(err), model.ErrUnavailable) {
		t.Errorf("Translate(%v) is not model.ErrUnavailable", err)
	}
	if fetches(t, reg, "limited") != 1 {
		t.Errorf("token_fetches_total{limited} = %v, want 1", fetches(t, reg, "limited"))
	}
	clk.Add(10 * time.Second)
	if tok, err := ts.Get(ctx); err != nil || tok != "TOKEN_"+testAppID+"_3" {
		t.Errorf("Get() 10s later = %q, %v, want a fresh token", tok, err)
	}
}

func TestTokenServiceRedisDownNoCopy(t *testing.T) {
	t.Parallel()
	mr, rdb := mustRedis(t)
	stub := newTokenStub(t, "s3cret")
	stub.set(func(s *tokenStub) { s.failWith = -1 })
	clk := newClock()
	ts := mustTokenService(t, testAppID, stub, rdb, clk, nil)
	mr.Close()
	ctx := context.Background()

	got := getAll(t, 30, func(int) (string, error) { _, err := ts.Get(ctx); return "", err })
	for msg := range got {
		if !strings.Contains(msg, "redis down") {
			t.Errorf("Get() error %q does not say redis is down", msg)
		}
	}
	if n := len(stub.forcedCalls()); n != 1 {
		t.Errorf("upstream requests = %d, want 1 per 10 s", n)
	}
	clk.Add(9 * time.Second)
	if _, err := ts.Get(ctx); err == nil {
		t.Errorf("Get() 9s later = nil error")
	}
	if n := len(stub.forcedCalls()); n != 1 {
		t.Errorf("upstream requests after 9s = %d, want 1", n)
	}
	clk.Add(time.Second)
	stub.set(func(s *tokenStub) { s.failWith = 0 })
	if tok, err := ts.Get(ctx); err != nil || tok == "" {
		t.Errorf("Get() 10s later = %q, %v, want a token", tok, err)
	}
	if n := len(stub.forcedCalls()); n != 2 {
		t.Errorf("upstream requests after 10s = %d, want 2", n)
	}
}

func TestTokenServiceWaitsForLockHolder(t *testing.T) {
	t.Parallel()
	mr, rdb := mustRedis(t)
	stub := newTokenStub(t, "s3cret")
	ts := mustTokenService(t, testAppID, stub, rdb, newClock(), nil)
	lock := "wechat:token:{" + testAppID + "}" + ":lock"

	// Another instance holds the lock and gives up: this one takes over.
	if err := mr.Set(lock, "other"); err != nil {
		t.Fatalf("set lock: %v", err)
	}
	go func() {
		time.Sleep(30 * time.Millisecond)
		mr.Del(lock)
	}()
	tok, err := ts.Get(context.Background())
	if err != nil || tok == "" || stub.fetches.Load() != 1 {
		t.Errorf("Get() after the holder gave up = %q, %v (%d fetches), want one fetch", tok, err, stub.fetches.Load())
	}

	// The holder never finishes: the caller's ctx bounds the wait.
	mr.Del("wechat:token:{" + testAppID + "}")
	if err := mr.Set(lock, "other"); err != nil {
		t.Fatalf("set lock: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = ts.Get(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get() while locked = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Get() while locked took %v, want about 50ms", d)
	}
	if got := mr.HGet("wechat:token:{"+testAppID+"}", "token"); got != "" {
		t.Errorf("token stored while another instance held the lock: %q", got)
	}
}

func TestTokenServiceFetchErrors(t *testing.T) {
	t.Parallel()
	_, rdb := mustRedis(t)
	stub := newTokenStub(t, "s3cret")
	stub.set(func(s *tokenStub) { s.failWith = 40013 })
	reg := prometheus.NewRegistry()
	ts := mustTokenService(t, testAppID, stub, rdb, newClock(), reg)
	_, err := ts.Get(context.Background())
	if code, ok := wechat.Errcode(err); !ok || code != 40013 {
		t.Errorf("Get() = %v, want errcode 40013", err)
	}
	if fetches(t, reg, "error") != 1 {
		t.Errorf("token_fetches_total{error} = %v, want 1", fetches(t, reg, "error"))
	}
}

func TestTokenServiceDoContextPinsToken(t *testing.T) {
	t.Parallel()
	_, rdb := mustRedis(t)
	stub := newTokenStub(t, "s3cret")
	ts := mustTokenService(t, testAppID, stub, rdb, newClock(), nil)
	other := mustTokenService(t, "wxother", newTokenStub(t, "s3cret"), rdb, newClock(), nil)
	ctx := context.Background()
	bad, err := ts.Get(ctx)
	if err != nil {
		t.Fatalf("Get() = %v", err)
	}
	stub.reject()
	var seen []string
	err = ts.DoContext(ctx, func(ctx context.Context) error {
		// What silenceper does inside its *Context methods.
		tok, err := ts.GetAccessTokenContext(ctx)
		if err != nil {
			return err
		}
		seen = append(seen, tok)
		if tok == bad {
			return util.NewCommonError("api", 40001, "invalid credential")
		}
		// Another service is not pinned by this one.
		if otherTok, err := other.GetAccessTokenContext(ctx); err != nil || otherTok == tok {
			return fmt.Errorf("other service got %q, %v", otherTok, err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("DoContext() = %v", err)
	}
	if len(seen) != 2 || seen[0] != bad || seen[1] == bad {
		t.Errorf("tokens seen = %v, want the bad one then a fresh one", seen)
	}
	if tok, err := ts.GetAccessToken(); err != nil || tok != seen[1] {
		t.Errorf("GetAccessToken() = %q, %v, want %q", tok, err, seen[1])
	}
}

func TestNewTokenServiceErrors(t *testing.T) {
	t.Parallel()
	_, rdb := mustRedis(t)
	httpc := mustHTTPClient(t, wechat.HTTPOptions{})
	for _, opts := range []wechat.TokenOptions{
		{Secret: "s", Redis: rdb, HTTP: httpc},
		{AppID: "a", Redis: rdb, HTTP: httpc},
		{AppID: "a", Secret: "s", HTTP: httpc},
		{AppID: "a", Secret: "s", Redis: rdb},
	} {
		if _, err := wechat.NewTokenService(opts); err == nil {
			t.Errorf("NewTokenService(%+v) = nil error, want one", opts)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "wanjia_wechat_token_fetches_total", Help: "clash"}))
	if _, err := wechat.NewTokenService(wechat.TokenOptions{AppID: "a", Secret: "s", Redis: rdb, HTTP: httpc, Registerer: reg}); err == nil {
		t.Errorf("NewTokenService(clashing registry) = nil error, want one")
	}
}
