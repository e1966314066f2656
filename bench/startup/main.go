// Command startup measures how long the wanjia binary takes from exec to
// its first 200 from /readyz, with no configuration: once with a fresh data
// dir (the first start creates the SQLite file, applies the migrations and
// writes the sandbox secrets) and once more with the same dir. Besides the
// wall-clock time it reports the CPU time (user+system) the process had
// used when it became ready, which other work on the machine moves much
// less. It also times the stop (SIGTERM to exit). bench/startup.sh builds the binary and
// runs it; see bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	bin      string
	runs     int
	interval time.Duration
	timeout  time.Duration
	stopWait time.Duration
	dir      string
	target   time.Duration
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("startup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "", "the wanjia binary (required)")
	fs.IntVar(&o.runs, "runs", 10, "starts with a fresh data dir, each followed by one with the same dir")
	fs.DurationVar(&o.interval, "interval", 5*time.Millisecond, "pause between two /readyz polls")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "give up on a start that is not ready after this")
	fs.DurationVar(&o.stopWait, "stop-wait", 15*time.Second, "SIGKILL a process still running this long after SIGTERM")
	fs.StringVar(&o.dir, "dir", "", "folder for data dirs and logs (default: a new temporary folder, removed at the end)")
	fs.DurationVar(&o.target, "target", time.Second, "the target for time to ready")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.bin == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("usage: startup -bin PATH [-runs N] [-interval D] [-timeout D] [-dir DIR]")
	}
	if o.runs < 1 || o.interval <= 0 || o.timeout <= 0 || o.stopWait <= 0 {
		return errors.New("-runs, -interval, -timeout and -stop-wait must be positive")
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "wanjia-startup-")
		if err != nil {
			return fmt.Errorf("temp dir: %w", err)
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	samples, err := measure(ctx, o, environ, stdout)
	if err != nil {
		return err
	}
	report(stdout, samples, o.target)
	return nil
}

// sample is one run: a start with a fresh data dir and one with the dir
// the first start left behind, each with the time to stop.
type sample struct {
	fresh, existing         time.Duration
	cpuFresh, cpuExisting   time.Duration
	stopFresh, stopExisting time.Duration
}

func measure(ctx context.Context, o options, environ []string, stdout io.Writer) ([]sample, error) {
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{DisableKeepAlives: true}, // no proxy: loopback only
	}
	const row = "%4v %10v %12v %14v %17v %14v %17v\n"
	fmt.Fprintf(stdout, row, "run", "fresh ms", "existing ms", "CPU fresh ms", "CPU existing ms", "stop fresh ms", "stop existing ms")
	var out []sample
	for i := 1; i <= o.runs; i++ {
		data := filepath.Join(o.dir, fmt.Sprintf("data-%d", i))
		var s sample
		var err error
		s.fresh, s.cpuFresh, s.stopFresh, err = startOnce(ctx, o, client, environ, data, filepath.Join(o.dir, fmt.Sprintf("run-%d-fresh.log", i)))
		if err != nil {
			return nil, fmt.Errorf("run %d, fresh data dir: %w", i, err)
		}
		s.existing, s.cpuExisting, s.stopExisting, err = startOnce(ctx, o, client, environ, data, filepath.Join(o.dir, fmt.Sprintf("run-%d-existing.log", i)))
		if err != nil {
			return nil, fmt.Errorf("run %d, existing data dir: %w", i, err)
		}
		if err := os.RemoveAll(data); err != nil {
			return nil, fmt.Errorf("remove %s: %w", data, err)
		}
		out = append(out, s)
		fmt.Fprintf(stdout, row, i, ms(s.fresh), ms(s.existing), ms(s.cpuFresh), ms(s.cpuExisting), ms(s.stopFresh), ms(s.stopExisting))
	}
	return out, nil
}

