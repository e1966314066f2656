package wechat_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

const (
	simApp    = "wxintegration0001"
	simSecret = "integrationsecret000000000000001"
	tagsPath  = "/cgi-bin/tags/get"
)

// service/auth declares this interface; Client must keep satisfying it.
var _ interface {
	Code2Session(ctx context.Context, code string) (model.WeChatSession, error)
	PhoneNumber(ctx context.Context, code string) (string, error)
} = (*wechat.Client)(nil)

// simCopy is one "service copy": a token service and the HTTP client it
// calls the simulator with.
type simCopy struct {
	ts   *wechat.TokenService
	http *http.Client
}

func newSimCopy(t *testing.T, sim *wxsim.Sim, rdb redis.UniversalClient, clk *testutil.Clock, reg prometheus.Registerer) simCopy {
	t.Helper()
	httpc := mustHTTPClient(t, wechat.HTTPOptions{Transport: sim.Transport(), Registerer: reg})
	ts, err := wechat.NewTokenService(wechat.TokenOptions{
		AppID: simApp, Secret: simSecret, Redis: rdb, HTTP: httpc, Registerer: reg, Now: clk.Now,
	})
	if err != nil {
		t.Fatalf("NewTokenService() = %v", err)
	}
	return simCopy{ts: ts, http: httpc}
}

// tags calls GET /cgi-bin/tags/get with tok, the way silenceper would:
// errcode answers come back as *util.CommonError.
func (c simCopy) tags(ctx context.Context, tok string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.weixin.qq.com"+tagsPath+"?access_token="+url.QueryEscape(tok), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return util.DecodeWithCommonError(body, "tags/get")
}

// doAll runs 50 Do calls across copies at once. Every call first gets its
// token; none reaches WeChat before all 50 hold one, so a revoked token is
// seen by all of them. It returns the errors and the errcodes seen.
func doAll(t *testing.T, copies []simCopy) (errs []error, seen map[int]int) {
	t.Helper()
	const n = 50
	var holding sync.WaitGroup
	holding.Add(n)
	var mu sync.Mutex
	seen = map[int]int{}
	errs = make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := copies[i%len(copies)]
			first := true
			errs[i] = c.ts.Do(context.Background(), func(tok string) error {
				if first {
					first = false
					holding.Done()
					holding.Wait()
				}
				err := c.tags(context.Background(), tok)
				code, _ := wechat.Errcode(err)
				mu.Lock()
				seen[code]++
				mu.Unlock()
				return err
			})
		})
	}
	wg.Wait()
	return errs, seen
}

func TestSimTokenSharedAcrossCopies(t *testing.T) {
	t.Parallel()
	sim := wxsim.New(wxsim.WithApp(simApp, simSecret))
	_, rdb := mustRedis(t)
	clk := newClock()
	copies := []simCopy{newSimCopy(t, sim, rdb, clk, nil), newSimCopy(t, sim, rdb, clk, nil)}
	sim.Delay("/cgi-bin/stable_token", 30*time.Millisecond)

	steps := []struct {
		name   string
		before func()
		// errcodes the 50 calls see, and total token fetches after the step.
		seen    map[int]int
		fetches int
	}{
		{"first use", func() {}, map[int]int{0: 50}, 1},
		{"revoked", func() { sim.RevokeToken(simApp) }, map[int]int{40001: 50, 0: 50}, 2},
		{"expired", func() { sim.ExpireToken(simApp) }, map[int]int{42001: 50, 0: 50}, 3},
	}
	for _, st := range steps {
		st.before()
		errs, seen := doAll(t, copies)
		for i, err := range errs {
			if err != nil {
				t.Errorf("%s: Do #%d = %v", st.name, i, err)
			}
		}
		if diff := cmp.Diff(st.seen, seen); diff != "" {
			t.Errorf("%s: errcodes seen by the calls (-want +got):\n%s", st.name, diff)
		}
		if got := sim.TokenFetches(simApp); got != st.fetches {
			t.Errorf("%s: TokenFetches = %d, want %d", st.name, got, st.fetches)
		}
	}
}

func TestSimDoErrcodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fail int // errcode injected on tags/get
		// times it is injected
		times int
		// want: Do's errcode, calls of fn, token fetches after the first one
		wantCode    int
		wantCalls   int
		wantFetches int
	}{
		// The simulator cannot mark a token 40014, so the error is injected
		// while the token stays valid: stable_token then hands the same
		// token back, and the service forces a refresh (two fetches).
		{"40014 retried once", 40014, 1, 0, 2, 2},
		{"non-token errcode not retried", 45009, 1, 45009, 1, 0},
		{"second 40001 returned", 40001, 2, 40001, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim := wxsim.New(wxsim.WithApp(simApp, simSecret))
			_, rdb := mustRedis(t)
			c := newSimCopy(t, sim, rdb, newClock(), nil)
			ctx := context.Background()
			if _, err := c.ts.Get(ctx); err != nil {
				t.Fatalf("Get() = %v", err)
			}
			sim.Fail(tagsPath, tt.fail, tt.times)
			calls := 0
			err := c.ts.Do(ctx, func(tok string) error {
				calls++
				return c.tags(ctx, tok)
			})
			code, _ := wechat.Errcode(err)
			if code != tt.wantCode || calls != tt.wantCalls {
				t.Errorf("Do() = %v after %d calls, want errcode %d after %d", err, calls, tt.wantCode, tt.wantCalls)
			}
			if got := sim.TokenFetches(simApp) - 1; got != tt.wantFetches {
				t.Errorf("refetches = %d, want %d", got, tt.wantFetches)
			}
		})
	}
}

func TestSimRedisDown(t *testing.T) {
	t.Parallel()
	sim := wxsim.New(wxsim.WithApp(simApp, simSecret))
	mr, rdb := mustRedis(t)
	clk := newClock()
	c := newSimCopy(t, sim, rdb, clk, nil)
	ctx := context.Background()
	if err := c.ts.Do(ctx, func(tok string) error { return c.tags(ctx, tok) }); err != nil {
		t.Fatalf("Do() = %v", err)
	}
	mr.Close()

	// The in-process copy keeps serving.
	errs, seen := doAll(t, []simCopy{c})
	for i, err := range errs {
		if err != nil {
			t.Errorf("Do #%d with redis down = %v", i, err)
		}
	}
	if diff := cmp.Diff(map[int]int{0: 50}, seen); diff != "" {
		t.Errorf("errcodes with redis down (-want +got):\n%s", diff)
	}
	if got := sim.TokenFetches(simApp); got != 1 {
		t.Errorf("TokenFetches with redis down = %d, want 1", got)
	}

	// A fresh process has no copy: at most one fetch per 10 s.
	sim.Fail("/cgi-bin/stable_token", -1, 100)
	fresh := newSimCopy(t, sim, rdb, clk, nil)
	got := getAll(t, 20, func(int) (string, error) { _, err := fresh.ts.Get(ctx); return "", err })
	for msg := range got {
		if !strings.Contains(msg, "redis down") {
			t.Errorf("Get() error %q does not say redis is down", msg)
		}
	}
	if n := len(sim.Calls("/cgi-bin/stable_token")); n != 2 {
		t.Errorf("stable_token calls = %d, want 2 (one per process)", n)
	}
	clk.Add(10 * time.Second)
	sim.Fail("/cgi-bin/stable_token", 0, 0)
	if tok, err := fresh.ts.Get(ctx); err != nil || tok == "" {
		t.Errorf("Get() 10s later = %q, %v, want a token", tok, err)
	}
}

// newSimClient builds a Client on sim with both sandbox apps.
func newSimClient(t *testing.T, sim *wxsim.Sim, reg prometheus.Registerer) (*wechat.Client, *testutil.SyncBuffer) {
	t.Helper()
	_, rdb := mustRedis(t)
	var logs testutil.SyncBuffer
	c, err := wechat.New(wechat.Config{
		OA: wechat.App{AppID: wxsim.SandboxOAAppID, Secret: wxsim.SandboxOASecret, Token: "tok", AESKey: wxsim.NewAESKey()},
		MP: wechat.App{AppID: wxsim.SandboxMPAppID, Secret: wxsim.SandboxMPSecret},
	}, wechat.Deps{
		Redis:      rdb,
		HTTP:       mustHTTPClient(t, wechat.HTTPOptions{Transport: sim.Transport(), Registerer: reg}),
		Logger:     newLogger(&logs),
		Registerer: reg,
	})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return c, &logs
}

// newSandboxApps returns a strict simulator (unknown codes fail) with
// both sandbox apps.
func newSandboxApps(t *testing.T) *wxsim.Sim {
	t.Helper()
	sim := wxsim.New(
		wxsim.WithApp(wxsim.SandboxOAAppID, wxsim.SandboxOASecret),
		wxsim.WithApp(wxsim.SandboxMPAppID, wxsim.SandboxMPSecret),
	)
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("sim.Close() = %v", err)
		}
	})
	return sim
}

// assertClean fails if err's text holds a credential of the sandbox apps.
func assertClean(t *testing.T, sim *wxsim.Sim, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	secrets := []string{wxsim.SandboxMPSecret, wxsim.SandboxOASecret}
	for _, e := range extra {
		if len(strings.TrimSpace(e)) >= 6 {
			secrets = append(secrets, e)
		}
	}
	if tok := sim.Token(wxsim.SandboxMPAppID); tok != "" {
		secrets = append(secrets, tok)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains credential %q", err, s)
		}
	}
}

