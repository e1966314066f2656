package wxsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"slices"
	"strings"
)

// sceneChars are the characters getwxacodeunlimit accepts in scene.
const sceneChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$&'()*+,/:;=?@-._~"

// SetMPPages sets the published pages of the Mini Program; once set,
// getwxacodeunlimit with check_path (the default) answers 41030 for other
// pages.
func (s *Sim) SetMPPages(pages ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages = slices.Clone(pages)
}

// handleWxaCodeUnlimit serves POST /wxa/getwxacodeunlimit: a JPEG
// ("image/jpeg" exactly, as silenceper requires) or a JSON error.
func (s *Sim) handleWxaCodeUnlimit(rq *request) any {
	var in struct {
		Scene      string          `json:"scene"`
		Page       string          `json:"page"`
		CheckPath  *bool           `json:"check_path"`
		EnvVersion string          `json:"env_version"`
		Width      int             `json:"width"`
		AutoColor  bool            `json:"auto_color"`
		LineColor  json.RawMessage `json:"line_color"`
		IsHyaline  bool            `json:"is_hyaline"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	switch {
	case in.Scene == "" || len(in.Scene) > 32:
		return errCode(40169)
	case !onlySceneChars(in.Scene):
		return errCode(40129)
	case strings.HasPrefix(in.Page, "/") || strings.Contains(in.Page, "?"):
		return errCode(41030)
	}
	switch in.EnvVersion {
	case "", "release", "trial", "develop":
	default:
		return errCodef(40097, "(invalid env_version)")
	}
	checkPath := in.CheckPath == nil || *in.CheckPath
	if checkPath && in.Page != "" && len(s.pages) > 0 && !slices.Contains(s.pages, in.Page) {
		return errCode(41030)
	}
	width := in.Width
	if width == 0 {
		width = 430
	}
	width = min(max(width, 280), 1280)
	return rawAnswer{contentType: "image/jpeg", body: codeJPEG(in.Scene+"\x00"+in.Page, width)}
}

func onlySceneChars(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune(sceneChars, r) {
			return false
		}
	}
	return true
}

// codeJPEG draws a QR-like picture of payload (finder squares in three
// corners, a data grid from its hash) and encodes it as JPEG. It is not a
// scannable code.
func codeJPEG(payload string, width int) []byte {
	const modules = 25
	sum := sha256.Sum256([]byte(payload))
	bit := func(x, y int) bool {
		i := (y*modules + x) % (len(sum) * 8)
		return sum[i/8]>>(i%8)&1 == 1 != ((x*y)%3 == 0)
	}
	finder := func(x, y int) (bool, bool) {
		for _, c := range [][2]int{{0, 0}, {modules - 7, 0}, {0, modules - 7}} {
			dx, dy := x-c[0], y-c[1]
			if dx >= 0 && dx < 7 && dy >= 0 && dy < 7 {
				ring := dx == 0 || dy == 0 || dx == 6 || dy == 6
				core := dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4
				return true, ring || core
			}
		}
		return false, false
	}
	img := image.NewGray(image.Rect(0, 0, width, width))
	margin := width / 10
	cell := max((width-2*margin)/modules, 1)
	for y := range width {
		for x := range width {
			img.SetGray(x, y, color.Gray{Y: 255})
			mx, my := (x-margin)/cell, (y-margin)/cell
			if x < margin || y < margin || mx >= modules || my >= modules {
				continue
			}
			dark := bit(mx, my)
			if in, on := finder(mx, my); in {
				dark = on
			}
			if dark {
				img.SetGray(x, y, color.Gray{Y: 0})
			}
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		panic(err) // encoding an in-memory image into a buffer cannot fail
	}
	return buf.Bytes()
}
