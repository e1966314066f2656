package model

import (
	"context"
	"time"
)

// Recipient is who a notice is for: a Mini Program user, an OA follower, or
// a staff member (on-duty alerts). Set one; the notification centre finds
// the channels each can be reached on (for a user, also her OA follower
// record through the unionid).
type Recipient struct {
	UserID  int64  // Mini Program user
	OpenID  string // OA follower openid, when the notice is for a follower who is not (yet) a user
	StaffID int64  // a staff member: console alert, plus WeChat when her account is bound
}

// Notice is one notification to one recipient. Topic selects the
// configured templates (MP subscribe template, OA template) and their field
// mapping; Fields are the values by logical name ("title", "time", "status",
// …). DedupeKey makes Notify idempotent: a notice with a key already
// accepted is not sent again (retries, restarts, publishing twice).
type Notice struct {
	Topic     string            // e.g. "crisis_alert", "case_update", "lesson_published", "signup_promoted"
	Fields    map[string]string // template values by logical name
	Page      string            // Mini Program page to open (path and query)
	URL       string            // web page to open from an OA message when no page applies
	Urgent    bool              // ignores quiet hours (crisis alerts, promotions with a deadline)
	DedupeKey string            // required: unique per intended delivery, e.g. "lesson:12:user:34"
	PushID    int64             // the push (broadcast) this notice belongs to; 0 for a single notice
}

// Delivery statuses (API.md: pushes report sent, failed, no-consent).
// "sending" is internal: a worker holds the delivery under a lease.
// "queued" is a notice of a push accepted in bulk (NotifyMany) that waits
// for its push's feeder to hand it to the queue; it then becomes pending.
const (
	DeliveryQueued    = "queued"
	DeliveryPending   = "pending"
	DeliverySending   = "sending"
	DeliverySent      = "sent"
	DeliveryFailed    = "failed"
	DeliveryNoConsent = "no_consent" // an MP template applies but she gave no (or no more) consent, and no other channel reaches her
	DeliveryNoChannel = "no_channel" // no channel reaches her (not a follower, no 48 h window, no MP template)
	DeliverySkipped   = "skipped"    // not attempted: the topic is switched off or the recipient is gone
)

// DeliveryFinal reports whether status ends a delivery.
func DeliveryFinal(status string) bool {
	switch status {
	case DeliverySent, DeliveryFailed, DeliveryNoConsent, DeliveryNoChannel, DeliverySkipped:
		return true
	}
	return false
}

// Notification channels.
const (
	ChannelMPSubscribe = "mp_subscribe" // Mini Program subscribe message (needs consent)
	ChannelOATemplate  = "oa_template"  // Official Account template message (needs a follower)
	ChannelOACustom    = "oa_custom"    // customer-service message, within 48 h after she wrote to the OA
	ChannelConsole     = "console"      // a staff alert in the console
)

// TemplateField maps one key of a WeChat template ("thing1", "time2") to a
// logical field of a notice ("title", "time"). Default is used when the
// notice leaves the field empty (fixed, neutral wording).
type TemplateField struct {
	Key     string `json:"key"`
	Field   string `json:"field"`
	Default string `json:"default,omitempty"`
}

// NotifyTemplate is how one topic reaches people: the Mini Program
// subscribe template and the Official Account template with their field
// mappings, and the text of a customer-service message ({field}
// placeholders). An empty template id leaves that channel out. LongTerm
// marks an MP template whose consent is long-term (政务民生 accounts):
// sending does not use it up. A disabled topic is not sent at all.
type NotifyTemplate struct {
	Topic        string
	Name         string // what staff call it
	MPTemplateID string
	MPFields     []TemplateField
	OATemplateID string
	OAFields     []TemplateField
	Text         string
	LongTerm     bool
	Enabled      bool
	UpdatedAt    time.Time
}

// Push is a broadcast (a lesson to its subscribers, …): its deliveries
// carry its id, and the console reports them together. A cancelled push
// (its lesson withdrawn) sends nothing more: its deliveries not yet sent
// are skipped.
type Push struct {
	ID          int64
	Title       string
	Topic       string
	CreatedBy   int64 // staff id; 0 for the system
	CreatedAt   time.Time
	CancelledAt time.Time // zero unless cancelled
}

// PushCounts counts a push's deliveries by status. Read counts sent
// deliveries whose recipient opened what they announced afterwards (the
// areas report opens: MarkDeliveryRead).
type PushCounts struct {
	Targets   int
	Pending   int // queued, pending or sending
	Sent      int
	Failed    int
	NoConsent int
	NoChannel int
	Skipped   int
	Read      int
	Channels  map[string]int // sent deliveries per channel
}

