package cases

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"wanjia/model"
	"wanjia/service/protect"
)

// ListItem is a case in a staff list: personal data masked.
type ListItem struct {
	Case  model.Case
	Name  string // masked
	Phone string // masked
}

// List returns a page of the cases in the caller's scope matching f,
// newest first, with names and phones masked. Lists are not written to the
// access log: they show nothing unmasked.
func (s *Service) List(ctx context.Context, f model.CaseFilter, p model.Page) ([]ListItem, string, error) {
	pr, err := requireCaseworker(ctx)
	if err != nil {
		return nil, "", err
	}
	f.UserID = 0
	f, ok := scopeFilter(pr, f)
	if !ok {
		return []ListItem{}, "", nil
	}
	cs, next, err := s.store.List(ctx, f, p)
	if err != nil {
		return nil, "", err
	}
	out := make([]ListItem, len(cs))
	for i, c := range cs {
		name, err := s.open("name", c.CaseNo, c.NameSealed)
		if err != nil {
			return nil, "", err
		}
		phone, err := s.open("phone", c.CaseNo, c.PhoneSealed)
		if err != nil {
			return nil, "", err
		}
		out[i] = ListItem{Case: c, Name: protect.MaskName(name), Phone: protect.MaskPhone(phone)}
	}
	return out, next, nil
}

// EventView is an event as staff see it, its body opened.
type EventView struct {
	model.CaseEvent
	Text string
}

// StaffView is a case as staff see it: the description, the events with
// internal notes, her contact preferences; name and phone masked (Reveal
// shows them).
type StaffView struct {
	Case        model.Case
	Name        string
	Phone       string
	Description string
	Contact     model.ContactPrefs
	Feedback    string
	Station     *model.Station
	Events      []EventView
	Next        []model.CaseStatus // the statuses a transition may lead to
}

// Access-log actions.
const (
	AccessView   = "view"
	AccessReveal = "reveal"
)

// logAccess writes a staff read to the access log; the read fails when the
// log cannot be written.
func (s *Service) logAccess(ctx context.Context, p model.Principal, c model.Case, action, fields, reason string) error {
	ri := model.RequestInfoFrom(ctx)
	err := s.store.AddAccess(ctx, model.CaseAccess{
		CaseID: c.ID, StaffID: p.SubjectID, Username: p.Username, Action: action, Fields: fields, Reason: reason,
		IP: ri.IP, RequestID: ri.RequestID, At: s.now(),
	})
	if err != nil {
		return fmt.Errorf("case access log: %w", err)
	}
	return nil
}

// Detail returns one case for a caseworker in scope (404 otherwise) and
// writes the read to the access log.
func (s *Service) Detail(ctx context.Context, no string) (StaffView, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return StaffView{}, err
	}
	c, err := s.staffCase(ctx, p, no)
	if err != nil {
		return StaffView{}, err
	}
	evs, err := s.store.Events(ctx, c.ID)
	if err != nil {
		return StaffView{}, err
	}
	v := StaffView{Case: c, Next: model.TransitionsFrom(c.Status), Events: make([]EventView, len(evs))}
	name, err := s.open("name", c.CaseNo, c.NameSealed)
	if err != nil {
		return StaffView{}, err
	}
	phone, err := s.open("phone", c.CaseNo, c.PhoneSealed)
	if err != nil {
		return StaffView{}, err
	}
	v.Name, v.Phone = protect.MaskName(name), protect.MaskPhone(phone)
	if v.Description, err = s.open("description", c.CaseNo, c.DescriptionSealed); err != nil {
		return StaffView{}, err
	}
	if v.Feedback, err = s.open("feedback", c.CaseNo, c.FeedbackSealed); err != nil {
		return StaffView{}, err
	}
	if v.Contact, err = s.contactPrefs(c); err != nil {
		return StaffView{}, err
	}
	for i, e := range evs {
		v.Events[i] = EventView{CaseEvent: e}
		if v.Events[i].Text, err = s.keys.Open(e.BodySealed, bodyAAD(c.CaseNo, e.Seq)); err != nil {
			return StaffView{}, fmt.Errorf("open event %d of case %d: %w", e.Seq, c.ID, err)
		}
	}
	if c.StationID != 0 {
		st, err := s.store.StationByID(ctx, c.StationID)
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return StaffView{}, err
		}
		if err == nil {
			v.Station = &st
		}
	}
	if err := s.logAccess(ctx, p, c, AccessView, "description,contact,messages,notes,feedback", ""); err != nil {
		return StaffView{}, err
	}
	return v, nil
}

