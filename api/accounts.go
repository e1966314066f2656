package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/service/auth"
)

// Accounts is what the account handlers need (auth.Auth satisfies it).
type Accounts interface {
	Authenticator
	LoginMiniProgram(ctx context.Context, code string) (model.Session, model.User, error)
	BindPhone(ctx context.Context, userID int64, code string) (string, error)
	Me(ctx context.Context, userID int64) (model.User, error)
	UpdateMe(ctx context.Context, userID int64, p auth.ProfileUpdate) (model.User, error)

	LoginStaffTOTP(ctx context.Context, username, password, totpCode, ip string) (model.Session, model.Staff, error)
	Logout(ctx context.Context) error
	ChangePassword(ctx context.Context, oldPassword, newPassword string) error
	StaffMe(ctx context.Context) (model.Staff, error)
	ListStaff(ctx context.Context, p model.Page) ([]model.Staff, string, error)
	CreateStaff(ctx context.Context, n auth.NewStaff) (model.Staff, error)
	UpdateStaff(ctx context.Context, id int64, u auth.StaffUpdate) (model.Staff, error)
	ListAudit(ctx context.Context, f model.AuditFilter, p model.Page) ([]model.AuditEntry, string, error)
	ListLogins(ctx context.Context, f model.LoginFilter, p model.Page) ([]model.LoginAttempt, string, error)
}

// shanghai is Asia/Shanghai (UTC+8, no daylight saving since 1991), the
// offset every answer's times carry.
var shanghai = time.FixedZone("CST", 8*60*60)

// apiTime formats t as RFC 3339 with the +08:00 offset.
func apiTime(t time.Time) string { return t.In(shanghai).Format(time.RFC3339) }

// apiTimePtr is apiTime, or nil (JSON null, omitted) for the zero time.
func apiTimePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := apiTime(t)
	return &s
}

type listAnswer[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func list[T, M any](items []M, next string, conv func(M) T) listAnswer[T] {
	out := listAnswer[T]{Items: make([]T, len(items)), NextCursor: next}
	for i, m := range items {
		out.Items[i] = conv(m)
	}
	return out
}

// pageQuery reads ?cursor= and ?limit= (1–100; larger is capped).
func pageQuery(c *gin.Context) (model.Page, error) {
	p := model.Page{Cursor: c.Query("cursor")}
	if len(p.Cursor) > 200 {
		return p, model.Invalid(map[string]string{"cursor": "分页参数无效"})
	}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, model.Invalid(map[string]string{"limit": "须为 1–100 的整数"})
		}
		p.Limit = min(n, model.MaxPageLimit)
	}
	return p, nil
}

// idQuery reads an optional positive integer query parameter (0 if unset).
func idQuery(c *gin.Context, name string) (int64, error) {
	s := c.Query(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, model.Invalid(map[string]string{name: "须为正整数"})
	}
	return n, nil
}

// pathID reads a positive integer path parameter; anything else is 404.
func pathID(c *gin.Context, name string) (int64, error) {
	n, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || n < 1 {
		return 0, errNotFound
	}
	return n, nil
}

// principal returns the principal the auth middleware put in ctx.
func principal(c *gin.Context) (model.Principal, error) {
	p, ok := model.PrincipalFrom(c.Request.Context())
	if !ok {
		return model.Principal{}, errNoToken()
	}
	return p, nil
}

// --- Mini Program ---

type userAnswer struct {
	ID        int64  `json:"id"`
	Nickname  string `json:"nickname"`
	AvatarURL string `json:"avatar_url"`
	HasPhone  bool   `json:"has_phone"`
}

func toUserAnswer(u model.User) userAnswer {
	return userAnswer{ID: u.ID, Nickname: u.Nickname, AvatarURL: u.AvatarURL, HasPhone: u.HasPhone}
}

type codeRequest struct {
	Code string `json:"code"`
}

func (r codeRequest) Valid() map[string]string {
	if r.Code == "" {
		return map[string]string{"code": "必填"}
	}
	return nil
}

// handleMPLogin: POST /api/mp/login {"code"} →
// {"token","expires_at","user":{"id","nickname","avatar_url","has_phone"}}.
func handleMPLogin(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[codeRequest](c)
		if err != nil {
			return err
		}
		sess, u, err := svc.LoginMiniProgram(c.Request.Context(), req.Code)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"token": sess.Token, "expires_at": apiTime(sess.ExpiresAt), "user": toUserAnswer(u)})
		return nil
	}
}

// handleMPPhone: POST /api/mp/phone {"code"} → {"phone_masked"}.
func handleMPPhone(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[codeRequest](c)
		if err != nil {
			return err
		}
		p, err := principal(c)
		if err != nil {
			return err
		}
		masked, err := svc.BindPhone(c.Request.Context(), p.SubjectID, req.Code)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"phone_masked": masked})
		return nil
	}
}

// handleMPMe: GET /api/mp/me → the user.
func handleMPMe(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := principal(c)
		if err != nil {
			return err
		}
		u, err := svc.Me(c.Request.Context(), p.SubjectID)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toUserAnswer(u))
		return nil
	}
}

