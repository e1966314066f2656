package api

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/service/auth"
)

// TOTP is what the TOTP handlers need (auth.Auth satisfies it).
type TOTP interface {
	EnrolTOTP(ctx context.Context) (auth.TOTPEnrolment, error)
	ConfirmTOTP(ctx context.Context, code string) error
	TOTPStatus(ctx context.Context) (enabled, pending bool, err error)
	ResetTOTP(ctx context.Context, staffID int64) error
}

// addTOTPRoutes adds the admins' second factor: status, enrolment,
// confirmation and the reset by another admin.
func (s *server) addTOTPRoutes(api *Router) {
	if s.TOTP == nil || s.Accounts == nil {
		return
	}
	svc := s.TOTP
	staff := api.Group("/admin", "admin", "staff", s.requireStaff())
	staff.Handle(http.MethodGet, "/totp", "Whether the signed-in account has TOTP enabled or pending", s.wrap(handleTOTPStatus(svc)))
	admin := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleAdmin))
	admin.Handle(http.MethodPost, "/totp/enrol", "Start TOTP: a secret, its otpauth URL and QR code (audited)", s.wrap(handleEnrolTOTP(svc)))
	admin.Handle(http.MethodPost, "/totp/confirm", `Enable TOTP with a current code {"code"} (audited)`, s.wrap(handleConfirmTOTP(svc)))
	admin.Handle(http.MethodDelete, "/staff/:id/totp", "Reset another staff member's TOTP (audited)", s.wrap(handleResetTOTP(svc)))
}

// handleTOTPStatus: GET /api/admin/totp → {"enabled","pending"}.
func handleTOTPStatus(svc TOTP) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		on, pending, err := svc.TOTPStatus(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"enabled": on, "pending": pending})
		return nil
	}
}

// handleEnrolTOTP: POST /api/admin/totp/enrol → {"secret","otpauth_url",
// "qr_png"} (the QR as a data: URL). Not cached anywhere.
func handleEnrolTOTP(svc TOTP) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		en, err := svc.EnrolTOTP(c.Request.Context())
		if err != nil {
			return err
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"secret": en.Secret, "otpauth_url": en.URL,
			"qr_png": "data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QRPNG)})
		return nil
	}
}

type totpCodeRequest struct {
	Code string `json:"code"`
}

func (r totpCodeRequest) Valid() map[string]string {
	if r.Code == "" || len(r.Code) > 16 {
		return map[string]string{"code": "请输入 6 位动态口令"}
	}
	return nil
}

// handleConfirmTOTP: POST /api/admin/totp/confirm {"code"} → 204.
func handleConfirmTOTP(svc TOTP) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[totpCodeRequest](c)
		if err != nil {
			return err
		}
		if err := svc.ConfirmTOTP(c.Request.Context(), req.Code); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}

// handleResetTOTP: DELETE /api/admin/staff/:id/totp → 204; 409
// cannot_reset_self for one's own.
func handleResetTOTP(svc TOTP) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		if err := svc.ResetTOTP(c.Request.Context(), id); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}
