# shellcheck shell=bash
# tests/bench/lib.sh - what the HTTP benchmarks share: a private nginx on
# loopback (plain HTTP) in front of FastCGI responders on unix sockets,
# wrk runs parsed into "rps p99_ms errors", medians, and stopping what was
# started by PID; and the shipped stack (deploy/local-stack.sh: TLS,
# token, deploy/nginx.conf) for the benchmarks that measure it as
# deployed.  Sourced by tests/bench/http-bench.sh, keepalive.sh,
# waiters.sh and churn.sh.  Every process started is recorded in
# BENCH_PIDS and stopped by bench_stop_all (the shipped stack's by
# bench_stack_cleanup).
#
# Needs: BENCH_DIR (a private directory, short enough for socket paths),
# BENCH_HERE (tests/bench) and top_srcdir.

BENCH_PIDS=

# bench_wait_socket PATH PID: waits (bounded: 10 s) until PATH is a socket;
# fails early when PID is gone.
bench_wait_socket() {
	local i
	for i in $(seq 1 200); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# bench_start NAME SOCKET CMD...: starts CMD in the background (output in
# BENCH_DIR/NAME.log) and waits for SOCKET.
bench_start() {
	local name=$1 socket=$2 pid
	shift 2
	"$@" > "$BENCH_DIR/$name.log" 2>&1 &
	pid=$!
	BENCH_PIDS="$BENCH_PIDS $pid"
	bench_wait_socket "$socket" "$pid" || {
		echo "bench: $name did not come up:" >&2
		cat "$BENCH_DIR/$name.log" >&2
		return 1
	}
}

# bench_stop_all: SIGTERM to every process started, then (bounded) wait,
# then SIGKILL for what is left.
bench_stop_all() {
	local pid i
	for pid in $BENCH_PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $BENCH_PIDS; do
		for i in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	BENCH_PIDS=
}

# bench_fcgi_params: the parameters the Runtime reads (as deploy/nginx.conf).
bench_fcgi_params() {
	cat <<'EOF'
		fastcgi_param REQUEST_METHOD     $request_method;
		fastcgi_param REQUEST_URI        $request_uri;
		fastcgi_param QUERY_STRING       $query_string;
		fastcgi_param CONTENT_TYPE       $content_type;
		fastcgi_param CONTENT_LENGTH     $content_length;
		fastcgi_param SERVER_PROTOCOL    $server_protocol;
		fastcgi_param REQUEST_SCHEME     $scheme;
		fastcgi_param GATEWAY_INTERFACE  CGI/1.1;
		fastcgi_param REMOTE_ADDR        $remote_addr;
		fastcgi_param REMOTE_PORT        $remote_port;
		fastcgi_param SERVER_NAME        $server_name;
		fastcgi_param SERVER_PORT        $server_port;
		fastcgi_param SCRIPT_FILENAME    $document_root/bench.php;
		fastcgi_pass_request_headers off;
EOF
}

# bench_nginx_conf PORT0 KEEPALIVE NAME=SOCKET[=ka]...: writes
# BENCH_DIR/nginx.conf.  PORT0 answers "return 200" itself (the ceiling);
# backend i (1-based, in the order given) is served on PORT0 + i, through
# an upstream with "keepalive KEEPALIVE" + fastcgi_keep_conn on when its
# argument ends in "=ka".  A responder that pins a thread per kept
# connection needs its own process (and more threads) for that.
bench_nginx_conf() {
	local port=$1 ka=$2 i=0 name sock keep
	shift 2
	{
		# As root, the workers would run as nobody: no access to the
		# private directory and its sockets.
		[ "$(id -u)" = 0 ] && echo "user root;"
		echo "worker_processes 1; pid $BENCH_DIR/nginx.pid;"
		echo "error_log $BENCH_DIR/nginx-error.log warn; daemon off;"
		echo "events { worker_connections 4096; }"
		echo "http { access_log off; client_body_temp_path $BENCH_DIR/nb;"
		echo "  fastcgi_temp_path $BENCH_DIR/nf; proxy_temp_path $BENCH_DIR/np;"
		echo "  uwsgi_temp_path $BENCH_DIR/nu; scgi_temp_path $BENCH_DIR/ns;"
		# Answers are buffered as deploy/nginx.conf has it, for all.
		grep -E '^[[:space:]]*fastcgi_buffers?[[:space:]]' \
			"$top_srcdir/deploy/nginx.conf"
		echo "  server { listen 127.0.0.1:$port; location / {"
		echo "    default_type application/json; return 200 '{\"ok\":true}'; } }"
		for b in "$@"; do
			i=$((i + 1)); name=${b%%=*}; sock=${b#*=}; keep=
			case $sock in *=ka) sock=${sock%=ka}
				keep="keepalive $ka;" ;; esac
			echo "  upstream ${name} { server unix:$sock; $keep }"
			echo "  server { listen 127.0.0.1:$((port + i)); root $BENCH_DIR;"
			echo "    location / { fastcgi_pass ${name};"
			[ -n "$keep" ] && echo "    fastcgi_keep_conn on;"
			bench_fcgi_params
			echo "  } }"
		done
		echo "}"
	} > "$BENCH_DIR/nginx.conf"
}

# bench_wrk OUT THREADS CONNS SECONDS URL [METHOD BODY]: one wrk run; prints
# "rps p99_ms errors" (errors: non-2xx plus socket errors).  Sends
# WR_TOKEN as the bearer token when set.
bench_wrk() {
	local out=$1 t=$2 c=$3 d=$4 url=$5 method=${6:-GET} body=${7:-}
	WR_BENCH_METHOD=$method WR_BENCH_BODY=$body WR_TOKEN=${WR_TOKEN:-none} \
	timeout $((d + 30)) wrk -t"$t" -c"$c" -d"${d}s" --timeout 10s \
		--latency -s "$BENCH_HERE/wrk-request.lua" "$url" > "$out" 2>&1
	awk '
	function ms(v) {
		if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
		if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
		return v
	}
	/^Requests\/sec:/ { rps = $2 }
	$1 == "99%" { p99 = ms($2) }
	/Non-2xx or 3xx responses:/ { err += $5 }
	/Socket errors:/ { n = split($0, f, /[ ,]+/)
		for (i = 1; i <= n; i++) if (f[i] ~ /^[0-9]+$/) err += f[i] }
	END { if (rps == "") exit 1
	      printf "%s %.2f %d\n", rps, p99, err }' "$out"
}

# bench_median V...: the median of numbers (the lower middle for an even
# count).
bench_median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { print v[int((NR + 1) / 2)] }'
}

