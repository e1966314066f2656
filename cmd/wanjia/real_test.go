package main

import (
	"os"
	"testing"

	"wanjia/store/storetest"
)

// TestTwoCopiesOnRealServices runs two copies of the service against one
// real database (each dialect whose DSN is set) and one real Redis, as
// behind a load balancer: a session made on one copy works on the other,
// and both are ready (migrations ran once). Skipped without WANJIA_TEST_REDIS_URL.
func TestTwoCopiesOnRealServices(t *testing.T) {
	redisURL := os.Getenv("WANJIA_TEST_REDIS_URL")
	if redisURL == "" {
		t.Skip("WANJIA_TEST_REDIS_URL not set")
	}
	for _, d := range storetest.Dialects() {
		if d.Name == "sqlite" {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			opts := d.Options(t)
			env := func() map[string]string {
				return map[string]string{
					"WANJIA_DB_DRIVER": opts.Driver, "WANJIA_DB_DSN": opts.DSN, "WANJIA_REDIS_URL": redisURL,
					"WANJIA_DATA_DIR": t.TempDir(),
				}
			}
			a := mustStart(t, env())
			b := mustStart(t, env())
			_, login := a.call(t, "POST", "/api/mp/login", "", `{"code":"sim:dora"}`)
			token, _ := login["token"].(string)
			if token == "" {
				t.Fatalf("login on copy A = %v", login)
			}
			code, me := b.call(t, "GET", "/api/mp/me", token, "")
			if code != 200 || me["id"] != login["user"].(map[string]any)["id"] {
				t.Errorf("GET /api/mp/me on copy B with A's token = %d %v", code, me)
			}
		})
	}
}
