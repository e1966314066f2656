package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/gateway"
	"wanjia/store"
)

// seeded returns the static reply text of the seeded rule name.
func seeded(tb testing.TB, name string) string {
	tb.Helper()
	for _, r := range store.SeedReplyRules() {
		if r.Name == name {
			return r.Reply.Text
		}
	}
	tb.Fatalf("no seeded rule %q", name)
	return ""
}

func TestSeededIntents(t *testing.T) {
	e := mustEnv(t)
	tests := []struct {
		content string
		rule    string
	}{
		{"你好，我想求助", "12338 维权求助"},
		{"12338", "12338 维权求助"},
		{"怎么维权？", "12338 维权求助"},
		{"微课", "空中微课堂"},
		{"最新的空中课堂", "空中微课堂"},
		{"有招聘会吗", "女性专场招聘会"},
		{"就业", "女性专场招聘会"},
		{"最美家庭怎么报名", "最美家庭"},
		{"今天天气不错", "默认回复"},
	}
	for i, tt := range tests {
		got := mustHandle(t, e.svc, text("oUser", tt.content, "m"+string(rune('a'+i))))
		if want := seeded(t, tt.rule); replyText(got) != want {
			t.Errorf("Handle(%q) = %q, want the %s reply", tt.content, replyText(got), tt.rule)
		}
	}
	// Non-text messages fall to the default rule; the Mini Program gets no
	// rule replies.
	if got := mustHandle(t, e.svc, model.InboundMessage{App: model.AppOA, FromUser: "oUser", MsgType: "image", MsgID: "i1"}); replyText(got) != seeded(t, "默认回复") {
		t.Errorf("Handle(image) = %q, want the default reply", replyText(got))
	}
	if got := mustHandle(t, e.svc, model.InboundMessage{App: model.AppMP, FromUser: "oUser", MsgType: "text", Content: "求助", MsgID: "p1"}); got != nil {
		t.Errorf("Handle(mp text) = %+v, want nil", got)
	}
}

func TestProviders(t *testing.T) {
	e := mustEnv(t)
	lessons := &model.Reply{Kind: model.ReplyNews, Articles: []model.NewsArticle{{Title: "第3课", URL: "https://example.com/3"}}}
	var calls atomic.Int32
	e.svc.RegisterProvider("lessons", func(ctx context.Context) (*model.Reply, error) {
		calls.Add(1)
		return lessons, nil
	})
	e.svc.RegisterProvider("fairs", func(ctx context.Context) (*model.Reply, error) { return nil, errBoom })
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	e.svc.RegisterProvider("campaign", func(ctx context.Context) (*model.Reply, error) {
		<-release // ignores ctx: the gateway must not wait for it
		return &model.Reply{Kind: model.ReplyText, Text: "late"}, nil
	})

	if got := mustHandle(t, e.svc, text("o", "微课", "1")); !cmp.Equal(got, lessons) || calls.Load() != 1 {
		t.Errorf("Handle(微课) with a provider = %+v (calls %d), want the provider's answer", got, calls.Load())
	}
	if got := mustHandle(t, e.svc, text("o", "招聘", "2")); replyText(got) != seeded(t, "女性专场招聘会") {
		t.Errorf("Handle(招聘) with a failing provider = %q, want the static reply", replyText(got))
	}
	start := time.Now()
	got := mustHandle(t, e.svc, text("o", "最美家庭", "3"))
	if replyText(got) != seeded(t, "最美家庭") {
		t.Errorf("Handle(最美家庭) with a slow provider = %q, want the static reply", replyText(got))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Handle with a slow provider took %v, want about the 300 ms provider timeout", d)
	}
	e.svc.RegisterProvider("lessons", nil)
	if got := mustHandle(t, e.svc, text("o", "微课", "4")); replyText(got) != seeded(t, "空中微课堂") {
		t.Errorf("Handle(微课) after removing the provider = %q, want the static reply", replyText(got))
	}
}

