package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"wanjia/api"
	"wanjia/model"
	"wanjia/service/messages"
	"wanjia/store"
	"wanjia/store/storetest"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

const (
	oaToken = "oa-callback-token"
	mpToken = "mp-callback-token"
	oaAppID = "wxoa000000000001"
	mpAppID = "wxmp000000000001"
	testKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
)

// fakeGateway counts calls and answers with reply (default: echo the text).
type fakeGateway struct {
	mu    sync.Mutex
	calls []model.InboundMessage
	delay time.Duration
	reply func(n int, m model.InboundMessage) (*model.Reply, error)
}

func (g *fakeGateway) Handle(ctx context.Context, m model.InboundMessage) (*model.Reply, error) {
	g.mu.Lock()
	g.calls = append(g.calls, m)
	n := len(g.calls)
	g.mu.Unlock()
	if g.delay > 0 {
		time.Sleep(g.delay)
	}
	if g.reply != nil {
		return g.reply(n, m)
	}
	if m.MsgType == "text" {
		return &model.Reply{Kind: model.ReplyText, Text: "收到：" + m.Content}, nil
	}
	return nil, nil
}

func (g *fakeGateway) IsCrisis(text string) bool { return strings.Contains(text, "救命") }

func (g *fakeGateway) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}

// cbShared is what copies of the service share: the database, Redis and
// (standing in for the gateway's own state) one fake gateway.
type cbShared struct {
	db    *store.DB
	mini  *miniredis.Miniredis
	redis redis.UniversalClient
	gw    *fakeGateway
	log   *messages.Service
	store *store.Messages
}

func mustShared(tb testing.TB) *cbShared {
	tb.Helper()
	db := storetest.Dialects()[0].Open(tb)
	m := miniredis.RunT(tb)
	rc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tb.Cleanup(func() { rc.Close() })
	ms := store.NewMessages(db)
	svc := messages.New(ms, messages.Options{})
	tb.Cleanup(func() { svc.Close(context.Background()) })
	return &cbShared{db: db, mini: m, redis: rc, gw: &fakeGateway{}, log: svc, store: ms}
}

// mustCallbackServer is one copy of the service; safe sets the AES keys.
func mustCallbackServer(tb testing.TB, sh *cbShared, safe bool, mod ...func(*api.Deps)) http.Handler {
	tb.Helper()
	d := api.Deps{
		Redis: sh.redis, DB: sh.db, Gateway: sh.gw, MessageLog: sh.log, RatePerIP: 1,
		OACallback: wechat.Endpoint{AppID: oaAppID, Token: oaToken},
		MPCallback: wechat.Endpoint{AppID: mpAppID, Token: mpToken},
	}
	if safe {
		d.OACallback.AESKey, d.MPCallback.AESKey = testKey, testKey
	}
	for _, f := range mod {
		f(&d)
	}
	return mustServer(tb, d)
}

// cbReq is one callback as WeChat would send it.
type cbReq struct {
	path, token, appID, aesKey string
	doc                        string
	json, compatible           bool
	ts                         time.Time
	nonce                      string
}

