# shellcheck shell=bash
# Helpers shared by bench/*.sh. Source it from the repository root after
# `set -euo pipefail`; call bench_init first. Everything listens on
# 127.0.0.1 only, and every process started here is stopped on exit.

# bench_init makes the scratch folder and sets the exit trap that stops
# the processes started with start_server and removes the folder.
bench_init() {
	if [[ ! -f go.mod ]] || ! grep -q '^module wanjia$' go.mod; then
		echo "run from the repository root: bash bench/$(basename "$0")" >&2
		exit 2
	fi
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wanjia-bench.XXXXXX")
	BENCH_PIDS=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

bench_cleanup() {
	local pid
	for pid in "${BENCH_PIDS[@]}"; do
		stop_pid "$pid" || true
	done
	rm -rf "$BENCH_TMP"
}

# machine_info prints what the numbers depend on.
machine_info() {
	echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "machine:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
	echo "go:       $(go version | cut -d' ' -f3-)"
	echo "load avg: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; other work on the machine skews the numbers)"
}

# build_wanjia builds the binary as the Dockerfile does (less -trimpath, so
# that it reuses the build cache of go build and go test), into $BENCH_TMP.
build_wanjia() {
	CGO_ENABLED=0 go build -ldflags "-s -w" -o "$BENCH_TMP/wanjia" ./cmd/wanjia
}

# start_server NAME CMD... starts CMD in the background with its stdout
# in $BENCH_TMP/NAME.out and stderr in $BENCH_TMP/NAME.err, waits up to
# 15 s for it to print "listening on http://ADDR", and sets SERVER_PID,
# SERVER_URL and SERVER_ERR (the stderr file). CMD is started through
# `env -i`, so only the variables given in CMD reach it (wanjia runs with
# zero configuration).
start_server() {
	local name=$1
	shift
	local out="$BENCH_TMP/$name.out" err="$BENCH_TMP/$name.err"
	env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$@" >"$out" 2>"$err" &
	SERVER_PID=$!
	SERVER_ERR=$err
	BENCH_PIDS+=("$SERVER_PID")
	SERVER_URL=""
	local deadline=$((SECONDS + 15))
	while ((SECONDS < deadline)); do
		# Only whole lines (ending in a newline) count: head drops a line
		# still being written.
		SERVER_URL=$(head -n "$(wc -l <"$out")" "$out" |
			awk '/listening on http:\/\/[0-9.:]+$/ {sub(/.*listening on /, ""); print; exit}')
		[[ -n $SERVER_URL ]] && return 0
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			echo "$name exited before listening:" >&2
			tail -n 20 "$err" >&2
			return 1
		fi
		sleep 0.01
	done
	echo "$name did not print its address within 15 s" >&2
	return 1
}

# wait_ready URL waits up to 20 s for URL to answer 200; on failure it
# prints curl's last error and the tail of the last server's stderr.
wait_ready() {
	local deadline=$((SECONDS + 20)) err=""
	while ((SECONDS < deadline)); do
		err=$(curl -fsS -o /dev/null --max-time 2 "$1" 2>&1) && return 0
		sleep 0.01
	done
	echo "$1 not ready within 20 s: $err" >&2
	[[ -n ${SERVER_ERR:-} ]] && tail -n 20 "$SERVER_ERR" >&2
	return 1
}

# stop_pid PID sends SIGTERM, waits up to 15 s, then SIGKILL.
stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 1500; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.01
	done
	echo "pid $pid still running 15 s after SIGTERM: killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# stop_server stops the server started last.
stop_server() {
	stop_pid "$SERVER_PID"
}

# status_kib PID FIELD prints a /proc/PID/status field (VmRSS, VmHWM) in KiB.
status_kib() {
	awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# mib KIB prints KIB in MiB with one decimal.
mib() {
	awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'
}
