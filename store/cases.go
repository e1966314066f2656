package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"wanjia/model"
)

// migrateCases is step 0009: 12338 cases, their hash-chained event log,
// service stations and the access log of staff reads.
func migrateCases(tx *gorm.DB) error {
	return tx.AutoMigrate(&caseRow{}, &caseEventRow{}, &stationRow{}, &caseAccessRow{})
}

// caseRow is a 12338 case. Personal data lives only in the *_sealed
// columns (AES-GCM, bound to the case number and column). last_seq and
// last_hash are the head of the event chain; they change only in the
// transaction that appends events, under the row lock (see Update).
type caseRow struct {
	ID                int64      `gorm:"primaryKey"`
	CaseNo            string     `gorm:"size:32;not null;uniqueIndex:ux_cases_no"`
	UserID            int64      `gorm:"not null;index:ix_cases_user"`
	Channel           string     `gorm:"size:16;not null"`
	Category          string     `gorm:"size:32;not null"`
	District          string     `gorm:"size:64;not null"`
	Status            string     `gorm:"size:16;not null;index:ix_cases_status"`
	Danger            bool       `gorm:"not null"`
	Anonymous         bool       `gorm:"not null"`
	StationID         int64      `gorm:"not null;index:ix_cases_station"`
	NameSealed        string     `gorm:"size:512;not null"`
	PhoneSealed       string     `gorm:"size:512;not null"`
	DescriptionSealed string     `gorm:"type:text;not null"`
	ContactSealed     string     `gorm:"type:text;not null"`
	FeedbackSealed    string     `gorm:"type:text;not null"`
	WaitingUser       bool       `gorm:"not null"`
	WaitingSince      *time.Time `gorm:""`
	ReceivedAt        time.Time  `gorm:"not null;index:ix_cases_received"`
	FirstResponseAt   *time.Time `gorm:""`
	FirstResponseDue  time.Time  `gorm:"not null"`
	CloseDue          time.Time  `gorm:"not null"`
	ResolvedAt        *time.Time `gorm:""`
	ClosedAt          *time.Time `gorm:"index:ix_cases_closed"`
	Outcome           string     `gorm:"size:32;not null"`
	Rating            int        `gorm:"not null"`
	FeedbackAt        *time.Time `gorm:""`
	SLAFlags          int        `gorm:"column:sla_flags;not null"`
	Cycle             int        `gorm:"not null"`
	NoticeSeq         int        `gorm:"not null"`
	NotifiedSeq       int        `gorm:"not null"`
	LastSeq           int        `gorm:"not null"`
	LastHash          string     `gorm:"size:64;not null"`
	AnonymisedAt      *time.Time `gorm:""`
	CreatedBy         int64      `gorm:"not null"`
	CreatedAt         time.Time  `gorm:"not null"`
	UpdatedAt         time.Time  `gorm:"not null"`
}

func (caseRow) TableName() string { return "cases" }