func (r cbReq) build(tb testing.TB) *http.Request {
	tb.Helper()
	if r.ts.IsZero() {
		r.ts = time.Now()
	}
	if r.nonce == "" {
		r.nonce = strconv.FormatInt(time.Now().UnixNano(), 10)
	}
	ts := strconv.FormatInt(r.ts.Unix(), 10)
	q := url.Values{"signature": {wxsim.Signature(r.token, ts, r.nonce)}, "timestamp": {ts}, "nonce": {r.nonce}, "openid": {"o_user"}}
	body := r.doc
	if r.aesKey != "" {
		enc, err := wxsim.Encrypt(r.appID, r.aesKey, []byte(r.doc))
		if err != nil {
			tb.Fatal(err)
		}
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", wxsim.Signature(r.token, ts, r.nonce, enc))
		switch {
		case r.json:
			b, _ := json.Marshal(map[string]string{"ToUserName": "gh_mp", "Encrypt": enc})
			body = string(b)
		case r.compatible:
			body = strings.Replace(r.doc, "</xml>", "<Encrypt><![CDATA["+enc+"]]></Encrypt></xml>", 1)
		default:
			body = "<xml><ToUserName><![CDATA[gh_oa]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
		}
	}
	req := httptest.NewRequest("POST", r.path+"?"+q.Encode(), strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml")
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func oaText(msgID int64, content string) string {
	return fmt.Sprintf("<xml><ToUserName><![CDATA[gh_oa]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName>"+
		"<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId></xml>",
		time.Now().Unix(), content, msgID)
}

func oaEvent(event, key string) string {
	return fmt.Sprintf("<xml><ToUserName><![CDATA[gh_oa]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName>"+
		"<CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event><EventKey><![CDATA[%s]]></EventKey></xml>",
		time.Now().Unix(), event, key)
}

// openReply decodes an OA answer: "success", or a (sealed) reply document.
func openReply(tb testing.TB, body []byte, safe bool) *wxsim.Reply {
	tb.Helper()
	if string(body) == "success" {
		return nil
	}
	doc := body
	if safe {
		var err error
		if doc, err = wxsim.OpenReply(oaToken, oaAppID, testKey, body); err != nil {
			tb.Fatalf("wxsim.OpenReply(%s) = %v", body, err)
		}
	}
	r, err := wxsim.ParseReply(doc)
	if err != nil {
		tb.Fatalf("wxsim.ParseReply(%s) = %v", doc, err)
	}
	return r
}

func verifyGet(h http.Handler, path, token, echo string, msgSig bool, ts time.Time) *httptest.ResponseRecorder {
	t := strconv.FormatInt(ts.Unix(), 10)
	q := url.Values{"signature": {wxsim.Signature(token, t, "77")}, "timestamp": {t}, "nonce": {"77"}, "echostr": {echo}}
	if msgSig {
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", wxsim.Signature(token, t, "77", echo))
	}
	return serve(h, httptest.NewRequest("GET", path+"?"+q.Encode(), nil))
}

func TestCallbackModes(t *testing.T) {
	sh := mustShared(t)
	plain := mustCallbackServer(t, sh, false)
	safe := mustCallbackServer(t, sh, true)
	tests := []struct {
		name string
		h    http.Handler
		req  cbReq
		safe bool
	}{
		{"plain", plain, cbReq{path: "/wechat/oa/callback", token: oaToken, doc: oaText(101, "你好")}, false},
		{"safe", safe, cbReq{path: "/wechat/oa/callback", token: oaToken, appID: oaAppID, aesKey: testKey, doc: oaText(102, "你好")}, true},
		{"compatible", safe, cbReq{path: "/wechat/oa/callback", token: oaToken, appID: oaAppID, aesKey: testKey,
			doc: oaText(103, "你好"), compatible: true}, true},
	}
	for _, tt := range tests {
		w := serve(tt.h, tt.req.build(t))
		if w.Code != 200 {
			t.Errorf("%s: POST = %d %s", tt.name, w.Code, w.Body)
			continue
		}
		r := openReply(t, w.Body.Bytes(), tt.safe)
		if r == nil || r.MsgType != "text" || r.Content != "收到：你好" || r.ToUserName != "o_user" || r.FromUserName != "gh_oa" {
			t.Errorf("%s: reply = %+v, want a text reply to o_user from gh_oa", tt.name, r)
		}
	}
	if n := sh.gw.count(); n != 3 {
		t.Errorf("gateway called %d times, want 3", n)
	}
	// An event without a reply is answered "success".
	w := serve(safe, cbReq{path: "/wechat/oa/callback", token: oaToken, appID: oaAppID, aesKey: testKey,
		doc: oaEvent("CLICK", "HELP")}.build(t))
	if w.Code != 200 || w.Body.String() != "success" {
		t.Errorf("POST click = %d %q, want 200 success", w.Code, w.Body)
	}
	// Safe mode refuses plaintext (its signature does not cover the body).
	w = serve(safe, cbReq{path: "/wechat/oa/callback", token: oaToken, doc: oaText(104, "x")}.build(t))
	if w.Code != 403 {
		t.Errorf("POST plaintext to a safe-mode endpoint = %d %s, want 403", w.Code, w.Body)
	}
}

func TestCallbackEchostr(t *testing.T) {
	sh := mustShared(t)
	plain := mustCallbackServer(t, sh, false)
	safe := mustCallbackServer(t, sh, true)
	now := time.Now()
	encEcho, err := wxsim.Encrypt(mpAppID, testKey, []byte("4375120948345356249"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		h           http.Handler
		path, token string
		echo        string
		msgSig      bool
		ts          time.Time
		status      int
		want        string
	}{
		{"oa plain", plain, "/wechat/oa/callback", oaToken, "e1", false, now, 200, "e1"},
		{"oa safe, plain echostr", safe, "/wechat/oa/callback", oaToken, "e2", true, now, 200, "e2"},
		{"oa compatible (signature only)", safe, "/wechat/oa/callback", oaToken, "e3", false, now, 200, "e3"},
		{"mp plain", plain, "/wechat/mp/callback", mpToken, "e4", false, now, 200, "e4"},
		{"mp safe, encrypted echostr", safe, "/wechat/mp/callback", mpToken, encEcho, true, now, 200, "4375120948345356249"},
		{"wrong token", safe, "/wechat/oa/callback", mpToken, "e5", false, now, 401, ""},
		{"stale", safe, "/wechat/oa/callback", oaToken, "e6", false, now.Add(-10 * time.Minute), 403, ""},
	}
	for _, tt := range tests {
		w := verifyGet(tt.h, tt.path, tt.token, tt.echo, tt.msgSig, tt.ts)
		if w.Code != tt.status || (tt.status == 200 && w.Body.String() != tt.want) {
			t.Errorf("GET %s = %d %q, want %d %q", tt.name, w.Code, w.Body, tt.status, tt.want)
		}
	}
}

func TestCallbackMiniProgram(t *testing.T) {
	sh := mustShared(t)
	safe := mustCallbackServer(t, sh, true)
	doc := fmt.Sprintf(`{"ToUserName":"gh_mp","FromUserName":"o_mp","CreateTime":%d,"MsgType":"event","Event":"subscribe_msg_popup_event",`+
		`"List":[{"TemplateId":"T1","SubscribeStatusString":"accept","PopupScene":"0"}]}`, time.Now().Unix())
	w := serve(safe, cbReq{path: "/wechat/mp/callback", token: mpToken, appID: mpAppID, aesKey: testKey, doc: doc, json: true}.build(t))
	if w.Code != 200 || w.Body.String() != "success" {
		t.Fatalf("POST mp json = %d %q, want 200 success", w.Code, w.Body)
	}
	text := fmt.Sprintf(`{"ToUserName":"gh_mp","FromUserName":"o_mp","CreateTime":%d,"MsgType":"text","Content":"hi","MsgId":5}`, time.Now().Unix())
	w = serve(safe, cbReq{path: "/wechat/mp/callback", token: mpToken, appID: mpAppID, aesKey: testKey, doc: text, json: true}.build(t))
	if w.Code != 200 || w.Body.String() != "success" {
		t.Errorf("POST mp text = %d %q, want success (the message push takes no passive reply)", w.Code, w.Body)
	}
	if sh.gw.count() != 2 {
		t.Fatalf("gateway called %d times, want 2", sh.gw.count())
	}
	got := sh.gw.calls[0]
	want := []model.SubscribeEvent{{TemplateID: "T1", Status: "accept", PopupScene: "0"}}
	if got.App != model.AppMP || got.Event != "subscribe_msg_popup_event" || !cmp.Equal(want, got.SubscribeEvents) {
		t.Errorf("gateway got %+v, want the MP popup event with its List", got)
	}
	// An OA-encrypted message on the MP route: another app id, refused.
	w = serve(safe, cbReq{path: "/wechat/mp/callback", token: mpToken, appID: oaAppID, aesKey: testKey, doc: text, json: true}.build(t))
	if w.Code != 400 {
		t.Errorf("POST mp with another app's ciphertext = %d, want 400", w.Code)
	}
}

func TestCallbackRefusals(t *testing.T) {
	sh := mustShared(t)
	h := mustCallbackServer(t, sh, true)
	base := cbReq{path: "/wechat/oa/callback", token: oaToken, appID: oaAppID, aesKey: testKey}
	with := func(f func(*cbReq)) cbReq { r := base; r.doc = oaText(time.Now().UnixNano(), "x"); f(&r); return r }

	forged := with(func(r *cbReq) { r.token = "guessed" })
	stale := with(func(r *cbReq) { r.ts = time.Now().Add(-6 * time.Minute) })
	future := with(func(r *cbReq) { r.ts = time.Now().Add(6 * time.Minute) })
	malformed := with(func(r *cbReq) { r.doc = "<xml><MsgType>text</Content></xml>" })
	doctype := with(func(r *cbReq) { r.doc = `<!DOCTYPE xml [<!ENTITY e "x">]><xml>&e;</xml>` })
	big := with(func(r *cbReq) { r.aesKey = ""; r.doc = "<xml>" + strings.Repeat("x", 65<<10) + "</xml>" })

	tests := []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"forged signature", forged.build(t), 401},
		{"stale timestamp", stale.build(t), 403},
		{"timestamp from the future", future.build(t), 403},
		{"malformed xml", malformed.build(t), 400},
		{"doctype", doctype.build(t), 400},
		{"65 KiB", big.build(t), 413},
		{"no signature at all", httptest.NewRequest("POST", "/wechat/oa/callback", strings.NewReader(oaText(1, "x"))), 401},
	}
	chunked := big.build(t)
	chunked.ContentLength = -1 // no Content-Length: the limit applies while reading
	tests = append(tests, struct {
		name   string
		req    *http.Request
		status int
	}{"65 KiB without Content-Length", chunked, 413})
	for _, tt := range tests {
		if w := serve(h, tt.req); w.Code != tt.status {
			t.Errorf("POST %s = %d %s, want %d", tt.name, w.Code, w.Body, tt.status)
		}
	}
	if n := sh.gw.count(); n != 0 {
		t.Errorf("gateway called %d times for refused callbacks, want 0", n)
	}

	// Safe mode: msg_signature binds the timestamp and nonce to the
	// ciphertext, so a captured request replayed with another body is
	// refused by it; the same request again (as WeChat re-sends it) gets
	// the same answer from the dedupe.
	now := time.Now()
	first := with(func(r *cbReq) { r.nonce, r.ts = "5150", now }).build(t)
	raw := recordBody(t, first)
	w1 := serve(h, replay(first, raw))
	if w1.Code != 200 {
		t.Fatalf("POST first = %d %s", w1.Code, w1.Body)
	}
	otherBody := recordBody(t, with(func(r *cbReq) { r.nonce, r.ts = "5150", now }).build(t)) // another message, same pair
	if w := serve(h, replay(first, otherBody)); w.Code != 401 {
		t.Errorf("POST captured query with another body = %d %s, want 401", w.Code, w.Body)
	}
	w2 := serve(h, replay(first, raw))
	if w2.Code != 200 || w2.Body.String() != w1.Body.String() {
		t.Errorf("identical re-send = %d, want 200 with the first answer's bytes", w2.Code)
	}
	// Compatible mode reads only the Encrypt element: plaintext fields
	// changed around a captured one change nothing (the dedupe answers).
	compat := with(func(r *cbReq) { r.compatible, r.nonce, r.ts = true, "5151", now }).build(t)
	compatBody := recordBody(t, compat)
	cw1 := serve(h, replay(compat, compatBody))
	if cw1.Code != 200 {
		t.Fatalf("POST compatible = %d %s", cw1.Code, cw1.Body)
	}
	tampered := strings.Replace(compatBody, "<Content><![CDATA[x]]></Content>", "<Content><![CDATA[forged]]></Content>", 1)
	if tampered == compatBody {
		t.Fatal("the compatible body has no plaintext Content to change")
	}
	if w := serve(h, replay(compat, tampered)); w.Code != 200 || w.Body.String() != cw1.Body.String() {
		t.Errorf("POST compatible, plaintext changed = %d %s, want 200 with the first answer's bytes", w.Code, w.Body)
	}
	if n := sh.gw.count(); n != 2 {
		t.Errorf("gateway called %d times, want 2 (the safe and the compatible message, once each)", n)
	}
	// In plain mode the signature does not cover the body: a captured
	// signature replayed with another body is refused.
	plain := mustCallbackServer(t, sh, false)
	a := cbReq{path: "/wechat/oa/callback", token: oaToken, doc: oaText(4242, "a"), nonce: "6160", ts: now}
	if w := serve(plain, a.build(t)); w.Code != 200 {
		t.Fatalf("POST plain = %d %s", w.Code, w.Body)
	}
	a.doc = oaText(4243, "forged")
	if w := serve(plain, a.build(t)); w.Code != 403 {
		t.Errorf("POST plain, replayed signature with another body = %d %s, want 403", w.Code, w.Body)
	}
}

// recordBody reads a request's body so it can be sent again unchanged.
func recordBody(tb testing.TB, r *http.Request) string {
	tb.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func replay(r *http.Request, body string) *http.Request {
	c := httptest.NewRequest(r.Method, r.URL.String(), strings.NewReader(body))
	c.Header = r.Header.Clone()
	return c
}

func TestCallbackThreeCopiesProcessOnce(t *testing.T) {
	sh := mustShared(t)
	sh.gw.delay = 150 * time.Millisecond
	copies := []http.Handler{mustCallbackServer(t, sh, true), mustCallbackServer(t, sh, true), mustCallbackServer(t, sh, true)}
	req := cbReq{path: "/wechat/oa/callback", token: oaToken, appID: oaAppID, aesKey: testKey, doc: oaText(777, "三份"), nonce: "31337"}.build(t)
	body := recordBody(t, req)
	answers := make([]*httptest.ResponseRecorder, 3)
	var wg sync.WaitGroup
	for i, h := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = serve(h, replay(req, body))
		}()
	}
	wg.Wait()
	if n := sh.gw.count(); n != 1 {
		t.Errorf("gateway called %d times for one MsgId on three copies, want 1", n)
	}
	for i, w := range answers {
		if w.Code != 200 || w.Body.String() != answers[0].Body.String() {
			t.Errorf("copy %d answered %d %q, want 200 and the same bytes as copy 0", i, w.Code, w.Body)
		}
	}
	if r := openReply(t, answers[0].Body.Bytes(), true); r == nil || r.Content != "收到：三份" {
		t.Errorf("reply = %+v, want the text reply", r)
	}
	// A later try on any copy, with a fresh nonce, gets the same reply.
	retry := serve(copies[2], cbReq{path: "/wechat/oa/callback", token: oaToken, appID: oaAppID, aesKey: testKey, doc: oaText(777, "三份")}.build(t))
	if retry.Body.String() != answers[0].Body.String() || sh.gw.count() != 1 {
		t.Errorf("retry = %q (gateway calls %d), want the cached reply and no new call", retry.Body, sh.gw.count())
	}
}

