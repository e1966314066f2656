package lessons_test

import (
	"io"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"wanjia/service/lessons"
)

func TestSanitizeBody(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		keep    []string // in the output
		dropped []string // not in the output (lower-cased)
	}{
		{"script element", `<p>好好说话</p><script>alert(document.cookie)</script>`, []string{"<p>好好说话</p>"}, []string{"<script", "alert"}},
		{"event handlers", `<img src="https://img.example.cn/a.png" onerror="alert(1)"><p onclick="steal()">点我</p>`,
			[]string{`<img src="https://img.example.cn/a.png"`, "点我"}, []string{"onerror", "onclick", "steal"}},
		{"javascript link", `<a href="javascript:alert(1)">链接</a><a href="JaVaScRiPt:alert(2)">二</a>`, []string{"链接"}, []string{"javascript:"}},
		{"encoded javascript link", `<a href="&#106;avascript:alert(1)">三</a>`, []string{"三"}, []string{"javascript", "alert"}},
		{"data url", `<img src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">`, nil, []string{"data:"}},
		{"iframe, object, form, style", `<iframe src="https://evil.cn"></iframe><object data="x"></object><form><input></form><style>p{}</style>正文`,
			[]string{"正文"}, []string{"<iframe", "<object", "<form", "<input", "<style"}},
		{"svg with script", `<svg><script>alert(1)</script></svg>图`, []string{"图"}, []string{"<svg", "<script"}},
		{"style attribute", `<p style="background:url(javascript:alert(1))">段落</p>`, []string{"段落"}, []string{"style=", "javascript"}},
		{"safe formatting and links", `<h2>标题</h2><p><strong>重点</strong><em>强调</em></p><ul><li>一</li></ul><a href="https://www.cnwomen.com.cn/">中国妇女网</a>`,
			[]string{"<h2>标题</h2>", "<strong>重点</strong>", "<li>一</li>", `href="https://www.cnwomen.com.cn/"`, `rel="nofollow noreferrer noopener"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lessons.SanitizeBody(tt.in)
			for _, k := range tt.keep {
				if !strings.Contains(got, k) {
					t.Errorf("SanitizeBody(%q) = %q, want it to keep %q", tt.in, got, k)
				}
			}
			for _, d := range tt.dropped {
				if strings.Contains(strings.ToLower(got), d) {
					t.Errorf("SanitizeBody(%q) = %q, want %q removed", tt.in, got, d)
				}
			}
		})
	}
}

// FuzzSanitizeBody: whatever goes in, the HTML that comes out has no
// element that runs code, no event handler and no link or source that is
// not http(s), mailto or relative.
func FuzzSanitizeBody(f *testing.F) {
	for _, s := range []string{
		`<p>x</p><script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `<a href="javascript:alert(1)">a</a>`,
		`<svg/onload=alert(1)>`, `<<script>script>alert(1)<</script>/script>`, `<a href="jav&#x09;ascript:alert(1)">x</a>`,
		`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`, `<IMG SRC="  javascript:alert(1);">`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := lessons.SanitizeBody(in)
		z := html.NewTokenizer(strings.NewReader(out))
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				if z.Err() != io.EOF {
					t.Fatalf("output does not tokenize: %v", z.Err())
				}
				return
			}
			if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
				continue
			}
			tok := z.Token()
			switch tok.Data {
			case "script", "style", "iframe", "object", "embed", "svg", "math", "form", "input", "base", "meta", "link":
				t.Fatalf("SanitizeBody(%q) kept <%s>: %q", in, tok.Data, out)
			}
			for _, a := range tok.Attr {
				key := strings.ToLower(a.Key)
				if strings.HasPrefix(key, "on") || key == "style" {
					t.Fatalf("SanitizeBody(%q) kept attribute %s: %q", in, a.Key, out)
				}
				if key == "href" || key == "src" || key == "cite" {
					u, err := url.Parse(strings.TrimSpace(a.Val))
					if err != nil {
						t.Fatalf("SanitizeBody(%q) kept an unparseable %s %q", in, key, a.Val)
					}
					switch strings.ToLower(u.Scheme) {
					case "", "http", "https", "mailto":
					default:
						t.Fatalf("SanitizeBody(%q) kept %s=%q", in, key, a.Val)
					}
				}
			}
		}
	})
}

func TestValidMediaURL(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{"https://v.example.cn/lesson/1.mp4", true},
		{"https://v.example.cn:8443/a.m3u8?token=abc&x=%E4%B8%AD", true},
		{"http://v.example.cn/1.mp4", false},
		{"https:///1.mp4", false},
		{"https://user:pw@v.example.cn/1.mp4", false},
		{"https://v.example.cn/视频.mp4", false}, // percent-encode it
		{"https://v.example.cn/a b.mp4", false},
		{"javascript:alert(1)", false},
		{"//v.example.cn/1.mp4", false},
		{"https:v.example.cn", false},
		{"", false},
		{"https://v.example.cn/" + strings.Repeat("a", lessons.MaxURL), false},
	}
	for _, tt := range tests {
		if got := lessons.ValidMediaURL(tt.url); got != tt.want {
			t.Errorf("ValidMediaURL(%q) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

// FuzzValidMediaURL: an accepted link is an https URL with a host, no
// credentials, at most MaxURL bytes of printable ASCII.
func FuzzValidMediaURL(f *testing.F) {
	for _, s := range []string{"https://v.example.cn/1.mp4", "https://a@b/", "https://[::1]:443/x", "https:\\\\evil", "HTTPS://X/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !lessons.ValidMediaURL(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || len(s) > lessons.MaxURL {
			t.Fatalf("ValidMediaURL(%q) = true for %+v, %v", s, u, err)
		}
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] >= 0x7f {
				t.Fatalf("ValidMediaURL(%q) = true with byte %#x", s, s[i])
			}
		}
	})
}
