"""Cache-key rewriting, exact, verification at the edge and prefetch through Client.run, against
the real library, the emulator's API, and a real HTTP server on loopback as the edge."""

import asyncio
import ctypes
import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import gcdn
from gcdn import _lib

from conftest import API_KEY, FAST

IGNORE_QUERY = {"ignoreQueryString": {"enabled": True, "value": True}}
STALE_SINCE = "2000-01-01T00:00:00+00:00"


class Edge:
    """A CDN edge on loopback: answers ``HEAD``/``GET`` by path. ``/stale*``: a HIT cached in
    2000 (before any purge); ``/garbage*``: bytes that are not HTTP; anything else: a MISS.
    Every request's method, path and headers are kept."""

    def __init__(self) -> None:
        self.seen: List[Tuple[str, str, Dict[str, str]]] = []
        edge = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                edge.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                if self.path.startswith("/garbage"):
                    self.wfile.write(b"\x00\x01 not http at all\r\n\r\n")
                    return
                self.send_response(200)
                if self.path.startswith("/stale"):
                    self.send_header("Cache", "HIT")
                    self.send_header("X-Cached-Since", STALE_SINCE)
                else:
                    self.send_header("Cache", "MISS")
                self.send_header("X-ID", "ed-7")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:{}".format(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def edge() -> Iterator[Edge]:
    e = Edge()
    yield e
    e.close()


@pytest.fixture
def resources(emulator):
    """Resource 5 ignores query strings; 6 keeps only ``lang`` in its cache key, and has
    ``slice`` on (a warning for URL purges)."""
    emulator.control("POST", "resources", {"id": 5, "cname": "cdn5.example.com", "options": IGNORE_QUERY})
    emulator.control("POST", "resources", {
        "id": 6, "cname": "cdn6.example.com",
        "options": {"query_params_whitelist": {"enabled": True, "value": ["lang"]},
                    "slice": {"enabled": True, "value": True}},
    })
    return emulator


def sent(emulator) -> List[Tuple[str, List[str]]]:
    return sorted((r["path"], json.loads(r["body"])["urls"]) for r in emulator.purges())


def c_json(report: gcdn.Report) -> Dict[str, Any]:
    """The report's JSON as the C library writes it, read through gcdn_report_json."""
    out = ctypes.c_void_p()
    _lib.call(_lib.LIB.gcdn_report_json, report._handle, ctypes.byref(out))
    return json.loads(_lib.take_string(out.value))


def test_items_go_in_their_cache_key_form_unless_exact(resources, client):
    job = gcdn.Job()
    job.add_urls(5, ["/app.js?v=2"])
    job.add_full_urls(["https://cdn6.example.com/page?utm_source=x&lang=de"])
    report = client.run(job)
    assert sent(resources) == [
        ("/cdn/resources/5/purge", ["/app.js"]),
        ("/cdn/resources/6/purge", ["/page?lang=de"]),
    ]
    assert report.rewritten == [
        gcdn.RewrittenItem(item="/app.js?v=2", as_="/app.js", resource_id=5, by="ignoreQueryString"),
        gcdn.RewrittenItem(item="https://cdn6.example.com/page?utm_source=x&lang=de", as_="/page?lang=de",
                           resource_id=6, by="query_params_whitelist"),
    ]
    assert [(w.resource_id, w.code) for w in report.warnings] == [(6, "slice")]
    assert isinstance(report.warnings[0], gcdn.PlanWarning) and "slice" in report.warnings[0].message

    resources.clear_requests()
    report = client.run(job, exact=True)
    assert sent(resources) == [
        ("/cdn/resources/5/purge", ["/app.js?v=2"]),
        ("/cdn/resources/6/purge", ["/page?utm_source=x&lang=de"]),
    ]
    assert report.rewritten == []
    assert report.to_dict()["rewritten"] == []


def test_a_rule_decides_for_its_paths(emulator, client):
    emulator.control("POST", "resources", {
        "id": 7, "cname": "cdn7.example.com", "options": IGNORE_QUERY,
        "rules": [{"id": 41, "name": "i18n", "active": True, "rule": "^/i18n/", "ruleType": 0, "weight": 1,
                   "options": {"query_params_whitelist": {"enabled": True, "value": ["lang"]}}}],
    })
    report = client.purge(["/i18n/a.json?v=3&lang=fr", "/b.css?v=3"], resource_id=7)
    assert sent(emulator) == [("/cdn/resources/7/purge", ["/i18n/a.json?lang=fr", "/b.css"])]
    assert [(r.as_, r.by, r.rule_id) for r in report.rewritten] == [
        ("/i18n/a.json?lang=fr", "query_params_whitelist", 41),
        ("/b.css", "ignoreQueryString", None),
    ]


