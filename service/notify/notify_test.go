package notify_test

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
	"wanjia/service/notify"
	"wanjia/wechat/wxsim"
)

func TestNotifyValidation(t *testing.T) {
	e := mustEnv(t, envOptions{})
	user := model.Recipient{UserID: 1}
	tests := []struct {
		name  string
		r     model.Recipient
		n     model.Notice
		field string
	}{
		{"no recipient", model.Recipient{}, lessonNotice("k"), "recipient"},
		{"two recipients", model.Recipient{UserID: 1, StaffID: 2}, lessonNotice("k"), "recipient"},
		{"no dedupe key", user, lessonNotice(""), "dedupe_key"},
		{"long dedupe key", user, lessonNotice(strings.Repeat("k", 129)), "dedupe_key"},
		{"non-ascii dedupe key", user, lessonNotice("课:1"), "dedupe_key"},
		{"unknown topic", user, model.Notice{Topic: "nope", DedupeKey: "k"}, "topic"},
		{"missing field", user, model.Notice{Topic: notify.TopicLessonPublished, DedupeKey: "k",
			Fields: map[string]string{"time": "2026-03-08 20:00"}}, "fields.title"},
		{"bad time", user, model.Notice{Topic: notify.TopicLessonPublished, DedupeKey: "k",
			Fields: map[string]string{"title": "课", "time": "tomorrow"}}, "fields.time"},
		{"phrase too long", user, model.Notice{Topic: notify.TopicNominationReviewed, DedupeKey: "k",
			Fields: map[string]string{"family": "李家", "result": "已经审核通过了"}}, "fields.result"},
		{"bad url", user, model.Notice{Topic: notify.TopicCaseUpdate, DedupeKey: "k", URL: "javascript:alert(1)",
			Fields: map[string]string{"time": "2026-03-08 20:00"}}, "url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.svc.Notify(context.Background(), tt.r, tt.n)
			var me *model.Error
			if !errors.As(err, &me) || !errors.Is(err, model.ErrInvalid) || me.Fields[tt.field] == "" {
				t.Fatalf("Notify() = %v, want ErrInvalid naming %s", err, tt.field)
			}
		})
	}
	if got := e.rq.snapshot(); len(got) != 0 {
		t.Errorf("invalid notices queued %d tasks", len(got))
	}
}

