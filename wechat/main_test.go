package wechat_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/wechat"
)

// quietRedis drops go-redis' own log lines (dial failures in the
// Redis-down tests are expected).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// simRoute is where silenceper's util.DefaultHTTPClient sends WeChat calls:
// the Sim of the (non-parallel) test running, set with useSim.
var simRoute = &switchTransport{}

type switchTransport struct {
	mu sync.Mutex
	rt http.RoundTripper
}

func (s *switchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	rt := s.rt
	s.mu.Unlock()
	if rt == nil {
		return nil, errors.New("no simulator: call useSim first")
	}
	return rt.RoundTrip(r)
}

// useSim routes silenceper's global client to rt until the test ends.
// Tests that call it must not be parallel.
func useSim(t *testing.T, rt http.RoundTripper) {
	t.Helper()
	simRoute.mu.Lock()
	simRoute.rt = rt
	simRoute.mu.Unlock()
	t.Cleanup(func() {
		simRoute.mu.Lock()
		simRoute.rt = nil
		simRoute.mu.Unlock()
	})
}

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{})
	c, err := wechat.NewHTTPClient(wechat.HTTPOptions{Transport: simRoute})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	util.DefaultHTTPClient = c
	os.Exit(m.Run())
}
