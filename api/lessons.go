package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/service/lessons"
)

// Lessons is what the micro-lesson handlers need (lessons.Service
// satisfies it). Role checks are repeated by the service.
type Lessons interface {
	VisibleCourses(ctx context.Context, userID int64, audience model.Audience, p model.Page) ([]lessons.CourseItem, string, error)
	CourseFor(ctx context.Context, userID, id int64) (lessons.CourseView, error)
	Subscribe(ctx context.Context, userID, id int64) (string, error)
	Unsubscribe(ctx context.Context, userID, id int64) error
	LessonFor(ctx context.Context, userID, id int64) (lessons.LessonView, error)
	SaveProgress(ctx context.Context, userID, id int64, in lessons.ProgressInput) (model.LessonProgress, error)

	Courses(ctx context.Context, p model.Page) ([]model.Course, string, error)
	CreateCourse(ctx context.Context, in lessons.CourseInput) (model.Course, error)
	UpdateCourse(ctx context.Context, id int64, patch lessons.CoursePatch) (model.Course, error)
	CourseReport(ctx context.Context, id int64) (lessons.CourseReport, error)
	CreateLesson(ctx context.Context, courseID int64, in lessons.LessonInput) (model.Lesson, error)
	UpdateLesson(ctx context.Context, id int64, patch lessons.LessonPatch) (model.Lesson, error)
	Lesson(ctx context.Context, id int64) (model.Lesson, error)
	Publish(ctx context.Context, id int64) (model.Lesson, error)
	PushReport(ctx context.Context, pushID int64) (lessons.LessonReport, error)

	DeleteLesson(ctx context.Context, id int64) error
	Withdraw(ctx context.Context, id int64, reason string) (model.Lesson, error)
	Restore(ctx context.Context, id int64) (model.Lesson, error)
	WithdrawCourse(ctx context.Context, id int64, reason string) (lessons.CourseWithdrawal, error)
	StopPush(ctx context.Context, pushID int64, reason string) (lessonID int64, skipped int, err error)
	DeleteCourse(ctx context.Context, id int64) (archived bool, err error)
}

// lessonBodyLimit bounds the JSON of a lesson (an article body of up to
// lessons.MaxBody bytes, which JSON escaping may make several times larger).
const lessonBodyLimit = 2 << 20

