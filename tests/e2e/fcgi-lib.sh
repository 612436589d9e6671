# shellcheck shell=sh
# fcgi-lib.sh - shared by the POSIX sh end-to-end tests that talk straight
# to the FastCGI socket (fcgi-direct.sh, crash.sh).  Sourced, not run.
#
# On load: sets $bin (the built worker-runtime) and $cgi_fcgi, skips (77)
# without cgi-fcgi or jq, fails without the binary, and zeroes the
# counters that check() keeps and synthesis() prints.  cgi-fcgi 2.4.2
# mangles an answer when a record header of it is split between two of its
# 8 KiB reads, which some lengths over 8 KiB make happen every time (see
# read_transcript in crash.sh): read large answers through fcgi-raw.py.

top_builddir=${top_builddir:-.}
bin="$top_builddir/fcgi/worker-runtime"

# shellcheck disable=SC2034 # used by the scripts that source this
cgi_fcgi=$(command -v cgi-fcgi) || {
	echo "SKIP: cgi-fcgi not found (Debian: apt-get install libfcgi-bin)"
	exit 77
}
command -v jq >/dev/null 2>&1 || {
	echo "SKIP: jq not found"
	exit 77
}
if [ ! -x "$bin" ]; then
	echo "FAIL: $bin is not built"
	echo "Synthesis: Tested: 1 | Passing: 0 | Failing: 1 | Crashing: 0"
	exit 1
fi

tested=0
passing=0
failing=0

# check NAME COMMAND...: runs COMMAND, counts and reports the result.
check() {
	name=$1
	shift
	tested=$((tested + 1))
	if "$@"; then
		passing=$((passing + 1))
		echo "PASS: $name"
	else
		failing=$((failing + 1))
		echo "FAIL: $name"
	fi
}

# synthesis: the closing line CI adds up (tests/run-all).
synthesis() {
	echo "Synthesis: Tested: $tested | Passing: $passing | Failing: $failing | Crashing: 0"
}

# fcgi_tmpdir NAME: makes the temporary directory $dir
# ($TMPDIR/wr-NAME.XXXXXX), empties $pid and $clients and installs the
# traps that at exit kill the clients, then the server, by PID and remove
# $dir.  Prints nothing; exits 1 if the directory cannot be made.
fcgi_tmpdir() {
	dir=$(mktemp -d "${TMPDIR:-/tmp}/wr-$1.XXXXXX") || exit 1
	pid=""
	clients=""
	trap fcgi_cleanup EXIT
	trap 'exit 1' HUP INT TERM
}

# fcgi_cleanup: the EXIT trap of fcgi_tmpdir.
fcgi_cleanup() {
	for c in $clients; do
		kill -KILL "$c" 2>/dev/null
	done
	for c in $clients; do
		wait "$c" 2>/dev/null
	done
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}

# fcgi_start SOCKET LOG [FLAG...]: starts $bin on unix:SOCKET with FLAGs,
# stderr appended to LOG (a restart keeps the lines before it); sets $pid
# and waits (<= 10 s, while it runs) for its socket.  Prints nothing; false
# if the socket never appeared.
fcgi_start() {
	fcgi_sock=$1
	fcgi_log=$2
	shift 2
	"$bin" --socket "unix:$fcgi_sock" "$@" 2>>"$fcgi_log" &
	pid=$!
	i=0
	while [ ! -S "$fcgi_sock" ] && [ $i -lt 100 ] &&
	      kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -S "$fcgi_sock" ]
}
