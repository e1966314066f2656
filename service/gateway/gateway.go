// Package gateway answers what WeChat pushes to wanjia's callbacks, once
// the transport (api/wechat.go) has checked, decrypted and deduplicated it:
//
//   - crisis words first, on every text and recognised voice message: an
//     immediate reply with 110 and 12338 guidance, an alert to the on-duty
//     staff through the notification centre (in a job, so the reply is never
//     delayed) and the metric wanjia_crisis_messages_total{app};
//   - then the auto-reply rules of the Official Account, kept in the
//     database, edited by staff and held in memory (see "Rules" below);
//   - events: follows and unfollows (the follower table, with qrscene_
//     attribution), QR-code scans, menu clicks and views, the results of mass
//     sends, publishes and media checks (recorded and handed to the result
//     sinks later areas register), template-send results and subscribe-message
//     consent events (forwarded to the notification centre).
//
// It also holds the staff use cases of the auto-reply rules, the crisis
// words, the custom menu and the follower list, every write audited.
//
// # Rules
//
// A message is answered by the first rule that matches, in this order:
// keyword rules (text and recognised voice; by priority, higher first, then
// exact before contains before regex, then by id), message-type rules
// (likewise by priority), then the default rule. A follow is answered by the
// subscribe rule, a menu CLICK by the click rule listing the button's key.
// Exact and contains compare the normalised text (see Normalize: full-width
// folded to half-width, lower case, spaces and punctuation removed), so
// "１２３３８？" is "12338"; regex rules match RE2 patterns against the
// message as sent, trimmed, at most 2,048 bytes of it.
//
// Rules and crisis settings are cached in memory. Each copy of the service
// checks a version counter in Redis at most once a second (Versions) and
// reloads from the database when it moved; a staff write bumps it. While
// Redis cannot be read, a copy reloads from the database every 30 seconds.
//
// # Providers
//
// A rule may name a provider ("lessons", "fairs", "campaign" are seeded)
// whose answer is computed when the rule matches: the latest lessons, the
// upcoming fairs, the current campaign. Areas register theirs with
// RegisterProvider. While no provider of that name is registered, or when
// it fails, answers nil or takes longer than ProviderTimeout (300 ms), the
// rule's static reply answers instead: the seeded texts point to the Mini
// Program pages, so the intents work before those areas exist.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"wanjia/model"
)

// Notifier sends a notice through the notification centre (notify.Service
// satisfies it).
type Notifier interface {
	Notify(ctx context.Context, r model.Recipient, n model.Notice) error
}

// ConsentRecorder records subscribe-message events in the consent ledger
// (notify.Service satisfies it).
type ConsentRecorder interface {
	RecordSubscribeEvents(ctx context.Context, app model.App, openID string, evs []model.SubscribeEvent) error
}

// TemplateResults records the outcome of an OA template message
// (TEMPLATESENDJOBFINISH; notify.Service satisfies it).
type TemplateResults interface {
	TemplateSendFinished(ctx context.Context, msgID string, status string) error
}

// Enqueuer queues a background task of taskType with payload under the
// caller-chosen id: enqueuing an id already queued, running or recently
// done is a success that runs nothing (adapters.Jobs over *job.Runner).
type Enqueuer interface {
	Enqueue(ctx context.Context, taskType string, payload []byte, id string) error
}

// Versions reads and bumps counters shared by every copy of the service
// (adapters.Versions over Redis). A key never bumped reads 0.
type Versions interface {
	Version(ctx context.Context, key string) (int64, error)
	Bump(ctx context.Context, key string) error
}

// FollowerInfo is what WeChat's user/info tells of a follower.
type FollowerInfo struct {
	UnionID    string
	TagIDs     []int
	Subscribed bool
}

// MPCustomer sends a customer-service text message to a Mini Program user
// (within 48 h of her message; adapters.MP over wechat.Client).
type MPCustomer interface {
	SendMPText(ctx context.Context, openID, text string) error
}

// OA is what the gateway needs from the Official Account's API
// (adapters.OA over wechat.Client). Errors are model kinds (wechat.Translate).
type OA interface {
	// PublishMenu replaces the custom menu WeChat shows (menu/create).
	PublishMenu(ctx context.Context, buttons []model.MenuButton) error
	// FollowerInfo fetches user/info of an openid.
	FollowerInfo(ctx context.Context, openID string) (FollowerInfo, error)
}

