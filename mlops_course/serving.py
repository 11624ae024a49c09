"""Part 8's plumbing: a model server script run as a subprocess on 127.0.0.1, and a bounded load.

The labs of Part 8 write their KServe model servers themselves (a
``kserve.Model`` subclass and ``kserve.ModelServer`` in a script); this module
carries only what is not the lesson:

- :func:`free_port` asks the system for a port nobody listens on, and
  :func:`require_free_port` says in one sentence who holds a taken one;
- :func:`start` runs a server script with this kernel's Python, in its own
  session, logging to a file in the lab's work folder, and waits until it
  answers; a script that exits first (a missing model file, a port taken)
  ends in :class:`ServerError` with the last line it wrote, not a traceback;
- :func:`stop` and :func:`stop_all` end the servers a lab started, by their
  process ids, after checking each id is still that lab's server; a kernel
  that shuts down stops the servers it started;
- :func:`listening` lists the addresses a process listens on (is it really
  127.0.0.1 only?);
- :func:`measure` sends requests for a bounded number of requests *and* a
  bounded time, from one or several threads, and records each latency:
  lab 8a writes that loop by hand first.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlops_course import containers, faults, paths

HOST = "127.0.0.1"


class ServerError(faults.LabError):
    """A model server did not start or answer; the message says why and what to do."""


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on now (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def require_free_port(port: int, parameter: str = "port") -> int:
    """``port`` if nothing holds it on 127.0.0.1, else :class:`ServerError` in one sentence."""
    if containers.port_in_use(port):
        owner = containers.port_owner(port)
        who = f"by {owner.split(':')[0]}" if owner else "by a process this user cannot see"
        raise ServerError(f"127.0.0.1:{port} is already in use ({who}): stop what holds it, or set {parameter} = 0 "
                          "in the parameters cell so that the lab finds a free port")
    return port


@dataclass
class Server:
    """A model server process this kernel started."""

    name: str
    port: int
    process: subprocess.Popen
    log: Path
    started_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_lines(self, tail: int | None = None) -> list[str]:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return lines[-tail:] if tail else lines


#: Servers this Python process started, by pid.
_STARTED: dict[int, Server] = {}
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy


def _pid_file(lab: str, name: str) -> Path:
    return paths.WORK_ROOT / lab / "servers" / f"{name}.pid"


def _last_words(lines: list[str]) -> str:
    """The line of a dead server's log that says why: its exit message, else the last error line."""
    useful = [line.strip() for line in lines if line.strip() and not line.startswith((" ", "\t", "Traceback"))]
    for line in reversed(useful):
        if "error" in line.lower() or "no model" in line.lower():
            return line
    return useful[-1] if useful else "(it wrote nothing)"


def get(url: str, timeout: float = 5) -> tuple[int, dict | str]:
    """``(status, body)`` of a GET to a loopback server, the body parsed if it is JSON."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode(errors="replace")
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def start(lab: str, name: str, script: Path, args: list[str], port: int, ready: str = "/v2/health/ready",
          env: dict[str, str] | None = None, timeout: float = 120) -> Server:
    """Run ``python script --http_port PORT *args`` in the script's folder and wait until ``ready`` answers 200.

    The server runs in a session of its own (an interrupted cell does not
    reach it), writes its log to ``servers/NAME.log`` in the lab's work folder
    and its pid to ``servers/NAME.pid``, so that :func:`stop_all` finds it even
    from another kernel. Raises :class:`ServerError` when the port is taken,
    when the process exits before it is ready (with its last line), or when it
    is not ready within ``timeout`` seconds. ``env`` adds environment
    variables to this kernel's.
    """
    require_free_port(port)
    script = Path(script)
    folder = paths.WORK_ROOT / lab / "servers"
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    begin = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, script.name, "--http_port", str(port), *args], cwd=script.parent,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    server = Server(name, port, process, log)
    _STARTED[process.pid] = server
    _pid_file(lab, name).write_text(f"{process.pid}\n")
    while True:
        if process.poll() is not None:
            _forget(lab, server)
            raise ServerError(f"the {name} server exited (code {process.returncode}) before it was ready: "
                              f"{_last_words(server.log_lines())}")
        try:
            status, _ = get(server.url + ready, timeout=2)
            if status == 200:
                server.started_seconds = time.monotonic() - begin
                return server
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() - begin > timeout:
            stop(server, lab)
            raise ServerError(f"the {name} server did not answer {ready} within {timeout:.0f} s; its log ends with: "
                              f"{_last_words(server.log_lines())}")
        time.sleep(0.2)


def _forget(lab: str, server: Server) -> None:
    _STARTED.pop(server.pid, None)
    _pid_file(lab, server.name).unlink(missing_ok=True)


def stop(server: Server, lab: str | None = None, timeout: float = 15) -> bool:
    """Stop one server (SIGTERM, then SIGKILL after ``timeout``); True if it was running. Safe to call twice."""
    was_running = server.running()
    if was_running:
        server.process.terminate()
        try:
            server.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=timeout)
    if lab:
        _forget(lab, server)
    else:
        _STARTED.pop(server.pid, None)
    return was_running


def _is_lab_server(pid: int, lab: str) -> bool:
    """Is ``pid`` a server script running in ``lab``'s work folder (not a pid reused since)?"""
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return Path(proc.cwd()).is_relative_to(paths.WORK_ROOT / lab) and "--http_port" in proc.cmdline()
    except Exception:
        return False


