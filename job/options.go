package job

import (
	"time"
)

// Defaults for task options. An enqueue option overrides the option given to
// Handle for the task type, which overrides these.
const (
	// DefaultQueue is the queue of a task type registered without Queue.
	DefaultQueue = "default"
	// DefaultMaxRetry is how many times a failed task is retried before it
	// is dead. With DefaultRetryDelay that spans about five hours.
	DefaultMaxRetry = 12
	// DefaultIDRetention is how long a task enqueued with ID stays in Redis
	// after it completed, so that enqueuing the same ID again within that
	// window is recognised as a duplicate. asynq forgets a completed task
	// without retention at once, after which the same ID would run again.
	DefaultIDRetention = 24 * time.Hour
)

// HandlerOption configures a task type in Handle.
type HandlerOption interface {
	applyHandler(*taskConfig)
}

// EnqueueOption configures one task in Enqueue.
type EnqueueOption interface {
	applyEnqueue(*taskConfig)
}

// TaskOption is an option valid both in Handle (as the default of the task
// type) and in Enqueue (for one task).
type TaskOption struct {
	apply func(*taskConfig)
}

func (o TaskOption) applyHandler(c *taskConfig) { o.apply(c) }
func (o TaskOption) applyEnqueue(c *taskConfig) { o.apply(c) }

type enqueueOnly func(*taskConfig)

func (o enqueueOnly) applyEnqueue(c *taskConfig) { o(c) }

// taskConfig is what the options set. The zero value of a field means
// "not set here".
type taskConfig struct {
	queue     string
	maxRetry  *int
	timeout   time.Duration
	id        string
	idSet     bool
	processAt time.Time
	processIn time.Duration
	unique    time.Duration
	retention time.Duration
}

// MaxRetry sets how many times a failed task is retried before it is dead.
// A negative n means no retry.
func MaxRetry(n int) TaskOption {
	n = max(n, 0)
	return TaskOption{func(c *taskConfig) { c.maxRetry = &n }}
}

// Queue puts the task in the named queue. The queue must be served by the
// runner: listed in Options.Queues or named by a Handle option.
func Queue(name string) TaskOption {
	return TaskOption{func(c *taskConfig) { c.queue = name }}
}

// Timeout bounds one run of the task: its ctx is cancelled after d and the
// run counts as failed. asynq keeps timeouts in whole seconds, so d is
// rounded up to a second. Without Timeout asynq allows 30 minutes.
func Timeout(d time.Duration) TaskOption {
	d = ceilSecond(d)
	return TaskOption{func(c *taskConfig) { c.timeout = d }}
}

// ID gives the task a caller-chosen id, which makes Enqueue idempotent: while
// a task with this id is pending, scheduled, running, retrying, dead or
// completed within its retention (DefaultIDRetention unless Retention is
// given), enqueuing the same id again does nothing and reports success with
// that id. An empty id is invalid.
func ID(id string) EnqueueOption {
	return enqueueOnly(func(c *taskConfig) { c.id, c.idSet = id, true })
}

// ProcessAt delays the task until t.
func ProcessAt(t time.Time) EnqueueOption {
	return enqueueOnly(func(c *taskConfig) { c.processAt = t })
}

// ProcessIn delays the task by d.
func ProcessIn(d time.Duration) EnqueueOption {
	return enqueueOnly(func(c *taskConfig) { c.processIn = d })
}

// Unique rejects the task with ErrDuplicate while a task of the same type,
// queue and payload enqueued with Unique holds the lock: from enqueue until
// it succeeds, for at most ttl (rounded up to a second) counted from when
// it is due (for ProcessAt/ProcessIn, from that time). On the embedded
// miniredis the lock expires only if its TTLs follow the clock
// (miniredis.ClockTTL(true)).
func Unique(ttl time.Duration) EnqueueOption {
	ttl = ceilSecond(ttl)
	return enqueueOnly(func(c *taskConfig) { c.unique = ttl })
}

// Retention keeps a completed task in Redis for d (rounded up to a second),
// visible to the inspector and, with ID, guarding against re-enqueues.
func Retention(d time.Duration) EnqueueOption {
	d = ceilSecond(d)
	return enqueueOnly(func(c *taskConfig) { c.retention = d })
}

// ceilSecond rounds a positive d up to a whole second; asynq stores
// durations in seconds and would turn 500ms into "not set".
func ceilSecond(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