// Revealed is her unmasked contact data.
type Revealed struct {
	Name  string
	Phone string
}

// Reveal shows her full name and phone to a caseworker in scope, for a
// stated reason (1–200 characters), and writes it to the access log.
func (s *Service) Reveal(ctx context.Context, no, reason string) (Revealed, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return Revealed{}, err
	}
	reason = strings.TrimSpace(reason)
	if msg := textProblem(reason, 1, maxReason); msg != "" {
		return Revealed{}, model.Invalid(map[string]string{"reason": msg})
	}
	c, err := s.staffCase(ctx, p, no)
	if err != nil {
		return Revealed{}, err
	}
	var r Revealed
	if r.Name, err = s.open("name", c.CaseNo, c.NameSealed); err != nil {
		return Revealed{}, err
	}
	if r.Phone, err = s.open("phone", c.CaseNo, c.PhoneSealed); err != nil {
		return Revealed{}, err
	}
	if err := s.logAccess(ctx, p, c, AccessReveal, "name,phone", reason); err != nil {
		return Revealed{}, err
	}
	return r, nil
}

// AccessLog pages who read the case, newest first (caseworkers in scope).
func (s *Service) AccessLog(ctx context.Context, no string, pg model.Page) ([]model.CaseAccess, string, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return nil, "", err
	}
	c, err := s.staffCase(ctx, p, no)
	if err != nil {
		return nil, "", err
	}
	return s.store.AccessLog(ctx, c.ID, pg)
}

// TransitionInput is a status change: To must be allowed from the current
// status (model.CanTransition); closing needs an Outcome, reopening a
// Note. Note is internal; PublicMessage, when given, is sent to her as a
// reply.
type TransitionInput struct {
	To            model.CaseStatus
	Note          string
	PublicMessage string
	Outcome       model.CaseOutcome
}

