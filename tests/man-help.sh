#!/bin/sh
# man-help.sh - worker-runtime --help and docs/worker-runtime.8 agree: every
# flag --help lists is in the man page's SYNOPSIS and has an entry under
# OPTIONS, and each numeric flag's entry states the range and the default
# --help prints ("1..256 (default: 4)" <-> "1 to 256; the default is 4").
# --help is made from the flag table in fcgi/options.c, so this pins the page
# to the code.

set -u

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-$top_srcdir}
bin=${WORKER_RUNTIME:-$top_builddir/fcgi/worker-runtime}
page=$top_srcdir/docs/worker-runtime.8
[ -x "$bin" ] || { echo "ERROR: $bin not built"; exit 99; }

tmp=$(mktemp -d /tmp/wr-man-help.XXXXXX) || exit 99
trap 'rm -rf "$tmp"' EXIT
# The page without roff escapes ("\-max\-body" -> "-max-body").
sed 's/\\//g' "$page" >"$tmp/page"
# One line per flag of --help: "--name ARG text..." (continuations joined).
"$bin" --help | awk '
	/^  -[a-z], --/ { sub(/-[a-z], /, "") }
	/^  --/ { if (cur != "") print cur; cur = $0; next }
	/^   / && cur != "" { cur = cur " " $0; next }
	{ if (cur != "") print cur; cur = "" }
	END { if (cur != "") print cur }' |
	sed 's/  */ /g; s/^ //' >"$tmp/help"

failing=0
tested=0
fail() {
	echo "FAIL: $*"
	failing=$((failing + 1))
}

# entry NAME: the text of ".It Fl -NAME ..." up to the next .It/.El, joined.
entry() {
	awk -v flag="-$1" '
		/^\.It / || /^\.El/ { on = 0 }
		$1 == ".It" && $2 == "Fl" && $3 == flag { on = 1 }
		on { printf "%s ", $0 }' "$tmp/page"
}

while read -r name rest; do
	name=${name#--}
	tested=$((tested + 1))
	case $name in
	help | version) continue ;;
	esac
	# ".Op Fl -name", ".Op Fl t | -check-config" or a synopsis line's
	# own ".Fl -health-check".
	grep -q "^\.\(Op \)\{0,1\}Fl \([a-z] | \)\{0,1\}-$name\( \|$\)" \
		"$tmp/page" ||
		fail "--$name is not in the SYNOPSIS of $page"
	text=$(entry "$name")
	if [ -z "$text" ]; then
		fail "--$name has no entry under OPTIONS in $page"
		continue
	fi
	range=$(printf '%s\n' "$rest" | grep -o '[0-9][0-9]*\.\.[0-9][0-9]*')
	if [ -n "$range" ]; then
		words="${range%%..*} to ${range##*..}"
		case $text in
		*"$words"*) ;;
		*) fail "--$name: --help says $range, the man page not \"$words\"" ;;
		esac
	fi
	def=$(printf '%s\n' "$rest" | sed -n 's/.*(default: \([0-9][0-9]*\)).*/\1/p')
	if [ -n "$def" ]; then
		case $text in
		*"default is $def"[!0-9]*) ;;
		*) fail "--$name: --help says default $def, the man page not" ;;
		esac
	fi
done <"$tmp/help"

if [ "$tested" -lt 10 ]; then
	fail "read only $tested flags from $bin --help"
fi
echo "$tested flags checked, $failing failed"
[ "$failing" -eq 0 ]
