"""The measurement: starts nginx on loopback (benches/nginx.conf), runs every row in one run
and writes what it measured, as JSON rows, to target/bench/results.json. Nothing here judges
or formats: benches/report.py turns the JSON into BENCHMARKS.md against benches/targets.json.

    benches/measure.py [--quick] [--sections c,bindings,threads,bulk,callgrind,strace,imports,load,so]

Environment: BENCH_ROUNDS (default 20) interleaved rounds of the C and wrk rows,
BENCH_BINDING_ROUNDS (default 7) of the Python and Go rows. `--quick`: one round of each,
short loops (to check the pieces work; its figures are not for the report).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import schedule
from util import BENCHES, BIN, LIB, OPS, OUT, RESULTS, ROOT, first_line, log, sh, which

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
BINDING_ROUNDS = int(os.environ.get("BENCH_BINDING_ROUNDS", "7"))
C_CALLS, C_WARMUP = 1500, 200
PY_CALLS, PY_SDK_CALLS, PY_WARMUP = 3000, 600, 100
GO_CALLS, GO_WARMUP = 3000, 200
WRK_SECONDS = 1
THREADS, THREAD_CALLS, THREAD_RUNS = 8, 8000, 5
CG_CALLS = (100, 1100)
IMPORT_RUNS = 9
LOAD_RUNS = 9
BULK_RUNS = 3
BULK_FIRST_ID = 900001

SECTIONS = ("c", "bindings", "threads", "bulk", "callgrind", "strace", "imports", "load", "so",
            "jobs", "shared", "coalesce", "coalesce-redis", "verify", "plan", "coldstart")


def quick():
    """Short everything: one round, short loops."""
    global ROUNDS, BINDING_ROUNDS, C_CALLS, C_WARMUP, PY_CALLS, PY_SDK_CALLS, PY_WARMUP
    global GO_CALLS, GO_WARMUP, THREAD_CALLS, THREAD_RUNS, IMPORT_RUNS, LOAD_RUNS, BULK_RUNS
    ROUNDS, BINDING_ROUNDS = 1, 1
    C_CALLS, C_WARMUP = 300, 50
    PY_CALLS, PY_SDK_CALLS, PY_WARMUP = 300, 100, 20
    GO_CALLS, GO_WARMUP = 300, 50
    THREAD_CALLS, THREAD_RUNS = 800, 1
    IMPORT_RUNS, LOAD_RUNS, BULK_RUNS = 2, 2, 1
    schedule.BASELINE_CAP_S, schedule.COLD_RUNS = 15, 3


def settings():
    return {"rounds": ROUNDS, "binding_rounds": BINDING_ROUNDS, "c_calls": C_CALLS, "c_warmup": C_WARMUP,
            "py_calls": PY_CALLS, "py_sdk_calls": PY_SDK_CALLS, "go_calls": GO_CALLS,
            "wrk_seconds": WRK_SECONDS, "threads": THREADS, "thread_calls": THREAD_CALLS,
            "thread_runs": THREAD_RUNS, "cg_calls": list(CG_CALLS), "import_runs": IMPORT_RUNS,
            "load_runs": LOAD_RUNS, "bulk_runs": BULK_RUNS}


# ---------------------------------------------------------------------------------------
# The server


class Nginx:
    """One nginx on loopback, one worker, pinned to `cpu`, logging every request."""

    def __init__(self, cpu):
        self.dir = OUT / "nginx"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        (self.dir / "tmp").mkdir(parents=True)
        os.chmod(self.dir / "tmp", 0o777)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = "http://127.0.0.1:{}".format(self.port)
        self.log = self.dir / "access.log"
        d = self.dir
        conf = (BENCHES / "nginx.conf").read_text()
        conf = conf.replace("@DIR@", str(d)).replace("@PORT@", str(self.port))
        (d / "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(cpu), which("nginx"), "-c", d / "nginx.conf", "-p", d],
            stdout=open(d / "stdout.log", "w"), stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    errors = (d / "error.log").read_text() if (d / "error.log").exists() else ""
                    raise RuntimeError("nginx did not start:\n" + (d / "stdout.log").read_text() + errors)
                time.sleep(0.05)
        self.version = first_line([which("nginx"), "-v"], stderr=True).replace("nginx version: ", "")

    def mark(self):
        return self.log.stat().st_size if self.log.exists() else 0

    def since(self, mark):
        """The requests logged since `mark`: (connection, method, uri, status, length)."""
        time.sleep(0.05)  # nginx logs after it has answered
        with open(self.log, "rb") as f:
            f.seek(mark)
            lines = f.read().decode().splitlines()
        out = []
        for line in lines:
            p = line.split()
            if len(p) == 6:
                out.append((p[0], p[2], p[3], int(p[4]), int(p[5])))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------
# Measuring


def parse_wrk(text, name):
    def us(value, unit):
        return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]

    pct = {p: us(v, u) for p, v, u in re.findall(r"^\s*(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"name": name, "median_us": pct["50"], "p99_us": pct["99"], "calls_per_s": rps,
            "cpu_us": None, "failures": int(errors.group(1)) if errors else 0}


class Rows:
    """The per-call rows, run in interleaved rounds, each checked at the server."""

    def __init__(self, server, cpu, python, sdk_note, sections):
        self.server = server
        self.pin = ["taskset", "-c", str(cpu)]
        base = server.base
        py_env = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"))
        self.rows = []  # (key, label, command, env)
        self.groups = []  # (what, rounds, rows)
        for op in OPS:
            self.rows.append((("gcdn-c", op), "gcdn, from C", [BIN / "bench_gcdn", base, op, C_CALLS, C_WARMUP], None))
            self.rows.append((("curl-c", op), "libcurl loop, C", [BIN / "bench_curl", base, op, C_CALLS, C_WARMUP], None))
            self.rows.append((("wrk", op), "wrk -t1 -c1 (floor)",
                              ["wrk", "-t1", "-c1", "-d{}s".format(WRK_SECONDS), "--latency",
                               "-s", BENCHES / "wrk" / (op + ".lua"), base], None))
            self.rows.append((("gcdn-py", op), "gcdn Python binding",
                              [python, BENCHES / "py" / "bench.py", base, "gcdn", op, PY_CALLS, PY_WARMUP], py_env))
            # gcdn.AsyncClient (issue 23): each call awaited in turn on one event loop.
            self.rows.append((("gcdn-py-async", op), "gcdn Python AsyncClient",
                              [python, BENCHES / "py" / "bench.py", base, "gcdn-async", op, PY_CALLS, PY_WARMUP], py_env))
            if sdk_note is None:
                self.rows.append((("gcore-py", op), "official Python SDK (gcore)",
                                  [python, BENCHES / "py" / "bench.py", base, "gcore", op, PY_SDK_CALLS, PY_WARMUP], py_env))
            self.rows.append((("gcdn-go", op), "gcdn Go binding", [BIN / "bench-go-gcdn", base, op, GO_CALLS, GO_WARMUP], None))
            self.rows.append((("gcdn-go-deadline", op), "gcdn Go binding, deadline context",
                              [BIN / "bench-go-gcdn", base, op, GO_CALLS, GO_WARMUP, "deadline"], None))
            self.rows.append((("sdk-go", op), "Go SDK", [BIN / "bench-go-sdk", base, op, GO_CALLS, GO_WARMUP], None))
            # The Go rows once more, not pinned: Go's scheduler reacts to one core differently
            # for a blocking cgo call than for its own netpoller (see the report).
            self.rows.append((("gcdn-go-free", op), "gcdn Go binding, not pinned",
                              [BIN / "bench-go-gcdn", base, op, GO_CALLS, GO_WARMUP], None))
            self.rows.append((("sdk-go-free", op), "Go SDK, not pinned",
                              [BIN / "bench-go-sdk", base, op, GO_CALLS, GO_WARMUP], None))
            if op == "purge":
                # The new per-call path (issue 16): call_timeout= beside the plain call (the
                # Go deadline rows are above, for both calls).
                self.rows.append((("gcdn-py-timeout", op), "gcdn Python binding, call_timeout=",
                                  [python, BENCHES / "py" / "bench.py", base, "gcdn", "purge-timeout", PY_CALLS, PY_WARMUP], py_env))
        if schedule.have("job"):
            # A one-URL job through gcdn_job_run vs the same purge through gcdn_purge_urls.
            for who, label, mode in (("gcdn-c-purge1", "gcdn_purge_urls, 1 URL", "purge1"),
                                     ("gcdn-c-job1", "gcdn_job_run, 1-URL job", "job1")):
                self.rows.append(((who, "one"), label, [BIN / "bench_job", base, mode, C_CALLS, C_WARMUP], None))
        c_rows = [r for r in self.rows if r[0][0] in ("gcdn-c", "curl-c", "wrk", "gcdn-c-purge1", "gcdn-c-job1")]
        self.groups = []
        if "c" in sections:
            self.groups.append(("C and wrk rows", ROUNDS, c_rows))
        if "bindings" in sections:
            self.groups.append(("Python and Go rows", BINDING_ROUNDS, [r for r in self.rows if r not in c_rows]))
        self.out = []  # one JSON row per program run

    def run_one(self, key, label, cmd, env, round_no):
        mark = self.server.mark()
        out = sh((self.pin if not key[0].endswith("-free") else []) + cmd, env=env, timeout=600)
        if key[0] == "wrk":
            res = parse_wrk(out, key[0])
        else:
            res = json.loads(out.strip().splitlines()[-1])
        reqs = self.server.since(mark)
        conns = {r[0] for r in reqs}
        want = 204 if key[1] == "delete" else 201
        reqs = [r for r in reqs if r[1] != "GET"]  # the account's limits, read once per client
        self.out.append({
            "who": key[0], "op": key[1], "label": label, "round": round_no, "result": res,
            "seen": {
                "requests": len(reqs),
                "connections": len(conns),
                "bytes": statistics.mean(r[4] for r in reqs) if reqs else 0,
                "wrong": sum(1 for r in reqs if r[3] != want),
            },
        })

    def run(self):
        for what, rounds, rows in self.groups:
            for i in range(rounds):
                log("{}: round {} of {}".format(what, i + 1, rounds))
                order = rows if i % 2 == 0 else list(reversed(rows))
                for key, label, cmd, env in order:
                    self.run_one(key, label, cmd, env, i)


def threads_row(server):
    runs = []
    for _ in range(THREAD_RUNS):
        runs.append(json.loads(sh([BIN / "bench_gcdn", server.base, "threads", THREAD_CALLS, THREADS]).strip()))
    med = lambda f: statistics.median(r[f] for r in runs)
    return {f: med(f) for f in ("one_thread_calls_per_s", "calls_per_s", "ratio", "client_each_calls_per_s",
                                "median_us", "p99_us")}


def bulk_row(server, pin):
    runs = []
    for i in range(BULK_RUNS):
        rid = BULK_FIRST_ID + i
        mark = server.mark()
        r = json.loads(sh(pin + [BIN / "bench_gcdn", server.base, "bulk", rid]).strip())
        reqs = [q for q in server.since(mark) if q[2] == "/cdn/resources/{}/purge".format(rid)]
        r["requests_seen"] = len(reqs)
        r["connections"] = len({q[0] for q in reqs})
        runs.append(r)
    return {
        "runs": len(runs),
        "items": runs[0]["items"],
        "unique": runs[0]["unique"],
        "expected": runs[0]["expected_requests"],
        "requests": [r["requests_seen"] for r in runs],
        "connections": max(r["connections"] for r in runs),
        "wall_ms": statistics.median(r["wall_ms"] for r in runs),
    }


def callgrind_row(server):
    """Client instructions per call: (I(N2) - I(N1)) / (N2 - N1), set-up cancels out."""
    cg = OUT / "callgrind"
    cg.mkdir(parents=True, exist_ok=True)
    res = []
    for prog in ("gcdn", "curl"):
        for op in OPS:
            totals = []
            for n in CG_CALLS:
                f = cg / "{}-{}-{}.out".format(prog, op, n)
                sh(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + str(f),
                    BIN / ("bench_" + prog), server.base, op, n, 0, "count"])
                totals.append(int(re.search(r"^totals:\s+(\d+)", f.read_text(), re.M).group(1)))
            res.append({"prog": prog, "op": op, "per_call": (totals[1] - totals[0]) / (CG_CALLS[1] - CG_CALLS[0])})
    return res


def syscalls(server, python=None):
    """System calls per call: strace -c of the C programs at two call counts (difference),
    and of wrk (total over requests)."""
    st = OUT / "strace"
    st.mkdir(parents=True, exist_ok=True)

    def counts(f):
        out = {}
        for line in f.read_text().splitlines():
            p = line.split()
            if len(p) >= 5 and p[0][0].isdigit() and p[-1] != "total":
                out[p[-1]] = int(p[3])
        return out

    res = []
    for prog in ("gcdn", "curl"):
        for op in OPS:
            per = []
            for n in CG_CALLS:
                f = st / "{}-{}-{}.txt".format(prog, op, n)
                sh(["strace", "-f", "-c", "-o", f, BIN / ("bench_" + prog), server.base, op, n, 0, "count"])
                per.append(counts(f))
            d = CG_CALLS[1] - CG_CALLS[0]
            calls = {k: (per[1].get(k, 0) - per[0].get(k, 0)) / d for k in per[1]}
            res.append({"prog": prog, "op": op, "calls": {k: v for k, v in calls.items() if v >= 0.05}})
    if schedule.have("job"):
        # The one-URL job vs the same purge (bench_job, resources turned over as in its rows).
        for mode in ("purge1", "job1"):
            per = []
            for n in CG_CALLS:
                f = st / "{}-{}.txt".format(mode, n)
                sh(["strace", "-f", "-c", "-o", f, BIN / "bench_job", server.base, mode, n, 0])
                per.append(counts(f))
            d = CG_CALLS[1] - CG_CALLS[0]
            calls = {k: (per[1].get(k, 0) - per[0].get(k, 0)) / d for k in per[1]}
            res.append({"prog": mode, "op": "one", "calls": {k: v for k, v in calls.items() if v >= 0.05}})
    if python is not None:
        # gcdn.AsyncClient vs gcdn.Client, the same purges (benches/py/bench.py).
        env = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"))
        for mode in ("gcdn", "gcdn-async"):
            per = []
            for n in CG_CALLS:
                f = st / "py-{}-{}.txt".format(mode, n)
                sh(["strace", "-f", "-c", "-o", f, python, BENCHES / "py" / "bench.py", server.base, mode, "purge", n, 0],
                   env=env)
                per.append(counts(f))
            d = CG_CALLS[1] - CG_CALLS[0]
            calls = {k: (per[1].get(k, 0) - per[0].get(k, 0)) / d for k in per[1]}
            res.append({"prog": "py-" + mode, "op": "purge", "calls": {k: v for k, v in calls.items() if v >= 0.05}})
    for op in OPS:
        f = st / "wrk-{}.txt".format(op)
        out = sh(["strace", "-f", "-c", "-o", f, "wrk", "-t1", "-c1", "-d1s", "-s", BENCHES / "wrk" / (op + ".lua"), server.base])
        n = int(re.search(r"(\d+) requests in", out).group(1))
        res.append({"prog": "wrk", "op": op, "calls": {k: v / n for k, v in counts(f).items() if v / n >= 0.05}})
    return res


def so_breakdown():
    """Where the bytes of libgcdn.so go: sections of the stripped file, and code and data by
    crate from the symbol sizes of the unstripped one."""
    stripped = OUT / "libgcdn.stripped.so"
    sections = {}
    for line in sh(["size", "-A", stripped]).splitlines()[2:]:
        p = line.split()
        if len(p) == 3 and p[1].isdigit():
            sections[p[0]] = int(p[1])
    groups = [
        ("ring (crypto primitives, incl. its P-256 and X25519 tables)", r"ring|ecp_nistz|k25519|x25519|chacha|aes|gcm|sha\d|poly1305|bn_|LIMBS|p256|p384"),
        ("rustls + rustls-webpki + webpki-roots (TLS, certificates)", r"rustls|webpki"),
        ("Rust std: backtrace symbolizer (gimli, addr2line, miniz_oxide)", r"gimli|addr2line|miniz|backtrace|rustc_demangle|object::"),
        ("ureq + http + httparse + bytes (HTTP)", r"ureq|http::|httparse|bytes::"),
        ("serde_json", r"serde|json"),
        ("gcdn itself", r"gcdn"),
        ("Rust std/core/alloc (rest)", r"core::|alloc::|std::|hashbrown"),
    ]
    sizes = {g: 0 for g, _ in groups}
    sizes["other"] = 0
    for line in sh(["nm", "-S", "--size-sort", "-C", LIB], check=False).splitlines():
        p = line.split(None, 3)
        if len(p) < 4:
            continue
        size, name = int(p[1], 16), p[3]
        for g, pattern in groups:
            if re.search(pattern, name):
                sizes[g] += size
                break
        else:
            sizes["other"] += size
    return {"sections": sections, "sizes": sizes}


def import_breakdown(python):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"))
    r = subprocess.run([python, "-X", "importtime", "-c", "import gcdn"], env=env, capture_output=True, text=True)
    rows = []
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)) / 1e3, len(m.group(3)), m.group(4)))
    # The modules imported directly by gcdn's own modules, biggest first.
    top = [(t, name) for t, depth, name in rows if depth <= 4 and name != "gcdn"]
    return sorted(top, reverse=True)[:8]


def import_times(python):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"))
    code = "import time; t = time.perf_counter_ns(); import {}; print(time.perf_counter_ns() - t)"
    times = {"gcdn": [], "gcore": []}
    for i in range(IMPORT_RUNS + 1):
        for mod in times:
            ns = int(sh([python, "-c", code.format(mod)], env=env).strip())
            if i:  # the first run of each only warms the disk cache and the .pyc files
                times[mod].append(ns / 1e6)
    return {mod: statistics.median(v) for mod, v in times.items()}


def load_times(server):
    libcurl = None
    for line in sh(["ldd", BIN / "bench_curl"]).splitlines():
        if "libcurl" in line and "=>" in line:
            libcurl = line.split("=>")[1].split("(")[0].strip()
    out = {"gcdn": [], "curl": []}
    for i in range(LOAD_RUNS + 1):
        for what, lib in (("gcdn", LIB), ("curl", libcurl)):
            r = json.loads(sh([BIN / "bench_load", what, lib, server.base]).strip())
            if i:
                out[what].append(r)
    return {k: {f: statistics.median(r[f] for r in v) for f in ("load_us", "client_us", "first_call_us", "total_us")}
            for k, v in out.items()}


def machine():
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = "{:.0f} GiB".format(int(line.split()[1]) / 2**20)
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(), "memory": mem,
            "os": first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"])}




def versions(python, py_sdk_note, go_sdk, nginx_version):
    pyver = lambda mod: sh([python, "-c", "import importlib.metadata as m; print(m.version('{}'))".format(mod)], check=False).strip() or "n/a"
    lock = (ROOT / "Cargo.lock").read_text()
    m = re.search(r'name = "ureq"\nversion = "([^"]+)"', lock)
    ureq = m.group(1) if m else "?"
    return ureq, [
        ("rustc", first_line(["rustc", "--version"])),
        ("gcc", first_line(["gcc", "--version"])),
        ("libcurl", first_line(["curl-config", "--version"])),
        ("nginx", nginx_version),
        ("wrk", first_line(["wrk", "-v"]).split(" Copyright")[0]),
        ("valgrind", first_line(["valgrind", "--version"])),
        ("Python", first_line([python, "--version"])),
        ("gcore (official Python SDK)", pyver("gcore") if py_sdk_note is None else "unavailable: " + py_sdk_note),
        ("ureq (gcdn's HTTP client)", ureq),
        ("Go", first_line(["go", "version"])),
        ("gcore-go (official Go SDK)", (go_sdk[1] + (", from " + go_sdk[2] if len(go_sdk) > 2 and go_sdk[2] else ""))
         if go_sdk[0] == "gcore-go" else "unavailable: " + go_sdk[1]),
    ]


def measure(sections):
    """Every selected section, in one run: the dict that goes to results.json."""
    prepared = json.loads((OUT / "prepared.json").read_text())
    python, py_sdk_note, go_sdk = Path(prepared["python"]), prepared["py_sdk_note"], prepared["go_sdk"]
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[-1]
    res = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": sh(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).strip(),
        "dirty": bool(sh(["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "Cargo.toml", "Cargo.lock"], cwd=ROOT).strip()),
        "sections": list(sections),
        "settings": settings(),
        "machine": machine(),
        "load_start": Path("/proc/loadavg").read_text().split()[0],
        "cpu": cpu,
        "py_sdk_note": py_sdk_note,
        "go_sdk": go_sdk,
    }
    server = Nginx(cpu)
    log("nginx on " + server.base)
    try:
        rows = Rows(server, cpu, python, py_sdk_note, sections)
        rows.run()
        res["rows"] = rows.out
        if "threads" in sections:
            log("one client, {} threads".format(THREADS))
            res["threads"] = threads_row(server)
        if "bulk" in sections:
            log("bulk purge")
            res["bulk"] = bulk_row(server, rows.pin)
        if "callgrind" in sections:
            log("callgrind")
            res["callgrind"] = callgrind_row(server)
        if "strace" in sections:
            log("system calls (strace)")
            res["syscalls"] = syscalls(server, python)
        if "imports" in sections:
            log("import and load times")
            res["imports"] = import_times(python)
            res["import_breakdown"] = import_breakdown(python)
        if "load" in sections:
            res["load"] = load_times(server)
        if "coldstart" in sections:
            log("CLI cold start")
            res["coldstart"] = schedule.coldstart(server.base)
    finally:
        server.stop()
    if "so" in sections:
        stripped = OUT / "libgcdn.stripped.so"
        sh(["strip", "-o", stripped, LIB])
        res["so_stripped"] = stripped.stat().st_size
        res["so_size"] = LIB.stat().st_size
        res["so_breakdown"] = so_breakdown()
    if "jobs" in sections:
        log("job makespan on the emulator (about 2.5 minutes; shared pacing meanwhile)")
        res["jobs"], shared = schedule.jobs(python, with_baseline=py_sdk_note is None,
                                            meanwhile=schedule.shared if "shared" in sections else None)
        if shared is not None:
            res["shared"] = shared
    elif "shared" in sections:
        res["shared"] = schedule.shared()
    if "coalesce" in sections:
        res["coalesce"] = schedule.coalesce(python if py_sdk_note is None else None)
    if "coalesce-redis" in sections:
        log("coalescing across processes through redis-server (about 30 s)")
        res["coalesce_redis"] = schedule.coalesce_redis()
    if "verify" in sections:
        res["verify"] = schedule.verify()
    if "plan" in sections:
        log("planning 1,000,000 URLs")
        res["plan"] = schedule.plan()
    res["prepare_notes"] = prepared.get("notes", {})
    res["load_end"] = Path("/proc/loadavg").read_text().split()[0]
    res["ureq"], res["versions"] = versions(python, py_sdk_note, go_sdk, server.version)
    return res


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Measure the benchmark rows; write target/bench/results.json.")
    ap.add_argument("--quick", action="store_true", help="one round, short loops: checks the pieces work")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help="comma-separated subset of: " + ", ".join(SECTIONS))
    ap.add_argument("--out", default=str(RESULTS), help="where the JSON goes (default %(default)s)")
    args = ap.parse_args(argv)
    sections = [x for x in args.sections.split(",") if x]
    unknown = [x for x in sections if x not in SECTIONS]
    if unknown:
        ap.error("unknown section(s): " + ", ".join(unknown))
    return args, sections


def main(argv=None):
    args, sections = parse_args(sys.argv[1:] if argv is None else argv)
    if not LIB.exists():
        sys.exit("benches/measure.py: {} is missing: run `make bench` (it builds first)".format(LIB))
    if not (OUT / "prepared.json").exists():
        sys.exit("benches/measure.py: run benches/prepare.py first (or benches/run)")
    if args.quick:
        quick()
    res = measure(sections)
    Path(args.out).write_text(json.dumps(res, indent=1))
    log("wrote " + args.out)


if __name__ == "__main__":
    main()
