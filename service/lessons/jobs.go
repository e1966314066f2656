package lessons

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"wanjia/job"
)

// Background task types.
const (
	TaskTick   = "lessons:tick"   // publish due lessons, restart stalled fan-outs
	TaskFanout = "lessons:fanout" // one lesson's push to its subscribers
)

// TickEvery is the scheduler's default interval: a scheduled lesson is
// published within a minute of its time.
const TickEvery = time.Minute

// fanoutTimeout bounds one run of a fan-out; a longer one is cut and
// retried, and resumes from its cursor.
const fanoutTimeout = 10 * time.Minute

type fanoutPayload struct {
	LessonID int64 `json:"lesson_id"`
}

// Register adds the area's handlers and its schedule to r (before
// r.Start): the tick every tick (TickEvery when 0), once per cluster, and
// the fan-out task. Both are idempotent (conditional publish, dedupe keys).
func Register(r *job.Runner, s *Service, tick time.Duration) {
	if tick <= 0 {
		tick = TickEvery
	}
	r.Handle(TaskTick, func(ctx context.Context, _ []byte) error {
		n, err := s.Tick(ctx)
		if n > 0 {
			s.log.InfoContext(ctx, "scheduled lessons published", "count", n)
		}
		return err
	}, job.MaxRetry(0), job.Timeout(max(tick, time.Minute)))
	r.Every("lessons-tick", tick, TaskTick, nil)
	r.Handle(TaskFanout, func(ctx context.Context, raw []byte) error {
		var p fanoutPayload
		if err := json.Unmarshal(raw, &p); err != nil || p.LessonID <= 0 {
			return job.SkipRetry(fmt.Errorf("lessons fan-out: bad payload"))
		}
		return s.Fanout(ctx, p.LessonID)
	}, job.Timeout(fanoutTimeout))
}

// JobQueue hands fan-outs to the job runner (Queue).
type JobQueue struct{ r *job.Runner }

var _ Queue = (*JobQueue)(nil)

// NewQueue returns the queue over r (on which Register was called).
func NewQueue(r *job.Runner) *JobQueue { return &JobQueue{r: r} }

// EnqueueFanout adds the fan-out task of lessonID under the id
// "lessons:fanout:<id>" (":<resume>" appended for a restart), so a second
// enqueue of the same is a no-op.
func (q *JobQueue) EnqueueFanout(ctx context.Context, lessonID int64, resume string) error {
	raw, err := json.Marshal(fanoutPayload{LessonID: lessonID})
	if err != nil {
		return err
	}
	id := TaskFanout + ":" + strconv.FormatInt(lessonID, 10)
	if resume != "" {
		id += ":" + resume
	}
	if _, err := q.r.Enqueue(ctx, TaskFanout, raw, job.ID(id)); err != nil {
		return fmt.Errorf("enqueue fan-out %d: %w", lessonID, err)
	}
	return nil
}
