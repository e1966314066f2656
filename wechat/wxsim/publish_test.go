package wxsim_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"wanjia/wechat/wxsim"
)

// jpegBytes returns a small JPEG.
func jpegBytes(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func pngBytes(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// upload posts data as the multipart field "media".
func upload(tb testing.TB, s *wxsim.Sim, target, field string, data []byte) answer {
	tb.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, err := w.CreateFormFile(field, "cover.jpg")
	if err != nil {
		tb.Fatal(err)
	}
	part.Write(data)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return doCtx(tb, context.Background(), s, http.MethodPost, target, buf.Bytes(), w.FormDataContentType())
}

// mustDraft uploads a cover and saves a one-article draft, returning its
// media id.
func mustDraft(tb testing.TB, s *wxsim.Sim, tok, title string) string {
	tb.Helper()
	cover := upload(tb, s, "/cgi-bin/material/add_material?type=image&access_token="+tok, "media", jpegBytes(tb))
	mustErrcode(tb, cover, 0)
	a := do(tb, s, http.MethodPost, "/cgi-bin/draft/add?access_token="+tok, map[string]any{"articles": []map[string]any{{
		"title": title, "author": "妇联", "digest": "摘要", "content": "<p>正文</p>",
		"thumb_media_id": cover.json["media_id"], "need_open_comment": 0,
	}}})
	mustErrcode(tb, a, 0)
	return a.json["media_id"].(string)
}

func TestUploads(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	tok := mustToken(t, s, oaID, oaSecret)
	big := append(jpegBytes(t), bytes.Repeat([]byte{0}, 70<<10)...)
	tests := []struct {
		name   string
		target string
		field  string
		data   []byte
		want   int
		keys   []string
	}{
		{"permanent image", "/cgi-bin/material/add_material?type=image", "media", jpegBytes(t), 0, []string{"media_id", "url"}},
		{"permanent png", "/cgi-bin/material/add_material?type=image", "media", pngBytes(t), 0, []string{"media_id", "url"}},
		{"thumb", "/cgi-bin/material/add_material?type=thumb", "media", jpegBytes(t), 0, []string{"media_id"}},
		{"thumb too big", "/cgi-bin/material/add_material?type=thumb", "media", big, 40006, nil},
		{"thumb png", "/cgi-bin/material/add_material?type=thumb", "media", pngBytes(t), 40005, nil},
		{"bad type", "/cgi-bin/material/add_material?type=doc", "media", jpegBytes(t), 40004, nil},
		{"text as image", "/cgi-bin/material/add_material?type=image", "media", []byte("hello"), 40005, nil},
		{"wrong field", "/cgi-bin/material/add_material?type=image", "file", jpegBytes(t), 41005, nil},
		{"temporary", "/cgi-bin/media/upload?type=image", "media", jpegBytes(t), 0, []string{"type", "media_id", "created_at"}},
		{"article image", "/cgi-bin/media/uploadimg", "media", pngBytes(t), 0, []string{"url"}},
		{"article image too big", "/cgi-bin/media/uploadimg", "media", append(jpegBytes(t), bytes.Repeat([]byte{0}, 1<<20)...), 40006, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target + "&access_token=" + tok
			if !strings.Contains(tt.target, "?") {
				target = tt.target + "?access_token=" + tok
			}
			a := upload(t, s, target, tt.field, tt.data)
			mustErrcode(t, a, tt.want)
			for _, k := range tt.keys {
				if _, ok := a.json[k]; !ok {
					t.Errorf("answer %s lacks %q", a.body, k)
				}
			}
		})
	}
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/media/uploadimg?access_token="+tok, []byte("{}")), 47001)

	if got := len(s.Media()); got != 5 {
		t.Errorf("len(Media()) = %d, want the 5 successful uploads", got)
	}

	// The image URLs serve the uploaded bytes.
	img := pngBytes(t)
	a := upload(t, s, "/cgi-bin/media/uploadimg?access_token="+tok, "media", img)
	u := a.json["url"].(string)
	resp, err := (&http.Client{Transport: s.Transport()}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got bytes.Buffer
	got.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(got.Bytes(), img) {
		t.Errorf("GET %s = %d %s (%d bytes), want the PNG", u, resp.StatusCode, resp.Header.Get("Content-Type"), got.Len())
	}
}

func TestDraftAdd(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	tok := mustToken(t, s, oaID, oaSecret)
	cover := upload(t, s, "/cgi-bin/material/add_material?type=image&access_token="+tok, "media", jpegBytes(t)).json["media_id"]
	temp := upload(t, s, "/cgi-bin/media/upload?type=image&access_token="+tok, "media", jpegBytes(t)).json["media_id"]
	inline := upload(t, s, "/cgi-bin/media/uploadimg?access_token="+tok, "media", jpegBytes(t)).json["url"].(string)
	article := func(mod func(map[string]any)) map[string]any {
		a := map[string]any{"title": "标题", "author": "作者", "digest": "摘要", "content": `<p><img src="` + inline + `"><img src="https://evil.example/x.png"></p>`,
			"content_source_url": "", "thumb_media_id": cover, "show_cover_pic": 1}
		if mod != nil {
			mod(a)
		}
		return map[string]any{"articles": []map[string]any{a}}
	}
	tests := []struct {
		name string
		body any
		want int
	}{
		{"ok", article(nil), 0},
		{"newspic without thumb", article(func(a map[string]any) { a["article_type"] = "newspic"; a["thumb_media_id"] = "" }), 0},
		{"no thumb", article(func(a map[string]any) { a["thumb_media_id"] = "" }), 40007},
		{"temporary thumb", article(func(a map[string]any) { a["thumb_media_id"] = temp }), 40007},
		{"title too long", article(func(a map[string]any) { a["title"] = strings.Repeat("题", 33) }), 45003},
		{"empty title", article(func(a map[string]any) { a["title"] = "" }), 44003},
		{"author too long", article(func(a map[string]any) { a["author"] = strings.Repeat("作", 17) }), 45110},
		{"digest too long", article(func(a map[string]any) { a["digest"] = strings.Repeat("摘", 129) }), 45004},
		{"empty content", article(func(a map[string]any) { a["content"] = "" }), 44004},
		{"content too long", article(func(a map[string]any) { a["content"] = strings.Repeat("文", 20000) }), 45002},
		{"no articles", map[string]any{"articles": []any{}}, 40097},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/draft/add?access_token="+tok, tt.body), tt.want)
		})
	}
	drafts := s.Drafts()
	if len(drafts) != 2 {
		t.Fatalf("len(Drafts()) = %d, want 2", len(drafts))
	}
	if got := drafts[0].Articles[0].ExternalImages; len(got) != 1 || got[0] != "https://evil.example/x.png" {
		t.Errorf("ExternalImages = %q, want the evil.example image only", got)
	}
	get := do(t, s, http.MethodPost, "/cgi-bin/draft/get?access_token="+tok, map[string]string{"media_id": drafts[0].MediaID})
	mustErrcode(t, get, 0)
	if items := get.json["news_item"].([]any); len(items) != 1 || items[0].(map[string]any)["title"] != "标题" {
		t.Errorf("draft/get = %s", get.body)
	}
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/draft/get?access_token="+tok, map[string]string{"media_id": "x"}), 40007)
}

