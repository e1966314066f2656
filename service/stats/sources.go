package stats

import (
	"context"
	"time"

	"wanjia/model"
)

// FollowerCounter counts followers gained and lost (store.Followers
// satisfies it).
type FollowerCounter interface {
	FollowerFigures(ctx context.Context, from, to time.Time) (gained, lost int64, err error)
}

// Followers is the followers' FigureSource over the follower table.
func Followers(c FollowerCounter) model.FigureSource { return followers{c} }

type followers struct{ c FollowerCounter }

func (f followers) FigureSection(ctx context.Context, from, to time.Time) (model.FigureSection, error) {
	gained, lost, err := f.c.FollowerFigures(ctx, from, to)
	if err != nil {
		return model.FigureSection{}, err
	}
	return model.FigureSection{Area: "followers", Title: "公众号关注", Figures: []model.Figure{
		{Key: model.FigFollowersGained, Name: "新增关注", Value: float64(gained), Unit: "人",
			Definition: "最近一次关注公众号的时间在期内的人数（每人计一次）"},
		{Key: model.FigFollowersLost, Name: "取消关注", Value: float64(lost), Unit: "人",
			Definition: "期内取消关注且此后未再关注的人数"},
		{Key: "followers.net", Name: "净增关注", Value: float64(gained - lost), Unit: "人",
			Definition: "新增关注减取消关注"},
	}}, nil
}
