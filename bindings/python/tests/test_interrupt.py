"""Ctrl-C: a real SIGINT sent to a Python process waiting out a rate limit in a gcdn call."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import PYTHON_DIR

# The child: the first purge takes the window's one slot, the second (a single call, or a
# job's second request) must wait ~30 s for the next. It prints "WAITING" as it starts that
# call, then, on KeyboardInterrupt, the monotonic time it got it, then proves the client works.
# It sets Python's own SIGINT handler first: a process started in the background by a
# non-interactive shell (`make test &`, nohup, many CI runners) inherits SIGINT ignored, and
# Python then installs none (the library rightly leaves an ignored SIGINT ignored).
CHILD = r"""
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import gcdn

url, key, how = sys.argv[1], sys.argv[2], sys.argv[3]
with gcdn.Client(key, base_url=url, max_rate_limit_wait=120, timeout=5) as c:
    c.purge_urls(5, ["/first"])
    print("WAITING", flush=True)
    try:
        if how == "call":
            c.purge_urls(5, ["/second"])
        else:
            c.run(gcdn.Job().add_urls(5, ["/second"]))
    except KeyboardInterrupt:
        print("INTERRUPTED", time.monotonic(), flush=True)
    else:
        print("NOT INTERRUPTED", flush=True)
    c.purge_urls(6, ["/after"])  # the client is still usable
    print("AFTER OK", flush=True)
"""


@pytest.mark.parametrize("how", ["call", "run"])
def test_sigint_during_a_rate_limit_wait(emulator, how):
    emulator.add_resource(5)
    emulator.add_resource(6)
    emulator.config(url_requests=1, url_window_ms=30000)
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, emulator.url, emulator.api_key, how],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "WAITING", line + child.stderr.read()
        time.sleep(1.0)  # well into the ~30 s wait
        sent_at = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    lines = out.splitlines()
    assert lines and lines[0].startswith("INTERRUPTED"), out + err
    caught = float(lines[0].split()[1])
    assert caught - sent_at < 0.5, "KeyboardInterrupt {:.3f} s after SIGINT".format(caught - sent_at)
    assert lines[1:] == ["AFTER OK"], out + err
    assert child.returncode == 0, err
    purges = [(r["path"], json.loads(r["body"]), r["status"]) for r in emulator.purges()]
    # Nothing more was sent for the interrupted call: the first purge, then the one after.
    assert purges == [
        ("/cdn/resources/5/purge", {"urls": ["/first"]}, 201),
        ("/cdn/resources/6/purge", {"urls": ["/after"]}, 201),
    ], purges
