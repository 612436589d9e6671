#!/bin/sh
# The library example in README.md must be docs/example.c verbatim (which
# `make check` compiles and runs), so the README never shows code that
# does not build.
set -eu
readme="$top_srcdir/README.md"
example="$top_srcdir/docs/example.c"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
sed -n '/^<!-- example:begin -->$/,/^<!-- example:end -->$/p' "$readme" |
	sed '1,2d;$d' | sed '$d' >"$tmp"
if ! cmp -s "$tmp" "$example"; then
	echo "README.md example differs from docs/example.c:" >&2
	diff -u "$example" "$tmp" >&2 || true
	exit 1
fi
echo "README example matches docs/example.c"
