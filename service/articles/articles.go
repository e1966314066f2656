// Package articles runs the Official Account's articles: drafts with a
// sanitized HTML body and a cover uploaded to WeChat as material, the
// content check (msg_sec_check), approval by a second staff member, then
// publication by draft/add + freepublish/submit or by mass send (sendall
// with a unique clientmsgid), now or at a set time; the result events
// (PUBLISHJOBFINISH, MASSSENDJOBFINISH) complete the record. A daily job
// syncs the read statistics from the datacube endpoints into a daily series
// per article; columns group articles with totals; the area reports its
// figures (model.FigureSource).
package articles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"wanjia/model"
	"wanjia/store"
)

// Store is the article store (store.Articles satisfies it).
type Store interface {
	CreateArticle(ctx context.Context, a model.Article) (model.Article, error)
	ArticleByID(ctx context.Context, id int64) (model.Article, error)
	ArticleByPublishID(ctx context.Context, publishID string) (model.Article, error)
	ArticleByMsgID(ctx context.Context, msgID string) (model.Article, error)
	ListArticles(ctx context.Context, f model.ArticleFilter, p model.Page) ([]model.Article, string, error)
	UpdateArticle(ctx context.Context, a model.Article, from ...model.ArticleStatus) (model.Article, error)
	DueArticles(ctx context.Context, now time.Time, limit int) ([]model.Article, error)
	StalePublishing(ctx context.Context, olderThan time.Time, limit int) ([]model.Article, error)
	PublishedMessages(ctx context.Context, since time.Time) ([]model.Article, error)
	UpsertArticleDays(ctx context.Context, days []model.ArticleDay) error
	ArticleDays(ctx context.Context, articleID int64) ([]model.ArticleDay, error)
	UpsertAccountDays(ctx context.Context, days []model.AccountDay) error
	StatCursor(ctx context.Context, name string) (string, error)
	SetStatCursor(ctx context.Context, name, day string) error
	ArticleFigures(ctx context.Context, from, to time.Time, fromDay, toDay string) (store.ArticleFigures, error)
	CreateColumn(ctx context.Context, c model.Column) (model.Column, error)
	UpdateColumn(ctx context.Context, c model.Column) (model.Column, error)
	DeleteColumn(ctx context.Context, id int64) error
	ColumnByID(ctx context.Context, id int64) (model.Column, error)
	ListColumns(ctx context.Context) ([]model.Column, error)
}

// Results reads the WeChat results the gateway recorded
// (store.Results satisfies it).
type Results interface {
	Result(ctx context.Context, kind model.ResultKind, key string) (model.WeChatResult, error)
}

// Auditor appends to the audit log (auth.Auth satisfies it).
type Auditor interface {
	Audit(ctx context.Context, action, targetType, targetID string, before, after any) error
}

// Options tune the service; zero values take the defaults.
type Options struct {
	// AllowSelfApproval turns the two-person rule off (config
	// articles.two_person_rule false): the writer or submitter of an
	// article may then approve it.
	AllowSelfApproval bool
	// CheckOpenID is the Mini Program openid msg_sec_check runs as (config
	// articles.check_openid): an OA article has no user of its own, and
	// the check needs a user who used the Mini Program in the last 2 h.
	CheckOpenID string
	// Location is the federation's zone for statistics days;
	// Asia/Shanghai (UTC+8).
	Location *time.Location
	// StatsBackfillDays is how far back a first statistics sync reaches;
	// 90 days.
	StatsBackfillDays int
	// ResultWait is how long a publish or mass send waits for WeChat's
	// result event before PublishDue asks WeChat (freepublish/get,
	// message/mass/get); 2 minutes (config articles.result_wait).
	ResultWait time.Duration
}

// DefaultResultWait is the default Options.ResultWait.
const DefaultResultWait = 2 * time.Minute

// Deps are what New needs; Logger, Now and Options are optional.
type Deps struct {
	Store   Store
	WeChat  WeChat
	Results Results
	Audit   Auditor
	Logger  *slog.Logger
	Now     func() time.Time
	Options Options
}

// Service is the articles' use cases. It is safe for concurrent use.
type Service struct {
	store   Store
	wx      WeChat
	results Results
	audit   Auditor
	log     *slog.Logger
	now     func() time.Time
	opts    Options
}

