package cases_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/cases"
	"wanjia/store"
)

// The State Council's 2026 schedule around National Day (国办 2025-11-04):
// 中秋节 9月25日（周五）至27日（周日）放假；国庆节 10月1日（周四）至7日（周三）
// 放假调休，9月20日（周日）、10月10日（周六）上班.
const (
	holidays2026Autumn = "2026-09-25,2026-09-26,2026-09-27,2026-10-01,2026-10-02,2026-10-03,2026-10-04,2026-10-05,2026-10-06,2026-10-07"
	workdays2026Autumn = "2026-09-20,2026-10-10"
)

var monFri = [7]bool{false, true, true, true, true, true, false}

// TestCalendarMakeUpDays: Add and Between over the 2026 autumn holidays
// with their make-up Sunday and Saturday, against the same weeks without
// the make-up days.
func TestCalendarMakeUpDays(t *testing.T) {
	with, err := cases.NewCalendar("09:00-17:00", monFri, holidays2026Autumn, workdays2026Autumn, sh)
	if err != nil {
		t.Fatal(err)
	}
	without, err := cases.NewCalendar("09:00-17:00", monFri, holidays2026Autumn, "", sh)
	if err != nil {
		t.Fatal(err)
	}
	at := func(m time.Month, d, h, min int) time.Time { return time.Date(2026, m, d, h, min, 0, 0, sh) }
	tests := []struct {
		name  string
		cal   cases.Calendar
		start time.Time
		add   time.Duration
		want  time.Time
	}{
		{"Friday over the make-up Sunday", with, at(9, 18, 16, 0), 24 * time.Hour, at(9, 22, 16, 0)},
		{"the same without it", without, at(9, 18, 16, 0), 24 * time.Hour, at(9, 23, 16, 0)},
		{"Saturday night into the make-up Sunday", with, at(9, 19, 22, 0), time.Hour, at(9, 20, 10, 0)},
		{"on the make-up Sunday", with, at(9, 20, 12, 0), 6 * time.Hour, at(9, 21, 10, 0)},
		{"Thursday over 中秋", with, at(9, 24, 15, 0), 8 * time.Hour, at(9, 28, 15, 0)},
		{"the last day before National Day", with, at(9, 30, 10, 0), 24 * time.Hour, at(10, 10, 10, 0)},
		{"the same without the make-up Saturday", without, at(9, 30, 10, 0), 24 * time.Hour, at(10, 12, 10, 0)},
		{"received during the holiday week", with, at(10, 3, 11, 0), 16 * time.Hour, at(10, 9, 17, 0)},
		{"received during the holiday week, 17 hours", with, at(10, 3, 11, 0), 17 * time.Hour, at(10, 10, 10, 0)},
		{"before opening on the make-up Saturday", with, at(10, 10, 7, 30), 30 * time.Minute, at(10, 10, 9, 30)},
		{"from the make-up Saturday into Monday", with, at(10, 10, 16, 0), 2 * time.Hour, at(10, 12, 10, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cal.Add(tt.start, tt.add); !got.Equal(tt.want) {
				t.Errorf("Add(%v, %v) = %v, want %v", tt.start, tt.add, got, tt.want)
			}
			if got := tt.cal.Between(tt.start, tt.want); got != tt.add {
				t.Errorf("Between(%v, %v) = %v, want %v", tt.start, tt.want, got, tt.add)
			}
		})
	}
	betweens := []struct {
		name     string
		cal      cases.Calendar
		from, to time.Time
		want     time.Duration
	}{
		{"the weekend of the make-up Sunday", with, at(9, 19, 0, 0), at(9, 21, 0, 0), 8 * time.Hour},
		{"the same weekend without it", without, at(9, 19, 0, 0), at(9, 21, 0, 0), 0},
		{"the whole holiday week", with, at(10, 1, 0, 0), at(10, 8, 0, 0), 0},
		{"Monday 28 Sep to Sunday 11 Oct", with, at(9, 28, 0, 0), at(10, 12, 0, 0), 6 * 8 * time.Hour}, // 28–30 Sep, 8–10 Oct
	}
	for _, tt := range betweens {
		if got := tt.cal.Between(tt.from, tt.to); got != tt.want {
			t.Errorf("%s: Between = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, w := range []struct {
		t    time.Time
		want bool
	}{
		{at(9, 20, 12, 0), true}, {at(10, 10, 9, 0), true}, {at(10, 10, 17, 0), false}, {at(9, 27, 12, 0), false},
		{at(10, 1, 12, 0), false}, {at(10, 8, 12, 0), true}, {at(10, 11, 12, 0), false},
	} {
		if got := with.Working(w.t); got != w.want {
			t.Errorf("Working(%v) = %v, want %v", w.t, got, w.want)
		}
	}
	if got, want := with.Workdays(), []string{"2026-09-20", "2026-10-10"}; !slices.Equal(got, want) {
		t.Errorf("Workdays() = %v, want %v", got, want)
	}
	if got := with.Hours(); got != "09:00-17:00" {
		t.Errorf("Hours() = %q", got)
	}
}

// TestCalendarSavedByStaff: the calendar staff save replaces the
// configured dates in the copy that saved it at once and in another copy
// after its refresh time; deadlines are computed from the calendar in
// force when they are computed, and existing ones are not recomputed.
func TestCalendarSavedByStaff(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	// A second copy of the service on the same database, with its own clock.
	other := testutil.NewClock(t0)
	b, err := cases.New(cases.Deps{Store: store.NewCases(e.db), Notifier: e.notes, Audit: e.audit, Keys: e.keys,
		Staff: store.NewStaff(e.db), Now: other.Now})
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Calendar(e.cwA)
	if err != nil || v.Saved || len(v.Holidays)+len(v.Workdays) != 0 || v.Hours != "09:00-17:00" || v.Weekdays != monFri {
		t.Fatalf("Calendar() before a save = %+v, %v, want the configuration's", v, err)
	}
	// Friday 2026-09-18 16:00: 24 working hours run to Wednesday without
	// the make-up Sunday.
	friday := time.Date(2026, 9, 18, 16, 0, 0, 0, sh)
	e.clock.Set(friday)
	other.Set(friday)
	before := e.mustSubmit(t, 801, intake(model.CaseDomesticViolence, false))
	if want := time.Date(2026, 9, 23, 16, 0, 0, 0, sh); !before.FirstResponseDue.Equal(want) {
		t.Fatalf("FirstResponseDue before the save = %v, want %v", before.FirstResponseDue, want)
	}
	if _, err := b.SubmitMP(ctx, 802, intake(model.CaseEmployment, false)); err != nil { // b reads the calendar now
		t.Fatal(err)
	}

	_, err = e.svc.SetCalendar(e.cwA, cases.CalendarInput{Holidays: []string{}, Workdays: []string{}})
	wantKind(t, err, model.ErrForbidden, "SetCalendar(caseworker)")
	saved, err := e.svc.SetCalendar(e.admin, cases.CalendarInput{Holidays: strings.Split(holidays2026Autumn, ","),
		Workdays: []string{"2026-10-10", "2026-09-20", "2026-09-20"}})
	if err != nil || !saved.Saved || saved.Version != 1 || !slices.Equal(saved.Workdays, []string{"2026-09-20", "2026-10-10"}) ||
		saved.UpdatedBy != e.ids["admin"] {
		t.Fatalf("SetCalendar() = %+v, %v", saved, err)
	}
	if !slices.Contains(e.audit.Actions(), "cases.calendar") {
		t.Errorf("audit = %v, want cases.calendar", e.audit.Actions())
	}
	// This copy: at once.
	mine := e.mustSubmit(t, 803, intake(model.CaseDomesticViolence, false))
	if want := time.Date(2026, 9, 22, 16, 0, 0, 0, sh); !mine.FirstResponseDue.Equal(want) {
		t.Errorf("FirstResponseDue after the save = %v, want %v (the make-up Sunday counts)", mine.FirstResponseDue, want)
	}
	// The other copy: still its last read within the refresh time, the
	// saved calendar after it.
	res, err := b.SubmitMP(ctx, 804, intake(model.CaseDomesticViolence, false))
	if err != nil || !res.Case.FirstResponseDue.Equal(time.Date(2026, 9, 23, 16, 0, 0, 0, sh)) {
		t.Errorf("other copy within the refresh time: due %v, %v, want the old calendar's", res.Case.FirstResponseDue, err)
	}
	other.Add(cases.DefaultCalendarRefresh)
	res, err = b.SubmitMP(ctx, 805, intake(model.CaseDomesticViolence, false))
	if err != nil || !res.Case.FirstResponseDue.Equal(time.Date(2026, 9, 22, 16, 0, 0, 0, sh).Add(cases.DefaultCalendarRefresh)) {
		t.Errorf("other copy after the refresh time: due %v, %v, want the saved calendar's", res.Case.FirstResponseDue, err)
	}
	// Deadlines already set stay as they were.
	again, _ := e.store.ByNo(ctx, before.CaseNo)
	if !again.FirstResponseDue.Equal(before.FirstResponseDue) {
		t.Errorf("an existing deadline moved from %v to %v", before.FirstResponseDue, again.FirstResponseDue)
	}

	// A stale version is refused; the current one saves; bad lists are 400.
	_, err = e.svc.SetCalendar(e.admin, cases.CalendarInput{Holidays: []string{}, Workdays: []string{}, Version: 7})
	wantCode(t, err, "calendar_changed", "SetCalendar(stale version)")
	for _, bad := range []struct {
		in    cases.CalendarInput
		field string
	}{
		{cases.CalendarInput{Holidays: []string{"2026-10-01"}}, "workdays"},
		{cases.CalendarInput{Workdays: []string{}}, "holidays"},
		{cases.CalendarInput{Holidays: []string{"2026/10/01"}, Workdays: []string{}}, "holidays"},
		{cases.CalendarInput{Holidays: []string{"2026-02-30"}, Workdays: []string{}}, "holidays"},
		{cases.CalendarInput{Holidays: []string{}, Workdays: []string{"1999-12-31"}}, "workdays"},
		{cases.CalendarInput{Holidays: []string{"2026-10-01", "2026-10-02"}, Workdays: []string{"2026-10-02"}}, "workdays"},
		{cases.CalendarInput{Holidays: make([]string, cases.MaxCalendarDates+1), Workdays: []string{}}, "holidays"},
	} {
		_, err := e.svc.SetCalendar(e.admin, bad.in)
		var me *model.Error
		if !errors.As(err, &me) || me.Fields[bad.field] == "" {
			t.Errorf("SetCalendar(%v) = %v, want a problem with %s", bad.in, err, bad.field)
		}
	}
	if v, err := b.Calendar(e.admin); err != nil || v.Version != 1 || len(v.Holidays) != 10 {
		t.Errorf("Calendar() = %+v, %v, want version 1 with its 10 holidays", v, err)
	}
	cleared, err := e.svc.SetCalendar(e.admin, cases.CalendarInput{Holidays: []string{}, Workdays: []string{}, Version: 1})
	if err != nil || cleared.Version != 2 || !cleared.Saved || len(cleared.Holidays) != 0 {
		t.Errorf("SetCalendar(cleared, version 1) = %+v, %v", cleared, err)
	}
}
