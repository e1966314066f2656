// Package web is the staff console: a single-page application of plain
// JavaScript modules and CSS, embedded in the binary and served at
// /console. There is no build step: the files under static/ are what the
// browser runs.
//
// Asset URLs carry a content hash of the whole tree
// (/console/assets/<hash>/js/app.js), so every asset can be cached for a
// year and a new release is fetched at once: index.html, which names the
// hash, is revalidated on every load. ES modules import each other by
// relative paths, so one hash for the tree keeps those imports working
// without rewriting them.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// Prefix is where the console is served.
const Prefix = "/console"

// assetsPlaceholder is replaced in index.html by the versioned assets path.
const assetsPlaceholder = "{{ASSETS}}"

// Options configure the console handler.
type Options struct {
	// ImageSources are extra origins the console may show images from
	// (the upload URL prefix when uploads are served by a CDN), added to
	// the Content-Security-Policy's img-src. Each must be an https origin.
	ImageSources []string
}

// Handler serves the console: index.html at /console and at every path
// under /console/ that is not an asset (the single-page app routes on the
// client), and the assets under /console/assets/<hash>/.
type Handler struct {
	version string
	index   asset
	assets  map[string]asset
	csp     string
}

// asset is a file as served: its bytes and, when that saves at least a
// tenth, its gzip encoding, made once at start.
type asset struct {
	body  []byte
	gz    []byte // nil when not worth it
	ctype string
	etag  string
}

func newAsset(body []byte, ctype string) (asset, error) {
	sum := sha256.Sum256(body)
	a := asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return a, err
	}
	if _, err := zw.Write(body); err != nil {
		return a, err
	}
	if err := zw.Close(); err != nil {
		return a, err
	}
	if buf.Len() < len(body)*9/10 {
		a.gz = buf.Bytes()
	}
	return a, nil
}

// contentTypes are set explicitly: the system's MIME table (mime.types)
// varies between machines, and a module script served with the wrong type
// does not run.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}

// New reads the embedded files and builds the handler.
func New(opts Options) (*Handler, error) {
	return newHandler(files, opts)
}

func newHandler(fsys fs.FS, opts Options) (*Handler, error) {
	root, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, err
	}
	h := &Handler{assets: map[string]asset{}}
	var names []string
	if err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p)
		return nil
	}); err != nil {
		return nil, err
	}
	sort.Strings(names)
	sum := sha256.New()
	var indexTpl []byte
	for _, name := range names {
		b, err := fs.ReadFile(root, name)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(sum, "%s\x00%d\x00", name, len(b))
		sum.Write(b)
		if name == "index.html" {
			indexTpl = b
			continue
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil, fmt.Errorf("web: no content type for %s", name)
		}
		if h.assets[name], err = newAsset(b, ct); err != nil {
			return nil, err
		}
	}
	if indexTpl == nil {
		return nil, fmt.Errorf("web: static/index.html is missing")
	}
	h.version = hex.EncodeToString(sum.Sum(nil)[:6])
	if h.index, err = newAsset(bytes.ReplaceAll(indexTpl, []byte(assetsPlaceholder), []byte(h.AssetsPath())),
		contentTypes[".html"]); err != nil {
		return nil, err
	}
	for _, src := range opts.ImageSources {
		if !strings.HasPrefix(src, "https://") || strings.ContainsAny(src, " ;,'\"") {
			return nil, fmt.Errorf("web: image source %q must be an https origin", src)
		}
	}
	h.csp = contentSecurityPolicy(opts.ImageSources)
	return h, nil
}

// contentSecurityPolicy allows only this origin: no inline script or
// style, no eval, no third party, no framing. Data and blob URLs are
// allowed for images only (generated charts and previews).
func contentSecurityPolicy(images []string) string {
	img := "img-src 'self' data: blob:"
	for _, s := range images {
		img += " " + s
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		img,
		"connect-src 'self'",
		"font-src 'self'",
		"manifest-src 'self'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// Version is the content hash in the asset URLs.
func (h *Handler) Version() string { return h.version }

// AssetsPath is the versioned path the assets are served under.
func (h *Handler) AssetsPath() string { return Prefix + "/assets/" + h.version }

// ServeHTTP answers GET and HEAD; anything else is 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p != Prefix && !strings.HasPrefix(p, Prefix+"/") {
		http.NotFound(w, r)
		return
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(p, Prefix), "/")
	if name, ok := strings.CutPrefix(rest, "assets/"); ok {
		h.serveAsset(w, r, name)
		return
	}
	// Every other path is a route of the single-page app.
	hd.Set("Cache-Control", "no-cache")
	writeAsset(w, r, h.index)
}

// writeAsset writes a with its type and ETag, gzip-encoded when the client
// accepts it (the encoded variant has its own ETag); ServeContent answers
// conditional and range requests.
func writeAsset(w http.ResponseWriter, r *http.Request, a asset) {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	body, etag := a.body, a.etag
	if a.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			body, etag = a.gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether Accept-Encoding lists gzip (or *) without
// q=0.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "*" {
				continue
			}
			q := strings.ReplaceAll(strings.ToLower(params), " ", "")
			if q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
				return false
			}
			return true
		}
	}
	return false
}

// serveAsset serves assets/<version>/<name>. Another version is 404, not
// this version's file: an immutable cache must never keep new content under
// an old name (a copy of an older release answers its own version).
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, rest string) {
	version, name, ok := strings.Cut(rest, "/")
	a, found := h.assets[name]
	if !ok || version != h.version || !found {
		w.Header().Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	writeAsset(w, r, a)
}
