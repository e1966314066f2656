package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/xuri/excelize/v2"

	"wanjia/api"
	"wanjia/model"
	"wanjia/service/articles"
	"wanjia/service/stats"
	"wanjia/store"
	"wanjia/store/storetest"
)

// fakeWeChat answers the articles' WeChat calls from memory.
type fakeWeChat struct {
	mu     sync.Mutex
	n      int
	checks int
}

func (f *fakeWeChat) id() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return fmt.Sprint(1000 + f.n)
}

func (f *fakeWeChat) UploadImage(context.Context, string, []byte) (string, string, error) {
	id := f.id()
	return "media-" + id, "http://mmbiz.qpic.cn/" + id, nil
}
func (f *fakeWeChat) AddDraft(context.Context, articles.Draft) (string, error) {
	return "draft-" + f.id(), nil
}
func (f *fakeWeChat) SubmitPublish(context.Context, string) (string, string, error) {
	return f.id(), f.id(), nil
}
func (f *fakeWeChat) PublishState(context.Context, string) (articles.PublishState, error) {
	return articles.PublishState{Status: 1}, nil
}
func (f *fakeWeChat) MassState(context.Context, string) (string, error) {
	return articles.MassSending, nil
}
func (f *fakeWeChat) MassSend(context.Context, articles.Mass) (string, string, error) {
	return f.id(), f.id(), nil
}
func (f *fakeWeChat) CheckText(_ context.Context, _, _, content string) (articles.Check, error) {
	f.mu.Lock()
	f.checks++
	f.mu.Unlock()
	if strings.Contains(content, "赌博") {
		return articles.Check{Suggest: "risky", Label: 20006}, nil
	}
	return articles.Check{Suggest: "pass", Label: 100}, nil
}
func (f *fakeWeChat) ArticleRead(context.Context, string) ([]articles.DayFigure, error) {
	return nil, nil
}
func (f *fakeWeChat) ArticleShare(context.Context, string) ([]articles.DayFigure, error) {
	return nil, nil
}
func (f *fakeWeChat) ArticleTotalDetail(context.Context, string) ([]articles.DayFigure, error) {
	return nil, nil
}
func (f *fakeWeChat) BizSummary(context.Context, string, string) ([]articles.AccountFigure, error) {
	return nil, nil
}
func (f *fakeWeChat) ArticleSummary(context.Context, string) ([]articles.DayFigure, error) {
	return nil, nil
}

type noResults struct{}

func (noResults) Result(context.Context, model.ResultKind, string) (model.WeChatResult, error) {
	return model.WeChatResult{}, model.Errorf(model.ErrNotFound, "none")
}

// figureSource is a fixed FigureSource.
type figureSource model.FigureSection

func (f figureSource) FigureSection(context.Context, time.Time, time.Time) (model.FigureSection, error) {
	return model.FigureSection(f), nil
}

func mustArticlesAPI(tb testing.TB) (*accountsEnv, *store.Articles) {
	tb.Helper()
	db := storetest.Dialects()[0].Open(tb)
	st := store.NewArticles(db)
	svc, err := articles.New(articles.Deps{Store: st, WeChat: &fakeWeChat{}, Results: noResults{}, Audit: nopAudit{},
		Options: articles.Options{CheckOpenID: "oChecker"}})
	if err != nil {
		tb.Fatal(err)
	}
	figs, err := stats.New(stats.Deps{Audit: nopAudit{}, Sources: []model.FigureSource{svc, figureSource{Area: "cases", Title: "12338维权",
		Figures: []model.Figure{{Key: model.FigCasesReceived, Value: 501}, {Key: model.FigCaseContacts, Value: 540},
			{Key: model.FigCaseClosureRate, Value: 0.98, Unit: "%"}}}}})
	if err != nil {
		tb.Fatal(err)
	}
	return mustAccounts(tb, api.Deps{Articles: svc, Figures: figs}), st
}

