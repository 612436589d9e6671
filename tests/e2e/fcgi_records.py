"""fcgi_records.py - FastCGI records for the test clients next to it.

Imported by fcgi-raw.py, fcgi-idle.py and fcgi-peer.py (a script's own
directory is on sys.path).  Every record is of version 1; a request's
records carry request id 1 unless told otherwise.
"""
import struct

VERSION = 1
BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
RESPONDER = 1
KEEP_CONN = 1


def record(rtype, content=b"", rid=1):
    """One record of request id rid, padded to a multiple of 8 bytes."""
    pad = (8 - len(content) % 8) % 8
    return (struct.pack(">BBHHBx", VERSION, rtype, rid, len(content), pad)
            + content + b"\0" * pad)


def begin(flags=0):
    """FCGI_BEGIN_REQUEST for a responder; flags KEEP_CONN or 0."""
    return record(BEGIN, struct.pack(">HB5x", RESPONDER, flags))


def length(n):
    """A name or value length: 1 byte below 128, else 4 with the top bit."""
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def pair(name, value):
    """One name-value pair of a params stream."""
    return length(len(name)) + length(len(value)) + name + value


def stream(rtype, data):
    """data cut into records, then the empty record that ends the stream."""
    out = b""
    for i in range(0, len(data), 65535):
        out += record(rtype, data[i:i + 65535])
    return out + record(rtype)


def read_exact(sock, n):
    """n bytes from sock; EOFError if the peer closes first."""
    buf = b""
    while len(buf) < n:
        got = sock.recv(n - len(buf))
        if not got:
            raise EOFError("connection closed mid-record")
        buf += got
    return buf


def read_answer(sock, stderr=None):
    """The FCGI_STDOUT stream of one request, up to its FCGI_END_REQUEST;
    FCGI_STDERR content is written to stderr (a binary file) when given.
    Raises EOFError, OSError (socket timeout) or struct.error."""
    out = b""
    while True:
        _, rtype, _, clen, plen = struct.unpack(">BBHHBx", read_exact(sock, 8))
        content = read_exact(sock, clen + plen)[:clen]
        if rtype == STDOUT:
            out += content
        elif rtype == STDERR and stderr is not None:
            stderr.write(content)
        elif rtype == END:
            return out
