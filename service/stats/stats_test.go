package stats_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/stats"
)

// fakeSource reports fixed figures and remembers the period asked for.
type fakeSource struct {
	sec      model.FigureSection
	err      error
	from, to time.Time
}

func (f *fakeSource) FigureSection(_ context.Context, from, to time.Time) (model.FigureSection, error) {
	f.from, f.to = from, to
	return f.sec, f.err
}

func section(area string, kv ...any) model.FigureSection {
	s := model.FigureSection{Area: area, Title: area}
	for i := 0; i < len(kv); i += 2 {
		unit := "个"
		if kv[i] == model.FigCaseClosureRate {
			unit = "%"
		}
		s.Figures = append(s.Figures, model.Figure{Key: kv[i].(string), Name: kv[i].(string), Value: kv[i+1].(float64), Unit: unit})
	}
	return s
}

// seeded are the figures of a year as the areas would report them.
func seeded() []model.FigureSource {
	return []model.FigureSource{
		&fakeSource{sec: section("followers", model.FigFollowersGained, 12034.0, model.FigFollowersLost, 803.0)},
		&fakeSource{sec: section("campaigns", model.FigNominations, 1260.0, model.FigVotes, 358210.0, model.FigAwards, 100.0)},
		&fakeSource{sec: section("lessons", model.FigLessonsPublished, 48.0, model.FigLessonReach, 152000.0)},
		&fakeSource{sec: section("fairs", model.FigFairsHeld, 6.0, model.FigSignups, 2310.0, model.FigAttendance, 1984.0,
			model.FigPlacements, 412.0)},
		&fakeSource{sec: section("cases", model.FigCasesReceived, 501.0, model.FigCaseContacts, 540.0,
			model.FigCasesClosed, 491.0, model.FigCaseClosureRate, 491.0/501.0)},
		&fakeSource{sec: section("articles", model.FigArticles, 326.0, model.FigArticleReads, 263456.0)},
	}
}

var cst = time.FixedZone("CST", 8*3600)

func mustStats(tb testing.TB, srcs []model.FigureSource) (*stats.Service, *testutil.Audit) {
	tb.Helper()
	a := &testutil.Audit{}
	s, err := stats.New(stats.Deps{Sources: srcs, Audit: a, Now: func() time.Time { return time.Date(2026, 5, 1, 10, 0, 0, 0, cst) }})
	if err != nil {
		tb.Fatal(err)
	}
	return s, a
}

func staff(roles ...model.Role) context.Context {
	return model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 7, Roles: roles})
}

func TestAnnualSummary(t *testing.T) {
	srcs := seeded()
	s, _ := mustStats(t, srcs)
	r, err := s.Annual(staff(model.RoleEditor), 2025)
	if err != nil {
		t.Fatal(err)
	}
	want := "2025年，公众号新增关注12034人，取消关注803人；“最美家庭”寻找活动共收到推荐1260户，群众投票35万余票，评选出最美家庭100户；" +
		"“心系妇儿 空中微课堂”发布家庭教育微课48期，推送覆盖家庭15万余人次；" +
		"举办女性专场招聘会6场，报名2310人次，到场1984人次，达成就业意向412人；" +
		"全年接待群众维权501起540人次，结案率达98%；公众号推送文章326篇，阅读量达26万余人次。"
	if r.Summary != want {
		t.Errorf("Summary =\n%s\nwant\n%s", r.Summary, want)
	}
	src := srcs[4].(*fakeSource)
	if !src.from.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, cst)) || !src.to.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, cst)) {
		t.Errorf("period asked = [%v, %v), want the year 2025 in Shanghai", src.from, src.to)
	}
	if len(r.Sections) != 6 {
		t.Errorf("sections = %d, want 6", len(r.Sections))
	}
}

