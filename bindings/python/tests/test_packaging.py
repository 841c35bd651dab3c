"""Loading the library (search order, errors, version check), prototypes, import time, syntax."""

import ast
import ctypes
import os
import re
import shutil
import subprocess
import sys

import pytest

import gcdn
from gcdn import _lib

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(PYTHON_DIR, "gcdn")
REPO = os.path.dirname(os.path.dirname(PYTHON_DIR))
HEADER = os.path.join(REPO, "include", "gcdn.h")


def run_python(code, cwd, pythonpath, **env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("GCDN_LIBRARY", "PYTHONPATH")}
    env["PYTHONPATH"] = pythonpath
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)


def copy_package(dest):
    shutil.copytree(PACKAGE_DIR, os.path.join(dest, "gcdn"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    return os.path.join(dest, "gcdn")


def test_found_in_the_repository_build_tree(tmp_path):
    r = run_python("import gcdn; print(gcdn._lib_path)", str(tmp_path), PYTHON_DIR)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.join(REPO, "target", "release", "libgcdn.so")


def test_gcdn_library_comes_first(tmp_path):
    copy = str(tmp_path / "copy-of-libgcdn.so")
    shutil.copy(gcdn._lib_path, copy)
    r = run_python("import gcdn; print(gcdn._lib_path)", str(tmp_path), PYTHON_DIR, GCDN_LIBRARY=copy)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == copy


def test_gcdn_library_wrong_path_is_an_import_error(tmp_path):
    missing = str(tmp_path / "nowhere" / "libgcdn.so")
    r = run_python("import gcdn", str(tmp_path), PYTHON_DIR, GCDN_LIBRARY=missing)
    assert r.returncode != 0
    assert "ImportError" in r.stderr and missing in r.stderr and "GCDN_LIBRARY" in r.stderr
    assert "cargo build --release" in r.stderr


def test_bundled_copy_is_used(tmp_path):
    pkg = copy_package(str(tmp_path))
    shutil.copy(gcdn._lib_path, os.path.join(pkg, "libgcdn.so"))
    r = run_python("import gcdn; print(gcdn._lib_path)", str(tmp_path), str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.join(pkg, "libgcdn.so")


def test_nothing_found_says_where_it_looked(tmp_path):
    pkg = copy_package(str(tmp_path))
    r = run_python("import gcdn", str(tmp_path), str(tmp_path))
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    assert os.path.join(pkg, "libgcdn.so") in r.stderr
    assert "cargo build --release" in r.stderr and "GCDN_LIBRARY" in r.stderr


def test_version_check():
    for good in ["0.1.0", "0.1.99", "0.1.0-rc.1"]:
        _lib._check_version(good, "lib")
    for bad in ["0.2.0", "1.1.0", "", "garbage"]:
        with pytest.raises(ImportError, match="supports 0.1.x"):
            _lib._check_version(bad, "lib")


def test_versions_agree():
    with open(os.path.join(REPO, "Cargo.toml")) as f:
        cargo_version = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    assert gcdn.__version__ == cargo_version == gcdn.library_version()


def test_every_header_function_has_a_prototype():
    with open(HEADER) as f:
        header = f.read()
    declared = set(re.findall(r"\b(gcdn_\w+)\(", header))
    wrapped = {name for name, _, _ in _lib._PROTOTYPES}
    assert declared == wrapped
    for name in declared:
        fn = getattr(_lib.LIB, name)
        assert fn.argtypes is not None, name
        returns_void = re.search(r"\bvoid\s+" + name + r"\(", header) is not None
        assert (fn.restype is None) == returns_void, name
        if "char **error_out" in header.split(name + "(", 1)[1].split(";", 1)[0]:
            assert fn.argtypes[-1] is ctypes.POINTER(ctypes.c_void_p), name


def test_every_header_constant_matches():
    """The wrapper's status codes, flags and limits are the header's, and every status has
    its exception class."""
    from gcdn import _errors

    with open(HEADER) as f:
        text = f.read()
    values = {}
    for name, number, shift in re.findall(r"^#define (GCDN_\w+) \(?(\d+)u?(?: << (\d+))?\)?$", text, re.M):
        values[name] = int(number) << int(shift or 0)
    statuses = {n: v for n, v in values.items() if n == "GCDN_OK" or n.startswith("GCDN_ERR_")}
    assert {"GCDN_OK", "GCDN_ERR_PANIC", "GCDN_ERR_CANCELLED"} <= set(statuses), statuses
    for name, value in statuses.items():
        assert getattr(_errors, name[len("GCDN_"):]) == value, name
        if name != "GCDN_OK":
            assert _errors.error_for(value, "m").__class__ is not gcdn.GcdnError, name
    assert _lib.DELETE_DEACTIVATE_FIRST == values["GCDN_DELETE_DEACTIVATE_FIRST"]
    assert _lib.DELETE_MISSING_OK == values["GCDN_DELETE_MISSING_OK"]
    assert _lib.MAX_ITEMS == values["GCDN_MAX_ITEMS"]
    for level in ("ERROR", "WARN", "INFO", "DEBUG", "TRACE"):
        assert getattr(_lib, "LOG_" + level) == values["GCDN_LOG_" + level], level


def test_import_time():
    code = "import time; t = time.perf_counter(); import gcdn; print(time.perf_counter() - t)"
    best = min(float(run_python(code, REPO, PYTHON_DIR).stdout) for _ in range(3))
    assert best < 0.5, "import gcdn took {:.3f} s".format(best)


def test_python_38_syntax():
    for name in sorted(os.listdir(PACKAGE_DIR)):
        if name.endswith(".py"):
            with open(os.path.join(PACKAGE_DIR, name)) as f:
                ast.parse(f.read(), filename=name, feature_version=(3, 8))


def test_typed_package():
    assert os.path.isfile(os.path.join(PACKAGE_DIR, "py.typed"))


def test_import_loads_only_what_it_needs():
    """`import gcdn` leaves the heavy standard-library modules to first use (issue 24): no
    typing, dataclasses, json, logging, asyncio, concurrent.futures, signal or threading.
    Run with -S, as a Python with no site-packages hooks starts, to see gcdn's own imports."""
    heavy = ("typing", "dataclasses", "json", "logging", "asyncio", "concurrent.futures", "signal",
             "threading", "inspect", "re")
    code = ("import sys; sys.path.insert(0, {!r}); before = set(sys.modules); import gcdn; "
            "print(' '.join(sorted(m for m in {!r} if m in sys.modules and m not in before)))")
    r = subprocess.run([sys.executable, "-S", "-c", code.format(PYTHON_DIR, heavy)], cwd=REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [], "import gcdn loaded " + r.stdout
    # Each is loaded where it is needed, and the names work.
    code = ("import sys; sys.path.insert(0, {!r}); import gcdn; gcdn.Report; gcdn.TRACE; gcdn.AsyncClient; "
            "print(' '.join(sorted(m for m in ('dataclasses', 'json', 'logging', 'asyncio') if m in sys.modules)))")
    r = subprocess.run([sys.executable, "-S", "-c", code.format(PYTHON_DIR)], cwd=REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert r.stdout.split() == ["asyncio", "dataclasses", "json", "logging"], r.stdout + r.stderr
