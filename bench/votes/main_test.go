package main

import (
	"io"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
	}{
		{args: nil, wantErr: true},
		{args: []string{"setup", "-base", "http://x", "-dir", "d", "-staff", "a:b"}},
		{args: []string{"setup", "-base", "http://x", "-dir", "d"}, wantErr: true},
		{args: []string{"setup", "-base", "http://x", "-dir", "d", "-staff", "a:b", "-nominations", "10"}, wantErr: true},
		{args: []string{"login", "-base", "http://x", "-dir", "d"}},
		{args: []string{"acked", "-base", "http://x", "-dir", "d", "-for", "1s"}},
		{args: []string{"verify", "-base", "http://x", "-dir", "d", "-staff", "a:b"}, wantErr: true},
		{args: []string{"verify", "-base", "http://x", "-dir", "d", "-staff", "a:b", "-dsn", "f.db"}},
		{args: []string{"bogus", "-base", "http://x", "-dir", "d"}, wantErr: true},
	}
	for _, tt := range tests {
		if _, _, err := parse(tt.args, io.Discard); (err != nil) != tt.wantErr {
			t.Errorf("parse(%q) = %v, want error %v", tt.args, err, tt.wantErr)
		}
	}
}

func TestDayOf(t *testing.T) {
	tests := []struct {
		at   time.Time
		want int
	}{
		{time.Date(2026, 5, 13, 15, 59, 59, 0, time.UTC), 20260513},
		{time.Date(2026, 5, 13, 16, 0, 0, 0, time.UTC), 20260514},
	}
	for _, tt := range tests {
		if got := dayOf(tt.at); got != tt.want {
			t.Errorf("dayOf(%v) = %d, want %d", tt.at, got, tt.want)
		}
	}
}
