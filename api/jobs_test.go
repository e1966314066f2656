package api_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/api"
	"wanjia/model"
	"wanjia/service/jobs"
)

// fakeRunner stands in for the job runner behind jobs.Service: task
// "default"/"t-dead" is dead, "default"/"t-live" is not.
type fakeRunner struct {
	mu      sync.Mutex
	limits  []int
	retried []string
}

var deadAt = time.Date(2026, 11, 3, 1, 2, 3, 0, time.UTC)

func (f *fakeRunner) Stats(context.Context) (map[string]jobs.QueueCounts, error) {
	return map[string]jobs.QueueCounts{
		"low":     {Pending: 1, Paused: true},
		"default": {Pending: 3, Active: 1, Scheduled: 2, Retry: 1, Dead: 1, Completed: 9},
	}, nil
}

func (f *fakeRunner) Dead(_ context.Context, limit int) ([]jobs.DeadTask, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limits = append(f.limits, limit)
	return []jobs.DeadTask{{
		ID: "t-dead", Queue: "default", Type: "push.send",
		LastErr:  "http get error : uri=https://api.weixin.qq.com/cgi-bin/message/send?access_token=SECRET123 , status 500",
		FailedAt: deadAt, Retried: 5, MaxRetry: 5,
	}}, nil
}

func (f *fakeRunner) Retry(_ context.Context, queue, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case queue == "default" && id == "t-dead":
		f.retried = append(f.retried, queue+"/"+id)
		return nil
	case queue == "default" && id == "t-live":
		return model.Coded(model.ErrConflict, "task_not_dead", "任务不在失败列表中")
	}
	return model.Errorf(model.ErrNotFound, "任务不存在")
}

// scrubToken stands in for wechat.Scrub.
func scrubToken(s string) string {
	before, after, ok := strings.Cut(s, "access_token=")
	if !ok {
		return s
	}
	_, rest, _ := strings.Cut(after, " ")
	return before + "access_token=*** " + rest
}

// mustJobsEnv is the server with real accounts and audit log, and jobs
// over runner.
func mustJobsEnv(tb testing.TB, runner *fakeRunner) *accountsEnv {
	tb.Helper()
	acc := mustAccounts(tb, api.Deps{})
	h := mustServer(tb, api.Deps{Accounts: acc.auth, DB: acc.db, RatePerIP: 1000,
		Jobs: jobs.New(runner, acc.auth), ScrubJobError: scrubToken})
	return &accountsEnv{h: h, auth: acc.auth, db: acc.db}
}

func TestJobsAdminOnly(t *testing.T) {
	e := mustJobsEnv(t, &fakeRunner{})
	e.mustStaff(t, "editor", false, model.RoleEditor)
	editor := e.mustLogin(t, "editor").Token
	mp := mustJSON[loginBody](t, do(e.h, "POST", "/api/mp/login", `{"code":"c-x"}`).Body.Bytes()).Token
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/admin/jobs"},
		{"GET", "/api/admin/jobs/dead"},
		{"POST", "/api/admin/jobs/dead/default/t-dead/retry"},
	} {
		wantStatus(t, e, r.method, r.path, "", editor, 403, "forbidden")
		wantStatus(t, e, r.method, r.path, "", mp, 401, "unauthenticated")
		wantStatus(t, e, r.method, r.path, "", "", 401, "unauthenticated")
	}
}

func TestJobStats(t *testing.T) {
	e := mustJobsEnv(t, &fakeRunner{})
	e.mustStaff(t, "admin", false, model.RoleAdmin)
	tok := e.mustLogin(t, "admin").Token
	body := wantStatus(t, e, "GET", "/api/admin/jobs", "", tok, 200, "")
	want := map[string]any{"next_cursor": "", "items": []any{
		map[string]any{"queue": "default", "pending": 3.0, "active": 1.0, "scheduled": 2.0, "retry": 1.0, "dead": 1.0,
			"completed": 9.0, "paused": false},
		map[string]any{"queue": "low", "pending": 1.0, "active": 0.0, "scheduled": 0.0, "retry": 0.0, "dead": 0.0,
			"completed": 0.0, "paused": true},
	}}
	if diff := cmp.Diff(want, mustJSON[map[string]any](t, body)); diff != "" {
		t.Errorf("GET /api/admin/jobs (-want +got):\n%s", diff)
	}
}

func TestDeadJobs(t *testing.T) {
	runner := &fakeRunner{}
	e := mustJobsEnv(t, runner)
	e.mustStaff(t, "admin", false, model.RoleAdmin)
	tok := e.mustLogin(t, "admin").Token
	body := wantStatus(t, e, "GET", "/api/admin/jobs/dead", "", tok, 200, "")
	want := map[string]any{"next_cursor": "", "items": []any{map[string]any{
		"id": "t-dead", "queue": "default", "type": "push.send",
		"last_error": "http get error : uri=https://api.weixin.qq.com/cgi-bin/message/send?access_token=*** , status 500",
		"failed_at":  "2026-11-03T09:02:03+08:00", "retried": 5.0, "max_retry": 5.0,
	}}}
	if diff := cmp.Diff(want, mustJSON[map[string]any](t, body)); diff != "" {
		t.Errorf("GET /api/admin/jobs/dead (-want +got):\n%s", diff)
	}
	if strings.Contains(string(body), "SECRET123") {
		t.Errorf("GET /api/admin/jobs/dead leaks the access token: %s", body)
	}
	wantStatus(t, e, "GET", "/api/admin/jobs/dead?limit=7", "", tok, 200, "")
	wantStatus(t, e, "GET", "/api/admin/jobs/dead?limit=5000", "", tok, 200, "")
	for _, bad := range []string{"0", "-1", "x", "1.5"} {
		b := wantStatus(t, e, "GET", "/api/admin/jobs/dead?limit="+bad, "", tok, 400, "invalid")
		if mustJSON[envelope](t, b).Error.Fields["limit"] == "" {
			t.Errorf("GET …?limit=%s = %s, want a limit field error", bad, b)
		}
	}
	if diff := cmp.Diff([]int{100, 7, 100}, runner.limits); diff != "" {
		t.Errorf("limits passed to the runner (-want +got):\n%s", diff)
	}
}

