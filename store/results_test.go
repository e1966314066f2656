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

func TestResults(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rs := store.NewResults(db)
		ctx := context.Background()
		at := time.Date(2025, 3, 8, 9, 0, 0, 0, time.UTC)
		pub := model.WeChatResult{Kind: model.ResultPublish, App: model.AppOA, Key: "2247503051", Status: "1",
			PublishStatus: 1, ReceivedAt: at}
		if _, err := rs.RecordResult(ctx, pub); err != nil {
			t.Fatalf("RecordResult() = %v", err)
		}
		pub.Status, pub.PublishStatus, pub.ArticleID = "0", 0, "ART"
		pub.ArticleURLs = []string{"https://mp.weixin.qq.com/s/x"}
		pub.ReceivedAt = at.Add(time.Minute)
		got, err := rs.RecordResult(ctx, pub)
		if err != nil {
			t.Fatalf("RecordResult(again) = %v", err)
		}
		if diff := cmp.Diff(pub, got, cmpopts.IgnoreFields(model.WeChatResult{}, "ID")); diff != "" {
			t.Errorf("RecordResult(again) mismatch (-want +got):\n%s", diff)
		}
		mass := model.WeChatResult{Kind: model.ResultMass, App: model.AppOA, Key: "2247503051", Status: "send success",
			TotalCount: 10, FilterCount: 9, SentCount: 8, ErrorCount: 1, ReceivedAt: at}
		if _, err := rs.RecordResult(ctx, mass); err != nil {
			t.Fatal(err)
		}
		got, err = rs.Result(ctx, model.ResultMass, "2247503051")
		if diff := cmp.Diff(mass, got, cmpopts.IgnoreFields(model.WeChatResult{}, "ID")); err != nil || diff != "" {
			t.Errorf("Result(mass) = %v, mismatch (-want +got):\n%s", err, diff)
		}
		if _, err := rs.Result(ctx, model.ResultMediaCheck, "nope"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("Result(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := rs.RecordResult(ctx, model.WeChatResult{Kind: model.ResultMass}); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("RecordResult(no key) = %v, want ErrInvalid", err)
		}
	})
}
