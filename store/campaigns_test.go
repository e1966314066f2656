package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

var campT0 = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

func mustCampaign(tb testing.TB, cs *store.Campaigns, perDay, perNom int) model.Campaign {
	tb.Helper()
	c, err := cs.CreateCampaign(context.Background(), model.Campaign{
		Title: "2026年度最美家庭", Description: "德润万家", Categories: model.DefaultCampaignCategories(),
		NominateFrom: campT0, NominateTo: campT0.Add(10 * 24 * time.Hour), ReviewFrom: campT0, ReviewTo: campT0.Add(20 * 24 * time.Hour),
		VoteFrom: campT0.Add(12 * 24 * time.Hour), VoteTo: campT0.Add(20 * 24 * time.Hour), ResultsAt: campT0.Add(21 * 24 * time.Hour),
		VotesPerDay: perDay, PerNominationDaily: perNom, CreatedBy: 1,
	})
	if err != nil {
		tb.Fatalf("CreateCampaign() = %v", err)
	}
	return c
}

func mustNomination(tb testing.TB, cs *store.Campaigns, c model.Campaign, user int64, cat string, approve bool) model.Nomination {
	tb.Helper()
	ctx := context.Background()
	n, err := cs.CreateNomination(ctx, model.Nomination{
		CampaignID: c.ID, Category: cat, FamilyName: fmt.Sprintf("王家%d", user), Story: "三代同堂，邻里和睦。", UserID: user,
		ConsentAt: campT0, TextSuggest: model.SuggestPass, TextLabel: 100,
		Photos: []model.NominationPhoto{{UploadID: user*10 + 1, Key: fmt.Sprintf("k/%d/a.jpg", user)}},
	})
	if err != nil {
		tb.Fatalf("CreateNomination() = %v", err)
	}
	if approve {
		_, n, err = cs.Review(ctx, n.ID, model.ReviewDecision{Approve: true, StaffID: 9, At: campT0.Add(time.Duration(n.ID) * time.Minute)})
		if err != nil {
			tb.Fatalf("Review(approve) = %v", err)
		}
	}
	return n
}

func vote(c model.Campaign, n model.Nomination, voter int64, day int) model.VoteAttempt {
	return model.VoteAttempt{CampaignID: c.ID, NominationID: n.ID, Category: n.Category, VoterID: voter, Day: day,
		Limit: c.VotesPerDay, NLimit: c.PerNominationDaily, IPHash: "ip1", DeviceHash: "dev1", At: campT0.Add(13 * 24 * time.Hour)}
}

func TestCampaignRoundTripAndEdit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCampaigns(db)
		ctx := context.Background()
		c := mustCampaign(t, cs, 3, 1)
		got, err := cs.Campaign(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("Campaign() (-create +read):\n%s", diff)
		}
		if len(got.Categories) != 8 || got.Categories[0].Name != "最美母亲" || got.Categories[0].Quota != 10 {
			t.Errorf("categories = %+v", got.Categories)
		}
		mustNomination(t, cs, c, 7, "best_mother", false)
		c.Categories = c.Categories[1:]
		if _, err := cs.UpdateCampaign(ctx, c); code(err) != "category_in_use" {
			t.Errorf("UpdateCampaign(drop used category) = %v, want category_in_use", err)
		}
		c.Categories = append(model.DefaultCampaignCategories()[:1], model.CampaignCategory{Code: "new_era", Name: "新时代好家风", Quota: 3})
		c.Title = "改名"
		got, err = cs.UpdateCampaign(ctx, c)
		if err != nil || got.Title != "改名" || len(got.Categories) != 2 || got.Categories[1].Code != "new_era" {
			t.Errorf("UpdateCampaign() = %+v, %v", got, err)
		}
		if _, err := cs.Campaign(ctx, c.ID+100); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("Campaign(unknown) = %v, want ErrNotFound", err)
		}
	})
}

