package lessons_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/service/lessons"
	"wanjia/service/notify"
	"wanjia/wechat/wxsim"
)

func ptr[T any](v T) *T { return &v }

func TestCourseAndLessonValidation(t *testing.T) {
	e := mustEnv(t, envOptions{})
	c := e.mustCourse(t, "幼小衔接")
	courseTests := []struct {
		name  string
		in    lessons.CourseInput
		field string
	}{
		{"no title", lessons.CourseInput{Title: "  ", Audience: model.AudienceAll}, "title"},
		{"long title", lessons.CourseInput{Title: strings.Repeat("课", 129), Audience: model.AudienceAll}, "title"},
		{"control characters", lessons.CourseInput{Title: "课\x00", Audience: model.AudienceAll}, "title"},
		{"unknown audience", lessons.CourseInput{Title: "课", Audience: "teens"}, "audience"},
		{"http cover", lessons.CourseInput{Title: "课", Audience: model.AudienceAll, CoverURL: "http://img.example.cn/a.png"}, "cover_url"},
		{"cover outside files", lessons.CourseInput{Title: "课", Audience: model.AudienceAll, CoverURL: "/api/files/../etc"}, "cover_url"},
		{"long intro", lessons.CourseInput{Title: "课", Audience: model.AudienceAll, Intro: strings.Repeat("介", 2001)}, "intro"},
		{"order out of range", lessons.CourseInput{Title: "课", Audience: model.AudienceAll, Sort: 1 << 30}, "sort"},
	}
	for _, tt := range courseTests {
		t.Run("course/"+tt.name, func(t *testing.T) {
			_, err := e.svc.CreateCourse(editor(), tt.in)
			var me *model.Error
			if !errors.As(err, &me) || me.Fields[tt.field] == "" {
				t.Errorf("CreateCourse() = %v, want ErrInvalid naming %s", err, tt.field)
			}
		})
	}
	long := "https://v.example.cn/" + strings.Repeat("a", lessons.MaxURL)
	lessonTests := []struct {
		name  string
		in    lessons.LessonInput
		field string
	}{
		{"no title", lessons.LessonInput{Kind: model.LessonVideo, URL: "https://v.example.cn/1.mp4"}, "title"},
		{"unknown kind", lessons.LessonInput{Title: "课", Kind: "podcast"}, "kind"},
		{"video over http", lessons.LessonInput{Title: "课", Kind: model.LessonVideo, URL: "http://v.example.cn/1.mp4"}, "url"},
		{"javascript link", lessons.LessonInput{Title: "课", Kind: model.LessonAudio, URL: "javascript:alert(1)"}, "url"},
		{"link too long", lessons.LessonInput{Title: "课", Kind: model.LessonVideo, URL: long}, "url"},
		{"link with credentials", lessons.LessonInput{Title: "课", Kind: model.LessonVideo, URL: "https://u:p@v.example.cn/1.mp4"}, "url"},
		{"video without link", lessons.LessonInput{Title: "课", Kind: model.LessonVideo}, "url"},
		{"article with a link", lessons.LessonInput{Title: "课", Kind: model.LessonArticle, URL: "https://a.cn/x", Body: "<p>正文</p>"}, "url"},
		{"article without text", lessons.LessonInput{Title: "课", Kind: model.LessonArticle, Body: "<p> &nbsp; </p><script>x</script>"}, "body"},
		{"body too large", lessons.LessonInput{Title: "课", Kind: model.LessonArticle, Body: strings.Repeat("a", lessons.MaxBody+1)}, "body"},
		{"negative duration", lessons.LessonInput{Title: "课", Kind: model.LessonVideo, URL: "https://v.example.cn/1.mp4", DurationS: -1}, "duration_s"},
		{"past schedule", lessons.LessonInput{Title: "课", Kind: model.LessonVideo, URL: "https://v.example.cn/1.mp4", PublishAt: t0.Add(-time.Minute)}, "publish_at"},
		{"schedule too far", lessons.LessonInput{Title: "课", Kind: model.LessonVideo, URL: "https://v.example.cn/1.mp4", PublishAt: t0.AddDate(2, 0, 0)}, "publish_at"},
	}
	for _, tt := range lessonTests {
		t.Run("lesson/"+tt.name, func(t *testing.T) {
			_, err := e.svc.CreateLesson(editor(), c.ID, tt.in)
			var me *model.Error
			if !errors.As(err, &me) || me.Fields[tt.field] == "" {
				t.Errorf("CreateLesson() = %v, want ErrInvalid naming %s", err, tt.field)
			}
		})
	}
	if _, err := e.svc.CreateLesson(editor(), 9999, lessons.LessonInput{Title: "课", Kind: model.LessonAudio, URL: "https://a.cn/1.mp3"}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("CreateLesson(unknown course) = %v, want ErrNotFound", err)
	}
}

