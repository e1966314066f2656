package wxsim

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"time"
)

const (
	// tokenTTL is the life of an access_token (expires_in 7200).
	tokenTTL = 7200 * time.Second
	// tokenGrace is how long a superseded /cgi-bin/token token stays valid,
	// and how early before expiry stable_token renews.
	tokenGrace = 5 * time.Minute
)

type app struct {
	id         string
	secret     string
	originalID string
	token      *token // latest /cgi-bin/token token
	stable     *token // current stable_token token
	fetches    int
	menu       []MenuButton
	menuID     int64
	tags       map[int]string
}

type token struct {
	value      string
	app        *app
	expires    time.Time
	superseded time.Time // non-zero: a newer /cgi-bin/token token exists; valid until then
	revoked    bool
	expired    bool
}

// OriginalID returns the original id ("gh_…", the ToUserName of callback
// messages) the simulator gives appID. It is derived from the app id, so the
// Sender and a test can compute it without a Sim.
func OriginalID(appID string) string {
	h := sha1.Sum([]byte(appID))
	return "gh_" + hex.EncodeToString(h[:6])
}

// AddApp registers (or re-registers with a new secret) an app id. Tokens are
// issued only to registered apps with the right secret.
func (s *Sim) AddApp(appID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addApp(appID, secret)
}

func (s *Sim) addApp(appID, secret string) {
	if a, ok := s.apps[appID]; ok {
		a.secret = secret
		return
	}
	s.apps[appID] = &app{id: appID, secret: secret, originalID: OriginalID(appID), tags: map[int]string{2: "星标组"}}
}

// RevokeToken invalidates every token issued to appID so far: calls with
// them answer 40001, as when another server refreshed the token.
func (s *Sim) RevokeToken(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.app.id == appID {
			t.revoked = true
		}
	}
}

// ExpireToken makes every token issued to appID so far answer 42001.
func (s *Sim) ExpireToken(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.app.id == appID {
			t.expired = true
		}
	}
}

// TokenFetches returns how many /cgi-bin/token and /cgi-bin/stable_token
// calls returned a token to appID.
func (s *Sim) TokenFetches(appID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.apps[appID]; ok {
		return a.fetches
	}
	return 0
}

// Token returns the token /cgi-bin/stable_token would currently hand appID
// without issuing one ("" when none is valid), so tests can call endpoints
// directly.
func (s *Sim) Token(appID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appID]
	if !ok {
		return ""
	}
	now := s.now()
	if t := a.stable; t != nil && t.valid(now) {
		return t.value
	}
	if t := a.token; t != nil && t.valid(now) {
		return t.value
	}
	return ""
}

// IssueToken issues a fresh stable token to appID, as a stable_token call
// with force_refresh would, and returns it ("" for an unknown app).
func (s *Sim) IssueToken(appID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appID]
	if !ok {
		return ""
	}
	t := s.issue(a, s.now())
	if a.stable != nil {
		a.stable.revoked = true
	}
	a.stable = t
	return t.value
}

func (t *token) valid(now time.Time) bool {
	if t.revoked || t.expired || !now.Before(t.expires) {
		return false
	}
	return t.superseded.IsZero() || now.Before(t.superseded)
}

func (s *Sim) issue(a *app, now time.Time) *token {
	s.pruneTokens(now)
	b := make([]byte, 48)
	rand.Read(b)
	t := &token{value: "sim_" + base64.RawURLEncoding.EncodeToString(b), app: a, expires: now.Add(tokenTTL)}
	s.tokens[t.value] = t
	return t
}

// pruneTokens forgets tokens that expired more than a day ago (calls with
// them then answer 40001 instead of 42001). s.mu is held.
func (s *Sim) pruneTokens(now time.Time) {
	for v, t := range s.tokens {
		if now.Sub(t.expires) > 24*time.Hour {
			delete(s.tokens, v)
		}
	}
}

// checkToken validates an access_token: 41001 when missing, 40001 when
// unknown, revoked or superseded, 42001 when expired.
func (s *Sim) checkToken(value string, now time.Time) (*app, *apiError) {
	if value == "" {
		return nil, errCode(41001)
	}
	t, ok := s.tokens[value]
	if !ok || t.revoked {
		return nil, errCode(40001)
	}
	if t.expired || !now.Before(t.expires) {
		return nil, errCode(42001)
	}
	if !t.superseded.IsZero() && !now.Before(t.superseded) {
		return nil, errCode(40001)
	}
	return t.app, nil
}

// credentials checks grant_type, appid and secret of a token request.
func (s *Sim) credentials(grantType, appID, secret string) (*app, *apiError) {
	if grantType != "client_credential" {
		return nil, errCode(40002)
	}
	a, ok := s.apps[appID]
	if !ok {
		return nil, errCode(40013)
	}
	if secret != a.secret {
		return nil, &apiError{code: 40001, msg: "invalid credential, access_token is invalid or not latest (AppSecret error)"}
	}
	return a, nil
}

// handleToken serves GET /cgi-bin/token: every call issues a new token; the
// previous one stays valid for five more minutes.
func (s *Sim) handleToken(rq *request) any {
	q := rq.query
	a, apiErr := s.credentials(q.Get("grant_type"), q.Get("appid"), q.Get("secret"))
	if apiErr != nil {
		return apiErr
	}
	if old := a.token; old != nil && old.superseded.IsZero() {
		old.superseded = rq.now.Add(tokenGrace)
	}
	a.token = s.issue(a, rq.now)
	a.fetches++
	return map[string]any{"access_token": a.token.value, "expires_in": int(tokenTTL / time.Second)}
}

// handleStableToken serves POST /cgi-bin/stable_token: the same token while
// it is valid and has more than five minutes left; force_refresh issues a
// new one and invalidates the old. Isolated from /cgi-bin/token.
func (s *Sim) handleStableToken(rq *request) any {
	var in struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	a, apiErr := s.credentials(in.GrantType, in.AppID, in.Secret)
	if apiErr != nil {
		return apiErr
	}
	cur := a.stable
	switch {
	case cur == nil || !cur.valid(rq.now):
		a.stable = s.issue(a, rq.now)
	case in.ForceRefresh:
		cur.revoked = true
		a.stable = s.issue(a, rq.now)
	case cur.expires.Sub(rq.now) <= tokenGrace:
		a.stable = s.issue(a, rq.now) // the old one runs out on its own
	}
	a.fetches++
	left := a.stable.expires.Sub(rq.now) / time.Second
	return map[string]any{"access_token": a.stable.value, "expires_in": int(left)}
}
