package wechat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/cache"

	"wanjia/internal/testutil"
	"wanjia/wechat"
)

func TestCache(t *testing.T) {
	t.Parallel()
	mr, rdb := mustRedis(t)
	var logs testutil.SyncBuffer
	var c cache.ContextCache = wechat.NewCache(rdb, newLogger(&logs))
	ctx := context.Background()

	if v := c.Get("missing"); v != nil {
		t.Errorf("Get(missing) = %#v, want untyped nil", v)
	}
	if c.IsExist("k") {
		t.Errorf("IsExist(k) = true before Set")
	}
	if err := c.Set("k", "v1", time.Minute); err != nil {
		t.Fatalf("Set(k) = %v", err)
	}
	if got := mr.Keys(); len(got) != 1 || got[0] != "wechat:sdk:k" {
		t.Errorf("redis keys = %v, want [wechat:sdk:k]", got)
	}
	// silenceper does val.(string) on any non-nil result.
	if v, ok := c.Get("k").(string); !ok || v != "v1" {
		t.Errorf("Get(k) = %#v, want string v1", c.Get("k"))
	}
	if v := c.GetContext(ctx, "k"); v != "v1" {
		t.Errorf("GetContext(k) = %#v, want v1", v)
	}
	if !c.IsExistContext(ctx, "k") {
		t.Errorf("IsExistContext(k) = false after Set")
	}
	if err := c.SetContext(ctx, "n", 42, time.Minute); err != nil {
		t.Fatalf("SetContext(n) = %v", err)
	}
	if v := c.Get("n"); v != "42" {
		t.Errorf("Get(n) = %#v, want string 42", v)
	}

	mr.FastForward(61 * time.Second)
	if v := c.Get("k"); v != nil {
		t.Errorf("Get(k) after TTL = %#v, want nil", v)
	}

	if err := c.Set("d", "x", time.Minute); err != nil {
		t.Fatalf("Set(d) = %v", err)
	}
	if err := c.Delete("d"); err != nil {
		t.Errorf("Delete(d) = %v", err)
	}
	if err := c.DeleteContext(ctx, "d"); err != nil {
		t.Errorf("DeleteContext(d) again = %v, want nil", err)
	}
	if v := c.Get("d"); v != nil {
		t.Errorf("Get(d) after Delete = %#v, want nil", v)
	}
}

func TestCacheNonPositiveTimeout(t *testing.T) {
	t.Parallel()
	mr, rdb := mustRedis(t)
	c := wechat.NewCache(rdb, newLogger(&testutil.SyncBuffer{}))
	if err := c.Set("k", "old", time.Minute); err != nil {
		t.Fatalf("Set(k) = %v", err)
	}
	// silenceper computes expires_in-1500 s, negative for short-lived tokens.
	for _, d := range []time.Duration{0, -300 * time.Second} {
		if err := c.Set("k", "v", d); err != nil {
			t.Errorf("Set(k, %v) = %v", d, err)
		}
		if v := c.Get("k"); v != nil {
			t.Errorf("Get(k) after Set(k, %v) = %#v, want nil", d, v)
		}
	}
	if mr.Exists("wechat:sdk:k") {
		t.Errorf("key wechat:sdk:k kept forever")
	}
}

func TestCacheRedisDown(t *testing.T) {
	t.Parallel()
	mr, rdb := mustRedis(t)
	var logs testutil.SyncBuffer
	c := wechat.NewCache(rdb, newLogger(&logs))
	mr.Close()
	if v := c.Get("k"); v != nil {
		t.Errorf("Get(k) with redis down = %#v, want nil", v)
	}
	if c.IsExist("k") {
		t.Errorf("IsExist(k) with redis down = true")
	}
	if err := c.Set("k", "v", time.Minute); err == nil {
		t.Errorf("Set(k) with redis down = nil, want an error")
	}
	if err := c.Delete("k"); err == nil {
		t.Errorf("Delete(k) with redis down = nil, want an error")
	}
	if got := logs.String(); strings.Count(got, "level=WARN") != 4 {
		t.Errorf("logs = %q, want 4 warnings", got)
	}
}