func TestRetryJobAudited(t *testing.T) {
	runner := &fakeRunner{}
	e := mustJobsEnv(t, runner)
	admin := e.mustStaff(t, "admin", false, model.RoleAdmin)
	tok := e.mustLogin(t, "admin").Token
	wantStatus(t, e, "POST", "/api/admin/jobs/dead/default/t-dead/retry", "", tok, 204, "")
	wantStatus(t, e, "POST", "/api/admin/jobs/dead/default/t-live/retry", "", tok, 409, "task_not_dead")
	wantStatus(t, e, "POST", "/api/admin/jobs/dead/default/nope/retry", "", tok, 404, "not_found")
	wantStatus(t, e, "POST", "/api/admin/jobs/dead/nope/t-dead/retry", "", tok, 404, "not_found")
	wantStatus(t, e, "POST", "/api/admin/jobs/dead/default/"+strings.Repeat("x", 201)+"/retry", "", tok, 404, "not_found")
	if diff := cmp.Diff([]string{"default/t-dead"}, runner.retried); diff != "" {
		t.Errorf("retried (-want +got):\n%s", diff)
	}

	body := wantStatus(t, e, "GET", "/api/admin/audit?action="+url.QueryEscape(jobs.ActionRetry), "", tok, 200, "")
	type entry struct {
		StaffID    int64          `json:"staff_id"`
		Username   string         `json:"username"`
		Action     string         `json:"action"`
		TargetType string         `json:"target_type"`
		TargetID   string         `json:"target_id"`
		Summary    map[string]any `json:"summary"`
	}
	got := mustJSON[struct {
		Items []entry `json:"items"`
	}](t, body).Items
	want := []entry{{StaffID: admin.ID, Username: "admin", Action: "job.retry", TargetType: "job", TargetID: "t-dead",
		Summary: map[string]any{"after": map[string]any{"queue": "default", "task_id": "t-dead"}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit of job.retry (-want +got):\n%s", diff)
	}
}

func TestJobAndUploadRoutesInOpenAPI(t *testing.T) {
	acc := mustAccounts(t, api.Deps{})
	h := mustServer(t, api.Deps{Accounts: acc.auth, DB: acc.db, Jobs: jobs.New(&fakeRunner{}, acc.auth), Uploads: &fakeUploads{}})
	w := do(h, "GET", "/api/openapi.json", "")
	doc := mustJSON[struct {
		Paths map[string]map[string]any `json:"paths"`
	}](t, w.Body.Bytes())
	for _, r := range []struct{ method, path string }{
		{"get", "/api/admin/jobs"},
		{"get", "/api/admin/jobs/dead"},
		{"post", "/api/admin/jobs/dead/{queue}/{id}/retry"},
		{"post", "/api/mp/uploads"},
		{"get", "/api/files/{key}"},
	} {
		if doc.Paths[r.path][r.method] == nil {
			t.Errorf("openapi.json lacks %s %s", r.method, r.path)
		}
	}
}

// adminAccounts lets the staff token "admin" in as an admin.
type adminAccounts struct{ fakeAccounts }

func (adminAccounts) AuthenticateStaff(_ context.Context, token string) (model.Principal, error) {
	if token != "admin" {
		return model.Principal{}, model.ErrUnauthenticated
	}
	return model.Principal{Kind: model.SessionStaff, SubjectID: 1, Username: "admin", Roles: []model.Role{model.RoleAdmin}}, nil
}

// nopAuditor accepts every entry.
type nopAuditor struct{}

func (nopAuditor) Audit(context.Context, string, string, string, any, any) error { return nil }

func FuzzJobsQuery(f *testing.F) {
	f.Add("100", "default", "t-dead")
	f.Add("-1", "", "")
	f.Add("1e9", "default", "t-live")
	f.Add("", "a%2Fb", "..")
	h := mustServer(f, api.Deps{Accounts: adminAccounts{}, Jobs: jobs.New(&fakeRunner{}, nopAuditor{}), RatePerIP: 1e9})
	f.Fuzz(func(t *testing.T, limit, queue, id string) {
		w := do(h, "GET", "/api/admin/jobs/dead?limit="+url.QueryEscape(limit), "", bearer("admin")...)
		if w.Code != 200 && w.Code != 400 {
			t.Fatalf("GET /api/admin/jobs/dead?limit=%q = %d %s", limit, w.Code, w.Body)
		}
		w = do(h, "POST", "/api/admin/jobs/dead/"+url.PathEscape(queue)+"/"+url.PathEscape(id)+"/retry", "", bearer("admin")...)
		switch w.Code {
		case 204, 301, 307, 308, 404, 405, 409:
		default:
			t.Fatalf("POST /api/admin/jobs/dead/%q/%q/retry = %d %s", queue, id, w.Code, w.Body)
		}
	})
}
