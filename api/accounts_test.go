package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"wanjia/api"
	"wanjia/cache"
	"wanjia/model"
	"wanjia/service/auth"
	"wanjia/service/protect"
	"wanjia/store"
	"wanjia/store/storetest"
)

// fakeMP stands in for WeChat: code "c-<name>" is the user o-<name>.
type fakeMP struct{}

func (fakeMP) Code2Session(_ context.Context, code string) (model.WeChatSession, error) {
	name, ok := strings.CutPrefix(code, "c-")
	if !ok {
		return model.WeChatSession{}, model.Coded(model.ErrInvalid, "invalid_code", "登录凭证无效")
	}
	return model.WeChatSession{OpenID: "o-" + name, SessionKey: "sk"}, nil
}

func (fakeMP) PhoneNumber(context.Context, string) (string, error) { return "13812340000", nil }

type accountsEnv struct {
	h    http.Handler
	auth *auth.Auth
	db   *store.DB
}

const staffPW = "Good password 1"

func mustAccounts(tb testing.TB, d api.Deps) *accountsEnv {
	tb.Helper()
	db := storetest.Dialects()[0].Open(tb)
	m := miniredis.RunT(tb)
	rc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tb.Cleanup(func() { rc.Close() })
	kr, err := protect.NewKeyring(bytes.Repeat([]byte{1}, protect.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	a, err := auth.New(auth.Deps{
		Users: store.NewUsers(db), Staff: store.NewStaff(db), Audit: store.NewAudit(db),
		Sessions: cache.NewSessions(rc, cache.SessionOptions{MPTTL: time.Hour, StaffTTL: time.Hour}),
		Tx:       db, MiniProgram: fakeMP{}, Sealer: kr, BcryptCost: bcrypt.MinCost,
		TOTP: store.NewTOTP(db), TOTPKeys: kr,
	})
	if err != nil {
		tb.Fatal(err)
	}
	d.Redis, d.DB, d.Accounts = rc, db, a
	if d.TOTP == nil {
		d.TOTP = a
	}
	if d.RatePerIP == 0 {
		d.RatePerIP = 1000
	}
	return &accountsEnv{h: mustServer(tb, d), auth: a, db: db}
}

func (e *accountsEnv) mustStaff(tb testing.TB, username string, mustChange bool, roles ...model.Role) model.Staff {
	tb.Helper()
	s, err := e.auth.CreateStaff(context.Background(), auth.NewStaff{Username: username, Password: staffPW, Roles: roles,
		MustChangePassword: mustChange})
	if err != nil {
		tb.Fatalf("CreateStaff(%s) = %v", username, err)
	}
	return s
}

type loginBody struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
	Staff     struct {
		ID                 int64    `json:"id"`
		Username           string   `json:"username"`
		Roles              []string `json:"roles"`
		MustChangePassword bool     `json:"must_change_password"`
	} `json:"staff"`
	User *struct {
		ID        int64  `json:"id"`
		Nickname  string `json:"nickname"`
		AvatarURL string `json:"avatar_url"`
		HasPhone  bool   `json:"has_phone"`
	} `json:"user"`
}

func mustJSON[T any](tb testing.TB, body []byte) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		tb.Fatalf("body %s: %v", body, err)
	}
	return v
}

