package campaigns

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"wanjia/model"
)

// The ledger digest.
//
// The public export of a campaign's ledger is a CSV file, UTF-8, "\n" line
// ends, with the header line
//
//	id,nomination_id,voter,day,voided
//
// and then one line per ledger row of the campaign in ascending id order:
// the row id, the nomination id, the voter's pseudonym (16 lower-case hex
// digits: the first 8 bytes of HMAC-SHA256 under the federation's secret
// key of "<campaign id>:<user id>", the same for a voter throughout a
// campaign and unlinkable across campaigns), the day in Asia/Shanghai as
// yyyymmdd, and 1 for a voided row, 0 for a valid one. The digest is the
// SHA-256 of the whole file in lower-case hex, so anyone holding the
// published export checks it with `sha256sum`, and recounts every
// nomination's valid votes from it. Rows are only ever added or voided,
// never changed otherwise or removed, so a later export holds every line
// of an earlier one, up to voided flags. The digest fixed with the results
// is taken after the vote window closed.
const LedgerHeader = "id,nomination_id,voter,day,voided\n"

const ledgerPage = 5000

// WriteLedger writes a campaign's ledger export (see LedgerHeader) to w
// and returns its digest and number of rows (reviewer).
func (s *Service) WriteLedger(ctx context.Context, campaignID int64, w io.Writer) (string, int64, error) {
	if _, err := requireReviewer(ctx); err != nil {
		return "", 0, err
	}
	if _, err := s.store.Campaign(ctx, campaignID); err != nil {
		return "", 0, err
	}
	return s.writeLedger(ctx, campaignID, w)
}

func (s *Service) writeLedger(ctx context.Context, campaignID int64, w io.Writer) (string, int64, error) {
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(sum, w), 64<<10)
	if _, err := bw.WriteString(LedgerHeader); err != nil {
		return "", 0, err
	}
	mac := hmac.New(sha256.New, s.pseudonymKey)
	var n int64
	var line []byte
	for after := int64(0); ; {
		rows, err := s.store.LedgerPage(ctx, campaignID, after, ledgerPage)
		if err != nil {
			return "", n, err
		}
		for _, r := range rows {
			line = strconv.AppendInt(line[:0], r.ID, 10)
			line = append(line, ',')
			line = strconv.AppendInt(line, r.NominationID, 10)
			line = append(line, ',')
			line = append(line, pseudonym(mac, campaignID, r.VoterID)...)
			line = append(line, ',')
			line = strconv.AppendInt(line, int64(r.Day), 10)
			if r.Voided {
				line = append(line, ",1\n"...)
			} else {
				line = append(line, ",0\n"...)
			}
			if _, err := bw.Write(line); err != nil {
				return "", n, err
			}
			n++
		}
		if len(rows) < ledgerPage {
			break
		}
		after = rows[len(rows)-1].ID
	}
	if err := bw.Flush(); err != nil {
		return "", n, err
	}
	return hex.EncodeToString(sum.Sum(nil)), n, nil
}

func pseudonym(mac hash.Hash, campaignID, voterID int64) string {
	mac.Reset()
	mac.Write([]byte(strconv.FormatInt(campaignID, 10) + ":" + strconv.FormatInt(voterID, 10)))
	return hex.EncodeToString(mac.Sum(nil)[:8])
}

// Flag kinds of the integrity report.
const (
	FlagBurstNomination = "burst_nomination" // one nomination got BurstVotes or more in one minute
	FlagBurstIP         = "burst_ip"         // one client IP sent BurstVotes or more in one minute
	FlagFreshAccounts   = "fresh_accounts"   // many new accounts voted from one IP
	FlagOddHours        = "odd_hours"        // a nomination got most of its votes between 00:00 and 06:00
)