func (r caseRow) toModel() model.Case {
	return model.Case{
		ID: r.ID, CaseNo: r.CaseNo, UserID: r.UserID, Channel: model.CaseChannel(r.Channel),
		Category: model.CaseCategory(r.Category), District: r.District, Status: model.CaseStatus(r.Status),
		Danger: r.Danger, Anonymous: r.Anonymous, StationID: r.StationID, NameSealed: r.NameSealed,
		PhoneSealed: r.PhoneSealed, DescriptionSealed: r.DescriptionSealed, ContactSealed: r.ContactSealed,
		FeedbackSealed: r.FeedbackSealed, WaitingUser: r.WaitingUser, WaitingSince: timeVal(r.WaitingSince),
		ReceivedAt: r.ReceivedAt.UTC(), FirstResponseAt: timeVal(r.FirstResponseAt), FirstResponseDue: r.FirstResponseDue.UTC(),
		CloseDue: r.CloseDue.UTC(), ResolvedAt: timeVal(r.ResolvedAt), ClosedAt: timeVal(r.ClosedAt),
		Outcome: model.CaseOutcome(r.Outcome), Rating: r.Rating, FeedbackAt: timeVal(r.FeedbackAt), SLAFlags: r.SLAFlags,
		Cycle: r.Cycle, NoticeSeq: r.NoticeSeq, NotifiedSeq: r.NotifiedSeq, LastSeq: r.LastSeq, LastHash: r.LastHash,
		AnonymisedAt: timeVal(r.AnonymisedAt), CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func caseFromModel(c model.Case) caseRow {
	return caseRow{
		ID: c.ID, CaseNo: c.CaseNo, UserID: c.UserID, Channel: string(c.Channel), Category: string(c.Category),
		District: c.District, Status: string(c.Status), Danger: c.Danger, Anonymous: c.Anonymous, StationID: c.StationID,
		NameSealed: c.NameSealed, PhoneSealed: c.PhoneSealed, DescriptionSealed: c.DescriptionSealed,
		ContactSealed: c.ContactSealed, FeedbackSealed: c.FeedbackSealed, WaitingUser: c.WaitingUser,
		WaitingSince: timePtr(c.WaitingSince), ReceivedAt: dbTime(c.ReceivedAt), FirstResponseAt: timePtr(c.FirstResponseAt),
		FirstResponseDue: dbTime(c.FirstResponseDue), CloseDue: dbTime(c.CloseDue), ResolvedAt: timePtr(c.ResolvedAt),
		ClosedAt: timePtr(c.ClosedAt), Outcome: string(c.Outcome), Rating: c.Rating, FeedbackAt: timePtr(c.FeedbackAt),
		SLAFlags: c.SLAFlags, Cycle: c.Cycle, NoticeSeq: c.NoticeSeq, NotifiedSeq: c.NotifiedSeq, LastSeq: c.LastSeq,
		LastHash: c.LastHash, AnonymisedAt: timePtr(c.AnonymisedAt), CreatedBy: c.CreatedBy,
	}
}

// mutableColumns are the columns Update writes back: everything but the
// id, the number, the owner's channel and intake facts, the chain head
// (written by append) and the creation time. The category is written
// back: staff may correct it (an EventCategory records it).
func (r caseRow) mutableColumns() map[string]any {
	return map[string]any{
		"user_id": r.UserID, "category": r.Category, "district": r.District, "status": r.Status, "danger": r.Danger, "station_id": r.StationID,
		"name_sealed": r.NameSealed, "phone_sealed": r.PhoneSealed, "description_sealed": r.DescriptionSealed,
		"contact_sealed": r.ContactSealed, "feedback_sealed": r.FeedbackSealed, "waiting_user": r.WaitingUser,
		"waiting_since": r.WaitingSince, "first_response_at": r.FirstResponseAt, "first_response_due": r.FirstResponseDue,
		"close_due": r.CloseDue, "resolved_at": r.ResolvedAt, "closed_at": r.ClosedAt, "outcome": r.Outcome,
		"rating": r.Rating, "feedback_at": r.FeedbackAt, "sla_flags": r.SLAFlags, "cycle": r.Cycle,
		"notice_seq": r.NoticeSeq, "anonymised_at": r.AnonymisedAt,
	}
}

// caseEventRow is one entry of a case's event log. ux_case_events_seq
// makes a fork of the chain (two events with one seq) impossible even if
// the row lock were bypassed; ix_case_events_kind serves the figures.
type caseEventRow struct {
	ID         int64     `gorm:"primaryKey"`
	CaseID     int64     `gorm:"not null;uniqueIndex:ux_case_events_seq,priority:1"`
	Seq        int       `gorm:"not null;uniqueIndex:ux_case_events_seq,priority:2"`
	Kind       string    `gorm:"size:32;not null;index:ix_case_events_kind,priority:1"`
	ActorKind  string    `gorm:"size:16;not null"`
	ActorID    int64     `gorm:"not null"`
	FromStatus string    `gorm:"size:16;not null"`
	ToStatus   string    `gorm:"size:16;not null"`
	StationID  int64     `gorm:"not null"`
	Visible    bool      `gorm:"not null"`
	BodySealed string    `gorm:"type:text;not null"`
	BodyDigest string    `gorm:"size:64;not null"`
	Meta       string    `gorm:"type:text;not null"`
	OccurredAt time.Time `gorm:"not null;index:ix_case_events_kind,priority:2"`
	PrevHash   string    `gorm:"size:64;not null"`
	Hash       string    `gorm:"size:64;not null"`
}

func (caseEventRow) TableName() string { return "case_events" }

func (r caseEventRow) toModel() (model.CaseEvent, error) {
	e := model.CaseEvent{
		ID: r.ID, CaseID: r.CaseID, Seq: r.Seq, Kind: model.CaseEventKind(r.Kind), ActorKind: r.ActorKind,
		ActorID: r.ActorID, FromStatus: model.CaseStatus(r.FromStatus), ToStatus: model.CaseStatus(r.ToStatus),
		StationID: r.StationID, Visible: r.Visible, BodySealed: r.BodySealed, BodyDigest: r.BodyDigest,
		At: r.OccurredAt.UTC(), PrevHash: r.PrevHash, Hash: r.Hash,
	}
	if r.Meta != "" && r.Meta != "{}" {
		if err := json.Unmarshal([]byte(r.Meta), &e.Meta); err != nil {
			return model.CaseEvent{}, fmt.Errorf("case %d event %d: meta: %w", r.CaseID, r.Seq, err)
		}
	}
	return e, nil
}

func eventFromModel(e model.CaseEvent) caseEventRow {
	return caseEventRow{
		CaseID: e.CaseID, Seq: e.Seq, Kind: string(e.Kind), ActorKind: e.ActorKind, ActorID: e.ActorID,
		FromStatus: string(e.FromStatus), ToStatus: string(e.ToStatus), StationID: e.StationID, Visible: e.Visible,
		BodySealed: e.BodySealed, BodyDigest: e.BodyDigest, Meta: e.MetaJSON(), OccurredAt: dbTime(e.At),
		PrevHash: e.PrevHash, Hash: e.Hash,
	}
}

// stationRow is a service station. Lists are stored comma-separated
// (categories and districts hold no commas: the service checks).
type stationRow struct {
	ID         int64     `gorm:"primaryKey"`
	Name       string    `gorm:"size:128;not null"`
	Kind       string    `gorm:"size:32;not null"`
	Categories string    `gorm:"size:255;not null"`
	Districts  string    `gorm:"size:1024;not null"`
	Capacity   int       `gorm:"not null"`
	DutyStaff  string    `gorm:"size:1024;not null"`
	Phone      string    `gorm:"size:32;not null"`
	Address    string    `gorm:"size:255;not null"`
	Active     bool      `gorm:"not null"`
	CreatedAt  time.Time `gorm:"not null"`
	UpdatedAt  time.Time `gorm:"not null"`
}

func (stationRow) TableName() string { return "case_stations" }

func (r stationRow) toModel() model.Station {
	s := model.Station{
		ID: r.ID, Name: r.Name, Kind: r.Kind, Districts: splitCSV(r.Districts), Capacity: r.Capacity, Phone: r.Phone,
		Address: r.Address, Active: r.Active, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		Categories: []model.CaseCategory{}, DutyStaffIDs: []int64{},
	}
	for _, c := range splitCSV(r.Categories) {
		s.Categories = append(s.Categories, model.CaseCategory(c))
	}
	for _, v := range splitCSV(r.DutyStaff) {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil {
			s.DutyStaffIDs = append(s.DutyStaffIDs, id)
		}
	}
	return s
}

func stationFromModel(s model.Station) stationRow {
	cats := make([]string, len(s.Categories))
	for i, c := range s.Categories {
		cats[i] = string(c)
	}
	ids := make([]string, len(s.DutyStaffIDs))
	for i, id := range s.DutyStaffIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return stationRow{
		ID: s.ID, Name: s.Name, Kind: s.Kind, Categories: strings.Join(cats, ","), Districts: strings.Join(s.Districts, ","),
		Capacity: s.Capacity, DutyStaff: strings.Join(ids, ","), Phone: s.Phone, Address: s.Address, Active: s.Active,
	}
}

func splitCSV(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// caseAccessRow is one staff read of a case (the access log).
type caseAccessRow struct {
	ID         int64     `gorm:"primaryKey"`
	CaseID     int64     `gorm:"not null;index:ix_case_access_case"`
	StaffID    int64     `gorm:"not null"`
	Username   string    `gorm:"size:64;not null"`
	Action     string    `gorm:"size:16;not null"`
	Fields     string    `gorm:"size:128;not null"`
	Reason     string    `gorm:"size:1024;not null"`
	IP         string    `gorm:"size:64;not null"`
	RequestID  string    `gorm:"size:64;not null"`
	OccurredAt time.Time `gorm:"not null"`
}

func (caseAccessRow) TableName() string { return "case_access_log" }

func (r caseAccessRow) toModel() model.CaseAccess {
	return model.CaseAccess{
		ID: r.ID, CaseID: r.CaseID, StaffID: r.StaffID, Username: r.Username, Action: r.Action, Fields: r.Fields,
		Reason: r.Reason, IP: r.IP, RequestID: r.RequestID, At: r.OccurredAt.UTC(),
	}
}

// Cases stores 12338 cases, their event chains, stations and the access
// log.
type Cases struct{ db *DB }

// NewCases returns the case store on db.
func NewCases(db *DB) *Cases { return &Cases{db: db} }

// WithTx runs fn in a transaction carried in ctx (see DB.WithTx).
func (cs *Cases) WithTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return cs.db.WithTx(ctx, fn)
}

var errCaseNotFound = model.Errorf(model.ErrNotFound, "案件不存在")

// Create inserts c (its number, owner, intake facts and sealed fields)
// with its first events, whose Seq must be 1, 2, …; it chains them and
// returns the stored case and events. A taken case number is ErrConflict.
func (cs *Cases) Create(ctx context.Context, c model.Case, events []model.CaseEvent) (model.Case, []model.CaseEvent, error) {
	if len(events) == 0 || events[0].ToStatus == "" {
		return model.Case{}, nil, errors.New("create case: the first event must set the status")
	}
	var out model.Case
	var evs []model.CaseEvent
	err := cs.retry(ctx, func(ctx context.Context) error {
		return cs.db.WithTx(ctx, func(ctx context.Context) error {
			row := caseFromModel(c)
			row.ID, row.LastSeq, row.LastHash = 0, 0, ""
			if err := cs.db.conn(ctx).Create(&row).Error; err != nil {
				return fmt.Errorf("create case: %w", TranslateError(err))
			}
			var err error
			out, evs, err = cs.append(ctx, row.toModel(), "", events)
			return err
		})
	})
	if err != nil {
		return model.Case{}, nil, err
	}
	return out, evs, nil
}

// append chains events after the head of c, inserts them and moves the
// head; a change of status from was must be carried by the last event
// that sets one. It must run in the transaction that holds c's row lock (or that
// inserted c). Each event's Seq must be the next one; CaseID, StationID
// (the case's station after the change), BodyDigest, PrevHash and Hash
// are set here.
func (cs *Cases) append(ctx context.Context, c model.Case, was model.CaseStatus, events []model.CaseEvent) (model.Case, []model.CaseEvent, error) {
	prev := c.LastHash
	rows := make([]caseEventRow, len(events))
	status := model.CaseStatus("")
	for i := range events {
		e := &events[i]
		if e.Seq != c.LastSeq+1+i {
			return model.Case{}, nil, fmt.Errorf("append case %d: event seq %d, want %d", c.ID, e.Seq, c.LastSeq+1+i)
		}
		if e.At.IsZero() {
			return model.Case{}, nil, fmt.Errorf("append case %d: event %d has no time", c.ID, e.Seq)
		}
		e.CaseID, e.StationID, e.At = c.ID, c.StationID, dbTime(e.At)
		e.BodyDigest = model.BodyDigestOf(e.BodySealed)
		e.PrevHash = prev
		e.Hash = e.ChainHash(prev)
		prev = e.Hash
		if e.ToStatus != "" {
			status = e.ToStatus
		}
		rows[i] = eventFromModel(*e)
	}
	if status == "" && c.Status != was || status != "" && status != c.Status {
		return model.Case{}, nil, fmt.Errorf("append case %d: events lead to %q, the case went from %s to %s", c.ID, status, was, c.Status)
	}
	if len(rows) == 0 {
		return c, nil, nil
	}
	if err := cs.db.conn(ctx).Create(&rows).Error; err != nil {
		return model.Case{}, nil, fmt.Errorf("append case %d: %w", c.ID, TranslateError(err))
	}
	for i := range rows {
		events[i].ID = rows[i].ID
	}
	res := cs.db.conn(ctx).Model(&caseRow{}).Where("id = ? AND last_seq = ?", c.ID, c.LastSeq).
		Updates(map[string]any{"last_seq": c.LastSeq + len(events), "last_hash": prev, "updated_at": dbTime(time.Now())})
	if res.Error != nil {
		return model.Case{}, nil, fmt.Errorf("append case %d: head: %w", c.ID, res.Error)
	}
	if res.RowsAffected != 1 {
		return model.Case{}, nil, fmt.Errorf("append case %d: the head moved under the lock", c.ID)
	}
	c.LastSeq += len(events)
	c.LastHash = prev
	return c, events, nil
}

// lockCase reads the case with number no for update inside a transaction
// (SQLite: the IMMEDIATE transaction is the lock).
func (cs *Cases) lockCase(ctx context.Context, no string) (caseRow, error) {
	var row caseRow
	c := cs.db.conn(ctx)
	if cs.db.driver != "sqlite" {
		c = c.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := c.Where("case_no = ?", no).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return caseRow{}, errCaseNotFound
		}
		return caseRow{}, err
	}
	return row, nil
}

// Update changes the case with number no under its row lock: fn gets the
// case as stored, changes it in place and returns the events that record
// the change (Seq LastSeq+1, +2, …, every status change carried by an
// event's ToStatus). The changed columns and the chained events are
// written in one transaction, so concurrent updates of one case queue on
// the lock and never fork the chain. fn's error rolls back and is returned
// as is; ErrNotFound for an unknown number. Deadlocks and serialisation
// failures are retried (fn runs again).
//
// A change that moves the case into a station's open load (see movesIn:
// an assignment, a transfer) is checked against the station's capacity in
// the same transaction, under the station's row lock (see claimStation): a
// station at capacity is ErrConflict station_full, one that is gone or
// inactive ErrInvalid on station_id. A case that comes back into the open
// load of the station it is at (reopened, or a resolved case taken back
// into work) is never refused: she returns to the people who know her
// case, as a case recorded at the station is always taken in.
func (cs *Cases) Update(ctx context.Context, no string, fn func(c *model.Case) ([]model.CaseEvent, error)) (model.Case, []model.CaseEvent, error) {
	var out model.Case
	var evs []model.CaseEvent
	err := cs.retry(ctx, func(ctx context.Context) error {
		return cs.db.WithTx(ctx, func(ctx context.Context) error {
			row, err := cs.lockCase(ctx, no)
			if err != nil {
				return err
			}
			c := row.toModel()
			before := c
			events, err := fn(&c)
			if err != nil {
				return err
			}
			c.ID, c.CaseNo, c.LastSeq, c.LastHash = before.ID, before.CaseNo, before.LastSeq, before.LastHash
			if movesIn(before, c) {
				if err := cs.claimStation(ctx, c.StationID, c.ID); err != nil {
					return err
				}
			}
			cols := caseFromModel(c).mutableColumns()
			cols["updated_at"] = dbTime(time.Now())
			if err := cs.db.conn(ctx).Model(&caseRow{}).Where("id = ?", c.ID).Updates(cols).Error; err != nil {
				return fmt.Errorf("update case %d: %w", c.ID, TranslateError(err))
			}
			out, evs, err = cs.append(ctx, c, before.Status, events)
			return err
		})
	})
	if err != nil {
		return model.Case{}, nil, err
	}
	return out, evs, nil
}

// movesIn reports whether the change from before to after moves the case
// into another station's open load (StationLoads): it is open at a
// station after, and was at another station, or none, before.
func movesIn(before, after model.Case) bool {
	return after.StationID != 0 && after.Status.Open() && before.StationID != after.StationID
}

// stationLoadSQL counts a station's open cases but one (StationLoads'
// definition).
const stationLoadSQL = "SELECT COUNT(*) FROM cases WHERE station_id = ? AND id <> ? AND status NOT IN ?"

var errStationFull = model.Coded(model.ErrConflict, "station_full", "该服务站在办案件已满")

// claimStation checks, inside the transaction that holds case caseID's
// row lock, that station stationID exists, is active and can take one more
// open case: it locks the station's row, then counts the station's open
// cases other than caseID. Every move into a station goes through here
// (Update), so moves into one station queue on its row lock and each
// counts what the previous ones committed: concurrent assignments never
// pass the capacity. Locks are always taken case first, station second,
// so two such changes cannot wait on each other in a cycle.
//
// Per dialect: SQLite's IMMEDIATE transaction is already the database's
// single write lock (and with a deferred transaction from an operator's
// own DSN a stale read cannot commit: the write fails busy and is
// retried). MySQL/MariaDB: SELECT … FOR UPDATE on the station, and the
// count is a locking read too, so it sees the latest committed rows even
// under REPEATABLE READ, whose plain reads would see the transaction's
// snapshot. PostgreSQL: the station row is locked by an UPDATE that
// rewrites it unchanged, so under READ COMMITTED (the default) the count
// that follows sees what the previous holder committed, and under
// REPEATABLE READ or SERIALIZABLE a concurrent claim fails with a
// serialisation error (40001), which Update retries.
func (cs *Cases) claimStation(ctx context.Context, stationID, caseID int64) error {
	conn := cs.db.conn(ctx)
	if cs.db.driver == "postgres" {
		if err := conn.Exec("UPDATE case_stations SET capacity = capacity WHERE id = ?", stationID).Error; err != nil {
			return fmt.Errorf("lock station %d: %w", stationID, err)
		}
	}
	var st stationRow
	q := conn.Select("id", "capacity", "active")
	if cs.db.driver == "mysql" {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Where("id = ?", stationID).Take(&st).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Invalid(map[string]string{"station_id": "服务站不存在或已停用"})
		}
		return fmt.Errorf("lock station %d: %w", stationID, err)
	}
	if !st.Active {
		return model.Invalid(map[string]string{"station_id": "服务站不存在或已停用"})
	}
	if st.Capacity <= 0 {
		return nil
	}
	// Raw: gorm's Count leaves a locking clause out.
	q = conn.Raw(stationLoadSQL, stationID, caseID, []string{string(model.CaseResolved), string(model.CaseClosed)})
	if cs.db.driver == "mysql" {
		q = conn.Raw(stationLoadSQL+" FOR UPDATE", stationID, caseID, []string{string(model.CaseResolved), string(model.CaseClosed)})
	}
	var n int64
	if err := q.Scan(&n).Error; err != nil {
		return fmt.Errorf("station %d load: %w", stationID, err)
	}
	if n >= int64(st.Capacity) {
		return errStationFull
	}
	return nil
}

