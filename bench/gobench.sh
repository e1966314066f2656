#!/usr/bin/env bash
# The in-process side of the middleware target: the Go benchmarks of
# api/bench_test.go (BareGin, FullStack, FullStackNoLog,
# FullStackRateLimited), COUNT rounds of BENCHTIME each, compared with
# benchstat against BareGin. The test binary is built once and each round
# runs the four benchmarks one after the other, so that a burst of other
# work on the machine hits all of them rather than one. PROFILE=1 also writes a CPU profile of
# FullStack and prints its top entries.
# Usage, from the repository root: bash bench/gobench.sh
#   (COUNT=6 BENCHTIME=1s PROFILE=0; OUT=FILE keeps the raw results)
set -euo pipefail
source bench/lib.sh
bench_init

COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-1s}
BENCHSTAT=(go run golang.org/x/perf/cmd/benchstat@latest)

echo "== wanjia: middleware stack in process (api/bench_test.go)"
machine_info
raw="$BENCH_TMP/api.txt"
go test -c -o "$BENCH_TMP/api.test" ./api
for ((i = 1; i <= COUNT; i++)); do
	(cd api && "$BENCH_TMP/api.test" -test.run '^$' -test.benchmem \
		-test.bench '^Benchmark(BareGin|FullStack|FullStackNoLog|FullStackRateLimited)$' \
		-test.benchtime "$BENCHTIME" -test.count 1) >>"$raw"
done
[[ -n ${OUT:-} ]] && cp "$raw" "$OUT"
"${BENCHSTAT[@]}" -col .name "$raw"

if [[ ${PROFILE:-0} == 1 ]]; then
	(cd api && "$BENCH_TMP/api.test" -test.run '^$' -test.bench '^BenchmarkFullStack$' \
		-test.benchtime "$BENCHTIME" -test.cpuprofile "$BENCH_TMP/cpu.out") >/dev/null
	go tool pprof -top -cum -nodecount 40 "$BENCH_TMP/api.test" "$BENCH_TMP/cpu.out" 2>/dev/null
fi
