package protect

import (
	"strings"
	"unicode/utf8"
)

// The masking helpers turn personal data into something safe to show in a
// list, an export or a log line. They are rune-aware (Chinese text), accept
// any string, including invalid UTF-8, never panic, and always return valid
// UTF-8. Masked runs use one '*' per hidden character, capped at maxStars
// for free-form input so a long value does not become a wall of stars.

const maxStars = 10

// MaskPhone masks a phone number, keeping just enough to tell numbers apart:
//
//	13812345678, +86 138-1234-5678, 008613812345678 → 138****5678
//	010-12345678, 01012345678                       → 010-****5678
//	0755 1234567                                    → 0755-***4567
//
// Mainland mobiles lose their +86/0086 prefix. Other numbers with at least 11
// digits keep their first 3 and last 4 digits, 7 to 10 digits only their
// last 4; anything shorter, or anything that is not a phone number, becomes
// all '*'.
func MaskPhone(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	var digits []byte
	plus := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits = append(digits, byte(r))
		case r == '+' && !plus && len(digits) == 0:
			plus = true
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return stars(utf8.RuneCountInString(s), maxStars)
		}
	}
	if len(digits) == 0 {
		return stars(utf8.RuneCountInString(s), maxStars)
	}
	d := string(digits)
	switch {
	case plus && strings.HasPrefix(d, "86"):
		d = d[2:]
	case !plus && strings.HasPrefix(d, "0086"):
		d = d[4:]
	case !plus && len(d) == 13 && strings.HasPrefix(d, "861"):
		d = d[2:]
	case plus:
		return "+" + maskDigits(d)
	}
	if d == "" {
		return stars(utf8.RuneCountInString(s), maxStars)
	}
	if len(d) == 11 && d[0] == '1' {
		return d[:3] + "****" + d[7:]
	}
	if len(d) >= 10 && len(d) <= 12 && d[0] == '0' {
		area := 4
		if d[1] == '1' || d[1] == '2' {
			area = 3 // 010 Beijing, 02x the largest cities
		}
		if local := d[area:]; len(local) == 7 || len(local) == 8 {
			return d[:area] + "-" + strings.Repeat("*", len(local)-4) + local[len(local)-4:]
		}
	}
	return maskDigits(d)
}

// maskDigits masks a string of ASCII digits of unknown structure.
func maskDigits(d string) string {
	switch n := len(d); {
	case n < 7:
		return strings.Repeat("*", n)
	case n < 11:
		return strings.Repeat("*", n-4) + d[n-4:]
	default:
		return d[:3] + stars(n-7, n) + d[n-4:]
	}
}

// MaskName keeps the first character of a name and hides the rest:
// 张三 → 张*, 欧阳娜娜 → 欧***, Alice → A****. A one-character name becomes
// "*". Surrounding white space is dropped.
func MaskName(s string) string {
	return keepFirst(strings.TrimSpace(s), 1)
}

// MaskIDCard masks an identity document number. A resident ID card (15 or
// 18 characters) keeps its first 3 and last 4 characters
// (110***********1234); shorter numbers of 8 or more characters keep 2 at each
// end; anything shorter becomes all '*'. Spaces are dropped.
func MaskIDCard(s string) string {
	r := []rune(strings.Join(strings.Fields(s), ""))
	n := len(r)
	switch {
	case n == 0:
		return ""
	case n >= 15:
		return string(r[:3]) + stars(n-7, n) + string(r[n-4:])
	case n >= 8:
		return string(r[:2]) + stars(n-4, n) + string(r[n-2:])
	default:
		return stars(n, n)
	}
}

// MaskEmail keeps the first character of the local part and the domain:
// alice@example.com → a****@example.com. A value without a local part and a
// domain becomes all '*'.
func MaskEmail(s string) string {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return stars(utf8.RuneCountInString(s), maxStars)
	}
	return keepFirst(s[:at], 1) + "@" + strings.ToValidUTF8(s[at+1:], "\uFFFD")
}

// MaskText keeps the first keep characters of s and hides the rest, one '*'
// per character up to 10. It never keeps more than half of s, so something
// is always hidden: MaskText("朝阳区建国路88号", 3) = "朝阳区******".
func MaskText(s string, keep int) string {
	return keepFirst(s, keep)
}

// keepFirst keeps up to keep leading runes of s, at most half of them, and
// stars the rest.
func keepFirst(s string, keep int) string {
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return ""
	}
	keep = min(max(keep, 0), n/2)
	var b strings.Builder
	i := 0
	for _, r := range s {
		if i == keep {
			break
		}
		b.WriteRune(r) // invalid bytes come out as U+FFFD
		i++
	}
	b.WriteString(stars(n-keep, maxStars))
	return b.String()
}

// stars returns min(n, limit) asterisks.
func stars(n, limit int) string {
	return strings.Repeat("*", max(min(n, limit), 0))
}
