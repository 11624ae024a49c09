"""The optional cluster components: what each is, how it is installed, and how much memory it takes.

    python -m mlops_course.components list
    python -m mlops_course.components check kfp katib     # will they fit? (the doctor's memory warning)
    python -m mlops_course.components install kserve      # also installs cert-manager, which it needs
    python -m mlops_course.components status

``cluster/up NAME ...`` calls ``install``. Every component is pinned (a release
manifest or a kustomize directory at a tag), applied with kubectl, and waited for
with a timeout through :func:`mlops_course.cluster.wait_for_deployment`, which
says why a component is not ready instead of just timing out.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mlops_course import cluster, paths


@dataclass(frozen=True)
class Binary:
    """A component's Go command, built on the offline cluster's machine and packed as the upstream image it replaces.

    The image keeps the upstream name and tag, so every manifest and ConfigMap that
    names it (Katib's katib-config names its suggestion and collector images) is the
    same on both clusters; only where the binary came from differs."""

    package: str
    image: str
    #: Where the upstream image keeps the binary: the image's entrypoint.
    entrypoint: str
    workdir: str = "/"
    #: The numeric user of the upstream image (65532 in distroless ``nonroot`` images), for pods that run as non-root.
    user: str = ""

    @property
    def file(self) -> str:
        return self.entrypoint.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class GoModule:
    """The Go module a component is released from: its manifests are installed from it on every
    cluster, and on the offline cluster its commands are built from it."""

    path: str
    version: str
    #: The module's folder of kustomizations, staged as ``upstream/NAME`` beside the course's overlays.
    manifests: str
    binaries: tuple[Binary, ...] = ()


@dataclass(frozen=True)
class DockerImage:
    """An image a component's pods run that the course builds with Docker (``context``, a folder of the
    repository) or that the machine has already (no context: the base image), loaded onto the node
    before the component is installed, on the clusters named."""

    tag: str
    context: str = ""
    clusters: tuple[str, ...] = ("offline",)


@dataclass(frozen=True)
class Apply:
    """One ``kubectl apply``: a release manifest (``-f URL``), or one of the course's overlays in
    ``cluster/components/`` (``-k``), which builds on the pinned module's own kustomizations."""

    source: str
    kustomize: bool = False
    #: Server-side apply: needed when a CRD is bigger than the 256 KiB annotation client-side apply keeps.
    server_side: bool = False
    #: CustomResourceDefinitions the next step needs, waited for after this one.
    crds: tuple[str, ...] = ()
    #: Apply a second time when the first fails only because a kind defined in the same file was not known yet.
    retry: bool = False
    #: Only objects with this label (``-l``): the CRDs first, say, so that the rest can be checked against them.
    selector: str = ""


@dataclass(frozen=True)
class Kubectl:
    """A kubectl command between the applies: a namespace to create, a setting to patch."""

    args: tuple[str, ...]


@dataclass(frozen=True)
class Ready:
    """Wait for a Deployment to have every replica ready."""

    namespace: str
    deployment: str


@dataclass(frozen=True)
class WebhookCertificate:
    """A TLS certificate for a component's admission webhooks, made by the installer where
    upstream asks cert-manager for one (no cert-manager runs on the course's clusters).

    A CA and a serving certificate for ``SERVICE.NAMESPACE.svc`` (made with openssl) go into
    Secret ``secret`` (type kubernetes.io/tls, with ``ca.crt``), and the CA becomes the
    ``caBundle`` of every webhook in ``webhooks`` and of the conversion webhook of each of
    ``crds``, so that the API server trusts the webhook server. A Secret that already holds a
    certificate for the Service, signed by its ``ca.crt`` and valid for 30 more days, is kept:
    installing again changes nothing, and the running webhook server keeps its certificate."""

    namespace: str
    service: str
    secret: str
    #: Webhook configurations, as ``mutatingwebhookconfiguration/NAME`` or ``validatingwebhookconfiguration/NAME``.
    webhooks: tuple[str, ...] = ()
    #: CustomResourceDefinitions whose conversion webhook is served by the same Service.
    crds: tuple[str, ...] = ()
    days: int = 3650


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    what: str
    steps: tuple[Apply | Kubectl | Ready | WebhookCertificate, ...]
    #: The memory its pods request, summed from its manifests at this version (what the scheduler reserves).
    requests_mib: int
    #: The memory it needs in use, and where that figure comes from (the larger of requests and observed use).
    uses_mib: int
    uses_source: str
    needs: tuple[str, ...] = ()
    #: Labels its namespace must keep: components that share ``kubeflow`` each declare it with their own labels.
    namespace_labels: tuple[tuple[str, str], ...] = ()
    timeout_seconds: int = 600
    port_forward: str = ""
    #: The CustomResourceDefinitions it defines that the labs use: established means their API answers.
    crds: tuple[str, ...] = ()
    #: The Go modules it is installed (and, offline, built) from, in the order their overlays use them.
    modules: tuple[GoModule, ...] = ()
    #: Where it can be installed: kind ships some components itself (local-path-provisioner).
    clusters: tuple[str, ...] = ("kind", "offline")
    #: Images built here that its pods run, loaded onto the node first.
    docker_images: tuple[DockerImage, ...] = ()

    @property
    def deployments(self) -> list[Ready]:
        return [s for s in self.steps if isinstance(s, Ready)]


GITHUB = "https://github.com"
#: The kubeflow/community-distribution README's resource table: requests or observed use, whichever is larger.
COMMUNITY_TABLE = "kubeflow/community-distribution README, resource table"

