package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"wanjia/model"
)

// deliveryInsertRow is a deliveryRow without its id, for bulk inserts:
// with no database-generated field gorm runs a plain INSERT without
// RETURNING, so RowsAffected counts the inserted rows on every dialect
// (MariaDB's INSERT … ON DUPLICATE KEY UPDATE … RETURNING would return the
// skipped twins as well).
type deliveryInsertRow struct {
	PushID     int64
	Topic      string
	DedupeKey  asciiBin `gorm:"column:dedupe_key"`
	UserID     int64
	OpenID     asciiBin `gorm:"column:openid"`
	StaffID    int64
	Fields     string
	Page       string
	URL        string `gorm:"column:url"`
	Urgent     bool
	Status     string
	Channel    string
	TemplateID asciiBin `gorm:"column:template_id"`
	MsgID      asciiBin `gorm:"column:msg_id"`
	Errcode    int
	Error      string
	Attempts   int
	NotBefore  time.Time
	EnqueuedAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (deliveryInsertRow) TableName() string { return "notify_deliveries" }

// deliveryInsertBatch bounds the rows of one multi-row INSERT: 21 columns
// a row keeps a statement under PostgreSQL's 65535 placeholders and
// MySQL's packet size.
const deliveryInsertBatch = 500

// sqliteInsertBatch bounds the rows of one bulk INSERT on SQLite. There
// the rows of a run that share everything but recipient and key are
// inserted as INSERT … SELECT the shared values once, and three per row
// from a VALUES list: the pure-Go driver binds each parameter by scanning
// all of them (glebarez/go-sqlite conn.bind), so a statement's cost grows
// with the square of its parameters, and the notice's fields would be
// copied into every row's parameters.
const sqliteInsertBatch = 300

// CreateDeliveries inserts ds with multi-row INSERT … ON CONFLICT
// (dedupe_key) DO NOTHING (MySQL: ON DUPLICATE KEY UPDATE push_id =
// push_id, which changes nothing and counts nothing), so a delivery whose
// key exists — from an earlier run of the same push, or a twin in ds — is
// skipped, and returns how many rows it inserted. A zero Status is queued,
// a zero NotBefore now. The ids of the inserted rows are not returned: the
// feeder reads them back (PromoteQueued). The statements run in one
// transaction (the caller's, if any): the call is all or nothing, and
// SQLite takes its write lock once for the lot.
func (n *Notify) CreateDeliveries(ctx context.Context, ds []model.Delivery) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	now := dbTime(time.Now())
	rows := make([]deliveryInsertRow, 0, len(ds))
	seen := make(map[string]bool, len(ds))
	fieldsOf := map[uintptr]string{} // the notices of a push share one map: encode it once
	for i := range ds {
		d := &ds[i]
		if seen[d.DedupeKey] {
			continue
		}
		seen[d.DedupeKey] = true
		ptr := reflect.ValueOf(d.Fields).Pointer()
		fields, ok := fieldsOf[ptr]
		if !ok || ptr == 0 {
			var err error
			if fields, err = fieldsJSON(d.Fields); err != nil {
				return 0, fmt.Errorf("create deliveries: %w", err)
			}
			fieldsOf[ptr] = fields
		}
		row := deliveryInsertRow{
			PushID: d.PushID, Topic: d.Topic, DedupeKey: asciiBin(d.DedupeKey), UserID: d.UserID, OpenID: asciiBin(d.OpenID),
			StaffID: d.StaffID, Fields: fields, Page: d.Page, URL: d.URL, Urgent: d.Urgent, Status: d.Status,
			NotBefore: dbTime(d.NotBefore), EnqueuedAt: timePtr(d.EnqueuedAt), CreatedAt: now, UpdatedAt: now,
		}
		if row.Status == "" {
			row.Status = model.DeliveryQueued
		}
		if d.NotBefore.IsZero() {
			row.NotBefore = now
		}
		rows = append(rows, row)
	}
	created := 0
	err := n.db.WithTx(ctx, func(ctx context.Context) error {
		var err error
		if n.db.driver == "sqlite" {
			created, err = n.insertSQLite(ctx, rows)
		} else {
			created, err = n.insertRows(ctx, rows)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("create deliveries: %w", err)
	}
	return created, nil
}

// insertRows inserts rows deliveryInsertBatch at a time with gorm.
func (n *Notify) insertRows(ctx context.Context, rows []deliveryInsertRow) (int, error) {
	created := 0
	for start := 0; start < len(rows); start += deliveryInsertBatch {
		chunk := rows[start:min(start+deliveryInsertBatch, len(rows))]
		res := n.db.conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "dedupe_key"}}, DoNothing: true}).
			Create(&chunk)
		if res.Error != nil {
			return created, TranslateError(res.Error)
		}
		created += int(res.RowsAffected)
	}
	return created, nil
}

