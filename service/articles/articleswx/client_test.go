package articleswx

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/internal/testutil"
	"wanjia/service/articles"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

const (
	oaApp, oaSecret = "wxarticleswxoa01", "articleswxoasecret00000000000001"
	mpApp, mpSecret = "wxarticleswxmp01", "articleswxmpsecret00000000000001"
)

var sim = wxsim.New(wxsim.WithApp(oaApp, oaSecret), wxsim.WithApp(mpApp, mpSecret))

// TestMain points silenceper's process-wide HTTP client at the simulator.
func TestMain(m *testing.M) {
	testutil.MainWithTransport(m, sim.Transport(), func() { sim.Close() })
}

func mustClient(tb testing.TB) Client {
	tb.Helper()
	mr := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	tb.Cleanup(func() { rdb.Close() })
	c, err := wechat.New(wechat.Config{OA: wechat.App{AppID: oaApp, Secret: oaSecret}, MP: wechat.App{AppID: mpApp, Secret: mpSecret}},
		wechat.Deps{Redis: rdb, HTTP: util.DefaultHTTPClient})
	if err != nil {
		tb.Fatal(err)
	}
	return New(c)
}

// TestMassSendClientMsgID: a second sendall with the same clientmsgid
// (a retry after a lost answer) is WeChat's 45065, which answers the
// msg_id of the first send; nothing is sent twice.
func TestMassSendClientMsgID(t *testing.T) {
	c := mustClient(t)
	ctx := context.Background()
	sim.AddUser(wxsim.User{AppID: oaApp, OpenID: "oMass1", Subscribed: true})
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
	thumb, _, err := c.UploadImage(ctx, "c.png", png)
	if err != nil {
		t.Fatalf("UploadImage() = %v", err)
	}
	draft, err := c.AddDraft(ctx, articles.Draft{Title: "t", Content: "<p>c</p>", ThumbMediaID: thumb})
	if err != nil {
		t.Fatalf("AddDraft() = %v", err)
	}
	m := articles.Mass{DraftMediaID: draft, ToAll: true, ClientMsgID: "wanjia-a1-v1"}
	id1, data1, err := c.MassSend(ctx, m)
	if err != nil || id1 == "" || data1 == "" {
		t.Fatalf("MassSend() = %q, %q, %v", id1, data1, err)
	}
	id2, _, err := c.MassSend(ctx, m)
	if err != nil || id2 != id1 {
		t.Fatalf("MassSend(same clientmsgid) = %q, %v, want %q", id2, err, id1)
	}
	if n := len(sim.Sent(wxsim.KindMass)); n != 1 {
		t.Errorf("mass sends = %d, want 1", n)
	}
	// mass/get through silenceper: the job's state, and 40059 for a
	// msg_id WeChat does not know (kept as an APIError for the service).
	if st, err := c.MassState(ctx, id1); err != nil || st != articles.MassSending {
		t.Errorf("MassState() = %q, %v, want SENDING", st, err)
	}
	if err := sim.FlushOAEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := c.MassState(ctx, id1); err != nil || st != articles.MassSuccess {
		t.Errorf("MassState(done) = %q, %v, want SEND_SUCCESS", st, err)
	}
	if _, err := c.MassState(ctx, "201053012"); err == nil {
		t.Error("MassState(unknown) = nil")
	} else if ae, ok := err.(*articles.APIError); !ok || ae.Errcode != 40059 {
		t.Errorf("MassState(unknown) = %#v, want an APIError 40059", err)
	}
	// A refusal keeps its errcode for the service.
	sim.Fail("/datacube/getbizsummary", 48001, 1)
	if _, err := c.BizSummary(ctx, "2026-03-01", "2026-03-02"); err == nil {
		t.Fatal("BizSummary(48001) = nil")
	} else if ae, ok := err.(*articles.APIError); !ok || ae.Errcode != 48001 {
		t.Fatalf("BizSummary(48001) = %#v, want an APIError 48001", err)
	}
}

// FuzzFlexID: WeChat's ids arrive as numbers or strings; either keeps its
// text, anything else is an error, never a panic.
func FuzzFlexID(f *testing.F) {
	for _, s := range []string{`2247503051`, `"100000001"`, `null`, `1e99`, `"x"`, `{}`, `-1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var id flexID
		err := json.Unmarshal([]byte(in), &id)
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		var v any
		if !json.Valid([]byte(in)) || dec.Decode(&v) != nil {
			return
		}
		switch x := v.(type) {
		case string:
			if err != nil || string(id) != x {
				t.Fatalf("flexID(%s) = %q, %v, want %q", in, id, err, x)
			}
		case json.Number:
			if err != nil || string(id) != x.String() {
				t.Fatalf("flexID(%s) = %q, %v, want %q", in, id, err, x)
			}
		case nil:
		default:
			if err == nil {
				t.Fatalf("flexID(%s) = %q, want an error", in, id)
			}
		}
	})
}
