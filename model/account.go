package model

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"
)

// Role is a staff role (API.md). RoleAdmin may do everything.
type Role string

// The staff roles of API.md.
const (
	RoleAdmin       Role = "admin"        // everything, including staff and audit
	RoleEditor      Role = "editor"       // articles, lessons, replies, menu
	RoleReviewer    Role = "reviewer"     // nominations, votes
	RoleCaseworker  Role = "caseworker"   // 12338 cases of their own station only
	RoleFairManager Role = "fair_manager" // fairs, check-in
)

// AllRoles lists every role, in API.md's order.
func AllRoles() []Role {
	return []Role{RoleAdmin, RoleEditor, RoleReviewer, RoleCaseworker, RoleFairManager}
}

// Valid reports whether r is one of AllRoles.
func (r Role) Valid() bool { return slices.Contains(AllRoles(), r) }

// User is a Mini Program user, known by the openid WeChat gives for our app.
// The phone number is kept only sealed (PhoneSealed, AES-GCM by the service)
// with a blind index for exact-match lookups (PhoneIndex); neither is ever
// shown to anyone, and String/LogValue leave both out.
type User struct {
	ID          int64
	OpenID      string
	UnionID     string // empty unless the app is bound to an Open Platform account
	Nickname    string
	AvatarURL   string
	HasPhone    bool
	PhoneSealed string
	PhoneIndex  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// LogValue logs the id only.
func (u User) LogValue() slog.Value { return slog.GroupValue(slog.Int64("user_id", u.ID)) }

// Staff is a member of the federation's staff who signs in to the console.
// PasswordHash is a bcrypt hash; LogValue leaves it out.
type Staff struct {
	ID                 int64
	Username           string
	DisplayName        string
	PasswordHash       string
	Roles              []Role
	StationID          int64  // the 12338 service station a caseworker belongs to; 0 for none
	District           string // the district the staff member covers; "" for the whole city
	Disabled           bool
	MustChangePassword bool
	FailedLogins       int       // consecutive failures since the last success or lock
	LockedUntil        time.Time // zero when not locked
	LastLoginAt        time.Time // zero when never
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// HasRole reports whether s holds any of roles; an admin holds every role.
// With no roles given it reports true.
func (s Staff) HasRole(roles ...Role) bool { return hasRole(s.Roles, roles) }

// Locked reports whether the account is locked at now.
func (s Staff) Locked(now time.Time) bool { return s.LockedUntil.After(now) }

// LogValue logs the id and username only.
func (s Staff) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("staff_id", s.ID), slog.String("username", s.Username))
}

func hasRole(have, want []Role) bool {
	if len(want) == 0 || slices.Contains(have, RoleAdmin) {
		return true
	}
	for _, r := range want {
		if slices.Contains(have, r) {
			return true
		}
	}
	return false
}

// AuditEntry is one staff write, appended and never changed. Summary is a
// JSON object {"before":{…},"after":{…}} holding only the fields that
// changed, never passwords or personal data. StaffID 0 with Username "cli"
// (or another system name) is an action taken outside the API.
type AuditEntry struct {
	ID         int64
	StaffID    int64
	Username   string
	Action     string // e.g. "staff.create"
	TargetType string // e.g. "staff"
	TargetID   string
	Summary    json.RawMessage
	IP         string
	RequestID  string
	At         time.Time
}

// AuditFilter narrows ListAudit; zero fields match everything.
type AuditFilter struct {
	StaffID    int64
	Action     string
	TargetType string
	TargetID   string
}

// Login outcomes recorded in LoginAttempt.Outcome.
const (
	LoginOK          = "ok"
	LoginBadPassword = "bad_password"
	LoginUnknownUser = "unknown_user"
	LoginLocked      = "locked"
	LoginDisabled    = "disabled"
	LoginNeedsTOTP   = "totp_required" // right password, no TOTP code given
	LoginBadTOTP     = "bad_totp"      // right password, wrong or reused TOTP code
)

