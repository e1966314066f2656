package articles

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"wanjia/model"
)

const (
	dayLayout   = "2006-01-02"
	statsCursor = "datacube"
	// WindowDays bounds one backfill window: getbizsummary answers at most
	// 30 days, and the cursor moves on after each window.
	WindowDays = 30
	// DataReadyHour is when WeChat's figures of the day before are
	// complete (08:00 Asia/Shanghai).
	DataReadyHour = 8
)

// fallbackCodes are the errcodes by which a newer datacube endpoint says
// it will not serve this account or request (48001 api unauthorized,
// 48004 api banned, 61500 date format, 61501 date range, 40097 invalid
// args): the day is then read from the legacy getarticlesummary. Any other
// failure (WeChat busy, quota) ends the run; the next run resumes at the
// day that failed.
var fallbackCodes = map[int]bool{48001: true, 48004: true, 61500: true, 61501: true, 40097: true}

func fallback(err error) bool { return fallbackCodes[errcodeOf(err)] }

// SyncReport says what a statistics sync did.
type SyncReport struct {
	From, To   string // the days synced, inclusive; empty when none were due
	Windows    int
	ArticleDay int // article-days stored
	LegacyDays int // days read from the legacy endpoint
}

// SyncStats fetches the read statistics of every day not synced yet, up
// to the last complete day (yesterday after 08:00, else the day before),
// in windows of at most 30 days: per day the newer endpoints
// (getarticleread, getarticleshare; favourites from getarticletotaldetail)
// with getarticlesummary as the fallback, and the account's totals from
// getbizsummary. A first run reaches back StatsBackfillDays. The cursor
// moves on after each window, so an interrupted run resumes where it
// stopped. Figures are stored per article of ours (joined by msg_data_id)
// and day; storing a day again replaces it.
func (s *Service) SyncStats(ctx context.Context) (SyncReport, error) {
	loc := s.opts.Location
	now := s.now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	last := today.AddDate(0, 0, -1)
	if now.Hour() < DataReadyHour {
		last = last.AddDate(0, 0, -1)
	}
	cur, err := s.store.StatCursor(ctx, statsCursor)
	if err != nil {
		return SyncReport{}, err
	}
	start := last.AddDate(0, 0, 1-s.opts.StatsBackfillDays)
	if cur != "" {
		c, err := time.ParseInLocation(dayLayout, cur, loc)
		if err != nil {
			return SyncReport{}, fmt.Errorf("stats cursor %q: %w", cur, err)
		}
		start = c.AddDate(0, 0, 1)
	}
	rep := SyncReport{}
	if start.After(last) {
		return rep, nil
	}
	rep.From, rep.To = start.Format(dayLayout), last.Format(dayLayout)
	// Articles are read for months after they go out; those published
	// more than a year before the first day synced are no longer tracked.
	msgs, err := s.store.PublishedMessages(ctx, start.AddDate(-1, 0, 0))
	if err != nil {
		return rep, err
	}
	ours := map[string]model.Article{}
	for _, a := range msgs {
		ours[a.MsgDataID] = a
	}
	for ws := start; !ws.After(last); ws = ws.AddDate(0, 0, WindowDays) {
		we := ws.AddDate(0, 0, WindowDays-1)
		if we.After(last) {
			we = last
		}
		n, legacy, err := s.syncWindow(ctx, ws, we, ours)
		rep.ArticleDay += n
		rep.LegacyDays += legacy
		if err != nil {
			return rep, fmt.Errorf("stats %s..%s: %w", ws.Format(dayLayout), we.Format(dayLayout), err)
		}
		if err := s.store.SetStatCursor(ctx, statsCursor, we.Format(dayLayout)); err != nil {
			return rep, err
		}
		rep.Windows++
	}
	s.log.InfoContext(ctx, "article stats synced", "from", rep.From, "to", rep.To, "windows", rep.Windows,
		"article_days", rep.ArticleDay, "legacy_days", rep.LegacyDays)
	return rep, nil
}

