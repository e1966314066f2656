package lessons

import (
	stdhtml "html"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
)

// Limits of lesson content.
const (
	MaxURL      = 1024      // bytes of a video, audio or cover link
	MaxBody     = 256 << 10 // bytes of an article body as submitted
	MaxDuration = 24 * 3600 // seconds
	maxSeq      = 1_000_000 // lesson and course order
	maxTitle    = 128       // characters
	maxIntro    = 2000      // characters
	filesPrefix = "/api/files/"
)

// policy is bluemonday's policy for user-generated content: formatting,
// links, images and tables, with every script, style, event handler,
// iframe and form removed, and only http(s)/mailto URLs kept (no
// javascript: or data:). A Policy is safe for concurrent use once built.
var policy = func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}()

// SanitizeBody returns the article HTML with everything that could run
// code removed (bluemonday's UGC policy).
func SanitizeBody(html string) string {
	return strings.TrimSpace(policy.Sanitize(html))
}

// hasText reports whether sanitized HTML shows any text or image.
func hasText(html string) bool {
	if strings.Contains(html, "<img") {
		return true
	}
	text := stdhtml.UnescapeString(textOnly.Sanitize(html))
	return strings.TrimFunc(text, unicode.IsSpace) != "" // IsSpace covers U+00A0 (&nbsp;)
}

// textOnly keeps the text of HTML, no element at all.
var textOnly = bluemonday.StrictPolicy()

// ValidMediaURL reports whether s is an https link fit for a video or
// audio player: at most MaxURL bytes of printable ASCII (non-ASCII must be
// percent-encoded), with a host and no credentials.
func ValidMediaURL(s string) bool {
	if s == "" || len(s) > MaxURL || !printableASCII(s) || strings.ContainsAny(s, " \\") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil && u.Opaque == "" &&
		!strings.HasPrefix(u.Host, ".") && !strings.ContainsAny(u.Host, "@")
}

// validCoverURL accepts an https link or a file this server serves.
func validCoverURL(s string) bool {
	if strings.HasPrefix(s, filesPrefix) {
		key := strings.TrimPrefix(s, filesPrefix)
		return key != "" && len(s) <= MaxURL && printableASCII(key) && !strings.Contains(key, "..") &&
			!strings.ContainsAny(key, " ?#\\")
	}
	return ValidMediaURL(s)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// runes reports whether s has lo to hi characters.
func runes(s string, lo, hi int) bool {
	n := utf8.RuneCountInString(s)
	return n >= lo && n <= hi
}

// cleanText is s trimmed, or false when it holds control characters or is
// not UTF-8.
func cleanText(s string, multiline bool) (string, bool) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return "", false
		}
	}
	return s, true
}
