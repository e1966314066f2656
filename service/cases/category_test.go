package cases_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"wanjia/model"
)

// TestSetCategory: a caseworker in scope corrects the category with a
// reason; the correction is an internal event in the chain, audited,
// unseen by her; danger stays; the rules of scope, validation and status.
func TestSetCategory(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	c := e.mustSubmit(t, 42, intake(model.CaseOther, true))
	c = e.mustAssign(t, c, e.stA)
	e.notes.Take()
	haidian := staffCtx(e.ids["coord"], "coord", 0, "海淀区", model.RoleCaseworker)

	tests := []struct {
		name     string
		ctx      context.Context
		category model.CaseCategory
		reason   string
		wantKind error
		wantCode string
	}{
		{"an editor", e.editor, model.CaseDomesticViolence, "原因", model.ErrForbidden, ""},
		{"another station's caseworker", e.cwB, model.CaseDomesticViolence, "原因", model.ErrNotFound, ""},
		{"another district's coordinator", haidian, model.CaseDomesticViolence, "原因", model.ErrNotFound, ""},
		{"no such category", e.cwA, "violence", "原因", model.ErrInvalid, ""},
		{"no reason", e.cwA, model.CaseDomesticViolence, "  ", model.ErrInvalid, ""},
		{"a reason too long", e.cwA, model.CaseDomesticViolence, strings.Repeat("因", 201), model.ErrInvalid, ""},
		{"the same category", e.cwA, model.CaseOther, "原因", model.ErrConflict, "same_category"},
	}
	for _, tt := range tests {
		_, err := e.svc.SetCategory(tt.ctx, c.CaseNo, tt.category, tt.reason)
		wantKind(t, err, tt.wantKind, tt.name)
		if tt.wantCode != "" {
			wantCode(t, err, tt.wantCode, tt.name)
		}
	}
	if _, err := e.svc.SetCategory(e.cwB, "WQ20260309NOSUCHCASE000", model.CaseChild, "原因"); err == nil {
		t.Error("SetCategory(unknown case) = nil")
	}

	got, err := e.svc.SetCategory(e.cwA, c.CaseNo, model.CaseDomesticViolence, " 电话中了解到丈夫长期殴打，属于家庭暴力 ")
	if err != nil || got.Category != model.CaseDomesticViolence || !got.Danger || got.Status != c.Status || got.LastSeq != c.LastSeq+1 {
		t.Fatalf("SetCategory() = %+v, %v, want domestic violence, danger kept, one event", got, err)
	}
	stored, _ := e.store.ByNo(ctx, c.CaseNo)
	if stored.Category != model.CaseDomesticViolence {
		t.Errorf("stored category = %s", stored.Category)
	}
	v, err := e.svc.Detail(e.cwA, c.CaseNo)
	if err != nil {
		t.Fatal(err)
	}
	last := v.Events[len(v.Events)-1]
	if last.Kind != model.EventCategory || last.Visible || last.ActorID != e.ids["cwa"] || last.Text != "电话中了解到丈夫长期殴打，属于家庭暴力" ||
		last.Meta["from"] != "other" || last.Meta["to"] != "domestic_violence" {
		t.Errorf("the event = %+v, want an internal category event with the reason", last)
	}
	if !slices.Contains(e.audit.Actions(), "case.category") {
		t.Errorf("audit = %v, want case.category", e.audit.Actions())
	}
	if sent := e.notes.Take(); len(sent) != 0 {
		t.Errorf("notices = %v, want none (she is not told)", topics(sent))
	}
	mine, err := e.svc.MyCase(ctx, 42, c.CaseNo)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range mine.Updates {
		if strings.Contains(u.Text, "殴打") || u.Kind == string(model.EventCategory) {
			t.Errorf("her updates show the correction: %+v", u)
		}
	}
	// The district coordinator of 朝阳区 may correct it too.
	if _, err := e.svc.SetCategory(e.coord, c.CaseNo, model.CaseMarriageFamily, "复核"); err != nil {
		t.Errorf("SetCategory(coordinator in scope) = %v", err)
	}
	if r, err := e.svc.Verify(e.cwA, c.CaseNo); err != nil || r.Problem != nil {
		t.Errorf("Verify() = %+v, %v", r.Problem, err)
	}
	// A closed case is settled until reopened.
	closed := e.reach(t, model.CaseClosed)
	_, err = e.svc.SetCategory(e.cwA, closed.CaseNo, model.CaseChild, "原因")
	wantCode(t, err, "closed", "SetCategory(closed)")
	reopened := e.mustTransition(t, e.cwA, closed, model.CaseReopened)
	if _, err := e.svc.SetCategory(e.cwA, reopened.CaseNo, model.CaseChild, "原因"); err != nil {
		t.Errorf("SetCategory(reopened) = %v", err)
	}
	resolved := e.reach(t, model.CaseResolved)
	if _, err := e.svc.SetCategory(e.cwA, resolved.CaseNo, model.CaseChild, "原因"); err != nil {
		t.Errorf("SetCategory(resolved) = %v", err)
	}
}

