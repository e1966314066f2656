package model

import "log/slog"

// WeChatSession is what a Mini Program login (code2Session) yields.
// SessionKey is a secret (it decrypts the user's data): String and
// LogValue leave it out, so printing or logging a session never shows it.
type WeChatSession struct {
	OpenID     string
	UnionID    string // empty unless the app is bound to an Open Platform account
	SessionKey string
}

// String returns the ids only.
func (s WeChatSession) String() string {
	return "{OpenID:" + s.OpenID + " UnionID:" + s.UnionID + "}"
}

// LogValue logs the ids only.
func (s WeChatSession) LogValue() slog.Value {
	return slog.GroupValue(slog.String("openid", s.OpenID), slog.String("unionid", s.UnionID))
}
