package campaigns

import (
	"context"
	"time"

	"wanjia/model"
)

var _ model.FigureSource = (*Service)(nil)

func breakdown(m map[string]int64) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v)
	}
	return out
}

// FigureSection returns the 最美家庭 figures of [from, to) for the staff
// workspace: nominations (by category), nominations shown, valid votes
// and winners, each with its definition.
func (s *Service) FigureSection(ctx context.Context, from, to time.Time) (model.FigureSection, error) {
	f, err := s.store.Figures(ctx, from, to)
	if err != nil {
		return model.FigureSection{}, err
	}
	return model.FigureSection{Area: "campaigns", Title: "最美家庭", Figures: []model.Figure{
		{Key: model.FigNominations, Name: "推荐家庭", Value: float64(f.Nominations), Unit: "户",
			Definition: "统计期内在小程序提交的最美家庭推荐数（含待审核和未通过的），按类别分列。",
			Breakdown:  breakdown(f.NominationsByCat)},
		{Key: model.FigNominationsShown, Name: "审核通过并展示", Value: float64(f.Approved), Unit: "户",
			Definition: "统计期内经微信内容安全检测和人工审核通过、在展示区公开的推荐数（之后被撤下的不计）。"},
		{Key: model.FigVotes, Name: "有效投票", Value: float64(f.Votes), Unit: "票",
			Definition: "统计期内投出且未被审核人员作废的票数，以数据库投票账本为准。"},
		{Key: "campaigns.votes_voided", Name: "作废投票", Value: float64(f.VotesVoided), Unit: "票",
			Definition: "统计期内投出、后经审核人员注明原因作废的票数。"},
		{Key: model.FigAwards, Name: "获评家庭", Value: float64(f.Winners), Unit: "户",
			Definition: "结果公布时间在统计期内的活动中，当前获评的家庭数（按票数确定并含审核人员有记录的调整），按类别分列。",
			Breakdown:  breakdown(f.WinnersByCat)},
	}}, nil
}
