package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"wanjia/model"
	"wanjia/service/gateway"
)

// GatewayAdmin is what the staff handlers of the WeChat gateway need
// (gateway.Service satisfies it): auto-reply rules, crisis words, the
// custom menu and the follower list. The service checks roles and audits.
type GatewayAdmin interface {
	ListReplyRules(ctx context.Context) ([]model.ReplyRule, error)
	CreateReplyRule(ctx context.Context, r model.ReplyRule) (model.ReplyRule, error)
	UpdateReplyRule(ctx context.Context, id int64, p gateway.RulePatch) (model.ReplyRule, error)
	DeleteReplyRule(ctx context.Context, id int64) error

	CrisisSettings(ctx context.Context) (model.CrisisSettings, error)
	UpdateCrisisSettings(ctx context.Context, u gateway.CrisisUpdate) (model.CrisisSettings, error)

	Menu(ctx context.Context) (model.Menu, error)
	SaveMenu(ctx context.Context, buttons []model.MenuButton) (model.Menu, error)
	PublishMenu(ctx context.Context) (model.Menu, error)

	ListFollowers(ctx context.Context, f model.FollowerFilter, p model.Page) ([]model.Follower, string, error)
}

// addGatewayAdminRoutes registers the gateway's staff routes: replies,
// menu and crisis words for editors (and admins), followers likewise.
func (s *server) addGatewayAdminRoutes(api *Router) {
	if s.GatewayAdmin == nil || s.Accounts == nil {
		return
	}
	g := s.GatewayAdmin
	ed := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleEditor))
	ed.Handle(http.MethodGet, "/replies", "Auto-reply rules, by id", s.wrap(handleListReplies(g)))
	ed.Handle(http.MethodPost, "/replies", "Create an auto-reply rule (audited)", s.wrap(handleCreateReply(g)))
	ed.Handle(http.MethodPatch, "/replies/:id", "Change an auto-reply rule (audited)", s.wrap(handleUpdateReply(g)))
	ed.Handle(http.MethodPut, "/replies/:id", "Change an auto-reply rule (same as PATCH; audited)", s.wrap(handleUpdateReply(g)))
	ed.Handle(http.MethodDelete, "/replies/:id", "Delete an auto-reply rule (audited)", s.wrap(handleDeleteReply(g)))
	ed.Handle(http.MethodGet, "/crisis-words", "Crisis words and the staff they alert", s.wrap(handleCrisisWords(g)))
	ed.Handle(http.MethodPut, "/crisis-words", "Change the crisis words (editors) or the staff alerted (admins); audited",
		s.wrap(handleUpdateCrisisWords(g)))
	ed.Handle(http.MethodGet, "/menu", "The Official Account's custom menu as saved", s.wrap(handleMenu(g)))
	ed.Handle(http.MethodPut, "/menu", "Save the custom menu, checked against WeChat's limits (audited)", s.wrap(handleSaveMenu(g)))
	ed.Handle(http.MethodPost, "/menu/publish", "Publish the saved menu to WeChat (audited)", s.wrap(handlePublishMenu(g)))
	ed.Handle(http.MethodGet, "/followers", "Followers of the Official Account, newest first", s.wrap(handleListFollowers(g)))
}

// --- Replies ---

type ruleAnswer struct {
	ID        int64             `json:"id"`
	Name      string            `json:"name"`
	Match     model.MatchType   `json:"match"`
	Mode      model.KeywordMode `json:"mode"`
	Keywords  []string          `json:"keywords"`
	Priority  int               `json:"priority"`
	Reply     model.Reply       `json:"reply"`
	Provider  string            `json:"provider"`
	Enabled   bool              `json:"enabled"`
	CreatedAt string            `json:"created_at"`
	UpdatedAt string            `json:"updated_at"`
}

func toRuleAnswer(r model.ReplyRule) ruleAnswer {
	kw := r.Keywords
	if kw == nil {
		kw = []string{}
	}
	return ruleAnswer{
		ID: r.ID, Name: r.Name, Match: r.Match, Mode: r.Mode, Keywords: kw, Priority: r.Priority, Reply: r.Reply,
		Provider: r.Provider, Enabled: r.Enabled, CreatedAt: apiTime(r.CreatedAt), UpdatedAt: apiTime(r.UpdatedAt),
	}
}

// handleListReplies: GET /api/admin/replies → {"items":[rule],"next_cursor":""}.
// There are at most gateway.MaxRules rules, so one page holds them all.
func handleListReplies(svc GatewayAdmin) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		rules, err := svc.ListReplyRules(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(rules, "", toRuleAnswer))
		return nil
	}
}

