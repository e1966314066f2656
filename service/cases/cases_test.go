package cases_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/cases"
)

func TestIntakeValidation(t *testing.T) {
	ok := intake(model.CaseDomesticViolence, false)
	tests := []struct {
		name  string
		edit  func(in *cases.IntakeInput)
		field string // "" for valid
	}{
		{"valid", func(*cases.IntakeInput) {}, ""},
		{"anonymous without name and phone", func(in *cases.IntakeInput) { in.Anonymous, in.Name, in.Phone = true, "", "" }, ""},
		{"unknown category", func(in *cases.IntakeInput) { in.Category = "divorce" }, "category"},
		{"empty description", func(in *cases.IntakeInput) { in.Description = "  " }, "description"},
		{"description too long", func(in *cases.IntakeInput) { in.Description = strings.Repeat("打", 5001) }, "description"},
		{"control characters", func(in *cases.IntakeInput) { in.Description = "救命\x00救命救命" }, "description"},
		{"invalid UTF-8", func(in *cases.IntakeInput) { in.Description = "救命\xff救命救命" }, "description"},
		{"no name", func(in *cases.IntakeInput) { in.Name = "" }, "name"},
		{"no phone", func(in *cases.IntakeInput) { in.Phone = "" }, "phone"},
		{"bad phone", func(in *cases.IntakeInput) { in.Phone = "call me" }, "phone"},
		{"district with comma", func(in *cases.IntakeInput) { in.District = "朝阳区,海淀区" }, "district"},
		{"unknown contact mode", func(in *cases.IntakeInput) { in.Contact = &model.ContactPrefs{Mode: "sms"} }, "contact.mode"},
		{"window without hours", func(in *cases.IntakeInput) { in.Contact = &model.ContactPrefs{Mode: model.ContactWindow} }, "contact.from"},
		{"window", func(in *cases.IntakeInput) {
			in.Contact = &model.ContactPrefs{Mode: model.ContactWindow, From: "19:00", To: "21:00"}
		}, ""},
		{"hours outside window mode", func(in *cases.IntakeInput) {
			in.Contact = &model.ContactPrefs{Mode: model.ContactNone, From: "19:00", To: "21:00"}
		}, "contact.from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			tt.edit(&in)
			bad := in.Valid()
			if tt.field == "" && bad != nil || tt.field != "" && bad[tt.field] == "" {
				t.Errorf("Valid() = %v, want a problem with %q", bad, tt.field)
			}
		})
	}
}

func TestSubmitMP(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	res, err := e.svc.SubmitMP(ctx, 42, intake(model.CaseDomesticViolence, false))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Case
	if !model.ValidCaseNo(c.CaseNo) || c.Status != model.CaseReceived || c.UserID != 42 || res.Emergency != nil {
		t.Errorf("SubmitMP() = %+v, %+v", c, res.Emergency)
	}
	// Due: 24 working hours from Monday 10:00 is Thursday 10:00; 30 days.
	if want := time.Date(2026, 3, 12, 10, 0, 0, 0, sh); !c.FirstResponseDue.Equal(want) {
		t.Errorf("FirstResponseDue = %v, want %v", c.FirstResponseDue.In(sh), want)
	}
	if want := t0.AddDate(0, 0, 30); !c.CloseDue.Equal(want) {
		t.Errorf("CloseDue = %v, want %v", c.CloseDue.In(sh), want)
	}
	// Not in danger: the on-duty staff learn of it, without a word of it.
	got := e.notes.Take()
	if len(got) != 1 || got[0].To.StaffID != e.duty || got[0].Notice.Topic != cases.TopicCaseUpdate || got[0].Notice.Urgent {
		t.Fatalf("notices = %+v, want one console alert to the on-duty staff", got)
	}
	for _, v := range got[0].Notice.Fields {
		if strings.Contains(v, "殴打") || strings.Contains(v, herName) || strings.Contains(v, "家庭暴力") {
			t.Errorf("alert field %q carries her story", v)
		}
	}
	// Two numbers are never alike.
	other := e.mustSubmit(t, 42, intake(model.CaseEmployment, false))
	if other.CaseNo == c.CaseNo || other.CaseNo[:10] != c.CaseNo[:10] {
		t.Errorf("case numbers %s and %s", c.CaseNo, other.CaseNo)
	}
}

func TestSubmitMPRateLimit(t *testing.T) {
	e := mustEnv(t)
	for i := range cases.DefaultIntakePerDay {
		e.mustSubmit(t, 5, intake(model.CaseOther, false))
		e.clock.Add(time.Minute)
		_ = i
	}
	_, err := e.svc.SubmitMP(context.Background(), 5, intake(model.CaseOther, false))
	wantKind(t, err, model.ErrRateLimited, "SubmitMP(over the daily limit)")
	e.clock.Add(24 * time.Hour)
	if _, err := e.svc.SubmitMP(context.Background(), 5, intake(model.CaseOther, false)); err != nil {
		t.Errorf("SubmitMP(a day later) = %v", err)
	}
}

func TestDangerIntake(t *testing.T) {
	e := mustEnv(t)
	// The nearest station for domestic violence in 朝阳区 is A.
	res, err := e.svc.SubmitMP(context.Background(), 42, intake(model.CaseDomesticViolence, true))
	if err != nil {
		t.Fatal(err)
	}
	em := res.Emergency
	if em == nil || em.Call != "110" || em.Hotline != "12338" || !strings.Contains(em.ProtectionOrder, "人身安全保护令") ||
		em.Station == nil || em.Station.Name != e.stA.Name || em.Station.Phone == "" {
		t.Fatalf("Emergency = %+v, want 110, 12338, protection orders and station A", em)
	}
	got := e.notes.Take()
	if len(got) != 1 {
		t.Fatalf("notices = %+v, want one alert", got)
	}
	n := got[0]
	if n.To.StaffID != e.duty || n.Notice.Topic != cases.TopicCrisisAlert || !n.Notice.Urgent || n.Notice.Fields["case_no"] != res.Case.CaseNo {
		t.Errorf("alert = %+v, want an urgent crisis alert to the on-duty staff with the case number", n)
	}
	for _, v := range n.Notice.Fields {
		if strings.Contains(v, "殴打") || strings.Contains(v, herName) || strings.Contains(v, herPhone) {
			t.Errorf("alert field %q carries her data", v)
		}
	}
}

