package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"wanjia/model"
)

// DefaultCrisisReply answers a message with a crisis word: short, warm, and
// with what to do now.
const DefaultCrisisReply = "我们很关心你的安全。\n" +
	"如果你正处于危险中，请立即拨打110报警。\n" +
	"全国妇女维权公益服务热线：12338。\n" +
	"你也可以打开“万家”小程序，进入“12338求助”留下求助信息，工作人员会尽快联系你。"

// DefaultCrisisWords are the crisis words until staff save their own list.
func DefaultCrisisWords() []string {
	return []string{
		"家暴", "打我", "救命", "自杀", "想死", "被打", "杀了我", "不想活", "跳楼", "性侵", "强奸", "威胁我",
		"家庭暴力", "殴打", "虐待", "轻生", "活不下去", "割腕", "跳河", "上吊", "吃药自杀", "被囚禁", "被关起来",
		"跟踪我", "要杀我", "掐我", "被强迫", "猥亵", "拐卖",
	}
}

// TopicCrisisAlert is the notification topic of crisis alerts. The notice
// carries the fields "title", "app", "time" and "hint" and no word of the
// message: alerts may show on lock screens.
const TopicCrisisAlert = "crisis_alert"

// Normalize folds text for matching: full-width ASCII and the ideographic
// space to their half-width forms, letters to lower case, and every
// character that is not a letter or a digit (spaces, punctuation, symbols,
// emoji, zero-width characters) removed. So "救 命！" and "救命" match, and
// "１２３３８" is "12338".
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0
		}
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// crisisMatcher holds the normalised crisis words.
type crisisMatcher struct{ words []string }

func newCrisisMatcher(words []string) crisisMatcher {
	var out []string
	for _, w := range words {
		if n := Normalize(w); n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return crisisMatcher{words: out}
}

// match reports whether text holds a crisis word.
func (c crisisMatcher) match(text string) bool {
	if len(c.words) == 0 || text == "" {
		return false
	}
	n := Normalize(text)
	for _, w := range c.words {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// IsCrisis reports whether text holds one of the crisis words in force
// (the defaults until the settings are loaded). The transport uses it to
// flag the message log.
func (s *Service) IsCrisis(text string) bool {
	snap := s.snap.Load()
	if snap == nil {
		return defaultCrisis.match(text)
	}
	return snap.crisis.match(text)
}

var defaultCrisis = newCrisisMatcher(DefaultCrisisWords())

// crisisTask is the payload of TaskCrisisAlert: no word of the message.
type crisisTask struct {
	App model.App `json:"app"`
	Key string    `json:"key"` // the message's DedupeKey
	At  int64     `json:"at"`  // unix seconds
}

// fallbackAlertTimeout bounds a crisis alert sent without the job queue.
const fallbackAlertTimeout = 30 * time.Second

// crisisMessage counts the message, queues the alert to the on-duty staff
// (once per message: the task id is the message's dedupe key) and returns
// the crisis reply. When the queue is down the alert is sent directly in a
// goroutine that ends when Notify returns or after fallbackAlertTimeout.
func (s *Service) crisisMessage(ctx context.Context, m model.InboundMessage) *model.Reply {
	s.crisisTotal.WithLabelValues(string(m.App)).Inc()
	key := m.DedupeKey()
	s.log.WarnContext(ctx, "gateway: crisis message", "app", m.App, "msg_type", m.MsgType, "dedupe_key", key)
	at := m.CreateTime
	if at.IsZero() {
		at = s.now()
	}
	task := crisisTask{App: m.App, Key: key, At: at.Unix()}
	payload, err := json.Marshal(task)
	if err == nil {
		err = s.d.Jobs.Enqueue(ctx, TaskCrisisAlert, payload, "crisis:"+key)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "gateway: crisis alert not queued; sending directly", "dedupe_key", key, "err", err)
		s.fallback.Add(1)
		go func() {
			defer s.fallback.Done()
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fallbackAlertTimeout)
			defer cancel()
			if err := s.sendCrisisAlert(actx, task); err != nil {
				s.log.ErrorContext(actx, "gateway: direct crisis alert failed", "dedupe_key", key, "err", err)
			}
		}()
	}
	if m.App == model.AppOA {
		s.touch(ctx, m.FromUser, m.CreateTime)
	}
	if m.App == model.AppMP && m.FromUser != "" {
		s.queueCrisisReplyMP(ctx, m.FromUser, key)
	}
	return &model.Reply{Kind: model.ReplyText, Text: s.d.CrisisReply}
}

// crisisReplyTask is the payload of TaskCrisisReplyMP: whom to answer, not
// what she wrote.
type crisisReplyTask struct {
	OpenID string `json:"openid"`
	Key    string `json:"key"`
}

// queueCrisisReplyMP queues the guidance for a Mini Program user (once per
// message), or sends it directly when the queue is down.
func (s *Service) queueCrisisReplyMP(ctx context.Context, openID, key string) {
	if s.d.MPCustomer == nil {
		s.log.ErrorContext(ctx, "gateway: no Mini Program customer-service sender; crisis guidance not sent", "dedupe_key", key)
		return
	}
	t := crisisReplyTask{OpenID: openID, Key: key}
	payload, err := json.Marshal(t)
	if err == nil {
		err = s.d.Jobs.Enqueue(ctx, TaskCrisisReplyMP, payload, "crisis-reply:"+key)
	}
	if err == nil {
		return
	}
	s.log.ErrorContext(ctx, "gateway: crisis reply not queued; sending directly", "dedupe_key", key, "err", err)
	s.fallback.Add(1)
	go func() {
		defer s.fallback.Done()
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fallbackAlertTimeout)
		defer cancel()
		if err := s.d.MPCustomer.SendMPText(actx, t.OpenID, s.d.CrisisReply); err != nil {
			s.log.ErrorContext(actx, "gateway: direct crisis reply failed", "dedupe_key", key, "err", err)
		}
	}()
}

