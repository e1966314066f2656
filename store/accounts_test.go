package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

func TestUpsertUserByOpenIDRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		users := store.NewUsers(db)
		ctx := context.Background()
		const n = 20
		ids := make([]int64, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				u, err := users.UpsertUserByOpenID(ctx, "oRace_AbC123", "")
				ids[i], errs[i] = u.ID, err
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("UpsertUserByOpenID() #%d = %v", i, err)
			}
			if ids[i] != ids[0] || ids[i] == 0 {
				t.Fatalf("UpsertUserByOpenID() ids = %v, want one id", ids)
			}
		}
		var rows int64
		store.GormForTest(db).Table("users").Where("openid = ?", "oRace_AbC123").Count(&rows)
		if rows != 1 {
			t.Fatalf("rows for one openid after %d concurrent upserts = %d, want 1", n, rows)
		}
	})
}

func TestUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		users := store.NewUsers(db)
		ctx := context.Background()
		a, err := users.UpsertUserByOpenID(ctx, "oCase", "")
		if err != nil {
			t.Fatal(err)
		}
		// openids are case-sensitive on every dialect (MySQL's default
		// collation is not).
		b, err := users.UpsertUserByOpenID(ctx, "ocase", "")
		if err != nil {
			t.Fatal(err)
		}
		if a.ID == b.ID {
			t.Fatalf("UpsertUserByOpenID(oCase) and (ocase) = same id %d, want two users", a.ID)
		}
		// A later login with a unionid records it; an empty one keeps it.
		got, err := users.UpsertUserByOpenID(ctx, "oCase", "uUnion")
		if err != nil || got.ID != a.ID || got.UnionID != "uUnion" {
			t.Fatalf("UpsertUserByOpenID(oCase, uUnion) = %+v, %v, want id %d with the unionid", got, err, a.ID)
		}
		got, err = users.UpsertUserByOpenID(ctx, "oCase", "")
		if err != nil || got.UnionID != "uUnion" {
			t.Fatalf("UpsertUserByOpenID(oCase, \"\") = %+v, %v, want the unionid kept", got, err)
		}
		if _, err := users.UpsertUserByOpenID(ctx, "", ""); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("UpsertUserByOpenID(\"\") = %v, want ErrInvalid", err)
		}

		got, err = users.UpdateUserProfile(ctx, a.ID, "李娜", "https://img.example.org/a.png")
		if err != nil {
			t.Fatalf("UpdateUserProfile() = %v", err)
		}
		// The same values again are no error (MySQL reports 0 changed rows).
		if _, err := users.UpdateUserProfile(ctx, a.ID, "李娜", "https://img.example.org/a.png"); err != nil {
			t.Fatalf("UpdateUserProfile(same values) = %v", err)
		}
		if got.Nickname != "李娜" || got.AvatarURL != "https://img.example.org/a.png" || got.HasPhone {
			t.Errorf("UpdateUserProfile() = %+v", got)
		}
		if err := users.SetUserPhone(ctx, a.ID, "v1.sealed", "idx"); err != nil {
			t.Fatalf("SetUserPhone() = %v", err)
		}
		got, err = users.UserByID(ctx, a.ID)
		if err != nil || !got.HasPhone || got.PhoneSealed != "v1.sealed" || got.PhoneIndex != "idx" {
			t.Errorf("UserByID() after SetUserPhone = %+v, %v", got, err)
		}
		if _, err := users.UserByID(ctx, 999999); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("UserByID(missing) = %v, want ErrNotFound", err)
		}
		if _, err := users.UpdateUserProfile(ctx, 999999, "x", ""); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("UpdateUserProfile(missing) = %v, want ErrNotFound", err)
		}
		if err := users.SetUserPhone(ctx, 999999, "x", "y"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("SetUserPhone(missing) = %v, want ErrNotFound", err)
		}
	})
}

func mustCreateStaff(tb testing.TB, st *store.Staff, username string, roles ...model.Role) model.Staff {
	tb.Helper()
	s, err := st.CreateStaff(context.Background(), model.Staff{
		Username: username, DisplayName: "员工 " + username, PasswordHash: "$2a$04$hash", Roles: roles,
	})
	if err != nil {
		tb.Fatalf("CreateStaff(%s) = %v", username, err)
	}
	return s
}

