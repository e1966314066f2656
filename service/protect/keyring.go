// Package protect holds wanjia's data-protection helpers: field encryption
// (AES-256-GCM with key rotation), blind indexes for exact-match lookups of
// encrypted values, short signed codes (check-in tickets, links) and the
// masking of personal data for lists and logs.
//
// Every key is derived with HKDF-SHA256 from the 32-byte WANJIA_SECRET_KEY,
// with a distinct info string per purpose, so the master key itself never
// encrypts or signs anything. No error returned by this package contains a
// plaintext or a key byte.
package protect

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/hkdf"
)

// KeySize is the size in bytes of a master key (WANJIA_SECRET_KEY).
const KeySize = 32

// HKDF info strings, one per purpose. Changing any of them changes every
// derived key: existing ciphertexts, indexes and codes would stop working.
const (
	infoEncrypt    = "wanjia/v1/field-encryption"
	infoKeyID      = "wanjia/v1/key-id"
	infoBlindIndex = "wanjia/v1/blind-index/" // + purpose
	infoSign       = "wanjia/v1/signed-code/" // + purpose
)

const (
	sealVersion = "v1"
	nonceSize   = 12
	kidLen      = 8
)

// ErrDecrypt is returned by Open for a sealed value that is malformed, was
// sealed under an unknown key, or does not authenticate (tampered with, or
// opened with the wrong AAD). It carries no kind: a row that cannot be
// opened is an internal error, never the user's.
var ErrDecrypt = errors.New("cannot open sealed value")

// Keyring encrypts, indexes and signs under keys derived from a current
// master key, and still opens and verifies what older master keys produced.
// It is safe for concurrent use.
type Keyring struct {
	current *derived
	all     []*derived // current first, then the old keys in the order given
	byKID   map[string]*derived
	rand    io.Reader
}

// derived holds what one master key yields.
type derived struct {
	kid  string
	prk  []byte // HKDF pseudorandom key, for per-purpose expansion
	aead cipher.AEAD
}

// NewKeyring returns a Keyring that seals under current and opens values
// sealed under current or any of old. Each key must be exactly KeySize
// bytes. Two keys with the same key id (the same key given twice) are an
// error.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{byKID: make(map[string]*derived, 1+len(old)), rand: rand.Reader}
	for i, master := range append([][]byte{current}, old...) {
		d, err := derive(master)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("current key: %w", err)
			}
			return nil, fmt.Errorf("old key %d: %w", i, err)
		}
		if _, dup := k.byKID[d.kid]; dup {
			return nil, fmt.Errorf("key %d: duplicate key id %s", i, d.kid)
		}
		k.byKID[d.kid] = d
		k.all = append(k.all, d)
	}
	k.current = k.all[0]
	return k, nil
}

func derive(master []byte) (*derived, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("want %d bytes, got %d", KeySize, len(master))
	}
	prk := hkdf.Extract(sha256.New, master, nil)
	encKey := expand(prk, infoEncrypt)
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("new cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("new gcm: %w", err)
	}
	sum := sha256.Sum256(expand(prk, infoKeyID))
	return &derived{kid: hex.EncodeToString(sum[:])[:kidLen], prk: prk, aead: aead}, nil
}

// expand derives a 32-byte key for info from a pseudorandom key.
func expand(prk []byte, info string) []byte {
	out := make([]byte, 32)
	// An HKDF-SHA256 reader yields up to 255*32 bytes; 32 cannot fail.
	if _, err := io.ReadFull(hkdf.Expand(sha256.New, prk, []byte(info)), out); err != nil {
		panic("protect: hkdf expand: " + err.Error())
	}
	return out
}

// WithRand returns a copy of k that draws nonces from r instead of
// crypto/rand. For tests only: a predictable r breaks AES-GCM.
func (k *Keyring) WithRand(r io.Reader) *Keyring {
	c := *k
	c.rand = r
	return &c
}

// KeyID returns the id of the current key: the first 8 hex characters of
// SHA-256 over material derived for that purpose (never the key itself).
// Safe to log.
func (k *Keyring) KeyID() string { return k.current.kid }

