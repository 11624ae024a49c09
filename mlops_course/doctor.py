"""The doctor: finds what a lab needs and is missing, before the lab does.

Run ``scripts/course doctor`` (all tiers) or ``scripts/course doctor --tier
docker``. Each check reports ok, warning or failure; every failure says the
exact fix. Labs call :func:`require` first, so a missing Docker daemon is one
clear message instead of a traceback in the middle of a lab. The test suite
asks :func:`tier_problems` why a tier is skipped, so the skip reason and the
doctor never disagree.

Only a missing capability is a failure (no daemon, no cluster, no base image,
a component not installed): a tier that has it runs. Thresholds such as memory
and disk are warnings, because they are measured with whatever already runs
(dockerd, a cluster) and a tier that works must not be skipped for them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from mlops_course import containers
from mlops_course.paths import REPO_ROOT

OK, WARNING, FAILURE = "ok", "warning", "failure"

#: Tiers in the order a learner meets them. Every tier needs the local checks;
#: docker adds a daemon and the base image; cluster adds a reachable cluster
#: (which need not be made with Docker: CI's offline cluster is not); kubeflow
#: adds the components a lab names (``metadata.course.components``), installed and ready.
TIERS = ("local", "docker", "cluster", "kubeflow")
NEEDS = {"local": set(), "docker": {"docker"}, "cluster": {"cluster"}, "kubeflow": {"cluster"}, "all": {"docker", "cluster"}}

#: The Jupyter kernels the set-up registers: name -> the environment it runs.
#: As in scripts/course: the repository root is the main environment, and each
#: envs/NAME with a uv.lock is one more (kernel "mlops-course-NAME").
KERNELS = {
    "mlops-course": REPO_ROOT / ".venv",
    **{f"mlops-course-{d.name}": d / ".venv" for d in sorted((REPO_ROOT / "envs").glob("*")) if (d / "uv.lock").exists()},
}

#: Memory (GiB, available) and disk (GiB, free) below which the doctor warns: a
#: tier may still run, and what is running already (dockerd, a cluster) is not counted back.
MIN_MEMORY_GIB = {"local": 2, "docker": 3, "cluster": 6, "kubeflow": 10}
MIN_DISK_GIB = {"local": 3, "docker": 10, "cluster": 20, "kubeflow": 30}

#: What kind recommends for several clusters' worth of file watchers.
INOTIFY_MIN = {"fs.inotify.max_user_watches": 524288, "fs.inotify.max_user_instances": 512}

#: Ports a lab or the set-up binds on 127.0.0.1; a taken one is a warning here
#: (JupyterLab moves to the next free port), a lab that needs one checks it itself.
PORTS = {8888: "JupyterLab"}
#: Ports the docker tier's labs bind on 127.0.0.1; a taken one is a warning (the lab names who holds it).
DOCKER_PORTS = {
    containers.REGISTRY_PORT: "the local registry of lab 02-registry",
    containers.SERVE_PORT: "the model server of lab 02-build-and-run",
}
#: Free space (GiB) under Docker's data folder (docker info: DockerRootDir) below which the doctor warns.
DOCKER_ROOT_MIN_FREE_GIB = 5


class CourseEnvironmentError(RuntimeError):
    """Raised by :func:`require` when a lab's tier is not ready; the message says how to fix it."""


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


# --- individual checks --------------------------------------------------------


def check_python() -> Check:
    v = sys.version_info
    if (v.major, v.minor) == (3, 11):
        return Check("python", OK, f"Python {platform.python_version()} ({shown_prefix()})")
    return Check(
        "python",
        FAILURE,
        f"this kernel runs Python {v.major}.{v.minor}; the course needs 3.11",
        "open the notebook with the 'MLOps course (Python 3.11)' kernel (Kernel > Change Kernel), "
        "or run scripts/course lab",
    )


def shown_prefix() -> str:
    prefix = Path(sys.prefix).resolve()
    try:
        return str(prefix.relative_to(REPO_ROOT))
    except ValueError:
        return "an environment outside the course checkout"