var ignoreTimes = cmpopts.IgnoreFields(model.Staff{}, "CreatedAt", "UpdatedAt")

func TestStaff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := store.NewStaff(db)
		ctx := context.Background()
		a := mustCreateStaff(t, st, "wang.fang", model.RoleEditor, model.RoleReviewer)
		want := model.Staff{ID: a.ID, Username: "wang.fang", DisplayName: "员工 wang.fang", PasswordHash: "$2a$04$hash",
			Roles: []model.Role{model.RoleEditor, model.RoleReviewer}}
		if diff := cmp.Diff(want, a, ignoreTimes); diff != "" {
			t.Errorf("CreateStaff() (-want +got):\n%s", diff)
		}
		if a.CreatedAt.IsZero() {
			t.Error("CreateStaff() CreatedAt is zero")
		}
		_, err := st.CreateStaff(ctx, model.Staff{Username: "wang.fang", PasswordHash: "x"})
		var me *model.Error
		if !errors.Is(err, model.ErrConflict) || !errors.As(err, &me) || me.Code != "username_taken" {
			t.Fatalf("CreateStaff(duplicate) = %v, want ErrConflict username_taken", err)
		}
		got, err := st.StaffByUsername(ctx, "wang.fang")
		if err != nil || got.ID != a.ID {
			t.Fatalf("StaffByUsername() = %+v, %v", got, err)
		}
		if _, err := st.StaffByUsername(ctx, "nobody"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("StaffByUsername(missing) = %v, want ErrNotFound", err)
		}

		a.Roles = []model.Role{model.RoleCaseworker}
		a.StationID, a.District, a.Disabled, a.DisplayName = 7, "和平区", true, "王芳"
		a.PasswordHash = "must not be written by UpdateStaff"
		got, err = st.UpdateStaff(ctx, a)
		if err != nil {
			t.Fatalf("UpdateStaff() = %v", err)
		}
		want = model.Staff{ID: a.ID, Username: "wang.fang", DisplayName: "王芳", PasswordHash: "$2a$04$hash",
			Roles: []model.Role{model.RoleCaseworker}, StationID: 7, District: "和平区", Disabled: true}
		if diff := cmp.Diff(want, got, ignoreTimes); diff != "" {
			t.Errorf("UpdateStaff() (-want +got):\n%s", diff)
		}
		if _, err := st.UpdateStaff(ctx, model.Staff{ID: 999999}); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("UpdateStaff(missing) = %v, want ErrNotFound", err)
		}
		if err := st.SetStaffPassword(ctx, a.ID, "$2a$04$new", true); err != nil {
			t.Fatalf("SetStaffPassword() = %v", err)
		}
		got, _ = st.StaffByID(ctx, a.ID)
		if got.PasswordHash != "$2a$04$new" || !got.MustChangePassword {
			t.Errorf("after SetStaffPassword: %+v", got)
		}
	})
}

func TestListStaffPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := store.NewStaff(db)
		ctx := context.Background()
		var want []string
		for i := range 5 {
			name := fmt.Sprintf("user%d", i)
			mustCreateStaff(t, st, name, model.RoleEditor)
			want = append(want, name)
		}
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("ListStaff() never ends")
			}
			items, next, err := st.ListStaff(ctx, model.Page{Cursor: cursor, Limit: 2})
			if err != nil {
				t.Fatalf("ListStaff(%q) = %v", cursor, err)
			}
			if len(items) > 2 {
				t.Fatalf("ListStaff(limit 2) = %d items", len(items))
			}
			for _, s := range items {
				got = append(got, s.Username)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListStaff() pages (-want +got):\n%s", diff)
		}
		for _, c := range []string{"!!", "bm9wZQ", "LTE"} {
			if _, _, err := st.ListStaff(ctx, model.Page{Cursor: c}); !errors.Is(err, model.ErrInvalid) {
				t.Errorf("ListStaff(cursor %q) = %v, want ErrInvalid", c, err)
			}
		}
	})
}

