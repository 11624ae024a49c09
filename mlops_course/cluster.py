"""Talking to the course cluster with kubectl: waiting for workloads, and saying why they are not ready.

The labs, the tests and ``cluster/up`` all wait through :func:`wait_for_deployment`
and :func:`wait_for_pods`. When a wait runs out, the error is not "timed out": it
names the pods that are not ready, why Kubernetes says they are not (an image that
cannot be pulled, a crash loop, a failing readiness probe, a pod that does not fit
on the node), the last events, the tail of the logs, and the fix.

kubectl is used rather than a client library so that what a lab does can be typed
in a terminal as well; every call goes to the cluster of the current kubeconfig
(the offline cluster in CI, kind on a laptop).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from dataclasses import dataclass


class ClusterError(RuntimeError):
    """kubectl is missing, the cluster does not answer, or a command failed; the message says what to do."""


class NotReadyError(ClusterError):
    """A workload did not become ready in time; the message holds the diagnosis."""


def kubectl(*args: str, input: str | None = None, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    """Run kubectl against the current kubeconfig; raise :class:`ClusterError` with its message if it fails."""
    if shutil.which("kubectl") is None:
        raise ClusterError(
            "kubectl is not installed: install it (https://kubernetes.io/docs/tasks/tools/), "
            "then bring a cluster up with cluster/up (see cluster/README.md)"
        )
    try:
        result = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ClusterError(
            f"kubectl {' '.join(args)} did not finish in {timeout:.0f} s: is the cluster up? Run cluster/status"
        ) from None
    if check and result.returncode != 0:
        message = result.stderr.strip() or result.stdout.strip()
        hint = ""
        if "connection refused" in message or "Unable to connect" in message or "no such host" in message:
            hint = "\nThe cluster does not answer: run cluster/status, and cluster/up if it is down."
        raise ClusterError(f"kubectl {' '.join(args)} failed: {message}{hint}")
    return result


def kubectl_json(*args: str, timeout: float = 60) -> dict:
    return json.loads(kubectl(*args, "-o", "json", timeout=timeout).stdout)


def apply(manifest: str, namespace: str | None = None, server_side: bool = False) -> str:
    """``kubectl apply`` a YAML text; returns kubectl's summary (one line per object)."""
    args = ["apply", "-f", "-"]
    if namespace:
        args += ["-n", namespace]
    if server_side:
        args += ["--server-side", "--force-conflicts"]
    return kubectl(*args, input=manifest).stdout.strip()


# --- diagnosis ------------------------------------------------------------------


@dataclass(frozen=True)
class PodProblem:
    pod: str
    reason: str
    detail: str


#: Why a pod is not ready, from what Kubernetes reports, and what to do about it.
FIXES = {
    "ErrImagePull": "the node cannot pull the image: check the image name and your network; "
    "for an image you built yourself, load it into the cluster (kind load docker-image IMAGE --name mlops-course; "
    "on the offline cluster: cluster/offline/cluster.sh import IMAGE, or for a component's own image "
    "cluster/offline/build-components.sh then cluster/offline/cluster.sh images)",
    "ImagePullBackOff": "the node cannot pull the image: check the image name and your network; "
    "for an image you built yourself, load it into the cluster (kind load docker-image IMAGE --name mlops-course; "
    "on the offline cluster: cluster/offline/cluster.sh import IMAGE, or for a component's own image "
    "cluster/offline/build-components.sh then cluster/offline/cluster.sh images)",
    "ErrImageNeverPull": "the image is not on the node and imagePullPolicy is Never: build it and load it into the cluster",
    "InvalidImageName": "the image name is not valid: fix it in the manifest",
    "CrashLoopBackOff": "the container starts and exits again and again: its logs (above) say why",
    "CreateContainerConfigError": "a ConfigMap or Secret the pod refers to is missing: create it, or fix the reference",
    "OOMKilled": "the container used more memory than its limit: raise the limit, or give it less work",
    "Unschedulable": "no node can take the pod: if it says 'Insufficient memory' or 'Insufficient cpu', remove components "
    "or give the cluster more (Docker Desktop: Settings > Resources); if it names an unbound PersistentVolumeClaim, "
    "the cluster has no default StorageClass",
    "NotReady": "the container runs but its readiness probe fails: its logs (above) say why; it may also just need more time",
    "Pending": "the pod has not started yet: the events (above) say what it waits for",
}


