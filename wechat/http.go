package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// APIHost is the host silenceper hard-codes for every WeChat API call.
const APIHost = "api.weixin.qq.com"

// peekLimit bounds how much of a response the transport reads to find its
// errcode.
const peekLimit = 64 << 10

// Defaults of HTTPOptions.
const (
	DefaultConnectTimeout      = 3 * time.Second
	DefaultTLSHandshakeTimeout = 3 * time.Second
	DefaultTimeout             = 10 * time.Second
)

// HTTPOptions configures NewHTTPClient. The zero value talks to the real
// WeChat API with the default timeouts and records no metrics.
type HTTPOptions struct {
	// BaseURL, when set, receives every request for api.weixin.qq.com:
	// scheme and host are replaced and its path (if any) is prepended, so
	// "http://127.0.0.1:9000/wx" turns https://api.weixin.qq.com/cgi-bin/token
	// into http://127.0.0.1:9000/wx/cgi-bin/token (WANJIA_WECHAT_API_BASE).
	BaseURL string
	// Transport, when set, serves every request for api.weixin.qq.com
	// in-process instead (sandbox mode: the simulator's Transport()). It
	// wins over BaseURL.
	Transport http.RoundTripper
	// ConnectTimeout (dial), TLSHandshakeTimeout and Timeout (the whole
	// call, body included); zero means the Default* value.
	ConnectTimeout      time.Duration
	TLSHandshakeTimeout time.Duration
	Timeout             time.Duration
	// Registerer receives wanjia_wechat_calls_total{endpoint,errcode} and
	// wanjia_wechat_call_duration_seconds{endpoint}; nil records nothing.
	// Registering twice on the same Registerer reuses the collectors.
	Registerer prometheus.Registerer
}

// NewHTTPClient returns the client wanjia gives silenceper (cmd assigns it
// to util.DefaultHTTPClient once) and the token service. Requests for
// api.weixin.qq.com are redirected as HTTPOptions says and measured; other
// hosts pass through unchanged and unmeasured. It fails on a malformed
// BaseURL or a metric name clash.
func NewHTTPClient(opts HTTPOptions) (*http.Client, error) {
	connect := cmpOr(opts.ConnectTimeout, DefaultConnectTimeout)
	handshake := cmpOr(opts.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	timeout := cmpOr(opts.Timeout, DefaultTimeout)

	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   handshake,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	rt := &apiTransport{base: base, api: opts.Transport}
	if opts.Transport == nil && opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("wechat api base: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("wechat api base %q: want scheme://host[/path]", opts.BaseURL)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		rt.rewrite = u
	}
	if opts.Registerer != nil {
		m, err := newCallMetrics(opts.Registerer)
		if err != nil {
			return nil, err
		}
		rt.metrics = m
	}
	return &http.Client{Transport: rt, Timeout: timeout}, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

type callMetrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newCallMetrics(reg prometheus.Registerer) (*callMetrics, error) {
	calls, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wanjia_wechat_calls_total",
		Help: "WeChat API calls by endpoint (URL path) and errcode (0, the errcode, http_<status> or transport).",
	}, []string{"endpoint", "errcode"}))
	if err != nil {
		return nil, err
	}
	duration, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wanjia_wechat_call_duration_seconds",
		Help:    "Duration of WeChat API calls by endpoint, until the response headers and errcode are read.",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"endpoint"}))
	if err != nil {
		return nil, err
	}
	return &callMetrics{calls: calls, duration: duration}, nil
}

// register registers c on reg, or returns the collector already registered
// under the same description.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("wechat metrics: %w", err)
}

// apiTransport redirects and measures requests for api.weixin.qq.com.
type apiTransport struct {
	base    http.RoundTripper
	api     http.RoundTripper // in-process WeChat, or nil
	rewrite *url.URL          // base URL, or nil
	metrics *callMetrics      // or nil
}

func (t *apiTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.EqualFold(req.URL.Hostname(), APIHost) {
		return t.base.RoundTrip(req)
	}
	endpoint := req.URL.Path
	next := t.base
	switch {
	case t.api != nil:
		next = t.api
	case t.rewrite != nil:
		r := req.Clone(req.Context())
		r.URL.Scheme = t.rewrite.Scheme
		r.URL.Host = t.rewrite.Host
		r.URL.Path = t.rewrite.Path + req.URL.Path
		r.URL.RawPath = ""
		r.Host = t.rewrite.Host
		req = r
	}
	start := time.Now()
	resp, err := next.RoundTrip(req)
	errcode := "transport"
	if err == nil {
		resp, errcode, err = peekErrcode(resp)
	}
	if t.metrics != nil {
		t.metrics.calls.WithLabelValues(endpoint, errcode).Inc()
		t.metrics.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	}
	return resp, err
}

// peekErrcode reads up to peekLimit bytes of resp's body to find a JSON
// errcode and puts them back. It returns the errcode label: "0" when the
// body carries none (including images and over-long bodies), the errcode,
// or http_<status> for a non-200 answer. A failed read closes the body and
// returns the error.
func peekErrcode(resp *http.Response) (*http.Response, string, error) {
	if resp.StatusCode != http.StatusOK {
		return resp, "http_" + strconv.Itoa(resp.StatusCode), nil
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		return resp, "0", nil
	}
	peek, err := io.ReadAll(io.LimitReader(resp.Body, peekLimit))
	if err != nil {
		resp.Body.Close()
		return nil, "transport", err
	}
	orig := resp.Body
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(peek), orig), orig}
	return resp, strconv.FormatInt(jsonErrcode(peek), 10), nil
}

// jsonErrcode returns the top-level "errcode" of a JSON object, reading as
// far as it can (b may be a truncated prefix); 0 when there is none.
func jsonErrcode(b []byte) int64 {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return 0
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return 0
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0
		}
		key, ok := tok.(string)
		if !ok {
			return 0
		}
		if key != "errcode" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return 0
			}
			continue
		}
		var n json.Number
		if err := dec.Decode(&n); err != nil {
			return 0
		}
		v, err := n.Int64()
		if err != nil {
			return 0
		}
		return v
	}
	return 0
}
