#!/usr/bin/env bash
# tests/e2e/health-check.sh - worker-runtime --health-check, the probe the
# Kubernetes example runs in the Runtime's own container, against a live
# Runtime on a unix socket (no nginx): healthy -> 0 with a "200 ok" line;
# a Runtime with --local-token-file -> 1 without the token, 0 with it; a
# Runtime still restoring its store -> 1 (503 restoring); a stopped
# Runtime and a socket that does not exist -> 1 with a clear line.  Waits
# are for states (the socket, a log line, a process gone), bounded.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need timeout mkfifo
e2e_init --no-stack
CODE=- # no HTTP here (check prints it on a failure)
T=$E2E_TMP
SOCK=$T/rt.sock
printf 'tok-one\ntok-two\n' >"$T/token" && chmod 600 "$T/token"
printf 'wrong\n' >"$T/wrong" && chmod 600 "$T/wrong"

# start_rt [ARGS...]: the Runtime on $SOCK, waits until it logged
# "started" (or, with HOLD set, until the socket exists).
RT_PID=
start_rt() {
	local i
	"$WR_BIN" --socket "unix:$SOCK" "$@" 2>"$T/rt.log" &
	RT_PID=$!
	E2E_PIDS="$RT_PID"
	for ((i = 0; i < 100; i++)); do
		if [ -n "${HOLD:-}" ]; then [ -S "$SOCK" ] && return 0
		else grep -q ' started ' "$T/rt.log" && return 0; fi
		wr_stack_pid_alive "$RT_PID" || break
		sleep 0.1
	done
	e2e_say "ERROR: the Runtime did not come up"
	cat "$T/rt.log" >&2
	exit 99
}
stop_rt() { wr_stack_stop_pid "$RT_PID" worker-runtime; E2E_PIDS=; }
# hc [ARGS...]: the probe; its status in HC, its line in $T/hc.out.
hc() {
	"$WR_BIN" --health-check "$@" 2>"$T/hc.out"
	HC=$?
}
said() { grep -q -- "$1" "$T/hc.out"; }

start_rt --store memory
hc --socket "unix:$SOCK"
check "a healthy Runtime: exit 0" test "$HC" = 0
check "... the line says 200 ok" said "health-check unix:$SOCK: 200 ok"
check "... and the Runtime counted it as GET /v1/health" \
	until_true 50 grep -q 'access method=GET route=/v1/health status=200' "$T/rt.log"
stop_rt

start_rt --store memory --local-token-file "$T/token"
hc --socket "unix:$SOCK"
check "a Runtime with a token, probe without: exit 1" test "$HC" = 1
check "... the line names 401 missing_token" said ": 401 missing_token"
hc --socket "unix:$SOCK" --local-token-file "$T/wrong"
check "... with a wrong token: exit 1 (401 wrong_token)" \
	eval '[ "$HC" = 1 ] && said ": 401 wrong_token"'
hc --socket "unix:$SOCK" --local-token-file "$T/token"
check "... with the token file: exit 0" test "$HC" = 0
stop_rt

hc --socket "unix:$SOCK"
check "a stopped Runtime (socket removed): exit 1" test "$HC" = 1
check "... the line says no Runtime serves there" \
	said "health-check unix:$SOCK: connect: No such file or directory (no Runtime serves there)"
hc --socket "unix:$T/nowhere/rt.sock"
check "a socket path that does not exist: exit 1" test "$HC" = 1

# A Runtime that is still restoring its store answers 503 restoring.
HOLD=$T/hold
mkfifo "$HOLD" || exit 99
WR_TEST_HOLD_OPEN=$HOLD start_rt --store "fs:$T/store"
hc --socket "unix:$SOCK"
check "a Runtime restoring its store: exit 1" test "$HC" = 1
check "... the line says 503 restoring" said ": 503 restoring"
timeout 10 bash -c ': > "$1"' _ "$HOLD"
check "once the store is open: exit 0" until_true 100 eval 'hc --socket "unix:$SOCK"; [ "$HC" = 0 ]'
stop_rt

e2e_finish
