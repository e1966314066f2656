#!/usr/bin/env bash
# What the full middleware stack costs against a bare gin route (target:
# under 10% of throughput). Builds bench/baregin (gin.New + GET /healthz)
# and wanjia, then for ROUNDS rounds runs wrk with the same settings
# against GET /healthz of:
#   bare      bench/baregin
#   full      wanjia with zero configuration (access log at info, JSON, to a file)
#   full-nolog  wanjia with WANJIA_LOG_LEVEL=warn (no access log line)
# Each server is started alone, warmed up, measured, and stopped. The
# script prints requests/s per run, the median per server, and the
# overhead of each wanjia variant against bare. Because wrk and the server
# share the machine's cores (and other work on the machine moves
# requests/s a lot), it also prints the server's own CPU time per request
# (utime+stime from /proc/PID/stat over the measured run), which moves
# much less.
# Usage, from the repository root: bash bench/middleware.sh
#   (THREADS=2 CONNS=32 DURATION=10s WARMUP=1s ROUNDS=3)
set -euo pipefail
source bench/lib.sh
bench_init

THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
ROUNDS=${ROUNDS:-3}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 2; }

echo "== wanjia: full middleware stack against a bare gin route, GET /healthz"
machine_info
echo "wrk:      -t$THREADS -c$CONNS -d$DURATION (after a $WARMUP warm-up), $ROUNDS round(s); wrk and the server share the cores"
build_wanjia
go build -o "$BENCH_TMP/baregin" ./bench/baregin

RESULTS="$BENCH_TMP/results.txt"
: >"$RESULTS"

CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID prints the user+system CPU time of PID in clock ticks.
cpu_ticks() {
	# Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
	sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# measure NAME CMD... starts the server, warms it up, runs wrk, records
# NAME, requests/s and CPU microseconds per request, and stops it.
measure() {
	local name=$1
	shift
	start_server "$name" "$@"
	wait_ready "$SERVER_URL/healthz"
	wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$SERVER_URL/healthz" >/dev/null
	local out="$BENCH_TMP/$name.wrk" cpu0 cpu1
	cpu0=$(cpu_ticks "$SERVER_PID")
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$SERVER_URL/healthz" >"$out"
	cpu1=$(cpu_ticks "$SERVER_PID")
	local rps reqs cpu p50 p99 bad errs
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	reqs=$(awk '/requests in/ {print $1}' "$out")
	cpu=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
	p50=$(awk '$1 == "50%" {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
	errs=$(awk '/Socket errors:/ {sub(/.*Socket errors: /, ""); print}' "$out")
	stop_server
	printf '  %-11s %10s req/s   server CPU %5s us/req   p50 %-8s p99 %-8s%s%s\n' "$name" "$rps" "$cpu" "$p50" "$p99" \
		"${bad:+   NON-2xx: $bad}" "${errs:+   socket errors: $errs}"
	if [[ -n $bad || -n $errs ]]; then
		echo "wrk saw failed requests against $name; the numbers are not comparable" >&2
		return 1
	fi
	echo "$name $rps $cpu" >>"$RESULTS"
}

for ((round = 1; round <= ROUNDS; round++)); do
	echo "round $round:"
	measure bare "$BENCH_TMP/baregin" -addr 127.0.0.1:0
	measure full WANJIA_DATA_DIR="$BENCH_TMP/data-full-$round" WANJIA_HTTP_ADDR=127.0.0.1:0 "$BENCH_TMP/wanjia"
	measure full-nolog WANJIA_DATA_DIR="$BENCH_TMP/data-nolog-$round" WANJIA_HTTP_ADDR=127.0.0.1:0 \
		WANJIA_LOG_LEVEL=warn "$BENCH_TMP/wanjia"
done

echo
echo "median over $ROUNDS round(s), and overhead against bare (target: under 10% of requests/s):"
awk '
	{ v[$1] = v[$1] " " $2; c[$1] = c[$1] " " $3 }
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		bare = median(v["bare"]); bcpu = median(c["bare"])
		printf "  %-11s %10.0f req/s                      server CPU %5.1f us/req\n", "bare", bare, bcpu
		split("full full-nolog", names, " ")
		for (k = 1; k <= 2; k++) {
			m = median(v[names[k]]); mc = median(c[names[k]])
			o = (bare - m) / bare * 100
			printf "  %-11s %10.0f req/s   overhead %5.1f%% %-6s   server CPU %5.1f us/req (%+.1f us, %+.0f%%)\n",
				names[k], m, o, (o < 10 ? "met" : "MISSED"), mc, mc - bcpu, (mc - bcpu) / bcpu * 100
		}
	}' "$RESULTS"
