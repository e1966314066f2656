// Package job runs wanjia's background work on asynq over the app's Redis
// (a real Redis, or the embedded miniredis): tasks enqueued by any copy and
// run by whichever copy is free, retried with back-off, dead after their last
// retry; and schedules that run once per cluster per tick.
//
// Delivery is at least once: a task can run twice (a copy killed mid-run, a
// handler that outlived the shutdown timeout), so handlers must be
// idempotent. Payloads should carry record ids rather than personal data:
// they sit in Redis while the task waits, and with ID or Retention after it
// completed.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"wanjia/model"
)

// Options configure a Runner. The zero value works.
type Options struct {
	// Logger receives one line per failed or dead task (type and id, never
	// the payload) and asynq's warnings. Nil discards.
	Logger *slog.Logger
	// Registerer receives the job metrics. Nil registers nothing.
	Registerer prometheus.Registerer
	// Concurrency is how many tasks this copy runs at once. Default 4.
	Concurrency int
	// Queues maps the served queues to their weights: a queue of weight 6 is
	// polled six times as often as one of weight 1. Default critical:6,
	// default:3, low:1. Queues named by Handle options are added with weight 1.
	Queues map[string]int
	// ShutdownTimeout is how long Shutdown waits for running handlers before
	// it puts their tasks back in the queue. Default 8s.
	ShutdownTimeout time.Duration
	// PollInterval is how often an idle copy looks for new tasks and moves
	// due scheduled and retrying tasks to their queue. Default 1s.
	PollInterval time.Duration
	// Now is the wall clock of the schedules. Default time.Now.
	Now func() time.Time
	// RetryDelay is the wait before retry n+1 of a task that failed with err
	// (n counts the retries done so far). Default DefaultRetryDelay. asynq
	// keeps the due time in whole seconds (truncated), and the retry starts
	// within PollInterval of it.
	RetryDelay func(n int, err error) time.Duration
	// Instance names this copy in log lines. Optional.
	Instance string
}

// DefaultQueues is the queue configuration when Options.Queues is empty.
func DefaultQueues() map[string]int {
	return map[string]int{"critical": 6, DefaultQueue: 3, "low": 1}
}

// Retry delay bounds of DefaultRetryDelay.
const (
	retryBase = 15 * time.Second
	retryCap  = time.Hour
)

// DefaultRetryDelay doubles from 15s with each retry up to an hour, and
// returns a random duration in [d/2, d) of that d, so that tasks failing
// together (WeChat down) do not all come back at once.
func DefaultRetryDelay(n int, _ error) time.Duration {
	d := retryCap
	if n >= 0 && n < 16 {
		d = min(retryBase<<n, retryCap)
	}
	return d/2 + rand.N(d/2)
}

// Runner registers task handlers and schedules, enqueues tasks and runs
// them. Register everything (Handle, Every, DailyAt) before Start; Enqueue
// works before and after.
type Runner struct {
	rdb     redis.UniversalClient
	log     *slog.Logger
	opts    Options
	client  *asynq.Client
	insp    *asynq.Inspector
	metrics *metrics

	mu        sync.Mutex
	handlers  map[string]handler
	schedules []*schedule
	errs      []error // registration errors, returned by Start
	started   bool
	srv       *asynq.Server
	stop      context.CancelFunc
	wg        sync.WaitGroup // schedule goroutines
	stopOnce  sync.Once
}

type handler struct {
	fn  func(ctx context.Context, payload []byte) error
	cfg taskConfig
}

