package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

var caseT0 = time.Date(2026, 3, 9, 2, 0, 0, 0, time.UTC) // Monday 10:00 in Shanghai

var caseSeq int

func mustCase(tb testing.TB, cs *store.Cases, station int64, at time.Time) model.Case {
	tb.Helper()
	caseSeq++
	no := fmt.Sprintf("WQ20260309%013d", caseSeq)
	c := model.Case{CaseNo: no, UserID: 7, Channel: model.CaseChannelMP, Category: model.CaseDomesticViolence,
		District: "朝阳区", Status: model.CaseReceived, StationID: station, NameSealed: "sealed-name", ReceivedAt: at,
		FirstResponseDue: at.Add(48 * time.Hour), CloseDue: at.Add(30 * 24 * time.Hour)}
	got, evs, err := cs.Create(context.Background(), c, []model.CaseEvent{{
		Seq: 1, Kind: model.EventIntake, ActorKind: model.ActorOwner, ToStatus: model.CaseReceived, Visible: true,
		BodySealed: "v1.x.body", Meta: map[string]string{"category": string(c.Category)}, At: at,
	}})
	if err != nil {
		tb.Fatalf("Create() = %v", err)
	}
	if got.LastSeq != 1 || got.LastHash != evs[0].Hash || evs[0].PrevHash != "" || evs[0].BodyDigest == "" {
		tb.Fatalf("Create() head = %d %q, event %+v", got.LastSeq, got.LastHash, evs[0])
	}
	return got
}

func mustVerify(tb testing.TB, cs *store.Cases, no string) *model.ChainProblem {
	tb.Helper()
	c, err := cs.ByNo(context.Background(), no)
	if err != nil {
		tb.Fatalf("ByNo() = %v", err)
	}
	evs, err := cs.Events(context.Background(), c.ID)
	if err != nil {
		tb.Fatalf("Events() = %v", err)
	}
	return model.VerifyChain(c, evs)
}

func note(c *model.Case, i int, at time.Time) model.CaseEvent {
	return model.CaseEvent{Seq: c.LastSeq + 1 + i, Kind: model.EventNote, ActorKind: model.ActorStaff, ActorID: 3,
		BodySealed: fmt.Sprintf("v1.x.note%d", c.LastSeq+i), At: at}
}

func TestCaseUpdateChainsEventsUnderConcurrency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCases(db)
		ctx := context.Background()
		c := mustCase(t, cs, 0, caseT0)
		const n = 24
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, _, errs[i] = cs.Update(ctx, c.CaseNo, func(c *model.Case) ([]model.CaseEvent, error) {
					return []model.CaseEvent{note(c, 0, caseT0.Add(time.Minute))}, nil
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Update #%d = %v", i, err)
			}
		}
		got, err := cs.ByNo(ctx, c.CaseNo)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastSeq != n+1 {
			t.Errorf("LastSeq = %d, want %d", got.LastSeq, n+1)
		}
		if p := mustVerify(t, cs, c.CaseNo); p != nil {
			t.Errorf("VerifyChain after %d concurrent updates = %+v, want ok", n, p)
		}
	})
}

func TestCaseUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCases(db)
		ctx := context.Background()
		c := mustCase(t, cs, 0, caseT0)

		// fn's error rolls everything back.
		boom := errors.New("boom")
		_, _, err := cs.Update(ctx, c.CaseNo, func(c *model.Case) ([]model.CaseEvent, error) {
			c.Status = model.CaseAccepted
			return nil, boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update(fn error) = %v, want boom", err)
		}
		// A status change must be carried by an event.
		_, _, err = cs.Update(ctx, c.CaseNo, func(c *model.Case) ([]model.CaseEvent, error) {
			c.Status = model.CaseAccepted
			return []model.CaseEvent{note(c, 0, caseT0)}, nil
		})
		if err == nil {
			t.Fatal("Update(status without event) = nil, want an error")
		}
		// A wrong seq is refused.
		_, _, err = cs.Update(ctx, c.CaseNo, func(c *model.Case) ([]model.CaseEvent, error) {
			return []model.CaseEvent{note(c, 5, caseT0)}, nil
		})
		if err == nil {
			t.Fatal("Update(seq gap) = nil, want an error")
		}
		st, err := cs.CreateStation(ctx, model.Station{Name: "站", Kind: "law_firm", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		toStation := fmt.Sprint(st.ID)
		got, evs, err := cs.Update(ctx, c.CaseNo, func(c *model.Case) ([]model.CaseEvent, error) {
			c.Status, c.StationID, c.WaitingUser, c.WaitingSince = model.CaseAssigned, st.ID, true, caseT0
			return []model.CaseEvent{
				{Seq: c.LastSeq + 1, Kind: model.EventAssign, ActorKind: model.ActorStaff, ActorID: 3, FromStatus: model.CaseReceived,
					ToStatus: model.CaseAssigned, Visible: true, At: caseT0, Meta: map[string]string{"to_station": toStation}},
				note(c, 1, caseT0),
			}, nil
		})
		if err != nil {
			t.Fatalf("Update() = %v", err)
		}
		if got.Status != model.CaseAssigned || got.StationID != st.ID || !got.WaitingUser || !got.WaitingSince.Equal(caseT0) || got.LastSeq != 3 {
			t.Errorf("Update() = %+v", got)
		}
		if evs[0].StationID != st.ID || evs[0].PrevHash != c.LastHash || evs[1].PrevHash != evs[0].Hash {
			t.Errorf("events = %+v, want chained, station %d", evs, st.ID)
		}
		stored, err := cs.Events(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"to_station": toStation}, stored[1].Meta); diff != "" {
			t.Errorf("stored meta (-want +got):\n%s", diff)
		}
		if _, _, err := cs.Update(ctx, "WQ20260309NOSUCHCASE000", func(*model.Case) ([]model.CaseEvent, error) { return nil, nil }); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("Update(unknown) = %v, want ErrNotFound", err)
		}
		if _, _, err := cs.Create(ctx, model.Case{CaseNo: c.CaseNo, Status: model.CaseReceived}, []model.CaseEvent{{Seq: 1,
			Kind: model.EventIntake, ToStatus: model.CaseReceived, At: caseT0}}); !errors.Is(err, model.ErrConflict) {
			t.Errorf("Create(taken number) = %v, want ErrConflict", err)
		}
	})
}

// TestCaseChainDetectsDirectEdits edits the database behind the store's
// back, as someone with database access would, and expects the chain to
// name the first broken event.
func TestCaseChainDetectsDirectEdits(t *testing.T) {
	tests := []struct {
		name       string
		sql        string
		wantSeq    int
		wantReason string
	}{
		{"meta rewritten", "UPDATE case_events SET meta = '{\"category\":\"other\"}' WHERE case_id = ? AND seq = 1", 1, "hash_mismatch"},
		{"time moved", "UPDATE case_events SET occurred_at = occurred_at - INTERVAL '1' DAY WHERE case_id = ? AND seq = 2", 2, "hash_mismatch"},
		{"body swapped", "UPDATE case_events SET body_sealed = 'v1.x.forged' WHERE case_id = ? AND seq = 3", 3, "body_digest_mismatch"},
		{"event deleted", "DELETE FROM case_events WHERE case_id = ? AND seq = 2", 2, "seq_gap"},
		{"tail deleted", "DELETE FROM case_events WHERE case_id = ? AND seq = 4", 4, "head_mismatch"},
		{"status forged", "UPDATE cases SET status = 'closed' WHERE id = ?", 4, "status_mismatch"},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCases(db)
		ctx := context.Background()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := mustCase(t, cs, 0, caseT0)
				for i := range 3 {
					_, _, err := cs.Update(ctx, c.CaseNo, func(c *model.Case) ([]model.CaseEvent, error) {
						return []model.CaseEvent{note(c, 0, caseT0.Add(time.Duration(i+1)*time.Hour))}, nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				if p := mustVerify(t, cs, c.CaseNo); p != nil {
					t.Fatalf("VerifyChain before the edit = %+v", p)
				}
				sql := tt.sql
				if db.Driver() == "sqlite" {
					sql = replaceInterval(sql)
				}
				if err := store.GormForTest(db).Exec(sql, c.ID).Error; err != nil {
					t.Fatalf("edit: %v", err)
				}
				p := mustVerify(t, cs, c.CaseNo)
				if p == nil || p.Seq != tt.wantSeq || p.Reason != tt.wantReason {
					t.Errorf("VerifyChain after %s = %+v, want seq %d %s", tt.name, p, tt.wantSeq, tt.wantReason)
				}
			})
		}
	})
}

