package wechat_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"wanjia/internal/testutil"
)

// quietRedis drops go-redis' own log lines (dial failures in the
// Redis-down tests are expected).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// simRoute is where silenceper's util.DefaultHTTPClient sends WeChat calls:
// the Sim of the (non-parallel) test running, set with simRoute.Use.
var simRoute = &testutil.SimRoute{}

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{})
	testutil.MainWithSimRoute(m, simRoute)
}
