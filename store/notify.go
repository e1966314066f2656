package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"wanjia/model"
)

// migrateNotify is step 0005: the notification centre's tables, and the
// users.session_key_sealed column (the Mini Program session_key, sealed).
func migrateNotify(tx *gorm.DB) error {
	return tx.AutoMigrate(&notifyTemplateRow{}, &pushRow{}, &deliveryRow{}, &consentRow{}, &staffAlertRow{}, &userRow{})
}

// notifyTemplateRow is the configuration of one topic. Field mappings are
// JSON arrays of model.TemplateField.
type notifyTemplateRow struct {
	Topic        string    `gorm:"primaryKey;size:48"`
	Name         string    `gorm:"size:64;not null"`
	MPTemplateID asciiBin  `gorm:"column:mp_template_id;size:64;not null"`
	MPFields     string    `gorm:"column:mp_fields;type:text;not null"`
	OATemplateID asciiBin  `gorm:"column:oa_template_id;size:64;not null"`
	OAFields     string    `gorm:"column:oa_fields;type:text;not null"`
	Text         string    `gorm:"type:text;not null"`
	LongTerm     bool      `gorm:"not null"`
	Enabled      bool      `gorm:"not null"`
	UpdatedAt    time.Time `gorm:"not null"`
}

func (notifyTemplateRow) TableName() string { return "notify_templates" }

func templateFromModel(t model.NotifyTemplate) (notifyTemplateRow, error) {
	mp, err := json.Marshal(nonNilFields(t.MPFields))
	if err != nil {
		return notifyTemplateRow{}, err
	}
	oa, err := json.Marshal(nonNilFields(t.OAFields))
	if err != nil {
		return notifyTemplateRow{}, err
	}
	return notifyTemplateRow{
		Topic: t.Topic, Name: t.Name, MPTemplateID: asciiBin(t.MPTemplateID), MPFields: string(mp),
		OATemplateID: asciiBin(t.OATemplateID), OAFields: string(oa), Text: t.Text, LongTerm: t.LongTerm,
		Enabled: t.Enabled,
	}, nil
}

func nonNilFields(f []model.TemplateField) []model.TemplateField {
	if f == nil {
		return []model.TemplateField{}
	}
	return f
}

func (r notifyTemplateRow) toModel() (model.NotifyTemplate, error) {
	t := model.NotifyTemplate{
		Topic: r.Topic, Name: r.Name, MPTemplateID: string(r.MPTemplateID), OATemplateID: string(r.OATemplateID),
		Text: r.Text, LongTerm: r.LongTerm, Enabled: r.Enabled, UpdatedAt: r.UpdatedAt.UTC(),
	}
	if err := json.Unmarshal([]byte(r.MPFields), &t.MPFields); err != nil {
		return model.NotifyTemplate{}, fmt.Errorf("template %s: mp fields: %w", r.Topic, err)
	}
	if err := json.Unmarshal([]byte(r.OAFields), &t.OAFields); err != nil {
		return model.NotifyTemplate{}, fmt.Errorf("template %s: oa fields: %w", r.Topic, err)
	}
	return t, nil
}

// pushRow is a broadcast. cancelled_at (step 0014) is set when it was
// cancelled (its lesson withdrawn).
type pushRow struct {
	ID          int64      `gorm:"primaryKey"`
	Title       string     `gorm:"size:128;not null"`
	Topic       string     `gorm:"size:48;not null"`
	CreatedBy   int64      `gorm:"not null"`
	CreatedAt   time.Time  `gorm:"not null"`
	CancelledAt *time.Time `gorm:"column:cancelled_at"`
}

func (pushRow) TableName() string { return "notify_pushes" }

func (r pushRow) toModel() model.Push {
	return model.Push{ID: r.ID, Title: r.Title, Topic: r.Topic, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(),
		CancelledAt: timeVal(r.CancelledAt)}
}

