package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

func TestNotifyTemplates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ns := store.NewNotify(db)
		ctx := context.Background()
		seed := []model.NotifyTemplate{
			{Topic: "case_update", Name: "咨询进展", MPTemplateID: "tplMP1", Enabled: true,
				MPFields: []model.TemplateField{{Key: "thing1", Field: "title", Default: "您的咨询有新进展"}, {Key: "time2", Field: "time"}}},
			{Topic: "lesson_published", Name: "新课", OATemplateID: "tplOA1", Text: "新课：{title}", Enabled: true,
				OAFields: []model.TemplateField{{Key: "thing1", Field: "title"}}},
		}
		n, err := ns.SeedTemplates(ctx, seed)
		if err != nil || n != 2 {
			t.Fatalf("SeedTemplates() = %d, %v, want 2", n, err)
		}
		// An edit survives a second seed.
		edited := seed[0]
		edited.Name, edited.LongTerm = "进展提醒", true
		if _, err := ns.UpsertTemplate(ctx, edited); err != nil {
			t.Fatalf("UpsertTemplate() = %v", err)
		}
		if n, err := ns.SeedTemplates(ctx, seed); err != nil || n != 0 {
			t.Fatalf("SeedTemplates() again = %d, %v, want 0", n, err)
		}
		got, err := ns.ListTemplates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []model.NotifyTemplate{edited, seed[1]}
		want[1].MPFields = []model.TemplateField{}
		want[0].OAFields = []model.TemplateField{}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(model.NotifyTemplate{}, "UpdatedAt")); diff != "" {
			t.Errorf("ListTemplates() mismatch (-want +got):\n%s", diff)
		}
		if _, err := ns.TemplateByTopic(ctx, "nope"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("TemplateByTopic(nope) = %v, want ErrNotFound", err)
		}
	})
}

