package api

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// openAPIPath turns gin's /cases/:case_no into OpenAPI's /cases/{case_no}.
func openAPIPath(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

// handleOpenAPI serves an OpenAPI 3 document built from the registered
// routes, so no route can be missing from it.
func (s *server) handleOpenAPI() gin.HandlerFunc {
	var once sync.Once
	var doc map[string]any
	return func(c *gin.Context) {
		once.Do(func() { doc = s.openAPI() })
		c.JSON(http.StatusOK, doc)
	}
}

func (s *server) openAPI() map[string]any {
	paths := map[string]map[string]any{}
	routes := append([]routeSpec(nil), s.routes...)
	sort.Slice(routes, func(i, j int) bool { return routes[i].Path < routes[j].Path })
	for _, r := range routes {
		p := openAPIPath(r.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		op := map[string]any{
			"summary":     r.Summary,
			"operationId": strings.ToLower(r.Method) + strings.NewReplacer("/", "_", "{", "", "}", "", "-", "_", ".", "_").Replace(p),
			"responses": map[string]any{
				"200":     map[string]any{"description": "OK"},
				"default": map[string]any{"description": "Error", "content": jsonContent("#/components/schemas/Error")},
			},
		}
		if r.Tag != "" {
			op["tags"] = []string{r.Tag}
		}
		if r.Auth != "" {
			op["security"] = []map[string][]string{{r.Auth + "Token": {}}}
		}
		var params []map[string]any
		for _, m := range ginParam.FindAllStringSubmatch(r.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
				"schema": map[string]string{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		paths[p][strings.ToLower(r.Method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "wanjia (万家) API", "version": s.Version,
			"description": "Backend of a city Women's Federation on WeChat. Errors use the envelope in components.schemas.Error."},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"mpToken":    map[string]string{"type": "http", "scheme": "bearer", "description": "Mini Program user token from POST /api/mp/login"},
				"staffToken": map[string]string{"type": "http", "scheme": "bearer", "description": "Staff token from POST /api/admin/login"},
			},
			"schemas": map[string]any{
				"Error": map[string]any{"type": "object", "properties": map[string]any{
					"error": map[string]any{"type": "object", "required": []string{"code", "message"}, "properties": map[string]any{
						"code":    map[string]string{"type": "string"},
						"message": map[string]string{"type": "string"},
						"fields":  map[string]any{"type": "object", "additionalProperties": map[string]string{"type": "string"}},
					}},
				}},
			},
		},
	}
}

func jsonContent(ref string) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": map[string]string{"$ref": ref}}}
}
