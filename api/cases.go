package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/service/cases"
)

// Cases is what the 12338 handlers need (cases.Service satisfies it).
// Role and scope checks are the service's: out of scope is 404.
type Cases interface {
	SubmitMP(ctx context.Context, userID int64, in cases.IntakeInput) (cases.IntakeResult, error)
	MyCases(ctx context.Context, userID int64, p model.Page) ([]model.Case, string, error)
	MyCase(ctx context.Context, userID int64, no string) (cases.OwnerView, error)
	PostMessage(ctx context.Context, userID int64, no, text string) (cases.Update, error)
	Feedback(ctx context.Context, userID int64, no string, rating int, comment string) (model.Case, error)
	SetContact(ctx context.Context, userID int64, no string, cp model.ContactPrefs) (model.ContactPrefs, error)

	SubmitStaff(ctx context.Context, in cases.IntakeInput) (cases.IntakeResult, error)
	List(ctx context.Context, f model.CaseFilter, p model.Page) ([]cases.ListItem, string, error)
	Detail(ctx context.Context, no string) (cases.StaffView, error)
	Reveal(ctx context.Context, no, reason string) (cases.Revealed, error)
	AccessLog(ctx context.Context, no string, p model.Page) ([]model.CaseAccess, string, error)
	Verify(ctx context.Context, no string) (cases.VerifyResult, error)
	VerifyAll(ctx context.Context) (cases.VerifyAllResult, error)
	AnchorAt(ctx context.Context, at time.Time) (cases.Anchor, error)
	Route(ctx context.Context, no string) ([]cases.Suggestion, error)
	Assign(ctx context.Context, no string, stationID int64, reason string) (model.Case, error)
	Transition(ctx context.Context, no string, in cases.TransitionInput) (model.Case, error)
	SetCategory(ctx context.Context, no string, category model.CaseCategory, reason string) (model.Case, error)
	AddNote(ctx context.Context, no, text string) (cases.EventView, error)
	Reply(ctx context.Context, no, text string) (cases.EventView, error)
	RecordContact(ctx context.Context, no string, in cases.ContactInput) (cases.EventView, error)
	SetWaiting(ctx context.Context, no string, waiting bool, note string) (model.Case, error)
	Figures(ctx context.Context, from, to time.Time) (model.FigureSection, error)
	RetentionPlan(ctx context.Context) (cases.RetentionPlan, error)
	RunRetention(ctx context.Context) (int, error)

	Calendar(ctx context.Context) (cases.CalendarView, error)
	SetCalendar(ctx context.Context, in cases.CalendarInput) (cases.CalendarView, error)

	Stations(ctx context.Context, activeOnly bool) ([]cases.StationLoad, error)
	CreateStation(ctx context.Context, in cases.StationInput) (model.Station, error)
	UpdateStation(ctx context.Context, id int64, in cases.StationInput) (model.Station, error)
	DeactivateStation(ctx context.Context, id int64) (model.Station, error)
}

