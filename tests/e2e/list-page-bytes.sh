#!/usr/bin/env bash
# tests/e2e/list-page-bytes.sh - a page of GET /v1/workers stops at about
# 8 MiB of JSON.  Every WorkerSummary member is within its documented
# limits (a string of at most 64 KiB), but a role intent whose role and
# purpose are 65,536 control bytes each is written as two 393,216-byte
# escapes: a summary of about 786 KB, so a page of limit=1000 such workers
# was about 786 MB, built whole in the Runtime's memory (measured through
# nginx before the bound: one page 787 MB, four such pages at once took
# the Runtime to 3.3 GB of RSS).  Like a transcript page, a list page now
# holds at most 8 MiB (WR_LIST_PAGE_MAX_BYTES; the check below allows one
# summary more), and next_after names the last worker returned, so the
# walk still sees every worker exactly once.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq python3
e2e_init
e2e_start_stack

N=12
python3 -c 'import json; s = "\x01" * 65536
print(json.dumps({"intent": {"kind": "role", "role": s, "purpose": s},
                  "profile": {"kind": "builtin", "value": "transcript"}}))' \
	> "$E2E_TMP/big.json"
made=0
for _ in $(seq "$N"); do
	e2e_api POST /v1/workers -d "@$E2E_TMP/big.json"
	[ "$CODE" = 201 ] && made=$((made + 1))
done
check "$N workers with 64 KiB control-byte role and purpose are made" \
	test "$made" = "$N"

bound=$((8 * 1024 * 1024 + 800 * 1024))
after= seen=0 pages=0 largest=0
while [ "$pages" -lt "$((N + 1))" ]; do
	e2e_api GET "/v1/workers?limit=1000${after:+&after=$after}"
	[ "$CODE" = 200 ] || break
	pages=$((pages + 1))
	size=$(stat -c %s "$E2E_TMP/body")
	[ "$size" -gt "$largest" ] && largest=$size
	seen=$((seen + $(jq '.workers | length' "$E2E_TMP/body")))
	after=$(jq -r '.next_after // empty' "$E2E_TMP/body")
	[ -n "$after" ] || break
done
check "no list page is over 8 MiB and one summary (largest: $largest bytes)" \
	test "$largest" -le "$bound"
check "... and the walk still sees all $N workers ($seen in $pages pages)" \
	test "$seen" = "$N"

e2e_finish
