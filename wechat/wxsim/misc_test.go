package wxsim_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"wanjia/wechat/wxsim"
)

func TestAddAppAndLogger(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s, _ := newSim(t, wxsim.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	s.AddApp("wxnew", "s1")
	mustToken(t, s, "wxnew", "s1")
	s.AddApp("wxnew", "s2") // a secret reset
	mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/token?grant_type=client_credential&appid=wxnew&secret=s1", nil), 40001)
	mustToken(t, s, "wxnew", "s2")
	if s.TokenFetches("wxnone") != 0 {
		t.Error("TokenFetches of an unknown app")
	}
	do(t, s, http.MethodGet, "/nowhere", nil)
	if !strings.Contains(logs.String(), "errcode=40001") || !strings.Contains(logs.String(), "/nowhere") {
		t.Errorf("logs = %q, want the error answer and the unknown path", logs.String())
	}
	if got := wxsim.ErrText(12345); got != "simulated error" {
		t.Errorf("ErrText(12345) = %q", got)
	}
}

func TestLenientPhoneAndCodePruning(t *testing.T) {
	t.Parallel()
	s, c := newSim(t, wxsim.WithLenient(""))
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1", Phone: "13800000009"})
	tok := mustToken(t, s, mpID, mpSecret)
	path := "/wxa/business/getuserphonenumber?access_token=" + tok
	known := do(t, s, http.MethodPost, path, map[string]string{"code": "any", "openid": "oMP1"})
	derived := do(t, s, http.MethodPost, path, map[string]string{"code": "other"})
	if known.json["phone_info"].(map[string]any)["purePhoneNumber"] != "13800000009" {
		t.Errorf("lenient phone of a known user = %s", known.body)
	}
	if p := derived.json["phone_info"].(map[string]any)["purePhoneNumber"].(string); len(p) != 11 || !strings.HasPrefix(p, "139") {
		t.Errorf("derived phone = %q", p)
	}
	mustErrcode(t, do(t, s, http.MethodPost, path, map[string]string{"code": "other"}), 40029)

	old := s.LoginCode("oMP1")
	mustErrcode(t, code2Session(t, s, mpID, mpSecret, old), 0)
	c.Add(2 * time.Hour)
	s.LoginCode("oMP1") // prunes the old code
	// A pruned code is unknown: lenient mode logs in a derived user instead of 40163.
	if a := code2Session(t, s, mpID, mpSecret, old); a.errcode() != 0 || a.json["openid"] == "oMP1" {
		t.Errorf("pruned code = %s, want a fresh lenient login", a.body)
	}
}

func TestMassSendMediaTypes(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	s.AddUser(wxsim.User{AppID: oaID, OpenID: "o1", Subscribed: true})
	tok := mustToken(t, s, oaID, oaSecret)
	img := upload(t, s, "/cgi-bin/material/add_material?type=image&access_token="+tok, "media", jpegBytes(t)).json["media_id"]
	path := "/cgi-bin/message/mass/sendall?access_token=" + tok
	all := map[string]any{"is_to_all": true}
	tests := []struct {
		name string
		body map[string]any
		want int
	}{
		{"images", map[string]any{"filter": all, "msgtype": "image", "images": map[string]any{"media_ids": []any{img}, "recommend": ""}}, 0},
		{"unknown image", map[string]any{"filter": all, "msgtype": "image", "images": map[string]any{"media_ids": []string{"x"}}}, 40007},
		{"no images", map[string]any{"filter": all, "msgtype": "image"}, 40007},
		{"voice", map[string]any{"filter": all, "msgtype": "voice", "voice": map[string]any{"media_id": img}}, 0},
		{"unknown video", map[string]any{"filter": all, "msgtype": "mpvideo", "mpvideo": map[string]any{"media_id": "x"}}, 40007},
		{"card", map[string]any{"filter": all, "msgtype": "wxcard", "wxcard": map[string]any{"card_id": "c"}}, 0},
		{"no card", map[string]any{"filter": all, "msgtype": "wxcard"}, 40097},
		{"mpnews without body", map[string]any{"filter": all, "msgtype": "mpnews"}, 40007},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustErrcode(t, do(t, s, http.MethodPost, path, tt.body), tt.want)
		})
	}
	s.SetMassStatus("send fail")
	srv := newOAServer(t, "", nil)
	s.SetOACallback(srv.URL, cbToken, "", oaID)
	if err := s.FlushOAEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 3 || got[0].Status != "send fail" || got[0].ErrorCount != 1 || got[0].SentCount != 0 {
		t.Errorf("mass events = %+v", got)
	}
}

func TestMediaCheckV1Delivery(t *testing.T) {
	t.Parallel()
	client := &http.Client{Timeout: time.Second}
	s, _ := newSim(t, wxsim.WithCallbackClient(client))
	cb := newMPCallback(t, "")
	s.SetMPCallback(cb.URL, cbToken, "")
	s.SetMediaResult("porn", wxsim.SuggestRisky)
	tok := mustToken(t, s, mpID, mpSecret)
	mustErrcode(t, do(t, s, http.MethodPost, "/wxa/media_check_async?access_token="+tok,
		map[string]any{"media_url": "https://x/porn.jpg", "media_type": 2}), 0)
	if err := s.FlushMediaChecks(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := cb.received()
	if len(got) != 1 || got[0]["isrisky"] != 1.0 || got[0]["status_code"] != 0.0 || got[0]["trace_id"] == "" {
		t.Errorf("v1 payload = %v", got)
	}
	// Unknown image paths are 404s.
	if a := do(t, s, http.MethodGet, "/wxsim/media/nope", nil); a.status != http.StatusNotFound {
		t.Errorf("unknown image status = %d", a.status)
	}
}

func TestFlushHonoursContext(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	cb := newMPCallback(t, "")
	s.SetMPCallback(cb.URL, cbToken, "")
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1"})
	tok := mustToken(t, s, mpID, mpSecret)
	requestMediaCheck(t, s, tok, "https://x/a.jpg")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.FlushMediaChecks(ctx); err == nil {
		t.Fatal("flush with a cancelled context = nil")
	}
	if _, n := s.PendingEvents(); n != 1 {
		t.Errorf("pending after a cancelled flush = %d, want 1", n)
	}
	if err := s.FlushMediaChecks(context.Background()); err != nil || len(cb.received()) != 1 {
		t.Errorf("second flush = %v, %d delivered", err, len(cb.received()))
	}
}
