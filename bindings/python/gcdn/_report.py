"""`gcdn.Report` and the progress `gcdn.Event`: what a :meth:`gcdn.Client.run` did and does.

Imported on first use (``gcdn.Report`` and the others are loaded lazily by the package), so
that ``import gcdn`` does not pay for :mod:`dataclasses` and :mod:`json`.
"""

from __future__ import annotations

import copy
import ctypes
import json
from ctypes import c_void_p
from dataclasses import dataclass, field, fields

from . import _lib
from ._job import Job

TYPE_CHECKING = False  # typing is imported by type checkers only
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple, Type, TypeVar

    _T = TypeVar("_T")

__all__ = [
    "Report",
    "RequestResult",
    "SkippedItem",
    "RewrittenItem",
    "PlanWarning",
    "VerifiedURL",
    "PrefetchRequest",
    "Totals",
    "Event",
    "event_from_c",
]

_LIB = _lib.LIB


def _build(cls: Type[_T], data: Dict[str, Any]) -> _T:
    """A dataclass from a JSON object: the fields it knows (later versions may add others)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class RequestResult:
    """One planned request of a run, and what became of it."""

    #: The CDN resource.
    resource_id: int
    #: ``"urls"``, ``"patterns"`` or ``"all"``.
    kind: str
    #: What was (or would have been) sent: paths, for full URLs too.
    items: List[str]
    #: ``"purged"``, ``"failed"``, ``"not_sent"``, or ``"planned"`` (a dry run).
    outcome: str
    #: The gcdn status code of the request (0: purged); ``None`` while only planned.
    status: Optional[int] = None
    #: The HTTP status of the API's last answer, ``None`` when none came.
    http_status: Optional[int] = None
    #: Why it failed or was not sent, fit to show a person.
    message: Optional[str] = None
    #: Attempts made (0: nothing was sent).
    attempts: int = 0
    #: The API's purge id, when known.
    purge_id: Optional[int] = None
    #: With ``wait``: ``"successful"``, ``"failed"`` or ``"in_progress"`` (the wait ended first).
    completion: Optional[str] = None
    #: Items the request carried for other calls of the client besides the run's own
    #: (coalescing); 0 when it carried the run's alone.
    carried_for_others: int = 0


@dataclass(frozen=True)
class SkippedItem:
    """An item of the job that was not sent, and why."""

    #: The item as it was given.
    item: str
    #: Its resource, ``None`` when its host matched none.
    resource_id: Optional[int]
    #: ``"duplicate"``, ``"covered"``, ``"no_resource"``, ``"inactive"`` or ``"url_purge_disabled"``.
    reason: str
    #: For ``"covered"``: the covering pattern, or ``"all"``.
    by: Optional[str] = None


@dataclass(frozen=True)
class RewrittenItem:
    """A URL item sent in its cache-key form rather than as given (not with ``exact=True``)."""

    #: The item as it was given (a path or a full URL).
    item: str
    #: What was sent instead: its path and the query parameters of its cache key, sorted (the
    #: JSON form's ``as``).
    as_: str
    resource_id: int
    #: The option that decided: ``"ignoreQueryString"``, ``"query_params_whitelist"`` or
    #: ``"query_params_blacklist"``; ``None`` when none is enabled (only the order changed).
    by: Optional[str] = None
    #: The resource rule that decided, ``None`` when the resource's own options did.
    rule_id: Optional[int] = None


@dataclass(frozen=True)
class PlanWarning:
    """A purge of the plan that may not reach everything."""

    #: The resource, ``None`` for ``"no_listing"``.
    resource_id: Optional[int]
    #: ``"slice"`` (a URL purge removes only the first slice), ``"custom_cache_key"`` (pattern
    #: purges and purge-all do not work), ``"invalid_rule"`` (a rule gcdn cannot use) or
    #: ``"no_listing"`` (the resources could not be read: every item goes as given).
    code: str
    message: str


@dataclass(frozen=True)
class VerifiedURL:
    """What the edge answered for one URL purged by URL (``verify=True``)."""

    #: The URL probed, ``https://host/path?query``.
    url: str
    resource_id: int
    #: ``"fresh"`` (a MISS or BYPASS, or a copy cached after the purge), ``"stale"`` (a HIT
    #: cached before the purge) or ``"error"`` (no usable answer).
    result: str
    #: The edge's ``Cache`` header (``"HIT"``, ``"MISS"``, ``"BYPASS"``), ``None`` if none came.
    cache: Optional[str] = None
    #: The edge's ``X-Cached-Since`` header, as sent.
    cached_since: Optional[str] = None
    #: The edge that answered (its ``X-ID``; ``<edge>.fe.gc.onl`` reaches it again).
    edge: Optional[str] = None
    #: Why ``"stale"`` or ``"error"`` (and the address probed, with ``edges``).
    message: Optional[str] = None


@dataclass(frozen=True)
class PrefetchRequest:
    """One prefetch request of a run (``prefetch=True``)."""

    resource_id: int
    #: The paths it carried.
    items: List[str]
    #: ``"purged"`` (accepted), ``"failed"`` or ``"not_sent"``.
    outcome: str
    #: The gcdn status code (0: accepted), ``None`` when not known.
    status: Optional[int] = None
    #: The HTTP status of the API's last answer, ``None`` when none came.
    http_status: Optional[int] = None
    #: Why it failed or was not sent.
    message: Optional[str] = None


@dataclass(frozen=True)
class Totals:
    """A run's counts so far (in events) or in the end (in the report)."""

    requests: int = 0
    purged: int = 0
    failed: int = 0
    not_sent: int = 0
    items_purged: int = 0
    #: 429 answers met.
    rate_limited: int = 0
    elapsed_ms: int = 0
    #: The plan's estimate of the run's duration under the rate limits.
    estimated_ms: int = 0
    #: Requests sent so far.
    sent: int = 0
    #: Items left out (the report's ``skipped``).
    skipped: int = 0
    #: Requests whose purge is confirmed done.
    confirmed: int = 0
    #: URLs the edge served fresh after their purge (``verify=True``).
    verified_fresh: int = 0
    #: URLs the edge still served from a copy cached before their purge.
    verified_stale: int = 0
    #: URLs whose probe got no usable answer.
    verified_error: int = 0
    #: Items the purged requests carried for other calls of the client (coalescing).
    carried_for_others: int = 0


