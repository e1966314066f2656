package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/cache"
)

// cachePrefix namespaces the keys silenceper stores through Cache.
const cachePrefix = "wechat:sdk:"

// Cache is silenceper's cache.Cache and cache.ContextCache over a go-redis
// v9 client (silenceper's own Redis cache uses go-redis v8). silenceper
// keeps js-api tickets and, unless a custom handle is set, access tokens in
// it. Keys get the "wechat:sdk:" prefix. Redis errors are logged and read
// as a miss (Get, IsExist) or returned (Set, Delete).
type Cache struct {
	rdb redis.UniversalClient
	log *slog.Logger
}

var (
	_ cache.Cache        = (*Cache)(nil)
	_ cache.ContextCache = (*Cache)(nil)
)

// NewCache returns a Cache over rdb that logs Redis errors to log (nil
// discards them).
func NewCache(rdb redis.UniversalClient, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{rdb: rdb, log: log}
}

// Get is GetContext with a background context.
func (c *Cache) Get(key string) any { return c.GetContext(context.Background(), key) }

// GetContext returns the value as a string, or an untyped nil when the key
// is missing or Redis fails: silenceper type-asserts val.(string) on any
// non-nil result.
func (c *Cache) GetContext(ctx context.Context, key string) any {
	v, err := c.rdb.Get(ctx, cachePrefix+key).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		c.log.WarnContext(ctx, "wechat sdk cache get failed", "key", key, "err", err)
		return nil
	}
	return v
}

// Set is SetContext with a background context.
func (c *Cache) Set(key string, val any, timeout time.Duration) error {
	return c.SetContext(context.Background(), key, val, timeout)
}

// SetContext stores val (a string, []byte, number or bool; silenceper
// stores strings) for timeout. A timeout ≤ 0, which silenceper computes
// from a short expires_in, means "already expired": the key is deleted
// rather than kept forever.
func (c *Cache) SetContext(ctx context.Context, key string, val any, timeout time.Duration) error {
	if timeout <= 0 {
		return c.DeleteContext(ctx, key)
	}
	if err := c.rdb.Set(ctx, cachePrefix+key, val, timeout).Err(); err != nil {
		c.log.WarnContext(ctx, "wechat sdk cache set failed", "key", key, "err", err)
		return fmt.Errorf("wechat cache set: %w", err)
	}
	return nil
}

// IsExist is IsExistContext with a background context.
func (c *Cache) IsExist(key string) bool { return c.IsExistContext(context.Background(), key) }

// IsExistContext reports whether key is present; a Redis error reads as absent.
func (c *Cache) IsExistContext(ctx context.Context, key string) bool {
	n, err := c.rdb.Exists(ctx, cachePrefix+key).Result()
	if err != nil {
		c.log.WarnContext(ctx, "wechat sdk cache exists failed", "key", key, "err", err)
		return false
	}
	return n > 0
}

// Delete is DeleteContext with a background context.
func (c *Cache) Delete(key string) error { return c.DeleteContext(context.Background(), key) }

// DeleteContext removes key; a missing key is not an error.
func (c *Cache) DeleteContext(ctx context.Context, key string) error {
	if err := c.rdb.Del(ctx, cachePrefix+key).Err(); err != nil {
		c.log.WarnContext(ctx, "wechat sdk cache delete failed", "key", key, "err", err)
		return fmt.Errorf("wechat cache delete: %w", err)
	}
	return nil
}
