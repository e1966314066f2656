package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"wanjia/model"
)

// Limits of staff accounts.
const (
	MinUsernameLen  = 3
	MaxUsernameLen  = 32
	MinPasswordLen  = 10
	maxPasswordLen  = 72 // bcrypt's limit, in bytes
	maxNameRunes    = 32
	maxDistrictRune = 32
)

// NewStaff describes an account to create.
type NewStaff struct {
	Username           string
	DisplayName        string // the username when empty
	Password           string
	Roles              []model.Role
	StationID          int64
	District           string
	MustChangePassword bool
}

// StaffUpdate changes an account; nil fields stay as they are. Password
// resets the password (the account must change it at next sign-in).
type StaffUpdate struct {
	DisplayName *string
	Roles       *[]model.Role
	StationID   *int64
	District    *string
	Disabled    *bool
	Password    *string
}

// normalizeUsername is the form usernames are stored and looked up in.
func normalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func usernameProblem(u string) string {
	if len(u) < MinUsernameLen || len(u) > MaxUsernameLen {
		return fmt.Sprintf("长度须为 %d–%d 个字符", MinUsernameLen, MaxUsernameLen)
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "只能包含小写字母、数字和 _ . -"
		}
	}
	return ""
}

// PasswordProblem returns why password is not acceptable for username, in
// Chinese, or "" when it is: at least 10 characters, at most 72 bytes,
// letters and digits both, and not the username.
func PasswordProblem(username, password string) string {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return fmt.Sprintf("至少 %d 个字符", MinPasswordLen)
	case len(password) > maxPasswordLen:
		return fmt.Sprintf("不能超过 %d 个字节", maxPasswordLen)
	case !utf8.ValidString(password):
		return "包含无效字符"
	case strings.EqualFold(strings.TrimSpace(password), normalizeUsername(username)):
		return "不能与用户名相同"
	}
	var letter, digit bool
	for _, r := range password {
		switch {
		case unicode.IsControl(r):
			return "包含无效字符"
		case r >= '0' && r <= '9':
			digit = true
		case unicode.IsLetter(r):
			letter = true
		}
	}
	if !letter || !digit {
		return "须同时包含字母和数字"
	}
	return ""
}

func rolesProblem(roles []model.Role) string {
	if len(roles) == 0 {
		return "至少选择一个角色"
	}
	for _, r := range roles {
		if !r.Valid() {
			return fmt.Sprintf("未知角色 %q", string(r))
		}
	}
	return ""
}

// cleanRoles sorts roles in AllRoles order without duplicates.
func cleanRoles(roles []model.Role) []model.Role {
	var out []model.Role
	for _, r := range model.AllRoles() {
		if slices.Contains(roles, r) {
			out = append(out, r)
		}
	}
	return out
}

func textProblem(s string, maxRunes int) string {
	if !utf8.ValidString(s) {
		return "包含无效字符"
	}
	if utf8.RuneCountInString(s) > maxRunes {
		return fmt.Sprintf("不能超过 %d 个字", maxRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "包含无效字符"
		}
	}
	return ""
}

func (a *Auth) hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), a.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CreateStaff creates a staff account. It needs an admin principal in ctx,
// or none at all (the command line, audited as "cli"). Invalid fields are
// model.ErrInvalid; a taken username model.ErrConflict (username_taken).
func (a *Auth) CreateStaff(ctx context.Context, n NewStaff) (model.Staff, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return model.Staff{}, err
	}
	n.Username = normalizeUsername(n.Username)
	n.DisplayName = strings.TrimSpace(n.DisplayName)
	n.District = strings.TrimSpace(n.District)
	problems := map[string]string{}
	if msg := usernameProblem(n.Username); msg != "" {
		problems["username"] = msg
	}
	if msg := PasswordProblem(n.Username, n.Password); msg != "" {
		problems["password"] = msg
	}
	if msg := rolesProblem(n.Roles); msg != "" {
		problems["roles"] = msg
	}
	if msg := textProblem(n.DisplayName, maxNameRunes); msg != "" {
		problems["display_name"] = msg
	}
	if msg := textProblem(n.District, maxDistrictRune); msg != "" {
		problems["district"] = msg
	}
	if n.StationID < 0 {
		problems["station_id"] = "无效"
	}
	if err := model.Invalid(problems); err != nil {
		return model.Staff{}, err
	}
	if n.DisplayName == "" {
		n.DisplayName = n.Username
	}
	h, err := a.hash(n.Password)
	if err != nil {
		return model.Staff{}, err
	}
	var created model.Staff
	err = a.tx.WithTx(ctx, func(ctx context.Context) error {
		var err error
		created, err = a.staff.CreateStaff(ctx, model.Staff{
			Username: n.Username, DisplayName: n.DisplayName, PasswordHash: h, Roles: cleanRoles(n.Roles),
			StationID: n.StationID, District: n.District, MustChangePassword: n.MustChangePassword,
		})
		if err != nil {
			return err
		}
		return a.Audit(ctx, "staff.create", "staff", strconv.FormatInt(created.ID, 10), nil, staffFields(created))
	})
	if err != nil {
		return model.Staff{}, fmt.Errorf("create staff: %w", err)
	}
	return created, nil
}

