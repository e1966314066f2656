// Package cases runs the federation's 12338 rights requests: intake from
// the Mini Program and by staff (hotline, walk-in), the protection of the
// person (sealed fields, masked lists, an access log of every staff read,
// safe-contact preferences, neutral notices, retention), routing to
// service stations, the allowed status transitions, the SLA clocks with
// their sweep, a hash-chained append-only event log and the figures the
// federation reports, computed from that log.
//
// Every change of a case goes through store.Cases.Update: under the case's
// row lock the service changes the case and returns the events that record
// the change, which the store chains and appends in the same transaction.
package cases

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"wanjia/model"
)

// Store is the case store (store.Cases satisfies it).
type Store interface {
	WithTx(ctx context.Context, fn func(ctx context.Context) error) error
	Create(ctx context.Context, c model.Case, events []model.CaseEvent) (model.Case, []model.CaseEvent, error)
	Update(ctx context.Context, no string, fn func(c *model.Case) ([]model.CaseEvent, error)) (model.Case, []model.CaseEvent, error)
	ByNo(ctx context.Context, no string) (model.Case, error)
	ByID(ctx context.Context, id int64) (model.Case, error)
	Events(ctx context.Context, caseID int64) ([]model.CaseEvent, error)
	List(ctx context.Context, f model.CaseFilter, p model.Page) ([]model.Case, string, error)
	CountIntakeSince(ctx context.Context, userID int64, since time.Time) (int, error)
	CountEventsSince(ctx context.Context, caseID int64, kind model.CaseEventKind, since time.Time) (int, error)
	StationLoads(ctx context.Context) (map[int64]int, error)
	SLACandidates(ctx context.Context, horizon time.Time, afterID int64, limit int) ([]model.Case, error)
	PendingNotices(ctx context.Context, afterID int64, limit int) ([]model.Case, error)
	MarkNotified(ctx context.Context, caseID int64, seq int) error
	ClosedBefore(ctx context.Context, t time.Time, limit int) ([]model.Case, error)
	ClearEventBodies(ctx context.Context, caseID int64) (int64, error)
	CaseIDs(ctx context.Context, afterID int64, limit int) ([]int64, error)
	ChainHeadsAt(ctx context.Context, ids []int64, at time.Time) ([]model.ChainHead, error)
	ReceivedEvents(ctx context.Context, from, to, until time.Time) ([]model.CaseEvent, error)
	EventsBetween(ctx context.Context, kinds []model.CaseEventKind, from, to time.Time) ([]model.CaseEvent, error)
	CategoryChanges(ctx context.Context, from, to time.Time) ([]model.CaseEvent, error)
	CreateStation(ctx context.Context, s model.Station) (model.Station, error)
	UpdateStation(ctx context.Context, s model.Station) (model.Station, error)
	StationByID(ctx context.Context, id int64) (model.Station, error)
	Stations(ctx context.Context, activeOnly bool) ([]model.Station, error)
	AddAccess(ctx context.Context, a model.CaseAccess) error
	AccessLog(ctx context.Context, caseID int64, p model.Page) ([]model.CaseAccess, string, error)
	WorkCalendar(ctx context.Context) (model.WorkCalendar, error)
	SaveWorkCalendar(ctx context.Context, wc model.WorkCalendar, ifVersion int) (model.WorkCalendar, error)
}

// Notifier sends notices (notify.Service satisfies it).
type Notifier interface {
	Notify(ctx context.Context, r model.Recipient, n model.Notice) error
}

// Auditor appends to the audit log (auth.Auth satisfies it).
type Auditor interface {
	Audit(ctx context.Context, action, targetType, targetID string, before, after any) error
}

// Keys seal the personal fields (protect.Keyring satisfies it).
type Keys interface {
	Seal(plaintext, aad string) (string, error)
	Open(sealed, aad string) (string, error)
}

// StaffDirectory finds staff members (store.Staff satisfies it): duty
// staff of a station, admins for escalations.
type StaffDirectory interface {
	StaffByID(ctx context.Context, id int64) (model.Staff, error)
	ListStaff(ctx context.Context, p model.Page) ([]model.Staff, string, error)
}

// OnDuty names the staff on duty for crisis alerts (gateway.Service
// satisfies it: the crisis settings' alert staff, or every enabled admin
// and caseworker).
type OnDuty interface {
	OnDutyStaff(ctx context.Context) ([]int64, error)
}

