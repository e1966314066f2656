package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func mustHandler(tb testing.TB) *Handler {
	tb.Helper()
	h, err := New(Options{})
	if err != nil {
		tb.Fatalf("New() = %v", err)
	}
	return h
}

func serve(h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestIndexIsServedForEveryAppRoute(t *testing.T) {
	h := mustHandler(t)
	for _, p := range []string{"/console", "/console/", "/console/login", "/console/fairs/12", "/console/cases/W-2026-ab"} {
		rec := serve(h, http.MethodGet, p, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", p, rec.Code)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s Content-Type = %q", p, ct)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s Cache-Control = %q, want no-cache (the page names the asset version)", p, cc)
		}
		body := rec.Body.String()
		if strings.Contains(body, assetsPlaceholder) || !strings.Contains(body, h.AssetsPath()+"/js/app.js") {
			t.Errorf("GET %s: index does not name the versioned assets:\n%s", p, body)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := mustHandler(t)
	for _, p := range []string{"/console/", h.AssetsPath() + "/js/app.js", "/console/assets/nope/app.css"} {
		rec := serve(h, http.MethodGet, p, nil)
		csp := rec.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
			"frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") {
			t.Errorf("GET %s: CSP %q allows unsafe or wildcard sources", p, csp)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v", p, rec.Header())
		}
	}
}

func TestAssets(t *testing.T) {
	h := mustHandler(t)
	tests := []struct {
		path  string
		code  int
		ctype string
	}{
		{h.AssetsPath() + "/js/app.js", 200, "text/javascript; charset=utf-8"},
		{h.AssetsPath() + "/pages/fairs.js", 200, "text/javascript; charset=utf-8"},
		{h.AssetsPath() + "/app.css", 200, "text/css; charset=utf-8"},
		{h.AssetsPath() + "/favicon.svg", 200, "image/svg+xml"},
		{h.AssetsPath() + "/js/missing.js", 404, ""},        // no fallback to the page for assets
		{h.AssetsPath() + "/index.html", 404, ""},           // the page is served only unversioned
		{"/console/assets/0123456789ab/js/app.js", 404, ""}, // another release's version
		{"/console/assets/" + h.Version(), 404, ""},         // no file
		{h.AssetsPath() + "/../../../web.go", 404, ""},      // no way out of the tree
		{h.AssetsPath() + "/js/../js/app.js", 404, ""},      // names are exact
		{"/console/assets/" + h.Version() + "//js/app.js", 404, ""},
	}
	for _, tt := range tests {
		rec := serve(h, http.MethodGet, tt.path, nil)
		if rec.Code != tt.code {
			t.Errorf("GET %s = %d, want %d", tt.path, rec.Code, tt.code)
			continue
		}
		if tt.code != 200 {
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("GET %s (404) Cache-Control = %q, want no-store", tt.path, cc)
			}
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != tt.ctype {
			t.Errorf("GET %s Content-Type = %q, want %q", tt.path, ct, tt.ctype)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s Cache-Control = %q", tt.path, cc)
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Errorf("GET %s has no ETag", tt.path)
			continue
		}
		if rec := serve(h, http.MethodGet, tt.path, map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match = %d, want 304", tt.path, rec.Code)
		}
	}
}

func TestGzip(t *testing.T) {
	h := mustHandler(t)
	plain := serve(h, http.MethodGet, h.AssetsPath()+"/js/ui.js", nil)
	tests := []struct {
		accept string
		gz     bool
	}{
		{"gzip, deflate, br", true},
		{"br;q=1.0, GZIP;q=0.5", true},
		{"*", true},
		{"gzip;q=0", false},
		{"deflate", false},
		{"", false},
	}
	for _, tt := range tests {
		rec := serve(h, http.MethodGet, h.AssetsPath()+"/js/ui.js", map[string]string{"Accept-Encoding": tt.accept})
		if got := rec.Header().Get("Content-Encoding") == "gzip"; got != tt.gz {
			t.Errorf("Accept-Encoding %q: gzip = %v, want %v", tt.accept, got, tt.gz)
			continue
		}
		if rec.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary = %q", tt.accept, rec.Header().Get("Vary"))
		}
		if !tt.gz {
			continue
		}
		if rec.Header().Get("ETag") == plain.Header().Get("ETag") {
			t.Errorf("the gzip variant has the plain ETag %s", rec.Header().Get("ETag"))
		}
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(b, plain.Body.Bytes()) {
			t.Errorf("gunzipped body differs from the plain one (%v)", err)
		}
		if rec.Body.Len() >= plain.Body.Len() {
			t.Errorf("gzip body %d bytes, plain %d", rec.Body.Len(), plain.Body.Len())
		}
	}
	index := serve(h, http.MethodGet, "/console/fairs", map[string]string{"Accept-Encoding": "gzip"})
	if index.Code != 200 || index.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("index with gzip = %d %v", index.Code, index.Header())
	}
}

