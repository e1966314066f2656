package lessons

import (
	"context"
	"fmt"

	"wanjia/model"
)

var errLessonNotFound = model.Errorf(model.ErrNotFound, "微课不存在")

// CourseItem is a course in the Mini Program's list.
type CourseItem struct {
	Course     model.Course
	Subscribed bool
}

// VisibleCourses pages the courses that have a published lesson, by their
// order, optionally for one audience, with whether userID subscribes.
func (s *Service) VisibleCourses(ctx context.Context, userID int64, audience model.Audience, p model.Page) ([]CourseItem, string, error) {
	if audience != "" && !audience.Valid() {
		return nil, "", model.Invalid(map[string]string{"audience": "须为 infant、preschool、primary、secondary 或 all"})
	}
	cs, next, err := s.store.ListCourses(ctx, audience, true, p)
	if err != nil {
		return nil, "", err
	}
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	subs, err := s.store.SubscribedTo(ctx, userID, ids)
	if err != nil {
		return nil, "", err
	}
	out := make([]CourseItem, len(cs))
	for i, c := range cs {
		out[i] = CourseItem{Course: c, Subscribed: subs[c.ID]}
	}
	return out, next, nil
}

// LessonItem is a published lesson of a course with the user's progress.
type LessonItem struct {
	Lesson   model.Lesson
	Progress *model.LessonProgress
}

// Resume is where the user left off: the lesson to open and the position.
type Resume struct {
	LessonID  int64
	PositionS int
}

// CourseView is a course as a Mini Program user sees it: its published
// lessons in order with her progress, whether she subscribes, where to
// continue, and the subscribe template to ask her consent for (so the
// notice of the next lesson can reach her; "" when there is none).
type CourseView struct {
	Course     model.Course
	Lessons    []LessonItem
	Subscribed bool
	Resume     *Resume
	TemplateID string
}

// visibleCourse returns a course with its published lessons, or
// ErrNotFound when it has none (users do not see it).
func (s *Service) visibleCourse(ctx context.Context, id int64) (model.Course, []model.Lesson, error) {
	c, err := s.store.CourseByID(ctx, id)
	if err != nil {
		return model.Course{}, nil, err
	}
	ls, err := s.store.LessonsOfCourse(ctx, id, true)
	if err != nil {
		return model.Course{}, nil, err
	}
	if len(ls) == 0 {
		return model.Course{}, nil, model.Errorf(model.ErrNotFound, "课程不存在")
	}
	return c, ls, nil
}

// CourseFor returns course id for userID; a course without a published
// lesson is ErrNotFound.
func (s *Service) CourseFor(ctx context.Context, userID, id int64) (CourseView, error) {
	c, ls, err := s.visibleCourse(ctx, id)
	if err != nil {
		return CourseView{}, err
	}
	progress, err := s.store.ProgressOf(ctx, userID, id)
	if err != nil {
		return CourseView{}, err
	}
	subs, err := s.store.SubscribedTo(ctx, userID, []int64{id})
	if err != nil {
		return CourseView{}, err
	}
	v := CourseView{Course: c, Subscribed: subs[id], Lessons: make([]LessonItem, len(ls))}
	byLesson := make(map[int64]model.LessonProgress, len(progress))
	for _, p := range progress {
		byLesson[p.LessonID] = p
	}
	for i, l := range ls {
		v.Lessons[i] = LessonItem{Lesson: l}
		if p, ok := byLesson[l.ID]; ok {
			v.Lessons[i].Progress = &p
		}
	}
	v.Resume = resume(ls, progress)
	v.TemplateID = s.templateID(ctx)
	return v, nil
}

// resume picks where to continue: the most recently watched lesson she
// did not finish, at her position; else, once she has started, the first
// lesson in order she has not completed, from the start; nil when she has
// not started or has completed every lesson. progress is newest first.
func resume(ls []model.Lesson, progress []model.LessonProgress) *Resume {
	published := make(map[int64]bool, len(ls))
	for _, l := range ls {
		published[l.ID] = true
	}
	done := map[int64]bool{}
	started := false
	for _, p := range progress {
		if !published[p.LessonID] {
			continue
		}
		started = true
		if !p.Completed {
			return &Resume{LessonID: p.LessonID, PositionS: p.PositionS}
		}
		done[p.LessonID] = true
	}
	if !started {
		return nil
	}
	for _, l := range ls {
		if !done[l.ID] {
			return &Resume{LessonID: l.ID}
		}
	}
	return nil
}

// templateID is the subscribe template of lesson notices, or "" (logged)
// when it cannot be read.
func (s *Service) templateID(ctx context.Context) string {
	id, err := s.notify.SubscribeTemplate(ctx, TopicLessonPublished)
	if err != nil {
		s.log.WarnContext(ctx, "lessons: subscribe template", "err", err)
		return ""
	}
	return id
}

