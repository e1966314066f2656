package wechat_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"wanjia/wechat"
)

// seen is what a test server saw of one request.
type seen struct {
	Host, Path, Query, Body string
}

func recordingServer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *[]seen) {
	t.Helper()
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		got = append(got, seen{Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body)})
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func TestHTTPClientRewrite(t *testing.T) {
	t.Parallel()
	srv, got := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	})
	for _, base := range []string{srv.URL + "/wx", srv.URL + "/wx/"} {
		c := mustHTTPClient(t, wechat.HTTPOptions{BaseURL: base})
		resp, err := c.Post("https://api.weixin.qq.com/cgi-bin/message/custom/send?access_token=T", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatalf("Post() = %v", err)
		}
		resp.Body.Close()
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	want := []seen{
		{Host: host, Path: "/wx/cgi-bin/message/custom/send", Query: "access_token=T", Body: `{"a":1}`},
		{Host: host, Path: "/wx/cgi-bin/message/custom/send", Query: "access_token=T", Body: `{"a":1}`},
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("requests mismatch (-want +got):\n%s", diff)
	}
}

func TestHTTPClientOtherHostsUntouched(t *testing.T) {
	t.Parallel()
	wx, wxGot := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	other, otherGot := recordingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "img") })
	reg := prometheus.NewRegistry()
	c := mustHTTPClient(t, wechat.HTTPOptions{BaseURL: wx.URL, Registerer: reg})
	resp, err := c.Get(other.URL + "/mmbiz/pic")
	if err != nil {
		t.Fatalf("Get(other) = %v", err)
	}
	resp.Body.Close()
	if len(*wxGot) != 0 || len(*otherGot) != 1 {
		t.Errorf("requests: wechat %v, other %v; want only other", *wxGot, *otherGot)
	}
	if _, n := metric(t, reg, "wanjia_wechat_calls_total", nil); n != 0 {
		t.Errorf("calls series = %d, want 0 for other hosts", n)
	}
}

// roundTripFunc is an in-process transport.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestHTTPClientInProcess(t *testing.T) {
	t.Parallel()
	var hosts []string
	inproc := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		hosts = append(hosts, r.URL.Host+r.URL.Path)
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"errcode":45009,"errmsg":"quota"}`)), Header: http.Header{}, Request: r}, nil
	})
	reg := prometheus.NewRegistry()
	// The transport wins over BaseURL.
	c := mustHTTPClient(t, wechat.HTTPOptions{Transport: inproc, BaseURL: "http://127.0.0.1:1", Registerer: reg})
	resp, err := c.Get("https://api.weixin.qq.com/datacube/getarticlesummary?access_token=T")
	if err != nil {
		t.Fatalf("Get() = %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != `{"errcode":45009,"errmsg":"quota"}` {
		t.Errorf("body = %q, %v; want it intact", body, err)
	}
	if diff := cmp.Diff([]string{"api.weixin.qq.com/datacube/getarticlesummary"}, hosts); diff != "" {
		t.Errorf("in-process requests mismatch (-want +got):\n%s", diff)
	}
	if got := calls(t, reg, "/datacube/getarticlesummary", "45009"); got != 1 {
		t.Errorf("calls{errcode=45009} = %v, want 1", got)
	}
}

// calls returns wanjia_wechat_calls_total{endpoint,errcode}.
func calls(t *testing.T, reg prometheus.Gatherer, endpoint, errcode string) float64 {
	t.Helper()
	v, _ := metric(t, reg, "wanjia_wechat_calls_total", map[string]string{"endpoint": endpoint, "errcode": errcode})
	return v
}

func TestHTTPClientMetrics(t *testing.T) {
	t.Parallel()
	big := `{"list":[` + strings.Repeat(`{"a":1},`, 20000) + `{"a":1}],"errcode":0}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, `{"errcode":0,"errmsg":"ok","msgid":1}`)
		case "/token":
			io.WriteString(w, `{"access_token":"T","expires_in":7200}`)
		case "/revoked":
			io.WriteString(w, `{"errmsg":"invalid credential","errcode":40001}`)
		case "/nested":
			io.WriteString(w, `{"detail":[{"errcode":87014}],"errcode":0}`)
		case "/late":
			io.WriteString(w, `{"list":[`+strings.Repeat(`{"a":1},`, 3000)+`{"a":1}],"errcode":45009}`)
		case "/big":
			io.WriteString(w, big)
		case "/jpeg":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write([]byte{0xff, 0xd8, 0xff, 0xe0})
		case "/down":
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	c := mustHTTPClient(t, wechat.HTTPOptions{BaseURL: srv.URL, Registerer: reg})
	// A second client on the same registry shares the collectors.
	c2 := mustHTTPClient(t, wechat.HTTPOptions{BaseURL: srv.URL, Registerer: reg})

	for _, tt := range []struct {
		client  *http.Client
		path    string
		errcode string
		body    string
	}{
		{c, "/ok", "0", `{"errcode":0,"errmsg":"ok","msgid":1}`},
		{c2, "/ok", "0", `{"errcode":0,"errmsg":"ok","msgid":1}`},
		{c, "/token", "0", `{"access_token":"T","expires_in":7200}`},
		{c, "/revoked", "40001", `{"errmsg":"invalid credential","errcode":40001}`},
		{c, "/nested", "0", `{"detail":[{"errcode":87014}],"errcode":0}`},
		{c, "/late", "45009", ""},
		{c, "/big", "0", big},
		{c, "/jpeg", "0", "\xff\xd8\xff\xe0"},
		{c, "/down", "http_502", ""},
	} {
		resp, err := tt.client.Get("https://api.weixin.qq.com" + tt.path + "?access_token=T")
		if err != nil {
			t.Fatalf("Get(%s) = %v", tt.path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Errorf("read %s: %v", tt.path, err)
		}
		if tt.body != "" && !bytes.Equal(body, []byte(tt.body)) {
			t.Errorf("Get(%s) body = %d bytes, want the %d bytes sent", tt.path, len(body), len(tt.body))
		}
		if got := calls(t, reg, tt.path, tt.errcode); got < 1 {
			t.Errorf("calls{endpoint=%s,errcode=%s} = %v, want ≥ 1", tt.path, tt.errcode, got)
		}
	}
	if got := calls(t, reg, "/ok", "0"); got != 2 {
		t.Errorf("calls{/ok,0} = %v, want 2 (shared by both clients)", got)
	}
	if _, n := metric(t, reg, "wanjia_wechat_call_duration_seconds", nil); n != 8 {
		t.Errorf("duration series = %d, want 8 endpoints", n)
	}
}