// replaceInterval turns the SQL-standard interval arithmetic of the test
// edits into SQLite's datetime().
func replaceInterval(sql string) string {
	const std = "occurred_at - INTERVAL '1' DAY"
	return strings.Replace(sql, std, "datetime(occurred_at, '-1 day')", 1)
}

func TestCaseQueries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCases(db)
		ctx := context.Background()
		a := mustCase(t, cs, 1, caseT0)
		b := mustCase(t, cs, 1, caseT0.Add(time.Hour))
		c := mustCase(t, cs, 2, caseT0.Add(2*time.Hour))
		// Close c long ago, put a notice pending on b.
		_, _, err := cs.Update(ctx, c.CaseNo, func(x *model.Case) ([]model.CaseEvent, error) {
			x.Status, x.ClosedAt, x.Outcome = model.CaseClosed, caseT0.Add(3*time.Hour), model.OutcomeResolved
			return []model.CaseEvent{{Seq: x.LastSeq + 1, Kind: model.EventStatus, ActorKind: model.ActorStaff, FromStatus: model.CaseReceived,
				ToStatus: model.CaseClosed, At: caseT0.Add(3 * time.Hour), Meta: map[string]string{"outcome": "resolved"}}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = cs.Update(ctx, b.CaseNo, func(x *model.Case) ([]model.CaseEvent, error) {
			x.NoticeSeq = x.LastSeq + 1
			return []model.CaseEvent{{Seq: x.LastSeq + 1, Kind: model.EventReply, ActorKind: model.ActorStaff, Visible: true,
				BodySealed: "v1.x.reply", At: caseT0.Add(4 * time.Hour)}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}

		page, next, err := cs.List(ctx, model.CaseFilter{StationID: 1}, model.Page{Limit: 1})
		if err != nil || len(page) != 1 || page[0].CaseNo != b.CaseNo || next == "" {
			t.Fatalf("List(station 1, limit 1) = %v, %q, %v", page, next, err)
		}
		page, next, err = cs.List(ctx, model.CaseFilter{StationID: 1}, model.Page{Limit: 1, Cursor: next})
		if err != nil || len(page) != 1 || page[0].CaseNo != a.CaseNo || next != "" {
			t.Fatalf("List(page 2) = %v, %q, %v", page, next, err)
		}
		open, _, err := cs.List(ctx, model.CaseFilter{OpenOnly: true, UserID: 7}, model.Page{})
		if err != nil || len(open) != 2 {
			t.Errorf("List(open) = %d cases, %v, want 2", len(open), err)
		}
		if _, _, err := cs.List(ctx, model.CaseFilter{}, model.Page{Cursor: "%%"}); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("List(bad cursor) = %v, want ErrInvalid", err)
		}

		loads, err := cs.StationLoads(ctx)
		if err != nil || !cmp.Equal(loads, map[int64]int{1: 2}) {
			t.Errorf("StationLoads() = %v, %v, want {1:2}", loads, err)
		}
		cands, err := cs.SLACandidates(ctx, caseT0.Add(49*time.Hour), 0, 10)
		if err != nil || len(cands) != 2 {
			t.Errorf("SLACandidates(+49h) = %d, %v, want the two open cases", len(cands), err)
		}
		if cands, _ := cs.SLACandidates(ctx, caseT0.Add(47*time.Hour), 0, 10); len(cands) != 0 {
			t.Errorf("SLACandidates(+47h) = %d, want none due", len(cands))
		}
		pend, err := cs.PendingNotices(ctx, 0, 10)
		if err != nil || len(pend) != 1 || pend[0].ID != b.ID {
			t.Fatalf("PendingNotices() = %v, %v, want b", pend, err)
		}
		if err := cs.MarkNotified(ctx, b.ID, pend[0].NoticeSeq); err != nil {
			t.Fatal(err)
		}
		if err := cs.MarkNotified(ctx, b.ID, 1); err != nil { // never backwards
			t.Fatal(err)
		}
		if pend, _ := cs.PendingNotices(ctx, 0, 10); len(pend) != 0 {
			t.Errorf("PendingNotices() after MarkNotified = %d, want 0", len(pend))
		}
		closed, err := cs.ClosedBefore(ctx, caseT0.Add(4*time.Hour), 10)
		if err != nil || len(closed) != 1 || closed[0].ID != c.ID {
			t.Errorf("ClosedBefore() = %v, %v, want c", closed, err)
		}
		if n, err := cs.ClearEventBodies(ctx, c.ID); err != nil || n != 1 {
			t.Errorf("ClearEventBodies() = %d, %v, want 1", n, err)
		}
		if p := mustVerify(t, cs, c.CaseNo); p != nil {
			t.Errorf("VerifyChain after clearing bodies = %+v, want ok (digests stay)", p)
		}

		recv, err := cs.ReceivedEvents(ctx, caseT0, caseT0.Add(90*time.Minute), caseT0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range recv {
			got = append(got, fmt.Sprintf("%d:%d:%s", e.CaseID, e.Seq, e.Kind))
			if e.BodySealed != "" {
				t.Errorf("ReceivedEvents() carries a body")
			}
		}
		want := []string{fmt.Sprintf("%d:1:intake", a.ID), fmt.Sprintf("%d:1:intake", b.ID), fmt.Sprintf("%d:2:reply", b.ID)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ReceivedEvents() (-want +got):\n%s", diff)
		}
		st, err := cs.EventsBetween(ctx, []model.CaseEventKind{model.EventStatus}, caseT0, caseT0.Add(24*time.Hour))
		if err != nil || len(st) != 1 || st[0].Meta["outcome"] != "resolved" {
			t.Errorf("EventsBetween(status) = %+v, %v", st, err)
		}
		if n, err := cs.CountEventsSince(ctx, b.ID, model.EventReply, caseT0); err != nil || n != 1 {
			t.Errorf("CountEventsSince() = %d, %v, want 1", n, err)
		}
		if n, err := cs.CountIntakeSince(ctx, 7, caseT0.Add(30*time.Minute)); err != nil || n != 2 {
			t.Errorf("CountIntakeSince() = %d, %v, want 2", n, err)
		}
		ids, err := cs.CaseIDs(ctx, a.ID, 10)
		if err != nil || !cmp.Equal(ids, []int64{b.ID, c.ID}) {
			t.Errorf("CaseIDs(after a) = %v, %v", ids, err)
		}
	})
}

func TestStationsAndAccessLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCases(db)
		ctx := context.Background()
		st, err := cs.CreateStation(ctx, model.Station{Name: "朝阳法律援助站", Kind: "legal_aid",
			Categories: []model.CaseCategory{model.CaseDomesticViolence, model.CaseMarriageFamily}, Districts: []string{"朝阳区"},
			Capacity: 5, DutyStaffIDs: []int64{3, 4}, Phone: "010-12345678", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		st.Active, st.Districts, st.DutyStaffIDs = false, nil, nil
		got, err := cs.UpdateStation(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		want := model.Station{ID: st.ID, Name: "朝阳法律援助站", Kind: "legal_aid",
			Categories: []model.CaseCategory{model.CaseDomesticViolence, model.CaseMarriageFamily}, Districts: []string{},
			Capacity: 5, DutyStaffIDs: []int64{}, Phone: "010-12345678"}
		got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("UpdateStation() (-want +got):\n%s", diff)
		}
		if all, _ := cs.Stations(ctx, true); len(all) != 0 {
			t.Errorf("Stations(active) = %v, want none", all)
		}
		if _, err := cs.StationByID(ctx, 999); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("StationByID(999) = %v, want ErrNotFound", err)
		}

		c := mustCase(t, cs, 0, caseT0)
		for i, action := range []string{"view", "reveal", "view"} {
			if err := cs.AddAccess(ctx, model.CaseAccess{CaseID: c.ID, StaffID: int64(i + 1), Username: "cw", Action: action,
				Fields: "name,phone", Reason: "回电", At: caseT0}); err != nil {
				t.Fatal(err)
			}
		}
		log, next, err := cs.AccessLog(ctx, c.ID, model.Page{Limit: 2})
		if err != nil || len(log) != 2 || log[0].StaffID != 3 || log[1].Action != "reveal" || next == "" {
			t.Fatalf("AccessLog() = %+v, %q, %v", log, next, err)
		}
		log, next, err = cs.AccessLog(ctx, c.ID, model.Page{Limit: 2, Cursor: next})
		if err != nil || len(log) != 1 || log[0].StaffID != 1 || next != "" {
			t.Errorf("AccessLog(page 2) = %+v, %q, %v", log, next, err)
		}
	})
}

