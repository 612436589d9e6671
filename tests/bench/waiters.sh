#!/usr/bin/env bash
# tests/bench/waiters.sh - GET /v1/workers/{id} with 1,000 parked waiters.
#
#   tests/bench/waiters.sh [--binary FILE] [--duration S] [--rounds N]
#                          [--waiters N] [--threads N] [--smoke]
#
# One worker-runtime (memory store, default --threads unless given) behind
# deploy/nginx.conf as shipped (TLS, keepalive on).  Each round measures
# wrk -t2 -c64 --latency on GET /v1/workers/{id} without waiters, and with
# N (default 1,000) GET …/transcript?after=1&wait=25000 parked on a quiet
# second worker (tests/bench/hold-waiters.py holds them), in alternating
# order.  Prints every run, the medians and the per-round ratios
# with/without (req/s and p99).  Not run by make check (--smoke: 1 s,
# 1 round, 100 waiters).  Loopback only; bounded; cleans up by PID.
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_paths
DURATION=8
ROUNDS=3
WAITERS=1000
THREADS=

while [ $# -gt 0 ]; do
	case $1 in
	--binary) BIN=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--waiters) WAITERS=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--smoke) DURATION=1; ROUNDS=1; WAITERS=100; shift ;;
	*) echo "usage: $0 [--binary FILE] [--duration S] [--rounds N]" \
		"[--waiters N] [--threads N] [--smoke]" >&2; exit 2 ;;
	esac
done
# The waiters wait 25 s: the measurement must end well before.
bench_count waiters --duration "$DURATION" 1 12 &&
	bench_count waiters --rounds "$ROUNDS" 1 20 &&
	bench_count waiters --waiters "$WAITERS" 1 3000 &&
	{ [ -z "$THREADS" ] || bench_count waiters --threads "$THREADS" 1 256; } ||
	exit 2
bench_need waiters "$BIN" wrk curl jq openssl python3 ss nginx || exit

BENCH_DIR=$(mktemp -d /tmp/wr-wt.XXXXXX) || exit 1
TMP=$BENCH_DIR
HOLD=
cleanup() {
	[ -n "$HOLD" ] && wr_stack_stop_pid "$HOLD" hold-waiters
	bench_stack_cleanup
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

bench_stack_init || exit 1
wr_stack_start_runtime "$BIN" --runtime-id bench --store memory \
	${THREADS:+--threads "$THREADS"} || exit 1
bench_stack_nginx || exit 1

W=$(bench_stack_worker) && Q=$(bench_stack_worker) ||
	{ echo "waiters: create failed" >&2; exit 1; }
bench_stack_api -X POST -d '{"kind":"user","content":"quiet"}' \
	"$WR_BASE_URL/v1/workers/$Q/input" >/dev/null || exit 1

# Connections the Runtime holds with nothing unread (parked or idle).
held() { ss -xH src "$WR_DIR/fcgi.sock" | awk '$2 == "ESTAB" && $3 == 0' | wc -l; }

start_waiters() {
	local i
	rm -f "$TMP/ready"
	mkfifo "$TMP/hold.in" 2>/dev/null
	exec 7<>"$TMP/hold.in"
	python3 "$BENCH_HERE/hold-waiters.py" 127.0.0.1 "$WR_PORT" \
		"$WR_DIR/tls/cert.pem" "$WR_TOKEN" \
		"/v1/workers/$Q/transcript?after=1&wait=25000" "$WAITERS" \
		"$TMP/ready" <"$TMP/hold.in" >"$TMP/hold.out" 2>&1 7<&- &
	HOLD=$!
	for i in $(seq 300); do
		[ -e "$TMP/ready" ] && [ "$(held)" -ge "$WAITERS" ] && return 0
		wr_stack_pid_alive "$HOLD" || break
		sleep 0.1
	done
	echo "waiters: the waiters were not parked:" >&2
	cat "$TMP/hold.out" >&2
	exit 1
}
stop_waiters() {
	exec 7>&-
	wait "$HOLD"
	HOLD=
	sed 's/^/    waiters: /' "$TMP/hold.out"
}

# run KIND ROUND: one wrk run, KIND (with|without) the waiters parked.
run() {
	[ "$1" = with ] && start_waiters
	bench_wrk_round waiters "$1" "$2" "$(printf '%-7s waiters' "$1")" 64 \
		"$DURATION" "$WR_BASE_URL/v1/workers/$W" || return 1
	[ "$1" = with ] && stop_waiters
	return 0
}

echo "waiters: GET /v1/workers/{id}, wrk -t2 -c64 -d${DURATION}s over TLS," \
	"$WAITERS parked waiters or none, worker-runtime" \
	"--threads ${THREADS:-default}, $ROUNDS round(s), $(nproc) CPUs"
bench_interleave "$ROUNDS" run without with || exit 1
bench_compare "$ROUNDS" with without waiters