// deliveryRow is one notice to one person: the outbox and the delivery
// log. ix_deliveries_sweep serves the sweeper (status, enqueued_at);
// ix_deliveries_msgid finds the row of a WeChat result event;
// ix_deliveries_feed serves the feeder of bulk pushes (push, status, id).
type deliveryRow struct {
	ID         int64      `gorm:"primaryKey;index:ix_deliveries_feed,priority:3"`
	PushID     int64      `gorm:"not null;index:ix_deliveries_push;index:ix_deliveries_feed,priority:1"`
	Topic      string     `gorm:"size:48;not null"`
	DedupeKey  asciiBin   `gorm:"column:dedupe_key;size:128;not null;uniqueIndex:ux_deliveries_dedupe"`
	UserID     int64      `gorm:"not null;index:ix_deliveries_user"`
	OpenID     asciiBin   `gorm:"column:openid;size:64;not null"`
	StaffID    int64      `gorm:"not null;index:ix_deliveries_staff"`
	Fields     string     `gorm:"type:text;not null"`
	Page       string     `gorm:"size:512;not null"`
	URL        string     `gorm:"column:url;size:1024;not null"`
	Urgent     bool       `gorm:"not null"`
	Status     string     `gorm:"size:16;not null;index:ix_deliveries_sweep,priority:1;index:ix_deliveries_feed,priority:2"`
	Channel    string     `gorm:"size:16;not null;index:ix_deliveries_msgid,priority:1"`
	TemplateID asciiBin   `gorm:"column:template_id;size:64;not null"`
	MsgID      asciiBin   `gorm:"column:msg_id;size:32;not null;index:ix_deliveries_msgid,priority:2"`
	Errcode    int        `gorm:"not null"`
	Error      string     `gorm:"size:128;not null"`
	Attempts   int        `gorm:"not null"`
	NotBefore  time.Time  `gorm:"not null"`
	LeaseUntil *time.Time `gorm:""`
	EnqueuedAt *time.Time `gorm:"index:ix_deliveries_sweep,priority:2"`
	SentAt     *time.Time `gorm:""`
	ReadAt     *time.Time `gorm:""` // step 0008
	CreatedAt  time.Time  `gorm:"not null"`
	UpdatedAt  time.Time  `gorm:"not null"`
}

func (deliveryRow) TableName() string { return "notify_deliveries" }

// migrateDeliveryReads is part of step 0008: notify_deliveries.read_at
// (opens reported by the areas) and ix_deliveries_feed (the feeder of
// bulk pushes). A database created after the step got both from 0005.
func migrateDeliveryReads(tx *gorm.DB) error {
	m := tx.Migrator()
	if !m.HasColumn(&deliveryRow{}, "ReadAt") {
		if err := m.AddColumn(&deliveryRow{}, "ReadAt"); err != nil {
			return err
		}
	}
	if !m.HasIndex(&deliveryRow{}, "ix_deliveries_feed") {
		return m.CreateIndex(&deliveryRow{}, "ix_deliveries_feed")
	}
	return nil
}

func (r deliveryRow) toModel() (model.Delivery, error) {
	d := model.Delivery{
		ID: r.ID, PushID: r.PushID, Topic: r.Topic, DedupeKey: string(r.DedupeKey), UserID: r.UserID,
		OpenID: string(r.OpenID), StaffID: r.StaffID, Page: r.Page, URL: r.URL, Urgent: r.Urgent, Status: r.Status,
		Channel: r.Channel, TemplateID: string(r.TemplateID), MsgID: string(r.MsgID), Errcode: r.Errcode,
		Error: r.Error, Attempts: r.Attempts, NotBefore: r.NotBefore.UTC(), LeaseUntil: timeVal(r.LeaseUntil),
		EnqueuedAt: timeVal(r.EnqueuedAt), SentAt: timeVal(r.SentAt), ReadAt: timeVal(r.ReadAt), CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(),
	}
	if err := json.Unmarshal([]byte(r.Fields), &d.Fields); err != nil {
		return model.Delivery{}, fmt.Errorf("delivery %d: fields: %w", r.ID, err)
	}
	return d, nil
}

// consentRow is one subscribe-message consent ledger entry.
type consentRow struct {
	ID         int64     `gorm:"primaryKey"`
	App        string    `gorm:"size:8;not null;uniqueIndex:ux_consents,priority:1"`
	OpenID     asciiBin  `gorm:"column:openid;size:64;not null;uniqueIndex:ux_consents,priority:2"`
	TemplateID asciiBin  `gorm:"column:template_id;size:64;not null;uniqueIndex:ux_consents,priority:3"`
	Remaining  int       `gorm:"not null"`
	LongTerm   bool      `gorm:"not null"`
	UpdatedAt  time.Time `gorm:"not null"`
}

