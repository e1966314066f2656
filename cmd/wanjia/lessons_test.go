package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"wanjia/service/notify"
	"wanjia/store/storetest"
	"wanjia/wechat/wxsim"
)

// mustEditor creates a staff member with role through `wanjia admin create`
// and signs her in on in.
func mustEditor(t *testing.T, in *instance, env map[string]string, username, role string) string {
	t.Helper()
	var out strings.Builder
	const pw = "Editor-Passw0rd-1"
	if err := run(context.Background(), []string{"admin", "create", "--username", username, "--role", role}, envMap(env),
		strings.NewReader(pw+"\n"), &out, &out); err != nil {
		t.Fatalf("admin create = %v (%s)", err, out.String())
	}
	code, login := in.call(t, "POST", "/api/admin/login", "", `{"username":"`+username+`","password":"`+pw+`"}`)
	if code != 200 {
		t.Fatalf("staff login = %d %v", code, login)
	}
	return login["token"].(string)
}

func jsonID(m map[string]any) string { return fmt.Sprint(int64(m["id"].(float64))) }

// waitPush polls GET /api/admin/pushes/:id until cond holds.
func waitPush(t *testing.T, in *instance, token string, pushID string, what string, cond func(p map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, p := in.call(t, "GET", "/api/admin/pushes/"+pushID, token, "")
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("push %s: timed out waiting for %s: %v", pushID, what, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pushDone reports whether a lesson push's fan-out finished.
func pushDone(p map[string]any) bool {
	l, _ := p["lesson"].(map[string]any)
	f, _ := l["figures"].(map[string]any)
	return f["push_done"] == true
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// WeChat apps of the simulator the lesson tests run against.
const (
	e2eOAApp, e2eOASecret = "wxe2elessonsoa001", "e2elessonsoasecret00000000000001"
	e2eMPApp, e2eMPSecret = "wxe2elessonsmp001", "e2elessonsmpsecret00000000000001"
	e2eMPTpl, e2eOATpl    = "tplMPLesson", "tplOALesson"
	e2eOAToken            = "e2eOAtoken"
)

// simWorld is the WeChat simulator served over HTTP, as
// api.weixin.qq.com is to production copies, and the environment that
// points copies of the service at it (outside sandbox: every copy talks
// to the same WeChat).
type simWorld struct {
	sim   *wxsim.Sim
	env   map[string]string
	oaAES string
}

func mustSimWorld(t *testing.T) *simWorld {
	t.Helper()
	sim := wxsim.New(wxsim.WithApp(e2eOAApp, e2eOASecret), wxsim.WithApp(e2eMPApp, e2eMPSecret))
	t.Cleanup(func() { _ = sim.Close() })
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	for _, x := range notify.DefaultTemplates(true) {
		if x.Topic == notify.TopicLessonPublished {
			sim.AddTemplate(e2eMPApp, e2eMPTpl, notify.TemplateKeys(x.MPFields)...)
			sim.AddTemplate(e2eOAApp, e2eOATpl, notify.TemplateKeys(x.OAFields)...)
		}
	}
	w := &simWorld{sim: sim, oaAES: randomKey(t, base64.RawStdEncoding)}
	w.env = map[string]string{
		"WANJIA_DATA_DIR": t.TempDir(), "WANJIA_WECHAT_API_BASE": srv.URL, "WANJIA_SECRET_KEY": randomKey(t, base64.StdEncoding),
		"WANJIA_OA_APPID": e2eOAApp, "WANJIA_OA_SECRET": e2eOASecret, "WANJIA_OA_TOKEN": e2eOAToken, "WANJIA_OA_AES_KEY": w.oaAES,
		"WANJIA_MP_APPID": e2eMPApp, "WANJIA_MP_SECRET": e2eMPSecret, "WANJIA_MP_TOKEN": "e2eMPtoken",
		"WANJIA_MP_AES_KEY": randomKey(t, base64.RawStdEncoding), "WANJIA_NOTIFY_QUIET_HOURS": "off", "WANJIA_HTTP_RATE_PER_IP": "1000",
	}
	return w
}

// copyEnv returns a copy of the environment with extra settings.
func (w *simWorld) copyEnv(extra map[string]string) map[string]string {
	m := maps.Clone(w.env)
	maps.Copy(m, extra)
	return m
}

// setTemplates configures the lesson topic's template ids, as staff copy
// them from the WeChat console outside sandbox.
func setTemplates(t *testing.T, in *instance, token string) {
	t.Helper()
	in.mustCall(t, "PUT", "/api/admin/notify/templates", token, `{"items":[{"topic":"lesson_published","name":"微课上新提醒","enabled":true,
		"mp_template_id":"`+e2eMPTpl+`","mp_fields":[{"key":"thing1","field":"title"},{"key":"thing2","field":"course","default":"家庭教育微课堂"},
		{"key":"time3","field":"time"},{"key":"thing4","field":"hint","default":"点击进入学习"}],
		"oa_template_id":"`+e2eOATpl+`","oa_fields":[{"key":"thing1","field":"title"},{"key":"time2","field":"time"}],"text":"新课上线：{title}"}]}`, 200)
}

// mustParent signs a Mini Program user in (through the simulator's login
// code), records consents one-time consents to the lesson template and
// subscribes her to course courseID.
func (w *simWorld) mustParent(t *testing.T, in *instance, openID string, consents int, courseID string) string {
	t.Helper()
	login := in.mustCall(t, "POST", "/api/mp/login", "", `{"code":"`+w.sim.LoginCode(openID)+`"}`, 200)
	tok := login["token"].(string)
	for range consents {
		in.mustCall(t, "POST", "/api/mp/consents", tok, `{"results":{"`+e2eMPTpl+`":"accept"}}`, 200)
	}
	in.mustCall(t, "PUT", "/api/mp/courses/"+courseID+"/subscription", tok, "", 200)
	return tok
}

// TestScheduledLessonOnceAcrossTwoCopies runs two copies of the service
// on one database (SQLite, and MySQL and PostgreSQL when their test DSNs
// are set) and one Redis, as behind a load balancer. A lesson scheduled a
// few seconds ahead is published by the cluster's tick exactly once, and
// each subscriber is notified exactly once.
func TestScheduledLessonOnceAcrossTwoCopies(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d.Name, func(t *testing.T) { testScheduledOnce(t, d) })
	}
}

func testScheduledOnce(t *testing.T, d storetest.Dialect) {
	w := mustSimWorld(t)
	mr := miniredis.RunT(t) // fresh: task ids must not survive from another run
	opts := d.Options(t)
	env := func() map[string]string {
		return w.copyEnv(map[string]string{"WANJIA_REDIS_URL": "redis://" + mr.Addr(), "WANJIA_LESSONS_TICK": "1s",
			"WANJIA_DB_DRIVER": opts.Driver, "WANJIA_DB_DSN": opts.DSN})
	}
	a := mustStart(t, env())
	b := mustStart(t, env())
	ed := mustEditor(t, a, env(), "editor1", "editor")
	setTemplates(t, b, ed)

	course := a.mustCall(t, "POST", "/api/admin/courses", ed, `{"title":"隔代教育","audience":"all"}`, 201)
	first := a.mustCall(t, "POST", "/api/admin/courses/"+jsonID(course)+"/lessons", ed,
		`{"title":"老人带娃的分寸","kind":"audio","url":"https://a.example.cn/1.mp3","duration_s":300}`, 201)
	firstPush := b.mustCall(t, "POST", "/api/admin/lessons/"+jsonID(first)+"/publish", ed, "", 200)
	waitPush(t, a, ed, fmt.Sprint(int64(firstPush["push_id"].(float64))), "the first lesson's push to nobody", pushDone)
	const subscribers = 4
	for i := range subscribers {
		w.mustParent(t, []*instance{a, b}[i%2], fmt.Sprintf("oMP_parent%d", i), 1, jsonID(course))
	}
	at := time.Now().Add(3 * time.Second).Format(time.RFC3339)
	second := a.mustCall(t, "POST", "/api/admin/courses/"+jsonID(course)+"/lessons", ed,
		`{"title":"和老人商量规矩","kind":"video","url":"https://v.example.cn/2.mp4","publish_at":"`+at+`"}`, 201)
	if second["status"] != "scheduled" {
		t.Fatalf("second lesson = %v, want scheduled", second)
	}
	var pushID string
	deadline := time.Now().Add(20 * time.Second)
	for pushID == "" {
		l := b.mustCall(t, "GET", "/api/admin/lessons/"+jsonID(second), ed, "", 200)
		if l["status"] == "published" {
			pushID = fmt.Sprint(int64(l["push_id"].(float64)))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled lesson was not published within 20 s: %v", l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := waitPush(t, a, ed, pushID, "every subscriber notified", func(p map[string]any) bool {
		return num(p["targets"]) == subscribers && num(p["sent"]) == subscribers
	})
	if lesson, _ := p["lesson"].(map[string]any); lesson == nil || jsonID(lesson) != jsonID(second) {
		t.Errorf("push answer lesson = %v, want lesson %s", p["lesson"], jsonID(second))
	}
	_, pushes := a.call(t, "GET", "/api/admin/pushes", ed, "")
	if items, _ := pushes["items"].([]any); len(items) != 2 {
		t.Errorf("pushes = %v, want one per lesson", pushes)
	}
	published := strings.Count(a.stderr.String(), `"msg":"lesson published"`) + strings.Count(b.stderr.String(), `"msg":"lesson published"`)
	if published != 2 { // the first lesson by staff, the second by one tick
		t.Errorf("lesson published log lines across both copies = %d, want 2", published)
	}
	time.Sleep(1500 * time.Millisecond) // more ticks on both copies
	if p := waitPush(t, b, ed, pushID, "still the same", func(map[string]any) bool { return true }); num(p["targets"]) != subscribers {
		t.Errorf("push after more ticks = %v, want still %d targets", p, subscribers)
	}
}

func randomKey(tb testing.TB, enc *base64.Encoding) string {
	tb.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return enc.EncodeToString(b)
}

// TestLessonPushEndToEnd runs the service against the WeChat simulator
// over HTTP (as against api.weixin.qq.com): a parent with consent gets a
// subscribe message, a parent without consent who follows the Official
// Account gets a template message through her unionid, and a parent whose
// openid the simulator answers 43101 gets nothing — her consent is used up,
// so the next lesson does not even try. Reading the lesson counts as an
// open in the push's figures, and a follower who writes 课堂 gets the latest
// lessons.
func TestLessonPushEndToEnd(t *testing.T) {
	w := mustSimWorld(t)
	sim := w.sim
	sim.AddUser(wxsim.User{AppID: e2eMPApp, OpenID: "oMP_consent"})
	sim.AddUser(wxsim.User{AppID: e2eMPApp, OpenID: "oMP_refused"})
	sim.AddUser(wxsim.User{AppID: e2eMPApp, OpenID: "oMP_follower", UnionID: "uFollower"})
	sim.AddUser(wxsim.User{AppID: e2eOAApp, OpenID: "oOA_follower", UnionID: "uFollower", Subscribed: true})
	sim.RefuseFor("oMP_refused", e2eMPTpl)
	e := w.copyEnv(nil)
	in := mustStart(t, e)
	ed := mustEditor(t, in, e, "editor1", "editor")
	setTemplates(t, in, ed)

	// The follower follows the Official Account; the gateway links her
	// unionid in the background.
	sender := &wxsim.Sender{URL: in.base + "/wechat/oa/callback", Token: e2eOAToken, AESKey: w.oaAES, AppID: e2eOAApp}
	if _, _, err := sender.Send(context.Background(), wxsim.EventMessage("oOA_follower", "subscribe", "")); err != nil {
		t.Fatal(err)
	}

	course := in.mustCall(t, "POST", "/api/admin/courses", ed, `{"title":"青春期沟通","audience":"secondary"}`, 201)
	cid := jsonID(course)
	intro := in.mustCall(t, "POST", "/api/admin/courses/"+cid+"/lessons", ed,
		`{"title":"开篇","kind":"article","body":"<p>写给家长</p><img src=x onerror=alert(1)>"}`, 201)
	introPush := in.mustCall(t, "POST", "/api/admin/lessons/"+jsonID(intro)+"/publish", ed, "", 200)
	waitPush(t, in, ed, fmt.Sprint(int64(introPush["push_id"].(float64))), "the first lesson's push to nobody", pushDone)

	tokens := map[string]string{}
	for openID, consents := range map[string]int{"oMP_consent": 1, "oMP_refused": 3, "oMP_follower": 0} {
		tokens[openID] = w.mustParent(t, in, openID, consents, cid)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, fs := in.call(t, "GET", "/api/admin/followers", ed, "")
		items, _ := fs["items"].([]any)
		if len(items) == 1 && items[0].(map[string]any)["user_id"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follower was not linked to her Mini Program account: %v", fs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	publish := func(title string) (lessonID, pushID string) {
		l := in.mustCall(t, "POST", "/api/admin/courses/"+cid+"/lessons", ed,
			`{"title":"`+title+`","kind":"video","url":"https://v.example.cn/x.mp4","duration_s":900}`, 201)
		p := in.mustCall(t, "POST", "/api/admin/lessons/"+jsonID(l)+"/publish", ed, "", 200)
		pushID = fmt.Sprint(int64(p["push_id"].(float64)))
		waitPush(t, in, ed, pushID, "every notice final", func(p map[string]any) bool {
			return num(p["targets"]) == 3 && num(p["pending"]) == 0
		})
		return jsonID(l), pushID
	}
	lesson1, push1 := publish("怎么聊手机")
	p := in.mustCall(t, "GET", "/api/admin/pushes/"+push1, ed, "", 200)
	channels, _ := p["channels"].(map[string]any)
	if num(p["sent"]) != 2 || num(p["no_consent"]) != 1 || num(channels["mp_subscribe"]) != 1 || num(channels["oa_template"]) != 1 {
		t.Errorf("push of lesson 1 = %v, want one subscribe message, one template message, one no consent", p)
	}
	_, refused := in.call(t, "GET", "/api/admin/deliveries?push_id="+push1+"&status=no_consent", ed, "")
	if items, _ := refused["items"].([]any); len(items) != 1 || num(items[0].(map[string]any)["errcode"]) != 43101 {
		t.Errorf("no-consent deliveries of lesson 1 = %v, want one with errcode 43101", refused)
	}
	subscribeTo := func(openID string) int {
		n := 0
		for _, m := range sim.Sent(wxsim.KindSubscribe) {
			if m.ToUser == openID {
				n++
			}
		}
		return n
	}
	calls := len(sim.Calls("/cgi-bin/message/subscribe/send"))
	if got := subscribeTo("oMP_consent"); got != 1 {
		t.Errorf("subscribe messages to the consenting parent = %d, want 1", got)
	}
	tmpl := sim.Sent(wxsim.KindTemplate)
	if len(tmpl) != 1 || tmpl[0].ToUser != "oOA_follower" || tmpl[0].Page != "pages/lessons/detail?id="+lesson1 {
		t.Errorf("template messages = %+v, want one to the follower opening the lesson", tmpl)
	}

	// The consenting parent opens the lesson: one open after the push.
	in.mustCall(t, "GET", "/api/mp/lessons/"+lesson1, tokens["oMP_consent"], "", 200)
	in.mustCall(t, "GET", "/api/mp/lessons/"+lesson1, tokens["oMP_consent"], "", 200)
	in.mustCall(t, "PUT", "/api/mp/lessons/"+lesson1+"/progress", tokens["oMP_consent"], `{"position_s":900,"completed":true}`, 200)
	p = in.mustCall(t, "GET", "/api/admin/pushes/"+push1, ed, "", 200)
	lf, _ := p["lesson"].(map[string]any)
	fig, _ := lf["figures"].(map[string]any)
	if num(p["read"]) != 1 || num(fig["opened"]) != 1 || num(fig["completed"]) != 1 || num(fig["no_consent"]) != 1 {
		t.Errorf("push of lesson 1 after an open = %v, want read 1 and the lesson's figures", p)
	}

	// The refused parent's consent is used up: the next lesson does not
	// try the subscribe message at all.
	_, push2 := publish("怎么聊成绩")
	if got := len(sim.Calls("/cgi-bin/message/subscribe/send")) - calls; got != 0 {
		t.Errorf("subscribe sends for lesson 2 = %d, want 0 (one parent had one consent, used; one is used up)", got)
	}
	p = in.mustCall(t, "GET", "/api/admin/pushes/"+push2, ed, "", 200)
	if num(p["no_consent"]) != 2 || num(p["sent"]) != 1 {
		t.Errorf("push of lesson 2 = %v, want the follower's template message and two without consent", p)
	}

	reply, _, err := sender.Send(context.Background(), wxsim.TextMessage("oOA_follower", "课堂"))
	if err != nil {
		t.Fatal(err)
	}
	if reply == nil || !strings.Contains(reply.Content, "《怎么聊成绩》") || !strings.Contains(reply.Content, "青春期沟通") {
		t.Errorf("reply to 课堂 = %+v, want the latest lessons", reply)
	}
	course = in.mustCall(t, "GET", "/api/admin/courses/"+cid, ed, "", 200)
	if num(course["subscribers"]) != 3 || num(course["learners"]) != 1 {
		t.Errorf("course report = %v", course)
	}

	// Lesson 2 is withdrawn: the parents no longer see it, its push is
	// marked cancelled with its figures as they were, the 课堂 reply
	// forgets it, and the editor's steps are in the audit log.
	l2 := in.mustCall(t, "GET", "/api/admin/pushes/"+push2, ed, "", 200)["lesson"].(map[string]any)
	id2 := fmt.Sprint(int64(l2["id"].(float64)))
	if w := in.mustCall(t, "POST", "/api/admin/lessons/"+id2+"/withdraw", ed, `{"reason":"内容更新中"}`, 200); w["status"] != "withdrawn" {
		t.Errorf("withdraw = %v", w)
	}
	in.mustCall(t, "GET", "/api/mp/lessons/"+id2, tokens["oMP_follower"], "", 404)
	in.mustCall(t, "PUT", "/api/mp/lessons/"+id2+"/progress", tokens["oMP_follower"], `{"position_s":10}`, 409)
	p = in.mustCall(t, "GET", "/api/admin/pushes/"+push2, ed, "", 200)
	if p["cancelled_at"] == nil || num(p["sent"]) != 1 || num(p["no_consent"]) != 2 || num(p["pending"]) != 0 {
		t.Errorf("push of the withdrawn lesson = %v, want cancelled with its figures kept", p)
	}
	reply, _, err = sender.Send(context.Background(), wxsim.TextMessage("oOA_follower", "课堂"))
	if err != nil {
		t.Fatal(err)
	}
	if reply == nil || strings.Contains(reply.Content, "怎么聊成绩") || !strings.Contains(reply.Content, "怎么聊手机") {
		t.Errorf("reply to 课堂 after the withdrawal = %+v, want the withdrawn lesson left out", reply)
	}
	draft := in.mustCall(t, "POST", "/api/admin/courses/"+cid+"/lessons", ed, `{"title":"草稿","kind":"article","body":"<p>x</p>"}`, 201)
	in.mustCall(t, "DELETE", "/api/admin/lessons/"+jsonID(draft), ed, "", 204)
	in.mustCall(t, "DELETE", "/api/admin/courses/"+cid, ed, "", 409)
	admin := mustEditor(t, in, e, "chief", "admin")
	audit := in.mustCall(t, "GET", "/api/admin/audit?target_type=lesson&limit=100", admin, "", 200)
	actions := map[string]bool{}
	for _, it := range audit["items"].([]any) {
		actions[it.(map[string]any)["action"].(string)] = true
	}
	for _, want := range []string{"lesson.withdraw", "lesson.delete", "lesson.publish"} {
		if !actions[want] {
			t.Errorf("audit lacks %s: %v", want, actions)
		}
	}
}
