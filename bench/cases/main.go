// Command cases measures the 12338 case service on a fresh database:
// intake (validation, sealing four fields, the case row and its first
// chained event), handling (assign, two transitions: each a row-locked
// chained append), staff reads of one case (opening every sealed field and
// event, and the access-log write), appends racing on one hot case (the
// per-case lock), and the whole-log jobs: the SLA sweep, chain
// verification of every case and the figures of the period, all through
// cases.Service as the API calls it. The HTTP layer is not part of the
// measurement; notices go to a no-op notifier. It reports operations/s,
// latencies and the CPU time of this process per operation (with SQLite
// that includes the database; with MySQL or PostgreSQL the server's CPU is
// not counted), then checks every chain. See bench/README.md.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"wanjia/bench/benchdb"
	"wanjia/model"
	"wanjia/service/cases"
	"wanjia/service/protect"
	"wanjia/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cases:", err)
		os.Exit(1)
	}
}

type options struct {
	driver  string
	dsn     string
	n       int
	hot     int
	reads   int
	workers int
}

var defaultDSN = map[string]string{
	"mysql":    "root@tcp(127.0.0.1:3306)/test?interpolateParams=true",
	"postgres": "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("cases", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.driver, "driver", "sqlite", "sqlite, mysql or postgres")
	fs.StringVar(&o.dsn, "dsn", "", "DSN of an existing MySQL database or PostgreSQL database; a throw-away database (schema) is made beside it")
	fs.IntVar(&o.n, "n", 2000, "cases taken in (half are closed, half stay open for the sweep)")
	fs.IntVar(&o.hot, "hot", 500, "notes appended concurrently to one case")
	fs.IntVar(&o.reads, "reads", 1000, "staff reads of a case (logged)")
	fs.IntVar(&o.workers, "workers", 8, "operations in flight (and the pool size)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.driver != "sqlite" && o.driver != "mysql" && o.driver != "postgres":
		return o, fmt.Errorf("-driver: %q is not sqlite, mysql or postgres", o.driver)
	case o.n < 2 || o.hot < 1 || o.reads < 1 || o.workers < 1:
		return o, errors.New("-n must be at least 2; -hot, -reads and -workers positive")
	}
	if o.dsn == "" {
		o.dsn = defaultDSN[o.driver]
	}
	return o, nil
}

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, model.Recipient, model.Notice) error { return nil }

type nopAudit struct{}

func (nopAudit) Audit(context.Context, string, string, string, any, any) error { return nil }

// clock is the service's injected time, moved by the bench.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time  { return time.Unix(0, c.t.Load()) }
func (c *clock) set(t time.Time) { c.t.Store(t.UnixNano()) }

// cpu returns the user+system CPU time of this process.
func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// result is one measured phase.
type result struct {
	name    string
	ops     int
	elapsed time.Duration
	cpu     time.Duration
	lat     []time.Duration
}

func (r result) String() string {
	slices.Sort(r.lat)
	p := func(q int) time.Duration { return r.lat[min(len(r.lat)*q/100, len(r.lat)-1)].Round(time.Microsecond) }
	return fmt.Sprintf("%-22s %7d ops  %7.2fs  %8.0f ops/s  p50 %9s  p99 %9s  cpu %8s/op", r.name, r.ops, r.elapsed.Seconds(),
		float64(r.ops)/r.elapsed.Seconds(), p(50), p(99), (r.cpu / time.Duration(r.ops)).Round(time.Microsecond))
}