func TestStaffIntake(t *testing.T) {
	e := mustEnv(t)
	in := intake(model.CaseEmployment, false)
	in.Channel = model.CaseChannelHotline
	res, err := e.svc.SubmitStaff(e.cwA, in)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Case
	// A station caseworker's hotline case is her station's, answered at intake.
	if c.StationID != e.stA.ID || c.Status != model.CaseAssigned || c.UserID != 0 || !c.FirstResponseAt.Equal(t0) || c.CreatedBy != e.ids["cwa"] {
		t.Errorf("SubmitStaff() = %+v", c)
	}
	if _, err := e.svc.Detail(e.cwA, c.CaseNo); err != nil {
		t.Errorf("Detail(own station) = %v", err)
	}
	in.Channel = model.CaseChannelMP
	_, err = e.svc.SubmitStaff(e.cwA, in)
	wantKind(t, err, model.ErrInvalid, "SubmitStaff(channel mp)")
	in.Channel, in.District = model.CaseChannelWalkIn, "海淀区"
	_, err = e.svc.SubmitStaff(e.coord, in)
	wantKind(t, err, model.ErrInvalid, "SubmitStaff(coordinator, other district)")
	in.District = ""
	res, err = e.svc.SubmitStaff(e.coord, in)
	if err != nil || res.Case.District != "朝阳区" || res.Case.Status != model.CaseReceived {
		t.Errorf("SubmitStaff(coordinator) = %+v, %v, want her district", res.Case, err)
	}
	_, err = e.svc.SubmitStaff(e.editor, in)
	wantKind(t, err, model.ErrForbidden, "SubmitStaff(editor)")
}

// TestIDOR: another person, a caseworker of another station and staff
// without the role get 404 (or 403 for the role), never the case.
func TestIDOR(t *testing.T) {
	e := mustEnv(t)
	c := e.mustSubmit(t, 42, intake(model.CaseDomesticViolence, false))
	c = e.mustAssign(t, c, e.stA)
	bg := context.Background()

	// Another Mini Program user.
	_, err := e.svc.MyCase(bg, 43, c.CaseNo)
	wantKind(t, err, model.ErrNotFound, "MyCase(other user)")
	_, err = e.svc.PostMessage(bg, 43, c.CaseNo, "你好")
	wantKind(t, err, model.ErrNotFound, "PostMessage(other user)")
	_, err = e.svc.Feedback(bg, 43, c.CaseNo, 5, "")
	wantKind(t, err, model.ErrNotFound, "Feedback(other user)")
	_, err = e.svc.SetContact(bg, 43, c.CaseNo, model.ContactPrefs{Mode: model.ContactNone})
	wantKind(t, err, model.ErrNotFound, "SetContact(other user)")
	mine, _, err := e.svc.MyCases(bg, 43, model.Page{})
	if err != nil || len(mine) != 0 {
		t.Errorf("MyCases(other user) = %v, %v, want none", mine, err)
	}
	_, err = e.svc.MyCase(bg, 42, "WQ20260309AAAAAAAAAAAAA")
	wantKind(t, err, model.ErrNotFound, "MyCase(unknown number)")
	_, err = e.svc.MyCase(bg, 42, "../../etc")
	wantKind(t, err, model.ErrNotFound, "MyCase(malformed number)")

	// A caseworker of station B, and a coordinator of another district.
	otherDistrict := staffCtx(e.ids["coord"], "coord", 0, "海淀区", model.RoleCaseworker)
	noScope := staffCtx(e.ids["duty"], "duty", 0, "", model.RoleCaseworker)
	for _, who := range []struct {
		name string
		ctx  context.Context
	}{{"station B", e.cwB}, {"other district", otherDistrict}, {"no scope", noScope}} {
		t.Run(who.name, func(t *testing.T) {
			ctx := who.ctx
			_, err := e.svc.Detail(ctx, c.CaseNo)
			wantKind(t, err, model.ErrNotFound, "Detail")
			_, err = e.svc.Reveal(ctx, c.CaseNo, "回电")
			wantKind(t, err, model.ErrNotFound, "Reveal")
			_, _, err = e.svc.AccessLog(ctx, c.CaseNo, model.Page{})
			wantKind(t, err, model.ErrNotFound, "AccessLog")
			_, err = e.svc.Transition(ctx, c.CaseNo, cases.TransitionInput{To: model.CaseInProgress})
			wantKind(t, err, model.ErrNotFound, "Transition")
			_, err = e.svc.Assign(ctx, c.CaseNo, e.stB.ID, "转给我们")
			wantKind(t, err, model.ErrNotFound, "Assign")
			_, err = e.svc.AddNote(ctx, c.CaseNo, "看看")
			wantKind(t, err, model.ErrNotFound, "AddNote")
			_, err = e.svc.Reply(ctx, c.CaseNo, "你好")
			wantKind(t, err, model.ErrNotFound, "Reply")
			_, err = e.svc.SetWaiting(ctx, c.CaseNo, true, "")
			wantKind(t, err, model.ErrNotFound, "SetWaiting")
			_, err = e.svc.Verify(ctx, c.CaseNo)
			wantKind(t, err, model.ErrNotFound, "Verify")
			_, err = e.svc.Route(ctx, c.CaseNo)
			wantKind(t, err, model.ErrNotFound, "Route")
			items, _, err := e.svc.List(ctx, model.CaseFilter{}, model.Page{})
			if err != nil || len(items) != 0 {
				t.Errorf("List = %d items, %v, want none", len(items), err)
			}
		})
	}
	// Staff without the caseworker role.
	_, err = e.svc.Detail(e.editor, c.CaseNo)
	wantKind(t, err, model.ErrForbidden, "Detail(editor)")

	// Those in scope see it: station A, the 朝阳区 coordinator, the admin.
	for _, ctx := range []context.Context{e.cwA, e.coord, e.admin} {
		if _, err := e.svc.Detail(ctx, c.CaseNo); err != nil {
			t.Errorf("Detail(in scope) = %v", err)
		}
	}
	// A transfer takes it out of station A's scope at once.
	if _, err := e.svc.Assign(e.cwA, c.CaseNo, e.stB.ID, "对方更擅长心理疏导"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Detail(e.cwA, c.CaseNo)
	wantKind(t, err, model.ErrNotFound, "Detail(station A after the transfer)")
	if _, err := e.svc.Detail(e.cwB, c.CaseNo); err != nil {
		t.Errorf("Detail(station B after the transfer) = %v", err)
	}
}

// reach builds a case in status st the way staff would.
func (e *env) reach(tb testing.TB, st model.CaseStatus) model.Case {
	tb.Helper()
	e.users++
	c := e.mustSubmit(tb, 1000+e.users, intake(model.CaseMarriageFamily, false))
	path := map[model.CaseStatus][]model.CaseStatus{
		model.CaseReceived:   {},
		model.CaseAccepted:   {model.CaseAccepted},
		model.CaseAssigned:   {model.CaseAssigned},
		model.CaseInProgress: {model.CaseAssigned, model.CaseInProgress},
		model.CaseResolved:   {model.CaseAssigned, model.CaseInProgress, model.CaseResolved},
		model.CaseClosed:     {model.CaseAssigned, model.CaseInProgress, model.CaseClosed},
		model.CaseReopened:   {model.CaseAssigned, model.CaseInProgress, model.CaseClosed, model.CaseReopened},
	}[st]
	for _, to := range path {
		if to == model.CaseAssigned {
			c = e.mustAssign(tb, c, e.stA)
			continue
		}
		c = e.mustTransition(tb, e.admin, c, to)
	}
	if c.Status != st {
		tb.Fatalf("reach(%s) = %s", st, c.Status)
	}
	return c
}

// TestTransitions tries every status against every other: exactly the
// matrix's transitions succeed; the others are 409 invalid_transition and
// change nothing.
func TestTransitions(t *testing.T) {
	allowed := map[model.CaseStatus][]model.CaseStatus{
		model.CaseReceived:   {model.CaseAccepted, model.CaseClosed},
		model.CaseAccepted:   {model.CaseInProgress, model.CaseClosed},
		model.CaseAssigned:   {model.CaseInProgress, model.CaseClosed},
		model.CaseInProgress: {model.CaseResolved, model.CaseClosed},
		model.CaseResolved:   {model.CaseInProgress, model.CaseClosed},
		model.CaseClosed:     {model.CaseReopened},
		model.CaseReopened:   {model.CaseInProgress, model.CaseResolved, model.CaseClosed},
	}
	e := mustEnv(t)
	for _, from := range model.CaseStatuses() {
		for _, to := range model.CaseStatuses() {
			want := slices.Contains(allowed[from], to)
			if model.CanTransition(from, to) != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, !want, want)
			}
			t.Run(string(from)+"→"+string(to), func(t *testing.T) {
				c := e.reach(t, from)
				in := cases.TransitionInput{To: to, Note: "原因"}
				if to == model.CaseClosed {
					in.Outcome = model.OutcomeMediation
				}
				got, err := e.svc.Transition(e.admin, c.CaseNo, in)
				if want {
					if err != nil || got.Status != to {
						t.Fatalf("Transition() = %s, %v, want %s", got.Status, err, to)
					}
				} else {
					wantCode(t, err, "invalid_transition", "Transition()")
					after, _ := e.store.ByNo(context.Background(), c.CaseNo)
					if after.Status != from || after.LastSeq != c.LastSeq {
						t.Errorf("after a refused transition: status %s seq %d, want %s %d", after.Status, after.LastSeq, from, c.LastSeq)
					}
				}
				v, err := e.svc.Verify(e.admin, c.CaseNo)
				if err != nil || v.Problem != nil {
					t.Errorf("Verify() = %+v, %v", v, err)
				}
			})
		}
	}
}

