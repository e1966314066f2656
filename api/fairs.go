package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/service/fairs"
)

// Fairs is what the job-fair handlers need (fairs.Service satisfies it).
// Role checks are repeated by the service.
type Fairs interface {
	UpcomingFairs(ctx context.Context, limit int) ([]model.Fair, error)
	Fair(ctx context.Context, id int64) (model.Fair, error)
	SignUp(ctx context.Context, userID, fairID int64, in fairs.SignupInput) (model.Signup, error)
	MySignups(ctx context.Context, userID int64) ([]model.Signup, error)
	Cancel(ctx context.Context, userID, signupID int64) (model.Signup, error)
	Confirm(ctx context.Context, userID, signupID int64) (model.Signup, error)
	Ticket(ctx context.Context, userID, signupID int64) (string, time.Time, error)
	TicketPNG(ctx context.Context, userID, signupID int64, size int) ([]byte, error)
	CreateFair(ctx context.Context, in fairs.FairInput) (model.Fair, error)
	AddPosition(ctx context.Context, fairID int64, in fairs.PositionInput) (model.Position, error)
	Signups(ctx context.Context, fairID int64, employer string) (model.Fair, []fairs.SignupView, error)
	Export(ctx context.Context, fairID int64, employer string) ([]byte, string, error)
	CheckIn(ctx context.Context, code string) (model.Signup, error)
	RecordPlacement(ctx context.Context, signupID int64) (model.Signup, error)
	Figures(ctx context.Context, from, to time.Time) (fairs.Figures, error)
}

// addFairRoutes adds the job fairs' routes (with Deps.Fairs and
// Deps.Accounts): browsing, signing up, cancelling, confirming a promotion
// and tickets in the Mini Program; fairs, positions, signup lists and
// exports, check-in, placements and figures for fair managers.
func (s *server) addFairRoutes(api *Router) {
	if s.Fairs == nil || s.Accounts == nil {
		return
	}
	svc := s.Fairs
	mp := api.Group("/mp", "mp", "mp", s.requireMP())
	mp.Handle(http.MethodGet, "/fairs", "Upcoming job fairs with seats left", s.wrap(handleListFairs(svc)))
	mp.Handle(http.MethodGet, "/fairs/:id", "One job fair with its positions", s.wrap(handleGetFair(svc)))
	mp.Handle(http.MethodPost, "/fairs/:id/signups", "Sign up for a position (confirmed, or waitlisted with a place in line)",
		s.wrap(handleSignUp(svc)))
	mp.Handle(http.MethodDelete, "/signups/:id", "Cancel a signup (the first waitlisted person is promoted)", s.wrap(handleCancelSignup(svc)))
	mp.Handle(http.MethodPost, "/signups/:id/confirm", "Confirm a seat offered from the waitlist before its deadline",
		s.wrap(handleConfirmSignup(svc)))
	mp.Handle(http.MethodGet, "/me/signups", "The caller's signups", s.wrap(handleMySignups(svc)))
	mp.Handle(http.MethodGet, "/signups/:id/ticket", "The signed check-in code (?format=png: as a QR image)",
		s.wrap(handleTicket(svc)))

	fm := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleFairManager))
	fm.Handle(http.MethodGet, "/fairs", "Upcoming job fairs", s.wrap(handleListFairs(svc)))
	fm.Handle(http.MethodPost, "/fairs", "Create a job fair (audited)", s.wrap(handleCreateFair(svc)))
	fm.Handle(http.MethodGet, "/fairs/figures", "Fairs held, signups, attendance, no-shows, placements (?from=&to=)",
		s.wrap(handleFairFigures(svc)))
	fm.Handle(http.MethodGet, "/fairs/:id", "One job fair with its positions", s.wrap(handleGetFair(svc)))
	fm.Handle(http.MethodPost, "/fairs/:id/positions", "Add a position (audited)", s.wrap(handleAddPosition(svc)))
	fm.Handle(http.MethodGet, "/fairs/:id/signups", "Signups (?employer=; ?format=xlsx exports, audited)",
		s.wrap(handleFairSignups(svc)))
	fm.Handle(http.MethodPost, "/checkins", "Check in a scanned ticket; 409 on a second check-in", s.wrap(handleCheckIn(svc)))
	fm.Handle(http.MethodPost, "/signups/:id/placement", "Record that a checked-in signup led to a job", s.wrap(handlePlacement(svc)))
}

