#!/bin/sh
# Every reason of WR_REASON_TABLE (src/worker-runtime.h) has a row in
# docs/api.md's "All reasons" table, and that table names no reason the
# code does not have.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
h="$top_srcdir/src/worker-runtime.h"
doc="$top_srcdir/docs/api.md"
code=$(sed -n 's/^[[:space:]]*X(WR_REASON_[A-Z0-9_]*, "\([a-z0-9_]*\)",.*/\1/p' "$h" | grep -v '^$' | sort)
[ -n "$code" ] || { echo "no reasons found in $h" >&2; exit 1; }
docs=$(sed -n '/^## All reasons$/,/^## /p' "$doc" |
	sed -n 's/^| `\([a-z0-9_]*\)` | .*/\1/p' | sort)
missing=$(printf '%s\n' "$code" | comm -23 - "$(printf '%s\n' "$docs" >"${TMPDIR:-/tmp}/reasons.$$"; echo "${TMPDIR:-/tmp}/reasons.$$")")
extra=$(printf '%s\n' "$code" | comm -13 - "${TMPDIR:-/tmp}/reasons.$$")
rm -f "${TMPDIR:-/tmp}/reasons.$$"
[ -z "$missing" ] || { echo "reasons missing from docs/api.md \"All reasons\": $missing" >&2; exit 1; }
[ -z "$extra" ] || { echo "docs/api.md \"All reasons\" names reasons the code lacks: $extra" >&2; exit 1; }
echo "reasons: $(printf '%s\n' "$code" | wc -l) in the table, all documented"
