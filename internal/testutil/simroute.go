package testutil

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/silenceper/wechat/v2/util"

	"wanjia/wechat"
)

// SimRoute is an http.RoundTripper that sends each request to the
// transport the running test set (a wxsim simulator's), and fails with
// "no simulator" while none is set. Tests that use one are not parallel.
//
// Package wechat's own internal tests (package wechat, not wechat_test)
// cannot import testutil, which imports wanjia/wechat.
type SimRoute struct {
	mu sync.Mutex
	rt http.RoundTripper
}

// RoundTrip sends r to the current target.
func (s *SimRoute) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	rt := s.rt
	s.mu.Unlock()
	if rt == nil {
		return nil, errors.New("no simulator")
	}
	return rt.RoundTrip(r)
}

// Use routes requests to rt until tb ends.
func (s *SimRoute) Use(tb testing.TB, rt http.RoundTripper) {
	tb.Helper()
	s.mu.Lock()
	s.rt = rt
	s.mu.Unlock()
	tb.Cleanup(func() {
		s.mu.Lock()
		s.rt = nil
		s.mu.Unlock()
	})
}

// MainWithSimRoute is a TestMain body: it points silenceper's global
// util.DefaultHTTPClient (a wechat.NewHTTPClient client) at route, runs
// the tests and exits with their status.
func MainWithSimRoute(m *testing.M, route *SimRoute) { MainWithTransport(m, route, nil) }

// MainWithTransport is a TestMain body for tests that share one simulator:
// it points silenceper's global util.DefaultHTTPClient (a
// wechat.NewHTTPClient client) at rt, runs the tests, then after (when not
// nil), and exits with the tests' status.
func MainWithTransport(m *testing.M, rt http.RoundTripper, after func()) {
	c, err := wechat.NewHTTPClient(wechat.HTTPOptions{Transport: rt})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	util.DefaultHTTPClient = c
	code := m.Run()
	if after != nil {
		after()
	}
	os.Exit(code)
}
