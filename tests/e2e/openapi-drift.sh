#!/usr/bin/env bash
# tests/e2e/openapi-drift.sh - the response validation of the e2e harness
# catches drift between the code and docs/openapi.yaml.
#
# Real answers through nginx (success bodies, a 201 with Location, typed
# errors from the Runtime and from nginx) are recorded by e2e_curl; they
# validate against docs/openapi.yaml, and each of several copies of the
# document with one deliberate drift (a wrong member type, a missing
# member, an undocumented status, a wrong media type, a narrower error
# code set, a required header the answer lacks) must make the validator
# fail, naming the drift.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl python3
e2e_init
python3 -c 'import yaml, jsonschema' 2>/dev/null || {
	e2e_say "ERROR: python3-yaml and python3-jsonschema are needed"
	exit 99
}

e2e_start_stack --runtime-id drift-rt --store memory

e2e_api GET /v1/runtime
e2e_api POST /v1/workers -d '{"intent":{"kind":"task","objective":"drift"}}'
W=$(jq -r '.worker.worker_id // empty' "$E2E_TMP/body")
[ -n "$W" ] || { e2e_say "ERROR: create failed ($CODE)"; exit 99; }
e2e_api POST "/v1/workers/$W/input" -d '{"kind":"user","content":"hi"}'
e2e_api GET "/v1/workers/$W/transcript?limit=5"
e2e_api GET "/v1/workers?limit=2"
e2e_api GET /v1/workers/nope
e2e_api PUT /v1/runtime
e2e_curl GET /v1/runtime
e2e_api GET /nowhere
e2e_api POST "/v1/workers/$W/stop" -d '{"reason":"drift done"}'
e2e_api DELETE "/v1/workers/$W"

DOC=$top_srcdir/docs/openapi.yaml
check "the recorded answers cover 2xx, 4xx from the Runtime and from nginx" \
	eval 'cut -f3 "$E2E_TMP/openapi/index" | sort -u | tr "\n" " " |
	      grep -qx "200 201 401 404 405 "'
check "every answer matches docs/openapi.yaml" e2e_openapi_check "$DOC"

# The copies, each docs/openapi.yaml with one drift, in $E2E_TMP/NAME.yaml
# (one python3 run: the interpreter's start is the slow part).
python3 - "$DOC" "$E2E_TMP" <<'EOF' || exit 99
import sys, yaml
def copy(name, change):
    d = yaml.safe_load(open(sys.argv[1]))
    change(d, d["components"]["schemas"], d["components"]["responses"])
    yaml.safe_dump(d, open("%s/%s.yaml" % (sys.argv[2], name), "w"),
                   sort_keys=False)
def media(d, s, r):
    c = d["paths"]["/v1/runtime"]["get"]["responses"]["200"]["content"]
    c["text/plain"] = c.pop("application/json")
copy("wrong-type", lambda d, s, r: s["RuntimeSummary"]["properties"]
     .update(worker_count={"type": "string"}))
copy("missing-member", lambda d, s, r: s["RuntimeSummary"]["properties"]
     .pop("deleted_worker_count"))
copy("no-201", lambda d, s, r: d["paths"]["/v1/workers"]["post"]
     ["responses"].pop("201"))
copy("media", media)
copy("codes", lambda d, s, r: s["ErrorCode"]["enum"].remove("unknown_worker"))
copy("header", lambda d, s, r: r["Unauthorized"]["headers"].update(
     {"X-Absent": {"required": True, "schema": {"type": "string"}}}))
EOF
# drifts NAME PATTERN: the validator fails on the copy NAME and says
# PATTERN.
drifts() {
	local rc=0
	e2e_openapi_check "$E2E_TMP/$1.yaml" > "$E2E_TMP/$1.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] && grep -q -- "$2" "$E2E_TMP/$1.out"
}

check "a wrong member type (worker_count: string) is drift" \
	drifts wrong-type 'body runtime/worker_count'
check "a member the document lacks (deleted_worker_count) is drift" \
	drifts missing-member 'deleted_worker_count'
check "an undocumented status (201 of the create) is drift" \
	drifts no-201 'POST /v1/workers: status 201 is not documented'
check "another media type (text/plain for the summary) is drift" \
	drifts media "Content-Type 'application/json; charset=utf-8' is not one of"
check "a code the document does not list (unknown_worker) is drift" \
	drifts codes "body error/code: 'unknown_worker' is not one of"
check "a required header the answer lacks is drift" \
	drifts header '401: header X-Absent missing'

e2e_finish