func code(err error) string {
	var me *model.Error
	if errors.As(err, &me) {
		return me.Code
	}
	return ""
}

func TestNominationEditReviewAndGallery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCampaigns(db)
		ctx := context.Background()
		c := mustCampaign(t, cs, 3, 1)
		n := mustNomination(t, cs, c, 7, "best_mother", false)
		// The photo's check is submitted and comes back.
		if err := cs.SetPhotoTrace(ctx, n.Photos[0].ID, "trace-A", campT0); err != nil {
			t.Fatal(err)
		}
		if id, found, err := cs.RecordPhotoCheck(ctx, "trace-A", model.SuggestPass, 100, campT0); err != nil || !found || id != n.ID {
			t.Fatalf("RecordPhotoCheck() = %d, %v, %v", id, found, err)
		}
		if _, found, _ := cs.RecordPhotoCheck(ctx, "trace-unknown", model.SuggestRisky, 20002, campT0); found {
			t.Error("RecordPhotoCheck(unknown trace) found a photo")
		}
		// Edit: someone else cannot; the owner can, the kept photo keeps its check.
		edit := n
		edit.Story, edit.Photos = "改过的故事", append(n.Photos, model.NominationPhoto{UploadID: 99, Key: "k/99.jpg"})
		if _, err := cs.EditNomination(ctx, edit, 8); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("EditNomination(other user) = %v, want ErrNotFound", err)
		}
		got, err := cs.EditNomination(ctx, edit, 7)
		if err != nil {
			t.Fatal(err)
		}
		if got.Story != "改过的故事" || len(got.Photos) != 2 || got.Photos[0].Suggest != model.SuggestPass || got.Photos[1].Suggest != "" {
			t.Errorf("EditNomination() = %+v", got)
		}
		if v := got.MachineVerdict(); v != model.VerdictPending {
			t.Errorf("MachineVerdict() = %q, want pending (second photo unchecked)", v)
		}
		toSubmit, err := cs.PhotosToSubmit(ctx, n.ID)
		if err != nil || len(toSubmit) != 1 || toSubmit[0].UploadID != 99 {
			t.Errorf("PhotosToSubmit() = %+v, %v", toSubmit, err)
		}
		// A check that never came back is submitted again, a bounded number of times.
		if err := cs.SetPhotoTrace(ctx, toSubmit[0].ID, "trace-B", campT0); err != nil {
			t.Fatal(err)
		}
		stale, err := cs.StalePhotoChecks(ctx, campT0.Add(time.Hour), 3)
		if err != nil || !cmp.Equal(stale, []int64{n.ID}) {
			t.Errorf("StalePhotoChecks() = %v, %v", stale, err)
		}
		if again, _ := cs.PhotosToSubmit(ctx, n.ID); len(again) != 1 || again[0].Attempts != 1 {
			t.Errorf("after StalePhotoChecks, PhotosToSubmit() = %+v", again)
		}

		// Review: a validation hook can refuse; approve once; reject takes down.
		refuse := errors.New("refused")
		if _, _, err := cs.Review(ctx, n.ID, model.ReviewDecision{Approve: true, StaffID: 9, At: campT0,
			Validate: func(model.Nomination) error { return refuse }}); !errors.Is(err, refuse) {
			t.Errorf("Review(validate fails) = %v", err)
		}
		_, after, err := cs.Review(ctx, n.ID, model.ReviewDecision{Approve: true, StaffID: 9, At: campT0})
		if err != nil || after.Status != model.NominationApproved || after.ApprovedAt.IsZero() {
			t.Fatalf("Review(approve) = %+v, %v", after, err)
		}
		if _, _, err := cs.Review(ctx, n.ID, model.ReviewDecision{Approve: true, StaffID: 9, At: campT0}); code(err) != "already_reviewed" {
			t.Errorf("Review(approve twice) = %v", err)
		}
		if _, err := cs.EditNomination(ctx, edit, 7); code(err) != "not_pending" {
			t.Errorf("EditNomination(approved) = %v, want not_pending", err)
		}

		// Gallery: approved only, by votes and by recency, keyset pages.
		var approved []model.Nomination
		for i := range 5 {
			approved = append(approved, mustNomination(t, cs, c, int64(20+i), "green_family", true))
		}
		mustNomination(t, cs, c, 30, "green_family", false) // pending: never in the gallery
		for i, a := range approved {
			for v := range i {
				if out := cs.RecordVotes(ctx, []model.VoteAttempt{vote(c, a, int64(100+i*10+v), 20260514)}); !out[0].Accepted {
					t.Fatalf("RecordVotes() = %+v", out)
				}
			}
		}
		var ids []int64
		cursor := ""
		for page := 0; ; page++ {
			items, next, err := cs.Gallery(ctx, model.GalleryQuery{CampaignID: c.ID, Category: "green_family", Sort: model.SortVotes, Cursor: cursor, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				ids = append(ids, it.ID)
			}
			if next == "" {
				break
			}
			cursor = next
			if page > 5 {
				t.Fatal("gallery does not end")
			}
		}
		want := []int64{approved[4].ID, approved[3].ID, approved[2].ID, approved[1].ID, approved[0].ID}
		if !cmp.Equal(ids, want) {
			t.Errorf("gallery by votes = %v, want %v", ids, want)
		}
		items, next, err := cs.Gallery(ctx, model.GalleryQuery{CampaignID: c.ID, Sort: model.SortRecent, Limit: 3})
		if err != nil || len(items) != 3 || items[0].ID != approved[4].ID || next == "" {
			t.Fatalf("gallery recent = %v, %q, %v", items, next, err)
		}
		rest, _, err := cs.Gallery(ctx, model.GalleryQuery{CampaignID: c.ID, Sort: model.SortRecent, Cursor: next, Limit: 10})
		if err != nil || len(rest) != 3 || rest[2].ID != n.ID {
			t.Errorf("gallery recent page 2 = %v, %v", rest, err)
		}
		if _, _, err := cs.Gallery(ctx, model.GalleryQuery{CampaignID: c.ID, Sort: model.SortVotes, Cursor: next}); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("gallery with another sort's cursor = %v, want ErrInvalid", err)
		}

		// Share code: stored once.
		k, first, err := cs.SetShareCode(ctx, n.ID, "codes/a.jpg")
		if err != nil || !first || k != "codes/a.jpg" {
			t.Errorf("SetShareCode() = %q, %v, %v", k, first, err)
		}
		if k, first, err := cs.SetShareCode(ctx, n.ID, "codes/b.jpg"); err != nil || first || k != "codes/a.jpg" {
			t.Errorf("SetShareCode(again) = %q, %v, %v, want the first key", k, first, err)
		}
		// Take-down.
		if _, after, err := cs.Review(ctx, n.ID, model.ReviewDecision{Reason: "重复推荐", StaffID: 9, At: campT0}); err != nil ||
			after.Status != model.NominationRejected || after.RejectReason != "重复推荐" {
			t.Errorf("Review(reject approved) = %+v, %v", after, err)
		}
		mine, _, err := cs.NominationsByUser(ctx, 7, model.Page{})
		if err != nil || len(mine) != 1 || mine[0].Status != model.NominationRejected {
			t.Errorf("NominationsByUser() = %+v, %v", mine, err)
		}
	})
}

