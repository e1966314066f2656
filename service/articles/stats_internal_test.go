package articles

import (
	"strconv"
	"testing"
)

func TestSplitMsgID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		base string
		idx  int
		ok   bool
	}{
		{"2247483004_1", "2247483004", 1, true},
		{"10000050_8", "10000050", 8, true},
		{"10000050_9", "", 0, false},
		{"10000050", "", 0, false},
		{"_1", "", 0, false},
		{"1_x", "", 0, false},
	} {
		base, idx, ok := splitMsgID(tt.in)
		if base != tt.base || idx != tt.idx || ok != tt.ok {
			t.Errorf("splitMsgID(%q) = %q, %d, %v, want %q, %d, %v", tt.in, base, idx, ok, tt.base, tt.idx, tt.ok)
		}
	}
}

// FuzzSplitMsgID: datacube's msgid comes from WeChat; a split that succeeds
// puts the pieces back together.
func FuzzSplitMsgID(f *testing.F) {
	for _, s := range []string{"2247483004_1", "", "_", "1_2_3", "1_-1", "1_+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		base, idx, ok := splitMsgID(in)
		if !ok {
			return
		}
		if idx < 1 || idx > 8 || base == "" {
			t.Fatalf("splitMsgID(%q) = %q, %d", in, base, idx)
		}
		if n, _ := strconv.Atoi(in[len(base)+1:]); n != idx {
			t.Fatalf("splitMsgID(%q) = %q, %d: index mismatch", in, base, idx)
		}
	})
}