func TestStaffLoginFailedLocks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := store.NewStaff(db)
		ctx := context.Background()
		a := mustCreateStaff(t, st, "locky", model.RoleEditor)
		lockUntil := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		for i := 1; i <= 2; i++ {
			got, err := st.StaffLoginFailed(ctx, a.ID, 3, lockUntil)
			if err != nil || got.FailedLogins != i || !got.LockedUntil.IsZero() {
				t.Fatalf("StaffLoginFailed() #%d = %d failures, locked %v, %v; want %d, unlocked", i, got.FailedLogins, got.LockedUntil, err, i)
			}
		}
		got, err := st.StaffLoginFailed(ctx, a.ID, 3, lockUntil)
		if err != nil || got.FailedLogins != 0 || !got.LockedUntil.Equal(lockUntil) {
			t.Fatalf("StaffLoginFailed() #3 = %d failures, locked %v, %v; want 0, locked until %v", got.FailedLogins, got.LockedUntil, err, lockUntil)
		}
		at := time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)
		if err := st.StaffLoginSucceeded(ctx, a.ID, at); err != nil {
			t.Fatal(err)
		}
		got, _ = st.StaffByID(ctx, a.ID)
		if got.FailedLogins != 0 || !got.LockedUntil.IsZero() || !got.LastLoginAt.Equal(at) {
			t.Errorf("after StaffLoginSucceeded: %d failures, locked %v, last login %v", got.FailedLogins, got.LockedUntil, got.LastLoginAt)
		}
		// Concurrent failures lose no increment.
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := st.StaffLoginFailed(ctx, a.ID, 100, lockUntil); err != nil {
					t.Errorf("StaffLoginFailed() = %v", err)
				}
			}()
		}
		wg.Wait()
		got, _ = st.StaffByID(ctx, a.ID)
		if got.FailedLogins != 6 {
			t.Errorf("failures after 6 concurrent StaffLoginFailed = %d, want 6", got.FailedLogins)
		}
		if _, err := st.StaffLoginFailed(ctx, 999999, 3, lockUntil); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("StaffLoginFailed(missing) = %v, want ErrNotFound", err)
		}
	})
}

func TestLoginAttempts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := store.NewStaff(db)
		ctx := context.Background()
		at := time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC)
		attempts := []model.LoginAttempt{
			{StaffID: 1, Username: "a", IP: "192.0.2.1", Outcome: model.LoginBadPassword, At: at},
			{StaffID: 0, IP: "192.0.2.2", Outcome: model.LoginUnknownUser, At: at.Add(time.Second)},
			{StaffID: 1, Username: "a", IP: "2001:db8::1", Outcome: model.LoginOK, At: at.Add(2 * time.Second)},
		}
		for _, a := range attempts {
			if err := st.AddLoginAttempt(ctx, a); err != nil {
				t.Fatalf("AddLoginAttempt() = %v", err)
			}
		}
		got, next, err := st.ListLoginAttempts(ctx, model.LoginFilter{StaffID: 1}, model.Page{})
		if err != nil || next != "" {
			t.Fatalf("ListLoginAttempts() = %v, %q", err, next)
		}
		want := []model.LoginAttempt{attempts[2], attempts[0]}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(model.LoginAttempt{}, "ID")); diff != "" {
			t.Errorf("ListLoginAttempts(staff 1) (-want +got):\n%s", diff)
		}
		got, _, _ = st.ListLoginAttempts(ctx, model.LoginFilter{Outcome: model.LoginUnknownUser}, model.Page{})
		if len(got) != 1 || got[0].IP != "192.0.2.2" {
			t.Errorf("ListLoginAttempts(unknown_user) = %+v", got)
		}
		got, next, _ = st.ListLoginAttempts(ctx, model.LoginFilter{}, model.Page{Limit: 2})
		if len(got) != 2 || next == "" {
			t.Fatalf("ListLoginAttempts(limit 2) = %d items, next %q", len(got), next)
		}
		rest, next2, _ := st.ListLoginAttempts(ctx, model.LoginFilter{}, model.Page{Limit: 2, Cursor: next})
		if len(rest) != 1 || next2 != "" || rest[0].IP != "192.0.2.1" {
			t.Errorf("ListLoginAttempts(page 2) = %+v, %q", rest, next2)
		}
	})
}

func TestAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		au := store.NewAudit(db)
		ctx := context.Background()
		at := time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC)
		entries := []model.AuditEntry{
			{StaffID: 1, Username: "admin", Action: "staff.create", TargetType: "staff", TargetID: "2",
				Summary: json.RawMessage(`{"after":{"username":"li"}}`), IP: "192.0.2.1", RequestID: "r1", At: at},
			{StaffID: 1, Username: "admin", Action: "staff.update", TargetType: "staff", TargetID: "2",
				Summary: json.RawMessage(`{"after":{"roles":["editor"]},"before":{"roles":[]}}`), At: at.Add(time.Second)},
			{StaffID: 0, Username: "cli", Action: "staff.create", TargetType: "staff", TargetID: "3", At: at.Add(2 * time.Second)},
		}
		for _, e := range entries {
			if err := au.AppendAudit(ctx, e); err != nil {
				t.Fatalf("AppendAudit() = %v", err)
			}
		}
		tests := []struct {
			name string
			f    model.AuditFilter
			want []int // indexes into entries, newest first
		}{
			{"all", model.AuditFilter{}, []int{2, 1, 0}},
			{"staff", model.AuditFilter{StaffID: 1}, []int{1, 0}},
			{"action", model.AuditFilter{Action: "staff.create"}, []int{2, 0}},
			{"target", model.AuditFilter{TargetType: "staff", TargetID: "2"}, []int{1, 0}},
			{"none", model.AuditFilter{Action: "nope"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, _, err := au.ListAudit(ctx, tt.f, model.Page{})
				if err != nil {
					t.Fatalf("ListAudit(%+v) = %v", tt.f, err)
				}
				var want []model.AuditEntry
				for _, i := range tt.want {
					e := entries[i]
					if e.Summary == nil {
						e.Summary = json.RawMessage(`{}`)
					}
					want = append(want, e)
				}
				opts := []cmp.Option{cmpopts.IgnoreFields(model.AuditEntry{}, "ID", "Summary"), cmpopts.EquateEmpty()}
				if diff := cmp.Diff(want, got, opts...); diff != "" {
					t.Errorf("ListAudit(%+v) (-want +got):\n%s", tt.f, diff)
				}
				for i := range got {
					if !jsonEqual(t, want[i].Summary, got[i].Summary) {
						t.Errorf("ListAudit() summary = %s, want %s", got[i].Summary, want[i].Summary)
					}
				}
			})
		}
		first, next, err := au.ListAudit(ctx, model.AuditFilter{}, model.Page{Limit: 1})
		if err != nil || len(first) != 1 || next == "" {
			t.Fatalf("ListAudit(limit 1) = %d, %q, %v", len(first), next, err)
		}
		second, _, _ := au.ListAudit(ctx, model.AuditFilter{}, model.Page{Limit: 1, Cursor: next})
		if len(second) != 1 || second[0].ID >= first[0].ID {
			t.Errorf("ListAudit(page 2) = %+v after id %d", second, first[0].ID)
		}
	})
}

func jsonEqual(tb testing.TB, a, b json.RawMessage) bool {
	tb.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		tb.Fatalf("json %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		tb.Fatalf("json %s: %v", b, err)
	}
	return cmp.Equal(x, y)
}

// FuzzDecodeCursor feeds arbitrary ?cursor= values: each decodes to a
// positive id that round-trips, or is ErrInvalid.
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{"", store.EncodeCursorForTest(1), store.EncodeCursorForTest(1 << 62), "!!", "LTE", "MA", "bm9wZQ", "=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := store.DecodeCursorForTest(s)
		switch {
		case err != nil:
			if !errors.Is(err, model.ErrInvalid) {
				t.Fatalf("DecodeCursor(%q) = %v, want ErrInvalid", s, err)
			}
		case s == "":
			if id != 0 {
				t.Fatalf("DecodeCursor(\"\") = %d, want 0", id)
			}
		case id <= 0:
			t.Fatalf("DecodeCursor(%q) = %d, want a positive id", s, id)
		}
	})
}
