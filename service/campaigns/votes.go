package campaigns

import (
	"cmp"
	"context"
	"errors"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"wanjia/model"
)

// metaCache keeps, per copy of the service, what a vote needs to know of
// campaigns and nominations (windows, limits, status), for ttl. A change
// made through this copy drops its entries at once; other copies see it
// within ttl. Misses are loaded once however many requests wait
// (singleflight), and "not found" is cached too, so votes for made-up ids
// cost one query per id per ttl.
type metaCache struct {
	ttl   time.Duration
	now   func() time.Time
	group singleflight.Group

	mu    sync.RWMutex
	camps map[int64]metaEntry[model.Campaign]
	noms  map[int64]metaEntry[model.Nomination]
}

type metaEntry[T any] struct {
	v   T
	err error
	at  time.Time
}

// maxMetaEntries bounds each map; past it the map starts afresh.
const maxMetaEntries = 100_000

func newMetaCache(ttl time.Duration, now func() time.Time) *metaCache {
	return &metaCache{ttl: ttl, now: now, camps: map[int64]metaEntry[model.Campaign]{}, noms: map[int64]metaEntry[model.Nomination]{}}
}

func cached[T any](m *metaCache, table map[int64]metaEntry[T], prefix string, id int64, load func() (T, error)) (T, error) {
	now := m.now()
	m.mu.RLock()
	e, ok := table[id]
	m.mu.RUnlock()
	if ok && now.Sub(e.at) < m.ttl {
		return e.v, e.err
	}
	v, err, _ := m.group.Do(prefix+strconv.FormatInt(id, 10), func() (any, error) {
		v, err := load()
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return v, err // not cached: the next request tries again
		}
		m.mu.Lock()
		if len(table) >= maxMetaEntries {
			clear(table)
		}
		table[id] = metaEntry[T]{v: v, err: err, at: now}
		m.mu.Unlock()
		return v, err
	})
	t, _ := v.(T)
	return t, err
}

func (m *metaCache) campaign(id int64, load func() (model.Campaign, error)) (model.Campaign, error) {
	return cached(m, m.camps, "c", id, load)
}

func (m *metaCache) nomination(id int64, load func() (model.Nomination, error)) (model.Nomination, error) {
	return cached(m, m.noms, "n", id, load)
}

func (m *metaCache) dropCampaign(id int64) {
	m.mu.Lock()
	delete(m.camps, id)
	m.mu.Unlock()
}

func (m *metaCache) dropNomination(id int64) {
	m.mu.Lock()
	delete(m.noms, id)
	m.mu.Unlock()
}

// voteTarget returns the approved nomination id and its campaign, from
// the meta cache; anything else is 404.
func (s *Service) voteTarget(ctx context.Context, id int64) (model.Nomination, model.Campaign, error) {
	n, err := s.meta.nomination(id, func() (model.Nomination, error) { return s.store.VoteTarget(context.WithoutCancel(ctx), id) })
	if err != nil {
		return n, model.Campaign{}, err
	}
	if n.Status != model.NominationApproved {
		return n, model.Campaign{}, errNomMissing
	}
	c, err := s.campaignMeta(ctx, n.CampaignID)
	return n, c, err
}

func (s *Service) campaignMeta(ctx context.Context, id int64) (model.Campaign, error) {
	return s.meta.campaign(id, func() (model.Campaign, error) { return s.store.Campaign(context.WithoutCancel(ctx), id) })
}

// VoteMeta is where a vote comes from: the client IP and a device id (the
// Mini Program's own, or the session's id when it sends none). Both are
// kept only as keyed hashes.
type VoteMeta struct {
	IP     string
	Device string
}

// VoteResult answers a vote: the nomination's valid votes after it, and
// how many more the voter may cast today in the campaign.
type VoteResult struct {
	Votes          int64
	RemainingToday int
}

var (
	errVoteLimit   = model.Coded(model.ErrRateLimited, "vote_limit", "今日投票次数已用完")
	errVoteRate    = model.Coded(model.ErrRateLimited, "rate_limited", "投票太频繁，请稍后再试")
	errVoteNotOpen = errNotOpen("不在投票时间内")
)

func lowestFree(used uint64, limit int) int {
	free := ^used
	if limit < 64 {
		free &= 1<<uint(limit) - 1
	}
	if free == 0 {
		return 0
	}
	return bits.TrailingZeros64(free) + 1
}