// TestChannelChoice: each recipient gets the first channel that reaches
// her: MP subscribe with consent, else an OA template when she follows,
// else a customer-service message inside 48 h, else no_consent/no_channel.
func TestChannelChoice(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		topic   string
		setup   func(t *testing.T, e *env) model.Recipient
		status  string
		channel string
		kind    wxsim.MessageKind // what the simulator received ("" nothing)
	}{
		{"consent: subscribe message", notify.TopicLessonPublished, func(t *testing.T, e *env) model.Recipient {
			u := e.mustUser(t, "oMP_consent", "")
			e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 1)
			return model.Recipient{UserID: u.ID}
		}, model.DeliverySent, model.ChannelMPSubscribe, wxsim.KindSubscribe},
		{"no consent, follows: template message", notify.TopicLessonPublished, func(t *testing.T, e *env) model.Recipient {
			u := e.mustUser(t, "oMP_follow", "uFollow")
			e.followers.put(model.Follower{OpenID: "oOA_follow", UnionID: "uFollow", Subscribed: true})
			return model.Recipient{UserID: u.ID}
		}, model.DeliverySent, model.ChannelOATemplate, wxsim.KindTemplate},
		{"no consent, unfollowed: no consent", notify.TopicLessonPublished, func(t *testing.T, e *env) model.Recipient {
			u := e.mustUser(t, "oMP_gone", "uGone")
			e.followers.put(model.Follower{OpenID: "oOA_gone", UnionID: "uGone", Subscribed: false})
			e.messages.wrote("oOA_gone", now.Add(-time.Hour))
			return model.Recipient{UserID: u.ID}
		}, model.DeliveryNoConsent, model.ChannelMPSubscribe, ""},
		{"used-up consent: no consent", notify.TopicLessonPublished, func(t *testing.T, e *env) model.Recipient {
			u := e.mustUser(t, "oMP_used", "")
			e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 1)
			if ok, _, err := e.ns.UseConsent(context.Background(), model.AppMP, u.OpenID, mpTemplate(notify.TopicLessonPublished)); !ok || err != nil {
				t.Fatalf("UseConsent() = %v, %v", ok, err)
			}
			return model.Recipient{UserID: u.ID}
		}, model.DeliveryNoConsent, model.ChannelMPSubscribe, ""},
		{"follower recipient: template message", notify.TopicLessonPublished, func(t *testing.T, e *env) model.Recipient {
			e.followers.put(model.Follower{OpenID: "oOA_only", Subscribed: true})
			return model.Recipient{OpenID: "oOA_only"}
		}, model.DeliverySent, model.ChannelOATemplate, wxsim.KindTemplate},
		{"follower linked to a consenting user: subscribe message", notify.TopicLessonPublished, func(t *testing.T, e *env) model.Recipient {
			u := e.mustUser(t, "oMP_linked", "uLinked")
			e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 1)
			e.followers.put(model.Follower{OpenID: "oOA_linked", UnionID: "uLinked", Subscribed: true, UserID: u.ID})
			return model.Recipient{OpenID: "oOA_linked"}
		}, model.DeliverySent, model.ChannelMPSubscribe, wxsim.KindSubscribe},
		{"unfollowed follower: no channel", notify.TopicLessonPublished, func(t *testing.T, e *env) model.Recipient {
			e.followers.put(model.Follower{OpenID: "oOA_left", Subscribed: false})
			return model.Recipient{OpenID: "oOA_left"}
		}, model.DeliveryNoChannel, "", ""},
		{"text only, wrote an hour ago: customer message", "text_only", func(t *testing.T, e *env) model.Recipient {
			e.followers.put(model.Follower{OpenID: "oOA_wrote", Subscribed: true})
			e.messages.wrote("oOA_wrote", now.Add(-time.Hour))
			return model.Recipient{OpenID: "oOA_wrote"}
		}, model.DeliverySent, model.ChannelOACustom, wxsim.KindCustom},
		{"text only, wrote 49 hours ago: no channel", "text_only", func(t *testing.T, e *env) model.Recipient {
			e.followers.put(model.Follower{OpenID: "oOA_old", Subscribed: true})
			e.messages.wrote("oOA_old", now.Add(-49*time.Hour))
			return model.Recipient{OpenID: "oOA_old"}
		}, model.DeliveryNoChannel, "", ""},
		{"switched-off topic: skipped", "switched_off", func(t *testing.T, e *env) model.Recipient {
			u := e.mustUser(t, "oMP_off", "")
			return model.Recipient{UserID: u.ID}
		}, model.DeliverySkipped, "", ""},
		{"user gone: skipped", notify.TopicLessonPublished, func(t *testing.T, e *env) model.Recipient {
			return model.Recipient{UserID: 424242}
		}, model.DeliverySkipped, "", ""},
		{"staff: console alert", notify.TopicLessonPublished, func(t *testing.T, e *env) model.Recipient {
			return model.Recipient{StaffID: 5}
		}, model.DeliverySent, model.ChannelConsole, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t, envOptions{})
			ctx := context.Background()
			_, err := e.svc.UpdateTemplates(ctx, []model.NotifyTemplate{
				{Topic: "text_only", Name: "文字", Text: "通知：{title}", Enabled: true},
				{Topic: "switched_off", Name: "停用", Text: "x", Enabled: false},
			})
			if err != nil {
				t.Fatal(err)
			}
			r := tt.setup(t, e)
			n := lessonNotice("choice")
			n.Topic = tt.topic
			e.mustNotify(t, r, n)
			for id, err := range e.deliverAll(t) {
				t.Fatalf("Deliver(%d) = %v", id, err)
			}
			d := e.delivery(t, "choice")
			if d.Status != tt.status || d.Channel != tt.channel {
				t.Errorf("delivery = %s via %q (%s), want %s via %q", d.Status, d.Channel, d.Error, tt.status, tt.channel)
			}
			sent := e.sim.Sent("")
			switch {
			case tt.kind == "" && len(sent) != 0:
				t.Errorf("simulator received %d messages, want none", len(sent))
			case tt.kind != "" && (len(sent) != 1 || sent[0].Kind != tt.kind):
				t.Errorf("simulator received %+v, want one %s message", sent, tt.kind)
			}
		})
	}
}

func TestMessagesAsSent(t *testing.T) {
	e := mustEnv(t, envOptions{})
	u := e.mustUser(t, "oMP_a", "uA")
	e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 1)
	e.followers.put(model.Follower{OpenID: "oOA_a", UnionID: "uA", Subscribed: true})
	long := "这是一个非常非常非常非常长的微课标题，超过二十个字"
	n := lessonNotice("msg:1")
	n.Fields["title"] = long
	e.mustNotify(t, model.Recipient{UserID: u.ID}, n)
	n2 := lessonNotice("msg:2")
	n2.Fields["title"] = long
	e.mustNotify(t, model.Recipient{UserID: u.ID}, n2) // the consent is used up: OA template
	for id, err := range e.deliverAll(t) {
		t.Fatalf("Deliver(%d) = %v", id, err)
	}
	cut := string([]rune(long)[:19]) + "…"
	got := e.sim.Sent("")
	want := []wxsim.SentMessage{
		{Kind: wxsim.KindSubscribe, AppID: mpApp, ToUser: "oMP_a", TemplateID: mpTemplate(notify.TopicLessonPublished),
			Page: "pages/lesson/index?id=3",
			Data: map[string]string{"thing1": cut, "thing2": "家庭教育微课堂", "time3": "2026年3月8日 20:00", "thing4": "点击进入学习"}},
		{Kind: wxsim.KindTemplate, AppID: oaApp, ToUser: "oOA_a", TemplateID: "sandbox_oa_lesson_published",
			Page: "pages/lesson/index?id=3", ClientMsgID: fmt.Sprintf("wanjia-%d", e.delivery(t, "msg:2").ID),
			Data: map[string]string{"thing1": cut, "time2": "2026年3月8日 20:00"}},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(wxsim.SentMessage{}, "MsgID", "Body", "At")); diff != "" {
		t.Errorf("sent messages mismatch (-want +got):\n%s", diff)
	}
	d := e.delivery(t, "msg:1")
	if d.MsgID != fmt.Sprint(got[0].MsgID) || d.SentAt.IsZero() || d.TemplateID != mpTemplate(notify.TopicLessonPublished) {
		t.Errorf("delivery msg:1 = %+v, want msgid %d and a sent time", d, got[0].MsgID)
	}
}

