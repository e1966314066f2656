package model

import (
	"log/slog"
	"time"
)

// ArticleStatus is where an article stands on its way to the followers:
// draft → pending (content check passed, waiting for approval) → approved
// → scheduled (publish time set) or publishing (handed to WeChat) →
// published, or failed (WeChat refused it; staff may publish it again).
// A rejected article goes back to draft.
type ArticleStatus string

// The article statuses.
const (
	ArticleDraft      ArticleStatus = "draft"
	ArticlePending    ArticleStatus = "pending"
	ArticleApproved   ArticleStatus = "approved"
	ArticleScheduled  ArticleStatus = "scheduled"
	ArticlePublishing ArticleStatus = "publishing"
	ArticlePublished  ArticleStatus = "published"
	ArticleFailed     ArticleStatus = "failed"
)

// PublishMode is how an article reaches the followers: freepublish (发表:
// on the account's page, no push) or masssend (群发: pushed to all
// followers or to a tag, counted against the monthly quota).
type PublishMode string

// The publish modes of API.md.
const (
	PublishFree PublishMode = "freepublish"
	PublishMass PublishMode = "masssend"
)

// Article is one Official Account article and its push. Body is sanitized
// HTML. The cover is permanent image material on WeChat (CoverMediaID).
// The WeChat ids join the asynchronous result events (PublishID for
// PUBLISHJOBFINISH, MsgID for MASSSENDJOBFINISH) and the read statistics
// (MsgDataID).
type Article struct {
	ID        int64
	ColumnID  int64 // 0: in no column
	Title     string
	Author    string // the byline shown on WeChat
	Digest    string
	Body      string
	SourceURL string // 阅读原文; optional

	CoverMediaID string
	CoverURL     string

	Status ArticleStatus

	CheckSuggest string // pass, review or risky; "" before the content check
	CheckLabel   int
	CheckedAt    time.Time

	CreatedBy    int64 // staff id of the writer
	SubmittedBy  int64
	SubmittedAt  time.Time
	ApprovedBy   int64
	ApprovedAt   time.Time
	RejectReason string

	Mode        PublishMode
	ToAll       bool  // masssend: to every follower
	TagID       int64 // masssend: to the followers with this tag
	PublishAt   time.Time
	PublishedBy int64

	DraftMediaID  string
	PublishID     string
	MsgID         string
	MsgDataID     string
	ClientMsgID   string
	ArticleURL    string
	WxArticleID   string
	PublishStatus int // freepublish publish_status; -1 before the result
	TotalCount    int // masssend: recipients, sent, errors
	SentCount     int
	ErrorCount    int
	// CountsUnknown marks a mass send completed from WeChat's status query
	// (message/mass/get) because its MASSSENDJOBFINISH event never came:
	// the query tells the outcome only, so the counts and the article URL
	// stay empty until the event arrives after all.
	CountsUnknown bool
	FailReason    string
	PublishedAt   time.Time

	// Totals of the daily read statistics, filled by reads.
	Reads, ReadUsers, Shares, Favourites int64

	// Version counts the writes of the row: a write based on an older
	// version is refused (optimistic locking).
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// LogValue logs ids and status only.
func (a Article) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("article_id", a.ID), slog.String("status", string(a.Status)),
		slog.String("mode", string(a.Mode)))
}

// ArticleFilter narrows a list of articles; zero fields match everything.
type ArticleFilter struct {
	Status   ArticleStatus
	ColumnID int64
}

// Column is a series of articles such as 巧媳妇·富全家, with the totals of
// its published articles (filled by reads).
type Column struct {
	ID          int64
	Name        string
	Description string
	CreatedBy   int64
	CreatedAt   time.Time
	UpdatedAt   time.Time

	Articles   int64 // published articles in the column
	Reads      int64
	ReadUsers  int64
	Shares     int64
	Favourites int64
}

// ArticleDay is one day of one article's read statistics, as WeChat's
// datacube reports them for the message MsgDataID (article Index, first is
// 1) on Date (Asia/Shanghai, "2006-01-02"). Source is "datacube" (the
// newer endpoints) or "legacy" (getarticlesummary).
type ArticleDay struct {
	ArticleID  int64
	MsgDataID  string
	Index      int
	Date       string
	Reads      int64 // 阅读次数
	ReadUsers  int64 // 阅读人数
	Shares     int64 // 分享次数
	ShareUsers int64
	Favourites int64 // 收藏人数
	Source     string
}

// AccountDay is one day of the Official Account's totals (getbizsummary).
type AccountDay struct {
	Date       string
	ReadUsers  int64
	ShareUsers int64
	Favourites int64
	Source     string
}