// Valid reports field problems (Chinese).
func (in TransitionInput) Valid() map[string]string {
	bad := map[string]string{}
	if !in.To.Valid() {
		bad["to"] = "未知的状态"
	}
	if p := textProblem(in.Note, 0, maxText); p != "" {
		bad["note"] = p
	}
	if p := textProblem(in.PublicMessage, 0, maxText); p != "" {
		bad["public_message"] = p
	}
	switch {
	case in.To == model.CaseClosed && !in.Outcome.Valid():
		bad["outcome"] = "结案须选择处理结果"
	case in.To != model.CaseClosed && in.Outcome != "":
		bad["outcome"] = "只有结案时填写处理结果"
	}
	if in.To == model.CaseReopened && strings.TrimSpace(in.Note) == "" {
		bad["note"] = "重新开启须说明原因"
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// stationFull gives the store's station_full conflict the message that
// fits the caller's action; other errors pass as they are.
func stationFull(err error, message string) error {
	var me *model.Error
	if errors.As(err, &me) && me.Code == "station_full" {
		return model.Coded(model.ErrConflict, "station_full", message)
	}
	return err
}

func errTransition(from, to model.CaseStatus) error {
	return model.Coded(model.ErrConflict, "invalid_transition",
		fmt.Sprintf("案件当前为“%s”，不能变更为“%s”", from.Name(), to.Name()))
}

// Transition changes the status of a case in scope (audited). See
// TransitionInput. The SLA effects: closing ends a pause and records a
// late closure as a breach; reopening starts a new closure clock.
// Reopening a closed case, or taking a resolved one back into work,
// returns it to its station's open load whatever the station's capacity:
// she comes back to the people who know her case (capacity guides
// assignments and transfers, see Assign).
func (s *Service) Transition(ctx context.Context, no string, in TransitionInput) (model.Case, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return model.Case{}, err
	}
	if bad := in.Valid(); bad != nil {
		return model.Case{}, model.Invalid(bad)
	}
	note, msg := strings.TrimSpace(in.Note), strings.TrimSpace(in.PublicMessage)
	var from model.CaseStatus
	c, _, err := s.update(ctx, p, no, func(ch *change) error {
		c := ch.c
		from = c.Status
		if !model.CanTransition(c.Status, in.To) {
			return errTransition(c.Status, in.To)
		}
		if !c.AnonymisedAt.IsZero() {
			return model.Coded(model.ErrConflict, "anonymised", "案件已匿名化，不能再变更")
		}
		var meta map[string]string
		switch in.To {
		case model.CaseClosed:
			ch.resume()
			c.ClosedAt, c.Outcome = ch.now, in.Outcome
			meta = map[string]string{"outcome": string(in.Outcome), "cycle": strconv.Itoa(c.Cycle)}
		case model.CaseResolved:
			c.ResolvedAt = ch.now
		case model.CaseInProgress:
			c.ResolvedAt = time.Time{}
		case model.CaseReopened:
			c.Cycle++
			c.ClosedAt, c.Outcome, c.Rating, c.FeedbackSealed, c.FeedbackAt = time.Time{}, "", 0, "", time.Time{}
			c.ResolvedAt = time.Time{}
			c.CloseDue = ch.now.AddDate(0, 0, s.opts.CloseDays)
			c.SLAFlags &^= model.SLACloseReminded | model.SLACloseBreached
		}
		if err := ch.setStatus(p, in.To, note, meta); err != nil {
			return err
		}
		if in.To == model.CaseClosed && ch.now.After(c.CloseDue) && c.SLAFlags&model.SLACloseBreached == 0 {
			c.SLAFlags |= model.SLACloseBreached
			if err := ch.add(slaEvent(slaClose, stepBreached, c.Cycle)); err != nil {
				return err
			}
		}
		if msg != "" {
			return ch.staffEvent(p, model.CaseEvent{Kind: model.EventReply, Body: msg, Visible: true})
		}
		return nil
	})
	if err != nil {
		return model.Case{}, err
	}
	s.record(ctx, "case.transition", "case", c.CaseNo, map[string]any{"status": from},
		map[string]any{"status": c.Status, "outcome": c.Outcome})
	s.tellOwner(ctx, c)
	return c, nil
}

// Assign gives a case in scope to an active station, or transfers it from
// its station to another (audited). A transfer needs a reason (1–200
// characters: moving a case away from the people handling it is a
// decision to explain); for a first assignment the reason is optional, as
// API.md's {"station_id"} allows. The case becomes assigned; the station's
// duty staff are told. A station at capacity is 409 station_full: the
// store counts the station's open cases under the station's row lock in
// the transaction that moves the case, so assignments racing to one
// station never pass its capacity.
func (s *Service) Assign(ctx context.Context, no string, stationID int64, reason string) (model.Case, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return model.Case{}, err
	}
	reason = strings.TrimSpace(reason)
	bad := map[string]string{}
	if stationID <= 0 {
		bad["station_id"] = "请选择服务站"
	}
	if msg := textProblem(reason, 0, maxReason); msg != "" {
		bad["reason"] = msg
	}
	if err := model.Invalid(bad); err != nil {
		return model.Case{}, err
	}
	st, err := s.store.StationByID(ctx, stationID)
	if errors.Is(err, model.ErrNotFound) || err == nil && !st.Active {
		return model.Case{}, model.Invalid(map[string]string{"station_id": "服务站不存在或已停用"})
	}
	if err != nil {
		return model.Case{}, err
	}
	var fromStation int64
	c, evs, err := s.update(ctx, p, no, func(ch *change) error {
		c := ch.c
		switch {
		case !model.CanAssign(c.Status):
			return model.Coded(model.ErrConflict, "invalid_transition", "案件当前状态不能分派")
		case c.StationID == stationID:
			return model.Coded(model.ErrConflict, "already_assigned", "案件已在该服务站")
		case c.StationID != 0 && reason == "":
			return model.Invalid(map[string]string{"reason": "转派须说明原因"})
		}
		fromStation = c.StationID
		from := c.Status
		c.StationID = stationID
		e := model.CaseEvent{Kind: model.EventAssign, Body: reason,
			Meta: map[string]string{"from_station": strconv.FormatInt(fromStation, 10), "to_station": strconv.FormatInt(stationID, 10)}}
		if from != model.CaseAssigned {
			c.Status = model.CaseAssigned
			e.FromStatus, e.ToStatus, e.Visible = from, model.CaseAssigned, true
		}
		return ch.staffEvent(p, e)
	})
	if err != nil {
		return model.Case{}, stationFull(err, "该服务站在办案件已满，请选择其他服务站")
	}
	action := "case.assign"
	if fromStation != 0 {
		action = "case.transfer"
	}
	s.record(ctx, action, "case", c.CaseNo, map[string]any{"station_id": fromStation}, map[string]any{"station_id": stationID})
	seq := evs[len(evs)-1].Seq
	s.alertStaff(ctx, c, stationID, "新分派的维权案件", "assign:"+strconv.Itoa(seq), c.Danger)
	s.tellOwner(ctx, c)
	return c, nil
}

