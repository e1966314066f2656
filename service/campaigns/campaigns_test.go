package campaigns_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/service/campaigns"
	"wanjia/store/storetest"
)

func TestCampaignValidationAndRoles(t *testing.T) {
	e := sqlite(t, withMiniredis)
	good := campaigns.CampaignInput{Title: "最美家庭", NominateFrom: t0, NominateTo: t0.Add(day), VoteFrom: t0.Add(day), VoteTo: t0.Add(2 * day)}
	if _, err := e.svc.CreateCampaign(e.editor, good); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("CreateCampaign(editor) = %v, want ErrForbidden", err)
	}
	c, err := e.svc.CreateCampaign(e.staff, good)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Categories) != 8 || c.VotesPerDay != 1 || c.PerNominationDaily != 1 || !c.ResultsAt.Equal(c.VoteTo) ||
		!c.ReviewFrom.Equal(t0) || !c.ReviewTo.Equal(c.VoteTo) {
		t.Errorf("defaults = %+v", c)
	}
	tests := []struct {
		name  string
		edit  func(in *campaigns.CampaignInput)
		field string
	}{
		{"no title", func(in *campaigns.CampaignInput) { in.Title = " " }, "title"},
		{"nominate window backwards", func(in *campaigns.CampaignInput) { in.NominateTo = t0 }, "nominate_to"},
		{"vote before nominations", func(in *campaigns.CampaignInput) { in.VoteFrom = t0.Add(-day) }, "vote_from"},
		{"results before vote end", func(in *campaigns.CampaignInput) { in.ResultsAt = t0 }, "results_at"},
		{"too many votes a day", func(in *campaigns.CampaignInput) { in.VotesPerDay = 51 }, "votes_per_day"},
		{"per nomination over per day", func(in *campaigns.CampaignInput) { in.VotesPerDay, in.PerNominationDaily = 2, 3 }, "per_nomination_daily"},
		{"bad category code", func(in *campaigns.CampaignInput) {
			in.Categories = []model.CampaignCategory{{Code: "最美", Name: "x", Quota: 1}}
		}, "categories"},
		{"duplicate category", func(in *campaigns.CampaignInput) {
			in.Categories = []model.CampaignCategory{{Code: "ab", Name: "x", Quota: 1}, {Code: "ab", Name: "y", Quota: 1}}
		}, "categories"},
	}
	for _, tt := range tests {
		in := good
		tt.edit(&in)
		_, err := e.svc.CreateCampaign(e.staff, in)
		var me *model.Error
		if !errors.As(err, &me) || me.Fields[tt.field] == "" {
			t.Errorf("%s: CreateCampaign() = %v, want a problem with %s", tt.name, err, tt.field)
		}
	}
	title := "新标题"
	quota := []model.CampaignCategory{{Code: "best_mother", Name: "最美母亲", Quota: 3}}
	got, err := e.svc.UpdateCampaign(e.staff, c.ID, campaigns.CampaignPatch{Title: &title, Categories: quota})
	if err != nil || got.Title != title || len(got.Categories) != 1 {
		t.Errorf("UpdateCampaign() = %+v, %v", got, err)
	}
	if _, err := e.svc.UpdateCampaign(e.staff, c.ID, campaigns.CampaignPatch{Categories: []model.CampaignCategory{}}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("UpdateCampaign(no categories) = %v, want ErrInvalid", err)
	}
}

