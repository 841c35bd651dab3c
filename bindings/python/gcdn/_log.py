"""The library's log records, sent to ``logging.getLogger("gcdn")``.

A client asks the library for records (``gcdn_options_set_log``) only as verbose as the
``gcdn`` logger is enabled for when the client is made: with ``logging`` left alone, that is
warnings (a 429 met, the rate store failing), which the ``NullHandler`` below keeps quiet
unless the application configures logging. A client made while the logger is disabled for
every level costs nothing: no callback is installed at all.

Levels: ``GCDN_LOG_ERROR`` ``ERROR``, ``WARN`` ``WARNING``, ``INFO`` ``INFO``, ``DEBUG``
``DEBUG``, ``TRACE`` :data:`TRACE` (``DEBUG - 5``, shown as ``"TRACE"``).

Every record carries, as ``extra`` attributes (``None`` where they do not apply):
``gcdn_event`` ("request", "retry", "wait", "rate_limited", "limits", "store_fallback",
"pacer"), ``method``, ``path``, ``status`` (the HTTP status of a "request"), ``attempt``,
``elapsed_ms``, ``resource_id``, ``kind`` ("urls"/"patterns"), ``wait_ms`` and ``reason``.
No record ever holds the API key, the ``Authorization`` header or a URL password.

The callback runs on the thread that makes the call, only for the time it takes to hand one
record to ``logging`` (the library holds no lock then, and no network I/O happens while it
holds the GIL). It never lets an exception into the C library: a failing handler is
``logging``'s business (``Handler.handleError``); a Ctrl-C that arrives while it runs is
passed on to the call (:func:`_thread.interrupt_main`).
"""

from __future__ import annotations

import _thread
import logging
import os

from . import _lib

TYPE_CHECKING = False  # typing is imported by type checkers only
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

__all__ = ["LOGGER", "TRACE", "LOG_FN", "log_setting"]

LOGGER = logging.getLogger("gcdn")
# A library does not print on its own: records reach the handlers the application configures.
LOGGER.addHandler(logging.NullHandler())

#: The level of ``GCDN_LOG_TRACE`` records (each pacer decision).
TRACE = logging.DEBUG - 5
if logging.getLevelName(TRACE) == "Level {}".format(TRACE):
    logging.addLevelName(TRACE, "TRACE")

# gcdn.h: GCDN_LOG_ERROR .. GCDN_LOG_TRACE, and the Python level of each.
_LEVELS: Tuple[Tuple[int, int], ...] = (
    (_lib.LOG_ERROR, logging.ERROR),
    (_lib.LOG_WARN, logging.WARNING),
    (_lib.LOG_INFO, logging.INFO),
    (_lib.LOG_DEBUG, logging.DEBUG),
    (_lib.LOG_TRACE, TRACE),
)
_PY_LEVEL: Dict[int, int] = dict(_LEVELS)


def _text(value: Optional[bytes]) -> Optional[str]:
    return None if value is None else value.decode("utf-8", "replace")


def _on_record(record_p: Any, _user_data: Optional[int]) -> None:
    try:
        r = record_p.contents
        level = _PY_LEVEL.get(r.level, logging.DEBUG)
        if not LOGGER.isEnabledFor(level):  # the logger may have been quietened since
            return
        extra: Dict[str, Any] = {
            "gcdn_event": _text(r.event),
            "method": _text(r.method),
            "path": _text(r.path),
            "status": r.http_status or None,
            "attempt": r.attempt or None,
            "elapsed_ms": r.elapsed_ms if r.event == b"request" else None,
            "resource_id": r.resource_id or None,
            "kind": _text(r.kind),
            "wait_ms": r.wait_ms if r.event in (b"wait", b"pacer", b"rate_limited") else None,
            "reason": _text(r.reason),
        }
        LOGGER.log(level, "%s", _text(r.message) or "", extra=extra)
    except KeyboardInterrupt:
        # Ctrl-C landed in here: hand it on, so the call's own check raises it.
        _thread.interrupt_main()
    except BaseException:  # noqa: B036 - nothing may unwind into C
        pass


#: The one log function every client shares (it lives as long as the module: never freed).
LOG_FN = _lib.LOG_FN(_on_record)

def log_setting() -> Optional[int]:
    """The ``max_level`` to give ``gcdn_options_set_log`` now, or ``None``: install nothing.

    ``None`` when the ``gcdn`` logger is disabled for every level, and when ``GCDN_LOG`` is set
    (the library then logs to stderr itself, as the user asked).
    """
    env = os.environ.get("GCDN_LOG", "")
    if env and env.lower() != "off":
        return None
    best = None
    for gcdn_level, py_level in _LEVELS:
        if LOGGER.isEnabledFor(py_level):
            best = gcdn_level
    return best
