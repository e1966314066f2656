package cache_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"wanjia/cache"
	"wanjia/internal/testutil"
	"wanjia/model"
)

func mustSessions(tb testing.TB) (*cache.Sessions, cache.Client, *miniredis.Miniredis, *testutil.Clock) {
	tb.Helper()
	c, m := mustRedis(tb)
	clk := testutil.NewClock(time.Now())
	return cache.NewSessions(c, cache.SessionOptions{MPTTL: time.Hour, StaffTTL: 10 * time.Minute, Now: clk.Now}), c, m, clk
}

func mustCreate(tb testing.TB, s *cache.Sessions, kind model.SessionKind, subject int64) model.Session {
	tb.Helper()
	sess, err := s.CreateSession(context.Background(), kind, subject)
	if err != nil {
		tb.Fatalf("CreateSession(%s, %d) = %v", kind, subject, err)
	}
	return sess
}

func wantUnauthenticated(tb testing.TB, s *cache.Sessions, kind model.SessionKind, token, why string) {
	tb.Helper()
	if got, err := s.SessionByToken(context.Background(), kind, token); !errors.Is(err, model.ErrUnauthenticated) {
		tb.Errorf("SessionByToken(%s) %s = %+v, %v, want ErrUnauthenticated", kind, why, got, err)
	}
}

func TestSessionsCreateAndLookUp(t *testing.T) {
	s, c, _, clk := mustSessions(t)
	ctx := context.Background()
	sess := mustCreate(t, s, model.SessionStaff, 42)
	if len(sess.Token) != 43 || strings.ContainsAny(sess.Token, "+/=") {
		t.Errorf("token %q is not 32 bytes of unpadded base64url", sess.Token)
	}
	if want := clk.Now().Add(10 * time.Minute); sess.ExpiresAt.Sub(want).Abs() > time.Second {
		t.Errorf("ExpiresAt = %v, want about %v (staff TTL)", sess.ExpiresAt, want)
	}
	got, err := s.SessionByToken(ctx, model.SessionStaff, sess.Token)
	if err != nil {
		t.Fatalf("SessionByToken() = %v", err)
	}
	if got.ID != sess.ID || got.SubjectID != 42 || got.Kind != model.SessionStaff || got.Token != "" ||
		!got.ExpiresAt.Equal(sess.ExpiresAt) || !got.CreatedAt.Equal(sess.CreatedAt) {
		t.Errorf("SessionByToken() = %+v, want %+v without the token", got, sess)
	}
	// Redis holds the hash only: the token is in no key and no value.
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, sess.Token) {
			t.Errorf("key %q holds the token", k)
		}
		if typ := c.Type(ctx, k).Val(); typ == "string" && strings.Contains(c.Get(ctx, k).Val(), sess.Token) {
			t.Errorf("value of %q holds the token", k)
		}
	}
	if ttl := c.TTL(ctx, "session:staff:"+sess.ID).Val(); ttl <= 0 || ttl > 10*time.Minute {
		t.Errorf("TTL(session key) = %v, want ≤ 10m", ttl)
	}
	// Another kind never accepts it, and the other way round.
	wantUnauthenticated(t, s, model.SessionMP, sess.Token, "with a staff token")
	mp := mustCreate(t, s, model.SessionMP, 42)
	wantUnauthenticated(t, s, model.SessionStaff, mp.Token, "with an mp token")
	if _, err := s.SessionByToken(ctx, model.SessionMP, mp.Token); err != nil {
		t.Errorf("SessionByToken(mp) = %v", err)
	}
}

func TestSessionsRejectMalformedTokens(t *testing.T) {
	s, _, _, _ := mustSessions(t)
	good := mustCreate(t, s, model.SessionMP, 1).Token
	for _, tok := range []string{"", "x", strings.Repeat("a", 42), strings.Repeat("a", 44), good[:42] + "+",
		good[:42] + "=", "session:mp:*", strings.Repeat("a", 43)} {
		wantUnauthenticated(t, s, model.SessionMP, tok, "with "+tok)
	}
}

