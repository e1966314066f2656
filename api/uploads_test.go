package api_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wanjia/api"
	"wanjia/model"
	"wanjia/service/upload"
	"wanjia/store"
)

// uploadEnv is the server with real accounts, uploads recorded in the same
// SQLite database, and images stored under dir.
type uploadEnv struct {
	*accountsEnv
	dir     string
	uploads *store.Uploads
}

func mustUploadEnv(tb testing.TB, d api.Deps) *uploadEnv {
	tb.Helper()
	acc := mustAccounts(tb, api.Deps{})
	dir := tb.TempDir()
	local, err := upload.NewLocal(dir)
	if err != nil {
		tb.Fatalf("NewLocal() = %v", err)
	}
	tb.Cleanup(func() { local.Close() })
	uploads := store.NewUploads(acc.db)
	d.Uploads = upload.NewRecords(upload.New(local, upload.Options{}), uploads, nil)
	d.Accounts, d.DB = acc.auth, acc.db
	if d.RatePerIP == 0 {
		d.RatePerIP = 1000
	}
	// A server of its own (rate limits in a fresh miniredis) over the
	// same accounts (sessions in the accounts' Redis).
	return &uploadEnv{accountsEnv: &accountsEnv{h: mustServer(tb, d), auth: acc.auth, db: acc.db}, dir: dir, uploads: uploads}
}

// mustMPLogin signs in the Mini Program user o-<name> and returns the
// token and user id.
func (e *uploadEnv) mustMPLogin(tb testing.TB, name string) (string, int64) {
	tb.Helper()
	w := do(e.h, "POST", "/api/mp/login", `{"code":"c-`+name+`"}`)
	if w.Code != 200 {
		tb.Fatalf("POST /api/mp/login = %d %s", w.Code, w.Body)
	}
	l := mustJSON[loginBody](tb, w.Body.Bytes())
	return l.Token, l.User.ID
}

// storedFiles lists the regular files under the storage dir.
func (e *uploadEnv) storedFiles(tb testing.TB) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// uploadRows counts the upload records among the first 100 ids (ids start
// at 1 in a fresh database).
func (e *uploadEnv) uploadRows(tb testing.TB) int {
	tb.Helper()
	n := 0
	for id := range int64(100) {
		_, err := e.uploads.Get(context.Background(), id+1)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, model.ErrNotFound):
			tb.Fatalf("Get(%d) = %v", id+1, err)
		}
	}
	return n
}

func testPicture() image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 6, 4))
	for y := range 4 {
		for x := range 6 {
			m.Set(x, y, color.RGBA{uint8(x * 40), uint8(y * 60), 128, 255})
		}
	}
	return m
}

