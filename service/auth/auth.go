// Package auth holds the account use cases: Mini Program sign-in and
// profile, staff accounts with passwords, lockout and sign-in history,
// bearer sessions of both kinds, and the audit log every staff write goes
// through.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/crypto/bcrypt"

	"wanjia/model"
)

// MiniProgram is what auth needs from WeChat (wechat.Client satisfies it).
// Errors should already be model kinds (a bad code ErrInvalid, WeChat down
// ErrUpstream); anything else is treated as ErrUpstream.
type MiniProgram interface {
	Code2Session(ctx context.Context, code string) (model.WeChatSession, error)
	PhoneNumber(ctx context.Context, code string) (string, error)
}

// Sealer encrypts personal data and indexes it for exact-match lookups
// (protect.Keyring satisfies it).
type Sealer interface {
	Seal(plaintext, aad string) (string, error)
	BlindIndex(value, purpose string) string
}

// Transactor runs fn in a database transaction carried in ctx
// (store.DB satisfies it).
type Transactor interface {
	WithTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Deps are what Auth needs. Zero BcryptCost, LockoutFailures and
// LockoutDuration take the production defaults (12, 5, 15 min).
type Deps struct {
	Users       model.UserStore
	Staff       model.StaffStore
	Audit       model.AuditStore
	Sessions    model.SessionStore
	Tx          Transactor
	MiniProgram MiniProgram
	Sealer      Sealer
	Logger      *slog.Logger
	Now         func() time.Time

	BcryptCost      int           // bcrypt.MinCost in tests
	LockoutFailures int           // config auth.lockout_failures
	LockoutDuration time.Duration // config auth.lockout_duration

	// TOTP keeps the admins' optional second factor (service/auth/totp.go);
	// nil turns TOTP off (enrolment answers 409, sign-in needs no code).
	TOTP model.TOTPStore
	// TOTPKeys seals the TOTP secrets (protect.Keyring satisfies it);
	// required with TOTP.
	TOTPKeys TOTPSealer
	// TOTPIssuer names the account in authenticator apps; "万家".
	TOTPIssuer string
}

// Defaults of Deps.
const (
	DefaultBcryptCost      = 12
	DefaultLockoutFailures = 5
	DefaultLockoutDuration = 15 * time.Minute
)

// Auth implements the account use cases. It is safe for concurrent use.
type Auth struct {
	users    model.UserStore
	staff    model.StaffStore
	audit    model.AuditStore
	sessions model.SessionStore
	tx       Transactor
	mp       MiniProgram
	sealer   Sealer
	log      *slog.Logger
	now      func() time.Time

	cost            int
	lockoutFailures int
	lockoutDuration time.Duration
	totp            model.TOTPStore
	totpKeys        TOTPSealer
	totpIssuer      string
	// dummyHash is compared against for unknown usernames, so a sign-in
	// takes as long whether or not the account exists.
	dummyHash []byte
}

// New returns Auth over d. It hashes a random password once (at the
// configured cost) for the constant-time path of unknown usernames.
func New(d Deps) (*Auth, error) {
	switch {
	case d.Users == nil, d.Staff == nil, d.Audit == nil, d.Sessions == nil, d.Tx == nil:
		return nil, errors.New("auth: stores, sessions and transactor are required")
	case d.MiniProgram == nil, d.Sealer == nil:
		return nil, errors.New("auth: mini program and sealer are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.BcryptCost == 0 {
		d.BcryptCost = DefaultBcryptCost
	}
	if d.BcryptCost < bcrypt.MinCost || d.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("auth: bcrypt cost %d out of range", d.BcryptCost)
	}
	if d.LockoutFailures <= 0 {
		d.LockoutFailures = DefaultLockoutFailures
	}
	if d.LockoutDuration <= 0 {
		d.LockoutDuration = DefaultLockoutDuration
	}
	if d.TOTP != nil && d.TOTPKeys == nil {
		return nil, errors.New("auth: TOTP needs TOTPKeys")
	}
	if d.TOTPIssuer == "" {
		d.TOTPIssuer = "万家"
	}
	dummy := []byte(dummyHashDefaultCost)
	if d.BcryptCost != DefaultBcryptCost {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("auth: dummy password: %w", err)
		}
		var err error
		if dummy, err = bcrypt.GenerateFromPassword([]byte(base64.RawURLEncoding.EncodeToString(b)), d.BcryptCost); err != nil {
			return nil, fmt.Errorf("auth: dummy hash: %w", err)
		}
	}
	return &Auth{
		users: d.Users, staff: d.Staff, audit: d.Audit, sessions: d.Sessions, tx: d.Tx,
		mp: d.MiniProgram, sealer: d.Sealer, log: d.Logger, now: d.Now,
		cost: d.BcryptCost, lockoutFailures: d.LockoutFailures, lockoutDuration: d.LockoutDuration,
		dummyHash: dummy, totp: d.TOTP, totpKeys: d.TOTPKeys, totpIssuer: d.TOTPIssuer,
	}, nil
}

