"""gcdn: delete Gcore CDN resources and purge Gcore CDN caches.

A thin, typed wrapper (ctypes, no compiled extension) over the gcdn C library::

    import gcdn

    with gcdn.Client("my-api-key") as client:
        client.purge_urls(123, ["/img/a.jpg", "/index.html?v=2"])
        client.purge_patterns(123, ["/static/*"])
        client.delete_resource(456, deactivate_first=True, missing_ok=True)

``gcdn.AsyncClient`` has the same methods, each ``async``, for asyncio.

The C library is loaded from ``$GCDN_LIBRARY``, else a copy bundled in this package, else the
repository's ``target/release`` build tree; ``gcdn._lib_path`` tells which one was loaded.
"""

from . import _lib
from ._client import USER_AGENT, CancelToken, Client
from ._job import Job
from ._errors import (
    CancelledError,
    StaleError,
    ClientClosedError,
    GcdnError,
    InternalError,
    InvalidArgumentError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RejectedError,
    ServerError,
    TimeoutError,
    UnauthorizedError,
)
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._async import AsyncClient
    from ._log import TRACE
    from ._report import (
        Event,
        PlanWarning,
        PrefetchRequest,
        Report,
        RequestResult,
        RewrittenItem,
        SkippedItem,
        Totals,
        VerifiedURL,
    )

# The names below are imported on first use, so that `import gcdn` stays quick: they bring
# asyncio and concurrent.futures (AsyncClient), logging (TRACE), dataclasses and json (the rest).
_LAZY = {
    "AsyncClient": "_async",
    "TRACE": "_log",
    "Event": "_report",
    "Report": "_report",
    "RequestResult": "_report",
    "SkippedItem": "_report",
    "RewrittenItem": "_report",
    "PlanWarning": "_report",
    "VerifiedURL": "_report",
    "PrefetchRequest": "_report",
    "Totals": "_report",
}

__all__ = [
    "Client",
    "AsyncClient",
    "GcdnError",
    "InvalidArgumentError",
    "ClientClosedError",
    "UnauthorizedError",
    "NotFoundError",
    "RateLimitedError",
    "RejectedError",
    "ServerError",
    "NetworkError",
    "TimeoutError",
    "ProtocolError",
    "InternalError",
    "CancelledError",
    "StaleError",
    "CancelToken",
    "Job",
    "Report",
    "RequestResult",
    "SkippedItem",
    "RewrittenItem",
    "PlanWarning",
    "VerifiedURL",
    "PrefetchRequest",
    "Totals",
    "Event",
    "TRACE",
    "USER_AGENT",
    "__version__",
    "library_version",
]

#: The path of the C library that was loaded.
_lib_path: str = _lib.LIB_PATH


def library_version() -> str:
    """The version of the loaded gcdn C library, e.g. ``"0.1.0"``."""
    return _lib.version()


if not TYPE_CHECKING:  # type checkers see the imports above instead

    def __getattr__(name: str) -> object:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError("module {!r} has no attribute {!r}".format(__name__, name))
        import importlib

        value = getattr(importlib.import_module("." + module, __name__), name)
        globals()[name] = value  # found directly from now on
        return value

    def __dir__() -> "list[str]":
        return sorted(set(globals()) | set(_LAZY))
