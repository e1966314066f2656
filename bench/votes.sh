#!/usr/bin/env bash
# 最美家庭 votes and gallery through HTTP (issue 4's targets): at least
# 5,000 accepted votes/s with the limits enforced, p99 under 50 ms, and at
# least 40% of a bare gin route's throughput; gallery reads from cache at
# least 60% of it. For each database in BACKENDS (sqlite, mysql):
#   1. wanjia in sandbox mode on that database and a real redis-server
#      (started here, no persistence), the generic per-IP API limit and the
#      per-IP vote limit raised (all load comes from 127.0.0.1), the
#      per-device vote limit at 120 a minute, every other rule on;
#   2. bench/votes setup: a campaign (50 votes a day, 1 per family), 100
#      approved nominations, SESSIONS signed-in voters (sandbox logins);
#   3. wrk with the same settings against GET /healthz of bench/baregin
#      (the baseline), then POST /api/mp/nominations/:id/votes
#      (bench/votes/votes.lua: every request a new voter/family pair, so
#      each is a vote the rules accept), then the gallery
#      (bench/votes/gallery.lua), reporting requests/s, accepted votes/s,
#      p50/p99, and the CPU time per request of wanjia and redis-server;
#   4. checks: a short vote run with FLUSHALL in the middle; a run of
#      `bench/votes acked` killed with kill -9 halfway, wanjia restarted;
#      then `bench/votes verify`: every acknowledged vote is in the ledger,
#      no limit broken, counts = ledger = leaderboard.
# Usage, from the repository root: bash bench/votes.sh
#   (THREADS=2 CONNS=64 DURATION=10s WARMUP=2s SESSIONS=10000 BACKENDS="sqlite mysql"
#    MYSQL_DSN='root@tcp(127.0.0.1:3306)/' WRITERS_SQLITE=1 WRITERS_MYSQL=4)
set -euo pipefail
source bench/lib.sh
bench_init

THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
SESSIONS=${SESSIONS:-10000}
BACKENDS=${BACKENDS:-sqlite mysql}
MYSQL_DSN=${MYSQL_DSN:-root@tcp(127.0.0.1:3306)/}
WRITERS_SQLITE=${WRITERS_SQLITE:-1}
WRITERS_MYSQL=${WRITERS_MYSQL:-4}
for c in wrk redis-server redis-cli; do
	command -v "$c" >/dev/null || { echo "$c is not installed (apt-get install -y wrk redis-server)" >&2; exit 2; }
done

echo "== wanjia: 最美家庭 votes and gallery through HTTP against a bare gin route"
machine_info
echo "wrk:      -t$THREADS -c$CONNS -d$DURATION (after a $WARMUP warm-up); $SESSIONS voters; backends: $BACKENDS"
build_wanjia
go build -o "$BENCH_TMP/baregin" ./bench/baregin
go build -o "$BENCH_TMP/votes" ./bench/votes

REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no >"$BENCH_TMP/redis.log" 2>&1 &
REDIS_PID=$!
BENCH_PIDS+=("$REDIS_PID")
for ((i = 0; i < 500; i++)); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.01; done
echo "redis:    $(redis-server --version | cut -d' ' -f3) on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# wrk_run NAME URL [wrk args...]: runs wrk with --latency into
# $BENCH_TMP/NAME.wrk and sets RPS, REQS, NON2XX, P50, P99, ERRS, and
# CPU_W/CPU_R (µs of wanjia's and redis's CPU a request; WANJIA_PID).
wrk_run() {
	local name=$1 url=$2
	shift 2
	local out="$BENCH_TMP/$name.wrk" w0=0 w1=0 r0 r1
	[[ -n ${WANJIA_PID:-} ]] && w0=$(cpu_ticks "$WANJIA_PID")
	r0=$(cpu_ticks "$REDIS_PID")
	wrk -t"$THREADS" -c"$CONNS" --latency "$@" "$url" >"$out"
	[[ -n ${WANJIA_PID:-} ]] && w1=$(cpu_ticks "$WANJIA_PID")
	r1=$(cpu_ticks "$REDIS_PID")
	RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	REQS=$(awk '/requests in/ {print $1}' "$out")
	NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
	NON2XX=${NON2XX:-0}
	ERRS=$(awk '/Socket errors:/ {sub(/.*Socket errors: /, ""); print}' "$out")
	P50=$(awk '$1 == "50%" {print $2}' "$out")
	P99=$(awk '$1 == "99%" {print $2}' "$out")
	CPU_W=$(awk -v t=$((w1 - w0)) -v hz="$CLK_TCK" -v n="$REQS" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
	CPU_R=$(awk -v t=$((r1 - r0)) -v hz="$CLK_TCK" -v n="$REQS" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
}

# batch_stats prints the sum and count of wanjia's vote batch sizes.
batch_stats() {
	curl -fsS "$WANJIA_URL/metrics" | awk '/^wanjia_campaign_vote_batch_size_sum/ {s=$2} /^wanjia_campaign_vote_batch_size_count/ {c=$2} END {print s+0, c+0}'
}

start_wanjia() {
	start_server "wanjia-$BACKEND" "${WANJIA_ENV[@]}" "$BENCH_TMP/wanjia"
	WANJIA_PID=$SERVER_PID
	WANJIA_URL=$SERVER_URL
	wait_ready "$WANJIA_URL/readyz"
}

SUMMARY="$BENCH_TMP/summary.txt"
: >"$SUMMARY"
STAFF="benchjudge:Bench-Judge-Passw0rd-1"

for BACKEND in $BACKENDS; do
	echo
	echo "---- $BACKEND"
	redis-cli -p "$REDIS_PORT" flushall >/dev/null
	DATA="$BENCH_TMP/data-$BACKEND"
	DIR="$BENCH_TMP/votes-$BACKEND"
	mkdir -p "$DATA" "$DIR"
	WANJIA_ENV=(WANJIA_DATA_DIR="$DATA" WANJIA_HTTP_ADDR=127.0.0.1:0 WANJIA_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
		WANJIA_HTTP_RATE_PER_IP=100000000 WANJIA_CAMPAIGNS_VOTES_PER_IP_MINUTE=100000000
		WANJIA_CAMPAIGNS_VOTES_PER_DEVICE_MINUTE=120)
	case $BACKEND in
	sqlite)
		DRIVER=sqlite DSN="$DATA/wanjia.db"
		WANJIA_ENV+=(WANJIA_CAMPAIGNS_VOTE_WRITERS="$WRITERS_SQLITE")
		;;
	mysql)
		DB_NAME="wanjia_bench_votes_$RANDOM$RANDOM"
		mysql -h 127.0.0.1 -uroot -e "CREATE DATABASE $DB_NAME CHARACTER SET utf8mb4"
		trap 'mysql -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS '"$DB_NAME"'" >/dev/null 2>&1 || true; bench_cleanup' EXIT
		DRIVER=mysql DSN="${MYSQL_DSN}${DB_NAME}?parseTime=true&interpolateParams=true"
		WANJIA_ENV+=(WANJIA_DB_DRIVER=mysql WANJIA_DB_DSN="$DSN" WANJIA_CAMPAIGNS_VOTE_WRITERS="$WRITERS_MYSQL")
		;;
	*)
		echo "unknown backend $BACKEND (sqlite, mysql)" >&2
		exit 2
		;;
	esac
	env -i PATH="$PATH" HOME="${HOME:-/tmp}" "${WANJIA_ENV[@]}" "$BENCH_TMP/wanjia" admin create --username "${STAFF%%:*}" \
		--role reviewer <<<"${STAFF#*:}" >"$BENCH_TMP/admin-$BACKEND.out" 2>&1
	start_wanjia
	"$BENCH_TMP/votes" setup -base "$WANJIA_URL" -staff "$STAFF" -dir "$DIR" -sessions "$SESSIONS"
	TOKEN=$(head -n 1 "$DIR/tokens")

	# Baseline: bare gin, same wrk settings, a header of the same size.
	# Static: wrk sends one request over and over (its fastest mode). As
	# wrk drives wanjia: a Lua request() with the voters' headers in turn
	# (bench/votes/bare.lua), the same load-generator work as the gallery
	# and vote runs; the ratios are taken against this one.
	stop_pid "$WANJIA_PID"
	start_server baregin "$BENCH_TMP/baregin" -addr 127.0.0.1:0
	BARE_PID=$SERVER_PID
	WANJIA_PID=$BARE_PID # wrk_run's CPU_W: the bare server's CPU
	wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$SERVER_URL/healthz" >/dev/null
	wrk_run "bare-static-$BACKEND" "$SERVER_URL/healthz" -d"$DURATION" -H "Authorization: Bearer $TOKEN"
	printf '  %-22s %9s req/s                      p50 %-8s p99 %-8s  CPU %s µs/req (static request)\n' "bare gin /healthz" "$RPS" "$P50" "$P99" "$CPU_W"
	VOTES_DIR=$DIR wrk_run "bare-$BACKEND" "$SERVER_URL" -d"$DURATION" -s bench/votes/bare.lua
	BARE_RPS=$RPS
	printf '  %-22s %9s req/s                      p50 %-8s p99 %-8s  CPU %s µs/req (bare.lua: the baseline of the ratios)\n' "bare gin /healthz" "$RPS" "$P50" "$P99" "$CPU_W"
	WANJIA_PID=""
	stop_pid "$BARE_PID"
	start_wanjia

	# Votes: warm-up, then the measured run.
	USED=0
	VOTES_DIR=$DIR THREADS=$THREADS OFFSET=$USED wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s bench/votes/votes.lua \
		"$WANJIA_URL" >"$BENCH_TMP/warm-$BACKEND.wrk"
	WREQS=$(awk '/requests in/ {print $1}' "$BENCH_TMP/warm-$BACKEND.wrk")
	WNON=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$BENCH_TMP/warm-$BACKEND.wrk")
	ACCEPTED=$((WREQS - ${WNON:-0}))
	USED=$((USED + 2 * WREQS + 1000))
	export VOTES_DIR=$DIR THREADS OFFSET=$USED
	read -r BSUM0 BCNT0 < <(batch_stats)
	wrk_run "votes-$BACKEND" "$WANJIA_URL" -d"$DURATION" -s bench/votes/votes.lua
	read -r BSUM1 BCNT1 < <(batch_stats)
	USED=$((USED + 2 * REQS + 1000))
	ACC=$((REQS - NON2XX))
	ACCEPTED=$((ACCEPTED + ACC))
	ACC_RPS=$(awk -v r="$RPS" -v a="$ACC" -v n="$REQS" 'BEGIN {printf "%.0f", r * a / n}')
	RATIO=$(awk -v a="$RPS" -v b="$BARE_RPS" 'BEGIN {printf "%.0f", 100 * a / b}')
	BATCH=$(awk -v s1="$BSUM1" -v s0="$BSUM0" -v c1="$BCNT1" -v c0="$BCNT0" 'BEGIN {c = c1 - c0; printf "%.1f", c ? (s1 - s0) / c : 0}')
	printf '  %-22s %9s req/s  %6s accepted/s  p50 %-8s p99 %-8s  %3s%% of bare  CPU wanjia %s µs/req, redis %s µs/req, %s votes a batch%s%s\n' \
		"POST votes" "$RPS" "$ACC_RPS" "$P50" "$P99" "$RATIO" "$CPU_W" "$CPU_R" "$BATCH" \
		"$([[ $NON2XX != 0 ]] && echo "   REFUSED: $NON2XX")" "${ERRS:+   socket errors: $ERRS}"
	echo "$BACKEND votes $RPS $ACC_RPS $P99 $RATIO $CPU_W $CPU_R $NON2XX" >>"$SUMMARY"

	# Gallery, from the cache.
	VOTES_DIR=$DIR wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s bench/votes/gallery.lua "$WANJIA_URL" >/dev/null
	wrk_run "gallery-$BACKEND" "$WANJIA_URL" -d"$DURATION" -s bench/votes/gallery.lua
	GRATIO=$(awk -v a="$RPS" -v b="$BARE_RPS" 'BEGIN {printf "%.0f", 100 * a / b}')
	printf '  %-22s %9s req/s                      p50 %-8s p99 %-8s  %3s%% of bare  CPU wanjia %s µs/req, redis %s µs/req%s\n' \
		"GET gallery" "$RPS" "$P50" "$P99" "$GRATIO" "$CPU_W" "$CPU_R" "$([[ $NON2XX != 0 ]] && echo "   NON-2XX: $NON2XX")"
	echo "$BACKEND gallery $RPS - $P99 $GRATIO $CPU_W $CPU_R $NON2XX" >>"$SUMMARY"
	GZIP=0 VOTES_DIR=$DIR wrk_run "gallery-plain-$BACKEND" "$WANJIA_URL" -d"$DURATION" -s bench/votes/gallery.lua
	printf '  %-22s %9s req/s                      p50 %-8s p99 %-8s  %3s%% of bare  CPU wanjia %s µs/req (a client that does not accept gzip)\n' \
		"GET gallery, plain" "$RPS" "$P50" "$P99" "$(awk -v a="$RPS" -v b="$BARE_RPS" 'BEGIN {printf "%.0f", 100 * a / b}')" "$CPU_W"

	# FLUSHALL in the middle of a vote run: nothing acknowledged is lost,
	# limits hold, leaderboards are rebuilt from the ledger.
	export OFFSET=$USED
	wrk -t"$THREADS" -c"$CONNS" -d3s -s bench/votes/votes.lua "$WANJIA_URL" >"$BENCH_TMP/flush-$BACKEND.wrk" &
	WRK_PID=$!
	sleep 1.5
	redis-cli -p "$REDIS_PORT" flushall >/dev/null
	wait "$WRK_PID"
	FREQS=$(awk '/requests in/ {print $1}' "$BENCH_TMP/flush-$BACKEND.wrk")
	FNON=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$BENCH_TMP/flush-$BACKEND.wrk")
	ACCEPTED=$((ACCEPTED + FREQS - ${FNON:-0}))
	echo "  FLUSHALL mid-run:      $FREQS votes sent, $((FREQS - ${FNON:-0})) accepted (sessions were in Redis too: refused ones are 401s after the flush)"
	# The flush dropped the sessions too (Redis holds them): sign the
	# voters in again.
	"$BENCH_TMP/votes" login -base "$WANJIA_URL" -dir "$DIR" -sessions "$SESSIONS" | sed 's/^/  /'

	# kill -9 while votes are being acknowledged; restart on the same data.
	"$BENCH_TMP/votes" acked -base "$WANJIA_URL" -dir "$DIR" -for 6s >"$BENCH_TMP/acked-$BACKEND.out" &
	ACKED_PID=$!
	sleep 2
	kill -KILL "$WANJIA_PID"
	wait "$WANJIA_PID" 2>/dev/null || true
	wait "$ACKED_PID" || true
	echo "  kill -9 mid-run:       $(cat "$BENCH_TMP/acked-$BACKEND.out")"
	start_wanjia
	"$BENCH_TMP/votes" verify -base "$WANJIA_URL" -staff "$STAFF" -dir "$DIR" -driver "$DRIVER" -dsn "$DSN" -accepted "$ACCEPTED" |
		sed 's/^/  /'
	stop_pid "$WANJIA_PID"

	# The floor: the vote route as the least a durable vote endpoint must
	# do (bench/votes/floor.go: bare gin, voters in memory, the same ledger
	# and group commit, no sessions, Redis or limits beyond the ledger's),
	# on the same database, votes on a day of its own. wanjia's ratio can
	# be no more than the floor's.
	start_server "floor-$BACKEND" "$BENCH_TMP/votes" floor -dir "$DIR" -driver "$DRIVER" -dsn "$DSN"
	WANJIA_PID=$SERVER_PID
	VOTES_DIR=$DIR THREADS=$THREADS OFFSET=0 wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s bench/votes/votes.lua \
		"$SERVER_URL" >"$BENCH_TMP/warm-floor-$BACKEND.wrk"
	WREQS=$(awk '/requests in/ {print $1}' "$BENCH_TMP/warm-floor-$BACKEND.wrk")
	VOTES_DIR=$DIR THREADS=$THREADS OFFSET=$((2 * WREQS + 1000)) wrk_run "floor-$BACKEND" "$SERVER_URL" -d"$DURATION" -s bench/votes/votes.lua
	printf '  %-22s %9s req/s  %6s accepted/s  p50 %-8s p99 %-8s  %3s%% of bare  CPU %s µs/req (the ceiling of the ratio)%s\n' \
		"POST votes, floor" "$RPS" "$(awk -v r="$RPS" -v a=$((REQS - NON2XX)) -v n="$REQS" 'BEGIN {printf "%.0f", r * a / n}')" "$P50" "$P99" "$(awk -v a="$RPS" -v b="$BARE_RPS" 'BEGIN {printf "%.0f", 100 * a / b}')" \
		"$CPU_W" "$([[ $NON2XX != 0 ]] && echo "   REFUSED: $NON2XX")"
	echo "$BACKEND floor $RPS - $P99 $(awk -v a="$RPS" -v b="$BARE_RPS" 'BEGIN {printf "%.0f", 100 * a / b}') $CPU_W - $NON2XX" >>"$SUMMARY"
	stop_pid "$WANJIA_PID"
	WANJIA_PID=""
	if [[ $BACKEND == mysql ]]; then
		mysql -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $DB_NAME"
	fi
