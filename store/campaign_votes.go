package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"wanjia/model"
)

// lowestFree is the lowest slot in 1..limit whose bit is not in used, or 0.
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

type voterDayKey struct {
	campaign, voter int64
	day             int
}

type nomDayKey struct {
	nomination, voter int64
	day               int
}

// RecordVotes writes a batch of votes to the ledger (group commit) and
// returns one outcome per vote, in order.
//
// The limits are the ledger's unique indexes (see voteRow): each vote
// takes the lowest day slot and nomination slot that are free. The batch
// assigns slots in memory, starting from what the attempts know is taken
// (UsedSlots, UsedNSlots: a lower bound, from the Redis fast path) plus
// what earlier votes of the same batch claim, and inserts every vote that
// got both slots in one multi-row INSERT, bumps the nominations' counts and
// reads them back, in one transaction. A vote left without a slot is
// refused: committed rows hold all its voter's slots.
//
// When the INSERT hits a unique index (a slot taken by a vote the hints
// did not know of: an earlier batch whose Redis write has not landed, or
// another copy of the service), the transaction rolls back, the batch's
// voters' taken slots are read from the ledger (one query) and the batch
// is assigned and tried again. After three conflicts (copies racing for
// the same voters) every vote is recorded on its own, reading and retrying
// until it fits or is refused.
func (cs *Campaigns) RecordVotes(ctx context.Context, votes []model.VoteAttempt) []model.VoteOutcome {
	out := make([]model.VoteOutcome, len(votes))
	if len(votes) == 0 {
		return out
	}
	known := map[voterDayKey]uint64{}
	nknown := map[nomDayKey]uint64{}
	for _, v := range votes {
		k, nk := voterDayKey{v.CampaignID, v.VoterID, v.Day}, nomDayKey{v.NominationID, v.VoterID, v.Day}
		known[k] |= v.UsedSlots
		nknown[nk] |= v.UsedNSlots
	}
	slots := make([][2]int, len(votes))
	batch := make([]int, 0, len(votes))
	var err error
	for round := range 3 {
		if round > 0 {
			if err = cs.readTaken(ctx, votes, known, nknown); err != nil {
				break
			}
		}
		batch = assignSlots(votes, known, nknown, slots, batch[:0])
		var counts map[int64]int64
		for attempt := range 4 {
			counts, err = cs.insertBatch(ctx, votes, batch, slots)
			if err == nil || !retryable(err) || ctx.Err() != nil {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 2 * time.Millisecond)
		}
		if err == nil {
			for i := range votes {
				if s := slots[i]; s[0] > 0 {
					out[i] = model.VoteOutcome{Accepted: true, Slot: s[0], NSlot: s[1], Votes: counts[votes[i].NominationID]}
				}
			}
			return out
		}
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			break
		}
	}
	if err != nil && (errors.Is(err, gorm.ErrDuplicatedKey) || retryable(err)) {
		// Record one by one, in order, so that a voter's votes in this
		// batch see each other.
		for i, v := range votes {
			out[i] = cs.recordOne(ctx, v)
		}
		return out
	}
	for i := range out {
		out[i].Err = fmt.Errorf("record votes: %w", err)
	}
	return out
}

// assignSlots gives each vote the lowest free day and nomination slots
// given known and nknown (which it updates with the claims) and returns
// the indexes of the votes that got both; the others' slots are zero.
func assignSlots(votes []model.VoteAttempt, known0 map[voterDayKey]uint64, nknown0 map[nomDayKey]uint64, slots [][2]int, batch []int) []int {
	known := make(map[voterDayKey]uint64, len(known0))
	for k, v := range known0 {
		known[k] = v
	}
	nknown := make(map[nomDayKey]uint64, len(nknown0))
	for k, v := range nknown0 {
		nknown[k] = v
	}
	for i, v := range votes {
		slots[i] = [2]int{}
		k, nk := voterDayKey{v.CampaignID, v.VoterID, v.Day}, nomDayKey{v.NominationID, v.VoterID, v.Day}
		s, ns := lowestFree(known[k], v.Limit), lowestFree(nknown[nk], v.NLimit)
		if s == 0 || ns == 0 {
			continue
		}
		known[k] |= 1 << uint(s-1)
		nknown[nk] |= 1 << uint(ns-1)
		slots[i] = [2]int{s, ns}
		batch = append(batch, i)
	}
	return batch
}