func TestCrisisMessages(t *testing.T) {
	e := mustEnv(t)
	tests := []struct {
		name   string
		msg    model.InboundMessage
		crisis bool
	}{
		{"plain", text("o1", "救命", "c1"), true},
		{"spaced", text("o1", "救 命", "c2"), true},
		{"punctuated", text("o1", "救命！", "c3"), true},
		{"full-width and emoji", text("o1", "他又打我了😭😭", "c4"), true},
		{"before the rules: a help keyword too", text("o1", "求助，我被家暴了", "c5"), true},
		{"recognised voice", model.InboundMessage{App: model.AppOA, FromUser: "o1", MsgType: "voice", MsgID: "c6",
			Content: "我不想活了", CreateTime: t0}, true},
		{"mini program", model.InboundMessage{App: model.AppMP, FromUser: "o1", MsgType: "text", MsgID: "c7",
			Content: "想死", CreateTime: t0}, true},
		{"no crisis", text("o1", "我想求助", "c8"), false},
		{"events are not read", event("o1", "CLICK", "救命"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustHandle(t, e.svc, tt.msg)
			if isCrisis := replyText(got) == gateway.DefaultCrisisReply; isCrisis != tt.crisis {
				t.Errorf("Handle(%q) = %q, want crisis %v", tt.msg.Content, replyText(got), tt.crisis)
			}
			if tt.msg.Content != "" && e.svc.IsCrisis(tt.msg.Content) != tt.crisis && tt.msg.MsgType != "event" {
				t.Errorf("IsCrisis(%q) = %v, want %v", tt.msg.Content, !tt.crisis, tt.crisis)
			}
		})
	}
	if got := replyText(mustHandle(t, e.svc, text("o1", "救命", "c1"))); got != gateway.DefaultCrisisReply {
		t.Errorf("Handle(retry of a crisis message) = %q, want the crisis reply again", got)
	}
	for _, w := range []string{"110", "12338"} {
		if !strings.Contains(gateway.DefaultCrisisReply, w) {
			t.Errorf("DefaultCrisisReply does not mention %s", w)
		}
	}
	// One alert task per crisis message, whatever the retries.
	tasks := e.jobs.ofType(gateway.TaskCrisisAlert)
	if len(tasks) != 7 {
		t.Fatalf("crisis alert tasks = %d, want 7 (one per crisis message)", len(tasks))
	}
	if want := "crisis:" + text("o1", "", "c1").DedupeKey(); tasks[0].ID != want {
		t.Errorf("crisis task id = %q, want %q", tasks[0].ID, want)
	}
	for _, task := range tasks {
		if strings.Contains(string(task.Payload), "救") || strings.Contains(string(task.Payload), "o1") {
			t.Errorf("crisis task payload %s carries the message or the openid", task.Payload)
		}
	}
	if got := counterValue(t, e.reg, "wanjia_crisis_messages_total", "oa"); got != 7 {
		t.Errorf("wanjia_crisis_messages_total{app=oa} = %v, want 7 (6 messages and 1 retry)", got)
	}
	if got := counterValue(t, e.reg, "wanjia_crisis_messages_total", "mp"); got != 1 {
		t.Errorf("wanjia_crisis_messages_total{app=mp} = %v, want 1", got)
	}
}

