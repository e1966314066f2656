// Package fairs runs the women's job fairs (招聘会): fairs and their
// positions, signups that never oversell (the store's conditional updates),
// waitlists promoted on cancellation with a deadline to confirm, the
// day-before reminder, signed check-in tickets, exports and figures.
package fairs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"wanjia/model"
	"wanjia/service/protect"
	"wanjia/store"
)

// Store is the fair store (store.Fairs satisfies it).
type Store interface {
	CreateFair(ctx context.Context, f model.Fair) (model.Fair, error)
	AddPosition(ctx context.Context, p model.Position) (model.Position, error)
	FairByID(ctx context.Context, id int64) (model.Fair, error)
	UpcomingFairs(ctx context.Context, now time.Time, limit int) ([]model.Fair, error)
	FairsStartingBetween(ctx context.Context, from, to time.Time) ([]model.Fair, error)
	SignUp(ctx context.Context, s model.Signup, now time.Time, offerTTL time.Duration) (model.Signup, *model.Promotion, error)
	SignupByID(ctx context.Context, id int64) (model.Signup, error)
	SignupsByFair(ctx context.Context, fairID int64) ([]model.Signup, error)
	SignupsByUser(ctx context.Context, userID int64) ([]model.Signup, error)
	CancelSignup(ctx context.Context, id, userID int64, now time.Time, offerTTL time.Duration) (model.Signup, *model.Promotion, error)
	ConfirmOffer(ctx context.Context, id, userID int64, now time.Time) (model.Signup, error)
	ExpireOffers(ctx context.Context, now time.Time, ttl time.Duration, limit int) ([]model.Promotion, error)
	FillFreeSeats(ctx context.Context, now time.Time, ttl time.Duration) ([]model.Promotion, error)
	CheckIn(ctx context.Context, id int64, now time.Time) (model.Signup, error)
	RecordPlacement(ctx context.Context, id, staffID int64, now time.Time) (model.Signup, error)
	Figures(ctx context.Context, from, to time.Time) (store.FairFigures, error)
}

// Notifier sends notices (notify.Service satisfies it).
type Notifier interface {
	Notify(ctx context.Context, r model.Recipient, n model.Notice) error
}

// Auditor appends to the audit log (auth.Auth satisfies it): who and
// from where come from ctx.
type Auditor interface {
	Audit(ctx context.Context, action, targetType, targetID string, before, after any) error
}

// Keys signs check-in tickets and seals phone numbers (protect.Keyring
// satisfies it).
type Keys interface {
	Sign(purpose string, payload []byte, expires time.Time) string
	Verify(purpose, code string, now time.Time) ([]byte, error)
	Seal(plaintext, aad string) (string, error)
	Open(sealed, aad string) (string, error)
}

// Notice topics (seeded by the notification centre).
const (
	TopicSignupPromoted = "signup_promoted"
	TopicSignupReminder = "signup_reminder"
)

const (
	ticketPurpose = "fair-ticket"
	phoneAAD      = "fair_signup.phone"
	maxBatch      = 500
)

// Options tune the service; zero values take the defaults.
type Options struct {
	OfferTTL time.Duration  // how long a promoted person has to confirm; 24 h
	Location *time.Location // the federation's zone, for "tomorrow" and notice times; Asia/Shanghai (UTC+8)
}

// Deps are what New needs; every field but Logger, Now and Options is
// required.
type Deps struct {
	Store    Store
	Notifier Notifier
	Audit    Auditor
	Keys     Keys
	Logger   *slog.Logger
	Now      func() time.Time
	Options  Options
}

// Service is the job-fair use cases.
type Service struct {
	store  Store
	notify Notifier
	audit  Auditor
	keys   Keys
	log    *slog.Logger
	now    func() time.Time
	ttl    time.Duration
	loc    *time.Location
}

// New checks d and returns the service.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Notifier == nil || d.Audit == nil || d.Keys == nil {
		return nil, errors.New("fairs: store, notifier, audit and keys are required")
	}
	s := &Service{store: d.Store, notify: d.Notifier, audit: d.Audit, keys: d.Keys, log: d.Logger, now: d.Now,
		ttl: d.Options.OfferTTL, loc: d.Options.Location}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl <= 0 {
		s.ttl = 24 * time.Hour
	}
	if s.loc == nil {
		s.loc = time.FixedZone("CST", 8*3600)
	}
	return s, nil
}

