package wxsim

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// imagePathPrefix is the path of image URLs the simulator hands out; GET on
// them (through Transport or ServeHTTP) returns the uploaded bytes.
const imagePathPrefix = "/wxsim/media/"

// imageHost is the host of those URLs, WeChat's image CDN.
const imageHost = "http://mmbiz.qpic.cn"

// Media is an uploaded file: permanent material (add_material), temporary
// media (media/upload) or an article image (uploadimg, MediaID empty).
type Media struct {
	AppID       string
	MediaID     string
	Type        string // image, thumb, voice, video
	Permanent   bool
	Filename    string
	ContentType string
	Data        []byte
	URL         string // image URLs only
	At          time.Time
}

// Draft is a draft saved with draft/add.
type Draft struct {
	AppID    string
	MediaID  string
	Articles []DraftArticle
	At       time.Time
}

// DraftArticle is one article of a draft.
type DraftArticle struct {
	ArticleType        string `json:"article_type"`
	Title              string `json:"title"`
	Author             string `json:"author"`
	Digest             string `json:"digest"`
	Content            string `json:"content"`
	ContentSourceURL   string `json:"content_source_url"`
	ThumbMediaID       string `json:"thumb_media_id"`
	ShowCoverPic       int    `json:"show_cover_pic"`
	NeedOpenComment    int    `json:"need_open_comment"`
	OnlyFansCanComment int    `json:"only_fans_can_comment"`
	// ExternalImages lists <img src> URLs in Content that did not come
	// from uploadimg; WeChat drops such images.
	ExternalImages []string `json:"-"`
}

// Publish is a freepublish job.
type Publish struct {
	AppID        string
	PublishID    int64
	MsgDataID    int64
	DraftMediaID string
	// Status is the freepublish status: 1 publishing until the job
	// completes (FlushOAEvents or WithAutoDeliver), then 0 success, 2
	// original-check failed, 3 failed, 4 audit refused.
	Status      int
	ArticleID   string
	ArticleURLs []string
	FailIdx     []int
	At          time.Time
}

type publishResult struct {
	status  int
	failIdx []int
}

// publication is a successful publish or mass send whose articles the
// datacube endpoints report.
type publication struct {
	appID       string
	msgDataID   int64
	publishType int // 0 mass send, 1 freepublish
	day         string
	titles      []string
	urls        []string
}

// Media returns the uploaded media of every app, in upload order.
func (s *Sim) Media() []Media {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Media, 0, len(s.mediaOrder))
	for _, id := range s.mediaOrder {
		c := *s.media[id]
		c.Data = slices.Clone(c.Data)
		out = append(out, c)
	}
	return out
}

// Drafts returns the saved drafts, in the order they were saved.
func (s *Sim) Drafts() []Draft {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Draft, 0, len(s.draftOrder))
	for _, id := range s.draftOrder {
		c := *s.drafts[id]
		c.Articles = slices.Clone(c.Articles)
		out = append(out, c)
	}
	return out
}

// Publishes returns the freepublish jobs, oldest first.
func (s *Sim) Publishes() []Publish {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Publish, 0, len(s.publishes))
	for _, p := range s.publishes {
		c := *p
		c.ArticleURLs = slices.Clone(p.ArticleURLs)
		c.FailIdx = slices.Clone(p.FailIdx)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Publish) int { return cmp.Compare(a.PublishID, b.PublishID) })
	return out
}

// SetPublishResult decides how publishing the draft draftMediaID ends: status
// 0 success, 2 original-check failed, 3 failed, 4 audit refused (failIdx:
// the failing article numbers, first is 1). An empty draftMediaID sets the
// outcome of every draft without its own.
func (s *Sim) SetPublishResult(draftMediaID string, status int, failIdx ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishResults[draftMediaID] = publishResult{status: status, failIdx: slices.Clone(failIdx)}
}

// upload is the file part of a multipart upload.
type upload struct {
	filename    string
	contentType string
	data        []byte
	description []byte
}

