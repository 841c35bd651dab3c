"""gcdn.testing (the emulator for users' tests) and its pytest fixture, used as a user would."""

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

import gcdn
from gcdn import testing
from gcdn.testing import Emulator, EmulatorError


def test_context_manager_starts_and_stops():
    with Emulator(resources=[5]) as emu:
        assert emu.running
        parsed = urllib.parse.urlsplit(emu.url)
        assert parsed.scheme == "http" and parsed.hostname == "127.0.0.1" and parsed.port
        assert emu.api_key == testing.DEFAULT_API_KEY
        assert emu.resource(5)["active"] is True
        port = parsed.port
    assert not emu.running
    with pytest.raises(EmulatorError, match="not running"):
        emu.url
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_requests_are_recorded_with_method_path_status_body():
    with Emulator("my-key-8Hq2") as emu:
        emu.add_resource(5)
        with emu.client(max_retries=0) as client:
            client.purge_urls(5, ["/a.html"])
            with pytest.raises(gcdn.NotFoundError):
                client.purge_all(6)
        # The client read the account's limits before its first purge.
        got = [r for r in emu.requests() if r["path"] != "/cdn/clients/me/limits"]
        assert [(r["method"], r["path"], r["status"]) for r in got] == [
            ("POST", "/cdn/resources/5/purge", 201),
            ("POST", "/cdn/resources/6/purge", 404),
        ]
        assert '"/a.html"' in got[0]["body"]
        assert got[0]["headers"]["authorization"].lower() == "apikey my-key-8hq2"
        emu.clear_requests()
        assert emu.requests() == []


def test_wrong_key_is_refused():
    with Emulator() as emu, gcdn.Client("not-the-key", base_url=emu.url, max_retries=0) as client:
        emu.add_resource(5)
        with pytest.raises(gcdn.UnauthorizedError):
            client.purge_all(5)


def test_add_resource_options():
    with Emulator() as emu:
        r = emu.add_resource(7, active=False, refusal="primary")
        assert (r["id"], r["active"], r["refusal"]) == (7, False, "primary")
        assert emu.resource(7)["active"] is False
        assert emu.remove_resource(7) and emu.resource(7) is None and not emu.remove_resource(7)
        with pytest.raises(TypeError):
            emu.add_resource(8, secondary_hostnames="a.example.com")
        r = emu.add_resource(8, cname="cdn.example.org", secondary_hostnames=["b.example.org"],
                             can_purge_by_urls=False)
        assert (r["cname"], r["secondaryHostnames"], r["can_purge_by_urls"]) == (
            "cdn.example.org", ["b.example.org"], False)
        with emu.client(max_retries=0) as client:
            with pytest.raises(gcdn.RejectedError, match="can_purge_by_urls"):
                client.purge_urls(8, ["/a"])
            client.purge_patterns(8, ["/a*"])


def test_set_fault_forms():
    with Emulator(resources=[5]) as emu, emu.client(max_retries=0, timeout=5) as client:
        emu.set_fault("respond", status=503, body={"errors": ["busy"]}, path_prefix="/cdn/resources/5/")
        with pytest.raises(gcdn.ServerError, match="busy"):
            client.purge_all(5)
        emu.set_fault({"drop": True}, method="POST")
        with pytest.raises(gcdn.NetworkError):
            client.purge_all(5)
        emu.set_fault("drop", times=2)
        emu.clear_faults()
        client.purge_urls(5, ["/x"])
        assert [r["status"] for r in emu.requests() if r["path"] != "/cdn/clients/me/limits"] == [503, 0, 201]
        with pytest.raises(ValueError, match="unknown action"):
            emu.set_fault("explode")
        with pytest.raises(TypeError):
            emu.set_fault("drop", status=1)
        with pytest.raises(EmulatorError, match="HTTP 400"):
            emu.set_fault("respond", status="soon")


