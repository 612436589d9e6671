#!/usr/bin/env bash
# tests/bench/restore-bench.sh - how fast worker-runtime restores an fs
# store: the time from starting the binary to the first 200 on
# GET /v1/runtime (straight at its FastCGI socket with cgi-fcgi), over a
# store of about 1,000,000 records (100 workers x 10,000 entries of 100
# bytes), printed as records/s (issue 10: at least 500,000).  With
# --baseline FILE a second binary (e.g. one built from an older commit)
# restores the same store in the same run, the two alternating, so the
# figures are side by side on the same machine state.
#
#   tests/bench/restore-bench.sh [--binary FILE] [--baseline FILE]
#                                [--store DIR] [--runs N]
#
# The store is written by tests/bench/restore-fill.c (compiled here with cc
# against the built library) into --store DIR, default a fresh directory
# under /tmp; a DIR that already holds a store is used as it is.  While it
# restores, the new binary answers 503 restoring and the loop asks again
# every 50 ms; an older one leaves the request in its backlog until it
# serves.  Besides the wall time it prints the CPU time the process used
# until then (utime + stime from /proc), the figure to compare on a
# machine that other work shares.  Not run by make check.  Unix socket only; every run bounded;
# cleans up by PID.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
BIN=${WORKER_RUNTIME:-$top_builddir/fcgi/worker-runtime}
BASE=
STORE=
RUNS=3

while [ $# -gt 0 ]; do
	case $1 in
	--binary) BIN=$2; shift 2 ;;
	--baseline) BASE=$2; shift 2 ;;
	--store) STORE=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	*) echo "usage: $0 [--binary FILE] [--baseline FILE] [--store DIR]" \
		"[--runs N]" >&2; exit 2 ;;
	esac
done
case $RUNS in ''|*[!0-9]*) echo "restore-bench: --runs N" >&2; exit 2 ;; esac
[ "$RUNS" -ge 1 ] && [ "$RUNS" -le 20 ] ||
	{ echo "restore-bench: --runs 1..20" >&2; exit 2; }
for c in cc cgi-fcgi; do
	command -v "$c" >/dev/null || { echo "restore-bench: $c not found" >&2; exit 77; }
done
for b in "$BIN" ${BASE:+"$BASE"}; do
	[ -x "$b" ] || { echo "restore-bench: $b not built" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/wr-rbench.XXXXXX) || exit 1
PID=
cleanup() {
	if [ -n "$PID" ]; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
[ -n "$STORE" ] || STORE=$TMP/store

cc -O2 -I"$top_srcdir/src" -o "$TMP/restore-fill" "$here/restore-fill.c" \
	-L"$top_builddir/src/.libs" -Wl,-rpath,"$top_builddir/src/.libs" \
	-lworker-runtime ||
	{ echo "restore-bench: cannot compile restore-fill.c" >&2; exit 1; }
if ! [ -e "$STORE/lock" ]; then
	echo "restore-bench: writing 100 workers x 10,000 entries to $STORE" >&2
	timeout 900 "$TMP/restore-fill" "$STORE" 100 1000000 100 >/dev/null ||
		{ echo "restore-bench: filling the store failed" >&2; exit 1; }
fi
RECORDS=$("$TMP/restore-fill" --count "$STORE" | sed -n 's/^records=//p')
[ -n "$RECORDS" ] || { echo "restore-bench: cannot count records" >&2; exit 1; }

now() { date +%s.%N; }
TICKS=$(getconf CLK_TCK)
# once BINARY: "WALL CPU": seconds from exec to the first 200 on
# GET /v1/runtime, and the CPU seconds the process used until then.
once() {
	local sock=$TMP/fcgi.sock t0 t1 i status cpu
	rm -f "$sock"
	t0=$(now)
	"$1" --socket "unix:$sock" --store "fs:$STORE" </dev/null \
		>/dev/null 2>"$TMP/log" &
	PID=$!
	for ((i = 0; i < 1200; i++)); do
		if [ -S "$sock" ]; then
			status=$(REQUEST_METHOD=GET REQUEST_URI=/v1/runtime \
				timeout 120 cgi-fcgi -bind -connect "$sock" 2>/dev/null |
				sed -n '1s/^Status: \([0-9]*\).*/\1/p')
			[ "$status" = 200 ] && break
		fi
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	t1=$(now)
	cpu=$(awk -v t="$TICKS" '{sub(/^.*\) /, ""); print ($12 + $13) / t}' \
		"/proc/$PID/stat" 2>/dev/null)
	kill -TERM "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
	[ "$status" = 200 ] || { echo "restore-bench: $1 never served" >&2; cat "$TMP/log" >&2; exit 1; }
	awk -v a="$t0" -v b="$t1" -v c="${cpu:-0}" 'BEGIN {printf "%.3f %.2f", b - a, c}'
}

printf 'records in the store: %s\n' "$RECORDS"
printf '%-10s %4s %9s %14s %8s %14s\n' binary run wall_s records/s cpu_s \
	records/cpu_s
for ((r = 1; r <= RUNS; r++)); do
	for which in ${BASE:+baseline} new; do
		b=$BIN
		[ "$which" = baseline ] && b=$BASE
		res=$(once "$b") || exit 1
		awk -v n="$RECORDS" -v w="$which" -v r="$r" -v res="$res" 'BEGIN {
			split(res, x, " ")
			per_cpu = 0
			if (x[2] > 0)
				per_cpu = n / x[2]
			printf "%-10s %4s %9.3f %14.0f %8.2f %14.0f\n", w, r, x[1],
			       n / x[1], x[2], per_cpu
		}'
	done
done
