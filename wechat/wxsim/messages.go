package wxsim

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MessageKind names a kind of sent message.
type MessageKind string

// The kinds of messages Sent reports.
const (
	KindSubscribe MessageKind = "subscribe" // Mini Program subscribe message
	KindTemplate  MessageKind = "template"  // Official Account template message
	KindCustom    MessageKind = "custom"    // customer-service message
	KindMass      MessageKind = "mass"      // mass send (sendall or send)
)

// SentMessage is one message the simulator accepted.
type SentMessage struct {
	Kind       MessageKind
	AppID      string
	ToUser     string // openid; empty for a mass send to a tag or to all
	TemplateID string // subscribe, template
	// Page is the subscribe page, or the template's Mini Program page path.
	Page string
	URL  string // template url
	// Data holds the template/subscribe values by key.
	Data    map[string]string
	MsgType string // custom, mass: text, image, mpnews, …
	Content string // text content (custom, mass)
	MediaID string // media id of image/voice/mpnews messages
	// Mass sends: the filter and the recipients.
	ToAll       bool
	TagID       int64
	ToUsers     []string // mass/send by openid
	ClientMsgID string
	MsgID       int64 // msgid / msg_id answered
	MsgDataID   int64 // msg_data_id answered (mpnews mass sends)
	Body        []byte
	At          time.Time
}

// Sent returns the messages of kind the simulator accepted, oldest first,
// or all messages when kind is "". The simulator keeps at least the last
// 10000 messages.
func (s *Sim) Sent(kind MessageKind) []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SentMessage
	for _, m := range s.sent {
		if kind == "" || m.Kind == kind {
			m.Data = maps.Clone(m.Data)
			m.ToUsers = slices.Clone(m.ToUsers)
			m.Body = slices.Clone(m.Body)
			out = append(out, m)
		}
	}
	return out
}

// RefuseFor makes subscribe and template sends to openid answer 43101 (the
// user refused or has no authorisation left), for the given template ids or
// for every template when none is given. Reset clears it.
func (s *Sim) RefuseFor(openID string, templateIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[openID] = slices.Clone(templateIDs)
}

// AddTemplate registers a subscribe or template message template of appID
// with its data keys (such as "thing1", "time2"). Once an app has templates,
// sends with another template id answer 40037 and sends missing a key
// answer 47003; apps without registered templates accept any id.
func (s *Sim) AddTemplate(appID, templateID string, keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.templates[appID] == nil {
		s.templates[appID] = map[string][]string{}
	}
	s.templates[appID][templateID] = slices.Clone(keys)
}

func (s *Sim) refuses(openID, templateID string) bool {
	ids, ok := s.refused[openID]
	return ok && (len(ids) == 0 || slices.Contains(ids, templateID))
}

// checkTemplate validates the template id and, for registered templates, the
// data keys.
func (s *Sim) checkTemplate(appID, templateID string, data map[string]string) *apiError {
	if templateID == "" {
		return errCode(40037)
	}
	tpls := s.templates[appID]
	if len(tpls) == 0 {
		return nil
	}
	keys, ok := tpls[templateID]
	if !ok {
		return errCode(40037)
	}
	for _, k := range keys {
		if strings.TrimSpace(data[k]) == "" {
			return &apiError{code: 47003, msg: fmt.Sprintf("argument invalid! data.%s.value is empty", k)}
		}
	}
	return nil
}

// subscribeLimits are the value limits of subscribe-message keys by prefix.
var subscribeLimits = []struct {
	prefix string
	max    int
}{
	{"thing", 20}, {"character_string", 32}, {"phrase", 5}, {"name", 10}, {"number", 32}, {"letter", 32}, {"symbol", 5}, {"car_number", 8},
}

func checkSubscribeValues(data map[string]string) *apiError {
	for _, k := range slices.Sorted(maps.Keys(data)) {
		for _, l := range subscribeLimits {
			if strings.HasPrefix(k, l.prefix) && utf8.RuneCountInString(data[k]) > l.max {
				return &apiError{code: 47003, msg: fmt.Sprintf("argument invalid! data.%s.value exceeds the length limit", k)}
			}
		}
	}
	return nil
}

