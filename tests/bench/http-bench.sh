#!/usr/bin/env bash
# tests/bench/http-bench.sh - throughput of the Runtime through nginx.
#
#   tests/bench/http-bench.sh [--binary FILE] [--duration SECONDS]
#                             [--connections N] [--runtime-threads N]
#                             [--keepalive K]
#
# Runs worker-runtime behind deploy/nginx.conf (TLS + token, exactly as
# deployed) and measures with wrk (-t2 -c64 -d10s --latency by default):
#   GET  /v1/workers/{id}          vs nginx answering the same body itself
#   POST /v1/workers/{id}/input    vs nginx answering the same ack itself
# The "static" locations are added to the same server block, so both sides
# pay for TLS, the Origin and token checks; the ratio is what the FastCGI
# hop and the Runtime cost.  The worker uses the transcript driver (never
# busy), so every POST is a real append.  --keepalive K turns on upstream
# keepalive (K idle connections, fastcgi_keep_conn on) to compare.
# Not run by make check.  Loopback only; bounded; cleans up by PID.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
BIN=${WORKER_RUNTIME:-$top_builddir/fcgi/worker-runtime}
DURATION=10
CONNS=64
RT_THREADS=16
KEEPALIVE=0

while [ $# -gt 0 ]; do
	case $1 in
	--binary) BIN=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--connections) CONNS=$2; shift 2 ;;
	--runtime-threads) RT_THREADS=$2; shift 2 ;;
	--keepalive) KEEPALIVE=$2; shift 2 ;;
	*) echo "usage: $0 [--binary FILE] [--duration S] [--connections N]" \
		"[--runtime-threads N] [--keepalive K]" >&2; exit 2 ;;
	esac
done
for v in "$DURATION" "$CONNS" "$RT_THREADS" "$KEEPALIVE"; do
	case $v in ''|*[!0-9]*) echo "http-bench: numbers only" >&2; exit 2 ;; esac
done
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 120 ] ||
	{ echo "http-bench: --duration 1..120" >&2; exit 2; }

for c in wrk curl jq openssl; do
	command -v "$c" >/dev/null || { echo "http-bench: $c not found" \
		"(apt-get install $c)" >&2; exit 77; }
done
WR_NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$WR_NGINX_BIN" ] || { echo "http-bench: nginx not found" >&2; exit 77; }
[ -x "$BIN" ] || { echo "http-bench: $BIN not built" >&2; exit 1; }

