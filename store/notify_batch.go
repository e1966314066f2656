package store

import (
	"context"
	"fmt"
	"time"

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
// a row keeps a statement under every dialect's placeholder limit
// (SQLite 32766, PostgreSQL 65535) and MySQL's packet size.
const deliveryInsertBatch = 500

// CreateDeliveries inserts ds with multi-row INSERT … ON CONFLICT
// (dedupe_key) DO NOTHING (MySQL: ON DUPLICATE KEY UPDATE push_id =
// push_id, which changes nothing and counts nothing), so a
// delivery whose key exists — from an earlier run of the same push, or a
// twin in ds — is skipped, and returns how many rows it inserted. A zero
// Status is queued, a zero NotBefore now. The ids of the inserted rows are
// not returned: the feeder reads them back (PromoteQueued).
func (n *Notify) CreateDeliveries(ctx context.Context, ds []model.Delivery) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	now := dbTime(time.Now())
	rows := make([]deliveryInsertRow, 0, min(len(ds), deliveryInsertBatch))
	seen := make(map[string]bool, len(ds))
	created := 0
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		res := n.db.conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "dedupe_key"}}, DoNothing: true}).
			Create(&rows)
		if res.Error != nil {
			return fmt.Errorf("create deliveries: %w", TranslateError(res.Error))
		}
		created += int(res.RowsAffected)
		rows = rows[:0]
		return nil
	}
	for _, d := range ds {
		if seen[d.DedupeKey] {
			continue
		}
		seen[d.DedupeKey] = true
		fields, err := fieldsJSON(d.Fields)
		if err != nil {
			return created, fmt.Errorf("create deliveries: %w", err)
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
		if len(rows) == deliveryInsertBatch {
			if err := flush(); err != nil {
				return created, err
			}
		}
	}
	return created, flush()
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

// MarkDeliveryRead sets read_at once, on a sent delivery sent at or before t.
func (n *Notify) MarkDeliveryRead(ctx context.Context, dedupeKey string, t time.Time) (bool, error) {
	at := dbTime(t)
	res := n.db.conn(ctx).Model(&deliveryRow{}).
		Where("dedupe_key = ? AND status = ? AND sent_at <= ? AND read_at IS NULL", asciiBin(dedupeKey), model.DeliverySent, at).
		Updates(map[string]any{"read_at": at, "updated_at": at})
	if res.Error != nil {
		return false, fmt.Errorf("mark delivery read: %w", TranslateError(res.Error))
	}
	return res.RowsAffected > 0, nil
}
