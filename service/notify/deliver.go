package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"wanjia/model"
)

// target is where a recipient can be reached.
type target struct {
	mpOpenID  string // her Mini Program openid
	oaOpenID  string // her Official Account openid
	following bool   // she follows the OA (or the follower table is unknown)
}

// channel is one way to reach the recipient, in order of preference.
type channel struct {
	name  string
	appID string
}

// Deliver sends delivery id: the queue task's work. A delivery already
// final, gone (its transaction rolled back) or held by another worker is
// left alone. A non-urgent delivery that comes due in the quiet hours is
// put off to their end. It claims the delivery under a lease, picks the
// first channel that reaches the recipient, waits for the app's send
// slot and sends; the send and what follows it are not cut short by ctx.
//
// Errors: a retryable failure (WeChat -1, 45009, network) puts the
// delivery back to pending and returns the error, for the task to be
// retried; final (the task's last try) or MaxAttempts reached marks it
// failed instead. 43101 with no other channel left, and WeChat's refusal
// of a send as invalid, mark it no_consent or failed and return an error
// wrapping ErrPermanent.
func (s *Service) Deliver(ctx context.Context, id int64, final bool) error {
	now := s.now()
	d, ok, err := s.store.ClaimDelivery(ctx, id, now, now.Add(s.opts.Lease))
	switch {
	case errors.Is(err, model.ErrNotFound):
		s.log.DebugContext(ctx, "notify: delivery gone (rolled back)", "delivery_id", id)
		return nil
	case err != nil:
		return fmt.Errorf("deliver %d: %w", id, err)
	case !ok && d.Status == model.DeliverySending:
		return fmt.Errorf("deliver %d: held by another worker until %s", id, d.LeaseUntil.Format(time.RFC3339))
	case !ok && d.Status == model.DeliveryPending && d.NotBefore.After(now):
		return s.enqueueAt(ctx, d.ID, d.NotBefore, "at") // came early
	case !ok && d.Status == model.DeliveryQueued:
		return nil // its push's feeder hands it over (Feed)
	case !ok:
		return nil // final
	}
	c := claim{d: d, final: final || d.Attempts >= s.opts.MaxAttempts}
	if d.PushID != 0 {
		cancelled, err := s.pushCancelled(ctx, d.PushID)
		if err != nil {
			return s.release(ctx, &c, 0, err)
		}
		if cancelled {
			return s.finish(ctx, &c, model.DeliveryResult{Status: model.DeliverySkipped, Error: ReasonPushCancelled}, nil)
		}
	}
	if !d.Urgent && s.quiet.in(now) {
		at := s.quiet.release(now)
		if err := s.store.ReleaseDelivery(ctx, d.ID, d.Attempts, at, d.Errcode, d.Error); err != nil {
			return fmt.Errorf("deliver %d: %w", id, err)
		}
		return s.enqueueAt(ctx, d.ID, at, "quiet")
	}
	return s.send(ctx, &c)
}

// enqueueAt hands delivery id over for at under a task id of its own.
func (s *Service) enqueueAt(ctx context.Context, id int64, at time.Time, why string) error {
	taskID := TaskID(id) + ":" + why + ":" + strconv.FormatInt(at.Unix(), 10)
	if err := s.queue.Enqueue(ctx, taskID, id, at); err != nil {
		return fmt.Errorf("deliver %d: enqueue: %w", id, err)
	}
	return nil
}

// claim is a delivery this worker holds.
type claim struct {
	d     model.Delivery
	final bool
}

