package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"slices"
	"sort"
	"time"
)

// CaseCategory is what a 12338 rights request is about (API.md).
type CaseCategory string

// The case categories of API.md.
const (
	CaseDomesticViolence CaseCategory = "domestic_violence" // 家庭暴力
	CaseMarriageFamily   CaseCategory = "marriage_family"   // 婚姻家庭
	CaseEmployment       CaseCategory = "employment"        // 劳动就业
	CaseProperty         CaseCategory = "property"          // 财产继承
	CaseHarassment       CaseCategory = "harassment"        // 性骚扰
	CaseChild            CaseCategory = "child"             // 儿童权益
	CaseOther            CaseCategory = "other"             // 其他
)

// CaseCategories lists the categories in API.md's order.
func CaseCategories() []CaseCategory {
	return []CaseCategory{CaseDomesticViolence, CaseMarriageFamily, CaseEmployment, CaseProperty, CaseHarassment,
		CaseChild, CaseOther}
}

// Valid reports whether c is one of CaseCategories.
func (c CaseCategory) Valid() bool { return slices.Contains(CaseCategories(), c) }

// Name is the Chinese name of the category.
func (c CaseCategory) Name() string {
	return map[CaseCategory]string{
		CaseDomesticViolence: "家庭暴力", CaseMarriageFamily: "婚姻家庭", CaseEmployment: "劳动就业", CaseProperty: "财产继承",
		CaseHarassment: "性骚扰", CaseChild: "儿童权益", CaseOther: "其他",
	}[c]
}

// CaseStatus is where a case stands (API.md).
type CaseStatus string

// The case statuses of API.md.
const (
	CaseReceived   CaseStatus = "received"    // 已接收: taken in, nobody has looked yet
	CaseAccepted   CaseStatus = "accepted"    // 已受理: the federation took it on
	CaseAssigned   CaseStatus = "assigned"    // 已分派: given to a service station
	CaseInProgress CaseStatus = "in_progress" // 处理中
	CaseResolved   CaseStatus = "resolved"    // 已解决: waiting to be closed (her confirmation, paperwork)
	CaseClosed     CaseStatus = "closed"      // 已结案, with an outcome
	CaseReopened   CaseStatus = "reopened"    // 已重新开启 after closure
)

// CaseStatuses lists the statuses in API.md's order.
func CaseStatuses() []CaseStatus {
	return []CaseStatus{CaseReceived, CaseAccepted, CaseAssigned, CaseInProgress, CaseResolved, CaseClosed, CaseReopened}
}

// Valid reports whether s is one of CaseStatuses.
func (s CaseStatus) Valid() bool { return slices.Contains(CaseStatuses(), s) }

// Open reports whether a case in status s still needs work (its SLA clock
// runs and it counts towards its station's load).
func (s CaseStatus) Open() bool { return s != CaseResolved && s != CaseClosed }

// Name is the Chinese name of the status, as the person sees it.
func (s CaseStatus) Name() string {
	return map[CaseStatus]string{
		CaseReceived: "已接收", CaseAccepted: "已受理", CaseAssigned: "已分派", CaseInProgress: "处理中",
		CaseResolved: "已解决", CaseClosed: "已结案", CaseReopened: "已重新开启",
	}[s]
}

// caseTransitions is the allowed-transition matrix of POST
// /api/admin/cases/:case_no/transition. "assigned" is reached only by an
// assignment (it needs a station), never by a bare transition; closing
// needs an outcome and reopening a note (the service checks both).
var caseTransitions = map[CaseStatus][]CaseStatus{
	CaseReceived:   {CaseAccepted, CaseClosed},
	CaseAccepted:   {CaseInProgress, CaseClosed},
	CaseAssigned:   {CaseInProgress, CaseClosed},
	CaseInProgress: {CaseResolved, CaseClosed},
	CaseResolved:   {CaseInProgress, CaseClosed},
	CaseClosed:     {CaseReopened},
	CaseReopened:   {CaseInProgress, CaseResolved, CaseClosed},
}

