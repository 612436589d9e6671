#!/usr/bin/env python3
"""tests/soak/driver.py - the load generator and checker of tests/soak/soak.sh.

Standard library only.  Several client threads, each with its own keep-alive
HTTPS connection to nginx and its own set of worker "slots" (one per
profile), run a weighted mix of every endpoint until the deadline: create
(on every profile of the soak's profiles file, the builtin transcript
profile and the runtime default), input, detail, list, transcript paging,
stop, cancel, runtime summary.  Workers that crash, hang, time out, get
stopped or cancelled are replaced by new ones, so the mix goes on.

Recorded and checked:
  - every answer by endpoint and status; every status a request of that
    kind may not get fails the run, except a 5xx that docs/api.md
    documents (503 runtime_unavailable with a reason of its table), which
    is counted and shown;
  - every acknowledged input (worker id, transcript sequence, content):
    at the end it must be in its worker's transcript exactly once, at its
    sequence; an input whose answer was lost may be there at most once;
  - the Runtime's VmRSS and open fds in the same settled state after
    warm-up and at the end (every slot holds a fresh idle worker, the
    Runtime's children are exactly the live exec workers, no zombie, no
    tagged process outside the Runtime's children); end <= ratio x warm-up.

"driver.py orphans TAG" lists the live processes whose environment holds
SOAK_TAG=TAG (run after the Runtime is stopped: there must be none).
Every loop is bounded by the deadline or by a count.
"""

import argparse
import http.client
import json
import os
import random
import re
import socket
import ssl
import sys
import threading
import time
import traceback

SETTLE_SECONDS = 30      # longest wait for the settled state
HTTP_TIMEOUT = 35        # above nginx's fastcgi_read_timeout (30 s)
MAX_PAGES = 100000       # bound of one transcript read
LIST_PAGE = 64           # workers per GET /v1/workers page
PAGE_PROBE_PAGES = 3     # transcript pages read by one "transcript" op

# Profile name -> behaviour the driver expects (see soak.sh's profiles).
#   answer: every input gets a turn_end;  hang: never ends a turn
#   dies:   the worker fails by itself after some input
BEHAVIOUR = {
    "echo": "answer", "slow": "answer", "crash": "dies", "abort": "dies",
    "timeout": "dies", "hang": "hang", "hang_term": "hang",
}
# Slots of one client thread: every file profile, the builtin transcript
# profile and the runtime default (echo in soak.sh's file).
SLOTS = list(BEHAVIOUR) + ["transcript", "default"]
EXEC_SLOTS = [s for s in SLOTS if s != "transcript"]

WEIGHTS = [("input", 40), ("detail", 12), ("transcript", 12),
           ("runtime", 5), ("list", 1), ("stop", 4), ("cancel", 4),
           ("create", 2)]

# Non-5xx answers each kind of request may get under this load.
EXPECTED = {
    "create": {201},
    "input": {200, 409},
    "detail": {200}, "transcript": {200}, "runtime": {200}, "list": {200},
    "stop": {200}, "cancel": {200}, "delete": {200, 409},
}
INPUT_409 = {("busy", "turn_in_progress"),
             ("unsupported_operation", "worker_not_running"),
             ("unsupported_operation", "worker_exited")}


def documented_503_reasons(api_md):
    """The reasons of docs/api.md's "Reasons of runtime_unavailable"."""
    with open(api_md, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^### Reasons of `runtime_unavailable`\n(.*?)^#",
                  text, re.S | re.M)
    if not m:
        raise SystemExit("driver: no runtime_unavailable reasons in "
                         + api_md)
    reasons = set()
    for line in m.group(1).splitlines():
        if line.startswith("| ") and not line.startswith("| reason"):
            reasons.update(re.findall(r"`([a-z_]+)`",
                                      line.split("|")[1]))
    return reasons