// readUpload reads the "media" part (and "description", for videos) of a
// multipart body: 41005 when there is no media part, 47001 when the body is
// not multipart.
func readUpload(rq *request) (*upload, *apiError) {
	mt, params, err := mime.ParseMediaType(rq.r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, errCodef(47001, "(multipart body expected)")
	}
	mr := multipart.NewReader(bytes.NewReader(rq.body), params["boundary"])
	var up upload
	found := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errCodef(47001, "(bad multipart body)")
		}
		data, err := io.ReadAll(io.LimitReader(p, maxBody))
		if err != nil {
			return nil, errCodef(47001, "(bad multipart body)")
		}
		switch p.FormName() {
		case "media":
			found = true
			up.filename = p.FileName()
			up.data = data
			up.contentType = http.DetectContentType(data)
		case "description":
			up.description = data
		}
	}
	if !found || len(up.data) == 0 {
		return nil, errCode(41005)
	}
	return &up, nil
}

// mediaLimits are the size limits and accepted content types per type.
var mediaLimits = map[string]struct {
	max   int
	types []string
}{
	"image": {10 << 20, []string{"image/jpeg", "image/png", "image/gif", "image/bmp"}},
	"thumb": {64 << 10, []string{"image/jpeg"}},
	"voice": {2 << 20, []string{"audio/mpeg", "audio/amr", "audio/wave", "audio/wav", "audio/x-wav", "application/octet-stream"}},
	"video": {10 << 20, []string{"video/mp4", "application/octet-stream"}},
}

func (s *Sim) storeMedia(rq *request, mediaType string, permanent bool) (*Media, *apiError) {
	lim, ok := mediaLimits[mediaType]
	if !ok {
		return nil, errCode(40004)
	}
	up, apiErr := readUpload(rq)
	if apiErr != nil {
		return nil, apiErr
	}
	if !slices.Contains(lim.types, up.contentType) {
		return nil, errCode(40005)
	}
	if len(up.data) > lim.max {
		return nil, errCode(40006)
	}
	id := s.newMediaID(rq.app.id)
	m := &Media{
		AppID: rq.app.id, MediaID: id, Type: mediaType, Permanent: permanent, Filename: up.filename,
		ContentType: up.contentType, Data: up.data, At: rq.now,
	}
	if mediaType == "image" || mediaType == "thumb" {
		m.URL = imageHost + imagePathPrefix + id
	}
	s.media[id] = m
	s.mediaOrder = append(s.mediaOrder, id)
	return m, nil
}

func (s *Sim) newMediaID(appID string) string {
	h := sha1.Sum(fmt.Appendf(nil, "%s/%d/%s", appID, s.nextID(), randomHex(4)))
	return base64.RawURLEncoding.EncodeToString(h[:]) + "-sim"
}

// handleAddMaterial serves POST /cgi-bin/material/add_material?type=.
func (s *Sim) handleAddMaterial(rq *request) any {
	m, apiErr := s.storeMedia(rq, rq.query.Get("type"), true)
	if apiErr != nil {
		return apiErr
	}
	out := map[string]any{"media_id": m.MediaID}
	if m.URL != "" {
		out["url"] = m.URL
	}
	return out
}

// handleMediaUpload serves POST /cgi-bin/media/upload?type= (temporary media).
func (s *Sim) handleMediaUpload(rq *request) any {
	m, apiErr := s.storeMedia(rq, rq.query.Get("type"), false)
	if apiErr != nil {
		return apiErr
	}
	return map[string]any{"type": m.Type, "media_id": m.MediaID, "created_at": m.At.Unix()}
}

