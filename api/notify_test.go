package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/api"
	"wanjia/model"
	"wanjia/service/notify"
)

// fakeNotify is a Notifications with canned answers that records what the
// handlers passed.
type fakeNotify struct {
	mu        sync.Mutex
	consents  map[string]string
	userID    int64
	filter    model.DeliveryFilter
	page      model.Page
	templates []model.NotifyTemplate
	unread    bool
	read      int64
	principal model.Principal
}

func (f *fakeNotify) remember(ctx context.Context) {
	p, _ := model.PrincipalFrom(ctx)
	f.principal = p
}

func (f *fakeNotify) RecordClientConsents(ctx context.Context, userID int64, results map[string]string) ([]model.Consent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remember(ctx)
	f.userID, f.consents = userID, results
	if results["bad"] != "" {
		return nil, model.Invalid(map[string]string{"results.bad": "须为 accept、reject、ban 或 filter"})
	}
	return []model.Consent{{App: model.AppMP, OpenID: "o", TemplateID: "tplA", Remaining: 2}}, nil
}

var testPush = notify.PushSummary{
	Push: model.Push{ID: 7, Title: "第3课上线", Topic: "lesson_published", CreatedBy: 1,
		CreatedAt: time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)},
	Counts: model.PushCounts{Targets: 10, Pending: 1, Sent: 6, Failed: 1, NoConsent: 2,
		Channels: map[string]int{model.ChannelMPSubscribe: 4, model.ChannelOATemplate: 2}},
}

func (f *fakeNotify) Pushes(ctx context.Context, p model.Page) ([]notify.PushSummary, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remember(ctx)
	f.page = p
	return []notify.PushSummary{testPush}, "next", nil
}

func (f *fakeNotify) Push(_ context.Context, id int64) (notify.PushSummary, error) {
	if id != testPush.ID {
		return notify.PushSummary{}, model.Errorf(model.ErrNotFound, "推送不存在")
	}
	return testPush, nil
}

func (f *fakeNotify) Deliveries(_ context.Context, fl model.DeliveryFilter, p model.Page) ([]model.Delivery, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filter, f.page = fl, p
	return []model.Delivery{{ID: 3, PushID: 7, Topic: "lesson_published", UserID: 5, OpenID: "oSandboxOAUser000000000001",
		Status: model.DeliverySent, Channel: model.ChannelOATemplate, MsgID: "2247483001", Attempts: 1,
		Fields:    map[string]string{"title": "secret value"},
		NotBefore: testPush.CreatedAt, SentAt: testPush.CreatedAt, CreatedAt: testPush.CreatedAt, UpdatedAt: testPush.CreatedAt}}, "", nil
}

func (f *fakeNotify) Templates(context.Context) ([]model.NotifyTemplate, error) {
	return notify.DefaultTemplates(true)[:1], nil
}

func (f *fakeNotify) UpdateTemplates(_ context.Context, ts []model.NotifyTemplate) ([]model.NotifyTemplate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.templates = ts
	return ts, nil
}

func (f *fakeNotify) Alerts(ctx context.Context, unread bool, _ model.Page) ([]model.StaffAlert, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remember(ctx)
	f.unread = unread
	return []model.StaffAlert{{ID: 4, StaffID: f.principal.SubjectID, Topic: "crisis_alert", Urgent: true,
		Fields: map[string]string{"title": "收到紧急求助"}, CreatedAt: testPush.CreatedAt}}, "", nil
}

func (f *fakeNotify) MarkAlertRead(_ context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != 4 {
		return model.Errorf(model.ErrNotFound, "提醒不存在")
	}
	f.read = id
	return nil
}

// notifyMPLogin signs in the Mini Program user o-<name>.
func notifyMPLogin(tb testing.TB, h http.Handler, name string) (string, int64) {
	tb.Helper()
	w := do(h, "POST", "/api/mp/login", `{"code":"c-`+name+`"}`)
	if w.Code != 200 {
		tb.Fatalf("POST /api/mp/login = %d %s", w.Code, w.Body)
	}
	l := mustJSON[loginBody](tb, w.Body.Bytes())
	return l.Token, l.User.ID
}

