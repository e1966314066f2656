package model

import (
	"context"
	"time"
)

// Audience is who a course is for: the age group of the child.
type Audience string

// The audiences, youngest first.
const (
	AudienceInfant    Audience = "infant"    // 0–3 岁
	AudiencePreschool Audience = "preschool" // 3–6 岁
	AudiencePrimary   Audience = "primary"   // 小学
	AudienceSecondary Audience = "secondary" // 中学
	AudienceAll       Audience = "all"       // 全年龄段
)

// Audiences lists every audience with its Chinese name, in order.
func Audiences() []Audience {
	return []Audience{AudienceInfant, AudiencePreschool, AudiencePrimary, AudienceSecondary, AudienceAll}
}

// Name is the Chinese name of a.
func (a Audience) Name() string {
	switch a {
	case AudienceInfant:
		return "0–3岁"
	case AudiencePreschool:
		return "3–6岁"
	case AudiencePrimary:
		return "小学"
	case AudienceSecondary:
		return "中学"
	case AudienceAll:
		return "全年龄段"
	}
	return ""
}

// Valid reports whether a is one of Audiences.
func (a Audience) Valid() bool { return a.Name() != "" }

// LessonKind is what a lesson is made of.
type LessonKind string

// The lesson kinds: a video or audio link (https), or an article body
// (sanitized HTML).
const (
	LessonVideo   LessonKind = "video"
	LessonAudio   LessonKind = "audio"
	LessonArticle LessonKind = "article"
)

// LessonStatus is where a lesson stands. A scheduled lesson publishes
// itself at PublishAt; a published lesson never becomes a draft again. A
// withdrawn lesson (下架) was published and is hidden from the Mini Program
// again: its push is stopped, its figures stay; staff may restore it.
// Drafts and scheduled lessons are deleted outright instead.
type LessonStatus string

// The lesson statuses.
const (
	LessonDraft     LessonStatus = "draft"
	LessonScheduled LessonStatus = "scheduled"
	LessonPublished LessonStatus = "published"
	LessonWithdrawn LessonStatus = "withdrawn"
)

// Course is a series of family-education micro-lessons (家庭教育微课堂).
// Courses are listed by Sort, then id. PublishedLessons and Subscribers are
// counted on read. A deleted course that had published lessons is kept,
// archived (hidden everywhere, its lessons' figures counted), and reads as
// not found.
type Course struct {
	ID               int64
	Title            string
	Intro            string
	CoverURL         string
	Audience         Audience
	Sort             int
	CreatedBy        int64
	CreatedAt        time.Time
	UpdatedAt        time.Time
	PublishedLessons int
	Subscribers      int
}

