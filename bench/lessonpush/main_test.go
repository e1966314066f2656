package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wanjia/model"
	"wanjia/store"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{[]string{"-bin", "/x/wanjia"}, true},
		{[]string{"-bin", "/x/wanjia", "-driver", "mysql", "-n", "10"}, true},
		{nil, false},
		{[]string{"-bin", "/x/wanjia", "-driver", "postgres"}, false},
		{[]string{"-bin", "/x/wanjia", "-n", "0"}, false},
		{[]string{"-bin", "/x/wanjia", "extra"}, false},
	}
	for _, tt := range tests {
		_, err := parse(tt.args, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("parse(%q) = %v, want ok %v", tt.args, err, tt.ok)
		}
	}
}

func TestProc(t *testing.T) {
	pid := os.Getpid()
	if rss, err := procStatus(pid, "VmRSS"); err != nil || rss <= 0 {
		t.Errorf("procStatus(VmRSS) = %v, %v", rss, err)
	}
	if _, err := procStatus(pid, "NoSuchField"); err == nil {
		t.Error("procStatus(NoSuchField) = nil error")
	}
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) { // burn some CPU
	}
	if cpu, err := procCPU(pid); err != nil || cpu <= 0 {
		t.Errorf("procCPU() = %v, %v", cpu, err)
	}
}

func TestReportTargets(t *testing.T) {
	o := options{n: 100, rate: 200, burst: 20, window: 10 * time.Second, targetT: 10 * time.Second, targetMiB: 200}
	good := result{enqueued: 3 * time.Second, targets: 100, hwm: 80, windowSent: 1990, windowRate: 199, maxSecond: 210,
		counts: map[string]any{"targets": 100.0}}
	var out strings.Builder
	if err := report(&out, o, good); err != nil || strings.Contains(out.String(), "MISSED") {
		t.Errorf("report(good) = %v:\n%s", err, out.String())
	}
	for name, r := range map[string]result{
		"slow":      {enqueued: 11 * time.Second, targets: 100, hwm: 80, windowRate: 199, maxSecond: 200},
		"short":     {enqueued: 3 * time.Second, targets: 99, hwm: 80, windowRate: 199, maxSecond: 200},
		"fat":       {enqueued: 3 * time.Second, targets: 100, hwm: 250, windowRate: 199, maxSecond: 200},
		"too fast":  {enqueued: 3 * time.Second, targets: 100, hwm: 80, windowRate: 260, maxSecond: 260},
		"too burst": {enqueued: 3 * time.Second, targets: 100, hwm: 80, windowRate: 199, maxSecond: 260},
	} {
		if err := report(io.Discard, o, r); err == nil {
			t.Errorf("report(%s) = nil, want a missed target", name)
		}
	}
}

func TestDone(t *testing.T) {
	if done(map[string]any{}) || done(map[string]any{"lesson": map[string]any{"figures": map[string]any{"push_done": false}}}) {
		t.Error("done() of an unfinished push = true")
	}
	if !done(map[string]any{"lesson": map[string]any{"figures": map[string]any{"push_done": true}}}) {
		t.Error("done() of a finished push = false")
	}
}

// TestSeed: the seeding SQL fits the schema wanjia migrates.
func TestSeed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wanjia.db")
	db, closeDB, err := store.Open(ctx, store.Options{Driver: "sqlite", DSN: path, MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ls := store.NewLessons(db)
	c, err := ls.CreateCourse(ctx, model.Course{Title: "课", Audience: model.AudienceAll})
	if err != nil {
		t.Fatal(err)
	}
	if err := seed(ctx, "sqlite", path, 2500, c.ID); err != nil {
		t.Fatalf("seed() = %v", err)
	}
	subs, err := ls.Subscribers(ctx, c.ID, 0, 5000)
	if err != nil || len(subs) != 2500 {
		t.Fatalf("Subscribers() = %d, %v, want 2500", len(subs), err)
	}
	u, err := store.NewUsers(db).UserByID(ctx, subs[0].UserID)
	if err != nil || u.OpenID == "" {
		t.Fatalf("UserByID() = %+v, %v", u, err)
	}
	cs, err := store.NewNotify(db).ConsentsOf(ctx, model.AppMP, u.OpenID)
	if err != nil || len(cs) != 1 || cs[0].TemplateID != mpTpl || cs[0].Remaining != 1 {
		t.Errorf("ConsentsOf() = %+v, %v", cs, err)
	}
}
