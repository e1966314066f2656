package upload_test

import (
	"bytes"
	"errors"
	"image/jpeg"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wanjia/model"
	"wanjia/service/upload"
)

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	jpg := mustJPEG(t, 8, 6)
	pngb := mustPNG(t, 5, 7)
	lossless := mustReadFile(t, "gopher-doc.1bpp.lossless.webp")
	lossy := mustReadFile(t, "blue-purple-pink.lossy.webp")
	tests := []struct {
		name string
		in   []byte
		want upload.Sniffed // Data checked separately
	}{
		{"jpeg", jpg, upload.Sniffed{ContentType: "image/jpeg", Ext: "jpg", Width: 8, Height: 6}},
		{"png", pngb, upload.Sniffed{ContentType: "image/png", Ext: "png", Width: 5, Height: 7}},
		{"webp lossless", lossless, upload.Sniffed{ContentType: "image/webp", Ext: "webp", Width: 75, Height: 100}},
		{"webp lossy", lossy, upload.Sniffed{ContentType: "image/webp", Ext: "webp", Width: 150, Height: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := upload.Validate(bytes.NewReader(tt.in), int64(len(tt.in)))
			if err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(upload.Sniffed{}, "Data")); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
			// Nothing to strip: stored as uploaded.
			if !bytes.Equal(got.Data, tt.in) {
				t.Errorf("Validate().Data differs from a clean upload (%d vs %d bytes)", len(got.Data), len(tt.in))
			}
			// Unknown size works too.
			if _, err := upload.Validate(bytes.NewReader(tt.in), -1); err != nil {
				t.Errorf("Validate(size -1) = %v", err)
			}
		})
	}
}

func TestValidateStripsMetadata(t *testing.T) {
	t.Parallel()
	jpg := mustJPEG(t, 8, 6)
	pngb := mustPNG(t, 5, 7)
	lossless := mustReadFile(t, "gopher-doc.1bpp.lossless.webp")
	lossy := mustReadFile(t, "blue-purple-pink.lossy.webp")
	minimalExif := func(o byte) []byte {
		return []byte{0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 0x2A, 0, 0, 0, 8, 0, 1,
			0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, o, 0, 0, 0, 0, 0, 0}
	}
	tests := []struct {
		name        string
		in          []byte
		clean       []byte // the upload without metadata; pixels must match
		wantW       int
		wantH       int
		wantPrefix  []byte // expected start of Data, when it matters
		wantMinExif bool
	}{
		{
			name: "jpeg orientation 6", in: jpegWithMetadata(jpg, 6, false), clean: jpg, wantW: 6, wantH: 8,
			wantPrefix: append([]byte{0xFF, 0xD8}, minimalExif(6)...), wantMinExif: true,
		},
		{
			name: "jpeg with JFIF, orientation 3", in: jpegWithMetadata(jpg, 3, true), clean: jpg, wantW: 8, wantH: 6,
			wantPrefix:  append(append([]byte{0xFF, 0xD8}, jpegSegment(0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))...), minimalExif(3)...),
			wantMinExif: true,
		},
		{
			name: "jpeg orientation 1", in: jpegWithMetadata(jpg, 1, false), clean: jpg, wantW: 8, wantH: 6,
			wantPrefix: jpg,
		},
		{
			name: "png text and exif", clean: pngb, wantW: 5, wantH: 7, wantPrefix: pngb,
			in: append(pngWithChunks(pngb,
				pngChunk("tEXt", []byte("Comment\x00shot at home, 88 Jianguo Rd")),
				pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<x exif:GPSLatitude='39N'/>")),
				pngChunk("zTXt", []byte("Author\x00\x00x\x9c\x01\x00\x00\xff\xff\x00\x00\x00\x01")),
				pngChunk("eXIf", exifPayload(1)[6:]),
			), "MOTION-PHOTO-VIDEO"...),
		},
		{
			name: "webp lossless extended", in: webpWithMetadata(t, lossless, 75, 100), clean: lossless, wantW: 75, wantH: 100,
		},
		{
			name: "webp lossy extended", in: webpWithMetadata(t, lossy, 150, 100), clean: lossy, wantW: 150, wantH: 100,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := upload.Validate(bytes.NewReader(tt.in), int64(len(tt.in)))
			if err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if !got.Stripped {
				t.Error("Validate().Stripped = false, want true")
			}
			if got.Width != tt.wantW || got.Height != tt.wantH {
				t.Errorf("Validate() size = %dx%d, want %dx%d", got.Width, got.Height, tt.wantW, tt.wantH)
			}
			for _, s := range plantedSecrets {
				if bytes.Contains(got.Data, []byte(s)) {
					t.Errorf("Validate().Data still contains %q", s)
				}
			}
			if tt.wantPrefix != nil && !bytes.HasPrefix(got.Data, tt.wantPrefix) {
				t.Errorf("Validate().Data starts % x, want % x", got.Data[:min(len(got.Data), len(tt.wantPrefix))], tt.wantPrefix)
			}
			if has := bytes.Contains(got.Data, []byte("Exif\x00\x00")); has != tt.wantMinExif {
				t.Errorf("Validate().Data has Exif = %v, want %v", has, tt.wantMinExif)
			}
			// Lossless: the pixels are exactly those of the clean image.
			if !samePixels(mustDecode(t, got.Data), mustDecode(t, tt.clean)) {
				t.Error("Validate().Data decodes to other pixels than the clean image")
			}
			// Idempotent: validating the result changes nothing.
			again, err := upload.Validate(bytes.NewReader(got.Data), -1)
			if err != nil {
				t.Fatalf("Validate(Validate().Data) = %v", err)
			}
			if !bytes.Equal(again.Data, got.Data) {
				t.Error("Validate(Validate().Data).Data differs: sanitizing is not idempotent")
			}
		})
	}
}

