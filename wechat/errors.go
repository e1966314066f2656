package wechat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/silenceper/wechat/v2/util"

	"wanjia/model"
)

// ErrNoConsent is what a 43101 answer ("user refuse to accept the msg")
// translates to: the user has not (or no longer) agreed to receive this
// subscribe/template message. Translate's result matches both ErrNoConsent
// and model.ErrConflict with errors.Is.
//
// Why ErrConflict: 43101 is neither a WeChat failure (ErrUpstream would make
// callers retry and report "WeChat down") nor bad input from the caller; it
// is the state of the user's consent ledger disagreeing with the send, which
// is permanent for that user and template until they consent again. Push
// jobs test errors.Is(err, wechat.ErrNoConsent) to count "no consent" and
// never retry; if it ever reaches the HTTP layer it answers 409 no_consent
// instead of 500.
var ErrNoConsent = errors.New("no consent")

// Messages users see (model.Error.Message).
const (
	msgUpstream    = "微信服务暂时不可用，请稍后再试"
	msgUnavailable = "服务暂时不可用，请稍后再试"
	msgBadCode     = "微信授权码无效或已过期，请重新操作"
	msgRiskyUser   = "该微信账号存在安全风险，暂时无法完成操作"
	msgNoConsent   = "用户未订阅该消息"
)

// Errcode returns the WeChat errcode carried by err and true, or 0 and
// false when err carries none (nil, transport and decoding errors, errcode
// 0). It understands silenceper's typed *util.CommonError anywhere in the
// chain and its formatted errors ("… errcode=40001 , errmsg=…", "errcode:…").
func Errcode(err error) (int, bool) {
	if err == nil {
		return 0, false
	}
	var ce *util.CommonError
	if errors.As(err, &ce) && ce.ErrCode != 0 {
		return int(ce.ErrCode), true
	}
	return parseErrcode(err.Error())
}

// parseErrcode finds the first "errcode=N", "errcode:N" or JSON
// "errcode":N (N a non-zero integer, optionally quoted) in s.
func parseErrcode(s string) (int, bool) {
	const key = "errcode"
	for rest := s; ; {
		i := strings.Index(rest, key)
		if i < 0 {
			return 0, false
		}
		rest = rest[i+len(key):]
		v := strings.TrimLeft(rest, ` "`)
		if v == "" || (v[0] != '=' && v[0] != ':') {
			continue
		}
		v = strings.TrimLeft(v[1:], ` "`)
		end := 0
		if end < len(v) && v[end] == '-' {
			end++
		}
		for end < len(v) && '0' <= v[end] && v[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(v[:end])
		if err != nil || n == 0 {
			continue
		}
		return n, true
	}
}

// tokenErrcode reports whether code means the access_token used was bad:
// 40001 invalid credential, 42001 expired, 40014 invalid access_token.
func tokenErrcode(code int) bool {
	return code == 40001 || code == 42001 || code == 40014
}

// Translate turns an error from silenceper or this package into a model
// error whose Message is safe to show, keeping the scrubbed original as
// Cause (errors.Is/As and Errcode still see it):
//   - 40029, 40163, 41008 (login/phone code invalid, used or missing) →
//     model.ErrInvalid with a "code" field; 40226 (risky user) → model.ErrInvalid;
//   - 43101 → ErrNoConsent, also model.ErrConflict (code "no_consent");
//   - a token that could not be read because Redis is down → model.ErrUnavailable;
//   - everything else (-1, 45009, 45011, other errcodes, timeouts, transport
//     and decoding errors) → model.ErrUpstream "微信服务暂时不可用，请稍后再试".
//
// A *model.Error passes through unchanged; nil stays nil. The result never
// contains a token, secret, session_key or code (see Scrub).
func Translate(err error) error {
	if err == nil {
		return nil
	}
	var me *model.Error
	if errors.As(err, &me) {
		return ScrubError(err)
	}
	cause := ScrubError(err)
	code, ok := Errcode(err)
	switch {
	case !ok && errors.Is(err, errRedisDown):
		return model.Wrap(model.ErrUnavailable, cause, msgUnavailable)
	case !ok:
		return model.Wrap(model.ErrUpstream, cause, msgUpstream)
	}
	switch code {
	case 40029, 40163, 41008:
		return &model.Error{Kind: model.ErrInvalid, Code: model.DefaultCode(model.ErrInvalid), Message: msgBadCode,
			Fields: map[string]string{"code": msgBadCode}, Cause: cause}
	case 40226:
		return model.Wrap(model.ErrInvalid, cause, msgRiskyUser)
	case 43101:
		return &model.Error{Kind: model.ErrConflict, Code: "no_consent", Message: msgNoConsent,
			Cause: fmt.Errorf("%w: %w", ErrNoConsent, cause)}
	}
	return model.Wrap(model.ErrUpstream, cause, msgUpstream)
}
