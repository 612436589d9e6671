#!/usr/bin/env bash
# tests/e2e/idempotency-crash.sh - a keyed create or input whose process is
# SIGKILLed after the mutation became durable and before the answer went
# out (nginx answers 502 upstream_failed, "outcome unknown") is retried
# with the same Idempotency-Key on the restarted Runtime: the retry gets
# the stored answer (Idempotent-Replayed: true) and exactly one worker /
# one transcript entry exists, in each of 12 rounds, through nginx with
# the fs store.  Also: the header reaches the Runtime through
# deploy/nginx.conf, 422 on a reused key, and the docs/api.md example.
#
# The kill point is the binary's test seam WR_TEST_HOLD_COMMIT=PATH: a
# keyed mutation that just became durable creates PATH and waits until it
# is removed, so the test waits for a state (PATH exists), never for a
# guessed duration.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl timeout
e2e_init

STORE=$E2E_TMP/store
HELD=$E2E_TMP/held
ARGS=(--store "fs:$STORE")
ROUNDS=12

# keyed_bg KEY METHOD PATH BODY: the request in the background, its status
# in $E2E_TMP/bg.code, its body in $E2E_TMP/bg.body; sets BG.
keyed_bg() {
	curl -sS --max-time 20 --cacert "$WR_DIR/tls/cert.pem" -X "$2" \
		-H "Authorization: Bearer $WR_TOKEN" \
		-H "Content-Type: application/json" -H "Idempotency-Key: $1" \
		-o "$E2E_TMP/bg.body" -w '%{http_code}' -d "$4" \
		"$WR_BASE_URL$3" > "$E2E_TMP/bg.code" 2>/dev/null &
	BG=$!
	E2E_PIDS="${E2E_PIDS:-} $BG"
}

# wait_held: until the Runtime holds a committed request (<= 10 s).
wait_held() {
	local i
	for i in $(seq 1000); do
		[ -e "$HELD" ] && return 0
		sleep 0.01
	done
	return 1
}

start_runtime() {
	WR_TEST_HOLD_COMMIT=$HELD wr_stack_start_runtime "$WR_BIN" "${ARGS[@]}" ||
		exit 99
}

# keyed_pass KEY METHOD PATH BODY: a keyed request let through the hold;
# sets CODE, the body in $E2E_TMP/body.
keyed_pass() {
	keyed_bg "$@"
	wait_held
	rm -f "$HELD"
	wait "$BG"
	CODE=$(cat "$E2E_TMP/bg.code")
	cp "$E2E_TMP/bg.body" "$E2E_TMP/body"
}

# ---- the stack, one worker for the inputs -----------------------------------
WR_TEST_HOLD_COMMIT=$HELD e2e_start_stack "${ARGS[@]}"
e2e_api POST /v1/workers -d '{}'
WID=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body")
[ -n "$WID" ] || { e2e_say "ERROR: create failed ($CODE)"; exit 99; }

