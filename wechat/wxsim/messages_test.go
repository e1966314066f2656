package wxsim_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wanjia/wechat/wxsim"
)

func subscribeBody(to, tpl string, data map[string]string) map[string]any {
	d := map[string]any{}
	for k, v := range data {
		d[k] = map[string]string{"value": v, "color": ""}
	}
	return map[string]any{"touser": to, "template_id": tpl, "page": "pages/index/index", "miniprogram_state": "", "lang": "", "data": d}
}

func TestSubscribeSend(t *testing.T) {
	t.Parallel()
	s, c := newSim(t)
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1"})
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP2"})
	s.AddTemplate(mpID, "TPL1", "thing1", "time2")
	s.RefuseFor("oMP2", "TPL1")
	tok := mustToken(t, s, mpID, mpSecret)
	path := "/cgi-bin/message/subscribe/send?access_token=" + tok
	ok := map[string]string{"thing1": "新课上线", "time2": "2025-03-10 10:00"}

	tests := []struct {
		name string
		body any
		want int
	}{
		{"ok", subscribeBody("oMP1", "TPL1", ok), 0},
		{"refused", subscribeBody("oMP2", "TPL1", ok), 43101},
		{"unknown openid", subscribeBody("oNobody", "TPL1", ok), 40003},
		{"unknown template", subscribeBody("oMP1", "TPL9", ok), 40037},
		{"missing key", subscribeBody("oMP1", "TPL1", map[string]string{"thing1": "x"}), 47003},
		{"thing too long", subscribeBody("oMP1", "TPL1", map[string]string{"thing1": strings.Repeat("字", 21), "time2": "x"}), 47003},
		{"bad page", map[string]any{"touser": "oMP1", "template_id": "TPL1", "page": "/pages/x", "data": subscribeBody("", "", ok)["data"]}, 41030},
		{"not json", []byte("{"), 47001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, s, http.MethodPost, path, tt.body)
			mustErrcode(t, a, tt.want)
			if tt.want == 0 {
				if id, _ := a.json["msgid"].(float64); id <= 0 || a.json["errmsg"] != "ok" {
					t.Errorf("answer = %s, want errmsg ok and a msgid", a.body)
				}
			}
		})
	}
	got := s.Sent(wxsim.KindSubscribe)
	want := []wxsim.SentMessage{{Kind: wxsim.KindSubscribe, AppID: mpID, ToUser: "oMP1", TemplateID: "TPL1", Page: "pages/index/index", Data: ok, At: c.Now()}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(wxsim.SentMessage{}, "MsgID", "Body")); diff != "" {
		t.Errorf("Sent(subscribe) mismatch (-want +got):\n%s", diff)
	}
	s.Reset()
	mustErrcode(t, do(t, s, http.MethodPost, path, subscribeBody("oMP2", "TPL1", ok)), 0)
}

func TestTemplateSend(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	s.AddUser(wxsim.User{AppID: oaID, OpenID: "o1", Subscribed: true})
	s.AddUser(wxsim.User{AppID: oaID, OpenID: "o2", Subscribed: true})
	s.RefuseFor("o2")
	tok := mustToken(t, s, oaID, oaSecret)
	path := "/cgi-bin/message/template/send?access_token=" + tok
	body := func(to, tpl, clientID string) map[string]any {
		return map[string]any{
			"touser": to, "template_id": tpl, "url": "https://example.com", "client_msg_id": clientID,
			"miniprogram": map[string]string{"appid": "", "pagepath": ""},
			"data":        map[string]any{"keyword1": map[string]string{"value": "巧克力"}},
		}
	}
	tests := []struct {
		name string
		body any
		want int
	}{
		{"ok", body("o1", "T1", ""), 0},
		{"with client id", body("o1", "T1", "c1"), 0},
		{"refused", body("o2", "T1", ""), 43101},
		{"bad openid", body("oX", "T1", ""), 40003},
		{"no template", body("o1", "", ""), 40037},
	}
	for _, tt := range tests {
		mustErrcode(t, do(t, s, http.MethodPost, path, tt.body), tt.want)
	}
	first := do(t, s, http.MethodPost, path, body("o1", "T1", "c2"))
	dup := do(t, s, http.MethodPost, path, body("o1", "T1", "c2"))
	if first.json["msgid"] != dup.json["msgid"] {
		t.Errorf("same client_msg_id: msgid %v then %v, want the same", first.json["msgid"], dup.json["msgid"])
	}
	sent := s.Sent(wxsim.KindTemplate)
	if len(sent) != 3 {
		t.Fatalf("len(Sent(template)) = %d, want 3", len(sent))
	}
	if sent[0].Data["keyword1"] != "巧克力" || sent[0].URL != "https://example.com" {
		t.Errorf("Sent[0] = %+v", sent[0])
	}
	if oa, _ := s.PendingEvents(); oa != 3 {
		t.Errorf("pending OA events = %d, want 3 TEMPLATESENDJOBFINISH", oa)
	}
}