func TestSessionsExpire(t *testing.T) {
	s, _, m, clk := mustSessions(t)
	sess := mustCreate(t, s, model.SessionStaff, 7)
	// The injected clock alone ends it, even while Redis still holds the key.
	clk.Add(10*time.Minute + time.Second)
	wantUnauthenticated(t, s, model.SessionStaff, sess.Token, "after its lifetime (clock)")
	if m == nil {
		return
	}
	// And Redis drops the key at its TTL.
	clk.Add(-time.Hour)
	m.FastForward(10*time.Minute + time.Second)
	wantUnauthenticated(t, s, model.SessionStaff, sess.Token, "after its TTL (redis)")
}

func TestSessionsRevoke(t *testing.T) {
	s, _, _, _ := mustSessions(t)
	ctx := context.Background()
	a := mustCreate(t, s, model.SessionStaff, 9)
	b := mustCreate(t, s, model.SessionStaff, 9)
	c := mustCreate(t, s, model.SessionStaff, 9)
	other := mustCreate(t, s, model.SessionStaff, 10)
	mp := mustCreate(t, s, model.SessionMP, 9)

	if err := s.RevokeSession(ctx, model.SessionStaff, a.ID); err != nil {
		t.Fatalf("RevokeSession() = %v", err)
	}
	wantUnauthenticated(t, s, model.SessionStaff, a.Token, "after RevokeSession")
	for _, id := range []string{a.ID, "nope", strings.Repeat("z", 64)} {
		if err := s.RevokeSession(ctx, model.SessionStaff, id); err != nil {
			t.Errorf("RevokeSession(%q) again = %v, want nil", id, err)
		}
	}

	if err := s.RevokeSubjectSessions(ctx, model.SessionStaff, 9, c.ID); err != nil {
		t.Fatalf("RevokeSubjectSessions() = %v", err)
	}
	wantUnauthenticated(t, s, model.SessionStaff, b.Token, "after RevokeSubjectSessions")
	for _, keep := range []model.Session{c, other, mp} {
		if _, err := s.SessionByToken(ctx, keep.Kind, keep.Token); err != nil {
			t.Errorf("SessionByToken(%s %d) after revoking subject 9 except c = %v, want alive", keep.Kind, keep.SubjectID, err)
		}
	}
	if err := s.RevokeSubjectSessions(ctx, model.SessionStaff, 9, ""); err != nil {
		t.Fatal(err)
	}
	wantUnauthenticated(t, s, model.SessionStaff, c.Token, "after RevokeSubjectSessions with no exception")
	if err := s.RevokeSubjectSessions(ctx, model.SessionStaff, 12345, ""); err != nil {
		t.Errorf("RevokeSubjectSessions(no sessions) = %v", err)
	}
}

func TestSessionsInjectedRandAndBadInput(t *testing.T) {
	c, _ := mustRedis(t)
	ctx := context.Background()
	s := cache.NewSessions(c, cache.SessionOptions{MPTTL: time.Hour, StaffTTL: time.Hour, Rand: bytes.NewReader(make([]byte, 32))})
	sess, err := s.CreateSession(ctx, model.SessionMP, 1)
	if err != nil || sess.Token != strings.Repeat("A", 43) {
		t.Fatalf("CreateSession() with zero rand = %q, %v", sess.Token, err)
	}
	if _, err := s.CreateSession(ctx, model.SessionMP, 1); err == nil {
		t.Error("CreateSession() with exhausted rand = nil error")
	}
	if _, err := s.CreateSession(ctx, "admin", 1); err == nil {
		t.Error("CreateSession(unknown kind) = nil error")
	}
	if _, err := s.CreateSession(ctx, model.SessionMP, 0); err == nil {
		t.Error("CreateSession(subject 0) = nil error")
	}
}

func TestSessionsRedisDown(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	s := cache.NewSessions(c, cache.SessionOptions{MPTTL: time.Hour, StaffTTL: time.Hour})
	ctx := context.Background()
	sess := mustCreate(t, s, model.SessionMP, 1)
	m.Close()
	if _, err := s.SessionByToken(ctx, model.SessionMP, sess.Token); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("SessionByToken() with Redis down = %v, want ErrUnavailable", err)
	}
	if _, err := s.CreateSession(ctx, model.SessionMP, 1); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("CreateSession() with Redis down = %v, want ErrUnavailable", err)
	}
	if err := s.RevokeSubjectSessions(ctx, model.SessionMP, 1, ""); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("RevokeSubjectSessions() with Redis down = %v, want ErrUnavailable", err)
	}
}

