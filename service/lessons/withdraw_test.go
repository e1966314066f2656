package lessons_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/service/lessons"
	"wanjia/wechat/wxsim"
)

// wantCode fails unless err is of kind with the given code ("" any code).
func wantCode(tb testing.TB, what string, err, kind error, code string) {
	tb.Helper()
	var me *model.Error
	if !errors.Is(err, kind) || (code != "" && (!errors.As(err, &me) || me.Code != code)) {
		tb.Errorf("%s = %v, want %v %s", what, err, kind, code)
	}
}

// TestWithdrawRules: what deleting, withdrawing and restoring do to a
// lesson in each status.
func TestWithdrawRules(t *testing.T) {
	tests := []struct {
		status                      model.LessonStatus
		deleteCode                  string // "" deleted
		withdrawCode                string // "" the lesson answered withdrawn
		restoreCode                 string // "" the lesson answered published
		publishCode                 string // "" the lesson answered published
		visibleAfterWithdrawRestore bool
	}{
		{model.LessonDraft, "", "not_published", "not_withdrawn", "", false},
		{model.LessonScheduled, "", "not_published", "not_withdrawn", "", false},
		{model.LessonPublished, "lesson_published", "", "not_withdrawn", "", true},
		{model.LessonWithdrawn, "lesson_withdrawn", "", "", "lesson_withdrawn", true},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			e := mustEnv(t, envOptions{})
			c := e.mustCourse(t, "家风家教")
			mk := func() model.Lesson {
				l := e.mustLesson(t, c.ID, "第一课")
				switch tt.status {
				case model.LessonScheduled:
					var err error
					l, err = e.svc.UpdateLesson(editor(), l.ID, lessons.LessonPatch{Schedule: true, PublishAt: t0.Add(time.Hour)})
					if err != nil {
						t.Fatal(err)
					}
				case model.LessonPublished:
					l = e.mustPublish(t, l.ID)
				case model.LessonWithdrawn:
					e.mustPublish(t, l.ID)
					var err error
					if l, err = e.svc.Withdraw(editor(), l.ID, "内容需要更新"); err != nil {
						t.Fatal(err)
					}
				}
				if l.Status != tt.status {
					t.Fatalf("lesson = %s, want %s", l.Status, tt.status)
				}
				return l
			}

			l := mk()
			err := e.svc.DeleteLesson(editor(), l.ID)
			if tt.deleteCode == "" {
				if err != nil {
					t.Errorf("DeleteLesson() = %v", err)
				}
				if _, err := e.svc.Lesson(editor(), l.ID); !errors.Is(err, model.ErrNotFound) {
					t.Errorf("Lesson(deleted) = %v, want 404", err)
				}
			} else {
				wantCode(t, "DeleteLesson()", err, model.ErrConflict, tt.deleteCode)
			}

			l = mk()
			w, err := e.svc.Withdraw(editor(), l.ID, "")
			if tt.withdrawCode == "" {
				if err != nil || w.Status != model.LessonWithdrawn {
					t.Errorf("Withdraw() = %+v, %v, want withdrawn", w, err)
				}
			} else {
				wantCode(t, "Withdraw()", err, model.ErrConflict, tt.withdrawCode)
			}
			if tt.withdrawCode == "" {
				_, err = e.svc.Publish(editor(), l.ID)
				wantCode(t, "Publish(withdrawn)", err, model.ErrConflict, "lesson_withdrawn")
			}
			r, err := e.svc.Restore(editor(), l.ID)
			if tt.withdrawCode == "" {
				if err != nil || r.Status != model.LessonPublished || r.PushID == 0 {
					t.Errorf("Restore() = %+v, %v, want published with its push", r, err)
				}
			} else {
				wantCode(t, "Restore()", err, model.ErrConflict, tt.restoreCode)
			}
			u := e.mustUser(t, "oMP_rules", "", 0, 0)
			_, err = e.svc.LessonFor(context.Background(), u.ID, l.ID)
			if (err == nil) != tt.visibleAfterWithdrawRestore {
				t.Errorf("LessonFor() after withdraw and restore = %v, want visible %v", err, tt.visibleAfterWithdrawRestore)
			}
			if _, err := e.svc.Withdraw(editor(), l.ID, strings.Repeat("长", 201)); !errors.Is(err, model.ErrInvalid) {
				t.Errorf("Withdraw(long reason) = %v, want 400", err)
			}
			if err := e.svc.DeleteLesson(editor(), 9999); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("DeleteLesson(missing) = %v, want 404", err)
			}
		})
	}
}

