#!/usr/bin/env bash
# tests/e2e/reload-check.sh - SIGHUP and --check-config (-t).
# SIGHUP: the process survives; a new profile is usable by a new worker
# while a running one keeps its own; an invalid file, or one naming a
# program that does not exist, leaves the old
# profiles in force with an error line; --log-file is reopened after a
# rename (logrotate).  -t: exit 0 on a good configuration, 1 naming each
# bad input (profiles, token file, store missing, store locked by a live
# Runtime), and it never binds the socket.  State-based waits only.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl
e2e_init

ECHO=$top_builddir/src/workers/echo-worker
P=$E2E_TMP/profiles.json
RLOG=$E2E_TMP/rt.log
create_with() {
	e2e_api POST /v1/workers \
		-d "{\"profile\":{\"kind\":\"named\",\"value\":\"$1\"}}"
}

# ---- -t --------------------------------------------------------------------
jq -n --arg e "$ECHO" '{profiles: {one: {argv: [$e]}}}' >"$P"
mkdir -p "$E2E_TMP/store"
printf 'tok\n' >"$E2E_TMP/token" && chmod 600 "$E2E_TMP/token"
"$WR_BIN" -t --socket "unix:$E2E_TMP/t.sock" --profiles "$P" \
	--store "fs:$E2E_TMP/store" --local-token-file "$E2E_TMP/token" \
	2>"$E2E_TMP/t.out"
RC=$?
check "-t on a good configuration exits 0" test "$RC" = 0
check "... prints one line per check" bash -c 'grep -q "check: --profiles .*: ok" "$1" && grep -q "check: --store .*: ok" "$1" && grep -q "check: --local-token-file .*: ok" "$1"' _ "$E2E_TMP/t.out"
check "... and binds nothing" test ! -e "$E2E_TMP/t.sock"
tbad() { # tbad WHAT-IN-MESSAGE ARGS...: -t exits 1 and names it
	local want=$1 rc
	shift
	"$WR_BIN" -t "$@" 2>"$E2E_TMP/t.out"
	rc=$?
	[ "$rc" = 1 ] && grep -q -- "$want" "$E2E_TMP/t.out"
}
echo '{"profiles": {' >"$E2E_TMP/bad.json"
check "-t: an invalid profiles file is 1, named" tbad "check: --profiles $E2E_TMP/bad.json" --profiles "$E2E_TMP/bad.json"
printf 'two words\n' >"$E2E_TMP/badtok" && chmod 600 "$E2E_TMP/badtok"
check "-t: an invalid token file is 1, named" tbad "check: --local-token-file $E2E_TMP/badtok: failed" --local-token-file "$E2E_TMP/badtok"
check "-t: a store directory without its parent is 1, named" tbad "check: --store fs:$E2E_TMP/none/store" --store "fs:$E2E_TMP/none/store"

# ---- a running Runtime on the store: locked --------------------------------
e2e_start_stack --profiles "$P" --store "fs:$E2E_TMP/store" --log-file "$RLOG"
check "-t: a store held by a live Runtime is 1, store_locked" tbad "store_locked" --store "fs:$E2E_TMP/store"
check "--log-file gets the log" until_true 100 grep -q ' started ' "$RLOG"

# ---- SIGHUP ----------------------------------------------------------------
create_with one
W1=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body")
check "profile one creates a worker" test "$CODE" = 201
create_with two
check "profile two does not exist yet (400 unknown_profile)" error_is 400 invalid_input unknown_profile

jq -n --arg e "$ECHO" '{profiles: {two: {argv: [$e]}}}' >"$P"
mv "$RLOG" "$RLOG.1"
kill -HUP "$WR_RUNTIME_PID"
check "after SIGHUP the log file is reopened at its path" until_true 100 grep -q 'reload: 1 profile' "$RLOG"
check "the process survived SIGHUP" wr_stack_pid_alive "$WR_RUNTIME_PID"
create_with two
check "a new worker can use the new profile two" test "$CODE" = 201
create_with one
check "profile one is gone for new workers" error_is 400 invalid_input unknown_profile
e2e_api POST "/v1/workers/$W1/input" -d '{"kind":"user","content":"still here"}'
check "the running worker of profile one still takes input" bash -c '[ "$1" = 200 ] || [ "$1" = 202 ]' _ "$CODE"

echo '{"profiles": ' >"$P"
kill -HUP "$WR_RUNTIME_PID"
check "an invalid file on SIGHUP: an error line" until_true 100 grep -q 'error worker-runtime: reload: --profiles.*the old profiles stay in force' "$RLOG"
create_with two
check "... and the old profiles stay in force" test "$CODE" = 201

# A profile whose program is missing makes the file bad (the load checks
# what a spawn needs): the reload keeps the old profiles.
jq -n --arg m "$E2E_TMP/no-such-program" '{profiles: {three: {argv: [$m]}}}' >"$P"
kill -HUP "$WR_RUNTIME_PID"
check "a profile naming a missing program on SIGHUP: an error line naming it" \
	until_true 100 grep -q "error worker-runtime: reload: --profiles: .*profile \"three\": member \"argv\": cannot execute the program $E2E_TMP/no-such-program: No such file or directory.*the old profiles stay in force" "$RLOG"
create_with two
check "... and the old profiles stay in force" test "$CODE" = 201
check "the process survived them all" wr_stack_pid_alive "$WR_RUNTIME_PID"

e2e_finish
