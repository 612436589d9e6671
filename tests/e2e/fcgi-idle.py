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

BEGIN, END, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
KEEP_CONN = 1


def record(rtype, content=b""):
    pad = (8 - len(content) % 8) % 8
    return (struct.pack(">BBHHBx", 1, rtype, 1, len(content), pad)
            + content + b"\0" * pad)


def pair(name, value):
    return bytes([len(name), len(value)]) + name + value


def request(token):
    params = (pair(b"REQUEST_METHOD", b"GET")
              + pair(b"REQUEST_URI", b"/v1/runtime")
              + pair(b"HTTP_AUTHORIZATION", b"Bearer " + token))
    return (record(BEGIN, struct.pack(">HB5x", 1, KEEP_CONN))
            + record(PARAMS, params) + record(PARAMS) + record(STDIN))


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        got = sock.recv(n - len(buf))
        if not got:
            raise EOFError("connection closed")
        buf += got
    return buf


def answer(sock):
    """The FCGI_STDOUT stream of one request, up to FCGI_END_REQUEST."""
    out = b""
    while True:
        _, rtype, _, clen, pad = struct.unpack(">BBHHBx", read_exact(sock, 8))
        content = read_exact(sock, clen + pad)[:clen]
        if rtype == STDOUT:
            out += content
        elif rtype == END:
            return out


def ask(sock, token):
    sock.sendall(request(token))
    return answer(sock).startswith(b"Status: 200")


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
