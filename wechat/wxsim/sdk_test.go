package wxsim_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/miniprogram"
	mpauth "github.com/silenceper/wechat/v2/miniprogram/auth"
	"github.com/silenceper/wechat/v2/miniprogram/business"
	mpconfig "github.com/silenceper/wechat/v2/miniprogram/config"
	mpmessage "github.com/silenceper/wechat/v2/miniprogram/message"
	"github.com/silenceper/wechat/v2/miniprogram/qrcode"
	"github.com/silenceper/wechat/v2/miniprogram/security"
	"github.com/silenceper/wechat/v2/miniprogram/subscribe"
	"github.com/silenceper/wechat/v2/officialaccount"
	"github.com/silenceper/wechat/v2/officialaccount/broadcast"
	oaconfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/draft"
	"github.com/silenceper/wechat/v2/officialaccount/freepublish"
	"github.com/silenceper/wechat/v2/officialaccount/material"
	"github.com/silenceper/wechat/v2/officialaccount/menu"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/officialaccount/user"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/internal/testutil"
	"wanjia/wechat/wxsim"
)

// simRoute is the simulator silenceper's global HTTP client talks to; the
// SDK tests set it and are not parallel. The client is a plain one, not
// wanjia/wechat's: these tests check the simulator against the SDK alone.
var simRoute = &testutil.SimRoute{}

func TestMain(m *testing.M) {
	util.DefaultHTTPClient = &http.Client{Transport: simRoute, Timeout: 10 * time.Second}
	os.Exit(m.Run())
}

// useSim points silenceper at s for the rest of the (non-parallel) test.
func useSim(t *testing.T, s *wxsim.Sim) {
	t.Helper()
	simRoute.Use(t, s.Transport())
}

// memCache is a goroutine-safe silenceper cache: a string on a hit and an
// untyped nil on a miss.
type memCache struct {
	mu sync.Mutex
	m  map[string]memItem
}

type memItem struct {
	val     any
	expires time.Time
}

func newMemCache() *memCache { return &memCache{m: map[string]memItem{}} }

func (c *memCache) Get(key string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.m[key]
	if !ok || (!it.expires.IsZero() && time.Now().After(it.expires)) {
		return nil
	}
	return it.val
}

func (c *memCache) Set(key string, val any, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	it := memItem{val: val}
	if timeout > 0 {
		it.expires = time.Now().Add(timeout)
	}
	c.m[key] = it
	return nil
}

func (c *memCache) IsExist(key string) bool { return c.Get(key) != nil }

func (c *memCache) Delete(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}

func newOA(stable bool) *officialaccount.OfficialAccount {
	return officialaccount.NewOfficialAccount(&oaconfig.Config{
		AppID: oaID, AppSecret: oaSecret, Token: "tok", EncodingAESKey: testAESKey, Cache: newMemCache(), UseStableAK: stable,
	})
}

func newMP(stable bool) *miniprogram.MiniProgram {
	return miniprogram.NewMiniProgram(&mpconfig.Config{AppID: mpID, AppSecret: mpSecret, Cache: newMemCache(), UseStableAK: stable})
}