// dummyHashDefaultCost is a bcrypt hash at DefaultBcryptCost of a password
// nobody knows, compared against for unknown usernames so that they take as
// long as known ones. Precomputed: hashing at cost 12 takes ~230 ms, most of
// a start. Its password being public would not matter (no account has it).
const dummyHashDefaultCost = "$2a$12$JZIZ6oPJWYBDA6jLGRAtHupBCM7ZSPKGOoAvDnaGfNa2JMqWwRmY6"

// Errors with user-facing messages. Each call makes a fresh value.
func errForbidden() error {
	return model.Coded(model.ErrForbidden, "forbidden", "没有权限执行此操作")
}

func errUnauthenticated() error {
	return model.Coded(model.ErrUnauthenticated, "unauthenticated", "请先登录")
}

// CodePasswordChangeRequired is the code of the 403 answered to a staff
// member who must change the password first.
const CodePasswordChangeRequired = "password_change_required"

// PasswordChangeRequired is the error for a staff member who must change
// the initial password before doing anything else.
func PasswordChangeRequired() error {
	return model.Coded(model.ErrForbidden, CodePasswordChangeRequired, "请先修改初始密码")
}

// AuthenticateMP returns the principal of a Mini Program bearer token.
// Unknown, revoked, expired or staff tokens are model.ErrUnauthenticated.
func (a *Auth) AuthenticateMP(ctx context.Context, token string) (model.Principal, error) {
	s, err := a.sessions.SessionByToken(ctx, model.SessionMP, token)
	if err != nil {
		return model.Principal{}, err
	}
	return model.Principal{Kind: model.SessionMP, SubjectID: s.SubjectID, SessionID: s.ID}, nil
}

// AuthenticateStaff returns the principal of a staff bearer token, read
// fresh from the database (roles, scope, must-change flag), so a role
// change or a disabled account takes effect at the next request even if a
// session survived in Redis. Unknown, revoked, expired, Mini Program tokens
// and disabled or deleted accounts are model.ErrUnauthenticated.
func (a *Auth) AuthenticateStaff(ctx context.Context, token string) (model.Principal, error) {
	s, err := a.sessions.SessionByToken(ctx, model.SessionStaff, token)
	if err != nil {
		return model.Principal{}, err
	}
	st, err := a.staff.StaffByID(ctx, s.SubjectID)
	if errors.Is(err, model.ErrNotFound) || err == nil && st.Disabled {
		if rerr := a.sessions.RevokeSubjectSessions(ctx, model.SessionStaff, s.SubjectID, ""); rerr != nil {
			a.log.WarnContext(ctx, "revoke sessions of a disabled account", "staff_id", s.SubjectID, "err", rerr)
		}
		return model.Principal{}, model.Coded(model.ErrUnauthenticated, "unauthenticated", "账号已停用，请联系管理员")
	}
	if err != nil {
		return model.Principal{}, fmt.Errorf("authenticate staff: %w", err)
	}
	return staffPrincipal(st, s.ID), nil
}

func staffPrincipal(st model.Staff, sessionID string) model.Principal {
	return model.Principal{
		Kind: model.SessionStaff, SubjectID: st.ID, SessionID: sessionID, Username: st.Username,
		Roles: st.Roles, StationID: st.StationID, District: st.District, MustChangePassword: st.MustChangePassword,
	}
}

// Logout ends the session of the principal in ctx (either kind).
func (a *Auth) Logout(ctx context.Context) error {
	p, ok := model.PrincipalFrom(ctx)
	if !ok {
		return errUnauthenticated()
	}
	if err := a.sessions.RevokeSession(ctx, p.Kind, p.SessionID); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// actor is who a staff write is recorded for.
type actor struct {
	staffID  int64
	username string
}

// systemActor is the actor of writes made with no principal in ctx: the
// wanjia admin command line.
var systemActor = actor{username: "cli"}

func actorFrom(ctx context.Context) actor {
	p, ok := model.PrincipalFrom(ctx)
	switch {
	case !ok:
		return systemActor
	case p.Kind == model.SessionStaff:
		return actor{staffID: p.SubjectID, username: p.Username}
	}
	return actor{username: fmt.Sprintf("user:%d", p.SubjectID)}
}

// requireAdmin allows an admin principal, or no principal at all (the
// command line, recorded as "cli"); anyone else is model.ErrForbidden.
func requireAdmin(ctx context.Context) (actor, error) {
	p, ok := model.PrincipalFrom(ctx)
	if !ok {
		return systemActor, nil
	}
	if !p.HasRole(model.RoleAdmin) {
		return actor{}, errForbidden()
	}
	return actorFrom(ctx), nil
}

// staffFrom returns the staff principal in ctx or ErrUnauthenticated.
func staffFrom(ctx context.Context) (model.Principal, error) {
	p, ok := model.StaffFrom(ctx)
	if !ok {
		return model.Principal{}, errUnauthenticated()
	}
	return p, nil
}
