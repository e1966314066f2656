package upload_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"wanjia/service/upload"
)

const validKey = "uploads/2026/11/0123456789abcdef0123456789abcdef.jpg"

func TestNewKey(t *testing.T) {
	t.Parallel()
	id := bytes.Repeat([]byte{0xab}, 16)
	tests := []struct {
		name string
		now  time.Time
		ext  string
		want string
	}{
		{"november", time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC), "jpg", "uploads/2026/11/" + strings.Repeat("ab", 16) + ".jpg"},
		{"month turns in Beijing first", time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC), "png", "uploads/2026/12/" + strings.Repeat("ab", 16) + ".png"},
		{"new year in Beijing", time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC), "webp", "uploads/2027/01/" + strings.Repeat("ab", 16) + ".webp"},
	}
	for _, tt := range tests {
		got, err := upload.NewKey(tt.now, bytes.NewReader(id), tt.ext)
		if err != nil {
			t.Fatalf("%s: NewKey() = %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: NewKey(%v, %q) = %q, want %q", tt.name, tt.now, tt.ext, got, tt.want)
		}
	}
	if _, err := upload.NewKey(time.Now(), bytes.NewReader(id[:8]), "jpg"); err == nil {
		t.Error("NewKey(short random source) = nil error, want error")
	}
	if _, err := upload.NewKey(time.Now(), bytes.NewReader(id), "gif"); err == nil {
		t.Error(`NewKey(ext "gif") = nil error, want error`)
	}
}

func TestNewKeyRandom(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		k, err := upload.NewKey(time.Now(), rand.Reader, "jpg")
		if err != nil {
			t.Fatal(err)
		}
		if seen[k] {
			t.Fatalf("NewKey() repeated %q", k)
		}
		seen[k] = true
	}
}

// badKeys are keys every Storage must refuse: traversal attempts and
// near misses of the key pattern.
var badKeys = []string{
	"",
	"../etc/passwd",
	"uploads/../../etc/passwd",
	"uploads/2026/11/../../../../etc/passwd",
	"uploads/2026/11/../11/0123456789abcdef0123456789abcdef.jpg",
	"/uploads/2026/11/0123456789abcdef0123456789abcdef.jpg",
	"./uploads/2026/11/0123456789abcdef0123456789abcdef.jpg",
	"uploads//2026/11/0123456789abcdef0123456789abcdef.jpg",
	`uploads\2026\11\0123456789abcdef0123456789abcdef.jpg`,
	"uploads/2026/11/0123456789abcdef0123456789abcdef.jpg/..",
	"uploads/2026/11/0123456789abcdef0123456789abcdef.jpg\x00.png",
	"uploads/2026/11/0123456789abcdef0123456789abcdef.jpg\n",
	"uploads/2026/11/0123456789abcdef0123456789abcdef.jpg ",
	"uploads/2026/11/%2e%2e/0123456789abcdef0123456789abcdef.jpg",
	"uploads/2026/13/0123456789abcdef0123456789abcdef.jpg",
	"uploads/2026/00/0123456789abcdef0123456789abcdef.jpg",
	"uploads/26/11/0123456789abcdef0123456789abcdef.jpg",
	"uploads/2026/11/0123456789ABCDEF0123456789ABCDEF.jpg",
	"uploads/2026/11/0123456789abcdef0123456789abcde.jpg",
	"uploads/2026/11/0123456789abcdef0123456789abcdef0.jpg",
	"uploads/2026/11/0123456789abcdef0123456789abcdef.JPG",
	"uploads/2026/11/0123456789abcdef0123456789abcdef.jpeg",
	"uploads/2026/11/0123456789abcdef0123456789abcdef.gif",
	"uploads/2026/11/0123456789abcdef0123456789abcdef.html",
	"uploads/2026/11/0123456789abcdef0123456789abcdef",
	"uploads/2026/11/.tmp-0123456789abcdef",
	"data/wanjia.db",
	"secret.key",
}

func TestValidKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{validKey, "uploads/2027/01/ffffffffffffffffffffffffffffffff.png", "uploads/2026/12/00000000000000000000000000000000.webp"} {
		if !upload.ValidKey(k) {
			t.Errorf("ValidKey(%q) = false, want true", k)
		}
	}
	for _, k := range badKeys {
		if upload.ValidKey(k) {
			t.Errorf("ValidKey(%q) = true, want false", k)
		}
	}
}

func TestKeyContentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key    string
		want   string
		wantOK bool
	}{
		{validKey, "image/jpeg", true},
		{strings.TrimSuffix(validKey, "jpg") + "png", "image/png", true},
		{strings.TrimSuffix(validKey, "jpg") + "webp", "image/webp", true},
		{"../x.jpg", "", false},
	}
	for _, tt := range tests {
		got, ok := upload.KeyContentType(tt.key)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("KeyContentType(%q) = %q, %v, want %q, %v", tt.key, got, ok, tt.want, tt.wantOK)
		}
	}
}

func FuzzValidKey(f *testing.F) {
	f.Add(validKey)
	for _, k := range badKeys {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !upload.ValidKey(key) {
			return
		}
		if strings.Contains(key, "..") || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\\\x00\n") {
			t.Fatalf("ValidKey(%q) = true for a traversal", key)
		}
		if _, ok := upload.KeyContentType(key); !ok {
			t.Fatalf("KeyContentType(%q) not ok for a valid key", key)
		}
	})
}
