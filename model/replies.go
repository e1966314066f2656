package model

import (
	"context"
	"time"
)

// MatchType is what an auto-reply rule answers.
type MatchType string

// Auto-reply match types.
const (
	MatchSubscribe MatchType = "subscribe" // the greeting when someone follows the OA
	MatchKeyword   MatchType = "keyword"   // a text (or recognised voice) message, by keyword
	MatchMsgType   MatchType = "msgtype"   // a message by its type: image, voice, location, …
	MatchClick     MatchType = "click"     // a CLICK on a menu button, by the button's key
	MatchDefault   MatchType = "default"   // any message nothing else answered
)

// MatchTypes lists every match type.
func MatchTypes() []MatchType {
	return []MatchType{MatchSubscribe, MatchKeyword, MatchMsgType, MatchClick, MatchDefault}
}

// KeywordMode is how a keyword rule compares its keywords with a message.
type KeywordMode string

// Keyword modes.
const (
	KeywordExact    KeywordMode = "exact"    // the whole message is the keyword
	KeywordContains KeywordMode = "contains" // the message contains the keyword
	KeywordRegex    KeywordMode = "regex"    // the message matches the RE2 pattern
)

// ReplyRule is an auto-reply rule of the Official Account, edited by staff.
// Keywords holds, by match type: the keywords or RE2 patterns (keyword),
// the message types (msgtype), the menu keys (click); nothing for
// subscribe and default. Reply is the static answer; Provider, when set,
// names a dynamic answer ("lessons", "fairs", "campaign") that the static
// one stands in for while the provider is missing, fails or is slow.
type ReplyRule struct {
	ID        int64
	Name      string
	Match     MatchType
	Mode      KeywordMode // keyword rules only
	Keywords  []string
	Priority  int // higher answers first among rules of one match type
	Reply     Reply
	Provider  string
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ReplyRuleStore keeps the auto-reply rules.
type ReplyRuleStore interface {
	// ListReplyRules returns every rule, by id.
	ListReplyRules(ctx context.Context) ([]ReplyRule, error)
	// ReplyRule returns the rule, or ErrNotFound.
	ReplyRule(ctx context.Context, id int64) (ReplyRule, error)
	// CreateReplyRule inserts r (its ID ignored) and returns it as stored.
	CreateReplyRule(ctx context.Context, r ReplyRule) (ReplyRule, error)
	// UpdateReplyRule replaces the rule with r.ID, or returns ErrNotFound.
	UpdateReplyRule(ctx context.Context, r ReplyRule) (ReplyRule, error)
	// DeleteReplyRule removes the rule, or returns ErrNotFound.
	DeleteReplyRule(ctx context.Context, id int64) error
	// CountReplyRules counts the rules.
	CountReplyRules(ctx context.Context) (int64, error)
}

// CrisisSettings are the crisis words and who is alerted when a message
// holds one. An empty AlertStaffIDs alerts every enabled admin and
// caseworker.
type CrisisSettings struct {
	Words         []string
	AlertStaffIDs []int64
	UpdatedAt     time.Time // zero while the defaults apply
}

// GatewaySettingsStore keeps the gateway's settings.
type GatewaySettingsStore interface {
	// CrisisSettings returns the saved settings, or ErrNotFound when they
	// were never saved.
	CrisisSettings(ctx context.Context) (CrisisSettings, error)
	// SaveCrisisSettings replaces them (UpdatedAt is set to at).
	SaveCrisisSettings(ctx context.Context, s CrisisSettings, at time.Time) (CrisisSettings, error)
}

// MenuButton is a button of the Official Account's custom menu (WeChat's
// menu/create fields). A top-level button either has SubButtons (and no
// type) or is a button itself.
type MenuButton struct {
	Type       string       `json:"type,omitempty"`
	Name       string       `json:"name"`
	Key        string       `json:"key,omitempty"`
	URL        string       `json:"url,omitempty"`
	MediaID    string       `json:"media_id,omitempty"`
	AppID      string       `json:"appid,omitempty"`
	PagePath   string       `json:"pagepath,omitempty"`
	ArticleID  string       `json:"article_id,omitempty"`
	SubButtons []MenuButton `json:"sub_button,omitempty"`
}

// Menu is the custom menu as staff saved it, and which of its revisions
// was last published to WeChat.
type Menu struct {
	Buttons           []MenuButton
	Revision          int64 // counts the saves, from 1
	UpdatedBy         int64 // staff id; 0 for the command line
	UpdatedAt         time.Time
	PublishedRevision int64     // 0 when never published
	PublishedAt       time.Time // zero when never published
}

// Published reports whether the saved menu is the one WeChat shows.
func (m Menu) Published() bool { return m.Revision > 0 && m.PublishedRevision == m.Revision }

// MenuStore keeps the custom menu.
type MenuStore interface {
	// Menu returns the saved menu, or ErrNotFound when none was saved.
	Menu(ctx context.Context) (Menu, error)
	// SaveMenu replaces the buttons, counts a revision and returns the
	// menu as stored.
	SaveMenu(ctx context.Context, buttons []MenuButton, staffID int64, at time.Time) (Menu, error)
	// MarkMenuPublished records that revision was published at at (a later
	// revision already marked is kept) and returns the menu as stored.
	MarkMenuPublished(ctx context.Context, revision int64, at time.Time) (Menu, error)
}

// ResultKind names an asynchronous WeChat result pushed to the callback.
type ResultKind string

// Result kinds.
const (
	ResultMass       ResultKind = "mass"        // MASSSENDJOBFINISH, keyed by MsgID
	ResultPublish    ResultKind = "publish"     // PUBLISHJOBFINISH, keyed by publish_id
	ResultMediaCheck ResultKind = "media_check" // wxa_media_check, keyed by trace_id
)

// WeChatResult is the outcome of a mass send, a publish or a media check,
// as WeChat pushed it. Key joins it to the job that started it.
type WeChatResult struct {
	ID     int64
	Kind   ResultKind
	App    App
	Key    string
	Status string // mass: Status; publish: publish_status; media check: suggest

	TotalCount, FilterCount, SentCount, ErrorCount int // mass

	PublishStatus int // publish
	ArticleID     string
	ArticleURLs   []string

	Suggest    string // media check
	CheckLabel int

	// Polled marks a result the service asked WeChat for (freepublish/get,
	// message/mass/get) rather than one pushed as an event; a polled mass
	// result has no counts and no article URL.
	Polled bool

	ReceivedAt time.Time
}

// ResultStore keeps pushed WeChat results.
type ResultStore interface {
	// RecordResult stores r, replacing an earlier result of the same kind
	// and key (a publish reports "publishing" before "published").
	RecordResult(ctx context.Context, r WeChatResult) (WeChatResult, error)
	// Result returns the result of kind and key, or ErrNotFound.
	Result(ctx context.Context, kind ResultKind, key string) (WeChatResult, error)
}

// QRScan is a scan of a parametric QR code by a follower (SCAN) or by
// someone who followed through it (subscribe with qrscene_).
type QRScan struct {
	ID        int64
	OpenID    string
	Scene     string
	Subscribe bool // the scan made them follow
	At        time.Time
}