def stop_all(lab: str, timeout: float = 15) -> list[str]:
    """Stop every server ``lab`` started, in this kernel or an earlier one (by its pid file); their names."""
    stopped = []
    for server in [s for s in _STARTED.values() if (paths.WORK_ROOT / lab) in s.log.parents]:
        if stop(server, lab, timeout):
            stopped.append(server.name)
    folder = paths.WORK_ROOT / lab / "servers"
    for pid_file in sorted(folder.glob("*.pid")) if folder.exists() else []:
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None and _is_lab_server(pid, lab):
            os.kill(pid, signal.SIGTERM)  # started by an earlier kernel: ended by its id, after checking it is ours
            deadline = time.monotonic() + timeout
            while _is_lab_server(pid, lab) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _is_lab_server(pid, lab):
                os.kill(pid, signal.SIGKILL)
            stopped.append(pid_file.stem)
        pid_file.unlink(missing_ok=True)
    return stopped


@atexit.register
def _stop_started() -> None:
    """A kernel that shuts down stops the servers it started, by their ids."""
    for server in list(_STARTED.values()):
        if server.running():
            server.process.terminate()
            try:
                server.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.process.kill()


def listening(pid: int) -> list[str]:
    """The ``address:port`` pairs process ``pid`` listens on (TCP), sorted."""
    import psutil

    proc = psutil.Process(pid)
    conns = proc.net_connections(kind="inet") if hasattr(proc, "net_connections") else proc.connections(kind="inet")
    return sorted({f"{c.laddr.ip}:{c.laddr.port}" for c in conns if c.status == psutil.CONN_LISTEN})


# --- load -----------------------------------------------------------------------------------


@dataclass
class Load:
    """What :func:`measure` saw: one latency per answered request, and the wall time."""

    label: str
    clients: int
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    rows_per_request: int = 1

    def summary(self) -> dict:
        import numpy as np

        ms = np.array(self.latencies) * 1000
        return {
            "requests": len(ms),
            "clients": self.clients,
            "p50 (ms)": float(np.percentile(ms, 50)),
            "p90 (ms)": float(np.percentile(ms, 90)),
            "p99 (ms)": float(np.percentile(ms, 99)),
            "requests/s": len(ms) / self.seconds,
            "trips/s": len(ms) * self.rows_per_request / self.seconds,
            "errors": self.errors,
        }


def measure(send, label: str, requests: int = 200, seconds: float = 10.0, clients: int = 1,
            rows_per_request: int = 1) -> Load:
    """Call ``send(session)`` until ``requests`` have been sent or ``seconds`` have passed, from ``clients`` threads.

    ``send`` makes one request with the ``requests.Session`` it is given and
    returns the response; a status other than 200 counts as an error. Both
    bounds hold: no thread starts a request after the deadline, and no more
    than ``requests`` are sent in all.
    """
    import requests as http

    load = Load(label, clients, rows_per_request=rows_per_request)
    lock = threading.Lock()
    budget = [requests]
    deadline = time.monotonic() + seconds

    def worker():
        with http.Session() as session:
            session.trust_env = False  # loopback only: no proxy from the environment
            while time.monotonic() < deadline:
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                start = time.perf_counter()
                response = send(session)
                took = time.perf_counter() - start
                with lock:
                    if response.status_code == 200:
                        load.latencies.append(took)
                    else:
                        load.errors += 1

    begin = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(worker) for _ in range(clients)]:
            future.result()
    load.seconds = time.perf_counter() - begin
    return load


#: Is something listening on 127.0.0.1:port (or holding it)? The Docker helpers' check, for the cleanup cells.
port_in_use = containers.port_in_use
