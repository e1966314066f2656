package gateway_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/service/gateway"
)

// FuzzHandleText: whatever a follower writes is answered (never an error or
// a panic), and a crisis word survives any spacing and punctuation around
// and inside it.
func FuzzHandleText(f *testing.F) {
	e := mustEnv(f)
	for _, s := range []string{"救命", "救 命！", "１２３３８", "招聘会 12", "", "\x00\xff", strings.Repeat("求助", 2000), "😭打😭我😭"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		msg := model.InboundMessage{App: model.AppOA, FromUser: "oFuzz", MsgType: "text", MsgID: "f", Content: content}
		r, err := e.svc.Handle(context.Background(), msg)
		if err != nil {
			t.Fatalf("Handle(%q) = %v", content, err)
		}
		if r == nil {
			t.Fatalf("Handle(%q) = nil, want at least the default reply", content)
		}
		n := gateway.Normalize(content)
		for _, c := range n {
			if !unicode.IsLetter(c) && !unicode.IsNumber(c) {
				t.Fatalf("Normalize(%q) = %q keeps %q", content, n, c)
			}
		}
		if gateway.Normalize(n) != n {
			t.Fatalf("Normalize is not idempotent on %q", content)
		}
		// Interleave the noise with a crisis word: still a crisis.
		noisy := "救" + strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsNumber(r) {
				return -1
			}
			return r
		}, content) + "命"
		if !e.svc.IsCrisis(noisy) {
			t.Fatalf("IsCrisis(%q) = false", noisy)
		}
	})
}

// FuzzValidateMenu: any JSON the console sends is checked without a panic,
// and a menu that passes passes again unchanged.
func FuzzValidateMenu(f *testing.F) {
	for _, s := range []string{
		`[{"type":"click","name":"求助","key":"HELP"}]`,
		`[{"name":"g","sub_button":[{"type":"view","name":"v","url":"https://e.com"}]}]`,
		`[{"name":"g","sub_button":[{"name":"x","sub_button":[{"type":"click","name":"y","key":"k"}]}]}]`,
		`[{"type":"miniprogram","name":"m","appid":"wx","pagepath":"p","url":"http://e.com"}]`,
		`[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var buttons []model.MenuButton
		if json.Unmarshal(b, &buttons) != nil {
			return
		}
		clean, problems := gateway.ValidateMenu(buttons)
		if problems != nil {
			return
		}
		again, problems := gateway.ValidateMenu(clean)
		if problems != nil || !cmp.Equal(clean, again) {
			t.Fatalf("ValidateMenu(ValidateMenu(%s)) = %v, %v; want the same menu, valid", b, again, problems)
		}
	})
}

// FuzzValidateRule: any rule the console sends is checked without a panic,
// and a rule that passes compiles and passes again unchanged.
func FuzzValidateRule(f *testing.F) {
	f.Add("keyword", "regex", `^(a|b)+$`, "text", "hi")
	f.Add("keyword", "exact", "１２３３８", "text", "hi")
	f.Add("msgtype", "", "IMAGE", "image", "")
	f.Add("click", "", "K", "news", "")
	f.Fuzz(func(t *testing.T, match, mode, keyword, kind, text string) {
		r := model.ReplyRule{Name: "r", Match: model.MatchType(match), Mode: model.KeywordMode(mode),
			Keywords: []string{keyword}, Reply: model.Reply{Kind: model.ReplyKind(kind), Text: text, MediaID: "m",
				Articles: []model.NewsArticle{{Title: "t", URL: "https://e.com"}}}, Enabled: true}
		clean, problems := gateway.ValidateRule(r)
		if problems != nil {
			return
		}
		again, problems := gateway.ValidateRule(clean)
		if problems != nil || !cmp.Equal(clean, again) {
			t.Fatalf("ValidateRule(ValidateRule(%+v)) = %+v, %v; want the same rule, valid", r, again, problems)
		}
	})
}