// TestWindowRules: nominations, reviews and votes each only inside their
// window (409 not_open outside), at the edges of each.
func TestWindowRules(t *testing.T) {
	e := sqlite(t, withMiniredis)
	c := e.mustCampaign(t, 3, 1)
	voter, _ := e.mustUser(t, "voter", 0)
	nominator, photos := e.mustUser(t, "nominator", 1)
	approved := e.mustApproved(t, c, "approved", "best_mother")
	pending := e.mustNominate(t, c, "pending", "best_mother")
	e.passChecks(t, pending.ID)
	in := campaigns.NominationInput{Category: "green_family", FamilyName: "李家", Story: "低碳生活", PhotoIDs: photos, Consent: true}
	tests := []struct {
		name string
		at   time.Time
		do   func() error
		want string // error code; "" for success
	}{
		{"nominate before the window", t0.Add(-time.Second), func() error {
			_, err := e.svc.Nominate(context.Background(), nominator.ID, c.ID, in)
			return err
		}, "not_open"},
		{"nominate at the end", c.NominateTo, func() error {
			_, err := e.svc.Nominate(context.Background(), nominator.ID, c.ID, in)
			return err
		}, "not_open"},
		{"nominate just before the end", c.NominateTo.Add(-time.Second), func() error {
			_, err := e.svc.Nominate(context.Background(), nominator.ID, c.ID, in)
			return err
		}, ""},
		{"vote before the window", c.VoteFrom.Add(-time.Second), func() error {
			_, err := e.svc.Vote(context.Background(), voter.ID, approved.ID, campaigns.VoteMeta{IP: "1.1.1.1"})
			return err
		}, "not_open"},
		{"vote at the start", c.VoteFrom, func() error {
			_, err := e.svc.Vote(context.Background(), voter.ID, approved.ID, campaigns.VoteMeta{IP: "1.1.1.1"})
			return err
		}, ""},
		{"vote at the end", c.VoteTo, func() error {
			_, err := e.svc.Vote(context.Background(), voter.ID, approved.ID, campaigns.VoteMeta{IP: "1.1.1.1"})
			return err
		}, "not_open"},
		{"vote for a pending nomination", c.VoteFrom.Add(time.Hour), func() error {
			_, err := e.svc.Vote(context.Background(), voter.ID, pending.ID, campaigns.VoteMeta{IP: "1.1.1.1"})
			return err
		}, "not_found"},
		{"review after the window", c.ReviewTo, func() error {
			_, err := e.svc.ReviewNomination(e.staff, pending.ID, true, "")
			return err
		}, "not_open"},
		{"review by an editor", c.ReviewFrom, func() error {
			_, err := e.svc.ReviewNomination(e.editor, pending.ID, true, "")
			return err
		}, "forbidden"},
		{"reject without a reason", c.ReviewFrom, func() error {
			_, err := e.svc.ReviewNomination(e.staff, pending.ID, false, " ")
			return err
		}, "invalid"},
	}
	for _, tt := range tests {
		e.clock.Set(tt.at)
		err := tt.do()
		if got := code(err); got != tt.want {
			t.Errorf("%s: error %v (code %q), want code %q", tt.name, err, got, tt.want)
		}
	}
}

