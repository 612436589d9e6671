#!/usr/bin/env bash
# tests/e2e/quickstart.sh - deploy/quickstart works as the README says.
#
# Runs deploy/quickstart with the already-built binary (--binary: no apt,
# no build) in a temporary directory on a random loopback port, waits for
# the base_url line, runs the curl example it printed (echo-worker, from
# the profiles file it wrote, must answer), stops it with SIGTERM and
# checks that nginx and worker-runtime are gone.  Then checks a
# rerun on the same directory: a second instance is refused while the
# first runs, and a restart keeps the token.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl
e2e_init --no-stack
QS=$top_srcdir/deploy/quickstart
QDIR=$E2E_TMP/q
OUT=$E2E_TMP/out
CODE=-

# start_quickstart: starts it in the background on a random port and waits
# (<= 30 s) for the base_url line.  Sets QPID, PORT.  Retries on a taken port.
start_quickstart() {
	local try i
	for try in 1 2 3 4 5; do
		PORT=$(( 20000 + (RANDOM % 30000) ))
		: > "$OUT"
		# SIGINT as at a terminal: a background job of a non-interactive
		# shell starts with it ignored (and untrappable) without job
		# control, and so does everything under a make check that was
		# itself started in the background that way (set -m cannot undo
		# an inherited SIG_IGN; env --default-signal does).
		set -m
		env --default-signal=INT bash "$QS" --binary "$WR_BIN" \
			--dir "$QDIR" --port "$PORT" \
			</dev/null >"$OUT" 2>"$E2E_TMP/err" &
		QPID=$!
		set +m
		E2E_PIDS="$QPID ${E2E_PIDS:-}"
		for i in $(seq 300); do
			grep -q '^Press Ctrl-C' "$OUT" && return 0
			wr_stack_pid_alive "$QPID" || break
			sleep 0.1
		done
		wait "$QPID" 2>/dev/null
		grep -q 'is in use' "$E2E_TMP/err" && continue
		e2e_say "quickstart did not come up:"
		cat "$E2E_TMP/err" >&2
		return 1
	done
	return 1
}

# stop_quickstart SIGNAL: signals it and waits (<= 15 s); sets QRC.
stop_quickstart() {
	local i
	kill "-$1" "$QPID"
	for i in $(seq 150); do
		wr_stack_pid_alive "$QPID" || break
		sleep 0.1
	done
	QRC=timeout
	if ! wr_stack_pid_alive "$QPID"; then
		wait "$QPID"
		QRC=$?
	fi
	# What it said, should a stop fail.
	[ "$QRC" = 0 ] || { e2e_say "quickstart after SIG$1: $QRC"
		sed 's/^/#   /' "$E2E_TMP/err" >&2; }
}

gone() { ! wr_stack_pid_alive "$1"; }

start_quickstart || exit 1
check "prints base_url=https://127.0.0.1:PORT" \
	grep -qx "base_url=https://127.0.0.1:$PORT" "$OUT"
check "prints token_file=DIR/token" grep -qx "token_file=$QDIR/token" "$OUT"
check "prints ca_file=DIR/ca.pem" grep -qx "ca_file=$QDIR/ca.pem" "$OUT"
check "token file is mode 0600" \
	test "$(stat -c %a "$QDIR/token")" = 600
check "nginx token include is mode 0600" \
	test "$(stat -c %a "$QDIR/token.conf")" = 600
RT_PID=$(cat "$QDIR/worker-runtime.pid")
NG_PID=$(cat "$QDIR/nginx.pid")
E2E_PIDS="${E2E_PIDS:-} $RT_PID $NG_PID"
check "worker-runtime runs (pid file)" wr_stack_pid_alive "$RT_PID"
check "nginx runs (pid file)" wr_stack_pid_alive "$NG_PID"

sed -n '/^# --- example ---$/,/^# --- end ---$/p' "$OUT" > "$E2E_TMP/example.sh"
bash "$E2E_TMP/example.sh" > "$E2E_TMP/example.out" 2>&1
check "the printed example runs" test $? = 0
head -n 1 "$E2E_TMP/example.out" > "$E2E_TMP/body"
check "example: input is acknowledged as sequence 1" \
	json '.ack.transcript_sequence == 1 and .ack.status == "running"'
sed -n 2p "$E2E_TMP/example.out" > "$E2E_TMP/body"
check "example: transcript holds the input" \
	json '.transcript.items[0].role == "user" and .transcript.items[0].content == "hello"'
check "example: then echo-worker's answer (role worker)" \
	json '.transcript.total_items == 2 and .transcript.items[1].role == "worker"
	 and .transcript.items[1].content == "hello"'
check "quickstart wrote DIR/profiles.json with echo and slow" \
	jq -e '.default == "echo" and (.profiles | keys) == ["echo", "slow"]' \
	"$QDIR/profiles.json"

bash "$QS" --binary "$WR_BIN" --dir "$QDIR" --port "$PORT" \
	</dev/null >/dev/null 2>"$E2E_TMP/err2"
check "a second quickstart on the same dir is refused" test $? = 1
check "... saying what runs" grep -q 'already running' "$E2E_TMP/err2"
check "... and the first one is untouched" wr_stack_pid_alive "$RT_PID"

stop_quickstart TERM
check "SIGTERM: quickstart exits 0" test "$QRC" = 0
check "SIGTERM: worker-runtime is gone" gone "$RT_PID"
check "SIGTERM: nginx is gone" gone "$NG_PID"
check "SIGTERM: pid files and socket removed" \
	test ! -e "$QDIR/nginx.pid" -a ! -e "$QDIR/worker-runtime.pid" \
	-a ! -e "$QDIR/fcgi.sock"

TOKEN_BEFORE=$(cat "$QDIR/token")
start_quickstart || exit 1
check "rerun on the same dir comes up" grep -qx "base_url=https://127.0.0.1:$PORT" "$OUT"
check "rerun keeps the token" test "$(cat "$QDIR/token")" = "$TOKEN_BEFORE"
RT_PID=$(cat "$QDIR/worker-runtime.pid")
NG_PID=$(cat "$QDIR/nginx.pid")
E2E_PIDS="${E2E_PIDS:-} $RT_PID $NG_PID"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
	--cacert "$QDIR/ca.pem" -H "Authorization: Bearer $TOKEN_BEFORE" \
	"https://127.0.0.1:$PORT/v1/runtime")
check "rerun serves the API with the same token" test "$code" = 200
stop_quickstart INT
check "SIGINT: quickstart exits 0" test "$QRC" = 0
check "SIGINT: both processes are gone" eval "gone $RT_PID && gone $NG_PID"

e2e_finish
