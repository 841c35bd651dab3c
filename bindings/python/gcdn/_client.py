"""`gcdn.Client`: the Python face of one ``gcdn_client *``."""

import ctypes
import math
import operator
import os
import sys
import threading
from ctypes import c_char_p, c_void_p
from typing import Any, Callable, Iterable, List, Optional, Tuple, Union

from . import _lib
from ._errors import ClientClosedError, InvalidArgumentError
from ._version import __version__

__all__ = ["Client"]

_LIB = _lib.LIB
_INT64_MAX = (1 << 63) - 1
_UINT32_MAX = (1 << 32) - 1
_UINT64_MAX = (1 << 64) - 1
_DEFAULT_BASE_URL = "https://api.gcore.com"

_IMPLEMENTATION = {"cpython": "CPython", "pypy": "PyPy"}.get(
    sys.implementation.name, sys.implementation.name
)
#: What every request's User-Agent carries after the library's own ``gcdn/<version>``.
USER_AGENT = "gcdn-python/{} {}/{}.{}".format(__version__, _IMPLEMENTATION, *sys.version_info[:2])

StrPath = Union[str, "os.PathLike[str]"]


def _type_name(value: object) -> str:
    return type(value).__name__


def _text(value: object, name: str) -> bytes:
    """A ``str`` argument as NUL-terminated UTF-8 (never quoting the value: it may be the key)."""
    if not isinstance(value, str):
        raise TypeError("{} must be a str, not {}".format(name, _type_name(value)))
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError("{} is not valid Unicode text".format(name)) from None
    if b"\0" in data:
        raise InvalidArgumentError("{} contains a NUL character".format(name))
    return data


