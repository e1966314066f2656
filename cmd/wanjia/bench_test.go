package main

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"wanjia/config"
)

// BenchmarkOpenApp measures openApp, the wiring part of a zero-config
// start (sandbox, SQLite, embedded Redis, WeChat clients, job runner,
// services, routes), with a fresh data dir (the SQLite file is created,
// migrated and the sandbox secrets written) and with an existing one.
// bench/startup.sh measures the whole process from exec to /readyz; this
// one can be profiled:
//
//	go test -run '^$' -bench OpenApp -benchtime 10x -cpuprofile cpu.out ./cmd/wanjia
//	go tool pprof -top -cum cpu.out
func BenchmarkOpenApp(b *testing.B) {
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	open := func(b *testing.B, dir string) {
		b.Helper()
		cfg, err := config.Load(envMap(map[string]string{"WANJIA_DATA_DIR": dir}), "")
		if err != nil {
			b.Fatalf("config.Load() = %v", err)
		}
		_, cleanup, err := openApp(ctx, cfg, log)
		if err != nil {
			b.Fatalf("openApp() = %v", err)
		}
		cleanup()
	}
	b.Run("data=fresh", func(b *testing.B) {
		parent := b.TempDir()
		for b.Loop() {
			dir, err := os.MkdirTemp(parent, "data")
			if err != nil {
				b.Fatal(err)
			}
			open(b, dir)
		}
	})
	b.Run("data=existing", func(b *testing.B) {
		dir := b.TempDir()
		open(b, dir) // creates, migrates, writes the secrets
		for b.Loop() {
			open(b, dir)
		}
	})
}
