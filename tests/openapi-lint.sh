#!/usr/bin/env bash
# tests/openapi-lint.sh - lints docs/openapi.yaml with a pinned, maintained
# OpenAPI 3.1 linter (Redocly CLI, from the npm registry through npx), with
# the rules of tests/openapi/redocly.yaml; an error or a warning fails,
# and so does a linter that does not refuse a deliberately broken copy.
#
# Run by tests/run-all (not by "make check": it needs the npm registry).
# Installs Debian's nodejs and npm when npm is missing.  The npm cache is a
# temporary directory, removed on exit.  When the registry cannot be
# reached the lint did not run, and that is a FAILURE (exit 1), never a
# skip: a document nobody linted must not pass as linted.
set -u
REDOCLY=@redocly/cli@1.34.20  # works on Debian 12's node 18 and on node 20+
top=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v npx >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends nodejs npm >/dev/null ||
		{ echo "openapi-lint: FAIL: cannot install nodejs/npm" >&2; exit 1; }
fi
tmp=$(mktemp -d /tmp/wr-openapi-lint.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
export npm_config_cache="$tmp/npm-cache" npm_config_update_notifier=false
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

cd "$tmp" || exit 1
rc=0
timeout 600 npx --yes "$REDOCLY" lint \
	--config "$top/tests/openapi/redocly.yaml" \
	"$top/docs/openapi.yaml" >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"
if [ "$rc" != 0 ]; then
	if ! grep -q 'validating' "$tmp/out"; then
		echo "openapi-lint: FAIL: $REDOCLY did not run (npm registry" \
			"unreachable?); the document was not linted" >&2
	fi
	echo "openapi-lint: FAIL (exit $rc)" >&2
	exit 1
fi
if grep -qE 'You have [0-9]+ warnings?' "$tmp/out"; then
	echo "openapi-lint: FAIL: warnings count as failures" >&2
	exit 1
fi
# A linter that accepts anything would pass too: a copy with a dangling
# $ref must fail.
sed 's|#/components/schemas/Count|#/components/schemas/NoSuchSchema|' \
	"$top/docs/openapi.yaml" >"$tmp/broken.yaml"
if timeout 600 npx --yes "$REDOCLY" lint \
	--config "$top/tests/openapi/redocly.yaml" "$tmp/broken.yaml" \
	>"$tmp/broken.out" 2>&1 || ! grep -q 'NoSuchSchema' "$tmp/broken.out"; then
	echo "openapi-lint: FAIL: a dangling \$ref was not reported" >&2
	exit 1
fi
echo "openapi-lint: docs/openapi.yaml is valid OpenAPI ($REDOCLY);" \
	"a broken copy is refused"