func (consentRow) TableName() string { return "notify_consents" }

func (r consentRow) toModel() model.Consent {
	return model.Consent{
		App: model.App(r.App), OpenID: string(r.OpenID), TemplateID: string(r.TemplateID), Remaining: r.Remaining,
		LongTerm: r.LongTerm, UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// staffAlertRow is a console alert to a staff member, one per delivery.
type staffAlertRow struct {
	ID         int64      `gorm:"primaryKey"`
	StaffID    int64      `gorm:"not null;index:ix_staff_alerts_staff"`
	DeliveryID int64      `gorm:"not null;uniqueIndex:ux_staff_alerts_delivery"`
	Topic      string     `gorm:"size:48;not null"`
	Fields     string     `gorm:"type:text;not null"`
	Page       string     `gorm:"size:512;not null"`
	URL        string     `gorm:"column:url;size:1024;not null"`
	Urgent     bool       `gorm:"not null"`
	CreatedAt  time.Time  `gorm:"not null"`
	ReadAt     *time.Time `gorm:""`
}

func (staffAlertRow) TableName() string { return "staff_alerts" }

func (r staffAlertRow) toModel() (model.StaffAlert, error) {
	a := model.StaffAlert{
		ID: r.ID, StaffID: r.StaffID, DeliveryID: r.DeliveryID, Topic: r.Topic, Page: r.Page, URL: r.URL,
		Urgent: r.Urgent, CreatedAt: r.CreatedAt.UTC(), ReadAt: timeVal(r.ReadAt),
	}
	if err := json.Unmarshal([]byte(r.Fields), &a.Fields); err != nil {
		return model.StaffAlert{}, fmt.Errorf("alert %d: fields: %w", r.ID, err)
	}
	return a, nil
}

func fieldsJSON(f map[string]string) (string, error) {
	if f == nil {
		f = map[string]string{}
	}
	b, err := json.Marshal(f)
	return string(b), err
}

// Notify implements model.NotifyStore.
type Notify struct{ db *DB }

var _ model.NotifyStore = (*Notify)(nil)

// NewNotify returns the notification store on db.
func NewNotify(db *DB) *Notify { return &Notify{db: db} }

// InTx reports whether ctx carries a transaction.
func (n *Notify) InTx(ctx context.Context) bool { return InTx(ctx) }

// ListTemplates returns every topic's template by topic.
func (n *Notify) ListTemplates(ctx context.Context) ([]model.NotifyTemplate, error) {
	var rows []notifyTemplateRow
	if err := n.db.conn(ctx).Order("topic").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list templates: %w", TranslateError(err))
	}
	return toModels[model.NotifyTemplate](rows)
}

// TemplateByTopic returns the topic's template or ErrNotFound.
func (n *Notify) TemplateByTopic(ctx context.Context, topic string) (model.NotifyTemplate, error) {
	var row notifyTemplateRow
	if err := n.db.conn(ctx).Where("topic = ?", topic).Take(&row).Error; err != nil {
		return model.NotifyTemplate{}, fmt.Errorf("template %s: %w", topic, TranslateError(err))
	}
	return row.toModel()
}

// UpsertTemplate writes t by topic and returns it as stored.
func (n *Notify) UpsertTemplate(ctx context.Context, t model.NotifyTemplate) (model.NotifyTemplate, error) {
	row, err := templateFromModel(t)
	if err != nil {
		return model.NotifyTemplate{}, fmt.Errorf("upsert template: %w", err)
	}
	row.UpdatedAt = dbTime(time.Now())
	err = n.db.conn(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "topic"}},
		DoUpdates: clause.AssignmentColumns([]string{
			"name", "mp_template_id", "mp_fields", "oa_template_id", "oa_fields", "text", "long_term", "enabled", "updated_at",
		}),
	}).Create(&row).Error
	if err != nil {
		return model.NotifyTemplate{}, fmt.Errorf("upsert template: %w", TranslateError(err))
	}
	return n.TemplateByTopic(ctx, t.Topic)
}