func TestCrisisAlertGoesToOnDutyStaff(t *testing.T) {
	e := mustEnv(t)
	admin := e.mustStaff(t, "admin", false, model.RoleAdmin)
	cw := e.mustStaff(t, "cw", false, model.RoleCaseworker)
	e.mustStaff(t, "off", true, model.RoleCaseworker)
	e.mustStaff(t, "editor", false, model.RoleEditor)

	mustHandle(t, e.svc, text("o1", "救命", "m1"))
	tasks := e.jobs.ofType(gateway.TaskCrisisAlert)
	if len(tasks) != 1 {
		t.Fatalf("crisis tasks = %d, want 1", len(tasks))
	}
	if err := e.runTask(t, e.svc, tasks[0]); err != nil {
		t.Fatalf("crisis alert task = %v", err)
	}
	key := text("o1", "", "m1").DedupeKey()
	fields := map[string]string{"title": "危机关键词预警", "app": "公众号", "time": "2025-03-08 17:00",
		"hint": "有用户发来含危机关键词的消息，请尽快在后台消息记录中查看并跟进"}
	want := []testutil.Notified{
		{To: model.Recipient{StaffID: admin.ID}, Notice: model.Notice{Topic: gateway.TopicCrisisAlert, Fields: fields, Urgent: true,
			DedupeKey: "crisis:" + key + ":staff:" + itoa(admin.ID)}},
		{To: model.Recipient{StaffID: cw.ID}, Notice: model.Notice{Topic: gateway.TopicCrisisAlert, Fields: fields, Urgent: true,
			DedupeKey: "crisis:" + key + ":staff:" + itoa(cw.ID)}},
	}
	if diff := cmp.Diff(want, e.notifier.Sent()); diff != "" {
		t.Errorf("notices without configured staff (admins and caseworkers) mismatch (-want +got):\n%s", diff)
	}

	// Configured staff: only them (a disabled or unknown one is skipped).
	ed := e.mustStaff(t, "duty", false, model.RoleEditor)
	off := e.mustStaff(t, "duty-off", false, model.RoleEditor)
	if _, err := e.svc.UpdateCrisisSettings(as(model.RoleAdmin), gateway.CrisisUpdate{AlertStaffIDs: &[]int64{ed.ID, off.ID}}); err != nil {
		t.Fatal(err)
	}
	off.Disabled = true
	if _, err := e.staff.UpdateStaff(context.Background(), off); err != nil {
		t.Fatal(err)
	}
	e.notifier.Take()
	e.notifier.Fail = func(r model.Recipient) error {
		if r.StaffID == ed.ID {
			return errBoom
		}
		return nil
	}
	if err := e.runTask(t, e.svc, tasks[0]); !errors.Is(err, errBoom) {
		t.Fatalf("crisis alert task with a failing notice = %v, want the error (retried)", err)
	}
	e.notifier.Fail = nil
	if err := e.runTask(t, e.svc, tasks[0]); err != nil {
		t.Fatal(err)
	}
	if got := e.notifier.Sent(); len(got) != 1 || got[0].To.StaffID != ed.ID {
		t.Errorf("notices with configured staff = %+v, want one to staff %d", got, ed.ID)
	}
	if err := e.runTask(t, e.svc, enqueued{Type: gateway.TaskCrisisAlert, Payload: []byte("{")}); !errors.Is(err, gateway.ErrBadPayload) {
		t.Errorf("crisis alert task with a bad payload = %v, want ErrBadPayload", err)
	}
}

func TestCrisisAlertSentDirectlyWhenQueueIsDown(t *testing.T) {
	e := mustEnv(t)
	cw := e.mustStaff(t, "cw", false, model.RoleCaseworker)
	e.jobs.fail = errors.New("redis down")
	if got := replyText(mustHandle(t, e.svc, text("o1", "救命", "m1"))); got != gateway.DefaultCrisisReply {
		t.Fatalf("Handle(crisis) with the queue down = %q, want the crisis reply", got)
	}
	e.svc.Wait()
	if got := e.notifier.Sent(); len(got) != 1 || got[0].To.StaffID != cw.ID || !got[0].Notice.Urgent {
		t.Errorf("notices sent directly = %+v, want one urgent notice to %d", got, cw.ID)
	}
}

