"""gcdn.AsyncClient against the real library and a real emulator, with plain asyncio.run.

What each test proves: the calls are Client's (same signatures, docs, requests, exceptions);
many awaits run at once on a bounded pool; cancelling a task stops its call at once and
nothing is sent for it; the event loop keeps running while a call waits; `async with` closes.
"""

import asyncio
import gc
import inspect
import json
import threading
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import pytest

import gcdn
from conftest import FAST, Emulator

POOL = "gcdn-async"  # the name prefix of the pool's threads


def make(emulator: Emulator, **options: Any) -> gcdn.AsyncClient:
    settings: Dict[str, Any] = dict(max_retries=0, timeout=5, purge_intervals=FAST)
    settings.update(options)
    return gcdn.AsyncClient(emulator.api_key, base_url=emulator.url, **settings)


def pool_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(POOL)]


def purged(emulator: Emulator) -> List[Tuple[str, Any]]:
    return [(r["path"], json.loads(r["body"]) if r["body"] else None) for r in emulator.purges()]


def test_the_methods_are_clients_each_async() -> None:
    """Every public method of Client has an async namesake with the same parameters and doc."""
    names = [n for n, v in vars(gcdn.Client).items() if not n.startswith("_") and inspect.isfunction(v)]
    assert set(names) == {"close", "run", "purge", "purge_urls", "purge_patterns", "purge_all",
                          "deactivate_resource", "delete_resource"}
    for name in names:
        if name == "close":
            continue
        sync, async_ = getattr(gcdn.Client, name), getattr(gcdn.AsyncClient, name)
        assert inspect.iscoroutinefunction(async_), name
        assert inspect.signature(async_) == inspect.signature(sync), name
        assert async_.__doc__ and async_.__doc__ == sync.__doc__, name
    assert inspect.iscoroutinefunction(gcdn.AsyncClient.aclose)
    # The constructor: Client's parameters, then max_workers.
    client_params = list(inspect.signature(gcdn.Client).parameters.values())
    async_params = list(inspect.signature(gcdn.AsyncClient).parameters.values())
    assert async_params[:-1] == client_params and async_params[-1].name == "max_workers"
    assert "AsyncClient" in gcdn.__all__


def test_each_call_sends_what_client_sends(emulator: Emulator) -> None:
    emulator.unlimited()
    for rid in (5, 6, 7):
        emulator.add_resource(rid)
    events: List[Tuple[str, str]] = []

    def progress(event: gcdn.Event) -> None:
        events.append((event.kind, threading.current_thread().name))

    async def main() -> gcdn.Report:
        async with make(emulator) as client:
            await client.purge_urls(5, ["/a.png", "/b.png?v=2"])
            await client.purge_patterns(5, ["/img/*"])
            await client.purge_all(5)
            await client.deactivate_resource(6)
            await client.delete_resource(7, deactivate_first=True)
            report = await client.run(gcdn.Job().add_urls(5, ["/job"]), progress=progress)
            again = await client.purge(["/one"], resource_id=5)
            assert again.totals.purged == 1
            return report

    report = asyncio.run(main())
    assert isinstance(report, gcdn.Report) and report.totals.purged == 1
    assert [(r["method"], r["path"]) for r in emulator.requests()] == [
        ("POST", "/cdn/resources/5/purge"),
        ("POST", "/cdn/resources/5/purge"),
        ("POST", "/cdn/resources/5/purge"),
        ("PATCH", "/cdn/resources/6"),
        ("PATCH", "/cdn/resources/7"),
        ("DELETE", "/cdn/resources/7"),
        # A job's URL items go in their cache-key form: each run reads the resources first.
        ("GET", "/cdn/resources?limit=1000&offset=0"),
        ("POST", "/cdn/resources/5/purge"),
        ("GET", "/cdn/resources?limit=1000&offset=0"),
        ("POST", "/cdn/resources/5/purge"),
    ]
    assert [body for _, body in purged(emulator)] == [
        {"urls": ["/a.png", "/b.png?v=2"]}, {"paths": ["/img/*"]}, {"paths": []}, {"urls": ["/job"]},
        {"urls": ["/one"]},
    ]
    resource6 = emulator.resource(6)
    assert resource6 is not None and resource6["active"] is False and emulator.resource(7) is None
    # The progress callable ran on the pool's thread, not on the event loop's.
    assert "sent" in [kind for kind, _ in events] and all(name.startswith(POOL) for _, name in events)


