package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"wanjia/model"
	"wanjia/service/protect"
)

// Limits of the Mini Program profile.
const (
	MaxNicknameRunes = 32
	MaxAvatarURLLen  = 512
	maxCodeLen       = 128
)

// phoneIndexPurpose names the blind index of users' phone numbers.
const phoneIndexPurpose = "users.phone"

func phoneAAD(userID int64) string { return "users.phone:" + strconv.FormatInt(userID, 10) }

// SessionKeyAAD is the additional data the session_key of user userID is
// sealed with: a sealed key copied to another row does not open there.
func SessionKeyAAD(userID int64) string { return "users.session_key:" + strconv.FormatInt(userID, 10) }

// sessionKeyStore keeps the sealed WeChat session_key of a Mini Program
// user. The user store (store.Users) implements it; a UserStore that does
// not (a test fake) makes LoginMiniProgram keep no session_key.
type sessionKeyStore interface {
	SetUserSessionKey(ctx context.Context, id int64, sealed string) error
}

func validCode(code string) error {
	switch {
	case strings.TrimSpace(code) == "":
		return model.Invalid(map[string]string{"code": "必填"})
	case len(code) > maxCodeLen || !printableASCII(code):
		return model.Invalid(map[string]string{"code": "格式不正确"})
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// upstream makes an error from WeChat that carries no model kind an
// ErrUpstream, so it is answered 502 rather than 500.
func upstream(err error) error {
	var me *model.Error
	if errors.As(err, &me) {
		return err
	}
	return model.Wrap(model.ErrUpstream, err, "微信服务暂时不可用，请稍后再试")
}

// LoginMiniProgram signs a Mini Program user in with the code of
// wx.login: it asks WeChat for the openid (code2Session), creates the user
// on first sight, keeps the WeChat session_key sealed on the user's row
// (AES-GCM under SessionKeyAAD; it decrypts wx data later and is never
// returned or logged) and starts a Mini Program session. A missing or malformed code is
// model.ErrInvalid; WeChat's refusal of the code is whatever kind the
// client gives (ErrInvalid), WeChat down ErrUpstream.
func (a *Auth) LoginMiniProgram(ctx context.Context, code string) (model.Session, model.User, error) {
	if err := validCode(code); err != nil {
		return model.Session{}, model.User{}, err
	}
	ws, err := a.mp.Code2Session(ctx, code)
	if err != nil {
		return model.Session{}, model.User{}, fmt.Errorf("mp login: %w", upstream(err))
	}
	if ws.OpenID == "" {
		return model.Session{}, model.User{}, model.Wrap(model.ErrUpstream, errors.New("code2session: empty openid"),
			"微信服务暂时不可用，请稍后再试")
	}
	u, err := a.users.UpsertUserByOpenID(ctx, ws.OpenID, ws.UnionID)
	if err != nil {
		return model.Session{}, model.User{}, fmt.Errorf("mp login: %w", err)
	}
	if ks, ok := a.users.(sessionKeyStore); ok && ws.SessionKey != "" {
		sealed, err := a.sealer.Seal(ws.SessionKey, SessionKeyAAD(u.ID))
		if err != nil {
			return model.Session{}, model.User{}, fmt.Errorf("mp login: seal session key: %w", err)
		}
		if err := ks.SetUserSessionKey(ctx, u.ID, sealed); err != nil {
			return model.Session{}, model.User{}, fmt.Errorf("mp login: %w", err)
		}
	}
	s, err := a.sessions.CreateSession(ctx, model.SessionMP, u.ID)
	if err != nil {
		return model.Session{}, model.User{}, fmt.Errorf("mp login: %w", err)
	}
	return s, u, nil
}

// BindPhone asks WeChat for the phone number behind code (the
// getPhoneNumber button), stores it sealed with a blind index, and returns
// it masked ("138****0000").
func (a *Auth) BindPhone(ctx context.Context, userID int64, code string) (string, error) {
	if err := validCode(code); err != nil {
		return "", err
	}
	phone, err := a.mp.PhoneNumber(ctx, code)
	if err != nil {
		return "", fmt.Errorf("bind phone: %w", upstream(err))
	}
	phone = normalizePhone(phone)
	if phone == "" {
		return "", model.Wrap(model.ErrUpstream, errors.New("phone number: empty"), "微信服务暂时不可用，请稍后再试")
	}
	sealed, err := a.sealer.Seal(phone, phoneAAD(userID))
	if err != nil {
		return "", fmt.Errorf("bind phone: seal: %w", err)
	}
	if err := a.users.SetUserPhone(ctx, userID, sealed, a.sealer.BlindIndex(phone, phoneIndexPurpose)); err != nil {
		return "", fmt.Errorf("bind phone: %w", err)
	}
	return protect.MaskPhone(phone), nil
}

// normalizePhone is the canonical form sealed and indexed: digits only,
// without a +86 prefix (WeChat's purePhoneNumber form).
func normalizePhone(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	if strings.HasPrefix(strings.TrimSpace(s), "+86") || len(d) == 13 && strings.HasPrefix(d, "861") {
		d = strings.TrimPrefix(d, "86")
	}
	return d
}

// Me returns the Mini Program user, or model.ErrNotFound.
func (a *Auth) Me(ctx context.Context, userID int64) (model.User, error) {
	u, err := a.users.UserByID(ctx, userID)
	if err != nil {
		return model.User{}, fmt.Errorf("me: %w", err)
	}
	return u, nil
}

// ProfileUpdate changes a Mini Program profile; nil fields stay as they are.
type ProfileUpdate struct {
	Nickname  *string
	AvatarURL *string
}

// UpdateMe changes the user's nickname (at most 32 characters, no control
// characters) and avatar URL (https only, at most 512 bytes; "" clears it).
// Invalid values are model.ErrInvalid naming the fields.
func (a *Auth) UpdateMe(ctx context.Context, userID int64, p ProfileUpdate) (model.User, error) {
	problems := map[string]string{}
	if p.Nickname != nil {
		n := strings.TrimSpace(*p.Nickname)
		if msg := nicknameProblem(n); msg != "" {
			problems["nickname"] = msg
		}
		p.Nickname = &n
	}
	if p.AvatarURL != nil {
		u := strings.TrimSpace(*p.AvatarURL)
		if msg := avatarProblem(u); msg != "" {
			problems["avatar_url"] = msg
		}
		p.AvatarURL = &u
	}
	if err := model.Invalid(problems); err != nil {
		return model.User{}, err
	}
	u, err := a.users.UserByID(ctx, userID)
	if err != nil {
		return model.User{}, fmt.Errorf("update me: %w", err)
	}
	if p.Nickname == nil && p.AvatarURL == nil {
		return u, nil
	}
	nickname, avatar := u.Nickname, u.AvatarURL
	if p.Nickname != nil {
		nickname = *p.Nickname
	}
	if p.AvatarURL != nil {
		avatar = *p.AvatarURL
	}
	u, err = a.users.UpdateUserProfile(ctx, userID, nickname, avatar)
	if err != nil {
		return model.User{}, fmt.Errorf("update me: %w", err)
	}
	return u, nil
}

func nicknameProblem(n string) string {
	switch {
	case !utf8.ValidString(n):
		return "包含无效字符"
	case utf8.RuneCountInString(n) > MaxNicknameRunes:
		return fmt.Sprintf("不能超过 %d 个字", MaxNicknameRunes)
	}
	for _, r := range n {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return "包含无效字符"
		}
	}
	return ""
}

func avatarProblem(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > MaxAvatarURLLen {
		return fmt.Sprintf("不能超过 %d 个字符", MaxAvatarURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || !printableASCII(s) {
		return "必须是 https 链接"
	}
	return ""
}
