package wxsim_test

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/silenceper/wechat/v2/officialaccount/message"

	"wanjia/wechat/wxsim"
)

// silenceperReply renders a reply exactly as silenceper's server does.
func silenceperReply(tb testing.TB, msgType message.MsgType, data interface {
	SetToUserName(message.CDATA)
	SetFromUserName(message.CDATA)
	SetCreateTime(int64)
	SetMsgType(message.MsgType)
}) string {
	tb.Helper()
	data.SetToUserName("o1")
	data.SetFromUserName("gh_1")
	data.SetCreateTime(1700000000)
	data.SetMsgType(msgType)
	b, err := xml.Marshal(data)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestParseReply(t *testing.T) {
	t.Parallel()
	head := wxsim.Reply{ToUserName: "o1", FromUserName: "gh_1", CreateTime: 1700000000}
	with := func(mod func(*wxsim.Reply)) *wxsim.Reply {
		r := head
		mod(&r)
		return &r
	}
	tests := []struct {
		name string
		doc  string
		want *wxsim.Reply
	}{
		{"text", silenceperReply(t, message.MsgTypeText, message.NewText("你好")), with(func(r *wxsim.Reply) { r.MsgType, r.Content = "text", "你好" })},
		{"image", silenceperReply(t, message.MsgTypeImage, message.NewImage("M1")), with(func(r *wxsim.Reply) { r.MsgType, r.MediaID = "image", "M1" })},
		{"voice", silenceperReply(t, message.MsgTypeVoice, message.NewVoice("V1")), with(func(r *wxsim.Reply) { r.MsgType, r.MediaID = "voice", "V1" })},
		{"video", silenceperReply(t, message.MsgTypeVideo, message.NewVideo("V2", "标题", "描述")), with(func(r *wxsim.Reply) {
			r.MsgType, r.MediaID, r.Title, r.Description = "video", "V2", "标题", "描述"
		})},
		{"music", silenceperReply(t, message.MsgTypeMusic, message.NewMusic("歌", "d", "http://m", "http://hq", "T")), with(func(r *wxsim.Reply) {
			r.MsgType, r.Title, r.Description, r.MusicURL, r.ThumbMediaID = "music", "歌", "d", "http://m", "T"
		})},
		{"news", silenceperReply(t, message.MsgTypeNews, message.NewNews([]*message.Article{message.NewArticle("t", "d", "p", "u")})), with(func(r *wxsim.Reply) {
			r.MsgType, r.Articles = "news", []wxsim.ReplyArticle{{Title: "t", Description: "d", PicURL: "p", URL: "u"}}
		})},
		{"transfer", silenceperReply(t, message.MsgTypeTransfer, message.NewTransferCustomer("kf@x")), with(func(r *wxsim.Reply) {
			r.MsgType, r.KfAccount = "transfer_customer_service", "kf@x"
		})},
		{"garbage", "success?", nil},
		{"no users", "<xml><MsgType>text</MsgType></xml>", nil},
		{"unknown type", "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>fax</MsgType></xml>", nil},
		{"image without media", "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>image</MsgType></xml>", nil},
		{"news count mismatch", "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>news</MsgType><ArticleCount>2</ArticleCount><Articles><item><Title>x</Title></item></Articles></xml>", nil},
		{"news without articles", "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>news</MsgType><ArticleCount>0</ArticleCount></xml>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := wxsim.ParseReply([]byte(tt.doc))
			if tt.want == nil {
				if !errors.Is(err, wxsim.ErrBadReply) {
					t.Errorf("ParseReply(%q) error = %v, want ErrBadReply", tt.doc, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReply(%q) error = %v", tt.doc, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseReply() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reply *wxsim.Reply
		want  string
	}{
		{nil, "← no passive reply (success)\n"},
		{&wxsim.Reply{MsgType: "text", Content: "你好"}, "← text: 你好\n"},
		{&wxsim.Reply{MsgType: "image", MediaID: "M"}, "← image: media_id M\n"},
		{&wxsim.Reply{MsgType: "news", Articles: []wxsim.ReplyArticle{{Title: "t", URL: "u", Description: "d"}}}, "← news, 1 article(s):\n   1. t — u\n      d\n"},
	}
	for _, tt := range tests {
		if got := wxsim.FormatReply(tt.reply); got != tt.want {
			t.Errorf("FormatReply(%+v) = %q, want %q", tt.reply, got, tt.want)
		}
	}
}

// FuzzParseReply: the reply parser must not panic, and what it accepts has
// a known type and both user names.
func FuzzParseReply(f *testing.F) {
	f.Add(silenceperReply(f, message.MsgTypeText, message.NewText("hi")))
	f.Add(silenceperReply(f, message.MsgTypeNews, message.NewNews([]*message.Article{message.NewArticle("t", "d", "p", "u")})))
	f.Add("<xml><ToUserName>a</ToUserName></xml>")
	f.Add("<xml><![CDATA[")
	f.Add("")
	f.Fuzz(func(t *testing.T, doc string) {
		r, err := wxsim.ParseReply([]byte(doc))
		if err != nil {
			if !errors.Is(err, wxsim.ErrBadReply) {
				t.Fatalf("ParseReply error %v does not wrap ErrBadReply", err)
			}
			return
		}
		if r.ToUserName == "" || r.FromUserName == "" || r.MsgType == "" {
			t.Fatalf("ParseReply(%q) accepted %+v", doc, r)
		}
	})
}

// FuzzOpenReply: the safe-mode envelope check must not panic on any input.
func FuzzOpenReply(f *testing.F) {
	enc, err := wxsim.Encrypt(oaID, testAESKey, []byte("<xml/>"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("<xml><Encrypt>" + enc + "</Encrypt><MsgSignature>" + wxsim.Signature(cbToken, "1", "2", enc) +
		"</MsgSignature><TimeStamp>1</TimeStamp><Nonce>2</Nonce></xml>")
	f.Add("<xml><Encrypt>AAAA</Encrypt></xml>")
	f.Add("success")
	f.Fuzz(func(t *testing.T, body string) {
		msg, err := wxsim.OpenReply(cbToken, oaID, testAESKey, []byte(body))
		if err == nil && !strings.Contains(body, "Encrypt") {
			t.Fatalf("OpenReply(%q) = %q, accepted a body without Encrypt", body, msg)
		}
	})
}

// FuzzServe posts arbitrary bodies to every JSON endpoint with a valid
// token: the simulator must answer HTTP 200 with a JSON object (or the
// QR-code JPEG) and never panic.
func FuzzServe(f *testing.F) {
	paths := []string{
		"/cgi-bin/stable_token", "/wxa/business/getuserphonenumber", "/cgi-bin/message/subscribe/send",
		"/cgi-bin/message/template/send", "/cgi-bin/message/custom/send", "/cgi-bin/message/mass/sendall",
		"/cgi-bin/message/mass/send", "/cgi-bin/draft/add", "/cgi-bin/draft/get", "/cgi-bin/freepublish/submit",
		"/cgi-bin/freepublish/get", "/datacube/getarticlesummary", "/datacube/getarticletotal", "/datacube/getbizsummary",
		"/datacube/getarticletotaldetail", "/datacube/getarticleread", "/datacube/getarticleshare", "/wxa/msg_sec_check",
		"/wxa/media_check_async", "/wxa/getwxacodeunlimit", "/cgi-bin/menu/create", "/cgi-bin/user/info/batchget",
		"/cgi-bin/material/add_material", "/cgi-bin/media/uploadimg", "/cgi-bin/message/mass/get",
	}
	for i := range paths {
		f.Add(uint8(i), []byte(`{"touser":"o1","msgtype":"text","text":{"content":"x"}}`))
	}
	f.Add(uint8(0), []byte(`{"grant_type":"client_credential","appid":"`+oaID+`","secret":"`+oaSecret+`"}`))
	f.Add(uint8(7), []byte(`{"articles":[{"title":"t","content":"c","article_type":"newspic"}]}`))
	f.Add(uint8(11), []byte(`{"begin_date":"2025-03-09","end_date":"2025-03-09"}`))
	f.Add(uint8(19), []byte(`{"scene":"a=1"}`))
	f.Add(uint8(20), []byte(`{"button":[{"name":"x","sub_button":[{"type":"click","name":"y","key":"k"}]}]}`))
	s, _ := newSim(f)
	s.AddUser(wxsim.User{OpenID: "o1", Subscribed: true})
	tok := mustToken(f, s, oaID, oaSecret)
	f.Fuzz(func(t *testing.T, pathIndex uint8, body []byte) {
		path := paths[int(pathIndex)%len(paths)]
		a := doCtx(t, t.Context(), s, http.MethodPost, path+"?type=image&access_token="+tok, body, "application/json")
		if a.status != http.StatusOK {
			t.Fatalf("POST %s %q: status %d", path, body, a.status)
		}
		if a.json == nil && a.contentType != "image/jpeg" {
			t.Fatalf("POST %s %q: %s %q is neither JSON nor the JPEG", path, body, a.contentType, a.body)
		}
	})
}
