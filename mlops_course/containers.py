"""Docker from a notebook: the daemon, images, containers and a local registry.

The Part 2 labs (and later labs that build images) drive Docker through the
``docker`` Python SDK, the same API the ``docker`` command uses. This module
holds what several of them need, with errors that say what to do:

- :func:`connect` finds the daemon the way the ``docker`` command does
  (``DOCKER_HOST``, else the current ``docker context``) and tells "no daemon"
  from "a daemon this user may not use"; :func:`engine_name` says whether
  Docker Engine, Docker Desktop or Podman answered.
- :func:`build_image` builds and times an image, records which steps came
  from the build cache, and on failure raises :class:`BuildError` with the
  failing step and the tail of its output.
- Everything a lab creates carries the label ``mlops-course.lab=<lab>``
  (:func:`labels`), so :func:`cleanup` removes exactly that lab's containers,
  images and volumes, and its registry, and is safe to run twice.
- :func:`ensure_image` pulls a missing base image, or says the one command
  that gets it; :func:`require_free_port` and :func:`wait_for_http` start a
  published server cleanly (a taken port named, a server that died shown
  with its log).
- :func:`layers` lists an image's layers with their sizes;
  :func:`cgroup_limits` reads a container's memory and CPU limits from its
  cgroup files (cgroup v1 and v2). The labs make these calls by hand first
  (``image.history()``, ``exec_run(["cat", ...])``) and use the helpers after.
- :func:`start_registry` runs a local registry on ``127.0.0.1`` only: Debian's
  ``docker-registry`` binary where it is installed, else the ``registry:2``
  image. Docker trusts registries on 127.0.0.0/8 over plain HTTP.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from mlops_course import faults, paths

#: The label every lab object carries; its value is the lab's name.
LABEL = "mlops-course.lab"
#: A second label that tells a lab's registry container from its other containers.
ROLE_LABEL = "mlops-course.role"

#: The image the course's Dockerfiles start from (built locally in CI, pulled on a laptop).
BASE_IMAGE = "python:3.11-slim"

#: The course's local registry listens on 127.0.0.1 on this port (5000 is often
#: taken, by macOS AirPlay among others).
REGISTRY_PORT = 5055
#: Where lab 02-build-and-run publishes its model server on 127.0.0.1 (the lab's serve_port parameter).
SERVE_PORT = 18_000
#: Debian's build of the Distribution registry (``apt-get install docker-registry``).
REGISTRY_BINARY = "docker-registry"
#: The registry image used where the binary is missing.
REGISTRY_IMAGE = "registry:2"

DEFAULT_SOCKET = "unix:///var/run/docker.sock"

#: cgroup files, as a container sees them. cgroup v2 has one tree; v1 one tree per controller.
CGROUP_V2 = {
    "memory": "/sys/fs/cgroup/memory.max",
    "memory_usage": "/sys/fs/cgroup/memory.current",
    "cpu": "/sys/fs/cgroup/cpu.max",
    "cpu_stat": "/sys/fs/cgroup/cpu.stat",
}
CGROUP_V1 = {
    "memory": "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    "memory_usage": "/sys/fs/cgroup/memory/memory.usage_in_bytes",
    "cpu_quota": "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    "cpu_period": "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
    "cpu_stat": "/sys/fs/cgroup/cpu/cpu.stat",
}
#: cgroup v1 reports "no memory limit" as the largest page-aligned signed 64-bit number.
V1_UNLIMITED = 2**62


class ContainerError(faults.LabError):
    """Something Docker-related failed; the message says what to do (a notebook shows it without a traceback)."""


class DaemonUnavailable(ContainerError):
    """No daemon answered, or this user may not use the one that runs."""

    def __init__(self, kind: str, detail: str, fix: str):
        super().__init__(f"{detail[:1].upper()}{detail[1:]}. Fix: {fix}.")
        #: ``"permission"``, ``"no-daemon"``, ``"timeout"`` or ``"other"``.
        self.kind, self.detail, self.fix = kind, detail, fix


class BuildError(ContainerError):
    """``docker build`` failed; ``step`` and ``log_tail`` say where and why."""

    def __init__(self, message: str, step: str = "", log_tail: list[str] | None = None):
        super().__init__(message)
        self.step = step
        self.log_tail = log_tail or []


class PortTaken(ContainerError):
    """A port a lab publishes on 127.0.0.1 is taken; the message names who holds it."""


class ImageMissing(ContainerError):
    """An image the lab starts from is not here, and could not be pulled."""


class RegistryError(ContainerError):
    """The registry did not start, or a push or pull failed."""


# --- the daemon -------------------------------------------------------------------


def docker_host() -> tuple[str, object]:
    """Where the ``docker`` command would connect, and its TLS settings (or None).

    ``DOCKER_HOST`` wins; else the context named by ``DOCKER_CONTEXT`` or
    chosen with ``docker context use`` (Docker Desktop, Colima and Podman
    machines set one); else the default socket.
    """
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"], None
    try:
        from docker.context import ContextAPI

        name = os.environ.get("DOCKER_CONTEXT")
        context = ContextAPI.get_context(name) if name else ContextAPI.get_current_context()
        if context is not None and context.Host:
            return context.Host, context.TLSConfig
    except Exception:  # a broken ~/.docker/config.json must not hide the default socket
        pass
    return DEFAULT_SOCKET, None


def shown_host(host: str) -> str:
    """A daemon address fit to print: a home folder becomes ``~``."""
    home = str(Path.home())
    return host.replace(home, "~") if home not in ("/", "") else host


def explain_connection_error(message: str, host: str) -> tuple[str, str, str]:
    """``(kind, what happened, the fix)`` for an error met while connecting to the daemon at ``host``.

    ``kind`` is ``"permission"`` (a daemon runs, this user may not use it),
    ``"no-daemon"``, ``"timeout"`` or ``"other"``.
    """
    text = message.lower()
    where = shown_host(host)
    if "permission denied" in text or "permissionerror" in text:
        return "permission", (
            f"a Docker daemon runs at {where}, but this user may not use it (permission denied on its socket)"
        ), (
            "on Linux, add yourself to the docker group: `sudo usermod -aG docker $USER`, then log out and in "
            "(or `newgrp docker`) and restart JupyterLab; that group is as powerful as root. Or use Docker "
            "Desktop, or rootless Docker or Podman, whose socket belongs to you"
        )
    if "timed out" in text or "timeout" in text:
        return "timeout", f"the Docker daemon at {where} did not answer in time", (
            "restart it (Linux: `sudo systemctl restart docker`; Docker Desktop: Troubleshoot > Restart)"
        )
    if any(s in text for s in ("no such file", "filenotfounderror", "connection refused", "connectionrefused",
                               "cannot connect", "name or service not known", "failed to establish")):
        return "no-daemon", f"no Docker daemon answers at {where}", (
            "start one. Linux: `sudo systemctl start docker` (Debian/Ubuntu install: `sudo apt-get install "
            "docker.io`); macOS, Windows: open Docker Desktop and wait for 'Engine running'; Podman: "
            "`systemctl --user start podman.socket` and `export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock` "
            "before starting JupyterLab"
        )
    return "other", f"could not talk to the Docker daemon at {where}: {message.strip()[:300]}", (
        "run `docker version` in a terminal: it shows the same problem, and `docker context ls` which daemon it uses"
    )


def connect(timeout: int = 120):
    """A ``docker.DockerClient`` for the daemon the ``docker`` command would use.

    Raises :class:`DaemonUnavailable` with the fix when there is no daemon,
    or when this user may not use it. In a notebook it also installs
    :mod:`mlops_course.faults`, so that a daemon lost later in the lab ends in
    one clear message; and where the daemon comes from a ``docker context``
    (Docker Desktop, Colima), it exports ``DOCKER_HOST`` for this kernel, so
    that ``docker.from_env()`` in a lab reaches the same daemon.
    """
    import docker

    faults.install()
    host, tls = docker_host()
    try:
        if os.environ.get("DOCKER_HOST"):
            client = docker.from_env(timeout=timeout)
        else:
            client = docker.DockerClient(base_url=host, tls=tls or False, timeout=timeout)
        client.ping()
    except Exception as exc:  # DockerException, requests' ConnectionError, OSError: all mean the same here
        raise DaemonUnavailable(*explain_connection_error(f"{type(exc).__name__}: {exc}", host)) from None
    if not os.environ.get("DOCKER_HOST") and host != DEFAULT_SOCKET and not tls:
        os.environ["DOCKER_HOST"] = host
    return client


def engine_name(version: dict) -> str:
    """``"Docker Engine"``, ``"Docker Desktop"`` or ``"Podman"``, from the daemon's ``version()``."""
    components = [str(c.get("Name", "")) for c in version.get("Components") or []]
    platform = str((version.get("Platform") or {}).get("Name", ""))
    if any("podman" in name.lower() for name in components) or "podman" in platform.lower():
        return "Podman"
    if "docker desktop" in platform.lower():
        return "Docker Desktop"
    return "Docker Engine"


