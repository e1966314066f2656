package cache

import (
	"context"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
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

// SyncedLimiter counts events per key in fixed windows across every copy of
// the service without a Redis round trip per event. Each copy counts in
// process and decides at once; while it has counted anything, a background
// flush adds its new counts to Redis every interval (one pipeline: INCRBY and
// PEXPIRE per key, the key named after its window) and learns the cluster's
// totals from the answers. An event is refused when the cluster total last
// learnt plus this copy's counts since reach the limit.
//
// It trades exactness for cost (cache.Limiter is exact and costs a round
// trip): a copy that has not yet learnt the others' counts for a window
// admits up to the limit on its own, so N copies admit at most N × limit in
// one window (in practice the limit plus what arrives within one interval).
// That is right for generic abuse limits on every request; limits that must
// hold exactly (sign-in attempts, votes) use Limiter or the database. When
// Redis fails, each copy goes on enforcing the limit on what it has seen.
type SyncedLimiter struct {
	c        Client // nil: per-process limits only
	prefix   string
	limit    int64
	window   time.Duration
	interval time.Duration
	now      func() time.Time
	onErr    func(error)

	shards   [limiterShards]limiterShard
	flushing atomic.Bool
}

const (
	limiterShards = 32
	// limiterKeys bounds the keys a copy remembers (per shard: /32): past
	// it, keys of finished windows are dropped, then all of the shard's.
	limiterKeys = 128 << 10
)

type limiterShard struct {
	mu    sync.Mutex
	m     map[string]*limiterEntry
	dirty []*limiterEntry
}

type limiterEntry struct {
	key    string
	win    int64 // window number: Unix time / window
	known  int64 // the cluster's count in win, as last learnt (ours included)
	unsent int64 // counted here in win since the last flush
	dirty  bool
}

// SyncedLimiterOptions configure a SyncedLimiter. Interval defaults to
// 100 ms; OnError (default: nothing) hears failed flushes.
type SyncedLimiterOptions struct {
	Prefix   string
	Limit    int
	Window   time.Duration
	Interval time.Duration
	Now      func() time.Time
	OnError  func(error)
}

// NewSyncedLimiter returns a limiter sharing its counts through c (nil:
// this process only).
func NewSyncedLimiter(c Client, o SyncedLimiterOptions) *SyncedLimiter {
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.Window <= 0 {
		o.Window = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	l := &SyncedLimiter{c: c, prefix: o.Prefix, limit: int64(max(1, o.Limit)), window: o.Window,
		interval: o.Interval, now: o.Now, onErr: o.OnError}
	for i := range l.shards {
		l.shards[i].m = map[string]*limiterEntry{}
	}
	return l
}

// Allow counts one event for key if the limit allows it, and otherwise
// says when the window ends.
func (l *SyncedLimiter) Allow(key string) (bool, time.Duration) {
	now := l.now()
	win := now.UnixNano() / int64(l.window)
	sh := &l.shards[maphash.String(limiterSeed, key)%limiterShards]
	sh.mu.Lock()
	e := sh.m[key]
	if e == nil {
		if len(sh.m) >= limiterKeys/limiterShards {
			sh.forget(win)
		}
		e = &limiterEntry{key: key, win: win}
		sh.m[key] = e
	}
	if e.win != win {
		e.win, e.known, e.unsent = win, 0, 0
	}
	if e.known+e.unsent >= l.limit {
		sh.mu.Unlock()
		return false, time.Duration((win+1)*int64(l.window) - now.UnixNano())
	}
	e.unsent++
	if l.c != nil && !e.dirty {
		e.dirty = true
		sh.dirty = append(sh.dirty, e)
	}
	sh.mu.Unlock()
	// Load first: under load the loop runs and this stays a shared read.
	if l.c != nil && !l.flushing.Load() && l.flushing.CompareAndSwap(false, true) {
		go l.flushLoop()
	}
	return true, 0
}

var limiterSeed = maphash.MakeSeed()

// forget drops the shard's keys of finished windows that wait for no
// flush, or every clean key when that frees nothing (a spray of addresses
// costs bounded memory and, at worst, a fresh count for some of them).
func (sh *limiterShard) forget(win int64) {
	for k, e := range sh.m {
		if e.win < win && !e.dirty {
			delete(sh.m, k)
		}
	}
	if len(sh.m) >= limiterKeys/limiterShards {
		for k, e := range sh.m {
			if !e.dirty {
				delete(sh.m, k)
			}
		}
	}
}

// flushLoop flushes every interval while there is something to flush; it
// ends when a flush finds nothing, so an idle limiter has no goroutine.
func (l *SyncedLimiter) flushLoop() {
	t := time.NewTimer(l.interval)
	defer t.Stop()
	for {
		<-t.C
		if l.Flush() == 0 {
			l.flushing.Store(false)
			// An Allow between the flush and the Store saw the loop
			// running and started none: take its counts.
			if !l.pending() || !l.flushing.CompareAndSwap(false, true) {
				return
			}
		}
		t.Reset(l.interval)
	}
}

func (l *SyncedLimiter) pending() bool {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n := len(sh.dirty)
		sh.mu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}

type limiterFlush struct {
	e    *limiterEntry
	sh   *limiterShard
	win  int64
	incr *redis.IntCmd
}

// Flush sends the counts made since the last flush to Redis and learns
// the cluster's totals; it returns how many keys it sent. The background
// loop calls it; tests may too.
func (l *SyncedLimiter) Flush() int {
	if l.c == nil {
		return 0
	}
	var batch []limiterFlush
	var pipe redis.Pipeliner
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for _, e := range sh.dirty {
			if pipe == nil {
				pipe = l.c.Pipeline()
			}
			k := l.prefix + e.key + ":" + strconv.FormatInt(e.win, 10)
			batch = append(batch, limiterFlush{e: e, sh: sh, win: e.win, incr: pipe.IncrBy(ctx, k, e.unsent)})
			pipe.PExpire(ctx, k, 2*l.window)
			e.known += e.unsent // ours count at once; the answer adds the others'
			e.unsent, e.dirty = 0, false
		}
		clear(sh.dirty)
		sh.dirty = sh.dirty[:0]
		sh.mu.Unlock()
	}
	if len(batch) == 0 {
		return 0
	}
	if _, err := pipe.Exec(ctx); err != nil {
		l.onErr(fmt.Errorf("rate limit flush: %w", err))
		return len(batch)
	}
	for _, f := range batch {
		total := f.incr.Val()
		f.sh.mu.Lock()
		if f.e.win == f.win && total > f.e.known {
			f.e.known = total
		}
		f.sh.mu.Unlock()
	}
	return len(batch)
}

// Keys is how many keys the limiter remembers (for tests and metrics).
func (l *SyncedLimiter) Keys() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
