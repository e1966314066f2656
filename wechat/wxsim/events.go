package wxsim

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxAttempts is how often WeChat tries to push an event.
const maxAttempts = 3

// Callback is where pushed events go: the callback URL and the token and
// EncodingAESKey configured for it (an empty AESKey means plain mode).
type Callback struct {
	URL    string
	Token  string
	AESKey string
	// AppID encrypts safe-mode messages; for the Mini Program callback the
	// app that made the request is used when it is empty.
	AppID string
}

// SetMPCallback sets the Mini Program message-push URL that receives
// wxa_media_check results (JSON, encrypted when aesKey is set).
func (s *Sim) SetMPCallback(url, token, aesKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mpCallback = &Callback{URL: url, Token: token, AESKey: aesKey}
}

// SetOACallback sets the Official Account callback URL that receives
// PUBLISHJOBFINISH, MASSSENDJOBFINISH and TEMPLATESENDJOBFINISH events (XML,
// encrypted for appID when aesKey is set). Only events of appID go there.
func (s *Sim) SetOACallback(url, token, aesKey, appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oaCallback = &Callback{URL: url, Token: token, AESKey: aesKey, AppID: appID}
}

// event is an asynchronous result waiting to be completed and pushed.
type event struct {
	mp     bool
	appID  string
	openID string
	name   string // the OA event (MASSSENDJOBFINISH, …); "" for media checks
	// build completes the job (publish status, media-check result, …) and
	// returns the plaintext payload; it runs once, with s.mu held.
	build    func(now time.Time) []byte
	body     []byte
	attempts int
	timer    *time.Timer
	released bool // withheld, then pushed by PushWithheld: not withheld again
}

func (s *Sim) enqueueOA(appID, openID, name string, build func(time.Time) []byte) {
	s.enqueue(&event{appID: appID, openID: openID, name: name, build: build})
}

func (s *Sim) enqueueMP(appID, openID string, build func(time.Time) []byte) {
	s.enqueue(&event{mp: true, appID: appID, openID: openID, build: build})
}

// enqueue queues ev and, with WithAutoDeliver, arms its timer. s.mu is held.
func (s *Sim) enqueue(ev *event) {
	s.pending = append(s.pending, ev)
	s.arm(ev)
}

func (s *Sim) arm(ev *event) {
	if s.autoDelay <= 0 || s.closed {
		return
	}
	s.wg.Add(1)
	ev.timer = time.AfterFunc(s.autoDelay, func() {
		defer s.wg.Done()
		s.deliverAuto(ev)
	})
}

// disarm stops ev's timer; s.mu is held.
func (s *Sim) disarm(ev *event) {
	if ev.timer != nil && ev.timer.Stop() {
		s.wg.Done()
	}
	ev.timer = nil
}

// take removes the pending events matching match from the queue, completes
// them and returns them with the callback to use. s.mu is held.
func (s *Sim) take(match func(*event) bool) ([]*event, *Callback, *Callback) {
	var batch []*event
	rest := s.pending[:0:0]
	for _, ev := range s.pending {
		if match(ev) {
			s.disarm(ev)
			batch = append(batch, ev)
		} else {
			rest = append(rest, ev)
		}
	}
	s.pending = rest
	now := s.now()
	for _, ev := range batch {
		if ev.build != nil {
			ev.body = ev.build(now)
			ev.build = nil
		}
	}
	var oa, mp *Callback
	if s.oaCallback != nil {
		c := *s.oaCallback
		oa = &c
	}
	if s.mpCallback != nil {
		c := *s.mpCallback
		mp = &c
	}
	return batch, oa, mp
}

// FlushOAEvents completes every pending Official Account job (publishes and
// mass sends get their final status) and pushes their events, oldest first,
// to the OA callback. Without a callback, or for another app id, the events
// are dropped. A push that fails stays pending for the next flush, up to
// three attempts; the errors are joined.
func (s *Sim) FlushOAEvents(ctx context.Context) error {
	return s.flush(ctx, false)
}

// FlushMediaChecks completes every pending media check and pushes the
// wxa_media_check results to the MP callback, like FlushOAEvents.
func (s *Sim) FlushMediaChecks(ctx context.Context) error {
	return s.flush(ctx, true)
}

