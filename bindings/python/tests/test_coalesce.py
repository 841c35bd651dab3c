"""Coalescing (issue 21) through the Python binding: many threads of one client share few
requests, each told only what reached the emulator in a 2xx request; coalesce=False gives
each call its own request."""

import asyncio
import json
import threading
from typing import Any, List

import gcdn


def _purged(emulator: Any) -> List[List[str]]:
    out = []
    for r in emulator.purges():
        assert r["status"] == 201, r
        out.append(json.loads(r["body"])["urls"])
    return out


def _threads(client: gcdn.Client, n: int, errors: List[BaseException]) -> None:
    start = threading.Barrier(n)

    def call(i: int) -> None:
        start.wait()
        try:
            client.purge_urls(5, ["/py/{}".format(i)])
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_forty_threads_share_few_requests(emulator: Any) -> None:
    emulator.add_resource(5)
    emulator.config(url_requests=1, url_window_ms=500)
    errors: List[BaseException] = []
    with gcdn.Client(emulator.api_key, base_url=emulator.url, purge_intervals=(0.5, 0.5),
                     max_rate_limit_wait=30) as c:
        _threads(c, 40, errors)
    assert errors == []
    sent = _purged(emulator)
    assert len(sent) <= 3, [len(s) for s in sent]
    assert sorted(u for s in sent for u in s) == sorted("/py/{}".format(i) for i in range(40))


def test_coalesce_false_gives_each_call_its_own_request(emulator: Any) -> None:
    emulator.add_resource(5)
    emulator.unlimited()
    errors: List[BaseException] = []
    with gcdn.Client(emulator.api_key, base_url=emulator.url, purge_intervals=(0.001, 0.001),
                     max_rate_limit_wait=30, coalesce=False) as c:
        _threads(c, 10, errors)
    assert errors == []
    sent = _purged(emulator)
    assert len(sent) == 10 and all(len(s) == 1 for s in sent)


def test_coalesce_must_be_a_bool(emulator: Any) -> None:
    try:
        gcdn.Client(emulator.api_key, base_url=emulator.url, coalesce=1)  # type: ignore[arg-type]
    except TypeError as e:
        assert "coalesce must be a bool" in str(e)
    else:
        raise AssertionError("coalesce=1 accepted")


def test_async_client_takes_coalesce(emulator: Any) -> None:
    emulator.add_resource(5)
    emulator.unlimited()

    async def main() -> None:
        async with gcdn.AsyncClient(emulator.api_key, base_url=emulator.url,
                                    purge_intervals=(0.001, 0.001), coalesce=False) as ac:
            await asyncio.gather(*(ac.purge_urls(5, ["/a/{}".format(i)]) for i in range(4)))

    asyncio.run(main())
    assert len(_purged(emulator)) == 4
