"""Build hooks for gcdn (the metadata is in pyproject.toml).

A plain build (``pip install ./bindings/python``) gives a pure-Python package that finds the C
library at run time. With ``GCDN_BUNDLE_LIBRARY=/abs/path/libgcdn.so`` set, the build copies
that library into the package and tags the wheel for this platform (``py3-none-<platform>``):
``build_wheel.py`` next to this file does exactly that.
"""

import os
import sys
from typing import Tuple

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

if sys.platform == "darwin":
    LIB_NAME = "libgcdn.dylib"
elif sys.platform == "win32":
    LIB_NAME = "gcdn.dll"
else:
    LIB_NAME = "libgcdn.so"

BUNDLE = os.environ.get("GCDN_BUNDLE_LIBRARY") or None


class BuildPy(build_py):
    """Copies the bundled library into the package (and drops a stale copy otherwise)."""

    def run(self) -> None:
        super().run()
        dest = os.path.join(self.build_lib, "gcdn", LIB_NAME)
        if BUNDLE:
            if not os.path.isfile(BUNDLE):
                raise SystemExit("GCDN_BUNDLE_LIBRARY={!r}: no such file".format(BUNDLE))
            self.copy_file(BUNDLE, dest, preserve_mode=True)
        elif os.path.exists(dest):
            os.remove(dest)


class PlatformDistribution(Distribution):
    """A distribution that is platform-specific when it bundles the library."""

    def has_ext_modules(self) -> bool:
        return bool(BUNDLE)


cmdclass = {"build_py": BuildPy}

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    try:
        from wheel.bdist_wheel import bdist_wheel
    except ImportError:
        bdist_wheel = None

if bdist_wheel is not None:

    class BdistWheel(bdist_wheel):
        """The bundled library serves any Python 3 (ctypes): tag ``py3-none-<platform>``."""

        def get_tag(self) -> Tuple[str, str, str]:
            python, abi, plat = super().get_tag()
            if BUNDLE:
                return "py3", "none", plat
            return python, abi, plat

    cmdclass["bdist_wheel"] = BdistWheel

setup(cmdclass=cmdclass, distclass=PlatformDistribution)
