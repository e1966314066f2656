package lessons

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"wanjia/model"
	"wanjia/service/notify"
)

// dueBatch bounds the lessons one tick publishes.
const dueBatch = 100

// Publish publishes lesson id now (editor; audited) and starts its push
// to the course's subscribers. Publishing a published lesson changes
// nothing and notifies nobody again; it answers the lesson as it is. A
// withdrawn lesson is 409 lesson_withdrawn (Restore puts it back, without
// a new push).
func (s *Service) Publish(ctx context.Context, id int64) (model.Lesson, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Lesson{}, err
	}
	l, _, err := s.publish(ctx, id)
	if err == nil && l.Status == model.LessonWithdrawn {
		return model.Lesson{}, errWithdrawnPublish
	}
	return l, err
}

var errWithdrawnPublish = model.Coded(model.ErrConflict, "lesson_withdrawn", "微课已下架；如需重新上架，请使用“重新上架”（不会再次通知订阅者）")

// publish moves lesson id to published with one conditional UPDATE and,
// when this call did it, creates the push and the fan-out's progress row in
// the same transaction (audited when a staff member did it), then hands
// the fan-out to the queue. A queue failure is logged: the tick restarts
// fan-outs that do not move.
func (s *Service) publish(ctx context.Context, id int64) (model.Lesson, bool, error) {
	var out model.Lesson
	started := false
	err := s.tx.WithTx(ctx, func(ctx context.Context) error {
		now := s.now()
		before, err := s.store.LessonByID(ctx, id)
		if err != nil || (before.Status != model.LessonDraft && before.Status != model.LessonScheduled) {
			out = before
			return err
		}
		l, ok, err := s.store.MarkPublished(ctx, id, now)
		if err != nil || !ok {
			out = l
			return err
		}
		pushID, err := s.notify.CreatePush(ctx, pushTitle(l.Title), TopicLessonPublished)
		if err != nil {
			return err
		}
		if _, err := s.store.StartPush(ctx, l, pushID, now); err != nil {
			return err
		}
		l.PushID = pushID
		out, started = l, true
		if _, staff := model.StaffFrom(ctx); staff {
			return s.audit.Audit(ctx, "lesson.publish", "lesson", fmt.Sprint(id),
				map[string]any{"status": before.Status}, map[string]any{"status": model.LessonPublished, "push_id": pushID})
		}
		return nil
	})
	if err != nil {
		return model.Lesson{}, false, fmt.Errorf("publish lesson %d: %w", id, err)
	}
	if started {
		s.log.InfoContext(ctx, "lesson published", "lesson_id", id, "push_id", out.PushID)
		if err := s.queue.EnqueueFanout(ctx, id, ""); err != nil {
			s.log.WarnContext(ctx, "lessons: enqueue fan-out; the tick will restart it", "lesson_id", id, "err", err)
		}
	}
	return out, started, nil
}

// pushTitle is the push's name in the console.
func pushTitle(title string) string {
	t := "微课上新：" + title
	if r := []rune(t); len(r) > 128 {
		t = string(r[:127]) + "…"
	}
	return t
}

// Tick is the scheduler's minute: it publishes every scheduled lesson
// that is due (once across every copy: the publish is a conditional
// UPDATE) and restarts fan-outs that stopped moving (a copy that died
// mid-push, a task lost with Redis). A due lesson deleted meanwhile is
// not published (the delete and the publish are conditional on the same
// row: one of them finds nothing to do). It returns how many it published.
func (s *Service) Tick(ctx context.Context) (int, error) {
	ids, err := s.store.DueLessons(ctx, s.now(), dueBatch)
	if err != nil {
		return 0, fmt.Errorf("lessons tick: %w", err)
	}
	published := 0
	var errs []error
	for _, id := range ids {
		_, ok, err := s.publish(ctx, id)
		if errors.Is(err, model.ErrNotFound) {
			continue // deleted since DueLessons read it
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			published++
		}
	}
	errs = append(errs, s.resumeStalled(ctx))
	if err := errors.Join(errs...); err != nil {
		return published, fmt.Errorf("lessons tick: %w", err)
	}
	return published, nil
}

