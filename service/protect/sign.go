package protect

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math"
	"time"

	"wanjia/model"
)

// Errors of Verify. Both unwrap to model.ErrInvalid and carry a user-safe
// message.
var (
	ErrExpired      = model.Coded(model.ErrInvalid, "code_expired", "凭证已过期")
	ErrBadSignature = model.Coded(model.ErrInvalid, "code_invalid", "凭证无效")
)

const (
	codeVersion = 1
	tagSize     = 16 // HMAC-SHA256 truncated to 128 bits
	// maxCodeLen bounds the work Verify does on outside input: a code is
	// meant for a QR code, so it stays far below this.
	maxCodeLen = 1024
)

// Sign returns a compact, URL-safe code that carries payload and proves it
// was issued by this service for purpose until expires. The zero expires
// means the code never expires. The payload is readable by whoever holds the
// code (it is signed, not encrypted): put ids in it, never personal data.
//
// Layout, base64url without padding: version (1 byte) | uvarint(expiry in
// Unix seconds, 0 = never) | payload | HMAC-SHA256 tag (16 bytes) under a
// key derived for purpose. An 8-byte payload makes a 39-character code.
func (k *Keyring) Sign(purpose string, payload []byte, expires time.Time) string {
	var exp uint64
	if !expires.IsZero() {
		exp = uint64(max(expires.Unix(), 1))
	}
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(payload)+tagSize)
	buf = append(buf, codeVersion)
	buf = binary.AppendUvarint(buf, exp)
	buf = append(buf, payload...)
	buf = append(buf, signTag(k.current, purpose, buf)...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// Verify checks a code made by Sign for the same purpose under any key of k
// and returns its payload. A code that is malformed, for another purpose or
// altered returns ErrBadSignature; a genuine code at or after its expiry
// returns ErrExpired.
func (k *Keyring) Verify(purpose, code string, now time.Time) ([]byte, error) {
	if len(code) > maxCodeLen {
		return nil, ErrBadSignature
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(code)
	if err != nil || len(raw) < 1+1+tagSize || raw[0] != codeVersion {
		return nil, ErrBadSignature
	}
	body, tag := raw[:len(raw)-tagSize], raw[len(raw)-tagSize:]
	valid := false
	for _, d := range k.all {
		if hmac.Equal(tag, signTag(d, purpose, body)) {
			valid = true
			break
		}
	}
	if !valid {
		return nil, ErrBadSignature
	}
	exp, n := binary.Uvarint(body[1:])
	if n <= 0 {
		return nil, ErrBadSignature
	}
	if exp != 0 && exp <= math.MaxInt64 && !now.Before(time.Unix(int64(exp), 0)) {
		return nil, ErrExpired
	}
	payload := make([]byte, len(body)-1-n)
	copy(payload, body[1+n:])
	return payload, nil
}

func signTag(d *derived, purpose string, body []byte) []byte {
	m := hmac.New(sha256.New, expand(d.prk, infoSign+purpose))
	m.Write(body)
	return m.Sum(nil)[:tagSize]
}
