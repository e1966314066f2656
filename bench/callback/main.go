// Command callback is the callback benchmark of bench/callback.sh: safe-mode
// text messages with an auto-reply, against wanjia's callback route (nonce
// guard and dedupe in Redis, the message log in SQLite) and against a
// minimal silenceper/wechat server behind gin.
//
//	callback serve -server wanjia|silenceper|silenceper-quiet [-addr 127.0.0.1:0] [-redis URL] [-cpuprofile FILE]
//	callback gen -n N -out FILE          signed, encrypted requests with unique MsgIds, one per line, for wrk
//	callback load -url URL -rate R -duration D
//	                                     fixed-rate load (open loop) with a latency histogram
//
// Everything listens on and talks to loopback only.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "callback:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: callback serve|gen|load [flags]")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "gen":
		return gen(args[1:], stderr)
	case "load":
		return load(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// serve runs one server until ctx ends; it prints "listening on
// http://ADDR" once it accepts connections.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	which := fs.String("server", "wanjia", "wanjia, silenceper (as its README sets it up: logrus at Debug on stdout), silenceper-quiet or floor (the protocol alone behind gin)")
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	redisURL := fs.String("redis", "", "Redis URL for wanjia (required for wanjia)")
	dir := fs.String("dir", os.TempDir(), "folder for wanjia's SQLite file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server's whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var h http.Handler
	switch *which {
	case "silenceper":
		h = newSilenceper(true, stdout)
	case "silenceper-quiet":
		h = newSilenceper(false, nil)
	case "floor":
		f, err := newFloor()
		if err != nil {
			return err
		}
		h = f
	case "wanjia":
		if *redisURL == "" {
			return errors.New("serve wanjia: -redis is required")
		}
		opt, err := redis.ParseURL(*redisURL)
		if err != nil {
			return err
		}
		opt.PoolSize = 64
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		w, err := newWanjia(ctx, rdb, *dir)
		if err != nil {
			return err
		}
		defer w.close()
		h = w
	default:
		return fmt.Errorf("unknown server %q", *which)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second, ErrorLog: log.New(stderr, "callback: ", 0)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }() // returns when Shutdown is called
	fmt.Fprintf(stdout, "%s listening on http://%s\n", *which, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// gen writes n requests, "TARGET<TAB>BODY" per line, for bench/callback/requests.lua.
func gen(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 100000, "number of requests")
	first := fs.Int64("first", 0, "number of the first request (MsgId and nonce offset)")
	out := fs.String("out", "", "output file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	now := time.Now()
	for i := range int64(*n) {
		r, err := newRequest(*first+i, now)
		if err != nil {
			f.Close()
			return err
		}
		w.WriteString(r.Target)
		w.WriteByte('\t')
		w.Write(r.Body)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// load sends requests at a fixed rate for a duration (open loop: a slow
// answer does not delay the next request, and latency counts from the
// scheduled send time, so queueing is not hidden) and prints the latency
// percentiles. Requests are made before the clock starts.
func load(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "", "server base URL (http://127.0.0.1:PORT)")
	rate := fs.Int("rate", 1000, "requests per second")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	first := fs.Int64("first", 0, "number of the first request (MsgId offset)")
	name := fs.String("name", "", "label for the output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !strings.HasPrefix(*base, "http://127.0.0.1:") && !strings.HasPrefix(*base, "http://localhost:") {
		return errors.New("load: -url must be a loopback http URL")
	}
	res, err := fixedRate(ctx, *base, *rate, *duration, *first)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s rate=%d/s sent=%d ok=%d bad=%d achieved=%.0f/s p50=%s p90=%s p99=%s max=%s\n",
		*name, *rate, res.sent, res.ok, res.bad, res.achieved, res.pct(50), res.pct(90), res.pct(99), res.pct(100))
	return nil
}

type loadResult struct {
	sent, ok, bad int
	achieved      float64
	lat           []time.Duration // sorted
}

func (r loadResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.5) - 1
	i = max(0, min(i, len(r.lat)-1))
	return r.lat[i].Round(10 * time.Microsecond)
}

func fixedRate(ctx context.Context, base string, rate int, duration time.Duration, first int64) (loadResult, error) {
	n := int(float64(rate) * duration.Seconds())
	reqs := make([]callbackRequest, n)
	now := time.Now()
	for i := range reqs {
		r, err := newRequest(first+int64(i), now)
		if err != nil {
			return loadResult{}, err
		}
		reqs[i] = r
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second,
	}}
	defer client.CloseIdleConnections()
	lat := make([]time.Duration, n)
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range reqs {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return loadResult{}, ctx.Err()
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+reqs[i].Target, strings.NewReader(string(reqs[i].Body)))
			if err != nil {
				bad.Add(1)
				return
			}
			req.Header.Set("Content-Type", "text/xml")
			resp, err := client.Do(req)
			if err != nil {
				lat[i] = time.Since(due)
				bad.Add(1)
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			lat[i] = time.Since(due)
			if err != nil || resp.StatusCode != http.StatusOK || (i%100 == 0 && checkReply(body) != nil) {
				bad.Add(1)
				return
			}
			ok.Add(1)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return loadResult{sent: n, ok: int(ok.Load()), bad: int(bad.Load()), achieved: float64(n) / elapsed.Seconds(), lat: lat}, nil
}
