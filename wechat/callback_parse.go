package wechat

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"wanjia/model"
)

// Parser limits, well above anything WeChat sends.
const (
	maxXMLDepth    = 8    // <xml><PublishEventInfo><article_detail><item><article_url> is 5
	maxXMLElements = 4096 // elements in one document
	maxListEntries = 200  // subscribe-event entries, article URLs
)

// ParseOA decodes a plaintext Official Account callback (XML) into a
// message. A document that is not well-formed, has a DOCTYPE or entity
// declarations, a root other than <xml>, no MsgType, no CreateTime or bad
// numbers is ErrMalformed; it never panics. Encrypted envelopes are opened
// with Codec.Open, which calls the same parser.
func ParseOA(doc []byte) (model.InboundMessage, error) {
	return parsePlain(model.AppOA, doc, false)
}

// ParseMP decodes a plaintext Mini Program message push, JSON or XML
// (told by the first byte), like ParseOA. In JSON, numbers may come as
// strings and the subscribe-message List as an object or an array.
func ParseMP(doc []byte) (model.InboundMessage, error) {
	isJSON, err := bodyFormat(doc)
	if err != nil {
		return model.InboundMessage{}, err
	}
	return parsePlain(model.AppMP, doc, isJSON)
}

func parsePlain(app model.App, doc []byte, isJSON bool) (model.InboundMessage, error) {
	if len(doc) > MaxCallbackBody {
		return model.InboundMessage{}, ErrCallbackTooLarge
	}
	if !isJSON {
		if _, err := bodyFormat(doc); err != nil {
			return model.InboundMessage{}, err
		}
	}
	p, _, err := parseDoc(app, doc, isJSON)
	if err != nil {
		return model.InboundMessage{}, err
	}
	if err := p.validate(); err != nil {
		return model.InboundMessage{}, err
	}
	return p.InboundMessage, nil
}

// parsed is a decoded document before validation.
type parsed struct {
	model.InboundMessage
	recognition string
	isRisky     int
	hasRisky    bool
}

// validate checks what every callback carries and fills the derived
// fields.
func (p *parsed) validate() error {
	switch {
	case p.MsgType == "":
		return malformed("MsgType missing")
	case p.CreateTime.IsZero():
		return malformed("CreateTime missing")
	case p.FromUser == "" && p.MsgType != "event":
		return malformed("FromUserName missing")
	}
	if p.Content == "" && p.recognition != "" {
		p.Content = p.recognition
	}
	if p.Event == "wxa_media_check" && p.Suggest == "" && p.hasRisky {
		p.Suggest = "pass"
		if p.isRisky != 0 {
			p.Suggest = "risky"
		}
	}
	if p.MsgType == "event" {
		p.MsgID = "" // events are deduplicated by their own keys
	}
	return nil
}

// parseDoc decodes an XML or JSON document and returns it with the value
// of its top-level Encrypt field ("" when there is none).
func parseDoc(app model.App, doc []byte, isJSON bool) (parsed, string, error) {
	if isJSON {
		return parseJSON(app, doc)
	}
	return parseXML(app, doc)
}

// --- XML ---

// parseXML decodes a WeChat XML document: a root <xml> whose children are
// text fields, plus a few known nested containers. The common shape
// (elements holding text or CDATA, whitespace between them) is read by a
// small scanner; anything else — comments, processing instructions,
// directives, entity references, attributes, carriage returns, characters
// XML forbids, and every error — goes to the encoding/xml walker, which
// decides. Both feed the same walker, so they agree by construction
// (FuzzFastXML checks it).
func parseXML(app model.App, doc []byte) (parsed, string, error) {
	w := walker{p: parsed{InboundMessage: model.InboundMessage{App: app}}}
	buf := textBuffers.Get().(*[]byte)
	w.text = (*buf)[:0] // every value kept is copied out of it
	ok := fastXML(doc, &w)
	if cap(w.text) <= MaxCallbackBody {
		*buf = w.text[:0]
		textBuffers.Put(buf)
	}
	if ok {
		return w.p, w.encrypt, nil
	}
	return slowXML(app, doc)
}