func TestMethods(t *testing.T) {
	h := mustHandler(t)
	rec := serve(h, http.MethodHead, "/console/", nil)
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD /console/ = %d with %d bytes, want 200 and no body", rec.Code, rec.Body.Len())
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if rec := serve(h, m, "/console/", nil); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /console/ = %d (Allow %q), want 405", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
	if rec := serve(h, http.MethodGet, "/consolex", nil); rec.Code != 404 {
		t.Errorf("GET /consolex = %d, want 404", rec.Code)
	}
}

// TestVersionFollowsContent: a change to any file changes the version, so
// no browser keeps an old module under an immutable name.
func TestVersionFollowsContent(t *testing.T) {
	base := fstest.MapFS{
		"static/index.html": {Data: []byte(`<script type="module" src="{{ASSETS}}/js/app.js"></script>`)},
		"static/js/app.js":  {Data: []byte(`import './x.js';`)},
		"static/js/x.js":    {Data: []byte(`export const x = 1;`)},
	}
	a, err := newHandler(base, Options{})
	if err != nil {
		t.Fatal(err)
	}
	changed := fstest.MapFS{}
	for k, v := range base {
		changed[k] = v
	}
	changed["static/js/x.js"] = &fstest.MapFile{Data: []byte(`export const x = 2;`)}
	b, err := newHandler(changed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Version() == b.Version() {
		t.Errorf("version %s did not change with the content", a.Version())
	}
	if rec := serve(b, http.MethodGet, a.AssetsPath()+"/js/x.js", nil); rec.Code != 404 {
		t.Errorf("the new release serves the old version's path: %d", rec.Code)
	}

	bad := fstest.MapFS{"static/index.html": base["static/index.html"], "static/notes.txt": {Data: []byte("x")}}
	if _, err := newHandler(bad, Options{}); err == nil {
		t.Errorf("newHandler accepted a file without a known content type")
	}
	if _, err := newHandler(fstest.MapFS{"static/js/app.js": base["static/js/app.js"]}, Options{}); err == nil {
		t.Errorf("newHandler accepted a tree without index.html")
	}
}

func TestImageSources(t *testing.T) {
	h, err := New(Options{ImageSources: []string{"https://cdn.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if csp := serve(h, http.MethodGet, "/console/", nil).Header().Get("Content-Security-Policy"); !strings.Contains(csp,
		"img-src 'self' data: blob: https://cdn.example.org;") {
		t.Errorf("CSP = %q, want the image source", csp)
	}
	for _, bad := range []string{"http://cdn.example.org", "https://a.org; script-src *", "*"} {
		if _, err := New(Options{ImageSources: []string{bad}}); err == nil {
			t.Errorf("New accepted image source %q", bad)
		}
	}
}

var (
	staticImport  = regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'`)
	dynamicImport = regexp.MustCompile(`import\('([^']+)'`)
	pageModule    = regexp.MustCompile(`module: '([a-z_]+)'`)
)

// TestModulesResolve checks every import of every module, and every page
// module the router names, against the embedded files: a typo would
// otherwise only show in a browser.
func TestModulesResolve(t *testing.T) {
	root, err := fs.Sub(files, "static")
	if err != nil {
		t.Fatal(err)
	}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".js" {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		src := string(b)
		var refs []string
		for _, m := range staticImport.FindAllStringSubmatch(src, -1) {
			refs = append(refs, m[1]+m[2])
		}
		for _, m := range dynamicImport.FindAllStringSubmatch(src, -1) {
			refs = append(refs, m[1])
		}
		for _, ref := range refs {
			if !strings.HasPrefix(ref, "./") && !strings.HasPrefix(ref, "../") {
				t.Errorf("%s imports %q: only relative imports of the embedded files are allowed", p, ref)
				continue
			}
			if strings.HasSuffix(ref, "/") { // a prefix joined with a name at run time (the page modules)
				continue
			}
			target := path.Join(path.Dir(p), ref)
			if _, err := fs.Stat(root, target); err != nil {
				t.Errorf("%s imports %q: %s is not embedded", p, ref, target)
			}
		}
		if strings.Contains(src, ".innerHTML") || strings.Contains(src, "insertAdjacentHTML") || strings.Contains(src, "eval(") || strings.Contains(src, "new Function") {
			t.Errorf("%s uses innerHTML or eval: build DOM with ui.h and textContent", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	app, err := fs.ReadFile(root, "js/app.js")
	if err != nil {
		t.Fatal(err)
	}
	mods := pageModule.FindAllStringSubmatch(string(app), -1)
	if len(mods) < 10 {
		t.Fatalf("found %d page modules in js/app.js, want the registry", len(mods))
	}
	for _, m := range mods {
		if _, err := fs.Stat(root, "pages/"+m[1]+".js"); err != nil {
			t.Errorf("page module %q is not embedded", m[1])
		}
	}
}

// TestNothingFromElsewhere: the page loads only its own files (no CDN),
// and has no inline script or style for the policy to forbid.
func TestNothingFromElsewhere(t *testing.T) {
	idx, err := fs.ReadFile(files, "static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := string(idx)
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(page) || strings.Contains(page, "style=") ||
		strings.Contains(page, "<style") {
		t.Errorf("index.html has inline script or style")
	}
	if regexp.MustCompile(`(?:src|href)="(?:https?:)?//`).MatchString(page) {
		t.Errorf("index.html loads something from another origin")
	}
}

func BenchmarkAsset(b *testing.B) {
	h := mustHandler(b)
	p := h.AssetsPath() + "/js/ui.js"
	b.ReportAllocs()
	for b.Loop() {
		rec := serve(h, http.MethodGet, p, nil)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkIndex(b *testing.B) {
	h := mustHandler(b)
	b.ReportAllocs()
	for b.Loop() {
		rec := serve(h, http.MethodGet, "/console/fairs/1", nil)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// FuzzHandler: any path answers 200, 304 or 404 (never a panic), and a 200
// is the page or an asset of this version.
func FuzzHandler(f *testing.F) {
	h := mustHandler(f)
	for _, s := range []string{"/console", "/console/", "/console/fairs/1", h.AssetsPath() + "/js/app.js",
		"/console/assets/", "/console/assets//", "/console/%2e%2e/web.go", "/console/assets/x/../../web.go", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		req, err := http.NewRequest(http.MethodGet, "http://x"+p, nil)
		if err != nil || !strings.HasPrefix(req.URL.Path, "/") {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			ok := req.URL.Path == Prefix || strings.HasPrefix(req.URL.Path, Prefix+"/")
			if strings.HasPrefix(req.URL.Path, Prefix+"/assets/") {
				_, found := h.assets[strings.TrimPrefix(req.URL.Path, h.AssetsPath()+"/")]
				ok = strings.HasPrefix(req.URL.Path, h.AssetsPath()+"/") && found
			}
			if !ok {
				t.Errorf("GET %q = 200", req.URL.Path)
			}
		case 404:
		default:
			t.Errorf("GET %q = %d", req.URL.Path, rec.Code)
		}
	})
}
