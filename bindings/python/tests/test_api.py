"""Every Client method, its inputs and its settings, against the real library and emulator."""

import json
import sys
import time

import pytest

import gcdn
from conftest import GHOST_ID


def bodies(requests):
    return [json.loads(r["body"]) for r in requests]


def test_version():
    assert gcdn.__version__ == "0.1.0"
    assert gcdn.library_version().split(".")[:2] == gcdn.__version__.split(".")[:2]
    assert gcdn._lib_path.endswith("libgcdn.so")


def test_purge_urls(emulator, client):
    emulator.add_resource(5)
    assert client.purge_urls(5, ["/a.jpg", "/b.css?v=2"]) is None
    (rq,) = emulator.requests()
    assert (rq["method"], rq["path"], rq["status"]) == ("POST", "/cdn/resources/5/purge", 201)
    assert json.loads(rq["body"]) == {"urls": ["/a.jpg", "/b.css?v=2"]}
    assert rq["headers"]["authorization"] == "APIKey " + emulator.api_key


def test_purge_patterns(emulator, client):
    emulator.add_resource(5)
    assert client.purge_patterns(5, ["/images/*", "/css"]) is None
    assert bodies(emulator.purges()) == [{"paths": ["/images/*", "/css"]}]


def test_purge_all(emulator, client):
    emulator.add_resource(5)
    assert client.purge_all(5) is None
    assert bodies(emulator.purges()) == [{"paths": []}]


def test_deactivate_resource(emulator, client):
    emulator.add_resource(7)
    assert client.deactivate_resource(7) is None
    (rq,) = emulator.requests()
    assert (rq["method"], rq["path"]) == ("PATCH", "/cdn/resources/7")
    assert json.loads(rq["body"]) == {"active": False}
    assert emulator.resource(7)["active"] is False


def test_delete_resource(emulator, client):
    emulator.add_resource(7, active=False)
    assert client.delete_resource(7) is None
    assert emulator.resource(7) is None
    assert [(r["method"], r["status"]) for r in emulator.requests()] == [("DELETE", 204)]


def test_delete_resource_deactivate_first(emulator, client):
    emulator.add_resource(8)
    client.delete_resource(8, deactivate_first=True)
    assert emulator.resource(8) is None
    assert [r["method"] for r in emulator.requests()] == ["PATCH", "DELETE"]


def test_delete_resource_missing_ok(emulator, client):
    client.delete_resource(404404, missing_ok=True)
    with pytest.raises(gcdn.NotFoundError):
        client.delete_resource(404404)


@pytest.mark.parametrize(
    "make",
    [
        lambda items: items,
        tuple,
        lambda items: (s for s in items),
        lambda items: iter(items),
        lambda items: dict.fromkeys(items).keys(),
        lambda items: map(str, items),
    ],
    ids=["list", "tuple", "generator", "iterator", "dict-keys", "map"],
)
def test_any_iterable_of_str(emulator, client, make):
    emulator.add_resource(5)
    emulator.unlimited()
    client.purge_urls(5, make(["/x", "/y", "/z"]))
    client.purge_patterns(5, make(["/p/*", "/q"]))
    assert bodies(emulator.purges()) == [{"urls": ["/x", "/y", "/z"]}, {"paths": ["/p/*", "/q"]}]


def test_str_subclass_and_unicode(emulator, client):
    class Path(str):
        pass

    emulator.add_resource(5)
    client.purge_urls(5, [Path("/sub"), "/caf\u00e9/\u65e5\u672c.html"])
    assert bodies(emulator.purges())[0]["urls"][0] == "/sub"
    assert len(bodies(emulator.purges())[0]["urls"]) == 2


def test_chunking_and_deduplication(emulator, client):
    emulator.add_resource(5)
    emulator.unlimited()
    unique = ["/file/{}.png".format(i) for i in range(250)]
    urls = unique + unique[::7] + unique[:30]  # duplicates, first occurrence kept
    client.purge_urls(5, urls)
    sent = [b["urls"] for b in bodies(emulator.purges())]
    assert [len(chunk) for chunk in sent] == [100, 100, 50]
    assert [u for chunk in sent for u in chunk] == unique


def test_pattern_chunks_of_ten(emulator, client):
    emulator.add_resource(5)
    emulator.unlimited()
    client.purge_patterns(5, ("/p{}/*".format(i) for i in range(25)))
    assert [len(b["paths"]) for b in bodies(emulator.purges())] == [10, 10, 5]