#: In installation order: a component comes after the ones it needs, and the Training
#: Operator before Katib (Katib's controller looks for the training CRDs when it starts).
#: Components built from Go modules are installed from the module's own kustomizations
#: (through the course's overlays in cluster/components/) on kind and on the offline cluster alike.
COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            name="local-path-provisioner",
            version="v0.0.30",
            what="the `standard` StorageClass: a PersistentVolume is a folder on the node (kind ships this itself)",
            modules=(GoModule("github.com/rancher/local-path-provisioner", "v0.0.30", "deploy", (
                Binary("github.com/rancher/local-path-provisioner", "rancher/local-path-provisioner:v0.0.30",
                       "/usr/bin/local-path-provisioner"),
            )),),
            steps=(
                Apply("local-path-provisioner", kustomize=True),
                Ready("local-path-storage", "local-path-provisioner"),
            ),
            requests_mib=0,
            uses_mib=10,
            uses_source="measured on the offline cluster, 2026-12-02: 9 MiB idle, 10 MiB peak",
            clusters=("offline",),
            timeout_seconds=300,
        ),
        Component(
            name="metrics-server",
            version="v0.9.0",
            what="resource metrics for kubectl top and the HorizontalPodAutoscaler",
            modules=(GoModule("sigs.k8s.io/metrics-server", "v0.9.0", "manifests", (
                Binary("sigs.k8s.io/metrics-server/cmd/metrics-server", "registry.k8s.io/metrics-server/metrics-server:v0.9.0",
                       "/metrics-server"),
            )),),
            steps=(
                Apply("metrics-server", kustomize=True),
                Ready("kube-system", "metrics-server"),
            ),
            requests_mib=200,
            uses_mib=200,
            uses_source="its request; measured on the offline cluster, 2026-12-02: 16 MiB idle, 18 MiB peak",
            timeout_seconds=300,
        ),
        Component(
            name="cert-manager",
            version="v1.21.1",
            what="issues TLS certificates (kind only: it cannot be built here, and no component of the course needs it)",
            steps=(
                Apply(f"{GITHUB}/cert-manager/cert-manager/releases/download/v1.21.1/cert-manager.yaml"),
                Ready("cert-manager", "cert-manager"),
                Ready("cert-manager", "cert-manager-cainjector"),
                Ready("cert-manager", "cert-manager-webhook"),
            ),
            requests_mib=0,
            uses_mib=128,
            uses_source=COMMUNITY_TABLE,
            crds=("certificates.cert-manager.io", "issuers.cert-manager.io", "clusterissuers.cert-manager.io"),
            clusters=("kind",),
            timeout_seconds=300,
        ),
        Component(
            name="training-operator",
            version="v1.9.4",
            what="Kubeflow Training Operator: PyTorchJob, TFJob, XGBoostJob, ...",
            modules=(GoModule("github.com/kubeflow/training-operator", "v1.9.4", "manifests", (
                Binary("github.com/kubeflow/training-operator/cmd/training-operator.v1",
                       "ghcr.io/kubeflow/training-v1/training-operator:v1-93c5489", "/manager"),
            )),),
            steps=(
                Apply("training-operator", kustomize=True, server_side=True),
                Ready("kubeflow", "training-operator"),
            ),
            requests_mib=0,
            uses_mib=32,
            uses_source="measured on the offline cluster: 14 MiB idle, 17 MiB peak on 2026-12-02, 21 MiB peak on 2026-12-03 with lab 6c's PyTorchJobs; rounded up",
            crds=("pytorchjobs.kubeflow.org", "tfjobs.kubeflow.org", "xgboostjobs.kubeflow.org"),
            # The offline overlay makes it the PyTorchJob init container (alpine:3.10 cannot be pulled there).
            docker_images=(DockerImage("mlops-course/dist-train:1", "cluster/components/images/dist-train"),),
            timeout_seconds=300,
        ),
        Component(
            name="trainer",
            version="v2.3.0",
            what="Kubeflow Trainer v2: TrainJob and TrainingRuntime, on JobSet v0.12.0",
            modules=(
                GoModule("github.com/kubeflow/trainer/v2", "v2.3.0", "manifests", (
                    Binary("github.com/kubeflow/trainer/v2/cmd/trainer-controller-manager",
                           "ghcr.io/kubeflow/trainer/trainer-controller-manager:v2.3.0", "/manager", user="65532"),
                )),
                GoModule("sigs.k8s.io/jobset", "v0.12.0", "config", (
                    Binary("sigs.k8s.io/jobset", "registry.k8s.io/jobset/jobset:v0.12.0", "/manager", user="65532"),
                )),
            ),
            steps=(
                Apply("trainer", kustomize=True, server_side=True),
                Ready("kubeflow-system", "jobset-controller-manager"),
                Ready("kubeflow-system", "kubeflow-trainer-controller-manager"),
            ),
            requests_mib=128,
            uses_mib=128,
            uses_source="JobSet's request; measured on the offline cluster, 2026-12-02: 31 MiB idle, 33 MiB peak (both controllers)",
            crds=("trainjobs.trainer.kubeflow.org", "clustertrainingruntimes.trainer.kubeflow.org", "jobsets.jobset.x-k8s.io"),
            timeout_seconds=300,
        ),
        Component(
            name="kfp",
            version="2.17.0",
            what="Kubeflow Pipelines, standalone: API server, UI, Argo Workflows, MySQL, SeaweedFS, ML Metadata (kind only: its backend is not served as a Go module)",
            steps=(
                Apply(f"{GITHUB}/kubeflow/pipelines/manifests/kustomize/cluster-scoped-resources?ref=2.17.0", kustomize=True,
                      crds=("applications.app.k8s.io",)),
                # platform-agnostic, not env/dev: at 2.17.0 env/dev switches every image to :master.
                Apply(f"{GITHUB}/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic?ref=2.17.0", kustomize=True),
                *(Ready("kubeflow", d) for d in (
                    "mysql", "seaweedfs", "workflow-controller", "metadata-grpc-deployment", "metadata-envoy-deployment",
                    "metadata-writer", "ml-pipeline", "ml-pipeline-persistenceagent", "ml-pipeline-scheduledworkflow",
                    "ml-pipeline-ui", "ml-pipeline-viewer-crd", "ml-pipeline-visualizationserver", "cache-server",
                    "cache-deployer-deployment",
                )),
            ),
            requests_mib=3174,
            uses_mib=3552,
            uses_source=COMMUNITY_TABLE + " (KFP 2.16)",
            crds=("workflows.argoproj.io", "scheduledworkflows.kubeflow.org", "viewers.kubeflow.org"),
            namespace_labels=(("pod-security.kubernetes.io/enforce", "baseline"), ("pod-security.kubernetes.io/warn", "restricted")),
            clusters=("kind",),
            timeout_seconds=900,
            port_forward="kubectl -n kubeflow port-forward --address 127.0.0.1 svc/ml-pipeline-ui 8080:80",
        ),
        Component(
            name="katib",
            version="v0.19.0",
            what="Katib, standalone on PostgreSQL: controller, DB manager, goptuna suggestions, file metrics collector",
            modules=(GoModule("github.com/kubeflow/katib", "v0.19.0", "manifests", tuple(
                Binary(f"github.com/kubeflow/katib/cmd/{cmd}", f"ghcr.io/kubeflow/katib/{image}:v0.19.0", entry, workdir)
                for cmd, image, entry, workdir in (
                    ("katib-controller/v1beta1", "katib-controller", "/app/katib-controller", "/app"),
                    ("db-manager/v1beta1", "katib-db-manager", "/app/katib-db-manager", "/app"),
                    ("suggestion/goptuna/v1beta1", "suggestion-goptuna", "/opt/katib/goptuna-suggestion", "/opt/katib"),
                    ("metricscollector/v1beta1/file-metricscollector", "file-metrics-collector", "/app/file-metricscollector", "/app"),
                )
            )),),
            steps=(
                Apply("katib", kustomize=True),
                # The DB manager restarts until PostgreSQL answers: PostgreSQL first.
                Ready("kubeflow", "katib-postgres"),
                Ready("kubeflow", "katib-db-manager"),
                Ready("kubeflow", "katib-controller"),
            ),
            # No training-operator: the course's trials are Jobs, the only kind katib-config lists
            # (cluster/components/katib/katib-config.yaml says how to add PyTorchJob).
            requests_mib=0,
            uses_mib=90,
            uses_source="measured on the offline cluster, 2026-12-02: 77 MiB idle, 84 MiB peak (controller, DB manager, PostgreSQL); each Experiment adds its suggestion service",
            namespace_labels=(("katib.kubeflow.org/metrics-collector-injection", "enabled"),),
            crds=("experiments.kubeflow.org", "suggestions.kubeflow.org", "trials.kubeflow.org"),
            # postgres:14.5-alpine cannot be pulled on the offline cluster: Debian's PostgreSQL 15 instead.
            docker_images=(DockerImage("mlops-course/postgres:15", "cluster/offline/images/postgres"),),
            timeout_seconds=600,
        ),
        Component(
            name="kserve",
            version="v0.20.0",
            what="KServe in Standard (raw Deployment) mode: no Knative, no Istio, no Ingress, no cert-manager",
            modules=(GoModule("github.com/kserve/kserve", "v0.20.0", "config", (
                # The controller's pod runs as non-root, so its image must name a numeric user (distroless nonroot).
                Binary("github.com/kserve/kserve/cmd/manager", "kserve/kserve-controller:v0.20.0", "/manager",
                       user="65532"),
                # The sidecar KServe adds to a predictor that names a model but no storageUri (its model
                # puller), as a canary's is; its image is pinned in the overlay's inferenceservice-config.
                Binary("github.com/kserve/kserve/cmd/agent", "kserve/agent:v0.20.0", "/ko-app/agent", "/ko-app",
                       user="65532"),
            )),),
            steps=(
                # The CRDs first: the controller and the serving runtimes need their API when they start.
                Apply("kserve/crd", kustomize=True, server_side=True, crds=(
                    "inferenceservices.serving.kserve.io", "servingruntimes.serving.kserve.io",
                    "clusterservingruntimes.serving.kserve.io", "trainedmodels.serving.kserve.io",
                    "inferencegraphs.serving.kserve.io", "clusterstoragecontainers.serving.kserve.io")),
                Apply("kserve", kustomize=True, server_side=True),
                WebhookCertificate("kserve", "kserve-webhook-server-service", "kserve-webhook-server-cert", webhooks=(
                    "mutatingwebhookconfiguration/inferenceservice.serving.kserve.io",
                    *(f"validatingwebhookconfiguration/{name}.serving.kserve.io" for name in (
                        "inferenceservice", "trainedmodel", "inferencegraph", "clusterservingruntime", "servingruntime")),
                )),
                Ready("kserve", "kserve-controller-manager"),
                # After the controller: each runtime passes its validating webhook (and so tests its certificate).
                Apply("kserve/runtimes", kustomize=True, server_side=True),
            ),
            requests_mib=200,
            uses_mib=200,
            uses_source="its request; measured on the offline cluster, 2026-12-02: 36 MiB idle, 48 MiB peak; each InferenceService adds its model server",
            crds=("inferenceservices.serving.kserve.io", "servingruntimes.serving.kserve.io", "clusterservingruntimes.serving.kserve.io"),
            timeout_seconds=600,
        ),
    )
}


