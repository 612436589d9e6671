#!/usr/bin/env bash
# tests/bench/churn.sh - a Runtime that runs for months: CYCLES rounds of
# create -> input -> stop -> delete through nginx with --max-workers 1000,
# once with --store memory and once with --store fs:DIR.  Prints, per
# store: refusals (must be 0: deletes free their slot), the Runtime's RSS
# and the store directory's size after the first tenth of the cycles and
# at the end, and their ratios (target: at most 1.2).
#
#   tests/bench/churn.sh [--cycles N] [--max-seconds S] [--stores LIST]
#                        [--binary FILE]
#
# N defaults to 100000 (the first tenth is 10000), LIST to "memory fs".
# Each store's run stops after S seconds (default 1800) even when the
# cycles are not done, and says so.  One client on one keep-alive TLS
# connection (python3 http.client), so the figures measure the Runtime,
# not process start-up.  Not run by make check.  Loopback only; cleans up
# by PID.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
BIN=${WORKER_RUNTIME:-$top_builddir/fcgi/worker-runtime}
CYCLES=100000
MAX_SECONDS=1800
STORES="memory fs"

while [ $# -gt 0 ]; do
	case $1 in
	--cycles) CYCLES=$2; shift 2 ;;
	--max-seconds) MAX_SECONDS=$2; shift 2 ;;
	--stores) STORES=$2; shift 2 ;;
	--binary) BIN=$2; shift 2 ;;
	*) echo "usage: $0 [--cycles N] [--max-seconds S] [--stores LIST]" \
		"[--binary FILE]" >&2; exit 2 ;;
	esac
done
for v in "$CYCLES" "$MAX_SECONDS"; do
	case $v in ''|*[!0-9]*) echo "churn: numbers only" >&2; exit 2 ;; esac
done
[ "$CYCLES" -ge 10 ] && [ "$CYCLES" -le 10000000 ] ||
	{ echo "churn: --cycles 10..10000000" >&2; exit 2; }
[ "$MAX_SECONDS" -ge 1 ] && [ "$MAX_SECONDS" -le 86400 ] ||
	{ echo "churn: --max-seconds 1..86400" >&2; exit 2; }

for c in curl openssl python3; do
	command -v "$c" >/dev/null || { echo "churn: $c not found" >&2; exit 77; }
done
WR_NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$WR_NGINX_BIN" ] || { echo "churn: nginx not found" >&2; exit 77; }
[ -x "$BIN" ] || { echo "churn: $BIN not built" >&2; exit 1; }

# shellcheck source=../../deploy/local-stack.sh
. "$top_srcdir/deploy/local-stack.sh"
TMP=$(mktemp -d /tmp/wr-churn.XXXXXX) || exit 1
cleanup() {
	[ -n "${WR_DIR:-}" ] && wr_stack_stop
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

wr_stack_init "$TMP/s" && wr_stack_tls && wr_stack_token || exit 1

start_nginx() {
	local _ rc
	for _ in 1 2 3 4 5 6 7 8; do
		wr_stack_render_nginx "$top_srcdir" $(( 20000 + (RANDOM % 30000) )) ||
			return 1
		rc=0
		wr_stack_start_nginx || rc=$?
		[ "$rc" = 0 ] && return 0
		[ "$rc" = 98 ] || return 1
	done
	return 1
}

# The client: CYCLES cycles on one connection; prints one line at the
# first tenth and one at the end: cycles, refusals, other errors, RSS
# (kB, from /proc/PID/status) and the store's bytes (0 for memory).
cat > "$TMP/churn.py" <<'EOF'
import http.client, json, os, ssl, sys, time
port, cafile, token, pid, store, cycles, max_s = sys.argv[1:8]
cycles, max_s = int(cycles), float(max_s)
ctx = ssl.create_default_context(cafile=cafile)
conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx,
                                   timeout=30)
hdr = {"Authorization": "Bearer " + token,
       "Content-Type": "application/json"}
body = json.dumps({"kind": "user", "content": "x" * 100})
def call(method, path, data=None):
    conn.request(method, path, body=data, headers=hdr)
    r = conn.getresponse()
    return r.status, r.read()
def rss_kb():
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1
def store_bytes():
    if store == "-":
        return 0
    return sum(os.path.getsize(os.path.join(d, f))
               for d, _, fs in os.walk(store) for f in fs)
refused = errors = 0
start = time.monotonic()
first = max(1, cycles // 10)
done = 0
for i in range(1, cycles + 1):
    if time.monotonic() - start > max_s:
        print("stopped at the time bound", flush=True)
        break
    st, b = call("POST", "/v1/workers", "{}")
    if st != 201:
        if b"worker_limit_reached" in b:
            refused += 1
        else:
            errors += 1
        continue
    wid = json.loads(b)["worker"]["worker_id"]
    path = "/v1/workers/" + wid
    for m, p, d, want in (("POST", path + "/input", body, 200),
                          ("POST", path + "/stop", None, 200),
                          ("DELETE", path, None, 200)):
        st, b = call(m, p, d)
        if st != want:
            errors += 1
    done = i
    if i == first or i == cycles:
        print("cycles=%d refused=%d errors=%d rss_kb=%d store_bytes=%d "
              "seconds=%.1f" % (i, refused, errors, rss_kb(), store_bytes(),
                                time.monotonic() - start), flush=True)
if done != cycles and done >= first:
    print("cycles=%d refused=%d errors=%d rss_kb=%d store_bytes=%d "
          "seconds=%.1f" % (done, refused, errors, rss_kb(), store_bytes(),
                            time.monotonic() - start), flush=True)
EOF

start_nginx || { echo "churn: nginx did not start" >&2; exit 1; }
for st in $STORES; do
	case $st in
	memory) spec=memory; dir=- ;;
	fs) dir=$TMP/store; rm -rf "$dir"; spec=fs:$dir ;;
	*) echo "churn: unknown store $st" >&2; exit 2 ;;
	esac
	wr_stack_start_runtime "$BIN" --runtime-id churn --store "$spec" \
		--max-workers 1000 || exit 1
	out=$(timeout $((MAX_SECONDS + 60)) python3 "$TMP/churn.py" \
		"$WR_PORT" "$WR_DIR/tls/cert.pem" "$WR_TOKEN" "$WR_RUNTIME_PID" \
		"$dir" "$CYCLES" "$MAX_SECONDS") ||
		{ echo "churn: the client failed" >&2; exit 1; }
	wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
	echo "store=$st"
	echo "$out" | sed 's/^/  /'
	echo "$out" | awk -F'[ =]' '/^cycles=/ { n++; r[n] = $8; s[n] = $10 }
		END { if (n < 2) exit
		      st = "n/a"
		      if (s[1] > 0) st = sprintf("%.2f", s[2] / s[1])
		      printf "  ratio end/first-tenth: rss %.2f, store %s\n",
		             r[2] / r[1], st }'
done
