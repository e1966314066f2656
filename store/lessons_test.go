package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

var lessonT0 = time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)

func mustCourse(tb testing.TB, ls *store.Lessons, title string, sort int) model.Course {
	tb.Helper()
	c, err := ls.CreateCourse(context.Background(), model.Course{Title: title, Intro: "家长必修", Audience: model.AudiencePreschool,
		Sort: sort, CreatedBy: 1})
	if err != nil {
		tb.Fatalf("CreateCourse() = %v", err)
	}
	return c
}

func mustLesson(tb testing.TB, ls *store.Lessons, courseID int64, seq int, status model.LessonStatus) model.Lesson {
	tb.Helper()
	l := model.Lesson{CourseID: courseID, Title: "亲子沟通的三个技巧", Kind: model.LessonVideo, URL: "https://v.example.cn/1.mp4",
		DurationS: 600, Seq: seq, Status: status, CreatedBy: 1}
	switch status {
	case model.LessonScheduled:
		l.PublishAt = lessonT0
	case model.LessonPublished:
		l.Status = model.LessonDraft // then published below
	}
	got, err := ls.CreateLesson(context.Background(), l)
	if err != nil {
		tb.Fatalf("CreateLesson() = %v", err)
	}
	if status == model.LessonPublished {
		if got, _, err = ls.MarkPublished(context.Background(), got.ID, lessonT0); err != nil {
			tb.Fatal(err)
		}
	}
	return got
}

func TestCoursesAndLessons(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ls := store.NewLessons(db)
		ctx := context.Background()
		a := mustCourse(t, ls, "幼小衔接", 2)
		b := mustCourse(t, ls, "青春期沟通", 1)
		c := mustCourse(t, ls, "隔代教育", 1)
		if _, err := ls.CreateLesson(ctx, model.Lesson{CourseID: 999, Title: "x", Kind: model.LessonArticle}); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("CreateLesson(no course) = %v, want ErrNotFound", err)
		}
		mustLesson(t, ls, a.ID, 2, model.LessonPublished)
		first := mustLesson(t, ls, a.ID, 1, model.LessonDraft)
		mustLesson(t, ls, c.ID, 1, model.LessonScheduled)

		// Staff see every course by (sort, id), in pages.
		p1, next, err := ls.ListCourses(ctx, "", false, model.Page{Limit: 2})
		if err != nil || len(p1) != 2 || p1[0].ID != b.ID || p1[1].ID != c.ID || next == "" {
			t.Fatalf("ListCourses(page 1) = %+v, %q, %v", p1, next, err)
		}
		p2, next, err := ls.ListCourses(ctx, "", false, model.Page{Limit: 2, Cursor: next})
		if err != nil || len(p2) != 1 || p2[0].ID != a.ID || next != "" || p2[0].PublishedLessons != 1 {
			t.Fatalf("ListCourses(page 2) = %+v, %q, %v", p2, next, err)
		}
		if _, _, err := ls.ListCourses(ctx, "", false, model.Page{Cursor: "bm90IGEgY3Vyc29y"}); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("ListCourses(bad cursor) = %v, want ErrInvalid", err)
		}
		// Users see courses with a published lesson only.
		vis, _, err := ls.ListCourses(ctx, model.AudiencePreschool, true, model.Page{})
		if err != nil || len(vis) != 1 || vis[0].ID != a.ID {
			t.Errorf("ListCourses(visible) = %+v, %v, want only %d", vis, err, a.ID)
		}
		if other, _, err := ls.ListCourses(ctx, model.AudienceSecondary, false, model.Page{}); err != nil || len(other) != 0 {
			t.Errorf("ListCourses(secondary) = %+v, %v, want none", other, err)
		}

		lessons, err := ls.LessonsOfCourse(ctx, a.ID, false)
		if err != nil || len(lessons) != 2 || lessons[0].ID != first.ID {
			t.Errorf("LessonsOfCourse(all) = %+v, %v, want by seq", lessons, err)
		}
		pub, err := ls.LessonsOfCourse(ctx, a.ID, true)
		if err != nil || len(pub) != 1 || pub[0].Status != model.LessonPublished || !pub[0].PublishedAt.Equal(lessonT0) {
			t.Errorf("LessonsOfCourse(published) = %+v, %v", pub, err)
		}

		// An edit of a published lesson keeps it published.
		edit := pub[0]
		edit.Title, edit.Status, edit.PublishAt = "新标题", model.LessonDraft, time.Time{}
		got, err := ls.UpdateLesson(ctx, edit)
		if err != nil || got.Title != "新标题" || got.Status != model.LessonPublished {
			t.Errorf("UpdateLesson(published → draft) = %+v, %v, want the title changed and still published", got, err)
		}
		first.Status, first.PublishAt = model.LessonScheduled, lessonT0.Add(time.Hour)
		if got, err := ls.UpdateLesson(ctx, first); err != nil || got.Status != model.LessonScheduled || !got.PublishAt.Equal(first.PublishAt) {
			t.Errorf("UpdateLesson(schedule) = %+v, %v", got, err)
		}
		if _, err := ls.LessonByID(ctx, 12345); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("LessonByID(missing) = %v, want ErrNotFound", err)
		}
		b.Title, b.Audience, b.Sort = "青春期", model.AudienceSecondary, 9
		if got, err := ls.UpdateCourse(ctx, b); err != nil || got.Title != "青春期" || got.Sort != 9 {
			t.Errorf("UpdateCourse() = %+v, %v", got, err)
		}
		latest, err := ls.LatestLessons(ctx, 5)
		if err != nil || len(latest) != 1 || latest[0].Body != "" {
			t.Errorf("LatestLessons() = %+v, %v, want the published one without body", latest, err)
		}
	})
}

