package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"wanjia/model"
	"wanjia/store"
	"wanjia/wechat/wxsim"
)

// The console's browser tests: the real server (zero configuration, a temp
// data dir) and Debian's headless Chromium. Without chromium they skip,
// unless WANJIA_TEST_BROWSER=1 (CI), where a missing browser fails;
// WANJIA_TEST_BROWSER=0 skips them (CI runs them once, without -race).
// WANJIA_CONSOLE_SCREENSHOTS=<dir> saves screenshots of the pages visited.

// chromiumPath finds the browser or skips (fails under WANJIA_TEST_BROWSER=1).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if os.Getenv("WANJIA_TEST_BROWSER") == "0" {
		t.Skip("WANJIA_TEST_BROWSER=0: the browser tests are run separately")
	}
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("WANJIA_TEST_BROWSER") == "1" {
		t.Fatal("WANJIA_TEST_BROWSER=1 but chromium is not installed (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed: the console's browser tests need it (apt-get install -y chromium; " +
		"set WANJIA_TEST_BROWSER=1 to make its absence a failure)")
	return ""
}

// startBrowser starts headless Chromium with a fresh profile; the returned
// context is the browser, for newTab.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return bctx
}

// tab is one browser tab (its own sessionStorage, so its own sign-in)
// that records uncaught exceptions and Content-Security-Policy violations
// and fails the test on any.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	problems []string
}

func newTab(t *testing.T, bctx context.Context, base string, width, height int64) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	tb := &tab{t: t, ctx: ctx, base: base}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				tb.mu.Lock()
				tb.problems = append(tb.problems, m.String())
				tb.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		tb.mu.Lock()
		for _, p := range tb.problems {
			t.Errorf("browser console: %s", p)
		}
		tb.mu.Unlock()
		cancelTimeout()
		cancel()
		<-done
	})
	tb.do(chromedp.EmulateViewport(width, height))
	// Each tab signs in from its own address (the server trusts
	// X-Forwarded-For from 127.0.0.1), so the tests do not share the
	// per-address sign-in limit of 10 a minute.
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	ip := fmt.Sprintf("10.9.%d.%d", tabSeq.Add(1)/250, tabSeq.Load()%250+1)
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"X-Forwarded-For": ip}}); err != nil {
		t.Fatal(err)
	}
	return tb
}

var tabSeq atomic.Int64

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.shot("failure")
		b.t.Fatalf("browser: %v\npage text: %s", err, b.pageText())
	}
}

func (b *tab) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
	return s
}

// js evaluates expr and returns its value decoded into T.
func js[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// wait polls the JavaScript predicate until it holds (30 s: CI runs -race on a busy machine).
func (b *tab) wait(what, predicate string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool]("(() => { try { return !!("+predicate+") } catch (e) { return false } })()",
		chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		b.shot("failure")
		b.t.Fatalf("waiting for %s: %v\npage text: %s", what, err, b.pageText())
	}
}

func (b *tab) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// fill types into the input of the form field with data-field=name.
func (b *tab) fill(scope, name, value string) {
	b.t.Helper()
	sel := fmt.Sprintf(`%s [data-field=%q] input, %s [data-field=%q] textarea`, scope, name, scope, name)
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	q, _ := json.Marshal(sel)
	js[bool](b, fmt.Sprintf(`(document.querySelector(%s).value = '') === ''`, q)) // chromedp.Clear leaves the text
	b.do(chromedp.SendKeys(chromedp.CSS(sel), value))
}

// set sets the value of a select or a datetime input of a form field.
func (b *tab) set(scope, name, value string) {
	b.t.Helper()
	sel := fmt.Sprintf(`%s [data-field=%q] input, %s [data-field=%q] select`, scope, name, scope, name)
	b.do(chromedp.SetValue(chromedp.CSS(sel), value))
}

