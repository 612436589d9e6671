#!/usr/bin/env python3
"""fcgi-idle.py - hold N kept FastCGI connections idle, as nginx's cache does.

Usage: fcgi-idle.py SOCKET N READY_FILE TOKEN

Opens N connections to SOCKET and sends one FCGI_RESPONDER request with
FCGI_KEEP_CONN (GET /v1/runtime) on each, in turn, reading each answer
before the next connection is opened.  Then it creates READY_FILE and
leaves the N connections open and idle until a line arrives on stdin; it
then sends a second request on each and reads its answer, proving that the
connections were kept.  Exits 0 if every answer was "Status: 200" and
ended with FCGI_END_REQUEST, 1 otherwise.  Every read is bounded by a
socket timeout of $FCGI_RAW_TIMEOUT seconds (60 by default).
"""
import os
import socket
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from fcgi_records import (KEEP_CONN, PARAMS, STDIN, begin,  # noqa: E402
                          pair, read_answer, stream)


def request(token):
    params = (pair(b"REQUEST_METHOD", b"GET")
              + pair(b"REQUEST_URI", b"/v1/runtime")
              + pair(b"HTTP_AUTHORIZATION", b"Bearer " + token))
    return begin(KEEP_CONN) + stream(PARAMS, params) + stream(STDIN, b"")


def ask(sock, token):
    sock.sendall(request(token))
    return read_answer(sock).startswith(b"Status: 200")


def main():
    path, n, ready, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
        sys.argv[4].encode()
    timeout = float(os.environ.get("FCGI_RAW_TIMEOUT", "60"))
    conns = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(timeout)
            s.connect(path)
            conns.append(s)
            if not ask(s, token):
                return 1
        open(ready, "w").close()
        sys.stdin.readline()
        for s in conns:
            if not ask(s, token):
                return 1
    except (OSError, EOFError, struct.error) as e:
        sys.stderr.write("fcgi-idle: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
