package upload

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"wanjia/model"
)

// Storage keeps uploaded objects under keys made by NewKey. Every method
// refuses a key that ValidKey rejects.
type Storage interface {
	// Put stores size bytes from r under key, replacing any object there.
	// contentType must be the type of the key's extension. Put either
	// stores the whole object or nothing.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Open returns the object's content, which the caller closes, and its
	// Info. A missing object or a malformed key returns an error wrapping
	// model.ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Delete removes the object. Deleting a missing object succeeds, so a
	// retried Delete does not fail; a malformed key returns an error
	// wrapping model.ErrNotFound.
	Delete(ctx context.Context, key string) error
}

// Info describes a stored object.
type Info struct {
	Size        int64
	ContentType string
	ModTime     time.Time
}

// Local is a Storage on the local file system, under one directory. Files
// are written atomically (a temporary file in the same directory, synced,
// then renamed over the key and the directory synced), with mode 0600 in
// directories of mode 0700. Every access goes through an os.Root, so not
// even a symbolic link planted in the directory can lead outside it.
type Local struct {
	root *os.Root
}

var _ Storage = (*Local)(nil)

// NewLocal returns a Local rooted at dir, creating dir (0700) if needed.
// Close it when done.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local storage: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("local storage: %w", err)
	}
	return &Local{root: root}, nil
}

// Close releases the directory handle.
func (l *Local) Close() error { return l.root.Close() }

// Put implements Storage. A size of -1 stores whatever r yields; any other
// size must match the bytes r yields exactly.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (err error) {
	if err := checkPut(key, contentType); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	dir := path.Dir(key)
	if err := l.root.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	var suffix [8]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	// The dot keeps temporary files out of the key pattern.
	tmp := dir + "/.tmp-" + hex.EncodeToString(suffix[:])
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			if cerr := f.Close(); cerr != nil && !errors.Is(cerr, os.ErrClosed) {
				err = errors.Join(err, cerr)
			}
			if rerr := l.root.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	src := r
	if size >= 0 {
		src = io.LimitReader(r, size+1)
	}
	n, err := io.Copy(f, ctxReader{ctx, src})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("put %s: got %d bytes, want %d: %w", key, n, size, model.ErrInvalid)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := l.root.Rename(tmp, key); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	// Make the rename durable: acknowledged means stored.
	if err := l.syncDir(dir); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (l *Local) syncDir(dir string) error {
	d, err := l.root.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// Open implements Storage. The content type comes from the key.
func (l *Local) Open(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey(key); err != nil {
		return nil, Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, fmt.Errorf("open %s: %w", key, err)
	}
	f, err := l.root.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, fmt.Errorf("open %s: %w", key, model.ErrNotFound)
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("open %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, fmt.Errorf("open %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, fmt.Errorf("open %s: not a regular file: %w", key, model.ErrNotFound)
	}
	ct, _ := KeyContentType(key)
	return f, Info{Size: fi.Size(), ContentType: ct, ModTime: fi.ModTime()}, nil
}

// Delete implements Storage.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := l.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
