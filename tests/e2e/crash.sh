#!/bin/sh
# crash.sh - kill -9 under load loses nothing that was acknowledged.
#
# Runs the built worker-runtime with --store fs:DIR on a unix socket in a
# temporary directory.  Several clients post inputs with unique contents to
# one worker through cgi-fcgi (Debian package libfcgi-bin) and record every
# 2xx ack (transcript_sequence + content).  At a random moment (0.2-1.5 s)
# the process gets SIGKILL; it is restarted on the same store and the whole
# transcript is read back (paged).  Every acknowledged input must be there
# exactly once, at its acknowledged sequence; sequences are dense 1..N; each
# client's inputs keep their order.  Ten rounds, acks accumulating.
# Then ten more rounds with --snapshot-bytes 4096 --snapshot-percent 1
# (a snapshot after 1 % of the last one's size), so that a snapshot
# (compaction) runs nearly all the time: each waits until a snapshot's temp
# file exists (a state, not a guessed time) and kills the process then, in
# the middle of writing it; the same checks follow, and no temp file may
# survive the restart.
# Bounded (each request 10 s, each round's load 1.5 s, waiting for a
# compaction 10 s, whole test < 3 min);
# the trap kills what it started by PID and removes the directory.  Skips
# (77) without cgi-fcgi or jq.  The last line is the Synthesis line.

set -u

# shellcheck source=fcgi-lib.sh
. "$(dirname "$0")/fcgi-lib.sh"
ROUNDS=${CRASH_ROUNDS:-10}
COMPACT_ROUNDS=${CRASH_COMPACT_ROUNDS:-10}
CLIENTS=${CRASH_CLIENTS:-8}

fcgi_tmpdir crash
sock="$dir/rt.sock"
store="$dir/store"

started=$(date +%s)

finish() {
	if [ "$failing" -ne 0 ]; then
		echo "--- server log (tail)"
		tail -n 20 "$dir/log" 2>/dev/null
	fi
	synthesis
	[ "$failing" -eq 0 ] && [ "$tested" -gt 0 ]
	exit $?
}

# request TAG METHOD URI [BODY]: one request; the response goes to
# $dir/resp.TAG, the status line number to $status.  TAG keeps concurrent
# clients apart.
request() {
	tag=$1
	method=$2
	uri=$3
	if [ $# -ge 4 ]; then
		printf '%s' "$4" >"$dir/req.$tag"
		set -- CONTENT_TYPE=application/json \
			CONTENT_LENGTH="$(wc -c <"$dir/req.$tag" | tr -d ' ')"
	else
		: >"$dir/req.$tag"
		set --
	fi
	timeout 10 env -i REQUEST_METHOD="$method" REQUEST_URI="$uri" \
		SCRIPT_NAME="${uri%%\?*}" QUERY_STRING="${uri#*\?}" "$@" \
		"$cgi_fcgi" -bind -connect "$sock" <"$dir/req.$tag" \
		>"$dir/resp.$tag" 2>/dev/null
	status=$(tr -d '\r' <"$dir/resp.$tag" | sed -n 's/^Status: \([0-9]*\).*/\1/p' | head -n 1)
	tr -d '\r' <"$dir/resp.$tag" | sed '1,/^$/d' >"$dir/body.$tag"
}

# start_server [FLAG...]: starts the server on the store and waits until it
# answers.
start_server() {
	"$bin" --socket "unix:$sock" --store "fs:$store" --runtime-id crash-rt \
		--threads 8 "$@" 2>>"$dir/log" &
	pid=$!
	i=0
	while [ "$i" -lt 100 ] && kill -0 "$pid" 2>/dev/null; do
		request probe GET /v1/runtime
		[ "$status" = 200 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# client N ROUND: posts inputs until $dir/stop exists (at most 5000, 10 s),
# appending "sequence content" of every 2xx to $dir/acks.  Contents end in
# $pad.
pad=""
client() {
	c=$1
	r=$2
	n=0
	t0=$(date +%s)
	while [ ! -e "$dir/stop" ] && [ $n -lt 5000 ] &&
	      [ $(($(date +%s) - t0)) -lt 10 ]; do
		n=$((n + 1))
		content="r${r}c${c}n${n}${pad}"
		request "c$c" POST "/v1/workers/$worker/input" \
			"{\"kind\":\"user\",\"content\":\"$content\"}"
		case $status in
		2??)
			seq=$(jq -r '.ack.transcript_sequence' <"$dir/body.c$c")
			echo "$seq $content" >>"$dir/acks.$c"
			;;
		esac
	done
}

# read_transcript: every entry as "sequence content" into $dir/transcript.
read_transcript() {
	: >"$dir/transcript"
	start=0
	pages=0
	while [ "$pages" -lt 1000 ]; do
		request read GET "/v1/workers/$worker/transcript?start=$start&limit=256"
		[ "$status" = 200 ] || return 1
		jq -r '.transcript.items[] | "\(.sequence) \(.content)"' \
			<"$dir/body.read" >>"$dir/transcript" || return 1
		start=$(jq -r '.transcript.next_start' <"$dir/body.read")
		[ "$start" = null ] && return 0
		pages=$((pages + 1))
	done
	return 1
}

# ---- checks ------------------------------------------------------------

dense() {
	awk '$1 != NR { bad = 1 } END { exit bad }' "$dir/transcript"
}

unique() {
	[ -z "$(cut -d' ' -f2- "$dir/transcript" | sort | uniq -d)" ]
}

# Every ack line ("sequence content") is a transcript line.
acked_present() {
	cat "$dir"/acks.* 2>/dev/null | sort >"$dir/sorted-acks"
	sort "$dir/transcript" >"$dir/transcript.sorted"
	missing=$(comm -23 "$dir/sorted-acks" "$dir/transcript.sorted" | head -n 5)
	[ -z "$missing" ] || { echo "  missing: $missing"; return 1; }
}

# Each client's inputs appear in (round, n) order.
client_order() {
	awk '{
		if (match($2, /^r[0-9]+c[0-9]+n[0-9]+(-x+)?$/) == 0) next
		split(substr($2, 2), a, /[cn-]/)
		k = a[2]; v = a[1] * 1000000 + a[3]
		if ((k in last) && v <= last[k]) bad = 1
		last[k] = v
	} END { exit bad }' "$dir/transcript"
}

# wait_compaction: waits (at most 10 s) until a snapshot is being written,
# i.e. a snapshot-*.tmp file exists in the store.
wait_compaction() {
	t0=$(date +%s)
	while [ $(($(date +%s) - t0)) -lt 10 ]; do
		for f in "$store"/snapshot-*.tmp; do
			[ -e "$f" ] && return 0
		done
	done
	return 1
}

# ballast: a second worker gets 16 inputs of 512 KiB, so that writing a
# snapshot takes long enough to be caught in progress.
ballast() {
	request ballast POST /v1/workers \
		'{"intent":{"kind":"task","objective":"ballast"}}'
	[ "$status" = 201 ] || return 1
	bw=$(jq -r '.worker.worker_id' <"$dir/body.ballast")
	fill=$(head -c 524288 /dev/zero | tr '\0' x)
	i=0
	while [ $i -lt 16 ]; do
		request ballast POST "/v1/workers/$bw/input" \
			"{\"kind\":\"user\",\"content\":\"$fill\"}"
		case $status in 2??) ;; *) return 1 ;; esac
		i=$((i + 1))
	done
}

