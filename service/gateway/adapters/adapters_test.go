package adapters_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/internal/testutil"
	"wanjia/job"
	"wanjia/model"
	"wanjia/service/gateway"
	"wanjia/service/gateway/adapters"
	"wanjia/store"
	"wanjia/store/storetest"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

const (
	oaApp, oaSecret = "wxgatewayoa00001", "gatewayoasecret00000000000000001"
	mpApp, mpSecret = "wxgatewaymp00001", "gatewaympsecret00000000000000001"
)

var sim = wxsim.New(wxsim.WithApp(oaApp, oaSecret), wxsim.WithApp(mpApp, mpSecret))

// TestMain points silenceper's process-wide HTTP client at the simulator
// once; these tests are therefore not parallel.
func TestMain(m *testing.M) {
	testutil.MainWithTransport(m, sim.Transport(), func() { sim.Close() })
}

func mustRedis(tb testing.TB) (*miniredis.Miniredis, redis.UniversalClient) {
	tb.Helper()
	mr := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	tb.Cleanup(func() { rdb.Close() })
	return mr, rdb
}

func mustOA(tb testing.TB) adapters.OA {
	tb.Helper()
	_, rdb := mustRedis(tb)
	c, err := wechat.New(wechat.Config{
		OA: wechat.App{AppID: oaApp, Secret: oaSecret}, MP: wechat.App{AppID: mpApp, Secret: mpSecret},
	}, wechat.Deps{Redis: rdb, HTTP: util.DefaultHTTPClient})
	if err != nil {
		tb.Fatalf("wechat.New() = %v", err)
	}
	return adapters.NewOA(c)
}

func TestOAPublishMenu(t *testing.T) {
	oa := mustOA(t)
	ctx := context.Background()
	buttons := []model.MenuButton{
		{Name: "服务", SubButtons: []model.MenuButton{
			{Type: "click", Name: "求助", Key: "HELP"},
			{Type: "miniprogram", Name: "小程序", AppID: mpApp, PagePath: "pages/index/index", URL: "https://example.com"},
		}},
		{Type: "article_id", Name: "文章", ArticleID: "ART_1"},
	}
	if err := oa.PublishMenu(ctx, buttons); err != nil {
		t.Fatalf("PublishMenu() = %v", err)
	}
	got, ok := sim.Menu(oaApp)
	want := []wxsim.MenuButton{
		{Name: "服务", SubButtons: []wxsim.MenuButton{
			{Type: "click", Name: "求助", Key: "HELP"},
			{Type: "miniprogram", Name: "小程序", AppID: mpApp, PagePath: "pages/index/index", URL: "https://example.com"},
		}},
		{Type: "article_id", Name: "文章", ArticleID: "ART_1"},
	}
	if diff := cmp.Diff(want, got); !ok || diff != "" {
		t.Errorf("simulator menu mismatch (-want +got):\n%s", diff)
	}
	// WeChat refusing the menu is the staff's to fix; WeChat failing is upstream.
	err := oa.PublishMenu(ctx, []model.MenuButton{{Type: "click", Name: "x"}})
	var me *model.Error
	if !errors.Is(err, model.ErrInvalid) || !errors.As(err, &me) || !strings.Contains(me.Message, "40019") {
		t.Errorf("PublishMenu(refused) = %v, want ErrInvalid naming errcode 40019", err)
	}
	sim.Fail("/cgi-bin/menu/create", -1, 1)
	if err := oa.PublishMenu(ctx, buttons); !errors.Is(err, model.ErrUpstream) {
		t.Errorf("PublishMenu() with WeChat busy = %v, want ErrUpstream", err)
	}
	// A revoked token is refreshed and the call retried once.
	sim.Fail("/cgi-bin/menu/create", 40001, 1)
	if err := oa.PublishMenu(ctx, buttons); err != nil {
		t.Errorf("PublishMenu() after a 40001 = %v, want the retry to succeed", err)
	}
}

func TestOAFollowerInfo(t *testing.T) {
	oa := mustOA(t)
	sim.AddUser(wxsim.User{AppID: oaApp, OpenID: "oFollower1", UnionID: "uFollower1", Subscribed: true, TagIDs: []int{2, 101}})
	got, err := oa.FollowerInfo(context.Background(), "oFollower1")
	want := gateway.FollowerInfo{UnionID: "uFollower1", TagIDs: []int{2, 101}, Subscribed: true}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("FollowerInfo() = %v, mismatch (-want +got):\n%s", err, diff)
	}
	if _, err := oa.FollowerInfo(context.Background(), "oUnknown"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("FollowerInfo(unknown) = %v, want ErrNotFound", err)
	}
	sim.Fail("/cgi-bin/user/info", 45009, 1)
	if _, err := oa.FollowerInfo(context.Background(), "oFollower1"); !errors.Is(err, model.ErrUpstream) {
		t.Errorf("FollowerInfo() over quota = %v, want ErrUpstream", err)
	}
}

