#!/usr/bin/env bash
# tests/e2e/shutdown-drain.sh - a stop while the only serving thread is
# held by a half request (FCGI_BEGIN_REQUEST, then silence: the thread
# sleeps in a read for its 10 s I/O bound), with long-polls parked.
#
#  1. The stop's progress line counts what it names: with one thread in a
#     read, two parked long-polls (their answers queued for a thread) and
#     one idle kept connection, it says 1 request in flight, 2 answers to
#     write and 1 connection no thread took, not "4 requests in flight".
#  2. The shutdown guard's drain is bounded (commit 57cca21): with
#     --shutdown-timeout 3000, three parked long-polls and three half
#     requests (one holding the thread, two in the listen backlog), the
#     process exits within 7 s of SIGTERM - the 3 s timeout, at most 1 s
#     of drain, and 3 s of margin for a loaded machine - well before the
#     held thread's 10 s I/O bound ends (it took 12 s before 57cca21); the
#     parked long-polls get their page (200), not a reset.
# The half request is known to hold the thread once a wr-serve thread
# sleeps in a socket read (/proc/PID/task/*/wchan, as spare-threads.sh).
# Talks FastCGI straight to the socket; every wait is for a state, bounded.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need cgi-fcgi python3 jq ss
e2e_direct_init
PEER=$top_srcdir/tests/e2e/fcgi-peer.py
e2e_need_wchan

# start TIMEOUT_MS: a Runtime with one serving thread.
start() {
	e2e_direct_start --runtime-id drain --threads 1 --shutdown-timeout "$1"
}
# The process has exited (gone, or a zombie not yet waited for).
gone() { ! [ -e "/proc/$PID" ] || grep -q '^[0-9]* ([^)]*) Z' "/proc/$PID/stat" 2>/dev/null; }
# At least one wr-serve thread sleeps in a socket read.
in_read() { [ "$(e2e_threads_in wr-serve "$E2E_WCHAN_READ")" -ge 1 ]; }
parked_is() {
	e2e_fcgi GET /v1/metrics
	grep -Eq "^worker_runtime_http_requests_parked $1\$" "$T/out"
}
longpoll() { # N: a long-poll on the worker's transcript, its answer in $T/lp.N
	e2e_fcgi -o "$T/lp.$1" GET "/v1/workers/$ID/transcript?after=0&wait=25000" &
	E2E_PIDS="$E2E_PIDS $!"
}
# park N: N more long-polls, parked; their numbers in $PARKED.
LP=0
park() {
	local k
	PARKED=
	for k in $(seq "$1"); do
		LP=$((LP + 1))
		longpoll "$LP"
		PARKED="$PARKED $LP"
	done
	until_true 100 parked_is "$1"
}
answered_200() {
	local n
	for n in $PARKED; do grep -q '^Status: 200' "$T/lp.$n" || return 1; done
}
# half_request: holds half a request, and never closes first: after the
# Runtime's EOF it keeps its end open (30 s at most, or until the test
# ends), as a hostile peer would, so a close that waits for the peer (a
# lingering close) costs its whole wait.
half_request() {
	python3 - "$SOCK" <<'PY' &
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(struct.pack(">BBHHBx", 1, 1, 1, 8, 0) + struct.pack(">HB5x", 1, 1))
s.settimeout(30)
t0 = time.monotonic()
try:
    while s.recv(4096) != b"":
        pass
except OSError:
    pass
time.sleep(max(0, 30 - (time.monotonic() - t0)))
PY
	E2E_PIDS="$E2E_PIDS $!"
}
# The listen socket's backlog (ss: Recv-Q of a listener) is N.
backlog_is() { [ "$(ss -xlH src "$SOCK" | awk '{ print $3 }')" = "$1" ]; }
new_worker() {
	e2e_fcgi POST /v1/workers '{}'
	ID=$(sed -n '/^{/p' "$T/out" | jq -r '.worker.worker_id')
	[ -n "$ID" ] && [ "$ID" != null ]
}

# 1. The progress line.
start 9000
new_worker || { e2e_say "ERROR: no worker"; exit 99; }
python3 "$PEER" "$SOCK" idle "$T/idle.ready" >"$T/idle.out" 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
until_true 100 test -e "$T/idle.ready" || { e2e_say "ERROR: no idle connection"; exit 99; }
park 2 || { e2e_say "ERROR: long-polls not parked"; head -n 3 "$T"/lp.* >&2; grep -v /v1/metrics "$LOG" >&2; exit 99; }
half_request
check "a half request holds the only serving thread in a read" \
	until_true 100 in_read
kill -TERM "$PID"
check "the stop logs its progress" \
	until_true 150 grep -q 'waiting for ' "$LOG"
grep 'waiting for ' "$LOG" >&2
check "the progress line counts 1 request in flight, 2 answers to write, 1 connection" \
	grep -q 'waiting for 1 request(s) in flight, 0 parked request(s) and 2 answer(s) to write, 1 connection(s) no thread took yet' "$LOG"
until_true 200 gone
wait "$PID" 2>/dev/null

# 2. The guard's bounded drain.
start 3000
new_worker || { e2e_say "ERROR: no worker"; exit 99; }
park 3 || { e2e_say "ERROR: long-polls not parked"; head -n 3 "$T"/lp.* >&2; grep -v /v1/metrics "$LOG" >&2; exit 99; }
half_request
check "a half request holds the only serving thread in a read" \
	until_true 100 in_read
half_request
half_request
check "two more half requests wait in the listen backlog" \
	until_true 100 backlog_is 2
t0=$(date +%s%N)
kill -TERM "$PID"
until_true 200 gone
took_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
rc=0
wait "$PID" 2>/dev/null || rc=$?
e2e_say "exit $rc, ${took_ms} ms after SIGTERM"
check "the stop ends at the shutdown timeout (exit 1, shutdown timeout logged)" \
	eval '[ "$rc" = 1 ] && grep -q "shutdown timeout" "$LOG"'
check "the process exits within 7 s of SIGTERM, before the 10 s I/O bound" \
	test "$took_ms" -lt 7000
check "the parked long-polls got their page" until_true 100 answered_200
e2e_finish