def _millis(seconds: object, name: str) -> int:
    """Seconds (int or float, >= 0) as whole milliseconds; a positive value is at least 1 ms."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError("{} must be a number of seconds, not {}".format(name, _type_name(seconds)))
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidArgumentError("{} must be a finite number of seconds >= 0".format(name))
    ms = int(round(seconds * 1000))
    if ms > _UINT64_MAX:
        raise InvalidArgumentError("{} is too large".format(name))
    return 1 if ms == 0 and seconds > 0 else ms


def _resource_id(resource_id: object) -> int:
    if isinstance(resource_id, bool):
        raise TypeError("resource_id must be an int, not bool")
    try:
        value = operator.index(resource_id)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError("resource_id must be an int, not {}".format(_type_name(resource_id))) from None
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise InvalidArgumentError("resource_id {} is out of range".format(value))
    return value  # <= 0 is refused by the library, with its own message


def _string_array(items: object, name: str, noun: str) -> Tuple[Any, int]:
    """Any iterable of str as a ``const char *[]`` (each item encoded to UTF-8 once) and its length."""
    if isinstance(items, (str, bytes, bytearray, memoryview)):
        raise TypeError(
            "{} must be an iterable of str, not a bare {}; wrap it in a list".format(
                name, _type_name(items)
            )
        )
    try:
        iterator = iter(items)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError("{} must be an iterable of str, not {}".format(name, _type_name(items))) from None
    encoded: List[bytes] = []
    append = encoded.append
    for i, item in enumerate(iterator):
        if not isinstance(item, str):
            raise TypeError("{} {} must be a str, not {}".format(noun, i, _type_name(item)))
        try:
            data = item.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgumentError("{} {} is not valid Unicode text".format(noun, i)) from None
        if b"\0" in data:
            raise InvalidArgumentError("{} {} contains a NUL character".format(noun, i))
        append(data)
    n = len(encoded)
    if n == 0:
        return None, 0  # the library refuses an empty list with its own message
    return (c_char_p * n)(*encoded), n


class CancelToken:
    """Cancels calls from another thread.

    Pass it to any :class:`Client` method as ``cancel=``, then call :meth:`cancel` from any
    thread: a call waiting out a rate limit or a backoff raises :class:`~gcdn.CancelledError`
    at once; one sending a request stops before its next attempt (an HTTP attempt in flight
    ends with its answer or its timeout first). Calls made with a cancelled token raise
    without sending anything. A token cannot be reset: make a new one.
    """

    def __init__(self) -> None:
        handle = _LIB.gcdn_cancel_new()
        if not handle:
            raise MemoryError("gcdn_cancel_new")
        self._handle: Optional[int] = handle
        self._cancelled = False

    def cancel(self) -> None:
        """Cancels every call made with this token, now and later. Idempotent, thread-safe."""
        self._cancelled = True
        _LIB.gcdn_cancel_fire(self._handle)

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled

    def __repr__(self) -> str:
        return "<gcdn.CancelToken cancelled={}>".format(self._cancelled)

    def __del__(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            # Clients derived from it hold their own reference: freeing it is always safe.
            _LIB.gcdn_cancel_free(handle)


class Client:
    """A client of the Gcore CDN API: purge caches, deactivate and delete CDN resources.

    ``api_key``: the API key; ``None`` reads ``GCORE_API_KEY``. ``base_url``: ``None`` reads
    ``GCORE_BASE_URL``, else ``https://api.gcore.com`` (plain ``http://`` only for loopback).
    ``timeout``: seconds per attempt (default 30). ``max_retries``: retries after a 408, a 5xx,
    a connection failure or a timeout (default 2, at most 100). ``max_rate_limit_wait``: the
    most seconds one request may wait on HTTP 429 and ``Retry-After`` (default 150; 0: never
    wait); a long list paces itself to the rate limit beyond that, so bound a whole call with
    ``call_timeout``. ``purge_intervals``: ``(url_seconds, pattern_seconds)`` waited after a
    429 without ``Retry-After`` (default: the account's own limits, else ``(30, 60)``).
    ``ca_file``: a PEM file of CA certificates to trust instead of the bundled roots. ``user_agent``: a product token such as ``"myapp/2.1"``,
    appended to the User-Agent after ``gcdn/<version> gcdn-python/<version> CPython/<x.y>``.

    No request is sent until a method is called. Bad settings raise
    :class:`~gcdn.InvalidArgumentError` (wrong Python types: :class:`TypeError`).

    One client may be shared by many threads (calls run without the GIL and share a pool of
    keep-alive connections). Use it as a context manager, or call :meth:`close`; a client
    garbage-collected unclosed frees its native handle too.

    Every method returns ``None`` on success and raises a :class:`~gcdn.GcdnError` subclass
    on failure. Each takes optional keywords ``call_timeout``, the most seconds the whole
    call may take, attempts, backoff and rate-limit waits included, and ``cancel``, a
    :class:`~gcdn.CancelToken` that another thread may fire to stop the call.
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        max_rate_limit_wait: Optional[float] = None,
        purge_intervals: Optional[Tuple[float, float]] = None,
        ca_file: Optional[StrPath] = None,
        user_agent: Optional[str] = None,
    ) -> None:
        self._handle: Optional[int] = None
        self._lock = threading.Lock()
        self._calls = 0  # calls in flight: the handle is freed only when none is
        self._closed = False
        key = None if api_key is None else _text(api_key, "api_key")
        base = None if base_url is None else _text(base_url, "base_url")
        self._base_url = base_url or os.environ.get("GCORE_BASE_URL") or _DEFAULT_BASE_URL
        suffix = USER_AGENT if user_agent is None else USER_AGENT + " " + _text(user_agent, "user_agent").decode()
        settings: List[Tuple[Callable[..., int], Tuple[Any, ...]]] = [
            (_LIB.gcdn_options_set_user_agent_suffix, (suffix.encode("utf-8"),))
        ]
        if base is not None:
            settings.append((_LIB.gcdn_options_set_base_url, (base,)))
        if timeout is not None:
            settings.append((_LIB.gcdn_options_set_timeout_ms, (_millis(timeout, "timeout"),)))
        if max_retries is not None:
            if isinstance(max_retries, bool) or not isinstance(max_retries, int):
                raise TypeError("max_retries must be an int, not {}".format(_type_name(max_retries)))
            if not 0 <= max_retries <= _UINT32_MAX:
                raise InvalidArgumentError("max_retries must be between 0 and 100")
            settings.append((_LIB.gcdn_options_set_max_retries, (max_retries,)))
        if max_rate_limit_wait is not None:
            wait_ms = _millis(max_rate_limit_wait, "max_rate_limit_wait")
            settings.append((_LIB.gcdn_options_set_max_rate_limit_wait_ms, (wait_ms,)))
        if purge_intervals is not None:
            try:
                url_s, pattern_s = purge_intervals
            except (TypeError, ValueError):
                raise TypeError("purge_intervals must be a (url_seconds, pattern_seconds) pair") from None
            intervals = (_millis(url_s, "purge_intervals[0]"), _millis(pattern_s, "purge_intervals[1]"))
            settings.append((_LIB.gcdn_options_set_purge_intervals_ms, intervals))
        if ca_file is not None:
            if not isinstance(ca_file, (str, os.PathLike)):
                raise TypeError("ca_file must be a str or os.PathLike, not {}".format(_type_name(ca_file)))
            path = os.fsencode(ca_file)
            if b"\0" in path:
                raise InvalidArgumentError("ca_file contains a NUL character")
            settings.append((_LIB.gcdn_options_set_ca_file, (path,)))

        options = _LIB.gcdn_options_new()
        if not options:
            raise MemoryError("gcdn_options_new")
        try:
            for setter, args in settings:
                _lib.call(setter, options, *args)
            out = c_void_p()
            _lib.call(_LIB.gcdn_client_new, key, options, ctypes.byref(out))
        finally:
            _LIB.gcdn_options_free(options)
        self._handle = out.value

    # -- lifetime -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API's base URL this client talks to."""
        return self._base_url

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Frees the native client. Idempotent; later calls raise :class:`~gcdn.ClientClosedError`.

        Safe while other threads are inside a call on this client: those calls finish, and
        the handle is freed when the last of them returns.
        """
        with self._lock:
            self._closed = True
            if self._calls == 0:
                self._free()

    def _free(self) -> None:
        handle, self._handle = self._handle, None
        if handle:
            _LIB.gcdn_client_free(handle)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Nothing else refers to this object any more, so no call is in flight.
        if getattr(self, "_handle", None):
            self._free()

    def __repr__(self) -> str:
        return "<gcdn.Client base_url={!r}{}>".format(self._base_url, " closed" if self._closed else "")

    def _acquire(self) -> int:
        with self._lock:
            if self._closed or not self._handle:
                raise ClientClosedError("this gcdn.Client is closed")
            self._calls += 1
            return self._handle

    def _release(self) -> None:
        with self._lock:
            self._calls -= 1
            if self._closed and self._calls == 0:
                self._free()

    def _call(
        self,
        fn: Callable[..., int],
        args: Tuple[Any, ...],
        call_timeout: Optional[float],
        cancel: Optional["CancelToken"],
    ) -> None:
        timeout_ms = None if call_timeout is None else _millis(call_timeout, "call_timeout")
        if cancel is not None and not isinstance(cancel, CancelToken):
            raise TypeError("cancel must be a gcdn.CancelToken, not {}".format(type(cancel).__name__))
        handle = self._acquire()
        derived: List[c_void_p] = []
        try:
            target: Any = handle
            if timeout_ms is not None:
                bounded = c_void_p()
                _lib.call(_LIB.gcdn_client_with_call_timeout_ms, target, timeout_ms, ctypes.byref(bounded))
                derived.append(bounded)
                target = bounded
            if cancel is not None:
                cancellable = c_void_p()
                _lib.call(_LIB.gcdn_client_with_cancel, target, cancel._handle, ctypes.byref(cancellable))
                derived.append(cancellable)
                target = cancellable
            _lib.call(fn, target, *args)
        finally:
            for d in derived:
                _LIB.gcdn_client_free(d)
            self._release()

    # -- the API ----------------------------------------------------------------------------

    def purge_urls(
        self,
        resource_id: int,
        urls: Iterable[str],
        *,
        call_timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Purges the cached copies of ``urls`` of CDN resource ``resource_id``.

        Each URL is a path with its query string, e.g. ``"/img/a.jpg?v=2"`` (no scheme or
        host). Any iterable of str; duplicates are sent once, 100 per request, and 429s are
        waited out within ``max_rate_limit_wait``. All are checked before anything is sent.
        """
        rid = _resource_id(resource_id)
        array, n = _string_array(urls, "urls", "URL")
        self._call(_LIB.gcdn_purge_urls, (rid, array, n), call_timeout, cancel)

    def purge_patterns(
        self,
        resource_id: int,
        patterns: Iterable[str],
        *,
        call_timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Purges everything matching any of ``patterns`` (e.g. ``"/images/*"``).

        A pattern starts with ``/`` and may end with ``*``; it is recursive and ignores query
        strings. Sent 10 per request, otherwise as :meth:`purge_urls`.
        """
        rid = _resource_id(resource_id)
        array, n = _string_array(patterns, "patterns", "pattern")
        self._call(_LIB.gcdn_purge_patterns, (rid, array, n), call_timeout, cancel)

    def purge_all(
        self, resource_id: int, *, call_timeout: Optional[float] = None, cancel: Optional[CancelToken] = None
    ) -> None:
        """Purges the whole cache of ``resource_id``; prefer :meth:`purge_urls` where you can."""
        self._call(_LIB.gcdn_purge_all, (_resource_id(resource_id),), call_timeout, cancel)

    def deactivate_resource(
        self, resource_id: int, *, call_timeout: Optional[float] = None, cancel: Optional[CancelToken] = None
    ) -> None:
        """Deactivates ``resource_id`` (``PATCH {"active": false}``): it stops serving content."""
        self._call(_LIB.gcdn_deactivate_resource, (_resource_id(resource_id),), call_timeout, cancel)

    def delete_resource(
        self,
        resource_id: int,
        *,
        deactivate_first: bool = False,
        missing_ok: bool = False,
        call_timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Deletes ``resource_id``, permanently.

        The API refuses to delete an active resource (:class:`~gcdn.RejectedError`):
        ``deactivate_first=True`` deactivates it first. ``missing_ok=True`` counts a resource
        that does not exist as deleted instead of raising :class:`~gcdn.NotFoundError`.
        """
        flags = (_lib.DELETE_DEACTIVATE_FIRST if deactivate_first else 0) | (
            _lib.DELETE_MISSING_OK if missing_ok else 0
        )
        self._call(_LIB.gcdn_delete_resource, (_resource_id(resource_id), flags), call_timeout, cancel)