// readTaken adds the slots the ledger holds for the batch's voters (per
// campaign and day) to known and nknown.
func (cs *Campaigns) readTaken(ctx context.Context, votes []model.VoteAttempt, known map[voterDayKey]uint64, nknown map[nomDayKey]uint64) error {
	type cd struct {
		campaign int64
		day      int
	}
	voters := map[cd][]int64{}
	seen := map[voterDayKey]bool{}
	for _, v := range votes {
		k := voterDayKey{v.CampaignID, v.VoterID, v.Day}
		if !seen[k] {
			seen[k] = true
			voters[cd{v.CampaignID, v.Day}] = append(voters[cd{v.CampaignID, v.Day}], v.VoterID)
		}
	}
	for g, ids := range voters {
		var rows []struct {
			VoterID      int64
			DaySlot      int
			NominationID int64
			NomSlot      int
		}
		err := cs.db.conn(ctx).Raw("SELECT voter_id, day_slot, nomination_id, nom_slot FROM campaign_votes "+
			"WHERE campaign_id = ? AND vote_day = ? AND voter_id IN ?", g.campaign, g.day, ids).Scan(&rows).Error
		if err != nil {
			return fmt.Errorf("record votes: read taken slots: %w", err)
		}
		for _, r := range rows {
			if r.DaySlot < 1 || r.DaySlot > 64 || r.NomSlot < 1 || r.NomSlot > 64 {
				continue
			}
			known[voterDayKey{g.campaign, r.VoterID, g.day}] |= 1 << uint(r.DaySlot-1)
			nknown[nomDayKey{r.NominationID, r.VoterID, g.day}] |= 1 << uint(r.NomSlot-1)
		}
	}
	return nil
}

const voteColumns = "campaign_id, nomination_id, category, voter_id, vote_day, day_slot, nom_slot, ip_hash, device_hash, at_minute, created_at"

// insertBatch inserts votes[i] for i in idx with slots[i], bumps the
// counts of their nominations and returns the counts after, in one
// transaction: one multi-row INSERT, one UPDATE (and, on MySQL, which has
// no UPDATE … RETURNING, one SELECT). It goes to database/sql directly:
// gorm's statement building cost as much as the driver's on the hot path.
//
// On SQLite the INSERT is INSERT OR IGNORE and a short row count is the
// conflict (gorm.ErrDuplicatedKey, the whole transaction rolls back): a
// multi-row statement that may abort makes SQLite copy every page it
// touches to a statement journal first (a temp file past 64 KiB), ≈ a
// quarter of the ledger's CPU; one that cannot abort needs none. OR IGNORE
// also ignores NOT NULL violations, which the values here cannot have.
func (cs *Campaigns) insertBatch(ctx context.Context, votes []model.VoteAttempt, idx []int, slots [][2]int) (map[int64]int64, error) {
	if len(idx) == 0 {
		return map[int64]int64{}, nil
	}
	bump := make(map[int64]int64, len(idx))
	var noms []int64
	for _, i := range idx {
		id := votes[i].NominationID
		if bump[id] == 0 {
			noms = append(noms, id)
		}
		bump[id]++
	}
	slices.Sort(noms) // every writer locks nomination rows in id order
	b := cs.db.newSQL(len(idx)*11 + len(noms)*3)
	if cs.db.driver == "sqlite" {
		b.WriteString("INSERT OR IGNORE INTO campaign_votes (" + voteColumns + ") VALUES ")
	} else {
		b.WriteString("INSERT INTO campaign_votes (" + voteColumns + ") VALUES ")
	}
	for n, i := range idx {
		if n > 0 {
			b.WriteByte(',')
		}
		v := votes[i]
		at := dbTime(v.At)
		b.values(v.CampaignID, v.NominationID, v.Category, v.VoterID, v.Day, slots[i][0], slots[i][1],
			v.IPHash, v.DeviceHash, at.Unix()/60, at)
	}
	insert, insertArgs := b.String(), b.args
	var counts map[int64]int64
	err := cs.db.withSQLTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, insert, insertArgs...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != int64(len(idx)) {
			return gorm.ErrDuplicatedKey // SQLite's OR IGNORE skipped a row: a slot was taken
		}
		counts, err = cs.bumpCounts(ctx, tx, noms, bump)
		return err
	})
	return counts, err
}

