package wxsim_test

import (
	"bytes"
	"image/jpeg"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wanjia/wechat/wxsim"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestMsgSecCheck(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1"})
	s.AddRiskyWord("赌博", wxsim.LabelIllegal)
	s.AddReviewWord("微商", wxsim.LabelAd)
	tok := mustToken(t, s, mpID, mpSecret)
	path := "/wxa/msg_sec_check?access_token=" + tok
	check := func(content string, mod func(map[string]any)) map[string]any {
		b := map[string]any{"version": 2, "openid": "oMP1", "scene": 2, "content": content, "nickname": "", "title": "", "signature": ""}
		if mod != nil {
			mod(b)
		}
		return b
	}
	tests := []struct {
		name        string
		body        any
		wantErr     int
		wantSuggest string
		wantLabel   float64
	}{
		{"pass", check("我们家很和睦", nil), 0, "pass", 100},
		{"risky", check("一起来赌博吧", nil), 0, "risky", 20006},
		{"review", check("做微商的", nil), 0, "review", 10001},
		{"risky beats review", check("微商赌博", nil), 0, "risky", 20006},
		{"risky title", check("正文", func(b map[string]any) { b["title"] = "赌博" }), 0, "risky", 20006},
		{"bad scene", check("x", func(b map[string]any) { b["scene"] = 9 }), 40129, "", 0},
		{"unknown openid", check("x", func(b map[string]any) { b["openid"] = "oX" }), 40003, "", 0},
		{"v1 risky", map[string]any{"content": "赌博"}, 87014, "", 0},
		{"v1 pass", map[string]any{"content": "你好"}, 0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, s, http.MethodPost, path, tt.body)
			mustErrcode(t, a, tt.wantErr)
			if tt.wantSuggest == "" {
				return
			}
			want := map[string]any{"suggest": tt.wantSuggest, "label": tt.wantLabel}
			if diff := cmp.Diff(want, a.json["result"]); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if a.json["trace_id"] == "" || len(a.json["detail"].([]any)) != 2 {
				t.Errorf("answer = %s, want trace_id and two details", a.body)
			}
		})
	}
}

func TestMediaCheckAsync(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1"})
	tok := mustToken(t, s, mpID, mpSecret)
	path := "/wxa/media_check_async?access_token=" + tok
	tests := []struct {
		name string
		body any
		want int
	}{
		{"ok", map[string]any{"media_url": "https://cdn.example/a.jpg", "media_type": 2, "version": 2, "openid": "oMP1", "scene": 3}, 0},
		{"v1", map[string]any{"media_url": "https://cdn.example/b.mp3", "media_type": 1}, 0},
		{"no url", map[string]any{"media_url": "", "media_type": 2, "version": 2, "openid": "oMP1", "scene": 3}, 40097},
		{"bad type", map[string]any{"media_url": "u", "media_type": 3, "version": 2, "openid": "oMP1", "scene": 3}, 40097},
		{"bad scene", map[string]any{"media_url": "u", "media_type": 2, "version": 2, "openid": "oMP1", "scene": 0}, 40129},
		{"bad openid", map[string]any{"media_url": "u", "media_type": 2, "version": 2, "openid": "oX", "scene": 1}, 40003},
	}
	for _, tt := range tests {
		a := do(t, s, http.MethodPost, path, tt.body)
		mustErrcode(t, a, tt.want)
		if tt.want == 0 && a.json["trace_id"] == "" {
			t.Errorf("%s: answer %s lacks trace_id", tt.name, a.body)
		}
	}
	checks := s.MediaChecks()
	if len(checks) != 2 || checks[0].MediaURL != "https://cdn.example/a.jpg" || checks[0].Suggest != "" {
		t.Errorf("MediaChecks() = %+v, want two pending checks", checks)
	}
	if _, n := s.PendingEvents(); n != 2 {
		t.Errorf("pending media checks = %d, want 2", n)
	}
}

