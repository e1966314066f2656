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

// TestCapacityOnEveryPath: every change that puts a case back into a
// station's open load is refused at capacity, and allowed again when a
// place frees up; leaving the load is never refused.
func TestCapacityOnEveryPath(t *testing.T) {
	e := mustEnv(t)
	one := 1
	setCap := func(n int) {
		t.Helper()
		if _, err := e.svc.UpdateStation(e.admin, e.stA.ID, cases.StationInput{Capacity: &n}); err != nil {
			t.Fatal(err)
		}
	}
	closed := e.reach(t, model.CaseClosed)     // at A, not in its load
	resolved := e.reach(t, model.CaseResolved) // idem
	busy := e.reach(t, model.CaseInProgress)   // A's one open case
	setCap(one)

	_, err := e.svc.Transition(e.cwA, closed.CaseNo, cases.TransitionInput{To: model.CaseReopened, Note: "她又来电"})
	wantCode(t, err, "station_full", "Transition(reopen at a full station)")
	_, err = e.svc.Transition(e.cwA, resolved.CaseNo, cases.TransitionInput{To: model.CaseInProgress})
	wantCode(t, err, "station_full", "Transition(resolved → in_progress at a full station)")
	fresh := e.mustSubmit(t, 700, intake(model.CaseDomesticViolence, false))
	_, err = e.svc.Assign(e.admin, fresh.CaseNo, e.stA.ID, "")
	wantCode(t, err, "station_full", "Assign(full station)")
	for _, c := range []model.Case{closed, resolved, fresh} {
		after, _ := e.store.ByNo(context.Background(), c.CaseNo)
		if after.Status != c.Status || after.LastSeq != c.LastSeq {
			t.Errorf("refused %s: now %s seq %d, want %s seq %d", c.CaseNo, after.Status, after.LastSeq, c.Status, c.LastSeq)
		}
	}
	// Closing the open case frees the place: leaving the load always works.
	e.mustTransition(t, e.cwA, busy, model.CaseClosed)
	if _, err := e.svc.Transition(e.cwA, closed.CaseNo, cases.TransitionInput{To: model.CaseReopened, Note: "她又来电"}); err != nil {
		t.Errorf("Transition(reopen with a place free) = %v", err)
	}
	_, err = e.svc.Transition(e.cwA, resolved.CaseNo, cases.TransitionInput{To: model.CaseInProgress})
	wantCode(t, err, "station_full", "Transition(resolved → in_progress, the place taken again)")
	// Moves within the load (in_progress → resolved → closed) and a transfer
	// away need no place.
	setCap(0)
	if _, err := e.svc.Transition(e.cwA, resolved.CaseNo, cases.TransitionInput{To: model.CaseInProgress}); err != nil {
		t.Errorf("Transition(no capacity limit) = %v", err)
	}
	// A station deactivated meanwhile takes no transfer (checked under the lock too).
	if _, err := e.svc.DeactivateStation(e.admin, e.stB.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Assign(e.admin, fresh.CaseNo, e.stB.ID, "")
	wantKind(t, err, model.ErrInvalid, "Assign(inactive station)")
}
