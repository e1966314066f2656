package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"wanjia/cache"
	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/auth"
	"wanjia/service/protect"
	"wanjia/store"
	"wanjia/store/storetest"
)

// fakeMP is a MiniProgram with function fields.
type fakeMP struct {
	code2Session func(ctx context.Context, code string) (model.WeChatSession, error)
	phoneNumber  func(ctx context.Context, code string) (string, error)
}

func (f *fakeMP) Code2Session(ctx context.Context, code string) (model.WeChatSession, error) {
	return f.code2Session(ctx, code)
}

func (f *fakeMP) PhoneNumber(ctx context.Context, code string) (string, error) {
	return f.phoneNumber(ctx, code)
}

const sessionKey = "SECRET-session-key-never-logged"

func newFakeMP() *fakeMP {
	return &fakeMP{
		code2Session: func(_ context.Context, code string) (model.WeChatSession, error) {
			if code == "bad" {
				return model.WeChatSession{}, model.Coded(model.ErrInvalid, "invalid_code", "登录凭证无效")
			}
			if code == "down" {
				return model.WeChatSession{}, errors.New("dial tcp: refused")
			}
			return model.WeChatSession{OpenID: "o_" + code, SessionKey: sessionKey}, nil
		},
		phoneNumber: func(_ context.Context, code string) (string, error) { return "+86 13812340000", nil },
	}
}

type env struct {
	auth     *auth.Auth
	db       *store.DB
	users    *store.Users
	staff    *store.Staff
	audit    *store.Audit
	sessions *cache.Sessions
	keyring  *protect.Keyring
	mp       *fakeMP
	clock    *testutil.Clock
	logs     *bytes.Buffer
	redis    *miniredis.Miniredis
}

