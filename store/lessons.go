package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"wanjia/model"
)

// migrateLessons is step 0008: courses, lessons, subscriptions, progress
// and the progress of lesson pushes; and notify_deliveries.read_at with
// the feeder's index (store/notify_batch.go).
func migrateLessons(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&courseRow{}, &lessonRow{}, &lessonPushRow{}, &subscriptionRow{}, &progressRow{}); err != nil {
		return err
	}
	return migrateDeliveryReads(tx)
}

// migrateLessonsWithdraw is step 0014: courses.deleted_at (a deleted
// course that had published lessons is archived, not erased) and
// notify_pushes.cancelled_at (a withdrawn lesson's push sends nothing
// more). Both are NULL on existing rows: nothing is archived or cancelled.
func migrateLessonsWithdraw(tx *gorm.DB) error {
	return tx.AutoMigrate(&courseRow{}, &pushRow{})
}

// courseRow is a course; ix_courses_order serves the listing. deleted_at
// (step 0014) is set on an archived course.
type courseRow struct {
	ID        int64      `gorm:"primaryKey;index:ix_courses_order,priority:2"`
	Title     string     `gorm:"size:128;not null"`
	Intro     string     `gorm:"type:text;not null"`
	CoverURL  string     `gorm:"column:cover_url;size:1024;not null"`
	Audience  string     `gorm:"size:16;not null"`
	SortOrder int        `gorm:"not null;index:ix_courses_order,priority:1"`
	CreatedBy int64      `gorm:"not null"`
	CreatedAt time.Time  `gorm:"not null"`
	UpdatedAt time.Time  `gorm:"not null"`
	DeletedAt *time.Time `gorm:"column:deleted_at"`
}

func (courseRow) TableName() string { return "courses" }