// addCaseRoutes adds the 12338 routes (with Deps.Cases and Deps.Accounts):
// a person's requests, messages, feedback and contact preferences in the
// Mini Program; intake, lists, the logged case page and reveal, routing,
// assignment, transitions, category corrections, notes, replies,
// contacts, the SLA pause, the access log, chain verification, figures,
// retention, stations and the working calendar for staff. Every answer
// about a case is no-store.
func (s *server) addCaseRoutes(api *Router) {
	if s.Cases == nil || s.Accounts == nil {
		return
	}
	svc := s.Cases
	mp := api.Group("/mp", "mp", "mp", s.requireMP(), noStore)
	mp.Handle(http.MethodPost, "/cases", "Ask 12338 for help (201; danger adds the emergency guidance)", s.wrap(handleSubmitCaseMP(svc)))
	mp.Handle(http.MethodGet, "/me/cases", "The caller's 12338 cases", s.wrap(handleMyCases(svc)))
	mp.Handle(http.MethodGet, "/cases/:case_no", "One of the caller's cases with its updates (others: 404)", s.wrap(handleMyCase(svc)))
	mp.Handle(http.MethodPost, "/cases/:case_no/messages", "Write to the caseworkers", s.wrap(handleCaseMessage(svc)))
	mp.Handle(http.MethodPost, "/cases/:case_no/feedback", "Rate a closed case (once per closure)", s.wrap(handleCaseFeedback(svc)))
	mp.Handle(http.MethodPut, "/cases/:case_no/contact", "Change the safe-contact preferences", s.wrap(handleCaseContactPrefs(svc)))

	cw := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleCaseworker), noStore)
	cw.Handle(http.MethodGet, "/cases", "Cases in the caller's scope, masked (?status=&category=&station_id=&danger=&waiting=&open=)",
		s.wrap(handleListCases(svc)))
	cw.Handle(http.MethodPost, "/cases", "Record a hotline call or a visit as a case (audited)", s.wrap(handleSubmitCaseStaff(svc)))
	cw.Handle(http.MethodGet, "/cases/figures", "Cases received (起), contacts (人次), closed, closure rate, medians, breaches (?from=&to=)",
		s.wrap(handleCaseFigures(svc)))
	cw.Handle(http.MethodGet, "/cases/:case_no", "One case (each read written to the access log)", s.wrap(handleCaseDetail(svc)))
	cw.Handle(http.MethodPost, "/cases/:case_no/reveal", "Her full name and phone, for a stated reason (logged)", s.wrap(handleCaseReveal(svc)))
	cw.Handle(http.MethodGet, "/cases/:case_no/access-log", "Who read the case, newest first", s.wrap(handleCaseAccessLog(svc)))
	cw.Handle(http.MethodGet, "/cases/:case_no/verify", "Check the case's hash-chained event log", s.wrap(handleCaseVerify(svc)))
	cw.Handle(http.MethodGet, "/cases/:case_no/route", "Stations suggested by category, district and load", s.wrap(handleCaseRoute(svc)))
	cw.Handle(http.MethodPost, "/cases/:case_no/assign", "Assign or transfer to a station, with a reason (audited)", s.wrap(handleCaseAssign(svc)))
	cw.Handle(http.MethodPost, "/cases/:case_no/transition", "Change the status (allowed transitions only; audited)",
		s.wrap(handleCaseTransition(svc)))
	cw.Handle(http.MethodPost, "/cases/:case_no/category", "Correct the category, with a reason (an internal event; audited)",
		s.wrap(handleCaseCategory(svc)))
	cw.Handle(http.MethodPost, "/cases/:case_no/notes", "Add an internal note (audited)", s.wrap(handleCaseNote(svc)))
	cw.Handle(http.MethodPost, "/cases/:case_no/messages", "Send her a message (audited)", s.wrap(handleCaseReply(svc)))
	cw.Handle(http.MethodPost, "/cases/:case_no/contacts", "Record a call or visit (audited)", s.wrap(handleCaseContact(svc)))
	cw.Handle(http.MethodPost, "/cases/:case_no/waiting", "Pause or resume the SLA while waiting for her (audited)",
		s.wrap(handleCaseWaiting(svc)))
	cw.Handle(http.MethodGet, "/stations", "Service stations with their loads (?active=true)", s.wrap(handleListStations(svc)))
	cw.Handle(http.MethodGet, "/calendar", "The SLA's working calendar: hours, weekdays, holidays and make-up working days",
		s.wrap(handleCalendar(svc)))

	adm := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleAdmin), noStore)
	adm.Handle(http.MethodGet, "/cases/verify", "Check every case's event chain", s.wrap(handleVerifyAllCases(svc)))
	adm.Handle(http.MethodGet, "/cases/anchor",
		"The digest of every case's chain head at ?at= (RFC 3339, not in the future; now when left out): compare it with a copy kept outside",
		s.wrap(handleCasesAnchor(svc)))
	adm.Handle(http.MethodGet, "/cases/retention", "Dry run: the cases retention would anonymise and what it would clear",
		s.wrap(handleRetentionPlan(svc)))
	adm.Handle(http.MethodPost, "/cases/retention", "Anonymise the cases due now (audited)", s.wrap(handleRunRetention(svc)))
	adm.Handle(http.MethodPost, "/stations", "Create a service station (audited)", s.wrap(handleCreateStation(svc)))
	adm.Handle(http.MethodPatch, "/stations/:id", "Change a station (audited)", s.wrap(handleUpdateStation(svc)))
	adm.Handle(http.MethodDelete, "/stations/:id", "Deactivate a station (audited; never deleted)", s.wrap(handleDeactivateStation(svc)))
	adm.Handle(http.MethodPut, "/calendar", "Replace the holidays and make-up working days (audited; every copy within seconds)",
		s.wrap(handleSetCalendar(svc)))
}

// noStore keeps answers about cases out of every cache.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Next()
}

func caseNo(c *gin.Context) string { return strings.TrimSpace(c.Param("case_no")) }