type positionAnswer struct {
	ID           int64  `json:"id"`
	Employer     string `json:"employer"`
	Title        string `json:"title"`
	Seats        int    `json:"seats"`
	SeatsLeft    int    `json:"seats_left"`
	Requirements string `json:"requirements"`
	SalaryMin    int    `json:"salary_min"`
	SalaryMax    int    `json:"salary_max"`
}

func toPositionAnswer(p model.Position) positionAnswer {
	return positionAnswer{ID: p.ID, Employer: p.Employer, Title: p.Title, Seats: p.Seats, SeatsLeft: p.SeatsLeft(),
		Requirements: p.Requirements, SalaryMin: p.SalaryMin, SalaryMax: p.SalaryMax}
}

type fairAnswer struct {
	ID            int64            `json:"id"`
	Title         string           `json:"title"`
	Mode          string           `json:"mode"`
	StartsAt      string           `json:"starts_at"`
	EndsAt        string           `json:"ends_at"`
	Venue         string           `json:"venue"`
	Capacity      int              `json:"capacity"`
	SeatsLeft     int              `json:"seats_left"`
	SignupOpensAt string           `json:"signup_opens_at"`
	SignupEndsAt  string           `json:"signup_ends_at"`
	Positions     []positionAnswer `json:"positions"`
}

func toFairAnswer(f model.Fair) fairAnswer {
	ps := make([]positionAnswer, len(f.Positions))
	for i, p := range f.Positions {
		ps[i] = toPositionAnswer(p)
	}
	return fairAnswer{ID: f.ID, Title: f.Title, Mode: string(f.Mode), StartsAt: apiTime(f.StartsAt), EndsAt: apiTime(f.EndsAt),
		Venue: f.Venue, Capacity: f.Capacity, SeatsLeft: f.SeatsLeft(), SignupOpensAt: apiTime(f.SignupOpensAt),
		SignupEndsAt: apiTime(f.SignupEndsAt), Positions: ps}
}

type signupAnswer struct {
	ID               int64   `json:"id"`
	FairID           int64   `json:"fair_id"`
	PositionID       int64   `json:"position_id"`
	Status           string  `json:"status"`
	WaitlistPosition *int    `json:"waitlist_position"` // null unless waitlisted
	OfferExpiresAt   *string `json:"offer_expires_at,omitempty"`
	CheckedInAt      *string `json:"checked_in_at,omitempty"`
	CreatedAt        string  `json:"created_at"`
}

func toSignupAnswer(s model.Signup) signupAnswer {
	a := signupAnswer{ID: s.ID, FairID: s.FairID, PositionID: s.PositionID, Status: string(s.Status),
		OfferExpiresAt: apiTimePtr(s.OfferExpiresAt), CheckedInAt: apiTimePtr(s.CheckedInAt), CreatedAt: apiTime(s.CreatedAt)}
	if s.Status == model.SignupWaitlisted {
		place := s.WaitlistPosition
		a.WaitlistPosition = &place
	}
	return a
}

// handleListFairs: GET /api/mp/fairs, /api/admin/fairs → {"items":[fair]}.
func handleListFairs(svc Fairs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		fs, err := svc.UpcomingFairs(c.Request.Context(), 50)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(fs, "", toFairAnswer))
		return nil
	}
}

// handleGetFair: GET /api/mp/fairs/:id, /api/admin/fairs/:id.
func handleGetFair(svc Fairs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		f, err := svc.Fair(c.Request.Context(), id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toFairAnswer(f))
		return nil
	}
}

type signupRequest struct {
	PositionID int64  `json:"position_id"`
	Name       string `json:"name"`
	Phone      string `json:"phone"`
}

func (r signupRequest) input() fairs.SignupInput {
	return fairs.SignupInput{PositionID: r.PositionID, Name: r.Name, Phone: r.Phone}
}