// addLessonRoutes adds the micro-lessons' routes (with Deps.Lessons and
// Deps.Accounts): browsing, subscriptions, lessons and progress in the
// Mini Program; courses, lessons, publishing and figures for editors.
func (s *server) addLessonRoutes(api *Router) {
	if s.Lessons == nil || s.Accounts == nil {
		return
	}
	svc := s.Lessons
	mp := api.Group("/mp", "mp", "mp", s.requireMP())
	mp.Handle(http.MethodGet, "/courses", "Courses with published lessons (?audience=&cursor=&limit=)", s.wrap(handleMPCourses(svc)))
	mp.Handle(http.MethodGet, "/courses/:id", "A course with its published lessons, the caller's progress and where to continue",
		s.wrap(handleMPCourse(svc)))
	mp.Handle(http.MethodPut, "/courses/:id/subscription", "Subscribe to a course (its new lessons are notified)",
		s.wrap(handleSubscribe(svc)))
	mp.Handle(http.MethodDelete, "/courses/:id/subscription", "Unsubscribe from a course", s.wrap(handleUnsubscribe(svc)))
	mp.Handle(http.MethodGet, "/lessons/:id", "A published lesson with the caller's progress", s.wrap(handleMPLesson(svc)))
	mp.Handle(http.MethodPut, "/lessons/:id/progress", "Report progress: position and completion (idempotent)",
		s.wrap(handleProgress(svc)))

	ed := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleAdmin, model.RoleEditor))
	ed.Handle(http.MethodGet, "/courses", "Every course, by order", s.wrap(handleAdminCourses(svc)))
	ed.Handle(http.MethodPost, "/courses", "Create a course (audited)", s.wrap(handleCreateCourse(svc)))
	ed.Handle(http.MethodGet, "/courses/:id", "A course with every lesson and its figures", s.wrap(handleCourseReport(svc)))
	ed.Handle(http.MethodPatch, "/courses/:id", "Change a course (audited)", s.wrap(handleUpdateCourse(svc)))
	ed.HandleBody(http.MethodPost, "/courses/:id/lessons", "Add a lesson: a draft, or scheduled with publish_at (audited)",
		lessonBodyLimit, s.wrap(handleCreateLesson(svc)))
	ed.Handle(http.MethodGet, "/lessons/:id", "A lesson in any status", s.wrap(handleAdminLesson(svc)))
	ed.HandleBody(http.MethodPatch, "/lessons/:id", "Change a lesson; publish_at schedules it, null makes it a draft (audited)",
		lessonBodyLimit, s.wrap(handleUpdateLesson(svc)))
	ed.Handle(http.MethodPost, "/lessons/:id/publish", "Publish now and push to the subscribers (once; again is a no-op)",
		s.wrap(handlePublish(svc)))
	ed.Handle(http.MethodDelete, "/lessons/:id", "Delete a draft or scheduled lesson (audited; 409 once published: withdraw it)",
		s.wrap(handleDeleteLesson(svc)))
	ed.Handle(http.MethodPost, "/lessons/:id/withdraw",
		`Withdraw a published lesson {"reason"}: hidden from users, its push stopped, its figures kept (audited)`,
		s.wrap(handleWithdrawLesson(svc)))
	ed.Handle(http.MethodPost, "/lessons/:id/restore", "Put a withdrawn lesson back (nobody is notified again; audited)",
		s.wrap(handleRestoreLesson(svc)))
	ed.Handle(http.MethodPost, "/courses/:id/withdraw",
		`Withdraw a course {"reason"}: every published lesson withdrawn, scheduled ones made drafts (audited)`,
		s.wrap(handleWithdrawCourse(svc)))
	ed.Handle(http.MethodPost, "/pushes/:id/stop",
		`Stop a lesson's push {"reason"}: its notices not yet sent are skipped; the lesson stays published (audited)`,
		s.wrap(handleStopPush(svc)))
	ed.Handle(http.MethodDelete, "/courses/:id",
		"Delete a course without published lessons (409 course_published otherwise); archived when it had some (audited)",
		s.wrap(handleDeleteCourse(svc)))
}

type courseAnswer struct {
	ID           int64  `json:"id"`
	Title        string `json:"title"`
	Intro        string `json:"intro"`
	CoverURL     string `json:"cover_url"`
	Audience     string `json:"audience"`
	AudienceName string `json:"audience_name"`
	Sort         int    `json:"sort"`
	LessonCount  int    `json:"lesson_count"` // published lessons
	Subscribers  int    `json:"subscribers"`
}

func toCourseAnswer(c model.Course) courseAnswer {
	return courseAnswer{ID: c.ID, Title: c.Title, Intro: c.Intro, CoverURL: c.CoverURL, Audience: string(c.Audience),
		AudienceName: c.Audience.Name(), Sort: c.Sort, LessonCount: c.PublishedLessons, Subscribers: c.Subscribers}
}

type progressAnswer struct {
	LessonID    int64   `json:"lesson_id"`
	PositionS   int     `json:"position_s"`
	Completed   bool    `json:"completed"`
	CompletedAt *string `json:"completed_at"`
	UpdatedAt   string  `json:"updated_at"`
}

func toProgressAnswer(p *model.LessonProgress) *progressAnswer {
	if p == nil {
		return nil
	}
	return &progressAnswer{LessonID: p.LessonID, PositionS: p.PositionS, Completed: p.Completed,
		CompletedAt: apiTimePtr(p.CompletedAt), UpdatedAt: apiTime(p.UpdatedAt)}
}

// --- Mini Program ---

type mpCourseItem struct {
	courseAnswer
	Subscribed bool `json:"subscribed"`
}