// Test43101: WeChat refuses the send (no consent after all): the ledger
// entry is used up, the delivery is no_consent, and the task is not
// retried.
func Test43101(t *testing.T) {
	e := mustEnv(t, envOptions{runner: true})
	u := e.mustUser(t, "oMP_refuse", "")
	e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 3)
	e.sim.RefuseFor(u.OpenID, mpTemplate(notify.TopicLessonPublished))
	e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice("refuse"))
	waitFor(t, 5*time.Second, "the delivery to end", func() bool { return e.finalCount(t) == 1 })
	time.Sleep(200 * time.Millisecond) // room for a wrong retry
	d := e.delivery(t, "refuse")
	if d.Status != model.DeliveryNoConsent || d.Errcode != 43101 || d.Attempts != 1 {
		t.Errorf("delivery = %+v, want no_consent with errcode 43101 after one attempt", d)
	}
	if calls := len(e.sim.Calls(subscribePath)); calls != 1 {
		t.Errorf("subscribe/send calls = %d, want 1 (43101 is not retried)", calls)
	}
	cs, err := e.ns.ConsentsOf(context.Background(), model.AppMP, u.OpenID)
	if err != nil || len(cs) != 1 || cs[0].Remaining != 0 {
		t.Errorf("ConsentsOf() = %+v, %v, want the consent used up", cs, err)
	}
}

func TestDeliver43101IsPermanent(t *testing.T) {
	e := mustEnv(t, envOptions{})
	u := e.mustUser(t, "oMP_refuse", "")
	e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 1)
	e.sim.RefuseFor(u.OpenID)
	e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice("refuse"))
	errs := e.deliverAll(t)
	if len(errs) != 1 {
		t.Fatalf("Deliver() errors = %v, want one", errs)
	}
	for _, err := range errs {
		if !errors.Is(err, notify.ErrPermanent) {
			t.Errorf("Deliver() = %v, want ErrPermanent", err)
		}
	}
}

// Test45009: a frequency limit is retried with backoff, then sent once; the
// consent is used once.
func Test45009(t *testing.T) {
	e := mustEnv(t, envOptions{runner: true})
	u := e.mustUser(t, "oMP_busy", "")
	e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 1)
	e.sim.Fail(subscribePath, 45009, 1)
	e.sim.Fail("/cgi-bin/message/subscribe/send", 45009, 2)
	e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice("busy"))
	waitFor(t, 5*time.Second, "the delivery to be sent", func() bool { return e.delivery(t, "busy").Status == model.DeliverySent })
	d := e.delivery(t, "busy")
	if d.Attempts != 3 || d.Channel != model.ChannelMPSubscribe {
		t.Errorf("delivery = %+v, want sent on the third attempt", d)
	}
	if n := len(e.sim.Sent(wxsim.KindSubscribe)); n != 1 {
		t.Errorf("subscribe messages sent = %d, want 1", n)
	}
	cs, err := e.ns.ConsentsOf(context.Background(), model.AppMP, u.OpenID)
	if err != nil || len(cs) != 1 || cs[0].Remaining != 0 {
		t.Errorf("ConsentsOf() = %+v, %v, want the one authorisation used once", cs, err)
	}
}

// TestRetryGivesUp: a send failing with -1 on every try ends failed on the
// last try instead of staying pending.
func TestRetryGivesUp(t *testing.T) {
	e := mustEnv(t, envOptions{runner: true})
	u := e.mustUser(t, "oMP_down", "")
	e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 1)
	e.sim.Fail(subscribePath, -1, 100)
	e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice("down"))
	waitFor(t, 5*time.Second, "the delivery to end", func() bool { return e.finalCount(t) == 1 })
	d := e.delivery(t, "down")
	if d.Status != model.DeliveryFailed || d.Errcode != -1 || d.Attempts != 4 {
		t.Errorf("delivery = %+v, want failed with errcode -1 after 4 attempts (3 retries)", d)
	}
	cs, _ := e.ns.ConsentsOf(context.Background(), model.AppMP, u.OpenID)
	if len(cs) != 1 || cs[0].Remaining != 1 {
		t.Errorf("ConsentsOf() = %+v, want the authorisation given back", cs)
	}
}

