package api

import "testing"

func TestAcceptsGzip(t *testing.T) {
	for _, tt := range []struct {
		h    string
		want bool
	}{
		{"", false},
		{"gzip", true},
		{"gzip, deflate, br", true},
		{"deflate, GZIP;q=0.5", true},
		{"br", false},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"*", true},
		{"*;q=0", false},
		{"*;q=0, gzip", true},
		{"gzip;q=0, *", false},
		{"gzip;q=abc", false},
		{"gzip;q=2", false},
		{"gzipx", false},
		{" , ,gzip", true},
	} {
		if got := acceptsGzip(tt.h); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0", "*;q=0.5, br", "gzip;;q=1;q=0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		_ = acceptsGzip(h) // never panics, on any input
	})
}
