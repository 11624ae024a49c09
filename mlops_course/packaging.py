"""A notebook function to a Kubernetes Job in three stages, as Kubeflow Fairing did it, with today's tools.

Fairing (archived) took a function from a notebook and ran it on a cluster in three
stages: a *preprocessor* wrote what the image needs, a *builder* made the image and a
*deployer* ran it, after *pod-spec mutators* had edited the pod. Lab 6a does each stage
by hand first; this module then does the same three stages, one function each, so
that the lab can show what each one made:

- :func:`preprocess` writes a build context for one function: its source
  (``inspect.getsource``), a runner that calls it with JSON arguments and prints the
  result, the course modules it imports, requirements pinned to ``uv.lock`` and a
  Dockerfile ``FROM python:3.11-slim``. It refuses a function that uses names from the
  notebook, which the container would not have, and arguments that are not JSON.
- :func:`build` builds the context with the Docker SDK (``docker build``), tagged by
  the context's hash, and puts the image on the cluster's node (``kind load
  docker-image``, or the offline cluster's import).
- :func:`deploy` writes a Job for the image and the arguments, lets each mutator edit
  its pod template, creates it (``kubectl create -f``), waits for it and returns its
  log and the function's result.

:func:`run` does the three in one call. Errors end in one message that says what to
do: no Docker daemon (:class:`mlops_course.containers.DaemonUnavailable`), a failed
build (:class:`mlops_course.containers.BuildError`, with the failing step's last
lines), no cluster (:class:`ClusterUnavailable`), a Job that failed (:class:`JobFailed`,
with its pod's reason and last log lines).
"""

from __future__ import annotations

import ast
import builtins
import copy
import hashlib
import inspect
import json
import re
import symtable
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from mlops_course import cluster, containers, faults, paths

#: The runner prints the function's result on one line that starts with this.
RESULT_MARKER = "mlops-course-result: "
#: The packages the course model needs, pinned to uv.lock's versions in the image.
MODEL_PACKAGES = ("numpy", "pandas", "scikit-learn")
#: The course modules the course model is trained with.
MODEL_MODULES = ("data", "split", "model")
#: Images this module builds are named ``mlops-course/fn-<function>:<hash>``.
IMAGE_PREFIX = "mlops-course/fn-"
#: The label that names the function an image or a Job runs.
FUNCTION_LABEL = "mlops-course.function"
#: The uv that scripts/course installs, and that the course's Dockerfiles install in the image.
UV_VERSION = "0.13.9"
#: The user the image runs as: a number, so that a pod with runAsNonRoot can check it is not root.
USER = "65532:65532"


class PackagingError(faults.LabError):
    """The function, its arguments or its packages cannot be packaged; the message says what to change."""


class ClusterUnavailable(faults.LabError):
    """No cluster answers kubectl, or kubectl is missing."""


class JobFailed(faults.LabError):
    """The Job ran and failed, or its pod cannot start; the message gives the reason and the log's last lines."""

    def __init__(self, message: str, reason: str = "", log_tail: list[str] | None = None, job: str = ""):
        super().__init__(message)
        self.reason = reason
        self.log_tail = log_tail or []
        #: The Job's name, to read it back (``kubectl get job NAME``).
        self.job = job


# --- stage 1: preprocess ------------------------------------------------------------------


@dataclass
class Context:
    """What :func:`preprocess` wrote: a build context for one function, and the command that runs it."""

    folder: Path
    function: str
    files: dict[str, str]
    requirements: list[str]
    #: sha256 of every file's name and text: the same function and packages give the same hash, and tag.
    digest: str
    command: list[str] = field(default_factory=lambda: ["python", "runner.py"])

    @property
    def tag(self) -> str:
        return f"{IMAGE_PREFIX}{self.function.replace('_', '-').lower()}:{self.digest[:12]}"

    def table(self):
        """One row per file of the context: its name, size and first line."""
        import pandas as pd

        return pd.DataFrame([{"file": name, "bytes": len(text.encode()), "first line": text.splitlines()[0][:70]}
                             for name, text in sorted(self.files.items())])


