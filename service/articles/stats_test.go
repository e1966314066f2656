package articles_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/service/articles"
	"wanjia/wechat/wxsim"
)

// mustPublished publishes an article by mass send at the env's clock and
// applies its result.
func (e *env) mustPublished(tb testing.TB, title string) model.Article {
	tb.Helper()
	a := e.mustApproved(tb, title)
	a, err := e.svc.Publish(editor, a.ID, articles.PublishInput{Mode: model.PublishMass, ToAll: true})
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.svc.ApplyResult(context.Background(), model.WeChatResult{Kind: model.ResultMass, Key: a.MsgID,
		Status: "send success", ReceivedAt: e.clk.Now()}); err != nil {
		tb.Fatal(err)
	}
	return a
}

func day(t time.Time, n int) string { return t.In(cst).AddDate(0, 0, n).Format("2006-01-02") }

// TestSyncStatsBackfill publishes an article 40 days before "now", gives it
// figures on its first three days and on day 35, and syncs with a fixed
// clock: a first run backfills 45 days in two windows of at most 30, reads
// reads and shares from getarticleread/getarticleshare and daily favourites
// as differences of getarticletotaldetail's cumulative figures.
func TestSyncStatsBackfill(t *testing.T) {
	e := mustEnv(t, articles.Options{StatsBackfillDays: 45})
	pub := e.clk.Now()
	a := e.mustPublished(t, "统计")
	msg, _ := strconv.ParseInt(a.MsgDataID, 10, 64)
	fig := func(n, read, users, share, fav int) wxsim.ArticleDay {
		return wxsim.ArticleDay{AppID: oaApp, MsgDataID: msg, Index: 1, Title: "统计", Published: day(pub, 0), Date: day(pub, n),
			ReadCount: read, ReadUser: users, ShareCount: share, ShareUser: share, FavUser: fav}
	}
	e.sim.AddArticleDays(fig(0, 500, 400, 30, 10), fig(1, 200, 150, 10, 5), fig(2, 50, 40, 2, 0), fig(35, 9, 8, 1, 1),
		// someone else's article (sent from the WeChat console): not stored
		wxsim.ArticleDay{AppID: oaApp, MsgDataID: 1, Index: 1, Published: day(pub, 0), Date: day(pub, 1), ReadCount: 5, ReadUser: 5})
	e.clk.Add(40*24*time.Hour - 30*time.Minute) // 08:30 forty days on: day 39 is the last complete one

	rep, err := e.svc.SyncStats(context.Background())
	if err != nil {
		t.Fatalf("SyncStats() = %v", err)
	}
	if want := (articles.SyncReport{From: day(pub, -5), To: day(pub, 39), Windows: 2, ArticleDay: 4}); rep != want {
		t.Errorf("SyncStats() = %+v, want %+v", rep, want)
	}
	_, days, err := e.svc.Days(editor, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.ArticleDay{
		{ArticleID: a.ID, MsgDataID: a.MsgDataID, Index: 1, Date: day(pub, 0), Reads: 500, ReadUsers: 400, Shares: 30, ShareUsers: 30, Favourites: 10, Source: "datacube"},
		{ArticleID: a.ID, MsgDataID: a.MsgDataID, Index: 1, Date: day(pub, 1), Reads: 200, ReadUsers: 150, Shares: 10, ShareUsers: 10, Favourites: 5, Source: "datacube"},
		{ArticleID: a.ID, MsgDataID: a.MsgDataID, Index: 1, Date: day(pub, 2), Reads: 50, ReadUsers: 40, Shares: 2, ShareUsers: 2, Source: "datacube"},
		{ArticleID: a.ID, MsgDataID: a.MsgDataID, Index: 1, Date: day(pub, 35), Reads: 9, ReadUsers: 8, Shares: 1, ShareUsers: 1, Favourites: 1, Source: "datacube"},
	}
	if diff := cmp.Diff(want, days); diff != "" {
		t.Errorf("days (-want +got):\n%s", diff)
	}
	for _, c := range e.sim.Calls("/datacube/getbizsummary") {
		if len(c.Body) == 0 {
			t.Errorf("getbizsummary without a body")
		}
	}
	if n := len(e.sim.Calls("/datacube/getbizsummary")); n != 2 {
		t.Errorf("getbizsummary calls = %d, want one per window (2)", n)
	}

	// Nothing is due until the next day's figures are complete (08:00).
	if rep, err := e.svc.SyncStats(context.Background()); err != nil || rep.Windows != 0 {
		t.Errorf("SyncStats(again) = %+v, %v, want nothing to do", rep, err)
	}
	e.clk.Add(23 * time.Hour) // 07:30 the next day: day 40 not complete yet
	if rep, err := e.svc.SyncStats(context.Background()); err != nil || rep.Windows != 0 {
		t.Errorf("SyncStats(07:30) = %+v, %v, want nothing to do", rep, err)
	}

	// The newer endpoints refuse (48001): the day comes from getarticlesummary.
	e.sim.AddArticleDays(fig(40, 7, 6, 0, 2))
	e.clk.Add(time.Hour)
	e.sim.Fail("/datacube/getarticleread", 48001, 1)
	rep, err = e.svc.SyncStats(context.Background())
	if err != nil || rep.LegacyDays != 1 || rep.ArticleDay != 1 {
		t.Fatalf("SyncStats(fallback) = %+v, %v, want one legacy day", rep, err)
	}
	_, days, _ = e.svc.Days(editor, a.ID)
	last := days[len(days)-1]
	if want := (model.ArticleDay{ArticleID: a.ID, MsgDataID: a.MsgDataID, Index: 1, Date: day(pub, 40), Reads: 7, ReadUsers: 6,
		Favourites: 2, Source: "legacy"}); last != want {
		t.Errorf("legacy day = %+v, want %+v", last, want)
	}

	// WeChat busy: the run fails and the cursor stays, so the next run redoes the day.
	e.clk.Add(24 * time.Hour)
	e.sim.Fail("/datacube/getarticleread", -1, 1)
	if _, err := e.svc.SyncStats(context.Background()); err == nil {
		t.Fatal("SyncStats(WeChat busy) = nil, want an error")
	}
	if rep, err := e.svc.SyncStats(context.Background()); err != nil || rep.From != day(pub, 41) {
		t.Errorf("SyncStats(after failure) = %+v, %v, want it to resume at %s", rep, err, day(pub, 41))
	}

	// The figures of the area.
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, cst)
	sec, err := e.svc.FigureSection(context.Background(), from, from.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{model.FigArticles: 1, model.FigArticleReads: 766, model.FigArticleReadUsers: 604} {
		if f, ok := sec.Get(key); !ok || f.Value != want {
			t.Errorf("figure %s = %+v, want %v", key, f, want)
		}
	}
}
