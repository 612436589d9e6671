#!/usr/bin/env bash
# tests/bench/page-bench.sh - what one transcript page costs over HTTP as a
# transcript grows: the median of 50 GETs (limit 256) of the first page of
# a worker with 1,000 entries, of the first page and of the last page of a
# worker with about 1,000,000 entries (100 bytes each), through
# deploy/nginx.conf on one kept TLS connection; prints the three medians
# and the ratios (issue 10: last/first at 1M and 1M/1k each at most 1.5).
#
#   tests/bench/page-bench.sh [--binary FILE] [--store DIR] [--runs N]
#
# By default the Runtime has the memory store and the entries arrive as
# they do in service, as POST input over HTTP (wrk, 4 connections, in
# rounds of 10 s until the worker holds 1,000,000; a few minutes), so the
# serving threads' heaps hold them.  With --store DIR it restores an fs
# store instead, written once by tests/bench/restore-fill.c (compiled here
# with cc against the built library; a DIR that already holds a store is
# used as it is).  Not run by make check.  Loopback only; every run
# bounded; cleans up by PID.
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_paths
STORE=
RUNS=50

while [ $# -gt 0 ]; do
	case $1 in
	--binary) BIN=$2; shift 2 ;;
	--store) STORE=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	*) echo "usage: $0 [--binary FILE] [--store DIR] [--runs N]" >&2
	   exit 2 ;;
	esac
done
bench_count page-bench --runs "$RUNS" 1 1000 || exit 2
bench_need page-bench "$BIN" curl jq openssl cc nginx || exit

BENCH_DIR=$(mktemp -d /tmp/wr-pbench.XXXXXX) || exit 1
TMP=$BENCH_DIR
trap bench_stack_cleanup EXIT
trap 'exit 1' INT TERM HUP

if [ -n "$STORE" ] && ! [ -e "$STORE/lock" ]; then
	cc -O2 -I"$top_srcdir/src" -o "$TMP/restore-fill" \
		"$BENCH_HERE/restore-fill.c" \
		-L"$top_builddir/src/.libs" -Wl,-rpath,"$top_builddir/src/.libs" \
		-lworker-runtime ||
		{ echo "page-bench: cannot compile restore-fill.c" >&2; exit 1; }
	echo "page-bench: writing 1,000,000 + 1,000 entries to $STORE" >&2
	timeout 900 "$TMP/restore-fill" "$STORE" 1 1000000 100 >/dev/null &&
	timeout 300 "$TMP/restore-fill" "$STORE" 1 1000 100 >/dev/null ||
		{ echo "page-bench: filling the store failed" >&2; exit 1; }
fi
[ -n "$STORE" ] || command -v wrk >/dev/null ||
	{ echo "page-bench: wrk not found" >&2; exit 77; }

bench_stack_init || exit 1
if [ -n "$STORE" ]; then
	wr_stack_start_runtime "$BIN" --store "fs:$STORE" || exit 1
else
	wr_stack_start_runtime "$BIN" --store memory || exit 1
fi
bench_stack_nginx || { echo "page-bench: nginx did not start" >&2; exit 1; }

api() {
	curl -sS --max-time 60 --cacert "$WR_DIR/tls/cert.pem" \
		-H "Authorization: Bearer $WR_TOKEN" "$@"
}
# The store restores while the process already answers 503 restoring.
for _ in $(seq 600); do
	[ "$(api -o /dev/null -w '%{http_code}' "$WR_BASE_URL/v1/runtime")" = 200 ] &&
		break
	sleep 0.1
done
BODY='{"kind":"user","content":"benchmark input of a typical size, about a hundred bytes long........"}'
# len ID: the worker's transcript_len.
len() {
	api "$WR_BASE_URL/v1/workers/$1" | jq -r .worker.transcript_len
}
if [ -z "$STORE" ]; then
	BIG=$(api -X POST -H 'Content-Type: application/json' -d '{}' \
		"$WR_BASE_URL/v1/workers" | jq -r .worker.worker_id)
	SMALL=$(api -X POST -H 'Content-Type: application/json' -d '{}' \
		"$WR_BASE_URL/v1/workers" | jq -r .worker.worker_id)
	for _ in $(seq 1000); do
		echo "url = \"$WR_BASE_URL/v1/workers/$SMALL/input\""
		echo 'output = "/dev/null"'
	done > "$TMP/small.curl"
	api -X POST -H 'Content-Type: application/json' \
		-d "$BODY" -K "$TMP/small.curl" || exit 1
	echo "page-bench: POSTing about 1,000,000 inputs (rounds of 10 s)" >&2
	for _ in $(seq 120); do
		[ "$(len "$BIG")" -ge 1000000 ] && break
		WR_TOKEN=$WR_TOKEN WR_BENCH_METHOD=POST WR_BENCH_BODY=$BODY \
		timeout 40 wrk -t2 -c4 -d10s -s "$BENCH_HERE/wrk-request.lua" \
			"$WR_BASE_URL/v1/workers/$BIG/input" >/dev/null 2>&1
	done
else
	api "$WR_BASE_URL/v1/workers" > "$TMP/workers.json" || exit 1
	BIG=$(jq -r '[.workers[] | select(.transcript_len >= 1000000)][0].worker_id' "$TMP/workers.json")
	SMALL=$(jq -r '[.workers[] | select(.transcript_len == 1000)][0].worker_id' "$TMP/workers.json")
fi
[ "$BIG" != null ] && [ "$SMALL" != null ] && [ "$(len "$SMALL")" = 1000 ] &&
	[ "$(len "$BIG")" -ge 1000000 ] ||
	{ echo "page-bench: no worker with 1M entries and one with 1k" >&2; exit 1; }
BIG_LEN=$(len "$BIG")

# median URL: the median time_total (ms) of RUNS GETs on one connection.
median() {
	local args=() i
	for ((i = 0; i < RUNS; i++)); do
		args+=(-o /dev/null "$1")
	done
	api -w '%{http_code} %{time_total}\n' "${args[@]}" > "$TMP/times" || exit 1
	grep -qv '^200 ' "$TMP/times" &&
		{ echo "page-bench: a GET of $1 failed" >&2; exit 1; }
	awk '{print $2 * 1000}' "$TMP/times" | sort -n |
		awk '{v[NR] = $1} END {printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
T="$WR_BASE_URL/v1/workers"
SMALL_MS=$(median "$T/$SMALL/transcript?start=0&limit=256")
FIRST_MS=$(median "$T/$BIG/transcript?start=0&limit=256")
LAST_MS=$(median "$T/$BIG/transcript?start=$((BIG_LEN - 256))&limit=256")
printf 'page (limit 256, median of %s)   ms\n' "$RUNS"
printf '1k entries, first page          %8s\n' "$SMALL_MS"
printf '1M entries, first page          %8s\n' "$FIRST_MS"
printf '1M entries, last page           %8s\n' "$LAST_MS"
awk -v s="$SMALL_MS" -v f="$FIRST_MS" -v l="$LAST_MS" 'BEGIN {
	printf "ratio last/first at 1M         %8.2f (at most 1.5)\n", l / f
	printf "ratio 1M/1k (last page / 1k)   %8.2f (at most 1.5)\n", l / s
}'
