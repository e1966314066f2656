package cases

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Calendar is the working time the first-response clock runs on: working
// hours on working days, minus holidays, plus make-up working days (调休:
// a weekend day the State Council's holiday schedule makes a working day,
// with the normal hours), in one zone. Hand-written: the Go libraries for
// business hours either lack holidays or pull in a holiday feed; this is
// two loops over days.
//
// Which deadlines follow a change of the calendar: a deadline is computed
// from the calendar in force when it is computed — the first-response
// deadline at intake, its extension when a pause ends — and is not
// recomputed when staff change the holidays or make-up days later (the
// case keeps the deadline it was given; staff see it on the case page).
// The sweep's "a quarter of the time left" reminder measures the time
// left with the calendar in force at each sweep. The closure deadline
// counts calendar days and no calendar changes it.
type Calendar struct {
	loc        *time.Location
	start, end time.Duration // offsets from midnight; start < end
	days       [7]bool       // by time.Weekday
	holidays   map[string]bool
	workdays   map[string]bool // make-up working days, whatever their weekday
}

// maxCalendarDays bounds the day loops (ten years), so no input can make
// Add or Between spin.
const maxCalendarDays = 3660

// DateLayout is the format of calendar dates.
const DateLayout = "2006-01-02"

// NewCalendar returns the calendar of hours ("09:00-17:00"), working days
// (by time.Weekday, at least one), holidays and make-up working days
// (comma-separated dates, "2026-10-01,2026-10-02", either may be empty;
// no date in both) in loc.
func NewCalendar(hours string, days [7]bool, holidays, workdays string, loc *time.Location) (Calendar, error) {
	c := Calendar{loc: loc, days: days, holidays: map[string]bool{}, workdays: map[string]bool{}}
	if loc == nil {
		c.loc = shanghai
	}
	a, b, ok := strings.Cut(hours, "-")
	from, err1 := clock(a)
	to, err2 := clock(b)
	if !ok || err1 != nil || err2 != nil || to <= from {
		return Calendar{}, fmt.Errorf("working hours %q: want HH:MM-HH:MM, end after start", hours)
	}
	c.start, c.end = from, to
	some := false
	for _, d := range days {
		some = some || d
	}
	if !some {
		return Calendar{}, fmt.Errorf("working days: none")
	}
	return c.WithDates(splitDates(holidays), splitDates(workdays))
}

func splitDates(s string) []string {
	var out []string
	for _, d := range strings.Split(s, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// WithDates returns c with its holidays and make-up working days replaced
// (dates as DateLayout). A malformed date, or a date in both lists, is an
// error.
func (c Calendar) WithDates(holidays, workdays []string) (Calendar, error) {
	c.holidays, c.workdays = make(map[string]bool, len(holidays)), make(map[string]bool, len(workdays))
	for _, set := range []struct {
		what  string
		dates []string
		into  map[string]bool
	}{{"holiday", holidays, c.holidays}, {"make-up working day", workdays, c.workdays}} {
		for _, d := range set.dates {
			if _, err := time.Parse(DateLayout, d); err != nil {
				return Calendar{}, fmt.Errorf("%s %q: want 2006-01-02", set.what, d)
			}
			set.into[d] = true
		}
	}
	for d := range c.workdays {
		if c.holidays[d] {
			return Calendar{}, fmt.Errorf("%s is both a holiday and a make-up working day", d)
		}
	}
	return c, nil
}

// Holidays returns the holidays, sorted.
func (c Calendar) Holidays() []string { return sortedKeys(c.holidays) }

// Workdays returns the make-up working days, sorted.
func (c Calendar) Workdays() []string { return sortedKeys(c.workdays) }

// Hours returns the working hours as "HH:MM-HH:MM".
func (c Calendar) Hours() string {
	f := func(d time.Duration) string { return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60) }
	return f(c.start) + "-" + f(c.end)
}

// Weekdays returns the working weekdays, by time.Weekday.
func (c Calendar) Weekdays() [7]bool { return c.days }

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// DefaultCalendar is Monday to Friday, 09:00–17:00, Asia/Shanghai, no
// holidays.
func DefaultCalendar() Calendar {
	c, _ := NewCalendar("09:00-17:00", [7]bool{false, true, true, true, true, true, false}, "", "", shanghai)
	return c
}

func clock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// window returns the working window of the day that starts at midnight
// day, and whether the day has one: a make-up working day has one
// whatever its weekday; otherwise a working weekday that is not a
// holiday.
func (c Calendar) window(day time.Time) (time.Time, time.Time, bool) {
	date := day.Format(DateLayout)
	if !c.workdays[date] && (!c.days[day.Weekday()] || c.holidays[date]) {
		return time.Time{}, time.Time{}, false
	}
	return day.Add(c.start), day.Add(c.end), true
}

func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// Add returns the instant when d of working time has passed after t (t
// itself when d ≤ 0). Time outside working hours does not count.
func (c Calendar) Add(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return t
	}
	lt := t.In(c.loc)
	day := midnight(lt)
	for range maxCalendarDays {
		if from, to, ok := c.window(day); ok {
			s := from
			if lt.After(s) {
				s = lt
			}
			if s.Before(to) {
				if avail := to.Sub(s); d <= avail {
					return s.Add(d).In(t.Location())
				} else {
					d -= avail
				}
			}
		}
		day = midnight(day.AddDate(0, 0, 1))
	}
	return t.Add(maxCalendarDays * 24 * time.Hour) // unreachable with sane inputs
}

// Between returns the working time in [a, b) (0 when b is not after a).
func (c Calendar) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	la, lb := a.In(c.loc), b.In(c.loc)
	var total time.Duration
	day := midnight(la)
	for range maxCalendarDays {
		if !day.Before(lb) {
			break
		}
		if from, to, ok := c.window(day); ok {
			s, e := from, to
			if la.After(s) {
				s = la
			}
			if lb.Before(e) {
				e = lb
			}
			if e.After(s) {
				total += e.Sub(s)
			}
		}
		day = midnight(day.AddDate(0, 0, 1))
	}
	return total
}

// Working reports whether t falls inside working hours.
func (c Calendar) Working(t time.Time) bool {
	lt := t.In(c.loc)
	from, to, ok := c.window(midnight(lt))
	return ok && !lt.Before(from) && lt.Before(to)
}
