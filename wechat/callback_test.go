package wechat_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/model"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

// The official WXBizMsgCrypt sample vector, from Tencent's message-crypto
// sample code (Sample.cs / Sample.java / Sample.php shipped with
// WXBizMsgCrypt; e.g. the copy in github.com/2830499544/VipCard,
// Chain.Wechat/Tencent/Sample.cs): token "QDG6eK", app id
// "wx5823bf96d3bd56c7", EncodingAESKey
// "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C". The POST carries
// msg_signature 477715d1… for timestamp 1409659813 and nonce 1372623149;
// the URL verification (VerifyURL) carries msg_signature 5c45ff5e… for
// timestamp 1409659589, nonce 263014780 and an encrypted echostr whose
// plaintext is "1616140317555161061".
const (
	sampleToken  = "QDG6eK"
	sampleAppID  = "wx5823bf96d3bd56c7"
	sampleAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	sampleMsgSig = "477715d11cdb4164915debcba66cb864d751f3e6"
	sampleTS     = "1409659813"
	sampleNonce  = "1372623149"
	sampleEnc    = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
	sampleEcho   = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
)

func mustCodec(tb testing.TB, app model.App, e wechat.Endpoint) *wechat.Codec {
	tb.Helper()
	c, err := wechat.NewCodec(app, e)
	if err != nil {
		tb.Fatalf("NewCodec(%s) = %v", app, err)
	}
	return c
}

func sampleCodec(tb testing.TB) *wechat.Codec {
	return mustCodec(tb, model.AppOA, wechat.Endpoint{AppID: sampleAppID, Token: sampleToken, AESKey: sampleAESKey})
}

func TestOfficialSampleVector(t *testing.T) {
	t.Parallel()
	c := sampleCodec(t)
	if got := wechat.Signature(sampleToken, sampleTS, sampleNonce, sampleEnc); got != sampleMsgSig {
		t.Errorf("Signature(sample) = %s, want %s", got, sampleMsgSig)
	}
	body := "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[" + sampleEnc + "]]></Encrypt></xml>"
	op, err := c.Open(wechat.Request{MsgSignature: sampleMsgSig, Timestamp: sampleTS, Nonce: sampleNonce,
		EncryptType: "aes", Body: []byte(body)})
	if err != nil {
		t.Fatalf("Open(sample) = %v", err)
	}
	want := model.InboundMessage{App: model.AppOA, ToUser: sampleAppID, FromUser: "mycreate",
		CreateTime: time.Unix(1409659813, 0).UTC(), MsgType: "text", MsgID: "4561255354251345929", Content: "hello"}
	if diff := cmp.Diff(want, op.Message); diff != "" {
		t.Errorf("Open(sample) message (-want +got):\n%s", diff)
	}
	if op.Mode != wechat.ModeSafe {
		t.Errorf("Open(sample) mode = %v, want safe", op.Mode)
	}
	echo, err := c.Echo(wechat.Request{MsgSignature: "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", Timestamp: "1409659589",
		Nonce: "263014780", EchoStr: sampleEcho})
	if err != nil || echo != "1616140317555161061" {
		t.Errorf("Echo(sample VerifyURL) = %q, %v, want 1616140317555161061", echo, err)
	}
	// A tampered signature or another app id refuses the sample.
	if _, err := c.Open(wechat.Request{MsgSignature: strings.Repeat("0", 40), Timestamp: sampleTS, Nonce: sampleNonce,
		Body: []byte(body)}); !errors.Is(err, wechat.ErrBadSignature) {
		t.Errorf("Open(sample, wrong msg_signature) = %v, want ErrBadSignature", err)
	}
	other := mustCodec(t, model.AppOA, wechat.Endpoint{AppID: "wx0000000000000000", Token: sampleToken, AESKey: sampleAESKey})
	if _, err := other.Open(wechat.Request{MsgSignature: sampleMsgSig, Timestamp: sampleTS, Nonce: sampleNonce,
		Body: []byte(body)}); !errors.Is(err, wechat.ErrMalformed) || !errors.Is(err, model.ErrInvalid) {
		t.Errorf("Open(sample for another app id) = %v, want ErrMalformed", err)
	}
}