type ruleRequest struct {
	Name     string            `json:"name"`
	Match    model.MatchType   `json:"match"`
	Mode     model.KeywordMode `json:"mode"`
	Keywords []string          `json:"keywords"`
	Priority int               `json:"priority"`
	Reply    model.Reply       `json:"reply"`
	Provider string            `json:"provider"`
	Enabled  *bool             `json:"enabled"` // default true
}

// Valid leaves the rules to gateway.ValidateRule.
func (ruleRequest) Valid() map[string]string { return nil }

// handleCreateReply: POST /api/admin/replies {"name","match","mode",
// "keywords","priority","reply":{"kind","text"|"media_id"|"articles"},
// "provider","enabled"} → 201 the rule.
func handleCreateReply(svc GatewayAdmin) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[ruleRequest](c)
		if err != nil {
			return err
		}
		enabled := req.Enabled == nil || *req.Enabled
		r, err := svc.CreateReplyRule(c.Request.Context(), model.ReplyRule{
			Name: req.Name, Match: req.Match, Mode: req.Mode, Keywords: req.Keywords, Priority: req.Priority,
			Reply: req.Reply, Provider: req.Provider, Enabled: enabled,
		})
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, toRuleAnswer(r))
		return nil
	}
}

type rulePatchRequest struct {
	Name     *string            `json:"name"`
	Match    *model.MatchType   `json:"match"`
	Mode     *model.KeywordMode `json:"mode"`
	Keywords *[]string          `json:"keywords"`
	Priority *int               `json:"priority"`
	Reply    *model.Reply       `json:"reply"`
	Provider *string            `json:"provider"`
	Enabled  *bool              `json:"enabled"`
}

func (rulePatchRequest) Valid() map[string]string { return nil }

// handleUpdateReply: PATCH (or PUT) /api/admin/replies/:id with the fields
// to change → the rule.
func handleUpdateReply(svc GatewayAdmin) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		req, err := decode[rulePatchRequest](c)
		if err != nil {
			return err
		}
		r, err := svc.UpdateReplyRule(c.Request.Context(), id, gateway.RulePatch{
			Name: req.Name, Match: req.Match, Mode: req.Mode, Keywords: req.Keywords, Priority: req.Priority,
			Reply: req.Reply, Provider: req.Provider, Enabled: req.Enabled,
		})
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toRuleAnswer(r))
		return nil
	}
}

// handleDeleteReply: DELETE /api/admin/replies/:id → 204.
func handleDeleteReply(svc GatewayAdmin) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		if err := svc.DeleteReplyRule(c.Request.Context(), id); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}

// --- Crisis words ---

type crisisAnswer struct {
	Words         []string `json:"words"`
	AlertStaffIDs []int64  `json:"alert_staff_ids"`
	UpdatedAt     *string  `json:"updated_at"`
}

func toCrisisAnswer(s model.CrisisSettings) crisisAnswer {
	ids := s.AlertStaffIDs
	if ids == nil {
		ids = []int64{}
	}
	return crisisAnswer{Words: s.Words, AlertStaffIDs: ids, UpdatedAt: apiTimePtr(s.UpdatedAt)}
}

// handleCrisisWords: GET /api/admin/crisis-words → {"words","alert_staff_ids",
// "updated_at"} (null while the defaults apply; no staff: every admin and
// caseworker is alerted).
func handleCrisisWords(svc GatewayAdmin) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		set, err := svc.CrisisSettings(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toCrisisAnswer(set))
		return nil
	}
}

type crisisRequest struct {
	Words         *[]string `json:"words"`
	AlertStaffIDs *[]int64  `json:"alert_staff_ids"`
}

func (crisisRequest) Valid() map[string]string { return nil }

// handleUpdateCrisisWords: PUT /api/admin/crisis-words {"words"?,
// "alert_staff_ids"?} → the settings. Changing the staff is for admins
// (403 otherwise).
func handleUpdateCrisisWords(svc GatewayAdmin) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[crisisRequest](c)
		if err != nil {
			return err
		}
		set, err := svc.UpdateCrisisSettings(c.Request.Context(), gateway.CrisisUpdate{Words: req.Words, AlertStaffIDs: req.AlertStaffIDs})
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toCrisisAnswer(set))
		return nil
	}
}

// --- Menu ---

