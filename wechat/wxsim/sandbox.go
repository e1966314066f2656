package wxsim

import (
	"fmt"
	"time"
)

// Sandbox app ids and secrets: wanjia uses them when no WeChat credentials
// are configured, and NewSandbox registers them.
const (
	SandboxOAAppID  = "wxsandboxoa0000001"
	SandboxOASecret = "sandboxoasecret00000000000000001"
	SandboxMPAppID  = "wxsandboxmp0000001"
	SandboxMPSecret = "sandboxmpsecret00000000000000001"
)

// SandboxAutoDeliver is the delay after which the sandbox pushes
// asynchronous results to the callbacks.
const SandboxAutoDeliver = 2 * time.Second

// SandboxOAOpenIDs are the demo followers of the sandbox Official Account
// (the first is the `wanjia sim` default); SandboxMPOpenIDs are the same
// people in the Mini Program (same union ids).
var (
	SandboxOAOpenIDs = [...]string{"oSandboxOAUser000000000001", "oSandboxOAUser000000000002", "oSandboxOAUser000000000003"}
	SandboxMPOpenIDs = [...]string{"oSandboxMPUser000000000001", "oSandboxMPUser000000000002", "oSandboxMPUser000000000003"}
)

// Sandbox user tags (besides WeChat's built-in 2 星标组).
const (
	SandboxTagParents    = 100 // 家长
	SandboxTagJobSeekers = 101 // 求职者
)

// sandboxWords are the words the sandbox's msg_sec_check flags.
var sandboxWords = []wordRule{
	{"赌博", SuggestRisky, LabelIllegal},
	{"色情", SuggestRisky, LabelPorn},
	{"傻逼", SuggestRisky, LabelAbuse},
	{"加微信", SuggestRisky, LabelAd},
	{"代开发票", SuggestRisky, LabelFraud},
	{"risky", SuggestRisky, LabelOther},
	{"review", SuggestReview, LabelOther},
}

// NewSandbox returns the simulator of wanjia's sandbox mode: both sandbox
// apps, three demo followers of the Official Account and the same three
// people as Mini Program users (with phone numbers), the tags 家长 and
// 求职者, lenient mode (any js_code logs in as the first Mini Program demo
// user, "sim:NAME" as a user of that name; unknown openids are accepted), generated read statistics, a
// few risky words ("赌博", "色情", "傻逼", "加微信", "代开发票", and "risky"/
// "review" for tests) and automatic delivery of asynchronous results after
// SandboxAutoDeliver. opts come last and may override any of it. Call Close
// when done.
func NewSandbox(opts ...Option) *Sim {
	base := []Option{
		WithApp(SandboxOAAppID, SandboxOASecret),
		WithApp(SandboxMPAppID, SandboxMPSecret),
		WithLenient(SandboxMPOpenIDs[0]),
		WithGeneratedStats(),
		WithAutoDeliver(SandboxAutoDeliver),
	}
	s := New(append(base, opts...)...)
	s.AddTag(SandboxOAAppID, SandboxTagParents, "家长")
	s.AddTag(SandboxOAAppID, SandboxTagJobSeekers, "求职者")
	start := s.now().AddDate(0, -3, 0)
	tags := [][]int{{SandboxTagParents}, {SandboxTagJobSeekers}, {SandboxTagParents, 2}}
	for i := range SandboxOAOpenIDs {
		union := fmt.Sprintf("uSandboxUnion00000000000%02d", i+1)
		s.AddUser(User{AppID: SandboxOAAppID, OpenID: SandboxOAOpenIDs[i], UnionID: union, Subscribed: true,
			SubscribeTime: start.AddDate(0, 0, i), TagIDs: tags[i]})
		s.AddUser(User{AppID: SandboxMPAppID, OpenID: SandboxMPOpenIDs[i], UnionID: union,
			Phone: fmt.Sprintf("1380000%04d", i+1)})
	}
	s.mu.Lock()
	s.words = append(s.words, sandboxWords...)
	s.mu.Unlock()
	return s
}