func TestSummaryWithMissingSections(t *testing.T) {
	tests := []struct {
		name string
		secs []model.FigureSection
		want string
	}{
		{"cases only", []model.FigureSection{section("cases", model.FigCasesReceived, 501.0, model.FigCaseContacts, 540.0,
			model.FigCaseClosureRate, 0.98)}, "2025年，全年接待群众维权501起540人次，结案率达98%。"},
		{"no contacts nor rate", []model.FigureSection{section("cases", model.FigCasesReceived, 12.0)}, "2025年，全年接待群众维权12起。"},
		{"zero fairs left out", []model.FigureSection{section("fairs", model.FigFairsHeld, 0.0),
			section("articles", model.FigArticles, 3.0)}, "2025年，公众号推送文章3篇。"},
		{"nothing", nil, "2025年暂无统计数据。"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stats.Summary(2025, tt.secs); got != tt.want {
				t.Errorf("Summary() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAmountAndPercent(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0"}, {501, "501"}, {99999, "99999"}, {100000, "10万"}, {263456, "26万余"}, {300000, "30万"},
		{123456789, "1亿余"}, {200000000, "2亿"}} {
		if got := stats.Amount(tt.n); got != tt.want {
			t.Errorf("Amount(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	for _, tt := range []struct {
		rate float64
		want string
	}{{491.0 / 501.0, "98%"}, {0.985, "99%"}, {0.9951, "99%"}, {1, "100%"}, {0, "0%"}, {0.004, "0%"}, {0.005, "1%"}} {
		if got := stats.Percent(tt.rate); got != tt.want {
			t.Errorf("Percent(%v) = %q, want %q", tt.rate, got, tt.want)
		}
	}
}

func TestAccessAndBounds(t *testing.T) {
	s, _ := mustStats(t, seeded())
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, cst)
	for _, role := range []model.Role{model.RoleAdmin, model.RoleEditor, model.RoleReviewer, model.RoleFairManager} {
		if _, err := s.Overview(staff(role), from, from.AddDate(0, 1, 0)); err != nil {
			t.Errorf("Overview(%s) = %v", role, err)
		}
	}
	if _, err := s.Overview(staff(model.RoleCaseworker), from, from.AddDate(0, 1, 0)); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("Overview(caseworker) = %v, want forbidden", err)
	}
	if _, err := s.Overview(context.Background(), from, from.AddDate(0, 1, 0)); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("Overview(nobody) = %v, want forbidden", err)
	}
	if _, err := s.Overview(staff(model.RoleAdmin), from, from); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("Overview(empty period) = %v, want invalid", err)
	}
	if _, err := s.Overview(staff(model.RoleAdmin), from, from.AddDate(4, 0, 0)); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("Overview(4 years) = %v, want invalid", err)
	}
	for _, y := range []int{2013, 2027, 0} {
		if _, err := s.Annual(staff(model.RoleAdmin), y); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("Annual(%d) = %v, want invalid", y, err)
		}
	}
	failing, _ := mustStats(t, []model.FigureSource{&fakeSource{err: errors.New("db down")}})
	if _, err := failing.Annual(staff(model.RoleAdmin), 2025); err == nil {
		t.Error("Annual(failing source) = nil, want the error")
	}
}

func TestAnnualXLSX(t *testing.T) {
	s, a := mustStats(t, seeded())
	b, name, err := s.AnnualXLSX(staff(model.RoleAdmin), 2025)
	if err != nil || name != "annual-report-2025.xlsx" {
		t.Fatalf("AnnualXLSX() = %s, %v", name, err)
	}
	x, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	rows, err := x.GetRows("年度数据")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows {
		if len(r) >= 4 && r[1] == model.FigCaseClosureRate && r[2] == "98" && r[3] == "%" {
			found = true
		}
	}
	if !found {
		t.Errorf("rows = %v, want the closure rate as 98 %%", rows)
	}
	if last := rows[len(rows)-1]; len(last) != 1 || last[0] == "" {
		t.Errorf("last row = %v, want the summary", last)
	}
	if len(a.Actions()) != 1 || a.Actions()[0] != "report.export" {
		t.Errorf("audit = %v, want report.export", a.Actions())
	}
}
