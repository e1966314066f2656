package notify

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"wanjia/model"
)

func TestRenderValue(t *testing.T) {
	long := "一二三四五六七八九十一二三四五六七八九十一"
	tests := []struct {
		key, in string
		oa      bool
		want    string
		bad     bool
	}{
		{key: "thing1", in: "亲子沟通", want: "亲子沟通"},
		{key: "thing1", in: long, want: "一二三四五六七八九十一二三四五六七八九…"},
		{key: "thing1", in: "", bad: true},
		{key: "thing1", in: "a\x00b", bad: true},
		{key: "keyword1", in: "x", bad: true},
		{key: "keyword1", in: long, oa: true, want: "一二三四五六七八九十一二三四五六七八九…"},
		{key: "first", in: "x", oa: true, bad: true},
		{key: "remark3", in: "x", oa: true, bad: true},
		{key: "character_string2", in: "WJ-2026-0001", want: "WJ-2026-0001"},
		{key: "character_string2", in: "编号1", bad: true},
		{key: "character_string2", in: strings.Repeat("a", 33), bad: true},
		{key: "character_string2", in: strings.Repeat("a", 21), oa: true, bad: true},
		{key: "number3", in: "12.5", want: "12.5"},
		{key: "number3", in: "12a", bad: true},
		{key: "letter4", in: "abc", want: "abc"},
		{key: "letter4", in: "ab1", bad: true},
		{key: "symbol5", in: "%", want: "%"},
		{key: "symbol5", in: "a", bad: true},
		{key: "amount6", in: "¥100.00", want: "¥100.00"},
		{key: "amount6", in: "100元", want: "100元"},
		{key: "amount6", in: "一百", bad: true},
		{key: "phone_number7", in: "+86 138-0000-0000", want: "+86 138-0000-0000"},
		{key: "phone_number7", in: "call me", bad: true},
		{key: "car_number8", in: "粤A12345", want: "粤A12345"},
		{key: "car_number8", in: "粤A123456789", bad: true},
		{key: "name9", in: "李娜", want: "李娜"},
		{key: "name9", in: "欧阳一二三四五六七八九", bad: true},
		{key: "name9", in: "Li Na", want: "Li Na"},
		{key: "phrase2", in: "已通过", want: "已通过"},
		{key: "phrase2", in: "审核已经通过", bad: true},
		{key: "phrase2", in: "ok", bad: true},
		{key: "time3", in: "2026-03-08T12:00:00Z", want: "2026年3月8日 20:00"},
		{key: "time3", in: "2026-03-08 09:05", want: "2026年3月8日 09:05"},
		{key: "time3", in: "2026年3月8日 09:05", want: "2026年3月8日 09:05"},
		{key: "time3", in: "20:00", want: "20:00"},
		{key: "time3", in: "tomorrow", bad: true},
		{key: "date4", in: "2026-03-08T20:00:00+08:00", want: "2026年3月8日"},
		{key: "date4", in: "2026/03/08", want: "2026年3月8日"},
		{key: "date4", in: "March 8", bad: true},
		{key: "thing", in: "x", bad: true},
		{key: "unknown1", in: "x", bad: true},
	}
	for _, tt := range tests {
		got, msg := renderValue(tt.key, tt.in, tt.oa)
		if (msg != "") != tt.bad || got != tt.want && !tt.bad {
			t.Errorf("renderValue(%q, %q, oa=%v) = %q, %q, want %q (invalid: %v)", tt.key, tt.in, tt.oa, got, msg, tt.want, tt.bad)
		}
	}
}

func TestRenderDefaults(t *testing.T) {
	fs := []model.TemplateField{{Key: "thing1", Field: "title", Default: "您的咨询有新进展"}, {Key: "time2", Field: "time"}}
	got, err := render(fs, map[string]string{"time": "2026-03-08 10:00", "extra": "ignored"}, false)
	if err != nil || got["thing1"] != "您的咨询有新进展" || got["time2"] != "2026年3月8日 10:00" || len(got) != 2 {
		t.Errorf("render() = %v, %v", got, err)
	}
	if _, err := render(fs, map[string]string{}, false); err == nil {
		t.Errorf("render(no time) = nil error, want invalid")
	}
}

func TestRenderText(t *testing.T) {
	tests := []struct {
		text string
		vals map[string]string
		url  string
		want string
	}{
		{"新课上线：{title}", map[string]string{"title": "亲子沟通"}, "", "新课上线：亲子沟通"},
		{"{a}和{b}", map[string]string{"a": "甲"}, "https://x.cn/1", "甲和\nhttps://x.cn/1"},
		{"未闭合 {title", map[string]string{"title": "x"}, "", "未闭合 {title"},
		{strings.Repeat("长", 700), nil, "", strings.Repeat("长", 599) + "…"},
	}
	for _, tt := range tests {
		if got := renderText(tt.text, tt.vals, tt.url); got != tt.want {
			t.Errorf("renderText(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestQuietHoursWindow(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	at := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, cst) }
	night, err := parseQuietHours("22:00-08:00")
	if err != nil {
		t.Fatal(err)
	}
	lunch, err := parseQuietHours("12:00-13:30")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		q    quietHours
		t    time.Time
		want time.Time
	}{
		{night, at(8, 21, 59), at(8, 21, 59)},
		{night, at(8, 22, 0), at(9, 8, 0)},
		{night, at(8, 23, 30), at(9, 8, 0)},
		{night, at(9, 0, 10), at(9, 8, 0)},
		{night, at(9, 7, 59), at(9, 8, 0)},
		{night, at(9, 8, 0), at(9, 8, 0)},
		{night, at(8, 15, 0).UTC(), at(8, 15, 0)},
		{lunch, at(8, 12, 30), at(8, 13, 30)},
		{lunch, at(8, 13, 30), at(8, 13, 30)},
	}
	for _, tt := range tests {
		if got := tt.q.release(tt.t); !got.Equal(tt.want) {
			t.Errorf("release(%v) = %v, want %v", tt.t, got, tt.want)
		}
	}
	off, err := parseQuietHours("off")
	if err != nil || off.in(at(8, 23, 0)) {
		t.Errorf("parseQuietHours(off) = %+v, %v", off, err)
	}
	for _, bad := range []string{"", "22-08", "25:00-08:00", "22:00", "22:0-08:00"} {
		if _, err := parseQuietHours(bad); err == nil {
			t.Errorf("parseQuietHours(%q) = nil error", bad)
		}
	}
}

// FuzzRenderValue: notice values come from other areas and, through them,
// from users; rendering never panics, and what it accepts is valid UTF-8
// within the key's limit.
func FuzzRenderValue(f *testing.F) {
	for _, s := range []string{"亲子沟通", "2026-03-08T12:00:00Z", "¥100.00", "WJ-1", "", "\xff", "{x}", "20:00", "2026年3月8日"} {
		f.Add("thing1", s, false)
		f.Add("time2", s, true)
		f.Add("amount3", s, false)
	}
	f.Fuzz(func(t *testing.T, key, v string, oa bool) {
		got, msg := renderValue(key, v, oa)
		if msg != "" {
			return
		}
		if !utf8.ValidString(got) || got == "" {
			t.Fatalf("renderValue(%q, %q) = %q", key, v, got)
		}
		typ, _ := keyType(key, oa)
		limit := fieldRules[typ].max
		if oa && (limit == 0 || limit > oaMaxRunes) {
			limit = oaMaxRunes
		}
		if limit > 0 && utf8.RuneCountInString(got) > limit {
			t.Fatalf("renderValue(%q, %q) = %q, longer than %d", key, v, got, limit)
		}
	})
}