// bumpCounts adds bump[id] to the votes of each nomination in ids (one
// UPDATE, rows locked in id order by every writer) and returns their
// counts after: with RETURNING on PostgreSQL, with a SELECT on MySQL (no
// UPDATE … RETURNING) and on SQLite (there RETURNING cost ≈ 40 µs more a
// batch than a SELECT). On SQLite (one writer, no lock order to keep) the
// bumps of many nominations are one JSON parameter joined with json_each:
// a CASE costs ≈ 4 µs a nomination to parse and run, the join ≈ 50 µs
// once.
func (cs *Campaigns) bumpCounts(ctx context.Context, tx *sql.Tx, ids []int64, bump map[int64]int64) (map[int64]int64, error) {
	if cs.db.driver == "sqlite" && len(ids) >= jsonBumps {
		js := make([]byte, 0, 16*len(ids))
		js = append(js, '{')
		for i, id := range ids {
			if i > 0 {
				js = append(js, ',')
			}
			js = append(js, '"')
			js = strconv.AppendInt(js, id, 10)
			js = append(js, '"', ':')
			js = strconv.AppendInt(js, bump[id], 10)
		}
		js = append(js, '}')
		if _, err := tx.ExecContext(ctx, "UPDATE campaign_nominations SET votes = votes + j.value FROM json_each(?) AS j "+
			"WHERE campaign_nominations.id = CAST(j.key AS INTEGER)", string(js)); err != nil {
			return nil, err
		}
	} else {
		b := cs.db.newSQL(len(ids) * 3)
		b.WriteString("UPDATE campaign_nominations SET votes = votes + CASE id")
		for _, id := range ids {
			b.WriteString(" WHEN ")
			b.param(id)
			b.WriteString(" THEN ")
			b.param(bump[id])
		}
		b.WriteString(" ELSE 0 END WHERE id IN ")
		b.list(ids)
		if cs.db.driver == "postgres" {
			b.WriteString(" RETURNING id, votes")
			rows, err := tx.QueryContext(ctx, b.String(), b.args...)
			if err != nil {
				return nil, err
			}
			return scanCounts(rows, len(ids))
		}
		if _, err := tx.ExecContext(ctx, b.String(), b.args...); err != nil {
			return nil, err
		}
	}
	b := cs.db.newSQL(len(ids))
	b.WriteString("SELECT id, votes FROM campaign_nominations WHERE id IN ")
	b.list(ids)
	rows, err := tx.QueryContext(ctx, b.String(), b.args...)
	if err != nil {
		return nil, err
	}
	return scanCounts(rows, len(ids))
}

// jsonBumps is how many nominations a SQLite batch bumps before the JSON
// join is the cheaper UPDATE (BenchmarkRecordVotes).
const jsonBumps = 16

// scanCounts reads (id, votes) rows and closes them.
func scanCounts(rows *sql.Rows, n int) (map[int64]int64, error) {
	defer rows.Close()
	counts := make(map[int64]int64, n)
	for rows.Next() {
		var id, votes int64
		if err := rows.Scan(&id, &votes); err != nil {
			return nil, err
		}
		counts[id] = votes
	}
	return counts, rows.Err()
}

