"""Build hooks for gcdn (the metadata is in pyproject.toml).

The package is pure Python (ctypes) plus two native files it carries: the C library
``gcdn/libgcdn.so`` and the emulator program ``gcdn/_bin/gcdn-emulator`` (for
``gcdn.testing``). They come from one of:

- **the Rust sources**, built with cargo through setuptools-rust (its no-binding mode for the
  library, its executable mode for the emulator): ``pip install bindings/python`` in a
  checkout (sources at ``../..``) or ``pip install gcdn-<version>.tar.gz`` (the sdist carries
  them under ``rust/``; ``make python-sdist`` writes it). Needs Rust (cargo) and, for the
  crates, crates.io or a vendored copy. ``CARGO_TARGET_DIR`` is honoured; in a checkout it
  defaults to ``target/python``, apart from ``make build``'s ``target/release``. Cargo
  profile variables work too, e.g. ``CARGO_PROFILE_RELEASE_LTO=false`` for a quicker build;
- **prebuilt files**: ``GCDN_PREBUILT=<dir>`` with ``libgcdn.so`` and ``gcdn-emulator`` in it
  (``make python-wheel`` passes ``target/release``), copied without running cargo.

Either way the wheel is tagged ``py3-none-<platform>`` (the library serves any Python 3);
``make python-wheel`` then gives it its ``manylinux`` tag with auditwheel.
"""

import os
import re
import shutil
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
LIB_NAME = {"darwin": "libgcdn.dylib", "win32": "gcdn.dll"}.get(sys.platform, "libgcdn.so")
EMULATOR_NAME = "gcdn-emulator" + (".exe" if sys.platform == "win32" else "")
PREBUILT = os.environ.get("GCDN_PREBUILT") or None

# What of the Rust workspace an sdist carries (under rust/): enough for `cargo build --locked`
# of the library and the emulator. The workspace members are added from Cargo.toml.
RUST_FILES = ["Cargo.toml", "Cargo.lock", "build.rs", "cbindgen.toml", "LICENSE", "LICENSE-MIT", "LICENSE-APACHE"]
# tests/ and benches/plan/: Cargo.toml names targets there ([[test]], [[example]]), and cargo
# refuses a manifest whose named targets are missing.
RUST_DIRS = ["src", "include", "tests", "benches/plan"]
SKIP = shutil.ignore_patterns("target", "__pycache__", "*.pyc", ".git")


def rust_root() -> Optional[str]:
    """The Rust workspace: ``rust/`` in an sdist, ``../..`` in a checkout; None if neither."""
    for root in (os.path.join(HERE, "rust"), os.path.dirname(os.path.dirname(HERE))):
        if all(os.path.exists(os.path.join(root, p)) for p in ("Cargo.toml", "Cargo.lock", "include", "emulator")):
            return root
    return None


