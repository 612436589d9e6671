#!/bin/bash
# delete-paging.sh - DELETE /v1/workers/{id}, max_workers counting the
# workers that exist, list paging (limit, after, status, next_after) under
# concurrent creates and deletes, --retain-ended and deleted_worker_count,
# through the real nginx and the real binary with an fs store that is
# restarted (a deleted worker stays deleted).
#
# Nothing waits for a guessed duration: retention is checked by polling
# for the state (bounded), the concurrent churn is a bounded loop.

set -u
. "$(dirname "$0")/lib.sh"
e2e_need nginx curl jq openssl
e2e_init

STORE="$E2E_TMP/store"
ARGS=(--store "fs:$STORE" --max-workers 6 --runtime-id rt-del)
e2e_start_stack "${ARGS[@]}"

# create: sets ID to the new worker's id (empty on failure).
create() {
	e2e_api POST /v1/workers
	ID=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body" 2>/dev/null)
}

# walk QUERY: follows next_after to the end; the ids seen, one a line, in
# $E2E_TMP/walk.  At most 200 pages.
walk() {
	local after="" page
	: > "$E2E_TMP/walk"
	for page in $(seq 200); do
		e2e_api GET "/v1/workers?$1${after:+&after=$after}"
		[ "$CODE" = 200 ] || return 1
		jq -r '.workers[].worker_id' "$E2E_TMP/body" >> "$E2E_TMP/walk"
		after=$(jq -r '.next_after // empty' "$E2E_TMP/body")
		[ -n "$after" ] || return 0
	done
	return 1
}

# ---- DELETE rules -------------------------------------------------------
create
A=$ID
check "create answers an id that carries its creation order" \
	eval '[[ $A =~ ^w-[0-9a-f]{14}-[0-9a-f]{8}$ ]]'

e2e_api DELETE "/v1/workers/$A"
check "DELETE of a running worker: 409 worker_running" \
	error_is 409 unsupported_operation worker_running

e2e_api POST "/v1/workers/$A/stop"
e2e_api DELETE "/v1/workers/$A"
check "DELETE of a stopped worker: 200 with deleted: true" status_is 200
check "the ack names the worker, its status and a new event id" \
	json --arg id "$A" '.ack.worker_ref.worker_id == $id and
		.ack.status == "stopped" and .ack.deleted == true and
		(.ack | keys) == ["deleted","event_id","status","worker_ref"]'

e2e_api DELETE "/v1/workers/$A"
check "a repeated DELETE: 404 unknown_worker" error_is 404 unknown_worker
e2e_api GET "/v1/workers/$A"
check "GET of a deleted worker: 404 unknown_worker" error_is 404 unknown_worker
e2e_api GET "/v1/workers/$A/transcript"
check "its transcript: 404 unknown_worker" error_is 404 unknown_worker
e2e_api POST "/v1/workers/$A"
check "405 on the worker path lists GET, DELETE" header allow 'GET, DELETE'

# ---- max_workers counts what exists --------------------------------------
ids=()
for _ in 1 2 3 4 5 6; do create; ids+=("$ID"); done
check "six workers exist (max_workers 6)" eval '[ ${#ids[@]} = 6 ] && [ -n "${ids[5]}" ]'
e2e_api POST /v1/workers
check "the seventh create: 409 worker_limit_reached" \
	error_is 409 unsupported_operation worker_limit_reached
e2e_api POST "/v1/workers/${ids[0]}/cancel"
e2e_api POST /v1/workers
check "an ended worker still holds its place" \
	error_is 409 unsupported_operation worker_limit_reached
e2e_api DELETE "/v1/workers/${ids[0]}"
create
check "after a delete a create succeeds again" eval '[ -n "$ID" ]'
ids=("${ids[@]:1}" "$ID")

# ---- paging --------------------------------------------------------------
check "a walk with limit=2 sees the six workers in creation order" \
	eval 'walk limit=2 && diff <(printf "%s\n" "${ids[@]}") "$E2E_TMP/walk"'
e2e_api GET "/v1/workers?limit=1001"
check "limit above 1000: 400 limit_too_large" \
	error_is 400 invalid_input limit_too_large
