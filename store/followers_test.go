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

var ignoreFollowerBookkeeping = cmpopts.IgnoreFields(model.Follower{}, "ID", "CreatedAt", "UpdatedAt")

func TestFollowerLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fs := store.NewFollowers(db)
		ctx := context.Background()
		t0 := time.Date(2025, 3, 8, 9, 0, 0, 0, time.UTC)

		got, err := fs.Subscribe(ctx, "oAlice", "", "poster_a", t0)
		if err != nil {
			t.Fatalf("Subscribe() = %v", err)
		}
		want := model.Follower{OpenID: "oAlice", Subscribed: true, SubscribedAt: t0, Scene: "poster_a", LastActiveAt: t0}
		if diff := cmp.Diff(want, got, ignoreFollowerBookkeeping); diff != "" {
			t.Errorf("Subscribe() mismatch (-want +got):\n%s", diff)
		}
		steps := []struct {
			name string
			do   func() error
			want model.Follower
		}{
			{"touch", func() error { return fs.Touch(ctx, "oAlice", t0.Add(time.Minute)) },
				model.Follower{OpenID: "oAlice", Subscribed: true, SubscribedAt: t0, Scene: "poster_a", LastActiveAt: t0.Add(time.Minute)}},
			{"older touch kept out", func() error { return fs.Touch(ctx, "oAlice", t0) },
				model.Follower{OpenID: "oAlice", Subscribed: true, SubscribedAt: t0, Scene: "poster_a", LastActiveAt: t0.Add(time.Minute)}},
			{"unsubscribe", func() error { return fs.Unsubscribe(ctx, "oAlice", t0.Add(time.Hour)) },
				model.Follower{OpenID: "oAlice", SubscribedAt: t0, UnsubscribedAt: t0.Add(time.Hour), Scene: "poster_a",
					LastActiveAt: t0.Add(time.Minute)}},
			{"late retry of the old subscribe changes nothing", func() error {
				_, err := fs.Subscribe(ctx, "oAlice", "", "poster_a", t0)
				return err
			}, model.Follower{OpenID: "oAlice", SubscribedAt: t0, UnsubscribedAt: t0.Add(time.Hour), Scene: "poster_a",
				LastActiveAt: t0.Add(time.Minute)}},
			{"subscribe again without a scene", func() error {
				_, err := fs.Subscribe(ctx, "oAlice", "uAlice", "", t0.Add(2*time.Hour))
				return err
			}, model.Follower{OpenID: "oAlice", UnionID: "uAlice", Subscribed: true, SubscribedAt: t0.Add(2 * time.Hour),
				UnsubscribedAt: t0.Add(time.Hour), LastActiveAt: t0.Add(2 * time.Hour)}},
			{"profile: tags, a recorded unionid kept", func() error {
				return fs.SetFollowerProfile(ctx, "oAlice", "uOther", []int{2, 100})
			}, model.Follower{OpenID: "oAlice", UnionID: "uAlice", Subscribed: true, SubscribedAt: t0.Add(2 * time.Hour),
				UnsubscribedAt: t0.Add(time.Hour), LastActiveAt: t0.Add(2 * time.Hour), TagIDs: []int{2, 100}}},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			got, err := fs.FollowerByOpenID(ctx, "oAlice")
			if err != nil {
				t.Fatalf("%s: FollowerByOpenID() = %v", s.name, err)
			}
			if diff := cmp.Diff(s.want, got, ignoreFollowerBookkeeping); diff != "" {
				t.Errorf("%s: follower mismatch (-want +got):\n%s", s.name, diff)
			}
		}

		// Unknown followers: an unsubscribe creates an unsubscribed row, a
		// touch a subscribed one.
		if err := fs.Unsubscribe(ctx, "oBob", t0); err != nil {
			t.Fatal(err)
		}
		if err := fs.Touch(ctx, "oCarol", t0); err != nil {
			t.Fatal(err)
		}
		bob, _ := fs.FollowerByOpenID(ctx, "oBob")
		carol, _ := fs.FollowerByOpenID(ctx, "oCarol")
		if bob.Subscribed || !bob.UnsubscribedAt.Equal(t0) || !carol.Subscribed || !carol.SubscribedAt.IsZero() {
			t.Errorf("unknown followers = %+v, %+v, want bob unsubscribed and carol subscribed with no time", bob, carol)
		}
		if err := fs.SetFollowerProfile(ctx, "oNobody", "u", nil); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("SetFollowerProfile(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := fs.Subscribe(ctx, "", "", "", t0); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("Subscribe(\"\") = %v, want ErrInvalid", err)
		}
	})
}

