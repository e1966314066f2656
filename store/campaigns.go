package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"wanjia/model"
)

// migrateCampaigns is step 0007: 最美家庭 campaigns, nominations and their
// photos, the vote ledger and the winners.
func migrateCampaigns(tx *gorm.DB) error {
	return tx.AutoMigrate(&campaignRow{}, &nominationRow{}, &nominationPhotoRow{}, &voteRow{}, &winnerRow{})
}

// campaignRow is a campaign; categories (code, name, quota) are a JSON
// array.
type campaignRow struct {
	ID                 int64      `gorm:"primaryKey"`
	Title              string     `gorm:"size:255;not null"`
	Description        string     `gorm:"type:text;not null"`
	Categories         string     `gorm:"type:text;not null"`
	NominateFrom       time.Time  `gorm:"not null;index:ix_campaigns_nominate"`
	NominateTo         time.Time  `gorm:"not null"`
	ReviewFrom         time.Time  `gorm:"not null"`
	ReviewTo           time.Time  `gorm:"not null"`
	VoteFrom           time.Time  `gorm:"not null"`
	VoteTo             time.Time  `gorm:"not null;index:ix_campaigns_vote_to"`
	ResultsAt          time.Time  `gorm:"not null"`
	VotesPerDay        int        `gorm:"not null"`
	PerNominationDaily int        `gorm:"not null"`
	ResultsFixedAt     *time.Time `gorm:""`
	ResultsDigest      string     `gorm:"size:64;not null;default:''"`
	CreatedBy          int64      `gorm:"not null"`
	CreatedAt          time.Time  `gorm:"not null"`
	UpdatedAt          time.Time  `gorm:"not null"`
}

func (campaignRow) TableName() string { return "campaigns" }

type categoryJSON struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Quota int    `json:"quota"`
}