// recordOne records one vote on its own (the fallback of RecordVotes).
func (cs *Campaigns) recordOne(ctx context.Context, v model.VoteAttempt) model.VoteOutcome {
	var err error
	for attempt := range 8 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return model.VoteOutcome{Err: ctx.Err()}
			case <-time.After(time.Duration(attempt) * time.Millisecond):
			}
		}
		var taken []model.VoterSlot
		taken, err = cs.VoterDay(ctx, v.CampaignID, v.VoterID, v.Day)
		if err != nil {
			continue
		}
		used, nused := v.UsedSlots, v.UsedNSlots
		for _, t := range taken {
			used |= 1 << uint(t.Slot-1)
			if t.NominationID == v.NominationID {
				nused |= 1 << uint(t.NSlot-1)
			}
		}
		s, ns := lowestFree(used, v.Limit), lowestFree(nused, v.NLimit)
		if s == 0 || ns == 0 {
			return model.VoteOutcome{}
		}
		var counts map[int64]int64
		counts, err = cs.insertBatch(ctx, []model.VoteAttempt{v}, []int{0}, [][2]int{{s, ns}})
		if err == nil {
			return model.VoteOutcome{Accepted: true, Slot: s, NSlot: ns, Votes: counts[v.NominationID]}
		}
		if !errors.Is(err, gorm.ErrDuplicatedKey) && !retryable(err) {
			break
		}
	}
	return model.VoteOutcome{Err: fmt.Errorf("record vote: %w", err)}
}

// VoterDay returns the slots a voter's ledger rows of a day take in a
// campaign (voided rows included: they keep their slots).
func (cs *Campaigns) VoterDay(ctx context.Context, campaignID, voterID int64, day int) ([]model.VoterSlot, error) {
	var rows []struct {
		DaySlot      int
		NominationID int64
		NomSlot      int
	}
	err := cs.db.conn(ctx).Raw("SELECT day_slot, nomination_id, nom_slot FROM campaign_votes WHERE campaign_id = ? AND voter_id = ? AND vote_day = ?",
		campaignID, voterID, day).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("voter day: %w", err)
	}
	out := make([]model.VoterSlot, 0, len(rows))
	for _, r := range rows {
		if r.DaySlot >= 1 && r.DaySlot <= 64 && r.NomSlot >= 1 && r.NomSlot <= 64 {
			out = append(out, model.VoterSlot{Slot: r.DaySlot, NominationID: r.NominationID, NSlot: r.NomSlot})
		}
	}
	return out, nil
}

// VoteCounts returns the valid votes of a campaign's approved nominations
// (the counts kept with the ledger), for leaderboards.
func (cs *Campaigns) VoteCounts(ctx context.Context, campaignID int64) ([]model.NominationCount, error) {
	var rows []struct {
		ID       int64
		Category string
		Votes    int64
	}
	err := cs.db.conn(ctx).Model(&nominationRow{}).Select("id, category, votes").
		Where("campaign_id = ? AND status = ?", campaignID, string(model.NominationApproved)).Order("id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("vote counts: %w", err)
	}
	out := make([]model.NominationCount, len(rows))
	for i, r := range rows {
		out[i] = model.NominationCount{NominationID: r.ID, Category: r.Category, Votes: r.Votes}
	}
	return out, nil
}

// lockCampaignNominations locks the campaign's nomination rows (in id
// order) on MySQL and PostgreSQL, so that no vote batch changes their
// counts until the transaction ends; SQLite has one writer anyway.
func (cs *Campaigns) lockCampaignNominations(ctx context.Context, campaignID int64) error {
	if cs.db.driver == "sqlite" {
		return nil
	}
	var ids []int64
	return cs.db.conn(ctx).Raw("SELECT id FROM campaign_nominations WHERE campaign_id = ? ORDER BY id FOR UPDATE", campaignID).
		Scan(&ids).Error
}

// recount sets every nomination's count of a campaign to its valid ledger
// rows, inside the caller's transaction (after lockCampaignNominations, so
// the count read afterwards sees every committed batch).
func (cs *Campaigns) recount(ctx context.Context, campaignID int64) error {
	c := cs.db.conn(ctx)
	var rows []struct {
		NominationID int64
		N            int64
	}
	if err := c.Raw("SELECT nomination_id, COUNT(*) AS n FROM campaign_votes WHERE campaign_id = ? AND voided_at IS NULL GROUP BY nomination_id",
		campaignID).Scan(&rows).Error; err != nil {
		return err
	}
	var sql strings.Builder
	sql.WriteString("UPDATE campaign_nominations SET votes = CASE id")
	args := make([]any, 0, len(rows)*2+1)
	for _, r := range rows {
		sql.WriteString(" WHEN ? THEN ?")
		args = append(args, r.NominationID, r.N)
	}
	sql.WriteString(" ELSE 0 END WHERE campaign_id = ?")
	args = append(args, campaignID)
	if len(rows) == 0 {
		return c.Exec("UPDATE campaign_nominations SET votes = 0 WHERE campaign_id = ?", campaignID).Error
	}
	return c.Exec(sql.String(), args...).Error
}

