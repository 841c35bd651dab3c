"""The README's examples run as written, against the emulator."""

import os
import re
import subprocess
import sys

from conftest import PYTHON_DIR

README = os.path.join(PYTHON_DIR, "README.md")


def section_code(title):
    with open(README) as f:
        text = f.read()
    section = text.split("## " + title + "\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def run(code, emulator):
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, GCORE_API_KEY=emulator.api_key,
               GCORE_BASE_URL=emulator.url)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


def test_purge_a_deploys_changed_urls(emulator):
    emulator.add_resource(5, cname="www.example.com")
    emulator.add_resource(6, cname="static.example.com")
    emulator.config(purge_status_delay_ms=100)
    done = run(section_code("Purge a deploy's changed URLs"), emulator)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 URLs purged" in done.stdout, done.stdout
    assert "answered" in done.stdout
    purges = sorted(r["path"] for r in emulator.purges())
    assert purges == ["/cdn/resources/5/purge", "/cdn/resources/6/purge"]
    assert any(r["path"].startswith("/cdn/purge_statuses") for r in emulator.requests())


def test_the_deploy_example_reports_what_was_left_out(emulator):
    emulator.add_resource(5, cname="www.example.com")  # static.example.com matches nothing
    done = run(section_code("Purge a deploy's changed URLs"), emulator)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not all purged: NotFoundError" in done.stdout, done.stdout
    assert "left out: https://static.example.com/index.html no_resource" in done.stdout
    assert "3 URLs purged" in done.stdout


def test_the_asyncio_example(emulator):
    emulator.add_resource(5)
    emulator.add_resource(6)
    done = run(section_code("asyncio"), emulator)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["NotFoundError 404", "gave up waiting for the rate limit"], done.stdout
    sent = [(r["path"], r["body"], r["status"]) for r in emulator.purges()]
    assert sorted(sent[:2]) == [
        ("/cdn/resources/5/purge", '{"urls":["/index.html","/about.html"]}', 201),
        ("/cdn/resources/6/purge", '{"paths":["/static/*"]}', 201),
    ], sent
    # The cancelled purge of /late.html was never sent.
    assert sent[2:] == [("/cdn/resources/404/purge", '{"paths":[]}', 404),
                        ("/cdn/resources/5/purge", '{"urls":["/news.html"]}', 201)], sent


def test_the_status_table_names_the_exception_each_status_raises():
    """The top README's status table gives, for each code, the exception gcdn raises for it."""
    import gcdn
    from gcdn import _errors

    with open(os.path.join(PYTHON_DIR, "..", "..", "README.md")) as f:
        rows = re.findall(r"^\| `GCDN_ERR_\w+` \| (\d+) \| `(\w+)`", f.read(), re.M)
    assert len(rows) == len(_errors._BY_STATUS), rows
    for value, name in rows:
        raised = _errors.error_for(int(value), "m")
        assert type(raised).__name__ == name, (value, name, type(raised))
        assert getattr(gcdn, name) is type(raised)
