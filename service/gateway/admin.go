package gateway

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"wanjia/model"
)

// Limits of auto-reply rules.
const (
	MaxRules        = 500
	maxRuleName     = 64   // runes
	maxKeywords     = 50   // per rule
	maxKeywordRunes = 60   // exact/contains keyword, normalised
	maxPattern      = 200  // bytes of a regex
	maxMenuKey      = 128  // bytes of a click key (WeChat's limit)
	maxReplyText    = 2048 // bytes of a text reply (WeChat's passive reply limit)
	maxMediaID      = 128
	maxTitle        = 64  // runes
	maxDescription  = 120 // runes
	maxURL          = 1024
	minPriority     = -1000
	maxPriority     = 1000
)

// messageTypes are the message types a msgtype rule may name.
var messageTypes = []string{"text", "image", "voice", "video", "shortvideo", "location", "link"}

var providerName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// ValidateRule returns r cleaned (trimmed, keywords deduplicated, fields
// that do not apply to its match type and reply kind cleared) and a
// message per field at fault (nil when r is valid).
func ValidateRule(r model.ReplyRule) (model.ReplyRule, map[string]string) {
	p := map[string]string{}
	r.Name = strings.TrimSpace(r.Name)
	switch n := utf8.RuneCountInString(r.Name); {
	case n == 0:
		p["name"] = "必填"
	case n > maxRuleName:
		p["name"] = fmt.Sprintf("不能超过 %d 个字", maxRuleName)
	}
	if r.Priority < minPriority || r.Priority > maxPriority {
		p["priority"] = fmt.Sprintf("须在 %d 到 %d 之间", minPriority, maxPriority)
	}
	if r.Provider = strings.TrimSpace(r.Provider); r.Provider != "" && !providerName.MatchString(r.Provider) {
		p["provider"] = "须为小写字母、数字或下划线，不超过 32 个字符"
	}
	if r.Match != model.MatchKeyword {
		r.Mode = ""
	}
	var kw []string
	for _, k := range r.Keywords {
		if k = strings.TrimSpace(k); k != "" && !slices.Contains(kw, k) {
			kw = append(kw, k)
		}
	}
	r.Keywords = kw
	if len(kw) > maxKeywords {
		p["keywords"] = fmt.Sprintf("最多 %d 个", maxKeywords)
	}
	switch r.Match {
	case model.MatchKeyword:
		if msg := checkKeywords(r.Mode, kw); msg != "" {
			p["keywords"] = msg
		}
		if !slices.Contains([]model.KeywordMode{model.KeywordExact, model.KeywordContains, model.KeywordRegex}, r.Mode) {
			p["mode"] = "须为 exact、contains 或 regex"
		}
	case model.MatchMsgType:
		for i, k := range kw {
			kw[i] = strings.ToLower(k)
			if !slices.Contains(messageTypes, kw[i]) {
				p["keywords"] = "消息类型须为 " + strings.Join(messageTypes, "、")
			}
		}
		if len(kw) == 0 {
			p["keywords"] = "至少填写一个消息类型"
		}
	case model.MatchClick:
		for _, k := range kw {
			if len(k) > maxMenuKey {
				p["keywords"] = fmt.Sprintf("菜单 key 不能超过 %d 字节", maxMenuKey)
			}
		}
		if len(kw) == 0 {
			p["keywords"] = "至少填写一个菜单 key"
		}
	case model.MatchSubscribe, model.MatchDefault:
		r.Keywords = nil
	default:
		p["match"] = "须为 subscribe、keyword、msgtype、click 或 default"
	}
	r.Reply = cleanReply(r.Reply, p)
	if len(p) == 0 {
		return r, nil
	}
	return r, p
}

func checkKeywords(mode model.KeywordMode, kw []string) string {
	if len(kw) == 0 {
		return "至少填写一个关键词"
	}
	for _, k := range kw {
		if mode == model.KeywordRegex {
			if len(k) > maxPattern {
				return fmt.Sprintf("正则表达式不能超过 %d 字节", maxPattern)
			}
			if _, err := regexp.Compile(k); err != nil {
				return "正则表达式无效：" + clipBytes(k, 40)
			}
			continue
		}
		n := Normalize(k)
		if n == "" {
			return "关键词须包含文字或数字"
		}
		if utf8.RuneCountInString(n) > maxKeywordRunes {
			return fmt.Sprintf("关键词不能超过 %d 个字", maxKeywordRunes)
		}
	}
	return ""
}