done

echo
echo "== summary (targets: votes ≥ 5000 accepted/s, p99 < 50 ms, ≥ 40% of bare gin; gallery ≥ 60% of bare gin)"
while read -r backend what rps acc p99 ratio cpuw cpur non; do
	if [[ $what == votes ]]; then
		verdict=$(awk -v a="$acc" -v r="$ratio" -v p="$p99" 'BEGIN {
			ms = p; if (p ~ /us$/) ms = p / 1000; else if (p ~ /ms$/) ms = p + 0; else if (p ~ /s$/) ms = p * 1000;
			printf "%s %s %s", (a >= 5000 ? "rate met" : "rate MISSED"), (ms < 50 ? "p99 met" : "p99 MISSED"), (r >= 40 ? "ratio met" : "ratio MISSED") }')
		printf '  %-6s votes    %6s accepted/s  p99 %-8s %3s%% of bare   %s\n' "$backend" "$acc" "$p99" "$ratio" "$verdict"
	elif [[ $what == floor ]]; then
		printf '  %-6s floor    %6s req/s       p99 %-8s %3s%% of bare   (the ceiling: no vote endpoint with this ledger gets more)\n' "$backend" "$rps" "$p99" "$ratio"
	else
		printf '  %-6s gallery  %6s req/s       p99 %-8s %3s%% of bare   %s\n' "$backend" "$rps" "$p99" "$ratio" \
			"$(awk -v r="$ratio" 'BEGIN {print (r >= 60 ? "ratio met" : "ratio MISSED")}')"
	fi
done <"$SUMMARY"
