package model

import (
	"log/slog"
	"time"
)

// CampaignCategory is one award category of a 最美家庭 campaign. Quota is
// the number of winners fixed in it when the vote window ends.
type CampaignCategory struct {
	Code  string // stable, [a-z0-9_], e.g. "best_mother"
	Name  string // Chinese, e.g. "最美母亲"
	Quota int
}

// DefaultCampaignCategories are the categories a new campaign starts with
// when staff give none (the federation's usual eight); staff edit them.
func DefaultCampaignCategories() []CampaignCategory {
	return []CampaignCategory{
		{Code: "best_mother", Name: "最美母亲", Quota: 10},
		{Code: "green_family", Name: "绿色家庭", Quota: 10},
		{Code: "clean_family", Name: "廉洁家庭", Quota: 10},
		{Code: "harmonious_family", Name: "和睦家庭", Quota: 10},
		{Code: "reading_family", Name: "书香家庭", Quota: 10},
		{Code: "best_mother_in_law", Name: "最美婆婆", Quota: 10},
		{Code: "best_daughter_in_law", Name: "最美媳妇", Quota: 10},
		{Code: "best_children", Name: "最美子女", Quota: 10},
	}
}

// Limits of a campaign's vote rules. Slots are kept as bits of a uint64
// on the hot path, so neither limit may exceed 64.
const (
	MaxVotesPerDay        = 50
	MaxPerNominationDaily = 10
)

// Campaign is a 最美家庭 campaign (德润万家). Its windows are half-open
// [From, To): nominations are taken in the nominate window, reviewers
// decide in the review window, the public votes in the vote window, and
// winners are fixed when the vote window ends and shown from ResultsAt.
// VotesPerDay is what one voter may cast per day (Asia/Shanghai) in the
// whole campaign, PerNominationDaily what one voter may give one
// nomination per day.
type Campaign struct {
	ID                 int64
	Title              string
	Description        string
	Categories         []CampaignCategory
	NominateFrom       time.Time
	NominateTo         time.Time
	ReviewFrom         time.Time
	ReviewTo           time.Time
	VoteFrom           time.Time
	VoteTo             time.Time
	ResultsAt          time.Time
	VotesPerDay        int
	PerNominationDaily int
	ResultsFixedAt     time.Time // zero until the winners are fixed
	ResultsDigest      string    // the ledger digest when the winners were fixed
	CreatedBy          int64
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// CampaignPhase is where a campaign stands at an instant.
type CampaignPhase string

// The phases, in order. Windows may overlap: voting wins over nominating,
// and "reviewing" is the gap between the end of nominations and the start
// of voting (reviews themselves follow the review window).
const (
	PhaseUpcoming   CampaignPhase = "upcoming"
	PhaseNominating CampaignPhase = "nominating"
	PhaseReviewing  CampaignPhase = "reviewing"
	PhaseVoting     CampaignPhase = "voting"
	PhaseCounting   CampaignPhase = "counting" // the vote window ended, results not yet shown
	PhaseResults    CampaignPhase = "results"
)

func within(now, from, to time.Time) bool { return !now.Before(from) && now.Before(to) }

// Phase returns the campaign's phase at now.
func (c Campaign) Phase(now time.Time) CampaignPhase {
	switch {
	case !now.Before(c.ResultsAt) && !c.ResultsFixedAt.IsZero():
		return PhaseResults
	case !now.Before(c.VoteTo):
		return PhaseCounting
	case !now.Before(c.VoteFrom):
		return PhaseVoting
	case c.NominationOpen(now):
		return PhaseNominating
	case now.Before(c.NominateFrom):
		return PhaseUpcoming
	}
	return PhaseReviewing // nominations closed, voting not open yet
}

// NominationOpen reports whether nominations are taken at now.
func (c Campaign) NominationOpen(now time.Time) bool {
	return within(now, c.NominateFrom, c.NominateTo)
}

// ReviewOpen reports whether reviewers may decide at now.
func (c Campaign) ReviewOpen(now time.Time) bool { return within(now, c.ReviewFrom, c.ReviewTo) }

// VoteOpen reports whether votes are taken at now.
func (c Campaign) VoteOpen(now time.Time) bool { return within(now, c.VoteFrom, c.VoteTo) }

// ResultsShown reports whether the winners are public at now.
func (c Campaign) ResultsShown(now time.Time) bool {
	return !c.ResultsFixedAt.IsZero() && !now.Before(c.ResultsAt)
}

// Category returns the category with code.
func (c Campaign) Category(code string) (CampaignCategory, bool) {
	for _, cat := range c.Categories {
		if cat.Code == code {
			return cat, true
		}
	}
	return CampaignCategory{}, false
}

// NominationStatus is where a nomination stands. Only approved ones are
// public.
type NominationStatus string

// The nomination statuses. A pending nomination may be edited by its
// nominator; a reviewer approves or rejects it (with a reason). An
// approved nomination may later be rejected (taken down); a rejected one
// is final.
const (
	NominationPending  NominationStatus = "pending"
	NominationApproved NominationStatus = "approved"
	NominationRejected NominationStatus = "rejected"
)

// Content-security suggestions (WeChat msg_sec_check / media_check_async).
// The empty string is "not checked yet".
const (
	SuggestPass   = "pass"
	SuggestReview = "review"
	SuggestRisky  = "risky"
)

// Machine verdicts of a nomination, from its text and photo checks.
const (
	VerdictPending = "pending" // a photo check has not come back yet
	VerdictPass    = "pass"
	VerdictReview  = "review" // WeChat suggests a human look closely
	VerdictRisky   = "risky"  // machine-rejected: can never be approved
)

// NominationPhoto is one photo of a nomination: an upload of the
// nominator's, and its media check (joined by WeChat's trace_id).
type NominationPhoto struct {
	ID       int64
	UploadID int64
	Key      string // the upload's storage key
	TraceID  string // media_check_async's trace_id; empty until submitted
	Suggest  string // empty until the result came back
	Label    int
	Attempts int // media checks submitted for it
}

// Nomination is a family nominated for a campaign category. Story and
// FamilyName are personal data: LogValue leaves them out.
type Nomination struct {
	ID           int64
	CampaignID   int64
	Category     string
	FamilyName   string
	Story        string
	Photos       []NominationPhoto
	UserID       int64 // the nominator
	ConsentAt    time.Time
	Status       NominationStatus
	TextSuggest  string // msg_sec_check of the story and family name
	TextLabel    int
	TextTraceID  string
	RejectReason string
	ReviewedBy   int64
	ReviewedAt   time.Time
	ApprovedAt   time.Time
	Votes        int64 // valid (not voided) votes, kept with the ledger
	ShareCodeKey string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// LogValue logs ids and status only.
func (n Nomination) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("nomination_id", n.ID), slog.Int64("campaign_id", n.CampaignID),
		slog.String("status", string(n.Status)))
}

