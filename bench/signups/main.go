// Command signups measures a job-fair signup burst: N signups from N
// distinct users (default 20,000) for a fair with SEATS seats (default
// 1,000, spread over positions), fired by W concurrent workers through
// fairs.Service.SignUp (validation, the fair read, sealing the phone, the
// store's transaction with its conditional seat UPDATEs) on a fresh
// database: MySQL by default (a throw-away database created next to the
// one -dsn names, dropped at the end), or SQLite. It reports signups/s and
// latencies, then checks that nothing was oversold: exactly SEATS
// confirmed, the rest waitlisted with distinct places 1..N-SEATS, and the
// seat counters equal to the confirmed rows. The HTTP layer is not part of
// the measurement. The waitlist counters live in an embedded Redis by
// default (-redis). See bench/README.md.
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
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"wanjia/bench/benchdb"
	"wanjia/cache"
	"wanjia/model"
	"wanjia/service/fairs"
	"wanjia/service/protect"
	"wanjia/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "signups:", err)
		os.Exit(1)
	}
}

type options struct {
	driver    string
	dsn       string
	n         int
	seats     int
	positions int
	workers   int
	target    float64
	cpuprof   string
	redis     string
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("signups", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.driver, "driver", "mysql", "mysql or sqlite")
	fs.StringVar(&o.dsn, "dsn", "root@tcp(127.0.0.1:3306)/test?interpolateParams=true", "MySQL DSN of an existing database; a throw-away one is created beside it")
	fs.IntVar(&o.n, "n", 20000, "signups (distinct users)")
	fs.IntVar(&o.seats, "seats", 1000, "seats of the fair (and in total of its positions)")
	fs.IntVar(&o.positions, "positions", 10, "positions sharing the seats")
	fs.IntVar(&o.workers, "workers", 8, "concurrent signups in flight (and the pool size)")
	fs.Float64Var(&o.target, "target", 2000, "signups/s to reach")
	fs.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile of the burst to this file")
	fs.StringVar(&o.redis, "redis", "embedded", "where the waitlist counters live: embedded (miniredis), a redis:// URL, or none (count the line)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.driver != "mysql" && o.driver != "sqlite":
		return o, fmt.Errorf("-driver: %q is not mysql or sqlite", o.driver)
	case o.n < 1 || o.seats < 1 || o.positions < 1 || o.workers < 1 || o.seats%o.positions != 0:
		return o, errors.New("-n, -seats, -positions and -workers must be positive, -seats a multiple of -positions")
	}
	return o, nil
}

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, model.Recipient, model.Notice) error { return nil }

type nopAudit struct{}

