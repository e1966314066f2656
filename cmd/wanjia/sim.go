package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"path/filepath"

	"wanjia/wechat/wxsim"
)

// runSim acts as WeChat towards a running server (wxsim.Main). Without
// WANJIA_OA_TOKEN / WANJIA_OA_AES_KEY / WANJIA_OA_APPID it uses the sandbox
// credentials a zero-configuration server wrote into its data dir.
func runSim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	dataDir := getenv("WANJIA_DATA_DIR")
	if dataDir == "" {
		dataDir = "data"
	}
	var secrets *sandboxSecrets
	simEnv := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		if getenv("WANJIA_OA_APPID") != "" {
			return "" // a configured server: no sandbox defaults
		}
		if secrets == nil {
			s, err := readSandboxSecrets(filepath.Join(dataDir, sandboxFile))
			if err != nil {
				return ""
			}
			secrets = &s
		}
		switch k {
		case "WANJIA_OA_TOKEN":
			return secrets.OAToken
		case "WANJIA_OA_AES_KEY":
			return secrets.OAAESKey
		case "WANJIA_OA_APPID":
			return wxsim.SandboxOAAppID
		}
		return ""
	}
	err := wxsim.Main(ctx, args, simEnv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}
