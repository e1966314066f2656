package wxsim_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount"
	oaconfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/wechat/wxsim"
)

const cbToken = "callbacktoken"

// oaServer runs silenceper's Official Account callback handler (the server
// side wanjia uses) and records what it received.
type oaServer struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []*message.MixMessage
}

func (o *oaServer) received() []*message.MixMessage {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*message.MixMessage(nil), o.msgs...)
}

// newOAServer starts the handler with token and aesKey (empty: plain mode);
// reply makes the passive reply (nil: none).
func newOAServer(tb testing.TB, aesKey string, reply func(*message.MixMessage) *message.Reply) *oaServer {
	tb.Helper()
	oa := officialaccount.NewOfficialAccount(&oaconfig.Config{
		AppID: oaID, AppSecret: oaSecret, Token: cbToken, EncodingAESKey: aesKey, Cache: newMemCache(),
	})
	o := &oaServer{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv := oa.GetServer(r, w)
		srv.SetMessageHandler(func(m *message.MixMessage) *message.Reply {
			o.mu.Lock()
			o.msgs = append(o.msgs, m)
			o.mu.Unlock()
			if reply == nil {
				return nil
			}
			return reply(m)
		})
		if err := srv.Serve(); err != nil {
			http.Error(w, "rejected", http.StatusForbidden)
			return
		}
		if err := srv.Send(); err != nil {
			http.Error(w, "send: "+err.Error(), http.StatusInternalServerError)
		}
	}))
	tb.Cleanup(o.Close)
	return o
}

func TestOAEventsReachSilenceper(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name   string
		aesKey string
	}{{"plain", ""}, {"safe", testAESKey}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newSim(t)
			s.AddUser(wxsim.User{AppID: oaID, OpenID: "o1", Subscribed: true})
			s.AddUser(wxsim.User{AppID: oaID, OpenID: "o2", Subscribed: true})
			srv := newOAServer(t, mode.aesKey, nil)
			s.SetOACallback(srv.URL, cbToken, mode.aesKey, oaID)
			tok := mustToken(t, s, oaID, oaSecret)

			draft := mustDraft(t, s, tok, "发布")
			pub := do(t, s, http.MethodPost, "/cgi-bin/freepublish/submit?access_token="+tok, map[string]string{"media_id": draft})
			mass := do(t, s, http.MethodPost, "/cgi-bin/message/mass/sendall?access_token="+tok, map[string]any{
				"filter": map[string]any{"is_to_all": true}, "msgtype": "mpnews", "mpnews": map[string]string{"media_id": draft}})
			tpl := do(t, s, http.MethodPost, "/cgi-bin/message/template/send?access_token="+tok, map[string]any{
				"touser": "o1", "template_id": "T", "data": map[string]any{}})
			if err := s.FlushOAEvents(context.Background()); err != nil {
				t.Fatalf("FlushOAEvents() = %v", err)
			}
			got := srv.received()
			if len(got) != 3 {
				t.Fatalf("callback received %d messages, want 3", len(got))
			}
			p, m, tm := got[0], got[1], got[2]
			if p.Event != message.EventPublishJobFinish || p.PublishEventInfo.PublishID != int64(pub.json["publish_id"].(float64)) ||
				p.PublishEventInfo.PublishStatus != 0 || p.PublishEventInfo.ArticleID == "" ||
				p.PublishEventInfo.ArticleDetail.Count != 1 || p.PublishEventInfo.ArticleDetail.Item[0].ArticleURL == "" {
				t.Errorf("PUBLISHJOBFINISH = %+v", p.PublishEventInfo)
			}
			if string(p.ToUserName) != wxsim.OriginalID(oaID) {
				t.Errorf("ToUserName = %s, want %s", p.ToUserName, wxsim.OriginalID(oaID))
			}
			if m.Event != message.EventMassSendJobFinish || m.TemplateMsgID != int64(mass.json["msg_id"].(float64)) ||
				m.Status != "send success" || m.TotalCount != 2 || m.SentCount != 2 || m.ErrorCount != 0 {
				t.Errorf("MASSSENDJOBFINISH = %+v", m)
			}
			if tm.Event != message.EventTemplateSendJobFinish || tm.TemplateMsgID != int64(tpl.json["msgid"].(float64)) ||
				tm.Status != "success" || string(tm.FromUserName) != "o1" {
				t.Errorf("TEMPLATESENDJOBFINISH = %+v", tm)
			}
		})
	}
}

