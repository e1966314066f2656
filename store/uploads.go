package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"wanjia/model"
)

// uploadRow is the record of an uploaded image. The key column is
// object_key: KEY is a reserved word in MySQL.
type uploadRow struct {
	ID          int64     `gorm:"primaryKey"`
	Key         asciiBin  `gorm:"column:object_key;size:100;not null;uniqueIndex:ux_uploads_object_key"`
	UserID      int64     `gorm:"not null;index:ix_uploads_user"`
	ContentType string    `gorm:"size:32;not null"`
	Size        int64     `gorm:"not null"`
	Width       int       `gorm:"not null"`
	Height      int       `gorm:"not null"`
	SHA256      asciiBin  `gorm:"column:sha256;size:64;not null;index:ix_uploads_sha256"`
	CreatedAt   time.Time `gorm:"not null"`
}

func (uploadRow) TableName() string { return "uploads" }

func (r uploadRow) toModel() model.Upload {
	return model.Upload{
		ID: r.ID, Key: string(r.Key), UserID: r.UserID, ContentType: r.ContentType, Size: r.Size,
		Width: r.Width, Height: r.Height, SHA256: string(r.SHA256), CreatedAt: r.CreatedAt.UTC(),
	}
}

// Uploads implements model.UploadStore.
type Uploads struct{ db *DB }

var _ model.UploadStore = (*Uploads)(nil)

// NewUploads returns the upload store on db.
func NewUploads(db *DB) *Uploads { return &Uploads{db: db} }

// Create inserts u and returns it as stored; a key already recorded is
// ErrConflict.
func (us *Uploads) Create(ctx context.Context, u model.Upload) (model.Upload, error) {
	row := uploadRow{
		Key: asciiBin(u.Key), UserID: u.UserID, ContentType: u.ContentType, Size: u.Size,
		Width: u.Width, Height: u.Height, SHA256: asciiBin(u.SHA256),
	}
	if !u.CreatedAt.IsZero() {
		row.CreatedAt = dbTime(u.CreatedAt)
	}
	if err := us.db.conn(ctx).Create(&row).Error; err != nil {
		return model.Upload{}, fmt.Errorf("create upload: %w", TranslateError(err))
	}
	// Read back: the database keeps the time at its own precision (MySQL:
	// milliseconds).
	return us.Get(ctx, row.ID)
}

// Get returns the upload or ErrNotFound.
func (us *Uploads) Get(ctx context.Context, id int64) (model.Upload, error) {
	var row uploadRow
	if err := us.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return model.Upload{}, fmt.Errorf("upload %d: %w", id, TranslateError(err))
	}
	return row.toModel(), nil
}

// OwnedBy returns the uploads ids name, in their order, when all exist and
// belong to userID; otherwise ErrInvalid naming the others.
func (us *Uploads) OwnedBy(ctx context.Context, ids []int64, userID int64) ([]model.Upload, error) {
	want := make([]int64, 0, len(ids))
	seen := make(map[int64]bool, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return []model.Upload{}, nil
	}
	if len(want) > model.MaxOwnedByIDs {
		return nil, model.Errorf(model.ErrInvalid, "图片最多 %d 张", model.MaxOwnedByIDs)
	}
	var rows []uploadRow
	if err := us.db.conn(ctx).Where("id IN ? AND user_id = ?", want, userID).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("uploads owned by %d: %w", userID, TranslateError(err))
	}
	byID := make(map[int64]uploadRow, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	out := make([]model.Upload, 0, len(want))
	var bad []string
	for _, id := range want {
		r, ok := byID[id]
		if !ok {
			bad = append(bad, strconv.FormatInt(id, 10))
			continue
		}
		out = append(out, r.toModel())
	}
	if len(bad) > 0 {
		return nil, model.Errorf(model.ErrInvalid, "图片不存在或不属于您：%s", strings.Join(bad, "、"))
	}
	return out, nil
}
