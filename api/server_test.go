package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"wanjia/api"
	"wanjia/model"
)

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

type echoReq struct {
	Name string `json:"name"`
}

func (r echoReq) Valid() map[string]string {
	if r.Name == "" {
		return map[string]string{"name": "必填"}
	}
	return nil
}

// testRoutes adds routes that exercise the shared machinery.
func testRoutes(r *api.Router) {
	g := r.Group("/api/test", "test", "", r.RateLimit("test"))
	g.Handle(http.MethodGet, "/panic", "panics", func(c *gin.Context) { panic("boom") })
	g.Handle(http.MethodGet, "/internal", "fails", g.Wrap(func(c *gin.Context) error {
		return errors.New("db password=hunter2 exploded")
	}))
	g.Handle(http.MethodGet, "/conflict", "conflicts", g.Wrap(func(c *gin.Context) error {
		return model.Coded(model.ErrConflict, "already_signed_up", "您已报名")
	}))
	g.Handle(http.MethodPost, "/echo", "echoes", g.Wrap(func(c *gin.Context) error {
		req, err := api.DecodeForTest[echoReq](c)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, req)
		return nil
	}))
}

func mustServer(tb testing.TB, d api.Deps) http.Handler {
	tb.Helper()
	if d.Redis == nil {
		m := miniredis.RunT(tb)
		d.Redis = redis.NewClient(&redis.Options{Addr: m.Addr()})
	}
	if d.DB == nil {
		d.DB = pinger{}
	}
	d.Extra = append(d.Extra, testRoutes)
	h, err := api.NewServer(d)
	if err != nil {
		tb.Fatalf("NewServer() = %v", err)
	}
	return h
}

func do(h http.Handler, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

type envelope struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

func decodeEnvelope(tb testing.TB, w *httptest.ResponseRecorder) envelope {
	tb.Helper()
	var e envelope
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		tb.Fatalf("body %q is not an error envelope: %v", w.Body.String(), err)
	}
	return e
}

