package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"wanjia/api"
	"wanjia/cache"
	"wanjia/config"
	"wanjia/job"
	"wanjia/model"
	"wanjia/service/articles"
	"wanjia/service/articles/articleswx"
	"wanjia/service/auth"
	"wanjia/service/cases"
	"wanjia/service/fairs"
	"wanjia/service/gateway"
	"wanjia/service/gateway/adapters"
	"wanjia/service/jobs"
	"wanjia/service/lessons"
	"wanjia/service/messages"
	"wanjia/service/notify"
	"wanjia/service/notify/notifyjob"
	"wanjia/service/notify/notifyredis"
	"wanjia/service/notify/notifywx"
	"wanjia/service/protect"
	"wanjia/service/stats"
	"wanjia/service/upload"
	"wanjia/store"
	"wanjia/web"
	"wanjia/wechat"
	"wanjia/wechat/wxsim"
)

// app is the wired service: everything serve needs, built by openApp.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	handler http.Handler
	jobs    *job.Runner
	gateway *gateway.Service
	sim     *wxsim.Sim // sandbox only
}

// newLogger builds the process logger: JSON or text on stderr, with every
// WeChat secret scrubbed from messages and attributes, buffered (logBuffer)
// with warnings and errors written at once. flush writes out what waits;
// call it before the process ends.
func newLogger(cfg *config.Config, w io.Writer) (log *slog.Logger, flush func()) {
	buf := newLogBuffer(w)
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	var h slog.Handler
	if cfg.Log.Format == "text" {
		h = slog.NewTextHandler(buf, opts)
	} else {
		h = slog.NewJSONHandler(buf, opts)
	}
	return slog.New(flushHandler{Handler: wechat.NewScrubHandler(h), b: buf}), buf.Flush
}

// cleanups runs closers in reverse order.
type cleanups []func()

func (c *cleanups) add(f func()) { *c = append(*c, f) }