func TestNotifyDeliveries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ns := store.NewNotify(db)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		p, err := ns.CreatePush(ctx, model.Push{Title: "第3课上线", Topic: "lesson_published", CreatedBy: 7})
		if err != nil {
			t.Fatal(err)
		}
		d, created, err := ns.CreateDelivery(ctx, model.Delivery{
			PushID: p.ID, Topic: "lesson_published", DedupeKey: "lesson:3:user:1", UserID: 1,
			Fields: map[string]string{"title": "亲子沟通"}, Page: "pages/lesson?id=3", EnqueuedAt: now,
		})
		if err != nil || !created || d.ID == 0 || d.Status != model.DeliveryPending || d.Fields["title"] != "亲子沟通" {
			t.Fatalf("CreateDelivery() = %+v, %v, %v", d, created, err)
		}
		// The same dedupe key is the same delivery, also inside a
		// transaction (no aborted transaction on PostgreSQL).
		err = db.WithTx(ctx, func(ctx context.Context) error {
			again, created, err := ns.CreateDelivery(ctx, model.Delivery{Topic: "lesson_published", DedupeKey: "lesson:3:user:1", UserID: 9})
			if err != nil || created || again.ID != d.ID || again.UserID != 1 {
				return fmt.Errorf("CreateDelivery(same key) = %+v, %v, %v, want the first, not created", again, created, err)
			}
			_, err = ns.CreatePush(ctx, model.Push{Title: "after", Topic: "x"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		// Claim: one winner among concurrent claimers.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, ok, err := ns.ClaimDelivery(ctx, d.ID, time.Now(), time.Now().Add(time.Minute)); err == nil && ok {
					wins.Add(1)
				} else if err != nil {
					t.Errorf("ClaimDelivery() = %v", err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("concurrent ClaimDelivery() winners = %d, want 1", wins.Load())
		}
		held, err := ns.DeliveryByID(ctx, d.ID)
		if err != nil || held.Status != model.DeliverySending || held.Attempts != 1 {
			t.Fatalf("DeliveryByID() after claim = %+v, %v", held, err)
		}
		// A stale attempt cannot finish; the current one can.
		if ok, err := ns.FinishDelivery(ctx, d.ID, 0, model.DeliveryResult{Status: model.DeliverySent}); err != nil || ok {
			t.Errorf("FinishDelivery(stale attempt) = %v, %v, want false", ok, err)
		}
		// Release, then claim again after the lease (now far in the past).
		if err := ns.ReleaseDelivery(ctx, d.ID, 1, now.Add(-time.Second), 45009, "errcode 45009"); err != nil {
			t.Fatal(err)
		}
		d2, ok, err := ns.ClaimDelivery(ctx, d.ID, time.Now(), time.Now().Add(-time.Second))
		if err != nil || !ok || d2.Attempts != 2 || d2.Errcode != 45009 {
			t.Fatalf("ClaimDelivery() after release = %+v, %v, %v", d2, ok, err)
		}
		// The lease above already ended: another worker may take over.
		d3, ok, err := ns.ClaimDelivery(ctx, d.ID, time.Now(), time.Now().Add(time.Minute))
		if err != nil || !ok || d3.Attempts != 3 {
			t.Fatalf("ClaimDelivery() after lease end = %+v, %v, %v", d3, ok, err)
		}
		if ok, err := ns.FinishDelivery(ctx, d.ID, 2, model.DeliveryResult{Status: model.DeliverySent}); err != nil || ok {
			t.Errorf("FinishDelivery(lost claim) = %v, %v, want false", ok, err)
		}
		ok, err = ns.FinishDelivery(ctx, d.ID, 3, model.DeliveryResult{
			Status: model.DeliverySent, Channel: model.ChannelMPSubscribe, TemplateID: "tpl", MsgID: "2247483001", At: now,
		})
		if err != nil || !ok {
			t.Fatalf("FinishDelivery() = %v, %v", ok, err)
		}
		if _, ok, _ := ns.ClaimDelivery(ctx, d.ID, time.Now(), time.Now().Add(time.Minute)); ok {
			t.Errorf("ClaimDelivery(sent) = ok, want not claimable")
		}
		n, err := ns.SetDeliveryResultByMsgID(ctx, model.ChannelMPSubscribe, "2247483001", model.DeliveryFailed, 43101, "user refuse")
		if err != nil || n != 1 {
			t.Errorf("SetDeliveryResultByMsgID() = %d, %v, want 1", n, err)
		}

		// Counts per push.
		for i, st := range []string{model.DeliverySent, model.DeliveryNoConsent, model.DeliveryNoChannel, model.DeliveryPending} {
			_, _, err := ns.CreateDelivery(ctx, model.Delivery{
				PushID: p.ID, Topic: "lesson_published", DedupeKey: fmt.Sprintf("k%d", i), UserID: int64(10 + i), Status: st,
				Channel: model.ChannelOATemplate, EnqueuedAt: now,
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		counts, err := ns.CountPushes(ctx, []int64{p.ID, 999})
		if err != nil {
			t.Fatal(err)
		}
		want := map[int64]model.PushCounts{
			p.ID: {Targets: 5, Pending: 1, Sent: 1, Failed: 1, NoConsent: 1, NoChannel: 1, Channels: map[string]int{model.ChannelOATemplate: 1}},
			999:  {Channels: map[string]int{}},
		}
		if diff := cmp.Diff(want, counts); diff != "" {
			t.Errorf("CountPushes() mismatch (-want +got):\n%s", diff)
		}
		list, next, err := ns.ListDeliveries(ctx, model.DeliveryFilter{PushID: p.ID}, model.Page{Limit: 2})
		if err != nil || len(list) != 2 || next == "" || list[0].ID < list[1].ID {
			t.Fatalf("ListDeliveries(limit 2) = %d items, next %q, %v", len(list), next, err)
		}
		rest, next, err := ns.ListDeliveries(ctx, model.DeliveryFilter{PushID: p.ID}, model.Page{Cursor: next, Limit: 10})
		if err != nil || len(rest) != 3 || next != "" {
			t.Fatalf("ListDeliveries(page 2) = %d items, next %q, %v", len(rest), next, err)
		}
		pushes, _, err := ns.ListPushes(ctx, model.Page{})
		if err != nil || len(pushes) != 2 || pushes[0].Title != "after" {
			t.Errorf("ListPushes() = %+v, %v", pushes, err)
		}
	})
}

func TestNotifySweep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ns := store.NewNotify(db)
		ctx := context.Background()
		now := time.Now().UTC()
		mk := func(key string, d model.Delivery) model.Delivery {
			t.Helper()
			d.Topic, d.DedupeKey = "t", key
			got, _, err := ns.CreateDelivery(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		never := mk("never", model.Delivery{})                                                                // in a transaction: never enqueued
		fresh := mk("fresh", model.Delivery{EnqueuedAt: now})                                                 // waiting in the queue
		stale := mk("stale", model.Delivery{EnqueuedAt: now.Add(-time.Hour), NotBefore: now.Add(-time.Hour)}) // lost
		later := mk("later", model.Delivery{EnqueuedAt: now.Add(-time.Hour), NotBefore: now.Add(time.Hour)})  // quiet hours
		held := mk("held", model.Delivery{EnqueuedAt: now.Add(-time.Hour)})
		if _, ok, err := ns.ClaimDelivery(ctx, held.ID, time.Now(), now.Add(-time.Hour)); err != nil || !ok {
			t.Fatalf("ClaimDelivery() = %v, %v", ok, err)
		}
		got, err := ns.DeliveriesToSweep(ctx, now.Add(-10*time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, d := range got {
			ids = append(ids, d.ID)
		}
		if want := []int64{never.ID, stale.ID, held.ID}; !cmp.Equal(ids, want) {
			t.Errorf("DeliveriesToSweep() = %v, want %v (not fresh %d, not later %d)", ids, want, fresh.ID, later.ID)
		}
		if err := ns.MarkEnqueued(ctx, []int64{never.ID, held.ID}, now); err != nil {
			t.Fatal(err)
		}
		if err := ns.DeferDelivery(ctx, stale.ID, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err = ns.DeliveriesToSweep(ctx, now.Add(-10*time.Minute), 10)
		if err != nil || len(got) != 0 {
			t.Errorf("DeliveriesToSweep() after enqueue and defer = %+v, %v, want none", got, err)
		}
	})
}

func TestNotifyConsents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ns := store.NewNotify(db)
		ctx := context.Background()
		const tpl = "tplA"
		if ok, _, err := ns.UseConsent(ctx, model.AppMP, "oU", tpl); err != nil || ok {
			t.Fatalf("UseConsent(no entry) = %v, %v, want false", ok, err)
		}
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := ns.GrantConsent(ctx, model.AppMP, "oU", tpl, false); err != nil {
					t.Errorf("GrantConsent() = %v", err)
				}
			}()
		}
		wg.Wait()
		var used atomic.Int32
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, long, err := ns.UseConsent(ctx, model.AppMP, "oU", tpl)
				if err != nil || long {
					t.Errorf("UseConsent() = %v, %v, %v", ok, long, err)
				}
				if ok {
					used.Add(1)
				}
			}()
		}
		wg.Wait()
		if used.Load() != 5 {
			t.Fatalf("concurrent UseConsent() successes after 5 grants = %d, want 5", used.Load())
		}
		if err := ns.RefundConsent(ctx, model.AppMP, "oU", tpl); err != nil {
			t.Fatal(err)
		}
		if err := ns.GrantConsent(ctx, model.AppMP, "oU", "tplLong", true); err != nil {
			t.Fatal(err)
		}
		got, err := ns.ConsentsOf(ctx, model.AppMP, "oU")
		if err != nil {
			t.Fatal(err)
		}
		want := []model.Consent{
			{App: model.AppMP, OpenID: "oU", TemplateID: tpl, Remaining: 1},
			{App: model.AppMP, OpenID: "oU", TemplateID: "tplLong", LongTerm: true},
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(model.Consent{}, "UpdatedAt")); diff != "" {
			t.Errorf("ConsentsOf() mismatch (-want +got):\n%s", diff)
		}
		for range 3 {
			if ok, long, err := ns.UseConsent(ctx, model.AppMP, "oU", "tplLong"); err != nil || !ok || !long {
				t.Fatalf("UseConsent(long-term) = %v, %v, %v, want ok and long-term", ok, long, err)
			}
		}
		for _, id := range []string{tpl, "tplLong"} {
			if err := ns.RevokeConsent(ctx, model.AppMP, "oU", id); err != nil {
				t.Fatal(err)
			}
			if ok, _, err := ns.UseConsent(ctx, model.AppMP, "oU", id); err != nil || ok {
				t.Errorf("UseConsent(%s) after revoke = %v, %v, want false", id, ok, err)
			}
		}
		// Ledgers are per app and case-sensitive openid.
		if ok, _, _ := ns.UseConsent(ctx, model.AppOA, "oU", tpl); ok {
			t.Errorf("UseConsent(oa) = true, want false")
		}
	})
}

