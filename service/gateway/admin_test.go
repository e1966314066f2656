package gateway_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/service/gateway"
	"wanjia/store"
)

func TestValidateRule(t *testing.T) {
	txt := model.Reply{Kind: model.ReplyText, Text: "好的"}
	base := func(mod func(r *model.ReplyRule)) model.ReplyRule {
		r := model.ReplyRule{Name: "规则", Match: model.MatchKeyword, Mode: model.KeywordContains,
			Keywords: []string{"你好"}, Reply: txt, Enabled: true}
		mod(&r)
		return r
	}
	news := func(a model.NewsArticle) model.Reply {
		return model.Reply{Kind: model.ReplyNews, Articles: []model.NewsArticle{a}}
	}
	tests := []struct {
		name   string
		in     model.ReplyRule
		fields []string
	}{
		{"valid", base(func(*model.ReplyRule) {}), nil},
		{"no name", base(func(r *model.ReplyRule) { r.Name = "  " }), []string{"name"}},
		{"long name", base(func(r *model.ReplyRule) { r.Name = strings.Repeat("名", 65) }), []string{"name"}},
		{"bad match", base(func(r *model.ReplyRule) { r.Match = "everything" }), []string{"match"}},
		{"bad mode", base(func(r *model.ReplyRule) { r.Mode = "fuzzy" }), []string{"mode"}},
		{"no keywords", base(func(r *model.ReplyRule) { r.Keywords = []string{" ", ""} }), []string{"keywords"}},
		{"punctuation keyword", base(func(r *model.ReplyRule) { r.Keywords = []string{"？！"} }), []string{"keywords"}},
		{"long keyword", base(func(r *model.ReplyRule) { r.Keywords = []string{strings.Repeat("字", 61)} }), []string{"keywords"}},
		{"too many keywords", base(func(r *model.ReplyRule) {
			r.Keywords = nil
			for i := range 51 {
				r.Keywords = append(r.Keywords, "k"+itoa(int64(i)))
			}
		}), []string{"keywords"}},
		{"bad regex", base(func(r *model.ReplyRule) { r.Mode, r.Keywords = model.KeywordRegex, []string{"(unclosed"} }), []string{"keywords"}},
		{"long regex", base(func(r *model.ReplyRule) { r.Mode, r.Keywords = model.KeywordRegex, []string{strings.Repeat("a", 201)} }), []string{"keywords"}},
		{"perl-only regex", base(func(r *model.ReplyRule) { r.Mode, r.Keywords = model.KeywordRegex, []string{`(?=x)`} }), []string{"keywords"}},
		{"msgtype", base(func(r *model.ReplyRule) { r.Match, r.Keywords = model.MatchMsgType, []string{"IMAGE", "location"} }), nil},
		{"bad msgtype", base(func(r *model.ReplyRule) { r.Match, r.Keywords = model.MatchMsgType, []string{"sticker"} }), []string{"keywords"}},
		{"click", base(func(r *model.ReplyRule) { r.Match, r.Keywords = model.MatchClick, []string{"HELP"} }), nil},
		{"long click key", base(func(r *model.ReplyRule) { r.Match, r.Keywords = model.MatchClick, []string{strings.Repeat("k", 129)} }), []string{"keywords"}},
		{"default ignores keywords", base(func(r *model.ReplyRule) { r.Match = model.MatchDefault }), nil},
		{"priority", base(func(r *model.ReplyRule) { r.Priority = 1001 }), []string{"priority"}},
		{"provider", base(func(r *model.ReplyRule) { r.Provider = "Lessons!" }), []string{"provider"}},
		{"empty text", base(func(r *model.ReplyRule) { r.Reply.Text = " " }), []string{"reply.text"}},
		{"long text", base(func(r *model.ReplyRule) { r.Reply.Text = strings.Repeat("字", 700) }), []string{"reply.text"}},
		{"image", base(func(r *model.ReplyRule) { r.Reply = model.Reply{Kind: model.ReplyImage, MediaID: "M"} }), nil},
		{"image without media", base(func(r *model.ReplyRule) { r.Reply = model.Reply{Kind: model.ReplyImage} }), []string{"reply.media_id"}},
		{"news", base(func(r *model.ReplyRule) { r.Reply = news(model.NewsArticle{Title: "T", URL: "https://e.com/a"}) }), nil},
		{"news two articles", base(func(r *model.ReplyRule) {
			r.Reply = model.Reply{Kind: model.ReplyNews, Articles: []model.NewsArticle{{Title: "a", URL: "https://e.com"}, {Title: "b", URL: "https://e.com"}}}
		}), []string{"reply.articles"}},
		{"news bad url", base(func(r *model.ReplyRule) { r.Reply = news(model.NewsArticle{Title: "T", URL: "javascript:alert(1)"}) }), []string{"reply.articles"}},
		{"news bad picture", base(func(r *model.ReplyRule) {
			r.Reply = news(model.NewsArticle{Title: "T", URL: "https://e.com", PicURL: "ftp://e.com/p.jpg"})
		}), []string{"reply.articles"}},
		{"bad kind", base(func(r *model.ReplyRule) { r.Reply.Kind = "video" }), []string{"reply.kind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := gateway.ValidateRule(tt.in)
			if got := keys(problems); !slices.Equal(got, tt.fields) {
				t.Errorf("ValidateRule() fields = %v (%v), want %v", got, problems, tt.fields)
			}
		})
	}
	got, _ := gateway.ValidateRule(base(func(r *model.ReplyRule) {
		r.Name, r.Keywords, r.Reply.MediaID = " 规则 ", []string{" 你好 ", "你好", "嗨"}, "left over"
	}))
	want := model.ReplyRule{Name: "规则", Match: model.MatchKeyword, Mode: model.KeywordContains,
		Keywords: []string{"你好", "嗨"}, Reply: txt, Enabled: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ValidateRule() cleaning mismatch (-want +got):\n%s", diff)
	}
	got, _ = gateway.ValidateRule(base(func(r *model.ReplyRule) { r.Match = model.MatchSubscribe }))
	if got.Mode != "" || got.Keywords != nil {
		t.Errorf("ValidateRule(subscribe) kept mode %q and keywords %v", got.Mode, got.Keywords)
	}
}

