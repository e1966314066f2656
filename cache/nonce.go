package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrReplayed is returned for a timestamp and nonce already seen with
// another body.
var ErrReplayed = errors.New("cache: nonce replayed")

// Nonce identifies one signed callback for the NonceGuard: the app
// (scope), the timestamp and nonce it was signed with, and a fingerprint
// of its body.
type Nonce struct {
	Scope, Timestamp, Nonce, Fingerprint string
}

func (n Nonce) key() string { return "nonce:" + n.Scope + ":" + n.Timestamp + ":" + n.Nonce }

// NonceGuard remembers the (timestamp, nonce) pairs of signed callbacks for
// TTL (twice the accepted timestamp window, so a pair is remembered for as
// long as its timestamp is accepted), shared by every copy through Redis:
//
//	nonce:<scope>:<timestamp>:<nonce> → fingerprint of the body, TTL
//
// A pair seen again with the same body fingerprint is WeChat re-sending
// the same request (its retries), which the dedupe answers; with another
// body it is a replay of a captured signature and is refused.
type NonceGuard struct {
	c   Client
	ttl time.Duration
}

// NewNonceGuard returns a guard whose entries live for ttl.
func NewNonceGuard(c Client, ttl time.Duration) *NonceGuard {
	return &NonceGuard{c: c, ttl: ttl}
}

// Check records the pair with the body's fingerprint. It returns nil when
// the pair is new or was seen with the same fingerprint, ErrReplayed when
// it was seen with another, and Redis errors as they are (callers decide to
// go on without the guard). Dedupe.BeginGuarded makes the same check in the
// round trip that takes the dedupe key.
func (g *NonceGuard) Check(ctx context.Context, n Nonce) error {
	set := g.setCmd(ctx, n)
	_ = g.c.Process(ctx, set)
	return g.settle(ctx, n, set)
}

// setCmd is the SET NX that records the pair.
func (g *NonceGuard) setCmd(ctx context.Context, n Nonce) *redis.BoolCmd {
	return redis.NewBoolCmd(ctx, "set", n.key(), n.Fingerprint, "px", g.ttl.Milliseconds(), "nx")
}

// settle interprets the SET NX: new, or seen before with the same or
// another fingerprint (one more round trip, only then).
func (g *NonceGuard) settle(ctx context.Context, n Nonce, set *redis.BoolCmd) error {
	ok, err := set.Result()
	if errors.Is(err, redis.Nil) {
		ok, err = false, nil // SET NX answers nil when the key exists
	}
	if err != nil {
		return fmt.Errorf("nonce guard: %w", err)
	}
	if ok {
		return nil
	}
	prev, err := g.c.Get(ctx, n.key()).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil // expired between the two calls: as good as new
	case err != nil:
		return fmt.Errorf("nonce guard: %w", err)
	case prev != n.Fingerprint:
		return ErrReplayed
	}
	return nil
}
