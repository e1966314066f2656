package model

import (
	"context"
	"time"
)

// Figure is one number the federation reports, with the definition it is
// computed by written beside it. Each area owns its figures; the staff
// workspace (GET /api/admin/stats/overview, /reports/annual) only composes
// them.
type Figure struct {
	Key        string  `json:"key"`        // stable, e.g. "cases.received"; see the Fig* constants
	Name       string  `json:"name"`       // Chinese label, e.g. "接待维权"
	Value      float64 `json:"value"`      // counts are whole numbers; rates are 0..1
	Unit       string  `json:"unit"`       // Chinese unit: "起", "人次", "场", "个", "%" (Value 0..1) …
	Definition string  `json:"definition"` // how the number is computed, in Chinese, one sentence
	// Breakdown splits the figure (by category, station, month …), keyed by
	// a code; optional.
	Breakdown map[string]float64 `json:"breakdown,omitempty"`
}

// FigureSection is one area's figures for a period [From, To).
type FigureSection struct {
	Area    string   `json:"area"`  // "followers", "campaigns", "lessons", "fairs", "cases", "articles"
	Title   string   `json:"title"` // Chinese, e.g. "12338维权"
	Figures []Figure `json:"figures"`
}

// Get returns the figure with key and whether it is there.
func (s FigureSection) Get(key string) (Figure, bool) {
	for _, f := range s.Figures {
		if f.Key == key {
			return f, true
		}
	}
	return Figure{}, false
}

// FigureSource is implemented by every area that reports figures. from is
// inclusive, to exclusive; both are instants (callers pass Asia/Shanghai
// day boundaries).
type FigureSource interface {
	FigureSection(ctx context.Context, from, to time.Time) (FigureSection, error)
}

// The keys the annual summary paragraph reads. An area may report more
// figures than these; these must keep their meaning.
const (
	FigFollowersGained = "followers.gained" // OA subscribe events in the period
	FigFollowersLost   = "followers.lost"   // OA unsubscribe events in the period

	FigNominations      = "campaigns.nominations" // nominations submitted; Breakdown by category code
	FigNominationsShown = "campaigns.approved"    // nominations approved for the gallery
	FigVotes            = "campaigns.votes"       // valid (not voided) votes cast
	FigAwards           = "campaigns.winners"     // winners fixed in campaigns whose results fell in the period

	FigLessonsPublished = "lessons.published" // lessons published
	FigLessonReach      = "lessons.reach"     // notices delivered for lesson pushes (families reached)
	FigLessonCompleted  = "lessons.completed" // lesson completions reported

	FigFairsHeld  = "fairs.held"       // fairs that ended in the period
	FigSignups    = "fairs.signups"    // signups for those fairs
	FigAttendance = "fairs.attended"   // checked in
	FigPlacements = "fairs.placements" // women placed (recorded by staff)

	FigCasesReceived    = "cases.received"     // 起: cases opened in the period
	FigCaseContacts     = "cases.contacts"     // 人次: contacts (intake + messages from the person + hotline/walk-in contacts)
	FigCasesClosed      = "cases.closed"       // cases of the period closed by its end
	FigCaseClosureRate  = "cases.closure_rate" // closed ÷ received, 0..1
	FigArticles         = "articles.published" // articles published or mass-sent
	FigArticleReads     = "articles.reads"     // read count (人次) over the period
	FigArticleReadUsers = "articles.read_users"
)