func TestReplyRuleCRUDAndCacheAcrossCopies(t *testing.T) {
	e := mustEnv(t)
	a, b := e.svc, e.newService(t)
	ctx := as(model.RoleEditor)
	// b loads its cache before the rule exists.
	if got := replyText(mustHandle(t, b, text("o", "暗号", "1"))); got != seeded(t, "默认回复") {
		t.Fatalf("b before the rule = %q", got)
	}
	created, err := a.CreateReplyRule(ctx, model.ReplyRule{Name: "暗号", Match: model.MatchKeyword, Mode: model.KeywordExact,
		Keywords: []string{"暗号"}, Priority: 200, Reply: model.Reply{Kind: model.ReplyText, Text: "天王盖地虎"}, Enabled: true})
	if err != nil {
		t.Fatalf("CreateReplyRule() = %v", err)
	}
	if got := replyText(mustHandle(t, a, text("o", "暗号", "2"))); got != "天王盖地虎" {
		t.Errorf("a right after its write = %q, want the new rule", got)
	}
	if got := replyText(mustHandle(t, b, text("o", "暗号", "3"))); got != seeded(t, "默认回复") {
		t.Errorf("b within the second = %q, want its cached rules", got)
	}
	e.clock.Add(time.Second)
	if got := replyText(mustHandle(t, b, text("o", "暗号", "4"))); got != "天王盖地虎" {
		t.Errorf("b after a second = %q, want the new rule", got)
	}

	disabled := false
	if _, err := a.UpdateReplyRule(ctx, created.ID, gateway.RulePatch{Enabled: &disabled}); err != nil {
		t.Fatalf("UpdateReplyRule() = %v", err)
	}
	e.clock.Add(time.Second)
	if got := replyText(mustHandle(t, b, text("o", "暗号", "5"))); got != seeded(t, "默认回复") {
		t.Errorf("b after disabling = %q, want the default", got)
	}
	bad := "(x"
	mode := model.KeywordRegex
	_, err = a.UpdateReplyRule(ctx, created.ID, gateway.RulePatch{Mode: &mode, Keywords: &[]string{bad}})
	if !errors.Is(err, model.ErrInvalid) {
		t.Errorf("UpdateReplyRule(bad regex) = %v, want ErrInvalid", err)
	}
	if _, err := a.UpdateReplyRule(ctx, 99999, gateway.RulePatch{}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("UpdateReplyRule(unknown) = %v, want ErrNotFound", err)
	}
	if err := a.DeleteReplyRule(ctx, created.ID); err != nil {
		t.Fatalf("DeleteReplyRule() = %v", err)
	}
	if err := a.DeleteReplyRule(ctx, created.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("DeleteReplyRule(again) = %v, want ErrNotFound", err)
	}
	if diff := cmp.Diff([]string{"reply.create", "reply.update", "reply.delete"}, e.audit.Actions()); diff != "" {
		t.Errorf("audit mismatch (-want +got):\n%s", diff)
	}
	rules, err := a.ListReplyRules(ctx)
	if err != nil || len(rules) != 6 {
		t.Errorf("ListReplyRules() = %d rules, %v; want the 6 seeded", len(rules), err)
	}

	for _, c := range []context.Context{as(model.RoleReviewer), as(model.RoleCaseworker)} {
		if _, err := a.ListReplyRules(c); !errors.Is(err, model.ErrForbidden) {
			t.Errorf("ListReplyRules(not an editor) = %v, want ErrForbidden", err)
		}
		if _, err := a.CreateReplyRule(c, created); !errors.Is(err, model.ErrForbidden) {
			t.Errorf("CreateReplyRule(not an editor) = %v, want ErrForbidden", err)
		}
	}
	if _, err := a.ListReplyRules(as(model.RoleAdmin)); err != nil {
		t.Errorf("ListReplyRules(admin) = %v", err)
	}
}

