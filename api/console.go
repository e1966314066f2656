package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// addConsoleRoutes serves the staff console (Deps.Console, package web) at
// /console and everything under it. These are pages and static files, not
// API routes, so they go on gin directly and stay out of
// /api/openapi.json. No per-IP rate limit: the files are served from
// memory, cheaper than the limiter's Redis round trip, and a page load
// fetches a few dozen modules at once.
func (s *server) addConsoleRoutes(r *Router) {
	if s.Console == nil {
		return
	}
	h := gin.WrapH(s.Console)
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		r.g.Handle(m, "/console", h)
		r.g.Handle(m, "/console/*path", h)
	}
}
