package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"wanjia/model"
)

// sensitiveKeys are parts of field names whose values never enter an audit
// summary: secrets and personal data. A boolean under such a name (such as
// "password_reset": true) says that something happened, not what, and is
// kept.
var sensitiveKeys = []string{
	"password", "hash", "secret", "token", "session", "phone", "mobile", "openid", "unionid", "sealed",
	"id_card", "idcard", "email", "address", "real_name", "contact", "description",
}

func sensitive(key string, v any) bool {
	if _, ok := v.(bool); ok {
		return false
	}
	k := strings.ToLower(key)
	for _, s := range sensitiveKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Audit appends an entry to the audit log for a staff write: who (the
// principal in ctx, or "cli" when there is none), from where (the request
// info in ctx), the action ("staff.update"), its target, and a summary of
// the fields that changed between before and after (nil for a creation or
// deletion). before and after are maps or JSON-encodable structs; fields
// named like secrets or personal data are left out whatever they hold.
// Call it inside the write's transaction, so the entry commits with it.
func (a *Auth) Audit(ctx context.Context, action, targetType, targetID string, before, after any) error {
	summary, err := Summarize(before, after)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	act := actorFrom(ctx)
	ri := model.RequestInfoFrom(ctx)
	err = a.audit.AppendAudit(ctx, model.AuditEntry{
		StaffID: act.staffID, Username: act.username, Action: action, TargetType: targetType, TargetID: targetID,
		Summary: summary, IP: ri.IP, RequestID: ri.RequestID, At: a.now(),
	})
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// Summarize returns {"before":{…},"after":{…}} with only the fields whose
// values differ, sensitive fields left out; either side is omitted when
// empty.
func Summarize(before, after any) (json.RawMessage, error) {
	b, err := fieldsOf(before)
	if err != nil {
		return nil, err
	}
	af, err := fieldsOf(after)
	if err != nil {
		return nil, err
	}
	changedBefore, changedAfter := map[string]any{}, map[string]any{}
	for k, v := range b {
		if w, ok := af[k]; !ok || !reflect.DeepEqual(v, w) {
			changedBefore[k] = v
		}
	}
	for k, v := range af {
		if w, ok := b[k]; !ok || !reflect.DeepEqual(v, w) {
			changedAfter[k] = v
		}
	}
	out := map[string]any{}
	if len(changedBefore) > 0 {
		out["before"] = changedBefore
	}
	if len(changedAfter) > 0 {
		out["after"] = changedAfter
	}
	return json.Marshal(out)
}

// fieldsOf turns v into a JSON object's fields (so both sides compare in
// one representation), without the sensitive ones.
func fieldsOf(v any) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("summary: %T is not an object", v)
	}
	redact(m)
	return m, nil
}

// redact deletes the sensitive fields of m and of the objects nested in it.
func redact(m map[string]any) {
	for k, x := range m {
		if sensitive(k, x) {
			delete(m, k)
			continue
		}
		redactValue(x)
	}
}

func redactValue(v any) {
	switch x := v.(type) {
	case map[string]any:
		redact(x)
	case []any:
		for _, e := range x {
			redactValue(e)
		}
	}
}

// ListAudit pages audit entries matching f, newest first. Admin only.
func (a *Auth) ListAudit(ctx context.Context, f model.AuditFilter, p model.Page) ([]model.AuditEntry, string, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return nil, "", err
	}
	items, next, err := a.audit.ListAudit(ctx, f, p)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	return items, next, nil
}