func TestTransitionRules(t *testing.T) {
	e := mustEnv(t)
	c := e.reach(t, model.CaseInProgress)
	_, err := e.svc.Transition(e.cwA, c.CaseNo, cases.TransitionInput{To: model.CaseClosed})
	wantKind(t, err, model.ErrInvalid, "Transition(closed without outcome)")
	_, err = e.svc.Transition(e.cwA, c.CaseNo, cases.TransitionInput{To: model.CaseResolved, Outcome: model.OutcomeResolved})
	wantKind(t, err, model.ErrInvalid, "Transition(outcome without closing)")
	_, err = e.svc.Transition(e.cwA, c.CaseNo, cases.TransitionInput{To: "done"})
	wantKind(t, err, model.ErrInvalid, "Transition(unknown status)")
	_, err = e.svc.Transition(e.cwA, c.CaseNo, cases.TransitionInput{To: model.CaseAssigned})
	wantCode(t, err, "invalid_transition", "Transition(to assigned without a station)")

	// Closing with a message to her: the note stays internal.
	c, err = e.svc.Transition(e.cwA, c.CaseNo, cases.TransitionInput{To: model.CaseClosed, Outcome: model.OutcomeLegalAid,
		Note: "内部：已转法律援助中心", PublicMessage: "已为您申请法律援助，律师会与您联系。"})
	if err != nil || c.Outcome != model.OutcomeLegalAid || c.ClosedAt.IsZero() {
		t.Fatalf("Transition(close) = %+v, %v", c, err)
	}
	v, err := e.svc.MyCase(context.Background(), c.UserID, c.CaseNo)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, u := range v.Updates {
		texts = append(texts, u.Kind+":"+string(u.Status)+u.Text)
	}
	want := []string{"status:received", "status:assigned", "status:in_progress", "status:closed", "reply:已为您申请法律援助，律师会与您联系。"}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Errorf("her updates (-want +got):\n%s", diff)
	}
	if !v.CanFeedback || v.Name != "张****" || v.Phone != "139****5678" || v.Description != herStory {
		t.Errorf("MyCase() = %+v", v)
	}

	// Feedback once per closure; reopening starts a new cycle.
	_, err = e.svc.Feedback(context.Background(), c.UserID, c.CaseNo, 6, "")
	wantKind(t, err, model.ErrInvalid, "Feedback(6 stars)")
	if _, err := e.svc.Feedback(context.Background(), c.UserID, c.CaseNo, 5, "谢谢"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Feedback(context.Background(), c.UserID, c.CaseNo, 4, "")
	wantCode(t, err, "already_rated", "Feedback(twice)")
	_, err = e.svc.Transition(e.cwA, c.CaseNo, cases.TransitionInput{To: model.CaseReopened})
	wantKind(t, err, model.ErrInvalid, "Transition(reopen without a note)")
	e.clock.Add(48 * time.Hour)
	c, err = e.svc.Transition(e.cwA, c.CaseNo, cases.TransitionInput{To: model.CaseReopened, Note: "当事人再次求助"})
	if err != nil || c.Cycle != 1 || c.Rating != 0 || !c.ClosedAt.IsZero() || !c.CloseDue.Equal(e.clock.Now().AddDate(0, 0, 30)) {
		t.Fatalf("Transition(reopen) = %+v, %v", c, err)
	}
	_, err = e.svc.Feedback(context.Background(), c.UserID, c.CaseNo, 4, "")
	wantCode(t, err, "not_closed", "Feedback(reopened)")
}

