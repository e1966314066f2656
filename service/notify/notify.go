// Package notify is the notification centre: one call, Notify, that every
// area uses to tell a person something. It validates the notice against
// the topic's templates, writes it to an outbox (in the caller's
// transaction when there is one) and hands it to a background task, which
// picks the channel the person can be reached on — a Mini Program
// subscribe message when she consented, an Official Account template
// message when she follows, a customer-service message inside the 48 h
// window — under a per-app send-rate cap and outside quiet hours, and logs
// the outcome per push and per person.
//
// Delivery is idempotent: a notice's DedupeKey makes Notify a no-op the
// second time, and a delivery moves pending → sending → final with
// conditional UPDATEs under a lease fenced by its attempt count, so a retry
// or a restart never sends it twice. The one window left is a worker killed
// hard (kill -9, power loss) after WeChat accepted a send and before the
// result was written: the delivery is sent again once its lease ends
// (at-least-once). OA template messages carry client_msg_id, which WeChat
// dedupes; subscribe messages have no such id.
//
// The package imports model only. Its adapters live beside it:
// notifywx (WeChat channels), notifyredis (send-rate cap, consent twins)
// and notifyjob (the asynq tasks and sweeper).
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"wanjia/model"
)

// Users is what notify needs from the user store (store.Users satisfies it).
type Users interface {
	UserByID(ctx context.Context, id int64) (model.User, error)
}

// Followers is what notify needs from the OA follower table
// (model.FollowerStore, G2's store.Followers).
type Followers interface {
	FollowerByOpenID(ctx context.Context, openID string) (model.Follower, error)
	FollowerByUnionID(ctx context.Context, unionID string) (model.Follower, error)
}

// MessageLog tells when a follower last wrote (model.MessageLogStore, G1's
// store.Messages): the 48 h customer-service window.
type MessageLog interface {
	LastMessageAt(ctx context.Context, app model.App, openID string) (time.Time, error)
}

// SubscribeMessage is a Mini Program subscribe message. Data is by
// template key ("thing1") and already validated.
type SubscribeMessage struct {
	ToUser     string
	TemplateID string
	Page       string
	Data       map[string]string
}

// TemplateMessage is an Official Account template message. MPPage, when
// set, opens the Mini Program (it wins over URL). ClientMsgID makes WeChat
// drop a resend.
type TemplateMessage struct {
	ToUser      string
	TemplateID  string
	URL         string
	MPPage      string
	ClientMsgID string
	Data        map[string]string
}

// Sender sends on the WeChat channels (notifywx.Sender over the wechat
// client). A failed send returns a *SendError.
type Sender interface {
	SendSubscribe(ctx context.Context, m SubscribeMessage) (msgID string, err error)
	SendTemplate(ctx context.Context, m TemplateMessage) (msgID string, err error)
	SendCustomText(ctx context.Context, openID, text string) error
	MPAppID() string
	OAAppID() string
}