// New checks d and returns the service.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.WeChat == nil || d.Results == nil || d.Audit == nil {
		return nil, errors.New("articles: store, wechat, results and audit are required")
	}
	s := &Service{store: d.Store, wx: d.WeChat, results: d.Results, audit: d.Audit, log: d.Logger, now: d.Now, opts: d.Options}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.opts.Location == nil {
		s.opts.Location = time.FixedZone("CST", 8*3600)
	}
	if s.opts.StatsBackfillDays <= 0 {
		s.opts.StatsBackfillDays = 90
	}
	if s.opts.ResultWait <= 0 {
		s.opts.ResultWait = DefaultResultWait
	}
	return s, nil
}

// Limits of an article (WeChat's draft/add limits, a little stricter).
const (
	MaxTitleRunes  = 32
	MaxAuthorRunes = 16
	MaxDigestRunes = 120
	MaxBodyRunes   = 20000
	MaxBodyBytes   = 1 << 20
	maxReasonRunes = 200
	maxCoverBytes  = 10 << 20
	dueBatch       = 50
	checkChunk     = 2500 // msg_sec_check reads at most 2,500 characters
)

func requireEditor(ctx context.Context) (model.Principal, error) {
	p, ok := model.StaffFrom(ctx)
	if !ok || !p.HasRole(model.RoleEditor) {
		return model.Principal{}, model.Errorf(model.ErrForbidden, "没有管理文章的权限")
	}
	return p, nil
}

func requireApprover(ctx context.Context) (model.Principal, error) {
	p, ok := model.StaffFrom(ctx)
	if !ok || !p.HasRole(model.RoleAdmin) {
		return model.Principal{}, model.Errorf(model.ErrForbidden, "只有管理员可以审核文章")
	}
	return p, nil
}

// Input is an article's editable content. Nil fields of an update stay as
// they are.
type Input struct {
	Title     *string
	Author    *string
	Digest    *string
	Body      *string
	SourceURL *string
	ColumnID  *int64
}

func runes(s string, lo, hi int) bool {
	n := utf8.RuneCountInString(s)
	return n >= lo && n <= hi
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && len(s) <= 1024
}

// apply puts in's fields into a (sanitizing the body) and reports field
// problems (Chinese).
func (in Input) apply(a *model.Article) map[string]string {
	bad := map[string]string{}
	if in.Title != nil {
		a.Title = strings.TrimSpace(*in.Title)
		if !runes(a.Title, 1, MaxTitleRunes) {
			bad["title"] = fmt.Sprintf("须为 1–%d 个字", MaxTitleRunes)
		}
	}
	if in.Author != nil {
		a.Author = strings.TrimSpace(*in.Author)
		if !runes(a.Author, 0, MaxAuthorRunes) {
			bad["author"] = fmt.Sprintf("不超过 %d 个字", MaxAuthorRunes)
		}
	}
	if in.Digest != nil {
		a.Digest = strings.TrimSpace(*in.Digest)
		if !runes(a.Digest, 0, MaxDigestRunes) {
			bad["digest"] = fmt.Sprintf("不超过 %d 个字", MaxDigestRunes)
		}
	}
	if in.Body != nil {
		if len(*in.Body) > MaxBodyBytes {
			bad["body"] = "正文太长"
		} else {
			a.Body = SanitizeBody(*in.Body)
			switch {
			case PlainText(a.Body) == "":
				bad["body"] = "正文不能为空"
			case !runes(a.Body, 1, MaxBodyRunes):
				bad["body"] = fmt.Sprintf("正文不超过 %d 个字符（含排版）", MaxBodyRunes)
			}
		}
	}
	if in.SourceURL != nil {
		a.SourceURL = strings.TrimSpace(*in.SourceURL)
		if a.SourceURL != "" && !validURL(a.SourceURL) {
			bad["source_url"] = "须为 http(s) 链接"
		}
	}
	if in.ColumnID != nil {
		a.ColumnID = *in.ColumnID
		if a.ColumnID < 0 {
			bad["column_id"] = "无效"
		}
	}
	if !utf8.ValidString(a.Title + a.Author + a.Digest + a.Body) {
		bad["title"] = "包含无效字符"
	}
	return bad
}