// walker builds a message from element events: start, character data,
// end. It checks nesting, depth, element count and the single root.
type walker struct {
	p        parsed
	encrypt  string
	stack    [maxXMLDepth]string
	depth    int
	elements int
	text     []byte
	done     bool
}

func (w *walker) start(name string) error {
	switch {
	case w.done:
		return malformed("content after the root element")
	case w.depth == 0 && name != "xml":
		return malformed("root element must be <xml>")
	case w.depth == maxXMLDepth:
		return malformed("nested too deep")
	}
	if w.elements++; w.elements > maxXMLElements {
		return malformed("too many elements")
	}
	w.stack[w.depth] = name
	w.depth++
	w.text = w.text[:0]
	return w.p.startXML(w.stack[:w.depth])
}

func (w *walker) chars(b []byte) error {
	if w.depth == 0 {
		if len(bytes.TrimSpace(b)) != 0 {
			return malformed("text outside the root element")
		}
		return nil
	}
	w.text = append(w.text, b...)
	return nil
}

func (w *walker) end(name string) error {
	if w.depth == 0 || w.stack[w.depth-1] != name {
		return malformed("mismatched end tag")
	}
	if w.depth == 2 && name == "Encrypt" {
		w.encrypt = strings.TrimSpace(string(w.text))
	} else if err := w.p.setXML(w.stack[:w.depth], w.text); err != nil {
		return err
	}
	w.depth--
	w.text = w.text[:0]
	if w.depth == 0 {
		w.done = true
	}
	return nil
}

// slowXML walks the raw tokens of encoding/xml (no reflection) in strict
// mode, which knows only the five predefined entities and numeric
// references and refuses characters XML forbids; it refuses directives
// (DOCTYPE, ENTITY), namespaces and anything after the root.
func slowXML(app model.App, doc []byte) (parsed, string, error) {
	w := walker{p: parsed{InboundMessage: model.InboundMessage{App: app}}, text: make([]byte, 0, 256)}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return w.p, "", malformed("xml syntax")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space != "" {
				return w.p, "", malformed("namespaced element")
			}
			err = w.start(t.Name.Local)
		case xml.EndElement:
			if t.Name.Space != "" {
				return w.p, "", malformed("mismatched end tag")
			}
			err = w.end(t.Name.Local)
		case xml.CharData:
			err = w.chars(t)
		case xml.Directive:
			err = malformed("directives (DOCTYPE, ENTITY) are refused")
		case xml.ProcInst:
			if w.depth != 0 || w.done || t.Target != "xml" {
				err = malformed("processing instruction")
			}
		case xml.Comment:
		}
		if err != nil {
			return w.p, "", err
		}
	}
	if !w.done {
		return w.p, "", malformed("no complete root element")
	}
	return w.p, w.encrypt, nil
}

// fastXML reads the common shape of WeChat's documents into w and reports
// whether it could; on false, w is to be thrown away.
func fastXML(doc []byte, w *walker) bool {
	i := skipSpace(doc, 0)
	for {
		// Character data up to the next markup.
		j := i
		for j < len(doc) && doc[j] != '<' {
			j++
		}
		if j == len(doc) {
			return false
		}
		if j > i {
			if !plainText(doc[i:j]) || w.chars(doc[i:j]) != nil {
				return false
			}
		}
		i = j
		rest := doc[i:]
		switch {
		case bytes.HasPrefix(rest, cdataOpen):
			k := bytes.Index(rest[len(cdataOpen):], cdataClose)
			if k < 0 {
				return false
			}
			data := rest[len(cdataOpen) : len(cdataOpen)+k]
			if w.depth == 0 || !xmlText(data) || w.chars(data) != nil {
				return false
			}
			i += len(cdataOpen) + k + len(cdataClose)
		case len(rest) > 1 && rest[1] == '/':
			n := nameLen(rest[2:])
			if n == 0 || len(rest) < 2+n+1 || rest[2+n] != '>' || w.end(elementName(rest[2:2+n])) != nil {
				return false
			}
			i += 2 + n + 1
			if w.depth == 0 {
				return skipSpace(doc, i) == len(doc)
			}
		default:
			n := nameLen(rest[1:])
			if n == 0 || len(rest) < 1+n+1 || rest[1+n] != '>' || w.start(elementName(rest[1:1+n])) != nil {
				return false
			}
			i += 1 + n + 1
		}
	}
}