func TestPublishFailureEvent(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	srv := newOAServer(t, testAESKey, nil)
	s.SetOACallback(srv.URL, cbToken, testAESKey, oaID)
	s.SetPublishResult("", 2, 1)
	tok := mustToken(t, s, oaID, oaSecret)
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/freepublish/submit?access_token="+tok, map[string]string{"media_id": mustDraft(t, s, tok, "原创")}), 0)
	s.SetMassStatus("err(30001)")
	if err := s.FlushOAEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 || got[0].PublishEventInfo.PublishStatus != 2 || len(got[0].PublishEventInfo.FailIndex) != 1 {
		t.Errorf("failed publish event = %+v", got)
	}
}

// mpCallback is a Mini Program push endpoint that checks the signatures,
// decrypts with silenceper's util and records the JSON payloads.
type mpCallback struct {
	*httptest.Server
	mu       sync.Mutex
	payloads []map[string]any
	hits     atomic.Int32
	status   atomic.Int32
}

func newMPCallback(tb testing.TB, aesKey string) *mpCallback {
	tb.Helper()
	c := &mpCallback{}
	c.status.Store(http.StatusOK)
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		if st := int(c.status.Load()); st != http.StatusOK {
			w.WriteHeader(st)
			return
		}
		q := r.URL.Query()
		if q.Get("signature") != util.Signature(cbToken, q.Get("timestamp"), q.Get("nonce")) {
			http.Error(w, "signature", http.StatusForbidden)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		if aesKey != "" {
			var env struct{ ToUserName, Encrypt string }
			if err := json.Unmarshal(body, &env); err != nil || q.Get("encrypt_type") != "aes" ||
				q.Get("msg_signature") != util.Signature(cbToken, q.Get("timestamp"), q.Get("nonce"), env.Encrypt) {
				http.Error(w, "envelope", http.StatusForbidden)
				return
			}
			if _, body, err = util.DecryptMsg(mpID, env.Encrypt, aesKey); err != nil {
				http.Error(w, "decrypt", http.StatusForbidden)
				return
			}
		}
		var p map[string]any
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, "json", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.payloads = append(c.payloads, p)
		c.mu.Unlock()
		w.Write([]byte("success"))
	}))
	tb.Cleanup(c.Close)
	return c
}

func (c *mpCallback) received() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.payloads...)
}

func requestMediaCheck(tb testing.TB, s *wxsim.Sim, tok, url string) string {
	tb.Helper()
	a := do(tb, s, http.MethodPost, "/wxa/media_check_async?access_token="+tok,
		map[string]any{"media_url": url, "media_type": 2, "version": 2, "openid": "oMP1", "scene": 3})
	mustErrcode(tb, a, 0)
	return a.json["trace_id"].(string)
}

func TestMediaCheckDelivery(t *testing.T) {
	t.Parallel()
	for _, aesKey := range []string{"", testAESKey} {
		s, _ := newSim(t)
		s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1"})
		cb := newMPCallback(t, aesKey)
		s.SetMPCallback(cb.URL, cbToken, aesKey)
		s.SetMediaResult("/bad/", wxsim.SuggestRisky)
		s.SetMediaResult("/unsure/", wxsim.SuggestReview)
		tok := mustToken(t, s, mpID, mpSecret)
		traces := []string{
			requestMediaCheck(t, s, tok, "https://cdn.example/ok/1.jpg"),
			requestMediaCheck(t, s, tok, "https://cdn.example/bad/2.jpg"),
			requestMediaCheck(t, s, tok, "https://cdn.example/unsure/3.jpg"),
		}
		if err := s.FlushMediaChecks(context.Background()); err != nil {
			t.Fatalf("FlushMediaChecks() = %v", err)
		}
		got := cb.received()
		if len(got) != 3 {
			t.Fatalf("aes %q: callback received %d payloads, want 3", aesKey, len(got))
		}
		for i, want := range []struct {
			suggest string
			label   float64
		}{{"pass", 100}, {"risky", 20002}, {"review", 21000}} {
			p := got[i]
			result := p["result"].(map[string]any)
			if p["Event"] != "wxa_media_check" || p["trace_id"] != traces[i] || p["appid"] != mpID || p["version"] != 2.0 ||
				p["FromUserName"] != "oMP1" || result["suggest"] != want.suggest || result["label"] != want.label {
				t.Errorf("aes %q: payload %d = %v, want %s/%v", aesKey, i, p, want.suggest, want.label)
			}
		}
		if checks := s.MediaChecks(); checks[1].Suggest != wxsim.SuggestRisky || checks[1].Label != wxsim.LabelPorn {
			t.Errorf("MediaChecks()[1] = %+v, want risky", checks[1])
		}
	}
}

