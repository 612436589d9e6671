#!/usr/bin/env bash
# tests/e2e/fcgi-peer.sh - FastCGI peers that pipeline or abort requests.
# Talks FastCGI straight to the socket (tests/e2e/fcgi-peer.py).
#
# Pipelining: two FCGI_KEEP_CONN requests written in one write (the second
# before the first's FCGI_END_REQUEST).  libfcgi reads them both into the
# first request's input buffer and frees it after the first answer; the
# peer must get the first answer and then the second answer or EOF, not a
# silent connection the Runtime counts as idle.  A single kept request on
# the same kind of connection stays kept (keepalive is not lost).
#
# Abort: FCGI_BEGIN_REQUEST, params, part of the body, then
# FCGI_ABORT_REQUEST.  The request is not acted on and gets no HTTP answer
# (it is not the client's fault: no 400); its access line says 499, as
# nginx logs a client that went away.
#
# A long-poll whose empty FCGI_STDIN record arrives after the request was
# read is not taken for a hangup: it waits for its deadline.
# A request is acted on only once its stdin stream ended: a POST whose
# empty FCGI_STDIN record comes after its body leaves nothing behind for
# the next request on the kept connection; a body longer than
# CONTENT_LENGTH is refused with 400 invalid_body and changes nothing.
# Every wait is bounded by the client's socket timeout (15 s, above the
# Runtime's own 10 s I/O bound), never a guessed duration.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need python3 cgi-fcgi jq
e2e_direct_init
PEER=$top_srcdir/tests/e2e/fcgi-peer.py
e2e_direct_start --runtime-id pipe --threads 2

python3 "$PEER" "$SOCK" pipelined >"$T/pipe.out" 2>&1
cat "$T/pipe.out" >&2
check "two requests in one write: the first is answered 200" \
	grep -qx 'answer 1: 200' "$T/pipe.out"
check "then the second is answered or the connection ends (no hang)" \
	grep -Eqx 'answer 2: 200|eof after 1' "$T/pipe.out"

python3 "$PEER" "$SOCK" kept >"$T/kept.out" 2>&1
cat "$T/kept.out" >&2
check "one kept request at a time: answered, and the connection is kept" \
	grep -qx 'answer 1: 200, still open' "$T/kept.out"
python3 "$PEER" "$SOCK" abort >"$T/abort.out" 2>&1
cat "$T/abort.out" >&2
check "an aborted request gets no HTTP answer (no 400 invalid_body)" \
	grep -Eqx 'aborted: (0|eof)' "$T/abort.out"
check "its access line says 499 (client closed request)" \
	until_true 100 grep -q 'access method=POST route="" status=499 reason="" .*request_id=abort-1$' "$LOG"
python3 "$PEER" "$SOCK" long-body >"$T/long.out" 2>&1
cat "$T/long.out" >&2
check "a body longer than CONTENT_LENGTH is answered 400" \
	grep -qx 'long body: 400' "$T/long.out"
check "... with reason invalid_body (its access line)" \
	e2e_until_log 'status=400 reason=invalid_body '
e2e_fcgi -o "$T/list" GET /v1/workers
check "neither was acted on: no worker exists" \
	eval 'sed -n "/^{/p" "$T/list" | jq -e ".workers == []"'
# A long-poll whose empty FCGI_STDIN record comes after its params were
# read (a direct client, e.g. cgi-fcgi, may send it late): the record is
# part of the request, not a hangup, so the long-poll waits its full
# ?wait= on an unchanged worker instead of being answered at once.
e2e_fcgi -o "$T/create" POST /v1/workers '{}'
ID=$(sed -n '/^{/p' "$T/create" | jq -r '.worker.worker_id')
python3 "$PEER" "$SOCK" late-stdin "/v1/workers/$ID/transcript?after=0&wait=1500" \
	>"$T/late.out" 2>&1
cat "$T/late.out" >&2
check "a long-poll whose stdin record comes late waits its 1.5 s, not answered at once" \
	awk '$1 == "long-poll:" && $2 == 200 && $4 >= 1500 { ok = 1 } END { exit !ok }' "$T/late.out"
# An answer the peer cannot take (it shut its reading down before it sent
# the request): the request was acted on as its status says, and the
# access line says so, as a warning with the bytes that went out (none),
# and the metric counts the cut answer.
python3 "$PEER" "$SOCK" gone /v1/runtime >"$T/gone.out" 2>&1
cat "$T/gone.out" >&2
check "a peer that cannot take its answer is let go" \
	grep -qx 'gone: closed' "$T/gone.out"
check "... its access line is a warning: the status answered, 0 bytes sent" \
	e2e_until_log ' warn worker-runtime: access method=GET route=/v1/runtime status=200 reason="" duration_ms=[0-9.]+ bytes_sent=0 request_id=gone-1$'
e2e_fcgi -o "$T/metrics" GET /v1/metrics
check "... and worker_runtime_http_answers_cut_total counts it" \
	grep -qx 'worker_runtime_http_answers_cut_total 1' "$T/metrics"
python3 "$PEER" "$SOCK" split-end >"$T/split.out" 2>&1
cat "$T/split.out" >&2
check "a POST whose stdin end comes after its body is answered, and the next request on its kept connection too" \
	grep -qx 'answer 1: 201, answer 2: 200' "$T/split.out"
e2e_finish
