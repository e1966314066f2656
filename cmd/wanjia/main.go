// Command wanjia is the whole service: `wanjia` (serve), `wanjia migrate`,
// `wanjia admin create`, `wanjia sim` and `wanjia version`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wanjia:", err)
		os.Exit(1)
	}
}
