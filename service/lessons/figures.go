package lessons

import (
	"context"
	"fmt"
	"strings"
	"time"

	"wanjia/model"
)

// LessonReport is one lesson with its figures for staff: its push's
// counts (subscribers at the push, notified, no consent, no channel,
// failed, still pending, opened after the push) and what users did
// (started, completed).
type LessonReport struct {
	Lesson     model.Lesson
	Push       model.PushCounts // zero before the lesson is published
	PushDone   bool             // every subscriber's notice was accepted (the fan-out finished)
	Stats      model.LessonStats
	Completion float64 // completed ÷ started, 0..1
}

// CourseReport is a course with every lesson and their figures, for
// staff. CompletionRate is the share of the course's learners (users with
// any progress, in withdrawn lessons too) who completed every lesson
// published now (a withdrawn lesson is no longer part of the course; its
// own figures stay in its LessonReport).
type CourseReport struct {
	Course         model.Course
	Lessons        []LessonReport
	Learners       int
	Finished       int
	CompletionRate float64
}

// CourseReport returns course id with all its lessons and figures (editor).
func (s *Service) CourseReport(ctx context.Context, id int64) (CourseReport, error) {
	if _, err := requireEditor(ctx); err != nil {
		return CourseReport{}, err
	}
	c, err := s.store.CourseByID(ctx, id)
	if err != nil {
		return CourseReport{}, err
	}
	ls, err := s.store.LessonsOfCourse(ctx, id, false)
	if err != nil {
		return CourseReport{}, err
	}
	reports, err := s.lessonReports(ctx, ls)
	if err != nil {
		return CourseReport{}, err
	}
	var published []int64
	for _, l := range ls {
		if l.Status == model.LessonPublished {
			published = append(published, l.ID)
		}
	}
	r := CourseReport{Course: c, Lessons: reports}
	if r.Learners, r.Finished, err = s.store.CourseCompletion(ctx, id, published); err != nil {
		return CourseReport{}, err
	}
	r.CompletionRate = ratio(r.Finished, r.Learners)
	return r, nil
}

// lessonReports adds the figures of ls (two grouped queries and one per
// pushed lesson's fan-out).
func (s *Service) lessonReports(ctx context.Context, ls []model.Lesson) ([]LessonReport, error) {
	ids := make([]int64, len(ls))
	var pushes []int64
	for i, l := range ls {
		ids[i] = l.ID
		if l.PushID != 0 {
			pushes = append(pushes, l.PushID)
		}
	}
	stats, err := s.store.LessonStatsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	counts, err := s.counts.CountPushes(ctx, pushes)
	if err != nil {
		return nil, err
	}
	out := make([]LessonReport, len(ls))
	for i, l := range ls {
		l.Body = "" // a report shows no bodies (PushReport's lesson has one)
		r := LessonReport{Lesson: l, Stats: stats[l.ID], Push: counts[l.PushID]}
		r.Completion = ratio(r.Stats.Completed, r.Stats.Started)
		if l.PushID != 0 {
			lp, err := s.store.LessonPush(ctx, l.ID)
			if err != nil {
				return nil, err
			}
			r.PushDone = !lp.FinishedAt.IsZero()
		}
		out[i] = r
	}
	return out, nil
}

// PushReport returns the lesson a push announced with its figures
// (editor); ErrNotFound when the push is not a lesson's.
func (s *Service) PushReport(ctx context.Context, pushID int64) (LessonReport, error) {
	if _, err := requireEditor(ctx); err != nil {
		return LessonReport{}, err
	}
	l, err := s.store.LessonByPush(ctx, pushID)
	if err != nil {
		return LessonReport{}, err
	}
	rs, err := s.lessonReports(ctx, []model.Lesson{l})
	if err != nil {
		return LessonReport{}, err
	}
	return rs[0], nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// FigureSection reports the area's figures for [from, to) (the staff
// workspace composes them; it checks the caller's role): lessons
// published, families reached, opens after the push, completions and new
// subscriptions.
func (s *Service) FigureSection(ctx context.Context, from, to time.Time) (model.FigureSection, error) {
	if !to.After(from) {
		return model.FigureSection{}, model.Invalid(map[string]string{"to": "须晚于 from"})
	}
	f, err := s.store.Figures(ctx, from, to)
	if err != nil {
		return model.FigureSection{}, fmt.Errorf("lesson figures: %w", err)
	}
	return model.FigureSection{Area: "lessons", Title: "家庭教育微课堂", Figures: []model.Figure{
		{Key: model.FigLessonsPublished, Name: "发布微课", Value: float64(f.Published), Unit: "节",
			Definition: "期内发布（含定时发布）的微课节数，按形式（视频、音频、图文）分列；其后下架的微课仍计入其发布的时期。",
			Breakdown:  floats(f.PublishedKinds)},
		{Key: model.FigLessonReach, Name: "推送触达", Value: float64(f.Reached), Unit: "人次",
			Definition: "期内微课上新通知成功发出的人次（小程序订阅消息或公众号模板消息，每节课每人至多一次），按渠道分列。",
			Breakdown:  floats(f.ReachedBy)},
		{Key: FigLessonOpened, Name: "推送后学习", Value: float64(f.Opened), Unit: "人次",
			Definition: "期内收到上新通知后打开该节微课的人次（每节课每人计一次）。"},
		{Key: model.FigLessonCompleted, Name: "完成学习", Value: float64(f.Completed), Unit: "人次",
			Definition: "期内首次报告学完某节微课的人次（每节课每人计一次）。"},
		{Key: FigLessonSubscriptions, Name: "新增订阅", Value: float64(f.NewSubscribers), Unit: "人次",
			Definition: "期内新订阅课程且至期末未退订的人次（每门课每人计一次）。"},
	}}, nil
}

// The area's figure keys besides model's.
const (
	FigLessonOpened        = "lessons.opened"
	FigLessonSubscriptions = "lessons.subscriptions"
)

func floats(m map[string]int) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v)
	}
	return out
}

// Reply answers the OA intent 课堂 with the three latest lessons (the
// gateway provider "lessons"); nil when none is published, so the rule's
// static reply answers.
func (s *Service) Reply(ctx context.Context) (*model.Reply, error) {
	ls, err := s.store.LatestLessons(ctx, 3)
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, nil
	}
	titles := map[int64]string{}
	var b strings.Builder
	b.WriteString("家庭教育微课堂最新课程：")
	for _, l := range ls {
		if _, ok := titles[l.CourseID]; !ok {
			c, err := s.store.CourseByID(ctx, l.CourseID)
			if err != nil {
				return nil, err
			}
			titles[l.CourseID] = c.Title
		}
		fmt.Fprintf(&b, "\n· 《%s》（%s，%s）", l.Title, titles[l.CourseID], kindName(l.Kind))
	}
	b.WriteString("\n请在小程序“微课堂”中学习，订阅课程可及时收到上新提醒。")
	return &model.Reply{Kind: model.ReplyText, Text: b.String()}, nil
}

func kindName(k model.LessonKind) string {
	switch k {
	case model.LessonVideo:
		return "视频"
	case model.LessonAudio:
		return "音频"
	}
	return "图文"
}
