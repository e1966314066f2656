package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

var artT0 = time.Date(2026, 3, 8, 1, 0, 0, 0, time.UTC)

func TestArticlesLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		as := store.NewArticles(db)
		body := "<p>" + strings.Repeat("家", 20000) + "</p>" // more than MySQL's TEXT holds
		a, err := as.CreateArticle(ctx, model.Article{Title: "巧媳妇·富全家", Body: body, Status: model.ArticleDraft, CreatedBy: 4,
			PublishStatus: -1})
		if err != nil {
			t.Fatalf("CreateArticle() = %v", err)
		}
		got, err := as.ArticleByID(ctx, a.ID)
		if err != nil || got.Body != body || got.Version != 1 || got.PublishStatus != -1 {
			t.Fatalf("ArticleByID() = v%d %v, want the body back at version 1", got.Version, err)
		}

		// Optimistic locking: of two writers from version 1, one wins.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := got
				c.Status = model.ArticlePublishing
				_, errs[i] = as.UpdateArticle(ctx, c, model.ArticleDraft)
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("two updates of version 1 = %v, %v; want exactly one to succeed", errs[0], errs[1])
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, model.ErrConflict) {
				t.Fatalf("losing update = %v, want conflict", err)
			}
		}
		cur, _ := as.ArticleByID(ctx, a.ID)
		if cur.Status != model.ArticlePublishing || cur.Version != 2 {
			t.Fatalf("after update = %s v%d", cur.Status, cur.Version)
		}
		// Wrong status: conflict, not a write.
		if _, err := as.UpdateArticle(ctx, cur, model.ArticleDraft); !errors.Is(err, model.ErrConflict) {
			t.Fatalf("UpdateArticle(wrong status) = %v, want conflict", err)
		}
		if _, err := as.UpdateArticle(ctx, model.Article{ID: 999, Version: 1}); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("UpdateArticle(missing) = %v, want not found", err)
		}

		// Ids join results.
		cur.PublishID, cur.MsgID, cur.MsgDataID, cur.Mode, cur.PublishAt = "2247483003", "", "2247483004", model.PublishFree, artT0
		if cur, err = as.UpdateArticle(ctx, cur); err != nil {
			t.Fatal(err)
		}
		if byPub, err := as.ArticleByPublishID(ctx, "2247483003"); err != nil || byPub.ID != a.ID {
			t.Fatalf("ArticleByPublishID() = %d, %v", byPub.ID, err)
		}
		if _, err := as.ArticleByMsgID(ctx, ""); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("ArticleByMsgID(\"\") = %v, want not found", err)
		}
		stale, err := as.StalePublishing(ctx, artT0.Add(time.Minute), 10)
		if err != nil || len(stale) != 1 {
			t.Fatalf("StalePublishing() = %d, %v, want 1", len(stale), err)
		}

		// Scheduled articles come due.
		sch, _ := as.CreateArticle(ctx, model.Article{Title: "定时", Body: "<p>b</p>", Status: model.ArticleScheduled,
			PublishAt: artT0.Add(time.Hour)})
		if due, _ := as.DueArticles(ctx, artT0, 10); len(due) != 0 {
			t.Fatalf("DueArticles(early) = %d", len(due))
		}
		if due, _ := as.DueArticles(ctx, artT0.Add(time.Hour), 10); len(due) != 1 || due[0].ID != sch.ID {
			t.Fatalf("DueArticles(on time) = %+v", due)
		}

		list, next, err := as.ListArticles(ctx, model.ArticleFilter{}, model.Page{Limit: 1})
		if err != nil || len(list) != 1 || list[0].ID != sch.ID || next == "" || list[0].Body != "" {
			t.Fatalf("ListArticles() = %+v, %q, %v, want the newest without its body", list, next, err)
		}
		list, next, _ = as.ListArticles(ctx, model.ArticleFilter{}, model.Page{Limit: 1, Cursor: next})
		if len(list) != 1 || list[0].ID != a.ID || next != "" {
			t.Fatalf("ListArticles(page 2) = %+v, %q", list, next)
		}
	})
}

