package testutil

import (
	"context"
	"slices"
	"sync"

	"wanjia/model"
)

// Notified is one notice a Notifier recorded.
type Notified struct {
	To     model.Recipient
	Notice model.Notice
}

// Notifier is a fake notification centre: it records each Notify call.
type Notifier struct {
	// Dedupe records a notice only once per Notice.DedupeKey, as the real
	// centre sends it once; a repeat returns nil unrecorded. Off, every
	// call is recorded, so a test sees a service that notifies twice.
	Dedupe bool
	// Fail, when it returns an error for a recipient, makes Notify return
	// that error and record nothing.
	Fail func(model.Recipient) error

	mu   sync.Mutex
	sent []Notified
	keys map[string]bool
}

// Notify records n for r.
func (f *Notifier) Notify(_ context.Context, r model.Recipient, n model.Notice) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail != nil {
		if err := f.Fail(r); err != nil {
			return err
		}
	}
	if f.Dedupe {
		if f.keys[n.DedupeKey] {
			return nil
		}
		if f.keys == nil {
			f.keys = map[string]bool{}
		}
		f.keys[n.DedupeKey] = true
	}
	f.sent = append(f.sent, Notified{To: r, Notice: n})
	return nil
}

// Sent returns the notices recorded so far.
func (f *Notifier) Sent() []Notified {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// Take returns the notices recorded since the last Take and forgets them
// (dedupe keys are kept).
func (f *Notifier) Take() []Notified {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.sent
	f.sent = nil
	return out
}

// AuditEntry is one audit call an Audit recorded.
type AuditEntry struct {
	Action, TargetType, TargetID string
}

// String is "action targetType targetID".
func (e AuditEntry) String() string { return e.Action + " " + e.TargetType + " " + e.TargetID }

// Audit is a fake audit log: it records action, target type and id.
type Audit struct {
	mu      sync.Mutex
	entries []AuditEntry
}

// Audit records the entry; the before and after values are ignored.
func (a *Audit) Audit(_ context.Context, action, targetType, targetID string, _, _ any) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, AuditEntry{action, targetType, targetID})
	return nil
}

// Entries returns the entries recorded so far.
func (a *Audit) Entries() []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.entries)
}

// Actions returns the actions recorded so far, in order.
func (a *Audit) Actions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		out = append(out, e.Action)
	}
	return out
}

// Lines returns the entries recorded so far as "action targetType targetID".
func (a *Audit) Lines() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		out = append(out, e.String())
	}
	return out
}