// Notice topics (seeded by the notification centre). Notices to the
// person carry neutral wording only, never the category or the status.
const (
	TopicCrisisAlert  = "crisis_alert"
	TopicCaseUpdate   = "case_update"
	TopicCaseUpdateMP = "case_update_mp" // the same notice, Mini Program subscribe message only
)

// NeutralTitle is all a notice to the person says.
const NeutralTitle = "您的咨询有新进展"

// Options tune the service; zero values take the defaults.
type Options struct {
	FirstResponseHours int           // working hours to the first response; 24
	CloseDays          int           // calendar days to closure; 30
	Calendar           *Calendar     // working time; Mon–Fri 09:00–17:00 Asia/Shanghai; its dates until staff save theirs
	CalendarRefresh    time.Duration // how long a copy keeps the calendar it read from the database; 5 s
	Retention          time.Duration // after closure, until anonymisation; 1095 days
	IntakePerDay       int           // Mini Program cases per person per 24 h; 10
	MessagesPerDay     int           // her messages per case per 24 h; 50
}

// Defaults of Options.
const (
	DefaultFirstResponseHours = 24
	DefaultCloseDays          = 30
	DefaultRetention          = 1095 * 24 * time.Hour
	DefaultIntakePerDay       = 10
	DefaultMessagesPerDay     = 50
	DefaultCalendarRefresh    = 5 * time.Second
)

// Deps are what New needs; Store, Notifier, Audit, Keys and Staff are
// required.
type Deps struct {
	Store    Store
	Notifier Notifier
	Audit    Auditor
	Keys     Keys
	Staff    StaffDirectory
	OnDuty   OnDuty // nil: every enabled admin and caseworker is on duty
	Logger   *slog.Logger
	// Registerer receives the case metrics (counts by channel and SLA
	// step only: no category, no person); nil records nothing.
	Registerer prometheus.Registerer
	Now        func() time.Time
	Rand       io.Reader // case numbers; crypto/rand
	Options    Options
}

// Service is the 12338 use cases. It is safe for concurrent use.
type Service struct {
	store  Store
	notify Notifier
	audit  Auditor
	keys   Keys
	staff  StaffDirectory
	onDuty OnDuty
	log    *slog.Logger
	now    func() time.Time
	rand   io.Reader
	opts   Options
	cal    Calendar // the configured calendar: hours, weekdays and the seed dates
	cals   calendarCache

	intakes *prometheus.CounterVec // by channel and danger
	slaSeen *prometheus.CounterVec // by sla and step
}

// New checks d and returns the service.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Notifier == nil || d.Audit == nil || d.Keys == nil || d.Staff == nil {
		return nil, errors.New("cases: store, notifier, audit, keys and staff are required")
	}
	s := &Service{store: d.Store, notify: d.Notifier, audit: d.Audit, keys: d.Keys, staff: d.Staff, onDuty: d.OnDuty,
		log: d.Logger, now: d.Now, rand: d.Rand, opts: d.Options}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	o := &s.opts
	if o.FirstResponseHours <= 0 {
		o.FirstResponseHours = DefaultFirstResponseHours
	}
	if o.CloseDays <= 0 {
		o.CloseDays = DefaultCloseDays
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.IntakePerDay <= 0 {
		o.IntakePerDay = DefaultIntakePerDay
	}
	if o.MessagesPerDay <= 0 {
		o.MessagesPerDay = DefaultMessagesPerDay
	}
	if o.CalendarRefresh <= 0 {
		o.CalendarRefresh = DefaultCalendarRefresh
	}
	if o.Calendar != nil {
		s.cal = *o.Calendar
	} else {
		s.cal = DefaultCalendar()
	}
	s.intakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wanjia_cases_intake_total", Help: "12338 cases taken in, by channel and whether she said she was in danger.",
	}, []string{"channel", "danger"})
	s.slaSeen = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wanjia_cases_sla_total", Help: "SLA reminders and breaches recorded by the sweep, by clock (first_response, close) and step.",
	}, []string{"sla", "step"})
	if d.Registerer != nil {
		for _, c := range []prometheus.Collector{s.intakes, s.slaSeen} {
			if err := d.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("cases: metrics: %w", err)
			}
		}
	}
	return s, nil
}

var shanghai = time.FixedZone("CST", 8*3600)