// TestVoteLimitRules: the daily limits, table-driven, for one voter in one
// day; the next day starts afresh (days in Asia/Shanghai).
func TestVoteLimitRules(t *testing.T) {
	e := sqlite(t, withMiniredis)
	c := e.mustCampaign(t, 3, 2)
	a := e.mustApproved(t, c, "a", "best_mother")
	b := e.mustApproved(t, c, "b", "green_family")
	d := e.mustApproved(t, c, "d", "green_family")
	voter, _ := e.mustUser(t, "voter", 0)
	// 2026-05-13 23:59:59 in Shanghai, then the next day.
	late := time.Date(2026, 5, 13, 15, 59, 59, 0, time.UTC)
	steps := []struct {
		at        time.Time
		nom       model.Nomination
		want      string // "" accepted, else the error code
		remaining int
	}{
		{late, a, "", 2},
		{late, a, "", 1},
		{late, a, "vote_limit", 0}, // two per nomination a day
		{late, b, "", 0},
		{late, d, "vote_limit", 0}, // three a day in the campaign
		{late.Add(time.Second), d, "", 2},
		{late.Add(time.Second), a, "", 1},
	}
	for i, st := range steps {
		e.clock.Set(st.at)
		res, err := e.svc.Vote(context.Background(), voter.ID, st.nom.ID, campaigns.VoteMeta{IP: "10.0.0.1", Device: "dev"})
		if code(err) != st.want {
			t.Fatalf("step %d: Vote() = %+v, %v; want %q", i, res, err, st.want)
		}
		if err == nil && res.RemainingToday != st.remaining {
			t.Errorf("step %d: remaining_today = %d, want %d", i, res.RemainingToday, st.remaining)
		}
	}
	counts := map[int64]int64{}
	lb, err := e.svc.Leaderboard(context.Background(), c.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range lb {
		counts[x.NominationID] = x.Votes
	}
	if want := map[int64]int64{a.ID: 3, b.ID: 1, d.ID: 1}; !cmp.Equal(counts, want) {
		t.Errorf("leaderboard counts = %v, want %v", counts, want)
	}
}

// TestVoteRateLimits: per device and per IP, per minute.
func TestVoteRateLimits(t *testing.T) {
	e := sqlite(t, withMiniredis)
	c := e.mustCampaign(t, 50, 10)
	e.clock.Set(c.VoteFrom.Add(time.Hour))
	var noms []model.Nomination
	for i := range 4 {
		noms = append(noms, e.mustApproved(t, c, fmt.Sprintf("n%d", i), "best_mother"))
	}
	voter, _ := e.mustUser(t, "fast", 0)
	got := map[string]int{}
	for i := range 40 {
		_, err := e.svc.Vote(context.Background(), voter.ID, noms[i%4].ID, campaigns.VoteMeta{IP: "10.0.0.9", Device: "same-phone"})
		got[code(err)]++
	}
	if got[""] != 30 || got["rate_limited"] != 10 {
		t.Errorf("40 votes from one device in a minute: %v, want 30 accepted, 10 rate_limited", got)
	}
	e.clock.Set(e.clock.Now().Add(time.Minute))
	if _, err := e.svc.Vote(context.Background(), voter.ID, noms[0].ID, campaigns.VoteMeta{IP: "10.0.0.9", Device: "same-phone"}); err != nil {
		t.Errorf("vote in the next minute = %v", err)
	}
	// Votes for ids that do not exist count too: they cannot be sent
	// without limit.
	e.clock.Set(e.clock.Now().Add(time.Minute))
	got = map[string]int{}
	for i := range 35 {
		_, err := e.svc.Vote(context.Background(), voter.ID, int64(900000+i), campaigns.VoteMeta{IP: "10.0.0.9", Device: "same-phone"})
		got[code(err)]++
	}
	if got["not_found"] != 30 || got["rate_limited"] != 5 {
		t.Errorf("35 votes for made-up ids in a minute: %v, want 30 not_found, 5 rate_limited", got)
	}
}

// Test200ConcurrentVotes: 200 concurrent votes by one user with a limit of
// 3 a day count exactly 3, on every database, with an embedded Redis, a
// real one (WANJIA_TEST_REDIS_URL) and none.
func Test200ConcurrentVotes(t *testing.T) {
	for _, d := range storetest.Dialects() {
		for _, mode := range []struct {
			name string
			m    redisMode
		}{{"miniredis", withMiniredis}, {"no-redis", withoutRedis}, {"redis", withRealRedis}} {
			t.Run(d.Name+"/"+mode.name, func(t *testing.T) {
				e := mustEnv(t, d, mode.m)
				c := e.mustCampaign(t, 3, 1)
				var noms []model.Nomination
				for i := range 5 {
					noms = append(noms, e.mustApproved(t, c, fmt.Sprintf("n%d", i), "best_mother"))
				}
				e.clock.Set(c.VoteFrom.Add(time.Hour))
				voter, _ := e.mustUser(t, "eager", 0)
				var wg sync.WaitGroup
				var mu sync.Mutex
				results := map[string]int{}
				start := make(chan struct{})
				for i := range 200 {
					wg.Go(func() {
						<-start
						// Each request from its own IP and device: only the ledger limits apply.
						_, err := e.svc.Vote(context.Background(), voter.ID, noms[i%5].ID,
							campaigns.VoteMeta{IP: "10.1." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250), Device: "d" + strconv.Itoa(i)})
						mu.Lock()
						results[code(err)]++
						mu.Unlock()
						if err != nil && code(err) != "vote_limit" {
							t.Errorf("Vote() = %v", err)
						}
					})
				}
				close(start)
				wg.Wait()
				if results[""] != 3 || results["vote_limit"] != 197 {
					t.Errorf("results %v, want 3 accepted and 197 vote_limit", results)
				}
				var total int64
				for _, n := range noms {
					got, _ := e.st.Nomination(context.Background(), n.ID)
					if got.Votes > 1 {
						t.Errorf("nomination %d has %d votes from one voter, limit 1 a day", n.ID, got.Votes)
					}
					total += got.Votes
				}
				if total != 3 {
					t.Errorf("total votes counted %d, want 3", total)
				}
			})
		}
	}
}

