package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/service/articles"
	"wanjia/service/stats"
)

// Articles is what the article handlers need (articles.Service satisfies
// it). Role checks are repeated by the service.
type Articles interface {
	Create(ctx context.Context, in articles.Input) (model.Article, error)
	Update(ctx context.Context, id int64, in articles.Input) (model.Article, error)
	SetCover(ctx context.Context, id int64, filename string, data []byte) (model.Article, error)
	Get(ctx context.Context, id int64) (model.Article, error)
	List(ctx context.Context, f model.ArticleFilter, p model.Page) ([]model.Article, string, error)
	Check(ctx context.Context, id int64) (model.Article, error)
	Submit(ctx context.Context, id int64) (model.Article, error)
	Approve(ctx context.Context, id int64) (model.Article, error)
	Reject(ctx context.Context, id int64, reason string) (model.Article, error)
	Publish(ctx context.Context, id int64, in articles.PublishInput) (model.Article, error)
	Days(ctx context.Context, id int64) (model.Article, []model.ArticleDay, error)
	CreateColumn(ctx context.Context, in articles.ColumnInput) (model.Column, error)
	UpdateColumn(ctx context.Context, id int64, in articles.ColumnInput) (model.Column, error)
	DeleteColumn(ctx context.Context, id int64) error
	Column(ctx context.Context, id int64) (model.Column, error)
	Columns(ctx context.Context) ([]model.Column, error)
}

// Figures is what the figure handlers need (stats.Service satisfies it).
type Figures interface {
	Overview(ctx context.Context, from, to time.Time) (stats.Report, error)
	Annual(ctx context.Context, year int) (stats.Report, error)
	AnnualXLSX(ctx context.Context, year int) ([]byte, string, error)
}

// maxCoverUpload is the largest cover image accepted (WeChat's image
// material limit).
const maxCoverUpload = 10 << 20

// addArticleRoutes adds the articles' and the figures' staff routes (with
// Deps.Articles, Deps.Figures and Deps.Accounts).
func (s *server) addArticleRoutes(api *Router) {
	if s.Accounts == nil {
		return
	}
	s.addTOTPRoutes(api)
	if svc := s.Articles; svc != nil {
		ed := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleEditor))
		ed.Handle(http.MethodGet, "/articles", "Articles, newest first (?status=&column_id=&cursor=&limit=)", s.wrap(handleListArticles(svc)))
		ed.Handle(http.MethodPost, "/articles", "Write a draft: title, author, digest, body (sanitized HTML), source_url, column_id (audited)",
			s.wrap(handleCreateArticle(svc)))
		ed.Handle(http.MethodGet, "/articles/:id", "One article with its read totals", s.wrap(handleGetArticle(svc)))
		ed.Handle(http.MethodPatch, "/articles/:id", "Change a draft (its column at any time; audited)", s.wrap(handleUpdateArticle(svc)))
		ed.HandleBody(http.MethodPost, "/articles/:id/cover", "Upload the cover (multipart file, JPEG or PNG ≤ 10 MiB) to WeChat as material (audited)",
			maxCoverUpload+multipartOverhead, s.wrap(handleArticleCover(svc)))
		ed.Handle(http.MethodPost, "/articles/:id/check", "Run WeChat's content check on a draft", s.wrap(articleAction(svc.Check)))
		ed.Handle(http.MethodPost, "/articles/:id/submit", "Send a draft for approval after the content check; 409 content_risky (audited)",
			s.wrap(articleAction(svc.Submit)))
		ed.Handle(http.MethodPost, "/articles/:id/publish", `Publish an approved article {"mode":"freepublish"|"masssend","to_all","tag_id","publish_at"} (audited)`,
			s.wrap(handlePublishArticle(svc)))
		ed.Handle(http.MethodGet, "/articles/:id/stats", "Read counts: totals and the daily series", s.wrap(handleArticleStats(svc)))
		ed.Handle(http.MethodGet, "/columns", "Article columns with totals", s.wrap(handleListColumns(svc)))
		ed.Handle(http.MethodPost, "/columns", "Create a column (audited)", s.wrap(handleCreateColumn(svc)))
		ed.Handle(http.MethodGet, "/columns/:id", "One column with totals", s.wrap(handleGetColumn(svc)))
		ed.Handle(http.MethodPatch, "/columns/:id", "Rename a column (audited)", s.wrap(handleUpdateColumn(svc)))
		ed.Handle(http.MethodDelete, "/columns/:id", "Delete an empty column (audited)", s.wrap(handleDeleteColumn(svc)))

		ad := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleAdmin))
		ad.Handle(http.MethodPost, "/articles/:id/approve", "Approve a submitted article (another admin than its writer; audited)",
			s.wrap(articleAction(svc.Approve)))
		ad.Handle(http.MethodPost, "/articles/:id/reject", `Send an article back to draft {"reason"} (audited)`, s.wrap(handleRejectArticle(svc)))
	}
	if svc := s.Figures; svc != nil {
		fg := api.Group("/admin", "admin", "staff", s.requireStaff(stats.ReaderRoles...))
		fg.Handle(http.MethodGet, "/stats/overview", "Every area's figures of a period (?from=&to=, dates, to inclusive)",
			s.wrap(handleOverview(svc)))
		fg.Handle(http.MethodGet, "/reports/annual", "The year's figures and summary paragraph (?year=; ?format=xlsx exports, audited)",
			s.wrap(handleAnnual(svc)))
	}
}