def describe_engine(version: dict) -> str:
    """One line: which engine, which version, which API (for the doctor and the labs)."""
    name = engine_name(version)
    components = {str(c.get("Name", "")): c.get("Version", "?") for c in version.get("Components") or []}
    if name == "Podman":
        release = next((v for k, v in components.items() if "podman" in k.lower()), version.get("Version", "?"))
        return f"Podman {release} (Docker API {version.get('ApiVersion', '?')})"
    engine = components.get("Engine", version.get("Version", "?"))
    if name == "Docker Desktop":
        platform = (version.get("Platform") or {}).get("Name", "Docker Desktop")
        return f"{platform}, engine {engine} (API {version.get('ApiVersion', '?')})"
    return f"Docker Engine {engine} (API {version.get('ApiVersion', '?')})"


# --- labels and cleanup ------------------------------------------------------------


def labels(lab: str, **extra: str) -> dict[str, str]:
    """The labels of everything ``lab`` creates: pass them as ``labels=`` to run, build, volumes.create."""
    return {LABEL: lab, **extra}


def label_filter(lab: str) -> dict[str, str]:
    return {"label": f"{LABEL}={lab}"}


def lab_objects(client, lab: str) -> dict[str, list]:
    """The containers (running or not), images (intermediate ones too), volumes and networks labelled for ``lab``."""
    return {
        "containers": client.containers.list(all=True, filters=label_filter(lab)),
        "images": client.images.list(all=True, filters=label_filter(lab)),
        "volumes": client.volumes.list(filters=label_filter(lab)),
        "networks": client.networks.list(filters=label_filter(lab)),
    }


