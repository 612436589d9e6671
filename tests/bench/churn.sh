#!/usr/bin/env bash
# tests/bench/churn.sh - a Runtime that runs for months: CYCLES rounds of
# create -> input -> stop -> delete through nginx with --max-workers 1000,
# once with --store memory and once with --store fs:DIR.  Prints, per
# store: refusals (must be 0: deletes free their slot), the peak RSS and
# the peak store directory size over the first tenth of the cycles and
# over the last tenth, and their ratios (target: at most 1.2).  How and
# why it samples: see the comment above the client below.
#
#   tests/bench/churn.sh [--cycles N] [--max-seconds S] [--stores LIST]
#                        [--clients C] [--sample SECONDS] [--binary FILE]
#
# Run it from an http build directory (configure --enable-http-server),
# e.g. `cd _build/http && ../../tests/bench/churn.sh --stores fs`, or
# point --binary at fcgi/worker-runtime.  N defaults to 100000 (a tenth
# is 10000), LIST to "memory fs", C to 4 keep-alive TLS connections in
# parallel (python3 http.client; the figures measure the Runtime, not
# process start-up), SECONDS to 0.25.  Each store's run stops after S
# seconds (default 1800) even when the cycles are not done, and says so;
# the tenths are then tenths of the cycles asked for, the last one ending
# where the run stopped.  Not run by make check.  Loopback only; cleans
# up by PID.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
BIN=${WORKER_RUNTIME:-$top_builddir/fcgi/worker-runtime}
CYCLES=100000
MAX_SECONDS=1800
STORES="memory fs"
CLIENTS=4
SAMPLE=0.25

while [ $# -gt 0 ]; do
	case $1 in
	--cycles) CYCLES=$2; shift 2 ;;
	--max-seconds) MAX_SECONDS=$2; shift 2 ;;
	--stores) STORES=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--sample) SAMPLE=$2; shift 2 ;;
	--binary) BIN=$2; shift 2 ;;
	*) echo "usage: $0 [--cycles N] [--max-seconds S] [--stores LIST]" \
		"[--clients C] [--sample SECONDS] [--binary FILE]" >&2; exit 2 ;;
	esac
done
for v in "$CYCLES" "$MAX_SECONDS" "$CLIENTS"; do
	case $v in ''|*[!0-9]*) echo "churn: numbers only" >&2; exit 2 ;; esac
done
[ "$CYCLES" -ge 10 ] && [ "$CYCLES" -le 10000000 ] ||
	{ echo "churn: --cycles 10..10000000" >&2; exit 2; }
[ "$MAX_SECONDS" -ge 1 ] && [ "$MAX_SECONDS" -le 86400 ] ||
	{ echo "churn: --max-seconds 1..86400" >&2; exit 2; }
[ "$CLIENTS" -ge 1 ] && [ "$CLIENTS" -le 64 ] ||
	{ echo "churn: --clients 1..64" >&2; exit 2; }
case $SAMPLE in
0.0[5-9]*|0.[1-9]*|[1-9]|[1-9].*) ;;
*) echo "churn: --sample 0.05..9.x seconds" >&2; exit 2 ;;
esac

for c in curl openssl python3; do
	command -v "$c" >/dev/null || { echo "churn: $c not found" >&2; exit 77; }
done
WR_NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$WR_NGINX_BIN" ] || { echo "churn: nginx not found" >&2; exit 77; }
[ -x "$BIN" ] || { echo "churn: $BIN not built" >&2; exit 1; }

BENCH_HERE=$here
BENCH_DIR=$(mktemp -d /tmp/wr-churn.XXXXXX) || exit 1
TMP=$BENCH_DIR
# shellcheck source=lib.sh
. "$here/lib.sh"
trap bench_stack_cleanup EXIT
trap 'exit 1' INT TERM HUP

bench_stack_init || exit 1

# The client: CYCLES cycles spread over CLIENTS keep-alive connections
# (threads; each cycle is one worker's create -> input -> stop -> delete,
# so at most CLIENTS workers exist at once, well under --max-workers).  A
# sampler thread reads the Runtime's RSS (kB, /proc/PID/status VmRSS) and
# the store directory's bytes (0 for memory) every SAMPLE seconds, each
# sample tagged with the cycles done so far.  It prints the peaks over the
# first tenth of the cycles and over the last tenth.
#
# Why peaks of samples, not two single readings: the fs store's directory
# is a sawtooth - the journal grows by ~1.1 kB per cycle until a
# background snapshot replaces it (docs/store.md, "Snapshots") - and RSS
# moves with allocator and snapshot timing, so one reading at cycle 10,000
# and one at the end compare two arbitrary points of the tooth.  The peak
# over a window of thousands of cycles covers whole teeth; a store or
# heap that grows with the cycles done shows as a last-tenth peak above
# the first-tenth one.
cat > "$TMP/churn.py" <<'EOF2'
import http.client, json, os, ssl, sys, threading, time
port, cafile, token, pid, store, cycles, max_s, clients, sample = sys.argv[1:10]
cycles, max_s, clients, sample = int(cycles), float(max_s), int(clients), \
    float(sample)
