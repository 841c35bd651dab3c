"""The distributions, installed as a user installs them: the manylinux wheel, the sdist, and
the source tree (`pip install bindings/python`), each into a fresh venv, then used from
outside the checkout (cwd a temporary directory, no GCDN_* or PYTHONPATH): the bundled library
is loaded and a real call goes to the bundled emulator through gcdn.testing.

Marked ``install`` (``make test-python-install``, or ``pytest -m install``). The wheel is built
from `make build`'s files (``build_wheel.py``: needs auditwheel and patchelf). The sdist and the
source tree are compiled by cargo through setuptools-rust: crates.io and PyPI must be reachable
(or the crates vendored / cached). To keep that to seconds after the first run, the builds
share ``CARGO_TARGET_DIR=<repo>/target/install-test`` (``GCDN_TEST_CARGO_TARGET_DIR``
overrides it) and skip fat LTO (``CARGO_PROFILE_RELEASE_LTO=false``); the first run compiles
every crate in release: minutes on two cores.
"""

import glob
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest

pytestmark = pytest.mark.install

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(PYTHON_DIR))
VERSION = __import__("gcdn").__version__
BUILD_TIMEOUT = 30 * 60

# Run by the venv's Python, from a temporary directory.
USE = r"""
import json, logging, os, sys
import gcdn
# The requests are logged through Python's logging, to a list checked below.
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)
logging.getLogger("gcdn").addHandler(Keep())
logging.getLogger("gcdn").setLevel(logging.DEBUG)
from gcdn.testing import Emulator, find_binary

site = os.path.dirname(os.path.dirname(os.path.abspath(gcdn.__file__)))
assert gcdn._lib_path == os.path.join(site, "gcdn", "libgcdn.so"), gcdn._lib_path
assert find_binary() == os.path.join(site, "gcdn", "_bin", "gcdn-emulator"), find_binary()
with Emulator("install-key-7Yt3", resources=[5]) as emu, emu.client(max_retries=0) as client:
    client.purge_urls(5, ["/installed.html"])
    try:
        client.purge_all(6)
    except gcdn.NotFoundError:
        pass
    else:
        sys.exit("purge_all(6) did not fail")
    seen = [(r["method"], r["path"], r["status"]) for r in emu.requests()]
logged = [r for r in records if getattr(r, "gcdn_event", None) == "request"]
assert len(logged) >= 2 and all(r.method == "POST" for r in logged), [r.getMessage() for r in records]
print(json.dumps({"version": gcdn.library_version(), "requests": seen}))
"""


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("GCDN_LIBRARY", "GCDN_EMULATOR", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(extra)
    return env


def run(cmd, **kw):
    kw.setdefault("timeout", BUILD_TIMEOUT)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, **kw)
    assert r.returncode == 0, "{} failed ({}):\n{}".format(" ".join(cmd), r.returncode, r.stdout[-6000:])
    return r.stdout


def fresh_venv(path):
    run([sys.executable, "-m", "venv", str(path)], timeout=300)
    return os.path.join(str(path), "bin", "python")


def cargo_env():
    target = os.environ.get("GCDN_TEST_CARGO_TARGET_DIR") or os.path.join(REPO, "target", "install-test")
    return clean_env(CARGO_TARGET_DIR=target, CARGO_PROFILE_RELEASE_LTO="false",
                     CARGO_PROFILE_RELEASE_CODEGEN_UNITS="16")


def check_use(python, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = run([python, "-c", USE], cwd=str(outside), env=clean_env(), timeout=120)
    import json

    got = json.loads(out.strip().splitlines()[-1])
    assert got["version"] == VERSION
    assert got["requests"] == [["POST", "/cdn/resources/5/purge", 201], ["POST", "/cdn/resources/6/purge", 404]]


def test_wheel(tmp_path):
    out = tmp_path / "dist"
    run([sys.executable, os.path.join(PYTHON_DIR, "build_wheel.py"), "--out", str(out)], env=clean_env())
    wheels = glob.glob(str(out / "*.whl"))
    assert len(wheels) == 1, wheels
    name = os.path.basename(wheels[0])
    # py3-none-manylinux_2_X_<arch>: any Python 3, a manylinux tag, never a bare linux one.
    assert name.startswith("gcdn-{}-py3-none-manylinux_".format(VERSION)), name
    assert "-linux_" not in name, name
    with zipfile.ZipFile(wheels[0]) as z:
        members = {i.filename: i for i in z.infolist()}
    assert "gcdn/libgcdn.so" in members and "gcdn/_bin/gcdn-emulator" in members
    assert (members["gcdn/_bin/gcdn-emulator"].external_attr >> 16) & 0o111, "the emulator is not executable"
    assert "gcdn/testing.py" in members and "gcdn/pytest_plugin.py" in members
    python = fresh_venv(tmp_path / "venv")
    # --no-index: the wheel needs nothing else.
    run([python, "-m", "pip", "install", "--no-index", "--no-cache-dir", wheels[0]], env=clean_env())
    check_use(python, tmp_path)


def test_sdist(tmp_path):
    out = tmp_path / "dist"
    code = "from setuptools import build_meta as b; print(b.build_sdist({!r}))".format(str(out))
    run([sys.executable, "-c", code], cwd=PYTHON_DIR, env=clean_env(), timeout=300)
    sdist = out / "gcdn-{}.tar.gz".format(VERSION)
    assert sdist.is_file(), os.listdir(str(out))
    with tarfile.open(str(sdist)) as t:
        names = set(t.getnames())
    top = "gcdn-{}/".format(VERSION)
    for need in ["setup.py", "pyproject.toml", "gcdn/__init__.py", "gcdn/testing.py", "rust/Cargo.toml",
                 "rust/Cargo.lock", "rust/build.rs", "rust/cbindgen.toml", "rust/src/lib.rs", "rust/src/ffi/mod.rs",
                 "rust/include/gcdn.h", "rust/emulator/Cargo.toml", "rust/emulator/src/main.rs"]:
        assert top + need in names, need
    assert not [n for n in names if "/target/" in n or n.endswith(".so") or "__pycache__" in n]
    python = fresh_venv(tmp_path / "venv")
    run([python, "-m", "pip", "install", "--no-cache-dir", str(sdist)], cwd=str(tmp_path), env=cargo_env())
    check_use(python, tmp_path)


def test_source_tree(tmp_path):
    python = fresh_venv(tmp_path / "venv")
    run([python, "-m", "pip", "install", "--no-cache-dir", PYTHON_DIR], cwd=str(tmp_path), env=cargo_env())
    check_use(python, tmp_path)
