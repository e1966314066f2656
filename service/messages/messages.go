// Package messages keeps the WeChat message log: every callback the
// gateway receives (messages and events), written in batches in the
// background so that answering WeChat never waits for the database, read
// by staff as their inbox, and swept by a daily retention job.
package messages

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"wanjia/model"
)

// Store is what the service needs from the database (store.Messages
// satisfies it).
type Store interface {
	AppendMessages(ctx context.Context, es []model.MessageLogEntry) error
	ListMessages(ctx context.Context, f model.MessageLogFilter, p model.Page) ([]model.MessageLogEntry, string, error)
	DeleteMessagesBefore(ctx context.Context, t time.Time) (int64, error)
}

// Options configure the service; zero values take the defaults.
type Options struct {
	Logger    *slog.Logger
	Retention time.Duration    // how long entries are kept (config wechat.message_retention; default 4320h = 180 days)
	BatchSize int              // most entries per INSERT (default 200)
	QueueSize int              // entries waiting for the writer before Record drops (default 10,000)
	Linger    time.Duration    // how long the writer waits to fill a batch (default 10 ms)
	Now       func() time.Time // default time.Now
}

// DefaultRetention is 180 days.
const DefaultRetention = 4320 * time.Hour

// Service records and lists the message log. It is safe for concurrent
// use. New starts one writer goroutine; Close stops it after writing what
// was recorded.
type Service struct {
	st  Store
	log *slog.Logger
	o   Options

	queue   chan model.MessageLogEntry
	flushes chan chan struct{}
	stop    chan struct{}
	done    chan struct{}

	mu        sync.Mutex
	closed    bool
	dropped   int64
	lastDrop  time.Time
	closeOnce sync.Once
}

// New returns the service on st and starts its writer.
func New(st Store, o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 200
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10_000
	}
	if o.Linger <= 0 {
		o.Linger = 10 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{
		st: st, log: o.Logger, o: o,
		queue: make(chan model.MessageLogEntry, o.QueueSize), flushes: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go s.writer()
	return s
}

// Entry is the log entry of a callback received at at: the text of text
// and voice messages, a short description of other messages, the template
// statuses of subscribe-message events and the status of result events.
func Entry(m model.InboundMessage, crisis bool, at time.Time) model.MessageLogEntry {
	return model.MessageLogEntry{
		App: m.App, OpenID: m.FromUser, MsgType: m.MsgType, Event: m.Event, EventKey: m.EventKey,
		Content: summary(m), DedupeKey: m.DedupeKey(), Crisis: crisis, ReceivedAt: at, CreateTime: m.CreateTime,
	}
}

func summary(m model.InboundMessage) string {
	switch m.MsgType {
	case "text", "voice":
		return m.Content
	case "image":
		return m.PicURL
	case "link", "miniprogrampage":
		return strings.TrimSpace(m.Title + " " + m.URL)
	case "location":
		return strings.TrimSpace(m.Label + " " + strconv.FormatFloat(m.Latitude, 'f', -1, 64) + "," +
			strconv.FormatFloat(m.Longitude, 'f', -1, 64))
	case "event":
		if len(m.SubscribeEvents) > 0 {
			parts := make([]string, len(m.SubscribeEvents))
			for i, e := range m.SubscribeEvents {
				parts[i] = e.TemplateID + ":" + e.Status
			}
			return strings.Join(parts, " ")
		}
		if m.Suggest != "" {
			return m.Suggest
		}
		return m.Status
	}
	return m.Content
}

// Record queues the callback m for the log (crisis: it matched a crisis
// word). It never blocks: when the writer is far behind (the database is
// down) the entry is dropped and counted in the logs; after Close it is
// dropped.
func (s *Service) Record(ctx context.Context, m model.InboundMessage, crisis bool) {
	e := Entry(m, crisis, s.o.Now())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	select {
	case s.queue <- e:
		s.mu.Unlock()
	default:
		s.dropped++
		warn := time.Since(s.lastDrop) > time.Minute
		if warn {
			s.lastDrop = time.Now()
		}
		n := s.dropped
		s.mu.Unlock()
		if warn {
			s.log.ErrorContext(ctx, "message log: queue full, entries dropped", "dropped_total", n)
		}
	}
}

// Flush returns once every entry recorded before the call is written (or
// given up on), or when ctx ends.
func (s *Service) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case s.flushes <- ack:
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking entries, writes the queued ones and stops the writer;
// it returns ctx's error if that takes longer than ctx allows (the writer
// then finishes in the background).
func (s *Service) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("message log: close: %w", ctx.Err())
	}
}

