#!/usr/bin/env bash
# What the staff console costs the server: wrk against wanjia (zero
# configuration) for
#   index   GET /console/fairs (the page, revalidated on every load)
#   asset   GET /console/assets/<version>/js/ui.js, gzip-encoded (what a browser gets)
#   asset-plain  the same without Accept-Encoding (the largest answer)
#   healthz GET /healthz, the same middleware with no body, for scale
# with the server's own CPU time per request (utime+stime over the run),
# which moves much less than requests/s on a shared machine.
# Usage, from the repository root: bash bench/console.sh
#   (THREADS=2 CONNS=32 DURATION=10s WARMUP=1s)
set -euo pipefail
source bench/lib.sh
bench_init

THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 2; }

echo "== wanjia: serving the staff console"
machine_info
echo "wrk:      -t$THREADS -c$CONNS -d$DURATION (after a $WARMUP warm-up); wrk and the server share the cores"
build_wanjia
start_server wanjia WANJIA_DATA_DIR="$BENCH_TMP/data" WANJIA_HTTP_ADDR=127.0.0.1:0 WANJIA_LOG_LEVEL=warn "$BENCH_TMP/wanjia"
wait_ready "$SERVER_URL/readyz"
ASSETS=$(curl -fsS "$SERVER_URL/console/" | sed -n 's|.*src="\(/console/assets/[0-9a-f]*\)/js/app.js".*|\1|p')
[[ -n $ASSETS ]] || { echo "no versioned assets path in /console/" >&2; exit 1; }
echo "assets:   $ASSETS; ui.js $(curl -fsS "$SERVER_URL$ASSETS/js/ui.js" | wc -c) bytes, gzip $(curl -fsS -H 'Accept-Encoding: gzip' "$SERVER_URL$ASSETS/js/ui.js" | wc -c) bytes"

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# measure NAME PATH [HEADER] runs wrk and prints requests/s, latency and
# the server's CPU microseconds per request.
measure() {
	local name=$1 path=$2 header=${3:-}
	local args=(-t"$THREADS" -c"$CONNS")
	[[ -n $header ]] && args+=(-H "$header")
	wrk "${args[@]}" -d"$WARMUP" "$SERVER_URL$path" >/dev/null
	local out="$BENCH_TMP/$name.wrk" cpu0 cpu1
	cpu0=$(cpu_ticks "$SERVER_PID")
	wrk "${args[@]}" -d"$DURATION" --latency "$SERVER_URL$path" >"$out"
	cpu1=$(cpu_ticks "$SERVER_PID")
	local rps reqs cpu p50 p99 bad
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	reqs=$(awk '/requests in/ {print $1}' "$out")
	cpu=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
	p50=$(awk '$1 == "50%" {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
	printf '  %-12s %10s req/s   server CPU %6s us/req   p50 %-8s p99 %-8s%s\n' "$name" "$rps" "$cpu" "$p50" "$p99" \
		"${bad:+   NON-2xx: $bad}"
	[[ -z $bad ]]
}

measure healthz /healthz
measure index /console/fairs "Accept-Encoding: gzip"
measure asset "$ASSETS/js/ui.js" "Accept-Encoding: gzip"
measure asset-plain "$ASSETS/js/ui.js"
