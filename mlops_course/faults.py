"""One clear message, not a long traceback, when a lab loses a connection.

A Docker daemon that stops in the middle of a lab (a laptop that slept,
Docker Desktop restarting), a model server that died, a Kubernetes API server
that went away: each surfaces as a chain of exceptions from the docker SDK,
requests, urllib3 or the kubernetes client, printed as a hundred lines of
traceback that bury the one fact that matters. :func:`install` registers an
IPython handler that turns such an error into three sentences: what was lost,
how to bring it back, and "rerun the notebook from the top: the lab cleans up
what the last run left". Any other error keeps its usual traceback.

Errors the course raises on purpose (:class:`LabError` and its subclasses,
whose message already says what to do) are shown as their message alone.

The labs install it through their first call into the helpers
(``containers.connect``, which the doctor calls); later parts call
:func:`install` themselves. Outside IPython it does nothing.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

RERUN = "Then rerun the notebook from the top: the lab cleans up what the last run left."


class LabError(RuntimeError):
    """An error whose message says what happened and what to do: shown without a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of the traceback
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class Lost:
    """What a lost connection was to, and how to bring it back."""

    what: str
    where: str
    why: str
    fix: str

    def message(self) -> str:
        where = f" at {self.where}" if self.where else ""
        return f"Lost the connection to {self.what}{where} ({self.why}). {self.fix} {RERUN}"


DOCKER_FIX = ("Start it again: Linux `sudo systemctl start docker`; Docker Desktop: wait until it shows "
              "'Engine running' (or Troubleshoot > Restart); Podman: `systemctl --user start podman.socket`. "
              "`docker version` answers when it is back.")
KUBERNETES_FIX = ("Check the cluster with `kubectl cluster-info`; for the course's kind cluster run `cluster/status`, "
                  "and `cluster/up` if it is down.")
HTTP_FIX = ("The server behind it stopped or never started: look at its logs (`docker logs <container>` for a "
            "server in a container) and start it again.")

#: The leaf errors that mean "the other side is not there (any more)", as they read in a message.
CAUSES = [
    ("connection refused", "connection refused"),
    ("no such file or directory", "its socket is gone"),
    ("filenotfounderror", "its socket is gone"),
    ("remotedisconnected", "it closed the connection mid-request"),
    ("remote end closed connection", "it closed the connection mid-request"),
    ("connection reset", "the connection was reset"),
    ("connection aborted", "the connection was aborted"),
    ("broken pipe", "the connection broke"),
    ("timed out", "no connection could be made in time"),
    ("name or service not known", "its name does not resolve"),
    ("failed to establish a new connection", "no connection could be made"),
    ("max retries exceeded", "no connection could be made"),
]


