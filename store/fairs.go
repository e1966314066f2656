package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"wanjia/model"
)

// migrateFairs is step 0006: job fairs, their positions and signups.
func migrateFairs(tx *gorm.DB) error {
	return tx.AutoMigrate(&fairRow{}, &positionRow{}, &signupRow{})
}

// migrateFairsResignup (step 0011) lets a person who cancelled, or whose
// offer lapsed, sign up for the same fair again: the unique index on
// (fair_id, user_id) becomes one on (fair_id, user_id, retired).
func migrateFairsResignup(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&signupRow{}); err != nil {
		return err
	}
	if err := tx.Model(&signupRow{}).Where("status IN ? AND retired = 0",
		[]string{string(model.SignupCancelled), string(model.SignupExpired)}).Update("retired", gorm.Expr("id")).Error; err != nil {
		return err
	}
	if m := tx.Migrator(); m.HasIndex(&signupRow{}, "ux_fair_signups_user") {
		return m.DropIndex(&signupRow{}, "ux_fair_signups_user")
	}
	return nil
}

// fairRow is a job fair. seats_taken is only ever changed by conditional
// UPDATEs (seats_taken < capacity) in the transaction that inserts or
// changes the signup, so it never exceeds capacity.
type fairRow struct {
	ID            int64     `gorm:"primaryKey"`
	Title         string    `gorm:"size:128;not null"`
	Mode          string    `gorm:"size:16;not null"`
	Venue         string    `gorm:"size:255;not null"`
	StartsAt      time.Time `gorm:"not null;index:ix_fairs_starts"`
	EndsAt        time.Time `gorm:"not null"`
	Capacity      int       `gorm:"not null"`
	SeatsTaken    int       `gorm:"not null"`
	SignupOpensAt time.Time `gorm:"not null"`
	SignupEndsAt  time.Time `gorm:"not null"`
	CreatedBy     int64     `gorm:"not null"`
	CreatedAt     time.Time `gorm:"not null"`
	UpdatedAt     time.Time `gorm:"not null"`
}

func (fairRow) TableName() string { return "fairs" }