// TestPublishOnce: many concurrent publishers of one scheduled lesson
// (copies of the service, a staff click) publish it exactly once.
func TestPublishOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ls := store.NewLessons(db)
		ctx := context.Background()
		c := mustCourse(t, ls, "幼小衔接", 1)
		l := mustLesson(t, ls, c.ID, 1, model.LessonScheduled)
		mustLesson(t, ls, c.ID, 2, model.LessonDraft)
		if ids, err := ls.DueLessons(ctx, lessonT0.Add(-time.Second), 10); err != nil || len(ids) != 0 {
			t.Errorf("DueLessons(before) = %v, %v", ids, err)
		}
		if ids, err := ls.DueLessons(ctx, lessonT0, 10); err != nil || !slices.Equal(ids, []int64{l.ID}) {
			t.Errorf("DueLessons(at) = %v, %v, want [%d]", ids, err, l.ID)
		}
		var wins sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range 8 {
			wins.Go(func() {
				_, ok, err := ls.MarkPublished(ctx, l.ID, lessonT0)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wins.Wait()
		if won != 1 {
			t.Errorf("publishers that won = %d, want 1", won)
		}
		if ids, err := ls.DueLessons(ctx, lessonT0.Add(time.Hour), 10); err != nil || len(ids) != 0 {
			t.Errorf("DueLessons(after) = %v, %v, want none", ids, err)
		}
		if _, _, err := ls.MarkPublished(ctx, 999, lessonT0); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("MarkPublished(missing) = %v, want ErrNotFound", err)
		}
	})
}