// TestVoteLimitsUnderConcurrency: 200 concurrent votes by one voter with a
// limit of 3 a day (1 per nomination) over 5 nominations record exactly 3,
// on every database, whether each vote is its own batch or votes share
// batches, and whatever (wrong) hints they carry.
func TestVoteLimitsUnderConcurrency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCampaigns(db)
		ctx := context.Background()
		c := mustCampaign(t, cs, 3, 1)
		var noms []model.Nomination
		for i := range 5 {
			noms = append(noms, mustNomination(t, cs, c, int64(50+i), "best_mother", true))
		}
		const n = 200
		accepted := make([]model.VoteOutcome, 0, n)
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 20 {
			wg.Go(func() {
				<-start
				batch := make([]model.VoteAttempt, n/20)
				for i := range batch {
					batch[i] = vote(c, noms[(g+i)%len(noms)], 1000, 20260514)
				}
				for _, o := range cs.RecordVotes(ctx, batch) {
					if o.Err != nil {
						t.Errorf("RecordVotes() error = %v", o.Err)
					}
					if o.Accepted {
						mu.Lock()
						accepted = append(accepted, o)
						mu.Unlock()
					}
				}
			})
		}
		close(start)
		wg.Wait()
		if len(accepted) != 3 {
			t.Fatalf("accepted %d votes, want exactly 3", len(accepted))
		}
		slots, err := cs.VoterDay(ctx, c.ID, 1000, 20260514)
		if err != nil || len(slots) != 3 {
			t.Fatalf("VoterDay() = %v, %v", slots, err)
		}
		perNom := map[int64]int{}
		seen := map[int]bool{}
		for _, s := range slots {
			perNom[s.NominationID]++
			seen[s.Slot] = true
		}
		for id, k := range perNom {
			if k > 1 {
				t.Errorf("nomination %d got %d votes from one voter in a day, limit 1", id, k)
			}
		}
		if !seen[1] || !seen[2] || !seen[3] {
			t.Errorf("slots %v, want 1..3", slots)
		}
		// The next day the voter may vote again; hints that are plain
		// wrong (all slots marked taken by a stale cache) only cost a
		// refusal, never an extra vote.
		if o := cs.RecordVotes(ctx, []model.VoteAttempt{vote(c, noms[0], 1000, 20260515)}); !o[0].Accepted || o[0].Slot != 1 {
			t.Errorf("next day vote = %+v", o[0])
		}
		wrong := vote(c, noms[1], 1000, 20260515)
		wrong.UsedSlots = 1 // claims slot 1 is taken (it is): fine
		if o := cs.RecordVotes(ctx, []model.VoteAttempt{wrong}); !o[0].Accepted || o[0].Slot != 2 {
			t.Errorf("vote with a right hint = %+v", o[0])
		}
		// Counts follow the ledger.
		counts, err := cs.VoteCounts(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, x := range counts {
			total += x.Votes
		}
		if total != 5 {
			t.Errorf("sum of counts = %d, want 5", total)
		}
	})
}

