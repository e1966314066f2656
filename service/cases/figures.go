package cases

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"wanjia/model"
)

var _ model.FigureSource = (*Service)(nil)

// The written definitions of the case figures.
const (
	defReceived = "统计期内新登记的维权案件数（小程序提交、12338热线和来访登记），按案件事件日志中的登记事件计，一件案件计1起。" +
		"按类别分列时以案件现在的类别为准：登记后工作人员更正过类别的，按最后一次更正后的类别计，更正在统计期后作出的也一样。"
	defContacts = "统计期内当事人与我们接触的人次：每件新登记的案件计1人次；工作人员登记的当事人来电、来访（呼入）每次计1人次；" +
		"当事人在小程序留言，每件案件每天最多计1人次，当天已有登记或来电来访的不重复计。"
	defClosed   = "统计期内登记的案件中，到统计期末处于“已结案”状态的案件数；结案后重新开启且期末前未再结案的不计。按类别分列同“接待维权”。"
	defRate     = "结案率 = 结案数 ÷ 接待维权数，二者均只计统计期内登记的案件，是否结案以统计期末的状态为准（按事件日志重算，不用计数器）。"
	defClosedIn = "统计期内有结案记录的案件数，不论案件在何时登记；同一案件期内多次结案计1起。"
	defFirstMed = "统计期内登记、且在期末前得到首次响应的案件，从登记到首次响应的自然时间（小时）的中位数；首次响应指工作人员首次受理、分派、变更状态、" +
		"答复当事人或登记与当事人的联系，热线和来访登记的案件以登记时为首次响应。"
	defCloseMed = "统计期内登记、且在期末前结案的案件，从登记到第一次结案的自然时间（天）的中位数。"
	defBreaches = "统计期内记录的时限超时次数：首次响应超过时限、结案超过时限各计1次（暂停等待当事人的时间不计入时限），同一案件同一时限每个办理周期最多计1次。"
)

// caseFacts is what the figures need of one case received in the period,
// replayed from its events.
type caseFacts struct {
	category   string
	month      string
	station    int64
	status     model.CaseStatus
	received   time.Time
	firstResp  time.Time
	firstClose time.Time
}

func monthKey(t time.Time) string { return "month:" + t.In(shanghai).Format("2006-01") }
func dayKey(t time.Time) string   { return t.In(shanghai).Format("2006-01-02") }

// FigureSection reports the 12338 figures of [from, to), computed from the
// event log only (model.FigureSource). It does not check roles: the
// callers (the staff workspace, Figures) do.
//
// Statuses are as of the end of the period; a case's category is its
// category now: the intake's, or the last correction (EventCategory)
// whenever it was made, even after the period — a correction says what
// the case was about from the start, so a year's figures by category
// change when staff correct one of its cases later.
func (s *Service) FigureSection(ctx context.Context, from, to time.Time) (model.FigureSection, error) {
	evs, err := s.store.ReceivedEvents(ctx, from, to, to)
	if err != nil {
		return model.FigureSection{}, fmt.Errorf("case figures: %w", err)
	}
	corrections, err := s.store.CategoryChanges(ctx, from, to)
	if err != nil {
		return model.FigureSection{}, fmt.Errorf("case figures: %w", err)
	}
	category := map[int64]string{} // the last correction of each case
	for _, e := range corrections {
		category[e.CaseID] = e.Meta["to"]
	}
	facts := map[int64]*caseFacts{}
	var order []int64
	for _, e := range evs {
		f := facts[e.CaseID]
		if f == nil {
			if e.Kind != model.EventIntake {
				continue // cannot happen: the intake is seq 1
			}
			f = &caseFacts{category: e.Meta["category"], month: monthKey(e.At), received: e.At}
			if c, ok := category[e.CaseID]; ok {
				f.category = c
			}
			facts[e.CaseID] = f
			order = append(order, e.CaseID)
		}
		f.station = e.StationID
		if e.ToStatus != "" {
			f.status = e.ToStatus
		}
		if f.firstResp.IsZero() && IsResponse(e) {
			f.firstResp = e.At
		}
		if f.firstClose.IsZero() && e.Kind == model.EventStatus && e.ToStatus == model.CaseClosed {
			f.firstClose = e.At
		}
	}

	received := model.Figure{Key: model.FigCasesReceived, Name: "接待维权", Unit: "起", Definition: defReceived, Breakdown: map[string]float64{}}
	closed := model.Figure{Key: model.FigCasesClosed, Name: "结案", Unit: "起", Definition: defClosed, Breakdown: map[string]float64{}}
	var firstHours, closeDays []float64
	noResponse := 0
	for _, id := range order {
		f := facts[id]
		keys := []string{"category:" + f.category, "station:" + strconv.FormatInt(f.station, 10), f.month}
		received.Value++
		for _, k := range keys {
			received.Breakdown[k]++
		}
		if f.status == model.CaseClosed {
			closed.Value++
			for _, k := range keys {
				closed.Breakdown[k]++
			}
		}
		if f.firstResp.IsZero() {
			noResponse++
		} else {
			firstHours = append(firstHours, f.firstResp.Sub(f.received).Hours())
		}
		if !f.firstClose.IsZero() {
			closeDays = append(closeDays, f.firstClose.Sub(f.received).Hours()/24)
		}
	}
	rate := model.Figure{Key: model.FigCaseClosureRate, Name: "结案率", Unit: "%", Definition: defRate, Breakdown: map[string]float64{}}
	if received.Value > 0 {
		rate.Value = round(closed.Value/received.Value, 4)
	}
	for k, n := range received.Breakdown {
		rate.Breakdown[k] = round(closed.Breakdown[k]/n, 4)
	}

	contacts, err := s.contacts(ctx, from, to)
	if err != nil {
		return model.FigureSection{}, err
	}
	closedIn, err := s.closedIn(ctx, from, to)
	if err != nil {
		return model.FigureSection{}, err
	}
	breaches, err := s.breaches(ctx, from, to)
	if err != nil {
		return model.FigureSection{}, err
	}
	firstMed := model.Figure{Key: model.FigCaseFirstResponseMedian, Name: "首次响应时间（中位数）", Unit: "小时",
		Definition: defFirstMed, Value: round(median(firstHours), 1),
		Breakdown: map[string]float64{"cases": float64(len(firstHours)), "no_response": float64(noResponse)}}
	closeMed := model.Figure{Key: model.FigCaseCloseMedian, Name: "结案时间（中位数）", Unit: "天", Definition: defCloseMed,
		Value: round(median(closeDays), 1), Breakdown: map[string]float64{"cases": float64(len(closeDays))}}
	return model.FigureSection{Area: "cases", Title: "12338维权", Figures: []model.Figure{
		received, contacts, closed, rate, closedIn, firstMed, closeMed, breaches,
	}}, nil
}

