package model

import (
	"context"
	"log/slog"
	"time"
)

// Upload is an image a Mini Program user uploaded (a nomination photo),
// stored under Key (see service/upload: 128 random bits, never from the
// user). Width and Height are the displayed size; SHA256 is the hex digest
// of the stored bytes (metadata already removed).
type Upload struct {
	ID          int64
	Key         string
	UserID      int64 // the owner
	ContentType string
	Size        int64
	Width       int
	Height      int
	SHA256      string
	CreatedAt   time.Time
}

// LogValue logs the id and owner, never the key (the key is what makes the
// image's URL unguessable).
func (u Upload) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("upload_id", u.ID), slog.Int64("user_id", u.UserID))
}

// MaxOwnedByIDs bounds the ids one UploadStore.OwnedBy call checks.
const MaxOwnedByIDs = 100

// UploadStore keeps the records of uploaded images. It never holds the
// bytes: those are in the upload storage, under Key.
type UploadStore interface {
	// Create inserts u (its ID ignored; a zero CreatedAt is now) and
	// returns it as stored. A key already recorded is ErrConflict.
	Create(ctx context.Context, u Upload) (Upload, error)
	// Get returns the upload, or ErrNotFound.
	Get(ctx context.Context, id int64) (Upload, error)
	// OwnedBy returns the uploads ids name, in the order of ids with
	// duplicates once, when every one exists and belongs to userID. When
	// some do not, it returns an ErrInvalid *Error whose message names
	// those ids (a missing id and another user's id are told apart by
	// nobody). More than MaxOwnedByIDs distinct ids is ErrInvalid; no ids
	// is an empty result.
	OwnedBy(ctx context.Context, ids []int64, userID int64) ([]Upload, error)
}
