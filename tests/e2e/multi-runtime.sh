#!/usr/bin/env bash
# tests/e2e/multi-runtime.sh - two Runtimes behind one nginx
# (deploy/nginx-multi.conf): /rt/rt-a/v1/... and /rt/rt-b/v1/... reach two
# worker-runtime processes, each with its own fs store and socket, as the
# template units worker-runtime@rt-a and @rt-b run them.  Their state is
# separate: a worker made on one is 404 unknown_worker on the other, the
# summaries name their own ids and counts, and a restart of one leaves the
# other untouched.  A prefix naming no Runtime, and /v1/ without a prefix,
# are 404 not_found from nginx.  /rt/<id>/healthz answers each Runtime's
# health without a token, from loopback only (403 address_refused
# otherwise); nginx's own error pages carry the request id; nginx keeps
# its upstream connections (keepalive).  Every answer is validated against
# docs/openapi.yaml with the /rt/<id> prefix stripped.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl python3
e2e_init
# Only the prefixes of the two Runtimes: /rt/rt-c/v1/runtime is no route.
E2E_OPENAPI_ARGS="--strip-prefix ^/rt/rt-[ab]"

# start_rt ID: worker-runtime for runtime ID on $WR_DIR/ID.sock (the path
# the rendered nginx-multi.conf names), store $E2E_TMP/store-ID; waits
# (<= 10 s) for the socket.  Sets PID_<ID with - as _>.
start_rt() {
	local id=$1 pid i
	rm -f "$WR_DIR/$id.sock"
	"$WR_BIN" --socket "unix:$WR_DIR/$id.sock" --runtime-id "$id" \
		--store "fs:$E2E_TMP/store-$id" </dev/null \
		>>"$WR_DIR/$id.log" 2>&1 &
	pid=$!
	E2E_PIDS="${E2E_PIDS:-} $pid"
	printf -v "PID_${id//-/_}" '%s' "$pid"
	for i in $(seq 100); do
		[ -S "$WR_DIR/$id.sock" ] && return 0
		wr_stack_pid_alive "$pid" || break
		sleep 0.1
	done
	e2e_say "ERROR: runtime $id did not come up"
	tail -n 20 "$WR_DIR/$id.log" >&2
	exit 99
}

start_rt rt-a
start_rt rt-b
WR_NGINX_SITE=deploy/nginx-multi.conf
export WR_NGINX_SITE
for _ in 1 2 3 4 5 6 7 8; do
	port=$(( 20000 + (RANDOM % 30000) ))
	wr_stack_render_nginx "$top_srcdir" "$port" || exit 99
	rc=0
	wr_stack_start_nginx || rc=$?
	[ "$rc" = 0 ] && break
	[ "$rc" = 98 ] || exit 99
done
[ "$rc" = 0 ] || { e2e_say "ERROR: no free port found"; exit 99; }

A=/rt/rt-a/v1
B=/rt/rt-b/v1

e2e_api GET "$A/runtime"
check "rt-a answers its own summary" json \
	'.runtime.runtime_id == "rt-a" and .runtime.backend == "fs_store"'
e2e_api GET "$B/runtime"
check "rt-b answers its own summary" json '.runtime.runtime_id == "rt-b"'

e2e_api POST "$A/workers" -d '{"intent":{"kind":"task","objective":"on a"}}'
check "a create on rt-a is 201" status_is 201
WA=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body")
check "the worker of rt-a names rt-a" json '.worker.runtime_id == "rt-a"'
check "Location is the Runtime's own /v1/workers/{id} (no prefix)" \
	header location "/v1/workers/$WA"$'\r'
[ -n "$WA" ] || WA=missing-worker-id
e2e_api POST "$A/workers/$WA/input" -d '{"kind":"user","content":"only on a"}'
check "input on rt-a is 200" status_is 200

e2e_api GET "$B/workers/$WA"
check "rt-a's worker is 404 unknown_worker on rt-b" \
	error_is 404 unknown_worker
e2e_api POST "$B/workers/$WA/input" -d '{"kind":"user","content":"x"}'
check "input to rt-a's worker through rt-b is 404 unknown_worker" \
	error_is 404 unknown_worker
e2e_api GET "$B/workers"
check "rt-b lists no worker" json '.workers == [] and .next_after == null'
e2e_api POST "$B/workers" -d '{}'
WB=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body")
check "a create on rt-b makes another id" eval '[ -n "$WB" ] && [ "$WB" != "$WA" ]'
e2e_api GET "$A/workers/$WB"
check "rt-b's worker is 404 unknown_worker on rt-a" error_is 404 unknown_worker

e2e_api GET "$A/runtime"
check "rt-a counts one worker" json '.runtime.worker_count == 1'
e2e_api GET "$B/runtime"
check "rt-b counts one worker" json '.runtime.worker_count == 1'
e2e_api GET "$A/workers/$WA/transcript"
check "rt-a's transcript holds its input" json \
	'.transcript.total_items == 1 and
	 .transcript.items[0].content == "only on a"'

