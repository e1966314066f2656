package wxsim_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/wechat/wxsim"
)

func TestDatacubeRanges(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t) // today is 2025-03-10 in China
	tok := mustToken(t, s, oaID, oaSecret)
	tests := []struct {
		path  string
		begin string
		end   string
		want  int
	}{
		{"/datacube/getarticlesummary", "2025-03-09", "2025-03-09", 0},
		{"/datacube/getarticlesummary", "2025-03-08", "2025-03-09", 61501},
		{"/datacube/getarticlesummary", "2025-03-10", "2025-03-10", 61501},
		{"/datacube/getarticlesummary", "2025/03/09", "2025/03/09", 61500},
		{"/datacube/getarticletotal", "2025-03-09", "2025-03-09", 0},
		{"/datacube/getarticleread", "2025-03-09", "2025-03-09", 0},
		{"/datacube/getarticleshare", "2025-03-09", "2025-03-09", 0},
		{"/datacube/getarticletotaldetail", "2025-03-09", "2025-03-09", 0},
		{"/datacube/getbizsummary", "2025-02-08", "2025-03-09", 0},
		{"/datacube/getbizsummary", "2025-02-07", "2025-03-09", 61501},
		{"/datacube/getbizsummary", "2025-03-09", "2025-03-08", 61501},
	}
	for _, tt := range tests {
		a := do(t, s, http.MethodPost, tt.path+"?access_token="+tok, map[string]string{"begin_date": tt.begin, "end_date": tt.end})
		if got := a.errcode(); got != tt.want {
			t.Errorf("%s %s..%s: errcode %d, want %d (%s)", tt.path, tt.begin, tt.end, got, tt.want, a.body)
		}
		if tt.want == 0 {
			if list, ok := a.json["list"].([]any); !ok || len(list) != 0 {
				t.Errorf("%s with no data = %s, want an empty list", tt.path, a.body)
			}
		}
	}
}

