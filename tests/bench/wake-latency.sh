#!/usr/bin/env bash
# tests/bench/wake-latency.sh - how soon a long-poll answers an append.
#
#   tests/bench/wake-latency.sh [--binary FILE] [--rounds N] [--store memory|fs]
#
# Runs worker-runtime behind deploy/nginx.conf (TLS + token, exactly as
# deployed), creates a transcript worker, then N times: a waiter sends
# GET .../transcript?after=LAST&wait=25000 on its own connection, the
# client gives it 20 ms to be parked (a benchmark, not a test: a waiter not
# yet parked is answered at once and only flatters the figure less), then
# posts one input.  Per round it records, on one monotonic clock:
#   ack    = the input's 200 arrived (the entry is durable: fs fdatasync'd)
#   answer = the waiter's page (holding that entry) arrived
#   send   = the input was sent
# and prints p50/p99/max of answer - send (append, durable write and wake
# together: an upper bound of the wake latency) and of answer - ack
# (negative: the waiter had its page before the writer had its ack).
# Not run by make check.  Loopback only; bounded; cleans up by PID.
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_paths
ROUNDS=200
STORE=fs

while [ $# -gt 0 ]; do
	case $1 in
	--binary) BIN=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--store) STORE=$2; shift 2 ;;
	*) echo "usage: $0 [--binary FILE] [--rounds N] [--store memory|fs]" >&2
	   exit 2 ;;
	esac
done
bench_count wake-latency --rounds "$ROUNDS" 1 10000 || exit 2
case $STORE in memory|fs) ;; *) echo "wake-latency: --store memory|fs" >&2; exit 2 ;; esac
bench_need wake-latency "$BIN" curl jq openssl python3 nginx || exit

BENCH_DIR=$(mktemp -d /tmp/wr-bench.XXXXXX) || exit 1
trap bench_stack_cleanup EXIT
trap 'exit 1' INT TERM HUP

spec=memory
[ "$STORE" = fs ] && spec="fs:$BENCH_DIR/store"
bench_stack_init || exit 1
wr_stack_start_runtime "$BIN" --runtime-id bench --store "$spec" || exit 1
bench_stack_nginx || { echo "wake-latency: nginx did not start" >&2; exit 1; }

W=$(bench_stack_worker) || { echo "wake-latency: create failed" >&2; exit 1; }

python3 - "$WR_PORT" "$WR_DIR/tls/cert.pem" "$WR_TOKEN" "$W" "$ROUNDS" <<'EOF'
import http.client, json, ssl, sys, threading, time

port, ca, token, wid, rounds = sys.argv[1], sys.argv[2], sys.argv[3], \
    sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca)
hdr = {"Authorization": "Bearer " + token,
       "Content-Type": "application/json"}

def conn():
    return http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx,
                                       timeout=30)

def wait_page(c, after, out):
    c.request("GET", "/v1/workers/%s/transcript?after=%d&wait=25000"
              % (wid, after), headers=hdr)
    r = c.getresponse()
    body = r.read()
    out.append(time.monotonic())
    out.append((r.status, json.loads(body)))

waiter, writer = conn(), conn()
after, send_ms, ack_ms = 0, [], []
for i in range(rounds):
    out = []
    t = threading.Thread(target=wait_page, args=(waiter, after, out))
    t.start()
    time.sleep(0.02)  # let it park (see the header)
    t0 = time.monotonic()
    writer.request("POST", "/v1/workers/%s/input" % wid,
                   body=json.dumps({"kind": "user", "content": "x%d" % i}),
                   headers=hdr)
    r = writer.getresponse()
    r.read()
    t1 = time.monotonic()
    t.join(30)
    status, page = out[1]
    items = page["transcript"]["items"]
    if r.status != 200 or status != 200 or not items or \
       items[0]["sequence"] != after + 1:
        sys.exit("round %d: input %d, page %d %s" % (i, r.status, status,
                                                   items[:1]))
    after = items[-1]["sequence"]
    send_ms.append((out[0] - t0) * 1000)
    ack_ms.append((out[0] - t1) * 1000)

def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]

for name, v in (("answer - send", send_ms), ("answer - ack", ack_ms)):
    print("%-14s rounds %d  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms"
          % (name, len(v), q(v, 0.50), q(v, 0.99), max(v)))
EOF
