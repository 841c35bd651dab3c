"""Every exception class, produced for real; bad input refused before anything is sent."""

import builtins
import ctypes
import pickle
import socket

import pytest

import gcdn
from gcdn import _errors, _lib
from conftest import GHOST_ID


def raised(fn, *args, **kwargs):
    with pytest.raises(gcdn.GcdnError) as info:
        fn(*args, **kwargs)
    return info.value


def test_hierarchy():
    for cls in (gcdn.InvalidArgumentError, gcdn.UnauthorizedError, gcdn.NotFoundError,
                gcdn.RateLimitedError, gcdn.RejectedError, gcdn.ServerError, gcdn.NetworkError,
                gcdn.TimeoutError, gcdn.ProtocolError, gcdn.InternalError, gcdn.ClientClosedError):
        assert issubclass(cls, gcdn.GcdnError)
    assert issubclass(gcdn.InvalidArgumentError, ValueError)
    assert issubclass(gcdn.ClientClosedError, gcdn.InvalidArgumentError)
    assert issubclass(gcdn.TimeoutError, builtins.TimeoutError)
    assert gcdn.TimeoutError is not builtins.TimeoutError


def test_unknown_status_is_plain_gcdn_error():
    e = _errors.error_for(99, "something new")
    assert type(e) is gcdn.GcdnError and e.status == 99 and str(e) == "something new"


def test_keyword_constructors():
    e = gcdn.NotFoundError(message="gone", http_status=404)
    assert (e.message, e.status, e.http_status, e.report) == ("gone", 3, 404, None)
    assert str(e) == "gone" and "http_status=404" in repr(e)
    e = gcdn.GcdnError(message="m", status=99, http_status=None)
    assert (e.status, e.http_status) == (99, None)
    assert gcdn.ServerError("positional", 6, 503).http_status == 503
    assert gcdn.TimeoutError().message == "" and gcdn.TimeoutError().status == 8
    back = pickle.loads(pickle.dumps(gcdn.RejectedError(message="no", http_status=400)))
    assert (type(back), back.message, back.status, back.http_status) == (gcdn.RejectedError, "no", 5, 400)


def test_http_status_of_failures(emulator, client):
    emulator.add_resource(5)
    assert raised(client.purge_all, GHOST_ID).http_status == 404
    emulator.fault({"respond": {"status": 503, "body": "busy"}}, path_prefix="/cdn/resources/5/purge")
    e = raised(client.purge_all, 5)
    assert type(e) is gcdn.ServerError and e.http_status == 503
    emulator.fault({"respond": {"status": 400, "body": '{"errors": ["bad"]}'}}, path_prefix="/cdn/resources/5")
    assert raised(client.purge_urls, 5, ["/a"]).http_status == 400
    # No HTTP answer: refused input, a dropped connection.
    assert raised(client.purge_urls, 5, ["no-slash"]).http_status is None
    emulator.fault({"drop": True})
    assert raised(client.purge_all, 5).http_status is None
    # Success leaves nothing behind: the next failure has its own status.
    client.purge_all(5)


def test_pickle_round_trip():
    e = gcdn.NotFoundError("gone", 3)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is gcdn.NotFoundError and (back.status, back.message) == (3, "gone")


def test_unauthorized(emulator):
    emulator.add_resource(5)
    with gcdn.Client("wrong-key", base_url=emulator.url, max_retries=0) as c:
        e = raised(c.purge_all, 5)
    assert type(e) is gcdn.UnauthorizedError and e.status == 2
    assert emulator.requests()[0]["status"] == 401


def test_not_found(client):
    e = raised(client.purge_urls, 12345, ["/a"])
    assert type(e) is gcdn.NotFoundError and e.status == 3
    assert type(raised(client.deactivate_resource, 12345)) is gcdn.NotFoundError


@pytest.mark.parametrize(
    "refusal, words",
    [
        (None, "in an active state"),
        ("primary", "primary for common cache"),
        ("streaming", "integrated with the streaming"),
        ("custom", "custom configuration"),
    ],
)
def test_rejected_quotes_the_api(emulator, client, refusal, words):
    emulator.add_resource(9, active=refusal is None, refusal=refusal)
    e = raised(client.delete_resource, 9)
    assert type(e) is gcdn.RejectedError and e.status == 5
    assert words in e.message
    assert emulator.resource(9) is not None


