package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"wanjia/api"
	"wanjia/model"
	"wanjia/service/lessons"
	"wanjia/service/notify"
	"wanjia/store"
	"wanjia/store/storetest"
)

// lessonNotifier stands in for the notification centre.
type lessonNotifier struct {
	mu        sync.Mutex
	pushes    int64
	notices   int
	reads     []string
	cancelled []int64
}

func (n *lessonNotifier) CreatePush(context.Context, string, string) (int64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pushes++
	return 40 + n.pushes, nil
}

func (n *lessonNotifier) NotifyMany(_ context.Context, _ model.Notice, to []notify.Target) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notices += len(to)
	return len(to), nil
}

func (n *lessonNotifier) FeedPush(context.Context, int64) (int, error) { return 0, nil }

// CancelPush records the cancellation; the first one of a push skips 3
// notices, later ones none.
func (n *lessonNotifier) CancelPush(_ context.Context, id int64) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	skipped := 3
	if slices.Contains(n.cancelled, id) {
		skipped = 0
	}
	n.cancelled = append(n.cancelled, id)
	return skipped, nil
}

func (n *lessonNotifier) MarkRead(_ context.Context, key string) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.reads = append(n.reads, key)
	return true, nil
}

func (n *lessonNotifier) SubscribeTemplate(context.Context, string) (string, error) {
	return "tplLesson", nil
}

type nopFanout struct{}

func (nopFanout) EnqueueFanout(context.Context, int64, string) error { return nil }

func mustLessonsAPI(tb testing.TB) (*accountsEnv, *lessonNotifier) {
	tb.Helper()
	db := storetest.Dialects()[0].Open(tb)
	n := &lessonNotifier{}
	svc, err := lessons.New(lessons.Deps{Store: store.NewLessons(db), Notifier: n, Counts: store.NewNotify(db), Audit: nopAudit{},
		Tx: db, Queue: nopFanout{}})
	if err != nil {
		tb.Fatal(err)
	}
	return mustAccounts(tb, api.Deps{Lessons: svc}), n
}

type courseBody struct {
	ID          int64  `json:"id"`
	Title       string `json:"title"`
	Audience    string `json:"audience"`
	LessonCount int    `json:"lesson_count"`
	Subscribers int    `json:"subscribers"`
	Subscribed  bool   `json:"subscribed"`
	TemplateID  string `json:"template_id"`
	Resume      *struct {
		LessonID  int64 `json:"lesson_id"`
		PositionS int   `json:"position_s"`
	} `json:"resume"`
	Lessons []struct {
		ID       int64 `json:"id"`
		Progress *struct {
			Completed bool `json:"completed"`
		} `json:"progress"`
		Figures struct {
			Subscribers int `json:"subscribers"`
			Started     int `json:"started"`
			Completed   int `json:"completed"`
		} `json:"figures"`
	} `json:"lessons"`
	Learners       int     `json:"learners"`
	CompletionRate float64 `json:"completion_rate"`
}

type lessonBody struct {
	ID           int64   `json:"id"`
	Status       string  `json:"status"`
	Body         string  `json:"body"`
	PushID       int64   `json:"push_id"`
	PublishAt    *string `json:"publish_at"`
	NextLessonID *int64  `json:"next_lesson_id"`
}

type progressBody struct {
	PositionS   int     `json:"position_s"`
	Completed   bool    `json:"completed"`
	CompletedAt *string `json:"completed_at"`
}