func TestCacheWhenRedisIsDown(t *testing.T) {
	e := mustEnv(t)
	a, b := e.svc, e.newService(t)
	mustHandle(t, b, text("o", "hi", "0"))
	e.mr.Close() // both copies lose Redis
	if _, err := a.CreateReplyRule(as(model.RoleEditor), model.ReplyRule{Name: "新", Match: model.MatchKeyword,
		Mode: model.KeywordExact, Keywords: []string{"新规则"}, Reply: model.Reply{Kind: model.ReplyText, Text: "新"}, Enabled: true}); err != nil {
		t.Fatalf("CreateReplyRule() with Redis down = %v (the database is the truth)", err)
	}
	if got := replyText(mustHandle(t, a, text("o", "新规则", "1"))); got != "新" {
		t.Errorf("a after its write = %q", got)
	}
	e.clock.Add(2 * time.Second)
	if got := replyText(mustHandle(t, b, text("o", "新规则", "2"))); got == "新" {
		t.Errorf("b saw the rule without Redis before its cache went stale")
	}
	e.clock.Add(gateway.DefaultStaleAfter)
	if got := replyText(mustHandle(t, b, text("o", "新规则", "3"))); got != "新" {
		t.Errorf("b after %v without Redis = %q, want the rule reloaded from the database", gateway.DefaultStaleAfter, got)
	}
}