type contactPrefsBody struct {
	Mode string `json:"mode"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	Note string `json:"note,omitempty"`
}

func (b contactPrefsBody) prefs() model.ContactPrefs {
	return model.ContactPrefs{Mode: model.ContactMode(b.Mode), From: b.From, To: b.To, Note: b.Note}
}

func toContactPrefsBody(cp model.ContactPrefs) contactPrefsBody {
	return contactPrefsBody{Mode: string(cp.Mode), From: cp.From, To: cp.To, Note: cp.Note}
}

type intakeRequest struct {
	Category    string            `json:"category"`
	Description string            `json:"description"`
	Name        string            `json:"name"`
	Phone       string            `json:"phone"`
	Anonymous   bool              `json:"anonymous"`
	Danger      bool              `json:"danger"`
	District    string            `json:"district"`
	Contact     *contactPrefsBody `json:"contact"`
	Channel     string            `json:"channel"` // staff intake: hotline or walk_in
}

func (r intakeRequest) input() cases.IntakeInput {
	in := cases.IntakeInput{Category: model.CaseCategory(r.Category), Description: r.Description, Name: r.Name, Phone: r.Phone,
		Anonymous: r.Anonymous, Danger: r.Danger, District: r.District, Channel: model.CaseChannel(r.Channel)}
	if r.Contact != nil {
		cp := r.Contact.prefs()
		in.Contact = &cp
	}
	return in
}

// Valid leaves the checks to the service, which knows the channel.
func (intakeRequest) Valid() map[string]string { return nil }

type emergencyAnswer struct {
	Call            string             `json:"call"`
	Hotline         string             `json:"hotline"`
	Message         string             `json:"message"`
	ProtectionOrder string             `json:"protection_order"`
	Station         *stationContactAns `json:"station,omitempty"`
}

type stationContactAns struct {
	Name    string `json:"name"`
	Phone   string `json:"phone"`
	Address string `json:"address"`
}

type intakeAnswer struct {
	CaseNo    string           `json:"case_no"`
	Status    string           `json:"status"`
	Emergency *emergencyAnswer `json:"emergency,omitempty"`
}

func toIntakeAnswer(r cases.IntakeResult) intakeAnswer {
	a := intakeAnswer{CaseNo: r.Case.CaseNo, Status: string(r.Case.Status)}
	if e := r.Emergency; e != nil {
		a.Emergency = &emergencyAnswer{Call: e.Call, Hotline: e.Hotline, Message: e.Message, ProtectionOrder: e.ProtectionOrder}
		if e.Station != nil {
			a.Emergency.Station = &stationContactAns{Name: e.Station.Name, Phone: e.Station.Phone, Address: e.Station.Address}
		}
	}
	return a
}

// handleSubmitCaseMP: POST /api/mp/cases {"category","description","name",
// "phone","anonymous","danger","district","contact":{"mode","from","to",
// "note"}} → 201 {"case_no","status":"received"} (+ "emergency" when danger).
func handleSubmitCaseMP(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		req, err := decode[intakeRequest](c)
		if err != nil {
			return err
		}
		res, err := svc.SubmitMP(c.Request.Context(), p.SubjectID, req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toIntakeAnswer(res))
		return nil
	}
}

// handleSubmitCaseStaff: POST /api/admin/cases (the same body, "channel":
// "hotline"|"walk_in") → 201 {"case_no","status"}.
func handleSubmitCaseStaff(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[intakeRequest](c)
		if err != nil {
			return err
		}
		res, err := svc.SubmitStaff(c.Request.Context(), req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toIntakeAnswer(res))
		return nil
	}
}

type caseSummaryAnswer struct {
	CaseNo       string  `json:"case_no"`
	Category     string  `json:"category"`
	CategoryName string  `json:"category_name"`
	Status       string  `json:"status"`
	StatusName   string  `json:"status_name"`
	Danger       bool    `json:"danger"`
	ReceivedAt   string  `json:"received_at"`
	UpdatedAt    string  `json:"updated_at"`
	ClosedAt     *string `json:"closed_at"`
}

func toCaseSummary(c model.Case) caseSummaryAnswer {
	return caseSummaryAnswer{CaseNo: c.CaseNo, Category: string(c.Category), CategoryName: c.Category.Name(),
		Status: string(c.Status), StatusName: c.Status.Name(), Danger: c.Danger, ReceivedAt: apiTime(c.ReceivedAt),
		UpdatedAt: apiTime(c.UpdatedAt), ClosedAt: apiTimePtr(c.ClosedAt)}
}

// handleMyCases: GET /api/mp/me/cases → {"items":[case],"next_cursor"}.
func handleMyCases(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		pg, err := pageQuery(c)
		if err != nil {
			return err
		}
		items, next, err := svc.MyCases(c.Request.Context(), p.SubjectID, pg)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(items, next, toCaseSummary))
		return nil
	}
}

type updateAnswer struct {
	At     string `json:"at"`
	Kind   string `json:"kind"`
	Status string `json:"status,omitempty"`
	Text   string `json:"text,omitempty"`
	FromMe bool   `json:"from_me"`
}

func toUpdateAnswer(u cases.Update) updateAnswer {
	return updateAnswer{At: apiTime(u.At), Kind: u.Kind, Status: string(u.Status), Text: u.Text, FromMe: u.FromMe}
}

type ownerCaseAnswer struct {
	caseSummaryAnswer
	Description string           `json:"description"`
	Name        string           `json:"name"`
	Phone       string           `json:"phone"`
	Anonymous   bool             `json:"anonymous"`
	District    string           `json:"district"`
	Contact     contactPrefsBody `json:"contact"`
	Outcome     string           `json:"outcome,omitempty"`
	Rating      int              `json:"rating"`
	CanFeedback bool             `json:"can_feedback"`
	Updates     []updateAnswer   `json:"updates"`
}

// handleMyCase: GET /api/mp/cases/:case_no → the case with "updates"
// (status changes, messages; never internal notes); 404 unless hers.
func handleMyCase(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		v, err := svc.MyCase(c.Request.Context(), p.SubjectID, caseNo(c))
		if err != nil {
			return err
		}
		ups := make([]updateAnswer, len(v.Updates))
		for i, u := range v.Updates {
			ups[i] = toUpdateAnswer(u)
		}
		c.JSON(http.StatusOK, ownerCaseAnswer{caseSummaryAnswer: toCaseSummary(v.Case), Description: v.Description,
			Name: v.Name, Phone: v.Phone, Anonymous: v.Case.Anonymous, District: v.Case.District,
			Contact: toContactPrefsBody(v.Contact), Outcome: string(v.Case.Outcome), Rating: v.Case.Rating,
			CanFeedback: v.CanFeedback, Updates: ups})
		return nil
	}
}

type textRequest struct {
	Text string `json:"text"`
	Note string `json:"note"` // accepted for "text" (POST …/notes {"note"})
}

// Valid bounds the body before the service counts characters.
func (r textRequest) Valid() map[string]string {
	if len(r.Text)+len(r.Note) > 4*8192 {
		return map[string]string{"text": "内容太长"}
	}
	return nil
}

func (r textRequest) text() string {
	if r.Text == "" {
		return r.Note
	}
	return r.Text
}

// handleCaseMessage: POST /api/mp/cases/:case_no/messages {"text"} → 201
// the update.
func handleCaseMessage(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		req, err := decode[textRequest](c)
		if err != nil {
			return err
		}
		u, err := svc.PostMessage(c.Request.Context(), p.SubjectID, caseNo(c), req.text())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toUpdateAnswer(u))
		return nil
	}
}

type feedbackRequest struct {
	Rating  int    `json:"rating"`
	Comment string `json:"comment"`
}

func (feedbackRequest) Valid() map[string]string { return nil }

// handleCaseFeedback: POST /api/mp/cases/:case_no/feedback {"rating":1..5,
// "comment"} → {"case_no","rating"}; 409 not_closed / already_rated.
func handleCaseFeedback(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		req, err := decode[feedbackRequest](c)
		if err != nil {
			return err
		}
		cs, err := svc.Feedback(c.Request.Context(), p.SubjectID, caseNo(c), req.Rating, req.Comment)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"case_no": cs.CaseNo, "rating": cs.Rating})
		return nil
	}
}

func (contactPrefsBody) Valid() map[string]string { return nil }

// handleCaseContactPrefs: PUT /api/mp/cases/:case_no/contact {"mode":"any"|
// "none"|"mp_only"|"window","from","to","note"} → the preferences.
func handleCaseContactPrefs(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		req, err := decode[contactPrefsBody](c)
		if err != nil {
			return err
		}
		cp, err := svc.SetContact(c.Request.Context(), p.SubjectID, caseNo(c), req.prefs())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toContactPrefsBody(cp))
		return nil
	}
}

type staffCaseAnswer struct {
	caseSummaryAnswer
	Channel          string  `json:"channel"`
	District         string  `json:"district"`
	Anonymous        bool    `json:"anonymous"`
	StationID        int64   `json:"station_id"`
	Name             string  `json:"name,omitempty"`  // masked; left out of the answers to writes
	Phone            string  `json:"phone,omitempty"` // masked; idem
	WaitingUser      bool    `json:"waiting_user"`
	FirstResponseAt  *string `json:"first_response_at"`
	FirstResponseDue string  `json:"first_response_due"`
	CloseDue         string  `json:"close_due"`
	FirstOverdue     bool    `json:"first_response_overdue"`
	CloseOverdue     bool    `json:"close_overdue"`
	Outcome          string  `json:"outcome,omitempty"`
	Rating           int     `json:"rating"`
	Anonymised       bool    `json:"anonymised"`
}

func toStaffCaseAnswer(c model.Case, name, phone string) staffCaseAnswer {
	return staffCaseAnswer{caseSummaryAnswer: toCaseSummary(c), Channel: string(c.Channel), District: c.District,
		Anonymous: c.Anonymous, StationID: c.StationID, Name: name, Phone: phone, WaitingUser: c.WaitingUser,
		FirstResponseAt: apiTimePtr(c.FirstResponseAt), FirstResponseDue: apiTime(c.FirstResponseDue),
		CloseDue: apiTime(c.CloseDue), FirstOverdue: c.SLAFlags&model.SLAFirstBreached != 0,
		CloseOverdue: c.SLAFlags&model.SLACloseBreached != 0, Outcome: string(c.Outcome), Rating: c.Rating,
		Anonymised: !c.AnonymisedAt.IsZero()}
}

// boolQuery reads an optional true/false query parameter.
func boolQuery(c *gin.Context, name string) (*bool, error) {
	v := c.Query(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, model.Invalid(map[string]string{name: "须为 true 或 false"})
	}
	return &b, nil
}

// handleListCases: GET /api/admin/cases?status=&category=&station_id=&danger=
// &waiting=&open=&cursor=&limit= → {"items":[case, masked],"next_cursor"}.
func handleListCases(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		pg, err := pageQuery(c)
		if err != nil {
			return err
		}
		f := model.CaseFilter{Status: model.CaseStatus(c.Query("status")), Category: model.CaseCategory(c.Query("category"))}
		if f.Status != "" && !f.Status.Valid() {
			return model.Invalid(map[string]string{"status": "未知的状态"})
		}
		if f.Category != "" && !f.Category.Valid() {
			return model.Invalid(map[string]string{"category": "未知的类别"})
		}
		if f.StationID, err = idQuery(c, "station_id"); err != nil {
			return err
		}
		if f.Danger, err = boolQuery(c, "danger"); err != nil {
			return err
		}
		if f.Waiting, err = boolQuery(c, "waiting"); err != nil {
			return err
		}
		open, err := boolQuery(c, "open")
		if err != nil {
			return err
		}
		f.OpenOnly = open != nil && *open
		items, next, err := svc.List(c.Request.Context(), f, pg)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(items, next, func(it cases.ListItem) staffCaseAnswer {
			return toStaffCaseAnswer(it.Case, it.Name, it.Phone)
		}))
		return nil
	}
}

type eventAnswer struct {
	Seq        int               `json:"seq"`
	Kind       string            `json:"kind"`
	ActorKind  string            `json:"actor_kind"`
	ActorID    int64             `json:"actor_id"`
	FromStatus string            `json:"from_status,omitempty"`
	ToStatus   string            `json:"to_status,omitempty"`
	StationID  int64             `json:"station_id"`
	Visible    bool              `json:"visible"`
	Text       string            `json:"text,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
	At         string            `json:"at"`
	Hash       string            `json:"hash"`
}

