package auth_test

import (
	"context"
	"strings"
	"testing"

	"wanjia/model"
	"wanjia/service/auth"
)

// TestSessionKeyKeptSealed: a Mini Program login keeps WeChat's
// session_key sealed on the user's row, bound to that user, replaced at
// the next login, and never in the logs or Redis (model.User has no field
// for it).
func TestSessionKeyKeptSealed(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	_, u, err := e.auth.LoginMiniProgram(ctx, "sk")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := e.users.UserSessionKey(ctx, u.ID)
	if err != nil || sealed == "" || strings.Contains(sealed, sessionKey) {
		t.Fatalf("UserSessionKey() = %q, %v, want a sealed value", sealed, err)
	}
	if got, err := e.keyring.Open(sealed, auth.SessionKeyAAD(u.ID)); err != nil || got != sessionKey {
		t.Errorf("Open(sealed, own aad) = %q, %v, want the session key", got, err)
	}
	if _, err := e.keyring.Open(sealed, auth.SessionKeyAAD(u.ID+1)); err == nil {
		t.Errorf("Open(sealed, another user's aad) = nil error, want a failure")
	}

	// The next login brings a new session_key, which replaces the old.
	e.mp.code2Session = func(_ context.Context, code string) (model.WeChatSession, error) {
		return model.WeChatSession{OpenID: "o_" + code, SessionKey: "NEW-session-key"}, nil
	}
	if _, _, err := e.auth.LoginMiniProgram(ctx, "sk"); err != nil {
		t.Fatal(err)
	}
	sealed, _ = e.users.UserSessionKey(ctx, u.ID)
	if got, err := e.keyring.Open(sealed, auth.SessionKeyAAD(u.ID)); err != nil || got != "NEW-session-key" {
		t.Errorf("after a second login Open() = %q, %v, want the new key", got, err)
	}
	for _, secret := range []string{sessionKey, "NEW-session-key"} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("logs hold a session_key")
		}
		for _, k := range e.redis.Keys() {
			if v, err := e.redis.Get(k); err == nil && strings.Contains(v, secret) {
				t.Errorf("Redis key %s holds a session_key", k)
			}
		}
	}
}