def test_rate_limited(emulator, client):
    emulator.add_resource(5)
    emulator.config(url_requests=1, url_window_ms=60000)
    client.purge_urls(5, ["/a"])
    # Another client of the account (its pacer knows nothing of the first purge) meets the 429.
    with gcdn.Client(emulator.api_key, base_url=emulator.url, max_rate_limit_wait=0) as other:
        e = raised(other.purge_urls, 5, ["/b"])  # max_rate_limit_wait=0: no wait
    assert type(e) is gcdn.RateLimitedError and e.status == 4 and e.http_status == 429
    assert [r["status"] for r in emulator.purges()] == [201, 429]
    # A client pacing by the account's limits knows the window is full: it refuses at once,
    # sending nothing, and no HTTP answer is behind the error.
    emulator.add_resource(6)
    with gcdn.Client(emulator.api_key, base_url=emulator.url, max_rate_limit_wait=0) as paced:
        paced.purge_urls(6, ["/first"])
        e = raised(paced.purge_urls, 6, ["/second"])
    assert type(e) is gcdn.RateLimitedError and e.http_status is None, e
    assert [r["status"] for r in emulator.purges()] == [201, 429, 201]


def test_server_error(emulator, client):
    emulator.add_resource(5)
    emulator.fault({"respond": {"status": 503, "body": '{"errors": ["maintenance"]}'}},
                   method="POST", path_prefix="/cdn/resources/5/purge")
    e = raised(client.purge_all, 5)  # max_retries=0
    assert type(e) is gcdn.ServerError and e.status == 6
    assert [r["status"] for r in emulator.requests()] == [503]


def test_network_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens there any more.
    with gcdn.Client("k", base_url="http://127.0.0.1:{}".format(port), max_retries=0) as c:
        e = raised(c.purge_all, 5)
    assert type(e) is gcdn.NetworkError and e.status == 7


def test_dropped_connection_is_network_error(emulator, client):
    emulator.add_resource(5)
    emulator.fault({"drop": True})
    assert type(raised(client.purge_all, 5)) is gcdn.NetworkError


def test_timeout(emulator):
    emulator.add_resource(5)
    emulator.fault({"delay_ms": 1500}, path_prefix="/cdn/resources")
    with gcdn.Client(emulator.api_key, base_url=emulator.url, timeout=0.2, max_retries=0) as c:
        e = raised(c.purge_all, GHOST_ID)
    assert type(e) is gcdn.TimeoutError and e.status == 8
    assert isinstance(e, builtins.TimeoutError)


def test_protocol_error(emulator, client):
    emulator.add_resource(5)
    emulator.fault({"respond": {"status": 302, "headers": {"Location": "https://elsewhere.example/"}}})
    e = raised(client.purge_all, 5)
    assert type(e) is gcdn.ProtocolError and e.status == 9


def test_internal_error_from_the_library():
    e = raised(_lib.call, _lib.LIB.gcdn_debug_panic)
    assert type(e) is gcdn.InternalError and e.status == 10 and e.message


def test_status_str():
    assert _lib.status_str(3) == "not found"
    assert _lib.status_str(12345) == "unknown status"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.purge_urls(5, []),
        lambda c: c.purge_urls(5, ["https://example.com/a"]),
        lambda c: c.purge_urls(5, ["no-slash"]),
        lambda c: c.purge_urls(5, ["/ok", "/a\nb"]),
        lambda c: c.purge_urls(5, ["/ok", "/nul\x00byte"]),
        lambda c: c.purge_urls(5, ["/surrogate\udc80"]),
        lambda c: c.purge_urls(0, ["/a"]),
        lambda c: c.purge_urls(-5, ["/a"]),
        lambda c: c.purge_urls(1 << 63, ["/a"]),
        lambda c: c.purge_patterns(5, []),
        lambda c: c.purge_patterns(5, ["/a*b"]),
        lambda c: c.purge_all(0),
        lambda c: c.deactivate_resource(-1),
        lambda c: c.delete_resource(0, deactivate_first=True),
    ],
)
def test_invalid_argument_sends_nothing(emulator, client, call):
    emulator.add_resource(5)
    e = raised(call, client)
    assert type(e) is gcdn.InvalidArgumentError and e.status == 1 and e.message
    assert isinstance(e, ValueError)
    assert emulator.requests() == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.purge_urls(5, "/a"),
        lambda c: c.purge_urls(5, b"/a"),
        lambda c: c.purge_urls(5, bytearray(b"/a")),
        lambda c: c.purge_urls(5, None),
        lambda c: c.purge_urls(5, 5),
        lambda c: c.purge_urls(5, ["/a", b"/b"]),
        lambda c: c.purge_urls(5, ["/a", None]),
        lambda c: c.purge_urls(5, iter(["/a", 3])),
        lambda c: c.purge_patterns(5, "/p/*"),
        lambda c: c.purge_patterns(5, [["/p/*"]]),
        lambda c: c.purge_urls("5", ["/a"]),
        lambda c: c.purge_urls(5.0, ["/a"]),
        lambda c: c.purge_urls(True, ["/a"]),
        lambda c: c.purge_all(None),
        lambda c: c.purge_all(False),
        lambda c: c.deactivate_resource("5"),
        lambda c: c.delete_resource(5.5),
    ],
)
def test_wrong_types_send_nothing(emulator, client, call):
    emulator.add_resource(5)
    with pytest.raises(TypeError):
        call(client)
    assert emulator.requests() == []