// TestWithdrawStopsPush: a lesson withdrawn while its push is half done —
// some notices sent, some handed to the queue, some queued, some
// subscribers not reached yet — sends nothing more: the fan-out stops,
// the tick does not restart it, the queued and pending notices are
// skipped. Users no longer see it and cannot report progress; the figures
// keep what happened; restoring it notifies nobody.
func TestWithdrawStopsPush(t *testing.T) {
	e := mustEnv(t, envOptions{batch: 4})
	svc, l, users, _ := stalledPush(t, e, "withdraw")
	ctx := context.Background()
	tasks := e.nq.snapshot() // the first page, handed to the queue
	if len(tasks) != 4 {
		t.Fatalf("notices handed over = %d, want the first page of 4", len(tasks))
	}
	for _, id := range tasks[:2] {
		if err := e.notify.Deliver(ctx, id, false); err != nil {
			t.Fatal(err)
		}
	}
	reader := users[0]
	if _, err := svc.LessonFor(ctx, reader.ID, l.ID); err != nil { // she opens it after her notice
		t.Fatal(err)
	}
	if _, err := svc.SaveProgress(ctx, reader.ID, l.ID, lessons.ProgressInput{PositionS: 600, Completed: true}); err != nil {
		t.Fatal(err)
	}

	w, err := svc.Withdraw(editor(), l.ID, "视频链接失效")
	if err != nil || w.Status != model.LessonWithdrawn {
		t.Fatalf("Withdraw() = %+v, %v", w, err)
	}
	wantPushStopped(t, e, svc, l, users, "withdrawal")

	// Users: not found; progress refused with a reason.
	if _, err := svc.LessonFor(ctx, reader.ID, l.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("LessonFor(withdrawn) = %v, want 404", err)
	}
	_, err = svc.SaveProgress(ctx, reader.ID, l.ID, lessons.ProgressInput{PositionS: 10})
	wantCode(t, "SaveProgress(withdrawn)", err, model.ErrConflict, "lesson_withdrawn")
	if _, err := svc.CourseFor(ctx, reader.ID, l.CourseID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("CourseFor(no published lesson left) = %v, want 404", err)
	}
	if items, _, err := svc.VisibleCourses(ctx, reader.ID, "", model.Page{}); err != nil || len(items) != 0 {
		t.Errorf("VisibleCourses() = %+v, %v, want none", items, err)
	}

	// Staff: the lesson with what happened.
	r, err := svc.CourseReport(editor(), l.CourseID)
	if err != nil || len(r.Lessons) != 1 {
		t.Fatalf("CourseReport() = %+v, %v", r, err)
	}
	lr := r.Lessons[0]
	if lr.Lesson.Status != model.LessonWithdrawn || lr.Push.Sent != 2 || lr.Push.Skipped != 6 || lr.Push.Pending != 0 ||
		lr.Push.Read != 1 || !lr.PushDone || lr.Stats.Completed != 1 {
		t.Errorf("withdrawn lesson's report = %+v", lr)
	}
	sec, err := svc.FigureSection(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{model.FigLessonsPublished: 1, model.FigLessonCompleted: 1} {
		if f, ok := sec.Get(key); !ok || f.Value != want {
			t.Errorf("figure %s = %+v, want %v (a withdrawn lesson still counts)", key, f, want)
		}
	}
	sec, err = svc.FigureSection(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{model.FigLessonReach: 2, lessons.FigLessonOpened: 1} {
		if f, ok := sec.Get(key); !ok || f.Value != want {
			t.Errorf("figure %s = %+v, want %v", key, f, want)
		}
	}

	// Restored: visible again, nobody notified again.
	if _, err := svc.Restore(editor(), l.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.LessonFor(ctx, reader.ID, l.ID); err != nil {
		t.Errorf("LessonFor(restored) = %v", err)
	}
	e.deliverAll(t)
	if n := len(e.sim.Sent(wxsim.KindSubscribe)); n != 2 || len(e.fq.snapshot()) != 1 {
		t.Errorf("after the restore: %d messages, fan-outs %v; want nothing new", n, e.fq.snapshot())
	}
	for _, want := range []string{"lesson.withdraw lesson", "lesson.restore lesson"} {
		if !slices.ContainsFunc(e.audit.Lines(), func(a string) bool { return strings.HasPrefix(a, want) }) {
			t.Errorf("audit lacks %s: %v", want, e.audit.Lines())
		}
	}
}

// TestDeleteScheduledRacesTick: a scheduled lesson that comes due is
// deleted by an editor while two copies' ticks publish it. Each time,
// either the delete won (the lesson is gone, never published, no push) or
// a tick did (the delete is 409 and the lesson is published once, with one
// push).
func TestDeleteScheduledRacesTick(t *testing.T) {
	e := mustEnv(t, envOptions{})
	other := mustLessons(t, e.ldeps)
	ctx := context.Background()
	c := e.mustCourse(t, "幼小衔接")
	published, deleted := 0, 0
	for i := range 10 {
		l, err := e.svc.CreateLesson(editor(), c.ID, lessons.LessonInput{Title: fmt.Sprintf("第%d课", i+1), Kind: model.LessonAudio,
			URL: "https://a.example.cn/1.mp3", PublishAt: e.clock.Now().Add(30 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Minute)
		var wg sync.WaitGroup
		var delErr error
		n := make([]int, 2)
		for j, s := range []*lessons.Service{e.svc, other} {
			wg.Go(func() {
				var err error
				if n[j], err = s.Tick(ctx); err != nil {
					t.Errorf("Tick() = %v", err)
				}
			})
		}
		wg.Go(func() { delErr = e.svc.DeleteLesson(editor(), l.ID) })
		wg.Wait()
		got, err := e.svc.Lesson(editor(), l.ID)
		switch {
		case delErr == nil:
			deleted++
			if !errors.Is(err, model.ErrNotFound) || n[0]+n[1] != 0 {
				t.Errorf("round %d: deleted, yet lesson = %+v, %v and ticks published %v", i, got, err, n)
			}
		default:
			published++
			wantCode(t, "DeleteLesson(published by a tick)", delErr, model.ErrConflict, "lesson_published")
			if err != nil || got.Status != model.LessonPublished || got.PushID == 0 || n[0]+n[1] != 1 {
				t.Errorf("round %d: lesson = %+v, %v, ticks published %v; want published once", i, got, err, n)
			}
		}
	}
	pushes, _, err := e.ns.ListPushes(ctx, model.Page{Limit: 100})
	fanned := map[string]bool{} // by lesson (the ticks also restart fan-outs this test never runs)
	for _, f := range e.fq.snapshot() {
		id, _, _ := strings.Cut(f, ":")
		fanned[id] = true
	}
	if err != nil || len(pushes) != published || len(fanned) != published {
		t.Errorf("pushes = %d, lessons fanned out %d, %v; want one per published lesson (%d)", len(pushes), len(fanned), err, published)
	}
	t.Logf("%d deleted first, %d published first", deleted, published)
}

// TestCourseWithdrawAndDelete: a course with a published lesson is not
// deleted; withdrawing it takes every lesson down (scheduled ones become
// drafts and never publish); it is then deleted — archived, because it
// had published lessons, whose figures stay. A course that never
// published is erased.
func TestCourseWithdrawAndDelete(t *testing.T) {
	e := mustEnv(t, envOptions{})
	ctx := context.Background()
	c := e.mustCourse(t, "科学育儿")
	e.mustUser(t, "oMP_course", "", c.ID, 1)
	p1 := e.mustPublish(t, e.mustLesson(t, c.ID, "第一课").ID)
	p2 := e.mustPublish(t, e.mustLesson(t, c.ID, "第二课").ID)
	sched, err := e.svc.CreateLesson(editor(), c.ID, lessons.LessonInput{Title: "第三课", Kind: model.LessonAudio,
		URL: "https://a.example.cn/3.mp3", PublishAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	draft := e.mustLesson(t, c.ID, "草稿")

	_, err = e.svc.DeleteCourse(editor(), c.ID)
	wantCode(t, "DeleteCourse(published lessons)", err, model.ErrConflict, "course_published")
	if _, err := e.svc.Lesson(editor(), draft.ID); err != nil {
		t.Errorf("draft after a refused delete = %v, want kept", err)
	}
	w, err := e.svc.WithdrawCourse(editor(), c.ID, "课程改版")
	if err != nil || !slices.Equal(w.Withdrawn, []int64{p1.ID, p2.ID}) || w.Unscheduled != 1 {
		t.Fatalf("WithdrawCourse() = %+v, %v", w, err)
	}
	e.clock.Add(2 * time.Hour)
	if n, err := e.svc.Tick(ctx); err != nil || n != 0 {
		t.Errorf("Tick() after the course was withdrawn = %d, %v, want nothing published", n, err)
	}
	if got, _ := e.svc.Lesson(editor(), sched.ID); got.Status != model.LessonDraft {
		t.Errorf("scheduled lesson after the course withdrawal = %s, want draft", got.Status)
	}
	if again, err := e.svc.WithdrawCourse(editor(), c.ID, ""); err != nil || len(again.Withdrawn) != 0 {
		t.Errorf("WithdrawCourse(again) = %+v, %v, want nothing", again, err)
	}
	archived, err := e.svc.DeleteCourse(editor(), c.ID)
	if err != nil || !archived {
		t.Fatalf("DeleteCourse() = %v, %v, want archived", archived, err)
	}
	if _, err := e.svc.CourseReport(editor(), c.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("CourseReport(archived) = %v, want 404", err)
	}
	if cs, _, err := e.svc.Courses(editor(), model.Page{}); err != nil || len(cs) != 0 {
		t.Errorf("Courses() = %+v, %v, want the archived one left out", cs, err)
	}
	if r, err := e.svc.PushReport(editor(), p1.PushID); err != nil || r.Lesson.Status != model.LessonWithdrawn {
		t.Errorf("PushReport() of an archived course's lesson = %+v, %v", r, err)
	}
	_, err = e.svc.Restore(editor(), p1.ID)
	wantCode(t, "Restore(lesson of an archived course)", err, model.ErrConflict, "course_deleted")
	sec, err := e.svc.FigureSection(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := sec.Get(model.FigLessonsPublished); f.Value != 2 {
		t.Errorf("lessons published on March 8 = %v, want 2 (withdrawn and archived, still counted)", f.Value)
	}

	erase := e.mustCourse(t, "草稿课程")
	e.mustLesson(t, erase.ID, "只有草稿")
	if archived, err := e.svc.DeleteCourse(editor(), erase.ID); err != nil || archived {
		t.Errorf("DeleteCourse(never published) = %v, %v, want erased", archived, err)
	}
	if _, err := e.svc.DeleteCourse(editor(), erase.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("DeleteCourse(again) = %v, want 404", err)
	}
	for _, want := range []string{"course.withdraw course", "course.delete course", "lesson.withdraw lesson"} {
		if !slices.ContainsFunc(e.audit.Lines(), func(a string) bool { return strings.HasPrefix(a, want) }) {
			t.Errorf("audit lacks %s: %v", want, e.audit.Lines())
		}
	}
}
