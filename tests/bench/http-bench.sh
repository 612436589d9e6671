#!/usr/bin/env bash
# tests/bench/http-bench.sh - issue 13's table in one command.
#
#   tests/bench/http-bench.sh [--rounds N] [--duration S] [--threads N]
#                             [--keepalive K] [--smoke]
#
# One private nginx on loopback (plain HTTP, access log off) in front of
# FastCGI responders on unix sockets, every one with and without upstream
# keepalive (keepalive K + fastcgi_keep_conn on), measured with
# wrk -t2 -c64 -dS in interleaved rounds (every case once per round, the
# cases a ratio compares next to each other, reversed every other round);
# the table shows medians, then the ratios the issue sets targets for, each
# the median of the rounds' ratios with their range.  nginx buffers answers
# as deploy/nginx.conf does (its fastcgi_buffers), for every responder.
# K defaults to deploy/nginx.conf's "keepalive 64".  Cases:
#   nginx "return 200" (the ceiling);
#   bare libfcgi responder (tests/bench/bare-fcgi.c, N threads) answering
#     the bytes of the Runtime's GET detail and input ack;
#   php-fpm (8 static children; installed by this script with apt-get when
#     missing and allowed: WR_BENCH_INSTALL=1) echoing the same bytes;
#   the Runtime (memory store, --threads N, default 16): GET /v1/workers/{id},
#     GET /v1/runtime, POST .../input; the Runtime on the fs store: POST;
#   the Runtime as deployed: --threads N (16, as the systemd units and
#     spawn-fcgi.sh pass) behind deploy/nginx.conf's keepalive (K):
#     GET /v1/workers/{id};
#   list contention: GET detail while two clients list 1,000 workers
#     (wrk -t1 -c1 each), rate and p99 against GET detail alone; and the
#     same with the two lists answered by a bare libfcgi responder (the
#     list's bytes): what moving those bytes through nginx costs alone;
#     and the lists' own rate in both (a faster list takes more of the
#     machine from the reads it runs beside);
#   one connection (wrk -t1 -c1): POST on the fs store and on the memory
#     store, tests/bench/fdatasync-loop.c (write + fdatasync of the fs
#     store's record size in the same directory), and the bare libfcgi
#     responder doing that write + fdatasync before it answers each POST
#     (the floor of a durable input behind FastCGI), in slices of one
#     second (DURATION of them a round, every case once a slice): the fs
#     ratios are medians of each slice's ratio, raw and with the HTTP
#     round trip (that slice's memory POST time) subtracted, because the
#     disk's speed changes between slices (its range is printed); every
#     slice runs twice, as is and "awake": with a SCHED_IDLE busy loop on
#     every CPU, so that no CPU halts while the disk works (on a VM a
#     halted CPU is slow to wake, and a durable input through nginx wakes
#     three processes after its fdatasync, the bare loop one).
# Every responder runs in two processes: one behind an upstream without
# keepalive (N threads; php-fpm 8 children), one behind "keepalive K"
# (N + K threads; 8 + K children): a bare libfcgi responder and php-fpm pin
# a thread (a child) per kept connection, so with fewer than K + N they
# would leave nginx's kept connections unserved.  The Runtime gets the same
# N + K threads there ("the same configuration"), though it holds no
# thread per idle connection.
# --smoke: 1 round of 1 s, to show the script works (not a measurement).
# From a build directory (the binary is top_builddir's, or WORKER_RUNTIME):
#   cd BUILD && top_srcdir=SRC top_builddir=$PWD SRC/tests/bench/http-bench.sh
# Run by hand, not by make check.  Loopback and unix sockets only;
# bounded; stops what it started by PID and removes its directory.
set -u

BENCH_HERE=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$BENCH_HERE/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
BIN=${WORKER_RUNTIME:-$top_builddir/fcgi/worker-runtime}
ROUNDS=3
DURATION=8
THREADS=16
KEEPALIVE=64
CONNS=64