func (r courseRow) toModel() model.Course {
	return model.Course{
		ID: r.ID, Title: r.Title, Intro: r.Intro, CoverURL: r.CoverURL, Audience: model.Audience(r.Audience),
		Sort: r.SortOrder, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// lessonRow is a lesson. Body is sanitized HTML (up to 1 MiB: MEDIUMTEXT on
// MySQL). ix_lessons_due serves the scheduler, ix_lessons_published the
// latest lessons and the figures.
type lessonRow struct {
	ID          int64      `gorm:"primaryKey"`
	CourseID    int64      `gorm:"not null;index:ix_lessons_course,priority:1"`
	Title       string     `gorm:"size:128;not null"`
	Kind        string     `gorm:"size:16;not null"`
	URL         string     `gorm:"column:url;size:1024;not null"`
	Body        string     `gorm:"size:1048576;not null"`
	DurationS   int        `gorm:"column:duration_s;not null"`
	Seq         int        `gorm:"not null;index:ix_lessons_course,priority:2"`
	Status      string     `gorm:"size:16;not null;index:ix_lessons_due,priority:1"`
	PublishAt   *time.Time `gorm:"index:ix_lessons_due,priority:2"`
	PublishedAt *time.Time `gorm:"index:ix_lessons_published"`
	PushID      int64      `gorm:"not null"`
	CreatedBy   int64      `gorm:"not null"`
	CreatedAt   time.Time  `gorm:"not null"`
	UpdatedAt   time.Time  `gorm:"not null"`
}

func (lessonRow) TableName() string { return "lessons" }

func (r lessonRow) toModel() model.Lesson {
	return model.Lesson{
		ID: r.ID, CourseID: r.CourseID, Title: r.Title, Kind: model.LessonKind(r.Kind), URL: r.URL, Body: r.Body,
		DurationS: r.DurationS, Seq: r.Seq, Status: model.LessonStatus(r.Status), PublishAt: timeVal(r.PublishAt),
		PublishedAt: timeVal(r.PublishedAt), PushID: r.PushID, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// lessonPushRow is the fan-out of one published lesson: the push and the
// last subscription id whose notice was accepted. ix_lesson_pushes_stalled
// finds fan-outs that stopped moving.
type lessonPushRow struct {
	LessonID           int64      `gorm:"primaryKey;autoIncrement:false"`
	CourseID           int64      `gorm:"not null"`
	PushID             int64      `gorm:"not null;uniqueIndex:ux_lesson_pushes_push"`
	LastSubscriptionID int64      `gorm:"not null"`
	StartedAt          time.Time  `gorm:"not null"`
	UpdatedAt          time.Time  `gorm:"not null;index:ix_lesson_pushes_stalled,priority:2"`
	FinishedAt         *time.Time `gorm:"index:ix_lesson_pushes_stalled,priority:1"`
}

func (lessonPushRow) TableName() string { return "lesson_pushes" }

func (r lessonPushRow) toModel() model.LessonPush {
	return model.LessonPush{
		LessonID: r.LessonID, CourseID: r.CourseID, PushID: r.PushID, Cursor: r.LastSubscriptionID,
		StartedAt: r.StartedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), FinishedAt: timeVal(r.FinishedAt),
	}
}

// subscriptionRow is one person's subscription of a course.
// ix_course_subscriptions_keyset (course, id) serves the fan-out's keyset
// pages.
type subscriptionRow struct {
	ID        int64     `gorm:"primaryKey;index:ix_course_subscriptions_keyset,priority:2"`
	CourseID  int64     `gorm:"not null;uniqueIndex:ux_course_subscriptions,priority:1;index:ix_course_subscriptions_keyset,priority:1"`
	UserID    int64     `gorm:"not null;uniqueIndex:ux_course_subscriptions,priority:2;index:ix_course_subscriptions_user"`
	CreatedAt time.Time `gorm:"not null;index:ix_course_subscriptions_created"`
}

func (subscriptionRow) TableName() string { return "course_subscriptions" }

// progressRow is one person's progress in one lesson.
type progressRow struct {
	ID          int64      `gorm:"primaryKey"`
	LessonID    int64      `gorm:"not null;uniqueIndex:ux_lesson_progress,priority:1"`
	UserID      int64      `gorm:"not null;uniqueIndex:ux_lesson_progress,priority:2;index:ix_lesson_progress_user,priority:1"`
	CourseID    int64      `gorm:"not null;index:ix_lesson_progress_user,priority:2;index:ix_lesson_progress_course"`
	PositionS   int        `gorm:"column:position_s;not null"`
	Completed   bool       `gorm:"not null"`
	CompletedAt *time.Time `gorm:"index:ix_lesson_progress_completed"`
	CreatedAt   time.Time  `gorm:"not null"`
	UpdatedAt   time.Time  `gorm:"not null"`
}

func (progressRow) TableName() string { return "lesson_progress" }

func (r progressRow) toModel() model.LessonProgress {
	return model.LessonProgress{
		LessonID: r.LessonID, CourseID: r.CourseID, UserID: r.UserID, PositionS: r.PositionS, Completed: r.Completed,
		CompletedAt: timeVal(r.CompletedAt), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// Lessons implements model.LessonStore.
type Lessons struct{ db *DB }

var _ model.LessonStore = (*Lessons)(nil)

// NewLessons returns the lesson store on db.
func NewLessons(db *DB) *Lessons { return &Lessons{db: db} }

var (
	errCourseNotFound = model.Errorf(model.ErrNotFound, "课程不存在")
	errLessonNotFound = model.Errorf(model.ErrNotFound, "微课不存在")
)

func notFound(err, nf error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nf
	}
	return TranslateError(err)
}

// CreateCourse inserts c and returns it with its id.
func (ls *Lessons) CreateCourse(ctx context.Context, c model.Course) (model.Course, error) {
	now := dbTime(time.Now())
	row := courseRow{
		Title: c.Title, Intro: c.Intro, CoverURL: c.CoverURL, Audience: string(c.Audience), SortOrder: c.Sort,
		CreatedBy: c.CreatedBy, CreatedAt: now, UpdatedAt: now,
	}
	if err := ls.db.conn(ctx).Create(&row).Error; err != nil {
		return model.Course{}, fmt.Errorf("create course: %w", TranslateError(err))
	}
	return row.toModel(), nil
}

// UpdateCourse writes title, intro, cover, audience and order.
func (ls *Lessons) UpdateCourse(ctx context.Context, c model.Course) (model.Course, error) {
	res := ls.db.conn(ctx).Model(&courseRow{}).Where("id = ?", c.ID).Updates(map[string]any{
		"title": c.Title, "intro": c.Intro, "cover_url": c.CoverURL, "audience": string(c.Audience), "sort_order": c.Sort,
		"updated_at": dbTime(time.Now()),
	})
	if res.Error != nil {
		return model.Course{}, fmt.Errorf("update course %d: %w", c.ID, TranslateError(res.Error))
	}
	return ls.CourseByID(ctx, c.ID)
}

// CourseByID returns the course with its counts (an archived course is
// not found).
func (ls *Lessons) CourseByID(ctx context.Context, id int64) (model.Course, error) {
	var row courseRow
	if err := ls.db.conn(ctx).Where("id = ? AND deleted_at IS NULL", id).Take(&row).Error; err != nil {
		return model.Course{}, notFound(err, errCourseNotFound)
	}
	cs := []model.Course{row.toModel()}
	if err := ls.countCourses(ctx, cs); err != nil {
		return model.Course{}, err
	}
	return cs[0], nil
}

// countCourses fills the published-lesson and subscriber counts of cs.
func (ls *Lessons) countCourses(ctx context.Context, cs []model.Course) error {
	if len(cs) == 0 {
		return nil
	}
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	type count struct {
		CourseID int64
		N        int
	}
	var lessons, subs []count
	err := ls.db.conn(ctx).Model(&lessonRow{}).Select("course_id, COUNT(*) AS n").
		Where("course_id IN ? AND status = ?", ids, string(model.LessonPublished)).Group("course_id").Scan(&lessons).Error
	if err != nil {
		return fmt.Errorf("count lessons: %w", TranslateError(err))
	}
	err = ls.db.conn(ctx).Model(&subscriptionRow{}).Select("course_id, COUNT(*) AS n").
		Where("course_id IN ?", ids).Group("course_id").Scan(&subs).Error
	if err != nil {
		return fmt.Errorf("count subscribers: %w", TranslateError(err))
	}
	nl, ns := map[int64]int{}, map[int64]int{}
	for _, c := range lessons {
		nl[c.CourseID] = c.N
	}
	for _, c := range subs {
		ns[c.CourseID] = c.N
	}
	for i := range cs {
		cs[i].PublishedLessons, cs[i].Subscribers = nl[cs[i].ID], ns[cs[i].ID]
	}
	return nil
}

// courseCursor is the keyset cursor of the course listing: (sort, id).
func courseCursor(sort int, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(sort) + ":" + strconv.FormatInt(id, 10)))
}

func parseCourseCursor(s string) (sort int, id int64, err error) {
	bad := model.Invalid(map[string]string{"cursor": "分页参数无效"})
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, 0, bad
	}
	a, c, ok := strings.Cut(string(b), ":")
	sort, err1 := strconv.Atoi(a)
	id, err2 := strconv.ParseInt(c, 10, 64)
	if !ok || err1 != nil || err2 != nil || id <= 0 {
		return 0, 0, bad
	}
	return sort, id, nil
}

// ListCourses pages courses by (sort_order, id), archived ones left out.
func (ls *Lessons) ListCourses(ctx context.Context, audience model.Audience, visibleOnly bool, p model.Page) ([]model.Course, string, error) {
	q := ls.db.conn(ctx).Model(&courseRow{}).Where("deleted_at IS NULL")
	if p.Cursor != "" {
		sort, id, err := parseCourseCursor(p.Cursor)
		if err != nil {
			return nil, "", err
		}
		q = q.Where("sort_order > ? OR (sort_order = ? AND id > ?)", sort, sort, id)
	}
	if audience != "" {
		q = q.Where("audience = ?", string(audience))
	}
	if visibleOnly {
		q = q.Where("EXISTS (SELECT 1 FROM lessons l WHERE l.course_id = courses.id AND l.status = ?)", string(model.LessonPublished))
	}
	size := p.Size()
	var rows []courseRow
	if err := q.Order("sort_order, id").Limit(size + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list courses: %w", TranslateError(err))
	}
	next := ""
	if len(rows) > size {
		rows = rows[:size]
		next = courseCursor(rows[size-1].SortOrder, rows[size-1].ID)
	}
	out := make([]model.Course, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	if err := ls.countCourses(ctx, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// CreateLesson inserts l for its course (which must exist, not archived).
func (ls *Lessons) CreateLesson(ctx context.Context, l model.Lesson) (model.Lesson, error) {
	var n int64
	if err := ls.db.conn(ctx).Model(&courseRow{}).Where("id = ? AND deleted_at IS NULL", l.CourseID).Count(&n).Error; err != nil {
		return model.Lesson{}, fmt.Errorf("create lesson: %w", TranslateError(err))
	}
	if n == 0 {
		return model.Lesson{}, errCourseNotFound
	}
	now := dbTime(time.Now())
	row := lessonRow{
		CourseID: l.CourseID, Title: l.Title, Kind: string(l.Kind), URL: l.URL, Body: l.Body, DurationS: l.DurationS,
		Seq: l.Seq, Status: string(l.Status), PublishAt: timePtr(l.PublishAt), CreatedBy: l.CreatedBy, CreatedAt: now,
		UpdatedAt: now,
	}
	if err := ls.db.conn(ctx).Create(&row).Error; err != nil {
		return model.Lesson{}, fmt.Errorf("create lesson: %w", TranslateError(err))
	}
	return row.toModel(), nil
}

// unpublished are the statuses a lesson has before it is ever published:
// the only ones whose status an edit may change, and that may be deleted.
var unpublished = []string{string(model.LessonDraft), string(model.LessonScheduled)}

// UpdateLesson writes l's content and, while it is a draft or scheduled
// by now, its status and publish time, in one conditional UPDATE each.
func (ls *Lessons) UpdateLesson(ctx context.Context, l model.Lesson) (model.Lesson, error) {
	now := dbTime(time.Now())
	err := ls.db.WithTx(ctx, func(ctx context.Context) error {
		c := ls.db.conn(ctx)
		res := c.Model(&lessonRow{}).Where("id = ?", l.ID).Updates(map[string]any{
			"title": l.Title, "url": l.URL, "body": l.Body, "duration_s": l.DurationS, "seq": l.Seq, "updated_at": now,
		})
		if res.Error != nil {
			return TranslateError(res.Error)
		}
		if l.Status != model.LessonDraft && l.Status != model.LessonScheduled {
			return nil
		}
		return TranslateError(c.Model(&lessonRow{}).Where("id = ? AND status IN ?", l.ID, unpublished).
			Updates(map[string]any{"status": string(l.Status), "publish_at": timePtr(l.PublishAt)}).Error)
	})
	if err != nil {
		return model.Lesson{}, fmt.Errorf("update lesson %d: %w", l.ID, err)
	}
	return ls.LessonByID(ctx, l.ID)
}

// LessonByID returns the lesson.
func (ls *Lessons) LessonByID(ctx context.Context, id int64) (model.Lesson, error) {
	var row lessonRow
	if err := ls.db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return model.Lesson{}, notFound(err, errLessonNotFound)
	}
	return row.toModel(), nil
}

// LessonsOfCourse returns the lessons of a course by (seq, id), without
// their bodies.
func (ls *Lessons) LessonsOfCourse(ctx context.Context, courseID int64, publishedOnly bool) ([]model.Lesson, error) {
	q := ls.db.conn(ctx).Omit("body").Where("course_id = ?", courseID)
	if publishedOnly {
		q = q.Where("status = ?", string(model.LessonPublished))
	}
	var rows []lessonRow
	if err := q.Order("seq, id").Limit(1000).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("lessons of course %d: %w", courseID, TranslateError(err))
	}
	out := make([]model.Lesson, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// LatestLessons returns published lessons, newest first, without bodies.
func (ls *Lessons) LatestLessons(ctx context.Context, limit int) ([]model.Lesson, error) {
	var rows []lessonRow
	err := ls.db.conn(ctx).Omit("body").Where("status = ?", string(model.LessonPublished)).
		Order("published_at DESC, id DESC").Limit(max(limit, 1)).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("latest lessons: %w", TranslateError(err))
	}
	out := make([]model.Lesson, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// DueLessons returns scheduled lessons whose time has come, earliest first.
func (ls *Lessons) DueLessons(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := ls.db.conn(ctx).Model(&lessonRow{}).Where("status = ? AND publish_at <= ?", string(model.LessonScheduled), dbTime(now)).
		Order("publish_at, id").Limit(max(limit, 1)).Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("due lessons: %w", TranslateError(err))
	}
	return ids, nil
}

// MarkPublished publishes a draft or scheduled lesson with one conditional
// UPDATE, so of two copies (or two calls) exactly one sees ok; against a
// DeleteLesson of the same lesson, the row lock decides which one runs and
// the other matches nothing.
func (ls *Lessons) MarkPublished(ctx context.Context, id int64, now time.Time) (model.Lesson, bool, error) {
	t := dbTime(now)
	res := ls.db.conn(ctx).Model(&lessonRow{}).
		Where("id = ? AND status IN ?", id, unpublished).
		Updates(map[string]any{"status": string(model.LessonPublished), "published_at": t, "updated_at": t})
	if res.Error != nil {
		return model.Lesson{}, false, fmt.Errorf("publish lesson %d: %w", id, TranslateError(res.Error))
	}
	l, err := ls.LessonByID(ctx, id)
	if err != nil {
		return model.Lesson{}, false, err
	}
	return l, res.RowsAffected > 0, nil
}

// DeleteLesson deletes a draft or scheduled lesson with one conditional
// DELETE (status draft or scheduled), so a publish that took the row first
// leaves nothing to delete (ok false), and a publish after it finds
// nothing to publish.
func (ls *Lessons) DeleteLesson(ctx context.Context, id int64) (bool, error) {
	res := ls.db.conn(ctx).Where("id = ? AND status IN ?", id, unpublished).Delete(&lessonRow{})
	if res.Error != nil {
		return false, fmt.Errorf("delete lesson %d: %w", id, TranslateError(res.Error))
	}
	if res.RowsAffected > 0 {
		return true, nil
	}
	// Gone, or published? A locking read sees the row as committed now
	// (on MySQL a plain one would read the transaction's snapshot).
	c := ls.db.conn(ctx)
	if ls.db.driver != "sqlite" {
		c = c.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var row lessonRow
	if err := c.Select("id").Where("id = ?", id).Take(&row).Error; err != nil {
		return false, notFound(err, errLessonNotFound)
	}
	return false, nil
}

// setStatus moves lesson id from status from to status to with one
// conditional UPDATE and returns the lesson as stored.
func (ls *Lessons) setStatus(ctx context.Context, id int64, from, to model.LessonStatus, now time.Time) (model.Lesson, bool, error) {
	res := ls.db.conn(ctx).Model(&lessonRow{}).Where("id = ? AND status = ?", id, string(from)).
		Updates(map[string]any{"status": string(to), "updated_at": dbTime(now)})
	if res.Error != nil {
		return model.Lesson{}, false, fmt.Errorf("lesson %d to %s: %w", id, to, TranslateError(res.Error))
	}
	l, err := ls.LessonByID(ctx, id)
	if err != nil {
		return model.Lesson{}, false, err
	}
	return l, res.RowsAffected > 0, nil
}

// WithdrawLesson moves a published lesson to withdrawn.
func (ls *Lessons) WithdrawLesson(ctx context.Context, id int64, now time.Time) (model.Lesson, bool, error) {
	return ls.setStatus(ctx, id, model.LessonPublished, model.LessonWithdrawn, now)
}

// RestoreLesson moves a withdrawn lesson back to published; published_at
// and push_id stay as they were. It holds the course's row first (as
// DeleteCourse does), so a course archived at the same moment either
// refuses the restore (course_deleted) or sees the lesson published.
func (ls *Lessons) RestoreLesson(ctx context.Context, id int64, now time.Time) (model.Lesson, bool, error) {
	var out model.Lesson
	ok := false
	err := ls.db.WithTx(ctx, func(ctx context.Context) error {
		l, err := ls.LessonByID(ctx, id)
		if err != nil {
			return err
		}
		if err := ls.lockCourse(ctx, l.CourseID); err != nil {
			if errors.Is(err, model.ErrNotFound) {
				return errCourseDeleted
			}
			return err
		}
		out, ok, err = ls.setStatus(ctx, id, model.LessonWithdrawn, model.LessonPublished, now)
		return err
	})
	if err != nil {
		return model.Lesson{}, false, err
	}
	return out, ok, nil
}

var errCourseDeleted = model.Coded(model.ErrConflict, "course_deleted", "微课所在的课程已删除，不能重新上架")

// lockCourse holds course id's row until the transaction ends (SELECT …
// FOR UPDATE; SQLite's transactions are serialized already), or returns
// ErrNotFound when it is missing or archived. The read is a locking one,
// so on MySQL it sees the row as committed now, not the transaction's
// snapshot.
func (ls *Lessons) lockCourse(ctx context.Context, id int64) error {
	c := ls.db.conn(ctx)
	if ls.db.driver != "sqlite" {
		c = c.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var row courseRow
	if err := c.Select("id", "deleted_at").Where("id = ?", id).Take(&row).Error; err != nil {
		return notFound(err, errCourseNotFound)
	}
	if row.DeletedAt != nil {
		return errCourseNotFound
	}
	return nil
}

// UnscheduleCourse makes the course's scheduled lessons drafts.
func (ls *Lessons) UnscheduleCourse(ctx context.Context, courseID int64, now time.Time) (int, error) {
	res := ls.db.conn(ctx).Model(&lessonRow{}).Where("course_id = ? AND status = ?", courseID, string(model.LessonScheduled)).
		Updates(map[string]any{"status": string(model.LessonDraft), "publish_at": nil, "updated_at": dbTime(now)})
	if res.Error != nil {
		return 0, fmt.Errorf("unschedule course %d: %w", courseID, TranslateError(res.Error))
	}
	return int(res.RowsAffected), nil
}

var errCoursePublished = model.Coded(model.ErrConflict, "course_published", "课程下还有已发布的微课，请先下架课程或逐节下架")

// DeleteCourse deletes the course's drafts and scheduled lessons (one
// conditional DELETE: a lesson a concurrent publish took first stays),
// then looks at what is left, in one transaction: a published lesson
// refuses it all (rolled back); withdrawn lessons keep the course,
// archived; nothing left erases it with its subscriptions.
func (ls *Lessons) DeleteCourse(ctx context.Context, id int64, now time.Time) (bool, error) {
	archived := false
	err := ls.db.WithTx(ctx, func(ctx context.Context) error {
		c := ls.db.conn(ctx)
		if err := ls.lockCourse(ctx, id); err != nil { // against a concurrent RestoreLesson
			return err
		}
		if err := c.Where("course_id = ? AND status IN ?", id, unpublished).Delete(&lessonRow{}).Error; err != nil {
			return TranslateError(err)
		}
		// What is left, read with locks (on MySQL a plain read would see
		// the snapshot of the caller's first read, which may predate a
		// publish or restore that committed since).
		q := c.Model(&lessonRow{}).Select("id", "status").Where("course_id = ?", id)
		if ls.db.driver != "sqlite" {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		var left []lessonRow
		if err := q.Find(&left).Error; err != nil {
			return TranslateError(err)
		}
		for _, g := range left {
			switch model.LessonStatus(g.Status) {
			case model.LessonPublished:
				return errCoursePublished
			case model.LessonWithdrawn:
				archived = true
			}
		}
		t := dbTime(now)
		if archived {
			return TranslateError(c.Model(&courseRow{}).Where("id = ?", id).
				Updates(map[string]any{"deleted_at": t, "updated_at": t}).Error)
		}
		if err := c.Where("course_id = ?", id).Delete(&subscriptionRow{}).Error; err != nil {
			return TranslateError(err)
		}
		return TranslateError(c.Where("id = ?", id).Delete(&courseRow{}).Error)
	})
	if err != nil {
		return false, fmt.Errorf("delete course %d: %w", id, err)
	}
	return archived, nil
}

// StartPush inserts the fan-out row of l (once) and records the push id on
// the lesson.
func (ls *Lessons) StartPush(ctx context.Context, l model.Lesson, pushID int64, now time.Time) (model.LessonPush, error) {
	t := dbTime(now)
	row := lessonPushRow{LessonID: l.ID, CourseID: l.CourseID, PushID: pushID, StartedAt: t, UpdatedAt: t}
	c := ls.db.conn(ctx)
	if err := c.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "lesson_id"}}, DoNothing: true}).Create(&row).Error; err != nil {
		return model.LessonPush{}, fmt.Errorf("start push %d: %w", l.ID, TranslateError(err))
	}
	if err := c.Model(&lessonRow{}).Where("id = ? AND push_id = 0", l.ID).Update("push_id", pushID).Error; err != nil {
		return model.LessonPush{}, fmt.Errorf("start push %d: %w", l.ID, TranslateError(err))
	}
	return ls.LessonPush(ctx, l.ID)
}

// LessonPush returns the fan-out of a lesson.
func (ls *Lessons) LessonPush(ctx context.Context, lessonID int64) (model.LessonPush, error) {
	var row lessonPushRow
	if err := ls.db.conn(ctx).Where("lesson_id = ?", lessonID).Take(&row).Error; err != nil {
		return model.LessonPush{}, notFound(err, model.Errorf(model.ErrNotFound, "微课尚未推送"))
	}
	return row.toModel(), nil
}

// LessonByPush returns the lesson announced by push pushID.
func (ls *Lessons) LessonByPush(ctx context.Context, pushID int64) (model.Lesson, error) {
	var row lessonPushRow
	if err := ls.db.conn(ctx).Where("push_id = ?", pushID).Take(&row).Error; err != nil {
		return model.Lesson{}, notFound(err, errLessonNotFound)
	}
	return ls.LessonByID(ctx, row.LessonID)
}

// AdvancePush moves the cursor of an unfinished fan-out forward only (two
// runs of one fan-out may overlap) and touches updated_at, with one
// conditional UPDATE (finished_at IS NULL). MySQL counts changed rows
// only, so an UPDATE that matched without changing anything is told from
// a finished fan-out by reading the row.
func (ls *Lessons) AdvancePush(ctx context.Context, lessonID, cursor int64, now time.Time) (bool, error) {
	c := ls.db.conn(ctx)
	res := c.Model(&lessonPushRow{}).Where("lesson_id = ? AND finished_at IS NULL", lessonID).Updates(map[string]any{
		"last_subscription_id": gorm.Expr("CASE WHEN last_subscription_id < ? THEN ? ELSE last_subscription_id END", cursor, cursor),
		"updated_at":           dbTime(now),
	})
	if res.Error != nil {
		return false, fmt.Errorf("advance push %d: %w", lessonID, TranslateError(res.Error))
	}
	if res.RowsAffected > 0 {
		return true, nil
	}
	lp, err := ls.LessonPush(ctx, lessonID)
	if err != nil {
		return false, fmt.Errorf("advance push %d: %w", lessonID, err)
	}
	return lp.FinishedAt.IsZero(), nil
}

// FinishPush marks the fan-out done (the first time only).
func (ls *Lessons) FinishPush(ctx context.Context, lessonID int64, now time.Time) error {
	t := dbTime(now)
	err := ls.db.conn(ctx).Model(&lessonPushRow{}).Where("lesson_id = ? AND finished_at IS NULL", lessonID).
		Updates(map[string]any{"finished_at": t, "updated_at": t}).Error
	if err != nil {
		return fmt.Errorf("finish push %d: %w", lessonID, TranslateError(err))
	}
	return nil
}

// StalledPushes returns unfinished fan-outs not moved since before.
func (ls *Lessons) StalledPushes(ctx context.Context, before time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := ls.db.conn(ctx).Model(&lessonPushRow{}).Where("finished_at IS NULL AND updated_at < ?", dbTime(before)).
		Order("lesson_id").Limit(max(limit, 1)).Pluck("lesson_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("stalled pushes: %w", TranslateError(err))
	}
	return ids, nil
}

// Subscribe inserts the subscription unless it exists.
func (ls *Lessons) Subscribe(ctx context.Context, courseID, userID int64, now time.Time) error {
	row := subscriptionRow{CourseID: courseID, UserID: userID, CreatedAt: dbTime(now)}
	err := ls.db.conn(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "course_id"}, {Name: "user_id"}}, DoNothing: true,
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("subscribe: %w", TranslateError(err))
	}
	return nil
}

// Unsubscribe deletes the subscription, if any.
func (ls *Lessons) Unsubscribe(ctx context.Context, courseID, userID int64) error {
	err := ls.db.conn(ctx).Where("course_id = ? AND user_id = ?", courseID, userID).Delete(&subscriptionRow{}).Error
	if err != nil {
		return fmt.Errorf("unsubscribe: %w", TranslateError(err))
	}
	return nil
}

// SubscribedTo returns which of courseIDs userID subscribes to.
func (ls *Lessons) SubscribedTo(ctx context.Context, userID int64, courseIDs []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(courseIDs) == 0 {
		return out, nil
	}
	var ids []int64
	err := ls.db.conn(ctx).Model(&subscriptionRow{}).Where("user_id = ? AND course_id IN ?", userID, courseIDs).
		Pluck("course_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("subscribed to: %w", TranslateError(err))
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// Subscribers returns one keyset page of a course's subscriptions.
func (ls *Lessons) Subscribers(ctx context.Context, courseID, after int64, limit int) ([]model.Subscriber, error) {
	var rows []subscriptionRow
	err := ls.db.conn(ctx).Select("id", "user_id").Where("course_id = ? AND id > ?", courseID, after).
		Order("id").Limit(max(limit, 1)).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("subscribers of %d: %w", courseID, TranslateError(err))
	}
	out := make([]model.Subscriber, len(rows))
	for i, r := range rows {
		out[i] = model.Subscriber{ID: r.ID, UserID: r.UserID}
	}
	return out, nil
}

// SaveProgress updates the row of (lesson, user), or inserts it; a
// completion is never undone and keeps its first time. Repeating a call
// leaves the same row.
func (ls *Lessons) SaveProgress(ctx context.Context, p model.LessonProgress, now time.Time) (model.LessonProgress, error) {
	t := dbTime(now)
	upd := map[string]any{"position_s": p.PositionS, "updated_at": t}
	if p.Completed {
		upd["completed"] = true
		upd["completed_at"] = gorm.Expr("COALESCE(completed_at, ?)", t)
	}
	update := func() (int64, error) {
		res := ls.db.conn(ctx).Model(&progressRow{}).Where("lesson_id = ? AND user_id = ?", p.LessonID, p.UserID).Updates(upd)
		return res.RowsAffected, TranslateError(res.Error)
	}
	n, err := update()
	if err == nil && n == 0 {
		row := progressRow{
			LessonID: p.LessonID, UserID: p.UserID, CourseID: p.CourseID, PositionS: p.PositionS, Completed: p.Completed,
			CreatedAt: t, UpdatedAt: t,
		}
		if p.Completed {
			row.CompletedAt = &t
		}
		res := ls.db.conn(ctx).Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "lesson_id"}, {Name: "user_id"}}, DoNothing: true,
		}).Create(&row)
		err = TranslateError(res.Error)
		if err == nil && res.RowsAffected == 0 {
			_, err = update() // a twin inserted it first (or MySQL saw nothing to change)
		}
	}
	if err != nil {
		return model.LessonProgress{}, fmt.Errorf("save progress: %w", err)
	}
	var row progressRow
	if err := ls.db.conn(ctx).Where("lesson_id = ? AND user_id = ?", p.LessonID, p.UserID).Take(&row).Error; err != nil {
		return model.LessonProgress{}, fmt.Errorf("save progress: read back: %w", TranslateError(err))
	}
	return row.toModel(), nil
}