func TestCallbackHandlerErrorIsRetried(t *testing.T) {
	sh := mustShared(t)
	sh.gw.reply = func(n int, m model.InboundMessage) (*model.Reply, error) {
		if n == 1 {
			return nil, errors.New("database busy")
		}
		return &model.Reply{Kind: model.ReplyText, Text: "ok"}, nil
	}
	h := mustCallbackServer(t, sh, true)
	doc := oaText(888, "求助")
	w := serve(h, cbReq{path: "/wechat/oa/callback", token: oaToken, appID: oaAppID, aesKey: testKey, doc: doc, nonce: "1"}.build(t))
	if w.Code != 500 {
		t.Fatalf("POST with a failing handler = %d %s, want 500", w.Code, w.Body)
	}
	w = serve(h, cbReq{path: "/wechat/oa/callback", token: oaToken, appID: oaAppID, aesKey: testKey, doc: doc, nonce: "2"}.build(t))
	if w.Code != 200 || openReply(t, w.Body.Bytes(), true).Content != "ok" {
		t.Errorf("retry = %d %s, want 200 with the reply", w.Code, w.Body)
	}
	if n := sh.gw.count(); n != 2 {
		t.Errorf("gateway called %d times, want 2 (the retry is processed again)", n)
	}
}

func TestCallbackMessageLog(t *testing.T) {
	sh := mustShared(t)
	h := mustCallbackServer(t, sh, true)
	send := func(doc string) {
		t.Helper()
		if w := serve(h, cbReq{path: "/wechat/oa/callback", token: oaToken, appID: oaAppID, aesKey: testKey, doc: doc}.build(t)); w.Code != 200 {
			t.Fatalf("POST = %d %s", w.Code, w.Body)
		}
	}
	send(oaText(901, "你好"))
	send(oaText(902, "救命！他在打我"))
	send(oaText(902, "救命！他在打我")) // WeChat's retry: one row
	send(oaEvent("subscribe", "qrscene_fair"))
	if err := sh.log.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, _, err := sh.store.ListMessages(context.Background(), model.MessageLogFilter{}, model.Page{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Type, Event, Key, Content string
		Crisis                    bool
	}
	var got []row
	for _, r := range rows {
		got = append(got, row{r.MsgType, r.Event, r.EventKey, r.Content, r.Crisis})
		if r.App != model.AppOA || r.OpenID != "o_user" {
			t.Errorf("row %+v: want app oa, openid o_user", r)
		}
	}
	want := []row{
		{"event", "subscribe", "qrscene_fair", "", false},
		{"text", "", "", "救命！他在打我", true},
		{"text", "", "", "你好", false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("message log (-want +got):\n%s", diff)
	}
}

func TestCallbackWithRedisDown(t *testing.T) {
	sh := mustShared(t)
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: 100 * time.Millisecond})
	defer down.Close()
	h := mustCallbackServer(t, sh, true, func(d *api.Deps) { d.Redis = down })
	w := serve(h, cbReq{path: "/wechat/oa/callback", token: oaToken, appID: oaAppID, aesKey: testKey, doc: oaText(999, "在吗")}.build(t))
	if w.Code != 200 || openReply(t, w.Body.Bytes(), true).Content != "收到：在吗" {
		t.Errorf("POST with Redis down = %d %s, want the message processed anyway", w.Code, w.Body)
	}
}

