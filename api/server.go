// Package api is wanjia's HTTP transport (gin): NewServer, every route in
// routes.go, middleware, handlers that decode, call one service method and
// encode, and errors.go, the one place that maps errors to API.md's
// envelope. *gin.Context never leaves this package.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"wanjia/cache"
	"wanjia/wechat"
)

// Pinger is a dependency that /readyz checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are what the server needs. Services added by later areas are fields
// here, each a small interface declared beside its handlers.
type Deps struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry // /metrics serves it; middleware registers on it
	Version  string

	DB    Pinger
	Redis cache.Client

	// ConsoleOrigin is the staff console's origin for CORS when it is
	// served elsewhere; empty allows no cross-origin calls.
	ConsoleOrigin  string
	BodyLimit      int64   // bytes for JSON bodies
	RatePerIP      float64 // requests per second per client IP (burst twice that per second)
	TrustedProxies []string

	// Console serves the staff console at /console and below (web.Handler);
	// nil leaves it out.
	Console http.Handler

	// Accounts serves sign-in, sessions, staff accounts and the audit log
	// (auth.Auth); nil leaves the /api/mp and /api/admin account routes out.
	Accounts Accounts
	// LoginPerMinute caps POST /api/admin/login attempts per client IP per
	// minute, across every copy; 0 means 10.
	LoginPerMinute int

	// Uploads saves and serves Mini Program images (upload.Records);
	// nil leaves POST /api/mp/uploads and GET /api/files/*key out. The
	// upload route also needs Accounts (it takes a Mini Program token).
	Uploads Uploads
	// UploadsPerHour caps POST /api/mp/uploads per user per hour, across
	// every copy; 0 means 30.
	UploadsPerHour int
	// FileURLPrefix is put before an upload's key to make the url the
	// upload answers; empty means "/api/files/", served by this server.
	// Behind a CDN (or a public bucket) it may be "https://cdn…/".
	FileURLPrefix string

	// Jobs serves the background-job admin routes under /api/admin/jobs
	// (jobs.Service); nil, or a nil Accounts, leaves them out.
	Jobs Jobs
	// ScrubJobError cleans a dead task's error text before an admin sees
	// it (WeChat URLs in errors carry access tokens: wechat.Scrub); nil
	// shows the text as is.
	ScrubJobError func(string) string

	// Gateway handles WeChat callbacks (gateway.Service); nil leaves
	// /wechat/oa/callback and /wechat/mp/callback out. An app gets its route
	// when its endpoint has a token (api/wechat.go).
	Gateway    Gateway
	OACallback wechat.Endpoint
	MPCallback wechat.Endpoint
	// CallbackWindow is the accepted callback timestamp skew; 0 means 300 s.
	CallbackWindow time.Duration
	// MessageLog records every callback (messages.Service); nil logs none.
	MessageLog MessageLog
	// Messages serves GET /api/admin/messages (messages.Service); nil
	// leaves it out.
	Messages Messages

	// GatewayAdmin serves the gateway's staff routes: /api/admin/replies,
	// /crisis-words, /menu, /menu/publish and /followers (gateway.Service);
	// nil leaves them out.
	GatewayAdmin GatewayAdmin

	// Notify serves the notification centre's routes: POST /api/mp/consents,
	// /api/admin/pushes, /deliveries, /notify/templates and /alerts
	// (notify.Service); nil, or a nil Accounts, leaves them out.
	Notify Notifications

	// Fairs serves the job fairs' routes: /api/mp/fairs, /signups, /me/signups
	// and /api/admin/fairs, /checkins, /signups/:id/placement (fairs.Service);
	// nil, or a nil Accounts, leaves them out.
	Fairs Fairs

	// Articles serves /api/admin/articles and /columns (articles.Service);
	// Figures serves /api/admin/stats/overview and /reports/annual
	// (stats.Service); TOTP serves /api/admin/totp and
	// /staff/:id/totp (auth.Auth). Each nil, or a nil Accounts, leaves its
	// routes out.
	Articles Articles
	Figures  Figures
	TOTP     TOTP
	// Cases serves the 12338 routes: /api/mp/cases, /me/cases and
	// /api/admin/cases, /stations (cases.Service); nil, or a nil Accounts,
	// leaves them out.
	Cases Cases
	// Lessons serves the micro-lessons' routes: /api/mp/courses, /lessons and
	// /api/admin/courses, /lessons, and a lesson's figures in
	// /api/admin/pushes/:id (lessons.Service); nil, or a nil Accounts,
	// leaves them out.
	Lessons Lessons
	// Campaigns serves 最美家庭: /api/mp/campaigns, /nominations, /me/nominations
	// and /api/admin/campaigns, /nominations (campaigns.Service); nil, or a
	// nil Accounts, leaves them out.
	Campaigns Campaigns

	// Extra registers routes of areas that are wired outside this package
	// (for example the WeChat callback gateway); nil for none.
	Extra []func(r *Router)
}

