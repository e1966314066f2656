// Command votes prepares and checks the 最美家庭 vote benchmark
// (bench/votes.sh) against a running wanjia in sandbox mode:
//
//	votes setup -base URL -staff USER:PASS -dir DIR [-sessions N -nominations M]
//	    creates a campaign whose nominate, review and vote windows are open
//	    now (votes_per_day 50, one vote per nomination a day), M approved
//	    nominations (each with a photo whose media check comes back through
//	    the simulator) and N signed-in Mini Program voters; writes
//	    DIR/campaign (its id), DIR/nominations and DIR/tokens (one per line),
//	    DIR/voters (user ids, in the order of the tokens) for wrk's scripts.
//	votes login -base URL -dir DIR [-sessions N]
//	    signs the same N voters in again (after a Redis flush lost their
//	    sessions) and rewrites DIR/tokens.
//	votes acked -base URL -dir DIR -for D
//	    sends votes from 32 goroutines (each voter for each nomination at
//	    most once, starting where wrk cannot have been: from the end of the
//	    pairs) until D passes or the server stops answering, and appends
//	    every acknowledged vote (200) to DIR/acked as "voter nomination".
//	votes verify -base URL -staff USER:PASS -dir DIR -driver D -dsn DSN [-accepted N]
//	    checks, from the database itself, that every vote in DIR/acked is in
//	    the ledger, that no voter holds more than the campaign's limits,
//	    that every nomination's count equals its valid ledger rows and the
//	    leaderboard the API serves, and (with -accepted) that the ledger
//	    holds at least N valid votes.
//	votes floor -dir DIR -driver D -dsn DSN [-addr HOST:PORT]
//	    serves the vote route as the least a durable vote endpoint must do
//	    (bare gin, voters from DIR's tokens in memory, the ledger through
//	    store.RecordVotes in group commit): the ceiling of wanjia's ratio
//	    (floor.go).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"wanjia/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "votes:", err)
		os.Exit(1)
	}
}

type options struct {
	base, staff, dir string
	sessions, noms   int
	forDur           time.Duration
	driver, dsn      string
	accepted         int64
}

func parse(args []string, out io.Writer) (string, options, error) {
	var o options
	if len(args) == 0 {
		return "", o, errors.New("usage: votes setup|login|acked|verify|floor [flags]")
	}
	cmd := args[0]
	fs := flag.NewFlagSet("votes "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.base, "base", "", "wanjia's base URL, http://127.0.0.1:PORT")
	fs.StringVar(&o.staff, "staff", "", "a reviewer's username:password")
	fs.StringVar(&o.dir, "dir", "", "folder for the files the scripts share")
	fs.IntVar(&o.sessions, "sessions", 6000, "Mini Program voters to sign in")
	fs.IntVar(&o.noms, "nominations", 100, "approved nominations to create")
	fs.DurationVar(&o.forDur, "for", 10*time.Second, "how long acked sends votes")
	fs.StringVar(&o.driver, "driver", "sqlite", "database driver of the server")
	fs.StringVar(&o.dsn, "dsn", "", "database DSN (SQLite: the file)")
	fs.Int64Var(&o.accepted, "accepted", 0, "votes the load generators saw accepted")
	if err := fs.Parse(args[1:]); err != nil {
		return "", o, err
	}
	switch {
	case cmd != "setup" && cmd != "login" && cmd != "acked" && cmd != "verify":
		return "", o, fmt.Errorf("unknown command %q (setup, login, acked, verify)", cmd)
	case o.base == "" || o.dir == "":
		return "", o, errors.New("-base and -dir are required")
	case (cmd == "setup" || cmd == "verify") && !strings.Contains(o.staff, ":"):
		return "", o, errors.New("-staff USER:PASS is required")
	case cmd == "setup" && (o.sessions < 1 || o.noms < 50):
		return "", o, errors.New("-sessions must be positive and -nominations at least 50 (a voter's 50 votes a day go to different families)")
	case cmd == "verify" && o.dsn == "":
		return "", o, errors.New("-dsn is required")
	}
	return cmd, o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "floor" {
		return floor(ctx, args[1:], out)
	}
	cmd, o, err := parse(args, out)
	if err != nil {
		return err
	}
	c := &client{base: strings.TrimRight(o.base, "/"), http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	switch cmd {
	case "setup":
		return setup(ctx, c, o, out)
	case "login":
		tokens, voters, err := signIn(ctx, c, o.sessions)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "login: %d voters signed in again\n", len(tokens))
		return writeVoters(o.dir, tokens, voters)
	case "acked":
		return acked(ctx, c, o, out)
	}
	return verify(ctx, c, o, out)
}

type client struct {
	base string
	http *http.Client
}

