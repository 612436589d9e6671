#!/usr/bin/env bash
# tests/e2e/shutdown.sh - the Runtime process's stop, end to end: the real
# worker-runtime behind deploy/nginx.conf, exec workers running
# tests/workers/test-worker.
#
# Checks:
#  1. SIGTERM stops exec workers gracefully: stdin closed, then their
#     stop_grace_ms; two workers that need 400 ms after stdin EOF to save
#     their state both write "saved" and none gets SIGTERM; one log line
#     per worker says how it was stopped; exit status 0.
#  2. No worker outlives the Runtime, even after kill -9: a worker that
#     ignores stdin EOF and SIGTERM, and the helper it forked into its
#     process group, are both gone.
#  3. The whole stop is bounded by --shutdown-timeout: a worker with a
#     60 s stop grace does not hold the process; it exits 1, says so, and
#     the worker is gone.
#  4. Requests waiting in the listen backlog at SIGTERM are answered (503
#     runtime_unavailable/stopping, or served), never nginx's 502-turned-503
#     upstream_failed ("outcome unknown").
# Every wait is for a state, bounded; a watchdog ends the test after 100 s.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl perl ss
e2e_init

TW=$top_builddir/tests/workers/test-worker
[ -x "$TW" ] || { e2e_say "ERROR: $TW not built"; exit 99; }

( trap 'kill "$s" 2>/dev/null; exit 0' TERM
  sleep 100 & s=$!
  wait "$s" && { e2e_say "ERROR: over 100 s; giving up"; kill -TERM $$; } ) &
E2E_PIDS="$!"

M=$E2E_TMP/marker
jq -n --arg tw "$TW" --arg m "$M" --arg pf "$E2E_TMP/stubborn.pid" \
	--arg lf "$E2E_TMP/long.pid" '{
	profiles: {
		save: {argv: [$tw, "--eof-delay-ms", "400", "--marker", $m],
		       stop_grace_ms: 5000},
		stubborn: {argv: [$tw, "--ignore-eof", "--ignore-term",
		                  "--grandchild", "--pidfile", $pf]},
		long: {argv: [$tw, "--ignore-eof", "--pidfile", $lf],
		       stop_grace_ms: 60000}
	}
}' > "$E2E_TMP/profiles.json" || exit 99
ARGS=(--store memory --profiles "$E2E_TMP/profiles.json")
LOG=$WR_DIR/worker-runtime.log

# until_true TENTHS CMD...: CMD every 0.1 s until it succeeds, at most
# TENTHS tries.
until_true() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
not_alive() { [ -n "$1" ] && ! wr_stack_pid_alive "$1"; }
lines_are() { [ "$(grep -c "^$2\$" "$1" 2>/dev/null)" = "$3" ]; }
log_count() { [ "$(grep -c -- "$1" "$LOG")" = "$2" ]; }

create() {
	e2e_api POST /v1/workers -d "{\"profile\":{\"kind\":\"named\",\"value\":\"$1\"}}"
	[ "$CODE" = 201 ]
}

# stop_runtime SIGNAL: sends SIGNAL to the Runtime, waits (<= 30 s) until
# it is gone and sets RC to its exit status.
stop_runtime() {
	kill "-$1" "$WR_RUNTIME_PID" 2>/dev/null
	until_true 300 not_alive "$WR_RUNTIME_PID"
	RC=0
	wait "$WR_RUNTIME_PID" || RC=$?
	WR_RUNTIME_PID=
}

restart_runtime() {
	: > "$LOG"
	wr_stack_start_runtime "$WR_BIN" "${ARGS[@]}" "$@" || exit 99
}

# pids_in FILE N: FILE holds N pid lines.
pids_in() { [ "$(grep -c . "$1" 2>/dev/null)" = "$2" ]; }

# ---- 1. SIGTERM: stdin EOF, then the stop grace ----------------------------
e2e_start_stack "${ARGS[@]}" --runtime-id e2e-shutdown --threads 2
check "two workers on the save profile are created" \
	eval 'create save && create save'