class Stats:
    """Counters shared by the threads (under one lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_status = {}      # (endpoint, status) -> count
        self.errors = {}         # (endpoint, status, code, reason) -> count
        self.failures = []       # what makes the run fail (first 50 kept)
        self.nfail = 0
        self.acked = {}          # worker id -> {seq: content}
        self.unknown = {}        # worker id -> [content] (answer lost)
        self.created = 0
        self.deleted = 0
        self.checked = 0         # acknowledged inputs of deleted workers

    def count(self, ep, status, code="", reason=""):
        with self.lock:
            k = (ep, status)
            self.by_status[k] = self.by_status.get(k, 0) + 1
            if status >= 400 or status == 0:
                k = (ep, status, code, reason)
                self.errors[k] = self.errors.get(k, 0) + 1

    def fail(self, what):
        with self.lock:
            self.nfail += 1
            if len(self.failures) < 50:
                self.failures.append(what)

    def ack(self, wid, seq, content):
        with self.lock:
            self.acked.setdefault(wid, {})[seq] = content

    def lost(self, wid, content):
        with self.lock:
            self.unknown.setdefault(wid, []).append(content)

    def forget(self, wid, checked):
        """A worker was verified and deleted: its records go."""
        with self.lock:
            self.acked.pop(wid, None)
            self.unknown.pop(wid, None)
            self.deleted += 1
            self.checked += checked


class Client:
    """One keep-alive HTTPS connection; every request is bounded in time."""

    def __init__(self, opts, stats, allowed_503):
        self.opts = opts
        self.stats = stats
        self.allowed_503 = allowed_503
        ctx = ssl.create_default_context(cafile=opts.ca)
        self.conn = http.client.HTTPSConnection(
            "127.0.0.1", opts.port, context=ctx, timeout=HTTP_TIMEOUT)
        self.headers = {"Authorization": "Bearer " + opts.token,
                        "Content-Type": "application/json"}

    def call(self, ep, method, path, body=None):
        """(status, parsed body or None); status 0 when no answer came."""
        data = None if body is None else json.dumps(body).encode()
        try:
            self.conn.request(method, path, body=data, headers=self.headers)
            resp = self.conn.getresponse()
            raw = resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            self.stats.count(ep, 0, "transport", type(e).__name__)
            self.stats.fail("%s %s %s: no answer: %r" % (ep, method, path, e))
            return 0, None
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        err = (doc or {}).get("error") if isinstance(doc, dict) else None
        code = err.get("code", "") if isinstance(err, dict) else ""
        reason = err.get("reason", "") if isinstance(err, dict) else ""
        self.stats.count(ep, status, code, reason)
        if doc is None:
            self.stats.fail("%s %s: %d: body is not JSON: %r"
                            % (ep, path, status, raw[:200]))
        elif status >= 500:
            if not (status == 503 and code == "runtime_unavailable"
                    and reason in self.allowed_503):
                self.stats.fail("%s %s: undocumented %d %s/%s: %s"
                                % (ep, path, status, code, reason,
                                   raw[:300]))
        elif status not in EXPECTED[ep] or (
                ep == "input" and status == 409
                and (code, reason) not in INPUT_409):
            self.stats.fail("%s %s: unexpected %d %s/%s: %s"
                            % (ep, path, status, code, reason, raw[:300]))
        return status, doc

    def close(self):
        self.conn.close()


class Slot:
    """One worker kept alive on one profile by one thread."""

    def __init__(self, profile):
        self.profile = profile
        self.wid = None
        self.acks = 0


def profile_body(name):
    if name == "transcript":
        return {"kind": "builtin", "value": "transcript"}
    if name == "default":
        return {"kind": "runtime_default"}
    return {"kind": "named", "value": name}


class LoadThread(threading.Thread):
    """A client thread: the mix on its slots until stop_at, pausing at
    each phase the coordinator asks for (to settle and sample)."""

    def __init__(self, n, opts, stats, allowed_503, phases):
        super().__init__(daemon=True)
        self.n = n
        self.opts = opts
        self.stats = stats
        self.client = Client(opts, stats, allowed_503)
        self.rng = random.Random(opts.seed * 1000 + n)
        self.slots = [Slot(p) for p in SLOTS]
        self.phases = phases
        self.counter = 0
        self.ops = [w[0] for w in opts.mix]
        self.weights = [w[1] for w in opts.mix]

    def create(self, slot):
        st, doc = self.client.call(
            "create", "POST", "/v1/workers",
            {"profile": profile_body(slot.profile),
             "intent": {"kind": "task", "objective": "soak " + slot.profile}})
        slot.wid, slot.acks = None, 0
        if st == 201:
            slot.wid = doc["worker"]["worker_id"]
            with self.stats.lock:
                self.stats.created += 1

    def retire(self, slot):
        """An ended worker: check its transcript, then delete it, so the
        Runtime holds only what exists (issue 10: RAM must not grow with
        ended workers)."""
        checked = verify_worker(self.client, self.stats, slot.wid)
        st, _ = self.client.call("delete", "DELETE",
                                 "/v1/workers/" + slot.wid)
        if st == 200:
            self.stats.forget(slot.wid, checked)

    def end(self, slot, how):
        if slot.wid is not None:
            st, _ = self.client.call(how, "POST", "/v1/workers/%s/%s"
                                     % (slot.wid, how), {"reason": "soak"})
            if st == 200:
                self.retire(slot)
        self.create(slot)

    def input(self, slot):
        self.counter += 1
        content = "soak %s t%d n%d" % (self.opts.tag, self.n, self.counter)
        st, doc = self.client.call(
            "input", "POST", "/v1/workers/%s/input" % slot.wid,
            {"kind": self.rng.choice(["user", "user", "system"]),
             "content": content})
        if st == 200:
            self.stats.ack(slot.wid, doc["ack"]["transcript_sequence"],
                           content)
            slot.acks += 1
        elif st == 0 or st in (502, 504) or (st == 503 and doc and (
                doc.get("error", {}).get("reason")
                in ("upstream_failed", "upstream_timeout"))):
            self.stats.lost(slot.wid, content)
        elif st == 409 and doc["error"]["code"] != "busy":
            self.retire(slot)    # it failed by itself: a new one
            self.create(slot)

    def transcript(self, slot):
        start = self.rng.randrange(0, 4)
        for _ in range(PAGE_PROBE_PAGES):
            st, doc = self.client.call(
                "transcript", "GET", "/v1/workers/%s/transcript?start=%d"
                "&limit=%d" % (slot.wid, start, self.rng.choice([1, 2, 5])))
            if st != 200 or doc["transcript"]["next_start"] is None:
                return
            start = doc["transcript"]["next_start"]

    def step(self):
        slot = self.rng.choice(self.slots)
        if slot.wid is None:
            return self.create(slot)
        op = self.rng.choices(self.ops, self.weights)[0]
        if (op == "input" and BEHAVIOUR.get(slot.profile) == "hang"
                and slot.acks > 0):
            op = self.rng.choice(["stop", "cancel"])  # it will never answer
        if op == "input":
            self.input(slot)
        elif op in ("stop", "cancel", "create"):
            self.end(slot, "stop" if op == "create" else op)
        elif op == "detail":
            self.client.call("detail", "GET", "/v1/workers/" + slot.wid)
        elif op == "transcript":
            self.transcript(slot)
        elif op == "runtime":
            self.client.call("runtime", "GET", "/v1/runtime")
        elif op == "list":
            self.client.call("list", "GET", "/v1/workers?limit=%d"
                             % LIST_PAGE)

    def settle_slots(self):
        """Every slot: a fresh idle running worker (ends the others)."""
        for slot in self.slots:
            if slot.wid is not None and slot.acks == 0:
                st, doc = self.client.call("detail", "GET",
                                           "/v1/workers/" + slot.wid)
                if (st == 200 and doc["worker"]["status"] == "running"
                        and doc["worker"]["run_state"] == "idle"):
                    continue
            self.end(slot, "cancel")

    def run(self):
        try:
            for stop_at in self.phases.stops:
                while time.monotonic() < stop_at:
                    self.step()
                self.settle_slots()
                self.phases.arrive()
        except threading.BrokenBarrierError:
            pass
        except Exception:  # a bug or a malformed answer: end the run
            self.stats.fail("thread %d: %s" % (self.n,
                                               traceback.format_exc()))
            self.phases.barrier.abort()
        self.client.close()


class Phases:
    """The coordinator's barrier: threads run to each stop time, settle
    their slots, then wait here until the coordinator has sampled."""

    def __init__(self, nthreads, stops):
        self.stops = stops
        self.barrier = threading.Barrier(nthreads + 1)

    def arrive(self):
        """A thread: wait until all have arrived and been sampled."""
        self.barrier.wait(timeout=SETTLE_SECONDS + 120)
        self.barrier.wait(timeout=SETTLE_SECONDS + 120)

    def sampled(self, what):
        """The coordinator: wait for every thread, run what(), release."""
        self.barrier.wait(timeout=SETTLE_SECONDS + 120 + max(
            0, self.stops[-1] - time.monotonic()))
        what()
        self.barrier.wait(timeout=SETTLE_SECONDS + 120)


# ---- /proc -----------------------------------------------------------------

def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def proc_state(pid):
    st = read("/proc/%d/stat" % pid)
    return st.rsplit(")", 1)[1].split()[0] if st else None


def children(pid):
    out = []
    for t in os.listdir("/proc/%d/task" % pid):
        out += [int(c) for c in (read("/proc/%d/task/%s/children"
                                      % (pid, t)) or "").split()]
    return out


def tagged(tag):
    """Live processes whose environment holds SOAK_TAG=tag."""
    want = ("SOAK_TAG=%s" % tag).encode()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        env = read("/proc/%s/environ" % d, "rb")
        if env and want in env.split(b"\0") and proc_state(int(d)) != "Z":
            out.append(int(d))
    return out


def resources(pid):
    rss = re.search(r"^VmRSS:\s+(\d+) kB", read("/proc/%d/status" % pid),
                    re.M)
    return {"rss_kb": int(rss.group(1)),
            "fds": len(os.listdir("/proc/%d/fd" % pid))}


def settle(opts, nexec):
    """Waits (<= SETTLE_SECONDS) for: the Runtime's children are exactly
    the live tagged processes, nexec of them, none a zombie.  Returns
    (ok, what was seen last)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        kids = children(opts.runtime_pid)
        # The Runtime's one wr-watchdog helper (docs/worker-protocol.md)
        # is its child too, while exec workers run; it is no worker.
        dogs = [k for k in kids
                if (read("/proc/%d/comm" % k) or "").strip() == "wr-watchdog"]
        kids = [k for k in kids if k not in dogs]
        zombies = [k for k in kids + dogs if proc_state(k) == "Z"]
        tags = tagged(opts.tag)
        seen = {"children": len(kids), "zombies": len(zombies),
                "tagged": len(tags), "expected": nexec,
                "watchdogs": len(dogs),
                "orphans": sorted(set(tags) - set(kids))}
        if not zombies and sorted(tags) == sorted(kids) and \
                len(kids) == nexec and len(dogs) <= 1:
            return True, seen
        if time.monotonic() > deadline:
            return False, seen
        time.sleep(0.05)


