#!/bin/sh
# tests/install.sh - what "make install" puts in place is usable as
# installed: the systemd unit and spawn-fcgi.sh run the binary from the
# sbindir of this install (not a hard-coded /usr/local/sbin), and the
# documents the man page refers to are in $(docdir); make uninstall
# removes the package's own directories.
#
# Stages "make install-data" (the data parts: no relinking of the build)
# with DESTDIR in a temporary directory and another prefix given at install
# time, as "make prefix=/opt/... install" does, then reads what it wrote.
set -u

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-$top_srcdir}
MAKE=${MAKE:-make}
tmp=$(mktemp -d /tmp/wr-install.XXXXXX) || exit 99
trap 'rm -rf "$tmp"' EXIT
prefix=/opt/wr-install-test
root=$tmp/root

tested=0
failing=0
check() {
	name=$1
	shift
	tested=$((tested + 1))
	if "$@" >/dev/null 2>&1; then
		echo "PASS: $name"
	else
		echo "FAIL: $name"
		failing=$((failing + 1))
	fi
}

# Not the outer make's jobserver: this is a make of its own.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $MAKE -C "$top_builddir" \
	install-data DESTDIR="$root" prefix="$prefix" >"$tmp/log" 2>&1; then
	echo "ERROR: make install-data failed:"
	tail -n 20 "$tmp/log"
	exit 99
fi
deploy=$root$prefix/share/worker-runtime/deploy
docdir=$root$prefix/share/doc/worker-runtime
unit=$deploy/worker-runtime.service
spawn=$deploy/spawn-fcgi.sh

check "the unit's ExecStart runs $prefix/sbin/worker-runtime" \
	grep -q "^ExecStart=$prefix/sbin/worker-runtime " "$unit"
check "the template unit's ExecStart runs $prefix/sbin/worker-runtime" \
	grep -q "^ExecStart=$prefix/sbin/worker-runtime --runtime-id %i " \
	"$deploy/worker-runtime@.service"
check "the template socket unit is installed" \
	test -f "$deploy/worker-runtime@.socket"
check "spawn-fcgi.sh runs $prefix/sbin/worker-runtime by default" \
	grep -q "^WR_BIN=\${WR_BIN:-$prefix/sbin/worker-runtime}\$" "$spawn"
check "spawn-fcgi.sh is installed executable and parses" \
	sh -c "test -x '$spawn' && sh -n '$spawn'"
check "no installed deploy file names /usr/local/sbin or @sbindir@" \
	sh -c "! grep -rl -e /usr/local/sbin -e '@sbindir@' '$deploy'"
check "the socket unit, sysusers file and nginx site are installed" \
	test -f "$deploy/worker-runtime.socket" -a \
	-f "$deploy/worker-runtime.sysusers" -a -f "$deploy/nginx.conf"
check "the logrotate rules for the units' access logs are installed" \
	grep -q '^/var/log/worker-runtime/access.log ' "$deploy/logrotate.conf"
check "the units write their access lines there" \
	sh -c "grep -q -- '--access-log /var/log/worker-runtime/access.log' '$unit' &&
	grep -q -- '--access-log /var/log/worker-runtime/%i/access.log' '$deploy/worker-runtime@.service'"

# Every NAME.md the man page names is installed in docdir.
page=$top_srcdir/docs/worker-runtime.8
names=$(sed 's/\\//g' "$page" | grep -o '[a-z-]*\.md' | sort -u)
check "the man page names documents" test -n "$names"
for n in $names; do
	check "$n (named by the man page) is in docdir" test -s "$docdir/$n"
done
for n in api.md deploy.md store.md worker-protocol.md README.md; do
	check "$n is in docdir" cmp "$docdir/$n" "$top_srcdir/$(
		[ "$n" = README.md ] && echo README.md || echo "docs/$n")"
done

# make uninstall takes the package's own directories with its files
# (the program directories install-data did not make must exist for it).
mkdir -p "$root$prefix/libexec/worker-runtime" "$root$prefix/sbin" \
	"$root$prefix/bin" "$root$prefix/lib" || exit 99
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $MAKE -C "$top_builddir" \
	uninstall DESTDIR="$root" prefix="$prefix" >"$tmp/log" 2>&1; then
	check "make uninstall leaves no share/worker-runtime" \
		test ! -e "$root$prefix/share/worker-runtime"
	check "make uninstall leaves no share/doc/worker-runtime" \
		test ! -e "$docdir"
else
	check "make uninstall succeeds" false
fi

echo "Synthesis: Tested: $tested | Passing: $((tested - failing)) |" \
	"Failing: $failing | Crashing: 0"
[ "$failing" = 0 ]
