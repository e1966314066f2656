package wxsim

import (
	"encoding/json"
	"strings"
	"time"
)

// Content-security suggestions and the labels the simulator uses.
const (
	SuggestPass   = "pass"
	SuggestReview = "review"
	SuggestRisky  = "risky"

	LabelNormal    = 100
	LabelAd        = 10001
	LabelPolitics  = 20001
	LabelPorn      = 20002
	LabelAbuse     = 20003
	LabelIllegal   = 20006
	LabelFraud     = 20008
	LabelVulgar    = 20012
	LabelCopyright = 20013
	LabelOther     = 21000
)

type wordRule struct {
	word    string
	suggest string
	label   int
}

type mediaRule struct {
	substr  string
	suggest string
}

// MediaCheck is one media_check_async request and, once completed, its
// result.
type MediaCheck struct {
	TraceID   string
	AppID     string
	OpenID    string
	MediaURL  string
	MediaType int // 1 audio, 2 image
	Scene     int
	Version   int
	Suggest   string // empty until the check completes
	Label     int
	At        time.Time
}

// AddRiskyWord makes msg_sec_check judge text containing word (case
// insensitive) risky with label (such as LabelPolitics).
func (s *Sim) AddRiskyWord(word string, label int) {
	s.addWord(word, SuggestRisky, label)
}

// AddReviewWord makes msg_sec_check judge text containing word "review".
func (s *Sim) AddReviewWord(word string, label int) {
	s.addWord(word, SuggestReview, label)
}

func (s *Sim) addWord(word, suggest string, label int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.words = append(s.words, wordRule{word: strings.ToLower(word), suggest: suggest, label: label})
}

// SetMediaResult decides the result of media checks whose URL contains
// urlSubstring: SuggestPass, SuggestReview or SuggestRisky (label 20002 for
// risky, 21000 for review). Later rules win; unmatched media pass. The
// result is decided when the check completes.
func (s *Sim) SetMediaResult(urlSubstring, suggest string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mediaRules = append(s.mediaRules, mediaRule{substr: urlSubstring, suggest: suggest})
}

// MediaChecks returns the media checks requested so far, oldest first.
func (s *Sim) MediaChecks() []MediaCheck {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]MediaCheck, len(s.mediaChecks))
	for i, c := range s.mediaChecks {
		out[i] = *c
	}
	return out
}

// judgeText returns the suggestion, label and matched word for text.
func (s *Sim) judgeText(text string) (suggest string, label int, word string) {
	text = strings.ToLower(text)
	suggest, label = SuggestPass, LabelNormal
	for _, w := range s.words {
		if w.word == "" || !strings.Contains(text, w.word) {
			continue
		}
		if w.suggest == SuggestRisky {
			return SuggestRisky, w.label, w.word
		}
		if suggest == SuggestPass {
			suggest, label, word = w.suggest, w.label, w.word
		}
	}
	return suggest, label, word
}

func (s *Sim) judgeMedia(url string) (suggest string, label int) {
	suggest = SuggestPass
	for _, r := range s.mediaRules {
		if strings.Contains(url, r.substr) {
			suggest = r.suggest
		}
	}
	switch suggest {
	case SuggestRisky:
		return suggest, LabelPorn
	case SuggestReview:
		return suggest, LabelOther
	}
	return SuggestPass, LabelNormal
}

// handleMsgSecCheck serves POST /wxa/msg_sec_check, version 2 (result in
// the body, errcode 0 even for risky text) and version 1 (87014 for risky
// text).
func (s *Sim) handleMsgSecCheck(rq *request) any {
	var in struct {
		Version   int    `json:"version"`
		OpenID    string `json:"openid"`
		Scene     int    `json:"scene"`
		Content   string `json:"content"`
		Nickname  string `json:"nickname"`
		Title     string `json:"title"`
		Signature string `json:"signature"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	if in.Version != 2 {
		if suggest, _, _ := s.judgeText(in.Content); suggest == SuggestRisky {
			return errCode(87014)
		}
		return map[string]any{"errcode": 0, "errmsg": "ok"}
	}
	if in.Scene < 1 || in.Scene > 4 {
		return errCode(40129)
	}
	if _, ok := s.userOf(rq.app, in.OpenID); !ok && !s.lenient {
		return errCode(40003)
	}
	suggest, label, word := s.judgeText(strings.Join([]string{in.Content, in.Nickname, in.Title, in.Signature}, "\n"))
	model := map[string]any{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}
	keyword := map[string]any{"strategy": "keyword", "errcode": 0}
	if word != "" {
		keyword = map[string]any{"strategy": "keyword", "errcode": 0, "suggest": suggest, "label": label, "level": 20, "keyword": word}
	}
	return map[string]any{
		"errcode": 0, "errmsg": "ok",
		"detail":   []map[string]any{model, keyword},
		"trace_id": newRID(rq.now),
		"result":   map[string]any{"suggest": suggest, "label": label},
	}
}

// handleMediaCheckAsync serves POST /wxa/media_check_async: it answers a
// trace_id and queues the wxa_media_check result for the MP callback.
func (s *Sim) handleMediaCheckAsync(rq *request) any {
	var in struct {
		MediaURL  string `json:"media_url"`
		MediaType int    `json:"media_type"`
		Version   int    `json:"version"`
		OpenID    string `json:"openid"`
		Scene     int    `json:"scene"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	switch {
	case strings.TrimSpace(in.MediaURL) == "":
		return errCodef(40097, "(media_url missing)")
	case in.MediaType != 1 && in.MediaType != 2:
		return errCodef(40097, "(media_type must be 1 or 2)")
	}
	if in.Version == 2 {
		if in.Scene < 1 || in.Scene > 4 {
			return errCode(40129)
		}
		if _, ok := s.userOf(rq.app, in.OpenID); !ok && !s.lenient {
			return errCode(40003)
		}
	}
	check := &MediaCheck{TraceID: newRID(rq.now), AppID: rq.app.id, OpenID: in.OpenID, MediaURL: in.MediaURL,
		MediaType: in.MediaType, Scene: in.Scene, Version: in.Version, At: rq.now}
	s.mediaChecks = trim(append(s.mediaChecks, check))
	a := rq.app
	from := in.OpenID
	if from == "" {
		from = systemOpenID(a.id)
	}
	s.enqueueMP(a.id, from, func(now time.Time) []byte {
		suggest, label := s.judgeMedia(check.MediaURL)
		check.Suggest, check.Label = suggest, label
		msg := map[string]any{
			"ToUserName": a.originalID, "FromUserName": from, "CreateTime": now.Unix(),
			"MsgType": "event", "Event": "wxa_media_check", "appid": a.id, "trace_id": check.TraceID,
		}
		if check.Version == 2 {
			msg["version"] = 2
			msg["errcode"], msg["errmsg"] = 0, "ok"
			msg["detail"] = []map[string]any{{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}}
			msg["result"] = map[string]any{"suggest": suggest, "label": label}
		} else {
			risky := 0
			if suggest == SuggestRisky {
				risky = 1
			}
			msg["isrisky"], msg["extra_info_json"], msg["status_code"] = risky, "", 0
		}
		b, err := json.Marshal(msg)
		if err != nil {
			panic(err) // only plain values above
		}
		return b
	})
	return map[string]any{"errcode": 0, "errmsg": "ok", "trace_id": check.TraceID}
}
