package protect_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"wanjia/service/protect"
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i*7 + 250) // includes bytes that encode to + / - _
	}
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"std padded", base64.StdEncoding.EncodeToString(key), false},
		{"std raw", base64.RawStdEncoding.EncodeToString(key), false},
		{"url padded", base64.URLEncoding.EncodeToString(key), false},
		{"url raw", base64.RawURLEncoding.EncodeToString(key), false},
		{"trailing newline", base64.StdEncoding.EncodeToString(key) + "\n", false},
		{"surrounding spaces", "  " + base64.StdEncoding.EncodeToString(key) + " \r\n", false},
		{"empty", "", true},
		{"blank", " \n", true},
		{"31 bytes", base64.StdEncoding.EncodeToString(key[:31]), true},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(key, 1)), true},
		{"not base64", "this is not a key at all, sorry!!!!!!!!!!!!", true},
		{"hex", strings.Repeat("ab", 32), true},
		{"mixed alphabets", "+-" + base64.RawStdEncoding.EncodeToString(key)[2:], true},
		{"inner padding", base64.StdEncoding.EncodeToString(key[:16]) + base64.StdEncoding.EncodeToString(key[16:]), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := protect.ParseKey(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseKey(%q) = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, key) {
				t.Errorf("ParseKey(%q) = %x, want %x", tt.in, got, key)
			}
			if err != nil && len(tt.in) > 8 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)[:8]) {
				t.Errorf("ParseKey() error %q echoes the input", err)
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	a, err := protect.GenerateKey()
	if err != nil {
		t.Fatalf("GenerateKey() = %v", err)
	}
	b, err := protect.GenerateKey()
	if err != nil {
		t.Fatalf("GenerateKey() = %v", err)
	}
	if a == b {
		t.Errorf("GenerateKey() twice = %q, want different keys", a)
	}
	key, err := protect.ParseKey(a)
	if err != nil {
		t.Fatalf("ParseKey(GenerateKey()) = %v", err)
	}
	if _, err := protect.NewKeyring(key); err != nil {
		t.Errorf("NewKeyring(GenerateKey()) = %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secrets", "secret.key")
	first, created, err := protect.LoadOrCreateKey(path)
	if err != nil || !created || len(first) != protect.KeySize {
		t.Fatalf("LoadOrCreateKey() = %d bytes, %v, %v, want 32 bytes, true, nil", len(first), created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %v, want 0600", perm)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("key dir mode = %v, want 0700", perm)
	}
	second, created, err := protect.LoadOrCreateKey(path)
	if err != nil || created || !bytes.Equal(first, second) {
		t.Fatalf("LoadOrCreateKey() again = %v, %v, want the same key, false, nil", created, err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("key dir holds %d entries, want only the key file", len(entries))
	}
}

func TestLoadOrCreateKeyRace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], _, errs[i] = protect.LoadOrCreateKey(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadOrCreateKey() #%d = %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("LoadOrCreateKey() #%d returned a different key", i)
		}
	}
}

func TestLoadOrCreateKeyBadFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(path, []byte("too-short-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, created, err := protect.LoadOrCreateKey(path)
	if err == nil || created {
		t.Fatalf("LoadOrCreateKey(bad file) = %v, %v, want error, false", created, err)
	}
	if strings.Contains(err.Error(), "too-short") {
		t.Errorf("LoadOrCreateKey() error %q echoes the file content", err)
	}
	// A bad key file is never overwritten.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "too-short-secret-value\n" {
		t.Errorf("bad key file was rewritten to %q", b)
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Add("")
	f.Add("====")
	f.Add("-_+/")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := protect.ParseKey(s)
		if err == nil && len(key) != protect.KeySize {
			t.Fatalf("ParseKey(%q) = %d bytes, want %d", s, len(key), protect.KeySize)
		}
	})
}
