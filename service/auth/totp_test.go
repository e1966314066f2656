package auth_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"wanjia/model"
)

func code(tb testing.TB, secret string, at time.Time) string {
	tb.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func wantErrCode(tb testing.TB, what string, err error, kind error, code string) {
	tb.Helper()
	var me *model.Error
	if !errors.Is(err, kind) || !errors.As(err, &me) || me.Code != code {
		tb.Fatalf("%s = %v, want %v %s", what, err, kind, code)
	}
}

func TestTOTP(t *testing.T) {
	e := mustEnv(t)
	root := mustStaff(t, e, "root", pw, model.RoleAdmin)
	mustStaff(t, e, "boss", pw, model.RoleAdmin)
	mustStaff(t, e, "writer", pw, model.RoleEditor)
	writerCtx, _ := mustLogin(t, e, "writer", pw)
	if _, err := e.auth.EnrolTOTP(writerCtx); !errors.Is(err, model.ErrForbidden) {
		t.Fatalf("EnrolTOTP(editor) = %v, want forbidden", err)
	}

	ctx, _ := mustLogin(t, e, "root", pw)
	en, err := e.auth.EnrolTOTP(ctx)
	if err != nil {
		t.Fatalf("EnrolTOTP() = %v", err)
	}
	if !strings.HasPrefix(en.URL, "otpauth://totp/") || !strings.Contains(en.URL, "secret="+en.Secret) ||
		!bytes.HasPrefix(en.QRPNG, []byte("\x89PNG")) {
		t.Fatalf("EnrolTOTP() = %q, %d bytes of QR", en.URL, len(en.QRPNG))
	}
	// Not enabled until confirmed: sign-in needs no code yet.
	if _, _, err := e.auth.LoginStaff(context.Background(), "root", pw, ""); err != nil {
		t.Fatalf("LoginStaff(pending) = %v", err)
	}
	if err := e.auth.ConfirmTOTP(ctx, "000000"); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("ConfirmTOTP(wrong) = %v, want invalid", err)
	}
	now := e.clock.Now()
	if err := e.auth.ConfirmTOTP(ctx, code(t, en.Secret, now)); err != nil {
		t.Fatalf("ConfirmTOTP() = %v", err)
	}
	if on, pending, _ := e.auth.TOTPStatus(ctx); !on || pending {
		t.Fatalf("TOTPStatus() = %v, %v", on, pending)
	}
	if _, err := e.auth.EnrolTOTP(ctx); !errors.Is(err, model.ErrConflict) {
		t.Fatalf("EnrolTOTP(enabled) = %v, want conflict", err)
	}

	// Sign-in now needs a fresh code; the code used to confirm is spent.
	_, _, err = e.auth.LoginStaff(context.Background(), "root", pw, "")
	wantErrCode(t, "LoginStaff(no code)", err, model.ErrUnauthenticated, "totp_required")
	_, _, err = e.auth.LoginStaffTOTP(context.Background(), "root", pw, code(t, en.Secret, now), "")
	wantErrCode(t, "LoginStaffTOTP(reused code)", err, model.ErrUnauthenticated, "totp_invalid")
	e.clock.Add(30 * time.Second)
	if _, _, err := e.auth.LoginStaffTOTP(context.Background(), "root", pw, code(t, en.Secret, e.clock.Now()), ""); err != nil {
		t.Fatalf("LoginStaffTOTP(fresh code) = %v", err)
	}
	// A wrong password never reaches the code check.
	_, _, err = e.auth.LoginStaffTOTP(context.Background(), "root", "Wrong password 9", code(t, en.Secret, e.clock.Now()), "")
	wantErrCode(t, "LoginStaffTOTP(bad password)", err, model.ErrUnauthenticated, "unauthenticated")
	// Wrong codes count towards the lockout.
	for range 4 {
		_, _, _ = e.auth.LoginStaffTOTP(context.Background(), "root", pw, "123456", "")
	}
	if _, _, err := e.auth.LoginStaffTOTP(context.Background(), "root", pw, "123456", ""); !errors.Is(err, model.ErrRateLimited) {
		t.Fatalf("after five failures = %v, want locked", err)
	}
	logins, _, _ := e.auth.ListLogins(ctx, model.LoginFilter{StaffID: root.ID, Outcome: model.LoginBadTOTP}, model.Page{})
	if len(logins) == 0 {
		t.Error("no bad_totp attempt in the sign-in history")
	}

	// Recovery: another admin resets it; nobody resets their own.
	if err := e.auth.ResetTOTP(ctx, root.ID); !errors.Is(err, model.ErrConflict) {
		t.Fatalf("ResetTOTP(self) = %v, want conflict", err)
	}
	if err := e.auth.ResetTOTP(writerCtx, root.ID); !errors.Is(err, model.ErrForbidden) {
		t.Fatalf("ResetTOTP(editor) = %v, want forbidden", err)
	}
	bossCtx, _ := mustLogin(t, e, "boss", pw)
	if err := e.auth.ResetTOTP(bossCtx, root.ID); err != nil {
		t.Fatalf("ResetTOTP(other admin) = %v", err)
	}
	entries, _, _ := e.auth.ListAudit(bossCtx, model.AuditFilter{Action: "staff.totp_reset"}, model.Page{})
	if len(entries) != 1 || strings.Contains(string(entries[0].Summary), en.Secret) {
		t.Fatalf("audit of the reset = %+v", entries)
	}
	if err := e.auth.ResetTOTP(bossCtx, root.ID); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("ResetTOTP(again) = %v, want not found", err)
	}
}
