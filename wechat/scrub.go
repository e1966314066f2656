package wechat

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/sirupsen/logrus"
)

// redacted replaces every secret value Scrub finds.
const redacted = "***"

// scrubKey is a parameter name whose value Scrub removes.
type scrubKey struct {
	name string // lower case
	// query is true for names that are secret only as a query parameter:
	// they must follow '?', '&' (or their %-escapes) or start the string.
	query bool
}

// scrubKeys are matched case-insensitively. All but the query-only ones
// also match as the end of a longer name, so "token" covers access_token,
// refresh_token, AccessToken and WANJIA_OA_TOKEN, "secret" covers appsecret
// and AppSecret, and "aes_key"/"aeskey" cover EncodingAESKey.
var scrubKeys = []scrubKey{
	{name: "token"},
	{name: "secret"},
	{name: "session_key"},
	{name: "sessionkey"},
	{name: "js_code"},
	{name: "jscode"},
	{name: "encrypt"},
	{name: "aes_key"},
	{name: "aeskey"},
	{name: "code", query: true},
}

// Scrub returns s with the values of WeChat credentials removed: access
// tokens (any *token), secrets (any *secret), session_key, js_code, the
// query parameter code, Encrypt payloads and EncodingAESKey values. It
// recognises them in URLs and query strings (also %-escaped), JSON (also
// JSON inside a JSON string), XML elements, logfmt (key="v") and Go's %+v
// struct form (Key:v), so silenceper's error strings such as
// "http get error : uri=https://api.weixin.qq.com/…?access_token=XYZ , …"
// come out as "…?access_token=*** , …". Each removed value becomes "***".
// It never fails and is safe on any input.
func Scrub(s string) string {
	if !mayHoldKey(s) {
		return s // most log values: no allocation, one pass
	}
	lower := asciiLower(s)
	// depth[i] counts the values that start at i minus those that end at i;
	// its running sum is > 0 inside a value. Linear in len(s) however many
	// keys and values overlap.
	var depth []int32 // lazily allocated: most strings carry no secret
	var ends bareRuns
	for p := 0; p < len(lower); p++ {
		for _, k := range scrubKeys {
			if !strings.HasPrefix(lower[p:], k.name) {
				continue
			}
			if k.query && !queryBoundary(lower, p) {
				continue
			}
			from, to := valueSpan(s, p, p+len(k.name), &ends)
			if from >= to {
				continue
			}
			if depth == nil {
				depth = make([]int32, len(s)+1)
			}
			depth[from]++
			depth[to]--
		}
	}
	if depth == nil {
		return s
	}
	mask := make([]bool, len(s))
	var open int32
	for i := range mask {
		open += depth[i]
		mask[i] = open > 0
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if !mask[i] {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(redacted)
		for i < len(s) && mask[i] {
			i++
		}
	}
	return b.String()
}

// keyStarts marks the bytes (either case) that begin a scrubKeys name.
var keyStarts = func() (t [256]bool) {
	for _, k := range scrubKeys {
		t[k.name[0]] = true
		t[k.name[0]-'a'+'A'] = true
	}
	return t
}()

// mayHoldKey reports whether some scrubKeys name occurs in s (ASCII case
// folded): when it does not, Scrub has nothing to remove. It is the same
// match Scrub's loop makes, without lower-casing a copy of s first.
func mayHoldKey(s string) bool {
	for p := 0; p < len(s); p++ {
		if !keyStarts[s[p]] {
			continue
		}
		for _, k := range scrubKeys {
			if len(s)-p >= len(k.name) && strings.EqualFold(s[p:p+len(k.name)], k.name) {
				return true
			}
		}
	}
	return false
}

// asciiLower lower-cases ASCII letters only, so byte offsets stay those of
// s (strings.ToLower rewrites invalid UTF-8 and some runes to other lengths).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// queryBoundary reports whether the name at p starts a query parameter.
func queryBoundary(lower string, p int) bool {
	switch {
	case p == 0:
		return true
	case lower[p-1] == '?' || lower[p-1] == '&':
		return true
	case p >= 3 && (lower[p-3:p] == "%3f" || lower[p-3:p] == "%26"):
		return true
	}
	return false
}

// valueSpan returns the byte range of the value that follows a key ending
// at q, or an empty range when no value follows. p is where the key starts.
func valueSpan(s string, p, q int, ends *bareRuns) (from, to int) {
	rest := s[q:]
	switch {
	case strings.HasPrefix(rest, "="):
		if strings.HasPrefix(rest[1:], `"`) { // logfmt: key="value"
			return quotedSpan(s, q+2)
		}
		return q + 1, ends.end(s, q+1)
	case len(rest) >= 3 && strings.EqualFold(rest[:3], "%3d"):
		return q + 3, ends.end(s, q+3)
	case strings.HasPrefix(rest, ">") && xmlOpen(s, p): // XML element
		return xmlSpan(s, q+1)
	case strings.HasPrefix(rest, `"`), strings.HasPrefix(rest, `\"`): // JSON key
		return jsonSpan(s, q)
	case strings.HasPrefix(rest, ":"): // Go %+v: Key:value (no space)
		if strings.HasPrefix(rest[1:], `"`) {
			return quotedSpan(s, q+2)
		}
		return q + 1, ends.end(s, q+1)
	}
	return 0, 0
}

// bareRuns remembers the last unquoted run bareEnd measured: a value that
// starts inside it ends where it ends, so "token=token=token=…" stays linear.
type bareRuns struct{ from, to int }

func (r *bareRuns) end(s string, from int) int {
	if r.from <= from && from < r.to {
		return r.to
	}
	r.from, r.to = from, bareEnd(s, from)
	return r.to
}

// bareEnd returns the end of an unquoted value starting at from.
func bareEnd(s string, from int) int {
	i := from
	for i < len(s) {
		c := s[i]
		if c <= ' ' || strings.IndexByte("&\"'<>,;}])\\|#", c) >= 0 {
			break
		}
		if c == '%' && i+2 < len(s) && s[i+1] == '2' && (s[i+2] == '6' || s[i+2] == '2') { // %26 &, %22 "
			break
		}
		i++
	}
	return i
}

// quotedSpan returns the content of a double-quoted string starting at
// from (just past the opening quote), honouring backslash escapes.
func quotedSpan(s string, from int) (int, int) {
	i := from
	for i < len(s) {
		switch s[i] {
		case '\\':
			i += 2
			continue
		case '"':
			return from, i
		}
		i++
	}
	return from, len(s)
}

// jsonSpan handles `key": "value"` and the escaped form `key\":\"value\"`
// (JSON inside a JSON string); q is just past the key.
func jsonSpan(s string, q int) (int, int) {
	i := q
	escaped := false
	if strings.HasPrefix(s[i:], `\"`) {
		escaped = true
		i += 2
	} else {
		i++ // the closing quote of the key
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i >= len(s) || s[i] != ':' {
		return 0, 0
	}
	i++
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if escaped {
		if !strings.HasPrefix(s[i:], `\"`) {
			return 0, 0
		}
		from := i + 2
		end := strings.IndexByte(s[from:], '\\')
		if end < 0 {
			return from, len(s)
		}
		return from, from + end
	}
	if i >= len(s) || s[i] != '"' {
		return 0, 0
	}
	return quotedSpan(s, i+1)
}

// xmlOpen reports whether the name ending in a key that starts at p is an
// XML element name: '<' followed by name characters up to p.
func xmlOpen(s string, p int) bool {
	for i := p - 1; i >= 0; i-- {
		c := s[i]
		switch {
		case c == '<':
			return true
		case c == '_' || c == '-' || c == ':' || c == '.' ||
			'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9':
			continue
		}
		return false
	}
	return false
}

// xmlSpan returns the text of an element starting at from (just past the
// opening tag), or the inside of its CDATA section.
func xmlSpan(s string, from int) (int, int) {
	const cdata = "<![CDATA["
	if strings.HasPrefix(s[from:], cdata) {
		start := from + len(cdata)
		end := strings.Index(s[start:], "]]>")
		if end < 0 {
			return start, len(s)
		}
		return start, start + end
	}
	end := strings.IndexByte(s[from:], '<')
	if end < 0 {
		return from, len(s)
	}
	return from, from + end
}

// sensitiveName reports whether an attribute or field name names a secret
// outright (its whole value is then removed, whatever it looks like).
func sensitiveName(name string) bool {
	n := asciiLower(name)
	for _, k := range scrubKeys {
		if !k.query && strings.HasSuffix(n, k.name) {
			return true
		}
	}
	return false
}

// ScrubError returns err with Scrub applied to its message. The result
// unwraps to err, so errors.Is and errors.As still see everything err
// wraps (including *util.CommonError and model kinds). It returns nil for
// nil and does not wrap an error twice.
func ScrubError(err error) error {
	if err == nil {
		return nil
	}
	if se, ok := err.(*scrubbedError); ok {
		return se
	}
	return &scrubbedError{err: err}
}

type scrubbedError struct{ err error }

func (e *scrubbedError) Error() string { return Scrub(e.err.Error()) }
func (e *scrubbedError) Unwrap() error { return e.err }

// NewScrubHandler returns a slog.Handler that scrubs the message and every
// string, error and fmt.Stringer attribute value (inside groups too, and in
// attributes added with WithAttrs) before passing the record to h. An
// attribute whose key itself names a secret (access_token, secret,
// session_key, …) has its whole value replaced. LogValuers are resolved
// first; other kinds (numbers, times, structs) pass unchanged.
func NewScrubHandler(h slog.Handler) slog.Handler {
	return &scrubHandler{h: h}
}

type scrubHandler struct{ h slog.Handler }

func (s *scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return s.h.Enabled(ctx, l) }

func (s *scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(scrubAttr(a))
		return true
	})
	return s.h.Handle(ctx, out)
}