def remove_lab_objects(client, lab: str) -> dict[str, int]:
    """Remove what :func:`lab_objects` finds; returns how many of each went. Safe to run twice."""
    import docker

    removed = {"containers": 0, "images": 0, "volumes": 0, "networks": 0}
    for container in client.containers.list(all=True, filters=label_filter(lab)):
        try:
            container.remove(force=True, v=True)
            removed["containers"] += 1
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: a removal already under way (a container started with auto_remove)
                raise
    # Tagged images first (removing one also removes its untagged parents),
    # then what is left (intermediate images of a failed build), children first.
    for _ in range(5):
        images = client.images.list(all=True, filters=label_filter(lab))
        if not images:
            break
        tagged = [im for im in images if im.tags]
        # A child is newer than its parent: untagged images newest first.
        untagged = sorted((im for im in images if not im.tags), key=lambda im: im.attrs.get("Created", ""), reverse=True)
        for image in tagged + untagged:
            try:
                client.images.remove(image.id, force=True)
                removed["images"] += 1
            except docker.errors.NotFound:
                pass  # gone with a child removed before it
            except docker.errors.APIError:
                pass  # still has a child: the next round removes it
    for volume in client.volumes.list(filters=label_filter(lab)):
        try:
            volume.remove(force=True)
            removed["volumes"] += 1
        except docker.errors.NotFound:
            pass
    for network in client.networks.list(filters=label_filter(lab)):
        try:
            network.remove()
            removed["networks"] += 1
        except docker.errors.NotFound:
            pass
    return removed


def cleanup(lab: str, client=None, workdir: bool = True) -> dict[str, int]:
    """Stop the lab's registry, remove its containers, images, volumes, networks and (``workdir``) its scratch folder.

    Touches nothing without the lab's label: not the base image, not other
    labs' or other people's containers. Safe to run twice, and at the start of
    a lab that was interrupted half-way.
    """
    client = client or connect()
    summary = {"registry": int(stop_registry(lab, client))}
    summary.update(remove_lab_objects(client, lab))
    if workdir:
        summary["workdir"] = int(paths.remove_workdir(lab))
    return summary


def describe_cleanup(summary: dict[str, int]) -> str:
    parts = [f"{n} {what if n > 1 else what[:-1]}" for what, n in summary.items() if n and what not in ("registry", "workdir")]
    if summary.get("registry"):
        parts.insert(0, "the registry")
    if summary.get("workdir"):
        parts.append("the lab's work folder")
    return "removed " + ", ".join(parts) if parts else "nothing to remove"


# --- building ----------------------------------------------------------------------


@dataclass
class Step:
    number: int
    instruction: str
    #: ``"base"`` (FROM), ``"cached"`` (reused from the build cache) or ``"built"``.
    outcome: str = "built"
    output: list[str] = field(default_factory=list)


@dataclass
class Build:
    """What :func:`build_image` did: the image, how long it took, and which steps were rebuilt."""

    image: object
    tag: str
    seconds: float
    steps: list[Step]

    @property
    def cached(self) -> int:
        return sum(s.outcome == "cached" for s in self.steps)

    @property
    def built(self) -> int:
        return sum(s.outcome == "built" for s in self.steps)

    @property
    def size_mb(self) -> float:
        return self.image.attrs["Size"] / 1e6

    def summary(self) -> str:
        return (f"{self.tag}: {self.seconds:.1f} s, {self.built} step(s) built, {self.cached} from the cache, "
                f"{self.size_mb:.0f} MB")


STEP_LINE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
#: The classic builder's own lines between a step's output.
BUILDER_NOISE = re.compile(r"^(---> \S+|---> Running in \w+|Removing intermediate container \w+)$")


