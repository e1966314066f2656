package wxsim

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxBody bounds request bodies; WeChat accepts uploads up to 10 MB.
const maxBody = 11 << 20

// Sim is the simulated api.weixin.qq.com. The zero value is not usable; call
// New or NewSandbox. All methods are safe for concurrent use.
type Sim struct {
	now           func() time.Time
	log           *slog.Logger
	client        *http.Client
	autoDelay     time.Duration
	lenient       bool
	lenientOpenID string
	genStats      bool
	userPageSize  int
	routes        map[string]route

	mu             sync.Mutex
	seq            int64
	apps           map[string]*app
	tokens         map[string]*token
	users          map[string]*User
	codes          map[string]*oneTimeCode
	phoneCodes     map[string]*oneTimeCode
	templates      map[string]map[string][]string // app id → template id → data keys
	refused        map[string][]string            // openid → template ids (empty: all)
	calls          []Call
	faults         map[string]*fault
	delays         map[string]time.Duration
	sent           []SentMessage
	clientMsgIDs   map[string]int64
	media          map[string]*Media
	mediaOrder     []string
	drafts         map[string]*Draft
	draftOrder     []string
	publishes      map[int64]*Publish
	publishResults map[string]publishResult
	massStatus     string
	masses         map[int64]*MassJob
	withholds      map[string]int // OA event name → how many more to withhold
	withheld       []*event
	words          []wordRule
	mediaRules     []mediaRule
	mediaChecks    []*MediaCheck
	pages          []string
	articleDays    map[articleDayKey]ArticleDay
	publications   []publication
	pending        []*event
	mpCallback     *Callback
	oaCallback     *Callback
	closed         bool
	wg             sync.WaitGroup
}

// Option configures a Sim.
type Option func(*Sim)

// WithClock sets the clock the simulator reads (token expiry, CreateTime,
// datacube "yesterday", code lifetimes). The default is time.Now.
func WithClock(now func() time.Time) Option { return func(s *Sim) { s.now = now } }

// WithApp registers an app id with its secret, as AddApp does.
func WithApp(appID, secret string) Option {
	return func(s *Sim) { s.addApp(appID, secret) }
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(s *Sim) { s.log = l } }

// WithCallbackClient sets the HTTP client used to push events to the
// callbacks. The default has a 5 s timeout, like WeChat's wait.
func WithCallbackClient(c *http.Client) Option { return func(s *Sim) { s.client = c } }

// WithAutoDeliver makes every asynchronous result (media checks, publish,
// mass and template job events) complete and go to its callback d after it
// was queued, without a Flush call. Call Close to stop pending deliveries.
func WithAutoDeliver(d time.Duration) Option { return func(s *Sim) { s.autoDelay = d } }

// WithLenient makes the simulator accept what it never issued, for the
// sandbox, where a real Mini Program brings its own codes and users reach
// the callback without the simulator knowing them:
//   - an unknown js_code "sim:NAME" or "sim:NAME:anything" logs in the user
//     whose openid is derived from NAME (so scripts can act as several
//     people); any other unknown js_code logs in defaultOpenID, or a user
//     derived from the code when defaultOpenID is empty;
//   - an unknown phone code yields the user's Phone or a number derived from
//     the code;
//   - an unknown openid in a message send, user query or content check is a
//     follower of the calling app, created on first use.
//
// Codes stay single-use.
func WithLenient(defaultOpenID string) Option {
	return func(s *Sim) { s.lenient, s.lenientOpenID = true, defaultOpenID }
}

// WithGeneratedStats makes every published or mass-sent article read,
// shared and liked a little each day (deterministic figures), so the
// datacube endpoints have something to report. AddArticleDays overrides the
// generated figures.
func WithGeneratedStats() Option { return func(s *Sim) { s.genStats = true } }

// WithUserPageSize sets how many openids /cgi-bin/user/get returns a page
// (WeChat: 10000); n < 1 is ignored.
func WithUserPageSize(n int) Option {
	return func(s *Sim) {
		if n > 0 {
			s.userPageSize = n
		}
	}
}

// New returns a simulator with the given options and no apps unless
// WithApp is among them.
func New(opts ...Option) *Sim {
	s := &Sim{
		now:            time.Now,
		log:            slog.New(slog.DiscardHandler),
		client:         &http.Client{Timeout: 5 * time.Second},
		userPageSize:   10000,
		apps:           map[string]*app{},
		tokens:         map[string]*token{},
		users:          map[string]*User{},
		codes:          map[string]*oneTimeCode{},
		phoneCodes:     map[string]*oneTimeCode{},
		templates:      map[string]map[string][]string{},
		refused:        map[string][]string{},
		faults:         map[string]*fault{},
		delays:         map[string]time.Duration{},
		clientMsgIDs:   map[string]int64{},
		media:          map[string]*Media{},
		drafts:         map[string]*Draft{},
		publishes:      map[int64]*Publish{},
		publishResults: map[string]publishResult{},
		massStatus:     "send success",
		masses:         map[int64]*MassJob{},
		withholds:      map[string]int{},
		articleDays:    map[articleDayKey]ArticleDay{},
	}
	s.routes = s.routeTable()
	for _, o := range opts {
		o(s)
	}
	return s
}