def check_kernel_environment(env: str = "mlops-course") -> Check:
    """Is this process running in the environment of kernel ``env``?"""
    expected = KERNELS[env].resolve()
    if Path(sys.prefix).resolve() == expected:
        return Check("kernel", OK, f"running in the {env} environment")
    return Check(
        "kernel",
        FAILURE,
        f"running in {shown_prefix()}, not the {env} environment",
        f"run scripts/course lab, then pick the '{env}' kernel (Kernel > Change Kernel)",
    )


def locked_packages(project: Path = REPO_ROOT) -> dict[str, str]:
    """The packages ``project/uv.lock`` installs on this platform, with their versions.

    The lock covers every platform; a package is needed here only if a chain
    of dependencies whose markers hold on this machine reaches it from the
    project itself.
    """
    import tomllib

    from packaging.markers import Marker

    packages = {p["name"]: p for p in tomllib.loads((project / "uv.lock").read_text())["package"]}
    roots = [name for name, p in packages.items() if "editable" in p.get("source", {}) or "virtual" in p.get("source", {})]
    needed, todo = {}, list(roots)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed[name] = packages[name].get("version", "")
        for dep in packages[name].get("dependencies", []):
            marker = dep.get("marker")
            if marker is None or Marker(marker).evaluate({"extra": ""}):
                todo.append(dep["name"])
    return needed


def lock_mismatches(project: Path = REPO_ROOT) -> dict[str, tuple[str, str]]:
    """``{package: (locked, installed)}`` for every package this Python has at another version, or not at all."""
    from importlib import metadata

    mismatched = {}
    for name, version in locked_packages(project).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            mismatched[name] = (version, installed)
    return mismatched


def check_environments() -> list[Check]:
    """Each environment exists and was installed from its current lock."""
    checks = []
    for name, env in KERNELS.items():
        project = env.parent
        stamp = env / ".course-lock-sha256"
        lock = project / "uv.lock"
        if not (env / "bin" / "python").exists():
            checks.append(Check(f"env {name}", FAILURE, "not installed", "run scripts/course setup"))
        elif not stamp.exists() or stamp.read_text().strip() != _sha256(lock):
            checks.append(Check(f"env {name}", FAILURE, "installed from an older uv.lock", "run scripts/course setup"))
        else:
            checks.append(Check(f"env {name}", OK, "installed from the current uv.lock"))
    return checks


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_kernels() -> Check:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        # The set-up registers every kernel in the main environment, where
        # JupyterLab looks; a kernel running in another environment looks there too.
        manager = KernelSpecManager()
        manager.kernel_dirs.append(str(KERNELS["mlops-course"] / "share" / "jupyter" / "kernels"))
        found = set(manager.find_kernel_specs())
    except Exception as exc:  # a broken Jupyter install is itself the finding
        return Check("kernels", FAILURE, f"cannot list Jupyter kernels: {exc}", "run scripts/course setup")
    missing = sorted(set(KERNELS) - found)
    if missing:
        return Check("kernels", FAILURE, f"not registered: {', '.join(missing)}", "run scripts/course setup")
    return Check("kernels", OK, ", ".join(sorted(KERNELS)))


def check_memory(tier: str = "local") -> Check:
    import psutil

    available = psutil.virtual_memory().available / 2**30
    need = MIN_MEMORY_GIB[tier]
    detail = f"{available:.1f} GiB available, the {tier} tier wants {need} GiB"
    if available < need:
        return Check(
            "memory",
            WARNING,
            f"{detail} (measured with what already runs, Docker and a cluster included): labs may be slow or run out",
            "close other programs (browsers, IDEs, other clusters) or use a bigger machine",
        )
    return Check("memory", OK, detail)


