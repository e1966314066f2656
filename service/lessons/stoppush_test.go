package lessons_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"wanjia/model"
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
	wantPushStopped(t, e, svc, l, users, "stop")
	// The lesson itself is untouched.
	if got, err := svc.LessonFor(ctx, users[9].ID, l.ID); err != nil || got.Lesson.Status != model.LessonPublished {
		t.Errorf("LessonFor() after the stop = %+v, %v; want it published", got, err)
	}
	if !slices.ContainsFunc(e.audit.Lines(), func(a string) bool { return strings.HasPrefix(a, "lesson.push_stop push") }) {
		t.Errorf("audit lacks lesson.push_stop: %v", e.audit.Lines())
	}
}
