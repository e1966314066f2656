package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"wanjia/model"
)

// errorBody is API.md's error envelope.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// status is the one place that picks an HTTP status for an error.
func status(err error) int {
	switch {
	case errors.Is(err, model.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, model.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, model.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, model.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, model.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, model.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, model.ErrUnsupportedMedia):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, model.ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, model.ErrUpstream):
		return http.StatusBadGateway
	case errors.Is(err, model.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// defaultMessages are shown when an error carries no user-safe message.
var defaultMessages = map[int]string{
	http.StatusBadRequest:            "请求内容有误",
	http.StatusUnauthorized:          "请先登录",
	http.StatusForbidden:             "没有权限执行此操作",
	http.StatusNotFound:              "内容不存在",
	http.StatusConflict:              "操作与当前状态冲突",
	http.StatusRequestEntityTooLarge: "内容太大",
	http.StatusUnsupportedMediaType:  "不支持的内容类型",
	http.StatusTooManyRequests:       "操作太频繁，请稍后再试",
	http.StatusBadGateway:            "微信服务暂时不可用，请稍后再试",
	http.StatusServiceUnavailable:    "服务暂时不可用，请稍后再试",
	http.StatusInternalServerError:   "服务器内部错误，请稍后再试",
}

// writeError answers with the envelope. Only *model.Error messages reach
// the client; anything else is logged with the request id and answered
// with a generic message.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	code := status(err)
	d := errorDetail{Message: defaultMessages[code]}
	var me *model.Error
	if errors.As(err, &me) {
		d.Code = me.Code
		if me.Message != "" {
			d.Message = me.Message
		}
		d.Fields = me.Fields
	}
	if d.Code == "" {
		d.Code = codeFor(code)
	}
	if code >= 500 {
		log.ErrorContext(c.Request.Context(), "request failed", "err", err, "request_id", requestID(c),
			"route", c.FullPath(), "status", code)
	}
	c.AbortWithStatusJSON(code, errorBody{Error: d})
}

func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusUnauthorized:
		return "unauthenticated"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusBadGateway:
		return "wechat_unavailable"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	}
	return "internal"
}

// validator is implemented by request bodies: it returns a message per
// field at fault, in Chinese.
type validator interface {
	Valid() map[string]string
}

// decode reads a JSON body into T and validates it. Malformed JSON is
// model.ErrInvalid, a body over the limit model.ErrTooLarge.
func decode[T validator](c *gin.Context) (T, error) {
	var v T
	if err := c.ShouldBindJSON(&v); err != nil {
		return v, bindError(err)
	}
	return v, model.Invalid(v.Valid())
}

func bindError(err error) error {
	var tooBig *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return model.Coded(model.ErrTooLarge, "too_large", "请求内容太大")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return &model.Error{Kind: model.ErrInvalid, Code: "invalid", Message: "请求内容有误，请检查后重试",
			Fields: map[string]string{field: "类型不正确"}, Cause: err}
	case errors.As(err, &syn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return model.Wrap(model.ErrInvalid, err, "请求内容不是有效的 JSON")
	}
	return model.Wrap(model.ErrInvalid, err, "请求内容有误")
}

// wrap turns a handler that returns an error into a gin handler, so no
// handler can forget to stop after writing an error.
func (s *server) wrap(h func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			writeError(c, s.log, err)
		}
	}
}