def workspace_members(root: str) -> List[str]:
    with open(os.path.join(root, "Cargo.toml"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^\[workspace\][^\[]*?^members\s*=\s*\[([^\]]*)\]", text, re.M | re.S)
    members = re.findall(r'"([^"]+)"', m.group(1)) if m else []
    return [p for p in members if p not in (".", "")]


def rust_extensions(root: str) -> List[Any]:
    from setuptools_rust import Binding, RustExtension, Strip

    env = dict(os.environ)
    in_checkout = os.path.abspath(root) != os.path.join(HERE, "rust")
    if in_checkout and "CARGO_TARGET_DIR" not in env:
        env["CARGO_TARGET_DIR"] = os.path.join(root, "target", "python")
    common: Dict[str, Any] = {"args": ["--locked"], "strip": Strip.All, "env": env}
    return [
        # Shared pacing on Redis (rediss:// included), as `make build` has it.
        RustExtension("gcdn.libgcdn", path=os.path.join(root, "Cargo.toml"), binding=Binding.NoBinding,
                      features=["rate-store-tls"], **common),
        RustExtension({"gcdn-emulator": "gcdn._bin.gcdn-emulator"}, path=os.path.join(root, "emulator", "Cargo.toml"),
                      binding=Binding.Exec, **common),
    ]


def strip(path: str) -> None:
    """Strips a copied native file of what it does not need at run time, as cargo-built ones are."""
    if sys.platform.startswith("linux") and shutil.which("strip"):
        subprocess.call(["strip", "--strip-unneeded", path])


class BuildPy(build_py):
    """Copies the prebuilt files into the package, or checks that cargo will build them."""

    def run(self) -> None:
        super().run()
        pkg = os.path.join(self.build_lib, "gcdn")
        if PREBUILT:
            for name, dest in ((LIB_NAME, os.path.join(pkg, LIB_NAME)),
                               (EMULATOR_NAME, os.path.join(pkg, "_bin", EMULATOR_NAME))):
                src = os.path.join(PREBUILT, name)
                if not os.path.isfile(src):
                    raise SystemExit("GCDN_PREBUILT={!r}: no {} there (run `make build`)".format(PREBUILT, name))
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                self.copy_file(src, dest, preserve_mode=True)
                strip(dest)
        elif not getattr(self.distribution, "rust_extensions", None):
            raise SystemExit(
                "gcdn: nothing to build the C library from: no Rust sources next to this package "
                "(rust/ in an sdist, ../.. in a checkout), or setuptools-rust is missing "
                "(pip installs it from pyproject.toml's build-system.requires), and no GCDN_PREBUILT."
            )


class Sdist(sdist):
    """Puts the Rust sources into the sdist, under rust/, so it builds on its own."""

    def make_release_tree(self, base_dir: str, files: List[str]) -> None:
        super().make_release_tree(base_dir, files)
        root = rust_root()
        if root is None:
            raise SystemExit("gcdn sdist: no Rust sources at ../.. (build the sdist in a checkout)")
        dest = os.path.join(base_dir, "rust")
        if os.path.exists(dest):
            shutil.rmtree(dest)
        os.makedirs(dest)
        for name in RUST_FILES:
            if os.path.isfile(os.path.join(root, name)):
                shutil.copy2(os.path.join(root, name), os.path.join(dest, name))
        for name in RUST_DIRS + workspace_members(root):
            shutil.copytree(os.path.join(root, name), os.path.join(dest, name), ignore=SKIP)
        # The copy must be a workspace cargo can read, with the lock file it came with.
        subprocess.check_call(["cargo", "metadata", "--locked", "--offline", "--format-version", "1",
                               "--no-deps", "--manifest-path", os.path.join(dest, "Cargo.toml")],
                              stdout=subprocess.DEVNULL)


class PlatformDistribution(Distribution):
    """Platform-specific: the package carries native files."""

    def has_ext_modules(self) -> bool:
        return True


cmdclass: Dict[str, Any] = {"build_py": BuildPy, "sdist": Sdist}

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    try:
        from wheel.bdist_wheel import bdist_wheel
    except ImportError:
        bdist_wheel = None

if bdist_wheel is not None:

    class BdistWheel(bdist_wheel):
        """The library serves any Python 3 (ctypes): tag ``py3-none-<platform>``."""

        def get_tag(self) -> Tuple[str, str, str]:
            _, _, plat = super().get_tag()
            return "py3", "none", plat

    cmdclass["bdist_wheel"] = BdistWheel



def setup_kwargs() -> Dict[str, Any]:
    kwargs: Dict[str, Any] = {"cmdclass": cmdclass, "distclass": PlatformDistribution, "zip_safe": False}
    root = rust_root()
    if PREBUILT or root is None:
        return kwargs
    try:
        from setuptools_rust import build_rust
    except ImportError:
        return kwargs  # fine for an sdist; a build stops in BuildPy, saying what is missing

    class BuildRust(build_rust):  # type: ignore[misc]
        """setuptools-rust names a no-binding library like an extension module
        (libgcdn.cpython-311-x86_64-linux-gnu.so); the package loads it as libgcdn.so."""

        def get_dylib_ext_path(self, ext: Any, target_fname: str) -> str:
            path = str(super().get_dylib_ext_path(ext, target_fname))
            if target_fname == "gcdn.libgcdn":
                return os.path.join(os.path.dirname(path), LIB_NAME)
            return path

    cmdclass["build_rust"] = BuildRust
    kwargs["rust_extensions"] = rust_extensions(root)
    return kwargs


setup(**setup_kwargs())
