package store

import (
	"errors"
	"testing"

	"wanjia/model"
)

// FuzzCourseCursor: the course listing's cursor (?cursor=, outside input)
// is either rejected as ErrInvalid or a (sort, id) that encodes back to a
// cursor naming the same place.
func FuzzCourseCursor(f *testing.F) {
	for _, s := range []string{courseCursor(3, 17), courseCursor(-5, 1), "", "bm9wZQ", "MTox", "LTE6MA", "%%%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sort, id, err := parseCourseCursor(s)
		if err != nil {
			if !errors.Is(err, model.ErrInvalid) {
				t.Fatalf("parseCourseCursor(%q) = %v, want ErrInvalid", s, err)
			}
			return
		}
		if id <= 0 {
			t.Fatalf("parseCourseCursor(%q) = id %d", s, id)
		}
		s2, id2, err := parseCourseCursor(courseCursor(sort, id))
		if err != nil || s2 != sort || id2 != id {
			t.Fatalf("round trip of (%d, %d) = (%d, %d), %v", sort, id, s2, id2, err)
		}
	})
}