func (r fairRow) toModel() model.Fair {
	return model.Fair{
		ID: r.ID, Title: r.Title, Mode: model.FairMode(r.Mode), Venue: r.Venue, StartsAt: r.StartsAt.UTC(),
		EndsAt: r.EndsAt.UTC(), Capacity: r.Capacity, SeatsTaken: r.SeatsTaken, SignupOpensAt: r.SignupOpensAt.UTC(),
		SignupEndsAt: r.SignupEndsAt.UTC(), CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// positionRow is a job offered at a fair; seats_taken as for fairRow.
type positionRow struct {
	ID           int64  `gorm:"primaryKey"`
	FairID       int64  `gorm:"not null;index:ix_fair_positions_fair"`
	Employer     string `gorm:"size:128;not null"`
	Title        string `gorm:"size:128;not null"`
	Seats        int    `gorm:"not null"`
	SeatsTaken   int    `gorm:"not null"`
	Requirements string `gorm:"type:text;not null"`
	SalaryMin    int    `gorm:"not null"`
	SalaryMax    int    `gorm:"not null"`
}

func (positionRow) TableName() string { return "fair_positions" }

func (r positionRow) toModel() model.Position {
	return model.Position{
		ID: r.ID, FairID: r.FairID, Employer: r.Employer, Title: r.Title, Seats: r.Seats, SeatsTaken: r.SeatsTaken,
		Requirements: r.Requirements, SalaryMin: r.SalaryMin, SalaryMax: r.SalaryMax,
	}
}

// signupRow is one person's signup; ux_fair_signups_active makes it one
// active signup per person per fair: Retired is 0 while the signup is
// active and its own id once it is cancelled or expired, so she can sign
// up again. ix_fair_signups_line serves the waitlist (fair, status, id);
// ix_fair_signups_offer the offer-expiry sweep.
type signupRow struct {
	ID             int64      `gorm:"primaryKey"`
	FairID         int64      `gorm:"not null;uniqueIndex:ux_fair_signups_active,priority:1;index:ix_fair_signups_line,priority:1"`
	UserID         int64      `gorm:"not null;uniqueIndex:ux_fair_signups_active,priority:2;index:ix_fair_signups_mine"`
	Retired        int64      `gorm:"not null;default:0;uniqueIndex:ux_fair_signups_active,priority:3"`
	PositionID     int64      `gorm:"not null;index:ix_fair_signups_position"`
	Name           string     `gorm:"size:64;not null"`
	PhoneSealed    string     `gorm:"size:255;not null"`
	Status         string     `gorm:"size:16;not null;index:ix_fair_signups_line,priority:2;index:ix_fair_signups_offer,priority:1"`
	OfferExpiresAt *time.Time `gorm:"index:ix_fair_signups_offer,priority:2"`
	CheckedInAt    *time.Time `gorm:""`
	PlacedAt       *time.Time `gorm:""`
	PlacedBy       int64      `gorm:"not null"`
	CreatedAt      time.Time  `gorm:"not null"`
	UpdatedAt      time.Time  `gorm:"not null"`
}

func (signupRow) TableName() string { return "fair_signups" }

func (r signupRow) toModel() model.Signup {
	return model.Signup{
		ID: r.ID, FairID: r.FairID, PositionID: r.PositionID, UserID: r.UserID, Name: r.Name, PhoneSealed: r.PhoneSealed,
		Status: model.SignupStatus(r.Status), OfferExpiresAt: timeVal(r.OfferExpiresAt),
		CheckedInAt: timeVal(r.CheckedInAt), PlacedAt: timeVal(r.PlacedAt), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// Fairs stores job fairs, positions and signups.
type Fairs struct {
	db   *DB
	line LineCounter // nil: every place in line is counted
}

// LineCounter keeps each fair's waitlist length outside the database
// (cache.Lines), so joining the line costs O(1). Join returns the new
// length, or 0 when it does not know it; the store then counts and calls
// Reset.
type LineCounter interface {
	Join(ctx context.Context, fairID int64) (int64, error)
	Leave(ctx context.Context, fairID int64, n int) error
	Reset(ctx context.Context, fairID int64, count func(context.Context) (int64, error)) error
}

// NewFairs returns the fair store on db.
func NewFairs(db *DB) *Fairs { return &Fairs{db: db} }

// WithLine makes fs learn a new waitlisted signup's place from c instead
// of counting the line. Places read later (SignupByID, lists) are always
// counted.
func (fs *Fairs) WithLine(c LineCounter) *Fairs {
	fs.line = c
	return fs
}

// CreateFair inserts f (without positions) and returns it with its id.
func (fs *Fairs) CreateFair(ctx context.Context, f model.Fair) (model.Fair, error) {
	row := fairRow{
		Title: f.Title, Mode: string(f.Mode), Venue: f.Venue, StartsAt: dbTime(f.StartsAt), EndsAt: dbTime(f.EndsAt),
		Capacity: f.Capacity, SignupOpensAt: dbTime(f.SignupOpensAt), SignupEndsAt: dbTime(f.SignupEndsAt),
		CreatedBy: f.CreatedBy,
	}
	if err := fs.db.conn(ctx).Create(&row).Error; err != nil {
		return model.Fair{}, TranslateError(err)
	}
	if fs.line != nil && !InTx(ctx) {
		// The line starts empty and known, so a burst of signups that
		// fills the fair never has to count it.
		_ = fs.line.Reset(ctx, row.ID, func(context.Context) (int64, error) { return 0, nil })
	}
	return row.toModel(), nil
}

// AddPosition inserts p for its fair (which must exist).
func (fs *Fairs) AddPosition(ctx context.Context, p model.Position) (model.Position, error) {
	var n int64
	if err := fs.db.conn(ctx).Model(&fairRow{}).Where("id = ?", p.FairID).Count(&n).Error; err != nil {
		return model.Position{}, err
	}
	if n == 0 {
		return model.Position{}, model.Errorf(model.ErrNotFound, "招聘会不存在")
	}
	row := positionRow{
		FairID: p.FairID, Employer: p.Employer, Title: p.Title, Seats: p.Seats, Requirements: p.Requirements,
		SalaryMin: p.SalaryMin, SalaryMax: p.SalaryMax,
	}
	if err := fs.db.conn(ctx).Create(&row).Error; err != nil {
		return model.Position{}, TranslateError(err)
	}
	return row.toModel(), nil
}

// FairByID returns the fair with its positions.
func (fs *Fairs) FairByID(ctx context.Context, id int64) (model.Fair, error) {
	var row fairRow
	if err := fs.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Fair{}, model.Errorf(model.ErrNotFound, "招聘会不存在")
		}
		return model.Fair{}, err
	}
	f := row.toModel()
	ps, err := fs.positions(ctx, []int64{id})
	if err != nil {
		return model.Fair{}, err
	}
	f.Positions = ps[id]
	return f, nil
}

func (fs *Fairs) positions(ctx context.Context, fairIDs []int64) (map[int64][]model.Position, error) {
	var rows []positionRow
	if err := fs.db.conn(ctx).Where("fair_id IN ?", fairIDs).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[int64][]model.Position, len(fairIDs))
	for _, r := range rows {
		out[r.FairID] = append(out[r.FairID], r.toModel())
	}
	return out, nil
}

// UpcomingFairs returns up to limit fairs that end after now, soonest
// first, with their positions.
func (fs *Fairs) UpcomingFairs(ctx context.Context, now time.Time, limit int) ([]model.Fair, error) {
	var rows []fairRow
	if err := fs.db.conn(ctx).Where("ends_at > ?", dbTime(now)).Order("starts_at, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return []model.Fair{}, nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	ps, err := fs.positions(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]model.Fair, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
		out[i].Positions = ps[r.ID]
	}
	return out, nil
}

// errAlreadySignedUp is the answer to a second signup for the same fair.
var errAlreadySignedUp = model.Coded(model.ErrConflict, "already_signed_up", "您已报名该招聘会")

// SignUp records s (FairID, PositionID, UserID, Name, PhoneSealed) as
// confirmed when both the position and the fair have a free seat, else as
// waitlisted with its place in line. The seat counters move only by
// conditional UPDATEs (seats_taken < seats) in the transaction that
// inserts the signup, position row first and then fair row on every path,
// so no database oversells under any concurrency. A second signup by the
// same person for the same fair is 409 already_signed_up, a signup at now
// outside the fair's signup window 409 not_open; the position must belong
// to the fair.
//
// Once a fair or position is full, a burst would queue on those two rows
// (each holder keeps its lock through its commit), so a signup that a
// plain read shows full is waitlisted with a bare INSERT instead. The line
// is ordered by signup id. A seat freed between that read and the insert
// is filled right after (FillFreeSeats), and the offer-expiry job fills
// any seat such a race leaves free.
func (fs *Fairs) SignUp(ctx context.Context, s model.Signup, now time.Time, offerTTL time.Duration) (model.Signup, *model.Promotion, error) {
	var out model.Signup
	err := fs.retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = fs.signUp(ctx, s, now)
		return err
	})
	if err != nil || out.Status != model.SignupWaitlisted {
		return out, nil, err
	}
	if out.WaitlistPosition, err = fs.joinLine(ctx, out); err != nil {
		return out, nil, err
	}
	if out.WaitlistPosition != 1 {
		return out, nil, nil
	}
	promos, err := fs.fillFair(ctx, s.FairID, now, offerTTL)
	if err != nil || len(promos) == 0 {
		return out, nil, err
	}
	for _, p := range promos {
		if p.Signup.ID == out.ID {
			out = p.Signup
		}
	}
	return out, &promos[0], nil
}

