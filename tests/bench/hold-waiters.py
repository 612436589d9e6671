#!/usr/bin/env python3
"""hold-waiters.py - park N long-poll requests through nginx and hold them.

Usage: hold-waiters.py HOST PORT CAFILE TOKEN PATH N READY_FILE

Opens N TLS connections to HOST:PORT (verified against CAFILE), sends
"GET PATH" with the token on each, creates READY_FILE once all N were
sent, then holds them until stdin ends.  Prints how many had been
answered by then (a parked request is answered only when woken or when
its wait runs out).  Every connect and handshake is bounded (10 s).
"""
import socket
import ssl
import sys


def main():
    host, port, cafile, token, path, n, ready = sys.argv[1:8]
    ctx = ssl.create_default_context(cafile=cafile)
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
           "\r\n" % (path, host, token)).encode()
    conns = []
    for _ in range(int(n)):
        raw = socket.create_connection((host, int(port)), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname=host)
        s.sendall(req)
        conns.append(s)
    open(ready, "w").close()
    sys.stdin.read()
    # Readable is not answered (TLS 1.3 session tickets arrive after the
    # handshake): count connections with application data or closed.
    answered = 0
    for s in conns:
        s.setblocking(False)
        try:
            s.recv(1)
            answered += 1
        except ssl.SSLWantReadError:
            pass
        except OSError:
            answered += 1
    print("answered before the end: %d of %d" % (answered, len(conns)))
    for s in conns:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
