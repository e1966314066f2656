// Command lessonpush measures the publish of one micro-lesson to N
// subscribers (default 100,000) against a running wanjia binary: the time
// from the publish call until every subscriber's notice is in the
// notification centre's outbox (the lesson's fan-out finished), the peak
// resident memory of the service process (VmHWM), its CPU time, and the
// rate at which notices then reach WeChat — the simulator, served over HTTP
// by this program as api.weixin.qq.com is in production — against the
// configured cap (notify.rate_per_app).
//
// It seeds the database directly (users with a consent to the lesson
// template, subscriptions) with multi-row INSERTs, starts `wanjia serve`
// as a child process outside sandbox mode, creates an editor, the template
// ids, a course and a lesson through the API, publishes it and polls
// GET /api/admin/pushes/:id. bench/lessonpush.sh builds the binary and
// runs it on SQLite and on MySQL/MariaDB; see bench/README.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite", the one wanjia's gorm dialect uses
	_ "github.com/go-sql-driver/mysql"

	"wanjia/service/notify"
	"wanjia/wechat/wxsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lessonpush:", err)
		os.Exit(1)
	}
}

type options struct {
	bin       string
	driver    string
	dsn       string
	redisURL  string
	n         int
	rate      float64
	burst     int
	window    time.Duration
	timeout   time.Duration
	dir       string
	targetT   time.Duration
	targetMiB float64
	keep      bool
}

const (
	oaApp, oaSecret = "wxbenchlessonoa01", "benchlessonoasecret0000000000001"
	mpApp, mpSecret = "wxbenchlessonmp01", "benchlessonmpsecret0000000000001"
	mpTpl, oaTpl    = "tplBenchMPLesson", "tplBenchOALesson"
	editorPassword  = "Bench-Passw0rd-1"
)

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("lessonpush", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "", "the wanjia binary (required)")
	fs.StringVar(&o.driver, "driver", "sqlite", "sqlite or mysql")
	fs.StringVar(&o.dsn, "dsn", "root@tcp(127.0.0.1:3306)/test", "mysql: a DSN to create a throw-away database beside (dropped at the end)")
	fs.StringVar(&o.redisURL, "redis", "", `Redis URL for the service ("" = its embedded Redis); the database is used as is: flush it first`)
	fs.IntVar(&o.n, "n", 100000, "subscribers")
	fs.Float64Var(&o.rate, "rate", 200, "notify.rate_per_app: the send-rate cap per app, per second")
	fs.IntVar(&o.burst, "burst", 20, "notify.burst")
	fs.DurationVar(&o.window, "window", 10*time.Second, "how long to measure the send rate after the fan-out")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this")
	fs.StringVar(&o.dir, "dir", "", "folder for the data dir and logs (default: a temporary folder, removed at the end)")
	fs.DurationVar(&o.targetT, "target-time", 10*time.Second, "target: every notice enqueued within this")
	fs.Float64Var(&o.targetMiB, "target-mib", 200, "target: peak RSS of the service under this (MiB)")
	fs.BoolVar(&o.keep, "keep", false, "keep the folder (and the MySQL database) for inspection")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0 || o.bin == "":
		return o, errors.New("usage: lessonpush -bin BINARY [-driver sqlite|mysql] [-n N] [-rate R] [-redis URL]")
	case o.driver != "sqlite" && o.driver != "mysql":
		return o, errors.New("-driver must be sqlite or mysql")
	case o.n < 1 || o.rate <= 0 || o.burst < 1 || o.window <= 0:
		return o, errors.New("-n, -rate, -burst and -window must be positive")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.dir == "" {
		d, err := os.MkdirTemp("", "wanjia-lessonpush-")
		if err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(d)
		}
		o.dir = d
	}
	res, err := measure(ctx, o, stderr)
	if err != nil {
		return err
	}
	return report(stdout, o, res)
}

