package wechat

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/util"
	"golang.org/x/sync/singleflight"
)

// stableTokenURL is getStableAccessToken (wechat-api.md §2). The HTTP
// client's transport sends it wherever HTTPOptions says.
const stableTokenURL = "https://" + APIHost + "/cgi-bin/stable_token"

// Token service tunables.
const (
	// tokenMargin is cut from expires_in, as silenceper's StableAccessToken
	// does: WeChat renews a stable token 5 min before it expires.
	tokenMargin = 300 * time.Second
	// lockTTL bounds how long a crashed fetcher blocks the others.
	lockTTL = 15 * time.Second
	// flightTimeout bounds one collapsed fetch, waiting included.
	flightTimeout = 20 * time.Second
	// degradedInterval is the least time between two upstream fetches per
	// app id per process while Redis is down (daily quota: 2000).
	degradedInterval = 10 * time.Second
	// rejectedTTL is how long an invalidated token is remembered, to tell
	// a stable_token answer that hands it back again (see fetchFresh).
	rejectedTTL = 10 * time.Minute
	// pollMin and pollMax bound the backoff of copies waiting for the fetcher.
	pollMin = 5 * time.Millisecond
	pollMax = 100 * time.Millisecond
)

// errRedisDown marks token errors caused by Redis being unreachable;
// Translate maps them to model.ErrUnavailable.
var errRedisDown = errors.New("redis down")

// errMiss is load's "no usable token in Redis".
var errMiss = errors.New("token miss")

// errLockGone is wait's "the fetcher released the lock without a token".
var errLockGone = errors.New("fetcher gave up")