func toEventAnswer(e cases.EventView) eventAnswer {
	return eventAnswer{Seq: e.Seq, Kind: string(e.Kind), ActorKind: e.ActorKind, ActorID: e.ActorID,
		FromStatus: string(e.FromStatus), ToStatus: string(e.ToStatus), StationID: e.StationID, Visible: e.Visible,
		Text: e.Text, Meta: e.Meta, At: apiTime(e.At), Hash: e.Hash}
}

type stationRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type staffDetailAnswer struct {
	staffCaseAnswer
	Description string           `json:"description"`
	Contact     contactPrefsBody `json:"contact"`
	Feedback    string           `json:"feedback,omitempty"`
	Station     *stationRef      `json:"station"`
	Next        []string         `json:"next"`
	Events      []eventAnswer    `json:"events"`
}

// handleCaseDetail: GET /api/admin/cases/:case_no → the case, its events
// with internal notes and the allowed next statuses; name and phone
// masked. Written to the access log. Out of scope: 404.
func handleCaseDetail(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		v, err := svc.Detail(c.Request.Context(), caseNo(c))
		if err != nil {
			return err
		}
		a := staffDetailAnswer{staffCaseAnswer: toStaffCaseAnswer(v.Case, v.Name, v.Phone), Description: v.Description,
			Contact: toContactPrefsBody(v.Contact), Feedback: v.Feedback, Next: []string{},
			Events: make([]eventAnswer, len(v.Events))}
		if v.Station != nil {
			a.Station = &stationRef{ID: v.Station.ID, Name: v.Station.Name}
		}
		for _, s := range v.Next {
			a.Next = append(a.Next, string(s))
		}
		for i, e := range v.Events {
			a.Events[i] = toEventAnswer(e)
		}
		c.JSON(http.StatusOK, a)
		return nil
	}
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