// Delivery is one notice to one recipient: the outbox row a worker
// delivers and, afterwards, its log entry. Fields holds the notice's
// values (kept in the database only, never in the job queue).
type Delivery struct {
	ID         int64
	PushID     int64
	Topic      string
	DedupeKey  string
	UserID     int64
	OpenID     string // OA openid of a follower recipient
	StaffID    int64
	Fields     map[string]string
	Page       string
	URL        string
	Urgent     bool
	Status     string
	Channel    string // the channel it went out on (or was last tried)
	TemplateID string
	MsgID      string // WeChat's msgid
	Errcode    int
	Error      string // short reason of a failure, for staff (no personal data)
	Attempts   int    // claims so far; the fencing token of the current one
	NotBefore  time.Time
	LeaseUntil time.Time
	EnqueuedAt time.Time // zero: written inside a transaction and not yet handed to the queue
	SentAt     time.Time
	ReadAt     time.Time // zero until the recipient opened what the sent notice announced
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// DeliveryResult is how a delivery attempt ended.
type DeliveryResult struct {
	Status     string
	Channel    string
	TemplateID string
	MsgID      string
	Errcode    int
	Error      string
	At         time.Time
}

// DeliveryFilter narrows a delivery listing; zero fields match everything.
type DeliveryFilter struct {
	PushID  int64
	UserID  int64
	StaffID int64
	OpenID  string
	Topic   string
	Status  string
}

// Consent is the ledger entry of one person's subscribe-message consent
// for one template: how many one-time authorisations remain, or whether a
// long-term one is on.
type Consent struct {
	App        App
	OpenID     string
	TemplateID string
	Remaining  int
	LongTerm   bool
	UpdatedAt  time.Time
}

// StaffAlert is a notice to a staff member shown in the console.
type StaffAlert struct {
	ID         int64
	StaffID    int64
	DeliveryID int64
	Topic      string
	Fields     map[string]string
	Page       string
	URL        string
	Urgent     bool
	CreatedAt  time.Time
	ReadAt     time.Time // zero while unread
}

// NotifyStore keeps the notification centre's tables: templates per
// topic, pushes, the outbox of deliveries, the consent ledger and staff
// alerts.
type NotifyStore interface {
	// InTx reports whether ctx carries a transaction, whose rows workers
	// see only after it commits.
	InTx(ctx context.Context) bool

	ListTemplates(ctx context.Context) ([]NotifyTemplate, error)
	// TemplateByTopic returns the topic's template or ErrNotFound.
	TemplateByTopic(ctx context.Context, topic string) (NotifyTemplate, error)
	// UpsertTemplate writes t (by topic) and returns it as stored.
	UpsertTemplate(ctx context.Context, t NotifyTemplate) (NotifyTemplate, error)
	// SeedTemplates inserts the topics of ts that do not exist yet and
	// leaves the others as staff edited them. It returns how many it added.
	SeedTemplates(ctx context.Context, ts []NotifyTemplate) (int, error)

	CreatePush(ctx context.Context, p Push) (Push, error)
	// PushByID returns the push or ErrNotFound.
	PushByID(ctx context.Context, id int64) (Push, error)
	// ListPushes pages pushes newest first.
	ListPushes(ctx context.Context, p Page) ([]Push, string, error)
	// CountPushes counts the deliveries of each push in ids.
	CountPushes(ctx context.Context, ids []int64) (map[int64]PushCounts, error)

	// CreateDelivery inserts d unless a delivery with its DedupeKey
	// exists; it returns the stored delivery and whether it was created.
	CreateDelivery(ctx context.Context, d Delivery) (Delivery, bool, error)
	// DeliveryByID returns the delivery or ErrNotFound.
	DeliveryByID(ctx context.Context, id int64) (Delivery, error)
	// ListDeliveries pages deliveries matching f, newest first.
	ListDeliveries(ctx context.Context, f DeliveryFilter, p Page) ([]Delivery, string, error)
	// ClaimDelivery moves a pending delivery due at now (or a sending one
	// whose lease ended) to sending under a lease until leaseUntil, adding
	// one to Attempts. ok is false when it was not claimable; the
	// delivery is then returned as it is.
	ClaimDelivery(ctx context.Context, id int64, now, leaseUntil time.Time) (d Delivery, ok bool, err error)
	// FinishDelivery records r on a delivery still sending under the claim
	// attempt; false when the claim was lost (another worker took over).
	FinishDelivery(ctx context.Context, id int64, attempt int, r DeliveryResult) (bool, error)
	// ReleaseDelivery puts a delivery still sending under attempt back to
	// pending, due at notBefore, noting errcode and reason.
	ReleaseDelivery(ctx context.Context, id int64, attempt int, notBefore time.Time, errcode int, reason string) error
	// DeferDelivery makes a pending delivery due at notBefore.
	DeferDelivery(ctx context.Context, id int64, notBefore time.Time) error
	// MarkEnqueued records that the deliveries ids were handed to the queue
	// at t; a zero t marks them not handed over.
	MarkEnqueued(ctx context.Context, ids []int64, t time.Time) error
	// DeliveriesToSweep returns up to limit deliveries that need a task:
	// pending ones never enqueued, pending ones enqueued and due before
	// staleBefore, and sending ones whose lease ended before staleBefore
	// and that were last enqueued before it.
	DeliveriesToSweep(ctx context.Context, staleBefore time.Time, limit int) ([]Delivery, error)
	// CreateDeliveries inserts ds in multi-row statements, skipping every
	// delivery whose DedupeKey exists (ON CONFLICT DO NOTHING), and returns
	// how many it inserted. A zero Status is queued (see DeliveryQueued).
	CreateDeliveries(ctx context.Context, ds []Delivery) (int, error)
	// CountOutstanding counts pushID's deliveries that are pending or
	// sending: handed to the queue and not yet final.
	CountOutstanding(ctx context.Context, pushID int64) (int, error)
	// PromoteQueued moves up to limit of pushID's queued deliveries, lowest
	// id first, to pending, marked enqueued at now, and returns them (id,
	// status, not_before and enqueued_at set). A delivery a concurrent call
	// promoted may be returned by both.
	PromoteQueued(ctx context.Context, pushID int64, limit int, now time.Time) ([]Delivery, error)
	// PushesToFeed returns up to limit pushes that have queued deliveries.
	PushesToFeed(ctx context.Context, limit int) ([]int64, error)
	// CancelPush marks push pushID cancelled at now (the first time) and
	// moves its deliveries not yet handed to a worker — queued or pending
	// — to skipped with reason. Deliveries being sent (sending) are left
	// to their worker. It returns how many it skipped; an unknown push is
	// ErrNotFound.
	CancelPush(ctx context.Context, pushID int64, reason string, now time.Time) (int, error)
	// MarkDeliveryRead records at t that the recipient of the sent delivery
	// with dedupeKey opened what it announced: only when it was sent at or
	// before t and is not marked yet. It reports whether it marked one.
	MarkDeliveryRead(ctx context.Context, dedupeKey string, t time.Time) (bool, error)
	// SetDeliveryResultByMsgID records the asynchronous result WeChat
	// reported for msgID on channel (a sent delivery may become failed).
	// It returns how many deliveries it changed.
	SetDeliveryResultByMsgID(ctx context.Context, channel, msgID, status string, errcode int, reason string) (int64, error)

	// GrantConsent adds one one-time authorisation, or turns a long-term
	// one on.
	GrantConsent(ctx context.Context, app App, openID, templateID string, longTerm bool) error
	// RevokeConsent turns the consent off (no authorisation left, long-term off).
	RevokeConsent(ctx context.Context, app App, openID, templateID string) error
	// UseConsent takes one authorisation atomically: ok when a long-term
	// one is on (nothing taken) or one remained (one taken).
	UseConsent(ctx context.Context, app App, openID, templateID string) (ok, longTerm bool, err error)
	// RefundConsent gives back an authorisation taken for a send WeChat
	// did not accept.
	RefundConsent(ctx context.Context, app App, openID, templateID string) error
	// ConsentsOf returns openID's ledger entries in app.
	ConsentsOf(ctx context.Context, app App, openID string) ([]Consent, error)

	// CreateAlert inserts a (once per delivery) and returns it as stored.
	CreateAlert(ctx context.Context, a StaffAlert) (StaffAlert, error)
	// ListAlerts pages staffID's alerts newest first.
	ListAlerts(ctx context.Context, staffID int64, unreadOnly bool, p Page) ([]StaffAlert, string, error)
	// MarkAlertRead marks one of staffID's alerts read at t, or returns ErrNotFound.
	MarkAlertRead(ctx context.Context, staffID, id int64, t time.Time) error
}