func (b *tab) click(sel string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// idle waits until the page has no API call in flight (api.js marks the
// document data-busy meanwhile): a late answer to a call made before a
// test changes the account (signs it out, takes a role) would otherwise
// move the page on under the test.
func (b *tab) idle() {
	b.t.Helper()
	b.wait("a quiet page", `!document.documentElement.hasAttribute('data-busy')`)
}

// shot saves a screenshot when WANJIA_CONSOLE_SCREENSHOTS names a folder.
func (b *tab) shot(name string) {
	dir := os.Getenv("WANJIA_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG; less is JPEG
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	file := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name())+"-"+name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

// login signs in through the login page and waits for the navigation.
func (b *tab) login(username, password string) {
	b.t.Helper()
	b.open("/console/login")
	b.fill(".login-form", "username", username)
	b.fill(".login-form", "password", password)
	b.click(`.login-form button[type=submit]`)
}

func (b *tab) navTexts() []string {
	b.t.Helper()
	return js[[]string](b, `[...document.querySelectorAll('.sidenav a.nav-item:not(.nav-extra)')].map(a => a.textContent)`)
}

// consoleServer is a running server with an admin, an editor and a fair
// manager (no forced password change).
type consoleServer struct {
	*instance
	dir        string
	adminToken string
}

const consolePassword = "Console-Passw0rd"

func startConsoleServer(t *testing.T) *consoleServer {
	t.Helper()
	dir := t.TempDir()
	in := mustStart(t, map[string]string{"WANJIA_DATA_DIR": dir})
	var out strings.Builder
	if err := run(context.Background(), []string{"admin", "create", "--username", "chief", "--name", "王主任", "--role", "admin"},
		envMap(map[string]string{"WANJIA_DATA_DIR": dir}), strings.NewReader(consolePassword+"\n"), &out, &out); err != nil {
		t.Fatalf("admin create = %v (%s)", err, out.String())
	}
	cs := &consoleServer{instance: in, dir: dir}
	cs.adminToken = cs.token(t, "chief", consolePassword)
	cs.createStaff(t, "fairs", "李招聘", "fair_manager", false)
	cs.createStaff(t, "editor", "赵编辑", "editor", false)
	return cs
}

func (cs *consoleServer) token(t *testing.T, username, password string) string {
	t.Helper()
	code, body := cs.call(t, "POST", "/api/admin/login", "", fmt.Sprintf(`{"username":%q,"password":%q}`, username, password))
	if code != 200 {
		t.Fatalf("login %s = %d %v", username, code, body)
	}
	return body["token"].(string)
}

func (cs *consoleServer) createStaff(t *testing.T, username, name, role string, mustChange bool) {
	t.Helper()
	code, body := cs.call(t, "POST", "/api/admin/staff", cs.adminToken, fmt.Sprintf(
		`{"username":%q,"display_name":%q,"password":%q,"roles":[%q],"must_change_password":%v}`,
		username, name, consolePassword, role, mustChange))
	if code != 201 {
		t.Fatalf("create staff %s = %d %v", username, code, body)
	}
}

// shanghaiLocal is t as a datetime-local value in Asia/Shanghai.
func shanghaiLocal(t time.Time) string {
	return t.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02T15:04")
}

func TestConsoleInBrowser(t *testing.T) {
	bctx := startBrowser(t)
	cs := startConsoleServer(t)

	t.Run("assets are versioned and the page has a strict policy", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(cs.base+"/console"))
		if err != nil {
			t.Fatal(err)
		}
		csp, _ := resp.Headers["Content-Security-Policy"].(string)
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("Content-Security-Policy = %q", csp)
		}
		b.wait("the login form", `document.querySelector('.login-form')`)
		if got := js[string](b, `location.pathname`); got != "/console/login" {
			t.Errorf("an anonymous visit to /console lands on %s, want /console/login", got)
		}
		if n := js[int](b, `document.querySelectorAll('script:not([src]), [style]').length`); n != 0 {
			t.Errorf("%d inline scripts or style attributes in the page", n)
		}
	})

	t.Run("the modules' helpers, in the browser", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.open("/console/login")
		b.wait("the login form", `document.querySelector('.login-form')`)
		assets := js[string](b, `document.querySelector('script[type=module]').getAttribute('src').replace(/\/js\/app\.js$/, '')`)
		got, err := chromedp.Run(b.ctx, chromedp.Evaluate[map[string]any](fmt.Sprintf(`(async () => {
			const ui = await import(%q + '/js/ui.js');
			const chart = await import(%q + '/js/chart.js');
			const fmt = await import(%q + '/js/format.js');
			const cases = await import(%q + '/pages/cases.js');
			const preview = await import(%q + '/js/preview.js');
			const now = Date.parse('2026-03-08T12:00:00+08:00');
			const kase = (no, o) => ({ case_no: no, status: 'in_progress', received_at: '2026-03-01T09:00:00+08:00',
				first_response_at: '2026-03-01T10:00:00+08:00', first_response_due: '2026-03-02T09:00:00+08:00', ...o });
			const box = document.createElement('div');
			box.append(...preview.previewNodes('<p style="text-align:right" onclick="x()">a<script>b()</script><img src="https://e.example/i.png" alt="图"><a href="javascript:alert(1)">c</a><a href="https://ok.example/">d</a><iframe src="/"></iframe><b>e</b></p>'));
			return {
				queue: cases.slaOrder([
					kase('later', { close_due: '2026-03-20T00:00:00+08:00' }),
					kase('paused', { close_due: '2026-03-01T00:00:00+08:00', waiting_user: true }),
					kase('resolved', { status: 'resolved', close_due: '2026-03-05T00:00:00+08:00' }),
					kase('sooner', { close_due: '2026-03-09T00:00:00+08:00' }),
					kase('late-close', { close_due: '2026-03-07T00:00:00+08:00' }),
					kase('no-answer', { first_response_at: null, first_response_due: '2026-03-08T10:00:00+08:00', close_due: '2026-03-30T00:00:00+08:00' }),
					kase('flagged', { close_due: '2026-03-30T00:00:00+08:00', close_overdue: true }),
				], now).map((c) => c.case_no),
				preview: [box.querySelectorAll('[onclick], script, img, iframe, [style], a[href^="javascript"]').length,
					box.querySelector('p').className, box.querySelectorAll('a[href]').length, box.textContent],
				urls: ['javascript:alert(1)', 'data:text/html,x', '//evil.example/x', '/api/files/a.jpg', 'https://cdn.example.org/a.jpg', 'vbscript:x', ''].map(ui.safeURL),
				scales: [[4, 1, 2], [0], [7], [100], [0.98, 0.5]].map((v) => chart.scale(v)),
				rfc: [fmt.toRFC3339('2026-03-08T09:00'), fmt.toRFC3339('')],
				shown: fmt.time('2026-03-08T01:00:00Z'),
			};
		})()`, assets, assets, assets, assets, assets), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"urls":   []any{"", "", "", "/api/files/a.jpg", "https://cdn.example.org/a.jpg", "", ""},
			"scales": []any{map[string]any{"max": 4.0, "step": 1.0}, map[string]any{"max": 4.0, "step": 1.0}, map[string]any{"max": 8.0, "step": 2.0}, map[string]any{"max": 100.0, "step": 20.0}, map[string]any{"max": 1.0, "step": 0.2}},
			"rfc":    []any{"2026-03-08T09:00:00+08:00", nil},
			"shown":  "2026-03-08 09:00",
			// overdue first (flagged or past a deadline, longest overdue
			// first), then running clocks by the nearest deadline, then
			// paused and resolved cases
			"queue":   []any{"late-close", "no-answer", "flagged", "sooner", "later", "paused", "resolved"},
			"preview": []any{0.0, "al-right", 1.0, "a［图片：图］cde"},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("helpers = %v\nwant      %v", got, want)
		}
	})

	t.Run("a short rate limit is waited out and the call sent again; sign-in is not", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.open("/console/login")
		b.wait("the login form", `document.querySelector('.login-form')`)
		assets := js[string](b, `document.querySelector('script[type=module]').getAttribute('src').replace(/\/js\/app\.js$/, '')`)
		got, err := chromedp.Run(b.ctx, chromedp.Evaluate[map[string]any](fmt.Sprintf(`(async () => {
			const api = await import(%q + '/js/api.js');
			const real = window.fetch, calls = [];
			const limited = () => new Response(JSON.stringify({ error: { code: 'rate_limited', message: '操作太频繁，请稍后再试' } }),
				{ status: 429, headers: { 'Retry-After': '1', 'Content-Type': 'application/json' } });
			window.fetch = async (u, o) => {
				calls.push(o.method + ' ' + u);
				if (calls.length === 1 || u.endsWith('/login')) return limited();
				return new Response('{"ok":true}', { status: 200, headers: { 'Content-Type': 'application/json' } });
			};
			try {
				const ok = await api.get('/stats/overview');
				let login = '';
				try { await api.post('/login', {}, { auth: false }); } catch (e) { login = e.code; }
				return { ok: ok.ok, calls, login };
			} finally {
				window.fetch = real;
			}
		})()`, assets), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"ok": true, "login": "rate_limited",
			"calls": []any{"GET /api/admin/stats/overview", "GET /api/admin/stats/overview", "POST /api/admin/login"}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("429 handling = %v\nwant           %v", got, want)
		}
	})

	t.Run("login and logout", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("chief", consolePassword)
		b.wait("the overview", `location.pathname === '/console/overview' && document.querySelector('.sidenav a.nav-item')`)
		nav := strings.Join(b.navTexts(), " ")
		for _, want := range []string{"概览", "最美家庭", "微课堂", "招聘会", "12338", "文章", "粉丝与消息", "推送", "年度报告", "审计", "人员", "后台任务"} {
			if !strings.Contains(nav, want) {
				t.Errorf("admin's navigation %q lacks %s", nav, want)
			}
		}
		if who := js[string](b, `document.querySelector('.who').textContent`); who != "王主任" {
			t.Errorf("signed-in name = %q, want 王主任", who)
		}
		b.shot("overview")
		// At 1366×768 no page scrolls sideways either.
		for _, path := range []string{"/console/fairs", "/console/followers", "/console/followers/messages", "/console/followers/menu",
			"/console/pushes", "/console/pushes/templates", "/console/audit", "/console/staff", "/console/jobs", "/console/alerts",
			"/console/campaigns", "/console/lessons", "/console/cases", "/console/articles", "/console/annual",
			"/console/cases/new", "/console/cases/stations", "/console/articles/new", "/console/articles/columns", "/console/security"} {
			b.open(path)
			b.wait(path, `document.querySelector('.main') && !document.querySelector('.main .loading')`)
			if sw, iw := js[int](b, `document.documentElement.scrollWidth`), js[int](b, `window.innerWidth`); sw > iw {
				t.Errorf("%s at 1366 px: scrollWidth %d > innerWidth %d", path, sw, iw)
			}
			b.shot("desktop" + strings.ReplaceAll(path, "/", "-"))
		}
		b.click(`.logout`)
		b.wait("the login page after logout", `location.pathname === '/console/login' && document.body.innerText.includes('您已退出登录')`)
		// The token was revoked on the server, and the tab forgot it.
		if s := js[string](b, `sessionStorage.getItem('wanjia.console.session') || ''`); s != "" {
			t.Errorf("session after logout = %q", s)
		}
	})

	t.Run("an ended session sends the tab back to the login page", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("editor", consolePassword)
		b.wait("the editor's home", `location.pathname === '/console/lessons' && document.querySelector('.main .card')`)
		b.idle()
		token := js[string](b, `JSON.parse(sessionStorage.getItem('wanjia.console.session')).token`)
		if code, _ := cs.call(t, "POST", "/api/admin/logout", token, ""); code != 204 {
			t.Fatalf("logout through the API = %d", code)
		}
		// The next call answers 401. It is a fresh load of another page:
		// the page on screen may make a call of its own first (and be sent
		// to the login page from there), so a click would race it.
		b.open("/console/pushes")
		b.wait("the login page", `location.pathname === '/console/login' && document.body.innerText.includes('登录已失效')`)
		b.fill(".login-form", "username", "editor")
		b.fill(".login-form", "password", consolePassword)
		b.click(`.login-form button[type=submit]`)
		b.wait("the page she was on", `location.pathname === '/console/pushes' && document.querySelector('.main .card')`)
	})

	t.Run("a wrong password shows the error and keeps the username", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("chief", "not-the-password1")
		b.wait("the error", `document.querySelector('.login-form .form-banner').innerText.includes('用户名或密码错误')`)
		if got := js[string](b, `document.querySelector('.login-form input[name=username]').value`); got != "chief" {
			t.Errorf("username after a failed login = %q, want it kept", got)
		}
		if got := js[string](b, `location.pathname`); got != "/console/login" {
			t.Errorf("path after a failed login = %s", got)
		}
		b.shot("login-error")
	})

	t.Run("a fair manager creates a fair, adds a position and checks someone in", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("fairs", consolePassword)
		b.wait("the fairs page", `location.pathname === '/console/fairs' && document.querySelector('.page-header h1')`)
		nav := b.navTexts()
		if strings.Join(nav, ",") != "概览,招聘会,年度报告" {
			t.Errorf("fair manager's navigation = %v, want 招聘会 and the figures pages", nav)
		}
		b.click(`.page-header .btn-primary`)
		start := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
		b.fill("form", "title", "春风行动女性专场招聘会")
		b.fill("form", "venue", "市妇女儿童活动中心")
		b.set("form", "starts_at", shanghaiLocal(start))
		b.set("form", "ends_at", shanghaiLocal(start.Add(3*time.Hour)))
		b.fill("form", "capacity", "200")
		b.shot("create-fair")
		b.click(`form:has([data-field=title]) button[type=submit]`)
		b.wait("the new fair's page", `location.pathname.match(/^\/console\/fairs\/\d+$/) && document.querySelector('.page-header h1')?.textContent === '春风行动女性专场招聘会'`)
		fairID := strings.TrimPrefix(js[string](b, `location.pathname`), "/console/fairs/")

		b.fill("form:has([data-field=employer])", "employer", "巾帼家政服务公司")
		b.fill("form:has([data-field=employer])", "title", "育婴师")
		b.fill("form:has([data-field=employer])", "seats", "5")
		b.click(`form:has([data-field=employer]) button[type=submit]`)
		b.wait("the position in the table", `document.body.innerText.includes('育婴师') && document.querySelector('td')`)

		// A woman signs up in the Mini Program and shows her ticket.
		code, login := cs.call(t, "POST", "/api/mp/login", "", `{"code":"sim:jobseeker"}`)
		if code != 200 {
			t.Fatalf("mp login = %d %v", code, login)
		}
		user := login["token"].(string)
		code, fair := cs.call(t, "GET", "/api/mp/fairs/"+fairID, user, "")
		if code != 200 {
			t.Fatalf("GET fair = %d %v", code, fair)
		}
		posID := fair["positions"].([]any)[0].(map[string]any)["id"]
		code, signup := cs.call(t, "POST", "/api/mp/fairs/"+fairID+"/signups", user,
			fmt.Sprintf(`{"position_id":%v,"name":"陈晓梅","phone":"13800138000"}`, posID))
		if code != 201 {
			t.Fatalf("signup = %d %v", code, signup)
		}
		code, ticket := cs.call(t, "GET", fmt.Sprintf("/api/mp/signups/%v/ticket", signup["id"]), user, "")
		if code != 200 {
			t.Fatalf("ticket = %d %v", code, ticket)
		}

		b.fill(".checkin-form", "code", ticket["code"].(string))
		b.click(`.checkin-form button[type=submit]`)
		b.wait("the check-in confirmation", `document.querySelector('.checkin-result .notice-ok')`)
		b.shot("checked-in")
		// A second check-in of the same code is refused, with the reason.
		b.fill(".checkin-form", "code", ticket["code"].(string))
		b.click(`.checkin-form button[type=submit]`)
		b.wait("the second check-in's error", `document.querySelector('.checkin-form .form-banner .notice-error')`)

		code, list := cs.call(t, "GET", "/api/admin/fairs/"+fairID+"/signups", cs.token(t, "fairs", consolePassword), "")
		items, _ := list["items"].([]any)
		if code != 200 || len(items) != 1 || items[0].(map[string]any)["checked_in_at"] == nil {
			t.Errorf("signups after the check-in = %d %v, want one checked in", code, list)
		}
		// The list shows her, checked in, with the phone masked.
		b.open("/console/fairs/" + fairID)
		b.wait("the signup in the list", `document.body.innerText.includes('陈晓梅') && document.body.innerText.includes('记录就业')`)
		if strings.Contains(b.pageText(), "13800138000") {
			t.Errorf("the signup list shows the full phone number")
		}

		// The .xlsx export downloads.
		dir := t.TempDir()
		if _, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
			t.Fatal(err)
		}
		b.click(`button.export`)
		deadline := time.Now().Add(15 * time.Second)
		for {
			files, _ := filepath.Glob(filepath.Join(dir, "*.xlsx"))
			if len(files) == 1 {
				data, err := os.ReadFile(files[0])
				if err != nil || len(data) < 4 || string(data[:2]) != "PK" {
					t.Errorf("export %s is not an .xlsx (zip) file: %v", files[0], err)
				}
				break
			}
			if time.Now().After(deadline) {
				entries, _ := os.ReadDir(dir)
				t.Fatalf("no .xlsx downloaded within 15 s; folder holds %v", entries)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("a validation error shows next to its field and the form keeps its input", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("fairs", consolePassword)
		b.wait("the fairs page", `location.pathname === '/console/fairs' && document.querySelector('.page-header .btn-primary')`)
		b.click(`.page-header .btn-primary`)
		b.fill("form", "venue", "市妇女儿童活动中心")
		b.fill("form", "capacity", "0")
		b.click(`form:has([data-field=title]) button[type=submit]`)
		b.wait("the field errors", `document.querySelector('[data-field=title] .field-error').textContent !== ''`)
		for field, want := range map[string]string{"title": "128", "capacity": "1000000", "ends_at": "结束时间"} {
			got := js[string](b, fmt.Sprintf(`document.querySelector('[data-field=%s] .field-error').textContent`, field))
			if !strings.Contains(got, want) {
				t.Errorf("error next to %s = %q, want it to mention %q", field, got, want)
			}
		}
		if got := js[string](b, `document.querySelector('[data-field=venue] input').value`); got != "市妇女儿童活动中心" {
			t.Errorf("venue after the failed submit = %q, want it kept", got)
		}
		if got := js[string](b, `document.querySelector('[data-field=capacity] input').value`); got != "0" {
			t.Errorf("capacity after the failed submit = %q, want it kept", got)
		}
		if got := js[string](b, `document.querySelector('[data-field=title] input').getAttribute('aria-invalid')`); got != "true" {
			t.Errorf("title aria-invalid = %q", got)
		}
		b.shot("validation")
	})

	t.Run("an editor does not see 人员 and is refused it", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("editor", consolePassword)
		b.wait("the editor's home", `location.pathname === '/console/lessons'`)
		nav := strings.Join(b.navTexts(), ",")
		for _, hidden := range []string{"人员", "审计", "招聘会", "12338", "最美家庭", "后台任务"} {
			if strings.Contains(nav, hidden) {
				t.Errorf("editor's navigation %q shows %s", nav, hidden)
			}
		}
		for _, shown := range []string{"微课堂", "文章", "粉丝与消息", "推送", "概览", "年度报告"} {
			if !strings.Contains(nav, shown) {
				t.Errorf("editor's navigation %q lacks %s", nav, shown)
			}
		}
		b.open("/console/staff")
		b.wait("the refusal", `document.querySelector('.main .notice-error')?.innerText.includes('没有权限')`)
		// Pages the role may use work: the auto-replies load from the API.
		b.open("/console/followers/replies")
		b.wait("the auto-replies", `document.querySelector('.main table, .main .empty')`)
		b.shot("replies")
	})

	t.Run("an editor keeps the auto-replies and the menu", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("editor", consolePassword)
		b.wait("the editor's home", `location.pathname === '/console/lessons'`)
		b.open("/console/followers/replies")
		b.wait("the replies", `document.querySelector('.main .actions .btn-primary')`)
		b.click(`.main .actions .btn-primary`)
		b.fill("form", "name", "招聘会咨询")
		b.fill("form", "keywords", "招聘\n求职")
		b.click(`form:has([data-field=name]) button[type=submit]`)
		// The reply text is missing: the error sits next to that field.
		b.wait("the reply text error", `document.querySelector('[data-field="reply.text"] .field-error').textContent !== ''`)
		if got := js[string](b, `document.querySelector('[data-field=keywords] textarea').value`); got != "招聘\n求职" {
			t.Errorf("keywords after the failed submit = %q, want them kept", got)
		}
		b.fill("form", "reply.text", "近期招聘会请点菜单“女性就业”查看。")
		b.click(`form:has([data-field=name]) button[type=submit]`)
		b.wait("the rule in the list", `document.querySelector('.main table')?.innerText.includes('招聘会咨询')`)

		b.open("/console/followers/menu")
		b.wait("the menu editor", `document.querySelector('.menu-group, .main form')`)
		b.do(chromedp.Click(chromedp.CSS(`.main form button.btn:not(.btn-primary)[type=button]`))) // 添加一级菜单
		b.wait("a menu button", `document.querySelector('.menu-group')`)
		b.click(`.main form button[type=submit]`)
		b.wait("the nested errors", `document.querySelector('[data-field="button[0].name"] .field-error')?.textContent !== '' && document.querySelector('[data-field="button[0].key"] .field-error')?.textContent !== ''`)
		b.fill(".menu-group", "button[0].name", "求助")
		b.fill(".menu-group", "button[0].key", "HELP")
		b.click(`.main form button[type=submit]`)
		b.wait("the saved menu", `document.querySelector('.main .card')?.innerText.includes('当前版本 1')`)
		b.click(`.main form button.publish`)
		b.wait("the published menu", `document.querySelector('.main .card')?.innerText.includes('已发布到公众号')`)
		b.shot("menu")
	})

	t.Run("a crisis message reaches the alerts and the pushes", func(t *testing.T) {
		secrets, err := readSandboxSecrets(filepath.Join(cs.dir, sandboxFile))
		if err != nil {
			t.Fatal(err)
		}
		sender := &wxsim.Sender{URL: cs.base + "/wechat/oa/callback", Token: secrets.OAToken, AESKey: secrets.OAAESKey,
			AppID: wxsim.SandboxOAAppID}
		if _, _, err := sender.Send(context.Background(), wxsim.TextMessage(wxsim.SandboxOAOpenIDs[2], "他又打我了，救命")); err != nil {
			t.Fatal(err)
		}
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("chief", consolePassword)
		b.wait("the overview", `location.pathname === '/console/overview'`)
		deadline := time.Now().Add(15 * time.Second)
		for {
			b.open("/console/alerts")
			b.wait("the alerts", `document.querySelector('.main table, .main .empty')`)
			if js[bool](b, `!!document.querySelector('.main table')`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no alert in the console within 15 s")
			}
			time.Sleep(300 * time.Millisecond)
		}
		if text := b.pageText(); !strings.Contains(text, "紧急") || strings.Contains(text, "打我") {
			t.Errorf("alerts page = %q, want an urgent alert without the message's words", text)
		}
		b.wait("the unread count", `document.querySelector('.topbar .count')?.textContent === '1' && !document.querySelector('.topbar .count').hidden`)
		b.click(`.main table button`) // 标为已读
		b.wait("the alert read", `document.querySelector('.main table')?.innerText.includes('已读') && !document.querySelector('.main table button')`)
		b.wait("no unread count", `document.querySelector('.topbar .count').hidden`)

		seedPush(t, cs.dir)
		b.open("/console/pushes")
		b.wait("the push", `document.querySelector('.main table a')`)
		b.click(`.main table a`)
		b.wait("the push page with its charts", `document.querySelectorAll('.main svg.chart').length === 2 && document.querySelector('.main svg.chart rect.bar')`)
		b.wait("the deliveries", `document.querySelector('.paged table')`)
		b.shot("push")

		b.open("/console/followers/messages")
		b.wait("the message log", `document.querySelector('.main table')?.innerText.includes('危机词')`)
	})

	t.Run("an admin creates an account and changes its roles", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("chief", consolePassword)
		b.wait("the overview", `location.pathname === '/console/overview'`)
		b.open("/console/staff")
		b.wait("the staff list", `document.querySelector('.main table')?.innerText.includes('editor')`)
		b.click(`.page-header .btn-primary`)
		b.fill("form", "username", "reviewer1")
		b.fill("form", "display_name", "孙审核")
		b.fill("form", "password", "short")
		b.click(`form:has([data-field=username]) button[type=submit]`)
		b.wait("the roles error", `document.querySelector('[data-field=roles] .field-error').textContent !== ''`)
		b.click(`[data-field=roles] input[value=reviewer]`)
		b.click(`form:has([data-field=username]) button[type=submit]`)
		b.wait("the password error", `document.querySelector('[data-field=password] .field-error').textContent.includes('10') && document.querySelector('[data-field=roles] .field-error').textContent === ''`)
		if got := js[string](b, `document.querySelector('[data-field=display_name] input').value`); got != "孙审核" {
			t.Errorf("name after two failed submits = %q, want it kept", got)
		}
		b.fill("form", "password", "Reviewer-Passw0rd")
		b.click(`form:has([data-field=username]) button[type=submit]`)
		b.wait("the new account in the list", `document.querySelector('.main table')?.innerText.includes('孙审核')`)
		// Edit: add the editor role in the dialog.
		b.do(chromedp.Click(chromedp.CSS(`.main tbody tr:last-child button`)))
		b.wait("the dialog", `document.querySelector('dialog[open]')`)
		b.click(`dialog[open] [data-field=roles] input[value=editor]`)
		b.click(`dialog[open] button[type=submit]`)
		b.wait("the changed roles", `!document.querySelector('dialog[open]') && document.querySelector('.main tbody tr:last-child')?.innerText.includes('编辑')`)
		code, list := cs.call(t, "GET", "/api/admin/staff", cs.adminToken, "")
		if code != 200 || !strings.Contains(fmt.Sprint(list), "reviewer1") || !strings.Contains(fmt.Sprint(list), "editor reviewer") &&
			!strings.Contains(fmt.Sprint(list), "reviewer editor") {
			t.Errorf("staff after the edit = %d %v, want reviewer1 with editor and reviewer", code, list)
		}
		b.shot("staff")
	})

	t.Run("an editor edits a notification template, errors beside each row", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("editor", consolePassword)
		b.wait("the editor's home", `location.pathname === '/console/lessons'`)
		b.open("/console/pushes/templates")
		b.wait("the templates", `document.querySelector('.main table')?.innerText.includes('招聘会提醒')`)
		b.do(chromedp.Click(chromedp.CSS(`.main tbody tr:nth-child(5) button`)))
		b.wait("the dialog", `document.querySelector('dialog[open] [data-field="items[0].oa_fields"]')`)
		oa := `dialog[open] [data-field="items[0].oa_fields"]`
		b.click(oa + ` > button`) // 添加字段
		row := oa + ` .template-row:last-child`
		b.do(chromedp.SendKeys(chromedp.CSS(row+` input[name$=".key"]`), "first"),
			chromedp.SendKeys(chromedp.CSS(row+` input[name$=".field"]`), "title"))
		b.click(`dialog[open] button[type=submit]`)
		b.wait("the error beside the new row", `document.querySelector('`+row+` .has-error .field-error')?.textContent.includes('first')`)
		b.shot("template-error")
		b.click(row + ` > button`) // 删除 the row
		b.click(`dialog[open] button[type=submit]`)
		b.wait("the dialog closed", `!document.querySelector('dialog[open]')`)
	})

	t.Run("an admin sees the background queues", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("chief", consolePassword)
		b.wait("the overview", `location.pathname === '/console/overview'`)
		b.open("/console/jobs")
		b.wait("the queues", `document.querySelector('.main .card table')?.innerText.includes('运行中') && document.querySelectorAll('.main .card')[1]?.innerText.includes('没有失败的任务')`)
	})

	t.Run("the audit log shows what staff did", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("chief", consolePassword)
		b.wait("the overview", `location.pathname === '/console/overview'`)
		b.open("/console/audit")
		b.wait("the audit log", `document.querySelector('.main table')?.innerText.includes('staff.create')`)
		b.fill("form", "action", "fair.create")
		b.click(`form button[type=submit]`)
		b.wait("the filtered log", `(t => t.includes('fair') && !t.includes('staff.create'))(document.querySelector('.main .paged')?.innerText || '')`)
		b.open("/console/audit/logins")
		b.wait("the sign-in history", `document.querySelector('.main table')?.innerText.includes('密码错误')`)
		b.shot("logins")
	})

	t.Run("a forced password change comes first", func(t *testing.T) {
		cs.createStaff(t, "newcomer", "新同事", "fair_manager", true)
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("newcomer", consolePassword)
		b.wait("the password page", `location.pathname === '/console/password'`)
		b.open("/console/fairs") // nothing else opens before the change
		b.wait("the password page again", `location.pathname === '/console/password'`)
		b.fill("form", "old_password", consolePassword)
		b.fill("form", "new_password", "Brand-New-Passw0rd")
		b.fill("form", "confirm", "Brand-New-Passw0rd-typo")
		b.click(`form button[type=submit]`)
		b.wait("the mismatch", `document.querySelector('[data-field=confirm] .field-error').textContent.includes('不一致')`)
		b.fill("form", "confirm", "Brand-New-Passw0rd")
		b.click(`form button[type=submit]`)
		b.wait("the home page", `location.pathname === '/console/fairs' && document.querySelector('.sidenav')`)
	})

	var made consoleMade // what the phase-2 tests create, for the width checks
	t.Run("an editor publishes a lesson and sees the push result", func(t *testing.T) { testLessonPublish(t, bctx, cs, &made) })
	t.Run("a case from the Mini Program is assigned and closed; the reveal is logged", func(t *testing.T) {
		testCaseAssignClose(t, bctx, cs, &made)
	})
	t.Run("an article is approved by another admin, published and its reads charted", func(t *testing.T) {
		testArticlePublish(t, bctx, cs, &made)
	})
	t.Run("the overview draws its charts", func(t *testing.T) { testOverview(t, bctx, cs) })
	t.Run("the annual report shows its summary and downloads", func(t *testing.T) { testAnnual(t, bctx, cs) })
	t.Run("an admin turns on two-step verification and signs in with a code", func(t *testing.T) { testTOTP(t, bctx, cs) })
	t.Run("a reviewer opens a campaign and reviews its nominations", func(t *testing.T) { testNominationReview(t, bctx, cs, &made) })
	t.Run("the phase-2 pages fit at 375 and 1366 px", func(t *testing.T) { testNewPagesFit(t, bctx, cs, &made) })

	t.Run("at a phone's width nothing overflows and the menu opens", func(t *testing.T) {
		b := newTab(t, bctx, cs.base, 375, 812)
		b.login("chief", consolePassword)
		b.wait("the overview", `location.pathname === '/console/overview'`)
		if js[bool](b, `getComputedStyle(document.querySelector('.sidenav')).transform === 'none'`) {
			t.Errorf("the navigation is open at 375 px before the menu button is pressed")
		}
		for _, path := range []string{"/console/login", "/console/fairs", "/console/staff", "/console/audit", "/console/followers/menu",
			"/console/followers/replies", "/console/pushes", "/console/overview", "/console/cases", "/console/campaigns",
			"/console/lessons", "/console/articles", "/console/annual", "/console/cases/new", "/console/cases/stations",
			"/console/articles/new", "/console/articles/columns", "/console/security"} {
			if path == "/console/login" {
				continue // signed in: checked separately below
			}
			b.open(path)
			b.wait(path, `document.querySelector('.main') && !document.querySelector('.main .loading')`)
			sw, iw := js[int](b, `document.documentElement.scrollWidth`), js[int](b, `window.innerWidth`)
			if sw > iw {
				t.Errorf("%s at 375 px: scrollWidth %d > innerWidth %d", path, sw, iw)
			}
			b.shot("phone" + strings.ReplaceAll(path, "/", "-"))
		}
		b.click(`.menu-toggle`)
		b.wait("the open menu", `document.body.classList.contains('nav-open') && getComputedStyle(document.querySelector('.sidenav')).transform === 'none'`)
		b.shot("phone-menu")
		b.click(`.sidenav a[href='/console/fairs']`)
		b.wait("the fairs page and a closed menu", `location.pathname === '/console/fairs' && !document.body.classList.contains('nav-open')`)

		l := newTab(t, bctx, cs.base, 375, 812)
		l.open("/console/login")
		l.wait("the login form", `document.querySelector('.login-form')`)
		if sw, iw := js[int](l, `document.documentElement.scrollWidth`), js[int](l, `window.innerWidth`); sw > iw {
			t.Errorf("login at 375 px: scrollWidth %d > innerWidth %d", sw, iw)
		}
		l.shot("phone-login")
	})

	t.Run("roles changed by an admin apply at the next page load", func(t *testing.T) {
		cs.createStaff(t, "shifting", "周同事", "editor", false)
		b := newTab(t, bctx, cs.base, 1366, 768)
		b.login("shifting", consolePassword)
		b.wait("the editor's home", `location.pathname === '/console/lessons' && document.querySelector('.sidenav a.nav-item')`)
		if strings.Contains(strings.Join(b.navTexts(), ","), "招聘会") {
			t.Fatalf("an editor sees 招聘会")
		}
		_, list := cs.call(t, "GET", "/api/admin/staff", cs.adminToken, "")
		var id any
		for _, it := range list["items"].([]any) {
			if m := it.(map[string]any); m["username"] == "shifting" {
				id = m["id"]
			}
		}
		if code, body := cs.call(t, "PATCH", fmt.Sprintf("/api/admin/staff/%v", id), cs.adminToken,
			`{"roles":["editor","fair_manager"]}`); code != 200 {
			t.Fatalf("PATCH staff = %d %v", code, body)
		}
		b.do(chromedp.Reload())
		b.wait("招聘会 in the navigation", `[...document.querySelectorAll('.sidenav a.nav-item')].some(a => a.textContent === '招聘会')`)
		b.idle()

		// Taken away while the page is open: the next call's 403 is shown
		// in the page, not as a broken page.
		if code, body := cs.call(t, "PATCH", fmt.Sprintf("/api/admin/staff/%v", id), cs.adminToken,
			`{"roles":["fair_manager"]}`); code != 200 {
			t.Fatalf("PATCH staff = %d %v", code, body)
		}
		// The page on screen may make a call of its own and learn first; a
		// click only when the link is still there, so the test does not race it.
		js[bool](b, `(a => { if (a) a.click(); return true })(document.querySelector(".sidenav a[href='/console/pushes']"))`)
		b.wait("the refusal in the page", `document.querySelector('.main .notice-error')?.innerText.includes('没有权限')`)
		b.wait("the navigation without the editor's pages", `(t => t.includes('招聘会') && !t.includes('推送'))([...document.querySelectorAll('.sidenav a.nav-item')].map(a => a.textContent).join())`)
		b.shot("forbidden")
	})

	t.Run("the lockout after five failures is explained", func(t *testing.T) {
		other := startConsoleServer(t) // its own per-address login budget
		b := newTab(t, bctx, other.base, 1366, 768)
		b.open("/console/login")
		for i := 0; i < 5; i++ {
			b.fill(".login-form", "username", "fairs")
			b.fill(".login-form", "password", fmt.Sprintf("wrong-password-%d", i))
			js[bool](b, `document.querySelector('.login-form .form-banner').replaceChildren() || true`)
			b.click(`.login-form button[type=submit]`)
			b.wait("the error", `document.querySelector('.login-form .form-banner').innerText !== '' && !document.querySelector('.login-form button[type=submit]').disabled`)
		}
		b.fill(".login-form", "password", consolePassword)
		b.click(`.login-form button[type=submit]`)
		b.wait("the lockout message", `document.querySelector('.login-form .form-banner').innerText.includes('登录失败次数过多')`)
		b.shot("lockout")
	})
}

