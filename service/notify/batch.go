package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"wanjia/model"
)

// Target is one recipient of a bulk notice (NotifyMany) and the
// DedupeKey of her copy, e.g. "lesson:12:user:34".
type Target struct {
	Recipient model.Recipient
	DedupeKey string
}

// MaxBatch bounds the targets of one NotifyMany call.
const MaxBatch = 1000

// NotifyMany accepts notice n for each of to: the bulk form of Notify for
// a push (a lesson to its course's subscribers). n carries the push's id
// (required) and no DedupeKey; each target names a Mini Program user or an
// OA follower (not staff) and her own key. The notice is validated once,
// as Notify does; a bad target is model.ErrInvalid naming "targets[i]",
// and nothing of the call is accepted then.
//
// The deliveries are written with multi-row INSERTs that skip every key
// accepted before (a second publish, a fan-out resumed after a restart),
// as "queued": they wait for the push's feeder, which hands them to the
// queue FeedWindow at a time (Feed), so a push of any size holds a
// bounded number of tasks in Redis and every other guarantee of Notify —
// one send per key by the claim, the send-rate cap, quiet hours, consent
// and channel choice — applies unchanged. Outside a transaction the push
// is fed at once; inside one, by the next sweep after the commit. It
// returns how many deliveries were new.
func (s *Service) NotifyMany(ctx context.Context, n model.Notice, to []Target) (int, error) {
	problems := map[string]string{}
	switch {
	case n.PushID <= 0:
		problems["push_id"] = "批量通知须属于一次推送"
	case n.DedupeKey != "":
		problems["dedupe_key"] = "批量通知的去重键按对象给出"
	case len(to) > MaxBatch:
		problems["targets"] = fmt.Sprintf("一次最多 %d 个对象", MaxBatch)
	}
	for i, t := range to {
		msg := recipientProblem(t.Recipient)
		if msg == "" && t.Recipient.StaffID != 0 {
			msg = "批量通知不发给工作人员"
		}
		if msg == "" {
			msg = dedupeKeyProblem(t.DedupeKey)
		}
		if msg != "" {
			problems[fmt.Sprintf("targets[%d]", i)] = msg
			break
		}
	}
	tpl, err := s.validContent(ctx, false, &n, problems)
	if err != nil {
		return 0, err
	}
	if len(to) == 0 {
		return 0, nil
	}
	now := s.now()
	notBefore := now
	if !n.Urgent {
		notBefore = s.quiet.release(now)
	}
	ds := make([]model.Delivery, len(to))
	for i, t := range to {
		ds[i] = model.Delivery{
			PushID: n.PushID, Topic: n.Topic, DedupeKey: t.DedupeKey, UserID: t.Recipient.UserID, OpenID: t.Recipient.OpenID,
			Fields: n.Fields, Page: n.Page, URL: n.URL, Urgent: n.Urgent, Status: model.DeliveryQueued, NotBefore: notBefore,
		}
	}
	created, err := s.store.CreateDeliveries(ctx, ds)
	if err != nil {
		return created, fmt.Errorf("notify %s: %w", tpl.Topic, err)
	}
	if !s.store.InTx(ctx) {
		if _, err := s.feedPush(ctx, n.PushID); err != nil {
			// The notices are durable; the sweeper feeds the push.
			s.log.WarnContext(ctx, "notify: feed push; the sweeper will retry", "push_id", n.PushID, "err", err)
		}
	}
	return created, nil
}

// feedPushes bounds the pushes one Feed looks at.
const feedPushes = 100

