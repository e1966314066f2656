package wxsim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/wechat/wxsim"
)

func code2Session(tb testing.TB, s *wxsim.Sim, appID, secret, code string) answer {
	tb.Helper()
	return do(tb, s, http.MethodGet, "/sns/jscode2session?appid="+appID+"&secret="+secret+"&js_code="+code+"&grant_type=authorization_code", nil)
}

func TestCode2Session(t *testing.T) {
	t.Parallel()
	s, c := newSim(t)
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1", UnionID: "u1"})
	s.AddUser(wxsim.User{AppID: oaID, OpenID: "oOA1"})

	code := s.LoginCode("oMP1")
	a := code2Session(t, s, mpID, mpSecret, code)
	mustErrcode(t, a, 0)
	if a.json["openid"] != "oMP1" || a.json["unionid"] != "u1" || a.json["session_key"] == "" {
		t.Errorf("code2session = %s, want openid oMP1, unionid u1 and a session key", a.body)
	}
	if _, ok := a.json["errcode"]; ok {
		t.Errorf("success carries errcode: %s", a.body)
	}

	expired := s.LoginCode("oMP1")
	otherApp := s.LoginCode("oOA1")
	fresh := s.LoginCode("oNew")
	tests := []struct {
		name    string
		appID   string
		secret  string
		code    string
		advance time.Duration
		want    int
	}{
		{"reused", mpID, mpSecret, code, 0, 40163},
		{"unknown", mpID, mpSecret, "nope", 0, 40029},
		{"empty", mpID, mpSecret, "", 0, 40029},
		{"wrong secret", mpID, "x", s.LoginCode("oMP1"), 0, 40001},
		{"unknown app", "wxnone", mpSecret, s.LoginCode("oMP1"), 0, 40013},
		{"user of another app", mpID, mpSecret, otherApp, 0, 40029},
		{"new user", mpID, mpSecret, fresh, 0, 0},
		{"expired", mpID, mpSecret, expired, 6 * time.Minute, 40029},
	}
	for _, tt := range tests {
		c.Add(tt.advance)
		a := code2Session(t, s, tt.appID, tt.secret, tt.code)
		if got := a.errcode(); got != tt.want {
			t.Errorf("%s: jscode2session errcode = %d, want %d (%s)", tt.name, got, tt.want, a.body)
		}
	}
}

func TestLenient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		defaultUser string
		code        string
		want        string // openid; "" means derived (checked stable per name)
	}{
		{"default user", "oDefault", "0a1b2c", "oDefault"},
		{"named", "oDefault", "sim:alice:1", ""},
		{"derived", "", "xyz", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newSim(t, wxsim.WithLenient(tt.defaultUser))
			a := code2Session(t, s, mpID, mpSecret, tt.code)
			mustErrcode(t, a, 0)
			got := a.json["openid"].(string)
			if tt.want != "" && got != tt.want {
				t.Errorf("openid = %s, want %s", got, tt.want)
			}
			if tt.want == "" && (got == "" || got == "oDefault") {
				t.Errorf("openid = %q, want one derived from the code", got)
			}
			mustErrcode(t, code2Session(t, s, mpID, mpSecret, tt.code), 40163)
			if tt.code == "sim:alice:1" {
				again := code2Session(t, s, mpID, mpSecret, "sim:alice:2")
				if again.json["openid"] != got {
					t.Errorf("sim:alice:2 logged in as %v, want %s like sim:alice:1", again.json["openid"], got)
				}
			}
		})
	}
}

func TestPhoneNumber(t *testing.T) {
	t.Parallel()
	s, c := newSim(t)
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1", Phone: "13800000001"})
	tok := mustToken(t, s, mpID, mpSecret)
	path := "/wxa/business/getuserphonenumber?access_token=" + tok

	code := s.PhoneCode("oMP1", "")
	a := do(t, s, http.MethodPost, path, map[string]string{"code": code})
	mustErrcode(t, a, 0)
	want := map[string]any{
		"phoneNumber": "13800000001", "purePhoneNumber": "13800000001", "countryCode": "86",
		"watermark": map[string]any{"appid": mpID, "timestamp": float64(c.Now().Unix())},
	}
	if diff := cmp.Diff(want, a.json["phone_info"]); diff != "" {
		t.Errorf("phone_info mismatch (-want +got):\n%s", diff)
	}

	expired := s.PhoneCode("oMP1", "13900000000")
	tests := []struct {
		name    string
		body    any
		advance time.Duration
		want    int
	}{
		{"reused", map[string]string{"code": code}, 0, 40029},
		{"unknown", map[string]string{"code": "nope"}, 0, 40029},
		{"wrong openid", map[string]string{"code": s.PhoneCode("oMP1", "1"), "openid": "oOther"}, 0, 40029},
		{"not json", []byte("code=1"), 0, 47001},
		{"expired", map[string]string{"code": expired}, 6 * time.Minute, 40029},
	}
	for _, tt := range tests {
		c.Add(tt.advance)
		mustErrcode(t, do(t, s, http.MethodPost, path, tt.body), tt.want)
	}
	mustErrcode(t, do(t, s, http.MethodPost, "/wxa/business/getuserphonenumber", map[string]string{"code": "x"}), 41001)
}

