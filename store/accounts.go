package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"wanjia/model"
)

// asciiBin is a case-sensitive ASCII string column. MySQL's default
// collation (utf8mb4_unicode_ci) compares case-insensitively, which would
// make two WeChat openids that differ in case one user; on MySQL the column
// is ascii_bin. Elsewhere it is a plain varchar (case-sensitive already).
type asciiBin string

// GormDBDataType picks the column type per dialect.
func (asciiBin) GormDBDataType(db *gorm.DB, f *schema.Field) string {
	size := f.Size
	if size <= 0 {
		size = 64
	}
	if db.Dialector.Name() == "mysql" {
		return fmt.Sprintf("varchar(%d) CHARACTER SET ascii COLLATE ascii_bin", size)
	}
	return fmt.Sprintf("varchar(%d)", size)
}

// userRow is a Mini Program user.
type userRow struct {
	ID          int64    `gorm:"primaryKey"`
	OpenID      asciiBin `gorm:"column:openid;size:64;not null;uniqueIndex:ux_users_openid"`
	UnionID     asciiBin `gorm:"column:unionid;size:64;not null;index:ix_users_unionid"`
	Nickname    string   `gorm:"size:64;not null"`
	AvatarURL   string   `gorm:"size:512;not null"`
	PhoneSealed string   `gorm:"size:255;not null"`
	PhoneIndex  string   `gorm:"size:64;not null;index:ix_users_phone_index"`
	// SessionKeySealed is the latest WeChat session_key, sealed (step
	// 0005). It never leaves the store through model.User.
	SessionKeySealed string    `gorm:"column:session_key_sealed;size:255;not null;default:''"`
	CreatedAt        time.Time `gorm:"not null"`
	UpdatedAt        time.Time `gorm:"not null"`
}

func (userRow) TableName() string { return "users" }

