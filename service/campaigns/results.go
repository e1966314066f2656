package campaigns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"wanjia/model"
)

// FixDueResults fixes the winners of every campaign whose vote window has
// ended and whose results are not fixed yet (the scheduled job, once per
// cluster). It returns the campaigns fixed.
func (s *Service) FixDueResults(ctx context.Context) (int, error) {
	due, err := s.store.CampaignsToFix(ctx, s.now())
	if err != nil {
		return 0, err
	}
	fixed := 0
	var errs []error
	for _, c := range due {
		ok, err := s.fixResults(ctx, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("campaign %d: %w", c.ID, err))
			continue
		}
		if ok {
			fixed++
		}
	}
	return fixed, errors.Join(errs...)
}

// fixResults recounts the campaign from its ledger, takes the Quota
// nominations with the most valid votes in each category (ties: earlier
// approval, then lower id) and records them with the ledger digest, once.
func (s *Service) fixResults(ctx context.Context, c model.Campaign) (bool, error) {
	if err := s.store.Recount(ctx, c.ID); err != nil {
		return false, err
	}
	standings, err := s.store.Standings(ctx, c.ID)
	if err != nil {
		return false, err
	}
	quota := map[string]int{}
	for _, cat := range c.Categories {
		quota[cat.Code] = cat.Quota
	}
	var ws []model.Winner
	placed := map[string]int{}
	for _, st := range standings { // most votes first
		if placed[st.Category] >= quota[st.Category] {
			continue
		}
		placed[st.Category]++
		ws = append(ws, model.Winner{Category: st.Category, NominationID: st.NominationID, Rank: placed[st.Category],
			Votes: st.Votes, Source: model.WinnerByVotes})
	}
	digest, rows, err := s.writeLedger(ctx, c.ID, io.Discard)
	if err != nil {
		return false, err
	}
	ok, err := s.store.FixResults(ctx, c.ID, ws, digest, s.now())
	if err != nil || !ok {
		return false, err
	}
	s.meta.dropCampaign(c.ID)
	s.log.InfoContext(ctx, "campaign results fixed", "campaign_id", c.ID, "winners", len(ws), "ledger_rows", rows, "digest", digest)
	return true, nil
}

// OverrideInput is a reviewer's override of a category's winners.
type OverrideInput struct {
	Category      string
	NominationIDs []int64 // the winners, in order of place
	Reason        string
}

// OverrideWinners replaces a category's winners after the results are
// fixed (reviewer; audited): the nominations must be approved ones of the
// category; the replaced winners stay on record with the time they were
// replaced, the new ones carry the reason. Before the results are fixed,
// 409 results_not_fixed.
func (s *Service) OverrideWinners(ctx context.Context, campaignID int64, in OverrideInput) ([]model.Winner, error) {
	p, err := requireReviewer(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.store.Campaign(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	bad := map[string]string{}
	if _, ok := c.Category(in.Category); !ok {
		bad["category"] = "没有这个类别"
	}
	if len(in.NominationIDs) > 100 {
		bad["nomination_ids"] = "最多 100 个"
	}
	reason := strings.TrimSpace(in.Reason)
	if !runes(reason, 1, MaxReason) {
		bad["reason"] = fmt.Sprintf("须填写原因（1–%d 个字）", MaxReason)
	}
	if len(bad) > 0 {
		return nil, model.Invalid(bad)
	}
	ws := make([]model.Winner, 0, len(in.NominationIDs))
	seen := map[int64]bool{}
	for i, id := range in.NominationIDs {
		n, err := s.store.VoteTarget(ctx, id)
		if err != nil || seen[id] || n.CampaignID != campaignID || n.Category != in.Category || n.Status != model.NominationApproved {
			return nil, model.Invalid(map[string]string{"nomination_ids": fmt.Sprintf("%d 不是本类别已公开的推荐，或重复", id)})
		}
		seen[id] = true
		ws = append(ws, model.Winner{Category: in.Category, NominationID: id, Rank: i + 1, Votes: n.Votes,
			Source: model.WinnerOverride, Reason: reason, DecidedBy: p.SubjectID})
	}
	if err := s.store.OverrideWinners(ctx, campaignID, in.Category, ws, s.now()); err != nil {
		return nil, err
	}
	s.record(ctx, "campaign.winners.override", "campaign", campaignID, nil,
		map[string]any{"category": in.Category, "nomination_ids": in.NominationIDs, "reason": reason})
	return s.store.Winners(ctx, campaignID, false)
}

// Winners returns a campaign's winners for staff: the current ones, or
// with all every record, replaced ones included (reviewer).
func (s *Service) Winners(ctx context.Context, campaignID int64, all bool) ([]model.Winner, error) {
	if _, err := requireReviewer(ctx); err != nil {
		return nil, err
	}
	if _, err := s.store.Campaign(ctx, campaignID); err != nil {
		return nil, err
	}
	return s.store.Winners(ctx, campaignID, all)
}

// PublicWinners returns a campaign's current winners once they are shown
// (fixed, and from ResultsAt on); nil before.
func (s *Service) PublicWinners(ctx context.Context, c model.Campaign) ([]model.Winner, error) {
	if !c.ResultsShown(s.now()) {
		return nil, nil
	}
	return s.store.Winners(ctx, c.ID, false)
}