func TestPermanentFailure(t *testing.T) {
	e := mustEnv(t, envOptions{})
	u := e.mustUser(t, "oMP_bad", "")
	e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 1)
	e.sim.Fail(subscribePath, 40003, 1)
	e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice("bad"))
	for _, err := range e.deliverAll(t) {
		if !errors.Is(err, notify.ErrPermanent) {
			t.Errorf("Deliver() = %v, want ErrPermanent", err)
		}
	}
	d := e.delivery(t, "bad")
	if d.Status != model.DeliveryFailed || d.Errcode != 40003 {
		t.Errorf("delivery = %+v, want failed with 40003", d)
	}
}

// TestDedupeKey: the same DedupeKey twice is one delivery and one send.
func TestDedupeKey(t *testing.T) {
	e := mustEnv(t, envOptions{runner: true})
	u := e.mustUser(t, "oMP_twice", "")
	e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 5)
	for range 3 {
		e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice("lesson:3:user:1"))
	}
	waitFor(t, 5*time.Second, "the delivery to be sent", func() bool { return e.finalCount(t) == 1 })
	e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice("lesson:3:user:1"))
	time.Sleep(200 * time.Millisecond)
	if n := len(e.sim.Sent(wxsim.KindSubscribe)); n != 1 {
		t.Errorf("messages sent for one key notified 4 times = %d, want 1", n)
	}
	ds, _, _ := e.ns.ListDeliveries(context.Background(), model.DeliveryFilter{}, model.Page{})
	if len(ds) != 1 {
		t.Errorf("deliveries = %d, want 1", len(ds))
	}
}

// TestNotifyInTransaction: a notice written in a transaction is handed over
// by the sweeper once it commits; a rolled-back one is never sent.
func TestNotifyInTransaction(t *testing.T) {
	e := mustEnv(t, envOptions{runner: true})
	u := e.mustUser(t, "oMP_tx", "")
	e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 2)
	ctx := context.Background()
	err := e.db.WithTx(ctx, func(ctx context.Context) error {
		return e.svc.Notify(ctx, model.Recipient{UserID: u.ID}, lessonNotice("tx:commit"))
	})
	if err != nil {
		t.Fatal(err)
	}
	rollback := errors.New("rollback")
	err = e.db.WithTx(ctx, func(ctx context.Context) error {
		if err := e.svc.Notify(ctx, model.Recipient{UserID: u.ID}, lessonNotice("tx:rollback")); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the committed notice to be sent", func() bool {
		return e.delivery(t, "tx:commit").Status == model.DeliverySent
	})
	if n := len(e.sim.Sent(wxsim.KindSubscribe)); n != 1 {
		t.Errorf("messages sent = %d, want 1 (the committed notice)", n)
	}
}

// TestWorkerKilledMidPush stops the job runner halfway through a push and
// starts a new one: every recipient gets exactly one message. Sends take
// 120 ms and the runner gives its handlers 50 ms at shutdown, so sends are
// in flight when their tasks are cancelled and handed back to the queue.
func TestWorkerKilledMidPush(t *testing.T) {
	const n = 40
	e := mustEnv(t, envOptions{runner: true, noWorker: true, rate: 25, shutdown: 50 * time.Millisecond})
	e.sim.Delay(subscribePath, 120*time.Millisecond)
	ctx := context.Background()
	first := e.startWorker(t, 4)
	pushID, err := e.svc.CreatePush(ctx, "第3课", notify.TopicLessonPublished)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		u := e.mustUser(t, fmt.Sprintf("oMP_push_%02d", i), "")
		e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 1)
		nt := lessonNotice(fmt.Sprintf("push:%d:user:%d", pushID, u.ID))
		nt.PushID = pushID
		e.mustNotify(t, model.Recipient{UserID: u.ID}, nt)
	}
	waitFor(t, 10*time.Second, "a third of the push", func() bool { return len(e.sim.Sent(wxsim.KindSubscribe)) >= n/3 })
	first.Shutdown()
	stoppedAt := len(e.sim.Sent(wxsim.KindSubscribe))
	e.startWorker(t, 4)
	if stoppedAt >= n {
		t.Fatalf("the first runner sent all %d messages before it was stopped", n)
	}
	waitFor(t, 20*time.Second, "the whole push", func() bool { return e.finalCount(t) == n })
	per := map[string]int{}
	for _, m := range e.sim.Sent(wxsim.KindSubscribe) {
		per[m.ToUser]++
	}
	for u, c := range per {
		if c != 1 {
			t.Errorf("%s received %d messages, want 1", u, c)
		}
	}
	if len(per) != n {
		t.Errorf("recipients reached = %d, want %d (stopped after %d)", len(per), n, stoppedAt)
	}
	retried := 0
	ds, _, _ := e.ns.ListDeliveries(ctx, model.DeliveryFilter{PushID: pushID}, model.Page{Limit: 100})
	for _, d := range ds {
		if d.Attempts > 1 {
			retried++
		}
	}
	t.Logf("stopped after %d sends; %d deliveries claimed more than once", stoppedAt, retried)
	sum, err := e.svc.Push(ctx, pushID)
	if err != nil || sum.Counts.Targets != n || sum.Counts.Sent != n || sum.Counts.Channels[model.ChannelMPSubscribe] != n {
		t.Errorf("Push() = %+v, %v, want %d targets all sent", sum, err, n)
	}
}

