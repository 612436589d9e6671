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

# shellcheck source=../../deploy/local-stack.sh
. "$top_srcdir/deploy/local-stack.sh"
TMP=$(mktemp -d /tmp/wr-ka.XXXXXX) || exit 1
cleanup() {
	[ -n "${WR_DIR:-}" ] && wr_stack_stop
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

wr_stack_init "$TMP/s" && wr_stack_tls && wr_stack_token || exit 1
wr_stack_start_runtime "$BIN" --runtime-id bench --store memory \
	--threads "$THREADS" || exit 1

# start_nginx on|off: the shipped site, or it without the KEEPALIVE lines.
start_nginx() {
	local i rc
	for i in 1 2 3 4 5 6 7 8; do
		[ -n "${PORT:-}" ] || PORT=$(( 20000 + (RANDOM % 30000) ))
		wr_stack_render_nginx "$top_srcdir" "$PORT" || return 1
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
		rc=0
		wr_stack_start_nginx || rc=$?
		[ "$rc" = 0 ] && return 0
		[ "$rc" = 98 ] || return 1
		PORT=
	done
	return 1
}

api() {
	curl -sS --max-time 10 --cacert "$WR_DIR/tls/cert.pem" \
		-H "Authorization: Bearer $WR_TOKEN" \
		-H 'Content-Type: application/json' "$@"
}

start_nginx on || exit 1
W=$(api -X POST -d '{}' "$WR_BASE_URL/v1/workers" | jq -r .worker.worker_id)
[ -n "$W" ] && [ "$W" != null ] || { echo "keepalive: create failed" >&2; exit 1; }

# run KIND ROUND: one wrk run; sets RPS_KIND_ROUND and P99_KIND_ROUND (ms).
run() {
	local out="$TMP/wrk.out" rps p99 non2xx errs
	wr_stack_stop_pid "$WR_NGINX_PID" nginx
	start_nginx "$1" || exit 1
	WR_TOKEN=$WR_TOKEN WR_BENCH_METHOD=GET \
	timeout $((DURATION + 30)) wrk -t2 -c"$CONNS" -d"${DURATION}s" \
		--timeout 10s --latency -s "$here/wrk-request.lua" \
		"$WR_BASE_URL/v1/workers/$W" > "$out" 2>&1
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	p99=$(awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u);
		sub(/[a-z]+$/, "", v);
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000;
		printf "%.2f", v }' "$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$out")
	errs=$(awk '/Socket errors:/ {sub(/.*Socket errors: /, ""); print}' "$out")
	[ -n "$rps" ] && [ -n "$p99" ] || { echo "keepalive: wrk failed:" >&2
		cat "$out" >&2; exit 1; }
	eval "RPS_$1_$2=\$rps; P99_$1_$2=\$p99"
	printf 'round %d keepalive %-3s %10s req/s  p99 %8s ms  non-2xx %s  errors %s\n' \
		"$2" "$1" "$rps" "$p99" "${non2xx:-0}" "${errs:-none}"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 }
	END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "keepalive: GET /v1/workers/{id}, wrk -t2 -c$CONNS -d${DURATION}s over" \
	"TLS, worker-runtime --threads $THREADS, $ROUNDS interleaved round(s)," \
	"$(nproc) CPUs"
RR= PR= ON= OFF= PON= POFF=
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run on "$r"; run off "$r"
	else run off "$r"; run on "$r"; fi
	eval "ON=\"\$ON \$RPS_on_$r\"; OFF=\"\$OFF \$RPS_off_$r\""
	eval "PON=\"\$PON \$P99_on_$r\"; POFF=\"\$POFF \$P99_off_$r\""
	eval "RR=\"\$RR \$(awk -v a=\$RPS_on_$r -v b=\$RPS_off_$r 'BEGIN { printf \"%.2f\", a / b }')\""
	eval "PR=\"\$PR \$(awk -v a=\$P99_on_$r -v b=\$P99_off_$r 'BEGIN { printf \"%.2f\", a / b }')\""
done
printf 'median req/s: keepalive on %s, off %s\n' \
	"$(echo "$ON" | median)" "$(echo "$OFF" | median)"
printf 'median p99 ms: keepalive on %s, off %s\n' \
	"$(echo "$PON" | median)" "$(echo "$POFF" | median)"
printf 'ratio keepalive/no-keepalive per round: req/s%s (median %s); p99%s (median %s)\n' \
	"$RR" "$(echo "$RR" | median)" "$PR" "$(echo "$PR" | median)"