# ---- what nginx-multi.conf answers itself -----------------------------------
e2e_api GET /rt/rt-c/v1/runtime
check "a prefix naming no Runtime is 404 not_found" error_is 404 not_found
e2e_api GET "/rt/rt-a/v1"
check "/rt/<id>/v1 alone is 404 not_found" error_is 404 not_found
# Not recorded for docs/openapi.yaml: without a prefix, /v1/runtime is not
# a route here (the validator would take it for the operation).
CODE=$(curl -sS --max-time 20 --cacert "$WR_DIR/tls/cert.pem" \
	-H "Authorization: Bearer $WR_TOKEN" -o "$E2E_TMP/body" \
	-D "$E2E_TMP/headers" -w '%{http_code}' "$WR_BASE_URL/v1/runtime") ||
	CODE=000
check "/v1/ without a prefix is 404 not_found" error_is 404 not_found
e2e_curl GET "$A/runtime"
check "the token is checked on every prefix (401)" \
	error_is 401 unauthorized missing_token
# nginx's own error pages name the request, as deploy/nginx.conf's do.
e2e_api GET /rt/rt-c/v1/runtime -H 'X-Request-Id: multi-404'
check "nginx's 404 carries the request id (header and body)" \
	eval 'header X-Request-Id multi-404 && json ".error.request_id == \"multi-404\""'
e2e_curl GET "$A/runtime" -H 'X-Request-Id: multi-401'
check "nginx's 401 carries the request id (header and body)" \
	eval 'header X-Request-Id multi-401 && json ".error.request_id == \"multi-401\""'

# ---- /rt/<id>/healthz: no token, loopback only ---------------------------
e2e_curl GET /rt/rt-a/healthz
check "/rt/rt-a/healthz from loopback is 200 ok without a token" \
	eval 'status_is 200 && json ".health.status == \"ok\""'
e2e_curl GET /rt/rt-b/healthz
check "/rt/rt-b/healthz answers rt-b's health" status_is 200
e2e_curl GET /rt/rt-c/healthz
check "/rt/<unknown id>/healthz is 404 not_found" error_is 404 not_found
e2e_curl GET /rt/rt-a/healthz -H 'Origin: https://example.com'
check "/rt/<id>/healthz from a browser is refused" \
	error_is 403 forbidden browser_request

# ---- upstream keepalive ----------------------------------------------------
established() { ss -xH src "$WR_DIR/$1.sock" | awk '$2 == "ESTAB"' | wc -l; }
for _ in 1 2 3; do e2e_api GET "$B/runtime"; done
check "nginx keeps its connection to rt-b open between requests (keepalive)" \
	eval '[ "$(established rt-b)" -ge 1 ]'

# ---- one Runtime restarts; the other is untouched ------------------------
wr_stack_stop_pid "$PID_rt_a" "worker-runtime rt-a"
e2e_api GET "$A/runtime"
check "rt-a down: 503 runtime_down from nginx" \
	error_is 503 runtime_unavailable runtime_down
check "... naming the request (header and body)" \
	eval 'json ".error.request_id | test(\"^[0-9a-f]{32}$\")" && header X-Request-Id "[0-9a-f]{32}"'
e2e_curl GET /rt/rt-a/healthz
check "rt-a down: its /healthz is 503 runtime_down" \
	error_is 503 runtime_unavailable runtime_down
e2e_api GET "$B/runtime"
check "rt-b still serves while rt-a is down" json '.runtime.worker_count == 1'
start_rt rt-a
e2e_api GET "$A/workers/$WA"
check "rt-a restarted from its own store keeps its worker" json \
	'.worker.transcript_len == 1 and .worker.runtime_id == "rt-a"'

# The prefix site passes Idempotency-Key and X-Request-Id as the single
# site does: a keyed retry replays, the client's id comes back.
e2e_api POST "$A/workers/$WA/input" -H 'Idempotency-Key: multi-k1' \
	-H 'X-Request-Id: multi-rid-1' -d '{"kind":"user","content":"keyed"}'
cp "$E2E_TMP/body" "$E2E_TMP/keyed1"
check "a keyed input through the prefix site is 200 with the client's id" \
	eval 'status_is 200 && header X-Request-Id multi-rid-1'
e2e_api POST "$A/workers/$WA/input" -H 'Idempotency-Key: multi-k1' \
	-d '{"kind":"user","content":"keyed"}'
check "its retry with the same key replays the same answer" \
	eval 'status_is 200 && header Idempotent-Replayed true &&
	      cmp -s "$E2E_TMP/body" "$E2E_TMP/keyed1"'

# ---- /rt/<id>/healthz from an address not allowed: 403 address_refused ----
# The rendered site allows a documentation address instead of loopback;
# nginx reloads it (SIGHUP) and the refusal is awaited as a state.
sed -i -e 's/allow 127\.0\.0\.1;/allow 192.0.2.1;/' -e 's/allow ::1;/allow 2001:db8::1;/' \
	"$WR_DIR/nginx-site.conf"
kill -HUP "$WR_NGINX_PID"
refused() { e2e_curl GET /rt/rt-b/healthz -H 'X-Request-Id: multi-403'; status_is 403; }
check "after the reload loopback is refused 403" until_true 100 refused
check "... address_refused, naming the request (header and body)" \
	eval 'error_is 403 forbidden address_refused && header X-Request-Id multi-403 && json ".error.request_id == \"multi-403\""'

e2e_finish
