// Package wxsim is an in-process, stateful fake of api.weixin.qq.com and a
// client that plays WeChat towards a running wanjia server.
//
// The simulator (Sim) speaks the formats of /work/shared/wechat-api.md as
// silenceper/wechat v2.1.10 decodes them: HTTP 200 for API errors, errmsg
// with a " rid: …" suffix, the access_token in the query string,
// countryCode as the string "86", publish_id as a number and
// getwxacodeunlimit answering exactly "image/jpeg". It serves wanjia's tests
// (through ServeHTTP or Transport) and its sandbox mode (NewSandbox: every
// WeChat call goes to the simulator in-process). Test-control methods
// (Fail, Delay, RevokeToken, RefuseFor, Sent, Calls, …) change or inspect
// its state; every method is safe for concurrent use.
//
// Asynchronous results (wxa_media_check for the Mini Program,
// PUBLISHJOBFINISH, MASSSENDJOBFINISH and TEMPLATESENDJOBFINISH for the
// Official Account) are pushed to callbacks set with SetMPCallback and
// SetOACallback, signed and, in safe mode, encrypted the WeChat way. They are
// delivered by FlushMediaChecks/FlushOAEvents, or after a delay with
// WithAutoDeliver.
//
// The Sender plays a WeChat user towards wanjia's Official Account callback:
// it builds, signs and encrypts the callback XML, posts it and decrypts and
// parses the passive reply. Main is the `wanjia sim` command line on top of
// it. The message crypto (Encrypt, Decrypt, Signature) is exported and
// agrees with silenceper's util package.
package wxsim