func (r reasonRequest) Valid() map[string]string {
	if len(r.Reason) > 4096 {
		return map[string]string{"reason": "太长"}
	}
	return nil
}

// handleCaseReveal: POST /api/admin/cases/:case_no/reveal {"reason"} →
// {"name","phone"} unmasked; written to the access log.
func handleCaseReveal(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[reasonRequest](c)
		if err != nil {
			return err
		}
		r, err := svc.Reveal(c.Request.Context(), caseNo(c), req.Reason)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"name": r.Name, "phone": r.Phone})
		return nil
	}
}

type accessAnswer struct {
	ID        int64  `json:"id"`
	StaffID   int64  `json:"staff_id"`
	Username  string `json:"username"`
	Action    string `json:"action"`
	Fields    string `json:"fields"`
	Reason    string `json:"reason,omitempty"`
	IP        string `json:"ip"`
	RequestID string `json:"request_id"`
	At        string `json:"at"`
}

func toAccessAnswer(a model.CaseAccess) accessAnswer {
	return accessAnswer{ID: a.ID, StaffID: a.StaffID, Username: a.Username, Action: a.Action, Fields: a.Fields,
		Reason: a.Reason, IP: a.IP, RequestID: a.RequestID, At: apiTime(a.At)}
}

// handleCaseAccessLog: GET /api/admin/cases/:case_no/access-log →
// {"items":[{"staff_id","username","action","fields","reason","ip","at"}]}.
func handleCaseAccessLog(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		pg, err := pageQuery(c)
		if err != nil {
			return err
		}
		items, next, err := svc.AccessLog(c.Request.Context(), caseNo(c), pg)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(items, next, toAccessAnswer))
		return nil
	}
}

type problemAnswer struct {
	CaseNo string `json:"case_no"`
	Seq    int    `json:"seq"`
	Reason string `json:"reason"`
}

// handleCaseVerify: GET /api/admin/cases/:case_no/verify → {"ok":true,
// "events","head"} or {"ok":false,"first_broken_seq","reason"}.
func handleCaseVerify(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		r, err := svc.Verify(c.Request.Context(), caseNo(c))
		if err != nil {
			return err
		}
		body := gin.H{"case_no": r.CaseNo, "ok": r.Problem == nil, "events": r.Events, "head": r.Head}
		if r.Problem != nil {
			body["first_broken_seq"], body["reason"] = r.Problem.Seq, r.Problem.Reason
		}
		c.JSON(http.StatusOK, body)
		return nil
	}
}

