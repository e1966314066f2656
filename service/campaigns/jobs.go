package campaigns

import (
	"context"
	"errors"
	"time"

	"wanjia/job"
)

// Background task types.
const (
	TaskFixResults  = "campaigns:fix_results"
	TaskSweepChecks = "campaigns:sweep_media_checks"
	TaskLeaderboard = "campaigns:rebuild_leaderboards"
)

// Schedule of the background tasks.
const (
	FixResultsEvery  = time.Minute      // winners are fixed within a minute of the vote window's end
	SweepChecksEvery = 10 * time.Minute // lost media checks are submitted again
	LeaderboardEvery = 5 * time.Minute  // leaderboards of voting campaigns are rebuilt from the database
)

// Register adds the campaigns' handlers and schedules to r (before
// r.Start), each schedule once per cluster: fixing results, sweeping media
// checks, rebuilding leaderboards. Every task is idempotent.
func Register(r *job.Runner, s *Service) {
	r.Handle(TaskMediaCheck, func(ctx context.Context, payload []byte) error {
		err := s.RunMediaCheck(ctx, payload)
		if errors.Is(err, ErrBadPayload) {
			return job.SkipRetry(err)
		}
		return err
	})
	r.Handle(TaskFixResults, func(ctx context.Context, _ []byte) error {
		n, err := s.FixDueResults(ctx)
		if n > 0 {
			s.log.InfoContext(ctx, "campaign results fixed", "campaigns", n)
		}
		return err
	})
	r.Every("campaigns-fix-results", FixResultsEvery, TaskFixResults, nil)
	r.Handle(TaskSweepChecks, func(ctx context.Context, _ []byte) error {
		n, err := s.SweepMediaChecks(ctx)
		if n > 0 {
			s.log.InfoContext(ctx, "media checks queued again", "nominations", n)
		}
		return err
	})
	r.Every("campaigns-sweep-media-checks", SweepChecksEvery, TaskSweepChecks, nil)
	r.Handle(TaskLeaderboard, func(ctx context.Context, _ []byte) error { return s.RebuildVotingLeaderboards(ctx) })
	r.Every("campaigns-rebuild-leaderboards", LeaderboardEvery, TaskLeaderboard, nil)
}

// RebuildVotingLeaderboards rebuilds the leaderboards of every campaign
// whose vote window is open or ended within the last day: a Redis write
// lost while Redis was down is repaired within LeaderboardEvery.
func (s *Service) RebuildVotingLeaderboards(ctx context.Context) error {
	cs, err := s.store.Campaigns(ctx, 50)
	if err != nil {
		return err
	}
	now := s.now()
	var errs []error
	for _, c := range cs {
		if now.Before(c.VoteFrom) || now.After(c.VoteTo.Add(24*time.Hour)) {
			continue
		}
		if err := s.RebuildLeaderboards(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
