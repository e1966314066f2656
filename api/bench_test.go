//go:build unix

package api_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"wanjia/api"
	"wanjia/wechat"
)

// The benchmarks below measure what the middleware stack of NewServer
// costs per request compared with a bare gin route (bench/README.md). They
// run in process through ServeHTTP, so they show the stack's own CPU and
// allocations without the network; bench/middleware.sh measures the same
// comparison over loopback with wrk. Compare them with benchstat:
//
//	go test -run '^$' -bench 'BareGin|FullStack' -benchtime 2s -count 6 ./api > api.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col .name api.txt
//
// (bench/gobench.sh does this.)

// BenchmarkBareGin is the baseline: gin.New and one handler.
func BenchmarkBareGin(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	benchGET(b, r, "/healthz")
}

// BenchmarkFullStack is api.NewServer with every middleware (recovery,
// request id, access log and latency histogram, CORS, body limit) serving
// GET /healthz, the route bench/middleware.sh uses. The access log is
// written as the binary writes it at the default level (JSON through the
// secret scrubber), to io.Discard.
func BenchmarkFullStack(b *testing.B) {
	benchGET(b, mustBenchServer(b, jsonLogger()), "/healthz")
}

// BenchmarkFullStackNoLog is BenchmarkFullStack with the access log off
// (the default discarding logger, as with WANJIA_LOG_LEVEL=warn).
func BenchmarkFullStackNoLog(b *testing.B) {
	benchGET(b, mustBenchServer(b, nil), "/healthz")
}

// BenchmarkFullStackRateLimited serves a route under /api behind the
// per-IP rate limiter, like every /api route of routes.go. The limiter
// makes one Redis round trip per request (EVALSHA of a Lua script); here
// to miniredis over loopback TCP in this process, as the zero-config
// binary does, so the Lua interpreter's cost lands in this benchmark. It
// is not part of the "stack against a bare route" target; it shows what
// the limiter adds on top.
func BenchmarkFullStackRateLimited(b *testing.B) {
	benchGET(b, mustBenchServer(b, jsonLogger()), "/api/bench/ok")
}

// jsonLogger logs as cmd/wanjia does by default, to io.Discard.
func jsonLogger() *slog.Logger {
	return slog.New(wechat.NewScrubHandler(slog.NewJSONHandler(io.Discard, nil)))
}

// mustBenchServer is NewServer with miniredis, a rate high enough never to
// answer 429 (the cost measured is the round trip) and benchRoutes.
func mustBenchServer(tb testing.TB, log *slog.Logger) http.Handler {
	tb.Helper()
	return mustServer(tb, api.Deps{Logger: log, RatePerIP: 1e9, Extra: []func(*api.Router){benchRoutes}})
}

// benchRoutes adds a route under /api behind the per-IP rate limiter, like
// every /api route of routes.go, that answers as /healthz does.
func benchRoutes(r *api.Router) {
	g := r.Group("/api/bench", "bench", "", r.RateLimit("api"))
	g.Handle(http.MethodGet, "/ok", "answers ok", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
}

// benchGET serves GET path b.N times, each with a fresh request and
// recorder (the same fixed cost for every benchmark), and fails on any
// answer but 200. Besides sec/op it reports cpu-sec/op, the process's
// user+system CPU time per request (getrusage): on a machine shared with
// other work, being descheduled inflates sec/op but not cpu-sec/op.
func benchGET(b *testing.B, h http.Handler, path string) {
	b.Helper()
	if w := do(h, http.MethodGet, path, ""); w.Code != http.StatusOK {
		b.Fatalf("GET %s = %d %s, want 200", path, w.Code, w.Body)
	}
	b.ReportAllocs()
	cpu0 := mustCPUTime(b)
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s = %d %s, want 200", path, w.Code, w.Body)
		}
	}
	b.ReportMetric((mustCPUTime(b)-cpu0).Seconds()/float64(b.N), "cpu-sec/op")
}

// mustCPUTime is the user+system CPU time of this process so far.
func mustCPUTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
