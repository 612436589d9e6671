#!/usr/bin/env bash
# tests/e2e/socket-pidfile.sh - --socket-mode, --socket-group, --pid-file
# and a two-line --local-token-file, straight at the FastCGI socket.
#
# As root (CI) it makes three throwaway system users, as an operator would:
# the Runtime's user R (a member of nginx's group G), an "nginx" user N
# whose group is G, and uses nobody as a stranger; the Runtime runs as R
# (setpriv), the requests come as N and as nobody.  As another user it runs
# everything as that user, with its own primary group as G, and skips the
# checks that need a second user.  Every wait is for a state (a log line, a
# process gone), bounded.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need cgi-fcgi setpriv
e2e_init --no-stack
CODE=-
ROOT=0
[ "$(id -u)" = 0 ] && ROOT=1

if [ "$ROOT" = 1 ]; then
	command -v useradd >/dev/null || { e2e_say "SKIP: no useradd"; exit 77; }
	G=wre2e-g$$ R=wre2e-r$$ N=wre2e-n$$
	e2e_groupadd "$G" || exit 99
	e2e_useradd "$R" -U -G "$G" || exit 99
	e2e_useradd "$N" -N -g "$G" || exit 99
	AS_R=(setpriv --reuid "$R" --regid "$R" --init-groups --)
	as_n() { setpriv --reuid "$N" --regid "$G" --init-groups -- "$@"; }
	as_nobody() { setpriv --reuid nobody --regid nogroup --clear-groups -- "$@"; }
	chmod 0711 "$E2E_TMP"
else
	G=$(id -gn) R=$(id -un)
	AS_R=()
	as_n() { "$@"; }
fi
RUN=$E2E_TMP/run
mkdir "$RUN"
SOCK=$RUN/fcgi.sock
PIDF=$RUN/worker-runtime.pid
LOG=$E2E_TMP/rt.log
# The socket's directory as docs/deploy.md makes it: R owns it, G enters.
[ "$ROOT" = 1 ] && { chown "$R:$G" "$RUN"; chmod 0750 "$RUN"; }

# Two tokens (a rotation in progress), owned by R, 0600, CRLF on one line.
T1=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
T2=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
TOK=$E2E_TMP/runtime-token
printf '%s\r\n%s\n' "$T1" "$T2" >"$TOK"
chmod 0600 "$TOK"
[ "$ROOT" = 1 ] && chown "$R" "$TOK"

# start_rt ARGS...: runs the Runtime as R in the background, waits (<= 10 s)
# for its "started" line or its exit.  Sets RT_PID; returns 1 if it exited.
start_rt() {
	local i
	: >"$LOG"
	# Not through a function: $! must be the Runtime itself (setpriv and
	# the libtool wrapper exec it).
	${AS_R[@]+"${AS_R[@]}"} "$WR_BIN" "$@" </dev/null 2>"$LOG" &
	RT_PID=$!
	E2E_PIDS="${E2E_PIDS:-} $RT_PID"
	for i in $(seq 100); do
		grep -q ' info worker-runtime: started ' "$LOG" && return 0
		wr_stack_pid_alive "$RT_PID" || break
		sleep 0.1
	done
	wait "$RT_PID" 2>/dev/null
	RT_RC=$?
	return 1
}

# stop_rt: SIGTERM, wait (<= 15 s) for the exit; sets RT_RC.
stop_rt() {
	local i
	kill -TERM "$RT_PID"
	for i in $(seq 150); do
		wr_stack_pid_alive "$RT_PID" || break
		sleep 0.1
	done
	RT_RC=timeout
	wr_stack_pid_alive "$RT_PID" || { wait "$RT_PID"; RT_RC=$?; }
}

# fcgi_get WHO TOKEN: GET /v1/runtime over the socket as WHO (as_n,
# as_nobody); the response (or the error) is in $E2E_TMP/body.
fcgi_get() {
	"$1" env -i REQUEST_METHOD=GET REQUEST_URI=/v1/runtime \
		HTTP_AUTHORIZATION="Bearer $2" \
		"$(command -v cgi-fcgi)" -bind -connect "$SOCK" \
		>"$E2E_TMP/body" 2>&1
	return 0
}
answered() { grep -q "^Status: $1" "$E2E_TMP/body"; }
mode_of() { stat -c %a "$1"; }
group_of() { stat -c %G "$1"; }
rt_rc_is() { [ "$RT_RC" = "$1" ]; }
log_has() { grep -q -- "$1" "$LOG"; }