def pod_problems(pod: dict) -> list[PodProblem]:
    """What keeps one pod (a ``kubectl get pod -o json`` item) from being ready; empty when it is ready."""
    name = pod["metadata"]["name"]
    status = pod.get("status", {})
    conditions = {c["type"]: c for c in status.get("conditions", [])}
    if conditions.get("Ready", {}).get("status") == "True":
        return []
    scheduled = conditions.get("PodScheduled", {})
    if scheduled.get("status") == "False":
        return [PodProblem(name, scheduled.get("reason", "Unschedulable"), scheduled.get("message", ""))]
    problems = []
    for cs in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
        state = cs.get("state", {})
        last = cs.get("lastState", {}).get("terminated", {})
        if "waiting" in state:
            reason = state["waiting"].get("reason", "Waiting")
            detail = state["waiting"].get("message", "")
            if reason == "CrashLoopBackOff" and last.get("reason") == "OOMKilled":
                reason, detail = "OOMKilled", f"killed {cs.get('restartCount', 0)} time(s) for using too much memory"
            problems.append(PodProblem(name, reason, f"container {cs['name']}: {detail}".rstrip(": ")))
        elif "terminated" in state and state["terminated"].get("exitCode", 0) != 0:
            t = state["terminated"]
            problems.append(PodProblem(name, t.get("reason", "Error"), f"container {cs['name']} exited with {t.get('exitCode')}"))
        elif not cs.get("ready", False) and "running" in state:
            problems.append(PodProblem(name, "NotReady", f"container {cs['name']} runs, restarts {cs.get('restartCount', 0)}"))
    if not problems:
        problems.append(PodProblem(name, status.get("phase", "Pending"), status.get("message", "") or status.get("reason", "")))
    return problems


def _events(namespace: str, pod: str, last: int = 4) -> list[str]:
    result = kubectl("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={pod}", "-o", "json", check=False)
    if result.returncode != 0:
        return []
    items = sorted(json.loads(result.stdout).get("items", []), key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return [f"{e.get('type', '')} {e.get('reason', '')}: {e.get('message', '').strip()}" for e in items[-last:]]


def _log_tail(namespace: str, pod: str, lines: int = 8, previous: bool = False) -> list[str]:
    args = ["logs", "-n", namespace, pod, "--all-containers", f"--tail={lines}"]
    if previous:
        args.append("--previous")
    result = kubectl(*args, check=False, timeout=20)
    return result.stdout.strip().splitlines() if result.returncode == 0 else []


def _storage_fix(namespace: str, pod: dict) -> str:
    """For a pod held back by a claim: the StorageClass the claim asks for, when there is no such class."""
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod.get("spec", {}).get("volumes", []) if "persistentVolumeClaim" in v]
    for claim in claims:
        pvc = kubectl("get", "pvc", claim, "-n", namespace, "-o", "json", check=False)
        if pvc.returncode != 0:
            return f"the pod uses PersistentVolumeClaim {claim}, which does not exist: create it, or fix the claimName"
        wanted = json.loads(pvc.stdout).get("spec", {}).get("storageClassName")
        if wanted and kubectl("get", "storageclass", wanted, check=False).returncode != 0:
            return (f"PersistentVolumeClaim {claim} asks for StorageClass {wanted}, which does not exist: use one that "
                    "`kubectl get storageclass` lists (`standard` on kind and on the offline cluster), "
                    "or leave storageClassName out to get the default")
    return ""