func (r userRow) toModel() model.User {
	return model.User{
		ID: r.ID, OpenID: string(r.OpenID), UnionID: string(r.UnionID), Nickname: r.Nickname,
		AvatarURL: r.AvatarURL, HasPhone: r.PhoneSealed != "", PhoneSealed: r.PhoneSealed, PhoneIndex: r.PhoneIndex,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// staffRow is a staff account. Roles are stored comma-separated.
type staffRow struct {
	ID                 int64      `gorm:"primaryKey"`
	Username           string     `gorm:"size:32;not null;uniqueIndex:ux_staff_username"`
	DisplayName        string     `gorm:"size:64;not null"`
	PasswordHash       string     `gorm:"size:100;not null"`
	Roles              string     `gorm:"size:200;not null"`
	StationID          int64      `gorm:"not null;index:ix_staff_station"`
	District           string     `gorm:"size:64;not null"`
	Disabled           bool       `gorm:"not null"`
	MustChangePassword bool       `gorm:"not null"`
	FailedLogins       int        `gorm:"not null"`
	LockedUntil        *time.Time `gorm:""`
	LastLoginAt        *time.Time `gorm:""`
	CreatedAt          time.Time  `gorm:"not null"`
	UpdatedAt          time.Time  `gorm:"not null"`
}

func (staffRow) TableName() string { return "staff" }

func staffFromModel(s model.Staff) staffRow {
	roles := make([]string, len(s.Roles))
	for i, r := range s.Roles {
		roles[i] = string(r)
	}
	return staffRow{
		ID: s.ID, Username: s.Username, DisplayName: s.DisplayName, PasswordHash: s.PasswordHash,
		Roles: strings.Join(roles, ","), StationID: s.StationID, District: s.District, Disabled: s.Disabled,
		MustChangePassword: s.MustChangePassword, FailedLogins: s.FailedLogins,
		LockedUntil: timePtr(s.LockedUntil), LastLoginAt: timePtr(s.LastLoginAt),
	}
}

func (r staffRow) toModel() model.Staff {
	var roles []model.Role
	for _, s := range strings.Split(r.Roles, ",") {
		if s != "" {
			roles = append(roles, model.Role(s))
		}
	}
	return model.Staff{
		ID: r.ID, Username: r.Username, DisplayName: r.DisplayName, PasswordHash: r.PasswordHash, Roles: roles,
		StationID: r.StationID, District: r.District, Disabled: r.Disabled, MustChangePassword: r.MustChangePassword,
		FailedLogins: r.FailedLogins, LockedUntil: timeVal(r.LockedUntil), LastLoginAt: timeVal(r.LastLoginAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// loginRow is one staff sign-in attempt.
type loginRow struct {
	ID       int64     `gorm:"primaryKey"`
	StaffID  int64     `gorm:"not null;index:ix_staff_logins_staff"`
	Username string    `gorm:"size:32;not null"`
	IP       string    `gorm:"size:45;not null"`
	Outcome  string    `gorm:"size:16;not null"`
	At       time.Time `gorm:"not null"`
}

func (loginRow) TableName() string { return "staff_logins" }

func (r loginRow) toModel() model.LoginAttempt {
	return model.LoginAttempt{ID: r.ID, StaffID: r.StaffID, Username: r.Username, IP: r.IP, Outcome: r.Outcome, At: r.At.UTC()}
}

// auditRow is one audit log entry.
type auditRow struct {
	ID         int64     `gorm:"primaryKey"`
	StaffID    int64     `gorm:"not null;index:ix_audit_log_staff"`
	Username   string    `gorm:"size:32;not null"`
	Action     string    `gorm:"size:64;not null;index:ix_audit_log_action"`
	TargetType string    `gorm:"size:32;not null;index:ix_audit_log_target,priority:1"`
	TargetID   string    `gorm:"size:64;not null;index:ix_audit_log_target,priority:2"`
	Summary    string    `gorm:"type:text;not null"`
	IP         string    `gorm:"size:45;not null"`
	RequestID  string    `gorm:"size:64;not null"`
	At         time.Time `gorm:"not null"`
}

func (auditRow) TableName() string { return "audit_log" }

func (r auditRow) toModel() model.AuditEntry {
	return model.AuditEntry{
		ID: r.ID, StaffID: r.StaffID, Username: r.Username, Action: r.Action, TargetType: r.TargetType,
		TargetID: r.TargetID, Summary: []byte(r.Summary), IP: r.IP, RequestID: r.RequestID, At: r.At.UTC(),
	}
}

// dbTime is t as stored: UTC, to the microsecond (MySQL keeps milliseconds).
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := dbTime(t)
	return &u
}

func timeVal(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// encodeCursor and decodeCursor make the opaque next_cursor of an id-keyed
// list.
func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if id, perr := strconv.ParseInt(string(b), 10, 64); perr == nil && id > 0 {
			return id, nil
		}
	}
	return 0, model.Invalid(map[string]string{"cursor": "分页参数无效"})
}

// cutPage cuts rows fetched with limit+1 to limit and returns the next cursor.
func cutPage[T any](rows []T, limit int, id func(T) int64) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, encodeCursor(id(rows[limit-1]))
}

// Users implements model.UserStore.
type Users struct{ db *DB }

var _ model.UserStore = (*Users)(nil)

// NewUsers returns the user store on db.
func NewUsers(db *DB) *Users { return &Users{db: db} }

// UpsertUserByOpenID returns the user with openID, creating it when
// missing. The insert is ON CONFLICT DO NOTHING on the openid unique index
// (ON DUPLICATE KEY on MySQL) followed by a read, so concurrent first logins
// create one row on every dialect. An empty openid is ErrInvalid.
func (u *Users) UpsertUserByOpenID(ctx context.Context, openID, unionID string) (model.User, error) {
	if openID == "" {
		return model.User{}, model.Errorf(model.ErrInvalid, "缺少 openid")
	}
	row, err := u.byOpenID(ctx, openID)
	if errors.Is(err, gorm.ErrRecordNotFound) {
		ins := userRow{OpenID: asciiBin(openID), UnionID: asciiBin(unionID)}
		err = u.db.conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "openid"}}, DoNothing: true}).
			Create(&ins).Error
		if err != nil {
			return model.User{}, fmt.Errorf("upsert user: %w", TranslateError(err))
		}
		row, err = u.byOpenID(ctx, openID)
	}
	if err != nil {
		return model.User{}, fmt.Errorf("upsert user: %w", TranslateError(err))
	}
	if unionID != "" && row.UnionID == "" {
		err := u.db.conn(ctx).Model(&userRow{}).Where("id = ? AND unionid = ?", row.ID, "").
			Updates(map[string]any{"unionid": asciiBin(unionID), "updated_at": dbTime(time.Now())}).Error
		if err != nil {
			return model.User{}, fmt.Errorf("upsert user: unionid: %w", TranslateError(err))
		}
		row.UnionID = asciiBin(unionID)
	}
	return row.toModel(), nil
}

