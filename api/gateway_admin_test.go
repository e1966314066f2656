package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"wanjia/api"
	"wanjia/model"
	"wanjia/service/gateway"
	"wanjia/service/gateway/adapters"
	"wanjia/store"
)

// gwOA records the menus published to WeChat.
type gwOA struct {
	mu        sync.Mutex
	published [][]model.MenuButton
}

func (o *gwOA) PublishMenu(_ context.Context, b []model.MenuButton) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.published = append(o.published, b)
	return nil
}

func (o *gwOA) FollowerInfo(context.Context, string) (gateway.FollowerInfo, error) {
	return gateway.FollowerInfo{}, nil
}

// gwNoop stands in for the job queue and the notification centre.
type gwNoop struct{}

func (gwNoop) Enqueue(context.Context, string, []byte, string) error { return nil }
func (gwNoop) Notify(context.Context, model.Recipient, model.Notice) error {
	return nil
}
func (gwNoop) RecordSubscribeEvents(context.Context, model.App, string, []model.SubscribeEvent) error {
	return nil
}
func (gwNoop) TemplateSendFinished(context.Context, string, string) error { return nil }

type gatewayEnv struct {
	*accountsEnv
	svc *gateway.Service
	oa  *gwOA
}

// mustGatewayEnv is the server with the real auth stack and a gateway over
// the same SQLite database.
func mustGatewayEnv(tb testing.TB) *gatewayEnv {
	tb.Helper()
	acc := mustAccounts(tb, api.Deps{})
	mr := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	tb.Cleanup(func() { rdb.Close() })
	oa := &gwOA{}
	svc, err := gateway.New(gateway.Deps{
		Rules: store.NewReplyRules(acc.db), Settings: store.NewGatewaySettings(acc.db),
		Followers: store.NewFollowers(acc.db), Menus: store.NewMenus(acc.db), Results: store.NewResults(acc.db),
		Staff: store.NewStaff(acc.db), Tx: acc.db, Audit: acc.auth, Jobs: gwNoop{}, Versions: adapters.NewVersions(rdb),
		OA: oa, Notifier: gwNoop{}, Consents: gwNoop{}, Templates: gwNoop{},
	})
	if err != nil {
		tb.Fatalf("gateway.New() = %v", err)
	}
	h := mustServer(tb, api.Deps{Accounts: acc.auth, DB: acc.db, GatewayAdmin: svc, RatePerIP: 1e9})
	return &gatewayEnv{accountsEnv: &accountsEnv{h: h, auth: acc.auth, db: acc.db}, svc: svc, oa: oa}
}

type ruleBody struct {
	ID       int64       `json:"id"`
	Name     string      `json:"name"`
	Match    string      `json:"match"`
	Mode     string      `json:"mode"`
	Keywords []string    `json:"keywords"`
	Priority int         `json:"priority"`
	Reply    model.Reply `json:"reply"`
	Provider string      `json:"provider"`
	Enabled  bool        `json:"enabled"`
}

