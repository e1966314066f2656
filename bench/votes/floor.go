package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/store"
)

// floor serves the least any vote endpoint that keeps issue 4's durable
// ledger must do, for bench/votes.sh to measure beside wanjia: a bare gin
// route that reads the nomination from the path and the voter from an
// in-memory token map (no session store, no Redis, no rate limits, no
// window or status checks, no access log), keeps each voter's used day
// slots in memory (an exact, free vote check), and writes each vote to
// the same ledger through the same group commit and store.RecordVotes
// wanjia uses (one writer, batches of whatever is queued, up to 512) before
// answering. Votes go to a day of their own (today + 1000 days), so the
// floor never competes with the votes the real runs cast.
//
// Any server that also checks sessions, windows and limits across copies
// (through Redis) costs more than this one: wanjia's share of a bare gin
// route's throughput can be no more than the floor's.
func floor(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("votes floor", flag.ContinueOnError)
	fs.SetOutput(out)
	dir := fs.String("dir", "", "folder of votes setup's files")
	driver := fs.String("driver", "sqlite", "database driver")
	dsn := fs.String("dsn", "", "database DSN (SQLite: the file)")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *dsn == "" {
		return errors.New("-dir and -dsn are required")
	}
	tokens, err := readLines(filepath.Join(*dir, "tokens"))
	if err != nil {
		return err
	}
	voterIDs, err := readIDs(filepath.Join(*dir, "voters"))
	if err != nil {
		return err
	}
	campIDs, err := readIDs(filepath.Join(*dir, "campaign"))
	if err != nil || len(campIDs) != 1 || len(tokens) != len(voterIDs) {
		return fmt.Errorf("floor: %s holds no campaign or mismatched tokens and voters (%v)", *dir, err)
	}
	nomIDs, err := readIDs(filepath.Join(*dir, "nominations"))
	if err != nil {
		return err
	}
	db, closeDB, err := store.Open(ctx, store.Options{Driver: *driver, DSN: *dsn, MaxOpenConns: 8, MaxIdleConns: 8})
	if err != nil {
		return err
	}
	defer closeDB()
	cs := store.NewCampaigns(db)
	camp, err := cs.Campaign(ctx, campIDs[0])
	if err != nil {
		return err
	}
	category := make(map[int64]string, len(nomIDs))
	for _, id := range nomIDs {
		n, err := cs.Nomination(ctx, id)
		if err != nil {
			return err
		}
		category[id] = n.Category
	}
	voter := make(map[string]int64, len(tokens))
	for i, t := range tokens {
		voter["Bearer "+t] = voterIDs[i]
	}
	day := dayOf(time.Now().AddDate(0, 0, 1000))

	f := &floorServer{in: make(chan *floorVote, 4096), used: map[int64]uint64{}}
	go f.write(ctx, cs)

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/api/mp/nominations/:id/votes", func(c *gin.Context) {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		cat, ok := category[id]
		vid, known := voter[c.GetHeader("Authorization")]
		switch {
		case err != nil || !ok:
			c.JSON(http.StatusNotFound, gin.H{"error": gin.H{"code": "not_found", "message": "未找到"}})
			return
		case !known:
			c.JSON(http.StatusUnauthorized, gin.H{"error": gin.H{"code": "unauthorized", "message": "请先登录"}})
			return
		}
		f.mu.Lock()
		used := f.used[vid]
		f.mu.Unlock()
		v := &floorVote{att: model.VoteAttempt{CampaignID: camp.ID, NominationID: id, Category: cat, VoterID: vid, Day: day,
			Limit: camp.VotesPerDay, NLimit: camp.PerNominationDaily, UsedSlots: used, At: time.Now()},
			done: make(chan model.VoteOutcome, 1)}
		f.in <- v
		o := <-v.done
		switch {
		case o.Err != nil:
			c.JSON(http.StatusInternalServerError, gin.H{"error": gin.H{"code": "internal", "message": "服务暂不可用"}})
		case !o.Accepted:
			c.JSON(http.StatusTooManyRequests, gin.H{"error": gin.H{"code": "vote_limit", "message": "今日票数已用完"}})
		default:
			c.JSON(http.StatusOK, gin.H{"votes": o.Votes})
		}
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "floor listening on http://%s\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

type floorVote struct {
	att  model.VoteAttempt
	done chan model.VoteOutcome
}

type floorServer struct {
	in   chan *floorVote
	mu   sync.Mutex
	used map[int64]uint64 // voter → day slots taken (committed)
}

// write is the one writer: it takes every vote queued (up to 512), writes
// them in one RecordVotes and answers each after the commit.
func (f *floorServer) write(ctx context.Context, cs *store.Campaigns) {
	batch := make([]*floorVote, 0, 512)
	atts := make([]model.VoteAttempt, 0, 512)
	for {
		select {
		case v := <-f.in:
			batch = append(batch[:0], v)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < 512 {
			select {
			case v := <-f.in:
				batch = append(batch, v)
			default:
				break more
			}
		}
		atts = atts[:0]
		for _, v := range batch {
			atts = append(atts, v.att)
		}
		outs := cs.RecordVotes(context.WithoutCancel(ctx), atts)
		f.mu.Lock()
		for i, o := range outs {
			if o.Accepted {
				f.used[atts[i].VoterID] |= 1 << uint(o.Slot-1)
			}
		}
		f.mu.Unlock()
		for i, v := range batch {
			v.done <- outs[i]
		}
	}
}