func pngBytes(tb testing.TB) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func uploadCover(tb testing.TB, h http.Handler, path, token string, data []byte) *httptest.ResponseRecorder {
	tb.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "cover.png")
	if err != nil {
		tb.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req := httptest.NewRequest("POST", path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

type articleBody struct {
	ID         int64  `json:"id"`
	Status     string `json:"status"`
	Body       string `json:"body"`
	CoverURL   string `json:"cover_url"`
	PublishID  string `json:"publish_id"`
	MsgDataID  string `json:"msg_data_id"`
	ColumnID   int64  `json:"column_id"`
	PublishAt  string `json:"publish_at"`
	FailReason string `json:"fail_reason"`
}

func TestArticlesHTTP(t *testing.T) {
	e, st := mustArticlesAPI(t)
	e.mustStaff(t, "writer", false, model.RoleEditor)
	e.mustStaff(t, "boss", false, model.RoleAdmin)
	e.mustStaff(t, "judge", false, model.RoleReviewer)
	ed, boss, rv := e.mustLogin(t, "writer").Token, e.mustLogin(t, "boss").Token, e.mustLogin(t, "judge").Token

	wantStatus(t, e, "POST", "/api/admin/articles", `{"title":"t","body":"<p>b</p>"}`, rv, http.StatusForbidden, "forbidden")
	wantStatus(t, e, "POST", "/api/admin/articles", `{"title":"`+strings.Repeat("长", 33)+`","body":"<script>x</script>"}`, ed,
		http.StatusBadRequest, "invalid")
	wantStatus(t, e, "POST", "/api/admin/articles", `{"title":1}`, ed, http.StatusBadRequest, "invalid")
	col := mustJSON[struct{ ID int64 }](t, wantStatus(t, e, "POST", "/api/admin/columns", `{"name":"巧媳妇·富全家"}`, ed, http.StatusCreated, ""))
	a := mustJSON[articleBody](t, wantStatus(t, e, "POST", "/api/admin/articles",
		fmt.Sprintf(`{"title":"好家风","body":"<p onclick=\"x\">传承</p><script>y</script>","column_id":%d}`, col.ID), ed, http.StatusCreated, ""))
	if a.Body != "<p>传承</p>" || a.Status != "draft" || a.ColumnID != col.ID {
		t.Fatalf("created = %+v, want a sanitized draft in the column", a)
	}
	path := "/api/admin/articles/" + itoa(a.ID)
	wantStatus(t, e, "POST", path+"/submit", "", ed, http.StatusConflict, "no_cover")
	if w := uploadCover(t, e.h, path+"/cover", ed, []byte("not an image")); w.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("cover(text) = %d %s, want 415", w.Code, w.Body)
	}
	if w := uploadCover(t, e.h, path+"/cover", ed, pngBytes(t)); w.Code != 200 || !strings.Contains(w.Body.String(), "mmbiz.qpic.cn") {
		t.Fatalf("cover = %d %s", w.Code, w.Body)
	}
	wantStatus(t, e, "POST", path+"/submit", "", ed, http.StatusOK, "")
	wantStatus(t, e, "POST", path+"/approve", "", ed, http.StatusForbidden, "forbidden")
	wantStatus(t, e, "POST", path+"/publish", `{"mode":"freepublish"}`, ed, http.StatusConflict, "not_approved")
	wantStatus(t, e, "POST", path+"/approve", "", boss, http.StatusOK, "")
	wantStatus(t, e, "POST", path+"/publish", `{"mode":"broadcast"}`, ed, http.StatusBadRequest, "invalid")
	later := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	sch := mustJSON[articleBody](t, wantStatus(t, e, "POST", path+"/publish", `{"mode":"masssend","to_all":true,"publish_at":"`+later+`"}`,
		ed, http.StatusOK, ""))
	if sch.Status != "scheduled" || sch.PublishAt == "" {
		t.Fatalf("publish later = %+v", sch)
	}
	pub := mustJSON[articleBody](t, wantStatus(t, e, "POST", path+"/publish", `{"mode":"freepublish"}`, ed, http.StatusOK, ""))
	if pub.Status != "publishing" || pub.PublishID == "" || pub.MsgDataID == "" {
		t.Fatalf("publish now = %+v", pub)
	}

	// Read counts.
	if err := st.UpsertArticleDays(context.Background(), []model.ArticleDay{{ArticleID: a.ID, MsgDataID: pub.MsgDataID, Index: 1,
		Date: "2026-03-09", Reads: 12, ReadUsers: 10, Source: "datacube"}}); err != nil {
		t.Fatal(err)
	}
	stt := mustJSON[struct {
		Totals struct{ Reads, ReadUsers int64 } `json:"totals"`
		Days   []struct {
			Date  string `json:"date"`
			Reads int64  `json:"reads"`
		} `json:"days"`
	}](t, wantStatus(t, e, "GET", path+"/stats", "", ed, http.StatusOK, ""))
	if stt.Totals.Reads != 12 || len(stt.Days) != 1 || stt.Days[0].Date != "2026-03-09" {
		t.Fatalf("stats = %+v", stt)
	}
	wantStatus(t, e, "GET", "/api/admin/articles/999/stats", "", ed, http.StatusNotFound, "not_found")
	wantStatus(t, e, "GET", "/api/admin/articles?status=nope", "", ed, http.StatusBadRequest, "invalid")
	lst := mustJSON[struct{ Items []articleBody }](t, wantStatus(t, e, "GET", "/api/admin/articles", "", ed, http.StatusOK, ""))
	if len(lst.Items) != 1 || lst.Items[0].Body != "" {
		t.Fatalf("list = %+v, want one article without its body", lst)
	}
	wantStatus(t, e, "DELETE", "/api/admin/columns/"+itoa(col.ID), "", ed, http.StatusConflict, "column_not_empty")
}

func TestFiguresHTTP(t *testing.T) {
	e, _ := mustArticlesAPI(t)
	e.mustStaff(t, "boss", false, model.RoleAdmin)
	e.mustStaff(t, "cwk", false, model.RoleCaseworker)
	e.mustStaff(t, "judge", false, model.RoleReviewer)
	boss, cw, rv := e.mustLogin(t, "boss").Token, e.mustLogin(t, "cwk").Token, e.mustLogin(t, "judge").Token

	ov := mustJSON[struct {
		From, To string
		Sections []struct {
			Area    string
			Figures []struct {
				Key   string
				Value float64
			}
		}
	}](t, wantStatus(t, e, "GET", "/api/admin/stats/overview?from=2026-01-01&to=2026-03-31", "", rv, http.StatusOK, ""))
	if ov.From != "2026-01-01" || ov.To != "2026-03-31" || len(ov.Sections) != 2 || ov.Sections[0].Area != "articles" {
		t.Fatalf("overview = %+v", ov)
	}
	wantStatus(t, e, "GET", "/api/admin/stats/overview", "", cw, http.StatusForbidden, "forbidden")
	for _, q := range []string{"from=2026-13-01", "from=2026-03-01&to=2026-02-01", "from=2020-01-01&to=2026-01-01", "to=yesterday"} {
		wantStatus(t, e, "GET", "/api/admin/stats/overview?"+q, "", boss, http.StatusBadRequest, "invalid")
	}
	an := mustJSON[struct {
		Year    int    `json:"year"`
		From    string `json:"from"`
		To      string `json:"to"`
		Summary string `json:"summary"`
	}](t, wantStatus(t, e, "GET", "/api/admin/reports/annual?year=2025", "", boss, http.StatusOK, ""))
	if an.Year != 2025 || an.From != "2025-01-01" || an.To != "2025-12-31" ||
		an.Summary != "2025年，全年接待群众维权501起540人次，结案率达98%。" {
		t.Fatalf("annual = %+v", an)
	}
	for _, q := range []string{"year=abc", "year=1999", "year=2025&format=pdf"} {
		wantStatus(t, e, "GET", "/api/admin/reports/annual?"+q, "", boss, http.StatusBadRequest, "invalid")
	}
	w := do(e.h, "GET", "/api/admin/reports/annual?year=2025&format=xlsx", "", bearer(boss)...)
	if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Disposition"), "annual-report-2025.xlsx") {
		t.Fatalf("annual xlsx = %d %s", w.Code, w.Header())
	}
	x, err := excelize.OpenReader(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatalf("OpenReader = %v", err)
	}
	x.Close()
}

