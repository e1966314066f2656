package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestFanoutSmall runs a small push through the whole pipeline, with the
// worker stopped halfway: every recipient once (timing is for the real
// run: the race detector and a 1 s idle poll dominate a 1 s push).
func TestFanoutSmall(t *testing.T) {
	var out, errs bytes.Buffer
	// The timing target is the bench's business (bench/README.md), not a
	// test's: the tolerance here is wide enough for any busy machine, and
	// the test checks what must hold whatever the speed — nobody twice,
	// nobody lost across the worker's stop.
	err := run(context.Background(), []string{"-n", "300", "-rate", "300", "-burst", "30", "-tolerance", "1000",
		"-dir", t.TempDir(), "-timeout", "1m"}, &out, &errs)
	if err != nil {
		t.Fatalf("run() = %v\n%s%s", err, out.String(), errs.String())
	}
	for _, want := range []string{"received 300 messages, 300 recipients, 0 twice, 0 lost", "worker stopped after", "PASS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFanoutFlags(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"-n", "20000"}, {"-rate", "0"}, {"-kill-at", "1"}, {"extra"}, {"-burst", "0"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) = nil error", args)
		}
	}
}