func TestCallbackNotRateLimited(t *testing.T) {
	sh := mustShared(t)
	h := mustCallbackServer(t, sh, false) // RatePerIP 1
	for i := range 10 {
		if w := serve(h, cbReq{path: "/wechat/oa/callback", token: oaToken, doc: oaText(int64(2000+i), "x")}.build(t)); w.Code != 200 {
			t.Fatalf("callback %d = %d, want 200 (callbacks are not rate limited)", i, w.Code)
		}
	}
}

func TestCallbackSenderEndToEnd(t *testing.T) {
	sh := mustShared(t)
	srv := httptest.NewServer(mustCallbackServer(t, sh, true))
	defer srv.Close()
	s := &wxsim.Sender{URL: srv.URL + "/wechat/oa/callback", Token: oaToken, AESKey: testKey, AppID: oaAppID, HTTP: srv.Client()}
	ctx := context.Background()
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Sender.Verify() = %v", err)
	}
	reply, _, err := s.Send(ctx, wxsim.TextMessage("o_alice", "最美家庭"))
	if err != nil || reply == nil || reply.Content != "收到：最美家庭" {
		t.Fatalf("Sender.Send(text) = %+v, %v, want the text reply", reply, err)
	}
	reply, raw, err := s.Send(ctx, wxsim.EventMessage("o_alice", "CLICK", "LESSONS"))
	if err != nil || reply != nil || string(raw) != "success" {
		t.Errorf("Sender.Send(click) = %+v, %q, %v, want no reply", reply, raw, err)
	}
}