// dataValues flattens {"key":{"value":…}} into key → value text; values may
// be strings or numbers.
func dataValues(raw map[string]struct {
	Value any `json:"value"`
}) map[string]string {
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch x := v.Value.(type) {
		case nil:
			out[k] = ""
		case string:
			out[k] = x
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// handleSubscribeSend serves POST /cgi-bin/message/subscribe/send.
func (s *Sim) handleSubscribeSend(rq *request) any {
	var in struct {
		ToUser           string `json:"touser"`
		TemplateID       string `json:"template_id"`
		Page             string `json:"page"`
		MiniprogramState string `json:"miniprogram_state"`
		Lang             string `json:"lang"`
		Data             map[string]struct {
			Value any `json:"value"`
		} `json:"data"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	if _, ok := s.userOf(rq.app, in.ToUser); !ok {
		return errCode(40003)
	}
	data := dataValues(in.Data)
	if apiErr := s.checkTemplate(rq.app.id, in.TemplateID, data); apiErr != nil {
		return apiErr
	}
	if apiErr := checkSubscribeValues(data); apiErr != nil {
		return apiErr
	}
	switch in.MiniprogramState {
	case "", "developer", "trial", "formal":
	default:
		return errCodef(40097, "(invalid miniprogram_state)")
	}
	if strings.HasPrefix(in.Page, "/") {
		return errCode(41030)
	}
	if s.refuses(in.ToUser, in.TemplateID) {
		return errCode(43101)
	}
	id := s.nextID()
	s.record(SentMessage{
		Kind: KindSubscribe, AppID: rq.app.id, ToUser: in.ToUser, TemplateID: in.TemplateID,
		Page: in.Page, Data: data, MsgID: id, Body: rq.body, At: rq.now,
	})
	return map[string]any{"errcode": 0, "errmsg": "ok", "msgid": id}
}

// handleTemplateSend serves POST /cgi-bin/message/template/send and queues a
// TEMPLATESENDJOBFINISH event.
func (s *Sim) handleTemplateSend(rq *request) any {
	var in struct {
		ToUser      string `json:"touser"`
		TemplateID  string `json:"template_id"`
		URL         string `json:"url"`
		ClientMsgID string `json:"client_msg_id"`
		MiniProgram struct {
			AppID    string `json:"appid"`
			PagePath string `json:"pagepath"`
		} `json:"miniprogram"`
		Data map[string]struct {
			Value any `json:"value"`
		} `json:"data"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	if _, ok := s.userOf(rq.app, in.ToUser); !ok {
		return errCode(40003)
	}
	data := dataValues(in.Data)
	if apiErr := s.checkTemplate(rq.app.id, in.TemplateID, data); apiErr != nil {
		return apiErr
	}
	if s.refuses(in.ToUser, in.TemplateID) {
		return errCode(43101)
	}
	if in.ClientMsgID != "" {
		key := rq.app.id + "\x00template\x00" + in.ClientMsgID
		if id, dup := s.clientMsgIDs[key]; dup {
			return map[string]any{"errcode": 0, "errmsg": "ok", "msgid": id}
		}
	}
	id := s.nextID()
	if in.ClientMsgID != "" {
		s.clientMsgIDs[rq.app.id+"\x00template\x00"+in.ClientMsgID] = id
	}
	s.record(SentMessage{
		Kind: KindTemplate, AppID: rq.app.id, ToUser: in.ToUser, TemplateID: in.TemplateID,
		Page: in.MiniProgram.PagePath, URL: in.URL, Data: data, ClientMsgID: in.ClientMsgID,
		MsgID: id, Body: rq.body, At: rq.now,
	})
	a, openID := rq.app, in.ToUser
	s.enqueueOA(a.id, openID, "TEMPLATESENDJOBFINISH", func(now time.Time) []byte {
		return eventXML(a.originalID, openID, now, "TEMPLATESENDJOBFINISH",
			xmlField{"MsgID", fmt.Sprint(id), false}, xmlField{"Status", "success", true})
	})
	return map[string]any{"errcode": 0, "errmsg": "ok", "msgid": id}
}

// customTypes are the msgtypes of customer-service messages and the body key
// that carries each.
var customTypes = map[string]string{
	"text": "text", "image": "image", "voice": "voice", "video": "video", "music": "music",
	"news": "news", "mpnews": "mpnews", "mpnewsarticle": "mpnewsarticle", "msgmenu": "msgmenu",
	"wxcard": "wxcard", "miniprogrampage": "miniprogrampage", "link": "link",
}

// handleCustomSend serves POST /cgi-bin/message/custom/send.
func (s *Sim) handleCustomSend(rq *request) any {
	var in map[string]json.RawMessage
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	var toUser, msgType string
	if json.Unmarshal(in["touser"], &toUser) != nil || json.Unmarshal(in["msgtype"], &msgType) != nil {
		return errCode(47001)
	}
	if _, ok := s.userOf(rq.app, toUser); !ok {
		return errCode(40003)
	}
	key, ok := customTypes[msgType]
	if !ok {
		return errCode(40008)
	}
	var content struct {
		Content  string            `json:"content"`
		MediaID  string            `json:"media_id"`
		Articles []json.RawMessage `json:"articles"`
	}
	if raw, ok := in[key]; !ok || json.Unmarshal(raw, &content) != nil {
		return errCode(47001)
	}
	switch {
	case msgType == "text" && strings.TrimSpace(content.Content) == "":
		return errCode(44004)
	case (msgType == "image" || msgType == "voice" || msgType == "mpnews") && content.MediaID == "":
		return errCode(40007)
	case msgType == "news" && len(content.Articles) != 1:
		return errCode(45008)
	}
	s.record(SentMessage{
		Kind: KindCustom, AppID: rq.app.id, ToUser: toUser, MsgType: msgType,
		Content: content.Content, MediaID: content.MediaID, Body: rq.body, At: rq.now,
	})
	return map[string]any{"errcode": 0, "errmsg": "ok"}
}
