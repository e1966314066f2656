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

var incrScript = redis.NewScript(`
local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
return {n, redis.call("PTTL", KEYS[1])}`)

// Allow counts one event for key and reports whether it is within limit
// per window, and when the window ends. Redis errors are returned; callers
// decide whether to fail open.
func (l *Limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	res, err := incrScript.Run(ctx, l.c, []string{l.prefix + key}, window.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	retry := time.Duration(res[1]) * time.Millisecond
	if retry < 0 {
		retry = window
	}
	return res[0] <= int64(limit), retry, nil
}
