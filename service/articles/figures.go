package articles

import (
	"context"
	"time"

	"wanjia/model"
)

var _ model.FigureSource = (*Service)(nil)

// FigureSection reports the articles' figures of [from, to): the caller
// (the staff workspace) decides who may read them, so no role is checked
// here. Reads are the daily statistics of the days from ≤ day < to, in
// the federation's zone.
func (s *Service) FigureSection(ctx context.Context, from, to time.Time) (model.FigureSection, error) {
	loc := s.opts.Location
	f, err := s.store.ArticleFigures(ctx, from, to, from.In(loc).Format(dayLayout), to.In(loc).Format(dayLayout))
	if err != nil {
		return model.FigureSection{}, err
	}
	return model.FigureSection{Area: "articles", Title: "宣传推送", Figures: []model.Figure{
		{Key: model.FigArticles, Name: "推送文章", Value: float64(f.Published), Unit: "篇",
			Definition: "期内经本系统发表或群发成功的文章篇数（以微信回传成功时间计）"},
		{Key: model.FigArticleReads, Name: "阅读量", Value: float64(f.Reads), Unit: "次",
			Definition: "本系统发布文章在期内各日的阅读次数之和（微信数据统计，次日 08:00 后同步）"},
		{Key: model.FigArticleReadUsers, Name: "阅读人次", Value: float64(f.ReadUsers), Unit: "人次",
			Definition: "本系统发布文章在期内各日的阅读人数之和（同一人不同日重复计）"},
		{Key: "articles.shares", Name: "分享", Value: float64(f.Shares), Unit: "次",
			Definition: "本系统发布文章在期内各日的分享次数之和"},
		{Key: "articles.favourites", Name: "收藏", Value: float64(f.Favorites), Unit: "人次",
			Definition: "本系统发布文章在期内各日新增收藏人数之和"},
	}}, nil
}
