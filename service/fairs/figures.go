package fairs

import (
	"context"
	"time"

	"wanjia/model"
)

var _ model.FigureSource = (*Service)(nil)

// FigureSection reports the job fairs' figures of [from, to) for the staff
// workspace, which decides who may read them (no role is checked here,
// unlike Figures).
func (s *Service) FigureSection(ctx context.Context, from, to time.Time) (model.FigureSection, error) {
	f, err := s.store.Figures(ctx, from, to)
	if err != nil {
		return model.FigureSection{}, err
	}
	return model.FigureSection{Area: "fairs", Title: "女性就业", Figures: []model.Figure{
		{Key: model.FigFairsHeld, Name: "举办招聘会", Value: float64(f.FairsHeld), Unit: "场",
			Definition: "期内结束的招聘会场次（线上、线下）"},
		{Key: model.FigSignups, Name: "报名", Value: float64(f.Signups), Unit: "人次",
			Definition: "上述招聘会的报名人次（含候补、已取消）"},
		{Key: model.FigAttendance, Name: "到场", Value: float64(f.Attended), Unit: "人次",
			Definition: "上述招聘会凭入场码签到的人次"},
		{Key: "fairs.no_shows", Name: "未到场", Value: float64(f.NoShows), Unit: "人次",
			Definition: "已确认报名但未签到的人次"},
		{Key: model.FigPlacements, Name: "达成就业", Value: float64(f.Placements), Unit: "人",
			Definition: "签到后经工作人员登记达成就业意向的人数"},
	}}, nil
}
