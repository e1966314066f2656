package wxsim_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/silenceper/wechat/v2/util"

	"wanjia/wechat/wxsim"
)

// testAESKey is a valid EncodingAESKey (from WeChat's documentation).
const testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

func TestSignature(t *testing.T) {
	t.Parallel()
	tests := []struct {
		parts []string
		want  string
	}{
		// sha1("1409659813" + "263014780" + "token"), sorted.
		{[]string{"token", "1409659813", "263014780"}, util.Signature("token", "1409659813", "263014780")},
		{[]string{"b", "a", "c"}, "a9993e364706816aba3e25717850c26c9cd0d89d"}, // sha1("abc")
		{nil, "da39a3ee5e6b4b0d3255bfef95601890afd80709"},                     // sha1("")
	}
	for _, tt := range tests {
		in := slices.Clone(tt.parts)
		if got := wxsim.Signature(in...); got != tt.want {
			t.Errorf("Signature(%q) = %s, want %s", tt.parts, got, tt.want)
		}
		if !slices.Equal(in, tt.parts) {
			t.Errorf("Signature(%q) reordered its argument to %q", tt.parts, in)
		}
	}
}

func TestSignatureAgreesWithSilenceper(t *testing.T) {
	t.Parallel()
	for _, parts := range [][]string{
		{"tok", "1700000000", "12345", "ENCRYPTED=="},
		{"中文", "ä", "", "z"},
		{"same", "same"},
	} {
		if got, want := wxsim.Signature(parts...), util.Signature(slices.Clone(parts)...); got != want {
			t.Errorf("Signature(%q) = %s, want %s (silenceper)", parts, got, want)
		}
	}
}

func TestAESKey(t *testing.T) {
	t.Parallel()
	key := wxsim.NewAESKey()
	if len(key) != 43 {
		t.Fatalf("len(NewAESKey()) = %d, want 43", len(key))
	}
	tests := []struct {
		key     string
		wantErr bool
	}{
		{testAESKey, false},
		{key, false},
		{testAESKey[:42], true},
		{testAESKey + "A", true},
		{strings.Repeat("!", 43), true},
	}
	for _, tt := range tests {
		got, err := wxsim.AESKey(tt.key)
		if (err != nil) != tt.wantErr {
			t.Errorf("AESKey(%q) error = %v, want error %v", tt.key, err, tt.wantErr)
		}
		if err == nil && len(got) != 32 {
			t.Errorf("AESKey(%q) = %d bytes, want 32", tt.key, len(got))
		}
	}
}

// TestCryptoAgreesWithSilenceper proves the sender and silenceper's server
// speak the same encryption, both ways, for lengths around the 32-byte
// padding boundary.
func TestCryptoAgreesWithSilenceper(t *testing.T) {
	t.Parallel()
	const appID = "wx1234567890abcdef"
	key, err := wxsim.AESKey(testAESKey)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 70; n++ {
		msg := bytes.Repeat([]byte("消"), n/3)
		msg = append(msg, bytes.Repeat([]byte("x"), n%3)...)
		random := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(n)}

		ours, err := wxsim.EncryptWithRandom(random, appID, testAESKey, msg)
		if err != nil {
			t.Fatalf("EncryptWithRandom: %v", err)
		}
		theirs := base64.StdEncoding.EncodeToString(util.AESEncryptMsg(random[:], msg, appID, key))
		if ours != theirs {
			t.Fatalf("len %d: EncryptWithRandom = %s, want %s (silenceper)", len(msg), ours, theirs)
		}

		enc, err := wxsim.Encrypt(appID, testAESKey, msg)
		if err != nil {
			t.Fatalf("Encrypt: %v", err)
		}
		_, got, err := util.DecryptMsg(appID, enc, testAESKey)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("util.DecryptMsg(Encrypt(%q)) = %q, %v", msg, got, err)
		}

		enc2, err := util.EncryptMsg(random[:], msg, appID, testAESKey)
		if err != nil {
			t.Fatal(err)
		}
		got, err = wxsim.Decrypt(appID, testAESKey, string(enc2))
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("Decrypt(util.EncryptMsg(%q)) = %q, %v", msg, got, err)
		}
	}
}

func TestDecryptErrors(t *testing.T) {
	t.Parallel()
	const appID = "wxapp"
	valid, err := wxsim.Encrypt(appID, testAESKey, []byte("<xml/>"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(valid)
	if err != nil {
		t.Fatal(err)
	}
	key, err := wxsim.AESKey(testAESKey)
	if err != nil {
		t.Fatal(err)
	}
	// A ciphertext whose plaintext ends in a 0 padding byte.
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 32)
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(zeros, zeros)
	badPad := base64.StdEncoding.EncodeToString(zeros)
	tests := []struct {
		name      string
		appID     string
		key       string
		encrypted string
		want      error
	}{
		{"ok", appID, testAESKey, valid, nil},
		{"other app", "wxother", testAESKey, valid, wxsim.ErrAppIDMismatch},
		{"bad key", appID, "short", valid, wxsim.ErrBadAESKey},
		{"other key", appID, wxsim.NewAESKey(), valid, wxsim.ErrBadCipher},
		{"not base64", appID, testAESKey, "%%%", wxsim.ErrBadCipher},
		{"empty", appID, testAESKey, "", wxsim.ErrBadCipher},
		{"bad padding", appID, testAESKey, badPad, wxsim.ErrBadCipher},
		{"truncated", appID, testAESKey, base64.StdEncoding.EncodeToString(raw[:len(raw)-16]), wxsim.ErrBadCipher},
		{"odd length", appID, testAESKey, base64.StdEncoding.EncodeToString(raw[:len(raw)-3]), wxsim.ErrBadCipher},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := wxsim.Decrypt(tt.appID, tt.key, tt.encrypted)
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Errorf("Decrypt() error = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzDecrypt feeds arbitrary ciphertexts to Decrypt: it must never panic,
// and whatever it accepts must survive a round trip.
func FuzzDecrypt(f *testing.F) {
	for _, msg := range []string{"", "<xml/>", strings.Repeat("a", 64)} {
		enc, err := wxsim.Encrypt("wxapp", testAESKey, []byte(msg))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Add("")
	f.Add("AAAA")
	f.Add(strings.Repeat("A", 44))
	f.Fuzz(func(t *testing.T, encrypted string) {
		msg, err := wxsim.Decrypt("wxapp", testAESKey, encrypted)
		if err != nil {
			return
		}
		again, err := wxsim.Encrypt("wxapp", testAESKey, msg)
		if err != nil {
			t.Fatalf("Encrypt(%q): %v", msg, err)
		}
		back, err := wxsim.Decrypt("wxapp", testAESKey, again)
		if err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("round trip of %q = %q, %v", msg, back, err)
		}
	})
}
