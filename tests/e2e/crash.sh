#!/bin/sh
# crash.sh - kill -9 under load loses nothing that was acknowledged.
#
# Runs the built worker-runtime with --store fs:DIR on a unix socket in a
# temporary directory.  Several clients post inputs with unique contents to
# one worker through cgi-fcgi (Debian package libfcgi-bin) and record every
# 2xx ack (transcript_sequence + content).  At a random moment (0.2-1.5 s)
# the process gets SIGKILL; it is restarted on the same store and the whole
# transcript is read back (paged, through fcgi-raw.py: see read_transcript).
# Every acknowledged input must be there exactly once, at its acknowledged
# sequence; sequences are dense 1..N; each client's inputs keep their
# order.  Ten rounds, acks accumulating.
# Then ten more rounds with --snapshot-bytes 4096 --snapshot-percent 1
# (a snapshot after 1 % of the last one's size), so that a snapshot
# (compaction) runs nearly all the time: each waits until a snapshot's temp
# file exists (a state, not a guessed time) and kills the process then, in
# the middle of writing it; the same checks follow, and no temp file may
# survive the restart.
# Bounded (each request, a start, the wait for a compaction and a
# client's posting $BOUND = 60 s each; no new round after 100 s): the
# bounds catch hangs and never decide a pass under load, where 10 s did
# not do (two copies of this test and two busy loops on two CPUs: a page
# that had arrived whole still ended at a 10 s bound, and once no snapshot
# was seen within 10 s).  A
# request that ends at its bound or fails says so (which request, the
# client's exit status, Status, bytes against Content-Length, the server's
# line for it) in the check that used it.
# On a failure the server log's warn and error lines and its last 60 lines
# are printed.  The trap kills what it started by PID and removes the
# directory.  Skips (77) without cgi-fcgi, jq or python3.  The last line is
# the Synthesis line.

set -u

# shellcheck source=fcgi-lib.sh
. "$(dirname "$0")/fcgi-lib.sh"
ROUNDS=${CRASH_ROUNDS:-10}
COMPACT_ROUNDS=${CRASH_COMPACT_ROUNDS:-10}
CLIENTS=${CRASH_CLIENTS:-8}
BOUND=60

command -v python3 >/dev/null 2>&1 || {
	echo "SKIP: python3 not found (the transcript is read through fcgi-raw.py)"
	exit 77
}
raw_client="$(dirname "$0")/fcgi-raw.py"

fcgi_tmpdir crash
sock="$dir/rt.sock"
store="$dir/store"

started=$(date +%s)

finish() {
	if [ "$failing" -ne 0 ]; then
		echo "--- server log: warn and error lines (at most 40)"
		bad=$(grep -E '^[^ ]+ (warn|error) ' "$dir/log" 2>/dev/null |
			head -n 40)
		echo "${bad:-(none)}"
		echo "--- server log: last 60 lines"
		tail -n 60 "$dir/log" 2>/dev/null
	fi
	synthesis
	[ "$failing" -eq 0 ] && [ "$tested" -gt 0 ]
	exit $?
}

# request TAG METHOD URI [BODY]: one request through cgi-fcgi, bounded by
# $BOUND s.  The answer goes to $dir/resp.TAG and its body to $dir/body.TAG,
# cgi-fcgi's stderr to $dir/err.TAG; sets $status (the Status code, empty
# without one) and $rc (the client's exit status, 124 if the bound ended
# it).  TAG keeps concurrent clients apart.  request_raw: the same through
# fcgi-raw.py.
request() {
	send cgi-fcgi "$@"
}

request_raw() {
	send fcgi-raw.py "$@"
}