def test_many_concurrent_awaits_on_one_resource(emulator: Emulator) -> None:
    """40 awaits at once on one resource: all succeed, each URL is purged, on <= 4 threads."""
    emulator.unlimited()
    emulator.add_resource(5)
    urls = ["/page/{}.html".format(i) for i in range(40)]
    seen_threads: List[int] = []

    async def main() -> List[None]:
        async with make(emulator, max_workers=4) as client:
            calls = asyncio.gather(*(client.purge_urls(5, [url]) for url in urls))
            while not calls.done():
                seen_threads.append(len(pool_threads()))
                await asyncio.sleep(0.005)
            return await calls

    assert asyncio.run(main()) == [None] * 40
    sent = [body["urls"] for path, body in purged(emulator) if path == "/cdn/resources/5/purge"]
    assert sorted(u for chunk in sent for u in chunk) == sorted(urls)
    assert all(r["status"] == 201 for r in emulator.purges())
    assert seen_threads and max(seen_threads) <= 4, seen_threads


def _one_slot_per_30_s(emulator: Emulator) -> None:
    """The account allows one URL purge per 30 s: the second purge waits in the client's pacer
    (it reads the account's limits: no purge_intervals)."""
    emulator.add_resource(5)
    emulator.config(url_requests=1, url_window_ms=30000)


@pytest.mark.parametrize("how", ["purge_urls", "run"])
def test_a_task_cancelled_mid_wait(emulator: Emulator, how: str) -> None:
    """Cancelled while its call waits out the rate limit: CancelledError at once, its URL is
    never sent, the call's thread is freed (aclose does not wait out the 30 s)."""
    _one_slot_per_30_s(emulator)
    waiting = threading.Event()

    def progress(event: gcdn.Event) -> None:
        if event.kind == "wait":
            waiting.set()

    loop_errors: List[Dict[str, Any]] = []

    async def main() -> Tuple[float, float]:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
        client = make(emulator, purge_intervals=None, max_rate_limit_wait=120)
        await client.purge_urls(5, ["/first"])
        task: asyncio.Future[Any]
        if how == "run":
            task = asyncio.ensure_future(client.run(gcdn.Job().add_urls(5, ["/second"]), progress=progress))
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, waiting.wait, 20), "no wait event"
        else:
            task = asyncio.ensure_future(client.purge_urls(5, ["/second"]))
            await asyncio.sleep(1.0)  # well into the ~30 s wait
        assert not task.done()
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        raised_after = time.monotonic() - cancelled_at
        await client.aclose()  # waits for the call's thread: the library must have returned
        closed_after = time.monotonic() - cancelled_at
        gc.collect()
        return raised_after, closed_after

    raised_after, closed_after = asyncio.run(main())
    assert raised_after < 0.5, "CancelledError {:.3f} s after the cancel".format(raised_after)
    assert closed_after < 5, "the cancelled call went on for {:.1f} s".format(closed_after)
    assert purged(emulator) == [("/cdn/resources/5/purge", {"urls": ["/first"]})]
    # The call's end (gcdn.CancelledError on its thread) is not logged as never retrieved.
    assert loop_errors == []


def test_a_call_waiting_for_a_thread_is_cancelled_unsent(emulator: Emulator) -> None:
    """With one thread busy waiting, a second call queues; cancelling it sends nothing."""
    _one_slot_per_30_s(emulator)
    emulator.add_resource(6)

    async def main() -> None:
        async with make(emulator, purge_intervals=None, max_rate_limit_wait=120, max_workers=1) as client:
            await client.purge_urls(5, ["/first"])
            busy = asyncio.ensure_future(client.purge_urls(5, ["/second"]))  # waits ~30 s
            queued = asyncio.ensure_future(client.purge_urls(6, ["/queued"]))  # would be at once
            await asyncio.sleep(0.5)
            assert len(pool_threads()) == 1 and not queued.done()
            for task in (queued, busy):
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 10
    assert purged(emulator) == [("/cdn/resources/5/purge", {"urls": ["/first"]})]