func TestStaffLoginWithTOTP(t *testing.T) {
	e := mustAccounts(t, api.Deps{})
	root := e.mustStaff(t, "root", false, model.RoleAdmin)
	e.mustStaff(t, "boss", false, model.RoleAdmin)
	e.mustStaff(t, "writer", false, model.RoleEditor)
	tok := e.mustLogin(t, "root").Token
	wantStatus(t, e, "POST", "/api/admin/totp/enrol", "", e.mustLogin(t, "writer").Token, http.StatusForbidden, "forbidden")
	en := mustJSON[struct {
		Secret string `json:"secret"`
		URL    string `json:"otpauth_url"`
		QR     string `json:"qr_png"`
	}](t, wantStatus(t, e, "POST", "/api/admin/totp/enrol", "", tok, http.StatusOK, ""))
	if !strings.HasPrefix(en.URL, "otpauth://totp/") || !strings.HasPrefix(en.QR, "data:image/png;base64,") {
		t.Fatalf("enrol = %+v", en)
	}
	wantStatus(t, e, "POST", "/api/admin/totp/confirm", `{"code":"000000"}`, tok, http.StatusBadRequest, "invalid")
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(en.Secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	now := time.Now()
	wantStatus(t, e, "POST", "/api/admin/totp/confirm", `{"code":"`+code(now)+`"}`, tok, http.StatusNoContent, "")
	st := mustJSON[struct{ Enabled bool }](t, wantStatus(t, e, "GET", "/api/admin/totp", "", tok, http.StatusOK, ""))
	if !st.Enabled {
		t.Fatal("GET /api/admin/totp: not enabled after confirm")
	}

	login := `{"username":"root","password":"` + staffPW + `"`
	wantStatus(t, e, "POST", "/api/admin/login", login+`}`, "", http.StatusUnauthorized, "totp_required")
	wantStatus(t, e, "POST", "/api/admin/login", login+`,"totp":"`+code(now)+`"}`, "", http.StatusUnauthorized, "totp_invalid")
	next := code(now.Add(30 * time.Second))
	body := wantStatus(t, e, "POST", "/api/admin/login", login+`,"totp":"`+next+`"}`, "", http.StatusOK, "")
	var lb loginBody
	if err := json.Unmarshal(body, &lb); err != nil || lb.Token == "" {
		t.Fatalf("login with TOTP = %s", body)
	}

	wantStatus(t, e, "DELETE", "/api/admin/staff/"+itoa(root.ID)+"/totp", "", tok, http.StatusConflict, "cannot_reset_self")
	wantStatus(t, e, "DELETE", "/api/admin/staff/"+itoa(root.ID)+"/totp", "", e.mustLogin(t, "boss").Token, http.StatusNoContent, "")
	e.mustLogin(t, "root") // no code needed any more
}
