package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

var ignoreRuleTimes = cmpopts.IgnoreFields(model.ReplyRule{}, "ID", "CreatedAt", "UpdatedAt")

func TestReplyRulesSeeded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rules := store.NewReplyRules(db)
		got, err := rules.ListReplyRules(context.Background())
		if err != nil {
			t.Fatalf("ListReplyRules() = %v", err)
		}
		if diff := cmp.Diff(store.SeedReplyRules(), got, ignoreRuleTimes); diff != "" {
			t.Errorf("ListReplyRules() after migration mismatch (-want +got):\n%s", diff)
		}
		// Migrating again (another copy, or a rerun step) seeds nothing more.
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n, err := rules.CountReplyRules(context.Background()); err != nil || n != int64(len(got)) {
			t.Errorf("CountReplyRules() after a second Migrate = %d, %v, want %d", n, err, len(got))
		}
	})
}

func TestReplyRulesCRUD(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rules := store.NewReplyRules(db)
		ctx := context.Background()
		in := model.ReplyRule{
			Name: "图文", Match: model.MatchKeyword, Mode: model.KeywordRegex, Keywords: []string{`^活动\d+$`},
			Priority: 7, Enabled: true, Provider: "campaign",
			Reply: model.Reply{Kind: model.ReplyNews, Articles: []model.NewsArticle{{
				Title: "最美家庭", Description: "推荐", PicURL: "https://example.com/a.jpg", URL: "https://example.com/a",
			}}},
		}
		created, err := rules.CreateReplyRule(ctx, in)
		if err != nil {
			t.Fatalf("CreateReplyRule() = %v", err)
		}
		if diff := cmp.Diff(in, created, ignoreRuleTimes); diff != "" || created.ID == 0 || created.CreatedAt.IsZero() {
			t.Errorf("CreateReplyRule() = %+v, mismatch (-want +got):\n%s", created, diff)
		}
		upd := created
		upd.Match, upd.Mode, upd.Keywords = model.MatchMsgType, "", []string{"image"}
		upd.Reply = model.Reply{Kind: model.ReplyImage, MediaID: "MEDIA"}
		upd.Provider, upd.Enabled = "", false
		got, err := rules.UpdateReplyRule(ctx, upd)
		if err != nil {
			t.Fatalf("UpdateReplyRule() = %v", err)
		}
		if diff := cmp.Diff(upd, got, ignoreRuleTimes); diff != "" {
			t.Errorf("UpdateReplyRule() mismatch (-want +got):\n%s", diff)
		}
		if _, err := rules.UpdateReplyRule(ctx, model.ReplyRule{ID: 99999, Name: "x"}); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("UpdateReplyRule(unknown) = %v, want ErrNotFound", err)
		}
		if err := rules.DeleteReplyRule(ctx, created.ID); err != nil {
			t.Fatalf("DeleteReplyRule() = %v", err)
		}
		if err := rules.DeleteReplyRule(ctx, created.ID); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("DeleteReplyRule(again) = %v, want ErrNotFound", err)
		}
		if _, err := rules.ReplyRule(ctx, created.ID); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("ReplyRule(deleted) = %v, want ErrNotFound", err)
		}
	})
}

func TestCrisisSettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := store.NewGatewaySettings(db)
		ctx := context.Background()
		if _, err := st.CrisisSettings(ctx); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("CrisisSettings() before any save = %v, want ErrNotFound", err)
		}
		at := time.Date(2025, 3, 8, 9, 0, 0, 0, time.UTC)
		for _, want := range []model.CrisisSettings{
			{Words: []string{"救命", "家暴"}, AlertStaffIDs: []int64{3, 1}},
			{Words: []string{"自杀"}, AlertStaffIDs: []int64{}},
		} {
			got, err := st.SaveCrisisSettings(ctx, want, at)
			if err != nil {
				t.Fatalf("SaveCrisisSettings() = %v", err)
			}
			want.UpdatedAt = at
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SaveCrisisSettings() mismatch (-want +got):\n%s", diff)
			}
			at = at.Add(time.Hour)
		}
	})
}