// handleMPCourses: GET /api/mp/courses?audience=&cursor=&limit= →
// {"items":[{"id","title","intro","cover_url","audience","audience_name",
// "sort","lesson_count","subscribers","subscribed"}],"next_cursor"}.
func handleMPCourses(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		page, err := pageQuery(c)
		if err != nil {
			return err
		}
		aud := c.Query("audience")
		if len(aud) > 16 {
			return model.Invalid(map[string]string{"audience": "无效"})
		}
		items, next, err := svc.VisibleCourses(c.Request.Context(), p.SubjectID, model.Audience(aud), page)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(items, next, func(i lessons.CourseItem) mpCourseItem {
			return mpCourseItem{courseAnswer: toCourseAnswer(i.Course), Subscribed: i.Subscribed}
		}))
		return nil
	}
}

type mpLessonItem struct {
	ID          int64           `json:"id"`
	Title       string          `json:"title"`
	Kind        string          `json:"kind"`
	DurationS   int             `json:"duration_s"`
	Seq         int             `json:"seq"`
	PublishedAt string          `json:"published_at"`
	Progress    *progressAnswer `json:"progress"`
}

type resumeAnswer struct {
	LessonID  int64 `json:"lesson_id"`
	PositionS int   `json:"position_s"`
}

type mpCourseAnswer struct {
	courseAnswer
	Subscribed bool           `json:"subscribed"`
	TemplateID string         `json:"template_id"` // the subscribe template to ask consent for
	Resume     *resumeAnswer  `json:"resume"`      // where to continue; null when not started or all done
	Lessons    []mpLessonItem `json:"lessons"`
}

// handleMPCourse: GET /api/mp/courses/:id → the course, "subscribed",
// "template_id", "resume":{"lesson_id","position_s"}|null and "lessons":
// [{"id","title","kind","duration_s","seq","published_at","progress"}];
// a course without a published lesson is 404.
func handleMPCourse(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		v, err := svc.CourseFor(c.Request.Context(), p.SubjectID, id)
		if err != nil {
			return err
		}
		a := mpCourseAnswer{courseAnswer: toCourseAnswer(v.Course), Subscribed: v.Subscribed, TemplateID: v.TemplateID,
			Lessons: make([]mpLessonItem, len(v.Lessons))}
		if v.Resume != nil {
			a.Resume = &resumeAnswer{LessonID: v.Resume.LessonID, PositionS: v.Resume.PositionS}
		}
		for i, it := range v.Lessons {
			l := it.Lesson
			a.Lessons[i] = mpLessonItem{ID: l.ID, Title: l.Title, Kind: string(l.Kind), DurationS: l.DurationS, Seq: l.Seq,
				PublishedAt: apiTime(l.PublishedAt), Progress: toProgressAnswer(it.Progress)}
		}
		c.JSON(http.StatusOK, a)
		return nil
	}
}

// handleSubscribe: PUT /api/mp/courses/:id/subscription →
// {"subscribed":true,"template_id"} (again is the same answer).
func handleSubscribe(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		tpl, err := svc.Subscribe(c.Request.Context(), p.SubjectID, id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"subscribed": true, "template_id": tpl})
		return nil
	}
}

// handleUnsubscribe: DELETE /api/mp/courses/:id/subscription →
// {"subscribed":false}.
func handleUnsubscribe(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		if err := svc.Unsubscribe(c.Request.Context(), p.SubjectID, id); err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"subscribed": false})
		return nil
	}
}

type mpLessonAnswer struct {
	ID           int64           `json:"id"`
	CourseID     int64           `json:"course_id"`
	CourseTitle  string          `json:"course_title"`
	Title        string          `json:"title"`
	Kind         string          `json:"kind"`
	URL          string          `json:"url"`
	Body         string          `json:"body"` // sanitized HTML
	DurationS    int             `json:"duration_s"`
	Seq          int             `json:"seq"`
	PublishedAt  string          `json:"published_at"`
	NextLessonID *int64          `json:"next_lesson_id"`
	Progress     *progressAnswer `json:"progress"`
}