def parse_build_log(chunks) -> tuple[list[Step], str | None, str | None]:
    """``(steps, image id, error)`` from the JSON messages of the classic builder's stream."""
    steps: list[Step] = []
    image_id = error = None
    for chunk in chunks:
        if "error" in chunk or "errorDetail" in chunk:
            error = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error")
            continue
        if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
        for line in str(chunk.get("stream", "")).splitlines():
            match = STEP_LINE.match(line.strip())
            if match:
                instruction = match.group(3)
                outcome = "base" if instruction.upper().startswith("FROM ") else "built"
                steps.append(Step(int(match.group(1)), instruction, outcome))
            elif steps and line.strip() == "---> Using cache":
                steps[-1].outcome = "cached"
            elif steps and line.strip() and not BUILDER_NOISE.match(line.strip()):
                steps[-1].output.append(line.rstrip())
    return steps, image_id, error


def dockerfile_labels_lab(text: str, lab: str) -> bool:
    """Does this Dockerfile put the lab's label on its images itself (``LABEL mlops-course.lab=<lab>``)?"""
    pattern = rf"^\s*LABEL\s+.*{re.escape(LABEL)}=[\"']?{re.escape(lab)}[\"']?(\s|$)"
    return re.search(pattern, text, flags=re.MULTILINE | re.IGNORECASE) is not None


def build_image(client, context: Path, tag: str, lab: str, dockerfile: str = "Dockerfile",
                nocache: bool = False, tail: int = 15) -> Build:
    """Build ``context`` into ``tag`` with the classic builder and time it.

    The image must carry the lab's label so that :func:`cleanup` finds it:
    write ``LABEL mlops-course.lab=<lab>`` right after ``FROM`` (then the
    intermediate images of a failed build carry it too); a Dockerfile without
    it gets the label added as a last step. Raises :class:`BuildError` with
    the failing step and the last ``tail`` lines of its output.
    """
    import docker

    context = Path(context)
    if not (context / dockerfile).exists():
        raise BuildError(f"no {dockerfile} in {paths.shown(context)}: write it first")
    extra = {} if dockerfile_labels_lab((context / dockerfile).read_text(), lab) else {"labels": labels(lab)}
    start = time.perf_counter()
    chunks = []
    try:
        for chunk in client.api.build(path=str(context), dockerfile=dockerfile, tag=tag, rm=True, forcerm=True,
                                      nocache=nocache, decode=True, **extra):
            chunks.append(chunk)
    except docker.errors.APIError as exc:  # rejected before any step ran: a bad Dockerfile, say
        raise BuildError(f"building {tag} failed before the first step: {exc.explanation or exc}") from None
    seconds = time.perf_counter() - start
    steps, image_id, error = parse_build_log(chunks)
    if error:
        failing = steps[-1] if steps else None
        where = f"step {failing.number}/{_total_steps(chunks)} `{failing.instruction}`" if failing else "the start"
        lines = failing.output[-tail:] if failing else []
        hint = _build_hint(error, failing)
        message = f"building {tag} failed at {where}: {error.strip()}"
        if lines:
            message += "\nlast lines of that step's output:\n" + "\n".join(f"    {l}" for l in lines)
        if hint:
            message += f"\nhint: {hint}"
        raise BuildError(message, step=failing.instruction if failing else "", log_tail=lines)
    image = client.images.get(image_id or tag)
    return Build(image=image, tag=tag, seconds=seconds, steps=steps)


def _total_steps(chunks) -> int:
    for chunk in chunks:
        match = STEP_LINE.match(str(chunk.get("stream", "")).strip())
        if match:
            return int(match.group(2))
    return 0


def _build_hint(error: str, step: Step | None) -> str:
    text = error.lower()
    if (step is not None and step.outcome == "base") or "pull access denied" in text or "manifest unknown" in text:
        base = step.instruction.split()[1] if step is not None and step.outcome == "base" else BASE_IMAGE
        hint = f"the base image {base} is not on this machine and could not be pulled: `docker pull {base}` online"
        if base == BASE_IMAGE:
            hint += "; without a registry (as in the course's CI), build it with scripts/build_base_image.sh"
        return hint
    if step and "pip install" in step.instruction:
        return "pip failed inside the build: is the package name and version right, and can the daemon reach PyPI?"
    return ""


# --- images and containers ----------------------------------------------------------


def instruction(created_by: str, comment: str = "") -> str:
    """A Dockerfile-like line from an image history entry's ``CreatedBy``."""
    text = created_by.strip()
    text = re.sub(r"^\|\d+(\s+\S+=\S*)*\s+", "", text)  # build arguments the classic builder records
    text = re.sub(r"\b(file|dir|multi):([0-9a-f]{12})[0-9a-f]{52}\b", r"\1:\2…", text)  # checksums of copied files
    if text.startswith("/bin/sh -c #(nop)"):
        return " ".join(text[len("/bin/sh -c #(nop)"):].split())
    if text.startswith("/bin/sh -c "):
        return "RUN " + text[len("/bin/sh -c "):].strip()
    if text.endswith("# buildkit"):
        return text[: -len("# buildkit")].strip()
    if not text:
        return f"(imported: {comment})" if comment else "(imported file system)"
    return text


