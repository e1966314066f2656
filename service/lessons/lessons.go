// Package lessons runs the family-education micro-lessons (心系妇儿 家庭教育
// 空中微课堂): courses and their lessons (a video or audio link, or an
// article of sanitized HTML), drafted, scheduled or published; parents
// browse them in the Mini Program, subscribe to courses and report their
// progress; each lesson, once published (by staff, or by its time from a
// job that runs once per cluster), is pushed to every subscriber of its
// course through the notification centre, exactly once; and the area's
// figures: subscribers, notices sent, no consent, opens after the push,
// completions.
//
// A publish is one conditional UPDATE (draft or scheduled → published),
// so two copies of the service, or two clicks, publish a lesson once; the
// same transaction creates the push and the fan-out's progress row. The
// fan-out runs in a job: it streams the course's subscriptions by keyset
// pages and hands each page to notify.NotifyMany with one DedupeKey per
// subscriber ("lesson:<id>:user:<uid>"), recording the last subscription
// id after each page, so a restart resumes where it stopped and nobody is
// notified twice. Channel choice (Mini Program subscribe message with
// consent, else an Official Account template message through the
// unionid, else none), the send-rate cap and quiet hours are the
// notification centre's.
//
// Drafts and scheduled lessons are deleted; published ones are withdrawn
// (hidden, their push stopped, their figures kept) and may be restored;
// courses are deleted once nothing of theirs is published (see
// withdraw.go).
package lessons

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"wanjia/model"
	"wanjia/service/notify"
)

// Notifier is the notification centre (notify.Service satisfies it).
type Notifier interface {
	CreatePush(ctx context.Context, title, topic string) (int64, error)
	NotifyMany(ctx context.Context, n model.Notice, to []notify.Target) (int, error)
	FeedPush(ctx context.Context, pushID int64) (int, error)
	// CancelPush stops a push for good: its notices not yet sent never
	// go out (a withdrawn lesson's).
	CancelPush(ctx context.Context, pushID int64) (int, error)
	MarkRead(ctx context.Context, dedupeKey string) (bool, error)
	SubscribeTemplate(ctx context.Context, topic string) (string, error)
}

// PushCounter counts a push's deliveries (store.Notify satisfies it).
type PushCounter interface {
	CountPushes(ctx context.Context, ids []int64) (map[int64]model.PushCounts, error)
}

// Auditor appends to the audit log (auth.Auth satisfies it).
type Auditor interface {
	Audit(ctx context.Context, action, targetType, targetID string, before, after any) error
}

// Transactor runs fn in a transaction carried in ctx (store.DB).
type Transactor interface {
	WithTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Queue starts a lesson's fan-out in the background (the job runner; see
// Register and NewQueue). resume names a restart of a stalled fan-out,
// which must not be mistaken for the first task.
type Queue interface {
	EnqueueFanout(ctx context.Context, lessonID int64, resume string) error
}

// TopicLessonPublished is the notification topic of a new lesson (seeded
// by the notification centre).
const TopicLessonPublished = notify.TopicLessonPublished

// LessonPage is the Mini Program page a lesson notice opens.
const LessonPage = "pages/lessons/detail?id=%d"

// DedupeKey is the key of the notice of lesson lessonID to user userID:
// one notice per person per lesson, whatever happens.
func DedupeKey(lessonID, userID int64) string {
	return fmt.Sprintf("lesson:%d:user:%d", lessonID, userID)
}

// Options tune the service; zero values take the defaults.
type Options struct {
	FanoutBatch int            // subscribers a fan-out page reads (default and at most notify.MaxBatch)
	StallAfter  time.Duration  // an unfinished fan-out not moving for this long is restarted (default 2 min)
	Location    *time.Location // the federation's zone, for notice times (default Asia/Shanghai)
}

// Deps are what New needs; Logger, Now and Options are optional.
type Deps struct {
	Store    model.LessonStore
	Notifier Notifier
	Counts   PushCounter
	Audit    Auditor
	Tx       Transactor
	Queue    Queue
	Logger   *slog.Logger
	Now      func() time.Time
	Options  Options
}

// Service is the micro-lesson use cases. It is safe for concurrent use.
type Service struct {
	store  model.LessonStore
	notify Notifier
	counts PushCounter
	audit  Auditor
	tx     Transactor
	queue  Queue
	log    *slog.Logger
	now    func() time.Time
	opts   Options
}

// New checks d and returns the service.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Notifier == nil || d.Counts == nil || d.Audit == nil || d.Tx == nil || d.Queue == nil {
		return nil, errors.New("lessons: store, notifier, counts, audit, transactor and queue are required")
	}
	o := d.Options
	if o.FanoutBatch <= 0 || o.FanoutBatch > notify.MaxBatch {
		o.FanoutBatch = notify.MaxBatch
	}
	if o.StallAfter <= 0 {
		o.StallAfter = 2 * time.Minute
	}
	if o.Location == nil {
		o.Location = time.FixedZone("Asia/Shanghai", 8*3600)
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{store: d.Store, notify: d.Notifier, counts: d.Counts, audit: d.Audit, tx: d.Tx, queue: d.Queue,
		log: d.Logger, now: d.Now, opts: o}, nil
}