func TestCrisisSettings(t *testing.T) {
	e := mustEnv(t)
	other := e.newService(t)
	mustHandle(t, other, text("o", "hi", "warm-up")) // loads its cache

	got, err := e.svc.CrisisSettings(as(model.RoleEditor))
	if err != nil || !cmp.Equal(got.Words, gateway.DefaultCrisisWords()) {
		t.Fatalf("CrisisSettings() = %+v, %v, want the defaults", got, err)
	}
	cw := e.mustStaff(t, "cw", false, model.RoleCaseworker)
	off := e.mustStaff(t, "off", true, model.RoleCaseworker)

	tests := []struct {
		name   string
		ctx    context.Context
		u      gateway.CrisisUpdate
		kind   error
		fields []string
	}{
		{"reviewer", as(model.RoleReviewer), gateway.CrisisUpdate{Words: &[]string{"救命"}}, model.ErrForbidden, nil},
		{"editor changes staff", as(model.RoleEditor), gateway.CrisisUpdate{AlertStaffIDs: &[]int64{cw.ID}}, model.ErrForbidden, nil},
		{"empty word", as(model.RoleEditor), gateway.CrisisUpdate{Words: &[]string{"救命", "！！"}}, model.ErrInvalid, []string{"words"}},
		{"no words", as(model.RoleEditor), gateway.CrisisUpdate{Words: &[]string{}}, model.ErrInvalid, []string{"words"}},
		{"too long", as(model.RoleEditor), gateway.CrisisUpdate{Words: &[]string{strings.Repeat("救", 21)}}, model.ErrInvalid, []string{"words"}},
		{"disabled staff", as(model.RoleAdmin), gateway.CrisisUpdate{AlertStaffIDs: &[]int64{off.ID}}, model.ErrInvalid, []string{"alert_staff_ids"}},
		{"unknown staff", as(model.RoleAdmin), gateway.CrisisUpdate{AlertStaffIDs: &[]int64{999}}, model.ErrInvalid, []string{"alert_staff_ids"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.UpdateCrisisSettings(tt.ctx, tt.u)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("UpdateCrisisSettings() = %v, want %v", err, tt.kind)
			}
			var me *model.Error
			if tt.fields != nil && (!errors.As(err, &me) || !cmp.Equal(keys(me.Fields), tt.fields)) {
				t.Errorf("UpdateCrisisSettings() fields = %v, want %v", me, tt.fields)
			}
		})
	}

	got, err = e.svc.UpdateCrisisSettings(as(model.RoleEditor), gateway.CrisisUpdate{Words: &[]string{" 求救 ", "求 救", "被打"}})
	if err != nil || !cmp.Equal(got.Words, []string{"求救", "被打"}) {
		t.Fatalf("UpdateCrisisSettings(words) = %+v, %v, want [求救 被打] (trimmed, deduplicated)", got, err)
	}
	got, err = e.svc.UpdateCrisisSettings(as(model.RoleAdmin), gateway.CrisisUpdate{AlertStaffIDs: &[]int64{cw.ID, cw.ID}})
	if err != nil || !cmp.Equal(got.AlertStaffIDs, []int64{cw.ID}) || !cmp.Equal(got.Words, []string{"求救", "被打"}) {
		t.Fatalf("UpdateCrisisSettings(staff) = %+v, %v", got, err)
	}
	// An editor may save the same staff list back (the console sends both).
	if _, err := e.svc.UpdateCrisisSettings(as(model.RoleEditor), gateway.CrisisUpdate{
		Words: &[]string{"求救", "被打"}, AlertStaffIDs: &[]int64{cw.ID}}); err != nil {
		t.Errorf("UpdateCrisisSettings(editor, same staff) = %v", err)
	}
	if diff := cmp.Diff([]string{"crisis.update", "crisis.update", "crisis.update"}, e.audit.Actions()); diff != "" {
		t.Errorf("audit mismatch (-want +got):\n%s", diff)
	}
	if !e.svc.IsCrisis("求 救！") || e.svc.IsCrisis("救命") {
		t.Errorf("IsCrisis after the update: 求救 %v, 救命 %v; want true, false", e.svc.IsCrisis("求 救！"), e.svc.IsCrisis("救命"))
	}
	// The other copy follows within a second.
	if got := replyText(mustHandle(t, other, text("o", "求救", "x1"))); got == gateway.DefaultCrisisReply {
		t.Errorf("other copy answered the new word before its refresh")
	}
	e.clock.Add(time.Second)
	if got := replyText(mustHandle(t, other, text("o", "求救", "x2"))); got != gateway.DefaultCrisisReply {
		t.Errorf("other copy after a second = %q, want the crisis reply", got)
	}
}

