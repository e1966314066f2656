package api

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"wanjia/model"
)

// addRoutes lists every route and its middleware. Each one is recorded for
// /api/openapi.json through Router.Handle.
func (s *server) addRoutes(r *Router) {
	ops := r.Group("", "operations", "")
	ops.Handle(http.MethodGet, "/healthz", "Liveness: the process answers", s.handleHealthz())
	ops.Handle(http.MethodGet, "/readyz", "Readiness: the database and Redis answer", s.handleReadyz())
	ops.Handle(http.MethodGet, "/metrics", "Prometheus metrics",
		wrapHandler(promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})))
	ops.Handle(http.MethodGet, "/api/openapi.json", "This OpenAPI document", s.handleOpenAPI())

	api := r.Group("/api", "", "", s.rateLimit("api"), requestTimeout(30*time.Second))
	_ = api // the areas' groups hang off api

	if s.Accounts != nil {
		acc := s.Accounts
		mpOpen := api.Group("/mp", "mp", "")
		mpOpen.Handle(http.MethodPost, "/login", "Sign in with the code of wx.login", s.wrap(handleMPLogin(acc)))
		mp := api.Group("/mp", "mp", "mp", s.requireMP())
		mp.Handle(http.MethodPost, "/phone", "Bind the phone number of a getPhoneNumber code", s.wrap(handleMPPhone(acc)))
		mp.Handle(http.MethodGet, "/me", "The signed-in user", s.wrap(handleMPMe(acc)))
		mp.Handle(http.MethodPatch, "/me", "Change nickname or avatar", s.wrap(handleMPUpdateMe(acc)))

		adminOpen := api.Group("/admin", "admin", "")
		adminOpen.Handle(http.MethodPost, "/login", "Staff sign-in (stricter per-IP limit; 429 while locked)",
			s.loginLimit(), s.wrap(handleStaffLogin(acc)))
		session := api.Group("/admin", "admin", "staff", s.requireStaffSession())
		session.Handle(http.MethodPost, "/logout", "End this session", s.wrap(handleLogout(acc)))
		session.Handle(http.MethodPost, "/password", "Change the password; ends the other sessions", s.wrap(handleChangePassword(acc)))
		staff := api.Group("/admin", "admin", "staff", s.requireStaff())
		staff.Handle(http.MethodGet, "/me", "The signed-in staff member", s.wrap(handleStaffMe(acc)))
		admin := api.Group("/admin", "admin", "staff", s.requireStaff(model.RoleAdmin))
		admin.Handle(http.MethodGet, "/staff", "List staff accounts", s.wrap(handleListStaff(acc)))
		admin.Handle(http.MethodPost, "/staff", "Create a staff account", s.wrap(handleCreateStaff(acc)))
		admin.Handle(http.MethodPatch, "/staff/:id", "Change roles, scope, disable, reset password", s.wrap(handleUpdateStaff(acc)))
		admin.Handle(http.MethodGet, "/audit", "The audit log, newest first", s.wrap(handleListAudit(acc)))
		admin.Handle(http.MethodGet, "/logins", "Staff sign-in history, newest first", s.wrap(handleListLogins(acc)))

		if s.Jobs != nil {
			admin.Handle(http.MethodGet, "/jobs", "Background job queues: tasks by state", s.wrap(handleJobStats(s.Jobs)))
			admin.Handle(http.MethodGet, "/jobs/dead", "Dead background tasks, most recently failed first",
				s.wrap(handleDeadJobs(s.Jobs, s.ScrubJobError)))
			admin.Handle(http.MethodPost, "/jobs/dead/:queue/:id/retry", "Run a dead task again now (audited)",
				s.wrap(handleRetryJob(s.Jobs)))
		}

		if s.Uploads != nil {
			// Off the root, not api: an upload gets a longer deadline than
			// the API's 30 s (a context cannot extend its parent's).
			up := r.Group("/api/mp", "mp", "mp", s.rateLimit("api"), requestTimeout(uploadTimeout), s.requireMP(),
				s.uploadLimit())
			up.HandleBody(http.MethodPost, "/uploads", "Upload an image (multipart field file: JPEG, PNG or WebP, ≤ 5 MiB)",
				s.Uploads.MaxSize()+multipartOverhead, s.wrap(handleUpload(s.Uploads, s.FileURLPrefix)))
		}
	}

	if s.Uploads != nil {
		// Public: image keys are unguessable (see handleFile). Its own
		// per-IP bucket, so a gallery of images does not spend the API's.
		files := r.Group("/api/files", "files", "", s.rateLimit("files"), requestTimeout(time.Minute))
		files.Handle(http.MethodGet, "/*key", "A stored image (immutable; 404 for an unknown key)",
			s.wrap(handleFile(s.Uploads, s.log)))
	}

	s.addConsoleRoutes(r) // api/console.go: the staff console's pages and assets (not API routes)

	s.addGatewayRoutes(r, api) // api/wechat.go, api/messages.go: WeChat callbacks and the message log

	s.addGatewayAdminRoutes(api) // api/gateway_admin.go: replies, crisis words, menu, followers

	s.addNotifyRoutes(api) // api/notify.go: consents, pushes, deliveries, notification templates, alerts

	s.addFairRoutes(api) // api/fairs.go: job fairs, signups, tickets, check-in, exports, figures

	s.addArticleRoutes(api)     // api/articles.go, api/totp.go: articles, columns, figures, annual report, TOTP
	s.addCaseRoutes(api)        // api/cases.go: 12338 rights requests, stations, access log, chain checks, figures
	s.addLessonRoutes(api)      // api/lessons.go: courses, lessons, subscriptions, progress, publishing, figures
	s.addCampaignRoutes(r, api) // api/campaigns.go: 最美家庭 campaigns, nominations, gallery, votes, integrity, winners

	for _, extra := range s.Extra {
		extra(r)
	}
}
