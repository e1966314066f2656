package notify_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/service/notify"
	"wanjia/wechat/wxsim"
)

// mustPush creates a lesson push.
func (e *env) mustPush(tb testing.TB) int64 {
	tb.Helper()
	id, err := e.svc.CreatePush(context.Background(), "第7课上线", notify.TopicLessonPublished)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// bulkNotice is a lesson notice of push pushID for NotifyMany.
func bulkNotice(pushID int64) model.Notice {
	n := lessonNotice("")
	n.PushID = pushID
	return n
}

// mustTargets creates n users (prefix + index), each with one consent,
// and returns them as targets of push pushID.
func (e *env) mustTargets(tb testing.TB, prefix string, n int, pushID int64) []notify.Target {
	tb.Helper()
	out := make([]notify.Target, n)
	for i := range n {
		u := e.mustUser(tb, fmt.Sprintf("%s%03d", prefix, i), "")
		e.mustGrant(tb, u.OpenID, notify.TopicLessonPublished, 1)
		out[i] = notify.Target{Recipient: model.Recipient{UserID: u.ID}, DedupeKey: fmt.Sprintf("push:%d:user:%d", pushID, u.ID)}
	}
	return out
}

func TestNotifyManyValidation(t *testing.T) {
	e := mustEnv(t, envOptions{})
	push := e.mustPush(t)
	ok := notify.Target{Recipient: model.Recipient{UserID: 1}, DedupeKey: "k:1"}
	many := make([]notify.Target, notify.MaxBatch+1)
	for i := range many {
		many[i] = notify.Target{Recipient: model.Recipient{UserID: int64(i + 1)}, DedupeKey: fmt.Sprint("k:", i)}
	}
	tests := []struct {
		name  string
		edit  func(n *model.Notice)
		to    []notify.Target
		field string
	}{
		{"no push", func(n *model.Notice) { n.PushID = 0 }, []notify.Target{ok}, "push_id"},
		{"a notice key", func(n *model.Notice) { n.DedupeKey = "x" }, []notify.Target{ok}, "dedupe_key"},
		{"too many", func(*model.Notice) {}, many, "targets"},
		{"staff target", func(*model.Notice) {}, []notify.Target{ok, {Recipient: model.Recipient{StaffID: 3}, DedupeKey: "k:2"}}, "targets[1]"},
		{"two ids", func(*model.Notice) {}, []notify.Target{{Recipient: model.Recipient{UserID: 1, OpenID: "o"}, DedupeKey: "k"}}, "targets[0]"},
		{"no key", func(*model.Notice) {}, []notify.Target{{Recipient: model.Recipient{UserID: 1}}}, "targets[0]"},
		{"key not ascii", func(*model.Notice) {}, []notify.Target{{Recipient: model.Recipient{UserID: 1}, DedupeKey: "课"}}, "targets[0]"},
		{"field too long", func(n *model.Notice) { n.Fields["title"] = strings.Repeat("长", 501) }, []notify.Target{ok}, "fields"},
		{"time that is not one", func(n *model.Notice) { n.Fields["time"] = "tomorrow" }, []notify.Target{ok}, "fields.time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := bulkNotice(push)
			tt.edit(&n)
			_, err := e.svc.NotifyMany(context.Background(), n, tt.to)
			var me *model.Error
			if !errors.As(err, &me) || !errors.Is(err, model.ErrInvalid) || me.Fields[tt.field] == "" {
				t.Errorf("NotifyMany() = %v, want ErrInvalid naming %s", err, tt.field)
			}
		})
	}
	if got := e.rq.snapshot(); len(got) != 0 {
		t.Errorf("queued %d tasks after invalid calls", len(got))
	}
	n, err := e.svc.NotifyMany(context.Background(), bulkNotice(push), nil)
	if err != nil || n != 0 {
		t.Errorf("NotifyMany(no targets) = %d, %v", n, err)
	}
}

