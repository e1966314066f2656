package model

// Recipient is who a notice is for: a Mini Program user, an OA follower, or
// a staff member (on-duty alerts). Set one; the notification centre finds
// the channels each can be reached on (for a user, also her OA follower
// record through the unionid).
type Recipient struct {
	UserID  int64  // Mini Program user
	OpenID  string // OA follower openid, when the notice is for a follower who is not (yet) a user
	StaffID int64  // a staff member: console alert, plus WeChat when her account is bound
}

// Notice is one notification to one recipient. Topic selects the
// configured templates (MP subscribe template, OA template) and their field
// mapping; Fields are the values by logical name ("title", "time", "status",
// …). DedupeKey makes Notify idempotent: a notice with a key already
// accepted is not sent again (retries, restarts, publishing twice).
type Notice struct {
	Topic     string            // e.g. "crisis_alert", "case_update", "lesson_published", "signup_promoted"
	Fields    map[string]string // template values by logical name
	Page      string            // Mini Program page to open (path and query)
	URL       string            // web page to open from an OA message when no page applies
	Urgent    bool              // ignores quiet hours (crisis alerts, promotions with a deadline)
	DedupeKey string            // required: unique per intended delivery, e.g. "lesson:12:user:34"
	PushID    int64             // the push (broadcast) this notice belongs to; 0 for a single notice
}
