package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"wanjia/api"
	"wanjia/cache"
	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/auth"
	"wanjia/service/campaigns"
	"wanjia/service/protect"
	"wanjia/store"
	"wanjia/store/storetest"
)

// campWeChat judges text with "违规" risky; media checks get t-1, t-2, …
type campWeChat struct {
	mu sync.Mutex
	n  int
}

func (w *campWeChat) CheckText(_ context.Context, _, _, content string) (campaigns.TextCheck, error) {
	if strings.Contains(content, "违规") {
		return campaigns.TextCheck{Suggest: "risky", Label: 20006}, nil
	}
	return campaigns.TextCheck{Suggest: "pass", Label: 100}, nil
}

func (w *campWeChat) SubmitMediaCheck(context.Context, string, string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	return fmt.Sprintf("t-%d", w.n), nil
}

func (w *campWeChat) ShareCode(context.Context, string) ([]byte, error) {
	return []byte{0xff, 0xd8}, nil
}

type campImages struct{}

func (campImages) SaveImage(context.Context, []byte) (string, error) {
	return "uploads/2026/05/0123456789abcdef0123456789abcdef.jpg", nil
}
func (campImages) DeleteImage(context.Context, string) error { return nil }

type campJobs struct {
	mu       sync.Mutex
	payloads [][]byte
}

func (j *campJobs) Enqueue(_ context.Context, typ string, payload []byte, _ string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if typ == campaigns.TaskMediaCheck {
		j.payloads = append(j.payloads, payload)
	}
	return nil
}

type campEnv struct {
	*accountsEnv
	svc     *campaigns.Service
	clock   *testutil.Clock
	jobs    *campJobs
	uploads *store.Uploads
	camps   *store.Campaigns
	wx      *campWeChat
	metrics *prometheus.Registry // the campaigns service's
}

// t0c is 2026-05-01 00:00 Shanghai.
var t0c = time.Date(2026, 4, 30, 16, 0, 0, 0, time.UTC)

func mustCampaignsAPI(tb testing.TB) *campEnv {
	tb.Helper()
	m := miniredis.RunT(tb)
	rc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tb.Cleanup(func() { rc.Close() })
	return mustCampaignsAPIOn(tb, rc, nil)
}

// mustCampaignsAPIOn is mustCampaignsAPI on the Redis rc, logging to log
// (nil: discarded).
func mustCampaignsAPIOn(tb testing.TB, rc redis.UniversalClient, log *slog.Logger) *campEnv {
	tb.Helper()
	return mustCampaignsAPIWith(tb, storetest.Dialects()[0].Open(tb), rc, log, campaigns.Options{})
}

