package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"wanjia/model"
)

// Event names as WeChat sends them, lower-cased.
const (
	eventSubscribe       = "subscribe"
	eventUnsubscribe     = "unsubscribe"
	eventScan            = "scan"
	eventClick           = "click"
	eventView            = "view"
	eventMassFinish      = "masssendjobfinish"
	eventTemplateFinish  = "templatesendjobfinish"
	eventPublishFinish   = "publishjobfinish"
	eventMediaCheck      = "wxa_media_check"
	eventSubscribePopup  = "subscribe_msg_popup_event"
	eventSubscribeChange = "subscribe_msg_change_event"
	eventSubscribeSent   = "subscribe_msg_sent_event"
)

// qrScenePrefix marks the EventKey of a follow through a parametric QR code.
const qrScenePrefix = "qrscene_"

// event handles an event: see Handle.
func (s *Service) event(ctx context.Context, snap *snapshot, m model.InboundMessage) (*model.Reply, error) {
	ev := strings.ToLower(m.Event)
	oa := m.App == model.AppOA
	switch {
	case ev == eventSubscribe && oa:
		return s.subscribe(ctx, snap, m)
	case ev == eventUnsubscribe && oa:
		if m.FromUser == "" {
			return s.ignore(ctx, m, "no openid")
		}
		if err := s.d.Followers.Unsubscribe(ctx, m.FromUser, s.eventTime(m)); err != nil {
			return nil, fmt.Errorf("gateway: unsubscribe: %w", err)
		}
		return nil, nil
	case ev == eventScan && oa:
		if m.FromUser == "" || m.EventKey == "" {
			return s.ignore(ctx, m, "no openid or scene")
		}
		err := s.d.Followers.RecordScan(ctx, model.QRScan{OpenID: m.FromUser, Scene: m.EventKey, At: s.eventTime(m)})
		if err != nil {
			return nil, fmt.Errorf("gateway: scan: %w", err)
		}
		s.touch(ctx, m.FromUser, m.CreateTime)
		return nil, nil
	case ev == eventClick && oa:
		s.touch(ctx, m.FromUser, m.CreateTime)
		return s.answer(ctx, snap.matchClick(m.EventKey)), nil
	case ev == eventView && oa:
		s.touch(ctx, m.FromUser, m.CreateTime)
		return nil, nil
	case ev == eventMassFinish:
		return nil, s.result(ctx, model.WeChatResult{
			Kind: model.ResultMass, App: m.App, Key: m.ResultMsgID, Status: m.Status, TotalCount: m.TotalCount,
			FilterCount: m.FilterCount, SentCount: m.SentCount, ErrorCount: m.ErrorCount, ArticleURLs: m.ArticleURLs,
		}, m)
	case ev == eventPublishFinish:
		return nil, s.result(ctx, model.WeChatResult{
			Kind: model.ResultPublish, App: m.App, Key: m.PublishID, Status: strconv.Itoa(m.PublishStatus),
			PublishStatus: m.PublishStatus, ArticleID: m.ArticleID, ArticleURLs: m.ArticleURLs,
		}, m)
	case ev == eventMediaCheck:
		return nil, s.result(ctx, model.WeChatResult{
			Kind: model.ResultMediaCheck, App: m.App, Key: m.TraceID, Status: m.Suggest, Suggest: m.Suggest,
			CheckLabel: m.CheckLabel,
		}, m)
	case ev == eventTemplateFinish:
		if m.ResultMsgID == "" {
			return s.ignore(ctx, m, "no msg id")
		}
		if err := s.d.Templates.TemplateSendFinished(ctx, m.ResultMsgID, m.Status); err != nil {
			return nil, fmt.Errorf("gateway: template result: %w", err)
		}
		return nil, nil
	case ev == eventSubscribePopup || ev == eventSubscribeChange || ev == eventSubscribeSent:
		if m.FromUser == "" || len(m.SubscribeEvents) == 0 {
			return s.ignore(ctx, m, "no openid or templates")
		}
		if err := s.d.Consents.RecordSubscribeEvents(ctx, m.App, m.FromUser, m.SubscribeEvents); err != nil {
			return nil, fmt.Errorf("gateway: subscribe-message event: %w", err)
		}
		return nil, nil
	}
	return s.ignore(ctx, m, "not handled")
}

