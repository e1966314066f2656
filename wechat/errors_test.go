package wechat_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/silenceper/wechat/v2/util"

	"wanjia/model"
	"wanjia/wechat"
)

func TestErrcode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		want   int
		wantOK bool
	}{
		{"nil", nil, 0, false},
		{"typed", util.NewCommonError("phonenumber.getPhoneNumber", 40029, "invalid code"), 40029, true},
		{"typed wrapped", fmt.Errorf("phone: %w", util.NewCommonError("x", 42001, "access_token expired")), 42001, true},
		{"typed zero", util.NewCommonError("x", 0, "ok"), 0, false},
		{"code2session", fmt.Errorf("Code2Session error : errcode=%v , errmsg=%v", 40163, "code been used, rid: 1"), 40163, true},
		{"stable token", fmt.Errorf("get stable access_token error : errcode=%v , errormsg=%v", 40013, "invalid appid"), 40013, true},
		{"minus one", fmt.Errorf("template msg send error : errcode=%v , errmsg=%v", -1, "system error"), -1, true},
		{"device format", fmt.Errorf("DeviceBind Error , errcode=%d , errmsg=%s", 43101, "user refuse"), 43101, true},
		{"compact", errors.New("errcode=45009,errmsg=reach max api daily quota limit"), 45009, true},
		{"json body", errors.New(`unexpected answer {"errcode":40014,"errmsg":"invalid access_token"}`), 40014, true},
		{"quoted", errors.New(`transfer error, errcode="45011",errmsg=x`), 45011, true},
		{"formatted zero", errors.New("errcode=0 , errmsg=ok"), 0, false},
		{"no number", errors.New("errcode or errmsg is invalid"), 0, false},
		{"transport", &url.Error{Op: "Get", URL: "https://api.weixin.qq.com/x", Err: errors.New("connection refused")}, 0, false},
		{"http status", errors.New("http get error : uri=https://api.weixin.qq.com/x , statusCode=502"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := wechat.Errcode(tt.err)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Errcode(%v) = %d, %v, want %d, %v", tt.err, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func FuzzErrcode(f *testing.F) {
	f.Add("Code2Session error : errcode=40029 , errmsg=invalid code")
	f.Add(`{"errcode":-1}`)
	f.Add("errcode=")
	f.Add("errcode:99999999999999999999999")
	f.Add("errcode errcode=- errcode=42001")
	f.Fuzz(func(t *testing.T, s string) {
		code, ok := wechat.Errcode(errors.New(s))
		if ok && code == 0 {
			t.Errorf("Errcode(%q) = 0, true; want ok only for a non-zero code", s)
		}
		if !ok && code != 0 {
			t.Errorf("Errcode(%q) = %d, false; want 0 when not ok", s, code)
		}
		if ok && !strings.Contains(s, "errcode") {
			t.Errorf("Errcode(%q) = %d, but the text has no errcode", s, code)
		}
	})
}

func TestTranslate(t *testing.T) {
	t.Parallel()
	formatted := func(code int) error {
		return fmt.Errorf("Code2Session error : errcode=%v , errmsg=%v", code, "x rid: 1")
	}
	tests := []struct {
		name      string
		err       error
		kind      error
		code      string
		message   string
		noConsent bool
		errcode   int
	}{
		{"invalid code", formatted(40029), model.ErrInvalid, "invalid", "微信授权码无效或已过期，请重新操作", false, 40029},
		{"used code", formatted(40163), model.ErrInvalid, "invalid", "微信授权码无效或已过期，请重新操作", false, 40163},
		{"missing code", util.NewCommonError("x", 41008, "missing code"), model.ErrInvalid, "invalid", "微信授权码无效或已过期，请重新操作", false, 41008},
		{"blocked user", formatted(40226), model.ErrInvalid, "invalid", "该微信账号存在安全风险，暂时无法完成操作", false, 40226},
		{"no consent", util.NewCommonError("subscribe", 43101, "user refuse to accept the msg"), model.ErrConflict, "no_consent", "用户未订阅该消息", true, 43101},
		{"system busy", formatted(-1), model.ErrUpstream, "wechat_unavailable", "微信服务暂时不可用，请稍后再试", false, -1},
		{"daily quota", formatted(45009), model.ErrUpstream, "wechat_unavailable", "微信服务暂时不可用，请稍后再试", false, 45009},
		{"minute quota", formatted(45011), model.ErrUpstream, "wechat_unavailable", "微信服务暂时不可用，请稍后再试", false, 45011},
		{"token still bad", formatted(40001), model.ErrUpstream, "wechat_unavailable", "微信服务暂时不可用，请稍后再试", false, 40001},
		{"unknown errcode", formatted(47003), model.ErrUpstream, "wechat_unavailable", "微信服务暂时不可用，请稍后再试", false, 47003},
		{"transport", &url.Error{Op: "Get", URL: "https://api.weixin.qq.com/x?access_token=T", Err: &net.OpError{Op: "dial", Err: errors.New("refused")}}, model.ErrUpstream, "wechat_unavailable", "微信服务暂时不可用，请稍后再试", false, 0},
		{"timeout", fmt.Errorf("call: %w", context.DeadlineExceeded), model.ErrUpstream, "wechat_unavailable", "微信服务暂时不可用，请稍后再试", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := wechat.Translate(tt.err)
			var me *model.Error
			if !errors.As(got, &me) {
				t.Fatalf("Translate(%v) = %T, want *model.Error", tt.err, got)
			}
			if !errors.Is(got, tt.kind) || me.Code != tt.code || me.Message != tt.message {
				t.Errorf("Translate(%v) = kind %v code %q message %q, want %v %q %q", tt.err, me.Kind, me.Code, me.Message, tt.kind, tt.code, tt.message)
			}
			if errors.Is(got, wechat.ErrNoConsent) != tt.noConsent {
				t.Errorf("errors.Is(Translate(%v), ErrNoConsent) = %v, want %v", tt.err, !tt.noConsent, tt.noConsent)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("errors.Is(Translate(%v), original) = false, want true", tt.err)
			}
			if code, _ := wechat.Errcode(got); code != tt.errcode {
				t.Errorf("Errcode(Translate(%v)) = %d, want %d", tt.err, code, tt.errcode)
			}
			if strings.Contains(got.Error(), "access_token=T") {
				t.Errorf("Translate(%v).Error() = %q, want the token scrubbed", tt.err, got.Error())
			}
		})
	}
}

func TestTranslatePassThrough(t *testing.T) {
	t.Parallel()
	if got := wechat.Translate(nil); got != nil {
		t.Errorf("Translate(nil) = %v, want nil", got)
	}
	in := model.Invalid(map[string]string{"code": "缺少"})
	got := wechat.Translate(fmt.Errorf("x: %w", in))
	var me *model.Error
	if !errors.As(got, &me) || me != in {
		t.Errorf("Translate(wrapped model error) = %v, want it unchanged", got)
	}
}

func TestTranslateInvalidCodeFields(t *testing.T) {
	t.Parallel()
	got := wechat.Translate(util.NewCommonError("x", 40029, "invalid code"))
	var me *model.Error
	if !errors.As(got, &me) || me.Fields["code"] == "" {
		t.Errorf("Translate(40029) = %#v, want a code field", got)
	}
}
