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
# order.  Prints every run, medians and the per-round ratios with/without
# (p99 and req/s).  Not run by make check (--smoke: 1 s, 1 round, 100
# waiters).  Loopback only; bounded; cleans up by PID.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
BIN=${WORKER_RUNTIME:-$top_builddir/fcgi/worker-runtime}
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
for v in "$DURATION" "$ROUNDS" "$WAITERS" ${THREADS:+"$THREADS"}; do
	case $v in ''|*[!0-9]*) echo "waiters: numbers only" >&2; exit 2 ;; esac
done
# The waiters wait 25 s: the measurement must end well before.
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 12 ] &&
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] &&
[ "$WAITERS" -ge 1 ] && [ "$WAITERS" -le 3000 ] ||
	{ echo "waiters: --duration 1..12, --rounds 1..20, --waiters 1..3000" >&2
	  exit 2; }
for c in wrk curl jq openssl python3 ss; do
	command -v "$c" >/dev/null || { echo "waiters: $c not found" >&2; exit 77; }
done
WR_NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$WR_NGINX_BIN" ] || { echo "waiters: nginx not found" >&2; exit 77; }
[ -x "$BIN" ] || { echo "waiters: $BIN not built" >&2; exit 1; }

BENCH_HERE=$here
BENCH_DIR=$(mktemp -d /tmp/wr-wt.XXXXXX) || exit 1
TMP=$BENCH_DIR
# shellcheck source=lib.sh
. "$here/lib.sh"
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
	python3 "$here/hold-waiters.py" 127.0.0.1 "$WR_PORT" \
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

# run KIND ROUND: one wrk run; sets RPS_KIND_ROUND and P99_KIND_ROUND (ms).
run() {
	local fig
	[ "$1" = with ] && start_waiters
	fig=$(bench_wrk "$TMP/wrk.out" 2 64 "$DURATION" \
		"$WR_BASE_URL/v1/workers/$W") || { echo "waiters: wrk failed:" >&2
		cat "$TMP/wrk.out" >&2; exit 1; }
	set -- "$1" "$2" $fig
	eval "RPS_$1_$2=\$3; P99_$1_$2=\$4"
	printf 'round %d %-7s waiters %10s req/s  p99 %8s ms  errors %s\n' \
		"$2" "$1" "$3" "$4" "$5"
	[ "$1" = with ] && stop_waiters
	return 0
}

median() { bench_median $(cat); }

echo "waiters: GET /v1/workers/{id}, wrk -t2 -c64 -d${DURATION}s over TLS," \
	"$WAITERS parked waiters or none, worker-runtime" \
	"--threads ${THREADS:-default}, $ROUNDS round(s), $(nproc) CPUs"
PR= RR= PW= PN=
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run without "$r"; run with "$r"
	else run with "$r"; run without "$r"; fi
	eval "PW=\"\$PW \$P99_with_$r\"; PN=\"\$PN \$P99_without_$r\""
	eval "PR=\"\$PR \$(bench_ratio \$P99_with_$r \$P99_without_$r)\""
	eval "RR=\"\$RR \$(bench_ratio \$RPS_with_$r \$RPS_without_$r)\""
done
printf 'median p99 ms: with waiters %s, without %s\n' \
	"$(echo "$PW" | median)" "$(echo "$PN" | median)"
printf 'ratio with/without waiters per round: p99%s (median %s); req/s%s (median %s)\n' \
	"$PR" "$(echo "$PR" | median)" "$RR" "$(echo "$RR" | median)"
