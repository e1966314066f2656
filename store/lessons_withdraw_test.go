package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

// TestDeleteLessonRacesPublish: a scheduled lesson deleted while a
// publisher (the tick of another copy) publishes it is either deleted and
// never published, or published and not deleted — never both, never
// neither.
func TestDeleteLessonRacesPublish(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ls := store.NewLessons(db)
		ctx := context.Background()
		c := mustCourse(t, ls, "幼小衔接", 1)
		deleted, published := 0, 0
		for range 12 {
			l := mustLesson(t, ls, c.ID, 1, model.LessonScheduled)
			var wg sync.WaitGroup
			var pubOK, delOK bool
			var pubErr, delErr error
			wg.Go(func() { _, pubOK, pubErr = ls.MarkPublished(ctx, l.ID, lessonT0) })
			wg.Go(func() { delOK, delErr = ls.DeleteLesson(ctx, l.ID) })
			wg.Wait()
			if delErr != nil {
				t.Fatalf("DeleteLesson() = %v", delErr)
			}
			if pubErr != nil && !(delOK && errors.Is(pubErr, model.ErrNotFound)) {
				t.Fatalf("MarkPublished() = %v", pubErr)
			}
			got, err := ls.LessonByID(ctx, l.ID)
			switch {
			case pubOK == delOK:
				t.Fatalf("publish ok %v, delete ok %v: want exactly one", pubOK, delOK)
			case delOK:
				deleted++
				if !errors.Is(err, model.ErrNotFound) {
					t.Errorf("LessonByID(deleted) = %+v, %v, want ErrNotFound", got, err)
				}
			default:
				published++
				if err != nil || got.Status != model.LessonPublished {
					t.Errorf("LessonByID(published) = %+v, %v", got, err)
				}
			}
		}
		t.Logf("%d deleted, %d published", deleted, published)
		if ids, err := ls.DueLessons(ctx, lessonT0.Add(time.Hour), 100); err != nil || len(ids) != 0 {
			t.Errorf("DueLessons() = %v, %v, want none left", ids, err)
		}
		if _, err := ls.DeleteLesson(ctx, 99999); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("DeleteLesson(missing) = %v, want ErrNotFound", err)
		}
	})
}