func TestValidateKeepsRenderingData(t *testing.T) {
	t.Parallel()
	jpg := mustJPEG(t, 8, 6)
	pngb := mustPNG(t, 5, 7)
	lossless := mustReadFile(t, "gopher-doc.1bpp.lossless.webp")
	jfif := jpegSegment(0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))
	icc := jpegSegment(0xE2, []byte("ICC_PROFILE\x00\x01\x01fake profile"))
	adobe := jpegSegment(0xEE, []byte("Adobe\x00\x64\x00\x00\x00\x00\x01"))
	vendor := jpegSegment(0xE3, []byte("Meta\x00LAT=39.9042"))
	notJFIF := jpegSegment(0xE0, []byte("AVI1\x00LAT=39.9042"))
	gama := pngChunk("gAMA", []byte{0, 0, 0xb1, 0x8f})
	phys := pngChunk("pHYs", []byte{0, 0, 0x0b, 0x13, 0, 0, 0x0b, 0x13, 1})
	iccp := riffChunk("ICCP", []byte("fake profile"))
	tests := []struct {
		name       string
		in         []byte
		keep, drop [][]byte
	}{
		{
			name: "jpeg",
			in:   append(append(append([]byte{0xFF, 0xD8}, jfif...), append(append(append(icc, vendor...), notJFIF...), adobe...)...), jpg[2:]...),
			keep: [][]byte{jfif, icc, adobe},
			drop: [][]byte{vendor, notJFIF},
		},
		{
			name: "png",
			in: pngWithChunks(pngb, gama, phys,
				pngChunk("tIME", []byte{0x07, 0xea, 11, 3, 9, 0, 0}),
				pngChunk("prVt", []byte("LAT=39.9042"))),
			keep: [][]byte{gama, phys},
			drop: [][]byte{[]byte("tIME"), []byte("prVt")},
		},
		{
			name: "webp",
			in:   riff(vp8x(1<<5, 75, 100), iccp, firstChunk(t, lossless), riffChunk("ABCD", []byte("LAT=39.9042"))),
			keep: [][]byte{iccp},
			drop: [][]byte{[]byte("ABCD")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := upload.Validate(bytes.NewReader(tt.in), -1)
			if err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			for _, k := range tt.keep {
				if !bytes.Contains(got.Data, k) {
					t.Errorf("Validate().Data lost % x", k[:min(len(k), 16)])
				}
			}
			for _, d := range append(tt.drop, []byte("LAT=39.9042")) {
				if bytes.Contains(got.Data, d) {
					t.Errorf("Validate().Data kept %q", d)
				}
			}
			mustDecode(t, got.Data)
		})
	}
}

