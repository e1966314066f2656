package lessons

import (
	"context"
	"fmt"

	"wanjia/model"
)

// Taking content down. A lesson never published (a draft, or scheduled)
// is deleted outright: nobody saw it, nothing counts it. A published lesson
// is withdrawn (下架) instead: hidden from the Mini Program again, its push
// stopped — the fan-out ends at its next page and the notification centre
// skips every notice not yet sent — while what already happened stays in
// the figures (its notices sent, opens, progress and completions, and its
// publication in the period it was published). A withdrawn lesson may be
// restored; nobody is notified again. A course is deleted only when it has
// no published lesson: it then loses its drafts and scheduled lessons, and
// is erased when nothing else is left, or archived (hidden, kept for the
// figures of its withdrawn lessons) when it had published lessons.
// Withdrawing a course withdraws all its published lessons and makes its
// scheduled ones drafts, so that it can be deleted.

var (
	errDeletePublished = model.Coded(model.ErrConflict, "lesson_published",
		"已发布的微课不能删除，请改为下架（下架后家长看不到，已有的统计保留）")
	errDeleteWithdrawn = model.Coded(model.ErrConflict, "lesson_withdrawn",
		"已下架的微课保留用于统计，不能删除")
	errNotPublished = model.Coded(model.ErrConflict, "not_published",
		"微课尚未发布，无需下架；草稿或定时发布的微课可以直接删除")
	errNotWithdrawn = model.Coded(model.ErrConflict, "not_withdrawn", "微课未下架，无需重新上架")
)

// maxReason bounds a withdrawal's reason.
const maxReason = 200

// DeleteLesson deletes a draft or scheduled lesson (editor; audited). A
// scheduled lesson deleted this way is never published, even when a tick
// of another copy is publishing it at this moment: both are conditional on
// the same row, so either the delete wins (the publish finds nothing) or
// the publish wins (the delete is 409 lesson_published and the lesson is
// out, with its push). A published lesson is 409 lesson_published, a
// withdrawn one 409 lesson_withdrawn; a missing one 404.
func (s *Service) DeleteLesson(ctx context.Context, id int64) error {
	if _, err := requireEditor(ctx); err != nil {
		return err
	}
	err := s.tx.WithTx(ctx, func(ctx context.Context) error {
		before, err := s.store.LessonByID(ctx, id)
		if err != nil {
			return err
		}
		ok, err := s.store.DeleteLesson(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			now, err := s.store.LessonByID(ctx, id)
			if err != nil {
				return err
			}
			if now.Status == model.LessonWithdrawn {
				return errDeleteWithdrawn
			}
			return errDeletePublished
		}
		return s.audit.Audit(ctx, "lesson.delete", "lesson", fmt.Sprint(id), auditLesson(before), nil)
	})
	if err != nil {
		return fmt.Errorf("delete lesson %d: %w", id, err)
	}
	s.log.InfoContext(ctx, "lesson deleted", "lesson_id", id)
	return nil
}

// Withdraw takes published lesson id down (editor; audited with reason,
// which is optional): users no longer see it (404), their progress reports
// are refused (409 lesson_withdrawn), and its push stops — in the same
// transaction the fan-out is marked finished and the push cancelled, so no
// notice of it not yet sent goes out. The figures keep what happened. A
// lesson not published is 409 not_published; withdrawing again answers the
// lesson as it is.
func (s *Service) Withdraw(ctx context.Context, id int64, reason string) (model.Lesson, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Lesson{}, err
	}
	reason, ok := cleanText(reason, false)
	if !ok || !runes(reason, 0, maxReason) {
		return model.Lesson{}, model.Invalid(map[string]string{"reason": "不超过 200 个字"})
	}
	var out model.Lesson
	skipped := 0
	err := s.tx.WithTx(ctx, func(ctx context.Context) error {
		before, err := s.store.LessonByID(ctx, id)
		if err != nil {
			return err
		}
		switch before.Status {
		case model.LessonWithdrawn:
			out = before
			return nil
		case model.LessonDraft, model.LessonScheduled:
			return errNotPublished
		}
		var changed bool
		out, changed, skipped, err = s.withdraw(ctx, id)
		if err != nil || !changed {
			return err
		}
		return s.audit.Audit(ctx, "lesson.withdraw", "lesson", fmt.Sprint(id),
			map[string]any{"status": before.Status},
			map[string]any{"status": out.Status, "reason": reason, "push_id": out.PushID, "notices_skipped": skipped})
	})
	if err != nil {
		return model.Lesson{}, fmt.Errorf("withdraw lesson %d: %w", id, err)
	}
	return out, nil
}

