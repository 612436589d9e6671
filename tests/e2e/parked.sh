#!/usr/bin/env bash
# tests/e2e/parked.sh - parked long-poll requests hold no serving thread.
#
# With --threads 2, twenty GET …/transcript?after=0&wait=25000 on a quiet
# worker are all read and parked; a detail GET is still answered while they
# wait; one input wakes every one of them with its entry.  Twenty more are
# parked, then SIGTERM: each is answered 200 with its (empty) page, and the
# Runtime stops cleanly within --shutdown-timeout 20000, shorter than their
# wait, so it did not wait for them.  Every wait is for a state, bounded.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl ss
e2e_init

e2e_start_stack --threads 2 --shutdown-timeout 20000
SOCK=$WR_DIR/fcgi.sock
LOG=$WR_DIR/worker-runtime.log
# N requests read and parked: at least N connections, none with unread
# bytes, none in the listen backlog.
parked_at_least() {
	local est unread bl
	est=$(ss -xH src "$SOCK" | awk '$2 == "ESTAB"' | wc -l)
	unread=$(ss -xH src "$SOCK" | awk '$2 == "ESTAB" && $3 > 0' | wc -l)
	bl=$(ss -xlH src "$SOCK" | awk '{print $3}')
	[ "$est" -ge "$1" ] && [ "$unread" = 0 ] && [ "${bl:-0}" = 0 ]
}
# wait_many PREFIX AFTER: twenty waiters in the background.
PIDS=
wait_many() {
	local i
	PIDS=
	for i in $(seq 20); do
		curl -sS --max-time 60 --cacert "$WR_DIR/tls/cert.pem" \
			-H "Authorization: Bearer $WR_TOKEN" -o "$E2E_TMP/$1$i" \
			-w '%{http_code}' \
			"$WR_BASE_URL/v1/workers/$W/transcript?after=$2&wait=25000" \
			>"$E2E_TMP/$1$i.code" 2>/dev/null &
		PIDS="$PIDS $!"
	done
	E2E_PIDS="${E2E_PIDS:-} $PIDS"
}
# all_got PREFIX JQ: every one of the twenty answered 200 and JQ holds.
all_got() {
	local i
	for i in $(seq 20); do
		[ "$(cat "$E2E_TMP/$1$i.code")" = 200 ] &&
			jq -e "$2" "$E2E_TMP/$1$i" >/dev/null || return 1
	done
}

e2e_api POST /v1/workers -d '{}'
W=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body")
[ -n "$W" ] || { e2e_say "ERROR: create failed ($CODE)"; exit 99; }

wait_many a 0
check "twenty long-polls are parked (--threads 2)" \
	until_true 600 parked_at_least 20
e2e_api GET "/v1/workers/$W"
check "a detail GET is answered while they are parked" status_is 200
e2e_api POST "/v1/workers/$W/input" -d '{"kind":"user","content":"hi"}'
check "an input is accepted while they are parked" status_is 200
for p in $PIDS; do wait "$p"; done
check "the input wakes every parked request with its entry" \
	all_got a '.transcript.items | length == 1 and .[0].content == "hi"'

# parked_is N: the Runtime's own count of parked requests is N.
parked_is() {
	e2e_api GET /v1/metrics
	grep -qx "worker_runtime_http_requests_parked $1" "$E2E_TMP/body"
}
# Clients that give up: once their requests are parked the clients are
# killed, nginx closes its upstream connections (499), and the Runtime
# must let go of the parked requests then, not when their 25 s wait runs
# out (a dead waiter would hold a --max-waiters place).
GONE=
for i in $(seq 5); do
	curl -sS --max-time 60 --cacert "$WR_DIR/tls/cert.pem" \
		-H "Authorization: Bearer $WR_TOKEN" -o /dev/null \
		"$WR_BASE_URL/v1/workers/$W/transcript?after=1&wait=25000" \
		2>/dev/null &
	GONE="$GONE $!"
done
E2E_PIDS="${E2E_PIDS:-} $GONE"
check "five long-polls whose clients will give up are parked" \
	until_true 600 parked_is 5
kill -KILL $GONE 2>/dev/null
check "a parked request whose client hung up is let go at once" \
	until_true 150 parked_is 0

wait_many b 1
check "twenty more long-polls are parked" until_true 600 parked_at_least 20
kill -TERM "$WR_RUNTIME_PID"
for p in $PIDS; do wait "$p"; done
check "SIGTERM answers every parked request with its current page" \
	all_got b '.transcript.items == []'
RC=0
wait "$WR_RUNTIME_PID" || RC=$?
WR_RUNTIME_PID=
check "the Runtime stopped cleanly, before the requests' wait ran out" \
	test "$RC" = 0
check "its log says it stopped" grep -q 'worker-runtime: stopped' "$LOG"

e2e_finish
