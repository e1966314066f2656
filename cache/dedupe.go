package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DedupeState is what Dedupe.Begin found for a key.
type DedupeState int

// Dedupe states.
const (
	// DedupeNew: the caller holds the key and processes the callback, then
	// calls Claim.Done with its answer or Claim.Release on failure.
	DedupeNew DedupeState = iota
	// DedupeDone: processed already; Claim.Reply is the answer given then.
	DedupeDone
	// DedupeBusy: another copy is still processing after the wait; answer
	// WeChat without a reply (it will not be processed twice).
	DedupeBusy
)

func (s DedupeState) String() string {
	switch s {
	case DedupeDone:
		return "done"
	case DedupeBusy:
		return "busy"
	}
	return "new"
}

// DedupeOptions configure Dedupe; zero values take the defaults.
type DedupeOptions struct {
	ProcessingTTL time.Duration    // lifetime of a "processing" entry (default 60 s)
	DoneTTL       time.Duration    // lifetime of a "done" entry with its reply (default 5 min)
	Wait          time.Duration    // how long Begin waits for another copy to finish (default 800 ms)
	Poll          time.Duration    // how often it looks meanwhile (default 25 ms)
	StaleAfter    time.Duration    // a "processing" entry older than this is taken over (default 3 s)
	Now           func() time.Time // default time.Now
	Logger        *slog.Logger     // failures of Claim.Remember (default: discarded)
}

// Dedupe recognises WeChat's tries of one callback across every copy of
// the service (Redis), with two states per key:
//
//	dedupe:<key> → "p:<owner token>:<start unix ms>"  processing, ProcessingTTL
//	dedupe:<key> → "d:<reply bytes>"                  done, DoneTTL
//
// The first try takes the key (SET NX) and processes; a try that finds
// "done" gets the same reply bytes; one that finds "processing" waits up to
// Wait for "done". A processing entry older than StaleAfter belongs to a
// copy that died mid-way (handlers answer within a second) and is taken
// over, so a crash loses no message; a failed handler releases the key so
// that WeChat's next try processes it again.
type Dedupe struct {
	c     Client
	o     DedupeOptions
	batch *batcher
}

