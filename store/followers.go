package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"wanjia/model"
)

// followerRow is a follower of the Official Account. Tag ids are stored
// comma-separated. The linked Mini Program user is not stored: it is looked
// up by unionid when read, so a user who signs in after following is
// linked at once.
type followerRow struct {
	ID             int64      `gorm:"primaryKey"`
	OpenID         asciiBin   `gorm:"column:openid;size:64;not null;uniqueIndex:ux_followers_openid"`
	UnionID        asciiBin   `gorm:"column:unionid;size:64;not null;index:ix_followers_unionid"`
	Subscribed     bool       `gorm:"not null;index:ix_followers_subscribed"`
	SubscribedAt   *time.Time `gorm:""`
	UnsubscribedAt *time.Time `gorm:""`
	Scene          string     `gorm:"size:64;not null;index:ix_followers_scene"`
	TagIDs         string     `gorm:"column:tag_ids;size:255;not null"`
	LastActiveAt   *time.Time `gorm:""`
	CreatedAt      time.Time  `gorm:"not null"`
	UpdatedAt      time.Time  `gorm:"not null"`
}

func (followerRow) TableName() string { return "followers" }

// followerListRow is a follower with the id of the Mini Program user of
// the same unionid.
type followerListRow struct {
	F      followerRow `gorm:"embedded"`
	UserID *int64      `gorm:"column:user_id"`
}

func (followerListRow) TableName() string { return "followers" }

func (lr followerListRow) toModel() model.Follower {
	r := lr.F
	var tags []int
	for _, s := range strings.Split(r.TagIDs, ",") {
		if n, err := strconv.Atoi(s); err == nil {
			tags = append(tags, n)
		}
	}
	var uid int64
	if lr.UserID != nil {
		uid = *lr.UserID
	}
	return model.Follower{
		ID: r.ID, OpenID: string(r.OpenID), UnionID: string(r.UnionID), Subscribed: r.Subscribed,
		SubscribedAt: timeVal(r.SubscribedAt), UnsubscribedAt: timeVal(r.UnsubscribedAt), Scene: r.Scene,
		TagIDs: tags, UserID: uid, LastActiveAt: timeVal(r.LastActiveAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// followerSelect adds the linked user id to a followers query.
const followerSelect = `followers.*, (SELECT MIN(users.id) FROM users
	WHERE users.unionid = followers.unionid AND followers.unionid <> '') AS user_id`

// qrScanRow is one scan of a parametric QR code. A scan processed twice
// (WeChat's retry) is stored once.
type qrScanRow struct {
	ID        int64     `gorm:"primaryKey"`
	OpenID    asciiBin  `gorm:"column:openid;size:64;not null;uniqueIndex:ux_qr_scans_event,priority:1"`
	Scene     string    `gorm:"size:64;not null;uniqueIndex:ux_qr_scans_event,priority:2;index:ix_qr_scans_scene"`
	At        time.Time `gorm:"not null;uniqueIndex:ux_qr_scans_event,priority:3"`
	Subscribe bool      `gorm:"not null"`
}

func (qrScanRow) TableName() string { return "qr_scans" }

// Followers implements model.FollowerStore, and keeps QR-code scans.
type Followers struct{ db *DB }

var _ model.FollowerStore = (*Followers)(nil)

// NewFollowers returns the follower store on db.
func NewFollowers(db *DB) *Followers { return &Followers{db: db} }

// maxScene bounds a stored scene (WeChat's scene_str is ≤ 64 characters).
const maxScene = 64

// insertFollower inserts row unless openid exists. Callers then apply
// their conditional update either way: MySQL's affected-row count cannot
// tell an insert from an ignored duplicate here, and the update of a row
// just inserted with the same values changes nothing.
func (fs *Followers) insertFollower(ctx context.Context, row followerRow) error {
	now := dbTime(time.Now())
	row.CreatedAt, row.UpdatedAt = now, now
	err := fs.db.conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "openid"}}, DoNothing: true}).
		Create(&row).Error
	return TranslateError(err)
}

