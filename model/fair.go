package model

import (
	"log/slog"
	"time"
)

// FairMode says whether a job fair is held online or on site.
type FairMode string

// The fair modes.
const (
	FairOnline FairMode = "online"
	FairOnSite FairMode = "onsite"
)

// Fair is a women's job fair (招聘会). SeatsTaken counts confirmed and
// offered signups; it never exceeds Capacity.
type Fair struct {
	ID            int64
	Title         string
	Mode          FairMode
	Venue         string
	StartsAt      time.Time
	EndsAt        time.Time
	Capacity      int
	SeatsTaken    int
	SignupOpensAt time.Time
	SignupEndsAt  time.Time
	CreatedBy     int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Positions     []Position // filled by reads of one fair
}

// SeatsLeft is the number of free seats at the fair.
func (f Fair) SeatsLeft() int { return max(f.Capacity-f.SeatsTaken, 0) }

// Position is a job an employer offers at a fair. SeatsTaken never exceeds
// Seats.
type Position struct {
	ID           int64
	FairID       int64
	Employer     string
	Title        string
	Seats        int
	SeatsTaken   int
	Requirements string
	SalaryMin    int // yuan per month; 0 for unstated
	SalaryMax    int
}

// SeatsLeft is the number of free seats for the position.
func (p Position) SeatsLeft() int { return max(p.Seats-p.SeatsTaken, 0) }

// SignupStatus is where a signup stands.
type SignupStatus string

// The signup statuses. An offered signup was promoted from the waitlist and
// holds a seat until OfferExpiresAt; confirming makes it confirmed, letting
// the offer lapse makes it expired.
const (
	SignupConfirmed  SignupStatus = "confirmed"
	SignupWaitlisted SignupStatus = "waitlisted"
	SignupOffered    SignupStatus = "offered"
	SignupCancelled  SignupStatus = "cancelled"
	SignupExpired    SignupStatus = "expired"
)

// HoldsSeat reports whether a signup in status s occupies a seat.
func (s SignupStatus) HoldsSeat() bool { return s == SignupConfirmed || s == SignupOffered }

// Signup is one person's signup for a fair and one of its positions. The
// phone is kept sealed only (PhoneSealed); LogValue leaves out name and
// phone. WaitlistPosition is the place in line of a waitlisted signup,
// computed on read (1 is next; the line is in signup id order).
type Signup struct {
	ID               int64
	FairID           int64
	PositionID       int64
	UserID           int64
	Name             string
	PhoneSealed      string
	Status           SignupStatus
	WaitlistPosition int
	OfferExpiresAt   time.Time
	CheckedInAt      time.Time
	PlacedAt         time.Time // staff recorded that the signup led to a job
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// LogValue logs ids and status only.
func (s Signup) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("signup_id", s.ID), slog.Int64("fair_id", s.FairID),
		slog.Int64("user_id", s.UserID), slog.String("status", string(s.Status)))
}

// Promotion is a waitlisted signup that was offered a freed seat.
type Promotion struct {
	Signup Signup
	Fair   Fair
}