// SeedTemplates inserts the topics of ts that do not exist yet (a copy
// seeding at the same time is absorbed by ON CONFLICT DO NOTHING).
func (n *Notify) SeedTemplates(ctx context.Context, ts []model.NotifyTemplate) (int, error) {
	var have []string
	if err := n.db.conn(ctx).Model(&notifyTemplateRow{}).Pluck("topic", &have).Error; err != nil {
		return 0, fmt.Errorf("seed templates: %w", TranslateError(err))
	}
	exists := make(map[string]bool, len(have))
	for _, t := range have {
		exists[t] = true
	}
	added := 0
	for _, t := range ts {
		if exists[t.Topic] {
			continue
		}
		row, err := templateFromModel(t)
		if err != nil {
			return added, fmt.Errorf("seed templates: %w", err)
		}
		row.UpdatedAt = dbTime(time.Now())
		res := n.db.conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "topic"}}, DoNothing: true}).Create(&row)
		if res.Error != nil {
			return added, fmt.Errorf("seed templates: %w", TranslateError(res.Error))
		}
		added++
	}
	return added, nil
}

// CreatePush inserts p and returns it with its id.
func (n *Notify) CreatePush(ctx context.Context, p model.Push) (model.Push, error) {
	row := pushRow{Title: truncateBytes(p.Title, 128), Topic: p.Topic, CreatedBy: p.CreatedBy, CreatedAt: dbTime(p.CreatedAt)}
	if p.CreatedAt.IsZero() {
		row.CreatedAt = dbTime(time.Now())
	}
	if err := n.db.conn(ctx).Create(&row).Error; err != nil {
		return model.Push{}, fmt.Errorf("create push: %w", TranslateError(err))
	}
	return row.toModel(), nil
}

// PushByID returns the push or ErrNotFound.
func (n *Notify) PushByID(ctx context.Context, id int64) (model.Push, error) {
	var row pushRow
	if err := n.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return model.Push{}, fmt.Errorf("push %d: %w", id, TranslateError(err))
	}
	return row.toModel(), nil
}

// ListPushes pages pushes newest first.
func (n *Notify) ListPushes(ctx context.Context, p model.Page) ([]model.Push, string, error) {
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := n.db.conn(ctx).Model(&pushRow{})
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	size := p.Size()
	var rows []pushRow
	if err := q.Order("id DESC").Limit(size + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list pushes: %w", TranslateError(err))
	}
	rows, next := cutPage(rows, size, func(r pushRow) int64 { return r.ID })
	out := make([]model.Push, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, next, nil
}

// CountPushes counts the deliveries of each push in ids by status, and the
// sent ones by channel. Every id gets an entry.
func (n *Notify) CountPushes(ctx context.Context, ids []int64) (map[int64]model.PushCounts, error) {
	out := make(map[int64]model.PushCounts, len(ids))
	for _, id := range ids {
		out[id] = model.PushCounts{Channels: map[string]int{}}
	}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		PushID  int64
		Status  string
		Channel string
		N       int
		R       int
	}
	err := n.db.conn(ctx).Model(&deliveryRow{}).
		Select("push_id, status, channel, COUNT(*) AS n, COALESCE(SUM(CASE WHEN read_at IS NULL THEN 0 ELSE 1 END), 0) AS r").
		Where("push_id IN ?", ids).Group("push_id, status, channel").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("count pushes: %w", TranslateError(err))
	}
	for _, r := range rows {
		c := out[r.PushID]
		c.Targets += r.N
		c.Read += r.R
		switch r.Status {
		case model.DeliveryQueued, model.DeliveryPending, model.DeliverySending:
			c.Pending += r.N
		case model.DeliverySent:
			c.Sent += r.N
			c.Channels[r.Channel] += r.N
		case model.DeliveryFailed:
			c.Failed += r.N
		case model.DeliveryNoConsent:
			c.NoConsent += r.N
		case model.DeliveryNoChannel:
			c.NoChannel += r.N
		case model.DeliverySkipped:
			c.Skipped += r.N
		}
		out[r.PushID] = c
	}
	return out, nil
}

