package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"wanjia/model"
)

// WeChat's custom-menu limits (menu/create; errcodes 40016–40027).
const (
	maxTopButtons = 3
	maxSubButtons = 5
	maxTopName    = 16 // bytes
	maxSubName    = 60 // bytes
)

// menuTypes maps each button type to the field it requires.
var menuTypes = map[string]string{
	"click": "key", "scancode_push": "key", "scancode_waitmsg": "key", "pic_sysphoto": "key",
	"pic_photo_or_album": "key", "pic_weixin": "key", "location_select": "key",
	"view": "url", "miniprogram": "miniprogram",
	"media_id": "media_id", "view_limited": "media_id",
	"article_id": "article_id", "article_view_limited": "article_id",
}

// ValidateMenu checks buttons against WeChat's limits: 1–3 top-level
// buttons, each either a button or a group of 1–5 sub-buttons (no deeper);
// names of at most 16 bytes (top level) or 60 bytes (sub-buttons); a known
// type with the field it needs (key ≤ 128 bytes; url an http(s) URL ≤ 1,024
// bytes; miniprogram: appid, pagepath and a fallback url; media_id;
// article_id). It returns the buttons trimmed, with the fields a type does
// not use cleared, and a message per field at fault ("button[0].sub_button[1].key"),
// nil when valid.
func ValidateMenu(buttons []model.MenuButton) ([]model.MenuButton, map[string]string) {
	p := map[string]string{}
	switch {
	case len(buttons) == 0:
		p["button"] = "至少需要一个菜单"
	case len(buttons) > maxTopButtons:
		p["button"] = fmt.Sprintf("一级菜单最多 %d 个", maxTopButtons)
	}
	out := make([]model.MenuButton, len(buttons))
	for i, b := range buttons {
		path := "button[" + strconv.Itoa(i) + "]"
		b.Name = strings.TrimSpace(b.Name)
		checkName(p, path, b.Name, maxTopName)
		if len(b.SubButtons) == 0 {
			out[i] = checkButton(p, path, b)
			continue
		}
		if b.Type != "" {
			p[path+".type"] = "有子菜单的按钮不能设置类型"
		}
		if len(b.SubButtons) > maxSubButtons {
			p[path+".sub_button"] = fmt.Sprintf("子菜单最多 %d 个", maxSubButtons)
		}
		group := model.MenuButton{Name: b.Name, SubButtons: make([]model.MenuButton, len(b.SubButtons))}
		for j, sb := range b.SubButtons {
			sp := path + ".sub_button[" + strconv.Itoa(j) + "]"
			sb.Name = strings.TrimSpace(sb.Name)
			checkName(p, sp, sb.Name, maxSubName)
			if len(sb.SubButtons) > 0 {
				p[sp+".sub_button"] = "子菜单下不能再有子菜单"
			}
			group.SubButtons[j] = checkButton(p, sp, sb)
		}
		out[i] = group
	}
	if len(p) == 0 {
		return out, nil
	}
	return out, p
}

func checkName(p map[string]string, path, name string, limit int) {
	switch {
	case name == "":
		p[path+".name"] = "必填"
	case len(name) > limit:
		p[path+".name"] = fmt.Sprintf("不能超过 %d 字节（约 %d 个汉字）", limit, limit/3)
	}
}

// checkButton validates a leaf button into p and returns it with only the
// fields of its type.
func checkButton(p map[string]string, path string, b model.MenuButton) model.MenuButton {
	need, ok := menuTypes[b.Type]
	if !ok {
		p[path+".type"] = "类型无效"
		return b
	}
	out := model.MenuButton{Type: b.Type, Name: b.Name}
	switch need {
	case "key":
		out.Key = strings.TrimSpace(b.Key)
		if out.Key == "" || len(out.Key) > maxMenuKey {
			p[path+".key"] = fmt.Sprintf("必填，不超过 %d 字节", maxMenuKey)
		}
	case "url":
		out.URL = strings.TrimSpace(b.URL)
		if !webURL(out.URL) {
			p[path+".url"] = "须为 http(s) 地址，不超过 1024 字节"
		}
	case "miniprogram":
		out.AppID, out.PagePath, out.URL = strings.TrimSpace(b.AppID), strings.TrimSpace(b.PagePath), strings.TrimSpace(b.URL)
		if out.AppID == "" || len(out.AppID) > 64 {
			p[path+".appid"] = "必填"
		}
		if out.PagePath == "" || len(out.PagePath) > maxURL {
			p[path+".pagepath"] = "必填"
		}
		if !webURL(out.URL) {
			p[path+".url"] = "须填写旧版微信打开的 http(s) 备用地址"
		}
	case "media_id":
		out.MediaID = strings.TrimSpace(b.MediaID)
		if out.MediaID == "" || len(out.MediaID) > maxMediaID {
			p[path+".media_id"] = "必填"
		}
	case "article_id":
		out.ArticleID = strings.TrimSpace(b.ArticleID)
		if out.ArticleID == "" || len(out.ArticleID) > maxMediaID {
			p[path+".article_id"] = "必填"
		}
	}
	return out
}

