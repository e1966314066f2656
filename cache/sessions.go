package cache

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"wanjia/model"
)

// tokenBytes is the entropy of a session token; its text is the unpadded
// base64url of these bytes.
const tokenBytes = 32

var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// SessionOptions configure Sessions. MPTTL and StaffTTL are the lifetimes
// of the two kinds (config auth.mp_session_ttl, auth.staff_session_ttl).
type SessionOptions struct {
	MPTTL    time.Duration
	StaffTTL time.Duration
	// MPCache keeps a Mini Program session this long in the process that
	// read it (config auth.mp_session_cache; 0: read Redis every time).
	// A session revoked through another copy stays usable on this one for
	// up to that long; through this copy it ends at once. Staff sessions
	// are never cached.
	MPCache time.Duration
	Now     func() time.Time // default time.Now
	Rand    io.Reader        // default crypto/rand
}

// Sessions implements model.SessionStore in Redis. A token is 32 random
// bytes (base64url); Redis holds only its SHA-256, as
//
//	session:<kind>:<sha256 hex>        → JSON {subject_id, kind, created, expires}, TTL = lifetime
//	session-subject:<kind>:<subject>   → sorted set of the subject's session hashes by expiry
//
// so a leaked Redis dump yields no usable token, and every session of one
// staff member can be ended at once. The kind is part of the key: a token
// issued for one kind is unknown as the other. The two keys of a session
// live in different cluster slots and are written with a plain pipeline.
//
// Lookups of concurrent requests share one pipelined round trip (batcher),
// and Mini Program sessions may be kept in process briefly (MPCache).
type Sessions struct {
	c     Client
	ttl   map[model.SessionKind]time.Duration
	now   func() time.Time
	rand  io.Reader
	batch *batcher
	local *sessionCache // nil: no cache
}

var _ model.SessionStore = (*Sessions)(nil)

// NewSessions returns the session store on c.
func NewSessions(c Client, o SessionOptions) *Sessions {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	s := &Sessions{
		c:     c,
		ttl:   map[model.SessionKind]time.Duration{model.SessionMP: o.MPTTL, model.SessionStaff: o.StaffTTL},
		now:   o.Now,
		rand:  o.Rand,
		batch: &batcher{c: c},
	}
	if o.MPCache > 0 {
		s.local = newSessionCache(o.MPCache)
	}
	return s
}

type sessionValue struct {
	SubjectID int64             `json:"subject_id"`
	Kind      model.SessionKind `json:"kind"`
	Created   time.Time         `json:"created"`
	Expires   time.Time         `json:"expires"`
}

func sessionKey(kind model.SessionKind, id string) string {
	return "session:" + string(kind) + ":" + id
}

func subjectKey(kind model.SessionKind, subjectID int64) string {
	return "session-subject:" + string(kind) + ":" + strconv.FormatInt(subjectID, 10)
}

// sessionID is the stored form of a token: its SHA-256 in hex.
func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func errSessionInvalid() error {
	return model.Coded(model.ErrUnauthenticated, "unauthenticated", "登录已失效，请重新登录")
}

func errSessionsDown(err error) error {
	return model.Wrap(model.ErrUnavailable, err, "服务暂时不可用，请稍后再试")
}

func (s *Sessions) lifetime(kind model.SessionKind) (time.Duration, error) {
	ttl, ok := s.ttl[kind]
	if !ok {
		return 0, fmt.Errorf("session: unknown kind %q", kind)
	}
	if ttl <= 0 {
		return 0, fmt.Errorf("session: no lifetime configured for %q", kind)
	}
	return ttl, nil
}

// CreateSession starts a session and returns it with its token (the only
// time the token exists outside the client). A Redis failure is
// model.ErrUnavailable.
func (s *Sessions) CreateSession(ctx context.Context, kind model.SessionKind, subjectID int64) (model.Session, error) {
	ttl, err := s.lifetime(kind)
	if err != nil {
		return model.Session{}, err
	}
	if subjectID <= 0 {
		return model.Session{}, fmt.Errorf("session: bad subject id %d", subjectID)
	}
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return model.Session{}, fmt.Errorf("session: token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now().UTC().Truncate(time.Second)
	sess := model.Session{Token: token, ID: sessionID(token), Kind: kind, SubjectID: subjectID,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	val, err := json.Marshal(sessionValue{SubjectID: subjectID, Kind: kind, Created: sess.CreatedAt, Expires: sess.ExpiresAt})
	if err != nil {
		return model.Session{}, fmt.Errorf("session: encode: %w", err)
	}
	sk := subjectKey(kind, subjectID)
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, sessionKey(kind, sess.ID), val, ttl)
		p.ZAdd(ctx, sk, redis.Z{Score: float64(sess.ExpiresAt.Unix()), Member: sess.ID})
		// Forget the subject's sessions that have expired by themselves.
		p.ZRemRangeByScore(ctx, sk, "-inf", strconv.FormatInt(now.Unix(), 10))
		// Every session of a kind lives as long, so the newest one ends last.
		p.Expire(ctx, sk, ttl)
		return nil
	})
	if err != nil {
		return model.Session{}, errSessionsDown(fmt.Errorf("session: create: %w", err))
	}
	return sess, nil
}