// LoginAttempt is one staff sign-in attempt, successful or not. For an
// unknown username StaffID is 0 and Username is empty: what was typed may
// be a mistyped password, so it is not kept.
type LoginAttempt struct {
	ID       int64
	StaffID  int64
	Username string
	IP       string
	Outcome  string // one of the Login* outcomes
	At       time.Time
}

// Success reports whether the attempt signed in.
func (a LoginAttempt) Success() bool { return a.Outcome == LoginOK }

// LoginFilter narrows ListLoginAttempts; zero fields match everything.
type LoginFilter struct {
	StaffID int64
	Outcome string
}

// DefaultPageLimit and MaxPageLimit bound list pages (API.md: limit ≤ 100).
const (
	DefaultPageLimit = 20
	MaxPageLimit     = 100
)

// Page asks for one page of a list: Cursor is the next_cursor of the
// previous page ("" for the first), Limit the number of items.
type Page struct {
	Cursor string
	Limit  int
}

// Size is the effective limit: DefaultPageLimit when unset, at most
// MaxPageLimit.
func (p Page) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageLimit
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return p.Limit
}

// SessionKind tells Mini Program sessions from staff sessions. A token of
// one kind is unknown as the other.
type SessionKind string

// The session kinds.
const (
	SessionMP    SessionKind = "mp"
	SessionStaff SessionKind = "staff"
)

// Session is a signed-in client. Token is the bearer secret, set only by
// Create (it is stored hashed and never read back); ID is the token's hash,
// safe to log and used to revoke it.
type Session struct {
	Token     string
	ID        string
	Kind      SessionKind
	SubjectID int64 // the user id (mp) or staff id (staff)
	CreatedAt time.Time
	ExpiresAt time.Time
}

// LogValue leaves the token out.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("session_id", s.ID), slog.String("kind", string(s.Kind)),
		slog.Int64("subject_id", s.SubjectID))
}

// UserStore keeps Mini Program users.
type UserStore interface {
	// UpsertUserByOpenID returns the user with openID, creating it when
	// missing. Concurrent calls for one openid create one user. A non-empty
	// unionID is recorded when the user has none yet.
	UpsertUserByOpenID(ctx context.Context, openID, unionID string) (User, error)
	// UserByID returns the user, or ErrNotFound.
	UserByID(ctx context.Context, id int64) (User, error)
	// UpdateUserProfile sets nickname and avatar URL, or returns ErrNotFound.
	UpdateUserProfile(ctx context.Context, id int64, nickname, avatarURL string) (User, error)
	// SetUserPhone stores the sealed phone and its blind index, or returns
	// ErrNotFound.
	SetUserPhone(ctx context.Context, id int64, sealed, index string) error
}

// StaffStore keeps staff accounts and their sign-in history.
type StaffStore interface {
	// CreateStaff inserts s and returns it with its id; a taken username is
	// ErrConflict.
	CreateStaff(ctx context.Context, s Staff) (Staff, error)
	// StaffByID and StaffByUsername return the account, or ErrNotFound.
	StaffByID(ctx context.Context, id int64) (Staff, error)
	StaffByUsername(ctx context.Context, username string) (Staff, error)
	// ListStaff returns a page ordered by id, and the cursor of the next
	// page ("" at the end). A malformed cursor is ErrInvalid.
	ListStaff(ctx context.Context, p Page) ([]Staff, string, error)
	// UpdateStaff writes the editable fields of s (display name, roles,
	// station, district, disabled) and returns the stored account, or
	// ErrNotFound.
	UpdateStaff(ctx context.Context, s Staff) (Staff, error)
	// SetStaffPassword replaces the password hash and must-change flag.
	SetStaffPassword(ctx context.Context, id int64, hash string, mustChange bool) error
	// StaffLoginFailed counts one failed sign-in atomically; when the count
	// reaches threshold the account is locked until lockUntil and the
	// count starts over. It returns the account as stored afterwards.
	StaffLoginFailed(ctx context.Context, id int64, threshold int, lockUntil time.Time) (Staff, error)
	// StaffLoginSucceeded clears the failure count and records the time.
	StaffLoginSucceeded(ctx context.Context, id int64, at time.Time) error
	// AddLoginAttempt appends a. ListLoginAttempts pages newest first.
	AddLoginAttempt(ctx context.Context, a LoginAttempt) error
	ListLoginAttempts(ctx context.Context, f LoginFilter, p Page) ([]LoginAttempt, string, error)
}