e2e_api GET "/v1/workers?status=paused"
check "an unknown status: 400 invalid_query" \
	error_is 400 invalid_input invalid_query
e2e_api POST "/v1/workers/${ids[1]}/stop"
e2e_api POST "/v1/workers/${ids[3]}/stop"
check "status=stopped lists exactly the two stopped workers" \
	eval 'walk "status=stopped&limit=1" &&
	      diff <(printf "%s\n" "${ids[1]}" "${ids[3]}") "$E2E_TMP/walk"'
e2e_api DELETE "/v1/workers/${ids[1]}"
e2e_api GET "/v1/workers?limit=1&after=${ids[1]}"
check "after= a deleted worker continues from its place" \
	json --arg n "${ids[2]}" '.workers[0].worker_id == $n'
ids=("${ids[0]}" "${ids[@]:2}")

# ---- restart: deleted stays deleted, the count survives -----------------
e2e_api GET /v1/runtime
check "deleted_worker_count counts the three deletes" \
	json '.runtime.deleted_worker_count == 3 and .runtime.worker_count == 5'
# End the rest, for retention after the restart.
for id in "${ids[@]}"; do e2e_api POST "/v1/workers/$id/stop"; done
wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
wr_stack_start_runtime "$WR_BIN" "${ARGS[@]}" --retain-ended 1s || exit 99
e2e_api GET "/v1/workers/$A"
check "after a restart a deleted worker is still 404" \
	error_is 404 unknown_worker
e2e_api GET /v1/runtime
check "after a restart deleted_worker_count is kept" \
	json '.runtime.deleted_worker_count >= 3'

# ---- retention (--retain-ended 1s): every worker has ended ---------------
gone=no
for _ in $(seq 100); do
	e2e_api GET /v1/workers
	if [ "$CODE" = 200 ] && json '.workers == []' >/dev/null; then
		gone=yes
		break
	fi
	sleep 0.1
done
check "retention deletes the ended workers (polled, <= 10 s)" \
	eval '[ $gone = yes ]'
e2e_api GET /v1/runtime
check "deleted_worker_count counts retention's deletes too" \
	json '.runtime.deleted_worker_count == 8 and .runtime.worker_count == 0'

# ---- a walk under concurrent creates and deletes ------------------------
wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
wr_stack_start_runtime "$WR_BIN" --store "fs:$STORE" --runtime-id rt-del \
	--max-workers 100 || exit 99
stable=()
for _ in $(seq 12); do create; stable+=("$ID"); done
# Churn: 40 rounds of create -> stop -> delete, in the background.
(
	for _ in $(seq 40); do
		id=$(curl -sS --max-time 20 --cacert "$WR_DIR/tls/cert.pem" \
			-H "Authorization: Bearer $WR_TOKEN" -X POST \
			"$WR_BASE_URL/v1/workers" | jq -r '.worker.worker_id')
		for op in "-X POST $WR_BASE_URL/v1/workers/$id/stop" \
			  "-X DELETE $WR_BASE_URL/v1/workers/$id"; do
			# shellcheck disable=SC2086
			curl -sS -o /dev/null --max-time 20 \
				--cacert "$WR_DIR/tls/cert.pem" \
				-H "Authorization: Bearer $WR_TOKEN" $op
		done
	done
) &
E2E_PIDS="${E2E_PIDS:-} $!"
churn=$!
ok=yes
for _ in 1 2 3 4 5; do
	walk limit=2 || { ok=no; break; }
	# Every stable worker exactly once, in creation order.
	grep -Fxf <(printf "%s\n" "${stable[@]}") "$E2E_TMP/walk" \
		> "$E2E_TMP/seen"
	diff -q <(printf "%s\n" "${stable[@]}") "$E2E_TMP/seen" >/dev/null ||
		{ ok=no; break; }
	[ "$(sort "$E2E_TMP/walk" | uniq -d)" = "" ] || { ok=no; break; }
done
wait "$churn"
check "walks during churn: every stable worker once, no duplicate" \
	eval '[ $ok = yes ]'
e2e_api GET /v1/runtime
check "the churn's workers are all deleted" \
	json '.runtime.worker_count == 12 and .runtime.deleted_worker_count == 48'

e2e_finish
