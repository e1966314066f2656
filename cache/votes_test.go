package cache_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wanjia/cache"
	"wanjia/model"
)

func TestVotesFastPath(t *testing.T) {
	c, _ := mustRedis(t)
	v := cache.NewVotes(c)
	ctx := context.Background()
	q := model.VoteCheck{CampaignID: 1, NominationID: 7, VoterID: 42, Day: 20260514, Limit: 3, NLimit: 2, IP: "ipA", Device: "devA", Minute: 100}

	st, err := v.Check(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.VoteState{IPVotes: 1, DevVotes: 1}, st); diff != "" {
		t.Errorf("first Check() (-want +got):\n%s", diff)
	}
	// Primed from the ledger: slot 1 taken by a vote for nomination 7.
	if err := v.Prime(ctx, 1, 42, 20260514, []model.VoterSlot{{Slot: 1, NominationID: 7, NSlot: 1}}); err != nil {
		t.Fatal(err)
	}
	// A commit (twice: idempotent) of slot 3 for nomination 9, and slot 2
	// (nomination slot 2) for nomination 7.
	committed := []model.CommittedVote{
		{CampaignID: 1, NominationID: 9, Category: "green_family", VoterID: 42, Day: 20260514, Slot: 3, NSlot: 1, Votes: 5},
		{CampaignID: 1, NominationID: 7, Category: "best_mother", VoterID: 42, Day: 20260514, Slot: 2, NSlot: 2, Votes: 8},
	}
	for range 2 {
		if err := v.Committed(ctx, committed, scores(committed)); err != nil {
			t.Fatal(err)
		}
	}
	st, err = v.Check(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	want := model.VoteState{Used: 0b111, NUsed: 0b11, Primed: true, IPVotes: 2, DevVotes: 2}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Check() after commits (-want +got):\n%s", diff)
	}
	// Another minute, another window; another voter, nothing known.
	q2 := q
	q2.Minute, q2.VoterID = 101, 43
	if st, _ := v.Check(ctx, q2); st.IPVotes != 1 || st.Primed || st.Used != 0 {
		t.Errorf("Check(next minute, other voter) = %+v", st)
	}

	// Leaderboards: not built until SetLeaderboards; committed scores
	// only ever rise.
	if _, built, err := v.Leaderboard(ctx, 1, "", 10); err != nil || built {
		t.Errorf("Leaderboard(before build) built = %v, %v", built, err)
	}
	counts := []model.NominationCount{{NominationID: 7, Category: "best_mother", Votes: 8}, {NominationID: 9, Category: "green_family", Votes: 5},
		{NominationID: 11, Category: "best_mother", Votes: 0}}
	if err := v.SetLeaderboards(ctx, 1, counts); err != nil {
		t.Fatal(err)
	}
	if err := v.Committed(ctx, nil, []model.NominationScore{{CampaignID: 1, NominationID: 9, Category: "green_family", Votes: 4}}); err != nil {
		t.Fatal(err)
	}
	top, built, err := v.Leaderboard(ctx, 1, "", 2)
	wantTop := []model.NominationCount{{NominationID: 7, Votes: 8}, {NominationID: 9, Votes: 5}}
	if err != nil || !built || !cmp.Equal(top, wantTop) {
		t.Errorf("Leaderboard(all) = %+v, %v, %v, want %+v", top, built, err, wantTop)
	}
	cat, _, _ := v.Leaderboard(ctx, 1, "best_mother", 10)
	if len(cat) != 2 || cat[0].NominationID != 7 || cat[1].NominationID != 11 {
		t.Errorf("Leaderboard(best_mother) = %+v", cat)
	}
	// A take-down and a rebuild without a category drop what is gone.
	if err := v.RemoveNomination(ctx, 1, "best_mother", 7); err != nil {
		t.Fatal(err)
	}
	if cat, _, _ := v.Leaderboard(ctx, 1, "best_mother", 10); len(cat) != 1 || cat[0].NominationID != 11 {
		t.Errorf("Leaderboard(best_mother) after take-down = %+v", cat)
	}
	if err := v.SetLeaderboards(ctx, 1, counts[1:2]); err != nil {
		t.Fatal(err)
	}
	if cat, built, _ := v.Leaderboard(ctx, 1, "best_mother", 10); !built || len(cat) != 0 {
		t.Errorf("Leaderboard(best_mother) after rebuild without it = %+v", cat)
	}
	if err := v.SetNominationScore(ctx, 1, "best_mother", 12, 0); err != nil {
		t.Fatal(err)
	}
	if cat, _, _ := v.Leaderboard(ctx, 1, "best_mother", 10); len(cat) != 1 || cat[0].NominationID != 12 {
		t.Errorf("Leaderboard(best_mother) after approval = %+v", cat)
	}
	// A flush loses the built mark: the caller rebuilds.
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, built, _ := v.Leaderboard(ctx, 1, "", 10); built {
		t.Error("Leaderboard() after a flush says built")
	}
	if err := v.SetLeaderboards(ctx, 1, counts); err != nil {
		t.Fatal(err)
	}
	if err := v.DropLeaderboards(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, built, _ := v.Leaderboard(ctx, 1, "", 10); built {
		t.Error("Leaderboard() after DropLeaderboards says built")
	}
}

// TestVotesVoterDayRecord: a voter's day record holds what the ledger
// gave (Prime, gaps included) and what commits add, up to 64 slots, and
// a check reads only the slots under its limits.
func TestVotesVoterDayRecord(t *testing.T) {
	c, _ := mustRedis(t)
	v := cache.NewVotes(c)
	ctx := context.Background()
	const day = 20260514
	if err := v.Prime(ctx, 2, 42, day, []model.VoterSlot{{Slot: 4, NominationID: 7, NSlot: 2}, {Slot: 1, NominationID: 7, NSlot: 1},
		{Slot: 3, NominationID: 1 << 40, NSlot: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := v.Committed(ctx, []model.CommittedVote{{CampaignID: 2, NominationID: 9, Category: "x", VoterID: 42, Day: day, Slot: 64, NSlot: 1, Votes: 1},
		{CampaignID: 2, NominationID: 7, Category: "x", VoterID: 42, Day: day, Slot: 5, NSlot: 3, Votes: 2}}, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		q    model.VoteCheck
		want model.VoteState
	}{
		{model.VoteCheck{CampaignID: 2, NominationID: 7, VoterID: 42, Day: day, Limit: 64, NLimit: 3},
			model.VoteState{Primed: true, Used: 1<<63 | 0b11101, NUsed: 0b111}},
		{model.VoteCheck{CampaignID: 2, NominationID: 7, VoterID: 42, Day: day, Limit: 4, NLimit: 1},
			model.VoteState{Primed: true, Used: 0b1101, NUsed: 0b1}},
		// A limit lowered during the day: nomination slots of votes above it count.
		{model.VoteCheck{CampaignID: 2, NominationID: 7, VoterID: 42, Day: day, Limit: 4, NLimit: 3},
			model.VoteState{Primed: true, Used: 0b1101, NUsed: 0b111}},
		{model.VoteCheck{CampaignID: 2, NominationID: 1 << 40, VoterID: 42, Day: day, Limit: 50, NLimit: 1},
			model.VoteState{Primed: true, Used: 0b11101, NUsed: 0b1}},
		{model.VoteCheck{CampaignID: 2, NominationID: 9, VoterID: 42, Day: day, Limit: 64, NLimit: 1},
			model.VoteState{Primed: true, Used: 1<<63 | 0b11101, NUsed: 0b1}},
		{model.VoteCheck{CampaignID: 2, NominationID: 7, VoterID: 42, Day: day + 1, Limit: 64, NLimit: 3}, model.VoteState{}},
		{model.VoteCheck{CampaignID: 3, NominationID: 7, VoterID: 42, Day: day, Limit: 64, NLimit: 3}, model.VoteState{}},
		// A refused vote's check counts the client only.
		{model.VoteCheck{}, model.VoteState{}},
	}
	for i, tt := range tests {
		tt.q.IP, tt.q.Device, tt.q.Minute = "ip", fmt.Sprintf("dev%d", i), 7
		tt.want.IPVotes, tt.want.DevVotes = int64(i+1), 1
		got, err := v.Check(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Check(%+v) (-want +got):\n%s", tt.q, diff)
		}
	}
	// Committed alone (no prime) is not primed: the caller reads the ledger.
	if err := v.Committed(ctx, []model.CommittedVote{{CampaignID: 2, NominationID: 7, Category: "x", VoterID: 43, Day: day, Slot: 2, NSlot: 1, Votes: 3}}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := v.Check(ctx, model.VoteCheck{CampaignID: 2, NominationID: 7, VoterID: 43, Day: day, Limit: 3, NLimit: 1, IP: "ip2", Device: "d", Minute: 7})
	if want := (model.VoteState{Used: 0b10, NUsed: 0b1, IPVotes: 1, DevVotes: 1}); err != nil || got != want {
		t.Errorf("Check(unprimed) = %+v, %v; want %+v", got, err, want)
	}
}

func scores(votes []model.CommittedVote) []model.NominationScore {
	out := make([]model.NominationScore, len(votes))
	for i, x := range votes {
		out[i] = model.NominationScore{CampaignID: x.CampaignID, NominationID: x.NominationID, Category: x.Category, Votes: x.Votes}
	}
	return out
}
