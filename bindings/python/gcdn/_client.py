"""`gcdn.Client`: the Python face of one ``gcdn_client *``."""

from __future__ import annotations

import ctypes
import os
import sys
from _thread import allocate_lock  # threading.Lock itself, without importing threading
from ctypes import c_void_p

from . import _lib
from ._convert import flag as _flag
from ._convert import millis as _millis
from ._convert import resource_id as _resource_id
from ._convert import string_array as _string_array
from ._convert import string_list as _string_list
from ._convert import text as _text
from ._convert import type_name as _type_name
from ._convert import uint32 as _uint32
from ._errors import ClientClosedError, InvalidArgumentError
from ._job import Job
from ._version import __version__

TYPE_CHECKING = False  # typing is imported by type checkers only: `import gcdn` stays quick
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, List, Optional, Set, Tuple, Union

    from ._report import Event, Report

    StrPath = Union[str, "os.PathLike[str]"]

__all__ = ["Client", "CancelToken"]

_LIB = _lib.LIB
_UINT32_MAX = (1 << 32) - 1
_DEFAULT_BASE_URL = "https://api.gcore.com"

_IMPLEMENTATION = {"cpython": "CPython", "pypy": "PyPy"}.get(
    sys.implementation.name, sys.implementation.name
)
#: What every request's User-Agent carries after the library's own ``gcdn/<version>``.
USER_AGENT = "gcdn-python/{} {}/{}.{}".format(__version__, _IMPLEMENTATION, *sys.version_info[:2])


def _first_http_status(report: Optional[Report]) -> Optional[int]:
    """The HTTP status of the run's first failed request that had an answer."""
    for r in report.requests if report is not None else ():
        if r.outcome == "failed" and r.http_status is not None:
            return r.http_status
    return None