// TestNotifyManyFeedsAWindow: a bulk push hands FeedWindow deliveries to
// the queue at a time, tops up as they end, and sends each key once even
// when the same targets are notified twice.
func TestNotifyManyFeedsAWindow(t *testing.T) {
	const n, window = 25, 10
	e := mustEnv(t, envOptions{feed: window})
	ctx := context.Background()
	push := e.mustPush(t)
	to := e.mustTargets(t, "oMP_bulk_", n, push)
	created, err := e.svc.NotifyMany(ctx, bulkNotice(push), to)
	if err != nil || created != n {
		t.Fatalf("NotifyMany() = %d, %v, want %d", created, err, n)
	}
	tasks := e.rq.snapshot()
	if len(tasks) != window {
		t.Fatalf("tasks after NotifyMany = %d, want the window of %d", len(tasks), window)
	}
	for i := 1; i < len(tasks); i++ {
		if tasks[i].id <= tasks[i-1].id || tasks[i].taskID != notify.TaskID(tasks[i].id) {
			t.Errorf("task %d = %+v, want ascending deliveries under their own task id", i, tasks[i])
		}
	}
	again, err := e.svc.NotifyMany(ctx, bulkNotice(push), to[:5])
	if err != nil || again != 0 || len(e.rq.snapshot()) != window {
		t.Errorf("NotifyMany(same targets) = %d, %v with %d tasks, want nothing new", again, err, len(e.rq.snapshot()))
	}
	for _, tk := range tasks[:4] {
		if err := e.svc.Deliver(ctx, tk.id, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.Sweep(ctx); err != nil { // the sweep feeds the push
		t.Fatal(err)
	}
	if got := len(e.rq.snapshot()); got != window+4 {
		t.Errorf("tasks after 4 sent and a sweep = %d, want %d", got, window+4)
	}
	// Deliver everything, feeding as the sweeper would.
	for range 10 {
		for id, err := range e.deliverAll(t) {
			t.Fatalf("Deliver(%d) = %v", id, err)
		}
		if err := e.svc.Feed(ctx); err != nil {
			t.Fatal(err)
		}
	}
	per := map[string]int{}
	for _, m := range e.sim.Sent(wxsim.KindSubscribe) {
		per[m.ToUser]++
	}
	if len(per) != n {
		t.Errorf("recipients = %d, want %d", len(per), n)
	}
	for u, c := range per {
		if c != 1 {
			t.Errorf("%s got %d messages, want 1", u, c)
		}
	}
	sum, err := e.svc.Push(ctx, push)
	if err != nil || sum.Counts.Targets != n || sum.Counts.Sent != n || sum.Counts.Pending != 0 {
		t.Errorf("Push() = %+v, %v, want %d targets all sent", sum.Counts, err, n)
	}
}

// TestNotifyManyRestart: a bulk push through the job runner (feeding on
// the sweeper's schedule) is stopped halfway and resumed by a new runner;
// every recipient gets exactly one message and the send-rate cap holds.
func TestNotifyManyRestart(t *testing.T) {
	const n, rate = 60, 40
	e := mustEnv(t, envOptions{runner: true, noWorker: true, rate: rate, feed: 15, shutdown: 50 * time.Millisecond})
	e.sim.Delay(subscribePath, 30*time.Millisecond)
	ctx := context.Background()
	first := e.startWorker(t, 4)
	push := e.mustPush(t)
	to := e.mustTargets(t, "oMP_restart_", n, push)
	for i := 0; i < n; i += 20 {
		if _, err := e.svc.NotifyMany(ctx, bulkNotice(push), to[i:i+20]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.NotifyMany(ctx, bulkNotice(push), to[:20]); err != nil { // published twice
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a third of the push", func() bool { return len(e.sim.Sent(wxsim.KindSubscribe)) >= n/3 })
	first.Shutdown()
	stoppedAt := len(e.sim.Sent(wxsim.KindSubscribe))
	if stoppedAt >= n {
		t.Fatalf("the first runner sent all %d before it was stopped", n)
	}
	e.startWorker(t, 4)
	waitFor(t, 30*time.Second, "the whole push", func() bool { return e.finalCount(t) == n })
	sent := e.sim.Sent(wxsim.KindSubscribe)
	per := map[string]int{}
	for _, m := range sent {
		per[m.ToUser]++
	}
	for u, c := range per {
		if c != 1 {
			t.Errorf("%s received %d messages, want 1", u, c)
		}
	}
	if len(per) != n {
		t.Errorf("recipients reached = %d, want %d", len(per), n)
	}
	// No window of w holds more than the cap allows (rate·w, the burst of
	// 1, and the slots booked by the runners' workers).
	const w = 500 * time.Millisecond
	for i := range sent {
		in := 0
		for j := i; j < len(sent) && sent[j].At.Sub(sent[i].At) < w; j++ {
			in++
		}
		if limit := int(rate*w/time.Second) + 8 + 1; in > limit {
			t.Errorf("%d messages within %v from message %d, want at most %d", in, w, i, limit)
		}
	}
	t.Logf("stopped after %d of %d", stoppedAt, n)
}

// TestNotifyManyQuietHours: a bulk notice accepted at night is handed to
// the queue for 08:00; an urgent one at once.
func TestNotifyManyQuietHours(t *testing.T) {
	night := time.Date(2026, 3, 8, 23, 30, 0, 0, time.FixedZone("CST", 8*3600))
	morning := time.Date(2026, 3, 9, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	e := mustEnv(t, envOptions{now: night, quiet: "22:00-08:00"})
	ctx := context.Background()
	push := e.mustPush(t)
	to := e.mustTargets(t, "oMP_night_", 3, push)
	if _, err := e.svc.NotifyMany(ctx, bulkNotice(push), to[:2]); err != nil {
		t.Fatal(err)
	}
	urgent := bulkNotice(push)
	urgent.Urgent = true
	if _, err := e.svc.NotifyMany(ctx, urgent, to[2:]); err != nil {
		t.Fatal(err)
	}
	tasks := e.rq.snapshot()
	if len(tasks) != 3 || !tasks[0].at.Equal(morning) || !tasks[1].at.Equal(morning) || !tasks[2].at.Equal(night) {
		t.Fatalf("queued %+v, want two at %v and the urgent one at once", tasks, morning)
	}
	for _, tk := range tasks {
		if err := e.svc.Deliver(ctx, tk.id, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.sim.Sent(wxsim.KindSubscribe)); n != 1 {
		t.Errorf("messages sent at 23:30 = %d, want the urgent one", n)
	}
}

// TestNotifyManyInTransaction: notices accepted in a transaction are fed
// after the commit (by the sweep); a rollback leaves nothing.
func TestNotifyManyInTransaction(t *testing.T) {
	e := mustEnv(t, envOptions{})
	ctx := context.Background()
	push := e.mustPush(t)
	to := e.mustTargets(t, "oMP_tx_", 4, push)
	err := e.db.WithTx(ctx, func(ctx context.Context) error {
		_, err := e.svc.NotifyMany(ctx, bulkNotice(push), to[:2])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rollback := errors.New("rollback")
	err = e.db.WithTx(ctx, func(ctx context.Context) error {
		if _, err := e.svc.NotifyMany(ctx, bulkNotice(push), to[2:]); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if got := len(e.rq.snapshot()); got != 0 {
		t.Fatalf("tasks right after the commit = %d, want 0 (fed by the sweep)", got)
	}
	if err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(e.rq.snapshot()); got != 2 {
		t.Errorf("tasks after the sweep = %d, want the 2 committed notices", got)
	}
	// The caller may feed at once after its commit instead.
	other := e.mustPush(t)
	more := e.mustTargets(t, "oMP_tx2_", 3, other)
	if err := e.db.WithTx(ctx, func(ctx context.Context) error {
		_, err := e.svc.NotifyMany(ctx, bulkNotice(other), more)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.FeedPush(ctx, other); err != nil || n != 3 || len(e.rq.snapshot()) != 5 {
		t.Errorf("FeedPush() = %d, %v with %d tasks, want 3 more", n, err, len(e.rq.snapshot()))
	}
	if _, err := e.svc.FeedPush(ctx, 0); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("FeedPush(0) = %v, want ErrInvalid", err)
	}
}

// TestMarkRead: opening a lesson after its notice was sent counts as read,
// once.
func TestMarkRead(t *testing.T) {
	e := mustEnv(t, envOptions{})
	ctx := context.Background()
	push := e.mustPush(t)
	to := e.mustTargets(t, "oMP_read_", 2, push)
	if _, err := e.svc.NotifyMany(ctx, bulkNotice(push), to); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.svc.MarkRead(ctx, to[0].DedupeKey); err != nil || ok {
		t.Errorf("MarkRead(before the send) = %v, %v, want false", ok, err)
	}
	for id, err := range e.deliverAll(t) {
		t.Fatalf("Deliver(%d) = %v", id, err)
	}
	if ok, err := e.svc.MarkRead(ctx, to[0].DedupeKey); err != nil || !ok {
		t.Errorf("MarkRead(after the send) = %v, %v, want true", ok, err)
	}
	if ok, err := e.svc.MarkRead(ctx, to[0].DedupeKey); err != nil || ok {
		t.Errorf("MarkRead(again) = %v, %v, want false", ok, err)
	}
	if _, err := e.svc.MarkRead(ctx, ""); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("MarkRead(\"\") = %v, want ErrInvalid", err)
	}
	sum, err := e.svc.Push(ctx, push)
	if err != nil || sum.Counts.Sent != 2 || sum.Counts.Read != 1 {
		t.Errorf("Push() = %+v, %v, want 2 sent, 1 read", sum.Counts, err)
	}
	id, err := e.svc.SubscribeTemplate(ctx, notify.TopicLessonPublished)
	if err != nil || id != mpTemplate(notify.TopicLessonPublished) {
		t.Errorf("SubscribeTemplate() = %q, %v", id, err)
	}
}

// TestCancelPush: cancelling a push skips its notices not yet sent — the
// queued ones and those handed to the queue — and every notice of it that
// comes later (a bulk call that raced the cancellation, a single notice);
// what was sent stays sent.
func TestCancelPush(t *testing.T) {
	e := mustEnv(t, envOptions{feed: 3})
	ctx := context.Background()
	push := e.mustPush(t)
	to := e.mustTargets(t, "oMP_cancel_", 6, push)
	if _, err := e.svc.NotifyMany(ctx, bulkNotice(push), to[:5]); err != nil {
		t.Fatal(err)
	}
	tasks := e.rq.snapshot()
	if len(tasks) != 3 {
		t.Fatalf("tasks = %d, want the window of 3", len(tasks))
	}
	if err := e.svc.Deliver(ctx, tasks[0].id, false); err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.CancelPush(ctx, push)
	if err != nil || n != 4 {
		t.Fatalf("CancelPush() = %d, %v, want 4 skipped (2 handed over, 2 queued)", n, err)
	}
	for id, err := range e.deliverAll(t) { // the tasks of the skipped ones find nothing to send
		t.Errorf("Deliver(%d) = %v", id, err)
	}
	if err := e.svc.Feed(ctx); err != nil {
		t.Fatal(err)
	}
	// A fan-out page that raced the cancellation, and a single notice.
	if _, err := e.svc.NotifyMany(ctx, bulkNotice(push), to[5:]); err != nil {
		t.Fatal(err)
	}
	single := lessonNotice("single-after-cancel")
	single.PushID = push
	e.mustNotify(t, model.Recipient{UserID: to[0].Recipient.UserID}, single)
	if err := e.svc.Feed(ctx); err != nil {
		t.Fatal(err)
	}
	for id, err := range e.deliverAll(t) {
		t.Errorf("Deliver(%d) = %v", id, err)
	}
	if got := len(e.sim.Sent(wxsim.KindSubscribe)); got != 1 {
		t.Errorf("messages sent = %d, want only the one sent before the cancellation", got)
	}
	sum, err := e.svc.Push(ctx, push)
	if err != nil || sum.Counts.Targets != 7 || sum.Counts.Sent != 1 || sum.Counts.Skipped != 6 || sum.Counts.Pending != 0 {
		t.Errorf("Push() = %+v, %v, want 1 sent and 6 skipped of 7", sum.Counts, err)
	}
	if sum.CancelledAt.IsZero() {
		t.Error("Push().CancelledAt is zero")
	}
	if d := e.delivery(t, to[1].DedupeKey); d.Status != model.DeliverySkipped || d.Error != notify.ReasonPushCancelled {
		t.Errorf("a skipped delivery = %s %q, want skipped for the cancellation", d.Status, d.Error)
	}
	first := sum.CancelledAt
	if n, err := e.svc.CancelPush(ctx, push); err != nil || n != 0 {
		t.Errorf("CancelPush(again) = %d, %v, want nothing", n, err)
	}
	if again, _ := e.svc.Push(ctx, push); !again.CancelledAt.Equal(first) {
		t.Errorf("CancelledAt after a second cancel = %v, want %v kept", again.CancelledAt, first)
	}
	if _, err := e.svc.CancelPush(ctx, 9999); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("CancelPush(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := e.svc.CancelPush(ctx, 0); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("CancelPush(0) = %v, want ErrInvalid", err)
	}
}

// cancellingSender cancels a push while a notice of it is being sent,
// then answers with err (nil: WeChat accepted it).
type cancellingSender struct {
	notify.Sender
	cancel func()
	err    error
}

func (s cancellingSender) SendSubscribe(ctx context.Context, m notify.SubscribeMessage) (string, error) {
	s.cancel()
	if s.err != nil {
		return "", s.err
	}
	return s.Sender.SendSubscribe(ctx, m)
}

// TestCancelPushInFlight: a notice being sent when its push is cancelled
// ends as it would have (sent, when WeChat took it); one whose try fails
// meanwhile is skipped rather than put back for a retry.
func TestCancelPushInFlight(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"sent", nil, model.DeliverySent},
		{"retryable failure", &notify.SendError{Errcode: -1, Retry: true, Err: errors.New("system error")}, model.DeliverySkipped},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t, envOptions{})
			ctx := context.Background()
			push := e.mustPush(t)
			to := e.mustTargets(t, "oMP_flight_", 1, push)
			var svc *notify.Service
			d := e.deps
			d.Sender = cancellingSender{Sender: e.deps.Sender, err: tt.err, cancel: func() {
				if _, err := svc.CancelPush(ctx, push); err != nil {
					t.Errorf("CancelPush() = %v", err)
				}
			}}
			svc = mustService(t, d)
			if _, err := svc.NotifyMany(ctx, bulkNotice(push), to); err != nil {
				t.Fatal(err)
			}
			tasks := e.rq.snapshot()
			if len(tasks) != 1 {
				t.Fatalf("tasks = %d, want 1", len(tasks))
			}
			if err := svc.Deliver(ctx, tasks[0].id, false); err != nil {
				t.Errorf("Deliver() = %v, want nil (nothing to retry)", err)
			}
			if got := e.delivery(t, to[0].DedupeKey); got.Status != tt.want {
				t.Errorf("delivery = %s (%s), want %s", got.Status, got.Error, tt.want)
			}
		})
	}
}