# ---- the shipped stack (deploy/local-stack.sh) ---------------------------

# bench_stack_init: sources deploy/local-stack.sh and makes a stack in
# BENCH_DIR/s with a TLS certificate and a token.  Pair it with
# bench_stack_cleanup in the EXIT trap.
bench_stack_init() {
	# shellcheck source=../../deploy/local-stack.sh
	. "$top_srcdir/deploy/local-stack.sh"
	wr_stack_init "$BENCH_DIR/s" && wr_stack_tls && wr_stack_token
}

# bench_stack_cleanup: stops the stack (if one was made), removes BENCH_DIR.
bench_stack_cleanup() {
	[ -n "${WR_DIR:-}" ] && wr_stack_stop
	rm -rf "$BENCH_DIR"
}

# bench_stack_nginx [HOOK...]: renders deploy/nginx.conf on a free random
# port (BENCH_PORT, kept for the next call once it worked), runs HOOK
# (e.g. one that edits $WR_DIR/nginx-site.conf; its failure fails the
# start) and starts nginx; up to 8 ports when one is taken.
bench_stack_nginx() {
	local _ rc
	for _ in 1 2 3 4 5 6 7 8; do
		[ -n "${BENCH_PORT:-}" ] || BENCH_PORT=$(( 20000 + (RANDOM % 12000) ))
		wr_stack_render_nginx "$top_srcdir" "$BENCH_PORT" || return 1
		if [ $# -gt 0 ]; then "$@" || return 1; fi
		rc=0
		wr_stack_start_nginx || rc=$?
		[ "$rc" = 0 ] && return 0
		[ "$rc" = 98 ] || return 1
		BENCH_PORT=
	done
	return 1
}

# bench_stack_api CURL-ARGS...: curl against the stack, token and CA set.
bench_stack_api() {
	curl -sS --max-time 10 --cacert "$WR_DIR/tls/cert.pem" \
		-H "Authorization: Bearer $WR_TOKEN" \
		-H 'Content-Type: application/json' "$@"
}

# bench_stack_worker: creates a worker; prints its id (fails if none).
bench_stack_worker() {
	local w
	w=$(bench_stack_api -X POST -d '{}' "$WR_BASE_URL/v1/workers" |
		jq -r .worker.worker_id)
	[ -n "$w" ] && [ "$w" != null ] && echo "$w"
}

# bench_ratio A B: A / B with two decimals.
bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'
}

# ---- what every benchmark script starts and compares with ---------------
# A script sources lib.sh first (`. "$(dirname "$0")/lib.sh"`), then calls
# bench_paths, reads its options, checks them with bench_count and what it
# needs with bench_need (keepalive.sh, waiters.sh, page-bench.sh,
# wake-latency.sh, store-bench.sh, snapshot-pause.sh).