func TestFollowersLinkUsersAndList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fs := store.NewFollowers(db)
		users := store.NewUsers(db)
		ctx := context.Background()
		t0 := time.Date(2025, 3, 8, 9, 0, 0, 0, time.UTC)
		for i, f := range []struct{ openid, union, scene string }{
			{"o1", "u1", "a"}, {"o2", "", "b"}, {"o3", "u3", "a"}, {"o4", "u4", ""},
		} {
			if _, err := fs.Subscribe(ctx, f.openid, f.union, f.scene, t0.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		if err := fs.Unsubscribe(ctx, "o4", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// The user signs in to the Mini Program after following: linked at once.
		u3, err := users.UpsertUserByOpenID(ctx, "mp-o3", "u3")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := users.UpsertUserByOpenID(ctx, "mp-empty", ""); err != nil {
			t.Fatal(err)
		}
		got, err := fs.FollowerByUnionID(ctx, "u3")
		if err != nil || got.OpenID != "o3" || got.UserID != u3.ID {
			t.Errorf("FollowerByUnionID(u3) = %+v, %v, want o3 linked to user %d", got, err, u3.ID)
		}
		if o2, _ := fs.FollowerByOpenID(ctx, "o2"); o2.UserID != 0 {
			t.Errorf("follower without unionid linked to user %d, want 0", o2.UserID)
		}
		if _, err := fs.FollowerByUnionID(ctx, ""); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("FollowerByUnionID(\"\") = %v, want ErrNotFound", err)
		}

		yes, no := true, false
		tests := []struct {
			name string
			f    model.FollowerFilter
			want []string
		}{
			{"all, newest first", model.FollowerFilter{}, []string{"o4", "o3", "o2", "o1"}},
			{"subscribed", model.FollowerFilter{Subscribed: &yes}, []string{"o3", "o2", "o1"}},
			{"unsubscribed", model.FollowerFilter{Subscribed: &no}, []string{"o4"}},
			{"scene", model.FollowerFilter{Scene: "a"}, []string{"o3", "o1"}},
		}
		for _, tt := range tests {
			var ids []string
			cursor := ""
			for {
				page, next, err := fs.ListFollowers(ctx, tt.f, model.Page{Cursor: cursor, Limit: 1})
				if err != nil {
					t.Fatalf("%s: ListFollowers() = %v", tt.name, err)
				}
				for _, f := range page {
					ids = append(ids, f.OpenID)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("%s: ListFollowers() mismatch (-want +got):\n%s", tt.name, diff)
			}
		}
		if _, _, err := fs.ListFollowers(ctx, model.FollowerFilter{}, model.Page{Cursor: "!!"}); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("ListFollowers(bad cursor) = %v, want ErrInvalid", err)
		}
	})
}

func TestQRScans(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fs := store.NewFollowers(db)
		ctx := context.Background()
		t0 := time.Date(2025, 3, 8, 9, 0, 0, 0, time.UTC)
		scans := []model.QRScan{
			{OpenID: "o1", Scene: "fair_12", Subscribe: true, At: t0},
			{OpenID: "o1", Scene: "fair_12", Subscribe: true, At: t0}, // WeChat's retry
			{OpenID: "o2", Scene: "fair_12", At: t0.Add(time.Minute)},
			{OpenID: "o2", Scene: "poster", At: t0.Add(2 * time.Minute)},
		}
		for _, s := range scans {
			if err := fs.RecordScan(ctx, s); err != nil {
				t.Fatalf("RecordScan(%+v) = %v", s, err)
			}
		}
		got, err := fs.ListScans(ctx, "fair_12", t0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(scans[1:3], got, cmpopts.IgnoreFields(model.QRScan{}, "ID")); diff != "" {
			t.Errorf("ListScans(fair_12) mismatch (-want +got):\n%s", diff)
		}
		if err := fs.RecordScan(ctx, model.QRScan{OpenID: "o1"}); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("RecordScan(no scene) = %v, want ErrInvalid", err)
		}
	})
}
