// Package config loads wanjia's configuration: embedded defaults, then an
// optional YAML file, then the environment (API.md's names, each also as
// NAME_FILE), then Validate. It imports the standard library and yaml only.
package config

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// Config is the effective configuration. Field tags give the YAML key; the
// environment name is derived from the YAML path (WANJIA_<SECTION>_<KEY>,
// e.g. db.driver → WANJIA_DB_DRIVER). `mask` says how LogValue hides a value.
type Config struct {
	DataDir       string `yaml:"data_dir"`
	SecretKey     string `yaml:"secret_key" mask:"secret"`
	OldSecretKeys string `yaml:"old_secret_keys" mask:"secret"`

	HTTP    HTTP    `yaml:"http"`
	DB      DB      `yaml:"db"`
	Redis   Redis   `yaml:"redis"`
	WeChat  WeChat  `yaml:"wechat"`
	OA      App     `yaml:"oa"`
	MP      App     `yaml:"mp"`
	Auth    Auth    `yaml:"auth"`
	Uploads Uploads `yaml:"uploads"`
	Jobs    Jobs    `yaml:"jobs"`
	Notify  Notify  `yaml:"notify"`
	Lessons Lessons `yaml:"lessons"`
	Log     Log     `yaml:"log"`
	Cases   Cases   `yaml:"cases"`

	Articles Articles `yaml:"articles"`

	Campaigns Campaigns `yaml:"campaigns"`

	// Set by Load, not by any key.
	sandbox bool
}

// HTTP configures the listener and the middleware limits.
type HTTP struct {
	Addr            string        `yaml:"addr"`
	ConsoleOrigin   string        `yaml:"console_origin"`
	BodyLimit       int64         `yaml:"body_limit"`
	ReadTimeout     time.Duration `yaml:"read_timeout"`
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	RatePerIP       float64       `yaml:"rate_per_ip"`
	TrustedProxies  string        `yaml:"trusted_proxies"`
}

// DB configures the database.
type DB struct {
	Driver          string        `yaml:"driver"`
	DSN             string        `yaml:"dsn" mask:"dsn"`
	MaxOpenConns    int           `yaml:"max_open_conns"`
	MaxIdleConns    int           `yaml:"max_idle_conns"`
	ConnMaxLifetime time.Duration `yaml:"conn_max_lifetime"`
	MigrateOnStart  bool          `yaml:"migrate_on_start"`
	SlowQuery       time.Duration `yaml:"slow_query"`
}

// Redis configures the Redis connection; an empty URL means embedded.
type Redis struct {
	URL string `yaml:"url" mask:"url"`
}