// withdraw moves published lesson id to withdrawn, stops its fan-out and
// cancels its push, inside the caller's transaction. changed is false
// when it was not published (any more).
func (s *Service) withdraw(ctx context.Context, id int64) (l model.Lesson, changed bool, skipped int, err error) {
	now := s.now()
	l, changed, err = s.store.WithdrawLesson(ctx, id, now)
	if err != nil || !changed {
		return l, false, 0, err
	}
	if l.PushID != 0 {
		if err := s.store.FinishPush(ctx, id, now); err != nil {
			return l, false, 0, err
		}
		if skipped, err = s.notify.CancelPush(ctx, l.PushID); err != nil {
			return l, false, 0, err
		}
	}
	s.log.InfoContext(ctx, "lesson withdrawn", "lesson_id", id, "push_id", l.PushID, "notices_skipped", skipped)
	return l, true, skipped, nil
}

// StopPush stops push pushID, the announcement of a lesson, without taking
// the lesson down (editor; a reason of 1–200 characters; audited): a
// notice worded badly or sent at a bad hour. In one transaction the
// lesson's fan-out is marked finished and the push cancelled, as Withdraw
// does, so no notice of it not yet sent goes out; the lesson stays as it
// is, and is not announced again. It returns how many notices were
// skipped. A push that is not a lesson's is model.ErrNotFound; stopping a
// stopped push skips nothing more.
func (s *Service) StopPush(ctx context.Context, pushID int64, reason string) (lessonID int64, skipped int, err error) {
	if _, err := requireEditor(ctx); err != nil {
		return 0, 0, err
	}
	reason, ok := cleanText(reason, false)
	if !ok || !runes(reason, 1, maxReason) {
		return 0, 0, model.Invalid(map[string]string{"reason": "请说明停止推送的原因（不超过 200 个字）"})
	}
	err = s.tx.WithTx(ctx, func(ctx context.Context) error {
		l, err := s.store.LessonByPush(ctx, pushID)
		if err != nil {
			return err
		}
		lessonID = l.ID
		if err := s.store.FinishPush(ctx, l.ID, s.now()); err != nil {
			return err
		}
		if skipped, err = s.notify.CancelPush(ctx, pushID); err != nil {
			return err
		}
		return s.audit.Audit(ctx, "lesson.push_stop", "push", fmt.Sprint(pushID), nil,
			map[string]any{"lesson_id": l.ID, "reason": reason, "notices_skipped": skipped})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("stop push %d: %w", pushID, err)
	}
	s.log.InfoContext(ctx, "lesson push stopped", "push_id", pushID, "lesson_id", lessonID, "notices_skipped", skipped)
	return lessonID, skipped, nil
}

// Restore puts withdrawn lesson id back (editor; audited): users see it
// again, with its first publish time; nobody is notified again (its push
// stays stopped). A lesson not withdrawn is 409 not_withdrawn; one whose
// course was deleted (archived) is 409 course_deleted.
func (s *Service) Restore(ctx context.Context, id int64) (model.Lesson, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Lesson{}, err
	}
	var out model.Lesson
	err := s.tx.WithTx(ctx, func(ctx context.Context) error {
		l, ok, err := s.store.RestoreLesson(ctx, id, s.now())
		if err != nil {
			return err
		}
		if !ok {
			return errNotWithdrawn
		}
		out = l
		return s.audit.Audit(ctx, "lesson.restore", "lesson", fmt.Sprint(id),
			map[string]any{"status": model.LessonWithdrawn}, map[string]any{"status": l.Status})
	})
	if err != nil {
		return model.Lesson{}, fmt.Errorf("restore lesson %d: %w", id, err)
	}
	return out, nil
}

