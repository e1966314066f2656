#!/usr/bin/env bash
# Idle memory (target: under 60 MiB RSS). Starts wanjia with no
# configuration and a fresh data dir, waits for /readyz, stays idle IDLE,
# reads VmRSS from /proc/PID/status; then runs a short wrk load (LOAD,
# cycling through the routes in bench/mix.lua) and reads VmRSS and VmHWM
# (the peak) right after it and again after IDLE more. The Go runtime's
# own figures come from /metrics.
# Usage, from the repository root: bash bench/memory.sh  (IDLE=5 LOAD=5s)
set -euo pipefail
source bench/lib.sh
bench_init

IDLE=${IDLE:-5}
LOAD=${LOAD:-5s}
TARGET_MIB=60
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 2; }

echo "== wanjia: resident memory, zero configuration"
machine_info
build_wanjia

# go_stats prints a few Go runtime figures from /metrics, in MiB.
go_stats() {
	curl -fsS --max-time 2 "$SERVER_URL/metrics" | awk '
		$1 == "go_memstats_heap_inuse_bytes" {h = $2}
		$1 == "go_memstats_sys_bytes" {s = $2}
		$1 == "go_memstats_stack_inuse_bytes" {st = $2}
		$1 == "go_goroutines" {g = $2}
		END {printf "Go heap in use %.1f MiB, stacks %.1f MiB, obtained from the OS %.1f MiB, %d goroutines", h/1048576, st/1048576, s/1048576, g}'
}

# rss LABEL prints VmRSS (and its anonymous and file-backed parts: the
# file part is mostly the binary's own pages) and VmHWM of the server.
rss() {
	local r a f h
	r=$(status_kib "$SERVER_PID" VmRSS)
	a=$(status_kib "$SERVER_PID" RssAnon)
	f=$(status_kib "$SERVER_PID" RssFile)
	h=$(status_kib "$SERVER_PID" VmHWM)
	printf '  %-28s VmRSS %5s MiB (anon %5s, file %5s)   VmHWM %5s MiB\n' \
		"$1" "$(mib "$r")" "$(mib "$a")" "$(mib "$f")" "$(mib "$h")"
	printf '  %-28s %s\n' "" "$(go_stats)"
	LAST_RSS_KIB=$r
}

start_server wanjia WANJIA_DATA_DIR="$BENCH_TMP/data" WANJIA_HTTP_ADDR=127.0.0.1:0 "$BENCH_TMP/wanjia"
wait_ready "$SERVER_URL/readyz"
rss "ready"
sleep "$IDLE"
rss "idle ${IDLE}s after ready"
idle_kib=$LAST_RSS_KIB
echo "  load: wrk -t2 -c32 -d$LOAD, bench/mix.lua (healthz, readyz, metrics, openapi.json, mp/me, 404)"
wrk -t2 -c32 -d"$LOAD" -s bench/mix.lua "$SERVER_URL" | awk '/^Requests\/sec:/ {print "  " $0}'
rss "right after the load"
sleep "$IDLE"
rss "idle ${IDLE}s after the load"
after_kib=$LAST_RSS_KIB
stop_server

verdict() { awk -v k="$1" -v t="$TARGET_MIB" 'BEGIN {print (k / 1024 < t ? "met" : "MISSED")}'; }
echo
echo "target: idle RSS under $TARGET_MIB MiB: $(verdict "$idle_kib") ($(mib "$idle_kib") MiB idle after start, $(mib "$after_kib") MiB idle after load)"
