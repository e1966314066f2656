package model_test

import (
	"context"
	"testing"
	"time"

	"wanjia/model"
)

func TestHasRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		have, want []model.Role
		ok         bool
	}{
		{[]model.Role{model.RoleEditor}, []model.Role{model.RoleEditor}, true},
		{[]model.Role{model.RoleEditor}, []model.Role{model.RoleReviewer}, false},
		{[]model.Role{model.RoleEditor}, []model.Role{model.RoleReviewer, model.RoleEditor}, true},
		{[]model.Role{model.RoleAdmin}, []model.Role{model.RoleCaseworker}, true},
		{nil, []model.Role{model.RoleEditor}, false},
		{nil, nil, true},
	}
	for _, tt := range tests {
		if got := (model.Staff{Roles: tt.have}).HasRole(tt.want...); got != tt.ok {
			t.Errorf("Staff{%v}.HasRole(%v) = %v, want %v", tt.have, tt.want, got, tt.ok)
		}
		p := model.Principal{Kind: model.SessionStaff, Roles: tt.have}
		if got := p.HasRole(tt.want...); got != tt.ok {
			t.Errorf("Principal{%v}.HasRole(%v) = %v, want %v", tt.have, tt.want, got, tt.ok)
		}
	}
	if (model.Principal{Kind: model.SessionMP}).HasRole() {
		t.Error("a Mini Program principal HasRole() = true, want false")
	}
	if !model.RoleFairManager.Valid() || model.Role("root").Valid() {
		t.Error("Role.Valid() is wrong")
	}
}

func TestPageSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ limit, want int }{{0, 20}, {-5, 20}, {1, 1}, {100, 100}, {101, 100}} {
		if got := (model.Page{Limit: tt.limit}).Size(); got != tt.want {
			t.Errorf("Page{Limit: %d}.Size() = %d, want %d", tt.limit, got, tt.want)
		}
	}
}

func TestContextCarriers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, ok := model.PrincipalFrom(ctx); ok {
		t.Error("PrincipalFrom(empty ctx) = ok")
	}
	ctx = model.WithPrincipal(ctx, model.Principal{Kind: model.SessionMP, SubjectID: 3})
	if _, ok := model.StaffFrom(ctx); ok {
		t.Error("StaffFrom(mp principal) = ok, want false")
	}
	ctx = model.WithPrincipal(ctx, model.Principal{Kind: model.SessionStaff, SubjectID: 4})
	if p, ok := model.StaffFrom(ctx); !ok || p.SubjectID != 4 {
		t.Errorf("StaffFrom() = %+v, %v", p, ok)
	}
	ctx = model.WithRequestInfo(ctx, model.RequestInfo{IP: "192.0.2.1", RequestID: "r"})
	if ri := model.RequestInfoFrom(ctx); ri.IP != "192.0.2.1" || ri.RequestID != "r" {
		t.Errorf("RequestInfoFrom() = %+v", ri)
	}
	now := time.Now()
	if !(model.Staff{LockedUntil: now.Add(time.Second)}).Locked(now) || (model.Staff{LockedUntil: now}).Locked(now) {
		t.Error("Staff.Locked() is wrong at the edge")
	}
}
