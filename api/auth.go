package api

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"wanjia/cache"
	"wanjia/model"
	"wanjia/service/auth"
)

// Authenticator turns bearer tokens into principals (auth.Auth satisfies
// it). Unknown, revoked, expired and other-kind tokens are
// model.ErrUnauthenticated.
type Authenticator interface {
	AuthenticateMP(ctx context.Context, token string) (model.Principal, error)
	AuthenticateStaff(ctx context.Context, token string) (model.Principal, error)
}

func errNoToken() error {
	return model.Coded(model.ErrUnauthenticated, "unauthenticated", "请先登录")
}

// bearerToken reads "Authorization: Bearer <token>" (scheme in any case).
func bearerToken(c *gin.Context) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(c.GetHeader("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authFailed answers 401 with a WWW-Authenticate challenge, or the error's
// own status (503 when Redis is down).
func (s *server) authFailed(c *gin.Context, err error) {
	if status(err) == 401 {
		c.Header("WWW-Authenticate", `Bearer realm="wanjia"`)
	}
	writeError(c, s.log, err)
}

// withPrincipal puts p and the request's ip and id into the request ctx,
// where services read them (model.PrincipalFrom, model.RequestInfoFrom) to
// authorize and audit.
func withPrincipal(c *gin.Context, p model.Principal) {
	ctx := model.WithPrincipal(c.Request.Context(), p)
	ctx = model.WithRequestInfo(ctx, model.RequestInfo{IP: clientIP(c), RequestID: requestID(c)})
	c.Request = c.Request.WithContext(ctx)
}

// requireMP lets through requests with a Mini Program token; anything else
// is 401 unauthenticated.
func (s *server) requireMP() gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := bearerToken(c)
		if !ok {
			s.authFailed(c, errNoToken())
			return
		}
		p, err := s.Accounts.AuthenticateMP(c.Request.Context(), token)
		if err != nil {
			s.authFailed(c, err)
			return
		}
		withPrincipal(c, p)
		c.Next()
	}
}

// requireStaff lets through requests with a staff token whose account
// holds one of roles (an admin holds every role; no roles: any staff).
// No, a wrong-kind, revoked or expired token, or a disabled account: 401
// unauthenticated. A staff member who must change the initial password:
// 403 password_change_required. A missing role: 403 forbidden.
func (s *server) requireStaff(roles ...model.Role) gin.HandlerFunc {
	return s.staffGate(false, roles)
}

// requireStaffSession lets any signed-in staff member through, including
// one who must still change the password: for logout and password change.
func (s *server) requireStaffSession() gin.HandlerFunc { return s.staffGate(true, nil) }

func (s *server) staffGate(allowPasswordChange bool, roles []model.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := bearerToken(c)
		if !ok {
			s.authFailed(c, errNoToken())
			return
		}
		p, err := s.Accounts.AuthenticateStaff(c.Request.Context(), token)
		if err != nil {
			s.authFailed(c, err)
			return
		}
		if p.MustChangePassword && !allowPasswordChange {
			writeError(c, s.log, auth.PasswordChangeRequired())
			return
		}
		if !p.HasRole(roles...) {
			writeError(c, s.log, model.Coded(model.ErrForbidden, "forbidden", "没有权限执行此操作"))
			return
		}
		withPrincipal(c, p)
		c.Next()
	}
}

// loginLimit is the stricter per-IP limit of POST /api/admin/login: at
// most LoginPerMinute attempts a minute per address across every copy
// (Redis), with a per-process limit when Redis fails.
func (s *server) loginLimit() gin.HandlerFunc {
	per := s.LoginPerMinute
	if per <= 0 {
		per = 10
	}
	l := newWindowLimiter(s.Redis, "ratelimit:login:", per, time.Minute, s.log)
	return func(c *gin.Context) {
		ok, retry := l.allow(c.Request.Context(), clientIP(c))
		if !ok {
			c.Header("Retry-After", strconv.Itoa(max(1, int((retry+time.Second-1)/time.Second))))
			writeError(c, s.log, model.Coded(model.ErrRateLimited, "rate_limited", "登录尝试太频繁，请稍后再试"))
			return
		}
		c.Next()
	}
}

// windowLimiter allows limit events per window per key, shared through
// Redis; for 5 s after a Redis failure it uses a token bucket per process.
type windowLimiter struct {
	shared *cache.Limiter
	limit  int
	window time.Duration
	log    *slog.Logger

	mu        sync.Mutex
	local     map[string]*rate.Limiter
	skipUntil time.Time
	warned    time.Time
}

func newWindowLimiter(c cache.Client, prefix string, limit int, window time.Duration, log *slog.Logger) *windowLimiter {
	l := &windowLimiter{limit: limit, window: window, log: log, local: map[string]*rate.Limiter{}}
	if c != nil {
		l.shared = cache.NewLimiter(c, prefix)
	}
	return l
}

func (l *windowLimiter) allow(ctx context.Context, key string) (bool, time.Duration) {
	if l.shared != nil && l.redisUsable() {
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		ok, retry, err := l.shared.Allow(ctx, key, l.limit, l.window)
		if err == nil {
			return ok, retry
		}
		l.redisFailed(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.local) > 100_000 {
		clear(l.local)
	}
	lim, ok := l.local[key]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(float64(l.limit)/l.window.Seconds()), l.limit)
		l.local[key] = lim
	}
	return lim.Allow(), l.window / time.Duration(l.limit)
}

func (l *windowLimiter) redisUsable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().After(l.skipUntil)
}

func (l *windowLimiter) redisFailed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.skipUntil = time.Now().Add(5 * time.Second)
	if time.Since(l.warned) > time.Minute {
		l.warned = time.Now()
		l.log.Warn("login rate limit: redis failed, using per-process limits", "err", err)
	}
}
