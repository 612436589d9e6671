#!/usr/bin/env bash
# tests/kubernetes-validate.sh - deploy/kubernetes/*.yaml are valid
# Kubernetes objects: tests/kubernetes/validate.js checks each against the
# API schemas of the npm package kubernetes-models, installed with "npm ci"
# from tests/kubernetes/package-lock.json (every version pinned) in a
# temporary directory, with a temporary npm cache.
#
# Run by tests/run-all (not by "make check": it needs the npm registry).
# Installs Debian's nodejs and npm when npm is missing.  An unreachable
# registry FAILS the check (exit 1): manifests nobody validated must not
# pass as validated.  A deliberate error (replicas as a string) must fail
# too, so a validator that accepts anything is caught, and so must a
# Runtime container without its own livenessProbe.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v npm >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends nodejs npm >/dev/null ||
		{ echo "kubernetes-validate: FAIL: cannot install nodejs/npm" >&2; exit 1; }
fi
tmp=$(mktemp -d /tmp/wr-k8s.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
export npm_config_cache="$tmp/npm-cache" npm_config_update_notifier=false
cp "$top/tests/kubernetes/package.json" "$top/tests/kubernetes/package-lock.json" \
	"$top/tests/kubernetes/validate.js" "$tmp/" || exit 1
if ! (cd "$tmp" && timeout 600 npm ci --no-audit --no-fund --loglevel=error \
	--engine-strict=false >"$tmp/npm.log" 2>&1); then
	cat "$tmp/npm.log" >&2
	echo "kubernetes-validate: FAIL: npm ci did not install the validator" \
		"(registry unreachable?); nothing was validated" >&2
	exit 1
fi
rc=0
node "$tmp/validate.js" "$top"/deploy/kubernetes/*.yaml || rc=1
sed 's/^\(  replicas:\) 2$/\1 "2"/' "$top/deploy/kubernetes/statefulset.yaml" \
	>"$tmp/broken.yaml"
if grep -q 'replicas: "2"' "$tmp/broken.yaml" &&
   ! node "$tmp/validate.js" "$tmp/broken.yaml" >"$tmp/broken.out" 2>&1 &&
   grep -q 'replicas must be integer' "$tmp/broken.out"; then
	echo "ok   a deliberate error (replicas: \"2\") is refused"
else
	echo "FAIL the validator accepts replicas: \"2\"" >&2
	rc=1
fi
# A Runtime container without its own liveness probe is refused too: a
# wedged Runtime behind a healthy nginx would never be restarted.
(cd "$tmp" && node -e '
const Y = require("yaml"), fs = require("fs");
const d = Y.parse(fs.readFileSync(process.argv[1], "utf8"));
const c = d.spec.template.spec.containers.find((x) => x.name === "runtime");
delete c.livenessProbe;
fs.writeFileSync(process.argv[2], Y.stringify(d));
' "$top/deploy/kubernetes/statefulset.yaml" "$tmp/noprobe.yaml")
if ! node "$tmp/validate.js" "$tmp/noprobe.yaml" >"$tmp/noprobe.out" 2>&1 &&
   grep -q 'container runtime has no livenessProbe' "$tmp/noprobe.out"; then
	echo "ok   a Runtime container without a livenessProbe is refused"
else
	echo "FAIL the validator accepts a Runtime container without a livenessProbe" >&2
	rc=1
fi
[ "$rc" = 0 ] && echo "kubernetes-validate: deploy/kubernetes is valid"
exit "$rc"