// CanTransition reports whether a case may go from status from to status
// to by a transition.
func CanTransition(from, to CaseStatus) bool { return slices.Contains(caseTransitions[from], to) }

// TransitionsFrom lists the statuses a transition may lead to from s.
func TransitionsFrom(s CaseStatus) []CaseStatus { return slices.Clone(caseTransitions[s]) }

// CanAssign reports whether a case in status s may be assigned to a
// station (or transferred to another): not once it is resolved or closed.
func CanAssign(s CaseStatus) bool {
	switch s {
	case CaseReceived, CaseAccepted, CaseAssigned, CaseInProgress, CaseReopened:
		return true
	}
	return false
}

// CaseChannel is how a case came in.
type CaseChannel string

// The intake channels.
const (
	CaseChannelMP      CaseChannel = "mp"      // the Mini Program
	CaseChannelHotline CaseChannel = "hotline" // a 12338 call taken by staff
	CaseChannelWalkIn  CaseChannel = "walk_in" // a visit to the federation or a station
)

// Valid reports whether c is a known channel.
func (c CaseChannel) Valid() bool {
	return c == CaseChannelMP || c == CaseChannelHotline || c == CaseChannelWalkIn
}

// CaseOutcome is how a closed case ended.
type CaseOutcome string

// The outcomes a closure records.
const (
	OutcomeLegalAid    CaseOutcome = "legal_aid"   // 法律援助
	OutcomeMediation   CaseOutcome = "mediation"   // 调解
	OutcomeReferral    CaseOutcome = "referral"    // 转介（公安、法院、民政…）
	OutcomeCounselling CaseOutcome = "counselling" // 心理疏导
	OutcomeProtection  CaseOutcome = "protection"  // 人身安全保护令 / 庇护
	OutcomeResolved    CaseOutcome = "resolved"    // 咨询解答，问题已解决
	OutcomeUnreachable CaseOutcome = "unreachable" // 无法联系当事人
	OutcomeWithdrawn   CaseOutcome = "withdrawn"   // 当事人撤回
	OutcomeOther       CaseOutcome = "other"
)

// CaseOutcomes lists the outcomes.
func CaseOutcomes() []CaseOutcome {
	return []CaseOutcome{OutcomeLegalAid, OutcomeMediation, OutcomeReferral, OutcomeCounselling, OutcomeProtection,
		OutcomeResolved, OutcomeUnreachable, OutcomeWithdrawn, OutcomeOther}
}

// Valid reports whether o is one of CaseOutcomes.
func (o CaseOutcome) Valid() bool { return slices.Contains(CaseOutcomes(), o) }

// ContactMode is how the person wants to be told about her case.
type ContactMode string

// The safe-contact modes. Every notice about a case uses neutral wording
// whatever the mode.
const (
	ContactAny    ContactMode = "any"     // any channel the notification centre finds, outside quiet hours
	ContactNone   ContactMode = "none"    // no notifications at all: she looks in the Mini Program herself
	ContactMPOnly ContactMode = "mp_only" // Mini Program subscribe messages only (never the Official Account)
	ContactWindow ContactMode = "window"  // only between From and To (Asia/Shanghai), which she chose
)

// ContactPrefs are the person's safe-contact preferences. They are kept
// sealed with the case. From and To are "HH:MM" (Asia/Shanghai) for
// ContactWindow; To before From wraps past midnight. Note is free text for
// the staff ("只在工作日白天联系，接通后先确认是本人").
type ContactPrefs struct {
	Mode ContactMode `json:"mode"`
	From string      `json:"from,omitempty"`
	To   string      `json:"to,omitempty"`
	Note string      `json:"note,omitempty"`
}

// SLA flags of a case: each reminder and escalation is sent once per
// cycle (a reopening starts a new closure cycle).
const (
	SLAFirstReminded = 1 << iota // first-response reminder sent
	SLAFirstBreached             // first response overdue: escalated and recorded
	SLACloseReminded             // closure reminder sent
	SLACloseBreached             // closure overdue: escalated and recorded
)