// shared is what a run of rows has in common on SQLite's bulk path.
func (r deliveryInsertRow) shared() deliveryInsertRow {
	r.DedupeKey, r.UserID, r.OpenID = "", 0, ""
	return r
}

// insertSQLite inserts runs of rows that differ only in recipient and key
// with one INSERT … SELECT per sqliteInsertBatch rows (see
// sqliteInsertBatch), and any other row on its own.
func (n *Notify) insertSQLite(ctx context.Context, rows []deliveryInsertRow) (int, error) {
	created := 0
	for start := 0; start < len(rows); {
		base := rows[start].shared()
		end := start + 1
		for end < len(rows) && end-start < sqliteInsertBatch && rows[end].shared() == base {
			end++
		}
		var q strings.Builder
		q.WriteString("INSERT INTO notify_deliveries (push_id, topic, staff_id, fields, page, url, urgent, status, channel, " +
			"template_id, msg_id, errcode, error, attempts, not_before, enqueued_at, created_at, updated_at, dedupe_key, user_id, openid) " +
			"SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, column1, column2, column3 FROM (VALUES ")
		args := []any{base.PushID, base.Topic, base.StaffID, base.Fields, base.Page, base.URL, base.Urgent, base.Status, base.Channel,
			base.TemplateID, base.MsgID, base.Errcode, base.Error, base.Attempts, base.NotBefore, base.EnqueuedAt, base.CreatedAt,
			base.UpdatedAt}
		for i, r := range rows[start:end] {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?, ?, ?)")
			args = append(args, r.DedupeKey, r.UserID, r.OpenID)
		}
		// WHERE true: SQLite's parser needs it before an upsert clause of
		// an INSERT … SELECT.
		q.WriteString(") WHERE true ON CONFLICT (dedupe_key) DO NOTHING")
		res := n.db.conn(ctx).Exec(q.String(), args...)
		if res.Error != nil {
			return created, TranslateError(res.Error)
		}
		created += int(res.RowsAffected)
		start = end
	}
	return created, nil
}

// CountOutstanding counts pushID's pending and sending deliveries
// (ix_deliveries_feed).
func (n *Notify) CountOutstanding(ctx context.Context, pushID int64) (int, error) {
	var c int64
	err := n.db.conn(ctx).Model(&deliveryRow{}).
		Where("push_id = ? AND status IN ?", pushID, []string{model.DeliveryPending, model.DeliverySending}).Count(&c).Error
	if err != nil {
		return 0, fmt.Errorf("count outstanding %d: %w", pushID, TranslateError(err))
	}
	return int(c), nil
}

