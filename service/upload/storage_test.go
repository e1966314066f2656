package upload_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/service/upload"
)

func mustLocal(tb testing.TB, dir string) *upload.Local {
	tb.Helper()
	l, err := upload.NewLocal(dir)
	if err != nil {
		tb.Fatalf("NewLocal() = %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("Local.Close() = %v", err)
		}
	})
	return l
}

func mustNewKey(tb testing.TB, ext string) string {
	tb.Helper()
	k, err := upload.NewKey(time.Now(), rand.Reader, ext)
	if err != nil {
		tb.Fatalf("NewKey() = %v", err)
	}
	return k
}

func mustPut(tb testing.TB, st upload.Storage, key string, data []byte, ct string) {
	tb.Helper()
	if err := st.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), ct); err != nil {
		tb.Fatalf("Put(%s) = %v", key, err)
	}
}

// opener is the read side of a Storage, also offered by Service.
type opener interface {
	Open(ctx context.Context, key string) (io.ReadCloser, upload.Info, error)
}

func mustOpenAll(tb testing.TB, st opener, key string) ([]byte, upload.Info) {
	tb.Helper()
	rc, info, err := st.Open(context.Background(), key)
	if err != nil {
		tb.Fatalf("Open(%s) = %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("read %s: %v", key, err)
	}
	return b, info
}

func cleanupDelete(tb testing.TB, st upload.Storage, key string) {
	tb.Cleanup(func() {
		if err := st.Delete(context.Background(), key); err != nil {
			tb.Errorf("Delete(%s) = %v", key, err)
		}
	})
}

// testStorage runs the Storage contract against st.
func testStorage(t *testing.T, st upload.Storage) {
	ctx := context.Background()
	data := mustJPEG(t, 8, 6)

	t.Run("round trip", func(t *testing.T) {
		key := mustNewKey(t, "jpg")
		cleanupDelete(t, st, key)
		before := time.Now().Add(-time.Hour)
		mustPut(t, st, key, data, "image/jpeg")
		got, info := mustOpenAll(t, st, key)
		if !bytes.Equal(got, data) {
			t.Errorf("Open(%s) content = %d bytes, want the %d bytes put", key, len(got), len(data))
		}
		if info.Size != int64(len(data)) || info.ContentType != "image/jpeg" {
			t.Errorf("Open(%s) info = %+v, want size %d, image/jpeg", key, info, len(data))
		}
		if info.ModTime.Before(before) {
			t.Errorf("Open(%s) ModTime = %v, want recent", key, info.ModTime)
		}
	})

	t.Run("overwrite", func(t *testing.T) {
		key := mustNewKey(t, "png")
		cleanupDelete(t, st, key)
		mustPut(t, st, key, []byte("first version"), "image/png")
		second := mustPNG(t, 3, 3)
		mustPut(t, st, key, second, "image/png")
		if got, _ := mustOpenAll(t, st, key); !bytes.Equal(got, second) {
			t.Errorf("Open(%s) after overwrite = %q, want the second version", key, got)
		}
	})

	t.Run("missing", func(t *testing.T) {
		key := mustNewKey(t, "webp")
		if _, _, err := st.Open(ctx, key); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("Open(missing) = %v, want ErrNotFound", err)
		}
		if err := st.Delete(ctx, key); err != nil {
			t.Errorf("Delete(missing) = %v, want nil", err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		key := mustNewKey(t, "jpg")
		mustPut(t, st, key, data, "image/jpeg")
		if err := st.Delete(ctx, key); err != nil {
			t.Fatalf("Delete(%s) = %v", key, err)
		}
		if _, _, err := st.Open(ctx, key); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("Open(deleted) = %v, want ErrNotFound", err)
		}
		if err := st.Delete(ctx, key); err != nil {
			t.Errorf("Delete(deleted) = %v, want nil", err)
		}
	})

	t.Run("bad keys refused", func(t *testing.T) {
		for _, key := range badKeys {
			if _, _, err := st.Open(ctx, key); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("Open(%q) = %v, want ErrNotFound", key, err)
			}
			if err := st.Delete(ctx, key); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("Delete(%q) = %v, want ErrNotFound", key, err)
			}
			if err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "image/jpeg"); !errors.Is(err, model.ErrInvalid) {
				t.Errorf("Put(%q) = %v, want ErrInvalid", key, err)
			}
		}
	})

	t.Run("content type must match key", func(t *testing.T) {
		key := mustNewKey(t, "jpg")
		for _, ct := range []string{"image/png", "text/html", ""} {
			if err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), ct); !errors.Is(err, model.ErrInvalid) {
				t.Errorf("Put(%s, %q) = %v, want ErrInvalid", key, ct, err)
			}
		}
		if _, _, err := st.Open(ctx, key); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("Open() after refused Put = %v, want ErrNotFound", err)
		}
	})

	t.Run("short body stores nothing", func(t *testing.T) {
		key := mustNewKey(t, "jpg")
		cleanupDelete(t, st, key)
		if err := st.Put(ctx, key, bytes.NewReader(data[:10]), int64(len(data)), "image/jpeg"); err == nil {
			t.Fatal("Put(short body) = nil, want error")
		}
		if _, _, err := st.Open(ctx, key); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("Open() after failed Put = %v, want ErrNotFound", err)
		}
	})

	t.Run("canceled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		key := mustNewKey(t, "jpg")
		if err := st.Put(cctx, key, bytes.NewReader(data), int64(len(data)), "image/jpeg"); !errors.Is(err, context.Canceled) {
			t.Errorf("Put(canceled) = %v, want context.Canceled", err)
		}
		if _, _, err := st.Open(cctx, key); !errors.Is(err, context.Canceled) {
			t.Errorf("Open(canceled) = %v, want context.Canceled", err)
		}
	})
}

