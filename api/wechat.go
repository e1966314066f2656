package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"wanjia/cache"
	"wanjia/model"
	"wanjia/wechat"
)

// Gateway handles one verified WeChat callback (gateway.Service satisfies
// it). Handle returns the passive reply (nil: none) within ctx's deadline;
// an error makes WeChat try again. IsCrisis reports whether a text holds a
// crisis word, for the message log's flag.
type Gateway interface {
	Handle(ctx context.Context, m model.InboundMessage) (*model.Reply, error)
	IsCrisis(text string) bool
}

// MessageLog keeps every callback (messages.Service satisfies it). Record
// must not block.
type MessageLog interface {
	Record(ctx context.Context, m model.InboundMessage, crisis bool)
}

// Callback timing.
const (
	defaultCallbackWindow = 300 * time.Second
	handleTimeout         = 900 * time.Millisecond // WeChat waits 5 s; answer within 1 s
	callbackTimeout       = 4 * time.Second        // the whole request, dedupe wait included
	minDoneTTL            = 5 * time.Minute
)

// callbacks serves /wechat/oa/callback and /wechat/mp/callback.
type callbacks struct {
	gw      Gateway
	msgLog  MessageLog
	log     *slog.Logger
	window  time.Duration
	now     func() time.Time
	nonces  *cache.NonceGuard
	dedupe  *cache.Dedupe
	codecs  map[model.App]*wechat.Codec
	metrics *callbackMetrics
}

// prepareCallbacks builds the callback codecs when a Gateway is wired: an
// app whose endpoint has a token gets a route; a malformed AES key stops
// the start.
func (s *server) prepareCallbacks() error {
	if s.Gateway == nil {
		return nil
	}
	if s.Redis == nil {
		return errors.New("api: wechat callbacks need redis (nonce guard and dedupe)")
	}
	window := s.CallbackWindow
	if window <= 0 {
		window = defaultCallbackWindow
	}
	cb := &callbacks{
		gw: s.Gateway, msgLog: s.MessageLog, log: s.log, window: window, now: time.Now,
		nonces: cache.NewNonceGuard(s.Redis, 2*window),
		// A finished callback is remembered for as long as its timestamp
		// is accepted, so no re-sent copy is processed again.
		dedupe: cache.NewDedupe(s.Redis, cache.DedupeOptions{DoneTTL: max(minDoneTTL, 2*window), Logger: s.log}),
		codecs: map[model.App]*wechat.Codec{},
	}
	for app, ep := range map[model.App]wechat.Endpoint{model.AppOA: s.OACallback, model.AppMP: s.MPCallback} {
		if ep.Token == "" {
			continue
		}
		c, err := wechat.NewCodec(app, ep)
		if err != nil {
			return fmt.Errorf("api: %w", err)
		}
		cb.codecs[app] = c
	}
	m, err := newCallbackMetrics(s.Registry)
	if err != nil {
		return err
	}
	cb.metrics = m
	s.callbacks = cb
	return nil
}

// addCallbackRoutes registers the WeChat callbacks off the root: not under
// /api's per-IP rate limit (WeChat calls from few addresses and must never
// be limited), with a 64 KiB body limit, answering WeChat's protocol
// (plain text, no JSON envelope).
func (s *server) addCallbackRoutes(r *Router) {
	cb := s.callbacks
	if cb == nil {
		return
	}
	// No requestTimeout middleware: handleMessage bounds its own context
	// (callbackTimeout) without copying the request.
	g := r.Group("/wechat", "wechat", "")
	names := map[model.App]string{model.AppOA: "Official Account", model.AppMP: "Mini Program message push"}
	for _, app := range []model.App{model.AppOA, model.AppMP} {
		c, ok := cb.codecs[app]
		if !ok {
			continue
		}
		path := "/" + string(app) + "/callback"
		g.HandleBody(http.MethodGet, path, names[app]+" URL verification: echoes echostr after the signature check",
			wechat.MaxCallbackBody, cb.handleVerify(c))
		g.HandleBody(http.MethodPost, path, names[app]+" callback: signed (and in safe mode encrypted) messages and events",
			wechat.MaxCallbackBody, cb.handleMessage(c))
	}
}

// queryRequest reads WeChat's query parameters (the first value of each,
// as url.Values.Get) without building a url.Values: a value is unescaped
// only when it holds an escape, and parameters that do not parse are
// skipped, as url.ParseQuery skips them.
func queryRequest(c *gin.Context) wechat.Request {
	var r wechat.Request
	var seen [6]bool
	for q := c.Request.URL.RawQuery; q != ""; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(pair, "=")
		var i int
		var dst *string
		switch k {
		case "signature":
			i, dst = 0, &r.Signature
		case "msg_signature":
			i, dst = 1, &r.MsgSignature
		case "timestamp":
			i, dst = 2, &r.Timestamp
		case "nonce":
			i, dst = 3, &r.Nonce
		case "encrypt_type":
			i, dst = 4, &r.EncryptType
		case "echostr":
			i, dst = 5, &r.EchoStr
		default:
			continue // other keys (openid, escaped names) are not read
		}
		if seen[i] || strings.Contains(pair, ";") {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			u, err := url.QueryUnescape(v)
			if err != nil {
				continue
			}
			v = u
		}
		seen[i], *dst = true, v
	}
	return r
}

