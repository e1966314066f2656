package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"image/png"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"wanjia/model"
)

// TOTPSealer seals and opens TOTP secrets (protect.Keyring satisfies it).
type TOTPSealer interface {
	Seal(plaintext, aad string) (string, error)
	Open(sealed, aad string) (string, error)
}

// TOTP parameters: RFC 6238 defaults (30 s steps, 6 digits, SHA-1), which
// every authenticator app understands; one step of clock skew either way.
const (
	totpPeriod = 30
	totpSkew   = 1
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func totpAAD(staffID int64) string { return "staff_totp:" + strconv.FormatInt(staffID, 10) }

func errTOTPOff() error {
	return model.Coded(model.ErrConflict, "totp_unavailable", "未启用动态口令功能")
}

// TOTPEnrolment is what an admin needs to add the account to an
// authenticator app: the secret (base32), the otpauth:// URL and that URL
// as a QR code (PNG).
type TOTPEnrolment struct {
	Secret string
	URL    string
	QRPNG  []byte
}

// EnrolTOTP starts TOTP for the signed-in admin: a new secret, sealed and
// stored unconfirmed until ConfirmTOTP (audited). Only admins enrol (403
// otherwise); an account with TOTP enabled is 409 totp_enabled (another
// admin resets it).
func (a *Auth) EnrolTOTP(ctx context.Context) (TOTPEnrolment, error) {
	p, err := staffFrom(ctx)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if !p.HasRole(model.RoleAdmin) {
		return TOTPEnrolment{}, model.Errorf(model.ErrForbidden, "动态口令仅供管理员使用")
	}
	if a.totp == nil {
		return TOTPEnrolment{}, errTOTPOff()
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: a.totpIssuer, AccountName: p.Username, Period: totpPeriod,
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("enrol totp: %w", err)
	}
	sealed, err := a.totpKeys.Seal(key.Secret(), totpAAD(p.SubjectID))
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("enrol totp: %w", err)
	}
	if err := a.totp.SetPendingTOTP(ctx, p.SubjectID, sealed); err != nil {
		return TOTPEnrolment{}, err
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("enrol totp: qr: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("enrol totp: qr: %w", err)
	}
	if err := a.Audit(ctx, "staff.totp_enrol", "staff", strconv.FormatInt(p.SubjectID, 10), nil,
		map[string]any{"totp": "pending"}); err != nil {
		return TOTPEnrolment{}, err
	}
	return TOTPEnrolment{Secret: key.Secret(), URL: key.URL(), QRPNG: buf.Bytes()}, nil
}

// ConfirmTOTP enables the signed-in admin's pending secret with a current
// code (audited); from then on sign-in needs a code. A wrong code is 400
// (field code).
func (a *Auth) ConfirmTOTP(ctx context.Context, code string) error {
	p, err := staffFrom(ctx)
	if err != nil {
		return err
	}
	if a.totp == nil {
		return errTOTPOff()
	}
	sec, err := a.totp.TOTPOf(ctx, p.SubjectID)
	if errors.Is(err, model.ErrNotFound) {
		return model.Coded(model.ErrConflict, "totp_not_enrolled", "请先获取动态口令二维码")
	}
	if err != nil {
		return err
	}
	if sec.Enabled {
		return model.Coded(model.ErrConflict, "totp_enabled", "动态口令已启用")
	}
	ok, err := a.useCode(ctx, sec, code, a.now())
	if err != nil {
		return err
	}
	if !ok {
		return model.Invalid(map[string]string{"code": "动态口令不正确或已使用"})
	}
	return a.Audit(ctx, "staff.totp_enable", "staff", strconv.FormatInt(p.SubjectID, 10),
		map[string]any{"totp": "pending"}, map[string]any{"totp": "enabled"})
}

// TOTPStatus tells whether the signed-in staff member has TOTP enabled or
// an enrolment pending.
func (a *Auth) TOTPStatus(ctx context.Context) (enabled, pending bool, err error) {
	p, err := staffFrom(ctx)
	if err != nil {
		return false, false, err
	}
	if a.totp == nil {
		return false, false, nil
	}
	sec, err := a.totp.TOTPOf(ctx, p.SubjectID)
	if errors.Is(err, model.ErrNotFound) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return sec.Enabled, !sec.Enabled, nil
}

// ResetTOTP removes another staff member's TOTP (admin; audited): the
// recovery when a phone is lost. An admin cannot reset their own (409
// cannot_reset_self): another admin must, so a stolen password alone never
// turns the second factor off.
func (a *Auth) ResetTOTP(ctx context.Context, staffID int64) error {
	act, err := requireAdmin(ctx)
	if err != nil {
		return err
	}
	if a.totp == nil {
		return errTOTPOff()
	}
	if act.staffID != 0 && act.staffID == staffID {
		return model.Coded(model.ErrConflict, "cannot_reset_self", "不能重置自己的动态口令，请联系其他管理员")
	}
	if _, err := a.staff.StaffByID(ctx, staffID); err != nil {
		return err
	}
	had, err := a.totp.DeleteTOTP(ctx, staffID)
	if err != nil {
		return err
	}
	if !had {
		return model.Errorf(model.ErrNotFound, "该账号未设置动态口令")
	}
	return a.Audit(ctx, "staff.totp_reset", "staff", strconv.FormatInt(staffID, 10),
		map[string]any{"totp": "enabled"}, map[string]any{"totp": "off"})
}

// useCode checks code against sec at now (one step of skew either way)
// and accepts it once: a code of a step at or before the last accepted one
// is refused, so a code seen over a shoulder cannot be replayed.
func (a *Auth) useCode(ctx context.Context, sec model.TOTPSecret, code string, now time.Time) (bool, error) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return false, nil
	}
	secret, err := a.totpKeys.Open(sec.SecretSealed, totpAAD(sec.StaffID))
	if err != nil {
		return false, fmt.Errorf("totp: open secret: %w", err)
	}
	cur := now.Unix() / totpPeriod
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return false, fmt.Errorf("totp: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return a.totp.UseTOTPStep(ctx, sec.StaffID, step)
		}
	}
	return false, nil
}

// secondFactor asks an account with TOTP enabled for its code at sign-in.
// It records the attempt when it refuses.
func (a *Auth) secondFactor(ctx context.Context, st model.Staff, code string, now time.Time, attempt *model.LoginAttempt) error {
	if a.totp == nil {
		return nil
	}
	sec, err := a.totp.TOTPOf(ctx, st.ID)
	if errors.Is(err, model.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("staff login: %w", err)
	}
	if !sec.Enabled {
		return nil
	}
	if strings.TrimSpace(code) == "" {
		attempt.Outcome = model.LoginNeedsTOTP
		a.recordAttempt(ctx, *attempt)
		return model.Coded(model.ErrUnauthenticated, "totp_required", "请输入动态口令")
	}
	ok, err := a.useCode(ctx, sec, code, now)
	if err != nil {
		return fmt.Errorf("staff login: %w", err)
	}
	if !ok {
		if _, err := a.staff.StaffLoginFailed(ctx, st.ID, a.lockoutFailures, now.Add(a.lockoutDuration)); err != nil {
			return fmt.Errorf("staff login: %w", err)
		}
		attempt.Outcome = model.LoginBadTOTP
		a.recordAttempt(ctx, *attempt)
		return model.Coded(model.ErrUnauthenticated, "totp_invalid", "动态口令不正确或已使用")
	}
	return nil
}