def human_size(n: int) -> str:
    """Bytes as people read them: ``15 B``, ``4.2 kB``, ``239 MB`` (powers of 1000, like ``docker images``)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}" if n < 100 * scale else f"{n / scale:.0f} {unit}"
    return f"{n} B"


def layers(image, width: int = 72):
    """An image's history in build order: each instruction and the size of the layer it added.

    Instructions that change only the image's settings (LABEL, ENV, CMD,
    WORKDIR of an existing folder) add 0 bytes; RUN, COPY and ADD add a layer
    with the files they changed.
    """
    import pandas as pd

    rows = []
    for entry in reversed(image.history()):
        line = instruction(entry.get("CreatedBy", ""), entry.get("Comment", ""))
        size = int(entry.get("Size", 0))
        rows.append({
            "instruction": line if len(line) <= width else line[: width - 1] + "…",
            "size": human_size(size),
            "bytes": size,
        })
    return pd.DataFrame(rows)


def disk_size(images) -> int:
    """Bytes ``images`` take on disk together: a layer they share is stored, and counted, once."""
    seen = {}
    for image in images:
        for entry in image.history():
            key = entry["Id"] if entry.get("Id") not in (None, "", "<missing>") else (
                entry.get("CreatedBy"), entry.get("Created"), entry.get("Size"))
            seen[key] = int(entry.get("Size", 0))
    return sum(seen.values())


def ensure_image(client, name: str = BASE_IMAGE):
    """The local image ``name``; pulled first (``docker pull``) if it is not here.

    Raises :class:`ImageMissing` with the one command that fixes it when it is
    missing and no registry can provide it (offline, or the name is wrong).
    """
    import docker

    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        pass
    repository, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
    try:
        return client.images.pull(repository, tag=tag)
    except docker.errors.APIError as exc:
        fix = f"`docker pull {name}` on a machine that can reach its registry"
        if name == BASE_IMAGE:
            fix += "; with no registry at all, build it locally with `sudo scripts/build_base_image.sh`"
        reason = (exc.explanation or str(exc)).strip().splitlines()[0][:200]
        raise ImageMissing(f"The image {name} is not on this machine and could not be pulled ({reason}). "
                           f"Fix: {fix}, then rerun the lab.") from None


def run_python(client, lab: str, code: str, image: str = BASE_IMAGE, timeout: float = 120, **kwargs) -> tuple[int, str, object]:
    """Run ``python3 -c code`` in a new labelled container; ``(exit code, output, container)``.

    The container is kept (inspect it, then remove it or let :func:`cleanup` do so).
    """
    container = client.containers.run(image, ["python3", "-c", code], detach=True, labels=labels(lab), **kwargs)
    try:
        status = container.wait(timeout=timeout)
    except Exception:
        container.remove(force=True)
        raise ContainerError(f"the container did not finish in {timeout:.0f} s") from None
    output = container.logs().decode(errors="replace")
    container.reload()
    return int(status.get("StatusCode", -1)), output, container


def read_file(container, path: str) -> str | None:
    """A file's text inside a running container, or None if it does not exist."""
    code, out = container.exec_run(["cat", path])
    return out.decode(errors="replace").strip() if code == 0 else None


def parse_memory_limit(text: str | None) -> int | None:
    """Bytes from ``memory.max`` (v2) or ``memory.limit_in_bytes`` (v1); None means no limit."""
    if text is None:
        return None
    text = text.strip()
    if text in ("", "max"):
        return None
    value = int(text)
    return None if value >= V1_UNLIMITED else value


def parse_cpu_v2(text: str | None) -> float | None:
    """CPUs from ``cpu.max`` (``"50000 100000"`` is half a CPU; ``"max 100000"`` no limit)."""
    if not text:
        return None
    quota, _, period = text.strip().partition(" ")
    if quota == "max":
        return None
    return int(quota) / int(period or 100000)


def parse_cpu_v1(quota: str | None, period: str | None) -> float | None:
    """CPUs from ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` (a quota of -1 is no limit)."""
    if quota is None or int(quota) < 0:
        return None
    return int(quota) / int(period or 100000)


def parse_cpu_stat(text: str | None) -> dict[str, int]:
    """``cpu.stat`` as a dict (v1: nr_periods, nr_throttled, throttled_time in ns; v2 adds usage_usec...)."""
    stats = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            stats[key] = int(value)
    return stats


@dataclass(frozen=True)
class CgroupLimits:
    version: str
    memory_limit: int | None
    cpus: float | None
    files: dict[str, str]


