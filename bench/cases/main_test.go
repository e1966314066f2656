package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
	}{
		{args: nil},
		{args: []string{"-driver", "mysql", "-n", "10"}},
		{args: []string{"-driver", "postgres"}},
		{args: []string{"-driver", "oracle"}, wantErr: true},
		{args: []string{"-n", "1"}, wantErr: true},
		{args: []string{"-workers", "0"}, wantErr: true},
	}
	for _, tt := range tests {
		if _, err := parse(tt.args, io.Discard); (err != nil) != tt.wantErr {
			t.Errorf("parse(%q) = %v, want error %v", tt.args, err, tt.wantErr)
		}
	}
}

// TestRunSmall runs the whole bench on a small SQLite database: every
// phase works and every chain verifies.
func TestRunSmall(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-n", "40", "-hot", "20", "-reads", "20", "-workers", "4"}, &out); err != nil {
		t.Fatalf("run() = %v\n%s", err, out.String())
	}
	for _, want := range []string{"intake", "append, one hot case", "sla sweep (breaches)", "every chain verifies: 40 cases"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
