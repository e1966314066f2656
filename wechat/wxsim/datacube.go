package wxsim

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"
)

// cst is China Standard Time, the zone of WeChat's statistics days.
var cst = time.FixedZone("CST", 8*3600)

const dayLayout = "2006-01-02"

func cstDay(t time.Time) string { return t.In(cst).Format(dayLayout) }

// ArticleDay is the figures of one published article on one day, as the
// datacube endpoints report them. Users counts are per day; the "total"
// endpoints add the days up.
type ArticleDay struct {
	AppID       string // empty: every app
	MsgDataID   int64  // msg_data_id of the publish or mass send
	Index       int    // article number in the message, first is 1
	Title       string
	URL         string
	PublishType int    // 0 mass send, 1 freepublish (getarticletotaldetail)
	Published   string // day of the publish, "2006-01-02" in China time
	Date        string // day of the figures
	TargetUser  int    // recipients (getarticletotal)

	ReadUser     int // int_page_read_user, read_user
	ReadCount    int // int_page_read_count
	OriReadUser  int // ori_page_read_user, redirect_ori_page_user
	OriReadCount int
	ShareUser    int
	ShareCount   int
	FavUser      int // add_to_fav_user, collection_user
	FavCount     int
	LikeUser     int
	ZaikanUser   int
	CommentCount int
}

type articleDayKey struct {
	appID     string
	msgDataID int64
	index     int
	date      string
}

func (d ArticleDay) msgID() string { return fmt.Sprintf("%d_%d", d.MsgDataID, d.Index) }

// AddArticleDays adds or replaces daily article figures (by app, msg data
// id, index and date). They override generated figures.
func (s *Sim) AddArticleDays(days ...ArticleDay) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range days {
		if d.Index == 0 {
			d.Index = 1
		}
		s.articleDays[articleDayKey{d.AppID, d.MsgDataID, d.Index, d.Date}] = d
	}
}

// publications of every app; s.mu is held.
func (s *Sim) publish(p publication) { s.publications = append(s.publications, p) }

