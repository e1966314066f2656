package wechat_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"wanjia/internal/testutil"
	"wanjia/wechat"
)

// mustRedis starts a miniredis and returns it with a client.
func mustRedis(tb testing.TB) (*miniredis.Miniredis, redis.UniversalClient) {
	tb.Helper()
	mr := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{
		Addr: mr.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
		DialerRetries: 1, DialerRetryTimeout: time.Millisecond,
	})
	tb.Cleanup(func() {
		if err := rdb.Close(); err != nil {
			tb.Logf("close redis client: %v", err)
		}
	})
	return mr, rdb
}

func newClock() *testutil.Clock {
	return testutil.NewClock(time.Date(2025, 3, 8, 9, 0, 0, 0, time.UTC))
}

func newLogger(w *testutil.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tokenStub is an httptest stand-in for POST /cgi-bin/stable_token.
type tokenStub struct {
	srv *httptest.Server

	mu        sync.Mutex
	secret    string
	current   string
	serial    int
	sticky    bool          // normal mode keeps returning current even after reject
	failWith  int           // errcode to answer with (0: none)
	delay     time.Duration // before answering
	expiresIn int64
	forced    []bool // force_refresh of each call, in order

	fetches atomic.Int64
}

func newTokenStub(tb testing.TB, secret string) *tokenStub {
	tb.Helper()
	s := &tokenStub{secret: secret, expiresIn: 7200}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.srv.Close)
	return s
}

func (s *tokenStub) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/stable_token" {
		http.NotFound(w, r)
		return
	}
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forced = append(s.forced, req.ForceRefresh)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case s.failWith != 0:
		fmt.Fprintf(w, `{"errcode":%d,"errmsg":"stub failure rid: 1"}`, s.failWith)
		return
	case req.Secret != s.secret || req.GrantType != "client_credential":
		fmt.Fprint(w, `{"errcode":40001,"errmsg":"invalid credential rid: 1"}`)
		return
	}
	if s.current == "" || req.ForceRefresh {
		s.serial++
		s.current = fmt.Sprintf("TOKEN_%s_%d", req.AppID, s.serial)
	}
	s.fetches.Add(1)
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":%d}`, s.current, s.expiresIn)
}

// reject makes the current token invalid: normal mode then issues a new
// one, unless sticky.
func (s *tokenStub) reject() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sticky {
		s.current = ""
	}
}

func (s *tokenStub) set(f func(s *tokenStub)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *tokenStub) token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

func (s *tokenStub) forcedCalls() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.forced...)
}

// mustHTTPClient returns NewHTTPClient's client aimed at base.
func mustHTTPClient(tb testing.TB, opts wechat.HTTPOptions) *http.Client {
	tb.Helper()
	c, err := wechat.NewHTTPClient(opts)
	if err != nil {
		tb.Fatalf("NewHTTPClient(%+v) = %v", opts, err)
	}
	return c
}

// mustTokenService returns a token service for appid against the stub.
func mustTokenService(tb testing.TB, appid string, stub *tokenStub, rdb redis.UniversalClient, clk *testutil.Clock, reg prometheus.Registerer) *wechat.TokenService {
	tb.Helper()
	ts, err := wechat.NewTokenService(wechat.TokenOptions{
		AppID:      appid,
		Secret:     stub.secret,
		Redis:      rdb,
		HTTP:       mustHTTPClient(tb, wechat.HTTPOptions{BaseURL: stub.srv.URL}),
		Registerer: reg,
		Now:        clk.Now,
	})
	if err != nil {
		tb.Fatalf("NewTokenService(%q) = %v", appid, err)
	}
	return ts
}

// metric returns the value of the counter (or the sample count of the
// histogram) name with exactly labels, 0 when absent; series counts the
// series of name.
func metric(tb testing.TB, g prometheus.Gatherer, name string, labels map[string]string) (value float64, series int) {
	tb.Helper()
	families, err := g.Gather()
	if err != nil {
		tb.Fatalf("Gather() = %v", err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		series = len(mf.GetMetric())
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				value = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				value = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return value, series
}
