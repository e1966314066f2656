package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"wanjia/model"
)

// Votes is the Redis side of 最美家庭 votes: the fast path in front of the
// vote ledger, per-IP and per-device vote rate limits, and the
// leaderboards. Everything here is derived from the ledger and rebuilt
// from it when missing; nothing here is needed for the limits to hold.
//
// A voter's day in a campaign is one hash, vote:{c<campaign>}:<voter>:<day>,
// holding "_" (the record was primed from the ledger), "s<slot>" for each
// day slot a committed vote took, and "n<nomination>:<slot>" for each
// nomination slot. Fields are only ever set for committed votes and
// setting one twice changes nothing, so the hash never claims more than
// the ledger holds: it is a lower bound that can only make the database
// reject a guess, never refuse a vote the ledger would take. (Counters
// incremented after each commit would over-count when a rebuild from the
// ledger races a commit that has not incremented yet.)
//
// A leaderboard is a sorted set per campaign (all categories) and per
// category, lb:{c<campaign>}:all and lb:{c<campaign>}:cat:<code>, scores
// being the nominations' valid votes as committed (ZADD GT, so a late
// writer never lowers a count); lb:{c<campaign>}:built marks them whole.
type Votes struct {
	c     Client
	batch *batcher
}

// NewVotes returns the vote cache on c.
func NewVotes(c Client) *Votes { return &Votes{c: c, batch: &batcher{c: c}} }

// voterDayTTL keeps a voter's day record past the day's end.
const voterDayTTL = 48 * time.Hour

func voterDayKey(campaign, voter int64, day int) string {
	return "vote:{c" + strconv.FormatInt(campaign, 10) + "}:" + strconv.FormatInt(voter, 10) + ":" + strconv.Itoa(day)
}

// slotFields are the hash fields "s1".."s64", made once: a vote check asks
// for every day slot.
var slotFields = func() (f [65]string) {
	for i := 1; i < len(f); i++ {
		f[i] = "s" + strconv.Itoa(i)
	}
	return f
}()

func slotField(s int) string {
	if s >= 1 && s < len(slotFields) {
		return slotFields[s]
	}
	return "s" + strconv.Itoa(s)
}

func lbKey(campaign int64, category string) string {
	if category == "" {
		return "lb:{c" + strconv.FormatInt(campaign, 10) + "}:all"
	}
	return "lb:{c" + strconv.FormatInt(campaign, 10) + "}:cat:" + category
}

func lbBuiltKey(campaign int64) string { return "lb:{c" + strconv.FormatInt(campaign, 10) + "}:built" }

// Check counts the attempt against the IP's and the device's minute and
// reads the voter's day, in one round trip that concurrent callers share
// (see batcher). No MULTI is needed: a rate key is named after its minute
// and lives two, so it cannot expire between its SET NX and its INCR; and
// no Lua (the embedded Redis builds an interpreter per script call).
func (v *Votes) Check(ctx context.Context, q model.VoteCheck) (model.VoteState, error) {
	min := strconv.FormatInt(q.Minute, 10)
	ipKey, devKey := "rl:vote:ip:"+q.IP+":"+min, "rl:vote:dev:"+q.Device+":"+min
	args := make([]any, 0, 2+q.Limit+q.NLimit)
	args = append(args, "hmget", voterDayKey(q.CampaignID, q.VoterID, q.Day), "_")
	for s := 1; s <= q.Limit; s++ {
		args = append(args, slotField(s))
	}
	nom := "n" + strconv.FormatInt(q.NominationID, 10) + ":"
	for s := 1; s <= q.NLimit; s++ {
		args = append(args, nom+strconv.Itoa(s))
	}
	ipN, devN := redis.NewIntCmd(ctx, "incr", ipKey), redis.NewIntCmd(ctx, "incr", devKey)
	got := redis.NewSliceCmd(ctx, args...)
	v.batch.do(ctx,
		redis.NewStatusCmd(ctx, "set", ipKey, 0, "ex", 120, "nx"), ipN,
		redis.NewStatusCmd(ctx, "set", devKey, 0, "ex", 120, "nx"), devN, got)
	for _, c := range []redis.Cmder{ipN, devN, got} {
		if err := c.Err(); err != nil {
			return model.VoteState{}, fmt.Errorf("vote check: %w", err)
		}
	}
	st := model.VoteState{IPVotes: ipN.Val(), DevVotes: devN.Val()}
	vals := got.Val()
	if len(vals) != len(args)-2 {
		return model.VoteState{}, errors.New("vote check: short HMGET answer")
	}
	st.Primed = vals[0] != nil
	for s := 1; s <= q.Limit; s++ {
		if vals[s] != nil {
			st.Used |= 1 << uint(s-1)
		}
	}
	for s := 1; s <= q.NLimit; s++ {
		if vals[q.Limit+s] != nil {
			st.NUsed |= 1 << uint(s-1)
		}
	}
	return st, nil
}

// Prime records a voter's day as read from the ledger and marks it
// primed.
func (v *Votes) Prime(ctx context.Context, campaign, voter int64, day int, taken []model.VoterSlot) error {
	key := voterDayKey(campaign, voter, day)
	vals := make([]any, 0, 2+4*len(taken))
	vals = append(vals, "_", 1)
	for _, t := range taken {
		vals = append(vals, slotField(t.Slot), t.NominationID,
			"n"+strconv.FormatInt(t.NominationID, 10)+":"+strconv.Itoa(t.NSlot), 1)
	}
	_, err := v.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, vals...)
		p.Expire(ctx, key, voterDayTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("vote prime: %w", err)
	}
	return nil
}