// handleVerifyAllCases: GET /api/admin/cases/verify → {"ok","cases",
// "events","problems":[{"case_no","seq","reason"}]}.
func handleVerifyAllCases(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		r, err := svc.VerifyAll(c.Request.Context())
		if err != nil {
			return err
		}
		ps := make([]problemAnswer, len(r.Problems))
		for i, p := range r.Problems {
			ps[i] = problemAnswer{CaseNo: p.CaseNo, Seq: p.Seq, Reason: p.Reason}
		}
		c.JSON(http.StatusOK, gin.H{"ok": len(ps) == 0, "cases": r.Cases, "events": r.Events, "problems": ps,
			"elapsed_ms": r.Elapsed.Milliseconds()})
		return nil
	}
}

// handleCasesAnchor: GET /api/admin/cases/anchor?at= → {"at","cases",
// "digest"}: the same at gives the same digest as long as no event up to
// it was changed, removed or added afterwards (service/cases/anchor.go).
func handleCasesAnchor(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		var at time.Time
		if q := c.Query("at"); q != "" {
			t, err := time.Parse(time.RFC3339, q)
			if err != nil {
				return model.Invalid(map[string]string{"at": "须为 RFC 3339 时间，如 2026-11-29T00:00:00+08:00"})
			}
			at = t
		}
		a, err := svc.AnchorAt(c.Request.Context(), at)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"at": apiTime(a.At), "cases": a.Cases, "digest": a.Digest})
		return nil
	}
}

type stationAnswer struct {
	ID           int64    `json:"id"`
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	Categories   []string `json:"categories"`
	Districts    []string `json:"districts"`
	Capacity     int      `json:"capacity"`
	Load         int      `json:"load"`
	DutyStaffIDs []int64  `json:"duty_staff_ids"`
	Phone        string   `json:"phone"`
	Address      string   `json:"address"`
	Active       bool     `json:"active"`
}

func toStationAnswer(st model.Station, load int) stationAnswer {
	cats := make([]string, len(st.Categories))
	for i, c := range st.Categories {
		cats[i] = string(c)
	}
	a := stationAnswer{ID: st.ID, Name: st.Name, Kind: st.Kind, Categories: cats, Districts: st.Districts,
		Capacity: st.Capacity, Load: load, DutyStaffIDs: st.DutyStaffIDs, Phone: st.Phone, Address: st.Address, Active: st.Active}
	if a.Districts == nil {
		a.Districts = []string{}
	}
	if a.DutyStaffIDs == nil {
		a.DutyStaffIDs = []int64{}
	}
	return a
}

type suggestionAnswer struct {
	stationAnswer
	Full          bool `json:"full"`
	DistrictMatch bool `json:"district_match"`
	CategoryMatch bool `json:"category_match"`
}

// handleCaseRoute: GET /api/admin/cases/:case_no/route → {"items":[station
// with "load","full","district_match","category_match"]}, best first.
func handleCaseRoute(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		sg, err := svc.Route(c.Request.Context(), caseNo(c))
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(sg, "", func(x cases.Suggestion) suggestionAnswer {
			return suggestionAnswer{stationAnswer: toStationAnswer(x.Station, x.Load), Full: x.Full,
				DistrictMatch: x.DistrictMatch, CategoryMatch: x.CategoryMatch}
		}))
		return nil
	}
}

type assignRequest struct {
	StationID int64  `json:"station_id"`
	Reason    string `json:"reason"`
}

func (r assignRequest) Valid() map[string]string {
	if len(r.Reason) > 4096 {
		return map[string]string{"reason": "太长"}
	}
	return nil
}

// handleCaseAssign: POST /api/admin/cases/:case_no/assign {"station_id",
// "reason"} → the case; 409 station_full / already_assigned /
// invalid_transition.
func handleCaseAssign(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[assignRequest](c)
		if err != nil {
			return err
		}
		cs, err := svc.Assign(c.Request.Context(), caseNo(c), req.StationID, req.Reason)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toStaffCaseAnswer(cs, "", ""))
		return nil
	}
}

type transitionRequest struct {
	To            string `json:"to"`
	Note          string `json:"note"`
	PublicMessage string `json:"public_message"`
	Outcome       string `json:"outcome"`
}

func (r transitionRequest) Valid() map[string]string {
	if len(r.Note)+len(r.PublicMessage) > 8*8192 {
		return map[string]string{"note": "内容太长"}
	}
	return nil
}

// handleCaseTransition: POST /api/admin/cases/:case_no/transition {"to",
// "note","public_message","outcome"} → the case; 409 invalid_transition.
// Reopening (or resuming work on) a case at its station is never refused
// for the station's capacity.
func handleCaseTransition(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[transitionRequest](c)
		if err != nil {
			return err
		}
		cs, err := svc.Transition(c.Request.Context(), caseNo(c), cases.TransitionInput{To: model.CaseStatus(req.To),
			Note: req.Note, PublicMessage: req.PublicMessage, Outcome: model.CaseOutcome(req.Outcome)})
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toStaffCaseAnswer(cs, "", ""))
		return nil
	}
}

type categoryRequest struct {
	Category string `json:"category"`
	Reason   string `json:"reason"`
}

