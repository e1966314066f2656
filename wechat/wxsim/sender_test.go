package wxsim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/silenceper/wechat/v2/officialaccount/message"

	"wanjia/wechat/wxsim"
)

// echoReply answers text with "echo: …", a subscribe with a news article,
// CLICK with an image and everything else with no passive reply.
func echoReply(m *message.MixMessage) *message.Reply {
	switch {
	case m.MsgType == message.MsgTypeText:
		return &message.Reply{MsgType: message.MsgTypeText, MsgData: message.NewText("echo: " + m.Content)}
	case m.Event == message.EventSubscribe:
		return &message.Reply{MsgType: message.MsgTypeNews, MsgData: message.NewNews([]*message.Article{
			message.NewArticle("欢迎关注", "key="+m.EventKey, "https://img.example/p.jpg", "https://example.com/welcome"),
		})}
	case m.Event == message.EventClick:
		return &message.Reply{MsgType: message.MsgTypeImage, MsgData: message.NewImage("MEDIA_" + m.EventKey)}
	}
	return nil
}

func TestSenderWithSilenceperServer(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name   string
		aesKey string
	}{{"plain", ""}, {"safe", testAESKey}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			srv := newOAServer(t, mode.aesKey, echoReply)
			snd := &wxsim.Sender{URL: srv.URL, Token: cbToken, AESKey: mode.aesKey, AppID: oaID, HTTP: srv.Client()}
			ctx := context.Background()
			gh := wxsim.OriginalID(oaID)
			tests := []struct {
				name string
				msg  wxsim.OAMessage
				want *wxsim.Reply
			}{
				{"text", wxsim.TextMessage("o1", "你好 <&>"), &wxsim.Reply{ToUserName: "o1", FromUserName: gh, MsgType: "text", Content: "echo: 你好 <&>"}},
				{"subscribe via qr", wxsim.OAMessage{FromUserName: "o1", MsgType: "event", Event: "subscribe", EventKey: "qrscene_fair7", Ticket: "T"},
					&wxsim.Reply{ToUserName: "o1", FromUserName: gh, MsgType: "news", Articles: []wxsim.ReplyArticle{{
						Title: "欢迎关注", Description: "key=qrscene_fair7", PicURL: "https://img.example/p.jpg", URL: "https://example.com/welcome"}}}},
				{"click", wxsim.EventMessage("o1", "CLICK", "K1"), &wxsim.Reply{ToUserName: "o1", FromUserName: gh, MsgType: "image", MediaID: "MEDIA_K1"}},
				{"no reply", wxsim.EventMessage("o1", "unsubscribe", ""), nil},
			}
			for _, tt := range tests {
				got, raw, err := snd.Send(ctx, tt.msg)
				if err != nil {
					t.Fatalf("%s: Send() error = %v (raw %s)", tt.name, err, raw)
				}
				if diff := cmp.Diff(tt.want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".CreateTime" }, cmp.Ignore())); diff != "" {
					t.Errorf("%s: reply mismatch (-want +got):\n%s", tt.name, diff)
				}
				if mode.aesKey != "" && tt.want != nil && strings.Contains(string(raw), tt.want.MsgType+"]]") {
					t.Errorf("%s: safe-mode reply is readable: %s", tt.name, raw)
				}
			}
			got := srv.received()
			if len(got) != 4 || got[0].Content != "你好 <&>" || got[0].MsgID == 0 || got[1].EventKey != "qrscene_fair7" || got[1].Ticket != "T" {
				t.Errorf("server received %+v", got)
			}
			if err := snd.Verify(ctx); err != nil {
				t.Errorf("Verify() = %v", err)
			}
			wrong := *snd
			wrong.Token = "other"
			if _, _, err := wrong.Send(ctx, wxsim.TextMessage("o1", "x")); err == nil {
				t.Error("Send() with a wrong token succeeded")
			}
			if err := wrong.Verify(ctx); err == nil {
				t.Error("Verify() with a wrong token succeeded")
			}
		})
	}
}