func (fs *Fairs) signUp(ctx context.Context, s model.Signup, now time.Time) (model.Signup, error) {
	var seats struct {
		Seats, SeatsTaken, Capacity, FairTaken int
		OpensAt, EndsAt                        time.Time
	}
	err := fs.db.conn(ctx).Raw("SELECT p.seats AS seats, p.seats_taken AS seats_taken, f.capacity AS capacity, f.seats_taken AS fair_taken, "+
		"f.signup_opens_at AS opens_at, f.signup_ends_at AS ends_at "+
		"FROM fair_positions p JOIN fairs f ON f.id = p.fair_id WHERE p.id = ? AND p.fair_id = ?", s.PositionID, s.FairID).
		Scan(&seats).Error
	if err != nil {
		return model.Signup{}, err
	}
	if seats.Seats == 0 {
		return model.Signup{}, model.Coded(model.ErrNotFound, "position_not_found", "招聘会或岗位不存在")
	}
	if now.Before(seats.OpensAt) || !now.Before(seats.EndsAt) {
		return model.Signup{}, errNotOpen
	}
	row := signupRow{
		FairID: s.FairID, UserID: s.UserID, PositionID: s.PositionID, Name: s.Name, PhoneSealed: s.PhoneSealed,
		Status: string(model.SignupWaitlisted),
	}
	insert := func(ctx context.Context) error {
		if err := fs.db.conn(ctx).Create(&row).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return errAlreadySignedUp
			}
			return err
		}
		return nil
	}
	if seats.SeatsTaken >= seats.Seats || seats.FairTaken >= seats.Capacity {
		err = insert(ctx) // full: a bare INSERT, no seat row locked
	} else {
		err = fs.db.WithTx(ctx, func(ctx context.Context) error {
			ok, err := fs.takeSeat(ctx, s.FairID, s.PositionID)
			if err != nil {
				return err
			}
			if ok {
				row.Status = string(model.SignupConfirmed)
			}
			return insert(ctx)
		})
	}
	if err != nil {
		return model.Signup{}, err
	}
	return row.toModel(), nil
}