// TestQuietHours: a non-urgent notice accepted at night waits for 08:00;
// an urgent one goes at once; a delivery coming due at night is put off.
func TestQuietHours(t *testing.T) {
	night := time.Date(2026, 3, 8, 23, 30, 0, 0, time.FixedZone("CST", 8*3600))
	morning := time.Date(2026, 3, 9, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	e := mustEnv(t, envOptions{now: night, quiet: "22:00-08:00"})
	u := e.mustUser(t, "oMP_night", "")
	e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 3)
	e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice("night"))
	urgent := lessonNotice("urgent")
	urgent.Urgent = true
	e.mustNotify(t, model.Recipient{UserID: u.ID}, urgent)

	tasks := e.rq.snapshot()
	if len(tasks) != 2 || !tasks[0].at.Equal(morning) || !tasks[1].at.Equal(night) {
		t.Fatalf("queued %+v, want the night notice at %v and the urgent one at once", tasks, morning)
	}
	d := e.delivery(t, "night")
	if err := e.svc.Deliver(context.Background(), d.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Deliver(context.Background(), e.delivery(t, "urgent").ID, false); err != nil {
		t.Fatal(err)
	}
	if got := e.delivery(t, "night").Status; got != model.DeliveryPending {
		t.Errorf("night delivery at 23:30 = %s, want pending", got)
	}
	if got := e.delivery(t, "urgent").Status; got != model.DeliverySent {
		t.Errorf("urgent delivery at 23:30 = %s, want sent", got)
	}
	// A delivery that was due before the night (say a retry) is put off.
	e.clock.Set(night.Add(-2 * time.Hour))
	e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice("evening"))
	e.clock.Set(night)
	if err := e.svc.Deliver(context.Background(), e.delivery(t, "evening").ID, false); err != nil {
		t.Fatal(err)
	}
	ev := e.delivery(t, "evening")
	if ev.Status != model.DeliveryPending || !ev.NotBefore.Equal(morning) {
		t.Errorf("evening delivery at 23:30 = %s due %v, want pending until %v", ev.Status, ev.NotBefore, morning)
	}
	last := e.rq.snapshot()
	if q := last[len(last)-1]; q.id != ev.ID || !q.at.Equal(morning) || q.taskID == notify.TaskID(ev.ID) {
		t.Errorf("put-off task = %+v, want delivery %d at %v under a new task id", q, ev.ID, morning)
	}

	e.clock.Set(morning)
	for _, key := range []string{"night", "evening"} {
		if err := e.svc.Deliver(context.Background(), e.delivery(t, key).ID, false); err != nil {
			t.Fatal(err)
		}
		if got := e.delivery(t, key).Status; got != model.DeliverySent {
			t.Errorf("%s delivery at 08:00 = %s, want sent", key, got)
		}
	}
	if n := len(e.sim.Sent(wxsim.KindSubscribe)); n != 3 {
		t.Errorf("messages sent = %d, want 3", n)
	}
}

// TestRateCap: sends of one app are spaced at the cap, across workers.
func TestRateCap(t *testing.T) {
	const rate, n, workers = 20, 21, 8
	e := mustEnv(t, envOptions{runner: true, rate: rate, workers: workers})
	start := time.Now()
	for i := range n {
		u := e.mustUser(t, fmt.Sprintf("oMP_rate_%02d", i), "")
		e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 1)
		e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice(fmt.Sprintf("rate:%d", i)))
	}
	waitFor(t, 10*time.Second, "every message", func() bool { return len(e.sim.Sent(wxsim.KindSubscribe)) == n })
	sent := e.sim.Sent(wxsim.KindSubscribe)
	span := sent[n-1].At.Sub(sent[0].At)
	want := time.Duration(n-1) * time.Second / rate
	if span < want-150*time.Millisecond || span > want+time.Second {
		t.Errorf("%d messages at %d/s took %v (first to last), want about %v", n, rate, span, want)
	}
	// Each send waits for a slot of its own, booked in Redis: none goes out
	// before its slot, so the span above is about n-1 intervals. A stalled
	// process may send the slots its workers booked together, so any window
	// of w holds at most rate·w + workers + 1.
	const w = 300 * time.Millisecond
	for i := range sent {
		in := 0
		for j := i; j < n && sent[j].At.Sub(sent[i].At) < w; j++ {
			in++
		}
		if limit := int(rate*w/time.Second) + workers + 1; in > limit {
			t.Errorf("%d messages went out within %v from message %d, want at most %d", in, w, i, limit)
		}
	}
	t.Logf("%d messages in %v (since the first Notify: %v)", n, span, time.Since(start))
}

