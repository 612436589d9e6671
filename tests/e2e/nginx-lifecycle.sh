#!/usr/bin/env bash
# tests/e2e/nginx-lifecycle.sh - the REST API end to end through real nginx.
#
# worker-runtime (memory store, --max-body 64 KiB so that the Runtime's own
# body limit is reachable below nginx's 4m) behind deploy/nginx.conf over
# TLS with the local token.  Walks a Worker through its whole lifecycle,
# then provokes every typed error nginx or the Runtime can give, kills the
# Runtime (SIGKILL) to see nginx answer runtime_unavailable/runtime_down,
# and last, on a copy of deploy/nginx.conf whose only change is a 2 s
# fastcgi_read_timeout, stops the Runtime (SIGSTOP) to see a timed-out
# create answered as runtime_unavailable/upstream_timeout and then applied.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl python3
e2e_init

RID=e2e-rt
e2e_start_stack --runtime-id "$RID" --display-name "e2e runtime" \
	--store memory --threads 4 --max-body 65536

# ---- the runtime before anything happened ---------------------------------
e2e_api GET /v1/runtime
check "runtime summary is 200" status_is 200
check "runtime summary names the runtime" json --arg r "$RID" \
	'.runtime.runtime_id == $r and .runtime.display_name == "e2e runtime"
	 and .runtime.backend == "memory" and .runtime.status == "running"
	 and .runtime.worker_count == 0'
check "responses are application/json; charset=utf-8" \
	header content-type 'application/json; charset=utf-8'

# ---- lifecycle: create -> input -> detail -> transcript -> stop -> cancel --
e2e_api POST /v1/workers -d '{"intent":{"kind":"task","objective":"e2e"}}'
W=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body")
check "create is 201" status_is 201
check "create has Location /v1/workers/{id}" \
	header location "/v1/workers/$W"$'\r'
check "created worker is running, idle, empty" json --arg r "$RID" \
	'.worker.status == "running" and .worker.run_state == "idle"
	 and .worker.transcript_len == 0 and .worker.intent.kind == "task"
	 and .worker.worker_ref.runtime_id == $r'
[ -n "$W" ] || W=missing-worker-id

e2e_api POST "/v1/workers/$W/input" -d '{"kind":"user","content":"hello e2e"}'
check "input is 200" status_is 200
check "input ack: sequence 1, still running and idle" json --arg w "$W" \
	'.ack.transcript_sequence == 1 and .ack.status == "running"
	 and .ack.run_state == "idle" and .ack.worker_ref.worker_id == $w
	 and (.ack.event_id | type == "number")'
INPUT_EVENT=$(jq -r '.ack.event_id' "$E2E_TMP/body")

e2e_api GET "/v1/workers/$W"
check "detail is 200" status_is 200
check "detail counts the input and its event" json --argjson e "$INPUT_EVENT" \
	'.worker.transcript_len == 1 and .worker.last_event_id == $e
	 and .worker.status == "running"'

e2e_api POST "/v1/workers/$W/input" -d '{"kind":"system","content":"second"}'
check "second input gets sequence 2" json '.ack.transcript_sequence == 2'

e2e_api GET "/v1/workers/$W/transcript"
check "transcript is 200" status_is 200
check "transcript holds both entries in order" json --arg w "$W" \
	'.transcript.total_items == 2 and .transcript.start == 0
	 and .transcript.next_start == null and (.transcript.items | length) == 2
	 and .transcript.items[0].sequence == 1
	 and .transcript.items[0].role == "user"
	 and .transcript.items[0].content == "hello e2e"
	 and .transcript.items[1].role == "system"
	 and .transcript.items[0].worker_ref.worker_id == $w'

e2e_api GET "/v1/workers/$W/transcript?start=0&limit=1"
check "transcript pages with start/limit" json \
	'.transcript.limit == 1 and (.transcript.items | length) == 1
	 and .transcript.next_start == 1'

e2e_api POST "/v1/workers/$W/stop" -d '{"reason":"e2e done"}'
check "stop is 200 and stopped" json '.ack.status == "stopped"'
STOP_EVENT=$(jq -r '.ack.event_id' "$E2E_TMP/body")

e2e_api POST "/v1/workers/$W/cancel"
check "cancel after stop is 200" status_is 200
check "cancel after stop is idempotent (stopped, same event)" json \
	--argjson e "$STOP_EVENT" '.ack.status == "stopped" and .ack.event_id == $e'