func TestReplyRoutes(t *testing.T) {
	e := mustGatewayEnv(t)
	e.mustStaff(t, "admin", false, model.RoleAdmin)
	e.mustStaff(t, "editor", false, model.RoleEditor)
	e.mustStaff(t, "reviewer", false, model.RoleReviewer)
	admin, editor, reviewer := e.mustLogin(t, "admin").Token, e.mustLogin(t, "editor").Token, e.mustLogin(t, "reviewer").Token

	wantStatus(t, e.accountsEnv, "GET", "/api/admin/replies", "", "", 401, "unauthenticated")
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/replies", "", reviewer, 403, "forbidden")
	seeded := mustJSON[struct {
		Items      []ruleBody `json:"items"`
		NextCursor string     `json:"next_cursor"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/replies", "", editor, 200, ""))
	if len(seeded.Items) != 6 || seeded.Items[0].Match != "subscribe" || seeded.Items[0].Keywords == nil {
		t.Fatalf("GET /api/admin/replies = %+v, want the 6 seeded rules", seeded)
	}

	body := wantStatus(t, e.accountsEnv, "POST", "/api/admin/replies",
		`{"name":"坏","match":"keyword","mode":"regex","keywords":["("],"reply":{"kind":"text","text":"x"}}`, editor, 400, "invalid")
	if f := mustJSON[envelope](t, body).Error.Fields; f["keywords"] == "" {
		t.Errorf("POST /api/admin/replies (bad regex) fields = %v, want keywords", f)
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/replies", `{"name":`, editor, 400, "invalid")

	created := mustJSON[ruleBody](t, wantStatus(t, e.accountsEnv, "POST", "/api/admin/replies",
		`{"name":"图文","match":"keyword","mode":"exact","keywords":["活动"],"priority":5,
		  "reply":{"kind":"news","articles":[{"title":"最美家庭","url":"https://example.com/a"}]}}`, editor, 201, ""))
	want := ruleBody{ID: created.ID, Name: "图文", Match: "keyword", Mode: "exact", Keywords: []string{"活动"}, Priority: 5,
		Reply:   model.Reply{Kind: model.ReplyNews, Articles: []model.NewsArticle{{Title: "最美家庭", URL: "https://example.com/a"}}},
		Enabled: true}
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("POST /api/admin/replies mismatch (-want +got):\n%s", diff)
	}
	if r, err := e.svc.Handle(context.Background(), model.InboundMessage{App: model.AppOA, FromUser: "o", MsgType: "text",
		MsgID: "1", Content: "活动"}); err != nil || r == nil || r.Kind != model.ReplyNews {
		t.Errorf("Handle(活动) after the POST = %+v, %v, want the news reply", r, err)
	}

	path := "/api/admin/replies/" + itoa(created.ID)
	patched := mustJSON[ruleBody](t, wantStatus(t, e.accountsEnv, "PATCH", path, `{"enabled":false,"priority":9}`, editor, 200, ""))
	if patched.Enabled || patched.Priority != 9 || patched.Name != "图文" {
		t.Errorf("PATCH %s = %+v, want disabled with priority 9, name kept", path, patched)
	}
	put := mustJSON[ruleBody](t, wantStatus(t, e.accountsEnv, "PUT", path,
		`{"match":"click","keywords":["MENU_A"],"reply":{"kind":"text","text":"菜单"}}`, editor, 200, ""))
	if put.Match != "click" || put.Mode != "" || put.Reply.Text != "菜单" {
		t.Errorf("PUT %s = %+v", path, put)
	}
	wantStatus(t, e.accountsEnv, "PATCH", "/api/admin/replies/x", `{}`, editor, 404, "not_found")
	wantStatus(t, e.accountsEnv, "PATCH", "/api/admin/replies/99999", `{}`, editor, 404, "not_found")
	wantStatus(t, e.accountsEnv, "DELETE", path, "", reviewer, 403, "forbidden")
	wantStatus(t, e.accountsEnv, "DELETE", path, "", editor, 204, "")
	wantStatus(t, e.accountsEnv, "DELETE", path, "", admin, 404, "not_found")

	audit := mustJSON[struct {
		Items []struct {
			Action   string `json:"action"`
			Username string `json:"username"`
			TargetID string `json:"target_id"`
		} `json:"items"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/audit?target_type=reply_rule", "", admin, 200, ""))
	var actions []string
	for _, a := range audit.Items {
		if a.Username != "editor" || a.TargetID != itoa(created.ID) {
			t.Errorf("audit entry %+v, want by editor on rule %d", a, created.ID)
		}
		actions = append(actions, a.Action)
	}
	if diff := cmp.Diff([]string{"reply.delete", "reply.update", "reply.update", "reply.create"}, actions); diff != "" {
		t.Errorf("audit actions mismatch (-want +got):\n%s", diff)
	}
}

func TestCrisisWordRoutes(t *testing.T) {
	e := mustGatewayEnv(t)
	e.mustStaff(t, "admin", false, model.RoleAdmin)
	e.mustStaff(t, "editor", false, model.RoleEditor)
	cw := e.mustStaff(t, "caseworker", false, model.RoleCaseworker)
	admin, editor := e.mustLogin(t, "admin").Token, e.mustLogin(t, "editor").Token
	type crisisBody struct {
		Words         []string `json:"words"`
		AlertStaffIDs []int64  `json:"alert_staff_ids"`
		UpdatedAt     *string  `json:"updated_at"`
	}
	got := mustJSON[crisisBody](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/crisis-words", "", editor, 200, ""))
	if !cmp.Equal(got.Words, gateway.DefaultCrisisWords()) || got.AlertStaffIDs == nil || got.UpdatedAt != nil {
		t.Errorf("GET /api/admin/crisis-words = %+v, want the defaults", got)
	}
	got = mustJSON[crisisBody](t, wantStatus(t, e.accountsEnv, "PUT", "/api/admin/crisis-words", `{"words":["救命","求救"]}`, editor, 200, ""))
	if !cmp.Equal(got.Words, []string{"救命", "求救"}) || got.UpdatedAt == nil {
		t.Errorf("PUT words = %+v", got)
	}
	ids := `{"alert_staff_ids":[` + itoa(cw.ID) + `]}`
	wantStatus(t, e.accountsEnv, "PUT", "/api/admin/crisis-words", ids, editor, 403, "forbidden")
	wantStatus(t, e.accountsEnv, "PUT", "/api/admin/crisis-words", `{"alert_staff_ids":[777]}`, admin, 400, "invalid")
	got = mustJSON[crisisBody](t, wantStatus(t, e.accountsEnv, "PUT", "/api/admin/crisis-words", ids, admin, 200, ""))
	if !cmp.Equal(got.AlertStaffIDs, []int64{cw.ID}) {
		t.Errorf("PUT alert_staff_ids = %+v", got)
	}
	if !e.svc.IsCrisis("求 救") {
		t.Errorf("IsCrisis(求救) after the PUT = false")
	}
}

type menuBody struct {
	Button      []model.MenuButton `json:"button"`
	Revision    int64              `json:"revision"`
	UpdatedBy   int64              `json:"updated_by"`
	UpdatedAt   *string            `json:"updated_at"`
	Published   bool               `json:"published"`
	PublishedAt *string            `json:"published_at"`
}

func TestMenuRoutes(t *testing.T) {
	e := mustGatewayEnv(t)
	ed := e.mustStaff(t, "editor", false, model.RoleEditor)
	e.mustStaff(t, "fairmanager", false, model.RoleFairManager)
	editor, fm := e.mustLogin(t, "editor").Token, e.mustLogin(t, "fairmanager").Token

	empty := mustJSON[menuBody](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/menu", "", editor, 200, ""))
	if empty.Button == nil || len(empty.Button) != 0 || empty.Revision != 0 || empty.UpdatedAt != nil {
		t.Errorf("GET /api/admin/menu before a save = %+v", empty)
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/menu/publish", "", editor, 409, "menu_empty")
	wantStatus(t, e.accountsEnv, "PUT", "/api/admin/menu", `{"button":[]}`, fm, 403, "forbidden")
	body := wantStatus(t, e.accountsEnv, "PUT", "/api/admin/menu",
		`{"button":[{"name":"妇联服务中心","sub_button":[{"type":"view","name":"官网","url":"ftp://x"}]}]}`, editor, 400, "invalid")
	fields := mustJSON[envelope](t, body).Error.Fields
	if fields["button[0].name"] == "" || fields["button[0].sub_button[0].url"] == "" {
		t.Errorf("PUT /api/admin/menu (invalid) fields = %v", fields)
	}
	menu := `{"button":[{"name":"服务","sub_button":[{"type":"click","name":"求助","key":"HELP"},
		{"type":"miniprogram","name":"小程序","appid":"wx1","pagepath":"pages/index","url":"https://example.com"}]},
		{"type":"view","name":"官网","url":"https://example.com"}]}`
	saved := mustJSON[menuBody](t, wantStatus(t, e.accountsEnv, "PUT", "/api/admin/menu", menu, editor, 200, ""))
	if saved.Revision != 1 || saved.Published || saved.UpdatedBy != ed.ID || len(saved.Button) != 2 {
		t.Errorf("PUT /api/admin/menu = %+v", saved)
	}
	pub := mustJSON[menuBody](t, wantStatus(t, e.accountsEnv, "POST", "/api/admin/menu/publish", "", editor, 200, ""))
	if !pub.Published || pub.PublishedAt == nil {
		t.Errorf("POST /api/admin/menu/publish = %+v", pub)
	}
	if len(e.oa.published) != 1 || !cmp.Equal(e.oa.published[0], saved.Button) {
		t.Errorf("menus sent to WeChat = %+v, want the saved one", e.oa.published)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(wantStatus(t, e.accountsEnv, "GET", "/api/admin/menu", "", editor, 200, ""), &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw["button"]), `"sub_button":[{"type":"click","name":"求助","key":"HELP"}`) {
		t.Errorf("GET /api/admin/menu button = %s, want WeChat's menu/create shape", raw["button"])
	}
}

func TestFollowerRoutes(t *testing.T) {
	e := mustGatewayEnv(t)
	e.mustStaff(t, "editor", false, model.RoleEditor)
	e.mustStaff(t, "caseworker", false, model.RoleCaseworker)
	editor, cw := e.mustLogin(t, "editor").Token, e.mustLogin(t, "caseworker").Token
	ctx := context.Background()
	t0 := time.Date(2025, 3, 8, 9, 0, 0, 0, time.UTC)
	for i, ev := range []struct{ openid, key string }{{"o1", "qrscene_fair"}, {"o2", ""}, {"o3", "qrscene_fair"}} {
		if _, err := e.svc.Handle(ctx, model.InboundMessage{App: model.AppOA, FromUser: ev.openid, MsgType: "event",
			Event: "subscribe", EventKey: ev.key, CreateTime: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.Handle(ctx, model.InboundMessage{App: model.AppOA, FromUser: "o3", MsgType: "event",
		Event: "unsubscribe", CreateTime: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	followers := store.NewFollowers(e.db)
	if err := followers.SetFollowerProfile(ctx, "o1", "u1", []int{2}); err != nil {
		t.Fatal(err)
	}
	user, err := store.NewUsers(e.db).UpsertUserByOpenID(ctx, "mp-o1", "u1")
	if err != nil {
		t.Fatal(err)
	}

	wantStatus(t, e.accountsEnv, "GET", "/api/admin/followers", "", cw, 403, "forbidden")
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/followers?subscribed=maybe", "", editor, 400, "invalid")
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/followers?scene="+strings.Repeat("s", 65), "", editor, 400, "invalid")
	type followerBody struct {
		OpenID         string  `json:"openid"`
		Subscribed     bool    `json:"subscribed"`
		SubscribedAt   *string `json:"subscribed_at"`
		UnsubscribedAt *string `json:"unsubscribed_at"`
		Scene          string  `json:"scene"`
		TagIDs         []int   `json:"tag_ids"`
		UserID         *int64  `json:"user_id"`
	}
	type page struct {
		Items      []followerBody `json:"items"`
		NextCursor string         `json:"next_cursor"`
	}
	got := mustJSON[page](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/followers?subscribed=true&scene=fair", "", editor, 200, ""))
	at := "2025-03-08T17:00:00+08:00"
	uid := user.ID
	want := page{Items: []followerBody{{OpenID: "o1", Subscribed: true, SubscribedAt: &at, Scene: "fair", TagIDs: []int{2}, UserID: &uid}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /api/admin/followers?subscribed=true&scene=fair mismatch (-want +got):\n%s", diff)
	}
	first := mustJSON[page](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/followers?limit=2", "", editor, 200, ""))
	if len(first.Items) != 2 || first.Items[0].OpenID != "o3" || first.Items[0].Subscribed || first.NextCursor == "" {
		t.Fatalf("GET /api/admin/followers?limit=2 = %+v", first)
	}
	rest := mustJSON[page](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/followers?limit=2&cursor="+first.NextCursor, "", editor, 200, ""))
	if len(rest.Items) != 1 || rest.Items[0].OpenID != "o1" || rest.NextCursor != "" {
		t.Errorf("second page = %+v", rest)
	}
}

func FuzzFollowerQuery(f *testing.F) {
	e := mustGatewayEnv(f)
	e.mustStaff(f, "editor", false, model.RoleEditor)
	token := e.mustLogin(f, "editor").Token
	for _, s := range []string{"subscribed=true", "subscribed=0&scene=a", "limit=0", "cursor=%%%", "scene=%E4%BD%A0", "limit=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest("GET", "/api/admin/followers", nil)
		req.URL.RawQuery = q // as sent, however malformed
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		if w.Code != 200 && w.Code != 400 {
			t.Errorf("GET /api/admin/followers?%s = %d %s, want 200 or 400", q, w.Code, w.Body)
		}
	})
}
