"""gcdn.Job, Client.run and Client.purge against the real library and emulator."""

import json
import pickle
import time

import pytest

import gcdn


def bodies(requests):
    return [(r["path"], json.loads(r["body"])) for r in requests]


@pytest.fixture
def hosts(emulator):
    """Four resources on their hosts; 7 cannot purge by URL; 8 is inactive. The limits (20 URL
    purges, 10 pattern purges or purge-alls a minute) are generous enough that clients pacing
    by them do not wait in these tests."""
    emulator.config(url_requests=20, url_window_ms=60000, pattern_requests=10,
                    pattern_window_ms=60000, all_requests=10, all_window_ms=60000)
    emulator.add_resource(5, cname="cdn5.example.com", secondary_hostnames=["img.example.com"])
    emulator.add_resource(6, cname="cdn6.example.com")
    emulator.add_resource(7, cname="cdn7.example.com", can_purge_by_urls=False)
    emulator.add_resource(8, cname="cdn8.example.com", active=False)
    return emulator


def test_full_urls_over_several_hosts(hosts, client):
    job = gcdn.Job()
    job.add_full_urls(
        [
            "https://cdn5.example.com/a.png",
            "https://IMG.example.com/b.png?v=2",  # a secondary hostname, any case
            "https://cdn6.example.com/c.css",
            "https://cdn6.example.com/c.css",  # duplicate
        ]
    )
    report = client.run(job)
    assert isinstance(report, gcdn.Report)
    sent = sorted(bodies(hosts.purges()))
    assert sent == [
        ("/cdn/resources/5/purge", {"urls": ["/a.png", "/b.png?v=2"]}),
        ("/cdn/resources/6/purge", {"urls": ["/c.css"]}),
    ]
    by_resource = {r.resource_id: r for r in report.requests}
    assert set(by_resource) == {5, 6}
    r5 = by_resource[5]
    assert isinstance(r5, gcdn.RequestResult)
    assert (r5.kind, r5.outcome, r5.status, r5.http_status, r5.attempts) == ("urls", "purged", 0, 201, 1)
    assert r5.items == ["/a.png", "/b.png?v=2"]
    assert [(s.item, s.resource_id, s.reason) for s in report.skipped] == [
        ("https://cdn6.example.com/c.css", 6, "duplicate")
    ]
    assert isinstance(report.totals, gcdn.Totals)
    t = report.totals
    assert (t.requests, t.purged, t.failed, t.not_sent, t.items_purged, t.rate_limited) == (2, 2, 0, 0, 3, 0)
    assert report.remaining() is None
    assert not report.dry_run


def test_skips_are_reported_and_fail_the_run(hosts, client):
    job = (
        gcdn.Job()
        .add_full_urls(
            [
                "https://nowhere.example.com/x",  # no resource
                "https://cdn7.example.com/y",  # cannot purge by URL
                "https://cdn8.example.com/z",  # inactive
                "https://cdn5.example.com/img/a.png",  # covered by the pattern below
            ]
        )
        .add_patterns(5, ["/img/*"])
        .add_urls(6, ["/kept"])
        .add_all(6)
    )
    with pytest.raises(gcdn.NotFoundError) as info:
        client.run(job)
    report = info.value.report
    assert isinstance(report, gcdn.Report)
    assert info.value.status == 3
    reasons = {(s.item, s.resource_id, s.reason, s.by) for s in report.skipped}
    assert reasons == {
        ("https://nowhere.example.com/x", None, "no_resource", None),
        ("https://cdn7.example.com/y", 7, "url_purge_disabled", None),
        ("https://cdn8.example.com/z", 8, "inactive", None),
        ("https://cdn5.example.com/img/a.png", 5, "covered", "/img/*"),
        ("/kept", 6, "covered", "all"),
    }
    # The rest of the job was still sent.
    assert sorted(bodies(hosts.purges())) == [
        ("/cdn/resources/5/purge", {"paths": ["/img/*"]}),
        ("/cdn/resources/6/purge", {"paths": []}),
    ]
    assert {(r.resource_id, r.kind, r.outcome) for r in report.requests} == {
        (5, "patterns", "purged"),
        (6, "all", "purged"),
    }


