#!/usr/bin/env bash
# tests/e2e/shutdown-stuck-sync.sh - --shutdown-timeout holds while the
# disk hangs: mutations parked until their fdatasync (fs store, --threads
# 1) and an fdatasync that takes 20 s (tests/slow-fdatasync.c, preloaded).
# SIGTERM with --shutdown-timeout 500: the process logs "shutdown
# timeout" and exits 1 while the slowed fdatasync is still running (its
# "done" file does not exist yet), instead of waiting for it.  Before
# that, neither a peer that leaves while its input is parked nor an input
# refused on a stop still waiting for the fdatasync holds the thread.
# Talks FastCGI straight to the socket (cgi-fcgi); every wait is for a
# state.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need cgi-fcgi jq
e2e_direct_init
e2e_fdatasync_shim

# ASan wants its runtime first; the shim is only a wrapper around libc.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
LD_PRELOAD=$SHIM WR_SLOW_FDATASYNC_ARM=$T/arm WR_SLOW_FDATASYNC_MS=20000 \
WR_SLOW_FDATASYNC_DONE=$T/synced \
	e2e_direct_start --store "fs:$T/store" --threads 1 --shutdown-timeout 500

e2e_fcgi POST /v1/workers '{}'
check "a worker is created" test "$(e2e_status_of "$T/out")" = 201
ID=$(sed -n '/^{/p' "$T/out" | jq -r '.worker.worker_id')
e2e_fcgi POST /v1/workers '{}'
ID2=$(sed -n '/^{/p' "$T/out" | jq -r '.worker.worker_id')
: >"$T/arm"
for i in 1 2 3; do
	e2e_fcgi -o "$T/in.$i" POST "/v1/workers/$ID/input" \
		'{"kind":"user","content":"hi"}' &
	E2E_PIDS="$E2E_PIDS $!"
done
parked() {
	e2e_fcgi GET /v1/metrics
	grep -Eq '^worker_runtime_http_requests_parked [1-9]' "$T/out"
}
check "inputs are parked waiting for their (slow) fdatasync" until_true 100 parked

# A peer that leaves while its input waits for the fdatasync holds no
# thread: the one serving thread still answers others at once (it used
# to take the hangup and wait for the fdatasync to answer the leaver).
check "a peer leaves while its input is parked" eval \
	'[ "$(python3 "$top_srcdir/tests/e2e/fcgi-peer.py" "$SOCK" leave \
		"/v1/workers/$ID/input")" = left ]'
for i in 1 2 3; do
	e2e_fcgi GET /v1/runtime
	check "... the only thread answers GET $i while the fdatasync runs" \
		eval 'test "$(e2e_status_of "$T/out")" = 200 && ! [ -e "$T/synced" ]'
done

# A refusal that rests on a change not yet durable (an input to a worker
# whose stop waits for the fdatasync) parks like that change: it used to
# wait for the fdatasync on the only serving thread.
parked_n() {
	e2e_fcgi GET /v1/metrics
	sed -n 's/^worker_runtime_http_requests_parked \([0-9]*\)$/\1/p' \
		"$T/out"
}
parked_above() { [ "$(parked_n)" -gt "$1" ]; }
N0=$(parked_n)
e2e_fcgi -o "$T/stop2" POST "/v1/workers/$ID2/stop" &
E2E_PIDS="$E2E_PIDS $!"
check "a stop parks behind the slow fdatasync" until_true 100 parked_above "$N0"
N1=$(parked_n)
e2e_fcgi -o "$T/in2" POST "/v1/workers/$ID2/input" \
	'{"kind":"user","content":"late"}' &
E2E_PIDS="$E2E_PIDS $!"
check "an input refused on that stop parks too" \
	until_true 100 parked_above "$N1"
e2e_fcgi GET /v1/runtime
check "... and the only thread answers a GET while the fdatasync runs" \
	eval 'test "$(e2e_status_of "$T/out")" = 200 && ! [ -e "$T/synced" ]'

kill -TERM "$PID"
gone_or_synced() { ! wr_stack_pid_alive "$PID" || [ -e "$T/synced" ]; }
until_true 300 gone_or_synced
check "the process is gone before the slow fdatasync ended" \
	eval '! wr_stack_pid_alive "$PID" && ! [ -e "$T/synced" ]'
wait "$PID"
RC=$?
check "... it exits 1" test "$RC" = 1
check "... saying shutdown timeout" grep -q 'error worker-runtime: shutdown timeout: not stopped within 500 ms' "$LOG"
check "... in one line (no stray newline)" \
	grep -q 'the workers still running are killed$' "$LOG"
E2E_PIDS=

e2e_finish
