package cases

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"wanjia/model"
)

// The working calendar staff keep: the configuration gives the working
// hours, the working weekdays and the first lists of holidays and make-up
// working days; once an admin saves the lists (SetCalendar), the
// database's lists replace the configuration's in every copy of the
// service. Each copy keeps what it read for Options.CalendarRefresh and
// then reads the one row again, so a save reaches every copy behind the
// load balancer within that time (the copy that saved it at once), and
// the SLA sweep, wherever it runs, uses the saved calendar too. See
// Calendar for which deadlines follow a change.

// calendarCache is a copy's working calendar and when it was read.
type calendarCache struct {
	mu      sync.Mutex
	cal     Calendar
	version int
	at      time.Time
	loaded  bool
}

// calendar returns the working calendar in force: the configured one with
// the database's dates once they were saved, read again when older than
// Options.CalendarRefresh. A failed read is an error (nothing is
// computed from a calendar that may be out of date after a save).
func (s *Service) calendar(ctx context.Context) (Calendar, error) {
	now := s.now()
	s.cals.mu.Lock()
	if age := now.Sub(s.cals.at); s.cals.loaded && age >= 0 && age < s.opts.CalendarRefresh {
		cal := s.cals.cal
		s.cals.mu.Unlock()
		return cal, nil
	}
	s.cals.mu.Unlock()
	wc, err := s.store.WorkCalendar(ctx)
	if err != nil {
		return Calendar{}, fmt.Errorf("working calendar: %w", err)
	}
	cal, err := s.calendarOf(wc)
	if err != nil {
		return Calendar{}, err
	}
	s.remember(cal, wc.Version, now)
	return cal, nil
}

// calendarOf is the configured calendar with wc's dates when wc was saved.
func (s *Service) calendarOf(wc model.WorkCalendar) (Calendar, error) {
	if wc.Version == 0 {
		return s.cal, nil
	}
	cal, err := s.cal.WithDates(wc.Holidays, wc.Workdays)
	if err != nil {
		return Calendar{}, fmt.Errorf("working calendar version %d: %w", wc.Version, err)
	}
	return cal, nil
}

// remember keeps cal, read at at, unless a newer version read within
// the refresh time is kept (a read that raced with this copy's own save).
func (s *Service) remember(cal Calendar, version int, at time.Time) {
	s.cals.mu.Lock()
	defer s.cals.mu.Unlock()
	if age := at.Sub(s.cals.at); s.cals.loaded && version < s.cals.version && age >= 0 && age < s.opts.CalendarRefresh {
		return
	}
	s.cals.cal, s.cals.version, s.cals.at, s.cals.loaded = cal, version, at, true
}

// CalendarView is the working calendar as staff see it.
type CalendarView struct {
	Holidays  []string
	Workdays  []string
	Saved     bool // false: the configuration's lists (never saved by staff)
	Version   int
	UpdatedBy int64
	UpdatedAt time.Time
	Hours     string  // "09:00-17:00", from the configuration
	Weekdays  [7]bool // by time.Weekday, from the configuration
}

func (s *Service) calendarView(wc model.WorkCalendar, cal Calendar) CalendarView {
	return CalendarView{Holidays: cal.Holidays(), Workdays: cal.Workdays(), Saved: wc.Version > 0, Version: wc.Version,
		UpdatedBy: wc.UpdatedBy, UpdatedAt: wc.UpdatedAt, Hours: cal.Hours(), Weekdays: cal.Weekdays()}
}

// Calendar returns the working calendar in force, read now from the
// database (caseworkers and admins).
func (s *Service) Calendar(ctx context.Context) (CalendarView, error) {
	if _, err := requireCaseworker(ctx); err != nil {
		return CalendarView{}, err
	}
	wc, err := s.store.WorkCalendar(ctx)
	if err != nil {
		return CalendarView{}, fmt.Errorf("working calendar: %w", err)
	}
	cal, err := s.calendarOf(wc)
	if err != nil {
		return CalendarView{}, err
	}
	s.remember(cal, wc.Version, s.now())
	return s.calendarView(wc, cal), nil
}

// Limits of the calendar's lists.
const (
	MaxCalendarDates = 400
	minCalendarYear  = 2000
	maxCalendarYear  = 2099
)