// Close stops automatic deliveries that have not started and waits for
// those in flight. Pending events stay pending (FlushOAEvents and
// FlushMediaChecks still deliver them). Close is idempotent.
func (s *Sim) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, ev := range s.pending {
		s.disarm(ev)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Call is one recorded request to the simulator.
type Call struct {
	Method string
	Path   string
	Query  url.Values // raw, access_token included
	Body   []byte
	At     time.Time
}

// Calls returns the recorded calls to path (such as "/cgi-bin/token"), oldest
// first, or every call when path is "". The simulator keeps at least the
// last 10000 calls.
func (s *Sim) Calls(path string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if path == "" || c.Path == path {
			c.Query = cloneValues(c.Query)
			c.Body = slices.Clone(c.Body)
			out = append(out, c)
		}
	}
	return out
}

type fault struct {
	code      int
	remaining int
}

// Fail makes the next times calls to path (such as
// "/cgi-bin/message/subscribe/send") answer errcode instead of being served,
// with WeChat's text for the code. It replaces an earlier Fail for the path;
// times <= 0 removes it. Faults apply before the token check, so they also
// work on /cgi-bin/token and /cgi-bin/stable_token.
func (s *Sim) Fail(path string, errcode int, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if times <= 0 {
		delete(s.faults, path)
		return
	}
	s.faults[path] = &fault{code: errcode, remaining: times}
}

// Delay makes every call to path wait d before it is served (0 removes the
// delay). A request whose context ends first gets no answer.
func (s *Sim) Delay(path string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.delays, path)
		return
	}
	s.delays[path] = d
}

// Reset forgets what tests injected and recorded: calls, faults, delays,
// refusals, sent messages, mass-send and template client ids, media checks,
// pending (undelivered) and withheld events and what was to be withheld.
// Apps, tokens, users, templates, media, drafts, publishes, mass jobs,
// menus, statistics, words, media rules and callbacks stay.
func (s *Sim) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.faults = map[string]*fault{}
	s.delays = map[string]time.Duration{}
	s.refused = map[string][]string{}
	s.sent = nil
	s.clientMsgIDs = map[string]int64{}
	s.mediaChecks = nil
	for _, ev := range s.pending {
		s.disarm(ev)
	}
	s.pending = nil
	s.withholds = map[string]int{}
	s.withheld = nil
}

// Transport returns a RoundTripper that serves every request in-process,
// whatever its host, without a socket. Set it on silenceper's
// util.DefaultHTTPClient to send all WeChat calls to the simulator.
func (s *Sim) Transport() http.RoundTripper { return transport{s} }

type transport struct{ s *Sim }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	sreq := req.Clone(req.Context())
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "127.0.0.1:0"
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.s.ServeHTTP(rec, sreq)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// route is one endpoint: the methods it accepts, whether it needs an
// access_token and its handler. A handler returns a JSON-able value, an
// *apiError or a rawAnswer, and runs with s.mu held.
type route struct {
	methods []string
	auth    bool
	h       func(*request) any
}

type request struct {
	r     *http.Request
	query url.Values
	body  []byte
	app   *app
	now   time.Time
}

// rawAnswer is a non-JSON success answer (the QR-code image, an uploaded
// image).
type rawAnswer struct {
	contentType string
	body        []byte
}

// decode unmarshals the JSON body into v: 44002 when empty, 47001 when not
// JSON.
func (rq *request) decode(v any) *apiError {
	if len(bytes.TrimSpace(rq.body)) == 0 {
		return errCode(44002)
	}
	if err := json.Unmarshal(rq.body, v); err != nil {
		return errCode(47001)
	}
	return nil
}

// ServeHTTP serves one WeChat API call. API errors are HTTP 200 with an
// errcode body, as WeChat answers; an unknown path is a 404.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	path := r.URL.Path
	query := r.URL.Query()

	s.mu.Lock()
	now := s.now()
	s.calls = trim(append(s.calls, Call{Method: r.Method, Path: path, Query: cloneValues(query), Body: body, At: now}))
	delay := s.delays[path]
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	answer := s.serve(r, path, query, body)
	switch a := answer.(type) {
	case notFound:
		s.log.Warn("wxsim: unknown path", "method", r.Method, "path", path)
		http.NotFound(w, r)
	case rawAnswer:
		w.Header().Set("Content-Type", a.contentType)
		w.WriteHeader(http.StatusOK)
		w.Write(a.body)
	case *apiError:
		s.log.Info("wxsim: error answer", "path", path, "errcode", a.code)
		writeJSON(w, a.body(now))
	default:
		writeJSON(w, a)
	}
}

type notFound struct{}

