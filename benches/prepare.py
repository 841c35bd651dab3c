"""Installing and building what the benchmark runs: Debian packages (nginx, wrk, valgrind,
strace, libcurl's headers) and the official Python SDK into a venv through scripts/deps.sh
(its `bench` group), the official Go SDK from the Go module proxy (else the net/http
fallback), and the C and Go programs."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from util import BENCHES, BIN, GO_SDK_MODULE, LIB, OUT, ROOT, log, sh


def ensure_packages():
    """nginx, wrk, valgrind, strace, libcurl's headers (Debian) and the official Python SDK in
    target/bench/venv: scripts/deps.sh's `bench` group, which stops with the command to run
    when it may not install."""
    r = subprocess.run([str(ROOT / "scripts" / "deps.sh"), "bench"])
    if r.returncode != 0:
        sys.exit(r.returncode)


def ensure_python_sdk():
    """The venv with the official `gcore` SDK that scripts/deps.sh made; (python, note or None)."""
    python = OUT / "venv" / "bin" / "python"
    if not python.exists():
        return Path(sys.executable), "could not create a venv for it (scripts/deps.sh bench says why)"
    if subprocess.run([python, "-c", "import gcore"], capture_output=True).returncode != 0:
        return python, "pip install gcore failed (scripts/deps.sh bench says why)"
    return python, None


def find_anchor():
    """`shared/anchors/gcore-go` beside the clone, or beside a folder above it (a worktree
    under /work/wt/ has it two levels up)."""
    for up in ROOT.parents:
        p = up / "shared" / "anchors" / "gcore-go"
        if p.is_dir():
            return p
    return ROOT.parent / "shared" / "anchors" / "gcore-go"


ANCHOR_GO_SDK = find_anchor()


def anchor_version(path):
    m = re.search(r'PackageVersion = "([^"]+)"', (path / "internal" / "version.go").read_text()) \
        if (path / "internal" / "version.go").exists() else None
    return m.group(1) if m else "?"


def build_go_sdk_bench():
    """Build benches/go-sdk with the official SDK: from the Go module proxy if it has it, else
    from the read-only copy beside the clone (`../shared/anchors/gcore-go`, through a
    `replace`; its own dependencies still come from the proxy), else with the net/http
    fallback. Returns (implementation, version or reason, source)."""
    src = BENCHES / "go-sdk"
    work = OUT / "go-sdk"
    exe = BIN / "bench-go-sdk"

    def fresh():
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(src, work)

    def build():
        return subprocess.run(["go", "build", "-tags", "gcoresdk", "-o", str(exe), "."],
                              cwd=work, capture_output=True, text=True, timeout=900)

    reasons = []
    fresh()
    try:
        r = subprocess.run(["go", "get", GO_SDK_MODULE + "@latest"], cwd=work, capture_output=True,
                           text=True, timeout=300)
        if r.returncode == 0:
            b = build()
            if b.returncode == 0:
                m = re.search(re.escape(GO_SDK_MODULE) + r" (\S+)", (work / "go.mod").read_text())
                return "gcore-go", m.group(1) if m else "?", "the Go module proxy"
            reasons.append("fetched, but the benchmark did not build against it: " + b.stderr.strip()[-300:])
        else:
            # e.g. "403 Forbidden: This module version is not available." (addresses left out)
            text = re.sub(r"https?://\S+", "", " ".join(r.stderr.split()))
            text = re.sub(r"^go: \S+: module \S+: reading\s*:?\s*", "", text)
            reasons.append("module proxy: " + (text.replace(" server response:", "").strip()[:200] or "go get failed"))
    except subprocess.TimeoutExpired:
        reasons.append("the Go module proxy did not answer within 300 s")
    if ANCHOR_GO_SDK.is_dir() and (ANCHOR_GO_SDK / "go.mod").exists():
        version = anchor_version(ANCHOR_GO_SDK)
        log("official Go SDK: the module proxy refused it; building against {} (replace)".format(ANCHOR_GO_SDK))
        fresh()
        try:
            sh(["go", "mod", "edit", "-replace", "{}={}".format(GO_SDK_MODULE, ANCHOR_GO_SDK.resolve()),
                "-require", "{}@v{}".format(GO_SDK_MODULE, version if version != "?" else "0.0.0")], cwd=work)
            sh(["go", "mod", "tidy"], cwd=work, timeout=300)
            b = build()
            if b.returncode == 0:
                return "gcore-go", version, "../shared/anchors/gcore-go (a `replace`; the module proxy refused it)"
            reasons.append("../shared/anchors/gcore-go did not build: " + b.stderr.strip()[-300:])
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            reasons.append("../shared/anchors/gcore-go: " + str(e)[-300:])
    else:
        reasons.append("no ../shared/anchors/gcore-go beside the clone")
    reason = "; ".join(reasons)
    log("official Go SDK unavailable ({}); using a plain net/http loop".format(reason))
    fresh()
    sh(["go", "build", "-o", exe, "."], cwd=work)
    return "net/http", reason, None


def build_programs(go=True):
    BIN.mkdir(parents=True, exist_ok=True)
    cflags = ["-O2", "-Wall", "-Wextra", "-Werror"]
    c = BENCHES / "c"
    sh(["gcc"] + cflags + ["-I", ROOT / "include", "-o", BIN / "bench_gcdn", c / "bench_gcdn.c",
        "-L", LIB.parent, "-lgcdn", "-Wl,-rpath," + str(LIB.parent), "-lpthread"])
    curl_flags = sh(["curl-config", "--cflags"]).split() + sh(["curl-config", "--libs"]).split()
    sh(["gcc"] + cflags + ["-o", BIN / "bench_curl", c / "bench_curl.c"] + curl_flags)
    sh(["gcc"] + cflags + ["-o", BIN / "bench_load", c / "bench_load.c", "-ldl"])
    if go:
        sh(["go", "build", "-o", BIN / "bench-go-gcdn", "."], cwd=BENCHES / "go")
    # The job and shared-pacing program: its rows need the job ABI (gcdn_job_run) and the
    # rate store (gcdn_options_set_rate_store); it builds without them and says which is there.
    notes = {}
    sh(["gcc"] + cflags + ["-I", ROOT / "include", "-o", BIN / "bench_job", c / "bench_job.c",
        "-L", LIB.parent, "-lgcdn", "-Wl,-rpath," + str(LIB.parent)])
    have = json.loads(sh([BIN / "bench_job", "-", "probe"]))
    for what, name in (("job", "the job ABI (gcdn_job_run)"), ("rate_store", "gcdn_options_set_rate_store")):
        if not have[what]:
            notes[what] = "this libgcdn has no " + name
            log(notes[what])
    # Planning 1,000,000 URLs: the plan_bench example (benches/plan), when the tree has it.
    if "plan_bench" in (ROOT / "Cargo.toml").read_text():
        # With `make build`'s features, so that cargo reuses the library it built.
        m = re.search(r"^FEATURES \?= *(.*)$", (ROOT / "Makefile").read_text(), re.M)
        features = (os.environ.get("FEATURES") or (m.group(1) if m else "")).split()
        r = subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "plan_bench"] + features,
                           cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            notes["plan_bench"] = "the plan_bench example did not build: " + r.stderr.strip()[-300:]
            log(notes["plan_bench"])
    return notes


def prepare(bindings=True, python_sdk=False):
    """Everything the measurement needs; what it found goes to target/bench/prepared.json.
    `bindings`: also the Python SDK and the Go programs (the Python and Go rows);
    `python_sdk`: the Python SDK alone (the coalescing rows' baseline)."""
    OUT.mkdir(parents=True, exist_ok=True)
    ensure_packages()
    if bindings or python_sdk:
        python, py_sdk_note = ensure_python_sdk()
    else:
        python, py_sdk_note = Path(sys.executable), "not prepared (no Python and Go rows in this run)"
    notes = build_programs(go=bindings)
    go_sdk = build_go_sdk_bench() if bindings else ("net/http", "not prepared", None)
    (OUT / "prepared.json").write_text(json.dumps(
        {"python": str(python), "py_sdk_note": py_sdk_note, "go_sdk": list(go_sdk), "notes": notes}, indent=1))


if __name__ == "__main__":
    if not LIB.exists():
        sys.exit("benches/prepare.py: {} is missing: run `make bench` (it builds first)".format(LIB))
    prepare(bindings="--no-bindings" not in sys.argv[1:])
