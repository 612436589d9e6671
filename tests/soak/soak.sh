#!/usr/bin/env bash
# tests/soak/soak.sh - a bounded soak of the whole stack (issue 8, part 6).
#
# Usage: tests/soak/soak.sh [--duration SECONDS] [--warmup SECONDS]
#            [--threads N] [--store memory|fs] [--build DIR] [--report FILE]
#            [--rss-ratio R] [--mix OP=WEIGHT,...]
#
# Starts the real worker-runtime behind the real nginx (deploy/nginx.conf,
# rendered by deploy/local-stack.sh, TLS on a random loopback port) with a
# profiles file of exec workers that answer (echo-worker, slow-worker),
# crash (test-worker exiting after 3 turns, or aborting mid-turn), hang
# (never ending a turn, one of them also ignoring SIGTERM) and time out,
# then runs tests/soak/driver.py: client threads mixing every endpoint for
# --duration seconds (default 600; tests/run-all runs 60).  See
# tests/soak/README.md for what is checked.  Every worker process carries
# SOAK_TAG=<unique tag> in its environment, so that after the Runtime is
# stopped with SIGTERM any process left with the tag is an orphan.
#
# Exit status: 0 every check held, 1 a check failed, 77 a tool is missing,
# 99 the soak could not run.  Every process it starts is stopped by PID,
# also on failure; a watchdog ends it at --duration + 300 s.
set -u
duration=600
warmup=
threads=4
store=memory
build=
report=
mix=
rss_ratio=1.1
while [ $# -gt 0 ]; do
	case $1 in
	--duration) duration=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--store) store=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--report) report=$2; shift 2 ;;
	--mix) mix=$2; shift 2 ;;
	--rss-ratio) rss_ratio=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "soak: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
case $duration$threads in *[!0-9]*) echo "soak: --duration and --threads take integers" >&2; exit 2 ;; esac
[ "$duration" -ge 20 ] || { echo "soak: --duration must be at least 20" >&2; exit 2; }
# Warm-up: a tenth of the run, at most 60 s.
[ -n "$warmup" ] || warmup=$(( duration / 10 < 60 ? duration / 10 : 60 ))
case $store in memory | fs) ;; *) echo "soak: --store memory|fs" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "$here/../.." && pwd)
if [ -n "$build" ]; then
	top_builddir=$(cd "$build" && pwd) || exit 99
elif [ -z "${top_builddir:-}" ]; then
	top_builddir=$top_srcdir
	[ -x "$top_builddir/fcgi/worker-runtime" ] ||
		top_builddir=$top_srcdir/_build/http
fi
export top_srcdir top_builddir

# shellcheck source=../e2e/lib.sh
. "$top_srcdir/tests/e2e/lib.sh"
e2e_need nginx curl jq openssl python3
e2e_init

ECHO=$top_builddir/src/workers/echo-worker
SLOW=$top_builddir/src/workers/slow-worker
TW=$top_builddir/tests/workers/test-worker
[ -x "$TW" ] || make -C "$top_builddir" tests/workers/test-worker >/dev/null
for p in "$ECHO" "$SLOW" "$TW"; do
	[ -x "$p" ] || { e2e_say "ERROR: $p not built"; exit 99; }
done

TAG=soak-$$-$RANDOM$RANDOM
# Orphans: processes with the tag still alive.  After the Runtime has
# exited none may be left; the cleanup stops any by PID.
orphans() { python3 "$here/driver.py" orphans "$TAG"; }
soak_cleanup() {
	local rc=$? p
	for p in $(orphans); do kill -KILL "$p" 2>/dev/null; done
	(exit "$rc")
	e2e_cleanup
}
trap soak_cleanup EXIT

# The watchdog: its own sleep ends with it when the cleanup stops it.
( trap 'kill "$s" 2>/dev/null; exit 0' TERM
  sleep $((duration + 300)) & s=$!
  wait "$s" && { e2e_say "ERROR: over $((duration + 300)) s; giving up"; kill -TERM $$; } ) &