// Case is a 12338 rights request. The personal fields are kept sealed
// (AES-GCM bound to the case id and column) and opened only by the
// service; LogValue logs ids and status only.
type Case struct {
	ID        int64
	CaseNo    string
	UserID    int64 // the Mini Program owner; 0 for a hotline or walk-in case, or once anonymised
	Channel   CaseChannel
	Category  CaseCategory
	District  string // where she is (for routing); "" when unknown
	Status    CaseStatus
	Danger    bool // she is in immediate danger
	Anonymous bool // she gave no name
	StationID int64

	NameSealed        string
	PhoneSealed       string
	DescriptionSealed string
	ContactSealed     string // ContactPrefs as JSON
	FeedbackSealed    string // her feedback comment

	WaitingUser      bool      // waiting for her: the SLA clocks are paused
	WaitingSince     time.Time // zero unless WaitingUser
	ReceivedAt       time.Time
	FirstResponseAt  time.Time // zero until the first response
	FirstResponseDue time.Time
	CloseDue         time.Time
	ResolvedAt       time.Time
	ClosedAt         time.Time
	Outcome          CaseOutcome // set while closed
	Rating           int         // 1..5 once she rated the closure; 0 before
	FeedbackAt       time.Time
	SLAFlags         int
	Cycle            int // 0, then +1 at every reopening
	NoticeSeq        int // the latest event she should be told about; > NotifiedSeq means a notice is pending
	NotifiedSeq      int
	LastSeq          int    // the head of the event chain
	LastHash         string // its hash
	AnonymisedAt     time.Time
	CreatedBy        int64 // staff id for hotline and walk-in intake; 0 from the Mini Program
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// LogValue logs ids and status only.
func (c Case) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("case_id", c.ID), slog.String("status", string(c.Status)),
		slog.Int64("station_id", c.StationID))
}

// CaseEventKind names what happened in a case event.
type CaseEventKind string

// The event kinds. Body is sealed text (notes, messages, reasons); Meta
// holds codes only, never personal data.
const (
	EventIntake     CaseEventKind = "intake"        // Meta: channel, category, district, danger, anonymous
	EventStatus     CaseEventKind = "status"        // From/ToStatus; Body: internal note; Meta: outcome on closure
	EventAssign     CaseEventKind = "assign"        // StationID; Body: reason; Meta: from_station
	EventNote       CaseEventKind = "note"          // internal note (Body)
	EventReply      CaseEventKind = "reply"         // staff message to her (Body), visible
	EventMessage    CaseEventKind = "message"       // her message (Body), visible
	EventContact    CaseEventKind = "contact"       // a call or visit recorded by staff; Meta: channel, direction; Body: note
	EventWaiting    CaseEventKind = "waiting"       // Meta: waiting=true|false (SLA pause); Body: note
	EventFeedback   CaseEventKind = "feedback"      // Meta: rating; Body: her comment
	EventContactSet CaseEventKind = "contact_prefs" // she changed her safe-contact preferences (sealed on the case)
	EventSLA        CaseEventKind = "sla"           // Meta: sla=first_response|close, step=reminded|breached
	EventAnonymised CaseEventKind = "anonymised"    // retention cleared the personal fields
	EventCategory   CaseEventKind = "category"      // staff corrected the category; Meta: from, to; Body: the reason (internal)
)

// Actors of case events. The owner is never named by id in an event: the
// case row links her, and anonymisation removes that link.
const (
	ActorOwner  = "owner"
	ActorStaff  = "staff"
	ActorSystem = "system"
)

// CaseEvent is one entry of a case's append-only event log. Events chain
// by hash: Hash = SHA-256(PrevHash || Canonical()). The sealed body is
// covered through BodyDigest (SHA-256 of the ciphertext), so anonymisation
// can clear the ciphertext and the chain still verifies, while any other
// change to it is detected.
type CaseEvent struct {
	ID         int64
	CaseID     int64
	Seq        int // 1, 2, … per case
	Kind       CaseEventKind
	ActorKind  string
	ActorID    int64 // staff id for staff events; 0 otherwise
	FromStatus CaseStatus
	ToStatus   CaseStatus
	StationID  int64 // the case's station after the event
	Visible    bool  // shown to the owner
	Body       string
	BodySealed string
	BodyDigest string
	Meta       map[string]string
	At         time.Time
	PrevHash   string
	Hash       string
}