// Vote records a vote of voterID (the signed-in user: identity never comes
// from the request body) for an approved nomination inside its campaign's
// vote window. It returns 404 for a nomination that is not public, 409
// not_open outside the window, 429 rate_limited past the per-IP or
// per-device minute limit, 429 vote_limit when the voter's votes of the day
// (in the campaign, or for this nomination) are used up. It returns once
// the vote is committed to the ledger.
func (s *Service) Vote(ctx context.Context, voterID, nominationID int64, m VoteMeta) (VoteResult, error) {
	res, err := s.vote(ctx, voterID, nominationID, m)
	result := "accepted"
	switch {
	case err == nil:
	case errors.Is(err, errVoteLimit):
		result = "limit"
	case errors.Is(err, errVoteRate):
		result = "rate_limited"
	case errors.Is(err, errVoteNotOpen):
		result = "not_open"
	case errors.Is(err, model.ErrNotFound):
		result = "not_found"
	default:
		result = "error"
	}
	s.votes.WithLabelValues(result).Inc()
	return res, err
}

func (s *Service) vote(ctx context.Context, voterID, nominationID int64, m VoteMeta) (VoteResult, error) {
	if voterID <= 0 {
		return VoteResult{}, model.Errorf(model.ErrUnauthenticated, "请先登录")
	}
	now := s.now()
	ipHash, devHash := s.hash("ip", m.IP), s.hash("device", m.Device)
	n, c, err := s.voteTarget(ctx, nominationID)
	if err == nil && !c.VoteOpen(now) {
		err = errVoteNotOpen
	}
	if err != nil {
		// A refused vote counts against the client's limits too, so that
		// made-up ids cannot be sent without limit (the route has no other
		// per-IP limiter).
		if s.cache != nil {
			st, cerr := s.cache.Check(ctx, model.VoteCheck{IP: ipHash, Device: devHash, Minute: now.Unix() / 60})
			if cerr == nil && (st.IPVotes > int64(s.opt.VotesPerIPMinute) || st.DevVotes > int64(s.opt.VotesPerDeviceMinute)) {
				return VoteResult{}, errVoteRate
			}
		}
		return VoteResult{}, err
	}
	day := s.day(now)
	att := model.VoteAttempt{
		CampaignID: c.ID, NominationID: n.ID, Category: n.Category, VoterID: voterID, Day: day,
		Limit: c.VotesPerDay, NLimit: c.PerNominationDaily, IPHash: ipHash, DeviceHash: devHash, At: now,
	}
	if s.cache != nil {
		st, err := s.cache.Check(ctx, model.VoteCheck{CampaignID: c.ID, NominationID: n.ID, VoterID: voterID, Day: day,
			Limit: c.VotesPerDay, NLimit: c.PerNominationDaily, IP: ipHash, Device: devHash, Minute: now.Unix() / 60})
		switch {
		case err != nil:
			s.warned.warn(ctx, s.log, "campaigns: vote fast path unavailable; the ledger alone holds the limits", err)
		case st.IPVotes > int64(s.opt.VotesPerIPMinute) || st.DevVotes > int64(s.opt.VotesPerDeviceMinute):
			return VoteResult{}, errVoteRate
		default:
			if !st.Primed {
				taken, err := s.store.VoterDay(ctx, c.ID, voterID, day)
				if err != nil {
					return VoteResult{}, err
				}
				if err := s.cache.Prime(ctx, c.ID, voterID, day, taken); err != nil {
					s.warned.warn(ctx, s.log, "campaigns: vote fast path unavailable; the ledger alone holds the limits", err)
				}
				for _, t := range taken {
					st.Used |= 1 << uint(t.Slot-1)
					if t.NominationID == n.ID {
						st.NUsed |= 1 << uint(t.NSlot-1)
					}
				}
			}
			if lowestFree(st.Used, c.VotesPerDay) == 0 || lowestFree(st.NUsed, c.PerNominationDaily) == 0 {
				return VoteResult{}, errVoteLimit // committed votes already took every slot
			}
			att.UsedSlots, att.UsedNSlots = st.Used, st.NUsed
		}
	}
	out, err := s.committer.submit(ctx, att)
	if err != nil {
		return VoteResult{}, err
	}
	if out.Err != nil {
		return VoteResult{}, out.Err
	}
	if !out.Accepted {
		return VoteResult{}, errVoteLimit
	}
	used := bits.OnesCount64(att.UsedSlots | 1<<uint(out.Slot-1))
	return VoteResult{Votes: out.Votes, RemainingToday: max(c.VotesPerDay-max(used, out.Slot), 0)}, nil
}