// keys returns the keys of m, sorted.
func keys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestEventsRecordFollowers(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()

	// Follow through a QR code: follower with scene, scan, greeting, sync queued.
	sub := event("oAnna", "subscribe", "qrscene_fair_12")
	if got := replyText(mustHandle(t, e.svc, sub)); got != seeded(t, "关注欢迎语") {
		t.Errorf("Handle(subscribe) = %q, want the greeting", got)
	}
	f, err := e.followers.FollowerByOpenID(ctx, "oAnna")
	if err != nil || !f.Subscribed || f.Scene != "fair_12" || !f.SubscribedAt.Equal(t0) {
		t.Fatalf("follower after subscribe = %+v, %v", f, err)
	}
	scans, _ := e.followers.ListScans(ctx, "fair_12", t0, 10)
	if len(scans) != 1 || !scans[0].Subscribe {
		t.Errorf("scans after a QR follow = %+v, want one subscribe scan", scans)
	}
	sync := e.jobs.ofType(gateway.TaskFollowerSync)
	if len(sync) != 1 {
		t.Fatalf("follower sync tasks = %d, want 1", len(sync))
	}
	e.oa.info["oAnna"] = gateway.FollowerInfo{UnionID: "uAnna", TagIDs: []int{2}, Subscribed: true}
	if err := e.runTask(t, e.svc, sync[0]); err != nil {
		t.Fatalf("follower sync = %v", err)
	}
	if f, _ := e.followers.FollowerByOpenID(ctx, "oAnna"); f.UnionID != "uAnna" || !cmp.Equal(f.TagIDs, []int{2}) {
		t.Errorf("follower after sync = %+v, want unionid and tags", f)
	}
	e.oa.fail = errBoom
	if err := e.runTask(t, e.svc, sync[0]); !errors.Is(err, errBoom) {
		t.Errorf("follower sync with WeChat down = %v, want the error (retried)", err)
	}
	e.oa.fail = model.Errorf(model.ErrNotFound, "关注者不存在")
	if err := e.runTask(t, e.svc, sync[0]); err != nil {
		t.Errorf("follower sync of an openid WeChat does not know = %v, want nil (nothing to retry)", err)
	}
	e.oa.fail = nil

	// A plain follow has no scene; SCAN of a follower records the scene.
	mustHandle(t, e.svc, event("oBea", "subscribe", ""))
	if f, _ := e.followers.FollowerByOpenID(ctx, "oBea"); !f.Subscribed || f.Scene != "" {
		t.Errorf("plain follow = %+v", f)
	}
	if got := mustHandle(t, e.svc, event("oBea", "SCAN", "poster_3")); got != nil {
		t.Errorf("Handle(SCAN) = %+v, want nil", got)
	}
	if scans, _ := e.followers.ListScans(ctx, "poster_3", t0, 10); len(scans) != 1 || scans[0].Subscribe {
		t.Errorf("scans after SCAN = %+v", scans)
	}

	// Unfollow.
	later := event("oAnna", "unsubscribe", "")
	later.CreateTime = t0.Add(time.Hour)
	if got := mustHandle(t, e.svc, later); got != nil {
		t.Errorf("Handle(unsubscribe) = %+v, want nil", got)
	}
	if f, _ := e.followers.FollowerByOpenID(ctx, "oAnna"); f.Subscribed || !f.UnsubscribedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("follower after unsubscribe = %+v", f)
	}

	// A message and a VIEW mark activity.
	e.clock.Add(2 * time.Minute)
	msg := text("oBea", "你好", "b1")
	msg.CreateTime = t0.Add(2 * time.Minute)
	mustHandle(t, e.svc, msg)
	if f, _ := e.followers.FollowerByOpenID(ctx, "oBea"); !f.LastActiveAt.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("last active after a message = %v", f.LastActiveAt)
	}
	if got := mustHandle(t, e.svc, event("oBea", "VIEW", "https://example.com")); got != nil {
		t.Errorf("Handle(VIEW) = %+v, want nil", got)
	}

	// Recording fails: the error comes back so WeChat's retry processes it again.
	broken := e.newService(t, func(d *gateway.Deps) { d.Followers = brokenFollowers{e.followers} })
	for _, m := range []model.InboundMessage{event("oCid", "subscribe", ""), event("oCid", "unsubscribe", ""),
		event("oCid", "SCAN", "x")} {
		if _, err := broken.Handle(ctx, m); !errors.Is(err, errBoom) {
			t.Errorf("Handle(%s) with the follower table failing = %v, want the error", m.Event, err)
		}
	}
}

