"""`gcdn.Job`, `gcdn.Report` and the progress `gcdn.Event`: the purge job of the C library.

A :class:`Job` holds purges over any number of resources (URLs, patterns, purge-all, and full
``https://host/path`` URLs matched to their resource by host); :meth:`gcdn.Client.run` plans
it (de-duplicated, covered items dropped, chunked by the API's limits), sends it through the
client's pacer and returns a :class:`Report` of every request and every item left out.
"""

import copy
import ctypes
import json
from ctypes import c_void_p
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Iterable, List, Optional, Tuple, Type, TypeVar

from . import _lib
from ._convert import resource_id as _resource_id
from ._convert import string_array as _string_array

__all__ = ["Job", "Report", "RequestResult", "SkippedItem", "Totals", "Event"]

_LIB = _lib.LIB
_T = TypeVar("_T")


class Job:
    """Purges to run with :meth:`gcdn.Client.run`, over any number of CDN resources.

    Each ``add_*`` method checks its items at once (the same rules as the single calls; a full
    URL must be ``https://`` with a host and a path) and raises
    :class:`~gcdn.InvalidArgumentError` naming the first bad item by its index, leaving the
    job as it was. Items take any iterable of ``str``. A job can be run many times, and is
    not meant to be changed by one thread while another runs it.
    """

    def __init__(self) -> None:
        handle = _LIB.gcdn_job_new()
        if not handle:
            raise MemoryError("gcdn_job_new")
        self._handle: Optional[int] = handle

    @classmethod
    def _adopt(cls, handle: int) -> "Job":
        job = cls.__new__(cls)
        job._handle = handle
        return job

    def add_urls(self, resource_id: int, urls: Iterable[str]) -> "Job":
        """Purge ``urls`` (paths with their query, ``"/a.png?v=2"``) of ``resource_id``."""
        rid = _resource_id(resource_id)
        array, n = _string_array(urls, "urls", "URL")
        _lib.call(_LIB.gcdn_job_add_urls, self._handle, rid, array, n)
        return self

    def add_patterns(self, resource_id: int, patterns: Iterable[str]) -> "Job":
        """Purge everything matching ``patterns`` (``"/img/*"``) of ``resource_id``."""
        rid = _resource_id(resource_id)
        array, n = _string_array(patterns, "patterns", "pattern")
        _lib.call(_LIB.gcdn_job_add_patterns, self._handle, rid, array, n)
        return self

    def add_all(self, resource_id: int) -> "Job":
        """Purge the whole cache of ``resource_id`` (it covers the resource's other items)."""
        _lib.call(_LIB.gcdn_job_add_all, self._handle, _resource_id(resource_id))
        return self

    def add_full_urls(self, urls: Iterable[str]) -> "Job":
        """Purge full URLs, ``https://cdn.example.com/a.png?v=2``: each goes to the resource
        whose ``cname`` or one of whose secondary hostnames is its host (read from the
        account's resources when the job runs; a host that matches none is reported as
        ``no_resource``)."""
        array, n = _string_array(urls, "urls", "URL")
        _lib.call(_LIB.gcdn_job_add_full_urls, self._handle, array, n)
        return self

    def __repr__(self) -> str:
        return "<gcdn.Job>"

    def __del__(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            _LIB.gcdn_job_free(handle)


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


class Report:
    """What a :meth:`gcdn.Client.run` did: every planned request and every item left out.

    Attributes: :attr:`requests` (:class:`RequestResult` list), :attr:`skipped`
    (:class:`SkippedItem` list), :attr:`totals` (:class:`Totals`), :attr:`dry_run`,
    :attr:`status` (the run's gcdn status, 0: all done) and :attr:`message`.
    """

    requests: List[RequestResult]
    skipped: List[SkippedItem]
    totals: Totals
    dry_run: bool
    status: int
    message: Optional[str]

    def __init__(self, data: Dict[str, Any], handle: Optional[int] = None) -> None:
        self._data = data
        self._handle = handle
        self.requests = [_build(RequestResult, r) for r in data.get("requests", [])]
        self.skipped = [_build(SkippedItem, s) for s in data.get("skipped", [])]
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
        ``skipped``, ``totals``, ...), as ``json.loads`` gives it: a fresh copy."""
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
