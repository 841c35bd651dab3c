#!/usr/bin/env python3
"""Builds a platform wheel of gcdn that bundles the C library, so it needs no GCDN_LIBRARY.

    cargo build --release                 # at the repository root: target/release/libgcdn.so
    python bindings/python/build_wheel.py # -> bindings/python/dist/gcdn-0.1.0-py3-none-<platform>.whl

Options: ``--library PATH`` (default: the repository's target/release build), ``--out DIR``
(default: bindings/python/dist); anything else is passed to ``pip wheel`` (for instance
``--no-build-isolation`` when setuptools and wheel are installed and no index is reachable).
"""

import argparse
import ctypes
import os
import subprocess
import sys
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
    parser.add_argument("--library", default=os.path.join(REPO, "target", "release", LIB_NAME))
    parser.add_argument("--out", default=os.path.join(HERE, "dist"))
    args, pip_args = parser.parse_known_args(argv)
    library = os.path.abspath(args.library)
    if not os.path.isfile(library):
        print("build_wheel: {} not found: run `cargo build --release` first".format(library), file=sys.stderr)
        return 1
    lib = ctypes.CDLL(library)
    lib.gcdn_version.restype = ctypes.c_char_p
    lib_version, version = lib.gcdn_version().decode(), package_version()
    if lib_version != version:
        print("build_wheel: library {} is {}, the package {}".format(library, lib_version, version), file=sys.stderr)
        return 1
    env = dict(os.environ, GCDN_BUNDLE_LIBRARY=library)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", os.path.abspath(args.out)]
    return subprocess.call(cmd + pip_args + [HERE], env=env)


if __name__ == "__main__":
    sys.exit(main())