def test_fresh_urls_pass_and_the_probes_reach_the_edge_without_the_key(resources, client, edge):
    report = client.run(gcdn.Job().add_urls(5, ["/a.js", "/b.js?v=1"]), verify=True, wait=20, edges=[edge.url])
    assert report.status == 0
    assert sorted((v.url, v.resource_id, v.result, v.cache, v.edge) for v in report.verified) == [
        ("https://cdn5.example.com/a.js", 5, "fresh", "MISS", "ed-7"),
        ("https://cdn5.example.com/b.js", 5, "fresh", "MISS", "ed-7"),  # probed as purged
    ]
    assert all(isinstance(v, gcdn.VerifiedURL) for v in report.verified)
    t = report.totals
    assert (t.verified_fresh, t.verified_stale, t.verified_error, t.confirmed) == (2, 0, 0, 1)
    assert sorted(path for _, path, _ in edge.seen) == ["/a.js", "/b.js"]
    for method, _, headers in edge.seen:
        assert method == "HEAD"
        assert headers["host"] == "cdn5.example.com"
        assert "authorization" not in headers
        assert API_KEY not in json.dumps(headers)


def test_a_stale_url_raises_stale_error_with_the_report(resources, client, edge):
    job = gcdn.Job().add_urls(6, ["/stale.css", "/fresh.css", "/garbage.css"])
    with pytest.raises(gcdn.StaleError) as info:
        client.run(job, verify=True, wait=20, edges=[edge.url])
    e = info.value
    assert e.status == 12  # GCDN_ERR_STALE
    assert "stale" in str(e)
    report = e.report
    assert report is not None and report.status == 12
    by_url = {v.url: v for v in report.verified}
    stale = by_url["https://cdn6.example.com/stale.css"]
    assert (stale.result, stale.cache, stale.cached_since, stale.edge) == ("stale", "HIT", STALE_SINCE, "ed-7")
    assert by_url["https://cdn6.example.com/fresh.css"].result == "fresh"
    garbage = by_url["https://cdn6.example.com/garbage.css"]
    assert garbage.result == "error" and garbage.cache is None and "not HTTP" in (garbage.message or "")
    t = report.totals
    assert (t.verified_fresh, t.verified_stale, t.verified_error) == (1, 1, 1)
    # The purge itself went through: only the edge is behind.
    assert [r.outcome for r in report.requests] == ["purged"]


def test_verify_limit_bounds_the_probes(resources, client, edge):
    urls = ["/f{}.js".format(i) for i in range(10)]
    report = client.run(gcdn.Job().add_urls(5, urls), verify=True, verify_limit=3, wait=20, edges=[edge.url])
    assert len(report.verified) == 3 and len(edge.seen) == 3
    assert report.totals.verified_fresh == 3


