#!/usr/bin/env bash
# Publishing one micro-lesson to N subscribers (issue 5's targets: every
# notice enqueued within 10 s, the service's memory under 200 MiB, and the
# delivery kept to the send-rate cap), with bench/lessonpush against the
# wanjia binary:
#   sqlite  zero-configuration storage: the SQLite file and wanjia's
#           embedded Redis
#   mysql   MySQL/MariaDB (a throw-away database beside MYSQL_DSN, dropped
#           at the end) and a real Redis (redis-server started here, no
#           persistence)
# Each run seeds N users with a consent to the lesson template and a
# subscription (not timed), starts `wanjia serve` outside sandbox against
# the WeChat simulator served over HTTP by bench/lessonpush, publishes a
# lesson through the API and reports: publish → the fan-out's end (every
# notice in the outbox), the service's CPU time for it, VmHWM (and VmRSS
# sampled every 50 ms), and the messages WeChat received per second over
# WINDOW after the fan-out against RATE (notify.rate_per_app).
# Usage, from the repository root: bash bench/lessonpush.sh
#   (N=100000 RATE=200 WINDOW=10s MYSQL_DSN='root@tcp(127.0.0.1:3306)/test' DRIVERS="sqlite mysql")
set -euo pipefail
source bench/lib.sh
bench_init

N=${N:-100000}
RATE=${RATE:-200}
WINDOW=${WINDOW:-10s}
MYSQL_DSN=${MYSQL_DSN:-root@tcp(127.0.0.1:3306)/test}
DRIVERS=${DRIVERS:-sqlite mysql}

echo "== wanjia: one lesson published to $N subscribers"
machine_info
build_wanjia
go build -o "$BENCH_TMP/lessonpush" ./bench/lessonpush
status=0
for driver in $DRIVERS; do
	echo
	case $driver in
	sqlite)
		echo "-- SQLite and the embedded Redis (zero configuration)"
		"$BENCH_TMP/lessonpush" -bin "$BENCH_TMP/wanjia" -n "$N" -rate "$RATE" -window "$WINDOW" || status=1
		;;
	mysql)
		command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install -y redis-server)" >&2; exit 2; }
		REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
		redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
			>"$BENCH_TMP/redis.log" 2>&1 &
		BENCH_PIDS+=("$!")
		for ((i = 0; i < 500; i++)); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.01; done
		echo "-- MySQL/MariaDB ($(mysql --version 2>/dev/null | sed 's/.*Distrib //; s/,.*//' || echo '?')) and Redis $(redis-server --version | cut -d' ' -f3)"
		"$BENCH_TMP/lessonpush" -bin "$BENCH_TMP/wanjia" -driver mysql -dsn "$MYSQL_DSN" -redis "redis://127.0.0.1:$REDIS_PORT/0" \
			-n "$N" -rate "$RATE" -window "$WINDOW" || status=1
		;;
	*)
		echo "unknown driver $driver (sqlite, mysql)" >&2
		exit 2
		;;
	esac
done
exit $status