type articleAnswer struct {
	ID           int64   `json:"id"`
	ColumnID     int64   `json:"column_id"`
	Title        string  `json:"title"`
	Author       string  `json:"author"`
	Digest       string  `json:"digest"`
	Body         string  `json:"body,omitempty"`
	SourceURL    string  `json:"source_url"`
	CoverURL     string  `json:"cover_url"`
	Status       string  `json:"status"`
	CheckSuggest string  `json:"check_suggest"`
	CreatedBy    int64   `json:"created_by"`
	SubmittedBy  int64   `json:"submitted_by"`
	ApprovedBy   int64   `json:"approved_by"`
	RejectReason string  `json:"reject_reason"`
	Mode         string  `json:"mode"`
	ToAll        bool    `json:"to_all"`
	TagID        int64   `json:"tag_id"`
	PublishAt    *string `json:"publish_at"`
	PublishID    string  `json:"publish_id"`
	MsgID        string  `json:"msg_id"`
	MsgDataID    string  `json:"msg_data_id"`
	ArticleURL   string  `json:"article_url"`
	SentCount    int     `json:"sent_count"`
	ErrorCount   int     `json:"error_count"`
	TotalCount   int     `json:"total_count"`
	// CountsUnknown: a mass send known to be done from WeChat's status
	// query only (its MASSSENDJOBFINISH never came): the counts and the
	// article URL are not known (0 and ""), until the event comes late.
	CountsUnknown bool    `json:"counts_unknown"`
	FailReason    string  `json:"fail_reason"`
	PublishedAt   *string `json:"published_at"`
	Reads         int64   `json:"reads"`
	ReadUsers     int64   `json:"read_users"`
	Shares        int64   `json:"shares"`
	Favourites    int64   `json:"favourites"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
}

func toArticleAnswer(a model.Article) articleAnswer {
	return articleAnswer{
		ID: a.ID, ColumnID: a.ColumnID, Title: a.Title, Author: a.Author, Digest: a.Digest, Body: a.Body, SourceURL: a.SourceURL,
		CoverURL: a.CoverURL, Status: string(a.Status), CheckSuggest: a.CheckSuggest, CreatedBy: a.CreatedBy,
		SubmittedBy: a.SubmittedBy, ApprovedBy: a.ApprovedBy, RejectReason: a.RejectReason, Mode: string(a.Mode), ToAll: a.ToAll,
		TagID: a.TagID, PublishAt: apiTimePtr(a.PublishAt), PublishID: a.PublishID, MsgID: a.MsgID, MsgDataID: a.MsgDataID,
		ArticleURL: a.ArticleURL, SentCount: a.SentCount, ErrorCount: a.ErrorCount, TotalCount: a.TotalCount,
		CountsUnknown: a.CountsUnknown, FailReason: a.FailReason, PublishedAt: apiTimePtr(a.PublishedAt), Reads: a.Reads, ReadUsers: a.ReadUsers,
		Shares: a.Shares, Favourites: a.Favourites, CreatedAt: apiTime(a.CreatedAt), UpdatedAt: apiTime(a.UpdatedAt),
	}
}

// handleListArticles: GET /api/admin/articles?status=&column_id= →
// {"items","next_cursor"} (bodies left out).
func handleListArticles(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := pageQuery(c)
		if err != nil {
			return err
		}
		col, err := idQuery(c, "column_id")
		if err != nil {
			return err
		}
		st := model.ArticleStatus(c.Query("status"))
		switch st {
		case "", model.ArticleDraft, model.ArticlePending, model.ArticleApproved, model.ArticleScheduled,
			model.ArticlePublishing, model.ArticlePublished, model.ArticleFailed:
		default:
			return model.Invalid(map[string]string{"status": "未知状态"})
		}
		items, next, err := svc.List(c.Request.Context(), model.ArticleFilter{Status: st, ColumnID: col}, p)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(items, next, toArticleAnswer))
		return nil
	}
}

type articleRequest struct {
	Title     *string `json:"title"`
	Author    *string `json:"author"`
	Digest    *string `json:"digest"`
	Body      *string `json:"body"`
	SourceURL *string `json:"source_url"`
	ColumnID  *int64  `json:"column_id"`
}

// Valid leaves the rules to the service (they need the sanitized body).
func (articleRequest) Valid() map[string]string { return nil }

func (r articleRequest) input() articles.Input {
	return articles.Input{Title: r.Title, Author: r.Author, Digest: r.Digest, Body: r.Body, SourceURL: r.SourceURL, ColumnID: r.ColumnID}
}

// handleCreateArticle: POST /api/admin/articles → 201 the draft.
func handleCreateArticle(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[articleRequest](c)
		if err != nil {
			return err
		}
		a, err := svc.Create(c.Request.Context(), req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toArticleAnswer(a))
		return nil
	}
}

// handleGetArticle: GET /api/admin/articles/:id → the article.
func handleGetArticle(svc Articles) func(c *gin.Context) error {
	return articleAction(svc.Get)
}

// articleAction serves a POST or GET on one article that takes no body.
func articleAction(act func(ctx context.Context, id int64) (model.Article, error)) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		a, err := act(c.Request.Context(), id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toArticleAnswer(a))
		return nil
	}
}

// handleUpdateArticle: PATCH /api/admin/articles/:id → the article.
func handleUpdateArticle(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[articleRequest](c)
		if err != nil {
			return err
		}
		a, err := svc.Update(c.Request.Context(), id, req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toArticleAnswer(a))
		return nil
	}
}

// handleArticleCover: POST /api/admin/articles/:id/cover, multipart with
// the image in the part "file" → the article with its cover_url.
func handleArticleCover(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		mr, err := c.Request.MultipartReader()
		if err != nil {
			return errNoFile()
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return errNoFile()
			}
			if err != nil {
				return multipartError(err)
			}
			if part.FormName() != "file" {
				continue
			}
			data, err := io.ReadAll(io.LimitReader(partReader{part}, maxCoverUpload+1))
			if err != nil {
				return multipartError(err)
			}
			if len(data) == 0 {
				return errNoFile()
			}
			a, err := svc.SetCover(c.Request.Context(), id, part.FileName(), data)
			if err != nil {
				return err
			}
			c.JSON(http.StatusOK, toArticleAnswer(a))
			return nil
		}
	}
}

type publishRequest struct {
	Mode      string     `json:"mode"`
	ToAll     bool       `json:"to_all"`
	TagID     int64      `json:"tag_id"`
	PublishAt *time.Time `json:"publish_at"`
}

func (r publishRequest) input() articles.PublishInput {
	in := articles.PublishInput{Mode: model.PublishMode(r.Mode), ToAll: r.ToAll, TagID: r.TagID}
	if r.PublishAt != nil {
		in.PublishAt = *r.PublishAt
	}
	return in
}

func (r publishRequest) Valid() map[string]string { return r.input().Valid() }

// handlePublishArticle: POST /api/admin/articles/:id/publish
// {"mode":"freepublish"|"masssend","to_all","tag_id","publish_at"} → the
// article (publishing, or scheduled when publish_at is later).
func handlePublishArticle(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[publishRequest](c)
		if err != nil {
			return err
		}
		a, err := svc.Publish(c.Request.Context(), id, req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toArticleAnswer(a))
		return nil
	}
}

type rejectRequest struct {
	Reason string `json:"reason"`
}

func (r rejectRequest) Valid() map[string]string {
	if r.Reason == "" {
		return map[string]string{"reason": "必填"}
	}
	return nil
}

// handleRejectArticle: POST /api/admin/articles/:id/reject {"reason"} → the draft.
func handleRejectArticle(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[rejectRequest](c)
		if err != nil {
			return err
		}
		a, err := svc.Reject(c.Request.Context(), id, req.Reason)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toArticleAnswer(a))
		return nil
	}
}

type articleDayAnswer struct {
	Date       string `json:"date"`
	Index      int    `json:"index"`
	Reads      int64  `json:"reads"`
	ReadUsers  int64  `json:"read_users"`
	Shares     int64  `json:"shares"`
	ShareUsers int64  `json:"share_users"`
	Favourites int64  `json:"favourites"`
	Source     string `json:"source"`
}

// handleArticleStats: GET /api/admin/articles/:id/stats →
// {"article_id","msg_data_id","article_url","totals":{…},"days":[…]}.
func handleArticleStats(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		a, days, err := svc.Days(c.Request.Context(), id)
		if err != nil {
			return err
		}
		out := make([]articleDayAnswer, len(days))
		for i, d := range days {
			out[i] = articleDayAnswer{Date: d.Date, Index: d.Index, Reads: d.Reads, ReadUsers: d.ReadUsers, Shares: d.Shares,
				ShareUsers: d.ShareUsers, Favourites: d.Favourites, Source: d.Source}
		}
		c.JSON(http.StatusOK, gin.H{"article_id": a.ID, "status": a.Status, "msg_data_id": a.MsgDataID, "article_url": a.ArticleURL,
			"sent_count": a.SentCount, "error_count": a.ErrorCount,
			"totals": gin.H{"reads": a.Reads, "read_users": a.ReadUsers, "shares": a.Shares, "favourites": a.Favourites},
			"days":   out})
		return nil
	}
}

type columnAnswer struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Articles    int64  `json:"articles"`
	Reads       int64  `json:"reads"`
	ReadUsers   int64  `json:"read_users"`
	Shares      int64  `json:"shares"`
	Favourites  int64  `json:"favourites"`
	CreatedAt   string `json:"created_at"`
}

func toColumnAnswer(c model.Column) columnAnswer {
	return columnAnswer{ID: c.ID, Name: c.Name, Description: c.Description, Articles: c.Articles, Reads: c.Reads,
		ReadUsers: c.ReadUsers, Shares: c.Shares, Favourites: c.Favourites, CreatedAt: apiTime(c.CreatedAt)}
}

type columnRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

func (r columnRequest) input() articles.ColumnInput {
	return articles.ColumnInput{Name: r.Name, Description: r.Description}
}

func (r columnRequest) Valid() map[string]string { return r.input().Valid() }

// handleListColumns: GET /api/admin/columns → {"items":[column]}.
func handleListColumns(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		cols, err := svc.Columns(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(cols, "", toColumnAnswer))
		return nil
	}
}

// handleCreateColumn: POST /api/admin/columns {"name","description"} → 201.
func handleCreateColumn(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[columnRequest](c)
		if err != nil {
			return err
		}
		col, err := svc.CreateColumn(c.Request.Context(), req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toColumnAnswer(col))
		return nil
	}
}

// handleGetColumn: GET /api/admin/columns/:id → the column with totals.
func handleGetColumn(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		col, err := svc.Column(c.Request.Context(), id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toColumnAnswer(col))
		return nil
	}
}

// handleUpdateColumn: PATCH /api/admin/columns/:id {"name","description"}.
func handleUpdateColumn(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[columnRequest](c)
		if err != nil {
			return err
		}
		col, err := svc.UpdateColumn(c.Request.Context(), id, req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toColumnAnswer(col))
		return nil
	}
}

// handleDeleteColumn: DELETE /api/admin/columns/:id → 204; 409
// column_not_empty.
func handleDeleteColumn(svc Articles) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		if err := svc.DeleteColumn(c.Request.Context(), id); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}

// --- figures ---

type figureAnswer struct {
	Key        string             `json:"key"`
	Name       string             `json:"name"`
	Value      float64            `json:"value"`
	Unit       string             `json:"unit"`
	Definition string             `json:"definition"`
	Breakdown  map[string]float64 `json:"breakdown,omitempty"`
}

type sectionAnswer struct {
	Area    string         `json:"area"`
	Title   string         `json:"title"`
	Figures []figureAnswer `json:"figures"`
}

func toSections(secs []model.FigureSection) []sectionAnswer {
	out := make([]sectionAnswer, len(secs))
	for i, s := range secs {
		figs := make([]figureAnswer, len(s.Figures))
		for j, f := range s.Figures {
			figs[j] = figureAnswer{Key: f.Key, Name: f.Name, Value: f.Value, Unit: f.Unit, Definition: f.Definition, Breakdown: f.Breakdown}
		}
		out[i] = sectionAnswer{Area: s.Area, Title: s.Title, Figures: figs}
	}
	return out
}

// dayQuery reads a date (2006-01-02, Asia/Shanghai) from the query.
func dayQuery(c *gin.Context, name string, def time.Time) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	t, err := time.ParseInLocation("2006-01-02", v, shanghai)
	if err != nil {
		return time.Time{}, model.Invalid(map[string]string{name: "须为日期，如 2026-03-08"})
	}
	return t, nil
}

// handleOverview: GET /api/admin/stats/overview?from=&to= (dates; to
// inclusive; default this year up to today) →
// {"from","to","sections":[{"area","title","figures":[…]}]}.
func handleOverview(svc Figures) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		now := time.Now().In(shanghai)
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, shanghai)
		from, err := dayQuery(c, "from", time.Date(now.Year(), 1, 1, 0, 0, 0, 0, shanghai))
		if err != nil {
			return err
		}
		to, err := dayQuery(c, "to", today)
		if err != nil {
			return err
		}
		if to.Before(from) {
			return model.Invalid(map[string]string{"to": "结束日期不能早于开始日期"})
		}
		r, err := svc.Overview(c.Request.Context(), from, to.AddDate(0, 0, 1))
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"from": from.Format("2006-01-02"), "to": to.Format("2006-01-02"), "sections": toSections(r.Sections)})
		return nil
	}
}

// handleAnnual: GET /api/admin/reports/annual?year= (default last year) →
// {"year","from","to","sections","summary"}; ?format=xlsx → the workbook
// (audited).
func handleAnnual(svc Figures) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		year := time.Now().In(shanghai).Year() - 1
		if v := c.Query("year"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return model.Invalid(map[string]string{"year": "须为年份，如 2025"})
			}
			year = n
		}
		switch c.Query("format") {
		case "xlsx":
			b, name, err := svc.AnnualXLSX(c.Request.Context(), year)
			if err != nil {
				return err
			}
			c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
			c.Header("Cache-Control", "no-store")
			sendBytes(c, http.StatusOK, xlsxType, b)
			return nil
		case "", "json":
		default:
			return model.Invalid(map[string]string{"format": "须为 json 或 xlsx"})
		}
		r, err := svc.Annual(c.Request.Context(), year)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"year": r.Year, "from": r.From.In(shanghai).Format("2006-01-02"),
			"to": r.To.AddDate(0, 0, -1).In(shanghai).Format("2006-01-02"), "sections": toSections(r.Sections), "summary": r.Summary})
		return nil
	}
}
