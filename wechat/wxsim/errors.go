package wxsim

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"
)

// Error codes the simulator answers. The texts are those WeChat returns (see
// wechat-api.md §14 and the per-endpoint sections); " rid: …" is appended to
// each.
var errTexts = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40004: "invalid media type",
	40005: "invalid file type",
	40006: "invalid media size",
	40007: "invalid media_id",
	40008: "invalid message type",
	40013: "invalid appid",
	40016: "invalid button size",
	40017: "invalid button type",
	40018: "invalid button name size",
	40019: "invalid button key size",
	40023: "invalid sub button size",
	40024: "invalid sub button type",
	40025: "invalid sub button name size",
	40026: "invalid sub button key size",
	40027: "invalid sub button url size",
	40029: "invalid code",
	40037: "invalid template_id",
	40059: "invalid msg id",
	40054: "invalid sub button url domain",
	40055: "invalid button url domain",
	40097: "invalid args",
	40129: "invalid scene",
	40130: "invalid openid list size, at least two openid",
	40163: "code been used",
	40164: "invalid ip, not in whitelist",
	40169: "invalid length for scene, or the data is not json string",
	40226: "code blocked",
	41001: "access_token missing",
	41005: "media data missing",
	41030: "invalid page",
	42001: "access_token expired",
	43001: "require GET method",
	43002: "require POST method",
	43101: "user refuse to accept the msg",
	43104: "this appid does not have permission for this openid",
	44002: "empty post data",
	44003: "empty news data",
	44004: "empty content",
	45002: "content size out of limit",
	45003: "title size out of limit",
	45004: "description size out of limit",
	45008: "article size out of limit",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit mustslower retry next minute",
	45015: "response out of time limit or subscription is canceled",
	45047: "out of response count limit",
	45065: "clientmsgid exist",
	45066: "same clientmsgid retry too fast",
	45110: "author size out of limit",
	46003: "menu no exist",
	47001: "data format error",
	47003: "argument invalid!",
	48001: "api unauthorized",
	53503: "this draft failed the publish check",
	53504: "please use the draft on the mp website",
	53505: "please save the draft manually on the mp website first",
	61500: "date format error",
	61501: "date range error",
	87014: "risky content",
}

// ErrText returns the errmsg WeChat uses for code, without the rid suffix,
// or "simulated error" for a code the simulator does not know.
func ErrText(code int) string {
	if t, ok := errTexts[code]; ok {
		return t
	}
	return "simulated error"
}

// apiError is an errcode answer. Extra fields (such as msg_id on 45065) are
// merged into the JSON object.
type apiError struct {
	code  int
	msg   string
	extra map[string]any
}

func errCode(code int) *apiError { return &apiError{code: code, msg: ErrText(code)} }

func errCodef(code int, format string, args ...any) *apiError {
	return &apiError{code: code, msg: ErrText(code) + " " + fmt.Sprintf(format, args...)}
}

// body renders the error as WeChat does: errcode, errmsg with a rid.
func (e *apiError) body(now time.Time) map[string]any {
	m := map[string]any{"errcode": e.code, "errmsg": e.msg + " rid: " + newRID(now)}
	for k, v := range e.extra {
		m[k] = v
	}
	return m
}

// newRID returns a request id shaped like WeChat's: the hex Unix time and
// two random hex words.
func newRID(now time.Time) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%08x-%08x-%08x", uint32(now.Unix()), binary.BigEndian.Uint32(b[:4]), binary.BigEndian.Uint32(b[4:]))
}

func randomUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}