// NewDedupe returns the dedupe on c.
func NewDedupe(c Client, o DedupeOptions) *Dedupe {
	if o.ProcessingTTL <= 0 {
		o.ProcessingTTL = time.Minute
	}
	if o.DoneTTL <= 0 {
		o.DoneTTL = 5 * time.Minute
	}
	if o.Wait <= 0 {
		o.Wait = 800 * time.Millisecond
	}
	if o.Poll <= 0 {
		o.Poll = 25 * time.Millisecond
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 3 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dedupe{c: c, o: o, batch: &batcher{c: c}}
}

// Claim is the outcome of Begin. With State DedupeNew the caller owns the
// key until Done or Release.
type Claim struct {
	State DedupeState
	Reply []byte // DedupeDone: the cached reply

	d     *Dedupe
	key   string
	value string // our "processing" value
}

// casScript replaces KEYS[1] with ARGV[2] (TTL ARGV[3] ms) only while it
// still holds ARGV[1]; with ARGV[2] empty it deletes it.
var casScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == "" then redis.call("DEL", KEYS[1]) else redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3]) end
return 1`)

// Begin looks up key and takes it when it is free. Redis errors are
// returned as they are: callers go on without the dedupe (at least once
// beats dropping a message).
func (d *Dedupe) Begin(ctx context.Context, key string) (*Claim, error) {
	return d.begin(ctx, key, nil, Nonce{})
}

// BeginGuarded is Begin with g's nonce check made in the same round trip
// (pipelined with the SET NX of the key, and with the commands of other
// callers at the same moment). A replayed nonce is ErrReplayed, and the
// key is left as it was.
func (d *Dedupe) BeginGuarded(ctx context.Context, key string, g *NonceGuard, n Nonce) (*Claim, error) {
	return d.begin(ctx, key, g, n)
}

func (d *Dedupe) begin(ctx context.Context, key string, g *NonceGuard, n Nonce) (*Claim, error) {
	rk := "dedupe:" + key
	token := newToken()
	cl := &Claim{d: d, key: rk}
	deadline := d.o.Now().Add(d.o.Wait)
	for spins := 0; ; spins++ {
		now := d.o.Now()
		if spins > 1000 { // keys vanishing and reappearing under us: give up like a busy key
			cl.State = DedupeBusy
			return cl, nil
		}
		cl.value = processingValue(token, now)
		take := redis.NewBoolCmd(ctx, "set", rk, cl.value, "px", d.o.ProcessingTTL.Milliseconds(), "nx")
		if spins == 0 && g != nil {
			nonceCmd := g.setCmd(ctx, n)
			d.batch.do(ctx, nonceCmd, take)
			if err := g.settle(ctx, n, nonceCmd); err != nil {
				if ok, _ := take.Result(); ok { // give the key back untouched
					cl.State = DedupeNew
					_ = cl.Release() // a leftover claim is taken over after StaleAfter
				}
				return nil, err
			}
		} else {
			d.batch.do(ctx, take)
		}
		ok, err := take.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("dedupe begin: %w", err)
		}
		if ok {
			cl.State = DedupeNew
			return cl, nil
		}
		v, err := d.c.Get(ctx, rk).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue // released or expired meanwhile: try to take it
		case err != nil:
			return nil, fmt.Errorf("dedupe begin: %w", err)
		}
		if reply, ok := strings.CutPrefix(v, "d:"); ok {
			cl.State, cl.Reply = DedupeDone, []byte(reply)
			return cl, nil
		}
		if started, ok := processingStart(v); !ok || now.Sub(started) > d.o.StaleAfter {
			took, err := casScript.Run(ctx, d.c, []string{rk}, v, cl.value, d.o.ProcessingTTL.Milliseconds()).Int()
			if err != nil {
				return nil, fmt.Errorf("dedupe take over: %w", err)
			}
			if took == 1 {
				cl.State = DedupeNew
				return cl, nil
			}
			continue
		}
		if !now.Before(deadline) {
			cl.State = DedupeBusy
			return cl, nil
		}
		t := time.NewTimer(min(d.o.Poll, deadline.Sub(now)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("dedupe begin: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// processingStart reads the start time of a "processing" value.
func processingStart(v string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(v, "p:")
	if !ok {
		return time.Time{}, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(rest[i+1:], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// Done records the reply of a processed callback, so WeChat's further
// tries get the same bytes. Only for a DedupeNew claim.
func (cl *Claim) Done(ctx context.Context, reply []byte) error {
	if cl.State != DedupeNew {
		return nil
	}
	set := cl.d.doneCmd(ctx, cl.key, reply)
	cl.d.batch.do(ctx, set)
	if err := set.Err(); err != nil {
		return fmt.Errorf("dedupe done: %w", err)
	}
	return nil
}

// Remember is Done without waiting: the reply is recorded in the next
// pipeline of the dedupe's batcher (another caller's, or its own at most
// postDelay later), so it costs no round trip of its own and the caller
// goes on at once. A failure is logged (DedupeOptions.Logger); the key then
// stays "processing" and a later try takes it over after StaleAfter and
// processes the callback again, as after a crash. reply must not change
// afterwards.
func (cl *Claim) Remember(reply []byte) {
	if cl.State != DedupeNew {
		return
	}
	set := cl.d.doneCmd(context.Background(), cl.key, reply)
	log := cl.d.o.Logger
	key := cl.key
	cl.d.batch.post(func() {
		if err := set.Err(); err != nil {
			log.Warn("dedupe: remember reply", "err", err, "key", key)
		}
	}, set)
}

// doneCmd is the SET of a "done" entry.
func (d *Dedupe) doneCmd(ctx context.Context, key string, reply []byte) *redis.StatusCmd {
	v := make([]byte, 0, 2+len(reply))
	v = append(append(v, "d:"...), reply...)
	return redis.NewStatusCmd(ctx, "set", key, v, "px", d.o.DoneTTL.Milliseconds())
}

// Release gives the key up after a failed handler (if this claim still
// holds it), so WeChat's next try is processed again. It uses its own
// short timeout, so a cancelled request still releases.
func (cl *Claim) Release() error {
	if cl.State != DedupeNew {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := casScript.Run(ctx, cl.d.c, []string{cl.key}, cl.value, "", 0).Err(); err != nil {
		return fmt.Errorf("dedupe release: %w", err)
	}
	return nil
}

// newToken names the owner of a claim: unique, not secret.
func newToken() uint64 { return rand.Uint64() }

// processingValue is "p:<token>:<start unix ms>", in one allocation.
func processingValue(token uint64, start time.Time) string {
	var b [48]byte
	v := append(b[:0], "p:"...)
	v = strconv.AppendUint(v, token, 36)
	v = append(v, ':')
	v = strconv.AppendInt(v, start.UnixMilli(), 10)
	return string(v)
}

// batcher coalesces the commands of concurrent callers into pipelines: one
// round trip carries the commands of every caller that arrived while the
// previous round trip was in flight, so under load each request costs a
// fraction of a round trip. There is no goroutine of its own: the first
// caller to find it idle runs a pipeline, then hands the next one over to
// the oldest waiting caller. Commands given to post wait for nobody: they
// ride in the next pipeline a caller runs, or, when none comes within
// postDelay, in one a timer runs.
type batcher struct {
	c     Client
	mu    sync.Mutex
	queue []*batchCall
	spare []*batchCall // a drained queue's array, to be reused
	busy  bool
	armed bool // a timer will run the posted commands
}

type batchCall struct {
	cmds  []redis.Cmder
	lead  chan bool // true: run the next pipeline; false: the commands ran
	after func()    // posted commands: called once they ran (nobody waits on lead)
}

// batchCalls are reused: a call's channel is empty again once do returns
// (it receives exactly one value, or none when its caller led).
var batchCalls = sync.Pool{New: func() any { return &batchCall{lead: make(chan bool, 1)} }}

func putCall(c *batchCall) {
	c.cmds, c.after = nil, nil
	batchCalls.Put(c)
}

// batchTimeout bounds one pipeline, whatever the callers' contexts.
const batchTimeout = 2 * time.Second

// postDelay is how long posted commands wait for another caller's
// pipeline before a timer sends them.
const postDelay = time.Millisecond

// do runs cmds (each carries its own result and error) in a pipeline
// shared with other callers, and returns when they ran.
func (b *batcher) do(ctx context.Context, cmds ...redis.Cmder) {
	call := batchCalls.Get().(*batchCall)
	call.cmds = cmds
	defer putCall(call)
	b.mu.Lock()
	b.queue = append(b.queue, call)
	if b.busy {
		b.mu.Unlock()
		if !<-call.lead {
			return
		}
		b.mu.Lock()
	}
	b.busy = true
	b.lead(ctx, call)
}

// post queues cmds for a later pipeline and returns at once; after is
// called (in whichever goroutine ran the pipeline) once they ran.
func (b *batcher) post(after func(), cmds ...redis.Cmder) {
	call := batchCalls.Get().(*batchCall)
	call.cmds, call.after = cmds, after
	b.mu.Lock()
	b.queue = append(b.queue, call)
	b.arm()
	b.mu.Unlock()
}

// arm starts the timer that sends posted commands, unless a pipeline is
// running (its leader hands the queue on) or the timer is set. b.mu held.
func (b *batcher) arm() {
	if b.busy || b.armed {
		return
	}
	b.armed = true
	time.AfterFunc(postDelay, func() {
		b.mu.Lock()
		b.armed = false
		if b.busy || len(b.queue) == 0 {
			b.mu.Unlock()
			return
		}
		b.busy = true
		b.lead(context.Background(), nil)
	})
}

// lead runs one pipeline of the queue as its leader (self: the leader's
// own call, nil for the timer), then hands the next one over to the oldest
// waiting caller. Called with b.mu held and b.busy set; returns with b.mu
// released.
func (b *batcher) lead(ctx context.Context, self *batchCall) {
	batch := b.queue
	b.queue = b.spare[:0]
	b.mu.Unlock()

	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	pipe := b.c.Pipeline()
	for _, c := range batch {
		for _, cmd := range c.cmds {
			_ = pipe.Process(pctx, cmd)
		}
	}
	_, _ = pipe.Exec(pctx) // each command keeps its own error
	cancel()
	for _, c := range batch {
		switch {
		case c.after != nil:
			c.after()
			putCall(c)
		case c != self:
			c.lead <- false
		}
	}

	b.mu.Lock()
	clear(batch)
	b.spare = batch // the queue's next backing array, once this one is handed back
	var next *batchCall
	for _, c := range b.queue {
		if c.after == nil {
			next = c
			break
		}
	}
	if next == nil { // nobody waiting: posted commands go with the next caller or the timer
		b.busy = false
		if len(b.queue) > 0 {
			b.arm()
		}
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	next.lead <- true
}