// call sends a JSON request and decodes the answer into v (when not nil);
// a status other than want is an error.
func (c *client) call(ctx context.Context, method, path, token string, body any, want int, v any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req, token, want, v)
}

func (c *client) do(req *http.Request, token string, want int, v any) error {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s = %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	if v != nil {
		return json.Unmarshal(b, v)
	}
	return nil
}

func (c *client) staffLogin(ctx context.Context, staff string) (string, error) {
	user, pass, _ := strings.Cut(staff, ":")
	var l struct {
		Token string `json:"token"`
	}
	err := c.call(ctx, "POST", "/api/admin/login", "", map[string]string{"username": user, "password": pass}, 200, &l)
	return l.Token, err
}

type mpLogin struct {
	Token string `json:"token"`
	User  struct {
		ID int64 `json:"id"`
	} `json:"user"`
}

func (c *client) mpLogin(ctx context.Context, name string) (mpLogin, error) {
	var l mpLogin
	err := c.call(ctx, "POST", "/api/mp/login", "", map[string]string{"code": "sim:" + name}, 200, &l)
	return l, err
}

func (c *client) upload(ctx context.Context, token string, img []byte) (int64, error) {
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, err := mw.CreateFormFile("file", "family.png")
	if err != nil {
		return 0, err
	}
	if _, err := fw.Write(img); err != nil {
		return 0, err
	}
	if err := mw.Close(); err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/api/mp/uploads", &form)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var up struct {
		ID int64 `json:"id"`
	}
	err = c.do(req, token, 201, &up)
	return up.ID, err
}

func photo(seed int) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = byte(i*7 + seed)
	}
	var b bytes.Buffer
	err := png.Encode(&b, img)
	return b.Bytes(), err
}

// categories the benchmark's nominations are spread over.
var categories = []string{"best_mother", "green_family", "clean_family", "harmonious_family"}