// Flag is one anomaly worth a reviewer's look. It accuses nobody: votes
// are only voided by a reviewer, with a reason.
type Flag struct {
	Kind         string
	NominationID int64     // burst_nomination, odd_hours
	IPHash       string    // burst_ip, fresh_accounts (a keyed hash, never the address)
	Minute       time.Time // bursts: the minute
	Votes        int64     // bursts: votes in the minute; odd_hours: all valid votes
	OddVotes     int64     // odd_hours
	Voters       int64     // fresh_accounts: distinct voters from the IP
	Fresh        int64     // fresh_accounts: of them with accounts younger than FreshAccountAge
	Detail       string    // Chinese, one line
}

// Integrity is a campaign's integrity report.
type Integrity struct {
	CampaignID     int64
	Total          int64            // ledger rows
	Valid          int64            // not voided
	Voided         int64            //
	Voters         int64            // distinct voters
	VoidedByReason map[string]int64 //
	Flags          []Flag
	Digest         string // SHA-256 of the ledger export now (see LedgerHeader)
	DigestRows     int64
	ResultsDigest  string    // the digest fixed with the results, if they are
	ResultsFixedAt time.Time //
	At             time.Time
}

// Integrity returns a campaign's integrity report: totals, voided votes
// by reason, anomaly flags and the digest of the ledger (reviewer).
func (s *Service) Integrity(ctx context.Context, campaignID int64) (Integrity, error) {
	if _, err := requireReviewer(ctx); err != nil {
		return Integrity{}, err
	}
	c, err := s.store.Campaign(ctx, campaignID)
	if err != nil {
		return Integrity{}, err
	}
	out := Integrity{CampaignID: c.ID, ResultsDigest: c.ResultsDigest, ResultsFixedAt: c.ResultsFixedAt, At: s.now()}
	t, err := s.store.Totals(ctx, c.ID)
	if err != nil {
		return out, err
	}
	out.Total, out.Voided, out.Valid, out.Voters, out.VoidedByReason = t.Total, t.Voided, t.Total-t.Voided, t.Voters, t.VoidedByReason
	for _, by := range []string{"nomination", "ip"} {
		bursts, err := s.store.Bursts(ctx, c.ID, by, s.opt.BurstVotes)
		if err != nil {
			return out, err
		}
		for _, b := range bursts {
			at := time.Unix(b.Minute*60, 0).In(s.loc)
			f := Flag{Minute: at, Votes: b.Votes}
			if by == "nomination" {
				f.Kind = FlagBurstNomination
				f.NominationID, _ = strconv.ParseInt(strings.TrimSpace(b.Key), 10, 64)
				f.Detail = fmt.Sprintf("推荐 %d 在 %s 一分钟内得到 %d 票", f.NominationID, at.Format("01-02 15:04"), b.Votes)
			} else {
				f.Kind, f.IPHash = FlagBurstIP, b.Key
				f.Detail = fmt.Sprintf("同一网络地址在 %s 一分钟内投出 %d 票", at.Format("01-02 15:04"), b.Votes)
			}
			out.Flags = append(out.Flags, f)
		}
	}
	fresh, err := s.store.FreshAccounts(ctx, c.ID, s.opt.FreshIPVoters, s.opt.FreshAccountAge)
	if err != nil {
		return out, err
	}
	for _, f := range fresh {
		if f.Fresh < int64(s.opt.FreshIPVoters) {
			continue
		}
		out.Flags = append(out.Flags, Flag{Kind: FlagFreshAccounts, IPHash: f.IPHash, Voters: f.Voters, Fresh: f.Fresh,
			Detail: fmt.Sprintf("同一网络地址有 %d 个投票账号，其中 %d 个注册不足 %s", f.Voters, f.Fresh, s.opt.FreshAccountAge)})
	}
	odd, err := s.store.OddHours(ctx, c.ID, s.opt.OddHourVotes)
	if err != nil {
		return out, err
	}
	for _, h := range odd {
		if h.Votes == 0 || float64(h.Odd)/float64(h.Votes) < s.opt.OddHourShare {
			continue
		}
		out.Flags = append(out.Flags, Flag{Kind: FlagOddHours, NominationID: h.NominationID, Votes: h.Votes, OddVotes: h.Odd,
			Detail: fmt.Sprintf("推荐 %d 的 %d 票中有 %d 票投于 0–6 时", h.NominationID, h.Votes, h.Odd)})
	}
	out.Digest, out.DigestRows, err = s.writeLedger(ctx, c.ID, io.Discard)
	return out, err
}

