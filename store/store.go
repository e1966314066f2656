// Package store implements model's store contracts with gorm on SQLite
// (pure-Go glebarez/sqlite), MySQL 8 / MariaDB 10.11 and PostgreSQL 15+.
// Only this package touches *gorm.DB, always with WithContext.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"wanjia/model"
)

// Options configure Open.
type Options struct {
	Driver          string // sqlite, mysql or postgres
	DSN             string // for sqlite: a file path (parent folders are created)
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	SlowQuery       time.Duration // queries slower than this are logged (without parameters)
	Logger          *slog.Logger
}

// DB is the database handle shared by every store.
type DB struct {
	gorm   *gorm.DB
	sql    *sql.DB
	driver string
	log    *slog.Logger
}

// Open connects to the database, applies the pool settings and pings it.
// The returned cleanup closes the pool.
func Open(ctx context.Context, o Options) (*DB, func(), error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var dial gorm.Dialector
	switch o.Driver {
	case "sqlite":
		dsn, err := sqliteDSN(o.DSN)
		if err != nil {
			return nil, nil, err
		}
		dial = sqlite.Open(dsn)
	case "mysql":
		dial = mysql.New(mysql.Config{DSN: mysqlDSN(o.DSN)})
	case "postgres":
		dial = postgres.New(postgres.Config{DSN: o.DSN})
	default:
		return nil, nil, fmt.Errorf("open database: unknown driver %q", o.Driver)
	}
	gcfg := &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		Logger:                 newGormLogger(o.Logger, o.SlowQuery),
	}
	var g *gorm.DB
	err := retryBusy(ctx, o.Driver, func() (err error) {
		g, err = gorm.Open(dial, gcfg)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open database: %w", redactDSNError(err, o.DSN))
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB.SetMaxOpenConns(max(o.MaxOpenConns, 1))
	sqlDB.SetMaxIdleConns(o.MaxIdleConns)
	sqlDB.SetConnMaxLifetime(o.ConnMaxLifetime)
	db := &DB{gorm: g, sql: sqlDB, driver: o.Driver, log: o.Logger}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := retryBusy(pingCtx, o.Driver, func() error { return sqlDB.PingContext(pingCtx) }); err != nil {
		_ = sqlDB.Close()
		return nil, nil, fmt.Errorf("open database: ping %s: %w", o.Driver, redactDSNError(err, o.DSN))
	}
	return db, func() {
		if err := sqlDB.Close(); err != nil {
			o.Logger.Warn("close database", "err", err)
		}
	}, nil
}

// retryBusy runs open until it does not fail with SQLITE_BUSY. On a fresh
// SQLite file several openers race to switch it to WAL, and SQLite answers
// that pragma with SQLITE_BUSY without waiting on the busy timeout.
func retryBusy(ctx context.Context, driver string, open func() error) error {
	for attempt := 0; ; attempt++ {
		err := open()
		if err == nil || driver != "sqlite" || attempt == 20 || !sqliteBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
}

func sqliteBusy(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked")
}

// sqliteDSN turns a file path into a glebarez DSN with WAL, foreign keys,
// a busy timeout and IMMEDIATE transactions (so two writers queue on the
// busy timeout instead of failing with SQLITE_BUSY on lock upgrade).
func sqliteDSN(path string) (string, error) {
	if strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return path, nil // the operator knows better
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("open database: create %s: %w", dir, err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode(), nil
}

// mysqlDSN adds the parameters wanjia relies on when they are missing:
// parseTime (time.Time columns), utf8mb4, UTC and client-side
// interpolation.
func mysqlDSN(dsn string) string {
	base, query, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return dsn
	}
	// interpolateParams: the driver otherwise prepares, runs and closes
	// every statement (three round trips); utf8mb4 escapes safely.
	for k, v := range map[string]string{"parseTime": "true", "charset": "utf8mb4", "loc": "UTC", "interpolateParams": "true"} {
		if q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	return base + "?" + q.Encode()
}

// redactDSNError removes the DSN (which may hold a password) from driver
// errors that quote it.
func redactDSNError(err error, dsn string) error {
	if dsn == "" || !strings.Contains(err.Error(), dsn) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), dsn, "[dsn]"))
}

// Driver names the database driver.
func (db *DB) Driver() string { return db.driver }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.sql.PingContext(ctx)
}

// Stats exposes the pool statistics for metrics.
func (db *DB) Stats() sql.DBStats { return db.sql.Stats() }

type txKey struct{}

// WithTx runs fn in a transaction carried in ctx: store methods called with
// that ctx use it. A nested WithTx joins the outer transaction. fn's error
// rolls back and is returned as is.
func (db *DB) WithTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(ctx)
	}
	return db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(context.WithValue(ctx, txKey{}, tx))
	})
}

// InTx reports whether ctx carries a transaction.
func InTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*gorm.DB)
	return ok
}

// conn returns the transaction in ctx, or the pool, bound to ctx.
func (db *DB) conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx.WithContext(ctx)
	}
	return db.gorm.WithContext(ctx)
}

// TranslateError maps gorm and driver errors to model kinds: not found →
// model.ErrNotFound, duplicate key → model.ErrConflict, foreign key →
// model.ErrInvalid, context ends as they are. Other errors are returned as
// they are (they become 500 internal).
func TranslateError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return model.Wrap(model.ErrNotFound, err, "记录不存在")
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return model.Wrap(model.ErrConflict, err, "记录已存在")
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return model.Wrap(model.ErrInvalid, err, "关联的记录不存在")
	}
	return err
}

// gormLogger sends gorm's slow queries and errors to slog without the SQL
// parameters (which may hold personal data).
type gormLogger struct {
	log  *slog.Logger
	slow time.Duration
}

func newGormLogger(l *slog.Logger, slow time.Duration) logger.Interface {
	return &gormLogger{log: l, slow: slow}
}

func (g *gormLogger) LogMode(logger.LogLevel) logger.Interface { return g }
func (g *gormLogger) Info(context.Context, string, ...any)     {}
func (g *gormLogger) Warn(ctx context.Context, msg string, _ ...any) {
	g.log.WarnContext(ctx, "gorm", "msg", msg)
}
func (g *gormLogger) Error(ctx context.Context, msg string, _ ...any) {
	g.log.ErrorContext(ctx, "gorm", "msg", msg)
}

// Trace logs failed queries (except not-found and duplicates, which are
// answers, not failures) and slow ones. The SQL is logged with its
// placeholders only: gorm's rendered SQL would carry the values.
func (g *gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, gorm.ErrDuplicatedKey) &&
		!errors.Is(err, context.Canceled):
		g.log.WarnContext(ctx, "query failed", "err", err, "elapsed_ms", elapsed.Milliseconds())
	case g.slow > 0 && elapsed > g.slow:
		sql, rows := fc()
		g.log.WarnContext(ctx, "slow query", "sql", statementShape(sql), "rows", rows, "elapsed_ms", elapsed.Milliseconds())
	}
}

// statementShape keeps the statement up to its first quote or digit run of
// values; enough to find the query, never the data.
func statementShape(sql string) string {
	if i := strings.IndexAny(sql, "'\""); i >= 0 {
		sql = sql[:i] + "…"
	}
	if len(sql) > 200 {
		sql = sql[:200] + "…"
	}
	return sql
}

// toModels converts rows with their toModel method, stopping at the first
// row that cannot be converted.
func toModels[M any, R interface{ toModel() (M, error) }](rows []R) ([]M, error) {
	out := make([]M, 0, len(rows))
	for _, r := range rows {
		m, err := r.toModel()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
