package cases

import (
	"fmt"
	"strings"
	"time"
)

// Calendar is the working time the first-response clock runs on: working
// hours on working days, minus holidays, in one zone. Hand-written: the
// Go libraries for business hours either lack holidays or pull in a
// holiday feed; this is two loops over days.
type Calendar struct {
	loc        *time.Location
	start, end time.Duration // offsets from midnight; start < end
	days       [7]bool       // by time.Weekday
	holidays   map[string]bool
}

// maxCalendarDays bounds the day loops (ten years), so no input can make
// Add or Between spin.
const maxCalendarDays = 3660

// NewCalendar returns the calendar of hours ("09:00-17:00"), working days
// (by time.Weekday, at least one) and holidays ("2026-10-01,2026-10-02",
// may be empty) in loc.
func NewCalendar(hours string, days [7]bool, holidays string, loc *time.Location) (Calendar, error) {
	c := Calendar{loc: loc, days: days, holidays: map[string]bool{}}
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
	for _, h := range strings.Split(holidays, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if _, err := time.Parse("2006-01-02", h); err != nil {
			return Calendar{}, fmt.Errorf("holiday %q: want 2006-01-02", h)
		}
		c.holidays[h] = true
	}
	return c, nil
}

// DefaultCalendar is Monday to Friday, 09:00–17:00, Asia/Shanghai, no
// holidays.
func DefaultCalendar() Calendar {
	c, _ := NewCalendar("09:00-17:00", [7]bool{false, true, true, true, true, true, false}, "", shanghai)
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
// day, and whether the day has one.
func (c Calendar) window(day time.Time) (time.Time, time.Time, bool) {
	if !c.days[day.Weekday()] || c.holidays[day.Format("2006-01-02")] {
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