func mustPNGBytes(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testPicture()); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func mustGIFBytes(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := gif.Encode(&buf, testPicture(), nil); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// part is one multipart part: a file when filename is set.
type part struct {
	name, filename string
	data           []byte
}

func mustMultipart(tb testing.TB, parts ...part) ([]byte, string) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.filename != "" {
			w, err = mw.CreateFormFile(p.name, p.filename)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(p.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// postUpload posts body; chunked sends it without a Content-Length.
func postUpload(h http.Handler, token string, body []byte, contentType string, chunked bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/api/mp/uploads", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if chunked {
		req.ContentLength = -1
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestUploadThenServe(t *testing.T) {
	e := mustUploadEnv(t, api.Deps{})
	tok, userID := e.mustMPLogin(t, "lina")
	img := mustPNGBytes(t)
	body, ct := mustMultipart(t, part{name: "note", data: []byte("ignored")}, part{name: "file", filename: "家.gif", data: img})
	w := postUpload(e.h, tok, body, ct, false)
	if w.Code != 201 {
		t.Fatalf("POST /api/mp/uploads = %d %s, want 201", w.Code, w.Body)
	}
	got := mustJSON[map[string]any](t, w.Body.Bytes())
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	if diff := cmp.Diff([]string{"id", "url"}, keys, cmpSorted); diff != "" {
		t.Errorf("upload answer keys (-want +got):\n%s", diff)
	}
	id, _ := got["id"].(float64)
	url, _ := got["url"].(string)
	key, ok := strings.CutPrefix(url, "/api/files/")
	if id <= 0 || !ok || !upload.ValidKey(key) || !strings.HasSuffix(key, ".png") {
		t.Fatalf("upload answer = %s, want an id and a /api/files/ url of a .png key", w.Body)
	}

	// The record is the caller's, and no one else's.
	owned, err := e.uploads.OwnedBy(context.Background(), []int64{int64(id)}, userID)
	if err != nil || len(owned) != 1 || owned[0].Key != key || owned[0].Width != 6 || owned[0].Height != 4 {
		t.Errorf("OwnedBy(%v, caller) = %+v, %v, want the 6×4 upload under %s", id, owned, err, key)
	}
	if _, err := e.uploads.OwnedBy(context.Background(), []int64{int64(id)}, userID+1); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("OwnedBy(%v, another user) = %v, want ErrInvalid", id, err)
	}

	// Anyone holding the url gets the same bytes, typed and cacheable.
	w = do(e.h, "GET", url, "")
	if w.Code != 200 {
		t.Fatalf("GET %s = %d %s", url, w.Code, w.Body)
	}
	if !bytes.Equal(w.Body.Bytes(), img) {
		t.Errorf("GET %s = %d bytes, want the %d uploaded", url, w.Body.Len(), len(img))
	}
	wantHeaders := map[string]string{
		"Content-Type":           "image/png",
		"Content-Length":         strconv.Itoa(len(img)),
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "public, max-age=31536000, immutable",
	}
	for k, v := range wantHeaders {
		if got := w.Header().Get(k); got != v {
			t.Errorf("GET %s header %s = %q, want %q", url, k, got, v)
		}
	}
}

// The upload route's body limit replaces the server's (1 MiB for JSON).
func TestUploadLargerThanJSONLimit(t *testing.T) {
	e := mustUploadEnv(t, api.Deps{BodyLimit: 1 << 20})
	tok, _ := e.mustMPLogin(t, "lina")
	m := image.NewNRGBA(image.Rect(0, 0, 800, 600))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range m.Pix {
		m.Pix[i] = byte(rng.Uint32())
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	if buf.Len() <= 1<<20 {
		t.Fatalf("test image is %d bytes, want more than 1 MiB", buf.Len())
	}
	body, ct := mustMultipart(t, part{name: "file", filename: "a.png", data: buf.Bytes()})
	if w := postUpload(e.h, tok, body, ct, false); w.Code != 201 {
		t.Errorf("POST /api/mp/uploads of %d bytes = %d %s, want 201", buf.Len(), w.Code, w.Body)
	}
	// Other routes keep the server's limit.
	w := do(e.h, "PATCH", "/api/mp/me", `{"nickname":"`+strings.Repeat("x", 2<<20)+`"}`, bearer(tok)...)
	if w.Code != 413 {
		t.Errorf("PATCH /api/mp/me of 2 MiB = %d, want 413", w.Code)
	}
}

func TestUploadFileURLPrefix(t *testing.T) {
	e := mustUploadEnv(t, api.Deps{FileURLPrefix: "https://cdn.example.org/"})
	tok, _ := e.mustMPLogin(t, "lina")
	body, ct := mustMultipart(t, part{name: "file", filename: "a.png", data: mustPNGBytes(t)})
	w := postUpload(e.h, tok, body, ct, false)
	url, _ := mustJSON[map[string]any](t, w.Body.Bytes())["url"].(string)
	if w.Code != 201 || !strings.HasPrefix(url, "https://cdn.example.org/uploads/") {
		t.Errorf("POST /api/mp/uploads with a CDN prefix = %d %s", w.Code, w.Body)
	}
}

func TestUploadRefusedStoresNothing(t *testing.T) {
	e := mustUploadEnv(t, api.Deps{})
	tok, _ := e.mustMPLogin(t, "lina")
	staffTok := func() string {
		e.mustStaff(t, "admin", false, model.RoleAdmin)
		return e.mustLogin(t, "admin").Token
	}()
	sixMiB := bytes.Repeat([]byte{0x89}, 6<<20)
	justOver := append(mustPNGBytes(t), make([]byte, upload.DefaultMaxSize)...)[:upload.DefaultMaxSize+1]
	multi := func(parts ...part) func(tb testing.TB) ([]byte, string) {
		return func(tb testing.TB) ([]byte, string) { return mustMultipart(tb, parts...) }
	}
	raw := func(body, ct string) func(tb testing.TB) ([]byte, string) {
		return func(testing.TB) ([]byte, string) { return []byte(body), ct }
	}
	truncated := func(tb testing.TB) ([]byte, string) {
		b, ct := mustMultipart(tb, part{name: "file", filename: "a.png", data: mustPNGBytes(tb)})
		return b[:len(b)-60], ct
	}
	tests := []struct {
		name    string
		token   string
		body    func(tb testing.TB) ([]byte, string)
		chunked bool
		status  int
		code    string
		field   string // expected in fields
	}{
		{"gif", tok, multi(part{name: "file", filename: "a.gif", data: mustGIFBytes(t)}), false, 415, "unsupported_media", ""},
		{"html named png", tok, multi(part{name: "file", filename: "a.png", data: []byte("<html><script>")}), false, 415, "unsupported_media", ""},
		{"6 MiB", tok, multi(part{name: "file", filename: "a.png", data: sixMiB}), false, 413, "too_large", ""},
		{"6 MiB chunked", tok, multi(part{name: "file", filename: "a.png", data: sixMiB}), true, 413, "too_large", ""},
		{"one byte over 5 MiB", tok, multi(part{name: "file", filename: "a.png", data: justOver}), false, 413, "too_large", ""},
		{"two files, the first too large", tok, multi(part{name: "file", filename: "a.png", data: justOver},
			part{name: "file", filename: "b.png", data: mustPNGBytes(t)}), false, 413, "too_large", ""},
		{"no file part", tok, multi(part{name: "photo", filename: "a.png", data: mustPNGBytes(t)}), false, 400, "invalid", "file"},
		{"empty form", tok, multi(), false, 400, "invalid", "file"},
		{"json", tok, raw(`{"file":"x"}`, "application/json"), false, 400, "invalid", "file"},
		{"no boundary", tok, raw("x", "multipart/form-data"), false, 400, "invalid", "file"},
		{"truncated", tok, truncated, false, 400, "incomplete_upload", ""},
		{"garbage multipart", tok, raw("not a multipart body", "multipart/form-data; boundary=xyz"), false, 400, "invalid", "file"},
		{"no token", "", multi(part{name: "file", filename: "a.png", data: mustPNGBytes(t)}), false, 401, "unauthenticated", ""},
		{"staff token", staffTok, multi(part{name: "file", filename: "a.png", data: mustPNGBytes(t)}), false, 401, "unauthenticated", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, ct := tt.body(t)
			w := postUpload(e.h, tt.token, body, ct, tt.chunked)
			if w.Code != tt.status {
				t.Fatalf("POST /api/mp/uploads = %d %s, want %d", w.Code, w.Body, tt.status)
			}
			env := decodeEnvelope(t, w)
			if env.Error.Code != tt.code || env.Error.Message == "" {
				t.Errorf("POST /api/mp/uploads error = %+v, want code %s with a message", env.Error, tt.code)
			}
			if tt.status == 413 && !tt.chunked && len(body) < 6<<20 && !strings.Contains(env.Error.Message, "5 MB") {
				t.Errorf("POST /api/mp/uploads message = %q, want the image limit (5 MB) named", env.Error.Message)
			}
			if tt.field != "" && env.Error.Fields[tt.field] == "" {
				t.Errorf("POST /api/mp/uploads fields = %v, want %s", env.Error.Fields, tt.field)
			}
		})
	}
	if files := e.storedFiles(t); len(files) != 0 {
		t.Errorf("refused uploads left files %v", files)
	}
	if n := e.uploadRows(t); n != 0 {
		t.Errorf("refused uploads left %d rows", n)
	}
}

func TestUploadRateLimitPerUser(t *testing.T) {
	e := mustUploadEnv(t, api.Deps{UploadsPerHour: 2})
	lina, _ := e.mustMPLogin(t, "lina")
	fang, _ := e.mustMPLogin(t, "fang")
	body, ct := mustMultipart(t, part{name: "file", filename: "a.png", data: mustPNGBytes(t)})
	for i := range 2 {
		if w := postUpload(e.h, lina, body, ct, false); w.Code != 201 {
			t.Fatalf("upload #%d = %d %s, want 201", i+1, w.Code, w.Body)
		}
	}
	w := postUpload(e.h, lina, body, ct, false)
	if w.Code != 429 || decodeEnvelope(t, w).Error.Code != "rate_limited" {
		t.Fatalf("upload #3 within the hour = %d %s, want 429 rate_limited", w.Code, w.Body)
	}
	if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 3600 {
		t.Errorf("Retry-After = %q, want 1–3600 seconds", w.Header().Get("Retry-After"))
	}
	if w := postUpload(e.h, fang, body, ct, false); w.Code != 201 {
		t.Errorf("another user's upload = %d %s, want 201", w.Code, w.Body)
	}
	if n := e.uploadRows(t); n != 3 {
		t.Errorf("rows = %d, want 3", n)
	}
}

func TestFileRouteRefusesOtherKeys(t *testing.T) {
	e := mustUploadEnv(t, api.Deps{})
	for _, path := range []string{
		"/api/files/",
		"/api/files/uploads/2026/11/" + strings.Repeat("a", 32) + ".png", // well-formed, nothing there
		"/api/files/uploads/2026/11/" + strings.Repeat("a", 32) + ".gif",
		"/api/files/uploads/2026/11/../../../etc/passwd",
		"/api/files/uploads/2026/11/%2e%2e%2f%2e%2e%2fsecret.png",
		"/api/files/wanjia.db",
		"/api/files/uploads/2026/13/" + strings.Repeat("a", 32) + ".png",
	} {
		w := do(e.h, "GET", path, "")
		if w.Code == 200 || w.Header().Get("Cache-Control") != "" {
			t.Errorf("GET %s = %d %v, want a refusal that is not cached", path, w.Code, w.Header())
		}
	}
}

// fakeUploads checks uploads with the real validation and records every
// key Open is asked for.
type fakeUploads struct {
	mu     sync.Mutex
	opened []string
}

func (f *fakeUploads) Save(_ context.Context, userID int64, r io.Reader, size int64) (model.Upload, error) {
	s, err := upload.Validate(r, size)
	if err != nil {
		return model.Upload{}, err
	}
	return model.Upload{ID: 1, UserID: userID, Key: "uploads/2026/11/" + strings.Repeat("0", 32) + "." + s.Ext}, nil
}

func (f *fakeUploads) Open(_ context.Context, key string) (io.ReadCloser, upload.Info, error) {
	f.mu.Lock()
	f.opened = append(f.opened, key)
	f.mu.Unlock()
	return io.NopCloser(strings.NewReader("img")), upload.Info{Size: 3, ContentType: "image/png"}, nil
}

func (f *fakeUploads) MaxSize() int64 { return upload.DefaultMaxSize }

// fakeAccounts lets the Mini Program token "mp" in as user 1.
type fakeAccounts struct{ api.Accounts }

func (fakeAccounts) AuthenticateMP(_ context.Context, token string) (model.Principal, error) {
	if token != "mp" {
		return model.Principal{}, model.ErrUnauthenticated
	}
	return model.Principal{Kind: model.SessionMP, SubjectID: 1}, nil
}

func FuzzUploadBody(f *testing.F) {
	for _, b := range [][]byte{
		nil,
		[]byte("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\x89PNG\r\n\x1a\n\r\n--b--\r\n"),
		[]byte("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--b--\r\n"),
		[]byte("--b\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=FF=D8=FF\r\n--b--"),
		[]byte("--b\r\n\r\n--b--"),
	} {
		f.Add(b)
	}
	h := mustServer(f, api.Deps{Accounts: fakeAccounts{}, Uploads: &fakeUploads{}, RatePerIP: 1e9, UploadsPerHour: 1e9})
	f.Fuzz(func(t *testing.T, body []byte) {
		w := postUpload(h, "mp", body, "multipart/form-data; boundary=b", false)
		switch w.Code {
		case 201, 400, 413, 415:
		default:
			t.Fatalf("POST /api/mp/uploads %q = %d %s", body, w.Code, w.Body)
		}
	})
}

func FuzzFileKey(f *testing.F) {
	for _, s := range []string{
		"uploads/2026/11/" + strings.Repeat("a", 32) + ".png",
		"uploads/2026/11/../../x.png",
		"%2e%2e/etc/passwd",
		"uploads//2026/11/x.png",
		"",
	} {
		f.Add(s)
	}
	fake := &fakeUploads{}
	h := mustServer(f, api.Deps{Accounts: fakeAccounts{}, Uploads: fake, RatePerIP: 1e9})
	f.Fuzz(func(t *testing.T, key string) {
		req, err := http.NewRequest("GET", "http://x/api/files/"+key, nil)
		if err != nil {
			return // not a URL a client could send
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 301, 307, 308, 400, 404:
		default:
			t.Fatalf("GET /api/files/%q = %d %s", key, w.Code, w.Body)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		for _, k := range fake.opened {
			if !upload.ValidKey(k) {
				t.Fatalf("GET /api/files/%q opened the invalid key %q", key, k)
			}
		}
	})
}