def test_the_event_loop_keeps_running_while_a_call_waits(emulator: Emulator) -> None:
    emulator.add_resource(5)

    async def main() -> Tuple[float, List[float]]:
        # One URL purge per 1.5 s: the second call waits in the client's pacer.
        async with make(emulator, purge_intervals=(1.5, 1.5)) as client:
            await client.purge_urls(5, ["/first"])
            ticks: List[float] = []
            stop = False

            async def ticker() -> None:
                while not stop:
                    ticks.append(time.monotonic())
                    await asyncio.sleep(0.02)

            ticking = asyncio.ensure_future(ticker())
            started = time.monotonic()
            await client.purge_urls(5, ["/second"])  # waits for the next slot (~1.5 s)
            took = time.monotonic() - started
            stop = True
            await ticking
            return took, [t for t in ticks if t >= started]

    took, ticks = asyncio.run(main())
    assert took >= 1.0, "the call did not wait ({:.2f} s): the test proves nothing".format(took)
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    # A blocked loop would not tick at all during the ~1.5 s call.
    assert len(ticks) >= 10 and max(gaps) < 1.0, (len(ticks), max(gaps or [0]))
    assert [r["status"] for r in emulator.purges()] == [201, 201]


def _failure(fn: Callable[[], Any]) -> BaseException:
    try:
        fn()
    except BaseException as e:  # noqa: B036
        return e
    raise AssertionError("no exception")


def test_exceptions_are_clients(emulator: Emulator) -> None:
    """The same failure gives the same exception, class and fields, from both clients."""
    emulator.unlimited()
    emulator.add_resource(5)
    fired = gcdn.CancelToken()
    fired.cancel()
    cases: List[Tuple[str, Callable[[Any], Any]]] = [
        ("404", lambda c: c.purge_urls(404, ["/a"])),
        ("invalid: empty", lambda c: c.purge_urls(5, [])),
        ("invalid: id", lambda c: c.purge_all(0)),
        ("invalid: url", lambda c: c.purge_urls(5, ["no-slash"])),
        ("type: bare str", lambda c: c.purge_urls(5, "/a")),
        ("type: cancel", lambda c: c.purge_all(5, cancel="soon")),
        ("cancelled token", lambda c: c.purge_all(5, cancel=fired)),
        ("run: 404 with a report", lambda c: c.run(gcdn.Job().add_urls(404, ["/a"]))),
        ("400", lambda c: c.purge_urls(5, ["/a"])),
        ("401", lambda c: c.purge_urls(5, ["/a"])),
    ]

    def describe(e: BaseException) -> Tuple[Any, ...]:
        fields: Tuple[Any, ...] = (type(e), str(e))
        if isinstance(e, gcdn.GcdnError):
            report = None if e.report is None else e.report.to_dict()["requests"]
            fields += (e.status, e.http_status, report)
        return fields

    async def in_async(make_call: Callable[[Any], Awaitable[Any]], client: gcdn.AsyncClient) -> BaseException:
        try:
            await make_call(client)
        except BaseException as e:  # noqa: B036
            return e
        raise AssertionError("no exception")

    raised: Dict[str, BaseException] = {}
    for name, call in cases:
        got = []
        for kind in ("sync", "async"):
            if name == "400":
                emulator.fault({"respond": {"status": 400, "body": '{"errors": {"urls": ["bad"]}}'}})
            key = "wrong-key" if name == "401" else emulator.api_key
            opts: Dict[str, Any] = dict(max_retries=0, timeout=5, purge_intervals=FAST)
            if kind == "sync":
                with gcdn.Client(key, base_url=emulator.url, **opts) as c:
                    got.append(_failure(lambda: call(c)))
            else:
                async def run_async() -> BaseException:
                    async with gcdn.AsyncClient(key, base_url=emulator.url, **opts) as ac:
                        return await in_async(call, ac)

                got.append(asyncio.run(run_async()))
        assert describe(got[0]) == describe(got[1]), name
        raised[name] = got[1]
    expected = {
        "404": (gcdn.NotFoundError, 404), "400": (gcdn.RejectedError, 400), "401": (gcdn.UnauthorizedError, 401),
        "invalid: empty": (gcdn.InvalidArgumentError, None), "invalid: id": (gcdn.InvalidArgumentError, None),
        "invalid: url": (gcdn.InvalidArgumentError, None), "cancelled token": (gcdn.CancelledError, None),
        "run: 404 with a report": (gcdn.NotFoundError, 404),
    }
    for name, (cls, http_status) in expected.items():
        e = raised[name]
        assert type(e) is cls and isinstance(e, gcdn.GcdnError) and e.http_status == http_status, (name, e)
    report_error = raised["run: 404 with a report"]
    assert isinstance(report_error, gcdn.GcdnError) and report_error.report is not None
    assert type(raised["type: bare str"]) is TypeError and type(raised["type: cancel"]) is TypeError
    # Nothing was sent for the refused input or the fired token: only the 404s, 400 and 401s,
    # and the resources listing each run reads (its URL items go in their cache-key form).
    assert sorted(r["status"] for r in emulator.requests()) == [200, 200, 400, 400, 401, 401] + [404] * 4