until_true 100 lines_are "$M" start 2
stop_runtime TERM
check "after SIGTERM the Runtime exits 0" test "$RC" = 0
check "both workers got stdin EOF and saved their state" lines_are "$M" saved 2
check "no worker got SIGTERM" lines_are "$M" term 0
check "one log line per worker says it stopped after stdin EOF" log_count \
	'stopped: worker process exited with status 0 after its stdin was closed' 2

# ---- 2. kill -9: no worker or helper survives ------------------------------
restart_runtime --threads 2
create stubborn
until_true 100 pids_in "$E2E_TMP/stubborn.pid" 2
WPID=$(sed -n 1p "$E2E_TMP/stubborn.pid")
HPID=$(sed -n 2p "$E2E_TMP/stubborn.pid")
check "the stubborn worker and its helper run" eval \
	'wr_stack_pid_alive "$WPID" && wr_stack_pid_alive "$HPID"'
stop_runtime KILL
check "after kill -9 of the Runtime the worker is gone" \
	until_true 100 not_alive "$WPID"
check "after kill -9 of the Runtime the worker's helper is gone" \
	until_true 100 not_alive "$HPID"

# ---- 3. --shutdown-timeout bounds the stop ---------------------------------
restart_runtime --threads 2 --shutdown-timeout 1000
create long
until_true 100 pids_in "$E2E_TMP/long.pid" 1
LPID=$(sed -n 1p "$E2E_TMP/long.pid")
stop_runtime TERM
check "a stop over --shutdown-timeout exits 1" test "$RC" = 1
check "the log says the shutdown timed out" log_count 'shutdown timeout' 1
check "the worker still in its stop grace is gone" \
	until_true 100 not_alive "$LPID"

# ---- 4. requests in the listen backlog at SIGTERM --------------------------
restart_runtime --threads 1
SOCK=$WR_DIR/fcgi.sock
backlog_is() {
	[ "$(ss -xlH src "$SOCK" | awk '{print $3}')" = "$1" ]
}
# The Runtime is stopped (SIGSTOP), so nothing accepts: the requests nginx
# forwards wait in the listen backlog.  SIGTERM stays pending until
# SIGCONT; the one serving thread may still take one of them.
kill -STOP "$WR_RUNTIME_PID"
CURLS=
for i in 1 2 3 4; do
	curl -sS --max-time 30 --cacert "$WR_DIR/tls/cert.pem" \
		-H "Authorization: Bearer $WR_TOKEN" \
		-o "$E2E_TMP/bl$i.body" -w '%{http_code}' \
		"$WR_BASE_URL/v1/runtime" > "$E2E_TMP/bl$i.code" 2>/dev/null &
	CURLS="$CURLS $!"
done
check "four requests wait in the listen backlog" until_true 100 backlog_is 4
kill -TERM "$WR_RUNTIME_PID"
kill -CONT "$WR_RUNTIME_PID"
stop_runtime TERM
for p in $CURLS; do wait "$p"; done
answered() {
	local i c
	for i in 1 2 3 4; do
		c=$(cat "$E2E_TMP/bl$i.code")
		if [ "$c" = 503 ]; then
			jq -e '.error.code == "runtime_unavailable" and
			       .error.reason == "stopping"' "$E2E_TMP/bl$i.body" ||
				return 1
		elif [ "$c" != 200 ]; then
			return 1
		fi
	done
}
stopping_count() {
	[ "$(cat "$E2E_TMP"/bl*.body | grep -c '"reason":"stopping"')" -ge 1 ]
}
check "no backlog request is upstream_failed: each is 200 or 503 stopping" \
	answered
check "the backlog was answered with 503 stopping" stopping_count
check "the log counts the requests answered from the backlog" \
	grep -q 'from the listen backlog with 503 stopping' "$LOG"

e2e_finish
