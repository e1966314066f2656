package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"
)

// Options configure a Service. Zero values take the defaults.
type Options struct {
	MaxSize   int64            // bytes; DefaultMaxSize
	MaxPixels int64            // width × height; DefaultMaxPixels
	Now       func() time.Time // time.Now
	Rand      io.Reader        // crypto/rand.Reader, for keys
}

// Stored describes a saved upload.
type Stored struct {
	Key           string // for Open and Delete; safe to put in a URL path
	ContentType   string
	Size          int64
	Width, Height int    // displayed size
	SHA256        string // hex, of the stored bytes
}

// Service validates uploads and saves them under generated keys.
type Service struct {
	st   Storage
	opts Options
}

// New returns a Service that stores into st.
func New(st Storage, opts Options) *Service {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.MaxPixels <= 0 {
		opts.MaxPixels = DefaultMaxPixels
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	return &Service{st: st, opts: opts}
}

// Validate reads an upload of declaredSize bytes (-1 when unknown), at most
// MaxSize+1 of them, and accepts a JPEG, PNG or WebP by its content within
// the Service's limits. Errors, all *model.Error with a Chinese message:
//
//   - model.ErrTooLarge ("too_large"): more than MaxSize bytes, declared or
//     read (an *http.MaxBytesError from r counts too), or more than
//     MaxPixels pixels;
//   - model.ErrUnsupportedMedia ("unsupported_media"): not one of the three
//     formats, malformed, or an empty image;
//   - model.ErrInvalid ("incomplete_upload"): fewer or more bytes than
//     declared.
//
// Any other error is a failure to read r.
func (s *Service) Validate(r io.Reader, declaredSize int64) (Sniffed, error) {
	return validate(r, declaredSize, s.opts.MaxSize, s.opts.MaxPixels)
}

// Save validates an upload (see Validate), strips its metadata and stores
// it under a new key.
func (s *Service) Save(ctx context.Context, r io.Reader, declaredSize int64) (Stored, error) {
	sn, err := s.Validate(r, declaredSize)
	if err != nil {
		return Stored{}, err
	}
	key, err := NewKey(s.opts.Now(), s.opts.Rand, sn.Ext)
	if err != nil {
		return Stored{}, fmt.Errorf("save upload: %w", err)
	}
	if err := s.st.Put(ctx, key, bytes.NewReader(sn.Data), int64(len(sn.Data)), sn.ContentType); err != nil {
		return Stored{}, fmt.Errorf("save upload: %w", err)
	}
	sum := sha256.Sum256(sn.Data)
	return Stored{
		Key:         key,
		ContentType: sn.ContentType,
		Size:        int64(len(sn.Data)),
		Width:       sn.Width,
		Height:      sn.Height,
		SHA256:      hex.EncodeToString(sum[:]),
	}, nil
}

// Open returns a stored upload; see Storage.Open.
func (s *Service) Open(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	return s.st.Open(ctx, key)
}

// Delete removes a stored upload; see Storage.Delete.
func (s *Service) Delete(ctx context.Context, key string) error {
	return s.st.Delete(ctx, key)
}
