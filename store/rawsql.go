package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// This file is the way around gorm for the few statements on a hot path
// (the vote ledger's group commit): database/sql on the same pool and the
// same transactions, with placeholders in the dialect's spelling and the
// dialect's errors translated as gorm would (TranslateError: true).

// sqlBuilder writes one statement and collects its arguments.
type sqlBuilder struct {
	strings.Builder
	args   []any
	dollar bool // PostgreSQL: $1, $2, …; the others: ?
}

func (db *DB) newSQL(args int) *sqlBuilder {
	return &sqlBuilder{args: make([]any, 0, args), dollar: db.driver == "postgres"}
}

// param writes a placeholder for v.
func (b *sqlBuilder) param(v any) {
	b.args = append(b.args, v)
	if b.dollar {
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(len(b.args)))
		return
	}
	b.WriteByte('?')
}

// values writes a parenthesised list of placeholders for vs.
func (b *sqlBuilder) values(vs ...any) { writeList(b, vs) }

// list writes a parenthesised list of placeholders for ids.
func (b *sqlBuilder) list(ids []int64) { writeList(b, ids) }

func writeList[T any](b *sqlBuilder, vs []T) {
	b.WriteByte('(')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.param(v)
	}
	b.WriteByte(')')
}

// withSQLTx runs fn in the transaction ctx carries (WithTx), or in a new
// one it commits when fn returns nil and rolls back otherwise. Errors come
// back translated like gorm's (a unique violation is gorm.ErrDuplicatedKey).
func (db *DB) withSQLTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if g, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		tx, ok := g.Statement.ConnPool.(*sql.Tx)
		if !ok {
			return fmt.Errorf("transaction of type %T is not a *sql.Tx", g.Statement.ConnPool)
		}
		return db.translate(fn(ctx, tx))
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.translate(err)
	}
	if err := fn(ctx, tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			db.log.WarnContext(ctx, "rollback", "err", rerr)
		}
		return db.translate(err)
	}
	return db.translate(tx.Commit())
}

// translate maps a driver error to gorm's error kinds, as gorm does with
// TranslateError.
func (db *DB) translate(err error) error {
	if err == nil {
		return nil
	}
	if t, ok := db.gorm.Dialector.(gorm.ErrorTranslator); ok {
		return t.Translate(err)
	}
	return err
}