type profileRequest struct {
	Nickname  *string `json:"nickname"`
	AvatarURL *string `json:"avatar_url"`
}

// Valid leaves the rules (length, https) to the service.
func (profileRequest) Valid() map[string]string { return nil }

// handleMPUpdateMe: PATCH /api/mp/me {"nickname"?, "avatar_url"?} → the user.
func handleMPUpdateMe(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[profileRequest](c)
		if err != nil {
			return err
		}
		p, err := principal(c)
		if err != nil {
			return err
		}
		u, err := svc.UpdateMe(c.Request.Context(), p.SubjectID, auth.ProfileUpdate{Nickname: req.Nickname, AvatarURL: req.AvatarURL})
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toUserAnswer(u))
		return nil
	}
}

// --- Staff ---

// Request size caps, checked before any work (bcrypt of a megabyte).
const (
	maxUsernameField = 64
	maxPasswordField = 256
)

type staffLoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	TOTP     string `json:"totp"` // the admin's TOTP code, when enabled
}

func (r staffLoginRequest) Valid() map[string]string {
	p := map[string]string{}
	switch {
	case r.Username == "":
		p["username"] = "必填"
	case len(r.Username) > maxUsernameField:
		p["username"] = "太长"
	}
	switch {
	case r.Password == "":
		p["password"] = "必填"
	case len(r.Password) > maxPasswordField:
		p["password"] = "太长"
	}
	if len(r.TOTP) > 16 {
		p["totp"] = "太长"
	}
	return p
}

type staffBrief struct {
	ID                 int64        `json:"id"`
	Username           string       `json:"username"`
	DisplayName        string       `json:"display_name"`
	Roles              []model.Role `json:"roles"`
	MustChangePassword bool         `json:"must_change_password"`
}

// handleStaffLogin: POST /api/admin/login {"username","password","totp"?} →
// {"token","expires_at","staff":{"id","username","display_name","roles","must_change_password"}}.
func handleStaffLogin(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[staffLoginRequest](c)
		if err != nil {
			return err
		}
		sess, st, err := svc.LoginStaffTOTP(c.Request.Context(), req.Username, req.Password, req.TOTP, clientIP(c))
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"token": sess.Token, "expires_at": apiTime(sess.ExpiresAt), "staff": staffBrief{
			ID: st.ID, Username: st.Username, DisplayName: st.DisplayName, Roles: rolesOrEmpty(st.Roles),
			MustChangePassword: st.MustChangePassword,
		}})
		return nil
	}
}

func rolesOrEmpty(r []model.Role) []model.Role {
	if r == nil {
		return []model.Role{}
	}
	return r
}

// handleLogout: POST /api/admin/logout → 204; the token stops working at once.
func handleLogout(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		if err := svc.Logout(c.Request.Context()); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}

type passwordRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

func (r passwordRequest) Valid() map[string]string {
	p := map[string]string{}
	if r.OldPassword == "" {
		p["old_password"] = "必填"
	} else if len(r.OldPassword) > maxPasswordField {
		p["old_password"] = "太长"
	}
	if r.NewPassword == "" {
		p["new_password"] = "必填"
	} else if len(r.NewPassword) > maxPasswordField {
		p["new_password"] = "太长"
	}
	return p
}

// handleChangePassword: POST /api/admin/password {"old_password","new_password"}
// → 204; the other sessions of the account end.
func handleChangePassword(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[passwordRequest](c)
		if err != nil {
			return err
		}
		if err := svc.ChangePassword(c.Request.Context(), req.OldPassword, req.NewPassword); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}

type staffAnswer struct {
	ID                 int64        `json:"id"`
	Username           string       `json:"username"`
	DisplayName        string       `json:"display_name"`
	Roles              []model.Role `json:"roles"`
	StationID          int64        `json:"station_id"`
	District           string       `json:"district"`
	Disabled           bool         `json:"disabled"`
	MustChangePassword bool         `json:"must_change_password"`
	LockedUntil        *string      `json:"locked_until"`
	LastLoginAt        *string      `json:"last_login_at"`
	CreatedAt          string       `json:"created_at"`
	UpdatedAt          string       `json:"updated_at"`
}

func toStaffAnswer(s model.Staff) staffAnswer {
	return staffAnswer{
		ID: s.ID, Username: s.Username, DisplayName: s.DisplayName, Roles: rolesOrEmpty(s.Roles),
		StationID: s.StationID, District: s.District, Disabled: s.Disabled, MustChangePassword: s.MustChangePassword,
		LockedUntil: apiTimePtr(s.LockedUntil), LastLoginAt: apiTimePtr(s.LastLoginAt),
		CreatedAt: apiTime(s.CreatedAt), UpdatedAt: apiTime(s.UpdatedAt),
	}
}

// handleStaffMe: GET /api/admin/me → the signed-in account.
func handleStaffMe(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		st, err := svc.StaffMe(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toStaffAnswer(st))
		return nil
	}
}

// handleListStaff: GET /api/admin/staff?cursor=&limit= → {"items","next_cursor"}.
func handleListStaff(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := pageQuery(c)
		if err != nil {
			return err
		}
		items, next, err := svc.ListStaff(c.Request.Context(), p)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(items, next, toStaffAnswer))
		return nil
	}
}

