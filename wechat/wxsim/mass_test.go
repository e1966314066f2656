package wxsim_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/silenceper/wechat/v2/officialaccount/message"

	"wanjia/wechat/wxsim"
)

// massGet calls message/mass/get with msgID (a string or a number).
func massGet(tb testing.TB, s *wxsim.Sim, tok string, msgID any) answer {
	tb.Helper()
	return do(tb, s, http.MethodPost, "/cgi-bin/message/mass/get?access_token="+tok, map[string]any{"msg_id": msgID})
}

func TestMassGet(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	s.AddUser(wxsim.User{AppID: oaID, OpenID: "o1", Subscribed: true})
	tok := mustToken(t, s, oaID, oaSecret)
	send := func() int64 {
		a := do(t, s, http.MethodPost, "/cgi-bin/message/mass/sendall?access_token="+tok, map[string]any{
			"filter": map[string]any{"is_to_all": true}, "msgtype": "mpnews", "mpnews": map[string]string{"media_id": mustDraft(t, s, tok, "群发")}})
		mustErrcode(t, a, 0)
		return int64(a.json["msg_id"].(float64))
	}
	ok := send()
	tests := []struct {
		name    string
		msgID   any
		errcode int
		status  string
	}{
		{"as a string, sending", itoa(ok), 0, wxsim.MassSending},
		{"as a number", ok, 0, wxsim.MassSending},
		{"unknown", "201053012", 40059, ""},
		{"not a number", "abc", 40059, ""},
		{"missing", nil, 40059, ""},
	}
	for _, tt := range tests {
		a := massGet(t, s, tok, tt.msgID)
		mustErrcode(t, a, tt.errcode)
		if tt.errcode != 0 {
			continue
		}
		if a.json["msg_id"] != float64(ok) || a.json["msg_status"] != tt.status {
			t.Errorf("%s: mass/get = %s, want msg_id %d (a number) and %s", tt.name, a.body, ok, tt.status)
		}
		if _, has := a.json["errcode"]; has {
			t.Errorf("%s: mass/get = %s, want no errcode (WeChat's answer has none)", tt.name, a.body)
		}
	}
	mustErrcode(t, massGet(t, s, mustToken(t, s, mpID, mpSecret), itoa(ok)), 40059) // another app's job

	if err := s.FlushOAEvents(context.Background()); err != nil { // no callback: the job ends, the event is dropped
		t.Fatal(err)
	}
	if a := massGet(t, s, tok, itoa(ok)); a.json["msg_status"] != wxsim.MassSuccess {
		t.Errorf("mass/get after the job = %s, want SEND_SUCCESS", a.body)
	}
	s.SetMassStatus("send fail")
	failed := send()
	if err := s.FlushOAEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a := massGet(t, s, tok, itoa(failed)); a.json["msg_status"] != wxsim.MassFail {
		t.Errorf("mass/get of a failed job = %s, want SEND_FAIL", a.body)
	}
	if !s.DeleteMass(ok) || s.DeleteMass(1) {
		t.Error("DeleteMass() reports the wrong jobs")
	}
	if a := massGet(t, s, tok, itoa(ok)); a.json["msg_status"] != wxsim.MassDeleted {
		t.Errorf("mass/get of a deleted job = %s, want DELETE", a.body)
	}
	jobs := s.Masses()
	if len(jobs) != 2 || jobs[0].MsgID != ok || jobs[0].Status != wxsim.MassDeleted || jobs[1].Status != wxsim.MassFail || jobs[0].MsgDataID == 0 {
		t.Errorf("Masses() = %+v", jobs)
	}
}

// TestWithholdOAEvents: a withheld MASSSENDJOBFINISH completes its job but
// does not reach the callback until PushWithheld; other events, and the
// next mass send, go as usual.
func TestWithholdOAEvents(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	s.AddUser(wxsim.User{AppID: oaID, OpenID: "o1", Subscribed: true})
	srv := newOAServer(t, testAESKey, nil)
	s.SetOACallback(srv.URL, cbToken, testAESKey, oaID)
	tok := mustToken(t, s, oaID, oaSecret)
	s.WithholdOAEvents("MASSSENDJOBFINISH", 1)
	draft := mustDraft(t, s, tok, "群发")
	sendall := func() int64 {
		a := do(t, s, http.MethodPost, "/cgi-bin/message/mass/sendall?access_token="+tok, map[string]any{
			"filter": map[string]any{"is_to_all": true}, "msgtype": "mpnews", "mpnews": map[string]string{"media_id": draft}})
		mustErrcode(t, a, 0)
		return int64(a.json["msg_id"].(float64))
	}
	first := sendall()
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/freepublish/submit?access_token="+tok, map[string]string{"media_id": draft}), 0)
	ctx := context.Background()
	if err := s.FlushOAEvents(ctx); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 || got[0].Event != message.EventPublishJobFinish {
		t.Fatalf("callback received %d events (%+v), want only PUBLISHJOBFINISH", len(got), got)
	}
	if a := massGet(t, s, tok, itoa(first)); a.json["msg_status"] != wxsim.MassSuccess {
		t.Errorf("mass/get of the withheld job = %s, want SEND_SUCCESS", a.body)
	}
	if n := s.Withheld(); n != 1 {
		t.Errorf("Withheld() = %d, want 1", n)
	}
	second := sendall() // withholding was for one event
	if err := s.FlushOAEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.PushWithheld(ctx); err != nil {
		t.Fatal(err)
	}
	got = srv.received()
	if len(got) != 3 || got[1].TemplateMsgID != second || got[2].TemplateMsgID != first || got[2].Status != "send success" ||
		got[2].SentCount != 1 {
		t.Fatalf("callback events = %+v, want the second mass send's, then the withheld first one, late", got)
	}
	if n := s.Withheld(); n != 0 {
		t.Errorf("Withheld() after PushWithheld = %d, want 0", n)
	}
}