// staffFields are the audited fields of an account: never the hash.
func staffFields(s model.Staff) map[string]any {
	return map[string]any{
		"username": s.Username, "display_name": s.DisplayName, "roles": s.Roles, "station_id": s.StationID,
		"district": s.District, "disabled": s.Disabled, "must_change_password": s.MustChangePassword,
	}
}

func errBadCredentials() error {
	return model.Coded(model.ErrUnauthenticated, "unauthenticated", "用户名或密码错误")
}

// LoginStaff is LoginStaffTOTP without a TOTP code: an account with TOTP
// enabled gets model.ErrUnauthenticated totp_required.
func (a *Auth) LoginStaff(ctx context.Context, username, password, ip string) (model.Session, model.Staff, error) {
	return a.LoginStaffTOTP(ctx, username, password, "", ip)
}

// LoginStaffTOTP signs a staff member in and starts a staff session. A wrong
// password or an unknown username is model.ErrUnauthenticated, both after
// the same bcrypt work; each wrong password counts towards the lockout:
// after LockoutFailures of them the account is locked for LockoutDuration,
// and every attempt while locked is model.ErrRateLimited, even with the
// right password. A disabled account is model.ErrUnauthenticated. An
// account with TOTP enabled needs totpCode too: without it the answer is
// model.ErrUnauthenticated with code totp_required, a wrong or reused code
// totp_invalid (which counts towards the lockout like a wrong password).
// Every attempt is recorded in the sign-in history with ip. The returned
// Staff tells whether the password must be changed first.
func (a *Auth) LoginStaffTOTP(ctx context.Context, username, password, totpCode, ip string) (model.Session, model.Staff, error) {
	now := a.now()
	name := normalizeUsername(username)
	var st model.Staff
	err := model.ErrNotFound
	if usernameProblem(name) == "" && len(password) <= 1024 {
		st, err = a.staff.StaffByUsername(ctx, name)
	}
	if errors.Is(err, model.ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(a.dummyHash, []byte(password))
		a.recordAttempt(ctx, model.LoginAttempt{IP: ip, Outcome: model.LoginUnknownUser, At: now})
		return model.Session{}, model.Staff{}, errBadCredentials()
	}
	if err != nil {
		return model.Session{}, model.Staff{}, fmt.Errorf("staff login: %w", err)
	}
	attempt := model.LoginAttempt{StaffID: st.ID, Username: st.Username, IP: ip, At: now}
	if st.Locked(now) {
		attempt.Outcome = model.LoginLocked
		a.recordAttempt(ctx, attempt)
		return model.Session{}, model.Staff{}, a.errLocked(st, now)
	}
	if bcrypt.CompareHashAndPassword([]byte(st.PasswordHash), []byte(password)) != nil {
		if _, err := a.staff.StaffLoginFailed(ctx, st.ID, a.lockoutFailures, now.Add(a.lockoutDuration)); err != nil {
			return model.Session{}, model.Staff{}, fmt.Errorf("staff login: %w", err)
		}
		attempt.Outcome = model.LoginBadPassword
		a.recordAttempt(ctx, attempt)
		return model.Session{}, model.Staff{}, errBadCredentials()
	}
	if st.Disabled {
		attempt.Outcome = model.LoginDisabled
		a.recordAttempt(ctx, attempt)
		return model.Session{}, model.Staff{}, model.Coded(model.ErrUnauthenticated, "unauthenticated", "账号已停用，请联系管理员")
	}
	if err := a.secondFactor(ctx, st, totpCode, now, &attempt); err != nil {
		return model.Session{}, model.Staff{}, err
	}
	sess, err := a.sessions.CreateSession(ctx, model.SessionStaff, st.ID)
	if err != nil {
		return model.Session{}, model.Staff{}, fmt.Errorf("staff login: %w", err)
	}
	if err := a.staff.StaffLoginSucceeded(ctx, st.ID, now); err != nil {
		return model.Session{}, model.Staff{}, fmt.Errorf("staff login: %w", err)
	}
	attempt.Outcome = model.LoginOK
	a.recordAttempt(ctx, attempt)
	st.FailedLogins, st.LockedUntil, st.LastLoginAt = 0, time.Time{}, now
	return sess, st, nil
}

