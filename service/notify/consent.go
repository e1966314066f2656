package notify

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"wanjia/model"
)

// Sources of a subscribe-message acceptance (Twins.Match).
const (
	SourceClient = "client" // POST /api/mp/consents, from wx.requestSubscribeMessage
	SourceEvent  = "event"  // subscribe_msg_popup_event / _change_event from WeChat
)

// Subscribe-message results (wx.requestSubscribeMessage and the events).
const (
	ConsentAccept = "accept"
	ConsentReject = "reject"
	ConsentBan    = "ban"
	consentFilter = "filter" // the template was filtered by the platform: nothing happened
)

// maxClientResults bounds one client report (the popup shows at most 3
// templates; a few more are tolerated).
const maxClientResults = 10

// RecordSubscribeEvents records the subscribe-message events WeChat pushed
// for openID of app (G2 calls it for subscribe_msg_popup_event,
// subscribe_msg_change_event and subscribe_msg_sent_event):
//   - accept: one more one-time authorisation, or long-term on for a
//     template configured long-term;
//   - reject, ban: the consent is off;
//   - a sent event (MsgID set) with an error: the delivery with that msgid
//     becomes failed with the errcode; 43101 also turns the consent off.
//
// Which report counts: a user's acceptance reaches us twice, as the Mini
// Program's report (RecordClientConsents) and as WeChat's popup event. The
// first to arrive counts and the second, from the other source within the
// twin window (notifyredis: 10 min), is recognised as its twin and
// dropped. The client report is usually first, so a notice sent right after
// the popup finds its consent; the event, signed by WeChat, covers clients
// that never report (an old version, a closed page). A forged client report
// can only add authorisations WeChat then refuses with 43101, which turns
// the consent off again.
func (s *Service) RecordSubscribeEvents(ctx context.Context, app model.App, openID string, evs []model.SubscribeEvent) error {
	if openID == "" {
		return nil
	}
	var errs []error
	for _, ev := range evs {
		if ev.TemplateID == "" {
			continue
		}
		if ev.MsgID != "" {
			errs = append(errs, s.sentEvent(ctx, app, openID, ev))
			continue
		}
		errs = append(errs, s.record(ctx, app, openID, ev.TemplateID, ev.Status, SourceEvent))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("record subscribe events: %w", err)
	}
	return nil
}

// sentEvent records a subscribe_msg_sent_event entry.
func (s *Service) sentEvent(ctx context.Context, app model.App, openID string, ev model.SubscribeEvent) error {
	if ev.ErrorCode == 0 {
		return nil
	}
	ch := model.ChannelMPSubscribe
	if app == model.AppOA {
		ch = model.ChannelOATemplate
	}
	reason := ev.Status
	if reason == "" {
		reason = fmt.Sprintf("errcode %d", ev.ErrorCode)
	}
	if _, err := s.store.SetDeliveryResultByMsgID(ctx, ch, ev.MsgID, model.DeliveryFailed, ev.ErrorCode, reason); err != nil {
		return err
	}
	if ev.ErrorCode == 43101 {
		return s.store.RevokeConsent(ctx, app, openID, ev.TemplateID)
	}
	return nil
}

// record applies one result of source for templateID.
func (s *Service) record(ctx context.Context, app model.App, openID, templateID, status, source string) error {
	switch status {
	case ConsentReject, ConsentBan:
		return s.store.RevokeConsent(ctx, app, openID, templateID)
	case ConsentAccept:
	default:
		return nil // filter, or something new: nothing to record
	}
	long, err := s.longTerm(ctx, app, templateID)
	if err != nil {
		return err
	}
	if long {
		return s.store.GrantConsent(ctx, app, openID, templateID, true)
	}
	count, err := s.twins.Match(ctx, string(app)+":"+openID+":"+templateID, source)
	if err != nil {
		return fmt.Errorf("consent twins: %w", err)
	}
	if !count {
		return nil
	}
	return s.store.GrantConsent(ctx, app, openID, templateID, false)
}

