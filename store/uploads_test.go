package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

func mustCreateUpload(tb testing.TB, us *store.Uploads, userID int64, n int) model.Upload {
	tb.Helper()
	u, err := us.Create(context.Background(), model.Upload{
		Key: fmt.Sprintf("uploads/2026/11/%032x.png", n), UserID: userID, ContentType: "image/png",
		Size: int64(100 + n), Width: 5, Height: 7, SHA256: strings.Repeat("ab", 32),
	})
	if err != nil {
		tb.Fatalf("Create(upload %d) = %v", n, err)
	}
	return u
}

func TestUploads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		us := store.NewUploads(db)
		ctx := context.Background()
		before := time.Now().Add(-time.Second)
		a := mustCreateUpload(t, us, 1, 1)
		want := model.Upload{ID: a.ID, Key: "uploads/2026/11/00000000000000000000000000000001.png", UserID: 1,
			ContentType: "image/png", Size: 101, Width: 5, Height: 7, SHA256: strings.Repeat("ab", 32)}
		if diff := cmp.Diff(want, a, cmpopts.IgnoreFields(model.Upload{}, "CreatedAt")); diff != "" {
			t.Errorf("Create() (-want +got):\n%s", diff)
		}
		if a.ID == 0 || a.CreatedAt.Before(before) || a.CreatedAt.Location() != time.UTC {
			t.Errorf("Create() = id %d, created %v; want an id and a UTC time of now", a.ID, a.CreatedAt)
		}
		got, err := us.Get(ctx, a.ID)
		if err != nil {
			t.Fatalf("Get(%d) = %v", a.ID, err)
		}
		if diff := cmp.Diff(a, got); diff != "" {
			t.Errorf("Get() (-want +got):\n%s", diff)
		}
		if _, err := us.Get(ctx, 999999); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("Get(missing) = %v, want ErrNotFound", err)
		}
		if _, err := us.Create(ctx, model.Upload{Key: a.Key, UserID: 2, ContentType: "image/png"}); !errors.Is(err, model.ErrConflict) {
			t.Errorf("Create(same key) = %v, want ErrConflict", err)
		}
		at := time.Date(2026, 11, 3, 9, 0, 0, 123000000, time.UTC) // MySQL keeps milliseconds
		c, err := us.Create(ctx, model.Upload{Key: "uploads/2026/11/0000000000000000000000000000000c.jpg", UserID: 2,
			ContentType: "image/jpeg", CreatedAt: at})
		if err != nil || !c.CreatedAt.Equal(at) {
			t.Errorf("Create(with CreatedAt) = %+v, %v, want created at %v", c, err, at)
		}
	})
}

func TestUploadsOwnedBy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		us := store.NewUploads(db)
		ctx := context.Background()
		mine1 := mustCreateUpload(t, us, 7, 1)
		mine2 := mustCreateUpload(t, us, 7, 2)
		theirs := mustCreateUpload(t, us, 8, 3)

		tests := []struct {
			name    string
			ids     []int64
			want    []model.Upload
			badIDs  []int64 // named in the error
			goodIDs []int64 // not named in the error
		}{
			{name: "none", ids: nil, want: []model.Upload{}},
			{name: "in order", ids: []int64{mine2.ID, mine1.ID}, want: []model.Upload{mine2, mine1}},
			{name: "duplicates once", ids: []int64{mine1.ID, mine1.ID, mine2.ID}, want: []model.Upload{mine1, mine2}},
			{name: "another user's", ids: []int64{mine1.ID, theirs.ID}, badIDs: []int64{theirs.ID}, goodIDs: []int64{mine1.ID}},
			{name: "missing", ids: []int64{mine1.ID, 999999, -3}, badIDs: []int64{999999, -3}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := us.OwnedBy(ctx, tt.ids, 7)
				if tt.badIDs == nil {
					if err != nil {
						t.Fatalf("OwnedBy(%v, 7) = %v", tt.ids, err)
					}
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("OwnedBy(%v, 7) (-want +got):\n%s", tt.ids, diff)
					}
					return
				}
				var me *model.Error
				if !errors.Is(err, model.ErrInvalid) || !errors.As(err, &me) {
					t.Fatalf("OwnedBy(%v, 7) = %v, %v, want ErrInvalid", tt.ids, got, err)
				}
				for _, id := range tt.badIDs {
					if !strings.Contains(me.Message, fmt.Sprint(id)) {
						t.Errorf("OwnedBy(%v, 7) message %q does not name %d", tt.ids, me.Message, id)
					}
				}
				for _, id := range tt.goodIDs {
					if strings.Contains(me.Message, fmt.Sprint(id)) {
						t.Errorf("OwnedBy(%v, 7) message %q names the caller's own %d", tt.ids, me.Message, id)
					}
				}
			})
		}

		many := make([]int64, model.MaxOwnedByIDs+1)
		for i := range many {
			many[i] = int64(i + 1)
		}
		if _, err := us.OwnedBy(ctx, many, 7); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("OwnedBy(%d ids) = %v, want ErrInvalid", len(many), err)
		}
	})
}

func TestMigrateAddsUploadsStep(t *testing.T) {
	d := storetest.Dialects()[0]
	ctx := context.Background()
	db, cleanup, err := store.Open(ctx, d.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	pending, err := db.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Steps are applied in order; the first two are the foundation's.
	if len(pending) < 2 || pending[0] != "0001_foundation" || pending[1] != "0002_uploads" {
		t.Errorf("Pending() on an empty database = %v, want 0001_foundation, 0002_uploads first", pending)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if !store.GormForTest(db).Migrator().HasTable("uploads") {
		t.Error("after Migrate() there is no uploads table")
	}
}