// errNotFound is the one answer to a case that does not exist or is not
// the caller's to see: the two are indistinguishable.
func errNotFound() error { return model.Errorf(model.ErrNotFound, "案件不存在") }

// AAD of the sealed fields: each value is bound to its case and column.
func fieldAAD(field, caseNo string) string { return "cases." + field + ":" + caseNo }

func bodyAAD(caseNo string, seq int) string {
	return "case_events.body:" + caseNo + ":" + strconv.Itoa(seq)
}

func (s *Service) seal(field, caseNo, text string) (string, error) {
	v, err := s.keys.Seal(text, fieldAAD(field, caseNo))
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", field, err)
	}
	return v, nil
}

func (s *Service) open(field, caseNo, sealed string) (string, error) {
	v, err := s.keys.Open(sealed, fieldAAD(field, caseNo))
	if err != nil {
		return "", fmt.Errorf("open %s of case: %w", field, err)
	}
	return v, nil
}

// newCaseNo returns "WQ", the intake day and 13 characters of base32 over
// 64 random bits: unguessable, and unique in practice (a collision is
// retried by the caller on the unique index).
func (s *Service) newCaseNo(now time.Time) (string, error) {
	b := make([]byte, 8)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("case number: %w", err)
	}
	return model.CaseNoPrefix + now.In(shanghai).Format("20060102") +
		base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b), nil
}

// change collects the events of one change of a case, inside Update's fn.
type change struct {
	s      *Service
	c      *model.Case
	cal    Calendar // the working calendar in force (Service.calendar)
	now    time.Time
	events []model.CaseEvent
}

func (s *Service) change(c *model.Case, cal Calendar) *change {
	return &change{s: s, c: c, cal: cal, now: s.now()}
}

// add seals e's body under its seq and appends it.
func (ch *change) add(e model.CaseEvent) error {
	e.Seq = ch.c.LastSeq + 1 + len(ch.events)
	e.At = ch.now
	if e.Body != "" {
		sealed, err := ch.s.keys.Seal(e.Body, bodyAAD(ch.c.CaseNo, e.Seq))
		if err != nil {
			return fmt.Errorf("seal event body: %w", err)
		}
		e.BodySealed = sealed
	}
	ch.events = append(ch.events, e)
	if e.Visible && e.ActorKind != model.ActorOwner {
		ch.c.NoticeSeq = e.Seq
	}
	return nil
}

// respond records the first response when e is one and none was given:
// the first staff action she can see or hear (taking the case in at a
// hotline or a visit, a status change, an assignment, a reply, a recorded
// call or visit). A late one is recorded as a breach at once.
func (ch *change) respond(e model.CaseEvent) error {
	if !IsResponse(e) || !ch.c.FirstResponseAt.IsZero() {
		return nil
	}
	ch.c.FirstResponseAt = ch.now
	if ch.now.After(ch.c.FirstResponseDue) && ch.c.SLAFlags&model.SLAFirstBreached == 0 {
		ch.c.SLAFlags |= model.SLAFirstBreached
		return ch.add(slaEvent(slaFirstResponse, stepBreached, ch.c.Cycle))
	}
	return nil
}

// IsResponse reports whether e counts as a response to her for the
// first-response clock and figure.
func IsResponse(e model.CaseEvent) bool {
	if e.ActorKind != model.ActorStaff {
		return false
	}
	switch e.Kind {
	case model.EventIntake, model.EventStatus, model.EventAssign, model.EventReply, model.EventContact:
		return true
	}
	return false
}

// staffEvent adds a staff event and counts it as a response when it is
// one.
func (ch *change) staffEvent(p model.Principal, e model.CaseEvent) error {
	e.ActorKind, e.ActorID = model.ActorStaff, p.SubjectID
	if err := ch.add(e); err != nil {
		return err
	}
	return ch.respond(e)
}

// setStatus moves the case to status to with an event by p carrying the
// internal note.
func (ch *change) setStatus(p model.Principal, to model.CaseStatus, note string, meta map[string]string) error {
	from := ch.c.Status
	ch.c.Status = to
	return ch.staffEvent(p, model.CaseEvent{Kind: model.EventStatus, FromStatus: from, ToStatus: to, Body: note,
		Visible: true, Meta: meta})
}

