package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// quietHours is a daily window in Asia/Shanghai, in minutes of the day;
// start > end wraps past midnight. off disables it.
type quietHours struct {
	start, end int
	off        bool
}

// parseQuietHours parses "HH:MM-HH:MM" or "off".
func parseQuietHours(s string) (quietHours, error) {
	if strings.EqualFold(strings.TrimSpace(s), "off") {
		return quietHours{off: true}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return quietHours{}, fmt.Errorf("quiet hours %q: want HH:MM-HH:MM or off", s)
	}
	start, err := parseClock(strings.TrimSpace(a))
	if err != nil {
		return quietHours{}, fmt.Errorf("quiet hours %q: %w", s, err)
	}
	end, err := parseClock(strings.TrimSpace(b))
	if err != nil {
		return quietHours{}, fmt.Errorf("quiet hours %q: %w", s, err)
	}
	if start == end {
		return quietHours{off: true}, nil
	}
	return quietHours{start: start, end: end}, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("clock %q: want HH:MM", s)
	}
	return hh*60 + mm, nil
}

// in reports whether t falls in the quiet hours.
func (q quietHours) in(t time.Time) bool {
	if q.off {
		return false
	}
	l := t.In(shanghai)
	m := l.Hour()*60 + l.Minute()
	if q.start < q.end {
		return q.start <= m && m < q.end
	}
	return m >= q.start || m < q.end
}

// release returns t, or the end of the quiet hours t falls in.
func (q quietHours) release(t time.Time) time.Time {
	if !q.in(t) {
		return t
	}
	l := t.In(shanghai)
	end := time.Date(l.Year(), l.Month(), l.Day(), q.end/60, q.end%60, 0, 0, shanghai)
	if !end.After(l) {
		end = end.AddDate(0, 0, 1)
	}
	return end
}
