package wxsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxReply bounds the reply a Sender reads.
const maxReply = 1 << 20

// Sender acts as WeChat towards an Official Account callback (such as
// wanjia's /wechat/oa/callback): it signs, encrypts (when AESKey is set) and
// posts user messages and events, and checks, decrypts and parses the
// passive replies. Fields are read on every call; a Sender may be used
// concurrently if they are not changed.
type Sender struct {
	URL    string // callback URL
	Token  string // the callback token
	AESKey string // EncodingAESKey; empty means plain mode
	AppID  string // the Official Account's app id (safe mode)
	HTTP   *http.Client
	Now    func() time.Time
}

// OAMessage is a message or event a user sends the Official Account.
type OAMessage struct {
	ToUserName   string    // default OriginalID(AppID)
	FromUserName string    // the user's openid (required)
	CreateTime   time.Time // default Now()
	MsgType      string    // text, image, voice, location, link, event
	Content      string    // text
	MsgID        int64     // messages; default a random id (events have none)
	PicURL       string    // image
	MediaID      string    // image, voice
	Event        string    // subscribe, unsubscribe, SCAN, CLICK, VIEW, …
	EventKey     string    // qrscene_…, the scene, the menu key or URL
	Ticket       string    // QR-code ticket (subscribe via QR, SCAN)
	MenuID       string    // VIEW
}

// TextMessage returns a text message from openID.
func TextMessage(openID, content string) OAMessage {
	return OAMessage{FromUserName: openID, MsgType: "text", Content: content}
}

// EventMessage returns an event from openID.
func EventMessage(openID, event, key string) OAMessage {
	return OAMessage{FromUserName: openID, MsgType: "event", Event: event, EventKey: key}
}

// XML renders the message as WeChat posts it (before encryption).
func (m OAMessage) XML() []byte {
	fields := []xmlField{
		{"ToUserName", m.ToUserName, true},
		{"FromUserName", m.FromUserName, true},
		{"CreateTime", strconv.FormatInt(m.CreateTime.Unix(), 10), false},
		{"MsgType", m.MsgType, true},
	}
	opt := func(name, value string) {
		if value != "" {
			fields = append(fields, xmlField{name, value, true})
		}
	}
	if m.MsgType == "event" {
		opt("Event", m.Event)
		if m.EventKey != "" || m.Event == "subscribe" || m.Event == "unsubscribe" {
			fields = append(fields, xmlField{"EventKey", m.EventKey, true})
		}
		opt("Ticket", m.Ticket)
		opt("MenuId", m.MenuID)
		return xmlDoc(fields...)
	}
	opt("Content", m.Content)
	opt("PicUrl", m.PicURL)
	opt("MediaId", m.MediaID)
	fields = append(fields, xmlField{"MsgId", strconv.FormatInt(m.MsgID, 10), false})
	return xmlDoc(fields...)
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) client() *http.Client {
	if s.HTTP != nil {
		return s.HTTP
	}
	return http.DefaultClient
}

