package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"wanjia/model"
)

// MaxCallbackBody is the largest callback body accepted (64 KiB); a larger
// one is ErrCallbackTooLarge.
const MaxCallbackBody = 64 << 10

// Callback errors. Each wraps the model kind the transport answers with:
// ErrBadSignature is model.ErrUnauthenticated (401), ErrStale and
// ErrPlaintextRefused are model.ErrForbidden (403), ErrMalformed is
// model.ErrInvalid (400) and ErrCallbackTooLarge model.ErrTooLarge (413).
// Their texts never carry the body or a secret.
var (
	ErrBadSignature     = fmt.Errorf("wechat callback: bad signature: %w", model.ErrUnauthenticated)
	ErrStale            = fmt.Errorf("wechat callback: timestamp outside the window: %w", model.ErrForbidden)
	ErrPlaintextRefused = fmt.Errorf("wechat callback: plaintext message refused in safe mode: %w", model.ErrForbidden)
	ErrMalformed        = fmt.Errorf("wechat callback: malformed: %w", model.ErrInvalid)
	ErrCallbackTooLarge = fmt.Errorf("wechat callback: body over %d bytes: %w", MaxCallbackBody, model.ErrTooLarge)
)

// malformed wraps ErrMalformed with a reason (never the offending data).
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Endpoint is the message-push (callback) configuration of one app: the
// token, the 43-character EncodingAESKey (empty: plain mode only) and the
// app id that safe-mode messages carry. AllowPlain accepts plaintext
// callbacks although an AES key is set (for the minutes of switching the
// WeChat console from plain to safe mode); by default an endpoint with a
// key refuses them, because the query signature does not cover the body.
type Endpoint struct {
	AppID      string
	Token      string
	AESKey     string
	AllowPlain bool
}

// Mode is how a callback body was sent.
type Mode int

// Callback modes.
const (
	ModePlain      Mode = iota // plaintext fields only
	ModeCompatible             // plaintext fields and an Encrypt element (Encrypt is used)
	ModeSafe                   // only Encrypt (and ToUserName)
)

func (m Mode) String() string {
	switch m {
	case ModeCompatible:
		return "compatible"
	case ModeSafe:
		return "safe"
	}
	return "plain"
}

// Codec verifies, decrypts and parses the callbacks of one app and seals
// its replies: WeChat's WXBizMsgCrypt scheme (signature = SHA-1 of the
// sorted token, timestamp, nonce [and Encrypt]; AES-256-CBC with key =
// base64(EncodingAESKey+"="), IV = key[:16], PKCS#7 padding to 32 bytes over
// random(16) | len(msg) (4 bytes, big endian) | msg | appid). It holds no
// per-request state and is safe for concurrent use.
type Codec struct {
	app        model.App
	appID      string
	token      string
	block      cipher.Block // nil in plain mode
	iv         []byte
	allowPlain bool
	rand       io.Reader

	// CBC modes are reused: a new one copies the whole key schedule. The
	// IV is the same for every message, so a mode is reset with SetIV.
	encrypters, decrypters sync.Pool
	buffers                sync.Pool // *[]byte: plaintext and ciphertext scratch
}

// ivSetter is what the standard library's CBC modes implement.
type ivSetter interface{ SetIV(iv []byte) }

func (c *Codec) encrypter() cipher.BlockMode {
	if m, ok := c.encrypters.Get().(cipher.BlockMode); ok {
		m.(ivSetter).SetIV(c.iv)
		return m
	}
	return cipher.NewCBCEncrypter(c.block, c.iv)
}

func (c *Codec) decrypter() cipher.BlockMode {
	if m, ok := c.decrypters.Get().(cipher.BlockMode); ok {
		m.(ivSetter).SetIV(c.iv)
		return m
	}
	return cipher.NewCBCDecrypter(c.block, c.iv)
}

// putMode returns m to pool when it can be reset.
func putMode(pool *sync.Pool, m cipher.BlockMode) {
	if _, ok := m.(ivSetter); ok {
		pool.Put(m)
	}
}

// buffer returns a scratch buffer of length n; give it back with putBuffer.
func (c *Codec) buffer(n int) *[]byte {
	b, _ := c.buffers.Get().(*[]byte)
	if b == nil {
		b = new([]byte)
	}
	if cap(*b) < n {
		*b = make([]byte, n, max(n, 2048))
	}
	*b = (*b)[:n]
	return b
}

func (c *Codec) putBuffer(b *[]byte) {
	if cap(*b) <= 4*MaxCallbackBody {
		c.buffers.Put(b)
	}
}

