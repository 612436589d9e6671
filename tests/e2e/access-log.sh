#!/usr/bin/env bash
# tests/e2e/access-log.sh - --access-log FILE: the access lines go to their
# own file and every other line stays on standard error (the systemd units
# keep one line per request out of the journal, which rate-limits a
# service's lines); SIGHUP reopens it after a rename; deploy/logrotate.conf
# (paths moved into the test directory, its systemctl kill replaced by a
# kill -HUP of this process) rotates it without losing or doubling a line;
# --check-config checks it (a FIFO without reader fails at once, no
# wait); --no-access-log wins over it (an instance's WR_ARGS can still
# turn access lines off).
set -u
. "$(dirname "$0")/lib.sh"

e2e_need cgi-fcgi
e2e_direct_init
D=$T/logs
mkdir -p "$D"
ACC=$D/access.log

"$WR_BIN" --check-config --socket "unix:$T/none.sock" \
	--access-log "$T/no/such/dir/access.log" >"$T/check.out" 2>&1
check "--check-config: an --access-log whose directory is missing fails" \
	test $? = 1
check "... naming --access-log" grep -q 'check: --access-log ' "$T/check.out"
mkfifo "$T/fifo"
timeout 10 "$WR_BIN" --check-config --socket "unix:$T/none.sock" \
	--access-log "$T/fifo" >"$T/fifo.out" 2>&1
check "--check-config: a FIFO no process reads fails at once (no wait)" \
	test $? = 1
check "... saying so" grep -q 'a FIFO that no process reads' "$T/fifo.out"

e2e_direct_start --runtime-id acc --access-log "$ACC"
e2e_fcgi GET /v1/runtime
e2e_fcgi GET /v1/workers/w-nope
acc_has() { grep -qE " info worker-runtime: access method=GET route=$1 " "$2"; }
check "the access lines go to the --access-log file" \
	until_true 100 acc_has /v1/runtime "$ACC"
check "... all of them" until_true 100 acc_has '/v1/workers/\{id\}' "$ACC"
check "... and none to standard error" \
	bash -c '! grep -q " access " "$1"' _ "$LOG"
check "the other lines stay on standard error" grep -q ' started ' "$LOG"

# A rename (what logrotate does) and SIGHUP: a new file, the old one kept.
mv "$ACC" "$D/access.old"
kill -HUP "$PID"
e2e_until_log 'reload: log files reopened' >/dev/null
e2e_fcgi GET /v1/metrics
check "SIGHUP reopens the file after a rename: new lines in a new file" \
	until_true 100 acc_has /v1/metrics "$ACC"
check "... none of them in the renamed one" \
	bash -c '! grep -q "route=/v1/metrics " "$1"' _ "$D/access.old"
check "... which keeps the lines from before" acc_has /v1/runtime "$D/access.old"
# cloexec FILE: the Runtime's fd open on FILE has O_CLOEXEC (02000000 in
# /proc's octal flags), so no worker program it starts inherits it.
cloexec() {
	local fd
	for fd in /proc/"$PID"/fd/*; do
		[ "$(readlink "$fd")" = "$1" ] || continue
		awk '$1 == "flags:" {
			d = substr($2, length($2) - 6, 1); exit !(d % 4 >= 2) }' \
			"/proc/$PID/fdinfo/${fd##*/}"
		return
	done
	return 1
}
check "... and the reopened file stays close-on-exec (no worker inherits it)" \
	cloexec "$ACC"

if command -v logrotate >/dev/null 2>&1; then
	# The shipped rules on this directory, run now (-f), as this user.
	awk -v d="$D" -v pid="$PID" -v u="$(id -un)" -v g="$(id -gn)" '
		/^\/var\/log\/worker-runtime/ {
			gsub("/var/log/worker-runtime", d) }
		$1 == "su" { $0 = "\tsu " u " " g }
		$1 == "endscript" { skip = 0; print "\t\tkill -HUP " pid }
		skip { next }
		$1 == "postrotate" { skip = 1 }
		{ print }' "$top_srcdir/deploy/logrotate.conf" >"$T/logrotate.conf"
	lines_before=$(wc -l <"$ACC")
	logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf" \
		>"$T/logrotate.out" 2>&1
	check "logrotate runs deploy/logrotate.conf" test $? = 0
	cat "$T/logrotate.out" >&2
	check "... the file is rotated whole (access.log.1)" \
		test "$(wc -l <"$D/access.log.1")" = "$lines_before"
	until_true 100 eval '[ "$(grep -c "reload: log files reopened" "$LOG")" -ge 2 ]'
	e2e_fcgi GET /v1/health
	check "... and the Runtime writes on in a new access.log" \
		until_true 100 acc_has /v1/health "$ACC"
	check "... the first line in it" \
		test "$(wc -l <"$ACC")" = 1