def test_to_dict_is_the_documented_json_form(hosts, client):
    report = client.purge(["/a.png", "/a.png"], resource_id=5)
    d = report.to_dict()
    assert d["version"] == 1
    assert d["dry_run"] is False
    (req,) = d["requests"]
    assert req == {
        "resource_id": 5,
        "kind": "urls",
        "items": ["/a.png"],
        "outcome": "purged",
        "status": 0,
        "http_status": 201,
        "message": None,
        "attempts": 1,
        "purge_id": None,
        "completion": None,
        "carried_for_others": 0,
    }
    (skip,) = d["skipped"]
    assert {k: skip[k] for k in ("item", "resource_id", "reason")} == {
        "item": "/a.png", "resource_id": 5, "reason": "duplicate"}
    totals = d["totals"]
    for key in ("requests", "purged", "failed", "not_sent", "items_purged", "rate_limited",
                "elapsed_ms", "estimated_ms"):
        assert isinstance(totals[key], int), key
    assert (totals["requests"], totals["purged"], totals["items_purged"]) == (1, 1, 1)
    # A copy: changing it changes nothing; the JSON text says the same.
    d["requests"].clear()
    assert len(report.to_dict()["requests"]) == 1
    assert json.loads(report.to_json()) == report.to_dict()
    # Typed attributes agree with the dict.
    assert report.requests[0].items == ["/a.png"] and report.totals.items_purged == 1


def test_a_failure_mid_run_then_remaining_finishes_it(hosts, client):
    hosts.config(max_urls=2)
    # 6 URLs in requests of 2 (the account's limit); the second request answers 500.
    hosts.fault({"respond": {"status": 500, "body": "boom"}}, method="POST",
                path_prefix="/cdn/resources/5/purge", times=1)
    urls = ["/u{}".format(i) for i in range(6)]
    with gcdn.Client(hosts.api_key, base_url=hosts.url, max_retries=0, max_rate_limit_wait=0,
                     timeout=5) as c:
        with pytest.raises(gcdn.ServerError) as info:
            c.purge(urls, resource_id=5)
        e = info.value
        assert e.http_status == 500
        report = e.report
        outcomes = [(r.items, r.outcome) for r in report.requests]
        failed = [r for r in report.requests if r.outcome != "purged"]
        assert failed and all(r.outcome in ("failed", "not_sent") for r in failed), outcomes
        assert [r.http_status for r in report.requests if r.outcome == "failed"] == [500]
        purged_items = sorted(i for r in report.requests if r.outcome == "purged" for i in r.items)
        left = report.remaining()
        assert isinstance(left, gcdn.Job)
        hosts.clear_requests()
        second = c.run(left)
        again = sorted(i for r in second.requests for i in r.items)
        assert sorted(purged_items + again) == urls
        assert second.remaining() is None
        assert all(r.outcome == "purged" for r in second.requests)


def test_dry_run_sends_no_purge(hosts, client):
    job = gcdn.Job().add_full_urls(["https://cdn5.example.com/a", "https://cdn6.example.com/b"])
    report = client.run(job, dry_run=True)
    assert report.dry_run and report.to_dict()["dry_run"] is True
    assert {r.outcome for r in report.requests} == {"planned"}
    assert hosts.purges() == []
    assert [r["path"].split("?")[0] for r in hosts.requests()] == ["/cdn/resources"] * len(hosts.requests())


def test_wait_confirms_completion(hosts, client):
    hosts.config(purge_status_delay_ms=200)
    report = client.run(gcdn.Job().add_urls(5, ["/a"]).add_patterns(6, ["/b/*"]), wait=10)
    assert {r.completion for r in report.requests} == {"successful"}
    assert report.totals.confirmed == 2
    assert any(r["path"].startswith("/cdn/purge_statuses") for r in hosts.requests())


def test_wait_failed_status_is_rejected(hosts, client):
    hosts.control("POST", "purge_states", {"state": "failed", "next": 1})
    with pytest.raises(gcdn.RejectedError) as info:
        client.run(gcdn.Job().add_urls(5, ["/a"]), wait=10)
    assert [r.completion for r in info.value.report.requests] == ["failed"]


def test_wait_that_ends_first_is_a_timeout(hosts, client):
    hosts.control("POST", "purge_states", {"state": "in_progress", "next": 1})
    with pytest.raises(gcdn.TimeoutError) as info:
        client.run(gcdn.Job().add_urls(5, ["/a"]), wait=0.5)
    assert [r.completion for r in info.value.report.requests] == ["in_progress"]


def test_progress_events(hosts, client):
    events = []
    report = client.run(gcdn.Job().add_urls(5, ["/a", "/b"]).add_all(6), progress=events.append)
    assert events and all(isinstance(e, gcdn.Event) for e in events)
    kinds = [e.kind for e in events]
    assert kinds.count("sent") == 2 and kinds.count("answered") == 2, kinds
    for request in (0, 1):
        mine = [e.kind for e in events if e.request == request]
        assert mine.index("sent") < mine.index("answered"), mine
    answered = [e for e in events if e.kind == "answered"]
    assert {(e.resource_id, e.purge_kind, e.http_status) for e in answered} == {(5, "urls", 201), (6, "all", 201)}
    # Running totals: the last answer's totals are the report's.
    assert [e.totals.purged for e in answered] == [1, 2]
    assert events[-1].totals.purged == report.totals.purged == 2