func TestHealthAndReady(t *testing.T) {
	h := mustServer(t, api.Deps{})
	if w := do(h, "GET", "/healthz", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"ok"`) {
		t.Errorf("GET /healthz = %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/readyz", ""); w.Code != 200 {
		t.Errorf("GET /readyz = %d %s", w.Code, w.Body)
	}
	down := mustServer(t, api.Deps{DB: pinger{err: errors.New("dial tcp 10.0.0.1:3306: refused")}})
	w := do(down, "GET", "/readyz", "")
	if w.Code != 503 || !strings.Contains(w.Body.String(), "database") || strings.Contains(w.Body.String(), "10.0.0.1") {
		t.Errorf("GET /readyz with the database down = %d %s, want 503 naming the database only", w.Code, w.Body)
	}
}

func TestErrorEnvelope(t *testing.T) {
	h := mustServer(t, api.Deps{})
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"unknown route", "GET", "/api/nope", "", 404, "not_found"},
		{"wrong method", "DELETE", "/healthz", "", 405, "method_not_allowed"},
		{"panic", "GET", "/api/test/panic", "", 500, "internal"},
		{"internal error", "GET", "/api/test/internal", "", 500, "internal"},
		{"coded conflict", "GET", "/api/test/conflict", "", 409, "already_signed_up"},
		{"malformed json", "POST", "/api/test/echo", "{", 400, "invalid"},
		{"wrong type", "POST", "/api/test/echo", `{"name":5}`, 400, "invalid"},
		{"validation", "POST", "/api/test/echo", `{}`, 400, "invalid"},
		{"too large", "POST", "/api/test/echo", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(h, tt.method, tt.path, tt.body)
			e := decodeEnvelope(t, w)
			if w.Code != tt.status || e.Error.Code != tt.code || e.Error.Message == "" {
				t.Fatalf("%s %s = %d %+v, want %d %s with a message", tt.method, tt.path, w.Code, e, tt.status, tt.code)
			}
			if strings.Contains(w.Body.String(), "hunter2") || strings.Contains(w.Body.String(), "boom") {
				t.Errorf("error body leaks internals: %s", w.Body)
			}
		})
	}
	w := do(h, "POST", "/api/test/echo", `{}`)
	if diff := cmp.Diff(map[string]string{"name": "必填"}, decodeEnvelope(t, w).Error.Fields); diff != "" {
		t.Errorf("validation fields (-want +got):\n%s", diff)
	}
	if w := do(h, "POST", "/api/test/echo", `{"name":"李"}`); w.Code != 200 || !strings.Contains(w.Body.String(), "李") {
		t.Errorf("POST echo = %d %s", w.Code, w.Body)
	}
}

func TestRequestID(t *testing.T) {
	h := mustServer(t, api.Deps{})
	if got := do(h, "GET", "/healthz", "", "X-Request-Id", "lb-123").Header().Get("X-Request-Id"); got != "lb-123" {
		t.Errorf("X-Request-Id = %q, want the caller's lb-123", got)
	}
	if got := do(h, "GET", "/healthz", "", "X-Request-Id", "bad id\n<script>").Header().Get("X-Request-Id"); got == "" || strings.Contains(got, "<") {
		t.Errorf("X-Request-Id = %q, want a fresh id for a malformed one", got)
	}
}

func TestRateLimitPerIP(t *testing.T) {
	h := mustServer(t, api.Deps{RatePerIP: 5})
	limited := 0
	for range 30 {
		w := do(h, "GET", "/api/test/conflict", "")
		if w.Code == 429 {
			limited++
			if decodeEnvelope(t, w).Error.Code != "rate_limited" || w.Header().Get("Retry-After") == "" {
				t.Fatalf("429 without rate_limited envelope and Retry-After: %v %s", w.Header(), w.Body)
			}
		}
	}
	if limited == 0 {
		t.Fatal("30 requests in a burst with a limit of 5/s were never limited")
	}
	// Another address is not limited.
	req := httptest.NewRequest("GET", "/api/test/conflict", nil)
	req.RemoteAddr = "192.0.2.9:1234"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 409 {
		t.Errorf("other client = %d, want 409", w.Code)
	}
}

func TestRateLimitFallsBackWhenRedisIsDown(t *testing.T) {
	m := miniredis.RunT(t)
	h := mustServer(t, api.Deps{RatePerIP: 5, Redis: redis.NewClient(&redis.Options{Addr: m.Addr()})})
	m.Close()
	codes := map[int]int{}
	for range 30 {
		codes[do(h, "GET", "/api/test/conflict", "").Code]++
	}
	if codes[409] == 0 || codes[429] == 0 {
		t.Fatalf("with Redis down: %v, want some served and some limited by the local limiter", codes)
	}
}

func TestCORS(t *testing.T) {
	h := mustServer(t, api.Deps{ConsoleOrigin: "https://console.example.org"})
	w := do(h, "OPTIONS", "/api/test/echo", "", "Origin", "https://console.example.org", "Access-Control-Request-Method", "POST")
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://console.example.org" {
		t.Errorf("preflight from console = %d %v", w.Code, w.Header())
	}
	w = do(h, "OPTIONS", "/api/test/echo", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin = %d %v", w.Code, w.Header())
	}
}

func TestMetricsAndOpenAPI(t *testing.T) {
	h := mustServer(t, api.Deps{})
	do(h, "GET", "/healthz", "")
	w := do(h, "GET", "/metrics", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `wanjia_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}`) {
		t.Errorf("GET /metrics lacks the healthz latency: %d", w.Code)
	}
	w = do(h, "GET", "/api/openapi.json", "")
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || doc.OpenAPI == "" {
		t.Fatalf("openapi.json = %v %s", err, w.Body)
	}
	if doc.Paths["/api/test/echo"]["post"] == nil || doc.Paths["/readyz"]["get"] == nil {
		t.Errorf("openapi.json misses routes: %v", doc.Paths)
	}
}
