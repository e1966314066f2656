package upload

import (
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"wanjia/model"
)

// Keys name stored objects: "uploads/<yyyy>/<mm>/<32 hex>.<ext>", with the
// month in China Standard Time, 128 random bits and the extension of the
// sniffed type. No part of a key ever comes from the user, and every
// storage operation checks its key against this exact pattern, so a key
// cannot traverse paths or name anything but an upload.
var keyPattern = regexp.MustCompile(`^uploads/[0-9]{4}/(?:0[1-9]|1[0-2])/[0-9a-f]{32}\.(?:jpg|png|webp)$`)

// cst is China Standard Time (UTC+8, no daylight saving), the service's
// calendar.
var cst = time.FixedZone("CST", 8*60*60)

// ValidKey reports whether key has the exact shape of a generated key.
func ValidKey(key string) bool { return keyPattern.MatchString(key) }

// KeyContentType returns the content type a valid key's extension stands
// for, and false for an invalid key.
func KeyContentType(key string) (string, bool) {
	if !ValidKey(key) {
		return "", false
	}
	for ct, ext := range extByType {
		if strings.HasSuffix(key, "."+ext) {
			return ct, true
		}
	}
	return "", false
}

// NewKey returns a fresh key for an object of type ext ("jpg", "png" or
// "webp") uploaded at now, with 128 bits read from rand.
func NewKey(now time.Time, rand io.Reader, ext string) (string, error) {
	var id [16]byte
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return "", fmt.Errorf("new key: %w", err)
	}
	now = now.In(cst)
	key := fmt.Sprintf("uploads/%04d/%02d/%s.%s", now.Year(), int(now.Month()), hex.EncodeToString(id[:]), ext)
	if !ValidKey(key) {
		return "", fmt.Errorf("new key: invalid key %q", key)
	}
	return key, nil
}

// checkKey returns an error for a key that Open or Delete must refuse. A
// key that cannot exist is reported as not found (404 at the API), the same
// as a well-formed key with nothing behind it.
func checkKey(key string) error {
	if ValidKey(key) {
		return nil
	}
	return &model.Error{Kind: model.ErrNotFound, Code: "not_found", Message: "图片不存在", Cause: fmt.Errorf("malformed key %q", clip(key))}
}

// checkPut returns an error for a Put with an invalid key or a content type
// that does not match the key's extension: a programming error, not the
// user's.
func checkPut(key, contentType string) error {
	ct, ok := KeyContentType(key)
	if !ok {
		return fmt.Errorf("put: malformed key %q: %w", clip(key), model.ErrInvalid)
	}
	if ct != contentType {
		return fmt.Errorf("put %s: content type %q does not match the key: %w", key, clip(contentType), model.ErrInvalid)
	}
	return nil
}

// clip shortens outside input quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
