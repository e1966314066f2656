package cache

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lines keeps the length of each job fair's waitlist in Redis, so a
// signup that joins the line learns its place with one INCR instead of a
// COUNT over the line (which made a signup burst O(n²) in the database).
// The database stays the truth: the counter of a new fair is set to 0 when
// the fair is created; a key that is missing (Redis flushed, key expired)
// is noticed by Join — the INCR made it without an expiry — and the caller
// counts the line and calls Reset. Keys expire after ttl, so a drift (a
// process that died between its commit and its INCR or DECR) lasts at
// most that long.
type Lines struct {
	rdb redis.UniversalClient
	ttl time.Duration
}

// NewLines returns the waitlist counters on rdb; ttl ≤ 0 means 7 days
// (a signup window is days long; an expired key costs one count).
func NewLines(rdb redis.UniversalClient, ttl time.Duration) *Lines {
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	return &Lines{rdb: rdb, ttl: ttl}
}

func lineKey(fairID int64) string { return "wanjia:fair:line:" + strconv.FormatInt(fairID, 10) }

// Join counts one more person in fairID's line and returns the new
// length, or 0 when the counter was not initialised (the caller counts and
// calls Reset). A counter is initialised only by Reset, which gives it an
// expiry; an INCR on a missing key makes one without, which is how Join
// tells the two apart.
func (l *Lines) Join(ctx context.Context, fairID int64) (int64, error) {
	var incr *redis.IntCmd
	var ttl *redis.DurationCmd
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, lineKey(fairID))
		ttl = p.PTTL(ctx, lineKey(fairID))
		return nil
	})
	if err != nil {
		return 0, err
	}
	if ttl.Val() < 0 || incr.Val() < 1 {
		return 0, nil
	}
	return incr.Val(), nil
}

// Leave counts n people out of fairID's line (promoted or cancelled).
func (l *Lines) Leave(ctx context.Context, fairID int64, n int) error {
	if n <= 0 {
		return nil
	}
	return l.rdb.DecrBy(ctx, lineKey(fairID), int64(n)).Err()
}

// Reset sets fairID's line length to what count finds in the database.
// The key is watched from before the count until the write, so a signup
// that joined (or left) meanwhile makes the write fail and the count run
// again (up to three times; then the counter stays unset and the next
// signup tries). With Join's INCR coming after each signup's commit, the
// value written is exact at the moment it is written.
func (l *Lines) Reset(ctx context.Context, fairID int64, count func(context.Context) (int64, error)) error {
	key := lineKey(fairID)
	var err error
	for range 3 {
		err = l.rdb.Watch(ctx, func(tx *redis.Tx) error {
			n, err := count(ctx)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, n, l.ttl)
				return nil
			})
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return err
}
