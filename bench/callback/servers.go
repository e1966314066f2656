package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	wxroot "github.com/silenceper/wechat/v2"
	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/officialaccount"
	offConfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/sirupsen/logrus"

	"wanjia/api"
	"wanjia/model"
	"wanjia/service/messages"
	"wanjia/store"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

// The Official Account both servers answer for (safe mode).
const (
	benchToken  = "bench-callback-token"
	benchAppID  = "wxbench000000001"
	benchAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	callbackURL = "/wechat/oa/callback"
)

// autoReply is the cached auto-reply both servers give: a keyword lookup
// in memory (as rules cached by the gateway), else a default text.
func autoReply(content string) string {
	switch {
	case strings.Contains(content, "维权"), strings.Contains(content, "12338"):
		return "维权求助请拨打 12338，或在小程序“万家”中提交求助。"
	case strings.Contains(content, "课堂"):
		return "最新微课：家庭教育第 12 讲，点击菜单“微课堂”收看。"
	}
	return "您好，消息已收到，我们会尽快回复。"
}

// newSilenceper is the baseline: silenceper/wechat's Official Account
// server behind gin, as its README shows it (GetServer, SetMessageHandler
// returning a text reply, Serve, Send), in safe mode.
//
// With readme true the client comes from the README's root package
// (wechat.NewWechat().GetOfficialAccount), whose init() sets logrus to
// Debug on stdout: silenceper then logs every request and reply (the
// README's set-up, and what a copy-paste of it runs). With readme false
// ("quiet") logrus is at Info on io.Discard and the client is built with
// officialaccount.NewOfficialAccount (what GetOfficialAccount calls): the
// same code without its logging.
func newSilenceper(readme bool, stdout io.Writer) http.Handler {
	cfg := &offConfig.Config{
		AppID: benchAppID, AppSecret: "unused", Token: benchToken, EncodingAESKey: benchAESKey, Cache: cache.NewMemory(),
	}
	var oa *officialaccount.OfficialAccount
	if readme {
		// What the root package's init() does.
		logrus.SetFormatter(&logrus.TextFormatter{})
		logrus.SetOutput(stdout)
		logrus.SetLevel(logrus.DebugLevel)
		oa = wxroot.NewWechat().GetOfficialAccount(cfg)
	} else {
		logrus.SetLevel(logrus.InfoLevel)
		logrus.SetOutput(io.Discard)
		oa = officialaccount.NewOfficialAccount(cfg)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Any(callbackURL, func(c *gin.Context) {
		server := oa.GetServer(c.Request, c.Writer)
		server.SetMessageHandler(func(msg *message.MixMessage) *message.Reply {
			return &message.Reply{MsgType: message.MsgTypeText, MsgData: message.NewText(autoReply(msg.Content))}
		})
		if err := server.Serve(); err != nil {
			c.String(http.StatusBadRequest, err.Error())
			return
		}
		if err := server.Send(); err != nil {
			c.String(http.StatusInternalServerError, err.Error())
		}
	})
	return r
}

// newFloor is the least any correct safe-mode callback server must do,
// built from wanjia's protocol code behind a bare gin route: query
// signature, timestamp window, a 64 KiB body limit, msg_signature,
// decryption and parsing, the same cached auto-reply, the reply encrypted
// and signed. No dedupe, no message log, no middleware. It bounds what
// any server doing also the dedupe and message log can reach on
// this machine: wanjia's ratio to silenceper can be no more than the
// floor's.
func newFloor() (http.Handler, error) {
	codec, err := wechat.NewCodec(model.AppOA, wechat.Endpoint{AppID: benchAppID, Token: benchToken, AESKey: benchAESKey})
	if err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST(callbackURL, func(c *gin.Context) {
		q := c.Request.URL.Query()
		req := wechat.Request{Signature: q.Get("signature"), MsgSignature: q.Get("msg_signature"),
			Timestamp: q.Get("timestamp"), Nonce: q.Get("nonce"), EncryptType: q.Get("encrypt_type")}
		if err := codec.VerifyQuery(req); err != nil {
			c.String(http.StatusUnauthorized, "signature")
			return
		}
		if _, err := wechat.CheckTimestamp(req.Timestamp, time.Now(), 5*time.Minute); err != nil {
			c.String(http.StatusForbidden, "timestamp")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, wechat.MaxCallbackBody))
		if err != nil {
			c.String(http.StatusRequestEntityTooLarge, "body")
			return
		}
		req.Body = body
		op, err := codec.Open(req)
		if err != nil {
			c.String(http.StatusBadRequest, "malformed")
			return
		}
		m := op.Message
		plain, err := wechat.AppendReply(make([]byte, 0, 512), &model.Reply{Kind: model.ReplyText, Text: autoReply(m.Content)},
			m.FromUser, m.ToUser, time.Now())
		if err == nil {
			plain, err = codec.Seal(plain, req.Timestamp, req.Nonce)
		}
		if err != nil {
			c.String(http.StatusInternalServerError, "reply")
			return
		}
		c.Data(http.StatusOK, "application/xml; charset=utf-8", plain)
	})
	return r, nil
}

