"""The naive baseline of the coalescing rows: CALLERS threads, each purging one URL of one
resource through the official Python SDK (``gcore`` on PyPI; one client shared by the
threads), released together, each call with the SDK's own retries (its defaults: 2 retries,
exponential back-off from 0.5 s). A call that still fails is counted.

    python callers_baseline.py BASE_URL RESOURCE CALLERS

The URLs are those of benches/c/bench_job.c's `callers` mode (/callers/<i>.png). Prints one
JSON line. Run by benches/schedule.py.
"""

import json
import sys
import threading
import time

import gcore

API_KEY = "bench-key-0123456789abcdef"


def main():
    base_url, resource, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    client = gcore.Gcore(api_key=API_KEY, base_url=base_url)
    purge = client.cdn.cdn_resources.purge
    start = threading.Barrier(n)
    began, ended, errors = [0.0] * n, [0.0] * n, {}
    lock = threading.Lock()

    def caller(i):
        start.wait()
        began[i] = time.perf_counter()
        try:
            purge(resource, urls=["/callers/{}.png".format(i)])
        except gcore.APIError as e:
            with lock:
                name = type(e).__name__
                errors[name] = errors.get(name, 0) + 1
        ended[i] = time.perf_counter()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"makespan_ms": (max(ended) - min(began)) * 1e3,
                      "failures": sum(errors.values()), "errors": errors}))


if __name__ == "__main__":
    main()