func TestLocalStorage(t *testing.T) {
	t.Parallel()
	testStorage(t, mustLocal(t, t.TempDir()))
}

func TestLocalPermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "uploads-root")
	st := mustLocal(t, dir)
	key := mustNewKey(t, "jpg")
	mustPut(t, st, key, mustJPEG(t, 2, 2), "image/jpeg")
	path := filepath.Join(dir, filepath.FromSlash(key))
	checks := []struct {
		path string
		want fs.FileMode
	}{
		{dir, 0o700},
		{filepath.Join(dir, "uploads"), 0o700},
		{filepath.Dir(filepath.Dir(path)), 0o700},
		{filepath.Dir(path), 0o700},
		{path, 0o600},
	}
	for _, c := range checks {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("mode of %s = %v, want %v", c.path, got, c.want)
		}
	}
}

// outsideFile creates a file next to (not inside) a storage root.
func outsideFile(tb testing.TB, parent string) string {
	tb.Helper()
	p := filepath.Join(parent, "secret.key")
	if err := os.WriteFile(p, []byte("do not touch"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestLocalTraversal(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	secret := outsideFile(t, parent)
	st := mustLocal(t, filepath.Join(parent, "root"))
	ctx := context.Background()
	for _, key := range append(badKeys, "../secret.key", "uploads/../../secret.key", secret) {
		if rc, _, err := st.Open(ctx, key); err == nil {
			rc.Close()
			t.Errorf("Open(%q) = nil error, want refusal", key)
		}
		if err := st.Delete(ctx, key); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", key, err)
		}
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "do not touch" {
		t.Errorf("file outside the root = %q, %v, want it untouched", b, err)
	}
}

func TestLocalSymlinkEscape(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside")
	if err := os.Mkdir(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(parent, "root")
	st := mustLocal(t, root)
	// Someone with write access to the data dir plants a link out of it.
	if err := os.Symlink(outside, filepath.Join(root, "uploads")); err != nil {
		t.Skipf("symlinks unsupported: %v", err)
	}
	key := mustNewKey(t, "jpg")
	if err := st.Put(context.Background(), key, bytes.NewReader([]byte("x")), 1, "image/jpeg"); err == nil {
		t.Errorf("Put(%s) through a symlink out of the root = nil, want error", key)
	}
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("Put wrote %d entries outside the root", len(entries))
	}
}

func TestLocalAtomicPut(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := mustLocal(t, dir)
	ctx := context.Background()
	key := mustNewKey(t, "jpg")
	data := mustJPEG(t, 16, 16)

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- st.Put(ctx, key, pr, int64(len(data)), "image/jpeg") }()
	if _, err := pw.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	// Half written: the key does not exist yet.
	if _, _, err := st.Open(ctx, key); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Open() during Put = %v, want ErrNotFound", err)
	}
	if _, err := pw.Write(data[len(data)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("Put() = %v", err)
	}
	if got, _ := mustOpenAll(t, st, key); !bytes.Equal(got, data) {
		t.Errorf("Open() after Put = %d bytes, want %d", len(got), len(data))
	}
	assertNoTempFiles(t, dir)
}

func TestLocalFailedPutLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := mustLocal(t, dir)
	ctx := context.Background()
	data := mustJPEG(t, 16, 16)
	boom := errors.New("client went away")
	tests := []struct {
		name string
		r    io.Reader
		size int64
	}{
		{"reader fails", io.MultiReader(bytes.NewReader(data[:100]), errorReader{boom}), int64(len(data))},
		{"short", bytes.NewReader(data[:100]), int64(len(data))},
		{"long", bytes.NewReader(data), 100},
	}
	for _, tt := range tests {
		key := mustNewKey(t, "jpg")
		if err := st.Put(ctx, key, tt.r, tt.size, "image/jpeg"); err == nil {
			t.Errorf("%s: Put() = nil, want error", tt.name)
		}
		if _, _, err := st.Open(ctx, key); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("%s: Open() after failed Put = %v, want ErrNotFound", tt.name, err)
		}
	}
	assertNoTempFiles(t, dir)
}