# --- Katib experiments ---------------------------------------------------------------


def _condition(obj: dict, kind: str) -> dict | None:
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == kind and c.get("status") == "True":
            return c
    return None


def experiment_problem(namespace: str, name: str, log_lines: int = 8) -> str:
    """Why Katib Experiment ``namespace/name`` has not succeeded (empty when it has): its own
    condition, then each failed trial with its reason and the tail of its containers' logs."""
    result = cluster.kubectl("get", "experiment", name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        return f"there is no Experiment {namespace}/{name}: was it applied? (kubectl -n {namespace} get experiments)"
    experiment = json.loads(result.stdout)
    if _condition(experiment, "Succeeded"):
        return ""
    status = experiment.get("status", {})
    state = _condition(experiment, "Failed") or _condition(experiment, "Running") or _condition(experiment, "Created")
    lines = [f"Experiment {namespace}/{name} is {state['type'] if state else 'not started'}"
             + (f": {state.get('message', '')}" if state and state.get("message") else "")
             + f" ({status.get('trialsSucceeded', 0)} trials succeeded, {status.get('trialsFailed', 0)} failed, "
               f"{status.get('trialsRunning', 0)} running)"]
    if not state:
        lines.append("  fix: is katib-controller running? (kubectl -n kubeflow logs deployment/katib-controller)")
    trials = cluster.kubectl_json("get", "trials", "-n", namespace, "-l", f"katib.kubeflow.org/experiment={name}")["items"]
    for trial in trials:
        failed = _condition(trial, "Failed") or _condition(trial, "MetricsUnavailable")
        if not failed:
            continue
        trial_name = trial["metadata"]["name"]
        lines.append(f"trial {trial_name}: {failed['type']} ({failed.get('reason', '')}): {failed.get('message', '').strip()}")
        pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", f"batch.kubernetes.io/job-name={trial_name}")["items"]
        for pod in pods:
            # Every container's log: with the StdOut collector the trial's output goes to a file that
            # the collector's sidecar prints, so the primary container's own log is empty.
            logs = cluster.kubectl("logs", "-n", namespace, pod["metadata"]["name"], "--all-containers", "--prefix",
                                   f"--tail={log_lines}", check=False, timeout=20)
            lines += [f"  log: {line}" for line in logs.stdout.strip().splitlines()]
    return "\n".join(lines)


def wait_for_experiment(namespace: str, name: str, timeout: float = 300, poll: float = 2) -> dict:
    """Wait until Katib Experiment ``namespace/name`` has succeeded and return it; when it fails or
    runs out of time, raise :class:`cluster.ClusterError` with :func:`experiment_problem`'s report."""
    import time

    start = time.monotonic()
    while True:
        result = cluster.kubectl("get", "experiment", name, "-n", namespace, "-o", "json", check=False)
        experiment = json.loads(result.stdout) if result.returncode == 0 else {}
        if _condition(experiment, "Succeeded"):
            return experiment
        if _condition(experiment, "Failed"):
            raise cluster.ClusterError(experiment_problem(namespace, name))
        if time.monotonic() - start > timeout:
            raise cluster.ClusterError(f"not finished after {timeout:.0f} s. {experiment_problem(namespace, name)}")
        time.sleep(poll)


def with_needs(names: list[str]) -> list[str]:
    """``names`` plus what they need, each once, in installation order (the order of :data:`COMPONENTS`)."""
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        raise SystemExit(f"unknown component(s) {', '.join(unknown)}: choose from {', '.join(COMPONENTS)}")
    wanted: set[str] = set()

    def visit(name: str) -> None:
        wanted.add(name)
        for need in COMPONENTS[name].needs:
            visit(need)

    for name in names:
        visit(name)
    return [n for n in COMPONENTS if n in wanted]


# --- will it fit? -------------------------------------------------------------------

_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "m": 10**-3, "u": 10**-6, "n": 10**-9}  # metrics-server reports CPU in nanocores ("1915147n")