// Not parallel: silenceper calls go through util.DefaultHTTPClient.
func TestClientCode2Session(t *testing.T) {
	sim := newSandboxApps(t)
	simRoute.Use(t, sim.Transport())
	sim.AddUser(wxsim.User{OpenID: "oUser1", UnionID: "uUser1"})
	c, _ := newSimClient(t, sim, nil)
	ctx := context.Background()

	code := sim.LoginCode("oUser1")
	got, err := c.Code2Session(ctx, code)
	if err != nil {
		t.Fatalf("Code2Session(%q) = %v", code, err)
	}
	if got.OpenID != "oUser1" || got.UnionID != "uUser1" || got.SessionKey == "" {
		t.Errorf("Code2Session(%q) = %+v (session key %q), want oUser1/uUser1 and a session key", code, got, got.SessionKey)
	}

	tests := []struct {
		name  string
		code  string
		setup func()
		kind  error
		errc  int
	}{
		{"used code", code, func() {}, model.ErrInvalid, 40163},
		{"unknown code", "NOSUCHCODE", func() {}, model.ErrInvalid, 40029},
		{"empty code", " ", func() {}, model.ErrInvalid, 0},
		{"system busy", sim.LoginCode("oUser1"), func() { sim.Fail("/sns/jscode2session", -1, 1) }, model.ErrUpstream, -1},
		{"minute quota", sim.LoginCode("oUser1"), func() { sim.Fail("/sns/jscode2session", 45011, 1) }, model.ErrUpstream, 45011},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			_, err := c.Code2Session(ctx, tt.code)
			if !errors.Is(err, tt.kind) {
				t.Errorf("Code2Session(%q) = %v, want %v", tt.code, err, tt.kind)
			}
			if code, _ := wechat.Errcode(err); code != tt.errc {
				t.Errorf("Errcode(Code2Session(%q)) = %d, want %d", tt.code, code, tt.errc)
			}
			assertClean(t, sim, err, tt.code)
		})
	}

	// A timeout: the error from net/http carries the URL with the secret
	// and the js_code.
	sim.Delay("/sns/jscode2session", 500*time.Millisecond)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	slow := sim.LoginCode("oUser1")
	_, err = c.Code2Session(tctx, slow)
	if !errors.Is(err, model.ErrUpstream) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Code2Session(slow) = %v, want model.ErrUpstream wrapping context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "secret=***") {
		t.Errorf("Code2Session(slow) = %q, want the URL with the secret scrubbed", err)
	}
	assertClean(t, sim, err, slow)
}

// Not parallel: silenceper calls go through util.DefaultHTTPClient.
func TestClientPhoneNumber(t *testing.T) {
	sim := newSandboxApps(t)
	simRoute.Use(t, sim.Transport())
	reg := prometheus.NewRegistry()
	c, _ := newSimClient(t, sim, reg)
	ctx := context.Background()

	phone, err := c.PhoneNumber(ctx, sim.PhoneCode("oUser1", "13800000000"))
	if err != nil || phone != "13800000000" {
		t.Fatalf("PhoneNumber() = %q, %v, want 13800000000", phone, err)
	}
	// A revoked token is refreshed once, and the call retried.
	sim.RevokeToken(wxsim.SandboxMPAppID)
	phone, err = c.PhoneNumber(ctx, sim.PhoneCode("oUser2", "13900000000"))
	if err != nil || phone != "13900000000" {
		t.Errorf("PhoneNumber() after revoke = %q, %v, want 13900000000", phone, err)
	}
	if got := sim.TokenFetches(wxsim.SandboxMPAppID); got != 2 {
		t.Errorf("TokenFetches = %d, want 2", got)
	}
	calls := sim.Calls("/wxa/business/getuserphonenumber")
	if len(calls) != 3 || calls[1].Query.Get("access_token") == calls[2].Query.Get("access_token") {
		t.Errorf("getuserphonenumber calls = %d, want 3 with the retry on a new token", len(calls))
	}
	if v, _ := metric(t, reg, "wanjia_wechat_token_fetches_total", map[string]string{"appid": wxsim.SandboxMPAppID, "result": "ok"}); v != 2 {
		t.Errorf("token_fetches_total{mp,ok} = %v, want 2", v)
	}

	tests := []struct {
		name  string
		code  string
		setup func()
		kind  error
		errc  int
	}{
		{"unknown code", "NOSUCHCODE", func() {}, model.ErrInvalid, 40029},
		{"empty code", "", func() {}, model.ErrInvalid, 0},
		{"minute quota", sim.PhoneCode("oUser1", "13700000000"), func() { sim.Fail("/wxa/business/getuserphonenumber", 45011, 1) }, model.ErrUpstream, 45011},
		{"token refused twice", sim.PhoneCode("oUser1", "13700000000"), func() { sim.Fail("/wxa/business/getuserphonenumber", 40001, 2) }, model.ErrUpstream, 40001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			_, err := c.PhoneNumber(ctx, tt.code)
			if !errors.Is(err, tt.kind) {
				t.Errorf("PhoneNumber(%q) = %v, want %v", tt.code, err, tt.kind)
			}
			if code, _ := wechat.Errcode(err); code != tt.errc {
				t.Errorf("Errcode(PhoneNumber(%q)) = %d, want %d", tt.code, code, tt.errc)
			}
			assertClean(t, sim, err)
		})
	}

	// A timeout: the error from net/http carries the URL with the token.
	sim.Delay("/wxa/business/getuserphonenumber", 500*time.Millisecond)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	_, err = c.PhoneNumber(tctx, sim.PhoneCode("oUser1", "13700000000"))
	if !errors.Is(err, model.ErrUpstream) || !strings.Contains(err.Error(), "access_token=***") {
		t.Errorf("PhoneNumber(slow) = %v, want model.ErrUpstream with the token scrubbed", err)
	}
	assertClean(t, sim, err)
}

