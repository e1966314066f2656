package stats_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/articles"
	"wanjia/service/fairs"
	"wanjia/service/protect"
	"wanjia/service/stats"
	"wanjia/store"
	"wanjia/store/storetest"
)

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, model.Recipient, model.Notice) error { return nil }

type unusedWeChat struct{ articles.WeChat }

type noResults struct{}

func (noResults) Result(context.Context, model.ResultKind, string) (model.WeChatResult, error) {
	return model.WeChatResult{}, model.Errorf(model.ErrNotFound, "none")
}

// TestAnnualReportFromSeededData seeds a database with a year of followers,
// a job fair and published articles (plus records outside the year), wires
// the real figure sources and checks the annual report's figures and
// paragraph.
func TestAnnualReportFromSeededData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		y := time.Date(2025, 1, 1, 0, 0, 0, 0, cst)

		// Followers: 5 followed in 2025, one of them left; one from 2024 left in 2025; one followed in 2026.
		fl := store.NewFollowers(db)
		for i, at := range []time.Time{y.AddDate(0, 1, 0), y.AddDate(0, 2, 0), y.AddDate(0, 3, 0), y.AddDate(0, 4, 0),
			y.AddDate(0, 11, 30), y.AddDate(-1, 6, 0), y.AddDate(1, 0, 2)} {
			if _, err := fl.Subscribe(ctx, "o"+string(rune('a'+i)), "", "", at); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range []string{"oa", "of"} {
			if err := fl.Unsubscribe(ctx, u, y.AddDate(0, 8, 0)); err != nil {
				t.Fatal(err)
			}
		}

		// A fair that ended in 2025: 3 signups, 2 checked in, 1 placed; another in 2026.
		fs := store.NewFairs(db)
		mkFair := func(start time.Time) model.Fair {
			f, err := fs.CreateFair(ctx, model.Fair{Title: "三八女性专场招聘会", Mode: model.FairOnSite, Venue: "市妇女儿童活动中心",
				StartsAt: start, EndsAt: start.Add(6 * time.Hour), Capacity: 10, SignupOpensAt: start.AddDate(0, 0, -7), SignupEndsAt: start})
			if err != nil {
				t.Fatal(err)
			}
			p, err := fs.AddPosition(ctx, model.Position{FairID: f.ID, Employer: "万家家政", Title: "育婴师", Seats: 10})
			if err != nil {
				t.Fatal(err)
			}
			f.Positions = []model.Position{p}
			return f
		}
		f := mkFair(y.AddDate(0, 2, 7))
		for u := int64(1); u <= 3; u++ {
			s, _, err := fs.SignUp(ctx, model.Signup{FairID: f.ID, PositionID: f.Positions[0].ID, UserID: u, Name: "王芳", PhoneSealed: "x"},
				f.StartsAt.Add(-time.Hour), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if u <= 2 {
				if _, err := fs.CheckIn(ctx, s.ID, f.StartsAt); err != nil {
					t.Fatal(err)
				}
			}
			if u == 1 {
				if _, err := fs.RecordPlacement(ctx, s.ID, 9, f.EndsAt); err != nil {
					t.Fatal(err)
				}
			}
		}
		mkFair(y.AddDate(1, 2, 7))

		// Articles: two published in 2025 with 263,456 reads on 2025's days; one read on 2026-01-01.
		as := store.NewArticles(db)
		var ids []int64
		for i, at := range []time.Time{y.AddDate(0, 3, 8), y.AddDate(0, 9, 1)} {
			a, err := as.CreateArticle(ctx, model.Article{Title: "t", Body: "b", Status: model.ArticlePublished,
				MsgDataID: string(rune('1' + i)), PublishedAt: at})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.ID)
		}
		if err := as.UpsertArticleDays(ctx, []model.ArticleDay{
			{ArticleID: ids[0], MsgDataID: "1", Index: 1, Date: "2025-04-08", Reads: 200000, ReadUsers: 150000},
			{ArticleID: ids[1], MsgDataID: "2", Index: 1, Date: "2025-12-31", Reads: 63456, ReadUsers: 50000},
			{ArticleID: ids[1], MsgDataID: "2", Index: 1, Date: "2026-01-01", Reads: 999, ReadUsers: 900},
		}); err != nil {
			t.Fatal(err)
		}

		kr, err := protect.NewKeyring(bytes.Repeat([]byte{3}, protect.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		fairSvc, err := fairs.New(fairs.Deps{Store: fs, Notifier: nopNotifier{}, Audit: &testutil.Audit{}, Keys: kr})
		if err != nil {
			t.Fatal(err)
		}
		artSvc, err := articles.New(articles.Deps{Store: as, WeChat: unusedWeChat{}, Results: noResults{}, Audit: &testutil.Audit{}})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := mustStats(t, []model.FigureSource{stats.Followers(fl), fairSvc, artSvc})
		r, err := s.Annual(staff(model.RoleReviewer), 2025)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{
			model.FigFollowersGained: 5, model.FigFollowersLost: 2,
			model.FigFairsHeld: 1, model.FigSignups: 3, model.FigAttendance: 2, model.FigPlacements: 1,
			model.FigArticles: 2, model.FigArticleReads: 263456, model.FigArticleReadUsers: 200000,
		}
		got := map[string]float64{}
		for _, sec := range r.Sections {
			for _, f := range sec.Figures {
				if _, ok := want[f.Key]; ok {
					got[f.Key] = f.Value
				}
				if f.Definition == "" {
					t.Errorf("figure %s has no definition", f.Key)
				}
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		wantSummary := "2025年，公众号新增关注5人，取消关注2人；举办女性专场招聘会1场，报名3人次，到场2人次，达成就业意向1人；" +
			"公众号推送文章2篇，阅读量达26万余人次。"
		if r.Summary != wantSummary {
			t.Errorf("Summary =\n%s\nwant\n%s", r.Summary, wantSummary)
		}
	})
}
