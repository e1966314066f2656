package gateway

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"wanjia/model"
)

// versionKey is the Redis counter that staff writes bump.
const versionKey = "gateway:rules:version"

// maxRegexInput bounds the part of a message regex rules look at.
const maxRegexInput = 2048

// rule is a rule compiled for matching.
type rule struct {
	model.ReplyRule
	norm []string         // exact/contains: the normalised keywords
	re   []*regexp.Regexp // regex: the compiled patterns
}

// snapshot is the cached rules and crisis settings of one version. It is
// never changed once published.
type snapshot struct {
	version  int64 // -1: the fallback used until the database answers
	loadedAt time.Time
	crisis   crisisMatcher

	subscribe, keyword, msgType, click, deflt []*rule
}

// modeRank orders keyword rules of equal priority: exact, contains, regex.
func modeRank(m model.KeywordMode) int {
	switch m {
	case model.KeywordExact:
		return 0
	case model.KeywordContains:
		return 1
	}
	return 2
}

// compile builds a snapshot from rules (disabled ones left out) and the
// crisis words. A rule whose pattern no longer compiles is skipped and
// reported; validation keeps such rules out of the database.
func compile(version int64, at time.Time, rules []model.ReplyRule, words []string) (*snapshot, []error) {
	snap := &snapshot{version: version, loadedAt: at, crisis: newCrisisMatcher(words)}
	var errs []error
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		c := &rule{ReplyRule: r}
		switch r.Match {
		case model.MatchSubscribe:
			snap.subscribe = append(snap.subscribe, c)
		case model.MatchKeyword:
			if r.Mode == model.KeywordRegex {
				for _, p := range r.Keywords {
					re, err := regexp.Compile(p)
					if err != nil {
						errs = append(errs, fmt.Errorf("rule %d: %w", r.ID, err))
						c = nil
						break
					}
					c.re = append(c.re, re)
				}
			} else {
				for _, k := range r.Keywords {
					if n := Normalize(k); n != "" {
						c.norm = append(c.norm, n)
					}
				}
			}
			if c != nil {
				snap.keyword = append(snap.keyword, c)
			}
		case model.MatchMsgType:
			snap.msgType = append(snap.msgType, c)
		case model.MatchClick:
			snap.click = append(snap.click, c)
		case model.MatchDefault:
			snap.deflt = append(snap.deflt, c)
		}
	}
	byPriority := func(a, b *rule) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(modeRank(a.Mode), modeRank(b.Mode)),
			cmp.Compare(a.ID, b.ID))
	}
	for _, list := range [][]*rule{snap.subscribe, snap.keyword, snap.msgType, snap.click, snap.deflt} {
		slices.SortStableFunc(list, byPriority)
	}
	return snap, errs
}

// matches reports whether a keyword rule matches a message whose
// normalised text is norm and trimmed text raw.
func (r *rule) matches(norm, raw string) bool {
	switch r.Mode {
	case model.KeywordExact:
		return slices.Contains(r.norm, norm)
	case model.KeywordContains:
		for _, k := range r.norm {
			if strings.Contains(norm, k) {
				return true
			}
		}
	case model.KeywordRegex:
		for _, re := range r.re {
			if re.MatchString(raw) {
				return true
			}
		}
	}
	return false
}

// matchMessage returns the rule that answers message m, or nil.
func (snap *snapshot) matchMessage(m model.InboundMessage) *rule {
	if hasText(m) {
		norm := Normalize(m.Content)
		raw := clipBytes(strings.TrimSpace(m.Content), maxRegexInput)
		for _, r := range snap.keyword {
			if r.matches(norm, raw) {
				return r
			}
		}
	}
	mt := strings.ToLower(m.MsgType)
	for _, r := range snap.msgType {
		if slices.Contains(r.Keywords, mt) {
			return r
		}
	}
	if len(snap.deflt) > 0 {
		return snap.deflt[0]
	}
	return nil
}

// matchClick returns the rule of menu key, or nil.
func (snap *snapshot) matchClick(key string) *rule {
	for _, r := range snap.click {
		if slices.Contains(r.Keywords, key) {
			return r
		}
	}
	return nil
}

// greeting returns the subscribe rule, or nil.
func (snap *snapshot) greeting() *rule {
	if len(snap.subscribe) > 0 {
		return snap.subscribe[0]
	}
	return nil
}

// clipBytes cuts s to at most n bytes on a rune boundary.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}

// answer is r's reply: its provider's when one is registered and answers
// in time, else the static one; nil for no rule.
func (s *Service) answer(ctx context.Context, r *rule) *model.Reply {
	if r == nil {
		return nil
	}
	if r.Provider != "" {
		if p := s.provider(r.Provider); p != nil {
			if rep := s.callProvider(ctx, r.Provider, p); rep != nil {
				return rep
			}
		}
	}
	rep := r.Reply
	rep.Articles = slices.Clone(rep.Articles)
	return &rep
}

