// Package storetest opens throw-away databases for tests: SQLite in a temp
// dir always, and MySQL/MariaDB and PostgreSQL when WANJIA_TEST_MYSQL_DSN and
// WANJIA_TEST_POSTGRES_DSN are set. Each test gets its own database (MySQL)
// or schema (PostgreSQL), dropped when the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql" // for creating test databases
	_ "github.com/jackc/pgx/v5/stdlib" // for creating test schemas

	"wanjia/store"
)

// Dialect is one database to run a test against.
type Dialect struct {
	Name string // sqlite, mysql, postgres
	open func(tb testing.TB) store.Options
}

// Dialects lists SQLite and each real database whose DSN is set.
func Dialects() []Dialect {
	ds := []Dialect{{Name: "sqlite", open: func(tb testing.TB) store.Options {
		return store.Options{Driver: "sqlite", DSN: filepath.Join(tb.TempDir(), "test.db"), MaxOpenConns: 8, MaxIdleConns: 8}
	}}}
	if dsn := os.Getenv("WANJIA_TEST_MYSQL_DSN"); dsn != "" {
		ds = append(ds, Dialect{Name: "mysql", open: func(tb testing.TB) store.Options { return mysqlDatabase(tb, dsn) }})
	}
	if dsn := os.Getenv("WANJIA_TEST_POSTGRES_DSN"); dsn != "" {
		ds = append(ds, Dialect{Name: "postgres", open: func(tb testing.TB) store.Options { return postgresSchema(tb, dsn) }})
	}
	return ds
}

// Open opens, migrates and returns a fresh database of dialect d; it is
// closed and dropped when tb ends.
func (d Dialect) Open(tb testing.TB) *store.DB {
	tb.Helper()
	opts := d.open(tb)
	db, cleanup, err := store.Open(context.Background(), opts)
	if err != nil {
		tb.Fatalf("store.Open(%s) = %v", d.Name, err)
	}
	tb.Cleanup(cleanup)
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate(%s) = %v", d.Name, err)
	}
	return db
}

// Options returns fresh, unmigrated database options of dialect d.
func (d Dialect) Options(tb testing.TB) store.Options {
	tb.Helper()
	return d.open(tb)
}

// Each runs fn as a subtest per dialect.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d.Name, func(t *testing.T) { fn(t, d.Open(t)) })
	}
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// mysqlDatabase creates a database for one test. dsn names any database the
// user can connect to and create databases from.
func mysqlDatabase(tb testing.TB, dsn string) store.Options {
	tb.Helper()
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		tb.Fatalf("mysql admin: %v", err)
	}
	tb.Cleanup(func() { admin.Close() })
	name := randomName("wanjia_t_")
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		tb.Fatalf("create mysql database: %v", err)
	}
	tb.Cleanup(func() { admin.Exec("DROP DATABASE " + name) })
	base, query, _ := strings.Cut(dsn, "?")
	i := strings.LastIndex(base, "/")
	return store.Options{Driver: "mysql", DSN: base[:i+1] + name + "?" + query, MaxOpenConns: 16, MaxIdleConns: 16}
}

// postgresSchema creates a schema for one test and points search_path at it.
func postgresSchema(tb testing.TB, dsn string) store.Options {
	tb.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatalf("postgres admin: %v", err)
	}
	tb.Cleanup(func() { admin.Close() })
	name := randomName("wanjia_t_")
	if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
		tb.Fatalf("create postgres schema: %v", err)
	}
	tb.Cleanup(func() { admin.Exec("DROP SCHEMA " + name + " CASCADE") })
	return store.Options{Driver: "postgres", DSN: withSearchPath(dsn, name), MaxOpenConns: 16, MaxIdleConns: 16}
}

func withSearchPath(dsn, schema string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}