// New returns a Runner over rdb, which it does not close. It fails when a
// queue has an empty name or a weight below 1, or when the metrics cannot be
// registered (twice on one Registerer).
func New(rdb redis.UniversalClient, opts Options) (*Runner, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if len(opts.Queues) == 0 {
		opts.Queues = DefaultQueues()
	} else {
		opts.Queues = maps.Clone(opts.Queues)
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 8 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RetryDelay == nil {
		opts.RetryDelay = DefaultRetryDelay
	}
	log := opts.Logger
	if opts.Instance != "" {
		log = log.With("instance", opts.Instance)
	}
	r := &Runner{
		rdb:      rdb,
		log:      log,
		opts:     opts,
		client:   asynq.NewClientFromRedisClient(rdb),
		insp:     asynq.NewInspectorFromRedisClient(rdb),
		metrics:  newMetrics(),
		handlers: make(map[string]handler),
	}
	for q, w := range opts.Queues {
		if q == "" || w <= 0 {
			return nil, fmt.Errorf("job: queue %q: name must not be empty and weight must be positive", q)
		}
	}
	if opts.Registerer != nil {
		if err := r.metrics.register(opts.Registerer, newQueueCollector(r)); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Handle registers h for tasks of taskType. The options are the defaults of
// every task of that type (an Enqueue option overrides them): MaxRetry
// (default DefaultMaxRetry), Timeout (default 30 minutes) and Queue (default
// "default", served by this runner). A task type can be registered once;
// mistakes are reported by Start. Handle panics after Start.
func (r *Runner) Handle(taskType string, h func(ctx context.Context, payload []byte) error, opts ...HandlerOption) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustNotBeStarted("Handle")
	var cfg taskConfig
	for _, o := range opts {
		o.applyHandler(&cfg)
	}
	switch {
	case taskType == "":
		r.errs = append(r.errs, errors.New("job: handle: empty task type"))
		return
	case h == nil:
		r.errs = append(r.errs, fmt.Errorf("job: handle %s: nil handler", taskType))
		return
	}
	if _, dup := r.handlers[taskType]; dup {
		r.errs = append(r.errs, fmt.Errorf("job: handle %s: registered twice", taskType))
		return
	}
	if cfg.queue == "" {
		cfg.queue = DefaultQueue
	}
	if cfg.maxRetry == nil {
		n := DefaultMaxRetry
		cfg.maxRetry = &n
	}
	r.handlers[taskType] = handler{fn: h, cfg: cfg}
}

func (r *Runner) mustNotBeStarted(what string) {
	if r.started {
		panic("job: " + what + " called after Start")
	}
}

// queues returns the served queues and their weights: Options.Queues plus
// the queues named by handlers. Callers hold r.mu.
func (r *Runner) queues() map[string]int {
	qs := maps.Clone(r.opts.Queues)
	for _, h := range r.handlers {
		if _, ok := qs[h.cfg.queue]; !ok {
			qs[h.cfg.queue] = 1
		}
	}
	return qs
}

// Enqueue adds a task of taskType with payload and returns its id. The type
// must have been registered with Handle, and the queue must be served.
//
// With ID, enqueuing an id that is already known (see ID) is a success that
// returns the id and runs nothing. With Unique, a twin still waiting returns
// ErrDuplicate (model.ErrConflict). Redis failures unwrap to
// model.ErrUnavailable; misuse (unknown type, unserved queue) to
// model.ErrInvalid.
func (r *Runner) Enqueue(ctx context.Context, taskType string, payload []byte, opts ...EnqueueOption) (string, error) {
	id, _, err := r.enqueue(ctx, taskType, payload, opts...)
	return id, err
}

// enqueue is Enqueue that also reports whether the task was a duplicate.
func (r *Runner) enqueue(ctx context.Context, taskType string, payload []byte, opts ...EnqueueOption) (id string, dup bool, err error) {
	r.mu.Lock()
	h, ok := r.handlers[taskType]
	queues := r.queues()
	r.mu.Unlock()
	if !ok {
		return "", false, fmt.Errorf("enqueue %s: no handler registered: %w", taskType, model.ErrInvalid)
	}
	cfg := h.cfg
	for _, o := range opts {
		o.applyEnqueue(&cfg)
	}
	if _, ok := queues[cfg.queue]; !ok {
		return "", false, fmt.Errorf("enqueue %s: queue %q is not served: %w", taskType, cfg.queue, model.ErrInvalid)
	}
	if cfg.idSet && cfg.id == "" {
		return "", false, fmt.Errorf("enqueue %s: empty task id: %w", taskType, model.ErrInvalid)
	}
	aopts := []asynq.Option{asynq.Queue(cfg.queue), asynq.MaxRetry(*cfg.maxRetry)}
	if cfg.timeout > 0 {
		aopts = append(aopts, asynq.Timeout(cfg.timeout))
	}
	if cfg.id != "" {
		aopts = append(aopts, asynq.TaskID(cfg.id))
		if cfg.retention == 0 {
			cfg.retention = DefaultIDRetention
		}
	}
	if cfg.retention > 0 {
		aopts = append(aopts, asynq.Retention(cfg.retention))
	}
	if !cfg.processAt.IsZero() {
		aopts = append(aopts, asynq.ProcessAt(cfg.processAt))
	}
	if cfg.processIn > 0 {
		aopts = append(aopts, asynq.ProcessIn(cfg.processIn))
	}
	if cfg.unique > 0 {
		aopts = append(aopts, asynq.Unique(cfg.unique))
	}
	info, err := r.client.EnqueueContext(ctx, asynq.NewTask(taskType, payload), aopts...)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return cfg.id, true, nil
	case errors.Is(err, asynq.ErrDuplicateTask):
		return "", true, ErrDuplicate
	case err != nil:
		return "", false, fmt.Errorf("enqueue %s: %w: %w", taskType, model.ErrUnavailable, err)
	}
	return info.ID, false, nil
}

// Start starts processing tasks and the schedules. It returns the
// registration mistakes made so far, or an error when called twice. The
// schedules stop when ctx is done or at Shutdown; task processing stops at
// Shutdown only, so that a cancelled ctx (a signal) still lets running
// handlers finish. Handlers get a ctx carrying ctx's values but not its
// cancellation.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("job: runner already started")
	}
	if err := errors.Join(append(r.errs, r.checkSchedules())...); err != nil {
		return err
	}
	base := context.WithoutCancel(ctx)
	srv := asynq.NewServerFromRedisClient(r.rdb, asynq.Config{
		Concurrency:              r.opts.Concurrency,
		BaseContext:              func() context.Context { return base },
		Queues:                   r.queues(),
		RetryDelayFunc:           func(n int, err error, _ *asynq.Task) time.Duration { return r.opts.RetryDelay(n, err) },
		ErrorHandler:             asynq.ErrorHandlerFunc(r.handleError),
		Logger:                   asynqLogger{log: r.log},
		LogLevel:                 asynq.WarnLevel,
		ShutdownTimeout:          r.opts.ShutdownTimeout,
		TaskCheckInterval:        r.opts.PollInterval,
		DelayedTaskCheckInterval: r.opts.PollInterval,
	})
	if err := srv.Start(asynq.HandlerFunc(r.process)); err != nil {
		return fmt.Errorf("job: start: %w", err)
	}
	r.srv = srv
	r.started = true
	sctx, cancel := context.WithCancel(ctx)
	r.stop = cancel
	for _, s := range r.schedules {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.runSchedule(sctx, s) // returns when sctx is done
		}()
	}
	return nil
}