func mustEnv(tb testing.TB) *env {
	tb.Helper()
	db := storetest.Dialects()[0].Open(tb) // SQLite; store tests cover the other dialects
	m := miniredis.RunT(tb)
	rc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tb.Cleanup(func() { rc.Close() })
	clk := testutil.NewClock(time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC))
	kr, err := protect.NewKeyring(bytes.Repeat([]byte{7}, protect.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{
		db: db, users: store.NewUsers(db), staff: store.NewStaff(db), audit: store.NewAudit(db),
		sessions: cache.NewSessions(rc, cache.SessionOptions{MPTTL: time.Hour, StaffTTL: time.Hour, Now: clk.Now}),
		keyring:  kr, mp: newFakeMP(), clock: clk, logs: &bytes.Buffer{}, redis: m,
	}
	e.auth, err = auth.New(auth.Deps{
		Users: e.users, Staff: e.staff, Audit: e.audit, Sessions: e.sessions, Tx: db, MiniProgram: e.mp, Sealer: kr,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: clk.Now,
		BcryptCost: bcrypt.MinCost, LockoutFailures: 5, LockoutDuration: 15 * time.Minute,
		TOTP: store.NewTOTP(db), TOTPKeys: kr,
	})
	if err != nil {
		tb.Fatalf("auth.New() = %v", err)
	}
	return e
}

func mustStaff(tb testing.TB, e *env, username, password string, roles ...model.Role) model.Staff {
	tb.Helper()
	s, err := e.auth.CreateStaff(context.Background(), auth.NewStaff{Username: username, Password: password, Roles: roles})
	if err != nil {
		tb.Fatalf("CreateStaff(%s) = %v", username, err)
	}
	return s
}

// as returns ctx acting as the staff member with session sess.
func as(tb testing.TB, e *env, s model.Staff, sess model.Session) context.Context {
	tb.Helper()
	p, err := e.auth.AuthenticateStaff(context.Background(), sess.Token)
	if err != nil {
		tb.Fatalf("AuthenticateStaff(%s) = %v", s.Username, err)
	}
	return model.WithRequestInfo(model.WithPrincipal(context.Background(), p), model.RequestInfo{IP: "192.0.2.7", RequestID: "req-1"})
}

func mustLogin(tb testing.TB, e *env, username, password string) (context.Context, model.Session) {
	tb.Helper()
	sess, st, err := e.auth.LoginStaff(context.Background(), username, password, "192.0.2.7")
	if err != nil {
		tb.Fatalf("LoginStaff(%s) = %v", username, err)
	}
	return as(tb, e, st, sess), sess
}

const pw = "Correct horse 1"

func TestLoginStaff(t *testing.T) {
	type step struct {
		username, password string
		advance            time.Duration
		want               error // nil, ErrUnauthenticated or ErrRateLimited
		outcome            string
	}
	wrong := func(n int) []step {
		s := make([]step, n)
		for i := range s {
			s[i] = step{"alice", "wrong password 1", 0, model.ErrUnauthenticated, model.LoginBadPassword}
		}
		return s
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"right password", []step{{"alice", pw, 0, nil, model.LoginOK}}},
		{"username is case-insensitive", []step{{" Alice ", pw, 0, nil, model.LoginOK}}},
		{"wrong password", []step{{"alice", "Correct horse 2", 0, model.ErrUnauthenticated, model.LoginBadPassword}}},
		{"unknown user", []step{{"mallory", pw, 0, model.ErrUnauthenticated, model.LoginUnknownUser}}},
		{"malformed username", []step{{"a b'; --", pw, 0, model.ErrUnauthenticated, model.LoginUnknownUser}}},
		{"disabled", []step{{"bob", pw, 0, model.ErrUnauthenticated, model.LoginDisabled}}},
		{"disabled with a wrong password", []step{{"bob", "nope nope 1", 0, model.ErrUnauthenticated, model.LoginBadPassword}}},
		{"locked after 5 failures, even with the right password",
			append(wrong(5), step{"alice", pw, 0, model.ErrRateLimited, model.LoginLocked})},
		{"still locked just before the end",
			append(wrong(5), step{"alice", pw, 15*time.Minute - time.Second, model.ErrRateLimited, model.LoginLocked})},
		{"lock expires",
			append(wrong(5), step{"alice", pw, 15 * time.Minute, nil, model.LoginOK})},
		{"a success clears the count",
			append(append(wrong(4), step{"alice", pw, 0, nil, model.LoginOK}), append(wrong(4), step{"alice", pw, 0, nil, model.LoginOK})...)},
		{"after the lock, 5 more failures lock again",
			append(append(wrong(5), step{"alice", "wrong password 1", 15 * time.Minute, model.ErrUnauthenticated, model.LoginBadPassword}),
				append(wrong(4), step{"alice", pw, 0, model.ErrRateLimited, model.LoginLocked})...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustEnv(t)
			alice := mustStaff(t, e, "alice", pw, model.RoleEditor)
			bob := mustStaff(t, e, "bob", pw, model.RoleEditor)
			if err := e.auth.DisableStaff(context.Background(), bob.ID); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i, s := range tt.steps {
				e.clock.Add(s.advance)
				sess, st, err := e.auth.LoginStaff(ctx, s.username, s.password, "192.0.2.1")
				if s.want == nil {
					if err != nil {
						t.Fatalf("step %d: LoginStaff(%q) = %v, want success", i, s.username, err)
					}
					if st.ID != alice.ID || sess.Token == "" || sess.Kind != model.SessionStaff {
						t.Fatalf("step %d: LoginStaff(%q) = %+v, %+v", i, s.username, sess, st)
					}
					if p, err := e.auth.AuthenticateStaff(ctx, sess.Token); err != nil || p.SubjectID != alice.ID {
						t.Fatalf("step %d: AuthenticateStaff(new token) = %+v, %v", i, p, err)
					}
				} else if !errors.Is(err, s.want) {
					t.Fatalf("step %d: LoginStaff(%q, %q) = %v, want %v", i, s.username, s.password, err, s.want)
				}
				got, _, err := e.staff.ListLoginAttempts(ctx, model.LoginFilter{}, model.Page{Limit: 1})
				if err != nil || len(got) != 1 {
					t.Fatalf("step %d: ListLoginAttempts() = %v, %v", i, got, err)
				}
				if got[0].Outcome != s.outcome || got[0].IP != "192.0.2.1" {
					t.Errorf("step %d: recorded %+v, want outcome %s from 192.0.2.1", i, got[0], s.outcome)
				}
				if s.outcome == model.LoginUnknownUser && (got[0].Username != "" || got[0].StaffID != 0) {
					t.Errorf("step %d: unknown user attempt recorded %+v, want no username kept", i, got[0])
				}
			}
		})
	}
}

