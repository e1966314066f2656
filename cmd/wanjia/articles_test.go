package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/wechat/wxsim"
)

// mustAdminCreate runs `wanjia admin create` against the instance's data dir.
func mustAdminCreate(tb testing.TB, dir, username, role, password string) {
	tb.Helper()
	var out strings.Builder
	if err := run(context.Background(), []string{"admin", "create", "--username", username, "--role", role},
		envMap(map[string]string{"WANJIA_DATA_DIR": dir}), strings.NewReader(password+"\n"), &out, &out); err != nil {
		tb.Fatalf("admin create %s = %v (%s)", username, err, out.String())
	}
}

func (in *instance) mustStaffToken(tb testing.TB, username, password string) string {
	tb.Helper()
	code, body := in.call(tb, "POST", "/api/admin/login", "", `{"username":"`+username+`","password":"`+password+`"}`)
	if code != 200 {
		tb.Fatalf("login %s = %d %v", username, code, body)
	}
	return body["token"].(string)
}

func (in *instance) mustCall(tb testing.TB, method, path, token, body string, want int) map[string]any {
	tb.Helper()
	code, out := in.call(tb, method, path, token, body)
	if code != want {
		tb.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
	}
	return out
}

func (in *instance) uploadCover(tb testing.TB, path, token string) {
	tb.Helper()
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 16, 9))); err != nil {
		tb.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "cover.png")
	fw.Write(img.Bytes())
	mw.Close()
	req, _ := http.NewRequest("POST", in.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "mmbiz.qpic.cn") {
		tb.Fatalf("POST %s = %d %s", path, resp.StatusCode, b)
	}
}

