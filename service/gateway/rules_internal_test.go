package gateway

import (
	"testing"
	"time"

	"wanjia/model"
)

func TestRuleMatching(t *testing.T) {
	text := func(s string) model.Reply { return model.Reply{Kind: model.ReplyText, Text: s} }
	kw := func(id int64, name string, mode model.KeywordMode, prio int, words ...string) model.ReplyRule {
		return model.ReplyRule{ID: id, Name: name, Match: model.MatchKeyword, Mode: mode, Keywords: words,
			Priority: prio, Reply: text(name), Enabled: true}
	}
	rules := []model.ReplyRule{
		kw(1, "contains-help", model.KeywordContains, 10, "求助", "维权"),
		kw(2, "exact-12338", model.KeywordExact, 10, "12338"),
		kw(3, "contains-123", model.KeywordContains, 10, "123"),
		kw(4, "regex-fair", model.KeywordRegex, 10, `^招聘会\s*\d+$`),
		kw(5, "high-contains", model.KeywordContains, 50, "最美"),
		kw(6, "low-exact", model.KeywordExact, 0, "最美家庭"),
		kw(7, "regex-ci", model.KeywordRegex, 5, `(?i)^hello`),
		{ID: 8, Name: "disabled", Match: model.MatchKeyword, Mode: model.KeywordContains, Keywords: []string{"禁用"},
			Priority: 100, Reply: text("disabled")},
		{ID: 9, Name: "image", Match: model.MatchMsgType, Keywords: []string{"image", "video"}, Reply: text("image"), Enabled: true},
		{ID: 10, Name: "voice", Match: model.MatchMsgType, Keywords: []string{"voice"}, Reply: text("voice"), Enabled: true},
		{ID: 11, Name: "default-low", Match: model.MatchDefault, Priority: 0, Reply: text("default-low"), Enabled: true},
		{ID: 12, Name: "default-high", Match: model.MatchDefault, Priority: 1, Reply: text("default-high"), Enabled: true},
		{ID: 13, Name: "click", Match: model.MatchClick, Keywords: []string{"HELP", "SOS"}, Reply: text("click"), Enabled: true},
		{ID: 14, Name: "greeting", Match: model.MatchSubscribe, Reply: text("greeting"), Enabled: true},
		{ID: 15, Name: "text-type", Match: model.MatchMsgType, Keywords: []string{"text"}, Priority: -5,
			Reply: text("text-type"), Enabled: true},
	}
	snap, errs := compile(1, time.Now(), rules, nil)
	if len(errs) > 0 {
		t.Fatalf("compile() errors = %v", errs)
	}
	tests := []struct {
		name    string
		msgType string
		content string
		want    string
	}{
		{"contains", "text", "我想求助一下", "contains-help"},
		{"exact beats contains at equal priority", "text", "12338", "exact-12338"},
		{"exact on normalised text", "text", " １２３３８？ ", "exact-12338"},
		{"contains when not exact", "text", "打12338吗", "contains-123"},
		{"regex", "text", "招聘会 12", "regex-fair"},
		{"regex anchored", "text", "下周招聘会 12", "text-type"},
		{"higher priority wins", "text", "最美家庭", "high-contains"},
		{"regex flags", "text", "HELLO there", "regex-ci"},
		{"disabled rules never answer", "text", "禁用", "text-type"},
		{"msgtype", "image", "", "image"},
		{"msgtype second type", "video", "", "image"},
		{"recognised voice goes through keywords", "voice", "我要维权", "contains-help"},
		{"voice without a keyword: its type", "voice", "你好", "voice"},
		{"voice without recognition", "voice", "", "voice"},
		{"default by priority", "location", "", "default-high"},
		{"text type catches other text", "text", "随便说说", "text-type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := snap.matchMessage(model.InboundMessage{App: model.AppOA, MsgType: tt.msgType, Content: tt.content})
			got := "<nil>"
			if r != nil {
				got = r.Name
			}
			if got != tt.want {
				t.Errorf("matchMessage(%s %q) = %s, want %s", tt.msgType, tt.content, got, tt.want)
			}
		})
	}
	if r := snap.matchClick("SOS"); r == nil || r.Name != "click" {
		t.Errorf("matchClick(SOS) = %v, want click", r)
	}
	if r := snap.matchClick("sos"); r != nil {
		t.Errorf("matchClick(sos) = %v, want nil (keys are case-sensitive)", r.Name)
	}
	if r := snap.greeting(); r == nil || r.Name != "greeting" {
		t.Errorf("greeting() = %v, want greeting", r)
	}
	empty, _ := compile(1, time.Now(), nil, nil)
	if r := empty.matchMessage(model.InboundMessage{MsgType: "text", Content: "x"}); r != nil {
		t.Errorf("matchMessage() with no rules = %v, want nil", r.Name)
	}
}

func TestCompileSkipsBrokenRegex(t *testing.T) {
	rules := []model.ReplyRule{{ID: 1, Name: "bad", Match: model.MatchKeyword, Mode: model.KeywordRegex,
		Keywords: []string{"("}, Reply: model.Reply{Kind: model.ReplyText, Text: "x"}, Enabled: true}}
	snap, errs := compile(1, time.Now(), rules, nil)
	if len(errs) != 1 || len(snap.keyword) != 0 {
		t.Errorf("compile(broken regex) = %d keyword rules, errors %v; want 0 rules, 1 error", len(snap.keyword), errs)
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"救命", "救命"},
		{"救 命！", "救命"},
		{"救\u3000命。。。", "救命"},
		{"救\u200b命", "救命"},
		{"１２３３８", "12338"},
		{"ＡＢＣ abc", "abcabc"},
		{"😭打我😭", "打我"},
		{"不-想-活", "不想活"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCrisisMatcher(t *testing.T) {
	m := newCrisisMatcher([]string{"救命", " 家 暴 ", "！！"})
	tests := []struct {
		text string
		want bool
	}{
		{"救命", true},
		{"救 命！", true},
		{"快来救命啊", true},
		{"我被家暴了", true},
		{"家　暴", true},
		{"求救", false},
		{"！！", false}, // a word that normalises to nothing is dropped
		{"", false},
	}
	for _, tt := range tests {
		if got := m.match(tt.text); got != tt.want {
			t.Errorf("match(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}
