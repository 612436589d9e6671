#!/usr/bin/env bash
# tests/e2e/shutdown.sh - the Runtime process's stop, end to end: the real
# worker-runtime behind deploy/nginx.conf, exec workers running
# tests/workers/test-worker.
#
# Checks:
#  1. SIGTERM stops exec workers gracefully: stdin closed, then their
#     stop_grace_ms; two workers that need 400 ms after stdin EOF to save
#     their state both write "saved" and none gets SIGTERM; one log line
#     per worker says how it was stopped; exit status 0.
#  2. No worker outlives the Runtime, even after kill -9: a worker that
#     ignores stdin EOF and SIGTERM, and the helper it forked into its
#     process group, are both gone.
#  3. The whole stop is bounded by --shutdown-timeout: a worker with a
#     60 s stop grace does not hold the process; it exits 1, says so, and
#     the worker is gone.
#  4. Requests waiting in the listen backlog at SIGTERM are answered (503
#     runtime_unavailable/stopping, or served), never nginx's 502-turned-503
#     upstream_failed ("outcome unknown").
#  5. Also when the stop outlasts --shutdown-timeout: the one serving thread
#     is stuck reading a request body that never comes; the three requests
#     waiting for it (accepted by the dispatcher or still in the backlog)
#     get 503 stopping from the shutdown guard, not a connection reset.
# Every wait is for a state, bounded; a watchdog ends the test after 100 s.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl perl ss
e2e_init

TW=$top_builddir/tests/workers/test-worker
[ -x "$TW" ] || { e2e_say "ERROR: $TW not built"; exit 99; }

( trap 'kill "$s" 2>/dev/null; exit 0' TERM
  sleep 100 & s=$!
  wait "$s" && { e2e_say "ERROR: over 100 s; giving up"; kill -TERM $$; } ) &
E2E_PIDS="$!"

M=$E2E_TMP/marker
jq -n --arg tw "$TW" --arg m "$M" --arg pf "$E2E_TMP/stubborn.pid" \
	--arg lf "$E2E_TMP/long.pid" '{
	profiles: {
		save: {argv: [$tw, "--eof-delay-ms", "400", "--marker", $m],
		       stop_grace_ms: 5000},
		stubborn: {argv: [$tw, "--ignore-eof", "--ignore-term",
		                  "--grandchild", "--pidfile", $pf]},
		long: {argv: [$tw, "--ignore-eof", "--pidfile", $lf],
		       stop_grace_ms: 60000}
	}
}' > "$E2E_TMP/profiles.json" || exit 99
ARGS=(--store memory --profiles "$E2E_TMP/profiles.json")
LOG=$WR_DIR/worker-runtime.log

not_alive() { [ -n "$1" ] && ! wr_stack_pid_alive "$1"; }
lines_are() { [ "$(grep -c "^$2\$" "$1" 2>/dev/null)" = "$3" ]; }
log_count() { [ "$(grep -c -- "$1" "$LOG")" = "$2" ]; }

create() {
	e2e_api POST /v1/workers -d "{\"profile\":{\"kind\":\"named\",\"value\":\"$1\"}}"
	[ "$CODE" = 201 ]
}

# stop_runtime SIGNAL: sends SIGNAL to the Runtime, waits (<= 30 s) until
# it is gone and sets RC to its exit status.
stop_runtime() {
	kill "-$1" "$WR_RUNTIME_PID" 2>/dev/null
	until_true 300 not_alive "$WR_RUNTIME_PID"
	RC=0
	wait "$WR_RUNTIME_PID" || RC=$?
	WR_RUNTIME_PID=
}

restart_runtime() {
	: > "$LOG"
	wr_stack_start_runtime "$WR_BIN" "${ARGS[@]}" "$@" || exit 99
}

# pids_in FILE N: FILE holds N pid lines.
pids_in() { [ "$(grep -c . "$1" 2>/dev/null)" = "$2" ]; }

# ---- 1. SIGTERM: stdin EOF, then the stop grace ----------------------------
e2e_start_stack "${ARGS[@]}" --runtime-id e2e-shutdown --threads 2
check "two workers on the save profile are created" \
	eval 'create save && create save'