while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--keepalive) KEEPALIVE=$2; shift 2 ;;
	--smoke) ROUNDS=1; DURATION=1; shift ;;
	*) echo "usage: $0 [--rounds N] [--duration S] [--threads N]" \
		"[--keepalive K] [--smoke]" >&2; exit 2 ;;
	esac
done
for v in "$ROUNDS" "$DURATION" "$THREADS" "$KEEPALIVE"; do
	case $v in ''|*[!0-9]*) echo "http-bench: numbers only" >&2; exit 2 ;; esac
done
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] && [ "$DURATION" -ge 1 ] &&
	[ "$DURATION" -le 120 ] && [ "$THREADS" -ge 1 ] &&
	[ "$THREADS" -le 256 ] && [ "$KEEPALIVE" -ge 1 ] &&
	[ $((THREADS + KEEPALIVE)) -le 256 ] ||
	{ echo "http-bench: --rounds 1..20, --duration 1..120," \
		"--threads 1..256, --keepalive >= 1, threads + keepalive" \
		"<= 256 (the Runtime's --threads bound)" >&2; exit 2; }

PHP_FPM=$(command -v php-fpm8.2 || ls /usr/sbin/php-fpm8.2 2>/dev/null)
if [ -z "$PHP_FPM" ] && [ "${WR_BENCH_INSTALL:-0}" = 1 ]; then
	apt-get install -y php8.2-fpm >/dev/null 2>&1
	PHP_FPM=$(ls /usr/sbin/php-fpm8.2 2>/dev/null)
fi
for c in wrk curl jq cc nginx; do
	command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] ||
		{ echo "http-bench: $c not found" >&2; exit 77; }
done
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$BIN" ] || { echo "http-bench: $BIN not built" >&2; exit 1; }

BENCH_DIR=$(mktemp -d /tmp/wr-hb.XXXXXX) || exit 1
# shellcheck source=lib.sh
. "$BENCH_HERE/lib.sh"
LIST_PIDS=
stop_lists() { # the list clients of an interrupted contention case
	local p
	for p in $LIST_PIDS; do
		pkill -TERM -P "$p" 2>/dev/null # timeout, which passes it on to wrk
		kill -TERM "$p" 2>/dev/null
	done
}
cleanup() {
	stop_lists
	awake_stop
	bench_stop_all
	rm -rf "$BENCH_DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

cc -O2 -o "$BENCH_DIR/bare-fcgi" "$BENCH_HERE/bare-fcgi.c" -lfcgi -pthread &&
cc -O2 -o "$BENCH_DIR/fdatasync-loop" "$BENCH_HERE/fdatasync-loop.c" ||
	{ echo "http-bench: cannot build the C helpers (libfcgi-dev?)" >&2; exit 1; }

# ---- the responders, and the bytes they answer -------------------------
# Every responder runs twice: NAME without upstream keepalive (--threads
# N) and NAME_ka with it (N + K threads, see above); rt_def is the Runtime
# as deployed (--threads N) behind the keepalive upstream.
D=$BENCH_DIR
KA_THREADS=$((THREADS + KEEPALIVE))
backends=
for v in rt fs rt_ka fs_ka rt_def; do
	set -- --threads "$THREADS"
	store=memory
	case $v in *_ka) set -- --threads "$KA_THREADS" ;; esac
	case $v in fs*) mkdir -p "$D/$v.store"; store="fs:$D/$v.store" ;; esac
	bench_start "$v" "$D/$v.sock" "$BIN" --socket "unix:$D/$v.sock" \
		--runtime-id bench --store "$store" "$@" || exit 1
	case $v in *_ka|rt_def) backends="$backends $v=$D/$v.sock=ka" ;;
	           *) backends="$backends $v=$D/$v.sock" ;; esac
