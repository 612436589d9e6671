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

# --no-access-log wins over --access-log (given by a unit).
kill -TERM "$PID"
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
