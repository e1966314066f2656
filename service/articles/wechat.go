package articles

import (
	"context"
	"errors"
)

// WeChat is what the articles need from WeChat (articleswx.Client
// satisfies it). Failures come back as model kinds (ErrUpstream, ErrInvalid
// …); a refusal carrying an errcode is also an *APIError, so the service
// can tell "this endpoint is not for us" (fall back to the legacy one)
// from "WeChat is down" (try again later).
type WeChat interface {
	// UploadImage adds permanent image material (material/add_material,
	// type image) and returns its media_id and URL.
	UploadImage(ctx context.Context, filename string, data []byte) (mediaID, url string, err error)
	// AddDraft saves a one-article draft (draft/add) and returns its media_id.
	AddDraft(ctx context.Context, d Draft) (string, error)
	// SubmitPublish publishes a draft (freepublish/submit).
	SubmitPublish(ctx context.Context, draftMediaID string) (publishID, msgDataID string, err error)
	// PublishState asks how a publish job stands (freepublish/get).
	PublishState(ctx context.Context, publishID string) (PublishState, error)
	// MassState asks how a mass send stands (message/mass/get): one of
	// MassSending, MassSuccess, MassFail, MassDeleted. An unknown msg_id is
	// an *APIError with errcode 40059.
	MassState(ctx context.Context, msgID string) (string, error)
	// MassSend sends a draft to every follower or to a tag
	// (message/mass/sendall with clientmsgid). A clientmsgid WeChat has
	// seen (45065) returns the msg_id of that first send, with no error.
	MassSend(ctx context.Context, m Mass) (msgID, msgDataID string, err error)
	// CheckText runs msg_sec_check (version 2) on title and content as the
	// user openID.
	CheckText(ctx context.Context, openID, title, content string) (Check, error)

	// The datacube endpoints; day is "2006-01-02" (Asia/Shanghai).
	ArticleRead(ctx context.Context, day string) ([]DayFigure, error)         // getarticleread
	ArticleShare(ctx context.Context, day string) ([]DayFigure, error)        // getarticleshare
	ArticleTotalDetail(ctx context.Context, day string) ([]DayFigure, error)  // getarticletotaldetail (cumulative per stat day)
	BizSummary(ctx context.Context, from, to string) ([]AccountFigure, error) // getbizsummary (≤ 30 days)
	ArticleSummary(ctx context.Context, day string) ([]DayFigure, error)      // legacy getarticlesummary
}

// Draft is one article for draft/add.
type Draft struct {
	Title, Author, Digest, Content, SourceURL, ThumbMediaID string
}

// Mass is a mass send of a draft.
type Mass struct {
	DraftMediaID string
	ToAll        bool
	TagID        int64
	ClientMsgID  string
}

// PublishState is freepublish/get's answer.
type PublishState struct {
	Status      int // 0 success, 1 publishing, 2 original-check failed, 3 failed, 4 refused, 5 deleted, 6 banned
	ArticleID   string
	ArticleURLs []string
	FailIdx     []int
}

// The states message/mass/get reports for a mass send.
const (
	MassSending = "SENDING"
	MassSuccess = "SEND_SUCCESS"
	MassFail    = "SEND_FAIL"
	MassDeleted = "DELETE"
)

// errInvalidMsgID is mass/get's errcode for a msg_id WeChat does not know.
const errInvalidMsgID = 40059

// Check is msg_sec_check's verdict.
type Check struct {
	Suggest string // pass, review or risky
	Label   int
	TraceID string
}

// DayFigure is one article's figures as a datacube endpoint reports them:
// MsgID is "<msg_data_id>_<index>", Date the day of the figures. An
// endpoint fills the fields it has.
type DayFigure struct {
	MsgID      string
	Date       string
	Reads      int64
	ReadUsers  int64
	Shares     int64
	ShareUsers int64
	Favourites int64
}

// AccountFigure is one day of getbizsummary.
type AccountFigure struct {
	Date       string
	ReadUsers  int64
	ShareUsers int64
	Favourites int64
}

// APIError is a WeChat refusal with its errcode; Err is the translated
// error (a model kind, no tokens in it).
type APIError struct {
	Errcode int
	Err     error
}

func (e *APIError) Error() string { return e.Err.Error() }

// Unwrap returns the translated error.
func (e *APIError) Unwrap() error { return e.Err }

// errcodeOf returns the errcode of a WeChat refusal, or 0.
func errcodeOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Errcode
	}
	return 0
}