done
backends="$backends bare=$D/bare.sock bare_ka=$D/bare_ka.sock=ka"
backends="$backends bare_sync=$D/bare_sync.sock bare_list=$D/bare_list.sock"
[ -n "$PHP_FPM" ] && backends="$backends php=$D/php.sock php_ka=$D/php_ka.sock=ka"
# Ports below the kernel's ephemeral range (32768 up), where no outgoing
# connection of an earlier run can hold them.
PORT0=$(( 20000 + (RANDOM % 10000) ))
# shellcheck disable=SC2086
bench_nginx_conf "$PORT0" "$KEEPALIVE" $backends
url() { # backend path
	local i=0 b
	for b in $backends; do
		i=$((i + 1))
		[ "${b%%=*}" = "$1" ] && { echo "http://127.0.0.1:$((PORT0 + i))$2"; return; }
	done
}
mkdir -p "$D/nb" "$D/nf" "$D/np" "$D/nu" "$D/ns"
"$NGINX_BIN" -p "$D" -c "$D/nginx.conf" > "$D/nginx.log" 2>&1 &
BENCH_PIDS="$BENCH_PIDS $!"
for i in $(seq 1 100); do
	curl -s -o /dev/null "http://127.0.0.1:$PORT0/" && break
	sleep 0.05
done
curl -s -o /dev/null "http://127.0.0.1:$PORT0/" ||
	{ echo "http-bench: nginx does not answer on port $PORT0:" >&2
	  cat "$D/nginx.log" "$D/nginx-error.log" >&2 2>/dev/null; exit 1; }

POST_BODY='{"kind":"user","content":"benchmark input"}'
api() { curl -sS --max-time 10 -H 'Content-Type: application/json' "$@"; }
for v in rt fs rt_ka fs_ka rt_def; do
	w=$(api -X POST -d '{}' "$(url "$v" /v1/workers)" | jq -r .worker.worker_id)
	case $w in null|'') echo "http-bench: create on $v failed" >&2; exit 1 ;; esac
	eval "W_$v=\$w"
done
W=$W_rt
api "$(url rt "/v1/workers/$W")" > "$D/get.body"
POST_STATUS=$(api -o "$D/post.body" -w '%{http_code}' -X POST \
	-d "$POST_BODY" "$(url rt "/v1/workers/$W/input")")
# Record size on disk: the journal bytes one input writes, from the
# Runtime's own counter (the journal is preallocated, so its file size
# does not grow with each record).
journal_bytes() {
	api "$(url fs /v1/metrics)" |
		awk '$1 == "worker_runtime_store_journal_written_bytes_total" {
			print $2 }'
}
j0=$(journal_bytes)
for i in 1 2 3 4 5 6 7 8 9 10; do
	api -o /dev/null -X POST -d "$POST_BODY" "$(url fs "/v1/workers/$W_fs/input")"
done
REC=$(( ($(journal_bytes) - ${j0:-0}) / 10 ))
[ "$REC" -ge 1 ] || { echo "http-bench: no journal growth measured" >&2; exit 1; }
for v in bare bare_ka; do
	t=$THREADS
	[ $v = bare_ka ] && t=$KA_THREADS
	bench_start "$v" "$D/$v.sock" "$D/bare-fcgi" "$D/$v.sock" "$t" \
		"$D/get.body" "$D/post.body" "$POST_STATUS" || exit 1
done
bench_start bare_sync "$D/bare_sync.sock" "$D/bare-fcgi" "$D/bare_sync.sock" \
	"$THREADS" "$D/get.body" "$D/post.body" "$POST_STATUS" \
	"$D/bare-fcgi.journal" "$REC" || exit 1
if [ -n "$PHP_FPM" ]; then
	printf '%s' "<?php header('Content-Type: application/json; charset=utf-8');