// Subscribe records a subscribe at t. Events are applied in time order: a
// subscribe older than the follower's latest subscribe or unsubscribe (a
// late retry) changes nothing. A non-empty unionID is recorded when the
// follower has none. An empty openid is ErrInvalid.
func (fs *Followers) Subscribe(ctx context.Context, openID, unionID, scene string, t time.Time) (model.Follower, error) {
	if openID == "" {
		return model.Follower{}, model.Errorf(model.ErrInvalid, "缺少 openid")
	}
	at := dbTime(t)
	scene = truncateBytes(scene, maxScene)
	err := fs.insertFollower(ctx, followerRow{
		OpenID: asciiBin(openID), UnionID: asciiBin(unionID), Subscribed: true, SubscribedAt: &at, Scene: scene,
		LastActiveAt: &at,
	})
	if err != nil {
		return model.Follower{}, fmt.Errorf("subscribe: %w", err)
	}
	err = fs.db.conn(ctx).Model(&followerRow{}).
		Where("openid = ? AND (subscribed_at IS NULL OR subscribed_at <= ?) AND (unsubscribed_at IS NULL OR unsubscribed_at <= ?)",
			asciiBin(openID), at, at).
		Updates(map[string]any{
			"subscribed": true, "subscribed_at": at, "scene": scene, "last_active_at": at,
			"updated_at": dbTime(time.Now()),
		}).Error
	if err != nil {
		return model.Follower{}, fmt.Errorf("subscribe: %w", TranslateError(err))
	}
	if unionID != "" {
		if err := fs.setUnionID(ctx, openID, unionID); err != nil {
			return model.Follower{}, fmt.Errorf("subscribe: %w", err)
		}
	}
	return fs.FollowerByOpenID(ctx, openID)
}

func (fs *Followers) setUnionID(ctx context.Context, openID, unionID string) error {
	err := fs.db.conn(ctx).Model(&followerRow{}).Where("openid = ? AND unionid = ?", asciiBin(openID), asciiBin("")).
		Updates(map[string]any{"unionid": asciiBin(unionID), "updated_at": dbTime(time.Now())}).Error
	return TranslateError(err)
}

// Unsubscribe records an unsubscribe at t; an unknown follower is created
// as unsubscribed, and an unsubscribe older than the latest subscribe or
// unsubscribe changes nothing.
func (fs *Followers) Unsubscribe(ctx context.Context, openID string, t time.Time) error {
	if openID == "" {
		return model.Errorf(model.ErrInvalid, "缺少 openid")
	}
	at := dbTime(t)
	if err := fs.insertFollower(ctx, followerRow{OpenID: asciiBin(openID), UnsubscribedAt: &at}); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	err := fs.db.conn(ctx).Model(&followerRow{}).
		Where("openid = ? AND (subscribed_at IS NULL OR subscribed_at <= ?) AND (unsubscribed_at IS NULL OR unsubscribed_at <= ?)",
			asciiBin(openID), at, at).
		Updates(map[string]any{"subscribed": false, "unsubscribed_at": at, "updated_at": dbTime(time.Now())}).Error
	if err != nil {
		return fmt.Errorf("unsubscribe: %w", TranslateError(err))
	}
	return nil
}

// Touch records activity at t (the latest is kept). Someone who writes to
// the Official Account follows it, so an unknown follower is created as
// subscribed (with no subscribe time: it predates the records).
func (fs *Followers) Touch(ctx context.Context, openID string, t time.Time) error {
	if openID == "" {
		return model.Errorf(model.ErrInvalid, "缺少 openid")
	}
	at := dbTime(t)
	if err := fs.insertFollower(ctx, followerRow{OpenID: asciiBin(openID), Subscribed: true, LastActiveAt: &at}); err != nil {
		return fmt.Errorf("touch follower: %w", err)
	}
	err := fs.db.conn(ctx).Model(&followerRow{}).
		Where("openid = ? AND (last_active_at IS NULL OR last_active_at < ?)", asciiBin(openID), at).
		Updates(map[string]any{"last_active_at": at, "updated_at": dbTime(time.Now())}).Error
	if err != nil {
		return fmt.Errorf("touch follower: %w", TranslateError(err))
	}
	return nil
}

// SetFollowerProfile records what WeChat's user/info says of a follower:
// the unionid (when non-empty; a recorded one is kept) and the tags. An
// unknown openid is ErrNotFound.
func (fs *Followers) SetFollowerProfile(ctx context.Context, openID, unionID string, tagIDs []int) error {
	tags := make([]string, len(tagIDs))
	for i, t := range tagIDs {
		tags[i] = strconv.Itoa(t)
	}
	res := fs.db.conn(ctx).Model(&followerRow{}).Where("openid = ?", asciiBin(openID)).
		Updates(map[string]any{"tag_ids": truncateTags(strings.Join(tags, ",")), "updated_at": dbTime(time.Now())})
	if res.Error != nil {
		return fmt.Errorf("set follower profile: %w", TranslateError(res.Error))
	}
	if res.RowsAffected == 0 {
		if _, err := fs.FollowerByOpenID(ctx, openID); err != nil {
			return fmt.Errorf("set follower profile: %w", err)
		}
	}
	if unionID != "" {
		if err := fs.setUnionID(ctx, openID, unionID); err != nil {
			return fmt.Errorf("set follower profile: %w", err)
		}
	}
	return nil
}

