package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

func bulkDeliveries(pushID int64, from, to int) []model.Delivery {
	var ds []model.Delivery
	for i := from; i < to; i++ {
		ds = append(ds, model.Delivery{PushID: pushID, Topic: "lesson_published", DedupeKey: fmt.Sprintf("lesson:7:user:%d", i),
			UserID: int64(i), Fields: map[string]string{"title": "亲子沟通"}, Page: "pages/lessons/detail?id=7"})
	}
	return ds
}

// TestCreateDeliveries: bulk inserts span several statements, skip every
// key that exists (from an earlier call, from CreateDelivery, or twice in
// one call) and come out queued, not seen by the sweeper.
func TestCreateDeliveries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ns := store.NewNotify(db)
		ctx := context.Background()
		p, err := ns.CreatePush(ctx, model.Push{Title: "第7课", Topic: "lesson_published"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ns.CreateDelivery(ctx, bulkDeliveries(p.ID, 5, 6)[0]); err != nil {
			t.Fatal(err)
		}
		first := append(bulkDeliveries(p.ID, 0, 700), bulkDeliveries(p.ID, 10, 11)...) // key 10 twice
		n, err := ns.CreateDeliveries(ctx, first)
		if err != nil || n != 699 {
			t.Fatalf("CreateDeliveries(0..699 + a twin, 5 existing) = %d, %v, want 699", n, err)
		}
		n, err = ns.CreateDeliveries(ctx, bulkDeliveries(p.ID, 600, 1201))
		if err != nil || n != 501 {
			t.Fatalf("CreateDeliveries(600..1200) = %d, %v, want 501 new", n, err)
		}
		if n, err := ns.CreateDeliveries(ctx, nil); err != nil || n != 0 {
			t.Errorf("CreateDeliveries(nil) = %d, %v", n, err)
		}
		counts, err := ns.CountPushes(ctx, []int64{p.ID})
		if c := counts[p.ID]; err != nil || c.Targets != 1201 || c.Pending != 1201 {
			t.Errorf("CountPushes() = %+v, %v, want 1201 targets, all pending", c, err)
		}
		queued, _, err := ns.ListDeliveries(ctx, model.DeliveryFilter{PushID: p.ID, Status: model.DeliveryQueued}, model.Page{Limit: 100})
		if err != nil || len(queued) != 100 || queued[0].Fields["title"] != "亲子沟通" || queued[0].NotBefore.IsZero() {
			t.Errorf("queued deliveries = %d (%+v), %v", len(queued), queued[:min(1, len(queued))], err)
		}
		sweep, err := ns.DeliveriesToSweep(ctx, time.Now().Add(time.Hour), 2000)
		if err != nil || len(sweep) != 1 { // the one CreateDelivery wrote (never enqueued)
			t.Errorf("DeliveriesToSweep() = %d deliveries, %v, want only the single one", len(sweep), err)
		}
	})
}

