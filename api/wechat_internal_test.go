package api

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"wanjia/wechat"
)

// FuzzQueryRequest checks that queryRequest reads the query as
// url.Values.Get does, for queries whose names are not escaped (WeChat
// never escapes them).
func FuzzQueryRequest(f *testing.F) {
	f.Add("signature=abc&timestamp=1700000000&nonce=123&openid=o1&encrypt_type=aes&msg_signature=def")
	f.Add("echostr=a%2Bb+c&signature=x&signature=y")
	f.Add("nonce=%zz&nonce=2&timestamp=1;2&timestamp=3")
	f.Add("signature&msg_signature=&timestamp==1=&nonce=%E4%BD%A0")
	f.Add("a=1&&signature=%41&encrypt_type=aes;x")
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := url.ParseRequestURI("/?" + raw); err != nil {
			return
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.RawQuery = raw
		gc := &gin.Context{Request: req}
		q, _ := url.ParseQuery(raw) // keeps the pairs that parse, as Query does
		want := wechat.Request{Signature: q.Get("signature"), MsgSignature: q.Get("msg_signature"),
			Timestamp: q.Get("timestamp"), Nonce: q.Get("nonce"), EncryptType: q.Get("encrypt_type"), EchoStr: q.Get("echostr")}
		for _, pair := range strings.Split(raw, "&") {
			if k, _, _ := strings.Cut(pair, "="); strings.ContainsAny(k, "%+") {
				return // an escaped name: not read by queryRequest
			}
		}
		if diff := cmp.Diff(want, queryRequest(gc)); diff != "" {
			t.Errorf("queryRequest(%q) (-want +got):\n%s", raw, diff)
		}
	})
}