// handleVerify: GET with signature, timestamp, nonce, echostr → echostr
// (wechat.Codec.Echo). A wrong signature is 401, a timestamp outside the
// window 403. The nonce guard is not applied: replaying a verification
// only echoes what it carries.
func (cb *callbacks) handleVerify(c *wechat.Codec) gin.HandlerFunc {
	return func(gc *gin.Context) {
		req := queryRequest(gc)
		echo, err := c.Echo(req)
		if err == nil {
			_, err = wechat.CheckTimestamp(req.Timestamp, cb.now(), cb.window)
		}
		if err != nil {
			cb.refuse(gc, c.App(), err)
			return
		}
		cb.metrics.outcome(c.App(), "verified")
		gc.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(echo))
	}
}

var (
	bodyPool  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	replyPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
)

var (
	successBody = []byte("success")
	errReplayed = fmt.Errorf("wechat callback: nonce replayed with another body: %w", model.ErrForbidden)
)

// handleMessage: POST, the callback of a message or event. In order:
// query signature (401), timestamp window (403), body ≤ 64 KiB (413),
// msg_signature, decryption and parsing (401 / 400), nonce guard (plain
// mode: 403 for a replayed timestamp and nonce with another body; in safe
// and compatible modes msg_signature is the guard: another body under a
// captured signature is 401), then the dedupe: a
// callback already answered gets the same bytes again, one being processed
// by another copy waits up to 800 ms for its answer, else "success". A new
// one is logged (with the crisis flag) and handed to the Gateway within
// 900 ms; its reply is encoded (encrypted and signed in safe mode; the Mini
// Program takes no passive reply: "success"), remembered and sent. A
// Gateway error releases the dedupe key and answers 500, so WeChat's next
// try processes it again. With Redis down it processes anyway (at least
// once) and says so in the log.
func (cb *callbacks) handleMessage(c *wechat.Codec) gin.HandlerFunc {
	app := c.App()
	return func(gc *gin.Context) {
		ctx, cancel := context.WithTimeout(gc.Request.Context(), callbackTimeout)
		defer cancel()
		req := queryRequest(gc)
		if err := c.VerifyQuery(req); err != nil {
			cb.refuse(gc, app, err)
			return
		}
		if _, err := wechat.CheckTimestamp(req.Timestamp, cb.now(), cb.window); err != nil {
			cb.refuse(gc, app, err)
			return
		}
		buf := bodyPool.Get().(*bytes.Buffer)
		buf.Reset()
		defer func() {
			if buf.Cap() <= 2*wechat.MaxCallbackBody {
				bodyPool.Put(buf)
			}
		}()
		if _, err := buf.ReadFrom(gc.Request.Body); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				cb.refuse(gc, app, wechat.ErrCallbackTooLarge)
				return
			}
			cb.refuse(gc, app, fmt.Errorf("%w: reading the body", wechat.ErrMalformed))
			return
		}
		req.Body = buf.Bytes()
		op, err := c.Open(req)
		if err != nil {
			cb.refuse(gc, app, err)
			return
		}
		m := op.Message
		key := m.DedupeKey()

		var claim *cache.Claim
		if op.Mode == wechat.ModePlain {
			nonce := cache.Nonce{Scope: string(app), Timestamp: req.Timestamp, Nonce: req.Nonce, Fingerprint: fingerprint(req.Body)}
			claim, err = cb.dedupe.BeginGuarded(ctx, key, cb.nonces, nonce)
		} else {
			// Encrypted: msg_signature, checked by Open, binds the
			// timestamp and nonce to the ciphertext, which is all that is
			// read, so the pair cannot come back with another message
			// without the token; the very same request is a re-send, which
			// the dedupe answers. The nonce guard's record would change no
			// outcome, so it is not written (one Redis command less).
			claim, err = cb.dedupe.Begin(ctx, key)
		}
		switch {
		case errors.Is(err, cache.ErrReplayed):
			cb.refuse(gc, app, errReplayed)
			return
		case err != nil:
			cb.log.WarnContext(ctx, "wechat callback: dedupe unavailable, processing anyway", "err", err,
				"app", app, "dedupe_key", key, "request_id", requestID(gc))
			claim = nil
		}
		if claim != nil {
			switch claim.State {
			case cache.DedupeDone:
				cb.metrics.outcome(app, "duplicate")
				cb.write(gc, claim.Reply)
				return
			case cache.DedupeBusy:
				cb.metrics.outcome(app, "busy")
				cb.write(gc, successBody)
				return
			}
		}

		if cb.msgLog != nil {
			crisis := m.MsgType != "event" && m.Content != "" && cb.gw.IsCrisis(m.Content)
			cb.msgLog.Record(ctx, m, crisis)
		}
		hctx, hcancel := context.WithTimeout(ctx, handleTimeout)
		reply, err := cb.gw.Handle(hctx, m)
		hcancel()
		if err != nil {
			if claim != nil {
				if rerr := claim.Release(); rerr != nil {
					cb.log.WarnContext(ctx, "wechat callback: release dedupe key", "err", rerr, "dedupe_key", key)
				}
			}
			cb.metrics.outcome(app, "handler_error")
			cb.log.ErrorContext(ctx, "wechat callback: handler failed; WeChat will try again", "err", err, "app", app,
				"msg_type", m.MsgType, "event", m.Event, "dedupe_key", key, "request_id", requestID(gc))
			gc.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("error"))
			return
		}
		out := cb.encode(ctx, c, op, reply, req)
		cb.metrics.outcome(app, "processed")
		cb.write(gc, out)
		if claim != nil {
			// Remember the answer without waiting for Redis: it rides in
			// the next pipeline of the dedupe (WeChat's next try comes
			// seconds later, and a copy waiting for it polls).
			claim.Remember(out)
		}
	}
}