func (s *Service) checkColumn(ctx context.Context, id int64) error {
	if id == 0 {
		return nil
	}
	if _, err := s.store.ColumnByID(ctx, id); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return model.Invalid(map[string]string{"column_id": "专栏不存在"})
		}
		return err
	}
	return nil
}

// Create saves a new draft (editor; audited). Title and body are required.
func (s *Service) Create(ctx context.Context, in Input) (model.Article, error) {
	p, err := requireEditor(ctx)
	if err != nil {
		return model.Article{}, err
	}
	a := model.Article{Status: model.ArticleDraft, CreatedBy: p.SubjectID, PublishStatus: -1}
	bad := in.apply(&a)
	if in.Title == nil {
		bad["title"] = "必填"
	}
	if in.Body == nil {
		bad["body"] = "必填"
	}
	if err := model.Invalid(bad); err != nil {
		return model.Article{}, err
	}
	if err := s.checkColumn(ctx, a.ColumnID); err != nil {
		return model.Article{}, err
	}
	a, err = s.store.CreateArticle(ctx, a)
	if err != nil {
		return model.Article{}, err
	}
	s.record(ctx, "article.create", a.ID, nil, auditFields(a))
	return a, nil
}

// auditFields are the audited fields of an article: never the body.
func auditFields(a model.Article) map[string]any {
	return map[string]any{
		"title": a.Title, "author": a.Author, "digest_runes": utf8.RuneCountInString(a.Digest),
		"body_runes": utf8.RuneCountInString(a.Body), "column_id": a.ColumnID, "status": a.Status,
		"cover_media_id": a.CoverMediaID, "mode": a.Mode, "to_all": a.ToAll, "tag_id": a.TagID,
		"publish_at": a.PublishAt, "check_suggest": a.CheckSuggest,
	}
}

// Update changes an article (editor; audited). Its content may change only
// while it is a draft (a change clears the content check); its column at
// any time.
func (s *Service) Update(ctx context.Context, id int64, in Input) (model.Article, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Article{}, err
	}
	before, err := s.store.ArticleByID(ctx, id)
	if err != nil {
		return model.Article{}, err
	}
	a := before
	contentChange := in.Title != nil || in.Author != nil || in.Digest != nil || in.Body != nil || in.SourceURL != nil
	if contentChange && a.Status != model.ArticleDraft {
		return model.Article{}, model.Coded(model.ErrConflict, "not_draft", "只有草稿可以修改内容，请先退回")
	}
	if err := model.Invalid(in.apply(&a)); err != nil {
		return model.Article{}, err
	}
	if err := s.checkColumn(ctx, a.ColumnID); err != nil {
		return model.Article{}, err
	}
	if contentChange {
		a.CheckSuggest, a.CheckLabel, a.CheckedAt = "", 0, time.Time{}
	}
	a, err = s.store.UpdateArticle(ctx, a)
	if err != nil {
		return model.Article{}, err
	}
	s.record(ctx, "article.update", id, auditFields(before), auditFields(a))
	return a, nil
}

// SetCover uploads an image (JPEG or PNG, ≤ 10 MiB) to WeChat as permanent
// material and makes it the draft's cover (editor; audited).
func (s *Service) SetCover(ctx context.Context, id int64, filename string, data []byte) (model.Article, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Article{}, err
	}
	if len(data) > maxCoverBytes {
		return model.Article{}, model.Errorf(model.ErrTooLarge, "封面图片不能超过 10 MiB")
	}
	ext := ""
	switch {
	case len(data) > 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF:
		ext = ".jpg"
	case len(data) > 8 && string(data[:8]) == "\x89PNG\r\n\x1a\n":
		ext = ".png"
	default:
		return model.Article{}, model.Errorf(model.ErrUnsupportedMedia, "封面须为 JPEG 或 PNG 图片")
	}
	before, err := s.store.ArticleByID(ctx, id)
	if err != nil {
		return model.Article{}, err
	}
	if before.Status != model.ArticleDraft {
		return model.Article{}, model.Coded(model.ErrConflict, "not_draft", "只有草稿可以更换封面，请先退回")
	}
	mediaID, u, err := s.wx.UploadImage(ctx, fmt.Sprintf("article-%d-cover%s", id, ext), data)
	if err != nil {
		return model.Article{}, err
	}
	a := before
	a.CoverMediaID, a.CoverURL = mediaID, u
	if a, err = s.store.UpdateArticle(ctx, a, model.ArticleDraft); err != nil {
		return model.Article{}, err
	}
	s.record(ctx, "article.cover", id, map[string]any{"cover_media_id": before.CoverMediaID}, map[string]any{"cover_media_id": mediaID})
	return a, nil
}

