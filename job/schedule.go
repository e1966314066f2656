package job

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// shanghai is the zone of DailyAt when it is given a nil location. China has
// kept UTC+8 without daylight saving since 1991, so a fixed zone is exact and
// needs no tz database on the host.
var shanghai = time.FixedZone("Asia/Shanghai", 8*60*60)

// schedule is a named series of ticks, each enqueued as one task.
type schedule struct {
	name      string
	taskType  string
	payload   []byte
	retention time.Duration
	next      func(now time.Time) time.Time // the first tick after now
}

// Every runs a task of taskType with payload every interval, once per
// cluster: every copy ticks at the same instants (multiples of interval
// since the zero time, UTC, as by time.Truncate) and enqueues the tick with
// the id name+":"+unix seconds of the tick, so the first copy's task wins
// and the others' enqueues are duplicates that do nothing. The completed
// task is kept for max(interval, 1m), which covers copies whose clocks lag.
// A tick missed while no copy was running is not made up. interval must be
// at least a second; mistakes are reported by Start. Every panics after
// Start.
func (r *Runner) Every(name string, interval time.Duration, taskType string, payload []byte) {
	if interval < time.Second {
		r.addScheduleErr(fmt.Errorf("job: every %s: interval %v is shorter than a second", name, interval))
		return
	}
	r.addSchedule(&schedule{
		name:      name,
		taskType:  taskType,
		payload:   payload,
		retention: max(interval, time.Minute),
		next:      func(now time.Time) time.Time { return now.Truncate(interval).Add(interval) },
	})
}

// DailyAt runs a task of taskType with payload each day at clock ("08:30",
// 24-hour) in loc (nil means Asia/Shanghai), once per cluster, like Every.
func (r *Runner) DailyAt(name, clock string, loc *time.Location, taskType string, payload []byte) {
	hour, minute, err := parseClock(clock)
	if err != nil {
		r.addScheduleErr(fmt.Errorf("job: daily %s: %w", name, err))
		return
	}
	if loc == nil {
		loc = shanghai
	}
	r.addSchedule(&schedule{
		name:      name,
		taskType:  taskType,
		payload:   payload,
		retention: 24 * time.Hour,
		next:      func(now time.Time) time.Time { return nextDaily(now, hour, minute, loc) },
	})
}

func (r *Runner) addScheduleErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustNotBeStarted("a schedule")
	r.errs = append(r.errs, err)
}

func (r *Runner) addSchedule(s *schedule) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustNotBeStarted("a schedule")
	if s.name == "" || strings.Contains(s.name, ":") {
		r.errs = append(r.errs, fmt.Errorf("job: schedule %q: name must be non-empty and without ':'", s.name))
		return
	}
	for _, o := range r.schedules {
		if o.name == s.name {
			r.errs = append(r.errs, fmt.Errorf("job: schedule %s: registered twice", s.name))
			return
		}
	}
	r.schedules = append(r.schedules, s)
}

// nextDaily returns the first hour:minute in loc strictly after now.
func nextDaily(now time.Time, hour, minute int, loc *time.Location) time.Time {
	n := now.In(loc)
	t := time.Date(n.Year(), n.Month(), n.Day(), hour, minute, 0, 0, loc)
	if !t.After(now) {
		t = time.Date(n.Year(), n.Month(), n.Day()+1, hour, minute, 0, 0, loc)
	}
	return t
}

// parseClock parses a 24-hour "HH:MM" (one-digit hours allowed: "8:30").
func parseClock(s string) (hour, minute int, err error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !digits(h) || !digits(m) {
		return 0, 0, fmt.Errorf("clock %q: want HH:MM", s)
	}
	hour, _ = strconv.Atoi(h) // digits only, at most two: cannot fail
	minute, _ = strconv.Atoi(m)
	if hour > 23 || minute > 59 {
		return 0, 0, fmt.Errorf("clock %q: out of range", s)
	}
	return hour, minute, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkSchedules reports schedules whose task type has no handler. Callers
// hold r.mu.
func (r *Runner) checkSchedules() error {
	var errs []error
	for _, s := range r.schedules {
		if _, ok := r.handlers[s.taskType]; !ok {
			errs = append(errs, fmt.Errorf("job: schedule %s: no handler for task type %q", s.name, s.taskType))
		}
	}
	return errors.Join(errs...)
}

// runSchedule enqueues each tick of s until ctx is done.
func (r *Runner) runSchedule(ctx context.Context, s *schedule) {
	var last time.Time
	for {
		now := r.opts.Now()
		next := s.next(now)
		if !next.After(last) {
			// The timer fired a hair before the wall clock reached last.
			next = s.next(last)
		}
		timer := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		last = next
		r.tick(ctx, s, next)
	}
}

// tick enqueues the tick at of s, unless another copy did.
func (r *Runner) tick(ctx context.Context, s *schedule, at time.Time) {
	id := s.name + ":" + strconv.FormatInt(at.Unix(), 10)
	_, dup, err := r.enqueue(ctx, s.taskType, s.payload, ID(id), Retention(s.retention))
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return // shutting down
		}
		r.metrics.ticks.WithLabelValues(s.name, tickError).Inc()
		r.log.Error("job schedule tick", "schedule", s.name, "id", id, "err", err)
	case dup:
		r.metrics.ticks.WithLabelValues(s.name, tickDuplicate).Inc()
	default:
		r.metrics.ticks.WithLabelValues(s.name, tickEnqueued).Inc()
	}
}
