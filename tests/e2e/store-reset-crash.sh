#!/usr/bin/env bash
# tests/e2e/store-reset-crash.sh - mutations whose fdatasync failed are
# answered 503 store_sync_failed only once the store's reset cut their
# records from the journal: a SIGKILL right after such an answer, then a
# restart on the same store, does not bring the changes back.  The shim
# (tests/slow-fdatasync.c, preloaded) makes one fdatasync take 2 s and
# fail with EIO, and slows the reset's ftruncate and fdatasync (2 s
# each).  Input A leads that fdatasync; input B comes while it runs, so
# the failure drops B's record too and B is answered on another thread
# than the one resetting: an answer sent before the cut would leave both
# records in the journal for the kill to find.  Every wait is for a state
# (the fdatasync began, B's answer); the shim's delays only widen the
# window the fault would need.  Talks FastCGI straight to the socket.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need cgi-fcgi jq
e2e_direct_init
e2e_fdatasync_shim
body_of() { sed -n '/^{/p' "$1"; }

ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
LD_PRELOAD=$SHIM WR_SLOW_FDATASYNC_ARM=$T/arm WR_SLOW_FDATASYNC_MS=2000 \
WR_FAIL_FDATASYNC_ARM=$T/fail WR_SLOW_FTRUNCATE=1 \
WR_SLOW_FDATASYNC_ENTERED=$T/entered \
	e2e_direct_start --store "fs:$T/store" --threads 4

e2e_fcgi POST /v1/workers '{}'
check "a worker is created" test "$(e2e_status_of "$T/out")" = 201
ID=$(body_of "$T/out" | jq -r '.worker.worker_id')
e2e_fcgi POST "/v1/workers/$ID/input" '{"kind":"user","content":"kept"}'
check "an input is taken" test "$(e2e_status_of "$T/out")" = 200

: >"$T/fail"
: >"$T/arm"
e2e_fcgi -o "$T/a" POST "/v1/workers/$ID/input" \
	'{"kind":"user","content":"lost A"}' &
E2E_PIDS="$E2E_PIDS $!"
check "input A's fdatasync begins" until_true 100 test -e "$T/entered"
e2e_fcgi -o "$T/b" POST "/v1/workers/$ID/input" \
	'{"kind":"user","content":"lost B"}'
kill -KILL "$PID"
wait "$PID" 2>/dev/null
E2E_PIDS=
check "input B, dropped by A's failed fdatasync, is answered 503" \
	test "$(e2e_status_of "$T/b")" = 503
check "... store_sync_failed (it waited in that fdatasync's batch)" \
	eval '[ "$(body_of "$T/b" | jq -r .error.reason)" = store_sync_failed ]'

rm -f "$T/arm"
e2e_direct_start --store "fs:$T/store"
e2e_fcgi GET "/v1/workers/$ID"
check "after SIGKILL and a restart the worker has only the taken input" \
	eval '[ "$(body_of "$T/out" | jq -r .worker.transcript_len)" = 1 ]'
kill -TERM "$PID"
wait "$PID"
check "... and stops cleanly" test $? = 0
E2E_PIDS=

e2e_finish
