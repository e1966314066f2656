package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"wanjia/model"
)

// Limits of what a person or a staff member writes into a case.
const (
	minDescription = 5
	maxDescription = 5000
	maxName        = 32
	maxDistrict    = 32
	maxContactNote = 200
	maxText        = 2000 // messages, replies, notes, reasons
	maxReason      = 200
	maxComment     = 500
)

// IntakeInput is a new case. Name and phone are required unless
// Anonymous; Contact defaults to mode any; Channel is set by the service
// for the Mini Program and must be hotline or walk_in for staff intake.
type IntakeInput struct {
	Category    model.CaseCategory
	Description string
	Name        string
	Phone       string
	Anonymous   bool
	Danger      bool
	District    string
	Contact     *model.ContactPrefs
	Channel     model.CaseChannel
}

func runes(s string, lo, hi int) bool {
	n := utf8.RuneCountInString(s)
	return n >= lo && n <= hi
}

// cleanText reports whether s is valid UTF-8 without control characters
// other than line breaks and tabs.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

// textProblem checks free text of lo–hi characters.
func textProblem(s string, lo, hi int) string {
	switch {
	case !cleanText(s):
		return "包含无效字符"
	case !runes(strings.TrimSpace(s), lo, hi):
		if lo > 0 {
			return fmt.Sprintf("须为 %d–%d 个字", lo, hi)
		}
		return fmt.Sprintf("不能超过 %d 个字", hi)
	}
	return ""
}

// validPhone accepts a mainland mobile (11 digits) or a landline of 7–12
// digits with optional dashes, spaces and a leading +.
func validPhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case (r == '-' || r == ' ') && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return digits >= 7 && digits <= 15
}

// validDistrict: short, no commas (stations store districts as a list).
func districtProblem(d string) string {
	if p := textProblem(d, 0, maxDistrict); p != "" {
		return p
	}
	if strings.ContainsAny(d, ",\n\r\t") {
		return "不能包含逗号或换行"
	}
	return ""
}

// ValidClock reports whether s is "HH:MM".
func ValidClock(s string) bool {
	_, err := clock(s)
	return err == nil && len(strings.TrimSpace(s)) == 5
}

// ContactProblems checks safe-contact preferences.
func ContactProblems(c model.ContactPrefs) map[string]string {
	bad := map[string]string{}
	switch c.Mode {
	case model.ContactAny, model.ContactNone, model.ContactMPOnly:
		if c.From != "" || c.To != "" {
			bad["contact.from"] = "只有按时段联系时才填写时段"
		}
	case model.ContactWindow:
		if !ValidClock(c.From) || !ValidClock(c.To) || strings.TrimSpace(c.From) == strings.TrimSpace(c.To) {
			bad["contact.from"] = "请填写联系时段，如 19:00 至 21:00"
		}
	default:
		bad["contact.mode"] = "须为 any、none、mp_only 或 window"
	}
	if p := textProblem(c.Note, 0, maxContactNote); p != "" {
		bad["contact.note"] = p
	}
	return bad
}