// CreateDelivery inserts d unless its dedupe key is taken, then reads the
// row of that key. The key is looked up first; the insert is ON CONFLICT
// DO NOTHING, so a twin inserted in between does not abort the caller's
// transaction (PostgreSQL). In that race MariaDB (whose INSERT … RETURNING
// returns the existing row) may report created for the twin: callers must
// treat created as a hint (enqueuing twice is harmless).
func (n *Notify) CreateDelivery(ctx context.Context, d model.Delivery) (model.Delivery, bool, error) {
	var got deliveryRow
	err := n.db.conn(ctx).Where("dedupe_key = ?", asciiBin(d.DedupeKey)).Take(&got).Error
	if err == nil {
		out, err := got.toModel()
		return out, false, err
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return model.Delivery{}, false, fmt.Errorf("create delivery: %w", TranslateError(err))
	}
	fields, err := fieldsJSON(d.Fields)
	if err != nil {
		return model.Delivery{}, false, fmt.Errorf("create delivery: %w", err)
	}
	now := dbTime(time.Now())
	row := deliveryRow{
		PushID: d.PushID, Topic: d.Topic, DedupeKey: asciiBin(d.DedupeKey), UserID: d.UserID, OpenID: asciiBin(d.OpenID),
		StaffID: d.StaffID, Fields: fields, Page: d.Page, URL: d.URL, Urgent: d.Urgent, Status: d.Status,
		Channel: d.Channel, TemplateID: asciiBin(d.TemplateID), MsgID: asciiBin(d.MsgID), Errcode: d.Errcode,
		Error: truncateBytes(d.Error, 128), NotBefore: dbTime(d.NotBefore), EnqueuedAt: timePtr(d.EnqueuedAt),
		SentAt: timePtr(d.SentAt), CreatedAt: now, UpdatedAt: now,
	}
	if row.Status == "" {
		row.Status = model.DeliveryPending
	}
	if d.NotBefore.IsZero() {
		row.NotBefore = now
	}
	res := n.db.conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "dedupe_key"}}, DoNothing: true}).Create(&row)
	if res.Error != nil {
		return model.Delivery{}, false, fmt.Errorf("create delivery: %w", TranslateError(res.Error))
	}
	if res.RowsAffected > 0 && row.ID != 0 && n.db.driver != "mysql" {
		// Inserted (MariaDB's RETURNING would report the twin's row too:
		// read it back there).
		out, err := row.toModel()
		return out, true, err
	}
	if err := n.db.conn(ctx).Where("dedupe_key = ?", asciiBin(d.DedupeKey)).Take(&got).Error; err != nil {
		return model.Delivery{}, false, fmt.Errorf("create delivery: read back: %w", TranslateError(err))
	}
	out, err := got.toModel()
	return out, res.RowsAffected > 0, err
}

// DeliveryByID returns the delivery or ErrNotFound.
func (n *Notify) DeliveryByID(ctx context.Context, id int64) (model.Delivery, error) {
	var row deliveryRow
	if err := n.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return model.Delivery{}, fmt.Errorf("delivery %d: %w", id, TranslateError(err))
	}
	return row.toModel()
}