// NewCodec returns the codec of app for e. A token is required; an AES key
// must be 43 base64 characters decoding to 32 bytes, and needs the app id.
func NewCodec(app model.App, e Endpoint) (*Codec, error) {
	if app != model.AppOA && app != model.AppMP {
		return nil, fmt.Errorf("wechat callback: unknown app %q", app)
	}
	if e.Token == "" {
		return nil, fmt.Errorf("wechat callback %s: token required", app)
	}
	c := &Codec{app: app, appID: e.AppID, token: e.Token, allowPlain: e.AllowPlain || e.AESKey == "", rand: rand.Reader}
	if e.AESKey == "" {
		return c, nil
	}
	if e.AppID == "" {
		return nil, fmt.Errorf("wechat callback %s: safe mode needs the app id", app)
	}
	key, err := decodeAESKey(e.AESKey)
	if err != nil {
		return nil, fmt.Errorf("wechat callback %s: %w", app, err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wechat callback %s: aes: %w", app, err)
	}
	c.block, c.iv = block, key[:aes.BlockSize]
	return c, nil
}

func decodeAESKey(s string) ([]byte, error) {
	if len(s) != 43 {
		return nil, errors.New("encoding aes key must be 43 characters")
	}
	key, err := base64.StdEncoding.DecodeString(s + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("encoding aes key must be base64 of 32 bytes")
	}
	return key, nil
}

// App is the app the codec serves.
func (c *Codec) App() model.App { return c.app }

// Safe reports whether the codec has an AES key.
func (c *Codec) Safe() bool { return c.block != nil }

// Request is a callback as the transport received it: the query
// parameters and the body.
type Request struct {
	Signature    string // signature
	MsgSignature string // msg_signature (safe and compatible modes)
	Timestamp    string
	Nonce        string
	EncryptType  string // encrypt_type ("aes" in safe and compatible modes)
	EchoStr      string // echostr (GET verification only)
	Body         []byte
}

// Signature returns WeChat's signature of parts: the hex SHA-1 of the parts
// sorted as strings and concatenated.
func Signature(parts ...string) string {
	var sum [40]byte
	signature(&sum, parts...)
	return string(sum[:])
}

// signature writes the hex signature of parts (at most 4) into dst.
func signature(dst *[40]byte, parts ...string) { sign(dst, nil, parts...) }

// sign writes into dst the hex SHA-1 of parts (at most 4 in all) and, when
// non-nil, data, sorted as strings and concatenated. The concatenation is
// built in a buffer on the stack (on the heap only for a long Encrypt)
// and hashed with sha1.Sum: no hash object, and data (an Encrypt value
// being written into a reply) is never copied into a string.
func sign(dst *[40]byte, data []byte, parts ...string) {
	var sorted [4]string
	n := copy(sorted[:], parts)
	for i := 1; i < n; i++ { // insertion sort: at most 4 strings
		for j := i; j > 0 && sorted[j] < sorted[j-1]; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	var stack [1024]byte
	buf := stack[:0]
	placed := data == nil
	for _, p := range sorted[:n] {
		if !placed && string(data) < p {
			buf, placed = append(buf, data...), true
		}
		buf = append(buf, p...)
	}
	if !placed {
		buf = append(buf, data...)
	}
	sum := sha1.Sum(buf)
	hex.Encode(dst[:], sum[:])
}

// signatureOK compares got with the signature of parts in constant time.
func signatureOK(got string, parts ...string) bool {
	var want [40]byte
	signature(&want, parts...)
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), want[:]) == 1
}

// CheckTimestamp parses the callback timestamp (Unix seconds) and checks
// that it is within window of now: ErrMalformed when it is not a number,
// ErrStale when it is too old or too far ahead.
func CheckTimestamp(ts string, now time.Time, window time.Duration) (time.Time, error) {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, malformed("timestamp is not a number")
	}
	t := time.Unix(n, 0)
	if d := now.Sub(t); d > window || d < -window {
		return t, ErrStale
	}
	return t, nil
}

// VerifyQuery checks the query signature of a POST: signature when given
// (constant time), else the request must carry msg_signature, which Open
// checks against the body. It does not look at the body.
func (c *Codec) VerifyQuery(r Request) error {
	if r.Signature != "" {
		if !signatureOK(r.Signature, c.token, r.Timestamp, r.Nonce) {
			return ErrBadSignature
		}
		return nil
	}
	if r.MsgSignature == "" {
		return ErrBadSignature
	}
	return nil
}