// Get returns an article with its statistics totals (editor).
func (s *Service) Get(ctx context.Context, id int64) (model.Article, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Article{}, err
	}
	return s.store.ArticleByID(ctx, id)
}

// List pages the articles, newest first (editor).
func (s *Service) List(ctx context.Context, f model.ArticleFilter, p model.Page) ([]model.Article, string, error) {
	if _, err := requireEditor(ctx); err != nil {
		return nil, "", err
	}
	return s.store.ListArticles(ctx, f, p)
}

// Check runs the content check on the article as it is now and records
// the verdict (editor).
func (s *Service) Check(ctx context.Context, id int64) (model.Article, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Article{}, err
	}
	a, err := s.store.ArticleByID(ctx, id)
	if err != nil {
		return model.Article{}, err
	}
	if a.Status != model.ArticleDraft {
		return model.Article{}, model.Coded(model.ErrConflict, "not_draft", "只有草稿需要检测")
	}
	return s.check(ctx, a)
}

// severity orders msg_sec_check's suggestions.
var severity = map[string]int{"pass": 0, "review": 1, "risky": 2}

// check runs msg_sec_check over the title and the text (digest and body,
// in pieces of 2,500 characters) and stores the worst verdict.
func (s *Service) check(ctx context.Context, a model.Article) (model.Article, error) {
	if s.opts.CheckOpenID == "" {
		return model.Article{}, model.Coded(model.ErrConflict, "content_check_unavailable",
			"未配置内容安全检测账号（articles.check_openid），无法提交")
	}
	text := strings.TrimSpace(a.Digest + "\n" + PlainText(a.Body))
	worst := Check{Suggest: "pass", Label: 100}
	for i, part := range chunks(text, checkChunk) {
		title := ""
		if i == 0 {
			title = a.Title
		}
		c, err := s.wx.CheckText(ctx, s.opts.CheckOpenID, title, part)
		if err != nil {
			return model.Article{}, err
		}
		if severity[c.Suggest] > severity[worst.Suggest] {
			worst = c
		}
	}
	a.CheckSuggest, a.CheckLabel, a.CheckedAt = worst.Suggest, worst.Label, s.now()
	out, err := s.store.UpdateArticle(ctx, a, model.ArticleDraft)
	if err != nil {
		return model.Article{}, err
	}
	return out, nil
}

// Submit sends a draft for approval (editor; audited) after the content
// check: risky content is 409 content_risky and stays a draft; "review"
// goes to the approver flagged. A draft without a cover is 409 no_cover.
func (s *Service) Submit(ctx context.Context, id int64) (model.Article, error) {
	p, err := requireEditor(ctx)
	if err != nil {
		return model.Article{}, err
	}
	a, err := s.store.ArticleByID(ctx, id)
	if err != nil {
		return model.Article{}, err
	}
	if a.Status != model.ArticleDraft {
		return model.Article{}, model.Coded(model.ErrConflict, "not_draft", "只有草稿可以提交审核")
	}
	if a.CoverMediaID == "" {
		return model.Article{}, model.Coded(model.ErrConflict, "no_cover", "请先上传封面图片")
	}
	if a, err = s.check(ctx, a); err != nil {
		return model.Article{}, err
	}
	if a.CheckSuggest == "risky" {
		s.record(ctx, "article.check_failed", id, nil, map[string]any{"check_suggest": a.CheckSuggest, "check_label": a.CheckLabel})
		return model.Article{}, model.Coded(model.ErrConflict, "content_risky", "内容安全检测未通过，请修改后再提交")
	}
	before := a
	a.Status, a.SubmittedBy, a.SubmittedAt, a.RejectReason = model.ArticlePending, p.SubjectID, s.now(), ""
	if a, err = s.store.UpdateArticle(ctx, a, model.ArticleDraft); err != nil {
		return model.Article{}, err
	}
	s.record(ctx, "article.submit", id, auditFields(before), auditFields(a))
	return a, nil
}

