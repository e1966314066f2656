package wechat_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wanjia/model"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

var t0 = time.Unix(1700000000, 0).UTC()

// oaDoc wraps the fields of an OA callback in <xml> with the usual head.
func oaDoc(msgType string, fields string) string {
	return "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName>" +
		"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[" + msgType + "]]></MsgType>" + fields + "</xml>"
}

func oaMsg(msgType string) model.InboundMessage {
	return model.InboundMessage{App: model.AppOA, ToUser: "gh_x", FromUser: "o_user", CreateTime: t0, MsgType: msgType}
}

func TestParseOA(t *testing.T) {
	t.Parallel()
	with := func(m model.InboundMessage, f func(*model.InboundMessage)) model.InboundMessage { f(&m); return m }
	tests := []struct {
		name string
		doc  string
		want model.InboundMessage
	}{
		{"text", oaDoc("text", "<Content><![CDATA[a ]]]]><![CDATA[> & <b>]]></Content><MsgId>6054768590064713728</MsgId>"),
			with(oaMsg("text"), func(m *model.InboundMessage) { m.Content, m.MsgID = "a ]]> & <b>", "6054768590064713728" })},
		{"text escaped", oaDoc("text", "<Content>x &amp; y &#20320;</Content><MsgId>1</MsgId>"),
			with(oaMsg("text"), func(m *model.InboundMessage) { m.Content, m.MsgID = "x & y 你", "1" })},
		{"image", oaDoc("image", "<PicUrl><![CDATA[http://p/1.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId><MsgId>2</MsgId>"),
			with(oaMsg("image"), func(m *model.InboundMessage) { m.PicURL, m.MediaID, m.MsgID = "http://p/1.jpg", "m1", "2" })},
		{"voice recognition", oaDoc("voice", "<MediaId><![CDATA[v1]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[救命]]></Recognition><MsgId>3</MsgId>"),
			with(oaMsg("voice"), func(m *model.InboundMessage) { m.MediaID, m.Content, m.MsgID = "v1", "救命", "3" })},
		{"location", oaDoc("location", "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[广州]]></Label><MsgId>4</MsgId>"),
			with(oaMsg("location"), func(m *model.InboundMessage) {
				m.Latitude, m.Longitude, m.Label, m.MsgID = 23.134521, 113.358803, "广州", "4"
			})},
		{"link", oaDoc("link", "<Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[http://u]]></Url><MsgId>5</MsgId>"),
			with(oaMsg("link"), func(m *model.InboundMessage) { m.Title, m.URL, m.MsgID = "t", "http://u", "5" })},
		{"subscribe by QR code", oaDoc("event", "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_fair12]]></EventKey><Ticket><![CDATA[TK]]></Ticket>"),
			with(oaMsg("event"), func(m *model.InboundMessage) { m.Event, m.EventKey, m.Ticket = "subscribe", "qrscene_fair12", "TK" })},
		{"SCAN", oaDoc("event", "<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[fair12]]></EventKey>"),
			with(oaMsg("event"), func(m *model.InboundMessage) { m.Event, m.EventKey = "SCAN", "fair12" })},
		{"CLICK", oaDoc("event", "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[HELP]]></EventKey>"),
			with(oaMsg("event"), func(m *model.InboundMessage) { m.Event, m.EventKey = "CLICK", "HELP" })},
		{"VIEW", oaDoc("event", "<Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[https://x/y]]></EventKey><MenuId>1</MenuId>"),
			with(oaMsg("event"), func(m *model.InboundMessage) { m.Event, m.EventKey = "VIEW", "https://x/y" })},
		{"LOCATION event", oaDoc("event", "<Event><![CDATA[LOCATION]]></Event><Latitude>23.1</Latitude><Longitude>113.3</Longitude><Precision>119.3</Precision>"),
			with(oaMsg("event"), func(m *model.InboundMessage) { m.Event, m.Latitude, m.Longitude = "LOCATION", 23.1, 113.3 })},
		{"TEMPLATESENDJOBFINISH", oaDoc("event", "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID><Status><![CDATA[failed:user block]]></Status>"),
			with(oaMsg("event"), func(m *model.InboundMessage) {
				m.Event, m.ResultMsgID, m.Status = "TEMPLATESENDJOBFINISH", "200163836", "failed:user block"
			})},
		{"MASSSENDJOBFINISH", oaDoc("event", "<Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>1000001625</MsgID><Status><![CDATA[send success]]></Status>"+
			"<TotalCount>100</TotalCount><FilterCount>80</FilterCount><SentCount>75</SentCount><ErrorCount>5</ErrorCount>"+
			"<CopyrightCheckResult><Count>0</Count><ResultList></ResultList><CheckState>1</CheckState></CopyrightCheckResult>"+
			"<ArticleUrlResult><Count>2</Count><ResultList><item><ArticleIdx>1</ArticleIdx><ArticleUrl><![CDATA[https://a/1]]></ArticleUrl></item>"+
			"<item><ArticleIdx>2</ArticleIdx><ArticleUrl><![CDATA[https://a/2]]></ArticleUrl></item></ResultList></ArticleUrlResult>"),
			with(oaMsg("event"), func(m *model.InboundMessage) {
				m.Event, m.ResultMsgID, m.Status = "MASSSENDJOBFINISH", "1000001625", "send success"
				m.TotalCount, m.FilterCount, m.SentCount, m.ErrorCount = 100, 80, 75, 5
				m.ArticleURLs = []string{"https://a/1", "https://a/2"}
			})},
		{"PUBLISHJOBFINISH", oaDoc("event", "<Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo><publish_id>2247503051</publish_id>"+
			"<publish_status>0</publish_status><article_id><![CDATA[b5O2OUs25HBxRceL7hfReg-U9QGeq9zQjiDvy]]></article_id>"+
			"<article_detail><count>1</count><item><idx>1</idx><article_url><![CDATA[https://mp/s/1]]></article_url></item></article_detail></PublishEventInfo>"),
			with(oaMsg("event"), func(m *model.InboundMessage) {
				m.Event, m.PublishID, m.PublishStatus, m.ArticleID = "PUBLISHJOBFINISH", "2247503051", 0, "b5O2OUs25HBxRceL7hfReg-U9QGeq9zQjiDvy"
				m.ArticleURLs = []string{"https://mp/s/1"}
			})},
		{"PUBLISHJOBFINISH failed", oaDoc("event", "<Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo><publish_id>9</publish_id>"+
			"<publish_status>2</publish_status><fail_idx>1</fail_idx><fail_idx>2</fail_idx></PublishEventInfo>"),
			with(oaMsg("event"), func(m *model.InboundMessage) { m.Event, m.PublishID, m.PublishStatus = "PUBLISHJOBFINISH", "9", 2 })},
		{"subscribe_msg_popup_event", oaDoc("event", "<Event><![CDATA[subscribe_msg_popup_event]]></Event><SubscribeMsgPopupEvent>"+
			"<List><TemplateId><![CDATA[T1]]></TemplateId><SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>2</PopupScene></List>"+
			"<List><TemplateId><![CDATA[T2]]></TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString><PopupScene>2</PopupScene></List>"+
			"</SubscribeMsgPopupEvent>"),
			with(oaMsg("event"), func(m *model.InboundMessage) {
				m.Event = "subscribe_msg_popup_event"
				m.SubscribeEvents = []model.SubscribeEvent{{TemplateID: "T1", Status: "accept", PopupScene: "2"}, {TemplateID: "T2", Status: "reject", PopupScene: "2"}}
			})},
		{"subscribe_msg_change_event", oaDoc("event", "<Event><![CDATA[subscribe_msg_change_event]]></Event><SubscribeMsgChangeEvent>"+
			"<List><TemplateId><![CDATA[T1]]></TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></SubscribeMsgChangeEvent>"),
			with(oaMsg("event"), func(m *model.InboundMessage) {
				m.Event = "subscribe_msg_change_event"
				m.SubscribeEvents = []model.SubscribeEvent{{TemplateID: "T1", Status: "reject"}}
			})},
		{"subscribe_msg_sent_event", oaDoc("event", "<Event><![CDATA[subscribe_msg_sent_event]]></Event><SubscribeMsgSentEvent>"+
			"<List><TemplateId><![CDATA[T1]]></TemplateId><MsgID>1700827132819554304</MsgID><ErrorCode>43101</ErrorCode>"+
			"<ErrorStatus><![CDATA[failed:user refuse]]></ErrorStatus></List></SubscribeMsgSentEvent>"),
			with(oaMsg("event"), func(m *model.InboundMessage) {
				m.Event = "subscribe_msg_sent_event"
				m.SubscribeEvents = []model.SubscribeEvent{{TemplateID: "T1", MsgID: "1700827132819554304", ErrorCode: 43101, Status: "failed:user refuse"}}
			})},
		{"unknown type kept", oaDoc("hologram", "<MsgId>9</MsgId><Whatever><Deep>1</Deep></Whatever>"),
			with(oaMsg("hologram"), func(m *model.InboundMessage) { m.MsgID = "9" })},
		{"prolog, comments and whitespace", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- hi -->\n" + oaDoc("text", "\n  <Content>x</Content>\n  <MsgId>1</MsgId>\n") + "\n",
			with(oaMsg("text"), func(m *model.InboundMessage) { m.Content, m.MsgID = "x", "1" })},
	}
	for _, tt := range tests {
		got, err := wechat.ParseOA([]byte(tt.doc))
		if err != nil {
			t.Errorf("ParseOA(%s) = %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ParseOA(%s) (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestParseOADedupeKeys(t *testing.T) {
	t.Parallel()
	tests := []struct{ doc, want string }{
		{oaDoc("text", "<Content>a</Content><MsgId>77</MsgId>"), "oa:msg:77"},
		{oaDoc("event", "<Event>CLICK</Event><EventKey>K</EventKey><MsgId>5</MsgId>"), "oa:event:o_user:1700000000:CLICK:K"},
		{oaDoc("event", "<Event>TEMPLATESENDJOBFINISH</Event><MsgID>88</MsgID><Status>success</Status>"), "oa:result:TEMPLATESENDJOBFINISH:88"},
		{oaDoc("event", "<Event>PUBLISHJOBFINISH</Event><PublishEventInfo><publish_id>99</publish_id></PublishEventInfo>"), "oa:publish:99"},
	}
	for _, tt := range tests {
		m, err := wechat.ParseOA([]byte(tt.doc))
		if err != nil || m.DedupeKey() != tt.want {
			t.Errorf("ParseOA(%s).DedupeKey() = %q, %v, want %q", tt.doc, m.DedupeKey(), err, tt.want)
		}
	}
}

func TestParseOARefuses(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, doc string }{
		{"empty", ""},
		{"not xml", "hello"},
		{"doctype", `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "boom">]>` + oaDoc("text", "<Content>&e;</Content><MsgId>1</MsgId>")},
		{"external entity", `<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>`},
		{"undeclared entity", oaDoc("text", "<Content>&e;</Content><MsgId>1</MsgId>")},
		{"other root", "<root><MsgType>text</MsgType></root>"},
		{"two roots", oaDoc("text", "<MsgId>1</MsgId>") + "<xml></xml>"},
		{"text after root", oaDoc("text", "<MsgId>1</MsgId>") + "junk"},
		{"unclosed", "<xml><MsgType>text</MsgType>"},
		{"mismatched", "<xml><MsgType>text</Content></xml>"},
		{"no MsgType", "<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime></xml>"},
		{"no CreateTime", "<xml><FromUserName>o</FromUserName><MsgType>text</MsgType></xml>"},
		{"bad CreateTime", "<xml><FromUserName>o</FromUserName><CreateTime>soon</CreateTime><MsgType>text</MsgType></xml>"},
		{"no FromUserName", "<xml><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>"},
		{"bad count", oaDoc("event", "<Event>MASSSENDJOBFINISH</Event><TotalCount>many</TotalCount>")},
		{"bad float", oaDoc("location", "<Location_X>north</Location_X><MsgId>1</MsgId>")},
		{"namespace", `<xml xmlns:a="urn:x"><a:MsgType>text</a:MsgType></xml>`},
		{"too deep", "<xml>" + strings.Repeat("<a>", 10) + strings.Repeat("</a>", 10) + "</xml>"},
		{"control character", oaDoc("text", "<Content>a\x01b</Content><MsgId>1</MsgId>")},
		{"invalid utf-8", oaDoc("text", "<Content>a\xffb</Content><MsgId>1</MsgId>")},
		{"too large", "<xml>" + strings.Repeat(" ", wechat.MaxCallbackBody) + "</xml>"},
	}
	for _, tt := range tests {
		_, err := wechat.ParseOA([]byte(tt.doc))
		if !errors.Is(err, model.ErrInvalid) && !errors.Is(err, model.ErrTooLarge) {
			t.Errorf("ParseOA(%s) = %v, want ErrMalformed", tt.name, err)
		}
	}
}

func TestParseMP(t *testing.T) {
	t.Parallel()
	mp := func(msgType string, f func(*model.InboundMessage)) model.InboundMessage {
		m := model.InboundMessage{App: model.AppMP, ToUser: "gh_mp", FromUser: "o_mp", CreateTime: t0, MsgType: msgType}
		f(&m)
		return m
	}
	head := `"ToUserName":"gh_mp","FromUserName":"o_mp",`
	tests := []struct {
		name, doc string
		want      model.InboundMessage
	}{
		{"json text", `{` + head + `"CreateTime":1700000000,"MsgType":"text","Content":"你好","MsgId":6054768590064713728}`,
			mp("text", func(m *model.InboundMessage) { m.Content, m.MsgID = "你好", "6054768590064713728" })},
		{"json string numbers", `{` + head + `"CreateTime":"1700000000","MsgType":"image","PicUrl":"http://p","MediaId":"m","MsgId":"42"}`,
			mp("image", func(m *model.InboundMessage) { m.PicURL, m.MediaID, m.MsgID = "http://p", "m", "42" })},
		{"json miniprogrampage", `{` + head + `"CreateTime":1700000000,"MsgType":"miniprogrampage","Title":"t","AppId":"wx1","PagePath":"pages/a?x=1","ThumbUrl":"http://t","ThumbMediaId":"tm","MsgId":3}`,
			mp("miniprogrampage", func(m *model.InboundMessage) {
				m.Title, m.URL, m.PicURL, m.MediaID, m.MsgID = "t", "pages/a?x=1", "http://t", "tm", "3"
			})},
		{"json enter session", `{` + head + `"CreateTime":1700000000,"MsgType":"event","Event":"user_enter_tempsession","SessionFrom":"case"}`,
			mp("event", func(m *model.InboundMessage) { m.Event, m.EventKey = "user_enter_tempsession", "case" })},
		{"json popup, List an object", `{` + head + `"CreateTime":"1700000000","MsgType":"event","Event":"subscribe_msg_popup_event",` +
			`"List":{"TemplateId":"T1","SubscribeStatusString":"accept","PopupScene":"0"}}`,
			mp("event", func(m *model.InboundMessage) {
				m.Event = "subscribe_msg_popup_event"
				m.SubscribeEvents = []model.SubscribeEvent{{TemplateID: "T1", Status: "accept", PopupScene: "0"}}
			})},
		{"json change, List an array", `{` + head + `"CreateTime":1700000000,"MsgType":"event","Event":"subscribe_msg_change_event",` +
			`"List":[{"TemplateId":"T1","SubscribeStatusString":"reject"},{"TemplateId":"T2","SubscribeStatusString":"accept"}]}`,
			mp("event", func(m *model.InboundMessage) {
				m.Event = "subscribe_msg_change_event"
				m.SubscribeEvents = []model.SubscribeEvent{{TemplateID: "T1", Status: "reject"}, {TemplateID: "T2", Status: "accept"}}
			})},
		{"json sent", `{` + head + `"CreateTime":1700000000,"MsgType":"event","Event":"subscribe_msg_sent_event",` +
			`"List":{"TemplateId":"T1","MsgID":"1864323726461255680","ErrorCode":"0","ErrorStatus":"success"}}`,
			mp("event", func(m *model.InboundMessage) {
				m.Event = "subscribe_msg_sent_event"
				m.SubscribeEvents = []model.SubscribeEvent{{TemplateID: "T1", MsgID: "1864323726461255680", Status: "success"}}
			})},
		{"json media check v2", `{` + head + `"CreateTime":1700000000,"MsgType":"event","Event":"wxa_media_check","appid":"wx1","trace_id":"60f96f1d-3845297a",` +
			`"version":2,"detail":[{"strategy":"content_model","errcode":0,"suggest":"risky","label":20002,"prob":90}],"errcode":0,"errmsg":"ok","result":{"suggest":"risky","label":20002}}`,
			mp("event", func(m *model.InboundMessage) {
				m.Event, m.TraceID, m.Suggest, m.CheckLabel = "wxa_media_check", "60f96f1d-3845297a", "risky", 20002
			})},
		{"json media check v1", `{` + head + `"CreateTime":1700000000,"MsgType":"event","Event":"wxa_media_check","isrisky":1,"extra_info_json":"","appid":"wx1","trace_id":"t1","status_code":0}`,
			mp("event", func(m *model.InboundMessage) { m.Event, m.TraceID, m.Suggest = "wxa_media_check", "t1", "risky" })},
		{"xml popup", `<xml><ToUserName><![CDATA[gh_mp]]></ToUserName><FromUserName><![CDATA[o_mp]]></FromUserName><CreateTime>1700000000</CreateTime>` +
			`<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_popup_event]]></Event><SubscribeMsgPopupEvent><List>` +
			`<TemplateId><![CDATA[T1]]></TemplateId><SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>0</PopupScene></List></SubscribeMsgPopupEvent></xml>`,
			mp("event", func(m *model.InboundMessage) {
				m.Event = "subscribe_msg_popup_event"
				m.SubscribeEvents = []model.SubscribeEvent{{TemplateID: "T1", Status: "accept", PopupScene: "0"}}
			})},
		{"xml media check", `<xml><ToUserName>gh_mp</ToUserName><FromUserName>o_mp</FromUserName><CreateTime>1700000000</CreateTime><MsgType>event</MsgType>` +
			`<Event>wxa_media_check</Event><trace_id>t2</trace_id><version>2</version><result><suggest>pass</suggest><label>100</label></result></xml>`,
			mp("event", func(m *model.InboundMessage) {
				m.Event, m.TraceID, m.Suggest, m.CheckLabel = "wxa_media_check", "t2", "pass", 100
			})},
	}
	for _, tt := range tests {
		got, err := wechat.ParseMP([]byte(tt.doc))
		if err != nil {
			t.Errorf("ParseMP(%s) = %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ParseMP(%s) (-want +got):\n%s", tt.name, diff)
		}
	}
	if m, err := wechat.ParseMP([]byte(tests[6].doc)); err != nil || m.DedupeKey() != "mp:event:o_mp:1700000000:subscribe_msg_sent_event:" {
		t.Errorf("ParseMP(sent).DedupeKey() = %q, %v", m.DedupeKey(), err)
	}
}

func TestParseMPRefuses(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"truncated":        `{"MsgType":"text"`,
		"trailing garbage": `{"MsgType":"text","FromUserName":"o","CreateTime":1}x`,
		"wrong type":       `{"MsgType":"text","FromUserName":"o","CreateTime":1,"Content":5}`,
		"bad CreateTime":   `{"MsgType":"text","FromUserName":"o","CreateTime":"later"}`,
		"bool CreateTime":  `{"MsgType":"text","FromUserName":"o","CreateTime":[1]}`,
		"List a string":    `{"MsgType":"event","FromUserName":"o","CreateTime":1,"Event":"subscribe_msg_popup_event","List":"x"}`,
		"bad ErrorCode":    `{"MsgType":"event","CreateTime":1,"Event":"subscribe_msg_sent_event","List":{"ErrorCode":"oops"}}`,
		"array":            `[1,2]`,
		"no MsgType":       `{"FromUserName":"o","CreateTime":1}`,
	} {
		if _, err := wechat.ParseMP([]byte(doc)); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("ParseMP(%s) = %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseAgreesWithWxsimSender(t *testing.T) {
	t.Parallel()
	msg := wxsim.OAMessage{ToUserName: "gh_x", FromUserName: "o_user", CreateTime: t0, MsgType: "text", Content: "a]]>b <c>", MsgID: 99}
	got, err := wechat.ParseOA(msg.XML())
	if err != nil {
		t.Fatalf("ParseOA(wxsim XML) = %v", err)
	}
	want := oaMsg("text")
	want.Content, want.MsgID = "a]]>b <c>", "99"
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ParseOA(wxsim XML) (-want +got):\n%s", diff)
	}
}

func TestAppendReply(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000001, 0)
	tests := []struct {
		name string
		r    *model.Reply
		want wxsim.Reply
	}{
		{"text", &model.Reply{Kind: model.ReplyText, Text: "请拨打 110 或 12338 ]]> <b>&"},
			wxsim.Reply{MsgType: "text", Content: "请拨打 110 或 12338 ]]> <b>&"}},
		{"text with forbidden characters", &model.Reply{Kind: model.ReplyText, Text: "a\x00b\x1bc\td\xffe"},
			wxsim.Reply{MsgType: "text", Content: "abc\td\uFFFDe"}},
		{"image", &model.Reply{Kind: model.ReplyImage, MediaID: "MEDIA"}, wxsim.Reply{MsgType: "image", MediaID: "MEDIA"}},
		{"news", &model.Reply{Kind: model.ReplyNews, Articles: []model.NewsArticle{{Title: "课堂", Description: "d", PicURL: "https://p", URL: "https://u?a=1&b=2"}}},
			wxsim.Reply{MsgType: "news", Articles: []wxsim.ReplyArticle{{Title: "课堂", Description: "d", PicURL: "https://p", URL: "https://u?a=1&b=2"}}}},
	}
	for _, tt := range tests {
		doc, err := wechat.AppendReply(nil, tt.r, "o_user", "gh_x", now)
		if err != nil {
			t.Errorf("AppendReply(%s) = %v", tt.name, err)
			continue
		}
		got, err := wxsim.ParseReply(doc)
		if err != nil {
			t.Errorf("wxsim.ParseReply(AppendReply(%s)) = %v\n%s", tt.name, err, doc)
			continue
		}
		tt.want.ToUserName, tt.want.FromUserName, tt.want.CreateTime = "o_user", "gh_x", now.Unix()
		if diff := cmp.Diff(&tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("AppendReply(%s) (-want +got):\n%s", tt.name, diff)
		}
	}
	for name, r := range map[string]*model.Reply{
		"nil":         nil,
		"empty text":  {Kind: model.ReplyText, Text: "  "},
		"no media":    {Kind: model.ReplyImage},
		"no articles": {Kind: model.ReplyNews},
		"9 articles":  {Kind: model.ReplyNews, Articles: make([]model.NewsArticle, 9)},
		"music":       {Kind: "music"},
	} {
		if _, err := wechat.AppendReply(nil, r, "o", "gh", now); !errors.Is(err, wechat.ErrBadReply) {
			t.Errorf("AppendReply(%s) = %v, want ErrBadReply", name, err)
		}
	}
}
