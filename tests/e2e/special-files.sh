#!/usr/bin/env bash
# tests/e2e/special-files.sh - a FIFO, a directory, a device or a socket
# given as --profiles or --local-token-file is refused at once, never
# waited on.  A FIFO without a writer used to hold open(2) for good: -t,
# the start (its stop signals already blocked: only SIGKILL ended it) and,
# for --profiles, the main thread at SIGHUP, which then never saw SIGTERM.
# Now -t, the start and --health-check exit 1 naming the file and what it
# is, and a SIGHUP that finds --profiles replaced by a FIFO logs why,
# keeps the old profiles, and the Runtime goes on: it answers, reloads the
# next good file and exits 0 on SIGTERM.  A FIFO put in place of
# --pid-file while it runs does not hold its exit, and is not opened.
# Every run is bounded; waits are for states.  (tests/e2e/access-log.sh
# covers a FIFO as a log file.)
set -u
. "$(dirname "$0")/lib.sh"

e2e_need cgi-fcgi jq
e2e_direct_init
e2e_workers

P=$T/profiles.json
mkfifo "$T/fifo"
mkdir "$T/dir"

# refused WHAT ARGS...: the binary run with ARGS exits 1 within 10 s and
# its output has WHAT.  A run that waits is killed (SIGKILL 5 s after the
# SIGTERM: a start blocks its stop signals) and fails the check.
refused() {
	local what=$1
	shift
	timeout -k 5 10 "$WR_BIN" "$@" >"$T/run.out" 2>&1
	[ $? = 1 ] && grep -qF -- "$what" "$T/run.out"
}

for flag in --profiles --local-token-file; do
	check "-t: a FIFO without a writer as $flag is 1 at once" \
		refused "$T/fifo: is a FIFO, not a regular file" \
		-t --socket "unix:$T/none.sock" "$flag" "$T/fifo"
	check "... -t says the check failed" \
		grep -qF "check: $flag $T/fifo: failed" "$T/run.out"
	check "a start with a FIFO as $flag is 1 at once" \
		refused "$T/fifo: is a FIFO, not a regular file" \
		--socket "unix:$T/start.sock" "$flag" "$T/fifo"
	check "... and binds nothing" test ! -e "$T/start.sock"
	check "-t: a directory as $flag is 1, named" \
		refused "$T/dir: is a directory, not a regular file" \
		-t --socket "unix:$T/none.sock" "$flag" "$T/dir"
	check "-t: /dev/null as $flag is 1, named" \
		refused "/dev/null: is a character device, not a regular file" \
		-t --socket "unix:$T/none.sock" "$flag" /dev/null
done
check "--health-check with a FIFO as --local-token-file is 1 at once" \
	refused "$T/fifo: is a FIFO, not a regular file" \
	--health-check --socket "unix:$T/none.sock" \
	--local-token-file "$T/fifo"

# ---- SIGHUP with --profiles replaced by a FIFO ---------------------------
create() { # create PROFILE: POST /v1/workers with that named profile
	e2e_fcgi POST /v1/workers \
		"{\"profile\":{\"kind\":\"named\",\"value\":\"$1\"}}"
}
gone() { ! wr_stack_pid_alive "$PID"; }

jq -n --arg e "$ECHO" '{profiles: {one: {argv: [$e]}}}' >"$P"
e2e_direct_start --profiles "$P"
for flag in --profiles --local-token-file; do # $SOCK: a live unix socket
	check "-t: a unix socket as $flag is 1, named" \
		refused "$SOCK: is a socket, not a regular file" \
		-t --socket "unix:$T/none.sock" "$flag" "$SOCK"
done
rm "$P"
mkfifo "$P"
kill -HUP "$PID"
check "SIGHUP with --profiles a FIFO: an error line naming it" \
	e2e_until_log "reload: --profiles: $P: is a FIFO, not a regular file \(invalid_input/unreadable_file\); the old profiles stay in force"
create one
check "... the old profiles stay in force (profile one creates)" \
	test "$(e2e_status_of "$T/out")" = 201
rm "$P"
jq -n --arg e "$ECHO" '{profiles: {two: {argv: [$e]}}}' >"$P"
kill -HUP "$PID"
check "... the main thread is free: the next SIGHUP loads a good file" \
	e2e_until_log "reload: 1 profile\(s\) from $P in force"
create two
check "... and its profile two creates" \
	test "$(e2e_status_of "$T/out")" = 201
kill -TERM "$PID"
check "... SIGTERM stops the Runtime (within 15 s)" until_true 150 gone
RC=-
gone && { wait "$PID"; RC=$?; }
check "... with exit status 0 (was $RC)" test "$RC" = 0

# ---- --pid-file replaced by a FIFO while the Runtime runs -----------------
# At exit the Runtime removes its pid file if it still holds its pid; it
# used to open a FIFO there for reading, and wait for a writer for good.
e2e_direct_start --pid-file "$T/pid"
check "--pid-file: the file holds the pid" test "$(cat "$T/pid")" = "$PID"
rm "$T/pid"
mkfifo "$T/pid"
kill -TERM "$PID"
check "a FIFO in place of the pid file does not hold SIGTERM (within 15 s)" \
	until_true 150 gone
RC=-
gone && { wait "$PID"; RC=$?; }
check "... exit status 0 (was $RC)" test "$RC" = 0
check "... and the FIFO is left where it was" test -p "$T/pid"

# Nor is it opened: a writer waiting in open(2) for a reader would be
# released, and its write fail (EPIPE).
rm "$T/pid"
e2e_direct_start --pid-file "$T/pid"
rm "$T/pid"
mkfifo "$T/pid"
bash -c 'exec 3>"$1"' _ "$T/pid" &
W=$!
E2E_PIDS="${E2E_PIDS:-} $W"
writer_waits() { grep -Eq 'fifo|partner|pipe' "/proc/$W/wchan" 2>/dev/null; }
check "a writer waits in open(2) on the FIFO in place of the pid file" \
	until_true 100 writer_waits
kill -TERM "$PID"
check "... SIGTERM stops the Runtime (within 15 s)" until_true 150 gone
RC=-
gone && { wait "$PID"; RC=$?; }
check "... exit status 0 (was $RC)" test "$RC" = 0
sleep 0.5 # a writer the exit released would be gone by now
check "... and the writer still waits: the FIFO was not opened" \
	writer_waits
kill "$W" 2>/dev/null
wait "$W" 2>/dev/null
rm -f "$P" "$T/fifo" "$T/pid"
rmdir "$T/dir"
e2e_finish