def function_source(func: Callable) -> str:
    """The source of ``func`` as a module defines it: dedented, without its decorators.

    Raises :class:`PackagingError` for what cannot be shipped as source: a lambda, a
    builtin, a closure over the function around it, or a function whose source Python
    cannot find (typed at an interactive prompt without IPython)."""
    name = getattr(func, "__name__", type(func).__name__)
    if not inspect.isfunction(func):
        raise PackagingError(f"{name} is not a Python function (a {type(func).__name__}): "
                             "package a function defined with def")
    if name == "<lambda>":
        raise PackagingError("a lambda has no name to call in the image: define the function with def")
    if func.__code__.co_freevars:
        raise PackagingError(f"{name} uses {', '.join(func.__code__.co_freevars)} from the function it is defined in: "
                             "define it at the top level of a cell, and pass those values as arguments")
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        raise PackagingError(f"Python cannot find the source of {name}: define it in a notebook cell or a .py file") from None
    tree = ast.parse(source)
    node = tree.body[0]
    lines = source.splitlines()
    # The def line onwards: decorators name things the image does not have.
    return "\n".join(lines[node.lineno - 1:]) + "\n"


def outside_names(source: str, name: str) -> list[str]:
    """The names the function in ``source`` reads without defining or importing them itself (builtins aside).

    In the image the function runs alone, without the notebook: such a name is a NameError there."""
    found: set[str] = set()

    def walk(table: symtable.SymbolTable) -> None:
        for symbol in table.get_symbols():
            if symbol.is_referenced() and symbol.is_global():
                found.add(symbol.get_name())
        for child in table.get_children():
            walk(child)

    top = symtable.symtable(source, "function.py", "exec")
    for symbol in top.get_symbols():  # defaults and annotations: evaluated where the function is defined
        if symbol.is_referenced() and not symbol.is_assigned() and not symbol.is_imported():
            found.add(symbol.get_name())
    for child in top.get_children():
        walk(child)
    return sorted(found - set(dir(builtins)) - {name})


def check_arguments(func: Callable, arguments: dict) -> dict:
    """``arguments`` if ``func`` accepts them and they travel as JSON; else :class:`PackagingError`."""
    try:
        inspect.signature(func).bind(**arguments)
    except TypeError as exc:
        raise PackagingError(f"{func.__name__} cannot take these arguments ({exc}): "
                             f"its signature is {func.__name__}{inspect.signature(func)}") from None
    for key, value in arguments.items():
        try:
            if json.loads(json.dumps(value, allow_nan=False)) != value:
                raise ValueError
        except (TypeError, ValueError):
            raise PackagingError(f"the argument {key}={value!r} does not travel as JSON unchanged: pass numbers, "
                                 "strings, booleans, None, lists and dicts of them (a path as a string)") from None
    return arguments


RUNNER = '''\
"""Call the packaged function with the JSON arguments of the command line; print its result on the last line."""
import json
import sys

from function import {name} as function

arguments = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {{}}
result = function(**arguments)
try:
    line = json.dumps(result, allow_nan=False)
except (TypeError, ValueError):
    sys.exit(f"{{function.__name__}} returned a {{type(result).__name__}}, which is not JSON: "
             "return numbers, strings, lists or dicts (write models and files to a volume)")
print({marker!r} + line, flush=True)
'''

DOCKERFILE = """\
FROM {base_image}
LABEL {lab_label}={lab}

# uv, pinned: the installer the course environment itself uses
RUN python3 -m pip install --no-cache-dir --break-system-packages uv=={uv_version}
ENV UV_NATIVE_TLS=1 UV_NO_CACHE=1 UV_LINK_MODE=copy
RUN uv venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /app

# Packages first, pinned to uv.lock: they change least, and the build cache keeps them
COPY requirements.txt .
RUN uv pip install -r requirements.txt

# The code last: a new function rebuilds only these layers
COPY . .
LABEL {function_label}={function}
USER {user}
ENTRYPOINT ["python", "runner.py"]
"""


