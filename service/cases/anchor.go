package cases

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"wanjia/model"
)

// The event log's chains prove that no event of a case was changed or
// removed without its later hashes being rewritten too — but someone who
// can write to the database can rewrite a whole chain. An anchor closes
// that gap: a digest of where every case's chain stood at a moment, kept
// outside the database (the service logs one every day; staff may copy
// it into the federation's records or publish it with a report). Anyone
// can later ask for the anchor of that same moment again: a chain
// rewritten since — an event changed, removed or put before the moment —
// gives another digest. Events that come later never change it, and
// neither does retention (it clears sealed bodies, which the hashes cover
// only through their digests, and adds its own event).

// Anchor is the digest of every case's chain head at At.
type Anchor struct {
	At     time.Time // to the second: events up to At (a moment asked for is truncated to its second)
	Cases  int       // cases with an event by At
	Digest string    // hex SHA-256 of "case_id seq hash\n" per case, in case id order
}

// AnchorAt computes the anchor of the event log at at (admins; now when
// zero). A moment in the future is invalid: its anchor would change as
// events come.
func (s *Service) AnchorAt(ctx context.Context, at time.Time) (Anchor, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return Anchor{}, err
	}
	now := s.now()
	switch {
	case at.IsZero():
		at = now
	case at.After(now):
		return Anchor{}, model.Invalid(map[string]string{"at": "不能晚于现在"})
	}
	return s.anchor(ctx, at)
}

// anchor reads the heads a page of cases at a time.
func (s *Service) anchor(ctx context.Context, at time.Time) (Anchor, error) {
	a := Anchor{At: at.UTC().Truncate(time.Second)}
	h := sha256.New()
	var line []byte
	for after := int64(0); ; {
		ids, err := s.store.CaseIDs(ctx, after, retentionBatch)
		if err != nil {
			return Anchor{}, fmt.Errorf("anchor: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
		heads, err := s.store.ChainHeadsAt(ctx, ids, a.At)
		if err != nil {
			return Anchor{}, fmt.Errorf("anchor: %w", err)
		}
		for _, hd := range heads {
			line = strconv.AppendInt(line[:0], hd.CaseID, 10)
			line = append(line, ' ')
			line = strconv.AppendInt(line, int64(hd.Seq), 10)
			line = append(line, ' ')
			line = append(line, hd.Hash...)
			line = append(line, '\n')
			h.Write(line)
			a.Cases++
		}
	}
	a.Digest = hex.EncodeToString(h.Sum(nil))
	return a, nil
}

// dailyAnchor logs the anchor of the event log at the last midnight
// (Asia/Shanghai) and records it in the audit log: the log line is the
// copy outside the database.
func (s *Service) dailyAnchor(ctx context.Context) (Anchor, error) {
	y, m, d := s.now().In(shanghai).Date()
	a, err := s.anchor(ctx, time.Date(y, m, d, 0, 0, 0, 0, shanghai))
	if err != nil {
		return Anchor{}, err
	}
	s.log.InfoContext(ctx, "cases: event log anchor", "at", a.At.Format(time.RFC3339), "cases", a.Cases, "digest", a.Digest)
	s.record(ctx, "cases.anchor", "cases", a.At.Format(time.RFC3339), nil, map[string]any{"cases": a.Cases, "digest": a.Digest})
	return a, nil
}
