// Package jobs holds the staff use cases over the background-job queues:
// queue figures, the dead tasks, and retrying one of them (audited). It
// reaches the runner through Inspector, so it does not import package job
// (job imports service, not the other way round).
package jobs

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"wanjia/model"
)

// DeadTask is a task whose last run failed with no retry left. Its payload
// is never shown: it may hold personal data. LastErr is the error text as
// the runner kept it. Its fields are job.DeadTask's, in the same order, so
// a job.DeadTask converts to it: jobs.DeadTask(d).
type DeadTask struct {
	ID       string
	Queue    string
	Type     string
	LastErr  string
	FailedAt time.Time
	Retried  int
	MaxRetry int
}

// QueueCounts counts the tasks of one queue by state; like DeadTask, it
// converts from job.QueueCounts.
type QueueCounts struct {
	Pending   int
	Active    int
	Scheduled int
	Retry     int
	Dead      int
	Completed int
	Paused    bool
}

// Inspector is what the use cases need from the job runner (*job.Runner
// through a small adapter in cmd that converts its types). Errors are model
// kinds: Retry returns ErrNotFound for no such task and ErrConflict for a
// task that is not dead; Redis trouble is ErrUnavailable.
type Inspector interface {
	Stats(ctx context.Context) (map[string]QueueCounts, error)
	Dead(ctx context.Context, limit int) ([]DeadTask, error)
	Retry(ctx context.Context, queue, id string) error
}

// Auditor appends to the audit log (auth.Auth satisfies it).
type Auditor interface {
	Audit(ctx context.Context, action, targetType, targetID string, before, after any) error
}

// Service implements the job use cases. It is safe for concurrent use.
type Service struct {
	insp  Inspector
	audit Auditor
}

// New returns the use cases over insp, auditing through audit.
func New(insp Inspector, audit Auditor) *Service {
	return &Service{insp: insp, audit: audit}
}

// Audit log names of a retry.
const (
	ActionRetry = "job.retry"
	TargetJob   = "job"
)

// maxTargetID is the size of the audit log's target_id column.
const maxTargetID = 64

// requireAdmin allows an admin principal, or no principal at all (the
// command line, audited as "cli", as in package auth); anyone else is
// ErrForbidden.
func requireAdmin(ctx context.Context) error {
	p, ok := model.PrincipalFrom(ctx)
	if ok && !p.HasRole(model.RoleAdmin) {
		return model.Coded(model.ErrForbidden, "forbidden", "没有权限执行此操作")
	}
	return nil
}

// Stats counts the tasks of every queue by state. Admin only.
func (s *Service) Stats(ctx context.Context) (map[string]QueueCounts, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	st, err := s.insp.Stats(ctx)
	if err != nil {
		return nil, fmt.Errorf("job stats: %w", err)
	}
	return st, nil
}

// Dead returns at most limit dead tasks (the runner's default when ≤ 0),
// the most recently failed first. Admin only.
func (s *Service) Dead(ctx context.Context, limit int) ([]DeadTask, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	dead, err := s.insp.Dead(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("dead jobs: %w", err)
	}
	return dead, nil
}

// Retry puts the dead task id of queue back to run now and records it in
// the audit log ("job.retry", target "job" and the task id). Admin only.
// ErrNotFound and ErrConflict come from the runner; nothing is audited
// then. The retry cannot be undone, so when the audit entry fails after it
// the error is returned (500) with the task already queued.
func (s *Service) Retry(ctx context.Context, queue, id string) error {
	if err := requireAdmin(ctx); err != nil {
		return err
	}
	if err := s.insp.Retry(ctx, queue, id); err != nil {
		return fmt.Errorf("retry job: %w", err)
	}
	after := map[string]any{"queue": queue, "task_id": id}
	if err := s.audit.Audit(ctx, ActionRetry, TargetJob, clip(id, maxTargetID), nil, after); err != nil {
		return fmt.Errorf("retry job: %w", err)
	}
	return nil
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
