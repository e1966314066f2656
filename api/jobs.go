package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/service/jobs"
)

// Jobs is what the background-job admin handlers need (jobs.Service
// satisfies it). Retry is audited by the service.
type Jobs interface {
	Stats(ctx context.Context) (map[string]jobs.QueueCounts, error)
	Dead(ctx context.Context, limit int) ([]jobs.DeadTask, error)
	Retry(ctx context.Context, queue, id string) error
}

type queueAnswer struct {
	Queue     string `json:"queue"`
	Pending   int    `json:"pending"`
	Active    int    `json:"active"`
	Scheduled int    `json:"scheduled"`
	Retry     int    `json:"retry"`
	Dead      int    `json:"dead"`
	Completed int    `json:"completed"`
	Paused    bool   `json:"paused"`
}

// handleJobStats: GET /api/admin/jobs → {"items":[{"queue","pending",
// "active","scheduled","retry","dead","completed","paused"}],"next_cursor":""},
// by queue name.
func handleJobStats(svc Jobs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		stats, err := svc.Stats(c.Request.Context())
		if err != nil {
			return err
		}
		names := make([]string, 0, len(stats))
		for q := range stats {
			names = append(names, q)
		}
		slices.Sort(names)
		c.JSON(http.StatusOK, list(names, "", func(q string) queueAnswer {
			n := stats[q]
			return queueAnswer{Queue: q, Pending: n.Pending, Active: n.Active, Scheduled: n.Scheduled, Retry: n.Retry,
				Dead: n.Dead, Completed: n.Completed, Paused: n.Paused}
		}))
		return nil
	}
}

type deadAnswer struct {
	ID        string `json:"id"`
	Queue     string `json:"queue"`
	Type      string `json:"type"`
	LastError string `json:"last_error"`
	FailedAt  string `json:"failed_at"`
	Retried   int    `json:"retried"`
	MaxRetry  int    `json:"max_retry"`
}

// Limits of GET /api/admin/jobs/dead.
const (
	defaultDeadLimit = model.MaxPageLimit
	maxDeadLimit     = model.MaxPageLimit
)

// deadLimit reads ?limit= (1–100, larger is capped; default 100).
func deadLimit(c *gin.Context) (int, error) {
	s := c.Query("limit")
	if s == "" {
		return defaultDeadLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, model.Invalid(map[string]string{"limit": "须为 1–100 的整数"})
	}
	return min(n, maxDeadLimit), nil
}

// handleDeadJobs: GET /api/admin/jobs/dead?limit= → {"items":[{"id","queue",
// "type","last_error","failed_at","retried","max_retry"}],"next_cursor":""},
// the most recently failed first. The payload is never shown; last_error
// goes through scrub (WeChat error texts quote URLs with access tokens).
func handleDeadJobs(svc Jobs, scrub func(string) string) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		limit, err := deadLimit(c)
		if err != nil {
			return err
		}
		dead, err := svc.Dead(c.Request.Context(), limit)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(dead, "", func(d jobs.DeadTask) deadAnswer {
			return deadAnswer{ID: d.ID, Queue: d.Queue, Type: d.Type, LastError: scrub(d.LastErr),
				FailedAt: apiTime(d.FailedAt), Retried: d.Retried, MaxRetry: d.MaxRetry}
		}))
		return nil
	}
}

// maxJobParam bounds the queue and id path parameters; longer ones cannot
// name a task.
const maxJobParam = 200

// handleRetryJob: POST /api/admin/jobs/dead/:queue/:id/retry → 204; the
// task runs again now, with its retry count kept. No such task: 404; a
// task that is not dead: 409 task_not_dead. Audited as "job.retry".
func handleRetryJob(svc Jobs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		queue, id := c.Param("queue"), c.Param("id")
		if strings.TrimSpace(queue) == "" || id == "" || len(queue) > maxJobParam || len(id) > maxJobParam {
			return errNotFound
		}
		if err := svc.Retry(c.Request.Context(), queue, id); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}