// Approve approves a submitted article (admin; audited). Under the
// two-person rule the writer and the submitter may not approve it (409
// two_person_rule).
func (s *Service) Approve(ctx context.Context, id int64) (model.Article, error) {
	p, err := requireApprover(ctx)
	if err != nil {
		return model.Article{}, err
	}
	a, err := s.store.ArticleByID(ctx, id)
	if err != nil {
		return model.Article{}, err
	}
	if a.Status != model.ArticlePending {
		return model.Article{}, model.Coded(model.ErrConflict, "not_pending", "该文章不在待审核状态")
	}
	if !s.opts.AllowSelfApproval && (p.SubjectID == a.CreatedBy || p.SubjectID == a.SubmittedBy) {
		return model.Article{}, model.Coded(model.ErrConflict, "two_person_rule", "须由作者和提交人以外的另一位管理员审核")
	}
	before := a
	a.Status, a.ApprovedBy, a.ApprovedAt = model.ArticleApproved, p.SubjectID, s.now()
	if a, err = s.store.UpdateArticle(ctx, a, model.ArticlePending); err != nil {
		return model.Article{}, err
	}
	s.record(ctx, "article.approve", id, auditFields(before), map[string]any{"status": a.Status, "approved_by": p.SubjectID})
	return a, nil
}

// Reject sends a submitted, approved or scheduled article back to draft
// with a reason (admin; audited).
func (s *Service) Reject(ctx context.Context, id int64, reason string) (model.Article, error) {
	if _, err := requireApprover(ctx); err != nil {
		return model.Article{}, err
	}
	reason = strings.TrimSpace(reason)
	if !runes(reason, 1, maxReasonRunes) {
		return model.Article{}, model.Invalid(map[string]string{"reason": fmt.Sprintf("须为 1–%d 个字", maxReasonRunes)})
	}
	a, err := s.store.ArticleByID(ctx, id)
	if err != nil {
		return model.Article{}, err
	}
	from := []model.ArticleStatus{model.ArticlePending, model.ArticleApproved, model.ArticleScheduled}
	if !statusIn(a.Status, from) {
		return model.Article{}, model.Coded(model.ErrConflict, "not_rejectable", "该文章当前不能退回")
	}
	before := a
	a.Status, a.RejectReason, a.ApprovedBy, a.ApprovedAt, a.PublishAt = model.ArticleDraft, reason, 0, time.Time{}, time.Time{}
	if a, err = s.store.UpdateArticle(ctx, a, from...); err != nil {
		return model.Article{}, err
	}
	s.record(ctx, "article.reject", id, auditFields(before), map[string]any{"status": a.Status, "reason": reason})
	return a, nil
}

func statusIn(s model.ArticleStatus, in []model.ArticleStatus) bool {
	for _, x := range in {
		if s == x {
			return true
		}
	}
	return false
}

// Days returns an article and its daily read statistics (editor).
func (s *Service) Days(ctx context.Context, id int64) (model.Article, []model.ArticleDay, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Article{}, nil, err
	}
	a, err := s.store.ArticleByID(ctx, id)
	if err != nil {
		return model.Article{}, nil, err
	}
	days, err := s.store.ArticleDays(ctx, id)
	if err != nil {
		return model.Article{}, nil, err
	}
	return a, days, nil
}

func (s *Service) record(ctx context.Context, action string, id int64, before, after map[string]any) {
	s.recordType(ctx, action, "article", id, before, after)
}

func (s *Service) recordType(ctx context.Context, action, targetType string, id int64, before, after map[string]any) {
	var b, a any
	if before != nil {
		b = before
	}
	if after != nil {
		a = after
	}
	if err := s.audit.Audit(ctx, action, targetType, strconv.FormatInt(id, 10), b, a); err != nil {
		s.log.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
}
