package wechat

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
)

// FuzzFastXML: whatever the fast scanner accepts, the encoding/xml walker
// accepts too, with the same message and Encrypt value.
func FuzzFastXML(f *testing.F) {
	for _, seed := range []string{
		"<xml><ToUserName><![CDATA[gh]]></ToUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[a]]]]><![CDATA[>b]]></Content></xml>",
		"<xml><Encrypt><![CDATA[abc]]></Encrypt></xml>",
		"<xml>\n <Event>subscribe_msg_popup_event</Event>\n <SubscribeMsgPopupEvent><List><TemplateId>T</TemplateId></List></SubscribeMsgPopupEvent>\n</xml>\n",
		"<xml><PublishEventInfo><article_detail><item><article_url>u</article_url></item></article_detail></PublishEventInfo></xml>",
		"<xml><a>x &amp; y</a></xml>",
		"<xml><a>1</b></xml>",
		"  <xml></xml>  x",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		w := walker{p: parsed{InboundMessage: model.InboundMessage{App: model.AppOA}}}
		if !fastXML(doc, &w) {
			return
		}
		p, enc, err := slowXML(model.AppOA, doc)
		if err != nil {
			t.Fatalf("fastXML accepted %q, slowXML refused it: %v", doc, err)
		}
		if diff := cmp.Diff(p, w.p, cmp.AllowUnexported(parsed{})); diff != "" || enc != w.encrypt {
			t.Fatalf("fastXML(%q) differs from slowXML (-slow +fast):\n%s\nencrypt %q vs %q", doc, diff, enc, w.encrypt)
		}
	})
}

// TestFastXMLTakesTheCommonShape: the documents WeChat sends go the fast way.
func TestFastXMLTakesTheCommonShape(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[AAAA]]></Encrypt></xml>",
		"<xml><ToUserName><![CDATA[gh_x]]></ToUserName>\n<FromUserName><![CDATA[o]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n" +
			"<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[你好]]></Content>\n<MsgId>4561255354251345929</MsgId>\n</xml>",
	} {
		w := walker{}
		if !fastXML([]byte(doc), &w) {
			t.Errorf("fastXML(%q) = false, want the fast path", doc)
		}
	}
}
