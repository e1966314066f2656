package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/service/notify"
)

// Notifications is what the notification-centre handlers need
// (notify.Service satisfies it). Role checks are repeated by the service.
type Notifications interface {
	RecordClientConsents(ctx context.Context, userID int64, results map[string]string) ([]model.Consent, error)
	Pushes(ctx context.Context, p model.Page) ([]notify.PushSummary, string, error)
	Push(ctx context.Context, id int64) (notify.PushSummary, error)
	Deliveries(ctx context.Context, f model.DeliveryFilter, p model.Page) ([]model.Delivery, string, error)
	Templates(ctx context.Context) ([]model.NotifyTemplate, error)
	UpdateTemplates(ctx context.Context, ts []model.NotifyTemplate) ([]model.NotifyTemplate, error)
	Alerts(ctx context.Context, unreadOnly bool, p model.Page) ([]model.StaffAlert, string, error)
	MarkAlertRead(ctx context.Context, id int64) error
}

// addNotifyRoutes adds the notification centre's routes under /api (with
// Deps.Notify and Deps.Accounts): the Mini Program's consent report, the
// push and delivery log and the templates for admins and editors, and
// each staff member's console alerts.
func (s *server) addNotifyRoutes(api *Router) {
	if s.Notify == nil || s.Accounts == nil {
		return
	}
	svc := s.Notify
	mp := api.Group("/mp", "mp", "mp", s.requireMP())
	mp.Handle(http.MethodPost, "/consents", "Record the results of wx.requestSubscribeMessage", s.wrap(handleConsents(svc)))

	ed := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleAdmin, model.RoleEditor))
	ed.Handle(http.MethodGet, "/pushes", "Pushes, newest first, with delivery counts", s.wrap(handleListPushes(svc)))
	ed.Handle(http.MethodGet, "/pushes/:id", "One push: targets, sent, failed, no consent, read (and its lesson's figures)",
		s.wrap(handleGetPush(svc, s.pushLesson)))
	ed.Handle(http.MethodGet, "/deliveries", "The delivery log per push or person, newest first", s.wrap(handleListDeliveries(svc)))
	ed.Handle(http.MethodGet, "/notify/templates", "Notification templates per topic", s.wrap(handleListTemplates(svc)))
	ed.Handle(http.MethodPut, "/notify/templates", "Change notification templates (audited)", s.wrap(handlePutTemplates(svc)))

	staff := api.Group("/admin", "admin", "staff", s.requireStaff())
	staff.Handle(http.MethodGet, "/alerts", "The signed-in staff member's console alerts", s.wrap(handleListAlerts(svc)))
	staff.Handle(http.MethodPost, "/alerts/:id/read", "Mark an alert read", s.wrap(handleReadAlert(svc)))
}

// maxConsentResults bounds POST /api/mp/consents before the service looks.
const maxConsentResults = 20

type consentsRequest struct {
	Results map[string]string `json:"results"`
}

func (r consentsRequest) Valid() map[string]string {
	switch {
	case len(r.Results) == 0:
		return map[string]string{"results": "必填"}
	case len(r.Results) > maxConsentResults:
		return map[string]string{"results": "模板太多"}
	}
	return nil
}

type consentAnswer struct {
	TemplateID string `json:"template_id"`
	Remaining  int    `json:"remaining"`
	LongTerm   bool   `json:"long_term"`
}

// handleConsents: POST /api/mp/consents {"results":{"<template_id>":"accept"|
// "reject"|"ban"|"filter"}} → {"items":[{"template_id","remaining","long_term"}]}
// for the templates some topic uses.
func handleConsents(svc Notifications) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[consentsRequest](c)
		if err != nil {
			return err
		}
		p, err := principal(c)
		if err != nil {
			return err
		}
		cs, err := svc.RecordClientConsents(c.Request.Context(), p.SubjectID, req.Results)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(cs, "", func(x model.Consent) consentAnswer {
			return consentAnswer{TemplateID: x.TemplateID, Remaining: x.Remaining, LongTerm: x.LongTerm}
		}))
		return nil
	}
}

type pushAnswer struct {
	ID        int64  `json:"id"`
	Title     string `json:"title"`
	Topic     string `json:"topic"`
	CreatedBy int64  `json:"created_by"`
	CreatedAt string `json:"created_at"`
	// CancelledAt is when the push was stopped (its lesson withdrawn);
	// null while it is not. Its notices not sent by then are skipped.
	CancelledAt *string        `json:"cancelled_at"`
	Targets     int            `json:"targets"`
	Pending     int            `json:"pending"`
	Sent        int            `json:"sent"`
	Failed      int            `json:"failed"`
	NoConsent   int            `json:"no_consent"`
	NoChannel   int            `json:"no_channel"`
	Skipped     int            `json:"skipped"`
	Read        int            `json:"read"` // opened after the notice (reported by lessons; articles not yet)
	Channels    map[string]int `json:"channels,omitempty"`
	// Lesson is the lesson the push announced, with its figures (GET
	// /pushes/:id of a lesson push only).
	Lesson *pushLessonAnswer `json:"lesson,omitempty"`
}