def parse_quantity(text: str) -> float:
    """A Kubernetes quantity ("512Mi", "1G", "250m", "1e3") in bytes (or in units, for counts)."""
    text = str(text).strip()
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * _UNITS[suffix]
    return float(text)


def node_memory_free_mib() -> int:
    """Memory the scheduler can still give out: the nodes' allocatable minus what the pods on them request."""
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    allocatable = sum(parse_quantity(n["status"]["allocatable"]["memory"]) for n in nodes)
    pods = cluster.kubectl_json("get", "pods", "--all-namespaces", "--field-selector", "status.phase!=Succeeded,status.phase!=Failed")
    requested = 0.0
    for pod in pods["items"]:
        if not pod["spec"].get("nodeName"):
            continue  # not scheduled (perhaps because it does not fit): it holds no memory yet
        for c in pod["spec"].get("containers", []):
            requested += parse_quantity(c.get("resources", {}).get("requests", {}).get("memory", "0"))
    return int((allocatable - requested) / 2**20)


def installed(component: Component) -> bool:
    for ready in component.deployments:
        result = cluster.kubectl("get", "deployment", ready.deployment, "-n", ready.namespace, "-o", "name", check=False)
        if result.returncode != 0:
            return False
    return True


# --- is it there and ready? (the kubeflow tier's question) ------------------------------


def readiness_problem(component: Component, established: dict[str, bool], deployments: dict[tuple[str, str], dict]) -> str:
    """Why ``component`` cannot be used yet, from what the cluster says; empty when it can.

    ``established``: CRD name -> whether its Established condition is True, for
    the CRDs that exist; ``deployments``: (namespace, name) -> the Deployment, for
    those that exist.
    """
    missing_crds = [c for c in component.crds if c not in established]
    missing_deployments = [f"{r.namespace}/{r.deployment}" for r in component.deployments if (r.namespace, r.deployment) not in deployments]
    if missing_crds or missing_deployments:
        if len(missing_crds) == len(component.crds) and len(missing_deployments) == len(component.deployments):
            return f"{component.name} is not installed on this cluster: run cluster/up {component.name}"
        lacking = [f"CRD {c}" for c in missing_crds] + [f"Deployment {d}" for d in missing_deployments]
        return (f"{component.name} is only partly installed (no {', '.join(lacking)}): "
                f"run cluster/up {component.name}, which installs it again and waits for it")
    unready = [f"CRD {c} is not established" for c in component.crds if not established[c]]
    for r in component.deployments:
        deployment = deployments[(r.namespace, r.deployment)]
        if not cluster.deployment_ready(deployment):
            status = deployment.get("status", {})
            unready.append(f"{r.namespace}/{r.deployment} has {status.get('availableReplicas', 0)} of "
                           f"{deployment.get('spec', {}).get('replicas', 1)} replicas available")
    if unready:
        return (f"{component.name} is installed but not ready ({'; '.join(unready)}): "
                f"cluster/up {component.name} waits for it and says why it is not ready")
    return ""


