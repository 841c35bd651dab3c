"""The rows where the schedule decides, not microseconds (issue 16), run by measure.py:

- `jobs`:     job makespan ÷ the lower bound the limits impose, on gcdn-emulator at the API's
              documented limits with the window shortened (2 URL purges per W), through the C job (benches/c/bench_job.c), the CLI, and a naive baseline
              written with the official Python SDK (benches/py/job_baseline.py);
- `shared`:   4 processes purging one resource, through one redis-server and without it;
- `coalesce`: 40 and 250 one-URL callers on one resource: the official Python SDK, a thread
              per caller (the baseline of gcdn's coalescing rows);
- `verify`:   1,000 purged URLs verified at a loopback edge (wall time, probes at once);
- `plan`:     planning 1,000,000 URLs over 50 resources, as given and in their cache-key
              form (benches/plan);
- `coldstart`: `gcdn purge --resource 1 /a` as a fresh process vs `curl` making the request.

Everything here measures and writes JSON-ready dicts; report.py judges.
"""

import http.client
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from util import BENCHES, BIN, OUT, ROOT, log, sh, which

API_KEY = "bench-key-0123456789abcdef"
EMULATOR = ROOT / "target" / "release" / "gcdn-emulator"
CLI = ROOT / "target" / "release" / "gcdn"

# The emulator's limits: the API's documented ones (2 URL purges per window; 1 pattern purge,
# and 1 purge-all, per window), per resource, with the window W shortened from 60 s. Nobody is
# told them: gcdn (the C job, the CLI, the shared-pacing workers) reads them from
# GET /cdn/clients/me/limits, as it does an account's (believed from 1/day to 100/s), and the
# bound is computed for N per W. W = 2.5 s: there the pacer's documented safety margin
# (`pacer::margin`: 2 % of a window, at least 50 ms) is 2 %, as at the API's own 60 s
# windows; shorter windows would measure the 50 ms floor instead (10 % of 500 ms).
WINDOW_MS = 2500
URL_WINDOW = (2, WINDOW_MS)
PATTERN_WINDOW = (1, WINDOW_MS)
MAX_URLS, MAX_PATTERNS = 100, 10
# (name, resources, URLs each, patterns each, with the baseline). At 2 URL purges per window
# a resource's first two requests go at once, so the 100-resource job has 300 URLs each (3
# requests): its bound is one window, the third request of every resource.
CASES = [("1 × 2,000 URLs", 1, 2000, 0, True),
         ("10 × (500 URLs + 5 patterns)", 10, 500, 5, True),
         ("100 × 300 URLs", 100, 300, 0, True)]
BASELINE_CAP_S = 60  # the naive baseline is stopped after this long per case
SHARED_PROCS, SHARED_BATCHES, SHARED_URLS = 4, 5, 10
# Coalescing across processes (issue 21): processes x URLs each, one call, one resource, the
# clients at the emulator's limits (they read them: URL_WINDOW).
COALESCE_PROCS, COALESCE_URLS = 8, 5
COLD_RUNS = 15


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have(what):
    """Whether the library has `what` ("job", "rate_store"), as bench_job's probe says."""
    exe = BIN / "bench_job"
    if not exe.exists():
        return False
    return bool(json.loads(sh([exe, "-", "probe"])).get(what))


def paced_bound_ms(requests, window):
    """The least time R requests on one key take at N per W: (ceil(R/N) - 1) x W."""
    n, w = window
    return 0 if requests <= 0 else (math.ceil(requests / n) - 1) * w


def case_requests(urls, patterns):
    return math.ceil(urls / MAX_URLS), math.ceil(patterns / MAX_PATTERNS)


def case_bound_ms(urls, patterns):
    """The slowest resource's paced schedule (every resource of a case is alike): its URL
    purges and its pattern purges are separate keys at the API, so the larger of the two."""
    u, p = case_requests(urls, patterns)
    return max(paced_bound_ms(u, URL_WINDOW), paced_bound_ms(p, PATTERN_WINDOW))


