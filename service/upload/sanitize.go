package upload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
)

// The sanitizers walk a whole container, reject anything malformed and
// return a copy without the metadata listed in the package documentation.
// They never decode pixels and never allocate more than the input size
// (plus a few bytes).

var (
	errTruncated = errors.New("truncated")
	pngSignature = []byte("\x89PNG\r\n\x1a\n")
)

// JPEG markers.
const (
	mSOI   = 0xD8
	mEOI   = 0xD9
	mSOS   = 0xDA
	mDHT   = 0xC4
	mJPG   = 0xC8
	mDAC   = 0xCC
	mAPP0  = 0xE0
	mAPP1  = 0xE1
	mAPP2  = 0xE2
	mAPP14 = 0xEE
	mAPP15 = 0xEF
	mCOM   = 0xFE
	mTEM   = 0x01
	mRST0  = 0xD0
	mRST7  = 0xD7
)

// sanitizeJPEG checks the segment structure of a JPEG from SOI to EOI,
// including the entropy-coded data of every scan, and returns it without
// metadata (APP1 Exif and XMP, COM, every APPn but those keptAPP lists) and
// without trailing bytes. When the dropped Exif held an orientation other
// than 1, a minimal Exif with that orientation alone is written back after
// SOI (and after APP0, if that is the first segment kept). orientation is 0
// when there was none.
func sanitizeJPEG(b []byte) (out []byte, orientation int, stripped bool, err error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != mSOI {
		return nil, 0, false, errors.New("missing SOI")
	}
	out = make([]byte, 0, len(b))
	out = append(out, 0xFF, mSOI)
	insertAt := len(out)
	firstKept := true
	sawSOF, sawSOS := false, false
	i := 2
	for {
		if i >= len(b) {
			return nil, 0, false, fmt.Errorf("missing EOI: %w", errTruncated)
		}
		if b[i] != 0xFF {
			return nil, 0, false, fmt.Errorf("expected a marker at %d", i)
		}
		for i < len(b) && b[i] == 0xFF { // fill bytes
			i++
		}
		if i >= len(b) {
			return nil, 0, false, fmt.Errorf("missing EOI: %w", errTruncated)
		}
		m := b[i]
		i++
		switch {
		case m == mEOI:
			if !sawSOS {
				return nil, 0, false, errors.New("no scan before EOI")
			}
			out = append(out, 0xFF, mEOI)
			if i < len(b) {
				stripped = true // bytes after EOI
			}
			if orientation > 1 {
				out = slices.Insert(out, insertAt, exifWithOrientation(orientation)...)
			}
			return out, orientation, stripped, nil
		case m == 0x00 || m == mSOI:
			return nil, 0, false, fmt.Errorf("unexpected marker %#02x at %d", m, i-1)
		case m == mTEM || (m >= mRST0 && m <= mRST7):
			out = append(out, 0xFF, m) // standalone markers
			continue
		}
		if i+2 > len(b) {
			return nil, 0, false, fmt.Errorf("segment %#02x: %w", m, errTruncated)
		}
		n := int(binary.BigEndian.Uint16(b[i:]))
		if n < 2 || i+n > len(b) {
			return nil, 0, false, fmt.Errorf("segment %#02x: bad length %d", m, n)
		}
		seg := b[i : i+n] // length field and payload
		i += n
		payload := seg[2:]
		keep := true
		switch {
		case m == mAPP1:
			if o := exifOrientation(payload); o != 0 && orientation == 0 {
				orientation = o
			}
			keep = false
		case m >= mAPP0 && m <= mAPP15:
			keep = keptAPP(m, payload)
		case m == mCOM:
			keep = false
		case m >= 0xC0 && m <= 0xCF && m != mDHT && m != mJPG && m != mDAC:
			sawSOF = true
		}
		if !keep {
			stripped = true
		} else {
			out = append(out, 0xFF, m)
			out = append(out, seg...)
			if firstKept && m == mAPP0 {
				insertAt = len(out)
			}
			firstKept = false
		}
		if m != mSOS {
			continue
		}
		if !sawSOF {
			return nil, 0, false, errors.New("scan before frame header")
		}
		sawSOS = true
		// Entropy-coded data runs to the next marker that is not a
		// stuffed 0xFF00 or a restart marker.
		j := i
		for {
			k := bytes.IndexByte(b[j:], 0xFF)
			if k < 0 || j+k+1 >= len(b) {
				return nil, 0, false, fmt.Errorf("scan data: %w", errTruncated)
			}
			j += k
			next := b[j+1]
			if next == 0x00 || (next >= mRST0 && next <= mRST7) {
				j += 2
				continue
			}
			if next == 0xFF {
				j++
				continue
			}
			break
		}
		out = append(out, b[i:j]...)
		i = j
	}
}

