package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBuffer collects whole log lines and writes them out in chunks: when
// logBufferSize bytes wait, logFlushEvery after the first line waiting, at
// once for a record at warn or above (flushHandler), and at Flush. A line
// per write(2) cost a system call per request in the access log; this is
// the shape of zap's BufferedWriteSyncer, which slog lacks. A crash loses
// at most logFlushEvery of info lines. Write errors are dropped: the log's
// own sink has nowhere to report them.
type logBuffer struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	armed bool
	timer *time.Timer
}

const (
	logBufferSize = 32 << 10
	logFlushEvery = 50 * time.Millisecond
)

func newLogBuffer(w io.Writer) *logBuffer {
	b := &logBuffer{w: w, buf: make([]byte, 0, logBufferSize)}
	b.timer = time.AfterFunc(time.Hour, b.Flush)
	b.timer.Stop()
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > logBufferSize {
		b.flushLocked()
	}
	if len(p) >= logBufferSize {
		_, _ = b.w.Write(p)
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		b.armed = true
		b.timer.Reset(logFlushEvery)
	}
	return len(p), nil
}

// Flush writes out what waits.
func (b *logBuffer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *logBuffer) flushLocked() {
	if len(b.buf) > 0 {
		_, _ = b.w.Write(b.buf)
		b.buf = b.buf[:0]
	}
	if b.armed {
		b.armed = false
		b.timer.Stop()
	}
}

// flushHandler flushes the buffer after each record at warn or above, so
// problems reach the log at once.
type flushHandler struct {
	slog.Handler
	b *logBuffer
}

func (h flushHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.b.Flush()
	}
	return err
}

func (h flushHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return flushHandler{Handler: h.Handler.WithAttrs(as), b: h.b}
}

func (h flushHandler) WithGroup(name string) slog.Handler {
	return flushHandler{Handler: h.Handler.WithGroup(name), b: h.b}
}