def check_disk(tier: str = "local", path: Path = REPO_ROOT) -> Check:
    free = shutil.disk_usage(path).free / 2**30
    need = MIN_DISK_GIB[tier]
    detail = f"{free:.0f} GiB free, the {tier} tier wants {need} GiB"
    if free < need:
        return Check(
            "disk",
            WARNING,
            f"{detail}: a lab may run out of space part way",
            "free disk space: `docker system prune` removes unused images, `uv cache prune` old downloads",
        )
    return Check("disk", OK, detail)


def check_ports(ports: dict[int, str] = PORTS, required: bool = False) -> list[Check]:
    checks = []
    for port, user in ports.items():
        if containers.port_in_use(port):
            checks.append(
                Check(
                    f"port {port}",
                    FAILURE if required else WARNING,
                    f"127.0.0.1:{port} ({user}) is already in use",
                    f"stop what listens there (`lsof -i :{port}` or `ss -ltnp 'sport = :{port}'` shows it)",
                )
            )
        else:
            checks.append(Check(f"port {port}", OK, f"127.0.0.1:{port} ({user}) is free"))
    return checks


def check_architecture() -> Check:
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "arm64", "aarch64"):
        return Check("cpu", OK, f"{machine}, {os.cpu_count()} cores")
    return Check("cpu", WARNING, f"{machine}: images in this course are built for amd64 and arm64 only", "use an amd64 or arm64 machine")


def _run(cmd: list[str], timeout: float = 15) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def check_docker() -> Check:
    """A daemon this user may use: tells "no daemon" from "permission denied", and names the engine."""
    if shutil.which("docker") is None:
        return Check(
            "docker",
            FAILURE,
            "no docker command",
            "install Docker Engine (Linux: `sudo apt-get install docker.io`), Docker Desktop (macOS, Windows) "
            "or Podman with its Docker API, then run the doctor again",
        )
    # The labs talk to the daemon through the docker SDK; ask the same way, so that the doctor and the labs agree.
    try:
        client = containers.connect(timeout=15)
        version = client.version()
    except containers.DaemonUnavailable as exc:
        return Check("docker", FAILURE, exc.detail, exc.fix)
    except Exception as exc:  # an answer that is not the Docker API
        return Check("docker", FAILURE, f"the daemon answered, but not as expected: {str(exc)[:120]}",
                     "run `docker version` in a terminal and fix what it reports")
    host, _ = containers.docker_host()
    return Check("docker", OK, f"{containers.describe_engine(version)} at {containers.shown_host(host)}")


def check_docker_disk(info: dict | None = None, engine: str | None = None, host: str | None = None) -> Check:
    """Room for images under Docker's data folder (``DockerRootDir``), when it is on this machine."""
    if info is None or engine is None or host is None:
        client = containers.connect(timeout=15)
        info, engine = client.info(), containers.engine_name(client.version())
        host = containers.docker_host()[0]
    root = info.get("DockerRootDir") or ""
    local = host.startswith(("unix://", "http+unix://")) and engine != "Docker Desktop"
    if not (local and root and Path(root).is_dir()):
        return Check("docker disk", OK, f"not measured: {engine}'s data live in its own VM or machine "
                                        "(Docker Desktop: Settings > Resources shows the disk)")
    free = shutil.disk_usage(root).free / 2**30
    detail = f"{free:.1f} GiB free under Docker's data folder {containers.shown_host(root)}"
    if free < DOCKER_ROOT_MIN_FREE_GIB:
        return Check(
            "docker disk",
            WARNING,
            f"{detail} (the labs' images need about {DOCKER_ROOT_MIN_FREE_GIB} GiB)",
            "`docker system df` shows what takes the space; `docker system prune` removes stopped containers, "
            "dangling images and the build cache; a lab's cleanup cell removes exactly that lab's images",
        )
    return Check("docker disk", OK, detail)


