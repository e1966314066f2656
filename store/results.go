package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"wanjia/model"
)

// resultRow is an asynchronous WeChat result (mass send, publish, media
// check), keyed by kind and WeChat's id. The per-kind figures are JSON.
type resultRow struct {
	ID         int64     `gorm:"primaryKey"`
	Kind       string    `gorm:"size:16;not null;uniqueIndex:ux_wechat_results_key,priority:1"`
	ResultKey  asciiBin  `gorm:"column:result_key;size:128;not null;uniqueIndex:ux_wechat_results_key,priority:2"`
	App        string    `gorm:"size:8;not null"`
	Status     string    `gorm:"size:64;not null"`
	Detail     string    `gorm:"type:text;not null"`
	ReceivedAt time.Time `gorm:"not null"`
}

func (resultRow) TableName() string { return "wechat_results" }

// resultDetail is the JSON of resultRow.Detail.
type resultDetail struct {
	TotalCount    int      `json:"total_count,omitempty"`
	FilterCount   int      `json:"filter_count,omitempty"`
	SentCount     int      `json:"sent_count,omitempty"`
	ErrorCount    int      `json:"error_count,omitempty"`
	PublishStatus int      `json:"publish_status,omitempty"`
	ArticleID     string   `json:"article_id,omitempty"`
	ArticleURLs   []string `json:"article_urls,omitempty"`
	Suggest       string   `json:"suggest,omitempty"`
	CheckLabel    int      `json:"label,omitempty"`
}

func (r resultRow) toModel() (model.WeChatResult, error) {
	var d resultDetail
	if err := json.Unmarshal([]byte(r.Detail), &d); err != nil {
		return model.WeChatResult{}, fmt.Errorf("result %d: detail: %w", r.ID, err)
	}
	return model.WeChatResult{
		ID: r.ID, Kind: model.ResultKind(r.Kind), App: model.App(r.App), Key: string(r.ResultKey), Status: r.Status,
		TotalCount: d.TotalCount, FilterCount: d.FilterCount, SentCount: d.SentCount, ErrorCount: d.ErrorCount,
		PublishStatus: d.PublishStatus, ArticleID: d.ArticleID, ArticleURLs: d.ArticleURLs,
		Suggest: d.Suggest, CheckLabel: d.CheckLabel, ReceivedAt: r.ReceivedAt.UTC(),
	}, nil
}

// Results implements model.ResultStore.
type Results struct{ db *DB }

var _ model.ResultStore = (*Results)(nil)

// NewResults returns the result store on db.
func NewResults(db *DB) *Results { return &Results{db: db} }

// maxResultKey bounds a result's key (WeChat ids are far shorter).
const maxResultKey = 128

// RecordResult stores r, replacing the result of the same kind and key.
// An empty kind or key, or a key over 128 bytes, is ErrInvalid.
func (rs *Results) RecordResult(ctx context.Context, r model.WeChatResult) (model.WeChatResult, error) {
	if r.Kind == "" || r.Key == "" || len(r.Key) > maxResultKey {
		return model.WeChatResult{}, model.Errorf(model.ErrInvalid, "结果缺少类型或编号")
	}
	d, err := json.Marshal(resultDetail{
		TotalCount: r.TotalCount, FilterCount: r.FilterCount, SentCount: r.SentCount, ErrorCount: r.ErrorCount,
		PublishStatus: r.PublishStatus, ArticleID: r.ArticleID, ArticleURLs: r.ArticleURLs,
		Suggest: r.Suggest, CheckLabel: r.CheckLabel,
	})
	if err != nil {
		return model.WeChatResult{}, fmt.Errorf("record result: %w", err)
	}
	at := r.ReceivedAt
	if at.IsZero() {
		at = time.Now()
	}
	row := resultRow{
		Kind: string(r.Kind), ResultKey: asciiBin(r.Key), App: string(r.App), Status: truncateBytes(r.Status, 64),
		Detail: string(d), ReceivedAt: dbTime(at),
	}
	err = rs.db.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "kind"}, {Name: "result_key"}},
		DoUpdates: clause.AssignmentColumns([]string{"app", "status", "detail", "received_at"}),
	}).Create(&row).Error
	if err != nil {
		return model.WeChatResult{}, fmt.Errorf("record result: %w", TranslateError(err))
	}
	return rs.Result(ctx, r.Kind, r.Key)
}

// Result returns the result of kind and key, or ErrNotFound.
func (rs *Results) Result(ctx context.Context, kind model.ResultKind, key string) (model.WeChatResult, error) {
	var row resultRow
	err := rs.db.conn(ctx).Where("kind = ? AND result_key = ?", string(kind), asciiBin(key)).Take(&row).Error
	if err != nil {
		return model.WeChatResult{}, fmt.Errorf("result %s: %w", kind, TranslateError(err))
	}
	return row.toModel()
}