// Lua scripts. Keys and values are compared, never assumed, so a slow copy
// cannot delete what another copy wrote in between.
var (
	// releaseScript deletes the lock only if this copy still owns it.
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`)
	// invalidateScript deletes the cached token only if it is still the
	// one that failed, and remembers it as rejected.
	invalidateScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
	redis.call('DEL', KEYS[1])
	redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
	return 1
end
return 0`)
	// storeScript writes token and expiry with the key's TTL in one step.
	storeScript = redis.NewScript(`
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'expires_at', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)
)

// TokenOptions configures a TokenService.
type TokenOptions struct {
	AppID  string
	Secret string
	// Redis holds the cluster's token (wechat:token:{appid}) and the fetch lock.
	Redis redis.UniversalClient
	// HTTP calls stable_token; use NewHTTPClient's client. Required.
	HTTP *http.Client
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer receives wanjia_wechat_token_fetches_total{appid,result};
	// nil records nothing. Services sharing a Registerer share the counter.
	Registerer prometheus.Registerer
	// Now is the clock for token expiry and the outage fetch limit; nil is time.Now.
	Now func() time.Time
}

// TokenService keeps one access_token per app id for the whole cluster,
// fetched with stable_token and shared through Redis:
//
//   - Get reads wechat:token:{appid} (a hash of token and expires_at, with
//     a TTL of expires_in−300 s). On a miss, callers in this process are
//     collapsed by singleflight, and copies across the cluster by a Redis
//     lock (SET NX PX, released by compare-and-delete): exactly one copy
//     fetches, the others poll the key with backoff, bounded by their ctx.
//   - Invalidate drops the cached token only if it is still the failing one.
//   - Do retries a call once after a token errcode (40001, 42001, 40014).
//   - While Redis is down it serves its in-process copy of the last token
//     until that expires, and fetches upstream at most once per 10 s per
//     process; errors then say Redis is down (model.ErrUnavailable after
//     Translate).
//
// Refetch after a rejection uses force_refresh:false first. stable_token in
// normal mode returns the platform's current token, which is already a new
// one when ours expired (42001/40014) or was superseded by a forced refresh
// elsewhere (40001 "not latest"); forcing instead would invalidate the token
// every other holder of this app id is using (a forced-refresh war) and
// spends a 20-a-day quota. Only if the answer is the very token we saw
// rejected (remembered for 10 min, cluster-wide) does it fetch again with
// force_refresh:true — the one case where the platform still deems a revoked
// token current.
//
// TokenService implements silenceper's credential.AccessTokenContextHandle,
// so OfficialAccount.SetAccessTokenHandle and
// MiniProgram.SetAccessTokenContextHandle make the SDK use it.
type TokenService struct {
	appID  string
	secret string
	rdb    redis.UniversalClient
	http   *http.Client
	log    *slog.Logger
	now    func() time.Time

	key         string // wechat:token:{appid} (braces included: a hash tag)
	lockKey     string // wechat:token:{appid}:lock
	rejectedKey string // wechat:token:{appid}:rejected

	fetches *prometheus.CounterVec // or nil
	flight  singleflight.Group

	mu           sync.Mutex
	local        token     // the last token seen, for Redis outages
	rejected     string    // the last token invalidated here
	lastDegraded time.Time // the last upstream fetch made while Redis was down
}

var _ credential.AccessTokenContextHandle = (*TokenService)(nil)

// token is an access token and when this service stops using it.
type token struct {
	value     string
	expiresAt time.Time
}

func (t token) validAt(now time.Time) bool { return t.value != "" && now.Before(t.expiresAt) }

// NewTokenService returns the token service of one app id.
func NewTokenService(opts TokenOptions) (*TokenService, error) {
	switch {
	case opts.AppID == "" || opts.Secret == "":
		return nil, errors.New("wechat token: app id and secret required")
	case opts.Redis == nil:
		return nil, errors.New("wechat token: redis required")
	case opts.HTTP == nil:
		return nil, errors.New("wechat token: http client required")
	}
	ts := &TokenService{
		appID:       opts.AppID,
		secret:      opts.Secret,
		rdb:         opts.Redis,
		http:        opts.HTTP,
		log:         opts.Logger,
		now:         opts.Now,
		key:         tokenKey(opts.AppID),
		lockKey:     tokenKey(opts.AppID) + ":lock",
		rejectedKey: tokenKey(opts.AppID) + ":rejected",
	}
	if ts.log == nil {
		ts.log = slog.New(slog.DiscardHandler)
	}
	if ts.now == nil {
		ts.now = time.Now
	}
	if opts.Registerer != nil {
		c, err := register(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanjia_wechat_token_fetches_total",
			Help: "Upstream access_token fetches by app id and result (ok, forced, error, limited).",
		}, []string{"appid", "result"}))
		if err != nil {
			return nil, err
		}
		ts.fetches = c
	}
	return ts, nil
}

// tokenKey is the Redis key of appid's token. The braces are a Redis
// Cluster hash tag: the token, its lock and its rejected marker live in one
// slot, as the Lua scripts that touch two of them require.
func tokenKey(appid string) string { return "wechat:token:{" + appid + "}" }

// AppID returns the app id whose token this service keeps.
func (ts *TokenService) AppID() string { return ts.appID }

// GetAccessToken implements credential.AccessTokenHandle.
func (ts *TokenService) GetAccessToken() (string, error) {
	return ts.GetAccessTokenContext(context.Background())
}

// GetAccessTokenContext implements credential.AccessTokenContextHandle. Inside
// DoContext it returns the token DoContext pinned, so that a retry
// invalidates exactly the token the SDK sent.
func (ts *TokenService) GetAccessTokenContext(ctx context.Context) (string, error) {
	if tok, ok := ctx.Value(pinKey{ts}).(string); ok {
		return tok, nil
	}
	return ts.Get(ctx)
}

// pinKey keys the token DoContext pins for one service.
type pinKey struct{ ts *TokenService }

// Get returns the app's current access token, fetching it (once for the
// whole cluster) when none is cached. Errors: ctx's, upstream errors
// (with their errcode, see Errcode), and errors wrapping errRedisDown when
// Redis is down and neither the in-process copy nor a fetch can be used.
func (ts *TokenService) Get(ctx context.Context) (string, error) {
	tok, err := ts.load(ctx)
	switch {
	case err == nil:
		return tok.value, nil
	case !errors.Is(err, errMiss):
		ts.mu.Lock()
		local := ts.local
		ts.mu.Unlock()
		if local.validAt(ts.now()) {
			ts.log.DebugContext(ctx, "wechat token: redis down, using in-process copy", "appid", ts.appID, "err", err)
			return local.value, nil
		}
	}
	// A miss, or Redis down without a copy: collapse this process's callers.
	ch := ts.flight.DoChan("token", func() (any, error) {
		// Detached from the first caller: the others may wait longer.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flightTimeout)
		defer cancel()
		return ts.obtain(fctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("wechat token %s: %w", ts.appID, context.Cause(ctx))
	}
}

// load reads the cluster's token. It returns errMiss when there is none
// or it has expired by ts.now, and Redis errors as they are.
func (ts *TokenService) load(ctx context.Context) (token, error) {
	vals, err := ts.rdb.HMGet(ctx, ts.key, "token", "expires_at").Result()
	if err != nil {
		return token{}, err
	}
	value, _ := vals[0].(string)
	exp, _ := vals[1].(string)
	ms, err := strconv.ParseInt(exp, 10, 64)
	if value == "" || err != nil {
		return token{}, errMiss
	}
	tok := token{value: value, expiresAt: time.UnixMilli(ms)}
	if !tok.validAt(ts.now()) {
		return token{}, errMiss
	}
	ts.mu.Lock()
	ts.local = tok
	ts.mu.Unlock()
	return tok, nil
}

// obtain gets a token once per process flight: from Redis if another copy
// stored one meanwhile, by fetching under the lock, or by waiting for the
// copy that holds it. If that copy gives up, it tries the lock once more.
func (ts *TokenService) obtain(ctx context.Context) (string, error) {
	for attempt := 0; attempt < 2; attempt++ {
		tok, err := ts.load(ctx)
		switch {
		case err == nil:
			return tok.value, nil
		case !errors.Is(err, errMiss):
			return ts.degraded(ctx, err)
		}
		owner := lockOwner()
		got, err := ts.rdb.SetNX(ctx, ts.lockKey, owner, lockTTL).Result()
		if err != nil {
			return ts.degraded(ctx, err)
		}
		if got {
			return ts.fetchLocked(ctx, owner)
		}
		tok, err = ts.wait(ctx)
		switch {
		case err == nil:
			return tok.value, nil
		case errors.Is(err, errLockGone):
			continue
		case ctx.Err() != nil:
			return "", fmt.Errorf("wechat token %s: waiting for another instance: %w", ts.appID, err)
		default:
			return ts.degraded(ctx, err)
		}
	}
	return "", fmt.Errorf("wechat token %s: another instance failed to fetch it", ts.appID)
}

// wait polls for the token another copy is fetching, with backoff. It
// returns errLockGone if the lock disappears without a token, ctx's error,
// or a Redis error.
func (ts *TokenService) wait(ctx context.Context) (token, error) {
	delay := pollMin
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return token{}, ctx.Err()
		case <-timer.C:
		}
		tok, err := ts.load(ctx)
		if err == nil || !errors.Is(err, errMiss) {
			return tok, err
		}
		n, err := ts.rdb.Exists(ctx, ts.lockKey).Result()
		if err != nil {
			return token{}, err
		}
		if n == 0 {
			// The fetcher may have stored and released after our load.
			tok, err := ts.load(ctx)
			if err == nil || !errors.Is(err, errMiss) {
				return tok, err
			}
			return token{}, errLockGone
		}
		delay = min(2*delay, pollMax)
		timer.Reset(delay)
	}
}

// fetchLocked fetches and stores the token while holding the lock, then
// releases the lock.
func (ts *TokenService) fetchLocked(ctx context.Context, owner string) (string, error) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := releaseScript.Run(rctx, ts.rdb, []string{ts.lockKey}, owner).Err(); err != nil {
			ts.log.WarnContext(ctx, "wechat token lock release failed", "appid", ts.appID, "err", err)
		}
	}()
	// Another copy may have stored a token between our load and SET NX.
	if tok, err := ts.load(ctx); err == nil {
		return tok.value, nil
	}
	rejected, err := ts.rdb.Get(ctx, ts.rejectedKey).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		ts.log.WarnContext(ctx, "wechat token: read rejected marker failed", "appid", ts.appID, "err", err)
	}
	tok, err := ts.fetchFresh(ctx, rejected)
	if err != nil {
		return "", err
	}
	ts.store(ctx, tok)
	return tok.value, nil
}

// degraded serves a token while Redis fails with cause: the in-process
// copy until it expires, else at most one upstream fetch per
// degradedInterval per process.
func (ts *TokenService) degraded(ctx context.Context, cause error) (string, error) {
	now := ts.now()
	ts.mu.Lock()
	if ts.local.validAt(now) {
		tok := ts.local.value
		ts.mu.Unlock()
		ts.log.DebugContext(ctx, "wechat token: redis down, using in-process copy", "appid", ts.appID, "err", cause)
		return tok, nil
	}
	if !ts.lastDegraded.IsZero() && now.Sub(ts.lastDegraded) < degradedInterval {
		since := now.Sub(ts.lastDegraded)
		ts.mu.Unlock()
		ts.count("limited")
		return "", fmt.Errorf("wechat token %s: %w (%v) and a token was fetched %v ago; next fetch allowed in %v",
			ts.appID, errRedisDown, cause, since.Round(time.Millisecond), (degradedInterval - since).Round(time.Millisecond))
	}
	ts.lastDegraded = now
	ts.mu.Unlock()

	ts.log.WarnContext(ctx, "wechat token: redis down, fetching without cluster lock", "appid", ts.appID, "err", cause)
	tok, err := ts.fetchFresh(ctx, "")
	if err != nil {
		return "", fmt.Errorf("%w (while %w: %v)", err, errRedisDown, cause)
	}
	ts.store(ctx, tok)
	return tok.value, nil
}

// fetchFresh calls stable_token, and again with force_refresh:true when
// the answer is the token last rejected here or, as read from Redis by
// the caller, anywhere in the cluster (see TokenService).
func (ts *TokenService) fetchFresh(ctx context.Context, rejected string) (token, error) {
	tok, err := ts.fetch(ctx, false)
	if err != nil {
		ts.count("error")
		return token{}, err
	}
	ts.mu.Lock()
	localRejected := ts.rejected
	ts.mu.Unlock()
	if tok.value != rejected && tok.value != localRejected {
		ts.count("ok")
		return tok, nil
	}
	ts.log.WarnContext(ctx, "wechat token: stable_token returned the rejected token; forcing a refresh", "appid", ts.appID)
	tok, err = ts.fetch(ctx, true)
	if err != nil {
		ts.count("error")
		return token{}, err
	}
	ts.count("forced")
	return tok, nil
}

// store keeps tok in process and, if it can, in Redis.
func (ts *TokenService) store(ctx context.Context, tok token) {
	ts.mu.Lock()
	ts.local = tok
	ts.mu.Unlock()
	ttl := tok.expiresAt.Sub(ts.now())
	if ttl <= 0 {
		return
	}
	err := storeScript.Run(ctx, ts.rdb, []string{ts.key},
		tok.value, tok.expiresAt.UnixMilli(), ttl.Milliseconds()).Err()
	if err != nil {
		ts.log.WarnContext(ctx, "wechat token: store in redis failed", "appid", ts.appID, "err", err)
	}
}

// stableTokenResponse is stable_token's answer (wechat-api.md §2).
type stableTokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	ErrCode     int64  `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
}

