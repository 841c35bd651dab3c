#!/usr/bin/env python3
"""The report: BENCHMARKS.md from the JSON rows of target/bench/results.json (written by
benches/measure.py) and the targets of benches/targets.json. Measures nothing; can be run
again on the same results.

    benches/report.py [--results target/bench/results.json] [--out BENCHMARKS.md]
"""

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import util
from util import BENCHES, GO_SDK_MODULE, OPS, RESULTS, ROOT, TARGETS, log

MB = 1_000_000  # "2 MB", "4 MB": decimal megabytes, the stricter reading
REPORT = util.REPORT
TARGETS_DATA = None
# The run's settings (from results.json), named as the report text uses them.
ROUNDS = BINDING_ROUNDS = C_CALLS = C_WARMUP = PY_CALLS = PY_SDK_CALLS = GO_CALLS = None
WRK_SECONDS = THREADS = THREAD_CALLS = THREAD_RUNS = CG_CALLS = IMPORT_RUNS = LOAD_RUNS = None


class Results:
    """The per-call rows of results.json, by (who, op): one result per round."""

    def __init__(self, rows):
        self.labels = {}
        self.results = {}  # key -> list of result dicts, in round order
        self.seen = {}  # key -> list of server-side checks
        for r in rows:
            key = (r["who"], r["op"])
            self.labels[key] = r["label"]
            self.results.setdefault(key, []).append(r["result"])
            self.seen.setdefault(key, []).append(r["seen"])

    def has(self, key):
        return bool(self.results.get(key))

    def ratio(self, a, b):
        """Median over the rounds of a's median per call / b's, both taken in the same round."""
        pairs = zip(self.results[a], self.results[b])
        return statistics.median(x["median_us"] / y["median_us"] for x, y in pairs)

    def summary(self, key):
        rs = self.results.get(key)
        if not rs:
            return None
        med = lambda f: statistics.median(r[f] for r in rs) if rs[0].get(f) is not None else None
        seen = self.seen[key]
        return {
            "median_us": med("median_us"),
            "p99_us": med("p99_us"),
            "calls_per_s": med("calls_per_s"),
            "cpu_us": med("cpu_us"),
            "spread": (min(r["median_us"] for r in rs), max(r["median_us"] for r in rs)),
            "peak_rss_kib": max((r.get("peak_rss_kib") or 0) for r in rs) or None,
            "failures": sum(r.get("failures", 0) for r in rs),
            "requests": sum(s["requests"] for s in seen),
            "connections": max(s["connections"] for s in seen),
            "bytes": statistics.mean(s["bytes"] for s in seen),
            "wrong": sum(s["wrong"] for s in seen),
            "implementation": rs[0].get("implementation"),
        }


def load(path):
    """results.json as the report reads it: keyed tables, the settings as module names."""
    global ROUNDS, BINDING_ROUNDS, C_CALLS, C_WARMUP, PY_CALLS, PY_SDK_CALLS, GO_CALLS
    global WRK_SECONDS, THREADS, THREAD_CALLS, THREAD_RUNS, CG_CALLS, IMPORT_RUNS, LOAD_RUNS
    ctx = json.loads(Path(path).read_text())
    st = ctx["settings"]
    ROUNDS, BINDING_ROUNDS = st["rounds"], st["binding_rounds"]
    C_CALLS, C_WARMUP, PY_CALLS, PY_SDK_CALLS = st["c_calls"], st["c_warmup"], st["py_calls"], st["py_sdk_calls"]
    GO_CALLS, WRK_SECONDS, THREADS = st["go_calls"], st["wrk_seconds"], st["threads"]
    THREAD_CALLS, THREAD_RUNS, CG_CALLS = st["thread_calls"], st["thread_runs"], tuple(st["cg_calls"])
    IMPORT_RUNS, LOAD_RUNS = st["import_runs"], st["load_runs"]
    ctx["rows"] = Results(ctx.get("rows", []))
    if "callgrind" in ctx:
        ctx["callgrind"] = {(r["prog"], r["op"]): r["per_call"] for r in ctx["callgrind"]}
    if "syscalls" in ctx:
        ctx["syscalls"] = {(r["prog"], r["op"]): r["calls"] for r in ctx["syscalls"]}
    if "so_breakdown" in ctx:
        ctx["so_breakdown"] = (ctx["so_breakdown"]["sections"], ctx["so_breakdown"]["sizes"])
    if "import_breakdown" in ctx:
        ctx["import_breakdown"] = [tuple(x) for x in ctx["import_breakdown"]]
    return ctx


