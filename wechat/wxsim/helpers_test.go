package wxsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"wanjia/internal/testutil"
	"wanjia/wechat/wxsim"
)

const (
	oaID     = "wxtestoa00000001"
	oaSecret = "oasecret"
	mpID     = "wxtestmp00000001"
	mpSecret = "mpsecret"
	apiBase  = "https://api.weixin.qq.com"
)

func newClock() *testutil.Clock {
	return testutil.NewClock(time.Date(2025, 3, 10, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)))
}

// newSim returns a simulator with the test OA and MP apps on a fake clock.
func newSim(tb testing.TB, opts ...wxsim.Option) (*wxsim.Sim, *testutil.Clock) {
	tb.Helper()
	c := newClock()
	base := []wxsim.Option{wxsim.WithClock(c.Now), wxsim.WithApp(oaID, oaSecret), wxsim.WithApp(mpID, mpSecret)}
	s := wxsim.New(append(base, opts...)...)
	tb.Cleanup(func() { s.Close() })
	return s, c
}

// answer is a simulator response.
type answer struct {
	status      int
	contentType string
	body        []byte
	json        map[string]any
}

// errcode returns the errcode of a JSON answer (0 when absent).
func (a answer) errcode() int {
	if v, ok := a.json["errcode"].(float64); ok {
		return int(v)
	}
	return 0
}

// do sends a request through the simulator's Transport. body is nil, a
// []byte sent as is, or a value encoded as JSON.
func do(tb testing.TB, s *wxsim.Sim, method, target string, body any) answer {
	tb.Helper()
	return doCtx(tb, context.Background(), s, method, target, body, "")
}

func doCtx(tb testing.TB, ctx context.Context, s *wxsim.Sim, method, target string, body any, contentType string) answer {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			tb.Fatalf("marshal: %v", err)
		}
		r = bytes.NewReader(data)
		if contentType == "" {
			contentType = "application/json"
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, apiBase+target, r)
	if err != nil {
		tb.Fatalf("new request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Transport: s.Transport()}).Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	a := answer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: data}
	if strings.HasPrefix(a.contentType, "application/json") {
		if err := json.Unmarshal(data, &a.json); err != nil {
			tb.Fatalf("%s %s: answer is not JSON: %v: %s", method, target, err, data)
		}
	}
	return a
}

// mustToken fetches a token of appID through /cgi-bin/token.
func mustToken(tb testing.TB, s *wxsim.Sim, appID, secret string) string {
	tb.Helper()
	a := do(tb, s, http.MethodGet, "/cgi-bin/token?grant_type=client_credential&appid="+appID+"&secret="+secret, nil)
	tok, _ := a.json["access_token"].(string)
	if tok == "" {
		tb.Fatalf("token for %s: %s", appID, a.body)
	}
	return tok
}

// mustErrcode fails unless the answer is HTTP 200 JSON with errcode want and
// a WeChat-style errmsg.
func mustErrcode(tb testing.TB, a answer, want int) {
	tb.Helper()
	if a.status != http.StatusOK {
		tb.Fatalf("status = %d, want 200 (body %s)", a.status, a.body)
	}
	if got := a.errcode(); got != want {
		tb.Fatalf("errcode = %d, want %d (body %s)", got, want, a.body)
	}
	if want != 0 {
		msg, _ := a.json["errmsg"].(string)
		if !strings.Contains(msg, " rid: ") {
			tb.Fatalf("errmsg = %q, want a rid suffix", msg)
		}
	}
}
