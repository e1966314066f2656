package wxsim

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// codeTTL is the life of js_codes and phone codes.
const codeTTL = 5 * time.Minute

// User is a WeChat user as one app sees it.
type User struct {
	// AppID is the app this openid belongs to; empty means every app (handy
	// in tests that do not care).
	AppID   string
	OpenID  string
	UnionID string
	// Phone is the number getuserphonenumber returns (no country code).
	Phone       string
	CountryCode string // default "86"
	// Subscribed users follow the Official Account: user/info answers
	// subscribe=1, user/get lists them and mass sends count them.
	Subscribed     bool
	SubscribeTime  time.Time
	SubscribeScene string // default ADD_SCENE_QR_CODE
	Remark         string
	TagIDs         []int
	Language       string // default zh_CN
}

type oneTimeCode struct {
	openID  string
	appID   string // the user's app, "" for any
	phone   string
	country string
	expires time.Time
	used    bool
}

// AddUser adds or replaces a user.
func (s *Sim) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.CountryCode == "" {
		u.CountryCode = "86"
	}
	if u.Language == "" {
		u.Language = "zh_CN"
	}
	if u.SubscribeScene == "" {
		u.SubscribeScene = "ADD_SCENE_QR_CODE"
	}
	if u.Subscribed && u.SubscribeTime.IsZero() {
		u.SubscribeTime = s.now()
	}
	u.TagIDs = slices.Clone(u.TagIDs)
	s.users[u.OpenID] = &u
}

// Users returns the users the simulator knows, sorted by openid, including
// those the lenient code mode created.
func (s *Sim) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		c := *u
		c.TagIDs = slices.Clone(u.TagIDs)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.OpenID, b.OpenID) })
	return out
}

// LoginCode returns a fresh js_code for openid, as wx.login would give the
// Mini Program. jscode2session accepts it once within five minutes (40163
// when reused, 40029 when unknown or expired). The user need not exist;
// it is created (for any app) on first use.
func (s *Sim) LoginCode(openID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	pruneCodes(s.codes, s.now())
	code := randomHex(16)
	appID := ""
	if u, ok := s.users[openID]; ok {
		appID = u.AppID
	}
	s.codes[code] = &oneTimeCode{openID: openID, appID: appID, expires: s.now().Add(codeTTL)}
	return code
}

// PhoneCode returns a fresh code that getuserphonenumber exchanges once,
// within five minutes, for phone (a Chinese mobile number without country
// code; empty: the user's Phone).
func (s *Sim) PhoneCode(openID, phone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[openID]; ok && phone == "" {
		phone = u.Phone
	}
	pruneCodes(s.phoneCodes, s.now())
	code := randomHex(32)
	s.phoneCodes[code] = &oneTimeCode{openID: openID, phone: phone, country: "86", expires: s.now().Add(codeTTL)}
	return code
}

// AddTag creates (or renames) a user tag of appID.
func (s *Sim) AddTag(appID string, id int, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.apps[appID]; ok {
		a.tags[id] = name
	}
}

