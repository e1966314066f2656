// Package stats is the staff workspace's figures: it composes the figures
// each area reports (model.FigureSource) into the overview of a period and
// the annual report with its Chinese summary paragraph and .xlsx export.
// Each area owns its figures and their definitions; this package only
// gathers them, decides who may read them and writes the paragraph.
package stats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"wanjia/model"
)

// Auditor appends to the audit log (auth.Auth satisfies it).
type Auditor interface {
	Audit(ctx context.Context, action, targetType, targetID string, before, after any) error
}

// Deps are what New needs. Sources are read in order; an area that is not
// wired simply has no section (its sentence is left out of the summary).
type Deps struct {
	Sources  []model.FigureSource
	Audit    Auditor
	Logger   *slog.Logger
	Now      func() time.Time
	Location *time.Location // Asia/Shanghai (UTC+8) when nil
}

// Service composes the figures. It is safe for concurrent use.
type Service struct {
	sources []model.FigureSource
	audit   Auditor
	log     *slog.Logger
	now     func() time.Time
	loc     *time.Location
}

// New checks d and returns the service.
func New(d Deps) (*Service, error) {
	if d.Audit == nil {
		return nil, errors.New("stats: audit is required")
	}
	for i, src := range d.Sources {
		if src == nil {
			return nil, fmt.Errorf("stats: source %d is nil", i)
		}
	}
	s := &Service{sources: d.Sources, audit: d.Audit, log: d.Logger, now: d.Now, loc: d.Location}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		s.loc = time.FixedZone("CST", 8*3600)
	}
	return s, nil
}

// ReaderRoles may read the figures: they are aggregates without personal
// data, so every role but caseworker (whose scope is one station, while
// these figures cover the city) reads them.
var ReaderRoles = []model.Role{model.RoleAdmin, model.RoleEditor, model.RoleReviewer, model.RoleFairManager}

func requireReader(ctx context.Context) error {
	p, ok := model.StaffFrom(ctx)
	if !ok || !p.HasRole(ReaderRoles...) {
		return model.Errorf(model.ErrForbidden, "没有查看统计数据的权限")
	}
	return nil
}

// MaxSpan bounds an overview's period.
const MaxSpan = 3 * 366 * 24 * time.Hour

// FirstYear is the earliest year a report is made for.
const FirstYear = 2014

// Report is the figures of the period [From, To).
type Report struct {
	Year     int // annual reports only
	From, To time.Time
	Sections []model.FigureSection
	Summary  string // annual reports only
}

// Overview returns every area's figures of [from, to) (staff other than
// caseworkers). to must be after from, the span at most three years.
func (s *Service) Overview(ctx context.Context, from, to time.Time) (Report, error) {
	if err := requireReader(ctx); err != nil {
		return Report{}, err
	}
	switch {
	case !to.After(from):
		return Report{}, model.Invalid(map[string]string{"to": "结束日期不能早于开始日期"})
	case to.Sub(from) > MaxSpan:
		return Report{}, model.Invalid(map[string]string{"to": "查询跨度不能超过 3 年"})
	}
	secs, err := s.collect(ctx, from, to)
	if err != nil {
		return Report{}, err
	}
	return Report{From: from, To: to, Sections: secs}, nil
}

// collect reads every source; any failure fails the report (a report with
// an area silently missing would mislead).
func (s *Service) collect(ctx context.Context, from, to time.Time) ([]model.FigureSection, error) {
	out := make([]model.FigureSection, 0, len(s.sources))
	for _, src := range s.sources {
		sec, err := src.FigureSection(ctx, from, to)
		if err != nil {
			return nil, fmt.Errorf("figures: %w", err)
		}
		out = append(out, sec)
	}
	return out, nil
}

// yearBounds checks year and returns its first instant and the next
// year's, in the federation's zone.
func (s *Service) yearBounds(year int) (time.Time, time.Time, error) {
	if cur := s.now().In(s.loc).Year(); year < FirstYear || year > cur {
		return time.Time{}, time.Time{}, model.Invalid(map[string]string{"year": fmt.Sprintf("须为 %d–%d", FirstYear, cur)})
	}
	from := time.Date(year, 1, 1, 0, 0, 0, 0, s.loc)
	return from, from.AddDate(1, 0, 0), nil
}

