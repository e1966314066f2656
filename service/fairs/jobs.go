package fairs

import (
	"context"
	"time"

	"wanjia/job"
)

// Background task types.
const (
	TaskExpireOffers = "fairs:expire_offers"
	TaskRemind       = "fairs:remind"
)

// Schedule of the background tasks.
const (
	ExpireOffersEvery = time.Minute // a lapsed offer passes on within a minute
	RemindAt          = "10:00"     // the day-before reminder, Asia/Shanghai
)

// Register adds the fairs' handlers and schedules to r (before r.Start):
// promotion expiry every minute and the day-before reminder daily at
// RemindAt, each once per cluster. Both are idempotent: expiry re-checks
// every offer under a row lock, reminders carry dedupe keys.
func Register(r *job.Runner, s *Service) {
	r.Handle(TaskExpireOffers, func(ctx context.Context, _ []byte) error {
		n, err := s.ExpireOffers(ctx)
		if n > 0 {
			s.log.InfoContext(ctx, "fair offers expired", "promoted", n)
		}
		return err
	})
	r.Every("fairs-expire-offers", ExpireOffersEvery, TaskExpireOffers, nil)
	r.Handle(TaskRemind, func(ctx context.Context, _ []byte) error {
		n, err := s.RemindTomorrow(ctx)
		s.log.InfoContext(ctx, "fair reminders", "sent", n)
		return err
	})
	r.DailyAt("fairs-remind", RemindAt, nil, TaskRemind, nil)
}