func (r categoryRequest) Valid() map[string]string {
	if len(r.Reason) > 4096 {
		return map[string]string{"reason": "太长"}
	}
	return nil
}

// handleCaseCategory: POST /api/admin/cases/:case_no/category {"category",
// "reason"} → the case; 409 closed / same_category; out of scope 404.
func handleCaseCategory(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[categoryRequest](c)
		if err != nil {
			return err
		}
		cs, err := svc.SetCategory(c.Request.Context(), caseNo(c), model.CaseCategory(req.Category), req.Reason)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toStaffCaseAnswer(cs, "", ""))
		return nil
	}
}

func staffTextHandler(act func(ctx context.Context, no, text string) (cases.EventView, error)) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[textRequest](c)
		if err != nil {
			return err
		}
		e, err := act(c.Request.Context(), caseNo(c), req.text())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toEventAnswer(e))
		return nil
	}
}

// handleCaseNote: POST /api/admin/cases/:case_no/notes {"text"} → 201 the event.
func handleCaseNote(svc Cases) func(c *gin.Context) error { return staffTextHandler(svc.AddNote) }

// handleCaseReply: POST /api/admin/cases/:case_no/messages {"text"} → 201 the event.
func handleCaseReply(svc Cases) func(c *gin.Context) error { return staffTextHandler(svc.Reply) }

type contactRequest struct {
	Channel   string `json:"channel"`
	Direction string `json:"direction"`
	Note      string `json:"note"`
}

func (r contactRequest) Valid() map[string]string {
	if len(r.Note) > 4*8192 {
		return map[string]string{"note": "内容太长"}
	}
	return nil
}

// handleCaseContact: POST /api/admin/cases/:case_no/contacts {"channel":
// "phone"|"visit"|"other","direction":"inbound"|"outbound","note"} → 201.
func handleCaseContact(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[contactRequest](c)
		if err != nil {
			return err
		}
		e, err := svc.RecordContact(c.Request.Context(), caseNo(c), cases.ContactInput{Channel: req.Channel,
			Direction: req.Direction, Note: req.Note})
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toEventAnswer(e))
		return nil
	}
}

type waitingRequest struct {
	Waiting *bool  `json:"waiting"`
	Note    string `json:"note"`
}

func (r waitingRequest) Valid() map[string]string {
	switch {
	case r.Waiting == nil:
		return map[string]string{"waiting": "必填"}
	case len(r.Note) > 4*8192:
		return map[string]string{"note": "内容太长"}
	}
	return nil
}

// handleCaseWaiting: POST /api/admin/cases/:case_no/waiting {"waiting":
// true|false,"note"} → the case.
func handleCaseWaiting(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[waitingRequest](c)
		if err != nil {
			return err
		}
		cs, err := svc.SetWaiting(c.Request.Context(), caseNo(c), *req.Waiting, req.Note)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toStaffCaseAnswer(cs, "", ""))
		return nil
	}
}

type caseFiguresAnswer struct {
	From    string         `json:"from"`
	To      string         `json:"to"`
	Area    string         `json:"area"`
	Title   string         `json:"title"`
	Figures []model.Figure `json:"figures"`
}

// handleCaseFigures: GET /api/admin/cases/figures?from=&to= (dates; default
// this year so far) → {"from","to","area","title","figures":[{"key","name",
// "value","unit","definition","breakdown"}]}.
func handleCaseFigures(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		now := time.Now().In(shanghai)
		from, err := parseDay(c, "from", time.Date(now.Year(), 1, 1, 0, 0, 0, 0, shanghai))
		if err != nil {
			return err
		}
		to, err := parseDay(c, "to", time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, shanghai))
		if err != nil {
			return err
		}
		sec, err := svc.Figures(c.Request.Context(), from, to)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, caseFiguresAnswer{From: apiTime(from), To: apiTime(to), Area: sec.Area, Title: sec.Title,
			Figures: sec.Figures})
		return nil
	}
}

type retentionItemAnswer struct {
	CaseNo      string   `json:"case_no"`
	ClosedAt    string   `json:"closed_at"`
	Fields      []string `json:"fields"`
	EventBodies int      `json:"event_bodies"`
}

// handleRetentionPlan: GET /api/admin/cases/retention → {"cutoff","items":
// [{"case_no","closed_at","fields","event_bodies"}],"more"}; changes
// nothing.
func handleRetentionPlan(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		plan, err := svc.RetentionPlan(c.Request.Context())
		if err != nil {
			return err
		}
		items := make([]retentionItemAnswer, len(plan.Items))
		for i, it := range plan.Items {
			items[i] = retentionItemAnswer{CaseNo: it.CaseNo, ClosedAt: apiTime(it.ClosedAt), Fields: it.Fields,
				EventBodies: it.EventBodies}
		}
		c.JSON(http.StatusOK, gin.H{"dry_run": true, "cutoff": apiTime(plan.Cutoff), "items": items, "more": plan.More})
		return nil
	}
}

// handleRunRetention: POST /api/admin/cases/retention → {"anonymised":n}.
func handleRunRetention(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		n, err := svc.RunRetention(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"anonymised": n})
		return nil
	}
}