// waitArticle polls an article until cond holds (the sandbox delivers
// WeChat's result events about 2 s after the job).
func (in *instance) waitArticle(tb testing.TB, id, token string, cond func(a map[string]any) bool) map[string]any {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		a := in.mustCall(tb, "GET", "/api/admin/articles/"+id, token, "", 200)
		if cond(a) {
			return a
		}
		if time.Now().After(deadline) {
			tb.Fatalf("article %s = %v; condition not met within 20 s", id, a)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestArticlePublishEndToEnd writes, checks, approves and publishes two
// articles through a zero-configuration server: one by freepublish, one by
// mass send to all followers. The sandbox simulator completes each job and
// pushes PUBLISHJOBFINISH / MASSSENDJOBFINISH to the OA callback, the
// gateway records them and the articles' result sink completes the record.
func TestArticlePublishEndToEnd(t *testing.T) {
	dir := t.TempDir()
	in := mustStart(t, map[string]string{"WANJIA_DATA_DIR": dir})
	const pw = "Article-Passw0rd-1"
	mustAdminCreate(t, dir, "writer", "editor", pw)
	mustAdminCreate(t, dir, "chief", "admin", pw)
	ed, chief := in.mustStaffToken(t, "writer", pw), in.mustStaffToken(t, "chief", pw)

	col := in.mustCall(t, "POST", "/api/admin/columns", ed, `{"name":"巧媳妇·富全家","description":"妇女创业故事"}`, 201)
	ids := map[string]string{}
	for _, mode := range []string{"freepublish", "masssend"} {
		a := in.mustCall(t, "POST", "/api/admin/articles", ed, fmt.Sprintf(
			`{"title":"巧媳妇·富全家（%s）","author":"市妇联","digest":"创业故事","body":"<p>她们用双手撑起一个家。</p>","column_id":%v}`,
			mode, col["id"]), 201)
		id := fmt.Sprint(a["id"])
		ids[mode] = id
		path := "/api/admin/articles/" + id
		in.uploadCover(t, path+"/cover", ed)
		if s := in.mustCall(t, "POST", path+"/submit", ed, "", 200); s["check_suggest"] != "pass" || s["status"] != "pending" {
			t.Fatalf("submit = %v", s)
		}
		in.mustCall(t, "POST", path+"/approve", chief, "", 200)
		body := `{"mode":"freepublish"}`
		if mode == "masssend" {
			body = `{"mode":"masssend","to_all":true}`
		}
		if p := in.mustCall(t, "POST", path+"/publish", ed, body, 200); p["status"] != "publishing" {
			t.Fatalf("publish %s = %v", mode, p)
		}
	}
	done := func(a map[string]any) bool { return a["status"] == "published" }
	free := in.waitArticle(t, ids["freepublish"], ed, done)
	if !strings.HasPrefix(free["article_url"].(string), "https://mp.weixin.qq.com/s?") || free["msg_data_id"] == "" {
		t.Errorf("freepublish result = %v, want its URL and msg_data_id", free)
	}
	mass := in.waitArticle(t, ids["masssend"], ed, done)
	if mass["sent_count"] != float64(3) || mass["error_count"] != float64(0) || mass["article_url"] == "" {
		t.Errorf("mass send result = %v, want 3 sent (the sandbox's followers) and a URL", mass)
	}

	// The staff write trail.
	audit := in.mustCall(t, "GET", "/api/admin/audit?target_type=article&limit=100", chief, "", 200)
	actions := map[string]bool{}
	for _, it := range audit["items"].([]any) {
		actions[it.(map[string]any)["action"].(string)] = true
	}
	for _, want := range []string{"article.create", "article.cover", "article.submit", "article.approve", "article.publish"} {
		if !actions[want] {
			t.Errorf("audit lacks %s: %v", want, actions)
		}
	}
	// The figures count both articles this year.
	year := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006")
	ov := in.mustCall(t, "GET", "/api/admin/stats/overview?from="+year+"-01-01", chief, "", 200)
	found := false
	for _, s := range ov["sections"].([]any) {
		for _, f := range s.(map[string]any)["figures"].([]any) {
			if f.(map[string]any)["key"] == model.FigArticles && f.(map[string]any)["value"] == float64(2) {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("overview = %v, want 2 articles published", ov)
	}
}

// selfService are the staff writes every signed-in staff member may make
// about themself.
var selfService = map[string]bool{
	"POST /api/admin/logout": true, "POST /api/admin/password": true, "POST /api/admin/alerts/{id}/read": true,
}

// writeRoles says which roles may make each staff write, by path prefix
// (API.md's roles; admin may do everything). The longest matching prefix
// wins. A staff write route that no prefix covers fails the test: add it.
var writeRoles = map[string][]model.Role{
	"/api/admin/staff":                 {},
	"/api/admin/jobs":                  {},
	"/api/admin/totp":                  {},
	"/api/admin/articles":              {model.RoleEditor},
	"/api/admin/articles/{id}/approve": {},
	"/api/admin/articles/{id}/reject":  {},
	"/api/admin/columns":               {model.RoleEditor},
	"/api/admin/replies":               {model.RoleEditor},
	"/api/admin/crisis-words":          {model.RoleEditor},
	"/api/admin/menu":                  {model.RoleEditor},
	"/api/admin/notify":                {model.RoleEditor},
	"/api/admin/fairs":                 {model.RoleFairManager},
	"/api/admin/checkins":              {model.RoleFairManager},
	"/api/admin/signups":               {model.RoleFairManager},
	// Areas built in parallel (API.md's roles):
	"/api/admin/campaigns":       {model.RoleReviewer},
	"/api/admin/nominations":     {model.RoleReviewer},
	"/api/admin/courses":         {model.RoleEditor},
	"/api/admin/lessons":         {model.RoleEditor},
	"/api/admin/pushes":          {model.RoleEditor},
	"/api/admin/cases":           {model.RoleCaseworker},
	"/api/admin/cases/retention": {},
	"/api/admin/stations":        {},
	"/api/admin/calendar":        {},
}

func rolesFor(path string) ([]model.Role, bool) {
	best := ""
	for p := range writeRoles {
		if (path == p || strings.HasPrefix(path, p+"/")) && len(p) > len(best) {
			best = p
		}
	}
	if best == "" {
		return nil, false
	}
	return writeRoles[best], true
}

// TestEveryStaffWriteNeedsItsRole walks the route table (the OpenAPI
// document, which lists every route by construction) and calls every
// staff write as each role that may not make it: each answers 403 before
// reading the request. A role that may make it is not called.
func TestEveryStaffWriteNeedsItsRole(t *testing.T) {
	dir := t.TempDir()
	// ~100 calls in a few seconds: lift the per-IP rate limit.
	in := mustStart(t, map[string]string{"WANJIA_DATA_DIR": dir, "WANJIA_HTTP_RATE_PER_IP": "1000"})
	const pw = "Role-Passw0rd-1"
	tokens := map[model.Role]string{}
	for _, r := range model.AllRoles() {
		if r == model.RoleAdmin {
			continue
		}
		name := "r_" + string(r)
		mustAdminCreate(t, dir, name, string(r), pw)
		tokens[r] = in.mustStaffToken(t, name, pw)
	}
	resp, err := http.Get(in.base + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for path, ops := range doc.Paths {
		if !strings.HasPrefix(path, "/api/admin/") || path == "/api/admin/login" {
			continue
		}
		for m := range ops {
			switch m {
			case "post", "put", "patch", "delete":
				routes = append(routes, strings.ToUpper(m)+" "+path)
			}
		}
	}
	sort.Strings(routes)
	if len(routes) < 20 {
		t.Fatalf("only %d staff write routes found: %v", len(routes), routes)
	}
	// Writes added after the table was first written: each must be in the
	// route table the walk covers.
	for _, want := range []string{
		"DELETE /api/admin/lessons/{id}", "POST /api/admin/lessons/{id}/withdraw", "POST /api/admin/lessons/{id}/restore",
		"POST /api/admin/courses/{id}/withdraw", "DELETE /api/admin/courses/{id}", "POST /api/admin/pushes/{id}/stop",
	} {
		if !slices.Contains(routes, want) {
			t.Errorf("staff write %s is not in the route table", want)
		}
	}
	checked := 0
	for _, rt := range routes {
		if selfService[rt] {
			continue
		}
		method, path, _ := strings.Cut(rt, " ")
		allowed, ok := rolesFor(path)
		if !ok {
			t.Errorf("%s: no roles declared in writeRoles; add its prefix", rt)
			continue
		}
		url := pathParam.ReplaceAllString(path, "1")
		for role, tok := range tokens {
			if hasRole(allowed, role) {
				continue
			}
			code, body := in.call(t, method, url, tok, `{}`)
			checked++
			if code != http.StatusForbidden {
				t.Errorf("%s as %s = %d %v, want 403", rt, role, code, body)
			}
		}
	}
	t.Logf("%d staff write routes, %d calls refused", len(routes), checked)
}

func hasRole(rs []model.Role, r model.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// pathParam matches an OpenAPI path parameter such as {id}.
var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestMassSendEventLostEndToEnd runs the service against the simulator
// outside sandbox, with WeChat's MASSSENDJOBFINISH events lost on their
// way: the every-tick sweep asks message/mass/get and completes the
// article (published, counts unknown); the event arriving late through the
// callback fills in the counts without changing the publish time; a failed
// send whose event never comes is marked failed.
func TestMassSendEventLostEndToEnd(t *testing.T) {
	w := mustSimWorld(t)
	sim := w.sim
	sim.AddUser(wxsim.User{AppID: e2eMPApp, OpenID: "oChecker"})
	for _, id := range []string{"oOA_f1", "oOA_f2"} {
		sim.AddUser(wxsim.User{AppID: e2eOAApp, OpenID: id, Subscribed: true})
	}
	env := w.copyEnv(map[string]string{"WANJIA_ARTICLES_CHECK_OPENID": "oChecker", "WANJIA_ARTICLES_TICK": "1s",
		"WANJIA_ARTICLES_RESULT_WAIT": "1s"})
	in := mustStart(t, env)
	ed := mustEditor(t, in, env, "writer", "editor")
	chief := mustEditor(t, in, env, "chief", "admin")
	sim.SetOACallback(in.base+"/wechat/oa/callback", e2eOAToken, w.oaAES, e2eOAApp)
	sim.WithholdOAEvents("MASSSENDJOBFINISH", 2)

	massSend := func(title string) string {
		a := in.mustCall(t, "POST", "/api/admin/articles", ed, `{"title":"`+title+`","body":"<p>致全市妇女的一封信</p>"}`, 201)
		id := fmt.Sprint(a["id"])
		path := "/api/admin/articles/" + id
		in.uploadCover(t, path+"/cover", ed)
		in.mustCall(t, "POST", path+"/submit", ed, "", 200)
		in.mustCall(t, "POST", path+"/approve", chief, "", 200)
		if p := in.mustCall(t, "POST", path+"/publish", ed, `{"mode":"masssend","to_all":true}`, 200); p["status"] != "publishing" {
			t.Fatalf("publish = %v", p)
		}
		// WeChat finishes the job; its event is lost on the way.
		if err := sim.FlushOAEvents(context.Background()); err != nil {
			t.Fatal(err)
		}
		return id
	}

	id := massSend("三八节慰问信")
	polled := in.waitArticle(t, id, ed, func(a map[string]any) bool { return a["status"] != "publishing" })
	if polled["status"] != "published" || polled["counts_unknown"] != true || polled["sent_count"] != float64(0) ||
		polled["article_url"] != "" || polled["published_at"] == nil {
		t.Fatalf("after the sweep = %v, want published with the counts unknown", polled)
	}
	if n := len(sim.Calls("/cgi-bin/message/mass/get")); n == 0 {
		t.Error("mass/get was never called")
	}
	// The event arrives after all, late.
	if err := sim.PushWithheld(context.Background()); err != nil {
		t.Fatal(err)
	}
	late := in.waitArticle(t, id, ed, func(a map[string]any) bool { return a["counts_unknown"] == false })
	if late["status"] != "published" || late["sent_count"] != float64(2) || late["error_count"] != float64(0) ||
		!strings.HasPrefix(late["article_url"].(string), "https://mp.weixin.qq.com/s?") || late["published_at"] != polled["published_at"] {
		t.Errorf("after the late event = %v, want its counts and URL, published at the poll's time", late)
	}

	sim.SetMassStatus("send fail")
	failed := in.waitArticle(t, massSend("第二封信"), ed, func(a map[string]any) bool { return a["status"] != "publishing" })
	if failed["status"] != "failed" || !strings.Contains(failed["fail_reason"].(string), "群发失败") {
		t.Errorf("a failed send without its event = %v, want failed with the reason", failed)
	}
}
