#!/usr/bin/env bash
# tests/e2e/retain-clock.sh - --retain-ended is not held up by the wall
# clock: with every CLOCK_REALTIME the process reads an hour ahead of the
# kernel's (tests/clock-ahead.c; a deadline on the wall clock then lies an
# hour away, as after an NTP step back of an hour), an ended worker is
# still deleted within seconds of --retain-ended (1 s) after its last event.  Straight on a
# unix socket (cgi-fcgi), no nginx.  Bounded: 10 s for the deletion.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need cgi-fcgi jq
e2e_direct_init
SHIM=$top_builddir/tests/.libs/libclock-ahead.so
[ -f "$SHIM" ] || { e2e_say "ERROR: $SHIM not built"; exit 99; }

# An ASan build wants its runtime first in the library list: a preload
# comes before it (as group-commit.sh's shim does).
E2E_WRAP="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=$SHIM WR_CLOCK_AHEAD_S=3600"
e2e_direct_start --retain-ended 1s
e2e_fcgi POST /v1/workers '{"profile":{"kind":"builtin","value":"transcript"}}'
ID=$(sed -n 's/.*"worker_id":"\([^"]*\)".*/\1/p' "$T/out" | head -n 1)
check "a worker is created" test -n "$ID"
e2e_fcgi POST "/v1/workers/$ID/stop"
check "it is stopped" test "$(e2e_status_of "$T/out")" = 200
gone() {
	e2e_fcgi GET "/v1/workers/$ID" && [ "$(e2e_status_of "$T/out")" = 404 ]
}
check "retention deletes it within 10 s" until_true 100 gone
e2e_finish
