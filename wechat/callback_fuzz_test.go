package wechat_test

import (
	"bytes"
	"errors"
	"testing"

	"wanjia/model"
	"wanjia/wechat"
)

// Parsers of outside input never panic and fail only with the model kinds
// the transport maps to 400 or 413. Seeds: f.Add and testdata/fuzz.

func checkParseError(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, model.ErrInvalid) && !errors.Is(err, model.ErrTooLarge) {
		t.Fatalf("parse error %v is neither ErrMalformed nor ErrCallbackTooLarge", err)
	}
}

func FuzzParseOA(f *testing.F) {
	f.Add([]byte(textDoc))
	f.Add([]byte(oaDoc("event", "<Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List><TemplateId>T</TemplateId></List></SubscribeMsgPopupEvent>")))
	f.Add([]byte(oaDoc("event", "<Event>PUBLISHJOBFINISH</Event><PublishEventInfo><publish_id>1</publish_id><article_detail><item><article_url>u</article_url></item></article_detail></PublishEventInfo>")))
	f.Add([]byte(`<!DOCTYPE xml [<!ENTITY e "x">]><xml>&e;</xml>`))
	f.Add([]byte("<xml><Content><![CDATA[a]]]]><![CDATA[>]]></Content></xml>"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		m, err := wechat.ParseOA(doc)
		checkParseError(t, err)
		if err == nil && (m.MsgType == "" || m.App != model.AppOA || m.CreateTime.IsZero()) {
			t.Fatalf("ParseOA accepted %q as %+v", doc, m)
		}
	})
}

func FuzzParseMP(f *testing.F) {
	f.Add([]byte(`{"ToUserName":"gh","FromUserName":"o","CreateTime":1700000000,"MsgType":"text","Content":"hi","MsgId":1}`))
	f.Add([]byte(`{"FromUserName":"o","CreateTime":"1","MsgType":"event","Event":"subscribe_msg_popup_event","List":{"TemplateId":"T","PopupScene":"0"}}`))
	f.Add([]byte(`{"FromUserName":"o","CreateTime":1,"MsgType":"event","List":[{"TemplateId":"T","ErrorCode":"43101"}]}`))
	f.Add([]byte(`{"CreateTime":1,"MsgType":"event","Event":"wxa_media_check","result":{"suggest":"pass","label":100}}`))
	f.Add([]byte(textDoc))
	f.Fuzz(func(t *testing.T, doc []byte) {
		m, err := wechat.ParseMP(doc)
		checkParseError(t, err)
		if err == nil && (m.MsgType == "" || m.App != model.AppMP) {
			t.Fatalf("ParseMP accepted %q as %+v", doc, m)
		}
	})
}

// FuzzVerify: no signature made without the token verifies, and Echo,
// VerifyQuery and Open never panic on any query or body.
func FuzzVerify(f *testing.F) {
	f.Add("sig", "1700000000", "42", "echo", "msgsig", []byte(textDoc))
	f.Add(wechat.Signature("other", "1", "2"), "1", "2", "e", "", []byte("<xml/>"))
	f.Add("", "", "", "", "", []byte(`{"Encrypt":"AAAA"}`))
	c := mustCodec(f, model.AppMP, wechat.Endpoint{Token: "secret-token", AppID: sampleAppID, AESKey: sampleAESKey})
	f.Fuzz(func(t *testing.T, sig, ts, nonce, echo, msgSig string, body []byte) {
		r := wechat.Request{Signature: sig, Timestamp: ts, Nonce: nonce, EchoStr: echo, MsgSignature: msgSig, Body: body}
		if err := c.VerifyQuery(r); err == nil && sig != "" && sig == wechat.Signature("secret-token", ts, nonce) {
			t.Skip() // the fuzzer found the token: impossible in practice
		} else if err == nil && sig != "" {
			t.Fatalf("VerifyQuery accepted signature %q", sig)
		}
		if got, err := c.Echo(r); err == nil && got == "" {
			t.Fatalf("Echo(%+v) accepted with an empty answer", r)
		} else if err != nil && !errors.Is(err, model.ErrUnauthenticated) && !errors.Is(err, model.ErrInvalid) {
			t.Fatalf("Echo error %v of an unexpected kind", err)
		}
		// Only a body with an Encrypt value signed with the token opens
		// (the codec refuses plaintext): nothing the fuzzer makes does.
		if _, err := c.Open(r); err == nil {
			t.Fatalf("Open(%+v) accepted a forged request", r)
		}
	})
}

// FuzzDecrypt: Decrypt never panics on any ciphertext, and whatever
// Encrypt seals opens to the same bytes.
func FuzzDecrypt(f *testing.F) {
	f.Add(sampleEnc, []byte("hello"))
	f.Add("", []byte{})
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", []byte("<xml/>"))
	c := sampleCodec(f)
	f.Fuzz(func(t *testing.T, enc string, msg []byte) {
		if _, err := c.Decrypt(enc); err != nil && !errors.Is(err, model.ErrInvalid) {
			t.Fatalf("Decrypt error %v is not ErrMalformed", err)
		}
		sealed, err := c.Encrypt(msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decrypt(sealed)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("Decrypt(Encrypt(%q)) = %q, %v", msg, got, err)
		}
	})
}
