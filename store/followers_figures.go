package store

import (
	"context"
	"fmt"
	"time"
)

// FollowerFigures counts, from the follower table, the followers whose
// latest subscription is in [from, to) (gained) and those who unsubscribed
// in [from, to) and have not subscribed again since (lost). Each person
// counts once per figure, by the latest event of its kind; the follower
// table keeps these times for good, unlike the message log (180 days).
func (fs *Followers) FollowerFigures(ctx context.Context, from, to time.Time) (gained, lost int64, err error) {
	c := fs.db.conn(ctx)
	if err := c.Model(&followerRow{}).Where("subscribed_at >= ? AND subscribed_at < ?", dbTime(from), dbTime(to)).
		Count(&gained).Error; err != nil {
		return 0, 0, fmt.Errorf("follower figures: %w", err)
	}
	if err := c.Model(&followerRow{}).Where("subscribed = ? AND unsubscribed_at >= ? AND unsubscribed_at < ?",
		false, dbTime(from), dbTime(to)).Count(&lost).Error; err != nil {
		return 0, 0, fmt.Errorf("follower figures: %w", err)
	}
	return gained, lost, nil
}