// send runs one claimed delivery to its end or to a release.
func (s *Service) send(ctx context.Context, c *claim) error {
	d := c.d
	tpl, err := s.template(ctx, d.Topic)
	if err != nil || !tpl.Enabled {
		reason := "topic switched off"
		if err != nil {
			if !errors.Is(err, model.ErrInvalid) {
				return s.release(ctx, c, 0, err)
			}
			reason = "topic removed"
		}
		return s.finish(ctx, c, model.DeliveryResult{Status: model.DeliverySkipped, Error: reason}, nil)
	}
	tg, err := s.resolve(ctx, d)
	switch {
	case errors.Is(err, model.ErrNotFound):
		return s.finish(ctx, c, model.DeliveryResult{Status: model.DeliverySkipped, Error: "recipient gone"}, nil)
	case err != nil:
		return s.release(ctx, c, 0, err)
	}
	channels, err := s.channels(ctx, tpl, tg)
	if err != nil {
		return s.release(ctx, c, 0, err)
	}
	// An MP template that applies but lacks her consent makes the outcome
	// no_consent rather than no_channel; so does a 43101 on any channel.
	var refusedOn *channel
	if tpl.MPTemplateID != "" && tg.mpOpenID != "" {
		refusedOn = &channel{name: model.ChannelMPSubscribe}
	}
	var refused error // a 43101 answer
	for _, ch := range channels {
		res, sendErr, done := s.try(ctx, c, tpl, tg, ch)
		if done {
			return sendErr
		}
		if res == model.DeliveryNoConsent && sendErr != nil {
			refused, refusedOn = sendErr, &ch
		}
	}
	r := model.DeliveryResult{Status: model.DeliveryNoChannel, Error: "no channel reaches the recipient"}
	if refusedOn != nil {
		r = model.DeliveryResult{Status: model.DeliveryNoConsent, Channel: refusedOn.name, Error: "no consent"}
		switch refusedOn.name {
		case model.ChannelMPSubscribe:
			r.TemplateID = tpl.MPTemplateID
		case model.ChannelOATemplate:
			r.TemplateID = tpl.OATemplateID
		}
	}
	if refused != nil {
		r.Errcode = 43101
		return s.finish(ctx, c, r, permanent(refused))
	}
	return s.finish(ctx, c, r, nil)
}

// try attempts one channel. done means the delivery reached its end (or a
// release) and err is what Deliver returns; otherwise status says why the
// channel did not work (no_consent, or "" to try the next) and err is a
// 43101 answer, if any.
func (s *Service) try(ctx context.Context, c *claim, tpl model.NotifyTemplate, tg target, ch channel) (status string, err error, done bool) {
	d := c.d
	longTerm := false
	var data map[string]string
	var templateID string
	switch ch.name {
	case model.ChannelMPSubscribe:
		templateID = tpl.MPTemplateID
		ok, long, uerr := s.store.UseConsent(ctx, model.AppMP, tg.mpOpenID, templateID)
		if uerr != nil {
			return "", s.release(ctx, c, 0, uerr), true
		}
		if !ok {
			return model.DeliveryNoConsent, nil, false
		}
		longTerm = long
		data, err = render(tpl.MPFields, d.Fields, false)
	case model.ChannelOATemplate:
		templateID = tpl.OATemplateID
		data, err = render(tpl.OAFields, d.Fields, true)
	}
	refund := func(ctx context.Context) {
		if ch.name != model.ChannelMPSubscribe || longTerm {
			return
		}
		if rerr := s.store.RefundConsent(ctx, model.AppMP, tg.mpOpenID, templateID); rerr != nil {
			s.log.WarnContext(ctx, "notify: refund consent", "delivery_id", d.ID, "err", rerr)
		}
	}
	if err != nil {
		// The template changed since the notice was accepted.
		refund(context.WithoutCancel(ctx))
		return "", s.finish(ctx, c, model.DeliveryResult{Status: model.DeliveryFailed, Channel: ch.name, TemplateID: templateID,
			Error: "notice does not fit the template"}, nil), true
	}
	if err := s.limiter.Wait(ctx, ch.appID); err != nil {
		refund(context.WithoutCancel(ctx))
		return "", s.release(ctx, c, 0, fmt.Errorf("send rate: %w", err)), true
	}
	// From here on the send and its bookkeeping finish even when ctx is
	// cancelled (a shutdown): an answer WeChat gave is always written.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.SendTimeout)
	defer cancel()
	var msgID string
	switch ch.name {
	case model.ChannelMPSubscribe:
		msgID, err = s.sender.SendSubscribe(sctx, SubscribeMessage{ToUser: tg.mpOpenID, TemplateID: templateID, Page: d.Page, Data: data})
	case model.ChannelOATemplate:
		m := TemplateMessage{ToUser: tg.oaOpenID, TemplateID: templateID, MPPage: d.Page, URL: d.URL, Data: data,
			ClientMsgID: "wanjia-" + strconv.FormatInt(d.ID, 10)}
		msgID, err = s.sender.SendTemplate(sctx, m)
	case model.ChannelOACustom:
		err = s.sender.SendCustomText(sctx, tg.oaOpenID, renderText(tpl.Text, d.Fields, d.URL))
	}
	if err == nil {
		return "", s.finish(sctx, c, model.DeliveryResult{Status: model.DeliverySent, Channel: ch.name,
			TemplateID: templateID, MsgID: msgID}, nil), true
	}
	var se *SendError
	if !errors.As(err, &se) {
		se = &SendError{Retry: true, Err: err}
	}
	switch {
	case se.NoConsent:
		if ch.name == model.ChannelMPSubscribe {
			if rerr := s.store.RevokeConsent(sctx, model.AppMP, tg.mpOpenID, templateID); rerr != nil {
				s.log.WarnContext(ctx, "notify: consent used up", "delivery_id", d.ID, "err", rerr)
			}
		}
		s.log.InfoContext(ctx, "notify: no consent (43101)", "delivery_id", d.ID, "channel", ch.name)
		return model.DeliveryNoConsent, err, false
	case se.Retry:
		refund(sctx)
		return "", s.release(sctx, c, se.Errcode, err), true
	}
	refund(sctx)
	r := model.DeliveryResult{Status: model.DeliveryFailed, Channel: ch.name, TemplateID: templateID, Errcode: se.Errcode,
		Error: "errcode " + strconv.Itoa(se.Errcode)}
	return "", s.finish(sctx, c, r, permanent(err)), true
}