// mustCampaignsAPIWith is mustCampaignsAPIOn on db, with the vote writers
// of o (CommitWriters, MaxBatch, CommitLinger).
func mustCampaignsAPIWith(tb testing.TB, db *store.DB, rc redis.UniversalClient, log *slog.Logger, o campaigns.Options) *campEnv {
	tb.Helper()
	kr, err := protect.NewKeyring(bytes.Repeat([]byte{1}, protect.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	a, err := auth.New(auth.Deps{
		Users: store.NewUsers(db), Staff: store.NewStaff(db), Audit: store.NewAudit(db),
		Sessions: cache.NewSessions(rc, cache.SessionOptions{MPTTL: time.Hour, StaffTTL: time.Hour, MPCache: 2 * time.Second}),
		Tx:       db, MiniProgram: fakeMP{}, Sealer: kr, BcryptCost: bcrypt.MinCost,
	})
	if err != nil {
		tb.Fatal(err)
	}
	e := &campEnv{clock: testutil.NewClock(t0c.Add(time.Hour)), jobs: &campJobs{}, uploads: store.NewUploads(db), camps: store.NewCampaigns(db),
		wx: &campWeChat{}, metrics: prometheus.NewRegistry()}
	e.svc, err = campaigns.New(campaigns.Deps{Registerer: e.metrics,
		Store: e.camps, Users: store.NewUsers(db), Uploads: e.uploads, Results: store.NewResults(db), WeChat: e.wx,
		Images: campImages{}, Cache: cache.NewVotes(rc), Jobs: e.jobs, Notifier: nopNotifier{}, Audit: a, Keys: kr, Now: e.clock.Now,
		Options: campaigns.Options{PhotoURL: func(k string) string { return "https://x.example/api/files/" + k }, MetaTTL: time.Nanosecond, VotesPerIPMinute: 1e9, VotesPerDeviceMinute: 120,
			GalleryTTL: time.Nanosecond, CommitWriters: o.CommitWriters, MaxBatch: o.MaxBatch, CommitLinger: o.CommitLinger},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.svc.Close)
	d := api.Deps{Redis: rc, DB: db, Accounts: a, Campaigns: e.svc, RatePerIP: 1e9, Logger: log}
	e.accountsEnv = &accountsEnv{h: mustServer(tb, d), auth: a, db: db}
	return e
}

func (e *campEnv) mustPhotos(tb testing.TB, userID int64, n int) string {
	tb.Helper()
	var ids []string
	for range n {
		i := photoSeq.Add(1)
		up, err := e.uploads.Create(context.Background(), model.Upload{Key: fmt.Sprintf("uploads/2026/05/%016x%016x.jpg", userID, i),
			UserID: userID, ContentType: "image/jpeg", Size: 10, Width: 1, Height: 1, SHA256: "00"})
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, fmt.Sprint(up.ID))
	}
	return "[" + strings.Join(ids, ",") + "]"
}

var photoSeq atomic.Int64

// passChecks runs the queued media checks and answers them all with pass.
func (e *campEnv) passChecks(tb testing.TB) {
	tb.Helper()
	e.jobs.mu.Lock()
	ps := e.jobs.payloads
	e.jobs.payloads = nil
	e.jobs.mu.Unlock()
	for _, p := range ps {
		if err := e.svc.RunMediaCheck(context.Background(), p); err != nil {
			tb.Fatal(err)
		}
	}
	e.wx.mu.Lock()
	traces := e.wx.n
	e.wx.mu.Unlock()
	for i := 1; i <= traces; i++ {
		if err := e.svc.MediaCheckResult(context.Background(), model.WeChatResult{Kind: model.ResultMediaCheck, Key: fmt.Sprintf("t-%d", i),
			Suggest: "pass", CheckLabel: 100}); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestCampaignsFlow(t *testing.T) {
	e := mustCampaignsAPI(t)
	e.mustStaff(t, "reviewer1", false, model.RoleReviewer)
	e.mustStaff(t, "editor1", false, model.RoleEditor)
	rev := e.mustLogin(t, "reviewer1").Token
	ed := e.mustLogin(t, "editor1").Token
	at := func(d time.Duration) string { return t0c.Add(d).Format(time.RFC3339) }
	day := 24 * time.Hour
	body := `{"title":"2026年度最美家庭","nominate_from":"` + at(0) + `","nominate_to":"` + at(10*day) + `","vote_from":"` + at(12*day) +
		`","vote_to":"` + at(20*day) + `","results_at":"` + at(21*day) + `","votes_per_day":2,
		"categories":[{"code":"best_mother","name":"最美母亲","quota":1},{"code":"green_family","name":"绿色家庭","quota":1}]}`
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/campaigns", body, ed, http.StatusForbidden, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/campaigns", `{"title":""}`, rev, http.StatusBadRequest, "invalid")
	camp := mustJSON[struct {
		ID          int64  `json:"id"`
		Phase       string `json:"phase"`
		VotesPerDay int    `json:"votes_per_day"`
	}](t, wantStatus(t, e.accountsEnv, "POST", "/api/admin/campaigns", body, rev, http.StatusCreated, ""))
	if camp.Phase != "nominating" || camp.VotesPerDay != 2 {
		t.Errorf("created campaign = %+v", camp)
	}
	cid := itoa(camp.ID)
	wantStatus(t, e.accountsEnv, "PATCH", "/api/admin/campaigns/"+cid, `{"description":"德润万家"}`, rev, http.StatusOK, "")

	alice, aliceID := notifyMPLogin(t, e.h, "alice")
	bob, _ := notifyMPLogin(t, e.h, "bob")
	got := mustJSON[struct {
		Items []struct {
			ID         int64 `json:"id"`
			Categories []struct {
				Code string `json:"code"`
				Name string `json:"name"`
			} `json:"categories"`
		} `json:"items"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/mp/campaigns", "", alice, http.StatusOK, ""))
	if len(got.Items) != 1 || len(got.Items[0].Categories) != 2 || got.Items[0].Categories[0].Name != "最美母亲" {
		t.Fatalf("GET /api/mp/campaigns = %+v", got)
	}

	// Nominations: validation, content security, the window.
	photos := e.mustPhotos(t, aliceID, 2)
	nom := func(story string) string {
		return `{"category":"best_mother","family_name":"王芳家","story":"` + story + `","photo_ids":` + photos + `,"consent":true}`
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/campaigns/"+cid+"/nominations", `{"category":"best_mother","consent":false}`, alice,
		http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/campaigns/"+cid+"/nominations", nom("违规的内容"), alice, http.StatusBadRequest, "content_risky")
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/campaigns/"+cid+"/nominations", nom("好故事"), bob, http.StatusBadRequest, "invalid")
	created := mustJSON[struct {
		ID     int64    `json:"id"`
		Status string   `json:"status"`
		Photos []string `json:"photos"`
	}](t, wantStatus(t, e.accountsEnv, "POST", "/api/mp/campaigns/"+cid+"/nominations", nom("三代同堂，孝老爱亲"), alice, http.StatusCreated, ""))
	if created.Status != "pending" || len(created.Photos) != 2 || !strings.HasPrefix(created.Photos[0], "/api/files/uploads/") {
		t.Errorf("created nomination = %+v", created)
	}
	nid := itoa(created.ID)
	wantStatus(t, e.accountsEnv, "PATCH", "/api/mp/nominations/"+nid, nom("三代同堂，孝老爱亲，邻里和睦"), alice, http.StatusOK, "")
	wantStatus(t, e.accountsEnv, "GET", "/api/mp/nominations/"+nid, "", bob, http.StatusNotFound, "")
	mine := mustJSON[struct {
		Items []struct {
			Status       string `json:"status"`
			RejectReason string `json:"reject_reason"`
		} `json:"items"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/mp/me/nominations", "", alice, http.StatusOK, ""))
	if len(mine.Items) != 1 || mine.Items[0].Status != "pending" {
		t.Errorf("GET /api/mp/me/nominations = %+v", mine)
	}

	// Review: only reviewers; approval waits for the photo checks.
	queue := mustJSON[struct {
		Items []struct {
			ID             int64  `json:"id"`
			MachineVerdict string `json:"machine_verdict"`
		} `json:"items"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/nominations?status=pending&campaign_id="+cid, "", rev, http.StatusOK, ""))
	if len(queue.Items) != 1 || queue.Items[0].MachineVerdict != "pending" {
		t.Errorf("review queue = %+v", queue)
	}
	wantStatus(t, e.accountsEnv, "GET", "/api/admin/nominations", "", ed, http.StatusForbidden, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/nominations/"+nid+"/review", `{"decision":"approve"}`, rev, http.StatusConflict, "check_pending")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/nominations/"+nid+"/review", `{"decision":"maybe"}`, rev, http.StatusBadRequest, "invalid")
	e.passChecks(t)
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/nominations/"+nid+"/review", `{"decision":"approve"}`, rev, http.StatusOK, "")

	// Gallery, share code.
	gallery := mustJSON[struct {
		Items []struct {
			ID     int64    `json:"id"`
			Story  string   `json:"story"`
			Photos []string `json:"photos"`
			Votes  int64    `json:"votes"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/mp/campaigns/"+cid+"/nominations?sort=recent&category=best_mother", "", bob, http.StatusOK, ""))
	if len(gallery.Items) != 1 || gallery.Items[0].ID != created.ID || gallery.Items[0].Story != "三代同堂，孝老爱亲，邻里和睦" {
		t.Errorf("gallery = %+v", gallery)
	}
	// A client that accepts gzip gets the same page compressed, with its length.
	plain := do(e.h, "GET", "/api/mp/campaigns/"+cid+"/nominations?sort=recent&category=best_mother", "", bearer(bob)...)
	zipped := do(e.h, "GET", "/api/mp/campaigns/"+cid+"/nominations?sort=recent&category=best_mother", "",
		append(bearer(bob), "Accept-Encoding", "gzip, deflate, br")...)
	if plain.Header().Get("Content-Encoding") != "" || zipped.Header().Get("Content-Encoding") != "gzip" ||
		zipped.Header().Get("Vary") != "Accept-Encoding" || zipped.Header().Get("Content-Length") != strconv.Itoa(zipped.Body.Len()) {
		t.Errorf("gallery encodings: plain %v, gzip %v", plain.Header(), zipped.Header())
	}
	if zr, err := gzip.NewReader(zipped.Body); err != nil {
		t.Errorf("gzip gallery: %v", err)
	} else if b, err := io.ReadAll(zr); err != nil || !bytes.Equal(b, plain.Body.Bytes()) {
		t.Errorf("gzip gallery decodes to %q (%v), want %q", b, err, plain.Body)
	}
	wantStatus(t, e.accountsEnv, "GET", "/api/mp/campaigns/"+cid+"/nominations?sort=best", "", bob, http.StatusBadRequest, "invalid")
	wantStatus(t, e.accountsEnv, "GET", "/api/mp/campaigns/"+cid+"/nominations?cursor=garbage", "", bob, http.StatusBadRequest, "invalid")
	share := mustJSON[struct {
		URL string `json:"url"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/mp/nominations/"+nid+"/share-code", "", bob, http.StatusOK, ""))
	if !strings.HasSuffix(share.URL, ".jpg") {
		t.Errorf("share code = %+v", share)
	}

	// Votes: only in the window; identity from the session, never the body.
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/nominations/"+nid+"/votes", "", bob, http.StatusConflict, "not_open")
	e.clock.Set(t0c.Add(13 * day))
	w := do(e.h, "POST", "/api/mp/nominations/"+nid+"/votes", `{"voter_id":1}`, "Authorization", "Bearer "+bob, "X-Device-Id", "phone-1")
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"votes":1,"remaining_today":1}` {
		t.Fatalf("POST votes = %d %s", w.Code, w.Body)
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/nominations/"+nid+"/votes", "", bob, http.StatusTooManyRequests, "vote_limit")
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/nominations/"+nid+"/votes", "", "", http.StatusUnauthorized, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/mp/nominations/999/votes", "", bob, http.StatusNotFound, "")
	lb := mustJSON[struct {
		Items []struct {
			Rank         int    `json:"rank"`
			NominationID int64  `json:"nomination_id"`
			FamilyName   string `json:"family_name"`
			Votes        int64  `json:"votes"`
		} `json:"items"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/mp/campaigns/"+cid+"/leaderboard?category=best_mother", "", alice, http.StatusOK, ""))
	if len(lb.Items) != 1 || lb.Items[0].Rank != 1 || lb.Items[0].FamilyName != "王芳家" || lb.Items[0].Votes != 1 {
		t.Errorf("leaderboard = %+v", lb)
	}

	// Integrity, the ledger export and its digest, a void.
	integ := mustJSON[struct {
		Totals struct {
			Total, Valid, Voided, Voters int64
		} `json:"totals"`
		Digest struct {
			Value string `json:"value"`
			Rows  int64  `json:"rows"`
		} `json:"digest"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/campaigns/"+cid+"/integrity", "", rev, http.StatusOK, ""))
	csv := wantStatus(t, e.accountsEnv, "GET", "/api/admin/campaigns/"+cid+"/ledger", "", rev, http.StatusOK, "")
	sum := sha256.Sum256(csv)
	if integ.Totals.Total != 1 || integ.Totals.Valid != 1 || integ.Digest.Rows != 1 || integ.Digest.Value != hex.EncodeToString(sum[:]) {
		t.Errorf("integrity = %+v, ledger %q", integ, csv)
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/campaigns/"+cid+"/voids", `{"reason":"x"}`, rev, http.StatusBadRequest, "invalid")
	voided := mustJSON[struct {
		Voided int64 `json:"voided"`
	}](t, wantStatus(t, e.accountsEnv, "POST", "/api/admin/campaigns/"+cid+"/voids", `{"nomination_id":`+nid+`,"reason":"测试作废"}`, rev, http.StatusOK, ""))
	if voided.Voided != 1 {
		t.Errorf("voided = %d", voided.Voided)
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/campaigns/"+cid+"/recount", "", rev, http.StatusOK, "")
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/campaigns/"+cid+"/winners", `{"category":"best_mother","nomination_ids":[`+nid+`],"reason":"x"}`,
		rev, http.StatusConflict, "results_not_fixed")

	// Results: fixed at the end, shown from results_at.
	e.clock.Set(t0c.Add(20 * day))
	if n, err := e.svc.FixDueResults(context.Background()); err != nil || n != 1 {
		t.Fatalf("FixDueResults() = %d, %v", n, err)
	}
	e.clock.Set(t0c.Add(21 * day))
	shown := mustJSON[struct {
		Phase   string `json:"phase"`
		Winners []struct {
			NominationID int64  `json:"nomination_id"`
			Source       string `json:"source"`
		} `json:"winners"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/mp/campaigns/"+cid, "", bob, http.StatusOK, ""))
	if shown.Phase != "results" || len(shown.Winners) != 1 || shown.Winners[0].NominationID != created.ID {
		t.Errorf("campaign with results = %+v", shown)
	}
	wantStatus(t, e.accountsEnv, "POST", "/api/admin/campaigns/"+cid+"/winners", `{"category":"best_mother","nomination_ids":[],"reason":"事迹不实"}`,
		rev, http.StatusOK, "")
	all := mustJSON[struct {
		Items []struct {
			ReplacedAt *string `json:"replaced_at"`
		} `json:"items"`
	}](t, wantStatus(t, e.accountsEnv, "GET", "/api/admin/campaigns/"+cid+"/winners?all=true", "", rev, http.StatusOK, ""))
	if len(all.Items) != 1 || all.Items[0].ReplacedAt == nil {
		t.Errorf("all winners = %+v", all)
	}
}

func TestDeviceIDHeaderIsSanitised(t *testing.T) {
	for _, h := range []string{"", "ok-device_1.2", strings.Repeat("x", 65), "bad device", "设备", "a\x00b"} {
		if got := api.DeviceIDForTest(h); (got != "") != (h == "ok-device_1.2") {
			t.Errorf("deviceID(%q) = %q", h, got)
		}
	}
}

func FuzzDeviceID(f *testing.F) {
	for _, s := range []string{"", "abc", "a b", "设备-1", strings.Repeat("z", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := api.DeviceIDForTest(s)
		if got != "" && (got != s || len(got) > 64) {
			t.Fatalf("deviceID(%q) = %q", s, got)
		}
		for _, r := range got {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
				t.Fatalf("deviceID(%q) = %q keeps %q", s, got, r)
			}
		}
	})
}