func (r signupRequest) Valid() map[string]string { return r.input().Valid() }

// handleSignUp: POST /api/mp/fairs/:id/signups {"position_id","name","phone"}
// → 201 {"id","status","waitlist_position",…}; 409 already_signed_up.
func handleSignUp(svc Fairs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[signupRequest](c)
		if err != nil {
			return err
		}
		su, err := svc.SignUp(c.Request.Context(), p.SubjectID, id, req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toSignupAnswer(su))
		return nil
	}
}

// handleCancelSignup: DELETE /api/mp/signups/:id → {"status":"cancelled",…}.
func handleCancelSignup(svc Fairs) func(c *gin.Context) error {
	return signupAction(svc.Cancel)
}

// handleConfirmSignup: POST /api/mp/signups/:id/confirm → {"status":"confirmed",…};
// 409 no_offer when there is no live offer.
func handleConfirmSignup(svc Fairs) func(c *gin.Context) error {
	return signupAction(svc.Confirm)
}

func signupAction(act func(ctx context.Context, userID, signupID int64) (model.Signup, error)) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		su, err := act(c.Request.Context(), p.SubjectID, id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toSignupAnswer(su))
		return nil
	}
}

// handleMySignups: GET /api/mp/me/signups → {"items":[signup]}.
func handleMySignups(svc Fairs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		sus, err := svc.MySignups(c.Request.Context(), p.SubjectID)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(sus, "", toSignupAnswer))
		return nil
	}
}

// handleTicket: GET /api/mp/signups/:id/ticket → {"code","expires_at"};
// with ?format=png the code as a QR PNG.
func handleTicket(svc Fairs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		switch c.Query("format") {
		case "png":
			size, _ := strconv.Atoi(c.Query("size"))
			png, err := svc.TicketPNG(c.Request.Context(), p.SubjectID, id, size)
			if err != nil {
				return err
			}
			c.Header("Cache-Control", "no-store")
			sendBytes(c, http.StatusOK, "image/png", png)
			return nil
		case "", "json":
		default:
			return model.Invalid(map[string]string{"format": "须为 json 或 png"})
		}
		code, exp, err := svc.Ticket(c.Request.Context(), p.SubjectID, id)
		if err != nil {
			return err
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"code": code, "expires_at": apiTime(exp)})
		return nil
	}
}

type fairRequest struct {
	Title         string     `json:"title"`
	Mode          string     `json:"mode"`
	Venue         string     `json:"venue"`
	StartsAt      time.Time  `json:"starts_at"`
	EndsAt        time.Time  `json:"ends_at"`
	Capacity      int        `json:"capacity"`
	SignupOpensAt *time.Time `json:"signup_opens_at"`
	SignupEndsAt  *time.Time `json:"signup_ends_at"`
}

func (r fairRequest) input() fairs.FairInput {
	in := fairs.FairInput{Title: r.Title, Mode: model.FairMode(r.Mode), Venue: r.Venue, StartsAt: r.StartsAt, EndsAt: r.EndsAt,
		Capacity: r.Capacity}
	if r.SignupOpensAt != nil {
		in.SignupOpensAt = *r.SignupOpensAt
	}
	if r.SignupEndsAt != nil {
		in.SignupEndsAt = *r.SignupEndsAt
	}
	return in
}

func (r fairRequest) Valid() map[string]string { return r.input().Valid() }

// handleCreateFair: POST /api/admin/fairs {"title","mode","venue","starts_at",
// "ends_at","capacity","signup_opens_at","signup_ends_at"} → 201 fair.
func handleCreateFair(svc Fairs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[fairRequest](c)
		if err != nil {
			return err
		}
		f, err := svc.CreateFair(c.Request.Context(), req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toFairAnswer(f))
		return nil
	}
}

type positionRequest struct {
	Employer     string `json:"employer"`
	Title        string `json:"title"`
	Seats        int    `json:"seats"`
	Requirements string `json:"requirements"`
	SalaryMin    int    `json:"salary_min"`
	SalaryMax    int    `json:"salary_max"`
}