// Subscribe subscribes userID to course id (again is a no-op) and returns
// the subscribe template to ask consent for; a course users do not see is
// ErrNotFound.
func (s *Service) Subscribe(ctx context.Context, userID, id int64) (string, error) {
	if _, _, err := s.visibleCourse(ctx, id); err != nil {
		return "", err
	}
	if err := s.store.Subscribe(ctx, id, userID, s.now()); err != nil {
		return "", err
	}
	return s.templateID(ctx), nil
}

// Unsubscribe ends userID's subscription of course id (none is a no-op); an
// unknown course is ErrNotFound.
func (s *Service) Unsubscribe(ctx context.Context, userID, id int64) error {
	if _, err := s.store.CourseByID(ctx, id); err != nil {
		return err
	}
	return s.store.Unsubscribe(ctx, id, userID)
}

// LessonView is a published lesson as a Mini Program user sees it.
type LessonView struct {
	Lesson      model.Lesson
	CourseTitle string
	Progress    *model.LessonProgress
	NextID      int64 // the next published lesson of the course; 0 at the end
}

// LessonFor returns published lesson id for userID (other statuses,
// withdrawn included, are ErrNotFound). When the lesson was pushed, her reading it now counts as
// an open of her notice, if it was sent before.
func (s *Service) LessonFor(ctx context.Context, userID, id int64) (LessonView, error) {
	l, err := s.store.LessonByID(ctx, id)
	if err != nil {
		return LessonView{}, err
	}
	if l.Status != model.LessonPublished {
		return LessonView{}, errLessonNotFound
	}
	c, err := s.store.CourseByID(ctx, l.CourseID)
	if err != nil {
		return LessonView{}, err
	}
	v := LessonView{Lesson: l, CourseTitle: c.Title}
	progress, err := s.store.ProgressOf(ctx, userID, l.CourseID)
	if err != nil {
		return LessonView{}, err
	}
	for _, p := range progress {
		if p.LessonID == id {
			v.Progress = &p
			break
		}
	}
	ls, err := s.store.LessonsOfCourse(ctx, l.CourseID, true)
	if err != nil {
		return LessonView{}, err
	}
	for i, x := range ls {
		if x.ID == id && i+1 < len(ls) {
			v.NextID = ls[i+1].ID
		}
	}
	if l.PushID != 0 {
		if _, err := s.notify.MarkRead(ctx, DedupeKey(l.ID, userID)); err != nil {
			s.log.WarnContext(ctx, "lessons: mark notice read", "lesson_id", l.ID, "err", err)
		}
	}
	return v, nil
}

// ProgressInput is a progress report: the position reached and whether
// the lesson is finished.
type ProgressInput struct {
	PositionS int
	Completed bool
}

// Valid reports field problems (Chinese).
func (in ProgressInput) Valid() map[string]string {
	if in.PositionS < 0 || in.PositionS > MaxDuration {
		return map[string]string{"position_s": "须为 0–86400 秒"}
	}
	return nil
}

// errProgressWithdrawn refuses progress on a withdrawn lesson.
var errProgressWithdrawn = model.Coded(model.ErrConflict, "lesson_withdrawn", "该微课已下架，学习进度不再记录")

// SaveProgress records userID's progress in published lesson id: the same
// report twice changes nothing, a completion is never undone, and a
// position past the lesson's end counts as its end. A withdrawn lesson is
// 409 lesson_withdrawn (a page left open while staff took it down); other
// lessons not published are ErrNotFound.
func (s *Service) SaveProgress(ctx context.Context, userID, id int64, in ProgressInput) (model.LessonProgress, error) {
	if err := model.Invalid(in.Valid()); err != nil {
		return model.LessonProgress{}, err
	}
	l, err := s.store.LessonByID(ctx, id)
	if err != nil {
		return model.LessonProgress{}, err
	}
	if l.Status == model.LessonWithdrawn {
		return model.LessonProgress{}, errProgressWithdrawn
	}
	if l.Status != model.LessonPublished {
		return model.LessonProgress{}, errLessonNotFound
	}
	if l.DurationS > 0 {
		in.PositionS = min(in.PositionS, l.DurationS)
	}
	p, err := s.store.SaveProgress(ctx, model.LessonProgress{LessonID: id, CourseID: l.CourseID, UserID: userID,
		PositionS: in.PositionS, Completed: in.Completed}, s.now())
	if err != nil {
		return model.LessonProgress{}, fmt.Errorf("save progress: %w", err)
	}
	return p, nil
}
