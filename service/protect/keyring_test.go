package protect_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wanjia/service/protect"
)

// testKey returns a deterministic 32-byte key filled with b.
func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, protect.KeySize) }

func mustKeyring(tb testing.TB, current []byte, old ...[]byte) *protect.Keyring {
	tb.Helper()
	k, err := protect.NewKeyring(current, old...)
	if err != nil {
		tb.Fatalf("NewKeyring() = %v", err)
	}
	return k
}

func mustSeal(tb testing.TB, k *protect.Keyring, plaintext, aad string) string {
	tb.Helper()
	s, err := k.Seal(plaintext, aad)
	if err != nil {
		tb.Fatalf("Seal(%q) = %v", aad, err)
	}
	return s
}

func TestNewKeyring(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		current []byte
		old     [][]byte
		wantErr bool
	}{
		{"current only", testKey(1), nil, false},
		{"with old keys", testKey(1), [][]byte{testKey(2), testKey(3)}, false},
		{"nil current", nil, nil, true},
		{"short current", testKey(1)[:31], nil, true},
		{"long current", append(testKey(1), 0), nil, true},
		{"short old", testKey(1), [][]byte{testKey(2)[:16]}, true},
		{"duplicate key", testKey(1), [][]byte{testKey(1)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := protect.NewKeyring(tt.current, tt.old...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewKeyring() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewKeyringErrorHidesKey(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcde") // 31 bytes, printable
	_, err := protect.NewKeyring(key)
	if err == nil {
		t.Fatal("NewKeyring(31 bytes) = nil, want error")
	}
	if strings.Contains(err.Error(), "0123456789") {
		t.Errorf("NewKeyring() error %q contains the key", err)
	}
}

func TestKeyID(t *testing.T) {
	t.Parallel()
	k1 := mustKeyring(t, testKey(1))
	k2 := mustKeyring(t, testKey(2), testKey(1))
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(k1.KeyID()) {
		t.Errorf("KeyID() = %q, want 8 hex characters", k1.KeyID())
	}
	if k1.KeyID() == k2.KeyID() {
		t.Errorf("KeyID() of two keys = %q for both, want different", k1.KeyID())
	}
	if again := mustKeyring(t, testKey(1)).KeyID(); again != k1.KeyID() {
		t.Errorf("KeyID() = %q, then %q for the same key, want stable", k1.KeyID(), again)
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, testKey(7))
	tests := []struct {
		name, plaintext, aad string
	}{
		{"phone", "13812345678", "cases.phone:123"},
		{"chinese", "北京市朝阳区建国路88号 3单元", "cases.address:9"},
		{"empty aad", "x", ""},
		{"binary-ish", "\x00\xff\n", "t.c:1"},
		{"long", strings.Repeat("家", 10000), "cases.description:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sealed := mustSeal(t, k, tt.plaintext, tt.aad)
			if !strings.HasPrefix(sealed, "v1."+k.KeyID()+".") {
				t.Errorf("Seal() = %q, want prefix v1.%s.", sealed, k.KeyID())
			}
			if len(tt.plaintext) >= 8 && strings.Contains(sealed, tt.plaintext) {
				t.Errorf("Seal() = %q contains the plaintext", sealed)
			}
			got, err := k.Open(sealed, tt.aad)
			if err != nil {
				t.Fatalf("Open() = %v", err)
			}
			if got != tt.plaintext {
				t.Errorf("Open(Seal(%q)) = %q, want %q", tt.plaintext, got, tt.plaintext)
			}
		})
	}
}

func TestSealEmpty(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, testKey(7))
	if got := mustSeal(t, k, "", "cases.phone:1"); got != "" {
		t.Errorf(`Seal("") = %q, want ""`, got)
	}
	got, err := k.Open("", "cases.phone:1")
	if err != nil || got != "" {
		t.Errorf(`Open("") = %q, %v, want "", nil`, got, err)
	}
}

func TestSealFreshNonces(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, testKey(7))
	a := mustSeal(t, k, "13812345678", "cases.phone:1")
	b := mustSeal(t, k, "13812345678", "cases.phone:1")
	if a == b {
		t.Errorf("Seal() twice = %q both times, want different nonces", a)
	}
}

func TestSealInjectedRand(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, testKey(7))
	fixed := func() *protect.Keyring { return k.WithRand(bytes.NewReader(make([]byte, 12))) }
	a := mustSeal(t, fixed(), "hello", "t.c:1")
	b := mustSeal(t, fixed(), "hello", "t.c:1")
	if a != b {
		t.Errorf("Seal() with the same nonce source = %q and %q, want equal", a, b)
	}
	// The original keeps crypto/rand.
	if c := mustSeal(t, k, "hello", "t.c:1"); c == a {
		t.Errorf("Seal() on the original keyring used the injected nonce source")
	}
	// A failing source is an error, not a zero nonce.
	if _, err := k.WithRand(bytes.NewReader(nil)).Seal("hello", "t.c:1"); err == nil {
		t.Error("Seal() with an empty nonce source = nil error, want error")
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, testKey(7))
	other := mustKeyring(t, testKey(8))
	const pt, aad = "13812345678", "cases.phone:123"
	sealed := mustSeal(t, k, pt, aad)
	parts := strings.SplitN(sealed, ".", 3)
	body, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := bytes.Clone(body)
		b[i] ^= 1
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(b)
	}
	tests := []struct {
		name, sealed, aad string
	}{
		{"other row", sealed, "cases.phone:124"},
		{"other column", sealed, "cases.name:123"},
		{"flipped nonce", flip(0), aad},
		{"flipped ciphertext", flip(13), aad},
		{"flipped tag", flip(len(body) - 1), aad},
		{"truncated", sealed[:len(sealed)-4], aad},
		{"short body", "v1." + parts[1] + ".AAAA", aad},
		{"unknown key", mustSeal(t, other, pt, aad), aad},
		{"unknown kid", "v1.deadbeef." + parts[2], aad},
		{"bad version", "v2." + parts[1] + "." + parts[2], aad},
		{"no dots", "garbage", aad},
		{"one dot", "v1.abc", aad},
		{"bad base64", "v1." + parts[1] + ".!!!!", aad},
		{"padded base64", sealed + "==", aad},
		{"plaintext", pt, aad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := k.Open(tt.sealed, tt.aad)
			if !errors.Is(err, protect.ErrDecrypt) {
				t.Fatalf("Open(%q) = %q, %v, want ErrDecrypt", tt.sealed, got, err)
			}
			if got != "" {
				t.Errorf("Open(%q) returned %q alongside an error", tt.sealed, got)
			}
			if strings.Contains(err.Error(), pt) {
				t.Errorf("Open() error %q contains the plaintext", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(1), testKey(2)
	before := mustKeyring(t, oldKey)
	after := mustKeyring(t, newKey, oldKey)
	const pt, aad = "张三", "cases.name:5"

	oldSealed := mustSeal(t, before, pt, aad)
	if after.NeedsRotation("") {
		t.Error(`NeedsRotation("") = true, want false`)
	}
	if !after.NeedsRotation(oldSealed) {
		t.Errorf("NeedsRotation(old) = false, want true")
	}
	got, err := after.Open(oldSealed, aad)
	if err != nil || got != pt {
		t.Fatalf("Open(old) after rotation = %q, %v, want %q", got, err, pt)
	}
	resealed := mustSeal(t, after, got, aad)
	if after.NeedsRotation(resealed) {
		t.Errorf("NeedsRotation(resealed) = true, want false")
	}
	if before.NeedsRotation(oldSealed) {
		t.Errorf("NeedsRotation(current) = true, want false")
	}
	if after.NeedsRotation("v1.deadbeef.AAAA") || after.NeedsRotation("junk") {
		t.Errorf("NeedsRotation(unknown) = true, want false")
	}
	// The old keyring cannot open what the new key sealed.
	if _, err := before.Open(resealed, aad); !errors.Is(err, protect.ErrDecrypt) {
		t.Errorf("Open(new) with the old keyring = %v, want ErrDecrypt", err)
	}
}

func TestBlindIndex(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, testKey(3))
	idx := k.BlindIndex("13812345678", "cases.phone")
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(idx) {
		t.Errorf("BlindIndex() = %q, want 64 hex characters", idx)
	}
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{"same value and purpose", mustKeyring(t, testKey(3)).BlindIndex("13812345678", "cases.phone"), true},
		{"other value", k.BlindIndex("13812345679", "cases.phone"), false},
		{"other purpose", k.BlindIndex("13812345678", "users.phone"), false},
		{"other key", mustKeyring(t, testKey(4)).BlindIndex("13812345678", "cases.phone"), false},
		{"purpose/value boundary", k.BlindIndex("3812345678", "cases.phone1"), false},
	}
	for _, tt := range tests {
		if (tt.got == idx) != tt.same {
			t.Errorf("%s: BlindIndex() = %q vs %q, want same %v", tt.name, tt.got, idx, tt.same)
		}
	}
	if strings.Contains(idx, "13812345678") {
		t.Errorf("BlindIndex() = %q contains the value", idx)
	}
}

func TestBlindIndexes(t *testing.T) {
	t.Parallel()
	oldK := mustKeyring(t, testKey(1))
	newK := mustKeyring(t, testKey(2), testKey(1))
	got := newK.BlindIndexes("v", "p")
	want := []string{newK.BlindIndex("v", "p"), oldK.BlindIndex("v", "p")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BlindIndexes() mismatch (-want +got):\n%s", diff)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, testKey(9))
	done := make(chan error)
	for i := range 8 {
		go func() {
			aad := "t.c:" + string(rune('0'+i))
			s, err := k.Seal("value", aad)
			if err == nil {
				_, err = k.Open(s, aad)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Errorf("concurrent Seal/Open = %v", err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	k := mustKeyring(f, testKey(5), testKey(6))
	f.Add(mustSeal(f, k, "13812345678", "a"), "a")
	f.Add("v1.00000000.AAAA", "")
	f.Add("", "")
	f.Add("v1..", "x")
	f.Fuzz(func(t *testing.T, sealed, aad string) {
		got, err := k.Open(sealed, aad)
		if err != nil && got != "" {
			t.Fatalf("Open(%q) = %q, %v: value alongside an error", sealed, got, err)
		}
		if err != nil && !errors.Is(err, protect.ErrDecrypt) {
			t.Fatalf("Open(%q) = %v, want ErrDecrypt", sealed, err)
		}
		k.NeedsRotation(sealed)
	})
}

func BenchmarkSeal(b *testing.B) {
	k := mustKeyring(b, testKey(1))
	for b.Loop() {
		if _, err := k.Seal("13812345678", "cases.phone:123"); err != nil {
			b.Fatal(err)
		}
	}
}
