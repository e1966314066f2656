package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wanjia/wechat/wxsim"
)

// TestOfficialAccountEndToEnd drives a zero-configuration server as WeChat
// does (signed, encrypted callbacks from the simulator's sender): the
// greeting on subscribe, a keyword intent, and a crisis message that gets
// the 110/12338 guidance at once and alerts the on-duty staff in the console.
func TestOfficialAccountEndToEnd(t *testing.T) {
	dir := t.TempDir()
	in := mustStart(t, map[string]string{"WANJIA_DATA_DIR": dir})
	secrets, err := readSandboxSecrets(filepath.Join(dir, sandboxFile))
	if err != nil {
		t.Fatal(err)
	}
	sender := &wxsim.Sender{URL: in.base + "/wechat/oa/callback", Token: secrets.OAToken, AESKey: secrets.OAAESKey,
		AppID: wxsim.SandboxOAAppID}
	ctx := context.Background()
	if err := sender.Verify(ctx); err != nil {
		t.Fatalf("echostr verification = %v", err)
	}

	// A staff member on duty (admins are when nobody is configured).
	var out strings.Builder
	if err := run(ctx, []string{"admin", "create", "--username", "duty", "--role", "caseworker"},
		envMap(map[string]string{"WANJIA_DATA_DIR": dir}), strings.NewReader("Duty-Passw0rd-1\n"), &out, &out); err != nil {
		t.Fatalf("admin create = %v (%s)", err, out.String())
	}

	openID := wxsim.SandboxOAOpenIDs[1]
	tests := []struct {
		name string
		msg  wxsim.OAMessage
		want string // in the reply
	}{
		{"subscribe greeting", wxsim.EventMessage(openID, "subscribe", "qrscene_poster"), "欢迎关注"},
		{"help intent", wxsim.TextMessage(openID, "求助"), "12338"},
		{"crisis", wxsim.TextMessage(openID, "他又打我了，救命！"), "110"},
	}
	for _, tt := range tests {
		reply, _, err := sender.Send(ctx, tt.msg)
		if err != nil {
			t.Fatalf("%s: Send() = %v", tt.name, err)
		}
		if reply == nil || !strings.Contains(reply.Content, tt.want) {
			t.Errorf("%s: reply = %+v, want it to contain %q", tt.name, reply, tt.want)
		}
	}

	code, login := in.call(t, "POST", "/api/admin/login", "", `{"username":"duty","password":"Duty-Passw0rd-1"}`)
	if code != 200 {
		t.Fatalf("staff login = %d %v", code, login)
	}
	token := login["token"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, alerts := in.call(t, "GET", "/api/admin/alerts", token, "")
		if items, _ := alerts["items"].([]any); len(items) == 1 {
			a := items[0].(map[string]any)
			if a["topic"] != "crisis_alert" || strings.Contains(a["fields"].(map[string]any)["hint"].(string), "打我") {
				t.Errorf("alert = %v, want a crisis alert without the message's words", a)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no crisis alert reached the on-duty staff within 10s: %v", alerts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