func TestConsentsRoute(t *testing.T) {
	f := &fakeNotify{}
	e := mustAccounts(t, api.Deps{Notify: f})
	token, uid := notifyMPLogin(t, e.h, "alice")
	body := wantStatus(t, e, "POST", "/api/mp/consents", `{"results":{"tplA":"accept","tplB":"reject"}}`, token, 200, "")
	want := `{"items":[{"template_id":"tplA","remaining":2,"long_term":false}],"next_cursor":""}`
	if strings.TrimSpace(string(body)) != want {
		t.Errorf("POST /api/mp/consents = %s, want %s", body, want)
	}
	if f.userID != uid || !cmp.Equal(f.consents, map[string]string{"tplA": "accept", "tplB": "reject"}) {
		t.Errorf("service got user %d, %v", f.userID, f.consents)
	}
	wantStatus(t, e, "POST", "/api/mp/consents", `{"results":{}}`, token, 400, "invalid")
	wantStatus(t, e, "POST", "/api/mp/consents", `{"results":{"a":1}}`, token, 400, "invalid")
	wantStatus(t, e, "POST", "/api/mp/consents", `{"results":{"bad":"x"}}`, token, 400, "invalid")
	wantStatus(t, e, "POST", "/api/mp/consents", `{"results":{"tplA":"accept"}}`, "", 401, "")
	e.mustStaff(t, "editor1", false, model.RoleEditor)
	staff := e.mustLogin(t, "editor1").Token
	wantStatus(t, e, "POST", "/api/mp/consents", `{"results":{"tplA":"accept"}}`, staff, 401, "")
}

func TestPushRoutes(t *testing.T) {
	f := &fakeNotify{}
	e := mustAccounts(t, api.Deps{Notify: f})
	e.mustStaff(t, "editor1", false, model.RoleEditor)
	e.mustStaff(t, "reviewer1", false, model.RoleReviewer)
	editor, reviewer := e.mustLogin(t, "editor1").Token, e.mustLogin(t, "reviewer1").Token
	mp, _ := notifyMPLogin(t, e.h, "bob")

	body := wantStatus(t, e, "GET", "/api/admin/pushes?limit=5", "", editor, 200, "")
	want := `{"items":[{"id":7,"title":"第3课上线","topic":"lesson_published","created_by":1,"created_at":"2026-03-08T20:00:00+08:00",` +
		`"cancelled_at":null,"targets":10,"pending":1,"sent":6,"failed":1,"no_consent":2,"no_channel":0,"skipped":0,"read":0}],"next_cursor":"next"}`
	if strings.TrimSpace(string(body)) != want {
		t.Errorf("GET /api/admin/pushes = %s, want %s", body, want)
	}
	if f.page.Limit != 5 {
		t.Errorf("page = %+v, want limit 5", f.page)
	}
	body = wantStatus(t, e, "GET", "/api/admin/pushes/7", "", editor, 200, "")
	if !strings.Contains(string(body), `"channels":{"mp_subscribe":4,"oa_template":2}`) {
		t.Errorf("GET /api/admin/pushes/7 = %s, want channels", body)
	}
	wantStatus(t, e, "GET", "/api/admin/pushes/8", "", editor, 404, "not_found")
	wantStatus(t, e, "GET", "/api/admin/pushes/x", "", editor, 404, "not_found")
	wantStatus(t, e, "GET", "/api/admin/pushes", "", reviewer, 403, "forbidden")
	wantStatus(t, e, "GET", "/api/admin/pushes", "", mp, 401, "")

	body = wantStatus(t, e, "GET", "/api/admin/deliveries?push_id=7&user_id=5&status=sent&topic=lesson_published", "", editor, 200, "")
	if want := (model.DeliveryFilter{PushID: 7, UserID: 5, Status: "sent", Topic: "lesson_published"}); f.filter != want {
		t.Errorf("filter = %+v, want %+v", f.filter, want)
	}
	if strings.Contains(string(body), "secret value") || !strings.Contains(string(body), `"openid":"oSan****0001"`) ||
		!strings.Contains(string(body), `"sent_at":"2026-03-08T20:00:00+08:00"`) {
		t.Errorf("GET /api/admin/deliveries = %s, want masked openid, no field values", body)
	}
	wantStatus(t, e, "GET", "/api/admin/deliveries?push_id=abc", "", editor, 400, "invalid")
}

