// Package cache holds wanjia's Redis pieces: the connection (a real Redis,
// Sentinel or Cluster, or an in-process miniredis when nothing is
// configured), locks and rate limits, and the Redis decorators of model's
// contracts. Redis holds only what can be rebuilt or may be lost.
package cache

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Client is the Redis client every package shares.
type Client = redis.UniversalClient

// Open connects to the Redis at rawURL and pings it. An empty URL starts an
// embedded in-process miniredis (not persisted, one copy of the service
// only) and says so loudly. Accepted URLs:
//
//	redis://[user:pass@]host:port[/db]            standalone
//	rediss://…                                     standalone over TLS
//	redis-sentinel://[:pass@]h1:p1,h2:p2/master[?db=N&sentinel_password=…]
//	redis://h1:p1,redis://h2:p2 (or h1:p1,h2:p2)   cluster
//
// The cleanup closes the client (and stops the embedded server).
func Open(ctx context.Context, rawURL string, log *slog.Logger) (Client, func(), error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if rawURL == "" {
		return openEmbedded(log)
	}
	c, err := newClient(rawURL)
	if err != nil {
		return nil, nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pingCtx).Err(); err != nil {
		_ = c.Close()
		return nil, nil, fmt.Errorf("redis: ping: %w", err)
	}
	return c, func() {
		if err := c.Close(); err != nil {
			log.Warn("close redis", "err", err)
		}
	}, nil
}

func newClient(rawURL string) (Client, error) {
	switch {
	case strings.HasPrefix(rawURL, "redis-sentinel://"):
		o, err := parseSentinel(rawURL)
		if err != nil {
			return nil, err
		}
		return redis.NewFailoverClient(o), nil
	case strings.Contains(rawURL, ","):
		o, err := parseCluster(rawURL)
		if err != nil {
			return nil, err
		}
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", stripURL(err))
	}
	return redis.NewClient(o), nil
}

func parseSentinel(raw string) (*redis.FailoverOptions, error) {
	rest := strings.TrimPrefix(raw, "redis-sentinel://")
	var userinfo string
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		userinfo, rest = rest[:i], rest[i+1:]
	}
	hosts, pathQuery, ok := strings.Cut(rest, "/")
	if !ok || hosts == "" {
		return nil, errors.New("redis: sentinel URL needs hosts and /master")
	}
	master, query, _ := strings.Cut(pathQuery, "?")
	if master == "" {
		return nil, errors.New("redis: sentinel URL needs a master name")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, errors.New("redis: malformed sentinel query")
	}
	o := &redis.FailoverOptions{MasterName: master, SentinelAddrs: strings.Split(hosts, ",")}
	if userinfo != "" {
		user, pass, _ := strings.Cut(userinfo, ":")
		o.Username, o.Password = user, pass
	}
	o.SentinelPassword = q.Get("sentinel_password")
	if db := q.Get("db"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil {
			return nil, errors.New("redis: sentinel db must be a number")
		}
		o.DB = n
	}
	if q.Get("tls") == "true" {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

func parseCluster(raw string) (*redis.ClusterOptions, error) {
	o := &redis.ClusterOptions{}
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, "://") {
			part = "redis://" + part
		}
		u, err := redis.ParseURL(part)
		if err != nil {
			return nil, fmt.Errorf("redis: cluster: %w", stripURL(err))
		}
		o.Addrs = append(o.Addrs, u.Addr)
		if u.Password != "" {
			o.Username, o.Password = u.Username, u.Password
		}
		if u.TLSConfig != nil {
			o.TLSConfig = u.TLSConfig
		}
	}
	return o, nil
}

// stripURL removes a URL (which may hold a password) from a url.Error.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// openEmbedded starts miniredis in-process. miniredis is made for tests:
// keys expire only when its clock is moved. A goroutine moves it with the
// wall clock every 50 ms (FastForward for TTLs, SetTime for TIME); it exits
// when the cleanup runs. (miniredis' ClockTTL does the same per command but
// lists every key each time: with thousands of queued jobs it took most of
// the CPU — bench/README.md, fan-out.)
func openEmbedded(log *slog.Logger) (Client, func(), error) {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		return nil, nil, fmt.Errorf("embedded redis: %w", err)
	}
	log.Warn("EMBEDDED REDIS: no WANJIA_REDIS_URL set; using an in-process Redis that is NOT persisted " +
		"and serves ONE copy of the service only. Set WANJIA_REDIS_URL for production.")
	stop := make(chan struct{})
	done := make(chan struct{})
	last := time.Now()
	m.SetTime(last)
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				m.SetTime(now)
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	return c, func() {
		close(stop)
		<-done
		_ = c.Close()
		m.Close()
	}, nil
}
