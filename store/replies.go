package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"wanjia/model"
)

// replyRuleRow is an auto-reply rule. Keywords and the news article are
// JSON; the column names avoid MySQL's reserved MATCH.
type replyRuleRow struct {
	ID          int64     `gorm:"primaryKey"`
	Name        string    `gorm:"size:64;not null"`
	MatchType   string    `gorm:"size:16;not null;index:ix_reply_rules_match"`
	KeywordMode string    `gorm:"size:16;not null"`
	Keywords    string    `gorm:"type:text;not null"`
	Priority    int       `gorm:"not null"`
	ReplyKind   string    `gorm:"size:16;not null"`
	ReplyText   string    `gorm:"type:text;not null"`
	MediaID     string    `gorm:"size:128;not null"`
	Articles    string    `gorm:"type:text;not null"`
	Provider    string    `gorm:"size:32;not null"`
	Enabled     bool      `gorm:"not null"`
	CreatedAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
}

func (replyRuleRow) TableName() string { return "reply_rules" }

func replyRuleFromModel(r model.ReplyRule) (replyRuleRow, error) {
	kw := r.Keywords
	if kw == nil {
		kw = []string{}
	}
	kwJSON, err := json.Marshal(kw)
	if err != nil {
		return replyRuleRow{}, fmt.Errorf("keywords: %w", err)
	}
	articles := "[]"
	if len(r.Reply.Articles) > 0 {
		b, err := json.Marshal(r.Reply.Articles)
		if err != nil {
			return replyRuleRow{}, fmt.Errorf("articles: %w", err)
		}
		articles = string(b)
	}
	return replyRuleRow{
		ID: r.ID, Name: r.Name, MatchType: string(r.Match), KeywordMode: string(r.Mode), Keywords: string(kwJSON),
		Priority: r.Priority, ReplyKind: string(r.Reply.Kind), ReplyText: r.Reply.Text, MediaID: r.Reply.MediaID,
		Articles: articles, Provider: r.Provider, Enabled: r.Enabled,
	}, nil
}

func (r replyRuleRow) toModel() (model.ReplyRule, error) {
	var kw []string
	if err := json.Unmarshal([]byte(r.Keywords), &kw); err != nil {
		return model.ReplyRule{}, fmt.Errorf("reply rule %d: keywords: %w", r.ID, err)
	}
	var articles []model.NewsArticle
	if r.Articles != "" {
		if err := json.Unmarshal([]byte(r.Articles), &articles); err != nil {
			return model.ReplyRule{}, fmt.Errorf("reply rule %d: articles: %w", r.ID, err)
		}
	}
	if len(articles) == 0 {
		articles = nil
	}
	if len(kw) == 0 {
		kw = nil
	}
	return model.ReplyRule{
		ID: r.ID, Name: r.Name, Match: model.MatchType(r.MatchType), Mode: model.KeywordMode(r.KeywordMode),
		Keywords: kw, Priority: r.Priority,
		Reply:    model.Reply{Kind: model.ReplyKind(r.ReplyKind), Text: r.ReplyText, MediaID: r.MediaID, Articles: articles},
		Provider: r.Provider, Enabled: r.Enabled, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}, nil
}

