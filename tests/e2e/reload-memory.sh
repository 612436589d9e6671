#!/usr/bin/env bash
# tests/e2e/reload-memory.sh - SIGHUPs for months: a reload of an
# unchanged --profiles file keeps the set in force and frees the one it
# loaded, a reload of a changed file frees the set it replaced at once
# (its workers copied what they keep), so the Runtime's VmRSS does not
# grow with the SIGHUPs (logrotate sends one a day, a configuration tool may send
# one every few minutes); a changed file is still put in force, and a
# worker started before it keeps running on its profile.  Straight on a
# unix socket (cgi-fcgi), no nginx.  Bounded: 500 reloads, each awaited
# by its log line (<= 2 s).
set -u
. "$(dirname "$0")/lib.sh"

e2e_need jq cgi-fcgi
e2e_direct_init
e2e_workers

P=$T/profiles.json
# 100 profiles with some env, about 48 kB: a reload that kept every copy
# grew VmRSS by about 80 kB.
jq -n --arg e "$ECHO" '{default: "echo", profiles: ({echo: {argv: [$e]}} +
	([range(100)] | map({key: "p\(.)", value: {argv: [$e, "--x"],
	env: ([range(8)] | map({key: "K\(.)", value: ("v" * 40)}) |
	from_entries)}}) | from_entries))}' >"$P"
# Under ASan a freed set waits in the quarantine (256 MB) before its
# memory is reused: without one, RSS behaves as on a plain build.
E2E_WRAP="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
e2e_direct_start --profiles "$P"

reloads() { grep -c 'reload: .*profile(s) from' "$LOG"; }
more_than() { [ "$(reloads)" -gt "$1" ]; }
hup() { # hup: one SIGHUP, awaited by its reload line
	local n
	n=$(reloads)
	kill -HUP "$PID" && until_true 20 more_than "$n"
}
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }

hup
hup
check "a reload of the same file keeps the set in force" \
	grep -q 'reload: 101 profile(s) from .* unchanged; kept in force' "$LOG"
R0=$(rss)
ok=1
for _ in $(seq 300); do hup || { ok=0; break; }; done
R1=$(rss)
e2e_say "VmRSS ${R0} kB -> ${R1} kB over 300 reloads of an unchanged file"
check "300 reloads were each logged" test "$ok" = 1
check "VmRSS grew by less than 4 MB over 300 reloads" \
	test $((R1 - R0)) -lt 4096

# A worker of the first set, then 200 reloads that each change the file
# (two files in turn): each replaced set is freed at once, the first one
# too while its worker goes on running.
e2e_fcgi POST /v1/workers '{"profile":{"kind":"named","value":"p7"}}'
OLD_ID=$(e2e_body_of "$T/out" | jq -r '.worker.worker_id')
check "a worker of the first set is created" test "$(e2e_status_of "$T/out")" = 201
cp "$P" "$P.a"
jq --arg e "$ECHO" '.profiles.fresh = {argv: [$e]}' "$P" >"$P.b"
changed() { # the number of reloads that put a changed file in force
	grep -c 'reload: .*profile(s) from .* in force for new workers' "$LOG"
}
C0=$(changed)
R0=$(rss)
ok=1
for i in $(seq 200); do
	if [ $((i % 2)) = 1 ]; then cp "$P.b" "$P.new"; else cp "$P.a" "$P.new"; fi
	mv "$P.new" "$P"
	hup || { ok=0; break; }
done
R1=$(rss)
e2e_say "VmRSS ${R0} kB -> ${R1} kB over 200 reloads of a changed file"
check "200 reloads of a changed file each put it in force" \
	test "$ok" = 1 -a $(($(changed) - C0)) = 200
check "VmRSS grew by less than 4 MB over 200 changed reloads" \
	test $((R1 - R0)) -lt 4096

# The file in force is P.a again: one more change puts "fresh" in force.
cp "$P.b" "$P.new" && mv "$P.new" "$P"
hup
check "a changed file is put in force" \
	grep -q 'reload: 102 profile(s) from .* in force for new workers' "$LOG"
e2e_fcgi POST /v1/workers '{"profile":{"kind":"named","value":"fresh"}}'
CODE=$(e2e_status_of "$T/out")
check "its new profile creates a worker" test "$CODE" = 201
# The worker of the first set, whose set was replaced 201 times since,
# still answers on its profile's program.
e2e_fcgi POST "/v1/workers/$OLD_ID/input" '{"kind":"user","content":"still"}'
check "the first set's worker still takes input" \
	test "$(e2e_status_of "$T/out")" = 200
check "the process served throughout" kill -0 "$PID"
e2e_finish