# send CLIENT TAG METHOD URI [BODY]: request and request_raw; also sets
# $what (CLIENT, METHOD and URI) for answered.
send() {
	what="$1 $3 $4"
	via=$1
	tag=$2
	if [ $# -ge 5 ]; then
		printf '%s' "$5" >"$dir/req.$tag"
		set -- REQUEST_METHOD="$3" REQUEST_URI="$4" \
			SCRIPT_NAME="${4%%\?*}" QUERY_STRING="${4#*\?}" \
			CONTENT_TYPE=application/json \
			CONTENT_LENGTH="$(wc -c <"$dir/req.$tag" | tr -d ' ')"
	else
		: >"$dir/req.$tag"
		set -- REQUEST_METHOD="$3" REQUEST_URI="$4" \
			SCRIPT_NAME="${4%%\?*}" QUERY_STRING="${4#*\?}"
	fi
	if [ "$via" = cgi-fcgi ]; then
		timeout "$BOUND" env -i "$@" "$cgi_fcgi" -bind -connect "$sock" \
			<"$dir/req.$tag" >"$dir/resp.$tag" 2>"$dir/err.$tag"
	else
		FCGI_RAW_TIMEOUT=$BOUND timeout "$BOUND" \
			python3 "$raw_client" "$sock" "$@" \
			<"$dir/req.$tag" >"$dir/resp.$tag" 2>"$dir/err.$tag"
	fi
	rc=$?
	status=$(tr -d '\r' <"$dir/resp.$tag" | sed -n 's/^Status: \([0-9]*\).*/\1/p' | head -n 1)
	tr -d '\r' <"$dir/resp.$tag" | sed '1,/^$/d' >"$dir/body.$tag"
}

# answered TAG STATUS: true if the last request of TAG ended well (its
# client exited 0) with a Status that matches the pattern STATUS (200,
# 2??) and a body as long as its Content-Length.  Otherwise prints which
# request it was, the client's exit status, the Status, the body bytes
# against Content-Length, the client's stderr and the server's log lines
# of the request (by its X-Request-Id), and is false.
answered() {
	tag=$1
	resp="$dir/resp.$tag"
	clen=$(tr -d '\r' <"$resp" | sed -n '/^$/q; s/^Content-Length: //p')
	head=$(awk '{ n += length($0) + 1 } /^\r?$/ { exit } END { print n + 0 }' \
		"$resp")
	got=$(($(wc -c <"$resp") - head))
	[ "$got" -ge 0 ] || got=0
	ok=false
	# shellcheck disable=SC2254 # STATUS is a pattern
	case $status in $2) ok=true ;; esac
	if [ "$rc" -eq 0 ] && $ok && [ "$got" = "$clen" ]; then
		return 0
	fi
	why=""
	[ "$rc" -eq 124 ] && why=" (ended at its $BOUND s bound)"
	echo "  $what: exit status $rc$why, Status ${status:-none}" \
		"(wanted $2), $got body bytes, Content-Length ${clen:-none}"
	sed 's/^/  stderr: /' "$dir/err.$tag" | head -n 5
	rid=$(tr -d '\r' <"$resp" | sed -n '/^$/q; s/^X-Request-Id: //p')
	[ -z "$rid" ] || grep -F "$rid" "$dir/log" | sed 's/^/  server: /'
	return 1
}

# start_server [FLAG...]: starts the server on the store (fcgi_start, its
# stderr appended to $dir/log) and waits (at most $BOUND s, while it runs)
# until it answers.  After a
# SIGKILL the old socket file is still there, so fcgi_start returns at
# once; the probe is what waits for the new process.  On failure the last
# probe says why.
start_server() {
	fcgi_start "$sock" "$dir/log" --store "fs:$store" \
		--runtime-id crash-rt --threads 8 "$@"
	t0=$(date +%s)
	while [ $(($(date +%s) - t0)) -lt "$BOUND" ] &&
	      kill -0 "$pid" 2>/dev/null; do
		request probe GET /v1/runtime
		[ "$rc" -eq 0 ] && [ "$status" = 200 ] && return 0
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null || echo "  the server exited"
	answered probe 200
	return 1
}

