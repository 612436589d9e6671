#!/usr/bin/env bash
# tests/e2e/quickstart-intree.sh - deploy/quickstart after the README's
# library build, "./configure" in the source tree (no http server): it used
# to refuse ("configured in-tree"); now it builds there, adding
# --enable-http-server, and serves.
#
# Works on a copy of the distribution (make distdir), configured in place
# the way the README says, then runs quickstart --no-install on it on a
# random loopback port, waits (bounded) for it to come up, asks
# GET /v1/runtime with the token it made and stops it with SIGTERM.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl
e2e_init --no-stack
CODE=-
SRC=$E2E_TMP/src
QDIR=$E2E_TMP/q
OUT=$E2E_TMP/out
MAKE=${MAKE:-make}

env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $MAKE -C "$top_builddir" distdir \
	distdir="$SRC" >"$E2E_TMP/distdir.log" 2>&1 || {
	e2e_say "ERROR: make distdir failed"; tail -n 20 "$E2E_TMP/distdir.log" >&2
	exit 99; }
chmod -R u+w "$SRC"
# The README's "Use the library": ./configure in the source tree.
(cd "$SRC" && ./configure --quiet) >"$E2E_TMP/configure.log" 2>&1 || {
	e2e_say "ERROR: ./configure failed"; tail -n 20 "$E2E_TMP/configure.log" >&2
	exit 99; }

QPID=
for try in 1 2 3; do
	PORT=$(( 20000 + (RANDOM % 30000) ))
	: >"$OUT"
	set -m
	bash "$SRC/deploy/quickstart" --no-install --dir "$QDIR" --port "$PORT" \
		</dev/null >"$OUT" 2>"$E2E_TMP/err" &
	QPID=$!
	set +m
	E2E_PIDS="$QPID ${E2E_PIDS:-}"
	# The build comes first: up to 15 minutes on a slow, shared machine.
	for _ in $(seq 9000); do
		grep -q '^Press Ctrl-C' "$OUT" && break 2
		wr_stack_pid_alive "$QPID" || break
		sleep 0.1
	done
	wait "$QPID" 2>/dev/null
	grep -q 'is in use' "$E2E_TMP/err" && continue
	break
done
check "quickstart comes up after an in-tree ./configure" \
	grep -q '^Press Ctrl-C' "$OUT"
check "it built in the source tree" test -x "$SRC/fcgi/worker-runtime"
check "it says where the Runtime's log is" \
	grep -qx "runtime_log=$QDIR/worker-runtime.log" "$OUT"
if grep -q '^Press Ctrl-C' "$OUT"; then
	CODE=$(curl -s -o "$E2E_TMP/body" -w '%{http_code}' --max-time 10 \
		--cacert "$QDIR/ca.pem" -H "Authorization: Bearer $(cat "$QDIR/token")" \
		"https://127.0.0.1:$PORT/v1/runtime")
	check "GET /v1/runtime through its nginx: 200" test "$CODE" = 200
	kill -TERM "$QPID"
	for _ in $(seq 150); do
		wr_stack_pid_alive "$QPID" || break
		sleep 0.1
	done
	check "SIGTERM stops it" sh -c "! kill -0 $QPID 2>/dev/null"
else
	e2e_say "quickstart's stderr:"
	tail -n 30 "$E2E_TMP/err" >&2
	tail -n 30 "$QDIR/build.log" >&2 2>/dev/null
fi
e2e_finish