var errForbidden = model.Coded(model.ErrForbidden, "forbidden", "没有管理微课堂的权限")

// requireEditor lets editors and admins through.
func requireEditor(ctx context.Context) (model.Principal, error) {
	p, ok := model.StaffFrom(ctx)
	if !ok || !p.HasRole(model.RoleEditor) {
		return model.Principal{}, errForbidden
	}
	return p, nil
}

// CourseInput is a new course, or every field of a course being changed.
type CourseInput struct {
	Title    string
	Intro    string
	CoverURL string
	Audience model.Audience
	Sort     int
}

// normalize trims the input and returns the problems (Chinese) by field.
func (in *CourseInput) normalize() map[string]string {
	bad := map[string]string{}
	var ok bool
	if in.Title, ok = cleanText(in.Title, false); !ok || !runes(in.Title, 1, maxTitle) {
		bad["title"] = "须为 1–128 个字"
	}
	if in.Intro, ok = cleanText(in.Intro, true); !ok || !runes(in.Intro, 0, maxIntro) {
		bad["intro"] = "不超过 2000 个字"
	}
	in.CoverURL = strings.TrimSpace(in.CoverURL)
	if in.CoverURL != "" && !validCoverURL(in.CoverURL) {
		bad["cover_url"] = "须为 https 链接或本站图片地址"
	}
	if !in.Audience.Valid() {
		bad["audience"] = "须为 infant、preschool、primary、secondary 或 all"
	}
	if in.Sort < -maxSeq || in.Sort > maxSeq {
		bad["sort"] = "超出范围"
	}
	return bad
}

// CreateCourse creates a course (editor; audited).
func (s *Service) CreateCourse(ctx context.Context, in CourseInput) (model.Course, error) {
	p, err := requireEditor(ctx)
	if err != nil {
		return model.Course{}, err
	}
	if err := model.Invalid(in.normalize()); err != nil {
		return model.Course{}, err
	}
	var c model.Course
	err = s.tx.WithTx(ctx, func(ctx context.Context) error {
		var err error
		c, err = s.store.CreateCourse(ctx, model.Course{Title: in.Title, Intro: in.Intro, CoverURL: in.CoverURL,
			Audience: in.Audience, Sort: in.Sort, CreatedBy: p.SubjectID})
		if err != nil {
			return err
		}
		return s.audit.Audit(ctx, "course.create", "course", fmt.Sprint(c.ID), nil, auditCourse(c))
	})
	if err != nil {
		return model.Course{}, fmt.Errorf("create course: %w", err)
	}
	return c, nil
}

// CoursePatch changes some fields of a course; nil fields stay.
type CoursePatch struct {
	Title    *string
	Intro    *string
	CoverURL *string
	Audience *model.Audience
	Sort     *int
}