func (r campaignRow) toModel() (model.Campaign, error) {
	var cats []categoryJSON
	if err := json.Unmarshal([]byte(r.Categories), &cats); err != nil {
		return model.Campaign{}, fmt.Errorf("campaign %d: categories: %w", r.ID, err)
	}
	c := model.Campaign{
		ID: r.ID, Title: r.Title, Description: r.Description, Categories: make([]model.CampaignCategory, len(cats)),
		NominateFrom: r.NominateFrom.UTC(), NominateTo: r.NominateTo.UTC(), ReviewFrom: r.ReviewFrom.UTC(),
		ReviewTo: r.ReviewTo.UTC(), VoteFrom: r.VoteFrom.UTC(), VoteTo: r.VoteTo.UTC(), ResultsAt: r.ResultsAt.UTC(),
		VotesPerDay: r.VotesPerDay, PerNominationDaily: r.PerNominationDaily, ResultsFixedAt: timeVal(r.ResultsFixedAt),
		ResultsDigest: r.ResultsDigest, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	for i, x := range cats {
		c.Categories[i] = model.CampaignCategory{Code: x.Code, Name: x.Name, Quota: x.Quota}
	}
	return c, nil
}

func campaignFromModel(c model.Campaign) (campaignRow, error) {
	cats := make([]categoryJSON, len(c.Categories))
	for i, x := range c.Categories {
		cats[i] = categoryJSON{Code: x.Code, Name: x.Name, Quota: x.Quota}
	}
	b, err := json.Marshal(cats)
	if err != nil {
		return campaignRow{}, fmt.Errorf("campaign categories: %w", err)
	}
	return campaignRow{
		ID: c.ID, Title: c.Title, Description: c.Description, Categories: string(b),
		NominateFrom: dbTime(c.NominateFrom), NominateTo: dbTime(c.NominateTo), ReviewFrom: dbTime(c.ReviewFrom),
		ReviewTo: dbTime(c.ReviewTo), VoteFrom: dbTime(c.VoteFrom), VoteTo: dbTime(c.VoteTo), ResultsAt: dbTime(c.ResultsAt),
		VotesPerDay: c.VotesPerDay, PerNominationDaily: c.PerNominationDaily, ResultsFixedAt: timePtr(c.ResultsFixedAt),
		ResultsDigest: c.ResultsDigest, CreatedBy: c.CreatedBy,
	}, nil
}

// nominationRow is a nomination. votes is the count of its valid ledger
// rows, changed only in the transactions that insert or void them (and by
// Recount); ix_campaign_nominations_list serves the gallery and the
// reviewers' lists.
type nominationRow struct {
	ID           int64      `gorm:"primaryKey"`
	CampaignID   int64      `gorm:"not null;index:ix_campaign_nominations_list,priority:1"`
	Status       string     `gorm:"size:16;not null;index:ix_campaign_nominations_list,priority:2;index:ix_campaign_nominations_status"`
	Category     string     `gorm:"size:32;not null;index:ix_campaign_nominations_list,priority:3"`
	FamilyName   string     `gorm:"size:128;not null"`
	Story        string     `gorm:"type:text;not null"`
	UserID       int64      `gorm:"not null;index:ix_campaign_nominations_user"`
	ConsentAt    time.Time  `gorm:"not null"`
	TextSuggest  string     `gorm:"size:8;not null"`
	TextLabel    int        `gorm:"not null"`
	TextTraceID  string     `gorm:"size:64;not null"`
	RejectReason string     `gorm:"size:600;not null"`
	ReviewedBy   int64      `gorm:"not null"`
	ReviewedAt   *time.Time `gorm:""`
	ApprovedAt   *time.Time `gorm:""`
	Votes        int64      `gorm:"not null"`
	ShareCodeKey string     `gorm:"size:255;not null"`
	CreatedAt    time.Time  `gorm:"not null;index:ix_campaign_nominations_created"`
	UpdatedAt    time.Time  `gorm:"not null"`
}

func (nominationRow) TableName() string { return "campaign_nominations" }

func (r nominationRow) toModel() model.Nomination {
	return model.Nomination{
		ID: r.ID, CampaignID: r.CampaignID, Category: r.Category, FamilyName: r.FamilyName, Story: r.Story,
		UserID: r.UserID, ConsentAt: r.ConsentAt.UTC(), Status: model.NominationStatus(r.Status),
		TextSuggest: r.TextSuggest, TextLabel: r.TextLabel, TextTraceID: r.TextTraceID, RejectReason: r.RejectReason,
		ReviewedBy: r.ReviewedBy, ReviewedAt: timeVal(r.ReviewedAt), ApprovedAt: timeVal(r.ApprovedAt), Votes: r.Votes,
		ShareCodeKey: r.ShareCodeKey, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// nominationPhotoRow is one photo of a nomination and its media check,
// found by WeChat's trace_id when the result arrives.
type nominationPhotoRow struct {
	ID           int64      `gorm:"primaryKey"`
	NominationID int64      `gorm:"not null;index:ix_nomination_photos_nomination"`
	Position     int        `gorm:"not null"`
	UploadID     int64      `gorm:"not null"`
	UploadKey    asciiBin   `gorm:"size:255;not null"`
	TraceID      asciiBin   `gorm:"size:128;not null;index:ix_nomination_photos_trace"`
	Suggest      string     `gorm:"size:8;not null"`
	Label        int        `gorm:"not null"`
	Attempts     int        `gorm:"not null"`
	SubmittedAt  *time.Time `gorm:"index:ix_nomination_photos_submitted"`
	CheckedAt    *time.Time `gorm:""`
}

func (nominationPhotoRow) TableName() string { return "campaign_nomination_photos" }

func (r nominationPhotoRow) toModel() model.NominationPhoto {
	return model.NominationPhoto{ID: r.ID, UploadID: r.UploadID, Key: string(r.UploadKey), TraceID: string(r.TraceID),
		Suggest: r.Suggest, Label: r.Label, Attempts: r.Attempts}
}

// voteRow is one row of the append-only vote ledger: rows are inserted,
// and only ever changed to void them (voided_at, void_reason, voided_by);
// never deleted. The two unique indexes are the vote limits: a voter's
// day_slot in a campaign is 1..votes_per_day and nom_slot in a nomination
// 1..per_nomination_daily, so a row over either limit cannot exist on any
// database, whatever the concurrency. A voided row keeps its slots.
// at_minute is the unix minute, for bursts and odd hours in portable SQL.
// There is no other index: every index is written by every vote, and the
// campaign's integrity scans use ux_campaign_votes_slot's leading column.
type voteRow struct {
	ID           int64      `gorm:"primaryKey"`
	CampaignID   int64      `gorm:"not null;uniqueIndex:ux_campaign_votes_slot,priority:1"`
	VoterID      int64      `gorm:"not null;uniqueIndex:ux_campaign_votes_slot,priority:2;uniqueIndex:ux_campaign_votes_nslot,priority:2"`
	VoteDay      int        `gorm:"not null;uniqueIndex:ux_campaign_votes_slot,priority:3;uniqueIndex:ux_campaign_votes_nslot,priority:3"`
	DaySlot      int        `gorm:"not null;uniqueIndex:ux_campaign_votes_slot,priority:4"`
	NominationID int64      `gorm:"not null;uniqueIndex:ux_campaign_votes_nslot,priority:1"`
	NomSlot      int        `gorm:"not null;uniqueIndex:ux_campaign_votes_nslot,priority:4"`
	Category     string     `gorm:"size:32;not null"`
	IPHash       string     `gorm:"size:16;not null"`
	DeviceHash   string     `gorm:"size:16;not null"`
	AtMinute     int64      `gorm:"not null"`
	CreatedAt    time.Time  `gorm:"not null"`
	VoidedAt     *time.Time `gorm:""`
	VoidReason   string     `gorm:"size:600;not null;default:''"`
	VoidedBy     int64      `gorm:"not null;default:0"`
}

func (voteRow) TableName() string { return "campaign_votes" }

// winnerRow is a winner of a category; rows are never deleted, an
// override sets replaced_at on the rows it replaces.
type winnerRow struct {
	ID           int64      `gorm:"primaryKey"`
	CampaignID   int64      `gorm:"not null;index:ix_campaign_winners_campaign,priority:1"`
	Category     string     `gorm:"size:32;not null;index:ix_campaign_winners_campaign,priority:2"`
	NominationID int64      `gorm:"not null"`
	Place        int        `gorm:"not null"`
	Votes        int64      `gorm:"not null"`
	Source       string     `gorm:"size:16;not null"`
	Reason       string     `gorm:"size:600;not null"`
	DecidedBy    int64      `gorm:"not null"`
	DecidedAt    time.Time  `gorm:"not null"`
	ReplacedAt   *time.Time `gorm:""`
}

func (winnerRow) TableName() string { return "campaign_winners" }

func (r winnerRow) toModel() model.Winner {
	return model.Winner{ID: r.ID, CampaignID: r.CampaignID, Category: r.Category, NominationID: r.NominationID,
		Rank: r.Place, Votes: r.Votes, Source: r.Source, Reason: r.Reason, DecidedBy: r.DecidedBy,
		DecidedAt: r.DecidedAt.UTC(), ReplacedAt: timeVal(r.ReplacedAt)}
}

// Campaigns stores campaigns, nominations, the vote ledger and winners.
type Campaigns struct{ db *DB }

// NewCampaigns returns the campaign store on db.
func NewCampaigns(db *DB) *Campaigns { return &Campaigns{db: db} }

var (
	errCampaignNotFound   = model.Errorf(model.ErrNotFound, "活动不存在")
	errNominationNotFound = model.Errorf(model.ErrNotFound, "推荐不存在")
)

// CreateCampaign inserts c and returns it with its id.
func (cs *Campaigns) CreateCampaign(ctx context.Context, c model.Campaign) (model.Campaign, error) {
	row, err := campaignFromModel(c)
	if err != nil {
		return model.Campaign{}, err
	}
	row.ID = 0
	if err := cs.db.conn(ctx).Create(&row).Error; err != nil {
		return model.Campaign{}, fmt.Errorf("create campaign: %w", TranslateError(err))
	}
	return cs.Campaign(ctx, row.ID)
}

// UpdateCampaign replaces the editable fields of campaign c.ID (title,
// description, categories, windows, limits). A campaign whose results
// are fixed is 409 results_fixed; one removing a category that has
// nominations is 409 category_in_use.
func (cs *Campaigns) UpdateCampaign(ctx context.Context, c model.Campaign) (model.Campaign, error) {
	row, err := campaignFromModel(c)
	if err != nil {
		return model.Campaign{}, err
	}
	err = cs.db.WithTx(ctx, func(ctx context.Context) error {
		old, err := cs.lockCampaign(ctx, c.ID)
		if err != nil {
			return err
		}
		if old.ResultsFixedAt != nil {
			return model.Coded(model.ErrConflict, "results_fixed", "评选结果已确定，活动不能再修改")
		}
		keep := map[string]bool{}
		for _, x := range c.Categories {
			keep[x.Code] = true
		}
		var used []string
		if err := cs.db.conn(ctx).Model(&nominationRow{}).Where("campaign_id = ?", c.ID).Distinct().
			Pluck("category", &used).Error; err != nil {
			return err
		}
		for _, u := range used {
			if !keep[u] {
				return model.Coded(model.ErrConflict, "category_in_use", "已有推荐的类别不能删除："+u)
			}
		}
		return cs.db.conn(ctx).Model(&campaignRow{}).Where("id = ?", c.ID).Updates(map[string]any{
			"title": row.Title, "description": row.Description, "categories": row.Categories,
			"nominate_from": row.NominateFrom, "nominate_to": row.NominateTo, "review_from": row.ReviewFrom,
			"review_to": row.ReviewTo, "vote_from": row.VoteFrom, "vote_to": row.VoteTo, "results_at": row.ResultsAt,
			"votes_per_day": row.VotesPerDay, "per_nomination_daily": row.PerNominationDaily,
			"updated_at": dbTime(time.Now()),
		}).Error
	})
	if err != nil {
		return model.Campaign{}, fmt.Errorf("update campaign: %w", err)
	}
	return cs.Campaign(ctx, c.ID)
}

func (cs *Campaigns) lockCampaign(ctx context.Context, id int64) (campaignRow, error) {
	var row campaignRow
	c := cs.db.conn(ctx)
	if cs.db.driver != "sqlite" {
		c = c.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := c.Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return row, errCampaignNotFound
		}
		return row, err
	}
	return row, nil
}

// Campaign returns the campaign id, or ErrNotFound.
func (cs *Campaigns) Campaign(ctx context.Context, id int64) (model.Campaign, error) {
	var row campaignRow
	if err := cs.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Campaign{}, errCampaignNotFound
		}
		return model.Campaign{}, fmt.Errorf("campaign %d: %w", id, err)
	}
	return row.toModel()
}

