#!/usr/bin/env bash
# tests/e2e/request-id.sh - request ids and the access log through nginx:
# a client's valid X-Request-Id comes back in the response header, in the
# error body and in the Runtime's access line; an invalid one is replaced
# (by nginx's $request_id); without one, nginx's id is used; nginx's own
# error pages carry one too.  Every log line has an RFC 3339 time and a
# level; --log-format json gives one JSON object per line.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl
e2e_init

LOG=$WR_DIR/worker-runtime.log
hdr_id() { tr -d '\r' <"$E2E_TMP/headers" |
	sed -n 's/^[Xx]-[Rr]equest-[Ii][Dd]:[[:space:]]*//p' | head -n 1; }

e2e_start_stack

e2e_api GET /v1/workers/w-nope -H 'X-Request-Id: client-id.1_A'
check "a client's valid id is in the response header" \
	test "$(hdr_id)" = client-id.1_A
check "... and in the error body" json '.error.request_id == "client-id.1_A"'
check "... and in the Runtime's access line" e2e_until_log \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z info worker-runtime: access method=GET route=/v1/workers/\{id\} status=404 reason="" duration_ms=[0-9]+\.[0-9]{3} bytes_sent=[1-9][0-9]* request_id=client-id\.1_A$'

e2e_api GET /v1/runtime -H 'X-Request-Id: bad id/with"chars'
GEN=$(hdr_id)
check "an invalid client id is replaced by a 32-hex one" \
	bash -c '[[ $1 =~ ^[0-9a-f]{32}$ ]]' _ "$GEN"
check "... which the access line of that request names" e2e_until_log \
	"access method=GET route=/v1/runtime status=200 reason=\"\" duration_ms=[0-9.]+ bytes_sent=[1-9][0-9]* request_id=$GEN\$"

e2e_api GET /v1/runtime
GEN2=$(hdr_id)
check "without a client id a success still carries a generated one" \
	bash -c '[[ $1 =~ ^[0-9a-f]{32}$ && $1 != $2 ]]' _ "$GEN2" "$GEN"
check "... logged with it" e2e_until_log "request_id=$GEN2\$"

e2e_curl GET /v1/runtime -H 'X-Request-Id: nginx-401'
check "nginx's own 401 carries the id in its header" test "$(hdr_id)" = nginx-401
check "... and in its body" json '.error.request_id == "nginx-401"'
e2e_curl GET /elsewhere
check "nginx's own 404 carries a generated id" \
	bash -c '[[ $1 =~ ^[0-9a-f]{32}$ ]]' _ "$(hdr_id)"
check "... the same in its body" json --arg id "$(hdr_id)" '.error.request_id == $id'

e2e_curl GET /healthz -H 'X-Request-Id: hz-200'
check "/healthz passes the request id to the Runtime (header)" \
	eval 'test "$CODE" = 200 && test "$(hdr_id)" = hz-200'
check "... which logs it in the access line" e2e_until_log \
	'access method=GET route=/v1/health status=200 .*request_id=hz-200$'

# The responder's own errors (found before the handlers run), straight at
# the socket: a request without REQUEST_METHOD.
if command -v python3 >/dev/null; then
	timeout 15 python3 "$top_srcdir/tests/e2e/fcgi-raw.py" \
		"$WR_DIR/fcgi.sock" REQUEST_URI=/v1/runtime REQUEST_ID=raw-1 \
		</dev/null | tr -d '\r' >"$E2E_TMP/raw"
	check "the responder's own 400 carries X-Request-Id" \
		grep -qx 'X-Request-Id: raw-1' "$E2E_TMP/raw"
	check "... and request_id in its body" \
		grep -q '"request_id":"raw-1"' "$E2E_TMP/raw"
	check "... and has an access line" e2e_until_log \
		'access method="" route="" status=400 reason=invalid_request .*request_id=raw-1$'
fi

check "every Runtime log line starts with an RFC 3339 time and a level" \
	bash -c '! grep -vE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (error|warn|info|debug) " "$1"' _ "$LOG"

# ---- --log-format json, --no-access-log ----------------------------------
wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
: >"$LOG"
wr_stack_start_runtime "$WR_BIN" --log-format json || exit 99
e2e_api GET /v1/runtime -H 'X-Request-Id: json-1'
check "json: the access line is one object with the request's fields" e2e_until_log \
	'"msg":"access".*"request_id":"json-1"'
check "json: every line parses, with ts, level and msg" \
	jq -e -s 'length > 1 and all(.[]; (.ts | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z$")) and (.level | IN("error","warn","info","debug")) and (.msg | type == "string"))' "$LOG"
check "json: the startup lines give the store its own field, not inside msg" jq -e -s \
	'[.[] | select(.msg | test("^(restoring|started)"))] | length == 2 and all(.[]; (.store | test("^(memory|fs:)")) and (.msg | contains("store=") | not))' "$LOG"
check "json: the access line's values" jq -e -s \
	'[.[] | select(.msg == "access")][0] | .method == "GET" and .route == "/v1/runtime" and .status == 200 and .reason == "" and (.duration_ms | type == "number") and (.bytes_sent | type == "number" and . > 0)' "$LOG"
wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
: >"$LOG"
wr_stack_start_runtime "$WR_BIN" --no-access-log || exit 99
e2e_api GET /v1/runtime -H 'X-Request-Id: quiet-1'
e2e_until_log ' started ' >/dev/null
wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
check "--no-access-log: the request is answered" test "$CODE" = 200
check "--no-access-log: no access line (the stop was logged after it)" \
	bash -c 'grep -q "stopped" "$1" && ! grep -q "access" "$1"' _ "$LOG"

# ---- /healthz from an address not allowed: nginx's 403 names the request --
# The rendered site allows a documentation address instead of loopback;
# nginx reloads it (SIGHUP) and the refusal is awaited as a state.
sed -i -e 's/allow 127\.0\.0\.1;/allow 192.0.2.1;/' -e 's/allow ::1;/allow 2001:db8::1;/' \
	"$WR_DIR/nginx-site.conf"
kill -HUP "$WR_NGINX_PID"
refused() { e2e_curl GET /healthz -H 'X-Request-Id: hz-403'; status_is 403; }
check "/healthz from an address not allowed is 403" until_true 100 refused
check "... address_refused with the request id (header and body)" \
	eval 'error_is 403 forbidden address_refused && header X-Request-Id hz-403 && jq -e ".error.request_id == \"hz-403\"" "$E2E_TMP/body"'

e2e_finish