// Feed tops up every push that has queued deliveries to FeedWindow
// deliveries handed to the queue (pending or sending), lowest ids first.
// Sweep runs it; running it twice at once hands nothing over twice (the
// promotion is a conditional UPDATE, a task id is the delivery's).
func (s *Service) Feed(ctx context.Context) error {
	ids, err := s.store.PushesToFeed(ctx, feedPushes)
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	var errs []error
	total := 0
	for _, id := range ids {
		n, err := s.feedPush(ctx, id)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if total > 0 {
		s.log.DebugContext(ctx, "notify: fed pushes", "pushes", len(ids), "deliveries", total)
	}
	return errors.Join(errs...)
}

// FeedPush tops push pushID up to FeedWindow deliveries handed to the
// queue, as Feed does for every push, and returns how many it handed
// over: for a caller that accepted bulk notices inside its transaction
// and wants them on their way at once after the commit, rather than at
// the next sweep.
func (s *Service) FeedPush(ctx context.Context, pushID int64) (int, error) {
	if pushID <= 0 {
		return 0, model.Invalid(map[string]string{"push_id": "无效"})
	}
	return s.feedPush(ctx, pushID)
}

// feedPush hands up to FeedWindow minus what is outstanding of push
// pushID's queued deliveries to the queue and returns how many. A
// delivery whose task could not be enqueued is marked not handed over:
// the sweeper retries it like any other. A cancelled push hands nothing
// over: its queued deliveries (a bulk call that raced the cancellation)
// are skipped instead.
func (s *Service) feedPush(ctx context.Context, pushID int64) (int, error) {
	cancelled, err := s.pushCancelled(ctx, pushID)
	if err != nil {
		return 0, fmt.Errorf("feed push %d: %w", pushID, err)
	}
	if cancelled {
		if _, err := s.cancelPush(ctx, pushID); err != nil {
			return 0, fmt.Errorf("feed push %d: %w", pushID, err)
		}
		return 0, nil
	}
	out, err := s.store.CountOutstanding(ctx, pushID)
	if err != nil {
		return 0, fmt.Errorf("feed push %d: %w", pushID, err)
	}
	room := s.opts.FeedWindow - out
	if room <= 0 {
		return 0, nil
	}
	ds, err := s.store.PromoteQueued(ctx, pushID, room, s.now())
	if err != nil {
		return 0, fmt.Errorf("feed push %d: %w", pushID, err)
	}
	var failed []int64
	var firstErr error
	for _, d := range ds {
		if err := s.queue.Enqueue(ctx, TaskID(d.ID), d.ID, d.NotBefore); err != nil {
			failed = append(failed, d.ID)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if len(failed) > 0 {
		err := fmt.Errorf("feed push %d: %d of %d tasks not enqueued: %w", pushID, len(failed), len(ds), firstErr)
		if merr := s.store.MarkEnqueued(context.WithoutCancel(ctx), failed, time.Time{}); merr != nil {
			err = errors.Join(err, merr)
		}
		return len(ds) - len(failed), err
	}
	return len(ds), nil
}

// ReasonPushCancelled is the reason recorded on the deliveries a
// cancelled push never sent.
const ReasonPushCancelled = "push cancelled"

// CancelPush stops push pushID for good (a lesson withdrawn): its notices
// not yet handed to a worker are skipped at once, in the caller's
// transaction when there is one, and a notice of it that a worker claims
// later — one put back after a failed try, or accepted in bulk after this
// call — is skipped instead of sent. A notice being sent at this moment
// finishes as it would (it may have reached WeChat). Cancelling again
// changes nothing. It returns how many notices it skipped; an unknown push
// is model.ErrNotFound.
func (s *Service) CancelPush(ctx context.Context, pushID int64) (int, error) {
	if pushID <= 0 {
		return 0, model.Invalid(map[string]string{"push_id": "无效"})
	}
	return s.cancelPush(ctx, pushID)
}

func (s *Service) cancelPush(ctx context.Context, pushID int64) (int, error) {
	n, err := s.store.CancelPush(ctx, pushID, ReasonPushCancelled, s.now())
	if err != nil {
		return 0, err
	}
	if n > 0 {
		p, err := s.store.PushByID(ctx, pushID)
		if err != nil {
			return n, err
		}
		s.results.WithLabelValues(p.Topic, "", model.DeliverySkipped).Add(float64(n))
		s.log.InfoContext(ctx, "notify: push cancelled", "push_id", pushID, "skipped", n)
	}
	return n, nil
}

// pushCancelled reports whether push pushID was cancelled.
func (s *Service) pushCancelled(ctx context.Context, pushID int64) (bool, error) {
	p, err := s.store.PushByID(ctx, pushID)
	if err != nil {
		return false, err
	}
	return !p.CancelledAt.IsZero(), nil
}

// MarkRead records that the recipient of the notice with dedupeKey opened
// what it announced (a lesson notified to her, read in the Mini Program):
// counted as read in the push's figures when the notice was sent before.
// It reports whether a notice was marked; a notice never sent, or marked
// before, is not.
func (s *Service) MarkRead(ctx context.Context, dedupeKey string) (bool, error) {
	if msg := dedupeKeyProblem(dedupeKey); msg != "" {
		return false, model.Invalid(map[string]string{"dedupe_key": msg})
	}
	ok, err := s.store.MarkDeliveryRead(ctx, dedupeKey, s.now())
	if err != nil {
		return false, fmt.Errorf("mark read: %w", err)
	}
	return ok, nil
}

// SubscribeTemplate returns the Mini Program subscribe template id of
// topic, for the Mini Program to ask consent for (wx.requestSubscribeMessage);
// "" when the topic has none or is switched off. An unknown topic is
// model.ErrInvalid.
func (s *Service) SubscribeTemplate(ctx context.Context, topic string) (string, error) {
	t, err := s.template(ctx, topic)
	if err != nil {
		return "", err
	}
	if !t.Enabled {
		return "", nil
	}
	return t.MPTemplateID, nil
}
