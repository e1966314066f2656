package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"wanjia/config"
)

// sandboxSecrets are generated once into the data dir for sandbox mode, so a
// zero-configuration start keeps its sessions, encrypted fields and
// callback settings across restarts.
type sandboxSecrets struct {
	SecretKey string `json:"secret_key"`
	OAToken   string `json:"oa_token"`
	OAAESKey  string `json:"oa_aes_key"`
	MPToken   string `json:"mp_token"`
	MPAESKey  string `json:"mp_aes_key"`
}

const sandboxFile = "sandbox-secrets.json"

// readSandboxSecrets reads an existing secrets file.
func readSandboxSecrets(path string) (sandboxSecrets, error) {
	var s sandboxSecrets
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("sandbox secrets %s: %w", path, err)
	}
	return s, nil
}

// loadSandboxSecrets reads the data dir's sandbox secrets, creating them on
// first use (0600, in a 0700 folder).
func loadSandboxSecrets(dataDir string) (sandboxSecrets, bool, error) {
	path := filepath.Join(dataDir, sandboxFile)
	s, err := readSandboxSecrets(path)
	switch {
	case err == nil:
		return s, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return s, false, fmt.Errorf("sandbox secrets: %w", err)
	}
	s = sandboxSecrets{
		SecretKey: randomBase64(32, base64.StdEncoding),
		OAToken:   randomBase64(12, base64.RawURLEncoding),
		OAAESKey:  randomBase64(32, base64.RawStdEncoding), // 43 characters
		MPToken:   randomBase64(12, base64.RawURLEncoding),
		MPAESKey:  randomBase64(32, base64.RawStdEncoding),
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return s, false, fmt.Errorf("sandbox secrets: %w", err)
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another copy won the race: use its secrets
		return loadSandboxSecrets(dataDir)
	}
	if err != nil {
		return s, false, fmt.Errorf("sandbox secrets: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return s, false, fmt.Errorf("sandbox secrets: %w", err)
	}
	return s, true, f.Close()
}

func randomBase64(n int, enc *base64.Encoding) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return enc.EncodeToString(b)
}

// applySandbox fills the WeChat apps and the secret key for sandbox mode.
// serve prints the demo callback credentials on stdout (the scrubbing
// logger would hide them); `wanjia sim` reads them from the data dir.
func applySandbox(cfg *config.Config, log *slog.Logger, oaAppID, oaSecret, mpAppID, mpSecret string) error {
	s, created, err := loadSandboxSecrets(cfg.DataDir)
	if err != nil {
		return err
	}
	if cfg.SecretKey == "" {
		cfg.SecretKey = s.SecretKey
	}
	cfg.OA = config.App{AppID: oaAppID, Secret: oaSecret, Token: s.OAToken, AESKey: s.OAAESKey}
	cfg.MP = config.App{AppID: mpAppID, Secret: mpSecret, Token: s.MPToken, AESKey: s.MPAESKey}
	log.Warn("SANDBOX MODE: no WeChat app configured; every WeChat API call goes to the built-in simulator",
		"oa_appid", oaAppID, "mp_appid", mpAppID, "secrets_file", filepath.Join(cfg.DataDir, sandboxFile), "created", created)
	return nil
}