// OfferTTL is how long a promoted person has to confirm.
func (s *Service) OfferTTL() time.Duration { return s.ttl }

// FairInput is a new fair.
type FairInput struct {
	Title         string
	Mode          model.FairMode
	Venue         string
	StartsAt      time.Time
	EndsAt        time.Time
	Capacity      int
	SignupOpensAt time.Time // zero: from now
	SignupEndsAt  time.Time // zero: until the start
}

func runes(s string, lo, hi int) bool {
	n := utf8.RuneCountInString(s)
	return n >= lo && n <= hi
}

// Valid reports field problems (Chinese).
func (in FairInput) Valid() map[string]string {
	bad := map[string]string{}
	if !runes(strings.TrimSpace(in.Title), 1, 128) {
		bad["title"] = "须为 1–128 个字"
	}
	if in.Mode != model.FairOnline && in.Mode != model.FairOnSite {
		bad["mode"] = "须为 online 或 onsite"
	}
	if in.Mode == model.FairOnSite && strings.TrimSpace(in.Venue) == "" {
		bad["venue"] = "现场招聘会须填写地点"
	}
	if !runes(in.Venue, 0, 255) {
		bad["venue"] = "不超过 255 个字"
	}
	if in.StartsAt.IsZero() || !in.EndsAt.After(in.StartsAt) {
		bad["ends_at"] = "结束时间须晚于开始时间"
	}
	if in.Capacity < 1 || in.Capacity > 1_000_000 {
		bad["capacity"] = "须为 1–1000000"
	}
	if !in.SignupEndsAt.IsZero() && !in.SignupOpensAt.IsZero() && !in.SignupEndsAt.After(in.SignupOpensAt) {
		bad["signup_ends_at"] = "报名截止须晚于报名开始"
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

func requireFairManager(ctx context.Context) (model.Principal, error) {
	p, ok := model.StaffFrom(ctx)
	if !ok || !p.HasRole(model.RoleFairManager) {
		return model.Principal{}, model.Errorf(model.ErrForbidden, "没有管理招聘会的权限")
	}
	return p, nil
}

// CreateFair creates a fair (fair_manager; audited).
func (s *Service) CreateFair(ctx context.Context, in FairInput) (model.Fair, error) {
	p, err := requireFairManager(ctx)
	if err != nil {
		return model.Fair{}, err
	}
	if bad := in.Valid(); bad != nil {
		return model.Fair{}, model.Invalid(bad)
	}
	if in.SignupOpensAt.IsZero() {
		in.SignupOpensAt = s.now()
	}
	if in.SignupEndsAt.IsZero() {
		in.SignupEndsAt = in.StartsAt
	}
	f, err := s.store.CreateFair(ctx, model.Fair{
		Title: strings.TrimSpace(in.Title), Mode: in.Mode, Venue: strings.TrimSpace(in.Venue), StartsAt: in.StartsAt,
		EndsAt: in.EndsAt, Capacity: in.Capacity, SignupOpensAt: in.SignupOpensAt, SignupEndsAt: in.SignupEndsAt,
		CreatedBy: p.SubjectID,
	})
	if err != nil {
		return model.Fair{}, fmt.Errorf("create fair: %w", err)
	}
	s.record(ctx, "fair.create", "fair", f.ID, map[string]any{"title": f.Title, "capacity": f.Capacity, "starts_at": f.StartsAt})
	return f, nil
}

// PositionInput is a new position at a fair.
type PositionInput struct {
	Employer     string
	Title        string
	Seats        int
	Requirements string
	SalaryMin    int
	SalaryMax    int
}

// Valid reports field problems (Chinese).
func (in PositionInput) Valid() map[string]string {
	bad := map[string]string{}
	if !runes(strings.TrimSpace(in.Employer), 1, 128) {
		bad["employer"] = "须为 1–128 个字"
	}
	if !runes(strings.TrimSpace(in.Title), 1, 128) {
		bad["title"] = "须为 1–128 个字"
	}
	if in.Seats < 1 || in.Seats > 1_000_000 {
		bad["seats"] = "须为 1–1000000"
	}
	if !runes(in.Requirements, 0, 2000) {
		bad["requirements"] = "不超过 2000 个字"
	}
	if in.SalaryMin < 0 || in.SalaryMax < 0 || (in.SalaryMax > 0 && in.SalaryMax < in.SalaryMin) {
		bad["salary_max"] = "薪资范围无效"
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// AddPosition adds a position to a fair (fair_manager; audited).
func (s *Service) AddPosition(ctx context.Context, fairID int64, in PositionInput) (model.Position, error) {
	if _, err := requireFairManager(ctx); err != nil {
		return model.Position{}, err
	}
	if bad := in.Valid(); bad != nil {
		return model.Position{}, model.Invalid(bad)
	}
	pos, err := s.store.AddPosition(ctx, model.Position{
		FairID: fairID, Employer: strings.TrimSpace(in.Employer), Title: strings.TrimSpace(in.Title), Seats: in.Seats,
		Requirements: in.Requirements, SalaryMin: in.SalaryMin, SalaryMax: in.SalaryMax,
	})
	if err != nil {
		return model.Position{}, fmt.Errorf("add position: %w", err)
	}
	s.record(ctx, "fair.position.create", "fair", fairID, map[string]any{"position_id": pos.ID, "employer": pos.Employer, "seats": pos.Seats})
	return pos, nil
}

// Fair returns one fair with its positions.
func (s *Service) Fair(ctx context.Context, id int64) (model.Fair, error) {
	return s.store.FairByID(ctx, id)
}

// UpcomingFairs returns up to limit fairs that have not ended, soonest
// first.
func (s *Service) UpcomingFairs(ctx context.Context, limit int) ([]model.Fair, error) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	return s.store.UpcomingFairs(ctx, s.now(), limit)
}

// SignupInput is a Mini Program user's signup.
type SignupInput struct {
	PositionID int64
	Name       string
	Phone      string
}

// validPhone accepts a mainland mobile number (11 digits starting with 1)
// or a landline of 7–12 digits with an optional area-code dash.
func validPhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return digits >= 7 && digits <= 12
}

// Valid reports field problems (Chinese).
func (in SignupInput) Valid() map[string]string {
	bad := map[string]string{}
	if in.PositionID <= 0 {
		bad["position_id"] = "必填"
	}
	if !runes(strings.TrimSpace(in.Name), 1, 32) {
		bad["name"] = "须为 1–32 个字"
	}
	if !validPhone(strings.TrimSpace(in.Phone)) {
		bad["phone"] = "电话号码格式不正确"
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// SignUp signs userID up for a fair's position inside the signup window:
// confirmed while seats are left, else waitlisted with a place in line;
// a second active signup is 409 already_signed_up (who cancelled, or let
// an offer lapse, may sign up again). The phone is kept sealed.
func (s *Service) SignUp(ctx context.Context, userID, fairID int64, in SignupInput) (model.Signup, error) {
	if bad := in.Valid(); bad != nil {
		return model.Signup{}, model.Invalid(bad)
	}
	now := s.now()
	sealed, err := s.keys.Seal(strings.TrimSpace(in.Phone), phoneAAD)
	if err != nil {
		return model.Signup{}, fmt.Errorf("sign up: seal phone: %w", err)
	}
	su, promo, err := s.store.SignUp(ctx, model.Signup{
		FairID: fairID, PositionID: in.PositionID, UserID: userID, Name: strings.TrimSpace(in.Name), PhoneSealed: sealed,
	}, now, s.ttl)
	if err != nil {
		return model.Signup{}, err
	}
	if promo != nil {
		s.tellPromoted(ctx, *promo)
	}
	s.log.InfoContext(ctx, "fair signup", "signup", su)
	return su, nil
}

// MySignups returns userID's signups, newest first.
func (s *Service) MySignups(ctx context.Context, userID int64) ([]model.Signup, error) {
	return s.store.SignupsByUser(ctx, userID)
}

// Cancel cancels userID's signup; a freed seat is offered at once to the
// first waitlisted person who fits, who is told (urgent notice) and has
// OfferTTL to confirm.
func (s *Service) Cancel(ctx context.Context, userID, signupID int64) (model.Signup, error) {
	su, promo, err := s.store.CancelSignup(ctx, signupID, userID, s.now(), s.ttl)
	if err != nil {
		return model.Signup{}, err
	}
	if promo != nil {
		s.tellPromoted(ctx, *promo)
	}
	return su, nil
}

// Confirm confirms userID's offered seat before the deadline.
func (s *Service) Confirm(ctx context.Context, userID, signupID int64) (model.Signup, error) {
	return s.store.ConfirmOffer(ctx, signupID, userID, s.now())
}

// tellPromoted notifies a promoted person. A failure is logged: the offer
// stands and the person sees it in the Mini Program.
func (s *Service) tellPromoted(ctx context.Context, p model.Promotion) {
	pos := ""
	if f, err := s.store.FairByID(ctx, p.Fair.ID); err == nil {
		for _, x := range f.Positions {
			if x.ID == p.Signup.PositionID {
				pos = x.Employer + " " + x.Title
			}
		}
	}
	err := s.notify.Notify(ctx, model.Recipient{UserID: p.Signup.UserID}, model.Notice{
		Topic: TopicSignupPromoted,
		Fields: map[string]string{
			"fair": p.Fair.Title, "position": pos, "status": "待确认",
			"time": p.Signup.OfferExpiresAt.In(s.loc).Format("2006-01-02 15:04"),
		},
		Page:      fmt.Sprintf("pages/fairs/signup?id=%d", p.Signup.ID),
		Urgent:    true,
		DedupeKey: fmt.Sprintf("fair:%d:signup:%d:offer:%d", p.Fair.ID, p.Signup.ID, p.Signup.OfferExpiresAt.Unix()),
	})
	if err != nil {
		s.log.WarnContext(ctx, "notify promoted signup", "signup", p.Signup, "err", err)
	}
}

// ExpireOffers lets lapsed offers expire and offers each freed seat to
// the next person in line, then offers any other free seat of a fair with
// a waitlist (the promotion-expiry job).
func (s *Service) ExpireOffers(ctx context.Context) (int, error) {
	promos, err := s.store.ExpireOffers(ctx, s.now(), s.ttl, maxBatch)
	if err == nil {
		var more []model.Promotion
		more, err = s.store.FillFreeSeats(ctx, s.now(), s.ttl)
		promos = append(promos, more...)
	}
	for _, p := range promos {
		s.tellPromoted(ctx, p)
	}
	if err != nil {
		return len(promos), fmt.Errorf("expire offers: %w", err)
	}
	return len(promos), nil
}

// RemindTomorrow reminds every confirmed person of the fairs that start
// tomorrow (in the federation's zone). Each notice has a dedupe key, so a
// second run the same day sends nothing twice.
func (s *Service) RemindTomorrow(ctx context.Context) (int, error) {
	now := s.now().In(s.loc)
	from := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, s.loc)
	fairs, err := s.store.FairsStartingBetween(ctx, from, from.AddDate(0, 0, 1))
	if err != nil {
		return 0, fmt.Errorf("remind: %w", err)
	}
	sent := 0
	var errs []error
	for _, f := range fairs {
		sus, err := s.store.SignupsByFair(ctx, f.ID)
		if err != nil {
			return sent, fmt.Errorf("remind: fair %d: %w", f.ID, err)
		}
		venue := f.Venue
		if f.Mode == model.FairOnline {
			venue = "线上"
		}
		for _, su := range sus {
			if su.Status != model.SignupConfirmed {
				continue
			}
			err := s.notify.Notify(ctx, model.Recipient{UserID: su.UserID}, model.Notice{
				Topic:     TopicSignupReminder,
				Fields:    map[string]string{"fair": f.Title, "time": f.StartsAt.In(s.loc).Format("2006-01-02 15:04"), "venue": venue},
				Page:      fmt.Sprintf("pages/fairs/ticket?id=%d", su.ID),
				DedupeKey: fmt.Sprintf("fair:%d:signup:%d:reminder", f.ID, su.ID),
			})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			sent++
		}
	}
	if len(errs) > 0 {
		return sent, fmt.Errorf("remind: %d notices failed: %w", len(errs), errors.Join(errs...))
	}
	return sent, nil
}

// Ticket returns the signed check-in code of userID's confirmed signup,
// valid until the fair ends. The code carries the signup id only.
func (s *Service) Ticket(ctx context.Context, userID, signupID int64) (string, time.Time, error) {
	su, err := s.store.SignupByID(ctx, signupID)
	if err != nil {
		return "", time.Time{}, err
	}
	if su.UserID != userID {
		return "", time.Time{}, model.Errorf(model.ErrNotFound, "报名记录不存在")
	}
	if su.Status != model.SignupConfirmed {
		return "", time.Time{}, model.Coded(model.ErrConflict, "not_confirmed", "报名确认后才有入场码")
	}
	f, err := s.store.FairByID(ctx, su.FairID)
	if err != nil {
		return "", time.Time{}, err
	}
	if !s.now().Before(f.EndsAt) {
		return "", time.Time{}, model.Coded(model.ErrConflict, "fair_ended", "招聘会已结束")
	}
	return s.keys.Sign(ticketPurpose, binary.BigEndian.AppendUint64(nil, uint64(su.ID)), f.EndsAt), f.EndsAt, nil
}

// ParseTicket verifies a check-in code and returns its signup id: a
// forged or altered code is 400 invalid_ticket, an expired one 400
// ticket_expired.
func (s *Service) ParseTicket(code string) (int64, error) {
	payload, err := s.keys.Verify(ticketPurpose, strings.TrimSpace(code), s.now())
	switch {
	case errors.Is(err, protect.ErrExpired):
		return 0, model.Coded(model.ErrInvalid, "ticket_expired", "入场码已过期")
	case err != nil || len(payload) != 8:
		return 0, model.Coded(model.ErrInvalid, "invalid_ticket", "入场码无效")
	}
	id := int64(binary.BigEndian.Uint64(payload))
	if id <= 0 {
		return 0, model.Coded(model.ErrInvalid, "invalid_ticket", "入场码无效")
	}
	return id, nil
}

// CheckIn checks in the signup of a scanned code (fair_manager); a second
// check-in is 409 already_checked_in.
func (s *Service) CheckIn(ctx context.Context, code string) (model.Signup, error) {
	if _, err := requireFairManager(ctx); err != nil {
		return model.Signup{}, err
	}
	id, err := s.ParseTicket(code)
	if err != nil {
		return model.Signup{}, err
	}
	su, err := s.store.CheckIn(ctx, id, s.now())
	if err != nil {
		return model.Signup{}, err
	}
	s.record(ctx, "fair.checkin", "fair_signup", su.ID, map[string]any{"fair_id": su.FairID})
	return su, nil
}

// RecordPlacement records that a checked-in signup led to a job
// (fair_manager; audited).
func (s *Service) RecordPlacement(ctx context.Context, signupID int64) (model.Signup, error) {
	p, err := requireFairManager(ctx)
	if err != nil {
		return model.Signup{}, err
	}
	su, err := s.store.RecordPlacement(ctx, signupID, p.SubjectID, s.now())
	if err != nil {
		return model.Signup{}, err
	}
	s.record(ctx, "fair.placement", "fair_signup", su.ID, map[string]any{"fair_id": su.FairID, "placed_by": p.SubjectID})
	return su, nil
}

// Figures are the job-fair figures of a period.
type Figures = store.FairFigures

// Figures returns the figures of the fairs that ended in [from, to)
// (fair_manager).
func (s *Service) Figures(ctx context.Context, from, to time.Time) (Figures, error) {
	if _, err := requireFairManager(ctx); err != nil {
		return Figures{}, err
	}
	if !to.After(from) {
		return Figures{}, model.Invalid(map[string]string{"to": "须晚于 from"})
	}
	return s.store.Figures(ctx, from, to)
}

func (s *Service) record(ctx context.Context, action, targetType string, id int64, after map[string]any) {
	if err := s.audit.Audit(ctx, action, targetType, fmt.Sprint(id), nil, after); err != nil {
		s.log.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
}
