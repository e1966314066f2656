package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"wanjia/model"
)

// Column limits of the message log.
const (
	maxLogContentRunes  = 2000 // model.MessageLogEntry: content truncated to 2,000 runes
	maxLogEventKeyRunes = 512
	maxLogDedupeKey     = 255
	deleteChunk         = 5000 // rows per DELETE of the retention sweep
)

// messageRow is one callback in the message log (gateway_messages). A
// unique index on (create_time, dedupe_hash) makes appends idempotent
// (WeChat's retries of a callback add no second row): dedupe_hash is the
// first 64 bits of the SHA-256 of the dedupe key (which can be longer than
// an index allows, a VIEW event's URL), create_time WeChat's CreateTime
// (unix seconds), which a retry repeats. Leading with the time keeps the
// index's inserts at its right-hand edge: a batch dirties a page or two of
// it, where a hash alone put every row on a page of its own (one more
// page written per message, the largest cost of the log on SQLite).
type messageRow struct {
	ID         int64     `gorm:"primaryKey"`
	App        string    `gorm:"size:8;not null;index:ix_gateway_messages_app_openid,priority:1"`
	OpenID     asciiBin  `gorm:"column:openid;size:64;not null;index:ix_gateway_messages_app_openid,priority:2"`
	MsgType    string    `gorm:"size:32;not null"`
	Event      string    `gorm:"size:64;not null"`
	EventKey   string    `gorm:"size:512;not null"`
	Content    string    `gorm:"type:text;not null"`
	DedupeKey  string    `gorm:"size:255;not null"`
	CreateTime int64     `gorm:"column:create_time;not null;default:0;uniqueIndex:ux_gateway_messages_callback,priority:1"`
	DedupeHash int64     `gorm:"not null;uniqueIndex:ux_gateway_messages_callback,priority:2"`
	Crisis     bool      `gorm:"not null;index:ix_gateway_messages_crisis"`
	ReceivedAt time.Time `gorm:"not null;index:ix_gateway_messages_app_openid,priority:3;index:ix_gateway_messages_received"`
}

func (messageRow) TableName() string { return "gateway_messages" }

// gatewayMessageRows are the tables of step 0003_gateway_messages.
var gatewayMessageRows = []any{&messageRow{}}

// migrateMessagesCallbackIndex is step 0012: the create_time column and
// the unique index on (create_time, dedupe_hash) replace the unique index
// on dedupe_hash alone. Rows logged before have create_time 0, so a retry
// of one of them arriving right after the upgrade is logged a second time;
// nothing else changes.
func migrateMessagesCallbackIndex(tx *gorm.DB) error {
	if err := tx.AutoMigrate(gatewayMessageRows...); err != nil {
		return err
	}
	if m := tx.Migrator(); m.HasIndex(&messageRow{}, "ux_gateway_messages_dedupe") {
		return m.DropIndex(&messageRow{}, "ux_gateway_messages_dedupe")
	}
	return nil
}

func messageFromModel(e model.MessageLogEntry) messageRow {
	sum := sha256.Sum256([]byte(e.DedupeKey))
	hash := int64(binary.BigEndian.Uint64(sum[:8]))
	at := e.ReceivedAt
	if at.IsZero() {
		at = time.Now()
	}
	var created int64
	if !e.CreateTime.IsZero() {
		created = e.CreateTime.Unix()
	}
	return messageRow{
		App: truncateBytes(string(e.App), 8), OpenID: asciiBin(truncateBytes(e.OpenID, 64)),
		MsgType: truncateBytes(e.MsgType, 32), Event: truncateBytes(e.Event, 64),
		EventKey: truncateRunes(e.EventKey, maxLogEventKeyRunes), Content: truncateRunes(e.Content, maxLogContentRunes),
		DedupeKey: truncateRunes(e.DedupeKey, maxLogDedupeKey), CreateTime: created, DedupeHash: hash,
		Crisis: e.Crisis, ReceivedAt: dbTime(at),
	}
}