func TestLoginStaffReportsMustChangePassword(t *testing.T) {
	e := mustEnv(t)
	_, err := e.auth.CreateStaff(context.Background(), auth.NewStaff{Username: "newbie", Password: pw,
		Roles: []model.Role{model.RoleReviewer}, MustChangePassword: true})
	if err != nil {
		t.Fatal(err)
	}
	sess, st, err := e.auth.LoginStaff(context.Background(), "newbie", pw, "")
	if err != nil || !st.MustChangePassword {
		t.Fatalf("LoginStaff() = %+v, %v, want MustChangePassword", st, err)
	}
	p, err := e.auth.AuthenticateStaff(context.Background(), sess.Token)
	if err != nil || !p.MustChangePassword {
		t.Fatalf("AuthenticateStaff() = %+v, %v, want MustChangePassword", p, err)
	}
	ctx := model.WithPrincipal(context.Background(), p)
	if err := e.auth.ChangePassword(ctx, pw, "Brand new pass 2"); err != nil {
		t.Fatalf("ChangePassword() = %v", err)
	}
	if p, err := e.auth.AuthenticateStaff(context.Background(), sess.Token); err != nil || p.MustChangePassword {
		t.Fatalf("AuthenticateStaff() after the change = %+v, %v, want the flag cleared and the session kept", p, err)
	}
}

func TestPasswordProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		username, password string
		ok                 bool
	}{
		{"alice", "Correct horse 1", true},
		{"alice", "abcdefghi1", true},
		{"alice", "密码很长的中文密码ab12", true},
		{"alice", "short1", false},
		{"alice", "abcdefghij", false},             // no digit
		{"alice", "1234567890", false},             // no letter
		{"alice1234567", "alice1234567", false},    // the username
		{"alice1234567", "ALICE1234567", false},    // the username, other case
		{"alice", strings.Repeat("a1", 37), false}, // 74 bytes > bcrypt's 72
		{"alice", "abcdefghi1\x00", false},         // control character
		{"alice", "abcdefghi\xff1", false},         // invalid UTF-8
		{"alice", strings.Repeat("a1", 36), true},  // 72 bytes
		{"alice", "一二三四五六七八九1", true},              // letters are Unicode letters
		{"alice", "!!!!!!!!!!1", false},            // no letter
		{"bob", "bob", false},
	}
	for _, tt := range tests {
		got := auth.PasswordProblem(tt.username, tt.password)
		if (got == "") != tt.ok {
			t.Errorf("PasswordProblem(%q, %q) = %q, want ok=%v", tt.username, tt.password, got, tt.ok)
		}
	}
}