func toPushAnswer(p notify.PushSummary, channels bool) pushAnswer {
	a := pushAnswer{
		ID: p.ID, Title: p.Title, Topic: p.Topic, CreatedBy: p.CreatedBy, CreatedAt: apiTime(p.CreatedAt),
		CancelledAt: apiTimePtr(p.CancelledAt), Targets: p.Counts.Targets, Pending: p.Counts.Pending, Sent: p.Counts.Sent, Failed: p.Counts.Failed,
		NoConsent: p.Counts.NoConsent, NoChannel: p.Counts.NoChannel, Skipped: p.Counts.Skipped, Read: p.Counts.Read,
	}
	if channels {
		a.Channels = p.Counts.Channels
		if a.Channels == nil {
			a.Channels = map[string]int{}
		}
	}
	return a
}

// handleListPushes: GET /api/admin/pushes?cursor=&limit= → {"items":[{"id",
// "title","topic","created_by","created_at","targets","pending","sent",
// "failed","no_consent","no_channel","skipped","read"}],"next_cursor"}.
func handleListPushes(svc Notifications) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := pageQuery(c)
		if err != nil {
			return err
		}
		ps, next, err := svc.Pushes(c.Request.Context(), p)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(ps, next, func(p notify.PushSummary) pushAnswer { return toPushAnswer(p, false) }))
		return nil
	}
}

// handleGetPush: GET /api/admin/pushes/:id → the push's counts, plus
// "channels" (sent deliveries per channel) and, for a lesson's push,
// "lesson" with its figures (lesson, nil without a lessons area).
func handleGetPush(svc Notifications, lesson func(ctx context.Context, pushID int64) (*pushLessonAnswer, error)) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		p, err := svc.Push(c.Request.Context(), id)
		if err != nil {
			return err
		}
		a := toPushAnswer(p, true)
		if a.Lesson, err = lesson(c.Request.Context(), id); err != nil {
			return err
		}
		c.JSON(http.StatusOK, a)
		return nil
	}
}

type deliveryAnswer struct {
	ID         int64   `json:"id"`
	PushID     int64   `json:"push_id"`
	Topic      string  `json:"topic"`
	UserID     int64   `json:"user_id"`
	StaffID    int64   `json:"staff_id"`
	OpenID     string  `json:"openid"` // masked
	Urgent     bool    `json:"urgent"`
	Status     string  `json:"status"`
	Channel    string  `json:"channel"`
	TemplateID string  `json:"template_id"`
	MsgID      string  `json:"msg_id"`
	Errcode    int     `json:"errcode"`
	Error      string  `json:"error"`
	Attempts   int     `json:"attempts"`
	NotBefore  string  `json:"not_before"`
	SentAt     *string `json:"sent_at"`
	CreatedAt  string  `json:"created_at"`
	UpdatedAt  string  `json:"updated_at"`
}

// maskOpenID keeps the ends of an openid, enough to tell two apart.
func maskOpenID(s string) string {
	if len(s) <= 8 {
		return s
	}
	return s[:4] + "****" + s[len(s)-4:]
}

func toDeliveryAnswer(d model.Delivery) deliveryAnswer {
	return deliveryAnswer{
		ID: d.ID, PushID: d.PushID, Topic: d.Topic, UserID: d.UserID, StaffID: d.StaffID, OpenID: maskOpenID(d.OpenID),
		Urgent: d.Urgent, Status: d.Status, Channel: d.Channel, TemplateID: d.TemplateID, MsgID: d.MsgID, Errcode: d.Errcode,
		Error: d.Error, Attempts: d.Attempts, NotBefore: apiTime(d.NotBefore), SentAt: apiTimePtr(d.SentAt),
		CreatedAt: apiTime(d.CreatedAt), UpdatedAt: apiTime(d.UpdatedAt),
	}
}

// handleListDeliveries: GET /api/admin/deliveries?push_id=&user_id=&staff_id=
// &topic=&status=&cursor=&limit= → {"items":[{"id","push_id","topic",
// "user_id","staff_id","openid","urgent","status","channel","template_id",
// "msg_id","errcode","error","attempts","not_before","sent_at","created_at",
// "updated_at"}],"next_cursor"}. The notices' values are not shown.
func handleListDeliveries(svc Notifications) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := pageQuery(c)
		if err != nil {
			return err
		}
		var f model.DeliveryFilter
		if f.PushID, err = idQuery(c, "push_id"); err != nil {
			return err
		}
		if f.UserID, err = idQuery(c, "user_id"); err != nil {
			return err
		}
		if f.StaffID, err = idQuery(c, "staff_id"); err != nil {
			return err
		}
		f.Topic, f.Status = c.Query("topic"), c.Query("status")
		if len(f.Topic) > 48 {
			return model.Invalid(map[string]string{"topic": "太长"})
		}
		ds, next, err := svc.Deliveries(c.Request.Context(), f, p)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(ds, next, toDeliveryAnswer))
		return nil
	}
}