def _cancel_handle(cancel: object) -> Optional[int]:
    if cancel is None:
        return None
    if not isinstance(cancel, CancelToken):
        raise TypeError("cancel must be a gcdn.CancelToken, not {}".format(_type_name(cancel)))
    return cancel._handle


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
        self._lock = allocate_lock()
        # Tokens fired with this one: an AsyncClient call's own token, while the call runs.
        self._linked: Set[CancelToken] = set()

    def cancel(self) -> None:
        """Cancels every call made with this token, now and later. Idempotent, thread-safe."""
        with self._lock:
            self._cancelled = True
            linked, self._linked = self._linked, set()
        _LIB.gcdn_cancel_fire(self._handle)
        for token in linked:
            token.cancel()

    def _link(self, token: CancelToken) -> None:
        """Fires ``token`` too when this token is fired (at once if it already was)."""
        with self._lock:
            if not self._cancelled:
                self._linked.add(token)
                return
        token.cancel()

    def _unlink(self, token: CancelToken) -> None:
        with self._lock:
            self._linked.discard(token)

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
    wait); a wait for a rate-limit slot longer than that is refused at once with
    :class:`~gcdn.RateLimitedError`, nothing sent. ``purge_intervals``:
    ``(url_seconds, pattern_seconds)``, one purge request per interval per resource (default:
    the account's own limits, else the documented 2 URL purges and 1 pattern purge a minute).
    ``rate_store``: ``redis://[user:password@]host:port/db`` (or ``rediss://``) to share the
    pacing of every client, process and host using the same store and API key (default:
    ``GCDN_RATE_STORE``, else pacing within this process); when the store cannot be used, the
    call paces within the process and a warning is logged once, unless
    ``rate_store_fail_closed=True``, which makes it fail with :class:`~gcdn.NetworkError`.
    ``coalesce``: ``True`` (the default) lets calls of this client (from any thread) that wait
    for a purge slot on the same resource and kind share requests: one request carries the
    waiting items of every such call, up to the per-request limit; a call succeeds only when
    the request that carried its items did, else raises that request's error (its message says
    the request was shared, by how many calls). ``False``: each call's items go in requests of
    their own, as in gcdn 0.2.
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
        rate_store: Optional[str] = None,
        rate_store_fail_closed: bool = False,
        coalesce: bool = True,
    ) -> None:
        self._handle: Optional[int] = None
        self._lock = allocate_lock()
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
        if rate_store is not None:
            settings.append((_LIB.gcdn_options_set_rate_store, (_text(rate_store, "rate_store"),)))
        if not isinstance(rate_store_fail_closed, bool):
            raise TypeError(
                "rate_store_fail_closed must be a bool, not {}".format(_type_name(rate_store_fail_closed))
            )
        if rate_store_fail_closed:
            settings.append((_LIB.gcdn_options_set_rate_store_fail_closed, (1,)))
        if not isinstance(coalesce, bool):
            raise TypeError("coalesce must be a bool, not {}".format(_type_name(coalesce)))
        if not coalesce:
            settings.append((_LIB.gcdn_options_set_coalesce, (0,)))

        # Log records go to logging.getLogger("gcdn"), asked for only as verbose as it is
        # enabled for now (none at all when it is disabled: no cost). Imported here, not with
        # the package: `import gcdn` does not pay for `logging`.
        from . import _log

        log_level = _log.log_setting()
        if log_level is not None:
            settings.append((_LIB.gcdn_options_set_log, (_log.LOG_FN, None, log_level)))
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
        cancel: Optional[CancelToken],
    ) -> None:
        """``fn(client, run, *args, error_out)``, one of the ``gcdn_*_with`` functions, with
        this call's settings in a ``gcdn_run`` (no client is derived per call)."""
        from ._run import Run  # at the first call, not with the package (signal, threading)

        timeout_ms = None if call_timeout is None else _millis(call_timeout, "call_timeout")
        cancel_handle = _cancel_handle(cancel)
        handle = self._acquire()
        try:
            with Run(timeout_ms, cancel_handle) as run:
                status, message = run.invoke(fn, handle, run.handle, *args)
                run.raise_for(status, message)
        finally:
            self._release()

    def run(
        self,
        job: Job,
        *,
        dry_run: bool = False,
        wait: Optional[float] = None,
        call_timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
        progress: Optional[Callable[[Event], Optional[bool]]] = None,
        exact: bool = False,
        verify: bool = False,
        verify_limit: Optional[int] = None,
        edges: Optional[Iterable[str]] = None,
        prefetch: bool = False,
    ) -> Report:
        """Runs ``job``: plans it, sends every request through this client's pacer (several
        resources at once), and returns the :class:`~gcdn.Report` of what was done.

        ``dry_run=True``: plan only (the account's resources may be read, no purge is sent);
        the report's requests are ``"planned"``, with the estimated duration in its totals.
        ``wait``: seconds to wait, after the last request, for the API's purge statuses to
        confirm every purge (``None``: do not confirm); the last poll is at the end of the
        wait and may take up to 2 s more, never past ``call_timeout``. ``call_timeout``
        bounds the whole run, confirmation included; ``cancel`` stops it from another
        thread. ``progress``: called with each :class:`~gcdn.Event` on this thread, one at
        a time; returning ``False`` stops the run (:class:`~gcdn.CancelledError`), and an
        exception it raises stops the run and propagates from here.

        URL items go in their cache-key form: the query parameters the resource's options (or
        the rule matching the path) leave out of the cache key are dropped and the rest sorted,
        each change listed in the report's ``rewritten``; ``exact=True`` sends them as given.
        ``verify=True`` waits for confirmation (``wait``, 300 s unless given), then probes each
        URL purged by URL at the edge (a ``HEAD``, without the API key) and lists it in the
        report's ``verified`` as ``"fresh"``, ``"stale"`` or ``"error"``; a stale URL raises
        :class:`~gcdn.StaleError`. ``verify_limit``: at most this many URLs per resource are
        probed (default 100). ``edges``: probe these addresses (``"https://host[:port]"``, or
        ``"http://"`` to loopback) instead of each URL's own host, which goes in ``Host``; a
        bad one raises :class:`~gcdn.InvalidArgumentError` before anything is sent.
        ``prefetch=True``: after the purges (and their confirmation), send the paths purged by
        URL to the API's prefetch, paced by the client (report's ``prefetched``; a failed
        prefetch does not fail the run).

        Raises, unless every planned request was purged (and confirmed, with ``wait``) and no
        item was left out as ``no_resource``, ``inactive`` or ``url_purge_disabled``: the
        :class:`~gcdn.GcdnError` of the first failure, with the run's report as ``.report``
        (everything that could be sent was sent; ``e.report.remaining()`` is the rest). A
        bug in gcdn that panics in one of the run's threads fails the request it struck with
        :class:`~gcdn.InternalError` and the run still writes its report.
        """
        if not isinstance(job, Job):
            raise TypeError("job must be a gcdn.Job, not {}".format(_type_name(job)))
        if progress is not None and not callable(progress):
            raise TypeError("progress must be callable, not {}".format(_type_name(progress)))
        timeout_ms = None if call_timeout is None else _millis(call_timeout, "call_timeout")
        wait_ms = None if wait is None else _millis(wait, "wait")
        exact, verify, prefetch = _flag(exact, "exact"), _flag(verify, "verify"), _flag(prefetch, "prefetch")
        limit = None if verify_limit is None else _uint32(verify_limit, "verify_limit")
        edge_urls = [] if edges is None else _string_list(edges, "edges", "edge")
        cancel_handle = _cancel_handle(cancel)
        from ._report import Report  # on first use: `import gcdn` does not pay for dataclasses, json
        from ._run import Run

        handle = self._acquire()
        try:
            with Run(
                timeout_ms, cancel_handle, progress, bool(dry_run), wait_ms,
                exact=exact, verify=verify, verify_limit=limit, edges=edge_urls, prefetch=prefetch,
            ) as run:
                out = c_void_p()
                status, message = run.invoke(_LIB.gcdn_job_run, handle, job._handle, run.handle, ctypes.byref(out))
                report = Report._adopt(out.value) if out.value else None
                run.raise_for(status, message, report, _first_http_status(report))
        finally:
            self._release()
        assert report is not None, "gcdn_job_run succeeded without a report"
        return report

    def purge(
        self,
        items: Iterable[str],
        *,
        resource_id: Optional[int] = None,
        dry_run: bool = False,
        wait: Optional[float] = None,
        call_timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
        progress: Optional[Callable[[Event], Optional[bool]]] = None,
        exact: bool = False,
        verify: bool = False,
        verify_limit: Optional[int] = None,
        edges: Optional[Iterable[str]] = None,
        prefetch: bool = False,
    ) -> Report:
        """Purges ``items`` as one :class:`~gcdn.Job` and returns its report (see :meth:`run`).

        Without ``resource_id``, items are full URLs (``"https://cdn.example.com/a.png"``),
        each purged on the resource its host belongs to; with it, paths of that resource
        (``"/a.png?v=2"``).
        """
        job = Job()
        if resource_id is None:
            job.add_full_urls(items)
        else:
            job.add_urls(resource_id, items)
        return self.run(
            job, dry_run=dry_run, wait=wait, call_timeout=call_timeout, cancel=cancel, progress=progress,
            exact=exact, verify=verify, verify_limit=verify_limit, edges=edges, prefetch=prefetch,
        )

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
        self._call(_LIB.gcdn_purge_urls_with, (rid, array, n), call_timeout, cancel)

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
        self._call(_LIB.gcdn_purge_patterns_with, (rid, array, n), call_timeout, cancel)

    def purge_all(
        self, resource_id: int, *, call_timeout: Optional[float] = None, cancel: Optional[CancelToken] = None
    ) -> None:
        """Purges the whole cache of ``resource_id``; prefer :meth:`purge_urls` where you can."""
        self._call(_LIB.gcdn_purge_all_with, (_resource_id(resource_id),), call_timeout, cancel)

    def deactivate_resource(
        self, resource_id: int, *, call_timeout: Optional[float] = None, cancel: Optional[CancelToken] = None
    ) -> None:
        """Deactivates ``resource_id`` (``PATCH {"active": false}``): it stops serving content."""
        self._call(_LIB.gcdn_deactivate_resource_with, (_resource_id(resource_id),), call_timeout, cancel)

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
        self._call(_LIB.gcdn_delete_resource_with, (_resource_id(resource_id), flags), call_timeout, cancel)