def test_int_like_resource_id(emulator, client):
    class Id:
        def __index__(self):
            return 5

    emulator.add_resource(5)
    client.purge_all(Id())
    assert emulator.purges()[0]["path"] == "/cdn/resources/5/purge"


def test_key_never_shown(emulator):
    """The key appears in no message, str() or repr(), whatever fails."""
    key = "Sup3r-Secret-Key-31337"
    emulator.add_resource(5)
    seen = []
    c = gcdn.Client(key, base_url=emulator.url, max_retries=0, max_rate_limit_wait=0, timeout=0.3)
    seen.append(repr(c))
    emulator.fault({"respond": {"status": 503, "body": key}})  # even if the server echoes it
    emulator.fault({"respond": {"status": 400, "body": '{"errors": ["bad key ' + key + '"]}'}})
    emulator.fault({"delay_ms": 1000}, path_prefix="/cdn/resources/{}/".format(GHOST_ID))
    emulator.fault({"respond": {"status": 302, "headers": {"Location": "/" + key}}})
    calls = [
        lambda: c.purge_all(5),  # 503
        lambda: c.purge_all(5),  # 400
        lambda: c.purge_all(GHOST_ID),  # timeout
        lambda: c.purge_all(5),  # redirect
        lambda: c.purge_all(5),  # 401: wrong key for this emulator
        lambda: c.purge_urls(5, ["/" + key, "bad"]),
        lambda: gcdn.Client(key + "\n"),
        lambda: gcdn.Client(key + "\x00"),
        lambda: gcdn.Client(key + "\u00e9"),
        lambda: c.purge_all(key),
    ]
    for call in calls:
        try:
            call()
        except Exception as e:  # noqa: BLE001 (scan everything)
            seen.extend([str(e), repr(e), repr(e.args)])
        else:
            pytest.fail("expected a failure")
    c.close()
    seen.append(repr(c))
    assert len(seen) > 20
    for text in seen:
        assert key not in text, text


def test_key_never_shown_encoded(emulator):
    """Nor percent-encoded or JSON-escaped, nor in a base URL or an item that holds it."""
    import json
    import re
    from urllib.parse import quote, unquote

    key = "Sup3r$Secret/Key+31337"
    encoded = quote(key, safe="")
    escaped = "".join(ch if ch.isalnum() else "\\u{:04x}".format(ord(ch)) for ch in key)
    emulator.add_resource(5)
    seen = []
    for url in ["https://apikey:{}@127.0.0.1:9".format(key), "https://{}@127.0.0.1:9".format(key),
                "https://127.0.0.1:9/" + encoded, "https://127.0.0.1:9/?apikey=" + key,
                "https://127.0.0.1:9/#" + key, "https://127.0.0.1:9/" + re.sub("%..", lambda m: m[0].lower(), encoded),
                "https://apikey:{}@127.0.0.1:9/".format(key.replace("$", "%24"))]:
        with pytest.raises(gcdn.InvalidArgumentError) as info:
            gcdn.Client(key, base_url=url)
        seen.append(str(info.value))
    c = gcdn.Client(key, base_url=emulator.url, max_retries=0, max_rate_limit_wait=0, timeout=2)
    emulator.fault({"respond": {"status": 302,
                                "headers": {"Location": "https://elsewhere.example/?k=" + encoded}}})
    emulator.fault({"respond": {"status": 400, "body": '{"token": "' + escaped + '"}'}})
    calls = [
        lambda: c.purge_all(5),  # redirect, the key percent-encoded
        lambda: c.purge_all(5),  # 400, the key JSON-escaped
        lambda: c.purge_urls(5, ["https://cdn.example.com/a?apikey=" + key]),
        lambda: c.purge_urls(5, ["/a?token={}\t".format(encoded)]),
        lambda: c.purge_patterns(5, ["/x/{}*/y".format(key)]),
    ]
    for call in calls:
        with pytest.raises(gcdn.GcdnError) as info:
            call()
        seen.extend([str(info.value), repr(info.value)])
    c.close()
    assert len(seen) == 17
    for text in seen:
        decoded = unquote(text)
        try:
            decoded = json.loads('"' + decoded.replace('"', '\\"') + '"')
        except ValueError:
            pass
        assert key not in text and key not in decoded and encoded not in text, text
        assert "Secret" not in text, text