else
	echo "# SKIP: logrotate not found: deploy/logrotate.conf not run"
fi

# A connection the Runtime closes after its answer ends right after
# FCGI_END_REQUEST, before the access line is written (else nginx may take
# it for its next request meanwhile): with the access log a FIFO whose
# reader has stopped and whose buffer is full, the access line's write
# blocks - a state, waited for in /proc - and the peer must see the
# connection end all the same.
kill -TERM "$PID"
wait "$PID" 2>/dev/null
mkfifo "$T/slow"
# The reader: shrinks the pipe to one page, then reads nothing until
# $T/drain exists, then everything (bounded: 60 s).
python3 - "$T/slow" "$T/drain" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
fcntl.fcntl(fd, 1031, 4096)  # F_SETPIPE_SZ
for _ in range(600):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.1)
fcntl.fcntl(fd, fcntl.F_SETFL, 0)
while os.read(fd, 65536):
    pass
PY
READER=$!
E2E_PIDS="${E2E_PIDS:-} $READER"
reading() { local f; for f in /proc/"$READER"/fd/*; do
	[ "$(readlink "$f")" = "$T/slow" ] && return 0; done; return 1; }
until_true 100 reading
e2e_direct_start --runtime-id acc3 --threads 2 --shutdown-timeout 500 \
	--access-log "$T/slow"
# blocked: how many of the Runtime's threads wait to write to the pipe
# (a wchan file has no newline: one line each).
blocked() {
	local f
	for f in /proc/"$PID"/task/*/wchan; do
		cat "$f" 2>/dev/null
		echo
	done | grep -c pipe_write
}
n=0
while [ "$(blocked)" -lt 1 ] && [ $n -lt 100 ]; do
	e2e_fcgi GET /v1/runtime
	n=$((n + 1))
done
check "the access log's pipe is full: a thread waits to write ($n requests)" \
	test "$(blocked)" -ge 1
python3 "$top_srcdir/tests/e2e/fcgi-peer.py" "$SOCK" drop-eof >"$T/drop.out" 2>&1
cat "$T/drop.out" >&2
check "a dropped connection ends with its answer, before its access line" \
	grep -Eqx 'drop: 400, eof after [0-9]+ ms' "$T/drop.out"

# Both threads now wait to write their access lines.  A stop then reaches
# --shutdown-timeout (500 ms), where the guard answers the request waiting
# in the listen backlog 503 - and its access line blocks as well.  The
# guard bounds itself: the process ends (exit 1) within 2 s more, though
# no log takes a line; before, it waited for the reader (here up to 60 s).
both_blocked() { [ "$(blocked)" -ge 2 ]; }
until_true 50 both_blocked || e2e_fcgi GET /v1/runtime
check "both threads wait to write their access lines" \
	until_true 100 both_blocked
env REQUEST_METHOD=GET REQUEST_URI=/v1/runtime SCRIPT_NAME=/v1/runtime \
	cgi-fcgi -bind -connect "$SOCK" </dev/null >"$T/late.out" 2>&1 &
LATE=$! # ends when the Runtime does
E2E_PIDS="$E2E_PIDS $LATE"
connected() { ls -l /proc/"$LATE"/fd 2>/dev/null | grep -q 'socket:'; }
check "a late request waits in the listen backlog" until_true 100 connected
kill -TERM "$PID"
gone() { ! kill -0 "$PID" 2>/dev/null; }
check "a stop whose log takes no line still ends (within 20 s)" \
	until_true 200 gone
wait "$PID" 2>/dev/null
rc=$?
check "... with exit 1, the shutdown timeout's" test "$rc" = 1
wait "$LATE" 2>/dev/null
: >"$T/drain"

# --no-access-log wins over --access-log (given by a unit).
wait "$PID" 2>/dev/null
e2e_direct_start --runtime-id acc2 --access-log "$D/off.log" --no-access-log
e2e_fcgi GET /v1/runtime
check "--no-access-log with --access-log: the request is answered" \
	grep -q '^Status: 200' "$T/out"
kill -TERM "$PID"
wait "$PID" 2>/dev/null
check "... and no access line is written anywhere" \
	bash -c '! test -e "$1" && ! grep -q " access " "$2"' _ "$D/off.log" "$LOG"
e2e_finish