func (a *Auth) errLocked(st model.Staff, now time.Time) error {
	minutes := max(1, int(math.Ceil(st.LockedUntil.Sub(now).Minutes())))
	return model.Coded(model.ErrRateLimited, "rate_limited", fmt.Sprintf("登录失败次数过多，请 %d 分钟后再试", minutes))
}

// recordAttempt writes the sign-in history. A failure is logged, not
// returned: the lockout count lives on the account itself.
func (a *Auth) recordAttempt(ctx context.Context, at model.LoginAttempt) {
	if err := a.staff.AddLoginAttempt(ctx, at); err != nil {
		a.log.ErrorContext(ctx, "record login attempt", "outcome", at.Outcome, "staff_id", at.StaffID, "err", err)
	}
}

// StaffMe returns the account of the staff principal in ctx.
func (a *Auth) StaffMe(ctx context.Context) (model.Staff, error) {
	p, err := staffFrom(ctx)
	if err != nil {
		return model.Staff{}, err
	}
	st, err := a.staff.StaffByID(ctx, p.SubjectID)
	if err != nil {
		return model.Staff{}, fmt.Errorf("staff me: %w", err)
	}
	return st, nil
}

// ChangePassword changes the password of the staff principal in ctx,
// clears the must-change flag and ends every other session of the account.
// A wrong current password is model.ErrInvalid (field old_password) and
// counts towards the lockout; a weak new one model.ErrInvalid (field
// new_password).
func (a *Auth) ChangePassword(ctx context.Context, oldPassword, newPassword string) error {
	p, err := staffFrom(ctx)
	if err != nil {
		return err
	}
	st, err := a.staff.StaffByID(ctx, p.SubjectID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	now := a.now()
	if st.Locked(now) {
		return a.errLocked(st, now)
	}
	if len(oldPassword) > 1024 || bcrypt.CompareHashAndPassword([]byte(st.PasswordHash), []byte(oldPassword)) != nil {
		if _, err := a.staff.StaffLoginFailed(ctx, st.ID, a.lockoutFailures, now.Add(a.lockoutDuration)); err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		return model.Invalid(map[string]string{"old_password": "当前密码不正确"})
	}
	if msg := PasswordProblem(st.Username, newPassword); msg != "" {
		return model.Invalid(map[string]string{"new_password": msg})
	}
	if newPassword == oldPassword {
		return model.Invalid(map[string]string{"new_password": "不能与当前密码相同"})
	}
	h, err := a.hash(newPassword)
	if err != nil {
		return err
	}
	err = a.tx.WithTx(ctx, func(ctx context.Context) error {
		if err := a.staff.SetStaffPassword(ctx, st.ID, h, false); err != nil {
			return err
		}
		return a.Audit(ctx, "staff.password_change", "staff", strconv.FormatInt(st.ID, 10),
			map[string]any{"password_changed": false, "must_change_password": st.MustChangePassword},
			map[string]any{"password_changed": true, "must_change_password": false})
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := a.sessions.RevokeSubjectSessions(ctx, model.SessionStaff, st.ID, p.SessionID); err != nil {
		return fmt.Errorf("change password: revoke other sessions: %w", err)
	}
	return nil
}

// ListStaff pages the accounts by id. Admin only.
func (a *Auth) ListStaff(ctx context.Context, p model.Page) ([]model.Staff, string, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return nil, "", err
	}
	items, next, err := a.staff.ListStaff(ctx, p)
	if err != nil {
		return nil, "", fmt.Errorf("list staff: %w", err)
	}
	return items, next, nil
}

// UpdateStaff changes an account. Admin only. Disabling it or resetting
// its password ends every session of the account at once; role and scope
// changes apply from the next request. An admin cannot disable themself or
// drop their own admin role (model.ErrConflict, cannot_lock_out_self).
func (a *Auth) UpdateStaff(ctx context.Context, id int64, u StaffUpdate) (model.Staff, error) {
	act, err := requireAdmin(ctx)
	if err != nil {
		return model.Staff{}, err
	}
	before, err := a.staff.StaffByID(ctx, id)
	if err != nil {
		return model.Staff{}, fmt.Errorf("update staff: %w", err)
	}
	after := before
	problems := map[string]string{}
	if u.DisplayName != nil {
		after.DisplayName = strings.TrimSpace(*u.DisplayName)
		if msg := textProblem(after.DisplayName, maxNameRunes); msg != "" {
			problems["display_name"] = msg
		} else if after.DisplayName == "" {
			after.DisplayName = after.Username
		}
	}
	if u.Roles != nil {
		if msg := rolesProblem(*u.Roles); msg != "" {
			problems["roles"] = msg
		}
		after.Roles = cleanRoles(*u.Roles)
	}
	if u.StationID != nil {
		if *u.StationID < 0 {
			problems["station_id"] = "无效"
		}
		after.StationID = *u.StationID
	}
	if u.District != nil {
		after.District = strings.TrimSpace(*u.District)
		if msg := textProblem(after.District, maxDistrictRune); msg != "" {
			problems["district"] = msg
		}
	}
	if u.Disabled != nil {
		after.Disabled = *u.Disabled
	}
	var hash string
	if u.Password != nil {
		if msg := PasswordProblem(before.Username, *u.Password); msg != "" {
			problems["password"] = msg
		}
	}
	if err := model.Invalid(problems); err != nil {
		return model.Staff{}, err
	}
	if act.staffID == id && (after.Disabled || !slices.Contains(after.Roles, model.RoleAdmin)) {
		return model.Staff{}, model.Coded(model.ErrConflict, "cannot_lock_out_self", "不能停用自己或移除自己的管理员角色")
	}
	if u.Password != nil {
		if hash, err = a.hash(*u.Password); err != nil {
			return model.Staff{}, err
		}
	}
	action := "staff.update"
	if u.Disabled != nil && *u.Disabled && !before.Disabled {
		action = "staff.disable"
	}
	var updated model.Staff
	err = a.tx.WithTx(ctx, func(ctx context.Context) error {
		var err error
		if updated, err = a.staff.UpdateStaff(ctx, after); err != nil {
			return err
		}
		b, af := staffFields(before), staffFields(updated)
		if hash != "" {
			if err := a.staff.SetStaffPassword(ctx, id, hash, true); err != nil {
				return err
			}
			updated.MustChangePassword = true
			b["password_reset"], af["password_reset"] = false, true
			af["must_change_password"] = true
		}
		return a.Audit(ctx, action, "staff", strconv.FormatInt(id, 10), b, af)
	})
	if err != nil {
		return model.Staff{}, fmt.Errorf("update staff: %w", err)
	}
	if updated.Disabled || hash != "" {
		if err := a.sessions.RevokeSubjectSessions(ctx, model.SessionStaff, id, ""); err != nil {
			return model.Staff{}, fmt.Errorf("update staff: revoke sessions: %w", err)
		}
	}
	return updated, nil
}

// DisableStaff disables an account and ends all its sessions at once.
// Admin only.
func (a *Auth) DisableStaff(ctx context.Context, id int64) error {
	disabled := true
	_, err := a.UpdateStaff(ctx, id, StaffUpdate{Disabled: &disabled})
	return err
}

// ListLogins pages the sign-in history, newest first. Admin only.
func (a *Auth) ListLogins(ctx context.Context, f model.LoginFilter, p model.Page) ([]model.LoginAttempt, string, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return nil, "", err
	}
	items, next, err := a.staff.ListLoginAttempts(ctx, f, p)
	if err != nil {
		return nil, "", fmt.Errorf("list logins: %w", err)
	}
	return items, next, nil
}
