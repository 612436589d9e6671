#!/usr/bin/env bash
# tests/e2e/lifecycle-log.sh - the exec driver's lifecycle log lines
# (wr_config.on_worker_event): spawned with its pid, exited with its
# status (marked failed when it ended on its own), killed after its grace
# (a worker that ignores EOF and SIGTERM), spawn failure with its reason;
# a worker's stderr line logged as its own ("worker stderr"), counted by
# the metrics and no diagnostic (GET /v1/health stays "ok"); a flood of
# stderr lines: those not logged are reported, even when no line follows.
# Waits for log lines (states), never for a guessed duration.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl
e2e_init

LOG=$WR_DIR/worker-runtime.log
e2e_workers
# "missing": its program is removed after the start (the profiles' load
# refuses one that is missing then).
cp "$ECHO" "$E2E_TMP/none" || exit 99
jq -n --arg tw "$TW" --arg echo "$ECHO" --arg missing "$E2E_TMP/none" '{
	profiles: {
		echo: {argv: [$echo]},
		chatty: {argv: [$tw, "--stderr"]},
		crash: {argv: [$tw, "--exit-at-start", "3"]},
		stubborn: {argv: [$tw, "--ignore-term", "--ignore-eof"],
		           stop_grace_ms: 100},
		missing: {argv: [$missing]},
		flood: {argv: ["/bin/sh", "-c",
		    "i=0; while [ $i -lt 1000 ]; do echo flood $i >&2; i=$((i+1)); done; exec cat >/dev/null"]}
	}
}' >"$E2E_TMP/profiles.json" || exit 99
create_with() {
	e2e_api POST /v1/workers \
		-d "{\"profile\":{\"kind\":\"named\",\"value\":\"$1\"}}"
	WID=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body")
}

health_ok() { # no diagnostic yet
	e2e_api GET /v1/health &&
	jq -e '.health.status == "ok" and .health.diagnostic_count == 0' \
		"$E2E_TMP/body"
}
stderr_counted() {
	e2e_api GET /v1/metrics &&
	grep -qx 'worker_runtime_exec_stderr_lines_total 1' "$E2E_TMP/body"
}

e2e_start_stack --profiles "$E2E_TMP/profiles.json"
rm -f "$E2E_TMP/none"

# First, while no diagnostic was made: the stderr line must not make one.
create_with chatty
e2e_api POST "/v1/workers/$WID/input" -d '{"kind":"user","content":"hi"}'
check "a stderr line is logged as the worker's own, info" e2e_until_log \
	" info worker-runtime: worker stderr worker_id=$WID profile=chatty pid=[0-9]+ line=\"test-worker: turn 1\"\$"
check "... counted by exec_stderr_lines_total" stderr_counted
check "... and no diagnostic: health stays ok" health_ok

create_with echo
check "spawned: a line with the worker, profile and pid" e2e_until_log \
	" info worker-runtime: worker spawned worker_id=$WID profile=echo pid=[0-9]+\$"
e2e_api POST "/v1/workers/$WID/stop" -d '{}'
check "exited on a graceful stop: status 0, not failed" e2e_until_log \
	" info worker-runtime: worker exited worker_id=$WID profile=echo pid=[0-9]+ status=0\$"

create_with crash
check "a worker that exits on its own: status 3, marked failed" e2e_until_log \
	" warn worker-runtime: worker exited, marked failed worker_id=$WID profile=crash pid=[0-9]+ status=3\$"

create_with stubborn
check "the stubborn worker is spawned" e2e_until_log "worker spawned worker_id=$WID profile=stubborn"
e2e_api POST "/v1/workers/$WID/stop" -d '{}'
check "killed after its grace" e2e_until_log \
	" warn worker-runtime: worker killed after its grace \\(SIGKILL\\) worker_id=$WID profile=stubborn pid=[0-9]+\$"
check "... then exited by signal 9" e2e_until_log \
	"worker exited worker_id=$WID profile=stubborn pid=[0-9]+ signal=9\$"

create_with missing
check "a program that cannot start: 503 spawn_failed" \
	error_is 503 runtime_unavailable spawn_failed
check "... and an error line with the reason" e2e_until_log \
	" error worker-runtime: worker spawn failed worker_id=[^ ]+ profile=missing reason=spawn_failed message="

# A flood of 1000 stderr lines, then silence: past 20 a second from one
# worker the lines are not logged, and a warn line with the worker's id
# says how many, even though no later stderr line comes to report them.
stderr_total_is() {
	e2e_api GET /v1/metrics &&
	grep -qx "worker_runtime_exec_stderr_lines_total $1" "$E2E_TMP/body"
}
# logged_plus_dropped WID: lines of WID logged + lines reported not logged.
logged_plus_dropped() {
	local logged dropped
	logged=$(grep -c "worker stderr worker_id=$1 " "$LOG")
	dropped=$(sed -n "s/.* warn worker-runtime: worker stderr lines not logged (more than 20 a second from one worker or 100 from all) worker_id=$1 lines=\([0-9]*\)\$/\1/p" "$LOG" |
		awk '{ s += $1 } END { print s + 0 }')
	[ $((logged + dropped)) = 1000 ]
}
create_with flood
check "a flood of 1000 stderr lines is counted" until_true 100 stderr_total_is 1001
check "... every line is logged or reported not logged, with no later line" \
	until_true 50 logged_plus_dropped "$WID"

e2e_finish