func TestVersions(t *testing.T) {
	mr, rdb := mustRedis(t)
	v := adapters.NewVersions(rdb)
	ctx := context.Background()
	if n, err := v.Version(ctx, "k"); err != nil || n != 0 {
		t.Fatalf("Version(never bumped) = %d, %v, want 0", n, err)
	}
	for range 2 {
		if err := v.Bump(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := v.Version(ctx, "k"); err != nil || n != 2 {
		t.Errorf("Version() after two bumps = %d, %v, want 2", n, err)
	}
	mr.Close()
	if _, err := v.Version(ctx, "k"); err == nil {
		t.Errorf("Version() with Redis down = nil error")
	}
}

type notifier struct {
	mu  sync.Mutex
	got []model.Notice
	ch  chan struct{}
}

func (n *notifier) Notify(_ context.Context, _ model.Recipient, x model.Notice) error {
	n.mu.Lock()
	n.got = append(n.got, x)
	n.mu.Unlock()
	n.ch <- struct{}{}
	return nil
}

type nopNotify struct{}

func (nopNotify) RecordSubscribeEvents(context.Context, model.App, string, []model.SubscribeEvent) error {
	return nil
}
func (nopNotify) TemplateSendFinished(context.Context, string, string) error { return nil }

type nopAudit struct{}

func (nopAudit) Audit(context.Context, string, string, string, any, any) error { return nil }

// TestCrisisAlertThroughTheJobRunner: three tries of one crisis message
// (WeChat's retries, dedupe missed) queue one alert, which the runner
// delivers once per on-duty staff member.
func TestCrisisAlertThroughTheJobRunner(t *testing.T) {
	_, rdb := mustRedis(t)
	db := storetest.Dialects()[0].Open(t)
	staff := store.NewStaff(db)
	cw, err := staff.CreateStaff(context.Background(), model.Staff{Username: "cw", PasswordHash: "x", Roles: []model.Role{model.RoleCaseworker}})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := job.New(rdb, job.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifier{ch: make(chan struct{}, 10)}
	g, err := gateway.New(gateway.Deps{
		Rules: store.NewReplyRules(db), Settings: store.NewGatewaySettings(db), Followers: store.NewFollowers(db),
		Menus: store.NewMenus(db), Results: store.NewResults(db), Staff: staff, Tx: db, Audit: nopAudit{},
		Jobs: adapters.NewJobs(runner), Versions: adapters.NewVersions(rdb), OA: mustOA(t), Notifier: n,
		Consents: nopNotify{}, Templates: nopNotify{},
	})
	if err != nil {
		t.Fatal(err)
	}
	adapters.Register(runner, g)
	msg := model.InboundMessage{App: model.AppOA, FromUser: "oWoman", MsgType: "text", MsgID: "9001", Content: "救命",
		CreateTime: time.Now()}
	for range 3 {
		if r, err := g.Handle(context.Background(), msg); err != nil || r == nil || r.Text != gateway.DefaultCrisisReply {
			t.Fatalf("Handle(crisis) = %+v, %v", r, err)
		}
	}
	if err := runner.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runner.Shutdown)
	select {
	case <-n.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no crisis alert within 10 s")
	}
	select {
	case <-n.ch:
		t.Fatal("a second crisis alert for one message")
	case <-time.After(500 * time.Millisecond):
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.got) != 1 || !n.got[0].Urgent || n.got[0].Topic != gateway.TopicCrisisAlert ||
		n.got[0].DedupeKey != "crisis:"+msg.DedupeKey()+":staff:"+strconv.FormatInt(cw.ID, 10) {
		t.Errorf("alerts = %+v, want one urgent crisis alert to staff %d", n.got, cw.ID)
	}
}

func TestMPSendText(t *testing.T) {
	_, rdb := mustRedis(t)
	c, err := wechat.New(wechat.Config{
		OA: wechat.App{AppID: oaApp, Secret: oaSecret}, MP: wechat.App{AppID: mpApp, Secret: mpSecret},
	}, wechat.Deps{Redis: rdb, HTTP: util.DefaultHTTPClient})
	if err != nil {
		t.Fatal(err)
	}
	mp := adapters.NewMP(c)
	sim.AddUser(wxsim.User{AppID: mpApp, OpenID: "oMPCrisis1"})
	if err := mp.SendMPText(context.Background(), "oMPCrisis1", "请拨打110"); err != nil {
		t.Fatalf("SendMPText() = %v", err)
	}
	var found bool
	for _, m := range sim.Sent(wxsim.KindCustom) {
		if m.AppID == mpApp && m.ToUser == "oMPCrisis1" && m.Content == "请拨打110" {
			found = true
		}
	}
	if !found {
		t.Errorf("the simulator got no customer-service message for oMPCrisis1: %+v", sim.Sent(wxsim.KindCustom))
	}
	sim.Fail("/cgi-bin/message/custom/send", 45015, 1)
	if err := mp.SendMPText(context.Background(), "oMPCrisis1", "x"); !errors.Is(err, model.ErrUpstream) {
		t.Errorf("SendMPText() outside the window = %v, want ErrUpstream", err)
	}
}
