package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
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
// A voter's day in a campaign is one string, vd:{c<campaign>}:<voter>:<day>:
// byte 0 is 1 once the record was primed from the ledger, and day slot s
// (1..64) is the 9 bytes at 1+9(s-1): the nomination the slot's vote went
// to (8 bytes, big-endian) and that vote's nomination slot (1 byte); all
// zero while the slot is not known to be taken. Only committed votes are
// ever written there (SETRANGE of their own 9 bytes, which every writer of
// that slot writes alike), so the record never claims more than the ledger
// holds: it is a lower bound that can only make the database reject a
// guess, never refuse a vote the ledger would take. (Counters incremented
// after each commit would over-count when a rebuild from the ledger races
// a commit that has not incremented yet.) One GET reads it whole: ≤ 577
// bytes. (It was a hash, vote:{c<campaign>}:<voter>:<day>, with a field
// per slot, read with an HMGET of every slot: ≈ 6–7 µs of Redis CPU and
// 50 allocations a vote. Those keys are no longer read and expire.)
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

// maxSlots is the most day slots a record holds (model.MaxVotesPerDay ≤ it).
const maxSlots = 64

// slotSize is a day slot's bytes in a voter's day record.
const slotSize = 9

func voterDayKey(campaign, voter int64, day int) string {
	b := make([]byte, 0, 48)
	b = append(b, "vd:{c"...)
	b = strconv.AppendInt(b, campaign, 10)
	b = append(b, "}:"...)
	b = strconv.AppendInt(b, voter, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(day), 10)
	return string(b)
}

func lbKey(campaign int64, category string) string {
	if category == "" {
		return "lb:{c" + strconv.FormatInt(campaign, 10) + "}:all"
	}
	return "lb:{c" + strconv.FormatInt(campaign, 10) + "}:cat:" + category
}

func lbBuiltKey(campaign int64) string { return "lb:{c" + strconv.FormatInt(campaign, 10) + "}:built" }

// slotOffset is where day slot s starts in a voter's day record.
func slotOffset(s int) int64 { return int64(1 + slotSize*(s-1)) }

// appendSlot appends a day slot's entry to b.
func appendSlot(b []byte, nomination int64, nslot int) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(nomination))
	return append(b, byte(nslot))
}

// readVoterDay decodes a voter's day record: whether it is primed, the
// day slots (up to limit) taken, and the nomination slots (up to nlimit)
// taken by votes for nomination (in any day slot: a limit lowered during
// the day leaves votes above it).
func readVoterDay(rec string, nomination int64, limit, nlimit int) (primed bool, used, nused uint64) {
	if len(rec) == 0 {
		return false, 0, 0
	}
	primed = rec[0] == 1
	for s := 1; s <= maxSlots; s++ {
		off := int(slotOffset(s))
		if off+slotSize > len(rec) {
			break
		}
		e := rec[off : off+slotSize]
		var id uint64
		for i := range 8 {
			id = id<<8 | uint64(e[i])
		}
		if id == 0 {
			continue
		}
		if s <= limit {
			used |= 1 << uint(s-1)
		}
		if int64(id) == nomination {
			if ns := int(e[8]); ns >= 1 && ns <= nlimit && ns <= maxSlots {
				nused |= 1 << uint(ns-1)
			}
		}
	}
	return primed, used, nused
}

