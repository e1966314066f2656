// Package notifyredis holds the notification centre's Redis pieces: the
// per-app send-rate cap shared by every copy (notify.Limiter) and the
// matching of an acceptance's two reports (notify.Twins).
package notifyredis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"wanjia/service/notify"
)

// DefaultRate is the default send-rate cap per app id, per second.
const DefaultRate = 200

// reserveScript is a GCRA reservation on the Redis clock (TIME, so copies
// with skewed clocks agree): it books the next slot of the app and returns
// how many microseconds to wait for it. KEYS[1] holds the theoretical
// arrival time in µs; ARGV: emission interval µs, burst tolerance µs.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local at = tat - tolerance
if at < now then at = now end
local nexttat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', nexttat), 'PX', string.format('%d', math.floor((nexttat - now) / 1000) + 1000))
return at - now`)

// Limiter spaces sends of each app id evenly at a fixed rate across every
// copy of the service: each Wait books the next free slot atomically in
// Redis and sleeps until it. Nothing is dropped; callers wait their turn
// (a cancelled wait gives its slot up unused). No send goes out before its
// slot; a copy that stalls (a long GC pause, a starved CPU) may send the
// slots its waiters booked together, so in any window w at most
// rate·w + burst + (waiting callers) go out. It implements notify.Limiter.
type Limiter struct {
	rdb       redis.UniversalClient
	interval  time.Duration
	tolerance time.Duration
}

var _ notify.Limiter = (*Limiter)(nil)

// NewLimiter returns a limiter of perSecond sends per app id (DefaultRate
// when ≤ 0) allowing bursts of burst sends (at least 1) after a lull.
func NewLimiter(rdb redis.UniversalClient, perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		perSecond = DefaultRate
	}
	interval := time.Duration(math.Max(1, float64(time.Second/time.Microsecond)/perSecond)) * time.Microsecond
	return &Limiter{rdb: rdb, interval: interval, tolerance: time.Duration(max(burst, 1)-1) * interval}
}

// Wait books the app's next send slot and returns when it comes, or ctx's
// error. Redis failures are returned.
func (l *Limiter) Wait(ctx context.Context, appID string) error {
	us, err := reserveScript.Run(ctx, l.rdb, []string{"notify:rate:{" + appID + "}"},
		l.interval.Microseconds(), l.tolerance.Microseconds()).Int64()
	if err != nil {
		return fmt.Errorf("send rate: %w", err)
	}
	if us <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(us) * time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// matchScript: KEYS[1] counts uncounted reports of this source, KEYS[2]
// those of the other source; ARGV[1] is the window in ms. A report takes
// one waiting twin of the other source (0: it does not count) or waits for
// its own twin (1: it counts).
var matchScript = redis.NewScript(`
local other = tonumber(redis.call('GET', KEYS[2]) or '0')
if other > 0 then
	redis.call('DECR', KEYS[2])
	return 0
end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`)

// DefaultTwinWindow is how long a report waits for its twin.
const DefaultTwinWindow = 10 * time.Minute

// Twins matches the Mini Program's report of a subscribe-message
// acceptance with WeChat's popup event of the same acceptance, so that
// the two count once: the first counts, and the other source's report
// within the window is its twin. It implements notify.Twins.
type Twins struct {
	rdb    redis.UniversalClient
	window time.Duration
}

var _ notify.Twins = (*Twins)(nil)

// NewTwins returns the matcher with window (DefaultTwinWindow when ≤ 0).
func NewTwins(rdb redis.UniversalClient, window time.Duration) *Twins {
	if window <= 0 {
		window = DefaultTwinWindow
	}
	return &Twins{rdb: rdb, window: window}
}

// Match records a report of source ("client" or "event") for key and
// reports whether it counts.
func (t *Twins) Match(ctx context.Context, key, source string) (bool, error) {
	var other string
	switch source {
	case notify.SourceClient:
		other = notify.SourceEvent
	case notify.SourceEvent:
		other = notify.SourceClient
	default:
		return false, errors.New("consent twins: unknown source " + source)
	}
	base := "notify:consent:{" + key + "}:"
	n, err := matchScript.Run(ctx, t.rdb, []string{base + source, base + other}, t.window.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("consent twins: %w", err)
	}
	return n == 1, nil
}
