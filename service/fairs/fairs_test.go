package fairs_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/fairs"
	"wanjia/service/protect"
	"wanjia/store"
	"wanjia/store/storetest"
)

// notice is what the fairs tests check of a recorded notice.
type notice struct {
	To    model.Recipient
	Topic string
	Key   string
}

// notices takes the notices sent since the last call.
func (e *env) notices() []notice {
	var out []notice
	for _, n := range e.notes.Take() {
		out = append(out, notice{To: n.To, Topic: n.Notice.Topic, Key: n.Notice.DedupeKey})
	}
	return out
}

type env struct {
	svc   *fairs.Service
	notes *testutil.Notifier
	audit *testutil.Audit
	clock *testutil.Clock
	keys  *protect.Keyring
	fair  model.Fair
	staff context.Context
	admin context.Context
}

// start is 2026-03-08 09:00 in Shanghai.
var start = time.Date(2026, 3, 8, 1, 0, 0, 0, time.UTC)

func mustEnv(tb testing.TB, capacity int, seats ...int) *env {
	tb.Helper()
	db := storetest.Dialects()[0].Open(tb)
	keys, err := protect.NewKeyring(bytes.Repeat([]byte{3}, protect.KeySize))
	if err != nil {
		tb.Fatalf("NewKeyring() = %v", err)
	}
	e := &env{notes: &testutil.Notifier{}, audit: &testutil.Audit{}, clock: testutil.NewClock(start.Add(-72 * time.Hour)), keys: keys}
	e.svc, err = fairs.New(fairs.Deps{Store: store.NewFairs(db), Notifier: e.notes, Audit: e.audit, Keys: keys, Now: e.clock.Now})
	if err != nil {
		tb.Fatalf("New() = %v", err)
	}
	e.staff = model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 5, Username: "fm", Roles: []model.Role{model.RoleFairManager}})
	e.admin = model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 1, Username: "admin", Roles: []model.Role{model.RoleAdmin}})
	e.fair, err = e.svc.CreateFair(e.staff, fairs.FairInput{
		Title: "三八女性专场招聘会", Mode: model.FairOnSite, Venue: "市妇女儿童活动中心", StartsAt: start, EndsAt: start.Add(6 * time.Hour), Capacity: capacity,
	})
	if err != nil {
		tb.Fatalf("CreateFair() = %v", err)
	}
	for i, n := range seats {
		employer := "万家家政"
		if i%2 == 1 {
			employer = "巾帼电商"
		}
		p, err := e.svc.AddPosition(e.staff, e.fair.ID, fairs.PositionInput{Employer: employer, Title: "育婴师", Seats: n, SalaryMin: 5000, SalaryMax: 8000})
		if err != nil {
			tb.Fatalf("AddPosition() = %v", err)
		}
		e.fair.Positions = append(e.fair.Positions, p)
	}
	return e
}

func (e *env) mustSignUp(tb testing.TB, user int64, pos int) model.Signup {
	tb.Helper()
	s, err := e.svc.SignUp(context.Background(), user, e.fair.ID, fairs.SignupInput{PositionID: e.fair.Positions[pos].ID, Name: "王芳", Phone: "13812345678"})
	if err != nil {
		tb.Fatalf("SignUp(user %d) = %v", user, err)
	}
	return s
}

func code(err error) string {
	var me *model.Error
	if errors.As(err, &me) {
		return me.Code
	}
	return ""
}

func TestCreateFairNeedsRole(t *testing.T) {
	e := mustEnv(t, 10, 5)
	ctx := model.WithPrincipal(context.Background(), model.Principal{Kind: model.SessionStaff, SubjectID: 9, Roles: []model.Role{model.RoleEditor}})
	_, err := e.svc.CreateFair(ctx, fairs.FairInput{Title: "x", Mode: model.FairOnline, StartsAt: start, EndsAt: start.Add(time.Hour), Capacity: 1})
	if !errors.Is(err, model.ErrForbidden) {
		t.Errorf("CreateFair(editor) = %v, want %v", err, model.ErrForbidden)
	}
	_, err = e.svc.CreateFair(e.staff, fairs.FairInput{Title: "", Mode: "boat", StartsAt: start, EndsAt: start, Capacity: 0})
	if !errors.Is(err, model.ErrInvalid) {
		t.Errorf("CreateFair(invalid) = %v, want %v", err, model.ErrInvalid)
	}
}

func TestSignUpWindowAndValidation(t *testing.T) {
	e := mustEnv(t, 10, 5)
	tests := []struct {
		name string
		now  time.Time
		in   fairs.SignupInput
		want string
	}{
		{"bad phone", start.Add(-time.Hour), fairs.SignupInput{PositionID: e.fair.Positions[0].ID, Name: "王芳", Phone: "12ab"}, "invalid"},
		{"no name", start.Add(-time.Hour), fairs.SignupInput{PositionID: e.fair.Positions[0].ID, Phone: "13812345678"}, "invalid"},
		{"closed", start, fairs.SignupInput{PositionID: e.fair.Positions[0].ID, Name: "王芳", Phone: "13812345678"}, "not_open"},
		{"not yet open", start.Add(-100 * time.Hour), fairs.SignupInput{PositionID: e.fair.Positions[0].ID, Name: "王芳", Phone: "13812345678"}, "not_open"},
	}
	for _, tt := range tests {
		e.clock.Set(tt.now)
		_, err := e.svc.SignUp(context.Background(), 1, e.fair.ID, tt.in)
		if got := code(err); got != tt.want {
			t.Errorf("%s: SignUp() = %v, want code %s", tt.name, err, tt.want)
		}
	}
}