// truncateTags cuts a comma list to the column, at a comma.
func truncateTags(s string) string {
	if len(s) <= 255 {
		return s
	}
	s = s[:255]
	if i := strings.LastIndexByte(s, ','); i >= 0 {
		return s[:i]
	}
	return ""
}

// FollowerByOpenID returns the follower or ErrNotFound.
func (fs *Followers) FollowerByOpenID(ctx context.Context, openID string) (model.Follower, error) {
	var row followerListRow
	err := fs.db.conn(ctx).Table("followers").Select(followerSelect).Where("openid = ?", asciiBin(openID)).
		Take(&row).Error
	if err != nil {
		return model.Follower{}, fmt.Errorf("follower by openid: %w", TranslateError(err))
	}
	return row.toModel(), nil
}

// FollowerByUnionID returns the latest follower with unionID, or
// ErrNotFound (also for an empty unionID).
func (fs *Followers) FollowerByUnionID(ctx context.Context, unionID string) (model.Follower, error) {
	if unionID == "" {
		return model.Follower{}, fmt.Errorf("follower by unionid: %w", TranslateError(gorm.ErrRecordNotFound))
	}
	var row followerListRow
	err := fs.db.conn(ctx).Table("followers").Select(followerSelect).Where("unionid = ?", asciiBin(unionID)).
		Order("id DESC").Take(&row).Error
	if err != nil {
		return model.Follower{}, fmt.Errorf("follower by unionid: %w", TranslateError(err))
	}
	return row.toModel(), nil
}

// ListFollowers pages followers matching f, newest first.
func (fs *Followers) ListFollowers(ctx context.Context, f model.FollowerFilter, p model.Page) ([]model.Follower, string, error) {
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := fs.db.conn(ctx).Table("followers").Select(followerSelect)
	if f.Subscribed != nil {
		q = q.Where("followers.subscribed = ?", *f.Subscribed)
	}
	if f.Scene != "" {
		q = q.Where("followers.scene = ?", f.Scene)
	}
	if before > 0 {
		q = q.Where("followers.id < ?", before)
	}
	n := p.Size()
	var rows []followerListRow
	if err := q.Order("followers.id DESC").Limit(n + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list followers: %w", TranslateError(err))
	}
	rows, next := cutPage(rows, n, func(r followerListRow) int64 { return r.F.ID })
	out := make([]model.Follower, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, next, nil
}

// RecordScan stores a QR-code scan; the same scan (openid, scene and time)
// is stored once. An empty openid or scene is ErrInvalid.
func (fs *Followers) RecordScan(ctx context.Context, s model.QRScan) error {
	if s.OpenID == "" || s.Scene == "" {
		return model.Errorf(model.ErrInvalid, "缺少 openid 或场景值")
	}
	row := qrScanRow{OpenID: asciiBin(s.OpenID), Scene: truncateBytes(s.Scene, maxScene), At: dbTime(s.At), Subscribe: s.Subscribe}
	err := fs.db.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("record scan: %w", TranslateError(err))
	}
	return nil
}

// ListScans returns the scans of scene (all scenes when empty) at or after
// since, oldest first, at most limit (1–1000).
func (fs *Followers) ListScans(ctx context.Context, scene string, since time.Time, limit int) ([]model.QRScan, error) {
	if limit <= 0 || limit > 1000 {
		return nil, errors.New("list scans: limit must be 1–1000")
	}
	q := fs.db.conn(ctx).Model(&qrScanRow{}).Where("at >= ?", dbTime(since))
	if scene != "" {
		q = q.Where("scene = ?", scene)
	}
	var rows []qrScanRow
	if err := q.Order("at, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list scans: %w", TranslateError(err))
	}
	out := make([]model.QRScan, len(rows))
	for i, r := range rows {
		out[i] = model.QRScan{ID: r.ID, OpenID: string(r.OpenID), Scene: r.Scene, Subscribe: r.Subscribe, At: r.At.UTC()}
	}
	return out, nil
}