def cgroup_limits(container) -> CgroupLimits:
    """The memory and CPU limits a running container sees in its cgroup files, v1 or v2."""
    v2 = read_file(container, CGROUP_V2["memory"])
    if v2 is not None:
        cpu = read_file(container, CGROUP_V2["cpu"])
        return CgroupLimits("v2", parse_memory_limit(v2), parse_cpu_v2(cpu),
                            {CGROUP_V2["memory"]: v2, CGROUP_V2["cpu"]: cpu or ""})
    memory = read_file(container, CGROUP_V1["memory"])
    quota, period = read_file(container, CGROUP_V1["cpu_quota"]), read_file(container, CGROUP_V1["cpu_period"])
    return CgroupLimits("v1", parse_memory_limit(memory), parse_cpu_v1(quota, period),
                        {CGROUP_V1["memory"]: memory or "", CGROUP_V1["cpu_quota"]: quota or "",
                         CGROUP_V1["cpu_period"]: period or ""})


# --- lock pins ---------------------------------------------------------------------------


def pinned_requirements(packages: list[str], lock: Path = paths.REPO_ROOT / "uv.lock") -> list[str]:
    """``name==version`` for ``packages`` and everything they need on Linux, at the versions in ``lock``.

    The lines of a ``requirements.txt`` that installs in a Linux container
    exactly what the course environment has, whatever the host's platform.
    """
    import tomllib

    from packaging.markers import Marker

    linux = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "extra": "",
             "python_version": "3.11", "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    table = {p["name"]: p for p in tomllib.loads(Path(lock).read_text())["package"]}
    needed: dict[str, str] = {}
    todo = [p.lower() for p in packages]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        if name not in table:
            raise KeyError(f"{name} is not in {Path(lock).name}")
        needed[name] = table[name]["version"]
        for dep in table[name].get("dependencies", []):
            marker = dep.get("marker")
            if marker is None or Marker(marker).evaluate(linux):
                todo.append(dep["name"])
    return [f"{name}=={version}" for name, version in sorted(needed.items())]


# --- ports -------------------------------------------------------------------------------


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Does something listen on ``host:port``, or hold it so that we cannot bind it?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR: connections of a server that just stopped (TIME_WAIT) do not hold the port.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def port_owner(port: int, client=None) -> str | None:
    """Who holds ``port``: a lab's registry, a container that publishes it, or a process; None if unknown."""
    for lab, pid in _registry_pids().items():
        if _is_our_registry(pid, lab) and _config_port(lab) == port:
            return f"the registry of lab {lab} (process {pid}): run that lab's cleanup cell, or containers.cleanup({lab!r})"
    if client is not None:
        try:
            for container in client.containers.list(filters={"publish": str(port)}):
                lab = container.labels.get(LABEL)
                how = f"run lab {lab}'s cleanup cell" if lab else f"`docker rm -f {container.name}`"
                return f"the container {container.name} (image {container.attrs['Config']['Image']}): {how}"
        except Exception:
            pass
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"{proc.name()} (process {conn.pid}): stop it, e.g. `kill {conn.pid}`"
    except Exception:  # psutil may not see other users' sockets (macOS, or no root)
        pass
    return None


def describe_port_owner(port: int, client=None, parameter: str = "registry_port") -> str:
    owner = port_owner(port, client)
    if owner:
        return f"127.0.0.1:{port} is taken by {owner}; or give the lab another port (its {parameter} parameter)"
    return (f"127.0.0.1:{port} is taken by a process this user cannot see: "
            f"`sudo ss -ltnp 'sport = :{port}'` (Linux) or `sudo lsof -i :{port}` (macOS) names it; stop it, "
            f"or give the lab another port (its {parameter} parameter)")


def require_free_port(port: int, parameter: str, client=None) -> int:
    """``port``, if nothing holds it on 127.0.0.1; else :class:`PortTaken` naming the holder and the lab's parameter."""
    if port_in_use(port):
        raise PortTaken(describe_port_owner(port, client, parameter))
    return port


def wait_for_http(url: str, timeout: float = 30, container=None) -> float:
    """Wait until ``url`` answers (any HTTP status); the seconds it took.

    With ``container``, stop waiting as soon as it exits, and say so with the
    end of its log (``docker logs``), instead of waiting out the timeout.
    """
    start = time.monotonic()
    while True:
        try:
            with _DIRECT.open(url, timeout=2):
                return time.monotonic() - start
        except urllib.error.HTTPError:
            return time.monotonic() - start  # it answered, if not with 200
        except (urllib.error.URLError, OSError):
            pass
        if container is not None:
            container.reload()
            if container.status in ("exited", "dead"):
                tail = container.logs(tail=10).decode(errors="replace").strip()
                raise ContainerError(f"the container {container.name} exited before {url} answered; its log ends "
                                     f"with:\n{tail}")
        if time.monotonic() - start > timeout:
            raise ContainerError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.2)


