package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCasesEndToEnd drives a zero-configuration server: a woman in danger
// asks for help in the Mini Program, gets the 110 / protection-order
// guidance at once, the on-duty caseworker is alerted in the console
// without a word of her story, an admin handles the case, and neither the
// logs nor the database files hold her phone or her story in plaintext.
func TestCasesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	in := mustStart(t, map[string]string{"WANJIA_DATA_DIR": dir, "WANJIA_CASES_HOLIDAYS": "2026-10-01,2026-10-02",
		"WANJIA_CASES_WORKDAYS": "2026-10-10"})
	ctx := context.Background()
	for _, s := range []struct{ user, role, pw string }{
		{"duty", "caseworker", "Duty-Passw0rd-1"}, {"boss", "admin", "Boss-Passw0rd-1"},
	} {
		var out strings.Builder
		if err := run(ctx, []string{"admin", "create", "--username", s.user, "--role", s.role},
			envMap(map[string]string{"WANJIA_DATA_DIR": dir}), strings.NewReader(s.pw+"\n"), &out, &out); err != nil {
			t.Fatalf("admin create %s = %v (%s)", s.user, err, out.String())
		}
	}
	login := func(user, pw string) string {
		code, body := in.call(t, "POST", "/api/admin/login", "", `{"username":"`+user+`","password":"`+pw+`"}`)
		if code != 200 {
			t.Fatalf("staff login %s = %d %v", user, code, body)
		}
		return body["token"].(string)
	}
	duty, boss := login("duty", "Duty-Passw0rd-1"), login("boss", "Boss-Passw0rd-1")

	// The working calendar starts from the configuration.
	if code, cal := in.call(t, "GET", "/api/admin/calendar", duty, ""); code != 200 || cal["source"] != "config" ||
		fmt.Sprint(cal["holidays"]) != "[2026-10-01 2026-10-02]" || fmt.Sprint(cal["workdays"]) != "[2026-10-10]" {
		t.Errorf("GET /api/admin/calendar = %d %v, want the configured dates", code, cal)
	}

	const phone, story = "13566667777", "他把我锁在家里不让出门"
	code, body := in.call(t, "POST", "/api/mp/login", "", `{"code":"sim:mei"}`)
	if code != 200 {
		t.Fatalf("mp login = %d %v", code, body)
	}
	mei := body["token"].(string)
	code, body = in.call(t, "POST", "/api/mp/cases", mei, `{"category":"domestic_violence","description":"`+story+
		`","name":"王小梅","phone":"`+phone+`","danger":true}`)
	if code != 201 || body["status"] != "received" || body["emergency"] == nil {
		t.Fatalf("POST /api/mp/cases = %d %v", code, body)
	}
	no := body["case_no"].(string)
	if em := body["emergency"].(map[string]any); em["call"] != "110" || !strings.Contains(em["protection_order"].(string), "保护令") {
		t.Errorf("emergency = %v", em)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, alerts := in.call(t, "GET", "/api/admin/alerts", duty, "")
		items, _ := alerts["items"].([]any)
		if len(items) > 0 {
			a := items[0].(map[string]any)
			fields := a["fields"].(map[string]any)
			if a["topic"] != "crisis_alert" || fields["case_no"] != no || a["urgent"] != true {
				t.Errorf("alert = %v, want an urgent crisis alert naming the case", a)
			}
			for _, v := range fields {
				if s, _ := v.(string); strings.Contains(s, "锁在家里") || strings.Contains(s, phone) {
					t.Errorf("alert field %q carries her data", s)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert reached the on-duty caseworker within 10s: %v", alerts)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The caseworker has no station: the case is not in her scope.
	if code, _ := in.call(t, "GET", "/api/admin/cases/"+no, duty, ""); code != 404 {
		t.Errorf("GET case as a caseworker without scope = %d, want 404", code)
	}
	code, st := in.call(t, "POST", "/api/admin/stations", boss, `{"name":"市妇女维权服务站","kind":"legal_aid","phone":"12338"}`)
	if code != 201 {
		t.Fatalf("POST /api/admin/stations = %d %v", code, st)
	}
	sid := int64(st["id"].(float64))
	if code, b := in.call(t, "POST", "/api/admin/cases/"+no+"/assign", boss, `{"station_id":`+strconv.FormatInt(sid, 10)+`,"reason":"紧急"}`); code != 200 {
		t.Fatalf("assign = %d %v", code, b)
	}
	code, detail := in.call(t, "GET", "/api/admin/cases/"+no, boss, "")
	if code != 200 || detail["description"] != story || detail["phone"] != "135****7777" {
		t.Fatalf("GET /api/admin/cases/%s = %d %v", no, code, detail)
	}
	if code, b := in.call(t, "GET", "/api/admin/cases/"+no+"/verify", boss, ""); code != 200 || b["ok"] != true {
		t.Errorf("verify = %d %v", code, b)
	}
	_, mine := in.call(t, "GET", "/api/mp/cases/"+no, mei, "")
	if ups, _ := mine["updates"].([]any); len(ups) != 2 {
		t.Errorf("her updates = %v, want received and assigned", mine["updates"])
	}

	resp, err := http.Get(in.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `wanjia_cases_intake_total{channel="mp",danger="true"} 1`) {
		t.Errorf("/metrics lacks the intake count")
	}

	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	logs := in.stderr.String()
	for _, secret := range []string{phone, story, "王小梅"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	for _, f := range []string{"wanjia.db", "wanjia.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		for _, secret := range []string{phone, story, "王小梅"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds %q in plaintext", f, secret)
			}
		}
	}
}