// keptAPP reports whether an application segment other than APP1 stays:
// only those that affect how the pixels render do (JFIF/JFXX density in
// APP0, an ICC profile in APP2, Adobe's colour transform in APP14). Every
// other APPn is vendor metadata (IPTC in APP13, MPF in APP2, maker data)
// and goes.
func keptAPP(m byte, payload []byte) bool {
	switch m {
	case mAPP0:
		return bytes.HasPrefix(payload, []byte("JFIF\x00")) || bytes.HasPrefix(payload, []byte("JFXX\x00"))
	case mAPP2:
		return bytes.HasPrefix(payload, []byte("ICC_PROFILE\x00"))
	case mAPP14:
		return bytes.HasPrefix(payload, []byte("Adobe"))
	}
	return false
}

// exifOrientation returns the orientation (1–8) in an APP1 Exif payload's
// first IFD, or 0 when there is none or the payload is not Exif.
func exifOrientation(p []byte) int {
	const tagOrientation, typeShort = 0x0112, 3
	if !bytes.HasPrefix(p, []byte("Exif\x00\x00")) {
		return 0
	}
	t := p[6:] // TIFF structure; offsets are relative to its start
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	off := uint64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > uint64(len(t)) {
		return 0
	}
	count := uint64(bo.Uint16(t[off:]))
	for e := off + 2; e+12 <= uint64(len(t)) && count > 0; e, count = e+12, count-1 {
		if bo.Uint16(t[e:]) != tagOrientation {
			continue
		}
		if bo.Uint16(t[e+2:]) != typeShort || bo.Uint32(t[e+4:]) != 1 {
			return 0
		}
		if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 0
	}
	return 0
}

// exifWithOrientation returns an APP1 segment holding an Exif structure
// with one tag, Orientation.
func exifWithOrientation(o int) []byte {
	seg := []byte{
		0xFF, mAPP1, 0x00, 0x22, // marker, length 34
		'E', 'x', 'i', 'f', 0, 0,
		'M', 'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, // big-endian TIFF, IFD0 at 8
		0x00, 0x01, // one entry
		0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, byte(o), 0x00, 0x00, // Orientation SHORT ×1
		0x00, 0x00, 0x00, 0x00, // no next IFD
	}
	return seg
}

// sanitizePNG checks every chunk of a PNG (length, type, CRC) from IHDR to
// IEND and returns it with only the chunks that make up the image (critical
// chunks and pngRenderChunks) and without trailing bytes.
func sanitizePNG(b []byte) (out []byte, stripped bool, err error) {
	if !bytes.HasPrefix(b, pngSignature) {
		return nil, false, errors.New("missing signature")
	}
	out = make([]byte, 0, len(b))
	out = append(out, pngSignature...)
	i := len(pngSignature)
	sawIDAT := false
	for first := true; ; first = false {
		if i+12 > len(b) {
			return nil, false, fmt.Errorf("missing IEND: %w", errTruncated)
		}
		n := uint64(binary.BigEndian.Uint32(b[i:]))
		if n > 1<<31-1 || uint64(i)+12+n > uint64(len(b)) {
			return nil, false, fmt.Errorf("chunk at %d: bad length %d", i, n)
		}
		end := i + 12 + int(n)
		typ := string(b[i+4 : i+8])
		if !isChunkType(typ) {
			return nil, false, fmt.Errorf("chunk at %d: bad type %q", i, typ)
		}
		if crc32.ChecksumIEEE(b[i+4:end-4]) != binary.BigEndian.Uint32(b[end-4:]) {
			return nil, false, fmt.Errorf("chunk %s at %d: bad CRC", typ, i)
		}
		chunk := b[i:end]
		i = end
		if first != (typ == "IHDR") {
			return nil, false, fmt.Errorf("chunk %s: IHDR must come first, once", typ)
		}
		switch typ {
		case "IEND":
			if !sawIDAT {
				return nil, false, errors.New("no IDAT")
			}
			if i < len(b) {
				stripped = true
			}
			return append(out, chunk...), stripped, nil
		case "IDAT":
			sawIDAT = true
		case "IHDR", "PLTE":
		default:
			if typ[0] >= 'A' && typ[0] <= 'Z' {
				return nil, false, fmt.Errorf("unknown critical chunk %q", typ)
			}
			if !pngRenderChunks[typ] {
				stripped = true // eXIf, tEXt, zTXt, iTXt, tIME, private chunks
				continue
			}
		}
		out = append(out, chunk...)
	}
}

