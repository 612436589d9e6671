#!/usr/bin/env bash
# tests/e2e/exec-busy.sh - exec Workers end to end through real nginx.
#
# worker-runtime (memory store) started with --profiles FILE, whose
# profiles run the built example programs src/workers/slow-worker and
# src/workers/echo-worker (docs/worker-protocol.md) and the test program
# tests/workers/test-worker, behind deploy/nginx.conf over TLS with the
# local token.  Checks: during a turn that cannot end before the test opens
# its gate (test-worker --gate FILE) the Worker is busy and a second input
# is refused with 409 busy and Retry-After, however slow the machine; after
# the turn the transcript holds the input then the worker's outputs in
# order (slow-worker's too); echo-worker answers; cancel mid-turn ends the
# child process; a program that exits by itself makes the Worker failed
# while the Runtime goes on serving; a program that does not exist refuses
# the create with 503 runtime_unavailable/spawn_failed and creates nothing.
# Every wait is bounded; a watchdog ends the test after 120 s
# (a run takes about 25 s on a machine with load 20 on 2 cores).
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl
e2e_init

e2e_workers

# The watchdog: its own sleep ends with it when the cleanup stops it.
( trap 'kill "$s" 2>/dev/null; exit 0' TERM
  sleep 120 & s=$!
  wait "$s" && { e2e_say "ERROR: over 120 s; giving up"; kill -TERM $$; } ) &
E2E_PIDS="$!"

# Profiles: a "gated" turn answers (2 lines) only once $GATE exists and
# removes it, "slow" turns take 3 x 100 ms, "long" ones 400 x 500 ms
# (longer than the watchdog: only ever cancelled), "crash" is slow-worker
# refusing its arguments (it exits with status 2 at once), "missing" names
# a program removed after the start (the profiles' load refuses one that
# is missing then).
MISSING=$E2E_TMP/no-such-worker
cp "$ECHO" "$MISSING" || exit 99
GATE=$E2E_TMP/gate
jq -n --arg slow "$SLOW" --arg echo "$ECHO" --arg missing "$MISSING" \
	--arg tw "$TW" --arg gate "$GATE" '{
	profiles: {
		gated: {argv: [$tw, "--gate", $gate, "--lines", "2"]},
		slow: {argv: [$slow, "100", "3"]},
		long: {argv: [$slow, "500", "400"], stop_grace_ms: 1000},
		echo: {argv: [$echo]},
		crash: {argv: [$slow, "not-a-number"]},
		missing: {argv: [$missing]}
	}
}' > "$E2E_TMP/profiles.json" || exit 99

e2e_start_stack --runtime-id e2e-exec --store memory --threads 4 \
	--profiles "$E2E_TMP/profiles.json"
rm -f "$MISSING"
LOG=$WR_DIR/worker-runtime.log

# worker_has W FILTER: GET the detail of W; true if FILTER holds.
worker_has() {
	e2e_api GET "/v1/workers/$1"
	[ "$CODE" = 200 ] && jq -e "$2" "$E2E_TMP/body" >/dev/null
}

