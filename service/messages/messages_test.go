package messages_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/service/messages"
)

// fakeStore records batches; fail makes the next n appends fail; block
// holds appends until closed.
type fakeStore struct {
	mu      sync.Mutex
	batches [][]model.MessageLogEntry
	fail    int
	block   chan struct{}
	before  time.Time
}

func (f *fakeStore) AppendMessages(ctx context.Context, es []model.MessageLogEntry) error {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		return errors.New("database down")
	}
	f.batches = append(f.batches, append([]model.MessageLogEntry(nil), es...))
	return nil
}

func (f *fakeStore) ListMessages(ctx context.Context, fl model.MessageLogFilter, p model.Page) ([]model.MessageLogEntry, string, error) {
	return nil, "", nil
}

func (f *fakeStore) DeleteMessagesBefore(ctx context.Context, t time.Time) (int64, error) {
	f.before = t
	return 3, nil
}

func (f *fakeStore) entries() []model.MessageLogEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []model.MessageLogEntry
	for _, b := range f.batches {
		out = append(out, b...)
	}
	return out
}

var at = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func text(id, content string) model.InboundMessage {
	return model.InboundMessage{App: model.AppOA, FromUser: "o1", MsgType: "text", MsgID: id, Content: content, CreateTime: at}
}

func TestRecordFlushClose(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	s := messages.New(st, messages.Options{Now: func() time.Time { return at }})
	ctx := context.Background()
	s.Record(ctx, text("1", "你好"), false)
	s.Record(ctx, text("2", "救命"), true)
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	want := []model.MessageLogEntry{
		{App: model.AppOA, OpenID: "o1", MsgType: "text", Content: "你好", DedupeKey: "oa:msg:1", ReceivedAt: at, CreateTime: at},
		{App: model.AppOA, OpenID: "o1", MsgType: "text", Content: "救命", DedupeKey: "oa:msg:2", Crisis: true, ReceivedAt: at, CreateTime: at},
	}
	if diff := cmp.Diff(want, st.entries()); diff != "" {
		t.Errorf("entries after Flush (-want +got):\n%s", diff)
	}
	s.Record(ctx, text("3", "x"), false)
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if n := len(st.entries()); n != 3 {
		t.Errorf("after Close: %d entries, want 3 (Close writes what was queued)", n)
	}
	s.Record(ctx, text("4", "late"), false) // after Close: dropped, no panic
	if err := s.Flush(ctx); err != nil || len(st.entries()) != 3 {
		t.Errorf("Flush after Close = %v with %d entries, want nil and 3", err, len(st.entries()))
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("Close() twice = %v", err)
	}
}

func TestRecordBatchesUnderLoadAndDropsWhenFull(t *testing.T) {
	t.Parallel()
	st := &fakeStore{block: make(chan struct{})}
	s := messages.New(st, messages.Options{QueueSize: 50, BatchSize: 20})
	defer s.Close(context.Background())
	ctx := context.Background()
	s.Record(ctx, text("first", ""), false) // the writer takes it and blocks in the store
	time.Sleep(20 * time.Millisecond)
	for i := range 60 { // 50 fit the queue, 10 are dropped
		s.Record(ctx, text("m"+string(rune('A'+i)), ""), false)
	}
	close(st.block)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(st.entries()); n != 51 {
		t.Errorf("%d entries written, want 51 (1 + a full queue of 50)", n)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, b := range st.batches {
		if len(b) > 20 {
			t.Errorf("batch of %d entries, want at most 20", len(b))
		}
	}
	if len(st.batches) > 5 {
		t.Errorf("%d batches for 51 entries queued together, want them grouped (≤ 5)", len(st.batches))
	}
}

func TestWriteRetries(t *testing.T) {
	t.Parallel()
	st := &fakeStore{fail: 2}
	s := messages.New(st, messages.Options{})
	defer s.Close(context.Background())
	s.Record(context.Background(), text("1", "x"), false)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(st.entries()); n != 1 {
		t.Errorf("after two failures: %d entries, want 1 (written on the third try)", n)
	}
}

func TestEntrySummaries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m    model.InboundMessage
		want string
	}{
		{model.InboundMessage{MsgType: "voice", Content: "识别"}, "识别"},
		{model.InboundMessage{MsgType: "image", PicURL: "http://p"}, "http://p"},
		{model.InboundMessage{MsgType: "link", Title: "t", URL: "http://u"}, "t http://u"},
		{model.InboundMessage{MsgType: "location", Label: "广州", Latitude: 23.1, Longitude: 113.3}, "广州 23.1,113.3"},
		{model.InboundMessage{MsgType: "event", Event: "subscribe_msg_popup_event",
			SubscribeEvents: []model.SubscribeEvent{{TemplateID: "T1", Status: "accept"}, {TemplateID: "T2", Status: "reject"}}}, "T1:accept T2:reject"},
		{model.InboundMessage{MsgType: "event", Event: "TEMPLATESENDJOBFINISH", ResultMsgID: "9", Status: "success"}, "success"},
		{model.InboundMessage{MsgType: "event", Event: "wxa_media_check", TraceID: "t", Suggest: "risky"}, "risky"},
	}
	for _, tt := range tests {
		if got := messages.Entry(tt.m, false, at).Content; got != tt.want {
			t.Errorf("Entry(%+v).Content = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestRetentionAndList(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	s := messages.New(st, messages.Options{Now: func() time.Time { return at }})
	defer s.Close(context.Background())
	n, err := s.DeleteExpired(context.Background())
	if err != nil || n != 3 || !st.before.Equal(at.Add(-messages.DefaultRetention)) {
		t.Errorf("DeleteExpired() = %d, %v, cutoff %v; want 3, cutoff 180 days before now", n, err, st.before)
	}
	if err := s.RunRetention(context.Background(), nil); err != nil {
		t.Errorf("RunRetention() = %v", err)
	}
	if _, _, err := s.ListMessages(context.Background(), model.MessageLogFilter{From: at, To: at}, model.Page{}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("ListMessages(from = to) = %v, want ErrInvalid", err)
	}
}
