//go:build unix

package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"wanjia/model"
	"wanjia/service/campaigns"
	"wanjia/store/storetest"
)

// Both report cpu-sec/op, the process's CPU time per request (the
// in-process Redis client included, redis-server not): on a busy machine
// sec/op moves with the other work, cpu-sec/op much less.

// BenchmarkVoteHTTP is POST /api/mp/nominations/:id/votes through the
// whole stack in process (rate limiter, session, the vote's fast path,
// group commit to SQLite in a temp dir), each request a new voter/family
// pair the rules accept. Redis is miniredis in process, or the Redis at
// BENCH_REDIS_ADDR (its DB 0 is flushed). BENCH_VOTE_DB=mysql (or
// postgres) writes the ledger to a throw-away database on the test DSN
// instead, with BENCH_VOTE_WRITERS vote writers (default 1). For profiles:
//
//	BENCH_REDIS_ADDR=127.0.0.1:6379 go test -run '^$' -bench VoteHTTP -cpuprofile cpu.out ./api
func BenchmarkVoteHTTP(b *testing.B) {
	e, tokens, noms := mustVoteBench(b, 2000, 50)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	cpu0 := mustCPUTime(b)
	defer func() {
		b.ReportMetric((mustCPUTime(b)-cpu0).Seconds()/float64(b.N), "cpu-sec/op")
		b.ReportMetric(meanBatch(b, e.metrics), "votes/batch")
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g := int(next.Add(1)) - 1
			v, slot := g%len(tokens), (g/len(tokens))%50
			req := httptest.NewRequest("POST", fmt.Sprintf("/api/mp/nominations/%d/votes", noms[(slot+v)%len(noms)]), nil)
			req.Header.Set("Authorization", "Bearer "+tokens[v])
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("vote = %d %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkGalleryHTTP is GET /api/mp/campaigns/:id/nominations served from
// the copy's cache, through the whole stack in process.
func BenchmarkGalleryHTTP(b *testing.B) {
	e, tokens, _ := mustVoteBench(b, 100, 50)
	path := fmt.Sprintf("/api/mp/campaigns/%d/nominations?sort=votes&limit=20", e.campaignID)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := mustCPUTime(b)
	defer func() { b.ReportMetric((mustCPUTime(b)-cpu0).Seconds()/float64(b.N), "cpu-sec/op") }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", path, nil)
			req.Header.Set("Authorization", "Bearer "+tokens[int(next.Add(1))%len(tokens)])
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("gallery = %d %s", w.Code, w.Body)
			}
		}
	})
}

type voteBench struct {
	*campEnv
	campaignID int64
}

func mustVoteBench(b *testing.B, voters, nominations int) (*voteBench, []string, []int64) {
	b.Helper()
	var rc redis.UniversalClient
	if addr := os.Getenv("BENCH_REDIS_ADDR"); addr != "" {
		rc = redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
		if err := rc.FlushDB(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
	} else {
		m := miniredis.RunT(b)
		rc = redis.NewClient(&redis.Options{Addr: m.Addr()})
	}
	b.Cleanup(func() { rc.Close() })
	d := storetest.Dialects()[0]
	if name := os.Getenv("BENCH_VOTE_DB"); name != "" {
		i := slices.IndexFunc(storetest.Dialects(), func(d storetest.Dialect) bool { return d.Name == name })
		if i < 0 {
			b.Fatalf("BENCH_VOTE_DB=%s: no such dialect, or its test DSN is not set", name)
		}
		d = storetest.Dialects()[i]
	}
	writers, _ := strconv.Atoi(os.Getenv("BENCH_VOTE_WRITERS"))
	e := &voteBench{campEnv: mustCampaignsAPIWith(b, d.Open(b), rc, jsonLogger(), campaigns.Options{CommitWriters: writers})}
	e.clock.Set(t0c.Add(time.Hour))
	e.mustStaff(b, "benchreviewer", false, model.RoleReviewer)
	rev := e.mustLogin(b, "benchreviewer").Token
	at := func(d time.Duration) string { return t0c.Add(d).Format(time.RFC3339) }
	c := mustJSON[struct {
		ID int64 `json:"id"`
	}](b, wantStatus(b, e.accountsEnv, "POST", "/api/admin/campaigns", `{"title":"bench","nominate_from":"`+at(0)+`","nominate_to":"`+
		at(1000*time.Hour)+`","vote_from":"`+at(0)+`","vote_to":"`+at(1000*time.Hour)+`","votes_per_day":50}`, rev, http.StatusCreated, ""))
	e.campaignID = c.ID
	var noms []int64
	for i := 0; len(noms) < nominations; i++ {
		tok, uid := notifyMPLogin(b, e.h, fmt.Sprintf("nominator%d", i))
		for j := 0; j < 3 && len(noms) < nominations; j++ {
			photos := e.mustPhotos(b, uid, 1)
			n := mustJSON[struct {
				ID int64 `json:"id"`
			}](b, wantStatus(b, e.accountsEnv, "POST", fmt.Sprintf("/api/mp/campaigns/%d/nominations", c.ID),
				`{"category":"best_mother","family_name":"第`+fmt.Sprint(len(noms))+`户","story":"三代同堂，孝老爱亲，邻里和睦。","photo_ids":`+photos+`,"consent":true}`,
				tok, http.StatusCreated, ""))
			noms = append(noms, n.ID)
		}
	}
	e.passChecks(b)
	for _, id := range noms {
		wantStatus(b, e.accountsEnv, "POST", fmt.Sprintf("/api/admin/nominations/%d/review", id), `{"decision":"approve"}`, rev, http.StatusOK, "")
	}
	tokens := make([]string, voters)
	for i := range tokens {
		tokens[i], _ = notifyMPLogin(b, e.h, fmt.Sprintf("voter%d", i))
	}
	return e, tokens, noms
}

// meanBatch is the mean size of the group commit's batches so far.
func meanBatch(tb testing.TB, reg *prometheus.Registry) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "wanjia_campaign_vote_batch_size" && len(mf.GetMetric()) == 1 {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() > 0 {
				return h.GetSampleSum() / float64(h.GetSampleCount())
			}
		}
	}
	return 0
}
