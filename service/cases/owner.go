package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"wanjia/model"
	"wanjia/service/protect"
)

// Update is one entry of the timeline the person sees: a status change
// (without the staff's note), a message from the staff, her own message or
// her feedback. Internal notes, assignments and SLA records never appear.
type Update struct {
	At     time.Time
	Kind   string // status, reply, message, feedback
	Status model.CaseStatus
	Text   string
	FromMe bool
}

// OwnerView is a case as its owner sees it.
type OwnerView struct {
	Case        model.Case
	Description string
	Name        string // masked
	Phone       string // masked
	Contact     model.ContactPrefs
	Updates     []Update
	CanFeedback bool
}

// ownerCase reads the case no of userID: 404 for a malformed or unknown
// number, another person's case, or an anonymised one.
func (s *Service) ownerCase(ctx context.Context, userID int64, no string) (model.Case, error) {
	if !model.ValidCaseNo(no) || userID == 0 {
		return model.Case{}, errNotFound()
	}
	c, err := s.store.ByNo(ctx, no)
	if errors.Is(err, model.ErrNotFound) {
		return model.Case{}, errNotFound()
	}
	if err != nil {
		return model.Case{}, err
	}
	if c.UserID != userID || !c.AnonymisedAt.IsZero() {
		return model.Case{}, errNotFound()
	}
	return c, nil
}