creates=0 inputs=0 ok=yes replayed=0 same=0
for round in $(seq "$ROUNDS"); do
	key="round-$round-$RANDOM"
	if [ $((round % 2)) = 1 ]; then
		path=/v1/workers body='{}'
		creates=$((creates + 1))
	else
		path=/v1/workers/$WID/input
		body="{\"kind\":\"user\",\"content\":\"round $round\"}"
		inputs=$((inputs + 1))
	fi
	keyed_bg "$key" POST "$path" "$body"
	wait_held || { ok=no; e2e_say "round $round: never held"; break; }
	kill -KILL "$WR_RUNTIME_PID"
	wait "$WR_RUNTIME_PID" 2>/dev/null
	rm -f "$HELD"
	wait "$BG"
	[ "$(jq -r '.error.reason' "$E2E_TMP/bg.body")" = upstream_failed ] ||
		{ ok=no; e2e_say "round $round: killed answer $(cat "$E2E_TMP/bg.body")"; }
	start_runtime
	e2e_api POST "$path" -H "Idempotency-Key: $key" -d "$body"
	[ "$CODE" = 201 ] || [ "$CODE" = 200 ] ||
		{ ok=no; e2e_say "round $round: retry answered $CODE"; }
	header Idempotent-Replayed true && replayed=$((replayed + 1))
	cp "$E2E_TMP/body" "$E2E_TMP/first"
	e2e_api POST "$path" -H "Idempotency-Key: $key" -d "$body"
	cmp -s "$E2E_TMP/body" "$E2E_TMP/first" && same=$((same + 1))
	e2e_api GET /v1/workers
	n=$(jq '.workers | length' "$E2E_TMP/body")
	[ "$n" = $((1 + creates)) ] ||
		{ ok=no; e2e_say "round $round: $n workers, want $((1 + creates))"; }
	e2e_api GET "/v1/workers/$WID/transcript"
	n=$(jq '[.transcript.items[] | select(.role == "user")] | length' \
		"$E2E_TMP/body")
	[ "$n" = "$inputs" ] ||
		{ ok=no; e2e_say "round $round: $n inputs, want $inputs"; }
done
check "$ROUNDS rounds of SIGKILL after the commit: the killed request got upstream_failed and its retry found it (one worker, one entry per round)" \
	test "$ok" = yes
check "every retry after a kill says Idempotent-Replayed: true" \
	test "$replayed" = "$ROUNDS"
check "a second retry answers the same bytes" test "$same" = "$ROUNDS"
e2e_api GET "/v1/workers/$WID/transcript"
check "the transcript holds each input round once, in order" \
	json '[.transcript.items[] | select(.role == "user") | .content] ==
	      [range(2; '"$((ROUNDS + 1))"'; 2) | "round \(.)"]'

# ---- through nginx: a reused key, a bad key --------------------------------
keyed_pass reuse POST /v1/workers '{}'
check "a keyed create is 201" test "$CODE" = 201
e2e_api POST /v1/workers -H "Idempotency-Key: reuse" -d '{"mount_refs":[]}'
check "the same key with another body is 422 idempotency_key_reused" \
	error_is 422 invalid_input idempotency_key_reused
e2e_api POST /v1/workers -H "Idempotency-Key: has space" -d '{}'
check "an invalid key is 400 invalid_input" error_is 400 invalid_input

# ---- docs/api.md's "Retrying safely" example, as written ---------------------
wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
wr_stack_start_runtime "$WR_BIN" "${ARGS[@]}" || exit 99 # no hold now
e2e_api GET /v1/runtime
before=$(jq '.runtime.worker_count' "$E2E_TMP/body")
sed -n '/^<!-- retry-example:begin -->$/,/^<!-- retry-example:end -->$/p' \
	"$top_srcdir/docs/api.md" | sed '1,2d;$d' | sed '$d' |
	sed "s#https://127.0.0.1:8443#$WR_BASE_URL#g" > "$E2E_TMP/example.sh"
check "docs/api.md has the retry example" test -s "$E2E_TMP/example.sh"
(
	cd "$E2E_TMP" || exit 1
	api() { curl -sS --max-time 20 --cacert "$WR_DIR/tls/cert.pem" \
		-H "Authorization: Bearer $WR_TOKEN" \
		-H 'Content-Type: application/json' "$@"; }
	. ./example.sh
) > "$E2E_TMP/example.out" 2>&1
check "the example's two answers are 201" \
	test "$(grep -o 'HTTP/[0-9.]* 201' "$E2E_TMP/example.out" | wc -l)" = 2
check "the second says Idempotent-Replayed: true" \
	test "$(grep -oi 'Idempotent-Replayed: true' "$E2E_TMP/example.out" | wc -l)" = 1
e2e_api GET /v1/runtime
check "and one worker was made" \
	json --argjson b "$before" '.runtime.worker_count == $b + 1'

e2e_finish