# ---- the end: every acknowledged input is there exactly once ------------

def read_transcript(client, wid):
    items, start = [], 0
    for _ in range(MAX_PAGES):
        st, doc = client.call("transcript", "GET",
                              "/v1/workers/%s/transcript?start=%d"
                              % (wid, start))
        if st != 200:
            return None
        page = doc["transcript"]
        items += page["items"]
        if page["next_start"] is None:
            return items
        start = page["next_start"]
    return None


def verify_worker(client, stats, wid):
    """Checks one worker's transcript: dense sequences, every acknowledged
    input exactly once at its sequence, no input whose answer was lost
    twice.  Returns how many acknowledged inputs it checked."""
    checked = 0
    items = read_transcript(client, wid)
    if items is None:
        stats.fail("transcript of %s could not be read" % wid)
        return 0
    for i, it in enumerate(items):
        if it["sequence"] != i + 1:
            stats.fail("%s: entry %d has sequence %d"
                       % (wid, i, it["sequence"]))
            break
    inputs = {}
    for it in items:
        if it["role"] in ("user", "system"):
            inputs[it["content"]] = inputs.get(it["content"], 0) + 1
    with stats.lock:
        acked = sorted(stats.acked.get(wid, {}).items())
        unknown = list(stats.unknown.get(wid, []))
    for seq, content in acked:
        checked += 1
        at = items[seq - 1] if 0 < seq <= len(items) else None
        if at is None or at["content"] != content or \
                inputs.get(content) != 1:
            stats.fail("%s: acknowledged input #%d %r: %s"
                       % (wid, seq, content,
                          "missing" if at is None else
                          "found %d times, entry is %r"
                          % (inputs.get(content, 0), at["content"])))
    for content in unknown:
        if inputs.get(content, 0) > 1:
            stats.fail("%s: input %r (answer lost) is there %d times"
                       % (wid, content, inputs[content]))
    return checked