// UpdateCourse applies patch to course id (editor; audited).
func (s *Service) UpdateCourse(ctx context.Context, id int64, patch CoursePatch) (model.Course, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Course{}, err
	}
	var out model.Course
	err := s.tx.WithTx(ctx, func(ctx context.Context) error {
		before, err := s.store.CourseByID(ctx, id)
		if err != nil {
			return err
		}
		in := CourseInput{Title: before.Title, Intro: before.Intro, CoverURL: before.CoverURL, Audience: before.Audience, Sort: before.Sort}
		set(&in.Title, patch.Title)
		set(&in.Intro, patch.Intro)
		set(&in.CoverURL, patch.CoverURL)
		set(&in.Audience, patch.Audience)
		set(&in.Sort, patch.Sort)
		if err := model.Invalid(in.normalize()); err != nil {
			return err
		}
		out, err = s.store.UpdateCourse(ctx, model.Course{ID: id, Title: in.Title, Intro: in.Intro, CoverURL: in.CoverURL,
			Audience: in.Audience, Sort: in.Sort})
		if err != nil {
			return err
		}
		return s.audit.Audit(ctx, "course.update", "course", fmt.Sprint(id), auditCourse(before), auditCourse(out))
	})
	if err != nil {
		return model.Course{}, fmt.Errorf("update course %d: %w", id, err)
	}
	return out, nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func auditCourse(c model.Course) map[string]any {
	return map[string]any{"title": c.Title, "audience": c.Audience, "sort": c.Sort, "cover_url": c.CoverURL,
		"intro_chars": len([]rune(c.Intro))}
}

// LessonInput is a new lesson. A PublishAt schedules it; without one it is
// a draft.
type LessonInput struct {
	Title     string
	Kind      model.LessonKind
	URL       string
	Body      string
	DurationS int
	Seq       *int // nil: after the course's last lesson
	PublishAt time.Time
}

// lessonProblems trims and checks the content fields of l (Body sanitized
// in place) and returns the problems by field.
func (s *Service) lessonProblems(l *model.Lesson, scheduleChanged bool) map[string]string {
	bad := map[string]string{}
	var ok bool
	if l.Title, ok = cleanText(l.Title, false); !ok || !runes(l.Title, 1, maxTitle) {
		bad["title"] = "须为 1–128 个字"
	}
	l.URL = strings.TrimSpace(l.URL)
	if len(l.Body) > MaxBody {
		bad["body"] = "正文不能超过 256 KiB"
	} else if l.Body != "" {
		if !utf8.ValidString(l.Body) {
			bad["body"] = "正文包含无效字符"
		}
		l.Body = SanitizeBody(l.Body)
	}
	switch l.Kind {
	case model.LessonVideo, model.LessonAudio:
		if !ValidMediaURL(l.URL) {
			bad["url"] = "须为不超过 1024 字节的 https 链接"
		}
	case model.LessonArticle:
		if l.URL != "" {
			bad["url"] = "图文微课不填链接"
		}
		if _, tooBig := bad["body"]; !tooBig && !hasText(l.Body) {
			bad["body"] = "图文微课须有正文"
		}
	default:
		bad["kind"] = "须为 video、audio 或 article"
	}
	if l.DurationS < 0 || l.DurationS > MaxDuration {
		bad["duration_s"] = "须为 0–86400 秒"
	}
	if l.Seq < -maxSeq || l.Seq > maxSeq {
		bad["seq"] = "超出范围"
	}
	if scheduleChanged && l.Status == model.LessonScheduled {
		now := s.now()
		switch {
		case !l.PublishAt.After(now):
			bad["publish_at"] = "定时发布须晚于当前时间"
		case l.PublishAt.After(now.AddDate(1, 0, 0)):
			bad["publish_at"] = "定时发布须在一年以内"
		}
	}
	return bad
}

