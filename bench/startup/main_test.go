package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeEnv makes the test binary act as a tiny wanjia (fakeWanjia) when
// run re-executes it as the binary under test.
const fakeEnv = "STARTUP_TEST_FAKE_WANJIA"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) != "" {
		os.Exit(fakeWanjia(os.Getenv(fakeEnv)))
	}
	os.Exit(m.Run())
}

// fakeWanjia serves /readyz on WANJIA_HTTP_ADDR: 503 for the first 30 ms,
// then 200; it writes a marker into WANJIA_DATA_DIR and exits 0 on
// SIGTERM. mode "crash" exits 3 at once instead.
func fakeWanjia(mode string) int {
	if mode == "crash" {
		return 3
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if os.Getenv("WANJIA_OA_APPID") != "" {
		return 4 // the configuration leaked into a zero-config start
	}
	data := os.Getenv("WANJIA_DATA_DIR")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return 5
	}
	if err := os.WriteFile(filepath.Join(data, "marker"), []byte("x"), 0o600); err != nil {
		return 5
	}
	ln, err := net.Listen("tcp", os.Getenv("WANJIA_HTTP_ADDR"))
	if err != nil {
		return 6
	}
	start := time.Now()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || time.Since(start) < 30*time.Millisecond {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})}
	go func() { _ = srv.Serve(ln) }() // ends at Close below
	<-ctx.Done()
	_ = srv.Close()
	return 0
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	// GORACE: a -race binary otherwise sleeps 1 s at exit.
	env := append(os.Environ(), fakeEnv+"=serve", "WANJIA_OA_APPID=wxleak", "GORACE=atexit_sleep_ms=0")
	var out, errOut bytes.Buffer
	args := []string{"-bin", os.Args[0], "-runs", "2", "-dir", dir, "-interval", "5ms", "-timeout", "5s"}
	if err := run(context.Background(), args, env, &out, &errOut); err != nil {
		t.Fatalf("run(%q) = %v, want nil\nstdout:\n%s\nstderr:\n%s", args, err, &out, &errOut)
	}
	for _, want := range []string{"ready, fresh data dir", "ready, existing data dir", "CPU to ready, fresh", "stop, fresh data dir",
		"target: ready in under 1000.0 ms: met"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("run(%q) output lacks %q:\n%s", args, want, &out)
		}
	}
	for _, d := range []string{"data-1", "data-2"} {
		if _, err := os.Stat(filepath.Join(dir, d)); !os.IsNotExist(err) {
			t.Errorf("Stat(%s) = %v, want the data dir removed after its run", d, err)
		}
	}
}

func TestRunFails(t *testing.T) {
	tests := []struct {
		name string
		mode string
		args []string
		want string
	}{
		{"exits before ready", "crash", []string{"-runs", "1"}, "exited before ready"},
		{"never ready", "serve", []string{"-runs", "1", "-timeout", "10ms"}, "not ready after"},
		{"no binary", "serve", []string{"-bin", "", "-runs", "1"}, "usage"},
		{"no runs", "serve", []string{"-runs", "0"}, "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append(os.Environ(), fakeEnv+"="+tt.mode)
			args := append([]string{"-bin", os.Args[0], "-dir", t.TempDir()}, tt.args...)
			var out, errOut bytes.Buffer
			err := run(context.Background(), args, env, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", args, err, tt.want)
			}
		})
	}
}

func TestChildEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"empty", nil, []string{"WANJIA_DATA_DIR=/d", "WANJIA_HTTP_ADDR=127.0.0.1:1"}},
		{
			"drops every WANJIA_ variable",
			[]string{"PATH=/bin", "WANJIA_DATA_DIR=/old", "WANJIA_REDIS_URL=redis://x", "HOME=/root", "XWANJIA_KEEP=1"},
			[]string{"PATH=/bin", "HOME=/root", "XWANJIA_KEEP=1", "WANJIA_DATA_DIR=/d", "WANJIA_HTTP_ADDR=127.0.0.1:1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := childEnv(tt.environ, "/d", "127.0.0.1:1")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("childEnv(%q) mismatch (-want +got):\n%s", tt.environ, diff)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		in   []time.Duration
		want stats
	}{
		{"none", nil, stats{}},
		{"one", []time.Duration{5 * ms}, stats{5 * ms, 5 * ms, 5 * ms}},
		{"odd", []time.Duration{9 * ms, 1 * ms, 4 * ms}, stats{1 * ms, 4 * ms, 9 * ms}},
		{"even", []time.Duration{8 * ms, 2 * ms, 4 * ms, 6 * ms}, stats{2 * ms, 5 * ms, 8 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(tt.in)
			if got != tt.want {
				t.Errorf("summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestReportMissedTarget(t *testing.T) {
	var out bytes.Buffer
	report(&out, []sample{{fresh: 1200 * time.Millisecond, existing: 300 * time.Millisecond}}, time.Second)
	if want := "target: ready in under 1000.0 ms: MISSED (slowest start 1200.0 ms)"; !strings.Contains(out.String(), want) {
		t.Errorf("report() = %q, want it to contain %q", &out, want)
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{
			"plain",
			"4242 (wanjia) S 1 4242 4242 0 -1 4194560 1200 0 0 0 25 7 0 0 20 0 9 0 100 0 0",
			320 * time.Millisecond,
			false,
		},
		{
			"command with spaces and parentheses",
			"7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 0 0",
			70 * time.Millisecond,
			false,
		},
		{"no command", "4242 wanjia S 1", 0, true},
		{"too few fields", "1 (x) S 1 2 3", 0, true},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 ten 4 0", 0, true},
		{"negative", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -3 4 0", 0, true},
		{"out of range", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 9223372036854775807 4 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("parseStatCPU(%q) = %v, %v, want %v, error %t", tt.stat, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatCPUSelf(t *testing.T) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if _, err := parseStatCPU(b); err != nil {
		t.Errorf("parseStatCPU(/proc/self/stat) = %v, want nil", err)
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("4242 (wanjia) S 1 4242 4242 0 -1 4194560 1200 0 0 0 25 7 0 0 20 0 9 0 100 0 0"))
	f.Add([]byte("7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, stat []byte) {
		d, err := parseStatCPU(stat)
		if err == nil && d < 0 {
			t.Errorf("parseStatCPU(%q) = %v, want a duration >= 0", stat, d)
		}
	})
}