// AuditStore keeps the append-only audit log.
type AuditStore interface {
	AppendAudit(ctx context.Context, e AuditEntry) error
	// ListAudit pages entries matching f, newest first.
	ListAudit(ctx context.Context, f AuditFilter, p Page) ([]AuditEntry, string, error)
}

// SessionStore keeps revocable bearer sessions.
type SessionStore interface {
	// CreateSession starts a session of kind for subject and returns it
	// with its token.
	CreateSession(ctx context.Context, kind SessionKind, subjectID int64) (Session, error)
	// SessionByToken returns the live session of kind for token (Token
	// left empty); unknown, revoked, expired or of the other kind is
	// ErrUnauthenticated.
	SessionByToken(ctx context.Context, kind SessionKind, token string) (Session, error)
	// RevokeSession ends one session by id; ending an unknown one is no error.
	RevokeSession(ctx context.Context, kind SessionKind, id string) error
	// RevokeSubjectSessions ends every session of subject except the one
	// with id exceptID ("" for none).
	RevokeSubjectSessions(ctx context.Context, kind SessionKind, subjectID int64, exceptID string) error
}

// Principal is who makes a request: a Mini Program user or a staff member,
// as authenticated by the API from a bearer token.
type Principal struct {
	Kind      SessionKind
	SubjectID int64
	SessionID string
	// Staff only.
	Username           string
	Roles              []Role
	StationID          int64
	District           string
	MustChangePassword bool
}

// HasRole reports whether a staff principal holds any of roles (an admin
// holds every role); false for Mini Program users.
func (p Principal) HasRole(roles ...Role) bool {
	return p.Kind == SessionStaff && hasRole(p.Roles, roles)
}

// LogValue logs who, never the session id.
func (p Principal) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", string(p.Kind)), slog.Int64("subject_id", p.SubjectID))
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal carried in ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// StaffFrom returns the staff principal carried in ctx, if any.
func StaffFrom(ctx context.Context) (Principal, bool) {
	p, ok := PrincipalFrom(ctx)
	return p, ok && p.Kind == SessionStaff
}

// RequestInfo describes the request a use case runs for, for the audit log.
type RequestInfo struct {
	IP        string
	RequestID string
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying ri.
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// RequestInfoFrom returns the request info carried in ctx (zero if none).
func RequestInfoFrom(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return ri
}

// TOTPSecret is a staff member's second factor: a TOTP secret sealed by the
// service. Enabled is false until the enrolment was confirmed with a code;
// LastStep is the time step of the last code accepted.
type TOTPSecret struct {
	StaffID      int64
	SecretSealed string
	Enabled      bool
	LastStep     int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// TOTPStore keeps the staff's TOTP secrets.
type TOTPStore interface {
	// TOTPOf returns the staff member's secret, or ErrNotFound.
	TOTPOf(ctx context.Context, staffID int64) (TOTPSecret, error)
	// SetPendingTOTP stores a new unconfirmed secret; an enabled one is
	// ErrConflict.
	SetPendingTOTP(ctx context.Context, staffID int64, sealed string) error
	// UseTOTPStep accepts the code of step once: false when a code of this
	// or a later step was accepted before. It enables a pending secret.
	UseTOTPStep(ctx context.Context, staffID, step int64) (bool, error)
	// DeleteTOTP removes the secret and reports whether there was one.
	DeleteTOTP(ctx context.Context, staffID int64) (bool, error)
}