func TestAssign(t *testing.T) {
	e := mustEnv(t)
	c := e.mustSubmit(t, 42, intake(model.CaseDomesticViolence, false))
	e.notes.Take()
	_, err := e.svc.Assign(e.admin, c.CaseNo, 999, "原因")
	wantKind(t, err, model.ErrInvalid, "Assign(unknown station)")
	c = e.mustAssign(t, c, e.stA)
	if c.Status != model.CaseAssigned || c.StationID != e.stA.ID || c.FirstResponseAt.IsZero() {
		t.Errorf("Assign() = %+v, want assigned to A and a first response", c)
	}
	got := e.notes.Take()
	if len(got) != 2 || got[0].To.StaffID != e.ids["cwa"] || got[1].To.UserID != 42 {
		t.Errorf("notices = %+v, want station A's duty staff, then her", got)
	}
	_, err = e.svc.Assign(e.admin, c.CaseNo, e.stA.ID, "再派一次")
	wantCode(t, err, "already_assigned", "Assign(same station)")
	_, err = e.svc.Assign(e.admin, c.CaseNo, e.stB.ID, " ")
	wantKind(t, err, model.ErrInvalid, "Assign(transfer without a reason)")
	// Capacity: a full station refuses.
	one := 1
	full, err := e.svc.UpdateStation(e.admin, e.stB.ID, cases.StationInput{Capacity: &one})
	if err != nil {
		t.Fatal(err)
	}
	d := e.mustSubmit(t, 44, intake(model.CaseDomesticViolence, false))
	e.mustAssign(t, d, full)
	_, err = e.svc.Assign(e.admin, c.CaseNo, full.ID, "转站")
	wantCode(t, err, "station_full", "Assign(full station)")
	// Routing: A (names 朝阳区) first; B is full and last.
	sg, err := e.svc.Route(e.admin, c.CaseNo)
	if err != nil || len(sg) != 1 || sg[0].Station.ID != e.stA.ID || !sg[0].DistrictMatch {
		t.Errorf("Route() = %+v, %v, want A only (B covers 海淀区)", sg, err)
	}
	cityWide := e.mustStation(t, "市妇女维权中心", nil, []model.CaseCategory{model.CaseDomesticViolence}, 0)
	sg, _ = e.svc.Route(e.admin, c.CaseNo)
	if len(sg) != 2 || sg[0].Station.ID != e.stA.ID || sg[1].Station.ID != cityWide.ID || !sg[1].CategoryMatch {
		t.Errorf("Route() = %+v, want A then the city-wide centre", sg)
	}
	if n := len(e.audit.Actions()); n == 0 || !slices.Contains(e.audit.Actions(), "case.assign") {
		t.Errorf("audit = %v, want case.assign", e.audit.Actions())
	}
}