until_true 600 lines_are "$M" start 2
stop_runtime TERM
check "after SIGTERM the Runtime exits 0" test "$RC" = 0
check "both workers got stdin EOF and saved their state" lines_are "$M" saved 2
check "no worker got SIGTERM" lines_are "$M" term 0
check "one log line per worker says it exited with status 0" log_count \
	' info worker-runtime: worker exited worker_id=.* status=0$' 2
check "a stop that went as it should is no diagnostic" log_count \
	'stopped: worker process exited with status 0' 0

# ---- 2. kill -9: no worker or helper survives ------------------------------
restart_runtime --threads 2
create stubborn
until_true 600 pids_in "$E2E_TMP/stubborn.pid" 2
WPID=$(sed -n 1p "$E2E_TMP/stubborn.pid")
HPID=$(sed -n 2p "$E2E_TMP/stubborn.pid")
check "the stubborn worker and its helper run" eval \
	'wr_stack_pid_alive "$WPID" && wr_stack_pid_alive "$HPID"'
stop_runtime KILL
check "after kill -9 of the Runtime the worker is gone" \
	until_true 600 not_alive "$WPID"
check "after kill -9 of the Runtime the worker's helper is gone" \
	until_true 600 not_alive "$HPID"

# ---- 3. --shutdown-timeout bounds the stop ---------------------------------
restart_runtime --threads 2 --shutdown-timeout 1000
create long
until_true 600 pids_in "$E2E_TMP/long.pid" 1
LPID=$(sed -n 1p "$E2E_TMP/long.pid")
stop_runtime TERM
check "a stop over --shutdown-timeout exits 1" test "$RC" = 1
check "the log says the shutdown timed out" log_count 'shutdown timeout' 1
check "the worker still in its stop grace is gone" \
	until_true 600 not_alive "$LPID"

# ---- 4. requests in the listen backlog at SIGTERM --------------------------
restart_runtime --threads 1
SOCK=$WR_DIR/fcgi.sock
backlog_is() {
	[ "$(ss -xlH src "$SOCK" | awk '{print $3}')" = "$1" ]
}
# Requests no thread has read: in the listen backlog, or on a connection
# the dispatcher accepted whose bytes are still unread (Recv-Q > 0).
waiting_is() {
	local bl est
	bl=$(ss -xlH src "$SOCK" | awk '{print $3}')
	est=$(ss -xH src "$SOCK" | awk '$2 == "ESTAB" && $3 > 0' | wc -l)
	[ $(( ${bl:-0} + est )) = "$1" ]
}
# The Runtime is stopped (SIGSTOP), so nothing accepts: the requests nginx
# forwards wait in the listen backlog.  SIGTERM stays pending until
# SIGCONT; the one serving thread may still take one of them.
kill -STOP "$WR_RUNTIME_PID"
CURLS=
for i in 1 2 3 4; do
	curl -sS --max-time 90 --cacert "$WR_DIR/tls/cert.pem" \
		-H "Authorization: Bearer $WR_TOKEN" \
		-o "$E2E_TMP/bl$i.body" -w '%{http_code}' \
		"$WR_BASE_URL/v1/runtime" > "$E2E_TMP/bl$i.code" 2>/dev/null &
	CURLS="$CURLS $!"
done
check "four requests wait in the listen backlog" until_true 600 backlog_is 4
kill -TERM "$WR_RUNTIME_PID"
kill -CONT "$WR_RUNTIME_PID"
stop_runtime TERM
for p in $CURLS; do wait "$p"; done
answered() {
	local i c
	for i in 1 2 3 4; do
		c=$(cat "$E2E_TMP/bl$i.code")
		if [ "$c" = 503 ]; then
			jq -e '.error.code == "runtime_unavailable" and
			       .error.reason == "stopping"' "$E2E_TMP/bl$i.body" ||
				return 1
		elif [ "$c" != 200 ]; then
			return 1
		fi
	done
}
# Whether the one thread serves some of the four before it sees the stop
# is up to the scheduler, so here only the invariant is pinned (no
# "outcome unknown"); section 5 makes every backlog answer a 503 stopping
# deterministically (a stuck thread).
stopping_logged() {
	if cat "$E2E_TMP"/bl*.body | grep -q '"reason":"stopping"'; then
		grep -q 'from the listen backlog with 503 stopping' "$LOG"
	fi
}
check "no backlog request is upstream_failed: each is 200 or 503 stopping" \
	answered