// WeChat configures calls to the WeChat API.
type WeChat struct {
	APIBase        string        `yaml:"api_base"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	Timeout        time.Duration `yaml:"timeout"`
	CallbackWindow time.Duration `yaml:"callback_window"`
	// MessageRetention is how long the callback message log is kept.
	MessageRetention time.Duration `yaml:"message_retention"`
}

// App is one WeChat application (Official Account or Mini Program).
type App struct {
	AppID  string `yaml:"appid"`
	Secret string `yaml:"secret" mask:"secret"`
	Token  string `yaml:"token" mask:"secret"`
	AESKey string `yaml:"aes_key" mask:"secret"`
}

// Auth configures sessions and lockout.
type Auth struct {
	MPSessionTTL    time.Duration `yaml:"mp_session_ttl"`
	StaffSessionTTL time.Duration `yaml:"staff_session_ttl"`
	MPSessionCache  time.Duration `yaml:"mp_session_cache"`
	LockoutFailures int           `yaml:"lockout_failures"`
	LockoutDuration time.Duration `yaml:"lockout_duration"`
}

// Uploads configures user uploads; with no S3 endpoint they go to data_dir.
type Uploads struct {
	MaxSize     int64  `yaml:"max_size"`
	S3Endpoint  string `yaml:"s3_endpoint"`
	S3Bucket    string `yaml:"s3_bucket"`
	S3AccessKey string `yaml:"s3_access_key" mask:"secret"`
	S3SecretKey string `yaml:"s3_secret_key" mask:"secret"`
	S3UseSSL    bool   `yaml:"s3_use_ssl"`
	S3Region    string `yaml:"s3_region"`
}

// Jobs configures background work.
type Jobs struct {
	Concurrency int `yaml:"concurrency"`
}

// Notify configures the notification centre.
type Notify struct {
	RatePerApp       float64 `yaml:"rate_per_app"`
	Burst            int     `yaml:"burst"`
	QuietHours       string  `yaml:"quiet_hours"`
	MiniprogramState string  `yaml:"miniprogram_state"`
}

// Articles configures the articles area.
type Articles struct {
	// TwoPersonRule: an article is approved by an admin other than its
	// writer and submitter.
	TwoPersonRule bool `yaml:"two_person_rule"`
	// CheckOpenID is the Mini Program openid the content check
	// (msg_sec_check) runs as; empty in sandbox: the first demo user.
	CheckOpenID string `yaml:"check_openid"`
	// Tick is how often scheduled articles are published and late results
	// polled (once per cluster).
	Tick time.Duration `yaml:"tick"`
	// ResultWait is how long a publish or mass send waits for WeChat's
	// result event before the service asks WeChat (freepublish/get,
	// message/mass/get).
	ResultWait time.Duration `yaml:"result_wait"`
}

// Cases configures the 12338 rights requests: the SLA clocks, the
// working calendar they run on, and how long closed cases keep their
// personal data.
type Cases struct {
	// SLAFirstResponseHours is the first response's deadline in working
	// hours after intake.
	SLAFirstResponseHours int `yaml:"sla_first_response_hours"`
	// SLACloseDays is the closure's deadline in calendar days after intake
	// (after a reopening: after it).
	SLACloseDays int `yaml:"sla_close_days"`
	// WorkingHours is the working day, "HH:MM-HH:MM" in Asia/Shanghai.
	WorkingHours string `yaml:"working_hours"`
	// WorkingDays are the working weekdays: a range "mon-fri" or a list
	// "mon,tue,wed,thu,fri,sat".
	WorkingDays string `yaml:"working_days"`
	// Holidays are dates without working hours, "2026-10-01,2026-10-02".
	Holidays string `yaml:"holidays"`
	// Workdays are make-up working days (调休), "2026-09-20,2026-10-10":
	// working days with the normal hours whatever their weekday. No date
	// may be in both lists. Holidays and Workdays seed the calendar: once
	// staff save it (PUT /api/admin/calendar), the database's lists
	// replace both.
	Workdays string `yaml:"workdays"`
	// RetentionDays is how long after closure a case keeps its personal
	// data; then it is anonymised.
	RetentionDays int `yaml:"retention_days"`
	// SweepInterval is how often the SLA sweep (reminders, escalations,
	// notices held for her chosen hours) runs, once per cluster.
	SweepInterval time.Duration `yaml:"sweep_interval"`
}

// Lessons configures the micro-lessons.
type Lessons struct {
	// Tick is how often due scheduled lessons are published (once per
	// cluster): a lesson goes out within Tick of its time.
	Tick time.Duration `yaml:"tick"`
}

// Campaigns configures 最美家庭 (service/campaigns).
type Campaigns struct {
	// PublicURL is the public https base URL of this service, from which
	// WeChat fetches nomination photos for its media check
	// (PublicURL + "/api/files/" + key). Empty outside sandbox: photos
	// cannot be checked, so nominations with photos cannot be approved.
	PublicURL            string        `yaml:"public_url"`
	SharePage            string        `yaml:"share_page"`              // Mini Program page a share code opens
	VotesPerIPMinute     int           `yaml:"votes_per_ip_minute"`     // votes one client IP may send a minute
	VotesPerDeviceMinute int           `yaml:"votes_per_device_minute"` // votes one device (or session) may send a minute
	VoteWriters          int           `yaml:"vote_writers"`            // concurrent vote batches (group commit)
	CacheTTL             time.Duration `yaml:"cache_ttl"`               // per-copy cache of campaigns, nominations and gallery pages
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Drivers are the database drivers wanjia supports.
var Drivers = []string{"sqlite", "mysql", "postgres"}

// Load builds the configuration: embedded defaults, then the YAML file at
// path (if not empty; unknown keys are an error), then the environment read
// through getenv (empty values keep what is there; NAME_FILE reads the value
// from a file), then Validate. Errors are one line, naming the key at fault.
func Load(getenv func(string) string, path string) (*Config, error) {
	var c Config
	if err := decodeYAML(defaultsYAML, &c); err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		if err := decodeYAML(b, &c); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	var errs []error
	walk(reflect.ValueOf(&c).Elem(), "", func(f field) {
		val, ok, err := lookupEnv(getenv, f.env)
		if err != nil {
			errs = append(errs, err)
			return
		}
		if !ok {
			return
		}
		if err := f.set(val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.env, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.applyDerived()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func decodeYAML(b []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty file (io.EOF) has no keys, which is fine.
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return firstLine(err)
	}
	return nil
}

func firstLine(err error) error {
	s := err.Error()
	s = strings.ReplaceAll(s, "\n", "; ")
	return errors.New(s)
}

// lookupEnv reads name or name_FILE. Setting both is an error: nothing is
// silently preferred.
func lookupEnv(getenv func(string) string, name string) (string, bool, error) {
	v := getenv(name)
	file := getenv(name + "_FILE")
	switch {
	case file != "" && v != "":
		return "", false, fmt.Errorf("%s and %s_FILE are both set; set one", name, name)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimRight(string(b), "\r\n"), true, nil
	case v != "":
		return v, true, nil
	}
	return "", false, nil
}

// applyDerived fills values that depend on others.
func (c *Config) applyDerived() {
	c.sandbox = c.OA.AppID == "" && c.MP.AppID == ""
	if c.DB.Driver == "sqlite" && c.DB.DSN == "" {
		c.DB.DSN = filepath.Join(c.DataDir, "wanjia.db")
	}
}

// Sandbox reports whether no WeChat app is configured: WeChat calls then go
// to the built-in simulator and demo secrets are generated.
func (c *Config) Sandbox() bool { return c.sandbox }

// EmbeddedRedis reports whether Redis runs in-process.
func (c *Config) EmbeddedRedis() bool { return c.Redis.URL == "" }

// Validate checks the configuration and returns one error per problem, each
// a single line naming the environment variable.
func (c *Config) Validate() error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	if c.HTTP.Addr == "" {
		bad("WANJIA_HTTP_ADDR", "must not be empty")
	}
	if c.DataDir == "" {
		bad("WANJIA_DATA_DIR", "must not be empty")
	}
	switch c.DB.Driver {
	case "sqlite":
	case "mysql":
		if err := validMySQLDSN(c.DB.DSN); err != nil {
			bad("WANJIA_DB_DSN", "%v", err)
		}
	case "postgres":
		if err := validPostgresDSN(c.DB.DSN); err != nil {
			bad("WANJIA_DB_DSN", "%v", err)
		}
	default:
		bad("WANJIA_DB_DRIVER", "unknown driver %q (want one of %s)", c.DB.Driver, strings.Join(Drivers, ", "))
	}
	if c.DB.MaxOpenConns < 1 {
		bad("WANJIA_DB_MAX_OPEN_CONNS", "must be at least 1")
	}
	if c.DB.MaxIdleConns < 0 || c.DB.MaxIdleConns > c.DB.MaxOpenConns {
		bad("WANJIA_DB_MAX_IDLE_CONNS", "must be between 0 and max_open_conns")
	}
	if err := ValidRedisURL(c.Redis.URL); err != nil {
		bad("WANJIA_REDIS_URL", "%v", err)
	}
	if c.WeChat.APIBase != "" {
		if err := validHTTPURL(c.WeChat.APIBase); err != nil {
			bad("WANJIA_WECHAT_API_BASE", "%v", err)
		}
	}
	if c.WeChat.Timeout <= 0 || c.WeChat.ConnectTimeout <= 0 {
		bad("WANJIA_WECHAT_TIMEOUT", "timeouts must be positive")
	}
	if c.WeChat.CallbackWindow <= 0 {
		bad("WANJIA_WECHAT_CALLBACK_WINDOW", "must be positive")
	}
	if c.WeChat.MessageRetention <= 0 {
		bad("WANJIA_WECHAT_MESSAGE_RETENTION", "must be positive")
	}
	if c.HTTP.ConsoleOrigin != "" {
		if err := validHTTPURL(c.HTTP.ConsoleOrigin); err != nil {
			bad("WANJIA_HTTP_CONSOLE_ORIGIN", "%v", err)
		}
	}
	if c.HTTP.BodyLimit < 1024 {
		bad("WANJIA_HTTP_BODY_LIMIT", "must be at least 1024 bytes")
	}
	if c.HTTP.RatePerIP <= 0 {
		bad("WANJIA_HTTP_RATE_PER_IP", "must be positive")
	}
	if c.HTTP.ShutdownTimeout <= 0 {
		bad("WANJIA_HTTP_SHUTDOWN_TIMEOUT", "must be positive")
	}
	if !c.sandbox {
		for _, app := range []struct {
			name string
			App
		}{{"OA", c.OA}, {"MP", c.MP}} {
			pre := "WANJIA_" + app.name + "_"
			if app.AppID == "" {
				bad(pre+"APPID", "missing (outside sandbox both the Official Account and the Mini Program are configured)")
			}
			if app.Secret == "" {
				bad(pre+"SECRET", "missing outside sandbox")
			}
			if app.Token == "" {
				bad(pre+"TOKEN", "missing outside sandbox")
			}
			if app.AESKey == "" {
				bad(pre+"AES_KEY", "missing outside sandbox (callbacks use safe mode)")
			}
		}
		if c.SecretKey == "" {
			bad("WANJIA_SECRET_KEY", "missing outside sandbox (32 random bytes, base64)")
		}
	}
	for _, app := range []struct {
		name string
		App
	}{{"OA", c.OA}, {"MP", c.MP}} {
		if app.AESKey != "" && !validAESKey(app.AESKey) {
			bad("WANJIA_"+app.name+"_AES_KEY", "must be 43 characters of base64 (EncodingAESKey)")
		}
	}
	if c.SecretKey != "" && !valid32ByteKey(c.SecretKey) {
		bad("WANJIA_SECRET_KEY", "must be 32 bytes, base64-encoded")
	}
	for _, k := range c.OldSecretKeyList() {
		if !valid32ByteKey(k) {
			bad("WANJIA_OLD_SECRET_KEYS", "each key must be 32 bytes, base64-encoded")
			break
		}
	}
	if c.Auth.LockoutFailures < 1 || c.Auth.LockoutDuration <= 0 {
		bad("WANJIA_AUTH_LOCKOUT_FAILURES", "lockout failures and duration must be positive")
	}
	if c.Auth.MPSessionTTL <= 0 || c.Auth.StaffSessionTTL <= 0 {
		bad("WANJIA_AUTH_STAFF_SESSION_TTL", "session lifetimes must be positive")
	}
	if c.Auth.MPSessionCache < 0 || c.Auth.MPSessionCache > time.Minute {
		bad("WANJIA_AUTH_MP_SESSION_CACHE", "must be between 0 (off) and 1m")
	}
	if c.Uploads.MaxSize < 1 {
		bad("WANJIA_UPLOADS_MAX_SIZE", "must be positive")
	}
	if c.Uploads.S3Endpoint != "" && (c.Uploads.S3Bucket == "" || c.Uploads.S3AccessKey == "" || c.Uploads.S3SecretKey == "") {
		bad("WANJIA_UPLOADS_S3_BUCKET", "an S3 endpoint needs a bucket, an access key and a secret key")
	}
	if c.Notify.RatePerApp <= 0 || c.Notify.Burst < 1 {
		bad("WANJIA_NOTIFY_RATE_PER_APP", "rate and burst must be positive")
	}
	if !validQuietHours(c.Notify.QuietHours) {
		bad("WANJIA_NOTIFY_QUIET_HOURS", "want HH:MM-HH:MM or off, got %q", c.Notify.QuietHours)
	}
	switch c.Notify.MiniprogramState {
	case "", "developer", "trial", "formal":
	default:
		bad("WANJIA_NOTIFY_MINIPROGRAM_STATE", "want developer, trial or formal, got %q", c.Notify.MiniprogramState)
	}
	if c.Lessons.Tick < time.Second || c.Lessons.Tick > time.Hour {
		bad("WANJIA_LESSONS_TICK", "must be between 1s and 1h, got %v", c.Lessons.Tick)
	}
	if c.Articles.Tick < time.Second || c.Articles.Tick > time.Hour {
		bad("WANJIA_ARTICLES_TICK", "must be between 1s and 1h, got %v", c.Articles.Tick)
	}
	if c.Articles.ResultWait < time.Second || c.Articles.ResultWait > 24*time.Hour {
		bad("WANJIA_ARTICLES_RESULT_WAIT", "must be between 1s and 24h, got %v", c.Articles.ResultWait)
	}
	if c.Jobs.Concurrency < 1 {
		bad("WANJIA_JOBS_CONCURRENCY", "must be at least 1")
	}
	c.validateCases(bad)
	if c.Campaigns.PublicURL != "" {
		if err := validHTTPURL(c.Campaigns.PublicURL); err != nil {
			bad("WANJIA_CAMPAIGNS_PUBLIC_URL", "%v", err)
		}
	}
	if c.Campaigns.VotesPerIPMinute < 1 || c.Campaigns.VotesPerDeviceMinute < 1 || c.Campaigns.VoteWriters < 1 ||
		c.Campaigns.VoteWriters > 64 || c.Campaigns.CacheTTL <= 0 {
		bad("WANJIA_CAMPAIGNS_VOTES_PER_IP_MINUTE", "vote rates, writers (1–64) and cache_ttl must be positive")
	}
	if strings.HasPrefix(c.Campaigns.SharePage, "/") || strings.Contains(c.Campaigns.SharePage, "?") {
		bad("WANJIA_CAMPAIGNS_SHARE_PAGE", "a page path without a leading slash or query, got %q", c.Campaigns.SharePage)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("WANJIA_LOG_LEVEL", "unknown level %q (debug, info, warn, error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		bad("WANJIA_LOG_FORMAT", "unknown format %q (json, text)", c.Log.Format)
	}
	return errors.Join(errs...)
}

// validateCases checks the cases section.
func (c *Config) validateCases(bad func(env, format string, args ...any)) {
	cs := c.Cases
	if cs.SLAFirstResponseHours < 1 || cs.SLAFirstResponseHours > 2000 {
		bad("WANJIA_CASES_SLA_FIRST_RESPONSE_HOURS", "must be 1–2000 working hours")
	}
	if cs.SLACloseDays < 1 || cs.SLACloseDays > 3650 {
		bad("WANJIA_CASES_SLA_CLOSE_DAYS", "must be 1–3650 days")
	}
	from, to, ok := strings.Cut(cs.WorkingHours, "-")
	f, err1 := time.Parse("15:04", strings.TrimSpace(from))
	t, err2 := time.Parse("15:04", strings.TrimSpace(to))
	if !ok || err1 != nil || err2 != nil || !t.After(f) {
		bad("WANJIA_CASES_WORKING_HOURS", "want HH:MM-HH:MM with the end after the start, got %q", cs.WorkingHours)
	}
	if _, err := ParseWeekdays(cs.WorkingDays); err != nil {
		bad("WANJIA_CASES_WORKING_DAYS", "%v", err)
	}
	holidays := map[string]bool{}
	for _, list := range []struct{ env, dates string }{
		{"WANJIA_CASES_HOLIDAYS", cs.Holidays}, {"WANJIA_CASES_WORKDAYS", cs.Workdays},
	} {
		for _, d := range strings.Split(list.dates, ",") {
			if d = strings.TrimSpace(d); d == "" {
				continue
			}
			if _, err := time.Parse("2006-01-02", d); err != nil {
				bad(list.env, "want dates like 2026-10-01, got %q", d)
				break
			}
			if list.env == "WANJIA_CASES_HOLIDAYS" {
				holidays[d] = true
			} else if holidays[d] {
				bad(list.env, "%s is also in WANJIA_CASES_HOLIDAYS: a date is a holiday or a make-up working day, not both", d)
				break
			}
		}
	}
	if cs.RetentionDays < 30 {
		bad("WANJIA_CASES_RETENTION_DAYS", "must be at least 30 days")
	}
	if cs.SweepInterval < time.Second {
		bad("WANJIA_CASES_SWEEP_INTERVAL", "must be at least 1s")
	}
}

var weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseWeekdays reads working days: a range "mon-fri" (which may wrap,
// "sat-tue") or a comma-separated list "mon,tue,sat", English three-letter
// names in any case. At least one day is required.
func ParseWeekdays(s string) ([7]bool, error) {
	var days [7]bool
	day := func(name string) (int, error) {
		n := strings.ToLower(strings.TrimSpace(name))
		for i, w := range weekdayNames {
			if w == n {
				return i, nil
			}
		}
		return 0, fmt.Errorf("unknown weekday %q (want mon, tue, … sun)", name)
	}
	if a, b, ok := strings.Cut(s, "-"); ok && !strings.Contains(s, ",") {
		from, err := day(a)
		if err != nil {
			return days, err
		}
		to, err := day(b)
		if err != nil {
			return days, err
		}
		for d := from; ; d = (d + 1) % 7 {
			days[d] = true
			if d == to {
				break
			}
		}
		return days, nil
	}
	found := false
	for _, p := range strings.Split(s, ",") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		d, err := day(p)
		if err != nil {
			return days, err
		}
		days[d], found = true, true
	}
	if !found {
		return days, errors.New("no working day given (e.g. mon-fri)")
	}
	return days, nil
}

// OldSecretKeyList splits old_secret_keys.
func (c *Config) OldSecretKeyList() []string {
	var keys []string
	for _, k := range strings.Split(c.OldSecretKeys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// SlogLevel is the configured log level.
func (c *Config) SlogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.Log.Level)) // validated already
	return l
}

func validQuietHours(s string) bool {
	if s == "off" {
		return true
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return false
	}
	for _, t := range []string{from, to} {
		if _, err := time.Parse("15:04", t); err != nil {
			return false
		}
	}
	return true
}

func validAESKey(k string) bool {
	if len(k) != 43 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(k + "=")
	return err == nil && len(b) == 32
}

func valid32ByteKey(k string) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(k); err == nil && len(b) == 32 {
			return true
		}
	}
	return false
}

func validHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("malformed URL: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("malformed URL %q: want http(s)://host", s)
	}
	return nil
}

// ValidRedisURL accepts "" (embedded), redis://, rediss://,
// redis-sentinel://[user:pass@]host:port[,host:port…]/master[?db=N] and a
// cluster list "redis://host:port,redis://host:port" (or "host:port,host:port").
func ValidRedisURL(s string) error {
	if s == "" {
		return nil
	}
	if strings.HasPrefix(s, "redis-sentinel://") {
		rest := strings.TrimPrefix(s, "redis-sentinel://")
		u, err := url.Parse("redis://" + strings.SplitN(rest, ",", 2)[0])
		if err != nil || u.Host == "" {
			return fmt.Errorf("malformed sentinel URL: want redis-sentinel://host:port[,host:port]/master")
		}
		if !strings.Contains(rest, "/") || strings.HasSuffix(rest, "/") {
			return fmt.Errorf("malformed sentinel URL: the master name is missing (redis-sentinel://host:port/master)")
		}
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, "://") {
			part = "redis://" + part
		}
		u, err := url.Parse(part)
		if err != nil {
			return fmt.Errorf("malformed URL: %v", stripURL(err))
		}
		if u.Scheme != "redis" && u.Scheme != "rediss" {
			return fmt.Errorf("unknown scheme %q (want redis://, rediss://, redis-sentinel://)", u.Scheme)
		}
		if u.Host == "" {
			return fmt.Errorf("malformed URL: no host")
		}
	}
	return nil
}

// stripURL removes the URL (which may hold a password) from a url.Error.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func validMySQLDSN(dsn string) error {
	// go-sql-driver format: [user[:password]@][net[(addr)]]/dbname[?param=value]
	if dsn == "" {
		return errors.New("missing (e.g. user:pass@tcp(127.0.0.1:3306)/wanjia?parseTime=true&charset=utf8mb4)")
	}
	if strings.Contains(dsn, "://") {
		return errors.New("malformed: MySQL takes user:pass@tcp(host:3306)/db, not a URL")
	}
	if !strings.Contains(dsn, "/") {
		return errors.New("malformed: no /dbname")
	}
	return nil
}

func validPostgresDSN(dsn string) error {
	if dsn == "" {
		return errors.New("missing (e.g. postgres://user:pass@127.0.0.1:5432/wanjia?sslmode=disable)")
	}
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return fmt.Errorf("malformed URL: %v", stripURL(err))
		}
		if u.Scheme != "postgres" && u.Scheme != "postgresql" {
			return fmt.Errorf("unknown scheme %q (want postgres://)", u.Scheme)
		}
		return nil
	}
	if !strings.Contains(dsn, "=") {
		return errors.New("malformed: want postgres://… or key=value pairs")
	}
	return nil
}

// field is one leaf of Config.
type field struct {
	path string // yaml path, e.g. db.driver
	env  string
	mask string
	v    reflect.Value
}

func walk(v reflect.Value, prefix string, fn func(field)) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		key := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			walk(fv, path, fn)
			continue
		}
		fn(field{
			path: path,
			env:  "WANJIA_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_")),
			mask: sf.Tag.Get("mask"),
			v:    fv,
		})
	}
}

func (f field) set(s string) error {
	switch f.v.Interface().(type) {
	case string:
		f.v.SetString(s)
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration (e.g. 30s, 5m): %q", s)
		}
		f.v.SetInt(int64(d))
	case int, int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		f.v.SetInt(n)
	case float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
		}
		f.v.SetFloat(n)
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean (true or false): %q", s)
		}
		f.v.SetBool(b)
	default:
		return fmt.Errorf("unsupported type %s", f.v.Type())
	}
	return nil
}

func (f field) String() string {
	switch x := f.v.Interface().(type) {
	case string:
		return x
	case time.Duration:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// EnvNames lists every environment variable Load reads, in order.
func EnvNames() []string {
	var c Config
	var names []string
	walk(reflect.ValueOf(&c).Elem(), "", func(f field) { names = append(names, f.env) })
	return names
}

// LogValue renders the effective configuration with secrets masked: set
// secrets print as "***", passwords inside DSNs and URLs are replaced.
func (c *Config) LogValue() slog.Value {
	var attrs []slog.Attr
	walk(reflect.ValueOf(c).Elem(), "", func(f field) {
		attrs = append(attrs, slog.String(f.path, Mask(f.mask, f.String())))
	})
	attrs = append(attrs, slog.Bool("sandbox", c.sandbox))
	return slog.GroupValue(attrs...)
}

// Mask hides a value according to a mask kind: "secret" (all), "dsn" and
// "url" (the password only).
func Mask(kind, s string) string {
	if s == "" {
		return ""
	}
	switch kind {
	case "secret":
		return "***"
	case "url", "dsn":
		return maskPasswords(s)
	}
	return s
}

// maskPasswords hides passwords in URLs (scheme://user:pass@host),
// go-sql-driver DSNs (user:pass@tcp(…)) and key=value DSNs (password=…).
func maskPasswords(s string) string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		out = append(out, maskOne(part))
	}
	return strings.Join(out, ",")
}

func maskOne(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		head := s[:i]
		start := 0
		if j := strings.Index(head, "://"); j >= 0 {
			start = j + 3
		}
		if k := strings.Index(head[start:], ":"); k >= 0 {
			return head[:start+k+1] + "***" + s[i:]
		}
		return s
	}
	fields := strings.Fields(s)
	for i, f := range fields {
		if strings.HasPrefix(strings.ToLower(f), "password=") {
			fields[i] = "password=***"
		}
	}
	return strings.Join(fields, " ")
}
