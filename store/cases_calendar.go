package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"wanjia/model"
)

// caseCalendarRow is the 12338 working calendar's dates as staff keep
// them: one row (id 1), the lists comma-separated. It is created at
// migration with version 0 (never saved: the configuration's lists
// apply); every save adds one to version.
type caseCalendarRow struct {
	ID        int64     `gorm:"primaryKey;autoIncrement:false"`
	Holidays  string    `gorm:"type:text;not null"`
	Workdays  string    `gorm:"type:text;not null"`
	Version   int       `gorm:"not null"`
	UpdatedBy int64     `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (caseCalendarRow) TableName() string { return "case_calendar" }

const caseCalendarID = 1

// migrateCasesCalendar is step 0013: the case_calendar table and its one
// row, unsaved.
func migrateCasesCalendar(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&caseCalendarRow{}); err != nil {
		return err
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&caseCalendarRow{ID: caseCalendarID, UpdatedAt: dbTime(time.Now())}).Error
}

func (r caseCalendarRow) toModel() model.WorkCalendar {
	wc := model.WorkCalendar{Holidays: splitCSV(r.Holidays), Workdays: splitCSV(r.Workdays), Version: r.Version,
		UpdatedBy: r.UpdatedBy}
	if r.Version > 0 {
		wc.UpdatedAt = r.UpdatedAt.UTC()
	}
	return wc
}

var errCalendarChanged = model.Coded(model.ErrConflict, "calendar_changed", "工作日历已被他人修改，请刷新后重试")

// WorkCalendar returns the working calendar's dates as last saved
// (Version 0: never saved).
func (cs *Cases) WorkCalendar(ctx context.Context) (model.WorkCalendar, error) {
	var row caseCalendarRow
	err := cs.db.conn(ctx).Where("id = ?", caseCalendarID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return model.WorkCalendar{Holidays: []string{}, Workdays: []string{}}, nil
	}
	if err != nil {
		return model.WorkCalendar{}, fmt.Errorf("work calendar: %w", err)
	}
	return row.toModel(), nil
}

// SaveWorkCalendar replaces the dates with wc's (checked by the caller),
// by staff wc.UpdatedBy at wc.UpdatedAt, and returns the saved calendar
// with its new version. With ifVersion > 0 the save happens only if the
// stored version is still ifVersion, else ErrConflict calendar_changed.
func (cs *Cases) SaveWorkCalendar(ctx context.Context, wc model.WorkCalendar, ifVersion int) (model.WorkCalendar, error) {
	var out model.WorkCalendar
	err := cs.db.WithTx(ctx, func(ctx context.Context) error {
		var err error
		out, err = cs.saveWorkCalendar(ctx, wc, ifVersion)
		return err
	})
	return out, err
}

func (cs *Cases) saveWorkCalendar(ctx context.Context, wc model.WorkCalendar, ifVersion int) (model.WorkCalendar, error) {
	cols := map[string]any{
		"holidays": joinCSV(wc.Holidays), "workdays": joinCSV(wc.Workdays), "version": gorm.Expr("version + 1"),
		"updated_by": wc.UpdatedBy, "updated_at": dbTime(wc.UpdatedAt),
	}
	q := cs.db.conn(ctx).Model(&caseCalendarRow{}).Where("id = ?", caseCalendarID)
	if ifVersion > 0 {
		q = q.Where("version = ?", ifVersion)
	}
	res := q.Updates(cols)
	if res.Error != nil {
		return model.WorkCalendar{}, fmt.Errorf("save work calendar: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		if ifVersion > 0 {
			return model.WorkCalendar{}, errCalendarChanged
		}
		// The row is gone (deleted by hand): put it back.
		row := caseCalendarRow{ID: caseCalendarID, Holidays: joinCSV(wc.Holidays), Workdays: joinCSV(wc.Workdays), Version: 1,
			UpdatedBy: wc.UpdatedBy, UpdatedAt: dbTime(wc.UpdatedAt)}
		if err := cs.db.conn(ctx).Create(&row).Error; err != nil {
			if errors.Is(TranslateError(err), model.ErrConflict) {
				return model.WorkCalendar{}, errCalendarChanged
			}
			return model.WorkCalendar{}, fmt.Errorf("save work calendar: %w", err)
		}
	}
	return cs.WorkCalendar(ctx)
}

func joinCSV(xs []string) string { return strings.Join(xs, ",") }
