package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"wanjia/model"
)

// menuRow is the Official Account's custom menu: one row (id 1), its
// buttons as JSON in WeChat's menu/create shape.
type menuRow struct {
	ID                int64      `gorm:"primaryKey;autoIncrement:false"`
	Buttons           string     `gorm:"type:text;not null"`
	Revision          int64      `gorm:"not null"`
	UpdatedBy         int64      `gorm:"not null"`
	UpdatedAt         time.Time  `gorm:"not null"`
	PublishedRevision int64      `gorm:"not null"`
	PublishedAt       *time.Time `gorm:""`
}

func (menuRow) TableName() string { return "oa_menu" }

const menuRowID = 1

func (r menuRow) toModel() (model.Menu, error) {
	var buttons []model.MenuButton
	if err := json.Unmarshal([]byte(r.Buttons), &buttons); err != nil {
		return model.Menu{}, fmt.Errorf("menu: buttons: %w", err)
	}
	return model.Menu{
		Buttons: buttons, Revision: r.Revision, UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt.UTC(),
		PublishedRevision: r.PublishedRevision, PublishedAt: timeVal(r.PublishedAt),
	}, nil
}

// Menus implements model.MenuStore.
type Menus struct{ db *DB }

var _ model.MenuStore = (*Menus)(nil)

// NewMenus returns the menu store on db.
func NewMenus(db *DB) *Menus { return &Menus{db: db} }

// Menu returns the saved menu, or ErrNotFound when none was saved.
func (ms *Menus) Menu(ctx context.Context) (model.Menu, error) {
	var row menuRow
	err := ms.db.conn(ctx).Where("id = ? AND revision > 0", menuRowID).Take(&row).Error
	if err != nil {
		return model.Menu{}, fmt.Errorf("menu: %w", TranslateError(err))
	}
	return row.toModel()
}

// SaveMenu replaces the buttons and counts a revision in one UPDATE, so two
// concurrent saves get two revisions.
func (ms *Menus) SaveMenu(ctx context.Context, buttons []model.MenuButton, staffID int64, at time.Time) (model.Menu, error) {
	if buttons == nil {
		buttons = []model.MenuButton{}
	}
	b, err := json.Marshal(buttons)
	if err != nil {
		return model.Menu{}, fmt.Errorf("save menu: %w", err)
	}
	err = ms.db.conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoNothing: true}).
		Create(&menuRow{ID: menuRowID, Buttons: "[]", UpdatedAt: dbTime(at)}).Error
	if err != nil {
		return model.Menu{}, fmt.Errorf("save menu: %w", TranslateError(err))
	}
	err = ms.db.conn(ctx).Exec(`UPDATE oa_menu SET buttons = ?, revision = revision + 1, updated_by = ?, updated_at = ?
		WHERE id = ?`, string(b), staffID, dbTime(at), menuRowID).Error
	if err != nil {
		return model.Menu{}, fmt.Errorf("save menu: %w", TranslateError(err))
	}
	return ms.Menu(ctx)
}

// MarkMenuPublished records that revision was published at at, unless a
// later revision is already marked.
func (ms *Menus) MarkMenuPublished(ctx context.Context, revision int64, at time.Time) (model.Menu, error) {
	err := ms.db.conn(ctx).Model(&menuRow{}).Where("id = ? AND published_revision < ?", menuRowID, revision).
		Updates(map[string]any{"published_revision": revision, "published_at": dbTime(at)}).Error
	if err != nil {
		return model.Menu{}, fmt.Errorf("mark menu published: %w", TranslateError(err))
	}
	return ms.Menu(ctx)
}
