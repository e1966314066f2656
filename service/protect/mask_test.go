package protect_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"wanjia/service/protect"
)

func TestMaskPhone(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"13812345678", "138****5678"},
		{" 13812345678 ", "138****5678"},
		{"138-1234-5678", "138****5678"},
		{"138 1234 5678", "138****5678"},
		{"+8613812345678", "138****5678"},
		{"+86 138 1234 5678", "138****5678"},
		{"+86-13812345678", "138****5678"},
		{"008613812345678", "138****5678"},
		{"8613812345678", "138****5678"},
		{"(+86)13812345678", "138****5678"},
		{"+86+13812345678", "***************"[:10]},
		{"010-12345678", "010-****5678"},
		{"01012345678", "010-****5678"},
		{"021 6123 4567", "021-****4567"},
		{"0755-1234567", "0755-***4567"},
		{"0755-12345678", "0755-****5678"},
		{"(0571) 8765 4321", "0571-****4321"},
		{"+1 415 555 0100", "+141****0100"},
		{"12345678", "****5678"},
		{"1234567", "***4567"},
		{"123456", "******"},
		{"12338", "*****"},
		{"1", "*"},
		{"+", "*"},
		{"+86", "***"},
		{"", ""},
		{"   ", ""},
		{"call me", "*******"},
		{"电话13812345678", "**********"},
		{"1381234567x", "**********"},
		{"\xff\xfe", "**"},
		{"12345678901234567890", "123*************7890"},
	}
	for _, tt := range tests {
		if got := protect.MaskPhone(tt.in); got != tt.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"张三", "张*"},
		{"欧阳娜娜", "欧***"},
		{"李", "*"},
		{"王小明", "王**"},
		{" 张三 ", "张*"},
		{"买买提·艾力", "买*****"},
		{"Alice", "A****"},
		{"Alice Smith", "A**********"},
		{"A", "*"},
		{"", ""},
		{"  ", ""},
		{"\xff张三", "\uFFFD**"},
		{strings.Repeat("长", 40), "长**********"},
	}
	for _, tt := range tests {
		if got := protect.MaskName(tt.in); got != tt.want {
			t.Errorf("MaskName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskIDCard(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"110101199003071234", "110***********1234"},
		{"11010119900307123X", "110***********123X"},
		{"1101 0119 9003 0712 34", "110***********1234"},
		{"110101900307123", "110********7123"},
		{"E12345678", "E1*****78"},
		{"1234567", "*******"},
		{"", ""},
		{"身份证号码未知", "*******"},
	}
	for _, tt := range tests {
		if got := protect.MaskIDCard(tt.in); got != tt.want {
			t.Errorf("MaskIDCard(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"alice@example.com", "a****@example.com"},
		{"a@example.com", "*@example.com"},
		{"张三@例子.中国", "张*@例子.中国"},
		{"a@b@example.com", "a**@example.com"},
		{"@example.com", "**********"},
		{"alice@", "******"},
		{"alice", "*****"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := protect.MaskEmail(tt.in); got != tt.want {
			t.Errorf("MaskEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		keep int
		want string
	}{
		{"朝阳区建国路88号", 3, "朝阳区******"},
		{"朝阳区建国路88号", 0, "*********"},
		{"朝阳区建国路88号", -5, "*********"},
		{"朝阳区建国路88号", 100, "朝阳区建*****"},
		{"ab", 1, "a*"},
		{"a", 1, "*"},
		{"", 3, ""},
		{strings.Repeat("字", 500), 2, "字字**********"},
	}
	for _, tt := range tests {
		if got := protect.MaskText(tt.in, tt.keep); got != tt.want {
			t.Errorf("MaskText(%q, %d) = %q, want %q", tt.in, tt.keep, got, tt.want)
		}
	}
}

// FuzzMask checks that no masking helper panics, returns invalid UTF-8 or
// gives back a long input unmasked.
func FuzzMask(f *testing.F) {
	for _, s := range []string{"13812345678", "+86 138-1234-5678", "010-12345678", "张三", "欧阳娜娜",
		"110101199003071234", "alice@example.com", "\xff", "", "@", "+", "0"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, keep int) {
		outs := map[string]string{
			"MaskPhone":  protect.MaskPhone(s),
			"MaskName":   protect.MaskName(s),
			"MaskIDCard": protect.MaskIDCard(s),
			"MaskEmail":  protect.MaskEmail(s),
			"MaskText":   protect.MaskText(s, keep),
		}
		for name, out := range outs {
			if !utf8.ValidString(out) {
				t.Errorf("%s(%q) = %q, not valid UTF-8", name, s, out)
			}
			if utf8.RuneCountInString(strings.TrimSpace(s)) >= 2 && out == strings.TrimSpace(s) && !strings.Contains(s, "*") {
				t.Errorf("%s(%q) = %q, returned unmasked", name, s, out)
			}
		}
		if name := protect.MaskName(s); utf8.RuneCountInString(name) > 11 {
			t.Errorf("MaskName(%q) = %q, longer than 11 runes", s, name)
		}
	})
}