// TestSetCategoryChainAndFigures, on every dialect: the correction is
// stored, the chain verifies, a direct edit of the category is found,
// and the figures count the case under its current category, even when
// the correction came after the period.
func TestSetCategoryChainAndFigures(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env, raw *rawDB) {
		a := e.mustSubmit(t, 51, intake(model.CaseOther, false))
		b := e.mustSubmit(t, 52, intake(model.CaseOther, false))
		e.mustSubmit(t, 53, intake(model.CaseOther, false))
		from, to := t0.Add(-time.Hour), t0.Add(time.Hour)
		e.clock.Add(2 * time.Hour) // both corrections after the period
		if _, err := e.svc.SetCategory(e.admin, a.CaseNo, model.CaseDomesticViolence, "实为家庭暴力"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.SetCategory(e.admin, b.CaseNo, model.CaseEmployment, "初判"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.SetCategory(e.admin, b.CaseNo, model.CaseHarassment, "复核后更正"); err != nil {
			t.Fatal(err)
		}
		sec, err := e.svc.Figures(e.admin, from, to)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := sec.Get(model.FigCasesReceived)
		want := map[string]float64{"category:domestic_violence": 1, "category:harassment": 1, "category:other": 1}
		for k, n := range want {
			if f.Breakdown[k] != n {
				t.Errorf("received[%s] = %v, want %v (breakdown %v)", k, f.Breakdown[k], n, f.Breakdown)
			}
		}
		if f.Value != 3 || f.Breakdown["category:employment"] != 0 || !strings.Contains(f.Definition, "最后一次更正") {
			t.Errorf("received = %+v", f)
		}
		for _, c := range []model.Case{a, b} {
			if r, err := e.svc.Verify(e.admin, c.CaseNo); err != nil || r.Problem != nil {
				t.Errorf("Verify(%s) = %+v, %v", c.CaseNo, r.Problem, err)
			}
		}
		// Someone puts the old category back behind the service's back.
		raw.exec(t, "UPDATE cases SET category = ? WHERE id = ?", "other", a.ID)
		r, err := e.svc.Verify(e.admin, a.CaseNo)
		if err != nil || r.Problem == nil || r.Problem.Reason != "category_mismatch" || r.Problem.Seq != a.LastSeq+1 {
			t.Errorf("Verify() after the edit = %+v, %v, want category_mismatch at seq %d", r.Problem, err, a.LastSeq+1)
		}
		list, _, err := e.svc.List(e.admin, model.CaseFilter{Category: model.CaseHarassment}, model.Page{})
		if err != nil || len(list) != 1 || list[0].Case.CaseNo != b.CaseNo {
			t.Errorf("List(harassment) = %d cases, %v, want b", len(list), err)
		}
	})
}