// TestValidateJPEGScans walks the entropy-coded data of hand-made scans:
// stuffed bytes, restart markers, fill bytes, several scans with tables in
// between, and an embedded thumbnail whose own EOI must not end the walk.
func TestValidateJPEGScans(t *testing.T) {
	t.Parallel()
	sof := jpegSegment(0xC2, []byte{8, 0, 8, 0, 8, 1, 1, 0x11, 0}) // progressive, 8x8, 1 component
	sos := jpegSegment(0xDA, []byte{1, 1, 0x00, 0, 63, 0})
	dht := jpegSegment(0xC4, append([]byte{0x00, 1}, make([]byte, 16)...))
	dri := jpegSegment(0xDD, []byte{0, 1})
	scan1 := []byte{0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD0, 0x78, 0xFF, 0xD7, 0x9A}
	scan2 := []byte{0xBC, 0xFF, 0x00, 0xDE, 0xFF, 0xFF} // ends with a fill byte
	thumb := append([]byte("Exif\x00\x00"), 0xFF, 0xD8, 0xFF, 0xD9, 0xFF, 0xDA)
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	soi, eoi := []byte{0xFF, 0xD8}, []byte{0xFF, 0xD9}
	clean := join(soi, dri, sof, sos, scan1, dht, sos, scan2, eoi)
	tests := []struct {
		name    string
		in      []byte
		want    []byte // nil: rejected
		wantErr bool
	}{
		{"two scans", clean, clean, false},
		{"thumbnail in APP1", join(soi, jpegSegment(0xE1, thumb), dri, sof, sos, scan1, dht, sos, scan2, eoi), clean, false},
		{"APP1 between scans", join(soi, dri, sof, sos, scan1, jpegSegment(0xE1, thumb), dht, sos, scan2, eoi), clean, false},
		{"fill bytes before markers", join(soi, []byte{0xFF, 0xFF}, dri, sof, sos, scan1, dht, sos, scan2, eoi), clean, false},
		{"no EOI", join(soi, dri, sof, sos, scan1, dht, sos, scan2), nil, true},
		{"scan runs to the end", join(soi, sof, sos, scan1), nil, true},
		{"scan before frame", join(soi, sos, scan1, sof, eoi), nil, true},
		{"no scan", join(soi, sof, eoi), nil, true},
		{"segment overruns", join(soi, sof, []byte{0xFF, 0xE5, 0x40, 0x00, 1, 2}), nil, true},
		{"segment length 0", join(soi, sof, []byte{0xFF, 0xE5, 0x00, 0x00}, sos, scan1, eoi), nil, true},
		{"data where a marker belongs", join(soi, sof, []byte{0x00}, sos, scan1, eoi), nil, true},
		{"second SOI", join(soi, sof, soi, sos, scan1, eoi), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := upload.Validate(bytes.NewReader(tt.in), -1)
			if tt.wantErr {
				checkCoded(t, err, model.ErrUnsupportedMedia, "unsupported_media")
				return
			}
			if err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if !bytes.Equal(got.Data, tt.want) {
				t.Errorf("Validate().Data =\n% x\nwant\n% x", got.Data, tt.want)
			}
		})
	}
}

func TestValidateWebPFlagsCleared(t *testing.T) {
	t.Parallel()
	in := webpWithMetadata(t, mustReadFile(t, "gopher-doc.1bpp.lossless.webp"), 75, 100)
	got, err := upload.Validate(bytes.NewReader(in), -1)
	if err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if string(got.Data[12:16]) != "VP8X" || got.Data[20] != 0 {
		t.Errorf("VP8X chunk = %q flags %#x, want VP8X with EXIF and XMP flags cleared", got.Data[12:16], got.Data[20])
	}
	if bytes.Contains(got.Data, []byte("EXIF")) || bytes.Contains(got.Data, []byte("XMP ")) {
		t.Error("Validate().Data still has EXIF or XMP chunks")
	}
	if riffSize := int(got.Data[4]) | int(got.Data[5])<<8 | int(got.Data[6])<<16 | int(got.Data[7])<<24; riffSize != len(got.Data)-8 {
		t.Errorf("RIFF size = %d, want %d", riffSize, len(got.Data)-8)
	}
}

// errorReader fails every read with err.
type errorReader struct{ err error }