// pngRenderChunks are the ancillary PNG chunks that affect how an image
// renders or animates; sanitizePNG drops every other ancillary chunk.
var pngRenderChunks = map[string]bool{
	"tRNS": true, "gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true, "cICP": true,
	"mDCV": true, "cLLI": true, "sBIT": true, "bKGD": true, "hIST": true, "pHYs": true,
	"sPLT": true, "acTL": true, "fcTL": true, "fdAT": true,
}

func isChunkType(t string) bool {
	for i := range len(t) {
		c := t[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// sanitizeWebP checks the RIFF structure of a WebP and returns it with only
// the chunks that make up the image (VP8X with its EXIF and XMP flags
// cleared, VP8, VP8L, ALPH, ANIM, ANMF, ICCP) and without bytes after the
// RIFF payload.
func sanitizeWebP(b []byte) (out []byte, stripped bool, err error) {
	const (
		flagXMP  = 1 << 2
		flagEXIF = 1 << 3
	)
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil, false, errors.New("missing RIFF/WEBP header")
	}
	size := uint64(binary.LittleEndian.Uint32(b[4:]))
	if size < 4 || size+8 > uint64(len(b)) {
		return nil, false, fmt.Errorf("RIFF size %d for %d bytes", size, len(b))
	}
	if size+8 < uint64(len(b)) {
		stripped = true // bytes after the RIFF payload
	}
	body := b[12 : 8+size]
	out = make([]byte, 12, 12+len(body)+1)
	copy(out, "RIFF\x00\x00\x00\x00WEBP")
	sawImage := false
	for i, first := 0, true; i < len(body); first = false {
		if i+8 > len(body) {
			return nil, false, fmt.Errorf("chunk header at %d: %w", i, errTruncated)
		}
		fourCC := string(body[i : i+4])
		n := uint64(binary.LittleEndian.Uint32(body[i+4:]))
		if uint64(i)+8+n > uint64(len(body)) {
			return nil, false, fmt.Errorf("chunk %q at %d: bad size %d", fourCC, i, n)
		}
		payload := body[i+8 : i+8+int(n)]
		i += 8 + int(n)
		if n%2 == 1 && i < len(body) {
			i++ // padding byte; tolerated when missing at the very end
		}
		if first && fourCC != "VP8 " && fourCC != "VP8L" && fourCC != "VP8X" {
			return nil, false, fmt.Errorf("first chunk %q", fourCC)
		}
		switch fourCC {
		case "VP8 ", "VP8L", "ANMF":
			sawImage = true
		case "ALPH", "ANIM", "ICCP":
		case "VP8X":
			if !first || n != 10 {
				return nil, false, errors.New("misplaced VP8X")
			}
			if payload[0]&(flagEXIF|flagXMP) != 0 {
				stripped = true
			}
			payload = append([]byte{payload[0] &^ (flagEXIF | flagXMP)}, payload[1:]...)
		default:
			stripped = true // EXIF, XMP and unknown chunks
			continue
		}
		out = append(out, fourCC...)
		out = binary.LittleEndian.AppendUint32(out, uint32(n))
		out = append(out, payload...)
		if n%2 == 1 {
			out = append(out, 0)
		}
	}
	if !sawImage {
		return nil, false, errors.New("no image chunk")
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out, stripped, nil
}