# bench_paths: sets BENCH_HERE (this folder, tests/bench), top_srcdir and
# top_builddir (kept when set, else the checkout holding this folder) and
# BIN (WORKER_RUNTIME when set, else top_builddir's fcgi/worker-runtime).
bench_paths() {
	BENCH_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	top_srcdir=${top_srcdir:-$(cd "$BENCH_HERE/../.." && pwd)}
	top_builddir=${top_builddir:-$top_srcdir}
	# shellcheck disable=SC2034 # the script's binary, for its options
	BIN=${WORKER_RUNTIME:-$top_builddir/fcgi/worker-runtime}
}

# bench_count NAME OPTION VALUE MIN MAX: whether VALUE is a whole number
# from MIN to MAX; else says so (as NAME) and returns 2 (a usage error).
bench_count() {
	case $3 in
	''|*[!0-9]*) ;;
	*) [ "$3" -ge "$4" ] && [ "$3" -le "$5" ] && return 0 ;;
	esac
	echo "$1: $2 takes a whole number from $4 to $5, not '$3'" >&2
	return 2
}

# bench_need NAME BINARY COMMAND...: whether every COMMAND is installed
# (nginx: sets WR_NGINX_BIN, /usr/sbin/nginx when not on PATH), else says
# which is not and returns 77 (skip); then whether BINARY (unless "") is
# executable, else returns 1.
bench_need() {
	local name=$1 bin=$2 c
	shift 2
	for c in "$@"; do
		if [ "$c" = nginx ]; then
			WR_NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
			[ -x "$WR_NGINX_BIN" ] && continue
		else
			command -v "$c" >/dev/null && continue
		fi
		echo "$name: $c not found" >&2
		return 77
	done
	[ -z "$bin" ] || [ -x "$bin" ] ||
		{ echo "$name: $bin not built" >&2; return 1; }
}

# bench_wrk_round NAME KIND ROUND LABEL CONNS SECONDS URL: one wrk run
# (bench_wrk, 2 threads, output in BENCH_DIR/wrk.out) of round ROUND; sets
# RPS_KIND_ROUND and P99_KIND_ROUND (ms) and prints them as "round ROUND
# LABEL ...".  When wrk fails: prints its output (as NAME), returns 1.
bench_wrk_round() {
	local fig
	fig=$(bench_wrk "$BENCH_DIR/wrk.out" 2 "$5" "$6" "$7") || {
		echo "$1: wrk failed:" >&2
		cat "$BENCH_DIR/wrk.out" >&2
		return 1
	}
	# shellcheck disable=SC2086 # fig splits into its three figures
	set -- "$2" "$3" "$4" $fig
	eval "RPS_$1_$2=\$4; P99_$1_$2=\$5"
	printf 'round %d %s %10s req/s  p99 %8s ms  errors %s\n' \
		"$2" "$3" "$4" "$5" "$6"
}

# bench_interleave ROUNDS RUN A B: ROUNDS rounds of "RUN A ROUND" and
# "RUN B ROUND", A first in the odd rounds and B in the even ones, so a
# drift of the machine hits both.  Returns 1 when a RUN fails.
bench_interleave() {
	local r
	for r in $(seq "$1"); do
		if [ $((r % 2)) = 1 ]; then "$2" "$3" "$r" && "$2" "$4" "$r"
		else "$2" "$4" "$r" && "$2" "$3" "$r"; fi || return 1
	done
}

# bench_compare ROUNDS A B WHAT: after bench_interleave (RPS_ and P99_ of
# A and B set for rounds 1..ROUNDS), prints the medians of req/s and p99
# of each, and the ratios A/B of both per round with their medians.
bench_compare() {
	local n=$1 a=$2 b=$3 what=$4 r ra='' rb='' pa='' pb='' rr='' pr=''
	for r in $(seq "$n"); do
		eval "ra=\"\$ra \$RPS_${a}_$r\"; rb=\"\$rb \$RPS_${b}_$r\""
		eval "pa=\"\$pa \$P99_${a}_$r\"; pb=\"\$pb \$P99_${b}_$r\""
		eval "rr=\"\$rr \$(bench_ratio \$RPS_${a}_$r \$RPS_${b}_$r)\""
		eval "pr=\"\$pr \$(bench_ratio \$P99_${a}_$r \$P99_${b}_$r)\""
	done
	# shellcheck disable=SC2086 # the lists split into numbers
	{
	printf 'median req/s: %s %s %s, %s %s\n' "$what" "$a" \
		"$(bench_median $ra)" "$b" "$(bench_median $rb)"
	printf 'median p99 ms: %s %s %s, %s %s\n' "$what" "$a" \
		"$(bench_median $pa)" "$b" "$(bench_median $pb)"
	printf 'ratio %s %s/%s per round: req/s%s (median %s); p99%s (median %s)\n' \
		"$what" "$a" "$b" "$rr" "$(bench_median $rr)" "$pr" \
		"$(bench_median $pr)"
	}
}
