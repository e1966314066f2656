package cases_test

import (
	"context"
	"sync"
	"testing"

	"wanjia/model"
	"wanjia/service/cases"
)

// TestCapacityUnderRace: N different cases assigned at once to a station
// with capacity K: exactly K are assigned, the others are 409
// station_full and unchanged, and the station's load is K, on every
// dialect. Then transfers racing into a station with one place left: one
// succeeds.
func TestCapacityUnderRace(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env, _ *rawDB) {
		const n, k = 12, 3
		st := e.mustStation(t, "城关区妇女维权服务站", nil, nil, k)
		cs := make([]model.Case, n)
		for i := range cs {
			cs[i] = e.mustSubmit(t, int64(500+i), intake(model.CaseDomesticViolence, false))
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = e.svc.Assign(e.admin, cs[i].CaseNo, st.ID, "") })
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
				continue
			}
			wantCode(t, err, "station_full", "Assign(racing)")
			after, gerr := e.store.ByNo(context.Background(), cs[i].CaseNo)
			if gerr != nil || after.StationID != 0 || after.Status != model.CaseReceived || after.LastSeq != cs[i].LastSeq {
				t.Errorf("a refused case = %+v, %v, want it unassigned and unchanged", after, gerr)
			}
		}
		if ok != k {
			t.Errorf("%d of %d racing assignments succeeded, want %d", ok, n, k)
		}
		loads, err := e.store.StationLoads(context.Background())
		if err != nil || loads[st.ID] != k {
			t.Errorf("StationLoads()[%d] = %d, %v, want %d", st.ID, loads[st.ID], err, k)
		}

		// Transfers: station A holds m open cases; three race to a station
		// with one place left.
		two := e.mustStation(t, "七里河区法律援助中心", nil, nil, 2)
		e.mustAssign(t, e.mustSubmit(t, 600, intake(model.CaseEmployment, false)), two)
		var movers []model.Case
		for range 3 {
			movers = append(movers, e.reach(t, model.CaseInProgress))
		}
		errs = make([]error, len(movers))
		for i := range movers {
			wg.Go(func() { _, errs[i] = e.svc.Assign(e.cwA, movers[i].CaseNo, two.ID, "转到七里河区") })
		}
		wg.Wait()
		ok = 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				wantCode(t, err, "station_full", "Assign(racing transfer)")
			}
		}
		if loads, _ := e.store.StationLoads(context.Background()); ok != 1 || loads[two.ID] != 2 {
			t.Errorf("racing transfers: %d succeeded, load %d; want 1 and 2", ok, loads[two.ID])
		}
		for _, c := range append(cs, movers...) {
			if v, err := e.svc.Verify(e.admin, c.CaseNo); err != nil || v.Problem != nil {
				t.Errorf("Verify(%s) = %+v, %v", c.CaseNo, v.Problem, err)
			}
		}
	})
}

// TestCapacityOnEveryPath: moving a case into a full station (assign,
// transfer) is refused and allowed again when a place frees up; a case
// coming back to its own station — reopened, or a resolved one taken back
// into work — is never refused for the capacity (she returns to the people
// who know her case) and counts from then on; leaving the load is never
// refused; an inactive station takes no case.
func TestCapacityOnEveryPath(t *testing.T) {
	e := mustEnv(t)
	one := 1
	setCap := func(n int) {
		t.Helper()
		if _, err := e.svc.UpdateStation(e.admin, e.stA.ID, cases.StationInput{Capacity: &n}); err != nil {
			t.Fatal(err)
		}
	}
	load := func() int {
		t.Helper()
		loads, err := e.store.StationLoads(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return loads[e.stA.ID]
	}
	closed := e.reach(t, model.CaseClosed)     // at A, not in its load
	resolved := e.reach(t, model.CaseResolved) // idem
	busy := e.reach(t, model.CaseInProgress)   // A's one open case
	setCap(one)

	fresh := e.mustSubmit(t, 700, intake(model.CaseDomesticViolence, false))
	_, err := e.svc.Assign(e.admin, fresh.CaseNo, e.stA.ID, "")
	wantCode(t, err, "station_full", "Assign(full station)")
	if after, _ := e.store.ByNo(context.Background(), fresh.CaseNo); after.Status != fresh.Status || after.LastSeq != fresh.LastSeq {
		t.Errorf("refused %s: now %s seq %d, want %s seq %d", fresh.CaseNo, after.Status, after.LastSeq, fresh.Status, fresh.LastSeq)
	}
	// She calls again: her closed case reopens at A although A is full,
	// and a resolved case goes back into work there too.
	if _, err := e.svc.Transition(e.cwA, closed.CaseNo, cases.TransitionInput{To: model.CaseReopened, Note: "她又来电"}); err != nil {
		t.Errorf("Transition(reopen at a full station) = %v, want it reopened", err)
	}
	if _, err := e.svc.Transition(e.cwA, resolved.CaseNo, cases.TransitionInput{To: model.CaseInProgress}); err != nil {
		t.Errorf("Transition(resolved → in_progress at a full station) = %v, want it back in work", err)
	}
	if n := load(); n != 3 {
		t.Errorf("A's open load = %d, want 3 (both returning cases count)", n)
	}
	// Places free up only below the capacity: closing one of three leaves A full.
	e.mustTransition(t, e.cwA, busy, model.CaseClosed)
	_, err = e.svc.Assign(e.admin, fresh.CaseNo, e.stA.ID, "")
	wantCode(t, err, "station_full", "Assign(still full)")
	setCap(3)
	if _, err := e.svc.Assign(e.admin, fresh.CaseNo, e.stA.ID, ""); err != nil {
		t.Errorf("Assign(a place free) = %v", err)
	}
	// A station deactivated meanwhile takes no transfer (checked under the lock too).
	if _, err := e.svc.DeactivateStation(e.admin, e.stB.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Assign(e.admin, fresh.CaseNo, e.stB.ID, "调整")
	wantKind(t, err, model.ErrInvalid, "Assign(inactive station)")
}