// benchGateway is the gateway of the wanjia server: the auto-reply of
// cached rules and the crisis check, nothing else.
type benchGateway struct{}

func (benchGateway) Handle(ctx context.Context, m model.InboundMessage) (*model.Reply, error) {
	if m.MsgType != "text" {
		return nil, nil
	}
	return &model.Reply{Kind: model.ReplyText, Text: autoReply(m.Content)}, nil
}

func (benchGateway) IsCrisis(text string) bool {
	return strings.Contains(text, "救命") || strings.Contains(text, "家暴")
}

// wanjiaServer is wanjia's HTTP server (every middleware) with the
// callback route: nonce guard and dedupe in Redis, the message log
// (batched) in SQLite, the auto-reply gateway.
type wanjiaServer struct {
	http.Handler
	log   *messages.Service
	rdb   *redis.Client // set by the benchmarks
	close func()
}

// newWanjia builds it on rdb with a SQLite database in dir.
func newWanjia(ctx context.Context, rdb redis.UniversalClient, dir string) (*wanjiaServer, error) {
	db, closeDB, err := store.Open(ctx, store.Options{Driver: "sqlite", DSN: filepath.Join(dir, "bench.db"),
		MaxOpenConns: 4, MaxIdleConns: 4})
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		closeDB()
		return nil, err
	}
	msgLog := messages.New(store.NewMessages(db), messages.Options{})
	srv, err := api.NewServer(api.Deps{
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), DB: db, Redis: rdb,
		Gateway: benchGateway{}, MessageLog: msgLog,
		OACallback: wechat.Endpoint{AppID: benchAppID, Token: benchToken, AESKey: benchAESKey},
	})
	if err != nil {
		closeDB()
		return nil, err
	}
	return &wanjiaServer{Handler: srv, log: msgLog, close: func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = msgLog.Close(cctx)
		closeDB()
	}}, nil
}

// callbackRequest is one signed, encrypted text message with its own
// MsgId and nonce: the path with query and the body.
type callbackRequest struct {
	Target string
	Body   []byte
}

var contents = []string{"你好", "我想了解维权渠道", "最新的课堂是什么时候", "招聘会在哪里", "谢谢"}

// newRequest builds request number i sent at now. The messages' own
// CreateTime advances as in a stream of 10,000 messages a second (WeChat
// stamps each message when it is sent); the query timestamp is now.
func newRequest(i int64, now time.Time) (callbackRequest, error) {
	ts := strconv.FormatInt(now.Unix(), 10)
	created := now.Add(time.Duration(i%1_000_000) * 100 * time.Microsecond).Unix()
	nonce := strconv.FormatInt(1_000_000_000+i, 10)
	doc := fmt.Sprintf("<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o_bench_%d]]></FromUserName>"+
		"<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId></xml>",
		i%5000, created, contents[i%int64(len(contents))], 7_000_000_000_000+i)
	enc, err := wxsim.Encrypt(benchAppID, benchAESKey, []byte(doc))
	if err != nil {
		return callbackRequest{}, err
	}
	target := callbackURL + "?signature=" + wxsim.Signature(benchToken, ts, nonce) + "&timestamp=" + ts + "&nonce=" + nonce +
		"&openid=o_bench&encrypt_type=aes&msg_signature=" + wxsim.Signature(benchToken, ts, nonce, enc)
	body := "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	return callbackRequest{Target: target, Body: []byte(body)}, nil
}

// checkReply opens a safe-mode answer and checks it is a text reply.
func checkReply(body []byte) error {
	doc, err := wxsim.OpenReply(benchToken, benchAppID, benchAESKey, body)
	if err != nil {
		return err
	}
	r, err := wxsim.ParseReply(doc)
	if err != nil {
		return err
	}
	if r.MsgType != "text" || r.Content == "" {
		return fmt.Errorf("reply %+v is not a text", r)
	}
	return nil
}