// handleMPLesson: GET /api/mp/lessons/:id → {"id","course_id","course_title",
// "title","kind","url","body","duration_s","seq","published_at",
// "next_lesson_id","progress"}; unpublished lessons are 404. Reading a
// lesson one was notified of counts as an open of the notice.
func handleMPLesson(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		v, err := svc.LessonFor(c.Request.Context(), p.SubjectID, id)
		if err != nil {
			return err
		}
		l := v.Lesson
		a := mpLessonAnswer{ID: l.ID, CourseID: l.CourseID, CourseTitle: v.CourseTitle, Title: l.Title, Kind: string(l.Kind),
			URL: l.URL, Body: l.Body, DurationS: l.DurationS, Seq: l.Seq, PublishedAt: apiTime(l.PublishedAt),
			Progress: toProgressAnswer(v.Progress)}
		if v.NextID != 0 {
			a.NextLessonID = &v.NextID
		}
		c.JSON(http.StatusOK, a)
		return nil
	}
}

type progressRequest struct {
	PositionS int  `json:"position_s"`
	Completed bool `json:"completed"`
}

func (r progressRequest) Valid() map[string]string {
	return lessons.ProgressInput{PositionS: r.PositionS, Completed: r.Completed}.Valid()
}

// handleProgress: PUT /api/mp/lessons/:id/progress {"position_s","completed"}
// → {"lesson_id","position_s","completed","completed_at","updated_at"}.
// The same report twice changes nothing; a completion is never undone.
func handleProgress(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[progressRequest](c)
		if err != nil {
			return err
		}
		pr, err := svc.SaveProgress(c.Request.Context(), p.SubjectID, id,
			lessons.ProgressInput{PositionS: req.PositionS, Completed: req.Completed})
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toProgressAnswer(&pr))
		return nil
	}
}

// --- staff ---

type adminCourseAnswer struct {
	courseAnswer
	CreatedBy int64  `json:"created_by"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func toAdminCourseAnswer(c model.Course) adminCourseAnswer {
	return adminCourseAnswer{courseAnswer: toCourseAnswer(c), CreatedBy: c.CreatedBy, CreatedAt: apiTime(c.CreatedAt),
		UpdatedAt: apiTime(c.UpdatedAt)}
}

// handleAdminCourses: GET /api/admin/courses?cursor=&limit= → {"items":[course],"next_cursor"}.
func handleAdminCourses(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		page, err := pageQuery(c)
		if err != nil {
			return err
		}
		cs, next, err := svc.Courses(c.Request.Context(), page)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(cs, next, toAdminCourseAnswer))
		return nil
	}
}

type courseRequest struct {
	Title    string `json:"title"`
	Intro    string `json:"intro"`
	CoverURL string `json:"cover_url"`
	Audience string `json:"audience"`
	Sort     int    `json:"sort"`
}

// Valid leaves the rules to the service.
func (courseRequest) Valid() map[string]string { return nil }

// handleCreateCourse: POST /api/admin/courses {"title","intro","cover_url",
// "audience","sort"} → 201 course.
func handleCreateCourse(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[courseRequest](c)
		if err != nil {
			return err
		}
		co, err := svc.CreateCourse(c.Request.Context(), lessons.CourseInput{Title: req.Title, Intro: req.Intro,
			CoverURL: req.CoverURL, Audience: model.Audience(req.Audience), Sort: req.Sort})
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toAdminCourseAnswer(co))
		return nil
	}
}

type coursePatchRequest struct {
	Title    *string `json:"title"`
	Intro    *string `json:"intro"`
	CoverURL *string `json:"cover_url"`
	Audience *string `json:"audience"`
	Sort     *int    `json:"sort"`
}

// Valid leaves the rules to the service.
func (coursePatchRequest) Valid() map[string]string { return nil }

// handleUpdateCourse: PATCH /api/admin/courses/:id {any course field} → course.
func handleUpdateCourse(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[coursePatchRequest](c)
		if err != nil {
			return err
		}
		patch := lessons.CoursePatch{Title: req.Title, Intro: req.Intro, CoverURL: req.CoverURL, Sort: req.Sort}
		if req.Audience != nil {
			a := model.Audience(*req.Audience)
			patch.Audience = &a
		}
		co, err := svc.UpdateCourse(c.Request.Context(), id, patch)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toAdminCourseAnswer(co))
		return nil
	}
}

type lessonAnswer struct {
	ID          int64   `json:"id"`
	CourseID    int64   `json:"course_id"`
	Title       string  `json:"title"`
	Kind        string  `json:"kind"`
	URL         string  `json:"url"`
	Body        *string `json:"body,omitempty"` // sanitized HTML; left out of lists
	DurationS   int     `json:"duration_s"`
	Seq         int     `json:"seq"`
	Status      string  `json:"status"`
	PublishAt   *string `json:"publish_at"`
	PublishedAt *string `json:"published_at"`
	PushID      int64   `json:"push_id"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
}