// errNotOpen answers a signup outside the fair's signup window.
var errNotOpen = model.Coded(model.ErrConflict, "not_open", "不在报名时间内")

// takeSeat takes a seat of the position and of the fair with conditional
// UPDATEs (position row first, as everywhere); false when either is full.
func (fs *Fairs) takeSeat(ctx context.Context, fairID, positionID int64) (bool, error) {
	c := fs.db.conn(ctx)
	res := c.Exec("UPDATE fair_positions SET seats_taken = seats_taken + 1 WHERE id = ? AND seats_taken < seats", positionID)
	if res.Error != nil || res.RowsAffected == 0 {
		return false, res.Error
	}
	res = c.Exec("UPDATE fairs SET seats_taken = seats_taken + 1 WHERE id = ? AND seats_taken < capacity", fairID)
	if res.Error != nil {
		return false, res.Error
	}
	if res.RowsAffected == 0 {
		return false, c.Exec("UPDATE fair_positions SET seats_taken = seats_taken - 1 WHERE id = ?", positionID).Error
	}
	return true, nil
}

// joinLine is the place in line of a signup that has just been
// waitlisted: the line's length now, as it is the last in line. From the
// line counter when there is one and it knows; else counted after the
// commit (every signup with a lower id that has committed by now counts),
// and the counter reset to that count.
func (fs *Fairs) joinLine(ctx context.Context, s model.Signup) (int, error) {
	if fs.line != nil {
		if n, err := fs.line.Join(ctx, s.FairID); err == nil && n > 0 {
			return int(n), nil
		}
	}
	p, err := fs.placeInLine(ctx, s)
	if err == nil && fs.line != nil {
		// A Redis failure only costs the next signup a count.
		_ = fs.line.Reset(ctx, s.FairID, func(ctx context.Context) (int64, error) {
			var n int64
			err := fs.db.conn(ctx).Model(&signupRow{}).
				Where("fair_id = ? AND status = ?", s.FairID, string(model.SignupWaitlisted)).Count(&n).Error
			return n, err
		})
	}
	return p, err
}

// leftLine tells the line counter that n people left fairID's line.
func (fs *Fairs) leftLine(ctx context.Context, fairID int64, n int) {
	if fs.line != nil && n > 0 {
		_ = fs.line.Leave(ctx, fairID, n) // a lost decrement lasts until the key expires
	}
}

// leftLineByPromotion tells the line counter about promotions (each one
// left the waitlist).
func (fs *Fairs) leftLineByPromotion(ctx context.Context, promos ...model.Promotion) {
	for _, p := range promos {
		fs.leftLine(ctx, p.Fair.ID, 1)
	}
}