// server holds the dependencies shared by handlers.
type server struct {
	Deps
	log     *slog.Logger
	metrics *httpMetrics
	limiter *cache.SyncedLimiter
	routes  []routeSpec
	// bodyLimits are the routes registered with HandleBody and their own
	// body limit, by method and full path.
	bodyLimits map[string]map[string]int64
	callbacks  *callbacks // api/wechat.go; nil without a Gateway
}

// Server is the HTTP handler: the gin engine with every route.
type Server struct {
	*gin.Engine
	s *server
}

// NewServer builds the gin engine with every route and middleware.
func NewServer(d Deps) (*Server, error) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.BodyLimit <= 0 {
		d.BodyLimit = 1 << 20
	}
	if d.RatePerIP <= 0 {
		d.RatePerIP = 20
	}
	m, err := newHTTPMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	if d.UploadsPerHour <= 0 {
		d.UploadsPerHour = 30
	}
	if d.FileURLPrefix == "" {
		d.FileURLPrefix = filesPrefix
	}
	if d.ScrubJobError == nil {
		d.ScrubJobError = func(s string) string { return s }
	}
	s := &server{Deps: d, log: d.Logger, metrics: m, limiter: newIPLimiter(d.Redis, d.RatePerIP, d.Logger),
		bodyLimits: map[string]map[string]int64{}}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		return nil, err
	}
	r.Use(s.recovery(), s.requestID(), s.observe(), s.cors(), s.bodyLimit())
	r.NoRoute(func(c *gin.Context) {
		writeError(c, s.log, errNotFound)
	})
	r.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, errorBody{Error: errorDetail{
			Code: "method_not_allowed", Message: "不支持的请求方法"}})
	})
	if err := s.prepareCallbacks(); err != nil {
		return nil, err
	}
	s.addRoutes(&Router{s: s, g: &r.RouterGroup})
	return &Server{Engine: r, s: s}, nil
}

// Router registers routes and records them for /api/openapi.json, so the
// document covers every route by construction.
type Router struct {
	s      *server
	g      *gin.RouterGroup
	prefix string
	tag    string
	auth   string
}

// Group returns a router under prefix with the given middleware; auth
// names the security scheme for the OpenAPI document ("", "mp", "staff").
func (rt *Router) Group(prefix, tag, auth string, mw ...gin.HandlerFunc) *Router {
	return &Router{s: rt.s, g: rt.g.Group(prefix, mw...), prefix: rt.prefix + prefix, tag: tag, auth: auth}
}

// Handle registers a route with its OpenAPI summary.
func (rt *Router) Handle(method, path, summary string, h ...gin.HandlerFunc) {
	rt.g.Handle(method, path, h...)
	rt.s.routes = append(rt.s.routes, routeSpec{
		Method: method, Path: rt.prefix + path, Summary: summary, Tag: rt.tag, Auth: rt.auth,
	})
}

// HandleBody registers a route like Handle whose request body may be up to
// limit bytes instead of Deps.BodyLimit (larger or smaller): for uploads
// and callbacks. Like the server's limit, it is checked before the group's
// middleware (rate limits, authentication) runs.
func (rt *Router) HandleBody(method, path, summary string, limit int64, h ...gin.HandlerFunc) {
	if rt.s.bodyLimits[method] == nil {
		rt.s.bodyLimits[method] = map[string]int64{}
	}
	rt.s.bodyLimits[method][rt.prefix+path] = limit
	rt.Handle(method, path, summary, h...)
}

// Wrap exposes wrap to route registrations outside this package.
func (rt *Router) Wrap(h func(c *gin.Context) error) gin.HandlerFunc { return rt.s.wrap(h) }

type routeSpec struct {
	Method, Path, Summary, Tag, Auth string
}

func requestTimeout(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// clientIP is the caller's address as gin resolves it through the trusted
// proxies.
func clientIP(c *gin.Context) string {
	ip := c.ClientIP()
	if ip == "" {
		ip = strings.Split(c.Request.RemoteAddr, ":")[0]
	}
	return ip
}

// RateLimit exposes the per-IP limiter to route registrations outside this
// package.
func (rt *Router) RateLimit(scope string) gin.HandlerFunc { return rt.s.rateLimit(scope) }

// sendBytes answers body with its Content-Length: net/http would otherwise
// send a body over 2 KiB chunked, in more writes and with more framing for
// the client to parse.
func sendBytes(c *gin.Context, code int, contentType string, body []byte) {
	c.Header("Content-Length", strconv.Itoa(len(body)))
	c.Data(code, contentType, body)
}

// acceptsGzip reports whether an Accept-Encoding header value accepts gzip
// with a q-value above 0 (RFC 9110 §12.5.3): gzip's own entry wins over
// "*"; a malformed q counts as 0.
func acceptsGzip(h string) bool {
	gzipQ, starQ := -1.0, -1.0
	for part := range strings.SplitSeq(h, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.TrimSpace(coding)
		if !strings.EqualFold(coding, "gzip") && coding != "*" {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(p, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		if coding == "*" {
			starQ = q
		} else {
			gzipQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}