func TestCryptoAgreesWithWxsimAndSilenceper(t *testing.T) {
	t.Parallel()
	c := sampleCodec(t)
	msg := []byte("<xml><Content><![CDATA[你好，世界]]></Content></xml>")
	enc, err := c.Encrypt(msg)
	if err != nil {
		t.Fatalf("Encrypt() = %v", err)
	}
	if got, err := wxsim.Decrypt(sampleAppID, sampleAESKey, enc); err != nil || string(got) != string(msg) {
		t.Errorf("wxsim.Decrypt(Encrypt(msg)) = %q, %v, want %q", got, err, msg)
	}
	if _, got, err := util.DecryptMsg(sampleAppID, enc, sampleAESKey); err != nil || string(got) != string(msg) {
		t.Errorf("util.DecryptMsg(Encrypt(msg)) = %q, %v, want %q", got, err, msg)
	}
	simEnc, err := wxsim.Encrypt(sampleAppID, sampleAESKey, msg)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Decrypt(simEnc); err != nil || string(got) != string(msg) {
		t.Errorf("Decrypt(wxsim.Encrypt(msg)) = %q, %v, want %q", got, err, msg)
	}
	for _, n := range []int{0, 1, 11, 12, 13, 44, 45, 1000} { // every padding length
		m := []byte(strings.Repeat("x", n))
		enc, err := c.Encrypt(m)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.Decrypt(enc); err != nil || string(got) != string(m) {
			t.Errorf("Decrypt(Encrypt(%d bytes)) = %d bytes, %v", n, len(got), err)
		}
	}
	if got, want := wechat.Signature("b", "a", "c"), util.Signature("b", "a", "c"); got != want {
		t.Errorf("Signature(b, a, c) = %s, want %s (silenceper)", got, want)
	}
}

func TestNewCodecRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		app  model.App
		e    wechat.Endpoint
	}{
		{"unknown app", "xx", wechat.Endpoint{Token: "t"}},
		{"no token", model.AppOA, wechat.Endpoint{}},
		{"short key", model.AppOA, wechat.Endpoint{AppID: "wx1", Token: "t", AESKey: "abc"}},
		{"bad base64", model.AppOA, wechat.Endpoint{AppID: "wx1", Token: "t", AESKey: strings.Repeat("!", 43)}},
		{"key without app id", model.AppOA, wechat.Endpoint{Token: "t", AESKey: sampleAESKey}},
	}
	for _, tt := range tests {
		if _, err := wechat.NewCodec(tt.app, tt.e); err == nil {
			t.Errorf("NewCodec(%s) = nil error, want one", tt.name)
		}
	}
}

func TestCheckTimestamp(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		ts   string
		want error
	}{
		{"1700000000", nil},
		{"1699999700", nil},
		{"1700000300", nil},
		{"1699999699", wechat.ErrStale},
		{"1700000301", wechat.ErrStale},
		{"abc", wechat.ErrMalformed},
		{"", wechat.ErrMalformed},
	}
	for _, tt := range tests {
		_, err := wechat.CheckTimestamp(tt.ts, now, 300*time.Second)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("CheckTimestamp(%q) = %v, want %v", tt.ts, err, tt.want)
		}
	}
	if !errors.Is(wechat.ErrStale, model.ErrForbidden) || !errors.Is(wechat.ErrBadSignature, model.ErrUnauthenticated) {
		t.Error("callback errors do not wrap their model kinds")
	}
}