// textBuffers hold the walker's text between documents.
var textBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// elementNames are the names of WeChat's elements, so that reading one
// allocates no string (elementName).
var elementNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"xml", "Encrypt", "ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "MsgID",
		"Content", "Recognition", "PicUrl", "ThumbUrl", "MediaId", "ThumbMediaId", "Format", "Title", "Description",
		"Url", "PagePath", "AppId", "Location_X", "Location_Y", "Latitude", "Longitude", "Precision", "Scale", "Label",
		"Event", "EventKey", "SessionFrom", "Ticket", "Status", "TotalCount", "FilterCount", "SentCount", "ErrorCount",
		"trace_id", "isrisky", "version", "result", "suggest", "label", "detail", "errcode", "strategy", "prob",
		"PublishEventInfo", "publish_id", "publish_status", "article_id", "article_detail", "count", "item", "idx",
		"article_url", "fail_idx", "CopyrightCheckResult", "ArticleUrlResult", "ResultList", "ArticleIdx", "ArticleUrl",
		"SubscribeMsgPopupEvent", "SubscribeMsgChangeEvent", "SubscribeMsgSentEvent", "List", "TemplateId",
		"SubscribeStatusString", "ErrorStatus", "PopupScene", "ErrorCode"} {
		m[n] = n
	}
	return m
}()

// elementName is b as a string, without allocating for a known name.
func elementName(b []byte) string {
	if s, ok := elementNames[string(b)]; ok {
		return s
	}
	return string(b)
}

var (
	cdataOpen  = []byte("<![CDATA[")
	cdataClose = []byte("]]>")
)

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n') {
		i++
	}
	return i
}

// nameLen is the length of the element name at the start of b: ASCII
// letters, digits and '_', not starting with a digit (every WeChat name);
// 0 for anything else.
func nameLen(b []byte) int {
	n := 0
	for n < len(b) {
		c := b[n]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || n > 0 && c >= '0' && c <= '9' {
			n++
			continue
		}
		break
	}
	return n
}

// plainText reports whether b is character data the fast path may take
// as it is: XML text without references or "]]>".
func plainText(b []byte) bool {
	return bytes.IndexByte(b, '&') < 0 && !bytes.Contains(b, cdataClose) && xmlText(b)
}

// xmlText reports whether b is valid UTF-8 made of XML characters, with no
// carriage return (encoding/xml would normalise it).
func xmlText(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += size
	}
	return true
}

// subscribeContainers are the elements whose <List> children are
// subscribe-message entries.
func isSubscribeContainer(name string) bool {
	switch name {
	case "SubscribeMsgPopupEvent", "SubscribeMsgChangeEvent", "SubscribeMsgSentEvent":
		return true
	}
	return false
}

// startXML opens list entries for container elements.
func (p *parsed) startXML(path []string) error {
	if len(path) == 3 && isSubscribeContainer(path[1]) && path[2] == "List" {
		if len(p.SubscribeEvents) == maxListEntries {
			return malformed("too many subscribe entries")
		}
		p.SubscribeEvents = append(p.SubscribeEvents, model.SubscribeEvent{})
	}
	return nil
}

// setXML assigns the text of the element at path.
func (p *parsed) setXML(path []string, raw []byte) error {
	switch len(path) {
	case 2:
		return p.setField(path[1], string(raw))
	case 3:
		v := string(raw)
		switch path[1] {
		case "PublishEventInfo":
			switch path[2] {
			case "publish_id":
				p.PublishID = strings.TrimSpace(v)
			case "publish_status":
				return setInt(&p.PublishStatus, v, "publish_status")
			case "article_id":
				p.ArticleID = strings.TrimSpace(v)
			}
		case "result":
			switch path[2] {
			case "suggest":
				p.Suggest = strings.TrimSpace(v)
			case "label":
				return setInt(&p.CheckLabel, v, "label")
			}
		}
	case 4:
		if isSubscribeContainer(path[1]) && path[2] == "List" && len(p.SubscribeEvents) > 0 {
			return setSubscribe(&p.SubscribeEvents[len(p.SubscribeEvents)-1], path[3], string(raw))
		}
	case 5:
		if (path[1] == "PublishEventInfo" && path[2] == "article_detail" && path[3] == "item" && path[4] == "article_url") ||
			(path[1] == "ArticleUrlResult" && path[2] == "ResultList" && path[3] == "item" && path[4] == "ArticleUrl") {
			if len(p.ArticleURLs) == maxListEntries {
				return malformed("too many article urls")
			}
			p.ArticleURLs = append(p.ArticleURLs, strings.TrimSpace(string(raw)))
		}
	}
	return nil
}