// placeInLine is the 1-based place of a waitlisted signup: the line is
// ordered by signup id.
func (fs *Fairs) placeInLine(ctx context.Context, s model.Signup) (int, error) {
	var n int64
	err := fs.db.conn(ctx).Model(&signupRow{}).
		Where("fair_id = ? AND status = ? AND id <= ?", s.FairID, string(model.SignupWaitlisted), s.ID).
		Count(&n).Error
	return int(n), err
}

// fillFair offers every free seat of a fair to the waitlist, in order, each
// offer in its own transaction.
func (fs *Fairs) fillFair(ctx context.Context, fairID int64, now time.Time, ttl time.Duration) ([]model.Promotion, error) {
	var out []model.Promotion
	for {
		var free int64
		if err := fs.db.conn(ctx).Model(&fairRow{}).Where("id = ? AND seats_taken < capacity", fairID).Count(&free).Error; err != nil || free == 0 {
			return out, err
		}
		var promo *model.Promotion
		err := fs.retry(ctx, func(ctx context.Context) error {
			promo = nil
			return fs.db.WithTx(ctx, func(ctx context.Context) error {
				var err error
				promo, err = fs.promoteNext(ctx, fairID, now, ttl)
				return err
			})
		})
		if err != nil || promo == nil {
			return out, err
		}
		fs.leftLineByPromotion(ctx, *promo)
		out = append(out, *promo)
	}
}

// FillFreeSeats offers the free seats of every fair that has not started
// and has both free seats and a waitlist (the repair of a race between a
// cancellation and a waitlisted signup; see SignUp).
func (fs *Fairs) FillFreeSeats(ctx context.Context, now time.Time, ttl time.Duration) ([]model.Promotion, error) {
	var ids []int64
	err := fs.db.conn(ctx).Model(&fairRow{}).
		Where("starts_at > ? AND seats_taken < capacity AND EXISTS (SELECT 1 FROM fair_signups s WHERE s.fair_id = fairs.id AND s.status = ?)",
			dbTime(now), string(model.SignupWaitlisted)).
		Order("id").Limit(100).Pluck("id", &ids).Error
	if err != nil {
		return nil, err
	}
	var out []model.Promotion
	for _, id := range ids {
		ps, err := fs.fillFair(ctx, id, now, ttl)
		out = append(out, ps...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// SignupByID returns a signup, with its place in line when waitlisted.
func (fs *Fairs) SignupByID(ctx context.Context, id int64) (model.Signup, error) {
	var row signupRow
	if err := fs.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return model.Signup{}, model.Errorf(model.ErrNotFound, "报名记录不存在")
		}
		return model.Signup{}, err
	}
	s := row.toModel()
	if s.Status == model.SignupWaitlisted {
		p, err := fs.placeInLine(ctx, s)
		if err != nil {
			return model.Signup{}, err
		}
		s.WaitlistPosition = p
	}
	return s, nil
}

// SignupsByFair returns every signup of a fair in id order, waitlisted
// ones with their places in line.
func (fs *Fairs) SignupsByFair(ctx context.Context, fairID int64) ([]model.Signup, error) {
	var rows []signupRow
	if err := fs.db.conn(ctx).Where("fair_id = ?", fairID).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]model.Signup, len(rows))
	place := 0
	for i, r := range rows {
		out[i] = r.toModel()
		if out[i].Status == model.SignupWaitlisted {
			place++
			out[i].WaitlistPosition = place
		}
	}
	return out, nil
}

// lockSignup reads a signup for update inside a transaction.
func (fs *Fairs) lockSignup(ctx context.Context, id int64) (signupRow, error) {
	var row signupRow
	c := fs.db.conn(ctx)
	if fs.db.driver != "sqlite" {
		c = c.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := c.Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return signupRow{}, model.Errorf(model.ErrNotFound, "报名记录不存在")
		}
		return signupRow{}, err
	}
	return row, nil
}

// releaseSeat gives back the position's and the fair's seat (position
// first, as everywhere).
func (fs *Fairs) releaseSeat(ctx context.Context, r signupRow) error {
	c := fs.db.conn(ctx)
	if err := c.Exec("UPDATE fair_positions SET seats_taken = seats_taken - 1 WHERE id = ? AND seats_taken > 0", r.PositionID).Error; err != nil {
		return err
	}
	return c.Exec("UPDATE fairs SET seats_taken = seats_taken - 1 WHERE id = ? AND seats_taken > 0", r.FairID).Error
}