// FollowerStore is the follower table plus what the gateway records beside
// it (store.Followers satisfies it).
type FollowerStore interface {
	model.FollowerStore
	// SetFollowerProfile records the unionid (when none is recorded) and
	// the tags WeChat reports; an unknown openid is ErrNotFound.
	SetFollowerProfile(ctx context.Context, openID, unionID string, tagIDs []int) error
	// RecordScan stores a QR-code scan once.
	RecordScan(ctx context.Context, s model.QRScan) error
}

// StaffDirectory finds the staff to alert (store.Staff satisfies it).
type StaffDirectory interface {
	StaffByID(ctx context.Context, id int64) (model.Staff, error)
	ListStaff(ctx context.Context, p model.Page) ([]model.Staff, string, error)
}

// Auditor appends to the audit log (auth.Auth satisfies it).
type Auditor interface {
	Audit(ctx context.Context, action, targetType, targetID string, before, after any) error
}

// Transactor runs fn in a database transaction carried in ctx (store.DB).
type Transactor interface {
	WithTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Provider computes a dynamic answer for a rule that names it. A nil reply
// (or an error) lets the rule's static reply answer.
type Provider func(ctx context.Context) (*model.Reply, error)

// ResultSink receives a recorded mass-send, publish or media-check result,
// in a background task: an error retries the task, so sinks must be
// idempotent (a result can also be delivered twice).
type ResultSink func(ctx context.Context, r model.WeChatResult) error

// Deps are what New needs. Every store and service is required; zero
// tunables take their defaults.
type Deps struct {
	Rules     model.ReplyRuleStore
	Settings  model.GatewaySettingsStore
	Followers FollowerStore
	Menus     model.MenuStore
	Results   model.ResultStore
	Staff     StaffDirectory
	Tx        Transactor
	Audit     Auditor
	Jobs      Enqueuer
	Versions  Versions
	OA        OA
	// MPCustomer sends Mini Program customer-service messages: the crisis
	// guidance reaches a Mini Program user this way. Nil logs an error
	// instead (the staff alert still goes out).
	MPCustomer MPCustomer
	Notifier   Notifier
	Consents   ConsentRecorder
	Templates  TemplateResults

	Logger     *slog.Logger          // nil discards
	Registerer prometheus.Registerer // receives wanjia_crisis_messages_total; nil records nothing
	Now        func() time.Time      // nil is time.Now

	// CrisisReply answers a message with a crisis word; empty is
	// DefaultCrisisReply.
	CrisisReply string
	// ProviderTimeout bounds a provider's answer; 0 is 300 ms.
	ProviderTimeout time.Duration
	// RefreshInterval is how often a copy checks the rules' version; 0 is 1 s.
	RefreshInterval time.Duration
	// StaleAfter is how old the cached rules may get while Redis cannot be
	// read before they are reloaded from the database anyway; 0 is 30 s.
	StaleAfter time.Duration
}

// Defaults of Deps.
const (
	DefaultProviderTimeout = 300 * time.Millisecond
	DefaultRefreshInterval = time.Second
	DefaultStaleAfter      = 30 * time.Second
)

// Service is the gateway. It is safe for concurrent use.
type Service struct {
	d   Deps
	log *slog.Logger
	now func() time.Time

	crisisTotal *prometheus.CounterVec

	snap      atomic.Pointer[snapshot]
	lastCheck atomic.Int64 // unix nanoseconds of the last version check
	loadMu    sync.Mutex   // serialises reloads
	warned    atomic.Int64 // unix nanoseconds of the last "redis unreadable" warning

	mu        sync.RWMutex
	providers map[string]Provider
	sinks     map[model.ResultKind][]ResultSink

	touchMu sync.Mutex
	touched map[string]time.Time // openid → last Touch by this copy

	fallback sync.WaitGroup // crisis alerts sent directly because the queue was down
}

// New returns the gateway over d. It fails when a dependency is missing or
// the metric cannot be registered.
func New(d Deps) (*Service, error) {
	switch {
	case d.Rules == nil, d.Settings == nil, d.Followers == nil, d.Menus == nil, d.Results == nil, d.Staff == nil:
		return nil, errors.New("gateway: stores required")
	case d.Tx == nil, d.Audit == nil, d.Jobs == nil, d.Versions == nil, d.OA == nil:
		return nil, errors.New("gateway: transactor, auditor, job queue, versions and OA client required")
	case d.Notifier == nil, d.Consents == nil, d.Templates == nil:
		return nil, errors.New("gateway: notifier, consent recorder and template results required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if strings.TrimSpace(d.CrisisReply) == "" {
		d.CrisisReply = DefaultCrisisReply
	}
	if d.ProviderTimeout <= 0 {
		d.ProviderTimeout = DefaultProviderTimeout
	}
	if d.RefreshInterval <= 0 {
		d.RefreshInterval = DefaultRefreshInterval
	}
	if d.StaleAfter <= 0 {
		d.StaleAfter = DefaultStaleAfter
	}
	crisis := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wanjia_crisis_messages_total",
		Help: "Messages to the Official Account or Mini Program that held a crisis word.",
	}, []string{"app"})
	if d.Registerer != nil {
		if err := d.Registerer.Register(crisis); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("gateway: metrics: %w", err)
			}
			crisis = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return &Service{
		d: d, log: d.Logger, now: d.Now, crisisTotal: crisis,
		providers: map[string]Provider{}, sinks: map[model.ResultKind][]ResultSink{},
		touched: map[string]time.Time{},
	}, nil
}