// cleanReply validates a rule's static reply into p and clears the fields
// its kind does not use.
func cleanReply(rep model.Reply, p map[string]string) model.Reply {
	switch rep.Kind {
	case model.ReplyText:
		rep.Text = strings.TrimSpace(rep.Text)
		switch {
		case rep.Text == "":
			p["reply.text"] = "必填"
		case len(rep.Text) > maxReplyText:
			p["reply.text"] = fmt.Sprintf("不能超过 %d 字节（约 680 个汉字）", maxReplyText)
		}
		return model.Reply{Kind: rep.Kind, Text: rep.Text}
	case model.ReplyImage:
		rep.MediaID = strings.TrimSpace(rep.MediaID)
		if rep.MediaID == "" || len(rep.MediaID) > maxMediaID {
			p["reply.media_id"] = "须填写图片素材的 media_id"
		}
		return model.Reply{Kind: rep.Kind, MediaID: rep.MediaID}
	case model.ReplyNews:
		if len(rep.Articles) != 1 {
			p["reply.articles"] = "图文回复须有且只有一篇文章"
			return model.Reply{Kind: rep.Kind, Articles: rep.Articles}
		}
		a := rep.Articles[0]
		a.Title, a.Description = strings.TrimSpace(a.Title), strings.TrimSpace(a.Description)
		a.URL, a.PicURL = strings.TrimSpace(a.URL), strings.TrimSpace(a.PicURL)
		switch {
		case a.Title == "" || utf8.RuneCountInString(a.Title) > maxTitle:
			p["reply.articles"] = fmt.Sprintf("标题必填，不超过 %d 个字", maxTitle)
		case utf8.RuneCountInString(a.Description) > maxDescription:
			p["reply.articles"] = fmt.Sprintf("摘要不能超过 %d 个字", maxDescription)
		case !webURL(a.URL):
			p["reply.articles"] = "链接须为 http(s) 地址"
		case a.PicURL != "" && !webURL(a.PicURL):
			p["reply.articles"] = "图片链接须为 http(s) 地址"
		}
		return model.Reply{Kind: rep.Kind, Articles: []model.NewsArticle{a}}
	}
	p["reply.kind"] = "须为 text、image 或 news"
	return rep
}

