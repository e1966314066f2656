package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"wanjia/model"
)

// Messages lists the message log (messages.Service satisfies it).
type Messages interface {
	ListMessages(ctx context.Context, f model.MessageLogFilter, p model.Page) ([]model.MessageLogEntry, string, error)
}

// addGatewayRoutes registers the WeChat callbacks (off the root, no rate
// limit) and, for admins and editors, the message log.
func (s *server) addGatewayRoutes(r, api *Router) {
	s.addCallbackRoutes(r)
	if s.Messages != nil && s.Accounts != nil {
		inbox := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleEditor))
		inbox.Handle(http.MethodGet, "/messages", "The WeChat message log, newest first (admin, editor): "+
			"?app=oa|mp&openid=&type=&crisis=true&from=&to=&cursor=&limit=", s.wrap(handleListMessages(s.Messages)))
	}
}

type messageAnswer struct {
	ID         int64  `json:"id"`
	App        string `json:"app"`
	OpenID     string `json:"openid"`
	MsgType    string `json:"msg_type"`
	Event      string `json:"event,omitempty"`
	EventKey   string `json:"event_key,omitempty"`
	Content    string `json:"content"`
	Crisis     bool   `json:"crisis"`
	ReceivedAt string `json:"received_at"`
}

func toMessageAnswer(e model.MessageLogEntry) messageAnswer {
	return messageAnswer{ID: e.ID, App: string(e.App), OpenID: e.OpenID, MsgType: e.MsgType, Event: e.Event,
		EventKey: e.EventKey, Content: e.Content, Crisis: e.Crisis, ReceivedAt: apiTime(e.ReceivedAt)}
}

// timeQuery reads an optional time: RFC 3339, or a day (2026-03-01) in
// Asia/Shanghai, meaning its start — or, with endOfDay, the start of the
// next day (so ?to=2026-03-01 includes that day).
func timeQuery(c *gin.Context, name string, endOfDay bool) (time.Time, error) {
	s := c.Query(name)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, shanghai)
	if err != nil {
		return time.Time{}, model.Invalid(map[string]string{name: "须为 RFC 3339 时间或 YYYY-MM-DD 日期"})
	}
	if endOfDay {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

// handleListMessages: GET /api/admin/messages?app=&openid=&type=&crisis=
// &from=&to=&cursor=&limit= → {"items":[{"id","app","openid","msg_type",
// "event","event_key","content","crisis","received_at"}],"next_cursor"}.
// The content is shown in full: this is the staff's inbox.
func handleListMessages(svc Messages) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := pageQuery(c)
		if err != nil {
			return err
		}
		f := model.MessageLogFilter{App: model.App(c.Query("app")), OpenID: c.Query("openid"), MsgType: c.Query("type")}
		problems := map[string]string{}
		if f.App != "" && f.App != model.AppOA && f.App != model.AppMP {
			problems["app"] = "须为 oa 或 mp"
		}
		if len(f.OpenID) > 64 {
			problems["openid"] = "太长"
		}
		if len(f.MsgType) > 32 {
			problems["type"] = "太长"
		}
		if s := c.Query("crisis"); s != "" {
			crisis, err := strconv.ParseBool(s)
			if err != nil {
				problems["crisis"] = "须为 true 或 false"
			}
			f.Crisis = crisis
		}
		if err := model.Invalid(problems); err != nil {
			return err
		}
		if f.From, err = timeQuery(c, "from", false); err != nil {
			return err
		}
		if f.To, err = timeQuery(c, "to", true); err != nil {
			return err
		}
		items, next, err := svc.ListMessages(c.Request.Context(), f, p)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(items, next, toMessageAnswer))
		return nil
	}
}