func TestStaffOnly(t *testing.T) {
	e := mustEnv(t, envOptions{})
	c := e.mustCourse(t, "幼小衔接")
	l := e.mustLesson(t, c.ID, "第一课")
	ctxs := map[string]context.Context{
		"nobody":       context.Background(),
		"mp user":      model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionMP, SubjectID: 1}),
		"fair manager": model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 2, Roles: []model.Role{model.RoleFairManager}}),
	}
	for name, ctx := range ctxs {
		calls := map[string]error{}
		_, calls["CreateCourse"] = e.svc.CreateCourse(ctx, lessons.CourseInput{Title: "x", Audience: model.AudienceAll})
		_, calls["UpdateCourse"] = e.svc.UpdateCourse(ctx, c.ID, lessons.CoursePatch{Title: ptr("y")})
		_, calls["CreateLesson"] = e.svc.CreateLesson(ctx, c.ID, lessons.LessonInput{Title: "x", Kind: model.LessonAudio, URL: "https://a.cn/1.mp3"})
		_, calls["UpdateLesson"] = e.svc.UpdateLesson(ctx, l.ID, lessons.LessonPatch{Title: ptr("y")})
		_, calls["Publish"] = e.svc.Publish(ctx, l.ID)
		_, _, calls["Courses"] = e.svc.Courses(ctx, model.Page{})
		_, calls["CourseReport"] = e.svc.CourseReport(ctx, c.ID)
		_, calls["PushReport"] = e.svc.PushReport(ctx, 1)
		calls["DeleteLesson"] = e.svc.DeleteLesson(ctx, l.ID)
		_, calls["Withdraw"] = e.svc.Withdraw(ctx, l.ID, "")
		_, calls["Restore"] = e.svc.Restore(ctx, l.ID)
		_, calls["WithdrawCourse"] = e.svc.WithdrawCourse(ctx, c.ID, "")
		_, calls["DeleteCourse"] = e.svc.DeleteCourse(ctx, c.ID)
		for call, err := range calls {
			if !errors.Is(err, model.ErrForbidden) {
				t.Errorf("%s as %s = %v, want ErrForbidden", call, name, err)
			}
		}
	}
	admin := model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 3, Roles: []model.Role{model.RoleAdmin}})
	if _, err := e.svc.UpdateCourse(admin, c.ID, lessons.CoursePatch{Title: ptr("新名")}); err != nil {
		t.Errorf("UpdateCourse as admin = %v", err)
	}
	want := []string{"course.create course 1", "lesson.create lesson 1", "course.update course 1"}
	if got := e.audit.Lines(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit = %v, want %v", got, want)
	}
}