// longTerm reports whether templateID of app is configured long-term.
func (s *Service) longTerm(ctx context.Context, app model.App, templateID string) (bool, error) {
	all, err := s.cachedTemplates(ctx)
	if err != nil {
		return false, err
	}
	for _, t := range all {
		id := t.MPTemplateID
		if app == model.AppOA {
			id = t.OATemplateID
		}
		if id == templateID && t.LongTerm {
			return true, nil
		}
	}
	return false, nil
}

// knownMPTemplate reports whether templateID is some topic's MP template.
func (s *Service) knownMPTemplate(ctx context.Context, templateID string) (bool, error) {
	all, err := s.cachedTemplates(ctx)
	if err != nil {
		return false, err
	}
	for _, t := range all {
		if t.MPTemplateID == templateID {
			return true, nil
		}
	}
	return false, nil
}

// RecordClientConsents records what wx.requestSubscribeMessage reported
// for the Mini Program user userID (POST /api/mp/consents): results maps
// template ids to accept, reject, ban or filter. Template ids no topic
// uses are ignored. It returns the user's ledger entries for the reported
// templates. An empty or oversized report, or an unknown result, is
// model.ErrInvalid; see RecordSubscribeEvents for how a report and the
// popup event of one acceptance count once.
func (s *Service) RecordClientConsents(ctx context.Context, userID int64, results map[string]string) ([]model.Consent, error) {
	switch {
	case len(results) == 0:
		return nil, model.Invalid(map[string]string{"results": "必填"})
	case len(results) > maxClientResults:
		return nil, model.Invalid(map[string]string{"results": "模板太多"})
	}
	for id, st := range results {
		if id == "" || len(id) > 64 || !printableASCII(id) || strings.ContainsAny(id, " ") {
			return nil, model.Invalid(map[string]string{"results": "模板 id 无效"})
		}
		switch st {
		case ConsentAccept, ConsentReject, ConsentBan, consentFilter:
		default:
			return nil, model.Invalid(map[string]string{"results." + id: "须为 accept、reject、ban 或 filter"})
		}
	}
	u, err := s.users.UserByID(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("record consents: %w", err)
	}
	ids := slices.Sorted(maps.Keys(results))
	var known []string
	for _, id := range ids {
		ok, err := s.knownMPTemplate(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("record consents: %w", err)
		}
		if !ok {
			continue
		}
		known = append(known, id)
		if err := s.record(ctx, model.AppMP, u.OpenID, id, results[id], SourceClient); err != nil {
			return nil, fmt.Errorf("record consents: %w", err)
		}
	}
	all, err := s.store.ConsentsOf(ctx, model.AppMP, u.OpenID)
	if err != nil {
		return nil, fmt.Errorf("record consents: %w", err)
	}
	out := make([]model.Consent, 0, len(known))
	for _, c := range all {
		if slices.Contains(known, c.TemplateID) {
			out = append(out, c)
		}
	}
	return out, nil
}

// TemplateSendFinished records the TEMPLATESENDJOBFINISH result WeChat
// pushed for the OA template message msgID (G2 calls it): "success" keeps
// the delivery sent; "failed:user block" and "failed: system failed" make
// it failed with that reason. An unknown msgid is no error.
func (s *Service) TemplateSendFinished(ctx context.Context, msgID, status string) error {
	status = strings.TrimSpace(status)
	if msgID == "" || status == "" || strings.EqualFold(status, "success") {
		return nil
	}
	reason := status
	if len(reason) > 64 {
		reason = reason[:64]
	}
	if _, err := s.store.SetDeliveryResultByMsgID(ctx, model.ChannelOATemplate, msgID, model.DeliveryFailed, 0, reason); err != nil {
		return fmt.Errorf("template send finished: %w", err)
	}
	return nil
}