// TestSubscribersAndPush: subscriptions are paged by keyset; the push
// records its cursor, forward only.
func TestSubscribersAndPush(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ls := store.NewLessons(db)
		ctx := context.Background()
		c := mustCourse(t, ls, "幼小衔接", 1)
		other := mustCourse(t, ls, "隔代教育", 2)
		for u := int64(1); u <= 25; u++ {
			if err := ls.Subscribe(ctx, c.ID, u, lessonT0); err != nil {
				t.Fatal(err)
			}
		}
		if err := ls.Subscribe(ctx, c.ID, 3, lessonT0); err != nil { // twice
			t.Fatal(err)
		}
		if err := ls.Subscribe(ctx, other.ID, 3, lessonT0); err != nil {
			t.Fatal(err)
		}
		if err := ls.Unsubscribe(ctx, c.ID, 4); err != nil {
			t.Fatal(err)
		}
		if err := ls.Unsubscribe(ctx, c.ID, 4); err != nil { // none left
			t.Fatal(err)
		}
		var users []int64
		after := int64(0)
		for {
			page, err := ls.Subscribers(ctx, c.ID, after, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, s := range page {
				users = append(users, s.UserID)
			}
			after = page[len(page)-1].ID
		}
		if len(users) != 24 || slices.Contains(users, 4) {
			t.Errorf("subscribers = %v, want users 1..25 but 4 once each", users)
		}
		got, err := ls.SubscribedTo(ctx, 3, []int64{c.ID, other.ID, 999})
		if err != nil || !got[c.ID] || !got[other.ID] || got[999] {
			t.Errorf("SubscribedTo() = %v, %v", got, err)
		}
		course, err := ls.CourseByID(ctx, c.ID)
		if err != nil || course.Subscribers != 24 {
			t.Errorf("CourseByID() subscribers = %d, %v, want 24", course.Subscribers, err)
		}

		l := mustLesson(t, ls, c.ID, 1, model.LessonPublished)
		lp, err := ls.StartPush(ctx, l, 77, lessonT0)
		if err != nil || lp.PushID != 77 || lp.Cursor != 0 || !lp.FinishedAt.IsZero() {
			t.Fatalf("StartPush() = %+v, %v", lp, err)
		}
		if again, err := ls.StartPush(ctx, l, 78, lessonT0); err != nil || again.PushID != 77 {
			t.Errorf("StartPush(again) = %+v, %v, want the first push kept", again, err)
		}
		if got, err := ls.LessonByPush(ctx, 77); err != nil || got.ID != l.ID || got.PushID != 77 {
			t.Errorf("LessonByPush() = %+v, %v", got, err)
		}
		if ok, err := ls.AdvancePush(ctx, l.ID, 10, lessonT0.Add(time.Second)); err != nil || !ok {
			t.Fatalf("AdvancePush() = %v, %v", ok, err)
		}
		if ok, err := ls.AdvancePush(ctx, l.ID, 5, lessonT0.Add(2*time.Second)); err != nil || !ok { // an older run
			t.Fatalf("AdvancePush(older) = %v, %v", ok, err)
		}
		if ok, err := ls.AdvancePush(ctx, l.ID, 5, lessonT0.Add(2*time.Second)); err != nil || !ok { // nothing changes
			t.Fatalf("AdvancePush(same) = %v, %v, want true (MySQL counts no changed row)", ok, err)
		}
		if lp, err := ls.LessonPush(ctx, l.ID); err != nil || lp.Cursor != 10 || !lp.UpdatedAt.Equal(lessonT0.Add(2*time.Second)) {
			t.Errorf("LessonPush() = %+v, %v, want cursor 10", lp, err)
		}
		if ids, err := ls.StalledPushes(ctx, lessonT0.Add(time.Minute), 10); err != nil || !slices.Equal(ids, []int64{l.ID}) {
			t.Errorf("StalledPushes() = %v, %v", ids, err)
		}
		if ids, err := ls.StalledPushes(ctx, lessonT0, 10); err != nil || len(ids) != 0 {
			t.Errorf("StalledPushes(moved since) = %v, %v, want none", ids, err)
		}
		if err := ls.FinishPush(ctx, l.ID, lessonT0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if ids, err := ls.StalledPushes(ctx, lessonT0.Add(time.Hour), 10); err != nil || len(ids) != 0 {
			t.Errorf("StalledPushes(finished) = %v, %v, want none", ids, err)
		}
		if ok, err := ls.AdvancePush(ctx, l.ID, 20, lessonT0.Add(time.Hour)); err != nil || ok {
			t.Errorf("AdvancePush(finished) = %v, %v, want false", ok, err)
		}
		if lp, err := ls.LessonPush(ctx, l.ID); err != nil || lp.Cursor != 10 {
			t.Errorf("LessonPush() after a finished advance = %+v, %v, want cursor 10", lp, err)
		}
	})
}