func (s *Sim) serve(r *http.Request, path string, query url.Values, body []byte) any {
	rt, ok := s.routes[path]
	if !ok && strings.HasPrefix(path, imagePathPrefix) {
		rt, ok = route{[]string{http.MethodGet}, false, s.handleImageGet}, true
	}
	if !ok {
		return notFound{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !slices.Contains(rt.methods, r.Method) {
		if slices.Contains(rt.methods, http.MethodPost) {
			return errCode(43002)
		}
		return errCode(43001)
	}
	if f := s.faults[path]; f != nil {
		f.remaining--
		if f.remaining <= 0 {
			delete(s.faults, path)
		}
		return errCode(f.code)
	}
	rq := &request{r: r, query: query, body: body, now: now}
	if rt.auth {
		if query.Get("access_token") == "" && bytes.Contains(body, []byte(`"access_token"`)) {
			return errCodef(47001, "(access_token belongs in the query string)")
		}
		a, apiErr := s.checkToken(query.Get("access_token"), now)
		if apiErr != nil {
			return apiErr
		}
		rq.app = a
	}
	return rt.h(rq)
}

func writeJSON(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

func (s *Sim) routeTable() map[string]route {
	get, post, both := []string{http.MethodGet}, []string{http.MethodPost}, []string{http.MethodGet, http.MethodPost}
	return map[string]route{
		"/cgi-bin/token":                     {get, false, s.handleToken},
		"/cgi-bin/stable_token":              {post, false, s.handleStableToken},
		"/sns/jscode2session":                {get, false, s.handleCode2Session},
		"/wxa/business/getuserphonenumber":   {post, true, s.handlePhoneNumber},
		"/cgi-bin/message/subscribe/send":    {post, true, s.handleSubscribeSend},
		"/cgi-bin/message/template/send":     {post, true, s.handleTemplateSend},
		"/cgi-bin/message/custom/send":       {post, true, s.handleCustomSend},
		"/cgi-bin/message/mass/sendall":      {post, true, s.handleMassSendAll},
		"/cgi-bin/message/mass/send":         {post, true, s.handleMassSend},
		"/cgi-bin/message/mass/get":          {post, true, s.handleMassGet},
		"/cgi-bin/material/add_material":     {post, true, s.handleAddMaterial},
		"/cgi-bin/media/upload":              {post, true, s.handleMediaUpload},
		"/cgi-bin/media/uploadimg":           {post, true, s.handleUploadImg},
		"/cgi-bin/draft/add":                 {post, true, s.handleDraftAdd},
		"/cgi-bin/draft/get":                 {post, true, s.handleDraftGet},
		"/cgi-bin/freepublish/submit":        {post, true, s.handlePublishSubmit},
		"/cgi-bin/freepublish/get":           {post, true, s.handlePublishGet},
		"/datacube/getarticlesummary":        {post, true, s.handleArticleSummary},
		"/datacube/getarticletotal":          {post, true, s.handleArticleTotal},
		"/datacube/getbizsummary":            {post, true, s.handleBizSummary},
		"/datacube/getarticletotaldetail":    {post, true, s.handleArticleTotalDetail},
		"/datacube/getarticleread":           {post, true, s.handleArticleRead},
		"/datacube/getarticleshare":          {post, true, s.handleArticleShare},
		"/wxa/msg_sec_check":                 {post, true, s.handleMsgSecCheck},
		"/wxa/media_check_async":             {post, true, s.handleMediaCheckAsync},
		"/wxa/getwxacodeunlimit":             {post, true, s.handleWxaCodeUnlimit},
		"/cgi-bin/menu/create":               {post, true, s.handleMenuCreate},
		"/cgi-bin/menu/get":                  {get, true, s.handleMenuGet},
		"/cgi-bin/get_current_selfmenu_info": {get, true, s.handleSelfMenuInfo},
		"/cgi-bin/menu/delete":               {both, true, s.handleMenuDelete},
		"/cgi-bin/user/info":                 {get, true, s.handleUserInfo},
		"/cgi-bin/user/info/batchget":        {post, true, s.handleUserInfoBatch},
		"/cgi-bin/user/get":                  {get, true, s.handleUserList},
		"/cgi-bin/tags/get":                  {get, true, s.handleTagsGet},
	}
}

// maxRecords bounds the recorded calls, sent messages and media checks, so
// a long-running sandbox does not grow without end; the oldest go first.
const maxRecords = 10000

// trim drops the oldest records once there are twice maxRecords.
func trim[T any](records []T) []T {
	if len(records) < 2*maxRecords {
		return records
	}
	return append(records[:0:0], records[len(records)-maxRecords:]...)
}

// record keeps a sent message; s.mu is held.
func (s *Sim) record(m SentMessage) { s.sent = trim(append(s.sent, m)) }

// nextID returns the next id of a deterministic sequence, large like
// WeChat's ids.
func (s *Sim) nextID() int64 {
	s.seq++
	return 2247483000 + s.seq
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
