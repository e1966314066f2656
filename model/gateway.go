package model

import (
	"context"
	"time"
)

// App names one of the federation's two WeChat applications.
type App string

// The WeChat applications.
const (
	AppOA App = "oa" // the Official Account (公众号)
	AppMP App = "mp" // the Mini Program (小程序)
)

// InboundMessage is one callback from WeChat — a follower's message or an
// event — decoded from the OA's XML or the MP's JSON/XML push, after its
// signature was checked and (in safe mode) it was decrypted. Fields that a
// type does not use are empty. It carries personal data (Content): log its
// DedupeKey and types only.
type InboundMessage struct {
	App        App
	ToUser     string // our account's original id (gh_…) or app id
	FromUser   string // the sender's openid ("" for some result events)
	CreateTime time.Time
	MsgType    string // text, image, voice, video, shortvideo, location, link, event, miniprogrampage
	MsgID      string // messages only

	Content   string // text; the recognised text of voice
	PicURL    string
	MediaID   string
	Title     string // link, miniprogrampage
	URL       string // link
	Latitude  float64
	Longitude float64
	Label     string // location

	Event    string // subscribe, unsubscribe, SCAN, CLICK, VIEW, MASSSENDJOBFINISH, …; as sent (case kept)
	EventKey string // qrscene_… on subscribe by QR code, the scene on SCAN, the menu key on CLICK, the URL on VIEW
	Ticket   string

	// Result events.
	ResultMsgID   string // MASSSENDJOBFINISH / TEMPLATESENDJOBFINISH: MsgID
	Status        string // mass/template: "send success", "success", "failed:user block" …
	TotalCount    int
	FilterCount   int
	SentCount     int
	ErrorCount    int
	PublishID     string // PUBLISHJOBFINISH
	PublishStatus int    // 0 success, 1 publishing, 2 original failed, 3 failed, 4 audit refused, 5 deleted, 6 banned
	ArticleID     string
	ArticleURLs   []string
	TraceID       string // wxa_media_check
	Suggest       string // wxa_media_check: pass, review, risky
	CheckLabel    int    // wxa_media_check label

	// Subscribe-message events (subscribe_msg_popup_event, subscribe_msg_change_event,
	// subscribe_msg_sent_event): one entry per template in the event.
	SubscribeEvents []SubscribeEvent
}

// SubscribeEvent is one template's entry in a subscribe-message event.
type SubscribeEvent struct {
	TemplateID string
	Status     string // accept, reject, ban (popup/change); the error status on sent events
	PopupScene string
	MsgID      string // sent events
	ErrorCode  int    // sent events
}

// IsEvent reports whether m is an event rather than a message.
func (m InboundMessage) IsEvent() bool { return m.MsgType == "event" }

// DedupeKey is the key under which WeChat's retries of m are recognised
// (DESIGN.md): MsgId for messages; trace_id, MsgID or publish_id for result
// events; FromUserName+CreateTime+Event+EventKey for other events.
func (m InboundMessage) DedupeKey() string {
	p := string(m.App) + ":"
	switch {
	case m.MsgID != "":
		return p + "msg:" + m.MsgID
	case m.TraceID != "":
		return p + "trace:" + m.TraceID
	case m.ResultMsgID != "":
		return p + "result:" + m.Event + ":" + m.ResultMsgID
	case m.PublishID != "":
		return p + "publish:" + m.PublishID
	}
	return p + "event:" + m.FromUser + ":" + itoa(m.CreateTime.Unix()) + ":" + m.Event + ":" + m.EventKey
}

// ReplyKind is the type of a passive reply or an auto-reply rule's answer.
type ReplyKind string

// Reply kinds.
const (
	ReplyText  ReplyKind = "text"
	ReplyImage ReplyKind = "image"
	ReplyNews  ReplyKind = "news"
)

// Reply is a passive reply to a follower (or nil: answer "success").
type Reply struct {
	Kind     ReplyKind     `json:"kind"`
	Text     string        `json:"text,omitempty"`
	MediaID  string        `json:"media_id,omitempty"`
	Articles []NewsArticle `json:"articles,omitempty"` // WeChat shows one since 2018
}

// NewsArticle is one article of a news reply.
type NewsArticle struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	PicURL      string `json:"pic_url,omitempty"`
	URL         string `json:"url"`
}

// MessageLogEntry is one callback kept in the message log that staff read.
type MessageLogEntry struct {
	ID         int64
	App        App
	OpenID     string
	MsgType    string
	Event      string
	EventKey   string
	Content    string // text content, truncated to 2,000 runes
	DedupeKey  string
	Crisis     bool // matched a crisis word
	ReceivedAt time.Time
	// CreateTime is WeChat's CreateTime of the callback (zero when
	// unknown): a retry carries the same one, so CreateTime and DedupeKey
	// together identify a callback in the log.
	CreateTime time.Time
}

// MessageLogFilter narrows a message-log listing.
type MessageLogFilter struct {
	App     App
	OpenID  string
	MsgType string
	Crisis  bool
	From    time.Time
	To      time.Time
}

// MessageLogStore keeps the callback log.
type MessageLogStore interface {
	AppendMessage(ctx context.Context, e MessageLogEntry) (MessageLogEntry, error)
	// ListMessages pages entries newest first.
	ListMessages(ctx context.Context, f MessageLogFilter, p Page) ([]MessageLogEntry, string, error)
	// DeleteMessagesBefore removes entries received before t (retention) and
	// returns how many.
	DeleteMessagesBefore(ctx context.Context, t time.Time) (int64, error)
	// LastMessageAt is when openid last wrote to app (for the 48 h
	// customer-service window); zero when never.
	LastMessageAt(ctx context.Context, app App, openID string) (time.Time, error)
}

// Follower is a person who follows (or followed) the Official Account.
type Follower struct {
	ID             int64
	OpenID         string
	UnionID        string
	Subscribed     bool
	SubscribedAt   time.Time // the latest subscribe
	UnsubscribedAt time.Time // the latest unsubscribe; zero when never
	Scene          string    // qrscene_ attribution of the latest subscribe (without the prefix)
	TagIDs         []int
	UserID         int64 // the Mini Program user with the same unionid; 0 when unknown
	LastActiveAt   time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// FollowerFilter narrows a follower listing.
type FollowerFilter struct {
	Subscribed *bool
	Scene      string
}

// FollowerStore keeps the follower table.
type FollowerStore interface {
	// Subscribe records a subscribe at t with scene; creates the follower when new.
	Subscribe(ctx context.Context, openID, unionID, scene string, t time.Time) (Follower, error)
	// Unsubscribe records an unsubscribe at t (unknown followers are created as unsubscribed).
	Unsubscribe(ctx context.Context, openID string, t time.Time) error
	// Touch records activity (a message, a click) at t.
	Touch(ctx context.Context, openID string, t time.Time) error
	FollowerByOpenID(ctx context.Context, openID string) (Follower, error)
	// FollowerByUnionID returns the subscribed-or-not follower with unionID, or ErrNotFound.
	FollowerByUnionID(ctx context.Context, unionID string) (Follower, error)
	ListFollowers(ctx context.Context, f FollowerFilter, p Page) ([]Follower, string, error)
}
