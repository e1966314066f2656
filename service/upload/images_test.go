package upload_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// Test images are built here from the standard encoders; WebP samples come
// from testdata (see testdata/README.md).

func testImage(w, h int) image.Image {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x * 40), uint8(y * 60), 128, 255})
		}
	}
	return m
}

func mustJPEG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(w, h), &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatalf("jpeg.Encode() = %v", err)
	}
	return buf.Bytes()
}

func mustPNG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(w, h)); err != nil {
		tb.Fatalf("png.Encode() = %v", err)
	}
	return buf.Bytes()
}

func mustGIF(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := gif.Encode(&buf, testImage(4, 3), nil); err != nil {
		tb.Fatalf("gif.Encode() = %v", err)
	}
	return buf.Bytes()
}

func mustReadFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("read testdata: %v", err)
	}
	return b
}

func mustDecode(tb testing.TB, b []byte) image.Image {
	tb.Helper()
	m, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("image.Decode() = %v", err)
	}
	return m
}

// samePixels reports whether a and b have the same bounds and colours.
func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				return false
			}
		}
	}
	return true
}

// Secrets planted in metadata; none may survive sanitizing.
var plantedSecrets = []string{"LAT=39.9042", "GPSLatitude", "Jianguo Rd", "Photoshop 3.0", "MPF\x00", "MOTION-PHOTO-VIDEO", "Author: 张三"}

// jpegSegment returns marker m with payload p.
func jpegSegment(m byte, p []byte) []byte {
	seg := []byte{0xFF, m, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(p)+2))
	return append(seg, p...)
}

// exifPayload returns an APP1 Exif payload (little-endian) with an
// orientation tag and a GPS IFD, followed by planted location text.
func exifPayload(orientation uint16) []byte {
	le := binary.LittleEndian
	t := []byte("II\x2a\x00\x08\x00\x00\x00")
	ifd0 := make([]byte, 2+2*12+4)
	le.PutUint16(ifd0, 2)
	// Orientation, SHORT, 1
	le.PutUint16(ifd0[2:], 0x0112)
	le.PutUint16(ifd0[4:], 3)
	le.PutUint32(ifd0[6:], 1)
	le.PutUint16(ifd0[10:], orientation)
	// GPSInfo IFD pointer, LONG, 1 → offset 38
	le.PutUint16(ifd0[14:], 0x8825)
	le.PutUint16(ifd0[16:], 4)
	le.PutUint32(ifd0[18:], 1)
	le.PutUint32(ifd0[22:], 38)
	gps := make([]byte, 2+12+4)
	le.PutUint16(gps, 1)
	le.PutUint16(gps[2:], 0x0001) // GPSLatitudeRef
	le.PutUint16(gps[4:], 2)      // ASCII
	le.PutUint32(gps[6:], 2)
	copy(gps[10:], "N\x00")
	t = append(append(append(t, ifd0...), gps...), "LAT=39.9042,LON=116.4074"...)
	return append([]byte("Exif\x00\x00"), t...)
}

// jpegWithMetadata returns base with Exif (orientation), XMP, IPTC, a
// comment, an MPF index and a trailing "motion photo", plus an APP0 JFIF
// first when jfif is set.
func jpegWithMetadata(base []byte, orientation uint16, jfif bool) []byte {
	var segs []byte
	if jfif {
		segs = append(segs, jpegSegment(0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))...)
	}
	segs = append(segs, jpegSegment(0xE1, exifPayload(orientation))...)
	segs = append(segs, jpegSegment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description exif:GPSLatitude=\"39,54.25N\" dc:creator=\"Author: 张三\"/></x:xmpmeta>"))...)
	segs = append(segs, jpegSegment(0xED, []byte("Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x00"))...)
	segs = append(segs, jpegSegment(0xFE, []byte("shot at home, 88 Jianguo Rd"))...)
	segs = append(segs, jpegSegment(0xE2, []byte("MPF\x00MM\x00\x2a\x00\x00\x00\x08"))...)
	out := append([]byte{0xFF, 0xD8}, segs...)
	out = append(out, base[2:]...)
	return append(out, "MOTION-PHOTO-VIDEO...."...)
}

// withSOFSize returns a copy of a baseline JPEG whose frame header claims
// w×h pixels.
func withSOFSize(tb testing.TB, jpg []byte, w, h uint16) []byte {
	tb.Helper()
	out := bytes.Clone(jpg)
	i := bytes.Index(out, []byte{0xFF, 0xC0})
	if i < 0 {
		tb.Fatal("no SOF0 in test JPEG")
	}
	binary.BigEndian.PutUint16(out[i+5:], h)
	binary.BigEndian.PutUint16(out[i+7:], w)
	return out
}

// pngChunk returns a PNG chunk with a correct CRC.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// pngWithChunks inserts chunks right after IHDR.
func pngWithChunks(base []byte, chunks ...[]byte) []byte {
	const afterIHDR = 8 + 12 + 13
	out := bytes.Clone(base[:afterIHDR])
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, base[afterIHDR:]...)
}

// pngHeaderOnly returns a PNG that claims w×h pixels with a token IDAT.
func pngHeaderOnly(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, pngChunk("IEND", nil)...)
}

// riffChunk returns a WebP chunk, padded to an even size.
func riffChunk(fourCC string, data []byte) []byte {
	c := append([]byte(fourCC), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

func riff(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := []byte("RIFF\x00\x00\x00\x00WEBP")
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)+4))
	return append(out, body...)
}

// vp8x returns a VP8X chunk with flags and a w×h canvas.
func vp8x(flags byte, w, h uint32) []byte {
	p := []byte{flags, 0, 0, 0}
	p = append(p, byte(w-1), byte((w-1)>>8), byte((w-1)>>16))
	p = append(p, byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	return riffChunk("VP8X", p)
}

// firstChunk returns the first chunk of a simple WebP file, padded.
func firstChunk(tb testing.TB, webp []byte) []byte {
	tb.Helper()
	n := int(binary.LittleEndian.Uint32(webp[16:]))
	end := 20 + n + n%2
	if end > len(webp) {
		tb.Fatal("short test WebP")
	}
	return webp[12:end]
}

// webpWithMetadata wraps the image chunk of a simple WebP in an extended
// file with EXIF and XMP chunks and a trailing tail.
func webpWithMetadata(tb testing.TB, simple []byte, w, h uint32) []byte {
	tb.Helper()
	const flagEXIF, flagXMP = 1 << 3, 1 << 2
	out := riff(
		vp8x(flagEXIF|flagXMP, w, h),
		firstChunk(tb, simple),
		riffChunk("EXIF", exifPayload(1)[6:]),
		riffChunk("XMP ", []byte("<x:xmpmeta exif:GPSLatitude=\"39,54.25N\"/>")),
	)
	return append(out, "MOTION-PHOTO-VIDEO"...)
}