func (cs *Cases) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	if InTx(ctx) {
		return fn(ctx)
	}
	var err error
	for attempt := range 5 {
		if err = fn(ctx); err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
	return err
}

// ByNo returns the case with number no, or ErrNotFound.
func (cs *Cases) ByNo(ctx context.Context, no string) (model.Case, error) {
	var row caseRow
	if err := cs.db.conn(ctx).Where("case_no = ?", no).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Case{}, errCaseNotFound
		}
		return model.Case{}, err
	}
	return row.toModel(), nil
}

// ByID returns the case with id, or ErrNotFound.
func (cs *Cases) ByID(ctx context.Context, id int64) (model.Case, error) {
	var row caseRow
	if err := cs.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Case{}, errCaseNotFound
		}
		return model.Case{}, err
	}
	return row.toModel(), nil
}

// Events returns every event of the case in seq order.
func (cs *Cases) Events(ctx context.Context, caseID int64) ([]model.CaseEvent, error) {
	var rows []caseEventRow
	if err := cs.db.conn(ctx).Where("case_id = ?", caseID).Order("seq").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("case %d events: %w", caseID, err)
	}
	return toModels[model.CaseEvent](rows)
}

// List returns a page of the cases matching f, newest first.
func (cs *Cases) List(ctx context.Context, f model.CaseFilter, p model.Page) ([]model.Case, string, error) {
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := p.Size()
	q := cs.filter(cs.db.conn(ctx).Model(&caseRow{}), f)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []caseRow
	if err := q.Order("id DESC").Limit(n + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list cases: %w", err)
	}
	rows, next := cutPage(rows, n, func(r caseRow) int64 { return r.ID })
	out := make([]model.Case, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, next, nil
}

func (cs *Cases) filter(q *gorm.DB, f model.CaseFilter) *gorm.DB {
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.StationID != 0 {
		q = q.Where("station_id = ?", f.StationID)
	}
	if f.District != "" {
		q = q.Where("district = ?", f.District)
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.Category != "" {
		q = q.Where("category = ?", string(f.Category))
	}
	if f.Danger != nil {
		q = q.Where("danger = ?", *f.Danger)
	}
	if f.Waiting != nil {
		q = q.Where("waiting_user = ?", *f.Waiting)
	}
	if f.OpenOnly {
		q = q.Where("status <> ?", string(model.CaseClosed))
	}
	return q
}

// CountIntakeSince counts the cases userID opened at or after since.
func (cs *Cases) CountIntakeSince(ctx context.Context, userID int64, since time.Time) (int, error) {
	var n int64
	err := cs.db.conn(ctx).Model(&caseRow{}).Where("user_id = ? AND received_at >= ?", userID, dbTime(since)).Count(&n).Error
	return int(n), err
}

// CountEventsSince counts the case's events of kind at or after since.
func (cs *Cases) CountEventsSince(ctx context.Context, caseID int64, kind model.CaseEventKind, since time.Time) (int, error) {
	var n int64
	err := cs.db.conn(ctx).Model(&caseEventRow{}).
		Where("case_id = ? AND kind = ? AND occurred_at >= ?", caseID, string(kind), dbTime(since)).Count(&n).Error
	return int(n), err
}

// StationLoads counts the open cases (not resolved, not closed) of each
// station.
func (cs *Cases) StationLoads(ctx context.Context) (map[int64]int, error) {
	var rows []struct {
		StationID int64
		N         int
	}
	err := cs.db.conn(ctx).Model(&caseRow{}).Select("station_id, COUNT(*) AS n").
		Where("station_id <> 0 AND status NOT IN ?", []string{string(model.CaseResolved), string(model.CaseClosed)}).
		Group("station_id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("station loads: %w", err)
	}
	out := make(map[int64]int, len(rows))
	for _, r := range rows {
		out[r.StationID] = r.N
	}
	return out, nil
}

// SLACandidates returns up to limit cases with id > afterID, in id order,
// that are not closed, not anonymised and not waiting for the person, and
// whose first response (not yet given) or closure falls due by horizon:
// the SLA sweep's work.
func (cs *Cases) SLACandidates(ctx context.Context, horizon time.Time, afterID int64, limit int) ([]model.Case, error) {
	h := dbTime(horizon)
	var rows []caseRow
	err := cs.db.conn(ctx).
		Where("id > ? AND status <> ? AND waiting_user = ? AND anonymised_at IS NULL", afterID, string(model.CaseClosed), false).
		Where("((first_response_at IS NULL AND first_response_due <= ?) OR close_due <= ?)", h, h).
		Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("sla candidates: %w", err)
	}
	out := make([]model.Case, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// PendingNotices returns up to limit cases with id > afterID whose owner
// has a notice pending (notice_seq > notified_seq), in id order.
func (cs *Cases) PendingNotices(ctx context.Context, afterID int64, limit int) ([]model.Case, error) {
	var rows []caseRow
	err := cs.db.conn(ctx).Where("id > ? AND notice_seq > notified_seq AND user_id <> 0", afterID).
		Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("pending notices: %w", err)
	}
	out := make([]model.Case, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// MarkNotified records that the owner was told (or, with no
// notifications wanted, need not be told) up to event seq. It never moves
// backwards. Notification bookkeeping is not a change of the case, so it
// is not an event.
func (cs *Cases) MarkNotified(ctx context.Context, caseID int64, seq int) error {
	return cs.db.conn(ctx).Model(&caseRow{}).Where("id = ? AND notified_seq < ?", caseID, seq).
		Update("notified_seq", seq).Error
}

// ClosedBefore returns up to limit case numbers of cases closed before t
// and not yet anonymised, oldest closure first.
func (cs *Cases) ClosedBefore(ctx context.Context, t time.Time, limit int) ([]model.Case, error) {
	var rows []caseRow
	err := cs.db.conn(ctx).Where("status = ? AND closed_at < ? AND anonymised_at IS NULL", string(model.CaseClosed), dbTime(t)).
		Order("closed_at, id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("closed cases: %w", err)
	}
	out := make([]model.Case, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// ClearEventBodies empties the sealed bodies of a case's events (their
// digests stay, so the chain still verifies) and returns how many it
// cleared: part of anonymisation, in its transaction.
func (cs *Cases) ClearEventBodies(ctx context.Context, caseID int64) (int64, error) {
	res := cs.db.conn(ctx).Model(&caseEventRow{}).Where("case_id = ? AND body_sealed <> ?", caseID, "").
		Update("body_sealed", "")
	return res.RowsAffected, res.Error
}

// CaseIDs returns up to limit case ids above afterID, in order (for the
// whole-log verification).
func (cs *Cases) CaseIDs(ctx context.Context, afterID int64, limit int) ([]int64, error) {
	var ids []int64
	err := cs.db.conn(ctx).Model(&caseRow{}).Where("id > ?", afterID).Order("id").Limit(limit).Pluck("id", &ids).Error
	return ids, err
}

// ChainHeadsAt returns where the chains of cases ids stood at at: for
// each case with an event that occurred at or before at, the seq and hash
// of the last such event, in case id order. Cases with no event by then
// are left out.
func (cs *Cases) ChainHeadsAt(ctx context.Context, ids []int64, at time.Time) ([]model.ChainHead, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []struct {
		CaseID int64
		Seq    int
		Hash   string
	}
	err := cs.db.conn(ctx).Model(&caseEventRow{}).Select("case_id", "seq", "hash").
		Where("case_id IN ? AND occurred_at <= ?", ids, dbTime(at)).Order("case_id, seq").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("chain heads: %w", err)
	}
	var heads []model.ChainHead
	for _, r := range rows {
		if n := len(heads); n > 0 && heads[n-1].CaseID == r.CaseID {
			heads[n-1] = model.ChainHead{CaseID: r.CaseID, Seq: r.Seq, Hash: r.Hash}
			continue
		}
		heads = append(heads, model.ChainHead{CaseID: r.CaseID, Seq: r.Seq, Hash: r.Hash})
	}
	return heads, nil
}

// eventColumns are the event columns the figures read (no body).
var eventColumns = []string{"id", "case_id", "seq", "kind", "actor_kind", "actor_id", "from_status", "to_status",
	"station_id", "visible", "body_digest", "meta", "occurred_at", "prev_hash", "hash"}

// ReceivedEvents returns, without bodies, every event before until of the
// cases whose intake event falls in [from, to), in case and seq order.
func (cs *Cases) ReceivedEvents(ctx context.Context, from, to, until time.Time) ([]model.CaseEvent, error) {
	c := cs.db.conn(ctx)
	intake := c.Model(&caseEventRow{}).Select("case_id").
		Where("kind = ? AND occurred_at >= ? AND occurred_at < ?", string(model.EventIntake), dbTime(from), dbTime(to))
	var rows []caseEventRow
	err := cs.db.conn(ctx).Model(&caseEventRow{}).Select(eventColumns).
		Where("case_id IN (?) AND occurred_at < ?", intake, dbTime(until)).Order("case_id, seq").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("received events: %w", err)
	}
	return toModels[model.CaseEvent](rows)
}

// CategoryChanges returns, without bodies, the category corrections
// (EventCategory, made at any time) of the cases whose intake event falls
// in [from, to), in case and seq order.
func (cs *Cases) CategoryChanges(ctx context.Context, from, to time.Time) ([]model.CaseEvent, error) {
	c := cs.db.conn(ctx)
	intake := c.Model(&caseEventRow{}).Select("case_id").
		Where("kind = ? AND occurred_at >= ? AND occurred_at < ?", string(model.EventIntake), dbTime(from), dbTime(to))
	var rows []caseEventRow
	err := cs.db.conn(ctx).Model(&caseEventRow{}).Select(eventColumns).
		Where("kind = ? AND case_id IN (?)", string(model.EventCategory), intake).Order("case_id, seq").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("category changes: %w", err)
	}
	return toModels[model.CaseEvent](rows)
}

// EventsBetween returns, without bodies, the events of the given kinds in
// [from, to), in time order.
func (cs *Cases) EventsBetween(ctx context.Context, kinds []model.CaseEventKind, from, to time.Time) ([]model.CaseEvent, error) {
	ks := make([]string, len(kinds))
	for i, k := range kinds {
		ks[i] = string(k)
	}
	var rows []caseEventRow
	err := cs.db.conn(ctx).Model(&caseEventRow{}).Select(eventColumns).
		Where("kind IN ? AND occurred_at >= ? AND occurred_at < ?", ks, dbTime(from), dbTime(to)).
		Order("occurred_at, case_id, seq").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("events between: %w", err)
	}
	return toModels[model.CaseEvent](rows)
}

// CreateStation inserts s and returns it with its id.
func (cs *Cases) CreateStation(ctx context.Context, s model.Station) (model.Station, error) {
	row := stationFromModel(s)
	row.ID = 0
	if err := cs.db.conn(ctx).Create(&row).Error; err != nil {
		return model.Station{}, fmt.Errorf("create station: %w", TranslateError(err))
	}
	return row.toModel(), nil
}

// UpdateStation writes every field of s, or returns ErrNotFound.
func (cs *Cases) UpdateStation(ctx context.Context, s model.Station) (model.Station, error) {
	row := stationFromModel(s)
	res := cs.db.conn(ctx).Model(&stationRow{}).Where("id = ?", s.ID).Updates(map[string]any{
		"name": row.Name, "kind": row.Kind, "categories": row.Categories, "districts": row.Districts,
		"capacity": row.Capacity, "duty_staff": row.DutyStaff, "phone": row.Phone, "address": row.Address,
		"active": row.Active, "updated_at": dbTime(time.Now()),
	})
	if res.Error != nil {
		return model.Station{}, fmt.Errorf("update station: %w", TranslateError(res.Error))
	}
	return cs.StationByID(ctx, s.ID)
}

// StationByID returns the station, or ErrNotFound.
func (cs *Cases) StationByID(ctx context.Context, id int64) (model.Station, error) {
	var row stationRow
	if err := cs.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Station{}, model.Errorf(model.ErrNotFound, "服务站不存在")
		}
		return model.Station{}, err
	}
	return row.toModel(), nil
}