func TestHTTPClientTransportErrors(t *testing.T) {
	t.Parallel()
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()

	reg := prometheus.NewRegistry()
	c := mustHTTPClient(t, wechat.HTTPOptions{BaseURL: "http://" + addr, Registerer: reg})
	if _, err := c.Get("https://api.weixin.qq.com/cgi-bin/token"); err == nil {
		t.Fatalf("Get(closed port) = nil error")
	}
	if got := calls(t, reg, "/cgi-bin/token", "transport"); got != 1 {
		t.Errorf("calls{errcode=transport} = %v, want 1", got)
	}
}

func TestHTTPClientTimeouts(t *testing.T) {
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	c := mustHTTPClient(t, wechat.HTTPOptions{BaseURL: slow.URL, Timeout: 50 * time.Millisecond})
	start := time.Now()
	if _, err := c.Get("https://api.weixin.qq.com/slow"); err == nil {
		t.Errorf("Get(slow) = nil error, want a timeout")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Get(slow) took %v, want about 50ms", d)
	}

	// A server that accepts TCP but never speaks TLS.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.Copy(io.Discard, conn) // until the client gives up
			}()
		}
	}()
	c = mustHTTPClient(t, wechat.HTTPOptions{BaseURL: "https://" + l.Addr().String(), TLSHandshakeTimeout: 50 * time.Millisecond})
	start = time.Now()
	_, err = c.Get("https://api.weixin.qq.com/tls")
	if err == nil || !strings.Contains(err.Error(), "TLS handshake timeout") {
		t.Errorf("Get(silent TLS) = %v, want a TLS handshake timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Get(silent TLS) took %v, want about 50ms", d)
	}
}

func TestNewHTTPClientErrors(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"127.0.0.1:8080", "ftp://x", "http://", "http://x/?a=b", "http://x/#f", "://"} {
		if _, err := wechat.NewHTTPClient(wechat.HTTPOptions{BaseURL: base}); err == nil {
			t.Errorf("NewHTTPClient(BaseURL %q) = nil error, want one", base)
		}
	}
	c := mustHTTPClient(t, wechat.HTTPOptions{})
	if c.Timeout != wechat.DefaultTimeout {
		t.Errorf("default Timeout = %v, want %v", c.Timeout, wechat.DefaultTimeout)
	}
	// A clashing collector under the same name is an error.
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "wanjia_wechat_calls_total", Help: "other"}))
	if _, err := wechat.NewHTTPClient(wechat.HTTPOptions{Registerer: reg}); err == nil {
		t.Errorf("NewHTTPClient(clashing registry) = nil error, want one")
	}
}
