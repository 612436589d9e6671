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

VERSION = 1
BEGIN, END, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7
RESPONDER = 1


def record(rtype, content=b""):
    """One record of request id 1, padded to 8 bytes."""
    pad = (8 - len(content) % 8) % 8
    return (struct.pack(">BBHHBx", VERSION, rtype, 1, len(content), pad)
            + content + b"\0" * pad)


def length(n):
    """A name or value length: 1 byte below 128, else 4 with the top bit."""
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def stream(rtype, data):
    """data cut into records, then the empty record that ends the stream."""
    out = b""
    for i in range(0, len(data), 65535):
        out += record(rtype, data[i:i + 65535])
    return out + record(rtype)


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        got = sock.recv(n - len(buf))
        if not got:
            raise EOFError("connection closed mid-record")
        buf += got
    return buf


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    params = b""
    for arg in sys.argv[2:]:
        raw = codecs.escape_decode(arg.encode())[0]
        name, _, value = raw.partition(b"=")
        params += length(len(name)) + length(len(value)) + name + value
    body = sys.stdin.buffer.read()
    msg = (record(BEGIN, struct.pack(">HB5x", RESPONDER, 0))
           + stream(PARAMS, params) + stream(STDIN, body))
    out = b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(float(os.environ.get("FCGI_RAW_TIMEOUT", "10")))
        sock.connect(sys.argv[1])
        sock.sendall(msg)
        while True:
            head = read_exact(sock, 8)
            _, rtype, _, clen, plen = struct.unpack(">BBHHBx", head)
            content = read_exact(sock, clen + plen)[:clen]
            if rtype == STDOUT:
                out += content
            elif rtype == STDERR:
                sys.stderr.buffer.write(content)
            elif rtype == END:
                break
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, EOFError, struct.error) as e:
        sys.stderr.write("fcgi-raw.py: %s\n" % e)
        sys.exit(1)