class Report:
    """What a :meth:`gcdn.Client.run` did: every planned request and every item left out.

    Attributes: :attr:`requests` (:class:`RequestResult` list), :attr:`skipped`
    (:class:`SkippedItem` list), :attr:`rewritten` (:class:`RewrittenItem` list: URL items
    sent in their cache-key form), :attr:`warnings` (:class:`PlanWarning` list),
    :attr:`verified` (:class:`VerifiedURL` list, with ``verify=True``), :attr:`prefetched`
    (:class:`PrefetchRequest` list, with ``prefetch=True``), :attr:`totals` (:class:`Totals`),
    :attr:`dry_run`, :attr:`status` (the run's gcdn status, 0: all done) and :attr:`message`.
    """

    requests: List[RequestResult]
    skipped: List[SkippedItem]
    rewritten: List[RewrittenItem]
    warnings: List[PlanWarning]
    verified: List[VerifiedURL]
    prefetched: List[PrefetchRequest]
    totals: Totals
    dry_run: bool
    status: int
    message: Optional[str]

    def __init__(self, data: Dict[str, Any], handle: Optional[int] = None) -> None:
        self._data = data
        self._handle = handle
        self.requests = [_build(RequestResult, r) for r in data.get("requests", [])]
        self.skipped = [_build(SkippedItem, s) for s in data.get("skipped", [])]
        # `as` is a Python keyword: the field is `as_`.
        self.rewritten = [_build(RewrittenItem, dict(r, as_=r.get("as"))) for r in data.get("rewritten", [])]
        self.warnings = [_build(PlanWarning, w) for w in data.get("warnings", [])]
        self.verified = [_build(VerifiedURL, v) for v in data.get("verified", [])]
        self.prefetched = [_build(PrefetchRequest, p) for p in data.get("prefetched", [])]
        self.totals = _build(Totals, data.get("totals", {}))
        self.dry_run = bool(data.get("dry_run", False))
        self.status = int(data.get("status") or 0)
        self.message = data.get("message")

    @classmethod
    def _adopt(cls, handle: int) -> "Report":
        """The report of a native ``gcdn_report *`` (owned from now on)."""
        try:
            out = c_void_p()
            _lib.call(_LIB.gcdn_report_json, handle, ctypes.byref(out))
            data = json.loads(_lib.take_string(out.value))
        except BaseException:
            _LIB.gcdn_report_free(handle)
            raise
        return cls(data, handle)

    def to_dict(self) -> Dict[str, Any]:
        """The report's documented JSON form (``version``, ``dry_run``, ``requests``,
        ``skipped``, ``totals``, ``rewritten``, ``warnings``, ``verified``, ``prefetched``, ...),
        as ``json.loads`` gives it: a fresh copy."""
        return copy.deepcopy(self._data)

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text (the CLI prints the same objects)."""
        return json.dumps(self._data)

    def remaining(self) -> Optional[Job]:
        """A :class:`Job` of the requests that failed or were not sent (run it to finish
        the work), or ``None`` when there are none."""
        if self._handle:
            handle = _LIB.gcdn_report_remaining(self._handle)
            return Job._adopt(handle) if handle else None
        # An unpickled report has no native half: rebuild the job from the requests.
        job = None
        for r in self.requests:
            if r.outcome not in ("failed", "not_sent"):
                continue
            job = job or Job()
            if r.kind == "urls":
                job.add_urls(r.resource_id, r.items)
            elif r.kind == "patterns":
                job.add_patterns(r.resource_id, r.items)
            else:
                job.add_all(r.resource_id)
        return job

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Report, (self._data,))

    def __repr__(self) -> str:
        t = self.totals
        return "<gcdn.Report requests={} purged={} failed={} not_sent={} skipped={}{}>".format(
            t.requests, t.purged, t.failed, t.not_sent, len(self.skipped), " dry_run" if self.dry_run else ""
        )

    def __del__(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            _LIB.gcdn_report_free(handle)


@dataclass(frozen=True)
class Event:
    """One progress event of a run, given to the ``progress`` callable of
    :meth:`gcdn.Client.run` on the thread that called it, one at a time."""

    #: ``"sent"``, ``"answered"``, ``"failed"``, ``"wait"``, ``"retry"``, ``"confirm_poll"``
    #: or ``"confirmed"`` (later versions may add others).
    kind: str
    #: The request's index in the report's ``requests``, if the event is about one.
    request: Optional[int] = None
    resource_id: Optional[int] = None
    #: ``"urls"``, ``"patterns"`` or ``"all"``.
    purge_kind: Optional[str] = None
    #: Items of the request (``"confirm_poll"``: requests still to confirm).
    items: int = 0
    attempt: int = 0
    http_status: Optional[int] = None
    #: A gcdn status code (``"failed"``).
    status: Optional[int] = None
    #: Seconds, of a ``"wait"``.
    wait: float = 0.0
    #: Why a ``"wait"``: ``"pacer"``, ``"429"``, ``"retry-after"``, ``"backoff"``, ``"confirm"``.
    why: Optional[str] = None
    #: Of a ``"confirmed"`` request: ``"successful"``, ``"failed"`` or ``"in_progress"``.
    completion: Optional[str] = None
    message: Optional[str] = None
    #: The run's totals as of this event.
    totals: Totals = field(default_factory=Totals)


def event_from_c(event_p: Optional[int]) -> Optional[Event]:
    """The :class:`gcdn.Event` of a ``const gcdn_event *`` (during the progress call), or
    ``None`` for a tick (which only lets Python look at its signals)."""
    lib = _LIB
    kind = lib.gcdn_event_kind(event_p)
    name = _lib.EVENT_KINDS.get(kind)
    if name is None:  # GCDN_EVENT_TICK, or a kind of a later version
        return None
    request = lib.gcdn_event_request(event_p)
    message = lib.gcdn_event_message(event_p)
    totals = Totals(**{name: lib.gcdn_event_total(event_p, which) for which, name in _lib.TOTALS})
    return Event(
        kind=name,
        request=None if request < 0 else request,
        resource_id=lib.gcdn_event_resource_id(event_p) or None,
        purge_kind=_lib.PURGE_KINDS.get(lib.gcdn_event_purge_kind(event_p)),
        items=lib.gcdn_event_item_count(event_p),
        attempt=lib.gcdn_event_attempt(event_p),
        http_status=lib.gcdn_event_http_status(event_p) or None,
        status=lib.gcdn_event_status(event_p) or None,
        wait=lib.gcdn_event_wait_ms(event_p) / 1000.0,
        why=_lib.WAIT_REASONS.get(lib.gcdn_event_wait_reason(event_p)),
        completion=_lib.COMPLETIONS.get(lib.gcdn_event_completion(event_p)),
        message=None if message is None else message.decode("utf-8", "replace"),
        totals=totals,
    )