# --- the local registry ----------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    lab: str
    port: int
    #: ``"binary"`` (Debian's docker-registry) or ``"container"`` (the registry:2 image).
    kind: str
    pid: int | None = None
    container: str | None = None

    @property
    def address(self) -> str:
        """What goes in front of an image name: ``127.0.0.1:5055``."""
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/v2/") -> str:
        return f"http://{self.address}{path}"

    def describe(self) -> str:
        what = "Debian's docker-registry binary" if self.kind == "binary" else f"a {REGISTRY_IMAGE} container"
        return f"a Distribution registry ({what}) at {self.address}"


def _registry_dir(lab: str) -> Path:
    return paths.WORK_ROOT / lab / "registry"


def _registry_pids() -> dict[str, int]:
    """Lab name -> pid, from every lab's registry pid file."""
    found = {}
    for pid_file in paths.WORK_ROOT.glob("*/registry/registry.pid"):
        try:
            found[pid_file.parent.parent.name] = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            pass
    return found


def _config_port(lab: str) -> int | None:
    match = re.search(r"addr:\s*127\.0\.0\.1:(\d+)", _read(_registry_dir(lab) / "config.yml"))
    return int(match.group(1)) if match else None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _is_our_registry(pid: int, lab: str) -> bool:
    """Is ``pid`` the docker-registry this course started for ``lab`` (not a pid reused since)?"""
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = proc.cmdline()
    except Exception:
        return False
    config = str(_registry_dir(lab) / "config.yml")
    return any(REGISTRY_BINARY in part for part in cmdline[:1]) and config in cmdline


def registry_config(port: int, storage: Path) -> str:
    """The registry's configuration: file storage under the lab's work folder, 127.0.0.1 only, deletes allowed."""
    return f"""\
version: 0.1
log:
  level: warn
  formatter: text
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
"""


#: Registry processes this Python process started, by pid.
_STARTED: dict[int, subprocess.Popen] = {}


@atexit.register
def _stop_started_registries() -> None:
    """A kernel that shuts down (or a test run that ends) stops the registries it started, by their ids."""
    for proc in list(_STARTED.values()):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()

