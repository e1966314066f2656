package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"wanjia/config"
	"wanjia/internal/testutil"
)

// countingWriter counts writes as well as keeping the bytes.
type countingWriter struct {
	testutil.SyncBuffer
	mu     sync.Mutex
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.SyncBuffer.Write(p)
}

func (c *countingWriter) Writes() int { c.mu.Lock(); defer c.mu.Unlock(); return c.writes }

func TestLoggerBuffersInfoAndFlushesWarnings(t *testing.T) {
	cfg, err := config.Load(func(string) string { return "" }, "")
	if err != nil {
		t.Fatal(err)
	}
	w := &countingWriter{}
	log, flush := newLogger(cfg, w)
	for i := range 100 {
		log.Info("http", "route", "/api/x", "n", i)
	}
	if w.Writes() > 1 {
		t.Errorf("100 info lines took %d writes, want them buffered", w.Writes())
	}
	log.Warn("trouble", "url", "https://api.weixin.qq.com/cgi-bin/x?access_token=SECRET")
	got := w.String()
	if strings.Count(got, `"msg":"http"`) != 100 || !strings.Contains(got, `"msg":"trouble"`) {
		t.Fatalf("after a warning the log holds %d info lines, warning %v; want everything written at once",
			strings.Count(got, `"msg":"http"`), strings.Contains(got, "trouble"))
	}
	if strings.Contains(got, "SECRET") {
		t.Error("the buffered logger lost the scrubbing of access tokens")
	}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
			t.Fatalf("a line was cut: %q", line)
		}
	}

	// Info lines reach the writer by themselves, soon.
	log.With("request_id", "r1").Info("later")
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(w.String(), `"msg":"later"`); {
		if time.Now().After(deadline) {
			t.Fatal("a buffered info line was never written")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A line larger than the buffer is written whole; flush empties it.
	log.Info("big", "v", strings.Repeat("x", 40<<10))
	log.Info("tail")
	flush()
	if got := w.String(); !strings.Contains(got, `"msg":"big"`) || !strings.Contains(got, `"msg":"tail"`) {
		t.Error("flush left lines unwritten")
	}
}
