package articles

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"wanjia/model"
)

// PublishInput says how and when to publish an approved article.
type PublishInput struct {
	Mode      model.PublishMode
	ToAll     bool      // masssend: every follower
	TagID     int64     // masssend: the followers with this tag
	PublishAt time.Time // zero or not in the future: now
}

// Valid reports field problems (Chinese).
func (in PublishInput) Valid() map[string]string {
	bad := map[string]string{}
	switch in.Mode {
	case model.PublishFree:
		if in.ToAll || in.TagID != 0 {
			bad["mode"] = "发表（freepublish）不指定推送对象"
		}
	case model.PublishMass:
		if in.ToAll == (in.TagID != 0) {
			bad["tag_id"] = "群发须指定 to_all 或 tag_id 之一"
		}
		if in.TagID < 0 {
			bad["tag_id"] = "无效"
		}
	default:
		bad["mode"] = "须为 freepublish 或 masssend"
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// abandonedAfter is how long an article may stay claimed without a WeChat
// id before it counts as abandoned.
const abandonedAfter = 10 * time.Minute

// publishable are the statuses from which an article may be published:
// approved, scheduled (re-timed or published early) and failed (again).
var publishable = []model.ArticleStatus{model.ArticleApproved, model.ArticleScheduled, model.ArticleFailed}

// Publish publishes an approved article (editor; audited): at once, or at
// in.PublishAt when that is more than a minute away (the every-minute job
// publishes it then). Publishing at once answers with the article in
// status publishing; the result event completes it.
func (s *Service) Publish(ctx context.Context, id int64, in PublishInput) (model.Article, error) {
	p, err := requireEditor(ctx)
	if err != nil {
		return model.Article{}, err
	}
	if err := model.Invalid(in.Valid()); err != nil {
		return model.Article{}, err
	}
	a, err := s.store.ArticleByID(ctx, id)
	if err != nil {
		return model.Article{}, err
	}
	if !statusIn(a.Status, publishable) {
		return model.Article{}, model.Coded(model.ErrConflict, "not_approved", "文章须审核通过后才能发布")
	}
	if a.Status == model.ArticleFailed && a.Mode != in.Mode && a.DraftMediaID != "" {
		a.DraftMediaID = "" // a fresh draft for the other way
	}
	before := a
	a.Mode, a.ToAll, a.TagID, a.PublishedBy, a.FailReason = in.Mode, in.ToAll, in.TagID, p.SubjectID, ""
	now := s.now()
	if in.PublishAt.After(now.Add(time.Minute)) {
		a.Status, a.PublishAt = model.ArticleScheduled, in.PublishAt
		if a, err = s.store.UpdateArticle(ctx, a, publishable...); err != nil {
			return model.Article{}, err
		}
		s.record(ctx, "article.schedule", id, auditFields(before), auditFields(a))
		return a, nil
	}
	a.PublishAt = now
	s.record(ctx, "article.publish", id, auditFields(before), auditFields(a))
	return s.publishNow(ctx, a)
}

// publishNow claims a (a conditional update on its version and status, so
// of two copies only one publishes) and hands it to WeChat: draft/add
// unless a draft exists, then freepublish/submit or sendall. A WeChat
// failure marks it failed with the reason (staff may publish again; a
// mass send reuses its clientmsgid, so a send WeChat did accept is not
// sent twice).
func (s *Service) publishNow(ctx context.Context, a model.Article) (model.Article, error) {
	a.Status = model.ArticlePublishing
	if a.Mode == model.PublishMass && a.ClientMsgID == "" {
		a.ClientMsgID = fmt.Sprintf("wanjia-a%d-v%d", a.ID, a.Version)
	}
	a, err := s.store.UpdateArticle(ctx, a, publishable...)
	if err != nil {
		return model.Article{}, err
	}
	a, err = s.handOver(ctx, a)
	if err != nil {
		failed := a
		failed.Status, failed.FailReason = model.ArticleFailed, failReason(err)
		if _, uerr := s.store.UpdateArticle(context.WithoutCancel(ctx), failed, model.ArticlePublishing); uerr != nil {
			s.log.ErrorContext(ctx, "mark article failed", "article", a, "err", uerr)
		}
		return model.Article{}, err
	}
	return s.applyRecorded(ctx, a)
}

func failReason(err error) string {
	if code := errcodeOf(err); code != 0 {
		return fmt.Sprintf("微信返回错误 %d", code)
	}
	var me *model.Error
	if errors.As(err, &me) && me.Message != "" {
		return me.Message
	}
	return "发布失败，请稍后重试"
}

// handOver calls WeChat for a claimed article and records the ids.
func (s *Service) handOver(ctx context.Context, a model.Article) (model.Article, error) {
	var err error
	if a.DraftMediaID == "" {
		a.DraftMediaID, err = s.wx.AddDraft(ctx, Draft{Title: a.Title, Author: a.Author, Digest: a.Digest, Content: a.Body,
			SourceURL: a.SourceURL, ThumbMediaID: a.CoverMediaID})
		if err != nil {
			return a, fmt.Errorf("draft: %w", err)
		}
		if a, err = s.store.UpdateArticle(ctx, a, model.ArticlePublishing); err != nil {
			return a, err
		}
	}
	switch a.Mode {
	case model.PublishFree:
		a.PublishID, a.MsgDataID, err = s.wx.SubmitPublish(ctx, a.DraftMediaID)
	case model.PublishMass:
		a.MsgID, a.MsgDataID, err = s.wx.MassSend(ctx, Mass{DraftMediaID: a.DraftMediaID, ToAll: a.ToAll, TagID: a.TagID,
			ClientMsgID: a.ClientMsgID})
	}
	if err != nil {
		return a, err
	}
	a.PublishStatus = 1
	return s.store.UpdateArticle(ctx, a, model.ArticlePublishing)
}

// applyRecorded applies a result the gateway recorded before the ids were
// stored (the event can overtake the answer).
func (s *Service) applyRecorded(ctx context.Context, a model.Article) (model.Article, error) {
	kind, key := model.ResultPublish, a.PublishID
	if a.Mode == model.PublishMass {
		kind, key = model.ResultMass, a.MsgID
	}
	r, err := s.results.Result(ctx, kind, key)
	if errors.Is(err, model.ErrNotFound) {
		return a, nil
	}
	if err != nil {
		s.log.WarnContext(ctx, "read recorded result", "article", a, "err", err)
		return a, nil
	}
	if err := s.ApplyResult(ctx, r); err != nil {
		return a, err
	}
	return s.store.ArticleByID(ctx, a.ID)
}

// publishFailure names the freepublish statuses that end a publish.
var publishFailure = map[int]string{
	2: "原创校验未通过", 3: "发表失败", 4: "平台审核不通过", 5: "已被删除", 6: "已被封禁",
}

// massPollFailure names the mass/get states that end a mass send badly.
var massPollFailure = map[string]string{
	MassFail:    "群发失败（据微信群发状态查询，未收到群发结果事件）",
	MassDeleted: "群发消息已被删除（据微信群发状态查询）",
}

// ApplyResult completes the article of a PUBLISHJOBFINISH or
// MASSSENDJOBFINISH result (the gateway's result sink), or of a result
// PublishDue polled: published with its URL, msg_data_id and counts, or
// failed with the reason. A result for no article of ours, or one already
// applied, changes nothing. A polled mass result (r.Polled; message/mass/get
// tells the outcome only) publishes the article with CountsUnknown and no
// URL, or fails it; the MASSSENDJOBFINISH event arriving late after it sets
// the counts and the URL (never adding to them) and keeps the publish time
// the poll recorded.
func (s *Service) ApplyResult(ctx context.Context, r model.WeChatResult) error {
	for attempt := 0; ; attempt++ {
		err := s.applyResult(ctx, r)
		if err == nil || attempt == 3 || !isChanged(err) {
			return err
		}
	}
}

func isChanged(err error) bool {
	var me *model.Error
	return errors.As(err, &me) && me.Code == "article_changed"
}

func (s *Service) applyResult(ctx context.Context, r model.WeChatResult) error {
	var a model.Article
	var err error
	switch r.Kind {
	case model.ResultPublish:
		a, err = s.store.ArticleByPublishID(ctx, r.Key)
	case model.ResultMass:
		a, err = s.store.ArticleByMsgID(ctx, r.Key)
	default:
		return nil
	}
	if errors.Is(err, model.ErrNotFound) {
		return nil // not ours (sent from the WeChat console), or ids not stored yet: publishNow re-reads
	}
	if err != nil {
		return err
	}
	before := a
	from := []model.ArticleStatus{model.ArticlePublishing, model.ArticleFailed}
	switch r.Kind {
	case model.ResultPublish:
		a.PublishStatus = r.PublishStatus
		switch st := r.PublishStatus; {
		case st == 1:
			return nil
		case st == 0:
			a.Status, a.FailReason, a.WxArticleID = model.ArticlePublished, "", r.ArticleID
			if len(r.ArticleURLs) > 0 {
				a.ArticleURL = r.ArticleURLs[0]
			}
			a.PublishedAt = r.ReceivedAt
		case st == 5 || st == 6:
			a.FailReason = publishFailure[st]
			from = []model.ArticleStatus{model.ArticlePublished}
		default:
			a.Status, a.FailReason = model.ArticleFailed, publishFailure[st]
			if a.FailReason == "" {
				a.FailReason = fmt.Sprintf("发表失败（状态 %d）", st)
			}
		}
	case model.ResultMass:
		success := r.Status == "send success"
		switch {
		case r.Polled && success:
			a.Status, a.FailReason, a.PublishedAt, a.CountsUnknown = model.ArticlePublished, "", r.ReceivedAt, true
		case r.Polled:
			// WeChat finished this clientmsgid: the next attempt needs a new one.
			a.Status, a.FailReason, a.ClientMsgID = model.ArticleFailed, massPollFailure[r.Status], ""
			if a.FailReason == "" {
				a.FailReason = "群发失败（群发状态 " + r.Status + "）"
			}
		default:
			if success && before.Status == model.ArticlePublished && before.CountsUnknown {
				// The event, late after the poll: what the poll could not tell.
				from = []model.ArticleStatus{model.ArticlePublished}
			}
			a.TotalCount, a.SentCount, a.ErrorCount, a.CountsUnknown = r.TotalCount, r.SentCount, r.ErrorCount, false
			if success {
				a.Status, a.FailReason = model.ArticlePublished, ""
				if before.Status != model.ArticlePublished {
					a.PublishedAt = r.ReceivedAt
				}
				if len(r.ArticleURLs) > 0 {
					a.ArticleURL = r.ArticleURLs[0]
				}
			} else {
				// WeChat finished this clientmsgid: the next attempt needs a new one.
				a.Status, a.FailReason, a.ClientMsgID = model.ArticleFailed, "群发失败："+r.Status, ""
			}
		}
	}
	if a.PublishedAt.IsZero() && a.Status == model.ArticlePublished {
		a.PublishedAt = s.now()
	}
	if a.Status == before.Status && a.PublishStatus == before.PublishStatus && a.FailReason == before.FailReason &&
		a.TotalCount == before.TotalCount && a.SentCount == before.SentCount && a.ErrorCount == before.ErrorCount &&
		a.CountsUnknown == before.CountsUnknown && a.ArticleURL == before.ArticleURL {
		return nil // applied before
	}
	if !statusIn(before.Status, from) {
		return nil // a late event for an article that moved on
	}
	if _, err := s.store.UpdateArticle(ctx, a, from...); err != nil {
		return fmt.Errorf("apply %s result: %w", r.Kind, err)
	}
	s.log.InfoContext(ctx, "article result", "article", a, "result_kind", string(r.Kind), "result_status", r.Status)
	return nil
}

// PublishDue publishes the scheduled articles whose time has come and asks
// WeChat about publishes whose result event is more than ResultWait late
// (the every-minute job): freepublish/get for a freepublish job,
// message/mass/get for a mass send (see pollMass). Two copies running it at
// once never both publish an article: each claim is a conditional update,
// and applying a result twice changes nothing.
func (s *Service) PublishDue(ctx context.Context) (int, error) {
	now := s.now()
	due, err := s.store.DueArticles(ctx, now, dueBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, a := range due {
		_, err := s.publishNow(ctx, a)
		switch {
		case isChanged(err):
			continue // another copy claimed it
		case err != nil:
			errs = append(errs, fmt.Errorf("article %d: %w", a.ID, err))
			continue
		}
		n++
	}
	stale, err := s.store.StalePublishing(ctx, now.Add(-s.opts.ResultWait), dueBatch)
	if err != nil {
		errs = append(errs, err)
	}
	for _, a := range stale {
		if a.Mode == model.PublishMass && a.MsgID != "" {
			if err := s.pollMass(ctx, a, now); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if a.PublishID == "" {
			// Claimed but never handed over (the copy stopped): after ten
			// minutes staff may publish it again (a mass send keeps its
			// clientmsgid, so WeChat never sends it twice).
			if !a.PublishAt.Before(now.Add(-abandonedAfter)) {
				continue
			}
			a.Status, a.FailReason = model.ArticleFailed, "发布中断，请重新发布"
			if _, err := s.store.UpdateArticle(ctx, a, model.ArticlePublishing); err != nil && !isChanged(err) {
				errs = append(errs, err)
			}
			continue
		}
		st, err := s.wx.PublishState(ctx, a.PublishID)
		if err != nil {
			errs = append(errs, fmt.Errorf("article %d: freepublish/get: %w", a.ID, err))
			continue
		}
		if err := s.ApplyResult(ctx, model.WeChatResult{Kind: model.ResultPublish, Key: a.PublishID,
			Status: strconv.Itoa(st.Status), PublishStatus: st.Status, ArticleID: st.ArticleID, ArticleURLs: st.ArticleURLs,
			ReceivedAt: now}); err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// pollMass asks WeChat how mass send a stands (message/mass/get) when its
// MASSSENDJOBFINISH is late: SEND_SUCCESS is applied like the event's
// success, but with what the answer holds only (no counts, no URL:
// CountsUnknown); SEND_FAIL and DELETE fail the article with a Chinese
// reason (a new clientmsgid for the next try, as after a failure event);
// SENDING — a large send, or one waiting for an administrator's
// confirmation under API mass-send protection (up to 30 minutes) — is left
// for the next sweep. A msg_id WeChat does not know (40059) fails the
// article too, keeping its clientmsgid: publishing it again is then safe
// (WeChat answers a clientmsgid it has seen with that send's msg_id).
func (s *Service) pollMass(ctx context.Context, a model.Article, now time.Time) error {
	state, err := s.wx.MassState(ctx, a.MsgID)
	if errcodeOf(err) == errInvalidMsgID {
		s.log.WarnContext(ctx, "mass/get does not know the msg_id", "article", a, "msg_id", a.MsgID)
		a.Status, a.FailReason = model.ArticleFailed, "微信查询不到这次群发（msg_id 无效），请核对后重新发布"
		if _, err := s.store.UpdateArticle(ctx, a, model.ArticlePublishing); err != nil && !isChanged(err) {
			return fmt.Errorf("article %d: %w", a.ID, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("article %d: mass/get: %w", a.ID, err)
	}
	r := model.WeChatResult{Kind: model.ResultMass, Key: a.MsgID, Polled: true, ReceivedAt: now}
	switch state {
	case MassSending:
		return nil
	case MassSuccess:
		r.Status = "send success"
	case MassFail, MassDeleted:
		r.Status = state
	default:
		s.log.WarnContext(ctx, "mass/get answered an unknown state; asking again next time", "article", a, "state", state)
		return nil
	}
	s.log.InfoContext(ctx, "mass send result polled (event late)", "article", a, "state", state)
	return s.ApplyResult(ctx, r)
}