// CancelSignup cancels the signup id of userID (404 for anyone else's). A
// freed seat goes to the first waitlisted signup whose position has room,
// which becomes offered until now+offerTTL; the promotion (if any) is
// returned so the caller can tell that person at once.
func (fs *Fairs) CancelSignup(ctx context.Context, id, userID int64, now time.Time, offerTTL time.Duration) (model.Signup, *model.Promotion, error) {
	var out model.Signup
	var promo *model.Promotion
	var wasWaiting bool
	err := fs.retry(ctx, func(ctx context.Context) error {
		out, promo, wasWaiting = model.Signup{}, nil, false
		return fs.db.WithTx(ctx, func(ctx context.Context) error {
			row, err := fs.lockSignup(ctx, id)
			if err != nil {
				return err
			}
			if row.UserID != userID {
				return model.Errorf(model.ErrNotFound, "报名记录不存在")
			}
			st := model.SignupStatus(row.Status)
			if st == model.SignupCancelled || st == model.SignupExpired {
				return model.Coded(model.ErrConflict, "not_active", "该报名已取消或已失效")
			}
			if row.CheckedInAt != nil {
				return model.Coded(model.ErrConflict, "checked_in", "已签到，无法取消")
			}
			if err := fs.db.conn(ctx).Model(&signupRow{}).Where("id = ?", id).
				Updates(map[string]any{"status": string(model.SignupCancelled), "retired": id, "updated_at": dbTime(now)}).Error; err != nil {
				return err
			}
			row.Status = string(model.SignupCancelled)
			out = row.toModel()
			if !st.HoldsSeat() {
				wasWaiting = st == model.SignupWaitlisted
				return nil
			}
			if err := fs.releaseSeat(ctx, row); err != nil {
				return err
			}
			promo, err = fs.promoteNext(ctx, row.FairID, now, offerTTL)
			return err
		})
	})
	if err == nil {
		if wasWaiting {
			fs.leftLine(ctx, out.FairID, 1)
		}
		if promo != nil {
			fs.leftLineByPromotion(ctx, *promo)
		}
	}
	return out, promo, err
}

// promoteNext offers a free seat to the first waitlisted signup of the
// fair whose position has room, with the same conditional UPDATEs as
// SignUp. It returns nil when nobody fits.
func (fs *Fairs) promoteNext(ctx context.Context, fairID int64, now time.Time, ttl time.Duration) (*model.Promotion, error) {
	c := fs.db.conn(ctx)
	var rows []signupRow
	if err := c.Where("fair_id = ? AND status = ?", fairID, string(model.SignupWaitlisted)).
		Order("id").Limit(200).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		res := c.Exec("UPDATE fair_positions SET seats_taken = seats_taken + 1 WHERE id = ? AND seats_taken < seats", r.PositionID)
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected == 0 {
			continue
		}
		res = c.Exec("UPDATE fairs SET seats_taken = seats_taken + 1 WHERE id = ? AND seats_taken < capacity", fairID)
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected == 0 {
			return nil, c.Exec("UPDATE fair_positions SET seats_taken = seats_taken - 1 WHERE id = ?", r.PositionID).Error
		}
		exp := dbTime(now.Add(ttl))
		if err := c.Model(&signupRow{}).Where("id = ?", r.ID).Updates(map[string]any{
			"status": string(model.SignupOffered), "offer_expires_at": exp, "updated_at": dbTime(now),
		}).Error; err != nil {
			return nil, err
		}
		r.Status, r.OfferExpiresAt, r.UpdatedAt = string(model.SignupOffered), &exp, dbTime(now)
		var f fairRow
		if err := c.Where("id = ?", fairID).Take(&f).Error; err != nil {
			return nil, err
		}
		return &model.Promotion{Signup: r.toModel(), Fair: f.toModel()}, nil
	}
	return nil, nil
}

