#!/usr/bin/env python3
"""The report: BENCHMARKS.md from the JSON rows of target/bench/results.json (written by
benches/measure.py) and the targets of benches/targets.json. Measures nothing; can be run
again on the same results.

    benches/report.py [--results target/bench/results.json] [--out BENCHMARKS.md]
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import util
from util import BENCHES, GO_SDK_MODULE, OPS, RESULTS, TARGETS, log

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


def evaluate(ctx, t, op):
    """One target of targets.json for one call (op, or None): (name, measured, met or None)."""
    rows, s = ctx["rows"], ctx["rows"].summary
    go_impl = ctx["go_sdk"][0]
    go_baseline = "the official Go SDK" if go_impl == "gcore-go" else "a plain net/http loop (the Go SDK could not be had)"
    name = t["name"].format(op=op, max=t.get("max"), min=t.get("min"), go_baseline=go_baseline)
    limit_ok = lambda v: (v <= t["max"]) if "max" in t else (v >= t["min"])
    not_measured = (name, "not measured in this run", None)
    m = t["measure"]
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
        return name, "{} ms".format(fmt(v)), limit_ok(v)
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
    raise ValueError("targets.json: unknown measure " + repr(m))


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
    w("- Requests: purge by URL of resource 1 with 2 URLs (`{\"urls\":[\"/img/logo.png\",\"/index.html?v=2\"]}`) "
      "and delete of resource 1. gcdn, the libcurl loop and wrk send the same request line, headers "
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
    w("| client | call | median µs | p99 µs | calls/s | client CPU µs/call | spread of medians µs | conns | bytes/request | requests seen |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    labels = rows.labels
    go_impl = ctx["go_sdk"][0]
    for op in OPS:
        for who in ("gcdn-c", "curl-c", "wrk", "gcdn-py", "gcore-py", "gcdn-go", "gcdn-go-deadline", "sdk-go", "gcdn-go-free", "sdk-go-free"):
            r = s((who, op))
            if r is None:
                continue
            label = labels[(who, op)]
            if who.startswith("sdk-go"):
                label = "official Go SDK (gcore-go)" if go_impl == "gcore-go" else "plain net/http loop (no Go SDK, see below)"
                if who.endswith("-free"):
                    label += ", not pinned"
            w("| {} | {} | {} | {} | {} | {} | {}–{} | {} | {} | {} |".format(
                label, op, fmt(r["median_us"]), fmt(r["p99_us"]), fmt(r["calls_per_s"], 0),
                fmt(r["cpu_us"]), fmt(r["spread"][0]), fmt(r["spread"][1]), r["connections"],
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
      "(ceil({:,}/100) = {}: {}), on {} connection, in **{} ms** (median wall time; no 429 from this "
      "server, so no pacing).".format(
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


def targets_section(ctx, w):
    w("## Targets ({})".format(TARGETS_DATA["source"]))
    w("")
    w("| target | measured | |")
    w("| --- | --- | --- |")
    targets = []
    for t in TARGETS_DATA["targets"]:
        for op in (OPS if t.get("per_op") else (None,)):
            name, measured, ok = evaluate(ctx, t, op)
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




def explain(ctx, missed):
    """What the profile says about each missed target."""
    out = []
    sc = ctx.get("syscalls")
    if any("wrk" in m for m in missed) and sc and "callgrind" in ctx:
        g, f = sc[("gcdn", "purge")], sc[("wrk", "purge")]
        out.append(
            "- **wrk's floor.** wrk replays one request it built once, and makes {:.1f} system calls "
            "per request; gcdn makes {:.1f} ({}). The transport sets the socket's timeouts only when "
            "they change and does not probe a connection in steady use before reusing it (see "
            "`Quiet` in `src/engine/http/tuned.rs`), so what is left above the floor is work in "
            "user space: gcdn builds each request from the call (checks, de-duplication, JSON, URL, "
            "headers) and reads the answer into an `http::Response`, about {:,.0f} instructions per "
            "purge (table above), most of them in ureq {} and the `http` crate.".format(
                sum(f.values()), sum(g.values()),
                ", ".join("{} {:.1f}".format(k, v) for k, v in sorted(g.items(), key=lambda kv: -kv[1])),
                ctx["callgrind"][("gcdn", "purge")], ctx["ureq"]))
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
    if any("RSS" in m for m in missed):
        out.append("- **Peak RSS.** See the footprint table; most of it is the C library and libgcdn's code pages.")
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