// SetCategory corrects the category of a case in scope (caseworkers, as
// for assignments; audited): she may have filed under 其他 what is really
// 家庭暴力. The reason (1–200 characters) is required and kept sealed in
// the event, an internal record: she is not notified, and danger stays as
// it is. Following the transition matrix, a closed case is settled: 409
// closed until it is reopened. The same category is 409 same_category.
// Lists, routing and the figures by category use the corrected category
// (see FigureSection).
func (s *Service) SetCategory(ctx context.Context, no string, category model.CaseCategory, reason string) (model.Case, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return model.Case{}, err
	}
	reason = strings.TrimSpace(reason)
	bad := map[string]string{}
	if !category.Valid() {
		bad["category"] = "请选择求助类别"
	}
	if msg := textProblem(reason, 1, maxReason); msg != "" {
		bad["reason"] = msg
	}
	if err := model.Invalid(bad); err != nil {
		return model.Case{}, err
	}
	var from model.CaseCategory
	c, _, err := s.update(ctx, p, no, func(ch *change) error {
		c := ch.c
		switch {
		case c.Status == model.CaseClosed:
			return model.Coded(model.ErrConflict, "closed", "案件已结案，请先重新开启")
		case c.Category == category:
			return model.Coded(model.ErrConflict, "same_category", "案件已是该类别")
		}
		from = c.Category
		c.Category = category
		return ch.staffEvent(p, model.CaseEvent{Kind: model.EventCategory, Body: reason,
			Meta: map[string]string{"from": string(from), "to": string(category)}})
	})
	if err != nil {
		return model.Case{}, err
	}
	s.record(ctx, "case.category", "case", c.CaseNo, map[string]any{"category": from}, map[string]any{"category": category})
	return c, nil
}

// AddNote adds an internal note (never shown to her; audited).
func (s *Service) AddNote(ctx context.Context, no, text string) (EventView, error) {
	return s.staffText(ctx, no, text, model.EventNote, false, "case.note")
}

// Reply sends her a message (shown in the Mini Program, with a neutral
// notice as her preferences allow; audited).
func (s *Service) Reply(ctx context.Context, no, text string) (EventView, error) {
	return s.staffText(ctx, no, text, model.EventReply, true, "case.reply")
}

