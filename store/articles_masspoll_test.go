package store_test

import (
	"context"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

// TestStalePublishingMassSends: a mass send still publishing past the
// wait is stale like a freepublish job; one not yet late, one published,
// and a freepublish without a publish id are not (the last is an abandoned
// claim only while it has no WeChat id at all).
func TestStalePublishingMassSends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		as := store.NewArticles(db)
		mk := func(title string, mode model.PublishMode, status model.ArticleStatus, msgID string, at time.Time) model.Article {
			a, err := as.CreateArticle(ctx, model.Article{Title: title, Body: "<p>b</p>", Status: model.ArticleDraft, PublishStatus: -1})
			if err != nil {
				t.Fatal(err)
			}
			a.Status, a.Mode, a.MsgID, a.PublishAt, a.ClientMsgID = status, mode, msgID, at, "c-"+title
			if a, err = as.UpdateArticle(ctx, a); err != nil {
				t.Fatal(err)
			}
			return a
		}
		late := mk("late", model.PublishMass, model.ArticlePublishing, "2247483011", artT0)
		mk("recent", model.PublishMass, model.ArticlePublishing, "2247483012", artT0.Add(time.Hour))
		mk("done", model.PublishMass, model.ArticlePublished, "2247483013", artT0)
		claimed := mk("claimed", model.PublishMass, model.ArticlePublishing, "", artT0)
		stale, err := as.StalePublishing(ctx, artT0.Add(time.Minute), 10)
		if err != nil || len(stale) != 2 || stale[0].ID != late.ID || stale[1].ID != claimed.ID {
			t.Fatalf("StalePublishing() = %+v, %v, want the late mass send and the claim without ids", stale, err)
		}

		// CountsUnknown is stored and read back.
		late.Status, late.CountsUnknown = model.ArticlePublished, true
		if got, err := as.UpdateArticle(ctx, late, model.ArticlePublishing); err != nil || !got.CountsUnknown {
			t.Fatalf("UpdateArticle(counts unknown) = %+v, %v", got, err)
		}
	})
}

// TestMigrateArticlesMassPoll: step 0015 adds articles.counts_unknown to a
// table of step 0010 holding articles; they read as counts known.
func TestMigrateArticlesMassPoll(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		as := store.NewArticles(db)
		a, err := as.CreateArticle(ctx, model.Article{Title: "旧文章", Body: "<p>b</p>", Status: model.ArticleDraft, PublishStatus: -1})
		if err != nil {
			t.Fatal(err)
		}
		g := store.GormForTest(db)
		for _, step := range []string{
			"ALTER TABLE articles DROP COLUMN counts_unknown",
			"DELETE FROM schema_migrations WHERE id = '0015_articles_mass_poll'",
		} {
			if err := g.Exec(step).Error; err != nil {
				t.Fatalf("setting up step 0014's shape: %s: %v", step, err)
			}
		}
		if g.Migrator().HasColumn("articles", "counts_unknown") {
			t.Fatal("counts_unknown still there after dropping it")
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate() = %v", err)
		}
		if !g.Migrator().HasColumn("articles", "counts_unknown") {
			t.Fatal("counts_unknown missing after the migration")
		}
		got, err := as.ArticleByID(ctx, a.ID)
		if err != nil || got.CountsUnknown {
			t.Fatalf("ArticleByID(existing) = %+v, %v, want counts known", got, err)
		}
		got.CountsUnknown = true
		if got, err = as.UpdateArticle(ctx, got); err != nil || !got.CountsUnknown {
			t.Errorf("UpdateArticle() after the migration = %+v, %v", got, err)
		}
	})
}
