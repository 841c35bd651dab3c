"""Installing and building what the benchmark runs: Debian packages (nginx, wrk, valgrind,
strace, libcurl's headers) when missing, the official Python SDK into a venv, the official Go
SDK from the Go module proxy (else the net/http fallback), and the C and Go programs."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from util import BENCHES, BIN, GO_SDK_MODULE, LIB, OUT, ROOT, log, sh, which


def ensure_debian_packages():
    wanted = {
        "nginx": "nginx-light",
        "wrk": "wrk",
        "valgrind": "valgrind",
        "curl-config": "libcurl4-openssl-dev",
        "taskset": "util-linux",
        "strip": "binutils",
        "gcc": "gcc",
        "strace": "strace",
    }
    missing = sorted({pkg for tool, pkg in wanted.items() if not which(tool)})
    if not missing:
        return
    log("installing from Debian: " + " ".join(missing))
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sh(prefix + ["apt-get", "update", "-qq"], env=env)
    sh(prefix + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing, env=env)
    still = [tool for tool in wanted if not which(tool)]
    if still:
        raise RuntimeError("still missing after apt-get install: " + ", ".join(still))


def ensure_python_sdk():
    """A venv with the official `gcore` SDK; (python, note or None)."""
    venv = OUT / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        log("creating a venv for the Python SDK: " + str(venv))
        r = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if r.returncode != 0:
            return Path(sys.executable), "could not create a venv: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    have = subprocess.run([python, "-c", "import gcore"], capture_output=True).returncode == 0
    if not have:
        log("installing the official Python SDK (gcore) from PyPI")
        r = subprocess.run([python, "-m", "pip", "install", "-q", "gcore"], capture_output=True, text=True)
        if r.returncode != 0:
            return python, "pip install gcore failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return python, None


def build_go_sdk_bench():
    """Build benches/go-sdk with the official SDK if the module proxy has it, else with the
    net/http fallback. Returns (implementation, version or reason)."""
    src = BENCHES / "go-sdk"
    work = OUT / "go-sdk"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(src, work)
    exe = BIN / "bench-go-sdk"
    reason = None
    try:
        r = subprocess.run(
            ["go", "get", GO_SDK_MODULE + "@latest"], cwd=work, capture_output=True, text=True, timeout=300
        )
        if r.returncode == 0:
            b = subprocess.run(
                ["go", "build", "-tags", "gcoresdk", "-o", str(exe), "."],
                cwd=work, capture_output=True, text=True, timeout=600,
            )
            if b.returncode == 0:
                mod = (work / "go.mod").read_text()
                m = re.search(re.escape(GO_SDK_MODULE) + r" (\S+)", mod)
                return "gcore-go", m.group(1) if m else "?"
            reason = "fetched, but the benchmark did not build against it: " + b.stderr.strip()[-300:]
        else:
            # e.g. "403 Forbidden: This module version is not available." (addresses left out)
            text = re.sub(r"https?://\S+", "", " ".join(r.stderr.split()))
            text = re.sub(r"^go: \S+: module \S+: reading\s*:?\s*", "", text)
            reason = text.replace(" server response:", "").strip()[:200] or "go get failed"
    except subprocess.TimeoutExpired:
        reason = "the Go module proxy did not answer within 300 s"
    log("official Go SDK unavailable ({}); using a plain net/http loop".format(reason))
    shutil.rmtree(work)
    shutil.copytree(src, work)
    sh(["go", "build", "-o", exe, "."], cwd=work)
    return "net/http", reason


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


def prepare(bindings=True):
    """Everything the measurement needs; what it found goes to target/bench/prepared.json.
    `bindings`: also the Python SDK and the Go programs (the Python and Go rows)."""
    OUT.mkdir(parents=True, exist_ok=True)
    ensure_debian_packages()
    if bindings:
        python, py_sdk_note = ensure_python_sdk()
    else:
        python, py_sdk_note = Path(sys.executable), "not prepared (no Python and Go rows in this run)"
    build_programs(go=bindings)
    go_sdk = build_go_sdk_bench() if bindings else ("net/http", "not prepared")
    (OUT / "prepared.json").write_text(json.dumps(
        {"python": str(python), "py_sdk_note": py_sdk_note, "go_sdk": list(go_sdk)}, indent=1))


if __name__ == "__main__":
    if not LIB.exists():
        sys.exit("benches/prepare.py: {} is missing: run `make bench` (it builds first)".format(LIB))
    prepare(bindings="--no-bindings" not in sys.argv[1:])
