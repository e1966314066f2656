#!/usr/bin/env bash
# Zero-config start to ready (target: under 1 s). Builds wanjia once, then
# RUNS times starts it with no configuration and a fresh data dir (first
# start: creates the SQLite file, migrates, writes the sandbox secrets) and
# again with the dir it left; polls /readyz every 5 ms and prints the time
# from exec to the first 200, and the time from SIGTERM to exit.
# Usage, from the repository root: bash bench/startup.sh  (RUNS=10)
set -euo pipefail
source bench/lib.sh
bench_init

RUNS=${RUNS:-10}

echo "== wanjia: zero-config start to ready"
machine_info
build_wanjia
go build -o "$BENCH_TMP/startup" ./bench/startup

# In the background so that the trap can stop it (and it its child).
"$BENCH_TMP/startup" -bin "$BENCH_TMP/wanjia" -runs "$RUNS" -interval 5ms -dir "$BENCH_TMP" &
BENCH_PIDS+=("$!")
wait "$!"
