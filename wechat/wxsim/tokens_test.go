package wxsim_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"wanjia/wechat/wxsim"
)

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		query  string
		want   int
	}{
		{"ok", http.MethodGet, "grant_type=client_credential&appid=" + oaID + "&secret=" + oaSecret, 0},
		{"wrong secret", http.MethodGet, "grant_type=client_credential&appid=" + oaID + "&secret=nope", 40001},
		{"unknown app", http.MethodGet, "grant_type=client_credential&appid=wxnope&secret=" + oaSecret, 40013},
		{"bad grant", http.MethodGet, "grant_type=password&appid=" + oaID + "&secret=" + oaSecret, 40002},
		{"post", http.MethodPost, "grant_type=client_credential&appid=" + oaID + "&secret=" + oaSecret, 43001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newSim(t)
			a := do(t, s, tt.method, "/cgi-bin/token?"+tt.query, nil)
			mustErrcode(t, a, tt.want)
			if tt.want != 0 {
				if _, ok := a.json["access_token"]; ok {
					t.Errorf("error answer carries access_token: %s", a.body)
				}
				if got := s.TokenFetches(oaID); got != 0 {
					t.Errorf("TokenFetches() = %d after an error, want 0", got)
				}
				return
			}
			if tok, _ := a.json["access_token"].(string); len(tok) < 64 {
				t.Errorf("access_token = %q, want a long token", tok)
			}
			if got := a.json["expires_in"]; got != 7200.0 {
				t.Errorf("expires_in = %v, want 7200", got)
			}
			if _, ok := a.json["errcode"]; ok {
				t.Errorf("success answer carries errcode: %s", a.body)
			}
		})
	}
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	s, c := newSim(t)
	call := func(tok string) int {
		return do(t, s, http.MethodGet, "/cgi-bin/menu/get?access_token="+tok, nil).errcode()
	}
	first := mustToken(t, s, oaID, oaSecret)
	if got := call(first); got != 46003 { // valid token, no menu yet
		t.Fatalf("call(first) = %d, want 46003", got)
	}
	second := mustToken(t, s, oaID, oaSecret)
	if first == second {
		t.Fatal("two /cgi-bin/token calls returned the same token")
	}
	if got := call(first); got != 46003 {
		t.Errorf("superseded token within 5 min: errcode %d, want it still valid", got)
	}
	c.Add(6 * time.Minute)
	if got := call(first); got != 40001 {
		t.Errorf("superseded token after 5 min: errcode %d, want 40001", got)
	}
	if got := call(second); got != 46003 {
		t.Errorf("latest token: errcode %d, want valid", got)
	}
	c.Add(2 * time.Hour)
	if got := call(second); got != 42001 {
		t.Errorf("token after 2 h: errcode %d, want 42001", got)
	}
	if got := call(""); got != 41001 {
		t.Errorf("no token: errcode %d, want 41001", got)
	}
	inBody := do(t, s, http.MethodPost, "/wxa/msg_sec_check", map[string]any{"access_token": second, "content": "x"})
	if got := inBody.errcode(); got != 47001 {
		t.Errorf("token in the body: errcode %d, want 47001", got)
	}
	if got := call("bogus"); got != 40001 {
		t.Errorf("unknown token: errcode %d, want 40001", got)
	}
	if got := s.TokenFetches(oaID); got != 2 {
		t.Errorf("TokenFetches() = %d, want 2", got)
	}
}

func TestRevokeAndExpireToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		action func(*wxsim.Sim)
		want   int
	}{
		{"revoke", func(s *wxsim.Sim) { s.RevokeToken(oaID) }, 40001},
		{"expire", func(s *wxsim.Sim) { s.ExpireToken(oaID) }, 42001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newSim(t)
			oa := mustToken(t, s, oaID, oaSecret)
			mp := mustToken(t, s, mpID, mpSecret)
			tt.action(s)
			mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/tags/get?access_token="+oa, nil), tt.want)
			mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/tags/get?access_token="+mp, nil), 0)
			fresh := mustToken(t, s, oaID, oaSecret)
			mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/tags/get?access_token="+fresh, nil), 0)
		})
	}
}

func TestStableToken(t *testing.T) {
	t.Parallel()
	s, c := newSim(t)
	stable := func(force bool) answer {
		return do(t, s, http.MethodPost, "/cgi-bin/stable_token", map[string]any{
			"grant_type": "client_credential", "appid": oaID, "secret": oaSecret, "force_refresh": force,
		})
	}
	a := stable(false)
	mustErrcode(t, a, 0)
	first := a.json["access_token"].(string)
	if got := stable(false).json["access_token"]; got != first {
		t.Errorf("second stable_token = %v, want the same %s", got, first)
	}
	plain := mustToken(t, s, oaID, oaSecret)
	if got := stable(false).json["access_token"]; got != first {
		t.Errorf("stable token changed after /cgi-bin/token: %v", got)
	}
	mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/tags/get?access_token="+plain, nil), 0)

	forced := stable(true).json["access_token"].(string)
	if forced == first {
		t.Fatal("force_refresh returned the same token")
	}
	mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/tags/get?access_token="+first, nil), 40001)

	// Close to expiry the platform hands out a new token.
	c.Add(7200*time.Second - 4*time.Minute)
	renewed := stable(false)
	if renewed.json["access_token"] == forced {
		t.Error("stable_token 4 min before expiry returned the old token")
	}
	if got := renewed.json["expires_in"].(float64); got != 7200 {
		t.Errorf("renewed expires_in = %v, want 7200", got)
	}
	if got := s.TokenFetches(oaID); got != 6 {
		t.Errorf("TokenFetches() = %d, want 6", got)
	}

	bad := []struct {
		name string
		body any
		want int
	}{
		{"wrong secret", map[string]any{"grant_type": "client_credential", "appid": oaID, "secret": "x"}, 40001},
		{"unknown app", map[string]any{"grant_type": "client_credential", "appid": "wxno", "secret": "x"}, 40013},
		{"not json", []byte("grant_type=client_credential"), 47001},
		{"empty", []byte(""), 44002},
	}
	for _, tt := range bad {
		mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/stable_token", tt.body), tt.want)
	}
	mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/stable_token", nil), 43002)
}