func (r messageRow) toModel() model.MessageLogEntry {
	e := model.MessageLogEntry{
		ID: r.ID, App: model.App(r.App), OpenID: string(r.OpenID), MsgType: r.MsgType, Event: r.Event,
		EventKey: r.EventKey, Content: r.Content, DedupeKey: r.DedupeKey, Crisis: r.Crisis, ReceivedAt: r.ReceivedAt.UTC(),
	}
	if r.CreateTime != 0 {
		e.CreateTime = time.Unix(r.CreateTime, 0).UTC()
	}
	return e
}

// truncateRunes cuts s to at most n runes (and to valid UTF-8).
func truncateRunes(s string, n int) string {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // invalid bytes become U+FFFD
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := 0; k < n; k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// Messages implements model.MessageLogStore over gateway_messages.
type Messages struct{ db *DB }

var _ model.MessageLogStore = (*Messages)(nil)

// NewMessages returns the message log on db.
func NewMessages(db *DB) *Messages { return &Messages{db: db} }

// AppendMessage appends e (content truncated to 2,000 runes, a zero
// ReceivedAt taken as now) and returns it as stored. An entry whose dedupe
// key and CreateTime are already logged is not added again: the stored one
// is returned.
func (ms *Messages) AppendMessage(ctx context.Context, e model.MessageLogEntry) (model.MessageLogEntry, error) {
	row := messageFromModel(e)
	if err := ms.db.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return model.MessageLogEntry{}, fmt.Errorf("append message: %w", TranslateError(err))
	}
	var stored messageRow
	if err := ms.db.conn(ctx).Where("create_time = ? AND dedupe_hash = ?", row.CreateTime, row.DedupeHash).Take(&stored).Error; err != nil {
		return model.MessageLogEntry{}, fmt.Errorf("append message: read back: %w", TranslateError(err))
	}
	return stored.toModel(), nil
}