// FuzzSessionByToken feeds arbitrary bearer tokens to the lookup: each is
// unknown (ErrUnauthenticated), never an error of another kind or a panic.
func FuzzSessionByToken(f *testing.F) {
	m := miniredis.RunT(f)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	f.Cleanup(func() { c.Close() })
	s := cache.NewSessions(c, cache.SessionOptions{MPTTL: time.Hour, StaffTTL: time.Hour})
	good := mustCreate(f, s, model.SessionStaff, 1).Token
	for _, seed := range []string{"", good[:42], good[:42] + "=", strings.Repeat("_", 43), "*", "session:staff:*", "\x00\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		for _, kind := range []model.SessionKind{model.SessionMP, model.SessionStaff} {
			sess, err := s.SessionByToken(context.Background(), kind, token)
			if token == good && kind == model.SessionStaff {
				if err != nil || sess.SubjectID != 1 {
					t.Fatalf("SessionByToken(good) = %+v, %v", sess, err)
				}
				continue
			}
			if !errors.Is(err, model.ErrUnauthenticated) {
				t.Fatalf("SessionByToken(%s, %q) = %+v, %v, want ErrUnauthenticated", kind, token, sess, err)
			}
		}
	})
}

// Mini Program sessions may be kept in process for MPCache: a revocation
// through this copy ends the session at once, one through another copy
// within MPCache, and nothing outlives the session. Staff sessions are
// always read from Redis.
func TestSessionsMPCache(t *testing.T) {
	c, _ := mustRedis(t)
	clk := testutil.NewClock(time.Now())
	opts := cache.SessionOptions{MPTTL: time.Hour, StaffTTL: time.Hour, MPCache: 2 * time.Second, Now: clk.Now}
	a, b := cache.NewSessions(c, opts), cache.NewSessions(c, opts)
	ctx := context.Background()

	mp := mustCreate(t, a, model.SessionMP, 7)
	if got, err := b.SessionByToken(ctx, model.SessionMP, mp.Token); err != nil || got.SubjectID != 7 {
		t.Fatalf("copy B reads the session = %+v, %v", got, err)
	}
	if _, err := a.SessionByToken(ctx, model.SessionMP, mp.Token); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeSession(ctx, model.SessionMP, mp.ID); err != nil {
		t.Fatal(err)
	}
	wantUnauthenticated(t, a, model.SessionMP, mp.Token, "revoked through this copy")
	if _, err := b.SessionByToken(ctx, model.SessionMP, mp.Token); err != nil {
		t.Errorf("copy B within its cache period = %v, want the cached session", err)
	}
	clk.Add(2 * time.Second)
	wantUnauthenticated(t, b, model.SessionMP, mp.Token, "revoked elsewhere, after the cache period")

	staff := mustCreate(t, a, model.SessionStaff, 8)
	if _, err := b.SessionByToken(ctx, model.SessionStaff, staff.Token); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeSubjectSessions(ctx, model.SessionStaff, 8, ""); err != nil {
		t.Fatal(err)
	}
	wantUnauthenticated(t, b, model.SessionStaff, staff.Token, "staff, revoked elsewhere (never cached)")

	// A session cached just before it expires is not served after.
	short := cache.NewSessions(c, cache.SessionOptions{MPTTL: time.Second, StaffTTL: time.Hour, MPCache: time.Minute, Now: clk.Now})
	s := mustCreate(t, short, model.SessionMP, 9)
	if _, err := short.SessionByToken(ctx, model.SessionMP, s.Token); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	wantUnauthenticated(t, short, model.SessionMP, s.Token, "expired while cached")

	// Ending every session of a subject through this copy drops them here.
	m1, m2 := mustCreate(t, a, model.SessionMP, 10), mustCreate(t, a, model.SessionMP, 10)
	for _, m := range []model.Session{m1, m2} {
		if _, err := a.SessionByToken(ctx, model.SessionMP, m.Token); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.RevokeSubjectSessions(ctx, model.SessionMP, 10, m2.ID); err != nil {
		t.Fatal(err)
	}
	wantUnauthenticated(t, a, model.SessionMP, m1.Token, "one of the subject's, revoked through this copy")
	if _, err := a.SessionByToken(ctx, model.SessionMP, m2.Token); err != nil {
		t.Errorf("the kept session = %v", err)
	}
}
