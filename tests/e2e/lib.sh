# shellcheck shell=bash
# tests/e2e/lib.sh - shared by the end-to-end tests (sourced, bash).
#
# The tests run the real worker-runtime behind the real nginx, configured by
# deploy/nginx.conf through deploy/local-stack.sh, in a private temporary
# directory, on a random loopback port.  Every process is stopped by PID and
# the directory removed on exit.  Each check prints one "ok"/"not ok" line;
# e2e_finish prints the synthesis line and sets the exit status.  A test
# that talks FastCGI straight to the binary, without nginx, uses
# e2e_direct_init, e2e_direct_start and e2e_fcgi (below) instead.
#
# Exit status (automake): 0 pass, 1 a check failed, 77 skipped (a tool is
# missing), 99 the test itself could not run.

E2E_TESTED=0
E2E_PASS=0
E2E_FAIL=0
E2E_CRASH=0
E2E_TMP=
E2E_NAME=$(basename "$0" .sh)

e2e_say() { echo "$E2E_NAME: $*" >&2; }

# e2e_need CMD...: skips the test (77) when a command is missing.
e2e_need() {
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$c" ]; then
			e2e_say "SKIP: $c not found"
			exit 77
		fi
	done
}

# e2e_init [--no-stack]: locates the tree and the binary, makes the
# temporary directory and installs the cleanup trap; without --no-stack also
# prepares the stack directory (certificate, token) in $E2E_TMP/s.
e2e_init() {
	local here
	here=$(cd "$(dirname "$0")" && pwd)
	top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
	top_builddir=${top_builddir:-$top_srcdir}
	WR_BIN=${WORKER_RUNTIME:-$top_builddir/fcgi/worker-runtime}
	if ! [ -x "$WR_BIN" ]; then
		e2e_say "ERROR: $WR_BIN not built (configure --enable-http-server)"
		exit 99
	fi
	WR_NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
	# shellcheck source=../../deploy/local-stack.sh
	. "$top_srcdir/deploy/local-stack.sh"
	# Short, so the socket path fits in sun_path.
	E2E_TMP=$(mktemp -d /tmp/wr-e2e.XXXXXX) || exit 99
	trap e2e_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	[ "${1:-}" = --no-stack ] && return 0
	wr_stack_init "$E2E_TMP/s" || exit 99
	wr_stack_tls || exit 99
	wr_stack_token || exit 99
}