func (s *Sim) flush(ctx context.Context, mp bool) error {
	s.mu.Lock()
	batch, oa, mpcb := s.take(func(ev *event) bool { return ev.mp == mp })
	s.mu.Unlock()
	var errs []error
	for _, ev := range batch {
		if err := ctx.Err(); err != nil {
			s.requeue(ev)
			errs = append(errs, err)
			continue
		}
		if err := s.push(ctx, ev, oa, mpcb); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Sim) deliverAuto(ev *event) {
	s.mu.Lock()
	if !slices.Contains(s.pending, ev) {
		s.mu.Unlock()
		return
	}
	ev.timer = nil // fired: disarm must not count it again
	batch, oa, mp := s.take(func(e *event) bool { return e == ev })
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, e := range batch {
		if err := s.push(ctx, e, oa, mp); err != nil {
			s.log.Warn("wxsim: event push failed", "err", err)
		}
	}
}

// WithholdOAEvents makes the next n Official Account events named event
// ("MASSSENDJOBFINISH", "PUBLISHJOBFINISH", "TEMPLATESENDJOBFINISH") lost
// on their way: their jobs complete when they are flushed (or delivered
// automatically) — mass/get and freepublish/get answer the final status —
// but the events are not pushed to the callback. They are kept, and
// PushWithheld delivers them later, as a late event; never calling it
// models an event WeChat never sent. n <= 0 stops withholding that event.
func (s *Sim) WithholdOAEvents(event string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.withholds, event)
		return
	}
	s.withholds[event] = n
}

// Withheld returns how many withheld events wait for PushWithheld.
func (s *Sim) Withheld() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.withheld)
}

