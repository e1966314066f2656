package wechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/silenceper/wechat/v2/util"
	"github.com/sirupsen/logrus"

	"wanjia/model"
	"wanjia/wechat"
)

func TestScrub(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"nothing secret", "errcode=40029 , errmsg=invalid code rid: 1", "errcode=40029 , errmsg=invalid code rid: 1"},
		{
			"silenceper get error",
			"http get error : uri=https://api.weixin.qq.com/cgi-bin/user/info?access_token=ACCESS_TOKEN_VALUE&openid=o1&lang=zh_CN , statusCode=500",
			"http get error : uri=https://api.weixin.qq.com/cgi-bin/user/info?access_token=***&openid=o1&lang=zh_CN , statusCode=500",
		},
		{
			"code2session url",
			"https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=SECRET_VALUE&js_code=JSCODE_VALUE&grant_type=authorization_code",
			"https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=***&js_code=***&grant_type=authorization_code",
		},
		{
			"url.Error",
			`Get "https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=S3CR3T&js_code=C0DE&grant_type=authorization_code": dial tcp: connection refused`,
			`Get "https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=***&js_code=***&grant_type=authorization_code": dial tcp: connection refused`,
		},
		{"oauth code", "/sns/oauth2/access_token?appid=wx1&code=OAUTHCODE&grant_type=authorization_code", "/sns/oauth2/access_token?appid=wx1&code=***&grant_type=authorization_code"},
		{"code at start of query", "code=ABC&state=x", "code=***&state=x"},
		{"errcode is not code", "errcode=40001", "errcode=40001"},
		{"escaped query", "redirect=https%3A%2F%2Fx%3Faccess_token%3DTOKVAL%26a%3Db", "redirect=https%3A%2F%2Fx%3Faccess_token%3D***%26a%3Db"},
		{
			"json",
			`{"grant_type":"client_credential","appid":"wx1","secret":"SECRETVAL","force_refresh":false}`,
			`{"grant_type":"client_credential","appid":"wx1","secret":"***","force_refresh":false}`,
		},
		{"json spaces", `{"session_key" : "SK=="}`, `{"session_key" : "***"}`},
		{"json access token", `{"access_token":"AT","expires_in":7200}`, `{"access_token":"***","expires_in":7200}`},
		{"json escaped quote in value", `{"secret":"a\"b","x":1}`, `{"secret":"***","x":1}`},
		{"json in json", `{"body":"{\"secret\":\"INNER\"}"}`, `{"body":"{\"secret\":\"***\"}"}`},
		{"json encrypt", `{"ToUserName":"gh_1","Encrypt":"ENCRYPTED=="}`, `{"ToUserName":"gh_1","Encrypt":"***"}`},
		{"xml cdata", `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[ENC==]]></Encrypt></xml>`, `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[***]]></Encrypt></xml>`},
		{"xml plain", `<Encrypt>ENC</Encrypt>`, `<Encrypt>***</Encrypt>`},
		{"xml suffix", `<AppSecret>S</AppSecret>`, `<AppSecret>***</AppSecret>`},
		{"aes key env", "WANJIA_OA_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "WANJIA_OA_AES_KEY=***"},
		{"encoding aes key", "EncodingAESKey=KEYVAL", "EncodingAESKey=***"},
		{"logfmt quoted", `msg=x secret="two words" a=b`, `msg=x secret="***" a=b`},
		{"go struct", "{OpenID:o1 SessionKey:SK== UnionID:u1}", "{OpenID:o1 SessionKey:*** UnionID:u1}"},
		{"go struct token", "{AccessToken:AT ExpiresIn:7200}", "{AccessToken:*** ExpiresIn:7200}"},
		{"prose keeps words", "wechat token wx1: fetch token: refused", "wechat token wx1: fetch token: refused"},
		{"encrypt_type kept", "?encrypt_type=aes&msg_signature=abc", "?encrypt_type=aes&msg_signature=abc"},
		{"empty value", "access_token=&a=b", "access_token=&a=b"},
		{"utf8 around", "令牌 access_token=值 结束", "令牌 access_token=*** 结束"},
		{"case insensitive", "ACCESS_TOKEN=X", "ACCESS_TOKEN=***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := wechat.Scrub(tt.in); got != tt.want {
				t.Errorf("Scrub(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestScrubError(t *testing.T) {
	t.Parallel()
	ce := util.NewCommonError("x", 40001, "invalid credential")
	base := fmt.Errorf("get https://api.weixin.qq.com/a?access_token=SECRETTOKEN: %w", ce)
	err := wechat.ScrubError(base)
	if strings.Contains(err.Error(), "SECRETTOKEN") {
		t.Errorf("ScrubError(%v).Error() = %q, want the token removed", base, err.Error())
	}
	if !errors.Is(err, ce) {
		t.Errorf("errors.Is(ScrubError(%v), ce) = false, want true", base)
	}
	var got *util.CommonError
	if !errors.As(err, &got) || got.ErrCode != 40001 {
		t.Errorf("errors.As(ScrubError(%v)) = %v, want errcode 40001", base, got)
	}
	if again := wechat.ScrubError(err); again != err {
		t.Errorf("ScrubError(ScrubError(err)) = %#v, want the same error", again)
	}
	if wechat.ScrubError(nil) != nil {
		t.Errorf("ScrubError(nil) != nil")
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

type valuer struct{ v string }

func (v valuer) LogValue() slog.Value { return slog.StringValue(v.v) }

func TestScrubHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(wechat.NewScrubHandler(slog.NewJSONHandler(&buf, nil)))
	log = log.With("uri", "https://x/?access_token=WITHTOKEN", "access_token", "KEYEDTOKEN").WithGroup("g")
	log.Info("call https://x/?secret=MSGSECRET failed",
		"err", fmt.Errorf("wrap: %w", errors.New("uri=https://x/?access_token=ERRTOKEN")),
		"s", stringer("?js_code=STRINGERCODE"),
		"v", valuer{"secret=VALUERSECRET"},
		"raw", []byte("session_key=BYTESKEY"),
		"n", 42,
		slog.Group("inner", "body", `{"session_key":"GROUPKEY"}`, "secret", "KEYEDSECRET", "deep", slog.GroupValue(slog.String("u", "?code=DEEPCODE"))))
	out := buf.String()
	for _, secret := range []string{"WITHTOKEN", "KEYEDTOKEN", "MSGSECRET", "ERRTOKEN", "STRINGERCODE", "VALUERSECRET", "BYTESKEY", "GROUPKEY", "KEYEDSECRET", "DEEPCODE"} {
		if strings.Contains(out, secret) {
			t.Errorf("log output contains %q: %s", secret, out)
		}
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", out, err)
	}
	want := map[string]any{
		"msg":          "call https://x/?secret=*** failed",
		"uri":          "https://x/?access_token=***",
		"access_token": "***",
		"g": map[string]any{
			"err": "wrap: uri=https://x/?access_token=***",
			"s":   "?js_code=***",
			"v":   "secret=***",
			"raw": "session_key=***",
			"n":   float64(42),
			"inner": map[string]any{
				"body":   `{"session_key":"***"}`,
				"secret": "***",
				"deep":   map[string]any{"u": "?code=***"},
			},
		},
	}
	delete(rec, "time")
	delete(rec, "level")
	if diff := cmp.Diff(want, rec); diff != "" {
		t.Errorf("scrubbed record mismatch (-want +got):\n%s", diff)
	}
	if !log.Enabled(context.Background(), slog.LevelInfo) || log.Enabled(context.Background(), slog.LevelDebug) {
		t.Errorf("Enabled does not follow the inner handler")
	}
}

// TestQuietSDKLogs changes logrus' global state and restores it; not parallel.
func TestQuietSDKLogs(t *testing.T) {
	std := logrus.StandardLogger()
	level, out := std.GetLevel(), std.Out
	t.Cleanup(func() {
		logrus.SetLevel(level)
		logrus.SetOutput(out)
	})
	logrus.SetLevel(logrus.DebugLevel)

	var buf bytes.Buffer
	wechat.QuietSDKLogs(&buf)
	logrus.Debugf("request msg =%s", "<Encrypt><![CDATA[DEBUGSECRET]]></Encrypt>")
	logrus.Warnf("get error uri=https://api.weixin.qq.com/x?access_token=WARNTOKEN")
	got := buf.String()
	if strings.Contains(got, "DEBUGSECRET") || strings.Contains(got, "request msg") {
		t.Errorf("QuietSDKLogs: debug entry written: %q", got)
	}
	if strings.Contains(got, "WARNTOKEN") || !strings.Contains(got, "access_token=***") {
		t.Errorf("QuietSDKLogs: warn entry = %q, want it scrubbed", got)
	}
	if logrus.GetLevel() != logrus.WarnLevel {
		t.Errorf("logrus level = %v, want warning", logrus.GetLevel())
	}
}

func TestScrubWriterError(t *testing.T) {
	t.Parallel()
	w := wechat.ScrubWriter(failWriter{})
	if n, err := w.Write([]byte("x")); err == nil || n != 0 {
		t.Errorf("Write() = %d, %v, want 0 and an error", n, err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// secretForms are the shapes a secret takes in URLs, JSON, XML and logs.
var secretForms = []struct{ before, after string }{
	{"?access_token=", "&openid=o"},
	{"&access_token=", " , statusCode=500"},
	{"?secret=", ""},
	{"&js_code=", "&grant_type=authorization_code"},
	{"?code=", "&state=s"},
	{"&code=", ""},
	{"%3Faccess_token%3D", "%26a%3Db"},
	{`{"access_token":"`, `","expires_in":7200}`},
	{`{"secret":"`, `"}`},
	{`{"session_key":"`, `"}`},
	{`{"Encrypt":"`, `"}`},
	{`{\"secret\":\"`, `\"}`},
	{"<Encrypt><![CDATA[", "]]></Encrypt>"},
	{"<Encrypt>", "</Encrypt>"},
	{" EncodingAESKey=", " "},
	{" SessionKey:", " UnionID:u"},
	{` secret="`, `" `},
}

var secretValue = regexp.MustCompile(`^[A-Za-z0-9_\-]{6,64}$`)

// FuzzScrub checks that Scrub never panics, is idempotent, and that no
// secret value survives in any of secretForms, whatever surrounds it.
func FuzzScrub(f *testing.F) {
	f.Add("http get error : uri=", "ACCESSTOKEN123", " , statusCode=500", uint8(0))
	f.Add(`"secret":"`, "abcdef", "x", uint8(8))
	f.Add(`"secret":"\`, "abcdef", "", uint8(7))
	f.Add("<", "ENCRYPTED", "", uint8(12))
	f.Add("?code=", "jscode", "&", uint8(4))
	f.Add("", "0123456789", "", uint8(16))
	f.Fuzz(func(t *testing.T, prefix, value, suffix string, form uint8) {
		out := wechat.Scrub(prefix + value + suffix)
		if again := wechat.Scrub(out); again != out {
			t.Errorf("Scrub not idempotent: Scrub(%q) = %q, Scrub of that = %q", prefix+value+suffix, out, again)
		}
		if !secretValue.MatchString(value) {
			return
		}
		sf := secretForms[int(form)%len(secretForms)]
		s := prefix + sf.before + value + sf.after + suffix
		if strings.Count(s, value) != 1 {
			return // the value occurs elsewhere, where it may be harmless text
		}
		if got := wechat.Scrub(s); strings.Contains(got, value) {
			t.Errorf("Scrub(%q) = %q, still contains %q", s, got, value)
		}
	})
}

// Translate's output must be scrubbed too.
func TestTranslateScrubs(t *testing.T) {
	t.Parallel()
	err := wechat.Translate(errors.New("http get error : uri=https://api.weixin.qq.com/x?access_token=TRANSLATETOKEN , statusCode=502"))
	if strings.Contains(err.Error(), "TRANSLATETOKEN") {
		t.Errorf("Translate(...).Error() = %q, want the token removed", err.Error())
	}
	if !errors.Is(err, model.ErrUpstream) {
		t.Errorf("Translate(...) = %v, want model.ErrUpstream", err)
	}
}