def check_registry_tool(client=None) -> Check:
    """Lab 02-registry runs Debian's docker-registry, else the registry:2 image: is one of them here?"""
    if shutil.which(containers.REGISTRY_BINARY):
        return Check("registry", OK, f"{containers.REGISTRY_BINARY} found (Debian's Distribution registry)")
    try:
        (client or containers.connect(timeout=15)).images.get(containers.REGISTRY_IMAGE)
        return Check("registry", OK, f"the {containers.REGISTRY_IMAGE} image is here")
    except Exception:
        pass
    return Check(
        "registry",
        WARNING,
        f"no {containers.REGISTRY_BINARY} command and no {containers.REGISTRY_IMAGE} image: "
        "lab 02-registry will pull the image (needs the internet once)",
        f"`docker pull {containers.REGISTRY_IMAGE}` while online, or `sudo apt-get install docker-registry` (Debian/Ubuntu)",
    )


#: Where the base image can come from when it is missing; the doctor asks it with a short timeout.
BASE_IMAGE_REGISTRY = "https://registry-1.docker.io/v2/"


def registry_reachable(url: str = BASE_IMAGE_REGISTRY, timeout: float = 3) -> bool:
    """Does the registry the base image comes from answer? (401 counts: it answered, it wants a token.)"""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=timeout).close()
        return True
    except urllib.error.HTTPError:
        return True
    except Exception:  # no network, no DNS, a proxy that refuses: the pull would fail the same way
        return False


def check_base_image(client=None, image: str = containers.BASE_IMAGE, reachable: bool | None = None) -> Check:
    """The image every docker lab builds on. Missing and pullable: a warning (the lab pulls it); missing and
    not pullable: a failure, since no docker lab can run."""
    fix = f"docker pull {image}, or scripts/build_base_image.sh offline"
    try:
        found = (client or containers.connect(timeout=15)).images.get(image)
    except Exception as exc:
        if type(exc).__name__ not in ("ImageNotFound", "NotFound", "LookupError"):
            return Check("base image", FAILURE, f"cannot ask the daemon for {image}: {str(exc)[:120]}", fix)
        found = None
    if found is not None:
        short = getattr(found, "short_id", "") or ""
        return Check("base image", OK, f"{image} is here{' (' + short + ')' if short else ''}")
    if reachable is None:
        reachable = registry_reachable()
    if reachable:
        return Check("base image", WARNING, f"{image} is not here; Docker Hub answers, so the labs will pull it", fix)
    return Check("base image", FAILURE, f"{image} is not here, and Docker Hub does not answer from this machine", fix)


def check_docker_ports(ports: dict[int, str] = DOCKER_PORTS) -> list[Check]:
    """The docker tier's ports on 127.0.0.1; a taken one is a warning whose fix names who holds it
    (a container of another lab, say), which Docker can tell and ``ss`` cannot."""
    return [
        check if check.status == OK else replace(check, fix=containers.describe_port_owner(port, _docker_client_or_none()))
        for port, check in zip(ports, check_ports(ports))
    ]


def _docker_client_or_none():
    try:
        return containers.connect(timeout=5)
    except Exception:
        return None


def docker_checks() -> list[Check]:
    """Everything the docker tier needs, after its ports: the daemon, room for images, a registry for lab 02."""
    daemon = check_docker()
    if daemon.status != OK:
        return [daemon]
    client = containers.connect(timeout=15)
    checks = [daemon]
    try:
        checks.append(check_docker_disk(client.info(), containers.engine_name(client.version()), containers.docker_host()[0]))
    except Exception as exc:
        checks.append(Check("docker disk", WARNING, f"not measured: {str(exc)[:120]}", "run `docker system df`"))
    checks.append(check_registry_tool(client))
    checks.append(check_base_image(client))
    return checks


def check_inotify() -> list[Check]:
    if platform.system() != "Linux":
        return []
    checks = []
    for key, need in INOTIFY_MIN.items():
        path = Path("/proc/sys") / key.replace(".", "/")
        try:
            value = int(path.read_text())
        except (OSError, ValueError):
            continue
        name = key.rsplit(".", 1)[-1]
        if value < need:
            checks.append(
                Check(name, WARNING, f"{value} (kind clusters want {need})", f"`sudo sysctl {key}={need}`")
            )
        else:
            checks.append(Check(name, OK, str(value)))
    return checks