// TestLedgerSurvivesFlush: after FLUSHALL the leaderboard is rebuilt from
// the ledger and the limits still hold (the voter's day is primed again
// from the ledger).
func TestLedgerSurvivesFlush(t *testing.T) {
	e := sqlite(t, withMiniredis)
	c := e.mustCampaign(t, 2, 1)
	a := e.mustApproved(t, c, "a", "best_mother")
	b := e.mustApproved(t, c, "b", "best_mother")
	cc := e.mustApproved(t, c, "c", "green_family")
	e.clock.Set(c.VoteFrom.Add(time.Hour))
	for i := range 5 {
		u, _ := e.mustUser(t, fmt.Sprintf("v%d", i), 0)
		if _, err := e.svc.Vote(context.Background(), u.ID, a.ID, campaigns.VoteMeta{IP: "1.2.3.4"}); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if _, err := e.svc.Vote(context.Background(), u.ID, b.ID, campaigns.VoteMeta{IP: "1.2.3.4"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	before, err := e.svc.Leaderboard(context.Background(), c.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	e.mini.FlushAll()
	after, err := e.svc.Leaderboard(context.Background(), c.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []campaigns.LeaderboardEntry{
		{Rank: 1, NominationID: a.ID, FamilyName: "a家", Category: "best_mother", Votes: 5},
		{Rank: 2, NominationID: b.ID, FamilyName: "b家", Category: "best_mother", Votes: 2},
		{Rank: 3, NominationID: cc.ID, FamilyName: "c家", Category: "green_family", Votes: 0},
	}
	if diff := cmp.Diff(want, after); diff != "" || !cmp.Equal(before, after) {
		t.Errorf("leaderboard after FLUSHALL (-want +got):\n%s\nbefore: %+v", diff, before)
	}
	// v0 voted twice today (limit 2): still refused after the flush.
	v0, _ := e.users.UpsertUserByOpenID(context.Background(), "o_v0", "")
	if _, err := e.svc.Vote(context.Background(), v0.ID, cc.ID, campaigns.VoteMeta{IP: "1.2.3.4"}); code(err) != "vote_limit" {
		t.Errorf("vote over the limit after FLUSHALL = %v, want vote_limit", err)
	}
	if got, _ := e.svc.Leaderboard(context.Background(), c.ID, "green_family", 10); len(got) != 1 || got[0].Votes != 0 {
		t.Errorf("category leaderboard = %+v", got)
	}
	// After Close, votes are refused as unavailable and a rebuild still works.
	late, _ := e.mustUser(t, "late", 0)
	e.svc.Close()
	if _, err := e.svc.Vote(context.Background(), late.ID, cc.ID, campaigns.VoteMeta{}); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("Vote() after Close = %v, want ErrUnavailable", err)
	}
	if err := e.svc.RebuildLeaderboards(context.Background(), c.ID); err != nil {
		t.Errorf("RebuildLeaderboards() after Close = %v", err)
	}
}

// TestLeaderboardFollowsVotes: once built, a leaderboard follows committed
// votes without a rebuild (their counts are written at most scoreEvery
// apart, the last of a burst included).
func TestLeaderboardFollowsVotes(t *testing.T) {
	e := sqlite(t, withMiniredis)
	c := e.mustCampaign(t, 5, 5)
	a := e.mustApproved(t, c, "a", "best_mother")
	b := e.mustApproved(t, c, "b", "green_family")
	e.clock.Set(c.VoteFrom.Add(time.Hour))
	if lb, err := e.svc.Leaderboard(context.Background(), c.ID, "", 10); err != nil || len(lb) != 2 || lb[0].Votes != 0 {
		t.Fatalf("Leaderboard() before votes = %+v, %v", lb, err)
	}
	u, _ := e.mustUser(t, "v", 0)
	for _, n := range []model.Nomination{a, a, b, a} {
		if _, err := e.svc.Vote(context.Background(), u.ID, n.ID, campaigns.VoteMeta{IP: "1.2.3.4"}); err != nil {
			t.Fatal(err)
		}
	}
	want := []campaigns.LeaderboardEntry{
		{Rank: 1, NominationID: a.ID, FamilyName: "a家", Category: "best_mother", Votes: 3},
		{Rank: 2, NominationID: b.ID, FamilyName: "b家", Category: "green_family", Votes: 1},
	}
	var got []campaigns.LeaderboardEntry
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if got, err = e.svc.Leaderboard(context.Background(), c.ID, "", 10); err != nil {
			t.Fatal(err)
		}
		if cmp.Equal(got, want) {
			break
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("leaderboard after votes (-want +got):\n%s", diff)
	}
	if cat, _ := e.svc.Leaderboard(context.Background(), c.ID, "green_family", 10); len(cat) != 1 || cat[0].Votes != 1 {
		t.Errorf("category leaderboard = %+v", cat)
	}
}

// TestVoidAndRecount: voiding by voter, nomination or time range moves the
// counts, the leaderboard and the integrity figures; the digest is the
// SHA-256 of the export.
func TestVoidAndRecount(t *testing.T) {
	e := sqlite(t, withMiniredis)
	c := e.mustCampaign(t, 5, 1)
	a := e.mustApproved(t, c, "a", "best_mother")
	b := e.mustApproved(t, c, "b", "best_mother")
	e.clock.Set(c.VoteFrom.Add(time.Hour))
	var voters []model.User
	for i := range 6 {
		u, _ := e.mustUser(t, fmt.Sprintf("v%d", i), 0)
		voters = append(voters, u)
		for _, n := range []model.Nomination{a, b} {
			if _, err := e.svc.Vote(context.Background(), u.ID, n.ID, campaigns.VoteMeta{IP: "9.9.9.9"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.svc.VoidVotes(e.editor, c.ID, campaigns.VoidInput{VoterID: voters[0].ID, Reason: "x"}); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("VoidVotes(editor) = %v", err)
	}
	if _, err := e.svc.VoidVotes(e.staff, c.ID, campaigns.VoidInput{Reason: "x"}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("VoidVotes(no filter) = %v", err)
	}
	n, err := e.svc.VoidVotes(e.staff, c.ID, campaigns.VoidInput{VoterID: voters[0].ID, Reason: "同一设备批量注册"})
	if err != nil || n != 2 {
		t.Fatalf("VoidVotes(voter) = %d, %v", n, err)
	}
	n, err = e.svc.VoidVotes(e.staff, c.ID, campaigns.VoidInput{NominationID: b.ID, From: c.VoteFrom, To: e.clock.Now().Add(time.Minute), Reason: "刷票"})
	if err != nil || n != 5 {
		t.Fatalf("VoidVotes(nomination, range) = %d, %v", n, err)
	}
	lb, _ := e.svc.Leaderboard(context.Background(), c.ID, "", 10)
	if len(lb) != 2 || lb[0].NominationID != a.ID || lb[0].Votes != 5 || lb[1].Votes != 0 {
		t.Errorf("leaderboard after voids = %+v", lb)
	}
	rep, err := e.svc.Integrity(e.staff, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 12 || rep.Valid != 5 || rep.Voided != 7 || rep.Voters != 6 ||
		!cmp.Equal(rep.VoidedByReason, map[string]int64{"同一设备批量注册": 2, "刷票": 5}) {
		t.Errorf("Integrity() = %+v", rep)
	}
	var buf bytes.Buffer
	digest, rows, err := e.svc.WriteLedger(e.staff, c.ID, &buf)
	if err != nil || rows != 12 {
		t.Fatalf("WriteLedger() = %d rows, %v", rows, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	if digest != hex.EncodeToString(sum[:]) || digest != rep.Digest {
		t.Errorf("digest %s, sha256 of the export %x, integrity digest %s", digest, sum, rep.Digest)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if lines[0] != "id,nomination_id,voter,day,voided" || len(lines) != 13 {
		t.Fatalf("export = %q", buf.String())
	}
	// Anyone recounts from the export alone.
	valid := map[string]int{}
	pseudonyms := map[string]bool{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != 5 || len(f[2]) != 16 || f[3] != "20260513" {
			t.Fatalf("export line %q", l)
		}
		pseudonyms[f[2]] = true
		if f[4] == "0" {
			valid[f[1]]++
		}
		if strings.Contains(l, strconv.FormatInt(voters[1].ID, 10)+",") && len(f[2]) != 16 {
			t.Fatalf("export carries a user id: %q", l)
		}
	}
	if valid[strconv.FormatInt(a.ID, 10)] != 5 || len(pseudonyms) != 6 {
		t.Errorf("recount from export = %v, %d voters", valid, len(pseudonyms))
	}
	// Recount agrees.
	if err := e.svc.Recount(e.staff, c.ID); err != nil {
		t.Fatal(err)
	}
	lb2, _ := e.svc.Leaderboard(context.Background(), c.ID, "", 10)
	if !cmp.Equal(lb, lb2) {
		t.Errorf("Recount() changed the leaderboard: %+v → %+v", lb, lb2)
	}
}

// TestRiskyContentNeverPublic: risky text is refused at once and never
// stored; a risky photo blocks approval, so the nomination never reaches
// the gallery, the leaderboard or another user.
func TestRiskyContentNeverPublic(t *testing.T) {
	e := sqlite(t, withMiniredis)
	c := e.mustCampaign(t, 3, 1)
	u, photos := e.mustUser(t, "nominator", 2)
	other, _ := e.mustUser(t, "other", 0)
	e.clock.Set(c.NominateFrom.Add(time.Hour))
	_, err := e.svc.Nominate(context.Background(), u.ID, c.ID, campaigns.NominationInput{Category: "best_mother", FamilyName: "张家",
		Story: "含有违规内容的故事", PhotoIDs: photos, Consent: true})
	if code(err) != "content_risky" {
		t.Fatalf("Nominate(risky text) = %v, want content_risky", err)
	}
	if mine, _, _ := e.svc.MyNominations(context.Background(), u.ID, model.Page{}); len(mine) != 0 {
		t.Errorf("risky nomination stored: %+v", mine)
	}
	// Someone else's upload is not accepted as a photo.
	_, otherPhotos := e.mustUser(t, "stranger", 1)
	if _, err := e.svc.Nominate(context.Background(), u.ID, c.ID, campaigns.NominationInput{Category: "best_mother", FamilyName: "张家",
		Story: "好故事", PhotoIDs: otherPhotos, Consent: true}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("Nominate(someone else's photo) = %v, want ErrInvalid", err)
	}
	n, err := e.svc.Nominate(context.Background(), u.ID, c.ID, campaigns.NominationInput{Category: "best_mother", FamilyName: "张家",
		Story: "事迹待核实", PhotoIDs: photos, Consent: true})
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != model.NominationPending || n.TextSuggest != model.SuggestReview {
		t.Errorf("Nominate() = %+v", n)
	}
	// Approval waits for the photo checks.
	if _, err := e.svc.ReviewNomination(e.staff, n.ID, true, ""); code(err) != "check_pending" {
		t.Errorf("approve before checks = %v, want check_pending", err)
	}
	e.runMediaChecks(t)
	got, _ := e.st.Nomination(context.Background(), n.ID)
	if len(e.wx.urls) != 2 || !strings.HasPrefix(e.wx.urls[0], "https://wanjia.example.org/api/files/uploads/") {
		t.Errorf("media checks submitted for %v", e.wx.urls)
	}
	for i, p := range got.Photos {
		s := model.SuggestPass
		if i == 1 {
			s = model.SuggestRisky
		}
		if err := e.svc.MediaCheckResult(context.Background(), model.WeChatResult{Kind: model.ResultMediaCheck, Key: p.TraceID, Suggest: s, CheckLabel: 20002}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.ReviewNomination(e.staff, n.ID, true, ""); code(err) != "machine_rejected" {
		t.Fatalf("approve with a risky photo = %v, want machine_rejected", err)
	}
	e.clock.Set(c.VoteFrom.Add(time.Hour))
	page, err := e.svc.Gallery(context.Background(), model.GalleryQuery{CampaignID: c.ID})
	if err != nil || len(page.Items) != 0 {
		t.Errorf("gallery = %+v, %v, want empty", page, err)
	}
	if _, err := e.svc.Nomination(context.Background(), other.ID, n.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Nomination(other user) = %v, want ErrNotFound", err)
	}
	if _, err := e.svc.Nomination(context.Background(), u.ID, n.ID); err != nil {
		t.Errorf("Nomination(owner) = %v", err)
	}
	if _, err := e.svc.Vote(context.Background(), other.ID, n.ID, campaigns.VoteMeta{}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Vote(not public) = %v, want ErrNotFound", err)
	}
	if lb, _ := e.svc.Leaderboard(context.Background(), c.ID, "", 10); len(lb) != 0 {
		t.Errorf("leaderboard = %+v, want empty", lb)
	}
	// The reviewer rejects with a reason; the nominator is told.
	e.clock.Set(c.ReviewFrom.Add(time.Hour))
	r, err := e.svc.ReviewNomination(e.staff, n.ID, false, "图片不符合要求")
	if err != nil || r.Status != model.NominationRejected || r.RejectReason != "图片不符合要求" {
		t.Fatalf("reject = %+v, %v", r, err)
	}
	if got := e.notes.Sent(); len(got) != 1 || got[0].Notice.Topic != campaigns.TopicNominationReviewed || got[0].To.UserID != u.ID ||
		got[0].Notice.Fields["result"] != "未通过" {
		t.Errorf("notices = %+v", got)
	}
}

// TestMediaResultBeforeTrace: WeChat's callback may arrive before the
// trace id is stored; the recorded result is applied when it is.
func TestMediaResultBeforeTrace(t *testing.T) {
	e := sqlite(t, withMiniredis)
	c := e.mustCampaign(t, 3, 1)
	n := e.mustNominate(t, c, "early", "best_mother")
	// The gateway recorded results for the next two trace ids already.
	for _, tr := range []string{"t-1", "t-2"} {
		if _, err := e.results.RecordResult(context.Background(), model.WeChatResult{Kind: model.ResultMediaCheck, Key: tr,
			Status: "pass", Suggest: model.SuggestPass, CheckLabel: 100}); err != nil {
			t.Fatal(err)
		}
	}
	e.runMediaChecks(t)
	got, _ := e.st.Nomination(context.Background(), n.ID)
	if got.MachineVerdict() != model.VerdictPass {
		t.Errorf("verdict after early results = %q, photos %+v", got.MachineVerdict(), got.Photos)
	}
	// An unknown trace (another area's check) is ignored.
	if err := e.svc.MediaCheckResult(context.Background(), model.WeChatResult{Kind: model.ResultMediaCheck, Key: "zzz", Suggest: "risky"}); err != nil {
		t.Errorf("MediaCheckResult(unknown) = %v", err)
	}
}

func TestResultsFixedWithQuotasAndOverride(t *testing.T) {
	e := sqlite(t, withMiniredis)
	c := e.mustCampaign(t, 5, 1)
	cats := []model.CampaignCategory{{Code: "best_mother", Name: "最美母亲", Quota: 2}, {Code: "green_family", Name: "绿色家庭", Quota: 1}}
	if _, err := e.svc.UpdateCampaign(e.staff, c.ID, campaigns.CampaignPatch{Categories: cats}); err != nil {
		t.Fatal(err)
	}
	var mothers []model.Nomination
	for i := range 3 {
		mothers = append(mothers, e.mustApproved(t, c, fmt.Sprintf("m%d", i), "best_mother"))
	}
	green := e.mustApproved(t, c, "g", "green_family")
	e.clock.Set(c.VoteFrom.Add(time.Hour))
	for i := range 4 {
		u, _ := e.mustUser(t, fmt.Sprintf("v%d", i), 0)
		for j, n := range mothers {
			if i <= j { // m0 1 vote, m1 2, m2 3
				if _, err := e.svc.Vote(context.Background(), u.ID, n.ID, campaigns.VoteMeta{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if n, err := e.svc.FixDueResults(context.Background()); err != nil || n != 0 {
		t.Errorf("FixDueResults(during the vote) = %d, %v", n, err)
	}
	e.clock.Set(c.VoteTo)
	if n, err := e.svc.FixDueResults(context.Background()); err != nil || n != 1 {
		t.Fatalf("FixDueResults(at the end) = %d, %v", n, err)
	}
	if n, _ := e.svc.FixDueResults(context.Background()); n != 0 {
		t.Errorf("FixDueResults(again) = %d, want 0", n)
	}
	ws, err := e.svc.Winners(e.staff, c.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	type w struct {
		Cat  string
		ID   int64
		Rank int
	}
	var got []w
	for _, x := range ws {
		got = append(got, w{x.Category, x.NominationID, x.Rank})
	}
	want := []w{{"best_mother", mothers[2].ID, 1}, {"best_mother", mothers[1].ID, 2}, {"green_family", green.ID, 1}}
	if !cmp.Equal(got, want) {
		t.Errorf("winners = %+v, want %+v", got, want)
	}
	fixed, _ := e.svc.Campaign(context.Background(), c.ID)
	if fixed.ResultsDigest == "" || fixed.Phase(e.clock.Now()) != model.PhaseCounting {
		t.Errorf("campaign after fixing = %+v", fixed)
	}
	if pub, _ := e.svc.PublicWinners(context.Background(), fixed); pub != nil {
		t.Errorf("winners public before ResultsAt: %+v", pub)
	}
	e.clock.Set(c.ResultsAt)
	if pub, _ := e.svc.PublicWinners(context.Background(), fixed); len(pub) != 3 || fixed.Phase(c.ResultsAt) != model.PhaseResults {
		t.Errorf("PublicWinners() = %+v", pub)
	}
	// Override: recorded with the reason; the old list stays on record.
	if _, err := e.svc.OverrideWinners(e.staff, c.ID, campaigns.OverrideInput{Category: "best_mother", NominationIDs: []int64{green.ID}, Reason: "x"}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("override with another category's nomination = %v", err)
	}
	cur, err := e.svc.OverrideWinners(e.staff, c.ID, campaigns.OverrideInput{Category: "best_mother",
		NominationIDs: []int64{mothers[2].ID, mothers[0].ID}, Reason: "m1 事迹经核实不符"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) != 3 || cur[1].NominationID != mothers[0].ID || cur[1].Source != model.WinnerOverride || cur[1].Reason == "" {
		t.Errorf("winners after override = %+v", cur)
	}
	all, _ := e.svc.Winners(e.staff, c.ID, true)
	if len(all) != 5 {
		t.Errorf("all winner records = %d, want 5 (3 by votes, 2 by override)", len(all))
	}
	if _, err := e.svc.VoidVotes(e.staff, c.ID, campaigns.VoidInput{VoterID: 1, Reason: "x"}); code(err) != "results_fixed" {
		t.Errorf("VoidVotes(after results) = %v, want results_fixed", err)
	}
	sec, err := e.svc.FigureSection(context.Background(), t0, t0.Add(60*day))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{model.FigNominations: 4, model.FigNominationsShown: 4, model.FigVotes: 6, model.FigAwards: 3} {
		f, ok := sec.Get(key)
		if !ok || f.Value != want || f.Definition == "" {
			t.Errorf("figure %s = %+v, want %v", key, f, want)
		}
	}
	if f, _ := sec.Get(model.FigNominations); f.Breakdown["best_mother"] != 3 {
		t.Errorf("nominations breakdown = %v", f.Breakdown)
	}
}

func TestShareCodeStoredOnce(t *testing.T) {
	e := sqlite(t, withMiniredis)
	c := e.mustCampaign(t, 3, 1)
	n := e.mustApproved(t, c, "share", "best_mother")
	pending := e.mustNominate(t, c, "pend", "best_mother")
	var wg sync.WaitGroup
	keys := make([]string, 5)
	for i := range keys {
		wg.Go(func() {
			k, err := e.svc.ShareCode(context.Background(), 0, n.ID)
			if err != nil {
				t.Errorf("ShareCode() = %v", err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys {
		if k != keys[0] || k == "" {
			t.Fatalf("share code keys %v, want one", keys)
		}
	}
	if k, _ := e.svc.ShareCode(context.Background(), 0, n.ID); k != keys[0] {
		t.Errorf("ShareCode(again) = %q", k)
	}
	if len(e.images.saved)-len(e.images.deleted) != 1 {
		t.Errorf("images kept %d (saved %v, deleted %v), want 1", len(e.images.saved)-len(e.images.deleted), e.images.saved, e.images.deleted)
	}
	if _, err := e.svc.ShareCode(context.Background(), 0, pending.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("ShareCode(pending, other) = %v, want ErrNotFound", err)
	}
	if _, err := e.svc.ShareCode(context.Background(), pending.UserID, pending.ID); code(err) != "not_public" {
		t.Errorf("ShareCode(pending, owner) = %v, want not_public", err)
	}
}

func TestNominationLimitsEditAndReply(t *testing.T) {
	e := sqlite(t, withMiniredis)
	if r, err := e.svc.Reply(context.Background()); err != nil || r != nil {
		t.Errorf("Reply(no campaign) = %v, %v", r, err)
	}
	c := e.mustCampaign(t, 3, 1)
	u, photos := e.mustUser(t, "busy", 1)
	e.clock.Set(c.NominateFrom.Add(time.Hour))
	r, err := e.svc.Reply(context.Background())
	if err != nil || r == nil || !strings.Contains(r.Text, "正在接受推荐") || !strings.Contains(r.Text, c.Title) {
		t.Errorf("Reply(nominating) = %+v, %v", r, err)
	}
	in := campaigns.NominationInput{Category: "best_mother", FamilyName: "刘家", Story: "故事", PhotoIDs: photos, Consent: true}
	var first model.Nomination
	for i := range 4 {
		n, err := e.svc.Nominate(context.Background(), u.ID, c.ID, in)
		if i < 3 && err != nil {
			t.Fatalf("nomination %d = %v", i, err)
		}
		if i == 0 {
			first = n
		}
		if i == 3 && code(err) != "nomination_limit" {
			t.Errorf("4th nomination in a day = %v, want nomination_limit", err)
		}
	}
	bad := in
	bad.Consent, bad.Story = false, strings.Repeat("长", campaigns.MaxStory+1)
	var me *model.Error
	if _, err := e.svc.EditNomination(context.Background(), u.ID, first.ID, bad); !errors.As(err, &me) || me.Fields["consent"] == "" || me.Fields["story"] == "" {
		t.Errorf("EditNomination(invalid) = %v", err)
	}
	edit := in
	edit.Story = "改写后的故事"
	got, err := e.svc.EditNomination(context.Background(), u.ID, first.ID, edit)
	if err != nil || got.Story != "改写后的故事" {
		t.Errorf("EditNomination() = %+v, %v", got, err)
	}
	if _, err := e.svc.EditNomination(context.Background(), u.ID+1, first.ID, edit); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("EditNomination(other user) = %v", err)
	}
	e.clock.Set(c.VoteFrom.Add(time.Hour))
	if r, _ := e.svc.Reply(context.Background()); r == nil || !strings.Contains(r.Text, "投票进行中") {
		t.Errorf("Reply(voting) = %+v", r)
	}
}
