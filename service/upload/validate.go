// Package upload accepts user images (nomination photos) and stores them
// under generated keys.
//
// An upload is judged by its content only, never by its file name or
// Content-Type: it must be a well-formed JPEG, PNG or WebP within a byte and
// a pixel budget. The container structure is checked from the first byte to
// the end marker (JPEG segments and entropy-coded data up to EOI, every PNG
// chunk CRC up to IEND, every WebP RIFF chunk), and the header is read with
// the format's DecodeConfig; pixels are not decoded, so a hostile file costs
// no more memory than its own bytes.
//
// Location privacy: photos of families must not reveal where they live, so
// everything that is not needed to render the image is removed, losslessly
// (no re-encoding: the pixels are untouched):
//
//   - JPEG: every APP1 segment (Exif, with its GPS IFD and thumbnail, and
//     XMP), COM, every other APPn except JFIF/JFXX (APP0), ICC profiles
//     (APP2) and Adobe (APP14) — so IPTC (APP13), the MPF index (APP2) and
//     maker data go — and anything after EOI (appended "motion photo"
//     videos, secondary images). The Exif orientation is kept by writing
//     back a minimal Exif holding only that tag, so portrait photos still
//     display upright.
//   - PNG: every ancillary chunk that does not affect rendering (eXIf, tEXt,
//     zTXt, iTXt, tIME, private chunks), and anything after IEND.
//   - WebP: EXIF, XMP and unknown chunks (clearing the VP8X metadata flags),
//     and anything after the RIFF payload.
//
// Colour profiles, transparency, animation and all image data are kept.
package upload

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"

	"golang.org/x/image/webp"

	"wanjia/model"
)

// Default limits.
const (
	DefaultMaxSize   = 5 << 20    // bytes
	DefaultMaxPixels = 40_000_000 // width × height
)

// Content types Validate accepts, and the key extensions they are stored
// under.
const (
	TypeJPEG = "image/jpeg"
	TypePNG  = "image/png"
	TypeWebP = "image/webp"
)

var extByType = map[string]string{TypeJPEG: "jpg", TypePNG: "png", TypeWebP: "webp"}

// Sniffed is an image that passed Validate.
type Sniffed struct {
	ContentType string // TypeJPEG, TypePNG or TypeWebP, from the content
	Ext         string // "jpg", "png" or "webp"
	// Width and Height are the displayed size: for a JPEG whose Exif
	// orientation turns it by 90°, the stored width and height swapped.
	Width, Height int
	// Data is the image as it is stored: the upload with its metadata
	// removed (see the package documentation).
	Data []byte
	// Stripped reports whether Data differs from the upload.
	Stripped bool
}

// Validate reads an image upload of declaredSize bytes (-1 when unknown)
// with the default limits. See Service.Validate.
func Validate(r io.Reader, declaredSize int64) (Sniffed, error) {
	return validate(r, declaredSize, DefaultMaxSize, DefaultMaxPixels)
}

func validate(r io.Reader, declaredSize, maxSize, maxPixels int64) (Sniffed, error) {
	if declaredSize > maxSize {
		return Sniffed{}, errTooLarge(maxSize, nil)
	}
	var buf bytes.Buffer
	if declaredSize > 0 {
		buf.Grow(int(declaredSize) + 1)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, maxSize+1)); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return Sniffed{}, errTooLarge(maxSize, err)
		}
		return Sniffed{}, fmt.Errorf("read upload: %w", err)
	}
	data := buf.Bytes()
	if int64(len(data)) > maxSize {
		return Sniffed{}, errTooLarge(maxSize, nil)
	}
	if declaredSize >= 0 && int64(len(data)) != declaredSize {
		return Sniffed{}, &model.Error{Kind: model.ErrInvalid, Code: "incomplete_upload", Message: "图片上传不完整，请重试",
			Cause: fmt.Errorf("read %d bytes, declared %d", len(data), declaredSize)}
	}

	var (
		s           Sniffed
		orientation int
		err         error
		decodeCfg   func(io.Reader) (image.Config, error)
	)
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		s.ContentType, decodeCfg = TypeJPEG, jpeg.DecodeConfig
		s.Data, orientation, s.Stripped, err = sanitizeJPEG(data)
	case bytes.HasPrefix(data, pngSignature):
		s.ContentType, decodeCfg = TypePNG, png.DecodeConfig
		s.Data, s.Stripped, err = sanitizePNG(data)
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		s.ContentType, decodeCfg = TypeWebP, webp.DecodeConfig
		s.Data, s.Stripped, err = sanitizeWebP(data)
	default:
		return Sniffed{}, errUnsupported(nil)
	}
	if err != nil {
		return Sniffed{}, errCorrupt(fmt.Errorf("%s: %w", s.ContentType, err))
	}
	s.Ext = extByType[s.ContentType]
	cfg, err := decodeCfg(bytes.NewReader(s.Data))
	if err != nil {
		return Sniffed{}, errCorrupt(fmt.Errorf("%s: decode config: %w", s.ContentType, err))
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Sniffed{}, errCorrupt(fmt.Errorf("%s: empty image %dx%d", s.ContentType, cfg.Width, cfg.Height))
	}
	// Each side fits in 31 bits in all three formats: the product cannot overflow.
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return Sniffed{}, &model.Error{Kind: model.ErrTooLarge, Code: "too_large", Message: "图片分辨率过高，请缩小后再上传",
			Cause: fmt.Errorf("%dx%d pixels, limit %d", cfg.Width, cfg.Height, maxPixels)}
	}
	s.Width, s.Height = cfg.Width, cfg.Height
	if orientation >= 5 { // 5–8 turn the image by 90°
		s.Width, s.Height = s.Height, s.Width
	}
	return s, nil
}

func errUnsupported(cause error) error {
	return &model.Error{Kind: model.ErrUnsupportedMedia, Code: "unsupported_media", Message: "仅支持 JPEG、PNG、WebP 图片", Cause: cause}
}

func errCorrupt(cause error) error {
	return &model.Error{Kind: model.ErrUnsupportedMedia, Code: "unsupported_media", Message: "图片文件已损坏，请重新选择", Cause: cause}
}

func errTooLarge(maxSize int64, cause error) error {
	var limit string
	switch {
	case maxSize%(1<<20) == 0:
		limit = fmt.Sprintf("%d MB", maxSize>>20)
	case maxSize >= 1<<20:
		limit = fmt.Sprintf("%.1f MB", float64(maxSize)/(1<<20))
	default:
		limit = fmt.Sprintf("%d KB", max(maxSize>>10, 1))
	}
	return &model.Error{Kind: model.ErrTooLarge, Code: "too_large", Message: "图片不能超过 " + limit, Cause: cause}
}