if (\$_SERVER['REQUEST_METHOD'] === 'GET') { readfile('$D/get.body'); }
else { file_get_contents('php://input'); http_response_code($POST_STATUS);
readfile('$D/post.body'); }" > "$D/bench.php"
	for v in php php_ka; do
		n=8
		[ $v = php_ka ] && n=$((8 + KEEPALIVE))
		printf '[global]\npid = %s/%s.pid\nerror_log = %s/%s-error.log\n[b]\nlisten = %s/%s.sock\npm = static\npm.max_children = %s\n' \
			"$D" $v "$D" $v "$D" $v $n > "$D/$v.conf"
		bench_start "$v" "$D/$v.sock" "$PHP_FPM" -F -R -y "$D/$v.conf" || exit 1
	done
fi

# 1,000 workers for the list (one curl, one connection).
u=$(url rt /v1/workers)
for i in $(seq 1 999); do printf 'url = "%s"\noutput = "/dev/null"\n' "$u"; done > "$D/urls"
api -X POST -d '{}' -K "$D/urls"
NW=$(api "$(url rt '/v1/workers?limit=1000')" | jq '.workers | length')
[ "$NW" = 1000 ] || { echo "http-bench: $NW workers, not 1000" >&2; exit 1; }
api "$(url rt '/v1/workers?limit=1000')" > "$D/list.body"
bench_start bare_list "$D/bare_list.sock" "$D/bare-fcgi" "$D/bare_list.sock" \
	"$THREADS" "$D/list.body" "$D/post.body" "$POST_STATUS" || exit 1

# ---- the cases ------------------------------------------------------------
# key|label|backend|path|method: each backend case runs without (0) and with (1)
# upstream keepalive.
# key|label|backend|path|method: each case runs on backend (no upstream
# keepalive) and on backend_ka; {W} is that Runtime's worker.
CASES="bare_get|bare libfcgi GET|bare|/x|GET
bare_post|bare libfcgi POST|bare|/x|POST
rt_get|Runtime GET /v1/workers/{id}|rt|/v1/workers/{W}|GET
rt_sum|Runtime GET /v1/runtime|rt|/v1/runtime|GET
rt_post|Runtime POST input (memory)|rt|/v1/workers/{W}/input|POST
fs_post|Runtime POST input (fs)|fs|/v1/workers/{W}/input|POST"
[ -n "$PHP_FPM" ] && CASES="$CASES
php_get|php-fpm GET (static children)|php|/x|GET
php_post|php-fpm POST (static children)|php|/x|POST"