func toLessonAnswer(l model.Lesson, body bool) lessonAnswer {
	a := lessonAnswer{ID: l.ID, CourseID: l.CourseID, Title: l.Title, Kind: string(l.Kind), URL: l.URL, DurationS: l.DurationS,
		Seq: l.Seq, Status: string(l.Status), PublishAt: apiTimePtr(l.PublishAt), PublishedAt: apiTimePtr(l.PublishedAt),
		PushID: l.PushID, CreatedAt: apiTime(l.CreatedAt), UpdatedAt: apiTime(l.UpdatedAt)}
	if body {
		a.Body = &l.Body
	}
	return a
}

// lessonFiguresAnswer are one lesson's figures: its push (subscribers at
// the push, notified, no consent, no channel, failed, pending, opened
// after the push) and its learners.
type lessonFiguresAnswer struct {
	Subscribers    int     `json:"subscribers"`
	Notified       int     `json:"notified"`
	NoConsent      int     `json:"no_consent"`
	NoChannel      int     `json:"no_channel"`
	Failed         int     `json:"failed"`
	Pending        int     `json:"pending"`
	Opened         int     `json:"opened"`
	PushDone       bool    `json:"push_done"`
	Started        int     `json:"started"`
	Completed      int     `json:"completed"`
	CompletionRate float64 `json:"completion_rate"`
}

func toLessonFigures(r lessons.LessonReport) lessonFiguresAnswer {
	return lessonFiguresAnswer{Subscribers: r.Push.Targets, Notified: r.Push.Sent, NoConsent: r.Push.NoConsent,
		NoChannel: r.Push.NoChannel, Failed: r.Push.Failed, Pending: r.Push.Pending, Opened: r.Push.Read, PushDone: r.PushDone,
		Started: r.Stats.Started, Completed: r.Stats.Completed, CompletionRate: r.Completion}
}

type lessonReportAnswer struct {
	lessonAnswer
	Figures lessonFiguresAnswer `json:"figures"`
}

type courseReportAnswer struct {
	adminCourseAnswer
	Learners       int                  `json:"learners"`
	Finished       int                  `json:"finished"`
	CompletionRate float64              `json:"completion_rate"`
	Lessons        []lessonReportAnswer `json:"lessons"`
}

// handleCourseReport: GET /api/admin/courses/:id → the course with
// "learners", "finished", "completion_rate" (finished ÷ learners) and
// "lessons":[lesson + "figures":{"subscribers","notified","no_consent",
// "no_channel","failed","pending","opened","push_done","started",
// "completed","completion_rate"}].
func handleCourseReport(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		r, err := svc.CourseReport(c.Request.Context(), id)
		if err != nil {
			return err
		}
		a := courseReportAnswer{adminCourseAnswer: toAdminCourseAnswer(r.Course), Learners: r.Learners, Finished: r.Finished,
			CompletionRate: r.CompletionRate, Lessons: make([]lessonReportAnswer, len(r.Lessons))}
		for i, lr := range r.Lessons {
			a.Lessons[i] = lessonReportAnswer{lessonAnswer: toLessonAnswer(lr.Lesson, false), Figures: toLessonFigures(lr)}
		}
		c.JSON(http.StatusOK, a)
		return nil
	}
}