func TestClientSDKUsesTokenService(t *testing.T) {
	t.Parallel()
	sim := newSandboxApps(t)
	c, _ := newSimClient(t, sim, nil)
	ctx := context.Background()
	for _, appid := range []string{wxsim.SandboxOAAppID, wxsim.SandboxMPAppID} {
		want, err := c.Tokens(appid).Get(ctx)
		if err != nil {
			t.Fatalf("Tokens(%s).Get() = %v", appid, err)
		}
		if want != sim.Token(appid) {
			t.Errorf("Tokens(%s).Get() = %q, want the simulator's %q", appid, want, sim.Token(appid))
		}
		var got string
		if appid == c.OAAppID() {
			got, err = c.OA().GetAccessTokenContext(ctx)
		} else {
			got, err = c.MP().GetContext().GetAccessTokenContext(ctx)
		}
		if err != nil || got != want {
			t.Errorf("SDK token for %s = %q, %v, want %q", appid, got, err, want)
		}
	}
	if c.Tokens("wxunknown") != nil {
		t.Errorf("Tokens(wxunknown) != nil")
	}
	if got := sim.TokenFetches(wxsim.SandboxOAAppID) + sim.TokenFetches(wxsim.SandboxMPAppID); got != 2 {
		t.Errorf("TokenFetches = %d, want one per app", got)
	}

	// The OA's sub-clients were resolved in New: concurrent getters only read.
	var wg sync.WaitGroup
	var distinct atomic.Int64
	first := c.OA().GetTemplate()
	for range 8 {
		wg.Go(func() {
			oa := c.OA()
			if oa.GetTemplate() != first {
				distinct.Add(1)
			}
			oa.GetDraft()
			oa.GetFreePublish()
			oa.GetBroadcast()
			oa.GetDataCube()
			oa.GetMenu()
			oa.GetUser()
			oa.GetCustomerMessageManager()
			oa.GetMaterial()
			oa.GetSubscribe()
		})
	}
	wg.Wait()
	if distinct.Load() != 0 {
		t.Errorf("GetTemplate returned a new sub-client after New")
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	_, rdb := mustRedis(t)
	oa := wechat.App{AppID: "wxoa", Secret: "s1"}
	mp := wechat.App{AppID: "wxmp", Secret: "s2"}
	tests := []struct {
		name string
		cfg  wechat.Config
		deps wechat.Deps
	}{
		{"no oa", wechat.Config{MP: mp}, wechat.Deps{Redis: rdb}},
		{"no mp secret", wechat.Config{OA: oa, MP: wechat.App{AppID: "wxmp"}}, wechat.Deps{Redis: rdb}},
		{"same app id", wechat.Config{OA: oa, MP: wechat.App{AppID: "wxoa", Secret: "s2"}}, wechat.Deps{Redis: rdb}},
		{"no redis", wechat.Config{OA: oa, MP: mp}, wechat.Deps{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := wechat.New(tt.cfg, tt.deps); err == nil {
				t.Errorf("New(%s) = nil error, want one", tt.name)
			}
		})
	}
	c, err := wechat.New(wechat.Config{OA: oa, MP: mp}, wechat.Deps{Redis: rdb})
	if err != nil {
		t.Fatalf("New(minimal) = %v", err)
	}
	if c.OAAppID() != "wxoa" || c.MPAppID() != "wxmp" || c.Tokens("wxoa").AppID() != "wxoa" {
		t.Errorf("New(minimal) app ids = %q %q, want wxoa wxmp", c.OAAppID(), c.MPAppID())
	}
}