func TestCancelPromotesAndNotifies(t *testing.T) {
	e := mustEnv(t, 1, 1)
	a := e.mustSignUp(t, 1, 0)
	b := e.mustSignUp(t, 2, 0)
	c := e.mustSignUp(t, 3, 0)
	if a.Status != model.SignupConfirmed || b.WaitlistPosition != 1 || c.WaitlistPosition != 2 {
		t.Fatalf("signups = %s, %d, %d, want confirmed, 1, 2", a.Status, b.WaitlistPosition, c.WaitlistPosition)
	}
	if _, err := e.svc.Cancel(context.Background(), 1, a.ID); err != nil {
		t.Fatalf("Cancel(a) = %v", err)
	}
	got := e.notices()
	want := []notice{{To: model.Recipient{UserID: 2}, Topic: fairs.TopicSignupPromoted, Key: got0Key(got)}}
	if diff := cmp.Diff(want, got); diff != "" || !strings.HasPrefix(got0Key(got), "fair:") {
		t.Fatalf("notices after Cancel (-want +got):\n%s", diff)
	}
	// b does not confirm within 24 h: c is promoted and told.
	e.clock.Set(e.clock.Now().Add(e.svc.OfferTTL()))
	n, err := e.svc.ExpireOffers(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("ExpireOffers() = %d, %v, want 1", n, err)
	}
	if got := e.notices(); len(got) != 1 || got[0].To.UserID != 3 {
		t.Fatalf("notices after expiry = %+v, want one to user 3", got)
	}
	if _, err := e.svc.Confirm(context.Background(), 2, b.ID); code(err) != "no_offer" {
		t.Fatalf("Confirm(expired b) = %v, want no_offer", err)
	}
	if s, err := e.svc.Confirm(context.Background(), 3, c.ID); err != nil || s.Status != model.SignupConfirmed {
		t.Fatalf("Confirm(c) = %v, %v, want confirmed", s.Status, err)
	}
}

func TestTicketAndCheckIn(t *testing.T) {
	e := mustEnv(t, 1, 1)
	a := e.mustSignUp(t, 1, 0)
	w := e.mustSignUp(t, 2, 0)
	if _, _, err := e.svc.Ticket(context.Background(), 2, w.ID); code(err) != "not_confirmed" {
		t.Fatalf("Ticket(waitlisted) = %v, want not_confirmed", err)
	}
	if _, _, err := e.svc.Ticket(context.Background(), 2, a.ID); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("Ticket(someone else's) = %v, want %v", err, model.ErrNotFound)
	}
	good, exp, err := e.svc.Ticket(context.Background(), 1, a.ID)
	if err != nil || !exp.Equal(start.Add(6*time.Hour)) {
		t.Fatalf("Ticket() = %q, %v, %v", good, exp, err)
	}
	png, err := e.svc.TicketPNG(context.Background(), 1, a.ID, 256)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("TicketPNG() = %d bytes, %v, want a PNG", len(png), err)
	}
	other, err := protect.NewKeyring(bytes.Repeat([]byte{4}, protect.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	forged := other.Sign("fair-ticket", []byte{0, 0, 0, 0, 0, 0, 0, byte(a.ID)}, start.Add(time.Hour))
	expired := e.keys.Sign("fair-ticket", []byte{0, 0, 0, 0, 0, 0, 0, byte(a.ID)}, start.Add(-100*time.Hour))
	wrongPurpose := e.keys.Sign("other", []byte{0, 0, 0, 0, 0, 0, 0, byte(a.ID)}, start.Add(time.Hour))
	e.clock.Set(start.Add(time.Hour))
	tests := []struct {
		name string
		code string
		want string
	}{
		{"forged", forged, "invalid_ticket"},
		{"garbage", "not-a-code", "invalid_ticket"},
		{"wrong purpose", wrongPurpose, "invalid_ticket"},
		{"expired", expired, "ticket_expired"},
		{"good", good, ""},
		{"second", good, "already_checked_in"},
	}
	for _, tt := range tests {
		_, err := e.svc.CheckIn(e.staff, tt.code)
		if got := code(err); got != tt.want {
			t.Errorf("%s: CheckIn() = %v, want code %q", tt.name, err, tt.want)
		}
	}
	if _, err := e.svc.CheckIn(context.Background(), good); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("CheckIn(no staff) = %v, want %v", err, model.ErrForbidden)
	}
	if _, err := e.svc.RecordPlacement(e.staff, a.ID); err != nil {
		t.Fatalf("RecordPlacement() = %v", err)
	}
	e.clock.Set(start.Add(24 * time.Hour))
	got, err := e.svc.Figures(e.staff, start.Add(-24*time.Hour), start.Add(24*time.Hour))
	want := fairs.Figures{FairsHeld: 1, Signups: 2, Confirmed: 1, Attended: 1, Placements: 1}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("Figures() = %v (-want +got):\n%s", err, diff)
	}
}