// syncWindow syncs the days [ws, we] and returns the article-days stored
// and the days read from the legacy endpoint.
func (s *Service) syncWindow(ctx context.Context, ws, we time.Time, ours map[string]model.Article) (int, int, error) {
	from, to := ws.Format(dayLayout), we.Format(dayLayout)
	newer := true
	// Favourites: getarticletotaldetail reports, for the articles
	// published on a day, cumulative figures per day since; the daily
	// favourites are the differences. Ask for every publish day of ours
	// that can still have figures in the window.
	favs := map[string]map[string]int64{} // msgid → day → favourites that day
	pubDays := map[string]bool{}
	for _, a := range ours {
		d := a.PublishedAt.In(s.opts.Location).Format(dayLayout)
		if d <= to && d >= ws.AddDate(0, 0, -WindowDays).Format(dayLayout) {
			pubDays[d] = true
		}
	}
	for _, d := range sortedKeys(pubDays) {
		figs, err := s.wx.ArticleTotalDetail(ctx, d)
		if fallback(err) {
			newer = false
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("getarticletotaldetail %s: %w", d, err)
		}
		prev := map[string]int64{}
		sort.SliceStable(figs, func(i, j int) bool { return figs[i].Date < figs[j].Date })
		for _, f := range figs {
			if favs[f.MsgID] == nil {
				favs[f.MsgID] = map[string]int64{}
			}
			favs[f.MsgID][f.Date] = max(f.Favourites-prev[f.MsgID], 0)
			prev[f.MsgID] = f.Favourites
		}
	}

	var days []model.ArticleDay
	account := map[string]*model.AccountDay{}
	legacyDays := 0
	for d := ws; !d.After(we); d = d.AddDate(0, 0, 1) {
		day := d.Format(dayLayout)
		figs, source, err := s.dayFigures(ctx, day, newer, favs)
		if err != nil {
			return 0, legacyDays, err
		}
		if source == "legacy" {
			legacyDays++
		}
		acc := &model.AccountDay{Date: day, Source: "legacy"}
		account[day] = acc
		for _, f := range figs {
			acc.ReadUsers += f.ReadUsers
			acc.ShareUsers += f.ShareUsers
			acc.Favourites += f.Favourites
			msgDataID, idx, ok := splitMsgID(f.MsgID)
			a, mine := ours[msgDataID]
			if !ok || !mine {
				continue
			}
			days = append(days, model.ArticleDay{ArticleID: a.ID, MsgDataID: msgDataID, Index: idx, Date: day,
				Reads: f.Reads, ReadUsers: f.ReadUsers, Shares: f.Shares, ShareUsers: f.ShareUsers, Favourites: f.Favourites,
				Source: source})
		}
	}
	biz, err := s.wx.BizSummary(ctx, from, to)
	switch {
	case fallback(err):
		// keep the totals summed from the articles
	case err != nil:
		return 0, legacyDays, fmt.Errorf("getbizsummary: %w", err)
	default:
		for _, b := range biz {
			if acc, ok := account[b.Date]; ok {
				*acc = model.AccountDay{Date: b.Date, ReadUsers: b.ReadUsers, ShareUsers: b.ShareUsers, Favourites: b.Favourites,
					Source: "datacube"}
			}
		}
	}
	accDays := make([]model.AccountDay, 0, len(account))
	for _, d := range sortedKeys(account) {
		accDays = append(accDays, *account[d])
	}
	if err := s.store.UpsertAccountDays(ctx, accDays); err != nil {
		return 0, legacyDays, err
	}
	if err := s.store.UpsertArticleDays(ctx, days); err != nil {
		return 0, legacyDays, err
	}
	return len(days), legacyDays, nil
}

// dayFigures reads one day per article: the newer endpoints when they
// serve us, else getarticlesummary.
func (s *Service) dayFigures(ctx context.Context, day string, newer bool, favs map[string]map[string]int64) ([]DayFigure, string, error) {
	if newer {
		reads, err := s.wx.ArticleRead(ctx, day)
		if err == nil {
			var shares []DayFigure
			shares, err = s.wx.ArticleShare(ctx, day)
			if err == nil {
				byID := map[string]*DayFigure{}
				var order []string
				get := func(id string) *DayFigure {
					f, ok := byID[id]
					if !ok {
						f = &DayFigure{MsgID: id, Date: day}
						byID[id] = f
						order = append(order, id)
					}
					return f
				}
				for _, r := range reads {
					f := get(r.MsgID)
					f.Reads, f.ReadUsers = r.Reads, r.ReadUsers
				}
				for _, sh := range shares {
					f := get(sh.MsgID)
					f.Shares, f.ShareUsers = sh.Shares, sh.ShareUsers
				}
				for id, byDay := range favs {
					if n := byDay[day]; n > 0 {
						get(id).Favourites = n
					}
				}
				out := make([]DayFigure, 0, len(order))
				for _, id := range order {
					out = append(out, *byID[id])
				}
				return out, "datacube", nil
			}
		}
		if !fallback(err) {
			return nil, "", fmt.Errorf("datacube %s: %w", day, err)
		}
	}
	figs, err := s.wx.ArticleSummary(ctx, day)
	if err != nil {
		return nil, "", fmt.Errorf("getarticlesummary %s: %w", day, err)
	}
	return figs, "legacy", nil
}

// splitMsgID splits datacube's msgid "<msg_data_id>_<index>".
func splitMsgID(id string) (string, int, bool) {
	base, idx, ok := strings.Cut(id, "_")
	if !ok || base == "" {
		return "", 0, false
	}
	n, err := strconv.Atoi(idx)
	if err != nil || n < 1 || n > 8 {
		return "", 0, false
	}
	return base, n, true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