def check_tool(name: str, why: str, required: bool) -> Check:
    path = shutil.which(name)
    if path:
        return Check(name, OK, f"found ({why})")
    fixes = {
        "kubectl": "install kubectl: https://kubernetes.io/docs/tasks/tools/ (the offline cluster brings its own: eval \"$(cluster/offline/cluster.sh env)\")",
        "kind": "install kind v0.32.0: https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    }
    return Check(name, FAILURE if required else WARNING, f"not found ({why})", fixes.get(name, f"install {name}"))


def check_cluster() -> Check:
    if shutil.which("kubectl") is None:
        return Check("cluster", FAILURE, "cannot ask: no kubectl", "install kubectl, then bring a cluster up (cluster/README.md)")
    try:
        result = _run(["kubectl", "get", "--raw", "/readyz", "--request-timeout=5s"], timeout=15)
    except subprocess.TimeoutExpired:
        result = None
    if result is None or result.returncode != 0 or result.stdout.strip() != "ok":
        why = "no answer" if result is None else (result.stderr.strip().splitlines() or ["not ready"])[-1][:120]
        return Check(
            "cluster",
            FAILURE,
            f"no ready cluster in the current kubeconfig: {why}",
            "bring one up (cluster/README.md; on Linux as root: sudo cluster/offline/cluster.sh up), "
            "or set KUBECONFIG to your cluster's kubeconfig",
        )
    context = _run(["kubectl", "config", "current-context"]).stdout.strip() or "?"
    return Check("cluster", OK, f"context {context} is ready")


def check_components(names: list[str]) -> Check:
    """Before ``cluster/up NAME ...``: will these components fit in the memory the cluster has left?"""
    from mlops_course import cluster, components

    try:
        problems = components.check(names)
    except cluster.ClusterError as exc:
        return Check("components", WARNING, f"cannot ask the cluster: {str(exc)[:160]}", "bring the cluster up first: cluster/up")
    wanted = ", ".join(components.with_needs(names))
    if problems:
        return Check("components", WARNING, f"{wanted} will not fit", problems[0])
    return Check("components", OK, f"{wanted}: installed, or fit in the memory the cluster has left")


def check_components_ready(names: list[str]) -> list[Check]:
    """The kubeflow tier: each component a lab names (and what it needs) installed, its CRDs
    established and its Deployments available. Not installed is a failure: the lab cannot run."""
    from mlops_course import cluster, components

    try:
        report = components.readiness(list(names))
    except cluster.ClusterError as exc:
        return [Check("components", FAILURE, f"cannot ask the cluster: {str(exc)[:160]}", "run cluster/status, and cluster/up if it is down")]
    except SystemExit as exc:  # an unknown name: with_needs says which names exist
        return [Check("components", FAILURE, str(exc), "name components from cluster/README.md in metadata.course.components")]
    checks = []
    for name, problem in report.items():
        version = components.COMPONENTS[name].version
        if problem:
            detail, _, fix = problem.rpartition(": ")
            checks.append(Check(f"component {name}", FAILURE, detail, fix))
        else:
            checks.append(Check(f"component {name}", OK, f"{version}: CRDs established, Deployments available"))
    return checks


# --- tiers --------------------------------------------------------------------


def checks_for(tier: str, components: list[str] | tuple[str, ...] = ()) -> list[Check]:
    """Every check ``tier`` needs (or ``"all"``: every check), cheapest first; the kubeflow tier
    also checks ``components`` (a lab's ``metadata.course.components``)."""
    if tier not in NEEDS:
        raise ValueError(f"unknown tier {tier!r}: use one of {', '.join(TIERS)}")
    sized = "kubeflow" if tier == "all" else tier
    checks = [check_python(), *check_environments(), check_kernels(), check_memory(sized), check_disk(sized), check_architecture()]
    checks += check_ports()
    if "docker" in NEEDS[tier]:
        checks += check_docker_ports()
        checks += docker_checks()
    if "cluster" in NEEDS[tier]:
        checks += [check_tool("kubectl", "talks to the cluster", True), check_tool("kind", "makes a cluster on a laptop", False)]
        checks += check_inotify()
        checks.append(check_cluster())
        # Without a cluster there is nothing to ask about components: the cluster's failure says why.
        if tier == "kubeflow" and components and checks[-1].status == OK:
            checks += check_components_ready(list(components))
    return checks


def check_names(tier: str = "all", components: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The name of every check :func:`require` can show for ``tier``, on any machine, in its order.

    A lab's committed doctor table is stale when this list changes (a new
    environment, a new port): ``scripts/notebooks.py`` hashes it.
    """
    if tier not in NEEDS:
        raise ValueError(f"unknown tier {tier!r}: use one of {', '.join(TIERS)}")
    names = ["kernel", "python", *(f"env {name}" for name in KERNELS), "kernels", "memory", "disk", "cpu"]
    names += [f"port {port}" for port in PORTS]
    if "docker" in NEEDS[tier]:
        names += [f"port {port}" for port in DOCKER_PORTS]
        names += ["docker", "docker disk", "registry", "base image"]
    if "cluster" in NEEDS[tier]:
        names += ["kubectl", "kind", *(key.rsplit(".", 1)[-1] for key in INOTIFY_MIN), "cluster"]
    if tier == "kubeflow" and components:
        from mlops_course.components import with_needs

        names += ["components", *(f"component {name}" for name in with_needs(list(components)))]
    return names


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == FAILURE]


def tier_problems(tier: str, components: list[str] | tuple[str, ...] = ()) -> list[Check]:
    """The failures that keep ``tier``'s labs (needing ``components``) from running here (empty: ready)."""
    return failures(checks_for(tier, components))


def format_table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check'.ljust(width)}  status   detail", f"{'-' * width}  -------  ------"]
    for c in checks:
        lines.append(f"{c.name.ljust(width)}  {c.status.ljust(7)}  {c.detail}")
        if c.fix and c.status != OK:
            lines.append(f"{' ' * width}           fix: {c.fix}")
    return "\n".join(lines)


def require(tier: str, env: str = "mlops-course", components: list[str] | tuple[str, ...] = ()) -> list[Check]:
    """The first call in every lab: print the checks, stop with the fix if one fails.

    A kubeflow-tier lab names its components: ``doctor.require("kubeflow", components=["katib"])``."""
    if tier == "kubeflow" and not components:
        raise ValueError('a kubeflow-tier lab names the components it needs: doctor.require("kubeflow", components=["katib"])')
    checks = [check_kernel_environment(env), *checks_for(tier, components)]
    print(format_table(checks))
    bad = failures(checks)
    if bad:
        fixes = "\n".join(f"- {c.name}: {c.detail}. Fix: {c.fix}" for c in bad)
        raise CourseEnvironmentError(f"this lab needs the {tier} tier, and {len(bad)} check(s) failed:\n{fixes}")
    print(f"\nThe {tier} tier is ready.")
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/course doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=(*TIERS, "all"), default="all", help="check only what this tier needs (default: all)")
    from mlops_course.components import COMPONENTS

    parser.add_argument("--components", nargs="+", metavar="NAME", default=[], choices=list(COMPONENTS),
                        help="with --tier kubeflow: these components must be installed and ready; "
                             "otherwise: check that they fit before installing them (cluster/README.md)")
    args = parser.parse_args(argv)
    if args.tier == "kubeflow" and not args.components:
        parser.error("--tier kubeflow needs --components NAME ... (the components the lab uses, e.g. katib)")
    checks = checks_for(args.tier, args.components if args.tier == "kubeflow" else ())
    if args.components and args.tier != "kubeflow":
        checks.append(check_components(args.components))
    print(format_table(checks))
    bad = failures(checks)
    if bad:
        print(f"\n{len(bad)} failure(s): the {args.tier} tier is not ready. Apply the fixes above and run the doctor again.")
        return 1
    print(f"\nAll checks passed for the {args.tier} tier.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