// callProvider runs p with ProviderTimeout. A provider that ignores its
// ctx is left to finish in its goroutine (which ends when p returns); its
// answer is dropped.
func (s *Service) callProvider(ctx context.Context, name string, p Provider) *model.Reply {
	ctx, cancel := context.WithTimeout(ctx, s.d.ProviderTimeout)
	defer cancel()
	type result struct {
		rep *model.Reply
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				ch <- result{err: fmt.Errorf("panic: %v", v)}
			}
		}()
		rep, err := p(ctx)
		ch <- result{rep, err}
	}()
	select {
	case res := <-ch:
		switch {
		case res.err != nil:
			s.log.WarnContext(ctx, "gateway: provider failed; static reply used", "provider", name, "err", res.err)
		case res.rep == nil || res.rep.Kind == "":
		default:
			return res.rep
		}
	case <-ctx.Done():
		s.log.WarnContext(ctx, "gateway: provider too slow; static reply used", "provider", name)
	}
	return nil
}

// current returns the cached snapshot, checking the version counter at
// most once per RefreshInterval (one caller checks; the others go on with
// what is cached). The first call loads it.
func (s *Service) current(ctx context.Context) *snapshot {
	snap := s.snap.Load()
	if snap == nil {
		return s.loadFirst(ctx)
	}
	now := s.now().UnixNano()
	last := s.lastCheck.Load()
	if now-last < int64(s.d.RefreshInterval) && now >= last {
		return snap
	}
	if !s.lastCheck.CompareAndSwap(last, now) {
		return snap
	}
	s.check(ctx, snap)
	return s.snap.Load()
}

// Timeouts of the cache's own calls, so that a slow Redis or database
// delays at most the one request that checks.
const (
	versionTimeout = 200 * time.Millisecond
	loadTimeout    = 2 * time.Second
)

// check reloads the snapshot when the version moved, or when it cannot be
// read and the snapshot is older than StaleAfter.
func (s *Service) check(ctx context.Context, snap *snapshot) {
	vctx, cancel := context.WithTimeout(ctx, versionTimeout)
	v, err := s.d.Versions.Version(vctx, versionKey)
	cancel()
	if err != nil {
		s.warnRedis(ctx, err)
		if s.now().Sub(snap.loadedAt) < s.d.StaleAfter {
			return
		}
		v = snap.version
	} else if v == snap.version {
		return
	}
	s.reload(ctx, v, false)
}

func (s *Service) warnRedis(ctx context.Context, err error) {
	now := s.now().UnixNano()
	last := s.warned.Load()
	if now-last < int64(time.Minute) || !s.warned.CompareAndSwap(last, now) {
		return
	}
	s.log.WarnContext(ctx, "gateway: rules version unreadable; reloading from the database every "+
		s.d.StaleAfter.String(), "err", err)
}

// loadFirst loads the first snapshot. When the database does not answer
// it publishes a fallback (the default crisis words, no rules) that the
// next check replaces.
func (s *Service) loadFirst(ctx context.Context) *snapshot {
	s.loadMu.Lock()
	if snap := s.snap.Load(); snap != nil {
		s.loadMu.Unlock()
		return snap
	}
	s.loadMu.Unlock()
	s.refresh(ctx, false)
	if snap := s.snap.Load(); snap != nil {
		return snap
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if snap := s.snap.Load(); snap != nil {
		return snap
	}
	fb, _ := compile(-1, time.Time{}, nil, DefaultCrisisWords())
	s.snap.Store(fb)
	return fb
}

// refresh reads the version and reloads (see reload for force).
func (s *Service) refresh(ctx context.Context, force bool) {
	vctx, cancel := context.WithTimeout(ctx, versionTimeout)
	v, err := s.d.Versions.Version(vctx, versionKey)
	cancel()
	if err != nil {
		s.warnRedis(ctx, err)
		v = -1
	}
	s.reload(ctx, v, force)
}

// reload loads the rules and crisis settings and publishes them as
// version v. Unless forced, a snapshot of version v loaded since the last
// check is kept (callers that queued behind one reload do not repeat it).
// On failure the cached snapshot stays.
func (s *Service) reload(ctx context.Context, v int64, force bool) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if cur := s.snap.Load(); !force && cur != nil && cur.version == v && v >= 0 &&
		s.now().Sub(cur.loadedAt) < s.d.RefreshInterval {
		return
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
	defer cancel()
	rules, err := s.d.Rules.ListReplyRules(lctx)
	if err != nil {
		s.log.ErrorContext(ctx, "gateway: load reply rules failed; keeping the cached ones", "err", err)
		return
	}
	set, err := s.crisisSettings(lctx)
	if err != nil {
		s.log.ErrorContext(ctx, "gateway: load crisis settings failed; keeping the cached ones", "err", err)
		return
	}
	snap, errs := compile(v, s.now(), rules, set.Words)
	for _, err := range errs {
		s.log.ErrorContext(ctx, "gateway: reply rule skipped", "err", err)
	}
	s.snap.Store(snap)
	s.lastCheck.Store(s.now().UnixNano())
}

// changed tells every copy that the rules or settings changed, and
// reloads this copy's cache now.
func (s *Service) changed(ctx context.Context) {
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), versionTimeout)
	err := s.d.Versions.Bump(vctx, versionKey)
	cancel()
	if err != nil {
		s.log.ErrorContext(ctx, "gateway: bump rules version failed; other copies reload within "+
			s.d.StaleAfter.String(), "err", err)
	}
	s.refresh(ctx, true)
}
