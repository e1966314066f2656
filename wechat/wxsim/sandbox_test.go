package wxsim_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"wanjia/wechat/wxsim"
)

func TestSandbox(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := wxsim.NewSandbox(wxsim.WithClock(c.Now), wxsim.WithAutoDeliver(0))
	t.Cleanup(func() { s.Close() })

	// Any js_code logs in: the demo user, or a named one.
	a := code2Session(t, s, wxsim.SandboxMPAppID, wxsim.SandboxMPSecret, "code-from-a-real-phone")
	mustErrcode(t, a, 0)
	if a.json["openid"] != wxsim.SandboxMPOpenIDs[0] || a.json["unionid"] == nil {
		t.Errorf("sandbox login = %s, want the first demo user with a union id", a.body)
	}
	named := code2Session(t, s, wxsim.SandboxMPAppID, wxsim.SandboxMPSecret, "sim:alice")
	if named.json["openid"] == wxsim.SandboxMPOpenIDs[0] {
		t.Errorf("sim:alice logged in as the demo user")
	}
	if got := len(s.Users()); got != 7 {
		t.Errorf("len(Users()) = %d, want 6 demo users and alice", got)
	}

	oa := mustToken(t, s, wxsim.SandboxOAAppID, wxsim.SandboxOASecret)
	mp := mustToken(t, s, wxsim.SandboxMPAppID, wxsim.SandboxMPSecret)
	list := do(t, s, http.MethodGet, "/cgi-bin/user/get?access_token="+oa, nil)
	if list.json["total"] != 3.0 {
		t.Errorf("sandbox followers = %s, want 3", list.body)
	}
	// A follower the simulator never saw (a `wanjia sim --openid` user) can be messaged.
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/message/custom/send?access_token="+oa,
		map[string]any{"touser": "oCLIUser", "msgtype": "text", "text": map[string]string{"content": "hi"}}), 0)
	if info := do(t, s, http.MethodGet, "/cgi-bin/user/info?access_token="+oa+"&openid=oCLIUser", nil); info.json["subscribe"] != 1.0 {
		t.Errorf("lenient user/info = %s, want a follower", info.body)
	}
	tags := do(t, s, http.MethodGet, "/cgi-bin/tags/get?access_token="+oa, nil)
	if n := len(tags.json["tags"].([]any)); n != 3 {
		t.Errorf("sandbox tags = %s, want 3", tags.body)
	}
	phone := do(t, s, http.MethodPost, "/wxa/business/getuserphonenumber?access_token="+mp,
		map[string]string{"code": s.PhoneCode(wxsim.SandboxMPOpenIDs[1], "")})
	if got := phone.json["phone_info"].(map[string]any)["purePhoneNumber"]; got != "13800000002" {
		t.Errorf("demo phone = %v, want 13800000002", got)
	}
	check := do(t, s, http.MethodPost, "/wxa/msg_sec_check?access_token="+mp,
		map[string]any{"version": 2, "openid": wxsim.SandboxMPOpenIDs[0], "scene": 2, "content": "来赌博"})
	if check.json["result"].(map[string]any)["suggest"] != "risky" {
		t.Errorf("sandbox msg_sec_check = %s, want risky", check.body)
	}

	// A mass send shows up in the statistics the next days.
	draft := mustDraft(t, s, oa, "沙箱群发")
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/message/mass/sendall?access_token="+oa, map[string]any{
		"filter": map[string]any{"is_to_all": true}, "msgtype": "mpnews", "mpnews": map[string]string{"media_id": draft}}), 0)
	if err := s.FlushOAEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Add(72 * time.Hour)
	oa = mustToken(t, s, wxsim.SandboxOAAppID, wxsim.SandboxOASecret)
	biz := do(t, s, http.MethodPost, "/datacube/getbizsummary?access_token="+oa, map[string]string{"begin_date": "2025-03-10", "end_date": "2025-03-12"})
	mustErrcode(t, biz, 0)
	days := biz.json["list"].([]any)
	if len(days) != 3 {
		t.Fatalf("getbizsummary = %s, want 3 days", biz.body)
	}
	first := days[0].(map[string]any)["detail"].(map[string]any)
	last := days[2].(map[string]any)["detail"].(map[string]any)
	if first["read_user"].(float64) <= last["read_user"].(float64) || first["send_page_count"] != 1.0 {
		t.Errorf("generated reads %v then %v, want decreasing from a published day", first, last)
	}
}

func TestSandboxAutoDelivers(t *testing.T) {
	t.Parallel()
	s := wxsim.NewSandbox(wxsim.WithAutoDeliver(5 * time.Millisecond))
	t.Cleanup(func() { s.Close() })
	cb := newMPCallback(t, "")
	s.SetMPCallback(cb.URL, cbToken, "")
	tok := mustToken(t, s, wxsim.SandboxMPAppID, wxsim.SandboxMPSecret)
	mustErrcode(t, do(t, s, http.MethodPost, "/wxa/media_check_async?access_token="+tok,
		map[string]any{"media_url": "https://x/risky.jpg", "media_type": 2, "version": 2, "openid": "anyone", "scene": 1}), 0)
	deadline := time.Now().Add(5 * time.Second)
	for len(cb.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(cb.received()) != 1 {
		t.Fatal("sandbox did not deliver the media check by itself")
	}
}

func TestTrim(t *testing.T) {
	t.Parallel()
	var recs []int
	for i := range 3 * wxsim.MaxRecords {
		recs = wxsim.TrimInts(append(recs, i))
	}
	if len(recs) < wxsim.MaxRecords || len(recs) >= 2*wxsim.MaxRecords || recs[len(recs)-1] != 3*wxsim.MaxRecords-1 ||
		!slices.IsSorted(recs) {
		t.Errorf("after trimming: %d records ending %d", len(recs), recs[len(recs)-1])
	}
}
