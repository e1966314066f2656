package campaignwx_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/internal/testutil"
	"wanjia/model"
	"wanjia/service/campaigns/campaignwx"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

const (
	oaApp, oaSecret = "wxcampaignoa0001", "campaignoasecret0000000000000001"
	mpApp, mpSecret = "wxcampaignmp0001", "campaignmpsecret0000000000000001"
)

var sim = wxsim.New(wxsim.WithApp(oaApp, oaSecret), wxsim.WithApp(mpApp, mpSecret))

// TestMain points silenceper's process-wide HTTP client at the simulator
// once; these tests are therefore not parallel.
func TestMain(m *testing.M) {
	testutil.MainWithTransport(m, sim.Transport(), func() { sim.Close() })
}

func mustAdapter(tb testing.TB) campaignwx.WeChat {
	tb.Helper()
	mr := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	tb.Cleanup(func() { rdb.Close() })
	c, err := wechat.New(wechat.Config{
		OA: wechat.App{AppID: oaApp, Secret: oaSecret}, MP: wechat.App{AppID: mpApp, Secret: mpSecret},
	}, wechat.Deps{Redis: rdb, HTTP: util.DefaultHTTPClient})
	if err != nil {
		tb.Fatal(err)
	}
	return campaignwx.New(c, "pages/campaigns/nomination", "")
}

func TestCheckText(t *testing.T) {
	w := mustAdapter(t)
	ctx := context.Background()
	sim.AddUser(wxsim.User{AppID: mpApp, OpenID: "oNominator"})
	sim.AddRiskyWord("赌博", wxsim.LabelIllegal)
	sim.AddReviewWord("偏方", wxsim.LabelOther)
	tests := []struct {
		title, content, want string
		label                int
	}{
		{"王家", "三代同堂，孝老爱亲。", model.SuggestPass, wxsim.LabelNormal},
		{"王家", "组织赌博", model.SuggestRisky, wxsim.LabelIllegal},
		{"偏方之家", "祖传", model.SuggestReview, wxsim.LabelOther},
	}
	for _, tt := range tests {
		got, err := w.CheckText(ctx, "oNominator", tt.title, tt.content)
		if err != nil || got.Suggest != tt.want || got.Label != tt.label || got.TraceID == "" {
			t.Errorf("CheckText(%q, %q) = %+v, %v; want %s %d", tt.title, tt.content, got, err, tt.want, tt.label)
		}
	}
	if _, err := w.CheckText(ctx, "oUnknown", "", "x"); !errors.Is(err, model.ErrUpstream) {
		t.Errorf("CheckText(unknown openid) = %v, want ErrUpstream", err)
	}
	// A rejected token is refreshed and the call retried once.
	sim.Fail("/wxa/msg_sec_check", 40001, 1)
	if got, err := w.CheckText(ctx, "oNominator", "", "好"); err != nil || got.Suggest != model.SuggestPass {
		t.Errorf("CheckText() after a 40001 = %+v, %v", got, err)
	}
	sim.Fail("/wxa/msg_sec_check", -1, 1)
	if _, err := w.CheckText(ctx, "oNominator", "", "好"); !errors.Is(err, model.ErrUpstream) {
		t.Errorf("CheckText() with WeChat busy = %v, want ErrUpstream", err)
	}
}

func TestMediaCheckAndShareCode(t *testing.T) {
	w := mustAdapter(t)
	ctx := context.Background()
	sim.AddUser(wxsim.User{AppID: mpApp, OpenID: "oPhotos"})
	trace, err := w.SubmitMediaCheck(ctx, "oPhotos", "https://wanjia.example.org/api/files/uploads/2026/05/a.jpg")
	if err != nil || trace == "" {
		t.Fatalf("SubmitMediaCheck() = %q, %v", trace, err)
	}
	var found bool
	for _, c := range sim.MediaChecks() {
		if c.TraceID == trace && c.MediaType == 2 && c.Scene == campaignwx.Scene && c.Version == 2 && c.OpenID == "oPhotos" {
			found = true
		}
	}
	if !found {
		t.Errorf("the simulator has no v2 image check with trace %q: %+v", trace, sim.MediaChecks())
	}
	img, err := w.ShareCode(ctx, "n=42")
	if err != nil || !bytes.HasPrefix(img, []byte{0xff, 0xd8}) {
		t.Fatalf("ShareCode() = %d bytes, %v; want a JPEG", len(img), err)
	}
	sim.Fail("/wxa/getwxacodeunlimit", 40001, 1)
	if _, err := w.ShareCode(ctx, "n=42"); err != nil {
		t.Errorf("ShareCode() after a 40001 = %v, want the retry to succeed", err)
	}
	if _, err := w.ShareCode(ctx, "中文不行"); !errors.Is(err, model.ErrUpstream) {
		t.Errorf("ShareCode(bad scene) = %v, want ErrUpstream", err)
	}
}
