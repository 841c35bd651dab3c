"""pytest fixtures for testing code that uses gcdn, against the gcdn emulator.

Enable them in your ``conftest.py``::

    pytest_plugins = ["gcdn.pytest_plugin"]

    def test_purge(gcdn_emulator):
        gcdn_emulator.add_resource(5)
        with gcdn_emulator.client() as client:
            client.purge_urls(5, ["/index.html"])
        assert gcdn_emulator.requests()[0]["path"] == "/cdn/resources/5/purge"

- ``gcdn_emulator``: a :class:`gcdn.testing.Emulator`, reset before the test (no resources but
  the seeded ones, no faults, no recorded requests, the start limits);
- ``gcdn_emulator_session``: the one emulator process of the session behind it. Override
  ``gcdn_emulator_options`` (session scope) to change how it starts, e.g.
  ``return {"resources": [5], "args": ["--url-requests", "1000"]}``.
"""

from typing import Any, Dict, Iterator

import pytest

from .testing import Emulator


@pytest.fixture(scope="session")
def gcdn_emulator_options() -> Dict[str, Any]:
    """Keyword arguments of the session's :class:`Emulator` (override to change them)."""
    return {}


@pytest.fixture(scope="session")
def gcdn_emulator_session(gcdn_emulator_options: Dict[str, Any]) -> Iterator[Emulator]:
    with Emulator(**gcdn_emulator_options) as emulator:
        yield emulator


@pytest.fixture
def gcdn_emulator(gcdn_emulator_session: Emulator) -> Iterator[Emulator]:
    gcdn_emulator_session.reset()
    yield gcdn_emulator_session
