"""The exceptions of :mod:`gcdn`, one class per status code of the C library."""

from __future__ import annotations

import builtins

TYPE_CHECKING = False  # typing is imported by type checkers only: `import gcdn` stays quick
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, ClassVar, Dict, Optional, Tuple, Type

    from ._report import Report

__all__ = [
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
]

# The C ABI's status codes (gcdn.h); they never change.
OK = 0
ERR_INVALID_ARGUMENT = 1
ERR_UNAUTHORIZED = 2
ERR_NOT_FOUND = 3
ERR_RATE_LIMITED = 4
ERR_REJECTED = 5
ERR_SERVER = 6
ERR_NETWORK = 7
ERR_TIMEOUT = 8
ERR_PROTOCOL = 9
ERR_PANIC = 10
ERR_CANCELLED = 11
ERR_STALE = 12


class GcdnError(Exception):
    """A failed gcdn call.

    ``status`` is the C library's status code (``GCDN_ERR_*``, an ``int``) and ``message``
    the library's message, fit to show a person. Neither ever contains the API key.
    ``http_status`` is the HTTP status of the API's last answer in the call (e.g. ``404``),
    ``None`` when the API gave none (refused input, network failure, timeout, cancel).
    ``report`` is the :class:`gcdn.Report` of a failed :meth:`gcdn.Client.run` or
    :meth:`gcdn.Client.purge` (what was purged, what not and why), else ``None``.

    Every argument can be given by keyword: ``NotFoundError(message="gone", http_status=404)``.
    """

    status: int
    message: str
    http_status: Optional[int]
    report: Optional["Report"]
    #: The status a new instance gets when none is given.
    default_status: ClassVar[int] = 0

    def __init__(
        self,
        message: str = "",
        status: Optional[int] = None,
        http_status: Optional[int] = None,
        *,
        report: Optional["Report"] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = self.default_status if status is None else status
        self.http_status = http_status
        self.report = report

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        http = "" if self.http_status is None else ", http_status={}".format(self.http_status)
        return "{}(status={}{}, message={!r})".format(type(self).__name__, self.status, http, self.message)

    def __reduce__(self) -> Tuple[Any, ...]:
        # Pickles (e.g. across multiprocessing) with every field, the report included.
        return (_rebuild, (type(self), self.message, self.status, self.http_status, self.report))


def _rebuild(
    cls: Type["GcdnError"], message: str, status: int, http_status: Optional[int], report: Optional["Report"]
) -> "GcdnError":
    return cls(message=message, status=status, http_status=http_status, report=report)


class InvalidArgumentError(GcdnError, ValueError):
    """The input was refused before any request was sent (bad URL, empty list, id <= 0, ...)."""

    default_status = ERR_INVALID_ARGUMENT


class ClientClosedError(InvalidArgumentError):
    """A call on a :class:`gcdn.Client` after :meth:`~gcdn.Client.close`.

    Like I/O on a closed file, this is a ``ValueError`` (and an :class:`InvalidArgumentError`,
    status ``GCDN_ERR_INVALID_ARGUMENT``): the closed client is the invalid argument.
    Nothing was sent.
    """


class UnauthorizedError(GcdnError):
    """HTTP 401 or 403: the API key is wrong or lacks the permission."""

    default_status = ERR_UNAUTHORIZED


class NotFoundError(GcdnError):
    """HTTP 404: the account has no such resource."""

    default_status = ERR_NOT_FOUND


class RateLimitedError(GcdnError):
    """HTTP 429, still, after waiting as long as ``max_rate_limit_wait`` allows."""

    default_status = ERR_RATE_LIMITED


class RejectedError(GcdnError):
    """Any other 4xx: the API refused the request; the message quotes its words."""

    default_status = ERR_REJECTED


class ServerError(GcdnError):
    """HTTP 5xx, after retries."""

    default_status = ERR_SERVER


class NetworkError(GcdnError):
    """DNS, connect, TLS (certificate) or connection-reset failure, after retries."""

    default_status = ERR_NETWORK


class TimeoutError(GcdnError, builtins.TimeoutError):  # noqa: A001 (shadows the built-in on purpose)
    """An attempt timed out (after retries), or the call timeout ran out.

    Also a built-in :class:`TimeoutError`, so ``except TimeoutError`` catches it too.
    """

    default_status = ERR_TIMEOUT


class ProtocolError(GcdnError):
    """A response the client cannot make sense of (not HTTP, a redirect, ...)."""

    default_status = ERR_PROTOCOL


class InternalError(GcdnError):
    """A bug in the gcdn library, caught at its boundary (``GCDN_ERR_PANIC``); please report it."""

    default_status = ERR_PANIC


class CancelledError(GcdnError):
    """The call was cancelled (``GCDN_ERR_CANCELLED``): through its :class:`~gcdn.CancelToken`,
    or by a ``progress`` callback of :meth:`gcdn.Client.run` that returned ``False``."""

    default_status = ERR_CANCELLED


class StaleError(GcdnError):
    """A verifying run (``verify=True``): everything was purged and confirmed, but the edge still
    serves at least one URL from a copy cached before its purge (``GCDN_ERR_STALE``). The
    report (``.report``) says which, in its ``verified`` entries."""

    default_status = ERR_STALE


_BY_STATUS: Dict[int, Type[GcdnError]] = {
    ERR_INVALID_ARGUMENT: InvalidArgumentError,
    ERR_UNAUTHORIZED: UnauthorizedError,
    ERR_NOT_FOUND: NotFoundError,
    ERR_RATE_LIMITED: RateLimitedError,
    ERR_REJECTED: RejectedError,
    ERR_SERVER: ServerError,
    ERR_NETWORK: NetworkError,
    ERR_TIMEOUT: TimeoutError,
    ERR_PROTOCOL: ProtocolError,
    ERR_PANIC: InternalError,
    ERR_CANCELLED: CancelledError,
    ERR_STALE: StaleError,
}


def error_for(
    status: int, message: str, http_status: Optional[int] = None, report: Optional["Report"] = None
) -> GcdnError:
    """The exception for a status code; an unknown code gives a plain :class:`GcdnError`."""
    return _BY_STATUS.get(status, GcdnError)(message=message, status=status, http_status=http_status, report=report)