def test_progress_waits_are_events(emulator):
    emulator.add_resource(5)
    emulator.config(url_requests=1, url_window_ms=300)
    events = []
    # Paced by the account's one URL purge per 300 ms (its limits say so): the second run's
    # request waits for its slot.
    with gcdn.Client(emulator.api_key, base_url=emulator.url, max_rate_limit_wait=10) as c:
        c.run(gcdn.Job().add_urls(5, ["/a"]), progress=events.append)
        c.run(gcdn.Job().add_urls(5, ["/b"]), progress=events.append)
    waits = [e for e in events if e.kind == "wait"]
    assert waits, [e.kind for e in events]
    assert waits[0].why == "pacer" and 0 < waits[0].wait <= 0.5 and waits[0].resource_id == 5
    assert "tick" not in {e.kind for e in events}  # ticks never reach the callable
    assert [r["status"] for r in emulator.purges()] == [201, 201]


def test_progress_false_stops_the_run(hosts, client):
    # One URL purge per 30 s (the documented rate): the second request waits for its slot.
    hosts.config(url_requests=1, url_window_ms=30000)
    job = gcdn.Job().add_urls(5, ["/u{}".format(i) for i in range(300)])  # 3 requests of 100
    seen = []

    def progress(event):
        seen.append(event.kind)
        return False if event.kind == "answered" else None

    start = time.monotonic()
    with gcdn.Client(hosts.api_key, base_url=hosts.url, max_rate_limit_wait=30) as c:
        with pytest.raises(gcdn.CancelledError) as info:
            c.run(job, progress=progress)
    assert time.monotonic() - start < 1.5
    report = info.value.report
    assert isinstance(report, gcdn.Report)
    assert [r.outcome for r in report.requests].count("purged") == 1
    assert len(hosts.purges()) == 1
    assert report.remaining() is not None


def test_progress_exception_propagates(hosts, client):
    class Boom(Exception):
        pass

    def progress(event):
        if event.kind == "sent":
            raise Boom("from the callback")

    with pytest.raises(Boom, match="from the callback"):
        client.run(gcdn.Job().add_urls(5, ["/a"]).add_urls(6, ["/b"]), progress=progress)
    # The client still works.
    assert client.purge(["/c"], resource_id=5).totals.purged == 1


def test_purge_convenience(hosts, client):
    assert client.purge(["https://cdn5.example.com/x"]).totals.purged == 1
    assert client.purge(("/y" for _ in range(1)), resource_id=6).totals.purged == 1
    assert sorted(bodies(hosts.purges())) == [
        ("/cdn/resources/5/purge", {"urls": ["/x"]}),
        ("/cdn/resources/6/purge", {"urls": ["/y"]}),
    ]


def test_bad_items_are_refused_at_once(emulator, client):
    job = gcdn.Job()
    with pytest.raises(gcdn.InvalidArgumentError, match="1"):
        job.add_full_urls(["https://cdn5.example.com/a", "http://cdn5.example.com/b"])
    with pytest.raises(gcdn.InvalidArgumentError):
        job.add_urls(0, ["/a"])
    with pytest.raises(TypeError):
        job.add_urls(5, "/a")
    with pytest.raises(TypeError):
        client.run(["/a"])
    with pytest.raises(TypeError):
        client.run(job, progress=3)
    with pytest.raises(gcdn.InvalidArgumentError):
        client.run(job, wait=-1)
    assert emulator.requests() == []


def test_report_and_error_pickle(hosts, client):
    with pytest.raises(gcdn.NotFoundError) as info:
        client.purge(["https://nowhere.example.com/x", "https://cdn5.example.com/a"])
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is gcdn.NotFoundError
    assert back.report.to_dict() == info.value.report.to_dict()
    assert back.report.remaining() is None  # nothing failed or went unsent: skips only


def test_a_report_pickled_by_0_2_loads(hosts, client):
    """Up to 0.2 the report's classes lived in gcdn._job, and pickles name them there."""
    report = client.purge(["https://cdn5.example.com/a"])
    text = pickle.dumps(report, protocol=0)
    assert b"gcdn._report\nReport\n" in text
    old = text.replace(b"gcdn._report\nReport\n", b"gcdn._job\nReport\n")
    back = pickle.loads(old)
    assert type(back) is gcdn.Report and back.to_dict() == report.to_dict()
    with pytest.raises(AttributeError):
        gcdn._job.NoSuchThing