func TestLessonsFlow(t *testing.T) {
	e, n := mustLessonsAPI(t)
	e.mustStaff(t, "editor1", false, model.RoleEditor)
	e.mustStaff(t, "fairmgr", false, model.RoleFairManager)
	ed := e.mustLogin(t, "editor1").Token
	fm := e.mustLogin(t, "fairmgr").Token
	alice, _ := notifyMPLogin(t, e.h, "alice")

	courseJSON := `{"title":"幼小衔接","intro":"孩子上小学前，家长要做的准备","audience":"preschool","sort":1}`
	wantStatus(t, e, "POST", "/api/admin/courses", courseJSON, fm, http.StatusForbidden, "forbidden")
	wantStatus(t, e, "POST", "/api/admin/courses", courseJSON, alice, http.StatusUnauthorized, "")
	bad := wantStatus(t, e, "POST", "/api/admin/courses", `{"title":"","audience":"teens"}`, ed, http.StatusBadRequest, "invalid")
	if env := mustJSON[envelope](t, bad); env.Error.Fields["title"] == "" || env.Error.Fields["audience"] == "" {
		t.Errorf("invalid course fields = %v", env.Error.Fields)
	}
	c := mustJSON[courseBody](t, wantStatus(t, e, "POST", "/api/admin/courses", courseJSON, ed, http.StatusCreated, ""))
	cid := itoa(c.ID)
	wantStatus(t, e, "PATCH", "/api/admin/courses/"+cid, `{"title":"幼小衔接（新版）"}`, ed, http.StatusOK, "")

	article := mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/courses/"+cid+"/lessons",
		`{"title":"入学前的准备","kind":"article","body":"<p onclick=\"x()\">要点</p><script>alert(1)</script><a href=\"javascript:alert(2)\">链接</a>"}`,
		ed, http.StatusCreated, ""))
	if article.Status != "draft" || strings.Contains(article.Body, "script") || strings.Contains(article.Body, "onclick") ||
		strings.Contains(article.Body, "javascript") || !strings.Contains(article.Body, "要点") {
		t.Errorf("created article = %+v, want a draft with a clean body", article)
	}
	video := mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/courses/"+cid+"/lessons",
		`{"title":"作息调整","kind":"video","url":"https://v.example.cn/2.mp4","duration_s":600}`, ed, http.StatusCreated, ""))
	later := time.Now().Add(time.Hour).Format(time.RFC3339)
	sched := mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/courses/"+cid+"/lessons",
		`{"title":"定时课","kind":"audio","url":"https://a.example.cn/3.mp3","publish_at":"`+later+`"}`, ed, http.StatusCreated, ""))
	if sched.Status != "scheduled" || sched.PublishAt == nil {
		t.Errorf("scheduled lesson = %+v", sched)
	}
	for _, body := range []string{
		`{"title":"x","kind":"video","url":"http://v.example.cn/1.mp4"}`,
		`{"title":"x","kind":"video","url":"https://v.example.cn/1.mp4","publish_at":"tomorrow"}`,
		`{"title":"x","kind":"video","url":"https://v.example.cn/1.mp4","duration_s":"long"}`,
	} {
		wantStatus(t, e, "POST", "/api/admin/courses/"+cid+"/lessons", body, ed, http.StatusBadRequest, "invalid")
	}
	wantStatus(t, e, "POST", "/api/admin/courses/999/lessons", `{"title":"x","kind":"audio","url":"https://a.cn/1.mp3"}`, ed,
		http.StatusNotFound, "")
	huge := `{"title":"x","kind":"article","body":"` + strings.Repeat("长", 1<<20) + `"}`
	wantStatus(t, e, "POST", "/api/admin/courses/"+cid+"/lessons", huge, ed, http.StatusRequestEntityTooLarge, "too_large")

	// Nothing is published: users see no course.
	if got := mustJSON[struct{ Items []courseBody }](t, wantStatus(t, e, "GET", "/api/mp/courses", "", alice, 200, "")); len(got.Items) != 0 {
		t.Errorf("GET /api/mp/courses before publishing = %+v", got.Items)
	}
	wantStatus(t, e, "GET", "/api/mp/courses/"+cid, "", alice, http.StatusNotFound, "not_found")
	wantStatus(t, e, "PUT", "/api/mp/courses/"+cid+"/subscription", "", alice, http.StatusNotFound, "not_found")

	pub := mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(article.ID)+"/publish", "", ed, 200, ""))
	again := mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(article.ID)+"/publish", "", ed, 200, ""))
	if pub.Status != "published" || pub.PushID == 0 || again.PushID != pub.PushID || n.pushes != 1 {
		t.Errorf("publish twice = %+v then %+v with %d pushes, want one push", pub, again, n.pushes)
	}
	wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(video.ID)+"/publish", "", ed, 200, "")
	wantStatus(t, e, "PATCH", "/api/admin/lessons/"+itoa(article.ID), `{"publish_at":"`+later+`"}`, ed, http.StatusConflict, "already_published")
	if got := mustJSON[lessonBody](t, wantStatus(t, e, "PATCH", "/api/admin/lessons/"+itoa(sched.ID), `{"publish_at":null}`, ed, 200, "")); got.Status != "draft" {
		t.Errorf("PATCH publish_at null = %+v, want a draft", got)
	}

	list := mustJSON[struct{ Items []courseBody }](t, wantStatus(t, e, "GET", "/api/mp/courses?audience=preschool", "", alice, 200, ""))
	if len(list.Items) != 1 || list.Items[0].LessonCount != 2 || list.Items[0].Subscribed {
		t.Errorf("GET /api/mp/courses = %+v", list.Items)
	}
	wantStatus(t, e, "GET", "/api/mp/courses?audience=teens", "", alice, http.StatusBadRequest, "invalid")
	sub := wantStatus(t, e, "PUT", "/api/mp/courses/"+cid+"/subscription", "", alice, 200, "")
	if s := strings.TrimSpace(string(sub)); s != `{"subscribed":true,"template_id":"tplLesson"}` {
		t.Errorf("PUT subscription = %s", s)
	}
	wantStatus(t, e, "PUT", "/api/mp/courses/"+cid+"/subscription", "", alice, 200, "")

	l := mustJSON[lessonBody](t, wantStatus(t, e, "GET", "/api/mp/lessons/"+itoa(article.ID), "", alice, 200, ""))
	if l.Body != article.Body || l.NextLessonID == nil || *l.NextLessonID != video.ID {
		t.Errorf("GET /api/mp/lessons = %+v", l)
	}
	if len(n.reads) != 1 || !strings.HasPrefix(n.reads[0], "lesson:"+itoa(article.ID)+":user:") {
		t.Errorf("opens reported = %v, want the pushed lesson's", n.reads)
	}
	wantStatus(t, e, "GET", "/api/mp/lessons/"+itoa(sched.ID), "", alice, http.StatusNotFound, "not_found")
	wantStatus(t, e, "GET", "/api/mp/lessons/abc", "", alice, http.StatusNotFound, "not_found")

	path := "/api/mp/lessons/" + itoa(video.ID) + "/progress"
	wantStatus(t, e, "PUT", path, `{"position_s":-5}`, alice, http.StatusBadRequest, "invalid")
	wantStatus(t, e, "PUT", path, `{"position_s":"x"}`, alice, http.StatusBadRequest, "invalid")
	if p := mustJSON[progressBody](t, wantStatus(t, e, "PUT", path, `{"position_s":120}`, alice, 200, "")); p.PositionS != 120 || p.Completed {
		t.Errorf("progress = %+v", p)
	}
	course := mustJSON[courseBody](t, wantStatus(t, e, "GET", "/api/mp/courses/"+cid, "", alice, 200, ""))
	if !course.Subscribed || course.TemplateID != "tplLesson" || course.Resume == nil || course.Resume.LessonID != video.ID ||
		course.Resume.PositionS != 120 || len(course.Lessons) != 2 {
		t.Errorf("GET /api/mp/courses/:id = %+v", course)
	}
	first := mustJSON[progressBody](t, wantStatus(t, e, "PUT", path, `{"position_s":600,"completed":true}`, alice, 200, ""))
	second := mustJSON[progressBody](t, wantStatus(t, e, "PUT", path, `{"position_s":600,"completed":true}`, alice, 200, ""))
	if !first.Completed || first.CompletedAt == nil || second.CompletedAt == nil || *second.CompletedAt != *first.CompletedAt {
		t.Errorf("progress twice = %+v then %+v, want the same completion", first, second)
	}

	report := mustJSON[courseBody](t, wantStatus(t, e, "GET", "/api/admin/courses/"+cid, "", ed, 200, ""))
	if report.Subscribers != 1 || report.Learners != 1 || len(report.Lessons) != 3 || report.Lessons[1].Figures.Completed != 1 {
		t.Errorf("GET /api/admin/courses/:id = %+v", report)
	}
	wantStatus(t, e, "GET", "/api/admin/courses/"+cid, "", fm, http.StatusForbidden, "")
	if all := mustJSON[struct{ Items []courseBody }](t, wantStatus(t, e, "GET", "/api/admin/courses", "", ed, 200, "")); len(all.Items) != 1 {
		t.Errorf("GET /api/admin/courses = %+v", all.Items)
	}
	wantStatus(t, e, "GET", "/api/admin/lessons/"+itoa(sched.ID), "", ed, 200, "")
	if s := strings.TrimSpace(string(wantStatus(t, e, "DELETE", "/api/mp/courses/"+cid+"/subscription", "", alice, 200, ""))); s != `{"subscribed":false}` {
		t.Errorf("DELETE subscription = %s", s)
	}
}

