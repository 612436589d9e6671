#!/bin/sh
# tests/bench-check.sh - the benchmarks under tests/bench/ (run by hand)
# do not rot unnoticed: every script parses (bash -n) and every C helper
# compiles (-fsyntax-only; bare-fcgi.c only where libfcgi's header is).
# Run by make check of the http build.
set -u
srcdir=${top_srcdir:-${srcdir:-.}}
rc=0
for f in "$srcdir"/tests/bench/*.sh; do
	bash -n "$f" || { echo "bench-check: $f does not parse" >&2; rc=1; }
done
CC=${CC:-cc}
for f in "$srcdir"/tests/bench/*.c; do
	case $f in
	*/bare-fcgi.c) [ -n "${FCGI_CFLAGS+x}" ] || \
		echo '#include <fcgiapp.h>' | $CC -E - >/dev/null 2>&1 || continue ;;
	esac
	$CC -std=gnu11 -Wall -Werror -fsyntax-only -I"$srcdir/src" \
		${FCGI_CFLAGS:-} "$f" ||
		{ echo "bench-check: $f does not compile" >&2; rc=1; }
done
exit $rc
