package notify

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"wanjia/model"
)

// Audit log names of a template change.
const (
	ActionTemplateUpdate = "notify.template.update"
	TargetTemplate       = "notify_template"
)

var reTopic = regexp.MustCompile(`^[a-z][a-z0-9_]{1,47}$`)

// maxTemplateFields bounds a template's field mapping.
const maxTemplateFields = 10

// requireStaff allows no principal (the system), or a staff principal
// holding one of roles; a Mini Program user or another role is
// model.ErrForbidden.
func requireStaff(ctx context.Context, roles ...model.Role) error {
	p, ok := model.PrincipalFrom(ctx)
	if ok && !p.HasRole(roles...) {
		return model.Coded(model.ErrForbidden, "forbidden", "没有权限执行此操作")
	}
	return nil
}

// Templates returns every topic's template (admin, editor).
func (s *Service) Templates(ctx context.Context) ([]model.NotifyTemplate, error) {
	if err := requireStaff(ctx, model.RoleAdmin, model.RoleEditor); err != nil {
		return nil, err
	}
	ts, err := s.store.ListTemplates(ctx)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return ts, nil
}

// UpdateTemplates writes the given topics' templates (admin, editor),
// audited, in one transaction, and returns every template. Each is
// validated: the topic's name, the template ids, each mapping's keys
// against WeChat's key types (no first/remark on the OA; keywordN there
// only), field names, and the defaults against their key's rule. Problems
// are model.ErrInvalid naming "items[i].field".
func (s *Service) UpdateTemplates(ctx context.Context, ts []model.NotifyTemplate) ([]model.NotifyTemplate, error) {
	if err := requireStaff(ctx, model.RoleAdmin, model.RoleEditor); err != nil {
		return nil, err
	}
	if len(ts) == 0 || len(ts) > 50 {
		return nil, model.Invalid(map[string]string{"items": "须为 1–50 个模板"})
	}
	problems := map[string]string{}
	for i := range ts {
		validTemplate(&ts[i], fmt.Sprintf("items[%d].", i), problems)
	}
	if err := model.Invalid(problems); err != nil {
		return nil, err
	}
	err := s.tx.WithTx(ctx, func(ctx context.Context) error {
		for _, t := range ts {
			before, err := s.store.TemplateByTopic(ctx, t.Topic)
			var prev any
			if err == nil {
				prev = auditTemplate(before)
			} else if !isNotFound(err) {
				return err
			}
			after, err := s.store.UpsertTemplate(ctx, t)
			if err != nil {
				return err
			}
			if s.audit != nil {
				if err := s.audit.Audit(ctx, ActionTemplateUpdate, TargetTemplate, t.Topic, prev, auditTemplate(after)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update templates: %w", err)
	}
	s.forgetTemplates()
	return s.store.ListTemplates(ctx)
}

func auditTemplate(t model.NotifyTemplate) map[string]any {
	return map[string]any{
		"name": t.Name, "mp_template_id": t.MPTemplateID, "mp_fields": t.MPFields, "oa_template_id": t.OATemplateID,
		"oa_fields": t.OAFields, "text": t.Text, "long_term": t.LongTerm, "enabled": t.Enabled,
	}
}

// validTemplate trims t and adds its problems under prefix.
func validTemplate(t *model.NotifyTemplate, prefix string, problems map[string]string) {
	t.Topic, t.Name = strings.TrimSpace(t.Topic), strings.TrimSpace(t.Name)
	t.MPTemplateID, t.OATemplateID = strings.TrimSpace(t.MPTemplateID), strings.TrimSpace(t.OATemplateID)
	if !reTopic.MatchString(t.Topic) {
		problems[prefix+"topic"] = "须为小写字母、数字和下划线（2–48 个）"
	}
	if t.Name == "" || utf8.RuneCountInString(t.Name) > 64 {
		problems[prefix+"name"] = "须为 1–64 个字"
	}
	for name, id := range map[string]string{"mp_template_id": t.MPTemplateID, "oa_template_id": t.OATemplateID} {
		if len(id) > 64 || !printableASCII(id) || strings.Contains(id, " ") {
			problems[prefix+name] = "模板 id 无效"
		}
	}
	if utf8.RuneCountInString(t.Text) > 600 {
		problems[prefix+"text"] = "不能超过 600 个字"
	}
	validFields(t.MPFields, t.MPTemplateID != "", false, prefix+"mp_fields", problems)
	validFields(t.OAFields, t.OATemplateID != "", true, prefix+"oa_fields", problems)
}

func validFields(fs []model.TemplateField, needed, oa bool, name string, problems map[string]string) {
	switch {
	case needed && len(fs) == 0:
		problems[name] = "配置了模板 id 时必填"
		return
	case len(fs) > maxTemplateFields:
		problems[name] = "字段太多"
		return
	}
	seen := map[string]bool{}
	for i := range fs {
		f := &fs[i]
		f.Key, f.Field, f.Default = strings.TrimSpace(f.Key), strings.TrimSpace(f.Field), strings.TrimSpace(f.Default)
		at := fmt.Sprintf("%s[%d]", name, i)
		if _, ok := keyType(f.Key, oa); !ok {
			msg := "模板字段须如 thing1、time2"
			if oa {
				msg = "模板字段须如 thing1、keyword2（不再支持 first、remark）"
			}
			problems[at+".key"] = msg
			continue
		}
		if seen[f.Key] {
			problems[at+".key"] = "重复"
		}
		seen[f.Key] = true
		if !reFieldName.MatchString(f.Field) {
			problems[at+".field"] = "须为小写字母开头的字段名"
		}
		if f.Default != "" {
			if _, msg := renderValue(f.Key, f.Default, oa); msg != "" {
				problems[at+".default"] = msg
			} else if got, _ := renderValue(f.Key, f.Default, oa); got != f.Default {
				problems[at+".default"] = "默认值须原样符合字段规则"
			}
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, model.ErrNotFound) }

// SeedTemplates adds the topics of ts that are not configured yet (the
// others keep what staff set) and returns how many it added. cmd calls it
// at start with DefaultTemplates.
func (s *Service) SeedTemplates(ctx context.Context, ts []model.NotifyTemplate) (int, error) {
	n, err := s.store.SeedTemplates(ctx, ts)
	if err != nil {
		return n, fmt.Errorf("seed templates: %w", err)
	}
	s.forgetTemplates()
	return n, nil
}

// PushSummary is a push and its deliveries' counts.
type PushSummary struct {
	model.Push
	Counts model.PushCounts
}

// Pushes pages pushes newest first with their counts (admin, editor).
func (s *Service) Pushes(ctx context.Context, p model.Page) ([]PushSummary, string, error) {
	if err := requireStaff(ctx, model.RoleAdmin, model.RoleEditor); err != nil {
		return nil, "", err
	}
	ps, next, err := s.store.ListPushes(ctx, p)
	if err != nil {
		return nil, "", fmt.Errorf("pushes: %w", err)
	}
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	counts, err := s.store.CountPushes(ctx, ids)
	if err != nil {
		return nil, "", fmt.Errorf("pushes: %w", err)
	}
	out := make([]PushSummary, len(ps))
	for i, p := range ps {
		out[i] = PushSummary{Push: p, Counts: counts[p.ID]}
	}
	return out, next, nil
}

// Push returns one push with its counts (admin, editor), or ErrNotFound.
func (s *Service) Push(ctx context.Context, id int64) (PushSummary, error) {
	if err := requireStaff(ctx, model.RoleAdmin, model.RoleEditor); err != nil {
		return PushSummary{}, err
	}
	p, err := s.store.PushByID(ctx, id)
	if err != nil {
		return PushSummary{}, err
	}
	counts, err := s.store.CountPushes(ctx, []int64{id})
	if err != nil {
		return PushSummary{}, fmt.Errorf("push %d: %w", id, err)
	}
	return PushSummary{Push: p, Counts: counts[id]}, nil
}

// Deliveries pages the delivery log, newest first (admin, editor): per
// push, per person, per topic or status.
func (s *Service) Deliveries(ctx context.Context, f model.DeliveryFilter, p model.Page) ([]model.Delivery, string, error) {
	if err := requireStaff(ctx, model.RoleAdmin, model.RoleEditor); err != nil {
		return nil, "", err
	}
	if f.Status != "" && f.Status != model.DeliveryQueued && f.Status != model.DeliveryPending && f.Status != model.DeliverySending &&
		!model.DeliveryFinal(f.Status) {
		return nil, "", model.Invalid(map[string]string{"status": "未知的状态"})
	}
	ds, next, err := s.store.ListDeliveries(ctx, f, p)
	if err != nil {
		return nil, "", fmt.Errorf("deliveries: %w", err)
	}
	return ds, next, nil
}

// Alerts pages the console alerts of the staff member in ctx, newest first.
func (s *Service) Alerts(ctx context.Context, unreadOnly bool, p model.Page) ([]model.StaffAlert, string, error) {
	st, ok := model.StaffFrom(ctx)
	if !ok {
		return nil, "", model.Coded(model.ErrUnauthenticated, "unauthenticated", "请先登录")
	}
	as, next, err := s.store.ListAlerts(ctx, st.SubjectID, unreadOnly, p)
	if err != nil {
		return nil, "", fmt.Errorf("alerts: %w", err)
	}
	return as, next, nil
}

// MarkAlertRead marks one of the signed-in staff member's alerts read;
// another's alert is ErrNotFound.
func (s *Service) MarkAlertRead(ctx context.Context, id int64) error {
	st, ok := model.StaffFrom(ctx)
	if !ok {
		return model.Coded(model.ErrUnauthenticated, "unauthenticated", "请先登录")
	}
	return s.store.MarkAlertRead(ctx, st.SubjectID, id, s.now())
}