// MachineVerdict combines the text check and every photo check: risky
// when any is risky, pending while a photo has no result, review when any
// suggests review, else pass.
func (n Nomination) MachineVerdict() string {
	pending, review := false, n.TextSuggest == SuggestReview
	if n.TextSuggest == SuggestRisky {
		return VerdictRisky
	}
	if n.TextSuggest == "" {
		pending = true
	}
	for _, p := range n.Photos {
		switch p.Suggest {
		case SuggestRisky:
			return VerdictRisky
		case SuggestReview:
			review = true
		case SuggestPass:
		default:
			pending = true
		}
	}
	switch {
	case pending:
		return VerdictPending
	case review:
		return VerdictReview
	}
	return VerdictPass
}

// Public reports whether n may be shown to the public: approved.
func (n Nomination) Public() bool { return n.Status == NominationApproved }

// VoteAttempt is one vote to record in the ledger. Day is the voter's
// day in Asia/Shanghai as yyyymmdd. UsedSlots and UsedNSlots are the
// slots already known taken (bit s-1 for slot s; a lower bound, from the
// Redis fast path), which the store starts from.
type VoteAttempt struct {
	CampaignID   int64
	NominationID int64
	Category     string
	VoterID      int64
	Day          int
	Limit        int // the campaign's VotesPerDay
	NLimit       int // the campaign's PerNominationDaily
	UsedSlots    uint64
	UsedNSlots   uint64
	IPHash       string
	DeviceHash   string
	At           time.Time
}

// VoteOutcome is what became of a VoteAttempt: recorded with its slots
// and the nomination's valid votes after the commit, refused because the
// voter's limits were used up (Accepted false, Err nil), or failed (Err).
type VoteOutcome struct {
	Accepted bool
	Slot     int
	NSlot    int
	Votes    int64
	Err      error
}

// VoterSlot is one ledger row of a voter's day: the slot it took in the
// campaign and in the nomination.
type VoterSlot struct {
	Slot         int
	NominationID int64
	NSlot        int
}

// NominationCount is a nomination's valid votes, for leaderboards.
type NominationCount struct {
	NominationID int64
	Category     string
	Votes        int64
}

// VoteFilter selects ledger rows of a campaign to void: by voter, by
// nomination and/or by time range [From, To). At least one must be set.
type VoteFilter struct {
	VoterID      int64
	NominationID int64
	From         time.Time
	To           time.Time
}

