"""Finding and loading the gcdn C library, and the ctypes prototypes of its ABI (gcdn.h).

The library is looked for, in this order:

1. the path in the ``GCDN_LIBRARY`` environment variable, when it is set (and then only there);
2. a copy bundled inside this package (what a platform wheel ships);
3. the repository's build tree, ``<repo>/target/release`` (after ``cargo build --release``).
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import POINTER, c_char_p, c_int32, c_int64, c_size_t, c_uint32, c_uint64, c_void_p

from ._errors import error_for

TYPE_CHECKING = False  # typing is imported by type checkers only: `import gcdn` stays quick
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple

__all__ = ["LIB", "LIB_PATH", "SUPPORTED_VERSIONS", "call", "take_string"]

#: The library versions (major, minor) whose ABI this wrapper was written for.
SUPPORTED_VERSIONS: Tuple[Tuple[int, int], ...] = ((0, 1),)

if sys.platform == "darwin":
    LIB_NAME = "libgcdn.dylib"
elif sys.platform == "win32":
    LIB_NAME = "gcdn.dll"
else:
    LIB_NAME = "libgcdn.so"

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def candidates() -> List[Tuple[str, str]]:
    """Where the library is looked for, in order, as ``(path, how it was chosen)``."""
    env = os.environ.get("GCDN_LIBRARY")
    if env:
        return [(env, "GCDN_LIBRARY")]
    found = [(os.path.join(_PACKAGE_DIR, LIB_NAME), "bundled in the package")]
    bindings_python = os.path.dirname(_PACKAGE_DIR)
    # Run from a checkout (bindings/python/gcdn): also the repository's build tree.
    if os.path.basename(bindings_python) == "python" and os.path.basename(os.path.dirname(bindings_python)) == "bindings":
        repo = os.path.dirname(os.path.dirname(bindings_python))
        found.append((os.path.join(repo, "target", "release", LIB_NAME), "repository build tree"))
    return found


def _load() -> Tuple[ctypes.CDLL, str]:
    tried: List[str] = []
    for path, how in candidates():
        if how != "GCDN_LIBRARY" and not os.path.isfile(path):
            tried.append("  {} ({}): not found".format(path, how))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("  {} ({}): {}".format(path, how, e))
    raise ImportError(
        "gcdn: cannot load the gcdn C library ({}). Looked in:\n{}\n"
        "Build it with `cargo build --release` at the root of the gcdn repository, "
        "or set GCDN_LIBRARY to the path of {}.".format(LIB_NAME, "\n".join(tried), LIB_NAME)
    )


def _check_version(version: str, path: str) -> None:
    """Raises ImportError unless ``version`` (e.g. "0.1.0") is one this wrapper supports."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        major, minor = -1, -1
    if (major, minor) not in SUPPORTED_VERSIONS:
        raise ImportError(
            "gcdn: the C library at {} is version {!r}; this Python package supports {}. "
            "Install the matching versions of both.".format(
                path, version, ", ".join("{}.{}.x".format(*v) for v in SUPPORTED_VERSIONS)
            )
        )


LIB, LIB_PATH = _load()

# The prototypes below must agree with include/gcdn.h, argument by argument:
# tests/test_header.py parses the header and checks every one of them.
#
# Handles are plain addresses (c_void_p): the wrapper keeps them as ints and never looks
# inside. Each opaque type of the header has its entry in HANDLES.
_client_p = c_void_p  # gcdn_client *
_options_p = c_void_p  # gcdn_options *
_cancel_p = c_void_p  # gcdn_cancel *
_error_out = POINTER(c_void_p)  # char **error_out: taken as void * so ctypes does not copy it



class gcdn_log_record(ctypes.Structure):
    """gcdn.h's ``gcdn_log_record``: valid only during the log function's call."""

    _fields_ = [
        ("level", c_int32),
        ("event", c_char_p),
        ("message", c_char_p),
        ("method", c_char_p),
        ("path", c_char_p),
        ("http_status", c_int32),
        ("attempt", c_uint32),
        ("elapsed_ms", c_uint64),
        ("resource_id", c_int64),
        ("kind", c_char_p),
        ("wait_ms", c_uint64),
        ("reason", c_char_p),
    ]


#: gcdn.h's ``gcdn_log_fn``: ``void (*)(const gcdn_log_record *record, void *user_data)``.
LOG_FN = ctypes.CFUNCTYPE(None, POINTER(gcdn_log_record), c_void_p)

