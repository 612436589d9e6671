#!/usr/bin/env bash
# tests/e2e/group-commit.sh - a mutation waiting for the fs store's
# fdatasync holds no serving thread (it is parked until durable).
#
# With --threads 1 on the fs store, 32 concurrent inputs to one worker are
# all acknowledged (200, sequences 1..32 each once) and each is in the
# transcript exactly once, also after a restart.  They share fdatasyncs:
# the store counts fewer fdatasyncs than inputs, which one serving thread
# that waits for each input's own fdatasync (the code before parking) can
# never do.  Every wait is for a state, bounded.  While the inputs arrive
# every fdatasync takes 100 ms (tests/slow-fdatasync.c, preloaded), so
# the one serving thread surely reads more than one input during an
# fdatasync however loaded the machine is: on a fast disk a starved
# thread could see each input synced before it read the next, and the
# check would fail without any fault (seen once under make distcheck).
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl
e2e_init

STORE=$E2E_TMP/store
N=32
e2e_fdatasync_shim
# ASan wants its runtime first; the shim is only a wrapper around libc.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
LD_PRELOAD=$SHIM WR_SLOW_FDATASYNC_ARM=$E2E_TMP/arm WR_SLOW_FDATASYNC_MS=100 \
	e2e_start_stack --threads 1 --store "fs:$STORE"

fsyncs() {
	e2e_api GET /v1/metrics
	sed -n 's/^worker_runtime_store_fsyncs_total \([0-9]*\)$/\1/p' \
		"$E2E_TMP/body"
}

e2e_api POST /v1/workers -d '{}'
W=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body")
[ -n "$W" ] || { e2e_say "ERROR: create failed ($CODE)"; exit 99; }
F0=$(fsyncs)
[ -n "$F0" ] || { e2e_say "ERROR: no fsync counter"; exit 99; }

# One curl, N connections at once (--parallel-immediate), one body each
# (options after "next" start afresh: each transfer has its own).
for i in $(seq "$N"); do
	[ "$i" = 1 ] || echo next
	printf 'url = "%s"\nrequest = "POST"\ncacert = "%s"\n' \
		"$WR_BASE_URL/v1/workers/$W/input" "$WR_DIR/tls/cert.pem"
	printf 'header = "Authorization: Bearer %s"\n' "$WR_TOKEN"
	printf 'header = "Content-Type: application/json"\n'
	printf 'data = "{\\"kind\\":\\"user\\",\\"content\\":\\"in-%s\\"}"\n' "$i"
	printf 'output = "%s"\nwrite-out = "%%{http_code}\\n"\n' \
		"$E2E_TMP/in$i"
done > "$E2E_TMP/inputs.cfg"
: >"$E2E_TMP/arm"
curl -sS --max-time 30 --parallel --parallel-immediate \
	--parallel-max "$N" -K "$E2E_TMP/inputs.cfg" > "$E2E_TMP/codes" \
	2>"$E2E_TMP/curl.err"
rm -f "$E2E_TMP/arm"

all_acked() {
	local i
	[ "$(grep -c '^200$' "$E2E_TMP/codes")" = "$N" ] || return 1
	for i in $(seq "$N"); do
		jq -e --arg w "$W" '.ack.worker_ref.worker_id == $w' \
			"$E2E_TMP/in$i" >/dev/null || return 1
	done
}
check "$N concurrent inputs with --threads 1 are all acknowledged" all_acked
sequences_once() {
	local i
	for i in $(seq "$N"); do
		jq -r '.ack.transcript_sequence' "$E2E_TMP/in$i"
	done | sort -n | tr '\n' ' ' |
		grep -qx "$(seq -s ' ' "$N") "
}
check "their sequences are 1..$N, each once" sequences_once

# in_transcript_once: every input's content exactly once, nothing else.
in_transcript_once() {
	e2e_api GET "/v1/workers/$W/transcript?limit=$N"
	[ "$CODE" = 200 ] &&
	jq -e --argjson n "$N" '[.transcript.items[].content] |
		length == $n and (unique | length) == $n and
		all(test("^in-[0-9]+$"))' "$E2E_TMP/body"
}
check "each input is in the transcript exactly once" in_transcript_once
F1=$(fsyncs)
shared() { [ "$F1" -gt "$F0" ] && [ $((F1 - F0)) -lt "$N" ]; }
check "the inputs shared fdatasyncs ($((F1 - F0)) for $N)" shared

# Durable: the same after a restart.
wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
wr_stack_start_runtime "$WR_BIN" --threads 1 --store "fs:$STORE" || exit 99
check "after a restart each input is still there exactly once" \
	in_transcript_once

e2e_finish
