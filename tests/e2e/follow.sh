#!/usr/bin/env bash
# tests/e2e/follow.sh - long-poll end to end through real nginx.
#
# 1. docs/api.md's "Following a worker" example, run as written (the api
#    helper pointed at this stack): it ends, and prints the echo.
# 2. A follower (transcript?after=LAST&wait=) in the background while the
#    test talks to an echo worker, K inputs one turn at a time (each turn
#    awaited with GET /v1/workers/{id}?wait=&after_event=, not a sleep):
#    the follower sees sequences 1..2K, each exactly once, in order, with
#    the contents of the final transcript.
# 3. A waiting detail is woken by an input: it answers with the input's
#    event id, long before its wait would have run out.
# 4. Parameter errors: wait above 25000, after with start, wait without
#    after_event.
# 5. Across restarts (fs store), ROUNDS rounds: a sender posts inputs, the
#    Runtime gets SIGKILL once the sender has new acks (a state), and is
#    started again on the same store; the follower, resuming with after=
#    its last sequence through the outage, sees every durable entry
#    exactly once, and every acknowledged input is among them.
# Bounded: every request 30 s, every loop counted, a watchdog at 240 s.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl
e2e_init

ECHO=$top_builddir/src/workers/echo-worker
[ -x "$ECHO" ] || { e2e_say "ERROR: $ECHO not built"; exit 99; }
K=${FOLLOW_INPUTS:-20}
ROUNDS=${FOLLOW_ROUNDS:-10}

( trap 'kill "$s" 2>/dev/null; exit 0' TERM
  sleep 240 & s=$!
  wait "$s" && { e2e_say "ERROR: over 240 s; giving up"; kill -TERM $$; } ) &
E2E_PIDS="$!"

jq -n --arg echo "$ECHO" '{profiles: {echo: {argv: [$echo]}}}' \
	> "$E2E_TMP/profiles.json" || exit 99

# get URL_PATH OUT: one GET with the token into OUT; prints the status.
get() {
	curl -sS --max-time 30 --cacert "$WR_DIR/tls/cert.pem" \
		-H "Authorization: Bearer $WR_TOKEN" -o "$2" \
		-w '%{http_code}' "$WR_BASE_URL$1" 2>/dev/null || echo 000
}

# post URL_PATH BODY OUT: one POST; prints the status.
post() {
	curl -sS --max-time 30 --cacert "$WR_DIR/tls/cert.pem" \
		-H "Authorization: Bearer $WR_TOKEN" \
		-H 'Content-Type: application/json' -X POST -d "$2" -o "$3" \
		-w '%{http_code}' "$WR_BASE_URL$1" 2>/dev/null || echo 000
}

# follower ID OUT DONE: follows the transcript with after= and wait=,
# appending "sequence<TAB>content" lines to OUT, until the file DONE
# exists and a page shows it has everything (total_items == last).
# Retries refused requests (the Runtime down or restoring) after 50 ms.
# Exits 2 if a page does not continue right after the last sequence.
follower() {
	local id=$1 out=$2 done=$3 last=0 i code page=$E2E_TMP/page.$BASHPID
	local ended
	: > "$out"
	for ((i = 0; i < 4000; i++)); do
		# Whether the writers had ended before this request was sent:
		# only a page asked for after that can be the last one.
		ended=0
		[ -e "$done" ] && ended=1
		code=$(get "/v1/workers/$id/transcript?after=$last&wait=2000&limit=100" "$page")
		if [ "$code" != 200 ]; then
			sleep 0.05 # backoff while the Runtime is down
			continue
		fi
		jq -e --argjson a "$last" '.transcript.items |
			(length == 0 or .[0].sequence == $a + 1) and
			([.[].sequence] == [range($a + 1; $a + 1 + length)])' \
			"$page" >/dev/null || exit 2
		jq -r '.transcript.items[] | "\(.sequence)\t\(.content)"' \
			"$page" >> "$out"
		last=$(jq --argjson a "$last" \
			'[$a, .transcript.items[].sequence] | max' "$page")
		if [ "$ended" = 1 ] && jq -e --argjson a "$last" \
			'.transcript.total_items == $a' "$page" >/dev/null; then
			exit 0
		fi
	done
	exit 3
}

# ---- 1. the documented example -------------------------------------------

e2e_start_stack --runtime-id e2e-follow --store memory --threads 4 \
	--profiles "$E2E_TMP/profiles.json"