func TestEcho(t *testing.T) {
	t.Parallel()
	plain := mustCodec(t, model.AppOA, wechat.Endpoint{Token: "tok"})
	safe := mustCodec(t, model.AppMP, wechat.Endpoint{Token: "tok", AppID: sampleAppID, AESKey: sampleAESKey})
	encEcho, err := safe.Encrypt([]byte("4375120948345356249"))
	if err != nil {
		t.Fatal(err)
	}
	sig := wechat.Signature("tok", "100", "n1")
	tests := []struct {
		name string
		c    *wechat.Codec
		r    wechat.Request
		want string
		err  error
	}{
		{"plain", plain, wechat.Request{Signature: sig, Timestamp: "100", Nonce: "n1", EchoStr: "e1"}, "e1", nil},
		{"plain wrong signature", plain, wechat.Request{Signature: wechat.Signature("x", "100", "n1"), Timestamp: "100", Nonce: "n1", EchoStr: "e1"}, "", wechat.ErrBadSignature},
		{"no signature", plain, wechat.Request{Timestamp: "100", Nonce: "n1", EchoStr: "e1"}, "", wechat.ErrBadSignature},
		{"no echostr", plain, wechat.Request{Signature: sig, Timestamp: "100", Nonce: "n1"}, "", wechat.ErrMalformed},
		{"safe, plain echostr (OA and MP send it so)", safe, wechat.Request{Signature: sig, Timestamp: "100", Nonce: "n1",
			EncryptType: "aes", MsgSignature: wechat.Signature("tok", "100", "n1", "e2"), EchoStr: "e2"}, "e2", nil},
		{"safe, encrypted echostr", safe, wechat.Request{Timestamp: "100", Nonce: "n1",
			MsgSignature: wechat.Signature("tok", "100", "n1", encEcho), EchoStr: encEcho}, "4375120948345356249", nil},
		{"safe, wrong msg_signature", safe, wechat.Request{Signature: sig, Timestamp: "100", Nonce: "n1",
			MsgSignature: wechat.Signature("tok", "100", "n1", "other"), EchoStr: "e2"}, "", wechat.ErrBadSignature},
		{"safe, signature only", safe, wechat.Request{Signature: sig, Timestamp: "100", Nonce: "n1", EchoStr: "e3"}, "e3", nil},
	}
	for _, tt := range tests {
		got, err := tt.c.Echo(tt.r)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("Echo(%s) = %q, %v, want %q, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

// signedRequest builds the POST WeChat sends for doc: plain when c is not
// safe, else the safe envelope (XML or JSON) with msg_signature.
func signedRequest(tb testing.TB, token string, c *wechat.Codec, doc string, asJSON bool) wechat.Request {
	tb.Helper()
	r := wechat.Request{Timestamp: "1700000000", Nonce: "42"}
	r.Signature = wechat.Signature(token, r.Timestamp, r.Nonce)
	if c == nil {
		r.Body = []byte(doc)
		return r
	}
	enc, err := c.Encrypt([]byte(doc))
	if err != nil {
		tb.Fatal(err)
	}
	r.EncryptType = "aes"
	r.MsgSignature = wechat.Signature(token, r.Timestamp, r.Nonce, enc)
	if asJSON {
		b, _ := json.Marshal(map[string]string{"ToUserName": "gh_x", "Encrypt": enc})
		r.Body = b
	} else {
		r.Body = []byte("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
	}
	return r
}

const textDoc = `<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName>` +
	`<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content>` +
	`<MsgId>1234567890123456</MsgId></xml>`

func TestOpenModes(t *testing.T) {
	t.Parallel()
	const token = "tok"
	plainOA := mustCodec(t, model.AppOA, wechat.Endpoint{Token: token})
	safeOA := mustCodec(t, model.AppOA, wechat.Endpoint{Token: token, AppID: "wxoa", AESKey: sampleAESKey})
	lenientOA := mustCodec(t, model.AppOA, wechat.Endpoint{Token: token, AppID: "wxoa", AESKey: sampleAESKey, AllowPlain: true})
	safeMP := mustCodec(t, model.AppMP, wechat.Endpoint{Token: token, AppID: "wxmp", AESKey: sampleAESKey})
	plainMP := mustCodec(t, model.AppMP, wechat.Endpoint{Token: token})
	mpJSON := `{"ToUserName":"gh_mp","FromUserName":"o_mp","CreateTime":1700000000,"MsgType":"text","Content":"hi","MsgId":7}`

	safeReq := signedRequest(t, token, safeOA, textDoc, false)
	compat := safeReq
	encStart := strings.Index(string(compat.Body), "<Encrypt>")
	compat.Body = []byte(strings.Replace(textDoc, "</xml>", string(compat.Body[encStart:]), 1))

	tests := []struct {
		name string
		c    *wechat.Codec
		r    wechat.Request
		mode wechat.Mode
		json bool
		err  error
	}{
		{"plain", plainOA, signedRequest(t, token, nil, textDoc, false), wechat.ModePlain, false, nil},
		{"safe", safeOA, safeReq, wechat.ModeSafe, false, nil},
		{"compatible", safeOA, compat, wechat.ModeCompatible, false, nil},
		{"plaintext refused in safe mode", safeOA, signedRequest(t, token, nil, textDoc, false), 0, false, wechat.ErrPlaintextRefused},
		{"plaintext allowed", lenientOA, signedRequest(t, token, nil, textDoc, false), wechat.ModePlain, false, nil},
		{"mp json safe", safeMP, signedRequest(t, token, mustCodec(t, model.AppMP, wechat.Endpoint{Token: token, AppID: "wxmp", AESKey: sampleAESKey}), mpJSON, true), wechat.ModeSafe, true, nil},
		{"mp json plain", plainMP, signedRequest(t, token, nil, mpJSON, true), wechat.ModePlain, true, nil},
		{"mp xml plain", plainMP, signedRequest(t, token, nil, textDoc, false), wechat.ModePlain, false, nil},
		{"oa refuses json", plainOA, signedRequest(t, token, nil, mpJSON, true), 0, false, wechat.ErrMalformed},
		{"encrypted for another app", safeMP, safeReq, 0, false, wechat.ErrMalformed},
		{"msg_signature over other text", safeOA, func() wechat.Request {
			r := safeReq
			r.MsgSignature = wechat.Signature(token, r.Timestamp, r.Nonce, "x")
			return r
		}(), 0, false, wechat.ErrBadSignature},
		{"encrypted but no key", plainOA, safeReq, 0, false, wechat.ErrMalformed},
		{"plain without signature", plainOA, wechat.Request{Timestamp: "1", Nonce: "2", MsgSignature: "x", Body: []byte(textDoc)}, 0, false, wechat.ErrBadSignature},
		{"aes without Encrypt", safeOA, func() wechat.Request {
			r := signedRequest(t, token, nil, textDoc, false)
			r.EncryptType, r.MsgSignature = "aes", "x"
			return r
		}(), 0, false, wechat.ErrMalformed},
		{"too large", plainOA, wechat.Request{Body: []byte("<xml>" + strings.Repeat("x", wechat.MaxCallbackBody) + "</xml>")}, 0, false, wechat.ErrCallbackTooLarge},
		{"garbage", plainOA, signedRequest(t, token, nil, "hello", false), 0, false, wechat.ErrMalformed},
	}
	for _, tt := range tests {
		if err := tt.c.VerifyQuery(tt.r); err != nil && tt.err == nil {
			t.Errorf("VerifyQuery(%s) = %v", tt.name, err)
			continue
		}
		op, err := tt.c.Open(tt.r)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("Open(%s) = %v, want %v", tt.name, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if op.Mode != tt.mode || op.JSON != tt.json || op.Message.MsgType != "text" || op.Message.CreateTime.Unix() != 1700000000 {
			t.Errorf("Open(%s) = mode %v json %v %+v, want mode %v json %v, a text message", tt.name, op.Mode, op.JSON, op.Message, tt.mode, tt.json)
		}
	}
}

func TestVerifyQuery(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, model.AppOA, wechat.Endpoint{Token: "tok"})
	good := wechat.Request{Signature: wechat.Signature("tok", "1", "2"), Timestamp: "1", Nonce: "2"}
	if err := c.VerifyQuery(good); err != nil {
		t.Errorf("VerifyQuery(good) = %v", err)
	}
	for name, r := range map[string]wechat.Request{
		"forged":         {Signature: wechat.Signature("other", "1", "2"), Timestamp: "1", Nonce: "2"},
		"other nonce":    {Signature: good.Signature, Timestamp: "1", Nonce: "3"},
		"upper case":     {Signature: strings.ToUpper(good.Signature), Timestamp: "1", Nonce: "2"},
		"truncated":      {Signature: good.Signature[:39], Timestamp: "1", Nonce: "2"},
		"none":           {Timestamp: "1", Nonce: "2"},
		"empty template": {},
	} {
		if err := c.VerifyQuery(r); !errors.Is(err, wechat.ErrBadSignature) {
			t.Errorf("VerifyQuery(%s) = %v, want ErrBadSignature", name, err)
		}
	}
	if strconv.Itoa(len(good.Signature)) != "40" {
		t.Errorf("signature %q is not 40 hex characters", good.Signature)
	}
}

func TestSealOpensWithWxsim(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, model.AppOA, wechat.Endpoint{Token: "tok", AppID: "wxoa", AESKey: sampleAESKey})
	doc, err := wechat.AppendReply(nil, &model.Reply{Kind: model.ReplyText, Text: "收到"}, "o_user", "gh_x", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	env, err := c.Seal(doc, "1700000000", "42")
	if err != nil {
		t.Fatalf("Seal() = %v", err)
	}
	got, err := wxsim.OpenReply("tok", "wxoa", sampleAESKey, env)
	if err != nil || string(got) != string(doc) {
		t.Fatalf("wxsim.OpenReply(Seal(doc)) = %q, %v, want %q", got, err, doc)
	}
}