// PromoteQueued reads the lowest queued ids of pushID and moves them to
// pending with one conditional UPDATE (status = queued), so a row is only
// ever promoted once; a concurrent feeder that read the same ids updates
// nothing but returns them too (enqueuing twice is harmless: the task id
// is the delivery's, and a delivery is sent at most once by its claim).
func (n *Notify) PromoteQueued(ctx context.Context, pushID int64, limit int, now time.Time) ([]model.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var rows []deliveryRow
	err := n.db.conn(ctx).Select("id", "not_before").Where("push_id = ? AND status = ?", pushID, model.DeliveryQueued).
		Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("promote queued %d: %w", pushID, TranslateError(err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	t := dbTime(now)
	err = n.db.conn(ctx).Model(&deliveryRow{}).Where("id IN ? AND status = ?", ids, model.DeliveryQueued).
		Updates(map[string]any{"status": model.DeliveryPending, "enqueued_at": t, "updated_at": t}).Error
	if err != nil {
		return nil, fmt.Errorf("promote queued %d: %w", pushID, TranslateError(err))
	}
	out := make([]model.Delivery, len(rows))
	for i, r := range rows {
		out[i] = model.Delivery{ID: r.ID, PushID: pushID, Status: model.DeliveryPending, NotBefore: r.NotBefore.UTC(), EnqueuedAt: t}
	}
	return out, nil
}

// PushesToFeed returns the pushes with queued deliveries, oldest first
// (one index probe of ix_deliveries_feed per push).
func (n *Notify) PushesToFeed(ctx context.Context, limit int) ([]int64, error) {
	var ids []int64
	err := n.db.conn(ctx).Model(&pushRow{}).
		Where("EXISTS (SELECT 1 FROM notify_deliveries d WHERE d.push_id = notify_pushes.id AND d.status = ?)", model.DeliveryQueued).
		Order("id").Limit(max(limit, 1)).Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("pushes to feed: %w", TranslateError(err))
	}
	return ids, nil
}

// CancelPush sets the push's cancelled_at (once) and skips its queued and
// pending deliveries with one conditional UPDATE each, in one transaction
// (the caller's, if any). The push row is written first: a caller that
// holds it (the lessons' withdrawal) orders itself against a fan-out page
// of the same push through its own row lock, not this one.
func (n *Notify) CancelPush(ctx context.Context, pushID int64, reason string, now time.Time) (int, error) {
	t := dbTime(now)
	skipped := 0
	err := n.db.WithTx(ctx, func(ctx context.Context) error {
		c := n.db.conn(ctx)
		res := c.Model(&pushRow{}).Where("id = ?", pushID).
			Update("cancelled_at", gorm.Expr("COALESCE(cancelled_at, ?)", t))
		if res.Error != nil {
			return TranslateError(res.Error)
		}
		if res.RowsAffected == 0 {
			var found int64
			if err := c.Model(&pushRow{}).Where("id = ?", pushID).Count(&found).Error; err != nil {
				return TranslateError(err)
			}
			if found == 0 {
				return model.Errorf(model.ErrNotFound, "推送不存在")
			}
		}
		res = c.Model(&deliveryRow{}).
			Where("push_id = ? AND status IN ?", pushID, []string{model.DeliveryQueued, model.DeliveryPending}).
			Updates(map[string]any{"status": model.DeliverySkipped, "error": truncateBytes(reason, 128), "lease_until": nil,
				"updated_at": t})
		if res.Error != nil {
			return TranslateError(res.Error)
		}
		skipped = int(res.RowsAffected)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cancel push %d: %w", pushID, err)
	}
	return skipped, nil
}

// MarkDeliveryRead sets read_at once, on a sent delivery sent at or before
// t. It reads first and writes only when there is something to mark: most
// opens are by people never notified or counted already, and on SQLite
// every UPDATE, even one that matches nothing, takes the write lock.
func (n *Notify) MarkDeliveryRead(ctx context.Context, dedupeKey string, t time.Time) (bool, error) {
	at := dbTime(t)
	var row deliveryRow
	err := n.db.conn(ctx).Select("id", "status", "sent_at", "read_at").Where("dedupe_key = ?", asciiBin(dedupeKey)).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("mark delivery read: %w", TranslateError(err))
	case row.Status != model.DeliverySent || row.ReadAt != nil || row.SentAt == nil || row.SentAt.After(at):
		return false, nil
	}
	res := n.db.conn(ctx).Model(&deliveryRow{}).
		Where("dedupe_key = ? AND status = ? AND sent_at <= ? AND read_at IS NULL", asciiBin(dedupeKey), model.DeliverySent, at).
		Updates(map[string]any{"read_at": at, "updated_at": at})
	if res.Error != nil {
		return false, fmt.Errorf("mark delivery read: %w", TranslateError(res.Error))
	}
	return res.RowsAffected > 0, nil
}