func (r errorReader) Read([]byte) (int, error) { return 0, r.err }

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// zeros yields zero bytes forever.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	jpg := mustJPEG(t, 8, 6)
	pngb := mustPNG(t, 5, 7)
	lossless := mustReadFile(t, "gopher-doc.1bpp.lossless.webp")
	garbage := bytes.Repeat([]byte{0x5A, 0xA5, 0x00, 0xFF}, 64)
	badCRC := bytes.Clone(pngb)
	badCRC[len(badCRC)-20] ^= 0xFF // inside IDAT
	tests := []struct {
		name     string
		in       []byte
		declared int64
		wantKind error
		wantCode string
	}{
		{"gif", mustGIF(t), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"html renamed .jpg", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"bmp", append([]byte("BM"), garbage...), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"empty", nil, -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"empty declared", nil, 0, model.ErrUnsupportedMedia, "unsupported_media"},
		{"png header then garbage", append([]byte("\x89PNG\r\n\x1a\n"), garbage...), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"png bad crc", badCRC, -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"png truncated", pngb[:len(pngb)-12], -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"png without IDAT", append(bytes.Clone(pngb[:33]), pngChunk("IEND", nil)...), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"png unknown critical chunk", pngWithChunks(pngb, pngChunk("ABCD", []byte("x"))), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"png zero width", pngHeaderOnly(0, 10), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"jpeg magic then html", []byte("\xFF\xD8\xFF<html><script>alert(1)</script></html>"), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"jpeg truncated", jpg[:len(jpg)/2], -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"jpeg without EOI", jpg[:len(jpg)-2], -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"jpeg zero height", withSOFSize(t, jpg, 8, 0), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"webp bad riff size", append([]byte("RIFF\xff\xff\x00\x00"), lossless[8:]...), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"webp no image chunk", riff(vp8x(0, 10, 10)), -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"webp truncated", lossless[:100], -1, model.ErrUnsupportedMedia, "unsupported_media"},
		{"bomb png", pngHeaderOnly(100_000, 100_000), -1, model.ErrTooLarge, "too_large"},
		{"bomb jpeg", withSOFSize(t, jpg, 65000, 65000), -1, model.ErrTooLarge, "too_large"},
		{"bomb webp", riff(vp8x(0, 16384, 16384), firstChunk(t, lossless)), -1, model.ErrTooLarge, "too_large"},
		{"just over 40 MP", withSOFSize(t, jpg, 8000, 5001), -1, model.ErrTooLarge, "too_large"},
		{"declared too large", jpg, upload.DefaultMaxSize + 1, model.ErrTooLarge, "too_large"},
		{"declared more than sent", jpg, int64(len(jpg)) + 10, model.ErrInvalid, "incomplete_upload"},
		{"declared less than sent", jpg, int64(len(jpg)) - 10, model.ErrInvalid, "incomplete_upload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := upload.Validate(bytes.NewReader(tt.in), tt.declared)
			checkCoded(t, err, tt.wantKind, tt.wantCode)
			if got.Data != nil {
				t.Errorf("Validate() returned data alongside an error")
			}
		})
	}
}

func TestValidateAtLimit(t *testing.T) {
	t.Parallel()
	// Exactly 40 MP passes (header only: pixels are never decoded).
	in := withSOFSize(t, mustJPEG(t, 8, 6), 8000, 5000)
	got, err := upload.Validate(bytes.NewReader(in), -1)
	if err != nil {
		t.Fatalf("Validate(8000x5000) = %v", err)
	}
	if got.Width != 8000 || got.Height != 5000 {
		t.Errorf("Validate() size = %dx%d, want 8000x5000", got.Width, got.Height)
	}
}

func TestValidateOversizeStream(t *testing.T) {
	t.Parallel()
	cr := &countingReader{r: io.MultiReader(bytes.NewReader(mustJPEG(t, 8, 6)), zeros{})}
	_, err := upload.Validate(cr, -1)
	checkCoded(t, err, model.ErrTooLarge, "too_large")
	if cr.n > upload.DefaultMaxSize+1 {
		t.Errorf("Validate() read %d bytes, want at most %d", cr.n, upload.DefaultMaxSize+1)
	}
	var me *model.Error
	if errors.As(err, &me) && me.Message != "图片不能超过 5 MB" {
		t.Errorf("Validate() message = %q, want %q", me.Message, "图片不能超过 5 MB")
	}
}

func TestValidateDeclaredTooLargeReadsNothing(t *testing.T) {
	t.Parallel()
	cr := &countingReader{r: zeros{}}
	_, err := upload.Validate(cr, upload.DefaultMaxSize+1)
	checkCoded(t, err, model.ErrTooLarge, "too_large")
	if cr.n != 0 {
		t.Errorf("Validate() read %d bytes of a declared-too-large upload, want 0", cr.n)
	}
}