#: Requests to the local registry never go through a proxy from the environment (http_proxy without a no_proxy).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def start_registry(lab: str, port: int = REGISTRY_PORT, client=None, how: str = "auto",
                   timeout: float = 30) -> Registry:
    """Start a registry for ``lab`` on ``127.0.0.1:port``; ``how`` is ``"auto"``, ``"binary"`` or ``"container"``.

    ``auto`` uses Debian's ``docker-registry`` where it is installed and the
    ``registry:2`` image elsewhere. Raises :class:`PortTaken` naming who holds
    the port, and :class:`RegistryError` if the registry does not answer.
    """
    if port_in_use(port):
        raise PortTaken(describe_port_owner(port, client))
    binary = shutil.which(REGISTRY_BINARY)
    if how == "binary" or (how == "auto" and binary):
        if not binary:
            raise RegistryError(f"no {REGISTRY_BINARY} command: `sudo apt-get install docker-registry` (Debian/Ubuntu), "
                                f"or start_registry(..., how='container') to run the {REGISTRY_IMAGE} image")
        registry = _start_binary(lab, port, binary)
    elif how in ("auto", "container"):
        registry = _start_container(lab, port, client or connect())
    else:
        raise ValueError(f"how must be 'auto', 'binary' or 'container', not {how!r}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with _DIRECT.open(registry.url("/v2/"), timeout=2) as response:
                if response.status == 200:
                    return registry
        except (urllib.error.URLError, OSError):
            pass
        if registry.pid and registry.pid in _STARTED and _STARTED[registry.pid].poll() is not None:
            break
        time.sleep(0.2)
    log = _read(_registry_dir(lab) / "registry.log").strip().splitlines()[-10:]
    stop_registry(lab, client)
    raise RegistryError(f"the registry did not answer on {registry.address} within {timeout:.0f} s"
                        + ("; its log ends with:\n" + "\n".join(log) if log else ""))


def _start_binary(lab: str, port: int, binary: str) -> Registry:
    folder = _registry_dir(lab)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"
    config.write_text(registry_config(port, folder / "data"))
    with open(folder / "registry.log", "ab") as log:
        # Its own session, so that a Ctrl-C in a terminal or an interrupted cell does not reach it; the
        # kernel stops it when it shuts down, and the pid file lets cleanup find it if the kernel died.
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _STARTED[proc.pid] = proc
    (folder / "registry.pid").write_text(f"{proc.pid}\n")
    return Registry(lab, port, "binary", pid=proc.pid)


def _start_container(lab: str, port: int, client) -> Registry:
    import docker

    try:
        client.images.get(REGISTRY_IMAGE)
    except docker.errors.ImageNotFound:
        try:
            client.images.pull(REGISTRY_IMAGE)
        except docker.errors.APIError as exc:
            raise RegistryError(
                f"the {REGISTRY_IMAGE} image is not here and cannot be pulled ({exc.explanation or exc}). "
                f"Fix: connect to the internet once, or install Debian's registry (`sudo apt-get install docker-registry`)"
            ) from None
    container = client.containers.run(
        REGISTRY_IMAGE,
        detach=True,
        name=f"mlops-course-registry-{lab}",
        labels=labels(lab, **{ROLE_LABEL: "registry"}),
        ports={"5000/tcp": ("127.0.0.1", port)},
        environment={"REGISTRY_STORAGE_DELETE_ENABLED": "true"},
    )
    return Registry(lab, port, "container", container=container.name)


def stop_registry(lab: str, client=None) -> bool:
    """Stop ``lab``'s registry (process or container) and forget it; True if one was running. Safe to run twice."""
    stopped = False
    pid_file = _registry_dir(lab) / "registry.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None:
        if _is_our_registry(pid, lab):
            proc = _STARTED.pop(pid, None)
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            else:  # started by an earlier kernel: end it by its id, after checking it is ours
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    if not _is_our_registry(pid, lab):
                        break
                    time.sleep(0.2)
            stopped = True
        pid_file.unlink(missing_ok=True)
    if client is not None:
        import docker

        for container in client.containers.list(all=True, filters={"label": [f"{LABEL}={lab}", f"{ROLE_LABEL}=registry"]}):
            try:
                container.remove(force=True, v=True)
                stopped = True
            except docker.errors.NotFound:
                pass
    return stopped


def registry_request(registry: Registry, path: str, method: str = "GET", accept: str | None = None, raw: bool = False):
    """``(status, headers, body)`` of one call to the registry's HTTP API: the body parsed if it is JSON, or
    (``raw``) its bytes as sent."""
    request = urllib.request.Request(registry.url(path), method=method)
    if accept:
        request.add_header("Accept", accept)
    try:
        with _DIRECT.open(request, timeout=10) as response:
            status, headers, content = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, headers, content = exc.code, dict(exc.headers), exc.read()
    if raw:
        return status, headers, content
    try:
        body = json.loads(content) if content else None
    except json.JSONDecodeError:
        body = content.decode(errors="replace")
    return status, headers, body


#: The manifest format the classic image store pushes for a single-platform image.
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
#: Every manifest format a current Docker may push: Docker's and OCI's, single images and indexes of several.
MANIFESTS = ", ".join([
    MANIFEST_V2,
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
])


def image_manifest(registry: Registry, repository: str, reference: str, architecture: str | None = None) -> dict:
    """The manifest of one image (config and layers) under a tag or digest.

    An index (a multi-platform image, or one with build attestations, as
    Docker Desktop pushes) is followed to the manifest for ``architecture``
    (default: this machine's, as Docker names it).
    """
    status, _, manifest = registry_request(registry, f"/v2/{repository}/manifests/{reference}", accept=MANIFESTS)
    if status != 200:
        raise RegistryError(f"{repository}:{reference} is not in the registry at {registry.address} (HTTP {status})")
    if "manifests" not in manifest:
        return manifest
    arch = architecture or {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    for entry in manifest["manifests"]:
        platform = entry.get("platform", {})
        if platform.get("os") == "linux" and platform.get("architecture") == arch:
            return image_manifest(registry, repository, entry["digest"], arch)
    raise RegistryError(f"{repository}:{reference} has no image for linux/{arch}")


@dataclass
class Push:
    reference: str
    digest: str
    #: Layer ids uploaded, and those the registry already had.
    pushed: list[str]
    existed: list[str]


def push(client, repository: str, tag: str) -> Push:
    """``docker push repository:tag``; the manifest digest and which layers were uploaded."""
    pushed, existed, digest, error = [], [], None, None
    for chunk in client.api.push(repository, tag=tag, stream=True, decode=True):
        if "error" in chunk:
            error = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
        status = chunk.get("status", "")
        if status == "Pushed":
            pushed.append(chunk.get("id", ""))
        elif status == "Layer already exists":
            existed.append(chunk.get("id", ""))
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = aux["Digest"]
    if error or not digest:
        hint = ""
        if error and ("connection refused" in error.lower() or "no such host" in error.lower()):
            hint = " Is the registry running? (start_registry)"
        elif error and "https" in error.lower():
            hint = (" The daemon wants HTTPS: use the address 127.0.0.1:<port> (Docker trusts 127.0.0.0/8 over "
                    "HTTP), or add the registry to insecure-registries in the daemon's settings.")
        raise RegistryError(f"pushing {repository}:{tag} failed: {error or 'no digest in the answer'}.{hint}")
    return Push(f"{repository}:{tag}", digest, pushed, existed)


if __name__ == "__main__":  # a quick look: python -m mlops_course.containers
    try:
        print(describe_engine(connect().version()))
    except ContainerError as exc:
        sys.exit(str(exc))