def verify_inputs(opts, stats, allowed_503):
    """The workers still there at the end (ended ones were checked before
    they were deleted)."""
    client = Client(opts, stats, allowed_503)
    checked = stats.checked
    for wid in sorted(set(stats.acked) | set(stats.unknown)):
        checked += verify_worker(client, stats, wid)
    client.close()
    return checked


# ---- the run ---------------------------------------------------------------

def sample(opts, stats, name, report):
    ok, seen = settle(opts, opts.threads * len(EXEC_SLOTS))
    res = resources(opts.runtime_pid)
    report[name] = dict(res, **seen)
    print("soak: %s: VmRSS %d kB, fds %d, children %d (expected %d), "
          "zombies %d, orphans %d" % (name, res["rss_kb"], res["fds"],
                                      seen["children"], seen["expected"],
                                      seen["zombies"], len(seen["orphans"])),
          flush=True)
    if not ok:
        stats.fail("%s: not settled within %d s: %s"
                   % (name, SETTLE_SECONDS, seen))


class Monitor(threading.Thread):
    """Samples the Runtime's VmRSS and fds every `every` seconds while the
    load runs (a time series for the report; checks use the settled
    samples)."""

    def __init__(self, opts, stats, every):
        super().__init__(daemon=True)
        self.opts, self.stats, self.every = opts, stats, every
        self.series = []
        self.done = threading.Event()

    def run(self):
        t0 = time.monotonic()
        while not self.done.wait(self.every):
            try:
                res = resources(self.opts.runtime_pid)
            except (OSError, TypeError):
                return
            with self.stats.lock:
                res["workers_created"] = self.stats.created
                res["acked_inputs"] = sum(len(v) for v in
                                          self.stats.acked.values())
            res["t"] = round(time.monotonic() - t0)
            self.series.append(res)
            print("soak: t=%ds VmRSS %d kB, fds %d, %d workers created, "
                  "%d inputs acknowledged" % (res["t"], res["rss_kb"],
                                              res["fds"],
                                              res["workers_created"],
                                              res["acked_inputs"]),
                  flush=True)


