package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wanjia/wechat/wxsim"
)

// campaignUpload posts an image as a Mini Program user and returns its id.
func (in *instance) campaignUpload(tb testing.TB, token string, img []byte) int64 {
	tb.Helper()
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "family.png")
	fw.Write(img)
	mw.Close()
	req, _ := http.NewRequest("POST", in.base+"/api/mp/uploads", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var up struct {
		ID int64 `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&up); err != nil || resp.StatusCode != 201 {
		tb.Fatalf("POST /api/mp/uploads = %d, %v", resp.StatusCode, err)
	}
	return up.ID
}

func (in *instance) campaignLogin(tb testing.TB, name string) string {
	tb.Helper()
	code, body := in.call(tb, "POST", "/api/mp/login", "", `{"code":"sim:`+name+`"}`)
	if code != 200 {
		tb.Fatalf("POST /api/mp/login %s = %d %v", name, code, body)
	}
	return body["token"].(string)
}

// TestCampaignEndToEnd drives 最美家庭 through a zero-configuration server
// and the sandbox simulator: a reviewer opens a campaign, a user
// nominates (risky text refused), the photo's media check comes back
// through the MP callback and the result sink, the reviewer approves,
// others vote within their limit, the OA keyword answers with the
// campaign, and the integrity report and share code work.
func TestCampaignEndToEnd(t *testing.T) {
	dir := t.TempDir()
	in := mustStart(t, map[string]string{"WANJIA_DATA_DIR": dir})
	ctx := context.Background()
	var out strings.Builder
	if err := run(ctx, []string{"admin", "create", "--username", "judge", "--role", "reviewer"},
		envMap(map[string]string{"WANJIA_DATA_DIR": dir}), strings.NewReader("Judge-Passw0rd-1\n"), &out, &out); err != nil {
		t.Fatalf("admin create = %v (%s)", err, out.String())
	}
	code, login := in.call(t, "POST", "/api/admin/login", "", `{"username":"judge","password":"Judge-Passw0rd-1"}`)
	if code != 200 {
		t.Fatalf("staff login = %d %v", code, login)
	}
	judge := login["token"].(string)
	now := time.Now()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	code, camp := in.call(t, "POST", "/api/admin/campaigns", judge, `{"title":"万家最美家庭","nominate_from":"`+at(-time.Hour)+
		`","nominate_to":"`+at(time.Hour)+`","vote_from":"`+at(-30*time.Minute)+`","vote_to":"`+at(2*time.Hour)+`","votes_per_day":2}`)
	if code != 201 {
		t.Fatalf("POST /api/admin/campaigns = %d %v", code, camp)
	}
	cid := fmt.Sprint(camp["id"])

	alice := in.campaignLogin(t, "alice")
	photo := in.campaignUpload(t, alice, mustPNG(t))
	nom := func(story string) string {
		return fmt.Sprintf(`{"category":"best_mother","family_name":"王家","story":%q,"photo_ids":[%d],"consent":true}`, story, photo)
	}
	if code, body := in.call(t, "POST", "/api/mp/campaigns/"+cid+"/nominations", alice, nom("他们家开赌博场")); code != 400 {
		t.Errorf("risky nomination = %d %v, want 400", code, body)
	}
	code, n := in.call(t, "POST", "/api/mp/campaigns/"+cid+"/nominations", alice, nom("三代同堂，孝老爱亲"))
	if code != 201 || n["status"] != "pending" {
		t.Fatalf("POST nominations = %d %v", code, n)
	}
	nid := fmt.Sprint(n["id"])

	// The media check goes to the simulator from a job; its result comes
	// back through the MP callback (after the sandbox's delivery delay).
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, q := in.call(t, "GET", "/api/admin/nominations?status=pending&campaign_id="+cid, judge, "")
		items, _ := q["items"].([]any)
		if len(items) == 1 && items[0].(map[string]any)["machine_verdict"] == "pass" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("photo check did not come back within 20s: %v", q)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := in.call(t, "POST", "/api/admin/nominations/"+nid+"/review", judge, `{"decision":"approve"}`); code != 200 {
		t.Fatalf("approve = %d %v", code, body)
	}

	bob := in.campaignLogin(t, "bob")
	code, v := in.call(t, "POST", "/api/mp/nominations/"+nid+"/votes", bob, "")
	if code != 200 || v["votes"] != 1.0 || v["remaining_today"] != 1.0 {
		t.Fatalf("vote = %d %v", code, v)
	}
	if code, v := in.call(t, "POST", "/api/mp/nominations/"+nid+"/votes", bob, ""); code != 429 {
		t.Errorf("second vote for the same family = %d %v, want 429", code, v)
	}
	_, g := in.call(t, "GET", "/api/mp/campaigns/"+cid+"/nominations", bob, "")
	items, _ := g["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["votes"] != 1.0 {
		t.Errorf("gallery = %v", g)
	}
	_, lb := in.call(t, "GET", "/api/mp/campaigns/"+cid+"/leaderboard", bob, "")
	if items, _ := lb["items"].([]any); len(items) != 1 {
		t.Errorf("leaderboard = %v", lb)
	}
	code, share := in.call(t, "GET", "/api/mp/nominations/"+nid+"/share-code", bob, "")
	if code != 200 {
		t.Fatalf("share code = %d %v", code, share)
	}
	resp, err := http.Get(in.base + share["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	img, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.HasPrefix(img, []byte{0xff, 0xd8}) {
		t.Errorf("GET share code image = %d, %d bytes", resp.StatusCode, len(img))
	}
	code, integ := in.call(t, "GET", "/api/admin/campaigns/"+cid+"/integrity", judge, "")
	if totals, _ := integ["totals"].(map[string]any); code != 200 || totals["valid"] != 1.0 {
		t.Errorf("integrity = %d %v", code, integ)
	}

	// The Official Account's 最美家庭 keyword answers with the campaign.
	secrets, err := readSandboxSecrets(filepath.Join(dir, sandboxFile))
	if err != nil {
		t.Fatal(err)
	}
	sender := &wxsim.Sender{URL: in.base + "/wechat/oa/callback", Token: secrets.OAToken, AESKey: secrets.OAAESKey, AppID: wxsim.SandboxOAAppID}
	reply, _, err := sender.Send(ctx, wxsim.TextMessage(wxsim.SandboxOAOpenIDs[0], "最美家庭"))
	if err != nil || reply == nil || !strings.Contains(reply.Content, "万家最美家庭") || !strings.Contains(reply.Content, "投票进行中") {
		t.Errorf("最美家庭 keyword reply = %+v, %v", reply, err)
	}
}