def readiness(names: list[str]) -> dict[str, str]:
    """``{component: why it is not ready}`` for ``names`` and what they need, in installation order ("" = ready).

    Per component, one kubectl call for its CRDs and one per namespace of its Deployments."""
    report = {}
    for name in with_needs(names):
        component = COMPONENTS[name]
        established = {}
        if component.crds:
            lines = cluster.kubectl(
                "get", "crd", *component.crds, "--ignore-not-found", "--no-headers", "-o",
                # custom-columns, unlike jsonpath, prints one row per CRD whether kubectl returns one or a list.
                'custom-columns=NAME:.metadata.name,ESTABLISHED:.status.conditions[?(@.type=="Established")].status',
            ).stdout.splitlines()
            for line in lines:
                crd, *state = line.split()
                established[crd] = state == ["True"]
        deployments = {}
        for namespace in dict.fromkeys(r.namespace for r in component.deployments):
            wanted = [r.deployment for r in component.deployments if r.namespace == namespace]
            result = cluster.kubectl("get", "deployment", "-n", namespace, *wanted, "--ignore-not-found", "-o", "json")
            found = json.loads(result.stdout) if result.stdout.strip() else {"items": []}
            for d in found.get("items", [found] if found.get("kind") == "Deployment" else []):
                deployments[(namespace, d["metadata"]["name"])] = d
        report[name] = readiness_problem(component, established, deployments)
    return report


def fit_problems(names: list[str], free_mib: int) -> list[str]:
    """Why installing ``names`` (those not installed yet) would not fit in ``free_mib``; empty when it fits."""
    todo = [COMPONENTS[n] for n in names]
    need = sum(c.uses_mib for c in todo)
    if need <= free_mib:
        return []
    detail = ", ".join(f"{c.name} ~{c.uses_mib} MiB" for c in todo)
    return [
        f"installing {', '.join(c.name for c in todo)} needs about {need} MiB ({detail}), "
        f"and the cluster has {free_mib} MiB left to give out. Install fewer components at a time "
        "(cluster/down, cluster/up NAME), or give Docker more memory (Docker Desktop: Settings > Resources)"
    ]


def check(names: list[str]) -> list[str]:
    """The doctor's question before an install: which of ``names`` are missing, and do they fit?"""
    missing = [n for n in with_needs(names) if not installed(COMPONENTS[n])]
    return fit_problems(missing, node_memory_free_mib()) if missing else []


# --- manifests from the pinned modules ---------------------------------------------

#: The course's overlays: one folder per component, plus ``offline/NAME`` where the offline cluster differs.
OVERLAYS = paths.REPO_ROOT / "cluster" / "components"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlops-course"
#: The label cluster/offline/cluster.sh puts on its node; kind's node has none.
OFFLINE_NODE_LABEL = "mlops-course/cluster"


def module_dir(module: GoModule) -> Path:
    """The pinned module's files: from Go's module cache when Go is here (``go mod download``),
    else as the zip the Go module proxy serves, unpacked into the course's cache. Either way
    they are the files of the tag, the same ones GitHub serves for it."""
    if shutil.which("go"):
        result = subprocess.run(["go", "mod", "download", "-json", f"{module.path}@{module.version}"],
                                capture_output=True, text=True, timeout=600)
        info = json.loads(result.stdout or "{}")
        if result.returncode != 0 or "Dir" not in info:
            raise cluster.ClusterError(f"could not download {module.path}@{module.version} with Go: "
                                       f"{info.get('Error') or result.stderr.strip()}")
        return Path(info["Dir"])
    target = CACHE / "modules" / f"{module.path.replace('/', '+')}@{module.version}"
    if not (target / ".complete").exists():
        proxy = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0]
        escaped = "".join(f"!{c.lower()}" if c.isupper() else c for c in module.path)
        url = f"{proxy}/{escaped}/@v/{module.version}.zip"
        try:
            with urllib.request.urlopen(url, timeout=300) as response:
                archive = zipfile.ZipFile(io.BytesIO(response.read()))
        except OSError as exc:
            raise cluster.ClusterError(f"could not download {url} ({exc}): check your network, or install Go") from None
        shutil.rmtree(target, ignore_errors=True)
        prefix = f"{module.path}@{module.version}/"
        for member in archive.infolist():
            if member.filename.startswith(prefix) and not member.is_dir():
                out = target / member.filename[len(prefix):]
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(archive.read(member))
        (target / ".complete").touch()
    return target


def cluster_flavour() -> str:
    """``offline`` on the cluster built by cluster/offline/cluster.sh, ``kind`` anywhere else."""
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    labels = [n["metadata"].get("labels", {}) for n in nodes]
    return "offline" if any(l.get(OFFLINE_NODE_LABEL) == "offline" for l in labels) else "kind"


