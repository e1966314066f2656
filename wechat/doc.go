// Package wechat is wanjia's adapter over silenceper/wechat v2: the
// Official Account and Mini Program clients (Client), one cluster-wide
// access_token per app id (TokenService, over stable_token and Redis),
// silenceper's cache over go-redis v9 (Cache), the HTTP client that sends
// api.weixin.qq.com calls to the configured base URL or the in-process
// simulator and measures them (NewHTTPClient), errcode handling (Errcode,
// Translate) and the removal of credentials from errors and logs (Scrub,
// ScrubError, NewScrubHandler, QuietSDKLogs).
//
// Wiring, once, in cmd: build the HTTP client with NewHTTPClient and assign
// it to silenceper's util.DefaultHTTPClient (silenceper hard-codes the host
// and its URI modifier misses the QR-code calls, so redirection happens in
// the transport); call QuietSDKLogs; then New.
package wechat