// pruneCodes forgets codes that expired more than an hour ago (they then
// answer 40029 instead of 40163). s.mu is held.
func pruneCodes(codes map[string]*oneTimeCode, now time.Time) {
	for k, c := range codes {
		if now.Sub(c.expires) > time.Hour {
			delete(codes, k)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// derivedOpenID is the openid the lenient mode gives an unknown js_code.
func derivedOpenID(appID, code string) string {
	h := sha1.Sum([]byte(appID + "\x00" + code))
	return "o" + base64.RawURLEncoding.EncodeToString(h[:])[:27]
}

// userOf returns the user openid if it belongs to a (or to every app); in
// lenient mode an unknown openid becomes a follower of a. s.mu is held.
func (s *Sim) userOf(a *app, openID string) (*User, bool) {
	u, ok := s.users[openID]
	if !ok && s.lenient && openID != "" {
		u = &User{AppID: a.id, OpenID: openID, CountryCode: "86", Language: "zh_CN", SubscribeScene: "ADD_SCENE_QR_CODE",
			Subscribed: true, SubscribeTime: s.now()}
		s.users[openID] = u
		return u, true
	}
	if !ok || (u.AppID != "" && u.AppID != a.id) {
		return nil, false
	}
	return u, true
}

// handleCode2Session serves GET /sns/jscode2session.
func (s *Sim) handleCode2Session(rq *request) any {
	q := rq.query
	if q.Get("grant_type") != "authorization_code" {
		return errCode(40002)
	}
	a, ok := s.apps[q.Get("appid")]
	if !ok {
		return errCode(40013)
	}
	if q.Get("secret") != a.secret {
		return &apiError{code: 40001, msg: "invalid credential, access_token is invalid or not latest (AppSecret error)"}
	}
	jsCode := q.Get("js_code")
	c, ok := s.codes[jsCode]
	switch {
	case jsCode == "":
		return errCodef(40029, "(js_code missing)")
	case !ok && s.lenient:
		openID := s.lenientOpenID
		if name, isSim := strings.CutPrefix(jsCode, "sim:"); isSim {
			name, _, _ = strings.Cut(name, ":")
			openID = derivedOpenID(a.id, name)
		} else if openID == "" {
			openID = derivedOpenID(a.id, jsCode)
		}
		if _, known := s.users[openID]; !known {
			s.users[openID] = &User{AppID: a.id, OpenID: openID, CountryCode: "86", Language: "zh_CN", SubscribeScene: "ADD_SCENE_QR_CODE"}
		}
		c = &oneTimeCode{openID: openID, appID: a.id, expires: rq.now.Add(codeTTL)}
		pruneCodes(s.codes, rq.now)
		s.codes[jsCode] = c
	case !ok:
		return errCode(40029)
	}
	switch {
	case c.used:
		return errCode(40163)
	case !rq.now.Before(c.expires), c.appID != "" && c.appID != a.id:
		return errCode(40029)
	}
	c.used = true
	if _, known := s.users[c.openID]; !known {
		s.users[c.openID] = &User{OpenID: c.openID, CountryCode: "86", Language: "zh_CN", SubscribeScene: "ADD_SCENE_QR_CODE"}
	}
	out := map[string]any{"openid": c.openID, "session_key": base64.StdEncoding.EncodeToString([]byte(randomHex(8)))}
	if u := s.users[c.openID]; u.UnionID != "" {
		out["unionid"] = u.UnionID
	}
	return out
}

// handlePhoneNumber serves POST /wxa/business/getuserphonenumber.
func (s *Sim) handlePhoneNumber(rq *request) any {
	var in struct {
		Code   string `json:"code"`
		OpenID string `json:"openid"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	c, ok := s.phoneCodes[in.Code]
	switch {
	case in.Code == "":
		return errCode(40029)
	case !ok && s.lenient:
		h := sha1.Sum([]byte(in.Code))
		phone := fmt.Sprintf("139%08d", binary.BigEndian.Uint32(h[:4])%100000000)
		if u, known := s.userOf(rq.app, in.OpenID); known && u.Phone != "" {
			phone = u.Phone
		}
		c = &oneTimeCode{openID: in.OpenID, phone: phone, country: "86", expires: rq.now.Add(codeTTL)}
		pruneCodes(s.phoneCodes, rq.now)
		s.phoneCodes[in.Code] = c
	case !ok:
		return errCode(40029)
	}
	switch {
	case c.used, !rq.now.Before(c.expires):
		return errCode(40029)
	case in.OpenID != "" && c.openID != "" && in.OpenID != c.openID:
		return errCodef(40029, "(code does not belong to openid)")
	}
	c.used = true
	phone := c.phone
	if c.country != "86" {
		phone = "+" + c.country + " " + c.phone
	}
	return map[string]any{
		"errcode": 0, "errmsg": "ok",
		"phone_info": map[string]any{
			"phoneNumber":     phone,
			"purePhoneNumber": c.phone,
			"countryCode":     c.country, // a string, as production answers and silenceper decodes
			"watermark":       map[string]any{"timestamp": rq.now.Unix(), "appid": rq.app.id},
		},
	}
}

func (s *Sim) userInfo(u *User) map[string]any {
	if !u.Subscribed {
		m := map[string]any{"subscribe": 0, "openid": u.OpenID}
		if u.UnionID != "" {
			m["unionid"] = u.UnionID
		}
		return m
	}
	tags := u.TagIDs
	if tags == nil {
		tags = []int{}
	}
	m := map[string]any{
		"subscribe":       1,
		"openid":          u.OpenID,
		"language":        u.Language,
		"subscribe_time":  u.SubscribeTime.Unix(),
		"remark":          u.Remark,
		"groupid":         0,
		"tagid_list":      tags,
		"subscribe_scene": u.SubscribeScene,
		"qr_scene":        0,
		"qr_scene_str":    "",
	}
	if u.UnionID != "" {
		m["unionid"] = u.UnionID
	}
	return m
}

// handleUserInfo serves GET /cgi-bin/user/info. Like WeChat since 2021 it
// returns no nickname or head image.
func (s *Sim) handleUserInfo(rq *request) any {
	u, ok := s.userOf(rq.app, rq.query.Get("openid"))
	if !ok {
		return errCode(40003)
	}
	return s.userInfo(u)
}

// handleUserInfoBatch serves POST /cgi-bin/user/info/batchget.
func (s *Sim) handleUserInfoBatch(rq *request) any {
	var in struct {
		UserList []struct {
			OpenID string `json:"openid"`
			Lang   string `json:"lang"`
		} `json:"user_list"`
	}
	if apiErr := rq.decode(&in); apiErr != nil {
		return apiErr
	}
	if len(in.UserList) == 0 || len(in.UserList) > 100 {
		return errCodef(40097, "(user_list must hold 1 to 100 users)")
	}
	list := make([]map[string]any, 0, len(in.UserList))
	for _, item := range in.UserList {
		u, ok := s.userOf(rq.app, item.OpenID)
		if !ok {
			return errCode(40003)
		}
		list = append(list, s.userInfo(u))
	}
	return map[string]any{"user_info_list": list}
}

// followers returns the subscribed users of a, sorted by openid.
func (s *Sim) followers(a *app) []*User {
	var out []*User
	for _, u := range s.users {
		if u.Subscribed && (u.AppID == "" || u.AppID == a.id) {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(x, y *User) int { return strings.Compare(x.OpenID, y.OpenID) })
	return out
}

// handleUserList serves GET /cgi-bin/user/get?next_openid=.
func (s *Sim) handleUserList(rq *request) any {
	all := s.followers(rq.app)
	start := 0
	if next := rq.query.Get("next_openid"); next != "" {
		i := slices.IndexFunc(all, func(u *User) bool { return u.OpenID == next })
		if i < 0 {
			return errCode(40003)
		}
		start = i + 1
	}
	end := min(start+s.userPageSize, len(all))
	ids := make([]string, 0, end-start)
	for _, u := range all[start:end] {
		ids = append(ids, u.OpenID)
	}
	out := map[string]any{"total": len(all), "count": len(ids), "next_openid": ""}
	if len(ids) > 0 {
		out["data"] = map[string]any{"openid": ids}
		out["next_openid"] = ids[len(ids)-1]
	}
	return out
}

// handleTagsGet serves GET /cgi-bin/tags/get.
func (s *Sim) handleTagsGet(rq *request) any {
	ids := make([]int, 0, len(rq.app.tags))
	for id := range rq.app.tags {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	followers := s.followers(rq.app)
	tags := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		n := 0
		for _, u := range followers {
			if slices.Contains(u.TagIDs, id) {
				n++
			}
		}
		tags = append(tags, map[string]any{"id": id, "name": rq.app.tags[id], "count": n})
	}
	return map[string]any{"tags": tags}
}