// TestWithdrawAndDeleteCourse: withdrawal and restore are conditional
// moves between published and withdrawn; an edit keeps a withdrawn
// lesson's status; a course with a published lesson is not deleted (its
// drafts neither); one whose lessons are withdrawn is archived (hidden,
// figures kept); one that never published is erased with its
// subscriptions.
func TestWithdrawAndDeleteCourse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ls := store.NewLessons(db)
		ctx := context.Background()
		c := mustCourse(t, ls, "幼小衔接", 1)
		pub := mustLesson(t, ls, c.ID, 1, model.LessonPublished)
		draft := mustLesson(t, ls, c.ID, 2, model.LessonDraft)
		sched := mustLesson(t, ls, c.ID, 3, model.LessonScheduled)
		if err := ls.Subscribe(ctx, c.ID, 7, lessonT0); err != nil {
			t.Fatal(err)
		}
		if _, err := ls.SaveProgress(ctx, model.LessonProgress{LessonID: pub.ID, CourseID: c.ID, UserID: 7, Completed: true}, lessonT0); err != nil {
			t.Fatal(err)
		}
		before, err := ls.Figures(ctx, lessonT0.Add(-time.Hour), lessonT0.Add(time.Hour))
		if err != nil || before.Published != 1 {
			t.Fatalf("Figures() = %+v, %v", before, err)
		}

		if _, ok, err := ls.WithdrawLesson(ctx, draft.ID, lessonT0); err != nil || ok {
			t.Errorf("WithdrawLesson(draft) = %v, %v, want not ok", ok, err)
		}
		if _, ok, err := ls.RestoreLesson(ctx, pub.ID, lessonT0); err != nil || ok {
			t.Errorf("RestoreLesson(published) = %v, %v, want not ok", ok, err)
		}
		_, err = ls.DeleteCourse(ctx, c.ID, lessonT0)
		var me *model.Error
		if !errors.Is(err, model.ErrConflict) || !errors.As(err, &me) || me.Code != "course_published" {
			t.Fatalf("DeleteCourse(published lesson) = %v, want 409 course_published", err)
		}
		if got, err := ls.LessonsOfCourse(ctx, c.ID, false); err != nil || len(got) != 3 {
			t.Errorf("lessons after a refused delete = %d, %v, want all 3 kept", len(got), err)
		}
		if ok, err := ls.DeleteLesson(ctx, pub.ID); err != nil || ok {
			t.Errorf("DeleteLesson(published) = %v, %v, want not ok", ok, err)
		}

		w, ok, err := ls.WithdrawLesson(ctx, pub.ID, lessonT0.Add(time.Minute))
		if err != nil || !ok || w.Status != model.LessonWithdrawn || !w.PublishedAt.Equal(lessonT0) {
			t.Fatalf("WithdrawLesson() = %+v, %v, %v", w, ok, err)
		}
		if _, ok, _ := ls.WithdrawLesson(ctx, pub.ID, lessonT0); ok {
			t.Error("WithdrawLesson(again) = ok, want not")
		}
		w.Title, w.Status = "改过的标题", model.LessonDraft
		if got, err := ls.UpdateLesson(ctx, w); err != nil || got.Status != model.LessonWithdrawn || got.Title != "改过的标题" {
			t.Errorf("UpdateLesson(withdrawn → draft) = %+v, %v, want the title changed and still withdrawn", got, err)
		}
		if ok, err := ls.DeleteLesson(ctx, pub.ID); err != nil || ok {
			t.Errorf("DeleteLesson(withdrawn) = %v, %v, want not ok", ok, err)
		}
		if vis, err := ls.LessonsOfCourse(ctx, c.ID, true); err != nil || len(vis) != 0 {
			t.Errorf("published lessons after the withdrawal = %+v, %v, want none", vis, err)
		}
		if got, _, err := ls.ListCourses(ctx, "", true, model.Page{}); err != nil || len(got) != 0 {
			t.Errorf("visible courses = %+v, %v, want none", got, err)
		}
		if latest, err := ls.LatestLessons(ctx, 5); err != nil || len(latest) != 0 {
			t.Errorf("LatestLessons() = %+v, %v, want none", latest, err)
		}
		after, err := ls.Figures(ctx, lessonT0.Add(-time.Hour), lessonT0.Add(time.Hour))
		if err != nil || after.Published != before.Published || after.Completed != before.Completed ||
			after.NewSubscribers != before.NewSubscribers {
			t.Errorf("Figures() after the withdrawal = %+v, %v, want %+v", after, err, before)
		}
		if r, ok, err := ls.RestoreLesson(ctx, pub.ID, lessonT0.Add(2*time.Minute)); err != nil || !ok || r.Status != model.LessonPublished ||
			!r.PublishedAt.Equal(lessonT0) {
			t.Errorf("RestoreLesson() = %+v, %v, %v, want published at its first time", r, ok, err)
		}
		if _, ok, err := ls.WithdrawLesson(ctx, pub.ID, lessonT0.Add(3*time.Minute)); err != nil || !ok {
			t.Fatal(ok, err)
		}

		if n, err := ls.UnscheduleCourse(ctx, c.ID, lessonT0); err != nil || n != 1 {
			t.Errorf("UnscheduleCourse() = %d, %v, want 1", n, err)
		}
		if got, err := ls.LessonByID(ctx, sched.ID); err != nil || got.Status != model.LessonDraft || !got.PublishAt.IsZero() {
			t.Errorf("unscheduled lesson = %+v, %v, want a draft", got, err)
		}
		archived, err := ls.DeleteCourse(ctx, c.ID, lessonT0.Add(time.Hour))
		if err != nil || !archived {
			t.Fatalf("DeleteCourse(withdrawn lessons) = %v, %v, want archived", archived, err)
		}
		if _, err := ls.CourseByID(ctx, c.ID); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("CourseByID(archived) = %v, want ErrNotFound", err)
		}
		if got, _, err := ls.ListCourses(ctx, "", false, model.Page{}); err != nil || len(got) != 0 {
			t.Errorf("courses after archiving = %+v, %v, want none", got, err)
		}
		if _, err := ls.CreateLesson(ctx, model.Lesson{CourseID: c.ID, Title: "x", Kind: model.LessonArticle, Body: "<p>x</p>",
			Status: model.LessonDraft}); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("CreateLesson(archived course) = %v, want ErrNotFound", err)
		}
		if _, err := ls.DeleteCourse(ctx, c.ID, lessonT0); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("DeleteCourse(again) = %v, want ErrNotFound", err)
		}
		for _, id := range []int64{draft.ID, sched.ID} {
			if _, err := ls.LessonByID(ctx, id); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("LessonByID(%d) of the archived course = %v, want deleted", id, err)
			}
		}
		if got, err := ls.LessonByID(ctx, pub.ID); err != nil || got.Status != model.LessonWithdrawn {
			t.Errorf("withdrawn lesson of the archived course = %+v, %v, want kept", got, err)
		}
		if _, _, err := ls.RestoreLesson(ctx, pub.ID, lessonT0); !errors.As(err, &me) || me.Code != "course_deleted" {
			t.Errorf("RestoreLesson(archived course) = %v, want 409 course_deleted", err)
		}
		if f, err := ls.Figures(ctx, lessonT0.Add(-time.Hour), lessonT0.Add(time.Hour)); err != nil || f.Published != 1 ||
			f.Completed != 1 || f.NewSubscribers != 1 {
			t.Errorf("Figures() after archiving = %+v, %v, want the lesson, completion and subscription counted", f, err)
		}

		// A course that never published anything is erased.
		e := mustCourse(t, ls, "隔代教育", 2)
		mustLesson(t, ls, e.ID, 1, model.LessonDraft)
		if err := ls.Subscribe(ctx, e.ID, 7, lessonT0); err != nil {
			t.Fatal(err)
		}
		if archived, err := ls.DeleteCourse(ctx, e.ID, lessonT0); err != nil || archived {
			t.Fatalf("DeleteCourse(drafts only) = %v, %v, want erased", archived, err)
		}
		if subs, err := ls.Subscribers(ctx, e.ID, 0, 10); err != nil || len(subs) != 0 {
			t.Errorf("subscribers of the erased course = %v, %v, want none", subs, err)
		}
		var n int64
		if err := store.GormForTest(db).Table("courses").Where("id = ?", e.ID).Count(&n).Error; err != nil || n != 0 {
			t.Errorf("rows of the erased course = %d, %v, want 0", n, err)
		}
	})
}

