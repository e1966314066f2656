package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

func logEntry(app model.App, openID, msgType, content, key string, at time.Time) model.MessageLogEntry {
	return model.MessageLogEntry{App: app, OpenID: openID, MsgType: msgType, Content: content, DedupeKey: key, ReceivedAt: at}
}

func TestMessagesAppendAndList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ms := store.NewMessages(db)
		ctx := context.Background()
		base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		a, err := ms.AppendMessage(ctx, model.MessageLogEntry{App: model.AppOA, OpenID: "oA", MsgType: "text",
			Content: strings.Repeat("家", 2100), DedupeKey: "oa:msg:1", Crisis: true, ReceivedAt: base})
		if err != nil {
			t.Fatalf("AppendMessage() = %v", err)
		}
		want := model.MessageLogEntry{ID: a.ID, App: model.AppOA, OpenID: "oA", MsgType: "text",
			Content: strings.Repeat("家", 2000), DedupeKey: "oa:msg:1", Crisis: true, ReceivedAt: base}
		if diff := cmp.Diff(want, a); diff != "" || a.ID == 0 {
			t.Errorf("AppendMessage() (-want +got):\n%s", diff)
		}
		// A retry of the same callback adds nothing and returns the stored entry.
		again, err := ms.AppendMessage(ctx, logEntry(model.AppOA, "oA", "text", "other", "oa:msg:1", base.Add(time.Minute)))
		if err != nil || again.ID != a.ID {
			t.Errorf("AppendMessage(same dedupe key) = %+v, %v, want the stored entry %d", again, err, a.ID)
		}
		long := "oa:event:oA:1:VIEW:https://example.com/" + strings.Repeat("x", 600)
		batch := []model.MessageLogEntry{
			logEntry(model.AppOA, "oA", "event", "", long, base.Add(1*time.Hour)),
			logEntry(model.AppOA, "oB", "text", "你好", "oa:msg:2", base.Add(2*time.Hour)),
			logEntry(model.AppMP, "oA", "text", "hi", "mp:msg:2", base.Add(3*time.Hour)),
			logEntry(model.AppOA, "oB", "text", "dup in batch", "oa:msg:2", base.Add(4*time.Hour)),
			logEntry(model.AppOA, "oA", "text", "dup of stored", "oa:msg:1", base.Add(5*time.Hour)),
		}
		batch[0].Event, batch[0].EventKey = "VIEW", "https://example.com/"+strings.Repeat("y", 600)
		if err := ms.AppendMessages(ctx, batch); err != nil {
			t.Fatalf("AppendMessages() = %v", err)
		}
		if err := ms.AppendMessages(ctx, batch); err != nil { // a second flush of the same batch
			t.Fatalf("AppendMessages(again) = %v", err)
		}
		all, next, err := ms.ListMessages(ctx, model.MessageLogFilter{}, model.Page{})
		if err != nil || next != "" {
			t.Fatalf("ListMessages() = %v, %q", err, next)
		}
		var keys []string
		for _, e := range all {
			keys = append(keys, e.Content)
		}
		if diff := cmp.Diff([]string{"hi", "你好", "", strings.Repeat("家", 2000)}, keys); diff != "" {
			t.Errorf("ListMessages() contents, newest first (-want +got):\n%s", diff)
		}
		if got := all[2]; len([]rune(got.EventKey)) != 512 || len(got.DedupeKey) > 255 {
			t.Errorf("long VIEW entry: event key %d runes, dedupe key %d bytes; want 512 and ≤ 255", len([]rune(got.EventKey)), len(got.DedupeKey))
		}

		tests := []struct {
			name string
			f    model.MessageLogFilter
			want []string
		}{
			{"app", model.MessageLogFilter{App: model.AppMP}, []string{"mp:msg:2"}},
			{"openid", model.MessageLogFilter{App: model.AppOA, OpenID: "oB"}, []string{"oa:msg:2"}},
			{"type", model.MessageLogFilter{MsgType: "event"}, []string{all[2].DedupeKey}},
			{"crisis", model.MessageLogFilter{Crisis: true}, []string{"oa:msg:1"}},
			{"from (inclusive)", model.MessageLogFilter{From: base.Add(2 * time.Hour)}, []string{"mp:msg:2", "oa:msg:2"}},
			{"to (exclusive)", model.MessageLogFilter{To: base.Add(time.Hour)}, []string{"oa:msg:1"}},
			{"openid is case-sensitive", model.MessageLogFilter{OpenID: "OA"}, nil},
		}
		for _, tt := range tests {
			got, _, err := ms.ListMessages(ctx, tt.f, model.Page{})
			if err != nil {
				t.Errorf("ListMessages(%s) = %v", tt.name, err)
				continue
			}
			var keys []string
			for _, e := range got {
				keys = append(keys, e.DedupeKey)
			}
			if diff := cmp.Diff(tt.want, keys, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListMessages(%s) (-want +got):\n%s", tt.name, diff)
			}
		}

		page1, cur, err := ms.ListMessages(ctx, model.MessageLogFilter{}, model.Page{Limit: 3})
		if err != nil || len(page1) != 3 || cur == "" {
			t.Fatalf("ListMessages(limit 3) = %d items, %q, %v", len(page1), cur, err)
		}
		page2, cur2, err := ms.ListMessages(ctx, model.MessageLogFilter{}, model.Page{Limit: 3, Cursor: cur})
		if err != nil || len(page2) != 1 || cur2 != "" || page2[0].ID != a.ID {
			t.Errorf("ListMessages(page 2) = %+v, %q, %v, want the oldest entry only", page2, cur2, err)
		}
		if _, _, err := ms.ListMessages(ctx, model.MessageLogFilter{}, model.Page{Cursor: "!!"}); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("ListMessages(bad cursor) = %v, want ErrInvalid", err)
		}
	})
}

