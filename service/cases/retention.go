package cases

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"wanjia/model"
)

// RetentionItem is a case retention would anonymise, and what it would
// clear.
type RetentionItem struct {
	CaseNo      string
	ClosedAt    time.Time
	Fields      []string // name, phone, description, contact, feedback, owner (the link to her account)
	EventBodies int      // sealed event bodies (messages, notes, reasons) to clear
}

// RetentionPlan is the dry run of retention.
type RetentionPlan struct {
	Cutoff time.Time // cases closed before it are anonymised
	Items  []RetentionItem
	More   bool // more cases are due than listed
}

// retentionBatch bounds one listing and one run.
const retentionBatch = 500

// RetentionPlan lists what anonymisation would change now, changing
// nothing (admins).
func (s *Service) RetentionPlan(ctx context.Context) (RetentionPlan, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return RetentionPlan{}, err
	}
	cutoff := s.now().Add(-s.opts.Retention)
	cs, err := s.store.ClosedBefore(ctx, cutoff, retentionBatch+1)
	if err != nil {
		return RetentionPlan{}, err
	}
	plan := RetentionPlan{Cutoff: cutoff, Items: []RetentionItem{}}
	if len(cs) > retentionBatch {
		cs, plan.More = cs[:retentionBatch], true
	}
	for _, c := range cs {
		it := RetentionItem{CaseNo: c.CaseNo, ClosedAt: c.ClosedAt, Fields: sealedFields(c)}
		evs, err := s.store.Events(ctx, c.ID)
		if err != nil {
			return RetentionPlan{}, err
		}
		for _, e := range evs {
			if e.BodySealed != "" {
				it.EventBodies++
			}
		}
		plan.Items = append(plan.Items, it)
	}
	return plan, nil
}

func sealedFields(c model.Case) []string {
	out := []string{}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"name", c.NameSealed != ""}, {"phone", c.PhoneSealed != ""}, {"description", c.DescriptionSealed != ""},
		{"contact", c.ContactSealed != ""}, {"feedback", c.FeedbackSealed != ""}, {"owner", c.UserID != 0},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// RunRetention anonymises the cases due now (admins; audited) and returns
// how many it anonymised.
func (s *Service) RunRetention(ctx context.Context) (int, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return 0, err
	}
	n, err := s.Anonymise(ctx)
	s.record(ctx, "case.retention", "case", "", nil, map[string]any{"anonymised": n})
	return n, err
}

var errSkip = errors.New("skip")

// Anonymise clears the personal data of every case closed more than the
// retention period ago (the daily retention task, once per cluster): the
// sealed fields, the link to her account and the sealed event bodies.
// Category, district, dates, outcome, rating and the events' structure
// stay, so the figures stay true and the chain still verifies; the
// anonymisation is itself an event. Each case is one transaction.
func (s *Service) Anonymise(ctx context.Context) (int, error) {
	done := 0
	var errs []error
	for {
		now := s.now()
		cutoff := now.Add(-s.opts.Retention)
		cs, err := s.store.ClosedBefore(ctx, cutoff, retentionBatch)
		if err != nil {
			return done, fmt.Errorf("retention: %w", err)
		}
		progress := 0
		for _, c := range cs {
			err := s.anonymise(ctx, c, cutoff)
			switch {
			case errors.Is(err, errSkip):
			case err != nil:
				errs = append(errs, fmt.Errorf("case %d: %w", c.ID, err))
			default:
				done++
				progress++
			}
		}
		if len(cs) < retentionBatch || progress == 0 || ctx.Err() != nil {
			break
		}
	}
	if done > 0 {
		s.log.InfoContext(ctx, "cases anonymised", "count", done)
	}
	if err := errors.Join(errs...); err != nil {
		return done, fmt.Errorf("retention: %w", err)
	}
	return done, nil
}

func (s *Service) anonymise(ctx context.Context, c model.Case, cutoff time.Time) error {
	return s.store.WithTx(ctx, func(ctx context.Context) error {
		_, _, err := s.store.Update(ctx, c.CaseNo, func(c *model.Case) ([]model.CaseEvent, error) {
			if c.Status != model.CaseClosed || !c.ClosedAt.Before(cutoff) || !c.AnonymisedAt.IsZero() {
				return nil, errSkip // reopened or done meanwhile
			}
			ch := s.change(c, s.cal) // anonymising ends a pause without resuming the clocks: no calendar is read
			fields := sealedFields(*c)
			c.NameSealed, c.PhoneSealed, c.DescriptionSealed, c.ContactSealed, c.FeedbackSealed = "", "", "", "", ""
			c.UserID, c.AnonymisedAt, c.WaitingUser, c.WaitingSince = 0, ch.now, false, time.Time{}
			err := ch.add(model.CaseEvent{Kind: model.EventAnonymised, ActorKind: model.ActorSystem,
				Meta: map[string]string{"fields": strings.Join(fields, ","), "retention_days": strconv.Itoa(int(s.opts.Retention.Hours() / 24))}})
			return ch.events, err
		})
		if err != nil {
			return err
		}
		_, err = s.store.ClearEventBodies(ctx, c.ID)
		return err
	})
}
