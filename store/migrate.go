package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"gorm.io/gorm"
)

// migration is one schema step. Steps run in order, once each, recorded in
// schema_migrations. Each Up must be idempotent (AutoMigrate is), because
// MySQL cannot roll DDL back: a step that failed halfway is run again whole.
type migration struct {
	ID string
	Up func(tx *gorm.DB) error
}

// migrations lists every schema step in order. Append only: never edit or
// reorder a step that has shipped.
var migrations = []migration{
	{ID: "0001_foundation", Up: func(tx *gorm.DB) error {
		return tx.AutoMigrate(foundationRows...)
	}},
	{ID: "0002_uploads", Up: func(tx *gorm.DB) error {
		return tx.AutoMigrate(uploadRows...)
	}},
	{ID: "0003_gateway_messages", Up: func(tx *gorm.DB) error { // store/messages.go
		return tx.AutoMigrate(gatewayMessageRows...)
	}},
	{ID: "0004_gateway_replies", Up: migrateGateway},                         // store/replies.go
	{ID: "0005_notify", Up: migrateNotify},                                   // store/notify.go (and users.session_key_sealed)
	{ID: "0006_fairs", Up: migrateFairs},                                     // store/fairs.go
	{ID: "0007_campaigns", Up: migrateCampaigns},                             // store/campaigns.go, store/campaign_votes.go
	{ID: "0008_lessons", Up: migrateLessons},                                 // store/lessons.go (and notify_deliveries.read_at)
	{ID: "0009_cases", Up: migrateCases},                                     // store/cases.go
	{ID: "0010_articles", Up: migrateArticles},                               // store/articles.go, store/totp.go
	{ID: "0011_fairs_resignup", Up: migrateFairsResignup},                    // store/fairs.go
	{ID: "0012_gateway_messages_callback", Up: migrateMessagesCallbackIndex}, // store/messages.go
	{ID: "0013_cases_calendar", Up: migrateCasesCalendar},                    // store/cases_calendar.go
	{ID: "0014_lessons_withdraw", Up: migrateLessonsWithdraw},                // store/lessons.go (and notify_pushes.cancelled_at)
	{ID: "0015_articles_mass_poll", Up: migrateArticlesMassPoll},             // store/articles.go
}

// foundationRows are the tables of the platform foundation.
var foundationRows = []any{
	&userRow{}, &staffRow{}, &loginRow{}, &auditRow{},
}

// uploadRows are the tables of uploaded images (step 0002; 0001 had
// shipped without them).
var uploadRows = []any{
	&uploadRow{},
}

type schemaMigration struct {
	ID        string    `gorm:"primaryKey;size:100"`
	AppliedAt time.Time `gorm:"not null"`
}

func (schemaMigration) TableName() string { return "schema_migrations" }

// Migrate applies the steps not yet applied. Copies of the service that
// start together take a database lock (MySQL GET_LOCK, PostgreSQL advisory
// lock, SQLite's single writer), so each step runs once.
func (db *DB) Migrate(ctx context.Context) error {
	if db.driver == "sqlite" {
		// SQLite's DDL is transactional and an IMMEDIATE transaction is
		// the write lock: a second migrator waits on the busy timeout.
		return db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return db.migrate(ctx, tx) })
	}
	return db.gorm.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		// Connection hands over a handle whose statement is shared by every
		// call; a new session per call keeps AutoMigrate's state out of the
		// later inserts.
		conn = conn.Session(&gorm.Session{NewDB: true})
		unlock, err := db.lockMigrations(conn)
		if err != nil {
			return err
		}
		defer unlock()
		return db.migrate(ctx, conn)
	})
}

func (db *DB) migrate(ctx context.Context, conn *gorm.DB) error {
	if err := conn.AutoMigrate(&schemaMigration{}); err != nil {
		return fmt.Errorf("migrate: schema_migrations: %w", err)
	}
	var done []schemaMigration
	if err := conn.Find(&done).Error; err != nil {
		return fmt.Errorf("migrate: read applied: %w", err)
	}
	applied := make(map[string]bool, len(done))
	for _, m := range done {
		applied[m.ID] = true
	}
	for _, m := range migrations {
		if applied[m.ID] {
			continue
		}
		start := time.Now()
		if err := m.Up(conn); err != nil {
			return fmt.Errorf("migrate %s: %w", m.ID, err)
		}
		if err := conn.Create(&schemaMigration{ID: m.ID, AppliedAt: time.Now().UTC()}).Error; err != nil {
			return fmt.Errorf("migrate %s: record: %w", m.ID, err)
		}
		db.log.InfoContext(ctx, "migration applied", "id", m.ID, "elapsed_ms", time.Since(start).Milliseconds())
	}
	return nil
}

// Pending lists the migration ids not yet applied.
func (db *DB) Pending(ctx context.Context) ([]string, error) {
	g := db.gorm.WithContext(ctx)
	applied := map[string]bool{}
	if g.Migrator().HasTable(&schemaMigration{}) {
		var done []schemaMigration
		if err := g.Find(&done).Error; err != nil {
			return nil, fmt.Errorf("pending migrations: %w", err)
		}
		for _, m := range done {
			applied[m.ID] = true
		}
	}
	var pending []string
	for _, m := range migrations {
		if !applied[m.ID] {
			pending = append(pending, m.ID)
		}
	}
	return pending, nil
}

const migrateLockName = "wanjia_migrate"

func (db *DB) lockMigrations(conn *gorm.DB) (func(), error) {
	switch db.driver {
	case "mysql":
		var got *int
		if err := conn.Raw("SELECT GET_LOCK(?, 120)", migrateLockName).Scan(&got).Error; err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
		if got == nil || *got != 1 {
			return nil, errors.New("migrate: another copy holds the migration lock for 120 s")
		}
		return func() { conn.Exec("SELECT RELEASE_LOCK(?)", migrateLockName) }, nil
	case "postgres":
		h := fnv.New64a()
		h.Write([]byte(migrateLockName))
		key := int64(h.Sum64() >> 1)
		if err := conn.Exec("SELECT pg_advisory_lock(?)", key).Error; err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
		return func() { conn.Exec("SELECT pg_advisory_unlock(?)", key) }, nil
	}
	return func() {}, nil
}
