"""Fixtures: the real gcdn library (from this checkout) and a real emulator process.

The emulator binary is ``$GCDN_EMULATOR`` or ``<repo>/target/release/gcdn-emulator``; build it
with ``cargo build --release --workspace`` at the repository root.
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any, Dict, Iterator, List, Optional

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(PYTHON_DIR))
# Test this checkout's package, not an installed copy.
sys.path.insert(0, PYTHON_DIR)

API_KEY = "test-key-Zq7v9KpL2mX4"  # distinctive, so a leak is easy to find

# A delayed request the client gave up on is still answered once its delay is over, after the
# test (and the reset) that made it: a purge there would count in a later test's rate window.
# So the requests a test times out on go to this resource, which no test creates: the late
# answer is a harmless 404.
GHOST_ID = 999


class Emulator:
    """Drives the emulator's control API (no auth, never recorded) with urllib."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.api_key = api_key

    def control(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        rq = urllib.request.Request(self.url + "/__emulator/" + path, data=data, method=method)
        rq.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(rq, timeout=10) as rs:
                text = rs.read()
        except urllib.error.HTTPError as e:
            raise AssertionError("control {} {}: {} {}".format(method, path, e.code, e.read()))
        return json.loads(text) if text else None

    def reset(self) -> None:
        self.control("POST", "reset")

    def add_resource(self, rid: int, active: bool = True, refusal: Optional[str] = None) -> None:
        self.control("POST", "resources", {"id": rid, "active": active, "refusal": refusal})

    def resource(self, rid: int) -> Optional[Dict[str, Any]]:
        try:
            return self.control("GET", "resources/{}".format(rid))  # type: ignore[no-any-return]
        except AssertionError as e:
            if " 404 " in str(e):
                return None
            raise

    def fault(self, action: Dict[str, Any], method: Optional[str] = None,
              path_prefix: Optional[str] = None, times: int = 1) -> None:
        self.control("POST", "faults", {"method": method, "path_prefix": path_prefix,
                                        "times": times, "action": action})

    def config(self, **settings: Any) -> None:
        self.control("POST", "config", settings)

    def unlimited(self) -> None:
        """No purge rate limit (for tests that purge many times)."""
        big = 1 << 31
        self.config(url_requests=big, pattern_requests=big, all_requests=big)

    def requests(self) -> List[Dict[str, Any]]:
        return self.control("GET", "requests")  # type: ignore[no-any-return]

    def purges(self) -> List[Dict[str, Any]]:
        return [r for r in self.requests() if r["path"].endswith("/purge")]


@pytest.fixture(scope="session")
def emulator_process() -> Iterator[Emulator]:
    binary = os.environ.get("GCDN_EMULATOR") or os.path.join(REPO, "target", "release", "gcdn-emulator")
    if not os.path.isfile(binary):
        pytest.fail("{} not found: run `cargo build --release --workspace` at {}".format(binary, REPO))
    proc = subprocess.Popen(
        [binary, "--port", "0", "--quiet", "--exit-on-stdin-eof", "--api-key", API_KEY],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("GCDN_EMULATOR_URL="):
            pytest.fail("the emulator printed {!r}".format(line))
        yield Emulator(line.split("=", 1)[1], API_KEY)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # --exit-on-stdin-eof
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def emulator(emulator_process: Emulator) -> Iterator[Emulator]:
    """The emulator, reset: no resources, no faults, no recorded requests, default limits."""
    emulator_process.reset()
    yield emulator_process
    emulator_process.reset()


@pytest.fixture
def client(emulator: Emulator) -> Iterator[Any]:
    import gcdn

    with gcdn.Client(emulator.api_key, base_url=emulator.url, max_retries=0,
                     max_rate_limit_wait=0, timeout=5) as c:
        yield c
