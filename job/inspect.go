package job

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"wanjia/model"
)

// DeadTask is a task whose last run failed with no retry left (or with
// SkipRetry). Its payload is left out: it may hold personal data.
type DeadTask struct {
	ID       string    `json:"id"`
	Queue    string    `json:"queue"`
	Type     string    `json:"type"`
	LastErr  string    `json:"last_error"`
	FailedAt time.Time `json:"failed_at"`
	Retried  int       `json:"retried"`
	MaxRetry int       `json:"max_retry"`
}

// QueueStats maps each queue to the number of its tasks in each state.
type QueueStats map[string]QueueCounts

// QueueCounts counts the tasks of one queue by state.
type QueueCounts struct {
	Pending   int  `json:"pending"`
	Active    int  `json:"active"`
	Scheduled int  `json:"scheduled"`
	Retry     int  `json:"retry"`
	Dead      int  `json:"dead"`
	Completed int  `json:"completed"` // kept for their retention (ID, Retention)
	Paused    bool `json:"paused"`
}

// Limits of Dead.
const (
	defaultDeadLimit = 100
	maxDeadLimit     = 1000
)

// Dead returns the dead tasks of every queue, the most recently failed
// first (asynq keeps whole seconds; ties go to the greater id), at most limit (≤ 0 means 100; capped at 1000). asynq keeps dead
// tasks for 90 days, at most 10,000 per queue. The inspector takes no ctx:
// ctx is checked between queues only.
func (r *Runner) Dead(ctx context.Context, limit int) ([]DeadTask, error) {
	if limit <= 0 {
		limit = defaultDeadLimit
	}
	limit = min(limit, maxDeadLimit)
	queues, err := r.knownQueues()
	if err != nil {
		return nil, err
	}
	var dead []DeadTask
	for _, q := range queues {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tasks, err := r.newestArchived(q, limit)
		if err != nil {
			return nil, err
		}
		for _, t := range tasks {
			dead = append(dead, DeadTask{
				ID:       t.ID,
				Queue:    t.Queue,
				Type:     t.Type,
				LastErr:  t.LastErr,
				FailedAt: t.LastFailedAt,
				Retried:  t.Retried,
				MaxRetry: t.MaxRetry,
			})
		}
	}
	slices.SortFunc(dead, func(a, b DeadTask) int {
		return cmp.Or(b.FailedAt.Compare(a.FailedAt), cmp.Compare(b.ID, a.ID), cmp.Compare(a.Queue, b.Queue))
	})
	if len(dead) > limit {
		dead = dead[:limit]
	}
	return dead, nil
}

// newestArchived returns the last (newest) n archived tasks of queue q, which
// must exist. asynq lists them oldest first in pages, so it reads the last
// two pages of size n.
func (r *Runner) newestArchived(q string, n int) ([]*asynq.TaskInfo, error) {
	info, err := r.insp.GetQueueInfo(q)
	switch {
	case err != nil:
		return nil, fmt.Errorf("dead tasks of %s: %w: %w", q, model.ErrUnavailable, err)
	case info.Archived == 0:
		return nil, nil
	}
	last := (info.Archived - 1) / n // zero-based index of the last page
	var tasks []*asynq.TaskInfo
	for page := max(last-1, 0); page <= last; page++ {
		ts, err := r.insp.ListArchivedTasks(q, asynq.PageSize(n), asynq.Page(page+1))
		if err != nil {
			return nil, fmt.Errorf("dead tasks of %s: %w: %w", q, model.ErrUnavailable, err)
		}
		tasks = append(tasks, ts...)
	}
	if len(tasks) > n {
		tasks = tasks[len(tasks)-n:]
	}
	return tasks, nil
}

// Retry puts the dead task id of queue back in its queue to run now, with
// its retry count kept (one more failure makes it dead again). It returns
// model.ErrNotFound when there is no such task and model.ErrConflict when
// the task is not dead.
func (r *Runner) Retry(ctx context.Context, queue, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if strings.TrimSpace(queue) == "" || id == "" {
		return model.Errorf(model.ErrNotFound, "任务不存在")
	}
	info, err := r.insp.GetTaskInfo(queue, id)
	switch {
	case errors.Is(err, asynq.ErrQueueNotFound), errors.Is(err, asynq.ErrTaskNotFound):
		return model.Wrap(model.ErrNotFound, err, "任务不存在")
	case err != nil:
		return fmt.Errorf("retry task %s: %w: %w", id, model.ErrUnavailable, err)
	case info.State != asynq.TaskStateArchived:
		return model.Coded(model.ErrConflict, "task_not_dead", "任务不在失败列表中")
	}
	if err := r.insp.RunTask(queue, id); err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) {
			return model.Wrap(model.ErrNotFound, err, "任务不存在")
		}
		return fmt.Errorf("retry task %s: %w: %w", id, model.ErrUnavailable, err)
	}
	return nil
}

// Stats counts the tasks of each served queue (zero counts when it never
// had a task), and of any other queue found in Redis, by state.
func (r *Runner) Stats(ctx context.Context) (QueueStats, error) {
	known, err := r.knownQueues()
	if err != nil {
		return nil, err
	}
	stats := make(QueueStats, len(known))
	for _, q := range r.servedQueues() {
		stats[q] = QueueCounts{} // served, maybe nothing enqueued yet
	}
	for _, q := range known {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		info, err := r.insp.GetQueueInfo(q)
		if err != nil {
			return nil, fmt.Errorf("queue stats of %s: %w: %w", q, model.ErrUnavailable, err)
		}
		stats[q] = QueueCounts{
			Pending:   info.Pending,
			Active:    info.Active,
			Scheduled: info.Scheduled,
			Retry:     info.Retry,
			Dead:      info.Archived,
			Completed: info.Completed,
			Paused:    info.Paused,
		}
	}
	return stats, nil
}

// knownQueues returns the queues asynq has in Redis (those that ever had a
// task), sorted.
func (r *Runner) knownQueues() ([]string, error) {
	qs, err := r.insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w: %w", model.ErrUnavailable, err)
	}
	slices.Sort(qs)
	return qs, nil
}