def diagnose(namespace: str, selector: str) -> str:
    """A report on the pods matching ``selector`` that are not ready: reason, fix, events, log tail."""
    pods = kubectl_json("get", "pods", "-n", namespace, "-l", selector).get("items", [])
    if not pods:
        return f"no pods match {selector} in namespace {namespace}: the controller has not created them (kubectl -n {namespace} get events)"
    lines = []
    for pod in pods:
        for problem in pod_problems(pod):
            lines.append(f"pod {problem.pod}: {problem.reason}{': ' + problem.detail if problem.detail else ''}")
            lines.append(f"  fix: {_storage_fix(namespace, pod) or FIXES.get(problem.reason, 'read the events and logs below')}")
            lines += [f"  event: {e}" for e in _events(namespace, problem.pod)]
            restarted = any(cs.get("restartCount", 0) for cs in pod.get("status", {}).get("containerStatuses", []))
            lines += [f"  log: {line}" for line in _log_tail(namespace, problem.pod, previous=restarted)]
    return "\n".join(lines) if lines else "every pod is ready now"


# --- waiting ----------------------------------------------------------------------


def _selector(match_labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def deployment_ready(deployment: dict) -> bool:
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    want = spec.get("replicas", 1)
    return (
        status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
        and status.get("updatedReplicas", 0) >= want
        and status.get("availableReplicas", 0) >= want
        and status.get("readyReplicas", 0) >= want
    )


def wait_for_deployment(namespace: str, name: str, timeout: float = 300, what: str | None = None, poll: float = 2) -> float:
    """Wait until Deployment ``namespace/name`` has all its replicas ready; return the seconds it took.

    On timeout, raise :class:`NotReadyError` with :func:`diagnose`'s report."""
    what = what or f"deployment {namespace}/{name}"
    start = time.monotonic()
    deployment = None
    while True:
        result = kubectl("get", "deployment", name, "-n", namespace, "-o", "json", check=False)
        if result.returncode == 0:
            deployment = json.loads(result.stdout)
            if deployment_ready(deployment):
                return time.monotonic() - start
        if time.monotonic() - start > timeout:
            break
        time.sleep(poll)
    if deployment is None:
        raise NotReadyError(
            f"{what} never appeared in {timeout:.0f} s: was its manifest applied? (kubectl -n {namespace} get deployments)"
        )
    report = diagnose(namespace, _selector(deployment["spec"]["selector"].get("matchLabels", {})))
    raise NotReadyError(f"{what} was not ready after {timeout:.0f} s.\n{report}")


def wait_for_pods(namespace: str, selector: str, timeout: float = 120, poll: float = 1) -> float:
    """Wait until at least one pod matches ``selector`` and all matching pods are ready."""
    start = time.monotonic()
    while True:
        pods = kubectl_json("get", "pods", "-n", namespace, "-l", selector).get("items", [])
        if pods and not any(pod_problems(p) for p in pods):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise NotReadyError(f"pods {selector} in {namespace} were not ready after {timeout:.0f} s.\n{diagnose(namespace, selector)}")
        time.sleep(poll)


def wait_for_crd(name: str, timeout: float = 120) -> None:
    """Wait until a CustomResourceDefinition is established (its API can be used).

    Polled rather than ``kubectl wait``, which in kubectl 1.33 fails at once on a CRD created a moment ago."""
    deadline = time.monotonic() + timeout
    while True:
        result = kubectl("get", "crd", name, "-o", 'jsonpath={.status.conditions[?(@.type=="Established")].status}',
                         check=False)
        if result.stdout.strip() == "True":
            return
        if time.monotonic() > deadline:
            raise NotReadyError(f"CRD {name} is not established after {timeout:.0f} s "
                                f"({(result.stderr or 'not established').strip()}): kubectl describe crd {name} says why")
        time.sleep(1)


# --- images built on this machine -------------------------------------------------------


def load_images(*tags: str) -> str:
    """Put Docker images built here on the cluster's node, as ``kind load docker-image`` does.

    The node cannot pull an image that only this machine's Docker has. On kind this is
    ``kind load docker-image TAG --name mlops-course``; on the offline cluster (CI) it is
    ``cluster/offline/cluster.sh import TAG``, which streams ``docker save`` into the node's
    containerd. Returns the command that ran."""
    from mlops_course import components, paths  # components imports this module

    flavour = components.cluster_flavour()
    if flavour == "offline":
        command = [str(paths.REPO_ROOT / "cluster" / "offline" / "cluster.sh"), "import", *tags]
    else:
        kind = subprocess.run([str(paths.REPO_ROOT / "cluster" / "kind" / "cluster.sh"), "kind"],
                              capture_output=True, text=True).stdout.strip() or "kind"
        command = [kind, "load", "docker-image", *tags, "--name", "mlops-course"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise ClusterError(f"could not load {', '.join(tags)} onto the node ({' '.join(command[-2:])}): "
                           f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}; "
                           f"are they built? docker images {' '.join(tags)}")
    return " ".join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command))


