#!/usr/bin/env python3
"""fcgi-peer.py - FastCGI peers that break the protocol on purpose.

Usage: fcgi-peer.py SOCKET MODE

MODE pipelined: two FCGI_KEEP_CONN requests (GET /v1/runtime) in one
write; prints "answer 1: STATUS", then "answer 2: STATUS" or
"eof after 1" (the Runtime closed the connection), or "timeout after N".
MODE abort: a POST /v1/workers (REQUEST_ID abort-1) whose stdin stops
after 2 of its 10 bytes ("{}", a valid body if taken as whole), then
FCGI_ABORT_REQUEST; prints "aborted:
STATUS" (0: the request ended without an HTTP answer) or "aborted: eof".
MODE idle READY_FILE: one FCGI_KEEP_CONN request, answered; then creates
READY_FILE and holds the kept connection idle until the Runtime closes it
(at most 60 s); prints "idle: closed" or "idle: still open".
MODE late-stdin URI: a long-poll GET URI whose empty FCGI_STDIN record is
sent only once the Runtime has read its params (this side's unsent
output is 0, polled every 10 ms), as cgi-fcgi may; prints "long-poll:
STATUS after MS ms".
MODE kept: one FCGI_KEEP_CONN request; prints "answer 1: STATUS, still
open" if the connection stays open after the answer (checked with a
second request, answered), else "answer 1: STATUS, closed".
MODE split-end: a FCGI_KEEP_CONN POST /v1/workers whose body ({}) is sent
first and its empty FCGI_STDIN record only once the Runtime has read the
body (as a front end whose write was cut may); after the answer, a
second request on the connection; prints "answer 1: STATUS, answer 2:
STATUS" (eof: the connection was closed, the second request lost).
MODE long-body: a POST /v1/workers with CONTENT_LENGTH 2 and 3 bytes of
stdin; prints "long body: STATUS".
MODE stall URI: one FCGI_KEEP_CONN GET URI whose answer is never read;
prints "stall: closed after S s" once the Runtime hangs up (seen by
poll, whatever is unread), or "stall: still open after 60 s".
MODE leave URI: a POST URI with a WorkerInput body, sent whole (its end
record too), then, once the Runtime has read it, the connection closed
without waiting for the answer; prints "left".
MODE gone URI: a GET URI (REQUEST_ID gone-1) sent whole after this side
shut its reading down, so the Runtime's answer cannot be delivered (its
write fails at once, EPIPE); prints "gone: closed" once the Runtime hangs
up, or "gone: still open after 15 s".
MODE drop-eof: a FCGI_KEEP_CONN GET with CONTENT_LENGTH "12x", which the
Runtime answers 400 and then closes; prints "drop: STATUS, eof after MS
ms" (the time from FCGI_END_REQUEST to the end of the connection) or
"drop: STATUS, no eof within 5 s".
Every read is bounded by a 15 s socket timeout.  Exits 0 unless the
socket could not be used.
"""
import fcntl
import select
import socket
import struct
import sys
import termios
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from fcgi_records import (ABORT, END, KEEP_CONN, PARAMS, STDIN,  # noqa: E402
                          STDOUT, begin, pair, record)


def request(method=b"GET", uri=b"/v1/runtime", body=None, length=None,
            flags=KEEP_CONN, extra=b""):
    """BEGIN and PARAMS; with body None also the empty STDIN record."""
    params = (pair(b"REQUEST_METHOD", method) + pair(b"REQUEST_URI", uri)
              + extra)
    if length is not None:
        params += pair(b"CONTENT_LENGTH", str(length).encode())
        params += pair(b"CONTENT_TYPE", b"application/json")
    out = begin(flags) + record(PARAMS, params) + record(PARAMS)
    return out + (record(STDIN) if body is None else record(STDIN, body))


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        got = s.recv(n - len(buf))
        if not got:
            return None
        buf += got
    return buf


def answer(s):
    """The next answer's status (int), 0 if it had no Status line, or None
    at EOF."""
    out = b""
    while True:
        head = recv_exact(s, 8)
        if head is None:
            return None
        _, rtype, _, clen, plen = struct.unpack(">BBHHBx", head)
        content = recv_exact(s, clen + plen)
        if content is None:
            return None
        if rtype == STDOUT:
            out += content[:clen]
        elif rtype == END:
            break
    for line in out.split(b"\r\n"):
        if line.startswith(b"Status: "):
            return int(line.split()[1])
    return 0