def test_error_out_strings_are_freed_not_leaked(emulator, monkeypatch):
    """Every message the library writes to error_out is freed, exactly once: each fallible
    function and gcdn_string_free are wrapped on the ctypes layer and the pointers compared."""
    # error_out is read as void * (c_char_p would copy the text and lose the pointer to free).
    error_out = ctypes.POINTER(ctypes.c_void_p)
    assert _lib.LIB.gcdn_purge_all.argtypes[-1] is error_out
    assert _lib.LIB.gcdn_string_free.argtypes == [ctypes.c_void_p]

    produced, freed = [], []
    real_free = _lib.LIB.gcdn_string_free

    def counting_free(ptr):
        freed.append(ptr)
        real_free(ptr)

    def recording(fn):
        def wrapper(*args):
            status = fn(*args)
            written = args[-1]._obj.value  # the c_void_p behind ctypes.byref(err)
            if written:
                produced.append(written)
            return status
        return wrapper

    fallible = [name for name, _, argtypes in _lib._PROTOTYPES if argtypes and argtypes[-1] is error_out]
    assert "gcdn_purge_urls_with" in fallible and "gcdn_client_new" in fallible
    for name in fallible:
        monkeypatch.setattr(_lib.LIB, name, recording(getattr(_lib.LIB, name)))
    monkeypatch.setattr(_lib.LIB, "gcdn_string_free", counting_free)

    emulator.add_resource(5)
    emulator.unlimited()
    failures = 0
    with pytest.raises(gcdn.InvalidArgumentError):  # the options refuse it: message 1
        gcdn.Client(emulator.api_key, base_url="http://example.com")
    failures += 1
    with gcdn.Client(emulator.api_key, base_url=emulator.url) as c:
        c.purge_urls(5, ["/fine"])  # a success: no message
        for _ in range(50):
            with pytest.raises(gcdn.InvalidArgumentError):  # refused in the core
                c.purge_urls(5, ["no-slash"])
            failures += 1
        for _ in range(10):
            with pytest.raises(gcdn.NotFoundError):  # the API's 404 (not paced as purges are)
                c.deactivate_resource(404)
            failures += 1
    job = gcdn.Job()
    for _ in range(20):
        with pytest.raises(gcdn.InvalidArgumentError):  # the job refuses it
            job.add_urls(5, ["no-slash"])
        failures += 1
    del job
    monkeypatch.undo()

    assert len(produced) == failures, (len(produced), failures)
    assert sorted(p for p in freed if p) == sorted(produced)


def test_cancelled_during_a_rate_limit_wait(emulator):
    import threading
    import time

    emulator.add_resource(5)
    emulator.config(all_requests=1, all_window_ms=60000, pattern_requests=1, pattern_window_ms=60000)
    # Default waits: the second purge-all would wait 60 s for the window.
    with gcdn.Client(emulator.api_key, base_url=emulator.url, timeout=5) as client:
        client.purge_all(5)
        token = gcdn.CancelToken()
        threading.Timer(0.2, token.cancel).start()
        started = time.monotonic()
        e = raised(client.purge_all, 5, cancel=token)
        assert time.monotonic() - started < 2
        assert type(e) is gcdn.CancelledError and e.status == 11
        # The client's pacer knows the window is full: it waits for the slot, no 429 needed.
        assert "cancelled" in e.message and token.cancelled and e.http_status is None
        assert [r["status"] for r in emulator.purges()] == [201]
        # A cancelled token stops later calls before anything is sent.
        before = len(emulator.requests())
        assert type(raised(client.purge_urls, 5, ["/x"], cancel=token)) is gcdn.CancelledError
        assert len(emulator.requests()) == before
        # The client itself is unaffected, and a token of the wrong type is a TypeError.
        client.purge_urls(5, ["/y"])
        with pytest.raises(TypeError):
            client.purge_urls(5, ["/z"], cancel="soon")


def test_a_huge_retry_after_is_rate_limited_not_a_panic(emulator):
    """`Retry-After: 18446744073709551615` on a 429 made the library panic (InternalError):
    a call, and a run whose request goes on a worker thread, raise RateLimitedError at once."""
    import time

    emulator.add_resource(5)
    emulator.add_resource(6)
    huge = {"respond": {"status": 429, "headers": {"Retry-After": "18446744073709551615"}}}
    with gcdn.Client(emulator.api_key, base_url=emulator.url, max_retries=0,
                     max_rate_limit_wait=5, timeout=10) as c:
        started = time.monotonic()
        emulator.fault(huge, path_prefix="/cdn/resources/5/purge")
        e = raised(c.purge_urls, 5, ["/a"])
        assert type(e) is gcdn.RateLimitedError and e.http_status == 429, e
        assert "past the rate-limit wait budget" in e.message
        emulator.fault(huge, path_prefix="/cdn/resources/6/purge")
        e = raised(c.run, gcdn.Job().add_urls(6, ["/b"]), wait=1)
        assert type(e) is gcdn.RateLimitedError, e
        assert e.report is not None and e.report.requests[0].status == e.status
        assert time.monotonic() - started < 5
