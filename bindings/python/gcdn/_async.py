"""`gcdn.AsyncClient`: the calls of :class:`gcdn.Client` for asyncio.

Each call runs the blocking C call on a thread of the client's own bounded pool (a
:class:`concurrent.futures.ThreadPoolExecutor`), never on the event loop. Cancelling the task
that awaits a call fires that call's own :class:`~gcdn.CancelToken`: the await raises
:class:`asyncio.CancelledError` at once, and the library sends nothing more for the call (a
wait for a rate-limit slot or a backoff ends at once; an HTTP attempt already in flight ends
with its answer or its attempt timeout, on the pool's thread, the task not waiting for it).
A call still waiting for a thread of the pool when it is cancelled never starts.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from ._client import CancelToken, Client
from ._convert import type_name as _type_name
from ._errors import ClientClosedError, InvalidArgumentError
from ._job import Job

TYPE_CHECKING = False  # typing is imported by type checkers only
if TYPE_CHECKING:
    import concurrent.futures
    from typing import Any, Callable, Dict, Iterable, Optional, Tuple, TypeVar

    from ._client import StrPath
    from ._report import Event, Report

    _F = TypeVar("_F", bound=Callable[..., Any])
    _R = TypeVar("_R")

__all__ = ["AsyncClient"]


def _doc_of(original: Callable[..., Any]) -> Callable[[_F], _F]:
    """Gives the decorated method the docstring of ``original``, the :class:`Client` method
    it is the async form of (tests/test_async.py checks that the signatures are the same)."""

    def decorate(fn: _F) -> _F:
        fn.__doc__ = original.__doc__
        return fn

    return decorate


def _outcome_seen(end: asyncio.Future[Any]) -> None:
    """Marks ``end``'s exception as retrieved: asyncio would log it as never retrieved."""
    if not end.cancelled():
        end.exception()