func TestLocalUnknownSize(t *testing.T) {
	t.Parallel()
	st := mustLocal(t, t.TempDir())
	key := mustNewKey(t, "png")
	data := mustPNG(t, 4, 4)
	if err := st.Put(context.Background(), key, bytes.NewReader(data), -1, "image/png"); err != nil {
		t.Fatalf("Put(size -1) = %v", err)
	}
	if got, _ := mustOpenAll(t, st, key); !bytes.Equal(got, data) {
		t.Errorf("Open() = %d bytes, want %d", len(got), len(data))
	}
}

func assertNoTempFiles(tb testing.TB, dir string) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			tb.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func newFakeS3Storage(tb testing.TB, opts upload.S3Options) (*upload.S3, *fakeS3) {
	tb.Helper()
	fake := newFakeS3("wanjia-test", "AKTEST")
	srv := httptest.NewServer(fake)
	tb.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		tb.Fatal(err)
	}
	opts.Endpoint = u.Host
	if opts.Bucket == "" {
		opts.Bucket = "wanjia-test"
	}
	if opts.AccessKey == "" {
		opts.AccessKey, opts.SecretKey = "AKTEST", "secret"
	}
	st, err := upload.NewS3(opts)
	if err != nil {
		tb.Fatalf("NewS3() = %v", err)
	}
	return st, fake
}

func TestS3Storage(t *testing.T) {
	t.Parallel()
	for _, region := range []string{"us-east-1", ""} { // "" asks the server for the location
		t.Run("region="+region, func(t *testing.T) {
			t.Parallel()
			st, fake := newFakeS3Storage(t, upload.S3Options{Region: region})
			testStorage(t, st)
			key := mustNewKey(t, "webp")
			mustPut(t, st, key, []byte("webp bytes"), "image/webp")
			obj, ok := fake.object(key)
			if !ok || string(obj.data) != "webp bytes" || obj.contentType != "image/webp" {
				t.Errorf("object in the bucket = %q (%q), %v, want the bytes put as image/webp", obj.data, obj.contentType, ok)
			}
		})
	}
}

