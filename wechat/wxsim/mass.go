package wxsim

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The states of a mass job as message/mass/get reports them.
const (
	MassSending = "SENDING"
	MassSuccess = "SEND_SUCCESS"
	MassFail    = "SEND_FAIL"
	MassDeleted = "DELETE"
)

// MassJob is a mass send (sendall or send) and how it stands: Status is
// SENDING until the job completes (when its MASSSENDJOBFINISH event is
// flushed, delivered automatically, or withheld), then SEND_SUCCESS or,
// when the event reports anything but "send success", SEND_FAIL; DELETE
// after DeleteMass.
type MassJob struct {
	AppID     string
	MsgID     int64
	MsgDataID int64 // 0 for a text, image, voice, video or card send
	Status    string
	At        time.Time
}

// Masses returns the mass jobs, oldest first.
func (s *Sim) Masses() []MassJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]MassJob, 0, len(s.masses))
	for _, m := range s.masses {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b MassJob) int { return cmp.Compare(a.MsgID, b.MsgID) })
	return out
}

// DeleteMass marks mass job msgID deleted, as the account deleting the
// sent message would (mass/get then answers DELETE). It reports whether
// the job exists.
func (s *Sim) DeleteMass(msgID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.masses[msgID]
	if ok {
		m.Status = MassDeleted
	}
	return ok
}

// SetMassStatus sets the Status that MASSSENDJOBFINISH reports for mass sends
// completed from now on: "send success" (the default), "send fail" or
// "err(num)". Any status but "send success" counts every recipient as an
// error (and mass/get answers SEND_FAIL).
func (s *Sim) SetMassStatus(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.massStatus = status
}

// massRequest is the body of mass/sendall and mass/send.
type massRequest struct {
	Filter *struct {
		IsToAll bool  `json:"is_to_all"`
		TagID   int64 `json:"tag_id"`
	} `json:"filter"`
	ToUser  []string `json:"touser"`
	MsgType string   `json:"msgtype"`
	Text    *struct {
		Content string `json:"content"`
	} `json:"text"`
	Mpnews *struct {
		MediaID string `json:"media_id"`
	} `json:"mpnews"`
	Voice *struct {
		MediaID string `json:"media_id"`
	} `json:"voice"`
	Mpvideo *struct {
		MediaID string `json:"media_id"`
	} `json:"mpvideo"`
	Images *struct {
		MediaIDs []string `json:"media_ids"`
	} `json:"images"`
	Wxcard *struct {
		CardID string `json:"card_id"`
	} `json:"wxcard"`
	SendIgnoreReprint int    `json:"send_ignore_reprint"`
	ClientMsgID       string `json:"clientmsgid"`
}

// handleMassSendAll serves POST /cgi-bin/message/mass/sendall (to a tag or
// to all followers).
func (s *Sim) handleMassSendAll(rq *request) any {
	var in massRequest
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	if in.Filter == nil || (!in.Filter.IsToAll && in.Filter.TagID == 0) {
		return errCodef(40097, "(filter needs is_to_all or tag_id)")
	}
	var to []*User
	for _, u := range s.followers(rq.app) {
		if in.Filter.IsToAll || slices.Contains(u.TagIDs, int(in.Filter.TagID)) {
			to = append(to, u)
		}
	}
	return s.massSend(rq, &in, to)
}

// handleMassSend serves POST /cgi-bin/message/mass/send (to an openid list).
func (s *Sim) handleMassSend(rq *request) any {
	var in massRequest
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	if len(in.ToUser) < 2 || len(in.ToUser) > 10000 {
		return errCode(40130)
	}
	to := make([]*User, 0, len(in.ToUser))
	for _, id := range in.ToUser {
		u, ok := s.userOf(rq.app, id)
		if !ok {
			return errCode(40003)
		}
		to = append(to, u)
	}
	return s.massSend(rq, &in, to)
}