def _chain(exc: BaseException):
    """``exc`` and every exception behind it: causes, contexts, and those that requests and urllib3 wrap in args."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        # urllib3 and urllib keep the underlying error in .reason, but the kubernetes client's
        # ApiException and urllib's URLError may keep a status text there: only exceptions are followed.
        todo += [e.__cause__, None if e.__suppress_context__ else e.__context__]
        todo += [a for a in (getattr(e, "reason", None), *getattr(e, "args", ())) if isinstance(a, BaseException)]


def _names(exc: BaseException) -> set[str]:
    names = set()
    for e in _chain(exc):
        for klass in type(e).__mro__:
            names.add(f"{klass.__module__}.{klass.__qualname__}")
    return names


CONNECTION_TYPES = {
    "builtins.ConnectionError",  # ConnectionRefusedError, ConnectionResetError, BrokenPipeError...
    "socket.gaierror",
    "requests.exceptions.ConnectionError",  # ConnectTimeout too
    "urllib3.exceptions.ProtocolError",
    "urllib3.exceptions.MaxRetryError",
    "urllib3.exceptions.NewConnectionError",
    "urllib3.exceptions.ConnectTimeoutError",
    "http.client.RemoteDisconnected",
    "urllib.error.URLError",
}
#: A read that timed out reached a server that is there but slow (a container.wait that ran out of time, say):
#: not a lost connection, so it keeps its traceback.
SLOW_TYPES = {"requests.exceptions.ReadTimeout", "urllib3.exceptions.ReadTimeoutError"}


def _is_connection_error(exc: BaseException) -> bool:
    names = _names(exc)
    if names & SLOW_TYPES:
        return False
    if names & CONNECTION_TYPES:
        return True
    # The docker SDK wraps a failed first request in a bare DockerException whose text holds the cause.
    text = " ".join(str(e) for e in _chain(exc)).lower()
    return "docker.errors.DockerException" in names and any(k in text for k, _ in CAUSES)


def _why(exc: BaseException) -> str:
    text = " ".join(f"{type(e).__name__} {e}" for e in _chain(exc)).lower()
    for key, why in CAUSES:
        if key in text:
            return why
    return type(exc).__name__


def _target(exc: BaseException) -> tuple[str, str]:
    """``(kind, address)``: ``"docker"``, ``"kubernetes"`` or ``"http"``, and the address called, if the errors name one."""
    kind, url = "http", ""
    for e in _chain(exc):
        module = type(e).__module__
        if module.startswith("docker."):
            kind = "docker"
        elif module.startswith("kubernetes.") and kind == "http":
            kind = "kubernetes"
        pool = e.__dict__.get("pool") if hasattr(e, "__dict__") else None  # not the deprecated property
        if pool is not None:
            if type(pool).__module__.startswith("docker."):
                kind = "docker"
            elif not url and getattr(pool, "host", None):
                url = f"{getattr(pool, 'scheme', 'http')}://{pool.host}" + (f":{pool.port}" if pool.port else "")
        request = getattr(e, "request", None)
        address = str(getattr(request, "url", "") or "")
        if address.startswith("http+docker"):
            kind = "docker"
        elif address and not url:
            url = address
    if not url:
        match = re.search(r"host='([^']+)', port=(\d+)", " ".join(str(e) for e in _chain(exc)))
        if match:
            url = f"{match.group(1)}:{match.group(2)}"
    if kind == "http" and re.search(r":(6443|8443)\b", url):
        kind = "kubernetes"
    return kind, url


def _docker_host() -> str:
    try:
        from mlops_course import containers

        return containers.shown_host(containers.docker_host()[0])
    except Exception:
        return ""


def explain(exc: BaseException) -> Lost | None:
    """What a lost connection ``exc`` was to, or None if ``exc`` is not a lost connection."""
    if not _is_connection_error(exc):
        return None
    kind, url = _target(exc)
    why = _why(exc)
    if kind == "docker":
        return Lost("the Docker daemon", _docker_host(), why, DOCKER_FIX)
    if kind == "kubernetes":
        return Lost("the Kubernetes API server", url, why, KUBERNETES_FIX)
    return Lost("a server", url, why, HTTP_FIX)


def short_traceback(value: BaseException) -> list[str] | None:
    """The lines to show instead of a traceback, or None to show the usual one."""
    if isinstance(value, LabError):
        return [f"{type(value).__name__}: {value}"]
    lost = explain(value)
    return None if lost is None else [f"{type(value).__name__}: {lost.message()}"]


def handler(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler: the short message for a lost connection or a LabError, else the usual traceback."""
    lines = short_traceback(value)
    if lines is None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    # What the kernel sends as the cell's error output: the notebook shows these lines, and a run stops here.
    shell._showtraceback(etype, value, lines)
    return lines


def handled_types() -> tuple[type, ...]:
    """The exception types the handler is asked about (it still passes on those that are no lost connection)."""
    import http.client
    import urllib.error

    types: list[type] = [LabError, ConnectionError, TimeoutError, socket.gaierror, http.client.HTTPException,
                         urllib.error.URLError]
    for module, names in (("docker.errors", ["DockerException"]),
                          ("requests.exceptions", ["RequestException"]),
                          ("urllib3.exceptions", ["HTTPError"]),
                          ("kubernetes.client.exceptions", ["OpenApiException"])):
        try:
            imported = __import__(module, fromlist=names)
        except ImportError:
            continue
        types += [getattr(imported, n) for n in names if hasattr(imported, n)]
    return tuple(types)


def install(shell=None) -> bool:
    """Register the handler with IPython (``shell``, else the running one); False outside IPython. Safe to repeat."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc(handled_types(), handler)
    return True