def stage(component: Component, flavour: str, overlay: str) -> Path:
    """The folder ``kubectl apply -k`` installs ``overlay`` of ``component`` from on a ``flavour`` cluster.

    The course's overlays are copied with each pinned module's manifests beside them, as
    ``upstream/NAME`` (kustomize reads only relative paths, and Go's module cache is read-only).
    The overlay is ``offline/NAME`` where the offline cluster needs a difference, else ``NAME``."""
    root = CACHE / "manifests"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(OVERLAYS, root)
    for module in component.modules:
        upstream = root / "upstream" / module_name(module)
        shutil.copytree(module_dir(module) / module.manifests, upstream)
        for folder, _, files in os.walk(upstream):
            os.chmod(folder, 0o755)
            for f in files:
                os.chmod(os.path.join(folder, f), 0o644)
    offline = root / "offline" / overlay
    return offline if flavour == "offline" and offline.is_dir() else root / overlay


def module_name(module: GoModule) -> str:
    """``upstream/NAME`` for a module: its last path element that is not a major version (``trainer`` for .../trainer/v2)."""
    parts = [p for p in module.path.split("/") if not (p.startswith("v") and p[1:].isdigit())]
    return parts[-1]


# --- install ----------------------------------------------------------------------


def _apply(step: Apply, component: Component, flavour: str) -> None:
    local = step.kustomize and not step.source.startswith("https://")
    source = str(stage(component, flavour, step.source)) if local else step.source
    args = ["apply", "-k" if step.kustomize else "-f", source]
    if step.selector:
        args += ["-l", step.selector]
    if step.server_side:
        args += ["--server-side", "--force-conflicts"]
    try:
        cluster.kubectl(*args, timeout=300)
    except cluster.ClusterError as exc:
        if not (step.retry and "no matches for kind" in str(exc)):
            raise
        cluster.kubectl(*args, timeout=300)  # the CRDs from the first pass are known now
    for crd in step.crds:
        cluster.wait_for_crd(crd)


