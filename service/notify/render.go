package notify

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"wanjia/model"
)

// shanghai is Asia/Shanghai (UTC+8 without daylight saving since 1991).
var shanghai = time.FixedZone("Asia/Shanghai", 8*60*60)

// oaMaxRunes is the Official Account template rule since 2023-05-04: at
// most 20 characters a field.
const oaMaxRunes = 20

// fieldRule is WeChat's rule for the values of one key type of a
// subscribe-message template ("thing1" has type thing).
type fieldRule struct {
	max      int  // runes; 0: no length rule of its own
	truncate bool // a longer value is cut with "…" (free text); otherwise it is invalid
	check    func(string) bool
	// normalize rewrites a value into WeChat's format (times, dates), or
	// reports it unusable.
	normalize func(string) (string, bool)
}

var (
	reNumber    = regexp.MustCompile(`^[-+]?\d+(\.\d+)?$`)
	reLetter    = regexp.MustCompile(`^[A-Za-z]+$`)
	reCharStr   = regexp.MustCompile(`^[\x21-\x7e]+$`)
	reAmount    = regexp.MustCompile(`^[¥￥$€£]?\d{1,10}(\.\d{1,2})?元?$`)
	rePhone     = regexp.MustCompile(`^[\d+\-() ]+$`)
	reKeyType   = regexp.MustCompile(`^([a-z_]+?)(\d+)$`)
	reFieldName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
)

// fieldRules are the subscribe-message key types (WeChat's
// subscribeMessage.send documentation). The Official Account's templates
// use the same typed keys, or keywordN for free text.
var fieldRules = map[string]fieldRule{
	"thing":            {max: 20, truncate: true},
	"keyword":          {max: 20, truncate: true},
	"character_string": {max: 32, check: reCharStr.MatchString},
	"number":           {max: 32, check: reNumber.MatchString},
	"letter":           {max: 32, check: reLetter.MatchString},
	"symbol":           {max: 5, check: isSymbols},
	"amount":           {check: reAmount.MatchString},
	"phone_number":     {max: 17, check: rePhone.MatchString},
	"car_number":       {max: 8},
	"name":             {check: isName},
	"phrase":           {max: 5, check: isHan},
	"time":             {normalize: normalizeTime},
	"date":             {normalize: normalizeDate},
}

// keyType returns the type of a template key ("thing1" → "thing") and
// whether the key is well formed with a known type. keywordN is allowed
// on the Official Account only; first and remark are gone there.
func keyType(key string, oa bool) (string, bool) {
	m := reKeyType.FindStringSubmatch(key)
	if m == nil {
		return "", false
	}
	if _, ok := fieldRules[m[1]]; !ok || (m[1] == "keyword" && !oa) {
		return "", false
	}
	return m[1], true
}

// render maps a notice's values onto a template's keys, applying each
// key's rule: free text is cut with "…", times and dates are rewritten,
// anything else that does not fit is model.ErrInvalid naming the field.
// oa applies the Official Account's 20-character limit to every field.
func render(fields []model.TemplateField, values map[string]string, oa bool) (map[string]string, error) {
	out := make(map[string]string, len(fields))
	for _, f := range fields {
		v := strings.TrimSpace(values[f.Field])
		if v == "" {
			v = f.Default
		}
		got, msg := renderValue(f.Key, v, oa)
		if msg != "" {
			return nil, model.Invalid(map[string]string{"fields." + f.Field: msg})
		}
		out[f.Key] = got
	}
	return out, nil
}

// renderValue applies key's rule to v; msg says what is wrong.
func renderValue(key, v string, oa bool) (string, string) {
	typ, ok := keyType(key, oa)
	if !ok {
		return "", "模板字段 " + key + " 无效"
	}
	if v == "" {
		return "", "必填"
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return "", "包含无效字符"
	}
	rule := fieldRules[typ]
	if rule.normalize != nil {
		n, ok := rule.normalize(v)
		if !ok {
			return "", "时间或日期格式无效"
		}
		v = n
	}
	if rule.check != nil && !rule.check(v) {
		return "", "不符合模板字段 " + key + " 的格式"
	}
	limit := rule.max
	if oa && (limit == 0 || limit > oaMaxRunes) {
		limit = oaMaxRunes
	}
	if limit > 0 && utf8.RuneCountInString(v) > limit {
		if !rule.truncate {
			return "", fmt.Sprintf("不能超过 %d 个字", limit)
		}
		v = string([]rune(v)[:limit-1]) + "…"
	}
	return v, ""
}

func isSymbols(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

func isHan(s string) bool {
	for _, r := range s {
		if !unicode.Is(unicode.Han, r) {
			return false
		}
	}
	return true
}

// isName: up to 10 Chinese characters, or up to 20 letters and symbols.
func isName(s string) bool {
	n := utf8.RuneCountInString(s)
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
		return n <= 10
	}
	return n <= 20 && !strings.ContainsFunc(s, unicode.IsDigit)
}

// Time and date layouts accepted in notices. RFC 3339 values are shown in
// Asia/Shanghai; the others are taken as Shanghai wall time.
var (
	timeLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006/01/02 15:04", "2006年1月2日 15:04"}
	dateLayouts = []string{"2006-01-02", "2006/01/02", "2006年1月2日"}
)

// normalizeTime turns a time into WeChat's "2006年1月2日 15:04" (or keeps
// a bare "15:04").
func normalizeTime(v string) (string, bool) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.In(shanghai).Format("2006年1月2日 15:04"), true
	}
	if _, err := time.ParseInLocation("15:04", v, shanghai); err == nil {
		return v, true
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, v, shanghai); err == nil {
			return t.Format("2006年1月2日 15:04"), true
		}
	}
	return "", false
}

// normalizeDate turns a date (or an RFC 3339 time) into "2006年1月2日".
func normalizeDate(v string) (string, bool) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.In(shanghai).Format("2006年1月2日"), true
	}
	for _, l := range dateLayouts {
		if t, err := time.ParseInLocation(l, v, shanghai); err == nil {
			return t.Format("2006年1月2日"), true
		}
	}
	return "", false
}

// renderText fills a customer-service text's {field} placeholders. An
// unknown placeholder becomes empty; the text is cut to 600 characters.
func renderText(text string, values map[string]string, url string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(text, '{')
		if i < 0 {
			b.WriteString(text)
			break
		}
		j := strings.IndexByte(text[i:], '}')
		if j < 0 {
			b.WriteString(text)
			break
		}
		b.WriteString(text[:i])
		b.WriteString(strings.TrimSpace(values[text[i+1:i+j]]))
		text = text[i+j+1:]
	}
	out := strings.TrimSpace(b.String())
	if url != "" {
		out += "\n" + url
	}
	if r := []rune(out); len(r) > 600 {
		out = string(r[:599]) + "…"
	}
	return out
}