func TestS3Ping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newFakeS3Storage(t, upload.S3Options{Region: "us-east-1"})
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping() = %v", err)
	}
	missing, _ := newFakeS3Storage(t, upload.S3Options{Region: "us-east-1", Bucket: "no-such-bucket"})
	if err := missing.Ping(ctx); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("Ping(missing bucket) = %v, want ErrUnavailable", err)
	}
	denied, _ := newFakeS3Storage(t, upload.S3Options{Region: "us-east-1", AccessKey: "WRONG", SecretKey: "x"})
	if err := denied.Ping(ctx); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("Ping(wrong key) = %v, want ErrUnavailable", err)
	}
	key := mustNewKey(t, "jpg")
	if err := denied.Put(ctx, key, bytes.NewReader([]byte("x")), 1, "image/jpeg"); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("Put(wrong key) = %v, want ErrUnavailable", err)
	}
	if _, _, err := denied.Open(ctx, key); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("Open(wrong key) = %v, want ErrUnavailable", err)
	}
}

func TestS3Down(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nil)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close() // nothing listens any more
	st, err := upload.NewS3(upload.S3Options{Endpoint: u.Host, Bucket: "b-1", AccessKey: "a", SecretKey: "s", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := st.Open(ctx, mustNewKey(t, "jpg")); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("Open(server down) = %v, want ErrUnavailable", err)
	}
}

func TestNewS3Options(t *testing.T) {
	t.Parallel()
	ok := upload.S3Options{Endpoint: "oss-cn-hangzhou.aliyuncs.com", Bucket: "wanjia-uploads", AccessKey: "a", SecretKey: "s", UseSSL: true, VirtualHostStyle: true}
	if _, err := upload.NewS3(ok); err != nil {
		t.Errorf("NewS3(%+v) = %v", ok, err)
	}
	tests := []struct {
		name string
		edit func(*upload.S3Options)
	}{
		{"no endpoint", func(o *upload.S3Options) { o.Endpoint = "" }},
		{"scheme", func(o *upload.S3Options) { o.Endpoint = "https://minio:9000" }},
		{"path", func(o *upload.S3Options) { o.Endpoint = "minio:9000/bucket" }},
		{"no bucket", func(o *upload.S3Options) { o.Bucket = "" }},
		{"bad bucket", func(o *upload.S3Options) { o.Bucket = "Bad_Bucket" }},
		{"no access key", func(o *upload.S3Options) { o.AccessKey = "" }},
		{"no secret key", func(o *upload.S3Options) { o.SecretKey = "" }},
	}
	for _, tt := range tests {
		o := ok
		tt.edit(&o)
		if _, err := upload.NewS3(o); err == nil {
			t.Errorf("%s: NewS3() = nil error, want error", tt.name)
		}
	}
}

// TestS3Real runs the contract against a real S3-compatible server when
// WANJIA_TEST_S3_ENDPOINT is set (with _BUCKET, _ACCESS_KEY, _SECRET_KEY and
// optionally _USE_SSL=true and _REGION). The bucket must exist; the test
// deletes what it writes.
func TestS3Real(t *testing.T) {
	endpoint := os.Getenv("WANJIA_TEST_S3_ENDPOINT")
	if endpoint == "" {
		t.Skip("WANJIA_TEST_S3_ENDPOINT not set")
	}
	st, err := upload.NewS3(upload.S3Options{
		Endpoint:  endpoint,
		Bucket:    os.Getenv("WANJIA_TEST_S3_BUCKET"),
		AccessKey: os.Getenv("WANJIA_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("WANJIA_TEST_S3_SECRET_KEY"),
		UseSSL:    os.Getenv("WANJIA_TEST_S3_USE_SSL") == "true",
		Region:    os.Getenv("WANJIA_TEST_S3_REGION"),
	})
	if err != nil {
		t.Fatalf("NewS3() = %v", err)
	}
	if err := st.Ping(context.Background()); err != nil {
		t.Fatalf("Ping() = %v", err)
	}
	testStorage(t, st)
}