func TestDatacubeFigures(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	tok := mustToken(t, s, oaID, oaSecret)
	day := func(date string, read, share int) wxsim.ArticleDay {
		return wxsim.ArticleDay{MsgDataID: 2247503052, Index: 1, Title: "春风行动", URL: "https://mp.weixin.qq.com/s?x",
			PublishType: 1, Published: "2025-03-07", Date: date, TargetUser: 1200,
			ReadUser: read, ReadCount: read + 1, ShareUser: share, ShareCount: share, FavUser: 1, FavCount: 1, LikeUser: 2}
	}
	s.AddArticleDays(day("2025-03-07", 100, 10), day("2025-03-08", 50, 5), day("2025-03-09", 20, 0))
	post := func(path, begin, end string) answer {
		a := do(t, s, http.MethodPost, path+"?access_token="+tok, map[string]string{"begin_date": begin, "end_date": end})
		mustErrcode(t, a, 0)
		return a
	}

	summary := post("/datacube/getarticlesummary", "2025-03-08", "2025-03-08")
	wantSummary := []any{map[string]any{
		"ref_date": "2025-03-08", "msgid": "2247503052_1", "title": "春风行动", "user_source": 0.0,
		"int_page_read_user": 50.0, "int_page_read_count": 51.0, "ori_page_read_user": 0.0, "ori_page_read_count": 0.0,
		"share_user": 5.0, "share_count": 5.0, "add_to_fav_user": 1.0, "add_to_fav_count": 1.0,
	}}
	if diff := cmp.Diff(wantSummary, summary.json["list"]); diff != "" {
		t.Errorf("getarticlesummary (-want +got):\n%s", diff)
	}

	total := post("/datacube/getarticletotal", "2025-03-07", "2025-03-07")
	item := total.json["list"].([]any)[0].(map[string]any)
	details := item["details"].([]any)
	if item["msgid"] != "2247503052_1" || len(details) != 3 {
		t.Fatalf("getarticletotal = %s", total.body)
	}
	last := details[2].(map[string]any)
	if last["stat_date"] != "2025-03-09" || last["int_page_read_user"] != 170.0 || last["share_user"] != 15.0 || last["target_user"] != 1200.0 {
		t.Errorf("getarticletotal last detail = %v, want cumulative 170 reads and 15 shares on 2025-03-09", last)
	}
	if empty := post("/datacube/getarticletotal", "2025-03-08", "2025-03-08"); len(empty.json["list"].([]any)) != 0 {
		t.Errorf("getarticletotal of a day without publishes = %s", empty.body)
	}

	read := post("/datacube/getarticleread", "2025-03-09", "2025-03-09")
	wantRead := []any{map[string]any{"ref_date": "2025-03-09", "msgid": "2247503052_1", "title": "春风行动",
		"detail": map[string]any{"read_user": 20.0, "read_count": 21.0}}}
	if diff := cmp.Diff(wantRead, read.json["list"]); diff != "" {
		t.Errorf("getarticleread (-want +got):\n%s", diff)
	}
	if share := post("/datacube/getarticleshare", "2025-03-09", "2025-03-09"); len(share.json["list"].([]any)) != 0 {
		t.Errorf("getarticleshare on a day without shares = %s", share.body)
	}
	share := post("/datacube/getarticleshare", "2025-03-08", "2025-03-08")
	if got := share.json["list"].([]any)[0].(map[string]any)["detail"].(map[string]any)["share_user"]; got != 5.0 {
		t.Errorf("getarticleshare share_user = %v, want 5", got)
	}

	biz := post("/datacube/getbizsummary", "2025-03-01", "2025-03-09")
	list := biz.json["list"].([]any)
	if len(list) != 3 {
		t.Fatalf("getbizsummary = %s, want 3 days", biz.body)
	}
	first := list[0].(map[string]any)["detail"].(map[string]any)
	if first["read_user"] != 100.0 || first["send_page_count"] != 1.0 || first["like_user"] != 2.0 {
		t.Errorf("getbizsummary first day = %v", first)
	}

	detail := post("/datacube/getarticletotaldetail", "2025-03-07", "2025-03-07")
	art := detail.json["list"].([]any)[0].(map[string]any)
	dl := art["detail_list"].([]any)
	if art["publish_type"] != 1.0 || art["content_url"] != "https://mp.weixin.qq.com/s?x" || len(dl) != 3 ||
		dl[2].(map[string]any)["read_user"] != 170.0 || detail.json["is_delay"] != false {
		t.Errorf("getarticletotaldetail = %s", detail.body)
	}
}

func TestGeneratedStats(t *testing.T) {
	t.Parallel()
	s, c := newSim(t, wxsim.WithGeneratedStats())
	s.AddUser(wxsim.User{AppID: oaID, OpenID: "o1", Subscribed: true})
	tok := mustToken(t, s, oaID, oaSecret)
	draft := mustDraft(t, s, tok, "自动统计")
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/freepublish/submit?access_token="+tok, map[string]string{"media_id": draft}), 0)
	if err := s.FlushOAEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Add(48 * time.Hour) // now 2025-03-12; published 2025-03-10
	tok = mustToken(t, s, oaID, oaSecret)
	a := do(t, s, http.MethodPost, "/datacube/getarticletotaldetail?access_token="+tok, map[string]string{"begin_date": "2025-03-10", "end_date": "2025-03-10"})
	mustErrcode(t, a, 0)
	list := a.json["list"].([]any)
	if len(list) != 1 {
		t.Fatalf("getarticletotaldetail = %s, want the published article", a.body)
	}
	art := list[0].(map[string]any)
	wantMsgID := ""
	if p := s.Publishes(); len(p) == 1 {
		wantMsgID = itoa(p[0].MsgDataID) + "_1"
	}
	if art["msgid"] != wantMsgID || art["title"] != "自动统计" || len(art["detail_list"].([]any)) != 2 {
		t.Errorf("generated article = %v, want msgid %s with 2 days", art, wantMsgID)
	}
}
