"""`gcdn.Job`: the purge job of the C library.

A :class:`Job` holds purges over any number of resources (URLs, patterns, purge-all, and full
``https://host/path`` URLs matched to their resource by host); :meth:`gcdn.Client.run` plans
it (de-duplicated, covered items dropped, chunked by the API's limits), sends it through the
client's pacer and returns a :class:`~gcdn.Report` (in ``_report.py``) of every request and
every item left out.
"""

from __future__ import annotations

from . import _lib
from ._convert import resource_id as _resource_id
from ._convert import string_array as _string_array

TYPE_CHECKING = False  # typing is imported by type checkers only: `import gcdn` stays quick
if TYPE_CHECKING:
    from typing import Iterable, Optional

__all__ = ["Job"]

_LIB = _lib.LIB


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


if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        # The report's classes lived here up to 0.2: pickles made then name gcdn._job.Report.
        if name in ("Report", "RequestResult", "SkippedItem", "Totals", "Event"):
            from . import _report

            return getattr(_report, name)
        raise AttributeError("module {!r} has no attribute {!r}".format(__name__, name))
