package lessons_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/wechat/wxsim"
)

// TestStopPush: an editor stops a lesson's push half way — some notices
// sent, some handed to the queue, some queued, some subscribers not
// reached yet — without taking the lesson down: nothing more is sent, the
// fan-out stays stopped, the lesson stays readable. A reason is required;
// a push that is not a lesson's is not found; stopping again skips
// nothing more.
func TestStopPush(t *testing.T) {
	e := mustEnv(t, envOptions{batch: 4})
	svc, l, users, _ := stalledPush(t, e, "stop")
	ctx := context.Background()
	tasks := e.nq.snapshot()
	if len(tasks) != 4 {
		t.Fatalf("notices handed over = %d, want the first page of 4", len(tasks))
	}
	for _, id := range tasks[:2] {
		if err := e.notify.Deliver(ctx, id, false); err != nil {
			t.Fatal(err)
		}
	}

	_, _, err := svc.StopPush(editor(), l.PushID, " ")
	wantCode(t, "StopPush(no reason)", err, model.ErrInvalid, "")
	if _, _, err := svc.StopPush(editor(), l.PushID+1000, "措辞有误"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("StopPush(not a lesson's push) = %v, want not found", err)
	}
	lessonID, skipped, err := svc.StopPush(editor(), l.PushID, "措辞有误")
	if err != nil || lessonID != l.ID || skipped != 6 {
		t.Fatalf("StopPush() = %d, %d, %v; want lesson %d and the 6 queued notices skipped", lessonID, skipped, err, l.ID)
	}
	if _, again, err := svc.StopPush(editor(), l.PushID, "措辞有误"); err != nil || again != 0 {
		t.Errorf("StopPush() again = %d, %v; want nothing more skipped", again, err)
	}
	// A later run of the fan-out and the tick's stall check find it done.
	if err := svc.Fanout(ctx, l.ID); err != nil {
		t.Errorf("Fanout() after the stop = %v, want nil", err)
	}
	e.clock.Add(5 * time.Minute)
	if _, err := svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.fq.snapshot(); len(got) != 1 {
		t.Errorf("fan-outs enqueued = %v, want only the first (no restart)", got)
	}
	e.deliverAll(t)
	if n := len(e.sim.Sent(wxsim.KindSubscribe)); n != 2 {
		t.Errorf("messages sent = %d, want the 2 sent before the stop", n)
	}
	for i, u := range users {
		want := model.DeliverySkipped
		switch {
		case i < 2:
			want = model.DeliverySent
		case i >= 8:
			want = ""
		}
		if got := e.status(t, l.ID, u.ID); got != want {
			t.Errorf("delivery to subscriber %d = %q, want %q", i, got, want)
		}
	}
	// The lesson itself is untouched.
	if got, err := svc.LessonFor(ctx, users[9].ID, l.ID); err != nil || got.Lesson.Status != model.LessonPublished {
		t.Errorf("LessonFor() after the stop = %+v, %v; want it published", got, err)
	}
	if !slices.ContainsFunc(e.audit.Lines(), func(a string) bool { return strings.HasPrefix(a, "lesson.push_stop push") }) {
		t.Errorf("audit lacks lesson.push_stop: %v", e.audit.Lines())
	}
}
