"""Closing, garbage collection, threads sharing a client, and memory over many calls."""

import gc
import json
import os
import threading
import time

import pytest

import gcdn
from conftest import FAST


def new_client(emulator, **kwargs):
    # Paced 1 per ms (the emulator is unlimited in these tests), room for the pacer's margin.
    settings = dict(base_url=emulator.url, max_retries=0, max_rate_limit_wait=0.2, timeout=5,
                    purge_intervals=FAST)
    settings.update(kwargs)
    return gcdn.Client(emulator.api_key, **settings)


def test_use_after_close(emulator):
    emulator.add_resource(5)
    c = new_client(emulator)
    c.purge_all(5)
    c.close()
    c.close()  # idempotent
    for call in (lambda: c.purge_all(5), lambda: c.purge_urls(5, ["/a"]),
                 lambda: c.purge_patterns(5, ["/a"]), lambda: c.deactivate_resource(5),
                 lambda: c.delete_resource(5), lambda: c.purge_all(5, call_timeout=1)):
        with pytest.raises(gcdn.ClientClosedError) as info:
            call()
        assert isinstance(info.value, ValueError) and isinstance(info.value, gcdn.GcdnError)
    assert len(emulator.requests()) == 1


def test_context_manager_closes(emulator):
    with new_client(emulator) as c:
        assert not c.closed
    assert c.closed and c._handle is None
    with pytest.raises(gcdn.ClientClosedError):
        c.purge_all(5)


def test_close_while_a_call_is_in_flight(emulator):
    """close() from another thread lets the running call finish; the handle goes after it."""
    emulator.add_resource(5)
    emulator.fault({"delay_ms": 600})
    c = new_client(emulator)
    outcome = []

    def slow():
        try:
            c.purge_all(5)
            outcome.append("ok")
        except Exception as e:  # noqa: BLE001
            outcome.append(e)

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.monotonic() + 5
    while c._calls == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert c._calls == 1
    c.close()
    assert c.closed and c._handle is not None  # still in use: not freed yet
    with pytest.raises(gcdn.ClientClosedError):
        c.purge_all(5)
    t.join(10)
    assert outcome == ["ok"]
    assert c._handle is None  # freed by the call that finished last


def test_dropped_without_close_while_others_work(emulator):
    """Clients garbage-collected unclosed free their handles; other threads' clients go on."""
    emulator.add_resource(5)
    emulator.unlimited()
    errors = []
    stop = threading.Event()

    def worker():
        try:
            with new_client(emulator) as own:
                while not stop.is_set():
                    own.purge_urls(5, ["/busy"])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(50):
            c = new_client(emulator)
            c.purge_urls(5, ["/dropped/{}".format(i)])
            if i % 2:
                c.purge_all(5, call_timeout=2)
            del c
            if i % 10 == 0:
                gc.collect()
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert errors == []
    urls = {u for b in emulator.purges() for u in urls_of(b)}
    assert {"/dropped/{}".format(i) for i in range(50)} <= urls


def urls_of(request):
    return json.loads(request["body"]).get("urls", [])


def test_threads_share_one_client(emulator):
    emulator.add_resource(5)
    emulator.add_resource(6)
    emulator.unlimited()
    n_threads, n_calls = 8, 40
    errors = []
    barrier = threading.Barrier(n_threads)
    with new_client(emulator) as c:

        def worker(t):
            try:
                barrier.wait()
                for i in range(n_calls):
                    c.purge_urls(5, ["/t{}/c{}".format(t, i), "/t{}/c{}?x".format(t, i)])
                    if i % 10 == 0:
                        c.purge_patterns(6, ["/t{}/*".format(t)])
                    if i % 20 == 0:
                        with pytest.raises(gcdn.NotFoundError):
                            c.purge_all(777)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
    purges = emulator.purges()
    urls = [u for r in purges for u in urls_of(r)]
    expected = {"/t{}/c{}".format(t, i) for t in range(n_threads) for i in range(n_calls)}
    assert len(urls) == 2 * n_threads * n_calls
    assert expected <= set(urls)
    # Each pattern call's pattern was sent once (calls of several threads waiting for the same
    # slot may share a request: coalescing).
    patterns = [p for r in purges if r["path"] == "/cdn/resources/6/purge" for p in json.loads(r["body"])["paths"]]
    assert sorted(patterns) == sorted("/t{}/*".format(t) for t in range(n_threads) for _ in range(n_calls // 10))
    assert all(r["status"] == 201 for r in purges if "/777/" not in r["path"])


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_memory_flat_over_thousands_of_calls(emulator):
    """Successes and failures (each failure's message is allocated by the library, then freed)."""
    emulator.add_resource(5)
    emulator.unlimited()
    emulator.config(record=False)  # keep the emulator's own log small
    urls = ["/m/{}".format(i) for i in range(20)]

    def batch(n):
        with new_client(emulator) as c:
            for i in range(n):
                c.purge_urls(5, urls)
                try:
                    c.purge_urls(404, ["/missing"])
                except gcdn.NotFoundError:
                    pass
                try:
                    c.purge_urls(5, ["no-slash"])
                except gcdn.InvalidArgumentError:
                    pass
                if i % 100 == 0:
                    c.purge_all(5, call_timeout=5)

    try:
        batch(300)  # warm up: connection pool, allocator arenas
        gc.collect()
        before = rss_bytes()
        for _ in range(3):
            batch(1000)
        gc.collect()
        growth = rss_bytes() - before
    finally:
        emulator.config(record=True)  # a reset does not turn recording back on
    # 9,000+ calls: a leak of even 1 KiB a call would show as > 9 MiB.
    assert growth < 4 * 1024 * 1024, "RSS grew by {} KiB".format(growth // 1024)