// Seal encrypts plaintext under the current key, bound to aad, and returns
// "v1.<kid>.<base64url(nonce|ciphertext)>". aad names where the value lives,
// such as "cases.phone:123", so a sealed value copied to another row or
// column does not open there.
//
// An empty plaintext seals to "" (and Open("") returns ""), so an optional
// column stays empty: that a value is absent is not hidden.
func (k *Keyring) Seal(plaintext string, aad string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	d := k.current
	buf := make([]byte, nonceSize, nonceSize+len(plaintext)+d.aead.Overhead())
	if _, err := io.ReadFull(k.rand, buf); err != nil {
		return "", fmt.Errorf("seal: read nonce: %w", err)
	}
	buf = d.aead.Seal(buf, buf[:nonceSize], []byte(plaintext), []byte(aad))
	return sealVersion + "." + d.kid + "." + base64.RawURLEncoding.EncodeToString(buf), nil
}

// Open decrypts a value produced by Seal under any key of k with the same
// aad. "" opens to "". Anything malformed, sealed under an unknown key or
// tampered with returns an error wrapping ErrDecrypt.
func (k *Keyring) Open(sealed string, aad string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	d, body, err := k.parse(sealed)
	if err != nil {
		return "", err
	}
	if len(body) < nonceSize+d.aead.Overhead() {
		return "", fmt.Errorf("open: too short: %w", ErrDecrypt)
	}
	pt, err := d.aead.Open(nil, body[:nonceSize], body[nonceSize:], []byte(aad))
	if err != nil {
		// The AEAD error says nothing useful and nothing secret; keep ours.
		return "", fmt.Errorf("open: key %s: authentication failed: %w", d.kid, ErrDecrypt)
	}
	return string(pt), nil
}

func (k *Keyring) parse(sealed string) (*derived, []byte, error) {
	version, rest, ok := strings.Cut(sealed, ".")
	if !ok || version != sealVersion {
		return nil, nil, fmt.Errorf("open: unknown format: %w", ErrDecrypt)
	}
	kid, enc, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, nil, fmt.Errorf("open: unknown format: %w", ErrDecrypt)
	}
	d, ok := k.byKID[kid]
	if !ok {
		return nil, nil, fmt.Errorf("open: unknown key id %q: %w", safeKID(kid), ErrDecrypt)
	}
	body, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, nil, fmt.Errorf("open: bad encoding: %w", ErrDecrypt)
	}
	return d, body, nil
}

// safeKID keeps an unknown key id printable and short in an error message.
func safeKID(kid string) string {
	if len(kid) != kidLen {
		return "?"
	}
	if _, err := hex.DecodeString(kid); err != nil {
		return "?"
	}
	return kid
}

// NeedsRotation reports whether sealed was produced under one of the old
// keys, so a background job can Open and Seal it again under the current
// key. It reports false for "", for values under the current key and for
// values it cannot attribute to a known key.
func (k *Keyring) NeedsRotation(sealed string) bool {
	if sealed == "" {
		return false
	}
	d, _, err := k.parse(sealed)
	return err == nil && d != k.current
}

// BlindIndex returns a keyed hash (HMAC-SHA256, hex) of value for exact-match
// lookups of an encrypted column, such as finding a case by phone number
// without decrypting every row. purpose separates columns ("cases.phone"):
// equal values in different columns get unrelated indexes. Normalize value
// (trim, canonical phone form) before indexing, and index and look up the
// same way.
//
// The index is keyed by the current master key. After a rotation, look up
// with BlindIndexes and re-index rows as they are resealed.
func (k *Keyring) BlindIndex(value, purpose string) string {
	return blindIndex(k.current, value, purpose)
}

// BlindIndexes returns the index of value under every key of k, current
// first, for lookups that must also find rows not yet re-indexed after a
// rotation (WHERE phone_idx IN ...).
func (k *Keyring) BlindIndexes(value, purpose string) []string {
	out := make([]string, len(k.all))
	for i, d := range k.all {
		out[i] = blindIndex(d, value, purpose)
	}
	return out
}

func blindIndex(d *derived, value, purpose string) string {
	m := hmac.New(sha256.New, expand(d.prk, infoBlindIndex+purpose))
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}
