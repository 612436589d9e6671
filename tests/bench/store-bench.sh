#!/usr/bin/env bash
# tests/bench/store-bench.sh - what durability costs: POST input through nginx
# with --store memory vs --store fs:DIR, at 1 and at 64 connections, next to
# the disk's own floor (one thread doing write + fdatasync in a loop, the
# tiny C program tests/bench/fdatasync-loop.c, compiled here with cc).
#
#   tests/bench/store-bench.sh [--binary FILE] [--duration SECONDS]
#                              [--store-dir DIR] [--runtime-threads N]
#
# The fs store and the fdatasync loop run in --store-dir (default: a fresh
# temporary directory; point it at the disk you deploy on).  At 1
# connection every input waits for its own fdatasync, so fs req/s is close
# to the loop's ops/s; at 64 connections group commit shares one
# fdatasync among many inputs, so fs req/s can exceed the loop's ops/s.
# wrk runs with --latency over TLS through deploy/nginx.conf.  Not run by
# make check.  Loopback only; every run bounded; cleans up by PID.
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_paths
DURATION=5
RT_THREADS=16
STORE_DIR=

while [ $# -gt 0 ]; do
	case $1 in
	--binary) BIN=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--store-dir) STORE_DIR=$2; shift 2 ;;
	--runtime-threads) RT_THREADS=$2; shift 2 ;;
	*) echo "usage: $0 [--binary FILE] [--duration S] [--store-dir DIR]" \
		"[--runtime-threads N]" >&2; exit 2 ;;
	esac
done
bench_count store-bench --duration "$DURATION" 1 60 &&
	bench_count store-bench --runtime-threads "$RT_THREADS" 1 256 || exit 2
bench_need store-bench "$BIN" wrk curl jq openssl cc nginx || exit

BENCH_DIR=$(mktemp -d /tmp/wr-sbench.XXXXXX) || exit 1
TMP=$BENCH_DIR
if [ -z "$STORE_DIR" ]; then
	STORE_DIR=$TMP/disk
	mkdir -p "$STORE_DIR" || exit 1
fi
[ -d "$STORE_DIR" ] && [ -w "$STORE_DIR" ] ||
	{ echo "store-bench: $STORE_DIR is not a writable directory" >&2; exit 2; }
STORE=$(mktemp -d "$STORE_DIR/wr-sbench-store.XXXXXX") || exit 1
cleanup() {
	bench_stack_cleanup
	rm -rf "$STORE"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- the disk's floor ----------------------------------------------------

cc -O2 -o "$TMP/fdatasync-loop" "$BENCH_HERE/fdatasync-loop.c" ||
	{ echo "store-bench: cannot compile fdatasync-loop.c" >&2; exit 1; }
LOOP=$(timeout $((DURATION + 30)) "$TMP/fdatasync-loop" "$STORE" "$DURATION" 200) ||
	{ echo "store-bench: fdatasync loop failed" >&2; exit 1; }
LOOP_OPS=$(echo "$LOOP" | sed -n 's/.*ops_per_s=\([0-9.]*\).*/\1/p')
LOOP_P99=$(echo "$LOOP" | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p')

# The store's own cost without HTTP: wr_worker_input in one thread.
cc -O2 -I"$top_srcdir/src" -o "$TMP/store-lib-loop" "$BENCH_HERE/store-lib-loop.c" \
	-L"$top_builddir/src/.libs" -Wl,-rpath,"$top_builddir/src/.libs" \
	-lworker-runtime ||
	{ echo "store-bench: cannot compile store-lib-loop.c" >&2; exit 1; }
LIB=$(timeout $((DURATION + 30)) "$TMP/store-lib-loop" "$STORE/lib" "$DURATION") ||
	{ echo "store-bench: library loop failed" >&2; exit 1; }
LIB_OPS=$(echo "$LIB" | sed -n 's/.*ops_per_s=\([0-9.]*\).*/\1/p')
LIB_P99=$(echo "$LIB" | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p')
rm -rf "${STORE:?}/lib"

# ---- the stack -----------------------------------------------------------

bench_stack_init || exit 1

POST_BODY='{"kind":"user","content":"benchmark input of a typical size, about a hundred bytes long........"}'
ROWS=
# run STORE CONNS KEY: one wrk run of POST input; appends a result row.
run() {
	local store=$1 conns=$2 key=$3 out="$TMP/wrk.out" threads=2 w
	local rps p99 non2xx errs
	wr_stack_start_runtime "$BIN" --runtime-id sbench --store "$store" \
		--threads "$RT_THREADS" || exit 1
	w=$(bench_stack_worker) || { echo "store-bench: create failed" >&2; exit 1; }
	[ "$conns" = 1 ] && threads=1
	WR_TOKEN=$WR_TOKEN WR_BENCH_METHOD=POST WR_BENCH_BODY=$POST_BODY \
	timeout $((DURATION + 30)) wrk -t"$threads" -c"$conns" -d"${DURATION}s" \
		--timeout 10s --latency -s "$BENCH_HERE/wrk-request.lua" \
		"$WR_BASE_URL/v1/workers/$w/input" > "$out" 2>&1
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$out")
	errs=$(awk '/Socket errors:/ {sub(/.*Socket errors: /, ""); print}' "$out")
	if [ -z "$rps" ]; then
		echo "store-bench: wrk failed ($store, -c$conns):" >&2
		cat "$out" >&2
		exit 1
	fi
	eval "RPS_$key=\$rps"
	ROWS="$ROWS$(printf '%-28s %6s %10s %10s %8s  %s' "${store%%:*}" "$conns" \
		"$rps" "$p99" "${non2xx:-0}" "${errs:-none}")"$'\n'
	wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
	WR_RUNTIME_PID=
}

# nginx needs a live socket only per request, so it stays up while the
# Runtime is restarted with each store.
wr_stack_start_runtime "$BIN" --runtime-id sbench --store memory || exit 1
bench_stack_nginx || exit 1
wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime

run memory 1 mem1
run memory 64 mem64
rm -rf "${STORE:?}"/*
run "fs:$STORE/s1" 1 fs1
run "fs:$STORE/s64" 64 fs64

echo "store-bench: POST /v1/workers/{id}/input, wrk -d${DURATION}s --latency over TLS" \
	"through nginx; worker-runtime --threads $RT_THREADS; $(nproc) CPUs"
echo "store dir: $STORE_DIR ($(df -T "$STORE_DIR" | awk 'NR == 2 {print $2}'))"
printf '%-28s %6s %10s %10s %8s  %s\n' store conns req/s p99 non-2xx "socket errors"
printf '%s' "$ROWS"
printf '%-28s %6s %10s %10s\n' "bare write+fdatasync loop" 1 "$LOOP_OPS" "${LOOP_P99}ms"
printf '%-28s %6s %10s %10s\n' "library fs input (no HTTP)" 1 "$LIB_OPS" "${LIB_P99}ms"
awk -v m1="$RPS_mem1" -v m64="$RPS_mem64" -v f1="$RPS_fs1" -v f64="$RPS_fs64" \
	-v l="$LOOP_OPS" -v lib="$LIB_OPS" 'BEGIN {
	printf "library fs input/bare fdatasync loop: %.2f at 1 thread\n", lib / l
	printf "fs/memory: %.2f at 1 conn, %.2f at 64 conns\n", f1 / m1, f64 / m64
	printf "fs/bare fdatasync loop: %.2f at 1 conn, %.2f at 64 conns " \
	       "(> 1: group commit shares fdatasyncs)\n", f1 / l, f64 / l
}'
