package job

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome labels of wanjia_jobs_processed_total.
const (
	resultOK    = "ok"    // a run returned nil
	resultError = "error" // a run failed (error, timeout, lost lease)
	resultPanic = "panic" // a run panicked; asynq recovered it
	resultDead  = "dead"  // a task went dead after its run failed (counted besides error or panic)
)

// Outcome labels of wanjia_job_schedule_ticks_total.
const (
	tickEnqueued  = "enqueued"  // this copy enqueued the tick
	tickDuplicate = "duplicate" // another copy had enqueued it already
	tickError     = "error"     // enqueuing failed (Redis unreachable)
)

type metrics struct {
	processed *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	ticks     *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanjia_jobs_processed_total",
			Help: "Task runs by type and result: ok, error, panic; dead counts tasks that went dead (in addition to the error or panic of their last run).",
		}, []string{"type", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wanjia_job_duration_seconds",
			Help:    "Duration of task handler runs by type.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 8), // 10ms … ~164s
		}, []string{"type"}),
		ticks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanjia_job_schedule_ticks_total",
			Help: "Schedule ticks seen by this copy by schedule and result: enqueued, duplicate (another copy won), error.",
		}, []string{"schedule", "result"}),
	}
}

func (m *metrics) register(reg prometheus.Registerer, qc *queueCollector) error {
	for _, c := range []prometheus.Collector{m.processed, m.duration, m.ticks, qc} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register job metrics: %w", err)
		}
	}
	return nil
}

// queueCollector reports wanjia_job_queue_size{queue,state} on each scrape
// through the asynq inspector: one small Lua script per queue (counts and a
// bounded memory sample), no task is read.
type queueCollector struct {
	r    *Runner
	desc *prometheus.Desc
}

func newQueueCollector(r *Runner) *queueCollector {
	return &queueCollector{
		r: r,
		desc: prometheus.NewDesc("wanjia_job_queue_size",
			"Tasks per queue and state (pending, active, scheduled, retry, dead, completed).",
			[]string{"queue", "state"}, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect sends the current queue sizes. When Redis does not answer it logs
// and sends nothing, so one failing collector does not fail the whole scrape.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	stats, err := c.r.Stats(context.Background())
	if err != nil {
		c.r.log.Warn("job queue metrics", "err", err)
		return
	}
	for q, s := range stats {
		for _, v := range []struct {
			state string
			n     int
		}{
			{"pending", s.Pending},
			{"active", s.Active},
			{"scheduled", s.Scheduled},
			{"retry", s.Retry},
			{"dead", s.Dead},
			{"completed", s.Completed},
		} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v.n), q, v.state)
		}
	}
}