func TestFreePublish(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t)
	tok := mustToken(t, s, oaID, oaSecret)
	ok := mustDraft(t, s, tok, "通过")
	refused := mustDraft(t, s, tok, "不通过")
	s.SetPublishResult(refused, 4)
	status := func(id any) answer {
		return do(t, s, http.MethodPost, "/cgi-bin/freepublish/get?access_token="+tok, map[string]any{"publish_id": id})
	}

	sub := do(t, s, http.MethodPost, "/cgi-bin/freepublish/submit?access_token="+tok, map[string]string{"media_id": ok})
	mustErrcode(t, sub, 0)
	id, isNumber := sub.json["publish_id"].(float64)
	if !isNumber {
		t.Fatalf("publish_id = %#v, want a JSON number", sub.json["publish_id"])
	}
	if st := status(id); st.json["publish_status"] != 1.0 {
		t.Errorf("status before completion = %s, want publish_status 1", st.body)
	}
	sub2 := do(t, s, http.MethodPost, "/cgi-bin/freepublish/submit?access_token="+tok, map[string]string{"media_id": refused})
	mustErrcode(t, sub2, 0)
	if err := s.FlushOAEvents(context.Background()); err != nil {
		t.Fatalf("FlushOAEvents() = %v", err)
	}

	st := status(id)
	mustErrcode(t, st, 0)
	detail := st.json["article_detail"].(map[string]any)
	if st.json["publish_status"] != 0.0 || st.json["article_id"] == "" || detail["count"] != 1.0 {
		t.Errorf("status after completion = %s", st.body)
	}
	url := detail["item"].([]any)[0].(map[string]any)["article_url"].(string)
	if !strings.HasPrefix(url, "https://mp.weixin.qq.com/s?__biz=") {
		t.Errorf("article_url = %s", url)
	}
	st2 := status(sub2.json["publish_id"])
	if st2.json["publish_status"] != 4.0 || len(st2.json["fail_idx"].([]any)) != 1 {
		t.Errorf("refused status = %s, want 4 with fail_idx [1]", st2.body)
	}
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/freepublish/submit?access_token="+tok, map[string]string{"media_id": "nope"}), 40007)
	mustErrcode(t, status(12345), 40097)
	s.Fail("/cgi-bin/freepublish/submit", 53503, 1)
	mustErrcode(t, do(t, s, http.MethodPost, "/cgi-bin/freepublish/submit?access_token="+tok, map[string]string{"media_id": ok}), 53503)
	if got := s.Publishes(); len(got) != 2 || got[0].Status != 0 || got[1].Status != 4 {
		t.Errorf("Publishes() = %+v", got)
	}
}