// TestProgressIdempotent: reporting the same progress twice leaves one
// row; a completion sticks with its first time; concurrent first reports
// make one row.
func TestProgressIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ls := store.NewLessons(db)
		ctx := context.Background()
		c := mustCourse(t, ls, "幼小衔接", 1)
		l1 := mustLesson(t, ls, c.ID, 1, model.LessonPublished)
		l2 := mustLesson(t, ls, c.ID, 2, model.LessonPublished)
		p := model.LessonProgress{LessonID: l1.ID, CourseID: c.ID, UserID: 7, PositionS: 120}
		for i := range 2 {
			got, err := ls.SaveProgress(ctx, p, lessonT0)
			if err != nil || got.PositionS != 120 || got.Completed {
				t.Fatalf("SaveProgress(#%d) = %+v, %v", i, got, err)
			}
		}
		p.PositionS, p.Completed = 600, true
		done, err := ls.SaveProgress(ctx, p, lessonT0.Add(time.Minute))
		if err != nil || !done.Completed || !done.CompletedAt.Equal(lessonT0.Add(time.Minute)) {
			t.Fatalf("SaveProgress(completed) = %+v, %v", done, err)
		}
		for _, tt := range []model.LessonProgress{
			{LessonID: l1.ID, CourseID: c.ID, UserID: 7, PositionS: 600, Completed: true}, // the same report again
			{LessonID: l1.ID, CourseID: c.ID, UserID: 7, PositionS: 30},                   // watching again
		} {
			got, err := ls.SaveProgress(ctx, tt, lessonT0.Add(time.Hour))
			if err != nil || !got.Completed || !got.CompletedAt.Equal(lessonT0.Add(time.Minute)) || got.PositionS != tt.PositionS {
				t.Errorf("SaveProgress(%+v) = %+v, %v, want still completed at the first time", tt, got, err)
			}
		}
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				if _, err := ls.SaveProgress(ctx, model.LessonProgress{LessonID: l2.ID, CourseID: c.ID, UserID: 8, PositionS: 5, Completed: true}, lessonT0); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if _, err := ls.SaveProgress(ctx, model.LessonProgress{LessonID: l1.ID, CourseID: c.ID, UserID: 8, PositionS: 9}, lessonT0); err != nil {
			t.Fatal(err)
		}
		stats, err := ls.LessonStatsOf(ctx, []int64{l1.ID, l2.ID})
		if err != nil || stats[l1.ID] != (model.LessonStats{Started: 2, Completed: 1}) || stats[l2.ID] != (model.LessonStats{Started: 1, Completed: 1}) {
			t.Errorf("LessonStatsOf() = %+v, %v", stats, err)
		}
		mine, err := ls.ProgressOf(ctx, 8, c.ID)
		if err != nil || len(mine) != 2 {
			t.Errorf("ProgressOf() = %+v, %v", mine, err)
		}
		learners, finished, err := ls.CourseCompletion(ctx, c.ID, []int64{l1.ID, l2.ID})
		if err != nil || learners != 2 || finished != 0 {
			t.Errorf("CourseCompletion() = %d, %d, %v, want 2 learners, none through", learners, finished, err)
		}
		if _, err := ls.SaveProgress(ctx, model.LessonProgress{LessonID: l2.ID, CourseID: c.ID, UserID: 7, Completed: true}, lessonT0); err != nil {
			t.Fatal(err)
		}
		if learners, finished, err = ls.CourseCompletion(ctx, c.ID, []int64{l1.ID, l2.ID}); err != nil || learners != 2 || finished != 1 {
			t.Errorf("CourseCompletion() = %d, %d, %v, want 2 learners, 1 through", learners, finished, err)
		}
	})
}

