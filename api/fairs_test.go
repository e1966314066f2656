package api_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"wanjia/api"
	"wanjia/model"
	"wanjia/service/fairs"
	"wanjia/service/protect"
	"wanjia/store"
	"wanjia/store/storetest"
)

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, model.Recipient, model.Notice) error { return nil }

type nopAudit struct{}

func (nopAudit) Audit(context.Context, string, string, string, any, any) error { return nil }

func mustFairsAPI(tb testing.TB) *accountsEnv {
	tb.Helper()
	db := storetest.Dialects()[0].Open(tb)
	kr, err := protect.NewKeyring(bytes.Repeat([]byte{2}, protect.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := fairs.New(fairs.Deps{Store: store.NewFairs(db), Notifier: nopNotifier{}, Audit: nopAudit{}, Keys: kr})
	if err != nil {
		tb.Fatal(err)
	}
	return mustAccounts(tb, api.Deps{Fairs: svc})
}

type fairBody struct {
	ID        int64 `json:"id"`
	Capacity  int   `json:"capacity"`
	SeatsLeft int   `json:"seats_left"`
	Positions []struct {
		ID        int64 `json:"id"`
		SeatsLeft int   `json:"seats_left"`
	} `json:"positions"`
}

type signupBody struct {
	ID               int64  `json:"id"`
	Status           string `json:"status"`
	WaitlistPosition int    `json:"waitlist_position"`
}

func TestFairsFlow(t *testing.T) {
	e := mustFairsAPI(t)
	e.mustStaff(t, "fairmgr", false, model.RoleFairManager)
	e.mustStaff(t, "editor1", false, model.RoleEditor)
	fm := e.mustLogin(t, "fairmgr").Token
	ed := e.mustLogin(t, "editor1").Token
	startsAt := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	endsAt := time.Now().Add(54 * time.Hour).UTC().Format(time.RFC3339)
	fairJSON := `{"title":"三八女性专场招聘会","mode":"onsite","venue":"市妇女儿童活动中心","starts_at":"` + startsAt +
		`","ends_at":"` + endsAt + `","capacity":1}`

	wantStatus(t, e, "POST", "/api/admin/fairs", fairJSON, ed, http.StatusForbidden, "")
	wantStatus(t, e, "POST", "/api/admin/fairs", `{"title":"","mode":"boat"}`, fm, http.StatusBadRequest, "invalid")
	f := mustJSON[fairBody](t, wantStatus(t, e, "POST", "/api/admin/fairs", fairJSON, fm, http.StatusCreated, ""))
	fid := itoa(f.ID)
	wantStatus(t, e, "POST", "/api/admin/fairs/"+fid+"/positions", `{"employer":"万家家政","title":"育婴师","seats":5,"salary_min":5000,"salary_max":8000}`,
		fm, http.StatusCreated, "")

	alice, _ := notifyMPLogin(t, e.h, "alice")
	bob, _ := notifyMPLogin(t, e.h, "bob")
	got := mustJSON[fairBody](t, wantStatus(t, e, "GET", "/api/mp/fairs/"+fid, "", alice, http.StatusOK, ""))
	if got.SeatsLeft != 1 || len(got.Positions) != 1 || got.Positions[0].SeatsLeft != 5 {
		t.Fatalf("GET /api/mp/fairs/%s = %+v, want 1 seat left, one position with 5", fid, got)
	}
	pid := itoa(got.Positions[0].ID)
	body := `{"position_id":` + pid + `,"name":"王芳","phone":"13812345678"}`
	a := mustJSON[signupBody](t, wantStatus(t, e, "POST", "/api/mp/fairs/"+fid+"/signups", body, alice, http.StatusCreated, ""))
	wantStatus(t, e, "POST", "/api/mp/fairs/"+fid+"/signups", body, alice, http.StatusConflict, "already_signed_up")
	wantStatus(t, e, "POST", "/api/mp/fairs/"+fid+"/signups", `{"position_id":`+pid+`,"name":"李娜","phone":"x"}`, bob,
		http.StatusBadRequest, "invalid")
	b := mustJSON[signupBody](t, wantStatus(t, e, "POST", "/api/mp/fairs/"+fid+"/signups",
		`{"position_id":`+pid+`,"name":"李娜","phone":"13900001111"}`, bob, http.StatusCreated, ""))
	if diff := cmp.Diff([]signupBody{{ID: a.ID, Status: "confirmed"}, {ID: b.ID, Status: "waitlisted", WaitlistPosition: 1}},
		[]signupBody{a, b}); diff != "" {
		t.Fatalf("signups (-want +got):\n%s", diff)
	}

	// Tickets: only for the confirmed owner; JSON and PNG.
	wantStatus(t, e, "GET", "/api/mp/signups/"+itoa(b.ID)+"/ticket", "", bob, http.StatusConflict, "not_confirmed")
	wantStatus(t, e, "GET", "/api/mp/signups/"+itoa(a.ID)+"/ticket", "", bob, http.StatusNotFound, "")
	ticket := mustJSON[struct {
		Code string `json:"code"`
	}](t, wantStatus(t, e, "GET", "/api/mp/signups/"+itoa(a.ID)+"/ticket", "", alice, http.StatusOK, ""))
	w := do(e.h, "GET", "/api/mp/signups/"+itoa(a.ID)+"/ticket?format=png", "", bearer(alice)...)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/png" || !bytes.HasPrefix(w.Body.Bytes(), []byte("\x89PNG")) {
		t.Fatalf("GET ticket?format=png = %d %s, want a PNG", w.Code, w.Header().Get("Content-Type"))
	}

	// Export: masked phones for a fair manager.
	w = do(e.h, "GET", "/api/admin/fairs/"+fid+"/signups?format=xlsx", "", bearer(fm)...)
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Disposition"), ".xlsx") {
		t.Fatalf("GET signups?format=xlsx = %d %s", w.Code, w.Body)
	}
	x, err := excelize.OpenReader(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatalf("OpenReader(export) = %v", err)
	}
	rows, err := x.GetRows("Sheet1")
	_ = x.Close()
	if err != nil || len(rows) != 3 || rows[1][2] != "138****5678" {
		t.Fatalf("export rows = %v, %v, want 2 signups with masked phones", rows, err)
	}
	list := wantStatus(t, e, "GET", "/api/admin/fairs/"+fid+"/signups", "", fm, http.StatusOK, "")
	if bytes.Contains(list, []byte("13812345678")) || !bytes.Contains(list, []byte("138****5678")) {
		t.Fatalf("GET signups = %s, want masked phones", list)
	}

	// Check-in: a forged code is refused, the second check-in is 409.
	wantStatus(t, e, "POST", "/api/admin/checkins", `{"code":"forged"}`, fm, http.StatusBadRequest, "invalid_ticket")
	wantStatus(t, e, "POST", "/api/admin/checkins", `{"code":"`+ticket.Code+`"}`, ed, http.StatusForbidden, "")
	wantStatus(t, e, "POST", "/api/admin/checkins", `{"code":"`+ticket.Code+`"}`, fm, http.StatusOK, "")
	wantStatus(t, e, "POST", "/api/admin/checkins", `{"code":"`+ticket.Code+`"}`, fm, http.StatusConflict, "already_checked_in")
	wantStatus(t, e, "POST", "/api/admin/signups/"+itoa(a.ID)+"/placement", "", fm, http.StatusOK, "")
	wantStatus(t, e, "DELETE", "/api/mp/signups/"+itoa(a.ID), "", alice, http.StatusConflict, "checked_in")

	// Bob cancels his waitlisted signup; his list shows it cancelled.
	wantStatus(t, e, "POST", "/api/mp/signups/"+itoa(b.ID)+"/confirm", "", bob, http.StatusConflict, "no_offer")
	wantStatus(t, e, "DELETE", "/api/mp/signups/"+itoa(b.ID), "", alice, http.StatusNotFound, "")
	c := mustJSON[signupBody](t, wantStatus(t, e, "DELETE", "/api/mp/signups/"+itoa(b.ID), "", bob, http.StatusOK, ""))
	if c.Status != "cancelled" {
		t.Fatalf("DELETE signup = %+v, want cancelled", c)
	}
	mine := mustJSON[struct {
		Items []signupBody `json:"items"`
	}](t, wantStatus(t, e, "GET", "/api/mp/me/signups", "", bob, http.StatusOK, ""))
	if len(mine.Items) != 1 || mine.Items[0].Status != "cancelled" {
		t.Fatalf("GET /api/mp/me/signups = %+v, want one cancelled", mine)
	}

	figs := wantStatus(t, e, "GET", "/api/admin/fairs/figures?from=2020-01-01", "", fm, http.StatusOK, "")
	if !bytes.Contains(figs, []byte(`"fairs_held":0`)) { // the fair has not ended yet
		t.Fatalf("GET figures = %s, want fairs_held 0", figs)
	}
	wantStatus(t, e, "GET", "/api/admin/fairs/figures?from=yesterday", "", fm, http.StatusBadRequest, "invalid")
	wantStatus(t, e, "GET", "/api/mp/fairs", "", "", http.StatusUnauthorized, "")
}
