#!/usr/bin/env bash
# tests/e2e/monitoring.sh - health, metrics, diagnostics and the error
# catalog through the real nginx (deploy/nginx.conf) and the real Runtime.
#
# Checks:
#  1. GET /healthz from loopback needs no token (nginx asks /v1/health);
#     /v1/health itself needs it, like every route.
#  2. A live scrape of /v1/metrics is Prometheus text that
#     `promtool check metrics` accepts, and counts the requests made.
#  3. A real Prometheus on loopback (its own config and storage in the
#     test's temporary directory) scrapes the Runtime through nginx with
#     the bearer token, and a series comes back through its HTTP API.
#  4. /v1/runtime/diagnostics and /v1/errors answer their shapes, and the
#     curl examples of docs/api.md for these routes run as written.
# Every wait is for a state, bounded; Prometheus is stopped by PID.
set -u
. "$(dirname "$0")/lib.sh"

e2e_need nginx curl jq openssl promtool prometheus
e2e_init
e2e_start_stack --store memory

# ---- 1. health ------------------------------------------------------------
e2e_curl GET /healthz
check "/healthz from loopback answers 200 ok without a token" \
	json '.health.status == "ok" and .health.store.backend == "memory"'
check "/healthz status is 200" status_is 200
e2e_curl GET /v1/health
check "/v1/health without the token is 401" error_is 401 unauthorized missing_token
e2e_api GET /v1/health
check "/v1/health with the token is 200" \
	json '(.health | keys) == ["diagnostic_count", "last_diagnostic_at", "runtime_status", "status", "store", "uptime_s"]'
e2e_curl GET /healthz -H 'Origin: https://example.com'
check "/healthz from a browser is refused" error_is 403 forbidden browser_request

# ---- 2. metrics and promtool ---------------------------------------------
for _ in 1 2 3; do e2e_api GET /v1/runtime; done
e2e_api GET /v1/metrics
cp "$E2E_TMP/body" "$E2E_TMP/metrics.txt"
check "/v1/metrics is 200" status_is 200
check "/v1/metrics is the Prometheus text format 0.0.4" \
	header Content-Type 'text/plain; version=0.0.4'
check "promtool check metrics accepts a live scrape" \
	sh -c 'promtool check metrics < "$1"' _ "$E2E_TMP/metrics.txt"
check "the scrape counts the requests by route template" \
	grep -qE '^worker_runtime_http_requests_total\{route="/v1/runtime",method="GET",status="200"\} [3-9]' "$E2E_TMP/metrics.txt"

# ---- 3. a real Prometheus -------------------------------------------------
P=$E2E_TMP/prom
mkdir -p "$P/data" || exit 99
cat > "$P/prometheus.yml" <<YML || exit 99
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: worker-runtime
    scheme: https
    metrics_path: /v1/metrics
    authorization:
      type: Bearer
      credentials_file: $WR_DIR/token
    tls_config:
      ca_file: $WR_DIR/tls/cert.pem
    static_configs:
      - targets: ['127.0.0.1:$WR_PORT']
YML
promtool check config "$P/prometheus.yml" >/dev/null 2>&1 ||
	{ e2e_say "ERROR: promtool refuses the scrape config"; exit 99; }
prom_started=
for _ in 1 2 3 4 5 6 7 8; do
	PPORT=$(( 20000 + (RANDOM % 30000) ))
	prometheus --config.file="$P/prometheus.yml" \
		--web.listen-address="127.0.0.1:$PPORT" \
		--storage.tsdb.path="$P/data" </dev/null >"$P/log" 2>&1 &
	PROM_PID=$!
	E2E_PIDS="${E2E_PIDS:-} $PROM_PID"
	for _ in $(seq 100); do
		curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$PPORT/-/ready" &&
			{ prom_started=1; break; }
		wr_stack_pid_alive "$PROM_PID" || break
		sleep 0.1
	done
	[ -n "$prom_started" ] && break
	wr_stack_stop_pid "$PROM_PID" prometheus
done
[ -n "$prom_started" ] || { e2e_say "ERROR: prometheus did not start"; tail -5 "$P/log" >&2; exit 99; }

# query_has EXPR: Prometheus answers EXPR with at least one sample.
query_has() {
	curl -sf --max-time 2 "http://127.0.0.1:$PPORT/api/v1/query" \
		--data-urlencode "query=$1" -o "$E2E_TMP/body" &&
	jq -e '.status == "success" and (.data.result | length) > 0' \
		"$E2E_TMP/body" >/dev/null
}
found=
for _ in $(seq 300); do # 30 s at most
	query_has 'up{job="worker-runtime"} == 1 and on() worker_runtime_status{status="running"} == 1' &&
		{ found=1; break; }
	sleep 0.1
done
check "Prometheus scraped the Runtime through nginx with the token" test -n "$found"
query_has 'worker_runtime_http_requests_total{route="/v1/metrics"}' || true
check "a request counter comes back through Prometheus' HTTP API" \
	jq -e '.data.result[0].value[1] | tonumber >= 1' "$E2E_TMP/body"
wr_stack_stop_pid "$PROM_PID" prometheus

# ---- 4. diagnostics, the catalog, the documented examples ------------------
e2e_api GET '/v1/runtime/diagnostics?limit=5'
check "/v1/runtime/diagnostics answers a page" \
	json '(.diagnostics | type == "array") and has("next_after")'
e2e_api GET '/v1/runtime/diagnostics?limit=1000'
check "/v1/runtime/diagnostics bounds its limit" error_is 400 invalid_input limit_too_large
e2e_api GET /v1/errors
check "/v1/errors lists every code and reason" \
	json '(.errors.codes | length) == 9 and (.errors.reasons | map(select(.reason == "restoring" and .code == "runtime_unavailable" and .status == 503)) | length) == 1'

api() { curl -sSf --cacert "$WR_DIR/ca.pem" -H "Authorization: Bearer $WR_TOKEN" \
             -H 'Content-Type: application/json' "$@"; }
n=0
while IFS= read -r line; do
	n=$((n + 1))
	line=${line//https:\/\/127.0.0.1:8443/$WR_BASE_URL}
	check "docs/api.md example runs: ${line:0:70}" eval "$line"
done < <(grep -E "^api '?https://127\.0\.0\.1:8443/v1/(health|metrics|errors|runtime/diagnostics)" \
	"$top_srcdir/docs/api.md")
check "docs/api.md has the examples of the four routes" test "$n" -ge 4

e2e_finish
