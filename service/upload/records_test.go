package upload_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/upload"
)

// memUploads is an in-memory model.UploadStore; createErr makes Create
// fail (after calling onCreate, if set).
type memUploads struct {
	mu        sync.Mutex
	rows      []model.Upload
	createErr error
	onCreate  func()
}

func (m *memUploads) Create(_ context.Context, u model.Upload) (model.Upload, error) {
	if m.onCreate != nil {
		m.onCreate()
	}
	if m.createErr != nil {
		return model.Upload{}, m.createErr
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u.ID = int64(len(m.rows) + 1)
	u.CreatedAt = time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	m.rows = append(m.rows, u)
	return u, nil
}

func (m *memUploads) Get(_ context.Context, id int64) (model.Upload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.rows {
		if u.ID == id {
			return u, nil
		}
	}
	return model.Upload{}, model.ErrNotFound
}

func (m *memUploads) OwnedBy(context.Context, []int64, int64) ([]model.Upload, error) {
	return nil, errors.New("not used")
}

func (m *memUploads) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows)
}

// storedFiles lists the regular files under dir.
func storedFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

func TestRecordsSave(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := upload.New(mustLocal(t, dir), upload.Options{})
	store := &memUploads{}
	rc := upload.NewRecords(files, store, nil)
	in := mustPNG(t, 5, 7)
	got, err := rc.Save(context.Background(), 42, bytes.NewReader(in), int64(len(in)))
	if err != nil {
		t.Fatalf("Save() = %v", err)
	}
	stored, info := mustOpenAll(t, rc, got.Key)
	rec, err := store.Get(context.Background(), got.ID)
	if err != nil {
		t.Fatalf("record of %d: %v", got.ID, err)
	}
	if diff := cmp.Diff(rec, got); diff != "" {
		t.Errorf("Save() differs from its record (-record +got):\n%s", diff)
	}
	if got.UserID != 42 || got.ContentType != "image/png" || got.Width != 5 || got.Height != 7 ||
		got.Size != int64(len(stored)) || len(got.SHA256) != 64 || !upload.ValidKey(got.Key) {
		t.Errorf("Save() = %+v, want user 42's 5×7 PNG of %d bytes under a valid key", got, len(stored))
	}
	if info.ContentType != "image/png" {
		t.Errorf("Open() content type = %q, want image/png", info.ContentType)
	}
	if rc.MaxSize() != upload.DefaultMaxSize {
		t.Errorf("MaxSize() = %d, want %d", rc.MaxSize(), upload.DefaultMaxSize)
	}
}

func TestRecordsSaveLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	boom := errors.New("database down")
	tests := []struct {
		name   string
		userID int64
		in     func(tb testing.TB) []byte
		store  func(cancel context.CancelFunc) *memUploads
		kind   error
	}{
		{"gif", 1, mustGIF, func(context.CancelFunc) *memUploads { return &memUploads{} }, model.ErrUnsupportedMedia},
		{"too large", 1, func(tb testing.TB) []byte { return make([]byte, 64<<10+1) },
			func(context.CancelFunc) *memUploads { return &memUploads{} }, model.ErrTooLarge},
		{"no owner", 0, func(tb testing.TB) []byte { return mustPNG(tb, 2, 2) },
			func(context.CancelFunc) *memUploads { return &memUploads{} }, model.ErrUnauthenticated},
		{"record fails", 1, func(tb testing.TB) []byte { return mustPNG(tb, 2, 2) },
			func(context.CancelFunc) *memUploads { return &memUploads{createErr: boom} }, boom},
		// The client went away while the record was written: the object
		// is removed all the same.
		{"record fails after cancel", 1, func(tb testing.TB) []byte { return mustPNG(tb, 2, 2) },
			func(cancel context.CancelFunc) *memUploads { return &memUploads{createErr: boom, onCreate: cancel} }, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			store := tt.store(cancel)
			rc := upload.NewRecords(upload.New(mustLocal(t, dir), upload.Options{MaxSize: 64 << 10}), store, nil)
			in := tt.in(t)
			_, err := rc.Save(ctx, tt.userID, bytes.NewReader(in), -1)
			if !errors.Is(err, tt.kind) {
				t.Errorf("Save() = %v, want %v", err, tt.kind)
			}
			if files := storedFiles(t, dir); len(files) != 0 {
				t.Errorf("Save() failed but left %v", files)
			}
			if n := store.count(); n != 0 {
				t.Errorf("Save() failed but left %d records", n)
			}
		})
	}
}

// undeletable is a Storage whose Delete fails.
type undeletable struct {
	upload.Storage
	err error
}

func (u undeletable) Delete(context.Context, string) error { return u.err }

func TestRecordsSaveCleanupFails(t *testing.T) {
	t.Parallel()
	boom, stuck := errors.New("database down"), errors.New("disk gone")
	var logs testutil.SyncBuffer
	rc := upload.NewRecords(upload.New(undeletable{mustLocal(t, t.TempDir()), stuck}, upload.Options{}),
		&memUploads{createErr: boom}, slog.New(slog.NewTextHandler(&logs, nil)))
	_, err := rc.Save(context.Background(), 1, bytes.NewReader(mustPNG(t, 2, 2)), -1)
	if !errors.Is(err, boom) || !errors.Is(err, stuck) {
		t.Errorf("Save() = %v, want both %v and %v", err, boom, stuck)
	}
	if !strings.Contains(logs.String(), "key=uploads/") {
		t.Errorf("log = %q, want the orphan's key", logs.String())
	}
}
