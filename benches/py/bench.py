"""Sequential calls from Python on one keep-alive connection: the gcdn binding, or the
official Gcore SDK (``gcore`` on PyPI) on the same requests.

    python bench.py BASE_URL gcdn|gcore purge|delete N WARMUP
    python bench.py BASE_URL gcdn purge-timeout N WARMUP   (the binding, with a per-call timeout)
    python bench.py BASE_URL gcdn-async purge|delete N WARMUP   (gcdn.AsyncClient, each call
                                                               awaited in turn on one event loop)

Prints one JSON line: per-call median and p99 (nearest rank) in microseconds, calls per
second over the timed loop, client CPU time per call. Run by benches/run.
"""

import asyncio
import inspect
import itertools
import json
import math
import sys
import time

API_KEY = "bench-key-0123456789abcdef"
RESOURCE_ID = 100
# The binding paces purges per resource (at the fastest its options allow, 1 per 1 ms plus a
# 1 ms margin): its purges turn over resources 100..999 (same length, same bytes) so that no
# call waits for the pacer. The SDK does not pace: resource 100.
FIRST_RID, RIDS = 100, 900
URLS = ["/img/logo.png", "/index.html?v=2"]


def make_call(which, base_url, op):
    if which == "gcdn":
        import gcdn

        client = gcdn.Client(API_KEY, base_url=base_url, purge_intervals=(0.001, 0.001))
        rids = itertools.cycle(range(FIRST_RID, FIRST_RID + RIDS))
        if op == "purge":
            return lambda: client.purge_urls(next(rids), URLS)
        if op == "purge-timeout":
            # A per-call timeout (far enough never to end a call): what a call costs with it.
            params = inspect.signature(client.purge_urls).parameters
            kw = {"timeout" if "timeout" in params else "call_timeout": 3600.0}
            return lambda: client.purge_urls(next(rids), URLS, **kw)
        return lambda: client.delete_resource(RESOURCE_ID)
    import gcore

    # The SDK's own retries off: on success they never run, and nothing here fails.
    client = gcore.Gcore(api_key=API_KEY, base_url=base_url, max_retries=0)
    resources = client.cdn.cdn_resources
    if op == "purge":
        return lambda: resources.purge(RESOURCE_ID, urls=URLS)
    return lambda: resources.delete(RESOURCE_ID)


def timed(call, n, warmup):
    """n sequential calls after `warmup`: (latencies ns, loop ns, CPU ns)."""
    for _ in range(warmup):
        call()
    lat = [0] * n
    clock = time.perf_counter_ns
    cpu0 = time.process_time_ns()
    start = t = clock()
    for i in range(n):
        call()
        t2 = clock()
        lat[i] = t2 - t
        t = t2
    return lat, t - start, time.process_time_ns() - cpu0


async def timed_async(base_url, op, n, warmup):
    """timed() for gcdn.AsyncClient: each call awaited before the next, on one event loop
    (the call runs on the client's thread pool; the loop waits for it)."""
    import gcdn

    async with gcdn.AsyncClient(API_KEY, base_url=base_url, purge_intervals=(0.001, 0.001)) as client:
        rids = itertools.cycle(range(FIRST_RID, FIRST_RID + RIDS))
        if op == "purge":
            call = lambda: client.purge_urls(next(rids), URLS)
        else:
            call = lambda: client.delete_resource(RESOURCE_ID)
        for _ in range(warmup):
            await call()
        lat = [0] * n
        clock = time.perf_counter_ns
        cpu0 = time.process_time_ns()
        start = t = clock()
        for i in range(n):
            await call()
            t2 = clock()
            lat[i] = t2 - t
            t = t2
        return lat, t - start, time.process_time_ns() - cpu0


def main():
    base_url, which, op, n, warmup = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    if which == "gcdn-async":
        lat, loop, cpu = asyncio.run(timed_async(base_url, op, n, warmup))
    else:
        lat, loop, cpu = timed(make_call(which, base_url, op), n, warmup)
    lat.sort()
    p99 = max(1, math.ceil(0.99 * n))
    print(
        json.dumps(
            {
                "name": "{}-python {}".format(which, op),
                "calls": n,
                "median_us": lat[n // 2] / 1e3,
                "p99_us": lat[p99 - 1] / 1e3,
                "calls_per_s": n * 1e9 / loop,
                "cpu_us": cpu / 1e3 / n,
                "failures": 0,
            }
        )
    )


if __name__ == "__main__":
    main()