// setField assigns a top-level field, named as in WeChat's XML and JSON.
func (p *parsed) setField(name, v string) error {
	switch name {
	case "ToUserName":
		p.ToUser = v
	case "FromUserName":
		p.FromUser = v
	case "CreateTime":
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 {
			return malformed("CreateTime is not a positive number")
		}
		p.CreateTime = time.Unix(n, 0).UTC()
	case "MsgType":
		p.MsgType = strings.TrimSpace(v)
	case "MsgId":
		p.MsgID = strings.TrimSpace(v)
	case "Content":
		p.Content = v
	case "Recognition":
		p.recognition = v
	case "PicUrl", "ThumbUrl":
		p.PicURL = v
	case "MediaId":
		p.MediaID = v
	case "ThumbMediaId":
		if p.MediaID == "" {
			p.MediaID = v
		}
	case "Title":
		p.Title = v
	case "Url", "PagePath":
		p.URL = v
	case "Location_X", "Latitude":
		return setFloat(&p.Latitude, v, name)
	case "Location_Y", "Longitude":
		return setFloat(&p.Longitude, v, name)
	case "Label":
		p.Label = v
	case "Event":
		p.Event = strings.TrimSpace(v)
	case "EventKey", "SessionFrom":
		p.EventKey = v
	case "Ticket":
		p.Ticket = v
	case "MsgID":
		p.ResultMsgID = strings.TrimSpace(v)
	case "Status":
		p.Status = v
	case "TotalCount":
		return setInt(&p.TotalCount, v, name)
	case "FilterCount":
		return setInt(&p.FilterCount, v, name)
	case "SentCount":
		return setInt(&p.SentCount, v, name)
	case "ErrorCount":
		return setInt(&p.ErrorCount, v, name)
	case "trace_id":
		p.TraceID = strings.TrimSpace(v)
	case "isrisky":
		p.hasRisky = true
		return setInt(&p.isRisky, v, name)
	}
	return nil
}

func setSubscribe(e *model.SubscribeEvent, name, v string) error {
	switch name {
	case "TemplateId":
		e.TemplateID = strings.TrimSpace(v)
	case "SubscribeStatusString", "ErrorStatus":
		e.Status = strings.TrimSpace(v)
	case "PopupScene":
		e.PopupScene = strings.TrimSpace(v)
	case "MsgID":
		e.MsgID = strings.TrimSpace(v)
	case "ErrorCode":
		return setInt(&e.ErrorCode, v, name)
	}
	return nil
}

// setInt parses an optional integer field (empty is 0).
func setInt(dst *int, v, name string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return malformed("%s is not a number", name)
	}
	*dst = n
	return nil
}

// setFloat parses an optional number field (empty is 0).
func setFloat(dst *float64, v, name string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return malformed("%s is not a number", name)
	}
	*dst = f
	return nil
}

// --- JSON (Mini Program) ---

// flex is a JSON scalar that WeChat sends as a string or a number
// (CreateTime, MsgId, PopupScene, ErrorCode …): its text.
type flex string

func (f *flex) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flex(s)
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		*f = flex(b)
	case string(b) == "true":
		*f = "1"
	case string(b) == "false":
		*f = "0"
	default:
		return errors.New("want a string or a number")
	}
	return nil
}

