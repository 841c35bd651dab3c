"""What every part of the benchmark shares: paths, settings, and running commands."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ROOT / "benches"
OUT = ROOT / "target" / "bench"
BIN = OUT / "bin"
LIB = ROOT / "target" / "release" / "libgcdn.so"
RESULTS = OUT / "results.json"
TARGETS = BENCHES / "targets.json"
REPORT = ROOT / os.environ.get("BENCH_OUT", "BENCHMARKS.md")

OPS = ("purge", "delete")
GO_SDK_MODULE = "github.com/G-Core/gcore-go"


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


def sh(cmd, check=True, env=None, cwd=None, timeout=None, capture=True):
    """Run a command; its stdout (text). Raises with its stderr on failure when `check`."""
    r = subprocess.run(
        [str(c) for c in cmd],
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )
    if check and r.returncode != 0:
        raise RuntimeError("{} failed ({}):\n{}{}".format(" ".join(map(str, cmd)), r.returncode, r.stdout or "", r.stderr or ""))
    return r.stdout if capture else ""


def first_line(cmd, stderr=False):
    try:
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unavailable ({})".format(e)
    text = (r.stderr if stderr else r.stdout) or r.stdout or r.stderr
    return text.strip().splitlines()[0] if text.strip() else "?"


def which(tool):
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin:/usr/local/sbin")
