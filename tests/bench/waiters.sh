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

# shellcheck source=../../deploy/local-stack.sh
. "$top_srcdir/deploy/local-stack.sh"
TMP=$(mktemp -d /tmp/wr-wt.XXXXXX) || exit 1
HOLD=
cleanup() {
	[ -n "$HOLD" ] && wr_stack_stop_pid "$HOLD" hold-waiters
	[ -n "${WR_DIR:-}" ] && wr_stack_stop
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

wr_stack_init "$TMP/s" && wr_stack_tls && wr_stack_token || exit 1
wr_stack_start_runtime "$BIN" --runtime-id bench --store memory \
	${THREADS:+--threads "$THREADS"} || exit 1
for _ in 1 2 3 4 5 6 7 8; do
	PORT=$(( 20000 + (RANDOM % 30000) ))
	wr_stack_render_nginx "$top_srcdir" "$PORT" || exit 1
	rc=0
	wr_stack_start_nginx || rc=$?
	[ "$rc" = 0 ] && break
	[ "$rc" = 98 ] || exit 1
done
[ "$rc" = 0 ] || exit 1

api() {
	curl -sS --max-time 10 --cacert "$WR_DIR/tls/cert.pem" \
		-H "Authorization: Bearer $WR_TOKEN" \
		-H 'Content-Type: application/json' "$@"
}
W=$(api -X POST -d '{}' "$WR_BASE_URL/v1/workers" | jq -r .worker.worker_id)
Q=$(api -X POST -d '{}' "$WR_BASE_URL/v1/workers" | jq -r .worker.worker_id)
[ -n "$Q" ] && [ "$Q" != null ] || { echo "waiters: create failed" >&2; exit 1; }
api -X POST -d '{"kind":"user","content":"quiet"}' \
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
	local out="$TMP/wrk.out" rps p99 non2xx errs
	[ "$1" = with ] && start_waiters
	WR_TOKEN=$WR_TOKEN WR_BENCH_METHOD=GET \
	timeout $((DURATION + 30)) wrk -t2 -c64 -d"${DURATION}s" \
		--timeout 10s --latency -s "$here/wrk-request.lua" \
		"$WR_BASE_URL/v1/workers/$W" > "$out" 2>&1
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	p99=$(awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u);
		sub(/[a-z]+$/, "", v);
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000;
		printf "%.2f", v }' "$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$out")
	errs=$(awk '/Socket errors:/ {sub(/.*Socket errors: /, ""); print}' "$out")
	[ -n "$rps" ] && [ -n "$p99" ] || { echo "waiters: wrk failed:" >&2
		cat "$out" >&2; exit 1; }
	eval "RPS_$1_$2=\$rps; P99_$1_$2=\$p99"
	printf 'round %d %-7s waiters %10s req/s  p99 %8s ms  non-2xx %s  errors %s\n' \
		"$2" "$1" "$rps" "$p99" "${non2xx:-0}" "${errs:-none}"
	[ "$1" = with ] && stop_waiters
	return 0
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 }
	END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "waiters: GET /v1/workers/{id}, wrk -t2 -c64 -d${DURATION}s over TLS," \
	"$WAITERS parked waiters or none, worker-runtime" \
	"--threads ${THREADS:-default}, $ROUNDS round(s), $(nproc) CPUs"
PR= RR= PW= PN=
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run without "$r"; run with "$r"
	else run with "$r"; run without "$r"; fi
	eval "PW=\"\$PW \$P99_with_$r\"; PN=\"\$PN \$P99_without_$r\""
	eval "PR=\"\$PR \$(awk -v a=\$P99_with_$r -v b=\$P99_without_$r 'BEGIN { printf \"%.2f\", a / b }')\""
	eval "RR=\"\$RR \$(awk -v a=\$RPS_with_$r -v b=\$RPS_without_$r 'BEGIN { printf \"%.2f\", a / b }')\""
done
printf 'median p99 ms: with waiters %s, without %s\n' \
	"$(echo "$PW" | median)" "$(echo "$PN" | median)"
printf 'ratio with/without waiters per round: p99%s (median %s); req/s%s (median %s)\n' \
	"$PR" "$(echo "$PR" | median)" "$RR" "$(echo "$RR" | median)"