// Menu returns the saved custom menu (no buttons, revision 0, when none
// was saved). Editors and admins.
func (s *Service) Menu(ctx context.Context) (model.Menu, error) {
	if _, err := requireRole(ctx, model.RoleEditor); err != nil {
		return model.Menu{}, err
	}
	m, err := s.d.Menus.Menu(ctx)
	if errors.Is(err, model.ErrNotFound) {
		return model.Menu{Buttons: []model.MenuButton{}}, nil
	}
	if err != nil {
		return model.Menu{}, fmt.Errorf("menu: %w", err)
	}
	return m, nil
}

// SaveMenu validates and saves the custom menu (not yet published),
// audited as "menu.update". Errors: ErrInvalid with fields (see
// ValidateMenu), ErrForbidden.
func (s *Service) SaveMenu(ctx context.Context, buttons []model.MenuButton) (model.Menu, error) {
	pr, err := requireRole(ctx, model.RoleEditor)
	if err != nil {
		return model.Menu{}, err
	}
	buttons, problems := ValidateMenu(buttons)
	if err := model.Invalid(problems); err != nil {
		return model.Menu{}, err
	}
	var out model.Menu
	err = s.d.Tx.WithTx(ctx, func(ctx context.Context) error {
		var before any
		if old, err := s.d.Menus.Menu(ctx); err == nil {
			before = map[string]any{"buttons": old.Buttons}
		} else if !errors.Is(err, model.ErrNotFound) {
			return err
		}
		out, err = s.d.Menus.SaveMenu(ctx, buttons, pr.SubjectID, s.now())
		if err != nil {
			return err
		}
		return s.d.Audit.Audit(ctx, ActionMenuUpdate, targetMenu, "oa", before,
			map[string]any{"buttons": out.Buttons, "revision": out.Revision})
	})
	if err != nil {
		return model.Menu{}, fmt.Errorf("save menu: %w", err)
	}
	return out, nil
}

// PublishMenu makes the saved menu the one WeChat shows (menu/create),
// audited as "menu.publish". Errors: ErrConflict "menu_empty" when no menu
// was saved, ErrUpstream when WeChat refuses or fails, ErrForbidden.
func (s *Service) PublishMenu(ctx context.Context) (model.Menu, error) {
	if _, err := requireRole(ctx, model.RoleEditor); err != nil {
		return model.Menu{}, err
	}
	m, err := s.d.Menus.Menu(ctx)
	if errors.Is(err, model.ErrNotFound) {
		return model.Menu{}, model.Coded(model.ErrConflict, "menu_empty", "请先保存菜单再发布")
	}
	if err != nil {
		return model.Menu{}, fmt.Errorf("publish menu: %w", err)
	}
	if err := s.d.OA.PublishMenu(ctx, m.Buttons); err != nil {
		return model.Menu{}, fmt.Errorf("publish menu: %w", err)
	}
	var out model.Menu
	err = s.d.Tx.WithTx(ctx, func(ctx context.Context) error {
		out, err = s.d.Menus.MarkMenuPublished(ctx, m.Revision, s.now())
		if err != nil {
			return err
		}
		return s.d.Audit.Audit(ctx, ActionMenuPublish, targetMenu, "oa", nil, map[string]any{"revision": m.Revision})
	})
	if err != nil {
		return model.Menu{}, fmt.Errorf("publish menu: published, but not recorded: %w", err)
	}
	return out, nil
}