def pipelined(s):
    s.sendall(request() + request())
    print("answer 1: %s" % answer(s))
    try:
        second = answer(s)
    except socket.timeout:
        print("timeout after 1")
        return
    print("eof after 1" if second is None else "answer 2: %s" % second)


def abort(s):
    s.sendall(request(b"POST", b"/v1/workers", body=b"{}", length=10,
                      flags=0, extra=pair(b"REQUEST_ID", b"abort-1"))
              + record(ABORT))
    status = answer(s)
    print("aborted: %s" % ("eof" if status is None else status))


def idle(s):
    s.sendall(request())
    answer(s)
    open(sys.argv[3], "w").close()
    s.settimeout(60)
    try:
        closed = s.recv(1) == b""
    except OSError:
        closed = True
    print("idle: %s" % ("closed" if closed else "still open"))


def wait_sent(s):
    """Until the peer has read all this side wrote (unsent output 0,
    polled every 10 ms, at most 10 s)."""
    for _ in range(1000):
        if struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ,
                                          b"\0" * 4))[0] == 0:
            return
        time.sleep(0.01)


def late_stdin(s):
    start = time.monotonic()
    s.sendall(request(uri=sys.argv[3].encode())[:-8])  # no STDIN record
    wait_sent(s)
    # A little more, so that a Runtime that parks without the record
    # surely has parked (the outcome of a correct one does not depend
    # on it: it waits for the record).
    time.sleep(0.01)
    s.sendall(record(STDIN))
    status = answer(s)
    print("long-poll: %s after %d ms" % (status, (time.monotonic() - start)
                                         * 1000))


def kept(s):
    s.sendall(request())
    first = answer(s)
    s.sendall(request())
    second = answer(s)
    print("answer 1: %s, %s" % (first, "still open" if second == 200
                                else "closed"))


def split_end(s):
    s.sendall(request(b"POST", b"/v1/workers", body=b"{}", length=2))
    wait_sent(s)
    s.sendall(record(STDIN))
    first = answer(s)
    try:
        s.sendall(request())
        second = answer(s)
    except OSError:  # the Runtime closed it: the request is lost
        second = None
    print("answer 1: %s, answer 2: %s" % (first, "eof" if second is None
                                          else second))


def long_body(s):
    s.sendall(request(b"POST", b"/v1/workers", body=b"{} ", length=2)
              + record(STDIN))
    print("long body: %s" % answer(s))


def stall(s):
    s.sendall(request(uri=sys.argv[3].encode()))
    start = time.monotonic()
    p = select.poll()
    p.register(s, select.POLLRDHUP | select.POLLHUP)
    if p.poll(60000):
        print("stall: closed after %.1f s" % (time.monotonic() - start))
    else:
        print("stall: still open after 60 s")


def leave(s):
    body = b'{"kind":"user","content":"left"}'
    s.sendall(request(b"POST", sys.argv[3].encode(), body=body,
                      length=len(body), flags=0) + record(STDIN))
    wait_sent(s)
    s.close()
    print("left")


def gone(s):
    s.shutdown(socket.SHUT_RD)
    s.sendall(request(uri=sys.argv[3].encode(),
                      extra=pair(b"REQUEST_ID", b"gone-1")))
    p = select.poll()
    p.register(s, select.POLLHUP)
    print("gone: closed" if p.poll(15000) else "gone: still open after 15 s")


def drop_eof(s):
    s.sendall(request(extra=pair(b"CONTENT_LENGTH", b"12x")))
    status = answer(s)
    start = time.monotonic()
    s.settimeout(5)
    try:
        eof = s.recv(1) == b""
    except socket.timeout:
        eof = False
    if eof:
        print("drop: %s, eof after %d ms" % (status, (time.monotonic()
                                                      - start) * 1000))
    else:
        print("drop: %s, no eof within 5 s" % status)


def main():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(15)
    s.connect(sys.argv[1])
    {"pipelined": pipelined, "kept": kept, "abort": abort,
     "idle": idle, "late-stdin": late_stdin, "stall": stall,
     "split-end": split_end, "long-body": long_body,
     "leave": leave, "gone": gone, "drop-eof": drop_eof}[sys.argv[2]](s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
