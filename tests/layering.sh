#!/bin/sh
# tests/layering.sh - the folder structure is the architecture (src/README.md).
#
# Checks, and fails naming the file and the rule:
#  1. src/ is the library: nothing in it mentions FastCGI; the shared
#     library links no libfcgi and exports only wr_ symbols.
#  2. every C file of src/ sits in a layer folder (base codec store core
#     driver) and includes only "config.h", "worker-runtime.h" and headers
#     of its own layer or a lower one, always named with their folder;
#  3. the include graph and, when the library is built, the call graph
#     between the files of src/ (from the objects' symbol tables: every
#     external symbol one object defines and another uses) go one way:
#     from a layer to itself or a lower one, with no cycle.
# Files of a layer are .c and .h only; src/workers/ holds example worker
# programs, which use no layer.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
layers="base codec store core driver"
fail=0
bad() { echo "layering: $*" >&2; fail=1; }

# ---- 1. no FastCGI in the library ----------------------------------------
if grep -rliE 'fcgi|fast[ -]?cgi' "$top_srcdir/src" --exclude=README.md >&2; then
	bad "src/ mentions FastCGI (files above)"
fi
so=$(ls "$top_builddir"/src/.libs/libworker-runtime.so.* 2>/dev/null | head -n 1)
if [ -n "$so" ]; then
	objdump -p "$so" | grep -qi 'NEEDED.*fcgi' && bad "libworker-runtime links libfcgi"
	nm -D "$so" | grep -q 'FCGX_' && bad "libworker-runtime has FCGX_ symbols"
	extra=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^wr_[a-z]' | grep -v '^$' || true)
	[ -z "$extra" ] || bad "libworker-runtime exports symbols outside wr_: $extra"
fi

# ---- 2. every file in a layer, includes downward only ---------------------
cd "$top_srcdir/src"
# src/workers/ holds example worker programs, not the library: they use
# only the system and json-c, never a layer.
for f in workers/*.c; do
	[ -e "$f" ] || continue
	grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<](base|codec|store|core|driver)/' "$f" &&
		bad "$f: an example worker program includes the library's internals"
done
for f in $(find . -type f ! -path './workers/*' | sed 's|^\./||' | sort); do
	case $f in
	worker-runtime.h | worker-runtime.pc.in | README.md) continue ;;
	*/*.c | */*.h) ;;
	*/*) bad "$f: only .c and .h files belong in a layer folder"; continue ;;
	*) bad "$f: not in a layer folder ($layers)"; continue ;;
	esac
	echo "$f"
done >"${TMPDIR:-/tmp}/layering.$$.files"
edges="${TMPDIR:-/tmp}/layering.$$.edges"
trap 'rm -f "${TMPDIR:-/tmp}/layering.$$".*' EXIT
: >"$edges"
rank() { # rank LAYER: 0.. or empty
	i=0
	for l in $layers; do
		[ "$l" = "$1" ] && { echo $i; return; }
		i=$((i + 1))
	done
}
while read -r f; do
	layer=${f%%/*}
	r=$(rank "$layer")
	if [ -z "$r" ]; then bad "$f: $layer/ is not a layer ($layers)"; continue; fi
	# Directives without comments; every #include names a header in
	# quotes or angle brackets (no macro), a layer's only in quotes.
	dirs=$(sed -e 's|/\*[^*]*\*/||g' "$f" | grep -E '^[[:space:]]*#[[:space:]]*include' || true)
	if printf '%s\n' "$dirs" | grep -vE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<][^">]+[">]' | grep -q .; then
		bad "$f: an #include that names no header (a macro?)"
	fi
	for inc in $(printf '%s\n' "$dirs" | sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/\1/p'); do
		case ${inc%%/*} in
		base | codec | store | core | driver) bad "$f includes <$inc>: a layer's header is included with quotes" ;;
		esac
	done
	for inc in $(printf '%s\n' "$dirs" | sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p'); do
		case $inc in
		config.h | worker-runtime.h) continue ;;
		*/../* | ../* | ./* | */./* | *//*) bad "$f includes \"$inc\": no . or .. in include paths"; continue ;;
		*/*/*) bad "$f includes \"$inc\": a layer has no subfolders"; continue ;;
		*/*) ;;
		*) bad "$f includes \"$inc\": name the layer folder"; continue ;;
		esac
		il=${inc%%/*}
		ir=$(rank "$il")
		if [ -z "$ir" ]; then bad "$f includes \"$inc\": not a layer"; continue; fi
		[ -f "$inc" ] || { bad "$f includes \"$inc\": no such file"; continue; }
		[ "$ir" -le "$r" ] || bad "$f ($layer) includes \"$inc\" of the higher layer $il"
		echo "$f $inc" >>"$edges"
	done
done <"${TMPDIR:-/tmp}/layering.$$.files"

# ---- 3. calls between the files, from the built objects --------------------
# Objects are src/LAYER/.libs/libworker_runtime_la-NAME.o (libtool).
objs=$(ls "$top_builddir"/src/*/.libs/*.o 2>/dev/null ||
	ls "$top_builddir"/src/*/*_la-*.o 2>/dev/null || true)
if [ -n "$objs" ]; then
	for o in $objs; do
		d=${o%/*}
		d=${d%/.libs}
		n=${o##*/}
		n=${n#*_la-}
		f="${d##*/}/${n%.o}.c"
		nm -P "$o" | awk -v f="$f" '$2 ~ /^[TDBRC]$/ {print "D", $1, f}
			$2 == "U" {print "U", $1, f}'
	done | awk -v layers="$layers" '
		BEGIN { n = split(layers, L, " "); for (i = 1; i <= n; i++) R[L[i]] = i }
		$1 == "D" { def[$2] = $3; next }
		{ use[++u] = $3 " " $2 }
		END {
			for (i = 1; i <= u; i++) {
				split(use[i], a, " ")
				if (!(a[2] in def)) continue
				d = def[a[2]]
				if (d == a[1]) continue
				split(a[1], x, "/"); split(d, y, "/")
				if (R[y[1]] > R[x[1]])
					printf "UP %s calls %s of %s\n", a[1], a[2], d
				print a[1], d
			}
		}' >"$edges.calls"
	grep '^UP ' "$edges.calls" | while read -r _ f _ s _ d; do
		echo "layering: $f calls $s of $d, a higher layer" >&2
		echo x
	done | grep -q x && fail=1
	grep -v '^UP ' "$edges.calls" >>"$edges" || true
else
	echo "layering: no objects under $top_builddir/src (not built): calls not checked"
fi

# ---- cycles in the file graph (includes + calls) --------------------------
cycle=$(sort -u "$edges" | awk '
	{ adj[$1] = adj[$1] " " $2; nodes[$1]; nodes[$2] }
	function visit(v,   k, m, i, w) {
		state[v] = 1; stack[++sp] = v
		m = split(adj[v], k, " ")
		for (i = 1; i <= m; i++) {
			w = k[i]
			if (state[w] == 1) {
				s = w
				for (j = sp; j >= 1 && stack[j] != w; j--) s = stack[j] " <- " s
				print w " <- " s
				found = 1
				return
			}
			if (state[w] == 0) { visit(w); if (found) return }
		}
		state[v] = 2; sp--
	}
	END { for (v in nodes) if (!found && state[v] == 0) visit(v) }')
[ -z "$cycle" ] || bad "dependency cycle: $cycle"

[ "$fail" -eq 0 ] || exit 1
echo "layering: src/ holds $(wc -l <"${TMPDIR:-/tmp}/layering.$$.files") files in layers ($layers), one way, no cycle, no FastCGI"