// Annual returns the figures of year with the summary paragraph (staff
// other than caseworkers). The current year counts up to now.
func (s *Service) Annual(ctx context.Context, year int) (Report, error) {
	if err := requireReader(ctx); err != nil {
		return Report{}, err
	}
	from, to, err := s.yearBounds(year)
	if err != nil {
		return Report{}, err
	}
	secs, err := s.collect(ctx, from, to)
	if err != nil {
		return Report{}, err
	}
	return Report{Year: year, From: from, To: to, Sections: secs, Summary: Summary(year, secs)}, nil
}

// AnnualXLSX returns the annual report as an .xlsx workbook and its file
// name (audited: report.export).
func (s *Service) AnnualXLSX(ctx context.Context, year int) ([]byte, string, error) {
	r, err := s.Annual(ctx, year)
	if err != nil {
		return nil, "", err
	}
	b, err := workbook(r)
	if err != nil {
		return nil, "", fmt.Errorf("annual report: %w", err)
	}
	if err := s.audit.Audit(ctx, "report.export", "annual_report", strconv.Itoa(year), nil,
		map[string]any{"year": year, "format": "xlsx"}); err != nil {
		return nil, "", fmt.Errorf("annual report: audit: %w", err)
	}
	return b, fmt.Sprintf("annual-report-%d.xlsx", year), nil
}

