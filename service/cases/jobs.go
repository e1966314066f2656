package cases

import (
	"context"
	"time"

	"wanjia/job"
)

// Background task types.
const (
	TaskSweep     = "cases:sweep"
	TaskRetention = "cases:retention"
)

// RetentionAt is when the daily anonymisation runs (Asia/Shanghai).
const RetentionAt = "03:40"

// Register adds the cases' handlers and schedules to r (before r.Start):
// the SLA sweep every interval (one minute when 0) and the retention run
// daily at RetentionAt, each once per cluster. Both are idempotent: every
// step is re-checked under the case's row lock and every notice carries a
// dedupe key.
func Register(r *job.Runner, s *Service, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	r.Handle(TaskSweep, func(ctx context.Context, _ []byte) error {
		res, err := s.Sweep(ctx)
		if res.Reminded+res.Breached+res.Notices > 0 {
			s.log.InfoContext(ctx, "case sla sweep", "reminded", res.Reminded, "breached", res.Breached, "notices", res.Notices)
		}
		return err
	}, job.MaxRetry(0), job.Timeout(max(interval, time.Minute)))
	r.Every("cases-sla-sweep", interval, TaskSweep, nil)
	r.Handle(TaskRetention, func(ctx context.Context, _ []byte) error {
		_, err := s.Anonymise(ctx)
		return err
	})
	r.DailyAt("cases-retention", RetentionAt, nil, TaskRetention, nil)
}
