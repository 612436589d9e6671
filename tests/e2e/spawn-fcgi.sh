#!/usr/bin/env bash
# tests/e2e/spawn-fcgi.sh - deploy/spawn-fcgi.sh as docs/deploy.md uses it
# (as root, daemon mode): the Runtime's log lines reach WR_LOG (spawn-fcgi
# sends a daemon's stderr to /dev/null), a bad --profiles is shown with the
# Runtime's own message, and the pid file names the Runtime, which serves
# as its unprivileged user on a socket nginx's group can open; a second run
# while it serves is refused and leaves its pid file; the pid file goes at
# exit.
#
# Root only (it makes two throwaway system users, as an operator would):
# skips otherwise, and without spawn-fcgi or cgi-fcgi.  Every wait is for a
# state (a log line, a process gone), bounded.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need spawn-fcgi cgi-fcgi setpriv useradd
[ "$(id -u)" = 0 ] || { e2e_say "SKIP: needs root (spawn-fcgi.sh is run as root)"; exit 77; }
e2e_init --no-stack
CODE=-
G=wre2e-s$$ R=wre2e-q$$ N=wre2e-w$$
e2e_groupadd "$G" || exit 99
e2e_useradd "$R" -U || exit 99
e2e_useradd "$N" -N -g "$G" || exit 99
chmod 0711 "$E2E_TMP"

# The script as make install renders it (sbindir unused: WR_BIN is set).
SPAWN=$E2E_TMP/spawn-fcgi.sh
sed 's|@sbindir@|/nonexistent|g' "$top_srcdir/deploy/spawn-fcgi.sh.in" >"$SPAWN"
STATE=$E2E_TMP/state
install -d -m 0700 -o "$R" -g "$R" "$STATE"
export WR_BIN WR_USER=$R WR_GROUP=$R WR_SOCKET_GROUP=$G
export WR_SOCKET=$E2E_TMP/run/fcgi.sock WR_PIDFILE=$E2E_TMP/run/wr.pid
export WR_LOG=$E2E_TMP/log/worker-runtime.log WR_STATE=$STATE
LOG=$WR_LOG
log_has() { grep -q -- "$1" "$LOG"; }
out_has() { grep -q -- "$1" "$E2E_TMP/out"; }
rc_not_0() { [ "$RC" != 0 ]; }

# ---- a bad --profiles: the Runtime's message reaches the operator -------
RC=0
sh "$SPAWN" --profiles "$E2E_TMP/no-such-profiles.json" >"$E2E_TMP/out" 2>&1 ||
	RC=$?
check "bad --profiles: spawn-fcgi.sh fails" rc_not_0
check "... the Runtime's --profiles line is in WR_LOG" \
	log_has 'worker-runtime: --profiles: '
check "... and spawn-fcgi.sh prints it" out_has 'worker-runtime: --profiles: '
check "arguments without --store: a warning names the memory store" \
	out_has 'warning: no --store'
# (sh's own errors read "SCRIPT: LINE: ...")
check "... and no shell error (the log did not exist yet)" \
	sh -c "! grep -qE 'spawn-fcgi\.sh: [0-9]+: ' '$E2E_TMP/out'"

# ---- a good start: logs, pid file, socket for nginx's group ------------------
RC=0
sh "$SPAWN" --runtime-id rt-spawn --store "fs:$STATE/store" \
	>"$E2E_TMP/out" 2>&1 || RC=$?
check "spawn-fcgi.sh starts the daemon (exit 0)" test "$RC" = 0
check "with --store fs: there is no memory-store warning" \
	sh -c "! grep -q 'no --store' '$E2E_TMP/out'"
PID=$(cat "$WR_PIDFILE" 2>/dev/null)
E2E_PIDS="${E2E_PIDS:-} $PID"
for _ in $(seq 100); do
	log_has ' info worker-runtime: started ' && break
	wr_stack_pid_alive "$PID" || break
	sleep 0.1
done
check "the started line reaches WR_LOG" log_has ' info worker-runtime: started runtime_id=rt-spawn '
check "the pid file names the Runtime itself" \
	grep -q 'worker-runtime' "/proc/$PID/cmdline"
check "the Runtime runs as $R" test "$(stat -c %U "/proc/$PID")" = "$R"
check "the pid file is the Runtime's own (owned by $R)" \
	test "$(stat -c %U "$WR_PIDFILE")" = "$R"
RC=0
sh "$SPAWN" --runtime-id rt-spawn --store "fs:$STATE/store" \
	>"$E2E_TMP/out2" 2>&1 || RC=$?
check "a second spawn-fcgi.sh while it serves fails" test "$RC" != 0
check "... saying it already runs" grep -q "already runs (pid $PID" "$E2E_TMP/out2"
check "... and the pid file still names the Runtime" \
	test "$(cat "$WR_PIDFILE")" = "$PID"
setpriv --reuid "$N" --regid "$G" --init-groups -- env -i \
	REQUEST_METHOD=GET REQUEST_URI=/v1/runtime \
	"$(command -v cgi-fcgi)" -bind -connect "$WR_SOCKET" >"$E2E_TMP/body" 2>&1
check "a member of nginx's group ($G) is answered: 200" \
	grep -q '^Status: 200' "$E2E_TMP/body"
kill -TERM "$PID"
for _ in $(seq 150); do
	wr_stack_pid_alive "$PID" || break
	sleep 0.1
done
gone() { ! wr_stack_pid_alive "$1"; }
check "SIGTERM stops it" gone "$PID"
check "its stop is logged in WR_LOG" log_has ' info worker-runtime: stopped$'
check "the Runtime removed its pid file at exit" test ! -e "$WR_PIDFILE"

# ---- WR_LOG in the socket's directory: the script leaves that directory
# as it is (nginx's group keeps its way to the socket) ----------------------
export WR_LOG=$E2E_TMP/run/worker-runtime.log
LOG=$WR_LOG
RC=0
sh "$SPAWN" --runtime-id rt-spawn --store "fs:$STATE/store" \
	>"$E2E_TMP/out" 2>&1 || RC=$?
check "WR_LOG in the socket's directory: spawn-fcgi.sh starts (exit 0)" \
	test "$RC" = 0
PID=$(cat "$WR_PIDFILE" 2>/dev/null)
E2E_PIDS="${E2E_PIDS:-} $PID"
check "... the socket's directory keeps nginx's group ($G)" \
	test "$(stat -c %G "$E2E_TMP/run")" = "$G"
setpriv --reuid "$N" --regid "$G" --init-groups -- env -i \
	REQUEST_METHOD=GET REQUEST_URI=/v1/runtime \
	"$(command -v cgi-fcgi)" -bind -connect "$WR_SOCKET" >"$E2E_TMP/body" 2>&1
check "... and a member of nginx's group is still answered: 200" \
	grep -q '^Status: 200' "$E2E_TMP/body"
check "... the log is written there" log_has ' info worker-runtime: started '
kill -TERM "$PID"
for _ in $(seq 150); do
	wr_stack_pid_alive "$PID" || break
	sleep 0.1
done
check "SIGTERM stops it" gone "$PID"

e2e_finish
