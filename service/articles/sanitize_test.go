package articles_test

import (
	"regexp"
	"testing"
	"unicode/utf8"

	"wanjia/service/articles"
)

func TestSanitizeBody(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"script", `<p>好<script>alert(1)</script></p>`, `<p>好</p>`},
		{"handler", `<p onclick="x()">a</p>`, `<p>a</p>`},
		{"wechat image kept", `<img src="https://mmbiz.qpic.cn/a.png" alt="图">`, `<img src="https://mmbiz.qpic.cn/a.png" alt="图">`},
		{"outside image dropped", `<img src="https://evil.example/a.png">`, ``},
		{"javascript link", `<a href="javascript:alert(1)">x</a>`, `x`},
		{"link", `<a href="https://www.example.org/">x</a>`, `<a href="https://www.example.org/" rel="nofollow">x</a>`},
		{"style allowed", `<p style="text-align: center">a</p>`, `<p style="text-align: center">a</p>`},
		{"style dropped", `<p style="background:url(x)">a</p>`, `<p>a</p>`},
		{"iframe", `<iframe src="https://x"></iframe><p>b</p>`, `<p>b</p>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := articles.SanitizeBody(tt.in); got != tt.want {
				t.Errorf("SanitizeBody(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if got := articles.PlainText(`<p>你好&amp;<b>世界</b></p><p>第二段</p>`); got != "你好&世界 第二段" {
		t.Errorf("PlainText() = %q", got)
	}
}

// dangerous matches what must never be left in a tag.
var dangerous = regexp.MustCompile(`(?i)<(script|iframe|svg|object|embed|style)|<[^>]*(\son[a-z]+\s*=|javascript:|data:)`)

// FuzzSanitizeBody: whatever staff paste, the stored body holds no script,
// event handler or javascript: URL, and sanitizing is stable.
func FuzzSanitizeBody(f *testing.F) {
	for _, s := range []string{`<p>a</p>`, `<scr<script>ipt>alert(1)</script>`, `<a href="jav&#x09;ascript:x">y</a>`,
		`<img src=x onerror=alert(1)>`, `<svg><script>x</script></svg>`, "\xff\xfe<p>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := articles.SanitizeBody(in)
		if m := dangerous.FindString(out); m != "" {
			t.Fatalf("SanitizeBody(%q) = %q, contains %q", in, out, m)
		}
		if again := articles.SanitizeBody(out); again != out {
			t.Fatalf("SanitizeBody not stable: %q → %q", out, again)
		}
		if txt := articles.PlainText(out); !utf8.ValidString(txt) && utf8.ValidString(in) {
			t.Fatalf("PlainText(%q) = %q, not UTF-8", out, txt)
		}
	})
}