func (nopAudit) Audit(context.Context, string, string, string, any, any) error { return nil }

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
	st := store.NewFairs(db)
	switch o.redis {
	case "none":
	case "embedded":
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return err
		}
		defer mr.Close()
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		defer rdb.Close()
		st.WithLine(cache.NewLines(rdb, 0))
	default:
		ro, err := redis.ParseURL(o.redis)
		if err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
		rdb := redis.NewClient(ro)
		defer rdb.Close()
		st.WithLine(cache.NewLines(rdb, 0))
	}
	now := time.Now()
	svc, err := fairs.New(fairs.Deps{Store: st, Notifier: nopNotifier{}, Audit: nopAudit{}, Keys: keys, Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	staff := model.WithPrincipal(ctx, model.Principal{Kind: model.SessionStaff, SubjectID: 1, Roles: []model.Role{model.RoleFairManager}})
	f, err := svc.CreateFair(staff, fairs.FairInput{Title: "压测招聘会", Mode: model.FairOnline, StartsAt: now.Add(48 * time.Hour),
		EndsAt: now.Add(54 * time.Hour), Capacity: o.seats, SignupOpensAt: now.Add(-time.Hour)})
	if err != nil {
		return err
	}
	var posIDs []int64
	for i := range o.positions {
		p, err := svc.AddPosition(staff, f.ID, fairs.PositionInput{Employer: fmt.Sprintf("单位%d", i+1), Title: "岗位", Seats: o.seats / o.positions})
		if err != nil {
			return err
		}
		posIDs = append(posIDs, p.ID)
	}
	fmt.Fprintf(out, "%s (line counters: %s): %d signups from distinct users, %d workers, fair of %d seats over %d positions\n",
		o.driver, o.redis, o.n, o.workers, o.seats, o.positions)

	results := make([]model.Signup, o.n)
	lat := make([]time.Duration, o.n)
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	if o.cpuprof != "" {
		pf, err := os.Create(o.cpuprof)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
	}
	start := time.Now()
	for range o.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= o.n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				s, err := svc.SignUp(ctx, int64(i+1), f.ID, fairs.SignupInput{PositionID: posIDs[i%len(posIDs)], Name: "王芳", Phone: "13812345678"})
				lat[i] = time.Since(t0)
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				results[i] = s
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if o.cpuprof != "" {
		pprof.StopCPUProfile()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rate := float64(o.n) / elapsed.Seconds()
	slices.Sort(lat)
	fmt.Fprintf(out, "elapsed %.2fs  %.0f signups/s  latency p50 %s  p99 %s  max %s  errors %d\n", elapsed.Seconds(), rate,
		lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond), failed.Load())
	if firstErr != nil {
		return fmt.Errorf("first error: %w", firstErr)
	}
	final, err := st.FairByID(ctx, f.ID)
	if err != nil {
		return err
	}
	all, err := st.SignupsByFair(ctx, f.ID) // places in line as read after the burst
	if err != nil {
		return err
	}
	if err := verify(results, all, final, o.seats); err != nil {
		return fmt.Errorf("OVERSOLD OR INCONSISTENT: %w", err)
	}
	fmt.Fprintf(out, "never oversold: %d confirmed, %d waitlisted with distinct places, seat counters %d/%d\n",
		min(o.seats, o.n), max(o.n-o.seats, 0), final.SeatsTaken, final.Capacity)
	verdict := "met"
	if rate < o.target {
		verdict = "MISSED"
	}
	fmt.Fprintf(out, "target: %.0f signups/s: %s\n", o.target, verdict)
	return nil
}

// verify checks the burst's outcome: exactly min(seats, n) confirmed
// answers, no position or the fair over its seats, and the signups as
// stored: as many, the rest waitlisted with the distinct places
// 1..n-seats.
func verify(results, stored []model.Signup, f model.Fair, seats int) error {
	confirmed := 0
	for _, s := range results {
		switch s.Status {
		case model.SignupConfirmed:
			confirmed++
		case model.SignupWaitlisted:
		default:
			return fmt.Errorf("signup %d: status %q", s.ID, s.Status)
		}
	}
	if len(stored) != len(results) {
		return fmt.Errorf("%d signups stored, want %d", len(stored), len(results))
	}
	places := map[int]bool{}
	for _, s := range stored {
		if s.Status == model.SignupWaitlisted {
			if s.WaitlistPosition < 1 || places[s.WaitlistPosition] {
				return fmt.Errorf("signup %d: waitlist place %d repeated or invalid", s.ID, s.WaitlistPosition)
			}
			places[s.WaitlistPosition] = true
		}
	}
	want := min(seats, len(results))
	if confirmed != want || f.SeatsTaken != want || f.SeatsTaken > f.Capacity {
		return fmt.Errorf("confirmed %d, fair seats taken %d of %d, want %d", confirmed, f.SeatsTaken, f.Capacity, want)
	}
	taken := 0
	for _, p := range f.Positions {
		if p.SeatsTaken > p.Seats {
			return fmt.Errorf("position %d: %d of %d seats taken", p.ID, p.SeatsTaken, p.Seats)
		}
		taken += p.SeatsTaken
	}
	if taken != want {
		return fmt.Errorf("positions' seats taken %d, want %d", taken, want)
	}
	if len(places) != len(results)-want {
		return fmt.Errorf("%d waitlist places, want %d", len(places), len(results)-want)
	}
	return nil
}
