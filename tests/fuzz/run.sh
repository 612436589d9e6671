#!/usr/bin/env bash
# tests/fuzz/run.sh - runs libFuzzer harnesses for a bounded time each.
#
#   tests/fuzz/run.sh BUILDDIR SECONDS [HARNESS...]
#
# BUILDDIR is a build configured with CC=clang --enable-fuzzing (see
# tests/fuzz/README); HARNESS names one of its tests/fuzz/fuzz-* programs
# (default: every one built).  Each harness starts from a copy of its seed
# corpus (tests/fuzz/corpus/NAME/) in BUILDDIR/tests/fuzz/work/NAME/ (the
# tree is never written to), runs one process for SECONDS seconds, and
# keeps its log, grown corpus and any crash input there.  Prints one line
# per harness "fuzz NAME: N executions, PASS|FAIL" and exits non-zero if
# any harness failed (a crash, a leak, a sanitizer report or a timeout).
set -u
[ $# -ge 2 ] || { echo "usage: $0 BUILDDIR SECONDS [HARNESS...]" >&2; exit 2; }
src=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd) || exit 2
secs=$2
shift 2
if [ $# -eq 0 ]; then
	set -- $(cd "$build/tests/fuzz" && ls fuzz-* 2>/dev/null |
		grep -v '\.' | sed 's/^fuzz-//')
fi
[ $# -gt 0 ] || { echo "run.sh: no harness in $build/tests/fuzz" >&2; exit 2; }
failed=0
for name in "$@"; do
	bin=$build/tests/fuzz/fuzz-$name
	work=$build/tests/fuzz/work/$name
	rm -rf "$work/corpus" && mkdir -p "$work/corpus" "$work/artifacts" ||
		exit 2
	if [ -d "$src/corpus/$name" ]; then
		cp "$src/corpus/$name"/* "$work/corpus/" || exit 2
	fi
	# One process; -timeout: an input taking 60 s is a hang (a failure; the
	# margin is for a loaded machine, where an input can stall for seconds).
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	"$bin" -max_total_time="$secs" -timeout=60 -rss_limit_mb=1024 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" \
		"$work/corpus" >"$work/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" |
		tail -n 1)
	if [ $rc -eq 0 ]; then
		echo "fuzz $name: ${execs:-0} executions, PASS"
	else
		echo "fuzz $name: ${execs:-?} executions, FAIL (exit $rc)"
		tail -n 40 "$work/log"
		ls "$work/artifacts"
		failed=1
	fi
done
exit $failed