func (e *accountsEnv) mustLogin(tb testing.TB, username string) loginBody {
	tb.Helper()
	w := do(e.h, "POST", "/api/admin/login", `{"username":"`+username+`","password":"`+staffPW+`"}`)
	if w.Code != 200 {
		tb.Fatalf("POST /api/admin/login %s = %d %s", username, w.Code, w.Body)
	}
	return mustJSON[loginBody](tb, w.Body.Bytes())
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func wantStatus(tb testing.TB, e *accountsEnv, method, path, body, token string, status int, code string) []byte {
	tb.Helper()
	var hdr []string
	if token != "" {
		hdr = bearer(token)
	}
	w := do(e.h, method, path, body, hdr...)
	if w.Code != status {
		tb.Fatalf("%s %s = %d %s, want %d", method, path, w.Code, w.Body, status)
	}
	if code != "" {
		if got := decodeEnvelope(tb, w).Error.Code; got != code {
			tb.Fatalf("%s %s code = %q, want %q", method, path, got, code)
		}
	}
	return w.Body.Bytes()
}

func TestMPLoginAndProfile(t *testing.T) {
	e := mustAccounts(t, api.Deps{})
	w := do(e.h, "POST", "/api/mp/login", `{"code":"c-lina"}`)
	if w.Code != 200 {
		t.Fatalf("POST /api/mp/login = %d %s", w.Code, w.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	if diff := cmp.Diff([]string{"expires_at", "token", "user"}, keys, cmpSorted); diff != "" {
		t.Errorf("login answer keys (-want +got):\n%s", diff)
	}
	login := mustJSON[loginBody](t, w.Body.Bytes())
	exp, err := time.Parse(time.RFC3339, login.ExpiresAt)
	if err != nil || !strings.HasSuffix(login.ExpiresAt, "+08:00") || exp.Before(time.Now()) {
		t.Errorf("expires_at = %q (%v), want a future RFC 3339 time with +08:00", login.ExpiresAt, err)
	}
	if login.User == nil || login.User.ID == 0 || login.User.HasPhone {
		t.Fatalf("login user = %+v", login.User)
	}
	var user map[string]any
	if err := json.Unmarshal(raw["user"], &user); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": float64(login.User.ID), "nickname": "", "avatar_url": "", "has_phone": false}
	if diff := cmp.Diff(want, user); diff != "" {
		t.Errorf("login user (-want +got):\n%s", diff)
	}

	tok := login.Token
	wantStatus(t, e, "GET", "/api/mp/me", "", tok, 200, "")
	body := wantStatus(t, e, "PATCH", "/api/mp/me", `{"nickname":"李娜","avatar_url":"https://img.example.org/a.png"}`, tok, 200, "")
	if got := mustJSON[map[string]any](t, body); got["nickname"] != "李娜" || got["avatar_url"] != "https://img.example.org/a.png" {
		t.Errorf("PATCH /api/mp/me = %s", body)
	}
	body = wantStatus(t, e, "PATCH", "/api/mp/me", `{"avatar_url":"http://insecure.example.org/a.png"}`, tok, 400, "invalid")
	if env := mustJSON[envelope](t, body); env.Error.Fields["avatar_url"] == "" {
		t.Errorf("PATCH /api/mp/me with http avatar = %s, want a field error", body)
	}
	body = wantStatus(t, e, "POST", "/api/mp/phone", `{"code":"p1"}`, tok, 200, "")
	if diff := cmp.Diff(map[string]any{"phone_masked": "138****0000"}, mustJSON[map[string]any](t, body)); diff != "" {
		t.Errorf("POST /api/mp/phone (-want +got):\n%s", diff)
	}
	body = wantStatus(t, e, "GET", "/api/mp/me", "", tok, 200, "")
	if got := mustJSON[map[string]any](t, body); got["has_phone"] != true || strings.Contains(string(body), "1381234") {
		t.Errorf("GET /api/mp/me after phone = %s", body)
	}
	// The same code owner again is the same user.
	again := mustJSON[loginBody](t, do(e.h, "POST", "/api/mp/login", `{"code":"c-lina"}`).Body.Bytes())
	if again.User == nil || again.User.ID != login.User.ID || again.Token == tok {
		t.Errorf("second login = %+v, want user %d with a new token", again, login.User.ID)
	}
	wantStatus(t, e, "POST", "/api/mp/login", `{"code":"nope"}`, "", 400, "invalid_code")
	wantStatus(t, e, "POST", "/api/mp/login", `{}`, "", 400, "invalid")
	wantStatus(t, e, "POST", "/api/mp/login", `{"code":5}`, "", 400, "invalid")
}

func TestTokensAreNotInterchangeable(t *testing.T) {
	e := mustAccounts(t, api.Deps{})
	e.mustStaff(t, "admin", false, model.RoleAdmin)
	staffTok := e.mustLogin(t, "admin").Token
	mpTok := mustJSON[loginBody](t, do(e.h, "POST", "/api/mp/login", `{"code":"c-x"}`).Body.Bytes()).Token

	wantStatus(t, e, "GET", "/api/mp/me", "", staffTok, 401, "unauthenticated")
	wantStatus(t, e, "POST", "/api/mp/phone", `{"code":"p"}`, staffTok, 401, "unauthenticated")
	wantStatus(t, e, "GET", "/api/admin/me", "", mpTok, 401, "unauthenticated")
	wantStatus(t, e, "GET", "/api/admin/staff", "", mpTok, 401, "unauthenticated")
	wantStatus(t, e, "POST", "/api/admin/logout", "", mpTok, 401, "unauthenticated")
	wantStatus(t, e, "GET", "/api/mp/me", "", mpTok, 200, "")
	wantStatus(t, e, "GET", "/api/admin/me", "", staffTok, 200, "")

	for _, hdr := range [][]string{
		nil,
		{"Authorization", staffTok},
		{"Authorization", "Basic " + staffTok},
		{"Authorization", "Bearer"},
		{"Authorization", "Bearer " + strings.Repeat("A", 43)},
	} {
		w := do(e.h, "GET", "/api/admin/me", "", hdr...)
		if w.Code != 401 || decodeEnvelope(t, w).Error.Code != "unauthenticated" || w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("GET /api/admin/me with %q = %d %s, want 401 with a challenge", hdr, w.Code, w.Body)
		}
	}
	w := do(e.h, "GET", "/api/admin/me", "", "Authorization", "bearer "+staffTok)
	if w.Code != 200 {
		t.Errorf("lower-case bearer scheme = %d, want 200", w.Code)
	}
}

func TestStaffSessionLifecycle(t *testing.T) {
	e := mustAccounts(t, api.Deps{})
	e.mustStaff(t, "admin", false, model.RoleAdmin)
	target := e.mustStaff(t, "editor", false, model.RoleEditor)
	admin := e.mustLogin(t, "admin")
	if admin.Staff.Username != "admin" || !cmp.Equal(admin.Staff.Roles, []string{"admin"}) || admin.Staff.MustChangePassword {
		t.Errorf("login staff = %+v", admin.Staff)
	}

	// Logout revokes at once.
	ed := e.mustLogin(t, "editor").Token
	wantStatus(t, e, "GET", "/api/admin/me", "", ed, 200, "")
	wantStatus(t, e, "POST", "/api/admin/logout", "", ed, 204, "")
	wantStatus(t, e, "GET", "/api/admin/me", "", ed, 401, "unauthenticated")

	// Disabling revokes at once.
	ed = e.mustLogin(t, "editor").Token
	body := wantStatus(t, e, "PATCH", "/api/admin/staff/"+itoa(target.ID), `{"disabled":true}`, admin.Token, 200, "")
	if got := mustJSON[map[string]any](t, body); got["disabled"] != true {
		t.Errorf("PATCH disabled = %s", body)
	}
	wantStatus(t, e, "GET", "/api/admin/me", "", ed, 401, "unauthenticated")
	wantStatus(t, e, "POST", "/api/admin/login", `{"username":"editor","password":"`+staffPW+`"}`, "", 401, "unauthenticated")
	wantStatus(t, e, "PATCH", "/api/admin/staff/"+itoa(target.ID), `{"disabled":false}`, admin.Token, 200, "")
	e.mustLogin(t, "editor")

	wantStatus(t, e, "PATCH", "/api/admin/staff/999999", `{"disabled":true}`, admin.Token, 404, "not_found")
	wantStatus(t, e, "PATCH", "/api/admin/staff/abc", `{"disabled":true}`, admin.Token, 404, "not_found")
	wantStatus(t, e, "PATCH", "/api/admin/staff/"+itoa(admin.Staff.ID), `{"disabled":true}`, admin.Token, 409, "cannot_lock_out_self")

	// The audit log and the sign-in history record it all.
	body = wantStatus(t, e, "GET", "/api/admin/audit?target_type=staff&target_id="+itoa(target.ID), "", admin.Token, 200, "")
	audit := mustJSON[struct {
		Items []struct {
			Action    string         `json:"action"`
			Username  string         `json:"username"`
			Summary   map[string]any `json:"summary"`
			IP        string         `json:"ip"`
			RequestID string         `json:"request_id"`
			At        string         `json:"at"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}](t, body)
	var actions []string
	for _, it := range audit.Items {
		actions = append(actions, it.Action)
		if it.Action != "staff.create" && (it.Username != "admin" || it.IP == "" || it.RequestID == "") {
			t.Errorf("audit entry %+v lacks the actor, IP or request id", it)
		}
		if _, err := time.Parse(time.RFC3339, it.At); err != nil {
			t.Errorf("audit at = %q: %v", it.At, err)
		}
	}
	if diff := cmp.Diff([]string{"staff.update", "staff.disable", "staff.create"}, actions); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
	if audit.NextCursor == nil || *audit.NextCursor != "" {
		t.Errorf("next_cursor = %v, want present and empty", audit.NextCursor)
	}
	body = wantStatus(t, e, "GET", "/api/admin/logins?staff_id="+itoa(target.ID), "", admin.Token, 200, "")
	logins := mustJSON[struct {
		Items []struct {
			Outcome string `json:"outcome"`
			Success bool   `json:"success"`
		} `json:"items"`
	}](t, body)
	var outcomes []string
	for _, it := range logins.Items {
		outcomes = append(outcomes, it.Outcome)
	}
	if diff := cmp.Diff([]string{"ok", "disabled", "ok", "ok"}, outcomes); diff != "" {
		t.Errorf("sign-in history (-want +got):\n%s", diff)
	}
	wantStatus(t, e, "GET", "/api/admin/logins?staff_id=x", "", admin.Token, 400, "invalid")
}

func TestStaffLockoutAndLoginLimit(t *testing.T) {
	e := mustAccounts(t, api.Deps{LoginPerMinute: 8})
	e.mustStaff(t, "admin", false, model.RoleAdmin)
	bad := `{"username":"admin","password":"Wrong password 1"}`
	for i := 1; i <= 5; i++ {
		wantStatus(t, e, "POST", "/api/admin/login", bad, "", 401, "unauthenticated")
	}
	// The 6th attempt is refused while locked, even with the right password.
	wantStatus(t, e, "POST", "/api/admin/login", bad, "", 429, "rate_limited")
	wantStatus(t, e, "POST", "/api/admin/login", `{"username":"admin","password":"`+staffPW+`"}`, "", 429, "rate_limited")
	// Unknown users answer like wrong passwords.
	wantStatus(t, e, "POST", "/api/admin/login", `{"username":"ghost","password":"Wrong password 1"}`, "", 401, "unauthenticated")
	// The 9th attempt from one address within a minute hits the per-IP limit.
	w := do(e.h, "POST", "/api/admin/login", `{"username":"ghost","password":"Wrong password 1"}`)
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("9th login from one IP = %d %v, want 429 with Retry-After", w.Code, w.Header())
	}
	// Another address is not limited by it.
	req := httptest.NewRequest("POST", "/api/admin/login", strings.NewReader(`{"username":"ghost","password":"Wrong password 1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "198.51.100.1:4000"
	w = httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != 401 {
		t.Errorf("login from another IP = %d %s, want 401", w.Code, w.Body)
	}
}

func TestRolesAndPasswordChange(t *testing.T) {
	e := mustAccounts(t, api.Deps{})
	e.mustStaff(t, "admin", false, model.RoleAdmin)
	e.mustStaff(t, "editor", false, model.RoleEditor)
	admin := e.mustLogin(t, "admin").Token
	ed := e.mustLogin(t, "editor").Token

	// A role without rights: 403 on writes and on admin reads.
	create := `{"username":"fresh","password":"` + staffPW + `","roles":["reviewer"]}`
	wantStatus(t, e, "POST", "/api/admin/staff", create, ed, 403, "forbidden")
	wantStatus(t, e, "PATCH", "/api/admin/staff/1", `{"roles":["editor"]}`, ed, 403, "forbidden")
	wantStatus(t, e, "GET", "/api/admin/audit", "", ed, 403, "forbidden")
	wantStatus(t, e, "GET", "/api/admin/staff", "", ed, 403, "forbidden")
	wantStatus(t, e, "GET", "/api/admin/logins", "", ed, 403, "forbidden")

	// An admin creates an account; its password must be changed first.
	body := wantStatus(t, e, "POST", "/api/admin/staff", create, admin, 201, "")
	created := mustJSON[map[string]any](t, body)
	if created["username"] != "fresh" || created["must_change_password"] != true || strings.Contains(string(body), "hash") {
		t.Errorf("POST /api/admin/staff = %s", body)
	}
	wantStatus(t, e, "POST", "/api/admin/staff", create, admin, 409, "username_taken")
	wantStatus(t, e, "POST", "/api/admin/staff", `{"username":"x","password":"short","roles":["root"]}`, admin, 400, "invalid")

	fresh := e.mustLogin(t, "fresh")
	if !fresh.Staff.MustChangePassword {
		t.Errorf("login of a new account: must_change_password = false, want true")
	}
	wantStatus(t, e, "GET", "/api/admin/me", "", fresh.Token, 403, "password_change_required")
	wantStatus(t, e, "POST", "/api/admin/password", `{"old_password":"`+staffPW+`","new_password":"weak"}`, fresh.Token, 400, "invalid")
	wantStatus(t, e, "POST", "/api/admin/password", `{"old_password":"`+staffPW+`","new_password":"Changed pass 22"}`, fresh.Token, 204, "")
	body = wantStatus(t, e, "GET", "/api/admin/me", "", fresh.Token, 200, "")
	if got := mustJSON[map[string]any](t, body); got["must_change_password"] != false || got["last_login_at"] == nil {
		t.Errorf("GET /api/admin/me after the change = %s", body)
	}

	// Lists page with a cursor; limit is checked.
	body = wantStatus(t, e, "GET", "/api/admin/staff?limit=2", "", admin, 200, "")
	page := mustJSON[struct {
		Items      []map[string]any `json:"items"`
		NextCursor string           `json:"next_cursor"`
	}](t, body)
	if len(page.Items) != 2 || page.NextCursor == "" {
		t.Fatalf("GET /api/admin/staff?limit=2 = %s", body)
	}
	body = wantStatus(t, e, "GET", "/api/admin/staff?limit=2&cursor="+page.NextCursor, "", admin, 200, "")
	page = mustJSON[struct {
		Items      []map[string]any `json:"items"`
		NextCursor string           `json:"next_cursor"`
	}](t, body)
	if len(page.Items) != 1 || page.NextCursor != "" || page.Items[0]["username"] != "fresh" {
		t.Errorf("second page = %s", body)
	}
	wantStatus(t, e, "GET", "/api/admin/staff?limit=0", "", admin, 400, "invalid")
	wantStatus(t, e, "GET", "/api/admin/staff?limit=abc", "", admin, 400, "invalid")
	wantStatus(t, e, "GET", "/api/admin/staff?cursor=%21%21", "", admin, 400, "invalid")
	wantStatus(t, e, "GET", "/api/admin/staff?limit=1000", "", admin, 200, "")
}

func TestAccountRoutesInOpenAPI(t *testing.T) {
	e := mustAccounts(t, api.Deps{})
	w := do(e.h, "GET", "/api/openapi.json", "")
	var doc struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ path, method, scheme string }{
		{"/api/mp/login", "post", ""}, {"/api/mp/me", "patch", "mpToken"}, {"/api/admin/login", "post", ""},
		{"/api/admin/staff/{id}", "patch", "staffToken"}, {"/api/admin/audit", "get", "staffToken"},
	} {
		op, ok := doc.Paths[r.path][r.method]
		if !ok {
			t.Errorf("openapi misses %s %s", r.method, r.path)
			continue
		}
		got := ""
		if len(op.Security) > 0 {
			for k := range op.Security[0] {
				got = k
			}
		}
		if got != r.scheme {
			t.Errorf("openapi %s %s security = %q, want %q", r.method, r.path, got, r.scheme)
		}
	}
}

// FuzzDecodeLogin sends arbitrary bodies and Authorization headers to the
// sign-in and profile endpoints: they answer 2xx or 4xx, never 5xx or a
// panic, and an unknown token never gets through.
func FuzzDecodeLogin(f *testing.F) {
	for _, s := range []string{
		`{"username":"admin","password":"Good password 1"}`, `{"code":"c-a"}`, `{}`, `{"username":5}`, `[]`, `null`,
		`{"code":"` + strings.Repeat("x", 300) + `"}`, `{"nickname":"\u0000","avatar_url":"https://x/"}`, "\xff", `{"a":`,
	} {
		f.Add(s, "Bearer "+strings.Repeat("A", 43))
	}
	f.Add(`{}`, "bearer  x ")
	e := mustAccounts(f, api.Deps{LoginPerMinute: 1 << 30, RatePerIP: 1 << 20})
	e.mustStaff(f, "admin", false, model.RoleAdmin)
	mpTok := mustJSON[loginBody](f, do(e.h, "POST", "/api/mp/login", `{"code":"c-fuzz"}`).Body.Bytes()).Token
	f.Fuzz(func(t *testing.T, body, authz string) {
		for _, r := range []struct {
			method, path string
			hdr          []string
		}{
			{"POST", "/api/admin/login", nil},
			{"POST", "/api/mp/login", nil},
			{"PATCH", "/api/mp/me", bearer(mpTok)},
		} {
			w := do(e.h, r.method, r.path, body, r.hdr...)
			if w.Code >= 500 {
				t.Fatalf("%s %s %q = %d %s", r.method, r.path, body, w.Code, w.Body)
			}
		}
		if strings.Contains(authz, mpTok) {
			return
		}
		for _, path := range []string{"/api/mp/me", "/api/admin/me"} {
			if w := do(e.h, "GET", path, "", "Authorization", authz); w.Code != 401 {
				t.Fatalf("GET %s with Authorization %q = %d, want 401", path, authz, w.Code)
			}
		}
	})
}

var cmpSorted = cmpopts.SortSlices(func(a, b string) bool { return a < b })

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