func (u *Users) byOpenID(ctx context.Context, openID string) (userRow, error) {
	var row userRow
	err := u.db.conn(ctx).Where("openid = ?", asciiBin(openID)).Take(&row).Error
	return row, err
}

// UserByID returns the user or ErrNotFound.
func (u *Users) UserByID(ctx context.Context, id int64) (model.User, error) {
	var row userRow
	if err := u.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return model.User{}, fmt.Errorf("user %d: %w", id, TranslateError(err))
	}
	return row.toModel(), nil
}

// UpdateUserProfile sets nickname and avatar URL and returns the user, or
// ErrNotFound.
func (u *Users) UpdateUserProfile(ctx context.Context, id int64, nickname, avatarURL string) (model.User, error) {
	res := u.db.conn(ctx).Model(&userRow{}).Where("id = ?", id).
		Updates(map[string]any{"nickname": nickname, "avatar_url": avatarURL, "updated_at": dbTime(time.Now())})
	if err := notFoundIfNone(ctx, u.db, res, &userRow{}, id); err != nil {
		return model.User{}, fmt.Errorf("update user %d: %w", id, err)
	}
	return u.UserByID(ctx, id)
}

// SetUserPhone stores the sealed phone and its blind index, or returns
// ErrNotFound.
func (u *Users) SetUserPhone(ctx context.Context, id int64, sealed, index string) error {
	res := u.db.conn(ctx).Model(&userRow{}).Where("id = ?", id).
		Updates(map[string]any{"phone_sealed": sealed, "phone_index": index, "updated_at": dbTime(time.Now())})
	if err := notFoundIfNone(ctx, u.db, res, &userRow{}, id); err != nil {
		return fmt.Errorf("set user phone %d: %w", id, err)
	}
	return nil
}

// SetUserSessionKey stores the user's latest session_key, sealed by the
// caller, or returns ErrNotFound. The value is never read into model.User.
func (u *Users) SetUserSessionKey(ctx context.Context, id int64, sealed string) error {
	res := u.db.conn(ctx).Model(&userRow{}).Where("id = ?", id).
		Updates(map[string]any{"session_key_sealed": sealed, "updated_at": dbTime(time.Now())})
	if err := notFoundIfNone(ctx, u.db, res, &userRow{}, id); err != nil {
		return fmt.Errorf("set user session key %d: %w", id, err)
	}
	return nil
}

// UserSessionKey returns the sealed session_key of the user ("" when none
// was kept), or ErrNotFound.
func (u *Users) UserSessionKey(ctx context.Context, id int64) (string, error) {
	var row userRow
	if err := u.db.conn(ctx).Select("id", "session_key_sealed").Where("id = ?", id).Take(&row).Error; err != nil {
		return "", fmt.Errorf("user session key %d: %w", id, TranslateError(err))
	}
	return row.SessionKeySealed, nil
}

// notFoundIfNone translates res's error, and makes an update that matched
// no row ErrNotFound. MySQL reports changed rows, not matched ones, so a
// zero count is confirmed by looking the row up.
func notFoundIfNone(ctx context.Context, db *DB, res *gorm.DB, table any, id int64) error {
	if res.Error != nil {
		return TranslateError(res.Error)
	}
	if res.RowsAffected > 0 {
		return nil
	}
	var n int64
	if err := db.conn(ctx).Model(table).Where("id = ?", id).Count(&n).Error; err != nil {
		return TranslateError(err)
	}
	if n == 0 {
		return TranslateError(gorm.ErrRecordNotFound)
	}
	return nil
}