e2e_cleanup() {
	local rc=$?
	# A test's own processes (E2E_PIDS) first, by PID.
	local p
	for p in ${E2E_PIDS:-}; do
		wr_stack_stop_pid "$p" "test process"
	done
	if [ -n "${WR_DIR:-}" ]; then
		wr_stack_stop
		if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
			e2e_say "logs of the failed run:"
			tail -n 15 "$WR_DIR"/*.log 2>/dev/null | cut -c1-300 >&2
		fi
	fi
	[ -n "$E2E_TMP" ] && rm -rf "$E2E_TMP"
	exit "$rc"
}

# e2e_start_stack [worker-runtime args...]: starts the Runtime and nginx on
# a free random port (tries 8 ports).
e2e_start_stack() {
	local _ rc port
	wr_stack_start_runtime "$WR_BIN" "$@" || exit 99
	for _ in 1 2 3 4 5 6 7 8; do
		port=$(( 20000 + (RANDOM % 30000) ))
		wr_stack_render_nginx "$top_srcdir" "$port" "${E2E_NGINX_EXTRA:-}" ||
			exit 99
		rc=0
		wr_stack_start_nginx || rc=$?
		[ "$rc" = 0 ] && return 0
		[ "$rc" = 98 ] || exit 99
	done
	e2e_say "ERROR: no free port found"
	exit 99
}

# e2e_curl METHOD PATH [curl args...]: one request over TLS, verified
# against the test CA.  Sets CODE; the body is in $E2E_TMP/body, the
# headers in $E2E_TMP/headers (also appended to $E2E_TMP/all-headers).
# Every response is also recorded for e2e_openapi_check (e2e_record).
e2e_curl() {
	local method=$1 path=$2
	shift 2
	CODE=$(curl -sS --max-time 20 --cacert "$WR_DIR/tls/cert.pem" \
		-X "$method" -o "$E2E_TMP/body" -D "$E2E_TMP/headers" \
		-w '%{http_code}' "$@" "$WR_BASE_URL$path") || CODE=000
	cat "$E2E_TMP/headers" >> "$E2E_TMP/all-headers" 2>/dev/null
	e2e_record "$method" "$path"
	return 0
}

# e2e_record METHOD PATH: files the response just received by e2e_curl
# (CODE, $E2E_TMP/headers and body) under $E2E_TMP/openapi/ for
# tests/e2e/openapi-validate.py: a line "N METHOD CODE PATH" in index,
# N.headers and N.body (N is PID.COUNT).  A test that sends a request
# with its own curl may call it too.
E2E_RECORDED=0
e2e_record() {
	local dir="$E2E_TMP/openapi" n
	mkdir -p "$dir" || return 0
	E2E_RECORDED=$((E2E_RECORDED + 1))
	# Unique also when called from background subshells.
	n=$BASHPID.$E2E_RECORDED
	cp "$E2E_TMP/headers" "$dir/$n.headers" 2>/dev/null
	cp "$E2E_TMP/body" "$dir/$n.body" 2>/dev/null
	printf '%s\t%s\t%s\t%s\n' "$n" "$1" "$CODE" "$2" >> "$dir/index"
}

# e2e_openapi_check [DOC]: validates every recorded response against DOC
# (default docs/openapi.yaml); E2E_OPENAPI_ARGS are passed first (e.g.
# --strip-prefix).  Prints the drift; false on any.
e2e_openapi_check() {
	local doc=${1:-$top_srcdir/docs/openapi.yaml}
	[ -s "$E2E_TMP/openapi/index" ] || return 0
	# shellcheck disable=SC2086 # E2E_OPENAPI_ARGS is a list of words
	python3 "$top_srcdir/tests/e2e/openapi-validate.py" \
		${E2E_OPENAPI_ARGS:-} "$doc" "$E2E_TMP/openapi"
}

# e2e_api METHOD PATH [curl args...]: e2e_curl with the token and, unless
# CT is set otherwise, "Content-Type: application/json".
e2e_api() {
	local method=$1 path=$2
	shift 2
	e2e_curl "$method" "$path" -H "Authorization: Bearer $WR_TOKEN" \
		-H "Content-Type: ${CT:-application/json}" "$@"
}

# check NAME COMMAND...: runs COMMAND; counts and reports the result.
check() {
	local name=$1
	shift
	E2E_TESTED=$((E2E_TESTED + 1))
	if "$@" >/dev/null 2>&1; then
		E2E_PASS=$((E2E_PASS + 1))
		echo "ok $E2E_TESTED - $name"
	else
		E2E_FAIL=$((E2E_FAIL + 1))
		echo "not ok $E2E_TESTED - $name"
		echo "#   status $CODE, body: $(head -c 600 "$E2E_TMP/body" 2>/dev/null)"
	fi
}

# Predicates for check.
# until_true TENTHS CMD...: runs CMD every 0.1 s until it succeeds, at
# most TENTHS tries; 1 if it never did.  A poll for a state, never a
# guessed duration: the bound only stops a broken run.
until_true() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

status_is() { [ "$CODE" = "$1" ]; }
json() { jq -e "$@" "$E2E_TMP/body"; }
header() { grep -qiE "^$1:[[:space:]]*$2" "$E2E_TMP/headers"; }
# A typed error: status, code and (optionally) reason, nothing else.
error_is() {
	[ "$CODE" = "$1" ] &&
	jq -e --arg c "$2" --arg r "${3:-}" \
		'(.error | type == "object") and (keys == ["error"]) and
		 .error.code == $c and (.error.message | type == "string") and
		 ($r == "" or .error.reason == $r)' "$E2E_TMP/body" &&
	grep -qiE '^content-type:[[:space:]]*application/json' "$E2E_TMP/headers"
}

# e2e_finish: checks every response the test received through nginx
# against docs/openapi.yaml (one more check), then the synthesis line;
# exit 1 on any failure or crash.
e2e_finish() {
	if [ -s "$E2E_TMP/openapi/index" ]; then
		E2E_TESTED=$((E2E_TESTED + 1))
		if e2e_openapi_check > "$E2E_TMP/openapi.out" 2>&1; then
			E2E_PASS=$((E2E_PASS + 1))
			echo "ok $E2E_TESTED - every response matches docs/openapi.yaml" \
				"($(tail -n 1 "$E2E_TMP/openapi.out"))"
		else
			E2E_FAIL=$((E2E_FAIL + 1))
			echo "not ok $E2E_TESTED - every response matches docs/openapi.yaml"
			head -n 40 "$E2E_TMP/openapi.out" | sed 's/^/#   /'
		fi
	fi
	echo "Synthesis: Tested: $E2E_TESTED | Passing: $E2E_PASS |" \
		"Failing: $E2E_FAIL | Crashing: $E2E_CRASH"
	if [ "$E2E_FAIL" != 0 ] || [ "$E2E_CRASH" != 0 ] ||
	   [ "$E2E_TESTED" = 0 ]; then
		exit 1
	fi
	exit 0
}

# ---- the real binary straight on a unix socket, without nginx ------------

# e2e_direct_init: e2e_init --no-stack for a test that talks FastCGI
# straight to the Runtime; sets T (= E2E_TMP), SOCK ($T/fcgi.sock), LOG
# ($T/runtime.log) and CODE (-).  Prints nothing; exits as e2e_init does.
e2e_direct_init() {
	e2e_init --no-stack
	CODE=-
	T=$E2E_TMP
	SOCK=$T/fcgi.sock
	LOG=$T/runtime.log
}

# e2e_direct_start [ARGS...]: starts the real binary on unix:$SOCK with
# ARGS, stderr to $LOG (emptied), through the words of E2E_WRAP when set
# (a command that execs it, e.g. "taskset -c 0"); waits (<= 10 s) for its
# socket and its started line (states); sets PID, adds it to E2E_PIDS.
# Prints nothing; exits 99, showing the log, if it does not come up.
e2e_direct_start() {
	rm -f "$SOCK"
	: >"$LOG"
	# shellcheck disable=SC2086 # E2E_WRAP is a list of words
	${E2E_WRAP:-} "$WR_BIN" --socket "unix:$SOCK" "$@" 2>"$LOG" &
	PID=$!
	E2E_PIDS="${E2E_PIDS:-} $PID"
	until_true 100 e2e_direct_up && return 0
	e2e_say "ERROR: no start; its log:"
	tail -n 15 "$LOG" >&2
	exit 99
}

# e2e_direct_up: true once $SOCK exists and $LOG has the started line.
e2e_direct_up() { [ -S "$SOCK" ] && grep -q ' started ' "$LOG"; }

# e2e_fcgi [-o FILE] METHOD URI [BODY]: one request to $SOCK through
# cgi-fcgi, bounded (60 s); with BODY also CONTENT_TYPE application/json
# and its CONTENT_LENGTH, and exactly BODY on stdin (cgi-fcgi sends all its
# stdin: a byte past CONTENT_LENGTH would look like a pipelined request).
# The answer (CGI headers, body) or cgi-fcgi's error goes to FILE ($T/out
# by default); prints nothing; returns cgi-fcgi's status (124: no answer).
e2e_fcgi() {
	local out=$E2E_TMP/out LC_ALL=C
	[ "$1" = -o ] && { out=$2; shift 2; }
	if [ $# -lt 3 ]; then
		timeout 60 env -i REQUEST_METHOD="$1" REQUEST_URI="$2" \
			"$(command -v cgi-fcgi)" -bind -connect "$SOCK" \
			</dev/null >"$out" 2>&1
	else
		printf '%s' "$3" | timeout 60 env -i REQUEST_METHOD="$1" \
			REQUEST_URI="$2" CONTENT_TYPE=application/json \
			CONTENT_LENGTH="${#3}" \
			"$(command -v cgi-fcgi)" -bind -connect "$SOCK" \
			>"$out" 2>&1
	fi
}

# e2e_fdatasync_shim: sets SHIM to the built LD_PRELOAD shim of
# tests/slow-fdatasync.c; exits 99 when it is not built.
e2e_fdatasync_shim() {
	SHIM=$top_builddir/tests/.libs/libslow-fdatasync.so
	[ -f "$SHIM" ] && return 0
	e2e_say "ERROR: $SHIM not built"
	exit 99
}

# e2e_status_of FILE: the Status of the cgi-fcgi answer in FILE.
e2e_status_of() { sed -n 's/^Status: \([0-9]*\).*/\1/p' "$1" | head -n 1; }
# e2e_body_of FILE: the body of the cgi-fcgi answer in FILE.
e2e_body_of() { tr -d '\r' <"$1" | sed '1,/^$/d'; }

# e2e_need_wchan: skips the test (77) without /proc/PID/wchan.
e2e_need_wchan() {
	[ -r /proc/self/wchan ] && return 0
	e2e_say "SKIP: no /proc/PID/wchan"
	exit 77
}

# Kernel functions a thread blocked in a socket read sleeps in (wchan).
# shellcheck disable=SC2034 # used by the tests that source this
E2E_WCHAN_READ='unix_stream|wait_woken|sk_wait|recv'

# e2e_threads_in NAME REGEX: prints how many threads of $PID named NAME
# (/proc/PID/task/TID/comm) sleep in a kernel function matching the ERE
# REGEX (wchan); 0 when none does or the process is gone.  Never fails.
e2e_threads_in() {
	local n=0 t
	for t in /proc/"$PID"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "$1" ] &&
			grep -Eq "$2" "$t/wchan" 2>/dev/null && n=$((n + 1))
	done
	echo "$n"
}