// TestWithdrawStopsFanoutPage runs a fan-out page (advance the cursor,
// then insert the page's notices as queued) against a withdrawal (lesson
// withdrawn, fan-out finished, push cancelled), each in its own
// transaction, at once, many times: whichever commits first, no notice of
// the push is left to be sent — the page either committed before the
// withdrawal skipped its notices, or saw the fan-out finished and rolled
// back.
func TestWithdrawStopsFanoutPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ls, ns := store.NewLessons(db), store.NewNotify(db)
		ctx := context.Background()
		c := mustCourse(t, ls, "亲子阅读", 1)
		stopped := errors.New("stopped")
		pages, rolledBack := 0, 0
		for i := range 10 {
			l := mustLesson(t, ls, c.ID, i, model.LessonPublished)
			push, err := ns.CreatePush(ctx, model.Push{Title: "新课", Topic: "lesson_published"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ls.StartPush(ctx, l, push.ID, lessonT0); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var pageErr, withdrawErr error
			wg.Go(func() {
				pageErr = db.WithTx(ctx, func(ctx context.Context) error {
					ok, err := ls.AdvancePush(ctx, l.ID, 100, lessonT0.Add(time.Second))
					if err != nil {
						return err
					}
					if !ok {
						return stopped
					}
					ds := make([]model.Delivery, 5)
					for j := range ds {
						ds[j] = model.Delivery{PushID: push.ID, Topic: "lesson_published", DedupeKey: fmt.Sprintf("w:%d:%d", l.ID, j),
							UserID: int64(j + 1)}
					}
					_, err = ns.CreateDeliveries(ctx, ds)
					return err
				})
			})
			wg.Go(func() {
				withdrawErr = db.WithTx(ctx, func(ctx context.Context) error {
					if _, ok, err := ls.WithdrawLesson(ctx, l.ID, lessonT0.Add(time.Minute)); err != nil || !ok {
						return fmt.Errorf("withdraw: %v, %w", ok, err)
					}
					if err := ls.FinishPush(ctx, l.ID, lessonT0.Add(time.Minute)); err != nil {
						return err
					}
					_, err := ns.CancelPush(ctx, push.ID, "push cancelled", lessonT0.Add(time.Minute))
					return err
				})
			})
			wg.Wait()
			if withdrawErr != nil {
				t.Fatalf("withdrawal = %v", withdrawErr)
			}
			switch {
			case errors.Is(pageErr, stopped):
				rolledBack++
			case pageErr != nil:
				t.Fatalf("page = %v", pageErr)
			default:
				pages++
			}
			counts, err := ns.CountPushes(ctx, []int64{push.ID})
			if err != nil {
				t.Fatal(err)
			}
			if got := counts[push.ID]; got.Pending != 0 {
				t.Fatalf("push after page and withdrawal = %+v, want nothing left to send", got)
			}
			p, err := ns.PushByID(ctx, push.ID)
			if err != nil || p.CancelledAt.IsZero() {
				t.Errorf("PushByID() = %+v, %v, want cancelled", p, err)
			}
		}
		t.Logf("%d pages committed first, %d rolled back", pages, rolledBack)
		if _, err := ns.CancelPush(ctx, 99999, "x", lessonT0); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("CancelPush(unknown) = %v, want ErrNotFound", err)
		}
	})
}