def test_to_dict_is_the_c_json_and_the_typed_fields_mirror_it(resources, client, edge):
    job = gcdn.Job().add_urls(6, ["/stale.png?v=2&lang=en", "/x.png"])
    with pytest.raises(gcdn.StaleError) as info:
        client.run(job, verify=True, wait=20, edges=[edge.url], prefetch=True)
    report = info.value.report
    assert report is not None
    d = report.to_dict()
    assert d == c_json(report)
    for key in ("rewritten", "warnings", "verified", "prefetched"):
        assert d[key], key  # each has entries in this run
    assert [dict(dataclasses.asdict(r), **{"as": r.as_}) for r in report.rewritten] == [
        dict(r, as_=r["as"]) for r in d["rewritten"]
    ]
    assert [dataclasses.asdict(w) for w in report.warnings] == d["warnings"]
    assert [dataclasses.asdict(v) for v in report.verified] == d["verified"]
    assert [dataclasses.asdict(p) for p in report.prefetched] == d["prefetched"]
    assert {k: d["totals"][k] for k in ("verified_fresh", "verified_stale", "verified_error")} == {
        "verified_fresh": 1, "verified_stale": 1, "verified_error": 0
    }
    # The C accessors say the same as the JSON.
    lib, h = _lib.LIB, report._handle

    def s(p: Any) -> Any:
        return None if p is None else p.decode()

    assert lib.gcdn_report_rewritten_count(h) == len(report.rewritten)
    for i, r in enumerate(report.rewritten):
        assert (s(lib.gcdn_report_rewritten_item(h, i)), s(lib.gcdn_report_rewritten_as(h, i)),
                lib.gcdn_report_rewritten_resource_id(h, i), s(lib.gcdn_report_rewritten_by(h, i)),
                lib.gcdn_report_rewritten_rule_id(h, i) or None) == (r.item, r.as_, r.resource_id, r.by, r.rule_id)
    assert lib.gcdn_report_warning_count(h) == len(report.warnings)
    for i, w in enumerate(report.warnings):
        assert (lib.gcdn_report_warning_resource_id(h, i), s(lib.gcdn_report_warning_code(h, i)),
                s(lib.gcdn_report_warning_message(h, i))) == (w.resource_id, w.code, w.message)
    results = {1: "fresh", 2: "stale", 3: "error"}  # GCDN_VERIFY_* (test_header checks the names)
    assert lib.gcdn_report_verified_count(h) == len(report.verified)
    for i, v in enumerate(report.verified):
        assert (s(lib.gcdn_report_verified_url(h, i)), lib.gcdn_report_verified_resource_id(h, i),
                results[lib.gcdn_report_verified_result(h, i)], s(lib.gcdn_report_verified_cache(h, i)),
                s(lib.gcdn_report_verified_cached_since(h, i)), s(lib.gcdn_report_verified_edge(h, i)),
                s(lib.gcdn_report_verified_message(h, i))) == (
            v.url, v.resource_id, v.result, v.cache, v.cached_since, v.edge, v.message)
    assert lib.gcdn_report_prefetched_count(h) == len(report.prefetched)
    outcomes = {1: "purged", 2: "failed", 3: "not_sent"}
    for i, p in enumerate(report.prefetched):
        assert (lib.gcdn_report_prefetched_resource_id(h, i), lib.gcdn_report_prefetched_items(h, i),
                outcomes[lib.gcdn_report_prefetched_outcome(h, i)],
                lib.gcdn_report_prefetched_http_status(h, i) or None,
                s(lib.gcdn_report_prefetched_message(h, i))) == (
            p.resource_id, len(p.items), p.outcome, p.http_status, p.message)
    # Out of range: nothing, never a crash.
    assert lib.gcdn_report_verified_url(h, 99) is None and lib.gcdn_report_prefetched_items(h, 99) == 0


def test_prefetch_sends_the_purged_paths(resources, client):
    report = client.run(gcdn.Job().add_urls(5, ["/big.iso?v=9", "/big2.iso"]), prefetch=True)
    assert report.status == 0
    assert [(p.resource_id, sorted(p.items), p.outcome, p.status, p.message) for p in report.prefetched] == [
        (5, ["/big.iso", "/big2.iso"], "purged", 0, None)
    ]
    assert isinstance(report.prefetched[0], gcdn.PrefetchRequest)
    assert 200 <= (report.prefetched[0].http_status or 0) < 300
    posted = [r for r in resources.requests() if r["path"] == "/cdn/resources/5/prefetch"]
    assert [(r["method"], sorted(json.loads(r["body"])["paths"]), r["status"]) for r in posted] == [
        ("POST", ["/big.iso", "/big2.iso"], report.prefetched[0].http_status)
    ]
    # Without prefetch, none is sent.
    resources.clear_requests()
    assert client.run(gcdn.Job().add_urls(5, ["/c.iso"])).prefetched == []
    assert not [r for r in resources.requests() if r["path"].endswith("/prefetch")]


def test_bad_options_are_refused_before_anything_is_sent(resources, client):
    job = gcdn.Job().add_urls(5, ["/a.js"])
    for edges, words in (
        (["http://example.com"], "loopback"),  # plain HTTP off loopback: refused by the library
        (["ftp://127.0.0.1"], None),
        (["https://127.0.0.1", "not a url"], None),
    ):
        with pytest.raises(gcdn.InvalidArgumentError, match=words):
            client.run(job, verify=True, edges=edges)
    with pytest.raises(gcdn.InvalidArgumentError, match="verify_limit"):
        client.run(job, verify=True, verify_limit=0)
    with pytest.raises(gcdn.InvalidArgumentError, match="verify_limit"):
        client.run(job, verify=True, verify_limit=1 << 32)
    with pytest.raises(TypeError, match="verify_limit"):
        client.run(job, verify=True, verify_limit=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="edges"):
        client.run(job, verify=True, edges="https://127.0.0.1")
    with pytest.raises(TypeError, match="edge 0"):
        client.run(job, verify=True, edges=[b"https://127.0.0.1"])  # type: ignore[list-item]
    for name in ("exact", "verify", "prefetch"):
        with pytest.raises(TypeError, match=name):
            client.run(job, **{name: "yes"})
    assert resources.requests() == []


