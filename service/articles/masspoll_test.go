package articles_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/service/articles"
	"wanjia/wechat/wxsim"
)

const massGetPath = "/cgi-bin/message/mass/get"

// mustMassSent publishes an approved article by mass send to all.
func (e *env) mustMassSent(tb testing.TB, title string) model.Article {
	tb.Helper()
	a, err := e.svc.Publish(editor, e.mustApproved(tb, title).ID, articles.PublishInput{Mode: model.PublishMass, ToAll: true})
	if err != nil || a.Status != model.ArticlePublishing || a.MsgID == "" {
		tb.Fatalf("Publish(masssend) = %+v, %v", a, err)
	}
	return a
}

func (e *env) get(tb testing.TB, id int64) model.Article {
	tb.Helper()
	a, err := e.svc.Get(editor, id)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// TestMassSendPolledWhenEventLost: a mass send whose MASSSENDJOBFINISH never
// comes is asked for with message/mass/get once it is ResultWait late:
// SENDING leaves it publishing, SEND_SUCCESS publishes it with the counts
// unknown; the event arriving late after all fills them in, once.
func TestMassSendPolledWhenEventLost(t *testing.T) {
	e := mustEnv(t, articles.Options{})
	ctx := context.Background()
	a := e.mustMassSent(t, "三八节慰问信")

	e.clk.Add(time.Minute) // not late yet: nobody asks
	if _, err := e.svc.PublishDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.Calls(massGetPath)); n != 0 {
		t.Errorf("mass/get calls within ResultWait = %d, want 0", n)
	}
	e.clk.Add(2 * time.Minute) // late, still sending
	if _, err := e.svc.PublishDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, a.ID); got.Status != model.ArticlePublishing || len(e.sim.Calls(massGetPath)) != 1 {
		t.Fatalf("after a SENDING answer = %s with %d calls, want still publishing after one call", got.Status, len(e.sim.Calls(massGetPath)))
	}
	// The job ends; its event is lost (no callback).
	if err := e.sim.FlushOAEvents(ctx); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute)
	polledAt := e.clk.Now()
	if _, err := e.svc.PublishDue(ctx); err != nil {
		t.Fatal(err)
	}
	got := e.get(t, a.ID)
	if got.Status != model.ArticlePublished || !got.CountsUnknown || got.SentCount != 0 || got.ArticleURL != "" ||
		!got.PublishedAt.Equal(polledAt) || got.FailReason != "" {
		t.Fatalf("after SEND_SUCCESS = %+v, want published at the poll with the counts unknown", got)
	}
	calls := len(e.sim.Calls(massGetPath))
	e.clk.Add(time.Minute)
	if _, err := e.svc.PublishDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.Calls(massGetPath)); n != calls {
		t.Errorf("mass/get calls after the article was published = %d, want %d (no more)", n, calls)
	}

	// The event, late: counts and URL, never added twice, publish time kept.
	late := model.WeChatResult{Kind: model.ResultMass, Key: a.MsgID, Status: "send success", TotalCount: 2, FilterCount: 2,
		SentCount: 2, ArticleURLs: []string{"https://mp.weixin.qq.com/s?late"}, ReceivedAt: e.clk.Now()}
	for range 2 {
		if err := e.svc.ApplyResult(ctx, late); err != nil {
			t.Fatalf("ApplyResult(late event) = %v", err)
		}
	}
	got = e.get(t, a.ID)
	if got.Status != model.ArticlePublished || got.CountsUnknown || got.SentCount != 2 || got.TotalCount != 2 ||
		got.ArticleURL != "https://mp.weixin.qq.com/s?late" || !got.PublishedAt.Equal(polledAt) {
		t.Errorf("after the late event = %+v, want its counts and URL, published at the poll", got)
	}
	// A poll result applied again (a second copy's sweep that read the
	// article before) changes nothing either.
	if err := e.svc.ApplyResult(ctx, model.WeChatResult{Kind: model.ResultMass, Key: a.MsgID, Status: "send success", Polled: true,
		ReceivedAt: e.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	if again := e.get(t, a.ID); again.SentCount != 2 || again.CountsUnknown || again.Version != got.Version {
		t.Errorf("after a stale poll result = %+v, want nothing changed", again)
	}
	// A late failure event contradicting the success is ignored.
	if err := e.svc.ApplyResult(ctx, model.WeChatResult{Kind: model.ResultMass, Key: a.MsgID, Status: "send fail"}); err != nil {
		t.Fatal(err)
	}
	if again := e.get(t, a.ID); again.Status != model.ArticlePublished {
		t.Errorf("after a contradicting event = %s, want still published", again.Status)
	}
}

// TestMassSendPollFailures: what each final mass/get answer (and a msg_id
// WeChat does not know) does to a late mass send, and that it can then be
// sent again.
func TestMassSendPollFailures(t *testing.T) {
	tests := []struct {
		name         string
		setup        func(e *env, a *model.Article)
		reason       string // in FailReason
		keepClientID bool
	}{
		{"SEND_FAIL", func(e *env, _ *model.Article) {
			e.sim.SetMassStatus("send fail")
		}, "群发失败", false},
		{"DELETE", func(e *env, a *model.Article) {
			id, _ := strconv.ParseInt(a.MsgID, 10, 64)
			if err := e.sim.FlushOAEvents(context.Background()); err != nil || !e.sim.DeleteMass(id) {
				panic("no such mass job")
			}
		}, "已被删除", false},
		{"unknown msg_id (40059)", func(e *env, a *model.Article) {
			a.MsgID = "201053012"
			var err error
			if *a, err = e.store.UpdateArticle(context.Background(), *a); err != nil {
				panic(err)
			}
		}, "msg_id 无效", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t, articles.Options{})
			ctx := context.Background()
			a := e.mustMassSent(t, "慰问信")
			tt.setup(e, &a)
			if err := e.sim.FlushOAEvents(ctx); err != nil {
				t.Fatal(err)
			}
			e.clk.Add(3 * time.Minute)
			if _, err := e.svc.PublishDue(ctx); err != nil {
				t.Fatalf("PublishDue() = %v", err)
			}
			got := e.get(t, a.ID)
			if got.Status != model.ArticleFailed || !strings.Contains(got.FailReason, tt.reason) ||
				(got.ClientMsgID != "") != tt.keepClientID {
				t.Fatalf("after the poll = %+v, want failed (%s), clientmsgid kept %v", got, tt.reason, tt.keepClientID)
			}
			e.sim.SetMassStatus("send success")
			again, err := e.svc.Publish(editor, a.ID, articles.PublishInput{Mode: model.PublishMass, ToAll: true})
			if err != nil || again.Status != model.ArticlePublishing {
				t.Fatalf("Publish(again) = %+v, %v", again, err)
			}
			if tt.keepClientID != (again.ClientMsgID == got.ClientMsgID) {
				t.Errorf("clientmsgid of the new try = %q, first %q; want kept %v", again.ClientMsgID, got.ClientMsgID, tt.keepClientID)
			}
		})
	}
}

// TestMassPollWeChatDown: a mass/get WeChat refuses leaves the article
// publishing for the next sweep and reports the error.
func TestMassPollWeChatDown(t *testing.T) {
	e := mustEnv(t, articles.Options{ResultWait: 30 * time.Second})
	ctx := context.Background()
	a := e.mustMassSent(t, "慰问信")
	if err := e.sim.FlushOAEvents(ctx); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute) // past the configured ResultWait
	e.sim.Fail(massGetPath, -1, 1)
	if _, err := e.svc.PublishDue(ctx); err == nil {
		t.Error("PublishDue() = nil, want mass/get's failure")
	}
	if got := e.get(t, a.ID); got.Status != model.ArticlePublishing {
		t.Errorf("after a failed poll = %s, want publishing", got.Status)
	}
	if _, err := e.svc.PublishDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, a.ID); got.Status != model.ArticlePublished || !got.CountsUnknown {
		t.Errorf("after the next sweep = %+v, want published", got)
	}
	if sent := e.sim.Sent(wxsim.KindMass); len(sent) != 1 {
		t.Errorf("mass sends = %d, want 1", len(sent))
	}
}