func TestAccessLogAndReveal(t *testing.T) {
	e := mustEnv(t)
	c := e.mustAssign(t, e.mustSubmit(t, 42, intake(model.CaseDomesticViolence, false)), e.stA)
	items, _, err := e.svc.List(e.cwA, model.CaseFilter{}, model.Page{})
	if err != nil || len(items) != 1 || items[0].Name != "张****" || items[0].Phone != "139****5678" {
		t.Fatalf("List() = %+v, %v, want masked values", items, err)
	}
	log, _, _ := e.svc.AccessLog(e.cwA, c.CaseNo, model.Page{})
	if len(log) != 0 {
		t.Errorf("access log after a list = %+v, want empty: lists are masked", log)
	}
	v, err := e.svc.Detail(e.cwA, c.CaseNo)
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "张****" || v.Phone != "139****5678" || v.Description != herStory || v.Contact.Note != herNote {
		t.Errorf("Detail() = %+v", v)
	}
	_, err = e.svc.Reveal(e.cwA, c.CaseNo, " ")
	wantKind(t, err, model.ErrInvalid, "Reveal(no reason)")
	r, err := e.svc.Reveal(e.cwA, c.CaseNo, "需要回电确认安全")
	if err != nil || r.Name != herName || r.Phone != herPhone {
		t.Fatalf("Reveal() = %+v, %v", r, err)
	}
	log, _, err = e.svc.AccessLog(e.admin, c.CaseNo, model.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range log {
		got = append(got, a.Username+":"+a.Action+":"+a.Reason+":"+a.IP+":"+a.RequestID)
	}
	want := []string{"cwa:reveal:需要回电确认安全:10.0.0.1:req-cwa", "cwa:view::10.0.0.1:req-cwa"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log (-want +got):\n%s", diff)
	}
}

// TestContactPreferences: notices to her follow her safe-contact choice
// and never name the category or the status.
func TestContactPreferences(t *testing.T) {
	e := mustEnv(t)
	submit := func(user int64, cp model.ContactPrefs) model.Case {
		in := intake(model.CaseHarassment, false)
		in.Contact = &cp
		c := e.mustAssign(t, e.mustSubmit(t, user, in), e.stA)
		e.notes.Take()
		return c
	}
	reply := func(c model.Case) []testutil.Notified {
		if _, err := e.svc.Reply(e.cwA, c.CaseNo, "请问您现在方便吗？"); err != nil {
			t.Fatal(err)
		}
		return e.notes.Take()
	}
	anyMode := submit(50, model.ContactPrefs{Mode: model.ContactAny})
	if got := reply(anyMode); len(got) != 1 || got[0].Notice.Topic != cases.TopicCaseUpdate || got[0].To.UserID != 50 {
		t.Errorf("mode any: %+v", got)
	} else {
		for k, v := range got[0].Notice.Fields {
			if strings.Contains(v, "骚扰") || strings.Contains(v, "分派") || strings.Contains(v, "请问") {
				t.Errorf("notice field %s = %q is not neutral", k, v)
			}
		}
		if got[0].Notice.Fields["title"] != cases.NeutralTitle {
			t.Errorf("title = %q", got[0].Notice.Fields["title"])
		}
	}
	none := submit(51, model.ContactPrefs{Mode: model.ContactNone})
	if got := reply(none); len(got) != 0 {
		t.Errorf("mode none: %+v, want nothing", got)
	}
	mp := submit(52, model.ContactPrefs{Mode: model.ContactMPOnly})
	if got := reply(mp); len(got) != 1 || got[0].Notice.Topic != cases.TopicCaseUpdateMP {
		t.Errorf("mode mp_only: %+v, want topic %s", got, cases.TopicCaseUpdateMP)
	}
	// Her hours are 19:00–21:00; it is 10:00. The notice waits for the sweep.
	win := submit(53, model.ContactPrefs{Mode: model.ContactWindow, From: "19:00", To: "21:00"})
	if got := reply(win); len(got) != 0 {
		t.Errorf("mode window outside her hours: %+v, want nothing yet", got)
	}
	if _, err := e.svc.Reply(e.cwA, win.CaseNo, "第二条消息"); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(time.Date(2026, 3, 9, 18, 59, 0, 0, sh))
	if res, err := e.svc.Sweep(context.Background()); err != nil || res.Notices != 0 {
		t.Errorf("Sweep(18:59) = %+v, %v, want no notice", res, err)
	}
	e.clock.Set(time.Date(2026, 3, 9, 19, 5, 0, 0, sh))
	res, err := e.svc.Sweep(context.Background())
	got := e.notes.Take()
	if err != nil || res.Notices != 1 || len(got) != 1 || got[0].To.UserID != 53 || !got[0].Notice.Urgent {
		t.Errorf("Sweep(19:05) = %+v, %v, notices %+v, want one urgent notice covering both replies", res, err, got)
	}
	if res, _ := e.svc.Sweep(context.Background()); res.Notices != 0 || len(e.notes.Take()) != 0 {
		t.Errorf("second Sweep() sent again")
	}
	// Switching to none drops a pending notice.
	e.clock.Set(time.Date(2026, 3, 10, 10, 0, 0, 0, sh))
	if _, err := e.svc.Reply(e.cwA, win.CaseNo, "第三条"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetContact(context.Background(), 53, win.CaseNo, model.ContactPrefs{Mode: model.ContactNone}); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(time.Date(2026, 3, 10, 19, 30, 0, 0, sh))
	if _, err := e.svc.Sweep(context.Background()); err != nil || len(e.notes.Take()) != 0 {
		t.Errorf("Sweep() after switching to none: %v, sent something", err)
	}
}

// TestSLASweep drives the SLA clocks with an injected clock: a reminder
// with a quarter of the time left, a breach escalated to the admins, each
// once; a pause moves the deadlines.
func TestSLASweep(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	c := e.mustSubmit(t, 42, intake(model.CaseEmployment, false)) // due Thursday 10:00
	e.notes.Take()
	sweep := func(at time.Time) (cases.SweepResult, []testutil.Notified) {
		t.Helper()
		e.clock.Set(at)
		res, err := e.svc.Sweep(ctx)
		if err != nil {
			t.Fatalf("Sweep(%v) = %v", at, err)
		}
		return res, e.notes.Take()
	}
	// Wednesday 11:59: 6 h 01 min of working time left: nothing.
	if res, got := sweep(time.Date(2026, 3, 11, 11, 59, 0, 0, sh)); res != (cases.SweepResult{}) || len(got) != 0 {
		t.Errorf("Sweep(Wed 11:59) = %+v, %+v", res, got)
	}
	// Wednesday 12:00: 6 working hours left: the on-duty staff are reminded (no station yet).
	res, got := sweep(time.Date(2026, 3, 11, 12, 0, 0, 0, sh))
	if res.Reminded != 1 || len(got) != 1 || got[0].To.StaffID != e.duty {
		t.Errorf("Sweep(Wed 12:00) = %+v, %+v, want one reminder to the on-duty staff", res, got)
	}
	if res, got := sweep(time.Date(2026, 3, 11, 12, 1, 0, 0, sh)); res != (cases.SweepResult{}) || len(got) != 0 {
		t.Errorf("second Sweep() = %+v, %+v, want nothing: a reminder goes once", res, got)
	}
	// Thursday 10:00: breached; the on-duty staff and the admins are told.
	res, got = sweep(time.Date(2026, 3, 12, 10, 0, 0, 0, sh))
	if res.Breached != 1 || len(got) != 2 || got[1].To.StaffID != e.ids["admin"] || !got[1].Notice.Urgent {
		t.Errorf("Sweep(Thu 10:00) = %+v, %+v, want a breach escalated to the admin", res, got)
	}
	if res, _ := sweep(time.Date(2026, 3, 12, 11, 0, 0, 0, sh)); res.Breached != 0 {
		t.Errorf("Sweep() after the breach = %+v, want nothing new", res)
	}
	// A late first response does not record a second breach.
	c = e.mustAssign(t, c, e.stA)
	evs, _ := e.store.Events(ctx, c.ID)
	breaches := 0
	for _, ev := range evs {
		if ev.Kind == model.EventSLA && ev.Meta["step"] == "breached" {
			breaches++
		}
	}
	if breaches != 1 {
		t.Errorf("breach events = %d, want 1", breaches)
	}

	// The closure clock: due 2026-04-08 10:00. Waiting for her pauses it.
	e.clock.Set(time.Date(2026, 3, 20, 10, 0, 0, 0, sh))
	if _, err := e.svc.SetWaiting(e.cwA, c.CaseNo, true, "等待当事人提供材料"); err != nil {
		t.Fatal(err)
	}
	if res, _ := sweep(time.Date(2026, 4, 9, 10, 0, 0, 0, sh)); res != (cases.SweepResult{}) {
		t.Errorf("Sweep() while waiting = %+v, want nothing: the clock is paused", res)
	}
	// She writes after 10 days: the deadline moves by 10 days.
	e.clock.Set(time.Date(2026, 3, 30, 10, 0, 0, 0, sh))
	if _, err := e.svc.PostMessage(ctx, 42, c.CaseNo, "材料准备好了"); err != nil {
		t.Fatal(err)
	}
	if got := e.notes.Take(); len(got) != 1 || got[0].Notice.Fields["title"] != "当事人有新留言" {
		t.Errorf("notices after her message = %+v, want one to station A", got)
	}
	c, _ = e.store.ByNo(ctx, c.CaseNo)
	if want := time.Date(2026, 4, 18, 10, 0, 0, 0, sh); c.WaitingUser || !c.CloseDue.Equal(want) {
		t.Errorf("after her message: waiting %v, close due %v, want %v", c.WaitingUser, c.CloseDue.In(sh), want)
	}
	// 7.5 days before: reminder to station A's duty staff.
	res, got = sweep(time.Date(2026, 4, 10, 22, 0, 0, 0, sh))
	if res.Reminded != 1 || len(got) != 1 || got[0].To.StaffID != e.ids["cwa"] {
		t.Errorf("Sweep(close reminder) = %+v, %+v, want station A's duty staff", res, got)
	}
	res, _ = sweep(time.Date(2026, 4, 18, 10, 0, 0, 0, sh))
	if res.Breached != 1 {
		t.Errorf("Sweep(close due) = %+v, want a breach", res)
	}
	// Closing late records no second breach; the chain verifies.
	e.mustTransition(t, e.cwA, c, model.CaseClosed)
	v, err := e.svc.Verify(e.cwA, c.CaseNo)
	if err != nil || v.Problem != nil {
		t.Errorf("Verify() = %+v, %v", v, err)
	}
	sec, err := e.svc.FigureSection(ctx, t0.Add(-time.Hour), time.Date(2026, 5, 1, 0, 0, 0, 0, sh))
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := sec.Get(model.FigCaseBreaches); f.Value != 2 || f.Breakdown["sla:first_response"] != 1 || f.Breakdown["sla:close"] != 1 {
		t.Errorf("breaches figure = %+v, want 2 (one of each)", f)
	}
}

func TestCalendar(t *testing.T) {
	cal, err := cases.NewCalendar("09:00-17:00", [7]bool{false, true, true, true, true, true, false}, "2026-10-01,2026-10-02", "", sh)
	if err != nil {
		t.Fatal(err)
	}
	at := func(m time.Month, d, h, min int) time.Time { return time.Date(2026, m, d, h, min, 0, 0, sh) }
	tests := []struct {
		name  string
		start time.Time
		add   time.Duration
		want  time.Time
	}{
		{"within the day", at(3, 9, 10, 0), 2 * time.Hour, at(3, 9, 12, 0)},
		{"to the end of the day", at(3, 9, 10, 0), 7 * time.Hour, at(3, 9, 17, 0)},
		{"over the night", at(3, 9, 16, 0), 2 * time.Hour, at(3, 10, 10, 0)},
		{"before opening", at(3, 9, 6, 0), time.Hour, at(3, 9, 10, 0)},
		{"after closing", at(3, 9, 20, 0), time.Hour, at(3, 10, 10, 0)},
		{"over the weekend", at(3, 13, 16, 0), 2 * time.Hour, at(3, 16, 10, 0)},
		{"from Saturday", at(3, 14, 12, 0), 24 * time.Hour, at(3, 18, 17, 0)},
		{"over holidays", at(9, 30, 16, 0), 2 * time.Hour, at(10, 5, 10, 0)},
		{"zero", at(3, 14, 12, 0), 0, at(3, 14, 12, 0)},
	}
	for _, tt := range tests {
		if got := cal.Add(tt.start, tt.add); !got.Equal(tt.want) {
			t.Errorf("%s: Add(%v, %v) = %v, want %v", tt.name, tt.start, tt.add, got, tt.want)
		}
		if tt.add > 0 {
			if got := cal.Between(tt.start, tt.want); got != tt.add {
				t.Errorf("%s: Between(%v, %v) = %v, want %v", tt.name, tt.start, tt.want, got, tt.add)
			}
		}
	}
	if got := cal.Between(at(3, 10, 0, 0), at(3, 9, 0, 0)); got != 0 {
		t.Errorf("Between(backwards) = %v, want 0", got)
	}
	if !cal.Working(at(3, 9, 9, 0)) || cal.Working(at(3, 9, 17, 0)) || cal.Working(at(3, 14, 12, 0)) || cal.Working(at(10, 1, 12, 0)) {
		t.Error("Working() disagrees with the calendar")
	}
	for _, bad := range []string{"17:00-09:00", "9-5", "", "09:00-25:00"} {
		if _, err := cases.NewCalendar(bad, [7]bool{true}, "", "", sh); err == nil {
			t.Errorf("NewCalendar(%q) = nil error", bad)
		}
	}
	if _, err := cases.NewCalendar("09:00-17:00", [7]bool{}, "", "", sh); err == nil {
		t.Error("NewCalendar(no working day) = nil error")
	}
	if _, err := cases.NewCalendar("09:00-17:00", [7]bool{true}, "2026-02-30", "", sh); err == nil {
		t.Error("NewCalendar(bad holiday) = nil error")
	}
	if _, err := cases.NewCalendar("09:00-17:00", [7]bool{true}, "", "2026-9-20", sh); err == nil {
		t.Error("NewCalendar(bad make-up day) = nil error")
	}
	if _, err := cases.NewCalendar("09:00-17:00", [7]bool{true}, "2026-10-01,2026-10-02", "2026-10-02", sh); err == nil ||
		!strings.Contains(err.Error(), "2026-10-02 is both") {
		t.Errorf("NewCalendar(a date in both lists) = %v, want an error naming it", err)
	}
}

// TestFigures builds a small year from the event log and checks every
// figure and its definition.
func TestFigures(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	day := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, sh) }
	e.clock.Set(day(3, 9, 10))
	a := e.mustSubmit(t, 42, intake(model.CaseDomesticViolence, false)) // March, station A, closed in 2 days
	e.clock.Set(day(3, 9, 14))
	a = e.mustAssign(t, a, e.stA) // first response after 4 h
	if _, err := e.svc.PostMessage(ctx, 42, a.CaseNo, "同一天的留言"); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(day(3, 10, 9))
	if _, err := e.svc.PostMessage(ctx, 42, a.CaseNo, "第二天的留言"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PostMessage(ctx, 42, a.CaseNo, "第二天的第二条"); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(day(3, 11, 10))
	e.mustTransition(t, e.cwA, a, model.CaseClosed)

	e.clock.Set(day(4, 1, 10))
	in := intake(model.CaseEmployment, false)
	in.Channel = model.CaseChannelHotline
	res, err := e.svc.SubmitStaff(e.cwB, in) // April, station B, answered at intake
	if err != nil {
		t.Fatal(err)
	}
	b := res.Case
	if _, err := e.svc.RecordContact(e.cwB, b.CaseNo, cases.ContactInput{Channel: "visit", Direction: "inbound"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RecordContact(e.cwB, b.CaseNo, cases.ContactInput{Channel: "phone", Direction: "outbound"}); err != nil {
		t.Fatal(err)
	}

	e.clock.Set(day(4, 2, 10))
	c := e.mustSubmit(t, 43, intake(model.CaseDomesticViolence, false)) // closed, then reopened: not closed at the end
	e.clock.Set(day(4, 3, 10))
	c = e.mustTransition(t, e.admin, c, model.CaseClosed)
	e.clock.Set(day(4, 4, 10))
	e.mustTransition(t, e.admin, c, model.CaseReopened)

	e.clock.Set(day(5, 1, 10))
	sec, err := e.svc.FigureSection(ctx, day(1, 1, 0), day(5, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if sec.Area != "cases" || sec.Title != "12338维权" {
		t.Errorf("section = %q %q", sec.Area, sec.Title)
	}
	get := func(key string) model.Figure {
		f, ok := sec.Get(key)
		if !ok {
			t.Fatalf("figure %s missing", key)
		}
		if f.Definition == "" || f.Name == "" || f.Unit == "" {
			t.Errorf("figure %s lacks a name, unit or definition", key)
		}
		return f
	}
	st := func(s model.Station) string { return "station:" + itoa(s.ID) }
	rcv := get(model.FigCasesReceived)
	if diff := cmp.Diff(map[string]float64{"category:domestic_violence": 2, "category:employment": 1, st(e.stA): 1, st(e.stB): 1,
		"station:0": 1, "month:2026-03": 1, "month:2026-04": 2}, rcv.Breakdown); rcv.Value != 3 || diff != "" {
		t.Errorf("received = %v (-want +got):\n%s", rcv.Value, diff)
	}
	// Contacts: 3 intakes + 1 inbound visit + 1 message day (the same-day message is not counted again).
	if f := get(model.FigCaseContacts); f.Value != 5 || f.Breakdown["source:message_day"] != 1 || f.Breakdown["source:inbound_visit"] != 1 {
		t.Errorf("contacts = %v %v, want 5", f.Value, f.Breakdown)
	}
	if f := get(model.FigCasesClosed); f.Value != 1 || f.Breakdown[st(e.stA)] != 1 {
		t.Errorf("closed = %v %v, want 1 (the reopened one is not)", f.Value, f.Breakdown)
	}
	if f := get(model.FigCaseClosureRate); f.Value != 0.3333 || f.Breakdown["category:domestic_violence"] != 0.5 || f.Unit != "%" {
		t.Errorf("closure rate = %v %v, want 1/3", f.Value, f.Breakdown)
	}
	if f := get(model.FigCasesClosedInPeriod); f.Value != 2 {
		t.Errorf("closed in period = %v, want 2 (a and c)", f.Value)
	}
	// First responses: a after 4 h, b at intake (0 h); c never (a closure by the admin counts: 24 h).
	if f := get(model.FigCaseFirstResponseMedian); f.Value != 4 || f.Breakdown["cases"] != 3 {
		t.Errorf("first response median = %v %v, want 4 h over 3 cases", f.Value, f.Breakdown)
	}
	if f := get(model.FigCaseCloseMedian); f.Value != 1.5 || f.Breakdown["cases"] != 2 {
		t.Errorf("close median = %v %v, want 1.5 days (2 and 1)", f.Value, f.Breakdown)
	}
	// March only.
	sec, _ = e.svc.FigureSection(ctx, day(3, 1, 0), day(4, 1, 0))
	if f, _ := sec.Get(model.FigCasesReceived); f.Value != 1 {
		t.Errorf("March received = %v, want 1", f.Value)
	}
	// The staff endpoint checks the role and the period.
	_, err = e.svc.Figures(e.editor, day(1, 1, 0), day(5, 1, 0))
	wantKind(t, err, model.ErrForbidden, "Figures(editor)")
	_, err = e.svc.Figures(e.admin, day(5, 1, 0), day(1, 1, 0))
	wantKind(t, err, model.ErrInvalid, "Figures(to before from)")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestRetention(t *testing.T) {
	eachDialect(t, testRetention)
}

func testRetention(t *testing.T, e *env, raw *rawDB) {
	ctx := context.Background()
	old := e.reach(t, model.CaseInProgress)
	if _, err := e.svc.PostMessage(ctx, old.UserID, old.CaseNo, "我的留言"); err != nil {
		t.Fatal(err)
	}
	old = e.mustTransition(t, e.cwA, old, model.CaseClosed)
	if _, err := e.svc.Feedback(ctx, old.UserID, old.CaseNo, 5, "谢谢你们"); err != nil {
		t.Fatal(err)
	}
	recent := e.reach(t, model.CaseClosed)
	_ = recent
	open := e.reach(t, model.CaseInProgress)
	before, err := e.svc.FigureSection(ctx, t0.Add(-time.Hour), t0.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}

	// Three years and a day later, for "old" only: move the other closure.
	e.clock.Set(t0.Add(cases.DefaultRetention + 24*time.Hour))
	raw.exec(t, "UPDATE cases SET closed_at = ? WHERE case_no = ?", e.clock.Now().Add(-time.Hour).UTC(), recent.CaseNo)
	_, err = e.svc.RetentionPlan(e.cwA)
	wantKind(t, err, model.ErrForbidden, "RetentionPlan(caseworker)")
	plan, err := e.svc.RetentionPlan(e.admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Items) != 1 || plan.Items[0].CaseNo != old.CaseNo || plan.Items[0].EventBodies < 3 ||
		!cmp.Equal(plan.Items[0].Fields, []string{"name", "phone", "description", "contact", "feedback", "owner"}) {
		t.Fatalf("RetentionPlan() = %+v", plan)
	}
	if got, _ := e.store.ByNo(ctx, old.CaseNo); got.NameSealed == "" {
		t.Fatal("the dry run changed the case")
	}
	n, err := e.svc.RunRetention(e.admin)
	if err != nil || n != 1 {
		t.Fatalf("RunRetention() = %d, %v, want 1", n, err)
	}
	got, _ := e.store.ByNo(ctx, old.CaseNo)
	if got.NameSealed != "" || got.PhoneSealed != "" || got.DescriptionSealed != "" || got.ContactSealed != "" ||
		got.FeedbackSealed != "" || got.UserID != 0 || got.AnonymisedAt.IsZero() || got.Outcome == "" || got.Rating != 5 {
		t.Errorf("anonymised case = %+v", got)
	}
	evs, _ := e.store.Events(ctx, got.ID)
	for _, ev := range evs {
		if ev.BodySealed != "" {
			t.Errorf("event %d keeps its body", ev.Seq)
		}
	}
	if last := evs[len(evs)-1]; last.Kind != model.EventAnonymised {
		t.Errorf("last event = %s, want anonymised", last.Kind)
	}
	if v, err := e.svc.Verify(e.admin, old.CaseNo); err != nil || v.Problem != nil {
		t.Errorf("Verify(anonymised) = %+v, %v, want ok", v, err)
	}
	_, err = e.svc.MyCase(ctx, old.UserID, old.CaseNo)
	wantKind(t, err, model.ErrNotFound, "MyCase(anonymised)")
	if v, err := e.svc.Detail(e.admin, old.CaseNo); err != nil || v.Description != "" || v.Name != "" {
		t.Errorf("Detail(anonymised) = %+v, %v", v, err)
	}
	after, _ := e.svc.FigureSection(ctx, t0.Add(-time.Hour), t0.AddDate(0, 1, 0))
	for _, key := range []string{model.FigCasesReceived, model.FigCasesClosed, model.FigCaseClosureRate, model.FigCaseContacts} {
		b, _ := before.Get(key)
		a, _ := after.Get(key)
		if a.Value != b.Value {
			t.Errorf("figure %s = %v after anonymisation, %v before", key, a.Value, b.Value)
		}
	}
	if n, _ := e.svc.Anonymise(ctx); n != 0 {
		t.Errorf("Anonymise() again = %d, want 0", n)
	}
	if c, _ := e.store.ByNo(ctx, open.CaseNo); c.NameSealed == "" {
		t.Error("an open case was anonymised")
	}
	all, err := e.svc.VerifyAll(e.admin)
	if err != nil || all.Cases != 3 || len(all.Problems) != 0 {
		t.Errorf("VerifyAll() = %+v, %v", all, err)
	}
}

// TestVerifyDetectsDirectEdit: an UPDATE made directly in the database is
// found by the check endpoint's method, on every dialect.
func TestVerifyDetectsDirectEdit(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env, raw *rawDB) {
		c := e.reach(t, model.CaseInProgress)
		if v, err := e.svc.Verify(e.cwA, c.CaseNo); err != nil || v.Problem != nil || v.Events != 3 {
			t.Fatalf("Verify() = %+v, %v", v, err)
		}
		// Someone rewrites the assignment to another station.
		raw.exec(t, "UPDATE case_events SET station_id = ? WHERE case_id = ? AND seq = 2", e.stB.ID, c.ID)
		v, err := e.svc.Verify(e.cwA, c.CaseNo)
		if err != nil || v.Problem == nil || v.Problem.Seq != 2 || v.Problem.Reason != "hash_mismatch" {
			t.Errorf("Verify() after the edit = %+v, %v, want seq 2 hash_mismatch", v.Problem, err)
		}
		all, err := e.svc.VerifyAll(e.admin)
		if err != nil || len(all.Problems) != 1 || all.Problems[0].CaseNo != c.CaseNo {
			t.Errorf("VerifyAll() = %+v, %v", all, err)
		}
		_, err = e.svc.VerifyAll(e.cwA)
		wantKind(t, err, model.ErrForbidden, "VerifyAll(caseworker)")
	})
}

// TestNoPlaintextAtRest scans every row of every table on each dialect,
// and the SQLite files, for her name, phone, story, messages and notes.
func TestNoPlaintextAtRest(t *testing.T) {
	secrets := []string{herName, herPhone, herStory, herNote, "我在朝阳门外大街住", "内部备注：邻居可作证", "请晚上八点后联系我", "评价很满意"}
	eachDialect(t, func(t *testing.T, e *env, raw *rawDB) {
		ctx := context.Background()
		in := intake(model.CaseDomesticViolence, true)
		in.Contact = &model.ContactPrefs{Mode: model.ContactWindow, From: "20:00", To: "22:00", Note: herNote}
		c := e.mustAssign(t, e.mustSubmit(t, 42, in), e.stA)
		if _, err := e.svc.PostMessage(ctx, 42, c.CaseNo, "我在朝阳门外大街住"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.AddNote(e.cwA, c.CaseNo, "内部备注：邻居可作证"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Reply(e.cwA, c.CaseNo, "请晚上八点后联系我"); err != nil {
			t.Fatal(err)
		}
		c = e.mustTransition(t, e.cwA, c, model.CaseInProgress)
		c = e.mustTransition(t, e.cwA, c, model.CaseClosed)
		if _, err := e.svc.Feedback(ctx, 42, c.CaseNo, 5, "评价很满意"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Detail(e.cwA, c.CaseNo); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Reveal(e.cwA, c.CaseNo, "回电"); err != nil {
			t.Fatal(err)
		}
		scanned := 0
		for _, table := range raw.tables(t) {
			rows, err := raw.db.Query("SELECT * FROM " + table)
			if err != nil {
				t.Fatalf("select %s: %v", table, err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				scanned++
				for i, v := range vals {
					var s string
					switch x := v.(type) {
					case []byte:
						s = string(x)
					case string:
						s = x
					default:
						continue
					}
					for _, secret := range secrets {
						if strings.Contains(s, secret) {
							t.Errorf("%s.%s holds %q in plaintext", table, cols[i], secret)
						}
					}
				}
			}
			rows.Close()
		}
		if scanned < 10 {
			t.Errorf("scanned %d rows, want the case's rows at least", scanned)
		}
		if raw.driver != "sqlite" {
			return
		}
		// The file itself, with its write-ahead log.
		for _, p := range []string{raw.dsn, raw.dsn + "-wal"} {
			b, err := os.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range secrets {
				if strings.Contains(string(b), secret) {
					t.Errorf("%s holds %q in plaintext", filepath.Base(p), secret)
				}
			}
		}
	})
}

func FuzzIntakeInput(f *testing.F) {
	f.Add("domestic_violence", "他打我", "张三", "13812345678", "朝阳区", "window", "19:00", "21:00", "WQ20260309AAAAAAAAAAAAA")
	f.Add("", "\xff", "", "+86 138-1234-5678", ",", "any", "25:00", "x", "")
	f.Add("other", strings.Repeat("字", 6000), strings.Repeat("名", 40), "0", "\n", "mp_only", "", "", "WQ2026030912345678901234")
	f.Fuzz(func(t *testing.T, cat, desc, name, phone, district, mode, from, to, no string) {
		in := cases.IntakeInput{Category: model.CaseCategory(cat), Description: desc, Name: name, Phone: phone, District: district,
			Contact: &model.ContactPrefs{Mode: model.ContactMode(mode), From: from, To: to}}
		bad := in.Valid()
		if bad == nil && (!model.CaseCategory(cat).Valid() || strings.TrimSpace(desc) == "") {
			t.Errorf("Valid(%+v) = nil", in)
		}
		if model.ValidCaseNo(no) && (len(no) != 23 || !strings.HasPrefix(no, "WQ")) {
			t.Errorf("ValidCaseNo(%q) = true", no)
		}
	})
}

// TestConcurrentTransitions: staff racing on one case each see the status
// the previous one left under the row lock: exactly one resolves it.
func TestConcurrentTransitions(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env, _ *rawDB) {
		c := e.reach(t, model.CaseInProgress)
		const n = 12
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = e.svc.Transition(e.cwA, c.CaseNo, cases.TransitionInput{To: model.CaseResolved, Note: "并发"})
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			default:
				wantCode(t, err, "invalid_transition", "Transition(racing)")
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d racing transitions succeeded, want 1", ok, n)
		}
		if v, err := e.svc.Verify(e.cwA, c.CaseNo); err != nil || v.Problem != nil || v.Events != c.LastSeq+1 {
			t.Errorf("Verify() = %+v, %v, want %d events", v, err, c.LastSeq+1)
		}
	})
}