// SendError is how a Sender reports a failed send.
type SendError struct {
	Errcode   int  // WeChat's errcode; 0 for a network or decoding error
	Retry     bool // worth retrying: -1, 45009, network errors
	NoConsent bool // 43101: the user gave no (or no more) consent
	Err       error
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// Limiter caps sends per app id across every copy (notifyredis.Limiter).
// Wait returns when a send may go out, or ctx's error.
type Limiter interface {
	Wait(ctx context.Context, appID string) error
}

// Queue hands deliveries to the background worker (notifyjob.Queue).
// Enqueue with a task id already known is a no-op success; at zero or in
// the past means now.
type Queue interface {
	Enqueue(ctx context.Context, taskID string, deliveryID int64, at time.Time) error
}

// Twins tells the second report of one subscribe-message acceptance from
// the first (notifyredis.Twins): the Mini Program's report and WeChat's
// popup event describe the same acceptance. Match records a report of
// source ("client" or "event") for key and reports whether it counts: false
// when it matches an uncounted report of the other source within the
// window.
type Twins interface {
	Match(ctx context.Context, key, source string) (bool, error)
}

// Transactor runs fn in a transaction carried in ctx (store.DB).
type Transactor interface {
	WithTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Auditor appends to the audit log (auth.Auth).
type Auditor interface {
	Audit(ctx context.Context, action, targetType, targetID string, before, after any) error
}

// ErrPermanent marks a delivery failure that retrying cannot fix (43101,
// an invalid template): the task runner must not retry it
// (notifyjob turns it into job.SkipRetry).
var ErrPermanent = errors.New("permanent")

func permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// Options tune the service. Zero values take the defaults.
type Options struct {
	// QuietHours is when non-urgent notices wait, "22:00-08:00" in
	// Asia/Shanghai by default; "off" disables it.
	QuietHours string
	// Lease is how long a worker holds a delivery it sends (default 2 min).
	Lease time.Duration
	// StaleAfter is when the sweeper gives a delivery that is still
	// pending a new task (default 15 min).
	StaleAfter time.Duration
	// SweepBatch bounds the deliveries one sweep hands over (default 500).
	SweepBatch int
	// MaxAttempts bounds the claims of one delivery before it is failed
	// (default 12).
	MaxAttempts int
	// CustomWindow is the customer-service window after a follower wrote
	// (default 48 h).
	CustomWindow time.Duration
	// SendTimeout bounds one send and its bookkeeping, which a shutdown
	// does not cut short (default 20 s).
	SendTimeout time.Duration
	// TemplateTTL is how long a copy trusts its cached templates (default
	// 10 s; an edit through this copy is seen at once).
	TemplateTTL time.Duration
	// FeedWindow is how many deliveries of one bulk push (NotifyMany) are
	// handed to the queue at a time (default 2000): the feeder tops the
	// push up to it on every sweep. It should exceed the send-rate cap
	// times the sweep interval, so the workers never run dry.
	FeedWindow int
}

// Default option values.
const (
	DefaultQuietHours   = "22:00-08:00"
	DefaultLease        = 2 * time.Minute
	DefaultStaleAfter   = 15 * time.Minute
	DefaultSweepBatch   = 500
	DefaultMaxAttempts  = 12
	DefaultCustomWindow = 48 * time.Hour
	DefaultSendTimeout  = 20 * time.Second
	DefaultTemplateTTL  = 10 * time.Second
	DefaultFeedWindow   = 2000
)

// Deps are what the service needs. Store, Users, Sender, Limiter, Queue,
// Twins and Tx are required. Without Followers the OA channels are tried
// only for notices addressed to an OA openid (WeChat then decides);
// without Messages there is no customer-service channel.
type Deps struct {
	Store      model.NotifyStore
	Users      Users
	Followers  Followers
	Messages   MessageLog
	Sender     Sender
	Limiter    Limiter
	Queue      Queue
	Twins      Twins
	Tx         Transactor
	Audit      Auditor // nil: template edits are not audited
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil records nothing
	Now        func() time.Time
	Options    Options
}

// Service is the notification centre. It is safe for concurrent use.
type Service struct {
	store     model.NotifyStore
	users     Users
	followers Followers
	messages  MessageLog
	sender    Sender
	limiter   Limiter
	queue     Queue
	twins     Twins
	tx        Transactor
	audit     Auditor
	log       *slog.Logger
	now       func() time.Time
	opts      Options
	quiet     quietHours
	results   *prometheus.CounterVec

	mu        sync.Mutex
	templates map[string]model.NotifyTemplate
	loadedAt  time.Time
}

// New returns the service over d.
func New(d Deps) (*Service, error) {
	switch {
	case d.Store == nil, d.Users == nil, d.Tx == nil:
		return nil, errors.New("notify: store, users and transactor are required")
	case d.Sender == nil, d.Limiter == nil, d.Queue == nil, d.Twins == nil:
		return nil, errors.New("notify: sender, limiter, queue and twins are required")
	}
	o := d.Options
	if o.QuietHours == "" {
		o.QuietHours = DefaultQuietHours
	}
	q, err := parseQuietHours(o.QuietHours)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	o.Lease = orDuration(o.Lease, DefaultLease)
	o.StaleAfter = orDuration(o.StaleAfter, DefaultStaleAfter)
	o.CustomWindow = orDuration(o.CustomWindow, DefaultCustomWindow)
	o.SendTimeout = orDuration(o.SendTimeout, DefaultSendTimeout)
	o.TemplateTTL = orDuration(o.TemplateTTL, DefaultTemplateTTL)
	if o.SweepBatch <= 0 {
		o.SweepBatch = DefaultSweepBatch
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.FeedWindow <= 0 {
		o.FeedWindow = DefaultFeedWindow
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Service{
		store: d.Store, users: d.Users, followers: d.Followers, messages: d.Messages, sender: d.Sender,
		limiter: d.Limiter, queue: d.Queue, twins: d.Twins, tx: d.Tx, audit: d.Audit, log: d.Logger, now: d.Now,
		opts: o, quiet: q,
	}
	s.results = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wanjia_notify_deliveries_total",
		Help: "Deliveries that ended, by topic, channel and status (sent, failed, no_consent, no_channel, skipped).",
	}, []string{"topic", "channel", "status"})
	if d.Registerer != nil {
		if err := d.Registerer.Register(s.results); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("notify: metrics: %w", err)
			}
			s.results = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return s, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// TaskID is the queue task id of a delivery's first task.
func TaskID(deliveryID int64) string { return "notify:" + strconv.FormatInt(deliveryID, 10) }

// Limits of a notice.
const (
	maxDedupeKey  = 128
	maxFields     = 20
	maxFieldName  = 32
	maxFieldValue = 500
	maxPage       = 512
	maxURL        = 1024
	maxPushTitle  = 128
)

// Notify accepts notice n for recipient r: exactly one of r's ids set,
// n.Topic a configured topic, n.DedupeKey present (printable ASCII, ≤ 128
// bytes) and n.Fields fitting the topic's templates — otherwise
// model.ErrInvalid naming the problem. A notice whose DedupeKey was
// accepted before is a no-op success. For a staff member the console alert
// is written at once (with the caller's transaction); for a person the
// notice is queued: delivered now, or at the end of the quiet hours unless
// n.Urgent. Inside a transaction (store.WithTx in ctx) nothing is queued
// before it commits: the sweeper hands such notices over within its
// interval.
func (s *Service) Notify(ctx context.Context, r model.Recipient, n model.Notice) error {
	tpl, err := s.validNotice(ctx, r, &n)
	if err != nil {
		return err
	}
	now := s.now()
	d := model.Delivery{
		PushID: n.PushID, Topic: n.Topic, DedupeKey: n.DedupeKey, UserID: r.UserID, OpenID: r.OpenID, StaffID: r.StaffID,
		Fields: n.Fields, Page: n.Page, URL: n.URL, Urgent: n.Urgent, NotBefore: now,
	}
	if r.StaffID != 0 {
		return s.alertStaff(ctx, d, now)
	}
	if !n.Urgent {
		d.NotBefore = s.quiet.release(now)
	}
	inTx := s.store.InTx(ctx)
	if !inTx {
		d.EnqueuedAt = now
	}
	d, created, err := s.store.CreateDelivery(ctx, d)
	if err != nil {
		return fmt.Errorf("notify %s: %w", tpl.Topic, err)
	}
	if !created || inTx {
		return nil
	}
	if err := s.queue.Enqueue(ctx, TaskID(d.ID), d.ID, d.NotBefore); err != nil {
		// The notice is durable; the sweeper hands it over on its next run.
		s.log.WarnContext(ctx, "notify: enqueue failed; the sweeper will retry", "delivery_id", d.ID, "err", err)
		if merr := s.store.MarkEnqueued(context.WithoutCancel(ctx), []int64{d.ID}, time.Time{}); merr != nil {
			s.log.WarnContext(ctx, "notify: unmark enqueued", "delivery_id", d.ID, "err", merr)
		}
	}
	return nil
}

// alertStaff writes a staff notice as delivered to the console, with its
// alert, in one transaction (the caller's when there is one).
func (s *Service) alertStaff(ctx context.Context, d model.Delivery, now time.Time) error {
	d.Status, d.Channel, d.SentAt, d.EnqueuedAt = model.DeliverySent, model.ChannelConsole, now, now
	return s.tx.WithTx(ctx, func(ctx context.Context) error {
		got, created, err := s.store.CreateDelivery(ctx, d)
		if err != nil {
			return fmt.Errorf("notify staff: %w", err)
		}
		if !created {
			return nil
		}
		_, err = s.store.CreateAlert(ctx, model.StaffAlert{
			StaffID: d.StaffID, DeliveryID: got.ID, Topic: d.Topic, Fields: d.Fields, Page: d.Page, URL: d.URL,
			Urgent: d.Urgent, CreatedAt: now,
		})
		if err != nil {
			return fmt.Errorf("notify staff: %w", err)
		}
		s.results.WithLabelValues(d.Topic, model.ChannelConsole, model.DeliverySent).Inc()
		return nil
	})
}

// validNotice checks r and n (normalising n's page) and returns the
// topic's template.
func (s *Service) validNotice(ctx context.Context, r model.Recipient, n *model.Notice) (model.NotifyTemplate, error) {
	problems := map[string]string{}
	if msg := recipientProblem(r); msg != "" {
		problems["recipient"] = msg
	}
	if msg := dedupeKeyProblem(n.DedupeKey); msg != "" {
		problems["dedupe_key"] = msg
	}
	return s.validContent(ctx, r.StaffID != 0, n, problems)
}

// recipientProblem says what is wrong with r, or "".
func recipientProblem(r model.Recipient) string {
	set := 0
	for _, b := range []bool{r.UserID != 0, r.OpenID != "", r.StaffID != 0} {
		if b {
			set++
		}
	}
	switch {
	case set != 1:
		return "须且只须指定一个通知对象"
	case r.UserID < 0 || r.StaffID < 0:
		return "通知对象无效"
	case r.OpenID != "" && (len(r.OpenID) > 64 || !printableASCII(r.OpenID)):
		return "openid 无效"
	}
	return ""
}

// dedupeKeyProblem says what is wrong with a dedupe key, or "".
func dedupeKeyProblem(key string) string {
	switch {
	case key == "":
		return "必填"
	case len(key) > maxDedupeKey || !printableASCII(key):
		return "须为不超过 128 个可见 ASCII 字符"
	}
	return ""
}

// validContent checks n's fields, page, url and push id against its topic
// (adding to problems; staff notices skip the template rules), normalises
// n's page and returns the topic's template.
func (s *Service) validContent(ctx context.Context, staff bool, n *model.Notice, problems map[string]string) (model.NotifyTemplate, error) {
	if len(n.Fields) > maxFields {
		problems["fields"] = "字段太多"
	}
	for k, v := range n.Fields {
		if k == "" || len(k) > maxFieldName || len([]rune(v)) > maxFieldValue {
			problems["fields"] = "字段名或内容过长"
			break
		}
	}
	n.Page = strings.TrimPrefix(strings.TrimSpace(n.Page), "/")
	if len(n.Page) > maxPage || !printableASCII(n.Page) {
		problems["page"] = "页面路径无效"
	}
	if n.URL != "" && (len(n.URL) > maxURL || !(strings.HasPrefix(n.URL, "https://") || strings.HasPrefix(n.URL, "http://")) ||
		!printableASCII(n.URL)) {
		problems["url"] = "须为 http(s) 链接"
	}
	if n.PushID < 0 {
		problems["push_id"] = "无效"
	}
	if err := model.Invalid(problems); err != nil {
		return model.NotifyTemplate{}, err
	}
	tpl, err := s.template(ctx, n.Topic)
	if err != nil {
		return model.NotifyTemplate{}, err
	}
	if staff {
		return tpl, nil // console alerts show the fields as they are
	}
	if tpl.MPTemplateID != "" {
		if _, err := render(tpl.MPFields, n.Fields, false); err != nil {
			return model.NotifyTemplate{}, err
		}
	}
	if tpl.OATemplateID != "" {
		if _, err := render(tpl.OAFields, n.Fields, true); err != nil {
			return model.NotifyTemplate{}, err
		}
	}
	return tpl, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// template returns the topic's template from the cache (reloaded after
// TemplateTTL), or an ErrInvalid for an unknown topic.
func (s *Service) template(ctx context.Context, topic string) (model.NotifyTemplate, error) {
	all, err := s.cachedTemplates(ctx)
	if err != nil {
		return model.NotifyTemplate{}, err
	}
	t, ok := all[topic]
	if !ok {
		return model.NotifyTemplate{}, model.Invalid(map[string]string{"topic": "未知的通知主题"})
	}
	return t, nil
}

func (s *Service) cachedTemplates(ctx context.Context) (map[string]model.NotifyTemplate, error) {
	s.mu.Lock()
	all, at := s.templates, s.loadedAt
	s.mu.Unlock()
	if all != nil && s.now().Sub(at) < s.opts.TemplateTTL && s.now().Sub(at) >= 0 {
		return all, nil
	}
	list, err := s.store.ListTemplates(ctx)
	if err != nil {
		return nil, fmt.Errorf("notify templates: %w", err)
	}
	all = make(map[string]model.NotifyTemplate, len(list))
	for _, t := range list {
		all[t.Topic] = t
	}
	s.mu.Lock()
	s.templates, s.loadedAt = all, s.now()
	s.mu.Unlock()
	return all, nil
}

func (s *Service) forgetTemplates() {
	s.mu.Lock()
	s.templates = nil
	s.mu.Unlock()
}

// CreatePush starts a broadcast of topic (a configured one) titled title
// (1–128 characters) and returns its id, for the notices of the broadcast
// to carry as PushID. The staff member in ctx, if any, is its author.
func (s *Service) CreatePush(ctx context.Context, title, topic string) (int64, error) {
	title = strings.TrimSpace(title)
	if title == "" || len([]rune(title)) > maxPushTitle {
		return 0, model.Invalid(map[string]string{"title": "须为 1–128 个字"})
	}
	if _, err := s.template(ctx, topic); err != nil {
		return 0, err
	}
	var by int64
	if p, ok := model.StaffFrom(ctx); ok {
		by = p.SubjectID
	}
	p, err := s.store.CreatePush(ctx, model.Push{Title: title, Topic: topic, CreatedBy: by, CreatedAt: s.now()})
	if err != nil {
		return 0, fmt.Errorf("create push: %w", err)
	}
	return p.ID, nil
}
