package upload_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/service/upload"
)

func fixedOptions() upload.Options {
	return upload.Options{
		Now:  func() time.Time { return time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC) },
		Rand: bytes.NewReader(bytes.Repeat([]byte{0x5c}, 16*10)),
	}
}

func TestServiceSave(t *testing.T) {
	t.Parallel()
	jpg := mustJPEG(t, 8, 6)
	withGPS := jpegWithMetadata(jpg, 6, true)
	pngb := mustPNG(t, 5, 7)
	webp := mustReadFile(t, "blue-purple-pink.lossy.webp")
	id := strings.Repeat("5c", 16)
	tests := []struct {
		name string
		in   []byte
		want upload.Stored // SHA256 and Size filled from the stored bytes
	}{
		{"jpeg", jpg, upload.Stored{Key: "uploads/2026/11/" + id + ".jpg", ContentType: "image/jpeg", Width: 8, Height: 6}},
		{"jpeg with gps", withGPS, upload.Stored{Key: "uploads/2026/11/" + id + ".jpg", ContentType: "image/jpeg", Width: 6, Height: 8}},
		{"png", pngb, upload.Stored{Key: "uploads/2026/11/" + id + ".png", ContentType: "image/png", Width: 5, Height: 7}},
		{"webp", webp, upload.Stored{Key: "uploads/2026/11/" + id + ".webp", ContentType: "image/webp", Width: 150, Height: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := mustLocal(t, t.TempDir())
			svc := upload.New(st, fixedOptions())
			got, err := svc.Save(context.Background(), bytes.NewReader(tt.in), int64(len(tt.in)))
			if err != nil {
				t.Fatalf("Save() = %v", err)
			}
			stored, info := mustOpenAll(t, svc, got.Key)
			sum := sha256.Sum256(stored)
			want := tt.want
			want.Size, want.SHA256 = int64(len(stored)), hex.EncodeToString(sum[:])
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Save() mismatch (-want +got):\n%s", diff)
			}
			if info.ContentType != tt.want.ContentType || info.Size != int64(len(stored)) {
				t.Errorf("Open() info = %+v, want %s, %d bytes", info, tt.want.ContentType, len(stored))
			}
			for _, s := range plantedSecrets {
				if bytes.Contains(stored, []byte(s)) {
					t.Errorf("stored image contains %q", s)
				}
			}
		})
	}
}

func TestServiceSaveRejectsStoreNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	svc := upload.New(mustLocal(t, dir), upload.Options{})
	_, err := svc.Save(context.Background(), strings.NewReader("<html>not an image</html>"), -1)
	checkCoded(t, err, model.ErrUnsupportedMedia, "unsupported_media")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("Save(rejected) left %d entries in the storage dir", len(entries))
	}
}

func TestServiceSaveKeysDiffer(t *testing.T) {
	t.Parallel()
	svc := upload.New(mustLocal(t, t.TempDir()), upload.Options{})
	jpg := mustJPEG(t, 4, 4)
	a, err := svc.Save(context.Background(), bytes.NewReader(jpg), -1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Save(context.Background(), bytes.NewReader(jpg), -1)
	if err != nil {
		t.Fatal(err)
	}
	if a.Key == b.Key {
		t.Errorf("Save() twice gave key %q both times", a.Key)
	}
	if a.SHA256 != b.SHA256 {
		t.Errorf("Save() of the same bytes gave SHA256 %s and %s", a.SHA256, b.SHA256)
	}
	if !upload.ValidKey(a.Key) || !strings.HasPrefix(a.Key, "uploads/") {
		t.Errorf("Save() key = %q, not a valid key", a.Key)
	}
}

// failingStorage is a Storage whose Put fails.
type failingStorage struct {
	upload.Storage
	err error
}

func (f failingStorage) Put(context.Context, string, io.Reader, int64, string) error { return f.err }

func TestServiceSaveStorageFails(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk full")
	svc := upload.New(failingStorage{err: boom}, fixedOptions())
	_, err := svc.Save(context.Background(), bytes.NewReader(mustPNG(t, 2, 2)), -1)
	if !errors.Is(err, boom) {
		t.Errorf("Save() = %v, want it to wrap %v", err, boom)
	}
}

func TestServiceSaveRandFails(t *testing.T) {
	t.Parallel()
	opts := fixedOptions()
	opts.Rand = bytes.NewReader(nil)
	svc := upload.New(mustLocal(t, t.TempDir()), opts)
	if _, err := svc.Save(context.Background(), bytes.NewReader(mustPNG(t, 2, 2)), -1); err == nil {
		t.Error("Save() with an empty random source = nil error, want error")
	}
}

func TestServiceOpenDelete(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	svc := upload.New(mustLocal(t, dir), upload.Options{})
	ctx := context.Background()
	got, err := svc.Save(ctx, bytes.NewReader(mustPNG(t, 3, 3)), -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(got.Key))); err != nil {
		t.Errorf("stored file: %v", err)
	}
	if err := svc.Delete(ctx, got.Key); err != nil {
		t.Fatalf("Delete() = %v", err)
	}
	if _, _, err := svc.Open(ctx, got.Key); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Open(deleted) = %v, want ErrNotFound", err)
	}
	if _, _, err := svc.Open(ctx, "../../etc/passwd"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Open(traversal) = %v, want ErrNotFound", err)
	}
}