func TestClickUnknownAndForwardedEvents(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	_, err := e.svc.CreateReplyRule(as(model.RoleEditor), model.ReplyRule{Name: "菜单求助", Match: model.MatchClick,
		Keywords: []string{"HELP"}, Reply: model.Reply{Kind: model.ReplyText, Text: "求助方式"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := replyText(mustHandle(t, e.svc, event("o", "CLICK", "HELP"))); got != "求助方式" {
		t.Errorf("Handle(CLICK HELP) = %q, want the click rule", got)
	}
	if got := mustHandle(t, e.svc, event("o", "CLICK", "OTHER")); got != nil {
		t.Errorf("Handle(CLICK OTHER) = %+v, want nil", got)
	}
	for _, ev := range []string{"LOCATION", "user_authorization_revoke", "weird"} {
		if got, err := e.svc.Handle(ctx, event("o", ev, "")); got != nil || err != nil {
			t.Errorf("Handle(%s) = %+v, %v, want nil, nil", ev, got, err)
		}
	}

	tmpl := event("", "TEMPLATESENDJOBFINISH", "")
	tmpl.ResultMsgID, tmpl.Status = "200163836", "failed:user block"
	mustHandle(t, e.svc, tmpl)
	popup := model.InboundMessage{App: model.AppMP, FromUser: "oMP", MsgType: "event", Event: "subscribe_msg_popup_event",
		CreateTime: t0, SubscribeEvents: []model.SubscribeEvent{{TemplateID: "T1", Status: "accept", PopupScene: "0"}}}
	mustHandle(t, e.svc, popup)
	change := event("oOA", "subscribe_msg_change_event", "")
	change.SubscribeEvents = []model.SubscribeEvent{{TemplateID: "T2", Status: "reject"}}
	mustHandle(t, e.svc, change)
	if diff := cmp.Diff([][2]string{{"200163836", "failed:user block"}}, e.notify.templates); diff != "" {
		t.Errorf("template results mismatch (-want +got):\n%s", diff)
	}
	want := []consentCall{
		{model.AppMP, "oMP", popup.SubscribeEvents},
		{model.AppOA, "oOA", change.SubscribeEvents},
	}
	if diff := cmp.Diff(want, e.notify.consents); diff != "" {
		t.Errorf("consent events mismatch (-want +got):\n%s", diff)
	}
	e.notify.fail = errBoom
	if _, err := e.svc.Handle(ctx, change); !errors.Is(err, errBoom) {
		t.Errorf("Handle(consent event) with the ledger failing = %v, want the error", err)
	}
}

func TestResultEventsAndSinks(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	var got []model.WeChatResult
	fail := true
	e.svc.RegisterResultSink(model.ResultPublish, func(_ context.Context, r model.WeChatResult) error {
		if fail {
			fail = false
			return errBoom
		}
		got = append(got, r)
		return nil
	})
	pub := event("gh_test", "PUBLISHJOBFINISH", "")
	pub.PublishID, pub.PublishStatus, pub.ArticleID = "2247503051", 0, "ART1"
	pub.ArticleURLs = []string{"https://mp.weixin.qq.com/s/a"}
	mass := event("gh_test", "MASSSENDJOBFINISH", "")
	mass.ResultMsgID, mass.Status, mass.TotalCount, mass.SentCount = "1000001625", "send success", 10, 9
	check := model.InboundMessage{App: model.AppMP, MsgType: "event", Event: "wxa_media_check", TraceID: "trace-1",
		Suggest: "risky", CheckLabel: 20002, CreateTime: t0}
	for _, m := range []model.InboundMessage{pub, mass, check} {
		if r := mustHandle(t, e.svc, m); r != nil {
			t.Errorf("Handle(%s) = %+v, want nil", m.Event, r)
		}
	}
	ignoreID := cmpopts.IgnoreFields(model.WeChatResult{}, "ID")
	wantPub := model.WeChatResult{Kind: model.ResultPublish, App: model.AppOA, Key: "2247503051", Status: "0",
		ArticleID: "ART1", ArticleURLs: pub.ArticleURLs, ReceivedAt: t0}
	results := store.NewResults(e.db)
	for _, want := range []model.WeChatResult{
		wantPub,
		{Kind: model.ResultMass, App: model.AppOA, Key: "1000001625", Status: "send success", TotalCount: 10, SentCount: 9, ReceivedAt: t0},
		{Kind: model.ResultMediaCheck, App: model.AppMP, Key: "trace-1", Status: "risky", Suggest: "risky", CheckLabel: 20002, ReceivedAt: t0},
	} {
		r, err := results.Result(ctx, want.Kind, want.Key)
		if diff := cmp.Diff(want, r, ignoreID); err != nil || diff != "" {
			t.Errorf("Result(%s) = %v, mismatch (-want +got):\n%s", want.Kind, err, diff)
		}
	}
	// Only the kind with a sink queues a task; the sink's failure retries it.
	tasks := e.jobs.ofType(gateway.TaskResult)
	if len(tasks) != 1 {
		t.Fatalf("result tasks = %d, want 1 (publish has a sink)", len(tasks))
	}
	if err := e.runTask(t, e.svc, tasks[0]); !errors.Is(err, errBoom) {
		t.Fatalf("result task with a failing sink = %v, want the error", err)
	}
	if err := e.runTask(t, e.svc, tasks[0]); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]model.WeChatResult{wantPub}, got, ignoreID); diff != "" {
		t.Errorf("sink got mismatch (-want +got):\n%s", diff)
	}
	// WeChat's retry of the same event queues nothing new.
	mustHandle(t, e.svc, pub)
	if n := len(e.jobs.ofType(gateway.TaskResult)); n != 1 {
		t.Errorf("result tasks after a retry = %d, want 1", n)
	}
}

// counterValue reads the counter name{app=app} from reg.
func counterValue(tb testing.TB, reg *prometheus.Registry, name, app string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "app" && l.GetValue() == app {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestDatabaseDownAtStart(t *testing.T) {
	e := mustEnv(t)
	down := true
	svc := e.newService(t, func(d *gateway.Deps) {
		rules := d.Rules
		d.Rules = ruleStoreFunc{rules, func() bool { return down }}
	})
	// Crisis words still work (the defaults); rules are not there yet.
	if got := replyText(mustHandle(t, svc, text("o", "救命", "1"))); got != gateway.DefaultCrisisReply {
		t.Errorf("Handle(crisis) with the database down = %q, want the crisis reply", got)
	}
	if got := mustHandle(t, svc, text("o", "求助", "2")); got != nil {
		t.Errorf("Handle(求助) with the database down = %+v, want nil", got)
	}
	down = false
	e.clock.Add(time.Second)
	if got := replyText(mustHandle(t, svc, text("o", "求助", "3"))); got != seeded(t, "12338 维权求助") {
		t.Errorf("Handle(求助) once the database answers = %q, want the help reply", got)
	}
}

// ruleStoreFunc fails ListReplyRules while down() holds.
type ruleStoreFunc struct {
	model.ReplyRuleStore
	down func() bool
}

func (r ruleStoreFunc) ListReplyRules(ctx context.Context) ([]model.ReplyRule, error) {
	if r.down() {
		return nil, errBoom
	}
	return r.ReplyRuleStore.ListReplyRules(ctx)
}

// fakeMP records customer-service messages.
type fakeMP struct {
	mu   sync.Mutex
	sent []string // openid + "|" + text
}

func (f *fakeMP) SendMPText(_ context.Context, openID, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, openID+"|"+text)
	return nil
}

// TestMiniProgramCrisisGetsGuidance: the MP push takes no passive reply,
// so the crisis guidance goes out as a customer-service message, once per
// message however often WeChat retries.
func TestMiniProgramCrisisGetsGuidance(t *testing.T) {
	e := mustEnv(t)
	mp := &fakeMP{}
	svc := e.newService(t, func(d *gateway.Deps) { d.MPCustomer = mp })
	m := model.InboundMessage{App: model.AppMP, FromUser: "oMPuser", MsgType: "text", MsgID: "mp-crisis-1",
		Content: "救命", CreateTime: t0}
	mustHandle(t, svc, m)
	mustHandle(t, svc, m) // WeChat's retry
	tasks := e.jobs.ofType(gateway.TaskCrisisReplyMP)
	if len(tasks) != 1 {
		t.Fatalf("crisis reply tasks = %d, want 1 (one per message)", len(tasks))
	}
	if err := e.runTask(t, svc, tasks[0]); err != nil {
		t.Fatalf("crisis reply task = %v", err)
	}
	want := []string{"oMPuser|" + gateway.DefaultCrisisReply}
	if diff := cmp.Diff(want, mp.sent); diff != "" {
		t.Errorf("customer-service messages (-want +got):\n%s", diff)
	}
	// An OA crisis message is answered passively: no customer-service task.
	mustHandle(t, svc, text("oOA", "救命", "oa-crisis-1"))
	if n := len(e.jobs.ofType(gateway.TaskCrisisReplyMP)); n != 1 {
		t.Errorf("crisis reply tasks after an OA message = %d, want still 1", n)
	}
}
