package campaigns

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"wanjia/model"
)

// committer writes votes in batches (group commit). Requests submit their
// vote and wait; each writer goroutine takes the first vote waiting and
// every other vote already queued (up to max); when that makes fewer than
// minBatch it waits up to linger for more, then writes them in one call
// and answers each. A ledger transaction has a fixed cost several times
// that of a row (on SQLite ≈130 µs against ≈40 µs of CPU, BenchmarkRecordVotes),
// so under load a short wait buys CPU for the requests themselves; a lone
// vote pays linger in latency.
//
// Goroutines: the writers exit when close has closed the queue and they
// have written what was in it.
type committer struct {
	in       chan *pendingVote
	write    func(ctx context.Context, votes []model.VoteAttempt) []model.VoteOutcome
	max      int
	minBatch int
	linger   time.Duration
	size     prometheus.Histogram

	mu     sync.RWMutex // held for reading while submitting, for writing by close
	closed bool
	wg     sync.WaitGroup
}

type pendingVote struct {
	att  model.VoteAttempt
	done chan model.VoteOutcome
}

// writeTimeout bounds one batch, whatever the requests' contexts: a vote
// whose request gave up is still written (and counted), it is only not
// acknowledged.
const writeTimeout = 30 * time.Second

func newCommitter(writers, max int, linger time.Duration, write func(context.Context, []model.VoteAttempt) []model.VoteOutcome,
	size prometheus.Histogram) *committer {
	c := &committer{in: make(chan *pendingVote, 8*max), write: write, max: max, minBatch: min(16, max), linger: linger, size: size}
	for range writers {
		c.wg.Go(c.run)
	}
	return c
}

var errClosed = model.Errorf(model.ErrUnavailable, "服务正在重启，请稍后再试")

// submit queues att and waits for its outcome. When ctx ends first, the
// vote may still be written; the caller only learns nothing.
func (c *committer) submit(ctx context.Context, att model.VoteAttempt) (model.VoteOutcome, error) {
	p := &pendingVote{att: att, done: make(chan model.VoteOutcome, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return model.VoteOutcome{}, errClosed
	}
	select {
	case c.in <- p:
	case <-ctx.Done():
		c.mu.RUnlock()
		return model.VoteOutcome{}, ctx.Err()
	}
	c.mu.RUnlock()
	select {
	case o := <-p.done:
		return o, nil
	case <-ctx.Done():
		return model.VoteOutcome{}, ctx.Err()
	}
}

func (c *committer) run() {
	batch := make([]*pendingVote, 0, c.max)
	atts := make([]model.VoteAttempt, 0, c.max)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, ok := <-c.in
		if !ok {
			return
		}
		batch = append(batch[:0], first)
		open := true
	drain:
		for open && len(batch) < c.max {
			select {
			case p, ok := <-c.in:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, p)
			default:
				break drain
			}
		}
		if open && len(batch) < c.minBatch && c.linger > 0 {
			timer.Reset(c.linger)
		linger:
			for len(batch) < c.max {
				select {
				case p, ok := <-c.in:
					if !ok {
						break linger
					}
					batch = append(batch, p)
				case <-timer.C:
					break linger
				}
			}
			timer.Stop()
		}
		atts = atts[:0]
		for _, p := range batch {
			atts = append(atts, p.att)
		}
		if c.size != nil {
			c.size.Observe(float64(len(atts)))
		}

		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		outs := c.write(ctx, atts)
		cancel()
		for i, p := range batch {
			p.done <- outs[i]
		}
	}
}

// close stops taking votes and waits until every queued vote is written.
func (c *committer) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.in)
	c.mu.Unlock()
	c.wg.Wait()
}