func TestWxaCodeUnlimit(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	s.SetMPPages("pages/index/index", "pages/vote/vote")
	tok := mustToken(t, s, mpID, mpSecret)
	path := "/wxa/getwxacodeunlimit?access_token=" + tok
	no := false
	tests := []struct {
		name string
		body any
		want int // -100: an image
	}{
		{"ok", map[string]any{"scene": "n=42&c=7", "page": "pages/vote/vote", "width": 430}, -100},
		{"colour as strings", map[string]any{"scene": "a", "line_color": map[string]string{"r": "0", "g": "0", "b": "0"}}, -100},
		{"unchecked page", map[string]any{"scene": "a", "page": "pages/new/new", "check_path": &no}, -100},
		{"unknown page", map[string]any{"scene": "a", "page": "pages/new/new"}, 41030},
		{"leading slash", map[string]any{"scene": "a", "page": "/pages/index/index"}, 41030},
		{"query in page", map[string]any{"scene": "a", "page": "pages/index/index?x=1"}, 41030},
		{"scene too long", map[string]any{"scene": strings.Repeat("a", 33)}, 40169},
		{"no scene", map[string]any{"page": "pages/index/index"}, 40169},
		{"bad scene chars", map[string]any{"scene": "a b%"}, 40129},
		{"chinese scene", map[string]any{"scene": "家庭"}, 40129},
		{"bad env", map[string]any{"scene": "a", "env_version": "beta"}, 40097},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, s, http.MethodPost, path, tt.body)
			if tt.want != -100 {
				mustErrcode(t, a, tt.want)
				if !strings.HasPrefix(a.contentType, "application/json") {
					t.Errorf("error content type = %q, want application/json…", a.contentType)
				}
				return
			}
			if a.contentType != "image/jpeg" {
				t.Fatalf("content type = %q, want exactly image/jpeg (body %.100s)", a.contentType, a.body)
			}
			img, err := jpeg.Decode(bytes.NewReader(a.body))
			if err != nil {
				t.Fatalf("answer is not a JPEG: %v", err)
			}
			if w := img.Bounds().Dx(); w != 430 {
				t.Errorf("width = %d, want 430", w)
			}
		})
	}
	one := do(t, s, http.MethodPost, path, map[string]any{"scene": "x=1"})
	two := do(t, s, http.MethodPost, path, map[string]any{"scene": "x=2"})
	if bytes.Equal(one.body, two.body) {
		t.Error("different scenes drew the same picture")
	}
}

func TestMenu(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	tok := mustToken(t, s, oaID, oaSecret)
	create := func(buttons any) answer {
		return do(t, s, http.MethodPost, "/cgi-bin/menu/create?access_token="+tok, map[string]any{"button": buttons})
	}
	valid := []map[string]any{
		{"type": "click", "name": "今日课程", "key": "LESSON_TODAY"},
		{"name": "服务", "sub_button": []map[string]any{
			{"type": "view", "name": "12338", "url": "https://example.com/12338"},
			{"type": "miniprogram", "name": "最美家庭", "url": "https://example.com", "appid": mpID, "pagepath": "pages/index/index"},
		}},
	}
	mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/menu/get?access_token="+tok, nil), 46003)
	if info := do(t, s, http.MethodGet, "/cgi-bin/get_current_selfmenu_info?access_token="+tok, nil); info.json["is_menu_open"] != 0.0 {
		t.Errorf("selfmenu without a menu = %s", info.body)
	}
	tests := []struct {
		name    string
		buttons any
		want    int
	}{
		{"ok", valid, 0},
		{"none", []any{}, 40016},
		{"four", []map[string]any{valid[0], valid[0], valid[0], valid[0]}, 40016},
		{"bad type", []map[string]any{{"type": "fax", "name": "x", "key": "k"}}, 40017},
		{"long name", []map[string]any{{"type": "click", "name": strings.Repeat("名", 6), "key": "k"}}, 40018},
		{"no key", []map[string]any{{"type": "click", "name": "x"}}, 40019},
		{"bad url", []map[string]any{{"type": "view", "name": "x", "url": "ftp://x"}}, 40055},
		{"six subs", []map[string]any{{"name": "x", "sub_button": []map[string]any{valid[0], valid[0], valid[0], valid[0], valid[0], valid[0]}}}, 40023},
		{"bad sub", []map[string]any{{"name": "x", "sub_button": []map[string]any{{"type": "view", "name": "y", "url": ""}}}}, 40054},
	}
	for _, tt := range tests {
		mustErrcode(t, create(tt.buttons), tt.want)
	}
	got := do(t, s, http.MethodGet, "/cgi-bin/menu/get?access_token="+tok, nil)
	mustErrcode(t, got, 0)
	buttons := got.json["menu"].(map[string]any)["button"].([]any)
	if len(buttons) != 2 || buttons[0].(map[string]any)["key"] != "LESSON_TODAY" {
		t.Errorf("menu/get = %s", got.body)
	}
	info := do(t, s, http.MethodGet, "/cgi-bin/get_current_selfmenu_info?access_token="+tok, nil)
	sub := info.json["selfmenu_info"].(map[string]any)["button"].([]any)[1].(map[string]any)["sub_button"].(map[string]any)["list"].([]any)
	if info.json["is_menu_open"] != 1.0 || len(sub) != 2 {
		t.Errorf("selfmenu_info = %s", info.body)
	}
	if m, ok := s.Menu(oaID); !ok || len(m) != 2 || m[1].SubButtons[0].URL != "https://example.com/12338" {
		t.Errorf("Menu() = %+v, %v", m, ok)
	}
	mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/menu/delete?access_token="+tok, nil), 0)
	if _, ok := s.Menu(oaID); ok {
		t.Error("menu still set after menu/delete")
	}
	mustErrcode(t, create(valid), 0)
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/menu/delete?access_token="+tok, nil), 0)
	mustErrcode(t, do(t, s, http.MethodGet, "/cgi-bin/menu/get?access_token="+tok, nil), 46003)
}