# e2e_until_log ERE: waits (<= 15 s) for a line of $LOG matching ERE (a
# state: the line is written after the answer).  Prints nothing; 1 if no
# line ever matched.
e2e_until_log() { until_true 150 grep -qE -- "$1" "$LOG"; }

# e2e_workers: sets SLOW, ECHO and TW to the built example programs
# src/workers/slow-worker and echo-worker and tests/workers/test-worker.
# Prints nothing; exits 99 naming the first one that is not built.
e2e_workers() {
	local p
	SLOW=$top_builddir/src/workers/slow-worker
	ECHO=$top_builddir/src/workers/echo-worker
	TW=$top_builddir/tests/workers/test-worker
	for p in "$SLOW" "$ECHO" "$TW"; do
		[ -x "$p" ] || { e2e_say "ERROR: $p not built"; exit 99; }
	done
}

# e2e_groupadd GROUP: (as root) makes a throwaway system group, deleted at
# exit after the users of e2e_useradd.  Prints nothing; false on failure.
E2E_GROUPS=
E2E_USERS=
e2e_groupadd() {
	groupadd --system "$1" || return 1
	E2E_GROUPS="$E2E_GROUPS $1"
	trap 'rc=$?; e2e_drop_accounts; (exit $rc); e2e_cleanup' EXIT
}

# e2e_useradd USER [useradd flags...]: (as root) makes a throwaway system
# user (no home, no login shell), deleted at exit.  Prints nothing; false
# on failure.
e2e_useradd() {
	local u=$1
	shift
	useradd --system -M -s /usr/sbin/nologin "$@" "$u" || return 1
	E2E_USERS="$E2E_USERS $u"
	trap 'rc=$?; e2e_drop_accounts; (exit $rc); e2e_cleanup' EXIT
}

# e2e_drop_accounts: deletes the users, then the groups, made above; a
# user is deleted once none of its processes is left (userdel refuses
# while one, even a zombie, is; <= 5 s each).
e2e_drop_accounts() {
	local a
	for a in $E2E_USERS; do
		until_true 50 userdel "$a" >/dev/null 2>&1
	done
	for a in $E2E_GROUPS; do
		groupdel "$a" >/dev/null 2>&1
	done
	return 0
}