// parseScheduleTime reads publish_at: an RFC 3339 time.
func parseScheduleTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, model.Invalid(map[string]string{"publish_at": "须为 RFC 3339 时间，如 2026-03-08T20:00:00+08:00"})
	}
	return t, nil
}

type lessonRequest struct {
	Title     string  `json:"title"`
	Kind      string  `json:"kind"`
	URL       string  `json:"url"`
	Body      string  `json:"body"`
	DurationS int     `json:"duration_s"`
	Seq       *int    `json:"seq"`
	PublishAt *string `json:"publish_at"`
}

// Valid leaves the rules to the service.
func (lessonRequest) Valid() map[string]string { return nil }

// handleCreateLesson: POST /api/admin/courses/:id/lessons {"title","kind",
// "url","body","duration_s","seq","publish_at"} → 201 lesson (draft, or
// scheduled when publish_at is set).
func handleCreateLesson(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[lessonRequest](c)
		if err != nil {
			return err
		}
		in := lessons.LessonInput{Title: req.Title, Kind: model.LessonKind(req.Kind), URL: req.URL, Body: req.Body,
			DurationS: req.DurationS, Seq: req.Seq}
		if req.PublishAt != nil && *req.PublishAt != "" {
			if in.PublishAt, err = parseScheduleTime(*req.PublishAt); err != nil {
				return err
			}
		}
		l, err := svc.CreateLesson(c.Request.Context(), id, in)
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toLessonAnswer(l, true))
		return nil
	}
}

type lessonPatchRequest struct {
	Title     *string         `json:"title"`
	URL       *string         `json:"url"`
	Body      *string         `json:"body"`
	DurationS *int            `json:"duration_s"`
	Seq       *int            `json:"seq"`
	PublishAt json.RawMessage `json:"publish_at"` // absent: unchanged; null: draft; a time: scheduled
}

// Valid leaves the rules to the service.
func (lessonPatchRequest) Valid() map[string]string { return nil }

// handleUpdateLesson: PATCH /api/admin/lessons/:id {any of "title","url",
// "body","duration_s","seq","publish_at"} → lesson. "publish_at" null makes
// it a draft, a time schedules it; 409 already_published for a published
// lesson.
func handleUpdateLesson(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[lessonPatchRequest](c)
		if err != nil {
			return err
		}
		patch := lessons.LessonPatch{Title: req.Title, URL: req.URL, Body: req.Body, DurationS: req.DurationS, Seq: req.Seq}
		if len(req.PublishAt) > 0 {
			patch.Schedule = true
			if !bytes.Equal(req.PublishAt, []byte("null")) {
				var s string
				if err := json.Unmarshal(req.PublishAt, &s); err != nil {
					return model.Invalid(map[string]string{"publish_at": "须为时间或 null"})
				}
				if patch.PublishAt, err = parseScheduleTime(s); err != nil {
					return err
				}
			}
		}
		l, err := svc.UpdateLesson(c.Request.Context(), id, patch)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toLessonAnswer(l, true))
		return nil
	}
}

// handleAdminLesson: GET /api/admin/lessons/:id → lesson with its body.
func handleAdminLesson(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		l, err := svc.Lesson(c.Request.Context(), id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toLessonAnswer(l, true))
		return nil
	}
}

// handlePublish: POST /api/admin/lessons/:id/publish → the lesson,
// published, with "push_id". Publishing again answers the same lesson and
// notifies nobody again.
func handlePublish(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		l, err := svc.Publish(c.Request.Context(), id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toLessonAnswer(l, false))
		return nil
	}
}

// handleDeleteLesson: DELETE /api/admin/lessons/:id → 204. Only a draft or
// a scheduled lesson (which then never publishes); 409 lesson_published or
// lesson_withdrawn otherwise.
func handleDeleteLesson(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		if err := svc.DeleteLesson(c.Request.Context(), id); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}