hdr = {"Authorization": "Bearer " + token,
       "Content-Type": "application/json"}
body = json.dumps({"kind": "user", "content": "x" * 100})
lock = threading.Lock()
state = {"next": 0, "done": 0, "refused": 0, "errors": 0, "stop": False}
start = time.monotonic()
def rss_kb():
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1
def store_bytes():
    if store == "-":
        return 0
    n = 0
    for d, _, fs in os.walk(store):
        for f in fs:
            try:
                n += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass  # replaced by a snapshot meanwhile
    return n
def client():
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx,
                                       timeout=30)
    def call(method, path, data=None):
        conn.request(method, path, body=data, headers=hdr)
        r = conn.getresponse()
        return r.status, r.read()
    while True:
        with lock:
            if state["stop"] or state["next"] >= cycles:
                return
            state["next"] += 1
        if time.monotonic() - start > max_s:
            with lock:
                state["stop"] = True
            return
        bad = 0
        st, b = call("POST", "/v1/workers", "{}")
        if st != 201:
            with lock:
                if b"worker_limit_reached" in b:
                    state["refused"] += 1
                else:
                    state["errors"] += 1
                state["done"] += 1
            continue
        wid = json.loads(b)["worker"]["worker_id"]
        path = "/v1/workers/" + wid
        for m, p, d in (("POST", path + "/input", body),
                        ("POST", path + "/stop", None),
                        ("DELETE", path, None)):
            st, b = call(m, p, d)
            if st != 200:
                bad += 1
        with lock:
            state["errors"] += bad
            state["done"] += 1
samples = []
def sampler():
    while True:
        with lock:
            done, fin = state["done"], (state["stop"] or
                                        state["done"] >= cycles)
        samples.append((done, rss_kb(), store_bytes()))
        if fin:
            return
        time.sleep(sample)
ts = [threading.Thread(target=client) for _ in range(clients)]
sm = threading.Thread(target=sampler)
for t in ts:
    t.start()
sm.start()
for t in ts:
    t.join()
with lock:
    state["stop"] = True
sm.join()
secs = time.monotonic() - start
done = state["done"]
tenth = max(1, cycles // 10)
first = [s for s in samples if s[0] <= tenth]
last = [s for s in samples if s[0] >= done - tenth]
if done < cycles:
    print("stopped at the time bound after %d of %d cycles" % (done, cycles))
print("cycles=%d refused=%d errors=%d seconds=%.1f cycles_per_s=%.1f "
      "samples=%d" % (done, state["refused"], state["errors"], secs,
                      done / secs, len(samples)))
if done >= 2 * tenth and first and last:
    print("first_tenth cycles<=%d peak_rss_kb=%d peak_store_bytes=%d" %
          (tenth, max(s[1] for s in first), max(s[2] for s in first)))
    print("last_tenth cycles>=%d peak_rss_kb=%d peak_store_bytes=%d" %
          (done - tenth, max(s[1] for s in last), max(s[2] for s in last)))
print("end rss_kb=%d store_bytes=%d" % (samples[-1][1], samples[-1][2]))
EOF2

bench_stack_nginx || { echo "churn: nginx did not start" >&2; exit 1; }
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
		"$dir" "$CYCLES" "$MAX_SECONDS" "$CLIENTS" "$SAMPLE") ||
		{ echo "churn: the client failed" >&2; exit 1; }
	wr_stack_stop_pid "$WR_RUNTIME_PID" worker-runtime
	echo "store=$st"
	echo "$out" | sed 's/^/  /'
	echo "$out" | awk '
		/^first_tenth/ { split($3, a, "="); split($4, b, "=");
		                 r1 = a[2]; s1 = b[2] }
		/^last_tenth/  { split($3, a, "="); split($4, b, "=");
		                 r2 = a[2]; s2 = b[2] }
		END { if (r1 == "") exit
		      st = "n/a"
		      if (s1 > 0) st = sprintf("%.2f", s2 / s1)
		      printf "  ratio peak last tenth / peak first tenth: " \
		             "rss %.2f, store %s (target <= 1.2)\n", r2 / r1, st }'
done