def preprocess(func: Callable, folder: Path, lab: str, arguments: dict | None = None,
               packages: tuple[str, ...] | list[str] = MODEL_PACKAGES, modules: tuple[str, ...] | list[str] = MODEL_MODULES,
               base_image: str = containers.BASE_IMAGE) -> Context:
    """Stage 1, Fairing's preprocessor: write the build context for ``func`` into ``folder`` (emptied first).

    The context holds ``function.py`` (the function's source), ``runner.py``, the course
    modules ``modules`` (``mlops_course/<name>.py``), ``requirements.txt`` (``packages`` and
    what they need, pinned to uv.lock) and a ``Dockerfile``. ``arguments``, if given, are
    checked against the signature and for JSON now, before anything is built; they are
    not part of the image (the Job passes them), so new arguments need no new image."""
    name = func.__name__ if inspect.isfunction(func) else repr(func)
    source = function_source(func)
    outside = outside_names(source, func.__name__)
    if outside:
        raise PackagingError(
            f"{name} uses {', '.join(outside)} from outside the function: import or define "
            f"{'it' if len(outside) == 1 else 'them'} inside {name} (the Job's container runs the function's source "
            "alone, without this notebook), or pass the value as an argument")
    if arguments is not None:
        check_arguments(func, arguments)
    try:
        requirements = containers.pinned_requirements(list(packages))
    except KeyError as exc:
        raise PackagingError(f"{exc.args[0]}: the image installs only packages pinned in the course lock; "
                             "use one the course environment has, or ask for it to be added to pyproject.toml") from None
    files = {
        "function.py": f'"""{name}, from the notebook (inspect.getsource)."""\n\n{source}',
        "runner.py": RUNNER.format(name=func.__name__, marker=RESULT_MARKER),
        "requirements.txt": "\n".join(requirements) + "\n",
        "Dockerfile": DOCKERFILE.format(base_image=base_image, lab_label=containers.LABEL, lab=lab,
                                        function_label=FUNCTION_LABEL, function=func.__name__,
                                        uv_version=UV_VERSION, user=USER),
        ".dockerignore": "Dockerfile\n.dockerignore\n",
    }
    if modules:
        files["mlops_course/__init__.py"] = (paths.REPO_ROOT / "mlops_course" / "__init__.py").read_text()
        for module in modules:
            module_file = paths.REPO_ROOT / "mlops_course" / f"{module}.py"
            if not module_file.exists():
                raise PackagingError(f"there is no course module mlops_course.{module}: name one of "
                                     f"{', '.join(sorted(p.stem for p in module_file.parent.glob('*.py') if p.stem != '__init__'))}")
            files[f"mlops_course/{module}.py"] = module_file.read_text()
    folder = Path(folder)
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    digest = hashlib.sha256()
    for relative, text in sorted(files.items()):
        digest.update(relative.encode() + b"\0" + text.encode() + b"\0")
    return Context(folder=folder, function=func.__name__, files=files, requirements=requirements,
                   digest=digest.hexdigest())


# --- stage 2: build -----------------------------------------------------------------------


@dataclass
class Image:
    """What :func:`build` did: the image, the build's steps, and how it reached the node."""

    tag: str
    build: containers.Build
    #: The command that put the image on the node (``kind load docker-image ...``), or "" if it was there.
    loaded: str
    load_seconds: float

    @property
    def image(self):
        return self.build.image


#: Images this kernel has put on the node: tag -> image id (a tag built again with new content is loaded again).
_ON_NODE: dict[str, str] = {}


def build(context: Context, lab: str, client=None, load: bool = True) -> Image:
    """Stage 2, Fairing's builder: ``docker build -t TAG CONTEXT``, then put the image on the cluster's node.

    The tag is the context's hash, so the same function and packages give the same tag,
    and an unchanged build takes every step from the build cache. No daemon raises
    :class:`~mlops_course.containers.DaemonUnavailable`; a failing step,
    :class:`~mlops_course.containers.BuildError` with its last lines."""
    client = client or containers.connect()
    built = containers.build_image(client, context.folder, context.tag, lab)
    loaded, seconds = "", 0.0
    if load and _ON_NODE.get(context.tag) != built.image.id:
        start = time.perf_counter()
        try:
            loaded = cluster.load_images(context.tag)
        except cluster.ClusterError as exc:
            raise ClusterUnavailable(f"{exc}. Is the cluster up? cluster/status says; cluster/up starts it") from None
        seconds = time.perf_counter() - start
        _ON_NODE[context.tag] = built.image.id
    return Image(tag=context.tag, build=built, loaded=loaded, load_seconds=seconds)


# --- stage 3: deploy ----------------------------------------------------------------------


#: A mutator gets the Job's pod template (``{"metadata": {...}, "spec": {...}}``) and edits it in place,
#: or returns a new one.
Mutator = Callable[[dict], "dict | None"]


def job_manifest(tag: str, function: str, lab: str, arguments: dict | None = None, name: str | None = None,
                 command: list[str] | None = None) -> dict:
    """The Job that runs the image once: one pod, no retries, the arguments as JSON on its command line."""
    dashed = function.replace("_", "-").lower()
    labels = {containers.LABEL: lab, FUNCTION_LABEL: dashed}
    metadata = {"name": name} if name else {"generateName": f"{dashed}-"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {**metadata, "labels": labels},
        "spec": {
            "backoffLimit": 0,  # a function that raised will raise again: fail at once, as Fairing's Job did
            "activeDeadlineSeconds": 900,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {"runAsNonRoot": True},
                    "containers": [{
                        "name": "function",
                        "image": tag,
                        "imagePullPolicy": "IfNotPresent",  # the image is on the node, not in a registry
                        **({"command": command} if command else {}),
                        "args": [json.dumps(arguments or {})],
                        # A small CPU request, no CPU limit: the pod fits beside others and uses what is idle.
                        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                    }],
                },
            },
        },
    }


