package job

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseClock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		hour, min  int
		wantErrSub string
	}{
		{"08:30", 8, 30, ""},
		{"8:30", 8, 30, ""},
		{"00:00", 0, 0, ""},
		{"23:59", 23, 59, ""},
		{"24:00", 0, 0, "out of range"},
		{"12:60", 0, 0, "out of range"},
		{"", 0, 0, "want HH:MM"},
		{"0830", 0, 0, "want HH:MM"},
		{"08:3", 0, 0, "want HH:MM"},
		{"008:30", 0, 0, "want HH:MM"},
		{"+8:30", 0, 0, "want HH:MM"},
		{"08:30:00", 0, 0, "want HH:MM"},
		{"８:30", 0, 0, "want HH:MM"}, // full-width digit
	}
	for _, tt := range tests {
		h, m, err := parseClock(tt.in)
		if tt.wantErrSub != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
				t.Errorf("parseClock(%q) = %d, %d, %v, want error %q", tt.in, h, m, err, tt.wantErrSub)
			}
			continue
		}
		if err != nil || h != tt.hour || m != tt.min {
			t.Errorf("parseClock(%q) = %d, %d, %v, want %d, %d, nil", tt.in, h, m, err, tt.hour, tt.min)
		}
	}
}

func FuzzParseClock(f *testing.F) {
	for _, s := range []string{"08:30", "8:30", "23:59", "24:00", "", ":", "1:1", "99:99", "0:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, m, err := parseClock(s)
		if err != nil {
			return
		}
		if h < 0 || h > 23 || m < 0 || m > 59 {
			t.Fatalf("parseClock(%q) = %d, %d, nil: out of range", s, h, m)
		}
		if back := fmt.Sprintf("%d:%02d", h, m); back != s && "0"+back != s {
			t.Fatalf("parseClock(%q) = %d, %d, nil: does not format back", s, h, m)
		}
	})
}

func TestNextDaily(t *testing.T) {
	t.Parallel()
	sh := shanghai
	tests := []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"before today's", time.Date(2026, 5, 1, 7, 0, 0, 0, sh), time.Date(2026, 5, 1, 8, 30, 0, 0, sh)},
		{"exactly at it", time.Date(2026, 5, 1, 8, 30, 0, 0, sh), time.Date(2026, 5, 2, 8, 30, 0, 0, sh)},
		{"after it", time.Date(2026, 5, 1, 8, 30, 0, 1, sh), time.Date(2026, 5, 2, 8, 30, 0, 0, sh)},
		{"month end", time.Date(2026, 4, 30, 23, 0, 0, 0, sh), time.Date(2026, 5, 1, 8, 30, 0, 0, sh)},
		{"year end", time.Date(2026, 12, 31, 9, 0, 0, 0, sh), time.Date(2027, 1, 1, 8, 30, 0, 0, sh)},
		// 2026-05-01 00:10 UTC is 08:10 in Shanghai: today's 08:30 is 20 minutes away.
		{"now in UTC", time.Date(2026, 5, 1, 0, 10, 0, 0, time.UTC), time.Date(2026, 5, 1, 8, 30, 0, 0, sh)},
	}
	for _, tt := range tests {
		if got := nextDaily(tt.now, 8, 30, sh); !got.Equal(tt.want) {
			t.Errorf("%s: nextDaily(%v, 8, 30) = %v, want %v", tt.name, tt.now, got, tt.want)
		}
	}
}

func TestEveryTicksAligned(t *testing.T) {
	t.Parallel()
	r := &Runner{handlers: map[string]handler{}}
	r.Every("s", 5*time.Minute, "t", nil)
	if len(r.errs) != 0 || len(r.schedules) != 1 {
		t.Fatalf("Every() errs = %v, schedules = %d", r.errs, len(r.schedules))
	}
	s := r.schedules[0]
	tests := []struct {
		now, want time.Time
	}{
		{time.Date(2026, 5, 1, 10, 2, 3, 0, time.UTC), time.Date(2026, 5, 1, 10, 5, 0, 0, time.UTC)},
		{time.Date(2026, 5, 1, 10, 5, 0, 0, time.UTC), time.Date(2026, 5, 1, 10, 10, 0, 0, time.UTC)},
		// Two copies a few seconds apart agree on the tick.
		{time.Date(2026, 5, 1, 10, 4, 58, 0, shanghai), time.Date(2026, 5, 1, 10, 5, 0, 0, shanghai)},
	}
	for _, tt := range tests {
		if got := s.next(tt.now); !got.Equal(tt.want) {
			t.Errorf("next(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
	if got, want := s.retention, 5*time.Minute; got != want {
		t.Errorf("retention = %v, want %v", got, want)
	}
}

func TestDefaultRetryDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n      int
		lo, hi time.Duration
	}{
		{0, 7500 * time.Millisecond, 15 * time.Second},
		{1, 15 * time.Second, 30 * time.Second},
		{3, 60 * time.Second, 120 * time.Second},
		{8, 30 * time.Minute, time.Hour},  // 15s<<8 = 64m, capped
		{40, 30 * time.Minute, time.Hour}, // no overflow
		{-1, 30 * time.Minute, time.Hour},
	}
	for _, tt := range tests {
		for range 50 {
			if got := DefaultRetryDelay(tt.n, errors.New("x")); got < tt.lo || got >= tt.hi {
				t.Errorf("DefaultRetryDelay(%d) = %v, want in [%v, %v)", tt.n, got, tt.lo, tt.hi)
				break
			}
		}
	}
}

func TestCeilSecond(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want time.Duration }{
		{-time.Second, 0},
		{0, 0},
		{time.Nanosecond, time.Second},
		{500 * time.Millisecond, time.Second},
		{time.Second, time.Second},
		{1500 * time.Millisecond, 2 * time.Second},
	}
	for _, tt := range tests {
		if got := ceilSecond(tt.in); got != tt.want {
			t.Errorf("ceilSecond(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