// TestChannelChoice publishes a lesson to subscribers who can be reached
// in different ways and checks what the notification centre did for each:
// the lessons area only creates the push and the notices; the channel is
// notify's choice.
func TestChannelChoice(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, e *env, course int64) model.User
		status  string
		channel string
		kind    wxsim.MessageKind
	}{
		{"consent: subscribe message", func(t *testing.T, e *env, course int64) model.User {
			return e.mustUser(t, "oMP_consent", "", course, 1)
		}, model.DeliverySent, model.ChannelMPSubscribe, wxsim.KindSubscribe},
		{"consent and a follower: still the subscribe message", func(t *testing.T, e *env, course int64) model.User {
			e.follow(t, "oOA_both", "uBoth")
			return e.mustUser(t, "oMP_both", "uBoth", course, 1)
		}, model.DeliverySent, model.ChannelMPSubscribe, wxsim.KindSubscribe},
		{"no consent, follows (unionid): template message", func(t *testing.T, e *env, course int64) model.User {
			e.follow(t, "oOA_follow", "uFollow")
			return e.mustUser(t, "oMP_follow", "uFollow", course, 0)
		}, model.DeliverySent, model.ChannelOATemplate, wxsim.KindTemplate},
		{"no consent, unfollowed: no consent", func(t *testing.T, e *env, course int64) model.User {
			e.follow(t, "oOA_left", "uLeft")
			if err := e.followers.Unsubscribe(context.Background(), "oOA_left", t0); err != nil {
				t.Fatal(err)
			}
			return e.mustUser(t, "oMP_left", "uLeft", course, 0)
		}, model.DeliveryNoConsent, model.ChannelMPSubscribe, ""},
		{"no consent, no unionid: no consent", func(t *testing.T, e *env, course int64) model.User {
			return e.mustUser(t, "oMP_alone", "", course, 0)
		}, model.DeliveryNoConsent, model.ChannelMPSubscribe, ""},
		{"43101 from WeChat, follows: template message", func(t *testing.T, e *env, course int64) model.User {
			e.follow(t, "oOA_refused", "uRefused")
			e.sim.RefuseFor("oMP_refused", mpTemplate)
			return e.mustUser(t, "oMP_refused", "uRefused", course, 2)
		}, model.DeliverySent, model.ChannelOATemplate, wxsim.KindTemplate},
		{"43101 from WeChat, nothing else: no consent", func(t *testing.T, e *env, course int64) model.User {
			e.sim.RefuseFor("oMP_refused2", mpTemplate)
			return e.mustUser(t, "oMP_refused2", "", course, 2)
		}, model.DeliveryNoConsent, model.ChannelMPSubscribe, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t, envOptions{})
			c := e.mustCourse(t, "青春期沟通")
			u := tt.setup(t, e, c.ID)
			l := e.mustPublish(t, e.mustLesson(t, c.ID, "如何和孩子谈手机").ID)
			e.deliverAll(t)
			d := e.delivery(t, l.ID, u.ID)
			if d.Status != tt.status || d.Channel != tt.channel || d.PushID != l.PushID {
				t.Errorf("delivery = %s via %q (push %d, %s), want %s via %q (push %d)", d.Status, d.Channel, d.PushID, d.Error,
					tt.status, tt.channel, l.PushID)
			}
			sent := e.sim.Sent("")
			switch {
			case tt.kind == "" && len(sent) != 0:
				t.Errorf("simulator received %+v, want nothing", sent)
			case tt.kind != "" && (len(sent) != 1 || sent[0].Kind != tt.kind):
				t.Errorf("simulator received %+v, want one %s message", sent, tt.kind)
			case tt.kind != "" && sent[0].Page != fmt.Sprintf(lessons.LessonPage, l.ID):
				t.Errorf("message opens %q, want the lesson page", sent[0].Page)
			}
			rep, err := e.svc.PushReport(editor(), l.PushID)
			if err != nil || rep.Lesson.ID != l.ID || rep.Push.Targets != 1 || !rep.PushDone {
				t.Errorf("PushReport() = %+v, %v", rep, err)
			}
		})
	}
}

