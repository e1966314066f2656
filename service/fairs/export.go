package fairs

import (
	"context"
	"fmt"
	"strings"

	"github.com/skip2/go-qrcode"
	"github.com/xuri/excelize/v2"

	"wanjia/model"
	"wanjia/service/protect"
)

// SignupView is a signup as staff see it: the phone masked unless the
// staff member's role allows the full number (admin).
type SignupView struct {
	model.Signup
	Employer string
	Position string
	Phone    string
}

// phoneRoles may see full phone numbers in lists and exports.
var phoneRoles = []model.Role{model.RoleAdmin}

// Signups returns the signups of a fair for staff (fair_manager), in id
// order, optionally only those of one employer.
func (s *Service) Signups(ctx context.Context, fairID int64, employer string) (model.Fair, []SignupView, error) {
	p, err := requireFairManager(ctx)
	if err != nil {
		return model.Fair{}, nil, err
	}
	f, err := s.store.FairByID(ctx, fairID)
	if err != nil {
		return model.Fair{}, nil, err
	}
	sus, err := s.store.SignupsByFair(ctx, fairID)
	if err != nil {
		return model.Fair{}, nil, err
	}
	positions := make(map[int64]model.Position, len(f.Positions))
	for _, pos := range f.Positions {
		positions[pos.ID] = pos
	}
	full := p.HasRole(phoneRoles...)
	out := make([]SignupView, 0, len(sus))
	for _, su := range sus {
		pos := positions[su.PositionID]
		if employer != "" && pos.Employer != employer {
			continue
		}
		phone, err := s.keys.Open(su.PhoneSealed, phoneAAD)
		if err != nil {
			return model.Fair{}, nil, fmt.Errorf("signups: open phone of %d: %w", su.ID, err)
		}
		if !full {
			phone = protect.MaskPhone(phone)
		}
		out = append(out, SignupView{Signup: su, Employer: pos.Employer, Position: pos.Title, Phone: phone})
	}
	return f, out, nil
}

var statusNames = map[model.SignupStatus]string{
	model.SignupConfirmed: "已确认", model.SignupWaitlisted: "候补", model.SignupOffered: "待确认",
	model.SignupCancelled: "已取消", model.SignupExpired: "已失效",
}

// Export writes the signups of a fair (or of one employer at it) as an
// .xlsx workbook and records the export in the audit log. It returns the
// file and a file name.
func (s *Service) Export(ctx context.Context, fairID int64, employer string) ([]byte, string, error) {
	p, err := requireFairManager(ctx)
	if err != nil {
		return nil, "", err
	}
	f, views, err := s.Signups(ctx, fairID, employer)
	if err != nil {
		return nil, "", err
	}
	x := excelize.NewFile()
	defer func() { _ = x.Close() }()
	const sheet = "Sheet1"
	header := []any{"报名编号", "姓名", "电话", "用人单位", "岗位", "状态", "候补序号", "报名时间", "签到时间", "已就业"}
	if err := x.SetSheetRow(sheet, "A1", &header); err != nil {
		return nil, "", fmt.Errorf("export: %w", err)
	}
	for i, v := range views {
		checked, placed := "", ""
		if !v.CheckedInAt.IsZero() {
			checked = v.CheckedInAt.In(s.loc).Format("2006-01-02 15:04")
		}
		if !v.PlacedAt.IsZero() {
			placed = "是"
		}
		place := ""
		if v.Status == model.SignupWaitlisted {
			place = fmt.Sprint(v.WaitlistPosition)
		}
		row := []any{v.ID, cellText(v.Name), cellText(v.Phone), cellText(v.Employer), cellText(v.Position),
			statusNames[v.Status], place, v.CreatedAt.In(s.loc).Format("2006-01-02 15:04"), checked, placed}
		cell, err := excelize.CoordinatesToCellName(1, i+2)
		if err != nil {
			return nil, "", fmt.Errorf("export: %w", err)
		}
		if err := x.SetSheetRow(sheet, cell, &row); err != nil {
			return nil, "", fmt.Errorf("export: %w", err)
		}
	}
	buf, err := x.WriteToBuffer()
	if err != nil {
		return nil, "", fmt.Errorf("export: %w", err)
	}
	s.record(ctx, "fair.signups.export", "fair", f.ID, map[string]any{"rows": len(views), "employer": employer,
		"full_phone": p.HasRole(phoneRoles...)})
	return buf.Bytes(), fmt.Sprintf("fair-%d-signups.xlsx", f.ID), nil
}

// cellText keeps user-entered text from being read as a formula by a
// spreadsheet (CSV/formula injection).
func cellText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// TicketPNG returns the check-in code of userID's signup as a QR PNG.
func (s *Service) TicketPNG(ctx context.Context, userID, signupID int64, size int) ([]byte, error) {
	code, _, err := s.Ticket(ctx, userID, signupID)
	if err != nil {
		return nil, err
	}
	if size < 128 || size > 1024 {
		size = 256
	}
	png, err := qrcode.Encode(code, qrcode.Medium, size)
	if err != nil {
		return nil, fmt.Errorf("ticket qr: %w", err)
	}
	return png, nil
}

// Reply answers the OA intent 招聘 with up to three upcoming fairs (the
// gateway provider "fairs"); nil when there are none, so the rule's
// static reply answers.
func (s *Service) Reply(ctx context.Context) (*model.Reply, error) {
	fs, err := s.store.UpcomingFairs(ctx, s.now(), 3)
	if err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, nil
	}
	var b strings.Builder
	b.WriteString("近期女性专场招聘会：")
	for _, f := range fs {
		venue := f.Venue
		if f.Mode == model.FairOnline {
			venue = "线上"
		}
		fmt.Fprintf(&b, "\n· %s，%s，%s，余 %d 席", f.Title, f.StartsAt.In(s.loc).Format("1月2日 15:04"), venue, f.SeatsLeft())
	}
	b.WriteString("\n请在小程序“招聘会”中报名。")
	return &model.Reply{Kind: model.ReplyText, Text: b.String()}, nil
}