type menuAnswer struct {
	Button            []model.MenuButton `json:"button"`
	Revision          int64              `json:"revision"`
	UpdatedBy         int64              `json:"updated_by"`
	UpdatedAt         *string            `json:"updated_at"`
	Published         bool               `json:"published"`
	PublishedRevision int64              `json:"published_revision"`
	PublishedAt       *string            `json:"published_at"`
}

func toMenuAnswer(m model.Menu) menuAnswer {
	b := m.Buttons
	if b == nil {
		b = []model.MenuButton{}
	}
	return menuAnswer{
		Button: b, Revision: m.Revision, UpdatedBy: m.UpdatedBy, UpdatedAt: apiTimePtr(m.UpdatedAt),
		Published: m.Published(), PublishedRevision: m.PublishedRevision, PublishedAt: apiTimePtr(m.PublishedAt),
	}
}

// handleMenu: GET /api/admin/menu → {"button":[…],"revision","updated_by",
// "updated_at","published","published_revision","published_at"}; no
// buttons and revision 0 before the first save.
func handleMenu(svc GatewayAdmin) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		m, err := svc.Menu(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toMenuAnswer(m))
		return nil
	}
}

type menuRequest struct {
	Button []model.MenuButton `json:"button"`
}

func (menuRequest) Valid() map[string]string { return nil }

// handleSaveMenu: PUT /api/admin/menu {"button":[…]} in WeChat's menu/create
// shape → the menu (saved, not yet published); 400 with a field per
// problem ("button[0].sub_button[1].name").
func handleSaveMenu(svc GatewayAdmin) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		req, err := decode[menuRequest](c)
		if err != nil {
			return err
		}
		m, err := svc.SaveMenu(c.Request.Context(), req.Button)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toMenuAnswer(m))
		return nil
	}
}

// handlePublishMenu: POST /api/admin/menu/publish → the menu, published;
// 409 menu_empty before the first save, 502 when WeChat refuses.
func handlePublishMenu(svc GatewayAdmin) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		m, err := svc.PublishMenu(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toMenuAnswer(m))
		return nil
	}
}

// --- Followers ---

type followerAnswer struct {
	ID             int64   `json:"id"`
	OpenID         string  `json:"openid"`
	Subscribed     bool    `json:"subscribed"`
	SubscribedAt   *string `json:"subscribed_at"`
	UnsubscribedAt *string `json:"unsubscribed_at"`
	Scene          string  `json:"scene"`
	TagIDs         []int   `json:"tag_ids"`
	UserID         *int64  `json:"user_id"`
	LastActiveAt   *string `json:"last_active_at"`
	CreatedAt      string  `json:"created_at"`
}

func toFollowerAnswer(f model.Follower) followerAnswer {
	tags := f.TagIDs
	if tags == nil {
		tags = []int{}
	}
	var uid *int64
	if f.UserID != 0 {
		uid = &f.UserID
	}
	return followerAnswer{
		ID: f.ID, OpenID: f.OpenID, Subscribed: f.Subscribed, SubscribedAt: apiTimePtr(f.SubscribedAt),
		UnsubscribedAt: apiTimePtr(f.UnsubscribedAt), Scene: f.Scene, TagIDs: tags, UserID: uid,
		LastActiveAt: apiTimePtr(f.LastActiveAt), CreatedAt: apiTime(f.CreatedAt),
	}
}

// maxSceneQuery bounds ?scene= (WeChat's scene strings are ≤ 64 characters).
const maxSceneQuery = 64

// handleListFollowers: GET /api/admin/followers?subscribed=true|false&scene=&cursor=&limit=
// → {"items":[{"id","openid","subscribed","subscribed_at","unsubscribed_at",
// "scene","tag_ids","user_id","last_active_at","created_at"}],"next_cursor"},
// newest first; user_id is the linked Mini Program account (same unionid) or null.
func handleListFollowers(svc GatewayAdmin) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		p, err := pageQuery(c)
		if err != nil {
			return err
		}
		var f model.FollowerFilter
		if s := c.Query("subscribed"); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return model.Invalid(map[string]string{"subscribed": "须为 true 或 false"})
			}
			f.Subscribed = &b
		}
		if f.Scene = c.Query("scene"); len(f.Scene) > maxSceneQuery {
			return model.Invalid(map[string]string{"scene": "太长"})
		}
		items, next, err := svc.ListFollowers(c.Request.Context(), f, p)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, list(items, next, toFollowerAnswer))
		return nil
	}
}