func TestMessagesLastMessageAtAndRetention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ms := store.NewMessages(db)
		ctx := context.Background()
		base := time.Date(2026, 3, 1, 8, 0, 0, 123000000, time.UTC)
		if at, err := ms.LastMessageAt(ctx, model.AppOA, "oA"); err != nil || !at.IsZero() {
			t.Errorf("LastMessageAt(never) = %v, %v, want zero", at, err)
		}
		entries := []model.MessageLogEntry{
			logEntry(model.AppOA, "oA", "text", "old", "k1", base),
			logEntry(model.AppOA, "oA", "image", "", "k2", base.Add(time.Hour)),
			logEntry(model.AppOA, "oA", "event", "", "k3", base.Add(2*time.Hour)), // events do not open the window
			logEntry(model.AppMP, "oA", "text", "", "k4", base.Add(3*time.Hour)),
		}
		if err := ms.AppendMessages(ctx, entries); err != nil {
			t.Fatal(err)
		}
		if at, err := ms.LastMessageAt(ctx, model.AppOA, "oA"); err != nil || !at.Equal(base.Add(time.Hour)) {
			t.Errorf("LastMessageAt(oa, oA) = %v, %v, want %v", at, err, base.Add(time.Hour))
		}
		n, err := ms.DeleteMessagesBefore(ctx, base.Add(90*time.Minute))
		if err != nil || n != 2 {
			t.Errorf("DeleteMessagesBefore() = %d, %v, want 2", n, err)
		}
		left, _, err := ms.ListMessages(ctx, model.MessageLogFilter{}, model.Page{})
		if err != nil || len(left) != 2 {
			t.Errorf("after retention: %d entries, %v, want 2", len(left), err)
		}
		if n, err := ms.DeleteMessagesBefore(ctx, base); err != nil || n != 0 {
			t.Errorf("DeleteMessagesBefore(nothing older) = %d, %v", n, err)
		}
	})
}