func TestVoteBatchAssignsSlotsAndFallsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCampaigns(db)
		ctx := context.Background()
		c := mustCampaign(t, cs, 2, 2)
		a := mustNomination(t, cs, c, 1, "best_mother", true)
		b := mustNomination(t, cs, c, 2, "best_mother", true)
		tests := []struct {
			name  string
			votes []model.VoteAttempt
			want  []bool
		}{
			{"one batch: two slots, third refused", []model.VoteAttempt{vote(c, a, 1, 1), vote(c, a, 1, 1), vote(c, b, 1, 1)},
				[]bool{true, true, false}},
			{"a stale hint falls back to the ledger", []model.VoteAttempt{vote(c, b, 1, 1)}, []bool{false}},
			{"other voters are independent", []model.VoteAttempt{vote(c, a, 2, 1), vote(c, b, 3, 1), vote(c, a, 2, 1)},
				[]bool{true, true, true}},
			{"conflicting batch: each row on its own", []model.VoteAttempt{vote(c, b, 2, 1), vote(c, a, 3, 1), vote(c, a, 3, 1)},
				[]bool{false, true, false}},
		}
		for _, tt := range tests {
			out := cs.RecordVotes(ctx, tt.votes)
			got := make([]bool, len(out))
			for i, o := range out {
				if o.Err != nil {
					t.Fatalf("%s: outcome %d error %v", tt.name, i, o.Err)
				}
				got[i] = o.Accepted
			}
			if !cmp.Equal(got, tt.want) {
				t.Errorf("%s: accepted %v, want %v", tt.name, got, tt.want)
			}
		}
		counts, _ := cs.VoteCounts(ctx, c.ID)
		byID := map[int64]int64{}
		for _, x := range counts {
			byID[x.NominationID] = x.Votes
		}
		if byID[a.ID] != 5 || byID[b.ID] != 1 {
			t.Errorf("counts = %v, want a 5, b 1", byID)
		}
	})
}