// webURL reports whether s is an absolute http(s) URL of at most 1,024 bytes.
func webURL(s string) bool {
	if s == "" || len(s) > maxURL {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// ruleAudit is what the audit log keeps of a rule.
func ruleAudit(r model.ReplyRule) map[string]any {
	m := map[string]any{
		"name": r.Name, "match": r.Match, "mode": r.Mode, "keywords": r.Keywords, "priority": r.Priority,
		"reply_kind": r.Reply.Kind, "reply_text": r.Reply.Text, "media_id": r.Reply.MediaID,
		"provider": r.Provider, "enabled": r.Enabled,
	}
	if len(r.Reply.Articles) > 0 {
		m["article_title"], m["article_url"] = r.Reply.Articles[0].Title, r.Reply.Articles[0].URL
	}
	return m
}

// Audit names of the gateway's staff writes.
const (
	ActionReplyCreate  = "reply.create"
	ActionReplyUpdate  = "reply.update"
	ActionReplyDelete  = "reply.delete"
	ActionCrisisUpdate = "crisis.update"
	ActionMenuUpdate   = "menu.update"
	ActionMenuPublish  = "menu.publish"
	targetRule         = "reply_rule"
	targetMenu         = "menu"
)

// ListReplyRules returns every rule by id. Editors and admins.
func (s *Service) ListReplyRules(ctx context.Context) ([]model.ReplyRule, error) {
	if _, err := requireRole(ctx, model.RoleEditor); err != nil {
		return nil, err
	}
	rules, err := s.d.Rules.ListReplyRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("list reply rules: %w", err)
	}
	return rules, nil
}

// CreateReplyRule validates and stores a new rule (its ID ignored),
// audited as "reply.create"; every copy answers with it within a second.
// Errors: ErrInvalid with fields (see ValidateRule), ErrConflict
// "too_many_rules" beyond MaxRules, ErrForbidden.
func (s *Service) CreateReplyRule(ctx context.Context, r model.ReplyRule) (model.ReplyRule, error) {
	if _, err := requireRole(ctx, model.RoleEditor); err != nil {
		return model.ReplyRule{}, err
	}
	r, problems := ValidateRule(r)
	if err := model.Invalid(problems); err != nil {
		return model.ReplyRule{}, err
	}
	var out model.ReplyRule
	err := s.d.Tx.WithTx(ctx, func(ctx context.Context) error {
		n, err := s.d.Rules.CountReplyRules(ctx)
		if err != nil {
			return err
		}
		if n >= MaxRules {
			return model.Coded(model.ErrConflict, "too_many_rules", fmt.Sprintf("自动回复规则最多 %d 条", MaxRules))
		}
		out, err = s.d.Rules.CreateReplyRule(ctx, r)
		if err != nil {
			return err
		}
		return s.d.Audit.Audit(ctx, ActionReplyCreate, targetRule, strconv.FormatInt(out.ID, 10), nil, ruleAudit(out))
	})
	if err != nil {
		return model.ReplyRule{}, fmt.Errorf("create reply rule: %w", err)
	}
	s.changed(ctx)
	return out, nil
}

// RulePatch changes a rule; nil fields are kept.
type RulePatch struct {
	Name     *string
	Match    *model.MatchType
	Mode     *model.KeywordMode
	Keywords *[]string
	Priority *int
	Reply    *model.Reply
	Provider *string
	Enabled  *bool
}

// UpdateReplyRule applies patch to rule id and stores it, audited as
// "reply.update". Errors: ErrNotFound, ErrInvalid with fields, ErrForbidden.
func (s *Service) UpdateReplyRule(ctx context.Context, id int64, patch RulePatch) (model.ReplyRule, error) {
	if _, err := requireRole(ctx, model.RoleEditor); err != nil {
		return model.ReplyRule{}, err
	}
	var out model.ReplyRule
	err := s.d.Tx.WithTx(ctx, func(ctx context.Context) error {
		before, err := s.d.Rules.ReplyRule(ctx, id)
		if err != nil {
			return err
		}
		r := before
		set(&r.Name, patch.Name)
		set(&r.Match, patch.Match)
		set(&r.Mode, patch.Mode)
		set(&r.Keywords, patch.Keywords)
		set(&r.Priority, patch.Priority)
		set(&r.Reply, patch.Reply)
		set(&r.Provider, patch.Provider)
		set(&r.Enabled, patch.Enabled)
		r, problems := ValidateRule(r)
		if err := model.Invalid(problems); err != nil {
			return err
		}
		if out, err = s.d.Rules.UpdateReplyRule(ctx, r); err != nil {
			return err
		}
		return s.d.Audit.Audit(ctx, ActionReplyUpdate, targetRule, strconv.FormatInt(id, 10), ruleAudit(before), ruleAudit(out))
	})
	if err != nil {
		return model.ReplyRule{}, fmt.Errorf("update reply rule %d: %w", id, err)
	}
	s.changed(ctx)
	return out, nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// DeleteReplyRule removes rule id, audited as "reply.delete". Errors:
// ErrNotFound, ErrForbidden.
func (s *Service) DeleteReplyRule(ctx context.Context, id int64) error {
	if _, err := requireRole(ctx, model.RoleEditor); err != nil {
		return err
	}
	err := s.d.Tx.WithTx(ctx, func(ctx context.Context) error {
		before, err := s.d.Rules.ReplyRule(ctx, id)
		if err != nil {
			return err
		}
		if err := s.d.Rules.DeleteReplyRule(ctx, id); err != nil {
			return err
		}
		return s.d.Audit.Audit(ctx, ActionReplyDelete, targetRule, strconv.FormatInt(id, 10), ruleAudit(before), nil)
	})
	if err != nil {
		return fmt.Errorf("delete reply rule %d: %w", id, err)
	}
	s.changed(ctx)
	return nil
}

// ListFollowers pages the followers matching f, newest first, each with
// the id of her Mini Program account when linked. Editors and admins.
func (s *Service) ListFollowers(ctx context.Context, f model.FollowerFilter, p model.Page) ([]model.Follower, string, error) {
	if _, err := requireRole(ctx, model.RoleEditor); err != nil {
		return nil, "", err
	}
	items, next, err := s.d.Followers.ListFollowers(ctx, f, p)
	if err != nil {
		return nil, "", fmt.Errorf("list followers: %w", err)
	}
	return items, next, nil
}