// ListDeliveries pages deliveries matching f, newest first.
func (n *Notify) ListDeliveries(ctx context.Context, f model.DeliveryFilter, p model.Page) ([]model.Delivery, string, error) {
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := n.db.conn(ctx).Model(&deliveryRow{})
	if f.PushID != 0 {
		q = q.Where("push_id = ?", f.PushID)
	}
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.StaffID != 0 {
		q = q.Where("staff_id = ?", f.StaffID)
	}
	if f.OpenID != "" {
		q = q.Where("openid = ?", asciiBin(f.OpenID))
	}
	if f.Topic != "" {
		q = q.Where("topic = ?", f.Topic)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	size := p.Size()
	var rows []deliveryRow
	if err := q.Order("id DESC").Limit(size + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", TranslateError(err))
	}
	rows, next := cutPage(rows, size, func(r deliveryRow) int64 { return r.ID })
	out, err := toModels[model.Delivery](rows)
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// ClaimDelivery takes the delivery in one conditional UPDATE, so two
// workers never both hold it: pending and due, or sending with its lease
// ended. The attempt count, raised by the UPDATE, fences the claim.
func (n *Notify) ClaimDelivery(ctx context.Context, id int64, now, leaseUntil time.Time) (model.Delivery, bool, error) {
	t := dbTime(now)
	res := n.db.conn(ctx).Exec(`UPDATE notify_deliveries SET status = ?, attempts = attempts + 1, lease_until = ?, updated_at = ?
		WHERE id = ? AND ((status = ? AND not_before <= ?) OR (status = ? AND lease_until < ?))`,
		model.DeliverySending, dbTime(leaseUntil), t, id, model.DeliveryPending, t, model.DeliverySending, t)
	if res.Error != nil {
		return model.Delivery{}, false, fmt.Errorf("claim delivery %d: %w", id, TranslateError(res.Error))
	}
	d, err := n.DeliveryByID(ctx, id)
	if err != nil {
		return model.Delivery{}, false, fmt.Errorf("claim %w", err)
	}
	return d, res.RowsAffected > 0, nil
}

// FinishDelivery records r if the claim attempt still holds the delivery.
func (n *Notify) FinishDelivery(ctx context.Context, id int64, attempt int, r model.DeliveryResult) (bool, error) {
	at := r.At
	if at.IsZero() {
		at = time.Now()
	}
	upd := map[string]any{
		"status": r.Status, "channel": r.Channel, "template_id": asciiBin(r.TemplateID), "msg_id": asciiBin(r.MsgID),
		"errcode": r.Errcode, "error": truncateBytes(r.Error, 128), "lease_until": nil, "updated_at": dbTime(at),
	}
	if r.Status == model.DeliverySent {
		upd["sent_at"] = dbTime(at)
	}
	res := n.db.conn(ctx).Model(&deliveryRow{}).Where("id = ? AND status = ? AND attempts = ?", id, model.DeliverySending, attempt).
		Updates(upd)
	if res.Error != nil {
		return false, fmt.Errorf("finish delivery %d: %w", id, TranslateError(res.Error))
	}
	return res.RowsAffected > 0, nil
}

// ReleaseDelivery puts a delivery still held by attempt back to pending.
func (n *Notify) ReleaseDelivery(ctx context.Context, id int64, attempt int, notBefore time.Time, errcode int, reason string) error {
	err := n.db.conn(ctx).Model(&deliveryRow{}).Where("id = ? AND status = ? AND attempts = ?", id, model.DeliverySending, attempt).
		Updates(map[string]any{
			"status": model.DeliveryPending, "not_before": dbTime(notBefore), "lease_until": nil, "errcode": errcode,
			"error": truncateBytes(reason, 128), "updated_at": dbTime(time.Now()),
		}).Error
	if err != nil {
		return fmt.Errorf("release delivery %d: %w", id, TranslateError(err))
	}
	return nil
}

// DeferDelivery makes a pending delivery due at notBefore.
func (n *Notify) DeferDelivery(ctx context.Context, id int64, notBefore time.Time) error {
	now := dbTime(time.Now())
	err := n.db.conn(ctx).Model(&deliveryRow{}).Where("id = ? AND status = ?", id, model.DeliveryPending).
		Updates(map[string]any{"not_before": dbTime(notBefore), "enqueued_at": now, "updated_at": now}).Error
	if err != nil {
		return fmt.Errorf("defer delivery %d: %w", id, TranslateError(err))
	}
	return nil
}

// MarkEnqueued records the hand-over of ids to the queue; a zero t marks
// them not handed over (the sweeper's next run does it).
func (n *Notify) MarkEnqueued(ctx context.Context, ids []int64, t time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := n.db.conn(ctx).Model(&deliveryRow{}).Where("id IN ?", ids).
		Updates(map[string]any{"enqueued_at": timePtr(t), "updated_at": dbTime(time.Now())}).Error
	if err != nil {
		return fmt.Errorf("mark enqueued: %w", TranslateError(err))
	}
	return nil
}

// DeliveriesToSweep returns deliveries that need a (new) task, oldest
// first: never enqueued, enqueued and due long ago but still pending, or
// held under a lease that ended long ago and not handed over since.
func (n *Notify) DeliveriesToSweep(ctx context.Context, staleBefore time.Time, limit int) ([]model.Delivery, error) {
	t := dbTime(staleBefore)
	var rows []deliveryRow
	err := n.db.conn(ctx).Where(`(status = ? AND enqueued_at IS NULL)
		OR (status = ? AND enqueued_at < ? AND not_before < ?)
		OR (status = ? AND lease_until < ? AND (enqueued_at IS NULL OR enqueued_at < ?))`,
		model.DeliveryPending, model.DeliveryPending, t, t, model.DeliverySending, t, t).
		Order("id").Limit(max(limit, 1)).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("deliveries to sweep: %w", TranslateError(err))
	}
	return toModels[model.Delivery](rows)
}

// SetDeliveryResultByMsgID records WeChat's asynchronous result.
func (n *Notify) SetDeliveryResultByMsgID(ctx context.Context, channel, msgID, status string, errcode int, reason string) (int64, error) {
	if msgID == "" {
		return 0, nil
	}
	res := n.db.conn(ctx).Model(&deliveryRow{}).Where("channel = ? AND msg_id = ?", channel, asciiBin(msgID)).
		Updates(map[string]any{"status": status, "errcode": errcode, "error": truncateBytes(reason, 128), "updated_at": dbTime(time.Now())})
	if res.Error != nil {
		return 0, fmt.Errorf("delivery result %s: %w", msgID, TranslateError(res.Error))
	}
	return res.RowsAffected, nil
}

// ensureConsent creates the ledger entry (empty) if missing, so the
// updates below are single conditional UPDATEs.
func (n *Notify) ensureConsent(ctx context.Context, app model.App, openID, templateID string) error {
	row := consentRow{App: string(app), OpenID: asciiBin(openID), TemplateID: asciiBin(templateID), UpdatedAt: dbTime(time.Now())}
	err := n.db.conn(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "app"}, {Name: "openid"}, {Name: "template_id"}}, DoNothing: true,
	}).Create(&row).Error
	if err != nil {
		return TranslateError(err)
	}
	return nil
}

