#!/bin/sh
# tests/function-length.sh - no function of src/ or fcgi/ (nor the test
# worker) is over 100 lines, counted from the first line of its signature
# (return type included) to its closing brace.  Split a long function by
# responsibility, not by line count.
#
# Relies on the house style: a function's body opens with "{" and closes
# with "}" in column 0, and its signature directly precedes the "{".
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
max=${FUNCTION_LENGTH_MAX:-100}

cd "$top_srcdir"
files=$(find src fcgi tests/workers -name '*.c' | sort)
[ -n "$files" ] || { echo "function-length: no C files found" >&2; exit 99; }
# shellcheck disable=SC2086
awk -v max="$max" '
	FNR == 1 { sig = 1; start = 0 }
	start == 0 && /^\{/ {
		start = sig
		name = sigtext
		next
	}
	start > 0 && /^\}/ {
		n = FNR - start + 1
		if (n > max) {
			printf "function-length: %s:%d: %s is %d lines (at most %d)\n",
			       FILENAME, start, name, n, max
			bad = 1
		}
		start = 0
		sig = FNR + 1
		next
	}
	start == 0 {
		# A line that cannot belong to a signature: the next one starts it.
		if ($0 ~ /^[ \t]*$/ || $0 ~ /^#/ || $0 ~ /[;}]$/ || $0 ~ /\*\/$/) {
			sig = FNR + 1
			sigtext = ""
		} else if (sigtext == "" && match($0, /[A-Za-z_][A-Za-z0-9_]*\(/)) {
			sigtext = substr($0, RSTART, RLENGTH - 1)
		}
	}
	END { exit bad }' $files && echo "function-length: no function over $max lines"