// mpJSON is the union of the Mini Program's JSON pushes.
type mpJSON struct {
	ToUserName   string          `json:"ToUserName"`
	FromUserName string          `json:"FromUserName"`
	CreateTime   flex            `json:"CreateTime"`
	MsgType      string          `json:"MsgType"`
	MsgID        flex            `json:"MsgId"`
	Content      string          `json:"Content"`
	PicURL       string          `json:"PicUrl"`
	MediaID      string          `json:"MediaId"`
	Title        string          `json:"Title"`
	PagePath     string          `json:"PagePath"`
	ThumbURL     string          `json:"ThumbUrl"`
	ThumbMediaID string          `json:"ThumbMediaId"`
	Event        string          `json:"Event"`
	EventKey     string          `json:"EventKey"`
	SessionFrom  string          `json:"SessionFrom"`
	Encrypt      string          `json:"Encrypt"`
	List         json.RawMessage `json:"List"`
	TraceID      string          `json:"trace_id"`
	IsRisky      *flex           `json:"isrisky"`
	Result       *struct {
		Suggest string `json:"suggest"`
		Label   flex   `json:"label"`
	} `json:"result"`
}

type mpListEntry struct {
	TemplateID            string `json:"TemplateId"`
	SubscribeStatusString string `json:"SubscribeStatusString"`
	PopupScene            flex   `json:"PopupScene"`
	MsgID                 flex   `json:"MsgID"`
	ErrorCode             flex   `json:"ErrorCode"`
	ErrorStatus           string `json:"ErrorStatus"`
}

func parseJSON(app model.App, doc []byte) (parsed, string, error) {
	p := parsed{InboundMessage: model.InboundMessage{App: app}}
	var j mpJSON
	if err := json.Unmarshal(doc, &j); err != nil {
		return p, "", malformed("json syntax")
	}
	fields := []struct{ name, v string }{
		{"ToUserName", j.ToUserName}, {"FromUserName", j.FromUserName}, {"MsgType", j.MsgType},
		{"MsgId", string(j.MsgID)}, {"Content", j.Content}, {"PicUrl", j.PicURL}, {"ThumbUrl", j.ThumbURL},
		{"MediaId", j.MediaID}, {"ThumbMediaId", j.ThumbMediaID}, {"Title", j.Title}, {"PagePath", j.PagePath},
		{"Event", j.Event}, {"EventKey", j.EventKey}, {"trace_id", j.TraceID},
	}
	for _, f := range fields {
		if f.v != "" {
			if err := p.setField(f.name, f.v); err != nil {
				return p, "", err
			}
		}
	}
	if j.SessionFrom != "" && p.EventKey == "" {
		p.EventKey = j.SessionFrom
	}
	if j.CreateTime != "" {
		if err := p.setField("CreateTime", string(j.CreateTime)); err != nil {
			return p, "", err
		}
	}
	if j.IsRisky != nil {
		if err := p.setField("isrisky", string(*j.IsRisky)); err != nil {
			return p, "", err
		}
	}
	if j.Result != nil {
		p.Suggest = strings.TrimSpace(j.Result.Suggest)
		if err := setInt(&p.CheckLabel, string(j.Result.Label), "label"); err != nil {
			return p, "", err
		}
	}
	entries, err := parseList(j.List)
	if err != nil {
		return p, "", err
	}
	for _, e := range entries {
		ev := model.SubscribeEvent{
			TemplateID: strings.TrimSpace(e.TemplateID), Status: strings.TrimSpace(e.SubscribeStatusString),
			PopupScene: strings.TrimSpace(string(e.PopupScene)), MsgID: strings.TrimSpace(string(e.MsgID)),
		}
		if e.ErrorStatus != "" {
			ev.Status = strings.TrimSpace(e.ErrorStatus)
		}
		if err := setInt(&ev.ErrorCode, string(e.ErrorCode), "ErrorCode"); err != nil {
			return p, "", err
		}
		p.SubscribeEvents = append(p.SubscribeEvents, ev)
	}
	return p, strings.TrimSpace(j.Encrypt), nil
}

// parseList decodes the subscribe-message List: one object for a single
// template, an array for several (the Mini Program does both).
func parseList(raw json.RawMessage) ([]mpListEntry, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil
	case raw[0] == '{':
		var e mpListEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, malformed("List entry")
		}
		return []mpListEntry{e}, nil
	case raw[0] == '[':
		var es []mpListEntry
		if err := json.Unmarshal(raw, &es); err != nil {
			return nil, malformed("List entries")
		}
		if len(es) > maxListEntries {
			return nil, malformed("too many subscribe entries")
		}
		return es, nil
	}
	return nil, malformed("List is neither an object nor an array")
}