def test_user_agent(emulator, emulator_process):
    emulator.add_resource(5)
    with gcdn.Client(emulator.api_key, base_url=emulator.url, user_agent="myapp/2.1") as c:
        c.purge_all(5)
    ua = emulator.requests()[0]["headers"]["user-agent"]
    expected = "gcdn-python/{} CPython/{}.{} myapp/2.1".format(gcdn.__version__, *sys.version_info[:2])
    assert ua == "gcdn/{} {}".format(gcdn.library_version(), expected)
    assert "gcdn-python/" in ua


def test_api_key_and_base_url_from_environment(emulator, monkeypatch):
    emulator.add_resource(5)
    monkeypatch.setenv("GCORE_API_KEY", emulator.api_key)
    monkeypatch.setenv("GCORE_BASE_URL", emulator.url)
    with gcdn.Client() as c:
        assert c.base_url == emulator.url
        c.purge_all(5)
    assert emulator.requests()[0]["status"] == 201


def test_rate_limit_is_waited_out(emulator):
    """A 429 without Retry-After waits the purge interval, within max_rate_limit_wait."""
    emulator.add_resource(5)
    emulator.config(url_requests=1, url_window_ms=300)
    with gcdn.Client(emulator.api_key, base_url=emulator.url, purge_intervals=(0.1, 0.1),
                     max_rate_limit_wait=10) as c:
        start = time.monotonic()
        c.purge_urls(5, ["/a"])
        c.purge_urls(5, ["/b"])
        assert time.monotonic() - start < 5
    statuses = [r["status"] for r in emulator.purges()]
    assert statuses[0] == 201 and statuses[-1] == 201 and 429 in statuses


def test_retries_after_server_error(emulator):
    emulator.add_resource(5)
    emulator.fault({"respond": {"status": 503, "body": "busy", "headers": {"Retry-After": "0"}}},
                   path_prefix="/cdn/resources/5/purge")
    with gcdn.Client(emulator.api_key, base_url=emulator.url, max_retries=1) as c:
        c.purge_all(5)
    assert [r["status"] for r in emulator.requests()] == [503, 201]


def test_call_timeout(emulator, client):
    emulator.add_resource(5)
    client.purge_all(5, call_timeout=5)  # derived client, freed after the call
    emulator.fault({"delay_ms": 1500})
    start = time.monotonic()
    with pytest.raises(gcdn.TimeoutError):
        client.purge_urls(GHOST_ID, ["/slow"], call_timeout=0.2)
    assert time.monotonic() - start < 1.4
    with pytest.raises(TypeError):
        client.purge_all(5, call_timeout="1")
    with pytest.raises(gcdn.InvalidArgumentError):
        client.purge_all(5, call_timeout=-1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"timeout": -1.0},
        {"timeout": float("nan")},
        {"max_retries": -1},
        {"max_retries": 101},
        {"max_rate_limit_wait": float("inf")},
        {"purge_intervals": (0, 60)},
        {"base_url": "http://example.com"},
        {"base_url": "not a url"},
        {"ca_file": "/nonexistent/ca.pem"},
        {"user_agent": "bad\r\nheader"},
        {"user_agent": "caf\u00e9"},
    ],
)
def test_invalid_settings(kwargs):
    with pytest.raises(gcdn.InvalidArgumentError) as info:
        gcdn.Client("k", **kwargs)
    assert info.value.status == 1 and info.value.message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": "5"},
        {"timeout": True},
        {"max_retries": 1.5},
        {"max_retries": True},
        {"purge_intervals": 5},
        {"purge_intervals": (1, 2, 3)},
        {"base_url": b"http://127.0.0.1"},
        {"ca_file": 5},
        {"user_agent": 5},
    ],
)
def test_setting_types(kwargs):
    with pytest.raises(TypeError):
        gcdn.Client("k", **kwargs)


def test_api_key_checks():
    with pytest.raises(TypeError):
        gcdn.Client(b"key")
    for bad in ["", "k\x00ey", "k\ney", "cl\u00e9"]:
        with pytest.raises(gcdn.InvalidArgumentError):
            gcdn.Client(bad)


def test_ca_file_accepts_path_like(tmp_path):
    pem = tmp_path / "empty.pem"
    pem.write_text("no certificate here\n")
    with pytest.raises(gcdn.InvalidArgumentError):
        gcdn.Client("k", ca_file=pem)


def test_repr_and_properties(emulator):
    c = gcdn.Client(emulator.api_key, base_url=emulator.url)
    assert repr(c) == "<gcdn.Client base_url={!r}>".format(emulator.url)
    assert not c.closed
    c.close()
    assert c.closed and repr(c).endswith(" closed>")