// Echo answers WeChat's URL verification (a GET with echostr). The
// signature, when given, must be SHA-1(token, timestamp, nonce); the
// msg_signature, when given, SHA-1(token, timestamp, nonce, echostr); one
// of them is required. The answer is echostr as sent (the Official Account
// and the Mini Program send it in plain text, in every mode) or, when a
// msg_signature came with an echostr that decrypts under this app's key
// (the WXBizMsgCrypt VerifyURL variant), its plaintext. A wrong or missing
// signature is ErrBadSignature, a missing echostr ErrMalformed.
func (c *Codec) Echo(r Request) (string, error) {
	if r.EchoStr == "" {
		return "", malformed("echostr missing")
	}
	if r.Signature == "" && r.MsgSignature == "" {
		return "", ErrBadSignature
	}
	if r.Signature != "" && !signatureOK(r.Signature, c.token, r.Timestamp, r.Nonce) {
		return "", ErrBadSignature
	}
	if r.MsgSignature == "" {
		return r.EchoStr, nil
	}
	if !signatureOK(r.MsgSignature, c.token, r.Timestamp, r.Nonce, r.EchoStr) {
		return "", ErrBadSignature
	}
	if c.block != nil {
		if plain, err := c.Decrypt(r.EchoStr); err == nil {
			return string(plain), nil
		}
	}
	return r.EchoStr, nil
}

// Opened is a verified callback: the message and how it was sent.
type Opened struct {
	Message model.InboundMessage
	Mode    Mode
	JSON    bool // the Mini Program's JSON format (else XML)
}

// Open verifies and decodes a POST body (after VerifyQuery): an Encrypt
// field (safe and compatible modes) must carry a valid msg_signature and
// decrypt for this app id, and is what is parsed; a plaintext body needs a
// valid query signature and is refused with ErrPlaintextRefused when the
// codec has an AES key (unless AllowPlain). The Official Account speaks
// XML, the Mini Program XML or JSON (told by the first byte). Errors:
// ErrCallbackTooLarge, ErrBadSignature, ErrPlaintextRefused, ErrMalformed
// (garbage, DOCTYPE or entity declarations, a missing MsgType, bad numbers,
// a ciphertext that does not decrypt or belongs to another app id).
func (c *Codec) Open(r Request) (Opened, error) {
	if len(r.Body) > MaxCallbackBody {
		return Opened{}, ErrCallbackTooLarge
	}
	isJSON, err := bodyFormat(r.Body)
	if err != nil {
		return Opened{}, err
	}
	if isJSON && c.app != model.AppMP {
		return Opened{}, malformed("the official account sends xml")
	}
	outer, encrypt, err := parseDoc(c.app, r.Body, isJSON)
	if err != nil {
		return Opened{}, err
	}
	if encrypt == "" {
		if r.EncryptType == "aes" && r.MsgSignature != "" {
			return Opened{}, malformed("encrypt_type=aes without an Encrypt field")
		}
		if r.Signature == "" {
			return Opened{}, ErrBadSignature
		}
		if !c.allowPlain {
			return Opened{}, ErrPlaintextRefused
		}
		if err := outer.validate(); err != nil {
			return Opened{}, err
		}
		return Opened{Message: outer.InboundMessage, Mode: ModePlain, JSON: isJSON}, nil
	}
	if c.block == nil {
		return Opened{}, malformed("encrypted message but no aes key configured")
	}
	if !signatureOK(r.MsgSignature, c.token, r.Timestamp, r.Nonce, encrypt) {
		return Opened{}, ErrBadSignature
	}
	buf := c.buffer(base64.StdEncoding.DecodedLen(len(encrypt)))
	defer c.putBuffer(buf) // the parser copies what it keeps
	doc, err := c.decrypt(*buf, encrypt)
	if err != nil {
		return Opened{}, err
	}
	innerJSON, err := bodyFormat(doc)
	if err != nil {
		return Opened{}, err
	}
	if innerJSON && c.app != model.AppMP {
		return Opened{}, malformed("the official account sends xml")
	}
	inner, innerEncrypt, err := parseDoc(c.app, doc, innerJSON)
	if err != nil {
		return Opened{}, err
	}
	if innerEncrypt != "" {
		return Opened{}, malformed("nested Encrypt")
	}
	if err := inner.validate(); err != nil {
		return Opened{}, err
	}
	mode := ModeSafe
	if outer.MsgType != "" {
		mode = ModeCompatible
	}
	return Opened{Message: inner.InboundMessage, Mode: mode, JSON: isJSON}, nil
}

// bodyFormat tells JSON ('{') from XML ('<') by the first non-space byte.
func bodyFormat(b []byte) (isJSON bool, err error) {
	b = bytes.TrimLeft(b, " \t\r\n\ufeff") // whitespace and a byte-order mark
	switch {
	case len(b) == 0:
		return false, malformed("empty body")
	case b[0] == '{':
		return true, nil
	case b[0] == '<':
		return false, nil
	}
	return false, malformed("neither xml nor json")
}