func TestPushRetries(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1"})
	cb := newMPCallback(t, "")
	cb.status.Store(http.StatusInternalServerError)
	s.SetMPCallback(cb.URL, cbToken, "")
	tok := mustToken(t, s, mpID, mpSecret)
	requestMediaCheck(t, s, tok, "https://cdn.example/a.jpg")
	ctx := context.Background()
	for i := range 3 {
		if err := s.FlushMediaChecks(ctx); err == nil {
			t.Fatalf("flush %d with a failing callback = nil, want an error", i+1)
		}
	}
	if _, n := s.PendingEvents(); n != 0 {
		t.Errorf("pending after 3 failed attempts = %d, want 0", n)
	}
	if err := s.FlushMediaChecks(ctx); err != nil {
		t.Errorf("flush with nothing pending = %v", err)
	}
	if got := cb.hits.Load(); got != 3 {
		t.Errorf("callback hit %d times, want 3", got)
	}

	// A failure followed by a success delivers once.
	requestMediaCheck(t, s, tok, "https://cdn.example/b.jpg")
	if err := s.FlushMediaChecks(ctx); err == nil {
		t.Fatal("flush with a failing callback = nil")
	}
	cb.status.Store(http.StatusOK)
	if err := s.FlushMediaChecks(ctx); err != nil {
		t.Fatalf("retry = %v", err)
	}
	if got := cb.received(); len(got) != 1 {
		t.Errorf("delivered %d payloads, want 1", len(got))
	}
}

func TestFlushWithoutCallback(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	tok := mustToken(t, s, oaID, oaSecret)
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/freepublish/submit?access_token="+tok, map[string]string{"media_id": mustDraft(t, s, tok, "无回调")}), 0)
	// A callback for another app gets nothing either.
	srv := newOAServer(t, "", nil)
	s.SetOACallback(srv.URL, cbToken, "", "wxother")
	if err := s.FlushOAEvents(context.Background()); err != nil {
		t.Fatalf("FlushOAEvents() = %v", err)
	}
	if p := s.Publishes(); p[0].Status != 0 {
		t.Errorf("publish status after flush = %d, want 0", p[0].Status)
	}
	if got := srv.received(); len(got) != 0 {
		t.Errorf("callback of another app received %d events", len(got))
	}
}

func TestAutoDeliver(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, wxsim.WithAutoDeliver(10*time.Millisecond))
	s.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1"})
	cb := newMPCallback(t, testAESKey)
	s.SetMPCallback(cb.URL, cbToken, testAESKey)
	tok := mustToken(t, s, mpID, mpSecret)
	requestMediaCheck(t, s, tok, "https://cdn.example/a.jpg")
	deadline := time.Now().Add(5 * time.Second)
	for len(cb.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(cb.received()) != 1 {
		t.Fatal("media check not delivered automatically")
	}

	slow, _ := newSim(t, wxsim.WithAutoDeliver(time.Hour))
	slow.AddUser(wxsim.User{AppID: mpID, OpenID: "oMP1"})
	slow.SetMPCallback(cb.URL, cbToken, testAESKey)
	requestMediaCheck(t, slow, mustToken(t, slow, mpID, mpSecret), "https://cdn.example/b.jpg")
	done := make(chan struct{})
	go func() {
		slow.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close() blocked on a pending delivery")
	}
	if _, n := slow.PendingEvents(); n != 1 {
		t.Errorf("pending after Close = %d, want 1", n)
	}
	if err := slow.FlushMediaChecks(context.Background()); err != nil || len(cb.received()) != 2 {
		t.Errorf("flush after Close = %v, %d delivered, want 2", err, len(cb.received()))
	}
}

// TestEventXMLEscapes checks that event documents stay well-formed with
// hostile values.
func TestEventXMLEscapes(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	srv := newOAServer(t, "", nil)
	s.SetOACallback(srv.URL, cbToken, "", oaID)
	s.AddUser(wxsim.User{AppID: oaID, OpenID: "o]]>1<x>", Subscribed: true})
	tok := mustToken(t, s, oaID, oaSecret)
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/message/template/send?access_token="+tok,
		map[string]any{"touser": "o]]>1<x>", "template_id": "T", "data": map[string]any{}}), 0)
	if err := s.FlushOAEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(); len(got) != 1 || string(got[0].FromUserName) != "o]]>1<x>" {
		t.Errorf("received %+v", got)
	}
	var v struct{ XMLName xml.Name }
	doc := wxsim.TextMessage("a]]>b", "<&>").XML()
	if err := xml.Unmarshal(doc, &v); err != nil {
		t.Errorf("TextMessage XML %s: %v", doc, err)
	}
}
