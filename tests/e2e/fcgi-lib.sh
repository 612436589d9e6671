# shellcheck shell=sh
# fcgi-lib.sh - shared by the POSIX sh end-to-end tests that talk straight
# to the FastCGI socket (fcgi-direct.sh, crash.sh).  Sourced, not run.
#
# On load: sets $bin (the built worker-runtime) and $cgi_fcgi, skips (77)
# without cgi-fcgi or jq, fails without the binary, and zeroes the
# counters that check() keeps and synthesis() prints.

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