def mutate(manifest: dict, mutators: list[Mutator] | tuple[Mutator, ...] = ()) -> dict:
    """A copy of the Job ``manifest`` with each mutator applied to its pod template, in order."""
    manifest = copy.deepcopy(manifest)
    for mutator in mutators:
        template = manifest["spec"]["template"]
        changed = mutator(template)
        if changed is not None:
            if not isinstance(changed, dict) or "spec" not in changed:
                raise PackagingError(f"the mutator {getattr(mutator, '__name__', mutator)} returned "
                                     f"{type(changed).__name__}: edit the pod template in place and return None, "
                                     "or return the whole template ({'metadata': ..., 'spec': ...})")
            manifest["spec"]["template"] = changed
    return manifest


def require_cluster() -> str:
    """The API server's address, if a cluster answers kubectl; else :class:`ClusterUnavailable` with the fix."""
    try:
        result = cluster.kubectl("get", "--raw", "/readyz", timeout=20, check=False)
        server = cluster.kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}",
                                 check=False).stdout.strip()
    except cluster.ClusterError as exc:  # kubectl is missing, or did not finish
        raise ClusterUnavailable(f"{exc}.") from None
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        why = said[-1][:200] if said else "no answer"
        raise ClusterUnavailable(
            f"No Kubernetes cluster answers at {server or 'the current kubeconfig context'} ({why}). Fix: start one "
            "with cluster/up and check it with cluster/status (or point KUBECONFIG at yours), then rerun the notebook.")
    return server


@dataclass
class JobRun:
    """What :func:`deploy` saw: the Job, its pod, the log, the function's result."""

    name: str
    namespace: str
    pod: str
    manifest: dict
    log: str
    result: object
    seconds: float
    job: dict = field(repr=False, default_factory=dict)

    @property
    def pod_spec(self) -> dict:
        return self.manifest["spec"]["template"]["spec"]


#: Pod states that will not get better by waiting: the image cannot be had, or the pod cannot be made.
HOPELESS = {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError",
            "CreateContainerError"}


def _pods(namespace: str, job: str) -> list[dict]:
    return cluster.kubectl_json("get", "pods", "-n", namespace, "-l", f"job-name={job}").get("items", [])


def _log(namespace: str, pod: str, tail: int | None = None) -> str:
    args = ["logs", "-n", namespace, pod] + ([f"--tail={tail}"] if tail else [])
    result = cluster.kubectl(*args, check=False, timeout=60)
    return result.stdout if result.returncode == 0 else ""


def pod_reason(pod: dict) -> tuple[str, str]:
    """``(reason, detail)`` of a pod that failed or cannot start, from its container's state."""
    for status in pod.get("status", {}).get("containerStatuses", []):
        state = status.get("state", {})
        if "terminated" in state:
            t = state["terminated"]
            return t.get("reason", "Error"), f"exit code {t.get('exitCode', '?')}"
        if "waiting" in state:
            w = state["waiting"]
            return w.get("reason", "Waiting"), w.get("message", "")
    status = pod.get("status", {})
    return status.get("reason", status.get("phase", "Unknown")), status.get("message", "")


def failure_message(job: str, job_reason: str, pod: str, reason: str, detail: str, log_tail: list[str]) -> str:
    """One message for a Job that failed: the Job's and the pod's reason, what to do, the log's last lines."""
    fix = cluster.FIXES.get(reason) or (
        "the function raised an exception: its log's last lines say which; fix it in the notebook and run again"
        if reason == "Error" else "kubectl describe pod says more")
    message = (f"Job {job} failed{f' ({job_reason})' if job_reason else ''}: its pod {pod} ended with {reason}"
               f"{f', {detail}' if detail else ''}. Fix: {fix}.")
    if log_tail:
        message += "\nlast lines of its log:\n" + "\n".join(f"    {line}" for line in log_tail)
    return message