func (r positionRequest) input() fairs.PositionInput {
	return fairs.PositionInput{Employer: r.Employer, Title: r.Title, Seats: r.Seats, Requirements: r.Requirements,
		SalaryMin: r.SalaryMin, SalaryMax: r.SalaryMax}
}

func (r positionRequest) Valid() map[string]string { return r.input().Valid() }

// handleAddPosition: POST /api/admin/fairs/:id/positions {"employer","title",
// "seats","requirements","salary_min","salary_max"} → 201 position.
func handleAddPosition(svc Fairs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[positionRequest](c)
		if err != nil {
			return err
		}
		p, err := svc.AddPosition(c.Request.Context(), id, req.input())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toPositionAnswer(p))
		return nil
	}
}

type staffSignupAnswer struct {
	signupAnswer
	Name     string  `json:"name"`
	Phone    string  `json:"phone"`
	Employer string  `json:"employer"`
	Position string  `json:"position"`
	PlacedAt *string `json:"placed_at,omitempty"`
}

func toStaffSignupAnswer(v fairs.SignupView) staffSignupAnswer {
	return staffSignupAnswer{signupAnswer: toSignupAnswer(v.Signup), Name: v.Name, Phone: v.Phone, Employer: v.Employer,
		Position: v.Position, PlacedAt: apiTimePtr(v.PlacedAt)}
}

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// handleFairSignups: GET /api/admin/fairs/:id/signups?employer= →
// {"items":[…]} with phones masked unless the role allows them; with
// ?format=xlsx the same as a workbook (audited).
func handleFairSignups(svc Fairs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		employer := strings.TrimSpace(c.Query("employer"))
		switch c.Query("format") {
		case "xlsx":
			data, name, err := svc.Export(c.Request.Context(), id, employer)
			if err != nil {
				return err
			}
			c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
			c.Header("Cache-Control", "no-store")
			sendBytes(c, http.StatusOK, xlsxType, data)
			return nil
		case "", "json":
		default:
			return model.Invalid(map[string]string{"format": "须为 json 或 xlsx"})
		}
		_, views, err := svc.Signups(c.Request.Context(), id, employer)
		if err != nil {
			return err
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, list(views, "", toStaffSignupAnswer))
		return nil
	}
}

type checkinRequest struct {
	Code string `json:"code"`
}

func (r checkinRequest) Valid() map[string]string {
	if r.Code == "" || len(r.Code) > 1024 {
		return map[string]string{"code": "必填"}
	}
	return nil
}

// handleCheckIn: POST /api/admin/checkins {"code"} → the signup; 400
// invalid_ticket / ticket_expired; 409 already_checked_in.
func handleCheckIn(svc Fairs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[checkinRequest](c)
		if err != nil {
			return err
		}
		su, err := svc.CheckIn(c.Request.Context(), req.Code)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toSignupAnswer(su))
		return nil
	}
}

// handlePlacement: POST /api/admin/signups/:id/placement → the signup.
func handlePlacement(svc Fairs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		su, err := svc.RecordPlacement(c.Request.Context(), id)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toSignupAnswer(su))
		return nil
	}
}

// parseDay reads a query date (2006-01-02, Shanghai) or RFC 3339 time.
func parseDay(c *gin.Context, name string, def time.Time) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", v, shanghai); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, model.Invalid(map[string]string{name: "须为日期，如 2026-03-08"})
}

// handleFairFigures: GET /api/admin/fairs/figures?from=&to= (dates; default
// this year so far) → {"fairs_held","signups","confirmed","attended",
// "no_shows","placements"} of the fairs that ended in [from, to).
func handleFairFigures(svc Fairs) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		now := time.Now().In(shanghai)
		from, err := parseDay(c, "from", time.Date(now.Year(), 1, 1, 0, 0, 0, 0, shanghai))
		if err != nil {
			return err
		}
		to, err := parseDay(c, "to", now)
		if err != nil {
			return err
		}
		f, err := svc.Figures(c.Request.Context(), from, to)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"from": apiTime(from), "to": apiTime(to), "fairs_held": f.FairsHeld, "signups": f.Signups,
			"confirmed": f.Confirmed, "attended": f.Attended, "no_shows": f.NoShows, "placements": f.Placements})
		return nil
	}
}