// Test43101UsesUpConsent: WeChat's 43101 for a subscriber (the simulator's
// per-openid refusal), through the job runners end to end, marks the
// notice no_consent without a retry and uses up her ledger, so the next
// lesson does not even try the subscribe message.
func Test43101UsesUpConsent(t *testing.T) {
	e := mustEnv(t, envOptions{runner: true})
	c := e.mustCourse(t, "隔代教育")
	ok := e.mustUser(t, "oMP_ok", "", c.ID, 2)
	refused := e.mustUser(t, "oMP_no", "", c.ID, 3)
	e.sim.RefuseFor(refused.OpenID, mpTemplate)
	first := e.mustPublish(t, e.mustLesson(t, c.ID, "第一课").ID)
	waitFor(t, 10*time.Second, "both notices of the first lesson", func() bool {
		return e.status(t, first.ID, refused.ID) == model.DeliveryNoConsent && e.status(t, first.ID, ok.ID) == model.DeliverySent
	})
	if d := e.delivery(t, first.ID, refused.ID); d.Errcode != 43101 || d.Attempts != 1 {
		t.Errorf("refused delivery = %+v, want errcode 43101 after one attempt", d)
	}
	cs, err := e.ns.ConsentsOf(context.Background(), model.AppMP, refused.OpenID)
	if err != nil || len(cs) != 1 || cs[0].Remaining != 0 {
		t.Errorf("ConsentsOf(refused) = %+v, %v, want the consent used up", cs, err)
	}
	calls := len(e.sim.Calls(subscribePath))
	second := e.mustPublish(t, e.mustLesson(t, c.ID, "第二课").ID)
	waitFor(t, 10*time.Second, "both notices of the second lesson", func() bool {
		return e.status(t, second.ID, refused.ID) == model.DeliveryNoConsent && e.status(t, second.ID, ok.ID) == model.DeliverySent
	})
	if got := len(e.sim.Calls(subscribePath)) - calls; got != 1 {
		t.Errorf("subscribe sends for the second lesson = %d, want 1 (none to the refused user)", got)
	}
	if d := e.delivery(t, second.ID, refused.ID); d.Errcode != 0 {
		t.Errorf("second refused delivery = %+v, want no consent without asking WeChat", d)
	}
}

// TestPublishTwice: publishing again, or running the fan-out again,
// notifies nobody twice; concurrent publishes make one push.
func TestPublishTwice(t *testing.T) {
	e := mustEnv(t, envOptions{batch: 3})
	c := e.mustCourse(t, "幼小衔接")
	for i := range 7 {
		e.mustUser(t, fmt.Sprintf("oMP_twice_%d", i), "", c.ID, 1)
	}
	l := e.mustLesson(t, c.ID, "入学前的准备")
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := e.svc.Publish(editor(), l.ID); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	again := e.mustPublish(t, l.ID)
	if again.Status != model.LessonPublished || again.PushID == 0 {
		t.Errorf("Publish(again) = %+v", again)
	}
	if got := e.fq.snapshot(); len(got) != 1 {
		t.Errorf("fan-outs enqueued = %v, want one", got)
	}
	e.deliverAll(t)
	if err := e.svc.Fanout(context.Background(), l.ID); err != nil { // a stray second task
		t.Fatal(err)
	}
	e.deliverAll(t)
	pushes, _, err := e.ns.ListPushes(context.Background(), model.Page{})
	if err != nil || len(pushes) != 1 {
		t.Errorf("pushes = %+v, %v, want one", pushes, err)
	}
	per := map[string]int{}
	for _, m := range e.sim.Sent(wxsim.KindSubscribe) {
		per[m.ToUser]++
	}
	if len(per) != 7 {
		t.Errorf("recipients = %d, want 7", len(per))
	}
	for u, n := range per {
		if n != 1 {
			t.Errorf("%s got %d messages, want 1", u, n)
		}
	}
	publishes := 0
	for _, a := range e.audit.Lines() {
		if strings.HasPrefix(a, "lesson.publish") {
			publishes++
		}
	}
	if publishes != 1 {
		t.Errorf("audited publishes = %d, want 1", publishes)
	}
}

// flakyNotifier fails NotifyMany once after ok calls, as a crash would
// stop a fan-out midway.
type flakyNotifier struct {
	lessons.Notifier
	mu      sync.Mutex
	ok      int
	failed  bool
	created int
}

func (f *flakyNotifier) NotifyMany(ctx context.Context, n model.Notice, to []notify.Target) (int, error) {
	f.mu.Lock()
	if f.ok == 0 && !f.failed {
		f.failed = true
		f.mu.Unlock()
		return 0, errors.New("database went away")
	}
	f.ok--
	f.mu.Unlock()
	c, err := f.Notifier.NotifyMany(ctx, n, to)
	f.mu.Lock()
	f.created += c
	f.mu.Unlock()
	return c, err
}

