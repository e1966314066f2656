package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"wanjia/cache"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

var fairT0 = time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC)

func mustFair(tb testing.TB, fs *store.Fairs, capacity int, seats ...int) model.Fair {
	tb.Helper()
	ctx := context.Background()
	f, err := fs.CreateFair(ctx, model.Fair{
		Title: "三八女性专场招聘会", Mode: model.FairOnSite, Venue: "市妇女儿童活动中心", StartsAt: fairT0,
		EndsAt: fairT0.Add(6 * time.Hour), Capacity: capacity, SignupOpensAt: fairT0.Add(-72 * time.Hour),
		SignupEndsAt: fairT0, CreatedBy: 1,
	})
	if err != nil {
		tb.Fatalf("CreateFair() = %v", err)
	}
	for _, n := range seats {
		p, err := fs.AddPosition(ctx, model.Position{FairID: f.ID, Employer: "万家家政", Title: "育婴师", Seats: n, SalaryMin: 5000, SalaryMax: 8000})
		if err != nil {
			tb.Fatalf("AddPosition() = %v", err)
		}
		f.Positions = append(f.Positions, p)
	}
	return f
}

func mustSignUp(tb testing.TB, fs *store.Fairs, f model.Fair, pos int, user int64) model.Signup {
	tb.Helper()
	s, _, err := fs.SignUp(context.Background(), model.Signup{FairID: f.ID, PositionID: f.Positions[pos].ID, UserID: user, Name: "王芳", PhoneSealed: "sealed"},
		fairT0.Add(-48*time.Hour), 24*time.Hour)
	if err != nil {
		tb.Fatalf("SignUp(user %d) = %v", user, err)
	}
	return s
}

// newLines returns waitlist counters on a fresh embedded Redis.
func newLines(tb testing.TB) (*cache.Lines, *miniredis.Miniredis) {
	tb.Helper()
	mr := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	tb.Cleanup(func() { _ = rdb.Close() })
	return cache.NewLines(rdb, time.Minute), mr
}

func TestSignUpNeverOversells(t *testing.T) {
	t.Run("counted", func(t *testing.T) { testSignUpNeverOversells(t, false) })
	t.Run("line counter", func(t *testing.T) { testSignUpNeverOversells(t, true) })
}

func testSignUpNeverOversells(t *testing.T, withLine bool) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fs := store.NewFairs(db)
		if withLine {
			lines, _ := newLines(t)
			fs.WithLine(lines)
		}
		f := mustFair(t, fs, 100, 100)
		const n = 2000
		results := make([]model.Signup, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				results[i], _, errs[i] = fs.SignUp(context.Background(), model.Signup{
					FairID: f.ID, PositionID: f.Positions[0].ID, UserID: int64(i + 1), Name: "王芳", PhoneSealed: "x",
				}, fairT0.Add(-48*time.Hour), 24*time.Hour)
			})
		}
		close(start)
		wg.Wait()
		counts := map[model.SignupStatus]int{}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("SignUp() #%d = %v", i, err)
			}
			counts[results[i].Status]++
			if results[i].Status == model.SignupWaitlisted && (results[i].WaitlistPosition < 1 || results[i].WaitlistPosition > n) {
				t.Fatalf("SignUp() #%d place = %d, want 1..%d", i, results[i].WaitlistPosition, n)
			}
		}
		all, err := fs.SignupsByFair(context.Background(), f.ID)
		if err != nil {
			t.Fatalf("SignupsByFair() = %v", err)
		}
		places := map[int]bool{}
		for _, s := range all {
			if s.Status == model.SignupWaitlisted {
				places[s.WaitlistPosition] = true
			}
		}
		want := map[model.SignupStatus]int{model.SignupConfirmed: 100, model.SignupWaitlisted: 1900}
		if diff := cmp.Diff(want, counts); diff != "" {
			t.Errorf("statuses after %d concurrent signups (-want +got):\n%s", n, diff)
		}
		if len(places) != 1900 {
			t.Errorf("distinct waitlist places = %d, want 1900", len(places))
		}
		if withLine { // the counter was set at creation: each signup got its own place
			told := map[int]bool{}
			for _, r := range results {
				if r.Status == model.SignupWaitlisted {
					told[r.WaitlistPosition] = true
				}
			}
			if len(told) != 1900 {
				t.Errorf("distinct places told at signup = %d, want 1900", len(told))
			}
		}
		got, err := fs.FairByID(context.Background(), f.ID)
		if err != nil {
			t.Fatalf("FairByID() = %v", err)
		}
		if got.SeatsTaken != 100 || got.Positions[0].SeatsTaken != 100 {
			t.Errorf("seats taken = fair %d, position %d, want 100, 100", got.SeatsTaken, got.Positions[0].SeatsTaken)
		}
	})
}

func TestSignUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fs := store.NewFairs(db)
		ctx := context.Background()
		// Fair capacity 3; position 0 has 2 seats, position 1 has 5.
		f := mustFair(t, fs, 3, 2, 5)
		type step struct {
			pos        int
			user       int64
			wantStatus model.SignupStatus
			wantPlace  int
			wantErr    error
		}
		steps := []step{
			{pos: 0, user: 1, wantStatus: model.SignupConfirmed},
			{pos: 0, user: 2, wantStatus: model.SignupConfirmed},
			{pos: 0, user: 3, wantStatus: model.SignupWaitlisted, wantPlace: 1}, // position full
			{pos: 1, user: 4, wantStatus: model.SignupConfirmed},
			{pos: 1, user: 5, wantStatus: model.SignupWaitlisted, wantPlace: 2}, // fair full
			{pos: 1, user: 4, wantErr: model.ErrConflict},                       // second signup
		}
		for _, st := range steps {
			s, _, err := fs.SignUp(ctx, model.Signup{FairID: f.ID, PositionID: f.Positions[st.pos].ID, UserID: st.user, Name: "李娜", PhoneSealed: "x"},
				fairT0.Add(-48*time.Hour), 24*time.Hour)
			if st.wantErr != nil {
				if !errors.Is(err, st.wantErr) {
					t.Fatalf("SignUp(user %d) = %v, want %v", st.user, err, st.wantErr)
				}
				var me *model.Error
				if !errors.As(err, &me) || me.Code != "already_signed_up" {
					t.Fatalf("SignUp(user %d) code = %v, want already_signed_up", st.user, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("SignUp(user %d) = %v", st.user, err)
			}
			if s.Status != st.wantStatus || s.WaitlistPosition != st.wantPlace {
				t.Errorf("SignUp(user %d) = %s place %d, want %s place %d", st.user, s.Status, s.WaitlistPosition, st.wantStatus, st.wantPlace)
			}
		}
		if _, _, err := fs.SignUp(ctx, model.Signup{FairID: f.ID, PositionID: 999999, UserID: 9}, fairT0, time.Hour); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("SignUp(unknown position) = %v, want %v", err, model.ErrNotFound)
		}
	})
}

func TestCancelPromoteChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fs := store.NewFairs(db)
		ctx := context.Background()
		f := mustFair(t, fs, 1, 1)
		a := mustSignUp(t, fs, f, 0, 1)
		b := mustSignUp(t, fs, f, 0, 2)
		c := mustSignUp(t, fs, f, 0, 3)
		d := mustSignUp(t, fs, f, 0, 4)
		if b.WaitlistPosition != 1 || c.WaitlistPosition != 2 || d.WaitlistPosition != 3 {
			t.Fatalf("places = %d, %d, %d, want 1, 2, 3", b.WaitlistPosition, c.WaitlistPosition, d.WaitlistPosition)
		}
		const ttl = 24 * time.Hour
		now := fairT0.Add(-48 * time.Hour)

		if _, _, err := fs.CancelSignup(ctx, a.ID, 99, now, ttl); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("CancelSignup(someone else's) = %v, want %v", err, model.ErrNotFound)
		}
		got, promo, err := fs.CancelSignup(ctx, a.ID, 1, now, ttl)
		if err != nil {
			t.Fatalf("CancelSignup(a) = %v", err)
		}
		if got.Status != model.SignupCancelled || promo == nil || promo.Signup.ID != b.ID || promo.Signup.Status != model.SignupOffered ||
			!promo.Signup.OfferExpiresAt.Equal(now.Add(ttl)) || promo.Fair.ID != f.ID {
			t.Fatalf("CancelSignup(a) = %v, %+v, want cancelled and b offered until %v", got.Status, promo, now.Add(ttl))
		}
		if _, _, err := fs.CancelSignup(ctx, a.ID, 1, now, ttl); !errors.Is(err, model.ErrConflict) {
			t.Fatalf("CancelSignup(a again) = %v, want %v", err, model.ErrConflict)
		}
		// c moved up to first in line.
		if s, err := fs.SignupByID(ctx, c.ID); err != nil || s.WaitlistPosition != 1 {
			t.Fatalf("SignupByID(c) = place %d, %v, want 1", s.WaitlistPosition, err)
		}
		// b lets the offer lapse: c is offered; an early sweep does nothing.
		if ps, err := fs.ExpireOffers(ctx, now.Add(ttl-time.Second), ttl, 100); err != nil || len(ps) != 0 {
			t.Fatalf("ExpireOffers(before deadline) = %v, %v, want none", ps, err)
		}
		later := now.Add(ttl)
		ps, err := fs.ExpireOffers(ctx, later, ttl, 100)
		if err != nil || len(ps) != 1 || ps[0].Signup.ID != c.ID {
			t.Fatalf("ExpireOffers() = %+v, %v, want c promoted", ps, err)
		}
		if _, err := fs.ConfirmOffer(ctx, b.ID, 2, later); !errors.Is(err, model.ErrConflict) {
			t.Fatalf("ConfirmOffer(expired b) = %v, want %v", err, model.ErrConflict)
		}
		if s, err := fs.SignupByID(ctx, b.ID); err != nil || s.Status != model.SignupExpired {
			t.Fatalf("SignupByID(b) = %v, %v, want expired", s.Status, err)
		}
		// c confirms in time; cancelling c then offers d.
		conf, err := fs.ConfirmOffer(ctx, c.ID, 3, later.Add(time.Hour))
		if err != nil || conf.Status != model.SignupConfirmed {
			t.Fatalf("ConfirmOffer(c) = %v, %v, want confirmed", conf.Status, err)
		}
		_, promo, err = fs.CancelSignup(ctx, c.ID, 3, later.Add(2*time.Hour), ttl)
		if err != nil || promo == nil || promo.Signup.ID != d.ID {
			t.Fatalf("CancelSignup(c) promotion = %+v, %v, want d", promo, err)
		}
		// Cancelling a waitlisted or offered signup never oversells.
		_, promo, err = fs.CancelSignup(ctx, d.ID, 4, later.Add(3*time.Hour), ttl)
		if err != nil || promo != nil {
			t.Fatalf("CancelSignup(d) = %+v, %v, want no promotion", promo, err)
		}
		fair, err := fs.FairByID(ctx, f.ID)
		if err != nil || fair.SeatsTaken != 0 || fair.Positions[0].SeatsTaken != 0 {
			t.Fatalf("FairByID() seats = %d/%d, %v, want 0/0", fair.SeatsTaken, fair.Positions[0].SeatsTaken, err)
		}
		// Who cancelled (a) or let an offer lapse (b) may sign up again, once.
		for _, s := range []model.Signup{a, b} {
			again := mustSignUp(t, fs, f, 0, s.UserID)
			if again.ID == s.ID || again.Status == model.SignupCancelled {
				t.Fatalf("signing up again after %d = %+v, want a new signup", s.ID, again)
			}
			if _, _, err := fs.SignUp(ctx, model.Signup{FairID: f.ID, PositionID: f.Positions[0].ID, UserID: s.UserID, Name: "王芳", PhoneSealed: "x"},
				now, ttl); !errors.Is(err, model.ErrConflict) {
				t.Fatalf("a second active signup = %v, want %v", err, model.ErrConflict)
			}
		}
	})
}

// The line counter gives the place a signup had when it joined, and agrees
// with the counted place through departures, a Redis flush and expiry.
func TestLineCounterPlaces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		lines, mr := newLines(t)
		fs := store.NewFairs(db).WithLine(lines)
		ctx := context.Background()
		now := fairT0.Add(-48 * time.Hour)
		const ttl = 24 * time.Hour
		f := mustFair(t, fs, 1, 1)
		a := mustSignUp(t, fs, f, 0, 1) // confirmed
		var line []model.Signup
		for u := int64(2); u <= 4; u++ {
			line = append(line, mustSignUp(t, fs, f, 0, u))
		}
		for i, s := range line {
			if s.WaitlistPosition != i+1 {
				t.Fatalf("signup of user %d place = %d, want %d", s.UserID, s.WaitlistPosition, i+1)
			}
		}
		// Someone in the middle leaves; the head is promoted: two fewer in line.
		if _, _, err := fs.CancelSignup(ctx, line[1].ID, line[1].UserID, now, ttl); err != nil {
			t.Fatalf("CancelSignup(waitlisted) = %v", err)
		}
		if _, promo, err := fs.CancelSignup(ctx, a.ID, a.UserID, now, ttl); err != nil || promo == nil {
			t.Fatalf("CancelSignup(confirmed) = %+v, %v, want a promotion", promo, err)
		}
		if s := mustSignUp(t, fs, f, 0, 5); s.WaitlistPosition != 2 {
			t.Fatalf("place after two left = %d, want 2 (user 4, then 5)", s.WaitlistPosition)
		}
		// Redis loses everything: the next signup counts the line.
		mr.FlushAll()
		if s := mustSignUp(t, fs, f, 0, 6); s.WaitlistPosition != 3 {
			t.Fatalf("place after a flush = %d, want 3", s.WaitlistPosition)
		}
		if s := mustSignUp(t, fs, f, 0, 7); s.WaitlistPosition != 4 {
			t.Fatalf("place after the rebuild = %d, want 4", s.WaitlistPosition)
		}
		// A drifted counter is corrected when its key expires.
		if err := lines.Leave(ctx, f.ID, 3); err != nil {
			t.Fatal(err)
		}
		mr.FastForward(2 * time.Minute)
		if s := mustSignUp(t, fs, f, 0, 8); s.WaitlistPosition != 5 {
			t.Fatalf("place after expiry = %d, want 5", s.WaitlistPosition)
		}
	})
}

