package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/miniprogram"
	"github.com/silenceper/wechat/v2/miniprogram/auth"
	mpconfig "github.com/silenceper/wechat/v2/miniprogram/config"
	"github.com/silenceper/wechat/v2/officialaccount"
	oaconfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/model"
)

// App is the configuration of one WeChat app (API.md: WANJIA_OA_* and
// WANJIA_MP_*). Token and AESKey are the message-push (callback) settings.
type App struct {
	AppID  string
	Secret string
	Token  string
	AESKey string
}

// Config holds the Official Account and the Mini Program.
type Config struct {
	OA App
	MP App
}

// Deps are what New needs from the process.
type Deps struct {
	Redis redis.UniversalClient // required
	// HTTP is the client the token services call stable_token with; nil
	// means util.DefaultHTTPClient as it is when New runs (cmd assigns
	// NewHTTPClient's client to it first).
	HTTP       *http.Client
	Logger     *slog.Logger          // nil discards
	Registerer prometheus.Registerer // nil records nothing
	Now        func() time.Time      // nil is time.Now
}

// Client is wanjia's WeChat client: the Official Account and the Mini
// Program, built with silenceper, sharing one token service per app id.
// Methods translate errors with Translate.
type Client struct {
	oa     *officialaccount.OfficialAccount
	mp     *miniprogram.MiniProgram
	mpAuth *auth.Auth
	tokens map[string]*TokenService
	oaID   string
	mpID   string
}

// New builds the clients. Both apps need an app id and a secret. It uses
// officialaccount.NewOfficialAccount and miniprogram.NewMiniProgram, never
// silenceper's root package (whose init sets logrus to Debug), with a Cache
// over deps.Redis and a TokenService as access-token handle, and resolves
// the OA's lazily built sub-clients once here, because silenceper's getters
// fill them in without a lock.
func New(cfg Config, deps Deps) (*Client, error) {
	switch {
	case cfg.OA.AppID == "" || cfg.OA.Secret == "":
		return nil, errors.New("wechat: official account app id and secret required")
	case cfg.MP.AppID == "" || cfg.MP.Secret == "":
		return nil, errors.New("wechat: mini program app id and secret required")
	case cfg.OA.AppID == cfg.MP.AppID:
		return nil, errors.New("wechat: official account and mini program share an app id")
	case deps.Redis == nil:
		return nil, errors.New("wechat: redis required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	httpc := deps.HTTP
	if httpc == nil {
		httpc = util.DefaultHTTPClient
	}
	newTokens := func(app App) (*TokenService, error) {
		return NewTokenService(TokenOptions{
			AppID: app.AppID, Secret: app.Secret,
			Redis: deps.Redis, HTTP: httpc, Logger: log,
			Registerer: deps.Registerer, Now: deps.Now,
		})
	}
	oaTokens, err := newTokens(cfg.OA)
	if err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	mpTokens, err := newTokens(cfg.MP)
	if err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	sdkCache := NewCache(deps.Redis, log)

	oa := officialaccount.NewOfficialAccount(&oaconfig.Config{
		AppID: cfg.OA.AppID, AppSecret: cfg.OA.Secret,
		Token: cfg.OA.Token, EncodingAESKey: cfg.OA.AESKey,
		Cache: sdkCache, UseStableAK: true,
	})
	oa.SetAccessTokenHandle(oaTokens)
	resolveOA(oa)

	mp := miniprogram.NewMiniProgram(&mpconfig.Config{
		AppID: cfg.MP.AppID, AppSecret: cfg.MP.Secret,
		Token: cfg.MP.Token, EncodingAESKey: cfg.MP.AESKey,
		Cache: sdkCache, UseStableAK: true,
	})
	mp.SetAccessTokenContextHandle(mpTokens)

	return &Client{
		oa:     oa,
		mp:     mp,
		mpAuth: mp.GetAuth(),
		tokens: map[string]*TokenService{cfg.OA.AppID: oaTokens, cfg.MP.AppID: mpTokens},
		oaID:   cfg.OA.AppID,
		mpID:   cfg.MP.AppID,
	}, nil
}

// resolveOA calls every getter of oa that caches its sub-client in an
// unguarded field, so that later concurrent calls only read it.
func resolveOA(oa *officialaccount.OfficialAccount) {
	oa.GetBasic()
	oa.GetMenu()
	oa.GetOauth()
	oa.GetMaterial()
	oa.GetDraft()
	oa.GetFreePublish()
	oa.GetJs()
	oa.GetUser()
	oa.GetTemplate()
	oa.GetCustomerMessageManager()
	oa.GetDevice()
	oa.GetBroadcast()
	oa.GetDataCube()
	oa.GetOCR()
	oa.GetSubscribe()
}

// OA returns the Official Account client. Its lazily built sub-clients
// (GetTemplate, GetDraft, …) were resolved in New and are safe to get
// concurrently. Call it through Tokens(appid).DoContext and Translate.
func (c *Client) OA() *officialaccount.OfficialAccount { return c.oa }

// MP returns the Mini Program client (its getters build a new sub-client
// on every call, which is safe).
func (c *Client) MP() *miniprogram.MiniProgram { return c.mp }

// OAAppID returns the Official Account's app id.
func (c *Client) OAAppID() string { return c.oaID }

// MPAppID returns the Mini Program's app id.
func (c *Client) MPAppID() string { return c.mpID }

// Tokens returns the token service of appid, or nil for an app id that is
// not configured.
func (c *Client) Tokens(appid string) *TokenService { return c.tokens[appid] }

// Code2Session exchanges a Mini Program login code (wx.login) for the
// user's openid, unionid and session key. Errors: model.ErrInvalid for an
// empty, invalid, used or blocked code (40029, 40163, 40226, 41008),
// model.ErrUpstream when WeChat fails. code2Session authenticates with the
// app secret, not an access_token, so it does not go through the token
// service (a 40001 here means a wrong secret, which a token refresh cannot fix).
func (c *Client) Code2Session(ctx context.Context, code string) (model.WeChatSession, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return model.WeChatSession{}, model.Invalid(map[string]string{"code": "缺少微信登录凭证"})
	}
	res, err := c.mpAuth.Code2SessionContext(ctx, code)
	if err != nil {
		return model.WeChatSession{}, fail("code2session", err)
	}
	if res.OpenID == "" {
		return model.WeChatSession{}, fail("code2session", errors.New("answer without openid"))
	}
	return model.WeChatSession{OpenID: res.OpenID, UnionID: res.UnionID, SessionKey: res.SessionKey}, nil
}

// PhoneNumber exchanges a getPhoneNumber code for the user's phone number
// (with its country prefix for numbers outside mainland China). Errors:
// model.ErrInvalid for an empty, invalid or used code, model.ErrUpstream
// when WeChat fails (a rejected access_token is refreshed and the call
// retried once first).
func (c *Client) PhoneNumber(ctx context.Context, code string) (string, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return "", model.Invalid(map[string]string{"code": "缺少手机号授权凭证"})
	}
	var phone string
	err := c.tokens[c.mpID].DoContext(ctx, func(ctx context.Context) error {
		res, err := c.mpAuth.GetPhoneNumberContext(ctx, code)
		if err != nil {
			return err
		}
		phone = res.PhoneInfo.PhoneNumber
		return nil
	})
	if err != nil {
		return "", fail("getuserphonenumber", err)
	}
	if phone == "" {
		return "", fail("getuserphonenumber", errors.New("answer without phone number"))
	}
	return phone, nil
}

// fail translates err, prefixed with the call's name. Callers log it.
func fail(call string, err error) error {
	return Translate(fmt.Errorf("%s: %w", call, err))
}