type withdrawRequest struct {
	Reason string `json:"reason"`
}

// Valid leaves the rules to the service.
func (withdrawRequest) Valid() map[string]string { return nil }

// decodeOptional decodes a JSON body that may be left out (no body is the
// zero request).
func decodeOptional[T validator](c *gin.Context) (T, error) {
	if c.Request.Body == nil || c.Request.Body == http.NoBody || c.Request.ContentLength == 0 {
		var zero T
		return zero, model.Invalid(zero.Valid())
	}
	return decode[T](c)
}

// handleWithdrawLesson: POST /api/admin/lessons/:id/withdraw {"reason"}
// (optional, ≤ 200 characters, audited) → the lesson, "withdrawn". 409
// not_published for a draft or scheduled lesson (delete it instead);
// again answers the lesson as it is.
func handleWithdrawLesson(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decodeOptional[withdrawRequest](c)
		if err != nil {
			return err
		}
		l, err := svc.Withdraw(c.Request.Context(), id, req.Reason)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toLessonAnswer(l, false))
		return nil
	}
}

// handleStopPush: POST /api/admin/pushes/:id/stop {"reason"} (required,
// ≤ 200 characters, audited) → {"push_id","lesson_id","notices_skipped"}.
// 404 for a push that is not a lesson's; again skips nothing more.
func handleStopPush(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decodeOptional[withdrawRequest](c)
		if err != nil {
			return err
		}
		lessonID, skipped, err := svc.StopPush(c.Request.Context(), id, req.Reason)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"push_id": id, "lesson_id": lessonID, "notices_skipped": skipped})
		return nil
	}
}

// handleRestoreLesson: POST /api/admin/lessons/:id/restore → the lesson,
// "published" again; 409 not_withdrawn otherwise.
func handleRestoreLesson(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		l, err := svc.Restore(c.Request.Context(), id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toLessonAnswer(l, false))
		return nil
	}
}

// handleWithdrawCourse: POST /api/admin/courses/:id/withdraw {"reason"}
// (optional) → {"withdrawn":[lesson ids],"unscheduled":n,
// "notices_skipped":n}.
func handleWithdrawCourse(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decodeOptional[withdrawRequest](c)
		if err != nil {
			return err
		}
		w, err := svc.WithdrawCourse(c.Request.Context(), id, req.Reason)
		if err != nil {
			return err
		}
		ids := w.Withdrawn
		if ids == nil {
			ids = []int64{}
		}
		c.JSON(http.StatusOK, gin.H{"withdrawn": ids, "unscheduled": w.Unscheduled, "notices_skipped": w.Skipped})
		return nil
	}
}

// handleDeleteCourse: DELETE /api/admin/courses/:id → {"id","archived"}:
// erased, or archived (hidden, kept for the figures) when it had published
// lessons, all withdrawn by now. 409 course_published while one is
// published.
func handleDeleteCourse(svc Lessons) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		archived, err := svc.DeleteCourse(c.Request.Context(), id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"id": id, "archived": archived})
		return nil
	}
}

// pushLessonAnswer is the lesson a push announced, in GET /api/admin/pushes/:id.
type pushLessonAnswer struct {
	ID       int64               `json:"id"`
	CourseID int64               `json:"course_id"`
	Title    string              `json:"title"`
	Figures  lessonFiguresAnswer `json:"figures"`
}

// pushLesson returns the lesson figures of push id for its answer; nil
// when the push is not a lesson's or there is no lessons area.
func (s *server) pushLesson(ctx context.Context, id int64) (*pushLessonAnswer, error) {
	if s.Lessons == nil {
		return nil, nil
	}
	r, err := s.Lessons.PushReport(ctx, id)
	switch {
	case errIsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &pushLessonAnswer{ID: r.Lesson.ID, CourseID: r.Lesson.CourseID, Title: r.Lesson.Title, Figures: toLessonFigures(r)}, nil
}

func errIsNotFound(err error) bool { return errors.Is(err, model.ErrNotFound) }
