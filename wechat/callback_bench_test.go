package wechat_test

import (
	"testing"
	"time"

	"wanjia/model"
	"wanjia/wechat"
)

// BenchmarkCallbackProtocol: the protocol work of one safe-mode text
// callback, no HTTP: verify the signatures, decrypt, parse, render the
// reply, encrypt and sign it.
func BenchmarkCallbackProtocol(b *testing.B) {
	c := mustCodec(b, model.AppOA, wechat.Endpoint{Token: "tok", AppID: "wxoa", AESKey: sampleAESKey})
	r := signedRequest(b, "tok", c, textDoc, false)
	reply := &model.Reply{Kind: model.ReplyText, Text: "您好，消息已收到，我们会尽快回复。"}
	now := time.Unix(1700000000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.VerifyQuery(r); err != nil {
			b.Fatal(err)
		}
		op, err := c.Open(r)
		if err != nil {
			b.Fatal(err)
		}
		doc, err := wechat.AppendReply(make([]byte, 0, 512), reply, op.Message.FromUser, op.Message.ToUser, now)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Seal(doc, r.Timestamp, r.Nonce); err != nil {
			b.Fatal(err)
		}
	}
}
