#!/usr/bin/env bash
# tests/e2e/spare-threads.sh - the epoll-waiter cap (fcgi/dispatch.c): at
# most as many serving threads wait in epoll as the Runtime has CPUs; the
# other free ones are spares, asleep until the last waiter leaves with an
# event.  Run on one CPU (taskset) with --threads 4: at rest one wr-serve
# thread waits in epoll and three on a condition; three half requests
# (FCGI_BEGIN_REQUEST, then params trickled a byte a second) each hold a
# thread in a blocking read, a spare steps in each time, and a fourth
# request is answered while the three are still held.  Threads are told apart by name (/proc/PID/task/TID/comm) and
# by where they sleep (wchan).  Talks FastCGI straight to the socket;
# every wait is for a state.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need cgi-fcgi python3 taskset
e2e_direct_init
e2e_need_wchan
E2E_WRAP="taskset -c 0" e2e_direct_start --runtime-id spare --threads 4

count_is() { [ "$(e2e_threads_in "$1" "$2")" = "$3" ]; }
EPOLL=epoll
SPARE=futex

check "one CPU: one serving thread waits in epoll" \
	until_true 100 count_is wr-serve "$EPOLL" 1
check "the three other serving threads are spares" \
	until_true 100 count_is wr-serve "$SPARE" 3

# half_request N: holds a serving thread in a read until $T/release
# exists: a FCGI_BEGIN_REQUEST, then a params record trickled one byte a
# second, so that no single read reaches the Runtime's 10 s I/O bound
# however slow the machine (bounded: at most 120 bytes).
half_request() {
	python3 - "$SOCK" "$T/half$1" "$T/release" <<'PY'
import os, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(struct.pack(">BBHHBx", 1, 1, 1, 8, 0) + struct.pack(">HB5x", 1, 1)
          + struct.pack(">BBHHBx", 1, 4, 1, 120, 0))
try:
    for _ in range(120):
        if os.path.exists(sys.argv[3]):
            break
        s.send(b"\x01")
        time.sleep(1)
except OSError:
    pass
open(sys.argv[2], "w").write("ended\n")
PY
}
for i in 1 2 3; do
	half_request "$i" &
	E2E_PIDS="$E2E_PIDS $!"
	check "half request $i holds a serving thread in a read" \
		until_true 100 eval '[ "$(e2e_threads_in wr-serve "$E2E_WCHAN_READ")" -ge '"$i"' ]'
	check "a spare took its place in epoll ($i held)" \
		until_true 100 count_is wr-serve "$EPOLL" 1
done
check "no spare is left" count_is wr-serve "$SPARE" 0

e2e_fcgi GET /v1/runtime
check "the fourth thread answers a request while three are held" \
	grep -q '^Status: 200' "$T/out"
check "the three half requests were still held when it was answered" \
	eval '! ls "$T"/half? >/dev/null 2>&1'
: >"$T/release"
e2e_finish