func TestOAUsers(t *testing.T) {
	t.Parallel()
	s, c := newSim(t, wxsim.WithUserPageSize(2))
	s.AddTag(oaID, 100, "家长")
	since := c.Now().Add(-time.Hour)
	for _, id := range []string{"o3", "o1", "o2"} {
		s.AddUser(wxsim.User{AppID: oaID, OpenID: id, UnionID: "u" + id, Subscribed: true, SubscribeTime: since, TagIDs: []int{100}})
	}
	s.AddUser(wxsim.User{AppID: oaID, OpenID: "oGone"})
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP"})
	tok := mustToken(t, s, oaID, oaSecret)

	a := do(t, s, http.MethodGet, "/cgi-bin/user/info?access_token="+tok+"&openid=o1&lang=zh_CN", nil)
	mustErrcode(t, a, 0)
	want := map[string]any{
		"subscribe": 1.0, "openid": "o1", "unionid": "uo1", "language": "zh_CN", "subscribe_time": float64(since.Unix()),
		"remark": "", "groupid": 0.0, "tagid_list": []any{100.0}, "subscribe_scene": "ADD_SCENE_QR_CODE",
		"qr_scene": 0.0, "qr_scene_str": "",
	}
	if diff := cmp.Diff(want, a.json); diff != "" {
		t.Errorf("user/info mismatch (-want +got):\n%s", diff)
	}
	gone := do(t, s, http.MethodGet, "/cgi-bin/user/info?access_token="+tok+"&openid=oGone", nil)
	if diff := cmp.Diff(map[string]any{"subscribe": 0.0, "openid": "oGone"}, gone.json); diff != "" {
		t.Errorf("user/info of a non-follower (-want +got):\n%s", diff)
	}
	mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/user/info?access_token="+tok+"&openid=oMP", nil), 40003)

	batch := do(t, s, http.MethodPost, "/cgi-bin/user/info/batchget?access_token="+tok,
		map[string]any{"user_list": []map[string]string{{"openid": "o2"}, {"openid": "oGone"}}})
	mustErrcode(t, batch, 0)
	if list := batch.json["user_info_list"].([]any); len(list) != 2 || list[0].(map[string]any)["openid"] != "o2" {
		t.Errorf("batchget = %s", batch.body)
	}
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/user/info/batchget?access_token="+tok,
		map[string]any{"user_list": []map[string]string{{"openid": "oNobody"}}}), 40003)
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/user/info/batchget?access_token="+tok,
		map[string]any{"user_list": []map[string]string{}}), 40097)

	var pages [][]any
	next := ""
	for range 4 {
		p := do(t, s, http.MethodGet, "/cgi-bin/user/get?access_token="+tok+"&next_openid="+next, nil)
		mustErrcode(t, p, 0)
		if p.json["total"] != 3.0 {
			t.Fatalf("user/get total = %v, want 3", p.json["total"])
		}
		if p.json["count"] == 0.0 {
			break
		}
		pages = append(pages, p.json["data"].(map[string]any)["openid"].([]any))
		next = p.json["next_openid"].(string)
	}
	if diff := cmp.Diff([][]any{{"o1", "o2"}, {"o3"}}, pages); diff != "" {
		t.Errorf("user/get pages (-want +got):\n%s", diff)
	}

	tags := do(t, s, http.MethodGet, "/cgi-bin/tags/get?access_token="+tok, nil)
	wantTags := []any{
		map[string]any{"id": 2.0, "name": "星标组", "count": 0.0},
		map[string]any{"id": 100.0, "name": "家长", "count": 3.0},
	}
	if diff := cmp.Diff(wantTags, tags.json["tags"]); diff != "" {
		t.Errorf("tags/get (-want +got):\n%s", diff)
	}
}