// Shutdown stops the schedules, stops taking tasks and waits up to
// ShutdownTimeout for running handlers; the tasks of handlers still running
// then are put back in their queue (their ctx is cancelled) and run again by
// any copy. It is safe to call more than once, and before Start.
func (r *Runner) Shutdown() {
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if !started {
		return
	}
	r.stopOnce.Do(func() {
		r.stop()
		r.wg.Wait()
		r.srv.Shutdown()
	})
}

// process runs one task for asynq. asynq recovers a panic in it and
// reports it to handleError.
func (r *Runner) process(ctx context.Context, t *asynq.Task) error {
	r.mu.Lock()
	h, ok := r.handlers[t.Type()]
	r.mu.Unlock()
	if !ok {
		// Another version enqueued it; dead at once rather than retried.
		return SkipRetry(fmt.Errorf("no handler for task type %q", t.Type()))
	}
	start := time.Now()
	defer func() {
		r.metrics.duration.WithLabelValues(t.Type()).Observe(time.Since(start).Seconds())
	}()
	if err := h.fn(ctx, t.Payload()); err != nil {
		return err
	}
	r.metrics.processed.WithLabelValues(t.Type(), resultOK).Inc()
	return nil
}

// handleError counts and logs a failed run. asynq calls it for every failed
// run (error, panic, timeout, lost lease) before deciding between retry and
// dead with the same rule as here.
func (r *Runner) handleError(ctx context.Context, t *asynq.Task, err error) {
	if errors.Is(err, asynq.RevokeTask) {
		return
	}
	id, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	result := resultError
	if asynq.IsPanicError(err) {
		result = resultPanic
	}
	r.metrics.processed.WithLabelValues(t.Type(), result).Inc()
	attrs := []any{"type", t.Type(), "id", id, "queue", queue, "retried", retried, "max_retry", maxRetry, "err", err}
	if retried >= maxRetry || errors.Is(err, asynq.SkipRetry) {
		r.metrics.processed.WithLabelValues(t.Type(), resultDead).Inc()
		r.log.Error("job dead", attrs...)
		return
	}
	r.log.Warn("job failed", attrs...)
}

// TaskMeta describes the task a handler is running.
type TaskMeta struct {
	ID       string
	Queue    string
	Retried  int // retries done before this run
	MaxRetry int
}

// CurrentTask returns the task a handler's ctx belongs to; ok is false for
// a ctx that does not come from the runner.
func CurrentTask(ctx context.Context) (m TaskMeta, ok bool) {
	if m.ID, ok = asynq.GetTaskID(ctx); !ok {
		return TaskMeta{}, false
	}
	m.Queue, _ = asynq.GetQueueName(ctx)
	m.Retried, _ = asynq.GetRetryCount(ctx)
	m.MaxRetry, _ = asynq.GetMaxRetry(ctx)
	return m, true
}

// servedQueues returns the served queue names, sorted.
func (r *Runner) servedQueues() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.queues()))
}