// runCrisisReplyMP is the handler of TaskCrisisReplyMP.
func (s *Service) runCrisisReplyMP(ctx context.Context, payload []byte) error {
	var t crisisReplyTask
	if err := json.Unmarshal(payload, &t); err != nil || t.OpenID == "" {
		return fmt.Errorf("%w: crisis reply", ErrBadPayload)
	}
	if s.d.MPCustomer == nil {
		return fmt.Errorf("crisis reply: no Mini Program customer-service sender")
	}
	if err := s.d.MPCustomer.SendMPText(ctx, t.OpenID, s.d.CrisisReply); err != nil {
		return fmt.Errorf("crisis reply: %w", err)
	}
	return nil
}

// runCrisisAlert is the handler of TaskCrisisAlert.
func (s *Service) runCrisisAlert(ctx context.Context, payload []byte) error {
	var t crisisTask
	if err := json.Unmarshal(payload, &t); err != nil || t.Key == "" {
		return fmt.Errorf("%w: crisis alert", ErrBadPayload)
	}
	return s.sendCrisisAlert(ctx, t)
}

// sendCrisisAlert notifies every staff member on duty. Each notice has its
// own dedupe key, so a retry re-sends only what failed.
func (s *Service) sendCrisisAlert(ctx context.Context, t crisisTask) error {
	ids, err := s.alertRecipients(ctx)
	if err != nil {
		return fmt.Errorf("crisis alert: %w", err)
	}
	if len(ids) == 0 {
		s.log.ErrorContext(ctx, "gateway: crisis alert has nobody to go to: no enabled admin or caseworker", "dedupe_key", t.Key)
		return nil
	}
	app := "公众号"
	if t.App == model.AppMP {
		app = "小程序"
	}
	fields := map[string]string{
		"title": "危机关键词预警",
		"app":   app,
		"time":  time.Unix(t.At, 0).In(shanghai).Format("2006-01-02 15:04"),
		"hint":  "有用户发来含危机关键词的消息，请尽快在后台消息记录中查看并跟进",
	}
	var errs []error
	for _, id := range ids {
		n := model.Notice{
			Topic: TopicCrisisAlert, Fields: fields, Urgent: true,
			DedupeKey: "crisis:" + t.Key + ":staff:" + strconv.FormatInt(id, 10),
		}
		if err := s.d.Notifier.Notify(ctx, model.Recipient{StaffID: id}, n); err != nil {
			errs = append(errs, fmt.Errorf("staff %d: %w", id, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("crisis alert: %w", err)
	}
	return nil
}

var shanghai = time.FixedZone("CST", 8*60*60)

// OnDutyStaff returns the ids of the staff on duty, the recipients of
// crisis alerts (see alertRecipients); the 12338 cases alert them too.
func (s *Service) OnDutyStaff(ctx context.Context) ([]int64, error) { return s.alertRecipients(ctx) }

// alertRecipients are the staff ids of the crisis settings that exist and
// are enabled; when none is set (or none of them can be reached), every
// enabled admin and caseworker.
func (s *Service) alertRecipients(ctx context.Context) ([]int64, error) {
	set, err := s.d.Settings.CrisisSettings(ctx)
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		return nil, err
	}
	var ids []int64
	for _, id := range set.AlertStaffIDs {
		st, err := s.d.Staff.StaffByID(ctx, id)
		switch {
		case errors.Is(err, model.ErrNotFound):
			continue
		case err != nil:
			return nil, err
		case !st.Disabled:
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		return ids, nil
	}
	for p := (model.Page{Limit: model.MaxPageLimit}); ; {
		page, next, err := s.d.Staff.ListStaff(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, st := range page {
			if !st.Disabled && st.HasRole(model.RoleCaseworker) {
				ids = append(ids, st.ID)
			}
		}
		if next == "" {
			return ids, nil
		}
		p.Cursor = next
	}
}

// Limits of the crisis settings.
const (
	maxCrisisWords   = 500
	maxCrisisWordLen = 20 // runes, normalised
	maxAlertStaff    = 50
)

// CrisisSettings returns the crisis words and the staff alerted, or the
// defaults when they were never saved. Editors and admins.
func (s *Service) CrisisSettings(ctx context.Context) (model.CrisisSettings, error) {
	if _, err := requireRole(ctx, model.RoleEditor); err != nil {
		return model.CrisisSettings{}, err
	}
	return s.crisisSettings(ctx)
}

func (s *Service) crisisSettings(ctx context.Context) (model.CrisisSettings, error) {
	set, err := s.d.Settings.CrisisSettings(ctx)
	if errors.Is(err, model.ErrNotFound) {
		return model.CrisisSettings{Words: DefaultCrisisWords(), AlertStaffIDs: []int64{}}, nil
	}
	if err != nil {
		return model.CrisisSettings{}, fmt.Errorf("crisis settings: %w", err)
	}
	if set.AlertStaffIDs == nil {
		set.AlertStaffIDs = []int64{}
	}
	return set, nil
}

// CrisisUpdate changes the crisis settings; nil fields are kept.
type CrisisUpdate struct {
	Words         *[]string
	AlertStaffIDs *[]int64
}

// UpdateCrisisSettings changes the crisis words (editors and admins) and
// the staff alerted (admins only: ErrForbidden for an editor who changes
// them), audited as "crisis.update". Words are trimmed and deduplicated
// (by their normalised form); each must keep 1–20 letters or digits once
// normalised. Staff must exist and be enabled. Errors: ErrInvalid with
// fields "words" and "alert_staff_ids", ErrForbidden.
func (s *Service) UpdateCrisisSettings(ctx context.Context, u CrisisUpdate) (model.CrisisSettings, error) {
	p, err := requireRole(ctx, model.RoleEditor)
	if err != nil {
		return model.CrisisSettings{}, err
	}
	var out model.CrisisSettings
	err = s.d.Tx.WithTx(ctx, func(ctx context.Context) error {
		before, err := s.crisisSettings(ctx)
		if err != nil {
			return err
		}
		next := before
		problems := map[string]string{}
		if u.Words != nil {
			words, msg := cleanCrisisWords(*u.Words)
			if msg != "" {
				problems["words"] = msg
			}
			next.Words = words
		}
		if u.AlertStaffIDs != nil {
			ids := slices.Clone(*u.AlertStaffIDs)
			slices.Sort(ids)
			ids = slices.Compact(ids)
			old := slices.Sorted(slices.Values(before.AlertStaffIDs))
			if !slices.Equal(ids, old) && p.Kind == model.SessionStaff && !p.HasRole(model.RoleAdmin) {
				return model.Coded(model.ErrForbidden, "forbidden", "只有管理员可以修改接收预警的人员")
			}
			msg, err := s.checkAlertStaff(ctx, ids)
			if err != nil {
				return err
			}
			if msg != "" {
				problems["alert_staff_ids"] = msg
			}
			next.AlertStaffIDs = ids
		}
		if err := model.Invalid(problems); err != nil {
			return err
		}
		saved, err := s.d.Settings.SaveCrisisSettings(ctx, next, s.now())
		if err != nil {
			return err
		}
		out = saved
		return s.d.Audit.Audit(ctx, ActionCrisisUpdate, "crisis_settings", "crisis",
			map[string]any{"words": before.Words, "alert_staff_ids": before.AlertStaffIDs},
			map[string]any{"words": saved.Words, "alert_staff_ids": saved.AlertStaffIDs})
	})
	if err != nil {
		return model.CrisisSettings{}, fmt.Errorf("update crisis settings: %w", err)
	}
	s.changed(ctx)
	return out, nil
}

// cleanCrisisWords trims and deduplicates words and returns them with a
// message when one is unusable.
func cleanCrisisWords(in []string) ([]string, string) {
	if len(in) > maxCrisisWords {
		return nil, fmt.Sprintf("最多 %d 个关键词", maxCrisisWords)
	}
	out := []string{}
	var seen []string
	for _, w := range in {
		w = strings.TrimSpace(w)
		n := Normalize(w)
		switch {
		case n == "":
			return nil, "关键词须包含文字或数字"
		case utf8.RuneCountInString(n) > maxCrisisWordLen:
			return nil, fmt.Sprintf("关键词不能超过 %d 个字", maxCrisisWordLen)
		case slices.Contains(seen, n):
			continue
		}
		seen = append(seen, n)
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, "至少保留一个关键词"
	}
	return out, ""
}

// checkAlertStaff returns a message naming the ids that are not enabled
// staff, or "".
func (s *Service) checkAlertStaff(ctx context.Context, ids []int64) (string, error) {
	if len(ids) > maxAlertStaff {
		return fmt.Sprintf("最多 %d 人", maxAlertStaff), nil
	}
	var bad []string
	for _, id := range ids {
		st, err := s.d.Staff.StaffByID(ctx, id)
		switch {
		case errors.Is(err, model.ErrNotFound) || err == nil && st.Disabled:
			bad = append(bad, strconv.FormatInt(id, 10))
		case err != nil:
			return "", err
		}
	}
	if len(bad) > 0 {
		return "员工不存在或已停用：" + strings.Join(bad, "、"), nil
	}
	return "", nil
}