func setup(ctx context.Context, c *client, o options, out io.Writer) error {
	start := time.Now()
	staff, err := c.staffLogin(ctx, o.staff)
	if err != nil {
		return err
	}
	now := time.Now()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	var camp struct {
		ID int64 `json:"id"`
	}
	err = c.call(ctx, "POST", "/api/admin/campaigns", staff, map[string]any{
		"title": "压测·最美家庭", "nominate_from": at(-time.Hour), "nominate_to": at(6 * time.Hour),
		"vote_from": at(-time.Minute), "vote_to": at(6 * time.Hour), "votes_per_day": 50, "per_nomination_daily": 1,
	}, 201, &camp)
	if err != nil {
		return err
	}
	// Nominations: 3 per nominator (the per-day limit), one photo each.
	var ids []int64
	story := strings.Repeat("三代同堂，孝老爱亲，邻里和睦，热心公益。", 5)
	for i := 0; len(ids) < o.noms; i++ {
		l, err := c.mpLogin(ctx, fmt.Sprintf("nominator%d", i))
		if err != nil {
			return err
		}
		for j := 0; j < 3 && len(ids) < o.noms; j++ {
			img, err := photo(len(ids))
			if err != nil {
				return err
			}
			up, err := c.upload(ctx, l.Token, img)
			if err != nil {
				return err
			}
			var n struct {
				ID int64 `json:"id"`
			}
			err = c.call(ctx, "POST", fmt.Sprintf("/api/mp/campaigns/%d/nominations", camp.ID), l.Token, map[string]any{
				"category": categories[len(ids)%len(categories)], "family_name": fmt.Sprintf("第%d户", len(ids)+1),
				"story": story, "photo_ids": []int64{up}, "consent": true,
			}, 201, &n)
			if err != nil {
				return err
			}
			ids = append(ids, n.ID)
		}
	}
	// Approve each once its media check came back from the simulator.
	pending := map[int64]bool{}
	for _, id := range ids {
		pending[id] = true
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d nominations' photo checks did not come back within 60s", len(pending))
		}
		var q struct {
			Items []struct {
				ID             int64  `json:"id"`
				MachineVerdict string `json:"machine_verdict"`
			} `json:"items"`
			Next string `json:"next_cursor"`
		}
		for cursor := ""; ; cursor = q.Next {
			q.Items, q.Next = nil, ""
			if err := c.call(ctx, "GET", fmt.Sprintf("/api/admin/nominations?status=pending&limit=100&campaign_id=%d&cursor=%s", camp.ID, cursor),
				staff, nil, 200, &q); err != nil {
				return err
			}
			for _, it := range q.Items {
				if it.MachineVerdict != "pass" {
					continue
				}
				if err := c.call(ctx, "POST", fmt.Sprintf("/api/admin/nominations/%d/review", it.ID), staff,
					map[string]string{"decision": "approve"}, 200, nil); err != nil {
					return err
				}
				delete(pending, it.ID)
			}
			if q.Next == "" {
				break
			}
		}
		if len(pending) > 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	tokens, voters, err := signIn(ctx, c, o.sessions)
	if err != nil {
		return err
	}
	nomLines := make([]string, len(ids))
	for i, id := range ids {
		nomLines[i] = strconv.FormatInt(id, 10)
	}
	if err := os.WriteFile(filepath.Join(o.dir, "campaign"), []byte(strconv.FormatInt(camp.ID, 10)+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.dir, "nominations"), []byte(strings.Join(nomLines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	if err := writeVoters(o.dir, tokens, voters); err != nil {
		return err
	}
	fmt.Fprintf(out, "setup: campaign %d, %d approved nominations, %d signed-in voters in %.1fs\n",
		camp.ID, len(ids), len(tokens), time.Since(start).Seconds())
	return nil
}

// signIn signs in the voters voter0..voter{n-1} (sandbox logins) from 16
// goroutines and returns their tokens and user ids.
func signIn(ctx context.Context, c *client, n int) ([]string, []int64, error) {
	tokens := make([]string, n)
	voters := make([]int64, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				l, err := c.mpLogin(ctx, fmt.Sprintf("voter%d", i))
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				tokens[i], voters[i] = l.Token, l.User.ID
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, nil, firstErr
	}
	return tokens, voters, ctx.Err()
}

func writeVoters(dir string, tokens []string, voters []int64) error {
	lines := make([]string, len(voters))
	for i, id := range voters {
		lines[i] = strconv.FormatInt(id, 10)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokens"), []byte(strings.Join(tokens, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "voters"), []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

func readIDs(path string) ([]int64, error) {
	lines, err := readLines(path)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(lines))
	for i, l := range lines {
		if out[i], err = strconv.ParseInt(l, 10, 64); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return out, nil
}

// acked votes from the end of the (voter, nomination) pairs wrk walks from
// the start, so the two never collide.
func acked(ctx context.Context, c *client, o options, out io.Writer) error {
	tokens, err := readLines(filepath.Join(o.dir, "tokens"))
	if err != nil {
		return err
	}
	voters, err := readIDs(filepath.Join(o.dir, "voters"))
	if err != nil {
		return err
	}
	noms, err := readIDs(filepath.Join(o.dir, "nominations"))
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(o.dir, "acked"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	var mu sync.Mutex
	var sent, ok, refused atomic.Int64
	var down atomic.Bool
	end := time.Now().Add(o.forDur)
	var next atomic.Int64
	var wg sync.WaitGroup
	S := len(tokens)
	for range 32 {
		wg.Go(func() {
			for time.Now().Before(end) && !down.Load() && ctx.Err() == nil {
				k := int(next.Add(1)) - 1
				// The last pairs: voter S-1-k%S, the 50th-from-last family slot.
				v := S - 1 - k%S
				slot := 49 - (k/S)%50
				ni := (slot + v) % len(noms)
				req, err := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("%s/api/mp/nominations/%d/votes", c.base, noms[ni]), nil)
				if err != nil {
					return
				}
				req.Header.Set("Authorization", "Bearer "+tokens[v])
				sent.Add(1)
				resp, err := c.http.Do(req)
				if err != nil {
					down.Store(true) // killed: stop, keep what was acknowledged
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					refused.Add(1)
					continue
				}
				ok.Add(1)
				mu.Lock()
				fmt.Fprintf(w, "%d %d\n", voters[v], noms[ni])
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "acked: %d votes sent, %d acknowledged, %d refused, server stopped answering: %v\n",
		sent.Load(), ok.Load(), refused.Load(), down.Load())
	return nil
}

func verify(ctx context.Context, c *client, o options, out io.Writer) error {
	cid, err := readIDs(filepath.Join(o.dir, "campaign"))
	if err != nil || len(cid) != 1 {
		return fmt.Errorf("campaign file: %v", err)
	}
	db, closeDB, err := store.Open(ctx, store.Options{Driver: o.driver, DSN: o.dsn, MaxOpenConns: 4})
	if err != nil {
		return err
	}
	defer closeDB()
	cs := store.NewCampaigns(db)
	camp, err := cs.Campaign(ctx, cid[0])
	if err != nil {
		return err
	}
	day := dayOf(time.Now())
	var problems []string
	// Every acknowledged vote is in the ledger.
	ackLines, err := readLines(filepath.Join(o.dir, "acked"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	byVoter := map[int64]map[int64]int{}
	for _, l := range ackLines {
		var v, n int64
		if _, err := fmt.Sscanf(l, "%d %d", &v, &n); err != nil {
			return fmt.Errorf("acked line %q: %w", l, err)
		}
		if byVoter[v] == nil {
			byVoter[v] = map[int64]int{}
		}
		byVoter[v][n]++
	}
	missing := 0
	for v, want := range byVoter {
		slots, err := cs.VoterDay(ctx, camp.ID, v, day)
		if err != nil {
			return err
		}
		have := map[int64]int{}
		for _, s := range slots {
			have[s.NominationID]++
		}
		for n, k := range want {
			if have[n] < k {
				missing += k - have[n]
			}
		}
	}
	if missing > 0 {
		problems = append(problems, fmt.Sprintf("%d acknowledged votes are not in the ledger", missing))
	}
	// Limits, counts and the leaderboard.
	voters, err := readIDs(filepath.Join(o.dir, "voters"))
	if err != nil {
		return err
	}
	over := 0
	var ledger int64
	for _, v := range voters {
		slots, err := cs.VoterDay(ctx, camp.ID, v, day)
		if err != nil {
			return err
		}
		perNom := map[int64]int{}
		for _, s := range slots {
			perNom[s.NominationID]++
			if perNom[s.NominationID] > camp.PerNominationDaily {
				over++
			}
		}
		if len(slots) > camp.VotesPerDay {
			over++
		}
		ledger += int64(len(slots))
	}
	if over > 0 {
		problems = append(problems, fmt.Sprintf("%d limit breaches in the ledger", over))
	}
	counts, err := cs.VoteCounts(ctx, camp.ID) // the counts kept beside the ledger
	if err != nil {
		return err
	}
	rows := map[int64]int64{} // valid ledger rows per nomination
	for after := int64(0); ; {
		page, err := cs.LedgerPage(ctx, camp.ID, after, 5000)
		if err != nil {
			return err
		}
		for _, r := range page {
			if !r.Voided {
				rows[r.NominationID]++
			}
		}
		if len(page) < 5000 {
			break
		}
		after = page[len(page)-1].ID
	}
	var counted int64
	dbCount := map[int64]int64{}
	for _, x := range counts {
		counted += x.Votes
		dbCount[x.NominationID] = x.Votes
		if rows[x.NominationID] != x.Votes {
			problems = append(problems, fmt.Sprintf("nomination %d: count %d, ledger rows %d", x.NominationID, x.Votes, rows[x.NominationID]))
		}
	}
	staff, err := c.staffLogin(ctx, o.staff)
	if err != nil {
		return err
	}
	var integ struct {
		Totals struct {
			Valid int64 `json:"valid"`
		} `json:"totals"`
	}
	if err := c.call(ctx, "GET", fmt.Sprintf("/api/admin/campaigns/%d/integrity", camp.ID), staff, nil, 200, &integ); err != nil {
		return err
	}
	if integ.Totals.Valid != counted || counted != ledger {
		problems = append(problems, fmt.Sprintf("valid votes: integrity %d, counts %d, voters' ledger rows %d", integ.Totals.Valid, counted, ledger))
	}
	tokens, err := readLines(filepath.Join(o.dir, "tokens"))
	if err != nil {
		return err
	}
	var lb struct {
		Items []struct {
			NominationID int64 `json:"nomination_id"`
			Votes        int64 `json:"votes"`
		} `json:"items"`
	}
	if err := c.call(ctx, "GET", fmt.Sprintf("/api/mp/campaigns/%d/leaderboard?limit=100", camp.ID), tokens[0], nil, 200, &lb); err != nil {
		return err
	}
	wrong := 0
	for _, it := range lb.Items {
		if dbCount[it.NominationID] != it.Votes {
			wrong++
		}
	}
	if wrong > 0 {
		problems = append(problems, fmt.Sprintf("%d leaderboard entries differ from the ledger", wrong))
	}
	if o.accepted > 0 && counted < o.accepted {
		problems = append(problems, fmt.Sprintf("the ledger holds %d valid votes, the load generators saw %d accepted", counted, o.accepted))
	}
	fmt.Fprintf(out, "verify: ledger %d valid votes (load generators saw %d accepted), %d acknowledged-and-tracked votes all present: %v, limits held: %v, leaderboard = ledger: %v\n",
		counted, o.accepted, len(ackLines), missing == 0, over == 0, wrong == 0)
	if len(problems) > 0 {
		return errors.New("INCONSISTENT: " + strings.Join(problems, "; "))
	}
	return nil
}

// dayOf is t's day in Asia/Shanghai as yyyymmdd, as the service keys votes.
func dayOf(t time.Time) int {
	y, m, d := t.In(time.FixedZone("CST", 8*3600)).Date()
	return y*10000 + int(m)*100 + d
}