// Decrypt opens an Encrypt value: base64, AES-256-CBC, PKCS#7 (blocks of
// 32), the 4-byte length and the trailing app id, which must be this
// codec's. Any failure is ErrMalformed.
func (c *Codec) Decrypt(encrypt string) ([]byte, error) {
	if c.block == nil {
		return nil, malformed("no aes key")
	}
	return c.decrypt(make([]byte, base64.StdEncoding.DecodedLen(len(encrypt))), encrypt)
}

// decrypt is Decrypt into data (at least DecodedLen(len(encrypt)) long):
// the message returned is a part of data.
func (c *Codec) decrypt(data []byte, encrypt string) ([]byte, error) {
	n, err := base64.StdEncoding.Decode(data, []byte(encrypt))
	if err != nil {
		return nil, malformed("ciphertext is not base64")
	}
	data = data[:n]
	if len(data) < 2*aes.BlockSize || len(data)%aes.BlockSize != 0 {
		return nil, malformed("ciphertext length %d", len(data))
	}
	m := c.decrypter()
	m.CryptBlocks(data, data)
	putMode(&c.decrypters, m)
	pad := int(data[len(data)-1])
	if pad < 1 || pad > 32 || pad > len(data) {
		return nil, malformed("bad padding")
	}
	for _, b := range data[len(data)-pad:] {
		if int(b) != pad {
			return nil, malformed("bad padding")
		}
	}
	data = data[:len(data)-pad]
	if len(data) < 20 {
		return nil, malformed("plaintext too short")
	}
	size := binary.BigEndian.Uint32(data[16:20])
	if uint64(size) > uint64(len(data)-20) {
		return nil, malformed("bad message length")
	}
	end := 20 + int(size)
	if string(data[end:]) != c.appID {
		return nil, malformed("message for another app id")
	}
	return data[20:end:end], nil
}

// Encrypt seals msg the WeChat way for this app id and returns the base64
// Encrypt value.
func (c *Codec) Encrypt(msg []byte) (string, error) {
	if c.block == nil {
		return "", errors.New("wechat callback: encrypt: no aes key")
	}
	enc, err := c.appendEncrypt(nil, msg)
	return string(enc), err
}

// appendEncrypt appends the base64 Encrypt value of msg to dst.
func (c *Codec) appendEncrypt(dst, msg []byte) ([]byte, error) {
	size := 20 + len(msg) + len(c.appID)
	pad := 32 - size%32
	buf := c.buffer(size + pad)
	defer c.putBuffer(buf)
	plain := *buf
	if _, err := io.ReadFull(c.rand, plain[:16]); err != nil {
		return dst, fmt.Errorf("wechat callback: encrypt: random: %w", err)
	}
	binary.BigEndian.PutUint32(plain[16:20], uint32(len(msg)))
	copy(plain[20:], msg)
	copy(plain[20+len(msg):], c.appID)
	for i := size; i < len(plain); i++ {
		plain[i] = byte(pad)
	}
	m := c.encrypter()
	m.CryptBlocks(plain, plain)
	putMode(&c.encrypters, m)
	return base64.StdEncoding.AppendEncode(dst, plain), nil
}

// Seal wraps a plaintext passive reply into the safe-mode envelope:
// <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>, the signature
// being SHA-1(token, timestamp, nonce, Encrypt). The envelope is written
// in one allocation.
func (c *Codec) Seal(doc []byte, timestamp, nonce string) ([]byte, error) {
	if c.block == nil {
		return nil, errors.New("wechat callback: encrypt: no aes key")
	}
	encLen := base64.StdEncoding.EncodedLen(20 + len(doc) + len(c.appID) + 32)
	out := make([]byte, 0, encLen+len(timestamp)+len(nonce)+160)
	out = append(out, "<xml><Encrypt><![CDATA["...)
	start := len(out)
	out, err := c.appendEncrypt(out, doc)
	if err != nil {
		return nil, err
	}
	var sig [40]byte
	sign(&sig, out[start:], c.token, timestamp, nonce)
	out = append(out, "]]></Encrypt><MsgSignature><![CDATA["...)
	out = append(out, sig[:]...)
	out = append(out, "]]></MsgSignature><TimeStamp>"...)
	out = appendDigits(out, timestamp)
	out = append(out, "</TimeStamp><Nonce><![CDATA["...)
	out = appendCDATA(out, nonce)
	out = append(out, "]]></Nonce></xml>"...)
	return out, nil
}

// appendDigits appends the digits of s (anything else is dropped, so a
// timestamp can never break the document).
func appendDigits(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			dst = append(dst, s[i])
		}
	}
	return dst
}