// RegisterProvider makes p the dynamic answer of the rules that name it
// (see the package doc); a nil p removes it. Safe at any time.
func (s *Service) RegisterProvider(name string, p Provider) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p == nil {
		delete(s.providers, name)
		return
	}
	s.providers[name] = p
}

// RegisterResultSink adds sink to the receivers of results of kind (mass
// sends and publishes for the articles area, media checks for the
// nominations area). Safe at any time.
func (s *Service) RegisterResultSink(kind model.ResultKind, sink ResultSink) {
	if sink == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sinks[kind] = append(s.sinks[kind], sink)
}

func (s *Service) provider(name string) Provider {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.providers[name]
}

func (s *Service) sinksOf(kind model.ResultKind) []ResultSink {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sinks[kind]
}

// Handle answers one message or event from WeChat and returns the passive
// reply, or nil to answer "success". It answers from memory (rules cached,
// crisis alerts and other slow work queued), well within WeChat's 5 s.
//
// It returns an error only when something that must be recorded could not
// be (the follower table, a result, the consent ledger): the message
// should then be processed again on WeChat's retry. Everything Handle
// writes is idempotent, so a message processed twice records nothing
// twice. A message with a crisis word always gets the crisis reply: if the
// alert cannot be queued it is sent directly, in the background.
func (s *Service) Handle(ctx context.Context, m model.InboundMessage) (*model.Reply, error) {
	snap := s.current(ctx)
	if hasText(m) && snap.crisis.match(m.Content) {
		return s.crisisMessage(ctx, m), nil
	}
	if m.IsEvent() {
		return s.event(ctx, snap, m)
	}
	if m.App != model.AppOA {
		// Mini Program customer-service messages get no passive reply
		// from rules; the crisis reply above is the exception.
		return nil, nil
	}
	s.touch(ctx, m.FromUser, m.CreateTime)
	return s.answer(ctx, snap.matchMessage(m)), nil
}

// hasText reports whether m carries text to read: a text message, or a
// voice message with WeChat's recognition.
func hasText(m model.InboundMessage) bool {
	return (m.MsgType == "text" || m.MsgType == "voice") && m.Content != ""
}

// Wait blocks until the crisis alerts being sent directly (because the job
// queue was down) are done, each bounded by a timeout. Call it at shutdown.
func (s *Service) Wait() { s.fallback.Wait() }

// Touching the follower table on every message would put a database write
// in each callback; once a minute per follower per copy is enough for
// "last active".
const (
	touchEvery = time.Minute
	maxTouched = 50_000
)

// touch records activity of openID at t, at most once a minute per copy.
// A failure is logged: activity is not worth a retry of the message.
func (s *Service) touch(ctx context.Context, openID string, t time.Time) {
	if openID == "" {
		return
	}
	now := s.now()
	s.touchMu.Lock()
	if last, ok := s.touched[openID]; ok && now.Sub(last) < touchEvery && now.Sub(last) >= 0 {
		s.touchMu.Unlock()
		return
	}
	if len(s.touched) >= maxTouched {
		clear(s.touched)
	}
	s.touched[openID] = now
	s.touchMu.Unlock()
	if t.IsZero() {
		t = now
	}
	if err := s.d.Followers.Touch(ctx, openID, t); err != nil {
		s.log.WarnContext(ctx, "gateway: touch follower failed", "err", err)
	}
}

// requireRole lets through a staff principal holding one of roles (an
// admin holds every role), or no principal at all (the command line);
// anyone else is ErrForbidden.
func requireRole(ctx context.Context, roles ...model.Role) (model.Principal, error) {
	p, ok := model.PrincipalFrom(ctx)
	if ok && !p.HasRole(roles...) {
		return p, model.Coded(model.ErrForbidden, "forbidden", "没有权限执行此操作")
	}
	return p, nil
}