// CreateLesson adds a lesson to course courseID (editor; audited): a draft,
// or scheduled when in.PublishAt is set (in the future, within a year).
func (s *Service) CreateLesson(ctx context.Context, courseID int64, in LessonInput) (model.Lesson, error) {
	p, err := requireEditor(ctx)
	if err != nil {
		return model.Lesson{}, err
	}
	l := model.Lesson{CourseID: courseID, Title: in.Title, Kind: in.Kind, URL: in.URL, Body: in.Body, DurationS: in.DurationS,
		Status: model.LessonDraft, CreatedBy: p.SubjectID}
	if in.Seq != nil {
		l.Seq = *in.Seq
	}
	if !in.PublishAt.IsZero() {
		l.Status, l.PublishAt = model.LessonScheduled, in.PublishAt
	}
	if err := model.Invalid(s.lessonProblems(&l, true)); err != nil {
		return model.Lesson{}, err
	}
	var out model.Lesson
	err = s.tx.WithTx(ctx, func(ctx context.Context) error {
		if in.Seq == nil {
			existing, err := s.store.LessonsOfCourse(ctx, courseID, false)
			if err != nil {
				return err
			}
			for _, e := range existing {
				l.Seq = max(l.Seq, e.Seq+1)
			}
		}
		var err error
		if out, err = s.store.CreateLesson(ctx, l); err != nil {
			return err
		}
		return s.audit.Audit(ctx, "lesson.create", "lesson", fmt.Sprint(out.ID), nil, auditLesson(out))
	})
	if err != nil {
		return model.Lesson{}, fmt.Errorf("create lesson: %w", err)
	}
	return out, nil
}

// LessonPatch changes some fields of a lesson; nil fields stay. Schedule
// set changes when it publishes: PublishAt zero makes it a draft again, a
// time schedules it (not for a published or withdrawn lesson: 409
// already_published).
type LessonPatch struct {
	Title     *string
	URL       *string
	Body      *string
	DurationS *int
	Seq       *int
	Schedule  bool
	PublishAt time.Time
}

var errPublished = model.Coded(model.ErrConflict, "already_published", "微课已发布，不能再改发布时间")

// UpdateLesson applies patch to lesson id (editor; audited). A published
// or withdrawn lesson's content may still be corrected; it is not pushed
// again.
func (s *Service) UpdateLesson(ctx context.Context, id int64, patch LessonPatch) (model.Lesson, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Lesson{}, err
	}
	var out model.Lesson
	err := s.tx.WithTx(ctx, func(ctx context.Context) error {
		before, err := s.store.LessonByID(ctx, id)
		if err != nil {
			return err
		}
		l := before
		set(&l.Title, patch.Title)
		set(&l.URL, patch.URL)
		set(&l.Body, patch.Body)
		set(&l.DurationS, patch.DurationS)
		set(&l.Seq, patch.Seq)
		if patch.Schedule {
			if before.Status == model.LessonPublished || before.Status == model.LessonWithdrawn {
				return errPublished
			}
			l.Status, l.PublishAt = model.LessonScheduled, patch.PublishAt
			if patch.PublishAt.IsZero() {
				l.Status = model.LessonDraft
			}
		}
		if err := model.Invalid(s.lessonProblems(&l, patch.Schedule)); err != nil {
			return err
		}
		if out, err = s.store.UpdateLesson(ctx, l); err != nil {
			return err
		}
		return s.audit.Audit(ctx, "lesson.update", "lesson", fmt.Sprint(id), auditLesson(before), auditLesson(out))
	})
	if err != nil {
		return model.Lesson{}, fmt.Errorf("update lesson %d: %w", id, err)
	}
	return out, nil
}

func auditLesson(l model.Lesson) map[string]any {
	m := map[string]any{"course_id": l.CourseID, "title": l.Title, "kind": l.Kind, "url": l.URL, "body_bytes": len(l.Body),
		"duration_s": l.DurationS, "seq": l.Seq, "status": l.Status}
	if !l.PublishAt.IsZero() {
		m["publish_at"] = l.PublishAt.UTC().Format(time.RFC3339)
	}
	return m
}

// Courses pages every course for staff (editor).
func (s *Service) Courses(ctx context.Context, p model.Page) ([]model.Course, string, error) {
	if _, err := requireEditor(ctx); err != nil {
		return nil, "", err
	}
	return s.store.ListCourses(ctx, "", false, p)
}

// Lesson returns one lesson for staff, in any status (editor).
func (s *Service) Lesson(ctx context.Context, id int64) (model.Lesson, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Lesson{}, err
	}
	return s.store.LessonByID(ctx, id)
}
