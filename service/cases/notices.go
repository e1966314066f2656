package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"wanjia/model"
)

// alertDanger tells the staff on duty at once that someone is in danger:
// an urgent console alert per person, with the case number and no word of
// what she wrote. A failure is logged; the guidance she got stands.
func (s *Service) alertDanger(ctx context.Context, c model.Case) {
	ids, err := s.onDutyStaff(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "cases: danger alert: on-duty staff", "case", c, "err", err)
		return
	}
	if len(ids) == 0 {
		s.log.ErrorContext(ctx, "cases: danger alert has nobody to go to: no enabled admin or caseworker", "case", c)
		return
	}
	fields := map[string]string{
		"title":   "12338紧急求助",
		"time":    c.ReceivedAt.In(shanghai).Format("2006-01-02 15:04"),
		"summary": "案件 " + c.CaseNo + " 的当事人表示正处于危险中，请立即处理",
		"case_no": c.CaseNo,
	}
	for _, id := range ids {
		err := s.notify.Notify(ctx, model.Recipient{StaffID: id}, model.Notice{
			Topic: TopicCrisisAlert, Fields: fields, Urgent: true,
			DedupeKey: "case:" + strconv.FormatInt(c.ID, 10) + ":danger:staff:" + strconv.FormatInt(id, 10),
		})
		if err != nil {
			s.log.ErrorContext(ctx, "cases: danger alert", "case", c, "staff_id", id, "err", err)
		}
	}
}

// onDutyStaff are the staff on duty (the gateway's crisis recipients), or
// every enabled admin and caseworker without one.
func (s *Service) onDutyStaff(ctx context.Context) ([]int64, error) {
	if s.onDuty != nil {
		return s.onDuty.OnDutyStaff(ctx)
	}
	return s.staffWith(ctx, func(st model.Staff) bool { return st.HasRole(model.RoleCaseworker) })
}

// admins are the enabled admins (escalations).
func (s *Service) admins(ctx context.Context) ([]int64, error) {
	return s.staffWith(ctx, func(st model.Staff) bool { return slices.Contains(st.Roles, model.RoleAdmin) })
}