// handleListStations: GET /api/admin/stations?active=true → {"items":[station]}.
func handleListStations(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		active, err := boolQuery(c, "active")
		if err != nil {
			return err
		}
		sts, err := svc.Stations(c.Request.Context(), active != nil && *active)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(sts, "", func(x cases.StationLoad) stationAnswer { return toStationAnswer(x.Station, x.Load) }))
		return nil
	}
}

type stationRequest struct {
	Name         *string   `json:"name"`
	Kind         *string   `json:"kind"`
	Categories   *[]string `json:"categories"`
	Districts    *[]string `json:"districts"`
	Capacity     *int      `json:"capacity"`
	DutyStaffIDs *[]int64  `json:"duty_staff_ids"`
	Phone        *string   `json:"phone"`
	Address      *string   `json:"address"`
	Active       *bool     `json:"active"`
}

func (r stationRequest) Valid() map[string]string {
	if r.Categories != nil && len(*r.Categories) > 20 || r.Districts != nil && len(*r.Districts) > 100 ||
		r.DutyStaffIDs != nil && len(*r.DutyStaffIDs) > 100 {
		return map[string]string{"body": "列表太长"}
	}
	return nil
}

func (r stationRequest) input() cases.StationInput {
	in := cases.StationInput{Name: r.Name, Kind: r.Kind, Districts: r.Districts, Capacity: r.Capacity,
		DutyStaffIDs: r.DutyStaffIDs, Phone: r.Phone, Address: r.Address, Active: r.Active}
	if r.Categories != nil {
		cats := make([]model.CaseCategory, len(*r.Categories))
		for i, c := range *r.Categories {
			cats[i] = model.CaseCategory(c)
		}
		in.Categories = &cats
	}
	return in
}

// handleCreateStation: POST /api/admin/stations {"name","kind","categories",
// "districts","capacity","duty_staff_ids","phone","address"} → 201 station.
func handleCreateStation(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[stationRequest](c)
		if err != nil {
			return err
		}
		st, err := svc.CreateStation(c.Request.Context(), req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toStationAnswer(st, 0))
		return nil
	}
}

// handleUpdateStation: PATCH /api/admin/stations/:id (fields as create, all
// optional, plus "active") → the station.
func handleUpdateStation(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[stationRequest](c)
		if err != nil {
			return err
		}
		st, err := svc.UpdateStation(c.Request.Context(), id, req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toStationAnswer(st, 0))
		return nil
	}
}

// handleDeactivateStation: DELETE /api/admin/stations/:id → the station,
// inactive.
func handleDeactivateStation(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		st, err := svc.DeactivateStation(c.Request.Context(), id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toStationAnswer(st, 0))
		return nil
	}
}

var weekdayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

type calendarAnswer struct {
	Holidays     []string `json:"holidays"`
	Workdays     []string `json:"workdays"`
	Source       string   `json:"source"` // config (never saved by staff) or database
	Version      int      `json:"version"`
	UpdatedBy    int64    `json:"updated_by,omitempty"`
	UpdatedAt    *string  `json:"updated_at"`
	WorkingHours string   `json:"working_hours"`
	WorkingDays  []string `json:"working_days"`
}

func toCalendarAnswer(v cases.CalendarView) calendarAnswer {
	a := calendarAnswer{Holidays: v.Holidays, Workdays: v.Workdays, Source: "config", Version: v.Version, UpdatedBy: v.UpdatedBy,
		UpdatedAt: apiTimePtr(v.UpdatedAt), WorkingHours: v.Hours, WorkingDays: []string{}}
	if v.Saved {
		a.Source = "database"
	}
	for d := 1; d <= 7; d++ { // Monday first
		if v.Weekdays[d%7] {
			a.WorkingDays = append(a.WorkingDays, weekdayNames[d%7])
		}
	}
	return a
}

// handleCalendar: GET /api/admin/calendar → {"holidays","workdays",
// "source":"config"|"database","version","updated_by","updated_at",
// "working_hours","working_days"}.
func handleCalendar(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		v, err := svc.Calendar(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toCalendarAnswer(v))
		return nil
	}
}

type calendarRequest struct {
	Holidays []string `json:"holidays"`
	Workdays []string `json:"workdays"`
	Version  int      `json:"version"`
}

// Valid bounds the lists before the service reads them.
func (r calendarRequest) Valid() map[string]string {
	bad := map[string]string{}
	if len(r.Holidays) > 4*cases.MaxCalendarDates {
		bad["holidays"] = "日期太多"
	}
	if len(r.Workdays) > 4*cases.MaxCalendarDates {
		bad["workdays"] = "日期太多"
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// handleSetCalendar: PUT /api/admin/calendar {"holidays":["2026-10-01",…],
// "workdays":["2026-09-20",…],"version"} (both lists required, [] clears;
// "version" optional: the version edited, 409 calendar_changed when
// another save came first) → the calendar.
func handleSetCalendar(svc Cases) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[calendarRequest](c)
		if err != nil {
			return err
		}
		v, err := svc.SetCalendar(c.Request.Context(), cases.CalendarInput{Holidays: req.Holidays, Workdays: req.Workdays,
			Version: req.Version})
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toCalendarAnswer(v))
		return nil
	}
}