// Stations returns every station (only the active ones with activeOnly),
// in id order. There are tens of them, not thousands.
func (cs *Cases) Stations(ctx context.Context, activeOnly bool) ([]model.Station, error) {
	q := cs.db.conn(ctx).Order("id").Limit(1000)
	if activeOnly {
		q = q.Where("active = ?", true)
	}
	var rows []stationRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("stations: %w", err)
	}
	out := make([]model.Station, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// AddAccess appends a to the access log.
func (cs *Cases) AddAccess(ctx context.Context, a model.CaseAccess) error {
	row := caseAccessRow{
		CaseID: a.CaseID, StaffID: a.StaffID, Username: a.Username, Action: a.Action, Fields: a.Fields, Reason: a.Reason,
		IP: a.IP, RequestID: a.RequestID, OccurredAt: dbTime(a.At),
	}
	if err := cs.db.conn(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	return nil
}

// AccessLog pages the access log of a case, newest first.
func (cs *Cases) AccessLog(ctx context.Context, caseID int64, p model.Page) ([]model.CaseAccess, string, error) {
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := p.Size()
	q := cs.db.conn(ctx).Where("case_id = ?", caseID)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []caseAccessRow
	if err := q.Order("id DESC").Limit(n + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("access log: %w", err)
	}
	rows, next := cutPage(rows, n, func(r caseAccessRow) int64 { return r.ID })
	out := make([]model.CaseAccess, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, next, nil
}