// startOnce starts the binary with data as its data dir and a free
// loopback port, polls /readyz until it answers 200, then stops it with
// SIGTERM. It returns the time from exec to ready, the CPU time the
// process had used by then, and the time from SIGTERM to exit.
func startOnce(ctx context.Context, o options, client *http.Client, environ []string, data, logPath string) (ready, cpu, stop time.Duration, err error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, 0, 0, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("log file: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(o.bin)
	cmd.Env = childEnv(environ, data, addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The child dies with this process even if it is killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, fmt.Errorf("start %s: %w", o.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // returns when the child exits
	running := true
	defer func() {
		if running { // failed before the orderly stop below
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	url := "http://" + addr + "/readyz"
	for !isReady(ctx, client, url) {
		if time.Since(start) > o.timeout {
			return 0, 0, 0, fmt.Errorf("not ready after %s (log: %s)", o.timeout, logPath)
		}
		select {
		case err := <-exited:
			running = false
			return 0, 0, 0, fmt.Errorf("exited before ready: %v (log: %s)", err, logPath)
		case <-ctx.Done():
			return 0, 0, 0, ctx.Err()
		case <-time.After(o.interval):
		}
	}
	ready = time.Since(start)
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("cpu time: %w", err)
	}
	if cpu, err = parseStatCPU(stat); err != nil {
		return 0, 0, 0, err
	}

	stopStart := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, 0, 0, fmt.Errorf("signal: %w", err)
	}
	select {
	case err := <-exited:
		running = false
		if err != nil {
			return 0, 0, 0, fmt.Errorf("exit after SIGTERM: %v (log: %s)", err, logPath)
		}
	case <-time.After(o.stopWait):
		return 0, 0, 0, fmt.Errorf("still running %s after SIGTERM (log: %s)", o.stopWait, logPath)
	}
	return ready, cpu, time.Since(stopStart), nil
}

// clockTick is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// parseStatCPU returns utime+stime from the contents of /proc/PID/stat.
// The command name (field 2) is in parentheses and may itself hold spaces
// and parentheses, so fields are counted after the last ")": utime and
// stime are fields 14 and 15 of the line, the 12th and 13th after it.
func parseStatCPU(stat []byte) (time.Duration, error) {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("cpu time: malformed /proc stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu time: malformed /proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("cpu time: malformed /proc stat field %q", v)
		}
		if n > (1<<62)/int64(clockTick) || ticks > (1<<62)/int64(clockTick)-n {
			return 0, fmt.Errorf("cpu time: /proc stat field %q out of range", v)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// isReady reports whether GET url answers 200.
func isReady(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// childEnv is environ without any WANJIA_ variable (a zero-configuration
// start), plus the data dir and a loopback listen address.
func childEnv(environ []string, data, addr string) []string {
	env := make([]string, 0, len(environ)+2)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "WANJIA_") {
			env = append(env, kv)
		}
	}
	return append(env, "WANJIA_DATA_DIR="+data, "WANJIA_HTTP_ADDR="+addr)
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// stats are the minimum, median and maximum of a set of durations.
type stats struct {
	min, median, max time.Duration
}

// summarize returns the stats of ds; the median of an even count is the
// mean of the two middle values. It returns zeros for no durations.
func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stats{min: s[0], median: med, max: s[n-1]}
}

func report(w io.Writer, samples []sample, target time.Duration) {
	pick := func(f func(sample) time.Duration) []time.Duration {
		out := make([]time.Duration, len(samples))
		for i, s := range samples {
			out[i] = f(s)
		}
		return out
	}
	rows := []struct {
		name string
		st   stats
	}{
		{"ready, fresh data dir", summarize(pick(func(s sample) time.Duration { return s.fresh }))},
		{"ready, existing data dir", summarize(pick(func(s sample) time.Duration { return s.existing }))},
		{"CPU to ready, fresh", summarize(pick(func(s sample) time.Duration { return s.cpuFresh }))},
		{"CPU to ready, existing", summarize(pick(func(s sample) time.Duration { return s.cpuExisting }))},
		{"stop, fresh data dir", summarize(pick(func(s sample) time.Duration { return s.stopFresh }))},
		{"stop, existing data dir", summarize(pick(func(s sample) time.Duration { return s.stopExisting }))},
	}
	fmt.Fprintf(w, "\n%d runs:\n", len(samples))
	for _, r := range rows {
		fmt.Fprintf(w, "  %-26s min %8s  median %8s  max %8s ms\n", r.name, ms(r.st.min), ms(r.st.median), ms(r.st.max))
	}
	worst := max(rows[0].st.max, rows[1].st.max)
	verdict := "met"
	if worst >= target {
		verdict = "MISSED"
	}
	fmt.Fprintf(w, "target: ready in under %s ms: %s (slowest start %s ms)\n", ms(target), verdict, ms(worst))
}

// ms formats d in milliseconds with one decimal.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}