class AsyncClient:
    """A client of the Gcore CDN API for asyncio: :class:`~gcdn.Client`'s methods, each ``async``.

    The constructor takes :class:`~gcdn.Client`'s arguments, and ``max_workers``: the most
    calls of this client that run at once, each on a thread of the client's own pool (default:
    :class:`concurrent.futures.ThreadPoolExecutor`'s, ``min(32, CPUs + 4)``); calls beyond it
    wait for a thread in turn, without taking one. The event loop is never blocked: making the
    client sends nothing, and every call runs on the pool.

    Each method has the signature and the exceptions of its :class:`~gcdn.Client` namesake
    (the :class:`~gcdn.GcdnError` classes, :class:`TypeError` for wrong types). Cancelling the
    task that awaits a call stops the call: the await raises :class:`asyncio.CancelledError`
    at once and nothing more is sent for it (an HTTP attempt already in flight ends on its
    thread with its answer or its timeout). ``cancel=``, a :class:`~gcdn.CancelToken`, still
    works from any thread. A ``progress`` callable of :meth:`run` and :meth:`purge` is called
    on the pool's thread, not on the event loop: use :meth:`asyncio.loop.call_soon_threadsafe`
    to reach the loop from it.

    Use it with ``async with``, or ``await`` :meth:`aclose`.
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
        max_workers: Optional[int] = None,
    ) -> None:
        if max_workers is not None:
            if isinstance(max_workers, bool) or not isinstance(max_workers, int):
                raise TypeError("max_workers must be an int, not {}".format(_type_name(max_workers)))
            if max_workers < 1:
                raise InvalidArgumentError("max_workers must be at least 1")
        self._client = Client(
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_rate_limit_wait=max_rate_limit_wait,
            purge_intervals=purge_intervals,
            ca_file=ca_file,
            user_agent=user_agent,
            rate_store=rate_store,
            rate_store_fail_closed=rate_store_fail_closed,
            coalesce=coalesce,
        )
        # Threads are started as calls need them, up to max_workers, and end when it closes.
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="gcdn-async")
        self._lock = threading.Lock()
        # The calls submitted to the pool and not yet ended, with their own cancel tokens.
        self._calls: Dict[concurrent.futures.Future[Any], CancelToken] = {}
        self._closed = False

    # -- lifetime -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API's base URL this client talks to."""
        return self._client.base_url

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Closes the client. Idempotent; later calls raise :class:`~gcdn.ClientClosedError`.

        Calls still waiting for a thread of the pool raise :class:`~gcdn.ClientClosedError`
        too, having sent nothing. Calls in progress go on to their end (as with
        :meth:`gcdn.Client.close`), and ``aclose`` returns once they have all ended, without
        blocking the event loop; if the task awaiting ``aclose`` is cancelled meanwhile, the
        calls still in progress are cancelled too (:class:`~gcdn.CancelledError`). The pool's
        threads then end.
        """
        self._closed = True
        self._client.close()  # a call that starts from now on raises ClientClosedError
        with self._lock:
            calls = dict(self._calls)
        try:
            if calls:
                ends = [asyncio.wrap_future(f) for f in calls]
                for end in ends:  # their outcomes are their awaiters' business, not logged here
                    end.add_done_callback(_outcome_seen)
                await asyncio.wait(ends)
        except asyncio.CancelledError:
            for token in calls.values():
                token.cancel()
            raise
        finally:
            self._pool.shutdown(wait=False)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return "<gcdn.AsyncClient base_url={!r}{}>".format(self.base_url, " closed" if self._closed else "")

    async def _call(self, fn: Callable[..., _R], cancel: Optional[CancelToken], *args: Any, **kwargs: Any) -> _R:
        """``fn(*args, **kwargs, cancel=<this call's token>)`` on the pool, awaited."""
        if cancel is not None and not isinstance(cancel, CancelToken):
            raise TypeError("cancel must be a gcdn.CancelToken, not {}".format(_type_name(cancel)))
        if self._closed:
            raise ClientClosedError("this gcdn.AsyncClient is closed")
        token = CancelToken()  # this call's own: fired when the awaiting task is cancelled
        if cancel is not None:
            cancel._link(token)
        try:
            with self._lock:
                try:
                    future = self._pool.submit(fn, *args, cancel=token, **kwargs)
                except RuntimeError:  # the pool was shut down (aclose from another thread)
                    raise ClientClosedError("this gcdn.AsyncClient is closed") from None
                self._calls[future] = token
            future.add_done_callback(self._ended)
            try:
                return await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                # A call not yet started was cancelled with the future; one in progress sees
                # its token: it stops before sending anything more, and its thread is freed.
                token.cancel()
                raise
        finally:
            if cancel is not None:
                cancel._unlink(token)

    def _ended(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._calls.pop(future, None)

    # -- the calls, as Client's -----------------------------------------------------------

    @_doc_of(Client.run)
    async def run(
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
        return await self._call(
            self._client.run, cancel, job, dry_run=dry_run, wait=wait, call_timeout=call_timeout, progress=progress,
            exact=exact, verify=verify, verify_limit=verify_limit, edges=edges, prefetch=prefetch,
        )

    @_doc_of(Client.purge)
    async def purge(
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
        return await self._call(
            self._client.purge,
            cancel,
            items,
            resource_id=resource_id,
            dry_run=dry_run,
            wait=wait,
            call_timeout=call_timeout,
            progress=progress,
            exact=exact,
            verify=verify,
            verify_limit=verify_limit,
            edges=edges,
            prefetch=prefetch,
        )

    @_doc_of(Client.purge_urls)
    async def purge_urls(
        self,
        resource_id: int,
        urls: Iterable[str],
        *,
        call_timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        await self._call(self._client.purge_urls, cancel, resource_id, urls, call_timeout=call_timeout)

    @_doc_of(Client.purge_patterns)
    async def purge_patterns(
        self,
        resource_id: int,
        patterns: Iterable[str],
        *,
        call_timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        await self._call(self._client.purge_patterns, cancel, resource_id, patterns, call_timeout=call_timeout)

    @_doc_of(Client.purge_all)
    async def purge_all(
        self, resource_id: int, *, call_timeout: Optional[float] = None, cancel: Optional[CancelToken] = None
    ) -> None:
        await self._call(self._client.purge_all, cancel, resource_id, call_timeout=call_timeout)

    @_doc_of(Client.deactivate_resource)
    async def deactivate_resource(
        self, resource_id: int, *, call_timeout: Optional[float] = None, cancel: Optional[CancelToken] = None
    ) -> None:
        await self._call(self._client.deactivate_resource, cancel, resource_id, call_timeout=call_timeout)

    @_doc_of(Client.delete_resource)
    async def delete_resource(
        self,
        resource_id: int,
        *,
        deactivate_first: bool = False,
        missing_ok: bool = False,
        call_timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        await self._call(
            self._client.delete_resource,
            cancel,
            resource_id,
            deactivate_first=deactivate_first,
            missing_ok=missing_ok,
            call_timeout=call_timeout,
        )