# children: the PIDs of the Runtime's child processes (zombies included),
# one a line.
children() {
	cat /proc/"$WR_RUNTIME_PID"/task/*/children 2>/dev/null |
		tr ' ' '\n' | grep .
}
no_children() { ! children >/dev/null; }
# worker_children: children() but the worker watchdog ("wr-watchdog", one
# while any exec worker runs; see docs/worker-protocol.md).
worker_children() {
	local p
	for p in $(children); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = wr-watchdog ] || echo "$p"
	done
}
not_alive() { [ -n "$1" ] && ! wr_stack_pid_alive "$1"; }

# status_and CODE FILTER: the last response had CODE and FILTER holds.
status_and() { status_is "$1" && json "$2"; }

# create PROFILE: POST /v1/workers on a named profile; sets W.
create() {
	e2e_api POST /v1/workers -d "{\"profile\":{\"kind\":\"named\",\"value\":\"$1\"}}"
	W=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body" 2>/dev/null)
	[ -n "$W" ] || W=missing-worker-id
}

# transcript_is W FILTER: the transcript of W as [[sequence, role, content]...]
# compared by FILTER (given it as $t).
transcript_is() {
	e2e_api GET "/v1/workers/$1/transcript"
	[ "$CODE" = 200 ] &&
	jq -e "[.transcript.items[] | [.sequence, .role, .content]] as \$t | $2" \
		"$E2E_TMP/body" >/dev/null
}

# ---- busy: a second input during a turn --------------------------------------
# The gated turn cannot end before the test creates $GATE, so the second
# input meets a busy Worker whatever the load on the machine.
create gated
check "create on the gated profile is 201, running and idle" status_and 201 \
	'.worker.status == "running" and .worker.run_state == "idle"
	 and .worker.profile.value == "gated"'
W_GATED=$W

e2e_api POST "/v1/workers/$W_GATED/input" -d '{"kind":"user","content":"first"}'
check "first input is 200 and the worker is busy" status_and 200 \
	'.ack.transcript_sequence == 1 and .ack.status == "running"
	 and .ack.run_state == "busy"'

e2e_api POST "/v1/workers/$W_GATED/input" -d '{"kind":"user","content":"second"}'
check "input during the turn: 409 busy" error_is 409 busy
check "the 409 carries Retry-After" header retry-after '[0-9]+'
check "the refused input is not in the transcript" \
	transcript_is "$W_GATED" '$t == [[1, "user", "first"]]'

: > "$GATE"
check "the turn ends once the gate opens: run_state idle (<= 10 s)" \
	until_true 100 worker_has "$W_GATED" '.worker.run_state == "idle"'
check "transcript: the input, then the worker's outputs in order" \
	transcript_is "$W_GATED" '$t == [[1, "user", "first"],
	 [2, "worker", "LINE 1/2: first"], [3, "worker", "LINE 2/2: first"]]'

e2e_api POST "/v1/workers/$W_GATED/input" -d '{"kind":"user","content":"again"}'
check "after the turn, input is accepted again" status_and 200 \
	'.ack.transcript_sequence == 4 and .ack.run_state == "busy"'
: > "$GATE"
check "... and that turn ends too (<= 10 s)" \
	until_true 100 worker_has "$W_GATED" '.worker.run_state == "idle"'

# ---- slow-worker: progress outputs in order ---------------------------------
create slow
check "create on the slow profile is 201" status_is 201
W_SLOW=$W
e2e_api POST "/v1/workers/$W_SLOW/input" -d '{"kind":"user","content":"first"}'
check "input to slow is 200" status_is 200
check "the slow turn ends (<= 10 s)" \
	until_true 100 worker_has "$W_SLOW" '.worker.run_state == "idle"'
check "transcript: the input, then slow-worker's outputs in order" \
	transcript_is "$W_SLOW" '$t == [[1, "user", "first"],
	 [2, "worker", "step 1/3"], [3, "worker", "step 2/3"],
	 [4, "worker", "step 3/3"], [5, "worker", "done: first"]]'

# ---- echo --------------------------------------------------------------------
create echo
check "create on the echo profile is 201" status_is 201
W_ECHO=$W
e2e_api POST "/v1/workers/$W_ECHO/input" -d '{"kind":"user","content":"hello, echo"}'
check "input to echo is 200" status_is 200
check "echo's turn ends (<= 5 s)" \
	until_true 50 worker_has "$W_ECHO" '.worker.run_state == "idle"'
check "echo answered with the same content (role worker)" \
	transcript_is "$W_ECHO" \
	'$t == [[1, "user", "hello, echo"], [2, "worker", "hello, echo"]]'

for w in "$W_GATED" "$W_SLOW" "$W_ECHO"; do
	e2e_api POST "/v1/workers/$w/stop"
	check "stop is 200 and stopped" json '.ack.status == "stopped"'
done
check "stopped workers leave no child process (<= 8 s)" \
	until_true 80 no_children

# ---- cancel mid-turn ------------------------------------------------------
create long
check "create on the long profile is 201" status_is 201
W_LONG=$W
CHILD=$(worker_children)
check "the worker has exactly one worker process" \
	test -n "$CHILD" -a "$(echo "$CHILD" | wc -l)" = 1
e2e_api POST "/v1/workers/$W_LONG/input" -d '{"kind":"user","content":"long"}'
check "a long turn starts (busy)" json '.ack.run_state == "busy"'
check "the turn makes progress (first output, <= 5 s)" \
	until_true 50 worker_has "$W_LONG" '.worker.transcript_len >= 2'

e2e_api POST "/v1/workers/$W_LONG/cancel" -d '{"reason":"e2e cancel"}'
check "cancel mid-turn is 200 with status cancelled" status_and 200 \
	'.ack.status == "cancelled"'
check "the cancelled worker's process is gone (<= 5 s)" \
	until_true 50 no_children
check "... and that was its process" not_alive "$CHILD"
check "detail: cancelled, run_state none" \
	worker_has "$W_LONG" '.worker.status == "cancelled" and .worker.run_state == "none"'
check "the abandoned turn never finished" \
	transcript_is "$W_LONG" '$t[0] == [1, "user", "long"] and
	 ([$t[] | select(.[2] | startswith("done:"))] | length) == 0'

# ---- a program that dies by itself -------------------------------------------
create crash
check "create on the crash profile is 201" status_is 201
W_CRASH=$W
check "the worker becomes failed (<= 5 s)" \
	until_true 50 worker_has "$W_CRASH" '.worker.status == "failed" and .worker.run_state == "none"'
check "transcript: a runtime entry with the exit status" \
	transcript_is "$W_CRASH" \
	'$t[-1][1:] == ["runtime", "worker process exited with status 2"]'
check "its process was reaped (<= 5 s)" until_true 50 no_children
e2e_api POST "/v1/workers/$W_CRASH/input" -d '{"kind":"user","content":"x"}'
check "input to the failed worker: 409 unsupported_operation" \
	error_is 409 unsupported_operation
e2e_api GET /v1/runtime
check "the Runtime goes on serving (GET /v1/runtime 200)" status_is 200
check "... counting 1 failed, 1 cancelled, 3 stopped" json \
	'.runtime.worker_count == 5 and .runtime.failed_worker_count == 1
	 and .runtime.cancelled_worker_count == 1
	 and .runtime.stopped_worker_count == 3
	 and .runtime.active_worker_count == 0'
check "... the crash's usage line on stderr is logged as the worker's own" \
	e2e_until_log ' info worker-runtime: worker stderr worker_id=[^ ]+ profile=crash pid=[0-9]+ line="usage: slow-worker'
check "... and neither it nor the cancel is a diagnostic" json \
	'.runtime.diagnostic_count == 0'

# ---- a program that does not exist -----------------------------------------
create missing
check "missing program: 503 runtime_unavailable/spawn_failed" \
	error_is 503 runtime_unavailable spawn_failed
check "the 503 carries Retry-After" header retry-after '[0-9]+'
check "the message names the program" json --arg p "$MISSING" \
	'.error.message | contains($p)'
e2e_api GET /v1/workers
check "no worker was created" json '(.workers | length) == 5 and
	 ([.workers[].profile.value] | index("missing")) == null'
check "no process was left behind" no_children

if wr_stack_pid_alive "$WR_RUNTIME_PID"; then
	check "worker-runtime survived every request" true
else
	E2E_CRASH=1
	check "worker-runtime survived every request" false
fi

e2e_finish
