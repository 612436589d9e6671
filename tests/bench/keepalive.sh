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

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_paths
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
bench_count keepalive --duration "$DURATION" 1 120 &&
	bench_count keepalive --rounds "$ROUNDS" 1 20 &&
	bench_count keepalive --threads "$THREADS" 1 256 &&
	bench_count keepalive --connections "$CONNS" 1 10000 || exit 2
bench_need keepalive "$BIN" wrk curl jq openssl nginx || exit

BENCH_DIR=$(mktemp -d /tmp/wr-ka.XXXXXX) || exit 1
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

# run KIND ROUND: one wrk run of nginx with keepalive KIND (on|off).
run() {
	wr_stack_stop_pid "$WR_NGINX_PID" nginx
	bench_stack_nginx keepalive_edit "$1" || return 1
	bench_wrk_round keepalive "$1" "$2" "$(printf 'keepalive %-3s' "$1")" \
		"$CONNS" "$DURATION" "$WR_BASE_URL/v1/workers/$W"
}

echo "keepalive: GET /v1/workers/{id}, wrk -t2 -c$CONNS -d${DURATION}s over" \
	"TLS, worker-runtime --threads $THREADS, $ROUNDS interleaved round(s)," \
	"$(nproc) CPUs"
bench_interleave "$ROUNDS" run on off || exit 1
bench_compare "$ROUNDS" on off keepalive
