package articles

import (
	"html"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
)

// wechatImage matches the image URLs WeChat keeps in an article: those it
// handed out itself (media/uploadimg). draft/add drops any other image.
var wechatImage = regexp.MustCompile(`^https?://mmbiz\.qpic\.cn/`)

// bodyPolicy is the HTML an article body may hold: text structure, links
// (http/https), tables, WeChat-hosted images and a few harmless styles.
// Scripts, iframes, forms, event handlers and other styles are removed.
func bodyPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "hr", "strong", "b", "em", "i", "u", "s", "sub", "sup", "blockquote", "pre", "code",
		"h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "section", "span", "figure", "figcaption",
		"table", "thead", "tbody", "tr", "th", "td")
	p.AllowAttrs("href").OnElements("a")
	p.AllowURLSchemes("http", "https")
	p.RequireParseableURLs(true)
	p.RequireNoFollowOnLinks(true)
	p.AllowAttrs("src").Matching(wechatImage).OnElements("img")
	p.AllowAttrs("alt").OnElements("img")
	p.AllowAttrs("colspan", "rowspan").Matching(regexp.MustCompile(`^[0-9]{1,2}$`)).OnElements("td", "th")
	p.AllowStyles("text-align").MatchingEnum("left", "center", "right", "justify").Globally()
	p.AllowStyles("color").Matching(regexp.MustCompile(`^#[0-9a-fA-F]{3,6}$`)).Globally()
	p.AllowStyles("font-weight").MatchingEnum("bold", "normal").Globally()
	return p
}

var (
	policy     = bodyPolicy()
	textPolicy = bluemonday.StrictPolicy()
	spaces     = regexp.MustCompile(`\s+`)
)

// SanitizeBody returns body with everything but the allowed HTML removed.
func SanitizeBody(body string) string {
	return strings.TrimSpace(policy.Sanitize(body))
}

// PlainText is the text of an HTML body: tags removed, entities decoded,
// white space collapsed. It is what the content check reads.
func PlainText(body string) string {
	t := textPolicy.Sanitize(strings.NewReplacer("<br", " <br", "</p>", " </p>", "</li>", " </li>").Replace(body))
	return strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(t), " "))
}

// chunks splits s into pieces of at most n runes.
func chunks(s string, n int) []string {
	var out []string
	for s != "" {
		if utf8.RuneCountInString(s) <= n {
			return append(out, s)
		}
		i, count := 0, 0
		for i < len(s) && count < n {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			count++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}
