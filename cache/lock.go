package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrLocked is returned by TryLock when another holder has the lock.
var ErrLocked = errors.New("cache: lock held elsewhere")

// Lock is a Redis lock (SET NX PX) owned by a random token, so only its
// holder can release it.
type Lock struct {
	c     Client
	key   string
	token string
}

var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// TryLock takes the lock at key for ttl, or returns ErrLocked.
func TryLock(ctx context.Context, c Client, key string, ttl time.Duration) (*Lock, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("lock token: %w", err)
	}
	l := &Lock{c: c, key: key, token: hex.EncodeToString(b)}
	ok, err := c.SetNX(ctx, key, l.token, ttl).Result()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	if !ok {
		return nil, ErrLocked
	}
	return l, nil
}

// Unlock releases the lock if this holder still has it. It uses its own
// short timeout so that a cancelled request still releases.
func (l *Lock) Unlock() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := unlockScript.Run(ctx, l.c, []string{l.key}, l.token).Err(); err != nil {
		return fmt.Errorf("unlock %s: %w", l.key, err)
	}
	return nil
}