func TestVoidRecountLedgerAndIntegrity(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCampaigns(db)
		ctx := context.Background()
		c := mustCampaign(t, cs, 5, 1)
		a := mustNomination(t, cs, c, 1, "best_mother", true)
		b := mustNomination(t, cs, c, 2, "green_family", true)
		night := time.Date(2026, 5, 13, 18, 30, 0, 0, time.UTC) // 02:30 in Shanghai
		var batch []model.VoteAttempt
		for v := range int64(12) {
			x := vote(c, a, 100+v, 20260514)
			x.At, x.IPHash = night, "ipX"
			batch = append(batch, x)
		}
		users := store.NewUsers(db)
		for v := range 3 {
			u, err := users.UpsertUserByOpenID(ctx, fmt.Sprintf("o_fresh_%d", v), "")
			if err != nil {
				t.Fatal(err)
			}
			x := vote(c, b, u.ID, 20260514)
			x.At, x.IPHash = time.Now(), "ipY"
			batch = append(batch, x)
		}
		for _, o := range cs.RecordVotes(ctx, batch) {
			if !o.Accepted {
				t.Fatalf("RecordVotes() = %+v", o)
			}
		}
		tot, err := cs.Totals(ctx, c.ID)
		if err != nil || tot.Total != 15 || tot.Voided != 0 || tot.Voters != 15 {
			t.Fatalf("Totals() = %+v, %v", tot, err)
		}
		bursts, err := cs.Bursts(ctx, c.ID, "nomination", 10)
		if err != nil || len(bursts) != 1 || bursts[0].Key != fmt.Sprint(a.ID) || bursts[0].Votes != 12 {
			t.Errorf("Bursts(nomination) = %+v, %v", bursts, err)
		}
		if ipb, err := cs.Bursts(ctx, c.ID, "ip", 10); err != nil || len(ipb) != 1 || ipb[0].Key != "ipX" {
			t.Errorf("Bursts(ip) = %+v, %v", ipb, err)
		}
		odd, err := cs.OddHours(ctx, c.ID, 5)
		if err != nil || len(odd) != 1 || odd[0].NominationID != a.ID || odd[0].Odd != 12 || odd[0].Votes != 12 {
			t.Errorf("OddHours() = %+v, %v", odd, err)
		}
		// ipX: 12 voters without accounts here; ipY: 3 accounts created
		// just before they voted.
		fresh, err := cs.FreshAccounts(ctx, c.ID, 3, 24*time.Hour)
		want := []model.FreshVoters{{IPHash: "ipX", Voters: 12}, {IPHash: "ipY", Voters: 3, Fresh: 3}}
		if err != nil || !cmp.Equal(fresh, want) {
			t.Errorf("FreshAccounts() = %+v, %v, want %+v", fresh, err, want)
		}

		// Void by nomination and time range; counts follow, slots stay.
		if _, err := cs.VoidVotes(ctx, c.ID, model.VoteFilter{}, "x", 9, campT0); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("VoidVotes(no filter) = %v, want ErrInvalid", err)
		}
		n, err := cs.VoidVotes(ctx, c.ID, model.VoteFilter{NominationID: a.ID, From: night.Add(-time.Minute), To: night.Add(time.Minute)},
			"刷票", 9, campT0.Add(30*24*time.Hour))
		if err != nil || n != 12 {
			t.Fatalf("VoidVotes() = %d, %v", n, err)
		}
		if n, err := cs.VoidVotes(ctx, c.ID, model.VoteFilter{VoterID: 100}, "again", 9, campT0); err != nil || n != 0 {
			t.Errorf("VoidVotes(already voided) = %d, %v, want 0", n, err)
		}
		counts, _ := cs.VoteCounts(ctx, c.ID)
		for _, x := range counts {
			if want := map[int64]int64{a.ID: 0, b.ID: 3}[x.NominationID]; x.Votes != want {
				t.Errorf("count of %d = %d, want %d", x.NominationID, x.Votes, want)
			}
		}
		tot, _ = cs.Totals(ctx, c.ID)
		if tot.Voided != 12 || tot.VoidedByReason["刷票"] != 12 {
			t.Errorf("Totals() after void = %+v", tot)
		}
		again := vote(c, a, 100, 20260514)
		again.Limit = 1
		if o := cs.RecordVotes(ctx, []model.VoteAttempt{again}); o[0].Accepted {
			t.Error("a voided vote gave its slot back")
		}
		// Recount is idempotent and agrees.
		if err := cs.Recount(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		counts2, _ := cs.VoteCounts(ctx, c.ID)
		if !cmp.Equal(counts, counts2) {
			t.Errorf("Recount() changed counts: %v → %v", counts, counts2)
		}
		// The ledger, page by page, in id order, voided rows marked.
		var rows []model.LedgerRow
		for after := int64(0); ; {
			page, err := cs.LedgerPage(ctx, c.ID, after, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			rows = append(rows, page...)
			after = page[len(page)-1].ID
		}
		voided := 0
		for i, r := range rows {
			if i > 0 && r.ID <= rows[i-1].ID {
				t.Fatal("ledger not in id order")
			}
			if r.Voided {
				voided++
			}
		}
		if len(rows) != 15 || voided != 12 {
			t.Errorf("ledger rows %d, voided %d; want 15, 12", len(rows), voided)
		}
	})
}

