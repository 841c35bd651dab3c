"""The library's log records reach logging.getLogger("gcdn"), at the matching levels."""

import logging

import pytest

import gcdn
from gcdn import _lib, _log
from conftest import FAST, GHOST_ID


@pytest.fixture(autouse=True)
def no_gcdn_log_env(monkeypatch):
    monkeypatch.delenv("GCDN_LOG", raising=False)


def gcdn_records(caplog):
    return [r for r in caplog.records if r.name == "gcdn"]


def test_requests_are_debug_records_with_fields(emulator, caplog):
    emulator.add_resource(5)
    caplog.set_level(logging.DEBUG, logger="gcdn")
    with gcdn.Client(emulator.api_key, base_url=emulator.url, max_retries=0) as c:
        c.purge_urls(5, ["/a.png"])
        with pytest.raises(gcdn.NotFoundError):
            c.purge_all(GHOST_ID)
    requests = [r for r in gcdn_records(caplog) if r.gcdn_event == "request"]
    got = [(r.levelno, r.method, r.path, r.status, r.attempt) for r in requests]
    assert (logging.DEBUG, "POST", "/cdn/resources/5/purge", 201, 1) in got, got
    assert (logging.DEBUG, "POST", "/cdn/resources/{}/purge".format(GHOST_ID), 404, 1) in got, got
    assert all(isinstance(r.elapsed_ms, int) for r in requests)
    assert any("/cdn/resources/5/purge" in r.getMessage() for r in requests)


def test_levels_match(emulator, caplog):
    """A 429 is a WARNING, the wait after it INFO, each attempt DEBUG, pacer decisions TRACE."""
    emulator.add_resource(5)
    emulator.config(url_requests=1, url_window_ms=300)
    caplog.set_level(gcdn.TRACE, logger="gcdn")
    with gcdn.Client(emulator.api_key, base_url=emulator.url, purge_intervals=FAST,
                     max_rate_limit_wait=10) as c:
        c.purge_urls(5, ["/a"])
        c.purge_urls(5, ["/b"])  # the emulator answers 429, the client waits, then 201
    by_event = {}
    for r in gcdn_records(caplog):
        by_event.setdefault(r.gcdn_event, set()).add(r.levelno)
    assert by_event["rate_limited"] == {logging.WARNING}
    assert by_event["wait"] == {logging.INFO}
    assert by_event["request"] == {logging.DEBUG}
    assert by_event["pacer"] == {gcdn.TRACE}
    assert logging.getLevelName(gcdn.TRACE) == "TRACE"
    waits = [r for r in gcdn_records(caplog) if r.gcdn_event == "wait"]
    w = waits[0]
    assert (w.resource_id, w.kind) == (5, "urls") and isinstance(w.wait_ms, int)
    assert w.reason in ("pacer", "429", "retry-after", "backoff")
    assert w.method is None and w.status is None


def test_only_what_the_logger_is_enabled_for(emulator, caplog):
    emulator.add_resource(5)
    caplog.set_level(logging.INFO, logger="gcdn")
    assert _log.log_setting() == _lib_level("INFO")
    with gcdn.Client(emulator.api_key, base_url=emulator.url) as c:
        c.purge_urls(5, ["/a"])
    assert [r for r in gcdn_records(caplog) if r.levelno < logging.INFO] == []


def _lib_level(name):
    return getattr(_lib, "LOG_" + name)


def test_disabled_logger_installs_nothing(emulator, caplog, monkeypatch):
    """No cost when disabled: no log function is given to the library at all."""
    emulator.add_resource(5)
    caplog.set_level(logging.CRITICAL + 1, logger="gcdn")
    assert _log.log_setting() is None
    seen = []
    real_set = _lib.LIB.gcdn_options_set_log
    monkeypatch.setattr(_lib.LIB, "gcdn_options_set_log", lambda *a: seen.append(a) or real_set(*a))
    with gcdn.Client(emulator.api_key, base_url=emulator.url) as c:
        c.purge_urls(5, ["/a"])
    assert seen == [] and gcdn_records(caplog) == []
    # Enabled again, the next client asks for records.
    caplog.set_level(logging.DEBUG, logger="gcdn")
    with gcdn.Client(emulator.api_key, base_url=emulator.url) as c:
        pass
    assert len(seen) == 1 and seen[0][3] == _lib.LOG_DEBUG


def test_gcdn_log_env_keeps_the_stderr_log(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG, logger="gcdn")
    monkeypatch.setenv("GCDN_LOG", "debug")
    assert _log.log_setting() is None
    monkeypatch.setenv("GCDN_LOG", "off")
    assert _log.log_setting() == _lib_level("DEBUG")


def test_the_key_is_in_no_record(emulator, caplog):
    emulator.add_resource(5)
    caplog.set_level(gcdn.TRACE, logger="gcdn")
    key = emulator.api_key
    emulator.fault({"respond": {"status": 400, "body": '{"errors": ["bad key ' + key + '"]}'}},
                   path_prefix="/cdn/resources/5/purge")
    with gcdn.Client(key, base_url=emulator.url, max_retries=1, purge_intervals=FAST) as c:
        with pytest.raises(gcdn.RejectedError):
            c.purge_urls(5, ["/" + key])
        emulator.fault({"respond": {"status": 503, "body": key}}, path_prefix="/cdn/resources/5/purge")
        c.purge_all(5)
    records = gcdn_records(caplog)
    assert records
    for r in records:
        text = r.getMessage() + repr(r.__dict__)
        assert key not in text, text


def test_a_failing_handler_never_reaches_the_library(emulator, caplog):
    emulator.add_resource(5)

    class Exploding(logging.Handler):
        def emit(self, record):
            raise RuntimeError("handler bug")

        def handleError(self, record):
            raise RuntimeError("and handleError too")

    logger = logging.getLogger("gcdn")
    handler = Exploding()
    logger.addHandler(handler)
    caplog.set_level(logging.DEBUG, logger="gcdn")
    try:
        with gcdn.Client(emulator.api_key, base_url=emulator.url) as c:
            c.purge_urls(5, ["/a"])  # records are made; the handler's errors stay in Python
    finally:
        logger.removeHandler(handler)
    assert [r for r in emulator.purges() if r["status"] == 201]