// handleUploadImg serves POST /cgi-bin/media/uploadimg: an article image
// (JPEG or PNG below 1 MB) that gets a URL but no media id.
func (s *Sim) handleUploadImg(rq *request) any {
	up, apiErr := readUpload(rq)
	if apiErr != nil {
		return apiErr
	}
	if up.contentType != "image/jpeg" && up.contentType != "image/png" {
		return errCode(40005)
	}
	if len(up.data) >= 1<<20 {
		return errCode(40006)
	}
	id := s.newMediaID(rq.app.id)
	m := &Media{AppID: rq.app.id, MediaID: id, Type: "image", Filename: up.filename, ContentType: up.contentType,
		Data: up.data, URL: imageHost + imagePathPrefix + id, At: rq.now}
	s.media[id] = m
	s.mediaOrder = append(s.mediaOrder, id)
	return map[string]any{"url": m.URL}
}

// handleImageGet serves GET on an image URL the simulator handed out.
func (s *Sim) handleImageGet(rq *request) any {
	m, ok := s.media[strings.TrimPrefix(rq.r.URL.Path, imagePathPrefix)]
	if !ok || m.URL == "" {
		return notFound{}
	}
	return rawAnswer{contentType: m.ContentType, body: slices.Clone(m.Data)}
}

var imgSrc = regexp.MustCompile(`(?i)<img[^>]+src\s*=\s*["']([^"']+)["']`)