// ignore logs an event that is acknowledged without processing: its type
// only, never its content.
func (s *Service) ignore(ctx context.Context, m model.InboundMessage, why string) (*model.Reply, error) {
	s.log.InfoContext(ctx, "gateway: event acknowledged, not processed", "app", m.App, "event", clipBytes(m.Event, 64),
		"why", why)
	return nil, nil
}

// eventTime is when WeChat says the event happened (now when it did not).
func (s *Service) eventTime(m model.InboundMessage) time.Time {
	if !m.CreateTime.IsZero() {
		return m.CreateTime
	}
	return s.now()
}

// subscribe records a follow (and the QR code it came through), queues
// fetching the follower's unionid and tags, and answers with the greeting.
func (s *Service) subscribe(ctx context.Context, snap *snapshot, m model.InboundMessage) (*model.Reply, error) {
	if m.FromUser == "" {
		return s.ignore(ctx, m, "no openid")
	}
	at := s.eventTime(m)
	scene, viaQR := strings.CutPrefix(m.EventKey, qrScenePrefix)
	if !viaQR {
		scene = ""
	}
	if _, err := s.d.Followers.Subscribe(ctx, m.FromUser, "", scene, at); err != nil {
		return nil, fmt.Errorf("gateway: subscribe: %w", err)
	}
	if scene != "" {
		if err := s.d.Followers.RecordScan(ctx, model.QRScan{OpenID: m.FromUser, Scene: scene, Subscribe: true, At: at}); err != nil {
			return nil, fmt.Errorf("gateway: subscribe scan: %w", err)
		}
	}
	payload, err := json.Marshal(followerTask{OpenID: m.FromUser})
	if err == nil {
		err = s.d.Jobs.Enqueue(ctx, TaskFollowerSync, payload, "follower:"+m.FromUser+":"+strconv.FormatInt(at.Unix(), 10))
	}
	if err != nil {
		// The follow is recorded; only its unionid link waits for the next follow.
		s.log.WarnContext(ctx, "gateway: follower sync not queued", "err", err)
	}
	s.lastTouch(m.FromUser)
	return s.answer(ctx, snap.greeting()), nil
}

// lastTouch notes that the follower's activity was just recorded.
func (s *Service) lastTouch(openID string) {
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	if len(s.touched) >= maxTouched {
		clear(s.touched)
	}
	s.touched[openID] = s.now()
}

// result records a pushed result and, when sinks are registered for its
// kind, queues handing it to them.
func (s *Service) result(ctx context.Context, r model.WeChatResult, m model.InboundMessage) error {
	if r.Key == "" {
		_, err := s.ignore(ctx, m, "no result id")
		return err
	}
	r.ReceivedAt = s.now()
	if _, err := s.d.Results.RecordResult(ctx, r); err != nil {
		return fmt.Errorf("gateway: %s result: %w", r.Kind, err)
	}
	if len(s.sinksOf(r.Kind)) == 0 {
		return nil
	}
	payload, err := json.Marshal(resultTask{Kind: r.Kind, Key: r.Key})
	if err != nil {
		return fmt.Errorf("gateway: %s result: %w", r.Kind, err)
	}
	id := "result:" + string(r.Kind) + ":" + r.Key + ":" + r.Status
	if err := s.d.Jobs.Enqueue(ctx, TaskResult, payload, id); err != nil {
		return fmt.Errorf("gateway: %s result: queue sinks: %w", r.Kind, err)
	}
	return nil
}
