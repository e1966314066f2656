package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"wanjia/model"
)

// totpRow is a staff member's TOTP secret (sealed by the service). A row
// with enabled false is an enrolment not yet confirmed with a code.
// last_step is the time step of the last code accepted, so a code is
// never accepted twice.
type totpRow struct {
	StaffID      int64     `gorm:"primaryKey;autoIncrement:false"`
	SecretSealed string    `gorm:"size:255;not null"`
	Enabled      bool      `gorm:"not null"`
	LastStep     int64     `gorm:"not null"`
	CreatedAt    time.Time `gorm:"not null"`
	UpdatedAt    time.Time `gorm:"not null"`
}

func (totpRow) TableName() string { return "staff_totp" }

// TOTP keeps the staff's TOTP secrets (model.TOTPStore).
type TOTP struct{ db *DB }

var _ model.TOTPStore = (*TOTP)(nil)

// NewTOTP returns the TOTP store on db.
func NewTOTP(db *DB) *TOTP { return &TOTP{db: db} }

// TOTPOf returns the staff member's TOTP record, or ErrNotFound.
func (t *TOTP) TOTPOf(ctx context.Context, staffID int64) (model.TOTPSecret, error) {
	var row totpRow
	if err := t.db.conn(ctx).Where("staff_id = ?", staffID).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.TOTPSecret{}, model.Errorf(model.ErrNotFound, "未设置动态口令")
		}
		return model.TOTPSecret{}, fmt.Errorf("totp of %d: %w", staffID, err)
	}
	return model.TOTPSecret{StaffID: row.StaffID, SecretSealed: row.SecretSealed, Enabled: row.Enabled,
		LastStep: row.LastStep, CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC()}, nil
}

// SetPendingTOTP stores a new, unconfirmed secret for the staff member,
// replacing an unconfirmed one; an enabled secret is kept and the call is
// ErrConflict (totp_enabled).
func (t *TOTP) SetPendingTOTP(ctx context.Context, staffID int64, sealed string) error {
	now := dbTime(time.Now())
	c := t.db.conn(ctx)
	err := c.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&totpRow{StaffID: staffID, SecretSealed: sealed, CreatedAt: now, UpdatedAt: now}).Error
	if err != nil {
		return fmt.Errorf("set totp: %w", TranslateError(err))
	}
	res := c.Model(&totpRow{}).Where("staff_id = ? AND enabled = ?", staffID, false).
		Updates(map[string]any{"secret_sealed": sealed, "last_step": 0, "created_at": now, "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("set totp: %w", res.Error)
	}
	if res.RowsAffected > 0 {
		return nil
	}
	// MySQL counts a row whose values did not change as not affected: read.
	cur, err := t.TOTPOf(ctx, staffID)
	if err != nil {
		return fmt.Errorf("set totp: %w", err)
	}
	if cur.Enabled {
		return model.Coded(model.ErrConflict, "totp_enabled", "已启用动态口令；如需更换，请由其他管理员重置")
	}
	return nil
}

// UseTOTPStep records that the code of step was accepted (and enables a
// pending secret). It reports false when a code of this or a later step
// was accepted already: the code was used before.
func (t *TOTP) UseTOTPStep(ctx context.Context, staffID, step int64) (bool, error) {
	res := t.db.conn(ctx).Model(&totpRow{}).Where("staff_id = ? AND last_step < ?", staffID, step).
		Updates(map[string]any{"last_step": step, "enabled": true, "updated_at": dbTime(time.Now())})
	if res.Error != nil {
		return false, fmt.Errorf("use totp step: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DeleteTOTP removes the staff member's secret; removing none is no error.
// It reports whether there was one.
func (t *TOTP) DeleteTOTP(ctx context.Context, staffID int64) (bool, error) {
	res := t.db.conn(ctx).Where("staff_id = ?", staffID).Delete(&totpRow{})
	if res.Error != nil {
		return false, fmt.Errorf("delete totp: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}