// resolve finds where the delivery's recipient can be reached; ErrNotFound
// when the user is gone.
func (s *Service) resolve(ctx context.Context, d model.Delivery) (target, error) {
	var tg target
	switch {
	case d.UserID != 0:
		u, err := s.users.UserByID(ctx, d.UserID)
		if err != nil {
			return tg, err
		}
		tg.mpOpenID = u.OpenID
		if u.UnionID == "" || s.followers == nil {
			return tg, nil
		}
		f, err := s.followers.FollowerByUnionID(ctx, u.UnionID)
		switch {
		case errors.Is(err, model.ErrNotFound):
			return tg, nil
		case err != nil:
			return tg, err
		}
		tg.oaOpenID, tg.following = f.OpenID, f.Subscribed
	case d.OpenID != "":
		tg.oaOpenID = d.OpenID
		if s.followers == nil {
			tg.following = true // unknown: WeChat decides
			return tg, nil
		}
		f, err := s.followers.FollowerByOpenID(ctx, d.OpenID)
		switch {
		case errors.Is(err, model.ErrNotFound):
			return tg, nil
		case err != nil:
			return tg, err
		}
		tg.following = f.Subscribed
		if f.UserID != 0 {
			u, err := s.users.UserByID(ctx, f.UserID)
			switch {
			case err == nil:
				tg.mpOpenID = u.OpenID
			case !errors.Is(err, model.ErrNotFound):
				return tg, err
			}
		}
	default:
		return tg, model.ErrNotFound
	}
	return tg, nil
}

// channels lists the channels that can reach tg for tpl, in order: MP
// subscribe (consent is checked when it is tried), OA template to a
// follower, OA customer-service message inside the window.
func (s *Service) channels(ctx context.Context, tpl model.NotifyTemplate, tg target) ([]channel, error) {
	var out []channel
	if tpl.MPTemplateID != "" && tg.mpOpenID != "" {
		out = append(out, channel{model.ChannelMPSubscribe, s.sender.MPAppID()})
	}
	if tg.oaOpenID == "" || !tg.following {
		return out, nil
	}
	if tpl.OATemplateID != "" {
		out = append(out, channel{model.ChannelOATemplate, s.sender.OAAppID()})
	}
	if tpl.Text != "" && s.messages != nil {
		last, err := s.messages.LastMessageAt(ctx, model.AppOA, tg.oaOpenID)
		if err != nil {
			return nil, fmt.Errorf("last message: %w", err)
		}
		if !last.IsZero() && s.now().Sub(last) < s.opts.CustomWindow {
			out = append(out, channel{model.ChannelOACustom, s.sender.OAAppID()})
		}
	}
	return out, nil
}

