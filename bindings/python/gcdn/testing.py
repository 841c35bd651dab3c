"""The gcdn emulator, for your own tests: a local Gcore CDN API with rate limits and faults.

::

    from gcdn.testing import Emulator

    def test_purge():
        with Emulator() as emu:
            emu.add_resource(5)
            with emu.client() as client:          # gcdn.Client(emu.api_key, base_url=emu.url)
                client.purge_urls(5, ["/index.html"])
            assert [(r["method"], r["path"], r["status"]) for r in emu.requests()] == [
                ("POST", "/cdn/resources/5/purge", 201)]

With pytest, ``pytest_plugins = ["gcdn.pytest_plugin"]`` in your ``conftest.py`` gives the
``gcdn_emulator`` fixture (one emulator process per session, reset before each test).

The emulator is a separate program, ``gcdn-emulator``, looked for in this order:

1. the ``binary`` argument;
2. the path in the ``GCDN_EMULATOR`` environment variable;
3. the copy bundled in this package (``gcdn/_bin/gcdn-emulator``, in the platform wheels);
4. the repository's build tree, ``<repo>/target/release/gcdn-emulator`` (a checkout);
5. ``gcdn-emulator`` on ``PATH`` (``make install`` puts it in ``<prefix>/bin``).

It listens on 127.0.0.1 only, on a free port, and exits when the ``Emulator`` is stopped (or
when this process dies: it watches its stdin). Its command line and control API are documented
in the repository's ``emulator/README.md``.
"""

import json
import os
import select
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from types import TracebackType
from typing import IO, Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Type, Union

__all__ = ["Emulator", "EmulatorError", "find_binary", "DEFAULT_API_KEY"]

#: The API key the emulator accepts unless told otherwise.
DEFAULT_API_KEY = "test-key"

BINARY_NAME = "gcdn-emulator"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# Fault actions: those that take no parameters, and those whose parameters are an object.
_FLAG_ACTIONS = ("drop", "stall", "close_after")
_OBJECT_ACTIONS = ("respond", "truncate", "trickle", "chunked", "oversized")


class EmulatorError(RuntimeError):
    """The emulator could not be found or started, or refused a control request."""


def _candidates() -> List[Tuple[str, str]]:
    found = []
    env = os.environ.get("GCDN_EMULATOR")
    if env:
        found.append((env, "GCDN_EMULATOR"))
    found.append((os.path.join(_PACKAGE_DIR, "_bin", BINARY_NAME), "bundled in the package"))
    bindings_python = os.path.dirname(_PACKAGE_DIR)
    if os.path.basename(bindings_python) == "python" and os.path.basename(os.path.dirname(bindings_python)) == "bindings":
        repo = os.path.dirname(os.path.dirname(bindings_python))
        found.append((os.path.join(repo, "target", "release", BINARY_NAME), "repository build tree"))
    on_path = shutil.which(BINARY_NAME)
    found.append((on_path or BINARY_NAME, "PATH"))
    return found


def find_binary() -> str:
    """The path of the ``gcdn-emulator`` program (see the module's docs for the search order).

    Raises :class:`EmulatorError`, saying where it looked, if there is none. ``GCDN_EMULATOR``,
    when set, must name the program: a wrong path is an error, not a reason to look further.
    """
    tried = []
    for path, how in _candidates():
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        tried.append("  {} ({}): {}".format(path, how, "not executable" if os.path.isfile(path) else "not found"))
        if how == "GCDN_EMULATOR":
            break
    raise EmulatorError(
        "gcdn.testing: cannot find the {} program. Looked in:\n{}\n"
        "Install a gcdn wheel (it bundles the program), or `make install` / `cargo build --release "
        "--workspace` in the gcdn repository, or set GCDN_EMULATOR to its path.".format(BINARY_NAME, "\n".join(tried))
    )


