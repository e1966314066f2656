//go:build unix

package store_test

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is this process's user+system CPU time so far: benchmarks
// report it per operation, which a busy machine skews less than wall time.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