def _openssl(*args: str, cwd: Path) -> str:
    if shutil.which("openssl") is None:
        raise cluster.ClusterError("openssl is not installed, and the installer makes webhook certificates with it: "
                                   "install it (apt-get install openssl, brew install openssl)")
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise cluster.ClusterError(f"openssl {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def _certificate_fits(files: dict[str, str], dns: str, folder: Path) -> bool:
    """Do ``tls.crt``, ``tls.key`` and ``ca.crt`` (PEM text) make a serving certificate for ``dns``,
    signed by that CA, valid for 30 more days, and matching its key?"""
    if not all(files.get(k) for k in ("tls.crt", "tls.key", "ca.crt")):
        return False
    for name, text in files.items():
        (folder / name).write_text(text)
    try:
        _openssl("verify", "-CAfile", "ca.crt", "tls.crt", cwd=folder)
        _openssl("x509", "-checkend", str(30 * 86400), "-noout", "-in", "tls.crt", cwd=folder)
        text = _openssl("x509", "-noout", "-text", "-in", "tls.crt", cwd=folder)
        same_key = (_openssl("x509", "-noout", "-pubkey", "-in", "tls.crt", cwd=folder)
                    == _openssl("pkey", "-pubout", "-in", "tls.key", cwd=folder))
    except cluster.ClusterError:
        return False
    return f"DNS:{dns}" in text and same_key


def ensure_webhook_certificate(step: WebhookCertificate) -> str:
    """Make (or keep) the webhook's certificate and give its CA to the webhooks; says which it did."""
    import base64
    import tempfile

    dns = f"{step.service}.{step.namespace}.svc"
    with tempfile.TemporaryDirectory(prefix="webhook-cert-") as tmp:
        folder = Path(tmp)  # private to this user (mode 0700), deleted with the keys in it
        found = cluster.kubectl("get", "secret", step.secret, "-n", step.namespace, "-o", "json", check=False)
        existing = json.loads(found.stdout).get("data", {}) if found.returncode == 0 else {}
        files = {k: base64.b64decode(v).decode() for k, v in existing.items() if k in ("tls.crt", "tls.key", "ca.crt")}
        kept = _certificate_fits(files, dns, folder)
        if not kept:
            names = [step.service, f"{step.service}.{step.namespace}", dns, f"{dns}.cluster.local"]
            (folder / "openssl.cnf").write_text(
                "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
                "[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
                "subjectKeyIdentifier = hash\n"
                "[serving]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
                f"extendedKeyUsage = serverAuth\nsubjectAltName = {','.join('DNS:' + n for n in names)}\n")
            days = str(step.days)
            _openssl("req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", "ca.key", "-out", "ca.crt",
                     "-days", days, "-config", "openssl.cnf", "-extensions", "ca", "-subj", f"/CN={step.service}-ca", cwd=folder)
            _openssl("req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", "tls.key", "-out", "tls.csr",
                     "-config", "openssl.cnf", "-subj", f"/CN={dns}", cwd=folder)
            _openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", "tls.crt", "-days", days, "-extfile", "openssl.cnf", "-extensions", "serving", cwd=folder)
            files = {k: (folder / k).read_text() for k in ("tls.crt", "tls.key", "ca.crt")}
            secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                      "metadata": {"name": step.secret, "namespace": step.namespace},
                      "data": {k: base64.b64encode(v.encode()).decode() for k, v in files.items()}}
            # A Secret's type cannot change: one of another type (an empty placeholder, say) is replaced.
            if found.returncode == 0 and json.loads(found.stdout).get("type") != "kubernetes.io/tls":
                cluster.kubectl("delete", "secret", step.secret, "-n", step.namespace)
            # Server-side: a client-side apply would copy the private key into an annotation.
            cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(secret))
    bundle = base64.b64encode(files["ca.crt"].encode()).decode()
    for ref in step.webhooks:
        configuration = cluster.kubectl_json("get", ref)
        patch = [{"op": "add", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": bundle}
                 for i in range(len(configuration.get("webhooks", [])))]
        if patch:
            cluster.kubectl("patch", ref, "--type", "json", "-p", json.dumps(patch))
    for crd in step.crds:
        cluster.kubectl("patch", "crd", crd, "--type", "json", "-p", json.dumps(
            [{"op": "add", "path": "/spec/conversion/webhook/clientConfig/caBundle", "value": bundle}]))
    return (f"webhook certificate for {dns}: {'kept the one in' if kept else 'made a new one in'} Secret "
            f"{step.namespace}/{step.secret}; its CA trusted by {len(step.webhooks)} webhook configuration(s)"
            + (f" and {len(step.crds)} CRD(s)" if step.crds else ""))


def offline_images() -> list[str]:
    """Every image the offline cluster's node can have: the packed binaries and the images built here."""
    images = [b.image for c in COMPONENTS.values() for m in c.modules for b in m.binaries]
    images += [d.tag for c in COMPONENTS.values() for d in c.docker_images if "offline" in d.clusters]
    return images


def load_docker_images(component: Component, flavour: str) -> None:
    """Build (``docker build``, cached by Docker) and load onto the node the images ``component`` runs here."""
    for image in component.docker_images:
        if flavour not in image.clusters:
            continue
        if image.context:
            result = subprocess.run(["docker", "build", "--network", "host", "-q", "-t", image.tag,
                                     str(paths.REPO_ROOT / image.context)], capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                raise cluster.ClusterError(f"docker build -t {image.tag} {image.context} failed: "
                                           f"{(result.stderr or result.stdout).strip()[-600:]}")
        elif subprocess.run(["docker", "image", "inspect", image.tag], capture_output=True).returncode != 0:
            raise cluster.ClusterError(f"{component.name} needs the image {image.tag}, which Docker does not have: "
                                       "build it with scripts/build_base_image.sh (or docker pull it)")
        cluster.load_images(image.tag)
        print(f"[cluster]   {image.tag} loaded onto the node", flush=True)


def install(names: list[str], force: bool = False) -> None:
    ordered = with_needs(names)
    flavour = cluster_flavour()
    elsewhere = [n for n in ordered if flavour not in COMPONENTS[n].clusters]
    if elsewhere:
        why = {"kind": "kind ships its own", "offline": "it cannot be built from Go modules, so only kind runs it"}
        raise SystemExit(f"not installing {', '.join(elsewhere)} on this {flavour} cluster: "
                         f"{'; '.join(f'{n}: ' + (why['kind'] if flavour == 'kind' else why['offline']) for n in elsewhere)}")
    missing = [n for n in ordered if not installed(COMPONENTS[n])]
    problems = fit_problems(missing, node_memory_free_mib()) if missing else []
    if problems and not force:
        raise SystemExit("not installing: " + problems[0] + " (or pass --force to try anyway)")
    for name in ordered:
        component = COMPONENTS[name]
        # An installed component is only waited for: applying again would repeat its
        # patches (an extra kubelet flag, a controller restart) for nothing.
        again = name not in missing
        print(f"[cluster] {name} {component.version}: {component.what}{' (installed: waiting for it)' if again else ''}", flush=True)
        if not again:
            load_docker_images(component, flavour)
        for step in component.steps:
            if again and not isinstance(step, Ready):
                continue
            if isinstance(step, Apply):
                _apply(step, component, flavour)
            elif isinstance(step, WebhookCertificate):
                print(f"[cluster]   {ensure_webhook_certificate(step)}", flush=True)
            elif isinstance(step, Kubectl):
                result = cluster.kubectl(*step.args, check=False)
                if result.returncode != 0 and "AlreadyExists" not in result.stderr:
                    raise cluster.ClusterError(f"kubectl {' '.join(step.args)} failed: {result.stderr.strip()}")
            else:
                seconds = cluster.wait_for_deployment(step.namespace, step.deployment, timeout=component.timeout_seconds,
                                                      what=f"{name}'s {step.deployment}")
                print(f"[cluster]   {step.namespace}/{step.deployment} ready ({seconds:.0f} s)", flush=True)
        if component.port_forward:
            print(f"[cluster]   its UI: {component.port_forward}", flush=True)
    relabel_shared_namespaces()


def relabel_shared_namespaces() -> None:
    """KFP, Katib and the Training Operator each apply Namespace ``kubeflow`` with their own labels,
    and a later apply drops an earlier one's: put back the labels of every installed component."""
    for component in COMPONENTS.values():
        if component.namespace_labels and installed(component):
            namespace = component.deployments[0].namespace
            labels = [f"{k}={v}" for k, v in component.namespace_labels]
            cluster.kubectl("label", "namespace", namespace, *labels, "--overwrite")


def status() -> list[tuple[str, str]]:
    rows = []
    for component in COMPONENTS.values():
        if not installed(component):
            rows.append((component.name, "not installed"))
            continue
        ready = all(
            cluster.deployment_ready(cluster.kubectl_json("get", "deployment", r.deployment, "-n", r.namespace))
            for r in component.deployments
        )
        rows.append((component.name, f"{component.version} {'ready' if ready else 'NOT ready: cluster/up ' + component.name + ' says why'}"))
    return rows


# --- memory in use ----------------------------------------------------------------


def parse_top(text: str) -> dict[str, float]:
    """``kubectl top pod --no-headers`` output as {pod: MiB} (its MEMORY column is the working set)."""
    usage = {}
    for line in text.strip().splitlines():
        fields = line.split()
        if len(fields) >= 3:
            usage[fields[0]] = parse_quantity(fields[2]) / 2**20
    return usage


def component_pods(component: Component) -> list[tuple[str, str]]:
    """(namespace, pod) of every pod of the Deployments ``component`` waits for."""
    pods = []
    for ready in component.deployments:
        found = cluster.kubectl("get", "deployment", ready.deployment, "-n", ready.namespace, "-o", "json", check=False)
        if found.returncode != 0:
            continue
        labels = json.loads(found.stdout)["spec"]["selector"].get("matchLabels", {})
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        listed = cluster.kubectl_json("get", "pods", "-n", ready.namespace, "-l", selector)["items"]
        pods += [(ready.namespace, p["metadata"]["name"]) for p in listed]
    return pods


def memory_in_use(names: list[str]) -> dict[str, float]:
    """The working-set memory (MiB) of each installed component's pods, summed, as metrics-server reports it
    (what ``kubectl top pod`` shows); a component whose pods metrics-server has not scraped yet is left out."""
    usage = {}
    tops: dict[str, dict[str, float]] = {}
    for name in names:
        pods = component_pods(COMPONENTS[name])
        for namespace in {ns for ns, _ in pods} - set(tops):
            result = cluster.kubectl("top", "pod", "-n", namespace, "--no-headers", check=False)
            if result.returncode != 0 and "metrics" in result.stderr.lower() and "not available" in result.stderr.lower():
                raise cluster.ClusterError("metrics-server does not answer (kubectl top pod): install it with "
                                           "cluster/up metrics-server, or wait a minute after installing it")
            tops[namespace] = parse_top(result.stdout) if result.returncode == 0 else {}
        seen = [tops[ns][pod] for ns, pod in pods if pod in tops.get(ns, {})]
        if pods and len(seen) == len(pods):
            usage[name] = round(sum(seen), 1)
    return usage


def sample_memory(names: list[str], every: float, output: Path) -> None:
    """Sample :func:`memory_in_use` every ``every`` seconds until stopped, keeping each component's first
    (idle) figure and its peak in ``output`` (JSON, rewritten at each sample)."""
    import time

    record: dict[str, dict[str, float]] = {}
    while True:
        try:
            now = memory_in_use(names)
        except (cluster.ClusterError, subprocess.TimeoutExpired, json.JSONDecodeError):
            now = {}  # a lost sample is not a failure of the run; the next one counts
        for name, mib in now.items():
            entry = record.setdefault(name, {"idle_mib": mib, "peak_mib": mib, "samples": 0})
            entry["peak_mib"] = max(entry["peak_mib"], mib)
            entry["samples"] += 1
        if now:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(record, indent=1) + "\n")
        time.sleep(every)


def memory_table(record: dict[str, dict[str, float]]) -> str:
    """The sampled figures as a table, beside the figure each component plans for."""
    lines = [f"{'component':24} {'idle MiB':>9} {'peak MiB':>9} {'plans for':>10}  samples"]
    for name, entry in record.items():
        planned = COMPONENTS[name].uses_mib if name in COMPONENTS else 0
        lines.append(f"{name:24} {entry['idle_mib']:9.0f} {entry['peak_mib']:9.0f} {planned:10}  {entry['samples']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_course.components", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="the components, their pins and memory")
    listing.add_argument("--cluster", choices=("kind", "offline"), help="only those this cluster runs")
    listing.add_argument("--names", action="store_true", help="only their names, on one line")
    for name, text in (("check", "will these fit on the cluster?"), ("install", "install these components")):
        p = sub.add_parser(name, help=text)
        p.add_argument("names", nargs="+", choices=list(COMPONENTS), metavar="NAME")
        if name == "install":
            p.add_argument("--force", action="store_true", help="install even when the memory check says it will not fit")
    sub.add_parser("status", help="which components are installed and ready")
    memory = sub.add_parser("memory", help="the memory each installed component's pods use now (metrics-server)")
    memory.add_argument("names", nargs="*", metavar="NAME")
    memory.add_argument("--every", type=float, help="sample every this many seconds until stopped, into --out")
    memory.add_argument("--out", type=Path, help="where --every keeps the idle and peak figures (JSON)")
    memory.add_argument("--table", type=Path, metavar="JSON", help="print the figures --out kept, as a table")
    for name, text in (("builds", "what cluster/offline/build-components.sh builds: NAME VERSION MODULE PACKAGE=FILE ..."),
                       ("images", "what the offline cluster packs: NAME-VERSION/FILE IMAGE ENTRYPOINT WORKDIR [USER]")):
        p = sub.add_parser(name, help=text)
        p.add_argument("names", nargs="*", metavar="NAME")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            listed = [c for c in COMPONENTS.values() if args.cluster in (None, *c.clusters)]
            if args.names:
                print(" ".join(c.name for c in listed))
            for c in listed if not args.names else ():
                print(f"{c.name:22} {c.version:8} ~{c.uses_mib:5} MiB  {c.what}")
        elif args.command == "check":
            problems = check(args.names)
            print(problems[0] if problems else f"{', '.join(with_needs(args.names))}: fits")
            return 1 if problems else 0
        elif args.command == "install":
            install(args.names, force=args.force)
        elif args.command == "memory":
            if args.table:
                print(memory_table(json.loads(args.table.read_text())) if args.table.exists()
                      else f"no memory figures in {args.table}: the sampler saw no component")
                return 0
            names = args.names or [n for n, c in COMPONENTS.items() if installed(c)]
            if args.every:
                sample_memory(names, args.every, args.out or Path(".work/component-memory.json"))
            for name, mib in memory_in_use(names).items():
                print(f"{name:24} {mib:7.0f} MiB")
        elif args.command in ("builds", "images"):
            for c in COMPONENTS.values():
                if args.names and c.name not in args.names:
                    continue
                for m in c.modules:
                    if not m.binaries:
                        continue
                    key = f"{module_name(m)} {m.version}"
                    if args.command == "builds":
                        print(key, m.path, " ".join(f"{b.package}={b.file}" for b in m.binaries))
                    else:
                        for b in m.binaries:
                            print(f"{module_name(m)}-{m.version}/{b.file} {b.image} {b.entrypoint} {b.workdir} {b.user}".rstrip())
        else:
            for name, state in status():
                print(f"{name:18} {state}")
    except cluster.ClusterError as exc:
        print(f"[cluster] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
