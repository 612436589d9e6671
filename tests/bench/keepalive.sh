#!/usr/bin/env bash
# tests/bench/keepalive.sh - the Runtime with and without upstream keepalive.
#
#   tests/bench/keepalive.sh [--binary FILE] [--duration S] [--rounds N]
#                            [--threads N] [--connections N] [--smoke]
#
# One worker-runtime (memory store, --threads as given, default the
# binary's 4) behind deploy/nginx.conf exactly as shipped (TLS, token,
# upstream keepalive on), measured with wrk -t2 -c64 --latency on
# GET /v1/workers/{id}; each round runs the shipped config and the same
# config with the two KEEPALIVE lines removed, one after the other
# (interleaved, so drift hits both), nginx restarted between them.  Prints
# every run, the medians and the per-round ratios keepalive / no keepalive
# (req/s and p99).  Not run by make check (--smoke: 1 s, 1 round).
# Loopback only; bounded; cleans up by PID.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
BIN=${WORKER_RUNTIME:-$top_builddir/fcgi/worker-runtime}
DURATION=8
ROUNDS=3
THREADS=4
CONNS=64

while [ $# -gt 0 ]; do
	case $1 in
	--binary) BIN=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--connections) CONNS=$2; shift 2 ;;
	--smoke) DURATION=1; ROUNDS=1; shift ;;
	*) echo "usage: $0 [--binary FILE] [--duration S] [--rounds N]" \
		"[--threads N] [--connections N] [--smoke]" >&2; exit 2 ;;
	esac
done
for v in "$DURATION" "$ROUNDS" "$THREADS" "$CONNS"; do
	case $v in ''|*[!0-9]*) echo "keepalive: numbers only" >&2; exit 2 ;; esac
done
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 120 ] &&
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] ||
	{ echo "keepalive: --duration 1..120, --rounds 1..20" >&2; exit 2; }
for c in wrk curl jq openssl; do
	command -v "$c" >/dev/null || { echo "keepalive: $c not found" >&2; exit 77; }
done
WR_NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$WR_NGINX_BIN" ] || { echo "keepalive: nginx not found" >&2; exit 77; }
[ -x "$BIN" ] || { echo "keepalive: $BIN not built" >&2; exit 1; }

BENCH_HERE=$here
BENCH_DIR=$(mktemp -d /tmp/wr-ka.XXXXXX) || exit 1
# shellcheck source=lib.sh
. "$here/lib.sh"
trap bench_stack_cleanup EXIT
trap 'exit 1' INT TERM HUP

bench_stack_init || exit 1
wr_stack_start_runtime "$BIN" --runtime-id bench --store memory \
	--threads "$THREADS" || exit 1

# keepalive_edit on|off: checks the shipped site has keepalive, or removes
# its two KEEPALIVE lines (and checks they are gone).
keepalive_edit() {
	if [ "$1" = off ]; then
		sed -i '/# KEEPALIVE$/d' "$WR_DIR/nginx-site.conf"
		if grep -v '^[[:space:]]*#' "$WR_DIR/nginx-site.conf" |
			grep -q 'keepalive [0-9]\|fastcgi_keep_conn'; then
			echo "keepalive: could not turn keepalive off" >&2
			return 1
		fi
	else
		grep -q '^[[:space:]]*fastcgi_keep_conn on;' \
			"$WR_DIR/nginx-site.conf" || {
			echo "keepalive: deploy/nginx.conf has no keepalive" >&2
			return 1; }
	fi
}

bench_stack_nginx keepalive_edit on || exit 1
W=$(bench_stack_worker) || { echo "keepalive: create failed" >&2; exit 1; }

# run KIND ROUND: one wrk run; sets RPS_KIND_ROUND and P99_KIND_ROUND (ms).
run() {
	local fig
	wr_stack_stop_pid "$WR_NGINX_PID" nginx
	bench_stack_nginx keepalive_edit "$1" || exit 1
	fig=$(bench_wrk "$BENCH_DIR/wrk.out" 2 "$CONNS" "$DURATION" \
		"$WR_BASE_URL/v1/workers/$W") || { echo "keepalive: wrk failed:" >&2
		cat "$BENCH_DIR/wrk.out" >&2; exit 1; }
	set -- "$1" "$2" $fig
	eval "RPS_$1_$2=\$3; P99_$1_$2=\$4"
	printf 'round %d keepalive %-3s %10s req/s  p99 %8s ms  errors %s\n' \
		"$2" "$1" "$3" "$4" "$5"
}

median() { bench_median $(cat); }

echo "keepalive: GET /v1/workers/{id}, wrk -t2 -c$CONNS -d${DURATION}s over" \
	"TLS, worker-runtime --threads $THREADS, $ROUNDS interleaved round(s)," \
	"$(nproc) CPUs"
RR= PR= ON= OFF= PON= POFF=
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run on "$r"; run off "$r"
	else run off "$r"; run on "$r"; fi
	eval "ON=\"\$ON \$RPS_on_$r\"; OFF=\"\$OFF \$RPS_off_$r\""
	eval "PON=\"\$PON \$P99_on_$r\"; POFF=\"\$POFF \$P99_off_$r\""
	eval "RR=\"\$RR \$(bench_ratio \$RPS_on_$r \$RPS_off_$r)\""
	eval "PR=\"\$PR \$(bench_ratio \$P99_on_$r \$P99_off_$r)\""
done
printf 'median req/s: keepalive on %s, off %s\n' \
	"$(echo "$ON" | median)" "$(echo "$OFF" | median)"
printf 'median p99 ms: keepalive on %s, off %s\n' \
	"$(echo "$PON" | median)" "$(echo "$POFF" | median)"
printf 'ratio keepalive/no-keepalive per round: req/s%s (median %s); p99%s (median %s)\n' \
	"$RR" "$(echo "$RR" | median)" "$PR" "$(echo "$PR" | median)"