func TestCreateStaff(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		n      auth.NewStaff
		fields []string // fields at fault, nil for success
	}{
		{"ok", auth.NewStaff{Username: "li.na", Password: pw, Roles: []model.Role{model.RoleEditor, model.RoleEditor}}, nil},
		{"upper case is folded", auth.NewStaff{Username: "Zhang_3", Password: pw, Roles: []model.Role{model.RoleAdmin}}, nil},
		{"short username", auth.NewStaff{Username: "ab", Password: pw, Roles: []model.Role{model.RoleEditor}}, []string{"username"}},
		{"long username", auth.NewStaff{Username: strings.Repeat("a", 33), Password: pw, Roles: []model.Role{model.RoleEditor}}, []string{"username"}},
		{"bad characters", auth.NewStaff{Username: "li na", Password: pw, Roles: []model.Role{model.RoleEditor}}, []string{"username"}},
		{"chinese username", auth.NewStaff{Username: "李娜娜", Password: pw, Roles: []model.Role{model.RoleEditor}}, []string{"username"}},
		{"weak password", auth.NewStaff{Username: "weak1", Password: "password", Roles: []model.Role{model.RoleEditor}}, []string{"password"}},
		{"password is the username", auth.NewStaff{Username: "samename123", Password: "samename123", Roles: []model.Role{model.RoleEditor}}, []string{"password"}},
		{"no role", auth.NewStaff{Username: "norole", Password: pw}, []string{"roles"}},
		{"unknown role", auth.NewStaff{Username: "badrole", Password: pw, Roles: []model.Role{"root"}}, []string{"roles"}},
		{"long display name", auth.NewStaff{Username: "longname", Password: pw, Roles: []model.Role{model.RoleEditor},
			DisplayName: strings.Repeat("长", 33)}, []string{"display_name"}},
		{"everything wrong", auth.NewStaff{Username: "x", Password: "y"}, []string{"password", "roles", "username"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.auth.CreateStaff(ctx, tt.n)
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("CreateStaff(%+v) = %v", tt.n.Username, err)
				}
				if got.Username != strings.ToLower(tt.n.Username) || got.DisplayName != got.Username || len(got.Roles) != 1 {
					t.Errorf("CreateStaff() = %+v", got)
				}
				if bcrypt.CompareHashAndPassword([]byte(got.PasswordHash), []byte(pw)) != nil {
					t.Error("stored hash does not match the password")
				}
				return
			}
			var me *model.Error
			if !errors.As(err, &me) || !errors.Is(err, model.ErrInvalid) {
				t.Fatalf("CreateStaff(%q) = %v, want ErrInvalid", tt.n.Username, err)
			}
			var fields []string
			for f := range me.Fields {
				fields = append(fields, f)
			}
			if diff := cmp.Diff(tt.fields, fields, cmpSortStrings); diff != "" {
				t.Errorf("CreateStaff(%q) fields (-want +got):\n%s", tt.n.Username, diff)
			}
		})
	}
	_, err := e.auth.CreateStaff(ctx, auth.NewStaff{Username: "LI.NA", Password: pw, Roles: []model.Role{model.RoleEditor}})
	if !errors.Is(err, model.ErrConflict) {
		t.Errorf("CreateStaff(taken username) = %v, want ErrConflict", err)
	}
	// The command line (no principal) is audited as "cli".
	entries, _, err := e.audit.ListAudit(ctx, model.AuditFilter{Action: "staff.create"}, model.Page{})
	if err != nil || len(entries) != 2 {
		t.Fatalf("ListAudit(staff.create) = %d entries, %v, want 2", len(entries), err)
	}
	if entries[0].Username != "cli" || entries[0].StaffID != 0 {
		t.Errorf("audit actor = %d %q, want 0 cli", entries[0].StaffID, entries[0].Username)
	}
	// A non-admin may not create staff; an admin may, and is the actor.
	mustStaff(t, e, "editor1", pw, model.RoleEditor)
	edCtx, _ := mustLogin(t, e, "editor1", pw)
	if _, err := e.auth.CreateStaff(edCtx, auth.NewStaff{Username: "sneaky", Password: pw, Roles: []model.Role{model.RoleAdmin}}); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("CreateStaff() by an editor = %v, want ErrForbidden", err)
	}
	adCtx, _ := mustLogin(t, e, "zhang_3", pw)
	if _, err := e.auth.CreateStaff(adCtx, auth.NewStaff{Username: "byadmin", Password: pw, Roles: []model.Role{model.RoleCaseworker}, StationID: 3}); err != nil {
		t.Fatalf("CreateStaff() by an admin = %v", err)
	}
	entries, _, _ = e.audit.ListAudit(ctx, model.AuditFilter{Action: "staff.create"}, model.Page{Limit: 1})
	if len(entries) != 1 || entries[0].Username != "zhang_3" || entries[0].IP != "192.0.2.7" || entries[0].RequestID != "req-1" {
		t.Errorf("audit of an admin's create = %+v, want zhang_3 from 192.0.2.7 req-1", entries)
	}
}

var cmpSortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })

func TestUpdateStaffRevokesAndAudits(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	mustStaff(t, e, "admin", pw, model.RoleAdmin)
	target := mustStaff(t, e, "target", pw, model.RoleEditor)
	adCtx, adSess := mustLogin(t, e, "admin", pw)
	_, tSess := mustLogin(t, e, "target", pw)
	_, tSess2 := mustLogin(t, e, "target", pw)

	// A role change keeps the sessions and applies at the next request.
	roles := []model.Role{model.RoleReviewer, model.RoleFairManager}
	if _, err := e.auth.UpdateStaff(adCtx, target.ID, auth.StaffUpdate{Roles: &roles}); err != nil {
		t.Fatalf("UpdateStaff(roles) = %v", err)
	}
	p, err := e.auth.AuthenticateStaff(ctx, tSess.Token)
	if err != nil || !p.HasRole(model.RoleReviewer) || p.HasRole(model.RoleEditor) {
		t.Fatalf("AuthenticateStaff() after the role change = %+v, %v", p, err)
	}
	// A password reset revokes every session and forces a change.
	newPw := "Reset pass 99"
	got, err := e.auth.UpdateStaff(adCtx, target.ID, auth.StaffUpdate{Password: &newPw})
	if err != nil || !got.MustChangePassword {
		t.Fatalf("UpdateStaff(password) = %+v, %v", got, err)
	}
	for _, s := range []model.Session{tSess, tSess2} {
		if _, err := e.auth.AuthenticateStaff(ctx, s.Token); !errors.Is(err, model.ErrUnauthenticated) {
			t.Errorf("AuthenticateStaff() after a password reset = %v, want ErrUnauthenticated", err)
		}
	}
	if _, _, err := e.auth.LoginStaff(ctx, "target", newPw, ""); err != nil {
		t.Fatalf("LoginStaff(new password) = %v", err)
	}
	// Disabling revokes at once.
	sess, _, err := e.auth.LoginStaff(ctx, "target", newPw, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.auth.DisableStaff(adCtx, target.ID); err != nil {
		t.Fatalf("DisableStaff() = %v", err)
	}
	if _, err := e.auth.AuthenticateStaff(ctx, sess.Token); !errors.Is(err, model.ErrUnauthenticated) {
		t.Errorf("AuthenticateStaff() after DisableStaff = %v, want ErrUnauthenticated", err)
	}
	// Even a session Redis failed to drop is refused while disabled.
	orphan, err := e.sessions.CreateSession(ctx, model.SessionStaff, target.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.AuthenticateStaff(ctx, orphan.Token); !errors.Is(err, model.ErrUnauthenticated) {
		t.Errorf("AuthenticateStaff(surviving session of a disabled account) = %v, want ErrUnauthenticated", err)
	}
	// An admin cannot lock themself out.
	yes := true
	adminID := model.Principal{}
	if p, ok := model.StaffFrom(adCtx); ok {
		adminID = p
	}
	if _, err := e.auth.UpdateStaff(adCtx, adminID.SubjectID, auth.StaffUpdate{Disabled: &yes}); !errors.Is(err, model.ErrConflict) {
		t.Errorf("UpdateStaff(disable self) = %v, want ErrConflict", err)
	}
	editorOnly := []model.Role{model.RoleEditor}
	if _, err := e.auth.UpdateStaff(adCtx, adminID.SubjectID, auth.StaffUpdate{Roles: &editorOnly}); !errors.Is(err, model.ErrConflict) {
		t.Errorf("UpdateStaff(drop own admin role) = %v, want ErrConflict", err)
	}
	if _, err := e.auth.AuthenticateStaff(ctx, adSess.Token); err != nil {
		t.Errorf("admin session after refused self-updates = %v", err)
	}
	if _, err := e.auth.UpdateStaff(adCtx, 999999, auth.StaffUpdate{Disabled: &yes}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("UpdateStaff(missing) = %v, want ErrNotFound", err)
	}

	// The audit log has each write with only what changed, and never a
	// password or a hash.
	entries, _, err := e.auth.ListAudit(adCtx, model.AuditFilter{TargetType: "staff", TargetID: itoa(target.ID)}, model.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action)
		s := string(en.Summary)
		if strings.Contains(s, newPw) || strings.Contains(s, pw) || strings.Contains(s, "$2a$") || strings.Contains(strings.ToLower(s), "hash") {
			t.Errorf("audit summary of %s leaks a secret: %s", en.Action, s)
		}
	}
	if diff := cmp.Diff([]string{"staff.disable", "staff.update", "staff.update", "staff.create"}, actions); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
	wantRoles := `{"after":{"roles":["reviewer","fair_manager"]},"before":{"roles":["editor"]}}`
	if got := string(entries[2].Summary); got != wantRoles {
		t.Errorf("role change summary = %s, want %s", got, wantRoles)
	}
	wantReset := `{"after":{"must_change_password":true,"password_reset":true},"before":{"must_change_password":false,"password_reset":false}}`
	if got := string(entries[1].Summary); got != wantReset {
		t.Errorf("password reset summary = %s, want %s", got, wantReset)
	}
	// Only admins read the audit log and the staff list.
	mustStaff(t, e, "reader", pw, model.RoleReviewer)
	rdCtx, _ := mustLogin(t, e, "reader", pw)
	if _, _, err := e.auth.ListAudit(rdCtx, model.AuditFilter{}, model.Page{}); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("ListAudit() by a reviewer = %v, want ErrForbidden", err)
	}
	if _, _, err := e.auth.ListStaff(rdCtx, model.Page{}); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("ListStaff() by a reviewer = %v, want ErrForbidden", err)
	}
	if _, _, err := e.auth.ListLogins(rdCtx, model.LoginFilter{}, model.Page{}); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("ListLogins() by a reviewer = %v, want ErrForbidden", err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestChangePassword(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	mustStaff(t, e, "carol", pw, model.RoleEditor)
	cur, curSess := mustLogin(t, e, "carol", pw)
	_, other := mustLogin(t, e, "carol", pw)
	tests := []struct {
		name, old, new string
		field          string
	}{
		{"wrong current password", "Wrong pass 1", "Another pass 2", "old_password"},
		{"weak new password", pw, "weak", "new_password"},
		{"new is the username", pw, "carol", "new_password"},
		{"same as before", pw, pw, "new_password"},
	}
	for _, tt := range tests {
		var me *model.Error
		err := e.auth.ChangePassword(cur, tt.old, tt.new)
		if !errors.As(err, &me) || me.Fields[tt.field] == "" {
			t.Errorf("ChangePassword(%s) = %v, want ErrInvalid on %s", tt.name, err, tt.field)
		}
	}
	if err := e.auth.ChangePassword(cur, pw, "Another pass 2"); err != nil {
		t.Fatalf("ChangePassword() = %v", err)
	}
	if _, err := e.auth.AuthenticateStaff(ctx, other.Token); !errors.Is(err, model.ErrUnauthenticated) {
		t.Errorf("other session after ChangePassword = %v, want ErrUnauthenticated", err)
	}
	if _, err := e.auth.AuthenticateStaff(ctx, curSess.Token); err != nil {
		t.Errorf("current session after ChangePassword = %v, want kept", err)
	}
	if _, _, err := e.auth.LoginStaff(ctx, "carol", "Another pass 2", ""); err != nil {
		t.Errorf("LoginStaff(new password) = %v", err)
	}
	if err := e.auth.ChangePassword(ctx, pw, "Another pass 3"); !errors.Is(err, model.ErrUnauthenticated) {
		t.Errorf("ChangePassword() without a principal = %v, want ErrUnauthenticated", err)
	}
	// Logout ends the current session.
	if err := e.auth.Logout(cur); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.AuthenticateStaff(ctx, curSess.Token); !errors.Is(err, model.ErrUnauthenticated) {
		t.Errorf("session after Logout = %v, want ErrUnauthenticated", err)
	}
}

func TestSummarizeExcludesSecrets(t *testing.T) {
	t.Parallel()
	type account struct {
		Username     string `json:"username"`
		PasswordHash string `json:"password_hash"`
		Phone        string `json:"phone"`
		Roles        []string
	}
	tests := []struct {
		name          string
		before, after any
		want          string
	}{
		{"only changes", map[string]any{"a": 1, "b": "x"}, map[string]any{"a": 2, "b": "x"}, `{"after":{"a":2},"before":{"a":1}}`},
		{"creation", nil, map[string]any{"a": 1}, `{"after":{"a":1}}`},
		{"deletion", map[string]any{"a": 1}, nil, `{"before":{"a":1}}`},
		{"no change", map[string]any{"a": 1}, map[string]any{"a": 1}, `{}`},
		{"secrets dropped", map[string]any{"password": "hunter22", "token": "t", "phone": "13812340000", "n": 1},
			map[string]any{"password": "hunter23", "token": "u", "phone": "13812340001", "n": 2}, `{"after":{"n":2},"before":{"n":1}}`},
		{"struct fields", account{Username: "a", PasswordHash: "$2a$x", Phone: "138"}, account{Username: "b", PasswordHash: "$2a$y", Phone: "139"},
			`{"after":{"username":"b"},"before":{"username":"a"}}`},
		{"model.Staff never leaks its hash", model.Staff{Username: "a", PasswordHash: "$2a$x"}, model.Staff{Username: "a", PasswordHash: "$2a$y"}, `{}`},
		{"nested", map[string]any{"contact": map[string]any{"Phone": "1"}, "x": map[string]any{"email": "a@b", "k": 1}},
			map[string]any{"x": map[string]any{"email": "c@d", "k": 2}}, `{"after":{"x":{"k":2}},"before":{"x":{"k":1}}}`},
		{"booleans are kept", map[string]any{"password_reset": false}, map[string]any{"password_reset": true},
			`{"after":{"password_reset":true},"before":{"password_reset":false}}`},
	}
	for _, tt := range tests {
		got, err := auth.Summarize(tt.before, tt.after)
		if err != nil {
			t.Fatalf("Summarize(%s) = %v", tt.name, err)
		}
		if string(got) != tt.want {
			t.Errorf("Summarize(%s) = %s, want %s", tt.name, got, tt.want)
		}
	}
	if _, err := auth.Summarize("a string", nil); err == nil {
		t.Error("Summarize(a string) = nil error, want an error")
	}
}

func TestLoginMiniProgram(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	sess, u, err := e.auth.LoginMiniProgram(ctx, "abc")
	if err != nil {
		t.Fatalf("LoginMiniProgram() = %v", err)
	}
	if u.OpenID != "o_abc" || sess.Kind != model.SessionMP || sess.SubjectID != u.ID || sess.Token == "" {
		t.Fatalf("LoginMiniProgram() = %+v, %+v", sess, u)
	}
	sess2, u2, err := e.auth.LoginMiniProgram(ctx, "abc")
	if err != nil || u2.ID != u.ID || sess2.Token == sess.Token {
		t.Fatalf("second LoginMiniProgram() = %+v, %+v, %v, want the same user and a new session", sess2, u2, err)
	}
	p, err := e.auth.AuthenticateMP(ctx, sess.Token)
	if err != nil || p.SubjectID != u.ID || p.Kind != model.SessionMP {
		t.Fatalf("AuthenticateMP() = %+v, %v", p, err)
	}
	if _, err := e.auth.AuthenticateStaff(ctx, sess.Token); !errors.Is(err, model.ErrUnauthenticated) {
		t.Errorf("AuthenticateStaff(mp token) = %v, want ErrUnauthenticated", err)
	}
	tests := []struct {
		code string
		want error
	}{
		{"", model.ErrInvalid},
		{"   ", model.ErrInvalid},
		{strings.Repeat("a", 129), model.ErrInvalid},
		{"a\nb", model.ErrInvalid},
		{"bad", model.ErrInvalid},
		{"down", model.ErrUpstream},
	}
	for _, tt := range tests {
		if _, _, err := e.auth.LoginMiniProgram(ctx, tt.code); !errors.Is(err, tt.want) {
			t.Errorf("LoginMiniProgram(%q) = %v, want %v", tt.code, err, tt.want)
		}
	}
	if strings.Contains(e.logs.String(), sessionKey) {
		t.Errorf("logs hold the session_key: %s", e.logs)
	}
	keys := e.redis.Keys()
	for _, k := range keys {
		if v, err := e.redis.Get(k); err == nil && strings.Contains(v, sessionKey) {
			t.Errorf("Redis key %s holds the session_key", k)
		}
	}
}

func TestBindPhoneAndProfile(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	_, u, err := e.auth.LoginMiniProgram(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	masked, err := e.auth.BindPhone(ctx, u.ID, "phonecode")
	if err != nil || masked != "138****0000" {
		t.Fatalf("BindPhone() = %q, %v, want 138****0000", masked, err)
	}
	got, err := e.auth.Me(ctx, u.ID)
	if err != nil || !got.HasPhone {
		t.Fatalf("Me() = %+v, %v, want HasPhone", got, err)
	}
	if strings.Contains(got.PhoneSealed, "13812340000") || strings.Contains(got.PhoneSealed, "1234") {
		t.Errorf("PhoneSealed %q holds the number", got.PhoneSealed)
	}
	if plain, err := e.keyring.Open(got.PhoneSealed, "users.phone:"+itoa(u.ID)); err != nil || plain != "13812340000" {
		t.Errorf("Open(PhoneSealed) = %q, %v, want the normalized number", plain, err)
	}
	if got.PhoneIndex != e.keyring.BlindIndex("13812340000", "users.phone") {
		t.Errorf("PhoneIndex = %q, want the blind index of the normalized number", got.PhoneIndex)
	}
	e.mp.phoneNumber = func(context.Context, string) (string, error) {
		return "", model.Coded(model.ErrInvalid, "invalid_code", "手机号授权已失效")
	}
	if _, err := e.auth.BindPhone(ctx, u.ID, "x"); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("BindPhone(refused code) = %v, want ErrInvalid", err)
	}
	if _, err := e.auth.BindPhone(ctx, u.ID, ""); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("BindPhone(\"\") = %v, want ErrInvalid", err)
	}

	str := func(s string) *string { return &s }
	profile := []struct {
		name   string
		p      auth.ProfileUpdate
		fields []string
	}{
		{"nickname", auth.ProfileUpdate{Nickname: str("  小王  ")}, nil},
		{"avatar", auth.ProfileUpdate{AvatarURL: str("https://thirdwx.qlogo.cn/mmopen/a/132")}, nil},
		{"clear avatar", auth.ProfileUpdate{AvatarURL: str("")}, nil},
		{"32 characters", auth.ProfileUpdate{Nickname: str(strings.Repeat("花", 32))}, nil},
		{"33 characters", auth.ProfileUpdate{Nickname: str(strings.Repeat("花", 33))}, []string{"nickname"}},
		{"control character", auth.ProfileUpdate{Nickname: str("a\u0007b")}, []string{"nickname"}},
		{"http avatar", auth.ProfileUpdate{AvatarURL: str("http://example.org/a.png")}, []string{"avatar_url"}},
		{"javascript avatar", auth.ProfileUpdate{AvatarURL: str("javascript:alert(1)")}, []string{"avatar_url"}},
		{"no host", auth.ProfileUpdate{AvatarURL: str("https:///a.png")}, []string{"avatar_url"}},
		{"userinfo", auth.ProfileUpdate{AvatarURL: str("https://u:p@example.org/a.png")}, []string{"avatar_url"}},
		{"long avatar", auth.ProfileUpdate{AvatarURL: str("https://example.org/" + strings.Repeat("a", 500))}, []string{"avatar_url"}},
		{"both wrong", auth.ProfileUpdate{Nickname: str(strings.Repeat("x", 40)), AvatarURL: str("ftp://x")}, []string{"avatar_url", "nickname"}},
	}
	for _, tt := range profile {
		got, err := e.auth.UpdateMe(ctx, u.ID, tt.p)
		if tt.fields == nil {
			if err != nil {
				t.Errorf("UpdateMe(%s) = %v", tt.name, err)
				continue
			}
			if tt.p.Nickname != nil && got.Nickname != strings.TrimSpace(*tt.p.Nickname) {
				t.Errorf("UpdateMe(%s) nickname = %q", tt.name, got.Nickname)
			}
			if tt.p.AvatarURL != nil && got.AvatarURL != *tt.p.AvatarURL {
				t.Errorf("UpdateMe(%s) avatar = %q", tt.name, got.AvatarURL)
			}
			continue
		}
		var me *model.Error
		if !errors.As(err, &me) {
			t.Errorf("UpdateMe(%s) = %v, want ErrInvalid", tt.name, err)
			continue
		}
		var fields []string
		for f := range me.Fields {
			fields = append(fields, f)
		}
		if diff := cmp.Diff(tt.fields, fields, cmpSortStrings); diff != "" {
			t.Errorf("UpdateMe(%s) fields (-want +got):\n%s", tt.name, diff)
		}
	}
	got, _ = e.auth.Me(ctx, u.ID)
	if got.Nickname != strings.Repeat("花", 32) {
		t.Errorf("Me() nickname = %q after the updates", got.Nickname)
	}
	if _, err := e.auth.Me(ctx, 999999); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Me(missing) = %v, want ErrNotFound", err)
	}
}

func TestNewRequiresDeps(t *testing.T) {
	t.Parallel()
	if _, err := auth.New(auth.Deps{}); err == nil {
		t.Error("New(no deps) = nil error")
	}
}