# ---- a failed startup writes no pid file and leaves no socket ----------
: >"$E2E_TMP/not-a-dir"
start_rt --socket "unix:$SOCK" --socket-group "$G" --pid-file "$PIDF" \
	--store "fs:$E2E_TMP/not-a-dir"
check "startup failing on the store exits 1" rt_rc_is 1
check "... and writes no pid file" test ! -e "$PIDF"
check "... and leaves no socket file" test ! -e "$SOCK"

# ---- a group the user may not give: exit 1, named, nothing left ----------
start_rt --socket "unix:$SOCK" --socket-group root --pid-file "$PIDF"
if [ "$R" = root ]; then
	check "root may give any group (socket group root)" true
	stop_rt
else
	check "--socket-group of a group the user is not in exits 1" rt_rc_is 1
	check "... saying the user must be a member" log_has 'must be a member'
	check "... and leaves no socket file or pid file" \
		test ! -e "$SOCK" -a ! -e "$PIDF"
fi

# ---- usage errors: exit 2 ------------------------------------------------
start_rt --socket 127.0.0.1:1 --socket-mode 0660
check "--socket-mode with a TCP socket is a usage error (2)" rt_rc_is 2
start_rt --socket "unix:$SOCK" --socket-mode 0999
check "--socket-mode 0999 is a usage error (2)" rt_rc_is 2
start_rt --socket "unix:$SOCK" --socket-mode 1777
check "--socket-mode with the sticky bit is a usage error (2)" rt_rc_is 2

# ---- serving: mode, group, pid file, both tokens -------------------------
echo 999999 >"$PIDF"   # a stale pid file left by a killed process
[ "$ROOT" = 1 ] && chown "$R" "$PIDF"
if ! start_rt --socket "unix:$SOCK" --socket-group "$G" \
	--socket-mode 0660 --pid-file "$PIDF" --local-token-file "$TOK"; then
	e2e_say "the Runtime did not start:"
	cat "$LOG" >&2
	exit 1
fi
check "pid file holds the serving process's id (stale one replaced)" \
	test "$(cat "$PIDF")" = "$RT_PID"
check "socket mode is 0660" test "$(mode_of "$SOCK")" = 660
check "socket group is --socket-group ($G)" test "$(group_of "$SOCK")" = "$G"
fcgi_get as_n "$T1"
check "a member of $G is answered, first token line: 200" answered 200
fcgi_get as_n "$T2"
check "second token line (rotation) is accepted too: 200" answered 200
fcgi_get as_n "$T1$T2"
check "a token that is no line of the file: 401" answered 401
if [ "$ROOT" = 1 ]; then
	fcgi_get as_nobody "$T1"
	check "a user outside $G cannot connect" sh -c \
		"! grep -q '^Status:' '$E2E_TMP/body'"
fi
stop_rt
check "SIGTERM: exit 0" rt_rc_is 0
check "SIGTERM: pid file removed" test ! -e "$PIDF"
check "SIGTERM: socket removed" test ! -e "$SOCK"

# ---- another mode -----------------------------------------------------------
if start_rt --socket "unix:$SOCK" --socket-mode 0600; then
	check "--socket-mode 0600 gives mode 0600" test "$(mode_of "$SOCK")" = 600
	check "without --socket-group the group is the user's" \
		test "$(group_of "$SOCK")" = "$(${AS_R[@]+"${AS_R[@]}"} id -gn)"
	if [ "$ROOT" = 1 ]; then
		fcgi_get as_n "$T1"
		check "with 0600 a member of $G cannot connect" sh -c \
			"! grep -q '^Status:' '$E2E_TMP/body'"
	fi
	stop_rt
else
	check "--socket-mode 0600 starts" false
fi

e2e_finish