// Committed records a batch of committed votes in the voters' days and
// the leaderboards, in one pipeline. Every write is idempotent.
func (v *Votes) Committed(ctx context.Context, votes []model.CommittedVote) error {
	if len(votes) == 0 {
		return nil
	}
	type nomKey struct {
		campaign, nom int64
	}
	latest := make(map[nomKey]model.CommittedVote, len(votes))
	_, err := v.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, x := range votes {
			key := voterDayKey(x.CampaignID, x.VoterID, x.Day)
			p.HSet(ctx, key, slotField(x.Slot), x.NominationID,
				"n"+strconv.FormatInt(x.NominationID, 10)+":"+strconv.Itoa(x.NSlot), 1)
			p.Expire(ctx, key, voterDayTTL)
			k := nomKey{x.CampaignID, x.NominationID}
			if cur, ok := latest[k]; !ok || x.Votes > cur.Votes {
				latest[k] = x
			}
		}
		for k, x := range latest {
			z := redis.ZAddArgs{GT: true, Members: []redis.Z{{Score: float64(x.Votes), Member: k.nom}}}
			p.ZAddArgs(ctx, lbKey(k.campaign, ""), z)
			p.ZAddArgs(ctx, lbKey(k.campaign, x.Category), z)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("votes committed: %w", err)
	}
	return nil
}

// Leaderboard returns up to limit nominations of a campaign (of category,
// or of all categories for "") with the most votes, most first (ties by
// higher id, as Redis orders equal scores), and whether the leaderboards
// are built; when they are not, the answer is empty and the caller
// rebuilds them (SetLeaderboards).
func (v *Votes) Leaderboard(ctx context.Context, campaign int64, category string, limit int) ([]model.NominationCount, bool, error) {
	var built *redis.IntCmd
	var top *redis.ZSliceCmd
	_, err := v.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		built = p.Exists(ctx, lbBuiltKey(campaign))
		top = p.ZRevRangeWithScores(ctx, lbKey(campaign, category), 0, int64(limit-1))
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("leaderboard: %w", err)
	}
	if built.Val() == 0 {
		return nil, false, nil
	}
	zs := top.Val()
	out := make([]model.NominationCount, 0, len(zs))
	for _, z := range zs {
		s, _ := z.Member.(string)
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, model.NominationCount{NominationID: id, Category: category, Votes: int64(z.Score)})
	}
	return out, true, nil
}

// SetLeaderboards replaces every leaderboard of a campaign with counts
// (its approved nominations) and marks them built. The new sets are built
// under temporary names and renamed in one MULTI/EXEC, so readers never
// see a half-built board. Counts committed while the caller read them
// from the database may be lowered until their nominations' next vote;
// the periodic rebuild repairs that.
func (v *Votes) SetLeaderboards(ctx context.Context, campaign int64, counts []model.NominationCount) error {
	byCat := map[string][]redis.Z{}
	all := make([]redis.Z, 0, len(counts))
	for _, c := range counts {
		z := redis.Z{Score: float64(c.Votes), Member: c.NominationID}
		all = append(all, z)
		byCat[c.Category] = append(byCat[c.Category], z)
	}
	old, err := v.c.SMembers(ctx, lbKey(campaign, "")+":cats").Result()
	if err != nil {
		return fmt.Errorf("set leaderboards: %w", err)
	}
	tmp := "~tmp"
	_, err = v.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, cat := range old {
			if _, keep := byCat[cat]; !keep {
				p.Del(ctx, lbKey(campaign, cat))
			}
		}
		p.Del(ctx, lbKey(campaign, "")+":cats")
		write := func(key string, zs []redis.Z) {
			if len(zs) == 0 {
				p.Del(ctx, key)
				return
			}
			p.Del(ctx, key+tmp)
			p.ZAdd(ctx, key+tmp, zs...)
			p.Rename(ctx, key+tmp, key)
		}
		write(lbKey(campaign, ""), all)
		for cat, zs := range byCat {
			write(lbKey(campaign, cat), zs)
			p.SAdd(ctx, lbKey(campaign, "")+":cats", cat)
		}
		p.Set(ctx, lbBuiltKey(campaign), 1, 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("set leaderboards: %w", err)
	}
	return nil
}

// SetNominationScore puts a nomination on (or back on) its campaign's
// leaderboards with votes (an approval).
func (v *Votes) SetNominationScore(ctx context.Context, campaign int64, category string, nomination, votes int64) error {
	_, err := v.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		z := redis.Z{Score: float64(votes), Member: nomination}
		p.ZAdd(ctx, lbKey(campaign, ""), z)
		p.ZAdd(ctx, lbKey(campaign, category), z)
		p.SAdd(ctx, lbKey(campaign, "")+":cats", category)
		return nil
	})
	if err != nil {
		return fmt.Errorf("leaderboard score: %w", err)
	}
	return nil
}

// RemoveNomination takes a nomination off its campaign's leaderboards (a
// take-down).
func (v *Votes) RemoveNomination(ctx context.Context, campaign int64, category string, nomination int64) error {
	_, err := v.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, lbKey(campaign, ""), nomination)
		p.ZRem(ctx, lbKey(campaign, category), nomination)
		return nil
	})
	if err != nil {
		return fmt.Errorf("leaderboard remove: %w", err)
	}
	return nil
}

// DropLeaderboards marks a campaign's leaderboards as not built, so the
// next read rebuilds them (after a Redis write that may have failed).
func (v *Votes) DropLeaderboards(ctx context.Context, campaign int64) error {
	if err := v.c.Del(ctx, lbBuiltKey(campaign)).Err(); err != nil {
		return fmt.Errorf("drop leaderboards: %w", err)
	}
	return nil
}