// BodyDigestOf is the digest of a sealed body that the chain covers: the
// hex SHA-256 of the ciphertext, or "" for no body.
func BodyDigestOf(sealed string) string {
	if sealed == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(sealed))
	return hex.EncodeToString(sum[:])
}

// Canonical is the byte encoding of the event that its hash covers: every
// field except ID, Body, BodySealed, PrevHash and Hash, each length-
// prefixed in a fixed order, Meta with its keys sorted and At in UTC
// microseconds. It holds no plaintext of the body.
func (e CaseEvent) Canonical() []byte {
	var b []byte
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	num := func(n int64) { b = binary.BigEndian.AppendUint64(b, uint64(n)) }
	str("wanjia-case-event-v1")
	num(e.CaseID)
	num(int64(e.Seq))
	str(string(e.Kind))
	str(e.ActorKind)
	num(e.ActorID)
	str(string(e.FromStatus))
	str(string(e.ToStatus))
	num(e.StationID)
	if e.Visible {
		num(1)
	} else {
		num(0)
	}
	str(e.BodyDigest)
	keys := make([]string, 0, len(e.Meta))
	for k := range e.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	num(int64(len(keys)))
	for _, k := range keys {
		str(k)
		str(e.Meta[k])
	}
	num(e.At.UTC().Truncate(time.Microsecond).UnixMicro())
	return b
}

// ChainHash is the hex SHA-256 of prev (the previous event's hash, "" for
// the first) followed by the canonical encoding.
func (e CaseEvent) ChainHash(prev string) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(e.Canonical())
	return hex.EncodeToString(h.Sum(nil))
}

// MetaJSON is Meta as a JSON object ("{}" when empty): encoding/json sorts
// the keys, so equal maps encode equally.
func (e CaseEvent) MetaJSON() string {
	if len(e.Meta) == 0 {
		return "{}"
	}
	b, err := json.Marshal(e.Meta)
	if err != nil { // a map[string]string always encodes
		return "{}"
	}
	return string(b)
}

// LogValue logs ids and kind only.
func (e CaseEvent) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("case_id", e.CaseID), slog.Int("seq", e.Seq), slog.String("kind", string(e.Kind)))
}

// ChainHead is where a case's event chain stood at some time: the seq and
// hash of its last event by then.
type ChainHead struct {
	CaseID int64
	Seq    int
	Hash   string
}

// ChainProblem is the first place a case's event chain does not verify.
type ChainProblem struct {
	CaseID int64
	CaseNo string
	Seq    int    // the first event that does not verify (LastSeq+1 for a missing tail)
	Reason string // seq_gap, body_digest_mismatch, hash_mismatch, head_mismatch, status_mismatch, category_mismatch
}

// VerifyChain checks events (in seq order) of case c: seqs 1..n without a
// gap, each body's digest, each hash over the previous one, the case's
// head (LastSeq, LastHash) and status against the last event that set
// one, and its category against the intake's and the corrections after
// it. It returns nil when everything verifies.
func VerifyChain(c Case, events []CaseEvent) *ChainProblem {
	bad := func(seq int, reason string) *ChainProblem {
		return &ChainProblem{CaseID: c.ID, CaseNo: c.CaseNo, Seq: seq, Reason: reason}
	}
	prev := ""
	status := CaseStatus("")
	category, categorySeq := "", 0
	for i, e := range events {
		switch {
		case e.Kind == EventIntake && e.Meta["category"] != "":
			category, categorySeq = e.Meta["category"], e.Seq
		case e.Kind == EventCategory:
			category, categorySeq = e.Meta["to"], e.Seq
		}
		if e.Seq != i+1 || e.CaseID != c.ID {
			return bad(i+1, "seq_gap")
		}
		if e.BodySealed != "" && BodyDigestOf(e.BodySealed) != e.BodyDigest {
			return bad(e.Seq, "body_digest_mismatch")
		}
		if e.PrevHash != prev || e.ChainHash(prev) != e.Hash {
			return bad(e.Seq, "hash_mismatch")
		}
		prev = e.Hash
		if e.ToStatus != "" {
			status = e.ToStatus
		}
	}
	if c.LastSeq != len(events) || c.LastHash != prev {
		return bad(len(events)+1, "head_mismatch")
	}
	if status != c.Status {
		return bad(len(events), "status_mismatch")
	}
	if categorySeq > 0 && category != string(c.Category) {
		return bad(categorySeq, "category_mismatch")
	}
	return nil
}