no_temp_file() {
	for f in "$store"/snapshot-*.tmp; do
		[ -e "$f" ] && return 1
	done
	return 0
}

# start_clients ROUND / stop_clients: the load of one round.
start_clients() {
	rm -f "$dir/stop"
	clients=""
	c=1
	while [ $c -le "$CLIENTS" ]; do
		client $c "$1" &
		clients="$clients $!"
		c=$((c + 1))
	done
}

stop_clients() {
	: >"$dir/stop"
	for c in $clients; do
		wait "$c"
	done
	clients=""
}

kill_server() {
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	pid=""
}

# verify LABEL: the restarted server holds exactly what was acknowledged.
verify() {
	acks=$(cat "$dir"/acks.* 2>/dev/null | wc -l)
	check "$1: the transcript reads back" read_transcript
	entries=$(wc -l <"$dir/transcript")
	echo "  $1: $acks acknowledged so far, $entries entries"
	check "$1: sequences are dense 1..N" dense
	check "$1: every input is there at most once" unique
	check "$1: every acknowledged input is there at its sequence" \
		acked_present
	check "$1: each client's inputs keep their order" client_order
}

# ---- the rounds ----------------------------------------------------------

check "the server starts on an empty fs store" start_server
[ "$failing" -eq 0 ] || finish
request setup POST /v1/workers '{"intent":{"kind":"task","objective":"crash"}}'
worker=$(jq -r '.worker.worker_id' <"$dir/body.setup" 2>/dev/null)
check "a worker is created" test "$status" = 201
[ "$failing" -eq 0 ] || finish

r=1
while [ $r -le "$ROUNDS" ]; do
	start_clients $r
	delay=$(awk -v s="$$$r$(date +%N)" \
		'BEGIN { srand(s % 1000003); printf "%.2f", 0.2 + rand() * 1.3 }')
	sleep "$delay"
	kill_server
	stop_clients
	check "round $r: restarts after SIGKILL at ${delay}s" start_server
	[ -n "$pid" ] || finish
	verify "round $r"
	if [ $(($(date +%s) - started)) -gt 100 ]; then
		echo "  time budget used up after round $r"
		break
	fi
	r=$((r + 1))
done

# ---- SIGKILL during compaction -------------------------------------------

kill_server
check "compaction: restarts with --snapshot-bytes 4096 --snapshot-percent 1" \
	start_server --snapshot-bytes 4096 --snapshot-percent 1
[ -n "$pid" ] || finish
check "compaction: 8 MiB of ballast is stored" ballast
# Every input of these rounds is 4 KiB: each commit may start a snapshot.
pad=-$(head -c 4096 /dev/zero | tr '\0' x)
k=1
while [ $k -le "$COMPACT_ROUNDS" ]; do
	start_clients $((ROUNDS + k))
	check "compaction round $k: a snapshot is being written" wait_compaction
	kill_server
	stop_clients
	check "compaction round $k: restarts after SIGKILL mid-snapshot" \
		start_server --snapshot-bytes 4096 --snapshot-percent 1
	[ -n "$pid" ] || finish
	check "compaction round $k: no snapshot temp file survives" no_temp_file
	verify "compaction round $k"
	k=$((k + 1))
done

check "inputs were acknowledged at all" test "$(cat "$dir"/acks.* 2>/dev/null | wc -l)" -gt 0
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
wait "$pid" 2>/dev/null
rc=$?
pid=""
check "SIGTERM after the crashes: exits 0" test "$rc" = 0
finish
