// Package notifyjob runs the notification centre's background work on the
// job runner: the delivery task (one per delivery, idempotent by task id)
// and the sweeper schedule, and it is the notify.Queue over the runner.
package notifyjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"wanjia/job"
	"wanjia/service/notify"
)

// Task types.
const (
	TaskDeliver = "notify:deliver"
	TaskSweep   = "notify:sweep"
)

// QueueName is the queue of delivery tasks: its own, so a large push
// shares the workers with other areas' tasks by queue weight instead of
// filling theirs.
const QueueName = "notify"

// Defaults of Options.
const (
	DefaultSweepEvery = 5 * time.Second
	DefaultMaxRetry   = 10
	DefaultTimeout    = time.Minute
)

// Options tune Register. Zero values take the defaults.
type Options struct {
	SweepEvery time.Duration // how often the sweeper runs (once per cluster)
	MaxRetry   int           // retries of a delivery task
	Timeout    time.Duration // one run of a delivery task
}

// Deliverer is what the tasks run (*notify.Service).
type Deliverer interface {
	Deliver(ctx context.Context, id int64, final bool) error
	Sweep(ctx context.Context) error
}

type payload struct {
	ID int64 `json:"id"`
}

// Register registers the delivery task and the sweeper (every
// SweepEvery, once per cluster) on r, before r.Start. A delivery failing
// with notify.ErrPermanent is not retried (job.SkipRetry); the last retry
// tells Deliver to give up (mark the delivery failed) on failure.
func Register(r *job.Runner, d Deliverer, o Options) {
	if o.SweepEvery <= 0 {
		o.SweepEvery = DefaultSweepEvery
	}
	if o.MaxRetry <= 0 {
		o.MaxRetry = DefaultMaxRetry
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	r.Handle(TaskDeliver, func(ctx context.Context, raw []byte) error {
		var p payload
		if err := json.Unmarshal(raw, &p); err != nil || p.ID <= 0 {
			return job.SkipRetry(fmt.Errorf("notify task: bad payload"))
		}
		meta, _ := job.CurrentTask(ctx)
		err := d.Deliver(ctx, p.ID, meta.Retried >= meta.MaxRetry)
		if errors.Is(err, notify.ErrPermanent) {
			return job.SkipRetry(err)
		}
		return err
	}, job.Queue(QueueName), job.MaxRetry(o.MaxRetry), job.Timeout(o.Timeout))
	r.Handle(TaskSweep, func(ctx context.Context, _ []byte) error { return d.Sweep(ctx) },
		job.Queue(QueueName), job.MaxRetry(0), job.Timeout(time.Minute))
	r.Every("notify-sweep", o.SweepEvery, TaskSweep, nil)
}

// TaskRetention is how long a finished delivery task stays in Redis
// guarding its id against a second enqueue. The delivery's row, not the
// task, is what prevents a second send, so minutes are enough (not the
// runner's default day, which would keep every task of a big push).
const TaskRetention = 10 * time.Minute

// Queue hands deliveries to the runner (notify.Queue).
type Queue struct{ r *job.Runner }

var _ notify.Queue = (*Queue)(nil)

// NewQueue returns the queue over r (on which Register was called).
func NewQueue(r *job.Runner) *Queue { return &Queue{r: r} }

// Enqueue adds the delivery task of deliveryID under taskID (a known id is
// a no-op success), to run at at when that is in the future.
func (q *Queue) Enqueue(ctx context.Context, taskID string, deliveryID int64, at time.Time) error {
	raw, err := json.Marshal(payload{ID: deliveryID})
	if err != nil {
		return err
	}
	opts := []job.EnqueueOption{job.ID(taskID), job.Retention(TaskRetention)}
	if at.After(time.Now()) {
		opts = append(opts, job.ProcessAt(at))
	}
	if _, err := q.r.Enqueue(ctx, TaskDeliver, raw, opts...); err != nil {
		return fmt.Errorf("enqueue delivery %d: %w", deliveryID, err)
	}
	return nil
}