// resumeStalled hands every fan-out that has not moved for StallAfter to
// the queue again, under a task id of its own (the first task may be dead).
func (s *Service) resumeStalled(ctx context.Context) error {
	now := s.now()
	ids, err := s.store.StalledPushes(ctx, now.Add(-s.opts.StallAfter), dueBatch)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		s.log.WarnContext(ctx, "lessons: restarting a stalled fan-out", "lesson_id", id)
		if err := s.queue.EnqueueFanout(ctx, id, strconv.FormatInt(now.Unix()/60, 10)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Fanout notifies every subscriber of the lesson's course, page by page
// from where the last run stopped, and marks the fan-out finished (the
// background task's work). Each page is one transaction: the cursor moved
// past the page (first, so the page holds the fan-out's row: a withdrawal
// that stops the fan-out either waits for the page to commit, and then
// cancels its notices too, or is seen by it, and the page is rolled
// back), and one NotifyMany call with one DedupeKey per subscriber. A
// rerun — a restart, a second task — starts after the last committed page,
// and the keys make even a repeated page notify nobody twice. Subscribers
// are read FanoutBatch at a time, never all. The notices of the first
// page are handed to the queue at once; the notification centre's sweep
// keeps feeding the rest at the send rate. A fan-out stopped by a
// withdrawal (finished) returns nil at its next page.
func (s *Service) Fanout(ctx context.Context, lessonID int64) error {
	lp, err := s.store.LessonPush(ctx, lessonID)
	if err != nil {
		return fmt.Errorf("fan-out %d: %w", lessonID, err)
	}
	if !lp.FinishedAt.IsZero() {
		return nil
	}
	l, err := s.store.LessonByID(ctx, lessonID)
	if err != nil {
		return fmt.Errorf("fan-out %d: %w", lessonID, err)
	}
	c, err := s.store.CourseByID(ctx, l.CourseID)
	if err != nil {
		return fmt.Errorf("fan-out %d: %w", lessonID, err)
	}
	n := s.notice(l, c, lp.PushID)
	cursor, total := lp.Cursor, 0
	start := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fan-out %d: stopped at subscription %d: %w", lessonID, cursor, err)
		}
		subs, err := s.store.Subscribers(ctx, l.CourseID, cursor, s.opts.FanoutBatch)
		if err != nil {
			return fmt.Errorf("fan-out %d: %w", lessonID, err)
		}
		if len(subs) == 0 {
			break
		}
		to := make([]notify.Target, len(subs))
		for i, sub := range subs {
			to[i] = notify.Target{Recipient: model.Recipient{UserID: sub.UserID}, DedupeKey: DedupeKey(lessonID, sub.UserID)}
		}
		last := subs[len(subs)-1].ID
		err = s.tx.WithTx(ctx, func(ctx context.Context) error {
			ok, err := s.store.AdvancePush(ctx, lessonID, last, s.now())
			if err != nil {
				return err
			}
			if !ok {
				return errFanoutStopped
			}
			_, err = s.notify.NotifyMany(ctx, n, to)
			return err
		})
		if errors.Is(err, errFanoutStopped) {
			s.log.InfoContext(ctx, "lesson push stopped (withdrawn)", "lesson_id", lessonID, "push_id", lp.PushID,
				"subscribers", total)
			return nil
		}
		if err != nil {
			return fmt.Errorf("fan-out %d: %w", lessonID, err)
		}
		if total == 0 {
			s.feed(ctx, lp.PushID)
		}
		cursor = last
		total += len(subs)
	}
	if err := s.store.FinishPush(ctx, lessonID, s.now()); err != nil {
		return fmt.Errorf("fan-out %d: %w", lessonID, err)
	}
	s.feed(ctx, lp.PushID)
	s.log.InfoContext(ctx, "lesson push fanned out", "lesson_id", lessonID, "push_id", lp.PushID, "subscribers", total,
		"elapsed_ms", time.Since(start).Milliseconds())
	return nil
}

// errFanoutStopped rolls back a fan-out page whose fan-out was finished by
// a withdrawal.
var errFanoutStopped = errors.New("fan-out stopped")

// notice is the lesson's notice (its template fields: title, course, time).
func (s *Service) notice(l model.Lesson, c model.Course, pushID int64) model.Notice {
	return model.Notice{
		Topic:  TopicLessonPublished,
		PushID: pushID,
		Page:   fmt.Sprintf(LessonPage, l.ID),
		Fields: map[string]string{
			"title": l.Title, "course": c.Title, "time": l.PublishedAt.In(s.opts.Location).Format(time.RFC3339),
		},
	}
}

// feed hands the push's first notices to the queue now; a failure is
// logged (the notification centre's sweep feeds the push anyway).
func (s *Service) feed(ctx context.Context, pushID int64) {
	if _, err := s.notify.FeedPush(ctx, pushID); err != nil {
		s.log.WarnContext(ctx, "lessons: feed push; the sweep will", "push_id", pushID, "err", err)
	}
}