// PushWithheld pushes the withheld events, oldest first, to the OA
// callback as it is now (late), and returns the errors joined. A push that
// fails stays pending for the next flush, like any event.
func (s *Sim) PushWithheld(ctx context.Context) error {
	s.mu.Lock()
	batch := s.withheld
	s.withheld = nil
	var oa *Callback
	if s.oaCallback != nil {
		c := *s.oaCallback
		oa = &c
	}
	s.mu.Unlock()
	var errs []error
	for _, ev := range batch {
		ev.released, ev.attempts = true, 0
		if err := s.push(ctx, ev, oa, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// withhold reports whether ev is to be withheld (and keeps it); s.mu is
// not held.
func (s *Sim) withhold(ev *event) bool {
	if ev.mp || ev.released {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.withholds[ev.name]
	if n <= 0 {
		return false
	}
	if n == 1 {
		delete(s.withholds, ev.name)
	} else {
		s.withholds[ev.name] = n - 1
	}
	s.withheld = append(s.withheld, ev)
	return true
}

// push sends one completed event to its callback; a failed push is queued
// again until it has been tried maxAttempts times.
func (s *Sim) push(ctx context.Context, ev *event, oa, mp *Callback) error {
	if s.withhold(ev) {
		s.log.Info("wxsim: event withheld", "event", ev.name, "app_id", ev.appID)
		return nil
	}
	cb := oa
	if ev.mp {
		cb = mp
	}
	if cb == nil || cb.URL == "" || (!ev.mp && cb.AppID != "" && cb.AppID != ev.appID) {
		s.log.Info("wxsim: event dropped, no callback", "mp", ev.mp, "app_id", ev.appID)
		return nil
	}
	target := *cb
	if target.AppID == "" {
		target.AppID = ev.appID
	}
	ev.attempts++
	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	req, err := newCallbackRequest(ctx, target, ev.body, ev.mp, ev.openID, now)
	if err == nil {
		var resp *http.Response
		resp, err = s.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
	}
	if err != nil {
		if ev.attempts < maxAttempts {
			s.requeue(ev)
		}
		return fmt.Errorf("wxsim: push event to %s (attempt %d): %w", target.URL, ev.attempts, err)
	}
	return nil
}

func (s *Sim) requeue(ev *event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enqueue(ev)
}

// PendingEvents returns how many OA events and media checks wait for a
// flush or an automatic delivery.
func (s *Sim) PendingEvents() (oa, mediaChecks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.pending {
		if ev.mp {
			mediaChecks++
		} else {
			oa++
		}
	}
	return oa, mediaChecks
}

// newCallbackRequest builds the POST WeChat sends to a callback: the query
// signature, timestamp, nonce and openid, and in safe mode encrypt_type=aes
// and msg_signature with the payload encrypted into an XML or JSON envelope.
func newCallbackRequest(ctx context.Context, cb Callback, plaintext []byte, jsonBody bool, openID string, now time.Time) (*http.Request, error) {
	u, err := url.Parse(cb.URL)
	if err != nil {
		return nil, fmt.Errorf("callback url: %w", err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := newNonce()
	q := u.Query()
	q.Set("signature", Signature(cb.Token, ts, nonce))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	if openID != "" {
		q.Set("openid", openID)
	}
	body := plaintext
	if cb.AESKey != "" {
		enc, err := Encrypt(cb.AppID, cb.AESKey, plaintext)
		if err != nil {
			return nil, err
		}
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", Signature(cb.Token, ts, nonce, enc))
		toUser := OriginalID(cb.AppID)
		if jsonBody {
			body, err = json.Marshal(map[string]string{"ToUserName": toUser, "Encrypt": enc})
			if err != nil {
				return nil, err
			}
		} else {
			body = xmlDoc(xmlField{"ToUserName", toUser, true}, xmlField{"Encrypt", enc, true})
		}
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if jsonBody {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "text/xml")
	}
	req.Header.Set("User-Agent", "Mozilla/4.0")
	return req, nil
}

// newNonce returns a random numeric nonce like WeChat's.
func newNonce() string {
	return strconv.FormatUint(uint64(randomUint32())%9000000000+1000000000, 10)
}

// xmlField is one element of a callback document; cdata values are wrapped
// in CDATA, others escaped. Fields made by xmlRaw hold inner XML.
type xmlField struct {
	name  string
	value string
	cdata bool
}

func writeXMLField(b *strings.Builder, name, value string, cdata bool) {
	b.WriteString("<" + name + ">")
	if cdata {
		b.WriteString("<![CDATA[")
		b.WriteString(strings.ReplaceAll(value, "]]>", "]]]]><![CDATA[>"))
		b.WriteString("]]>")
	} else {
		xml.EscapeText(b2w{b}, []byte(value))
	}
	b.WriteString("</" + name + ">")
}

// b2w adapts a strings.Builder to io.Writer for xml.EscapeText.
type b2w struct{ b *strings.Builder }

func (w b2w) Write(p []byte) (int, error) { return w.b.Write(p) }

// xmlDoc renders <xml> with fields; fields made by xmlRaw are written
// verbatim.
func xmlDoc(fields ...xmlField) []byte {
	var b strings.Builder
	b.WriteString("<xml>")
	for _, f := range fields {
		if strings.HasPrefix(f.name, rawPrefix) {
			name := strings.TrimPrefix(f.name, rawPrefix)
			b.WriteString("<" + name + ">" + f.value + "</" + name + ">")
			continue
		}
		writeXMLField(&b, f.name, f.value, f.cdata)
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

const rawPrefix = "\x00raw:"

// xmlRaw is a field whose value is inner XML.
func xmlRaw(name, inner string) xmlField { return xmlField{name: rawPrefix + name, value: inner} }

// xmlInner renders fields without the <xml> wrapper, for nested elements.
func xmlInner(fields ...xmlField) string {
	doc := string(xmlDoc(fields...))
	return strings.TrimSuffix(strings.TrimPrefix(doc, "<xml>"), "</xml>")
}

// eventXML renders an event pushed to the Official Account callback.
func eventXML(toUser, fromUser string, now time.Time, event string, fields ...xmlField) []byte {
	head := []xmlField{
		{"ToUserName", toUser, true},
		{"FromUserName", fromUser, true},
		{"CreateTime", strconv.FormatInt(now.Unix(), 10), false},
		{"MsgType", "event", true},
		{"Event", event, true},
	}
	return xmlDoc(append(head, fields...)...)
}

// systemOpenID is the FromUserName of system events (publish, mass) of an app.
func systemOpenID(appID string) string { return derivedOpenID(appID, "system") }
