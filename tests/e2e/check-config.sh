#!/usr/bin/env bash
# tests/e2e/check-config.sh - -t / --check-config foretells the start: for
# each setup, -t's exit status is compared with what a real start of the
# binary with the same flags does (serves and stops cleanly on SIGTERM: 0;
# refuses to start: 1).  Setups: a good one, a store directory the first
# start creates, a store with no parent directory, a store that belongs to
# another --runtime-id (same reason as the start), an unknown
# --socket-group, a missing directory for --socket and --pid-file, a
# socket path that is a regular file, a bad token file, a token file over
# its size bound (40 kB of one line: said as such), bad profiles (one
# names a program that does not exist), a
# log file in a missing directory, a store restored as root (as root: -t and
# the start as nobody), a --socket-group the user is not a member of (as
# nobody).  No nginx; state-based waits only.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need jq
e2e_init --no-stack

ECHO=$top_builddir/src/workers/echo-worker
T=$E2E_TMP
mkdir -p "$T/s" "$T/store"
printf 'tok\n' >"$T/token" && chmod 600 "$T/token"
printf 'two words\n' >"$T/badtok" && chmod 600 "$T/badtok"
head -c 40000 /dev/zero | tr '\0' x >"$T/hugetok" && chmod 600 "$T/hugetok"
jq -n --arg e "$ECHO" '{profiles: {one: {argv: [$e]}}}' >"$T/p.json"
jq -n --arg e "$ECHO" '{default: "two", profiles: {one: {argv: [$e]}}}' \
	>"$T/badp.json"
jq -n --arg t "$T/no-such-program" '{profiles: {one: {argv: [$t]}}}' \
	>"$T/missingp.json"
: >"$T/regular"
N=0
CODE=- # no HTTP here (check prints it on a failure)

# start_status ARGS...: starts the binary for real on its own socket;
# once it logged "started" (or exited) it gets SIGTERM.  Prints its exit
# status: 0 when it served and stopped cleanly, else why it did not start.
start_status() {
	local pid i rc
	"$WR_BIN" "$@" 2>"$T/start.$N.log" &
	pid=$!
	E2E_PIDS="$pid"
	for ((i = 0; i < 300; i++)); do
		grep -q ' started ' "$T/start.$N.log" && break
		wr_stack_pid_alive "$pid" || break
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	E2E_PIDS=
	echo "$rc"
}

# same_fate NAME WANT ARGS...: -t exits WANT and so does the start.
same_fate() {
	local name=$1 want=$2 trc src
	shift 2
	"$WR_BIN" -t "$@" 2>"$T/t.out"
	trc=$?
	cp "$T/t.out" "$T/t.$name.out"
	N=$((N + 1)) # start.N.log: the start's log
	src=$(start_status "$@")
	check "$name: -t exits $want" test "$trc" = "$want"
	check "$name: a real start agrees (exit $src)" test "$src" = "$want"
}
sock() { echo "--socket unix:$T/s/$1.sock"; }

# shellcheck disable=SC2046 # sock expands to two words on purpose
same_fate good 0 $(sock a) --store "fs:$T/store" --runtime-id rt-a \
	--profiles "$T/p.json" --local-token-file "$T/token" \
	--pid-file "$T/s/rt.pid" --log-file "$T/s/rt.log" --socket-group "$(id -g)"
check "-t printed one line per check" bash -c 'for w in flags --log-file --local-token-file --profiles --socket --pid-file --store; do grep -q "check: $w.*ok" "$1" || exit 1; done' _ "$T/t.good.out"

"$WR_BIN" -t $(sock b) --store "fs:$T/fresh" 2>"$T/t.out"
check "-t on a store directory that does not exist yet: 0" test $? = 0
check "... it says the first start creates it" grep -q "check: --store fs:$T/fresh: ok (does not exist yet; the first start creates it)" "$T/t.out"
check "... and -t created nothing" test ! -e "$T/fresh"
# shellcheck disable=SC2046
same_fate new-store 0 $(sock b) --store "fs:$T/fresh"
check "... the start created it" test -d "$T/fresh"