// resume ends a pause of the SLA clocks: the closure deadline moves by the
// paused time, the first-response deadline by the working time paused.
func (ch *change) resume() {
	c := ch.c
	if !c.WaitingUser {
		return
	}
	if ch.now.After(c.WaitingSince) {
		c.CloseDue = c.CloseDue.Add(ch.now.Sub(c.WaitingSince))
		if c.FirstResponseAt.IsZero() {
			c.FirstResponseDue = ch.cal.Add(c.FirstResponseDue, ch.cal.Between(c.WaitingSince, ch.now))
		}
	}
	c.WaitingUser, c.WaitingSince = false, time.Time{}
}

// scope: who on the staff may see a case.
//
// An admin sees every case. A caseworker with a station sees the cases of
// her station; a caseworker with a district and no station (a district
// coordinator) sees the cases of her district; a caseworker with neither
// sees none. Everyone else sees none. Out of scope is answered 404.
func inScope(p model.Principal, c model.Case) bool {
	switch {
	case p.Kind != model.SessionStaff:
		return false
	case isAdmin(p):
		return true
	case !p.HasRole(model.RoleCaseworker):
		return false
	case p.StationID != 0:
		return c.StationID == p.StationID
	case p.District != "":
		return c.District == p.District
	}
	return false
}

func isAdmin(p model.Principal) bool {
	for _, r := range p.Roles {
		if r == model.RoleAdmin {
			return true
		}
	}
	return false
}

// scopeFilter narrows a list to the caller's scope; ok is false when the
// caller sees no case at all.
func scopeFilter(p model.Principal, f model.CaseFilter) (model.CaseFilter, bool) {
	switch {
	case p.Kind != model.SessionStaff:
		return f, false
	case isAdmin(p):
		return f, true
	case !p.HasRole(model.RoleCaseworker):
		return f, false
	case p.StationID != 0:
		f.StationID, f.District = p.StationID, ""
		return f, true
	case p.District != "":
		f.District = p.District
		return f, true
	}
	return f, false
}

func requireCaseworker(ctx context.Context) (model.Principal, error) {
	p, ok := model.StaffFrom(ctx)
	if !ok || !p.HasRole(model.RoleCaseworker) {
		return model.Principal{}, model.Errorf(model.ErrForbidden, "没有处理维权案件的权限")
	}
	return p, nil
}

func requireAdmin(ctx context.Context) (model.Principal, error) {
	p, ok := model.StaffFrom(ctx)
	if !ok || !isAdmin(p) {
		return model.Principal{}, model.Errorf(model.ErrForbidden, "只有管理员可以执行此操作")
	}
	return p, nil
}

// staffCase reads a case for p: 404 when the number is malformed, unknown
// or out of p's scope.
func (s *Service) staffCase(ctx context.Context, p model.Principal, no string) (model.Case, error) {
	if !model.ValidCaseNo(no) {
		return model.Case{}, errNotFound()
	}
	c, err := s.store.ByNo(ctx, no)
	if errors.Is(err, model.ErrNotFound) {
		return model.Case{}, errNotFound()
	}
	if err != nil {
		return model.Case{}, err
	}
	if !inScope(p, c) {
		return model.Case{}, errNotFound()
	}
	return c, nil
}

// update runs fn on the case no under its lock after checking that p may
// see it (re-checked on the locked row: a concurrent transfer may have
// moved it out of her scope).
func (s *Service) update(ctx context.Context, p model.Principal, no string, fn func(ch *change) error) (model.Case, []model.CaseEvent, error) {
	if !model.ValidCaseNo(no) {
		return model.Case{}, nil, errNotFound()
	}
	cal, err := s.calendar(ctx)
	if err != nil {
		return model.Case{}, nil, err
	}
	c, evs, err := s.store.Update(ctx, no, func(c *model.Case) ([]model.CaseEvent, error) {
		if !inScope(p, *c) {
			return nil, errNotFound()
		}
		ch := s.change(c, cal)
		if err := fn(ch); err != nil {
			return nil, err
		}
		return ch.events, nil
	})
	if errors.Is(err, model.ErrNotFound) {
		return model.Case{}, nil, errNotFound()
	}
	return c, evs, err
}

func (s *Service) record(ctx context.Context, action, targetType, id string, before, after map[string]any) {
	if err := s.audit.Audit(ctx, action, targetType, id, before, after); err != nil {
		s.log.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
}