E2E_PIDS="$!"

# Every profile carries the tag; driver.py knows each one's behaviour.
jq -n --arg echo "$ECHO" --arg slow "$SLOW" --arg tw "$TW" --arg tag "$TAG" '
	{env: {SOAK_TAG: $tag}} as $e | {
	default: "echo",
	profiles: {
		echo: ({argv: [$echo]} + $e),
		slow: ({argv: [$slow, "20", "3"]} + $e),
		crash: ({argv: [$tw, "--lines", "2", "--exit-after", "3", "3"]} + $e),
		abort: ({argv: [$tw, "--crash-mid-turn"]} + $e),
		timeout: ({argv: [$tw, "--no-turn-end"], turn_timeout_ms: 300} + $e),
		hang: ({argv: [$tw, "--no-turn-end"], stop_grace_ms: 200} + $e),
		hang_term: ({argv: [$tw, "--no-turn-end", "--ignore-term"],
			stop_grace_ms: 200} + $e)
	}}' > "$E2E_TMP/profiles.json" || exit 99

store_arg=memory
[ "$store" = fs ] && store_arg=fs:$E2E_TMP/store
e2e_start_stack --runtime-id soak --store "$store_arg" --threads 8 \
	--max-workers 10000000 --profiles "$E2E_TMP/profiles.json"
e2e_say "$WR_BASE_URL, Runtime $WR_RUNTIME_PID, store $store, ${duration} s" \
	"(warm-up ${warmup} s), $threads client threads, tag $TAG"

rc=0
python3 "$here/driver.py" --port "$WR_PORT" --ca "$WR_DIR/ca.pem" \
	--token-file "$WR_DIR/token" --runtime-pid "$WR_RUNTIME_PID" \
	--tag "$TAG" --api-md "$top_srcdir/docs/api.md" \
	--duration "$duration" --warmup "$warmup" --threads "$threads" \
	--mix "$mix" --rss-ratio "$rss_ratio" --report "$E2E_TMP/report.json" || rc=1
[ -n "$report" ] && [ -f "$E2E_TMP/report.json" ] && cp "$E2E_TMP/report.json" "$report"

# The Runtime served the whole run (no restart, no crash).
if ! wr_stack_pid_alive "$WR_RUNTIME_PID"; then
	e2e_say "FAIL: the Runtime ($WR_RUNTIME_PID) died during the soak"
	rc=1
fi

# Stop nginx, then the Runtime with SIGTERM only: it must exit 0 by itself
# (bounded: 60 s) and leave no worker process behind.
wr_stack_stop_pid "$WR_NGINX_PID" nginx
WR_NGINX_PID=
kill -TERM "$WR_RUNTIME_PID" 2>/dev/null
for _ in $(seq 600); do
	wr_stack_pid_alive "$WR_RUNTIME_PID" || break
	sleep 0.1
done
if wr_stack_pid_alive "$WR_RUNTIME_PID"; then
	e2e_say "FAIL: the Runtime did not exit within 60 s of SIGTERM"
	rc=1
else
	wait "$WR_RUNTIME_PID"
	status=$?
	WR_RUNTIME_PID=
	[ "$status" = 0 ] || { e2e_say "FAIL: the Runtime exited with $status"; rc=1; }
	left=$(orphans)
	if [ -n "$left" ]; then
		e2e_say "FAIL: worker processes outlived the Runtime: $left"
		ps -o pid,ppid,stat,args -p "${left// /,}" >&2
		rc=1
	else
		e2e_say "no worker process outlived the Runtime"
	fi
fi
grep -c . "$WR_DIR/worker-runtime.log" 2>/dev/null |
	sed 's/^/soak: Runtime log lines: /'
if [ "$rc" = 0 ]; then
	e2e_say "PASS"
else
	e2e_say "FAIL"
fi
exit "$rc"