def evaluate(ctx, t, op, case=None):
    """One target of targets.json for one call (op, or None): (name, measured, met or None)."""
    rows, s = ctx["rows"], ctx["rows"].summary
    go_impl = ctx["go_sdk"][0]
    go_baseline = "the official Go SDK" if go_impl == "gcore-go" else "a plain net/http loop (the Go SDK could not be had)"
    name = t["name"].format(op=op, max=t.get("max"), min=t.get("min"), go_baseline=go_baseline,
                            case=(case or {}).get("name", ""), callers=(case or {}).get("callers", ""))
    limit_ok = lambda v: (v <= t["max"]) if "max" in t else (v >= t["min"])
    not_measured = (name, "not measured in this run", None)
    m = t["measure"]
    op = t.get("op", op)
    if m == "wall_ratio":
        a, b = (t["a"], op), (t["b"], op)
        if not (rows.has(a) and rows.has(b)):
            return not_measured
        r = rows.ratio(a, b)
        return name, "{:.2f}× ({} vs {} µs median)".format(r, fmt(s(a)["median_us"]), fmt(s(b)["median_us"])), limit_ok(r)
    if m == "speedup":
        a, b = (t["a"], op), (t["b"], op)
        if not rows.has(a):
            return not_measured
        if not rows.has(b):
            return name, "SDK unavailable: " + str(ctx["py_sdk_note"]), None
        r = 1 / rows.ratio(a, b)
        return name, "{:.1f}× ({} vs {} µs median)".format(r, fmt(s(a)["median_us"]), fmt(s(b)["median_us"])), limit_ok(r)
    if m == "instructions_ratio":
        cg = ctx.get("callgrind")
        if cg is None:
            return not_measured
        g, c = cg[(t["a"], op)], cg[(t["b"], op)]
        return name, "{:.2f}× ({:,.0f} vs {:,.0f})".format(g / c, g, c), limit_ok(g / c)
    if m == "import_ms":
        if "imports" not in ctx:
            return not_measured
        v = ctx["imports"][t["module"]]
        others = ", ".join("`import {}` {} ms".format(k, fmt(x)) for k, x in ctx["imports"].items() if k != t["module"])
        return name, "{} ms{}".format(fmt(v), " ({})".format(others) if others else ""), limit_ok(v)
    if m == "so_stripped_mb":
        if "so_stripped" not in ctx:
            return not_measured
        v = ctx["so_stripped"] / MB
        return name, "{:.2f} MB".format(v), limit_ok(v)
    if m == "peak_rss_mb":
        if not rows.has((t["row"], "purge")):
            return not_measured
        v = s((t["row"], "purge"))["peak_rss_kib"] * 1024 / MB
        return name, "{:.2f} MB".format(v), limit_ok(v)
    if m == "bulk_requests_exact":
        if "bulk" not in ctx:
            return not_measured
        b = ctx["bulk"]
        return name, "{} (expected {})".format(" / ".join(map(str, b["requests"])), b["expected"]), \
            all(n == b["expected"] for n in b["requests"])
    if m == "job_ratio":
        jobs = ctx.get("jobs")
        if not jobs or case is None:
            return not_measured
        name = t["name"].format(max=t["max"], case=case["name"])
        r = case.get(t["impl"])
        if r is None:
            note = jobs.get("{}_note".format(t["impl"]))
            return name, "not measured: " + note if note else "not measured in this run", None
        j = job_figures(r, case, jobs["rtt_ms"])
        if j["makespan_ms"] is None:
            return name, "failed: " + str(r.get("error")), False
        ok = j["makespan_ms"] <= t["max"] * case["bound_ms"] + jobs["rtt_ms"] and j["rate_limited"] == 0 and j["complete"]
        return name, "{} ({:,.0f} ms vs bound {:,.0f} ms; {} 429s{})".format(
            fmt_ratio(j["ratio"]), j["makespan_ms"], case["bound_ms"], j["rate_limited"],
            "" if j["complete"] else "; NOT all purged: " + j["why_incomplete"]), ok
    if m == "coalesce_ratio":
        co = ctx.get("coalesce")
        if not co or case is None:
            return not_measured
        name = t["name"].format(max=t.get("max"), callers=case["callers"])
        r = case.get(t["impl"])
        if r is None:
            return name, "not measured in this run", None
        f = coalesce_figures(r, case)
        if f["makespan_ms"] is None:
            return name, "failed: " + str(r.get("error")), False if "max" in t else None
        measured = "{}{} ({:,.0f} ms vs bound {:,.0f} ms; {} requests, {} 429s, {} failed calls{})".format(
            "> " if r.get("capped") else "", fmt_ratio(f["ratio"]), f["makespan_ms"], case["bound_ms"], f["requests"],
            f["rate_limited"], f["failed"], ", {} not finished".format(f["unfinished"]) if f["unfinished"] else "")
        if "max" not in t:
            return name, measured, None
        return name, measured, (f["ratio"] <= t["max"] and f["rate_limited"] == 0 and f["failed"] == 0
                                and not f["unfinished"])
    if m == "verify_ratio":
        v = ctx.get("verify")
        if not v or "run" not in v:
            return name, "not measured: " + v["note"] if v and "note" in v else "not measured in this run", None
        f = verify_figures(v)
        if f["ratio"] is None:
            return name, "failed: " + str(v["run"].get("error")), None
        return name, "{:.2f}× ({:,.1f} ms for {:,} probes, {} at once, one probe alone {:.3f} ms; {} fresh, {} stale, {} error)".format(
            f["ratio"], f["wall_ms"], f["probes"], f["at_once"], f["one_ms"], v["run"].get("fresh"), v["run"].get("stale"),
            v["run"].get("error")), None
    if m == "shared_ratio":
        sh_ = ctx.get("shared")
        if not sh_ or "store" not in sh_:
            return name, "not measured: " + sh_["note"] if sh_ and "note" in sh_ else "not measured in this run", None
        st = sh_["store"]
        if st["makespan_ms"] is None:
            return name, "failed: " + "; ".join(st["errors"]), False
        r = st["makespan_ms"] / sh_["bound_ms"]
        return name, "{:.3f}× ({:,.0f} vs {:,.0f} ms), {} 429s; without the store: {} 429s".format(
            r, st["makespan_ms"], sh_["bound_ms"], st["seen"]["rate_limited"], sh_["alone"]["seen"]["rate_limited"]), \
            r <= t["max"] and st["seen"]["rate_limited"] == 0 and st["failures"] == 0
    if m == "coalesce_redis_ratio":
        co = ctx.get("coalesce_redis")
        if not co or "on" not in co:
            return name, "not measured: " + co["note"] if co and "note" in co else "not measured in this run", None
        on, off = co["on"], co["off"]
        if on["makespan_ms"] is None:
            return name, "failed: " + "; ".join(on["errors"]), False
        r = on["makespan_ms"] / co["bound_ms"]
        return name, "{:.3f}× ({:,.0f} vs {:,.0f} ms), {} requests (a perfect merger: {}), {} 429s, {} failed " \
            "calls; coalescing off: {} requests, {:,.0f} ms".format(
                r, on["makespan_ms"], co["bound_ms"], on["seen"]["purge_requests"], co["perfect_requests"],
                on["seen"]["rate_limited"], on["failures"], off["seen"]["purge_requests"],
                off["makespan_ms"] or 0), \
            r <= t["max"] and on["seen"]["rate_limited"] == 0 and on["failures"] == 0
    if m in ("plan_ms", "plan_rss_ratio"):
        pl = plan_case(ctx, t.get("case", "issue16"))
        if pl is None:
            note = (ctx.get("plan") or {}).get("note")
            return name, "not measured: " + note if note else "not measured in this run", None
        if m == "plan_ms":
            return name, "{:,} ms (building the job: {:,} ms)".format(pl["plan_ms"], pl["build_ms"]), pl["plan_ms"] < t["max"]
        grown = (pl["peak_kib"] - pl["rss_before_kib"]) * 1024
        r = grown / pl["input_bytes"]
        return name, "{:.2f}× ({:.1f} MB over the process's start, input {:.1f} MB)".format(
            r, grown / MB, pl["input_bytes"] / MB), r < t["max"]
    if m == "coldstart_ratio":
        cs = ctx.get("coldstart")
        if not cs or "cli_ms" not in cs:
            return name, "not measured: " + cs["note"] if cs and "note" in cs else "not measured in this run", None
        return name, "{:.2f}× ({} vs {} ms median)".format(cs["cli_ms"] / cs["curl_ms"], fmt(cs["cli_ms"], 2), fmt(cs["curl_ms"], 2)), None
    raise ValueError("targets.json: unknown measure " + repr(m))


def fmt_ratio(r):
    return "n/a" if r is None else "{:.3f}×".format(r)


def job_figures(r, case, rtt_ms):
    """One implementation's run of one job case: makespan, ratio, requests, 429s, complete."""
    seen = r.get("seen", {})
    mk = r.get("makespan_ms")
    out = {"makespan_ms": mk, "ratio": mk / case["bound_ms"] if mk is not None and case["bound_ms"] else None,
           "requests": seen.get("purge_requests"), "accepted": seen.get("accepted"),
           "rate_limited": seen.get("rate_limited"), "complete": True, "why_incomplete": ""}
    if r.get("capped"):
        out["complete"], out["why_incomplete"] = False, "stopped after {} s".format(r.get("cap_s", "the cap"))
    if seen.get("accepted") is not None and seen["accepted"] < case["min_requests"]:
        out["complete"] = False
        out["why_incomplete"] = "{} of {} requests accepted{}".format(
            seen["accepted"], case["min_requests"], ", " + out["why_incomplete"] if out["why_incomplete"] else "")
    return out


def coalesce_figures(r, case):
    """One client's run of one coalescing case: makespan, ratio, requests, 429s, failures."""
    seen = r.get("seen", {})
    mk = r.get("makespan_ms")
    return {"makespan_ms": mk, "ratio": mk / case["bound_ms"] if mk is not None and case["bound_ms"] else None,
            "requests": seen.get("purge_requests"), "rate_limited": seen.get("rate_limited"),
            "failed": r.get("failed", 0), "unfinished": r.get("unfinished", 0)}


def verify_figures(v):
    """The verification row: wall time at the edge, probes, at once, one probe alone, and
    wall ÷ (one probe × probes ÷ at once)."""
    r = v["run"]
    wall, n, k, one = r.get("wall_ms"), r.get("probes_seen"), r.get("at_once"), v.get("one_probe_ms")
    ratio = wall / (one * n / k) if wall and n and k and one else None
    return {"wall_ms": wall, "probes": n, "at_once": k, "one_ms": one, "ratio": ratio}


def plan_case(ctx, name):
    for c in (ctx.get("plan") or {}).get("cases", []):
        if c.get("case") == name:
            return c
    return None


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    return "{:,.{}f}".format(v, digits)


def verdict(ok):
    return "**met**" if ok else "**missed**"