def test_async_client_runs_with_the_same_options(resources, edge):
    async def main() -> gcdn.Report:
        async with gcdn.AsyncClient(API_KEY, base_url=resources.url, max_retries=0, timeout=5,
                                    purge_intervals=FAST) as c:
            with pytest.raises(gcdn.StaleError) as info:
                await c.run(gcdn.Job().add_urls(5, ["/stale.js?v=3"]), verify=True, wait=20, edges=[edge.url])
            report = info.value.report
            assert report is not None
            assert [v.result for v in report.verified] == ["stale"]
            return await c.purge(["/app.js?v=2"], resource_id=5, exact=True)

    report = asyncio.run(main())
    assert report.rewritten == []
    assert sent(resources) == [("/cdn/resources/5/purge", ["/app.js?v=2"]), ("/cdn/resources/5/purge", ["/stale.js"])]


# -- the emulator's edge ---------------------------------------------------------------------


def edge_probes(emulator) -> List[Tuple[str, str, str, Any]]:
    return sorted((r["method"], r["host"], r["path"], r["cache"]) for r in emulator.edge_requests())


def test_exact_leaves_the_emulators_edge_stale_where_the_cache_key_form_purges(resources, client):
    """On a resource that ignores query strings, ``/app.js?v=2`` as given purges nothing: the
    edge still serves its copy of ``/app.js`` from 2000. In its cache-key form it is purged."""
    job = gcdn.Job().add_urls(5, ["/app.js?v=2"])
    resources.edge_store(5, ["/app.js"], cached_since="2000-01-01T00:00:00Z")
    with pytest.raises(gcdn.StaleError) as info:
        client.run(job, exact=True, verify=True, wait=20, edges=[resources.edge_url])
    assert sent(resources) == [("/cdn/resources/5/purge", ["/app.js?v=2"])]
    report = info.value.report
    assert report is not None and report.rewritten == []
    (v,) = report.verified
    assert (v.url, v.result, v.cache, v.edge) == ("https://cdn5.example.com/app.js?v=2", "stale", "HIT", "emu-edge-1")
    assert (v.cached_since or "").startswith("2000-01-01")
    assert edge_probes(resources) == [("HEAD", "cdn5.example.com", "/app.js?v=2", "HIT")]

    resources.clear_requests()
    report = client.run(job, verify=True, wait=20, edges=[resources.edge_url])
    assert sent(resources) == [("/cdn/resources/5/purge", ["/app.js"])]
    assert [(r.item, r.as_) for r in report.rewritten] == [("/app.js?v=2", "/app.js")]
    assert [(v.url, v.result, v.cache) for v in report.verified] == [("https://cdn5.example.com/app.js", "fresh", "MISS")]
    assert (report.totals.verified_fresh, report.totals.verified_stale) == (1, 0)


def test_an_edge_that_ignores_a_purge_is_stale(resources, client):
    resources.edge_store(6, ["/keep.css", "/go.css"], cached_since="2000-01-01T00:00:00Z")
    resources.edge_ignore_purges(["/keep.css"])
    with pytest.raises(gcdn.StaleError) as info:
        client.purge(["https://cdn6.example.com/keep.css", "https://cdn6.example.com/go.css"],
                     verify=True, wait=20, edges=[resources.edge_url])
    report = info.value.report
    assert report is not None
    assert sorted((v.url, v.result, v.cache) for v in report.verified) == [
        ("https://cdn6.example.com/go.css", "fresh", "MISS"),
        ("https://cdn6.example.com/keep.css", "stale", "HIT"),
    ]
    for r in resources.edge_requests():
        assert r["host"] == "cdn6.example.com" and "authorization" not in r["headers"]
        assert API_KEY not in json.dumps(r["headers"])