_run_p = c_void_p  # gcdn_run *
_event_p = c_void_p  # const gcdn_event *
_job_p = c_void_p  # gcdn_job *
_report_p = c_void_p  # gcdn_report *

#: gcdn.h's ``gcdn_progress_fn``: ``int32_t (*)(const gcdn_event *event, void *user_data)``.
PROGRESS_FN_TYPE = ctypes.CFUNCTYPE(c_int32, _event_p, c_void_p)

#: The ctypes type of a pointer to each opaque type of gcdn.h.
HANDLES = {
    "gcdn_client": _client_p,
    "gcdn_options": _options_p,
    "gcdn_cancel": _cancel_p,
    "gcdn_run": _run_p,
    "gcdn_event": _event_p,
    "gcdn_job": _job_p,
    "gcdn_report": _report_p,
}

_PROTOTYPES: List[Tuple[str, Any, List[Any]]] = [
    ("gcdn_options_new", _options_p, []),
    ("gcdn_options_free", None, [_options_p]),
    ("gcdn_options_set_base_url", c_int32, [_options_p, c_char_p, _error_out]),
    ("gcdn_options_set_timeout_ms", c_int32, [_options_p, c_uint64, _error_out]),
    ("gcdn_options_set_max_retries", c_int32, [_options_p, c_uint32, _error_out]),
    ("gcdn_options_set_max_rate_limit_wait_ms", c_int32, [_options_p, c_uint64, _error_out]),
    ("gcdn_options_set_purge_intervals_ms", c_int32, [_options_p, c_uint64, c_uint64, _error_out]),
    ("gcdn_options_set_user_agent_suffix", c_int32, [_options_p, c_char_p, _error_out]),
    ("gcdn_options_set_ca_file", c_int32, [_options_p, c_char_p, _error_out]),
    ("gcdn_options_set_log", c_int32, [_options_p, LOG_FN, c_void_p, c_int32, _error_out]),
    ("gcdn_options_set_rate_store", c_int32, [_options_p, c_char_p, _error_out]),
    ("gcdn_options_set_rate_store_fail_closed", c_int32, [_options_p, c_int32, _error_out]),
    ("gcdn_options_set_coalesce", c_int32, [_options_p, c_int32, _error_out]),
    ("gcdn_client_new", c_int32, [c_char_p, _options_p, POINTER(_client_p), _error_out]),
    ("gcdn_client_with_call_timeout_ms", c_int32, [_client_p, c_uint64, POINTER(_client_p), _error_out]),
    ("gcdn_client_free", None, [_client_p]),
    ("gcdn_cancel_new", _cancel_p, []),
    ("gcdn_cancel_fire", None, [_cancel_p]),
    ("gcdn_cancel_free", None, [_cancel_p]),
    ("gcdn_client_with_cancel", c_int32, [_client_p, _cancel_p, POINTER(_client_p), _error_out]),
    ("gcdn_delete_resource", c_int32, [_client_p, c_int64, c_uint32, _error_out]),
    ("gcdn_deactivate_resource", c_int32, [_client_p, c_int64, _error_out]),
    ("gcdn_purge_urls", c_int32, [_client_p, c_int64, POINTER(c_char_p), c_size_t, _error_out]),
    ("gcdn_purge_patterns", c_int32, [_client_p, c_int64, POINTER(c_char_p), c_size_t, _error_out]),
    ("gcdn_purge_all", c_int32, [_client_p, c_int64, _error_out]),
    ("gcdn_run_new", _run_p, []),
    ("gcdn_run_free", None, [_run_p]),
    ("gcdn_run_set_timeout_ms", c_int32, [_run_p, c_uint64, _error_out]),
    ("gcdn_run_set_cancel", c_int32, [_run_p, _cancel_p, _error_out]),
    ("gcdn_run_set_progress", c_int32, [_run_p, PROGRESS_FN_TYPE, c_void_p, _error_out]),
    ("gcdn_event_kind", c_int32, [_event_p]),
    ("gcdn_job_new", _job_p, []),
    ("gcdn_job_free", None, [_job_p]),
    ("gcdn_job_add_urls", c_int32, [_job_p, c_int64, POINTER(c_char_p), c_size_t, _error_out]),
    ("gcdn_job_add_patterns", c_int32, [_job_p, c_int64, POINTER(c_char_p), c_size_t, _error_out]),
    ("gcdn_job_add_all", c_int32, [_job_p, c_int64, _error_out]),
    ("gcdn_job_add_full_urls", c_int32, [_job_p, POINTER(c_char_p), c_size_t, _error_out]),
    ("gcdn_job_item_count", c_size_t, [_job_p]),
    ("gcdn_run_set_dry_run", c_int32, [_run_p, c_int32, _error_out]),
    ("gcdn_run_set_exact", c_int32, [_run_p, c_int32, _error_out]),
    ("gcdn_run_set_wait_ms", c_int32, [_run_p, c_uint64, _error_out]),
    ("gcdn_run_set_verify", c_int32, [_run_p, c_int32, _error_out]),
    ("gcdn_run_set_verify_limit", c_int32, [_run_p, c_uint32, _error_out]),
    ("gcdn_run_add_edge", c_int32, [_run_p, c_char_p, _error_out]),
    ("gcdn_run_set_prefetch", c_int32, [_run_p, c_int32, _error_out]),
    ("gcdn_run_set_workers", c_int32, [_run_p, c_uint32, _error_out]),
    ("gcdn_job_run", c_int32, [_client_p, _job_p, _run_p, POINTER(_report_p), _error_out]),
    ("gcdn_report_json", c_int32, [_report_p, POINTER(c_void_p), _error_out]),
    ("gcdn_report_remaining", _job_p, [_report_p]),
    ("gcdn_report_free", None, [_report_p]),
    ("gcdn_report_status", c_int32, [_report_p]),
    ("gcdn_report_dry_run", c_int32, [_report_p]),
    ("gcdn_report_total", c_uint64, [_report_p, c_int32]),
    ("gcdn_report_request_count", c_size_t, [_report_p]),
    ("gcdn_report_request_attempts", c_uint32, [_report_p, c_size_t]),
    ("gcdn_report_request_carried_for_others", c_uint64, [_report_p, c_size_t]),
    ("gcdn_report_request_completion", c_int32, [_report_p, c_size_t]),
    ("gcdn_report_request_http_status", c_int32, [_report_p, c_size_t]),
    ("gcdn_report_request_item_count", c_size_t, [_report_p, c_size_t]),
    ("gcdn_report_request_kind", c_int32, [_report_p, c_size_t]),
    ("gcdn_report_request_message", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_request_outcome", c_int32, [_report_p, c_size_t]),
    ("gcdn_report_request_purge_id", c_int64, [_report_p, c_size_t]),
    ("gcdn_report_request_resource_id", c_int64, [_report_p, c_size_t]),
    ("gcdn_report_request_status", c_int32, [_report_p, c_size_t]),
    ("gcdn_report_request_item", c_char_p, [_report_p, c_size_t, c_size_t]),
    ("gcdn_report_skipped_count", c_size_t, [_report_p]),
    ("gcdn_report_skipped_by", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_skipped_item", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_skipped_reason", c_int32, [_report_p, c_size_t]),
    ("gcdn_report_skipped_resource_id", c_int64, [_report_p, c_size_t]),
    ("gcdn_report_verified_count", c_size_t, [_report_p]),
    ("gcdn_report_verified_url", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_verified_cache", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_verified_cached_since", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_verified_edge", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_verified_message", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_verified_resource_id", c_int64, [_report_p, c_size_t]),
    ("gcdn_report_verified_result", c_int32, [_report_p, c_size_t]),
    ("gcdn_report_prefetched_count", c_size_t, [_report_p]),
    ("gcdn_report_prefetched_resource_id", c_int64, [_report_p, c_size_t]),
    ("gcdn_report_prefetched_items", c_size_t, [_report_p, c_size_t]),
    ("gcdn_report_prefetched_outcome", c_int32, [_report_p, c_size_t]),
    ("gcdn_report_prefetched_http_status", c_int32, [_report_p, c_size_t]),
    ("gcdn_report_prefetched_message", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_rewritten_count", c_size_t, [_report_p]),
    ("gcdn_report_rewritten_item", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_rewritten_as", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_rewritten_resource_id", c_int64, [_report_p, c_size_t]),
    ("gcdn_report_rewritten_by", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_rewritten_rule_id", c_int64, [_report_p, c_size_t]),
    ("gcdn_report_warning_count", c_size_t, [_report_p]),
    ("gcdn_report_warning_resource_id", c_int64, [_report_p, c_size_t]),
    ("gcdn_report_warning_code", c_char_p, [_report_p, c_size_t]),
    ("gcdn_report_warning_message", c_char_p, [_report_p, c_size_t]),
    ("gcdn_event_attempt", c_uint32, [_event_p]),
    ("gcdn_event_completion", c_int32, [_event_p]),
    ("gcdn_event_http_status", c_int32, [_event_p]),
    ("gcdn_event_item_count", c_size_t, [_event_p]),
    ("gcdn_event_message", c_char_p, [_event_p]),
    ("gcdn_event_purge_kind", c_int32, [_event_p]),
    ("gcdn_event_request", c_int64, [_event_p]),
    ("gcdn_event_resource_id", c_int64, [_event_p]),
    ("gcdn_event_status", c_int32, [_event_p]),
    ("gcdn_event_wait_ms", c_uint64, [_event_p]),
    ("gcdn_event_wait_reason", c_int32, [_event_p]),
    ("gcdn_event_total", c_uint64, [_event_p, c_int32]),
    ("gcdn_run_http_status", c_int32, [_run_p]),
    ("gcdn_purge_urls_with", c_int32, [_client_p, _run_p, c_int64, POINTER(c_char_p), c_size_t, _error_out]),
    ("gcdn_purge_patterns_with", c_int32, [_client_p, _run_p, c_int64, POINTER(c_char_p), c_size_t, _error_out]),
    ("gcdn_purge_all_with", c_int32, [_client_p, _run_p, c_int64, _error_out]),
    ("gcdn_deactivate_resource_with", c_int32, [_client_p, _run_p, c_int64, _error_out]),
    ("gcdn_delete_resource_with", c_int32, [_client_p, _run_p, c_int64, c_uint32, _error_out]),
    ("gcdn_string_free", None, [c_void_p]),
    ("gcdn_status_str", c_char_p, [c_int32]),  # static: ctypes copies it, nothing to free
    ("gcdn_version", c_char_p, []),  # static
    ("gcdn_debug_panic", c_int32, [_error_out]),
]

for _name, _restype, _argtypes in _PROTOTYPES:
    _fn = getattr(LIB, _name)
    _fn.restype = _restype
    _fn.argtypes = _argtypes

#: gcdn.h constants.
DELETE_DEACTIVATE_FIRST = 1 << 0
DELETE_MISSING_OK = 1 << 1
MAX_ITEMS = 1000000
LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE = 1, 2, 3, 4, 5
EVENT_TICK = 8
#: GCDN_EVENT_*, GCDN_KIND_*, GCDN_WAIT_*, GCDN_COMPLETION_*, GCDN_TOTAL_* as the names the
#: Python API (and the report's JSON form) uses; tests/test_header.py checks them against gcdn.h.
EVENT_KINDS = {1: "sent", 2: "answered", 3: "failed", 4: "wait", 5: "retry", 6: "confirm_poll", 7: "confirmed"}
PURGE_KINDS = {1: "urls", 2: "patterns", 3: "all"}
WAIT_REASONS = {1: "pacer", 2: "429", 3: "retry-after", 4: "backoff", 5: "confirm"}
COMPLETIONS = {1: "successful", 2: "failed", 3: "in_progress"}
TOTALS = (
    (1, "requests"),
    (2, "purged"),
    (3, "failed"),
    (4, "not_sent"),
    (5, "items_purged"),
    (6, "rate_limited"),
    (7, "elapsed_ms"),
    (8, "estimated_ms"),
    (9, "sent"),
    (10, "skipped"),
    (11, "confirmed"),
    (12, "verified_fresh"),
    (13, "verified_stale"),
    (14, "verified_error"),
    (15, "carried_for_others"),
)


def take_string(ptr: Optional[int]) -> str:
    """Copies a ``char *`` the library handed out (``error_out``) and frees it."""
    if not ptr:
        return ""
    try:
        data = ctypes.string_at(ptr)
    finally:
        LIB.gcdn_string_free(ptr)
    return data.decode("utf-8", "replace")


def call(fn: Callable[..., int], *args: Any) -> None:
    """Calls a fallible C function with ``args`` plus an ``error_out``; raises on failure."""
    err = c_void_p()
    status = fn(*args, ctypes.byref(err))
    message = take_string(err.value)  # always freed, even if set on success by mistake
    if status != 0:
        raise error_for(status, message or status_str(status))


def status_str(status: int) -> str:
    """The library's short description of a status code, e.g. "not found"."""
    return (LIB.gcdn_status_str(status) or b"").decode("utf-8", "replace")


def version() -> str:
    """The C library's version, e.g. "0.1.0"."""
    return (LIB.gcdn_version() or b"").decode("ascii", "replace")


_check_version(version(), LIB_PATH)