def run(opts):
    allowed_503 = documented_503_reasons(opts.api_md)
    stats = Stats()
    t0 = time.monotonic()
    warm_end = t0 + opts.warmup
    end = t0 + opts.duration
    phases = Phases(opts.threads, [warm_end, end])
    threads = [LoadThread(i, opts, stats, allowed_503, phases)
               for i in range(opts.threads)]
    monitor = Monitor(opts, stats, max(5, opts.duration / 10))
    monitor.start()
    for t in threads:
        t.start()
    report = {"tag": opts.tag, "threads": opts.threads}
    try:
        phases.sampled(lambda: sample(opts, stats, "after_warmup", report))
        phases.sampled(lambda: sample(opts, stats, "end", report))
    except threading.BrokenBarrierError:
        stats.fail("the load threads did not reach the sampling points")
        phases.barrier.abort()
    monitor.done.set()
    for t in threads:
        t.join(timeout=HTTP_TIMEOUT + SETTLE_SECONDS)
    monitor.join(timeout=5)
    report["series"] = monitor.series
    report["acked_inputs_checked"] = verify_inputs(opts, stats, allowed_503)
    report["duration_seconds"] = round(time.monotonic() - t0, 1)
    for what, bound in (("rss_kb", opts.rss_ratio), ("fds", opts.ratio)):
        if "end" not in report:
            break
        a, b = report["after_warmup"][what], report["end"][what]
        report[what + "_ratio"] = round(b / a, 3)
        if bound > 0 and b > bound * a:
            stats.fail("%s grew from %d to %d (> %.2fx)"
                       % (what, a, b, bound))
    return finish(report, stats)