// ownerUpdate runs fn on userID's case under its lock (404 as ownerCase).
func (s *Service) ownerUpdate(ctx context.Context, userID int64, no string, fn func(ch *change) error) (model.Case, []model.CaseEvent, error) {
	if !model.ValidCaseNo(no) || userID == 0 {
		return model.Case{}, nil, errNotFound()
	}
	cal, err := s.calendar(ctx)
	if err != nil {
		return model.Case{}, nil, err
	}
	c, evs, err := s.store.Update(ctx, no, func(c *model.Case) ([]model.CaseEvent, error) {
		if c.UserID != userID || !c.AnonymisedAt.IsZero() {
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

// MyCases returns userID's cases, newest first.
func (s *Service) MyCases(ctx context.Context, userID int64, p model.Page) ([]model.Case, string, error) {
	if userID == 0 {
		return nil, "", errNotFound()
	}
	return s.store.List(ctx, model.CaseFilter{UserID: userID}, p)
}

// MyCase returns userID's case with the updates she may see.
func (s *Service) MyCase(ctx context.Context, userID int64, no string) (OwnerView, error) {
	c, err := s.ownerCase(ctx, userID, no)
	if err != nil {
		return OwnerView{}, err
	}
	evs, err := s.store.Events(ctx, c.ID)
	if err != nil {
		return OwnerView{}, err
	}
	return s.ownerView(c, evs)
}

func (s *Service) ownerView(c model.Case, evs []model.CaseEvent) (OwnerView, error) {
	v := OwnerView{Case: c, CanFeedback: c.Status == model.CaseClosed && c.Rating == 0, Updates: []Update{}}
	var err error
	if v.Description, err = s.open("description", c.CaseNo, c.DescriptionSealed); err != nil {
		return OwnerView{}, err
	}
	name, err := s.open("name", c.CaseNo, c.NameSealed)
	if err != nil {
		return OwnerView{}, err
	}
	phone, err := s.open("phone", c.CaseNo, c.PhoneSealed)
	if err != nil {
		return OwnerView{}, err
	}
	v.Name, v.Phone = protect.MaskName(name), protect.MaskPhone(phone)
	if v.Contact, err = s.contactPrefs(c); err != nil {
		return OwnerView{}, err
	}
	for _, e := range evs {
		if !e.Visible {
			continue
		}
		u := Update{At: e.At, FromMe: e.ActorKind == model.ActorOwner}
		switch e.Kind {
		case model.EventIntake, model.EventStatus, model.EventAssign:
			if e.ToStatus == "" {
				continue
			}
			u.Kind, u.Status = "status", e.ToStatus
		case model.EventReply, model.EventMessage, model.EventFeedback:
			u.Kind = string(e.Kind)
			if e.Kind == model.EventFeedback {
				u.Text = "评价：" + e.Meta["rating"] + " 星"
				break
			}
			if u.Text, err = s.keys.Open(e.BodySealed, bodyAAD(c.CaseNo, e.Seq)); err != nil {
				return OwnerView{}, fmt.Errorf("open event %d of case %d: %w", e.Seq, c.ID, err)
			}
		default:
			continue
		}
		v.Updates = append(v.Updates, u)
	}
	return v, nil
}

// PostMessage adds userID's message to her case (up to MessagesPerDay a
// day: 429). It ends a pause for waiting on her and tells the station's
// duty staff.
func (s *Service) PostMessage(ctx context.Context, userID int64, no, text string) (Update, error) {
	text = strings.TrimSpace(text)
	if p := textProblem(text, 1, maxText); p != "" {
		return Update{}, model.Invalid(map[string]string{"text": p})
	}
	c, err := s.ownerCase(ctx, userID, no)
	if err != nil {
		return Update{}, err
	}
	n, err := s.store.CountEventsSince(ctx, c.ID, model.EventMessage, s.now().Add(-24*time.Hour))
	if err != nil {
		return Update{}, err
	}
	if n >= s.opts.MessagesPerDay {
		return Update{}, model.Coded(model.ErrRateLimited, "rate_limited", "留言太频繁，请稍后再试；情况紧急请拨打110或12338")
	}
	c, evs, err := s.ownerUpdate(ctx, userID, no, func(ch *change) error {
		ch.resume()
		return ch.add(model.CaseEvent{Kind: model.EventMessage, ActorKind: model.ActorOwner, Body: text, Visible: true})
	})
	if err != nil {
		return Update{}, err
	}
	e := evs[len(evs)-1]
	s.alertStaff(ctx, c, c.StationID, "当事人有新留言", "message:"+strconv.Itoa(e.Seq), c.Danger)
	return Update{At: e.At, Kind: string(model.EventMessage), Text: text, FromMe: true}, nil
}

// Feedback records her rating (1–5) and comment on a closed case, once
// per closure: 409 not_closed before, 409 already_rated after.
func (s *Service) Feedback(ctx context.Context, userID int64, no string, rating int, comment string) (model.Case, error) {
	comment = strings.TrimSpace(comment)
	bad := map[string]string{}
	if rating < 1 || rating > 5 {
		bad["rating"] = "须为 1–5"
	}
	if p := textProblem(comment, 0, maxComment); p != "" {
		bad["comment"] = p
	}
	if err := model.Invalid(bad); err != nil {
		return model.Case{}, err
	}
	c, _, err := s.ownerUpdate(ctx, userID, no, func(ch *change) error {
		c := ch.c
		switch {
		case c.Status != model.CaseClosed:
			return model.Coded(model.ErrConflict, "not_closed", "结案后才能评价")
		case c.Rating != 0:
			return model.Coded(model.ErrConflict, "already_rated", "您已评价过")
		}
		sealed, err := s.seal("feedback", c.CaseNo, comment)
		if err != nil {
			return err
		}
		c.Rating, c.FeedbackSealed, c.FeedbackAt = rating, sealed, ch.now
		return ch.add(model.CaseEvent{Kind: model.EventFeedback, ActorKind: model.ActorOwner, Body: comment, Visible: true,
			Meta: map[string]string{"rating": strconv.Itoa(rating)}})
	})
	if err != nil {
		return model.Case{}, err
	}
	return c, nil
}

// SetContact changes her safe-contact preferences.
func (s *Service) SetContact(ctx context.Context, userID int64, no string, cp model.ContactPrefs) (model.ContactPrefs, error) {
	cp.From, cp.To, cp.Note = strings.TrimSpace(cp.From), strings.TrimSpace(cp.To), strings.TrimSpace(cp.Note)
	if err := model.Invalid(ContactProblems(cp)); err != nil {
		return model.ContactPrefs{}, err
	}
	raw, err := json.Marshal(cp)
	if err != nil {
		return model.ContactPrefs{}, err
	}
	c, _, err := s.ownerUpdate(ctx, userID, no, func(ch *change) error {
		sealed, err := s.seal("contact", ch.c.CaseNo, string(raw))
		if err != nil {
			return err
		}
		ch.c.ContactSealed = sealed
		return ch.add(model.CaseEvent{Kind: model.EventContactSet, ActorKind: model.ActorOwner,
			Meta: map[string]string{"mode": string(cp.Mode)}})
	})
	if err != nil {
		return model.ContactPrefs{}, err
	}
	if cp.Mode == model.ContactNone && c.NoticeSeq > c.NotifiedSeq {
		if err := s.store.MarkNotified(ctx, c.ID, c.NoticeSeq); err != nil {
			return model.ContactPrefs{}, err
		}
	}
	return cp, nil
}