// handleDraftAdd serves POST /cgi-bin/draft/add.
func (s *Sim) handleDraftAdd(rq *request) any {
	var in struct {
		Articles []DraftArticle `json:"articles"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	switch n := len(in.Articles); {
	case n == 0:
		return errCodef(40097, "(articles is empty)")
	case n > 8:
		return errCode(45008)
	}
	for i := range in.Articles {
		a := &in.Articles[i]
		switch {
		case strings.TrimSpace(a.Title) == "":
			return errCode(44003)
		case utf8.RuneCountInString(a.Title) > 32:
			return errCode(45003)
		case utf8.RuneCountInString(a.Author) > 16:
			return errCode(45110)
		case utf8.RuneCountInString(a.Digest) > 128:
			return errCode(45004)
		case strings.TrimSpace(a.Content) == "":
			return errCode(44004)
		case utf8.RuneCountInString(a.Content) >= 20000 || len(a.Content) >= 1<<20:
			return errCode(45002)
		}
		if a.ArticleType == "" || a.ArticleType == "news" {
			m, ok := s.media[a.ThumbMediaID]
			if !ok || !m.Permanent || m.AppID != rq.app.id || (m.Type != "image" && m.Type != "thumb") {
				return errCodef(40007, "(thumb_media_id must be a permanent image)")
			}
		}
		for _, match := range imgSrc.FindAllStringSubmatch(a.Content, -1) {
			src := match[1]
			if !strings.Contains(src, imagePathPrefix) {
				a.ExternalImages = append(a.ExternalImages, src)
			}
		}
	}
	id := s.newMediaID(rq.app.id)
	s.drafts[id] = &Draft{AppID: rq.app.id, MediaID: id, Articles: in.Articles, At: rq.now}
	s.draftOrder = append(s.draftOrder, id)
	return map[string]any{"media_id": id}
}

// handleDraftGet serves POST /cgi-bin/draft/get.
func (s *Sim) handleDraftGet(rq *request) any {
	var in struct {
		MediaID string `json:"media_id"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	d, ok := s.drafts[in.MediaID]
	if !ok || d.AppID != rq.app.id {
		return errCode(40007)
	}
	return map[string]any{"news_item": d.Articles}
}

// handlePublishSubmit serves POST /cgi-bin/freepublish/submit. The job stays
// "publishing" (status 1) until FlushOAEvents or the automatic delivery
// completes it and pushes PUBLISHJOBFINISH.
func (s *Sim) handlePublishSubmit(rq *request) any {
	var in struct {
		MediaID string `json:"media_id"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	d, ok := s.drafts[in.MediaID]
	if !ok || d.AppID != rq.app.id {
		return errCode(40007)
	}
	p := &Publish{AppID: rq.app.id, PublishID: s.nextID(), MsgDataID: s.nextID(), DraftMediaID: d.MediaID, Status: 1, At: rq.now}
	s.publishes[p.PublishID] = p
	a := rq.app
	s.enqueueOA(a.id, systemOpenID(a.id), "PUBLISHJOBFINISH", func(now time.Time) []byte {
		s.completePublish(p, d, now)
		info := []xmlField{
			{"publish_id", strconv.FormatInt(p.PublishID, 10), false},
			{"publish_status", strconv.Itoa(p.Status), false},
		}
		if p.Status == 0 {
			items := []xmlField{{"count", strconv.Itoa(len(p.ArticleURLs)), false}}
			for i, u := range p.ArticleURLs {
				items = append(items, xmlRaw("item", xmlInner(
					xmlField{"idx", strconv.Itoa(i + 1), false}, xmlField{"article_url", u, true})))
			}
			info = append(info, xmlField{"article_id", p.ArticleID, true}, xmlRaw("article_detail", xmlInner(items...)))
		}
		for _, i := range p.FailIdx {
			info = append(info, xmlField{"fail_idx", strconv.Itoa(i), false})
		}
		return eventXML(a.originalID, systemOpenID(a.id), now, "PUBLISHJOBFINISH", xmlRaw("PublishEventInfo", xmlInner(info...)))
	})
	return map[string]any{"errcode": 0, "errmsg": "ok", "publish_id": p.PublishID, "msg_data_id": p.MsgDataID}
}

// completePublish gives p its final status; s.mu is held.
func (s *Sim) completePublish(p *Publish, d *Draft, now time.Time) {
	res, ok := s.publishResults[d.MediaID]
	if !ok {
		res = s.publishResults[""]
	}
	p.Status, p.FailIdx = res.status, res.failIdx
	if p.Status != 0 {
		if (p.Status == 2 || p.Status == 4) && len(p.FailIdx) == 0 {
			p.FailIdx = []int{1}
		}
		return
	}
	p.FailIdx = nil
	p.ArticleID = articleID(p.MsgDataID)
	titles := make([]string, len(d.Articles))
	for i, art := range d.Articles {
		titles[i] = art.Title
		p.ArticleURLs = append(p.ArticleURLs, articleURL(p.AppID, p.MsgDataID, i+1))
	}
	s.publish(publication{appID: p.AppID, msgDataID: p.MsgDataID, publishType: 1, day: cstDay(now), titles: titles, urls: p.ArticleURLs})
}

func articleID(msgDataID int64) string {
	h := sha1.Sum([]byte(strconv.FormatInt(msgDataID, 10)))
	return base64.RawURLEncoding.EncodeToString(h[:15])
}

// articleURL is the permanent link of article idx (1-based) of a publish.
func articleURL(appID string, msgDataID int64, idx int) string {
	biz := base64.StdEncoding.EncodeToString([]byte(OriginalID(appID)))
	h := sha1.Sum(fmt.Appendf(nil, "%d_%d", msgDataID, idx))
	return fmt.Sprintf("https://mp.weixin.qq.com/s?__biz=%s&mid=%d&idx=%d&sn=%s", biz, msgDataID, idx, hex.EncodeToString(h[:16]))
}

// handlePublishGet serves POST /cgi-bin/freepublish/get.
func (s *Sim) handlePublishGet(rq *request) any {
	var in struct {
		PublishID int64 `json:"publish_id"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	p, ok := s.publishes[in.PublishID]
	if !ok || p.AppID != rq.app.id {
		return errCodef(40097, "(unknown publish_id)")
	}
	items := make([]map[string]any, 0, len(p.ArticleURLs))
	for i, u := range p.ArticleURLs {
		items = append(items, map[string]any{"idx": i + 1, "article_url": u})
	}
	fail := p.FailIdx
	if fail == nil {
		fail = []int{}
	}
	return map[string]any{
		"errcode": 0, "errmsg": "ok",
		"publish_id":     p.PublishID,
		"publish_status": p.Status,
		"article_id":     p.ArticleID,
		"article_detail": map[string]any{"count": len(items), "item": items},
		"fail_idx":       fail,
	}
}
