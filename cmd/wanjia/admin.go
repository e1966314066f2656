package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"wanjia/cache"
	"wanjia/config"
	"wanjia/model"
	"wanjia/service/auth"
	"wanjia/store"
)

// runAdmin handles `wanjia admin create --username U --role R[,R…]`, with
// the password read from the first line of stdin (never from the command
// line, where it would sit in the shell history and the process list).
func runAdmin(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: wanjia admin create --username U --role R[,R…] (password on stdin)")
	}
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	username := fs.String("username", "", "login name (3–32 of a-z 0-9 _ . -)")
	roles := fs.String("role", "admin", "roles, comma-separated: admin, editor, reviewer, caseworker, fair_manager")
	display := fs.String("name", "", "display name")
	mustChange := fs.Bool("must-change-password", false, "force a password change at first sign-in")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	var rs []model.Role
	for _, r := range splitList(*roles) {
		role := model.Role(r)
		if !role.Valid() {
			return fmt.Errorf("admin create: unknown role %q", r)
		}
		rs = append(rs, role)
	}
	password, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("admin create: read password: %w", err)
	}
	password = strings.TrimRight(password, "\r\n")

	if cfg.Sandbox() && cfg.SecretKey == "" {
		s, _, err := loadSandboxSecrets(cfg.DataDir)
		if err != nil {
			return err
		}
		cfg.SecretKey = s.SecretKey
	}
	keys, err := keyring(cfg)
	if err != nil {
		return err
	}
	db, closeDB, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	rdb, closeRedis, err := cache.Open(ctx, cfg.Redis.URL, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer closeRedis()
	a, err := auth.New(auth.Deps{
		Users: store.NewUsers(db), Staff: store.NewStaff(db), Audit: store.NewAudit(db),
		Sessions: cache.NewSessions(rdb, cache.SessionOptions{MPTTL: cfg.Auth.MPSessionTTL, StaffTTL: cfg.Auth.StaffSessionTTL}),
		Tx:       db, MiniProgram: noMiniProgram{}, Sealer: keys, Logger: log,
	})
	if err != nil {
		return err
	}
	st, err := a.CreateStaff(ctx, auth.NewStaff{Username: *username, DisplayName: *display, Password: password,
		Roles: rs, MustChangePassword: *mustChange})
	if err != nil {
		return fmt.Errorf("admin create: %s", describe(err))
	}
	fmt.Fprintf(stdout, "created staff #%d %s with roles %v\n", st.ID, st.Username, st.Roles)
	return nil
}

// describe renders a model error with its field messages for a terminal.
func describe(err error) string {
	var me *model.Error
	if !errors.As(err, &me) {
		return err.Error()
	}
	msg := me.Message
	keys := make([]string, 0, len(me.Fields))
	for k := range me.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		msg += fmt.Sprintf("; %s: %s", k, me.Fields[k])
	}
	return msg
}

// noMiniProgram satisfies auth's Mini Program dependency for the command
// line, which never signs Mini Program users in.
type noMiniProgram struct{}

func (noMiniProgram) Code2Session(context.Context, string) (model.WeChatSession, error) {
	return model.WeChatSession{}, errors.New("not available from the command line")
}

func (noMiniProgram) PhoneNumber(context.Context, string) (string, error) {
	return "", errors.New("not available from the command line")
}