func TestNotifyAlerts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ns := store.NewNotify(db)
		ctx := context.Background()
		a, err := ns.CreateAlert(ctx, model.StaffAlert{StaffID: 3, DeliveryID: 11, Topic: "crisis_alert",
			Fields: map[string]string{"title": "求助"}, Urgent: true})
		if err != nil || a.ID == 0 {
			t.Fatalf("CreateAlert() = %+v, %v", a, err)
		}
		again, err := ns.CreateAlert(ctx, model.StaffAlert{StaffID: 3, DeliveryID: 11, Topic: "crisis_alert"})
		if err != nil || again.ID != a.ID {
			t.Fatalf("CreateAlert(same delivery) = %+v, %v, want the first", again, err)
		}
		if _, err := ns.CreateAlert(ctx, model.StaffAlert{StaffID: 3, DeliveryID: 12, Topic: "crisis_alert"}); err != nil {
			t.Fatal(err)
		}
		if err := ns.MarkAlertRead(ctx, 4, a.ID, time.Now()); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("MarkAlertRead(other staff) = %v, want ErrNotFound", err)
		}
		if err := ns.MarkAlertRead(ctx, 3, a.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		unread, _, err := ns.ListAlerts(ctx, 3, true, model.Page{})
		if err != nil || len(unread) != 1 || unread[0].DeliveryID != 12 {
			t.Errorf("ListAlerts(unread) = %+v, %v, want delivery 12 only", unread, err)
		}
		all, _, err := ns.ListAlerts(ctx, 3, false, model.Page{})
		if err != nil || len(all) != 2 || all[1].Fields["title"] != "求助" || all[1].ReadAt.IsZero() {
			t.Errorf("ListAlerts(all) = %+v, %v", all, err)
		}
	})
}

func TestUserSessionKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		users := store.NewUsers(db)
		ctx := context.Background()
		u, err := users.UpsertUserByOpenID(ctx, "oSK", "")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := users.UserSessionKey(ctx, u.ID); err != nil || got != "" {
			t.Fatalf("UserSessionKey(new user) = %q, %v, want empty", got, err)
		}
		if err := users.SetUserSessionKey(ctx, u.ID, "v1.k.sealed"); err != nil {
			t.Fatal(err)
		}
		if got, err := users.UserSessionKey(ctx, u.ID); err != nil || got != "v1.k.sealed" {
			t.Errorf("UserSessionKey() = %q, %v", got, err)
		}
		if err := users.SetUserSessionKey(ctx, 999999, "x"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("SetUserSessionKey(missing) = %v, want ErrNotFound", err)
		}
		if _, err := users.UserSessionKey(ctx, 999999); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("UserSessionKey(missing) = %v, want ErrNotFound", err)
		}
	})
}

// TestMigrateNotifyOnExistingUsers: step 0005 adds users.session_key_sealed
// to a users table that already has rows.
func TestMigrateNotifyOnExistingUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		users := store.NewUsers(db)
		u, err := users.UpsertUserByOpenID(ctx, "oBefore", "")
		if err != nil {
			t.Fatal(err)
		}
		g := store.GormForTest(db)
		if err := g.Exec("ALTER TABLE users DROP COLUMN session_key_sealed").Error; err != nil {
			t.Fatalf("drop column: %v", err)
		}
		if err := g.Exec("DELETE FROM schema_migrations WHERE id = ?", "0005_notify").Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate() over a users table without the column = %v", err)
		}
		if got, err := users.UserSessionKey(ctx, u.ID); err != nil || got != "" {
			t.Errorf("UserSessionKey(existing user) = %q, %v, want empty", got, err)
		}
		if err := users.SetUserSessionKey(ctx, u.ID, "v1.x"); err != nil {
			t.Errorf("SetUserSessionKey() after the migration = %v", err)
		}
	})
}