record() { # key "rps p99 err"; L_key: the last rate
	local k=$1
	set -- $2
	eval "R_$k=\"\${R_$k:-} $1\"; P_$k=\"\${P_$k:-} $2\"; E_$k=\$(( \${E_$k:-0} + $3 )); L_$k=$1"
}
run() { # key url method [threads conns [seconds]]
	local r
	r=$(bench_wrk "$D/wrk.out" "${4:-2}" "${5:-$CONNS}" "${6:-$DURATION}" \
		"$2" "$3" "$POST_BODY") || { echo "http-bench: wrk failed ($1):" >&2
		cat "$D/wrk.out" >&2; exit 1; }
	record "$1" "$r"
}
loop_slice() { # key suffix: the disk's floor for one second: fsync$1
	local r
	r=$("$D/fdatasync-loop" "$D/fs.store" 1 "$REC" |
		sed -n 's/.*ops_per_s=\([0-9.]*\).*p99_ms=\([0-9.]*\).*/\1 \2 0/p')
	[ -n "$r" ] || { echo "http-bench: fdatasync-loop failed" >&2; exit 1; }
	record "fsync$1" "$r"
}
# "Awake" slices: one busy loop per CPU at SCHED_IDLE (chrt --idle), which
# runs only when nothing else wants the CPU, so no CPU halts while the
# cases wait for the disk.  On this VM a halted virtual CPU takes tens of
# microseconds or more to wake (the hypervisor deschedules it), and a
# durable input through nginx wakes three processes after its fdatasync
# where the bare loop wakes one: the awake slices measure the same cases
# without that cost of the VM.  Each loop is bounded by timeout(1).
AWAKE_PIDS=
awake_start() {
	local c
	for c in $(seq 0 $(($(nproc) - 1))); do
		timeout 120 taskset -c "$c" chrt --idle 0 \
			sh -c 'while :; do :; done' &
		AWAKE_PIDS="$AWAKE_PIDS $!"
	done
}
awake_stop() {
	[ -n "$AWAKE_PIDS" ] || return 0
	# shellcheck disable=SC2086 # pids
	kill -TERM $AWAKE_PIDS 2>/dev/null
	# shellcheck disable=SC2086
	wait $AWAKE_PIDS 2>/dev/null
	AWAKE_PIDS=
}
# The one-connection cases in slices of one second, the loop first in odd
# slices and last in even ones; each slice's ratios (raw, and with the
# slice's memory POST time subtracted) go to Q_KEY_raw and Q_KEY_sub.
# This VM's disk switches between speeds (about 2,000 and 3,700
# fdatasyncs a second here) for seconds to minutes at a time, so a ratio
# of cases measured DURATION seconds apart compared different disks.
# The key suffix ("" or _awake) names the slice's kind.
one_conn_slice() { # slice number, key suffix
	local s=$2 k
	[ $(($1 % 2)) = 1 ] && loop_slice "$s"
	run "fs1$s" "$(url fs "/v1/workers/$W_fs/input")" POST 1 1 1
	run "bare_sync1$s" "$(url bare_sync /x)" POST 1 1 1
	run "mem1$s" "$(url rt "/v1/workers/$W/input")" POST 1 1 1
	[ $(($1 % 2)) = 0 ] && loop_slice "$s"
	for k in "fs1$s" "bare_sync1$s"; do
		set -- $(awk -v fs="$(eval "echo \$L_$k")" \
			-v mem="$(eval "echo \$L_mem1$s")" \
			-v loop="$(eval "echo \$L_fsync$s")" 'BEGIN {
			sub_ = 0
			if (fs > 0 && mem > 0 && 1 / fs > 1 / mem)
				sub_ = 1 / (1 / fs - 1 / mem)
			printf "%.4f %.4f", fs / loop, sub_ / loop }')
		eval "Q_${k}_raw=\"\${Q_${k}_raw:-} $1\"; Q_${k}_sub=\"\${Q_${k}_sub:-} $2\""
	done
}
contention() { # key url list_url: GET detail while two clients list;
	# KEY_lists: the two lists' own rate (summed), p99 and errors
	local lurl=$3 a b
	bench_wrk "$D/l1.out" 1 1 $((DURATION + 2)) "$lurl" > "$D/l1.fig" &
	LIST_PIDS=$!
	bench_wrk "$D/l2.out" 1 1 $((DURATION + 2)) "$lurl" > "$D/l2.fig" &
	LIST_PIDS="$LIST_PIDS $!"
	sleep 1 # both lists are under way (a state wrk does not report)
	run "$1" "$2" GET
	# shellcheck disable=SC2086 # two pids
	wait $LIST_PIDS || { echo "http-bench: a list client failed ($1):" >&2
		cat "$D/l1.out" "$D/l2.out" >&2; exit 1; }
	LIST_PIDS=
	read -r a < "$D/l1.fig" && read -r b < "$D/l2.fig" ||
		{ echo "http-bench: no list figures ($1)" >&2; exit 1; }
	record "${1}_lists" "$(echo "$a $b" | awk '{ printf "%.2f %.2f %d",
		$1 + $4, ($2 > $5 ? $2 : $5), $3 + $6 }')"
}
case_run() { # key: one wrk run of that case
	local k=$1 key label be path method w
	case $k in
	rt_def) run rt_def "$(url rt_def "/v1/workers/$W_rt_def")" GET ;;
	rt_get_alone) run "$k" "$(url rt "/v1/workers/$W")" GET ;;
	rt_get_list) contention "$k" "$(url rt "/v1/workers/$W")" \
		"$(url rt '/v1/workers?limit=1000')" ;;
	rt_get_blist) contention "$k" "$(url rt "/v1/workers/$W")" \
		"$(url bare_list /x)" ;;
	*)	while IFS='|' read -r key label be path method; do
			[ "${k%_[01]}" = "$key" ] || continue
			[ "${k##*_}" = 1 ] && be=${be}_ka
			w=$(eval "echo \${W_$be:-}")
			run "$k" "$(url "$be" "${path//\{W\}/$w}")" "$method"
		done <<< "$CASES" ;;
	esac
}
# Cases compared by a ratio run next to each other, in groups, in the
# group's order in odd rounds and in reverse in even ones, so the
# machine's drift (this shared VM's rates move by a quarter between runs
# minutes apart) favours neither case of a pair; a ratio is the median of
# the rounds' ratios (the issue's "per-round ratios (medians)").
P0= P1= Q0= Q1=
[ -n "$PHP_FPM" ] && P0=php_get_0 P1=php_get_1 Q0=php_post_0 Q1=php_post_1
# rt_get_0 between bare_get_0 and php_get_0; each keepalive pair adjacent.
GROUP_GET="rt_sum_0 rt_sum_1 $P1 bare_get_1 rt_get_1 rt_def bare_get_0 rt_get_0 $P0"
GROUP_POST="$Q1 fs_post_1 rt_post_1 bare_post_1 bare_post_0 rt_post_0 fs_post_0 $Q0"
GROUP_LIST="rt_get_alone rt_get_list rt_get_blist"
order() { # round word...: the words, reversed in even rounds
	local r=$1 out= w
	shift
	for w in "$@"; do
		if [ $((r % 2)) = 1 ]; then out="$out $w"; else out="$w $out"; fi
	done
	echo $out
}

