package wxsim

import (
	"slices"
	"strings"
)

// MenuButton is a button of the Official Account's custom menu, in the JSON
// shape of menu/create.
type MenuButton struct {
	Type       string       `json:"type,omitempty"`
	Name       string       `json:"name"`
	Key        string       `json:"key,omitempty"`
	URL        string       `json:"url,omitempty"`
	MediaID    string       `json:"media_id,omitempty"`
	AppID      string       `json:"appid,omitempty"`
	PagePath   string       `json:"pagepath,omitempty"`
	ArticleID  string       `json:"article_id,omitempty"`
	SubButtons []MenuButton `json:"sub_button,omitempty"`
}

// Menu returns the current custom menu of appID and whether one is set.
func (s *Sim) Menu(appID string) ([]MenuButton, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appID]
	if !ok || a.menu == nil {
		return nil, false
	}
	return cloneButtons(a.menu), true
}

func cloneButtons(bs []MenuButton) []MenuButton {
	out := slices.Clone(bs)
	for i := range out {
		out[i].SubButtons = cloneButtons(out[i].SubButtons)
	}
	return out
}

// buttonTypes are the menu button types and the field each requires.
var buttonTypes = map[string]string{
	"click": "key", "view": "url", "miniprogram": "miniprogram",
	"scancode_push": "key", "scancode_waitmsg": "key", "pic_sysphoto": "key",
	"pic_photo_or_album": "key", "pic_weixin": "key", "location_select": "key",
	"media_id": "media_id", "view_limited": "media_id", "article_id": "article_id",
	"article_view_limited": "article_id",
}

// checkButton validates one button; sub selects the sub-button error codes
// and limits (name ≤ 16 bytes for top-level buttons, 60 for sub-buttons).
func checkButton(b MenuButton, sub bool) *apiError {
	code := func(top, subCode int) *apiError {
		if sub {
			return errCode(subCode)
		}
		return errCode(top)
	}
	maxName := 16
	if sub {
		maxName = 60
	}
	if b.Name == "" || len(b.Name) > maxName {
		return code(40018, 40025)
	}
	if !sub && len(b.SubButtons) > 0 {
		if len(b.SubButtons) > 5 {
			return errCode(40023)
		}
		for _, sb := range b.SubButtons {
			if len(sb.SubButtons) > 0 {
				return errCode(40024)
			}
			if apiErr := checkButton(sb, true); apiErr != nil {
				return apiErr
			}
		}
		return nil
	}
	need, ok := buttonTypes[b.Type]
	if !ok {
		return code(40017, 40024)
	}
	switch need {
	case "key":
		if b.Key == "" || len(b.Key) > 128 {
			return code(40019, 40026)
		}
	case "url":
		if len(b.URL) > 1024 {
			return code(40027, 40027)
		}
		if !strings.HasPrefix(b.URL, "http://") && !strings.HasPrefix(b.URL, "https://") {
			return code(40055, 40054)
		}
	case "miniprogram":
		if b.AppID == "" || b.PagePath == "" || b.URL == "" {
			return errCodef(40097, "(miniprogram buttons need appid, pagepath and url)")
		}
	case "media_id":
		if b.MediaID == "" {
			return errCode(40007)
		}
	case "article_id":
		if b.ArticleID == "" {
			return errCodef(40097, "(article_id missing)")
		}
	}
	return nil
}

// handleMenuCreate serves POST /cgi-bin/menu/create.
func (s *Sim) handleMenuCreate(rq *request) any {
	var in struct {
		Button []MenuButton `json:"button"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	if len(in.Button) == 0 || len(in.Button) > 3 {
		return errCode(40016)
	}
	for _, b := range in.Button {
		if apiErr := checkButton(b, false); apiErr != nil {
			return apiErr
		}
	}
	rq.app.menu = cloneButtons(in.Button)
	rq.app.menuID = s.nextID()
	return map[string]any{"errcode": 0, "errmsg": "ok"}
}

// handleMenuGet serves GET /cgi-bin/menu/get; 46003 when no menu is set.
func (s *Sim) handleMenuGet(rq *request) any {
	if rq.app.menu == nil {
		return errCode(46003)
	}
	return map[string]any{"menu": map[string]any{"button": rq.app.menu, "menuid": rq.app.menuID}}
}

// selfMenuButton renders a button as get_current_selfmenu_info does.
func selfMenuButton(b MenuButton) map[string]any {
	m := map[string]any{"name": b.Name}
	if len(b.SubButtons) > 0 {
		list := make([]map[string]any, 0, len(b.SubButtons))
		for _, sb := range b.SubButtons {
			list = append(list, selfMenuButton(sb))
		}
		m["sub_button"] = map[string]any{"list": list}
		return m
	}
	m["type"] = b.Type
	for k, v := range map[string]string{"key": b.Key, "url": b.URL, "appid": b.AppID, "pagepath": b.PagePath} {
		if v != "" {
			m[k] = v
		}
	}
	if b.MediaID != "" {
		m["value"] = b.MediaID
	}
	if b.ArticleID != "" {
		m["article_id"] = b.ArticleID
	}
	return m
}

// handleSelfMenuInfo serves GET /cgi-bin/get_current_selfmenu_info.
func (s *Sim) handleSelfMenuInfo(rq *request) any {
	buttons := make([]map[string]any, 0, len(rq.app.menu))
	for _, b := range rq.app.menu {
		buttons = append(buttons, selfMenuButton(b))
	}
	open := 0
	if rq.app.menu != nil {
		open = 1
	}
	return map[string]any{"is_menu_open": open, "selfmenu_info": map[string]any{"button": buttons}}
}

// handleMenuDelete serves GET or POST /cgi-bin/menu/delete.
func (s *Sim) handleMenuDelete(rq *request) any {
	rq.app.menu = nil
	return map[string]any{"errcode": 0, "errmsg": "ok"}
}