func TestStaffAlert(t *testing.T) {
	e := mustEnv(t, envOptions{})
	ctx := context.Background()
	n := model.Notice{Topic: notify.TopicCrisisAlert, DedupeKey: "crisis:msg:1", Urgent: true,
		Fields: map[string]string{"title": "收到紧急求助", "summary": "关键词：家暴"}}
	e.mustNotify(t, model.Recipient{StaffID: 7}, n)
	e.mustNotify(t, model.Recipient{StaffID: 7}, n)
	if q := e.rq.snapshot(); len(q) != 0 {
		t.Errorf("staff notice queued %d tasks, want none (the console alert is written at once)", len(q))
	}
	staff := model.WithPrincipal(ctx, model.Principal{Kind: model.SessionStaff, SubjectID: 7, Roles: []model.Role{model.RoleCaseworker}})
	as, _, err := e.svc.Alerts(staff, true, model.Page{})
	if err != nil || len(as) != 1 || as[0].Fields["summary"] != "关键词：家暴" || !as[0].Urgent {
		t.Fatalf("Alerts() = %+v, %v, want one urgent alert", as, err)
	}
	other := model.WithPrincipal(ctx, model.Principal{Kind: model.SessionStaff, SubjectID: 8})
	if err := e.svc.MarkAlertRead(other, as[0].ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("MarkAlertRead(another's) = %v, want ErrNotFound", err)
	}
	if err := e.svc.MarkAlertRead(staff, as[0].ID); err != nil {
		t.Fatal(err)
	}
	if as, _, _ := e.svc.Alerts(staff, true, model.Page{}); len(as) != 0 {
		t.Errorf("unread Alerts() after read = %d, want 0", len(as))
	}
	if d := e.delivery(t, "crisis:msg:1"); d.Status != model.DeliverySent || d.Channel != model.ChannelConsole {
		t.Errorf("staff delivery = %+v, want sent to the console", d)
	}
}

func TestSweep(t *testing.T) {
	base := time.Now()
	e := mustEnv(t, envOptions{now: base})
	ctx := context.Background()
	u := e.mustUser(t, "oMP_sweep", "")
	e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 1)
	err := e.db.WithTx(ctx, func(ctx context.Context) error {
		return e.svc.Notify(ctx, model.Recipient{UserID: u.ID}, lessonNotice("tx"))
	})
	if err != nil {
		t.Fatal(err)
	}
	e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice("lost"))
	if err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	tx, lost := e.delivery(t, "tx"), e.delivery(t, "lost")
	tasks := e.rq.snapshot()
	want := []string{notify.TaskID(lost.ID), notify.TaskID(tx.ID)}
	var got []string
	for _, q := range tasks {
		got = append(got, q.taskID)
	}
	if !cmp.Equal(got, want) {
		t.Fatalf("tasks after Notify and a first sweep = %v, want %v", got, want)
	}
	// Nothing more until StaleAfter (1 min in these tests) has passed.
	if err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	later := base.Add(2 * time.Minute)
	e.clock.Set(later)
	if err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	tasks = e.rq.snapshot()
	if len(tasks) != 4 || tasks[2].taskID != fmt.Sprintf("notify:%d:sweep:%d", tx.ID, later.Unix()) {
		t.Errorf("tasks after the stale sweep = %+v, want both again under sweep ids", tasks)
	}
	// Both tasks of a delivery may run: one send.
	e.deliverAll(t)
	if n := len(e.sim.Sent(wxsim.KindSubscribe)); n != 1 {
		t.Errorf("messages sent = %d, want 1 (one consent, two notices: the other no_consent)", n)
	}
}