// seedPush writes a lesson push with deliveries in several states into the
// server's database: nothing in this build creates pushes yet (lessons and
// articles do, in their own areas).
func seedPush(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	db, closeDB, err := store.Open(ctx, store.Options{Driver: "sqlite", DSN: filepath.Join(dir, "wanjia.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	ns := store.NewNotify(db)
	p, err := ns.CreatePush(ctx, model.Push{Title: "第3课《亲子沟通》上线", Topic: "lesson_published", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, st := range []struct{ status, channel string }{
		{model.DeliverySent, model.ChannelMPSubscribe}, {model.DeliverySent, model.ChannelMPSubscribe},
		{model.DeliverySent, model.ChannelMPSubscribe}, {model.DeliverySent, model.ChannelOATemplate},
		{model.DeliveryFailed, model.ChannelOATemplate}, {model.DeliveryNoConsent, ""}, {model.DeliveryNoConsent, ""},
		{model.DeliveryNoChannel, ""},
	} {
		d := model.Delivery{PushID: p.ID, Topic: "lesson_published", DedupeKey: fmt.Sprintf("seed:%d:%d", p.ID, i),
			UserID: int64(100 + i), Status: st.status, Channel: st.channel, EnqueuedAt: now}
		if st.status == model.DeliverySent {
			d.SentAt = now
		}
		if _, _, err := ns.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
}

// --- phase 2: lessons, 12338, articles, figures, two-step verification ---

// consoleMade records the pages the phase-2 tests create, for the width
// checks.
type consoleMade struct {
	course, lesson, push, caseNo, article, campaign string
}

// choose sets a form field's select and fires its change event (the
// pages show and hide fields on change).
func (b *tab) choose(scope, name, value string) {
	b.t.Helper()
	sel := fmt.Sprintf(`%s [data-field=%q] select`, scope, name)
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	q, _ := json.Marshal(sel)
	v, _ := json.Marshal(value)
	if !js[bool](b, fmt.Sprintf(`(s => { s.value = %s; s.dispatchEvent(new Event('change', {bubbles: true})); return s.value === %s })(document.querySelector(%s))`, v, v, q)) {
		b.t.Fatalf("%s has no option %s", sel, value)
	}
}

// reloadUntil reloads the page until the predicate holds (for results a
// background job writes).
func (b *tab) reloadUntil(what, ready, predicate string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		b.wait(what+" (loaded)", ready)
		if js[bool](b, "(() => { try { return !!("+predicate+") } catch (e) { return false } })()") {
			return
		}
		if time.Now().After(deadline) {
			b.shot("failure")
			b.t.Fatalf("%s: not within %s\npage text: %s", what, within, b.pageText())
		}
		time.Sleep(300 * time.Millisecond)
		b.do(chromedp.Reload())
	}
}

func (cs *consoleServer) staffWithStation(t *testing.T, username, name string, roles []string, stationID any) {
	t.Helper()
	rs, _ := json.Marshal(roles)
	code, body := cs.call(t, "POST", "/api/admin/staff", cs.adminToken, fmt.Sprintf(
		`{"username":%q,"display_name":%q,"password":%q,"roles":%s,"station_id":%v,"must_change_password":false}`, username, name, consolePassword, rs, stationID))
	if code != 201 {
		t.Fatalf("create staff %s = %d %v", username, code, body)
	}
}

func (cs *consoleServer) mpToken(t *testing.T, who string) string {
	t.Helper()
	code, login := cs.call(t, "POST", "/api/mp/login", "", fmt.Sprintf(`{"code":"sim:%s"}`, who))
	if code != 200 {
		t.Fatalf("mp login = %d %v", code, login)
	}
	return login["token"].(string)
}

func testLessonPublish(t *testing.T, bctx context.Context, cs *consoleServer, made *consoleMade) {
	b := newTab(t, bctx, cs.base, 1366, 768)
	b.login("editor", consolePassword)
	b.wait("the editor's home", `location.pathname === '/console/lessons' && document.querySelector('.new-course')`)
	b.click(`.new-course`)
	b.fill("form", "title", "家庭教育：陪伴的力量")
	b.choose("form", "audience", "preschool")
	b.fill("form", "intro", "写给 3–6 岁孩子家长的十节课。")
	b.click(`form:has([data-field=intro]) button[type=submit]`)
	b.wait("the course page", `/^\/console\/lessons\/courses\/\d+$/.test(location.pathname) && document.querySelector('.new-lesson')`)
	made.course = js[string](b, `location.pathname`)
	courseID := strings.TrimPrefix(made.course, "/console/lessons/courses/")

	// The first lesson: a bad link is refused beside its field, the rest kept.
	b.click(`.new-lesson`)
	b.wait("the lesson editor", `document.querySelector('form [data-field=url] input')`)
	b.fill("form", "title", "第一课：好好说话")
	b.fill("form", "url", "http://media.example.org/1.mp4")
	b.fill("form", "duration_s", "750")
	b.fill("form", "body", "<p>本课<strong>要点</strong></p><script>alert(1)</script>")
	b.wait("the safe preview", `document.querySelector('.article-preview strong') && !document.querySelector('.article-preview script')`)
	b.click(`form:has([data-field=url]) button[type=submit]`)
	b.wait("the link error", `document.querySelector('[data-field=url] .field-error').textContent.includes('https')`)
	if got := js[string](b, `document.querySelector('[data-field=title] input').value`); got != "第一课：好好说话" {
		t.Errorf("title after the failed save = %q, want it kept", got)
	}
	b.fill("form", "url", "https://media.example.org/1.mp4")
	b.click(`form:has([data-field=url]) button[type=submit]`)
	b.wait("the saved draft", `/^\/console\/lessons\/\d+$/.test(location.pathname) && document.querySelector('.publish-lesson')`)
	b.click(`.publish-lesson`)
	b.click(`dialog[open] button[type=submit]`)
	b.wait("the push result", `document.querySelector('.push-result') && document.body.innerText.includes('已于')`)

	// A parent subscribes; the second lesson, scheduled first, is then
	// published at once and reaches her.
	parent := cs.mpToken(t, "parent-of-two")
	if code, body := cs.call(t, "PUT", "/api/mp/courses/"+courseID+"/subscription", parent, ""); code != 200 {
		t.Fatalf("subscribe = %d %v", code, body)
	}
	b.open(made.course)
	b.click(`.new-lesson`)
	b.fill("form", "title", "第二课：情绪的名字")
	b.choose("form", "kind", "article")
	if js[bool](b, `!document.querySelector('[data-field=url]').hidden`) {
		t.Errorf("the link field shows for an article lesson")
	}
	b.fill("form", "body", "<h2>认识情绪</h2><p>和孩子一起给情绪起名字。</p>")
	b.set("form", "publish_at", shanghaiLocal(time.Now().Add(48*time.Hour)))
	b.click(`form:has([data-field=body]) button[type=submit]`)
	b.wait("the scheduled lesson", `/^\/console\/lessons\/\d+$/.test(location.pathname) && document.querySelector('.page-header')?.innerText.includes('定时')`)
	made.lesson = js[string](b, `location.pathname`)
	b.shot("lesson-editor")
	b.click(`.publish-lesson`)
	b.click(`dialog[open] button[type=submit]`)
	b.reloadUntil("the push to her", `document.querySelector('.push-result')`,
		`[...document.querySelectorAll('.push-result .stat')].some(s => s.innerText.includes('推送对象') && s.querySelector('.stat-value').textContent === '1')`,
		20*time.Second)
	b.shot("lesson-published")
	b.click(`.page-header a.btn`) // 推送送达明细
	b.wait("the push page with the lesson", `/^\/console\/pushes\/\d+$/.test(location.pathname) && document.body.innerText.includes('微课：第二课') && document.querySelector('svg.chart rect.bar')`)
	made.push = js[string](b, `location.pathname`)
	b.open(made.course)
	b.wait("the course figures", `document.querySelector('.main svg.chart-h') && document.querySelector('.main table')?.innerText.includes('第二课')`)
	b.shot("course")

	// Taking content down: the published lesson is withdrawn with a
	// reason (parents no longer see it) and restored; a draft is deleted.
	b.open(made.lesson)
	b.click(`.withdraw-lesson`)
	b.fill("dialog[open] form", "reason", "视频需要重新剪辑")
	b.click(`dialog[open] button[type=submit]`)
	b.wait("the withdrawn lesson", `document.querySelector('.lesson-withdrawn') && document.querySelector('.restore-lesson')`)
	lessonID := strings.TrimPrefix(made.lesson, "/console/lessons/")
	if code, _ := cs.call(t, "GET", "/api/mp/lessons/"+lessonID, parent, ""); code != 404 {
		t.Errorf("the parent reads the withdrawn lesson: %d, want 404", code)
	}
	b.shot("lesson-withdrawn")
	b.click(`.restore-lesson`)
	b.click(`dialog[open] button[type=submit]`)
	b.wait("the restored lesson", `!document.querySelector('.lesson-withdrawn') && document.querySelector('.withdraw-lesson')`)
	if code, _ := cs.call(t, "GET", "/api/mp/lessons/"+lessonID, parent, ""); code != 200 {
		t.Errorf("the parent reads the restored lesson: %d, want 200", code)
	}
	b.open(made.course)
	b.click(`.new-lesson`)
	b.fill("form", "title", "第三课：草稿")
	b.fill("form", "url", "https://media.example.org/3.mp4")
	b.click(`form:has([data-field=url]) button[type=submit]`)
	b.wait("the saved draft", `/^\/console\/lessons\/\d+$/.test(location.pathname) && document.querySelector('.delete-lesson')`)
	b.click(`.delete-lesson`)
	b.click(`dialog[open] button[type=submit]`)
	b.wait("back on the course without the draft", `location.pathname === '`+made.course+`' && document.querySelector('.main table')?.innerText.includes('第二课') && !document.body.innerText.includes('第三课：草稿')`)
}

func testCaseAssignClose(t *testing.T, bctx context.Context, cs *consoleServer, made *consoleMade) {
	// The admin adds the stations in the console.
	a := newTab(t, bctx, cs.base, 1366, 768)
	a.login("chief", consolePassword)
	a.wait("the overview", `location.pathname === '/console/overview'`)
	a.open("/console/cases/stations")
	a.click(`.new-station`)
	a.fill("form", "name", "城关区妇女维权服务站")
	a.choose("form", "kind", "legal_aid")
	a.fill("form", "capacity", "50")
	a.fill("form", "districts", "城关区")
	a.fill("form", "duty_staff_ids", "一号")
	a.click(`form:has([data-field=districts]) button[type=submit]`)
	a.wait("the ids error", `document.querySelector('[data-field=duty_staff_ids] .field-error').textContent !== ''`)
	a.fill("form", "duty_staff_ids", "")
	a.click(`form:has([data-field=districts]) button[type=submit]`)
	a.wait("the station in the list", `document.querySelector('.main table')?.innerText.includes('城关区妇女维权服务站')`)
	_, sts := cs.call(t, "GET", "/api/admin/stations", cs.adminToken, "")
	var station1 any
	for _, it := range sts["items"].([]any) {
		station1 = it.(map[string]any)["id"]
	}
	code, st2 := cs.call(t, "POST", "/api/admin/stations", cs.adminToken, `{"name":"七里河区法律援助中心","kind":"legal_aid","districts":["七里河区"]}`)
	if code != 201 {
		t.Fatalf("second station = %d %v", code, st2)
	}
	cs.staffWithStation(t, "cw1", "陈专员", []string{"caseworker"}, station1)
	cs.staffWithStation(t, "cw2", "马专员", []string{"caseworker"}, st2["id"])

	// She asks for help in the Mini Program.
	her := cs.mpToken(t, "liu")
	const story = "丈夫长期殴打我，想咨询离婚和人身安全保护令。"
	code, filed := cs.call(t, "POST", "/api/mp/cases", her, // filed under 其他: the caseworker corrects it
		`{"category":"other","description":"`+story+`","name":"刘小红","phone":"13912345678","district":"城关区"}`)
	if code != 201 {
		t.Fatalf("POST /api/mp/cases = %d %v", code, filed)
	}
	no := filed["case_no"].(string)
	made.caseNo = "/console/cases/" + no

	// The admin finds it in the SLA queue, reads it masked, reveals the
	// phone for a reason and assigns it to the suggested station.
	a.open("/console/cases")
	a.wait("the case in the queue", `document.querySelector('.main table')?.innerText.includes('`+no+`')`)
	if text := a.pageText(); strings.Contains(text, "13912345678") || strings.Contains(text, "刘小红") {
		t.Errorf("the queue shows her name or phone unmasked")
	}
	a.click(`.main table a[href$='` + no + `']`)
	a.wait("the case page", `document.querySelector('.reveal') && document.querySelector('.suggestions, .internal-card')`)
	if strings.Contains(a.pageText(), "13912345678") {
		t.Errorf("the case page shows the phone before the reveal")
	}
	a.click(`.reveal`)
	a.click(`dialog[open] button[type=submit]`)
	a.wait("the reason error", `document.querySelector('dialog[open] [data-field=reason] .field-error').textContent !== ''`)
	a.fill("dialog[open]", "reason", "电话回访，确认人身安全")
	a.click(`dialog[open] button[type=submit]`)
	a.wait("the full phone", `document.querySelector('.revealed-phone')?.textContent === '13912345678'`)
	a.wait("the reveal in the access log", `[...document.querySelectorAll('.main .card')].some(c => c.innerText.includes('访问日志') && c.innerText.includes('电话回访，确认人身安全') && c.innerText.includes('查看完整联系方式'))`)
	a.wait("the route suggestion", `document.querySelector('.use-suggestion')`)
	a.click(`.use-suggestion`)
	a.click(`form:has([data-field=station_id]) button[type=submit]`)
	a.wait("the assignment", `document.querySelector('.page-header')?.innerText.includes('已分派') && document.querySelector('.internal-events')?.innerText.includes('分派到 城关区妇女维权服务站')`)
	a.shot("case-admin")

	// The station's caseworker works it through to closed.
	b := newTab(t, bctx, cs.base, 1366, 768)
	b.login("cw1", consolePassword)
	b.wait("the caseworker's home", `location.pathname === '/console/cases' && document.querySelector('.main table')?.innerText.includes('`+no+`')`)
	if nav := strings.Join(b.navTexts(), ","); nav != "12338" {
		t.Errorf("caseworker's navigation = %s, want only 12338", nav)
	}
	b.open(made.caseNo)
	b.wait("the case page", `document.querySelector('form [data-field=to] select')`)
	// She filed under 其他 what is domestic violence: the category is corrected, with a reason.
	b.click(`.set-category`)
	b.choose("dialog[open]", "category", "domestic_violence")
	b.click(`dialog[open] button[type=submit]`)
	b.wait("the reason error", `document.querySelector('dialog[open] [data-field=reason] .field-error').textContent !== ''`)
	b.fill("dialog[open]", "reason", "电话核实：丈夫长期殴打，属家庭暴力")
	b.click(`dialog[open] button[type=submit]`)
	b.wait("the corrected category", `document.querySelector('.page-header')?.innerText.includes('家庭暴力') && document.querySelector('.internal-events')?.innerText.includes('类别更正：其他 → 家庭暴力') && document.querySelector('.internal-events')?.innerText.includes('属家庭暴力')`)
	b.fill("form:has([data-field=text]):not(:has([data-field=channel]))", "text", "已电话联系，她暂住娘家，安全。")
	b.click(`.internal-card form:not(:has([data-field=channel])) button[type=submit]`)
	b.wait("the note", `document.querySelector('.internal-events')?.innerText.includes('暂住娘家')`)
	b.fill(".her-card form", "text", "您好，我们已收到您的求助，律师会在三个工作日内与您联系。")
	b.click(`.her-card form button[type=submit]`)
	b.wait("the message", `document.querySelector('.her-card .thread')?.innerText.includes('三个工作日')`)
	for _, to := range []string{"in_progress", "resolved"} {
		b.choose("form:has([data-field=to])", "to", to)
		b.click(`form:has([data-field=to]) button[type=submit]`)
		b.wait(to, `document.querySelector('.page-header')?.innerText.includes('`+map[string]string{"in_progress": "处理中", "resolved": "已解决"}[to]+`')`)
	}
	b.choose("form:has([data-field=to])", "to", "closed")
	b.click(`form:has([data-field=to]) button[type=submit]`)
	b.wait("the outcome error", `document.querySelector('[data-field=outcome] .field-error').textContent !== ''`)
	b.choose("form:has([data-field=to])", "outcome", "legal_aid")
	b.fill("form:has([data-field=to])", "public_message", "您的求助已办结，如有需要可随时再联系我们。")
	b.click(`form:has([data-field=to]) button[type=submit]`)
	b.wait("the closed case", `document.querySelector('.page-header')?.innerText.includes('已结案') && document.body.innerText.includes('法律援助')`)
	b.wait("the chain check", `document.querySelector('.verify-ok')`)
	b.shot("case-closed")

	if js[bool](b, `!!document.querySelector('.set-category')`) {
		t.Errorf("a closed case offers the category correction")
	}

	// She sees the messages and the closure, never the internal note or the reason of the correction.
	_, mine := cs.call(t, "GET", "/api/mp/cases/"+no, her, "")
	if got := fmt.Sprint(mine); mine["status"] != "closed" || !strings.Contains(got, "三个工作日") || strings.Contains(got, "暂住娘家") ||
		strings.Contains(got, "电话核实") {
		t.Errorf("her view = %v, want closed with the messages and without the note", mine)
	}

	// The admin enters the National Day holidays and their make-up working
	// days; the caseworker reads them.
	a.open("/console/cases/calendar")
	a.wait("the calendar page", `document.querySelector('.calendar-source')?.innerText.includes('尚未')`)
	a.fill("form", "holidays", "2026-10-01\n2026-10-02\n2026-10-32")
	a.fill("form", "workdays", "2026-09-20, 2026-10-10")
	a.click(`form:has([data-field=holidays]) button[type=submit]`)
	a.wait("the date error", `document.querySelector('[data-field=holidays] .field-error').textContent.includes('2026-10-32')`)
	a.fill("form", "holidays", "2026-10-01\n2026-10-02\n2026-10-03")
	a.click(`form:has([data-field=holidays]) button[type=submit]`)
	a.wait("the saved calendar", `document.querySelector('.calendar-source')?.innerText.includes('第 1 版')`)
	if code, cal := cs.call(t, "GET", "/api/admin/calendar", cs.adminToken, ""); code != 200 || cal["source"] != "database" ||
		fmt.Sprint(cal["workdays"]) != "[2026-09-20 2026-10-10]" || fmt.Sprint(cal["holidays"]) != "[2026-10-01 2026-10-02 2026-10-03]" {
		t.Errorf("GET /api/admin/calendar = %d %v", code, cal)
	}
	b.open("/console/cases/calendar")
	b.wait("the calendar, read only", `document.querySelector('.calendar-workdays')?.innerText.includes('2026-10-10') && !document.querySelector('form [data-field=holidays]')`)
	// The reveal is in the case's access log.
	code, log := cs.call(t, "GET", "/api/admin/cases/"+no+"/access-log", cs.adminToken, "")
	if got := fmt.Sprint(log); code != 200 || !strings.Contains(got, "reveal") || !strings.Contains(got, "电话回访，确认人身安全") {
		t.Errorf("access log = %d %v, want the reveal with its reason", code, log)
	}

	// She also takes a hotline call: the intake lands in her station.
	b.open("/console/cases")
	b.click(`.intake-link`)
	b.fill("form", "description", "来电称单位以怀孕为由辞退她。")
	b.fill("form", "name", "王女士")
	b.click(`form:has([data-field=description]) button[type=submit]`)
	b.wait("the intake errors", `document.querySelector('[data-field=category] .field-error').textContent !== '' && document.querySelector('[data-field=phone] .field-error').textContent !== ''`)
	if got := js[string](b, `document.querySelector('[data-field=description] textarea').value`); got != "来电称单位以怀孕为由辞退她。" {
		t.Errorf("description after the failed intake = %q, want it kept", got)
	}
	b.choose("form", "category", "employment")
	b.fill("form", "phone", "13700001111")
	b.choose("form", "contact.mode", "window")
	b.wait("the window fields", `!document.querySelector('[data-field="contact.from"]').hidden`)
	b.click(`form:has([data-field=description]) button[type=submit]`)
	b.wait("the window error", `document.querySelector('[data-field="contact.from"] .field-error').textContent !== ''`)
	b.do(chromedp.SetValue(chromedp.CSS(`[data-field="contact.from"] input`), "19:00"), chromedp.SetValue(chromedp.CSS(`[data-field="contact.to"] input`), "21:00"))
	b.click(`form:has([data-field=description]) button[type=submit]`)
	b.wait("the new case", `/^\/console\/cases\/WQ/.test(location.pathname) && document.querySelector('.page-header')?.innerText.includes('劳动就业') && document.body.innerText.includes('城关区妇女维权服务站') && document.body.innerText.includes('19:00–21:00')`)

	// Another station's caseworker: the console's not-found, nothing of the case.
	c := newTab(t, bctx, cs.base, 1366, 768)
	c.login("cw2", consolePassword)
	c.wait("her queue", `location.pathname === '/console/cases' && document.querySelector('.main .card') && !document.querySelector('.main .loading')`)
	if strings.Contains(c.pageText(), no) {
		t.Errorf("another station's queue lists %s", no)
	}
	c.open(made.caseNo)
	c.wait("the not-found page", `document.querySelector('.case-404')`)
	if text := c.pageText(); strings.Contains(text, "殴打") || strings.Contains(text, "1391") || strings.Contains(text, "城关区") {
		t.Errorf("the not-found page leaks the case: %q", text)
	}
	c.shot("case-404")
}

func testArticlePublish(t *testing.T, bctx context.Context, cs *consoleServer, made *consoleMade) {
	b := newTab(t, bctx, cs.base, 1366, 768)
	b.login("editor", consolePassword)
	b.wait("the editor's home", `location.pathname === '/console/lessons'`)
	b.open("/console/articles/columns")
	b.fill("form", "name", "巧媳妇·富全家")
	b.click(`form:has([data-field=name]) button[type=submit]`)
	b.wait("the column", `document.querySelector('.main table')?.innerText.includes('巧媳妇·富全家')`)

	b.open("/console/articles/new")
	b.fill("form", "title", "她们用双手撑起一个家")
	b.fill("form", "author", "市妇联")
	b.fill("form", "digest", "三位创业女性的故事")
	b.fill("form", "body", `<p style="text-align:center">她们用双手<strong>撑起</strong>一个家。</p><img src="https://evil.example/x.png" onerror="alert(1)"><script>alert(2)</script>`)
	b.wait("the safe preview", `document.querySelector('.article-preview strong') && document.querySelector('.article-preview p.al-center') && !document.querySelector('.article-preview script, .article-preview img, .article-preview [onerror]')`)
	if n := js[int](b, `document.querySelectorAll('.article-preview [style]').length`); n != 0 {
		t.Errorf("%d style attributes in the preview", n)
	}
	b.choose("form", "column_id", js[string](b, `[...document.querySelectorAll('[data-field=column_id] option')].find(o => o.textContent === '巧媳妇·富全家').value`))
	b.click(`form:has([data-field=body]) button[type=submit]`)
	b.wait("the draft page", `/^\/console\/articles\/\d+$/.test(location.pathname) && document.querySelector('.submit')`)
	made.article = js[string](b, `location.pathname`)
	id := strings.TrimPrefix(made.article, "/console/articles/")

	b.click(`.submit`) // no cover yet
	b.wait("the refusal", `document.querySelector('.toast-error')?.textContent.includes('封面')`)
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 90, 50))); err != nil {
		t.Fatal(err)
	}
	cover := filepath.Join(t.TempDir(), "cover.png")
	if err := os.WriteFile(cover, img.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.SetUploadFiles(chromedp.CSS(`.cover-file`), []string{cover}))
	b.click(`.upload-cover`)
	b.wait("the cover", `document.body.innerText.includes('已上传封面')`)
	b.click(`.submit`)
	b.wait("the submitted article", `document.querySelector('.page-header .badge')?.textContent === '待审批'`)
	b.shot("article-pending")

	// Another admin approves it (the writer could not: two-person rule).
	a := newTab(t, bctx, cs.base, 1366, 768)
	a.login("chief", consolePassword)
	a.wait("the overview", `location.pathname === '/console/overview'`)
	a.open(made.article)
	a.click(`.approve`)
	a.wait("the approval", `document.querySelector('.page-header .badge')?.textContent === '已审批'`)

	b.do(chromedp.Reload())
	b.click(`.publish`)
	b.wait("the publish dialog", `document.querySelector('dialog[open] [data-field=mode]') && document.querySelector('dialog[open] [data-field=publish_at]').hidden`)
	b.click(`dialog[open] button[type=submit]`)
	b.wait("the published article", `document.querySelector('.page-header .badge')?.textContent === '已发布'`)

	// Read counts arrive from WeChat's datacube each morning for the day
	// before; an article published now has none yet, so the test writes
	// five days of them as the sync job would (store.UpsertArticleDays).
	_, art := cs.call(t, "GET", "/api/admin/articles/"+id, cs.token(t, "editor", consolePassword), "")
	seedArticleDays(t, cs.dir, art)
	b.do(chromedp.Reload())
	b.wait("the read chart", `[...document.querySelectorAll('.main .card')].some(c => c.innerText.includes('阅读数据') && c.querySelector('svg.chart polyline'))`)
	if got := js[string](b, `[...document.querySelectorAll('.stat')].find(s => s.innerText.includes('阅读次数')).querySelector('.stat-value').textContent`); got != "1,500" {
		t.Errorf("reads shown = %q, want 1,500", got)
	}
	b.shot("article-reads")
	b.open("/console/articles/columns")
	b.wait("the column totals", `document.querySelector('.main svg.chart-h') && document.querySelector('.main table')?.innerText.includes('1,500')`)
	b.shot("columns")
}

// seedArticleDays writes five days of read counts for a published article
// (reads 100, 200 … 500) into the server's database.
func seedArticleDays(t *testing.T, dir string, art map[string]any) {
	t.Helper()
	ctx := context.Background()
	db, closeDB, err := store.Open(ctx, store.Options{Driver: "sqlite", DSN: filepath.Join(dir, "wanjia.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	msg, _ := art["msg_data_id"].(string)
	if msg == "" {
		t.Fatalf("article %v has no msg_data_id", art)
	}
	var days []model.ArticleDay
	for i := 1; i <= 5; i++ {
		d := time.Now().In(time.FixedZone("CST", 8*3600)).AddDate(0, 0, i-6).Format("2006-01-02")
		days = append(days, model.ArticleDay{ArticleID: int64(art["id"].(float64)), MsgDataID: msg, Index: 1, Date: d,
			Reads: int64(100 * i), ReadUsers: int64(80 * i), Shares: int64(i), Source: "test"})
	}
	if err := store.NewArticles(db).UpsertArticleDays(ctx, days); err != nil {
		t.Fatal(err)
	}
}

func testOverview(t *testing.T, bctx context.Context, cs *consoleServer) {
	b := newTab(t, bctx, cs.base, 1366, 768)
	b.login("fairs", consolePassword) // figures are for every role but caseworker
	b.wait("the fairs page", `location.pathname === '/console/fairs'`)
	b.click(`.sidenav a[href='/console/overview']`)
	b.wait("the overview's charts", `document.querySelectorAll('.main .card svg.chart').length >= 4`)
	if got := js[string](b, `document.querySelector('.stat[data-key="cases.received"] .stat-value')?.textContent || ''`); got != "2 起" {
		t.Errorf("cases received = %q, want 2 起 (the Mini Program's and the hotline's)", got)
	}
	if def := js[string](b, `document.querySelector('.stat[data-key="cases.closure_rate"]')?.title || ''`); !strings.Contains(def, "结案率") {
		t.Errorf("closure rate definition on hover = %q", def)
	}
	b.click(`.main details.definitions summary`)
	b.click(`.presets button:nth-child(3)`) // 近 30 天
	b.wait("the shorter period", `location.search.includes('from=') && document.querySelector('.main p.muted.small')?.textContent.includes('统计期间')`)
	b.fill("form", "from", "")
	js[bool](b, `(i => { i.value = '2026-12-31'; return true })(document.querySelector('[data-field=from] input'))`)
	js[bool](b, `(i => { i.value = '2026-01-01'; return true })(document.querySelector('[data-field=to] input'))`)
	b.click(`form:has([data-field=from]) button[type=submit]`)
	b.wait("the order error", `document.querySelector('[data-field=to] .field-error').textContent !== ''`)
	b.shot("overview")

	c := newTab(t, bctx, cs.base, 1366, 768)
	c.login("cw1", consolePassword)
	c.wait("the caseworker's home", `location.pathname === '/console/cases'`)
	c.open("/console/overview")
	c.wait("the refusal", `document.querySelector('.main .notice-error')?.innerText.includes('没有权限')`)
}

func testAnnual(t *testing.T, bctx context.Context, cs *consoleServer) {
	b := newTab(t, bctx, cs.base, 1366, 768)
	b.login("chief", consolePassword)
	b.wait("the overview", `location.pathname === '/console/overview'`)
	b.open("/console/annual")
	b.wait("the summary paragraph", `document.querySelector('.summary-text')?.textContent.length > 20 && document.querySelectorAll('.main svg.chart').length >= 4`)
	if text := js[string](b, `document.querySelector('.summary-text').textContent`); !strings.Contains(text, "12338") && !strings.Contains(text, "维权") {
		t.Errorf("summary = %q, want the 12338 sentence", text)
	}
	b.shot("annual")
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatal(err)
	}
	b.click(`button.export`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.xlsx"))
		if len(files) == 1 {
			data, err := os.ReadFile(files[0])
			if err != nil || len(data) < 4 || string(data[:2]) != "PK" {
				t.Errorf("export %s is not an .xlsx (zip) file: %v", files[0], err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no .xlsx downloaded within 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testTOTP(t *testing.T, bctx context.Context, cs *consoleServer) {
	cs.createStaff(t, "deputy", "李副主任", "admin", false)
	b := newTab(t, bctx, cs.base, 1366, 768)
	b.login("deputy", consolePassword)
	b.wait("the overview", `location.pathname === '/console/overview'`)
	b.click(`.security-link`)
	b.click(`.start-totp`)
	b.wait("the QR code and the link", `document.querySelector('.totp-qr')?.naturalWidth > 0 && document.querySelector('.totp-url')?.textContent.startsWith('otpauth://totp/')`)
	b.shot("totp-enrol")
	secret := js[string](b, `document.querySelector('.totp-secret').textContent`)
	b.fill("form", "code", "000000")
	b.click(`form:has([data-field=code]) button[type=submit]`)
	b.wait("the wrong code", `document.querySelector('[data-field=code] .field-error').textContent !== ''`)
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.fill("form", "code", code)
	b.click(`form:has([data-field=code]) button[type=submit]`)
	b.wait("TOTP on", `document.querySelector('.main .badge-ok')?.textContent === '已开启'`)
	b.shot("totp-on")
	b.click(`.logout`)

	// The password alone is not enough now: the form asks for the code.
	b.wait("the login page", `location.pathname === '/console/login'`)
	if js[bool](b, `!document.querySelector('.login-form [data-field=totp]').hidden`) {
		t.Errorf("the code field shows before the server asks for it")
	}
	b.fill(".login-form", "username", "deputy")
	b.fill(".login-form", "password", consolePassword)
	b.click(`.login-form button[type=submit]`)
	b.wait("the code field", `!document.querySelector('.login-form [data-field=totp]').hidden && document.querySelector('.login-form [data-field=totp] .field-error').textContent !== ''`)
	b.shot("totp-login")
	// The code used to confirm cannot be used again; the next step's can.
	next, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b.fill(".login-form", "totp", next)
	b.click(`.login-form button[type=submit]`)
	b.wait("signed in with the code", `location.pathname === '/console/overview' && document.querySelector('.sidenav a.nav-item')`)
}

// testNewPagesFit opens the phase-2 pages at a phone's width and at
// 1366×768: none scrolls sideways. Screenshots of each with
// WANJIA_CONSOLE_SCREENSHOTS.
func testNewPagesFit(t *testing.T, bctx context.Context, cs *consoleServer, made *consoleMade) {
	paths := []string{"/console/overview", "/console/annual", "/console/lessons", "/console/cases", "/console/cases/new",
		"/console/cases/stations", "/console/cases/calendar", "/console/articles", "/console/articles/new", "/console/articles/columns", "/console/security"}
	paths = append(paths, "/console/campaigns", "/console/campaigns/review")
	for _, p := range []string{made.course, made.lesson, made.push, made.caseNo, made.article, made.campaign} {
		if p != "" {
			paths = append(paths, p)
		}
	}
	for _, size := range [][2]int64{{375, 812}, {1366, 768}} {
		b := newTab(t, bctx, cs.base, size[0], size[1])
		b.login("chief", consolePassword)
		b.wait("the overview", `location.pathname === '/console/overview'`)
		for _, path := range paths {
			b.open(path)
			b.wait(path, `document.querySelector('.main') && !document.querySelector('.main .loading')`)
			if sw, iw := js[int](b, `document.documentElement.scrollWidth`), js[int](b, `window.innerWidth`); sw > iw {
				t.Errorf("%s at %d px: scrollWidth %d > innerWidth %d", path, size[0], sw, iw)
			}
			b.shot(fmt.Sprintf("w%d%s", size[0], strings.ReplaceAll(path, "/", "-")))
		}
	}
}

func testNominationReview(t *testing.T, bctx context.Context, cs *consoleServer, made *consoleMade) {
	cs.createStaff(t, "judge", "孙评审", "reviewer", false)
	b := newTab(t, bctx, cs.base, 1366, 768)
	b.login("judge", consolePassword)
	b.wait("the reviewer's home", `location.pathname === '/console/campaigns' && document.querySelector('.new-campaign')`)
	if nav := strings.Join(b.navTexts(), ","); nav != "概览,最美家庭,年度报告" {
		t.Errorf("reviewer's navigation = %s, want 最美家庭 and the figures pages", nav)
	}
	b.click(`.new-campaign`)
	b.fill("form", "title", "2026年度万家最美家庭")
	now := time.Now()
	b.set("form", "nominate_from", shanghaiLocal(now.Add(-time.Hour)))
	b.set("form", "nominate_to", shanghaiLocal(now.Add(-2*time.Hour))) // before its start
	b.set("form", "vote_from", shanghaiLocal(now.Add(-30*time.Minute)))
	b.set("form", "vote_to", shanghaiLocal(now.Add(48*time.Hour)))
	b.fill("form", "votes_per_day", "3")
	b.click(`form:has([data-field=title]) button[type=submit]`)
	b.wait("the window error", `document.querySelector('[data-field=nominate_to] .field-error').textContent !== ''`)
	if got := js[string](b, `document.querySelector('[data-field=title] input').value`); got != "2026年度万家最美家庭" {
		t.Errorf("title after the failed submit = %q, want it kept", got)
	}
	b.set("form", "nominate_to", shanghaiLocal(now.Add(24*time.Hour)))
	b.click(`form:has([data-field=title]) button[type=submit]`)
	b.wait("the campaign page", `/^\/console\/campaigns\/\d+$/.test(location.pathname) && document.querySelector('.edit-campaign') && document.body.innerText.includes('最美母亲')`)
	made.campaign = js[string](b, `location.pathname`)
	cid := strings.TrimPrefix(made.campaign, "/console/campaigns/")

	// Two families are nominated in the Mini Program, with photos.
	mum := cs.mpToken(t, "neighbour")
	nominate := func(family, story string, photos int) string {
		ids := make([]string, photos)
		for i := range ids {
			ids[i] = fmt.Sprint(cs.campaignUpload(t, mum, mustPNG(t)))
		}
		code, n := cs.call(t, "POST", "/api/mp/campaigns/"+cid+"/nominations", mum, fmt.Sprintf(
			`{"category":"best_mother","family_name":%q,"story":%q,"photo_ids":[%s],"consent":true}`, family, story, strings.Join(ids, ",")))
		if code != 201 {
			t.Fatalf("nominate = %d %v", code, n)
		}
		return fmt.Sprint(n["id"])
	}
	first := nominate("张家", "婆媳和睦二十年，照顾瘫痪的老人。", 2)
	second := nominate("李家", "热心邻里。", 1)

	// The reviewer waits for the photo checks, looks at the photos and approves.
	b.open("/console/campaigns/review?campaign_id=" + cid)
	b.reloadUntil("the checked nominations", `document.querySelector('.paged .review-item, .paged .empty')`,
		`document.querySelectorAll('.review-item .approve:not([disabled])').length === 2`, 30*time.Second)
	b.wait("the photos", `[...document.querySelectorAll('.review-item[data-id="`+first+`"] .photos img')].filter(i => i.complete && i.naturalWidth > 0).length === 2`)
	b.shot("review-queue")
	b.click(`.review-item[data-id="` + first + `"] .approve`)
	b.wait("the approval", `document.querySelector('.toast-success')?.textContent.includes('已通过') && !document.querySelector('.review-item[data-id="`+first+`"]')`)
	// The other is refused, with a reason she will read.
	b.click(`.review-item[data-id="` + second + `"] .reject`)
	b.click(`dialog[open] button[type=submit]`)
	b.wait("the reason error", `document.querySelector('dialog[open] [data-field=reason] .field-error').textContent !== ''`)
	b.fill("dialog[open]", "reason", "事迹过于简单，请补充具体事例后重新推荐。")
	b.click(`dialog[open] button[type=submit]`)
	b.wait("the empty queue", `!document.querySelector('dialog[open]') && document.querySelector('.paged .empty')`)
	_, mine := cs.call(t, "GET", "/api/mp/me/nominations", mum, "")
	got := map[string]string{}
	for _, it := range mine["items"].([]any) {
		n := it.(map[string]any)
		got[fmt.Sprint(n["id"])] = fmt.Sprint(n["status"], " ", n["reject_reason"])
	}
	if got[first] != "approved " || got[second] != "rejected 事迹过于简单，请补充具体事例后重新推荐。" {
		t.Errorf("her nominations = %v, want the first approved and the second rejected with the reason", got)
	}

	// A vote counts in the integrity report; the approved family is listed.
	voter := cs.mpToken(t, "voter-1")
	if code, v := cs.call(t, "POST", "/api/mp/nominations/"+first+"/votes", voter, ""); code != 200 {
		t.Fatalf("vote = %d %v", code, v)
	}
	b.open(made.campaign)
	b.wait("the integrity figures", `[...document.querySelectorAll('.stat')].some(s => s.innerText.includes('有效票') && s.querySelector('.stat-value').textContent === '1') && document.querySelector('.main .paged table')?.innerText.includes('张家')`)
	b.click(`.void-votes`)
	b.fill("dialog[open]", "nomination_id", first)
	b.fill("dialog[open]", "reason", "同一设备重复投票")
	b.click(`dialog[open] button[type=submit]`)
	b.wait("the voided vote", `document.querySelector('.toast-success')?.textContent.includes('已作废 1 票')`)
	b.wait("the integrity after the void", `[...document.querySelectorAll('.stat')].some(s => s.innerText.includes('作废票') && s.querySelector('.stat-value').textContent === '1') && document.body.innerText.includes('同一设备重复投票')`)
	b.shot("campaign")
}
