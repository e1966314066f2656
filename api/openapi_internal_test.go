package api

import (
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// TestOpenAPICoversEveryRoute fails when a route is registered on gin
// without going through Router.Handle (and so is missing from the document).
func TestOpenAPICoversEveryRoute(t *testing.T) {
	m := miniredis.RunT(t)
	srv, err := NewServer(Deps{Redis: redis.NewClient(&redis.Options{Addr: m.Addr()})})
	if err != nil {
		t.Fatal(err)
	}
	paths := srv.s.openAPI()["paths"].(map[string]map[string]any)
	routes := srv.Routes()
	if len(routes) < 4 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	for _, r := range routes {
		op := paths[openAPIPath(r.Path)]
		if op == nil || op[strings.ToLower(r.Method)] == nil {
			t.Errorf("route %s %s is missing from /api/openapi.json", r.Method, r.Path)
		}
	}
}