// pushLessons answers PushReport only (the rest of api.Lessons is unused).
type pushLessons struct {
	api.Lessons
}

func (pushLessons) PushReport(_ context.Context, id int64) (lessons.LessonReport, error) {
	if id != testPush.ID {
		return lessons.LessonReport{}, model.Errorf(model.ErrNotFound, "微课不存在")
	}
	return lessons.LessonReport{Lesson: model.Lesson{ID: 3, CourseID: 1, Title: "第3课"},
		Push: testPush.Counts, PushDone: true, Stats: model.LessonStats{Started: 4, Completed: 2}, Completion: 0.5}, nil
}

func TestPushShowsLessonFigures(t *testing.T) {
	e := mustAccounts(t, api.Deps{Notify: &fakeNotify{}, Lessons: pushLessons{}})
	e.mustStaff(t, "editor1", false, model.RoleEditor)
	ed := e.mustLogin(t, "editor1").Token
	got := mustJSON[struct {
		Sent   int `json:"sent"`
		Lesson *struct {
			ID      int64 `json:"id"`
			Figures struct {
				Subscribers, Notified, NoConsent, Opened, Completed int
				PushDone                                            bool `json:"push_done"`
			} `json:"figures"`
		} `json:"lesson"`
	}](t, wantStatus(t, e, "GET", "/api/admin/pushes/7", "", ed, 200, ""))
	if got.Lesson == nil || got.Lesson.ID != 3 || got.Lesson.Figures.Subscribers != 10 || got.Lesson.Figures.Notified != 6 ||
		got.Lesson.Figures.Completed != 2 || !got.Lesson.Figures.PushDone {
		t.Errorf("GET /api/admin/pushes/7 = %+v", got)
	}
}