type createStaffRequest struct {
	Username           string       `json:"username"`
	DisplayName        string       `json:"display_name"`
	Password           string       `json:"password"`
	Roles              []model.Role `json:"roles"`
	StationID          int64        `json:"station_id"`
	District           string       `json:"district"`
	MustChangePassword *bool        `json:"must_change_password"` // default true
}

func (r createStaffRequest) Valid() map[string]string {
	p := map[string]string{}
	if r.Username == "" {
		p["username"] = "必填"
	}
	if r.Password == "" {
		p["password"] = "必填"
	} else if len(r.Password) > maxPasswordField {
		p["password"] = "太长"
	}
	if len(r.Roles) == 0 {
		p["roles"] = "至少选择一个角色"
	}
	return p
}

// handleCreateStaff: POST /api/admin/staff → 201 the account. The
// initial password must be changed at first sign-in unless
// must_change_password is false.
func handleCreateStaff(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[createStaffRequest](c)
		if err != nil {
			return err
		}
		mustChange := req.MustChangePassword == nil || *req.MustChangePassword
		st, err := svc.CreateStaff(c.Request.Context(), auth.NewStaff{
			Username: req.Username, DisplayName: req.DisplayName, Password: req.Password, Roles: req.Roles,
			StationID: req.StationID, District: req.District, MustChangePassword: mustChange,
		})
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toStaffAnswer(st))
		return nil
	}
}

type updateStaffRequest struct {
	DisplayName *string       `json:"display_name"`
	Roles       *[]model.Role `json:"roles"`
	StationID   *int64        `json:"station_id"`
	District    *string       `json:"district"`
	Disabled    *bool         `json:"disabled"`
	Password    *string       `json:"password"`
}

func (r updateStaffRequest) Valid() map[string]string {
	if r.Password != nil && len(*r.Password) > maxPasswordField {
		return map[string]string{"password": "太长"}
	}
	return nil
}

// handleUpdateStaff: PATCH /api/admin/staff/:id → the account. Disabling
// or resetting the password ends its sessions at once.
func handleUpdateStaff(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[updateStaffRequest](c)
		if err != nil {
			return err
		}
		st, err := svc.UpdateStaff(c.Request.Context(), id, auth.StaffUpdate{
			DisplayName: req.DisplayName, Roles: req.Roles, StationID: req.StationID, District: req.District,
			Disabled: req.Disabled, Password: req.Password,
		})
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toStaffAnswer(st))
		return nil
	}
}

type auditAnswer struct {
	ID         int64           `json:"id"`
	StaffID    int64           `json:"staff_id"`
	Username   string          `json:"username"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	Summary    json.RawMessage `json:"summary"`
	IP         string          `json:"ip"`
	RequestID  string          `json:"request_id"`
	At         string          `json:"at"`
}

func toAuditAnswer(e model.AuditEntry) auditAnswer {
	summary := e.Summary
	if !json.Valid(summary) {
		summary = json.RawMessage(`{}`)
	}
	return auditAnswer{
		ID: e.ID, StaffID: e.StaffID, Username: e.Username, Action: e.Action, TargetType: e.TargetType,
		TargetID: e.TargetID, Summary: summary, IP: e.IP, RequestID: e.RequestID, At: apiTime(e.At),
	}
}

// handleListAudit: GET /api/admin/audit?staff_id=&action=&target_type=&target_id=&cursor=&limit=
// → {"items","next_cursor"}, newest first.
func handleListAudit(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := pageQuery(c)
		if err != nil {
			return err
		}
		staffID, err := idQuery(c, "staff_id")
		if err != nil {
			return err
		}
		f := model.AuditFilter{StaffID: staffID, Action: c.Query("action"), TargetType: c.Query("target_type"),
			TargetID: c.Query("target_id")}
		items, next, err := svc.ListAudit(c.Request.Context(), f, p)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(items, next, toAuditAnswer))
		return nil
	}
}

type loginAnswer struct {
	ID       int64  `json:"id"`
	StaffID  int64  `json:"staff_id"`
	Username string `json:"username"`
	IP       string `json:"ip"`
	Outcome  string `json:"outcome"`
	Success  bool   `json:"success"`
	At       string `json:"at"`
}

func toLoginAnswer(a model.LoginAttempt) loginAnswer {
	return loginAnswer{ID: a.ID, StaffID: a.StaffID, Username: a.Username, IP: a.IP, Outcome: a.Outcome,
		Success: a.Success(), At: apiTime(a.At)}
}

// handleListLogins: GET /api/admin/logins?staff_id=&outcome=&cursor=&limit=
// → {"items","next_cursor"}, newest first.
func handleListLogins(svc Accounts) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := pageQuery(c)
		if err != nil {
			return err
		}
		staffID, err := idQuery(c, "staff_id")
		if err != nil {
			return err
		}
		items, next, err := svc.ListLogins(c.Request.Context(), model.LoginFilter{StaffID: staffID, Outcome: c.Query("outcome")}, p)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(items, next, toLoginAnswer))
		return nil
	}
}
