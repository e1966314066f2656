package wxsim_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"wanjia/wechat/wxsim"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestCLICommands(t *testing.T) {
	t.Parallel()
	srv := newOAServer(t, testAESKey, echoReply)
	getenv := env(map[string]string{"WANJIA_OA_TOKEN": cbToken, "WANJIA_OA_AES_KEY": testAESKey, "WANJIA_OA_APPID": oaID})
	tests := []struct {
		name string
		args []string
		want []string // lines the output must contain
		got  func() string
	}{
		{"text", []string{"--url", srv.URL, "--openid", "oCLI", "text", "你好"},
			[]string{`→ text "你好" from oCLI`, "(safe mode)", "← text: echo: 你好"}, nil},
		{"subscribe", []string{"--url", srv.URL, "event", "subscribe", "--key", "qrscene_fair7"},
			[]string{`→ event subscribe "qrscene_fair7"`, "← news, 1 article(s):", "1. 欢迎关注 — https://example.com/welcome", "key=qrscene_fair7"}, nil},
		{"unsubscribe", []string{"--url", srv.URL, "event", "unsubscribe"}, []string{"→ event unsubscribe", "← no passive reply (success)"}, nil},
		{"click", []string{"--url", srv.URL, "click", "MENU_1"}, []string{"← image: media_id MEDIA_MENU_1"}, nil},
		{"view", []string{"--url", srv.URL, "view", "https://example.com"}, []string{`→ event VIEW "https://example.com"`, "← no passive reply"}, nil},
		{"scan", []string{"--url", srv.URL, "--raw", "scan", "fair7"}, []string{`→ event SCAN "fair7"`, "raw response: <xml><Encrypt>"}, nil},
		{"verify", []string{"--url", srv.URL, "verify"}, []string{"verify ok (safe mode)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := wxsim.Main(context.Background(), tt.args, getenv, &out, &errOut); err != nil {
				t.Fatalf("Main(%q) = %v (stderr %s)", tt.args, err, errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("Main(%q) output:\n%s\nlacks %q", tt.args, out.String(), w)
				}
			}
		})
	}
	got := srv.received()
	if len(got) != 6 || string(got[0].FromUserName) != "oCLI" || string(got[1].FromUserName) != wxsim.SandboxOAOpenIDs[0] ||
		got[1].Ticket == "" || got[5].EventKey != "fair7" {
		t.Errorf("server received %+v", got)
	}
}

func TestCLIErrors(t *testing.T) {
	t.Parallel()
	srv := newOAServer(t, "", echoReply)
	withToken := env(map[string]string{"WANJIA_OA_TOKEN": cbToken})
	tests := []struct {
		name    string
		args    []string
		getenv  func(string) string
		wantErr string
	}{
		{"no token", []string{"--url", srv.URL, "text", "x"}, env(nil), "no callback token"},
		{"no command", []string{"--url", srv.URL}, withToken, "missing command"},
		{"unknown command", []string{"--url", srv.URL, "fax"}, withToken, `unknown command "fax"`},
		{"text without text", []string{"--url", srv.URL, "text"}, withToken, "usage: text TEXT"},
		{"unknown event", []string{"--url", srv.URL, "event", "LOCATION"}, withToken, `unknown event "LOCATION"`},
		{"unsubscribe with key", []string{"--url", srv.URL, "event", "unsubscribe", "--key", "k"}, withToken, "takes no --key"},
		{"bad aes key", []string{"--url", srv.URL, "--aes-key", "short", "text", "x"}, withToken, "--aes-key"},
		{"wrong token", []string{"--url", srv.URL, "--token", "nope", "text", "x"}, withToken, "status 403"},
		{"verify with args", []string{"--url", srv.URL, "verify", "x"}, withToken, "verify takes no arguments"},
		{"unreachable", []string{"--url", "http://127.0.0.1:1/cb", "--timeout", "2s", "text", "x"}, withToken, "sim:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			err := wxsim.Main(context.Background(), tt.args, tt.getenv, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Main(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
	var out, errOut bytes.Buffer
	if err := wxsim.Main(context.Background(), []string{"-h"}, withToken, &out, &errOut); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("Main(-h) = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(errOut.String(), "event subscribe") {
		t.Errorf("usage = %q, want the command list", errOut.String())
	}
}

func TestCLIDefaultURL(t *testing.T) {
	t.Parallel()
	// WANJIA_HTTP_ADDR picks the default callback URL.
	srv := newOAServer(t, "", echoReply)
	addr := strings.TrimPrefix(srv.URL, "http://127.0.0.1")
	var out, errOut bytes.Buffer
	getenv := env(map[string]string{"WANJIA_OA_TOKEN": cbToken, "WANJIA_HTTP_ADDR": addr})
	// The OA server mounts its handler on every path, so the default path works.
	if err := wxsim.Main(context.Background(), []string{"text", "hi"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("Main() = %v", err)
	}
	if want := "to http://127.0.0.1" + addr + "/wechat/oa/callback (plain)"; !strings.Contains(out.String(), want) {
		t.Errorf("output %q lacks %q", out.String(), want)
	}
}