// statDays returns every figure of app a up to (and including) last: the
// generated ones (WithGeneratedStats) overridden by AddArticleDays.
func (s *Sim) statDays(a *app, last string) []ArticleDay {
	byKey := map[articleDayKey]ArticleDay{}
	if s.genStats {
		for _, p := range s.publications {
			if p.appID != a.id {
				continue
			}
			start, err := time.ParseInLocation(dayLayout, p.day, cst)
			if err != nil {
				continue
			}
			for i, title := range p.titles {
				for n := 0; n < 60; n++ {
					day := start.AddDate(0, 0, n).Format(dayLayout)
					if day > last {
						break
					}
					d := generatedDay(p, i+1, title, n, day)
					byKey[articleDayKey{"", d.MsgDataID, d.Index, d.Date}] = d
				}
			}
		}
	}
	for k, d := range s.articleDays {
		if k.appID != "" && k.appID != a.id {
			continue
		}
		k.appID = ""
		byKey[k] = d
	}
	out := make([]ArticleDay, 0, len(byKey))
	for _, d := range byKey {
		if d.Date <= last {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(x, y ArticleDay) int {
		if c := strings.Compare(x.Date, y.Date); c != 0 {
			return c
		}
		if c := cmp.Compare(x.MsgDataID, y.MsgDataID); c != 0 {
			return c
		}
		return cmp.Compare(x.Index, y.Index)
	})
	return out
}

// generatedDay invents deterministic figures for article idx of p on the
// n-th day after publishing: reads fall off with time.
func generatedDay(p publication, idx int, title string, n int, day string) ArticleDay {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%d", p.msgDataID, idx)
	seed := int(h.Sum32() % 1000)
	read := (80 + seed%300) / (n + 1)
	d := ArticleDay{
		AppID: p.appID, MsgDataID: p.msgDataID, Index: idx, Title: title, PublishType: p.publishType,
		Published: p.day, Date: day, TargetUser: 1000 + seed,
		ReadUser: read, ReadCount: read + read/5, OriReadUser: read / 30, OriReadCount: read / 25,
		ShareUser: read / 10, ShareCount: read/10 + read/40, FavUser: read / 20, FavCount: read / 20,
		LikeUser: read / 15, ZaikanUser: read / 25, CommentCount: read / 40,
	}
	if idx-1 < len(p.urls) {
		d.URL = p.urls[idx-1]
	}
	return d
}

// dateRange decodes {"begin_date","end_date"} and checks it: 61500 for a bad
// date, 61501 when begin > end, the span exceeds maxDays or end is not
// before today (China time).
func (rq *request) dateRange(maxDays int) (begin, end string, apiErr *apiError) {
	var in struct {
		BeginDate string `json:"begin_date"`
		EndDate   string `json:"end_date"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return "", "", apiErr
	}
	b, err1 := time.ParseInLocation(dayLayout, in.BeginDate, cst)
	e, err2 := time.ParseInLocation(dayLayout, in.EndDate, cst)
	if err1 != nil || err2 != nil {
		return "", "", errCode(61500)
	}
	span := int(e.Sub(b).Hours()/24) + 1
	if span < 1 || span > maxDays || in.EndDate >= cstDay(rq.now) {
		return "", "", errCode(61501)
	}
	return in.BeginDate, in.EndDate, nil
}

func yesterday(now time.Time) string { return now.In(cst).AddDate(0, 0, -1).Format(dayLayout) }

// handleArticleSummary serves POST /datacube/getarticlesummary (one day).
func (s *Sim) handleArticleSummary(rq *request) any {
	day, _, apiErr := rq.dateRange(1)
	if apiErr != nil {
		return apiErr
	}
	list := []map[string]any{}
	for _, d := range s.statDays(rq.app, day) {
		if d.Date != day {
			continue
		}
		list = append(list, map[string]any{
			"ref_date": day, "msgid": d.msgID(), "title": d.Title, "user_source": 0,
			"int_page_read_user": d.ReadUser, "int_page_read_count": d.ReadCount,
			"ori_page_read_user": d.OriReadUser, "ori_page_read_count": d.OriReadCount,
			"share_user": d.ShareUser, "share_count": d.ShareCount,
			"add_to_fav_user": d.FavUser, "add_to_fav_count": d.FavCount,
		})
	}
	return map[string]any{"list": list}
}

// articleRuns groups the figures of articles published on day by article,
// each run sorted by date and capped at maxDays days.
func articleRuns(days []ArticleDay, day string, maxDays int) [][]ArticleDay {
	var runs [][]ArticleDay
	index := map[string]int{}
	for _, d := range days {
		if d.Published != day {
			continue
		}
		i, ok := index[d.msgID()]
		if !ok {
			i = len(runs)
			index[d.msgID()] = i
			runs = append(runs, nil)
		}
		if len(runs[i]) < maxDays {
			runs[i] = append(runs[i], d)
		}
	}
	return runs
}

// handleArticleTotal serves POST /datacube/getarticletotal: articles
// published on the day with cumulative figures for up to seven days.
func (s *Sim) handleArticleTotal(rq *request) any {
	day, _, apiErr := rq.dateRange(1)
	if apiErr != nil {
		return apiErr
	}
	list := []map[string]any{}
	for _, run := range articleRuns(s.statDays(rq.app, yesterday(rq.now)), day, 7) {
		var cum ArticleDay
		details := make([]map[string]any, 0, len(run))
		for _, d := range run {
			cum = cum.plus(d)
			details = append(details, map[string]any{
				"stat_date": d.Date, "target_user": d.TargetUser,
				"int_page_read_user": cum.ReadUser, "int_page_read_count": cum.ReadCount,
				"ori_page_read_user": cum.OriReadUser, "ori_page_read_count": cum.OriReadCount,
				"share_user": cum.ShareUser, "share_count": cum.ShareCount,
				"add_to_fav_user": cum.FavUser, "add_to_fav_count": cum.FavCount,
				"int_page_from_session_read_user": cum.ReadUser * 6 / 10, "int_page_from_session_read_count": cum.ReadCount * 6 / 10,
				"int_page_from_hist_msg_read_user": cum.ReadUser / 10, "int_page_from_hist_msg_read_count": cum.ReadCount / 10,
				"int_page_from_feed_read_user": cum.ReadUser / 10, "int_page_from_feed_read_count": cum.ReadCount / 10,
				"int_page_from_friends_read_user": cum.ReadUser / 10, "int_page_from_friends_read_count": cum.ReadCount / 10,
				"int_page_from_other_read_user":  cum.ReadUser - cum.ReadUser*6/10 - 3*(cum.ReadUser/10),
				"int_page_from_other_read_count": cum.ReadCount - cum.ReadCount*6/10 - 3*(cum.ReadCount/10),
				"feed_share_from_session_user":   cum.ShareUser / 2, "feed_share_from_session_cnt": cum.ShareCount / 2,
				"feed_share_from_feed_user": cum.ShareUser / 4, "feed_share_from_feed_cnt": cum.ShareCount / 4,
				"feed_share_from_other_user": 0, "feed_share_from_other_cnt": 0,
			})
		}
		first := run[0]
		list = append(list, map[string]any{"ref_date": day, "msgid": first.msgID(), "title": first.Title, "user_source": 0, "details": details})
	}
	return map[string]any{"list": list}
}

func (d ArticleDay) plus(o ArticleDay) ArticleDay {
	d.ReadUser += o.ReadUser
	d.ReadCount += o.ReadCount
	d.OriReadUser += o.OriReadUser
	d.OriReadCount += o.OriReadCount
	d.ShareUser += o.ShareUser
	d.ShareCount += o.ShareCount
	d.FavUser += o.FavUser
	d.FavCount += o.FavCount
	d.LikeUser += o.LikeUser
	d.ZaikanUser += o.ZaikanUser
	d.CommentCount += o.CommentCount
	return d
}

// handleArticleRead serves POST /datacube/getarticleread (one day): each
// article read that day. The shape follows public callers of the endpoint:
// {"list":[{"ref_date","msgid","detail":{"read_user"}}],"is_delay":false}.
func (s *Sim) handleArticleRead(rq *request) any {
	day, _, apiErr := rq.dateRange(1)
	if apiErr != nil {
		return apiErr
	}
	list := []map[string]any{}
	for _, d := range s.statDays(rq.app, day) {
		if d.Date == day && d.ReadUser > 0 {
			list = append(list, map[string]any{"ref_date": day, "msgid": d.msgID(), "title": d.Title,
				"detail": map[string]any{"read_user": d.ReadUser, "read_count": d.ReadCount}})
		}
	}
	return map[string]any{"list": list, "is_delay": false}
}

// handleArticleShare serves POST /datacube/getarticleshare (one day).
func (s *Sim) handleArticleShare(rq *request) any {
	day, _, apiErr := rq.dateRange(1)
	if apiErr != nil {
		return apiErr
	}
	list := []map[string]any{}
	for _, d := range s.statDays(rq.app, day) {
		if d.Date == day && d.ShareUser > 0 {
			list = append(list, map[string]any{"ref_date": day, "msgid": d.msgID(), "title": d.Title,
				"detail": map[string]any{"share_user": d.ShareUser, "share_count": d.ShareCount}})
		}
	}
	return map[string]any{"list": list, "is_delay": false}
}

// handleBizSummary serves POST /datacube/getbizsummary (up to 30 days): the
// account's daily totals.
func (s *Sim) handleBizSummary(rq *request) any {
	begin, end, apiErr := rq.dateRange(30)
	if apiErr != nil {
		return apiErr
	}
	sums := map[string]ArticleDay{}
	pages := map[string]int{}
	var dates []string
	for _, d := range s.statDays(rq.app, end) {
		if d.Date < begin {
			continue
		}
		if _, ok := sums[d.Date]; !ok {
			dates = append(dates, d.Date)
		}
		sums[d.Date] = sums[d.Date].plus(d)
		if d.Published == d.Date {
			pages[d.Date]++
		}
	}
	list := []map[string]any{}
	for _, day := range dates {
		t := sums[day]
		list = append(list, map[string]any{"ref_date": day, "detail": map[string]any{
			"read_user": t.ReadUser, "share_user": t.ShareUser, "zaikan_user": t.ZaikanUser,
			"like_user": t.LikeUser, "comment_count": t.CommentCount, "collection_user": t.FavUser,
			"redirect_ori_page_user": t.OriReadUser, "send_page_count": pages[day],
		}})
	}
	return map[string]any{"list": list, "is_delay": false}
}

// handleArticleTotalDetail serves POST /datacube/getarticletotaldetail (one
// day): articles published that day with cumulative figures per day.
func (s *Sim) handleArticleTotalDetail(rq *request) any {
	day, _, apiErr := rq.dateRange(1)
	if apiErr != nil {
		return apiErr
	}
	list := []map[string]any{}
	for _, run := range articleRuns(s.statDays(rq.app, yesterday(rq.now)), day, 30) {
		var cum ArticleDay
		details := make([]map[string]any, 0, len(run))
		for _, d := range run {
			cum = cum.plus(d)
			details = append(details, map[string]any{
				"stat_date": d.Date, "read_user": cum.ReadUser,
				"read_user_source": []map[string]any{{"scene_desc": "全部", "user_count": cum.ReadUser}},
				"share_user":       cum.ShareUser, "zaikan_user": cum.ZaikanUser, "like_user": cum.LikeUser,
				"comment_count": cum.CommentCount, "collection_user": cum.FavUser, "praise_money": 0,
				"read_subscribe_user": cum.ReadUser / 50, "read_delivery_rate": 0.1, "read_finish_rate": 0.6,
				"read_avg_activetime": 1.5, "read_jump_position": []map[string]any{},
			})
		}
		first := run[0]
		list = append(list, map[string]any{"ref_date": day, "msgid": first.msgID(), "publish_type": first.PublishType,
			"title": first.Title, "content_url": first.URL, "detail_list": details})
	}
	return map[string]any{"list": list, "is_delay": false}
}
