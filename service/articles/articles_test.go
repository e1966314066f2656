package articles_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/articles"
	"wanjia/service/articles/articleswx"
	"wanjia/store"
	"wanjia/store/storetest"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

const (
	oaApp, oaSecret = "wxarticlesoa0001", "articlesoasecret0000000000000001"
	mpApp, mpSecret = "wxarticlesmp0001", "articlesmpsecret0000000000000001"
	checkOpenID     = "oArticleChecker"
)

// simRoute leads silenceper's process-wide HTTP client to the simulator
// of the running test, so these tests are not parallel.
var simRoute = &testutil.SimRoute{}

func TestMain(m *testing.M) { testutil.MainWithSimRoute(m, simRoute) }

type env struct {
	svc   *articles.Service
	sim   *wxsim.Sim
	store *store.Articles
	clk   *testutil.Clock
	audit *testutil.Audit
}

var cst = time.FixedZone("CST", 8*3600)

func mustEnv(tb testing.TB, opts articles.Options) *env {
	tb.Helper()
	clk := testutil.NewClock(time.Date(2026, 3, 8, 9, 0, 0, 0, cst))
	sim := wxsim.New(wxsim.WithApp(oaApp, oaSecret), wxsim.WithApp(mpApp, mpSecret), wxsim.WithClock(clk.Now),
		wxsim.WithLenient(""))
	tb.Cleanup(func() { sim.Close() })
	simRoute.Use(tb, sim.Transport())
	sim.AddUser(wxsim.User{AppID: oaApp, OpenID: "oFollower1", Subscribed: true, TagIDs: []int{100}})
	sim.AddUser(wxsim.User{AppID: oaApp, OpenID: "oFollower2", Subscribed: true})
	mr := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	tb.Cleanup(func() { rdb.Close() })
	wx, err := wechat.New(wechat.Config{OA: wechat.App{AppID: oaApp, Secret: oaSecret}, MP: wechat.App{AppID: mpApp, Secret: mpSecret}},
		wechat.Deps{Redis: rdb, HTTP: util.DefaultHTTPClient, Now: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	db := storetest.Dialects()[0].Open(tb)
	st := store.NewArticles(db)
	if opts.CheckOpenID == "" {
		opts.CheckOpenID = checkOpenID
	}
	audit := &testutil.Audit{}
	svc, err := articles.New(articles.Deps{Store: st, WeChat: articleswx.New(wx), Results: store.NewResults(db), Audit: audit,
		Now: clk.Now, Options: opts})
	if err != nil {
		tb.Fatal(err)
	}
	return &env{svc: svc, sim: sim, store: st, clk: clk, audit: audit}
}

func staff(id int64, roles ...model.Role) context.Context {
	return model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: id,
		Username: "s", Roles: roles})
}

var (
	editor = staff(1, model.RoleEditor)
	admin1 = staff(2, model.RoleAdmin)
	admin2 = staff(3, model.RoleAdmin)
)

func ptr[T any](v T) *T { return &v }

func mustPNG(tb testing.TB) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 8, 8))); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// mustApproved writes, covers, submits and approves an article.
func (e *env) mustApproved(tb testing.TB, title string) model.Article {
	tb.Helper()
	a, err := e.svc.Create(editor, articles.Input{Title: ptr(title), Author: ptr("市妇联"), Digest: ptr("家庭教育"),
		Body: ptr(`<p>好家风<script>alert(1)</script></p><img src="https://evil.example/x.png"><p style="text-align:center" onclick="x()">传承</p>`)})
	if err != nil {
		tb.Fatalf("Create() = %v", err)
	}
	if strings.Contains(a.Body, "script") || strings.Contains(a.Body, "evil") || strings.Contains(a.Body, "onclick") {
		tb.Fatalf("Create() body = %q, want it sanitized", a.Body)
	}
	if _, err := e.svc.SetCover(editor, a.ID, "c.png", mustPNG(tb)); err != nil {
		tb.Fatalf("SetCover() = %v", err)
	}
	if _, err := e.svc.Submit(editor, a.ID); err != nil {
		tb.Fatalf("Submit() = %v", err)
	}
	if a, err = e.svc.Approve(admin2, a.ID); err != nil {
		tb.Fatalf("Approve() = %v", err)
	}
	return a
}

func wantCode(tb testing.TB, what string, err error, kind error, code string) {
	tb.Helper()
	var me *model.Error
	if !errors.Is(err, kind) || (code != "" && (!errors.As(err, &me) || me.Code != code)) {
		tb.Fatalf("%s = %v, want %v %s", what, err, kind, code)
	}
}

