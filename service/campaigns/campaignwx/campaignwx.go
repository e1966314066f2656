// Package campaignwx is the 最美家庭 area's WeChat adapter
// (campaigns.WeChat over wechat.Client): msg_sec_check v2 for stories,
// media_check_async for photos and getwxacodeunlimit for share codes, each
// through the Mini Program's token service (a rejected access_token is
// refreshed and the call retried once) and wechat.Translate.
package campaignwx

import (
	"context"
	"fmt"

	"github.com/silenceper/wechat/v2/miniprogram/qrcode"
	"github.com/silenceper/wechat/v2/miniprogram/security"

	"wanjia/service/campaigns"
	"wanjia/wechat"
)

// Scene is the content-security scene of nominations: 3, 论坛 (a public
// post others read and comment on).
const Scene = 3

// WeChat implements campaigns.WeChat.
type WeChat struct {
	c          *wechat.Client
	page       string
	envVersion string
}

var _ campaigns.WeChat = WeChat{}

// New returns the adapter over c. page is the Mini Program page a share
// code opens (no leading slash, no query; "" opens the home page);
// envVersion is release, trial or develop ("" is release).
func New(c *wechat.Client, page, envVersion string) WeChat {
	return WeChat{c: c, page: page, envVersion: envVersion}
}

// CheckText runs msg_sec_check v2 on content (the story) with title (the
// family name) for the user openID.
func (w WeChat) CheckText(ctx context.Context, openID, title, content string) (campaigns.TextCheck, error) {
	var res security.MsgCheckResponse
	sec := w.c.MP().GetSecurity()
	err := w.c.Tokens(w.c.MPAppID()).DoContext(ctx, func(ctx context.Context) error {
		var err error
		res, err = sec.MsgCheckContext(ctx, &security.MsgCheckRequest{
			OpenID: openID, Scene: security.MsgScene(Scene), Content: content, Title: title,
		})
		return err
	})
	if err != nil {
		return campaigns.TextCheck{}, wechat.Translate(fmt.Errorf("msg_sec_check: %w", err))
	}
	return campaigns.TextCheck{Suggest: string(res.Result.Suggest), Label: int(res.Result.Label), TraceID: res.TraceID}, nil
}

// SubmitMediaCheck submits an image URL to media_check_async (version 2)
// for the user openID and returns WeChat's trace_id; the result arrives
// later as a wxa_media_check event.
func (w WeChat) SubmitMediaCheck(ctx context.Context, openID, mediaURL string) (string, error) {
	var trace string
	sec := w.c.MP().GetSecurity()
	err := w.c.Tokens(w.c.MPAppID()).DoContext(ctx, func(ctx context.Context) error {
		var err error
		trace, err = sec.MediaCheckAsyncContext(ctx, &security.MediaCheckAsyncRequest{
			MediaURL: mediaURL, MediaType: 2, OpenID: openID, Scene: Scene,
		})
		return err
	})
	if err != nil {
		return "", wechat.Translate(fmt.Errorf("media_check_async: %w", err))
	}
	return trace, nil
}

// ShareCode returns a Mini Program code (JPEG) whose scene is scene
// (getwxacodeunlimit). silenceper's QR-code calls read the token without a
// context, so the token service's retry invalidates the token it handed
// out, which is the one the call used.
func (w WeChat) ShareCode(ctx context.Context, scene string) ([]byte, error) {
	var img []byte
	qr := w.c.MP().GetQRCode()
	checkPath := w.page != ""
	err := w.c.Tokens(w.c.MPAppID()).Do(ctx, func(string) error {
		var err error
		img, err = qr.GetWXACodeUnlimit(qrcode.QRCoder{
			Scene: scene, Page: w.page, CheckPath: &checkPath, Width: 430, EnvVersion: w.envVersion,
		})
		return err
	})
	if err != nil {
		return nil, wechat.Translate(fmt.Errorf("getwxacodeunlimit: %w", err))
	}
	return img, nil
}