// wellFormedToken reports whether token can be one CreateSession made, so
// junk never reaches Redis.
func wellFormedToken(token string) bool {
	if len(token) != tokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func wellFormedID(id string) bool {
	if len(id) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// SessionByToken returns the live session of kind for token. Unknown,
// revoked, expired, malformed or of the other kind: model.ErrUnauthenticated.
// A Redis failure is model.ErrUnavailable.
func (s *Sessions) SessionByToken(ctx context.Context, kind model.SessionKind, token string) (model.Session, error) {
	if _, err := s.lifetime(kind); err != nil {
		return model.Session{}, err
	}
	if !wellFormedToken(token) {
		return model.Session{}, errSessionInvalid()
	}
	id := sessionID(token)
	now := s.now()
	cached := kind == model.SessionMP && s.local != nil
	if cached {
		if sess, ok := s.local.get(id, now); ok {
			return sess, nil
		}
	}
	get := redis.NewStringCmd(ctx, "get", sessionKey(kind, id))
	s.batch.do(ctx, get)
	raw, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return model.Session{}, errSessionInvalid()
	}
	if err != nil {
		return model.Session{}, errSessionsDown(fmt.Errorf("session: get: %w", err))
	}
	var v sessionValue
	if err := json.Unmarshal(raw, &v); err != nil || v.Kind != kind || v.SubjectID <= 0 {
		return model.Session{}, errSessionInvalid()
	}
	if !v.Expires.After(now) {
		return model.Session{}, errSessionInvalid()
	}
	sess := model.Session{ID: id, Kind: kind, SubjectID: v.SubjectID, CreatedAt: v.Created, ExpiresAt: v.Expires}
	if cached {
		s.local.put(sess, now)
	}
	return sess, nil
}

// RevokeSession ends the session with id (its hash); an unknown or
// malformed id is no error.
func (s *Sessions) RevokeSession(ctx context.Context, kind model.SessionKind, id string) error {
	if _, err := s.lifetime(kind); err != nil {
		return err
	}
	if !wellFormedID(id) {
		return nil
	}
	raw, err := s.c.GetDel(ctx, sessionKey(kind, id)).Bytes()
	s.forget(id)
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return errSessionsDown(fmt.Errorf("session: revoke: %w", err))
	}
	var v sessionValue
	if json.Unmarshal(raw, &v) == nil && v.SubjectID > 0 {
		if err := s.c.ZRem(ctx, subjectKey(kind, v.SubjectID), id).Err(); err != nil {
			return errSessionsDown(fmt.Errorf("session: revoke: %w", err))
		}
	}
	return nil
}

// RevokeSubjectSessions ends every session of subject except exceptID.
func (s *Sessions) RevokeSubjectSessions(ctx context.Context, kind model.SessionKind, subjectID int64, exceptID string) error {
	if _, err := s.lifetime(kind); err != nil {
		return err
	}
	sk := subjectKey(kind, subjectID)
	ids, err := s.c.ZRange(ctx, sk, 0, -1).Result()
	if err != nil {
		return errSessionsDown(fmt.Errorf("session: revoke all: %w", err))
	}
	var gone []any
	for _, id := range ids {
		if id != exceptID {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range gone {
			p.Del(ctx, sessionKey(kind, id.(string)))
		}
		p.ZRem(ctx, sk, gone...)
		return nil
	})
	for _, id := range gone {
		s.forget(id.(string))
	}
	if err != nil {
		return errSessionsDown(fmt.Errorf("session: revoke all: %w", err))
	}
	return nil
}

func (s *Sessions) forget(id string) {
	if s.local != nil {
		s.local.drop(id)
	}
}

// sessionCache keeps recently read sessions by id for a short time, in
// shards so concurrent requests seldom wait on one lock.
type sessionCache struct {
	ttl    time.Duration
	shards [32]sessionShard
}

type sessionShard struct {
	mu sync.Mutex
	m  map[string]cachedSession
}

type cachedSession struct {
	s     model.Session
	until time.Time
}

// sessionCacheSize bounds the cached sessions (per shard: /32).
const sessionCacheSize = 64 << 10

var sessionSeed = maphash.MakeSeed()

func newSessionCache(ttl time.Duration) *sessionCache {
	c := &sessionCache{ttl: ttl}
	for i := range c.shards {
		c.shards[i].m = map[string]cachedSession{}
	}
	return c
}

func (c *sessionCache) shard(id string) *sessionShard {
	return &c.shards[maphash.String(sessionSeed, id)%uint64(len(c.shards))]
}

func (c *sessionCache) get(id string, now time.Time) (model.Session, bool) {
	sh := c.shard(id)
	sh.mu.Lock()
	e, ok := sh.m[id]
	sh.mu.Unlock()
	if !ok || !now.Before(e.until) {
		return model.Session{}, false
	}
	return e.s, true
}

func (c *sessionCache) put(s model.Session, now time.Time) {
	until := now.Add(c.ttl)
	if s.ExpiresAt.Before(until) {
		until = s.ExpiresAt
	}
	sh := c.shard(s.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.m) >= sessionCacheSize/len(c.shards) {
		for id, e := range sh.m {
			if !now.Before(e.until) {
				delete(sh.m, id)
			}
		}
		if len(sh.m) >= sessionCacheSize/len(c.shards) {
			clear(sh.m)
		}
	}
	sh.m[s.ID] = cachedSession{s: s, until: until}
}

func (c *sessionCache) drop(id string) {
	sh := c.shard(id)
	sh.mu.Lock()
	delete(sh.m, id)
	sh.mu.Unlock()
}