// Station is a 12338 service station: a law firm, a counselling centre, a
// legal-aid office… that takes cases of some categories in some districts
// (none listed: every category, the whole city), up to Capacity open cases.
// DutyStaffIDs are the staff told about its cases (assignments, messages,
// SLA reminders).
type Station struct {
	ID           int64
	Name         string
	Kind         string // law_firm, counselling, legal_aid, shelter, other
	Categories   []CaseCategory
	Districts    []string
	Capacity     int
	DutyStaffIDs []int64
	Phone        string // the station's public number, for the emergency guidance
	Address      string
	Active       bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Covers reports whether the station takes cases of category in district.
func (s Station) Covers(category CaseCategory, district string) bool {
	if len(s.Categories) > 0 && !slices.Contains(s.Categories, category) {
		return false
	}
	return len(s.Districts) == 0 || district == "" || slices.Contains(s.Districts, district)
}

// WorkCalendar is the part of the 12338 working calendar staff keep in the
// database: holidays (no working hours) and make-up working days (调休:
// working days with the normal hours whatever their weekday), dates as
// "2006-01-02" in Asia/Shanghai, sorted, none in both lists. Version 0
// means never saved: the configuration's lists apply. Working hours and
// weekdays stay in the configuration.
type WorkCalendar struct {
	Holidays  []string
	Workdays  []string
	Version   int
	UpdatedBy int64 // staff id of the last save
	UpdatedAt time.Time
}

// CaseAccess is one staff read of a case's personal data: the access log.
type CaseAccess struct {
	ID        int64
	CaseID    int64
	StaffID   int64
	Username  string
	Action    string // view (the case page) or reveal (unmasked name and phone)
	Fields    string // what was shown, e.g. "description,messages,notes" or "name,phone"
	Reason    string // why (required for a reveal)
	IP        string
	RequestID string
	At        time.Time
}

// CaseFilter narrows a case list. The scope fields are set by the service
// from the caller: StationID for a station caseworker, District for a
// district coordinator; zero fields match everything.
type CaseFilter struct {
	UserID    int64
	StationID int64
	District  string
	Status    CaseStatus
	Category  CaseCategory
	Danger    *bool
	Waiting   *bool
	OpenOnly  bool
}

// CaseNoPrefix starts every case number.
const CaseNoPrefix = "WQ"

// ValidCaseNo reports whether s has the shape of a case number: "WQ",
// eight digits (the intake day) and 13 characters of base32 (A–Z, 2–7).
func ValidCaseNo(s string) bool {
	if len(s) != 23 || s[:2] != CaseNoPrefix {
		return false
	}
	for i := 2; i < 10; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	for i := 10; i < 23; i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// Figure keys of the cases area beyond the ones the annual summary reads
// (model/figure.go).
const (
	FigCasesClosedInPeriod     = "cases.closed_in_period"      // closures in the period, whatever the intake date
	FigCaseFirstResponseMedian = "cases.first_response_median" // hours, median, cases received in the period
	FigCaseCloseMedian         = "cases.close_median"          // days, median, cases received in the period and closed by its end
	FigCaseBreaches            = "cases.sla_breaches"          // SLA breaches recorded in the period
)
