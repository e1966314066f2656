package cases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"wanjia/model"
)

// StationKinds are the kinds of service station.
var StationKinds = []string{"law_firm", "counselling", "legal_aid", "shelter", "other"}

// Limits of a station.
const (
	maxStationName   = 64
	maxStationList   = 50
	maxStationPhone  = 32
	maxStationAddr   = 128
	maxStationCap    = 100000
	maxStationDuties = 20
)

// StationInput is a station to create, or the fields of a change (nil:
// unchanged).
type StationInput struct {
	Name         *string
	Kind         *string
	Categories   *[]model.CaseCategory
	Districts    *[]string
	Capacity     *int
	DutyStaffIDs *[]int64
	Phone        *string
	Address      *string
	Active       *bool
}

// apply writes the set fields of in over st and returns the problems.
func (in StationInput) apply(st *model.Station) map[string]string {
	bad := map[string]string{}
	if in.Name != nil {
		st.Name = strings.TrimSpace(*in.Name)
	}
	if p := textProblem(st.Name, 1, maxStationName); p != "" || strings.ContainsAny(st.Name, "\n\r") {
		bad["name"] = fmt.Sprintf("须为 1–%d 个字", maxStationName)
	}
	if in.Kind != nil {
		st.Kind = *in.Kind
	}
	if !slices.Contains(StationKinds, st.Kind) {
		bad["kind"] = "须为 " + strings.Join(StationKinds, "、")
	}
	if in.Categories != nil {
		st.Categories = slices.Clone(*in.Categories)
		slices.Sort(st.Categories)
		st.Categories = slices.Compact(st.Categories)
	}
	for _, c := range st.Categories {
		if !c.Valid() {
			bad["categories"] = "包含未知的类别"
		}
	}
	if in.Districts != nil {
		st.Districts = nil
		for _, d := range *in.Districts {
			if d = strings.TrimSpace(d); d != "" && !slices.Contains(st.Districts, d) {
				st.Districts = append(st.Districts, d)
			}
		}
	}
	if len(st.Districts) > maxStationList {
		bad["districts"] = fmt.Sprintf("最多 %d 个", maxStationList)
	}
	for _, d := range st.Districts {
		if p := districtProblem(d); p != "" {
			bad["districts"] = p
		}
	}
	if in.Capacity != nil {
		st.Capacity = *in.Capacity
	}
	if st.Capacity < 0 || st.Capacity > maxStationCap {
		bad["capacity"] = "须为 0–100000（0 表示不限）"
	}
	if in.DutyStaffIDs != nil {
		st.DutyStaffIDs = slices.Clone(*in.DutyStaffIDs)
		slices.Sort(st.DutyStaffIDs)
		st.DutyStaffIDs = slices.Compact(st.DutyStaffIDs)
	}
	if len(st.DutyStaffIDs) > maxStationDuties {
		bad["duty_staff_ids"] = fmt.Sprintf("最多 %d 人", maxStationDuties)
	}
	if in.Phone != nil {
		st.Phone = strings.TrimSpace(*in.Phone)
	}
	if st.Phone != "" && (len(st.Phone) > maxStationPhone || !validPhone(st.Phone) && !strings.HasPrefix(st.Phone, "12338")) {
		bad["phone"] = "电话号码格式不正确"
	}
	if in.Address != nil {
		st.Address = strings.TrimSpace(*in.Address)
	}
	if p := textProblem(st.Address, 0, maxStationAddr); p != "" {
		bad["address"] = p
	}
	if in.Active != nil {
		st.Active = *in.Active
	}
	return bad
}

// checkDutyStaff returns a problem when a duty staff id is not an enabled
// staff member.
func (s *Service) checkDutyStaff(ctx context.Context, ids []int64) (string, error) {
	for _, id := range ids {
		st, err := s.staff.StaffByID(ctx, id)
		switch {
		case errors.Is(err, model.ErrNotFound), err == nil && st.Disabled:
			return fmt.Sprintf("员工 %d 不存在或已停用", id), nil
		case err != nil:
			return "", err
		}
	}
	return "", nil
}

// CreateStation creates a station (admins; audited). It is active unless
// Active says otherwise.
func (s *Service) CreateStation(ctx context.Context, in StationInput) (model.Station, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return model.Station{}, err
	}
	st := model.Station{Active: true}
	bad := in.apply(&st)
	if msg, err := s.checkDutyStaff(ctx, st.DutyStaffIDs); err != nil {
		return model.Station{}, err
	} else if msg != "" {
		bad["duty_staff_ids"] = msg
	}
	if err := model.Invalid(bad); err != nil {
		return model.Station{}, err
	}
	out, err := s.store.CreateStation(ctx, st)
	if err != nil {
		return model.Station{}, err
	}
	s.record(ctx, "station.create", "station", fmt.Sprint(out.ID), nil, stationAudit(out))
	return out, nil
}