// TestLessonFigures counts a period's lessons, reach, opens, completions
// and subscriptions.
func TestLessonFigures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ls, ns := store.NewLessons(db), store.NewNotify(db)
		ctx := context.Background()
		c := mustCourse(t, ls, "幼小衔接", 1)
		l := mustLesson(t, ls, c.ID, 1, model.LessonPublished)
		art, err := ls.CreateLesson(ctx, model.Lesson{CourseID: c.ID, Title: "读", Kind: model.LessonArticle, Body: "<p>x</p>", Status: model.LessonDraft})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ls.MarkPublished(ctx, art.ID, lessonT0.AddDate(0, 1, 0)); err != nil { // next month
			t.Fatal(err)
		}
		push, _ := ns.CreatePush(ctx, model.Push{Title: "新课", Topic: "lesson_published"})
		other, _ := ns.CreatePush(ctx, model.Push{Title: "别的", Topic: "case_update"})
		if _, err := ls.StartPush(ctx, l, push.ID, lessonT0); err != nil {
			t.Fatal(err)
		}
		sentAt := time.Now().UTC().Truncate(time.Millisecond)
		for i, pid := range []int64{push.ID, push.ID, push.ID, other.ID} {
			d, _, err := ns.CreateDelivery(ctx, model.Delivery{PushID: pid, Topic: "lesson_published", DedupeKey: "f:" + string(rune('a'+i)),
				UserID: int64(i + 1), NotBefore: sentAt.Add(-time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if i == 2 {
				continue // still pending
			}
			if _, ok, err := ns.ClaimDelivery(ctx, d.ID, sentAt, sentAt.Add(time.Minute)); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if _, err := ns.FinishDelivery(ctx, d.ID, 1, model.DeliveryResult{Status: model.DeliverySent, Channel: model.ChannelMPSubscribe, At: sentAt}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ns.MarkDeliveryRead(ctx, "f:a", sentAt.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := ls.SaveProgress(ctx, model.LessonProgress{LessonID: l.ID, CourseID: c.ID, UserID: 1, Completed: true}, lessonT0); err != nil {
			t.Fatal(err)
		}
		if err := ls.Subscribe(ctx, c.ID, 1, lessonT0); err != nil {
			t.Fatal(err)
		}
		f, err := ls.Figures(ctx, lessonT0.Add(-time.Hour), lessonT0.AddDate(0, 0, 1))
		if err != nil || f.Published != 1 || f.PublishedKinds["video"] != 1 || f.Completed != 1 || f.NewSubscribers != 1 {
			t.Errorf("Figures(March 8) = %+v, %v", f, err)
		}
		f, err = ls.Figures(ctx, sentAt.Add(-time.Hour), sentAt.Add(time.Hour))
		if err != nil || f.Reached != 2 || f.ReachedBy[model.ChannelMPSubscribe] != 2 || f.Opened != 1 {
			t.Errorf("Figures(now) = %+v, %v, want 2 reached (not the other push's), 1 opened", f, err)
		}
	})
}

// TestMigrateLessonsOnExistingDeliveries: step 0008 adds read_at and the
// feeder's index to a notify_deliveries table made before it.
func TestMigrateLessonsOnExistingDeliveries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ns := store.NewNotify(db)
		g := store.GormForTest(db)
		m := g.Migrator()
		if _, _, err := ns.CreateDelivery(ctx, model.Delivery{Topic: "lesson_published", DedupeKey: "old", UserID: 1}); err != nil {
			t.Fatal(err)
		}
		drop := "DROP INDEX ix_deliveries_feed"
		if db.Driver() == "mysql" {
			drop += " ON notify_deliveries"
		}
		if err := g.Exec(drop).Error; err != nil {
			t.Fatalf("drop index: %v", err)
		}
		if err := g.Exec("ALTER TABLE notify_deliveries DROP COLUMN read_at").Error; err != nil {
			t.Fatalf("drop column: %v", err)
		}
		if m.HasColumn("notify_deliveries", "read_at") || m.HasIndex("notify_deliveries", "ix_deliveries_feed") {
			t.Fatal("read_at or ix_deliveries_feed still there after dropping them")
		}
		if err := g.Exec("DELETE FROM schema_migrations WHERE id = ?", "0008_lessons").Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate() over deliveries without read_at = %v", err)
		}
		if !m.HasColumn("notify_deliveries", "read_at") || !m.HasIndex("notify_deliveries", "ix_deliveries_feed") {
			t.Error("read_at or ix_deliveries_feed missing after the migration")
		}
		if ok, err := ns.MarkDeliveryRead(ctx, "old", time.Now()); err != nil || ok {
			t.Errorf("MarkDeliveryRead(pending) = %v, %v", ok, err)
		}
	})
}