// encode renders the answer to a processed callback: "success" for no
// reply and for the Mini Program (its message push takes no passive
// reply), else the reply document, sealed in safe and compatible modes.
// A reply that cannot be encoded is logged and answered with "success".
func (cb *callbacks) encode(ctx context.Context, c *wechat.Codec, op wechat.Opened, reply *model.Reply, req wechat.Request) []byte {
	if reply == nil || c.App() == model.AppMP {
		return successBody
	}
	m := op.Message
	var doc []byte
	var err error
	if op.Mode == wechat.ModePlain {
		doc, err = wechat.AppendReply(make([]byte, 0, 512), reply, m.FromUser, m.ToUser, cb.now())
	} else { // the plaintext is sealed into a new slice: its buffer is reused
		buf := replyPool.Get().(*[]byte)
		var plain []byte
		plain, err = wechat.AppendReply((*buf)[:0], reply, m.FromUser, m.ToUser, cb.now())
		if err == nil {
			doc, err = c.Seal(plain, req.Timestamp, req.Nonce)
		}
		if cap(plain) <= wechat.MaxCallbackBody {
			*buf = plain
			replyPool.Put(buf)
		}
	}
	if err != nil {
		cb.log.ErrorContext(ctx, "wechat callback: reply not sent", "err", err, "dedupe_key", m.DedupeKey())
		return successBody
	}
	return doc
}

func (cb *callbacks) write(gc *gin.Context, body []byte) {
	ct := "text/plain; charset=utf-8"
	if len(body) > 0 && body[0] == '<' {
		ct = "application/xml; charset=utf-8"
	}
	gc.Data(http.StatusOK, ct, body)
}

// refuse answers a callback that failed a check with the status of its
// kind (wechat's errors wrap model kinds: 400, 401, 403, 413) in plain
// text, and logs it with the request id — never the body.
func (cb *callbacks) refuse(gc *gin.Context, app model.App, err error) {
	code := status(err)
	outcome := "malformed"
	switch code {
	case http.StatusUnauthorized:
		outcome = "bad_signature"
	case http.StatusForbidden:
		outcome = "refused"
	case http.StatusRequestEntityTooLarge:
		outcome = "too_large"
	}
	cb.metrics.outcome(app, outcome)
	cb.log.WarnContext(gc.Request.Context(), "wechat callback refused", "app", app, "status", code, "err", err,
		"request_id", requestID(gc))
	gc.Data(code, "text/plain; charset=utf-8", []byte(http.StatusText(code)))
}

// fingerprint identifies a body for the nonce guard.
func fingerprint(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16])
}

// callbackMetrics counts callbacks by app and outcome.
type callbackMetrics struct {
	total    *prometheus.CounterVec
	resolved map[outcomeKey]prometheus.Counter // every app and outcome, resolved once: read-only
}

type outcomeKey struct {
	app     model.App
	outcome string
}

// callbackOutcomes are the outcomes callbackMetrics counts.
var callbackOutcomes = []string{"processed", "duplicate", "busy", "handler_error", "verified", "bad_signature",
	"refused", "malformed", "too_large"}

func newCallbackMetrics(reg prometheus.Registerer) (*callbackMetrics, error) {
	m := &callbackMetrics{total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wanjia_wechat_callbacks_total",
		Help: "WeChat callbacks by app and outcome (processed, duplicate, busy, handler_error, verified, bad_signature, refused, malformed, too_large).",
	}, []string{"app", "outcome"}), resolved: map[outcomeKey]prometheus.Counter{}}
	if err := reg.Register(m.total); err != nil {
		return nil, fmt.Errorf("register callback metrics: %w", err)
	}
	for _, app := range []model.App{model.AppOA, model.AppMP} {
		for _, o := range callbackOutcomes {
			m.resolved[outcomeKey{app, o}] = m.total.WithLabelValues(string(app), o)
		}
	}
	return m, nil
}

func (m *callbackMetrics) outcome(app model.App, outcome string) {
	c, ok := m.resolved[outcomeKey{app, outcome}]
	if !ok { // not in callbackOutcomes: counted all the same
		c = m.total.WithLabelValues(string(app), outcome)
	}
	c.Inc()
}
