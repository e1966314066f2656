package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func mustWanjia(tb testing.TB) *wanjiaServer {
	tb.Helper()
	addr := os.Getenv("BENCH_REDIS_ADDR") // a real Redis (it is flushed), else an in-process miniredis
	if addr == "" {
		addr = miniredis.RunT(tb).Addr()
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rdb.Close() })
	w, err := newWanjia(context.Background(), rdb, tb.TempDir())
	if err != nil {
		tb.Fatalf("newWanjia() = %v", err)
	}
	w.rdb = rdb
	tb.Cleanup(w.close)
	return w
}

// cpuMeter reports CPU time per op: this process's (getrusage, so the
// message log's background writer counts) and, with BENCH_REDIS_ADDR,
// redis-server's (INFO cpu), which a busy machine skews less than ns/op.
type cpuMeter struct {
	self, redis time.Duration
	rdb         *redis.Client
}

func startCPU(tb testing.TB, h http.Handler) *cpuMeter {
	tb.Helper()
	m := &cpuMeter{self: processCPU(tb)}
	if w, ok := h.(*wanjiaServer); ok && os.Getenv("BENCH_REDIS_ADDR") != "" {
		m.rdb = w.rdb
		m.redis = redisCPU(tb, m.rdb)
	}
	return m
}

// stop flushes wanjia's message log (its writes belong to the requests)
// and reports cpu-µs/op and redis-cpu-µs/op.
func (m *cpuMeter) stop(b *testing.B, h http.Handler) {
	b.Helper()
	if w, ok := h.(*wanjiaServer); ok {
		if err := w.log.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU(b)-m.self).Microseconds())/float64(b.N), "cpu-µs/op")
	if m.rdb != nil {
		b.ReportMetric(float64((redisCPU(b, m.rdb)-m.redis).Microseconds())/float64(b.N), "redis-cpu-µs/op")
	}
}

func processCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is redis-server's user+system CPU time so far.
func redisCPU(tb testing.TB, rdb *redis.Client) time.Duration {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatalf("INFO cpu: %v", err)
	}
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("INFO cpu %s: %v", k, err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

func post(h http.Handler, r callbackRequest) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, r.Target, bytes.NewReader(r.Body))
	req.Header.Set("Content-Type", "text/xml")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestBothServersReply checks the servers of the benchmark (the floor
// too) give the same passive reply to the same request.
func TestBothServersReply(t *testing.T) {
	fl, err := newFloor()
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]http.Handler{"silenceper": newSilenceper(true, io.Discard), "silenceper-quiet": newSilenceper(false, nil),
		"wanjia": mustWanjia(t), "floor": fl}
	for name, h := range servers {
		for i := range int64(5) {
			r, err := newRequest(i, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			w := post(h, r)
			if w.Code != 200 {
				t.Fatalf("%s: POST = %d %s", name, w.Code, w.Body)
			}
			if err := checkReply(w.Body.Bytes()); err != nil {
				t.Errorf("%s: reply %s: %v", name, w.Body, err)
			}
		}
	}
	// The floor refuses what wanjia refuses: a forged signature.
	r, err := newRequest(9, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.Target = strings.Replace(r.Target, "msg_signature=", "msg_signature=0", 1)
	if w := post(fl, r); w.Code == 200 {
		t.Errorf("floor: forged msg_signature = %d, want a refusal", w.Code)
	}
}

// BenchmarkCallback: one safe-mode text message with a unique MsgId per
// iteration, through each server's handler in-process (no network). wanjia
// talks to an in-process miniredis (whose cost is counted here too) and
// writes the message log to SQLite in the background.
func BenchmarkCallback(b *testing.B) {
	run := func(b *testing.B, h http.Handler) {
		reqs := make([]callbackRequest, b.N)
		for i := range reqs {
			r, err := newRequest(int64(i), time.Now())
			if err != nil {
				b.Fatal(err)
			}
			reqs[i] = r
		}
		b.ReportAllocs()
		b.ResetTimer()
		cpu := startCPU(b, h)
		for i := range b.N {
			if w := post(h, reqs[i]); w.Code != 200 {
				b.Fatalf("POST = %d %s", w.Code, w.Body)
			}
		}
		cpu.stop(b, h)
	}
	b.Run("silenceper", func(b *testing.B) { run(b, newSilenceper(true, io.Discard)) })
	b.Run("silenceper-quiet", func(b *testing.B) { run(b, newSilenceper(false, nil)) })
	b.Run("wanjia", func(b *testing.B) { run(b, mustWanjia(b)) })
}

// BenchmarkCallbackParallel is BenchmarkCallback with 16×GOMAXPROCS
// goroutines sending at once.
func BenchmarkCallbackParallel(b *testing.B) {
	run := func(b *testing.B, h http.Handler) {
		reqs := make([]callbackRequest, b.N)
		for i := range reqs {
			r, err := newRequest(int64(i), time.Now())
			if err != nil {
				b.Fatal(err)
			}
			reqs[i] = r
		}
		var next atomicCounter
		b.SetParallelism(16) // about as many requests in flight as wrk's 32 connections
		b.ReportAllocs()
		b.ResetTimer()
		cpu := startCPU(b, h)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if w := post(h, reqs[next.add()]); w.Code != 200 {
					b.Errorf("POST = %d %s", w.Code, w.Body)
					return
				}
			}
		})
		cpu.stop(b, h)
	}
	b.Run("silenceper", func(b *testing.B) { run(b, newSilenceper(true, io.Discard)) })
	b.Run("silenceper-quiet", func(b *testing.B) { run(b, newSilenceper(false, nil)) })
	b.Run("wanjia", func(b *testing.B) { run(b, mustWanjia(b)) })
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) add() int64 { return c.n.Add(1) - 1 }
