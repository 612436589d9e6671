#!/usr/bin/env bash
# tests/e2e/keepalive.sh - idle kept FastCGI connections hold no thread.
#
# With --threads 2, ten connections that asked for FCGI_KEEP_CONN (as nginx
# does with the shipped "keepalive" + "fastcgi_keep_conn on") are answered
# one after another and then left open and idle; a request through nginx is
# still answered while they are open, nginx itself keeps its upstream
# connection, and each of the ten then answers a second request (they were
# kept, not closed).  Half requests do not pin a thread past the 10 s I/O
# bound, and a request's logged duration runs from its arrival, not from
# the end of its read.  Every wait is for a state, bounded.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl python3 ss
e2e_init

e2e_start_stack --threads 2
SOCK=$WR_DIR/fcgi.sock
# Connections the Runtime has accepted and not closed.
established() { ss -xH src "$SOCK" | awk '$2 == "ESTAB"' | wc -l; }

mkfifo "$E2E_TMP/go"
exec 7<>"$E2E_TMP/go"
python3 "$top_srcdir/tests/e2e/fcgi-idle.py" "$SOCK" 10 "$E2E_TMP/ready" \
	"$WR_TOKEN" <"$E2E_TMP/go" >"$E2E_TMP/idle.out" 2>&1 &
IDLE=$!
E2E_PIDS="${E2E_PIDS:-} $IDLE"

check "ten kept connections are answered one after another (--threads 2)" \
	until_true 600 test -e "$E2E_TMP/ready"
check "the Runtime holds the ten idle connections open" \
	eval '[ "$(established)" -ge 10 ]'
e2e_api GET /v1/runtime
check "a request through nginx is answered while they are idle" \
	status_is 200
ok=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	e2e_api GET /v1/runtime
	[ "$CODE" = 200 ] && ok=$((ok + 1))
done
check "ten more requests through nginx are answered" test "$ok" = 10
check "nginx keeps its upstream connection (keepalive is on by default)" \
	eval '[ "$(established)" -ge 11 ]'
echo go >&7
rc=0
wait "$IDLE" || rc=$?
check "each idle connection was kept and answers a second request" \
	test "$rc" = 0
exec 7>&-

# Half a request straight on the socket (a FCGI_BEGIN_REQUEST, then
# silence) takes a serving thread into a blocking read: the Runtime lets
# go of it after its I/O timeout (10 s) and closes the connection at once
# (a plain close, not libfcgi's, which would poll up to 2 s more for the
# peer to close first), so two of them cannot stall a Runtime with
# --threads 2 for good.  Each client writes down how long after its write
# the connection was closed (both directions, not only the Runtime's
# sending side): at least the 10 s read timeout (the read
# starts after the write), at most 11 s - the 1 s margin is for the thread
# to be scheduled and the close to reach the client on a loaded machine,
# and is well below the 2 s libfcgi's close would add.
half_request() {
	python3 - "$SOCK" "$1" <<'PY'
import select, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(struct.pack(">BBHHBx", 1, 1, 1, 8, 0) + struct.pack(">HB5x", 1, 1))
t0 = time.monotonic()
s.settimeout(60)
closed = False
try:  # an empty answer may come first; then the connection ends
    while not closed:
        closed = s.recv(4096) == b""
except OSError:
    pass
# EOF may be a shutdown(SHUT_WR) only (libfcgi's close, which then waits
# for this side to close first): the connection is closed once the socket
# reports POLLHUP (both directions shut).  This side never closes first.
p = select.poll()
p.register(s, 0)
while closed and time.monotonic() - t0 < 60:
    if any(ev & select.POLLHUP for _, ev in p.poll(50)):
        break
took = time.monotonic() - t0
open(sys.argv[2], "w").write("closed %.2f\n" % took if closed else "open\n")
PY
}
half_request "$E2E_TMP/half1" &
E2E_PIDS="${E2E_PIDS:-} $!"
half_request "$E2E_TMP/half2" &
E2E_PIDS="${E2E_PIDS:-} $!"
check "the Runtime closes both half requests instead of waiting forever" \
	until_true 600 eval 'grep -q "^closed " "$E2E_TMP/half1" 2>/dev/null &&
		grep -q "^closed " "$E2E_TMP/half2" 2>/dev/null'
