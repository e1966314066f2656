package wxsim

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// blockSize is the PKCS#7 block size WeChat pads to (not the AES block size).
const blockSize = 32

// Errors returned by the message crypto.
var (
	ErrBadAESKey     = errors.New("wxsim: encoding aes key must be 43 base64 characters decoding to 32 bytes")
	ErrBadCipher     = errors.New("wxsim: malformed encrypted message")
	ErrAppIDMismatch = errors.New("wxsim: encrypted message belongs to another app id")
)

// Signature returns WeChat's SHA-1 signature of parts: the hex SHA-1 of the
// parts sorted as strings and concatenated. Callback signatures are
// Signature(token, timestamp, nonce); safe-mode message signatures are
// Signature(token, timestamp, nonce, encrypt). Unlike silenceper's
// util.Signature it does not reorder the caller's slice.
func Signature(parts ...string) string {
	sorted := slices.Clone(parts)
	slices.Sort(sorted)
	h := sha1.New()
	for _, p := range sorted {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AESKey decodes an EncodingAESKey (43 characters of base64 without the
// trailing "=") into the 32-byte AES-256 key. It returns ErrBadAESKey when
// the key is malformed.
func AESKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, ErrBadAESKey
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, ErrBadAESKey
	}
	return key, nil
}

// NewAESKey returns a fresh random EncodingAESKey (43 characters).
func NewAESKey() string {
	key := make([]byte, 32)
	rand.Read(key)
	return strings.TrimSuffix(base64.StdEncoding.EncodeToString(key), "=")
}

// Encrypt encrypts a callback message the WeChat way and returns the base64
// text that goes into <Encrypt>: AES-256-CBC with the key from
// encodingAESKey and IV = key[:16] over random(16) | len(msg) (4 bytes, big
// endian) | msg | appID, PKCS#7-padded to 32 bytes.
func Encrypt(appID, encodingAESKey string, msg []byte) (string, error) {
	var random [16]byte
	rand.Read(random[:])
	return encryptWithRandom(random, appID, encodingAESKey, msg)
}

func encryptWithRandom(random [16]byte, appID, encodingAESKey string, msg []byte) (string, error) {
	key, err := AESKey(encodingAESKey)
	if err != nil {
		return "", err
	}
	contentLen := 20 + len(msg) + len(appID)
	pad := blockSize - contentLen%blockSize
	plain := make([]byte, 0, contentLen+pad)
	plain = append(plain, random[:]...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, appID...)
	for range pad {
		plain = append(plain, byte(pad))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("wxsim: aes: %w", err)
	}
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}

// Decrypt reverses Encrypt: it decodes and decrypts the <Encrypt> text,
// checks the padding and the embedded length and returns the message. It
// returns ErrBadAESKey for a malformed key, ErrBadCipher for a malformed
// ciphertext and ErrAppIDMismatch when the embedded app id is not appID.
func Decrypt(appID, encodingAESKey, encrypted string) ([]byte, error) {
	msg, gotAppID, err := decrypt(encodingAESKey, encrypted)
	if err != nil {
		return nil, err
	}
	if gotAppID != appID {
		return nil, ErrAppIDMismatch
	}
	return msg, nil
}

// decrypt returns the message and the app id embedded in it.
func decrypt(encodingAESKey, encrypted string) (msg []byte, appID string, err error) {
	key, err := AESKey(encodingAESKey)
	if err != nil {
		return nil, "", err
	}
	data, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return nil, "", fmt.Errorf("%w: base64: %v", ErrBadCipher, err)
	}
	if len(data) < blockSize || len(data)%aes.BlockSize != 0 {
		return nil, "", fmt.Errorf("%w: length %d", ErrBadCipher, len(data))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", fmt.Errorf("wxsim: aes: %w", err)
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, data)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > blockSize || pad > len(plain) {
		return nil, "", fmt.Errorf("%w: padding", ErrBadCipher)
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, "", fmt.Errorf("%w: padding", ErrBadCipher)
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, "", fmt.Errorf("%w: too short", ErrBadCipher)
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, "", fmt.Errorf("%w: message length %d", ErrBadCipher, n)
	}
	end := 20 + int(n)
	return plain[20:end:end], string(plain[end:]), nil
}