// ConfirmOffer turns userID's offered signup into a confirmed one before
// its offer expires; a lapsed or absent offer is 409 no_offer.
func (fs *Fairs) ConfirmOffer(ctx context.Context, id, userID int64, now time.Time) (model.Signup, error) {
	var out model.Signup
	err := fs.db.WithTx(ctx, func(ctx context.Context) error {
		row, err := fs.lockSignup(ctx, id)
		if err != nil {
			return err
		}
		if row.UserID != userID {
			return model.Errorf(model.ErrNotFound, "报名记录不存在")
		}
		if row.Status != string(model.SignupOffered) || row.OfferExpiresAt == nil || !now.Before(*row.OfferExpiresAt) {
			return model.Coded(model.ErrConflict, "no_offer", "没有待确认的名额或已过期")
		}
		if err := fs.db.conn(ctx).Model(&signupRow{}).Where("id = ?", id).Updates(map[string]any{
			"status": string(model.SignupConfirmed), "offer_expires_at": nil, "updated_at": dbTime(now),
		}).Error; err != nil {
			return err
		}
		row.Status, row.OfferExpiresAt, row.UpdatedAt = string(model.SignupConfirmed), nil, dbTime(now)
		out = row.toModel()
		return nil
	})
	return out, err
}

// ExpireOffers lets up to limit offers that lapsed by now expire, each in
// its own transaction, and promotes the next person in line for each freed
// seat. It returns the new promotions.
func (fs *Fairs) ExpireOffers(ctx context.Context, now time.Time, ttl time.Duration, limit int) ([]model.Promotion, error) {
	var ids []int64
	if err := fs.db.conn(ctx).Model(&signupRow{}).
		Where("status = ? AND offer_expires_at <= ?", string(model.SignupOffered), dbTime(now)).
		Order("offer_expires_at").Limit(limit).Pluck("id", &ids).Error; err != nil {
		return nil, err
	}
	var out []model.Promotion
	for _, id := range ids {
		var promo *model.Promotion
		err := fs.retry(ctx, func(ctx context.Context) error {
			promo = nil
			return fs.db.WithTx(ctx, func(ctx context.Context) error {
				row, err := fs.lockSignup(ctx, id)
				if err != nil {
					return err
				}
				if row.Status != string(model.SignupOffered) || row.OfferExpiresAt == nil || row.OfferExpiresAt.After(now) {
					return nil // confirmed or cancelled meanwhile
				}
				if err := fs.db.conn(ctx).Model(&signupRow{}).Where("id = ?", id).
					Updates(map[string]any{"status": string(model.SignupExpired), "retired": id, "updated_at": dbTime(now)}).Error; err != nil {
					return err
				}
				if err := fs.releaseSeat(ctx, row); err != nil {
					return err
				}
				promo, err = fs.promoteNext(ctx, row.FairID, now, ttl)
				return err
			})
		})
		if err != nil {
			return out, err
		}
		if promo != nil {
			fs.leftLineByPromotion(ctx, *promo)
			out = append(out, *promo)
		}
	}
	return out, nil
}

// retry runs fn again (up to 5 times) when the database aborted it as a
// deadlock victim or for a serialisation failure; both can happen when a
// promotion locks a second position row after the fair row.
func (fs *Fairs) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	if InTx(ctx) {
		return fn(ctx)
	}
	var err error
	for attempt := range 5 {
		if err = fn(ctx); err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
	return err
}

func retryable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Error 1213") || strings.Contains(s, "Deadlock found") ||
		strings.Contains(s, "40P01") || strings.Contains(s, "40001") || sqliteBusy(err)
}

// SignupsByUser returns userID's signups, newest first, with places in
// line for waitlisted ones.
func (fs *Fairs) SignupsByUser(ctx context.Context, userID int64) ([]model.Signup, error) {
	var rows []signupRow
	if err := fs.db.conn(ctx).Where("user_id = ?", userID).Order("id DESC").Limit(200).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]model.Signup, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
		if out[i].Status == model.SignupWaitlisted {
			p, err := fs.placeInLine(ctx, out[i])
			if err != nil {
				return nil, err
			}
			out[i].WaitlistPosition = p
		}
	}
	return out, nil
}