// gatewaySettingRow is one gateway setting, a JSON value under a name.
// The key column is setting_key: KEY is reserved in MySQL.
type gatewaySettingRow struct {
	Key       string    `gorm:"column:setting_key;primaryKey;size:64"`
	Value     string    `gorm:"type:text;not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (gatewaySettingRow) TableName() string { return "gateway_settings" }

// gatewayRows are the tables of the gateway's replies, menu, followers and
// results (step 0004).
var gatewayRows = []any{
	&replyRuleRow{}, &gatewaySettingRow{}, &menuRow{}, &followerRow{}, &qrScanRow{}, &resultRow{},
}

// migrateGateway creates the gateway tables and, on a database without
// rules, the seeded rules (the greeting, the intents and the default
// answer), which staff edit like any other. It is idempotent.
func migrateGateway(tx *gorm.DB) error {
	if err := tx.AutoMigrate(gatewayRows...); err != nil {
		return err
	}
	var n int64
	if err := tx.Model(&replyRuleRow{}).Count(&n).Error; err != nil {
		return fmt.Errorf("count reply rules: %w", err)
	}
	if n > 0 {
		return nil
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, r := range SeedReplyRules() {
		row, err := replyRuleFromModel(r)
		if err != nil {
			return err
		}
		row.CreatedAt, row.UpdatedAt = now, now
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("seed reply rule %q: %w", r.Name, err)
		}
	}
	return nil
}

// SeedReplyRules are the rules migration 0004 puts in an empty database:
// the greeting, the four intents of the federation's services (three of
// them with a dynamic provider that later areas register) and the default
// answer. Never change them: they are part of a shipped migration.
func SeedReplyRules() []model.ReplyRule {
	text := func(s string) model.Reply { return model.Reply{Kind: model.ReplyText, Text: s} }
	return []model.ReplyRule{
		{
			Name: "关注欢迎语", Match: model.MatchSubscribe, Enabled: true,
			Reply: text("欢迎关注！这里是市妇联“万家”服务号。\n" +
				"回复“求助”了解12338妇女维权服务；\n" +
				"回复“微课”收看家庭教育空中微课堂；\n" +
				"回复“招聘”了解女性专场招聘会；\n" +
				"回复“最美家庭”参与最美家庭评选。\n" +
				"如遇紧急危险，请立即拨打110。"),
		},
		{
			Name: "12338 维权求助", Match: model.MatchKeyword, Mode: model.KeywordContains,
			Keywords: []string{"12338", "维权", "求助"}, Priority: 100, Enabled: true,
			Reply: text("妇联12338维权服务：\n" +
				"1. 拨打全国妇女维权公益服务热线12338；\n" +
				"2. 打开“万家”小程序，进入“12338求助”在线提交求助，我们会为你保密，并尽快联系你；\n" +
				"3. 如遇紧急危险，请立即拨打110。"),
		},
		{
			Name: "最美家庭", Match: model.MatchKeyword, Mode: model.KeywordContains,
			Keywords: []string{"最美家庭"}, Priority: 90, Provider: "campaign", Enabled: true,
			Reply: text("最美家庭评选：打开“万家”小程序，进入“最美家庭”，了解本届活动，推荐身边的好家庭，或为他们投票。"),
		},
		{
			Name: "空中微课堂", Match: model.MatchKeyword, Mode: model.KeywordContains,
			Keywords: []string{"课堂", "微课"}, Priority: 80, Provider: "lessons", Enabled: true,
			Reply: text("心系妇儿·空中微课堂：家庭教育微课持续更新。打开“万家”小程序，进入“微课堂”即可收看最新课程。"),
		},
		{
			Name: "女性专场招聘会", Match: model.MatchKeyword, Mode: model.KeywordContains,
			Keywords: []string{"招聘", "就业"}, Priority: 80, Provider: "fairs", Enabled: true,
			Reply: text("女性专场招聘会：打开“万家”小程序，进入“招聘会”，查看近期场次和岗位并在线报名。"),
		},
		{
			Name: "默认回复", Match: model.MatchDefault, Enabled: true,
			Reply: text("您好，消息已收到。回复“求助”了解12338维权服务，回复“微课”“招聘”“最美家庭”了解更多。" +
				"如遇紧急危险，请立即拨打110。"),
		},
	}
}

// ReplyRules implements model.ReplyRuleStore.
type ReplyRules struct{ db *DB }

var _ model.ReplyRuleStore = (*ReplyRules)(nil)

// NewReplyRules returns the rule store on db.
func NewReplyRules(db *DB) *ReplyRules { return &ReplyRules{db: db} }

// ListReplyRules returns every rule by id.
func (rs *ReplyRules) ListReplyRules(ctx context.Context) ([]model.ReplyRule, error) {
	var rows []replyRuleRow
	if err := rs.db.conn(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list reply rules: %w", TranslateError(err))
	}
	return toModels[model.ReplyRule](rows)
}

// ReplyRule returns the rule or ErrNotFound.
func (rs *ReplyRules) ReplyRule(ctx context.Context, id int64) (model.ReplyRule, error) {
	var row replyRuleRow
	if err := rs.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return model.ReplyRule{}, fmt.Errorf("reply rule %d: %w", id, TranslateError(err))
	}
	return row.toModel()
}

// CreateReplyRule inserts r and returns it as stored.
func (rs *ReplyRules) CreateReplyRule(ctx context.Context, r model.ReplyRule) (model.ReplyRule, error) {
	row, err := replyRuleFromModel(r)
	if err != nil {
		return model.ReplyRule{}, fmt.Errorf("create reply rule: %w", err)
	}
	row.ID = 0
	now := dbTime(time.Now())
	row.CreatedAt, row.UpdatedAt = now, now
	if err := rs.db.conn(ctx).Create(&row).Error; err != nil {
		return model.ReplyRule{}, fmt.Errorf("create reply rule: %w", TranslateError(err))
	}
	return rs.ReplyRule(ctx, row.ID)
}

// UpdateReplyRule replaces every editable field of the rule r.ID.
func (rs *ReplyRules) UpdateReplyRule(ctx context.Context, r model.ReplyRule) (model.ReplyRule, error) {
	row, err := replyRuleFromModel(r)
	if err != nil {
		return model.ReplyRule{}, fmt.Errorf("update reply rule %d: %w", r.ID, err)
	}
	res := rs.db.conn(ctx).Model(&replyRuleRow{}).Where("id = ?", r.ID).Updates(map[string]any{
		"name": row.Name, "match_type": row.MatchType, "keyword_mode": row.KeywordMode, "keywords": row.Keywords,
		"priority": row.Priority, "reply_kind": row.ReplyKind, "reply_text": row.ReplyText, "media_id": row.MediaID,
		"articles": row.Articles, "provider": row.Provider, "enabled": row.Enabled, "updated_at": dbTime(time.Now()),
	})
	if err := notFoundIfNone(ctx, rs.db, res, &replyRuleRow{}, r.ID); err != nil {
		return model.ReplyRule{}, fmt.Errorf("update reply rule %d: %w", r.ID, err)
	}
	return rs.ReplyRule(ctx, r.ID)
}

// DeleteReplyRule removes the rule or returns ErrNotFound.
func (rs *ReplyRules) DeleteReplyRule(ctx context.Context, id int64) error {
	res := rs.db.conn(ctx).Where("id = ?", id).Delete(&replyRuleRow{})
	if res.Error != nil {
		return fmt.Errorf("delete reply rule %d: %w", id, TranslateError(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete reply rule %d: %w", id, TranslateError(gorm.ErrRecordNotFound))
	}
	return nil
}

// CountReplyRules counts the rules.
func (rs *ReplyRules) CountReplyRules(ctx context.Context) (int64, error) {
	var n int64
	if err := rs.db.conn(ctx).Model(&replyRuleRow{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count reply rules: %w", TranslateError(err))
	}
	return n, nil
}

// GatewaySettings implements model.GatewaySettingsStore.
type GatewaySettings struct{ db *DB }

var _ model.GatewaySettingsStore = (*GatewaySettings)(nil)

// NewGatewaySettings returns the settings store on db.
func NewGatewaySettings(db *DB) *GatewaySettings { return &GatewaySettings{db: db} }

const crisisSettingKey = "crisis"

type crisisSettingValue struct {
	Words         []string `json:"words"`
	AlertStaffIDs []int64  `json:"alert_staff_ids"`
}

// CrisisSettings returns the saved crisis settings, or ErrNotFound when
// they were never saved.
func (gs *GatewaySettings) CrisisSettings(ctx context.Context) (model.CrisisSettings, error) {
	var row gatewaySettingRow
	if err := gs.db.conn(ctx).Where("setting_key = ?", crisisSettingKey).Take(&row).Error; err != nil {
		return model.CrisisSettings{}, fmt.Errorf("crisis settings: %w", TranslateError(err))
	}
	var v crisisSettingValue
	if err := json.Unmarshal([]byte(row.Value), &v); err != nil {
		return model.CrisisSettings{}, fmt.Errorf("crisis settings: %w", err)
	}
	return model.CrisisSettings{Words: v.Words, AlertStaffIDs: v.AlertStaffIDs, UpdatedAt: row.UpdatedAt.UTC()}, nil
}

// SaveCrisisSettings replaces the crisis settings.
func (gs *GatewaySettings) SaveCrisisSettings(ctx context.Context, s model.CrisisSettings, at time.Time) (model.CrisisSettings, error) {
	v := crisisSettingValue{Words: s.Words, AlertStaffIDs: s.AlertStaffIDs}
	if v.Words == nil {
		v.Words = []string{}
	}
	if v.AlertStaffIDs == nil {
		v.AlertStaffIDs = []int64{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return model.CrisisSettings{}, fmt.Errorf("save crisis settings: %w", err)
	}
	row := gatewaySettingRow{Key: crisisSettingKey, Value: string(b), UpdatedAt: dbTime(at)}
	err = gs.db.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "setting_key"}},
		DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return model.CrisisSettings{}, fmt.Errorf("save crisis settings: %w", TranslateError(err))
	}
	got, err := gs.CrisisSettings(ctx)
	if errors.Is(err, model.ErrNotFound) {
		return model.CrisisSettings{}, fmt.Errorf("save crisis settings: row vanished: %w", err)
	}
	return got, err
}
