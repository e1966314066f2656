package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"wanjia/model"
)

// migrateArticles is step 0010: articles, their columns and daily read
// statistics, the account's daily totals, the statistics sync cursor, and
// the staff's TOTP secrets (store/totp.go).
func migrateArticles(tx *gorm.DB) error {
	return tx.AutoMigrate(&columnRow{}, &articleRow{}, &articleDayRow{}, &accountDayRow{}, &statCursorRow{}, &totpRow{})
}

// longText is a text column that holds an article body: MEDIUMTEXT on
// MySQL (TEXT stops at 64 KiB, less than WeChat's 1 MB), text elsewhere.
type longText string

// GormDBDataType picks the column type per dialect.
func (longText) GormDBDataType(db *gorm.DB, _ *schema.Field) string {
	if db.Dialector.Name() == "mysql" {
		return "mediumtext"
	}
	return "text"
}

// columnRow is a column (series) of articles; names are unique.
type columnRow struct {
	ID          int64     `gorm:"primaryKey"`
	Name        string    `gorm:"size:64;not null;uniqueIndex:ux_article_columns_name"`
	Description string    `gorm:"size:512;not null"`
	CreatedBy   int64     `gorm:"not null"`
	CreatedAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
}

func (columnRow) TableName() string { return "article_columns" }

// migrateArticlesMassPoll is step 0015: articles.counts_unknown, set on a
// mass send completed from message/mass/get (no counts known). Existing
// rows are false: their counts came from MASSSENDJOBFINISH.
func migrateArticlesMassPoll(tx *gorm.DB) error {
	return tx.AutoMigrate(&articleRow{})
}

// articleRow is an article. publish_id, msg_id and msg_data_id join the
// WeChat result events and statistics; ix_articles_due serves the
// scheduled-publishing sweep. version guards every update.
type articleRow struct {
	ID            int64      `gorm:"primaryKey"`
	ColumnID      int64      `gorm:"not null;index:ix_articles_column"`
	Title         string     `gorm:"size:128;not null"`
	Author        string     `gorm:"size:64;not null"`
	Digest        string     `gorm:"size:512;not null"`
	Body          longText   `gorm:"not null"`
	SourceURL     string     `gorm:"size:1024;not null"`
	CoverMediaID  string     `gorm:"size:128;not null"`
	CoverURL      string     `gorm:"size:1024;not null"`
	Status        string     `gorm:"size:16;not null;index:ix_articles_due,priority:1"`
	CheckSuggest  string     `gorm:"size:16;not null"`
	CheckLabel    int        `gorm:"not null"`
	CheckedAt     *time.Time `gorm:""`
	CreatedBy     int64      `gorm:"not null"`
	SubmittedBy   int64      `gorm:"not null"`
	SubmittedAt   *time.Time `gorm:""`
	ApprovedBy    int64      `gorm:"not null"`
	ApprovedAt    *time.Time `gorm:""`
	RejectReason  string     `gorm:"size:512;not null"`
	Mode          string     `gorm:"size:16;not null"`
	ToAll         bool       `gorm:"not null"`
	TagID         int64      `gorm:"not null"`
	PublishAt     *time.Time `gorm:"index:ix_articles_due,priority:2"`
	PublishedBy   int64      `gorm:"not null"`
	DraftMediaID  string     `gorm:"size:128;not null"`
	PublishID     asciiBin   `gorm:"size:64;not null;index:ix_articles_publish_id"`
	MsgID         asciiBin   `gorm:"size:64;not null;index:ix_articles_msg_id"`
	MsgDataID     asciiBin   `gorm:"size:64;not null;index:ix_articles_msg_data_id"`
	ClientMsgID   string     `gorm:"size:64;not null"`
	ArticleURL    string     `gorm:"size:1024;not null"`
	WxArticleID   string     `gorm:"size:128;not null"`
	PublishStatus int        `gorm:"not null"`
	TotalCount    int        `gorm:"not null"`
	SentCount     int        `gorm:"not null"`
	ErrorCount    int        `gorm:"not null"`
	CountsUnknown bool       `gorm:"not null;default:false"`
	FailReason    string     `gorm:"size:512;not null"`
	PublishedAt   *time.Time `gorm:"index:ix_articles_published"`
	Version       int64      `gorm:"not null"`
	CreatedAt     time.Time  `gorm:"not null"`
	UpdatedAt     time.Time  `gorm:"not null"`
}