// Campaigns returns up to limit campaigns, the latest to open for
// nominations first.
func (cs *Campaigns) Campaigns(ctx context.Context, limit int) ([]model.Campaign, error) {
	var rows []campaignRow
	if err := cs.db.conn(ctx).Order("nominate_from DESC, id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("campaigns: %w", err)
	}
	return toModels[model.Campaign](rows)
}

// CampaignsToFix returns the campaigns whose vote window ended by now and
// whose winners are not fixed yet.
func (cs *Campaigns) CampaignsToFix(ctx context.Context, now time.Time) ([]model.Campaign, error) {
	var rows []campaignRow
	if err := cs.db.conn(ctx).Where("vote_to <= ? AND results_fixed_at IS NULL", dbTime(now)).Order("id").Limit(100).
		Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("campaigns to fix: %w", err)
	}
	return toModels[model.Campaign](rows)
}

// --- nominations ---

// CreateNomination inserts n with its photos (in order) and returns it; a
// zero CreatedAt is now.
func (cs *Campaigns) CreateNomination(ctx context.Context, n model.Nomination) (model.Nomination, error) {
	row := nominationRow{
		CampaignID: n.CampaignID, Status: string(model.NominationPending), Category: n.Category, FamilyName: n.FamilyName,
		Story: n.Story, UserID: n.UserID, ConsentAt: dbTime(n.ConsentAt), TextSuggest: n.TextSuggest,
		TextLabel: n.TextLabel, TextTraceID: n.TextTraceID,
	}
	if !n.CreatedAt.IsZero() {
		row.CreatedAt, row.UpdatedAt = dbTime(n.CreatedAt), dbTime(n.CreatedAt)
	}
	err := cs.db.WithTx(ctx, func(ctx context.Context) error {
		if err := cs.db.conn(ctx).Create(&row).Error; err != nil {
			return TranslateError(err)
		}
		return cs.insertPhotos(ctx, row.ID, n.Photos)
	})
	if err != nil {
		return model.Nomination{}, fmt.Errorf("create nomination: %w", err)
	}
	return cs.Nomination(ctx, row.ID)
}

