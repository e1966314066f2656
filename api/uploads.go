package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/service/upload"
)

// Uploads is what the upload handlers need (upload.Records satisfies it).
type Uploads interface {
	// Save checks, stores and records an image of userID; see
	// upload.Records.Save for the error kinds.
	Save(ctx context.Context, userID int64, r io.Reader, size int64) (model.Upload, error)
	// Open returns a stored image; a malformed key or a missing object
	// is model.ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, upload.Info, error)
	// MaxSize is the largest image Save accepts, in bytes.
	MaxSize() int64
}

// filesPrefix is where GET /api/files/*key serves stored images, and the
// default Deps.FileURLPrefix.
const filesPrefix = "/api/files/"

// multipartOverhead is what an upload's body may carry besides the image:
// the boundaries, part headers and a few small fields.
const multipartOverhead = 64 << 10

// uploadTimeout is the request deadline of an upload: 5 MiB over a slow
// mobile link takes longer than the API's usual 30 s.
const uploadTimeout = 2 * time.Minute

// uploadLimit allows Deps.UploadsPerHour uploads per Mini Program user per
// hour across every copy (Redis), counting every attempt, accepted or not;
// when Redis fails it limits per process. It runs after requireMP.
func (s *server) uploadLimit() gin.HandlerFunc {
	l := newWindowLimiter(s.Redis, "ratelimit:upload:", s.UploadsPerHour, time.Hour, s.log)
	return func(c *gin.Context) {
		p, ok := model.PrincipalFrom(c.Request.Context())
		if !ok {
			s.authFailed(c, errNoToken())
			return
		}
		allowed, retry := l.allow(c.Request.Context(), strconv.FormatInt(p.SubjectID, 10))
		if !allowed {
			c.Header("Retry-After", strconv.Itoa(max(1, int((retry+time.Second-1)/time.Second))))
			writeError(c, s.log, model.Coded(model.ErrRateLimited, "rate_limited", "上传太频繁，请稍后再试"))
			return
		}
		c.Next()
	}
}

func errNoFile() error {
	return model.Invalid(map[string]string{"file": "请选择要上传的图片"})
}

// multipartError turns an error of the multipart reader into a model
// kind: over the body limit 413, anything else a malformed request.
func multipartError(err error) error {
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return &model.Error{Kind: model.ErrTooLarge, Code: "too_large", Message: "图片太大", Cause: err}
	}
	return &model.Error{Kind: model.ErrInvalid, Code: "invalid", Message: "上传内容格式有误",
		Fields: map[string]string{"file": "上传内容格式有误"}, Cause: err}
}

// partReader reads an image part. A body over the limit keeps its
// *http.MaxBytesError (the service answers 413); any other failure (a
// truncated or malformed body, a client gone) becomes a 400 instead of an
// internal error.
type partReader struct{ r io.Reader }

func (p partReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == nil || err == io.EOF {
		return n, err
	}
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return n, err
	}
	return n, &model.Error{Kind: model.ErrInvalid, Code: "incomplete_upload", Message: "图片上传不完整，请重试", Cause: err}
}

// handleUpload: POST /api/mp/uploads, multipart/form-data with the image
// in the part "file" (JPEG, PNG or WebP, judged by content; at most
// Uploads.MaxSize bytes) → 201 {"id","url"}. Other parts are skipped; the
// first "file" part is the upload. No file: 400 invalid with fields.file;
// another format: 415 unsupported_media; too big: 413 too_large. Nothing
// is stored when the upload is refused.
func handleUpload(svc Uploads, urlPrefix string) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		mr, err := c.Request.MultipartReader()
		if err != nil { // not multipart/form-data, or no boundary
			return errNoFile()
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return errNoFile()
			}
			if err != nil {
				return multipartError(err)
			}
			if part.FormName() != "file" {
				if _, err := io.Copy(io.Discard, part); err != nil {
					return multipartError(err)
				}
				continue
			}
			u, err := svc.Save(c.Request.Context(), p.SubjectID, partReader{part}, -1)
			if err != nil {
				return err
			}
			c.JSON(http.StatusCreated, gin.H{"id": u.ID, "url": urlPrefix + u.Key})
			return nil
		}
	}
}

// handleFile: GET /api/files/*key → the stored image with its content
// type, nosniff, and a year's immutable caching (keys are random and an
// object never changes). Keys are checked against upload.ValidKey before
// any storage access; anything else is 404.
//
// The route needs no token: the key's 128 random bits are what protects
// an image that is not public yet (a nomination photo before review), as
// only its uploader (and staff) ever learn it.
func handleFile(svc Uploads, log *slog.Logger) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		key := strings.TrimPrefix(c.Param("key"), "/")
		if !upload.ValidKey(key) {
			return errNotFound
		}
		rc, info, err := svc.Open(c.Request.Context(), key)
		if err != nil {
			return err
		}
		defer rc.Close()
		ct := info.ContentType
		if ct == "" {
			ct, _ = upload.KeyContentType(key)
		}
		h := c.Writer.Header()
		h.Set("Content-Type", ct)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		if info.Size > 0 {
			h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
		}
		c.Status(http.StatusOK)
		c.Writer.WriteHeaderNow()
		if _, err := io.Copy(c.Writer, rc); err != nil {
			// The status is sent: all that is left is to stop. A client that
			// went away is the usual cause. The key is not logged.
			log.WarnContext(c.Request.Context(), "serve file: copy", "err", err, "request_id", requestID(c))
			c.Abort()
		}
		return nil
	}
}
