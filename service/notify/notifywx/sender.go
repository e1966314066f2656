// Package notifywx sends the notification centre's WeChat messages
// (notify.Sender) with the wechat client: Mini Program subscribe messages,
// Official Account template and customer-service messages, each through
// the app's token service (one refresh and retry on a rejected token) and
// wechat.Translate, with failures classified for the delivery worker.
package notifywx

import (
	"context"
	"fmt"
	"strconv"

	"github.com/silenceper/wechat/v2/miniprogram/subscribe"
	"github.com/silenceper/wechat/v2/officialaccount/message"

	"wanjia/service/notify"
	"wanjia/wechat"
)

// Sender implements notify.Sender over a wechat.Client.
type Sender struct {
	wx *wechat.Client
	// miniprogramState is subscribe/send's miniprogram_state ("" is
	// formal, the released version).
	miniprogramState string
}

var _ notify.Sender = (*Sender)(nil)

// New returns the sender over wx. state is the Mini Program version a
// subscribe message opens: "" or "formal" (released), "trial", "developer".
func New(wx *wechat.Client, state string) *Sender {
	return &Sender{wx: wx, miniprogramState: state}
}

// MPAppID returns the Mini Program's app id (its send-rate cap).
func (s *Sender) MPAppID() string { return s.wx.MPAppID() }

// OAAppID returns the Official Account's app id (its send-rate cap).
func (s *Sender) OAAppID() string { return s.wx.OAAppID() }

// SendSubscribe sends a subscribe message and returns WeChat's msgid.
func (s *Sender) SendSubscribe(ctx context.Context, m notify.SubscribeMessage) (string, error) {
	data := make(map[string]*subscribe.DataItem, len(m.Data))
	for k, v := range m.Data {
		data[k] = &subscribe.DataItem{Value: v}
	}
	msg := &subscribe.Message{
		ToUser: m.ToUser, TemplateID: m.TemplateID, Page: m.Page, Data: data,
		MiniprogramState: s.miniprogramState, Lang: "zh_CN",
	}
	var id int64
	err := s.wx.Tokens(s.wx.MPAppID()).DoContext(ctx, func(context.Context) error {
		var err error
		id, err = s.wx.MP().GetSubscribe().SendGetMsgID(msg)
		return err
	})
	if err != nil {
		return "", Classify("subscribe/send", err)
	}
	return strconv.FormatInt(id, 10), nil
}

// SendTemplate sends a template message and returns WeChat's msgid. With
// MPPage it opens that Mini Program page.
func (s *Sender) SendTemplate(ctx context.Context, m notify.TemplateMessage) (string, error) {
	data := make(map[string]*message.TemplateDataItem, len(m.Data))
	for k, v := range m.Data {
		data[k] = &message.TemplateDataItem{Value: v}
	}
	msg := &message.TemplateMessage{ToUser: m.ToUser, TemplateID: m.TemplateID, URL: m.URL, Data: data, ClientMsgID: m.ClientMsgID}
	if m.MPPage != "" {
		msg.MiniProgram.AppID, msg.MiniProgram.PagePath = s.wx.MPAppID(), m.MPPage
	}
	var id int64
	err := s.wx.Tokens(s.wx.OAAppID()).DoContext(ctx, func(context.Context) error {
		var err error
		id, err = s.wx.OA().GetTemplate().Send(msg)
		return err
	})
	if err != nil {
		return "", Classify("template/send", err)
	}
	return strconv.FormatInt(id, 10), nil
}

// SendCustomText sends a customer-service text message.
func (s *Sender) SendCustomText(ctx context.Context, openID, text string) error {
	err := s.wx.Tokens(s.wx.OAAppID()).DoContext(ctx, func(context.Context) error {
		return s.wx.OA().GetCustomerMessageManager().Send(message.NewCustomerTextMessage(openID, text))
	})
	if err != nil {
		return Classify("custom/send", err)
	}
	return nil
}

// retryable are the errcodes worth another try: system busy, the minute
// and daily frequency limits, and a token still rejected after the token
// service's one refresh.
var retryable = map[int]bool{-1: true, 45009: true, 45011: true, 40001: true, 42001: true, 40014: true}

// Classify turns a failed call into a *notify.SendError: 43101 is no
// consent; -1, 45009, 45011, token errcodes and errors without an errcode
// (network, timeouts, Redis down) are retryable; other errcodes (40003
// bad openid, 40037 bad template, 47003 bad data, 45015 outside the
// window…) are permanent. Err is the translated error (no tokens in it).
func Classify(call string, err error) *notify.SendError {
	code, ok := wechat.Errcode(err)
	se := &notify.SendError{Errcode: code, Err: wechat.Translate(fmt.Errorf("%s: %w", call, err))}
	switch {
	case !ok:
		se.Retry = true
	case code == 43101:
		se.NoConsent = true
	case retryable[code]:
		se.Retry = true
	}
	return se
}
