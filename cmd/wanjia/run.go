package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"wanjia/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `wanjia (万家): the backend of a Women's Federation on WeChat.

Usage:
  wanjia [--config FILE] [serve]     start the service (default)
  wanjia [--config FILE] migrate     apply database migrations and exit
  wanjia [--config FILE] admin create --username U --role R
                                     create a staff account (password from stdin)
  wanjia sim [flags] COMMAND …       act as WeChat towards a running server
  wanjia version                     print the version

Configuration comes from the environment (WANJIA_*, see README.md) and the
optional YAML file named by --config or WANJIA_CONFIG.
`

// run is the whole program; main only wires the process to it. Tests call
// it with their own getenv, arguments and writers.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wanjia", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	configPath := fs.String("config", getenv("WANJIA_CONFIG"), "YAML configuration file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cmd, rest := "serve", []string(nil)
	if fs.NArg() > 0 {
		cmd, rest = fs.Arg(0), fs.Args()[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "sim":
		return runSim(ctx, rest, getenv, stdout, stderr)
	}

	cfg, err := config.Load(getenv, *configPath)
	if err != nil {
		return fmt.Errorf("configuration: %w", oneLine(err))
	}
	log, flushLog := newLogger(cfg, stderr)
	defer flushLog()
	switch cmd {
	case "serve":
		if len(rest) > 0 {
			return fmt.Errorf("serve takes no arguments, got %q", rest)
		}
		return serve(ctx, cfg, log, stdout)
	case "migrate":
		return migrate(ctx, cfg, log, stdout)
	case "admin":
		return runAdmin(ctx, cfg, log, rest, stdin, stdout)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// oneLine joins a multi-error into one line, as the contract promises.
func oneLine(err error) error {
	return errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return "wanjia " + v
}

// serve runs the service until ctx ends, then shuts down in order within
// the configured shutdown timeout: stop accepting and finish requests in
// flight, drain background work, close Redis and the database.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer) error {
	start := time.Now()
	log.Info("starting", "version", versionString(), "config", cfg)
	a, cleanup, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()

	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTP.Addr, err)
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }() // exits when Shutdown is called
	if err := a.startBackground(ctx, loopback(ln.Addr())); err != nil {
		_ = srv.Close()
		return err
	}
	log.Info("ready", "addr", ln.Addr().String(), "sandbox", cfg.Sandbox(), "embedded_redis", cfg.EmbeddedRedis(),
		"startup_ms", time.Since(start).Milliseconds())
	fmt.Fprintf(stdout, "wanjia listening on http://%s\n", ln.Addr())
	if cfg.Sandbox() {
		fmt.Fprintf(stdout, "sandbox: WeChat is simulated. Demo callback credentials (sandbox only, kept in %s/%s):\n"+
			"  OA %s token %s aes_key %s\n  MP %s token %s aes_key %s\n"+
			"  act as WeChat users with: go run ./cmd/wanjia sim --help\n",
			cfg.DataDir, sandboxFile, cfg.OA.AppID, cfg.OA.Token, cfg.OA.AESKey, cfg.MP.AppID, cfg.MP.Token, cfg.MP.AESKey)
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout.String())
	deadline := time.Now().Add(cfg.HTTP.ShutdownTimeout)
	shutCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
		_ = srv.Close()
	}
	a.stopBackground()
	log.Info("stopped", "elapsed_ms", time.Since(deadline.Add(-cfg.HTTP.ShutdownTimeout)).Milliseconds())
	return nil
}

// loopback turns a listener address such as [::]:8080 into one this
// process can call (127.0.0.1:8080).
func loopback(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok && (tcp.IP == nil || tcp.IP.IsUnspecified()) {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	return addr.String()
}

func migrate(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer) error {
	db, cleanup, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()
	pending, err := db.Pending(ctx)
	if err != nil {
		return err
	}
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	if len(pending) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	} else {
		fmt.Fprintf(stdout, "applied %d migration(s): %s\n", len(pending), strings.Join(pending, ", "))
	}
	return nil
}