# shellcheck disable=SC2046
same_fate store-no-parent 1 $(sock c) --store "fs:$T/none/store"
# shellcheck disable=SC2046
same_fate other-runtime-id 1 $(sock d) --store "fs:$T/store" --runtime-id rt-b
check "-t names the start's reason: runtime_id_mismatch" grep -q 'check: --store .*belongs to runtime "rt-a", not "rt-b" (invalid_input/runtime_id_mismatch)' "$T/t.other-runtime-id.out"
check "... the start failed with the same reason" grep -q 'runtime_id_mismatch' "$T/start.$N.log"
# shellcheck disable=SC2046
same_fate same-runtime-id 0 $(sock d) --store "fs:$T/store" --runtime-id rt-a
# shellcheck disable=SC2046
same_fate unknown-socket-group 1 $(sock e) --socket-group no-such-group-wr
check "-t names --socket-group" grep -q 'check: --socket-group no-such-group-wr: failed' "$T/t.unknown-socket-group.out"
same_fate socket-no-dir 1 --socket "unix:$T/nodir/f.sock"
check "-t names the socket's directory" grep -q "check: --socket $T/nodir/f.sock: directory $T/nodir" "$T/t.socket-no-dir.out"
same_fate socket-is-a-file 1 --socket "unix:$T/regular"
# shellcheck disable=SC2046
same_fate pid-file-no-dir 1 $(sock f) --pid-file "$T/nodir/rt.pid"
check "-t names the pid file's directory" grep -q "check: --pid-file $T/nodir/rt.pid: directory $T/nodir" "$T/t.pid-file-no-dir.out"
# shellcheck disable=SC2046
same_fate log-file-no-dir 1 $(sock g) --log-file "$T/nodir/rt.log"
# shellcheck disable=SC2046
same_fate bad-token-file 1 $(sock h) --local-token-file "$T/badtok"
# shellcheck disable=SC2046
same_fate bad-default-profile 1 $(sock i) --profiles "$T/badp.json"
# shellcheck disable=SC2046
same_fate missing-program 1 $(sock k) --profiles "$T/missingp.json"
check "-t names the program it cannot execute" grep -qF "cannot execute the program $T/no-such-program: No such file or directory" "$T/t.missing-program.out"
# shellcheck disable=SC2046
same_fate huge-token-file 1 $(sock j) --local-token-file "$T/hugetok"
check "-t says the token file is too large" grep -qF "$T/hugetok: larger than 32784 bytes" "$T/t.huge-token-file.out"
check "-t leaves no socket or pid file behind" bash -c '! ls "$1"/s/*.sock "$1"/s/rt.pid 2>/dev/null | grep -q .' _ "$T"

# A store restored as root (its directory handed to the service user, its
# files left root's 0600): -t as that user fails as the start does.  Root
# only (root reads and writes everything); the user is nobody.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
	chmod 0711 "$T"
	mkdir -m 0777 "$T/n"
	# shellcheck disable=SC2046
	[ "$(start_status $(sock r) --store "fs:$T/rstore" --runtime-id rt-r)" = 0 ] ||
		{ e2e_say "ERROR: the store could not be made as root"; exit 99; }
	chown nobody "$T/rstore"
	REAL_BIN=$WR_BIN
	WR_BIN=$T/as-nobody
	printf '#!/bin/sh\nexec setpriv --reuid nobody --regid nogroup --clear-groups -- "%s" "$@"\n' \
		"$REAL_BIN" >"$WR_BIN"
	chmod 0755 "$WR_BIN"
	same_fate store-files-of-root 1 --socket "unix:$T/n/r.sock" \
		--store "fs:$T/rstore" --runtime-id rt-r
	check "-t names the file it cannot open" grep -q "check: --store .*$T/rstore/lock.*Permission denied" "$T/t.store-files-of-root.out"
	chown -R nobody "$T/rstore"
	same_fate store-chowned-back 0 --socket "unix:$T/n/r.sock" \
		--store "fs:$T/rstore" --runtime-id rt-r
	same_fate socket-group-not-a-member 1 --socket "unix:$T/n/g.sock" \
		--socket-group root
	check "-t says the user is not a member" grep -q "check: --socket-group root: this user is not a member" "$T/t.socket-group-not-a-member.out"
	WR_BIN=$REAL_BIN
fi

e2e_finish