// Recount recomputes every nomination's count of a campaign from the
// ledger (valid rows only).
func (cs *Campaigns) Recount(ctx context.Context, campaignID int64) error {
	return cs.retryTx(ctx, func(ctx context.Context) error {
		if err := cs.lockCampaignNominations(ctx, campaignID); err != nil {
			return err
		}
		return cs.recount(ctx, campaignID)
	})
}

// retryTx runs fn in a transaction, again (up to 5 times) when the
// database aborts it as a deadlock victim or for a serialisation failure.
func (cs *Campaigns) retryTx(ctx context.Context, fn func(ctx context.Context) error) error {
	var err error
	for attempt := range 5 {
		err = cs.db.WithTx(ctx, fn)
		if err == nil || !retryable(err) || InTx(ctx) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
	return err
}

// VoidVotes voids the valid ledger rows of a campaign that f selects,
// with reason, by staff member by at now, and recounts the campaign's
// nominations in the same transaction. Rows are never deleted; their slots
// stay taken. It returns the number of rows voided.
func (cs *Campaigns) VoidVotes(ctx context.Context, campaignID int64, f model.VoteFilter, reason string, by int64, now time.Time) (int64, error) {
	if f.Empty() {
		return 0, model.Invalid(map[string]string{"filter": "须至少指定投票人、推荐或时间范围之一"})
	}
	var n int64
	err := cs.retryTx(ctx, func(ctx context.Context) error {
		if err := cs.lockCampaignNominations(ctx, campaignID); err != nil {
			return err
		}
		q := cs.db.conn(ctx).Model(&voteRow{}).Where("campaign_id = ? AND voided_at IS NULL", campaignID)
		if f.VoterID > 0 {
			q = q.Where("voter_id = ?", f.VoterID)
		}
		if f.NominationID > 0 {
			q = q.Where("nomination_id = ?", f.NominationID)
		}
		if !f.From.IsZero() {
			q = q.Where("created_at >= ?", dbTime(f.From))
		}
		if !f.To.IsZero() {
			q = q.Where("created_at < ?", dbTime(f.To))
		}
		res := q.Updates(map[string]any{"voided_at": dbTime(now), "void_reason": reason, "voided_by": by})
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		return cs.recount(ctx, campaignID)
	})
	if err != nil {
		return 0, fmt.Errorf("void votes: %w", err)
	}
	return n, nil
}

// LedgerPage returns up to limit ledger rows of a campaign with ids after
// afterID, in id order (the digest and the public export).
func (cs *Campaigns) LedgerPage(ctx context.Context, campaignID, afterID int64, limit int) ([]model.LedgerRow, error) {
	var rows []struct {
		ID           int64
		NominationID int64
		VoterID      int64
		VoteDay      int
		Voided       int
	}
	err := cs.db.conn(ctx).Raw("SELECT id, nomination_id, voter_id, vote_day, CASE WHEN voided_at IS NULL THEN 0 ELSE 1 END AS voided "+
		"FROM campaign_votes WHERE campaign_id = ? AND id > ? ORDER BY id LIMIT ?", campaignID, afterID, limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("ledger page: %w", err)
	}
	out := make([]model.LedgerRow, len(rows))
	for i, r := range rows {
		out[i] = model.LedgerRow{ID: r.ID, NominationID: r.NominationID, VoterID: r.VoterID, Day: r.VoteDay, Voided: r.Voided == 1}
	}
	return out, nil
}

// Totals returns a campaign's ledger totals.
func (cs *Campaigns) Totals(ctx context.Context, campaignID int64) (model.VoteTotals, error) {
	t := model.VoteTotals{VoidedByReason: map[string]int64{}}
	c := cs.db.conn(ctx)
	var row struct{ Total, Voided, Voters int64 }
	if err := c.Raw("SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN voided_at IS NULL THEN 0 ELSE 1 END), 0) AS voided, "+
		"COUNT(DISTINCT voter_id) AS voters FROM campaign_votes WHERE campaign_id = ?", campaignID).Scan(&row).Error; err != nil {
		return t, fmt.Errorf("vote totals: %w", err)
	}
	t.Total, t.Voided, t.Voters = row.Total, row.Voided, row.Voters
	var reasons []struct {
		VoidReason string
		N          int64
	}
	if err := c.Raw("SELECT void_reason, COUNT(*) AS n FROM campaign_votes WHERE campaign_id = ? AND voided_at IS NOT NULL GROUP BY void_reason",
		campaignID).Scan(&reasons).Error; err != nil {
		return t, fmt.Errorf("vote totals: %w", err)
	}
	for _, r := range reasons {
		t.VoidedByReason[r.VoidReason] = r.N
	}
	return t, nil
}

// Bursts returns the minutes (at most 50, most votes first) in which one
// nomination (by "nomination") or one client IP (by "ip") got at least min
// valid votes in a campaign.
func (cs *Campaigns) Bursts(ctx context.Context, campaignID int64, by string, min int) ([]model.VoteBurst, error) {
	col := "nomination_id"
	if by == "ip" {
		col = "ip_hash"
	}
	var rows []struct {
		K string
		M int64
		N int64
	}
	err := cs.db.conn(ctx).Raw("SELECT "+castText(cs.db.driver, col)+" AS k, at_minute AS m, COUNT(*) AS n FROM campaign_votes "+
		"WHERE campaign_id = ? AND voided_at IS NULL GROUP BY "+col+", at_minute HAVING COUNT(*) >= ? ORDER BY n DESC, m LIMIT 50",
		campaignID, min).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("bursts: %w", err)
	}
	out := make([]model.VoteBurst, len(rows))
	for i, r := range rows {
		out[i] = model.VoteBurst{Key: r.K, Minute: r.M, Votes: r.N}
	}
	return out, nil
}

