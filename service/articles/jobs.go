package articles

import (
	"context"
	"time"

	"wanjia/job"
)

// Background task types.
const (
	TaskPublishDue = "articles:publish_due"
	TaskSyncStats  = "articles:sync_stats"
)

// Schedule of the background tasks.
const (
	PublishDueEvery = time.Minute // default: a scheduled article goes out within a minute of its time
	SyncStatsAt     = "08:30"     // after WeChat completes the day before (08:00), Asia/Shanghai
)

// Register adds the articles' handlers and schedules to r (before
// r.Start): scheduled publishing and the poll of late results every tick
// (PublishDueEvery when 0) and the statistics sync daily at SyncStatsAt,
// each once per cluster. Both are safe to run twice: publishing claims
// each article with a conditional update, results apply once, the sync
// replaces the days it stores.
func Register(r *job.Runner, s *Service, tick time.Duration) {
	if tick <= 0 {
		tick = PublishDueEvery
	}
	r.Handle(TaskPublishDue, func(ctx context.Context, _ []byte) error {
		n, err := s.PublishDue(ctx)
		if n > 0 {
			s.log.InfoContext(ctx, "scheduled articles published", "count", n)
		}
		return err
	})
	r.Every("articles-publish-due", tick, TaskPublishDue, nil)
	r.Handle(TaskSyncStats, func(ctx context.Context, _ []byte) error {
		_, err := s.SyncStats(ctx)
		return err
	})
	r.DailyAt("articles-sync-stats", SyncStatsAt, nil, TaskSyncStats, nil)
}