// CalendarInput replaces the holidays and the make-up working days. Both
// lists are required (an empty list clears it). Version, when > 0, is the
// version the change was made from: a calendar saved since is 409
// calendar_changed.
type CalendarInput struct {
	Holidays []string
	Workdays []string
	Version  int
}

// cleanDates checks, sorts and dedupes a list of dates; it returns the
// problem in Chinese.
func cleanDates(in []string) ([]string, string) {
	if len(in) > MaxCalendarDates {
		return nil, fmt.Sprintf("最多 %d 个日期", MaxCalendarDates)
	}
	out := make([]string, 0, len(in))
	for _, d := range in {
		d = strings.TrimSpace(d)
		t, err := time.Parse(DateLayout, d)
		if err != nil {
			return nil, fmt.Sprintf("日期格式须为 2026-10-01：%q", d)
		}
		if t.Year() < minCalendarYear || t.Year() > maxCalendarYear {
			return nil, fmt.Sprintf("日期须在 %d–%d 年之间：%s", minCalendarYear, maxCalendarYear, d)
		}
		out = append(out, d)
	}
	slices.Sort(out)
	return slices.Compact(out), ""
}

// clean checks the input and returns it cleaned, or the problems
// (Chinese) by field.
func (in CalendarInput) clean() (CalendarInput, map[string]string) {
	bad := map[string]string{}
	out := CalendarInput{Version: in.Version}
	var msg string
	if in.Holidays == nil {
		bad["holidays"] = "必填（没有节假日时传空列表）"
	} else if out.Holidays, msg = cleanDates(in.Holidays); msg != "" {
		bad["holidays"] = msg
	}
	if in.Workdays == nil {
		bad["workdays"] = "必填（没有调休工作日时传空列表）"
	} else if out.Workdays, msg = cleanDates(in.Workdays); msg != "" {
		bad["workdays"] = msg
	}
	if in.Version < 0 {
		bad["version"] = "须为正整数"
	}
	if len(bad) == 0 {
		var both []string
		for _, d := range out.Workdays {
			if _, found := slices.BinarySearch(out.Holidays, d); found {
				both = append(both, d)
			}
		}
		if len(both) > 0 {
			bad["workdays"] = "同一天不能既是节假日又是调休工作日：" + strings.Join(both, "、")
		}
	}
	if len(bad) > 0 {
		return CalendarInput{}, bad
	}
	return out, nil
}

// SetCalendar saves the holidays and make-up working days (admins;
// audited). From then on they replace the configuration's lists in every
// copy (within Options.CalendarRefresh; in this one at once). Deadlines
// already set are not recomputed (see Calendar).
func (s *Service) SetCalendar(ctx context.Context, in CalendarInput) (CalendarView, error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return CalendarView{}, err
	}
	in, bad := in.clean()
	if bad != nil {
		return CalendarView{}, model.Invalid(bad)
	}
	cal, err := s.cal.WithDates(in.Holidays, in.Workdays)
	if err != nil { // clean checked the same
		return CalendarView{}, model.Invalid(map[string]string{"workdays": err.Error()})
	}
	before, err := s.store.WorkCalendar(ctx)
	if err != nil {
		return CalendarView{}, fmt.Errorf("working calendar: %w", err)
	}
	beforeCal, err := s.calendarOf(before)
	if err != nil {
		beforeCal = s.cal
	}
	saved, err := s.store.SaveWorkCalendar(ctx, model.WorkCalendar{Holidays: in.Holidays, Workdays: in.Workdays,
		UpdatedBy: p.SubjectID, UpdatedAt: s.now()}, in.Version)
	if err != nil {
		return CalendarView{}, err
	}
	s.remember(cal, saved.Version, s.now())
	s.record(ctx, "cases.calendar", "calendar", "cases",
		map[string]any{"holidays": beforeCal.Holidays(), "workdays": beforeCal.Workdays(), "version": before.Version},
		map[string]any{"holidays": cal.Holidays(), "workdays": cal.Workdays(), "version": saved.Version})
	s.log.InfoContext(ctx, "case calendar saved", "version", saved.Version, "holidays", len(in.Holidays),
		"workdays", len(in.Workdays))
	return s.calendarView(saved, cal), nil
}