// Empty reports whether f selects nothing in particular.
func (f VoteFilter) Empty() bool {
	return f.VoterID == 0 && f.NominationID == 0 && f.From.IsZero() && f.To.IsZero()
}

// LedgerRow is a ledger row as the digest and the public export see it.
type LedgerRow struct {
	ID           int64
	NominationID int64
	VoterID      int64
	Day          int
	Voided       bool
}

// Winner sources.
const (
	WinnerByVotes  = "votes"
	WinnerOverride = "override"
)

// Winner is one winner of a campaign category. Rows are never deleted: a
// reviewer's override replaces the list of a category (ReplacedAt set on
// the old rows) and records its reason.
type Winner struct {
	ID           int64
	CampaignID   int64
	Category     string
	NominationID int64
	Rank         int
	Votes        int64
	Source       string
	Reason       string
	DecidedBy    int64 // 0 for the scheduled job
	DecidedAt    time.Time
	ReplacedAt   time.Time
	FamilyName   string // filled on reads
}

// Gallery sort orders.
const (
	SortVotes  = "votes"
	SortRecent = "recent"
)

// GalleryQuery asks for one page of a campaign's approved nominations.
type GalleryQuery struct {
	CampaignID int64
	Category   string // "" for every category
	Sort       string // SortVotes or SortRecent
	Cursor     string
	Limit      int
}

// NominationFilter narrows the reviewers' list; zero fields match
// everything.
type NominationFilter struct {
	CampaignID int64
	Status     NominationStatus
	Category   string
}

// ReviewDecision is a reviewer's decision on a nomination. Validate, when
// set, is checked on the nomination as locked for the change.
type ReviewDecision struct {
	Approve  bool
	Reason   string
	StaffID  int64
	At       time.Time
	Validate func(n Nomination) error
}

// VoteTotals are a campaign's ledger totals.
type VoteTotals struct {
	Total          int64            // every ledger row
	Voided         int64            // voided rows
	Voters         int64            // distinct voters
	VoidedByReason map[string]int64 // voided rows per reason
}

// VoteBurst is a minute in which one key (a nomination id, or a client IP
// hash) got at least a threshold of valid votes.
type VoteBurst struct {
	Key    string
	Minute int64 // unix minute
	Votes  int64
}

// FreshVoters is one client IP (hashed) from which at least a threshold
// of distinct voters voted, with how many of them had an account younger
// than the freshness window at their first vote from it.
type FreshVoters struct {
	IPHash string
	Voters int64
	Fresh  int64
}

// HourShare is a nomination's valid votes and those cast in the odd hours
// (00:00–06:00 Asia/Shanghai).
type HourShare struct {
	NominationID int64
	Votes        int64
	Odd          int64
}

// Standing is an approved nomination's place in the count.
type Standing struct {
	NominationID int64
	Category     string
	Votes        int64
	ApprovedAt   time.Time
}

// CampaignFigures are the 最美家庭 figures of a period [from, to).
type CampaignFigures struct {
	Nominations         int64            // nominations submitted in the period
	NominationsByCat    map[string]int64 // by category code
	Approved            int64            // nominations approved in the period (and still approved)
	Votes               int64            // valid votes cast in the period
	VotesVoided         int64            // votes cast in the period and voided since
	Winners             int64            // current winners of campaigns whose results were shown in the period
	WinnersByCat        map[string]int64
	CampaignsWithResult int64 // campaigns whose results were shown in the period
}

// VoteCheck is one vote attempt as the Redis fast path sees it.
type VoteCheck struct {
	CampaignID   int64
	NominationID int64
	VoterID      int64
	Day          int
	Limit        int // day slots, ≤ 64
	NLimit       int // nomination slots, ≤ 64
	IP           string
	Device       string
	Minute       int64 // the rate limits' window: a unix minute
}

// VoteState is what the fast path knows of a voter's day: the slots
// committed votes took (bit s-1 for slot s), whether the record was primed
// from the ledger (when not, Used and NUsed may miss votes), and how many
// votes the client IP and the device sent in the current minute (this one
// included).
type VoteState struct {
	Used, NUsed       uint64
	Primed            bool
	IPVotes, DevVotes int64
}

// CommittedVote is a vote the ledger holds, with its nomination's valid
// votes after the commit.
type CommittedVote struct {
	CampaignID   int64
	NominationID int64
	Category     string
	VoterID      int64
	Day          int
	Slot, NSlot  int
	Votes        int64
}

// NominationScore is a nomination's valid votes after a commit, for its
// campaign's leaderboards.
type NominationScore struct {
	CampaignID   int64
	NominationID int64
	Category     string
	Votes        int64
}