func TestExportMasksPhones(t *testing.T) {
	e := mustEnv(t, 10, 5, 5)
	e.mustSignUp(t, 1, 0)
	e.mustSignUp(t, 2, 1)
	tests := []struct {
		name      string
		ctx       context.Context
		employer  string
		wantRows  int
		wantPhone string
	}{
		{"fair manager", e.staff, "", 2, "138****5678"},
		{"admin", e.admin, "", 2, "13812345678"},
		{"one employer", e.staff, "巾帼电商", 1, "138****5678"},
	}
	for _, tt := range tests {
		data, name, err := e.svc.Export(tt.ctx, e.fair.ID, tt.employer)
		if err != nil {
			t.Fatalf("%s: Export() = %v", tt.name, err)
		}
		if !strings.HasSuffix(name, ".xlsx") {
			t.Errorf("%s: Export() name = %q, want .xlsx", tt.name, name)
		}
		x, err := excelize.OpenReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: OpenReader() = %v", tt.name, err)
		}
		rows, err := x.GetRows("Sheet1")
		_ = x.Close()
		if err != nil {
			t.Fatalf("%s: GetRows() = %v", tt.name, err)
		}
		if len(rows) != tt.wantRows+1 || rows[1][2] != tt.wantPhone {
			t.Errorf("%s: export rows = %v, want %d rows with phone %s", tt.name, rows, tt.wantRows, tt.wantPhone)
		}
	}
	n := 0
	for _, a := range e.audit.Actions() {
		if a == "fair.signups.export" {
			n++
		}
	}
	if n != len(tests) {
		t.Errorf("audited exports = %d, want %d", n, len(tests))
	}
}

func TestRemindTomorrow(t *testing.T) {
	e := mustEnv(t, 1, 1)
	e.mustSignUp(t, 1, 0)
	e.mustSignUp(t, 2, 0) // waitlisted: no reminder
	e.clock.Set(start.Add(-20 * time.Hour))
	for range 2 { // the second run sends the same dedupe keys
		n, err := e.svc.RemindTomorrow(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("RemindTomorrow() = %d, %v, want 1", n, err)
		}
	}
	got := e.notices()
	if len(got) != 2 || got[0] != got[1] || got[0].To.UserID != 1 || got[0].Topic != fairs.TopicSignupReminder {
		t.Errorf("reminders = %+v, want user 1 twice with one dedupe key", got)
	}
	e.clock.Set(start.Add(-72 * time.Hour))
	if n, err := e.svc.RemindTomorrow(context.Background()); err != nil || n != 0 {
		t.Errorf("RemindTomorrow(3 days before) = %d, %v, want 0", n, err)
	}
}

func TestReply(t *testing.T) {
	e := mustEnv(t, 10, 5)
	r, err := e.svc.Reply(context.Background())
	if err != nil || r == nil || !strings.Contains(r.Text, "三八女性专场招聘会") || !strings.Contains(r.Text, "余 10 席") {
		t.Fatalf("Reply() = %+v, %v, want the fair", r, err)
	}
	e.clock.Set(start.Add(7 * time.Hour))
	if r, err := e.svc.Reply(context.Background()); err != nil || r != nil {
		t.Fatalf("Reply(after the fair) = %+v, %v, want nil", r, err)
	}
}

func got0Key(ns []notice) string {
	if len(ns) == 0 {
		return ""
	}
	return ns[0].Key
}

func FuzzParseTicket(f *testing.F) {
	keys, err := protect.NewKeyring(bytes.Repeat([]byte{3}, protect.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	svc, err := fairs.New(fairs.Deps{Store: &store.Fairs{}, Notifier: &testutil.Notifier{}, Audit: &testutil.Audit{}, Keys: keys,
		Now: func() time.Time { return start }})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(keys.Sign("fair-ticket", []byte{0, 0, 0, 0, 0, 0, 0, 7}, start.Add(time.Hour)))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, code string) {
		id, err := svc.ParseTicket(code)
		if err == nil && id <= 0 {
			t.Fatalf("ParseTicket(%q) = %d, nil; want a positive id", code, id)
		}
		if err != nil && !errors.Is(err, model.ErrInvalid) {
			t.Fatalf("ParseTicket(%q) = %v, want %v", code, err, model.ErrInvalid)
		}
	})
}

func FuzzSignupInputValid(f *testing.F) {
	f.Add("王芳", "13812345678")
	f.Add("", "010-1234567")
	f.Add("x", "-")
	f.Fuzz(func(t *testing.T, name, phone string) {
		bad := fairs.SignupInput{PositionID: 1, Name: name, Phone: phone}.Valid()
		if bad == nil && (strings.TrimSpace(name) == "" || strings.TrimSpace(phone) == "") {
			t.Fatalf("Valid(%q, %q) = nil, want a problem", name, phone)
		}
	})
}