// Valid reports field problems (Chinese).
func (in IntakeInput) Valid() map[string]string {
	bad := map[string]string{}
	if !in.Category.Valid() {
		bad["category"] = "请选择求助类别"
	}
	if p := textProblem(in.Description, minDescription, maxDescription); p != "" {
		bad["description"] = p
	}
	name, phone := strings.TrimSpace(in.Name), strings.TrimSpace(in.Phone)
	if !in.Anonymous && name == "" {
		bad["name"] = "请填写称呼，或选择匿名"
	} else if p := textProblem(name, 0, maxName); p != "" {
		bad["name"] = p
	}
	switch {
	case phone == "" && !in.Anonymous:
		bad["phone"] = "请填写联系电话，或选择匿名"
	case phone != "" && !validPhone(phone):
		bad["phone"] = "电话号码格式不正确"
	}
	if p := districtProblem(in.District); p != "" {
		bad["district"] = p
	}
	if in.Contact != nil {
		for k, v := range ContactProblems(*in.Contact) {
			bad[k] = v
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// Emergency is the guidance a request in immediate danger is answered
// with.
type Emergency struct {
	Call            string          // 110
	Hotline         string          // 12338
	Message         string          // what to do now
	ProtectionOrder string          // how to get a personal safety protection order
	Station         *StationContact // the nearest active station for her category and district, if any
}

// StationContact is a station as the person sees it.
type StationContact struct {
	Name    string
	Phone   string
	Address string
}

// The emergency guidance texts.
const (
	EmergencyMessage = "如果您正处于危险中，请立即拨打110报警，并尽量到安全的地方（邻居家、公共场所、派出所）。" +
		"我们已通知值班工作人员，会尽快与您联系。"
	EmergencyProtectionOrder = "遭受家庭暴力或者面临家庭暴力的现实危险，您可以向人民法院申请人身安全保护令；" +
		"人民法院应当在受理后72小时内作出裁定，情况紧急的在24小时内作出（《反家庭暴力法》第二十三、二十八条）。" +
		"妇联、居委会、村委会可以帮助您申请。"
)

// IntakeResult is a new case and, when she is in danger, the guidance.
type IntakeResult struct {
	Case      model.Case
	Emergency *Emergency
}

// SubmitMP takes a case from Mini Program user userID: at most
// IntakePerDay a day (429), danger answered with the emergency guidance
// and an alert to the on-duty staff at once.
func (s *Service) SubmitMP(ctx context.Context, userID int64, in IntakeInput) (IntakeResult, error) {
	in.Channel = model.CaseChannelMP
	if bad := in.Valid(); bad != nil {
		return IntakeResult{}, model.Invalid(bad)
	}
	now := s.now()
	n, err := s.store.CountIntakeSince(ctx, userID, now.Add(-24*time.Hour))
	if err != nil {
		return IntakeResult{}, fmt.Errorf("intake: %w", err)
	}
	if n >= s.opts.IntakePerDay {
		return IntakeResult{}, model.Coded(model.ErrRateLimited, "rate_limited",
			"今天提交的求助较多，请稍后再试；情况紧急请直接拨打110或12338")
	}
	return s.intake(ctx, model.Principal{}, userID, in)
}

// SubmitStaff takes a case from a hotline call or a visit (caseworkers and
// admins; audited). Its first response is the intake itself. A station
// caseworker's case is assigned to her station at once, whatever the
// station's load: she is taking the call or the visit, and the case must
// be recorded where she can see it (it counts towards the load from then
// on; only assignments, transfers and reopenings are refused at
// capacity). A district coordinator's case belongs to her district.
func (s *Service) SubmitStaff(ctx context.Context, in IntakeInput) (IntakeResult, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return IntakeResult{}, err
	}
	bad := in.Valid()
	if in.Channel != model.CaseChannelHotline && in.Channel != model.CaseChannelWalkIn {
		if bad == nil {
			bad = map[string]string{}
		}
		bad["channel"] = "须为 hotline 或 walk_in"
	}
	if !isAdmin(p) && p.StationID == 0 && p.District != "" {
		switch strings.TrimSpace(in.District) {
		case "":
			in.District = p.District
		case p.District:
		default:
			if bad == nil {
				bad = map[string]string{}
			}
			bad["district"] = "只能登记本辖区的案件"
		}
	}
	if bad != nil {
		return IntakeResult{}, model.Invalid(bad)
	}
	res, err := s.intake(ctx, p, 0, in)
	if err != nil {
		return IntakeResult{}, err
	}
	s.record(ctx, "case.intake", "case", res.Case.CaseNo, nil, map[string]any{
		"channel": res.Case.Channel, "category": res.Case.Category, "danger": res.Case.Danger, "station_id": res.Case.StationID})
	return res, nil
}

// intake seals and stores a new case with its intake event (and, for a
// station caseworker, its assignment), then answers and alerts.
func (s *Service) intake(ctx context.Context, p model.Principal, userID int64, in IntakeInput) (IntakeResult, error) {
	now := s.now()
	contact := model.ContactPrefs{Mode: model.ContactAny}
	if in.Contact != nil {
		contact = *in.Contact
		contact.From, contact.To, contact.Note = strings.TrimSpace(contact.From), strings.TrimSpace(contact.To),
			strings.TrimSpace(contact.Note)
	}
	cal, err := s.calendar(ctx)
	if err != nil {
		return IntakeResult{}, fmt.Errorf("intake: %w", err)
	}
	var stored model.Case
	for range 3 { // a case-number collision (64 random bits) is retried
		stored, err = s.insert(ctx, p, userID, in, contact, cal, now)
		if !errors.Is(err, model.ErrConflict) {
			break
		}
	}
	if err != nil {
		return IntakeResult{}, fmt.Errorf("intake: %w", err)
	}
	s.log.InfoContext(ctx, "case received", "case", stored, "channel", stored.Channel, "danger", stored.Danger)
	s.intakes.WithLabelValues(string(stored.Channel), strconv.FormatBool(stored.Danger)).Inc()
	res := IntakeResult{Case: stored}
	if stored.Danger {
		res.Emergency = s.emergency(ctx, stored)
		s.alertDanger(ctx, stored)
	} else if stored.StationID == 0 {
		s.alertStaff(ctx, stored, 0, "新的维权求助", "intake", false)
	}
	return res, nil
}

func (s *Service) insert(ctx context.Context, p model.Principal, userID int64, in IntakeInput, contact model.ContactPrefs,
	cal Calendar, now time.Time) (model.Case, error) {
	no, err := s.newCaseNo(now)
	if err != nil {
		return model.Case{}, err
	}
	c := model.Case{
		CaseNo: no, UserID: userID, Channel: in.Channel, Category: in.Category, District: strings.TrimSpace(in.District),
		Status: model.CaseReceived, Danger: in.Danger, Anonymous: in.Anonymous, ReceivedAt: now,
		FirstResponseDue: cal.Add(now, time.Duration(s.opts.FirstResponseHours)*time.Hour),
		CloseDue:         now.Add(time.Duration(s.opts.CloseDays) * 24 * time.Hour), CreatedBy: p.SubjectID,
	}
	cj, err := json.Marshal(contact)
	if err != nil {
		return model.Case{}, err
	}
	for _, f := range []struct {
		field, text string
		dst         *string
	}{
		{"name", strings.TrimSpace(in.Name), &c.NameSealed},
		{"phone", strings.TrimSpace(in.Phone), &c.PhoneSealed},
		{"description", strings.TrimSpace(in.Description), &c.DescriptionSealed},
		{"contact", string(cj), &c.ContactSealed},
	} {
		if *f.dst, err = s.seal(f.field, no, f.text); err != nil {
			return model.Case{}, err
		}
	}
	ch := s.change(&c, cal)
	ch.now = now
	intake := model.CaseEvent{Kind: model.EventIntake, ToStatus: model.CaseReceived, Visible: true, ActorKind: model.ActorOwner,
		Meta: map[string]string{
			"channel": string(c.Channel), "category": string(c.Category), "district": c.District,
			"danger": strconv.FormatBool(c.Danger), "anonymous": strconv.FormatBool(c.Anonymous),
		}}
	if p.Kind == model.SessionStaff {
		intake.ActorKind, intake.ActorID = model.ActorStaff, p.SubjectID
	}
	if err := ch.add(intake); err != nil {
		return model.Case{}, err
	}
	if err := ch.respond(intake); err != nil {
		return model.Case{}, err
	}
	if p.Kind == model.SessionStaff && p.StationID != 0 && !isAdmin(p) {
		c.StationID = p.StationID
		c.Status = model.CaseAssigned
		err := ch.staffEvent(p, model.CaseEvent{Kind: model.EventAssign, FromStatus: model.CaseReceived,
			ToStatus: model.CaseAssigned, Body: "服务站直接受理", Meta: map[string]string{"from_station": "0"}})
		if err != nil {
			return model.Case{}, err
		}
	}
	c.NoticeSeq, c.NotifiedSeq = 0, 0 // she knows: she just wrote it
	stored, _, err := s.store.Create(ctx, c, ch.events)
	return stored, err
}

// emergency builds the guidance, with the nearest station when one covers
// her category and district.
func (s *Service) emergency(ctx context.Context, c model.Case) *Emergency {
	e := &Emergency{Call: "110", Hotline: "12338", Message: EmergencyMessage, ProtectionOrder: EmergencyProtectionOrder}
	sugg, err := s.suggest(ctx, c)
	if err != nil {
		s.log.WarnContext(ctx, "emergency: stations", "case", c, "err", err)
		return e
	}
	for _, sg := range sugg {
		if sg.Station.Phone != "" {
			e.Station = &StationContact{Name: sg.Station.Name, Phone: sg.Station.Phone, Address: sg.Station.Address}
			break
		}
	}
	return e
}
