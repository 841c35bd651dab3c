"""The baseline of the coalescing rows: CALLERS threads, each purging one URL of its own on the
same resource with the official Python SDK (``gcore`` on PyPI), started together, one SDK client
shared by the threads, the SDK's own retries (its defaults: 2 retries, exponential back-off from
0.5 s). What a user writes without gcdn when many workers each purge what they changed.

    python coalesce_baseline.py BASE_URL CALLERS RESOURCE_ID WARM CAP_SECONDS

First WARM one-URL calls in turn (/coalesce/warm<i>.png), which fill the resource's window as
another worker would have; then the callers start together, each making one call
(/coalesce/t<i>.png). A call still running CAP_SECONDS after the start is counted as not
finished ("capped": true). Prints one JSON line: makespan (the first warm-up call to the last
return), calls that succeeded, that failed (by exception class), and that did not finish. Run
by benches/schedule.py.
"""

import json
import os
import sys
import threading
import time

import gcore

API_KEY = "bench-key-0123456789abcdef"


def main():
    base_url, callers, rid, warm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    cap = float(sys.argv[5])
    client = gcore.Gcore(api_key=API_KEY, base_url=base_url)
    purge = client.cdn.cdn_resources.purge
    lock = threading.Lock()
    done, errors, ends = [0], {}, []
    go = threading.Event()

    def caller(i):
        go.wait()
        try:
            purge(rid, urls=["/coalesce/t{}.png".format(i)])
            ok = True
        except gcore.APIError as e:
            ok = False
            name = type(e).__name__
        with lock:
            ends.append(time.perf_counter())
            if ok:
                done[0] += 1
            else:
                errors[name] = errors.get(name, 0) + 1

    threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(callers)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    for i in range(warm):
        purge(rid, urls=["/coalesce/warm{}.png".format(i)])
    go.set()
    for t in threads:
        t.join(timeout=max(0.0, cap - (time.perf_counter() - t0)))
    with lock:
        finished = len(ends)
        wall = ((max(ends) if finished == callers else time.perf_counter()) - t0) * 1e3
        print(json.dumps({"makespan_ms": wall, "callers": callers, "done": done[0],
                          "failed": sum(errors.values()), "unfinished": callers - finished,
                          "capped": finished < callers, "errors": errors}), flush=True)
    os._exit(0)  # calls still in their retry sleeps are not waited for


if __name__ == "__main__":
    main()