func (cs *Campaigns) insertPhotos(ctx context.Context, nominationID int64, photos []model.NominationPhoto) error {
	if len(photos) == 0 {
		return nil
	}
	rows := make([]nominationPhotoRow, len(photos))
	for i, p := range photos {
		rows[i] = nominationPhotoRow{NominationID: nominationID, Position: i + 1, UploadID: p.UploadID, UploadKey: asciiBin(p.Key)}
	}
	return TranslateError(cs.db.conn(ctx).Create(&rows).Error)
}

func (cs *Campaigns) lockNomination(ctx context.Context, id int64) (nominationRow, error) {
	var row nominationRow
	c := cs.db.conn(ctx)
	if cs.db.driver != "sqlite" {
		c = c.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := c.Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return row, errNominationNotFound
		}
		return row, err
	}
	return row, nil
}

// EditNomination replaces category, family name, story, text check and
// photos of userID's pending nomination n.ID. Photos with the same upload
// as before keep their media check. Someone else's nomination is
// ErrNotFound; one that is no longer pending is 409 not_pending.
func (cs *Campaigns) EditNomination(ctx context.Context, n model.Nomination, userID int64) (model.Nomination, error) {
	err := cs.db.WithTx(ctx, func(ctx context.Context) error {
		row, err := cs.lockNomination(ctx, n.ID)
		if err != nil {
			return err
		}
		if row.UserID != userID {
			return errNominationNotFound
		}
		if row.Status != string(model.NominationPending) {
			return model.Coded(model.ErrConflict, "not_pending", "推荐已审核，不能再修改")
		}
		c := cs.db.conn(ctx)
		if err := c.Model(&nominationRow{}).Where("id = ?", n.ID).Updates(map[string]any{
			"category": n.Category, "family_name": n.FamilyName, "story": n.Story, "text_suggest": n.TextSuggest,
			"text_label": n.TextLabel, "text_trace_id": n.TextTraceID, "updated_at": dbTime(cmpOrNow(n.UpdatedAt)),
		}).Error; err != nil {
			return err
		}
		var old []nominationPhotoRow
		if err := c.Where("nomination_id = ?", n.ID).Find(&old).Error; err != nil {
			return err
		}
		byUpload := make(map[int64]nominationPhotoRow, len(old))
		for _, p := range old {
			byUpload[p.UploadID] = p
		}
		if err := c.Where("nomination_id = ?", n.ID).Delete(&nominationPhotoRow{}).Error; err != nil {
			return err
		}
		rows := make([]nominationPhotoRow, len(n.Photos))
		for i, p := range n.Photos {
			r := nominationPhotoRow{NominationID: n.ID, Position: i + 1, UploadID: p.UploadID, UploadKey: asciiBin(p.Key)}
			if prev, ok := byUpload[p.UploadID]; ok {
				r.TraceID, r.Suggest, r.Label, r.Attempts = prev.TraceID, prev.Suggest, prev.Label, prev.Attempts
				r.SubmittedAt, r.CheckedAt = prev.SubmittedAt, prev.CheckedAt
			}
			rows[i] = r
		}
		if len(rows) == 0 {
			return nil
		}
		return TranslateError(c.Create(&rows).Error)
	})
	if err != nil {
		return model.Nomination{}, fmt.Errorf("edit nomination: %w", err)
	}
	return cs.Nomination(ctx, n.ID)
}

func cmpOrNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// Nomination returns the nomination id with its photos, or ErrNotFound.
func (cs *Campaigns) Nomination(ctx context.Context, id int64) (model.Nomination, error) {
	var row nominationRow
	if err := cs.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Nomination{}, errNominationNotFound
		}
		return model.Nomination{}, fmt.Errorf("nomination %d: %w", id, err)
	}
	ns, err := cs.withPhotos(ctx, []nominationRow{row})
	if err != nil {
		return model.Nomination{}, err
	}
	return ns[0], nil
}

// VoteTarget returns what a vote needs of nomination id (no story, no
// photos), or ErrNotFound.
func (cs *Campaigns) VoteTarget(ctx context.Context, id int64) (model.Nomination, error) {
	var row nominationRow
	err := cs.db.conn(ctx).Select("id", "campaign_id", "category", "status", "family_name", "votes").
		Where("id = ?", id).Take(&row).Error
	if err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Nomination{}, errNominationNotFound
		}
		return model.Nomination{}, fmt.Errorf("nomination %d: %w", id, err)
	}
	return row.toModel(), nil
}

func (cs *Campaigns) withPhotos(ctx context.Context, rows []nominationRow) ([]model.Nomination, error) {
	out := make([]model.Nomination, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var photos []nominationPhotoRow
	if err := cs.db.conn(ctx).Where("nomination_id IN ?", ids).Order("nomination_id, position").Find(&photos).Error; err != nil {
		return nil, fmt.Errorf("nomination photos: %w", err)
	}
	byNom := make(map[int64][]model.NominationPhoto, len(rows))
	for _, p := range photos {
		byNom[p.NominationID] = append(byNom[p.NominationID], p.toModel())
	}
	for i, r := range rows {
		out[i] = r.toModel()
		out[i].Photos = byNom[r.ID]
	}
	return out, nil
}

// CountNominations counts userID's nominations in a campaign, and those
// created since since.
func (cs *Campaigns) CountNominations(ctx context.Context, campaignID, userID int64, since time.Time) (total, recent int64, err error) {
	var row struct{ Total, Recent int64 }
	err = cs.db.conn(ctx).Model(&nominationRow{}).
		Select("COUNT(*) AS total, COALESCE(SUM(CASE WHEN created_at >= ? THEN 1 ELSE 0 END), 0) AS recent", dbTime(since)).
		Where("campaign_id = ? AND user_id = ?", campaignID, userID).Scan(&row).Error
	if err != nil {
		return 0, 0, fmt.Errorf("count nominations: %w", err)
	}
	return row.Total, row.Recent, nil
}

// NominationsByUser returns a page of userID's nominations, newest first.
func (cs *Campaigns) NominationsByUser(ctx context.Context, userID int64, p model.Page) ([]model.Nomination, string, error) {
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := cs.db.conn(ctx).Where("user_id = ?", userID)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []nominationRow
	if err := q.Order("id DESC").Limit(p.Size() + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("nominations by user: %w", err)
	}
	rows, next := cutPage(rows, p.Size(), func(r nominationRow) int64 { return r.ID })
	ns, err := cs.withPhotos(ctx, rows)
	return ns, next, err
}

// ListNominations returns a page of nominations for reviewers, oldest
// first (the review queue).
func (cs *Campaigns) ListNominations(ctx context.Context, f model.NominationFilter, p model.Page) ([]model.Nomination, string, error) {
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := cs.db.conn(ctx).Where("id > ?", after)
	if f.CampaignID > 0 {
		q = q.Where("campaign_id = ?", f.CampaignID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.Category != "" {
		q = q.Where("category = ?", f.Category)
	}
	var rows []nominationRow
	if err := q.Order("id").Limit(p.Size() + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list nominations: %w", err)
	}
	rows, next := cutPage(rows, p.Size(), func(r nominationRow) int64 { return r.ID })
	ns, err := cs.withPhotos(ctx, rows)
	return ns, next, err
}

// galleryCursor is the position after the last item of a page: votes and
// id (sort by votes) or approval time in unix microseconds and id (sort by
// recency), as "v.<votes>.<id>" or "t.<micros>.<id>" in base64url.
type galleryCursor struct {
	sort string
	key  int64
	id   int64
}

func (c galleryCursor) encode() string {
	p := "v"
	if c.sort == model.SortRecent {
		p = "t"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(p + "." + strconv.FormatInt(c.key, 10) + "." + strconv.FormatInt(c.id, 10)))
}

// ParseGalleryCursor decodes a gallery cursor for sort; anything malformed
// or made for the other sort is ErrInvalid.
func ParseGalleryCursor(s, sort string) (key, id int64, err error) {
	bad := model.Invalid(map[string]string{"cursor": "分页参数无效"})
	if len(s) > 100 {
		return 0, 0, bad
	}
	b, derr := base64.RawURLEncoding.DecodeString(s)
	if derr != nil {
		return 0, 0, bad
	}
	parts := strings.Split(string(b), ".")
	want := "v"
	if sort == model.SortRecent {
		want = "t"
	}
	if len(parts) != 3 || parts[0] != want {
		return 0, 0, bad
	}
	key, kerr := strconv.ParseInt(parts[1], 10, 64)
	id, ierr := strconv.ParseInt(parts[2], 10, 64)
	if kerr != nil || ierr != nil || key < 0 || id < 1 {
		return 0, 0, bad
	}
	return key, id, nil
}

// Gallery returns a page of approved nominations (with photos) by votes
// (most first) or by approval time (latest first), ties by id. Pages are
// keyset pages: by votes a nomination that gains votes between two pages
// may show twice or not at all, as on any live ranking.
func (cs *Campaigns) Gallery(ctx context.Context, g model.GalleryQuery) ([]model.Nomination, string, error) {
	limit := model.Page{Limit: g.Limit}.Size()
	q := cs.db.conn(ctx).Where("campaign_id = ? AND status = ?", g.CampaignID, string(model.NominationApproved))
	if g.Category != "" {
		q = q.Where("category = ?", g.Category)
	}
	if g.Cursor != "" {
		key, id, err := ParseGalleryCursor(g.Cursor, g.Sort)
		if err != nil {
			return nil, "", err
		}
		if g.Sort == model.SortRecent {
			at := dbTime(time.UnixMicro(key))
			q = q.Where("(approved_at < ? OR (approved_at = ? AND id < ?))", at, at, id)
		} else {
			q = q.Where("(votes < ? OR (votes = ? AND id < ?))", key, key, id)
		}
	}
	order := "votes DESC, id DESC"
	if g.Sort == model.SortRecent {
		order = "approved_at DESC, id DESC"
	}
	var rows []nominationRow
	if err := q.Order(order).Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("gallery: %w", err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		c := galleryCursor{sort: g.Sort, key: last.Votes, id: last.ID}
		if g.Sort == model.SortRecent {
			c.key = timeVal(last.ApprovedAt).UnixMicro()
		}
		next = c.encode()
	}
	ns, err := cs.withPhotos(ctx, rows)
	return ns, next, err
}

// Review records a reviewer's decision on nomination id, under a row lock
// so that an edit cannot slip in between the checks and the change.
// Approving needs a pending nomination; rejecting a pending or approved one
// (a take-down). Otherwise 409 already_reviewed. It returns the
// nomination before and after.
func (cs *Campaigns) Review(ctx context.Context, id int64, d model.ReviewDecision) (before, after model.Nomination, err error) {
	err = cs.db.WithTx(ctx, func(ctx context.Context) error {
		row, err := cs.lockNomination(ctx, id)
		if err != nil {
			return err
		}
		ns, err := cs.withPhotos(ctx, []nominationRow{row})
		if err != nil {
			return err
		}
		before = ns[0]
		st := model.NominationStatus(row.Status)
		if (d.Approve && st != model.NominationPending) || (!d.Approve && st == model.NominationRejected) {
			return model.Coded(model.ErrConflict, "already_reviewed", "该推荐已审核")
		}
		if d.Validate != nil {
			if err := d.Validate(before); err != nil {
				return err
			}
		}
		set := map[string]any{"reviewed_by": d.StaffID, "reviewed_at": dbTime(d.At), "updated_at": dbTime(d.At)}
		if d.Approve {
			set["status"], set["approved_at"], set["reject_reason"] = string(model.NominationApproved), dbTime(d.At), ""
		} else {
			set["status"], set["reject_reason"] = string(model.NominationRejected), d.Reason
		}
		return cs.db.conn(ctx).Model(&nominationRow{}).Where("id = ?", id).Updates(set).Error
	})
	if err != nil {
		return before, after, fmt.Errorf("review nomination: %w", err)
	}
	after, err = cs.Nomination(ctx, id)
	return before, after, err
}

// PhotosToSubmit returns the photos of nomination id that have no media
// check in flight (no trace id).
func (cs *Campaigns) PhotosToSubmit(ctx context.Context, id int64) ([]model.NominationPhoto, error) {
	var rows []nominationPhotoRow
	if err := cs.db.conn(ctx).Where("nomination_id = ? AND trace_id = ?", id, asciiBin("")).Order("position").
		Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("photos to submit: %w", err)
	}
	out := make([]model.NominationPhoto, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// SetPhotoTrace records that photo photoID's media check was submitted
// with traceID at now.
func (cs *Campaigns) SetPhotoTrace(ctx context.Context, photoID int64, traceID string, now time.Time) error {
	err := cs.db.conn(ctx).Model(&nominationPhotoRow{}).Where("id = ? AND trace_id = ?", photoID, asciiBin("")).
		Updates(map[string]any{"trace_id": asciiBin(traceID), "submitted_at": dbTime(now),
			"attempts": gorm.Expr("attempts + 1")}).Error
	if err != nil {
		return fmt.Errorf("set photo trace: %w", err)
	}
	return nil
}

// RecordPhotoCheck stores the media-check result of traceID on its photo
// and returns the photo's nomination id; found is false when no photo
// waits for that trace id (a check of another area, or a resubmitted one).
// Recording the same result twice changes nothing.
func (cs *Campaigns) RecordPhotoCheck(ctx context.Context, traceID, suggest string, label int, now time.Time) (nominationID int64, found bool, err error) {
	if traceID == "" {
		return 0, false, nil
	}
	var row nominationPhotoRow
	err = cs.db.conn(ctx).Where("trace_id = ?", asciiBin(traceID)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("record photo check: %w", err)
	}
	err = cs.db.conn(ctx).Model(&nominationPhotoRow{}).Where("id = ?", row.ID).
		Updates(map[string]any{"suggest": truncateBytes(suggest, 8), "label": label, "checked_at": dbTime(now)}).Error
	if err != nil {
		return 0, false, fmt.Errorf("record photo check: %w", err)
	}
	return row.NominationID, true, nil
}

// StalePhotoChecks clears the trace id of photos whose media check was
// submitted before before, got no result and was tried fewer than
// maxAttempts times, so they are submitted again; it returns their
// nominations (at most 100).
func (cs *Campaigns) StalePhotoChecks(ctx context.Context, before time.Time, maxAttempts int) ([]int64, error) {
	var rows []nominationPhotoRow
	err := cs.db.conn(ctx).Where("suggest = ? AND trace_id <> ? AND submitted_at < ? AND attempts < ?",
		"", asciiBin(""), dbTime(before), maxAttempts).Order("id").Limit(100).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("stale photo checks: %w", err)
	}
	var noms []int64
	seen := map[int64]bool{}
	for _, r := range rows {
		if err := cs.db.conn(ctx).Model(&nominationPhotoRow{}).Where("id = ? AND suggest = ?", r.ID, "").
			Update("trace_id", asciiBin("")).Error; err != nil {
			return noms, fmt.Errorf("stale photo checks: %w", err)
		}
		if !seen[r.NominationID] {
			seen[r.NominationID] = true
			noms = append(noms, r.NominationID)
		}
	}
	return noms, nil
}

// UnsubmittedPhotos returns the pending nominations (at most 100), not
// changed since before, that have a photo whose media check was never
// submitted (or was cleared by StalePhotoChecks) and was tried fewer than
// maxAttempts times.
func (cs *Campaigns) UnsubmittedPhotos(ctx context.Context, before time.Time, maxAttempts int) ([]int64, error) {
	var ids []int64
	err := cs.db.conn(ctx).Raw("SELECT DISTINCT p.nomination_id FROM campaign_nomination_photos p "+
		"JOIN campaign_nominations n ON n.id = p.nomination_id "+
		"WHERE p.trace_id = ? AND p.attempts < ? AND n.status = ? AND n.updated_at < ? ORDER BY p.nomination_id LIMIT 100",
		asciiBin(""), maxAttempts, string(model.NominationPending), dbTime(before)).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("unsubmitted photos: %w", err)
	}
	return ids, nil
}

// SetShareCode records the stored share-code image key of nomination id
// once: it returns the key that is recorded afterwards (key, or the one an
// earlier call recorded) and whether this call recorded it.
func (cs *Campaigns) SetShareCode(ctx context.Context, id int64, key string) (string, bool, error) {
	res := cs.db.conn(ctx).Model(&nominationRow{}).Where("id = ? AND share_code_key = ?", id, "").
		Update("share_code_key", key)
	if res.Error != nil {
		return "", false, fmt.Errorf("set share code: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return key, true, nil
	}
	n, err := cs.VoteTarget(ctx, id)
	if err != nil {
		return "", false, err
	}
	var row nominationRow
	if err := cs.db.conn(ctx).Select("share_code_key").Where("id = ?", n.ID).Take(&row).Error; err != nil {
		return "", false, fmt.Errorf("set share code: %w", err)
	}
	return row.ShareCodeKey, false, nil
}
