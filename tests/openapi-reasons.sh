#!/bin/sh
# Every error code of WR_ERROR_TABLE and every reason of WR_REASON_TABLE
# (src/worker-runtime.h) is in docs/openapi.yaml's ErrorCode and Reason
# enums, so a response carrying a new reason fails no e2e validation for
# the wrong cause, and the document never lags the code.  Offline (no npm:
# the lint is tests/openapi-lint.sh).  Skips (77) without python3-yaml.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: no python3-yaml"; exit 77; }
exec python3 - "$top_srcdir/src/worker-runtime.h" "$top_srcdir/docs/openapi.yaml" <<'PY'
import re, sys, yaml
h = open(sys.argv[1]).read()
codes = set(re.findall(r'X\(WR_E[A-Z_]+, "([a-z_]+)"', h))
reasons = set(re.findall(r'X\(WR_REASON_[A-Z0-9_]+, "([a-z0-9_]+)"', h))
s = yaml.safe_load(open(sys.argv[2]))["components"]["schemas"]
bad = 0
for what, have, enum in (("code", codes, s["ErrorCode"]["enum"]),
                         ("reason", reasons, s["Reason"]["enum"])):
    if len(have) < 5:
        print("found no %ss in %s" % (what, sys.argv[1])); sys.exit(1)
    for n in sorted(have - set(enum)):
        print("docs/openapi.yaml lacks the %s %s" % (what, n)); bad += 1
print("openapi: %d codes, %d reasons of the code, all in the document"
      % (len(codes), len(reasons)) if not bad else "openapi: %d missing" % bad)
sys.exit(1 if bad else 0)
PY