def write_report(ctx):
    rows, s = ctx["rows"], ctx["rows"].summary
    lines = []
    w = lines.append
    w("# Benchmarks")
    w("")
    w("Written by `make bench` (`benches/run`) on {} from commit `{}`{}. Every ratio below compares "
      "numbers taken in this one run. Reproduce with `make bench`.".format(
          ctx["date"], ctx["commit"], " (with uncommitted changes)" if ctx["dirty"] else ""))
    w("")
    w("## Machine and versions")
    w("")
    m = ctx["machine"]
    w("| | |")
    w("| --- | --- |")
    w("| CPU | {} ({} cores) |".format(m["cpu"], m["cores"]))
    w("| kernel, OS | Linux {}, {} |".format(m["kernel"], m["os"]))
    w("| memory | {} |".format(m["memory"]))
    w("| load average at start / end | {} / {} |".format(ctx["load_start"], ctx["load_end"]))
    for k, v in ctx["versions"]:
        w("| {} | {} |".format(k, v))
    w("")
    w("## How it is measured")
    w("")
    w("- Server: one nginx worker on 127.0.0.1 answering `POST /cdn/resources/{id}/purge` with 201 "
      "(empty body) and `DELETE /cdn/resources/{id}` with 204, keep-alive without a request limit, "
      "every request logged (method, path, status, connection, bytes) so that each row below is "
      "checked at the server.")
    w("- Requests: purge by URL with 2 URLs (`{\"urls\":[\"/img/logo.png\",\"/index.html?v=2\"]}`) "
      "and delete of resource 100. gcdn paces purges per resource (at the fastest its options allow, "
      "one per 1 ms plus a 1 ms margin), so gcdn's purge rows turn over resources 100–999 and no call "
      "waits for the pacer; the baselines purge resource 100 (same length: the same bytes). "
      "gcdn, the libcurl loop and wrk send the same request line, headers "
      "(`Host`, `Authorization`, `User-Agent`, `Accept`, and for the purge `Content-Type` and "
      "`Content-Length`) and body: the same bytes (*bytes/request*, as nginx counts them, shows it). "
      "The bindings add their language to the `User-Agent`; the official SDKs send headers of their "
      "own.")
    w("- Sequential calls on one keep-alive connection (*conns* below is the number of connections "
      "the server saw per run: 1), timed one by one with a monotonic clock; warm-up calls first. "
      "Per-call median and p99 (nearest rank), calls/s over the whole timed loop, and the client's "
      "CPU time (user + system) per call.")
    w("- Client and server are pinned to the same core (`taskset -c {}`): on this 2-vCPU virtual "
      "machine a wake-up across cores costs tens of microseconds that vary from run to run, which "
      "would swamp the clients' differences; pinned, most rounds agree within a few percent (the "
      "*spread* column shows each row's range). The 8-thread row and the Go rows marked *not "
      "pinned* are not.".format(ctx["cpu"]))
    w("- Interleaved rounds: {} of the C and wrk rows, then {} of the Python and Go rows (every "
      "row once per round, the order reversed every other round). Each figure is the median over "
      "the rounds, *spread* the lowest and highest per-round median. Each ratio in *Targets* is "
      "the median over the rounds of the ratio of the two rows' medians in that round, so that "
      "both sides of a ratio always ran seconds apart, under the same background load. Per "
      "round: C {} calls, Python {} (SDK {}), Go {}, wrk {} s.".format(
          ROUNDS, BINDING_ROUNDS, C_CALLS, PY_CALLS, PY_SDK_CALLS, GO_CALLS, WRK_SECONDS))
    w("- Instructions: `valgrind --tool=callgrind` of the C programs (client only), per call = "
      "(I({1}) - I({0})) / {2}, which cancels start-up and connection set-up; the timed loops are "
      "left out of those runs.".format(CG_CALLS[0], CG_CALLS[1], CG_CALLS[1] - CG_CALLS[0]))
    w("")
    w("## Per call, sequential, one keep-alive connection")
    w("")
    w("| client | call | median µs | p99 µs | calls/s | client CPU µs/call | system calls/call | spread of medians µs | conns | bytes/request | requests seen |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    labels = rows.labels
    # System calls per call (the strace section of the same run) for the rows it profiles.
    sc = ctx.get("syscalls") or {}
    sc_of = {"gcdn-c": "gcdn", "curl-c": "curl", "wrk": "wrk"}
    go_impl = ctx["go_sdk"][0]
    for op in OPS:
        for who in ("gcdn-c", "curl-c", "wrk", "gcdn-py", "gcdn-py-async", "gcore-py", "gcdn-go", "gcdn-go-deadline", "sdk-go", "gcdn-go-free", "sdk-go-free"):
            r = s((who, op))
            if r is None:
                continue
            label = labels[(who, op)]
            if who.startswith("sdk-go"):
                label = "official Go SDK (gcore-go)" if go_impl == "gcore-go" else "plain net/http loop (no Go SDK, see below)"
                if who.endswith("-free"):
                    label += ", not pinned"
            calls = sc.get((sc_of.get(who), op))
            w("| {} | {} | {} | {} | {} | {} | {} | {}–{} | {} | {} | {} |".format(
                label, op, fmt(r["median_us"]), fmt(r["p99_us"]), fmt(r["calls_per_s"], 0),
                fmt(r["cpu_us"]), "{:.1f}".format(sum(calls.values())) if calls else "n/a",
                fmt(r["spread"][0]), fmt(r["spread"][1]), r["connections"],
                fmt(r["bytes"], 0), r["requests"]))
    w("")
    bad = [(k, r) for k in rows.results for r in [s(k)] if r["failures"] or r["wrong"]]
    if bad:
        w("**Failures:** " + ", ".join("{} {}: {} failed calls, {} wrong statuses at the server".format(
            k[0], k[1], r["failures"], r["wrong"]) for k, r in bad))
    else:
        w("Every call of every row succeeded, and the server answered each one with the expected "
          "status.")
    w("")
    if "threads" in ctx:
        threads_section(ctx, w)
    if "bulk" in ctx:
        bulk_section(ctx, w)
    if "callgrind" in ctx:
        callgrind_section(ctx, w)
    if "syscalls" in ctx:
        syscalls_section(ctx, w)
    if "imports" in ctx and "load" in ctx and "so_stripped" in ctx and rows.has(("gcdn-c", "purge")):
        footprint_section(ctx, w)
    new_paths_section(ctx, w)
    if "jobs" in ctx:
        jobs_section(ctx, w)
    if "shared" in ctx:
        shared_section(ctx, w)
    if "coalesce" in ctx:
        coalesce_section(ctx, w)
    if "verify" in ctx:
        verify_section(ctx, w)
    if "coalesce_redis" in ctx:
        coalesce_redis_section(ctx, w)
    if "plan" in ctx:
        plan_section(ctx, w)
    if "coldstart" in ctx:
        coldstart_section(ctx, w)
    targets = targets_section(ctx, w)
    post_section(ctx, w, targets)
    REPORT.write_text("\n".join(lines))
    return targets


def threads_section(ctx, w):
    t = ctx["threads"]
    w("## One client, {} threads".format(THREADS))
    w("")
    w("{:,} purges by one gcdn client shared by {} threads, then by one thread through the same "
      "client, in one process, not pinned (median of {} runs):".format(THREAD_CALLS, THREADS, THREAD_RUNS))
    w("")
    w("| | calls/s | ratio to 1 thread |")
    w("| --- | ---: | ---: |")
    w("| 1 thread | {} | 1.00 |".format(fmt(t["one_thread_calls_per_s"], 0)))
    w("| {} threads, one shared client | {} | **{:.2f}×** |".format(THREADS, fmt(t["calls_per_s"], 0), t["ratio"]))
    w("| {} threads, a client each (control) | {} | {:.2f}× |".format(
        THREADS, fmt(t["client_each_calls_per_s"], 0), t["client_each_calls_per_s"] / t["one_thread_calls_per_s"]))
    w("")
    share = t["calls_per_s"] / t["client_each_calls_per_s"]
    w("With {} threads: per-call median {} µs, p99 {} µs. One shared client does {:.2f}× the calls/s "
      "of a client per thread{} (the threads share its pool of keep-alive connections; no lock is "
      "held across I/O). The machine has two cores and the server one worker, so the ratio to one "
      "thread says more about them than about the client; and unpinned, one thread pays a "
      "cross-core wake-up per call (compare the pinned sequential rows above).".format(
          THREADS, fmt(t["median_us"]), fmt(t["p99_us"]), share,
          ": sharing costs nothing measurable" if share >= 0.9 else ""))
    w("")


def bulk_section(ctx, w):
    b = ctx["bulk"]
    ok_bulk = all(n == b["expected"] for n in b["requests"])
    w("## Bulk purge")
    w("")
    w("{:,} URLs, {:,} unique (10 % repeats): the server saw {} requests per call in {} runs "
      "(ceil({:,}/100) = {}: {}), on {} connection, in **{} ms** (median wall time; the requests of "
      "one call go to one resource, so the client-wide pacer spaces them at the fastest intervals the "
      "options allow, 1 ms plus its 1 ms margin: about 2 ms a request).".format(
          b["items"], b["unique"], " / ".join(map(str, b["requests"])), len(b["requests"]), b["unique"],
          b["expected"], "exactly" if ok_bulk else "WRONG", b["connections"], fmt(b["wall_ms"])))
    w("")


def callgrind_section(ctx, w):
    cg = ctx["callgrind"]
    w("## Client instructions per call (callgrind)")
    w("")
    w("| call | gcdn | libcurl loop | gcdn / libcurl |")
    w("| --- | ---: | ---: | ---: |")
    for op in OPS:
        w("| {} | {:,.0f} | {:,.0f} | {:.2f} |".format(op, cg[("gcdn", op)], cg[("curl", op)], cg[("gcdn", op)] / cg[("curl", op)]))
    w("")


def syscalls_section(ctx, w):
    sc = ctx["syscalls"]
    w("## System calls per call (strace)")
    w("")
    w("| call | gcdn | libcurl loop | wrk |")
    w("| --- | --- | --- | --- |")
    show = lambda d: "{:.1f}: {}".format(sum(d.values()), ", ".join("{} {:.1f}".format(k, v) for k, v in sorted(d.items(), key=lambda kv: -kv[1])))
    for op in OPS:
        w("| {} | {} | {} | {} |".format(op, show(sc[("gcdn", op)]), show(sc[("curl", op)]), show(sc[("wrk", op)])))
    w("")
    # The check before a pooled connection carries another request (issue 20): its cost.
    s = ctx["rows"].summary
    times = []
    for op in OPS:
        g, c = s(("gcdn-c", op)), s(("curl-c", op))
        if g and c:
            times.append("{}: {} µs vs {} µs, {:.2f}×".format(op, fmt(g["median_us"]), fmt(c["median_us"]),
                                                          g["median_us"] / c["median_us"]))
    w("gcdn checks every pooled connection before it carries another request, so that a late or "
      "stray answer (bytes the server sent past the last response) or a close is never read as the "
      "next call's answer: one `recvfrom(MSG_PEEK | MSG_DONTWAIT)` per reused call "
      "(`TcpSocket::is_open` in `src/engine/http/tuned.rs`; counted in gcdn's `recvfrom` above, "
      "beside the read of the answer). ureq's own probe, which the build without `tuned-transport` "
      "keeps, is three (`ioctl(FIONBIO)`, `recvfrom`, `ioctl(FIONBIO)`) at each of two points. "
      "Per-call medians of the same rounds, gcdn vs the libcurl loop: {}.".format(
          "; ".join(times) if times else "the C rows did not run"))
    w("")


def footprint_section(ctx, w):
    s = ctx["rows"].summary
    w("## Footprint and start-up")
    w("")
    rss = s(("gcdn-c", "purge"))["peak_rss_kib"]
    rss_curl = s(("curl-c", "purge"))["peak_rss_kib"]
    imp = ctx["imports"]
    ld = ctx["load"]
    w("| | gcdn | for comparison |")
    w("| --- | ---: | ---: |")
    w("| peak RSS of the C program ({} purges) | {:,} KiB ({:.2f} MB) | libcurl loop: {:,} KiB |".format(
        C_CALLS + C_WARMUP, rss, rss * 1024 / MB, rss_curl))
    w("| `libgcdn.so` stripped (`strip -o`) | {:,} bytes ({:.2f} MB) | unstripped: {:,} bytes |".format(
        ctx["so_stripped"], ctx["so_stripped"] / MB, ctx["so_size"]))
    w("| Python `import gcdn` / `import gcore` (median of {} fresh interpreters) | {} ms | {} ms |".format(
        IMPORT_RUNS, fmt(imp["gcdn"]), fmt(imp["gcore"])))
    w("| library load (dlopen) to first completed call, fresh process (median of {}) | {} µs "
      "(dlopen {} + client {} + first call with connect {}) | libcurl: {} µs (dlopen {} + init {} + first call {}) |".format(
          LOAD_RUNS, fmt(ld["gcdn"]["total_us"], 0), fmt(ld["gcdn"]["load_us"], 0), fmt(ld["gcdn"]["client_us"], 0),
          fmt(ld["gcdn"]["first_call_us"], 0), fmt(ld["curl"]["total_us"], 0), fmt(ld["curl"]["load_us"], 0),
          fmt(ld["curl"]["client_us"], 0), fmt(ld["curl"]["first_call_us"], 0)))
    w("")
    sections, sizes = ctx["so_breakdown"]
    w("Where the bytes of `libgcdn.so` go. Sections of the stripped file: " + ", ".join(
        "`{}` {:,}".format(k, v) for k, v in sorted(sections.items(), key=lambda kv: -kv[1]) if v >= 20000)
      + " (`.eh_frame`, `.eh_frame_hdr` and `.gcc_except_table` are the unwind tables that "
        "`panic = \"unwind\"` needs). Code and data by component, from the symbols of the "
        "unstripped file:")
    w("")
    w("| component | bytes |")
    w("| --- | ---: |")
    for k, v in sorted(sizes.items(), key=lambda kv: -kv[1]):
        w("| {} | {:,} |".format(k, v))
    w("")
    w("`import gcdn` in a fresh interpreter, its biggest imports (cumulative ms, from `python -X "
      "importtime`, one run): " + ", ".join("`{}` {:.1f}".format(n, t) for t, n in ctx["import_breakdown"]) + ".")
    w("")


def new_paths_section(ctx, w):
    rows, s = ctx["rows"], ctx["rows"].summary
    pairs = [(("gcdn-c-purge1", "one"), ("gcdn-c-job1", "one")), (("gcdn-go", "purge"), ("gcdn-go-deadline", "purge")),
             (("gcdn-py", "purge"), ("gcdn-py-timeout", "purge")), (("gcdn-py", "purge"), ("gcdn-py-async", "purge")),
             (("gcdn-py", "delete"), ("gcdn-py-async", "delete"))]
    pairs = [(a, b) for a, b in pairs if rows.has(a) and rows.has(b)]
    if not pairs:
        return
    w("## Per call: the new paths")
    w("")
    w("Measured like the rows above (pinned, interleaved rounds, one keep-alive connection to nginx). "
      "The one-URL job is built once and run every call (a const job may be run many times); each run "
      "makes and frees its report. The deadline context (1 h) and `call_timeout=` (1 h) are set so that they "
      "never end a call: only their cost is measured. The `AsyncClient` rows await each call before "
      "the next on one asyncio event loop (`asyncio.run`); the call runs on the client's thread pool "
      "and the loop is woken when it ends.")
    w("")
    w("| client | median µs | p99 µs | calls/s | client CPU µs/call | spread of medians µs | requests seen | ratio (same round) |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for a, b in pairs:
        for k in (a, b):
            r = s(k)
            w("| {} | {} | {} | {} | {} | {}–{} | {} | {} |".format(
                rows.labels[k] + ("" if k[1] == "one" else ", " + k[1]), fmt(r["median_us"]), fmt(r["p99_us"]), fmt(r["calls_per_s"], 0), fmt(r["cpu_us"]),
                fmt(r["spread"][0]), fmt(r["spread"][1]), r["requests"],
                "{:.3f}×".format(rows.ratio(b, a)) if k == b else "1"))
    w("")


def jobs_section(ctx, w):
    j = ctx["jobs"]
    wins = sorted({c["window_ms"] for c in j["cases"]})
    w("## The job at the rate-limit bound")
    w("")
    uw, pw = j["url_window"], j["pattern_window"]
    w("On `gcdn-emulator` at the API's documented limits with the window shortened from 60 s to {w:,} ms: "
      "**{un} URL purges and {pn} pattern purge (and {pn} purge-all) per {w:,} ms per resource**, at most {mu} "
      "URLs / {mp} patterns per request (the API's). Nobody tells gcdn these: the C job and the CLI "
      "read them from `GET /cdn/clients/me/limits` (the emulator reports its windows there, `\"{un}/{w}ms\"`), "
      "as they read an account's own limits, which gcdn believes from 1 a day to 100 a second. The bound "
      "is the slowest resource's paced schedule computed from the windows: for R requests on one key at "
      "N per W, (ceil(R/N) − 1) × W; a resource's URL purges and its pattern purges are separate keys at "
      "the API, so the larger of the two. One round trip here: {rtt} ms (a one-URL purge, median). "
      "*Makespan*: the C job from `gcdn_job_run` to its return (`benches/c/bench_job.c`, no "
      "`gcdn_options_set_purge_intervals_ms`, default run settings: 4 workers); the CLI ({cli}) from "
      "process start to exit (`gcdn purge --from FILE`, no `--purge-intervals`: full URLs mapped by host "
      "through `GET /cdn/resources`; patterns, if any, by a second process started at the same time); "
      "the baseline, a loop a user writes with the official Python SDK (`benches/py/job_baseline.py`: "
      "resource after resource, chunks of 100 URLs / 10 patterns, the SDK's own retries), from its "
      "first call to its last, stopped after {cap} s. *Requests* and *429s* are what the emulator "
      "recorded (purge requests sent, and those answered 429).".format(
          w=uw[1], un=uw[0], pn=pw[0], mu=j["max_urls"], mp=j["max_patterns"], rtt=fmt(j.get("rtt_ms"), 2),
          cli=j.get("cli_version", "gcdn"), cap=j["baseline_cap_s"]))
    w("")
    w("Why W = {w:,} ms: the pacer adds its documented safety margin to every window, 2 % of it and at "
      "least 50 ms (`pacer::margin`), for the time between taking a slot and the request's arrival; at "
      "{w:,} ms the two agree (2 %, as at the API's own 60 s windows), while a shorter window would "
      "measure the 50 ms floor (10 % of 500 ms). (Until 0.3 these rows ran at one request per 1.2 s, "
      "told through `--purge-intervals`, because an account's limits faster than 10× the documented "
      "rate were not believed.) At {un} per window a resource's first {un} requests go at once, so the "
      "100-resource job has {per} URLs per resource: its bound is one window, the third request of "
      "every resource, to which the spread of the first window's requests over the job's 4 "
      "connections adds. The baseline ran beside the gcdn rows, against an emulator of its own (it "
      "spends its time in its SDK's retry sleeps).".format(
          w=uw[1], un=uw[0], per=next((c["urls"] for c in j["cases"] if c["resources"] == 100), "–")))
    w("")
    if j.get("c_note"):
        w("C job: not measured: " + j["c_note"] + ".")
        w("")
    if j.get("cli_note"):
        w("CLI: not measured: " + j["cli_note"] + ".")
        w("")
    w("| job | window ms | requests (min) | bound ms | client | makespan ms | makespan ÷ bound | requests sent | 429s met | note |")
    w("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for case in j["cases"]:
        for impl, label in (("c", "gcdn C job"), ("cli", "gcdn CLI"), ("baseline", "official Python SDK loop")):
            r = case.get(impl)
            if r is None:
                continue
            if "seen" not in r and r.get("error"):
                w("| {} | {:,} | {} | {:,} | {} | – | – | – | – | failed: {} |".format(
                    case["name"], case["window_ms"], case["min_requests"], case["bound_ms"], label, r["error"][:120]))
                continue
            f = job_figures(dict(r, cap_s=j["baseline_cap_s"]), case, j["rtt_ms"])
            note = []
            if not f["complete"]:
                note.append("incomplete: " + f["why_incomplete"])
            if r.get("failed"):
                note.append("{} requests failed".format(r["failed"]))
            if r.get("errors"):
                note.append(", ".join("{} {}".format(k, v) for k, v in r["errors"].items())
                            if isinstance(r["errors"], dict) else str(r["errors"])[:100])
            if impl != "baseline" and r.get("error") and not f["complete"]:
                note.append(r["error"][:120])
            ratio = fmt_ratio(f["ratio"])
            if r.get("capped"):
                ratio = "> " + ratio
            w("| {} | {:,} | {} | {:,} | {} | {:,.0f} | {} | {} | {} | {} |".format(
                case["name"], case["window_ms"], case["min_requests"], case["bound_ms"], label, f["makespan_ms"], ratio,
                f["requests"], f["rate_limited"], "; ".join(note)))
    w("")


def shared_section(ctx, w):
    s = ctx["shared"]
    w("## Shared pacing: 4 processes, one resource")
    w("")
    if "note" in s:
        w("Not measured: " + s["note"] + ".")
        w("")
        return
    w("{} processes (`bench_job batches`: plain C ABI clients, each its own pacer, coalescing off) each purge {} batches "
      "of {} URLs on the same resource, started together, on the emulator at {} URL purges per {} ms "
      "(read from the account's limits, as above): {} requests, bound (ceil(R/N) − 1) × W = {:,} ms. Once through one `redis-server` ({}, started by the "
      "bench on a free loopback port with a temporary directory, stopped after; "
      "`gcdn_options_set_rate_store`), once without it (paced at one request per W/N, "
      "`gcdn_options_set_purge_intervals_ms`: its 429s would otherwise make clients paced at the "
      "account's limits fall back to the documented rate). Makespan: first call of any process to "
      "the last return.".format(s["processes"], s["batches"], s["urls_per_batch"], s["window"][0], s["window"][1],
                            s["requests"], s["bound_ms"], s.get("redis", "redis-server").split(" sha=")[0]))
    w("")
    w("| | makespan ms | makespan ÷ bound | requests sent | 429s met | failed calls |")
    w("| --- | ---: | ---: | ---: | ---: | ---: |")
    for k, label in (("store", "through one redis-server"), ("alone", "without the store")):
        r = s[k]
        mk = r["makespan_ms"]
        w("| {} | {} | {} | {} | {} | {} |".format(
            label, fmt(mk, 0), fmt_ratio(mk / s["bound_ms"] if mk is not None else None),
            r["seen"]["purge_requests"], r["seen"]["rate_limited"], r["failures"]))
    w("")


COALESCE_CLIENTS = (("gcdn", "gcdn, coalescing on (threads of one client)"),
                    ("gcdn_off", "gcdn, coalescing off"),
                    ("sdk", "official Python SDK, a thread per caller"))


def coalesce_section(ctx, w):
    co = ctx["coalesce"]
    n, win = co["window"]
    w("## Coalescing: one-URL callers on one resource")
    w("")
    w("On the emulator at {n} URL purges per {win:,} ms (read from the account's limits, as above), the "
      "resource's window is first filled by {n} one-URL purges in turn (as another worker would have), "
      "then C callers start together, each purging one URL of its own on that resource. A perfect "
      "merger needs R = ceil(C/100) full requests, the first of them a window after the clock's start: "
      "bound ceil(R/N) × W. *Makespan*: the first warm-up call to the last caller's return. gcdn: "
      "`bench_job callers`, C threads of one client calling `gcdn_purge_urls`, coalescing on (the "
      "default) and off (`gcdn_options_set_coalesce(o, 0, ...)`), each call waiting at most {cap} s for "
      "its slot (`gcdn_options_set_max_rate_limit_wait_ms`; a call whose slot is further fails at once). "
      "The official Python SDK (`benches/py/coalesce_baseline.py`: one SDK client shared by a thread "
      "per caller, its own retries) is stopped after {cap} s. *Requests* and *429s* are what the "
      "emulator recorded (the {n} warm-up requests included); *failed calls* are calls that returned an "
      "error.".format(
          n=n, win=win, cap=co["cap_s"]))
    w("")
    w("| callers | requests (min) | bound ms | client | makespan ms | makespan ÷ bound | requests sent | 429s met | failed calls | not finished |")
    w("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case in co["cases"]:
        for impl, label in COALESCE_CLIENTS:
            r = case.get(impl)
            if r is None:
                continue
            if r.get("makespan_ms") is None:
                w("| {} | {} | {:,} | {} | – | – | – | – | – | failed: {} |".format(
                    case["callers"], case["requests_min"], case["bound_ms"], label, str(r.get("error"))[:120]))
                continue
            f = coalesce_figures(r, case)
            w("| {} | {} | {:,} | {} | {:,.0f} | {}{} | {} | {} | {} | {} |".format(
                case["callers"], case["requests_min"], case["bound_ms"], label, f["makespan_ms"],
                "> " if r.get("capped") else "", fmt_ratio(f["ratio"]), f["requests"], f["rate_limited"],
                f["failed"], f["unfinished"]))
    w("")
    if co.get("note"):
        w(co["note"])
        w("")


def verify_section(ctx, w):
    v = ctx["verify"]
    w("## Verification at the edge")
    w("")
    if "note" in v:
        w("Not measured: " + v["note"] + ".")
        w("")
        return
    r = v["run"]
    f = verify_figures(v)
    w("{res} resources × {urls} URLs purged by the C job (`bench_job verify`, at the emulator's limits "
      "as above) with verification on (`gcdn_run_set_verify`, the verify limit {urls}: every URL) at one "
      "edge (`gcdn_run_add_edge`): a loopback server of the bench (`schedule.Edge`, one thread, "
      "non-blocking sockets) that answers every `HEAD` `200` with `Cache: MISS` and closes, and times "
      "each connection from its accept to its close. *Wall*: the first probe accepted to the last "
      "closed; *at once*: the most connections open together at the edge; *one probe*: a probe alone "
      "(a 1-URL job, median of {runs}), timed the same way. The purges' confirmation (the purge "
      "statuses, polled after 1 s) comes before and is not in the wall time.".format(
          res=v["resources"], urls=v["urls"], runs=len(v["alone"])))
    w("")
    alone = [a["probe_ms"] for a in v["alone"] if a.get("probe_ms") is not None]
    w("| probes | wall ms | at once | one probe alone ms (range) | wall ÷ (one × probes ÷ at once) | fresh | stale | error | job makespan ms |")
    w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    w("| {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} |".format(
        f["probes"], fmt(f["wall_ms"]), f["at_once"], fmt(f["one_ms"], 3),
        "–".join(fmt(x, 3) for x in (min(alone), max(alone))) if alone else "n/a",
        "{:.2f}×".format(f["ratio"]) if f["ratio"] else "n/a", r.get("fresh"), r.get("stale"), r.get("error"),
        fmt(r.get("makespan_ms"), 0)))
def coalesce_redis_section(ctx, w):
    s = ctx["coalesce_redis"]
    w("## Coalescing across processes: {} processes × {} URLs through one redis-server".format(
        s.get("processes", 8), s.get("urls_per_call", 5)))
    w("")
    if "note" in s:
        w("Not measured: " + s["note"] + ".")
        w("")
        return
    w("{} processes (`bench_job batches`: plain C ABI clients with `gcdn_options_set_rate_store`) each "
      "purge {} URLs of the same resource in one call, started together, on the emulator at {} URL "
      "purges per {:,} ms (read from the account's limits, as above), through one `redis-server` ({}). "
      "A perfect merger sends {} requests: the first {} calls go at once, alone (coalescing never delays "
      "a request that could go now), the other {} URLs fit the next slot; bound (ceil(R/N) − 1) × W = "
      "{:,} ms. Beside it, in the same run, the same load with coalescing off "
      "(`gcdn_options_set_coalesce(o, 0, ...)`): {} requests, bound {:,} ms. Makespan: first call of any "
      "process to the last return.".format(
          s["processes"], s["urls_per_call"], s["window"][0], s["window"][1],
          s.get("redis", "redis-server").split(" sha=")[0], s["perfect_requests"], s["window"][0],
          s["urls"] - s["window"][0] * s["urls_per_call"], s["bound_ms"], s["off_requests"], s["off_bound_ms"]))
    w("")
    on_requests = s["on"]["seen"]["purge_requests"]
    if on_requests < s["perfect_requests"]:
        w("Coalescing on sent {} request(s), fewer than the {} this bound assumes: the calls that started "
          "together shared the first request too, so the makespan is below the bound (its ratio says no "
          "more than that).".format(on_requests, s["perfect_requests"]))
        w("")
    w("| | requests sent | makespan ms | makespan ÷ bound ({:,} ms) | 429s met | failed calls |".format(
        s["bound_ms"]))
    w("| --- | ---: | ---: | ---: | ---: | ---: |")
    for k, label in (("on", "coalescing on"), ("off", "coalescing off")):
        r = s[k]
        mk = r["makespan_ms"]
        w("| {} | {} | {} | {} | {} | {} |".format(
            label, r["seen"]["purge_requests"], fmt(mk, 0),
            fmt_ratio(mk / s["bound_ms"] if mk is not None and s["bound_ms"] else None),
            r["seen"]["rate_limited"], r["failures"]))
    w("")


def plan_section(ctx, w):
    p = ctx["plan"]
    w("## Planning a job of 1,000,000 URLs")
    w("")
    if "note" in p:
        w("Not measured: " + p["note"] + ".")
        w("")
        return
    w("`benches/plan` (the `plan_bench` example, release build): nothing is sent. *issue16*: 1,000,000 "
      "full URLs over 50 hosts, 10 % of them repeats, plus 20 covering patterns; *cachekey*: 1,000,000 "
      "full URLs over 50 hosts, 10 % of them repeats, each with three query parameters in varying order, "
      "planned in their cache-key form as a run does (`plan_cache_keys`: the forms written into one "
      "buffer beside the job's text, which stays shared with the caller): of the 50 resources, 25 have none of the query options, 9 ignore the query "
      "string, 8 keep only `v` (whitelist), 8 drop `utm_source` and `utm_medium` (blacklist), and 10 "
      "have two rules (ignore the query under `/assets/1xx/`, else keep only `v`); *cachekey-exact*: "
      "the same job planned as given (`plan`, as `exact` does); *cachekey-unshared*: in cache-key form "
      "with the job dropped before planning, so that its storage is not shared; "
      "*full_urls* and *paths*: the job task's own cases. Peak RSS is the process's high-water mark (VmHWM) after "
      "planning; the target compares its growth over the process's start with the input's bytes.")
    w("")
    w("| case | URLs | build ms | plan ms | requests | skipped | rewritten | input MB | RSS at start MiB | peak RSS MiB |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in p["cases"]:
        w("| {} | {:,} | {:,} | {:,} | {:,} | {:,} | {} | {} | {:.1f} | {:.1f} |".format(
            c["case"], c["urls"], c["build_ms"], c["plan_ms"], c["requests"], c["skipped"],
            "{:,}".format(c["rewritten"]) if "rewritten" in c else "–",
            "{:.1f}".format(c["input_bytes"] / MB) if c.get("input_bytes") else "–",
            c["rss_before_kib"] / 1024, c["peak_kib"] / 1024))
    w("")


def coldstart_section(ctx, w):
    c = ctx["coldstart"]
    w("## CLI cold start")
    w("")
    if "note" in c:
        w("Not measured: " + c["note"] + ".")
        w("")
        return
    w("`gcdn purge --quiet --resource 100 /a` as a fresh process, start to exit, vs `curl` ({}) making "
      "the same request, both against the benchmark's nginx, interleaved, median of {} (times from "
      "Python's `subprocess.run`, the same overhead on both sides):".format(c["curl_version"].split(" (")[0], c["runs"]))
    w("")
    w("| | median ms | range ms | failures |")
    w("| --- | ---: | ---: | ---: |")
    w("| gcdn CLI | {} | {}–{} | {} |".format(fmt(c["cli_ms"], 2), fmt(c["cli_spread"][0], 2), fmt(c["cli_spread"][1], 2), c["failures"]["cli"]))
    w("| curl | {} | {}–{} | {} |".format(fmt(c["curl_ms"], 2), fmt(c["curl_spread"][0], 2), fmt(c["curl_spread"][1], 2), c["failures"]["curl"]))
    w("")
    if c.get("cli_error"):
        w("CLI error: `{}`".format(c["cli_error"]))
        w("")


def targets_section(ctx, w):
    w("## Targets ({})".format(TARGETS_DATA["source"]))
    w("")
    w("| target | measured | |")
    w("| --- | --- | --- |")
    targets = []
    cases = (ctx.get("jobs") or {}).get("cases") or [None]
    callers = (ctx.get("coalesce") or {}).get("cases") or [None]
    for t in TARGETS_DATA["targets"]:
        for op in (OPS if t.get("per_op") else (None,)):
            for case in (cases if t.get("per_case") else callers if t.get("per_callers") else (None,)):
                name, measured, ok = evaluate(ctx, t, op, case)
                targets.append((name, ok))
                w("| {} | {} | {} |".format(name, measured, verdict(ok) if ok is not None else "n/a"))
    w("")
    met = sum(1 for _, ok in targets if ok)
    w("{} of {} met.".format(met, sum(1 for _, ok in targets if ok is not None)))
    w("")
    return targets


def post_section(ctx, w, targets):
    go_impl = ctx["go_sdk"][0]
    missed = {name for name, ok in targets if ok is False}
    why = explain(ctx, missed)
    if why:
        w("### Why the missed ones are missed")
        w("")
        for line in why:
            w(line)
        w("")
    if go_impl == "gcore-go":
        w("**Go SDK:** the Go rows compare the binding with the official SDK `{}` {}, built from {} "
          "(`benches/go-sdk/sdk.go`, tag `gcoresdk`).".format(
              GO_SDK_MODULE, ctx["go_sdk"][1], ctx["go_sdk"][2] if len(ctx["go_sdk"]) > 2 and ctx["go_sdk"][2] else "the Go module proxy"))
        w("")
    if go_impl != "gcore-go":
        w("**Go SDK:** `{}` could not be had from the Go module proxy on this machine ({}), so the Go "
          "row compares the binding with a plain `net/http` loop making the same requests "
          "(`benches/go-sdk/nethttp.go`). Where the module is available, `benches/run` builds "
          "`benches/go-sdk/sdk.go` against it instead.".format(GO_SDK_MODULE, ctx["go_sdk"][1]))
        w("")
    notes = BENCHES / "NOTES.md"
    if notes.exists():
        w(notes.read_text().rstrip())
        w("")




def nginx_gets(prefix):
    """`GET` requests to paths starting with `prefix` in the nginx log the run left."""
    f = util.OUT / "nginx" / "access.log"
    if not f.exists():
        return 0
    n = 0
    with open(f) as log_file:
        for line in log_file:
            p = line.split()
            if len(p) == 6 and p[2] == "GET" and p[3].split("?")[0] == prefix:
                n += 1
    return n


def callgrind_purge_extra():
    """Self cost per call by function, purge minus delete, from the callgrind files the run
    left in target/bench/callgrind (difference of the two call counts): the biggest first."""
    import re
    import subprocess
    d = util.OUT / "callgrind"
    per = {}
    for op in OPS:
        counts = []
        for n in CG_CALLS:
            f = d / "gcdn-{}-{}.out".format(op, n)
            if not f.exists():
                return []
            r = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", str(f)],
                               capture_output=True, text=True)
            c = {}
            for line in r.stdout.splitlines():
                m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)", line)
                if m and "PROGRAM TOTALS" not in m.group(2):
                    name = m.group(2).split(" [")[0].split(":", 1)[-1]
                    c[name] = c.get(name, 0) + int(m.group(1).replace(",", ""))
            counts.append(c)
        per[op] = {k: (counts[1].get(k, 0) - counts[0].get(k, 0)) / (CG_CALLS[1] - CG_CALLS[0])
                   for k in set(counts[0]) | set(counts[1])}
    diff = {k: per["purge"].get(k, 0) - per["delete"].get(k, 0) for k in set(per["purge"]) | set(per["delete"])}
    return sorted(((k, v) for k, v in diff.items() if v >= 100), key=lambda kv: -kv[1])


def explain(ctx, missed):
    """What the profile says about each missed target."""
    out = []
    sc = ctx.get("syscalls")
    if any("wrk" in m for m in missed) and sc and "callgrind" in ctx:
        g, f = sc[("gcdn", "purge")], sc[("wrk", "purge")]
        out.append(
            "- **wrk's floor.** wrk replays one request it built once, and makes {:.1f} system calls "
            "per request; gcdn makes {:.1f} ({}). The transport sets the socket's timeouts only when "
            "they change and checks a pooled connection before reuse with one non-blocking peek (see "
            "`TcpSocket` in `src/engine/http/tuned.rs`), so what is left above the floor is work in "
            "user space: gcdn builds each request from the call (checks, de-duplication, JSON, URL, "
            "headers) and reads the answer into an `http::Response`, about {:,.0f} instructions per "
            "purge (table above), most of them in ureq {} and the `http` crate.".format(
                sum(f.values()), sum(g.values()),
                ", ".join("{} {:.1f}".format(k, v) for k, v in sorted(g.items(), key=lambda kv: -kv[1])),
                ctx["callgrind"][("gcdn", "purge")], ctx["ureq"]))
        if g.get("futex"):
            out[-1] += (" The purge's {:.1f} `futex` calls per call (the delete makes {:.1f}: {}) are the "
                        "coalescing queue's (`src/engine/coalesce.rs`, issue 21): it wakes waiting callers with "
                        "`Condvar::notify_all`, which the standard library makes a `FUTEX_WAKE` system call "
                        "even when no caller waits, as in these sequential calls.".format(
                            g["futex"], sc[("gcdn", "delete")].get("futex", 0),
                            ", ".join("{} {:.1f}".format(k, v) for k, v in sorted(
                                sc[("gcdn", "delete")].items(), key=lambda kv: -kv[1]))))
    if any("instructions per call" in m for m in missed) and "callgrind" in ctx:
        more = callgrind_purge_extra()
        cg = ctx["callgrind"]
        if more:
            coal = sum(v for k, v in more if "coalesce" in k)
            sip = sum(v for k, v in more if "sip::" in k or "hash_one" in k)
            out.append(
                "- **Instructions per purge.** {:,.0f} per purge against {:,.0f} per delete ({:,.0f} more; in "
                "0.2's report the purge was 41,146). From this run's callgrind files (`target/bench/callgrind`, "
                "self cost per call, purge minus delete), the purge's extra work is led by: {}. The coalescing "
                "queue every purge now passes through (issue 21, `src/engine/coalesce.rs`: a lane per "
                "resource and kind, a caller entry, the items moved into the lane and back) costs {:,.0f} of "
                "them in its own functions; SipHash, the standard `HashMap`'s hasher (the pacer's keys and, "
                "new, the queue's lanes and callers), {:,.0f}; most of the rest is the allocator "
                "(`malloc`/`free`, `memcpy`) that the queue's copies and the JSON body share.".format(
                    cg[("gcdn", "purge")], cg[("gcdn", "delete")], cg[("gcdn", "purge")] - cg[("gcdn", "delete")],
                    ", ".join("`{}` {:,.0f}".format(k, v) for k, v in more[:8]), coal, sip))
    if any(".so" in m for m in missed) and "so_breakdown" in ctx:
        sections, sizes = ctx["so_breakdown"]
        tls = sum(v for k, v in sizes.items() if k.startswith(("ring", "rustls")))
        bt = sum(v for k, v in sizes.items() if "backtrace" in k)
        unwind = sum(sections.get(k, 0) for k in (".eh_frame", ".eh_frame_hdr", ".gcc_except_table"))
        out.append(
            "- **Size of the `.so`.** The TLS stack that HTTPS needs (ring, rustls, rustls-webpki and "
            "the bundled root certificates) is {:,} bytes of the symbols; the Rust standard library's "
            "backtrace symbolizer, linked in by std's panic machinery whatever the profile says, "
            "{:,} (only a nightly `-Z build-std` can drop it); the unwind tables that the panic "
            "boundary needs {:,}; relocations (`.rela.dyn`) {:,}, which `-z pack-relative-relocs` "
            "would shrink but at the price of requiring glibc 2.36 at run time. The release profile "
            "already has `lto = \"fat\"` and `codegen-units = 1`. Smaller opt-levels were measured "
            "on the same code (separately, not in this run): `opt-level = \"s\"` gives 2.21 MB "
            "stripped but 54k instructions per purge instead of 41k (+34 %), `\"z\"` 2.23 MB and "
            "87k; `\"s\"` for ring, rustls and webpki only gives 2.34 MB and +3 % per HTTPS call. "
            "None reaches 2 MB, so the profile stays at `opt-level = 3`.".format(
                tls, bt, unwind, sections.get(".rela.dyn", 0)))
    if any("import gcdn" in m for m in missed):
        out.append(
            "- **`import gcdn`.** See the breakdown above: most of it is the standard library "
            "modules the binding imports (`typing`, `ctypes`, `re`, ...) in a fresh interpreter, "
            "and the time grows with the machine's load ({} at the start of this run).".format(ctx["load_start"]))
    if any("Go binding" in m for m in missed):
        s = ctx["rows"].summary
        out.append(
            "- **Go, pinned to one core.** Every binding call is one cgo call that blocks for the "
            "whole request (about 25 µs here) inside the C library's network I/O. Go's sysmon "
            "takes the processor away from a goroutine that has been in a cgo call or system call "
            "for 20 µs or more, and the call then re-enters the scheduler by its slow path; with "
            "calls right at that threshold, the binding's per-round medians flip between two modes "
            "(see *spread*), while net/http waits in Go's own netpoller. Not pinned, on this "
            "machine, it is the other way round: binding {} µs vs net/http {} µs per purge (rows "
            "*not pinned* above), net/http paying the cross-core wake-ups. The C library's own "
            "time per call is the *gcdn, from C* row.".format(
                fmt(s(("gcdn-go-free", "purge"))["median_us"]), fmt(s(("sdk-go-free", "purge"))["median_us"])))
    if any("gcdn_job_run" in m for m in missed):
        sc = ctx.get("syscalls") or {}
        j, p = sc.get(("job1", "one")), sc.get(("purge1", "one"))
        if j is not None and p is not None:
            more = {k: v - p.get(k, 0) for k, v in j.items() if v - p.get(k, 0) >= 0.5}
            text = ("- **One-URL job vs `gcdn_purge_urls`.** Per call, strace counts {:.1f} system calls for the "
                    "job and {:.1f} for the purge; the job's extra ones: {}.".format(
                        sum(j.values()), sum(p.values()),
                        ", ".join("{} +{:.1f}".format(k, v) for k, v in sorted(more.items(), key=lambda kv: -kv[1]))))
            if "clone3" in more:
                text += (" `clone3` and `set_robust_list`/`rseq` are threads started per run, `futex` their "
                         "hand-offs, `madvise` their stacks given back.")
            listings = nginx_gets("/cdn/resources")
            if more.get("sendto", 0) >= 0.5 and listings:
                text += (" The `sendto` and `recvfrom` are a second request per run: each run first lists the "
                         "resources (`GET /cdn/resources`, to read their cache-key options, issue 22; nginx's "
                         "log of this run has {:,} of them, answered 404 by the bench's nginx, so the job is "
                         "planned as given), then purges: two round trips where `gcdn_purge_urls` makes "
                         "one.".format(listings))
            out.append(text)
        else:
            out.append("- **One-URL job vs `gcdn_purge_urls`.** Not profiled in this run (the `strace` section did not run).")
    if any("AsyncClient" in m for m in missed):
        sc = ctx.get("syscalls") or {}
        a, b = sc.get(("py-gcdn-async", "purge")), sc.get(("py-gcdn", "purge"))
        sa, sb = ctx["rows"].summary(("gcdn-py-async", "purge")), ctx["rows"].summary(("gcdn-py", "purge"))
        if sa and sb:
            text = ("- **`AsyncClient` vs `Client`.** {} vs {} µs median per purge, client CPU {} vs {} µs per "
                    "call. An `AsyncClient` call is the `Client` call submitted to the client's thread pool "
                    "and awaited through `asyncio.wrap_future` (`bindings/python/gcdn/_async.py`): the pool "
                    "thread takes it from the pool's queue, and wakes the event loop when it ends (a write "
                    "to the loop's self-pipe); the two threads hand the GIL back and forth, on the one core "
                    "the row is pinned to.".format(
                        fmt(sa["median_us"]), fmt(sb["median_us"]), fmt(sa["cpu_us"]), fmt(sb["cpu_us"])))
            if a is not None and b is not None:
                more = {k: v - b.get(k, 0) for k, v in a.items() if v - b.get(k, 0) >= 0.5}
                text += (" `strace -f -c` of the two programs (1,000 purges, difference of two call counts) "
                         "counts {:.1f} system calls per call against {:.1f}; the async call's extra ones: {}: "
                         "the hand-off and the wake-up, the request itself the same.".format(
                             sum(a.values()), sum(b.values()),
                             ", ".join("{} +{:.1f}".format(k, v) for k, v in sorted(more.items(), key=lambda kv: -kv[1]))))
            out.append(text)
    rows, s = ctx["rows"], ctx["rows"].summary
    for key, base, what, src, marker in (
            (("gcdn-go-deadline", "purge"), ("gcdn-go", "purge"), "Go call with a deadline context",
             "bindings/go/client.go", "gcdn_run"),
            (("gcdn-py-timeout", "purge"), ("gcdn-py", "purge"), "Python call with `call_timeout=`",
             "bindings/python/gcdn/_client.py", "gcdn_run")):
        if not any(what.split(" with")[0] in m and ("deadline" in m or "timeout" in m) for m in missed):
            continue
        if not (rows.has(key) and rows.has(base)):
            continue
        a, b = s(key), s(base)
        text = (ROOT / src).read_text() if (ROOT / src).exists() else ""
        how = ("it goes through the per-run settings (`gcdn_run`) of the C ABI, no derived client" + (
            "; what it adds is Go's own: `perf record` of the two programs (separately, 20,000 purges "
            "each, pinned) puts the bench program's own share of the samples at 18 % with the deadline "
            "against 10 % without, in `mallocgc` (the `timerCtx` of each `context.WithTimeout` and the "
            "`context.AfterFunc` that fires the run's cancel token), `propagateCancel` and the timer "
            "heap's `lock2`/`unlock2`, while libgcdn's share is the same (40 %); the binding makes one "
            "cgo call more per call neither way (`gcdn_run_set_timeout_ms` runs for both)" if src.endswith(".go") else
            "; the binding's difference is one ctypes call (`gcdn_run_set_timeout_ms`) and the "
            "seconds-to-milliseconds check per call, and `strace -c` of the two programs (separately, "
            "1,000 calls) counts the same system calls per call both ways (`sendto` 1, `recvfrom` 1, "
            "`rt_sigaction` 2: the SIGINT trap of every call in the main thread). On this loaded machine "
            "the rows' per-round medians spread widely (*spread* column), and four alternating runs "
            "afterwards gave 56 / 42 µs without and 46 / 47 µs with")
               if marker in text else
               "in this tree the binding still makes a derived client per call for it{}: `{}` has no "
               "`gcdn_run` yet (issue 12)".format(", and a goroutine watching the context" if src.endswith(".go") else "", src))
        out.append(
            "- **{}.** {:.1f} vs {:.1f} µs median (per-round medians {}–{} vs {}–{}), client CPU {:.1f} vs "
            "{:.1f} µs per call: {}.".format(
                what, a["median_us"], b["median_us"], fmt(a["spread"][0]), fmt(a["spread"][1]), fmt(b["spread"][0]),
                fmt(b["spread"][1]), a["cpu_us"] or 0, b["cpu_us"] or 0, how))
    if any("job makespan" in m for m in missed) and ctx.get("jobs"):
        j = ctx["jobs"]
        for case in j["cases"]:
            for impl, label in (("c", "C job"), ("cli", "CLI")):
                r = case.get(impl)
                if not r or r.get("makespan_ms") is None or not case["bound_ms"]:
                    continue
                f = job_figures(r, case, j["rtt_ms"])
                if f["makespan_ms"] <= 1.05 * case["bound_ms"] + j["rtt_ms"] and not f["rate_limited"] and f["complete"]:
                    continue
                # The pacer's documented margin, once per window of the slowest key.
                steps = max(math.ceil(case["url_requests_each"] / j["url_window"][0]) - 1,
                            math.ceil(case["pattern_requests_each"] / j["pattern_window"][0]) - 1, 0)
                w_ms = case["window_ms"]
                margin = steps * max(w_ms / 50, 50)
                extra = f["makespan_ms"] - case["bound_ms"]
                cj = case.get("c") if impl == "cli" else None
                own = ("; the C job of the same case took {:,.0f} ms, so {:,.0f} ms are the CLI's own (process "
                       "start, reading the file, mapping hosts through `GET /cdn/resources`)".format(
                           cj["makespan_ms"], f["makespan_ms"] - cj["makespan_ms"])
                       if cj and cj.get("makespan_ms") else "")
                out.append(
                    "- **Job, {}, {}.** {:,.0f} ms over the bound: {:,.0f} ms of it is the pacer's documented "
                    "safety margin ({} window(s) × {:.0f} ms, `pacer::margin`: 2 % of a window, at least 50 ms; "
                    "at the API's 60 s windows 2 %), the remaining {:,.0f} ms the requests themselves "
                    "({} purge requests over the job's bounded connections, {} in the last window), "
                    "start-up and the report{}{}.".format(
                        case["name"], label, extra, margin, steps, max(w_ms / 50, 50), extra - margin,
                        f["requests"], case["resources"] * (1 if case["url_requests_each"] else 0), own,
                        "; {} 429s met".format(f["rate_limited"]) if f["rate_limited"] else ""))
    ck = {c["case"]: c for c in (ctx.get("plan") or {}).get("cases", [])}
    if any("cache-key form" in m and "ms" in m and "RSS" not in m for m in missed) and all(
            k in ck for k in ("cachekey", "cachekey-exact", "issue16")):
        a, e, i16 = ck["cachekey"], ck["cachekey-exact"], ck["issue16"]
        out.append(
            "- **Cache-key planning, time.** {:,} ms in cache-key form against {:,} ms for the same job as "
            "given (*cachekey-exact*): {:,} ms go to the {:,} forms (per item: the query split, each name "
            "checked against the resource's or its rule's list, the kept parameters sorted, the form written out; "
            "for a fifth of the resources, the rules' regexes matched against the path first). The plan "
            "section ran last, with the machine at its most loaded (load average {} at the end of the run): "
            "*issue16*, unchanged code, took {:,} ms here; run alone before this run, at a load average of "
            "about 3, the same binary planned *cachekey* in 588 ms and *issue16* in 171 ms (separately, not "
            "in this run).".format(a["plan_ms"], e["plan_ms"], a["plan_ms"] - e["plan_ms"], a.get("rewritten", 0),
                                    ctx["load_end"], i16["plan_ms"]))
    if any("cache-key form: peak RSS" in m for m in missed) and all(
            k in ck for k in ("cachekey", "cachekey-exact", "cachekey-unshared")):
        a, e, u = ck["cachekey"], ck["cachekey-exact"], ck["cachekey-unshared"]
        mib = lambda kib: kib / 1024
        out.append(
            "- **Cache-key planning, peak RSS.** The job's own storage is {:.0f} MiB once built ({:.1f} MB "
            "of input); planning it as given peaks at {:.0f} MiB (*cachekey-exact*). In cache-key form "
            "{:,} of the items change, and `plan_cache_keys` (`src/engine/job/plan.rs`) keeps each new "
            "form as a `String` of its own until the end, then appends them all to the job's text: "
            "{:.0f} MiB more at the peak (*cachekey-unshared*, {:.0f} MiB). Then, because a run plans a "
            "job its caller still holds (`Arc::clone(job.data())` in `run.rs`), `Arc::make_mut` copies "
            "the whole job's storage before appending: {:.0f} MiB more ({:.0f} MiB). Writing the forms "
            "into one buffer as they are found, and keeping them beside the job's text instead of in a "
            "copy of it, would remove most of both.".format(
                mib(a["rss_job_kib"]), a["input_bytes"] / MB, mib(e["peak_kib"]), a.get("rewritten", 0),
                mib(u["peak_kib"] - e["peak_kib"]), mib(u["peak_kib"]), mib(a["peak_kib"] - u["peak_kib"]),
                mib(a["peak_kib"])))
    if any("RSS" in m and "planning" not in m for m in missed):
        out.append(
            "- **Peak RSS.** Most of it is the C library's and libgcdn's code pages (footprint table). The purge row turns over "
            "900 resources (so that the pacer never holds a call), and the pacer keeps a small state per "
            "(resource, kind) key: measured separately on 0.2's code with the same program turning over one "
            "resource instead (paced, 2 ms a call), the peak was 3,612 KiB against 3,936 KiB, about 360 "
            "bytes a key; not measured again in this run.")
    return out


def main(argv=None):
    global REPORT, TARGETS_DATA
    ap = argparse.ArgumentParser(description="Write BENCHMARKS.md from target/bench/results.json.")
    ap.add_argument("--results", default=str(RESULTS))
    ap.add_argument("--targets", default=str(TARGETS))
    ap.add_argument("--out", default=str(REPORT))
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    REPORT = Path(args.out)
    TARGETS_DATA = json.loads(Path(args.targets).read_text())
    ctx = load(args.results)
    targets = write_report(ctx)
    log("wrote " + str(REPORT))
    for name, ok in targets:
        log("  {:8} {}".format({True: "met", False: "MISSED", None: "n/a"}[ok], name))
    return targets


if __name__ == "__main__":
    main()