// TestLessonWithdrawAndDelete: through the router, drafts and scheduled
// lessons are deleted, published ones withdrawn (hidden from the Mini
// Program, progress refused, their push cancelled) and restored, and a
// course is deleted only once nothing of it is published — archived, since
// it had published lessons. Roles without rights get 403 on every write.
func TestLessonWithdrawAndDelete(t *testing.T) {
	e, n := mustLessonsAPI(t)
	e.mustStaff(t, "editor1", false, model.RoleEditor)
	e.mustStaff(t, "admin1", false, model.RoleAdmin)
	e.mustStaff(t, "reviewer1", false, model.RoleReviewer)
	e.mustStaff(t, "fairmgr", false, model.RoleFairManager)
	ed, adm := e.mustLogin(t, "editor1").Token, e.mustLogin(t, "admin1").Token
	others := []string{e.mustLogin(t, "reviewer1").Token, e.mustLogin(t, "fairmgr").Token}
	alice, _ := notifyMPLogin(t, e.h, "alice")

	c := mustJSON[courseBody](t, wantStatus(t, e, "POST", "/api/admin/courses",
		`{"title":"家庭教育","intro":"","audience":"all","sort":1}`, ed, http.StatusCreated, ""))
	cid := itoa(c.ID)
	lesson := func(title string, extra string) lessonBody {
		return mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/courses/"+cid+"/lessons",
			`{"title":"`+title+`","kind":"video","url":"https://v.example.cn/1.mp4","duration_s":600`+extra+`}`, ed, http.StatusCreated, ""))
	}
	draft := lesson("草稿", "")
	sched := lesson("定时", `,"publish_at":"`+time.Now().Add(time.Hour).Format(time.RFC3339)+`"`)
	pub := lesson("已发布", "")
	pub = mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(pub.ID)+"/publish", "", ed, 200, ""))
	keep := lesson("第二节", "")
	wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(keep.ID)+"/publish", "", ed, 200, "")

	// Roles without rights: 403 on every new write, before anything happens.
	for _, tok := range append(others, alice) {
		want := http.StatusForbidden
		if tok == alice {
			want = http.StatusUnauthorized
		}
		for _, r := range [][2]string{
			{"DELETE", "/api/admin/lessons/" + itoa(draft.ID)},
			{"POST", "/api/admin/lessons/" + itoa(pub.ID) + "/withdraw"},
			{"POST", "/api/admin/lessons/" + itoa(pub.ID) + "/restore"},
			{"POST", "/api/admin/courses/" + cid + "/withdraw"},
			{"DELETE", "/api/admin/courses/" + cid},
		} {
			wantStatus(t, e, r[0], r[1], "", tok, want, "")
		}
	}

	// Drafts and scheduled lessons are deleted; a published one is not.
	wantStatus(t, e, "DELETE", "/api/admin/lessons/"+itoa(draft.ID), "", ed, http.StatusNoContent, "")
	wantStatus(t, e, "DELETE", "/api/admin/lessons/"+itoa(sched.ID), "", adm, http.StatusNoContent, "")
	wantStatus(t, e, "GET", "/api/admin/lessons/"+itoa(draft.ID), "", ed, http.StatusNotFound, "not_found")
	wantStatus(t, e, "DELETE", "/api/admin/lessons/"+itoa(draft.ID), "", ed, http.StatusNotFound, "not_found")
	wantStatus(t, e, "DELETE", "/api/admin/lessons/"+itoa(pub.ID), "", ed, http.StatusConflict, "lesson_published")
	wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(keep.ID)+"/restore", "", ed, http.StatusConflict, "not_withdrawn")

	// Alice reads and learns it, then it is withdrawn.
	wantStatus(t, e, "GET", "/api/mp/lessons/"+itoa(pub.ID), "", alice, 200, "")
	progress := "/api/mp/lessons/" + itoa(pub.ID) + "/progress"
	wantStatus(t, e, "PUT", progress, `{"position_s":600,"completed":true}`, alice, 200, "")
	wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(pub.ID)+"/withdraw", `{"reason":"`+strings.Repeat("长", 201)+`"}`, ed,
		http.StatusBadRequest, "invalid")
	wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(pub.ID)+"/withdraw", `{"reason":1}`, ed, http.StatusBadRequest, "invalid")
	w := mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(pub.ID)+"/withdraw", `{"reason":"链接失效"}`, ed, 200, ""))
	if w.Status != "withdrawn" || w.PushID != pub.PushID {
		t.Errorf("withdraw = %+v, want withdrawn with its push", w)
	}
	if again := mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(pub.ID)+"/withdraw", "", ed, 200, "")); again.Status != "withdrawn" {
		t.Errorf("withdraw again (no body) = %+v", again)
	}
	if len(n.cancelled) != 1 || n.cancelled[0] != pub.PushID {
		t.Errorf("pushes cancelled = %v, want [%d] once", n.cancelled, pub.PushID)
	}
	wantStatus(t, e, "GET", "/api/mp/lessons/"+itoa(pub.ID), "", alice, http.StatusNotFound, "not_found")
	wantStatus(t, e, "PUT", progress, `{"position_s":10}`, alice, http.StatusConflict, "lesson_withdrawn")
	mc := mustJSON[courseBody](t, wantStatus(t, e, "GET", "/api/mp/courses/"+cid, "", alice, 200, ""))
	if len(mc.Lessons) != 1 || mc.Lessons[0].ID != keep.ID || mc.LessonCount != 1 {
		t.Errorf("GET /api/mp/courses/:id = %+v, want only the lesson still published", mc)
	}
	wantStatus(t, e, "DELETE", "/api/admin/lessons/"+itoa(pub.ID), "", ed, http.StatusConflict, "lesson_withdrawn")
	wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(pub.ID)+"/publish", "", ed, http.StatusConflict, "lesson_withdrawn")
	wantStatus(t, e, "PATCH", "/api/admin/lessons/"+itoa(pub.ID), `{"publish_at":null}`, ed, http.StatusConflict, "already_published")
	report := mustJSON[courseBody](t, wantStatus(t, e, "GET", "/api/admin/courses/"+cid, "", ed, 200, ""))
	if len(report.Lessons) != 2 || report.Lessons[0].Figures.Completed != 1 {
		t.Errorf("staff course report = %+v, want the withdrawn lesson with its completion", report)
	}

	// Restored: visible again, no new push.
	if r := mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(pub.ID)+"/restore", "", ed, 200, "")); r.Status != "published" {
		t.Errorf("restore = %+v", r)
	}
	wantStatus(t, e, "GET", "/api/mp/lessons/"+itoa(pub.ID), "", alice, 200, "")
	if n.pushes != 2 {
		t.Errorf("pushes = %d, want 2 (no new one for the restore)", n.pushes)
	}

	// The course: refused while published, withdrawn, then archived.
	wantStatus(t, e, "DELETE", "/api/admin/courses/"+cid, "", ed, http.StatusConflict, "course_published")
	cw := wantStatus(t, e, "POST", "/api/admin/courses/"+cid+"/withdraw", `{"reason":"改版"}`, ed, 200, "")
	if got := mustJSON[struct {
		Withdrawn []int64 `json:"withdrawn"`
	}](t, cw); len(got.Withdrawn) != 2 {
		t.Errorf("course withdraw = %s, want both lessons", cw)
	}
	wantStatus(t, e, "GET", "/api/mp/courses/"+cid, "", alice, http.StatusNotFound, "not_found")
	del := wantStatus(t, e, "DELETE", "/api/admin/courses/"+cid, "", ed, 200, "")
	if s := strings.TrimSpace(string(del)); s != `{"archived":true,"id":`+cid+`}` {
		t.Errorf("DELETE course = %s, want archived", s)
	}
	wantStatus(t, e, "GET", "/api/admin/courses/"+cid, "", ed, http.StatusNotFound, "not_found")
	wantStatus(t, e, "DELETE", "/api/admin/courses/"+cid, "", ed, http.StatusNotFound, "not_found")
	wantStatus(t, e, "POST", "/api/admin/courses/"+cid+"/withdraw", "", ed, http.StatusNotFound, "not_found")

	empty := mustJSON[courseBody](t, wantStatus(t, e, "POST", "/api/admin/courses",
		`{"title":"空课程","intro":"","audience":"all","sort":2}`, ed, http.StatusCreated, ""))
	if s := strings.TrimSpace(string(wantStatus(t, e, "DELETE", "/api/admin/courses/"+itoa(empty.ID), "", ed, 200, ""))); s !=
		`{"archived":false,"id":`+itoa(empty.ID)+`}` {
		t.Errorf("DELETE empty course = %s, want erased", s)
	}
}