// ProgressOf returns userID's progress in a course's lessons, most
// recently updated first.
func (ls *Lessons) ProgressOf(ctx context.Context, userID, courseID int64) ([]model.LessonProgress, error) {
	var rows []progressRow
	err := ls.db.conn(ctx).Where("user_id = ? AND course_id = ?", userID, courseID).Order("updated_at DESC, id DESC").
		Limit(1000).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("progress: %w", TranslateError(err))
	}
	out := make([]model.LessonProgress, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
	}
	return out, nil
}

// LessonStatsOf counts started and completed progress per lesson.
func (ls *Lessons) LessonStatsOf(ctx context.Context, ids []int64) (map[int64]model.LessonStats, error) {
	out := make(map[int64]model.LessonStats, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		LessonID  int64
		Started   int
		Completed int
	}
	err := ls.db.conn(ctx).Model(&progressRow{}).
		Select("lesson_id, COUNT(*) AS started, COALESCE(SUM(CASE WHEN completed = ? THEN 1 ELSE 0 END), 0) AS completed", true).
		Where("lesson_id IN ?", ids).Group("lesson_id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("lesson stats: %w", TranslateError(err))
	}
	for _, r := range rows {
		out[r.LessonID] = model.LessonStats{Started: r.Started, Completed: r.Completed}
	}
	return out, nil
}