check "a backlog answered with 503 stopping is counted in the log" \
	stopping_logged

# ---- 5. the backlog at a shutdown timeout ----------------------------------
restart_runtime --threads 1 --shutdown-timeout 2000
# A request whose body trickles and never reaches its 100 bytes: the one
# serving thread waits for the rest until the guard ends the process.
STALL_PY='
import socket, struct, sys, time
def rec(t, c=b""):
    p = (8 - len(c) % 8) % 8
    return struct.pack(">BBHHBx", 1, t, 1, len(c), p) + c + b"\0" * p
def nv(n, v):
    return bytes([len(n)]) + bytes([len(v)]) + n + v
kv = [(b"REQUEST_METHOD", b"POST"), (b"REQUEST_URI", b"/v1/workers"),
      (b"CONTENT_TYPE", b"application/json"), (b"CONTENT_LENGTH", b"100"),
      (b"HTTP_AUTHORIZATION", ("Bearer " + sys.argv[2]).encode())]
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(rec(1, struct.pack(">HB5x", 1, 0)) +
          rec(4, b"".join(nv(n, v) for n, v in kv)) + rec(4) +
          rec(5, b"{\"profile\""))
open(sys.argv[3], "w").close()
# One more body byte every 2 s, each in a stdin record of its own (never
# the last byte; raw bytes made a bad record header after 16 s, which
# ended the stall early on a loaded machine): each read of the serving
# thread gets data within its 10 s I/O bound, so the thread stays stuck
# until the process ends (at most 89 bytes, 178 s).
try:
    for _ in range(89):
        time.sleep(2)
        s.sendall(rec(5, b" "))
except OSError:
    pass
try:
    while s.recv(4096):
        pass
except OSError:
    pass
'
python3 -c "$STALL_PY" "$SOCK" "$WR_TOKEN" "$E2E_TMP/stall.sent" \
	>/dev/null 2>&1 &
STALL=$!
check "the serving thread took the stalled request" eval \
	'until_true 600 test -e "$E2E_TMP/stall.sent" && waiting_is 0'
RAWS=
for i in 1 2 3; do
	# Bounds, not guesses: the answer comes only at the shutdown timeout,
	# which on a loaded machine may be well after the request was queued.
	FCGI_RAW_TIMEOUT=90 timeout 120 \
		python3 "$top_srcdir/tests/e2e/fcgi-raw.py" "$SOCK" \
		REQUEST_METHOD=GET REQUEST_URI=/v1/runtime \
		"HTTP_AUTHORIZATION=Bearer $WR_TOKEN" </dev/null \
		>"$E2E_TMP/to$i.resp" 2>&1 &
	RAWS="$RAWS $!"
	until_true 600 waiting_is "$i"
done
# The stalled peer's connection counts while one of its bytes waits to be
# read (every 2 s, briefly): wait for the state rather than sample it.
check "three requests wait for the stuck thread" until_true 100 waiting_is 3
stop_runtime TERM
for p in $RAWS; do wait "$p"; done
kill "$STALL" 2>/dev/null
wait "$STALL"
check "a stop over --shutdown-timeout with a stuck thread exits 1" \
	test "$RC" = 1
timeout_answered() {
	local i
	for i in 1 2 3; do
		grep -q '^Status: 503' "$E2E_TMP/to$i.resp" &&
			grep -q '"reason":"stopping"' "$E2E_TMP/to$i.resp" &&
			grep -q '^Retry-After: ' "$E2E_TMP/to$i.resp" || return 1
	done
}
check "at the shutdown timeout each backlog request got 503 stopping" \
	timeout_answered
check "the timeout's log line counts the backlog it answered" \
	grep -q 'shutdown timeout.*answered 3 request(s) from the listen backlog' \
	"$LOG"

e2e_finish