// fetch calls POST /cgi-bin/stable_token. An errcode answer comes back as
// a *util.CommonError (see Errcode).
func (ts *TokenService) fetch(ctx context.Context, force bool) (token, error) {
	body, err := json.Marshal(map[string]any{
		"grant_type":    "client_credential",
		"appid":         ts.appID,
		"secret":        ts.secret,
		"force_refresh": force,
	})
	if err != nil {
		return token{}, fmt.Errorf("stable_token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, stableTokenURL, bytes.NewReader(body))
	if err != nil {
		return token{}, fmt.Errorf("stable_token: %w", err)
	}
	req.Header.Set("Content-Type", "application/json;charset=utf-8")
	resp, err := ts.http.Do(req)
	if err != nil {
		return token{}, fmt.Errorf("stable_token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return token{}, fmt.Errorf("stable_token: http status %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, peekLimit))
	if err != nil {
		return token{}, fmt.Errorf("stable_token: %w", err)
	}
	var r stableTokenResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return token{}, fmt.Errorf("stable_token: decode: %w", err)
	}
	if r.ErrCode != 0 {
		return token{}, util.NewCommonError("stable_token", r.ErrCode, r.ErrMsg)
	}
	if r.AccessToken == "" || r.ExpiresIn <= 0 {
		return token{}, errors.New("stable_token: answer without access_token or expires_in")
	}
	return token{value: r.AccessToken, expiresAt: ts.now().Add(cacheFor(r.ExpiresIn))}, nil
}

// cacheFor is how long a token that lives expiresIn seconds is used:
// expires_in−300 s, but never less than half its life (simulators hand out
// short-lived tokens).
func cacheFor(expiresIn int64) time.Duration {
	life := time.Duration(expiresIn) * time.Second
	return max(life-tokenMargin, life/2)
}

func (ts *TokenService) count(result string) {
	if ts.fetches != nil {
		ts.fetches.WithLabelValues(ts.appID, result).Inc()
	}
}

// Invalidate forgets bad, the token a call just saw rejected, if it is
// still the cached one: a copy that already stored a fresh token keeps it.
// bad is remembered for 10 min so a fetch that gets it back forces a
// refresh. Redis errors are logged; the in-process copy is dropped anyway.
func (ts *TokenService) Invalidate(ctx context.Context, bad string) {
	if bad == "" {
		return
	}
	ts.mu.Lock()
	if ts.local.value == bad {
		ts.local = token{}
	}
	ts.rejected = bad
	ts.mu.Unlock()
	err := invalidateScript.Run(ctx, ts.rdb, []string{ts.key, ts.rejectedKey}, bad, rejectedTTL.Milliseconds()).Err()
	if err != nil {
		ts.log.WarnContext(ctx, "wechat token: invalidate in redis failed", "appid", ts.appID, "err", err)
	}
}

// Do calls fn with the current token. If fn fails with a token errcode
// (40001, 42001, 40014), it invalidates that token and calls fn once more
// with a fresh one; whatever the second call returns is returned, so it
// never loops. fn's errors come back as they are (not translated).
func (ts *TokenService) Do(ctx context.Context, fn func(token string) error) error {
	tok, err := ts.Get(ctx)
	if err != nil {
		return err
	}
	err = fn(tok)
	code, ok := Errcode(err)
	if !ok || !tokenErrcode(code) {
		return err
	}
	ts.log.InfoContext(ctx, "wechat token rejected; refreshing and retrying once", "appid", ts.appID, "errcode", code)
	ts.Invalidate(ctx, tok)
	tok, gerr := ts.Get(ctx)
	if gerr != nil {
		return fmt.Errorf("refresh token after errcode %d: %w", code, gerr)
	}
	return fn(tok)
}

// DoContext is Do for silenceper calls that fetch their token through this
// service's handle: fn gets a ctx in which GetAccessTokenContext returns
// the token of this attempt, so pass that ctx to the SDK's *Context method.
func (ts *TokenService) DoContext(ctx context.Context, fn func(ctx context.Context) error) error {
	return ts.Do(ctx, func(tok string) error {
		return fn(context.WithValue(ctx, pinKey{ts}, tok))
	})
}

// lockOwner returns a random lock value, so only its owner releases the lock.
func lockOwner() string { return rand.Text() }