// TestCaseUpdateClaimsStation: a move of a case into a station's open
// load is refused at the station's capacity (station_full), one to an
// unknown or inactive station is invalid; a case coming back into the
// load of its own station (reopened, resolved taken back into work) and
// changes that add no load pass whatever the load.
func TestCaseUpdateClaimsStation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCases(db)
		ctx := context.Background()
		full, err := cs.CreateStation(ctx, model.Station{Name: "满", Kind: "law_firm", Capacity: 1, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		off, err := cs.CreateStation(ctx, model.Station{Name: "停", Kind: "law_firm", Active: false})
		if err != nil {
			t.Fatal(err)
		}
		mustCase(t, cs, full.ID, caseT0) // received at the full station: its one open case
		move := func(c model.Case, station int64, to model.CaseStatus) error {
			_, _, err := cs.Update(ctx, c.CaseNo, func(x *model.Case) ([]model.CaseEvent, error) {
				e := note(x, 0, caseT0)
				if to != x.Status {
					e = model.CaseEvent{Seq: x.LastSeq + 1, Kind: model.EventStatus, ActorKind: model.ActorStaff, FromStatus: x.Status,
						ToStatus: to, At: caseT0}
				}
				x.StationID, x.Status = station, to
				return []model.CaseEvent{e}, nil
			})
			return err
		}
		tests := []struct {
			name     string
			station  int64 // where the case is
			status   model.CaseStatus
			toSt     int64
			to       model.CaseStatus
			wantCode string // "" for accepted
		}{
			{"assign to the full station", 0, model.CaseReceived, full.ID, model.CaseAssigned, "station_full"},
			{"reopen at the full station", full.ID, model.CaseClosed, full.ID, model.CaseReopened, ""},
			{"resolved back into work", full.ID, model.CaseResolved, full.ID, model.CaseInProgress, ""},
			{"transfer into the full station", off.ID, model.CaseInProgress, full.ID, model.CaseAssigned, "station_full"},
			{"to an inactive station", 0, model.CaseReceived, off.ID, model.CaseAssigned, "invalid"},
			{"to no such station", 0, model.CaseReceived, 999999, model.CaseAssigned, "invalid"},
			{"closing at the full station", full.ID, model.CaseResolved, full.ID, model.CaseClosed, ""},
			{"a note on a resolved case", full.ID, model.CaseResolved, full.ID, model.CaseResolved, ""},
			{"reopening unassigned", 0, model.CaseClosed, 0, model.CaseReopened, ""},
			{"already in the load", full.ID, model.CaseAccepted, full.ID, model.CaseInProgress, ""},
		}
		for _, tt := range tests {
			c := mustCase(t, cs, tt.station, caseT0)
			if tt.status != model.CaseReceived {
				// Created received (open) where it is: setting the status adds no load.
				c, _, err = cs.Update(ctx, c.CaseNo, func(x *model.Case) ([]model.CaseEvent, error) {
					x.Status = tt.status
					return []model.CaseEvent{{Seq: x.LastSeq + 1, Kind: model.EventStatus, ActorKind: model.ActorStaff,
						FromStatus: model.CaseReceived, ToStatus: tt.status, At: caseT0}}, nil
				})
				if err != nil {
					t.Fatalf("%s: setting up = %v", tt.name, err)
				}
			}
			err := move(c, tt.toSt, tt.to)
			var me *model.Error
			switch {
			case tt.wantCode == "" && err != nil:
				t.Errorf("%s: Update() = %v, want it accepted", tt.name, err)
			case tt.wantCode != "" && (!errors.As(err, &me) || me.Code != tt.wantCode):
				t.Errorf("%s: Update() = %v, want %s", tt.name, err, tt.wantCode)
			}
			if tt.wantCode != "" {
				after, _ := cs.ByNo(ctx, c.CaseNo)
				if after.LastSeq != c.LastSeq || after.Status != c.Status {
					t.Errorf("%s: refused, but the case went to %s seq %d", tt.name, after.Status, after.LastSeq)
				}
			}
		}
	})
}