// AppendMessages appends a batch in one transaction, skipping entries
// whose dedupe key and CreateTime are already logged (or repeated in the
// batch). It runs
// plain multi-row INSERTs through database/sql: gorm's INSERT … RETURNING
// costs more per row than the row itself.
func (ms *Messages) AppendMessages(ctx context.Context, es []model.MessageLogEntry) error {
	if len(es) == 0 {
		return nil
	}
	rows := make([]messageRow, 0, len(es))
	type callback struct{ created, hash int64 }
	seen := make(map[callback]bool, len(es))
	for _, e := range es {
		r := messageFromModel(e)
		if k := (callback{r.CreateTime, r.DedupeHash}); !seen[k] {
			seen[k] = true
			rows = append(rows, r)
		}
	}
	if InTx(ctx) { // inside a caller's transaction: through gorm, on it
		if err := ms.db.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(&rows, 100).Error; err != nil {
			return fmt.Errorf("append %d messages: %w", len(rows), TranslateError(err))
		}
		return nil
	}
	conn, err := ms.db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("append %d messages: %w", len(rows), err)
	}
	defer conn.Close()
	if ms.db.driver == "sqlite" {
		// A multi-row INSERT keeps a statement journal; in memory, not in a
		// temporary file (a write syscall per page). Per connection, and
		// not allowed inside a transaction.
		if _, err := conn.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err != nil {
			return fmt.Errorf("append %d messages: %w", len(rows), err)
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append %d messages: begin: %w", len(rows), err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	args := make([]any, 0, insertChunk*insertCols)
	for start := 0; start < len(rows); start += insertChunk {
		chunk := rows[start:min(start+insertChunk, len(rows))]
		args = args[:0]
		for _, r := range chunk {
			args = append(args, r.App, string(r.OpenID), r.MsgType, r.Event, r.EventKey, r.Content,
				r.DedupeKey, r.CreateTime, r.DedupeHash, r.Crisis, r.ReceivedAt)
		}
		if _, err := tx.ExecContext(ctx, ms.insertSQL(len(chunk)), args...); err != nil {
			return fmt.Errorf("append %d messages: %w", len(rows), TranslateError(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append %d messages: commit: %w", len(rows), err)
	}
	return nil
}

// Rows per INSERT of AppendMessages: SQLite's pure-Go driver parses every
// statement anew, so one statement carries many rows; its bind is
// quadratic in the parameters, so not too many.
const (
	insertChunk = 20
	insertCols  = 11
)

// insertSQL is the INSERT of n rows that skips logged dedupe keys, in the
// dialect's words.
func (ms *Messages) insertSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO gateway_messages (app, openid, msg_type, event, event_key, content, dedupe_key, create_time, dedupe_hash, crisis, received_at) VALUES ")
	p := 0
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range insertCols {
			if j > 0 {
				b.WriteByte(',')
			}
			p++
			if ms.db.driver == "postgres" {
				b.WriteString("$" + strconv.Itoa(p))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	if ms.db.driver == "mysql" {
		b.WriteString(" ON DUPLICATE KEY UPDATE id = id")
	} else {
		b.WriteString(" ON CONFLICT (create_time, dedupe_hash) DO NOTHING")
	}
	return b.String()
}

// ListMessages pages the entries matching f, newest first (by id). From is
// inclusive and To exclusive; Crisis true keeps crisis entries only. A
// malformed cursor is ErrInvalid.
func (ms *Messages) ListMessages(ctx context.Context, f model.MessageLogFilter, p model.Page) ([]model.MessageLogEntry, string, error) {
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := ms.db.conn(ctx).Model(&messageRow{})
	if f.App != "" {
		q = q.Where("app = ?", string(f.App))
	}
	if f.OpenID != "" {
		q = q.Where("openid = ?", asciiBin(f.OpenID))
	}
	if f.MsgType != "" {
		q = q.Where("msg_type = ?", f.MsgType)
	}
	if f.Crisis {
		q = q.Where("crisis = ?", true)
	}
	if !f.From.IsZero() {
		q = q.Where("received_at >= ?", dbTime(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("received_at < ?", dbTime(f.To))
	}
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	n := p.Size()
	var rows []messageRow
	if err := q.Order("id DESC").Limit(n + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list messages: %w", TranslateError(err))
	}
	rows, next := cutPage(rows, n, func(r messageRow) int64 { return r.ID })
	out := make([]model.MessageLogEntry, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, next, nil
}

// DeleteMessagesBefore removes the entries received before t, in chunks
// (so no statement holds locks on millions of rows), and returns how many.
func (ms *Messages) DeleteMessagesBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		var ids []int64
		err := ms.db.conn(ctx).Model(&messageRow{}).Where("received_at < ?", dbTime(t)).
			Order("id").Limit(deleteChunk).Pluck("id", &ids).Error
		if err != nil {
			return total, fmt.Errorf("delete messages: %w", TranslateError(err))
		}
		if len(ids) == 0 {
			return total, nil
		}
		res := ms.db.conn(ctx).Where("id IN ?", ids).Delete(&messageRow{})
		if res.Error != nil {
			return total, fmt.Errorf("delete messages: %w", TranslateError(res.Error))
		}
		total += res.RowsAffected
		if len(ids) < deleteChunk {
			return total, nil
		}
	}
}

// LastMessageAt is when openID last sent app a message (not an event: the
// 48-hour customer-service window opens with a message); zero when never.
func (ms *Messages) LastMessageAt(ctx context.Context, app model.App, openID string) (time.Time, error) {
	var rows []messageRow
	err := ms.db.conn(ctx).Model(&messageRow{}).Select("received_at").
		Where("app = ? AND openid = ? AND msg_type <> ?", string(app), asciiBin(openID), "event").
		Order("received_at DESC").Limit(1).Find(&rows).Error
	if err != nil {
		return time.Time{}, fmt.Errorf("last message at: %w", TranslateError(err))
	}
	if len(rows) == 0 {
		return time.Time{}, nil
	}
	return rows[0].ReceivedAt.UTC(), nil
}