// contacts counts 人次 (see defContacts).
func (s *Service) contacts(ctx context.Context, from, to time.Time) (model.Figure, error) {
	evs, err := s.store.EventsBetween(ctx, []model.CaseEventKind{model.EventIntake, model.EventContact, model.EventMessage}, from, to)
	if err != nil {
		return model.Figure{}, fmt.Errorf("case contacts: %w", err)
	}
	f := model.Figure{Key: model.FigCaseContacts, Name: "接待人次", Unit: "人次", Definition: defContacts, Breakdown: map[string]float64{}}
	type caseDay struct {
		id  int64
		day string
	}
	counted := map[caseDay]bool{}
	count := func(e model.CaseEvent, source string) {
		f.Value++
		f.Breakdown["source:"+source]++
		f.Breakdown[monthKey(e.At)]++
	}
	for _, e := range evs { // first pass: intake and inbound contacts, each counted
		switch {
		case e.Kind == model.EventIntake:
			count(e, "intake")
		case e.Kind == model.EventContact && e.Meta["direction"] == "inbound":
			count(e, "inbound_"+e.Meta["channel"])
		default:
			continue
		}
		counted[caseDay{e.CaseID, dayKey(e.At)}] = true
	}
	for _, e := range evs { // then her messages: one a case and day not counted yet
		if e.Kind != model.EventMessage {
			continue
		}
		k := caseDay{e.CaseID, dayKey(e.At)}
		if counted[k] {
			continue
		}
		counted[k] = true
		count(e, "message_day")
	}
	return f, nil
}

// closedIn counts the cases closed in the period, whenever received.
func (s *Service) closedIn(ctx context.Context, from, to time.Time) (model.Figure, error) {
	evs, err := s.store.EventsBetween(ctx, []model.CaseEventKind{model.EventStatus}, from, to)
	if err != nil {
		return model.Figure{}, fmt.Errorf("case closures: %w", err)
	}
	f := model.Figure{Key: model.FigCasesClosedInPeriod, Name: "本期结案（含往期登记）", Unit: "起", Definition: defClosedIn,
		Breakdown: map[string]float64{}}
	seen := map[int64]bool{}
	for _, e := range evs {
		if e.ToStatus != model.CaseClosed || seen[e.CaseID] {
			continue
		}
		seen[e.CaseID] = true
		f.Value++
		f.Breakdown["station:"+strconv.FormatInt(e.StationID, 10)]++
		f.Breakdown["outcome:"+e.Meta["outcome"]]++
		f.Breakdown[monthKey(e.At)]++
	}
	return f, nil
}

// breaches counts the SLA breaches recorded in the period.
func (s *Service) breaches(ctx context.Context, from, to time.Time) (model.Figure, error) {
	evs, err := s.store.EventsBetween(ctx, []model.CaseEventKind{model.EventSLA}, from, to)
	if err != nil {
		return model.Figure{}, fmt.Errorf("case breaches: %w", err)
	}
	f := model.Figure{Key: model.FigCaseBreaches, Name: "超时", Unit: "次", Definition: defBreaches, Breakdown: map[string]float64{}}
	for _, e := range evs {
		if e.Meta["step"] != stepBreached {
			continue
		}
		f.Value++
		f.Breakdown["sla:"+e.Meta["sla"]]++
		f.Breakdown["station:"+strconv.FormatInt(e.StationID, 10)]++
		f.Breakdown[monthKey(e.At)]++
	}
	return f, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

// Figures returns the figures of [from, to) for caseworkers and admins.
func (s *Service) Figures(ctx context.Context, from, to time.Time) (model.FigureSection, error) {
	if _, err := requireCaseworker(ctx); err != nil {
		return model.FigureSection{}, err
	}
	if !to.After(from) {
		return model.FigureSection{}, model.Invalid(map[string]string{"to": "须晚于 from"})
	}
	if to.Sub(from) > 10*366*24*time.Hour {
		return model.FigureSection{}, model.Invalid(map[string]string{"from": "统计期不能超过十年"})
	}
	return s.FigureSection(ctx, from, to)
}
