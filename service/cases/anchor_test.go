package cases_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/service/cases"
)

// TestAnchor: the anchor of a moment stays the same while the log only
// grows after it, leaves out cases that began later, and changes when a
// chain is rewritten consistently behind the service's back — a rewrite
// the chain check alone cannot see. On every dialect.
func TestAnchor(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env, raw *rawDB) {
		ctx := context.Background()
		a := e.mustSubmit(t, 800, intake(model.CaseDomesticViolence, false))
		at := e.clock.Now().Add(30 * time.Minute)
		e.clock.Add(time.Hour)
		b := e.mustSubmit(t, 801, intake(model.CaseEmployment, false))

		if _, err := e.svc.AnchorAt(e.cwA, at); err == nil {
			t.Errorf("AnchorAt as a caseworker = nil, want forbidden")
		}
		first, err := e.svc.AnchorAt(e.admin, at)
		if err != nil || first.Cases != 1 || len(first.Digest) != 64 {
			t.Fatalf("AnchorAt() = %+v, %v; want case a alone", first, err)
		}
		// The log grows: a is handled, b too. The anchor of at stays.
		e.clock.Add(time.Hour)
		a = e.mustTransition(t, e.admin, a, model.CaseAccepted)
		e.mustTransition(t, e.admin, b, model.CaseAccepted)
		again, err := e.svc.AnchorAt(e.admin, at)
		if err != nil || again != first {
			t.Errorf("AnchorAt() after later events = %+v, %v; want %+v", again, err, first)
		}
		now, err := e.svc.AnchorAt(e.admin, e.clock.Now())
		if err != nil || now.Cases != 2 || now.Digest == first.Digest {
			t.Errorf("AnchorAt(now) = %+v, %v; want both cases and another digest", now, err)
		}

		// Someone with database access changes who took a's first step
		// and rewrites the whole chain to match.
		evs, err := e.store.Events(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		prev := ""
		for i := range evs {
			if i == 0 {
				evs[i].ActorID += 1000
			}
			evs[i].PrevHash, evs[i].Hash = prev, evs[i].ChainHash(prev)
			prev = evs[i].Hash
			raw.exec(t, "UPDATE case_events SET actor_id = ?, prev_hash = ?, hash = ? WHERE case_id = ? AND seq = ?",
				evs[i].ActorID, evs[i].PrevHash, evs[i].Hash, a.ID, evs[i].Seq)
		}
		raw.exec(t, "UPDATE cases SET last_hash = ? WHERE id = ?", prev, a.ID)
		if r, err := e.svc.Verify(e.admin, a.CaseNo); err != nil || r.Problem != nil {
			t.Fatalf("Verify() after a consistent rewrite = %+v, %v; the chain alone should not see it", r.Problem, err)
		}
		if got, err := e.svc.AnchorAt(e.admin, at); err != nil || got.Digest == first.Digest {
			t.Errorf("AnchorAt() after the rewrite = %+v, %v; want another digest than %s", got, err, first.Digest)
		}
	})
}

// TestDailyAnchor: the daily job anchors the log at the last midnight
// (Asia/Shanghai), as AnchorAt would, and records it in the audit log.
func TestDailyAnchor(t *testing.T) {
	e := mustEnv(t)
	e.mustSubmit(t, 802, intake(model.CaseOther, false))
	e.clock.Add(30 * time.Hour) // past the next midnight
	a, err := cases.DailyAnchor(e.svc, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := e.clock.Now().In(time.FixedZone("CST", 8*3600)).Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	want, err := e.svc.AnchorAt(e.admin, midnight)
	if err != nil || a != want || a.Cases != 1 {
		t.Errorf("daily anchor = %+v, %v; want %+v with the one case", a, err, want)
	}
	if !slices.ContainsFunc(e.audit.Lines(), func(l string) bool { return l == "cases.anchor cases "+midnight.UTC().Format(time.RFC3339) }) {
		t.Errorf("audit = %v, want the anchor", e.audit.Lines())
	}
}
