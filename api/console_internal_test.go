package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"wanjia/web"
)

// TestConsoleIsServedOutsideTheAPI: with Deps.Console the server answers
// the console's page and assets, and they stay out of /api/openapi.json
// (they are not API routes), while every other route is in it.
func TestConsoleIsServedOutsideTheAPI(t *testing.T) {
	console, err := web.New(web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := miniredis.RunT(t)
	srv, err := NewServer(Deps{Redis: redis.NewClient(&redis.Options{Addr: m.Addr()}), Console: console})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path string
		code         int
		ctype        string
	}{
		{http.MethodGet, "/console", 200, "text/html; charset=utf-8"},
		{http.MethodGet, "/console/", 200, "text/html; charset=utf-8"},
		{http.MethodGet, "/console/fairs/3", 200, "text/html; charset=utf-8"},
		{http.MethodHead, "/console/staff", 200, "text/html; charset=utf-8"},
		{http.MethodGet, console.AssetsPath() + "/js/app.js", 200, "text/javascript; charset=utf-8"},
		{http.MethodGet, console.AssetsPath() + "/js/nope.js", 404, ""},
		{http.MethodPost, "/console/", 405, ""},
	} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.code {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.code)
			continue
		}
		if tt.ctype != "" && rec.Header().Get("Content-Type") != tt.ctype {
			t.Errorf("%s %s Content-Type = %q, want %q", tt.method, tt.path, rec.Header().Get("Content-Type"), tt.ctype)
		}
		if rec.Header().Get("Content-Security-Policy") == "" && tt.code != 405 {
			t.Errorf("%s %s has no Content-Security-Policy", tt.method, tt.path)
		}
	}

	paths := srv.s.openAPI()["paths"].(map[string]map[string]any)
	for p := range paths {
		if strings.HasPrefix(p, "/console") {
			t.Errorf("/api/openapi.json lists %s", p)
		}
	}
	for _, r := range srv.Routes() {
		if r.Path == "/console" || strings.HasPrefix(r.Path, "/console/") {
			continue
		}
		if op := paths[openAPIPath(r.Path)]; op == nil || op[strings.ToLower(r.Method)] == nil {
			t.Errorf("route %s %s is missing from /api/openapi.json", r.Method, r.Path)
		}
	}

	// Without a console nothing is served there.
	bare, err := NewServer(Deps{Redis: redis.NewClient(&redis.Options{Addr: m.Addr()})})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	bare.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/", nil))
	if rec.Code != 404 {
		t.Errorf("GET /console/ without a console = %d, want 404", rec.Code)
	}
}