// castText casts an integer column to text in the dialect's spelling.
func castText(driver, col string) string {
	switch {
	case col == "ip_hash":
		return col
	case driver == "mysql":
		return "CAST(" + col + " AS CHAR)"
	}
	return "CAST(" + col + " AS TEXT)"
}

// FreshAccounts returns the IPs (at most 50) from which at least min
// distinct voters voted in a campaign, with the number of those voters
// whose account was created less than fresh before their first vote from
// that IP.
func (cs *Campaigns) FreshAccounts(ctx context.Context, campaignID int64, min int, fresh time.Duration) ([]model.FreshVoters, error) {
	c := cs.db.conn(ctx)
	var ips []struct {
		IPHash string
		N      int64
	}
	if err := c.Raw("SELECT ip_hash, COUNT(DISTINCT voter_id) AS n FROM campaign_votes WHERE campaign_id = ? AND ip_hash <> '' "+
		"GROUP BY ip_hash HAVING COUNT(DISTINCT voter_id) >= ? ORDER BY n DESC, ip_hash LIMIT 50", campaignID, min).
		Scan(&ips).Error; err != nil {
		return nil, fmt.Errorf("fresh accounts: %w", err)
	}
	out := make([]model.FreshVoters, 0, len(ips))
	for _, x := range ips {
		ip := x.IPHash
		var rows []struct {
			VoterID     int64
			CreatedAt   time.Time
			FirstMinute int64
		}
		if err := c.Raw("SELECT v.voter_id AS voter_id, u.created_at AS created_at, MIN(v.at_minute) AS first_minute "+
			"FROM campaign_votes v JOIN users u ON u.id = v.voter_id WHERE v.campaign_id = ? AND v.ip_hash = ? "+
			"GROUP BY v.voter_id, u.created_at", campaignID, ip).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("fresh accounts: %w", err)
		}
		f := model.FreshVoters{IPHash: ip, Voters: x.N}
		for _, r := range rows {
			if time.Unix(r.FirstMinute*60, 0).Sub(r.CreatedAt) < fresh {
				f.Fresh++
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// OddHours returns, per nomination of a campaign with at least min odd-hour
// votes, its valid votes and odd-hour votes.
func (cs *Campaigns) OddHours(ctx context.Context, campaignID int64, min int) ([]model.HourShare, error) {
	var rows []struct {
		NominationID int64
		N            int64
		Odd          int64
	}
	// (at_minute + 480) % 1440 is the minute of the day in UTC+8.
	err := cs.db.conn(ctx).Raw("SELECT nomination_id, COUNT(*) AS n, SUM(CASE WHEN (at_minute + 480) % 1440 < 360 THEN 1 ELSE 0 END) AS odd "+
		"FROM campaign_votes WHERE campaign_id = ? AND voided_at IS NULL GROUP BY nomination_id "+
		"HAVING SUM(CASE WHEN (at_minute + 480) % 1440 < 360 THEN 1 ELSE 0 END) >= ? ORDER BY nomination_id LIMIT 200",
		campaignID, min).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("odd hours: %w", err)
	}
	out := make([]model.HourShare, len(rows))
	for i, r := range rows {
		out[i] = model.HourShare{NominationID: r.NominationID, Votes: r.N, Odd: r.Odd}
	}
	return out, nil
}

// --- results ---

// Standings returns a campaign's approved nominations with their valid
// votes, most votes first, then earlier approval, then lower id.
func (cs *Campaigns) Standings(ctx context.Context, campaignID int64) ([]model.Standing, error) {
	var rows []nominationRow
	if err := cs.db.conn(ctx).Select("id", "category", "votes", "approved_at").
		Where("campaign_id = ? AND status = ?", campaignID, string(model.NominationApproved)).
		Order("votes DESC, approved_at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("standings: %w", err)
	}
	out := make([]model.Standing, len(rows))
	for i, r := range rows {
		out[i] = model.Standing{NominationID: r.ID, Category: r.Category, Votes: r.Votes, ApprovedAt: timeVal(r.ApprovedAt)}
	}
	return out, nil
}

// FixResults records ws as the campaign's winners and marks its results
// fixed at now with the ledger digest, once: false when they were fixed
// already (nothing is written then).
func (cs *Campaigns) FixResults(ctx context.Context, campaignID int64, ws []model.Winner, digest string, now time.Time) (bool, error) {
	fixed := false
	err := cs.db.WithTx(ctx, func(ctx context.Context) error {
		res := cs.db.conn(ctx).Model(&campaignRow{}).Where("id = ? AND results_fixed_at IS NULL", campaignID).
			Updates(map[string]any{"results_fixed_at": dbTime(now), "results_digest": digest, "updated_at": dbTime(now)})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		fixed = true
		return cs.insertWinners(ctx, campaignID, ws, now)
	})
	if err != nil {
		return false, fmt.Errorf("fix results: %w", err)
	}
	return fixed, nil
}

func (cs *Campaigns) insertWinners(ctx context.Context, campaignID int64, ws []model.Winner, now time.Time) error {
	if len(ws) == 0 {
		return nil
	}
	rows := make([]winnerRow, len(ws))
	for i, w := range ws {
		rows[i] = winnerRow{CampaignID: campaignID, Category: w.Category, NominationID: w.NominationID, Place: w.Rank,
			Votes: w.Votes, Source: w.Source, Reason: w.Reason, DecidedBy: w.DecidedBy, DecidedAt: dbTime(now)}
	}
	return TranslateError(cs.db.conn(ctx).Create(&rows).Error)
}

// OverrideWinners replaces the current winners of a category with ws (a
// reviewer's override, recorded with its reason): the rows replaced keep
// their place in the record with replaced_at set. The campaign's results
// must be fixed (409 results_not_fixed).
func (cs *Campaigns) OverrideWinners(ctx context.Context, campaignID int64, category string, ws []model.Winner, now time.Time) error {
	err := cs.db.WithTx(ctx, func(ctx context.Context) error {
		row, err := cs.lockCampaign(ctx, campaignID)
		if err != nil {
			return err
		}
		if row.ResultsFixedAt == nil {
			return model.Coded(model.ErrConflict, "results_not_fixed", "投票结束、结果确定后才能调整获奖名单")
		}
		if err := cs.db.conn(ctx).Model(&winnerRow{}).
			Where("campaign_id = ? AND category = ? AND replaced_at IS NULL", campaignID, category).
			Update("replaced_at", dbTime(now)).Error; err != nil {
			return err
		}
		return cs.insertWinners(ctx, campaignID, ws, now)
	})
	if err != nil {
		return fmt.Errorf("override winners: %w", err)
	}
	return nil
}

// Winners returns a campaign's winners (with family names), by category
// and place; with all, the replaced rows too (oldest decision first).
func (cs *Campaigns) Winners(ctx context.Context, campaignID int64, all bool) ([]model.Winner, error) {
	q := cs.db.conn(ctx).Where("campaign_id = ?", campaignID)
	if !all {
		q = q.Where("replaced_at IS NULL")
	}
	var rows []winnerRow
	if err := q.Order("category, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("winners: %w", err)
	}
	out := make([]model.Winner, len(rows))
	ids := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.toModel()
		ids[i] = r.NominationID
	}
	if len(ids) > 0 {
		var names []struct {
			ID         int64
			FamilyName string
		}
		if err := cs.db.conn(ctx).Model(&nominationRow{}).Select("id, family_name").Where("id IN ?", ids).
			Scan(&names).Error; err != nil {
			return nil, fmt.Errorf("winners: %w", err)
		}
		byID := make(map[int64]string, len(names))
		for _, n := range names {
			byID[n.ID] = n.FamilyName
		}
		for i := range out {
			out[i].FamilyName = byID[out[i].NominationID]
		}
	}
	return out, nil
}

// --- figures ---

// Figures returns the figures of [from, to).
func (cs *Campaigns) Figures(ctx context.Context, from, to time.Time) (model.CampaignFigures, error) {
	f := model.CampaignFigures{NominationsByCat: map[string]int64{}, WinnersByCat: map[string]int64{}}
	c := cs.db.conn(ctx)
	var cats []struct {
		Category string
		N        int64
	}
	if err := c.Raw("SELECT category, COUNT(*) AS n FROM campaign_nominations WHERE created_at >= ? AND created_at < ? GROUP BY category",
		dbTime(from), dbTime(to)).Scan(&cats).Error; err != nil {
		return f, fmt.Errorf("figures: %w", err)
	}
	for _, x := range cats {
		f.NominationsByCat[x.Category] = x.N
		f.Nominations += x.N
	}
	if err := c.Model(&nominationRow{}).Where("status = ? AND approved_at >= ? AND approved_at < ?",
		string(model.NominationApproved), dbTime(from), dbTime(to)).Count(&f.Approved).Error; err != nil {
		return f, fmt.Errorf("figures: %w", err)
	}
	var v struct{ Valid, Voided int64 }
	if err := c.Raw("SELECT COALESCE(SUM(CASE WHEN voided_at IS NULL THEN 1 ELSE 0 END), 0) AS valid, "+
		"COALESCE(SUM(CASE WHEN voided_at IS NULL THEN 0 ELSE 1 END), 0) AS voided FROM campaign_votes "+
		"WHERE created_at >= ? AND created_at < ?", dbTime(from), dbTime(to)).Scan(&v).Error; err != nil {
		return f, fmt.Errorf("figures: %w", err)
	}
	f.Votes, f.VotesVoided = v.Valid, v.Voided
	shown := c.Model(&campaignRow{}).Select("id").
		Where("results_fixed_at IS NOT NULL AND results_at >= ? AND results_at < ?", dbTime(from), dbTime(to))
	if err := c.Model(&campaignRow{}).Where("results_fixed_at IS NOT NULL AND results_at >= ? AND results_at < ?",
		dbTime(from), dbTime(to)).Count(&f.CampaignsWithResult).Error; err != nil {
		return f, fmt.Errorf("figures: %w", err)
	}
	var wins []struct {
		Category string
		N        int64
	}
	if err := c.Model(&winnerRow{}).Select("category, COUNT(*) AS n").
		Where("replaced_at IS NULL AND campaign_id IN (?)", shown).Group("category").Scan(&wins).Error; err != nil {
		return f, fmt.Errorf("figures: %w", err)
	}
	for _, x := range wins {
		f.WinnersByCat[x.Category] = x.N
		f.Winners += x.N
	}
	return f, nil
}