// finish records r on the claimed delivery and returns ret. A claim lost
// to another worker (this one outlived its lease) is logged.
func (s *Service) finish(ctx context.Context, c *claim, r model.DeliveryResult, ret error) error {
	ctx = context.WithoutCancel(ctx)
	r.At = s.now()
	ok, err := s.store.FinishDelivery(ctx, c.d.ID, c.d.Attempts, r)
	if err != nil {
		return fmt.Errorf("deliver %d: %w", c.d.ID, err)
	}
	if !ok {
		s.log.WarnContext(ctx, "notify: lease lost before the result was written", "delivery_id", c.d.ID, "status", r.Status)
		return ret
	}
	s.results.WithLabelValues(c.d.Topic, r.Channel, r.Status).Inc()
	if r.Status == model.DeliveryFailed {
		s.log.WarnContext(ctx, "notify: delivery failed", "delivery_id", c.d.ID, "channel", r.Channel, "errcode", r.Errcode,
			"reason", r.Error)
	}
	return ret
}

// release puts the claimed delivery back to pending after a retryable
// failure and returns cause for the task to be retried; on the final try
// it marks the delivery failed instead, and when its push was cancelled
// meanwhile, skipped (nothing to retry).
func (s *Service) release(ctx context.Context, c *claim, errcode int, cause error) error {
	if c.d.PushID != 0 {
		if cancelled, err := s.pushCancelled(context.WithoutCancel(ctx), c.d.PushID); err == nil && cancelled {
			return s.finish(ctx, c, model.DeliveryResult{Status: model.DeliverySkipped, Errcode: errcode, Error: ReasonPushCancelled}, nil)
		}
	}
	reason := "retry: " + cause.Error()
	if errcode != 0 {
		reason = "errcode " + strconv.Itoa(errcode)
	}
	if c.final {
		r := model.DeliveryResult{Status: model.DeliveryFailed, Errcode: errcode, Error: "gave up: " + reason}
		return s.finish(ctx, c, r, cause)
	}
	if err := s.store.ReleaseDelivery(context.WithoutCancel(ctx), c.d.ID, c.d.Attempts, s.now(), errcode, reason); err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("deliver %d: %w", c.d.ID, cause)
}

// sweepBudget bounds one Sweep run.
const sweepBudget = 20 * time.Second

// Sweep hands over deliveries that need a task: notices written inside a
// transaction (not queued before their commit), and deliveries still
// pending, or held under an ended lease, StaleAfter after they were due —
// a crash between commit and enqueue, a task lost with a Redis flush, a
// worker killed mid-send. It works in batches of SweepBatch until none is
// left (or for at most 20 s). Extra tasks are harmless: a delivery is sent
// at most once by its claim. Run it on a short interval (notifyjob does).
//
// Then it feeds the bulk pushes (Feed).
func (s *Service) Sweep(ctx context.Context) error {
	start := time.Now()
	total := 0
	for {
		n, err := s.sweepBatch(ctx)
		total += n
		if err != nil || n < s.opts.SweepBatch || time.Since(start) > sweepBudget || ctx.Err() != nil {
			if total > 0 {
				s.log.InfoContext(ctx, "notify: sweep handed deliveries over", "count", total)
			}
			return errors.Join(err, s.Feed(ctx))
		}
	}
}

// sweepBatch hands over one batch and returns its size.
func (s *Service) sweepBatch(ctx context.Context) (int, error) {
	now := s.now()
	ds, err := s.store.DeliveriesToSweep(ctx, now.Add(-s.opts.StaleAfter), s.opts.SweepBatch)
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	ids := make([]int64, 0, len(ds))
	var errs []error
	for _, d := range ds {
		taskID := TaskID(d.ID)
		if !d.EnqueuedAt.IsZero() {
			taskID += ":sweep:" + strconv.FormatInt(now.Unix(), 10)
		}
		if err := s.queue.Enqueue(ctx, taskID, d.ID, d.NotBefore); err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, d.ID)
	}
	if err := s.store.MarkEnqueued(ctx, ids, now); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return len(ds), fmt.Errorf("sweep: %w", err)
	}
	return len(ds), nil
}