// Check counts the attempt against the IP's and the device's minute and
// reads the voter's day (none when q.VoterID is 0), in one round trip that
// concurrent callers share (see batcher). No MULTI is needed: a rate key
// is named after its minute and lives two, so it cannot expire between its
// SET NX and its INCR; and no Lua (the embedded Redis builds an
// interpreter per script call).
func (v *Votes) Check(ctx context.Context, q model.VoteCheck) (model.VoteState, error) {
	min := strconv.FormatInt(q.Minute, 10)
	ipKey, devKey := "rl:vote:ip:"+q.IP+":"+min, "rl:vote:dev:"+q.Device+":"+min
	ipN, devN := redis.NewIntCmd(ctx, "incr", ipKey), redis.NewIntCmd(ctx, "incr", devKey)
	setIP, setDev := redis.NewStatusCmd(ctx, "set", ipKey, 0, "ex", 120, "nx"), redis.NewStatusCmd(ctx, "set", devKey, 0, "ex", 120, "nx")
	var got *redis.StringCmd
	if q.VoterID != 0 {
		got = redis.NewStringCmd(ctx, "get", voterDayKey(q.CampaignID, q.VoterID, q.Day))
		v.batch.do(ctx, setIP, ipN, setDev, devN, got)
	} else {
		v.batch.do(ctx, setIP, ipN, setDev, devN)
	}
	for _, c := range []redis.Cmder{ipN, devN} {
		if err := c.Err(); err != nil {
			return model.VoteState{}, fmt.Errorf("vote check: %w", err)
		}
	}
	st := model.VoteState{IPVotes: ipN.Val(), DevVotes: devN.Val()}
	if got == nil {
		return st, nil
	}
	rec, err := got.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return model.VoteState{}, fmt.Errorf("vote check: %w", err)
	}
	st.Primed, st.Used, st.NUsed = readVoterDay(rec, q.NominationID, q.Limit, q.NLimit)
	return st, nil
}

// writeSlots queues on p the writes of a voter's day slots (runs of
// consecutive slots in one SETRANGE each) and of its TTL.
func writeSlots(ctx context.Context, p redis.Pipeliner, key string, slots []model.VoterSlot) {
	slices.SortFunc(slots, func(a, b model.VoterSlot) int { return a.Slot - b.Slot })
	for i := 0; i < len(slots); {
		t := slots[i]
		if t.Slot < 1 || t.Slot > maxSlots || t.NominationID <= 0 {
			i++
			continue
		}
		b := make([]byte, 0, slotSize*(len(slots)-i))
		j := i
		for ; j < len(slots) && slots[j].Slot == t.Slot+(j-i); j++ {
			b = appendSlot(b, slots[j].NominationID, slots[j].NSlot)
		}
		p.SetRange(ctx, key, slotOffset(t.Slot), string(b))
		i = j
	}
	p.Expire(ctx, key, voterDayTTL)
}

// Prime records a voter's day as read from the ledger and marks it
// primed.
func (v *Votes) Prime(ctx context.Context, campaign, voter int64, day int, taken []model.VoterSlot) error {
	key := voterDayKey(campaign, voter, day)
	_, err := v.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SetRange(ctx, key, 0, "\x01")
		writeSlots(ctx, p, key, slices.Clone(taken))
		return nil
	})
	if err != nil {
		return fmt.Errorf("vote prime: %w", err)
	}
	return nil
}

// Committed records committed votes in their voters' days and raises the
// leaderboard scores of the nominations in scores, in one pipeline. Every
// write is idempotent (ZADD GT: a score is only ever raised).
func (v *Votes) Committed(ctx context.Context, votes []model.CommittedVote, scores []model.NominationScore) error {
	if len(votes) == 0 && len(scores) == 0 {
		return nil
	}
	type dayKey struct {
		campaign, voter int64
		day             int
	}
	days := make(map[dayKey][]model.VoterSlot, len(votes))
	for _, x := range votes {
		k := dayKey{x.CampaignID, x.VoterID, x.Day}
		days[k] = append(days[k], model.VoterSlot{Slot: x.Slot, NominationID: x.NominationID, NSlot: x.NSlot})
	}
	_, err := v.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, slots := range days {
			writeSlots(ctx, p, voterDayKey(k.campaign, k.voter, k.day), slots)
		}
		for _, x := range scores {
			z := redis.ZAddArgs{GT: true, Members: []redis.Z{{Score: float64(x.Votes), Member: x.NominationID}}}
			p.ZAddArgs(ctx, lbKey(x.CampaignID, ""), z)
			p.ZAddArgs(ctx, lbKey(x.CampaignID, x.Category), z)
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