func (s *Sim) massSend(rq *request, in *massRequest, to []*User) any {
	var draft *Draft
	msg := SentMessage{Kind: KindMass, AppID: rq.app.id, MsgType: in.MsgType, ClientMsgID: in.ClientMsgID, ToUsers: in.ToUser, Body: rq.body, At: rq.now}
	if in.Filter != nil {
		msg.ToAll, msg.TagID = in.Filter.IsToAll, in.Filter.TagID
	}
	switch in.MsgType {
	case "text":
		if in.Text == nil || strings.TrimSpace(in.Text.Content) == "" {
			return errCode(44004)
		}
		msg.Content = in.Text.Content
	case "mpnews":
		if in.Mpnews == nil {
			return errCode(40007)
		}
		d, ok := s.drafts[in.Mpnews.MediaID]
		if !ok || d.AppID != rq.app.id {
			return errCode(40007)
		}
		draft, msg.MediaID = d, d.MediaID
	case "voice", "mpvideo":
		id := ""
		if in.Voice != nil {
			id = in.Voice.MediaID
		}
		if in.Mpvideo != nil {
			id = in.Mpvideo.MediaID
		}
		if m, ok := s.media[id]; !ok || m.AppID != rq.app.id {
			return errCode(40007)
		}
		msg.MediaID = id
	case "image":
		if in.Images == nil || len(in.Images.MediaIDs) == 0 {
			return errCode(40007)
		}
		for _, id := range in.Images.MediaIDs {
			if m, ok := s.media[id]; !ok || m.AppID != rq.app.id {
				return errCode(40007)
			}
		}
		msg.MediaID = in.Images.MediaIDs[0]
	case "wxcard":
		if in.Wxcard == nil || in.Wxcard.CardID == "" {
			return errCodef(40097, "(card_id missing)")
		}
	default:
		return errCode(40008)
	}
	if in.ClientMsgID != "" {
		key := rq.app.id + "\x00mass\x00" + in.ClientMsgID
		if id, dup := s.clientMsgIDs[key]; dup {
			return &apiError{code: 45065, msg: ErrText(45065), extra: map[string]any{"msg_id": id}}
		}
	}
	msg.MsgID = s.nextID()
	out := map[string]any{"errcode": 0, "errmsg": "send job submission success", "msg_id": msg.MsgID}
	if draft != nil {
		msg.MsgDataID = s.nextID()
		out["msg_data_id"] = msg.MsgDataID
	}
	if in.ClientMsgID != "" {
		s.clientMsgIDs[rq.app.id+"\x00mass\x00"+in.ClientMsgID] = msg.MsgID
	}
	s.record(msg)
	job := &MassJob{AppID: rq.app.id, MsgID: msg.MsgID, MsgDataID: msg.MsgDataID, Status: MassSending, At: rq.now}
	s.masses[job.MsgID] = job

	a, n := rq.app, len(to)
	s.enqueueOA(a.id, systemOpenID(a.id), "MASSSENDJOBFINISH", func(now time.Time) []byte {
		status, sent, failed := s.massStatus, n, 0
		if status != "send success" {
			sent, failed = 0, n
		}
		if job.Status == MassSending {
			job.Status = MassSuccess
			if status != "send success" {
				job.Status = MassFail
			}
		}
		fields := []xmlField{
			{"MsgID", strconv.FormatInt(msg.MsgID, 10), false},
			{"Status", status, true},
			{"TotalCount", strconv.Itoa(n), false},
			{"FilterCount", strconv.Itoa(n), false},
			{"SentCount", strconv.Itoa(sent), false},
			{"ErrorCount", strconv.Itoa(failed), false},
			xmlRaw("CopyrightCheckResult", xmlInner(xmlField{"Count", "0", false}, xmlRaw("ResultList", ""), xmlField{"CheckState", "1", false})),
		}
		if draft != nil && status == "send success" {
			titles := make([]string, len(draft.Articles))
			items := []xmlField{{"Count", strconv.Itoa(len(draft.Articles)), false}}
			var urls, list []string
			for i, art := range draft.Articles {
				titles[i] = art.Title
				u := articleURL(a.id, msg.MsgDataID, i+1)
				urls = append(urls, u)
				list = append(list, xmlInner(xmlRaw("item", xmlInner(
					xmlField{"ArticleIdx", strconv.Itoa(i + 1), false}, xmlField{"ArticleUrl", u, true}))))
			}
			items = append(items, xmlRaw("ResultList", strings.Join(list, "")))
			fields = append(fields, xmlRaw("ArticleUrlResult", xmlInner(items...)))
			s.publish(publication{appID: a.id, msgDataID: msg.MsgDataID, publishType: 0, day: cstDay(now), titles: titles, urls: urls})
		}
		return eventXML(a.originalID, systemOpenID(a.id), now, "MASSSENDJOBFINISH", fields...)
	})
	return out
}

// handleMassGet serves POST /cgi-bin/message/mass/get ({"msg_id":"…"}, a
// string in WeChat's documentation, a number accepted too): the job's
// msg_id (a number, as WeChat answers) and msg_status. An unknown msg_id,
// or another app's, is 40059 "invalid msg id", the code WeChat's page for
// this endpoint lists ("参数 msg_id 传参有误",
// https://developers.weixin.qq.com/doc/service/api/notify/message/api_massmsgget).
// Like WeChat's example answer, a success carries no errcode.
func (s *Sim) handleMassGet(rq *request) any {
	var in struct {
		MsgID json.RawMessage `json:"msg_id"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	raw := strings.Trim(string(in.MsgID), `"`)
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return errCode(40059)
	}
	m, ok := s.masses[id]
	if !ok || m.AppID != rq.app.id {
		return errCode(40059)
	}
	return map[string]any{"msg_id": m.MsgID, "msg_status": m.Status}
}
