package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"wanjia/cache"
	"wanjia/model"
)

var errNotFound = model.Coded(model.ErrNotFound, "not_found", "内容不存在")

const requestIDHeader = "X-Request-Id"

// requestID takes a well-formed X-Request-Id from the caller (a load
// balancer) or makes one, and echoes it. Made ids are a random per-process
// prefix and a counter: unique across copies, and no system call per
// request (this runs on every request, probes included).
func (s *server) requestID() gin.HandlerFunc {
	var prefix [6]byte
	_, _ = rand.Read(prefix[:])
	pre := hex.EncodeToString(prefix[:]) + "-"
	var n atomic.Uint64
	return func(c *gin.Context) {
		id := c.GetHeader(requestIDHeader)
		if !validRequestID(id) {
			id = pre + strconv.FormatUint(n.Add(1), 36)
		}
		c.Set("request_id", id)
		c.Writer.Header()[requestIDHeader] = []string{id}
		c.Next()
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func requestID(c *gin.Context) string { return c.GetString("request_id") }

// recovery turns a panic into a 500 envelope and a log line with the stack.
func (s *server) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.metrics.panics.Inc()
				s.log.ErrorContext(c.Request.Context(), "panic", "panic", fmt.Sprint(v), "request_id", requestID(c),
					"route", c.FullPath(), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					writeError(c, s.log, errors.New("panic"))
				} else {
					c.Abort()
				}
			}
		}()
		c.Next()
	}
}

// observe writes the access log (route pattern, never the raw URL: query
// strings can carry codes and personal data) and the latency metric.
func (s *server) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		elapsed := time.Since(start)
		code := c.Writer.Status()
		s.metrics.duration.WithLabelValues(c.Request.Method, route, statusText(code)).Observe(elapsed.Seconds())
		if code < 400 && quietRoutes[route] {
			return // probes and scrapes: counted in the metric, not logged
		}
		level := slog.LevelInfo
		if code >= 500 {
			level = slog.LevelError
		}
		s.log.LogAttrs(c.Request.Context(), level, "http",
			slog.String("method", c.Request.Method), slog.String("route", route), slog.Int("status", code),
			slog.Float64("elapsed_ms", float64(elapsed.Microseconds())/1000), slog.Int("bytes", c.Writer.Size()),
			slog.String("request_id", requestID(c)))
	}
}

// statusTexts holds "100".."599", so the metric labels cost no allocation.
var statusTexts = func() (t [600]string) {
	for i := 100; i < len(t); i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusText(code int) string {
	if code >= 100 && code < len(statusTexts) {
		return statusTexts[code]
	}
	return strconv.Itoa(code)
}

// quietRoutes are polled by load balancers and Prometheus every few
// seconds: logging each success would drown the log and cost most of the
// middleware's time (bench/README.md). Failures are still logged.
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// cors allows the console origin only.
func (s *server) cors() gin.HandlerFunc {
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin == "" || s.ConsoleOrigin == "" || origin != s.ConsoleOrigin {
			if c.Request.Method == http.MethodOptions && origin != "" {
				c.AbortWithStatus(http.StatusForbidden)
				return
			}
			c.Next()
			return
		}
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Expose-Headers", requestIDHeader)
		if c.Request.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id")
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}

// bodyLimit caps every request body at Deps.BodyLimit, or at the route's
// own limit when it was registered with Router.HandleBody. (A limitBody in
// a route's own chain can only make the limit smaller.) Engine middleware
// runs after routing, so the route pattern is known here.
func (s *server) bodyLimit() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Body == nil || c.Request.Body == http.NoBody {
			c.Next() // GET and friends: nothing to limit
			return
		}
		n := s.BodyLimit
		if byPath, ok := s.bodyLimits[c.Request.Method]; ok {
			if own, ok := byPath[c.FullPath()]; ok {
				n = own
			}
		}
		checkBody(c, n)
	}
}

func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) { checkBody(c, n) }
}

func checkBody(c *gin.Context, n int64) {
	if c.Request.ContentLength > n {
		writeError(c, slog.New(slog.DiscardHandler), model.Coded(model.ErrTooLarge, "too_large", "请求内容太大"))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
	c.Next()
}

// rateLimit limits requests per client IP per second across every copy.
// The count is kept in process and shared through Redis every 100 ms
// (cache.SyncedLimiter): no round trip on the request's path, and a copy
// whose Redis fails goes on limiting what it sees.
func (s *server) rateLimit(scope string) gin.HandlerFunc {
	prefix := scope + ":"
	return func(c *gin.Context) {
		ok, retry := s.limiter.Allow(prefix + clientIP(c))
		if !ok {
			c.Header("Retry-After", strconv.Itoa(max(1, int((retry+time.Second-1)/time.Second))))
			writeError(c, s.log, model.Coded(model.ErrRateLimited, "rate_limited", "操作太频繁，请稍后再试"))
			return
		}
		c.Next()
	}
}

// newIPLimiter allows twice perSec requests in each second per key (the
// burst Deps.RatePerIP promises), shared through c when it is set.
func newIPLimiter(c cache.Client, perSec float64, log *slog.Logger) *cache.SyncedLimiter {
	var mu sync.Mutex
	var warned time.Time
	return cache.NewSyncedLimiter(c, cache.SyncedLimiterOptions{
		Prefix: "ratelimit:", Limit: max(1, int(perSec*2)), Window: time.Second,
		OnError: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if time.Since(warned) > time.Minute {
				warned = time.Now()
				log.Warn("rate limit: redis failed, limiting per process", "err", err)
			}
		},
	})
}

type httpMetrics struct {
	duration *prometheus.HistogramVec
	panics   prometheus.Counter
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wanjia_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route", "status"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wanjia_http_panics_total", Help: "Handler panics recovered.",
		}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.panics} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	return m, nil
}