cat "$E2E_TMP"/half? >&2
closed_within() { # FILE SECONDS: closed, and no later than SECONDS
	awk -v max="$2" '$1 == "closed" && $2 < max { ok = 1 } END { exit !ok }' "$1"
}
check "each half request is closed within 10 s + 1 s of its write" \
	eval 'closed_within "$E2E_TMP/half1" 11 && closed_within "$E2E_TMP/half2" 11'
check "a timed-out half request gets an access line with status 408" \
	grep -q 'access method="" route="" status=408 reason=""' "$WR_DIR/worker-runtime.log"
e2e_api GET /v1/runtime
check "requests through nginx are served again after them" status_is 200

# A request's duration runs from when its connection was seen readable,
# not from when its request was read: a client sends the first half of
# its params, waits until the Runtime has read them (its unread output is
# 0: a serving thread is now in the read), holds 1 s, then sends the rest.
# The access line's duration must count that second.  (The hold is the
# thing measured, not a guess at a state; the bound is exact.)
python3 - "$SOCK" "$WR_TOKEN" <<'PY' >"$E2E_TMP/slow.out" 2>&1 &
import fcntl, socket, struct, sys, termios, time
def rec(t, c=b""):
    p = (8 - len(c) % 8) % 8
    return struct.pack(">BBHHBx", 1, t, 1, len(c), p) + c + b"\0" * p
def nv(n, v):
    return bytes([len(n)]) + bytes([len(v)]) + n + v
def unread(s):
    return struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\0" * 4))[0]
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(rec(1, struct.pack(">HB5x", 1, 0)) +
          rec(4, nv(b"REQUEST_ID", b"slow-params-1")))
for _ in range(300):
    if unread(s) == 0:
        break
    time.sleep(0.1)
time.sleep(1.0)
s.sendall(rec(4, nv(b"REQUEST_METHOD", b"GET") +
                 nv(b"REQUEST_URI", b"/v1/runtime") +
                 nv(b"HTTP_AUTHORIZATION", ("Bearer " + sys.argv[2]).encode())) +
          rec(4) + rec(5))
while s.recv(4096):
    pass
PY
SLOW=$!
E2E_PIDS="${E2E_PIDS:-} $SLOW"
slow_ms() {
	sed -n 's/.* duration_ms=\([0-9.]*\) bytes_sent=[0-9]* request_id=slow-params-1$/\1/p' \
		"$WR_DIR/worker-runtime.log" | head -n 1
}
until_true 600 eval '[ -n "$(slow_ms)" ]'
check "a request's duration counts from its arrival, not from its read" \
	eval '[ "$(slow_ms | cut -d. -f1)" -ge 1000 ]'
wait "$SLOW"

# A request longer than the 16 KiB the Runtime peeks at keeps its kept
# connection: closing it on a guess races with nginx, which may already
# have written its next request on it and answers that one 503
# upstream_failed.  Five POSTs of a 20,000-byte input through nginx, one
# after another, are served on the Runtime's connections open before
# them (by socket inode), none on a new one.
conn_ids() { ss -xH src "$SOCK" | awk '$2 == "ESTAB" { print $6 }' | sort; }
e2e_api POST /v1/workers -d '{}'
W=$(jq -r .worker.worker_id "$E2E_TMP/body")
BIG=$(printf '{"kind":"user","content":"%s"}' "$(head -c 19950 /dev/zero | tr '\0' x)")
e2e_api POST "/v1/workers/$W/input" --data-binary "$BIG"
check "a 20,000-byte input through nginx is accepted" status_is 200
before=$(conn_ids)
ok=0
for _ in 1 2 3 4 5; do
	e2e_api POST "/v1/workers/$W/input" --data-binary "$BIG"
	[ "$CODE" = 200 ] && ok=$((ok + 1))
done
check "five more are accepted" test "$ok" = 5
after=$(conn_ids)
check "they were served on connections kept from before (none closed)" \
	eval '[ -n "$after" ] && [ -z "$(comm -13 <(echo "$before") <(echo "$after"))" ]'

e2e_finish
