package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"wanjia/model"
)

// Background task types of the gateway.
const (
	// TaskCrisisAlert alerts the on-duty staff of a crisis message. Give
	// it the fastest queue.
	TaskCrisisAlert = "gateway:crisis_alert"
	// TaskFollowerSync fetches a new follower's unionid and tags.
	TaskFollowerSync = "gateway:follower_sync"
	// TaskResult hands a recorded result to the result sinks.
	TaskResult = "gateway:result"
	// TaskCrisisReplyMP sends the crisis guidance to a Mini Program user
	// as a customer-service message (the MP's message push takes no
	// passive reply). Give it the fastest queue.
	TaskCrisisReplyMP = "gateway:crisis_reply_mp"
)

// ErrBadPayload marks a task whose payload cannot be read: retrying cannot
// help (adapters.Register makes it permanent).
var ErrBadPayload = errors.New("gateway: malformed task payload")

type followerTask struct {
	OpenID string `json:"openid"`
}

type resultTask struct {
	Kind model.ResultKind `json:"kind"`
	Key  string           `json:"key"`
}

// Tasks returns the handler of every task type above, for the job runner.
// Handlers are idempotent; an error retries the task.
func (s *Service) Tasks() map[string]func(ctx context.Context, payload []byte) error {
	return map[string]func(ctx context.Context, payload []byte) error{
		TaskCrisisAlert:   s.runCrisisAlert,
		TaskFollowerSync:  s.runFollowerSync,
		TaskResult:        s.runResult,
		TaskCrisisReplyMP: s.runCrisisReplyMP,
	}
}

// runFollowerSync records what WeChat's user/info says of a follower: the
// unionid links her to her Mini Program account.
func (s *Service) runFollowerSync(ctx context.Context, payload []byte) error {
	var t followerTask
	if err := json.Unmarshal(payload, &t); err != nil || t.OpenID == "" {
		return fmt.Errorf("%w: follower sync", ErrBadPayload)
	}
	info, err := s.d.OA.FollowerInfo(ctx, t.OpenID)
	if errors.Is(err, model.ErrNotFound) {
		return nil // WeChat does not know the openid: nothing to complete, ever
	}
	if err != nil {
		return fmt.Errorf("follower sync: %w", err)
	}
	err = s.d.Followers.SetFollowerProfile(ctx, t.OpenID, info.UnionID, info.TagIDs)
	if errors.Is(err, model.ErrNotFound) {
		return nil // nothing to complete
	}
	if err != nil {
		return fmt.Errorf("follower sync: %w", err)
	}
	return nil
}

// runResult hands a recorded result to every sink of its kind.
func (s *Service) runResult(ctx context.Context, payload []byte) error {
	var t resultTask
	if err := json.Unmarshal(payload, &t); err != nil || t.Kind == "" || t.Key == "" {
		return fmt.Errorf("%w: result", ErrBadPayload)
	}
	r, err := s.d.Results.Result(ctx, t.Kind, t.Key)
	if err != nil {
		return fmt.Errorf("result sinks: %w", err)
	}
	var errs []error
	for _, sink := range s.sinksOf(t.Kind) {
		if err := sink(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("result sinks %s %s: %w", t.Kind, t.Key, err)
	}
	return nil
}