func (c cleanups) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// quietLibraries routes the process-global loggers of go-redis and
// silenceper (logrus) through our scrubbing logger at warning level. They
// are globals of those libraries; this is the one place that sets them.
func quietLibraries(log *slog.Logger) {
	redis.SetLogger(redisLogger{log})
	wechat.QuietSDKLogs(slogWriter{log})
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("wechat sdk: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// openDB opens the database and, when configured, migrates it.
func openDB(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.DB, func(), error) {
	db, cleanup, err := store.Open(ctx, store.Options{
		Driver: cfg.DB.Driver, DSN: cfg.DB.DSN,
		MaxOpenConns: cfg.DB.MaxOpenConns, MaxIdleConns: cfg.DB.MaxIdleConns,
		ConnMaxLifetime: cfg.DB.ConnMaxLifetime, SlowQuery: cfg.DB.SlowQuery, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	return db, cleanup, nil
}

// keyring builds the field-encryption keyring from the configuration.
func keyring(cfg *config.Config) (*protect.Keyring, error) {
	cur, err := protect.ParseKey(cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("WANJIA_SECRET_KEY: %w", err)
	}
	var old [][]byte
	for _, k := range cfg.OldSecretKeyList() {
		b, err := protect.ParseKey(k)
		if err != nil {
			return nil, fmt.Errorf("WANJIA_OLD_SECRET_KEYS: %w", err)
		}
		old = append(old, b)
	}
	return protect.NewKeyring(cur, old...)
}

// openApp opens every dependency in order and wires the service. The
// returned cleanup closes them in reverse order.
func openApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *app, _ func(), err error) {
	var closers cleanups
	defer func() {
		if err != nil {
			closers.run()
		}
	}()
	quietLibraries(log)
	a := &app{cfg: cfg, log: log}

	if cfg.Sandbox() {
		a.sim = wxsim.NewSandbox(wxsim.WithLogger(log.With("component", "wxsim")))
		closers.add(func() { _ = a.sim.Close() })
		if err := applySandbox(cfg, log, wxsim.SandboxOAAppID, wxsim.SandboxOASecret,
			wxsim.SandboxMPAppID, wxsim.SandboxMPSecret); err != nil {
			return nil, nil, err
		}
	}
	keys, err := keyring(cfg)
	if err != nil {
		return nil, nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	db, closeDB, err := openDB(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	closers.add(closeDB)
	if cfg.DB.MigrateOnStart {
		if err := db.Migrate(ctx); err != nil {
			return nil, nil, err
		}
	} else if pending, err := db.Pending(ctx); err != nil {
		return nil, nil, err
	} else if len(pending) > 0 {
		return nil, nil, fmt.Errorf("database has %d pending migration(s) and migrate_on_start is off: run `wanjia migrate`", len(pending))
	}

	rdb, closeRedis, err := cache.Open(ctx, cfg.Redis.URL, log)
	if err != nil {
		return nil, nil, err
	}
	closers.add(closeRedis)

	httpOpts := wechat.HTTPOptions{
		BaseURL: cfg.WeChat.APIBase, ConnectTimeout: cfg.WeChat.ConnectTimeout, Timeout: cfg.WeChat.Timeout,
		Registerer: reg,
	}
	if a.sim != nil && cfg.WeChat.APIBase == "" {
		httpOpts.Transport = a.sim.Transport()
	}
	wxHTTP, err := wechat.NewHTTPClient(httpOpts)
	if err != nil {
		return nil, nil, err
	}
	// silenceper reads this package variable for every call; set once here.
	util.DefaultHTTPClient = wxHTTP
	wx, err := wechat.New(wechat.Config{
		OA: wechat.App{AppID: cfg.OA.AppID, Secret: cfg.OA.Secret, Token: cfg.OA.Token, AESKey: cfg.OA.AESKey},
		MP: wechat.App{AppID: cfg.MP.AppID, Secret: cfg.MP.Secret, Token: cfg.MP.Token, AESKey: cfg.MP.AESKey},
	}, wechat.Deps{Redis: rdb, HTTP: wxHTTP, Logger: log, Registerer: reg})
	if err != nil {
		return nil, nil, err
	}

	host, _ := os.Hostname()
	a.jobs, err = job.New(rdb, job.Options{
		Logger: log, Registerer: reg, Concurrency: cfg.Jobs.Concurrency,
		ShutdownTimeout: max(cfg.HTTP.ShutdownTimeout-2*time.Second, time.Second), Instance: host,
	})
	if err != nil {
		return nil, nil, err
	}

	accounts, err := auth.New(auth.Deps{
		Users: store.NewUsers(db), Staff: store.NewStaff(db), Audit: store.NewAudit(db),
		Sessions: cache.NewSessions(rdb, cache.SessionOptions{MPTTL: cfg.Auth.MPSessionTTL, StaffTTL: cfg.Auth.StaffSessionTTL,
			MPCache: cfg.Auth.MPSessionCache}),
		Tx: db, MiniProgram: wx, Sealer: keys, Logger: log,
		LockoutFailures: cfg.Auth.LockoutFailures, LockoutDuration: cfg.Auth.LockoutDuration,
		TOTP: store.NewTOTP(db), TOTPKeys: keys,
	})
	if err != nil {
		return nil, nil, err
	}

	files, closeFiles, err := openStorage(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	closers.add(closeFiles)
	uploads := upload.NewRecords(upload.New(files, upload.Options{MaxSize: cfg.Uploads.MaxSize}), store.NewUploads(db), log)

	// The WeChat gateway: message log, notification centre, replies.
	msgStore := store.NewMessages(db)
	msgs := messages.New(msgStore, messages.Options{Logger: log, Retention: cfg.WeChat.MessageRetention})
	closers.add(func() { // after the HTTP server stopped, before the database closes
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := msgs.Close(ctx); err != nil {
			log.Warn("message log: flush at shutdown", "err", err)
		}
	})
	a.jobs.Handle(messages.RetentionTask, msgs.RunRetention)
	a.jobs.DailyAt("message-retention", "04:10", nil, messages.RetentionTask, nil)

	followers := store.NewFollowers(db)
	notices, err := notify.New(notify.Deps{
		Store: store.NewNotify(db), Users: store.NewUsers(db), Followers: followers, Messages: msgStore,
		Sender:  notifywx.New(wx, cfg.Notify.MiniprogramState),
		Limiter: notifyredis.NewLimiter(rdb, cfg.Notify.RatePerApp, cfg.Notify.Burst),
		Queue:   notifyjob.NewQueue(a.jobs), Twins: notifyredis.NewTwins(rdb, 0),
		Tx: db, Audit: accounts, Logger: log, Registerer: reg,
		Options: notify.Options{QuietHours: cfg.Notify.QuietHours,
			// A bulk push keeps ten seconds of sends (at least 2000) handed to the queue.
			FeedWindow: max(notify.DefaultFeedWindow, int(10*cfg.Notify.RatePerApp))},
	})
	if err != nil {
		return nil, nil, err
	}
	notifyjob.Register(a.jobs, notices, notifyjob.Options{})
	templates := notify.DefaultTemplates(cfg.Sandbox())
	if _, err := notices.SeedTemplates(ctx, templates); err != nil {
		return nil, nil, err
	}
	if a.sim != nil { // the simulator knows the sandbox templates
		for _, t := range templates {
			if t.MPTemplateID != "" {
				a.sim.AddTemplate(cfg.MP.AppID, t.MPTemplateID, notify.TemplateKeys(t.MPFields)...)
			}
			if t.OATemplateID != "" {
				a.sim.AddTemplate(cfg.OA.AppID, t.OATemplateID, notify.TemplateKeys(t.OAFields)...)
			}
		}
	}

	a.gateway, err = gateway.New(gateway.Deps{
		Rules: store.NewReplyRules(db), Settings: store.NewGatewaySettings(db), Followers: followers,
		Menus: store.NewMenus(db), Results: store.NewResults(db), Staff: store.NewStaff(db), Tx: db, Audit: accounts,
		Jobs: adapters.NewJobs(a.jobs), Versions: adapters.NewVersions(rdb), OA: adapters.NewOA(wx), MPCustomer: adapters.NewMP(wx),
		Notifier: notices, Consents: notices, Templates: notices, Logger: log, Registerer: reg,
	})
	if err != nil {
		return nil, nil, err
	}
	adapters.Register(a.jobs, a.gateway)

	// Job fairs: signups, waitlist promotion, reminders, check-in.
	fairSvc, err := fairs.New(fairs.Deps{Store: store.NewFairs(db).WithLine(cache.NewLines(rdb, 0)), Notifier: notices, Audit: accounts, Keys: keys, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	fairs.Register(a.jobs, fairSvc)
	a.gateway.RegisterProvider("fairs", fairSvc.Reply)

	// 最美家庭: campaigns, nominations, votes (cmd/wanjia/campaigns.go).
	campaignSvc, err := openCampaigns(ctx, campaignDeps{cfg: cfg, log: log, reg: reg, db: db, rdb: rdb, wx: wx, files: files,
		keys: keys, jobs: a.jobs, gateway: a.gateway, notifier: notices, audit: accounts})
	if err != nil {
		return nil, nil, err
	}
	closers.add(campaignSvc.Close) // runs after the HTTP server stopped, before the database closes

	// Micro-lessons: courses, subscriptions, progress, scheduled publishing
	// and the push of each new lesson to its course's subscribers.
	lessonSvc, err := lessons.New(lessons.Deps{
		Store: store.NewLessons(db), Notifier: notices, Counts: store.NewNotify(db), Audit: accounts, Tx: db,
		Queue: lessons.NewQueue(a.jobs), Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	lessons.Register(a.jobs, lessonSvc, cfg.Lessons.Tick)
	a.gateway.RegisterProvider("lessons", lessonSvc.Reply)

	// Articles: drafts, approval, publishing, result events, read counts.
	checkOpenID := cfg.Articles.CheckOpenID
	if checkOpenID == "" && a.sim != nil {
		checkOpenID = wxsim.SandboxMPOpenIDs[0]
	}
	articleSvc, err := articles.New(articles.Deps{
		Store: store.NewArticles(db), WeChat: articleswx.New(wx), Results: store.NewResults(db), Audit: accounts, Logger: log,
		Options: articles.Options{AllowSelfApproval: !cfg.Articles.TwoPersonRule, CheckOpenID: checkOpenID,
			ResultWait: cfg.Articles.ResultWait},
	})
	if err != nil {
		return nil, nil, err
	}
	articles.Register(a.jobs, articleSvc, cfg.Articles.Tick)
	a.gateway.RegisterResultSink(model.ResultPublish, articleSvc.ApplyResult)
	a.gateway.RegisterResultSink(model.ResultMass, articleSvc.ApplyResult)

	// 12338 rights requests: intake, stations, SLA sweep, retention.
	caseSvc, err := openCases(cfg, db, notices, accounts, keys, a.gateway, log, reg)
	if err != nil {
		return nil, nil, err
	}
	cases.Register(a.jobs, caseSvc, cfg.Cases.SweepInterval)

	// The staff workspace's figures: each area reports its own.
	figures, err := stats.New(stats.Deps{
		Sources: []model.FigureSource{stats.Followers(followers), campaignSvc, lessonSvc, fairSvc, caseSvc, articleSvc},
		Audit:   accounts, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}

	// The staff console, embedded.
	console, err := web.New(web.Options{})
	if err != nil {
		return nil, nil, err
	}

	srv, err := api.NewServer(api.Deps{
		Logger: log, Registry: reg, Version: versionString(),
		DB: db, Redis: rdb,
		ConsoleOrigin: cfg.HTTP.ConsoleOrigin, BodyLimit: cfg.HTTP.BodyLimit, RatePerIP: cfg.HTTP.RatePerIP,
		TrustedProxies: splitList(cfg.HTTP.TrustedProxies),
		Console:        console,
		Accounts:       accounts,
		Uploads:        uploads,
		Jobs:           jobs.New(jobInspector{a.jobs}, accounts),
		ScrubJobError:  wechat.Scrub,
		Gateway:        a.gateway,
		GatewayAdmin:   a.gateway,
		OACallback:     wechat.Endpoint{AppID: cfg.OA.AppID, Token: cfg.OA.Token, AESKey: cfg.OA.AESKey},
		MPCallback:     wechat.Endpoint{AppID: cfg.MP.AppID, Token: cfg.MP.Token, AESKey: cfg.MP.AESKey},
		CallbackWindow: cfg.WeChat.CallbackWindow,
		MessageLog:     msgs,
		Messages:       msgs,
		Notify:         notices,
		Fairs:          fairSvc,
		Articles:       articleSvc,
		Figures:        figures,
		TOTP:           accounts,
		Cases:          caseSvc,
		Lessons:        lessonSvc,
		Campaigns:      campaignSvc,
	})
	if err != nil {
		return nil, nil, err
	}
	a.handler = srv
	return a, closers.run, nil
}

// openCases builds the 12338 service from the cases section.
func openCases(cfg *config.Config, db *store.DB, n cases.Notifier, a *auth.Auth, keys *protect.Keyring,
	onDuty cases.OnDuty, log *slog.Logger, reg prometheus.Registerer) (*cases.Service, error) {
	days, err := config.ParseWeekdays(cfg.Cases.WorkingDays)
	if err != nil {
		return nil, fmt.Errorf("WANJIA_CASES_WORKING_DAYS: %w", err)
	}
	cal, err := cases.NewCalendar(cfg.Cases.WorkingHours, days, cfg.Cases.Holidays, cfg.Cases.Workdays, nil)
	if err != nil {
		return nil, fmt.Errorf("cases calendar: %w", err)
	}
	return cases.New(cases.Deps{
		Store: store.NewCases(db), Notifier: n, Audit: a, Keys: keys, Staff: store.NewStaff(db), OnDuty: onDuty, Logger: log,
		Registerer: reg,
		Options: cases.Options{
			FirstResponseHours: cfg.Cases.SLAFirstResponseHours, CloseDays: cfg.Cases.SLACloseDays, Calendar: &cal,
			Retention: time.Duration(cfg.Cases.RetentionDays) * 24 * time.Hour,
		},
	})
}

// startBackground starts the job runner and, in sandbox, points the
// simulator's callbacks at this server.
func (a *app) startBackground(ctx context.Context, addr string) error {
	if a.sim != nil {
		base := "http://" + addr
		a.sim.SetOACallback(base+"/wechat/oa/callback", a.cfg.OA.Token, a.cfg.OA.AESKey, a.cfg.OA.AppID)
		a.sim.SetMPCallback(base+"/wechat/mp/callback", a.cfg.MP.Token, a.cfg.MP.AESKey)
	}
	if err := a.jobs.Start(ctx); err != nil {
		return fmt.Errorf("start jobs: %w", err)
	}
	return nil
}

// stopBackground drains the job runner: running tasks get until the
// shutdown deadline, then asynq puts them back in the queue.
func (a *app) stopBackground() {
	a.jobs.Shutdown()
	a.gateway.Wait() // crisis alerts sent directly while the queue was down
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// openStorage opens the upload storage: S3-compatible when an endpoint is
// configured, else the data dir.
func openStorage(ctx context.Context, cfg *config.Config) (upload.Storage, func(), error) {
	if cfg.Uploads.S3Endpoint != "" {
		s3, err := upload.NewS3(upload.S3Options{
			Endpoint: cfg.Uploads.S3Endpoint, Bucket: cfg.Uploads.S3Bucket,
			AccessKey: cfg.Uploads.S3AccessKey, SecretKey: cfg.Uploads.S3SecretKey,
			UseSSL: cfg.Uploads.S3UseSSL, Region: cfg.Uploads.S3Region,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("uploads: %w", err)
		}
		pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s3.Ping(pingCtx); err != nil {
			return nil, nil, fmt.Errorf("uploads: %w", err)
		}
		return s3, func() {}, nil
	}
	local, err := upload.NewLocal(filepath.Join(cfg.DataDir, "uploads"))
	if err != nil {
		return nil, nil, fmt.Errorf("uploads: %w", err)
	}
	return local, func() { _ = local.Close() }, nil
}

// jobInspector adapts job.Runner to service/jobs (service must not import
// job; the two packages' types have the same fields).
type jobInspector struct{ r *job.Runner }

func (a jobInspector) Stats(ctx context.Context) (map[string]jobs.QueueCounts, error) {
	st, err := a.r.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]jobs.QueueCounts, len(st))
	for q, c := range st {
		out[q] = jobs.QueueCounts(c)
	}
	return out, nil
}

func (a jobInspector) Dead(ctx context.Context, limit int) ([]jobs.DeadTask, error) {
	d, err := a.r.Dead(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]jobs.DeadTask, len(d))
	for i, x := range d {
		out[i] = jobs.DeadTask(x)
	}
	return out, nil
}

func (a jobInspector) Retry(ctx context.Context, queue, id string) error {
	return a.r.Retry(ctx, queue, id)
}
