package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"wanjia/api"
	"wanjia/model"
	"wanjia/service/auth"
	"wanjia/service/cases"
	"wanjia/service/protect"
	"wanjia/store"
)

// lateCases lets the case service be built on the accounts env's database
// after the server: it forwards to the service set later.
type lateCases struct{ *cases.Service }

type casesEnv struct {
	*accountsEnv
	svc *cases.Service
}

func mustCasesAPI(tb testing.TB, d api.Deps) *casesEnv {
	tb.Helper()
	late := &lateCases{}
	d.Cases = late
	e := mustAccounts(tb, d)
	kr, err := protect.NewKeyring(bytes.Repeat([]byte{9}, protect.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := cases.New(cases.Deps{Store: store.NewCases(e.db), Notifier: nopNotifier{}, Audit: e.auth, Keys: kr,
		Staff: store.NewStaff(e.db)})
	if err != nil {
		tb.Fatal(err)
	}
	late.Service = svc
	return &casesEnv{accountsEnv: e, svc: svc}
}

// mustCaseworker creates a caseworker of a station and signs her in.
func (e *casesEnv) mustCaseworker(tb testing.TB, name string, station int64) (model.Staff, string) {
	tb.Helper()
	st := e.mustStaff(tb, name, false, model.RoleCaseworker)
	if _, err := e.auth.UpdateStaff(context.Background(), st.ID, auth.StaffUpdate{StationID: &station}); err != nil {
		tb.Fatal(err)
	}
	return st, e.mustLogin(tb, name).Token
}

type stationBody struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Load int    `json:"load"`
}

type intakeBody struct {
	CaseNo    string `json:"case_no"`
	Status    string `json:"status"`
	Emergency *struct {
		Call            string `json:"call"`
		ProtectionOrder string `json:"protection_order"`
		Station         *struct {
			Name  string `json:"name"`
			Phone string `json:"phone"`
		} `json:"station"`
	} `json:"emergency"`
}

const caseJSON = `{"category":"domestic_violence","description":"他昨晚又打了我，我很害怕","name":"李梅花","phone":"13700001111",` +
	`"district":"朝阳区","danger":true,"contact":{"mode":"window","from":"19:00","to":"21:00","note":"不要在白天打电话"}}`

func TestCasesFlow(t *testing.T) {
	e := mustCasesAPI(t, api.Deps{})
	e.mustStaff(t, "admin1", false, model.RoleAdmin)
	e.mustStaff(t, "editor1", false, model.RoleEditor)
	admin := e.mustLogin(t, "admin1").Token
	editor := e.mustLogin(t, "editor1").Token

	// Stations: admins create them; caseworkers only read.
	stA := mustJSON[stationBody](t, wantStatus(t, e.accountsEnv, "POST", "/api/admin/stations",
		`{"name":"朝阳法律援助站","kind":"legal_aid","districts":["朝阳区"],"categories":["domestic_violence"],"capacity":50,"phone":"010-65001234"}`,
		admin, http.StatusCreated, ""))
	stB := mustJSON[stationBody](t, wantStatus(t, e.accountsEnv, "POST", "/api/admin/stations",
		`{"name":"海淀心理咨询中心","kind":"counselling","districts":["海淀区"]}`, admin, http.StatusCreated, ""))
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/stations", `{"name":"","kind":"bank"}`, admin, http.StatusBadRequest, "invalid")
	cwA, tokA := e.mustCaseworker(t, "cwa", stA.ID)
	_, tokB := e.mustCaseworker(t, "cwb", stB.ID)
	wantStatus(t, e.accountsEnv, "PATCH", "/api/admin/stations/"+itoa(stA.ID), `{"duty_staff_ids":[`+itoa(cwA.ID)+`]}`, admin,
		http.StatusOK, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/stations", `{"name":"x","kind":"other"}`, tokA, http.StatusForbidden, "")
	list := mustJSON[struct{ Items []stationBody }](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/stations", "", tokA, http.StatusOK, ""))
	if len(list.Items) != 2 {
		t.Fatalf("GET /api/admin/stations = %+v", list)
	}

	// Intake: bad input is 400 with fields; danger gets the guidance.
	alice, _ := notifyMPLogin(t, e.h, "alice")
	bob, _ := notifyMPLogin(t, e.h, "bob")
	body := wantStatus(t, e.accountsEnv, "POST", "/api/mp/cases", `{"category":"x","description":"","phone":"abc"}`, alice,
		http.StatusBadRequest, "invalid")
	env := mustJSON[struct {
		Error struct{ Fields map[string]string } `json:"error"`
	}](t, body)
	for _, f := range []string{"category", "description", "name", "phone"} {
		if env.Error.Fields[f] == "" {
			t.Errorf("400 fields = %v, want %s", env.Error.Fields, f)
		}
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/cases", `{"category":`, alice, http.StatusBadRequest, "invalid")
	w := do(e.h, "POST", "/api/mp/cases", caseJSON, bearer(alice)...)
	if w.Code != http.StatusCreated || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /api/mp/cases = %d %s %v", w.Code, w.Body, w.Header())
	}
	in := mustJSON[intakeBody](t, w.Body.Bytes())
	if in.Status != "received" || !model.ValidCaseNo(in.CaseNo) || in.Emergency == nil || in.Emergency.Call != "110" ||
		in.Emergency.Station == nil || in.Emergency.Station.Name != "朝阳法律援助站" {
		t.Fatalf("intake answer = %s", w.Body)
	}
	no := in.CaseNo
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/cases", caseJSON, tokA, http.StatusUnauthorized, "")

	// The owner sees it; everyone else gets 404.
	mine := mustJSON[struct {
		Items []struct {
			CaseNo string `json:"case_no"`
		}
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/mp/me/cases", "", alice, http.StatusOK, ""))
	if len(mine.Items) != 1 || mine.Items[0].CaseNo != no {
		t.Errorf("GET /api/mp/me/cases = %+v", mine)
	}
	if b := wantStatus(t, e.accountsEnv, "GET", "/api/mp/me/cases", "", bob, http.StatusOK, ""); bytes.Contains(b, []byte(no)) {
		t.Errorf("bob's cases = %s", b)
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/mp/cases/" + no, ""},
		{"POST", "/api/mp/cases/" + no + "/messages", `{"text":"你好"}`},
		{"POST", "/api/mp/cases/" + no + "/feedback", `{"rating":5}`},
		{"PUT", "/api/mp/cases/" + no + "/contact", `{"mode":"none"}`},
	} {
		wantStatus(t, e.accountsEnv, r.method, r.path, r.body, bob, http.StatusNotFound, "not_found")
	}
	own := wantStatus(t, e.accountsEnv, "GET", "/api/mp/cases/"+no, "", alice, http.StatusOK, "")
	if !bytes.Contains(own, []byte(`"phone":"137****1111"`)) || !bytes.Contains(own, []byte("我很害怕")) {
		t.Errorf("GET /api/mp/cases/%s = %s", no, own)
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/cases/"+no+"/messages", `{"text":"我现在在朋友家"}`, alice, http.StatusCreated, "")

	// Staff: a masked list; roles and scope.
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases", "", editor, http.StatusForbidden, "")
	lb := wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases?danger=true", "", admin, http.StatusOK, "")
	if bytes.Contains(lb, []byte("13700001111")) || bytes.Contains(lb, []byte("李梅花")) || !bytes.Contains(lb, []byte("137****1111")) {
		t.Errorf("GET /api/admin/cases = %s, want masked values only", lb)
	}
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases?danger=maybe", "", admin, http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases?status=lost", "", admin, http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/"+no, "", tokA, http.StatusNotFound, "") // not assigned yet
	route := wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/"+no+"/route", "", admin, http.StatusOK, "")
	if !bytes.Contains(route, []byte(`"district_match":true`)) {
		t.Errorf("route = %s", route)
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/assign", `{"station_id":0}`, admin, http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/assign", `{"station_id":`+itoa(stA.ID)+`}`, admin, http.StatusOK, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/assign", `{"station_id":`+itoa(stB.ID)+`}`, admin,
		http.StatusBadRequest, "invalid") // a transfer needs a reason
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/admin/cases/" + no, ""},
		{"POST", "/api/admin/cases/" + no + "/reveal", `{"reason":"回电"}`},
		{"GET", "/api/admin/cases/" + no + "/access-log", ""},
		{"GET", "/api/admin/cases/" + no + "/verify", ""},
		{"POST", "/api/admin/cases/" + no + "/transition", `{"to":"in_progress"}`},
		{"POST", "/api/admin/cases/" + no + "/notes", `{"text":"x"}`},
		{"POST", "/api/admin/cases/" + no + "/assign", `{"station_id":` + itoa(stB.ID) + `,"reason":"抢过来"}`},
	} {
		wantStatus(t, e.accountsEnv, r.method, r.path, r.body, tokB, http.StatusNotFound, "not_found")
	}

	// Station A: the logged read, the logged reveal, the access log.
	detail := wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/"+no, "", tokA, http.StatusOK, "")
	for _, want := range []string{"我很害怕", "不要在白天打电话", "我现在在朋友家", `"phone":"137****1111"`, `"next":["in_progress","closed"]`} {
		if !bytes.Contains(detail, []byte(want)) {
			t.Errorf("GET /api/admin/cases/%s lacks %s: %s", no, want, detail)
		}
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/reveal", `{}`, tokA, http.StatusBadRequest, "invalid")
	rev := wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/reveal", `{"reason":"确认当事人安全"}`, tokA, http.StatusOK, "")
	if !bytes.Contains(rev, []byte("13700001111")) || !bytes.Contains(rev, []byte("李梅花")) {
		t.Errorf("reveal = %s", rev)
	}
	logBody := mustJSON[struct {
		Items []struct {
			Username string `json:"username"`
			Action   string `json:"action"`
			Reason   string `json:"reason"`
		}
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/"+no+"/access-log", "", admin, http.StatusOK, ""))
	if len(logBody.Items) != 2 || logBody.Items[0].Action != "reveal" || logBody.Items[0].Reason != "确认当事人安全" ||
		logBody.Items[1].Username != "cwa" {
		t.Errorf("access log = %+v", logBody.Items)
	}

	// Transitions.
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/transition", `{"to":"resolved"}`, tokA, http.StatusConflict, "invalid_transition")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/transition", `{"to":"closed"}`, tokA, http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/transition", `{"to":"in_progress","note":"已电话联系"}`, tokA, http.StatusOK, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/waiting", `{}`, tokA, http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/waiting", `{"waiting":true,"note":"等材料"}`, tokA, http.StatusOK, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/contacts", `{"channel":"phone","direction":"inbound"}`, tokA,
		http.StatusCreated, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/contacts", `{"channel":"fax","direction":"up"}`, tokA,
		http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/notes", `{"note":"内部：邻居愿意作证"}`, tokA, http.StatusCreated, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/notes", `{}`, tokA, http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/messages", `{"text":"律师明天联系您"}`, tokA, http.StatusCreated, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/transition",
		`{"to":"closed","outcome":"legal_aid","note":"已转法援","public_message":"您的案件已办结"}`, tokA, http.StatusOK, "")
	own = wantStatus(t, e.accountsEnv, "GET", "/api/mp/cases/"+no, "", alice, http.StatusOK, "")
	if bytes.Contains(own, []byte("邻居愿意作证")) || bytes.Contains(own, []byte("已转法援")) || !bytes.Contains(own, []byte("律师明天联系您")) ||
		!bytes.Contains(own, []byte(`"can_feedback":true`)) {
		t.Errorf("her view = %s, want replies and no internal notes", own)
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/cases/"+no+"/feedback", `{"rating":0}`, alice, http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/cases/"+no+"/feedback", `{"rating":5,"comment":"谢谢"}`, alice, http.StatusOK, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/cases/"+no+"/feedback", `{"rating":4}`, alice, http.StatusConflict, "already_rated")

	// Chain, figures, retention.
	if v := wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/"+no+"/verify", "", tokA, http.StatusOK, ""); !bytes.Contains(v, []byte(`"ok":true`)) {
		t.Errorf("verify = %s", v)
	}
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/verify", "", tokA, http.StatusForbidden, "")
	if v := wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/verify", "", admin, http.StatusOK, ""); !bytes.Contains(v, []byte(`"ok":true,`)) &&
		!bytes.Contains(v, []byte(`"ok":true}`)) {
		t.Errorf("verify all = %s", v)
	}
	// The anchor: admins only; now by default; the same moment gives the
	// same digest; a moment to come is refused.
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/anchor", "", tokA, http.StatusForbidden, "")
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/anchor?at=yesterday", "", admin, http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/anchor?at=2999-01-01T00:00:00Z", "", admin, http.StatusBadRequest, "invalid")
	var anchor struct {
		At     string `json:"at"`
		Cases  int    `json:"cases"`
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal(wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/anchor", "", admin, http.StatusOK, ""), &anchor); err != nil ||
		len(anchor.Digest) != 64 || anchor.Cases > 1 { // 0 when the case began within the current second
		t.Errorf("anchor = %+v, %v", anchor, err)
	}
	again := wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/anchor?at="+url.QueryEscape(anchor.At), "", admin, http.StatusOK, "")
	if !bytes.Contains(again, []byte(`"digest":"`+anchor.Digest+`"`)) {
		t.Errorf("anchor at %s = %s, want digest %s", anchor.At, again, anchor.Digest)
	}
	figs := wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/figures?from=2025-01-01&to=2030-01-01", "", tokA, http.StatusOK, "")
	for _, want := range []string{`"key":"cases.received","name":"接待维权","value":1`, `"key":"cases.closure_rate"`, "结案率 = "} {
		if !bytes.Contains(figs, []byte(want)) {
			t.Errorf("figures lack %s: %s", want, figs)
		}
	}
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/figures?from=2026-13-01", "", tokA, http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/retention", "", tokA, http.StatusForbidden, "")
	if r := wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/retention", "", admin, http.StatusOK, ""); !bytes.Contains(r, []byte(`"items":[]`)) {
		t.Errorf("retention dry run = %s", r)
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/retention", "", admin, http.StatusOK, "")

	// Staff intake by a station caseworker.
	hot := mustJSON[intakeBody](t, wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases",
		`{"channel":"hotline","category":"employment","description":"公司以怀孕为由辞退","anonymous":true}`, tokB, http.StatusCreated, ""))
	if hot.Status != "assigned" || hot.Emergency != nil {
		t.Errorf("staff intake = %+v", hot)
	}
	wantStatus(t, e.accountsEnv, "DELETE", "/api/admin/stations/"+itoa(stB.ID), "", admin, http.StatusOK, "")
	wantStatus(t, e.accountsEnv, "DELETE", "/api/admin/stations/999", "", admin, http.StatusNotFound, "")

	// Every staff write above went to the audit log, without her data.
	entries, _, err := e.auth.ListAudit(context.Background(), model.AuditFilter{TargetType: "case"}, model.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, a := range entries {
		actions[a.Action] = true
		if s := string(a.Summary); strings.Contains(s, "13700001111") || strings.Contains(s, "害怕") || strings.Contains(s, "邻居") {
			t.Errorf("audit %s carries her data: %s", a.Action, s)
		}
	}
	for _, want := range []string{"case.assign", "case.transition", "case.waiting", "case.contact", "case.note", "case.reply", "case.intake", "case.retention"} {
		if !actions[want] {
			t.Errorf("audit lacks %s (has %v)", want, actions)
		}
	}
}

// FuzzCaseIntakeBody: whatever a Mini Program posts as a case, or as a
// message to one, is answered 2xx or 4xx, never 5xx or a panic.
func FuzzCaseIntakeBody(f *testing.F) {
	e := mustCasesAPI(f, api.Deps{RatePerIP: 1e6})
	token, _ := notifyMPLogin(f, e.h, "fuzz")
	for _, s := range []string{caseJSON, `{}`, `[]`, `null`, `{"category":"other","description":"12345","anonymous":true}`,
		`{"contact":{"mode":"window","from":"25:61","to":"-"}}`, `{"description":"` + strings.Repeat("字", 6000) + `"}`,
		"{\"description\":\"\\u0000\\u0000\\u0000\\u0000\\u0000\",\"category\":\"other\",\"anonymous\":true}", "\xff", `{"danger":"yes"}`} {
		f.Add(s, "WQ20260309AAAAAAAAAAAAA")
	}
	f.Fuzz(func(t *testing.T, body, no string) {
		if w := do(e.h, "POST", "/api/mp/cases", body, bearer(token)...); w.Code >= 500 {
			t.Fatalf("POST /api/mp/cases %q = %d %s", body, w.Code, w.Body)
		}
		if w := do(e.h, "POST", "/api/mp/cases/"+url.PathEscape(no)+"/messages", body, bearer(token)...); w.Code >= 500 {
			t.Fatalf("POST /api/mp/cases/%s/messages %q = %d %s", no, body, w.Code, w.Body)
		}
	})
}

type calendarBody struct {
	Holidays     []string `json:"holidays"`
	Workdays     []string `json:"workdays"`
	Source       string   `json:"source"`
	Version      int      `json:"version"`
	UpdatedBy    int64    `json:"updated_by"`
	UpdatedAt    *string  `json:"updated_at"`
	WorkingHours string   `json:"working_hours"`
	WorkingDays  []string `json:"working_days"`
}

// TestCaseCalendarRoutes: caseworkers read the working calendar; admins
// replace its holidays and make-up days (validated, versioned, audited).
func TestCaseCalendarRoutes(t *testing.T) {
	e := mustCasesAPI(t, api.Deps{})
	e.mustStaff(t, "admin1", false, model.RoleAdmin)
	e.mustStaff(t, "editor1", false, model.RoleEditor)
	admin := e.mustLogin(t, "admin1").Token
	editor := e.mustLogin(t, "editor1").Token
	st := mustJSON[stationBody](t, wantStatus(t, e.accountsEnv, "POST", "/api/admin/stations", `{"name":"城关区站","kind":"legal_aid"}`,
		admin, http.StatusCreated, ""))
	_, cw := e.mustCaseworker(t, "cwcal", st.ID)

	got := mustJSON[calendarBody](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/calendar", "", cw, http.StatusOK, ""))
	if got.Source != "config" || got.Version != 0 || got.UpdatedAt != nil || got.WorkingHours != "09:00-17:00" ||
		strings.Join(got.WorkingDays, ",") != "mon,tue,wed,thu,fri" || got.Holidays == nil || got.Workdays == nil {
		t.Errorf("GET /api/admin/calendar = %+v, want the configuration's", got)
	}
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/calendar", "", editor, http.StatusForbidden, "forbidden")
	body := `{"holidays":["2026-10-01","2026-10-02","2026-10-03","2026-10-04","2026-10-05","2026-10-06","2026-10-07"],"workdays":["2026-10-10","2026-09-20"]}`
	wantStatus(t, e.accountsEnv, "PUT", "/api/admin/calendar", body, cw, http.StatusForbidden, "forbidden")
	wantStatus(t, e.accountsEnv, "PUT", "/api/admin/calendar", body, editor, http.StatusForbidden, "forbidden")
	for _, tt := range []struct {
		name, body, field string
	}{
		{"not a date", `{"holidays":["10/01/2026"],"workdays":[]}`, "holidays"},
		{"no such day", `{"holidays":[],"workdays":["2026-02-29"]}`, "workdays"},
		{"a list left out", `{"holidays":["2026-10-01"]}`, "workdays"},
		{"in both lists", `{"holidays":["2026-10-01"],"workdays":["2026-10-01"]}`, "workdays"},
		{"too many", `{"holidays":["2026-10-01"` + strings.Repeat(`,"2026-10-01"`, cases.MaxCalendarDates) + `],"workdays":[]}`, "holidays"},
		{"not a list", `{"holidays":"2026-10-01","workdays":[]}`, "holidays"},
	} {
		b := wantStatus(t, e.accountsEnv, "PUT", "/api/admin/calendar", tt.body, admin, http.StatusBadRequest, "invalid")
		env := mustJSON[struct {
			Error struct{ Fields map[string]string } `json:"error"`
		}](t, b)
		if env.Error.Fields[tt.field] == "" {
			t.Errorf("%s: 400 fields = %v, want %s", tt.name, env.Error.Fields, tt.field)
		}
	}
	saved := mustJSON[calendarBody](t, wantStatus(t, e.accountsEnv, "PUT", "/api/admin/calendar", body, admin, http.StatusOK, ""))
	if saved.Source != "database" || saved.Version != 1 || saved.UpdatedAt == nil || len(saved.Holidays) != 7 ||
		strings.Join(saved.Workdays, ",") != "2026-09-20,2026-10-10" {
		t.Errorf("PUT /api/admin/calendar = %+v", saved)
	}
	read := mustJSON[calendarBody](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/calendar", "", cw, http.StatusOK, ""))
	if read.Source != "database" || read.Version != 1 || strings.Join(read.Workdays, ",") != "2026-09-20,2026-10-10" {
		t.Errorf("GET after the save = %+v", read)
	}
	wantStatus(t, e.accountsEnv, "PUT", "/api/admin/calendar", `{"holidays":[],"workdays":[],"version":5}`, admin,
		http.StatusConflict, "calendar_changed")
	entries, _, err := e.auth.ListAudit(context.Background(), model.AuditFilter{TargetType: "calendar"}, model.Page{Limit: 10})
	if err != nil || len(entries) != 1 || entries[0].Action != "cases.calendar" || !strings.Contains(string(entries[0].Summary), "2026-09-20") {
		t.Errorf("audit = %+v, %v, want one cases.calendar entry with the dates", entries, err)
	}
}

// TestCaseCategoryRoute: POST /api/admin/cases/:case_no/category through
// the router — scope (another station: 404), roles, validation, the
// internal event with its reason, the chain still verifying, the figures
// by category, closed cases refused, the audit.
func TestCaseCategoryRoute(t *testing.T) {
	e := mustCasesAPI(t, api.Deps{})
	e.mustStaff(t, "admin1", false, model.RoleAdmin)
	e.mustStaff(t, "editor1", false, model.RoleEditor)
	admin := e.mustLogin(t, "admin1").Token
	editor := e.mustLogin(t, "editor1").Token
	stA := mustJSON[stationBody](t, wantStatus(t, e.accountsEnv, "POST", "/api/admin/stations", `{"name":"城关区站","kind":"legal_aid"}`,
		admin, http.StatusCreated, ""))
	stB := mustJSON[stationBody](t, wantStatus(t, e.accountsEnv, "POST", "/api/admin/stations", `{"name":"七里河区站","kind":"legal_aid"}`,
		admin, http.StatusCreated, ""))
	_, tokA := e.mustCaseworker(t, "cwa", stA.ID)
	_, tokB := e.mustCaseworker(t, "cwb", stB.ID)
	coordinator := func(name, district string) string { // a caseworker of a district, no station
		st := e.mustStaff(t, name, false, model.RoleCaseworker)
		if _, err := e.auth.UpdateStaff(context.Background(), st.ID, auth.StaffUpdate{District: &district}); err != nil {
			t.Fatal(err)
		}
		return e.mustLogin(t, name).Token
	}
	chengguan, qilihe := coordinator("coordcg", "城关区"), coordinator("coordqlh", "七里河区")
	alice, _ := notifyMPLogin(t, e.h, "alice")
	in := mustJSON[intakeBody](t, wantStatus(t, e.accountsEnv, "POST", "/api/mp/cases",
		`{"category":"other","description":"他每次喝酒后就打我，我不知道该怎么办","name":"李梅花","phone":"13700001111","district":"城关区","danger":true}`,
		alice, http.StatusCreated, ""))
	no := in.CaseNo
	path := "/api/admin/cases/" + no + "/category"
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/assign", `{"station_id":`+itoa(stA.ID)+`}`, admin, http.StatusOK, "")

	const good = `{"category":"domestic_violence","reason":"电话核实：丈夫酒后殴打，属家庭暴力"}`
	wantStatus(t, e.accountsEnv, "POST", path, good, editor, http.StatusForbidden, "forbidden")
	wantStatus(t, e.accountsEnv, "POST", path, good, tokB, http.StatusNotFound, "not_found")
	wantStatus(t, e.accountsEnv, "POST", path, good, qilihe, http.StatusNotFound, "not_found")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/WQ20260309AAAAAAAAAAAAA/category", good, tokA, http.StatusNotFound, "not_found")
	for _, tt := range []struct{ name, body, field string }{
		{"no reason", `{"category":"domestic_violence"}`, "reason"},
		{"a reason too long", `{"category":"domestic_violence","reason":"` + strings.Repeat("因", 201) + `"}`, "reason"},
		{"no such category", `{"category":"violence","reason":"x"}`, "category"},
		{"no category", `{"reason":"x"}`, "category"},
		{"a category not a string", `{"category":1,"reason":"x"}`, "category"},
	} {
		b := wantStatus(t, e.accountsEnv, "POST", path, tt.body, tokA, http.StatusBadRequest, "invalid")
		env := mustJSON[struct {
			Error struct{ Fields map[string]string } `json:"error"`
		}](t, b)
		if env.Error.Fields[tt.field] == "" {
			t.Errorf("%s: 400 fields = %v, want %s", tt.name, env.Error.Fields, tt.field)
		}
	}
	got := mustJSON[struct {
		Category     string `json:"category"`
		CategoryName string `json:"category_name"`
		Danger       bool   `json:"danger"`
	}](t, wantStatus(t, e.accountsEnv, "POST", path, good, tokA, http.StatusOK, ""))
	if got.Category != "domestic_violence" || got.CategoryName != "家庭暴力" || !got.Danger {
		t.Errorf("POST %s = %+v, want 家庭暴力 with danger kept", path, got)
	}
	wantStatus(t, e.accountsEnv, "POST", path, good, tokA, http.StatusConflict, "same_category")
	// Her district's coordinator may correct it too (and back: two events).
	wantStatus(t, e.accountsEnv, "POST", path, `{"category":"marriage_family","reason":"复核"}`, chengguan, http.StatusOK, "")
	wantStatus(t, e.accountsEnv, "POST", path, good, chengguan, http.StatusOK, "")

	detail := mustJSON[struct {
		Category string `json:"category"`
		Events   []struct {
			Kind    string            `json:"kind"`
			Visible bool              `json:"visible"`
			Text    string            `json:"text"`
			Meta    map[string]string `json:"meta"`
		} `json:"events"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/"+no, "", tokA, http.StatusOK, ""))
	last := detail.Events[len(detail.Events)-1]
	if detail.Category != "domestic_violence" || last.Kind != "category" || last.Visible || last.Text != "电话核实：丈夫酒后殴打，属家庭暴力" ||
		last.Meta["from"] != "marriage_family" || last.Meta["to"] != "domestic_violence" || len(detail.Events) != 5 {
		t.Errorf("case page = %+v, want three internal category events after intake and assignment", detail)
	}
	if v := wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/"+no+"/verify", "", tokA, http.StatusOK, ""); !bytes.Contains(v, []byte(`"ok":true`)) {
		t.Errorf("verify = %s", v)
	}
	if v := wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/verify", "", admin, http.StatusOK, ""); !bytes.Contains(v, []byte(`"problems":[]`)) {
		t.Errorf("verify all = %s", v)
	}
	if own := wantStatus(t, e.accountsEnv, "GET", "/api/mp/cases/"+no, "", alice, http.StatusOK, ""); bytes.Contains(own, []byte("电话核实")) {
		t.Errorf("her view shows the reason: %s", own)
	}
	figs := wantStatus(t, e.accountsEnv, "GET", "/api/admin/cases/figures?from=2025-01-01&to=2030-01-01", "", tokA, http.StatusOK, "")
	if !bytes.Contains(figs, []byte(`"category:domestic_violence":1`)) || bytes.Contains(figs, []byte(`"category:other"`)) {
		t.Errorf("figures = %s, want the case under domestic_violence only", figs)
	}

	wantStatus(t, e.accountsEnv, "POST", "/api/admin/cases/"+no+"/transition", `{"to":"closed","outcome":"protection"}`, tokA, http.StatusOK, "")
	wantStatus(t, e.accountsEnv, "POST", path, `{"category":"marriage_family","reason":"x"}`, tokA, http.StatusConflict, "closed")

	entries, _, err := e.auth.ListAudit(context.Background(), model.AuditFilter{TargetType: "case"}, model.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range entries {
		if a.Action == "case.category" {
			n++
			if s := string(a.Summary); !strings.Contains(s, "domestic_violence") || strings.Contains(s, "电话核实") {
				t.Errorf("audit case.category = %s, want the categories and not the reason", s)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d case.category audit entries, want 3", n)
	}
}