func (s *scrubHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = scrubAttr(a)
	}
	return &scrubHandler{h: s.h.WithAttrs(clean)}
}

func (s *scrubHandler) WithGroup(name string) slog.Handler {
	return &scrubHandler{h: s.h.WithGroup(name)}
}

func scrubAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		group := v.Group()
		clean := make([]slog.Attr, len(group))
		for i, g := range group {
			clean[i] = scrubAttr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	case slog.KindString:
		if sensitiveName(a.Key) && v.String() != "" {
			return slog.String(a.Key, redacted)
		}
		return slog.String(a.Key, Scrub(v.String()))
	case slog.KindAny:
		if sensitiveName(a.Key) {
			return slog.String(a.Key, redacted)
		}
		switch x := v.Any().(type) {
		case error:
			return slog.Any(a.Key, ScrubError(x))
		case fmt.Stringer:
			return slog.String(a.Key, Scrub(x.String()))
		case []byte:
			return slog.String(a.Key, Scrub(string(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// QuietSDKLogs lowers silenceper's logger (the process-global logrus
// standard logger) to Warn and sends its output, scrubbed, to w. silenceper
// logs decrypted messages and URLs at Debug, and its root package's init
// sets Debug; wanjia never imports that package, but the level is global
// all the same. Because it changes process-wide state, cmd calls it once at
// start-up, before any client is built; nothing else should.
func QuietSDKLogs(w io.Writer) {
	logrus.SetLevel(logrus.WarnLevel)
	logrus.SetOutput(ScrubWriter(w))
}

// ScrubWriter returns a writer that scrubs each Write before passing it to
// w. Writes are scrubbed one at a time, so a secret split across two Writes
// can survive: use it for writers that write whole lines or entries, like
// logrus and log.Logger.
func ScrubWriter(w io.Writer) io.Writer { return scrubWriter{w: w} }

type scrubWriter struct{ w io.Writer }

func (s scrubWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(s.w, Scrub(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