// CourseWithdrawal is what WithdrawCourse did.
type CourseWithdrawal struct {
	Withdrawn   []int64 // lessons withdrawn
	Unscheduled int     // scheduled lessons made drafts
	Skipped     int     // notices not sent
}

// WithdrawCourse takes course id down (editor; audited): in one
// transaction its scheduled lessons become drafts (so none appears later)
// and each published lesson is withdrawn as Withdraw does. The course then
// disappears from the Mini Program (it has no published lesson) and may be
// deleted. Withdrawing a course with nothing published changes nothing but
// the schedule.
func (s *Service) WithdrawCourse(ctx context.Context, id int64, reason string) (CourseWithdrawal, error) {
	if _, err := requireEditor(ctx); err != nil {
		return CourseWithdrawal{}, err
	}
	reason, ok := cleanText(reason, false)
	if !ok || !runes(reason, 0, maxReason) {
		return CourseWithdrawal{}, model.Invalid(map[string]string{"reason": "不超过 200 个字"})
	}
	var w CourseWithdrawal
	err := s.tx.WithTx(ctx, func(ctx context.Context) error {
		// Unschedule first, before any read: a tick publishing one of them
		// now either commits before (and the lesson is withdrawn below; on
		// MySQL the reads below take their snapshot after this write) or
		// finds a draft.
		var err error
		if w.Unscheduled, err = s.store.UnscheduleCourse(ctx, id, s.now()); err != nil {
			return err
		}
		if _, err := s.store.CourseByID(ctx, id); err != nil {
			return err
		}
		pub, err := s.store.LessonsOfCourse(ctx, id, true)
		if err != nil {
			return err
		}
		for _, l := range pub {
			_, changed, skipped, err := s.withdraw(ctx, l.ID)
			if err != nil {
				return err
			}
			if changed {
				w.Withdrawn = append(w.Withdrawn, l.ID)
				w.Skipped += skipped
				if err := s.audit.Audit(ctx, "lesson.withdraw", "lesson", fmt.Sprint(l.ID),
					map[string]any{"status": model.LessonPublished},
					map[string]any{"status": model.LessonWithdrawn, "reason": reason, "push_id": l.PushID,
						"notices_skipped": skipped, "course_id": id}); err != nil {
					return err
				}
			}
		}
		return s.audit.Audit(ctx, "course.withdraw", "course", fmt.Sprint(id), nil,
			map[string]any{"reason": reason, "withdrawn": w.Withdrawn, "unscheduled": w.Unscheduled, "notices_skipped": w.Skipped})
	})
	if err != nil {
		return CourseWithdrawal{}, fmt.Errorf("withdraw course %d: %w", id, err)
	}
	return w, nil
}

// DeleteCourse deletes course id (editor; audited) when none of its
// lessons is published — otherwise 409 course_published: withdraw them (or
// the course) first. Its drafts and scheduled lessons are deleted; a
// course that had published lessons (now withdrawn) is archived rather
// than erased — hidden from staff and users alike, its lessons' figures
// still counted — and archived reports which. A missing course is 404.
func (s *Service) DeleteCourse(ctx context.Context, id int64) (archived bool, err error) {
	if _, err := requireEditor(ctx); err != nil {
		return false, err
	}
	err = s.tx.WithTx(ctx, func(ctx context.Context) error {
		before, err := s.store.CourseByID(ctx, id)
		if err != nil {
			return err
		}
		all, err := s.store.LessonsOfCourse(ctx, id, false)
		if err != nil {
			return err
		}
		if archived, err = s.store.DeleteCourse(ctx, id, s.now()); err != nil {
			return err
		}
		deleted := []int64{}
		for _, l := range all {
			if l.Status == model.LessonDraft || l.Status == model.LessonScheduled {
				deleted = append(deleted, l.ID)
			}
		}
		after := map[string]any{"archived": archived, "lessons_deleted": deleted}
		return s.audit.Audit(ctx, "course.delete", "course", fmt.Sprint(id), auditCourse(before), after)
	})
	if err != nil {
		return false, fmt.Errorf("delete course %d: %w", id, err)
	}
	s.log.InfoContext(ctx, "course deleted", "course_id", id, "archived", archived)
	return archived, nil
}
