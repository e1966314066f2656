package cases

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"wanjia/model"
)

// SLA clocks and steps, as recorded in EventSLA's Meta.
const (
	slaFirstResponse = "first_response"
	slaClose         = "close"
	stepReminded     = "reminded"
	stepBreached     = "breached"
)

func slaEvent(kind, step string, cycle int) model.CaseEvent {
	return model.CaseEvent{Kind: model.EventSLA, ActorKind: model.ActorSystem,
		Meta: map[string]string{"sla": kind, "step": step, "cycle": strconv.Itoa(cycle)}}
}

// remindShare is the part of an SLA left when the reminder goes out: with
// a quarter of the time left (6 of 24 working hours, 7.5 of 30 days).
const remindShare = 4

// slaStep is one thing the sweep does to a case.
type slaStep struct {
	kind, step string
	flag       int
}

// slaSteps are what is due for c at now: for each clock still running
// (first response not given; case not closed) that is not paused, a
// breach once it is overdue, or a reminder once a quarter of its time is
// left — each once (the flags).
func (s *Service) slaSteps(c model.Case, now time.Time, cal Calendar) []slaStep {
	if c.Status == model.CaseClosed || c.WaitingUser || !c.AnonymisedAt.IsZero() {
		return nil
	}
	var out []slaStep
	if c.FirstResponseAt.IsZero() {
		total := time.Duration(s.opts.FirstResponseHours) * time.Hour
		switch {
		case !now.Before(c.FirstResponseDue):
			if c.SLAFlags&model.SLAFirstBreached == 0 {
				out = append(out, slaStep{slaFirstResponse, stepBreached, model.SLAFirstBreached})
			}
		case c.SLAFlags&(model.SLAFirstReminded|model.SLAFirstBreached) == 0 &&
			cal.Between(now, c.FirstResponseDue) <= total/remindShare:
			out = append(out, slaStep{slaFirstResponse, stepReminded, model.SLAFirstReminded})
		}
	}
	total := time.Duration(s.opts.CloseDays) * 24 * time.Hour
	switch {
	case !now.Before(c.CloseDue):
		if c.SLAFlags&model.SLACloseBreached == 0 {
			out = append(out, slaStep{slaClose, stepBreached, model.SLACloseBreached})
		}
	case c.SLAFlags&(model.SLACloseReminded|model.SLACloseBreached) == 0 && c.CloseDue.Sub(now) <= total/remindShare:
		out = append(out, slaStep{slaClose, stepReminded, model.SLACloseReminded})
	}
	return out
}

// SweepResult counts what one sweep did.
type SweepResult struct {
	Reminded int // reminders to the station's (or the on-duty) staff
	Breached int // breaches recorded and escalated to the admins
	Notices  int // held notices to the person handed over (her chosen hours came)
}

// sweepBatch bounds one store read of the sweep.
const sweepBatch = 200

// Sweep runs the SLA clocks at now (the task of the SLA schedule, once
// per cluster): it reminds the duty staff of cases whose deadline is
// near, records each breach as an event and escalates it to the admins,
// each once per case and cycle (flags changed under the row lock, and
// dedupe keys on the notices); then it hands over notices held for the
// hours a person chose. It continues past one case's failure and returns
// the errors joined.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	var errs []error
	now := s.now()
	cal, err := s.calendar(ctx)
	if err != nil {
		return res, fmt.Errorf("sla sweep: %w", err)
	}
	var adminIDs []int64
	admins := func() ([]int64, error) { // once per sweep
		if adminIDs != nil {
			return adminIDs, nil
		}
		ids, err := s.admins(ctx)
		if err == nil {
			adminIDs = append([]int64{}, ids...)
		}
		return adminIDs, err
	}
	lead := max(time.Duration(s.opts.CloseDays)*24*time.Hour/remindShare, 31*24*time.Hour)
	for after := int64(0); ; {
		cs, err := s.store.SLACandidates(ctx, now.Add(lead), after, sweepBatch)
		if err != nil {
			return res, fmt.Errorf("sla sweep: %w", err)
		}
		for _, c := range cs {
			after = c.ID
			if len(s.slaSteps(c, now, cal)) == 0 {
				continue
			}
			if err := s.sweepCase(ctx, c, now, cal, &res, admins); err != nil {
				errs = append(errs, fmt.Errorf("case %d: %w", c.ID, err))
			}
		}
		if len(cs) < sweepBatch || ctx.Err() != nil {
			break
		}
	}
	for after := int64(0); ; {
		cs, err := s.store.PendingNotices(ctx, after, sweepBatch)
		if err != nil {
			errs = append(errs, fmt.Errorf("pending notices: %w", err))
			break
		}
		for _, c := range cs {
			after = c.ID
			sent, err := s.tellOwnerNow(ctx, c)
			if err != nil {
				errs = append(errs, fmt.Errorf("case %d notice: %w", c.ID, err))
				continue
			}
			if sent {
				res.Notices++
			}
		}
		if len(cs) < sweepBatch || ctx.Err() != nil {
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("sla sweep: %w", err)
	}
	return res, nil
}

// sweepCase applies what is due to one case under its lock and then sends
// the reminders and escalations.
func (s *Service) sweepCase(ctx context.Context, c model.Case, now time.Time, cal Calendar, res *SweepResult,
	admins func() ([]int64, error)) error {
	var steps []slaStep
	c, _, err := s.store.Update(ctx, c.CaseNo, func(c *model.Case) ([]model.CaseEvent, error) {
		steps = s.slaSteps(*c, now, cal) // again, on the locked row
		ch := s.change(c, cal)
		ch.now = now
		for _, st := range steps {
			c.SLAFlags |= st.flag
			if err := ch.add(slaEvent(st.kind, st.step, c.Cycle)); err != nil {
				return nil, err
			}
		}
		return ch.events, nil
	})
	if err != nil {
		return err
	}
	for _, st := range steps {
		s.slaSeen.WithLabelValues(st.kind, st.step).Inc()
		occasion := "sla:" + st.kind + ":" + st.step + ":" + strconv.Itoa(c.Cycle)
		title := map[string]string{
			slaFirstResponse + stepReminded: "维权案件即将超过首次响应时限",
			slaFirstResponse + stepBreached: "维权案件已超过首次响应时限",
			slaClose + stepReminded:         "维权案件即将到结案期限",
			slaClose + stepBreached:         "维权案件已超过结案期限",
		}[st.kind+st.step]
		s.alertStaff(ctx, c, c.StationID, title, occasion, st.step == stepBreached)
		if st.step == stepReminded {
			res.Reminded++
			continue
		}
		res.Breached++
		ids, err := admins()
		if err != nil {
			return fmt.Errorf("escalate: %w", err)
		}
		s.alertIDs(ctx, c, ids, title, occasion, true)
		s.log.WarnContext(ctx, "case sla breached", "case", c, "sla", st.kind)
	}
	return nil
}
