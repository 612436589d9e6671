#!/bin/sh
# man-lint.sh - the man pages must pass `mandoc -Tlint -Wwarning` (exit 0).
# Run by `make check` only when configure found mandoc; skips (77) without it.

set -u

top_srcdir=${top_srcdir:-.}
mandoc=$(command -v mandoc) || {
	echo "SKIP: mandoc not found (Debian: apt-get install mandoc)"
	exit 77
}

tested=0
failing=0
for page in "$top_srcdir"/docs/*.[1-9]; do
	[ -e "$page" ] || continue
	tested=$((tested + 1))
	if "$mandoc" -Tlint -Wwarning "$page"; then
		echo "PASS: $page"
	else
		echo "FAIL: $page"
		failing=$((failing + 1))
	fi
done
if [ "$tested" -eq 0 ]; then
	echo "FAIL: no man page found under $top_srcdir/docs"
	tested=1
	failing=1
fi
echo "$((tested - failing)) passed, $failing failed"
[ "$failing" -eq 0 ]