func TestArticleStatsAndFigures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		as := store.NewArticles(db)
		col, err := as.CreateColumn(ctx, model.Column{Name: "巧媳妇·富全家"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := as.CreateColumn(ctx, model.Column{Name: "巧媳妇·富全家"}); !errors.Is(err, model.ErrConflict) {
			t.Fatalf("CreateColumn(dup) = %v", err)
		}
		a, _ := as.CreateArticle(ctx, model.Article{Title: "a", Body: "b", Status: model.ArticlePublished, ColumnID: col.ID,
			MsgDataID: "100", PublishedAt: artT0})
		old, _ := as.CreateArticle(ctx, model.Article{Title: "old", Body: "b", Status: model.ArticlePublished, MsgDataID: "50",
			PublishedAt: artT0.AddDate(-1, 0, -1)})
		days := []model.ArticleDay{
			{ArticleID: a.ID, MsgDataID: "100", Index: 1, Date: "2026-03-08", Reads: 10, ReadUsers: 8, Shares: 2, Favourites: 1, Source: "datacube"},
			{ArticleID: a.ID, MsgDataID: "100", Index: 1, Date: "2026-03-09", Reads: 5, ReadUsers: 4, Source: "datacube"},
			{ArticleID: old.ID, MsgDataID: "50", Index: 1, Date: "2025-12-31", Reads: 1000, ReadUsers: 900, Source: "legacy"},
		}
		if err := as.UpsertArticleDays(ctx, days); err != nil {
			t.Fatal(err)
		}
		days[1].Reads = 6 // a second sync of the day replaces it
		if err := as.UpsertArticleDays(ctx, days[1:2]); err != nil {
			t.Fatal(err)
		}
		got, err := as.ArticleDays(ctx, a.ID)
		if err != nil || len(got) != 2 || got[1].Reads != 6 {
			t.Fatalf("ArticleDays() = %+v, %v", got, err)
		}
		art, _ := as.ArticleByID(ctx, a.ID)
		if art.Reads != 16 || art.ReadUsers != 12 || art.Shares != 2 || art.Favourites != 1 {
			t.Fatalf("article totals = %d %d %d %d", art.Reads, art.ReadUsers, art.Shares, art.Favourites)
		}
		c, err := as.ColumnByID(ctx, col.ID)
		if err != nil || c.Articles != 1 || c.Reads != 16 {
			t.Fatalf("ColumnByID() = %+v, %v", c, err)
		}
		if err := as.DeleteColumn(ctx, col.ID); !errors.Is(err, model.ErrConflict) {
			t.Fatalf("DeleteColumn(not empty) = %v", err)
		}
		year := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
		f, err := as.ArticleFigures(ctx, year, year.AddDate(1, 0, 0), "2026-01-01", "2027-01-01")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(store.ArticleFigures{Published: 1, Reads: 16, ReadUsers: 12, Shares: 2, Favorites: 1}, f); diff != "" {
			t.Errorf("ArticleFigures (-want +got):\n%s", diff)
		}
		msgs, err := as.PublishedMessages(ctx, artT0.AddDate(-1, 0, 0))
		if err != nil || len(msgs) != 1 || msgs[0].MsgDataID != "100" {
			t.Fatalf("PublishedMessages() = %+v, %v", msgs, err)
		}

		// Account days and the sync cursor, which never moves back.
		if err := as.UpsertAccountDays(ctx, []model.AccountDay{{Date: "2026-03-08", ReadUsers: 9, Source: "datacube"}}); err != nil {
			t.Fatal(err)
		}
		if err := as.UpsertAccountDays(ctx, []model.AccountDay{{Date: "2026-03-08", ReadUsers: 11, Source: "datacube"}}); err != nil {
			t.Fatal(err)
		}
		if ad, err := as.AccountDays(ctx, "2026-03-01", "2026-04-01"); err != nil || len(ad) != 1 || ad[0].ReadUsers != 11 {
			t.Fatalf("AccountDays() = %+v, %v", ad, err)
		}
		if c, err := as.StatCursor(ctx, "datacube"); c != "" || err != nil {
			t.Fatalf("StatCursor(none) = %q, %v", c, err)
		}
		for _, d := range []string{"2026-03-09", "2026-03-01"} {
			if err := as.SetStatCursor(ctx, "datacube", d); err != nil {
				t.Fatal(err)
			}
		}
		if c, _ := as.StatCursor(ctx, "datacube"); c != "2026-03-09" {
			t.Fatalf("StatCursor() = %q, want 2026-03-09 (never back)", c)
		}
	})
}

func TestTOTPStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ts := store.NewTOTP(db)
		if _, err := ts.TOTPOf(ctx, 1); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("TOTPOf(none) = %v", err)
		}
		if err := ts.SetPendingTOTP(ctx, 1, "sealed-a"); err != nil {
			t.Fatal(err)
		}
		if err := ts.SetPendingTOTP(ctx, 1, "sealed-b"); err != nil { // a pending one is replaced
			t.Fatal(err)
		}
		if s, _ := ts.TOTPOf(ctx, 1); s.SecretSealed != "sealed-b" || s.Enabled {
			t.Fatalf("TOTPOf() = %+v", s)
		}
		if ok, err := ts.UseTOTPStep(ctx, 1, 100); !ok || err != nil {
			t.Fatalf("UseTOTPStep(100) = %v, %v", ok, err)
		}
		for _, step := range []int64{100, 99} {
			if ok, _ := ts.UseTOTPStep(ctx, 1, step); ok {
				t.Errorf("UseTOTPStep(%d) after 100 = true, want a replay refused", step)
			}
		}
		if s, _ := ts.TOTPOf(ctx, 1); !s.Enabled || s.LastStep != 100 {
			t.Fatalf("TOTPOf(after use) = %+v", s)
		}
		if err := ts.SetPendingTOTP(ctx, 1, "sealed-c"); !errors.Is(err, model.ErrConflict) {
			t.Fatalf("SetPendingTOTP(enabled) = %v, want conflict", err)
		}
		if ok, err := ts.DeleteTOTP(ctx, 1); !ok || err != nil {
			t.Fatalf("DeleteTOTP() = %v, %v", ok, err)
		}
		if ok, _ := ts.DeleteTOTP(ctx, 1); ok {
			t.Fatal("DeleteTOTP(again) = true")
		}
	})
}

func TestFollowerFigures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		fs := store.NewFollowers(db)
		y := time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
		steps := []struct {
			openID string
			sub    bool
			at     time.Time
		}{
			{"o1", true, y.AddDate(0, 1, 0)},                                    // gained
			{"o2", true, y.AddDate(0, 2, 0)}, {"o2", false, y.AddDate(0, 3, 0)}, // gained and lost
			{"o3", true, y.AddDate(-1, 0, 0)}, {"o3", false, y.AddDate(0, 4, 0)}, // lost only
			{"o4", true, y.AddDate(1, 0, 1)}, // next year
		}
		for _, s := range steps {
			var err error
			if s.sub {
				_, err = fs.Subscribe(ctx, s.openID, "", "", s.at)
			} else {
				err = fs.Unsubscribe(ctx, s.openID, s.at)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		g, l, err := fs.FollowerFigures(ctx, y, y.AddDate(1, 0, 0))
		if err != nil || g != 2 || l != 2 {
			t.Fatalf("FollowerFigures() = %d, %d, %v, want 2 gained, 2 lost", g, l, err)
		}
	})
}