func (s *Service) staffText(ctx context.Context, no, text string, kind model.CaseEventKind, visible bool, action string) (EventView, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return EventView{}, err
	}
	text = strings.TrimSpace(text)
	if msg := textProblem(text, 1, maxText); msg != "" {
		return EventView{}, model.Invalid(map[string]string{"text": msg})
	}
	c, evs, err := s.update(ctx, p, no, func(ch *change) error {
		if !ch.c.AnonymisedAt.IsZero() {
			return model.Coded(model.ErrConflict, "anonymised", "案件已匿名化")
		}
		if kind == model.EventReply && ch.c.UserID == 0 {
			return model.Coded(model.ErrConflict, "no_owner", "该案件没有小程序用户，无法发送消息")
		}
		return ch.staffEvent(p, model.CaseEvent{Kind: kind, Body: text, Visible: visible})
	})
	if err != nil {
		return EventView{}, err
	}
	e := firstOf(evs, kind)
	s.record(ctx, action, "case", c.CaseNo, nil, map[string]any{"seq": e.Seq})
	s.tellOwner(ctx, c)
	return EventView{CaseEvent: e, Text: text}, nil
}

func firstOf(evs []model.CaseEvent, kind model.CaseEventKind) model.CaseEvent {
	for _, e := range evs {
		if e.Kind == kind {
			return e
		}
	}
	return model.CaseEvent{}
}

// ContactInput is a call or visit recorded by staff: Channel phone, visit
// or other; Direction inbound (she called or came: it counts as a contact,
// 人次) or outbound (staff called her).
type ContactInput struct {
	Channel   string
	Direction string
	Note      string
}

// Valid reports field problems (Chinese).
func (in ContactInput) Valid() map[string]string {
	bad := map[string]string{}
	switch in.Channel {
	case "phone", "visit", "other":
	default:
		bad["channel"] = "须为 phone、visit 或 other"
	}
	if in.Direction != "inbound" && in.Direction != "outbound" {
		bad["direction"] = "须为 inbound 或 outbound"
	}
	if p := textProblem(in.Note, 0, maxText); p != "" {
		bad["note"] = p
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// RecordContact records a call or visit (audited). An inbound contact
// ends a pause for waiting on her.
func (s *Service) RecordContact(ctx context.Context, no string, in ContactInput) (EventView, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return EventView{}, err
	}
	if bad := in.Valid(); bad != nil {
		return EventView{}, model.Invalid(bad)
	}
	note := strings.TrimSpace(in.Note)
	c, evs, err := s.update(ctx, p, no, func(ch *change) error {
		if ch.c.Status == model.CaseClosed {
			return model.Coded(model.ErrConflict, "closed", "案件已结案，请先重新开启")
		}
		if in.Direction == "inbound" {
			ch.resume()
		}
		return ch.staffEvent(p, model.CaseEvent{Kind: model.EventContact, Body: note,
			Meta: map[string]string{"channel": in.Channel, "direction": in.Direction}})
	})
	if err != nil {
		return EventView{}, err
	}
	e := firstOf(evs, model.EventContact)
	s.record(ctx, "case.contact", "case", c.CaseNo, nil, map[string]any{"channel": in.Channel, "direction": in.Direction})
	return EventView{CaseEvent: e, Text: note}, nil
}

// SetWaiting pauses the SLA clocks while the case waits for her (waiting
// true), or resumes them (audited). Her own message or an inbound contact
// also resumes them. A closed case cannot wait (409).
func (s *Service) SetWaiting(ctx context.Context, no string, waiting bool, note string) (model.Case, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return model.Case{}, err
	}
	note = strings.TrimSpace(note)
	if msg := textProblem(note, 0, maxText); msg != "" {
		return model.Case{}, model.Invalid(map[string]string{"note": msg})
	}
	c, _, err := s.update(ctx, p, no, func(ch *change) error {
		c := ch.c
		switch {
		case c.Status == model.CaseClosed:
			return model.Coded(model.ErrConflict, "closed", "案件已结案")
		case c.WaitingUser == waiting:
			return nil // nothing changes, nothing recorded
		case waiting:
			c.WaitingUser, c.WaitingSince = true, ch.now
		default:
			ch.resume()
		}
		return ch.staffEvent(p, model.CaseEvent{Kind: model.EventWaiting, Body: note,
			Meta: map[string]string{"waiting": strconv.FormatBool(waiting)}})
	})
	if err != nil {
		return model.Case{}, err
	}
	s.record(ctx, "case.waiting", "case", c.CaseNo, nil, map[string]any{"waiting_user": waiting})
	return c, nil
}