func TestUpcomingFairs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fs := store.NewFairs(db)
		f := mustFair(t, fs, 10, 4)
		got, err := fs.UpcomingFairs(context.Background(), fairT0, 10)
		if err != nil || len(got) != 1 || got[0].ID != f.ID || len(got[0].Positions) != 1 {
			t.Fatalf("UpcomingFairs(start) = %+v, %v, want the fair with its position", got, err)
		}
		got, err = fs.UpcomingFairs(context.Background(), fairT0.Add(7*time.Hour), 10)
		if err != nil || len(got) != 0 {
			t.Fatalf("UpcomingFairs(after end) = %+v, %v, want none", got, err)
		}
	})
}

func TestCheckInAndFigures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fs := store.NewFairs(db)
		ctx := context.Background()
		f := mustFair(t, fs, 3, 3)
		a := mustSignUp(t, fs, f, 0, 1)
		b := mustSignUp(t, fs, f, 0, 2)
		mustSignUp(t, fs, f, 0, 3) // a no-show
		w := mustSignUp(t, fs, f, 0, 4)
		at := fairT0.Add(time.Hour)
		tests := []struct {
			id       int64
			wantCode string
		}{
			{id: a.ID},
			{id: a.ID, wantCode: "already_checked_in"},
			{id: b.ID},
			{id: w.ID, wantCode: "not_confirmed"},
		}
		for _, tt := range tests {
			_, err := fs.CheckIn(ctx, tt.id, at)
			var me *model.Error
			switch {
			case tt.wantCode == "" && err != nil:
				t.Fatalf("CheckIn(%d) = %v, want nil", tt.id, err)
			case tt.wantCode != "" && (!errors.As(err, &me) || me.Code != tt.wantCode):
				t.Fatalf("CheckIn(%d) = %v, want %s", tt.id, err, tt.wantCode)
			}
		}
		if _, err := fs.RecordPlacement(ctx, a.ID, 7, at); err != nil {
			t.Fatalf("RecordPlacement(a) = %v", err)
		}
		if _, err := fs.RecordPlacement(ctx, w.ID, 7, at); !errors.Is(err, model.ErrConflict) {
			t.Fatalf("RecordPlacement(waitlisted) = %v, want %v", err, model.ErrConflict)
		}
		got, err := fs.Figures(ctx, fairT0.Add(-24*time.Hour), fairT0.Add(24*time.Hour))
		if err != nil {
			t.Fatalf("Figures() = %v", err)
		}
		want := store.FairFigures{FairsHeld: 1, Signups: 4, Confirmed: 3, Attended: 2, NoShows: 1, Placements: 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Figures() (-want +got):\n%s", diff)
		}
		mine, err := fs.SignupsByUser(ctx, 4)
		if err != nil || len(mine) != 1 || mine[0].WaitlistPosition != 1 {
			t.Fatalf("SignupsByUser(4) = %+v, %v, want one waitlisted first in line", mine, err)
		}
		soon, err := fs.FairsStartingBetween(ctx, fairT0.Add(-time.Hour), fairT0.Add(time.Hour))
		if err != nil || len(soon) != 1 {
			t.Fatalf("FairsStartingBetween() = %+v, %v, want the fair", soon, err)
		}
	})
}

