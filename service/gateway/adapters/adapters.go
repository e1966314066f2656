// Package adapters connects package gateway to the outside: the Official
// Account's API through wechat.Client, the rules' version counter in Redis
// and the job runner. gateway declares what it needs; these satisfy it, so
// gateway itself imports neither silenceper, go-redis nor package job.
package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/miniprogram/message"

	"wanjia/job"
	"wanjia/model"
	"wanjia/service/gateway"
	"wanjia/wechat"
)

// OA is gateway.OA over the Official Account of a wechat.Client: calls go
// through the app's token service (a rejected access_token is refreshed and
// the call retried once) and errors are translated to model kinds.
type OA struct{ c *wechat.Client }

var _ gateway.OA = OA{}

// NewOA returns the adapter over c.
func NewOA(c *wechat.Client) OA { return OA{c: c} }

// PublishMenu replaces the custom menu (menu/create). The buttons are sent
// as JSON of their own: silenceper's menu.Button has no article_id.
func (o OA) PublishMenu(ctx context.Context, buttons []model.MenuButton) error {
	body, err := json.Marshal(struct {
		Button []model.MenuButton `json:"button"`
	}{buttons})
	if err != nil {
		return fmt.Errorf("menu create: %w", err)
	}
	menu := o.c.OA().GetMenu()
	err = o.c.Tokens(o.c.OAAppID()).Do(ctx, func(string) error {
		return menu.SetMenuByJSON(string(body))
	})
	if err != nil {
		err = fmt.Errorf("menu create: %w", err)
		if code, ok := wechat.Errcode(err); ok && menuRefused(code) {
			return model.Wrap(model.ErrInvalid, wechat.Translate(err),
				fmt.Sprintf("微信拒绝了此菜单（错误码 %d），请检查按钮的名称、类型和链接", code))
		}
		return wechat.Translate(err)
	}
	return nil
}

// MP is gateway.MPCustomer over the Mini Program of a wechat.Client.
type MP struct{ c *wechat.Client }

var _ gateway.MPCustomer = MP{}

// NewMP returns the adapter over c.
func NewMP(c *wechat.Client) MP { return MP{c: c} }

// SendMPText sends a customer-service text message (message/custom/send)
// through the app's token service; errors are translated to model kinds.
func (m MP) SendMPText(ctx context.Context, openID, text string) error {
	cs := m.c.MP().GetCustomerMessage()
	err := m.c.Tokens(m.c.MPAppID()).Do(ctx, func(string) error {
		return cs.Send(message.NewCustomerTextMessage(openID, text))
	})
	if err != nil {
		return wechat.Translate(fmt.Errorf("mp custom send: %w", err))
	}
	return nil
}

// menuRefused reports whether a menu/create errcode is about the menu
// itself, which staff can fix, rather than about WeChat or the token:
// 40016–40027 (counts, names, types, keys, URLs), 40054/40055 (URLs),
// 40007 (media id) and 40097 (arguments).
func menuRefused(code int) bool {
	return code >= 40016 && code <= 40027 || code == 40054 || code == 40055 || code == 40007 || code == 40097
}

// FollowerInfo fetches user/info of openID; an openid WeChat does not know
// (40003) is model.ErrNotFound.
func (o OA) FollowerInfo(ctx context.Context, openID string) (gateway.FollowerInfo, error) {
	users := o.c.OA().GetUser()
	var info gateway.FollowerInfo
	err := o.c.Tokens(o.c.OAAppID()).Do(ctx, func(string) error {
		res, err := users.GetUserInfo(openID)
		if err != nil {
			return err
		}
		tags := make([]int, len(res.TagIDList))
		for i, t := range res.TagIDList {
			tags[i] = int(t)
		}
		info = gateway.FollowerInfo{UnionID: res.UnionID, TagIDs: tags, Subscribed: res.Subscribe == 1}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("user info: %w", err)
		if code, ok := wechat.Errcode(err); ok && code == 40003 {
			return gateway.FollowerInfo{}, model.Wrap(model.ErrNotFound, wechat.Translate(err), "关注者不存在")
		}
		return gateway.FollowerInfo{}, wechat.Translate(err)
	}
	return info, nil
}

// Versions is gateway.Versions over Redis: INCR to bump, GET to read.
type Versions struct{ rdb redis.UniversalClient }

var _ gateway.Versions = Versions{}

// NewVersions returns the counters in rdb.
func NewVersions(rdb redis.UniversalClient) Versions { return Versions{rdb: rdb} }

// Version reads key; 0 when it was never bumped.
func (v Versions) Version(ctx context.Context, key string) (int64, error) {
	n, err := v.rdb.Get(ctx, key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("version %s: %w", key, err)
	}
	return n, nil
}

// Bump increments key.
func (v Versions) Bump(ctx context.Context, key string) error {
	if err := v.rdb.Incr(ctx, key).Err(); err != nil {
		return fmt.Errorf("bump %s: %w", key, err)
	}
	return nil
}

// Jobs is gateway.Enqueuer over the job runner: the id becomes the task id
// (job.ID), so enqueuing it again does nothing.
type Jobs struct{ r *job.Runner }

var _ gateway.Enqueuer = Jobs{}

// NewJobs returns the adapter over r.
func NewJobs(r *job.Runner) Jobs { return Jobs{r: r} }

// Enqueue queues the task under id.
func (j Jobs) Enqueue(ctx context.Context, taskType string, payload []byte, id string) error {
	_, err := j.r.Enqueue(ctx, taskType, payload, job.ID(id))
	return err
}

// CrisisQueue is the queue of crisis alerts: the runner's most urgent one.
const CrisisQueue = "critical"

// Register registers g's task handlers on r (before r.Start): crisis alerts
// on CrisisQueue, the others on the default queue; a malformed payload
// fails the task at once instead of retrying it.
func Register(r *job.Runner, g *gateway.Service) {
	for typ, h := range g.Tasks() {
		var opts []job.HandlerOption
		if typ == gateway.TaskCrisisAlert || typ == gateway.TaskCrisisReplyMP {
			opts = append(opts, job.Queue(CrisisQueue))
		}
		r.Handle(typ, permanentBadPayload(h), opts...)
	}
}

func permanentBadPayload(h func(context.Context, []byte) error) func(context.Context, []byte) error {
	return func(ctx context.Context, payload []byte) error {
		err := h(ctx, payload)
		if errors.Is(err, gateway.ErrBadPayload) {
			return job.SkipRetry(err)
		}
		return err
	}
}
