package store

import (
	"context"

	"gorm.io/gorm"
)

// GormForTest exposes the handle to this package's external tests.
func GormForTest(db *DB) *gorm.DB { return db.gorm }

// ConnForTest exposes conn to this package's external tests.
func ConnForTest(db *DB, ctx context.Context) *gorm.DB { return db.conn(ctx) }