// workbook writes the report: one row per figure with its definition, then
// the summary paragraph.
func workbook(r Report) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "年度数据"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, err
	}
	rows := [][]any{{fmt.Sprintf("%d年度工作数据", r.Year)}, {"板块", "指标", "数值", "单位", "统计口径"}}
	for _, sec := range r.Sections {
		for _, fg := range sec.Figures {
			v := fg.Value
			if fg.Unit == "%" {
				v = math.Round(v*1000) / 10
			}
			rows = append(rows, []any{sec.Title, fg.Name, v, fg.Unit, fg.Definition})
		}
	}
	rows = append(rows, []any{}, []any{"综述"}, []any{r.Summary})
	for i, row := range rows {
		cell, err := excelize.CoordinatesToCellName(1, i+1)
		if err != nil {
			return nil, err
		}
		if err := f.SetSheetRow(sheet, cell, &row); err != nil {
			return nil, err
		}
	}
	for col, w := range map[string]float64{"A": 14, "B": 16, "C": 12, "D": 8, "E": 60} {
		if err := f.SetColWidth(sheet, col, col, w); err != nil {
			return nil, err
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// --- the summary paragraph ---

// figureIndex finds figures by key across sections.
type figureIndex map[string]model.Figure

func index(secs []model.FigureSection) figureIndex {
	ix := figureIndex{}
	for _, s := range secs {
		for _, f := range s.Figures {
			ix[f.Key] = f
		}
	}
	return ix
}

// count returns a whole-number figure and whether it is there.
func (ix figureIndex) count(key string) (int64, bool) {
	f, ok := ix[key]
	if !ok {
		return 0, false
	}
	return int64(math.Round(f.Value)), true
}

// Amount writes a count the way the federation's reports do: exactly below
// 100,000 ("501", "54321"); from 100,000 on in 万 (ten thousands), rounded
// down, with 余 ("more than") when something was cut ("26万余" for 263,456;
// "30万" for 300,000); from 10^8 on in 亿 likewise.
func Amount(n int64) string {
	switch {
	case n >= 100_000_000:
		return cut(n, 100_000_000, "亿")
	case n >= 100_000:
		return cut(n, 10_000, "万")
	}
	return strconv.FormatInt(n, 10)
}

func cut(n, unit int64, name string) string {
	s := strconv.FormatInt(n/unit, 10) + name
	if n%unit != 0 {
		s += "余"
	}
	return s
}

// Percent writes a rate 0..1 as a whole percentage, rounded half up, except
// that a rate below 1 never shows as 100% ("结案率达100%" only when every
// case was closed).
func Percent(rate float64) string {
	p := int(math.Floor(rate*100 + 0.5))
	if p >= 100 && rate < 1 {
		p = 99
	}
	return strconv.Itoa(max(p, 0)) + "%"
}

// Summary writes the year's paragraph in the federation's style from
// whatever sections are there: one sentence per area whose main figure is
// present and not zero, in the order 关注, 最美家庭, 微课堂, 招聘会, 12338,
// 宣传. A missing area, or a missing secondary figure, leaves its sentence
// or clause out.
func Summary(year int, secs []model.FigureSection) string {
	ix := index(secs)
	var sentences []string
	add := func(s string) {
		if s != "" {
			sentences = append(sentences, s)
		}
	}
	add(followersSentence(ix))
	add(campaignsSentence(ix))
	add(lessonsSentence(ix))
	add(fairsSentence(ix))
	add(casesSentence(ix))
	add(articlesSentence(ix))
	if len(sentences) == 0 {
		return fmt.Sprintf("%d年暂无统计数据。", year)
	}
	return fmt.Sprintf("%d年，", year) + strings.Join(sentences, "；") + "。"
}

// clauses joins a main clause with the optional ones that are there.
func clauses(main string, rest ...string) string {
	out := main
	for _, r := range rest {
		if r != "" {
			out += "，" + r
		}
	}
	return out
}

func (ix figureIndex) clause(key, format string) string {
	n, ok := ix.count(key)
	if !ok {
		return ""
	}
	return fmt.Sprintf(format, Amount(n))
}

func followersSentence(ix figureIndex) string {
	g, ok := ix.count(model.FigFollowersGained)
	if !ok || g == 0 {
		return ""
	}
	return clauses("公众号新增关注"+Amount(g)+"人", ix.clause(model.FigFollowersLost, "取消关注%s人"))
}

func campaignsSentence(ix figureIndex) string {
	n, ok := ix.count(model.FigNominations)
	if !ok || n == 0 {
		return ""
	}
	return clauses("“最美家庭”寻找活动共收到推荐"+Amount(n)+"户",
		ix.clause(model.FigVotes, "群众投票%s票"), ix.clause(model.FigAwards, "评选出最美家庭%s户"))
}

func lessonsSentence(ix figureIndex) string {
	n, ok := ix.count(model.FigLessonsPublished)
	if !ok || n == 0 {
		return ""
	}
	return clauses("“心系妇儿 空中微课堂”发布家庭教育微课"+Amount(n)+"期",
		ix.clause(model.FigLessonReach, "推送覆盖家庭%s人次"), ix.clause(model.FigLessonCompleted, "完成学习%s人次"))
}

func fairsSentence(ix figureIndex) string {
	n, ok := ix.count(model.FigFairsHeld)
	if !ok || n == 0 {
		return ""
	}
	return clauses("举办女性专场招聘会"+Amount(n)+"场", ix.clause(model.FigSignups, "报名%s人次"),
		ix.clause(model.FigAttendance, "到场%s人次"), ix.clause(model.FigPlacements, "达成就业意向%s人"))
}

func casesSentence(ix figureIndex) string {
	n, ok := ix.count(model.FigCasesReceived)
	if !ok || n == 0 {
		return ""
	}
	main := "全年接待群众维权" + Amount(n) + "起"
	if c, ok := ix.count(model.FigCaseContacts); ok && c > 0 {
		main += Amount(c) + "人次"
	}
	rate := ""
	if f, ok := ix[model.FigCaseClosureRate]; ok {
		rate = "结案率达" + Percent(f.Value)
	}
	return clauses(main, rate)
}

func articlesSentence(ix figureIndex) string {
	n, ok := ix.count(model.FigArticles)
	if !ok || n == 0 {
		return ""
	}
	reads := ""
	if r, ok := ix.count(model.FigArticleReads); ok && r > 0 {
		reads = "阅读量达" + Amount(r) + "人次"
	}
	return clauses("公众号推送文章"+Amount(n)+"篇", reads)
}