func TestCallbackRoutesNeedAGateway(t *testing.T) {
	h := mustServer(t, api.Deps{OACallback: wechat.Endpoint{Token: "t"}})
	if w := serve(h, httptest.NewRequest("POST", "/wechat/oa/callback", nil)); w.Code != 404 {
		t.Errorf("POST /wechat/oa/callback without a gateway = %d, want 404", w.Code)
	}
	if _, err := api.NewServer(api.Deps{Gateway: &fakeGateway{}, Redis: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}),
		OACallback: wechat.Endpoint{Token: "t", AppID: "wx", AESKey: "short"}}); err == nil {
		t.Error("NewServer(malformed AES key) = nil error, want one")
	}
}

type messageItem struct {
	ID         int64  `json:"id"`
	App        string `json:"app"`
	OpenID     string `json:"openid"`
	MsgType    string `json:"msg_type"`
	Event      string `json:"event"`
	Content    string `json:"content"`
	Crisis     bool   `json:"crisis"`
	ReceivedAt string `json:"received_at"`
}

func TestAdminMessages(t *testing.T) {
	sh := mustShared(t)
	e := mustAccounts(t, api.Deps{Messages: sh.log})
	ctx := context.Background()
	day := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, en := range []model.MessageLogEntry{
		{App: model.AppOA, OpenID: "oA", MsgType: "text", Content: "救命", Crisis: true, DedupeKey: "k1", ReceivedAt: day},
		{App: model.AppMP, OpenID: "oB", MsgType: "event", Event: "subscribe_msg_popup_event", DedupeKey: "k2", ReceivedAt: day.Add(24 * time.Hour)},
		{App: model.AppOA, OpenID: "oB", MsgType: "text", Content: "你好", DedupeKey: "k3", ReceivedAt: day.Add(48 * time.Hour)},
	} {
		if _, err := sh.store.AppendMessage(ctx, en); err != nil {
			t.Fatalf("AppendMessage(%d) = %v", i, err)
		}
	}
	e.mustStaff(t, "editor", false, model.RoleEditor)
	e.mustStaff(t, "boss", false, model.RoleAdmin)
	e.mustStaff(t, "reviewer", false, model.RoleReviewer)
	editor := e.mustLogin(t, "editor").Token
	wantStatus(t, e, "GET", "/api/admin/messages", "", e.mustLogin(t, "reviewer").Token, 403, "forbidden")
	wantStatus(t, e, "GET", "/api/admin/messages", "", "", 401, "unauthenticated")
	wantStatus(t, e, "GET", "/api/admin/messages", "", e.mustLogin(t, "boss").Token, 200, "")

	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"你好", "", "救命"}},
		{"?app=mp", []string{""}},
		{"?openid=oB&app=oa", []string{"你好"}},
		{"?crisis=true", []string{"救命"}},
		{"?type=event", []string{""}},
		{"?from=2026-03-02&to=2026-03-02", []string{""}},
		{"?to=2026-03-01T18:00:01%2B08:00", []string{"救命"}},
	}
	for _, tt := range tests {
		body := wantStatus(t, e, "GET", "/api/admin/messages"+tt.query, "", editor, 200, "")
		got := mustJSON[struct {
			Items      []messageItem `json:"items"`
			NextCursor string        `json:"next_cursor"`
		}](t, body)
		var contents []string
		for _, it := range got.Items {
			contents = append(contents, it.Content)
		}
		if diff := cmp.Diff(tt.want, contents); diff != "" {
			t.Errorf("GET /api/admin/messages%s contents (-want +got):\n%s", tt.query, diff)
		}
	}
	first := mustJSON[struct {
		Items []messageItem `json:"items"`
	}](t, wantStatus(t, e, "GET", "/api/admin/messages?crisis=true", "", editor, 200, "")).Items[0]
	if first.App != "oa" || first.OpenID != "oA" || !first.Crisis || first.ReceivedAt != "2026-03-01T18:00:00+08:00" {
		t.Errorf("crisis item = %+v", first)
	}
	page := mustJSON[struct {
		Items      []messageItem `json:"items"`
		NextCursor string        `json:"next_cursor"`
	}](t, wantStatus(t, e, "GET", "/api/admin/messages?limit=2", "", editor, 200, ""))
	if len(page.Items) != 2 || page.NextCursor == "" {
		t.Errorf("limit=2: %d items, cursor %q", len(page.Items), page.NextCursor)
	}
	for _, q := range []string{"?app=wx", "?crisis=maybe", "?from=yesterday", "?limit=0", "?cursor=!!", "?from=2026-03-03&to=2026-03-01"} {
		wantStatus(t, e, "GET", "/api/admin/messages"+q, "", editor, 400, "invalid")
	}
}