func TestFillFreeSeats(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fs := store.NewFairs(db)
		ctx := context.Background()
		now := fairT0.Add(-48 * time.Hour)
		f := mustFair(t, fs, 2, 2)
		a := mustSignUp(t, fs, f, 0, 1)
		mustSignUp(t, fs, f, 0, 2)
		c := mustSignUp(t, fs, f, 0, 3)
		// The race SignUp repairs: a seat freed while nobody was seen waiting.
		g := store.GormForTest(db)
		if err := g.Exec("UPDATE fair_signups SET status = 'cancelled' WHERE id = ?", a.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := g.Exec("UPDATE fair_positions SET seats_taken = seats_taken - 1").Error; err != nil {
			t.Fatal(err)
		}
		if err := g.Exec("UPDATE fairs SET seats_taken = seats_taken - 1").Error; err != nil {
			t.Fatal(err)
		}
		ps, err := fs.FillFreeSeats(ctx, now, time.Hour)
		if err != nil || len(ps) != 1 || ps[0].Signup.ID != c.ID || ps[0].Signup.Status != model.SignupOffered {
			t.Fatalf("FillFreeSeats() = %+v, %v, want c offered", ps, err)
		}
		if ps, err := fs.FillFreeSeats(ctx, now, time.Hour); err != nil || len(ps) != 0 {
			t.Fatalf("FillFreeSeats(again) = %+v, %v, want none", ps, err)
		}
		// A waitlisted signup first in line while a seat is free is offered it at once.
		d := mustSignUp(t, fs, f, 0, 4)
		if err := g.Exec("UPDATE fair_signups SET status = 'cancelled' WHERE id = ?", c.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := g.Exec("UPDATE fair_positions SET seats_taken = seats_taken - 1").Error; err != nil {
			t.Fatal(err)
		}
		if err := g.Exec("UPDATE fairs SET seats_taken = seats_taken - 1").Error; err != nil {
			t.Fatal(err)
		}
		if err := g.Exec("UPDATE fair_signups SET status = 'cancelled' WHERE id = ?", d.ID).Error; err != nil {
			t.Fatal(err)
		}
		e, promo, err := fs.SignUp(ctx, model.Signup{FairID: f.ID, PositionID: f.Positions[0].ID, UserID: 5, Name: "x", PhoneSealed: "x"}, now, time.Hour)
		if err != nil {
			t.Fatalf("SignUp(e) = %v", err)
		}
		if e.Status != model.SignupConfirmed && (promo == nil || promo.Signup.ID != e.ID) {
			t.Fatalf("SignUp(e) = %v, %+v, want a seat", e.Status, promo)
		}
	})
}

// TestMigrateFairsResignup: step 0011 turns a database of step 0006, with
// a cancelled signup in it, into one where that person can sign up again.
func TestMigrateFairsResignup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		fs := store.NewFairs(db)
		f := mustFair(t, fs, 10, 10)
		s := mustSignUp(t, fs, f, 0, 1)
		g := store.GormForTest(db)
		// Back to the shape of step 0006, the signup cancelled then.
		dropIndex := "DROP INDEX ux_fair_signups_active"
		if g.Dialector.Name() == "mysql" {
			dropIndex += " ON fair_signups"
		}
		for _, step := range []func() error{
			func() error { return g.Exec(dropIndex).Error },
			func() error { return g.Exec("ALTER TABLE fair_signups DROP COLUMN retired").Error },
			func() error {
				return g.Exec("CREATE UNIQUE INDEX ux_fair_signups_user ON fair_signups (fair_id, user_id)").Error
			},
			func() error {
				return g.Exec("UPDATE fair_signups SET status = ? WHERE id = ?", string(model.SignupCancelled), s.ID).Error
			},
			func() error { return g.Exec("DELETE FROM schema_migrations WHERE id = ?", "0011_fairs_resignup").Error },
		} {
			if err := step(); err != nil {
				t.Fatalf("setting up step 0006's shape: %v", err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate() = %v", err)
		}
		if again := mustSignUp(t, fs, f, 0, 1); again.ID == s.ID {
			t.Fatalf("signing up again = %+v, want a new signup", again)
		}
		if _, _, err := fs.SignUp(ctx, model.Signup{FairID: f.ID, PositionID: f.Positions[0].ID, UserID: 1, Name: "王芳", PhoneSealed: "x"},
			fairT0.Add(-48*time.Hour), time.Hour); !errors.Is(err, model.ErrConflict) {
			t.Fatalf("a second active signup = %v, want %v", err, model.ErrConflict)
		}
	})
}
