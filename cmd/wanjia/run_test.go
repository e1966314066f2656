package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"wanjia/internal/testutil"
	"wanjia/wechat/wxsim"
)

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// instance is a running `wanjia serve` inside the test process.
type instance struct {
	base   string
	stdout *testutil.SyncBuffer
	stderr *testutil.SyncBuffer
	stop   func() error
}

// mustStart runs `wanjia` with env on a free port and waits for /readyz.
func mustStart(tb testing.TB, env map[string]string) *instance {
	tb.Helper()
	addr := freeAddr(tb)
	env["WANJIA_HTTP_ADDR"] = addr
	if env["WANJIA_DATA_DIR"] == "" {
		env["WANJIA_DATA_DIR"] = tb.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{base: "http://" + addr, stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envMap(env), strings.NewReader(""), in.stdout, in.stderr) }()
	var once sync.Once
	var stopErr error
	in.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(15 * time.Second):
				stopErr = fmt.Errorf("run did not return within 15s of the signal")
			}
		})
		return stopErr
	}
	tb.Cleanup(func() { _ = in.stop() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			tb.Fatalf("run() returned before ready: %v\nstderr:\n%s", err, in.stderr)
		default:
		}
		resp, err := http.Get(in.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return in
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not ready after 10s\nstderr:\n%s", in.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (in *instance) call(tb testing.TB, method, path, token, body string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(method, in.base+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func TestServeZeroConfiguration(t *testing.T) {
	in := mustStart(t, map[string]string{})
	if code, _ := in.call(t, "GET", "/healthz", "", ""); code != 200 {
		t.Errorf("GET /healthz = %d", code)
	}
	// A Mini Program login goes through the sandbox simulator end to end.
	code, body := in.call(t, "POST", "/api/mp/login", "", `{"code":"sim:alice"}`)
	if code != 200 || body["token"] == nil {
		t.Fatalf("POST /api/mp/login = %d %v", code, body)
	}
	code, me := in.call(t, "GET", "/api/mp/me", body["token"].(string), "")
	if code != 200 || me["id"] == nil {
		t.Errorf("GET /api/mp/me = %d %v", code, me)
	}
	// An image upload lands in the data dir and is served back.
	pngBytes := mustPNG(t)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "family.png")
	fw.Write(pngBytes)
	mw.Close()
	req, _ := http.NewRequest("POST", in.base+"/api/mp/uploads", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+body["token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up map[string]any
	json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if resp.StatusCode != 201 || up["url"] == nil {
		t.Fatalf("POST /api/mp/uploads = %d %v", resp.StatusCode, up)
	}
	resp, err = http.Get(in.base + up["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(served, pngBytes) {
		t.Errorf("GET %v = %d, %d bytes, want the uploaded %d bytes", up["url"], resp.StatusCode, len(served), len(pngBytes))
	}
	if code, _ := in.call(t, "GET", "/api/openapi.json", "", ""); code != 200 {
		t.Errorf("GET /api/openapi.json = %d", code)
	}
	resp, err = http.Get(in.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"wanjia_http_request_duration_seconds", "wanjia_wechat_calls_total", "go_goroutines"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	start := time.Now()
	if err := in.stop(); err != nil {
		t.Fatalf("run() after the signal = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("shutdown took %v, want within 10s", time.Since(start))
	}
	out := in.stdout.String()
	if !strings.Contains(out, "listening on") || !strings.Contains(out, "sandbox") {
		t.Errorf("stdout = %q, want the address and the sandbox notice", out)
	}
	logs := in.stderr.String()
	for _, want := range []string{"EMBEDDED REDIS", "SANDBOX MODE", `"msg":"ready"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if strings.Contains(logs, "sim:alice") || strings.Contains(logs, body["token"].(string)) {
		t.Error("logs contain the login code or the session token")
	}
}

func TestServeRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	in := mustStart(t, map[string]string{"WANJIA_DATA_DIR": dir})
	_, first := in.call(t, "POST", "/api/mp/login", "", `{"code":"sim:bob"}`)
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	in = mustStart(t, map[string]string{"WANJIA_DATA_DIR": dir})
	_, second := in.call(t, "POST", "/api/mp/login", "", `{"code":"sim:bob"}`)
	id1 := first["user"].(map[string]any)["id"]
	id2 := second["user"].(map[string]any)["id"]
	if id1 != id2 {
		t.Errorf("user id after restart = %v, want %v (same SQLite file, same sandbox secrets)", id2, id1)
	}
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WANJIA_DB_DRIVER": "postgress"}, "WANJIA_DB_DRIVER"},
		{map[string]string{"WANJIA_REDIS_URL": "htp://x"}, "WANJIA_REDIS_URL"},
		{map[string]string{"WANJIA_OA_APPID": "wx1"}, "WANJIA_OA_SECRET"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), nil, envMap(tt.env), strings.NewReader(""), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("run(%v) = %v, want one line naming %s", tt.env, err, tt.want)
		}
	}
}

func TestVersionAndMigrateAndAdminCreate(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, envMap(nil), nil, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "wanjia ") {
		t.Errorf("version = %q, %v", out.String(), err)
	}
	dir := t.TempDir()
	env := map[string]string{"WANJIA_DATA_DIR": dir}
	out.Reset()
	if err := run(context.Background(), []string{"migrate"}, envMap(env), nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "applied") {
		t.Fatalf("migrate = %q, %v", out.String(), err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate"}, envMap(env), nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "up to date") {
		t.Fatalf("second migrate = %q, %v", out.String(), err)
	}
	out.Reset()
	err := run(context.Background(), []string{"admin", "create", "--username", "chen", "--role", "admin,reviewer"}, envMap(env),
		strings.NewReader("Sup3rSecretPass\n"), &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), "chen") {
		t.Fatalf("admin create = %q, %v", out.String(), err)
	}
	err = run(context.Background(), []string{"admin", "create", "--username", "li", "--role", "admin"}, envMap(env),
		strings.NewReader("short\n"), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("admin create with a weak password = %v, want the password rule", err)
	}
	// The account signs in through the running service.
	in := mustStart(t, map[string]string{"WANJIA_DATA_DIR": dir})
	code, body := in.call(t, "POST", "/api/admin/login", "", `{"username":"chen","password":"Sup3rSecretPass"}`)
	if code != 200 || body["token"] == nil {
		t.Fatalf("POST /api/admin/login = %d %v", code, body)
	}
	code, _ = in.call(t, "GET", "/api/admin/staff", body["token"].(string), "")
	if code != 200 {
		t.Errorf("GET /api/admin/staff as admin = %d", code)
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"frobnicate"}, envMap(map[string]string{"WANJIA_DATA_DIR": t.TempDir()}), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("run(frobnicate) = %v", err)
	}
}

// TestShutdownFinishesRequestsInFlight sends SIGTERM (cancels ctx) while a
// Mini Program login waits on a slow WeChat: the login still succeeds and
// run returns within the shutdown timeout.
func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	sim := wxsim.NewSandbox()
	t.Cleanup(func() { sim.Close() })
	sim.Delay("/sns/jscode2session", 1500*time.Millisecond)
	wx := httptest.NewServer(sim)
	t.Cleanup(wx.Close)
	in := mustStart(t, map[string]string{"WANJIA_WECHAT_API_BASE": wx.URL})

	type result struct {
		code int
		body map[string]any
		err  error
	}
	got := make(chan result, 1)
	go func() { // no t.Fatal off the test goroutine
		resp, err := http.Post(in.base+"/api/mp/login", "application/json", strings.NewReader(`{"code":"sim:carol"}`))
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var body map[string]any
		err = json.NewDecoder(resp.Body).Decode(&body)
		got <- result{resp.StatusCode, body, err}
	}()
	// Wait until the login is in flight (the simulator has seen the call).
	deadline := time.Now().Add(5 * time.Second)
	for len(sim.Calls("/sns/jscode2session")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the login never reached the simulator")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := in.stop(); err != nil {
		t.Fatalf("run() = %v", err)
	}
	r := <-got
	if r.err != nil || r.code != 200 || r.body["token"] == nil {
		t.Errorf("login in flight during shutdown = %d %v %v, want 200 with a token", r.code, r.body, r.err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("shutdown took %v", elapsed)
	}
	// New connections are refused after shutdown.
	if _, err := http.Get(in.base + "/healthz"); err == nil {
		t.Error("server still accepts connections after shutdown")
	}
}

func mustPNG(tb testing.TB) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
