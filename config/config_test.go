package config_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wanjia/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const (
	key32  = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // "0123456789abcdef0123456789abcdef"
	aesKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

func production() map[string]string {
	return map[string]string{
		"WANJIA_OA_APPID": "wxoa", "WANJIA_OA_SECRET": "oasecret", "WANJIA_OA_TOKEN": "oatoken", "WANJIA_OA_AES_KEY": aesKey,
		"WANJIA_MP_APPID": "wxmp", "WANJIA_MP_SECRET": "mpsecret", "WANJIA_MP_TOKEN": "mptoken", "WANJIA_MP_AES_KEY": aesKey,
		"WANJIA_SECRET_KEY": key32,
	}
}

func TestLoadZeroConfig(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil), "")
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if !c.Sandbox() || !c.EmbeddedRedis() {
		t.Errorf("Sandbox() = %v, EmbeddedRedis() = %v, want both true", c.Sandbox(), c.EmbeddedRedis())
	}
	if c.HTTP.Addr != ":8080" || c.DB.Driver != "sqlite" || c.DB.DSN != filepath.Join("data", "wanjia.db") {
		t.Errorf("defaults = %q %q %q", c.HTTP.Addr, c.DB.Driver, c.DB.DSN)
	}
	if c.HTTP.ReadTimeout != 120*time.Second || !c.DB.MigrateOnStart {
		t.Errorf("ReadTimeout = %v, MigrateOnStart = %v", c.HTTP.ReadTimeout, c.DB.MigrateOnStart)
	}
	if c.Articles.Tick != time.Minute || c.Articles.ResultWait != 2*time.Minute {
		t.Errorf("articles tick, result wait = %v, %v, want 1m, 2m", c.Articles.Tick, c.Articles.ResultWait)
	}
}

func TestLoadEnvironmentOverrides(t *testing.T) {
	t.Parallel()
	m := production()
	m["WANJIA_HTTP_ADDR"] = "127.0.0.1:9000"
	m["WANJIA_DATA_DIR"] = "/var/lib/wanjia"
	m["WANJIA_DB_DRIVER"] = "postgres"
	m["WANJIA_DB_DSN"] = "postgres://u:p@db:5432/wanjia?sslmode=disable"
	m["WANJIA_REDIS_URL"] = "redis://:pw@redis:6379/0"
	m["WANJIA_WECHAT_API_BASE"] = "http://127.0.0.1:9999"
	m["WANJIA_DB_MAX_OPEN_CONNS"] = "50"
	m["WANJIA_HTTP_SHUTDOWN_TIMEOUT"] = "5s"
	m["WANJIA_DB_MIGRATE_ON_START"] = "false"
	c, err := config.Load(env(m), "")
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if c.Sandbox() {
		t.Error("Sandbox() = true with apps configured")
	}
	if c.HTTP.Addr != "127.0.0.1:9000" || c.DataDir != "/var/lib/wanjia" || c.DB.Driver != "postgres" ||
		c.DB.MaxOpenConns != 50 || c.HTTP.ShutdownTimeout != 5*time.Second || c.DB.MigrateOnStart ||
		c.WeChat.APIBase != "http://127.0.0.1:9999" || c.OA.AppID != "wxoa" || c.MP.Secret != "mpsecret" {
		t.Errorf("overrides not applied: %+v", c)
	}
}

func TestLoadFileAndFileEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "wanjia.yaml")
	mustWrite(t, cfgPath, "http:\n  addr: \":7000\"\ndb:\n  max_open_conns: 12\n")
	secretPath := filepath.Join(dir, "secret")
	mustWrite(t, secretPath, key32+"\n")
	c, err := config.Load(env(map[string]string{"WANJIA_SECRET_KEY_FILE": secretPath, "WANJIA_DB_MAX_OPEN_CONNS": ""}), cfgPath)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if c.HTTP.Addr != ":7000" || c.DB.MaxOpenConns != 12 || c.SecretKey != key32 {
		t.Errorf("got addr %q conns %d key %q", c.HTTP.Addr, c.DB.MaxOpenConns, c.SecretKey)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unknownKey := filepath.Join(dir, "unknown.yaml")
	mustWrite(t, unknownKey, "db:\n  drivr: mysql\n")
	tests := []struct {
		name string
		env  map[string]string
		file string
		want string // substring of the error
	}{
		{"unknown driver", map[string]string{"WANJIA_DB_DRIVER": "postgress"}, "", `WANJIA_DB_DRIVER: unknown driver "postgress"`},
		{"unknown yaml key", nil, unknownKey, "field drivr not found"},
		{"missing file", nil, filepath.Join(dir, "nope.yaml"), "config file"},
		{"malformed redis url", map[string]string{"WANJIA_REDIS_URL": "http://x"}, "", "WANJIA_REDIS_URL: unknown scheme"},
		{"sentinel without master", map[string]string{"WANJIA_REDIS_URL": "redis-sentinel://a:26379"}, "", "master name is missing"},
		{"malformed api base", map[string]string{"WANJIA_WECHAT_API_BASE": "ftp:/x"}, "", "WANJIA_WECHAT_API_BASE: malformed URL"},
		{"mysql without dsn", map[string]string{"WANJIA_DB_DRIVER": "mysql"}, "", "WANJIA_DB_DSN: missing"},
		{"mysql url dsn", map[string]string{"WANJIA_DB_DRIVER": "mysql", "WANJIA_DB_DSN": "mysql://u@h/db"}, "", "not a URL"},
		{"bad int", map[string]string{"WANJIA_DB_MAX_OPEN_CONNS": "many"}, "", "WANJIA_DB_MAX_OPEN_CONNS: not an integer"},
		{"bad duration", map[string]string{"WANJIA_HTTP_READ_TIMEOUT": "10"}, "", "not a duration"},
		{"both value and file", map[string]string{"WANJIA_SECRET_KEY": key32, "WANJIA_SECRET_KEY_FILE": "/x"}, "", "both set"},
		{"missing secret outside sandbox", without(production(), "WANJIA_OA_SECRET"), "", "WANJIA_OA_SECRET: missing outside sandbox"},
		{"missing key outside sandbox", without(production(), "WANJIA_SECRET_KEY"), "", "WANJIA_SECRET_KEY: missing outside sandbox"},
		{"short secret key", map[string]string{"WANJIA_SECRET_KEY": "c2hvcnQ="}, "", "WANJIA_SECRET_KEY: must be 32 bytes"},
		{"bad aes key", with(production(), "WANJIA_MP_AES_KEY", "short"), "", "WANJIA_MP_AES_KEY: must be 43"},
		{"only one app", map[string]string{"WANJIA_OA_APPID": "wx1"}, "", "WANJIA_MP_APPID: missing"},
		{"bad log level", map[string]string{"WANJIA_LOG_LEVEL": "loud"}, "", "WANJIA_LOG_LEVEL"},
		{"articles tick too short", map[string]string{"WANJIA_ARTICLES_TICK": "100ms"}, "", "WANJIA_ARTICLES_TICK: must be between"},
		{"no result wait", map[string]string{"WANJIA_ARTICLES_RESULT_WAIT": "0s"}, "", "WANJIA_ARTICLES_RESULT_WAIT: must be between"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(env(tt.env), tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	t.Parallel()
	m := production()
	m["WANJIA_DB_DRIVER"] = "mysql"
	m["WANJIA_DB_DSN"] = "wanjia:dbpass123@tcp(db:3306)/wanjia?parseTime=true"
	m["WANJIA_REDIS_URL"] = "rediss://user:redispass@redis:6380/1"
	c, err := config.Load(env(m), "")
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "config", c)
	out := b.String()
	for _, secret := range []string{"oasecret", "mpsecret", "oatoken", aesKey, key32, "dbpass123", "redispass"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line contains secret %q: %s", secret, out)
		}
	}
	for _, want := range []string{"wanjia:***@tcp(db:3306)", "rediss://user:***@redis:6380/1", "oa.appid=wxoa"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %q: %s", want, out)
		}
	}
}

func TestEnvNamesCoverAPIContract(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, n := range config.EnvNames() {
		names[n] = true
	}
	for _, want := range []string{
		"WANJIA_HTTP_ADDR", "WANJIA_DATA_DIR", "WANJIA_DB_DRIVER", "WANJIA_DB_DSN", "WANJIA_REDIS_URL",
		"WANJIA_WECHAT_API_BASE", "WANJIA_OA_APPID", "WANJIA_OA_SECRET", "WANJIA_OA_TOKEN", "WANJIA_OA_AES_KEY",
		"WANJIA_MP_APPID", "WANJIA_MP_SECRET", "WANJIA_MP_TOKEN", "WANJIA_MP_AES_KEY", "WANJIA_SECRET_KEY",
	} {
		if !names[want] {
			t.Errorf("EnvNames() lacks %s", want)
		}
	}
}

func FuzzLoadYAML(f *testing.F) {
	f.Add("http:\n  addr: \":1\"\n")
	f.Add("db: [1,2]\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, doc string) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(env(nil), p)
		if err == nil && c.Validate() != nil {
			t.Fatalf("Load returned a config that does not validate")
		}
	})
}

func without(m map[string]string, k string) map[string]string { delete(m, k); return m }
func with(m map[string]string, k, v string) map[string]string { m[k] = v; return m }

func mustWrite(tb testing.TB, path, s string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		tb.Fatal(err)
	}
}
