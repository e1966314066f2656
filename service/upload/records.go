package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"wanjia/model"
)

// Records is the upload use case of the Mini Program: it saves a user's
// image (Service.Save: content sniffing, size and pixel budget, location
// metadata removed) and records it in a model.UploadStore, so that later
// requests can check that an upload id exists and belongs to the caller.
// Either both the object and its record exist, or neither does (short of
// a failed clean-up, which is logged).
type Records struct {
	files *Service
	store model.UploadStore
	log   *slog.Logger
}

// NewRecords returns the use case over files and store; a nil log
// discards.
func NewRecords(files *Service, store model.UploadStore, log *slog.Logger) *Records {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Records{files: files, store: store, log: log}
}

// cleanupTimeout bounds the removal of an object whose record failed.
const cleanupTimeout = 10 * time.Second

// Save validates and stores an upload of userID of declaredSize bytes (-1
// when unknown) read from r, then records it. Validation errors are those
// of Service.Validate (ErrTooLarge, ErrUnsupportedMedia, ErrInvalid) and
// leave nothing behind. When the record cannot be written the stored
// object is deleted again (even if ctx has ended) and the error returned.
func (rc *Records) Save(ctx context.Context, userID int64, r io.Reader, declaredSize int64) (model.Upload, error) {
	if userID <= 0 {
		return model.Upload{}, fmt.Errorf("save upload: no owner: %w", model.ErrUnauthenticated)
	}
	st, err := rc.files.Save(ctx, r, declaredSize)
	if err != nil {
		return model.Upload{}, err
	}
	u, err := rc.store.Create(ctx, model.Upload{
		Key: st.Key, UserID: userID, ContentType: st.ContentType, Size: st.Size,
		Width: st.Width, Height: st.Height, SHA256: st.SHA256,
	})
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if derr := rc.files.Delete(dctx, st.Key); derr != nil {
			// The key is logged so an operator can remove the orphan; it is
			// not tied to anyone, and no record points at it.
			rc.log.ErrorContext(ctx, "upload: delete object after failed record", "key", st.Key, "err", derr)
			err = errors.Join(err, derr)
		}
		return model.Upload{}, fmt.Errorf("record upload: %w", err)
	}
	return u, nil
}

// Open returns a stored object and its Info; see Storage.Open (a malformed
// key or a missing object is model.ErrNotFound).
func (rc *Records) Open(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	return rc.files.Open(ctx, key)
}

// MaxSize is the largest upload Save accepts, in bytes.
func (rc *Records) MaxSize() int64 { return rc.files.opts.MaxSize }