// stalledPush publishes a lesson to 11 subscribers of a new course, with
// a service whose fan-out (e's batch: pages of 4) fails after two pages
// as a crash would: the first page handed to the queue, the second only in
// the outbox, the last subscribers not reached. Their openids start with
// oMP_prefix_. The flaky notifier counts the notices created.
func stalledPush(t *testing.T, e *env, prefix string) (*lessons.Service, model.Lesson, []model.User, *flakyNotifier) {
	t.Helper()
	flaky := &flakyNotifier{Notifier: e.notify, ok: 2}
	d := e.ldeps
	d.Notifier = flaky
	svc := mustLessons(t, d)
	c := e.mustCourse(t, "亲子阅读")
	var users []model.User
	for i := range 11 {
		users = append(users, e.mustUser(t, fmt.Sprintf("oMP_%s_%02d", prefix, i), "", c.ID, 1))
	}
	l, err := svc.Publish(editor(), e.mustLesson(t, c.ID, "睡前故事怎么讲").ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Fanout(context.Background(), l.ID); err == nil {
		t.Fatal("Fanout() = nil, want the failure after two pages")
	}
	return svc, l, users, flaky
}

// wantPushStopped checks the push of stalledPush after it was stopped
// (why names how): a later fan-out run and the tick's stall check find
// it done, the 2 notices sent before stay the only messages, the rest of
// the first two pages are skipped and the last subscribers got none.
func wantPushStopped(t *testing.T, e *env, svc *lessons.Service, l model.Lesson, users []model.User, why string) {
	t.Helper()
	ctx := context.Background()
	if err := svc.Fanout(ctx, l.ID); err != nil {
		t.Errorf("Fanout() after the %s = %v, want nil", why, err)
	}
	e.clock.Add(5 * time.Minute)
	if _, err := svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.fq.snapshot(); len(got) != 1 {
		t.Errorf("fan-outs enqueued = %v, want only the first (no restart)", got)
	}
	e.deliverAll(t)
	if n := len(e.sim.Sent(wxsim.KindSubscribe)); n != 2 {
		t.Errorf("messages sent = %d, want the 2 sent before the %s", n, why)
	}
	for i, u := range users {
		want := model.DeliverySkipped
		switch {
		case i < 2:
			want = model.DeliverySent
		case i >= 8:
			want = "" // never reached: no notice at all
		}
		if got := e.status(t, l.ID, u.ID); got != want {
			t.Errorf("delivery to subscriber %d = %q, want %q", i, got, want)
		}
	}
}

// TestFanoutResumes: a fan-out stopped midway resumes from its cursor (the
// tick restarts it once it stalls), and nobody is notified twice.
func TestFanoutResumes(t *testing.T) {
	e := mustEnv(t, envOptions{batch: 4})
	svc, l, users, flaky := stalledPush(t, e, "resume")
	lp, err := e.ls.LessonPush(context.Background(), l.ID)
	if err != nil || lp.Cursor == 0 || !lp.FinishedAt.IsZero() {
		t.Fatalf("LessonPush() after the failure = %+v, %v, want a cursor past the first pages", lp, err)
	}
	// The tick restarts it once it has not moved for StallAfter.
	if _, err := svc.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.fq.snapshot(); len(got) != 1 {
		t.Fatalf("fan-outs after a tick right away = %v, want only the first", got)
	}
	e.clock.Add(3 * time.Minute)
	if _, err := svc.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.fq.snapshot(); len(got) != 2 || got[1] == got[0] {
		t.Fatalf("fan-outs after the stall = %v, want a restart under its own id", got)
	}
	if err := svc.Fanout(context.Background(), l.ID); err != nil {
		t.Fatal(err)
	}
	if flaky.created != 11 {
		t.Errorf("notices created = %d, want 11 (each once)", flaky.created)
	}
	e.deliverAll(t)
	for _, u := range users {
		if d := e.delivery(t, l.ID, u.ID); d.Status != model.DeliverySent {
			t.Errorf("delivery to %d = %s", u.ID, d.Status)
		}
	}
	if n := len(e.sim.Sent(wxsim.KindSubscribe)); n != 11 {
		t.Errorf("messages = %d, want 11", n)
	}
}

// TestScheduledPublish: a scheduled lesson is published by the first tick
// after its time, once, even with two copies of the service ticking at once.
func TestScheduledPublish(t *testing.T) {
	e := mustEnv(t, envOptions{})
	other := mustLessons(t, e.ldeps) // a second copy over the same database
	c := e.mustCourse(t, "幼小衔接")
	e.mustUser(t, "oMP_sched", "", c.ID, 1)
	l, err := e.svc.CreateLesson(editor(), c.ID, lessons.LessonInput{Title: "定时的课", Kind: model.LessonAudio,
		URL: "https://a.example.cn/1.mp3", PublishAt: t0.Add(90 * time.Second)})
	if err != nil || l.Status != model.LessonScheduled {
		t.Fatalf("CreateLesson(scheduled) = %+v, %v", l, err)
	}
	if n, err := e.svc.Tick(context.Background()); err != nil || n != 0 {
		t.Errorf("Tick() before its time = %d, %v", n, err)
	}
	e.clock.Add(2 * time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for _, s := range []*lessons.Service{e.svc, other, e.svc, other} {
		wg.Go(func() {
			n, err := s.Tick(context.Background())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 1 {
		t.Errorf("lessons published by four ticks = %d, want 1", total)
	}
	got, err := e.svc.Lesson(editor(), l.ID)
	if err != nil || got.Status != model.LessonPublished || !got.PublishedAt.Equal(t0.Add(2*time.Minute)) || got.PushID == 0 {
		t.Errorf("lesson after the tick = %+v, %v", got, err)
	}
	e.deliverAll(t)
	if n := len(e.sim.Sent(wxsim.KindSubscribe)); n != 1 {
		t.Errorf("messages = %d, want 1", n)
	}
	if _, err := e.svc.UpdateLesson(editor(), l.ID, lessons.LessonPatch{Schedule: true, PublishAt: t0.Add(time.Hour)}); !errors.Is(err, model.ErrConflict) {
		t.Errorf("rescheduling a published lesson = %v, want 409", err)
	}
}

// TestProgressAndResume: progress is idempotent and completion sticks;
// the course answer says where to continue.
func TestProgressAndResume(t *testing.T) {
	e := mustEnv(t, envOptions{})
	c := e.mustCourse(t, "情绪管理")
	var ls []model.Lesson
	for i := range 3 {
		ls = append(ls, e.mustPublish(t, e.mustLesson(t, c.ID, fmt.Sprintf("第%d课", i+1)).ID))
	}
	draft := e.mustLesson(t, c.ID, "草稿")
	u := e.mustUser(t, "oMP_learner", "", 0, 0)
	ctx := context.Background()

	v, err := e.svc.CourseFor(ctx, u.ID, c.ID)
	if err != nil || len(v.Lessons) != 3 || v.Resume != nil || v.Subscribed || v.TemplateID != mpTemplate {
		t.Fatalf("CourseFor(new learner) = %+v, %v", v, err)
	}
	for i := range 2 {
		p, err := e.svc.SaveProgress(ctx, u.ID, ls[0].ID, lessons.ProgressInput{PositionS: 300})
		if err != nil || p.PositionS != 300 || p.Completed {
			t.Fatalf("SaveProgress(#%d) = %+v, %v", i, p, err)
		}
	}
	if v, _ = e.svc.CourseFor(ctx, u.ID, c.ID); v.Resume == nil || *v.Resume != (lessons.Resume{LessonID: ls[0].ID, PositionS: 300}) {
		t.Errorf("Resume after 300 s of lesson 1 = %+v", v.Resume)
	}
	p, err := e.svc.SaveProgress(ctx, u.ID, ls[0].ID, lessons.ProgressInput{PositionS: 5000, Completed: true})
	if err != nil || !p.Completed || p.PositionS != 600 {
		t.Errorf("SaveProgress(past the end, completed) = %+v, %v, want clamped to 600 and completed", p, err)
	}
	if p, _ := e.svc.SaveProgress(ctx, u.ID, ls[0].ID, lessons.ProgressInput{PositionS: 10}); !p.Completed {
		t.Errorf("SaveProgress(rewatching) = %+v, want still completed", p)
	}
	if v, _ = e.svc.CourseFor(ctx, u.ID, c.ID); v.Resume == nil || *v.Resume != (lessons.Resume{LessonID: ls[1].ID}) {
		t.Errorf("Resume after lesson 1 = %+v, want lesson 2 from the start", v.Resume)
	}
	for _, l := range ls[1:] {
		if _, err := e.svc.SaveProgress(ctx, u.ID, l.ID, lessons.ProgressInput{Completed: true}); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ = e.svc.CourseFor(ctx, u.ID, c.ID); v.Resume != nil || v.Lessons[2].Progress == nil || !v.Lessons[2].Progress.Completed {
		t.Errorf("CourseFor(all done) = %+v, want no resume", v)
	}
	bad := map[string]func() error{
		"negative position": func() error {
			_, err := e.svc.SaveProgress(ctx, u.ID, ls[0].ID, lessons.ProgressInput{PositionS: -1})
			return err
		},
		"a draft": func() error {
			_, err := e.svc.SaveProgress(ctx, u.ID, draft.ID, lessons.ProgressInput{PositionS: 1})
			return err
		},
		"reading a draft": func() error {
			_, err := e.svc.LessonFor(ctx, u.ID, draft.ID)
			return err
		},
		"an unknown lesson": func() error {
			_, err := e.svc.LessonFor(ctx, u.ID, 9999)
			return err
		},
	}
	for name, call := range bad {
		if err := call(); !errors.Is(err, model.ErrInvalid) && !errors.Is(err, model.ErrNotFound) {
			t.Errorf("%s = %v, want 400 or 404", name, err)
		}
	}
	if lv, err := e.svc.LessonFor(ctx, u.ID, ls[0].ID); err != nil || lv.NextID != ls[1].ID || lv.CourseTitle != c.Title || lv.Progress == nil {
		t.Errorf("LessonFor() = %+v, %v", lv, err)
	}
}

// TestSubscribe: subscribing is idempotent; a course without a published
// lesson cannot be subscribed to.
func TestSubscribe(t *testing.T) {
	e := mustEnv(t, envOptions{})
	c := e.mustCourse(t, "家风家教")
	u := e.mustUser(t, "oMP_sub", "", 0, 0)
	ctx := context.Background()
	if _, err := e.svc.Subscribe(ctx, u.ID, c.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Subscribe(course without lessons) = %v, want 404", err)
	}
	e.mustPublish(t, e.mustLesson(t, c.ID, "第一课").ID)
	for range 2 {
		if tpl, err := e.svc.Subscribe(ctx, u.ID, c.ID); err != nil || tpl != mpTemplate {
			t.Errorf("Subscribe() = %q, %v", tpl, err)
		}
	}
	items, _, err := e.svc.VisibleCourses(ctx, u.ID, "", model.Page{})
	if err != nil || len(items) != 1 || !items[0].Subscribed || items[0].Course.Subscribers != 1 {
		t.Errorf("VisibleCourses() = %+v, %v", items, err)
	}
	if _, _, err := e.svc.VisibleCourses(ctx, u.ID, "nope", model.Page{}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("VisibleCourses(bad audience) = %v", err)
	}
	for range 2 {
		if err := e.svc.Unsubscribe(ctx, u.ID, c.ID); err != nil {
			t.Errorf("Unsubscribe() = %v", err)
		}
	}
	if err := e.svc.Unsubscribe(ctx, u.ID, 999); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Unsubscribe(unknown course) = %v, want 404", err)
	}
	if v, _ := e.svc.CourseFor(ctx, u.ID, c.ID); v.Subscribed {
		t.Error("still subscribed after Unsubscribe")
	}
}

// TestFigures: the staff course answer, the push report and the figures
// of the period count subscribers, notices, consent, opens and completions.
func TestFigures(t *testing.T) {
	e := mustEnv(t, envOptions{})
	ctx := context.Background()
	c := e.mustCourse(t, "科学育儿")
	reader := e.mustUser(t, "oMP_reader", "", c.ID, 1)
	e.mustUser(t, "oMP_silent", "", c.ID, 1)
	e.mustUser(t, "oMP_noconsent", "", c.ID, 0)
	l1 := e.mustPublish(t, e.mustLesson(t, c.ID, "第一课").ID)
	early := e.mustUser(t, "oMP_early", "", 0, 0)
	if _, err := e.svc.LessonFor(ctx, early.ID, l1.ID); err != nil { // not notified: no open counted
		t.Fatal(err)
	}
	e.deliverAll(t)
	if _, err := e.svc.LessonFor(ctx, reader.ID, l1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.LessonFor(ctx, reader.ID, l1.ID); err != nil { // twice: one open
		t.Fatal(err)
	}
	if _, err := e.svc.SaveProgress(ctx, reader.ID, l1.ID, lessons.ProgressInput{PositionS: 600, Completed: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SaveProgress(ctx, early.ID, l1.ID, lessons.ProgressInput{PositionS: 60}); err != nil {
		t.Fatal(err)
	}
	e.mustLesson(t, c.ID, "草稿")

	r, err := e.svc.CourseReport(editor(), c.ID)
	if err != nil || len(r.Lessons) != 2 {
		t.Fatalf("CourseReport() = %+v, %v", r, err)
	}
	lr := r.Lessons[0]
	if lr.Push.Targets != 3 || lr.Push.Sent != 2 || lr.Push.NoConsent != 1 || lr.Push.Read != 1 || !lr.PushDone ||
		lr.Stats != (model.LessonStats{Started: 2, Completed: 1}) || lr.Completion != 0.5 || lr.Lesson.Body != "" {
		t.Errorf("lesson figures = %+v", lr)
	}
	if r.Course.Subscribers != 3 || r.Learners != 2 || r.Finished != 1 || r.CompletionRate != 0.5 {
		t.Errorf("course figures = subscribers %d, learners %d, finished %d, rate %v", r.Course.Subscribers, r.Learners, r.Finished, r.CompletionRate)
	}
	if r.Lessons[1].Push.Targets != 0 || r.Lessons[1].PushDone {
		t.Errorf("draft figures = %+v", r.Lessons[1])
	}
	if _, err := e.svc.PushReport(editor(), 999); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("PushReport(not a lesson's push) = %v, want 404", err)
	}

	sec, err := e.svc.FigureSection(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || sec.Area != "lessons" {
		t.Fatalf("FigureSection() = %+v, %v", sec, err)
	}
	for key, want := range map[string]float64{model.FigLessonReach: 2, lessons.FigLessonOpened: 1, model.FigLessonCompleted: 0} {
		// Completions and publishes are dated by the lessons' clock (March 8).
		if f, ok := sec.Get(key); !ok || f.Value != want || f.Definition == "" || f.Name == "" {
			t.Errorf("figure %s = %+v, %v, want %v with a definition", key, f, ok, want)
		}
	}
	sec, err = e.svc.FigureSection(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{model.FigLessonsPublished: 1, model.FigLessonCompleted: 1, lessons.FigLessonSubscriptions: 3} {
		if f, ok := sec.Get(key); !ok || f.Value != want || f.Definition == "" {
			t.Errorf("figure %s on March 8 = %+v, %v, want %v", key, f, ok, want)
		}
	}
	if _, err := e.svc.FigureSection(ctx, t0, t0); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("FigureSection(empty period) = %v", err)
	}
}

func TestReply(t *testing.T) {
	e := mustEnv(t, envOptions{})
	if r, err := e.svc.Reply(context.Background()); r != nil || err != nil {
		t.Errorf("Reply() with no lessons = %+v, %v, want nil", r, err)
	}
	c := e.mustCourse(t, "亲子沟通")
	for i := range 4 {
		l := e.mustPublish(t, e.mustLesson(t, c.ID, fmt.Sprintf("第%d课", i+1)).ID)
		_ = l
		e.clock.Add(time.Minute)
	}
	r, err := e.svc.Reply(context.Background())
	if err != nil || r == nil || r.Kind != model.ReplyText {
		t.Fatalf("Reply() = %+v, %v", r, err)
	}
	if !strings.Contains(r.Text, "《第4课》（亲子沟通，视频）") || strings.Contains(r.Text, "第1课") || strings.Count(r.Text, "·") != 3 {
		t.Errorf("Reply() text = %q, want the three latest lessons", r.Text)
	}
}