def model_server_context(folder: Path) -> Path:
    """Stage the build context of the Kubernetes labs' model server in ``folder`` and return it.

    The context is ``cluster/images/taxi-server`` (Dockerfile, train.py, serve.py), the course
    modules the model is trained with, and requirements pinned to uv.lock's versions, as
    lab 2a's image has them. Build it with ``docker build --build-arg MODEL_VERSION=N ...``."""
    from mlops_course import containers, paths  # containers imports docker only when used

    source = paths.REPO_ROOT / "cluster" / "images" / "taxi-server"
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder)
    (folder / "mlops_course").mkdir()
    for module in ("__init__.py", "data.py", "split.py", "model.py"):
        shutil.copy(paths.REPO_ROOT / "mlops_course" / module, folder / "mlops_course" / module)
    requirements = containers.pinned_requirements(["numpy", "pandas", "scikit-learn"])
    (folder / "requirements.txt").write_text("\n".join(requirements) + "\n")
    return folder


# --- namespaces and port-forwards for labs ------------------------------------------------


def delete_namespace(name: str, timeout: float = 120) -> bool:
    """Delete namespace ``name`` with everything in it and wait until it is gone; False if there was none."""
    if kubectl("get", "namespace", name, check=False).returncode != 0:
        return False
    kubectl("delete", "namespace", name, "--wait=true", f"--timeout={int(timeout)}s", timeout=timeout + 30)
    return True


def fresh_namespace(name: str, lab: str) -> bool:
    """Make namespace ``name`` empty and labelled for ``lab``: what an earlier, interrupted run left is deleted
    first. Returns whether there was something to delete."""
    existed = delete_namespace(name)
    kubectl("create", "namespace", name)
    kubectl("label", "namespace", name, f"mlops-course.lab={lab}")
    return existed


class PortForward:
    """``kubectl port-forward --address 127.0.0.1 -n NAMESPACE TARGET LOCAL:REMOTE`` for a with-block.

    The local port must be free (the error names the process that holds it); the block starts
    once kubectl says it is forwarding. A port-forward to a Service picks one of its pods and
    stays with it: it does not balance requests the way the Service's address does."""

    def __init__(self, namespace: str, target: str, local_port: int, remote_port: int, parameter: str = "local_port"):
        self.namespace, self.target, self.local_port, self.remote_port = namespace, target, local_port, remote_port
        self.parameter = parameter
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    @property
    def command(self) -> str:
        return (f"kubectl -n {self.namespace} port-forward --address 127.0.0.1 {self.target} "
                f"{self.local_port}:{self.remote_port}")

    def __enter__(self) -> "PortForward":
        from mlops_course import containers

        if containers.port_in_use(self.local_port):
            raise ClusterError(containers.describe_port_owner(self.local_port, None, self.parameter))
        self.process = subprocess.Popen(self.command.split(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        first = self.process.stdout.readline().strip()
        if not first.startswith("Forwarding from 127.0.0.1"):
            self.process.kill()
            rest = self.process.communicate(timeout=10)[0].strip()
            raise ClusterError(f"{self.command} failed: {first} {rest}".strip())
        return self

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