echo "http-bench: $ROUNDS round(s) of wrk -t2 -c$CONNS -d${DURATION}s;" \
	"--threads $THREADS ($((THREADS + KEEPALIVE)) behind keepalive" \
	"$KEEPALIVE, Runtime as deployed $THREADS); $(nproc) CPUs;" \
	"fs record $REC bytes"
for round in $(seq 1 "$ROUNDS"); do
	echo "round $round" >&2
	run ceiling "http://127.0.0.1:$PORT0/" GET
	# shellcheck disable=SC2086 # the groups split into keys
	for k in $(order "$round" $GROUP_GET) $(order "$round" $GROUP_POST) \
		$(order "$round" $GROUP_LIST); do
		case_run "$k"
	done
	for slice in $(seq 1 "$DURATION"); do
		one_conn_slice "$slice" ""
		awake_start
		one_conn_slice "$slice" _awake
		awake_stop
	done
done

# ---- the table --------------------------------------------------------------
med() { eval "bench_median \$R_$1"; }
p99() { eval "bench_median \$P_$1"; }
row() { # key label
	printf '%-50s %10s %9s %7s\n' "$2" "$(med "$1")" "$(p99 "$1")" \
		"$(eval "echo \${E_$1:-0}")"
}
printf '%-50s %10s %9s %7s\n' case "req/s" "p99 ms" errors
row ceiling 'nginx return 200 (ceiling)'
while IFS='|' read -r key label be path method; do
	row "${key}_0" "$label"
	row "${key}_1" "$label, keepalive"
done <<< "$CASES"
row rt_def "Runtime GET detail as deployed, keepalive"
row rt_get_alone 'Runtime GET detail, next to the two below'
row rt_get_list 'Runtime GET detail, 2 clients listing 1,000'
row rt_get_blist 'same, the 2 lists from a bare responder'
row rt_get_list_lists '  the 2 lists themselves, from the Runtime'
row rt_get_blist_lists '  the 2 lists themselves, from the bare responder'
for s in "" _awake; do
	a=
	[ -n "$s" ] && a=', CPUs awake'
	row "fs1$s" "Runtime POST input (fs), 1 connection$a"
	row "bare_sync1$s" "bare libfcgi POST + fdatasync, 1 conn$a"
	row "mem1$s" "Runtime POST input (memory), 1 conn$a"
	row "fsync$s" "write+fdatasync loop, $REC bytes$a"