// writer writes the queue in batches: what arrives within Linger of the
// first entry, and whatever accumulated while the previous batch was
// written, goes in one INSERT, so the cost per entry falls as the load
// grows (group commit). It exits when Close is called, after draining the
// queue.
func (s *Service) writer() {
	defer close(s.done)
	batch := make([]model.MessageLogEntry, 0, s.o.BatchSize)
	for {
		select {
		case e := <-s.queue:
			batch = s.linger(append(batch[:0], e))
			s.write(batch)
		case ack := <-s.flushes:
			for {
				batch = s.drain(batch[:0], s.o.BatchSize)
				if len(batch) == 0 {
					break
				}
				s.write(batch)
			}
			close(ack)
		case <-s.stop:
			for {
				batch = s.drain(batch[:0], s.o.BatchSize)
				if len(batch) == 0 {
					return
				}
				s.write(batch)
			}
		}
	}
}

// linger fills batch for up to Linger, or until it is full; a flush or
// Close ends the wait early (they drain the rest).
func (s *Service) linger(batch []model.MessageLogEntry) []model.MessageLogEntry {
	batch = s.drain(batch, s.o.BatchSize)
	if len(batch) >= s.o.BatchSize {
		return batch
	}
	t := time.NewTimer(s.o.Linger)
	defer t.Stop()
	for len(batch) < s.o.BatchSize {
		select {
		case e := <-s.queue:
			batch = append(batch, e)
		case <-t.C:
			return batch
		case ack := <-s.flushes:
			batch = s.drain(batch, s.o.BatchSize)
			s.write(batch)
			batch = batch[:0]
			for {
				batch = s.drain(batch[:0], s.o.BatchSize)
				if len(batch) == 0 {
					break
				}
				s.write(batch)
			}
			close(ack)
			return batch
		case <-s.stop:
			return batch // the stop case of writer drains the rest
		}
	}
	return batch
}

// drain appends queued entries without waiting, up to n in all.
func (s *Service) drain(batch []model.MessageLogEntry, n int) []model.MessageLogEntry {
	for len(batch) < n {
		select {
		case e := <-s.queue:
			batch = append(batch, e)
		default:
			return batch
		}
	}
	return batch
}

// write appends a batch, trying three times over about a second before
// giving the batch up (logged).
func (s *Service) write(batch []model.MessageLogEntry) {
	if len(batch) == 0 {
		return
	}
	var err error
	for attempt, wait := 0, 100*time.Millisecond; attempt < 3; attempt, wait = attempt+1, wait*4 {
		if attempt > 0 {
			time.Sleep(wait)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = s.st.AppendMessages(ctx, batch)
		cancel()
		if err == nil {
			return
		}
	}
	s.log.Error("message log: batch lost", "entries", len(batch), "err", err)
}

// ListMessages pages the log newest first (staff: admin and editor; the
// transport checks the role). Errors are the store's (a malformed cursor
// is model.ErrInvalid).
func (s *Service) ListMessages(ctx context.Context, f model.MessageLogFilter, p model.Page) ([]model.MessageLogEntry, string, error) {
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return nil, "", model.Invalid(map[string]string{"to": "须晚于开始时间"})
	}
	return s.st.ListMessages(ctx, f, p)
}

// DeleteExpired removes the entries older than the retention and returns
// how many: the daily retention job (job.Runner.DailyAt).
func (s *Service) DeleteExpired(ctx context.Context) (int64, error) {
	n, err := s.st.DeleteMessagesBefore(ctx, s.o.Now().Add(-s.o.Retention))
	if err != nil {
		return n, fmt.Errorf("message log retention: %w", err)
	}
	if n > 0 {
		s.log.InfoContext(ctx, "message log retention", "deleted", n, "retention", s.o.Retention.String())
	}
	return n, nil
}

// RetentionTask is the task type of the retention job.
const RetentionTask = "messages:retention"

// RunRetention is the retention job's handler (job.Runner.Handle with
// RetentionTask; its payload is ignored).
func (s *Service) RunRetention(ctx context.Context, _ []byte) error {
	_, err := s.DeleteExpired(ctx)
	return err
}