// Staff implements model.StaffStore: staff accounts and their sign-in
// history.
type Staff struct{ db *DB }

var _ model.StaffStore = (*Staff)(nil)

// NewStaff returns the staff store on db.
func NewStaff(db *DB) *Staff { return &Staff{db: db} }

// CreateStaff inserts s; a taken username is ErrConflict.
func (st *Staff) CreateStaff(ctx context.Context, s model.Staff) (model.Staff, error) {
	row := staffFromModel(s)
	row.ID = 0
	if err := st.db.conn(ctx).Create(&row).Error; err != nil {
		err = TranslateError(err)
		if errors.Is(err, model.ErrConflict) {
			return model.Staff{}, model.Coded(model.ErrConflict, "username_taken", "用户名已被使用")
		}
		return model.Staff{}, fmt.Errorf("create staff: %w", err)
	}
	return st.StaffByID(ctx, row.ID)
}

// StaffByID returns the account or ErrNotFound.
func (st *Staff) StaffByID(ctx context.Context, id int64) (model.Staff, error) {
	var row staffRow
	if err := st.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return model.Staff{}, fmt.Errorf("staff %d: %w", id, TranslateError(err))
	}
	return row.toModel(), nil
}

// StaffByUsername returns the account or ErrNotFound.
func (st *Staff) StaffByUsername(ctx context.Context, username string) (model.Staff, error) {
	var row staffRow
	if err := st.db.conn(ctx).Where("username = ?", username).Take(&row).Error; err != nil {
		return model.Staff{}, fmt.Errorf("staff by username: %w", TranslateError(err))
	}
	return row.toModel(), nil
}

