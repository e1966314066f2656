package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d.Name, func(t *testing.T) {
			opts := d.Options(t)
			ctx := context.Background()
			// Three "copies" migrate the same empty database at once.
			var wg sync.WaitGroup
			errs := make(chan error, 3)
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db, cleanup, err := store.Open(ctx, opts)
					if err != nil {
						errs <- err
						return
					}
					defer cleanup()
					errs <- db.Migrate(ctx)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("concurrent Migrate() = %v", err)
				}
			}
			db, cleanup, err := store.Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("second Migrate() = %v", err)
			}
			pending, err := db.Pending(ctx)
			if err != nil || len(pending) != 0 {
				t.Fatalf("Pending() = %v, %v, want none", pending, err)
			}
		})
	}
}

// probe is a table used only by these tests, created through the exported
// test hook.
type probe struct {
	ID   int64  `gorm:"primaryKey"`
	Name string `gorm:"size:50;uniqueIndex"`
}

func TestWithTxAndTranslateError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		g := store.GormForTest(db)
		if err := g.AutoMigrate(&probe{}); err != nil {
			t.Fatal(err)
		}
		// Commit.
		err := db.WithTx(ctx, func(ctx context.Context) error {
			if !store.InTx(ctx) {
				t.Error("InTx() = false inside WithTx")
			}
			return store.ConnForTest(db, ctx).Create(&probe{Name: "a"}).Error
		})
		if err != nil {
			t.Fatalf("WithTx(commit) = %v", err)
		}
		// Rollback, including a nested WithTx that joins the outer one.
		boom := errors.New("boom")
		err = db.WithTx(ctx, func(ctx context.Context) error {
			if err := db.WithTx(ctx, func(ctx context.Context) error {
				return store.ConnForTest(db, ctx).Create(&probe{Name: "b"}).Error
			}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithTx(rollback) = %v, want boom", err)
		}
		var n int64
		g.Model(&probe{}).Count(&n)
		if n != 1 {
			t.Errorf("rows after rollback = %d, want 1", n)
		}
		// Duplicate → conflict; missing → not found, on every dialect.
		err = store.TranslateError(g.Create(&probe{Name: "a"}).Error)
		if !errors.Is(err, model.ErrConflict) {
			t.Errorf("duplicate insert = %v, want model.ErrConflict", err)
		}
		var p probe
		err = store.TranslateError(g.Where("name = ?", "zzz").First(&p).Error)
		if !errors.Is(err, model.ErrNotFound) {
			t.Errorf("missing row = %v, want model.ErrNotFound", err)
		}
		if err := db.Ping(ctx); err != nil {
			t.Errorf("Ping() = %v", err)
		}
	})
}