func (articleRow) TableName() string { return "articles" }

func (r articleRow) toModel() model.Article {
	return model.Article{
		ID: r.ID, ColumnID: r.ColumnID, Title: r.Title, Author: r.Author, Digest: r.Digest, Body: string(r.Body),
		SourceURL: r.SourceURL, CoverMediaID: r.CoverMediaID, CoverURL: r.CoverURL,
		Status: model.ArticleStatus(r.Status), CheckSuggest: r.CheckSuggest, CheckLabel: r.CheckLabel,
		CheckedAt: timeVal(r.CheckedAt), CreatedBy: r.CreatedBy, SubmittedBy: r.SubmittedBy, SubmittedAt: timeVal(r.SubmittedAt),
		ApprovedBy: r.ApprovedBy, ApprovedAt: timeVal(r.ApprovedAt), RejectReason: r.RejectReason,
		Mode: model.PublishMode(r.Mode), ToAll: r.ToAll, TagID: r.TagID, PublishAt: timeVal(r.PublishAt),
		PublishedBy: r.PublishedBy, DraftMediaID: r.DraftMediaID, PublishID: string(r.PublishID), MsgID: string(r.MsgID),
		MsgDataID: string(r.MsgDataID), ClientMsgID: r.ClientMsgID, ArticleURL: r.ArticleURL, WxArticleID: r.WxArticleID,
		PublishStatus: r.PublishStatus, TotalCount: r.TotalCount, SentCount: r.SentCount, ErrorCount: r.ErrorCount,
		CountsUnknown: r.CountsUnknown, FailReason: r.FailReason, PublishedAt: timeVal(r.PublishedAt), Version: r.Version,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func articleFromModel(a model.Article) articleRow {
	return articleRow{
		ID: a.ID, ColumnID: a.ColumnID, Title: a.Title, Author: a.Author, Digest: a.Digest, Body: longText(a.Body),
		SourceURL: a.SourceURL, CoverMediaID: a.CoverMediaID, CoverURL: a.CoverURL, Status: string(a.Status),
		CheckSuggest: a.CheckSuggest, CheckLabel: a.CheckLabel, CheckedAt: timePtr(a.CheckedAt), CreatedBy: a.CreatedBy,
		SubmittedBy: a.SubmittedBy, SubmittedAt: timePtr(a.SubmittedAt), ApprovedBy: a.ApprovedBy,
		ApprovedAt: timePtr(a.ApprovedAt), RejectReason: truncateRunes(a.RejectReason, 512), Mode: string(a.Mode),
		ToAll: a.ToAll, TagID: a.TagID, PublishAt: timePtr(a.PublishAt), PublishedBy: a.PublishedBy,
		DraftMediaID: a.DraftMediaID, PublishID: asciiBin(a.PublishID), MsgID: asciiBin(a.MsgID),
		MsgDataID: asciiBin(a.MsgDataID), ClientMsgID: a.ClientMsgID, ArticleURL: truncateBytes(a.ArticleURL, 1024),
		WxArticleID: truncateBytes(a.WxArticleID, 128), PublishStatus: a.PublishStatus, TotalCount: a.TotalCount,
		SentCount: a.SentCount, ErrorCount: a.ErrorCount, CountsUnknown: a.CountsUnknown, FailReason: truncateRunes(a.FailReason, 512),
		PublishedAt: timePtr(a.PublishedAt), Version: a.Version, CreatedAt: dbTime(a.CreatedAt), UpdatedAt: dbTime(a.UpdatedAt),
	}
}

// articleDayRow is one day of one article's statistics, unique per message
// (msg_data_id), article index and day.
type articleDayRow struct {
	ID         int64     `gorm:"primaryKey"`
	ArticleID  int64     `gorm:"not null;index:ix_article_days_article"`
	MsgDataID  asciiBin  `gorm:"size:64;not null;uniqueIndex:ux_article_days_key,priority:1"`
	Idx        int       `gorm:"not null;uniqueIndex:ux_article_days_key,priority:2"`
	Day        string    `gorm:"size:10;not null;uniqueIndex:ux_article_days_key,priority:3;index:ix_article_days_day"`
	ReadCount  int64     `gorm:"not null"` // "reads" is reserved in MySQL
	ReadUsers  int64     `gorm:"not null"`
	ShareCount int64     `gorm:"not null"`
	ShareUsers int64     `gorm:"not null"`
	Favourites int64     `gorm:"not null"`
	Source     string    `gorm:"size:16;not null"`
	UpdatedAt  time.Time `gorm:"not null"`
}

func (articleDayRow) TableName() string { return "article_days" }

func (r articleDayRow) toModel() model.ArticleDay {
	return model.ArticleDay{ArticleID: r.ArticleID, MsgDataID: string(r.MsgDataID), Index: r.Idx, Date: r.Day, Reads: r.ReadCount,
		ReadUsers: r.ReadUsers, Shares: r.ShareCount, ShareUsers: r.ShareUsers, Favourites: r.Favourites, Source: r.Source}
}

// accountDayRow is one day of the Official Account's totals.
type accountDayRow struct {
	Day        string    `gorm:"primaryKey;size:10"`
	ReadUsers  int64     `gorm:"not null"`
	ShareUsers int64     `gorm:"not null"`
	Favourites int64     `gorm:"not null"`
	Source     string    `gorm:"size:16;not null"`
	UpdatedAt  time.Time `gorm:"not null"`
}

func (accountDayRow) TableName() string { return "article_account_days" }

// statCursorRow remembers the last day a statistics sync completed.
type statCursorRow struct {
	Name      string    `gorm:"primaryKey;size:32"`
	Day       string    `gorm:"size:10;not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (statCursorRow) TableName() string { return "article_stat_cursors" }

// Articles stores articles, columns and read statistics.
type Articles struct{ db *DB }

// NewArticles returns the article store on db.
func NewArticles(db *DB) *Articles { return &Articles{db: db} }

func errArticleNotFound() error { return model.Errorf(model.ErrNotFound, "文章不存在") }

// errArticleChanged answers a write based on a version someone else
// changed meanwhile.
func errArticleChanged() error {
	return model.Coded(model.ErrConflict, "article_changed", "文章已被他人修改，请刷新后重试")
}

// CreateArticle inserts a (version 1) and returns it with its id.
func (as *Articles) CreateArticle(ctx context.Context, a model.Article) (model.Article, error) {
	now := time.Now()
	a.ID, a.Version, a.CreatedAt, a.UpdatedAt = 0, 1, now, now
	row := articleFromModel(a)
	if err := as.db.conn(ctx).Create(&row).Error; err != nil {
		return model.Article{}, fmt.Errorf("create article: %w", TranslateError(err))
	}
	return row.toModel(), nil
}

// ArticleByID returns an article with its statistics totals, or
// ErrNotFound.
func (as *Articles) ArticleByID(ctx context.Context, id int64) (model.Article, error) {
	var row articleRow
	if err := as.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Article{}, errArticleNotFound()
		}
		return model.Article{}, fmt.Errorf("article %d: %w", id, err)
	}
	out := []model.Article{row.toModel()}
	if err := as.fillTotals(ctx, out); err != nil {
		return model.Article{}, err
	}
	return out[0], nil
}

// articleBy returns the article whose column col (publish_id or msg_id)
// is key, or ErrNotFound.
func (as *Articles) articleBy(ctx context.Context, col, key string) (model.Article, error) {
	if key == "" {
		return model.Article{}, errArticleNotFound()
	}
	var row articleRow
	if err := as.db.conn(ctx).Where(col+" = ?", asciiBin(key)).Order("id").Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Article{}, errArticleNotFound()
		}
		return model.Article{}, fmt.Errorf("article by %s: %w", col, err)
	}
	return row.toModel(), nil
}

// ArticleByPublishID returns the article of a freepublish job, or
// ErrNotFound.
func (as *Articles) ArticleByPublishID(ctx context.Context, publishID string) (model.Article, error) {
	return as.articleBy(ctx, "publish_id", publishID)
}

// ArticleByMsgID returns the article of a mass send, or ErrNotFound.
func (as *Articles) ArticleByMsgID(ctx context.Context, msgID string) (model.Article, error) {
	return as.articleBy(ctx, "msg_id", msgID)
}

// ListArticles pages articles matching f, newest first.
func (as *Articles) ListArticles(ctx context.Context, f model.ArticleFilter, p model.Page) ([]model.Article, string, error) {
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := as.db.conn(ctx).Model(&articleRow{}).Omit("body")
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.ColumnID != 0 {
		q = q.Where("column_id = ?", f.ColumnID)
	}
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	n := p.Size()
	var rows []articleRow
	if err := q.Order("id DESC").Limit(n + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list articles: %w", err)
	}
	rows, next := cutPage(rows, n, func(r articleRow) int64 { return r.ID })
	out := make([]model.Article, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	if err := as.fillTotals(ctx, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// fillTotals adds the statistics totals to each article.
func (as *Articles) fillTotals(ctx context.Context, arts []model.Article) error {
	if len(arts) == 0 {
		return nil
	}
	ids := make([]int64, len(arts))
	for i, a := range arts {
		ids[i] = a.ID
	}
	var sums []struct {
		ArticleID                                    int64
		ReadCount, ReadUsers, ShareCount, Favourites int64
	}
	err := as.db.conn(ctx).Model(&articleDayRow{}).
		Select("article_id, SUM(read_count) AS read_count, SUM(read_users) AS read_users, SUM(share_count) AS share_count, SUM(favourites) AS favourites").
		Where("article_id IN ?", ids).Group("article_id").Scan(&sums).Error
	if err != nil {
		return fmt.Errorf("article totals: %w", err)
	}
	for _, s := range sums {
		for i := range arts {
			if arts[i].ID == s.ArticleID {
				arts[i].Reads, arts[i].ReadUsers, arts[i].Shares, arts[i].Favourites = s.ReadCount, s.ReadUsers, s.ShareCount, s.Favourites
			}
		}
	}
	return nil
}

// UpdateArticle writes a over the stored article when the stored version
// is still a.Version and, when from is given, its status is one of from;
// it returns the article as stored (version one higher). Otherwise it is
// ErrConflict (article_changed) — someone else wrote first — or
// ErrNotFound.
func (as *Articles) UpdateArticle(ctx context.Context, a model.Article, from ...model.ArticleStatus) (model.Article, error) {
	row := articleFromModel(a)
	row.Version = a.Version + 1
	row.UpdatedAt = dbTime(time.Now())
	q := as.db.conn(ctx).Model(&articleRow{}).Where("id = ? AND version = ?", a.ID, a.Version)
	if len(from) > 0 {
		st := make([]string, len(from))
		for i, s := range from {
			st[i] = string(s)
		}
		q = q.Where("status IN ?", st)
	}
	res := q.Select("*").Omit("id", "created_at", "created_by").Updates(&row)
	if res.Error != nil {
		return model.Article{}, fmt.Errorf("update article: %w", TranslateError(res.Error))
	}
	if res.RowsAffected == 0 {
		if _, err := as.ArticleByID(ctx, a.ID); err != nil {
			return model.Article{}, err
		}
		return model.Article{}, errArticleChanged()
	}
	return as.ArticleByID(ctx, a.ID)
}

// DueArticles returns up to limit scheduled articles whose publish time
// is at or before now, oldest first.
func (as *Articles) DueArticles(ctx context.Context, now time.Time, limit int) ([]model.Article, error) {
	var rows []articleRow
	err := as.db.conn(ctx).Where("status = ? AND publish_at <= ?", string(model.ArticleScheduled), dbTime(now)).
		Order("publish_at, id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("due articles: %w", err)
	}
	out := make([]model.Article, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// StalePublishing returns up to limit articles still publishing that
// were due before olderThan and either were handed to freepublish or mass
// send (their result event may have been lost) or never got a WeChat id
// (the copy that claimed them stopped before WeChat answered).
func (as *Articles) StalePublishing(ctx context.Context, olderThan time.Time, limit int) ([]model.Article, error) {
	var rows []articleRow
	err := as.db.conn(ctx).Where("status = ? AND publish_at <= ? AND "+
		"((mode = ? AND publish_id <> ?) OR (mode = ? AND msg_id <> ?) OR (publish_id = ? AND msg_id = ?))",
		string(model.ArticlePublishing), dbTime(olderThan), string(model.PublishFree), asciiBin(""),
		string(model.PublishMass), asciiBin(""), asciiBin(""), asciiBin("")).
		Order("publish_at, id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("stale publishing articles: %w", err)
	}
	out := make([]model.Article, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// PublishedMessages returns the msg_data_id, id and publish time of every
// article published at or after since, oldest first.
func (as *Articles) PublishedMessages(ctx context.Context, since time.Time) ([]model.Article, error) {
	var rows []articleRow
	err := as.db.conn(ctx).Model(&articleRow{}).Select("id", "msg_data_id", "published_at", "status").
		Where("msg_data_id <> ? AND published_at IS NOT NULL AND published_at >= ?", asciiBin(""), dbTime(since)).
		Order("published_at, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("published messages: %w", err)
	}
	out := make([]model.Article, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// UpsertArticleDays stores days, replacing the figures of the same
// message, index and day.
func (as *Articles) UpsertArticleDays(ctx context.Context, days []model.ArticleDay) error {
	if len(days) == 0 {
		return nil
	}
	now := dbTime(time.Now())
	rows := make([]articleDayRow, len(days))
	for i, d := range days {
		rows[i] = articleDayRow{ArticleID: d.ArticleID, MsgDataID: asciiBin(d.MsgDataID), Idx: d.Index, Day: d.Date,
			ReadCount: d.Reads, ReadUsers: d.ReadUsers, ShareCount: d.Shares, ShareUsers: d.ShareUsers, Favourites: d.Favourites,
			Source: d.Source, UpdatedAt: now}
	}
	err := as.db.conn(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "msg_data_id"}, {Name: "idx"}, {Name: "day"}},
		DoUpdates: clause.AssignmentColumns([]string{"article_id", "read_count", "read_users", "share_count", "share_users",
			"favourites", "source", "updated_at"}),
	}).CreateInBatches(&rows, 200).Error
	if err != nil {
		return fmt.Errorf("upsert article days: %w", TranslateError(err))
	}
	return nil
}

// ArticleDays returns the daily statistics of an article, oldest first.
func (as *Articles) ArticleDays(ctx context.Context, articleID int64) ([]model.ArticleDay, error) {
	var rows []articleDayRow
	if err := as.db.conn(ctx).Where("article_id = ?", articleID).Order("day, idx").Limit(3660).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("article days: %w", err)
	}
	out := make([]model.ArticleDay, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// UpsertAccountDays stores the account's daily totals, replacing a day
// stored before.
func (as *Articles) UpsertAccountDays(ctx context.Context, days []model.AccountDay) error {
	if len(days) == 0 {
		return nil
	}
	now := dbTime(time.Now())
	rows := make([]accountDayRow, len(days))
	for i, d := range days {
		rows[i] = accountDayRow{Day: d.Date, ReadUsers: d.ReadUsers, ShareUsers: d.ShareUsers, Favourites: d.Favourites,
			Source: d.Source, UpdatedAt: now}
	}
	err := as.db.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "day"}},
		DoUpdates: clause.AssignmentColumns([]string{"read_users", "share_users", "favourites", "source", "updated_at"}),
	}).Create(&rows).Error
	if err != nil {
		return fmt.Errorf("upsert account days: %w", TranslateError(err))
	}
	return nil
}

// AccountDays returns the account's daily totals for days in [from, to)
// ("2006-01-02"), oldest first.
func (as *Articles) AccountDays(ctx context.Context, from, to string) ([]model.AccountDay, error) {
	var rows []accountDayRow
	if err := as.db.conn(ctx).Where("day >= ? AND day < ?", from, to).Order("day").Limit(3660).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("account days: %w", err)
	}
	out := make([]model.AccountDay, len(rows))
	for i, r := range rows {
		out[i] = model.AccountDay{Date: r.Day, ReadUsers: r.ReadUsers, ShareUsers: r.ShareUsers, Favourites: r.Favourites, Source: r.Source}
	}
	return out, nil
}

// StatCursor returns the last day the sync called name completed, or ""
// when it never did.
func (as *Articles) StatCursor(ctx context.Context, name string) (string, error) {
	var row statCursorRow
	err := as.db.conn(ctx).Where("name = ?", name).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("stat cursor: %w", err)
	}
	return row.Day, nil
}

// SetStatCursor records that the sync called name completed day. A day
// earlier than the one recorded is ignored, so two runs at once never move
// the cursor back.
func (as *Articles) SetStatCursor(ctx context.Context, name, day string) error {
	now := dbTime(time.Now())
	c := as.db.conn(ctx)
	err := c.Clauses(clause.OnConflict{DoNothing: true}).Create(&statCursorRow{Name: name, Day: day, UpdatedAt: now}).Error
	if err != nil {
		return fmt.Errorf("set stat cursor: %w", TranslateError(err))
	}
	err = c.Model(&statCursorRow{}).Where("name = ? AND day < ?", name, day).
		Updates(map[string]any{"day": day, "updated_at": now}).Error
	if err != nil {
		return fmt.Errorf("set stat cursor: %w", err)
	}
	return nil
}

// ArticleFigures are the article figures of a period.
type ArticleFigures struct {
	Published int64 // articles published or mass-sent in the period
	Reads     int64 // reads (次) on the days of the period
	ReadUsers int64 // daily readers (人次) on the days of the period
	Shares    int64
	Favorites int64
}

// ArticleFigures counts the articles published in [from, to) and the read
// statistics of the days fromDay ≤ day < toDay ("2006-01-02").
func (as *Articles) ArticleFigures(ctx context.Context, from, to time.Time, fromDay, toDay string) (ArticleFigures, error) {
	var f ArticleFigures
	c := as.db.conn(ctx)
	if err := c.Model(&articleRow{}).Where("status = ? AND published_at >= ? AND published_at < ?",
		string(model.ArticlePublished), dbTime(from), dbTime(to)).Count(&f.Published).Error; err != nil {
		return f, fmt.Errorf("article figures: %w", err)
	}
	var sums struct{ ReadCount, ReadUsers, ShareCount, Favourites int64 }
	err := c.Model(&articleDayRow{}).
		Select("COALESCE(SUM(read_count), 0) AS read_count, COALESCE(SUM(read_users), 0) AS read_users, "+
			"COALESCE(SUM(share_count), 0) AS share_count, COALESCE(SUM(favourites), 0) AS favourites").
		Where("day >= ? AND day < ?", fromDay, toDay).Scan(&sums).Error
	if err != nil {
		return f, fmt.Errorf("article figures: %w", err)
	}
	f.Reads, f.ReadUsers, f.Shares, f.Favorites = sums.ReadCount, sums.ReadUsers, sums.ShareCount, sums.Favourites
	return f, nil
}

// --- columns ---

func (r columnRow) toModel() model.Column {
	return model.Column{ID: r.ID, Name: r.Name, Description: r.Description, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

func errColumnNotFound() error { return model.Errorf(model.ErrNotFound, "专栏不存在") }

func errColumnTaken() error {
	return model.Coded(model.ErrConflict, "column_name_taken", "已有同名专栏")
}

// CreateColumn inserts c; a taken name is ErrConflict column_name_taken.
func (as *Articles) CreateColumn(ctx context.Context, c model.Column) (model.Column, error) {
	now := dbTime(time.Now())
	row := columnRow{Name: c.Name, Description: c.Description, CreatedBy: c.CreatedBy, CreatedAt: now, UpdatedAt: now}
	if err := as.db.conn(ctx).Create(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return model.Column{}, errColumnTaken()
		}
		return model.Column{}, fmt.Errorf("create column: %w", TranslateError(err))
	}
	return row.toModel(), nil
}

// UpdateColumn changes a column's name and description.
func (as *Articles) UpdateColumn(ctx context.Context, c model.Column) (model.Column, error) {
	res := as.db.conn(ctx).Model(&columnRow{}).Where("id = ?", c.ID).
		Updates(map[string]any{"name": c.Name, "description": c.Description, "updated_at": dbTime(time.Now())})
	if res.Error != nil {
		if errors.Is(res.Error, gorm.ErrDuplicatedKey) {
			return model.Column{}, errColumnTaken()
		}
		return model.Column{}, fmt.Errorf("update column: %w", TranslateError(res.Error))
	}
	return as.ColumnByID(ctx, c.ID)
}

// DeleteColumn deletes a column that holds no article (ErrConflict
// column_not_empty otherwise).
func (as *Articles) DeleteColumn(ctx context.Context, id int64) error {
	return as.db.WithTx(ctx, func(ctx context.Context) error {
		var n int64
		if err := as.db.conn(ctx).Model(&articleRow{}).Where("column_id = ?", id).Count(&n).Error; err != nil {
			return fmt.Errorf("delete column: %w", err)
		}
		if n > 0 {
			return model.Coded(model.ErrConflict, "column_not_empty", "专栏下还有文章，请先移出")
		}
		res := as.db.conn(ctx).Where("id = ?", id).Delete(&columnRow{})
		if res.Error != nil {
			return fmt.Errorf("delete column: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return errColumnNotFound()
		}
		return nil
	})
}

// ColumnByID returns a column with its totals, or ErrNotFound.
func (as *Articles) ColumnByID(ctx context.Context, id int64) (model.Column, error) {
	var row columnRow
	if err := as.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Column{}, errColumnNotFound()
		}
		return model.Column{}, fmt.Errorf("column %d: %w", id, err)
	}
	out := []model.Column{row.toModel()}
	if err := as.columnTotals(ctx, out); err != nil {
		return model.Column{}, err
	}
	return out[0], nil
}

// ListColumns returns every column (at most 500) by name, with totals.
func (as *Articles) ListColumns(ctx context.Context) ([]model.Column, error) {
	var rows []columnRow
	if err := as.db.conn(ctx).Order("id").Limit(500).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	out := make([]model.Column, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, as.columnTotals(ctx, out)
}

// columnTotals fills the published-article count and the statistics
// totals of each column.
func (as *Articles) columnTotals(ctx context.Context, cols []model.Column) error {
	if len(cols) == 0 {
		return nil
	}
	ids := make([]int64, len(cols))
	for i, c := range cols {
		ids[i] = c.ID
	}
	var counts []struct{ ColumnID, N int64 }
	c := as.db.conn(ctx)
	if err := c.Model(&articleRow{}).Select("column_id, COUNT(*) AS n").
		Where("column_id IN ? AND status = ?", ids, string(model.ArticlePublished)).Group("column_id").Scan(&counts).Error; err != nil {
		return fmt.Errorf("column totals: %w", err)
	}
	var sums []struct {
		ColumnID                                     int64
		ReadCount, ReadUsers, ShareCount, Favourites int64
	}
	err := c.Table("article_days d").Joins("JOIN articles a ON a.id = d.article_id").
		Select("a.column_id AS column_id, SUM(d.read_count) AS read_count, SUM(d.read_users) AS read_users, "+
			"SUM(d.share_count) AS share_count, SUM(d.favourites) AS favourites").
		Where("a.column_id IN ?", ids).Group("a.column_id").Scan(&sums).Error
	if err != nil {
		return fmt.Errorf("column totals: %w", err)
	}
	for i := range cols {
		for _, n := range counts {
			if n.ColumnID == cols[i].ID {
				cols[i].Articles = n.N
			}
		}
		for _, s := range sums {
			if s.ColumnID == cols[i].ID {
				cols[i].Reads, cols[i].ReadUsers, cols[i].Shares, cols[i].Favourites = s.ReadCount, s.ReadUsers, s.ShareCount, s.Favourites
			}
		}
	}
	return nil
}