// TestLessonStopPush: POST /api/admin/pushes/:id/stop stops a lesson's push
// (its notices not yet sent skipped) and leaves the lesson published; a
// reason is required, other roles are refused, a push that is not a
// lesson's is 404, and stopping again skips nothing more.
func TestLessonStopPush(t *testing.T) {
	e, n := mustLessonsAPI(t)
	e.mustStaff(t, "editor1", false, model.RoleEditor)
	e.mustStaff(t, "reviewer1", false, model.RoleReviewer)
	ed, rev := e.mustLogin(t, "editor1").Token, e.mustLogin(t, "reviewer1").Token
	alice, _ := notifyMPLogin(t, e.h, "alice")
	c := mustJSON[courseBody](t, wantStatus(t, e, "POST", "/api/admin/courses",
		`{"title":"家庭教育","intro":"","audience":"all","sort":1}`, ed, http.StatusCreated, ""))
	l := mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/courses/"+itoa(c.ID)+"/lessons",
		`{"title":"第一讲","kind":"video","url":"https://v.example.cn/1.mp4","duration_s":600}`, ed, http.StatusCreated, ""))
	l = mustJSON[lessonBody](t, wantStatus(t, e, "POST", "/api/admin/lessons/"+itoa(l.ID)+"/publish", "", ed, 200, ""))
	if l.PushID == 0 {
		t.Fatalf("published lesson %+v has no push", l)
	}
	stop := "/api/admin/pushes/" + itoa(l.PushID) + "/stop"

	wantStatus(t, e, "POST", stop, `{"reason":"措辞有误"}`, rev, http.StatusForbidden, "")
	wantStatus(t, e, "POST", stop, `{"reason":"措辞有误"}`, alice, http.StatusUnauthorized, "")
	wantStatus(t, e, "POST", stop, "", ed, http.StatusBadRequest, "invalid")
	wantStatus(t, e, "POST", stop, `{"reason":"  "}`, ed, http.StatusBadRequest, "invalid")
	wantStatus(t, e, "POST", stop, `{"reason":"`+strings.Repeat("长", 201)+`"}`, ed, http.StatusBadRequest, "invalid")
	wantStatus(t, e, "POST", "/api/admin/pushes/999/stop", `{"reason":"措辞有误"}`, ed, http.StatusNotFound, "not_found")
	if len(n.cancelled) != 0 {
		t.Fatalf("refused calls cancelled %v", n.cancelled)
	}

	got := strings.TrimSpace(string(wantStatus(t, e, "POST", stop, `{"reason":"措辞有误"}`, ed, 200, "")))
	if want := `{"lesson_id":` + itoa(l.ID) + `,"notices_skipped":3,"push_id":` + itoa(l.PushID) + `}`; got != want {
		t.Errorf("stop = %s, want %s", got, want)
	}
	if len(n.cancelled) != 1 || n.cancelled[0] != l.PushID {
		t.Errorf("pushes cancelled = %v, want [%d]", n.cancelled, l.PushID)
	}
	// The lesson stays published and readable.
	wantStatus(t, e, "GET", "/api/mp/lessons/"+itoa(l.ID), "", alice, 200, "")
	if a := mustJSON[lessonBody](t, wantStatus(t, e, "GET", "/api/admin/lessons/"+itoa(l.ID), "", ed, 200, "")); a.Status != "published" {
		t.Errorf("lesson after stop = %+v, want published", a)
	}
	again := strings.TrimSpace(string(wantStatus(t, e, "POST", stop, `{"reason":"措辞有误"}`, ed, 200, "")))
	if !strings.Contains(again, `"notices_skipped":0`) {
		t.Errorf("stop again = %s, want nothing more skipped", again)
	}
}