# shellcheck source=../../deploy/local-stack.sh
. "$top_srcdir/deploy/local-stack.sh"
TMP=$(mktemp -d /tmp/wr-bench.XXXXXX) || exit 1
cleanup() {
	[ -n "${WR_DIR:-}" ] && wr_stack_stop
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

wr_stack_init "$TMP/s" && wr_stack_tls && wr_stack_token || exit 1
wr_stack_start_runtime "$BIN" --runtime-id bench --store memory \
	--threads "$RT_THREADS" || exit 1

api() {
	curl -sS --max-time 10 --cacert "$WR_DIR/tls/cert.pem" \
		-H "Authorization: Bearer $WR_TOKEN" \
		-H 'Content-Type: application/json' "$@"
}

# The static twin of a Runtime answer: nginx's "return 200 '...'" cannot
# hold a quote, a backslash or a "$" (variable) unescaped; our bodies don't.
static_location() {
	local path=$1 body=$2
	case $body in *"'"*|*'\'*|*'$'*)
		echo "http-bench: body not usable in a return directive" >&2
		return 1 ;;
	esac
	printf 'location = %s {\n\treturn 200 '"'"'%s'"'"';\n}\n' "$path" "$body"
}

# Bring nginx up once (without the static twins) to learn the bodies, then
# again with them: the port stays the same.
start_nginx() {
	local i rc
	for i in 1 2 3 4 5 6 7 8; do
		[ -n "${PORT:-}" ] || PORT=$(( 20000 + (RANDOM % 30000) ))
		wr_stack_render_nginx "$top_srcdir" "$PORT" "${1:-}" || return 1
		# deploy/nginx.conf ships with keepalive on (lines marked
		# KEEPALIVE): --keepalive 0 removes them, K sets the count.
		if [ "$KEEPALIVE" = 0 ]; then
			sed -i '/# KEEPALIVE$/d' "$WR_DIR/nginx-site.conf"
		else
			sed -i -e "s/keepalive [0-9]*;\(.*# KEEPALIVE\)$/keepalive $KEEPALIVE;\1/" \
			       "$WR_DIR/nginx-site.conf"
			grep -q "^[[:space:]]*keepalive $KEEPALIVE;" "$WR_DIR/nginx-site.conf" &&
			grep -q '^[[:space:]]*fastcgi_keep_conn on;' "$WR_DIR/nginx-site.conf" ||
				{ echo "http-bench: could not enable keepalive" >&2; return 1; }
		fi
		rc=0
		wr_stack_start_nginx || rc=$?
		[ "$rc" = 0 ] && return 0
		[ "$rc" = 98 ] || return 1
		PORT=
	done
	return 1
}

start_nginx || exit 1
W=$(api -X POST -d '{}' "$WR_BASE_URL/v1/workers" | jq -r .worker.worker_id)
[ -n "$W" ] && [ "$W" != null ] || { echo "http-bench: create failed" >&2; exit 1; }
POST_BODY='{"kind":"user","content":"benchmark input"}'
ACK=$(api -X POST -d "$POST_BODY" "$WR_BASE_URL/v1/workers/$W/input")
DETAIL=$(api "$WR_BASE_URL/v1/workers/$W")
{ static_location /bench/static-get "$DETAIL" &&
  static_location /bench/static-post "$ACK"; } > "$TMP/static.conf" || exit 1
wr_stack_stop_pid "$WR_NGINX_PID" nginx
start_nginx "$TMP/static.conf" || exit 1

# run NAME METHOD PATH: one wrk run; appends a result row.
ROWS=
run() {
	local name=$1 method=$2 path=$3 out="$TMP/wrk.out" rps p99 non2xx errs total
	WR_TOKEN=$WR_TOKEN WR_BENCH_METHOD=$method WR_BENCH_BODY=$POST_BODY \
	timeout $((DURATION + 30)) wrk -t2 -c"$CONNS" -d"${DURATION}s" \
		--timeout 10s --latency -s "$here/wrk-request.lua" \
		"$WR_BASE_URL$path" > "$out" 2>&1
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	total=$(awk '/requests in/ {print $1}' "$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$out")
	errs=$(awk '/Socket errors:/ {sub(/.*Socket errors: /, ""); print}' "$out")
	if [ -z "$rps" ]; then
		echo "http-bench: wrk failed for $name:" >&2
		cat "$out" >&2
		exit 1
	fi
	eval "RPS_$4=\$rps; TOTAL_$4=\$total"
	ROWS="$ROWS$(printf '%-36s %10s %10s %8s  %s' "$name" "$rps" "$p99" \
		"${non2xx:-0}" "${errs:-none}")"$'\n'
}

ka_text="off"
[ "$KEEPALIVE" != 0 ] && ka_text="$KEEPALIVE idle, fastcgi_keep_conn on"
echo "http-bench: wrk -t2 -c$CONNS -d${DURATION}s --latency over TLS;" \
	"worker-runtime --threads $RT_THREADS; upstream keepalive $ka_text;" \
	"$(nproc) CPUs"
run "GET  /v1/workers/{id}  (runtime)" GET "/v1/workers/$W" get_rt
run "GET  same body, nginx return 200" GET /bench/static-get get_st
run "POST /v1/workers/{id}/input (runtime)" POST "/v1/workers/$W/input" post_rt
run "POST same ack, nginx return 200" POST /bench/static-post post_st

LEN=$(api "$WR_BASE_URL/v1/workers/$W" | jq -r .worker.transcript_len)
printf '%-36s %10s %10s %8s  %s\n' endpoint req/s p99 non-2xx "socket errors"
printf '%s' "$ROWS"
awk -v a="$RPS_get_rt" -v b="$RPS_get_st" -v c="$RPS_post_rt" -v d="$RPS_post_st" \
	'BEGIN { printf "ratio runtime/static: GET %.2f, POST %.2f\n", a / b, c / d }'
echo "transcript_len after the POST run: $LEN" \
	"(1 + $TOTAL_post_rt acknowledged by wrk; requests in flight at the end may add a few)"
if [ "$LEN" -lt $((1 + TOTAL_post_rt)) ]; then
	echo "http-bench: FAIL: fewer transcript entries than acknowledged inputs" >&2
	exit 1
fi
