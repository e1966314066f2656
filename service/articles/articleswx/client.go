// Package articleswx is articles.WeChat over a wechat.Client: cover
// material, drafts, freepublish, mass sends and their status, msg_sec_check
// and the datacube endpoints, each through the app's token service (a
// rejected access_token is refreshed and the call retried once) with errors
// translated to model kinds. silenceper's calls are used where they fit
// (add_material, draft/add, freepublish/get, message/mass/get,
// msg_sec_check, getarticlesummary); the rest are plain JSON posts to the configured API
// host, because silenceper v2.1.10 lacks them (getarticleread,
// getarticleshare, getarticletotaldetail, getbizsummary), drops a field we
// need (freepublish/submit's msg_data_id) or cannot send it (sendall's
// clientmsgid).
package articleswx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/silenceper/wechat/v2/miniprogram/security"
	"github.com/silenceper/wechat/v2/officialaccount/draft"
	"github.com/silenceper/wechat/v2/officialaccount/material"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/service/articles"
	"wanjia/wechat"
)

// Client implements articles.WeChat.
type Client struct{ c *wechat.Client }

var _ articles.WeChat = Client{}

// New returns the adapter over c.
func New(c *wechat.Client) Client { return Client{c: c} }

// apiBase is WeChat's API host; the HTTP client set on silenceper's
// util.DefaultHTTPClient redirects it to the configured base.
const apiBase = "https://" + wechat.APIHost

// fail turns a failed call into a translated error, an *articles.APIError
// when WeChat answered with an errcode.
func fail(call string, err error) error {
	err = fmt.Errorf("%s: %w", call, err)
	t := wechat.Translate(err)
	if code, ok := wechat.Errcode(err); ok {
		return &articles.APIError{Errcode: code, Err: t}
	}
	return t
}

// post sends body as JSON to path on the Official Account's token and
// decodes the answer into out (which must embed util.CommonError).
func (c Client) post(ctx context.Context, call, path string, body, out any) error {
	err := c.c.Tokens(c.c.OAAppID()).Do(ctx, func(tok string) error {
		resp, err := util.PostJSONContext(ctx, apiBase+path+"?access_token="+tok, body)
		if err != nil {
			return err
		}
		return util.DecodeWithError(resp, out, call)
	})
	if err != nil {
		return fail(call, err)
	}
	return nil
}

// UploadImage adds permanent image material (the cover).
func (c Client) UploadImage(ctx context.Context, filename string, data []byte) (string, string, error) {
	var id, url string
	m := c.c.OA().GetMaterial()
	err := c.c.Tokens(c.c.OAAppID()).Do(ctx, func(string) error {
		var err error
		id, url, err = m.AddMaterialFromReader(material.MediaTypeImage, filename, bytes.NewReader(data))
		return err
	})
	if err != nil {
		return "", "", fail("add_material", err)
	}
	return id, url, nil
}

// AddDraft saves a one-article draft.
func (c Client) AddDraft(ctx context.Context, d articles.Draft) (string, error) {
	var id string
	dr := c.c.OA().GetDraft()
	err := c.c.Tokens(c.c.OAAppID()).Do(ctx, func(string) error {
		var err error
		id, err = dr.AddDraft([]*draft.Article{{
			Title: d.Title, Author: d.Author, Digest: d.Digest, Content: d.Content, ContentSourceURL: d.SourceURL,
			ThumbMediaID: d.ThumbMediaID, ShowCoverPic: 1,
		}})
		return err
	})
	if err != nil {
		return "", fail("draft/add", err)
	}
	return id, nil
}

// flexID decodes an id WeChat sends as a number or as a string.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexID(n.String())
	return nil
}

// SubmitPublish publishes a draft (freepublish/submit).
func (c Client) SubmitPublish(ctx context.Context, draftMediaID string) (string, string, error) {
	var out struct {
		util.CommonError
		PublishID flexID `json:"publish_id"`
		MsgDataID flexID `json:"msg_data_id"`
	}
	if err := c.post(ctx, "freepublish/submit", "/cgi-bin/freepublish/submit", map[string]string{"media_id": draftMediaID}, &out); err != nil {
		return "", "", err
	}
	return string(out.PublishID), string(out.MsgDataID), nil
}