func TestCreateReplyRuleLimit(t *testing.T) {
	e := mustEnv(t)
	ctx := as(model.RoleEditor)
	r := model.ReplyRule{Name: "r", Match: model.MatchClick, Keywords: []string{"K"},
		Reply: model.Reply{Kind: model.ReplyText, Text: "x"}}
	rules := store.NewReplyRules(e.db) // faster than auditing 500 creations
	n := gateway.MaxRules - len(mustRules(t, e))
	err := e.db.WithTx(context.Background(), func(ctx context.Context) error {
		for range n {
			if _, err := rules.CreateReplyRule(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateReplyRule(ctx, r); !errors.Is(err, model.ErrConflict) {
		t.Errorf("CreateReplyRule() beyond %d = %v, want ErrConflict", gateway.MaxRules, err)
	}
}

func mustRules(tb testing.TB, e *env) []model.ReplyRule {
	tb.Helper()
	rules, err := e.svc.ListReplyRules(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return rules
}

func TestValidateMenu(t *testing.T) {
	click := func(name, key string) model.MenuButton { return model.MenuButton{Type: "click", Name: name, Key: key} }
	group := func(name string, subs ...model.MenuButton) model.MenuButton {
		return model.MenuButton{Name: name, SubButtons: subs}
	}
	tests := []struct {
		name    string
		buttons []model.MenuButton
		fields  []string
	}{
		{"valid", []model.MenuButton{
			group("服务", click("求助", "HELP"), model.MenuButton{Type: "view", Name: "官网", URL: "https://example.com"},
				model.MenuButton{Type: "miniprogram", Name: "小程序", AppID: "wx1", PagePath: "pages/index", URL: "https://example.com"}),
			click("微课", "LESSONS"),
			model.MenuButton{Type: "article_id", Name: "文章", ArticleID: "A1"},
		}, nil},
		{"no buttons", nil, []string{"button"}},
		{"four buttons", []model.MenuButton{click("a", "a"), click("b", "b"), click("c", "c"), click("d", "d")}, []string{"button"}},
		{"six sub-buttons", []model.MenuButton{group("g", click("1", "1"), click("2", "2"), click("3", "3"), click("4", "4"),
			click("5", "5"), click("6", "6"))}, []string{"button[0].sub_button"}},
		{"top name 17 bytes", []model.MenuButton{click(strings.Repeat("a", 17), "k")}, []string{"button[0].name"}},
		{"top name 6 Chinese characters", []model.MenuButton{click("妇联服务中心", "k")}, []string{"button[0].name"}},
		{"top name 5 Chinese characters", []model.MenuButton{click("妇联服务站", "k")}, nil},
		{"sub name 61 bytes", []model.MenuButton{group("g", click(strings.Repeat("a", 61), "k"))}, []string{"button[0].sub_button[0].name"}},
		{"sub name 60 bytes", []model.MenuButton{group("g", click(strings.Repeat("a", 60), "k"))}, nil},
		{"no name", []model.MenuButton{click(" ", "k")}, []string{"button[0].name"}},
		{"bad type", []model.MenuButton{{Type: "dance", Name: "x"}}, []string{"button[0].type"}},
		{"no type", []model.MenuButton{{Name: "x"}}, []string{"button[0].type"}},
		{"click without key", []model.MenuButton{click("x", "")}, []string{"button[0].key"}},
		{"key 129 bytes", []model.MenuButton{click("x", strings.Repeat("k", 129))}, []string{"button[0].key"}},
		{"scan key", []model.MenuButton{{Type: "scancode_push", Name: "扫码", Key: "SCAN"}}, nil},
		{"view without url", []model.MenuButton{{Type: "view", Name: "x"}}, []string{"button[0].url"}},
		{"view bad url", []model.MenuButton{{Type: "view", Name: "x", URL: "example.com"}}, []string{"button[0].url"}},
		{"view url too long", []model.MenuButton{{Type: "view", Name: "x", URL: "https://e.com/" + strings.Repeat("a", 1011)}}, []string{"button[0].url"}},
		{"miniprogram missing fields", []model.MenuButton{{Type: "miniprogram", Name: "x"}},
			[]string{"button[0].appid", "button[0].pagepath", "button[0].url"}},
		{"media without id", []model.MenuButton{{Type: "media_id", Name: "x"}}, []string{"button[0].media_id"}},
		{"article without id", []model.MenuButton{{Type: "article_view_limited", Name: "x"}}, []string{"button[0].article_id"}},
		{"group with a type", []model.MenuButton{{Type: "click", Name: "g", Key: "k", SubButtons: []model.MenuButton{click("a", "a")}}},
			[]string{"button[0].type"}},
		{"third level", []model.MenuButton{group("g", model.MenuButton{Type: "click", Name: "a", Key: "a",
			SubButtons: []model.MenuButton{click("b", "b")}})}, []string{"button[0].sub_button[0].sub_button"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := gateway.ValidateMenu(tt.buttons)
			if got := keys(problems); !slices.Equal(got, tt.fields) {
				t.Errorf("ValidateMenu() fields = %v (%v), want %v", got, problems, tt.fields)
			}
		})
	}
	got, _ := gateway.ValidateMenu([]model.MenuButton{{Type: "view", Name: " 官网 ", URL: " https://e.com ", Key: "stray"}})
	if want := []model.MenuButton{{Type: "view", Name: "官网", URL: "https://e.com"}}; !cmp.Equal(got, want) {
		t.Errorf("ValidateMenu() cleaning = %+v, want %+v", got, want)
	}
}

func TestMenuSaveAndPublish(t *testing.T) {
	e := mustEnv(t)
	ctx := as(model.RoleEditor)
	m, err := e.svc.Menu(ctx)
	if err != nil || len(m.Buttons) != 0 || m.Revision != 0 {
		t.Fatalf("Menu() before any save = %+v, %v", m, err)
	}
	if _, err := e.svc.PublishMenu(ctx); !errors.Is(err, model.ErrConflict) {
		t.Errorf("PublishMenu() with no menu = %v, want ErrConflict", err)
	}
	if _, err := e.svc.SaveMenu(ctx, []model.MenuButton{{Type: "click", Name: "x"}}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("SaveMenu(invalid) = %v, want ErrInvalid", err)
	}
	buttons := []model.MenuButton{{Type: "click", Name: "求助", Key: "HELP"}}
	saved, err := e.svc.SaveMenu(ctx, buttons)
	if err != nil || saved.Revision != 1 || saved.Published() || saved.UpdatedBy != 42 || !saved.UpdatedAt.Equal(t0) {
		t.Fatalf("SaveMenu() = %+v, %v", saved, err)
	}
	e.oa.fail = errors.New("wechat says no")
	if _, err := e.svc.PublishMenu(ctx); err == nil {
		t.Errorf("PublishMenu() with WeChat failing = nil error")
	}
	if m, _ := e.svc.Menu(ctx); m.Published() {
		t.Errorf("menu marked published after a failed publish")
	}
	e.oa.fail = nil
	e.clock.Add(time.Minute)
	pub, err := e.svc.PublishMenu(ctx)
	if err != nil || !pub.Published() || !pub.PublishedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("PublishMenu() = %+v, %v", pub, err)
	}
	if diff := cmp.Diff([][]model.MenuButton{buttons}, e.oa.published); diff != "" {
		t.Errorf("published menus mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"menu.update", "menu.publish"}, e.audit.Actions()); diff != "" {
		t.Errorf("audit mismatch (-want +got):\n%s", diff)
	}
	if _, err := e.svc.SaveMenu(as(model.RoleFairManager), buttons); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("SaveMenu(fair manager) = %v, want ErrForbidden", err)
	}
}

func TestListFollowersRoles(t *testing.T) {
	e := mustEnv(t)
	mustHandle(t, e.svc, event("o1", "subscribe", "qrscene_a"))
	mustHandle(t, e.svc, event("o2", "subscribe", ""))
	items, next, err := e.svc.ListFollowers(as(model.RoleEditor), model.FollowerFilter{Scene: "a"}, model.Page{})
	if err != nil || next != "" || len(items) != 1 || items[0].OpenID != "o1" {
		t.Errorf("ListFollowers(scene a) = %+v, %q, %v", items, next, err)
	}
	if _, _, err := e.svc.ListFollowers(as(model.RoleReviewer), model.FollowerFilter{}, model.Page{}); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("ListFollowers(reviewer) = %v, want ErrForbidden", err)
	}
}