// CourseCompletion counts a course's learners and those who completed all
// of lessonIDs.
func (ls *Lessons) CourseCompletion(ctx context.Context, courseID int64, lessonIDs []int64) (int, int, error) {
	var learners int64
	c := ls.db.conn(ctx)
	if err := c.Model(&progressRow{}).Where("course_id = ?", courseID).Distinct("user_id").Count(&learners).Error; err != nil {
		return 0, 0, fmt.Errorf("course completion: %w", TranslateError(err))
	}
	if len(lessonIDs) == 0 || learners == 0 {
		return int(learners), 0, nil
	}
	var finished int64
	err := c.Raw("SELECT COUNT(*) FROM (SELECT user_id FROM lesson_progress WHERE course_id = ? AND completed = ? AND lesson_id IN ? "+
		"GROUP BY user_id HAVING COUNT(*) = ?) done", courseID, true, lessonIDs, len(lessonIDs)).Scan(&finished).Error
	if err != nil {
		return 0, 0, fmt.Errorf("course completion: %w", TranslateError(err))
	}
	return int(learners), int(finished), nil
}

// everPublished are the statuses of a lesson that was published: a
// withdrawn lesson was published when it was, and the figures count it.
var everPublished = []string{string(model.LessonPublished), string(model.LessonWithdrawn)}