func TestResultsFixedOnceAndOverridden(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cs := store.NewCampaigns(db)
		ctx := context.Background()
		c := mustCampaign(t, cs, 5, 1)
		a := mustNomination(t, cs, c, 1, "best_mother", true)
		b := mustNomination(t, cs, c, 2, "best_mother", true)
		cs.RecordVotes(ctx, []model.VoteAttempt{vote(c, b, 1, 1), vote(c, b, 2, 1), vote(c, a, 3, 1)})
		end := c.VoteTo
		if due, err := cs.CampaignsToFix(ctx, end.Add(-time.Second)); err != nil || len(due) != 0 {
			t.Errorf("CampaignsToFix(before the end) = %v, %v", due, err)
		}
		due, err := cs.CampaignsToFix(ctx, end)
		if err != nil || len(due) != 1 {
			t.Fatalf("CampaignsToFix(at the end) = %v, %v", due, err)
		}
		st, err := cs.Standings(ctx, c.ID)
		if err != nil || len(st) != 2 || st[0].NominationID != b.ID || st[0].Votes != 2 {
			t.Fatalf("Standings() = %+v, %v", st, err)
		}
		ws := []model.Winner{{Category: "best_mother", NominationID: b.ID, Rank: 1, Votes: 2, Source: model.WinnerByVotes}}
		if ok, err := cs.FixResults(ctx, c.ID, ws, "digest1", end); err != nil || !ok {
			t.Fatalf("FixResults() = %v, %v", ok, err)
		}
		if ok, err := cs.FixResults(ctx, c.ID, ws, "digest2", end); err != nil || ok {
			t.Errorf("FixResults(again) = %v, %v, want false", ok, err)
		}
		got, _ := cs.Campaign(ctx, c.ID)
		if got.ResultsDigest != "digest1" || got.ResultsFixedAt.IsZero() {
			t.Errorf("campaign after fix = %+v", got)
		}
		if _, err := cs.UpdateCampaign(ctx, got); code(err) != "results_fixed" {
			t.Errorf("UpdateCampaign(fixed) = %v", err)
		}
		over := []model.Winner{{Category: "best_mother", NominationID: a.ID, Rank: 1, Votes: 1, Source: model.WinnerOverride, Reason: "事迹核实", DecidedBy: 9}}
		if err := cs.OverrideWinners(ctx, c.ID, "best_mother", over, end.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		cur, err := cs.Winners(ctx, c.ID, false)
		if err != nil || len(cur) != 1 || cur[0].NominationID != a.ID || cur[0].FamilyName != "王家1" || cur[0].Source != model.WinnerOverride {
			t.Errorf("Winners(current) = %+v, %v", cur, err)
		}
		all, _ := cs.Winners(ctx, c.ID, true)
		if len(all) != 2 || all[0].ReplacedAt.IsZero() || all[0].Source != model.WinnerByVotes {
			t.Errorf("Winners(all) = %+v", all)
		}
		f, err := cs.Figures(ctx, campT0, campT0.Add(365*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if f.Nominations != 2 || f.NominationsByCat["best_mother"] != 2 || f.Approved != 2 || f.Votes != 3 || f.Winners != 1 {
			t.Errorf("Figures() = %+v", f)
		}
	})
}

func FuzzParseGalleryCursor(f *testing.F) {
	f.Add("di4xMi4z", "votes")
	f.Add("dC4xNzAwMDAwMDAwMDAwMDAwLjQ", "recent")
	f.Add("", "votes")
	f.Add("!!!", "recent")
	f.Fuzz(func(t *testing.T, s, sort string) {
		key, id, err := store.ParseGalleryCursor(s, sort)
		if err != nil {
			if !errors.Is(err, model.ErrInvalid) {
				t.Fatalf("ParseGalleryCursor(%q) error %v is not ErrInvalid", s, err)
			}
			return
		}
		if key < 0 || id < 1 {
			t.Fatalf("ParseGalleryCursor(%q) = %d, %d", s, key, id)
		}
	})
}

// BenchmarkRecordVotes writes batches of 32 votes (BENCH_VOTE_BATCH; new
// voter/family pairs) one after the other: the ledger's cost per vote under
// group commit, on SQLite and on each database whose test DSN is set. It
// reports this process's CPU per vote (for MySQL and PostgreSQL the
// client's share only: measure the server's from outside) and the wall
// time per vote.
func BenchmarkRecordVotes(b *testing.B) {
	size := 32
	if v, err := strconv.Atoi(os.Getenv("BENCH_VOTE_BATCH")); err == nil && v > 0 {
		size = v
	}
	for _, d := range storetest.Dialects() {
		b.Run(d.Name, func(b *testing.B) {
			db := d.Open(b)
			cs := store.NewCampaigns(db)
			c := mustCampaign(b, cs, 50, 1)
			var noms []model.Nomination
			for i := range 50 {
				noms = append(noms, mustNomination(b, cs, c, int64(i+1), "best_mother", true))
			}
			ctx := context.Background()
			batch := make([]model.VoteAttempt, size)
			used := map[int64]uint64{} // what the Redis fast path would know
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for i := 0; b.Loop(); i++ {
				for j := range batch {
					g := i*len(batch) + j
					v := g % 10000
					batch[j] = vote(c, noms[(g/10000+v)%50], int64(1000+v), 20260514)
					batch[j].UsedSlots = used[int64(1000+v)]
				}
				for j, o := range cs.RecordVotes(ctx, batch) {
					if !o.Accepted {
						b.Fatalf("vote refused: %+v", o)
					}
					used[batch[j].VoterID] |= 1 << uint(o.Slot-1)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/vote")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N*len(batch)), "cpu-ns/vote")
		})
	}
}