sed -n '/^<!-- follow-example:begin -->$/,/^<!-- follow-example:end -->$/p' \
	"$top_srcdir/docs/api.md" | sed '1,2d;$d' | sed '$d' |
	sed "s#https://127.0.0.1:8443#$WR_BASE_URL#g" > "$E2E_TMP/example.sh"
{
	echo "api() { curl -sS --max-time 30 --cacert '$WR_DIR/tls/cert.pem' \\"
	echo "  -H 'Authorization: Bearer $WR_TOKEN' -H 'Content-Type: application/json' \"\$@\"; }"
	cat "$E2E_TMP/example.sh"
} > "$E2E_TMP/example-run.sh"
timeout 60 bash -e "$E2E_TMP/example-run.sh" > "$E2E_TMP/example.out" 2>&1
CODE=$?
cp "$E2E_TMP/example.out" "$E2E_TMP/body"
check "docs/api.md's following example runs (its block was found)" \
	test "$CODE" = 0 -a -s "$E2E_TMP/example.sh"
check "the example prints the echo, as its last comment says" \
	grep -qx '2 worker: hello' "$E2E_TMP/example.out"

# ---- 2. a follower never misses or repeats an entry ----------------------

e2e_api POST /v1/workers -d '{"profile":{"kind":"named","value":"echo"}}'
ID=$(jq -r .worker.worker_id "$E2E_TMP/body")
check "an echo worker is created" status_is 201

follower "$ID" "$E2E_TMP/followed" "$E2E_TMP/done1" &
FOLLOWER=$!
E2E_PIDS="$E2E_PIDS $FOLLOWER"
sent_ok=0
for ((n = 1; n <= K; n++)); do
	code=$(post "/v1/workers/$ID/input" \
		"{\"kind\":\"user\",\"content\":\"m$n\"}" "$E2E_TMP/ack")
	[ "$code" = 200 ] || break
	ev=$(jq -r .ack.event_id "$E2E_TMP/ack")
	# The turn is over when the detail says idle: wait for changes.
	for ((i = 0; i < 50; i++)); do
		get "/v1/workers/$ID?wait=5000&after_event=$ev" "$E2E_TMP/det" >/dev/null
		jq -e '.worker.run_state == "idle"' "$E2E_TMP/det" >/dev/null && break
		ev=$(jq -r .worker.last_event_id "$E2E_TMP/det")
	done
	sent_ok=$n
done
touch "$E2E_TMP/done1"
wait "$FOLLOWER"
frc=$?
E2E_PIDS=${E2E_PIDS% $FOLLOWER}
cp "$E2E_TMP/followed" "$E2E_TMP/body"
check "every input was taken, one turn at a time ($sent_ok of $K)" \
	test "$sent_ok" = "$K"
check "the follower ended cleanly, each page right after the last (rc $frc)" \
	test "$frc" = 0
check "the follower saw sequences 1..2K, each exactly once, in order" \
	test "$(cut -f1 "$E2E_TMP/followed" | tr '\n' ' ')" = \
	     "$(seq 1 $((2 * K)) | tr '\n' ' ')"
get "/v1/workers/$ID/transcript?limit=256" "$E2E_TMP/full" >/dev/null
check "what it saw is the transcript, input then echo for every turn" \
	test "$(jq -r '.transcript.items[] | "\(.sequence)\t\(.content)"' \
		"$E2E_TMP/full")" = "$(cat "$E2E_TMP/followed")" -a \
	     "$(jq -r '[.transcript.items[].content] | join(" ")' "$E2E_TMP/full")" = \
	     "$(for ((n = 1; n <= K; n++)); do printf 'm%s m%s ' $n $n; done | sed 's/ $//')"

# ---- 3. a waiting detail is woken by an input ----------------------------

e2e_api GET "/v1/workers/$ID"
EV=$(jq -r .worker.last_event_id "$E2E_TMP/body")
start=$(date +%s%N)
get "/v1/workers/$ID?wait=20000&after_event=$EV" "$E2E_TMP/woken" > "$E2E_TMP/woken.code" &
WAITER=$!
E2E_PIDS="$E2E_PIDS $WAITER"
code=$(post "/v1/workers/$ID/input" '{"kind":"user","content":"wake"}' "$E2E_TMP/ack")
wait "$WAITER"
E2E_PIDS=${E2E_PIDS% $WAITER}
ms=$(( ($(date +%s%N) - start) / 1000000 ))
cp "$E2E_TMP/woken" "$E2E_TMP/body"
CODE=$(cat "$E2E_TMP/woken.code")
check "the waiting detail answers 200 after the input" status_is 200
check "... with a last_event_id above the one it waited after" \
	json --argjson e "$EV" '.worker.last_event_id > $e'
check "... long before its 20 s wait ran out (${ms} ms)" test "$ms" -lt 15000

# ---- 4. parameter errors -------------------------------------------------

e2e_api GET "/v1/workers/$ID/transcript?wait=25001"
check "wait above 25000 is 400 limit_too_large naming wait" \
	error_is 400 invalid_input limit_too_large
check "... field wait" json '.error.field == "wait"'
e2e_api GET "/v1/workers/$ID/transcript?after=1&start=1"
check "after with start is 400 invalid_query naming after" \
	error_is 400 invalid_input invalid_query