// TestMigrateMessagesCallbackIndex: step 0012 turns a log of step 0003
// (unique on dedupe_hash alone) into one unique on (create_time,
// dedupe_hash): old rows keep create_time 0, a retry of a new callback
// (same key and CreateTime) still adds nothing, and the same key with
// another CreateTime is another callback.
func TestMigrateMessagesCallbackIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ms := store.NewMessages(db)
		base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		if err := ms.AppendMessages(ctx, []model.MessageLogEntry{logEntry(model.AppOA, "oA", "text", "old", "oa:msg:1", base)}); err != nil {
			t.Fatal(err)
		}
		g := store.GormForTest(db)
		dropIndex := "DROP INDEX ux_gateway_messages_callback"
		if g.Dialector.Name() == "mysql" {
			dropIndex += " ON gateway_messages"
		}
		for _, step := range []func() error{
			func() error { return g.Exec(dropIndex).Error },
			func() error { return g.Exec("ALTER TABLE gateway_messages DROP COLUMN create_time").Error },
			func() error {
				return g.Exec("CREATE UNIQUE INDEX ux_gateway_messages_dedupe ON gateway_messages (dedupe_hash)").Error
			},
			func() error {
				return g.Exec("DELETE FROM schema_migrations WHERE id = ?", "0012_gateway_messages_callback").Error
			},
		} {
			if err := step(); err != nil {
				t.Fatalf("setting up step 0003's shape: %v", err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate() = %v", err)
		}
		if g.Migrator().HasIndex("gateway_messages", "ux_gateway_messages_dedupe") {
			t.Error("the old unique index on dedupe_hash is still there")
		}
		e := logEntry(model.AppOA, "oB", "text", "new", "oa:msg:2", base.Add(time.Minute))
		e.CreateTime = base
		retry := e
		retry.ReceivedAt = base.Add(2 * time.Minute)
		other := e
		other.DedupeKey, other.CreateTime = "oa:msg:1", base // the old row's key, now with a CreateTime
		if err := ms.AppendMessages(ctx, []model.MessageLogEntry{e, retry, other}); err != nil {
			t.Fatalf("AppendMessages() = %v", err)
		}
		if err := ms.AppendMessages(ctx, []model.MessageLogEntry{retry}); err != nil {
			t.Fatalf("AppendMessages(retry) = %v", err)
		}
		all, _, err := ms.ListMessages(ctx, model.MessageLogFilter{}, model.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range all {
			got = append(got, fmt.Sprintf("%s@%d", m.DedupeKey, m.CreateTime.Unix()))
		}
		want := []string{"oa:msg:1@" + fmt.Sprint(base.Unix()), "oa:msg:2@" + fmt.Sprint(base.Unix()),
			"oa:msg:1@" + fmt.Sprint(time.Time{}.Unix())}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("log after the migration (-want +got):\n%s", diff)
		}
	})
}

// BenchmarkAppendMessages appends 30,000 text messages (unique MsgIds,
// CreateTime advancing as in a stream of 10,000 messages a second, 20,000
// users) to SQLite in batches of 100 and of 500, to an empty log and to one
// already holding 200,000 entries (where the pages of the per-user index
// no longer fit in a batch): the message log's CPU per logged callback.
func BenchmarkAppendMessages(b *testing.B) {
	const perOp = 30_000
	for _, prefill := range []int{0, 200_000} {
		for _, size := range []int{100, 500} {
			b.Run(fmt.Sprintf("rows=%d/batch=%d", prefill, size), func(b *testing.B) {
				db := storetest.Dialects()[0].Open(b)
				ms := store.NewMessages(db)
				ctx := context.Background()
				base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
				n := 0
				batch := make([]model.MessageLogEntry, size)
				fill := func() {
					for j := range batch {
						at := base.Add(time.Duration(n) * 100 * time.Microsecond)
						batch[j] = logEntry(model.AppOA, fmt.Sprintf("o_bench_user_%06d", (n*7919)%20000), "text",
							"我想了解维权渠道", fmt.Sprintf("oa:msg:%d", 7_000_000_000_000+n), at.Add(time.Second))
						batch[j].CreateTime = at
						n++
					}
				}
				for n < prefill {
					fill()
					if err := ms.AppendMessages(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				var cpu time.Duration
				for b.Loop() {
					for range perOp / size {
						b.StopTimer()
						fill()
						b.StartTimer()
						cpu0 := cpuTime(b)
						if err := ms.AppendMessages(ctx, batch); err != nil {
							b.Fatal(err)
						}
						cpu += cpuTime(b) - cpu0
					}
				}
				b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N*perOp), "cpu-µs/msg")
			})
		}
	}
}
