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
	TaskAnchor    = "cases:anchor"
)

// RetentionAt is when the daily anonymisation runs (Asia/Shanghai).
const RetentionAt = "03:40"

// AnchorAt is when the event log's daily anchor (of the midnight before)
// is logged (Asia/Shanghai).
const AnchorAt = "00:10"

// Register adds the cases' handlers and schedules to r (before r.Start):
// the SLA sweep every interval (one minute when 0), the retention run
// daily at RetentionAt and the event log's anchor daily at AnchorAt, each
// once per cluster. All are idempotent: the sweep's and retention's every
// step is re-checked under the case's row lock and every notice carries a
// dedupe key; an anchor computed twice is the same.
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
	r.Handle(TaskAnchor, func(ctx context.Context, _ []byte) error {
		_, err := s.dailyAnchor(ctx)
		return err
	})
	r.DailyAt("cases-anchor", AnchorAt, nil, TaskAnchor, nil)
}