// writeVotes is the committer's writer: the batch goes to the ledger and
// the requests are answered once it committed. Its committed votes go to
// the Redis fast path and the leaderboards afterwards, in the background
// (redisWriter), so the next batch does not wait for Redis; a voter's next
// vote may not find this one there yet, which only makes the ledger refuse
// its first guess of a slot (see store.RecordVotes).
func (s *Service) writeVotes(ctx context.Context, votes []model.VoteAttempt) []model.VoteOutcome {
	outs := s.store.RecordVotes(ctx, votes)
	if s.cache == nil {
		return outs
	}
	done := make([]model.CommittedVote, 0, len(votes))
	for i, o := range outs {
		if !o.Accepted {
			continue
		}
		v := votes[i]
		done = append(done, model.CommittedVote{CampaignID: v.CampaignID, NominationID: v.NominationID, Category: v.Category,
			VoterID: v.VoterID, Day: v.Day, Slot: o.Slot, NSlot: o.NSlot, Votes: o.Votes})
	}
	if len(done) == 0 {
		return outs
	}
	select {
	case s.redisQ <- redisWrite{votes: done}:
	default: // Redis is far behind: let the leaderboards be rebuilt instead
		s.redisFailed(ctx, done, nil, errors.New("redis write queue full"))
	}
	return outs
}

// redisWrite is a batch of committed votes for Redis, or (done set) a
// barrier: closed once everything queued before it was written.
type redisWrite struct {
	votes []model.CommittedVote
	done  chan struct{}
}

// scoreEvery is how often, at most, redisWriter raises the leaderboard
// scores: a nomination's count changes many times in that time under load,
// and only its latest is written. A leaderboard lags the ledger by up to
// this much more (the gallery's page cache lags by seconds); a barrier
// (syncRedis, before any rebuild) and Close write the scores at once.
const scoreEvery = 100 * time.Millisecond

// redisWriter writes committed votes to Redis: the voters' days of every
// batch queued while the previous write was in flight in one pipeline,
// with the latest count of each nomination they touched when scoreEvery
// has passed since the last scores were written. It exits when redisQ is
// closed and drained.
func (s *Service) redisWriter() {
	defer close(s.redisDone)
	type nomKey struct{ campaign, nomination int64 }
	var (
		days     []model.CommittedVote
		pending  = map[nomKey]model.NominationScore{}
		scores   []model.NominationScore
		barriers []chan struct{}
		written  time.Time // when scores were last written
		timer    = time.NewTimer(time.Hour)
		armed    bool // timer runs until the pending scores are due
	)
	timer.Stop()
	add := func(w redisWrite) {
		days = append(days, w.votes...)
		for _, v := range w.votes {
			k := nomKey{v.CampaignID, v.NominationID}
			if cur, ok := pending[k]; !ok || v.Votes > cur.Votes {
				pending[k] = model.NominationScore{CampaignID: v.CampaignID, NominationID: v.NominationID, Category: v.Category, Votes: v.Votes}
			}
		}
		if w.done != nil {
			barriers = append(barriers, w.done)
		}
	}
	q := s.redisQ
	for q != nil || len(pending) > 0 {
		if q != nil {
			var tick <-chan time.Time
			if armed {
				tick = timer.C
			}
			select {
			case w, ok := <-q:
				if !ok {
					q = nil
					break
				}
				add(w)
			drain:
				for len(days) < 4096 {
					select {
					case more, ok := <-q:
						if !ok {
							q = nil
							break drain
						}
						add(more)
					default:
						break drain
					}
				}
			case <-tick:
				armed = false
			}
		}
		scores = scores[:0]
		if len(pending) > 0 && (q == nil || len(barriers) > 0 || time.Since(written) >= scoreEvery) {
			for _, sc := range pending {
				scores = append(scores, sc)
			}
			clear(pending)
			written = time.Now()
			if armed {
				timer.Stop()
				armed = false
			}
		}
		if len(days) > 0 || len(scores) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.cache.Committed(ctx, days, scores); err != nil {
				s.redisFailed(ctx, days, scores, err)
			}
			cancel()
		}
		days = days[:0]
		for _, b := range barriers {
			close(b)
		}
		barriers = barriers[:0]
		if len(pending) > 0 && !armed {
			timer.Reset(scoreEvery - time.Since(written))
			armed = true
		}
	}
}

// redisFailed marks the leaderboards of the votes' and the scores'
// campaigns for a rebuild (best effort: with Redis down, the periodic
// rebuild repairs them). The voters' days in Redis stay a lower bound
// either way.
func (s *Service) redisFailed(ctx context.Context, votes []model.CommittedVote, scores []model.NominationScore, err error) {
	s.warned.warn(ctx, s.log, "campaigns: committed votes not recorded in Redis; leaderboards will be rebuilt", err)
	seen := map[int64]bool{}
	drop := func(id int64) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		return s.cache.DropLeaderboards(ctx, id)
	}
	for _, v := range votes {
		if err := drop(v.CampaignID); err != nil {
			return
		}
	}
	for _, sc := range scores {
		if err := drop(sc.CampaignID); err != nil {
			return
		}
	}
}