// phase runs fn(i) for i in [0, n) on workers goroutines.
func phase(ctx context.Context, name string, n, workers int, fn func(i int) error) (result, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	c0, start := cpu(), time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("%s #%d: %w", name, i, err) })
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	r := result{name: name, ops: n, elapsed: time.Since(start), cpu: cpu() - c0, lat: lat}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return r, firstErr
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parse(args, out)
	if err != nil {
		return err
	}
	db, cleanup, err := benchdb.Open(ctx, o.driver, o.dsn, o.workers)
	if err != nil {
		return err
	}
	defer cleanup()
	keys, err := protect.NewKeyring(bytes.Repeat([]byte{9}, protect.KeySize))
	if err != nil {
		return err
	}
	staff := store.NewStaff(db)
	admin, err := staff.CreateStaff(ctx, model.Staff{Username: "bench", DisplayName: "bench", PasswordHash: "x", Roles: []model.Role{model.RoleAdmin}})
	if err != nil {
		return err
	}
	clk := &clock{}
	t0 := time.Date(2026, 3, 9, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	clk.set(t0)
	cs := store.NewCases(db)
	svc, err := cases.New(cases.Deps{Store: cs, Notifier: nopNotifier{}, Audit: nopAudit{}, Keys: keys, Staff: staff, Now: clk.now,
		Options: cases.Options{IntakePerDay: 1 << 30}})
	if err != nil {
		return err
	}
	actx := model.WithPrincipal(ctx, model.Principal{Kind: model.SessionStaff, SubjectID: admin.ID, Username: "bench",
		Roles: []model.Role{model.RoleAdmin}})
	var stations []model.Station
	for i, d := range []string{"朝阳区", "海淀区", "东城区", "西城区"} {
		name, kind, ds := fmt.Sprintf("服务站%d", i+1), "law_firm", []string{d}
		st, err := svc.CreateStation(actx, cases.StationInput{Name: &name, Kind: &kind, Districts: &ds})
		if err != nil {
			return err
		}
		stations = append(stations, st)
	}
	fmt.Fprintf(out, "%s: %d cases, %d workers, load average %s\n", o.driver, o.n, o.workers, loadavg())

	nos := make([]string, o.n)
	cats := model.CaseCategories()
	var results []result
	add := func(r result, err error) error {
		results = append(results, r)
		fmt.Fprintln(out, r)
		return err
	}
	if err := add(phase(ctx, "intake", o.n, o.workers, func(i int) error {
		res, err := svc.SubmitMP(ctx, int64(i+1), cases.IntakeInput{Category: cats[i%len(cats)],
			Description: "丈夫长期对我实施家庭暴力，昨晚又动手，我想了解如何申请人身安全保护令。", Name: "王芳", Phone: "13812345678",
			District: stations[i%len(stations)].Districts[0], Danger: i%10 == 0,
			Contact: &model.ContactPrefs{Mode: model.ContactWindow, From: "19:00", To: "21:00"}})
		nos[i] = res.Case.CaseNo
		return err
	})); err != nil {
		return err
	}
	clk.set(t0.Add(2 * time.Hour))
	if err := add(phase(ctx, "assign+2 transitions", o.n, o.workers, func(i int) error {
		if _, err := svc.Assign(actx, nos[i], stations[i%len(stations)].ID, "按辖区分派"); err != nil {
			return err
		}
		if _, err := svc.Transition(actx, nos[i], cases.TransitionInput{To: model.CaseInProgress, Note: "已联系当事人"}); err != nil {
			return err
		}
		if i%2 == 1 {
			return nil // stays open for the sweep
		}
		_, err := svc.Transition(actx, nos[i], cases.TransitionInput{To: model.CaseClosed, Outcome: model.OutcomeLegalAid,
			Note: "转法律援助", PublicMessage: "您的案件已办结"})
		return err
	})); err != nil {
		return err
	}
	if err := add(phase(ctx, "staff read (logged)", o.reads, o.workers, func(i int) error {
		_, err := svc.Detail(actx, nos[i%o.n])
		return err
	})); err != nil {
		return err
	}
	hot := nos[1]
	if err := add(phase(ctx, "append, one hot case", o.hot, o.workers, func(i int) error {
		_, err := svc.AddNote(actx, hot, fmt.Sprintf("第%d条内部记录", i))
		return err
	})); err != nil {
		return err
	}
	clk.set(t0.AddDate(0, 0, 40)) // every open case is overdue
	if err := add(phase(ctx, "sla sweep (breaches)", 1, 1, func(int) error {
		res, err := svc.Sweep(ctx)
		if err == nil && res.Breached != o.n/2 {
			err = fmt.Errorf("breached %d, want %d", res.Breached, o.n/2)
		}
		return err
	})); err != nil {
		return err
	}
	if err := add(phase(ctx, "sla sweep (nothing due)", 1, 1, func(int) error {
		res, err := svc.Sweep(ctx)
		if err == nil && res != (cases.SweepResult{}) {
			err = fmt.Errorf("second sweep did %+v", res)
		}
		return err
	})); err != nil {
		return err
	}
	if err := add(phase(ctx, "figures of the period", 3, 1, func(int) error {
		sec, err := svc.FigureSection(ctx, t0.Add(-time.Hour), t0.AddDate(0, 1, 0))
		if err == nil {
			if f, _ := sec.Get(model.FigCasesReceived); int(f.Value) != o.n {
				err = fmt.Errorf("received %v, want %d", f.Value, o.n)
			}
		}
		return err
	})); err != nil {
		return err
	}
	var all cases.VerifyAllResult
	if err := add(phase(ctx, "verify every chain", 1, 1, func(int) error {
		var err error
		all, err = svc.VerifyAll(actx)
		return err
	})); err != nil {
		return err
	}
	if len(all.Problems) > 0 || all.Cases != o.n {
		return fmt.Errorf("CHAIN BROKEN: %d cases checked, problems %+v", all.Cases, all.Problems)
	}
	fmt.Fprintf(out, "every chain verifies: %d cases, %d events (%.0f events/s verified)\n", all.Cases, all.Events,
		float64(all.Events)/results[len(results)-1].elapsed.Seconds())
	fmt.Fprintf(out, "load average at the end %s\n", loadavg())
	return nil
}
