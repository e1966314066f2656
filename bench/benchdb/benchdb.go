// Package benchdb gives the Go benches a throw-away database: a temp
// SQLite file, or a MySQL database / PostgreSQL schema created beside the
// one a DSN names and dropped at the end.
package benchdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // to create the throw-away database
	_ "github.com/jackc/pgx/v5/stdlib" // to create the throw-away schema

	"wanjia/store"
)

// Throwaway returns store options for a fresh database of driver (sqlite,
// mysql or postgres; dsn names an existing database for the last two)
// with a pool of conns, and the cleanup that removes it.
func Throwaway(ctx context.Context, driver, dsn string, conns int) (store.Options, func(), error) {
	base := store.Options{Driver: driver, MaxOpenConns: conns, MaxIdleConns: conns, ConnMaxLifetime: time.Hour}
	if driver == "sqlite" {
		dir, err := os.MkdirTemp("", "wanjia-bench")
		if err != nil {
			return base, nil, err
		}
		base.DSN = filepath.Join(dir, "bench.db")
		return base, func() { _ = os.RemoveAll(dir) }, nil
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "wanjia_bench_" + hex.EncodeToString(b)
	sqlDriver := map[string]string{"mysql": "mysql", "postgres": "pgx"}[driver]
	if sqlDriver == "" {
		return base, nil, fmt.Errorf("driver %q is not sqlite, mysql or postgres", driver)
	}
	admin, err := sql.Open(sqlDriver, dsn)
	if err != nil {
		return base, nil, err
	}
	if driver == "postgres" {
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
			_ = admin.Close()
			return base, nil, fmt.Errorf("create schema: %w", err)
		}
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		base.DSN = dsn + sep + "search_path=" + name
		return base, func() {
			_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+name+" CASCADE")
			_ = admin.Close()
		}, nil
	}
	slash := strings.LastIndex(dsn, "/")
	if slash < 0 {
		_ = admin.Close()
		return base, nil, errors.New("-dsn: no /database")
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		_ = admin.Close()
		return base, nil, fmt.Errorf("create database: %w", err)
	}
	rest := ""
	if q := strings.Index(dsn[slash:], "?"); q >= 0 {
		rest = dsn[slash+q:]
	}
	base.DSN = dsn[:slash+1] + name + rest
	return base, func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE "+name)
		_ = admin.Close()
	}, nil
}

// Open opens a fresh, migrated throw-away database (Throwaway) and returns
// it with the one cleanup that closes and removes it.
func Open(ctx context.Context, driver, dsn string, conns int) (*store.DB, func(), error) {
	opts, remove, err := Throwaway(ctx, driver, dsn, conns)
	if err != nil {
		return nil, nil, err
	}
	db, closeDB, err := store.Open(ctx, opts)
	if err != nil {
		remove()
		return nil, nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		closeDB()
		remove()
		return nil, nil, err
	}
	return db, func() { closeDB(); remove() }, nil
}