def test_a_closed_client_raises_client_closed(emulator: Emulator) -> None:
    async def main() -> BaseException:
        client = make(emulator)
        await client.aclose()
        await client.aclose()  # idempotent
        assert client.closed and "closed" in repr(client)
        with pytest.raises(gcdn.ClientClosedError) as info:
            await client.purge_all(5)
        return info.value

    e = asyncio.run(main())
    assert isinstance(e, gcdn.InvalidArgumentError) and isinstance(e, ValueError)
    assert emulator.requests() == []


def test_async_with_closes_after_the_calls_in_progress(emulator: Emulator) -> None:
    """Leaving `async with` closes the client: a call in progress finishes (its URL is purged)
    before the exit returns, a later call raises ClientClosedError, the pool's threads end."""
    emulator.add_resource(5)

    async def main() -> Tuple[gcdn.AsyncClient, bool]:
        async with make(emulator, purge_intervals=(1.0, 1.0)) as client:
            assert not client.closed
            await client.purge_urls(5, ["/first"])
            in_progress = asyncio.ensure_future(client.purge_urls(5, ["/second"]))  # waits ~1 s
            await asyncio.sleep(0.2)
        done_at_exit = in_progress.done()
        await in_progress  # succeeded
        return client, done_at_exit

    client, done_at_exit = asyncio.run(main())
    assert client.closed and done_at_exit
    with pytest.raises(gcdn.ClientClosedError):
        asyncio.run(client.purge_urls(5, ["/late"]))
    for t in pool_threads():
        t.join(5)
    assert pool_threads() == []
    assert [r["status"] for r in emulator.purges()] == [201, 201]
    assert purged(emulator) == [
        ("/cdn/resources/5/purge", {"urls": ["/first"]}), ("/cdn/resources/5/purge", {"urls": ["/second"]}),
    ]


def test_a_fired_cancel_token_stops_an_async_call(emulator: Emulator) -> None:
    """cancel= works as with Client: fired from another thread mid-wait, the call raises
    gcdn.CancelledError and its URL is not sent."""
    _one_slot_per_30_s(emulator)

    async def main() -> Tuple[gcdn.CancelledError, float]:
        async with make(emulator, purge_intervals=None, max_rate_limit_wait=120) as client:
            await client.purge_urls(5, ["/first"])
            token = gcdn.CancelToken()
            threading.Timer(0.5, token.cancel).start()
            started = time.monotonic()
            with pytest.raises(gcdn.CancelledError) as info:
                await client.purge_urls(5, ["/second"], cancel=token)
            return info.value, time.monotonic() - started

    e, took = asyncio.run(main())
    assert e.status == 11 and took < 5
    assert purged(emulator) == [("/cdn/resources/5/purge", {"urls": ["/first"]})]


def test_max_workers_is_checked() -> None:
    with pytest.raises(gcdn.InvalidArgumentError):
        gcdn.AsyncClient("k", base_url="http://127.0.0.1:1", max_workers=0)
    with pytest.raises(TypeError):
        gcdn.AsyncClient("k", base_url="http://127.0.0.1:1", max_workers=2.5)  # type: ignore[arg-type]
