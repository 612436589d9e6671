#!/bin/sh
# tests/systemd-verify.sh - "systemd-analyze verify" accepts the units of
# deploy/systemd/ as "make install" writes them: worker-runtime.service
# and .socket, and the templates worker-runtime@.service and @.socket as
# instance rt-a.  Their ExecStart names the binary of this build (verify
# checks that it is executable).  Any message counts as a failure (verify
# prints and ignores a bad setting).  Skips (77) without systemd-analyze.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-$top_srcdir}
command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: no systemd-analyze"; exit 77; }
bindir=$(cd "$top_builddir/fcgi" && pwd) || exit 99
[ -x "$bindir/worker-runtime" ] || { echo "ERROR: fcgi/worker-runtime not built"; exit 99; }
tmp=$(mktemp -d /tmp/wr-systemd.XXXXXX) || exit 99
trap 'rm -rf "$tmp"' EXIT
u=$top_srcdir/deploy/systemd
sed "s|@sbindir@|$bindir|g" "$u/worker-runtime.service.in" >"$tmp/worker-runtime.service"
sed "s|@sbindir@|$bindir|g" "$u/worker-runtime@.service.in" >"$tmp/worker-runtime@.service"
cp "$u/worker-runtime.socket" "$u/worker-runtime@.socket" "$tmp/"
failing=0
for unit in worker-runtime.service worker-runtime.socket \
	worker-runtime@rt-a.service worker-runtime@rt-a.socket; do
	rc=0
	(cd "$tmp" && systemd-analyze verify --man=no "$tmp/$unit") \
		>"$tmp/out" 2>&1 || rc=$?
	if [ "$rc" = 0 ] && ! [ -s "$tmp/out" ]; then
		echo "PASS: systemd-analyze verify $unit"
	else
		echo "FAIL: systemd-analyze verify $unit (exit $rc):"
		sed 's/^/    /' "$tmp/out"
		failing=$((failing + 1))
	fi
done
# A reload reaches the Runtime only (a HUP to every process of the unit
# kills exec workers), and --log-file has a writable directory under
# ProtectSystem=strict.
for unit in worker-runtime.service worker-runtime@.service; do
	for line in 'ExecReload=/bin/kill -HUP $MAINPID' 'LogsDirectory=worker-runtime'; do
		if grep -qF "$line" "$tmp/$unit"; then
			echo "PASS: $unit has $line"
		else
			echo "FAIL: $unit lacks $line"
			failing=$((failing + 1))
		fi
	done
done
echo "Synthesis: Tested: 8 | Passing: $((8 - failing)) | Failing: $failing | Crashing: 0"
[ "$failing" = 0 ]