// TestFeedQueued: the feeder's primitives promote the lowest queued ids of
// one push, once each, and count what is outstanding.
func TestFeedQueued(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ns := store.NewNotify(db)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		a, _ := ns.CreatePush(ctx, model.Push{Title: "a", Topic: "lesson_published"})
		b, _ := ns.CreatePush(ctx, model.Push{Title: "b", Topic: "lesson_published"})
		idle, _ := ns.CreatePush(ctx, model.Push{Title: "idle", Topic: "lesson_published"})
		if _, err := ns.CreateDeliveries(ctx, bulkDeliveries(a.ID, 0, 30)); err != nil {
			t.Fatal(err)
		}
		bs := bulkDeliveries(b.ID, 100, 103)
		for i := range bs {
			bs[i].DedupeKey = fmt.Sprintf("other:%d", i)
		}
		if _, err := ns.CreateDeliveries(ctx, bs); err != nil {
			t.Fatal(err)
		}
		got, err := ns.PushesToFeed(ctx, 10)
		if err != nil || !slices.Equal(got, []int64{a.ID, b.ID}) {
			t.Errorf("PushesToFeed() = %v, %v, want [%d %d] (not %d)", got, err, a.ID, b.ID, idle.ID)
		}
		p1, err := ns.PromoteQueued(ctx, a.ID, 12, now)
		if err != nil || len(p1) != 12 {
			t.Fatalf("PromoteQueued(12) = %d, %v", len(p1), err)
		}
		p2, err := ns.PromoteQueued(ctx, a.ID, 100, now)
		if err != nil || len(p2) != 18 || p2[0].ID <= p1[11].ID {
			t.Fatalf("PromoteQueued(100) = %d, %v, want the other 18 after the first 12", len(p2), err)
		}
		for i, d := range append(p1, p2...) {
			if i > 0 && d.ID <= p1[0].ID || d.Status != model.DeliveryPending || !d.EnqueuedAt.Equal(now) {
				t.Errorf("promoted %+v", d)
			}
			stored, err := ns.DeliveryByID(ctx, d.ID)
			if err != nil || stored.Status != model.DeliveryPending || !stored.EnqueuedAt.Equal(now) || stored.PushID != a.ID {
				t.Errorf("stored %+v, %v, want pending enqueued at %v", stored, err, now)
			}
		}
		if more, err := ns.PromoteQueued(ctx, a.ID, 5, now); err != nil || len(more) != 0 {
			t.Errorf("PromoteQueued() when none is queued = %v, %v", more, err)
		}
		// One of them is being sent, one is sent: 29 outstanding.
		if _, ok, err := ns.ClaimDelivery(ctx, p1[0].ID, now.Add(time.Second), now.Add(time.Minute)); !ok || err != nil {
			t.Fatalf("ClaimDelivery() = %v, %v", ok, err)
		}
		if _, ok, err := ns.ClaimDelivery(ctx, p1[1].ID, now.Add(time.Second), now.Add(time.Minute)); !ok || err != nil {
			t.Fatalf("ClaimDelivery() = %v, %v", ok, err)
		}
		if ok, err := ns.FinishDelivery(ctx, p1[1].ID, 1, model.DeliveryResult{Status: model.DeliverySent, At: now}); !ok || err != nil {
			t.Fatalf("FinishDelivery() = %v, %v", ok, err)
		}
		if n, err := ns.CountOutstanding(ctx, a.ID); err != nil || n != 29 {
			t.Errorf("CountOutstanding(a) = %d, %v, want 29", n, err)
		}
		if n, err := ns.CountOutstanding(ctx, b.ID); err != nil || n != 0 {
			t.Errorf("CountOutstanding(b) = %d, %v, want 0 (all queued)", n, err)
		}
		if got, err := ns.PushesToFeed(ctx, 10); err != nil || !slices.Equal(got, []int64{b.ID}) {
			t.Errorf("PushesToFeed() after feeding a = %v, %v, want [%d]", got, err, b.ID)
		}
	})
}

// TestMarkDeliveryRead: an open counts once, only for a notice sent before it.
func TestMarkDeliveryRead(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ns := store.NewNotify(db)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		p, _ := ns.CreatePush(ctx, model.Push{Title: "第7课", Topic: "lesson_published"})
		if _, err := ns.CreateDeliveries(ctx, bulkDeliveries(p.ID, 1, 4)); err != nil {
			t.Fatal(err)
		}
		ds, err := ns.PromoteQueued(ctx, p.ID, 10, now)
		if err != nil || len(ds) != 3 {
			t.Fatalf("PromoteQueued() = %d, %v", len(ds), err)
		}
		for _, d := range ds[:2] {
			if _, ok, err := ns.ClaimDelivery(ctx, d.ID, now.Add(time.Second), now.Add(time.Minute)); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if ok, err := ns.FinishDelivery(ctx, d.ID, 1, model.DeliveryResult{Status: model.DeliverySent, At: now}); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		tests := []struct {
			key  string
			at   time.Time
			want bool
		}{
			{"lesson:7:user:1", now.Add(-time.Minute), false}, // opened before the notice was sent
			{"lesson:7:user:1", now.Add(time.Minute), true},
			{"lesson:7:user:1", now.Add(2 * time.Minute), false}, // counted once
			{"lesson:7:user:3", now.Add(time.Minute), false},     // never sent
			{"lesson:7:user:9", now.Add(time.Minute), false},     // no such notice
			{"lesson:7:user:2", now, true},
		}
		for _, tt := range tests {
			if got, err := ns.MarkDeliveryRead(ctx, tt.key, tt.at); err != nil || got != tt.want {
				t.Errorf("MarkDeliveryRead(%s, %v) = %v, %v, want %v", tt.key, tt.at.Sub(now), got, err, tt.want)
			}
		}
		counts, err := ns.CountPushes(ctx, []int64{p.ID})
		if c := counts[p.ID]; err != nil || c.Targets != 3 || c.Sent != 2 || c.Read != 2 || c.Pending != 1 {
			t.Errorf("CountPushes() = %+v, %v, want 3 targets, 2 sent, 2 read, 1 pending", c, err)
		}
		d, err := ns.DeliveryByID(ctx, ds[0].ID)
		if err != nil || !d.ReadAt.Equal(now.Add(time.Minute)) {
			t.Errorf("DeliveryByID() read at %v, %v, want %v", d.ReadAt, err, now.Add(time.Minute))
		}
	})
}