// Send posts msg to the callback and returns the parsed passive reply (nil
// when the server answered "success", an empty body or, in safe mode, an
// encrypted empty message) and the raw response body. Defaults fill
// ToUserName, CreateTime and MsgID. It fails on a non-200 status, a reply
// whose signature or encryption does not check out, a plaintext reply in
// safe mode, a malformed reply (ErrBadReply) or one not addressed to the
// sender.
func (s *Sender) Send(ctx context.Context, msg OAMessage) (reply *Reply, raw []byte, err error) {
	if msg.FromUserName == "" {
		return nil, nil, errors.New("wxsim: send: FromUserName (openid) is required")
	}
	if msg.ToUserName == "" {
		msg.ToUserName = OriginalID(s.AppID)
	}
	if msg.CreateTime.IsZero() {
		msg.CreateTime = s.now()
	}
	if msg.MsgType != "event" && msg.MsgID == 0 {
		msg.MsgID = int64(randomUint32())<<20 | int64(randomUint32()&0xfffff)
	}
	raw, err = s.post(ctx, msg.XML(), msg.FromUserName)
	if err != nil {
		return nil, raw, err
	}
	doc := raw
	if s.AESKey != "" && !isNoReply(raw) {
		if doc, err = OpenReply(s.Token, s.AppID, s.AESKey, raw); err != nil {
			return nil, raw, fmt.Errorf("wxsim: send: %w", err)
		}
	}
	if isNoReply(doc) {
		return nil, raw, nil
	}
	reply, err = ParseReply(doc)
	if err != nil {
		return nil, raw, fmt.Errorf("wxsim: send: %w", err)
	}
	if reply.ToUserName != msg.FromUserName || reply.FromUserName != msg.ToUserName {
		return nil, raw, fmt.Errorf("wxsim: send: %w: reply from %q to %q, want from %q to %q",
			ErrBadReply, reply.FromUserName, reply.ToUserName, msg.ToUserName, msg.FromUserName)
	}
	return reply, raw, nil
}

// SendXML posts a plaintext callback document (encrypting it in safe mode)
// and returns the raw response body, without interpreting it.
func (s *Sender) SendXML(ctx context.Context, doc []byte, openID string) ([]byte, error) {
	return s.post(ctx, doc, openID)
}

func (s *Sender) post(ctx context.Context, doc []byte, openID string) ([]byte, error) {
	cb := Callback{URL: s.URL, Token: s.Token, AESKey: s.AESKey, AppID: s.AppID}
	req, err := newCallbackRequest(ctx, cb, doc, false, openID, s.now())
	if err != nil {
		return nil, fmt.Errorf("wxsim: send: %w", err)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("wxsim: send: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, fmt.Errorf("wxsim: send: read reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("wxsim: send: status %d", resp.StatusCode)
	}
	return body, nil
}

// Verify performs WeChat's URL verification: a GET with signature,
// timestamp, nonce and echostr that must echo echostr exactly; in safe mode
// a second GET that also carries encrypt_type=aes and msg_signature. It also
// checks that a GET with a wrong signature is not echoed.
func (s *Sender) Verify(ctx context.Context) error {
	echo := "echo" + newNonce()
	if err := s.verifyOnce(ctx, echo, s.Token, false); err != nil {
		return err
	}
	if s.AESKey != "" {
		if err := s.verifyOnce(ctx, echo+"s", s.Token, true); err != nil {
			return err
		}
	}
	body, err := s.verifyGet(ctx, echo+"x", s.Token+"-wrong", false)
	if err != nil {
		return err
	}
	if string(body) == echo+"x" {
		return errors.New("wxsim: verify: the server echoed a request with a wrong signature")
	}
	return nil
}

func (s *Sender) verifyOnce(ctx context.Context, echo, token string, safe bool) error {
	body, err := s.verifyGet(ctx, echo, token, safe)
	if err != nil {
		return err
	}
	if string(body) != echo {
		return fmt.Errorf("wxsim: verify: server answered %q, want the echostr %q", truncate(string(body), 80), echo)
	}
	return nil
}

// verifyGet sends one verification GET and returns the body; non-200
// statuses are returned as a body, not an error, so a rejected request
// (401, 403) is a valid answer to the wrong-signature probe.
func (s *Sender) verifyGet(ctx context.Context, echo, token string, safe bool) ([]byte, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("wxsim: verify: %w", err)
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	nonce := newNonce()
	q := u.Query()
	q.Set("signature", Signature(token, ts, nonce))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	q.Set("echostr", echo)
	if safe {
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", Signature(token, ts, nonce, echo))
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("wxsim: verify: %w", err)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("wxsim: verify: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, fmt.Errorf("wxsim: verify: %w", err)
	}
	if resp.StatusCode != http.StatusOK && token == s.Token {
		return nil, fmt.Errorf("wxsim: verify: status %d", resp.StatusCode)
	}
	return body, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
