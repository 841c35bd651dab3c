"""Fixtures: the real gcdn library (from this checkout) and a real emulator process.

The emulator is started through gcdn.testing, the package's own helper for users' tests: the
binary is ``$GCDN_EMULATOR`` or ``<repo>/target/release/gcdn-emulator``; build it with
``cargo build --release --workspace`` at the repository root.
"""

import os
import sys
from typing import Any, Dict, Iterator, List, Optional

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(PYTHON_DIR))
# Test this checkout's package, not an installed copy.
sys.path.insert(0, PYTHON_DIR)

from gcdn import testing  # noqa: E402

# gcdn_emulator and its session fixture, as users get them (tests/test_testing.py).
pytest_plugins = ["gcdn.pytest_plugin"]

API_KEY = "test-key-Zq7v9KpL2mX4"  # distinctive, so a leak is easy to find

# A delayed request the client gave up on is still answered once its delay is over, after the
# test (and the reset) that made it: a purge there would count in a later test's rate window.
# So the requests a test times out on go to this resource, which no test creates: the late
# answer is a harmless 404.
GHOST_ID = 999


LIMITS_PATH = "/cdn/clients/me/limits"
#: purge_intervals for clients that should not pace themselves (one request per ms).
FAST = (0.001, 0.001)


class Emulator(testing.Emulator):
    """gcdn.testing.Emulator with the shorthands these tests use."""

    def fault(self, action: Dict[str, Any], method: Optional[str] = None,
              path_prefix: Optional[str] = None, times: int = 1) -> None:
        self.set_fault(action, method=method, path_prefix=path_prefix, times=times)

    def config(self, **settings: Any) -> None:
        self.configure(**settings)

    def unlimited(self) -> None:
        """No purge rate limit (for tests that purge many times)."""
        big = 1 << 31
        self.config(url_requests=big, pattern_requests=big, all_requests=big)

    def requests(self) -> List[Dict[str, Any]]:
        """The API requests, less the reads of the account's limits (a client makes one when
        it first purges without ``purge_intervals``; tests/test_job.py and the pacing tests
        look at them through :meth:`all_requests`)."""
        return [r for r in self.all_requests() if r["path"] != LIMITS_PATH]

    def all_requests(self) -> List[Dict[str, Any]]:
        return super().requests()

    def purges(self) -> List[Dict[str, Any]]:
        return [r for r in self.requests() if r["path"].endswith("/purge")]


@pytest.fixture(scope="session")
def emulator_process() -> Iterator[Emulator]:
    try:
        emulator = Emulator(API_KEY)
        emulator.start()
    except testing.EmulatorError as e:
        pytest.fail(str(e))
    with emulator:
        yield emulator


@pytest.fixture
def emulator(emulator_process: Emulator) -> Iterator[Emulator]:
    """The emulator, reset: no resources, no faults, no recorded requests, default limits."""
    emulator_process.reset()
    yield emulator_process
    emulator_process.reset()


@pytest.fixture
def client(emulator: Emulator) -> Iterator[Any]:
    import gcdn

    # purge_intervals: the client paces itself 1 per ms (not by the account's limits, which it
    # does not read then), so what a test sees is the emulator's own rate limiting.
    # max_rate_limit_wait: room for the pacer's safety margin (50 ms), no more.
    with gcdn.Client(emulator.api_key, base_url=emulator.url, max_retries=0,
                     max_rate_limit_wait=0.2, timeout=5, purge_intervals=FAST) as c:
        yield c
