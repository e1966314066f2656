package api

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
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

	for _, extra := range s.Extra {
		extra(r)
	}
}