func (n *Notify) consentWhere(ctx context.Context, app model.App, openID, templateID string) *gorm.DB {
	return n.db.conn(ctx).Model(&consentRow{}).Where("app = ? AND openid = ? AND template_id = ?",
		string(app), asciiBin(openID), asciiBin(templateID))
}

// GrantConsent adds one authorisation (remaining + 1 in one UPDATE, so
// concurrent grants all count) or turns long-term on.
func (n *Notify) GrantConsent(ctx context.Context, app model.App, openID, templateID string, longTerm bool) error {
	if err := n.ensureConsent(ctx, app, openID, templateID); err != nil {
		return fmt.Errorf("grant consent: %w", err)
	}
	upd := map[string]any{"remaining": gorm.Expr("remaining + 1"), "updated_at": dbTime(time.Now())}
	if longTerm {
		upd = map[string]any{"long_term": true, "updated_at": dbTime(time.Now())}
	}
	if err := n.consentWhere(ctx, app, openID, templateID).Updates(upd).Error; err != nil {
		return fmt.Errorf("grant consent: %w", TranslateError(err))
	}
	return nil
}

// RevokeConsent turns the consent off.
func (n *Notify) RevokeConsent(ctx context.Context, app model.App, openID, templateID string) error {
	if err := n.ensureConsent(ctx, app, openID, templateID); err != nil {
		return fmt.Errorf("revoke consent: %w", err)
	}
	err := n.consentWhere(ctx, app, openID, templateID).
		Updates(map[string]any{"remaining": 0, "long_term": false, "updated_at": dbTime(time.Now())}).Error
	if err != nil {
		return fmt.Errorf("revoke consent: %w", TranslateError(err))
	}
	return nil
}