done

# rr NUM DEN [P]: the median over the rounds of NUM's rate (P: p99) over
# DEN's in the same round, and the range of the rounds' ratios.
rr() {
	local v=${3:-R} a b
	eval "a=\$${v}_$1; b=\$${v}_$2"
	awk -v a="$a" -v b="$b" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++) print (y[i] > 0 ? x[i] / y[i] : 0) }' |
		sort -g | awk '{ v[NR] = $1 }
		END { printf "%.2f (%.2f-%.2f)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
echo "ratios (medians of the rounds' ratios, their range in brackets):"
echo "  GET/bare $(rr rt_get_0 bare_get_0)," \
	"GET/bare keepalive $(rr rt_get_1 bare_get_1)," \
	"GET keepalive/bare no-keepalive $(rr rt_get_1 bare_get_0)," \
	"GET keepalive/no-keepalive $(rr rt_get_1 rt_get_0)"
echo "  as deployed (--threads $THREADS, keepalive $KEEPALIVE): /bare no-keepalive" \
	"$(rr rt_def bare_get_0), /Runtime no-keepalive" \
	"$(rr rt_def rt_get_0), p99 $(p99 rt_def) ms" \
	"vs no-keepalive $(p99 rt_get_0) ms (p99 ratio $(rr rt_def rt_get_0 P))"
[ -n "$PHP_FPM" ] && echo "  GET/php-fpm $(rr rt_get_0 php_get_0)"
echo "  POST(memory)/bare POST $(rr rt_post_0 bare_post_0)," \
	"keepalive $(rr rt_post_1 bare_post_1)"
echo "  GET detail with 2 listing/alone: rate $(rr rt_get_list rt_get_alone)," \
	"p99 $(rr rt_get_list rt_get_alone P);" \
	"the same bytes listed by a bare responder: rate" \
	"$(rr rt_get_blist rt_get_alone), p99 $(rr rt_get_blist rt_get_alone P);" \
	"lists/s from the Runtime over lists/s from the bare responder" \
	"$(rr rt_get_list_lists rt_get_blist_lists)"
echo "  fs/memory at $CONNS connections $(rr fs_post_0 rt_post_0)"
fs1_line() { # label key suffix: medians of the one-second slices' ratios
	printf '  %s/fdatasync loop (medians of %s one-second slices): raw %.2f, HTTP round trip (%.3f ms) subtracted %.2f\n' \
		"$1" "$(eval "echo \$Q_${2}$3_raw" | wc -w)" \
		"$(eval "bench_median \$Q_${2}$3_raw")" \
		"$(awk -v m="$(med "mem1$3")" 'BEGIN { print (m > 0 ? 1000 / m : 0) }')" \
		"$(eval "bench_median \$Q_${2}$3_sub")"
}
for s in "" _awake; do
	a=
	[ -n "$s" ] && echo "  the same with every CPU kept awake (a SCHED_IDLE busy loop each):" &&
		a='  '
	echo "$a  the disk's floor over the slices: $(eval "printf '%s\n' \$R_fsync$s" |
		sort -g | sed -n '1p;$p' | paste -sd- | sed 's/-/ to /') fdatasyncs/s"
	fs1_line "${a}fs 1 connection" fs1 "$s"
	fs1_line "${a}bare libfcgi + fdatasync, 1 connection" bare_sync1 "$s"
	echo "$a  fs 1 connection/bare libfcgi + fdatasync $(rr "fs1$s" "bare_sync1$s")"
done
