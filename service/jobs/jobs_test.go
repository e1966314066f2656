package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/service/jobs"
)

// fakeInspector records its calls and answers from its fields.
type fakeInspector struct {
	stats    map[string]jobs.QueueCounts
	dead     []jobs.DeadTask
	retryErr error
	calls    []string
}

func (f *fakeInspector) Stats(context.Context) (map[string]jobs.QueueCounts, error) {
	f.calls = append(f.calls, "stats")
	return f.stats, nil
}

func (f *fakeInspector) Dead(_ context.Context, limit int) ([]jobs.DeadTask, error) {
	f.calls = append(f.calls, "dead")
	return f.dead[:min(limit, len(f.dead))], nil
}

func (f *fakeInspector) Retry(_ context.Context, queue, id string) error {
	f.calls = append(f.calls, "retry "+queue+"/"+id)
	return f.retryErr
}

type auditCall struct {
	Action, TargetType, TargetID string
	Before, After                any
}

type fakeAuditor struct {
	calls []auditCall
	err   error
}

func (f *fakeAuditor) Audit(_ context.Context, action, targetType, targetID string, before, after any) error {
	f.calls = append(f.calls, auditCall{action, targetType, targetID, before, after})
	return f.err
}

func staff(roles ...model.Role) context.Context {
	return model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 1, Roles: roles})
}

func TestAdminOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  context.Context
		ok   bool
	}{
		{"admin", staff(model.RoleAdmin), true},
		{"command line", context.Background(), true},
		{"editor", staff(model.RoleEditor), false},
		{"mini program user", model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionMP, SubjectID: 1}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			insp := &fakeInspector{stats: map[string]jobs.QueueCounts{"default": {Pending: 2}}}
			aud := &fakeAuditor{}
			svc := jobs.New(insp, aud)
			_, serr := svc.Stats(tt.ctx)
			_, derr := svc.Dead(tt.ctx, 10)
			rerr := svc.Retry(tt.ctx, "default", "t1")
			for _, err := range []error{serr, derr, rerr} {
				if tt.ok && err != nil || !tt.ok && !errors.Is(err, model.ErrForbidden) {
					t.Errorf("call as %s = %v, want ok %v (else ErrForbidden)", tt.name, err, tt.ok)
				}
			}
			if !tt.ok && (len(insp.calls) != 0 || len(aud.calls) != 0) {
				t.Errorf("forbidden calls reached the runner %v or the audit log %v", insp.calls, aud.calls)
			}
		})
	}
}

func TestStatsAndDead(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	dead := []jobs.DeadTask{
		{ID: "a", Queue: "default", Type: "push.send", LastErr: "boom", FailedAt: at, Retried: 5, MaxRetry: 5},
		{ID: "b", Queue: "low", Type: "stats.sync", LastErr: "later", FailedAt: at.Add(-time.Hour)},
	}
	stats := map[string]jobs.QueueCounts{"default": {Pending: 1, Dead: 1}, "low": {Dead: 1, Paused: true}}
	svc := jobs.New(&fakeInspector{stats: stats, dead: dead}, &fakeAuditor{})
	ctx := staff(model.RoleAdmin)
	gotStats, err := svc.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stats, gotStats); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
	gotDead, err := svc.Dead(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dead[:1], gotDead); diff != "" {
		t.Errorf("Dead(1) (-want +got):\n%s", diff)
	}
}

func TestRetryAudits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100)
	notFound := model.Errorf(model.ErrNotFound, "任务不存在")
	auditDown := errors.New("audit table gone")
	tests := []struct {
		name      string
		id        string
		retryErr  error
		auditErr  error
		wantErr   error
		wantAudit []auditCall
	}{
		{name: "retried", id: "t1", wantAudit: []auditCall{{jobs.ActionRetry, jobs.TargetJob, "t1", nil,
			map[string]any{"queue": "default", "task_id": "t1"}}}},
		{name: "long id clipped", id: long, wantAudit: []auditCall{{jobs.ActionRetry, jobs.TargetJob, long[:64], nil,
			map[string]any{"queue": "default", "task_id": long}}}},
		{name: "not found", id: "t1", retryErr: notFound, wantErr: model.ErrNotFound},
		{name: "audit fails", id: "t1", auditErr: auditDown, wantErr: auditDown,
			wantAudit: []auditCall{{jobs.ActionRetry, jobs.TargetJob, "t1", nil, map[string]any{"queue": "default", "task_id": "t1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			insp := &fakeInspector{retryErr: tt.retryErr}
			aud := &fakeAuditor{err: tt.auditErr}
			err := jobs.New(insp, aud).Retry(staff(model.RoleAdmin), "default", tt.id)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Retry(default, %.10s…) = %v, want %v", tt.id, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantAudit, aud.calls); diff != "" {
				t.Errorf("audit calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"retry default/" + tt.id}, insp.calls); diff != "" {
				t.Errorf("runner calls (-want +got):\n%s", diff)
			}
		})
	}
}
