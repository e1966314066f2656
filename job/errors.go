package job

import (
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"wanjia/model"
)

// ErrDuplicate is returned by Enqueue for a task with Unique whose twin is
// still waiting or running. It unwraps to model.ErrConflict.
var ErrDuplicate = model.Coded(model.ErrConflict, "duplicate_task", "相同的任务已在处理中")

// SkipRetry marks err as permanent: the task is not retried but goes dead at
// once (listed by Dead, runnable again with Retry). Use it for failures that
// retrying cannot fix, such as WeChat 43101 (the user gave no consent).
// SkipRetry(nil) is nil, so `return job.SkipRetry(err)` is safe.
func SkipRetry(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (%w)", err, asynq.SkipRetry)
}

// IsSkipRetry reports whether err was marked with SkipRetry.
func IsSkipRetry(err error) bool {
	return errors.Is(err, asynq.SkipRetry)
}