func TestStableTokenExpiresInDecreases(t *testing.T) {
	t.Parallel()
	s, c := newSim(t)
	body := map[string]any{"grant_type": "client_credential", "appid": oaID, "secret": oaSecret}
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/stable_token", body), 0)
	c.Add(time.Hour)
	a := do(t, s, http.MethodPost, "/cgi-bin/stable_token", body)
	if got := a.json["expires_in"].(float64); got != 3600 {
		t.Errorf("expires_in after 1 h = %v, want 3600", got)
	}
}

func TestFailDelayCallsReset(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	q := "/cgi-bin/token?grant_type=client_credential&appid=" + oaID + "&secret=" + oaSecret
	s.Fail("/cgi-bin/token", -1, 2)
	mustErrcode(t, do(t, s, http.MethodGet, q, nil), -1)
	a := do(t, s, http.MethodGet, q, nil)
	mustErrcode(t, a, -1)
	if msg := a.json["errmsg"].(string); !strings.HasPrefix(msg, "system error rid: ") {
		t.Errorf("errmsg = %q, want \"system error rid: …\"", msg)
	}
	mustErrcode(t, do(t, s, http.MethodGet, q, nil), 0)

	calls := s.Calls("/cgi-bin/token")
	if len(calls) != 3 {
		t.Fatalf("len(Calls) = %d, want 3", len(calls))
	}
	if got := calls[0].Query.Get("appid"); got != oaID || calls[0].Method != http.MethodGet {
		t.Errorf("Calls[0] = %s appid=%s, want GET appid=%s", calls[0].Method, got, oaID)
	}

	s.Delay("/cgi-bin/token", 200*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiBase+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&http.Client{Transport: s.Transport()}).Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("delayed call with a 20 ms deadline: error %v, want deadline exceeded", err)
	}
	s.Delay("/cgi-bin/token", 5*time.Millisecond)
	start := time.Now()
	mustErrcode(t, do(t, s, http.MethodGet, q, nil), 0)
	if time.Since(start) < 5*time.Millisecond {
		t.Error("Delay(5 ms) did not delay")
	}

	s.Fail("/cgi-bin/token", 45009, 5)
	s.Reset()
	mustErrcode(t, do(t, s, http.MethodGet, q, nil), 0)
	if got := len(s.Calls("")); got != 1 {
		t.Errorf("Calls after Reset = %d, want 1", got)
	}
}

func TestUnknownPath(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	if a := do(t, s, http.MethodGet, "/cgi-bin/nothing", nil); a.status != http.StatusNotFound {
		t.Errorf("unknown path status = %d, want 404", a.status)
	}
}

// TestConcurrentUse hammers the simulator from many goroutines; run with
// -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	s.AddUser(wxsim.User{OpenID: "o1", Subscribed: true})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := mustToken(t, s, oaID, oaSecret)
			for range 10 {
				do(t, s, http.MethodPost, "/cgi-bin/message/custom/send?access_token="+tok,
					map[string]any{"touser": "o1", "msgtype": "text", "text": map[string]string{"content": "hi"}})
				if i%4 == 0 {
					s.Sent(wxsim.KindCustom)
					s.Calls("")
					s.RefuseFor("o2")
				}
			}
		}()
	}
	wg.Wait()
	if got := len(s.Sent(wxsim.KindCustom)); got != 160 {
		t.Errorf("len(Sent) = %d, want 160", got)
	}
}

func TestIssueToken(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	if got := s.Token(oaID); got != "" {
		t.Errorf("Token() before any fetch = %q, want empty", got)
	}
	tok := s.IssueToken(oaID)
	if tok == "" || s.Token(oaID) != tok {
		t.Fatalf("IssueToken() = %q, Token() = %q, want the same token", tok, s.Token(oaID))
	}
	mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/tags/get?access_token="+tok, nil), 0)
	again := s.IssueToken(oaID)
	mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/tags/get?access_token="+tok, nil), 40001)
	s.RevokeToken(oaID)
	if got := s.Token(oaID); got != "" {
		t.Errorf("Token() after RevokeToken = %q (issued %q), want empty", got, again)
	}
	if s.IssueToken("wxnone") != "" || s.Token("wxnone") != "" {
		t.Error("tokens for an unknown app")
	}
}
