package job

import (
	"context"
	"fmt"
	"log/slog"
)

// asynqLogger routes asynq's own log lines to slog. The server is configured
// at asynq.WarnLevel, so only warnings and errors arrive here. asynq never
// calls Fatal itself; it is logged as an error and does not exit.
type asynqLogger struct {
	log *slog.Logger
}

func (l asynqLogger) Debug(args ...any) { l.emit(slog.LevelDebug, args) }
func (l asynqLogger) Info(args ...any)  { l.emit(slog.LevelInfo, args) }
func (l asynqLogger) Warn(args ...any)  { l.emit(slog.LevelWarn, args) }
func (l asynqLogger) Error(args ...any) { l.emit(slog.LevelError, args) }
func (l asynqLogger) Fatal(args ...any) { l.emit(slog.LevelError, args) }

func (l asynqLogger) emit(level slog.Level, args []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, fmt.Sprint(args...), "component", "asynq")
}