// syncRedis waits until every committed vote queued so far is written to
// Redis (or ctx ends): before a rebuild, so that no write queued earlier
// lands on the rebuilt leaderboard.
func (s *Service) syncRedis(ctx context.Context) {
	if s.cache == nil {
		return
	}
	done := make(chan struct{})
	s.redisMu.RLock()
	if s.redisClosed {
		s.redisMu.RUnlock()
		return
	}
	select {
	case s.redisQ <- redisWrite{done: done}:
		s.redisMu.RUnlock()
	case <-ctx.Done():
		s.redisMu.RUnlock()
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// rateWarn logs a warning at most once a minute.
type rateWarn struct{ last atomic.Int64 }

func (w *rateWarn) warn(ctx context.Context, log interface {
	WarnContext(ctx context.Context, msg string, args ...any)
}, msg string, err error) {
	now := time.Now().UnixNano()
	last := w.last.Load()
	if now-last < int64(time.Minute) || !w.last.CompareAndSwap(last, now) {
		return
	}
	log.WarnContext(ctx, msg, "err", err)
}

// LeaderboardEntry is one place of a leaderboard.
type LeaderboardEntry struct {
	Rank         int
	NominationID int64
	FamilyName   string
	Category     string
	Votes        int64
}

// Leaderboard returns up to limit (1–100; default 20) approved nominations
// of a campaign with the most valid votes, of category or of all
// categories, from Redis; a missing leaderboard is rebuilt from the
// database first. Equal votes share a rank.
func (s *Service) Leaderboard(ctx context.Context, campaignID int64, category string, limit int) ([]LeaderboardEntry, error) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	c, err := s.campaignMeta(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	if category != "" {
		if _, ok := c.Category(category); !ok {
			return nil, model.Invalid(map[string]string{"category": "没有这个类别"})
		}
	}
	counts, err := s.topCounts(ctx, campaignID, category, limit)
	if err != nil {
		return nil, err
	}
	out := make([]LeaderboardEntry, 0, len(counts))
	for _, x := range counts {
		n, err := s.meta.nomination(x.NominationID, func() (model.Nomination, error) {
			return s.store.VoteTarget(context.WithoutCancel(ctx), x.NominationID)
		})
		if err != nil || n.Status != model.NominationApproved || n.CampaignID != campaignID {
			continue // taken down since; the next rebuild drops it
		}
		e := LeaderboardEntry{Rank: len(out) + 1, NominationID: n.ID, FamilyName: n.FamilyName, Category: n.Category, Votes: x.Votes}
		if len(out) > 0 && out[len(out)-1].Votes == x.Votes {
			e.Rank = out[len(out)-1].Rank
		}
		out = append(out, e)
	}
	return out, nil
}

// topCounts reads the leaderboard from Redis, rebuilding it from the
// database when it is missing; without Redis it ranks the database counts.
func (s *Service) topCounts(ctx context.Context, campaignID int64, category string, limit int) ([]model.NominationCount, error) {
	if s.cache != nil {
		top, built, err := s.cache.Leaderboard(ctx, campaignID, category, limit)
		if err == nil && built {
			return top, nil
		}
		if err == nil {
			if err := s.RebuildLeaderboards(ctx, campaignID); err == nil {
				if top, built, err := s.cache.Leaderboard(ctx, campaignID, category, limit); err == nil && built {
					return top, nil
				}
			}
		}
	}
	counts, err := s.store.VoteCounts(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	var out []model.NominationCount
	for _, x := range counts {
		if category == "" || x.Category == category {
			out = append(out, x)
		}
	}
	sortCounts(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// sortCounts orders by votes, most first, then by id, highest first (as
// Redis orders equal scores in a reverse range).
func sortCounts(cs []model.NominationCount) {
	slices.SortFunc(cs, func(a, b model.NominationCount) int {
		if c := cmp.Compare(b.Votes, a.Votes); c != 0 {
			return c
		}
		return cmp.Compare(b.NominationID, a.NominationID)
	})
}

// RebuildLeaderboards replaces a campaign's leaderboards with the counts
// in the database (after a flush, a void, or on the periodic rebuild).
// Rebuilds of one campaign by concurrent requests of this copy share one
// read.
func (s *Service) RebuildLeaderboards(ctx context.Context, campaignID int64) error {
	if s.cache == nil {
		return nil
	}
	_, err, _ := s.rebuilds.Do(strconv.FormatInt(campaignID, 10), func() (any, error) {
		s.syncRedis(ctx)
		counts, err := s.store.VoteCounts(context.WithoutCancel(ctx), campaignID)
		if err != nil {
			return nil, err
		}
		return nil, s.cache.SetLeaderboards(context.WithoutCancel(ctx), campaignID, counts)
	})
	return err
}