// result is what one run measured.
type result struct {
	seeded      time.Duration // seeding the users, consents and subscriptions
	enqueued    time.Duration // publish call → fan-out finished (every notice in the outbox)
	publishCall time.Duration // the publish request itself
	firstSend   time.Duration // publish call → the first message WeChat received
	cpuFanout   time.Duration // CPU time of the service from the publish to the end of the fan-out
	rssBefore   float64       // MiB, just before the publish
	rssMax      float64       // MiB, highest VmRSS sampled (every 50 ms)
	hwm         float64       // MiB, VmHWM at the end: the peak over the process's life
	targets     int
	windowSent  int     // messages in the measured window
	windowRate  float64 // per second over the window
	maxSecond   int     // the most messages in any one second of the window
	counts      map[string]any
	loadAvg     string
}

func measure(ctx context.Context, o options, stderr io.Writer) (result, error) {
	var res result
	res.loadAvg = loadAvg()
	sim := wxsim.New(wxsim.WithApp(oaApp, oaSecret), wxsim.WithApp(mpApp, mpSecret), wxsim.WithLenient(""))
	defer sim.Close()
	for _, t := range notify.DefaultTemplates(true) {
		if t.Topic == notify.TopicLessonPublished {
			sim.AddTemplate(mpApp, mpTpl, notify.TemplateKeys(t.MPFields)...)
			sim.AddTemplate(oaApp, oaTpl, notify.TemplateKeys(t.OAFields)...)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	wx := &httptest.Server{Listener: ln, Config: &http.Server{Handler: sim}}
	wx.Start()
	defer wx.Close()

	driver, dsn, dropDB, err := database(ctx, o)
	if err != nil {
		return res, err
	}
	if !o.keep {
		defer dropDB()
	}
	addr, err := freeAddr()
	if err != nil {
		return res, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + o.dir,
		"WANJIA_HTTP_ADDR=" + addr, "WANJIA_DATA_DIR=" + filepath.Join(o.dir, "data"),
		"WANJIA_DB_DRIVER=" + driver, "WANJIA_DB_DSN=" + dsn, "WANJIA_REDIS_URL=" + o.redisURL,
		"WANJIA_WECHAT_API_BASE=" + wx.URL, "WANJIA_SECRET_KEY=" + randomKey(base64.StdEncoding),
		"WANJIA_OA_APPID=" + oaApp, "WANJIA_OA_SECRET=" + oaSecret, "WANJIA_OA_TOKEN=benchOAtoken",
		"WANJIA_OA_AES_KEY=" + randomKey(base64.RawStdEncoding),
		"WANJIA_MP_APPID=" + mpApp, "WANJIA_MP_SECRET=" + mpSecret, "WANJIA_MP_TOKEN=benchMPtoken",
		"WANJIA_MP_AES_KEY=" + randomKey(base64.RawStdEncoding),
		"WANJIA_NOTIFY_RATE_PER_APP=" + strconv.FormatFloat(o.rate, 'f', -1, 64), "WANJIA_NOTIFY_BURST=" + strconv.Itoa(o.burst),
		"WANJIA_NOTIFY_QUIET_HOURS=off", "WANJIA_HTTP_RATE_PER_IP=1000", "WANJIA_LOG_LEVEL=info",
	}
	if err := runBin(ctx, o.bin, env, "", "migrate"); err != nil {
		return res, err
	}
	if err := runBin(ctx, o.bin, env, editorPassword+"\n", "admin", "create", "--username", "bench", "--role", "editor"); err != nil {
		return res, err
	}
	errLog, err := os.Create(filepath.Join(o.dir, "wanjia.err"))
	if err != nil {
		return res, err
	}
	defer errLog.Close()
	cmd := exec.Command(o.bin, "serve")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, io.Discard, errLog
	if err := cmd.Start(); err != nil {
		return res, err
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	c := &client{base: "http://" + addr, http: &http.Client{Timeout: 30 * time.Second}}
	if err := c.waitReady(ctx, exited); err != nil {
		return res, fmt.Errorf("%w (see %s)", err, errLog.Name())
	}

	// The editor, the template ids (outside sandbox they come from the
	// WeChat console), a course and one draft lesson.
	var login struct{ Token string }
	if err := c.do(ctx, "POST", "/api/admin/login", `{"username":"bench","password":"`+editorPassword+`"}`, 200, &login); err != nil {
		return res, err
	}
	c.token = login.Token
	tpl := `{"items":[{"topic":"lesson_published","name":"微课上新提醒","enabled":true,"mp_template_id":"` + mpTpl + `",` +
		`"mp_fields":[{"key":"thing1","field":"title"},{"key":"thing2","field":"course","default":"家庭教育微课堂"},{"key":"time3","field":"time"},` +
		`{"key":"thing4","field":"hint","default":"点击进入学习"}],"oa_template_id":"` + oaTpl + `",` +
		`"oa_fields":[{"key":"thing1","field":"title"},{"key":"time2","field":"time"}],"text":"新课上线：{title}"}]}`
	if err := c.do(ctx, "PUT", "/api/admin/notify/templates", tpl, 200, nil); err != nil {
		return res, err
	}
	var course, lesson struct{ ID int64 }
	if err := c.do(ctx, "POST", "/api/admin/courses", `{"title":"科学育儿（压测）","audience":"all"}`, 201, &course); err != nil {
		return res, err
	}
	if err := c.do(ctx, "POST", fmt.Sprintf("/api/admin/courses/%d/lessons", course.ID),
		`{"title":"睡眠习惯怎么养成","kind":"video","url":"https://v.example.cn/sleep.mp4","duration_s":720}`, 201, &lesson); err != nil {
		return res, err
	}

	start := time.Now()
	fmt.Fprintf(stderr, "seeding %d users with a consent and a subscription…\n", o.n)
	if err := seed(ctx, driver, dsn, o.n, course.ID); err != nil {
		return res, fmt.Errorf("seed: %w", err)
	}
	res.seeded = time.Since(start)
	res.rssBefore, _ = procStatus(pid, "VmRSS")

	// Sample the service's memory while it works.
	var mu sync.Mutex
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := procStatus(pid, "VmRSS"); err == nil {
				mu.Lock()
				res.rssMax = max(res.rssMax, v)
				mu.Unlock()
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	})
	defer func() {
		stopSampling()
		sampling.Wait()
	}()

	fmt.Fprintln(stderr, "publishing…")
	cpu0, _ := procCPU(pid)
	t0 := time.Now()
	var pub struct {
		PushID int64 `json:"push_id"`
	}
	if err := c.do(ctx, "POST", fmt.Sprintf("/api/admin/lessons/%d/publish", lesson.ID), "", 200, &pub); err != nil {
		return res, err
	}
	res.publishCall = time.Since(t0)
	// The end of the fan-out is the service's log line "lesson push fanned
	// out" (read every 10 ms: polling the push's counts would load the
	// database it measures).
	for {
		b, err := os.ReadFile(errLog.Name())
		if err != nil {
			return res, err
		}
		if bytes.Contains(b, []byte(`"msg":"lesson push fanned out"`)) {
			res.enqueued = time.Since(t0)
			break
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("fan-out not finished after %v", time.Since(t0).Round(time.Second))
		case err := <-exited:
			return res, fmt.Errorf("the service exited: %v (see %s)", err, errLog.Name())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cpu1, _ := procCPU(pid)
	res.cpuFanout = cpu1 - cpu0
	var push map[string]any
	if err := c.do(ctx, "GET", fmt.Sprintf("/api/admin/pushes/%d", pub.PushID), "", 200, &push); err != nil {
		return res, err
	}
	if !done(push) {
		return res, fmt.Errorf("the log says the fan-out ended, the push does not: %v", push["lesson"])
	}
	res.targets = num(push["targets"])
	fmt.Fprintf(stderr, "fan-out done in %v; measuring the send rate for %v…\n", res.enqueued.Round(time.Millisecond), o.window)

	// The send rate: the messages WeChat received in the window that
	// starts once the fan-out is done (the cap's burst spent by then).
	from := time.Now()
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(o.window):
	}
	to := time.Now()
	sent := sim.Sent(wxsim.KindSubscribe)
	if len(sent) > 0 {
		res.firstSend = sent[0].At.Sub(t0)
	}
	perSecond := map[int64]int{}
	for _, m := range sent {
		if m.At.Before(from) || !m.At.Before(to) {
			continue
		}
		res.windowSent++
		perSecond[int64(m.At.Sub(from)/time.Second)]++
	}
	for _, n := range perSecond {
		res.maxSecond = max(res.maxSecond, n)
	}
	res.windowRate = float64(res.windowSent) / to.Sub(from).Seconds()
	if err := c.do(ctx, "GET", fmt.Sprintf("/api/admin/pushes/%d", pub.PushID), "", 200, &push); err != nil {
		return res, err
	}
	res.counts = push
	res.hwm, _ = procStatus(pid, "VmHWM")
	res.hwm = max(res.hwm, res.rssMax) // VmHWM is updated lazily by the kernel
	mu.Lock()
	defer mu.Unlock()
	return res, nil
}

// done reports whether a lesson push's fan-out finished.
func done(push map[string]any) bool {
	l, _ := push["lesson"].(map[string]any)
	f, _ := l["figures"].(map[string]any)
	return f["push_done"] == true
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func report(w io.Writer, o options, r result) error {
	fmt.Fprintf(w, "database: %s   redis: %s   subscribers: %d   cap: %.0f/s (burst %d)   load avg at start: %s\n",
		o.driver, orEmbedded(o.redisURL), o.n, o.rate, o.burst, r.loadAvg)
	fmt.Fprintf(w, "seeding (not timed):              %v\n", r.seeded.Round(time.Millisecond))
	fmt.Fprintf(w, "publish request:                  %v\n", r.publishCall.Round(time.Millisecond))
	fmt.Fprintf(w, "publish → every notice enqueued:  %v   (%d targets; service CPU %v, %.1f µs a notice)\n",
		r.enqueued.Round(time.Millisecond), r.targets, r.cpuFanout.Round(10*time.Millisecond),
		float64(r.cpuFanout.Microseconds())/float64(max(r.targets, 1)))
	fmt.Fprintf(w, "publish → first message:          %v\n", r.firstSend.Round(time.Millisecond))
	fmt.Fprintf(w, "RSS before the publish:           %.1f MiB;  highest sampled %.1f MiB;  VmHWM %.1f MiB\n", r.rssBefore, r.rssMax, r.hwm)
	fmt.Fprintf(w, "send rate after the fan-out:      %d messages in %v = %.1f/s (cap %.0f/s); busiest second %d\n",
		r.windowSent, o.window, r.windowRate, o.rate, r.maxSecond)
	fmt.Fprintf(w, "push at the end:                  targets %d, sent %d, pending %d, no consent %d, failed %d\n",
		num(r.counts["targets"]), num(r.counts["sent"]), num(r.counts["pending"]), num(r.counts["no_consent"]), num(r.counts["failed"]))
	okT := r.enqueued <= o.targetT && r.targets == o.n
	okM := r.hwm < o.targetMiB
	// The cap books a slot per send in Redis: a second holds at most rate
	// + burst (and a stall's booked slots, see bench/README.md).
	okR := r.windowRate <= o.rate*1.05 && float64(r.maxSecond) <= o.rate+float64(o.burst)
	fmt.Fprintf(w, "target: every notice enqueued within %v: %s\n", o.targetT, metStr(okT))
	fmt.Fprintf(w, "target: peak RSS under %.0f MiB: %s\n", o.targetMiB, metStr(okM))
	fmt.Fprintf(w, "target: delivery keeps to the cap: %s\n", metStr(okR))
	if !okT || !okM || !okR {
		return errors.New("a target was missed")
	}
	return nil
}

func metStr(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func orEmbedded(s string) string {
	if s == "" {
		return "embedded"
	}
	if u, _, ok := strings.Cut(s, "@"); ok && strings.Contains(u, ":") {
		return "redis (url with credentials)"
	}
	return s
}

// database returns the driver and DSN of a fresh database and a cleanup
// that drops it: a SQLite file in the data dir, or a MySQL database beside
// the one -dsn names.
func database(ctx context.Context, o options) (string, string, func(), error) {
	if o.driver == "sqlite" {
		if err := os.MkdirAll(filepath.Join(o.dir, "data"), 0o700); err != nil {
			return "", "", nil, err
		}
		return "sqlite", filepath.Join(o.dir, "data", "wanjia.db"), func() {}, nil
	}
	admin, err := sql.Open("mysql", o.dsn)
	if err != nil {
		return "", "", nil, err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "wanjia_lessonpush_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		_ = admin.Close()
		return "", "", nil, fmt.Errorf("create database: %w", err)
	}
	slash := strings.LastIndex(o.dsn, "/")
	rest := ""
	if q := strings.Index(o.dsn[slash:], "?"); q >= 0 {
		rest = o.dsn[slash+q:]
	}
	return "mysql", o.dsn[:slash+1] + name + rest, func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE "+name)
		_ = admin.Close()
	}, nil
}

// seed inserts n Mini Program users, one consent each to the lesson's
// subscribe template, and their subscriptions of courseID, in multi-row
// statements (the tables as migrated by wanjia).
func seed(ctx context.Context, driver, dsn string, n int, courseID int64) error {
	if driver == "sqlite" {
		dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	} else {
		dsn += map[bool]string{true: "&", false: "?"}[strings.Contains(dsn, "?")] + "parseTime=true&loc=UTC"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	now := time.Now().UTC().Truncate(time.Microsecond)
	const batch = 1000
	for i := 0; i < n; i += batch {
		var q strings.Builder
		q.WriteString("INSERT INTO users (openid, unionid, nickname, avatar_url, phone_sealed, phone_index, session_key_sealed, created_at, updated_at) VALUES ")
		var args []any
		for j := i; j < min(i+batch, n); j++ {
			if j > i {
				q.WriteString(",")
			}
			q.WriteString("(?, '', '', '', '', '', '', ?, ?)")
			args = append(args, fmt.Sprintf("oBenchParent%012d", j), now, now)
		}
		if _, err := db.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("users: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO notify_consents (app, openid, template_id, remaining, long_term, updated_at) "+
		"SELECT 'mp', openid, ?, 1, ?, ? FROM users", mpTpl, false, now); err != nil {
		return fmt.Errorf("consents: %w", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO course_subscriptions (course_id, user_id, created_at) SELECT ?, id, ? FROM users",
		courseID, now); err != nil {
		return fmt.Errorf("subscriptions: %w", err)
	}
	return nil
}

// client calls the service's API.
type client struct {
	base  string
	token string
	http  *http.Client
}

func (c *client) do(ctx context.Context, method, path, body string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s = %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *client) waitReady(ctx context.Context, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := c.do(ctx, "GET", "/readyz", "", 200, nil); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the service exited before ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("the service was not ready within 30 s")
}

// runBin runs the binary with args to completion.
func runBin(ctx context.Context, bin string, env []string, stdin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("wanjia %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomKey(enc *base64.Encoding) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return enc.EncodeToString(b)
}

// procStatus reads a "kB" field of /proc/PID/status, in MiB.
func procStatus(pid int, field string) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, rest, ok := strings.Cut(s.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0, err
		}
		return kb / 1024, nil
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// procCPU is the user+system time of process pid (/proc/PID/stat; the
// kernel's clock ticks are 100 a second on Linux).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad /proc stat")
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