func TestValidateReadErrors(t *testing.T) {
	t.Parallel()
	_, err := upload.Validate(errorReader{&http.MaxBytesError{Limit: 1 << 20}}, -1)
	checkCoded(t, err, model.ErrTooLarge, "too_large")

	boom := errors.New("connection reset")
	_, err = upload.Validate(errorReader{boom}, -1)
	if !errors.Is(err, boom) {
		t.Errorf("Validate(failing reader) = %v, want it to wrap %v", err, boom)
	}
	var me *model.Error
	if errors.As(err, &me) {
		t.Errorf("Validate(failing reader) = %v, a user-facing error for a server-side failure", err)
	}
}

func TestServiceLimits(t *testing.T) {
	t.Parallel()
	svc := upload.New(nil, upload.Options{MaxSize: 1000, MaxPixels: 100})
	big := mustJPEG(t, 64, 64) // larger than 1000 bytes
	if len(big) <= 1000 {
		t.Fatalf("test JPEG is %d bytes, want more than 1000", len(big))
	}
	_, err := svc.Validate(bytes.NewReader(big), -1)
	checkCoded(t, err, model.ErrTooLarge, "too_large")
	var me *model.Error
	if errors.As(err, &me) && !strings.Contains(me.Message, "KB") {
		t.Errorf("Validate() message = %q, want the limit in KB", me.Message)
	}
	_, err = svc.Validate(bytes.NewReader(mustPNG(t, 11, 10)), -1)
	checkCoded(t, err, model.ErrTooLarge, "too_large")
	if _, err := svc.Validate(bytes.NewReader(mustPNG(t, 10, 10)), -1); err != nil {
		t.Errorf("Validate(10x10 with MaxPixels 100) = %v", err)
	}
}

// checkCoded fails unless err is a *model.Error of kind and code with a
// message.
func checkCoded(tb testing.TB, err, kind error, code string) {
	tb.Helper()
	if !errors.Is(err, kind) {
		tb.Fatalf("error = %v, want kind %v", err, kind)
	}
	var me *model.Error
	if !errors.As(err, &me) {
		tb.Fatalf("error = %v, want a *model.Error", err)
	}
	if me.Code != code || me.Message == "" {
		tb.Errorf("error code, message = %q, %q, want %q and a message", me.Code, me.Message, code)
	}
}

func FuzzValidate(f *testing.F) {
	jpg := mustJPEG(f, 8, 6)
	pngb := mustPNG(f, 5, 7)
	lossless := mustReadFile(f, "gopher-doc.1bpp.lossless.webp")
	for _, seed := range [][]byte{
		jpg, pngb, lossless, mustReadFile(f, "blue-purple-pink.lossy.webp"),
		jpegWithMetadata(jpg, 6, true), jpegWithMetadata(jpg, 8, false),
		pngWithChunks(pngb, pngChunk("eXIf", exifPayload(6)[6:])),
		webpWithMetadata(f, lossless, 75, 100),
		pngHeaderOnly(100_000, 100_000), mustGIF(f),
		[]byte("\xFF\xD8\xFF\xE1\x00\x10Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08"),
		[]byte("RIFF\x04\x00\x00\x00WEBP"), nil,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := upload.Validate(bytes.NewReader(in), int64(len(in)))
		if err != nil {
			var me *model.Error
			if !errors.As(err, &me) {
				t.Fatalf("Validate() = %v, want a *model.Error for any content", err)
			}
			return
		}
		switch got.ContentType {
		case "image/jpeg", "image/png", "image/webp":
		default:
			t.Fatalf("Validate() content type = %q", got.ContentType)
		}
		if got.Width <= 0 || got.Height <= 0 || int64(got.Width)*int64(got.Height) > upload.DefaultMaxPixels {
			t.Fatalf("Validate() size = %dx%d", got.Width, got.Height)
		}
		again, err := upload.Validate(bytes.NewReader(got.Data), -1)
		if err != nil {
			t.Fatalf("Validate(Validate().Data) = %v", err)
		}
		if diff := cmp.Diff(got, again, cmpopts.IgnoreFields(upload.Sniffed{}, "Stripped")); diff != "" {
			t.Fatalf("Validate(Validate().Data) mismatch (-first +second):\n%s", diff)
		}
		if got.ContentType == "image/jpeg" {
			// What we store must stay readable by a real decoder's header parser.
			if _, err := jpeg.DecodeConfig(bytes.NewReader(got.Data)); err != nil {
				t.Fatalf("jpeg.DecodeConfig(Data) = %v", err)
			}
		}
	})
}
