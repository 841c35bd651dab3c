"""One call's ``gcdn_run``: its timeout, cancel token and progress callback, Ctrl-C, and the
outcome the binding reads back (the exception to raise, the HTTP status).

Ctrl-C: Python runs signal handlers only in the main thread, between bytecodes, so a call
blocked in the C library would not see one until it returned. A call made from the main
thread therefore installs the run's progress callback: while the library waits (a pacer
slot, a 429's window, a backoff; a run's events) it calls back at least every 50 ms on this
thread, and Python runs its pending signal handlers as the callback starts. For the call's
duration, the SIGINT handler in place (``signal.default_int_handler`` unless the program set
its own) is wrapped so that what it raises (``KeyboardInterrupt``) is kept instead of being
raised inside the callback, where ctypes would print and drop it; the callback then returns
"stop", the library returns ``GCDN_ERR_CANCELLED`` without sending anything more, the
handler is put back and the kept exception is raised. An HTTP attempt already in flight
cannot be cut: it ends with its answer or its attempt timeout (``timeout=``) first.
"""

from __future__ import annotations

import ctypes
import itertools
import signal
import threading
from ctypes import c_void_p

from . import _lib
from ._errors import GcdnError, error_for

TYPE_CHECKING = False  # typing is imported by type checkers only: `import gcdn` stays quick
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Sequence, Tuple

    from ._report import Event

__all__ = ["Run", "PROGRESS_FN"]

_LIB = _lib.LIB


def _no_check() -> None:
    pass


_check_signals: Callable[[], Any] = _no_check
try:  # CPython: run pending signal handlers now (raises what a handler raises)
    _pyerr_check_signals = ctypes.pythonapi.PyErr_CheckSignals
    _pyerr_check_signals.argtypes = []
    _pyerr_check_signals.restype = ctypes.c_int
    _check_signals = _pyerr_check_signals
except (AttributeError, ValueError):  # pragma: no cover - PyPy and others: the next bytecode does
    pass


# Runs in flight, by the key their callback gets as user_data.
_RUNS: Dict[int, "Run"] = {}
_KEYS = itertools.count(1)


def _on_progress(event_p: Any, user_data: Optional[int]) -> int:
    """``gcdn_progress_fn``: never lets anything unwind into C."""
    run = _RUNS.get(user_data or 0)
    if run is None:
        return 0
    try:
        _check_signals()  # the handlers, wrapped by Run._trap, keep what they raise
        if run.exception is None and run.progress is not None:
            event = run.event_from_c(event_p)
            if event is not None and run.progress(event) is False:  # None: a tick
                run.stopped = True
                return 1
            _check_signals()
    except BaseException as e:  # noqa: B036 - KeyboardInterrupt included: kept, raised later
        if run.exception is None:
            run.exception = e
    return 1 if run.exception is not None else 0


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


#: The one progress function every run shares (lives as long as the module).
PROGRESS_FN = _lib.PROGRESS_FN_TYPE(_on_progress)


class Run:
    """A ``gcdn_run`` for one call (or job run), freed by :meth:`close`."""

    def __init__(
        self,
        timeout_ms: Optional[int],
        cancel_handle: Optional[int],
        progress: Optional[Callable[[Event], Any]] = None,
        dry_run: bool = False,
        wait_ms: Optional[int] = None,
        *,
        exact: bool = False,
        verify: bool = False,
        verify_limit: Optional[int] = None,
        edges: Sequence[bytes] = (),
        prefetch: bool = False,
    ) -> None:
        self.progress = progress
        if progress is not None:  # the events are built there (it imports dataclasses: lazily)
            from ._report import event_from_c

            self.event_from_c = event_from_c
        self.exception: Optional[BaseException] = None
        self.stopped = False
        self._key = 0
        self._saved_handler: Any = None
        handle = _LIB.gcdn_run_new()
        if not handle:
            raise MemoryError("gcdn_run_new")
        self.handle: Optional[int] = handle
        try:
            if timeout_ms is not None:
                _lib.call(_LIB.gcdn_run_set_timeout_ms, handle, timeout_ms)
            if cancel_handle is not None:
                _lib.call(_LIB.gcdn_run_set_cancel, handle, cancel_handle)
            if dry_run:
                _lib.call(_LIB.gcdn_run_set_dry_run, handle, True)
            if wait_ms is not None:
                _lib.call(_LIB.gcdn_run_set_wait_ms, handle, wait_ms)
            if exact:
                _lib.call(_LIB.gcdn_run_set_exact, handle, True)
            if verify:
                _lib.call(_LIB.gcdn_run_set_verify, handle, True)
            if verify_limit is not None:
                _lib.call(_LIB.gcdn_run_set_verify_limit, handle, verify_limit)
            for edge in edges:  # the library checks each (https://, or http:// to loopback)
                _lib.call(_LIB.gcdn_run_add_edge, handle, edge)
            if prefetch:
                _lib.call(_LIB.gcdn_run_set_prefetch, handle, True)
            main = _main_thread()
            if progress is not None or main:
                self._key = next(_KEYS)
                _RUNS[self._key] = self
                _lib.call(_LIB.gcdn_run_set_progress, handle, PROGRESS_FN, self._key)
            if main:
                self._trap()
        except BaseException:
            self.close()
            raise

    def _trap(self) -> None:
        """Wrap the SIGINT handler so that what it raises during the call is kept."""
        previous = signal.getsignal(signal.SIGINT)
        if not callable(previous):  # SIG_IGN, SIG_DFL, or not set from Python: nothing to run
            return

        def keep(signum: int, frame: Any) -> None:
            try:
                previous(signum, frame)
            except BaseException as e:  # noqa: B036
                if self.exception is None:
                    self.exception = e

        signal.signal(signal.SIGINT, keep)
        self._saved_handler = previous

    def invoke(self, fn: Callable[..., int], *args: Any) -> Tuple[int, str]:
        """``fn(*args, error_out)``: its status and message (the message string freed)."""
        err = c_void_p()
        try:
            status = fn(*args, ctypes.byref(err))
        finally:
            self._untrap()  # a Ctrl-C from now on is raised the usual way
        return status, _lib.take_string(err.value)

    def http_status(self) -> Optional[int]:
        """The HTTP status the API last answered in the call, ``None`` if none."""
        return _LIB.gcdn_run_http_status(self.handle) or None

    def raise_for(
        self, status: int, message: str, report: Any = None, http_status: Optional[int] = None
    ) -> None:
        """Raises what the call ended with: the exception the callback kept (Ctrl-C, the
        progress callable's), else the status's :class:`~gcdn.GcdnError`."""
        if self.exception is not None:
            exc, self.exception = self.exception, None
            if isinstance(exc, GcdnError) and exc.report is None:
                exc.report = report
            raise exc
        if status != 0:
            raise error_for(
                status, message or _lib.status_str(status), http_status=http_status or self.http_status(),
                report=report,
            )

    def _untrap(self) -> None:
        saved, self._saved_handler = self._saved_handler, None
        if saved is not None:
            signal.signal(signal.SIGINT, saved)

    def close(self) -> None:
        self._untrap()
        if self._key:
            _RUNS.pop(self._key, None)
            self._key = 0
        handle, self.handle = self.handle, None
        if handle:
            _LIB.gcdn_run_free(handle)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