type templateFieldBody struct {
	Key     string `json:"key"`
	Field   string `json:"field"`
	Default string `json:"default"`
}

type templateBody struct {
	Topic        string              `json:"topic"`
	Name         string              `json:"name"`
	MPTemplateID string              `json:"mp_template_id"`
	MPFields     []templateFieldBody `json:"mp_fields"`
	OATemplateID string              `json:"oa_template_id"`
	OAFields     []templateFieldBody `json:"oa_fields"`
	Text         string              `json:"text"`
	LongTerm     bool                `json:"long_term"`
	Enabled      bool                `json:"enabled"`
	UpdatedAt    string              `json:"updated_at,omitempty"`
}

func fieldBodies(fs []model.TemplateField) []templateFieldBody {
	out := make([]templateFieldBody, len(fs))
	for i, f := range fs {
		out[i] = templateFieldBody{Key: f.Key, Field: f.Field, Default: f.Default}
	}
	return out
}

func fieldModels(fs []templateFieldBody) []model.TemplateField {
	out := make([]model.TemplateField, len(fs))
	for i, f := range fs {
		out[i] = model.TemplateField{Key: f.Key, Field: f.Field, Default: f.Default}
	}
	return out
}

func toTemplateBody(t model.NotifyTemplate) templateBody {
	return templateBody{
		Topic: t.Topic, Name: t.Name, MPTemplateID: t.MPTemplateID, MPFields: fieldBodies(t.MPFields),
		OATemplateID: t.OATemplateID, OAFields: fieldBodies(t.OAFields), Text: t.Text, LongTerm: t.LongTerm,
		Enabled: t.Enabled, UpdatedAt: apiTime(t.UpdatedAt),
	}
}

// handleListTemplates: GET /api/admin/notify/templates → {"items":[{"topic",
// "name","mp_template_id","mp_fields":[{"key","field","default"}],
// "oa_template_id","oa_fields","text","long_term","enabled","updated_at"}],
// "next_cursor":""}.
func handleListTemplates(svc Notifications) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		ts, err := svc.Templates(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(ts, "", toTemplateBody))
		return nil
	}
}

type putTemplatesRequest struct {
	Items []templateBody `json:"items"`
}

// Valid leaves the rules to the service.
func (r putTemplatesRequest) Valid() map[string]string {
	if len(r.Items) == 0 {
		return map[string]string{"items": "必填"}
	}
	return nil
}

// handlePutTemplates: PUT /api/admin/notify/templates {"items":[template…]}
// writes the listed topics (others unchanged) and answers every template
// as GET does.
func handlePutTemplates(svc Notifications) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[putTemplatesRequest](c)
		if err != nil {
			return err
		}
		ts := make([]model.NotifyTemplate, len(req.Items))
		for i, b := range req.Items {
			ts[i] = model.NotifyTemplate{
				Topic: b.Topic, Name: b.Name, MPTemplateID: b.MPTemplateID, MPFields: fieldModels(b.MPFields),
				OATemplateID: b.OATemplateID, OAFields: fieldModels(b.OAFields), Text: b.Text, LongTerm: b.LongTerm,
				Enabled: b.Enabled,
			}
		}
		all, err := svc.UpdateTemplates(c.Request.Context(), ts)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(all, "", toTemplateBody))
		return nil
	}
}

type alertAnswer struct {
	ID        int64             `json:"id"`
	Topic     string            `json:"topic"`
	Fields    map[string]string `json:"fields"`
	Page      string            `json:"page"`
	URL       string            `json:"url"`
	Urgent    bool              `json:"urgent"`
	CreatedAt string            `json:"created_at"`
	ReadAt    *string           `json:"read_at"`
}

// handleListAlerts: GET /api/admin/alerts?unread=true&cursor=&limit= →
// {"items":[{"id","topic","fields","page","url","urgent","created_at",
// "read_at"}],"next_cursor"}, the signed-in staff member's, newest first.
func handleListAlerts(svc Notifications) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := pageQuery(c)
		if err != nil {
			return err
		}
		unread := false
		if v := c.Query("unread"); v != "" {
			if unread, err = strconv.ParseBool(v); err != nil {
				return model.Invalid(map[string]string{"unread": "须为 true 或 false"})
			}
		}
		as, next, err := svc.Alerts(c.Request.Context(), unread, p)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(as, next, func(a model.StaffAlert) alertAnswer {
			f := a.Fields
			if f == nil {
				f = map[string]string{}
			}
			return alertAnswer{ID: a.ID, Topic: a.Topic, Fields: f, Page: a.Page, URL: a.URL, Urgent: a.Urgent,
				CreatedAt: apiTime(a.CreatedAt), ReadAt: apiTimePtr(a.ReadAt)}
		}))
		return nil
	}
}

// handleReadAlert: POST /api/admin/alerts/:id/read → 204; another staff
// member's alert is 404.
func handleReadAlert(svc Notifications) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		if err := svc.MarkAlertRead(c.Request.Context(), id); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}