e2e_api POST "/v1/workers/$W/stop"
check "stop again is idempotent" json --argjson e "$STOP_EVENT" \
	'.ack.status == "stopped" and .ack.event_id == $e'

e2e_api GET "/v1/workers/$W"
check "detail after stop: stopped, run_state none" json \
	'.worker.status == "stopped" and .worker.run_state == "none"'

e2e_api POST "/v1/workers/$W/input" -d '{"kind":"user","content":"late"}'
check "input to a stopped worker is 409 unsupported_operation" \
	error_is 409 unsupported_operation worker_not_running
check "the 409 names the worker" json --arg w "$W" '.error.worker_id == $w'

e2e_api GET /v1/workers
check "list is 200 with the one stopped worker" json --arg w "$W" \
	'(.workers | length) == 1 and .workers[0].worker_id == $w
	 and .workers[0].status == "stopped" and .workers[0].transcript_len == 2'

e2e_api GET /v1/runtime
check "runtime summary counts the stopped worker" json \
	'.runtime.worker_count == 1 and .runtime.stopped_worker_count == 1
	 and .runtime.active_worker_count == 0'

# ---- typed errors from nginx ---------------------------------------------
e2e_curl GET /v1/runtime
check "no token: 401 unauthorized/missing_token" \
	error_is 401 unauthorized missing_token
check "401 carries WWW-Authenticate: Bearer" header www-authenticate Bearer

e2e_curl GET /v1/runtime -H "Authorization: Bearer 0${WR_TOKEN#?}x"
check "wrong token: 401 unauthorized/wrong_token" \
	error_is 401 unauthorized wrong_token

e2e_curl GET /v1/runtime -H "Authorization: Basic $WR_TOKEN"
check "token under another scheme: 401" error_is 401 unauthorized wrong_token

e2e_curl GET /v1/runtime -H "Authorization: Bearer ${WR_TOKEN}0"
check "token with a suffix: 401" error_is 401 unauthorized wrong_token

e2e_curl GET /v1/runtime -H "Authorization: Bearer ${WR_TOKEN^^}"
check "token compared exactly (upper-cased hex): 401" \
	error_is 401 unauthorized wrong_token

e2e_api GET /v1/runtime -H "Origin: https://app.example"
check "Origin, even with the token: 403 forbidden" error_is 403 forbidden

e2e_api POST /v1/workers -d '{}' -H "Origin: null"
check "Origin: null on POST: 403 forbidden" error_is 403 forbidden

e2e_api GET /v1/runtime -H "Sec-Fetch-Site: same-origin"
check "Sec-Fetch-Site: 403 forbidden" error_is 403 forbidden

e2e_curl GET /v1/runtime -H "Origin: https://app.example"
check "Origin without token: 403 (browsers learn nothing about tokens)" \
	error_is 403 forbidden

e2e_api GET /index.html
check "path outside /v1/: 404 not_found from nginx" error_is 404 not_found

e2e_api GET /v1
check "/v1 without the slash: typed 404 not_found, not nginx's 301" \
	error_is 404 not_found
check "/v1 answers no Location" bash -c "! grep -qi '^location:' '$E2E_TMP/headers'"

e2e_api GET //v1 --path-as-is
check "//v1 (merged to /v1 by nginx): typed 404 not_found" error_is 404 not_found

e2e_api TRACE /v1/runtime
check "TRACE (refused by nginx): 405 unsupported_operation" \
	error_is 405 unsupported_operation method_not_allowed
check "nginx's 405 carries Allow: GET, POST, DELETE" header allow 'GET, POST, DELETE'

e2e_curl CONNECT /v1/runtime
check "CONNECT, even without the token: 405 with Allow" \
	error_is 405 unsupported_operation method_not_allowed
check "CONNECT's 405 carries Allow: GET, POST, DELETE" header allow 'GET, POST, DELETE'

e2e_curl POST /v1/workers -H "Transfer-Encoding: gzip"
check "unknown Transfer-Encoding (nginx 501): typed unsupported_operation" \
	error_is 501 unsupported_operation not_implemented

CODE=$(curl -sS --max-time 20 -o "$E2E_TMP/body" -D "$E2E_TMP/headers" \
	-w '%{http_code}' "http://127.0.0.1:$WR_PORT/v1/runtime") || CODE=000
check "plain HTTP to the TLS port: typed 400 plain_http, not HTML" \
	error_is 400 invalid_input plain_http