# client N ROUND: posts inputs until $dir/stop exists (at most 5000,
# $BOUND s), appending "sequence content" of every 2xx that arrived whole
# (cgi-fcgi exited 0) to $dir/acks.N; a 2xx without a sequence goes to
# $dir/odd.N (acked_present reports it).  Requests cut by the SIGKILL are
# no acks.  Contents end in $pad.
pad=""
client() {
	c=$1
	r=$2
	n=0
	t0=$(date +%s)
	while [ ! -e "$dir/stop" ] && [ $n -lt 5000 ] &&
	      [ $(($(date +%s) - t0)) -lt "$BOUND" ]; do
		n=$((n + 1))
		content="r${r}c${c}n${n}${pad}"
		request "c$c" POST "/v1/workers/$worker/input" \
			"{\"kind\":\"user\",\"content\":\"$content\"}"
		[ "$rc" -eq 0 ] || continue
		case $status in
		2??)
			seq=$(jq -r '.ack.transcript_sequence' \
				<"$dir/body.c$c" 2>&1)
			case $seq in
			'' | *[!0-9]*)
				echo "$what: Status $status, sequence '$seq'" \
					>>"$dir/odd.$c"
				;;
			*) echo "$seq $content" >>"$dir/acks.$c" ;;
			esac
			;;
		esac
	done
}

# read_transcript: every entry as "sequence content" into $dir/transcript.
# The pages go through fcgi-raw.py, not cgi-fcgi: cgi-fcgi 2.4.2 (Debian
# 12's libfcgi-bin) mangles an answer one of whose record headers is split
# between two of its 8 KiB reads (AppServerReadHandler copies the second
# part to &header + headerLen, 8 bytes on per byte read, and keeps stale
# bytes in the header), which for full reads depends only on the answer's
# length.  A page of 155,483 bytes (CGI head 137: the empty FCGI_STDOUT
# that ends the answer starts 4 bytes before offset 19 * 8192) comes out
# every time as the page plus the 16 bytes of FCGI_END_REQUEST, exit 253,
# and jq says "Invalid numeric literal at EOF at line 1, column 155489",
# while the Runtime logs the answer as sent whole (bytes_sent=155620).
read_transcript() {
	: >"$dir/transcript"
	start=0
	pages=0
	while [ "$pages" -lt 1000 ]; do
		request_raw read GET \
			"/v1/workers/$worker/transcript?start=$start&limit=256"
		answered read 200 || return 1
		if ! jq -r '.transcript.items[] | "\(.sequence) \(.content)"' \
			<"$dir/body.read" >>"$dir/transcript" 2>"$dir/jq.err"; then
			echo "  $what: not a page: $(head -c 200 "$dir/jq.err")"
			return 1
		fi
		start=$(jq -r '.transcript.next_start' <"$dir/body.read")
		[ "$start" = null ] && return 0
		pages=$((pages + 1))
	done
	echo "  more than 1000 pages"
	return 1
}

# ---- checks ------------------------------------------------------------

dense() {
	awk '$1 != NR { bad = 1 } END { exit bad }' "$dir/transcript"
}

unique() {
	[ -z "$(cut -d' ' -f2- "$dir/transcript" | sort | uniq -d)" ]
}

# Every ack line ("sequence content") is a transcript line, and every 2xx
# carried a sequence.
acked_present() {
	if cat "$dir"/odd.* >"$dir/odd" 2>/dev/null && [ -s "$dir/odd" ]; then
		sed 's/^/  /' "$dir/odd" | head -n 5
		return 1
	fi
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

# wait_compaction: waits (at most $BOUND s) until a snapshot is being written,
# i.e. a snapshot-*.tmp file exists in the store.
wait_compaction() {
	t0=$(date +%s)
	while [ $(($(date +%s) - t0)) -lt "$BOUND" ]; do
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
	answered ballast 201 || return 1
	bw=$(jq -r '.worker.worker_id' <"$dir/body.ballast")
	fill=$(head -c 524288 /dev/zero | tr '\0' x)
	i=0
	while [ "$i" -lt 16 ]; do
		request ballast POST "/v1/workers/$bw/input" \
			"{\"kind\":\"user\",\"content\":\"$fill\"}"
		answered ballast '2??' || return 1
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
check "a worker is created" answered setup 201
worker=$(jq -r '.worker.worker_id' <"$dir/body.setup" 2>/dev/null)
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