func (s *Service) staffWith(ctx context.Context, keep func(model.Staff) bool) ([]int64, error) {
	var ids []int64
	for p := (model.Page{Limit: model.MaxPageLimit}); ; {
		page, next, err := s.staff.ListStaff(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, st := range page {
			if !st.Disabled && keep(st) {
				ids = append(ids, st.ID)
			}
		}
		if next == "" {
			return ids, nil
		}
		p.Cursor = next
	}
}

// stationStaff are the enabled duty staff of a station, or the on-duty
// staff when the case has no station (or its station names nobody who can
// be reached).
func (s *Service) stationStaff(ctx context.Context, stationID int64) ([]int64, error) {
	if stationID != 0 {
		st, err := s.store.StationByID(ctx, stationID)
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return nil, err
		}
		var ids []int64
		for _, id := range st.DutyStaffIDs {
			m, err := s.staff.StaffByID(ctx, id)
			switch {
			case errors.Is(err, model.ErrNotFound):
			case err != nil:
				return nil, err
			case !m.Disabled:
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			return ids, nil
		}
	}
	return s.onDutyStaff(ctx)
}

// alertStaff sends a console alert about case c to the duty staff of
// stationID (the on-duty staff when 0); what names the occasion in the
// dedupe key, so each occasion alerts each person once.
func (s *Service) alertStaff(ctx context.Context, c model.Case, stationID int64, title, what string, urgent bool) {
	ids, err := s.stationStaff(ctx, stationID)
	if err != nil {
		s.log.ErrorContext(ctx, "cases: staff alert: recipients", "case", c, "occasion", what, "err", err)
		return
	}
	s.alertIDs(ctx, c, ids, title, what, urgent)
}

func (s *Service) alertIDs(ctx context.Context, c model.Case, ids []int64, title, what string, urgent bool) {
	fields := map[string]string{
		"title":   title,
		"time":    s.now().In(shanghai).Format("2006-01-02 15:04"),
		"case_no": c.CaseNo,
	}
	for _, id := range ids {
		err := s.notify.Notify(ctx, model.Recipient{StaffID: id}, model.Notice{
			Topic: TopicCaseUpdate, Fields: fields, Urgent: urgent,
			DedupeKey: "case:" + strconv.FormatInt(c.ID, 10) + ":" + what + ":staff:" + strconv.FormatInt(id, 10),
		})
		if err != nil {
			s.log.ErrorContext(ctx, "cases: staff alert", "case", c, "occasion", what, "staff_id", id, "err", err)
		}
	}
}

// contactPrefs opens her safe-contact preferences (mode any when unset or
// cleared).
func (s *Service) contactPrefs(c model.Case) (model.ContactPrefs, error) {
	raw, err := s.open("contact", c.CaseNo, c.ContactSealed)
	if err != nil {
		return model.ContactPrefs{}, err
	}
	if raw == "" {
		return model.ContactPrefs{Mode: model.ContactAny}, nil
	}
	var cp model.ContactPrefs
	if err := json.Unmarshal([]byte(raw), &cp); err != nil {
		return model.ContactPrefs{}, fmt.Errorf("contact prefs of case %d: %w", c.ID, err)
	}
	return cp, nil
}

// inWindow reports whether t (in Shanghai) falls between from and to
// ("HH:MM"); to before from wraps past midnight.
func inWindow(t time.Time, from, to string) bool {
	f, err1 := clock(from)
	e, err2 := clock(to)
	if err1 != nil || err2 != nil {
		return false
	}
	lt := t.In(shanghai)
	m := time.Duration(lt.Hour())*time.Hour + time.Duration(lt.Minute())*time.Minute
	if f < e {
		return f <= m && m < e
	}
	return m >= f || m < e
}

// tellOwner tells her, in neutral words, that her case has news, as her
// safe-contact preferences allow: never (mode none: marked done), only at
// the hours she chose (outside them the notice waits for the sweep), only
// through the Mini Program, or through any channel. One notice covers
// every update up to NoticeSeq. A failure is logged and retried by the
// sweep.
func (s *Service) tellOwner(ctx context.Context, c model.Case) {
	if c.UserID == 0 || c.NoticeSeq <= c.NotifiedSeq || !c.AnonymisedAt.IsZero() {
		return
	}
	if _, err := s.tellOwnerNow(ctx, c); err != nil {
		s.log.WarnContext(ctx, "cases: owner notice", "case", c, "err", err)
	}
}

// tellOwnerNow reports whether a notice was handed to the notification
// centre; false with a nil error when it waits for her hours or she wants
// none.
func (s *Service) tellOwnerNow(ctx context.Context, c model.Case) (bool, error) {
	cp, err := s.contactPrefs(c)
	if err != nil {
		return false, err
	}
	now := s.now()
	topic, urgent := TopicCaseUpdate, false
	switch cp.Mode {
	case model.ContactNone:
		return false, s.store.MarkNotified(ctx, c.ID, c.NoticeSeq)
	case model.ContactWindow:
		if !inWindow(now, cp.From, cp.To) {
			return false, nil
		}
		urgent = true // her own hours win over the quiet hours
	case model.ContactMPOnly:
		topic = TopicCaseUpdateMP
	}
	err = s.notify.Notify(ctx, model.Recipient{UserID: c.UserID}, model.Notice{
		Topic: topic, Urgent: urgent,
		Fields:    map[string]string{"title": NeutralTitle, "status": "已更新", "time": now.In(shanghai).Format("2006-01-02 15:04")},
		Page:      "pages/cases/detail?case_no=" + c.CaseNo,
		DedupeKey: "case:" + strconv.FormatInt(c.ID, 10) + ":notice:" + strconv.Itoa(c.NoticeSeq),
	})
	if err != nil {
		return false, err
	}
	return true, s.store.MarkNotified(ctx, c.ID, c.NoticeSeq)
}