// VoidInput selects votes to void and says why.
type VoidInput struct {
	VoterID      int64
	NominationID int64
	From, To     time.Time
	Reason       string
}

// Valid reports field problems (Chinese).
func (in VoidInput) Valid() map[string]string {
	bad := map[string]string{}
	if (model.VoteFilter{VoterID: in.VoterID, NominationID: in.NominationID, From: in.From, To: in.To}).Empty() {
		bad["voter_id"] = "须至少指定投票人、推荐或时间范围之一"
	}
	if in.VoterID < 0 || in.NominationID < 0 {
		bad["voter_id"] = "编号无效"
	}
	if !in.From.IsZero() && !in.To.IsZero() && !in.To.After(in.From) {
		bad["to"] = "结束时间须晚于开始时间"
	}
	if !runes(strings.TrimSpace(in.Reason), 1, MaxReason) {
		bad["reason"] = fmt.Sprintf("须填写原因（1–%d 个字）", MaxReason)
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// VoidVotes voids a campaign's valid votes that in selects (reviewer;
// audited): the ledger rows stay, marked voided with the reason; the
// counts and leaderboards follow at once. Voided votes keep their slots
// (they do not give the voter another vote). After the results are fixed,
// 409 results_fixed.
func (s *Service) VoidVotes(ctx context.Context, campaignID int64, in VoidInput) (int64, error) {
	p, err := requireReviewer(ctx)
	if err != nil {
		return 0, err
	}
	if bad := in.Valid(); bad != nil {
		return 0, model.Invalid(bad)
	}
	c, err := s.store.Campaign(ctx, campaignID)
	if err != nil {
		return 0, err
	}
	if !c.ResultsFixedAt.IsZero() {
		return 0, model.Coded(model.ErrConflict, "results_fixed", "评选结果已确定，不能再作废投票")
	}
	reason := strings.TrimSpace(in.Reason)
	n, err := s.store.VoidVotes(ctx, campaignID, model.VoteFilter{VoterID: in.VoterID, NominationID: in.NominationID, From: in.From, To: in.To},
		reason, p.SubjectID, s.now())
	if err != nil {
		return 0, err
	}
	s.record(ctx, "votes.void", "campaign", campaignID, nil, map[string]any{
		"voter_id": in.VoterID, "nomination_id": in.NominationID, "from": in.From, "to": in.To, "reason": reason, "voided": n})
	s.afterRecount(ctx, campaignID)
	return n, nil
}

// Recount recomputes a campaign's counts from the ledger and rebuilds its
// leaderboards (reviewer; audited).
func (s *Service) Recount(ctx context.Context, campaignID int64) error {
	if _, err := requireReviewer(ctx); err != nil {
		return err
	}
	if _, err := s.store.Campaign(ctx, campaignID); err != nil {
		return err
	}
	if err := s.store.Recount(ctx, campaignID); err != nil {
		return err
	}
	s.record(ctx, "votes.recount", "campaign", campaignID, nil, nil)
	s.afterRecount(ctx, campaignID)
	return nil
}

func (s *Service) afterRecount(ctx context.Context, campaignID int64) {
	s.gallery.drop(campaignID)
	if err := s.RebuildLeaderboards(ctx, campaignID); err != nil {
		s.log.WarnContext(ctx, "rebuild leaderboards", "campaign_id", campaignID, "err", err)
		if s.cache != nil {
			_ = s.cache.DropLeaderboards(ctx, campaignID)
		}
	}
}
