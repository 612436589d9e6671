#!/bin/sh
# fcgi-direct.sh - end to end straight at the FastCGI socket: the built
# worker-runtime on a unix socket in a temporary directory, cgi-fcgi (Debian
# package libfcgi-bin) as the client, jq to check the JSON.  Builds nothing;
# `make check` hands it $top_builddir.  Skips (77) without cgi-fcgi or jq.
# Every wait is bounded; the trap kills the server by PID and removes the
# directory.  The last line is the Synthesis line that CI adds up.

set -u

# shellcheck source=fcgi-lib.sh
. "$(dirname "$0")/fcgi-lib.sh"

fcgi_tmpdir fcgi-direct
sock="$dir/runtime.sock"

# request METHOD URI [BODY]: one request through cgi-fcgi.  Sets $status
# (e.g. "201 Created") and leaves the headers in $dir/headers and the body
# in $dir/body.
request() {
	method=$1
	uri=$2
	if [ $# -ge 3 ]; then
		printf '%s' "$3" >"$dir/req"
		set -- CONTENT_TYPE=application/json \
			CONTENT_LENGTH="$(wc -c <"$dir/req" | tr -d ' ')"
	else
		: >"$dir/req"
		set --
	fi
	timeout 10 env -i REQUEST_METHOD="$method" REQUEST_URI="$uri" \
		SCRIPT_NAME="${uri%%\?*}" "$@" \
		"$cgi_fcgi" -bind -connect "$sock" <"$dir/req" >"$dir/resp" 2>&1
	tr -d '\r' <"$dir/resp" | sed '/^$/q' >"$dir/headers"
	tr -d '\r' <"$dir/resp" | sed '1,/^$/d' >"$dir/body"
	status=$(sed -n 's/^Status: //p' "$dir/headers" | head -n 1)
}

# jq_is FILTER: true if FILTER on the last body yields true.
jq_is() {
	[ "$(jq -r "$1" <"$dir/body" 2>/dev/null)" = true ]
}

header() {
	sed -n "s/^$1: //p" "$dir/headers" | head -n 1
}

# wait_gone: waits up to 5 s for the server to exit; sets $rc.
wait_gone() {
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		rc=timeout
		return
	fi
	wait "$pid"
	rc=$?
	pid=""
}

# ---- flag validation (no server needed) ----------------------------------

"$bin" --threads 0 >"$dir/out" 2>"$dir/err"
rc=$?
check "bad --threads exits 2" test "$rc" -eq 2
check "bad --threads names the flag on stderr" \
	grep -q -- '--threads' "$dir/err"
check "bad --threads prints the usage on stderr" grep -q '^usage:' "$dir/err"
check "bad --threads prints nothing on stdout" test ! -s "$dir/out"

# The ceilings agree with the largest JSON text read (16 MiB): one byte more
# is refused with a message naming the flag (timeout: a server that took it
# would run), 16 MiB exactly serves.
for flag in max-body max-input-bytes; do
	timeout 10 "$bin" --$flag 16777217 --socket "unix:$dir/over.sock" \
		>/dev/null 2>"$dir/err"
	rc=$?
	check "--$flag 16777217 (above 16 MiB) exits 2 naming the flag" \
		sh -c "[ $rc -eq 2 ] && grep -q -- '--$flag' '$dir/err'"
done
check "--max-body and --max-input-bytes 16777216 (16 MiB) are accepted" \
	fcgi_start "$dir/max.sock" "$dir/err" --max-body 16777216 \
	--max-input-bytes 16777216
kill -TERM "$pid" 2>/dev/null
wait_gone

"$bin" --help >"$dir/out" 2>"$dir/err"
rc=$?
check "--help exits 0 with the usage on stdout" \
	sh -c "[ $rc -eq 0 ] && grep -q '^usage:' '$dir/out' && [ ! -s '$dir/err' ]"

: >"$dir/plain"
"$bin" --socket "unix:$dir/plain" 2>"$dir/err"
rc=$?
check "a non-socket path is refused with exit 1 and left alone" \
	sh -c "[ $rc -eq 1 ] && [ -f '$dir/plain' ] && [ ! -S '$dir/plain' ]"

# ---- a running server ------------------------------------------------------

check "the server creates its socket" fcgi_start "$sock" "$dir/log" \
	--runtime-id e2e-rt --display-name "E2E run" --threads 7 --threads 2 \
	--max-body 1024 --max-workers 2 --max-input-bytes 8 \
	--max-transcript-items 3
if [ ! -S "$sock" ]; then
	cat "$dir/log"
	synthesis
	exit 1
fi
check "the socket has mode 0660" test "$(stat -c %a "$sock")" = 660
check "one startup line on stderr; a flag given twice takes its last value (--threads 7, then 2)" \
	grep -q ' info worker-runtime: started runtime_id=e2e-rt socket=unix:.* store=memory threads=2$' \
	"$dir/log"

request GET /v1/runtime
check "GET /v1/runtime is 200" test "$status" = "200 OK"
check "GET /v1/runtime is JSON" \
	test "$(header Content-Type)" = "application/json; charset=utf-8"
check "GET /v1/runtime has the runtime id and display name" \
	jq_is '.runtime.runtime_id == "e2e-rt" and .runtime.display_name == "E2E run" and .runtime.status == "running" and .runtime.worker_count == 0'

request POST /v1/workers '{"intent":{"kind":"task","objective":"e2e"}}'
worker_id=$(jq -r '.worker.worker_id' <"$dir/body" 2>/dev/null)
check "POST /v1/workers is 201" test "$status" = "201 Created"
check "POST /v1/workers returns a running task worker" \
	jq_is '.worker.status == "running" and .worker.run_state == "idle" and .worker.intent.kind == "task" and .worker.intent.objective == "e2e" and .worker.runtime_id == "e2e-rt"'
check "POST /v1/workers sets Location" \
	test "$(header Location)" = "/v1/workers/$worker_id"

request GET "/v1/workers/$worker_id"
check "GET /v1/workers/{id} is 200" test "$status" = "200 OK"
check "GET /v1/workers/{id} returns that worker" \
	jq_is ".worker.worker_id == \"$worker_id\" and .worker.worker_ref.runtime_id == \"e2e-rt\""

request GET /v1/workers
check "GET /v1/workers lists exactly that worker" \
	jq_is "(.workers | length) == 1 and .workers[0].worker_id == \"$worker_id\""

request GET /v1/no-such-route
check "an unknown route is 404" test "$status" = "404 Not Found"
check "an unknown route is a typed not_found error" \
	jq_is '.error.code == "not_found"'

request POST /v1/workers '{"intent":'
check "malformed JSON is 400 invalid_input" \
	sh -c "[ '$status' = '400 Bad Request' ] && [ \"\$(jq -r .error.code '$dir/body')\" = invalid_input ]"

request POST /v1/workers "{\"intent\":{\"kind\":\"task\",\"objective\":\"$(head -c 2000 /dev/zero | tr '\0' x)\"}}"
check "a body above --max-body is 413 payload_too_large" \
	sh -c "[ '$status' = '413 Content Too Large' ] && [ \"\$(jq -r .error.reason '$dir/body')\" = payload_too_large ]"

request GET /v1/runtime
check "the runtime still has one worker after the refused requests" \
	jq_is '.runtime.worker_count == 1'
check "the limit flags reach the runtime summary" \
	jq_is '.runtime.limits == {"max_transcript_projection_items":3,"max_input_bytes":8,"max_workers":2}'

request POST "/v1/workers/$worker_id/input" '{"kind":"user","content":"123456789"}'
check "--max-input-bytes: 9 bytes are 400 content_too_large" \
	sh -c "[ '$status' = '400 Bad Request' ] && [ \"\$(jq -r .error.reason '$dir/body')\" = content_too_large ]"
request GET "/v1/workers/$worker_id/transcript?limit=4"
check "--max-transcript-items: limit 4 is 400 limit_too_large" \
	sh -c "[ '$status' = '400 Bad Request' ] && [ \"\$(jq -r .error.reason '$dir/body')\" = limit_too_large ]"
request POST /v1/workers '{}'
check "--max-workers 2: the second worker is created" \
	test "$status" = "201 Created"
request POST /v1/workers '{}'
check "--max-workers 2: the third is 409 worker_limit_reached" \
	sh -c "[ '$status' = '409 Conflict' ] && [ \"\$(jq -r .error.reason '$dir/body')\" = worker_limit_reached ]"

timeout 10 env -i REQUEST_METHOD=GET REQUEST_URI=/v1/runtime \
	SCRIPT_NAME=/v1/runtime CONTENT_LENGTH=12x \
	"$cgi_fcgi" -bind -connect "$sock" </dev/null 2>&1 | tr -d '\r' >"$dir/resp"
check "a non-numeric CONTENT_LENGTH is 400" \
	grep -q '^Status: 400 ' "$dir/resp"

# ---- raw FastCGI records: NUL in params, browser headers -------------------
# fcgi-raw.py writes the params itself, so they can hold a NUL (cgi-fcgi
# takes them from its environment, where no NUL fits).

# raw PARAM...: one GET through fcgi-raw.py; sets $status and $dir/body.
raw() {
	timeout 15 python3 "$(dirname "$0")/fcgi-raw.py" "$sock" "$@" \
		</dev/null 2>&1 | tr -d '\r' >"$dir/resp"
	sed '1,/^$/d' "$dir/resp" >"$dir/body"
	status=$(sed -n 's/^Status: //p' "$dir/resp" | head -n 1)
}

# status_reason STATUS REASON: the last answer had them.
status_reason() {
	[ "$status" = "$1" ] && [ "$(jq -r .error.reason "$dir/body")" = "$2" ]
}

if command -v python3 >/dev/null 2>&1; then
	raw REQUEST_METHOD=GET REQUEST_URI=/v1/runtime
	check "raw client: a plain GET /v1/runtime is 200" \
		test "$status" = "200 OK"
	raw REQUEST_METHOD=GET REQUEST_URI=/v1/runtime \
		'HTTP_ORIGIN\x00x=https://app.example'
	check "a NUL inside a param name (a hidden Origin) is 400 invalid_param" \
		status_reason "400 Bad Request" invalid_param
	raw REQUEST_METHOD=GET REQUEST_URI=/v1/runtime '=x'
	check "an empty param name is 400 invalid_param" \
		status_reason "400 Bad Request" invalid_param
	# Documented limit (docs/api.md): libfcgi hands over C strings and no
	# lengths, so a value is cut at its first NUL and served as that.
	raw 'REQUEST_METHOD=GET\x00POST' 'REQUEST_URI=/v1/runtime\x00/../x'
	check "a NUL inside a param value is invisible: served as the prefix" \
		test "$status" = "200 OK"
	# Of two params with one name the first counts, as FCGX_GetParam
	# has it; a longer name sharing the prefix is another param.
	raw REQUEST_METHOD=GET REQUEST_URI=/v1/runtime REQUEST_METHOD=DELETE \
		REQUEST_URIX=/v1/nope REQUEST_URI=/v1/nope
	check "a repeated param: the first counts (GET /v1/runtime is 200)" \
		test "$status" = "200 OK"
	raw REQUEST_METHOD=DELETE REQUEST_URI=/v1/runtime REQUEST_METHOD=GET
	check "... also when the first is the refused one (DELETE is 405)" \
		test "$status" = "405 Method Not Allowed"
	# The same answers as deploy/nginx.conf (nginx-lifecycle.sh).
	raw REQUEST_METHOD=GET REQUEST_URI=/v1/runtime HTTP_ORIGIN=null
	check "Origin: null is 403 browser_request" \
		status_reason "403 Forbidden" browser_request
	raw REQUEST_METHOD=GET REQUEST_URI=/v1/runtime \
		HTTP_SEC_FETCH_SITE=same-origin
	check "Sec-Fetch-Site: same-origin is 403 browser_request" \
		status_reason "403 Forbidden" browser_request
	raw REQUEST_METHOD=GET REQUEST_URI=/v1/runtime HTTP_ORIGIN= \
		HTTP_SEC_FETCH_SITE=
	check "empty Origin and Sec-Fetch-Site count as absent: 200" \
		test "$status" = "200 OK"
else
	echo "SKIP: python3 not found: raw FastCGI checks not run"
fi

# ---- shutdown --------------------------------------------------------------

kill -TERM "$pid"
wait_gone
check "SIGTERM: exits 0 within 5 s" test "$rc" = 0
check "SIGTERM: the socket file is removed" test ! -e "$sock"
check "SIGTERM: the log says stopped" grep -q ' info worker-runtime: stopped$' "$dir/log"

# A request whose body is still arriving when SIGTERM comes is answered:
# its first byte, SIGTERM once a thread reads it (2 busy: it and the
# metrics request), its last byte once the server logged that it stops.
# poll_until CMD...: runs CMD every 0.1 s until it succeeds (<= 10 s).
poll_until() {
	i=0
	until "$@"; do
		[ $i -lt 100 ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
}
reading() {
	request GET /v1/metrics
	grep -q '^worker_runtime_http_threads{state="busy"} [2-9]' "$dir/body"
}
fcgi_start "$sock" "$dir/log2" --runtime-id e2e-rt2
mkfifo "$dir/body.fifo"
( timeout 10 env -i REQUEST_METHOD=POST REQUEST_URI=/v1/workers \
		SCRIPT_NAME=/v1/workers CONTENT_TYPE=application/json \
		CONTENT_LENGTH=2 "$cgi_fcgi" -bind -connect "$sock" \
		<"$dir/body.fifo" >"$dir/inflight" 2>&1 ) &
client=$!
exec 7>"$dir/body.fifo"
printf '{' >&7
check "a thread reads the request whose body is still arriving" \
	poll_until reading
kill -TERM "$pid"
check "... SIGTERM: the server logs that it stops" \
	poll_until grep -q ' stopping within ' "$dir/log2"
printf '}' >&7
exec 7>&-
wait_gone
wait "$client"
check "SIGTERM with a request in flight: exits 0" test "$rc" = 0
check "SIGTERM with a request in flight: the request gets its 201" \
	grep -q '^Status: 201 ' "$dir/inflight"

if [ "$failing" -ne 0 ]; then
	echo "--- server log"
	cat "$dir/log" "$dir/log2" 2>/dev/null
fi
synthesis
[ "$failing" -eq 0 ]