func TestSenderRejectsBadServers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gh := wxsim.OriginalID(oaID)
	plainText := func(to, from string) string {
		return "<xml><ToUserName><![CDATA[" + to + "]]></ToUserName><FromUserName><![CDATA[" + from +
			"]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>"
	}
	encrypted, err := wxsim.Encrypt(oaID, testAESKey, []byte(plainText("o1", gh)))
	if err != nil {
		t.Fatal(err)
	}
	envelope := func(sig string) string {
		return "<xml><Encrypt><![CDATA[" + encrypted + "]]></Encrypt><MsgSignature><![CDATA[" + sig +
			"]]></MsgSignature><TimeStamp>1</TimeStamp><Nonce><![CDATA[2]]></Nonce></xml>"
	}
	tests := []struct {
		name    string
		aesKey  string
		status  int
		body    string
		wantErr error
	}{
		{"status 500", "", 500, "oops", nil},
		{"not xml", "", 200, "hello", wxsim.ErrBadReply},
		{"wrong recipient", "", 200, plainText("o2", gh), wxsim.ErrBadReply},
		{"unknown type", "", 200, strings.Replace(plainText("o1", gh), "text]]", "fax]]", 1), wxsim.ErrBadReply},
		{"plaintext in safe mode", testAESKey, 200, plainText("o1", gh), wxsim.ErrBadReply},
		{"bad msg signature", testAESKey, 200, envelope("0000"), wxsim.ErrBadReply},
		{"good envelope", testAESKey, 200, envelope(wxsim.Signature(cbToken, "1", "2", encrypted)), nil},
		{"success in safe mode", testAESKey, 200, "success", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			snd := &wxsim.Sender{URL: srv.URL, Token: cbToken, AESKey: tt.aesKey, AppID: oaID}
			_, _, err := snd.Send(ctx, wxsim.TextMessage("o1", "x"))
			wantOK := tt.status == 200 && tt.wantErr == nil
			switch {
			case wantOK && err != nil:
				t.Errorf("Send() error = %v, want nil", err)
			case !wantOK && err == nil:
				t.Errorf("Send() error = nil, want one")
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("Send() error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestSendXML(t *testing.T) {
	t.Parallel()
	srv := newOAServer(t, testAESKey, echoReply)
	snd := &wxsim.Sender{URL: srv.URL, Token: cbToken, AESKey: testAESKey, AppID: oaID}
	doc := wxsim.OAMessage{ToUserName: "gh", FromUserName: "o9", CreateTime: time.Now(), MsgType: "text", Content: "原样", MsgID: 1}.XML()
	raw, err := snd.SendXML(context.Background(), doc, "o9")
	if err != nil {
		t.Fatalf("SendXML() = %v", err)
	}
	plain, err := wxsim.OpenReply(cbToken, oaID, testAESKey, raw)
	if err != nil {
		t.Fatalf("OpenReply() = %v", err)
	}
	reply, err := wxsim.ParseReply(plain)
	if err != nil || reply.Content != "echo: 原样" || reply.ToUserName != "o9" {
		t.Errorf("reply = %+v, %v", reply, err)
	}
}

func TestVerifyRejectsCarelessServer(t *testing.T) {
	t.Parallel()
	// A server that echoes without checking the signature fails Verify.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.URL.Query().Get("echostr")))
	}))
	defer srv.Close()
	snd := &wxsim.Sender{URL: srv.URL, Token: cbToken, Now: func() time.Time { return time.Unix(1700000000, 0) }}
	if err := snd.Verify(context.Background()); err == nil || !strings.Contains(err.Error(), "wrong signature") {
		t.Errorf("Verify() = %v, want a wrong-signature complaint", err)
	}
	if _, _, err := snd.Send(context.Background(), wxsim.OAMessage{MsgType: "text"}); err == nil {
		t.Error("Send() without FromUserName succeeded")
	}
}

func TestOAMessageXML(t *testing.T) {
	t.Parallel()
	at := time.Unix(1700000000, 0)
	tests := []struct {
		msg  wxsim.OAMessage
		want string
	}{
		{wxsim.OAMessage{ToUserName: "gh", FromUserName: "o1", CreateTime: at, MsgType: "text", Content: "a<b", MsgID: 7},
			"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[a<b]]></Content><MsgId>7</MsgId></xml>"},
		{wxsim.OAMessage{ToUserName: "gh", FromUserName: "o1", CreateTime: at, MsgType: "event", Event: "unsubscribe"},
			"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event><EventKey><![CDATA[]]></EventKey></xml>"},
		{wxsim.OAMessage{ToUserName: "gh", FromUserName: "o1", CreateTime: at, MsgType: "event", Event: "VIEW", EventKey: "https://x/?a=1&b=2", MenuID: "9"},
			"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[https://x/?a=1&b=2]]></EventKey><MenuId><![CDATA[9]]></MenuId></xml>"},
	}
	for _, tt := range tests {
		if got := string(tt.msg.XML()); got != tt.want {
			t.Errorf("XML(%+v) =\n%s\nwant\n%s", tt.msg, got, tt.want)
		}
	}
}