func mustNoErr(tb testing.TB, what string, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

func TestSDKTokens(t *testing.T) {
	for _, stable := range []bool{false, true} {
		s, _ := newSim(t)
		useSim(t, s)
		oa := newOA(stable)
		tok, err := oa.GetAccessTokenContext(context.Background())
		mustNoErr(t, "GetAccessToken", err)
		again, err := oa.GetAccessTokenContext(context.Background())
		mustNoErr(t, "GetAccessToken again", err)
		if tok == "" || tok != again || s.TokenFetches(oaID) != 1 {
			t.Errorf("stable=%v: tokens %q %q after %d fetches, want one cached token", stable, tok, again, s.TokenFetches(oaID))
		}
		bad := officialaccount.NewOfficialAccount(&oaconfig.Config{AppID: oaID, AppSecret: "wrong", Cache: newMemCache(), UseStableAK: stable})
		if _, err := bad.GetAccessTokenContext(context.Background()); err == nil || !strings.Contains(err.Error(), "40001") {
			t.Errorf("stable=%v: wrong secret error = %v, want errcode 40001", stable, err)
		}
		// silenceper does not refresh on 40001 by itself: the caller sees it.
		s.RevokeToken(oaID)
		if _, err := oa.GetTemplate().Send(&message.TemplateMessage{ToUser: "o1", TemplateID: "T"}); err == nil || !strings.Contains(err.Error(), "40001") {
			t.Errorf("stable=%v: call with a revoked token = %v, want errcode 40001", stable, err)
		}
	}
}

func TestSDKOfficialAccount(t *testing.T) {
	s, _ := newSim(t, wxsim.WithUserPageSize(2))
	useSim(t, s)
	ctx := context.Background()
	for _, id := range []string{"o1", "o2", "o3"} {
		s.AddUser(wxsim.User{AppID: oaID, OpenID: id, UnionID: "u" + id, Subscribed: true, TagIDs: []int{2}})
	}
	oa := newOA(true)

	msgID, err := oa.GetTemplate().Send(&message.TemplateMessage{ToUser: "o1", TemplateID: "T1",
		Data: map[string]*message.TemplateDataItem{"thing1": {Value: "新课"}}})
	mustNoErr(t, "template send", err)
	if msgID <= 0 {
		t.Errorf("template msgid = %d", msgID)
	}
	s.RefuseFor("o2")
	if _, err := oa.GetTemplate().Send(&message.TemplateMessage{ToUser: "o2", TemplateID: "T1"}); err == nil || !strings.Contains(err.Error(), "43101") {
		t.Errorf("refused template send = %v, want errcode 43101", err)
	}
	mustNoErr(t, "custom send", oa.GetCustomerMessageManager().Send(message.NewCustomerTextMessage("o1", "您好")))

	cover := filepath.Join(t.TempDir(), "cover.jpg")
	mustNoErr(t, "write cover", os.WriteFile(cover, jpegBytes(t), 0o600))
	mediaID, url, err := oa.GetMaterial().AddMaterialFromReader(material.MediaTypeImage, cover, bytes.NewReader(jpegBytes(t)))
	mustNoErr(t, "add material", err)
	if mediaID == "" || url == "" {
		t.Errorf("add material = %q, %q", mediaID, url)
	}
	imgURL, err := oa.GetMaterial().ImageUpload(cover)
	mustNoErr(t, "uploadimg", err)

	draftID, err := oa.GetDraft().AddDraft([]*draft.Article{{Title: "家庭教育", Author: "妇联", Digest: "摘要",
		Content: `<p><img src="` + imgURL + `"></p>`, ThumbMediaID: mediaID}})
	mustNoErr(t, "add draft", err)
	publishID, err := oa.GetFreePublish().Publish(draftID)
	mustNoErr(t, "publish", err)
	st, err := oa.GetFreePublish().SelectStatus(publishID)
	mustNoErr(t, "select status", err)
	if st.PublishStatus != freepublish.PublishStatusPublishing {
		t.Errorf("status before flush = %d, want publishing", st.PublishStatus)
	}
	mustNoErr(t, "flush", s.FlushOAEvents(ctx))
	st, err = oa.GetFreePublish().SelectStatus(publishID)
	mustNoErr(t, "select status", err)
	if st.PublishStatus != freepublish.PublishStatusSuccess || st.ArticleID == "" || len(st.ArticleDetail.Items) != 1 {
		t.Errorf("status after flush = %+v", st)
	}

	res, err := oa.GetBroadcast().SendText(nil, "全体通知")
	mustNoErr(t, "mass text", err)
	news, err := oa.GetBroadcast().SendNews(&broadcast.User{TagID: 2}, draftID, true)
	mustNoErr(t, "mass news", err)
	if res.MsgID <= 0 || news.MsgDataID <= 0 {
		t.Errorf("mass results = %+v, %+v", res, news)
	}
	// silenceper's mass/get (the articles' poll for a lost
	// MASSSENDJOBFINISH) decodes the simulator's answer.
	state, err := oa.GetBroadcast().GetMassStatus(strconv.FormatInt(news.MsgID, 10))
	mustNoErr(t, "mass status", err)
	if state.MsgID != news.MsgID || state.MsgStatus != wxsim.MassSending {
		t.Errorf("mass status before the job ends = %+v, want SENDING", state)
	}
	mustNoErr(t, "flush", s.FlushOAEvents(ctx))
	if state, err = oa.GetBroadcast().GetMassStatus(strconv.FormatInt(news.MsgID, 10)); err != nil || state.MsgStatus != wxsim.MassSuccess {
		t.Errorf("mass status after the job = %+v, %v, want SEND_SUCCESS", state, err)
	}
	if _, err := oa.GetBroadcast().GetMassStatus("12345"); err == nil || !strings.Contains(err.Error(), "40059") {
		t.Errorf("mass status of an unknown msg_id = %v, want errcode 40059", err)
	}

	s.AddArticleDays(wxsim.ArticleDay{MsgDataID: news.MsgDataID, Index: 1, Title: "家庭教育", Published: "2025-03-08", Date: "2025-03-09", ReadUser: 7, ShareUser: 1})
	sum, err := oa.GetDataCube().GetArticleSummary("2025-03-09", "2025-03-09")
	mustNoErr(t, "article summary", err)
	if len(sum.List) != 1 || sum.List[0].IntPageReadUser != 7 {
		t.Errorf("article summary = %+v", sum)
	}
	total, err := oa.GetDataCube().GetArticleTotal("2025-03-08", "2025-03-08")
	mustNoErr(t, "article total", err)
	if len(total.List) != 1 || total.List[0].Details[0].IntPageReadUser != 7 {
		t.Errorf("article total = %+v", total)
	}
	if _, err := oa.GetDataCube().GetArticleSummary("2025-03-08", "2025-03-09"); err == nil || !strings.Contains(err.Error(), "61501") {
		t.Errorf("two-day summary = %v, want errcode 61501", err)
	}

	btn := &menu.Button{}
	mustNoErr(t, "set menu", oa.GetMenu().SetMenu([]*menu.Button{btn.SetClickButton("今日", "TODAY")}))
	got, err := oa.GetMenu().GetMenu()
	mustNoErr(t, "get menu", err)
	self, err := oa.GetMenu().GetCurrentSelfMenuInfo()
	mustNoErr(t, "self menu", err)
	if len(got.Menu.Button) != 1 || got.Menu.Button[0].Key != "TODAY" || self.IsMenuOpen != 1 || self.SelfMenuInfo.Button[0].Key != "TODAY" {
		t.Errorf("menu = %+v, self = %+v", got, self)
	}
	mustNoErr(t, "delete menu", oa.GetMenu().DeleteMenu())
	if _, err := oa.GetMenu().GetMenu(); err == nil || !strings.Contains(err.Error(), "46003") {
		t.Errorf("get deleted menu = %v, want errcode 46003", err)
	}

	info, err := oa.GetUser().GetUserInfo("o1")
	mustNoErr(t, "user info", err)
	if info.Subscribe != 1 || info.UnionID != "uo1" || len(info.TagIDList) != 1 {
		t.Errorf("user info = %+v", info)
	}
	batch, err := oa.GetUser().BatchGetUserInfo(user.BatchGetUserInfoParams{UserList: []user.BatchGetUserListItem{{OpenID: "o2"}, {OpenID: "o3"}}})
	mustNoErr(t, "batch user info", err)
	ids, err := oa.GetUser().ListAllUserOpenIDs()
	mustNoErr(t, "list users", err)
	tags, err := oa.GetUser().GetTag()
	mustNoErr(t, "tags", err)
	if len(batch.UserInfoList) != 2 || len(ids) != 3 || len(tags) != 1 || tags[0].Count != 3 {
		t.Errorf("batch = %d users, list = %q, tags = %+v", len(batch.UserInfoList), ids, tags)
	}
}

func TestSDKMiniProgram(t *testing.T) {
	s, _ := newSim(t)
	useSim(t, s)
	ctx := context.Background()
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1", UnionID: "u1", Phone: "13800000001"})
	s.AddRiskyWord("赌博", wxsim.LabelIllegal)
	mp := newMP(false)

	sess, err := mp.GetAuth().Code2SessionContext(ctx, s.LoginCode("oMP1"))
	mustNoErr(t, "code2session", err)
	if sess.OpenID != "oMP1" || sess.UnionID != "u1" || sess.SessionKey == "" {
		t.Errorf("code2session = %+v", sess)
	}
	if _, err := mp.GetAuth().Code2SessionContext(ctx, "bogus"); err == nil || !strings.Contains(err.Error(), "40029") {
		t.Errorf("code2session with a bad code = %v, want errcode 40029", err)
	}

	phone, err := mp.GetAuth().GetPhoneNumberContext(ctx, s.PhoneCode("oMP1", ""))
	mustNoErr(t, "auth phone number", err)
	info, err := mp.GetBusiness().GetPhoneNumber(&business.GetPhoneNumberRequest{Code: s.PhoneCode("oMP1", "13900000002")})
	mustNoErr(t, "business phone number", err)
	want := mpauth.PhoneInfo{PhoneNumber: "13800000001", PurePhoneNumber: "13800000001", CountryCode: "86"}
	if phone.PhoneInfo.PhoneNumber != want.PhoneNumber || phone.PhoneInfo.CountryCode != "86" || phone.PhoneInfo.WaterMark.AppID != mpID {
		t.Errorf("auth phone = %+v, want %+v", phone.PhoneInfo, want)
	}
	if info.PurePhoneNumber != "13900000002" || info.CountryCode != "86" || info.Watermark.AppID != mpID {
		t.Errorf("business phone = %+v", info)
	}

	msg := &subscribe.Message{ToUser: "oMP1", TemplateID: "TPL", Page: "pages/index/index",
		Data: map[string]*subscribe.DataItem{"thing1": {Value: "新课上线"}, "number2": {Value: 3}}}
	mustNoErr(t, "subscribe send", mp.GetSubscribe().Send(msg))
	id, err := mp.GetSubscribe().SendGetMsgID(msg)
	mustNoErr(t, "subscribe send msgid", err)
	if sent := s.Sent(wxsim.KindSubscribe); id <= 0 || len(sent) != 2 || sent[1].Data["number2"] != "3" {
		t.Errorf("subscribe msgid %d, sent %+v", id, sent)
	}
	s.RefuseFor("oMP1")
	if err := mp.GetSubscribe().Send(msg); err == nil || !strings.Contains(err.Error(), "43101") {
		t.Errorf("refused subscribe send = %v, want errcode 43101", err)
	}
	mustNoErr(t, "mp custom send", mp.GetCustomerMessage().Send(mpmessage.NewCustomerTextMessage("oMP1", "您好")))

	check, err := mp.GetSecurity().MsgCheckContext(ctx, &security.MsgCheckRequest{OpenID: "oMP1", Scene: security.MsgSceneComment, Content: "赌博"})
	mustNoErr(t, "msg check", err)
	if check.Result.Suggest != security.CheckSuggestRisky || check.Result.Label != 20006 || check.TraceID == "" {
		t.Errorf("msg check = %+v", check)
	}
	trace, err := mp.GetSecurity().MediaCheckAsyncContext(ctx, &security.MediaCheckAsyncRequest{MediaURL: "https://cdn.example/p.jpg", MediaType: 2, OpenID: "oMP1", Scene: 1})
	mustNoErr(t, "media check", err)
	if trace == "" {
		t.Error("media check returned no trace id")
	}

	img, err := mp.GetQRCode().GetWXACodeUnlimit(qrcode.QRCoder{Scene: "n=1", Page: "pages/index/index", Width: 430,
		LineColor: &qrcode.Color{R: "0", G: "0", B: "0"}})
	mustNoErr(t, "wxacode", err)
	if _, err := jpeg.Decode(bytes.NewReader(img)); err != nil {
		t.Errorf("wxacode is not a JPEG: %v", err)
	}
	if _, err := mp.GetQRCode().GetWXACodeUnlimit(qrcode.QRCoder{Scene: strings.Repeat("x", 40)}); err == nil || !strings.Contains(err.Error(), "40169") {
		t.Errorf("wxacode with a long scene = %v, want errcode 40169", err)
	}
}
