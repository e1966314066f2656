package protect

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ParseKey decodes a master key written in base64, standard or URL alphabet,
// with or without padding; surrounding white space (a trailing newline in a
// key file) is ignored. It must decode to exactly KeySize bytes. Errors name
// the problem, never the key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("secret key: empty")
	}
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") && strings.ContainsAny(s, "+/") {
		return nil, errors.New("secret key: mixed base64 alphabets")
	}
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	key, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		// base64 errors name a byte offset, not the content.
		return nil, fmt.Errorf("secret key: not base64: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key: want %d bytes, got %d", KeySize, len(key))
	}
	return key, nil
}

// GenerateKey returns a new random master key in standard base64 with
// padding, as ParseKey reads it.
func GenerateKey() (string, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}

// LoadOrCreateKey reads the master key from the file at path or, when the
// file does not exist, creates it (mode 0600, its directory 0700) with a
// new key from GenerateKey. created reports which happened. It is meant for
// sandbox mode, where WANJIA_SECRET_KEY may be unset; outside the sandbox a
// missing key must stop the start instead. If two processes race, one
// creates the file and the other reads it.
func LoadOrCreateKey(path string) (key []byte, created bool, err error) {
	key, err = readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create key file: %w", err)
	}
	s, err := GenerateKey()
	if err != nil {
		return nil, false, err
	}
	// Write a temp file and link it into place: the key file never exists
	// half-written, and an existing one is never replaced.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return nil, false, fmt.Errorf("create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(s + "\n"); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			key, err = readKeyFile(path)
			return key, false, err
		}
		return nil, false, fmt.Errorf("create key file: %w", err)
	}
	key, err = readKeyFile(path)
	return key, err == nil, err
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	key, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}