e2e_api get /v1/runtime
check "lowercase method (nginx: malformed request line): 400 bad_request" \
	error_is 400 invalid_input bad_request

e2e_api GET '/v1/workers/%zz'
check "malformed % escape (nginx): 400 bad_request" \
	error_is 400 invalid_input bad_request

e2e_api GET '/v1/workers/w%00x'
check "%00 in the path (nginx): 400 bad_request" \
	error_is 400 invalid_input bad_request

e2e_api GET /v1/runtime -H "Origin;"
check "an empty Origin counts as absent (documented): 200" status_is 200

# The Runtime's own check (fcgi-raw.py straight at its socket) answers
# exactly what nginx answers, header set by header set.
# "Origin;" is curl's way to send an empty header.
parity_cases=(
	"Origin: https://app.example|HTTP_ORIGIN=https://app.example"
	"Origin: null|HTTP_ORIGIN=null"
	"Origin;|HTTP_ORIGIN="
	"Sec-Fetch-Site: same-origin|HTTP_SEC_FETCH_SITE=same-origin"
	"Sec-Fetch-Site: none|HTTP_SEC_FETCH_SITE=none"
	"Sec-Fetch-Site;|HTTP_SEC_FETCH_SITE="
)
for c in "${parity_cases[@]}"; do
	e2e_api GET /v1/runtime -H "${c%%|*}"
	via_nginx=$CODE
	direct=$(timeout 15 python3 "$top_srcdir/tests/e2e/fcgi-raw.py" \
		"$WR_DIR/fcgi.sock" REQUEST_METHOD=GET REQUEST_URI=/v1/runtime \
		"${c#*|}" </dev/null | tr -d '\r' |
		sed -n 's/^Status: \([0-9]*\).*/\1/p')
	check "${c%%|*}: nginx ($via_nginx) and the socket ($direct) agree" \
		test "$via_nginx" = "${direct:-none}"
done

e2e_api GET /_wr_error/400
check "internal error-page URIs are not reachable: 404" error_is 404 not_found

e2e_curl GET /_wr_error/400
check "error-page URI without the token: 401 like any path" \
	error_is 401 unauthorized missing_token

e2e_curl GET /_wr_error/494 -H "Origin: https://app.example"
check "error-page URI from a browser: 403 like any path" error_is 403 forbidden

head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' ' ' > "$E2E_TMP/5m.json"
e2e_api POST /v1/workers --data-binary "@$E2E_TMP/5m.json"
check "body over nginx client_max_body_size: 413 payload_too_large" \
	error_is 413 invalid_input payload_too_large

e2e_curl POST /v1/workers -H 'Content-Type: application/json' \
	--data-binary "@$E2E_TMP/5m.json"
check "oversized body without token: 401 first" \
	error_is 401 unauthorized missing_token

e2e_api GET "/v1/workers/$(head -c 20000 /dev/zero | tr '\0' a)"
check "URI over nginx's 8k buffers: 414 uri_too_long from nginx" \
	error_is 414 invalid_input uri_too_long

e2e_api GET "/v1/workers/$(head -c 5000 /dev/zero | tr '\0' a)"
check "URI of 4097..8k bytes: 400 uri_too_long from the Runtime" \
	error_is 400 invalid_input uri_too_long

e2e_api GET /v1/runtime -H "X-Big: $(head -c 16384 /dev/zero | tr '\0' a)"
check "a 16 KiB header: 400 request_too_large from nginx" \
	error_is 400 invalid_input request_too_large

# ---- typed errors from the Runtime, through nginx ---------------------------
e2e_api GET /v1/nothing-here
check "unknown /v1 route: 404 not_found" error_is 404 not_found

e2e_api DELETE /v1/workers
check "DELETE /v1/workers: 405 unsupported_operation" \
	error_is 405 unsupported_operation method_not_allowed
check "405 carries Allow: GET, POST" header allow 'GET, POST'

e2e_api PUT "/v1/workers/$W/input" -d '{}'
check "PUT on input: 405 with Allow: POST" header allow 'POST'

e2e_api POST /v1/workers -d '{"intent":'
check "truncated JSON: 400 invalid_input/invalid_json" \
	error_is 400 invalid_input invalid_json

e2e_api POST /v1/workers -d '{"bogus":1}'
check "unknown member: 400 invalid_input/unknown_field" \
	error_is 400 invalid_input unknown_field