check "... field after" json '.error.field == "after"'
e2e_api GET "/v1/workers/$ID?wait=100"
check "a detail's wait without after_event is 400 naming after_event" \
	error_is 400 invalid_input invalid_query
check "... field after_event" json '.error.field == "after_event"'
e2e_api GET "/v1/workers/$ID/transcript?after=0&wait=0"
check "wait=0 answers at once, the page with the worker's state" \
	json '.transcript.start == 0 and .transcript.status == "running" and
	      (.transcript.last_event_id | type == "number")'

# ---- 5. across SIGKILL restarts with the fs store ------------------------

wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
STORE=$E2E_TMP/store
start_rt() {
	wr_stack_start_runtime "$WR_BIN" --runtime-id e2e-follow-fs \
		--store "fs:$STORE" --threads 4 || exit 99
}
start_rt
ID2=
for ((i = 0; i < 100; i++)); do
	[ -z "$ID2" ] || break
	code=$(post /v1/workers '{}' "$E2E_TMP/created")
	[ "$code" = 201 ] && ID2=$(jq -r .worker.worker_id "$E2E_TMP/created")
	[ -n "$ID2" ] || sleep 0.1 # the Runtime may still be restoring
done
check "a transcript worker is created on the fs store" test -n "$ID2"

# sender ID ACKS STOP: posts inputs until STOP exists, appending
# "sequence<TAB>content" of each 200 ack to ACKS; retries refusals.
sender() {
	local id=$1 acks=$2 stop=$3 n=0 code out=$E2E_TMP/sack
	: > "$acks"
	for ((n = 1; n <= 5000; n++)); do
		[ -e "$stop" ] && exit 0
		code=$(post "/v1/workers/$id/input" \
			"{\"kind\":\"user\",\"content\":\"s$n\"}" "$out")
		if [ "$code" = 200 ]; then
			printf '%s\ts%s\n' "$(jq -r .ack.transcript_sequence "$out")" \
				"$n" >> "$acks"
		else
			sleep 0.05 # backoff while the Runtime is down
		fi
	done
}

follower "$ID2" "$E2E_TMP/followed2" "$E2E_TMP/done2" &
FOLLOWER=$!
sender "$ID2" "$E2E_TMP/acks" "$E2E_TMP/stop" &
SENDER=$!
E2E_PIDS="$E2E_PIDS $FOLLOWER $SENDER"
killed=0
for ((r = 1; r <= ROUNDS; r++)); do
	have=$(wc -l < "$E2E_TMP/acks")
	for ((i = 0; i < 300; i++)); do # until 5 new acks (a state)
		[ "$(wc -l < "$E2E_TMP/acks")" -ge $((have + 5)) ] && break
		sleep 0.05
	done
	kill -KILL "$WR_RUNTIME_PID" 2>/dev/null && killed=$((killed + 1))
	wait "$WR_RUNTIME_PID" 2>/dev/null
	start_rt
done
touch "$E2E_TMP/stop"
wait "$SENDER"
E2E_PIDS=${E2E_PIDS% $SENDER}
touch "$E2E_TMP/done2"
wait "$FOLLOWER"
frc=$?
E2E_PIDS=${E2E_PIDS% $FOLLOWER}
get "/v1/workers/$ID2/transcript?limit=256" "$E2E_TMP/full2" >/dev/null
total=$(jq -r .transcript.total_items "$E2E_TMP/full2")
cp "$E2E_TMP/followed2" "$E2E_TMP/body"
check "the Runtime was killed $ROUNDS times mid-conversation" \
	test "$killed" = "$ROUNDS"
check "the follower ended cleanly across the restarts (rc $frc)" \
	test "$frc" = 0
check "it saw sequences 1..$total, each exactly once, in order" \
	test "$(cut -f1 "$E2E_TMP/followed2" | tr '\n' ' ')" = \
	     "$(seq 1 "$total" | tr '\n' ' ')"
# The transcript may be longer than one page: read it all.
: > "$E2E_TMP/all2"
for ((s = 0; s < total; s += 256)); do
	get "/v1/workers/$ID2/transcript?start=$s&limit=256" "$E2E_TMP/p" >/dev/null
	jq -r '.transcript.items[] | "\(.sequence)\t\(.content)"' "$E2E_TMP/p" \
		>> "$E2E_TMP/all2"
done
check "with the durable contents" cmp -s "$E2E_TMP/all2" "$E2E_TMP/followed2"
cmp -s "$E2E_TMP/all2" "$E2E_TMP/followed2" ||
	diff "$E2E_TMP/followed2" "$E2E_TMP/all2" | head -20 >&2
check "every acknowledged input is there at its sequence" \
	test -z "$(sort "$E2E_TMP/acks" | comm -23 - <(sort "$E2E_TMP/all2"))"
check "some inputs were acknowledged in every round" \
	test "$(wc -l < "$E2E_TMP/acks")" -ge $((5 * ROUNDS))

e2e_finish
