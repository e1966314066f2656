package wechat

import (
	"strconv"
	"strings"
	"testing"
)

func TestJSONErrcode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
	}{
		{`{"errcode":40001,"errmsg":"x"}`, 40001},
		{` {"errmsg":"x","errcode":-1}`, -1},
		{`{"errcode":"45009"}`, 45009},
		{`{"access_token":"T","expires_in":7200}`, 0},
		{`{"detail":[{"errcode":87014}],"result":{"errcode":1}}`, 0},
		{`{"list":[1,2,`, 0},
		{`{"errcode":40001`, 40001},
		{`{"errcode":1.5}`, 0},
		{`[{"errcode":1}]`, 0},
		{"\xff\xd8\xff", 0},
		{``, 0},
	}
	for _, tt := range tests {
		if got := jsonErrcode([]byte(tt.in)); got != tt.want {
			t.Errorf("jsonErrcode(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// FuzzJSONErrcode checks that any body, truncated anywhere, never panics
// and yields either 0 or a number written in the body.
func FuzzJSONErrcode(f *testing.F) {
	f.Add([]byte(`{"errcode":40001,"errmsg":"invalid credential rid: 1"}`))
	f.Add([]byte(`{"list":[{"a":{"b":[1,2,{"c":"d"}]}}],"errcode":45009}`))
	f.Add([]byte(`{"errcode":99999999999999999999}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := jsonErrcode(b)
		if got != 0 && !strings.Contains(string(b), strconv.FormatInt(got, 10)) {
			t.Errorf("jsonErrcode(%q) = %d, not in the body", b, got)
		}
	})
}