def test_configure_and_reset():
    with Emulator(resources=[5]) as emu, emu.client(max_retries=0, max_rate_limit_wait=0) as client:
        emu.configure(url_requests=1)
        client.purge_urls(5, ["/1"])
        with pytest.raises(gcdn.RateLimitedError):
            client.purge_urls(5, ["/2"])
        emu.add_resource(6)
        emu.reset()
        assert emu.requests() == [] and emu.resource(6) is None and emu.resource(5) is not None


def test_gcdn_emulator_env_must_name_the_program(tmp_path, monkeypatch):
    missing = str(tmp_path / "no-emulator")
    monkeypatch.setenv("GCDN_EMULATOR", missing)
    with pytest.raises(EmulatorError) as e:
        testing.find_binary()
    assert missing in str(e.value) and "GCDN_EMULATOR" in str(e.value)


def test_a_program_that_is_not_the_emulator(tmp_path):
    fake = tmp_path / "fake"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(EmulatorError, match="did not start.*hello"):
        Emulator(binary=str(fake)).start()


def test_the_emulator_exits_with_its_parent(tmp_path):
    code = (
        "import os, sys; sys.path.insert(0, {!r}); from gcdn.testing import Emulator; "
        "e = Emulator().start(); print(e._proc.pid, flush=True); os._exit(0)"
    ).format(os.path.dirname(os.path.dirname(testing.__file__)))
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, timeout=30, check=True)
    pid = int(out.stdout)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        import time

        time.sleep(0.05)
    os.kill(pid, 9)
    pytest.fail("the emulator outlived the process that started it")


def test_fixture_is_reset_between_tests_1(gcdn_emulator):
    assert gcdn_emulator.requests() == [] and gcdn_emulator.resource(41) is None
    gcdn_emulator.add_resource(41)
    with gcdn_emulator.client() as client:
        client.purge_all(41)


def test_fixture_is_reset_between_tests_2(gcdn_emulator):
    assert gcdn_emulator.requests() == [] and gcdn_emulator.resource(41) is None


def _edge_get(emu, host, path):
    """A GET at the emulator's edge with ``host`` in Host: (status, Cache, X-Cached-Since)."""
    rq = urllib.request.Request(emu.edge_url + path, headers={"Host": host})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(rq, timeout=10) as rs:
            return rs.status, rs.headers.get("Cache"), rs.headers.get("X-Cached-Since")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Cache"), e.headers.get("X-Cached-Since")


def test_edge_url_serves_caches_and_is_purged():
    with Emulator(resources=[5]) as emu:
        parsed = urllib.parse.urlsplit(emu.edge_url)
        assert parsed.scheme == "http" and parsed.hostname == "127.0.0.1" and parsed.port
        assert parsed.port != urllib.parse.urlsplit(emu.url).port
        host = "cdn5.example.com"
        assert _edge_get(emu, host, "/a.js")[1] == "MISS"
        status, cache, since = _edge_get(emu, host, "/a.js")
        assert (status, cache) == (200, "HIT") and since.endswith("+00:00")
        assert _edge_get(emu, "unknown.example.com", "/a.js") == (404, None, None)
        emu.edge_ignore_purges(["/kept.js"])
        assert emu.edge_store(5, ["/kept.js?v=1"], cached_since="2000-01-01T00:00:00Z") == ["/kept.js?v=1"]
        with emu.client(max_retries=0) as client:
            client.purge_urls(5, ["/a.js", "/kept.js?v=1"])
        assert _edge_get(emu, host, "/a.js")[1] == "MISS"
        assert _edge_get(emu, host, "/kept.js?v=1") == (200, "HIT", "2000-01-01T00:00:00+00:00")
        got = [(r["method"], r["host"], r["path"], r["cache"]) for r in emu.edge_requests()]
        assert got[0] == ("GET", host, "/a.js", "MISS") and len(got) == 5
        emu.reset()
        assert emu.edge_requests() == []
    with pytest.raises(EmulatorError, match="not running"):
        emu.edge_url