func TestConsentLedger(t *testing.T) {
	e := mustEnv(t, envOptions{})
	ctx := context.Background()
	u := e.mustUser(t, "oMP_ledger", "")
	tpl := mpTemplate(notify.TopicLessonPublished)
	remaining := func() int {
		t.Helper()
		cs, err := e.ns.ConsentsOf(ctx, model.AppMP, u.OpenID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.TemplateID == tpl {
				return c.Remaining
			}
		}
		return 0
	}
	accept := []model.SubscribeEvent{{TemplateID: tpl, Status: notify.ConsentAccept, PopupScene: "0"}}
	// One acceptance reported by the client and by the popup event: 1.
	got, err := e.svc.RecordClientConsents(ctx, u.ID, map[string]string{tpl: "accept", "unknown_tpl": "accept"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []model.Consent{{App: model.AppMP, OpenID: u.OpenID, TemplateID: tpl, Remaining: 1}}; !cmp.Equal(want, got,
		cmpopts.IgnoreFields(model.Consent{}, "UpdatedAt")) {
		t.Errorf("RecordClientConsents() = %+v, want %+v (unknown templates ignored)", got, want)
	}
	if err := e.svc.RecordSubscribeEvents(ctx, model.AppMP, u.OpenID, accept); err != nil {
		t.Fatal(err)
	}
	if n := remaining(); n != 1 {
		t.Errorf("after a client report and its popup event: remaining = %d, want 1", n)
	}
	// An event first, then its client report: 2.
	if err := e.svc.RecordSubscribeEvents(ctx, model.AppMP, u.OpenID, accept); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RecordClientConsents(ctx, u.ID, map[string]string{tpl: "accept"}); err != nil {
		t.Fatal(err)
	}
	if n := remaining(); n != 2 {
		t.Errorf("after an event and its client report: remaining = %d, want 2", n)
	}
	// Two more acceptances reported by the client only: 4.
	for range 2 {
		if _, err := e.svc.RecordClientConsents(ctx, u.ID, map[string]string{tpl: "accept"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := remaining(); n != 4 {
		t.Errorf("remaining = %d, want 4", n)
	}
	// A ban (or a reject) turns it off.
	if err := e.svc.RecordSubscribeEvents(ctx, model.AppMP, u.OpenID, []model.SubscribeEvent{{TemplateID: tpl, Status: "ban"}}); err != nil {
		t.Fatal(err)
	}
	if n := remaining(); n != 0 {
		t.Errorf("after ban: remaining = %d, want 0", n)
	}
	for _, bad := range []map[string]string{{}, {tpl: "maybe"}, {"has space": "accept"}} {
		if _, err := e.svc.RecordClientConsents(ctx, u.ID, bad); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("RecordClientConsents(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestLongTermConsent(t *testing.T) {
	e := mustEnv(t, envOptions{})
	ctx := context.Background()
	tpls, err := e.svc.Templates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range tpls {
		if tp.Topic == notify.TopicCaseUpdate {
			tp.LongTerm = true
			if _, err := e.svc.UpdateTemplates(ctx, []model.NotifyTemplate{tp}); err != nil {
				t.Fatal(err)
			}
		}
	}
	u := e.mustUser(t, "oMP_long", "")
	ev := []model.SubscribeEvent{{TemplateID: mpTemplate(notify.TopicCaseUpdate), Status: notify.ConsentAccept}}
	if err := e.svc.RecordSubscribeEvents(ctx, model.AppMP, u.OpenID, ev); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e.mustNotify(t, model.Recipient{UserID: u.ID}, model.Notice{Topic: notify.TopicCaseUpdate, DedupeKey: fmt.Sprintf("case:%d", i),
			Fields: map[string]string{"time": "2026-03-08 10:00"}})
	}
	e.deliverAll(t)
	sent := e.sim.Sent(wxsim.KindSubscribe)
	if len(sent) != 3 {
		t.Fatalf("messages sent with a long-term consent = %d, want 3", len(sent))
	}
	if got := sent[0].Data; got["thing1"] != "您的咨询有新进展" || got["phrase2"] != "已更新" {
		t.Errorf("case update data = %v, want the neutral defaults", got)
	}
}

func TestResultEvents(t *testing.T) {
	e := mustEnv(t, envOptions{})
	ctx := context.Background()
	u := e.mustUser(t, "oMP_res", "uRes")
	e.followers.put(model.Follower{OpenID: "oOA_res", UnionID: "uRes", Subscribed: true})
	e.mustGrant(t, u.OpenID, notify.TopicLessonPublished, 2)
	e.mustNotify(t, model.Recipient{UserID: u.ID}, lessonNotice("sub"))
	e.mustNotify(t, model.Recipient{OpenID: "oOA_res"}, lessonNotice("tpl"))
	e.deliverAll(t)
	sub, tpl := e.delivery(t, "sub"), e.delivery(t, "tpl")
	if sub.Status != model.DeliverySent || tpl.Status != model.DeliverySent || tpl.Channel != model.ChannelOATemplate {
		t.Fatalf("deliveries = %+v, %+v", sub, tpl)
	}
	if err := e.svc.TemplateSendFinished(ctx, tpl.MsgID, "success"); err != nil {
		t.Fatal(err)
	}
	if got := e.delivery(t, "tpl").Status; got != model.DeliverySent {
		t.Errorf("after success = %s, want sent", got)
	}
	if err := e.svc.TemplateSendFinished(ctx, tpl.MsgID, "failed:user block"); err != nil {
		t.Fatal(err)
	}
	if got := e.delivery(t, "tpl"); got.Status != model.DeliveryFailed || got.Error != "failed:user block" {
		t.Errorf("after failed:user block = %+v, want failed", got)
	}
	ev := []model.SubscribeEvent{{TemplateID: mpTemplate(notify.TopicLessonPublished), MsgID: sub.MsgID, ErrorCode: 43101,
		Status: "failed:user refuse"}}
	if err := e.svc.RecordSubscribeEvents(ctx, model.AppMP, u.OpenID, ev); err != nil {
		t.Fatal(err)
	}
	if got := e.delivery(t, "sub"); got.Status != model.DeliveryFailed || got.Errcode != 43101 {
		t.Errorf("after a failed sent event = %+v, want failed with 43101", got)
	}
	cs, _ := e.ns.ConsentsOf(ctx, model.AppMP, u.OpenID)
	if len(cs) != 1 || cs[0].Remaining != 0 {
		t.Errorf("ConsentsOf() = %+v, want the consent off", cs)
	}
	if err := e.svc.TemplateSendFinished(ctx, "999", "failed: system failed"); err != nil {
		t.Errorf("TemplateSendFinished(unknown msgid) = %v", err)
	}
}

func TestUpdateTemplates(t *testing.T) {
	e := mustEnv(t, envOptions{})
	ctx := model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 1, Username: "ed",
		Roles: []model.Role{model.RoleEditor}})
	tests := []struct {
		name  string
		t     model.NotifyTemplate
		field string
	}{
		{"bad topic", model.NotifyTemplate{Topic: "Bad-Topic", Name: "x"}, "items[0].topic"},
		{"no name", model.NotifyTemplate{Topic: "ok_topic"}, "items[0].name"},
		{"mp id without fields", model.NotifyTemplate{Topic: "ok_topic", Name: "x", MPTemplateID: "tpl"}, "items[0].mp_fields"},
		{"oa first", model.NotifyTemplate{Topic: "ok_topic", Name: "x", OATemplateID: "tpl",
			OAFields: []model.TemplateField{{Key: "first", Field: "title"}}}, "items[0].oa_fields[0].key"},
		{"keyword on mp", model.NotifyTemplate{Topic: "ok_topic", Name: "x", MPTemplateID: "tpl",
			MPFields: []model.TemplateField{{Key: "keyword1", Field: "title"}}}, "items[0].mp_fields[0].key"},
		{"duplicate key", model.NotifyTemplate{Topic: "ok_topic", Name: "x", MPTemplateID: "tpl",
			MPFields: []model.TemplateField{{Key: "thing1", Field: "a"}, {Key: "thing1", Field: "b"}}}, "items[0].mp_fields[1].key"},
		{"bad field name", model.NotifyTemplate{Topic: "ok_topic", Name: "x", MPTemplateID: "tpl",
			MPFields: []model.TemplateField{{Key: "thing1", Field: "Title"}}}, "items[0].mp_fields[0].field"},
		{"default too long", model.NotifyTemplate{Topic: "ok_topic", Name: "x", MPTemplateID: "tpl",
			MPFields: []model.TemplateField{{Key: "phrase1", Field: "s", Default: "太长了的短语"}}}, "items[0].mp_fields[0].default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.UpdateTemplates(ctx, []model.NotifyTemplate{tt.t})
			var me *model.Error
			if !errors.As(err, &me) || me.Fields[tt.field] == "" {
				t.Fatalf("UpdateTemplates() = %v, want ErrInvalid naming %s", err, tt.field)
			}
		})
	}
	good := model.NotifyTemplate{Topic: "fair_cancelled", Name: "招聘会取消", OATemplateID: "tplOA", Enabled: true,
		OAFields: []model.TemplateField{{Key: "keyword1", Field: "fair"}, {Key: "time2", Field: "time"}}}
	all, err := e.svc.UpdateTemplates(ctx, []model.NotifyTemplate{good})
	if err != nil {
		t.Fatalf("UpdateTemplates(good) = %v", err)
	}
	if len(all) != len(notify.DefaultTemplates(true))+1 {
		t.Errorf("templates after adding one = %d", len(all))
	}
	if want := []string{"notify.template.update notify_template fair_cancelled"}; !cmp.Equal(e.audit.Lines(), want) {
		t.Errorf("audit = %v, want %v", e.audit.Lines(), want)
	}
	// The new topic is usable at once by this copy.
	e.mustNotify(t, model.Recipient{OpenID: "oOA_x"}, model.Notice{Topic: "fair_cancelled", DedupeKey: "fc",
		Fields: map[string]string{"fair": "春季女性专场招聘会", "time": "2026-03-20 09:00"}})
	reviewer := model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 2,
		Roles: []model.Role{model.RoleReviewer}})
	if _, err := e.svc.UpdateTemplates(reviewer, []model.NotifyTemplate{good}); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("UpdateTemplates(reviewer) = %v, want ErrForbidden", err)
	}
	if _, _, err := e.svc.Pushes(reviewer, model.Page{}); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("Pushes(reviewer) = %v, want ErrForbidden", err)
	}
}

// TestSweepBatches: one sweep hands over every waiting delivery, batch by
// batch, and each once.
func TestSweepBatches(t *testing.T) {
	e := mustEnv(t, envOptions{})
	d := e.deps
	d.Options.SweepBatch = 2
	svc := mustService(t, d)
	ctx := context.Background()
	err := e.db.WithTx(ctx, func(ctx context.Context) error {
		for i := range 5 {
			if err := svc.Notify(ctx, model.Recipient{UserID: int64(i + 1)}, lessonNotice(fmt.Sprintf("b:%d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	ids := map[int64]int{}
	for _, q := range e.rq.snapshot() {
		ids[q.id]++
	}
	if len(ids) != 5 {
		t.Errorf("deliveries handed over = %v, want 5 once each", ids)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("delivery %d handed over %d times, want 1", id, n)
		}
	}
}