// Lesson is one micro-lesson of a course: a video or audio link, or an
// article. Body is sanitized HTML. Lessons of a course are listed by Seq,
// then id. PushID is the push that announced it (0 before it is
// published).
type Lesson struct {
	ID          int64
	CourseID    int64
	Title       string
	Kind        LessonKind
	URL         string
	Body        string
	DurationS   int
	Seq         int
	Status      LessonStatus
	PublishAt   time.Time // when a scheduled lesson publishes; zero otherwise
	PublishedAt time.Time
	PushID      int64
	CreatedBy   int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// LessonProgress is how far one user got in one lesson. Completed is
// sticky: once set it stays, with the time it was first reported.
type LessonProgress struct {
	LessonID    int64
	CourseID    int64
	UserID      int64
	PositionS   int
	Completed   bool
	CompletedAt time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Subscriber is one subscription of a course, in the order of its id (the
// push fan-out's keyset cursor).
type Subscriber struct {
	ID     int64
	UserID int64
}

// LessonPush is the fan-out of a published lesson to its course's
// subscribers: the push it fills and how far it got (Cursor is the last
// subscription id whose notice was accepted). FinishedAt is zero while it
// runs.
type LessonPush struct {
	LessonID   int64
	CourseID   int64
	PushID     int64
	Cursor     int64
	StartedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time
}

// LessonStats counts what users did with one lesson.
type LessonStats struct {
	Started   int // users who reported progress
	Completed int // users who completed it
}

// LessonFigures are the counts of the lessons area over a period [from, to).
type LessonFigures struct {
	Published      int            // lessons published
	PublishedKinds map[string]int // by kind
	Reached        int            // lesson notices sent
	ReachedBy      map[string]int // by channel
	Opened         int            // lesson notices whose recipient opened the lesson afterwards
	Completed      int            // completions reported
	NewSubscribers int            // subscriptions made (and still held)
}

// LessonStore keeps courses, lessons, subscriptions, progress and the
// progress of lesson pushes. Not-found reads are ErrNotFound.
type LessonStore interface {
	CreateCourse(ctx context.Context, c Course) (Course, error)
	// UpdateCourse writes the editable fields of c.
	UpdateCourse(ctx context.Context, c Course) (Course, error)
	// CourseByID returns the course with its counts.
	CourseByID(ctx context.Context, id int64) (Course, error)
	// ListCourses pages courses by (sort, id); visibleOnly keeps those with
	// a published lesson; a non-empty audience filters.
	ListCourses(ctx context.Context, audience Audience, visibleOnly bool, p Page) ([]Course, string, error)

	CreateLesson(ctx context.Context, l Lesson) (Lesson, error)
	// UpdateLesson writes the content fields of l (title, url, body,
	// duration, seq) and, while l is a draft or scheduled, its status and
	// PublishAt. A published or withdrawn lesson keeps its status.
	UpdateLesson(ctx context.Context, l Lesson) (Lesson, error)
	// DeleteLesson deletes a draft or scheduled lesson with one
	// conditional DELETE; ok is false when the lesson is published or
	// withdrawn by now (a publish that won the race). A missing lesson is
	// ErrNotFound.
	DeleteLesson(ctx context.Context, id int64) (ok bool, err error)
	// WithdrawLesson moves a published lesson to withdrawn at now with one
	// conditional UPDATE; ok is false when it was not published (withdrawn
	// before, or never published). The lesson is returned as stored.
	WithdrawLesson(ctx context.Context, id int64, now time.Time) (l Lesson, ok bool, err error)
	// RestoreLesson moves a withdrawn lesson back to published (keeping
	// its publish time and push) with one conditional UPDATE; ok is false
	// when it was not withdrawn. A lesson of an archived course is
	// ErrConflict (course_deleted).
	RestoreLesson(ctx context.Context, id int64, now time.Time) (l Lesson, ok bool, err error)
	// UnscheduleCourse makes every scheduled lesson of courseID a draft
	// (one conditional UPDATE) and returns how many it changed.
	UnscheduleCourse(ctx context.Context, courseID int64, now time.Time) (int, error)
	// DeleteCourse deletes course id with its drafts and scheduled
	// lessons. A course with a published lesson is not touched:
	// ErrConflict. A course with withdrawn lessons is archived (kept for
	// their figures, hidden, read as not found; archived true); one
	// without is erased with its subscriptions.
	DeleteCourse(ctx context.Context, id int64, now time.Time) (archived bool, err error)
	LessonByID(ctx context.Context, id int64) (Lesson, error)
	// LessonsOfCourse returns a course's lessons by (seq, id), without
	// their bodies; publishedOnly keeps the published ones.
	LessonsOfCourse(ctx context.Context, courseID int64, publishedOnly bool) ([]Lesson, error)
	// LatestLessons returns up to limit published lessons, newest first.
	LatestLessons(ctx context.Context, limit int) ([]Lesson, error)
	// DueLessons returns up to limit ids of scheduled lessons due at now.
	DueLessons(ctx context.Context, now time.Time, limit int) ([]int64, error)
	// MarkPublished moves a draft or scheduled lesson to published at now
	// with one conditional UPDATE; ok is false when it was published
	// already (by another copy, or a second call). The lesson is returned
	// as stored.
	MarkPublished(ctx context.Context, id int64, now time.Time) (l Lesson, ok bool, err error)

	// StartPush records the fan-out of lesson l to push pushID (and the
	// lesson's push id).
	StartPush(ctx context.Context, l Lesson, pushID int64, now time.Time) (LessonPush, error)
	LessonPush(ctx context.Context, lessonID int64) (LessonPush, error)
	// LessonByPush returns the lesson a push announced.
	LessonByPush(ctx context.Context, pushID int64) (Lesson, error)
	// AdvancePush moves the cursor of a running fan-out forward (never
	// back) at now; ok is false when the fan-out is finished (or stopped by
	// a withdrawal): the caller must not go on. Called first in a page's
	// transaction, it holds the fan-out's row until the commit, so a
	// withdrawal either waits for the page or the page sees it.
	AdvancePush(ctx context.Context, lessonID, cursor int64, now time.Time) (ok bool, err error)
	// FinishPush marks the fan-out done at now (a withdrawal stops it the
	// same way).
	FinishPush(ctx context.Context, lessonID int64, now time.Time) error
	// StalledPushes returns up to limit lessons whose unfinished fan-out
	// has not moved since before.
	StalledPushes(ctx context.Context, before time.Time, limit int) ([]int64, error)

	// Subscribe subscribes userID to courseID (a second time is a no-op);
	// Unsubscribe ends it (none is a no-op).
	Subscribe(ctx context.Context, courseID, userID int64, now time.Time) error
	Unsubscribe(ctx context.Context, courseID, userID int64) error
	// SubscribedTo returns which of courseIDs userID subscribes to.
	SubscribedTo(ctx context.Context, userID int64, courseIDs []int64) (map[int64]bool, error)
	// Subscribers returns up to limit subscriptions of courseID with an id
	// above after, in id order (keyset pagination: never all at once).
	Subscribers(ctx context.Context, courseID, after int64, limit int) ([]Subscriber, error)

	// SaveProgress records p (position, and completion when p.Completed)
	// at now, idempotently, and returns the stored progress.
	SaveProgress(ctx context.Context, p LessonProgress, now time.Time) (LessonProgress, error)
	// ProgressOf returns userID's progress in the lessons of courseID.
	ProgressOf(ctx context.Context, userID, courseID int64) ([]LessonProgress, error)
	// LessonStatsOf counts the progress of each lesson in ids.
	LessonStatsOf(ctx context.Context, ids []int64) (map[int64]LessonStats, error)
	// CourseCompletion returns the users with progress in courseID and
	// those who completed every one of its lessons lessonIDs.
	CourseCompletion(ctx context.Context, courseID int64, lessonIDs []int64) (learners, finished int, err error)

	// Figures counts the area's figures over [from, to).
	Figures(ctx context.Context, from, to time.Time) (LessonFigures, error)
}
