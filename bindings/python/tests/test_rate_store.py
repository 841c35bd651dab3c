"""rate_store=: clients that share one Redis share one pacing schedule (a real redis-server)."""

import shutil
import socket
import subprocess
import tempfile
import time
from typing import Iterator

import pytest

import gcdn

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (.ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url() -> Iterator[str]:
    assert REDIS is not None
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="gcdn-redis-")
    proc = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
        yield "redis://127.0.0.1:{}/0".format(port)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def test_two_clients_share_one_schedule(emulator, redis_url):
    emulator.add_resource(7)
    emulator.config(url_requests=1, url_window_ms=600)
    # Both pace by the account's limits, one URL purge per 600 ms.
    a = gcdn.Client(emulator.api_key, base_url=emulator.url, rate_store=redis_url,
                    max_rate_limit_wait=5)
    b = gcdn.Client(emulator.api_key, base_url=emulator.url, rate_store=redis_url,
                    max_rate_limit_wait=5)
    with a, b:
        a.purge_urls(7, ["/a"])
        start = time.monotonic()
        b.purge_urls(7, ["/b"])  # the store knows a's purge: b waits for the next slot
        waited = time.monotonic() - start
    assert waited >= 0.5, waited
    statuses = [r["status"] for r in emulator.purges()]
    assert statuses == [201, 201], statuses


def test_without_the_store_the_second_client_meets_a_429(emulator):
    emulator.add_resource(7)
    emulator.config(url_requests=1, url_window_ms=600)
    a = gcdn.Client(emulator.api_key, base_url=emulator.url, max_rate_limit_wait=5)
    b = gcdn.Client(emulator.api_key, base_url=emulator.url, max_rate_limit_wait=5)
    with a, b:
        a.purge_urls(7, ["/a"])
        b.purge_urls(7, ["/b"])  # b knows nothing of a: the API refuses, b waits it out
    assert 429 in [r["status"] for r in emulator.purges()]


def test_a_store_url_never_shows_its_password():
    with pytest.raises(gcdn.InvalidArgumentError) as info:
        gcdn.Client("k", base_url="http://127.0.0.1:9", rate_store="mysql://user:s3cret-pw@host/0")
    assert "s3cret-pw" not in str(info.value)


def test_fail_closed_refuses_when_the_store_is_down(emulator):
    emulator.add_resource(7)
    port = _free_port()  # nothing listens there
    url = "redis://user:s3cret-pw@127.0.0.1:{}/0".format(port)
    with gcdn.Client(emulator.api_key, base_url=emulator.url, purge_intervals=(0.001, 0.001),
                     rate_store=url, rate_store_fail_closed=True) as c:
        with pytest.raises(gcdn.NetworkError) as info:
            c.purge_urls(7, ["/a"])
    assert "s3cret-pw" not in str(info.value)
    assert emulator.purges() == []


def test_fail_open_purges_anyway(emulator):
    emulator.add_resource(7)
    url = "redis://127.0.0.1:{}/0".format(_free_port())
    with gcdn.Client(emulator.api_key, base_url=emulator.url, purge_intervals=(0.001, 0.001),
                     rate_store=url) as c:
        c.purge_urls(7, ["/a"])
    assert [r["status"] for r in emulator.purges()] == [201]


def test_rate_store_must_be_a_bool_flag():
    with pytest.raises(TypeError):
        gcdn.Client("k", base_url="http://127.0.0.1:9", rate_store_fail_closed="yes")  # type: ignore[arg-type]


def test_clients_with_stores_of_their_own_coalesce_through_redis(emulator, redis_url):
    """Six clients, each with its own connection to one redis-server (as six processes would
    have), purge 5 URLs each of one resource at once: a few shared requests, every URL each
    was told is purged arrived in a 2xx request, no 429."""
    import json
    import threading

    emulator.add_resource(7)
    emulator.config(url_requests=1, url_window_ms=1000)
    clients = [gcdn.Client(emulator.api_key, base_url=emulator.url, purge_intervals=(1.0, 1.0),
                           rate_store=redis_url, max_rate_limit_wait=30) for _ in range(6)]
    start = threading.Barrier(len(clients))
    told: list = []
    errors: list = []

    def purge(i: int, c: gcdn.Client) -> None:
        urls = ["/c{}/{}".format(i, j) for j in range(5)]
        start.wait()
        try:
            c.purge_urls(7, urls)
            told.extend(urls)
        except gcdn.GcdnError as e:  # the assertion below names it
            errors.append(e)

    threads = [threading.Thread(target=purge, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for c in clients:
        c.close()
    assert errors == [] and len(told) == 30, errors
    purges = emulator.purges()
    statuses = [r["status"] for r in purges]
    assert 429 not in statuses, statuses
    # The first call goes at once, alone; the others share the next slot (one request).
    assert len(purges) <= 3, statuses
    arrived = {u for r in purges if 200 <= r["status"] < 300 for u in json.loads(r["body"])["urls"]}
    assert set(told) <= arrived, sorted(set(told) - arrived)