// PublishState asks how a publish job stands (freepublish/get).
func (c Client) PublishState(ctx context.Context, publishID string) (articles.PublishState, error) {
	id, err := strconv.ParseInt(publishID, 10, 64)
	if err != nil {
		return articles.PublishState{}, fmt.Errorf("freepublish/get: publish id %q: %w", publishID, err)
	}
	fp := c.c.OA().GetFreePublish()
	var st articles.PublishState
	err = c.c.Tokens(c.c.OAAppID()).Do(ctx, func(string) error {
		res, err := fp.SelectStatus(id)
		if err != nil {
			return err
		}
		st = articles.PublishState{Status: int(res.PublishStatus), ArticleID: res.ArticleID}
		for _, it := range res.ArticleDetail.Items {
			st.ArticleURLs = append(st.ArticleURLs, it.ArticleURL)
		}
		for _, i := range res.FailIndex {
			st.FailIdx = append(st.FailIdx, int(i))
		}
		return nil
	})
	if err != nil {
		return articles.PublishState{}, fail("freepublish/get", err)
	}
	return st, nil
}

// MassState asks how a mass send stands (message/mass/get) through
// silenceper's broadcast.GetMassStatus, which fits: it posts msg_id as the
// string WeChat documents and decodes msg_status (and msg_id as the number
// WeChat answers), errcode errors included.
func (c Client) MassState(ctx context.Context, msgID string) (string, error) {
	b := c.c.OA().GetBroadcast()
	var state string
	err := c.c.Tokens(c.c.OAAppID()).Do(ctx, func(string) error {
		res, err := b.GetMassStatus(msgID)
		if err != nil {
			return err
		}
		state = res.MsgStatus
		return nil
	})
	if err != nil {
		return "", fail("mass/get", err)
	}
	return state, nil
}

// MassSend sends a draft with sendall and a clientmsgid; 45065 (the
// clientmsgid was used) answers the msg_id of that first send.
func (c Client) MassSend(ctx context.Context, m articles.Mass) (string, string, error) {
	filter := map[string]any{"is_to_all": m.ToAll}
	if !m.ToAll {
		filter["tag_id"] = m.TagID
	}
	body := map[string]any{"filter": filter, "mpnews": map[string]string{"media_id": m.DraftMediaID}, "msgtype": "mpnews",
		"send_ignore_reprint": 0, "clientmsgid": m.ClientMsgID}
	var out struct {
		util.CommonError
		MsgID     flexID `json:"msg_id"`
		MsgDataID flexID `json:"msg_data_id"`
	}
	err := c.c.Tokens(c.c.OAAppID()).Do(ctx, func(tok string) error {
		resp, err := util.PostJSONContext(ctx, apiBase+"/cgi-bin/message/mass/sendall?access_token="+tok, body)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(resp, &out); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		if out.ErrCode == 45065 && out.MsgID != "" {
			return nil // sent before with this clientmsgid
		}
		if out.ErrCode != 0 {
			return util.NewCommonError("sendall", out.ErrCode, out.ErrMsg)
		}
		return nil
	})
	if err != nil {
		return "", "", fail("sendall", err)
	}
	return string(out.MsgID), string(out.MsgDataID), nil
}

// CheckText runs msg_sec_check (version 2, scene 2) on the Mini Program.
func (c Client) CheckText(ctx context.Context, openID, title, content string) (articles.Check, error) {
	sec := c.c.MP().GetSecurity()
	var out articles.Check
	err := c.c.Tokens(c.c.MPAppID()).DoContext(ctx, func(ctx context.Context) error {
		res, err := sec.MsgCheckContext(ctx, &security.MsgCheckRequest{OpenID: openID, Scene: security.MsgSceneComment,
			Content: content, Title: title})
		if err != nil {
			return err
		}
		out = articles.Check{Suggest: string(res.Result.Suggest), Label: int(res.Result.Label), TraceID: res.TraceID}
		return nil
	})
	if err != nil {
		return articles.Check{}, fail("msg_sec_check", err)
	}
	return out, nil
}

type dayRange struct {
	BeginDate string `json:"begin_date"`
	EndDate   string `json:"end_date"`
}

// ArticleRead is getarticleread: each article read on day.
func (c Client) ArticleRead(ctx context.Context, day string) ([]articles.DayFigure, error) {
	var out struct {
		util.CommonError
		List []struct {
			RefDate string `json:"ref_date"`
			MsgID   string `json:"msgid"`
			Detail  struct {
				ReadUser  int64 `json:"read_user"`
				ReadCount int64 `json:"read_count"`
			} `json:"detail"`
		} `json:"list"`
	}
	if err := c.post(ctx, "getarticleread", "/datacube/getarticleread", dayRange{day, day}, &out); err != nil {
		return nil, err
	}
	figs := make([]articles.DayFigure, 0, len(out.List))
	for _, x := range out.List {
		figs = append(figs, articles.DayFigure{MsgID: x.MsgID, Date: day, Reads: x.Detail.ReadCount, ReadUsers: x.Detail.ReadUser})
	}
	return figs, nil
}