def parse_result(log: str):
    """The function's result from the runner's last line, or None if it printed none."""
    for line in reversed(log.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    return None


def wait_for_job(namespace: str, name: str, timeout: float = 300, poll: float = 1) -> dict:
    """Wait until Job ``name`` has a Complete or Failed condition; return it. A failed Job, or a pod that cannot
    start, raises :class:`JobFailed` with the reason and the log's last lines; a timeout says why it waits."""
    start = time.monotonic()
    while True:
        job = cluster.kubectl_json("get", "job", name, "-n", namespace)
        holding = {c["type"]: c for c in job.get("status", {}).get("conditions", []) if c.get("status") == "True"}
        pods = _pods(namespace, name)
        if "Complete" in holding:
            return job
        if "Failed" in holding or any(pod_reason(p)[0] in HOPELESS for p in pods):
            pod = pods[-1] if pods else {"metadata": {"name": "(none)"}}
            reason, detail = pod_reason(pod) if pods else ("no pod", "")
            tail = _log(namespace, pod["metadata"]["name"], tail=8).strip().splitlines() if pods else []
            job_reason = holding.get("Failed", {}).get("reason", "")
            raise JobFailed(failure_message(name, job_reason, pod["metadata"]["name"], reason, detail, tail),
                            reason=reason, log_tail=tail, job=name)
        if time.monotonic() - start > timeout:
            raise JobFailed(f"Job {name} did not finish in {timeout:.0f} s.\n{cluster.diagnose(namespace, f'job-name={name}')}",
                            reason="Timeout", job=name)
        time.sleep(poll)


def deploy(image: str, function: str, namespace: str, lab: str, arguments: dict | None = None,
           mutators: list[Mutator] | tuple[Mutator, ...] = (), name: str | None = None, timeout: float = 300) -> JobRun:
    """Stage 3, Fairing's deployer: a Job that runs ``image`` with ``arguments``, after ``mutators`` edited its pod.

    ``kubectl create -f job.json``, ``kubectl wait --for=condition=complete job/NAME``,
    ``kubectl logs job/NAME``. Returns the run, with the function's result read from the
    log. The Job stays (its pod and log can be read) until :func:`delete_jobs` or the
    namespace goes."""
    require_cluster()
    manifest = mutate(job_manifest(image, function, lab, arguments, name), mutators)
    start = time.monotonic()
    try:
        created = json.loads(cluster.kubectl("create", "-n", namespace, "-f", "-", "-o", "json",
                                             input=json.dumps(manifest)).stdout)
    except cluster.ClusterError as exc:
        hint = (" A mutator may have written a field or value the pod template does not take: kubectl explain "
                "pod.spec lists the fields." if "invalid" in str(exc).lower() else "")
        raise PackagingError(f"the API server refused the Job: {exc}.{hint}") from None
    job_name = created["metadata"]["name"]
    job = wait_for_job(namespace, job_name, timeout=timeout)
    seconds = time.monotonic() - start
    pod = _pods(namespace, job_name)[-1]["metadata"]["name"]
    log = _log(namespace, pod)
    return JobRun(name=job_name, namespace=namespace, pod=pod, manifest=manifest, log=log, result=parse_result(log),
                  seconds=seconds, job=job)


def run(func: Callable, namespace: str, lab: str, arguments: dict | None = None,
        mutators: list[Mutator] | tuple[Mutator, ...] = (), folder: Path | None = None, client=None,
        **preprocess_options) -> tuple[Context, Image, JobRun]:
    """The three stages in one call, as ``fairing.config.run()`` did: preprocess, build, deploy.

    Returns what each stage made, so that each can be looked at."""
    folder = folder or paths.workdir(lab) / f"fn-{func.__name__}"
    context = preprocess(func, folder, lab, arguments, **preprocess_options)
    image = build(context, lab, client)
    job = deploy(image.tag, context.function, namespace, lab, arguments, mutators)
    return context, image, job


def delete_jobs(namespace: str, lab: str) -> int:
    """Delete the Jobs (and their pods) this lab made in ``namespace``; how many went. Safe to run twice."""
    if cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0:
        return 0
    names = cluster.kubectl("get", "jobs", "-n", namespace, "-l", f"{containers.LABEL}={lab}", "-o", "name").stdout.split()
    if names:
        cluster.kubectl("delete", "-n", namespace, *names, "--cascade=foreground", "--wait=true", timeout=120)
    return len(names)


def image_labels(image) -> dict[str, str]:
    """The labels of a Docker image (``docker inspect -f '{{json .Config.Labels}}'``)."""
    return dict(image.attrs.get("Config", {}).get("Labels") or {})


def tag_is_content_hash(tag: str) -> bool:
    return re.fullmatch(rf"{re.escape(IMAGE_PREFIX)}[a-z0-9-]+:[0-9a-f]{{12}}", tag) is not None