// CheckIn marks the confirmed signup id present at now: a second check-in
// is 409 already_checked_in, a signup that is not confirmed 409
// not_confirmed. The conditional UPDATE makes two scans at once check in
// once.
func (fs *Fairs) CheckIn(ctx context.Context, id int64, now time.Time) (model.Signup, error) {
	res := fs.db.conn(ctx).Model(&signupRow{}).
		Where("id = ? AND status = ? AND checked_in_at IS NULL", id, string(model.SignupConfirmed)).
		Updates(map[string]any{"checked_in_at": dbTime(now), "updated_at": dbTime(now)})
	if res.Error != nil {
		return model.Signup{}, res.Error
	}
	s, err := fs.SignupByID(ctx, id)
	if err != nil {
		return model.Signup{}, err
	}
	if res.RowsAffected == 0 {
		if !s.CheckedInAt.IsZero() {
			return s, model.Coded(model.ErrConflict, "already_checked_in", "已签到，请勿重复签到")
		}
		return s, model.Coded(model.ErrConflict, "not_confirmed", "该报名未确认，不能签到")
	}
	return s, nil
}

// RecordPlacement records that the checked-in signup id led to a job
// (女性就业 outcome), by staff member staffID. Recording it again is a
// no-op; a signup not checked in is 409 not_checked_in.
func (fs *Fairs) RecordPlacement(ctx context.Context, id, staffID int64, now time.Time) (model.Signup, error) {
	res := fs.db.conn(ctx).Model(&signupRow{}).
		Where("id = ? AND checked_in_at IS NOT NULL AND placed_at IS NULL", id).
		Updates(map[string]any{"placed_at": dbTime(now), "placed_by": staffID, "updated_at": dbTime(now)})
	if res.Error != nil {
		return model.Signup{}, res.Error
	}
	s, err := fs.SignupByID(ctx, id)
	if err != nil {
		return model.Signup{}, err
	}
	if s.CheckedInAt.IsZero() {
		return s, model.Coded(model.ErrConflict, "not_checked_in", "未签到的报名不能登记就业")
	}
	return s, nil
}

// FairsStartingBetween returns the fairs that start in [from, to).
func (fs *Fairs) FairsStartingBetween(ctx context.Context, from, to time.Time) ([]model.Fair, error) {
	var rows []fairRow
	if err := fs.db.conn(ctx).Where("starts_at >= ? AND starts_at < ?", dbTime(from), dbTime(to)).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]model.Fair, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// FairFigures counts the fairs that ended in [from, to) as of the call
// and what came of them.
type FairFigures struct {
	FairsHeld  int64 // fairs that ended in the period
	Signups    int64 // signups for them, in any status
	Confirmed  int64 // confirmed signups (seats taken by people expected)
	Attended   int64 // checked in
	NoShows    int64 // confirmed but never checked in
	Placements int64 // checked-in signups recorded as placed by staff
}

// Figures returns the figures of the fairs that ended in [from, to).
func (fs *Fairs) Figures(ctx context.Context, from, to time.Time) (FairFigures, error) {
	var f FairFigures
	c := fs.db.conn(ctx)
	fairs := c.Model(&fairRow{}).Select("id").Where("ends_at >= ? AND ends_at < ?", dbTime(from), dbTime(to))
	if err := c.Model(&fairRow{}).Where("ends_at >= ? AND ends_at < ?", dbTime(from), dbTime(to)).Count(&f.FairsHeld).Error; err != nil {
		return f, err
	}
	var row struct {
		Signups, Confirmed, Attended, Placements int64
	}
	err := fs.db.conn(ctx).Model(&signupRow{}).Select(
		"COUNT(*) AS signups, "+
			"COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0) AS confirmed, "+
			"COALESCE(SUM(CASE WHEN checked_in_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS attended, "+
			"COALESCE(SUM(CASE WHEN placed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS placements",
		string(model.SignupConfirmed)).
		Where("fair_id IN (?)", fairs).Scan(&row).Error
	if err != nil {
		return f, err
	}
	f.Signups, f.Confirmed, f.Attended, f.Placements = row.Signups, row.Confirmed, row.Attended, row.Placements
	f.NoShows = f.Confirmed - f.Attended
	return f, nil
}