class Emulator:
    """gcdn-emulator on loopback at the documented limits with shortened windows (N per W
    for each kind), resources 1..`resources`."""

    def __init__(self, resources=200, url_window=URL_WINDOW, pattern_window=PATTERN_WINDOW):
        args = [str(a) for a in
            [EMULATOR, "--api-key", API_KEY, "--seed", "1-{}".format(resources), "--quiet",
             "--url-requests", url_window[0], "--url-window-ms", url_window[1],
             "--pattern-requests", pattern_window[0], "--pattern-window-ms", pattern_window[1],
             "--all-requests", pattern_window[0], "--all-window-ms", pattern_window[1],
             "--max-urls", MAX_URLS, "--max-patterns", MAX_PATTERNS]]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("GCDN_EMULATOR_URL="):
            self.stop()
            raise RuntimeError("gcdn-emulator did not start: " + repr(line))
        self.base = line.split("=", 1)[1]
        self.port = int(self.base.rsplit(":", 1)[1])

    def control(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status >= 300:
            raise RuntimeError("emulator control {} {}: {} {}".format(method, path, r.status, data[:200]))
        return json.loads(data) if data else None

    def reset(self):
        """Back to the start: rate windows empty, no requests recorded."""
        self.control("POST", "/__emulator/reset")

    def seen(self):
        """What the emulator answered since the last reset: purge requests, 429s, others."""
        reqs = self.control("GET", "/__emulator/requests")
        purges = [r for r in reqs if r["method"] == "POST" and r["path"].endswith("/purge")]
        return {
            "requests": len(reqs),
            "purge_requests": len(purges),
            "accepted": sum(1 for r in purges if r["status"] == 201),
            "rate_limited": sum(1 for r in purges if r["status"] == 429),
            "other_status": sorted({r["status"] for r in purges if r["status"] not in (201, 429)}),
            "non_purge": sorted({"{} {}".format(r["method"], r["path"].split("?")[0]) for r in reqs
                                 if r not in purges}),
        }

    def rtt_ms(self, resource):
        """One round trip: a one-URL purge on an idle resource, median of 5 (each on its own
        resource, so no window is touched twice)."""
        times = []
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for i in range(6):
            body = json.dumps({"urls": ["/rtt.png"]})
            t = time.perf_counter()
            c.request("POST", "/cdn/resources/{}/purge".format(resource + i), body=body,
                      headers={"Authorization": "APIKey " + API_KEY, "Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if i:
                times.append((time.perf_counter() - t) * 1e3)
        c.close()
        return statistics.median(times)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------
# Job makespan


def items(urls, patterns):
    return (["/job/u{}.png".format(i) for i in range(urls)],
            ["/job/p{}/*".format(j) for j in range(patterns)])


def run_c_job(emu, resources, urls, patterns):
    """The C job at the account's limits (0 0: no intervals set; the client reads them)."""
    exe = BIN / "bench_job"
    out = subprocess.run([str(a) for a in [exe, emu.base, "job", 0, 0, resources, urls, patterns, 1]],
                         capture_output=True, text=True, timeout=600)
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
    res = json.loads(line)
    totals = (res.get("report") or {}).get("totals", {})
    return {"makespan_ms": res.get("makespan_ms"), "status": res.get("status"),
            "reported_requests": totals.get("requests"), "reported_429": totals.get("rate_limited"),
            "failed": totals.get("failed"), "error": out.stderr.strip()[-300:] or None}


def run_cli_job(emu, resources, urls, patterns):
    """The CLI on the same job, at the account's limits (it reads them): full URLs (mapped by
    host through the listing) from a file; the patterns, if any, by a second process started
    at the same time (one invocation purges one kind)."""
    work = Path(tempfile.mkdtemp(prefix="cli-job-", dir=OUT))
    u, p = items(urls, patterns)
    (work / "urls.txt").write_text("".join("https://cdn{}.example.com{}\n".format(r, x)
                                           for r in range(1, resources + 1) for x in u))
    env = dict(os.environ, GCORE_API_KEY=API_KEY, GCORE_BASE_URL=emu.base)
    cmds = [[CLI, "purge", "--quiet", "--json", "--from", work / "urls.txt"]]
    if patterns:
        (work / "patterns.txt").write_text("".join("https://cdn{}.example.com{}\n".format(r, x)
                                                   for r in range(1, resources + 1) for x in p))
        cmds.append([CLI, "purge", "--quiet", "--json", "--patterns", "--from", work / "patterns.txt"])
    t = time.perf_counter()
    procs = [subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for cmd in cmds]
    outs = [pr.communicate(timeout=600) for pr in procs]
    wall = (time.perf_counter() - t) * 1e3
    summaries = []
    for so, _ in outs:
        for line in so.splitlines():
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if o.get("type") == "summary" or "totals" in o:
                summaries.append(o.get("totals", o))
    shutil.rmtree(work, ignore_errors=True)
    return {"makespan_ms": wall, "exit": [pr.returncode for pr in procs],
            "reported_429": sum(s.get("rate_limited", 0) for s in summaries) if summaries else None,
            "error": "; ".join(e.strip()[-200:] for _, e in outs if e.strip()) or None}


def run_baseline(python, emu, resources, urls, patterns):
    out = subprocess.run([str(a) for a in [python, BENCHES / "py" / "job_baseline.py", emu.base, resources, urls,
                          patterns, MAX_URLS, MAX_PATTERNS, BASELINE_CAP_S]],
                         capture_output=True, text=True, timeout=BASELINE_CAP_S + 120)
    if out.returncode != 0 or not out.stdout.strip():
        return {"error": out.stderr.strip()[-300:] or "exit {}".format(out.returncode)}
    return json.loads(out.stdout.strip().splitlines()[-1])


def jobs(python, with_cli=True, with_baseline=True, meanwhile=None):
    """The job rows; `meanwhile` (a function) runs after the gcdn rows, while the baseline
    may still be running, and its result is returned beside them."""
    res = {"url_window": list(URL_WINDOW), "pattern_window": list(PATTERN_WINDOW),
           "max_urls": MAX_URLS, "max_patterns": MAX_PATTERNS, "baseline_cap_s": BASELINE_CAP_S,
           "cases": []}
    have_c = have("job")
    with_cli = with_cli and CLI.exists()
    if not have_c:
        res["c_note"] = "this libgcdn has no job ABI (gcdn_job_run)"
    if not CLI.exists():
        res["cli_note"] = "the CLI is missing"
    if with_cli:
        res["cli_version"] = sh([CLI, "--version"]).strip()
    # The baseline runs beside the gcdn rows, against an emulator of its own: it spends its
    # time in its SDK's retry sleeps, and capped, it still takes longest.
    baseline = {}
    bthread = None
    if with_baseline:
        bemu = Emulator()

        def run_all():
            try:
                for name, r, u, p, with_b in CASES:
                    if not with_b:
                        continue
                    bemu.reset()
                    b = run_baseline(python, bemu, r, u, p)
                    b["seen"] = bemu.seen()
                    baseline[name] = b
            finally:
                bemu.stop()

        bthread = threading.Thread(target=run_all, daemon=True)
        bthread.start()
    emu = Emulator()
    try:
        res["rtt_ms"] = emu.rtt_ms(190)
        for name, r, u, p, with_b in CASES:
            ur, pr = case_requests(u, p)
            case = {"name": name, "resources": r, "urls": u, "patterns": p, "window_ms": WINDOW_MS,
                    "url_requests_each": ur, "pattern_requests_each": pr, "baseline_run": with_b,
                    "bound_ms": case_bound_ms(u, p), "min_requests": r * (ur + pr)}
            if have_c:
                log("job {}: the C job".format(name))
                emu.reset()
                c = run_c_job(emu, r, u, p)
                c["seen"] = emu.seen()
                case["c"] = c
            if with_cli:
                log("job {}: the CLI".format(name))
                emu.reset()
                c = run_cli_job(emu, r, u, p)
                c["seen"] = emu.seen()
                case["cli"] = c
            res["cases"].append(case)
    finally:
        emu.stop()
    extra = meanwhile() if meanwhile else None
    if bthread is not None:
        log("job: waiting for the baseline (official Python SDK)")
        bthread.join(timeout=len(CASES) * (BASELINE_CAP_S + 150))
        for case in res["cases"]:
            if case["baseline_run"]:
                case["baseline"] = baseline.get(case["name"], {"error": "did not finish"})
    return res, extra


# ---------------------------------------------------------------------------------------
# Coalescing: many one-URL callers on one resource (issue 21)

COALESCE_CALLERS = (40, 250)
COALESCE_RESOURCE = 5


def coalesce_requests(callers):
    """The requests a perfect merger needs for `callers` one-URL calls: full ones."""
    return math.ceil(callers / MAX_URLS)


def coalesce_bound_ms(callers):
    """The callers start while the resource's window is full (N requests just sent, at the
    clock's start), so a perfect merger's first full request goes one window later, and R of
    them take ceil(R/N) windows."""
    n, w = URL_WINDOW
    return math.ceil(coalesce_requests(callers) / n) * w


def last_json(r):
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": r.stderr.strip()[-300:] or "exit {}".format(r.returncode)}


def coalesce(python=None):
    """The coalescing rows: C one-URL callers, threads of one gcdn client (`bench_job callers`),
    coalescing on and off (each call waits at most BASELINE_CAP_S for its slot), and the
    official Python SDK with a thread per caller (benches/py/coalesce_baseline.py; `python`
    None: not run); each after N warm-up calls that fill the window."""
    emu = Emulator()
    out = {"window": list(URL_WINDOW), "cap_s": BASELINE_CAP_S, "cases": []}
    try:
        for callers in COALESCE_CALLERS:
            case = {"callers": callers, "requests_min": coalesce_requests(callers),
                    "bound_ms": coalesce_bound_ms(callers)}
            gcdn = [BIN / "bench_job", emu.base, "callers", callers, COALESCE_RESOURCE, URL_WINDOW[0],
                    BASELINE_CAP_S * 1000]
            runs = [("gcdn", gcdn), ("gcdn_off", gcdn + ["no-coalesce"])]
            if python is not None:
                runs.append(("sdk", [python, BENCHES / "py" / "coalesce_baseline.py", emu.base, callers,
                                     COALESCE_RESOURCE, URL_WINDOW[0], BASELINE_CAP_S]))
            for impl, cmd in runs:
                log("coalescing: {} one-URL callers, {}".format(callers, impl))
                emu.reset()
                r = subprocess.run([str(a) for a in cmd], capture_output=True, text=True,
                                   timeout=BASELINE_CAP_S + 120)
                res = last_json(r)
                res["seen"] = emu.seen()
                case[impl] = res
            out["cases"].append(case)
    finally:
        emu.stop()
    return out


# ---------------------------------------------------------------------------------------
# Verification at the edge (issue 22)

VERIFY_RESOURCES, VERIFY_URLS, VERIFY_ALONE_RUNS = 10, 100, 5
VERIFY_FIRST_ID = 11


class Edge:
    """An edge on loopback for the verification row, one thread with non-blocking sockets (so
    that it adds no thread start per probe): every connection's request head is read and
    answered `200`, `Cache: MISS` (fresh), `X-ID: bench-edge`, then closed. It counts the
    connections open at once (accepted, not yet answered) and times each, accept to close."""

    ANSWER = (b"HTTP/1.1 200 OK\r\nCache: MISS\r\nX-ID: bench-edge\r\nContent-Length: 0\r\n"
              b"Connection: close\r\n\r\n")

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.sock.setblocking(False)
        self.url = "http://127.0.0.1:{}".format(self.sock.getsockname()[1])
        self.lock = threading.Lock()
        self.stopped = False
        self.reset()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def reset(self):
        with self.lock:
            self.most, self.spans, self.heads = 0, [], []

    def serve(self):
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        conns = {}  # socket -> [accepted at, head so far]
        while not self.stopped:
            for key, _ in sel.select(timeout=0.2):
                if key.fileobj is self.sock:
                    while True:
                        try:
                            c, _ = self.sock.accept()
                        except (BlockingIOError, OSError):
                            break
                        c.setblocking(False)
                        conns[c] = [time.perf_counter(), b""]
                        sel.register(c, selectors.EVENT_READ)
                    with self.lock:
                        self.most = max(self.most, len(conns))
                    continue
                c = key.fileobj
                st = conns[c]
                try:
                    chunk = c.recv(16384)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                st[1] += chunk
                if chunk and b"\r\n\r\n" not in st[1] and len(st[1]) < 16384:
                    continue
                try:
                    if chunk:
                        c.send(self.ANSWER)
                except OSError:
                    pass
                sel.unregister(c)
                c.close()
                del conns[c]
                with self.lock:
                    self.spans.append((st[0], time.perf_counter()))
                    self.heads.append(st[1].split(b"\r\n", 1)[0].decode("latin-1"))
        sel.close()

    def stop(self):
        self.stopped = True
        self.thread.join(timeout=5)
        self.sock.close()


def run_verify(emu, edge, resources, urls):
    emu.reset()
    edge.reset()
    out = subprocess.run([str(a) for a in [BIN / "bench_job", emu.base, "verify", edge.url, resources, urls,
                                           VERIFY_FIRST_ID]], capture_output=True, text=True, timeout=600)
    try:
        res = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = {"error": out.stderr.strip()[-300:] or "exit {}".format(out.returncode)}
    with edge.lock:
        spans, most, heads = list(edge.spans), edge.most, list(edge.heads)
    res["probes_seen"] = len(spans)
    res["heads"] = sorted({h.split(" ")[0] for h in heads})
    res["at_once"] = most
    res["wall_ms"] = (max(b for _, b in spans) - min(a for a, _ in spans)) * 1e3 if spans else None
    res["probe_ms"] = statistics.median((b - a) * 1e3 for a, b in spans) if spans else None
    return res


def verify():
    """1,000 purged URLs (10 resources × 100) verified at a loopback edge: the edge's wall time
    (first probe accepted to last closed), the connections open at once, and one probe's time
    alone (a 1-URL job, median of VERIFY_ALONE_RUNS)."""
    if not (BIN / "bench_job").exists():
        return {"note": "bench_job is not built"}
    emu = Emulator()
    edge = Edge()
    try:
        log("verification: one probe alone, {} runs".format(VERIFY_ALONE_RUNS))
        alone = [run_verify(emu, edge, 1, 1) for _ in range(VERIFY_ALONE_RUNS)]
        log("verification: {} URLs".format(VERIFY_RESOURCES * VERIFY_URLS))
        many = run_verify(emu, edge, VERIFY_RESOURCES, VERIFY_URLS)
    finally:
        edge.stop()
        emu.stop()
    probe = [a["probe_ms"] for a in alone if a.get("probe_ms") is not None]
    return {"resources": VERIFY_RESOURCES, "urls": VERIFY_URLS, "alone": alone, "run": many,
            "one_probe_ms": statistics.median(probe) if probe else None}


# ---------------------------------------------------------------------------------------
# Shared pacing through redis-server


class Redis:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="redis-", dir=OUT))
        self.port = free_port()
        self.proc = subprocess.Popen(
            [which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=open(self.dir / "redis.log", "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("redis-server did not start: " + (self.dir / "redis.log").read_text()[-500:])
                time.sleep(0.05)
        self.url = "redis://127.0.0.1:{}/0".format(self.port)
        self.version = sh([which("redis-server"), "--version"]).strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def shared_run(emu, resource, store, url_ms):
    """Coalescing off (`no-coalesce`): this row is the shared pacing of issue 14, each batch its
    own request (the coalescing rows are the coalesce-redis ones)."""
    emu.reset()
    procs = [subprocess.Popen([str(x) for x in [BIN / "bench_job", emu.base, "batches", url_ms,
                                                resource, SHARED_BATCHES, SHARED_URLS, store, "no-coalesce"]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(SHARED_PROCS)]
    outs = [p.communicate(timeout=600) for p in procs]
    rows = []
    for so, se in outs:
        try:
            rows.append(json.loads(so.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            rows.append({"error": se.strip()[-300:]})
    ok = [r for r in rows if "start_unix_ns" in r]
    makespan = (max(r["end_unix_ns"] for r in ok) - min(r["start_unix_ns"] for r in ok)) / 1e6 if ok else None
    return {"makespan_ms": makespan, "failures": sum(r.get("failures", 1) for r in rows),
            "errors": [r["error"] for r in rows if "error" in r] or
                      sorted({l for _, se in outs for l in se.strip().splitlines()})[:5],
            "seen": emu.seen()}


def shared():
    if not have("rate_store"):
        return {"note": "this libgcdn has no gcdn_options_set_rate_store"}
    if not which("redis-server"):
        return {"note": "redis-server is not installed"}
    requests = SHARED_PROCS * SHARED_BATCHES
    res = {"processes": SHARED_PROCS, "batches": SHARED_BATCHES, "urls_per_batch": SHARED_URLS,
           "window": list(URL_WINDOW), "requests": requests, "bound_ms": paced_bound_ms(requests, URL_WINDOW)}
    emu = Emulator()
    redis = Redis()
    try:
        res["redis"] = redis.version
        log("shared pacing: {} processes through {}".format(SHARED_PROCS, redis.url))
        # URL_MS 0: every process at the account's limits (it reads them: N per W).
        res["store"] = shared_run(emu, 1, redis.url, 0)
        log("shared pacing: {} processes without the store".format(SHARED_PROCS))
        # Without the store the processes meet 429s, which would make a client paced at the
        # account's limits fall back to the documented 2 a minute for the rest of its life (5
        # minutes here): this control row is told one request per W/N instead.
        res["alone"] = shared_run(emu, 2, "-", URL_WINDOW[1] // URL_WINDOW[0])
    finally:
        redis.stop()
        emu.stop()
    return res


# ---------------------------------------------------------------------------------------
# Coalescing across processes through redis-server (issue 21)


def coalesce_redis_run(emu, resource, store, coalesce):
    emu.reset()
    cmd = [str(x) for x in [BIN / "bench_job", emu.base, "batches", 0, resource, 1,
                            COALESCE_URLS, store]] + ([] if coalesce else ["no-coalesce"])
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(COALESCE_PROCS)]
    outs = [p.communicate(timeout=600) for p in procs]
    rows = []
    for so, se in outs:
        try:
            rows.append(json.loads(so.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            rows.append({"error": se.strip()[-300:]})
    ok = [r for r in rows if "start_unix_ns" in r]
    makespan = (max(r["end_unix_ns"] for r in ok) - min(r["start_unix_ns"] for r in ok)) / 1e6 if ok else None
    return {"makespan_ms": makespan, "failures": sum(r.get("failures", 1) for r in rows),
            "errors": [r["error"] for r in rows if "error" in r] or
                      sorted({l for _, se in outs for l in se.strip().splitlines()})[:5],
            "seen": emu.seen()}


def coalesce_redis():
    """8 processes x 5 URLs of one resource, one call each, started together, through one
    redis-server: coalescing on, then off (each call its own request), in one run."""
    if not have("rate_store"):
        return {"note": "this libgcdn has no gcdn_options_set_rate_store"}
    if not which("redis-server"):
        return {"note": "redis-server is not installed"}
    urls = COALESCE_PROCS * COALESCE_URLS
    # A perfect merger: the first N calls go at once, alone (coalescing never delays a request
    # that could go now); everything else fits the next slot's full requests.
    n = URL_WINDOW[0]
    merged = n + math.ceil((urls - n * COALESCE_URLS) / MAX_URLS)
    res = {"processes": COALESCE_PROCS, "urls_per_call": COALESCE_URLS, "urls": urls,
           "window": list(URL_WINDOW), "perfect_requests": merged,
           "bound_ms": paced_bound_ms(merged, URL_WINDOW),
           "off_requests": COALESCE_PROCS, "off_bound_ms": paced_bound_ms(COALESCE_PROCS, URL_WINDOW)}
    emu = Emulator()
    redis = Redis()
    try:
        res["redis"] = redis.version
        log("coalescing: {} processes x {} URLs through {}".format(COALESCE_PROCS, COALESCE_URLS, redis.url))
        res["on"] = coalesce_redis_run(emu, 1, redis.url, True)
        log("coalescing off: the same load")
        res["off"] = coalesce_redis_run(emu, 2, redis.url, False)
    finally:
        redis.stop()
        emu.stop()
    return res


# ---------------------------------------------------------------------------------------
# Planning


def plan():
    exe = ROOT / "target" / "release" / "examples" / "plan_bench"
    if not exe.exists():
        return {"note": "benches/plan (the plan_bench example) is not in this tree"}
    out = []
    for case in ("issue16", "cachekey", "cachekey-exact", "cachekey-unshared", "full_urls", "paths"):
        r = subprocess.run([exe, "1000000", case], capture_output=True, text=True, timeout=300)
        if r.returncode == 0 and r.stdout.strip():
            out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return {"cases": out}


# ---------------------------------------------------------------------------------------
# CLI cold start


def coldstart(server_base):
    """`gcdn purge --resource 100 /a` as a fresh process vs `curl` making the same request,
    start to exit, against the benchmark's nginx (median of COLD_RUNS, interleaved)."""
    if not CLI.exists():
        return {"note": "target/release/gcdn is not built"}
    env = dict(os.environ, GCORE_API_KEY=API_KEY, GCORE_BASE_URL=server_base)
    cli = [CLI, "purge", "--quiet", "--resource", "100", "/a"]
    curl = [which("curl"), "-s", "-o", "/dev/null", "-X", "POST", "-H", "Authorization: APIKey " + API_KEY,
            "-H", "Content-Type: application/json", "-H", "Accept: application/json",
            "--data", '{"urls":["/a"]}', server_base + "/cdn/resources/100/purge"]
    times = {"cli": [], "curl": []}
    fails = {"cli": 0, "curl": 0}
    for i in range(COLD_RUNS + 1):
        for k, cmd in (("cli", cli), ("curl", curl)):
            t = time.perf_counter()
            r = subprocess.run([str(c) for c in cmd], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            dt = (time.perf_counter() - t) * 1e3
            if r.returncode != 0:
                fails[k] += 1
                times.setdefault(k + "_error", r.stderr.strip()[-200:])
            if i:
                times[k].append(dt)
    return {"runs": COLD_RUNS, "cli_ms": statistics.median(times["cli"]), "curl_ms": statistics.median(times["curl"]),
            "cli_spread": [min(times["cli"]), max(times["cli"])], "curl_spread": [min(times["curl"]), max(times["curl"])],
            "failures": fails, "cli_error": times.get("cli_error"), "curl_error": times.get("curl_error"),
            "curl_version": sh([which("curl"), "--version"]).splitlines()[0]}