// UseConsent takes one one-time authorisation with a conditional UPDATE
// (remaining > 0), so two sends never use one authorisation; only when
// there is none does it read whether a long-term consent is on.
func (n *Notify) UseConsent(ctx context.Context, app model.App, openID, templateID string) (bool, bool, error) {
	res := n.consentWhere(ctx, app, openID, templateID).Where("long_term = ? AND remaining > 0", false).
		Updates(map[string]any{"remaining": gorm.Expr("remaining - 1"), "updated_at": dbTime(time.Now())})
	if res.Error != nil {
		return false, false, fmt.Errorf("use consent: %w", TranslateError(res.Error))
	}
	if res.RowsAffected > 0 {
		return true, false, nil
	}
	var row consentRow
	err := n.consentWhere(ctx, app, openID, templateID).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return false, false, nil
	case err != nil:
		return false, false, fmt.Errorf("use consent: %w", TranslateError(err))
	}
	return row.LongTerm, row.LongTerm, nil
}

// RefundConsent gives back one authorisation (not for long-term consents).
func (n *Notify) RefundConsent(ctx context.Context, app model.App, openID, templateID string) error {
	err := n.consentWhere(ctx, app, openID, templateID).Where("long_term = ?", false).
		Updates(map[string]any{"remaining": gorm.Expr("remaining + 1"), "updated_at": dbTime(time.Now())}).Error
	if err != nil {
		return fmt.Errorf("refund consent: %w", TranslateError(err))
	}
	return nil
}

// ConsentsOf returns openID's ledger entries in app by template id.
func (n *Notify) ConsentsOf(ctx context.Context, app model.App, openID string) ([]model.Consent, error) {
	var rows []consentRow
	err := n.db.conn(ctx).Where("app = ? AND openid = ?", string(app), asciiBin(openID)).Order("template_id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("consents: %w", TranslateError(err))
	}
	out := make([]model.Consent, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// CreateAlert inserts a once per delivery (a second call returns the first).
func (n *Notify) CreateAlert(ctx context.Context, a model.StaffAlert) (model.StaffAlert, error) {
	fields, err := fieldsJSON(a.Fields)
	if err != nil {
		return model.StaffAlert{}, fmt.Errorf("create alert: %w", err)
	}
	row := staffAlertRow{
		StaffID: a.StaffID, DeliveryID: a.DeliveryID, Topic: a.Topic, Fields: fields, Page: a.Page, URL: a.URL,
		Urgent: a.Urgent, CreatedAt: dbTime(a.CreatedAt),
	}
	if a.CreatedAt.IsZero() {
		row.CreatedAt = dbTime(time.Now())
	}
	err = n.db.conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "delivery_id"}}, DoNothing: true}).Create(&row).Error
	if err != nil {
		return model.StaffAlert{}, fmt.Errorf("create alert: %w", TranslateError(err))
	}
	var got staffAlertRow
	if err := n.db.conn(ctx).Where("delivery_id = ?", a.DeliveryID).Take(&got).Error; err != nil {
		return model.StaffAlert{}, fmt.Errorf("create alert: read back: %w", TranslateError(err))
	}
	return got.toModel()
}

// ListAlerts pages staffID's alerts newest first.
func (n *Notify) ListAlerts(ctx context.Context, staffID int64, unreadOnly bool, p model.Page) ([]model.StaffAlert, string, error) {
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := n.db.conn(ctx).Model(&staffAlertRow{}).Where("staff_id = ?", staffID)
	if unreadOnly {
		q = q.Where("read_at IS NULL")
	}
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	size := p.Size()
	var rows []staffAlertRow
	if err := q.Order("id DESC").Limit(size + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list alerts: %w", TranslateError(err))
	}
	rows, next := cutPage(rows, size, func(r staffAlertRow) int64 { return r.ID })
	out, err := toModels[model.StaffAlert](rows)
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// MarkAlertRead marks one of staffID's alerts read (the first read time
// is kept), or returns ErrNotFound.
func (n *Notify) MarkAlertRead(ctx context.Context, staffID, id int64, t time.Time) error {
	var row staffAlertRow
	if err := n.db.conn(ctx).Where("id = ? AND staff_id = ?", id, staffID).Take(&row).Error; err != nil {
		return fmt.Errorf("alert %d: %w", id, TranslateError(err))
	}
	if row.ReadAt != nil {
		return nil
	}
	err := n.db.conn(ctx).Model(&staffAlertRow{}).Where("id = ? AND read_at IS NULL", id).Update("read_at", dbTime(t)).Error
	if err != nil {
		return fmt.Errorf("mark alert %d read: %w", id, TranslateError(err))
	}
	return nil
}
