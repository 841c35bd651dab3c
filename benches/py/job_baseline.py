"""The naive baseline of the job rows: what a user writes with the official Python SDK
(``gcore`` on PyPI) to purge many URLs over several resources, without gcdn. Resource after
resource, URLs in chunks of 100, patterns in chunks of 10, each chunk one SDK call with the
SDK's own retries (its defaults: 2 retries, exponential back-off from 0.5 s); a chunk that
still fails is counted and the loop goes on.

    python job_baseline.py BASE_URL RESOURCES URLS PATTERNS MAX_URLS MAX_PATTERNS CAP_SECONDS

The items are those of benches/c/bench_job.c (/job/u<i>.png, /job/p<j>/*). Stops after
CAP_SECONDS (then "capped": true). Prints one JSON line. Run by benches/schedule.py.
"""

import json
import sys
import time

import gcore

API_KEY = "bench-key-0123456789abcdef"


def main():
    base_url = sys.argv[1]
    resources, urls, patterns, max_urls, max_patterns = map(int, sys.argv[2:7])
    cap = float(sys.argv[7])
    client = gcore.Gcore(api_key=API_KEY, base_url=base_url)
    purge = client.cdn.cdn_resources.purge
    url_items = ["/job/u{}.png".format(i) for i in range(urls)]
    pattern_items = ["/job/p{}/*".format(j) for j in range(patterns)]
    calls = failed = done = 0
    total = resources * (-(-urls // max_urls) + -(-patterns // max_patterns))
    capped = False
    errors = {}
    t0 = time.perf_counter()
    for rid in range(1, resources + 1):
        chunks = [("urls", url_items[i:i + max_urls]) for i in range(0, urls, max_urls)]
        chunks += [("paths", pattern_items[i:i + max_patterns]) for i in range(0, patterns, max_patterns)]
        for key, chunk in chunks:
            if time.perf_counter() - t0 > cap:
                capped = True
                break
            calls += 1
            try:
                purge(rid, **{key: chunk})
                done += 1
            except gcore.APIError as e:
                failed += 1
                name = type(e).__name__
                errors[name] = errors.get(name, 0) + 1
        if capped:
            break
    wall = (time.perf_counter() - t0) * 1e3
    print(json.dumps({"makespan_ms": wall, "calls": calls, "done": done, "failed": failed,
                      "planned": total, "capped": capped, "errors": errors}))


if __name__ == "__main__":
    main()
