// Package model is wanjia's shared vocabulary: domain types, error kinds and
// the contracts that store, cache, wechat and service agree on. It imports
// the standard library only.
package model

import (
	"errors"
	"fmt"
)

// Error kinds. Every error that crosses a package boundary unwraps to at most
// one of these; api/errors.go maps each to an HTTP status and nothing else
// picks a status.
var (
	ErrInvalid          = errors.New("invalid")           // 400
	ErrUnauthenticated  = errors.New("unauthenticated")   // 401
	ErrForbidden        = errors.New("forbidden")         // 403
	ErrNotFound         = errors.New("not found")         // 404
	ErrConflict         = errors.New("conflict")          // 409
	ErrTooLarge         = errors.New("too large")         // 413
	ErrUnsupportedMedia = errors.New("unsupported media") // 415
	ErrRateLimited      = errors.New("rate limited")      // 429
	ErrUpstream         = errors.New("upstream")          // 502: WeChat (or another dependency) failed
	ErrUnavailable      = errors.New("unavailable")       // 503: a local dependency is down
)

// Error is an error whose Message is safe to show to a user (Chinese), with a
// machine-readable Code (snake_case, as in API.md) and, for validation
// errors, a message per field. It unwraps to its Kind.
type Error struct {
	Kind    error
	Code    string
	Message string
	Fields  map[string]string
	// Cause is the underlying error, logged but never shown.
	Cause error
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns the kind and the cause, so errors.Is works on both.
func (e *Error) Unwrap() []error {
	errs := []error{e.Kind}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}

// Errorf returns an *Error of the given kind whose user-safe message is
// formatted from format and args. Its code is the kind's default code.
func Errorf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: DefaultCode(kind), Message: fmt.Sprintf(format, args...)}
}

// Coded returns an *Error of the given kind with a specific code, such as
// ErrConflict with "already_signed_up".
func Coded(kind error, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// Invalid returns a validation error naming the fields at fault. It returns
// nil when fields is empty, so callers can write `return model.Invalid(req.Valid())`.
func Invalid(fields map[string]string) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Kind: ErrInvalid, Code: "invalid", Message: "请求内容有误，请检查后重试", Fields: fields}
}

// Wrap returns an *Error of kind with a user-safe message that keeps cause
// for the logs.
func Wrap(kind error, cause error, message string) *Error {
	return &Error{Kind: kind, Code: DefaultCode(kind), Message: message, Cause: cause}
}

// DefaultCode is the API.md code of an error kind.
func DefaultCode(kind error) string {
	switch kind {
	case ErrInvalid:
		return "invalid"
	case ErrUnauthenticated:
		return "unauthenticated"
	case ErrForbidden:
		return "forbidden"
	case ErrNotFound:
		return "not_found"
	case ErrConflict:
		return "conflict"
	case ErrTooLarge:
		return "too_large"
	case ErrUnsupportedMedia:
		return "unsupported_media"
	case ErrRateLimited:
		return "rate_limited"
	case ErrUpstream:
		return "wechat_unavailable"
	case ErrUnavailable:
		return "unavailable"
	}
	return "internal"
}