// ArticleShare is getarticleshare: each article shared on day.
func (c Client) ArticleShare(ctx context.Context, day string) ([]articles.DayFigure, error) {
	var out struct {
		util.CommonError
		List []struct {
			MsgID  string `json:"msgid"`
			Detail struct {
				ShareUser  int64 `json:"share_user"`
				ShareCount int64 `json:"share_count"`
			} `json:"detail"`
		} `json:"list"`
	}
	if err := c.post(ctx, "getarticleshare", "/datacube/getarticleshare", dayRange{day, day}, &out); err != nil {
		return nil, err
	}
	figs := make([]articles.DayFigure, 0, len(out.List))
	for _, x := range out.List {
		figs = append(figs, articles.DayFigure{MsgID: x.MsgID, Date: day, Shares: x.Detail.ShareCount, ShareUsers: x.Detail.ShareUser})
	}
	return figs, nil
}

// ArticleTotalDetail is getarticletotaldetail: the articles published on
// day with cumulative figures per stat day.
func (c Client) ArticleTotalDetail(ctx context.Context, day string) ([]articles.DayFigure, error) {
	var out struct {
		util.CommonError
		List []struct {
			MsgID      string `json:"msgid"`
			DetailList []struct {
				StatDate       string `json:"stat_date"`
				ReadUser       int64  `json:"read_user"`
				ShareUser      int64  `json:"share_user"`
				CollectionUser int64  `json:"collection_user"`
			} `json:"detail_list"`
		} `json:"list"`
	}
	if err := c.post(ctx, "getarticletotaldetail", "/datacube/getarticletotaldetail", dayRange{day, day}, &out); err != nil {
		return nil, err
	}
	var figs []articles.DayFigure
	for _, x := range out.List {
		for _, d := range x.DetailList {
			figs = append(figs, articles.DayFigure{MsgID: x.MsgID, Date: d.StatDate, ReadUsers: d.ReadUser,
				ShareUsers: d.ShareUser, Favourites: d.CollectionUser})
		}
	}
	return figs, nil
}

// BizSummary is getbizsummary: the account's daily totals in [from, to].
func (c Client) BizSummary(ctx context.Context, from, to string) ([]articles.AccountFigure, error) {
	var out struct {
		util.CommonError
		List []struct {
			RefDate string `json:"ref_date"`
			Detail  struct {
				ReadUser       int64 `json:"read_user"`
				ShareUser      int64 `json:"share_user"`
				CollectionUser int64 `json:"collection_user"`
			} `json:"detail"`
		} `json:"list"`
	}
	if err := c.post(ctx, "getbizsummary", "/datacube/getbizsummary", dayRange{from, to}, &out); err != nil {
		return nil, err
	}
	figs := make([]articles.AccountFigure, 0, len(out.List))
	for _, x := range out.List {
		figs = append(figs, articles.AccountFigure{Date: x.RefDate, ReadUsers: x.Detail.ReadUser, ShareUsers: x.Detail.ShareUser,
			Favourites: x.Detail.CollectionUser})
	}
	return figs, nil
}

// ArticleSummary is the legacy getarticlesummary: each article's figures
// of day.
func (c Client) ArticleSummary(ctx context.Context, day string) ([]articles.DayFigure, error) {
	cube := c.c.OA().GetDataCube()
	var figs []articles.DayFigure
	err := c.c.Tokens(c.c.OAAppID()).Do(ctx, func(string) error {
		res, err := cube.GetArticleSummary(day, day)
		if err != nil {
			return err
		}
		figs = figs[:0]
		for _, x := range res.List {
			figs = append(figs, articles.DayFigure{MsgID: x.MsgID, Date: day, Reads: int64(x.IntPageReadCount),
				ReadUsers: int64(x.IntPageReadUser), Shares: int64(x.ShareCount), ShareUsers: int64(x.ShareUser),
				Favourites: int64(x.AddToFavUser)})
		}
		return nil
	})
	if err != nil {
		return nil, fail("getarticlesummary", err)
	}
	return figs, nil
}