def finish(report, stats):
    report["created_workers"] = stats.created
    report["deleted_workers"] = stats.deleted
    report["acked_inputs"] = sum(len(v) for v in stats.acked.values())
    report["lost_answers"] = sum(len(v) for v in stats.unknown.values())
    report["requests"] = {"%s %d" % k: v
                          for k, v in sorted(stats.by_status.items())}
    report["errors"] = {"%s %d %s/%s" % k: v
                        for k, v in sorted(stats.errors.items())}
    report["failures"] = stats.nfail
    total = sum(stats.by_status.values())
    print("soak: %d requests in %.1f s (%.0f/s), %d workers created, "
          "%d deleted, %d acknowledged inputs checked, %d answers lost"
          % (total, report["duration_seconds"],
             total / max(report["duration_seconds"], 1),
             stats.created, stats.deleted, report["acked_inputs_checked"],
             report["lost_answers"]))
    print("soak: requests by endpoint and status:")
    for k, v in report["requests"].items():
        print("  %-22s %7d" % (k, v))
    print("soak: error answers by endpoint, status, code/reason:")
    for k, v in report["errors"].items():
        print("  %-60s %7d" % (k, v))
    for what in ("rss_kb", "fds"):
        if "end" not in report:
            break
        print("soak: %s after warm-up %d, at the end %d (x%.3f)"
              % (what, report["after_warmup"][what], report["end"][what],
                 report[what + "_ratio"]))
    for f in stats.failures:
        print("soak: FAIL: " + f)
    if stats.nfail > len(stats.failures):
        print("soak: FAIL: ... and %d more" % (stats.nfail
                                               - len(stats.failures)))
    return report


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "orphans":
        print(" ".join(str(p) for p in tagged(sys.argv[2])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--runtime-pid", type=int, required=True)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--api-md", required=True)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--ratio", type=float, default=1.1,
                    help="bound of end/warm-up open fds")
    ap.add_argument("--rss-ratio", type=float, default=1.1,
                    help="bound of end/warm-up VmRSS; 0: report only")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", required=True)
    ap.add_argument("--mix", default="",
                    help="OP=WEIGHT,... overriding the default weights")
    opts = ap.parse_args()
    mix = dict(WEIGHTS)
    for item in filter(None, opts.mix.split(",")):
        op, _, w = item.partition("=")
        if op not in mix or not w.isdigit():
            ap.error("--mix: OP=WEIGHT with OP one of " + " ".join(mix))
        mix[op] = int(w)
    opts.mix = [(op, w) for op, w in mix.items() if w > 0]
    with open(opts.token_file) as f:
        opts.token = f.read().strip()
    if not 0 < opts.warmup < opts.duration:
        ap.error("need 0 < --warmup < --duration")
    report = run(opts)
    with open(opts.report, "w") as f:
        json.dump(report, f, indent=1)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
