#!/usr/bin/env python3
"""fcgi-raw.py - a minimal FastCGI client that writes the records itself.

Usage: fcgi-raw.py SOCKET NAME=VALUE... < body

cgi-fcgi takes params from its environment, where a NUL cannot be written;
this client can.  NAME and VALUE are Python bytes escapes (\\x00 for a NUL),
split at the first '=' of the argument.  Sends one FCGI_RESPONDER request
(id 1, no keep-conn) with the params and stdin as given, then prints the
FCGI_STDOUT stream (the CGI response: Status line, headers, blank line,
body) to stdout.  Exits 0 on FCGI_END_REQUEST, 1 on a protocol or socket
error.  Every read is bounded by a socket timeout: $FCGI_RAW_TIMEOUT
seconds, 10 by default.
"""
import codecs
import os
import socket
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from fcgi_records import (PARAMS, STDIN, begin, pair,  # noqa: E402
                          read_answer, stream)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    params = b""
    for arg in sys.argv[2:]:
        raw = codecs.escape_decode(arg.encode())[0]
        name, _, value = raw.partition(b"=")
        params += pair(name, value)
    body = sys.stdin.buffer.read()
    msg = begin() + stream(PARAMS, params) + stream(STDIN, body)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(float(os.environ.get("FCGI_RAW_TIMEOUT", "10")))
        sock.connect(sys.argv[1])
        sock.sendall(msg)
        out = read_answer(sock, sys.stderr.buffer)
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, EOFError, struct.error) as e:
        sys.stderr.write("fcgi-raw.py: %s\n" % e)
        sys.exit(1)
