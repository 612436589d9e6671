#!/usr/bin/env bash
# tests/e2e/restoring.sh - while worker-runtime replays its store, every
# request is answered at once with a typed 503 runtime_unavailable, reason
# restoring, Retry-After (not queued silently in the listen backlog), and
# nothing is acted on; once the Runtime is open the same process serves
# normally.  A store that cannot be opened still ends the process (exit 1,
# one line) as before.
#
# The replay is held by the binary's test seam WR_TEST_HOLD_OPEN=FIFO (it
# waits before opening the Runtime until the FIFO is opened and closed for
# writing), so the test waits for states, never for a guessed duration.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl mkfifo timeout
e2e_init

STORE=$E2E_TMP/store
HOLD=$E2E_TMP/hold
LOG=$WR_DIR/worker-runtime.log
ARGS=(--store "fs:$STORE")

runtime_ok() { e2e_api GET /v1/runtime; [ "$CODE" = 200 ]; }

# ---- a store with one worker and one input ----------------------------------
e2e_start_stack "${ARGS[@]}"
e2e_api POST /v1/workers -d '{}'
WID=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body")
[ -n "$WID" ] || { e2e_say "ERROR: create failed ($CODE)"; exit 99; }
e2e_api POST "/v1/workers/$WID/input" -d '{"kind":"user","content":"kept"}'
[ "$CODE" = 200 ] || [ "$CODE" = 202 ] ||
	{ e2e_say "ERROR: input failed ($CODE)"; exit 99; }
wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime

# ---- restart it with the replay held ------------------------------------------
mkfifo "$HOLD" || exit 99
WR_TEST_HOLD_OPEN=$HOLD wr_stack_start_runtime "$WR_BIN" "${ARGS[@]}" || exit 99

e2e_api GET /v1/runtime
check "GET /v1/runtime while restoring is 503 runtime_unavailable/restoring" \
	error_is 503 runtime_unavailable restoring
check "503 restoring carries Retry-After" header Retry-After '[0-9]+'
e2e_api POST /v1/workers -d '{}'
check "a create while restoring is 503 restoring" \
	error_is 503 runtime_unavailable restoring
e2e_api POST "/v1/workers/$WID/input" -d '{"kind":"user","content":"lost"}'
check "an input while restoring is 503 restoring" \
	error_is 503 runtime_unavailable restoring
e2e_api GET "/v1/workers/$WID/transcript"
check "a transcript read while restoring is 503 restoring" \
	error_is 503 runtime_unavailable restoring
check "the log says the store is being restored" \
	grep -q 'restoring (answering 503 restoring until it is open) store=fs:' "$LOG"
check "no started line before the Runtime is open (only the first run's)" \
	test "$(grep -c 'started runtime_id=' "$LOG")" = 1
check "each 503 restoring is logged as a warn server error line, with its reason" \
	test "$(grep -c ' warn worker-runtime: server error status=503 reason=restoring method=' "$LOG")" = 4
check "... and none at error level (an expected, passing state)" \
	bash -c '! grep -q " error worker-runtime: server error" "$1"' _ "$LOG"

# ---- let the replay go on -----------------------------------------------------
check "the held replay is released" \
	timeout 10 bash -c ': > "$1"' _ "$HOLD"
check "GET /v1/runtime is 200 once the Runtime is open" until_true 100 runtime_ok
e2e_api GET /v1/workers
check "exactly the worker of before: the create while restoring did nothing" \
	json --arg w "$WID" '[.workers[].worker_id] == [$w]'
e2e_api GET "/v1/workers/$WID/transcript"
check "its transcript holds the input of before and not the refused one" \
	json '[.transcript.items[] | select(.role == "user") | .content] == ["kept"]'
wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
WR_RUNTIME_PID=

# ---- a store that cannot be opened: exit 1 with the message, as before ---------
: > "$E2E_TMP/not-a-dir"
rc=0
timeout 20 "$WR_BIN" --socket "unix:$E2E_TMP/bad.sock" \
	--store "fs:$E2E_TMP/not-a-dir" </dev/null >/dev/null \
	2>"$E2E_TMP/bad.log" || rc=$?
check "a store that cannot be opened ends the process with status 1" \
	test "$rc" = 1
check "and one line says why" grep -q 'cannot open the runtime' "$E2E_TMP/bad.log"
check "and it never says started" bash -c '! grep -q started "$1"' _ "$E2E_TMP/bad.log"
check "and its socket file is removed" test ! -e "$E2E_TMP/bad.sock"

e2e_finish