def _fault_action(action: Union[str, Mapping[str, Any]], params: Dict[str, Any]) -> Dict[str, Any]:
    if isinstance(action, Mapping):
        if params:
            raise TypeError("set_fault: give the action as a dict or as a name with keywords, not both")
        return dict(action)
    if action in _FLAG_ACTIONS:
        if params:
            raise TypeError("set_fault({!r}) takes no parameters, got {}".format(action, sorted(params)))
        return {action: True}
    if action == "delay":
        if set(params) != {"ms"}:
            raise TypeError("set_fault('delay', ms=...) takes exactly ms")
        return {"delay_ms": int(params["ms"])}
    if action == "garbage":
        if set(params) != {"data"}:
            raise TypeError("set_fault('garbage', data=...) takes exactly data (a str)")
        return {"garbage": str(params["data"])}
    if action in _OBJECT_ACTIONS:
        return {action: params}
    raise ValueError(
        "set_fault: unknown action {!r}; one of {}".format(
            action, ", ".join(_FLAG_ACTIONS + _OBJECT_ACTIONS + ("delay", "garbage"))
        )
    )


class Emulator:
    """A ``gcdn-emulator`` process on loopback, and its control API.

    ``Emulator(api_key="test-key", *, resources=(), binary=None, args=(), start_timeout=10.0)``:
    ``resources`` are ids that exist from the start and after every :meth:`reset`; ``args`` are
    more command-line options (for instance ``["--url-requests", "1000"]``, see
    ``gcdn-emulator --help``). Used as a context manager it is started on entry (unless already
    running) and stopped on exit; otherwise call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        resources: Iterable[int] = (),
        binary: Optional[str] = None,
        args: Sequence[str] = (),
        start_timeout: float = 10.0,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self._api_key = api_key
        self._seed = [int(r) for r in resources]
        self._binary = binary
        self._args = [str(a) for a in args]
        self._start_timeout = start_timeout
        self._proc: Optional["subprocess.Popen[bytes]"] = None
        self._url: Optional[str] = None
        self._edge_url: Optional[str] = None

    # -- the process --------------------------------------------------------------------------

    def start(self) -> "Emulator":
        """Starts the process and waits (up to ``start_timeout``) until it serves; returns self."""
        if self._proc is not None:
            raise EmulatorError("the emulator is already running at {}".format(self._url))
        binary = self._binary or find_binary()
        cmd = [binary, "--port", "0", "--edge-port", "0", "--quiet", "--exit-on-stdin-eof"]
        if self._seed:
            cmd += ["--seed", ",".join(str(r) for r in self._seed)]
        cmd += self._args
        # The key goes through the environment, not the command line (visible in `ps`).
        env = dict(os.environ, GCDN_EMULATOR_API_KEY=self._api_key)
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except OSError as e:
            raise EmulatorError("cannot start {}: {}".format(binary, e)) from None
        try:
            assert proc.stdout is not None
            line = _read_line(proc.stdout, self._start_timeout)
            # The edge's line follows at once (--edge-port).
            edge = _read_line(proc.stdout, self._start_timeout) if line.startswith("GCDN_EMULATOR_URL=") else ""
        except BaseException:
            _stop(proc)
            raise
        if not line.startswith("GCDN_EMULATOR_URL=") or not edge.startswith("GCDN_EMULATOR_EDGE_URL="):
            _stop(proc)
            raise EmulatorError(
                "{} did not start: it printed {!r} (exit status {})".format(
                    binary, "\n".join(x for x in (line, edge) if x), proc.poll()
                )
            )
        self._proc, self._url, self._edge_url = proc, line.split("=", 1)[1], edge.split("=", 1)[1]
        return self

    def stop(self) -> None:
        """Stops the process (idempotent)."""
        proc, self._proc, self._url, self._edge_url = self._proc, None, None, None
        if proc is not None:
            _stop(proc)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> "Emulator":
        if self._proc is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:
            pass

    def __repr__(self) -> str:
        return "Emulator({})".format(self._url or "not running")

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``: pass it as the client's ``base_url``."""
        if self._url is None:
            raise EmulatorError("the emulator is not running: use it as a context manager, or call start()")
        return self._url

    @property
    def edge_url(self) -> str:
        """The emulator's edge, ``http://127.0.0.1:PORT``: give it as the run's ``edges`` (probes
        go there with the URL's host in ``Host``). It serves the resources' paths from a cache
        keyed as the resource's options say, answers ``Cache``/``X-Cached-Since``/``X-ID`` and
        is emptied by purges as their items say."""
        if self._edge_url is None:
            raise EmulatorError("the emulator is not running: use it as a context manager, or call start()")
        return self._edge_url

    @property
    def api_key(self) -> str:
        """The API key the emulator accepts (any other gets 401)."""
        return self._api_key

    def client(self, **options: Any) -> Any:
        """A :class:`gcdn.Client` of this emulator; ``options`` as for ``gcdn.Client``."""
        from . import Client

        return Client(self._api_key, base_url=self.url, **options)

    # -- the control API ----------------------------------------------------------------------

    def control(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None) -> Any:
        """Sends a control request (``/__emulator/<path>``) and returns its decoded answer."""
        data = None if body is None else json.dumps(body).encode()
        rq = urllib.request.Request(self.url + "/__emulator/" + path, data=data, method=method)
        rq.add_header("Content-Type", "application/json")
        # A plain opener: a proxy from the environment must not come between us and loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(rq, timeout=10) as rs:
                text = rs.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")
            raise EmulatorError("emulator control {} {}: HTTP {}: {}".format(method, path, e.code, detail)) from None
        except (urllib.error.URLError, OSError) as e:
            raise EmulatorError("emulator control {} {}: {}".format(method, path, e)) from None
        return json.loads(text) if text else None

    def requests(self) -> List[Dict[str, Any]]:
        """The API requests received since the start or the last reset, oldest first, as dicts
        with ``method``, ``path`` (with the query), ``status`` (``0`` if none was answered:
        dropped, stalled...), ``body`` (str) and ``headers`` (lower-cased names)."""
        return list(self.control("GET", "requests"))

    def clear_requests(self) -> None:
        self.control("DELETE", "requests")

    def add_resource(
        self,
        resource_id: int,
        *,
        active: bool = True,
        cname: Optional[str] = None,
        secondary_hostnames: Sequence[str] = (),
        can_purge_by_urls: bool = True,
        refusal: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Adds (or replaces) a CDN resource; returns it as the emulator holds it.

        ``refusal`` (``"primary"``, ``"streaming"`` or ``"custom"``) makes the emulator refuse
        to delete it, with the API's own message. ``cname``, ``secondary_hostnames`` and
        ``can_purge_by_urls`` need an emulator that knows them: an older one raises
        :class:`EmulatorError` rather than ignoring them.
        """
        if isinstance(secondary_hostnames, str):
            raise TypeError("secondary_hostnames is a list of host names, not a str")
        body: Dict[str, Any] = {"id": int(resource_id), "active": bool(active), "refusal": refusal}
        wanted: Dict[str, Any] = {}
        if cname is not None:
            wanted["cname"] = cname
        if secondary_hostnames:
            wanted["secondaryHostnames"] = list(secondary_hostnames)
        if not can_purge_by_urls:
            wanted["can_purge_by_urls"] = False
        body.update(wanted)
        resource = self.control("POST", "resources", body)
        for key, value in wanted.items():
            if not isinstance(resource, dict) or resource.get(key) != value:
                self.remove_resource(int(resource_id))
                raise EmulatorError(
                    "add_resource: this gcdn-emulator does not support {!r} (it answered {}); "
                    "use a newer one".format(key, json.dumps(resource))
                )
        return dict(resource)

    def resource(self, resource_id: int) -> Optional[Dict[str, Any]]:
        """The resource as the emulator holds it, or None if it has none of that id."""
        try:
            return dict(self.control("GET", "resources/{}".format(int(resource_id))))
        except EmulatorError as e:
            if "HTTP 404" in str(e):
                return None
            raise

    def remove_resource(self, resource_id: int) -> bool:
        """Removes a resource; False if there was none."""
        try:
            self.control("DELETE", "resources/{}".format(int(resource_id)))
            return True
        except EmulatorError as e:
            if "HTTP 404" in str(e):
                return False
            raise

    def set_fault(
        self,
        action: Union[str, Mapping[str, Any]],
        *,
        method: Optional[str] = None,
        path_prefix: Optional[str] = None,
        times: int = 1,
        **params: Any,
    ) -> None:
        """Queues a fault for the next ``times`` matching API requests (all if no ``method`` /
        ``path_prefix``); faults are checked in the order queued, before anything else.

        ``set_fault("respond", status=503, body="busy", headers={"Retry-After": "1"})``,
        ``set_fault("delay", ms=1500)``, ``set_fault("drop")``, ``set_fault("stall")``,
        ``set_fault("close_after")``, ``set_fault("truncate", status=400, body="...",
        cut_after=5)``, ``set_fault("trickle", status=201, body="", interval_ms=1000)``,
        ``set_fault("chunked", status=400, body="...", chunk=3)``, ``set_fault("oversized",
        status=500, bytes=50_000_000)``, ``set_fault("garbage", data="HELLO\\r\\n\\r\\n")``, or
        the control API's own action object: ``set_fault({"delay_ms": 1500})``.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        self.control(
            "POST",
            "faults",
            {"method": method, "path_prefix": path_prefix, "times": int(times), "action": _fault_action(action, params)},
        )

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def configure(self, **settings: Any) -> None:
        """Changes limits and modes: ``url_requests``, ``url_window_ms``, ``pattern_requests``,
        ``pattern_window_ms``, ``all_requests``, ``all_window_ms``, ``max_urls``,
        ``max_patterns``, ``retry_after`` (``"none"``, ``"seconds"``, ``"date"``), ``record``."""
        self.control("POST", "config", settings)

    def reset(self) -> None:
        """Back to the start: the seeded resources only, no faults, no recorded requests, empty
        rate windows, the start limits, an empty edge."""
        self.control("POST", "reset")

    # -- the edge -----------------------------------------------------------------------------

    def edge_ignore_purges(self, paths: Iterable[str]) -> None:
        """From now on the edge keeps these paths cached through purges (``/app.js``: that path
        with any query; ``/static/*``: every path starting so): a URL that stays stale."""
        if isinstance(paths, str):
            raise TypeError("paths is a list of paths, not a str")
        self.control("POST", "edge/ignore", {"paths": list(paths)})

    def edge_store(self, resource_id: int, paths: Iterable[str], cached_since: Optional[str] = None) -> List[str]:
        """Caches ``paths`` of a resource at the edge as if fetched at ``cached_since`` (RFC 3339
        in UTC, e.g. ``"2000-01-01T00:00:00Z"``; default now); returns the cache keys used."""
        if isinstance(paths, str):
            raise TypeError("paths is a list of paths, not a str")
        body: Dict[str, Any] = {"resource_id": int(resource_id), "paths": list(paths)}
        if cached_since is not None:
            body["cached_since"] = cached_since
        return list(self.control("POST", "edge/cache", body)["keys"])

    def edge_requests(self) -> List[Dict[str, Any]]:
        """The requests the edge received, oldest first, as dicts with ``method``, ``host``,
        ``path``, ``headers`` (lower-cased names), ``status`` and ``cache`` (``"HIT"``,
        ``"MISS"``, ``"BYPASS"`` or None)."""
        return list(self.control("GET", "edge/requests"))


def _read_line(stream: IO[bytes], timeout: float) -> str:
    """The first line of ``stream``, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise EmulatorError("the emulator printed no URL within {:g} s".format(timeout))
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace").strip()


def _stop(proc: "subprocess.Popen[bytes]") -> None:
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()  # stdin EOF: --exit-on-stdin-eof
            except OSError:
                pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