// ListStaff returns a page of accounts by ascending id.
func (st *Staff) ListStaff(ctx context.Context, p model.Page) ([]model.Staff, string, error) {
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := p.Size()
	var rows []staffRow
	if err := st.db.conn(ctx).Where("id > ?", after).Order("id").Limit(n + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list staff: %w", TranslateError(err))
	}
	rows, next := cutPage(rows, n, func(r staffRow) int64 { return r.ID })
	out := make([]model.Staff, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, next, nil
}

// UpdateStaff writes display name, roles, station, district and disabled.
func (st *Staff) UpdateStaff(ctx context.Context, s model.Staff) (model.Staff, error) {
	row := staffFromModel(s)
	res := st.db.conn(ctx).Model(&staffRow{}).Where("id = ?", s.ID).Updates(map[string]any{
		"display_name": row.DisplayName, "roles": row.Roles, "station_id": row.StationID,
		"district": row.District, "disabled": row.Disabled, "updated_at": dbTime(time.Now()),
	})
	if err := notFoundIfNone(ctx, st.db, res, &staffRow{}, s.ID); err != nil {
		return model.Staff{}, fmt.Errorf("update staff %d: %w", s.ID, err)
	}
	return st.StaffByID(ctx, s.ID)
}

// SetStaffPassword replaces the hash and must-change flag, and clears any
// failure count and lock.
func (st *Staff) SetStaffPassword(ctx context.Context, id int64, hash string, mustChange bool) error {
	res := st.db.conn(ctx).Model(&staffRow{}).Where("id = ?", id).Updates(map[string]any{
		"password_hash": hash, "must_change_password": mustChange, "failed_logins": 0,
		"locked_until": nil, "updated_at": dbTime(time.Now()),
	})
	if err := notFoundIfNone(ctx, st.db, res, &staffRow{}, id); err != nil {
		return fmt.Errorf("set staff password %d: %w", id, err)
	}
	return nil
}

// StaffLoginFailed counts a failure in one UPDATE (no lost increments under
// concurrency) and locks the account when the count reaches threshold.
// locked_until is assigned before failed_logins: MySQL evaluates SET
// assignments left to right with the new values.
func (st *Staff) StaffLoginFailed(ctx context.Context, id int64, threshold int, lockUntil time.Time) (model.Staff, error) {
	res := st.db.conn(ctx).Exec(`UPDATE staff SET
		locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END,
		failed_logins = CASE WHEN failed_logins + 1 >= ? THEN 0 ELSE failed_logins + 1 END,
		updated_at = ?
		WHERE id = ?`, threshold, dbTime(lockUntil), threshold, dbTime(time.Now()), id)
	if err := notFoundIfNone(ctx, st.db, res, &staffRow{}, id); err != nil {
		return model.Staff{}, fmt.Errorf("staff login failed %d: %w", id, err)
	}
	return st.StaffByID(ctx, id)
}

// StaffLoginSucceeded clears the failure count and records the sign-in.
func (st *Staff) StaffLoginSucceeded(ctx context.Context, id int64, at time.Time) error {
	res := st.db.conn(ctx).Model(&staffRow{}).Where("id = ?", id).Updates(map[string]any{
		"failed_logins": 0, "locked_until": nil, "last_login_at": dbTime(at), "updated_at": dbTime(time.Now()),
	})
	if err := notFoundIfNone(ctx, st.db, res, &staffRow{}, id); err != nil {
		return fmt.Errorf("staff login succeeded %d: %w", id, err)
	}
	return nil
}

// AddLoginAttempt appends a sign-in attempt.
func (st *Staff) AddLoginAttempt(ctx context.Context, a model.LoginAttempt) error {
	row := loginRow{StaffID: a.StaffID, Username: a.Username, IP: truncateBytes(a.IP, 45), Outcome: a.Outcome, At: dbTime(a.At)}
	if err := st.db.conn(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("add login attempt: %w", TranslateError(err))
	}
	return nil
}

// ListLoginAttempts pages attempts matching f, newest first.
func (st *Staff) ListLoginAttempts(ctx context.Context, f model.LoginFilter, p model.Page) ([]model.LoginAttempt, string, error) {
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := st.db.conn(ctx).Model(&loginRow{})
	if f.StaffID != 0 {
		q = q.Where("staff_id = ?", f.StaffID)
	}
	if f.Outcome != "" {
		q = q.Where("outcome = ?", f.Outcome)
	}
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	n := p.Size()
	var rows []loginRow
	if err := q.Order("id DESC").Limit(n + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list login attempts: %w", TranslateError(err))
	}
	rows, next := cutPage(rows, n, func(r loginRow) int64 { return r.ID })
	out := make([]model.LoginAttempt, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, next, nil
}

// Audit implements model.AuditStore: an append-only log (no update or
// delete exists).
type Audit struct{ db *DB }

var _ model.AuditStore = (*Audit)(nil)

// NewAudit returns the audit store on db.
func NewAudit(db *DB) *Audit { return &Audit{db: db} }

// AppendAudit appends e. An empty summary is stored as {}.
func (a *Audit) AppendAudit(ctx context.Context, e model.AuditEntry) error {
	summary := string(e.Summary)
	if summary == "" {
		summary = "{}"
	}
	row := auditRow{
		StaffID: e.StaffID, Username: truncateBytes(e.Username, 32), Action: e.Action, TargetType: e.TargetType,
		TargetID: e.TargetID, Summary: summary, IP: truncateBytes(e.IP, 45), RequestID: truncateBytes(e.RequestID, 64),
		At: dbTime(e.At),
	}
	if err := a.db.conn(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("append audit: %w", TranslateError(err))
	}
	return nil
}

// ListAudit pages entries matching f, newest first.
func (a *Audit) ListAudit(ctx context.Context, f model.AuditFilter, p model.Page) ([]model.AuditEntry, string, error) {
	before, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := a.db.conn(ctx).Model(&auditRow{})
	if f.StaffID != 0 {
		q = q.Where("staff_id = ?", f.StaffID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.TargetType != "" {
		q = q.Where("target_type = ?", f.TargetType)
	}
	if f.TargetID != "" {
		q = q.Where("target_id = ?", f.TargetID)
	}
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	n := p.Size()
	var rows []auditRow
	if err := q.Order("id DESC").Limit(n + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list audit: %w", TranslateError(err))
	}
	rows, next := cutPage(rows, n, func(r auditRow) int64 { return r.ID })
	out := make([]model.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, next, nil
}

// truncateBytes cuts s to at most n bytes on a rune boundary.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