func TestPublishFlow(t *testing.T) {
	e := mustEnv(t, articles.Options{})
	a, err := e.svc.Create(editor, articles.Input{Title: ptr("巧媳妇·富全家"), Body: ptr("<p>正文</p>")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Submit(editor, a.ID)
	wantCode(t, "Submit(no cover)", err, model.ErrConflict, "no_cover")
	if _, err := e.svc.SetCover(editor, a.ID, "c.gif", []byte("GIF89a....")); !errors.Is(err, model.ErrUnsupportedMedia) {
		t.Fatalf("SetCover(gif) = %v, want unsupported media", err)
	}
	if _, err := e.svc.SetCover(editor, a.ID, "c.png", mustPNG(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Submit(editor, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Approve(editor, a.ID)
	wantCode(t, "Approve(editor)", err, model.ErrForbidden, "")
	_, err = e.svc.Update(editor, a.ID, articles.Input{Title: ptr("改标题")})
	wantCode(t, "Update(pending)", err, model.ErrConflict, "not_draft")

	// Two-person rule: an admin who submitted may not approve.
	adminWriter := staff(1, model.RoleAdmin)
	_, err = e.svc.Approve(adminWriter, a.ID)
	wantCode(t, "Approve(writer)", err, model.ErrConflict, "two_person_rule")
	if a, err = e.svc.Approve(admin2, a.ID); err != nil || a.Status != model.ArticleApproved {
		t.Fatalf("Approve(second admin) = %+v, %v", a, err)
	}

	a, err = e.svc.Publish(editor, a.ID, articles.PublishInput{Mode: model.PublishFree})
	if err != nil || a.Status != model.ArticlePublishing || a.PublishID == "" || a.MsgDataID == "" || a.DraftMediaID == "" {
		t.Fatalf("Publish(freepublish) = %+v, %v", a, err)
	}
	if d := e.sim.Drafts(); len(d) != 1 || d[0].Articles[0].ThumbMediaID != a.CoverMediaID || len(d[0].Articles[0].ExternalImages) != 0 {
		t.Fatalf("drafts = %+v, want one with the cover and no outside image", d)
	}
	// The job completes; its event is lost (no callback): the sweep asks
	// freepublish/get after two minutes.
	if err := e.sim.FlushOAEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(3 * time.Minute)
	if _, err := e.svc.PublishDue(context.Background()); err != nil {
		t.Fatalf("PublishDue() = %v", err)
	}
	got, err := e.svc.Get(editor, a.ID)
	if err != nil || got.Status != model.ArticlePublished || !strings.HasPrefix(got.ArticleURL, "https://mp.weixin.qq.com/s?") || got.PublishStatus != 0 {
		t.Fatalf("after result = %+v, %v, want published with its URL", got, err)
	}
	for _, act := range []string{"article.create", "article.cover", "article.submit", "article.approve", "article.publish"} {
		if !slices.Contains(e.audit.Actions(), act) {
			t.Errorf("audit lacks %s", act)
		}
	}
}

func TestMassSendAndResult(t *testing.T) {
	e := mustEnv(t, articles.Options{})
	a := e.mustApproved(t, "三八节致全市妇女的慰问信")
	_, err := e.svc.Publish(editor, a.ID, articles.PublishInput{Mode: model.PublishMass})
	wantCode(t, "Publish(mass without target)", err, model.ErrInvalid, "")
	a, err = e.svc.Publish(editor, a.ID, articles.PublishInput{Mode: model.PublishMass, TagID: 100})
	if err != nil || a.MsgID == "" || a.MsgDataID == "" || a.ClientMsgID == "" {
		t.Fatalf("Publish(masssend) = %+v, %v", a, err)
	}
	sent := e.sim.Sent(wxsim.KindMass)
	if len(sent) != 1 || sent[0].ClientMsgID != a.ClientMsgID || sent[0].TagID != 100 {
		t.Fatalf("sent = %+v, want one mass send to tag 100 with the clientmsgid", sent)
	}
	// The event, as the gateway records it; applying it twice is a no-op.
	r := model.WeChatResult{Kind: model.ResultMass, Key: a.MsgID, Status: "send success", TotalCount: 1, FilterCount: 1,
		SentCount: 1, ArticleURLs: []string{"https://mp.weixin.qq.com/s?x"}, ReceivedAt: e.clk.Now()}
	for range 2 {
		if err := e.svc.ApplyResult(context.Background(), r); err != nil {
			t.Fatalf("ApplyResult() = %v", err)
		}
	}
	got, _ := e.svc.Get(editor, a.ID)
	if got.Status != model.ArticlePublished || got.SentCount != 1 || got.ArticleURL != "https://mp.weixin.qq.com/s?x" {
		t.Fatalf("after MASSSENDJOBFINISH = %+v", got)
	}
	_, err = e.svc.Publish(editor, a.ID, articles.PublishInput{Mode: model.PublishMass, ToAll: true})
	wantCode(t, "Publish(published)", err, model.ErrConflict, "not_approved")

	// A failed mass send may go again, with a new clientmsgid.
	b := e.mustApproved(t, "第二篇")
	b, err = e.svc.Publish(editor, b.ID, articles.PublishInput{Mode: model.PublishMass, ToAll: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ApplyResult(context.Background(), model.WeChatResult{Kind: model.ResultMass, Key: b.MsgID,
		Status: "send fail", TotalCount: 2, ErrorCount: 2}); err != nil {
		t.Fatal(err)
	}
	failed, _ := e.svc.Get(editor, b.ID)
	if failed.Status != model.ArticleFailed || failed.ClientMsgID != "" || failed.ErrorCount != 2 {
		t.Fatalf("after failed mass send = %+v", failed)
	}
	again, err := e.svc.Publish(editor, b.ID, articles.PublishInput{Mode: model.PublishMass, ToAll: true})
	if err != nil || again.ClientMsgID == b.ClientMsgID || again.MsgID == b.MsgID {
		t.Fatalf("Publish(again) = %+v, %v, want a new send", again, err)
	}
}

func TestMassSendRetryKeepsClientMsgID(t *testing.T) {
	e := mustEnv(t, articles.Options{})
	a := e.mustApproved(t, "重试")
	e.sim.Fail("/cgi-bin/message/mass/sendall", -1, 1)
	_, err := e.svc.Publish(editor, a.ID, articles.PublishInput{Mode: model.PublishMass, ToAll: true})
	if !errors.Is(err, model.ErrUpstream) {
		t.Fatalf("Publish(WeChat busy) = %v, want upstream", err)
	}
	failed, _ := e.svc.Get(editor, a.ID)
	if failed.Status != model.ArticleFailed || failed.ClientMsgID == "" {
		t.Fatalf("after a failed call = %+v, want failed keeping its clientmsgid", failed)
	}
	ok, err := e.svc.Publish(editor, a.ID, articles.PublishInput{Mode: model.PublishMass, ToAll: true})
	if err != nil || ok.ClientMsgID != failed.ClientMsgID {
		t.Fatalf("Publish(retry) = %+v, %v, want the same clientmsgid", ok, err)
	}
}

func TestSubmitRiskyContent(t *testing.T) {
	e := mustEnv(t, articles.Options{})
	e.sim.AddRiskyWord("赌博", wxsim.LabelIllegal)
	long := strings.Repeat("家", 3000) + "赌博" // the risky word is in the second piece
	a, err := e.svc.Create(editor, articles.Input{Title: ptr("标题"), Body: ptr("<p>" + long + "</p>")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetCover(editor, a.ID, "c.png", mustPNG(t)); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Submit(editor, a.ID)
	wantCode(t, "Submit(risky)", err, model.ErrConflict, "content_risky")
	got, _ := e.svc.Get(editor, a.ID)
	if got.Status != model.ArticleDraft || got.CheckSuggest != "risky" {
		t.Fatalf("after risky check = %+v", got)
	}
	if n := len(e.sim.Calls("/wxa/msg_sec_check")); n != 2 {
		t.Errorf("msg_sec_check calls = %d, want 2 (3,002 characters in pieces of 2,500)", n)
	}
}

func TestScheduledPublishingRunsOnce(t *testing.T) {
	e := mustEnv(t, articles.Options{})
	a := e.mustApproved(t, "定时发布")
	at := e.clk.Now().Add(10 * time.Minute)
	a, err := e.svc.Publish(editor, a.ID, articles.PublishInput{Mode: model.PublishFree, PublishAt: at})
	if err != nil || a.Status != model.ArticleScheduled {
		t.Fatalf("Publish(later) = %+v, %v", a, err)
	}
	if n, err := e.svc.PublishDue(context.Background()); n != 0 || err != nil {
		t.Fatalf("PublishDue(early) = %d, %v", n, err)
	}
	e.clk.Add(11 * time.Minute)
	var wg sync.WaitGroup
	var total atomic.Int64
	for range 4 { // four copies of the job at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := e.svc.PublishDue(context.Background())
			if err != nil {
				t.Errorf("PublishDue() = %v", err)
			}
			total.Add(int64(n))
		}()
	}
	wg.Wait()
	if total.Load() != 1 || len(e.sim.Calls("/cgi-bin/freepublish/submit")) != 1 || len(e.sim.Drafts()) != 1 {
		t.Fatalf("published %d times, %d submits, %d drafts; want once", total.Load(),
			len(e.sim.Calls("/cgi-bin/freepublish/submit")), len(e.sim.Drafts()))
	}
}

func TestSelfApprovalWhenRuleOff(t *testing.T) {
	e := mustEnv(t, articles.Options{AllowSelfApproval: true})
	a, err := e.svc.Create(admin1, articles.Input{Title: ptr("t"), Body: ptr("<p>b</p>")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetCover(admin1, a.ID, "c.png", mustPNG(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Submit(admin1, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Approve(admin1, a.ID); err != nil {
		t.Fatalf("Approve(self, rule off) = %v", err)
	}
}

func TestColumnsTotals(t *testing.T) {
	e := mustEnv(t, articles.Options{})
	c, err := e.svc.CreateColumn(editor, articles.ColumnInput{Name: "巧媳妇·富全家"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.CreateColumn(editor, articles.ColumnInput{Name: "巧媳妇·富全家"})
	wantCode(t, "CreateColumn(dup)", err, model.ErrConflict, "column_name_taken")
	_, err = e.svc.Create(editor, articles.Input{Title: ptr("t"), Body: ptr("<p>b</p>"), ColumnID: ptr(int64(999))})
	wantCode(t, "Create(unknown column)", err, model.ErrInvalid, "")
	a := e.mustApproved(t, "专栏第一期")
	if _, err := e.svc.Update(editor, a.ID, articles.Input{ColumnID: ptr(c.ID)}); err != nil {
		t.Fatalf("Update(column of approved) = %v", err)
	}
	a, _ = e.svc.Publish(editor, a.ID, articles.PublishInput{Mode: model.PublishMass, ToAll: true})
	if err := e.svc.ApplyResult(context.Background(), model.WeChatResult{Kind: model.ResultMass, Key: a.MsgID, Status: "send success"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.UpsertArticleDays(context.Background(), []model.ArticleDay{
		{ArticleID: a.ID, MsgDataID: a.MsgDataID, Index: 1, Date: "2026-03-08", Reads: 120, ReadUsers: 100, Shares: 7, Favourites: 3},
		{ArticleID: a.ID, MsgDataID: a.MsgDataID, Index: 1, Date: "2026-03-09", Reads: 30, ReadUsers: 25, Shares: 1, Favourites: 1},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Column(editor, c.ID)
	if err != nil || got.Articles != 1 || got.Reads != 150 || got.ReadUsers != 125 || got.Shares != 8 || got.Favourites != 4 {
		t.Fatalf("Column() = %+v, %v", got, err)
	}
	wantCode(t, "DeleteColumn(not empty)", e.svc.DeleteColumn(editor, c.ID), model.ErrConflict, "column_not_empty")
}

// TestAbandonedClaim: a copy that claimed an article and stopped before
// WeChat answered leaves it publishing without ids; ten minutes on, the
// sweep marks it failed so staff can publish it again.
func TestAbandonedClaim(t *testing.T) {
	e := mustEnv(t, articles.Options{})
	a := e.mustApproved(t, "中断")
	a.Status, a.Mode, a.PublishAt = model.ArticlePublishing, model.PublishFree, e.clk.Now()
	if _, err := e.store.UpdateArticle(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(5 * time.Minute)
	if _, err := e.svc.PublishDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.Get(editor, a.ID); got.Status != model.ArticlePublishing {
		t.Fatalf("after 5 min = %s, want still publishing", got.Status)
	}
	e.clk.Add(6 * time.Minute)
	if _, err := e.svc.PublishDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := e.svc.Get(editor, a.ID)
	if got.Status != model.ArticleFailed || got.FailReason == "" {
		t.Fatalf("after 11 min = %+v, want failed", got)
	}
	if _, err := e.svc.Publish(editor, a.ID, articles.PublishInput{Mode: model.PublishFree}); err != nil {
		t.Fatalf("Publish(again) = %v", err)
	}
}