// Figures counts the lessons area over [from, to): lessons published (by
// kind, withdrawn ones included), lesson notices sent (by channel) and
// opened, completions and subscriptions (the notices, opens and
// completions of withdrawn lessons, and subscriptions of archived courses,
// included: they happened).
func (ls *Lessons) Figures(ctx context.Context, from, to time.Time) (model.LessonFigures, error) {
	f := model.LessonFigures{PublishedKinds: map[string]int{}, ReachedBy: map[string]int{}}
	a, b := dbTime(from), dbTime(to)
	c := ls.db.conn(ctx)
	type group struct {
		K string
		N int
	}
	var kinds []group
	err := c.Model(&lessonRow{}).Select("kind AS k, COUNT(*) AS n").
		Where("status IN ? AND published_at >= ? AND published_at < ?", everPublished, a, b).Group("kind").Scan(&kinds).Error
	if err != nil {
		return f, fmt.Errorf("lesson figures: %w", TranslateError(err))
	}
	for _, g := range kinds {
		f.PublishedKinds[g.K] = g.N
		f.Published += g.N
	}
	var channels []group
	err = c.Raw("SELECT d.channel AS k, COUNT(*) AS n FROM notify_deliveries d JOIN lesson_pushes p ON p.push_id = d.push_id "+
		"WHERE d.status = ? AND d.sent_at >= ? AND d.sent_at < ? GROUP BY d.channel", model.DeliverySent, a, b).Scan(&channels).Error
	if err != nil {
		return f, fmt.Errorf("lesson figures: %w", TranslateError(err))
	}
	for _, g := range channels {
		f.ReachedBy[g.K] = g.N
		f.Reached += g.N
	}
	var opened, completed, subs int64
	err = c.Raw("SELECT COUNT(*) FROM notify_deliveries d JOIN lesson_pushes p ON p.push_id = d.push_id "+
		"WHERE d.read_at >= ? AND d.read_at < ?", a, b).Scan(&opened).Error
	if err != nil {
		return f, fmt.Errorf("lesson figures: %w", TranslateError(err))
	}
	if err := c.Model(&progressRow{}).Where("completed_at >= ? AND completed_at < ?", a, b).Count(&completed).Error; err != nil {
		return f, fmt.Errorf("lesson figures: %w", TranslateError(err))
	}
	if err := c.Model(&subscriptionRow{}).Where("created_at >= ? AND created_at < ?", a, b).Count(&subs).Error; err != nil {
		return f, fmt.Errorf("lesson figures: %w", TranslateError(err))
	}
	f.Opened, f.Completed, f.NewSubscribers = int(opened), int(completed), int(subs)
	return f, nil
}
