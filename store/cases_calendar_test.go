package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

func TestWorkCalendar(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCases(db)
		ctx := context.Background()
		wc, err := cs.WorkCalendar(ctx)
		if err != nil || wc.Version != 0 || len(wc.Holidays)+len(wc.Workdays) != 0 || !wc.UpdatedAt.IsZero() {
			t.Fatalf("WorkCalendar(fresh) = %+v, %v, want never saved", wc, err)
		}
		at := time.Date(2025, 11, 5, 2, 0, 0, 0, time.UTC)
		saved, err := cs.SaveWorkCalendar(ctx, model.WorkCalendar{Holidays: []string{"2026-10-01", "2026-10-02"},
			Workdays: []string{"2026-09-20"}, UpdatedBy: 7, UpdatedAt: at}, 0)
		want := model.WorkCalendar{Holidays: []string{"2026-10-01", "2026-10-02"}, Workdays: []string{"2026-09-20"}, Version: 1,
			UpdatedBy: 7, UpdatedAt: at}
		if diff := cmp.Diff(want, saved); err != nil || diff != "" {
			t.Fatalf("SaveWorkCalendar() = %v (-want +got):\n%s", err, diff)
		}
		// A save against a stale version is refused and changes nothing.
		_, err = cs.SaveWorkCalendar(ctx, model.WorkCalendar{UpdatedBy: 8, UpdatedAt: at}, 5)
		var me *model.Error
		if !errors.As(err, &me) || me.Code != "calendar_changed" {
			t.Errorf("SaveWorkCalendar(stale) = %v, want calendar_changed", err)
		}
		// Against the current one, and emptied lists, it saves.
		saved, err = cs.SaveWorkCalendar(ctx, model.WorkCalendar{Holidays: []string{}, Workdays: []string{}, UpdatedBy: 8, UpdatedAt: at.Add(time.Hour)}, 1)
		if err != nil || saved.Version != 2 || len(saved.Holidays)+len(saved.Workdays) != 0 || saved.UpdatedBy != 8 {
			t.Errorf("SaveWorkCalendar(v1, empty) = %+v, %v", saved, err)
		}
		got, err := cs.WorkCalendar(ctx)
		if diff := cmp.Diff(saved, got); err != nil || diff != "" {
			t.Errorf("WorkCalendar() = %v (-saved +got):\n%s", err, diff)
		}
	})
}

// TestMigrateCasesCalendar: step 0013 adds the calendar to a database of
// step 0012 (no case_calendar table), unsaved, and it can be saved; run
// again it keeps a saved calendar.
func TestMigrateCasesCalendar(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cs := store.NewCases(db)
		mustCase(t, cs, 0, caseT0) // a database in use
		g := store.GormForTest(db)
		for _, step := range []func() error{
			func() error { return g.Exec("DROP TABLE case_calendar").Error },
			func() error { return g.Exec("DELETE FROM schema_migrations WHERE id = ?", "0013_cases_calendar").Error },
		} {
			if err := step(); err != nil {
				t.Fatalf("setting up step 0012's shape: %v", err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate() = %v", err)
		}
		if wc, err := cs.WorkCalendar(ctx); err != nil || wc.Version != 0 {
			t.Fatalf("WorkCalendar() after the upgrade = %+v, %v, want unsaved", wc, err)
		}
		if _, err := cs.SaveWorkCalendar(ctx, model.WorkCalendar{Holidays: []string{"2026-10-01"}, Workdays: []string{},
			UpdatedBy: 1, UpdatedAt: caseT0}, 0); err != nil {
			t.Fatalf("SaveWorkCalendar() = %v", err)
		}
		// The step again (as after a crash before it was recorded): the saved
		// calendar stays.
		if err := g.Exec("DELETE FROM schema_migrations WHERE id = ?", "0013_cases_calendar").Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate(again) = %v", err)
		}
		if wc, err := cs.WorkCalendar(ctx); err != nil || wc.Version != 1 || len(wc.Holidays) != 1 {
			t.Errorf("WorkCalendar() after migrating again = %+v, %v, want the saved one", wc, err)
		}
	})
}