func TestCustomSend(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	s.AddUser(wxsim.User{AppID: oaID, OpenID: "o1", Subscribed: true})
	tok := mustToken(t, s, oaID, oaSecret)
	path := "/cgi-bin/message/custom/send?access_token=" + tok
	tests := []struct {
		name string
		body any
		want int
	}{
		{"text", map[string]any{"touser": "o1", "msgtype": "text", "text": map[string]string{"content": "你好"}}, 0},
		{"news", map[string]any{"touser": "o1", "msgtype": "news", "news": map[string]any{"articles": []map[string]string{{"title": "t", "url": "u"}}}}, 0},
		{"two news", map[string]any{"touser": "o1", "msgtype": "news", "news": map[string]any{"articles": []map[string]string{{"title": "a"}, {"title": "b"}}}}, 45008},
		{"empty text", map[string]any{"touser": "o1", "msgtype": "text", "text": map[string]string{"content": " "}}, 44004},
		{"image without media", map[string]any{"touser": "o1", "msgtype": "image", "image": map[string]string{}}, 40007},
		{"bad type", map[string]any{"touser": "o1", "msgtype": "fax", "fax": map[string]string{}}, 40008},
		{"missing body", map[string]any{"touser": "o1", "msgtype": "text"}, 47001},
		{"bad openid", map[string]any{"touser": "oX", "msgtype": "text", "text": map[string]string{"content": "x"}}, 40003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustErrcode(t, do(t, s, http.MethodPost, path, tt.body), tt.want)
		})
	}
	s.Fail("/cgi-bin/message/custom/send", 45015, 1)
	mustErrcode(t, do(t, s, http.MethodPost, path, tests[0].body), 45015)
	sent := s.Sent(wxsim.KindCustom)
	if len(sent) != 2 || sent[0].Content != "你好" || sent[0].MsgType != "text" || sent[1].MsgType != "news" {
		t.Errorf("Sent(custom) = %+v", sent)
	}
}

func TestMassSend(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	for i, id := range []string{"o1", "o2", "o3"} {
		s.AddUser(wxsim.User{AppID: oaID, OpenID: id, Subscribed: true, TagIDs: []int{100 + i%2}})
	}
	tok := mustToken(t, s, oaID, oaSecret)
	draft := mustDraft(t, s, tok, "群发标题")
	path := "/cgi-bin/message/mass/sendall?access_token=" + tok
	text := func(clientID string) map[string]any {
		return map[string]any{"filter": map[string]any{"is_to_all": true}, "msgtype": "text", "text": map[string]string{"content": "通知"}, "clientmsgid": clientID}
	}
	first := do(t, s, http.MethodPost, path, text("job-1"))
	mustErrcode(t, first, 0)
	if first.json["errmsg"] != "send job submission success" || first.json["msg_id"] == nil {
		t.Errorf("sendall = %s", first.body)
	}
	if _, ok := first.json["msg_data_id"]; ok {
		t.Errorf("text sendall carries msg_data_id: %s", first.body)
	}
	dup := do(t, s, http.MethodPost, path, text("job-1"))
	mustErrcode(t, dup, 45065)
	if dup.json["msg_id"] != first.json["msg_id"] {
		t.Errorf("45065 msg_id = %v, want %v", dup.json["msg_id"], first.json["msg_id"])
	}

	news := do(t, s, http.MethodPost, path, map[string]any{
		"filter": map[string]any{"is_to_all": false, "tag_id": 100}, "msgtype": "mpnews",
		"mpnews": map[string]string{"media_id": draft}, "send_ignore_reprint": 1,
	})
	mustErrcode(t, news, 0)
	if id, _ := news.json["msg_data_id"].(float64); id <= 0 {
		t.Errorf("mpnews sendall = %s, want msg_data_id", news.body)
	}
	tests := []struct {
		name string
		path string
		body any
		want int
	}{
		{"unknown draft", path, map[string]any{"filter": map[string]any{"is_to_all": true}, "msgtype": "mpnews", "mpnews": map[string]string{"media_id": "x"}}, 40007},
		{"no filter", path, map[string]any{"msgtype": "text", "text": map[string]string{"content": "x"}}, 40097},
		{"empty text", path, map[string]any{"filter": map[string]any{"is_to_all": true}, "msgtype": "text", "text": map[string]string{"content": ""}}, 44004},
		{"bad type", path, map[string]any{"filter": map[string]any{"is_to_all": true}, "msgtype": "fax"}, 40008},
		{"by openid", "/cgi-bin/message/mass/send?access_token=" + tok, map[string]any{"touser": []string{"o1", "o2"}, "msgtype": "text", "text": map[string]string{"content": "x"}}, 0},
		{"one openid", "/cgi-bin/message/mass/send?access_token=" + tok, map[string]any{"touser": []string{"o1"}, "msgtype": "text", "text": map[string]string{"content": "x"}}, 40130},
	}
	for _, tt := range tests {
		mustErrcode(t, do(t, s, http.MethodPost, tt.path, tt.body), tt.want)
	}
	sent := s.Sent(wxsim.KindMass)
	if len(sent) != 3 {
		t.Fatalf("len(Sent(mass)) = %d, want 3", len(sent))
	}
	if !sent[0].ToAll || sent[0].ClientMsgID != "job-1" || sent[1].TagID != 100 || sent[1].MediaID != draft || len(sent[2].ToUsers) != 2 {
		t.Errorf("Sent(mass) = %+v", sent)
	}
}