func TestTemplateRoutes(t *testing.T) {
	f := &fakeNotify{}
	e := mustAccounts(t, api.Deps{Notify: f})
	e.mustStaff(t, "admin1", false, model.RoleAdmin)
	e.mustStaff(t, "fair1", false, model.RoleFairManager)
	admin, fair := e.mustLogin(t, "admin1").Token, e.mustLogin(t, "fair1").Token
	body := wantStatus(t, e, "GET", "/api/admin/notify/templates", "", admin, 200, "")
	if !strings.Contains(string(body), `"topic":"crisis_alert"`) || !strings.Contains(string(body), `"oa_fields":[{"key":"thing1","field":"title","default":"收到紧急求助"}`) {
		t.Errorf("GET /api/admin/notify/templates = %s", body)
	}
	put := `{"items":[{"topic":"fair_cancelled","name":"招聘会取消","oa_template_id":"tplOA","enabled":true,
		"oa_fields":[{"key":"keyword1","field":"fair"}]}]}`
	wantStatus(t, e, "PUT", "/api/admin/notify/templates", put, admin, 200, "")
	want := []model.NotifyTemplate{{Topic: "fair_cancelled", Name: "招聘会取消", OATemplateID: "tplOA", Enabled: true,
		MPFields: []model.TemplateField{}, OAFields: []model.TemplateField{{Key: "keyword1", Field: "fair"}}}}
	if diff := cmp.Diff(want, f.templates); diff != "" {
		t.Errorf("templates passed (-want +got):\n%s", diff)
	}
	wantStatus(t, e, "PUT", "/api/admin/notify/templates", `{"items":[]}`, admin, 400, "invalid")
	wantStatus(t, e, "PUT", "/api/admin/notify/templates", put, fair, 403, "forbidden")
}

func TestAlertRoutes(t *testing.T) {
	f := &fakeNotify{}
	e := mustAccounts(t, api.Deps{Notify: f})
	s := e.mustStaff(t, "case1", false, model.RoleCaseworker)
	token := e.mustLogin(t, "case1").Token
	body := wantStatus(t, e, "GET", "/api/admin/alerts?unread=true", "", token, 200, "")
	want := `{"items":[{"id":4,"topic":"crisis_alert","fields":{"title":"收到紧急求助"},"page":"","url":"","urgent":true,` +
		`"created_at":"2026-03-08T20:00:00+08:00","read_at":null}],"next_cursor":""}`
	if strings.TrimSpace(string(body)) != want || !f.unread || f.principal.SubjectID != s.ID {
		t.Errorf("GET /api/admin/alerts = %s (unread %v, staff %d), want %s", body, f.unread, f.principal.SubjectID, want)
	}
	wantStatus(t, e, "GET", "/api/admin/alerts?unread=maybe", "", token, 400, "invalid")
	wantStatus(t, e, "POST", "/api/admin/alerts/4/read", "", token, 204, "")
	wantStatus(t, e, "POST", "/api/admin/alerts/5/read", "", token, 404, "not_found")
	if f.read != 4 {
		t.Errorf("read = %d, want 4", f.read)
	}
}

// FuzzConsentsBody: whatever a Mini Program posts to /api/mp/consents is
// answered with a 2xx or 4xx, never a 500 or a panic.
func FuzzConsentsBody(f *testing.F) {
	e := mustAccounts(f, api.Deps{Notify: &fakeNotify{}, RatePerIP: 1e6})
	token, _ := notifyMPLogin(f, e.h, "fuzz")
	for _, s := range []string{`{"results":{"a":"accept"}}`, `{"results":[]}`, `{"results":{"":""}}`, `{}`, `[`, `null`,
		`{"results":{"a":"accept","b":"reject","c":"ban","d":"filter"}}`, "{\"results\":{\"\\u0000\":\"accept\"}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		w := do(e.h, "POST", "/api/mp/consents", body, bearer(token)...)
		if w.Code >= 500 {
			t.Fatalf("POST /api/mp/consents %q = %d %s", body, w.Code, w.Body)
		}
	})
}