// TestMigrateLessonsWithdraw: step 0014 adds courses.deleted_at and
// notify_pushes.cancelled_at to tables of step 0008 / 0005 holding rows:
// nothing is archived or cancelled, and both work afterwards.
func TestMigrateLessonsWithdraw(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ls, ns := store.NewLessons(db), store.NewNotify(db)
		c := mustCourse(t, ls, "幼小衔接", 1)
		push, err := ns.CreatePush(ctx, model.Push{Title: "新课", Topic: "lesson_published"})
		if err != nil {
			t.Fatal(err)
		}
		g := store.GormForTest(db)
		for _, step := range []string{
			"ALTER TABLE courses DROP COLUMN deleted_at",
			"ALTER TABLE notify_pushes DROP COLUMN cancelled_at",
			"DELETE FROM schema_migrations WHERE id = '0014_lessons_withdraw'",
		} {
			if err := g.Exec(step).Error; err != nil {
				t.Fatalf("setting up step 0012's shape: %s: %v", step, err)
			}
		}
		m := g.Migrator()
		if m.HasColumn("courses", "deleted_at") || m.HasColumn("notify_pushes", "cancelled_at") {
			t.Fatal("columns still there after dropping them")
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate() = %v", err)
		}
		if !m.HasColumn("courses", "deleted_at") || !m.HasColumn("notify_pushes", "cancelled_at") {
			t.Fatal("columns missing after the migration")
		}
		if got, err := ls.CourseByID(ctx, c.ID); err != nil || got.Title != c.Title {
			t.Errorf("CourseByID(existing) = %+v, %v, want it (not archived)", got, err)
		}
		if p, err := ns.PushByID(ctx, push.ID); err != nil || !p.CancelledAt.IsZero() {
			t.Errorf("PushByID(existing) = %+v, %v, want not cancelled", p, err)
		}
		if _, err := ns.CancelPush(ctx, push.ID, "push cancelled", lessonT0); err != nil {
			t.Errorf("CancelPush() after the migration = %v", err)
		}
		if archived, err := ls.DeleteCourse(ctx, c.ID, lessonT0); err != nil || archived {
			t.Errorf("DeleteCourse() after the migration = %v, %v", archived, err)
		}
	})
}

// TestDeleteCourseRacesRestore: a course deleted while one of its
// withdrawn lessons is restored ends either archived with the lesson still
// withdrawn (the restore is 409 course_deleted) or with the lesson
// published and the course kept (the delete is 409 course_published) —
// never a published lesson in an archived course.
func TestDeleteCourseRacesRestore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ls := store.NewLessons(db)
		ctx := context.Background()
		archived, restored := 0, 0
		for i := range 10 {
			c := mustCourse(t, ls, fmt.Sprintf("课程%d", i), i)
			l := mustLesson(t, ls, c.ID, 1, model.LessonPublished)
			if _, ok, err := ls.WithdrawLesson(ctx, l.ID, lessonT0); err != nil || !ok {
				t.Fatal(ok, err)
			}
			var wg sync.WaitGroup
			var delErr, resErr error
			var resOK bool
			wg.Go(func() {
				delErr = db.WithTx(ctx, func(ctx context.Context) error {
					// The service reads the course's lessons first (for the
					// audit): on MySQL that read fixes the snapshot.
					if _, err := ls.LessonsOfCourse(ctx, c.ID, false); err != nil {
						return err
					}
					_, err := ls.DeleteCourse(ctx, c.ID, lessonT0.Add(time.Minute))
					return err
				})
			})
			wg.Go(func() { _, resOK, resErr = ls.RestoreLesson(ctx, l.ID, lessonT0.Add(time.Minute)) })
			wg.Wait()
			got, err := ls.LessonByID(ctx, l.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, courseErr := ls.CourseByID(ctx, c.ID)
			switch {
			case delErr == nil && errors.Is(resErr, model.ErrConflict) && !resOK:
				archived++
				if got.Status != model.LessonWithdrawn || !errors.Is(courseErr, model.ErrNotFound) {
					t.Errorf("round %d: archived, yet lesson %s, course %v", i, got.Status, courseErr)
				}
			case resErr == nil && resOK && errors.Is(delErr, model.ErrConflict):
				restored++
				if got.Status != model.LessonPublished || courseErr != nil {
					t.Errorf("round %d: restored, yet lesson %s, course %v", i, got.Status, courseErr)
				}
			default:
				t.Errorf("round %d: delete %v, restore %v %v; want exactly one to win", i, delErr, resOK, resErr)
			}
		}
		t.Logf("%d archived first, %d restored first", archived, restored)
	})
}
