package gateway_test

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkHandleText is the callback's hot path: a text message answered
// by a seeded keyword rule from the cache (crisis check, rule match,
// throttled follower touch).
func BenchmarkHandleText(b *testing.B) {
	e := mustEnv(b)
	ctx := context.Background()
	mustHandle(b, e.svc, text("oBench", "warm-up", "0"))
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		r, err := e.svc.Handle(ctx, text("oBench", "你好，我想了解一下12338维权服务", strconv.Itoa(i)))
		if err != nil || r == nil {
			b.Fatalf("Handle() = %v, %v", r, err)
		}
	}
}