e2e_api POST "/v1/workers/$W/input" -d '{"kind":"user","content":""}'
check "empty content on a stopped worker is still a typed 4xx" \
	jq -e '.error.code | type == "string"' "$E2E_TMP/body"

CT=text/plain e2e_api POST /v1/workers -d '{}'
check "text/plain body: 415 invalid_input/unsupported_media_type" \
	error_is 415 invalid_input unsupported_media_type

{ printf '{"kind":"user","content":"'
  head -c $((100 * 1024)) /dev/zero | tr '\0' x
  printf '"}'; } > "$E2E_TMP/100k.json"
e2e_api POST "/v1/workers/$W/input" --data-binary "@$E2E_TMP/100k.json"
check "body over the Runtime's --max-body: 413 payload_too_large" \
	error_is 413 invalid_input payload_too_large

e2e_api GET /v1/workers/w-does-not-exist
check "unknown worker: 404 unknown_worker" error_is 404 unknown_worker
check "404 names the worker id" json '.error.worker_id == "w-does-not-exist"'

e2e_api POST /v1/workers/w-does-not-exist/stop
check "stop of an unknown worker: 404 unknown_worker" error_is 404 unknown_worker

e2e_api GET /v1/runtime
check "rejected requests changed nothing" json \
	'.runtime.worker_count == 1 and .runtime.stopped_worker_count == 1'

check "no response carried a CORS header" \
	bash -c "! grep -qi '^access-control-' '$E2E_TMP/all-headers'"

if wr_stack_pid_alive "$WR_RUNTIME_PID"; then
	check "worker-runtime survived every request" true
else
	E2E_CRASH=1
	check "worker-runtime survived every request" false
fi

# ---- the Runtime process is gone ----------------------------------------------
kill -KILL "$WR_RUNTIME_PID"
wait "$WR_RUNTIME_PID" 2>/dev/null
WR_RUNTIME_PID=

e2e_api GET /v1/runtime
check "runtime killed: 503 runtime_unavailable/runtime_down" \
	error_is 503 runtime_unavailable runtime_down
check "503 carries Retry-After" header retry-after '[0-9]+'

e2e_api POST /v1/workers -d '{}'
check "POST while the runtime is down: 503 runtime_down (not delivered)" \
	error_is 503 runtime_unavailable runtime_down

e2e_curl GET /v1/runtime
check "token is still checked while the runtime is down" \
	error_is 401 unauthorized missing_token

# ---- the Runtime does not answer: upstream_timeout ----------------------------
# The same site file with a 2 s read timeout instead of 30 s (nothing else
# changed, which the diff check proves), a fresh Runtime, then SIGSTOP: nginx
# connects (the socket's backlog accepts), sends the create and times out.
wr_stack_stop
mkdir -p "$E2E_TMP/src/deploy"
cp "$top_srcdir/deploy/nginx-local.conf.in" "$E2E_TMP/src/deploy/"
sed 's/^\([[:space:]]*fastcgi_read_timeout\) 60s;$/\1 2s;/' \
	"$top_srcdir/deploy/nginx.conf" > "$E2E_TMP/src/deploy/nginx.conf"
check "the timeout copy differs from deploy/nginx.conf in that line only" \
	test "$(diff "$top_srcdir/deploy/nginx.conf" "$E2E_TMP/src/deploy/nginx.conf" |
		grep -c '^[<>]')" = 2
E2E_SRC_SAVED=$top_srcdir
top_srcdir=$E2E_TMP/src
e2e_start_stack --runtime-id "$RID" --store memory --threads 2
top_srcdir=$E2E_SRC_SAVED

kill -STOP "$WR_RUNTIME_PID"
e2e_api POST /v1/workers -d '{}'
kill -CONT "$WR_RUNTIME_PID"
check "no answer in time: 503 runtime_unavailable/upstream_timeout" \
	error_is 503 runtime_unavailable upstream_timeout
check "upstream_timeout carries Retry-After" header retry-after '[0-9]+'
check "upstream_timeout says the outcome is unknown" \
	json '.error.message | test("outcome is unknown")'

# Why the reason matters: the Runtime got the create and applies it once it
# runs again, so a blind retry would have made a second worker.
for _ in $(seq 50); do
	e2e_api GET /v1/runtime
	jq -e '.runtime.worker_count == 1' "$E2E_TMP/body" >/dev/null 2>&1 && break
	sleep 0.1
done
check "the timed-out create was applied anyway (re-read before retrying)" \
	json '.runtime.worker_count == 1'

e2e_finish
