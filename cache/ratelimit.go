package cache

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limiter counts events per key in fixed windows shared by every copy of
// the service. Fixed windows allow up to twice the limit across a window
// edge; that is acceptable for abuse limits and costs one round trip.
type Limiter struct {
	c      Client
	prefix string
}

// NewLimiter returns a limiter whose keys start with prefix.
func NewLimiter(c Client, prefix string) *Limiter {
	return &Limiter{c: c, prefix: prefix}
}

// Allow counts one event for key and reports whether it is within limit
// per window, and when the window ends. Redis errors are returned; callers
// decide whether to fail open.
//
// One MULTI/EXEC round trip: SET NX PX starts the window, INCR counts
// (keeping the TTL), PTTL says when the window ends. No Lua: the embedded
// Redis builds a Lua interpreter per script call (~200 µs and ~200 KiB of
// garbage per request; bench/README.md), and this runs on every API call.
func (l *Limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	k := l.prefix + key
	var incr *redis.IntCmd
	var ttl *redis.DurationCmd
	_, err := l.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, k, 0, window)
		incr = p.Incr(ctx, k)
		ttl = p.PTTL(ctx, k)
		return nil
	})
	if err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	retry := ttl.Val()
	if retry < 0 {
		retry = window
	}
	return incr.Val() <= int64(limit), retry, nil
}
