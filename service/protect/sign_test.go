package protect_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/service/protect"
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, testKey(1))
	now := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		payload []byte
		expires time.Time
		at      time.Time
	}{
		{"ticket", []byte{0, 0, 0, 0, 0, 0, 0x30, 0x39}, now.Add(24 * time.Hour), now},
		{"empty payload", nil, now.Add(time.Minute), now},
		{"never expires", []byte("link:42"), time.Time{}, now.AddDate(50, 0, 0)},
		{"one second left", []byte("x"), now.Add(time.Second), now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code := k.Sign("checkin", tt.payload, tt.expires)
			if _, err := base64.RawURLEncoding.Strict().DecodeString(code); err != nil {
				t.Errorf("Sign() = %q, not base64url without padding: %v", code, err)
			}
			got, err := k.Verify("checkin", code, tt.at)
			if err != nil {
				t.Fatalf("Verify(%q) = %v", code, err)
			}
			if diff := cmp.Diff(tt.payload, got, cmp.Comparer(func(a, b []byte) bool { return string(a) == string(b) })); diff != "" {
				t.Errorf("Verify() payload mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSignCompact(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, testKey(1))
	code := k.Sign("checkin", make([]byte, 8), time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC))
	if len(code) > 40 {
		t.Errorf("Sign(8-byte payload) = %q (%d characters), want at most 40", code, len(code))
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, testKey(1))
	now := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	exp := now.Add(time.Hour)
	code := k.Sign("checkin", []byte("signup:77"), exp)
	raw, err := base64.RawURLEncoding.DecodeString(code)
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		return base64.RawURLEncoding.EncodeToString(b)
	}
	long := make([]byte, 2000)
	tests := []struct {
		name    string
		purpose string
		code    string
		at      time.Time
		want    error
	}{
		{"expired exactly", "checkin", code, exp, protect.ErrExpired},
		{"expired later", "checkin", code, exp.Add(time.Hour), protect.ErrExpired},
		{"past expiry at signing", "checkin", k.Sign("checkin", nil, time.Unix(0, 0)), now, protect.ErrExpired},
		{"other purpose", "link", code, now, protect.ErrBadSignature},
		{"other key", "checkin", mustKeyring(t, testKey(2)).Sign("checkin", []byte("signup:77"), exp), now, protect.ErrBadSignature},
		{"tampered version", "checkin", tamper(0), now, protect.ErrBadSignature},
		{"tampered expiry", "checkin", tamper(1), now, protect.ErrBadSignature},
		{"tampered payload", "checkin", tamper(len(raw) - 17), now, protect.ErrBadSignature},
		{"tampered tag", "checkin", tamper(len(raw) - 1), now, protect.ErrBadSignature},
		{"truncated", "checkin", code[:len(code)-2], now, protect.ErrBadSignature},
		{"empty", "checkin", "", now, protect.ErrBadSignature},
		{"padding", "checkin", code + "=", now, protect.ErrBadSignature},
		{"std alphabet", "checkin", "+/+/", now, protect.ErrBadSignature},
		{"too long", "checkin", base64.RawURLEncoding.EncodeToString(long), now, protect.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := k.Verify(tt.purpose, tt.code, tt.at)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify(%q) = %q, %v, want %v", tt.code, got, err, tt.want)
			}
			if !errors.Is(err, model.ErrInvalid) {
				t.Errorf("Verify() error %v does not unwrap to model.ErrInvalid", err)
			}
			if got != nil {
				t.Errorf("Verify() returned payload %q alongside an error", got)
			}
		})
	}
}

func TestVerifyAfterRotation(t *testing.T) {
	t.Parallel()
	oldK := mustKeyring(t, testKey(1))
	newK := mustKeyring(t, testKey(2), testKey(1))
	now := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	code := oldK.Sign("checkin", []byte("7"), now.Add(time.Hour))
	got, err := newK.Verify("checkin", code, now)
	if err != nil || string(got) != "7" {
		t.Errorf("Verify(old code) after rotation = %q, %v, want \"7\", nil", got, err)
	}
	if _, err := oldK.Verify("checkin", newK.Sign("checkin", []byte("7"), now.Add(time.Hour)), now); !errors.Is(err, protect.ErrBadSignature) {
		t.Errorf("Verify(new code) with the old keyring = %v, want ErrBadSignature", err)
	}
}

func FuzzVerify(f *testing.F) {
	k := mustKeyring(f, testKey(1), testKey(2))
	now := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	f.Add(k.Sign("checkin", []byte("1"), now.Add(time.Hour)))
	f.Add(k.Sign("checkin", nil, time.Time{}))
	f.Add("")
	f.Add("AQ")
	f.Add("Af____________________________8")
	f.Fuzz(func(t *testing.T, code string) {
		got, err := k.Verify("checkin", code, now)
		if err != nil {
			if got != nil {
				t.Fatalf("Verify(%q) = %q, %v: payload alongside an error", code, got, err)
			}
			if !errors.Is(err, protect.ErrBadSignature) && !errors.Is(err, protect.ErrExpired) {
				t.Fatalf("Verify(%q) = %v, want ErrBadSignature or ErrExpired", code, err)
			}
			return
		}
		// Anything that verifies must be what we signed: re-signing the
		// payload with the same expiry must verify too.
		if again, err := k.Verify("checkin", k.Sign("checkin", got, now.Add(time.Minute)), now); err != nil || string(again) != string(got) {
			t.Fatalf("re-signed payload %q = %q, %v", got, again, err)
		}
	})
}