// UpdateStation changes a station (admins; audited).
func (s *Service) UpdateStation(ctx context.Context, id int64, in StationInput) (model.Station, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return model.Station{}, err
	}
	before, err := s.store.StationByID(ctx, id)
	if err != nil {
		return model.Station{}, err
	}
	st := before
	bad := in.apply(&st)
	if in.DutyStaffIDs != nil {
		if msg, err := s.checkDutyStaff(ctx, st.DutyStaffIDs); err != nil {
			return model.Station{}, err
		} else if msg != "" {
			bad["duty_staff_ids"] = msg
		}
	}
	if err := model.Invalid(bad); err != nil {
		return model.Station{}, err
	}
	out, err := s.store.UpdateStation(ctx, st)
	if err != nil {
		return model.Station{}, err
	}
	s.record(ctx, "station.update", "station", fmt.Sprint(id), stationAudit(before), stationAudit(out))
	return out, nil
}

// DeactivateStation stops a station from taking cases (admins; audited):
// stations are never deleted, their cases keep pointing at them.
func (s *Service) DeactivateStation(ctx context.Context, id int64) (model.Station, error) {
	off := false
	return s.UpdateStation(ctx, id, StationInput{Active: &off})
}

func stationAudit(st model.Station) map[string]any {
	return map[string]any{"name": st.Name, "kind": st.Kind, "categories": st.Categories, "districts": st.Districts,
		"capacity": st.Capacity, "duty_staff_ids": st.DutyStaffIDs, "active": st.Active}
}

// StationLoad is a station with its open cases.
type StationLoad struct {
	Station model.Station
	Load    int
}

// Stations lists the stations with their loads (caseworkers and admins).
func (s *Service) Stations(ctx context.Context, activeOnly bool) ([]StationLoad, error) {
	if _, err := requireCaseworker(ctx); err != nil {
		return nil, err
	}
	sts, err := s.store.Stations(ctx, activeOnly)
	if err != nil {
		return nil, err
	}
	loads, err := s.store.StationLoads(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]StationLoad, len(sts))
	for i, st := range sts {
		out[i] = StationLoad{Station: st, Load: loads[st.ID]}
	}
	return out, nil
}

// Suggestion is a station routing proposes for a case.
type Suggestion struct {
	Station       model.Station
	Load          int  // open cases now
	Full          bool // at capacity: assigning is refused
	DistrictMatch bool // the station lists her district (not only city-wide)
	CategoryMatch bool // the station lists her category (not only every category)
}

// suggest ranks the active stations that cover the case's category and
// district: stations with room first, then those that name her district,
// then those that name her category, then the lowest load relative to
// capacity, then the oldest.
func (s *Service) suggest(ctx context.Context, c model.Case) ([]Suggestion, error) {
	sts, err := s.store.Stations(ctx, true)
	if err != nil {
		return nil, err
	}
	loads, err := s.store.StationLoads(ctx)
	if err != nil {
		return nil, err
	}
	var out []Suggestion
	for _, st := range sts {
		if !st.Covers(c.Category, c.District) {
			continue
		}
		l := loads[st.ID]
		out = append(out, Suggestion{Station: st, Load: l, Full: st.Capacity > 0 && l >= st.Capacity,
			DistrictMatch: c.District != "" && slices.Contains(st.Districts, c.District),
			CategoryMatch: slices.Contains(st.Categories, c.Category)})
	}
	ratio := func(x Suggestion) float64 {
		if x.Station.Capacity <= 0 {
			return float64(x.Load) / 1000
		}
		return float64(x.Load) / float64(x.Station.Capacity)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Full != b.Full:
			return !a.Full
		case a.DistrictMatch != b.DistrictMatch:
			return a.DistrictMatch
		case a.CategoryMatch != b.CategoryMatch:
			return a.CategoryMatch
		case ratio(a) != ratio(b):
			return ratio(a) < ratio(b)
		}
		return a.Station.ID < b.Station.ID
	})
	if out == nil {
		out = []Suggestion{}
	}
	return out, nil
}

// Route suggests stations for a case in scope, best first.
func (s *Service) Route(ctx context.Context, no string) ([]Suggestion, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.staffCase(ctx, p, no)
	if err != nil {
		return nil, err
	}
	return s.suggest(ctx, c)
}
