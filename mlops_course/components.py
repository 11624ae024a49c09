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
import json
import sys
from dataclasses import dataclass

from mlops_course import cluster


@dataclass(frozen=True)
class Apply:
    """One ``kubectl apply``: a release manifest (``-f URL``) or a kustomize directory (``-k URL``)."""

    source: str
    kustomize: bool = False
    #: Server-side apply: needed when a CRD is bigger than the 256 KiB annotation client-side apply keeps.
    server_side: bool = False
    #: CustomResourceDefinitions the next step needs, waited for after this one.
    crds: tuple[str, ...] = ()
    #: Apply a second time when the first fails only because a kind defined in the same file was not known yet.
    retry: bool = False


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
class Component:
    name: str
    version: str
    what: str
    steps: tuple[Apply | Kubectl | Ready, ...]
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

    @property
    def deployments(self) -> list[Ready]:
        return [s for s in self.steps if isinstance(s, Ready)]


GITHUB = "https://github.com"
#: The kubeflow/community-distribution README's resource table: requests or observed use, whichever is larger.
COMMUNITY_TABLE = "kubeflow/community-distribution README, resource table"

#: KServe's ingress settings as shipped in v0.20.0, with Ingress creation off: a kind cluster has no
#: ingress controller, and the labs reach model servers through their Services. The whole JSON is
#: needed: the controller refuses to start when a key such as ingressGateway is missing.
KSERVE_INGRESS = json.dumps(
    {
        "enableGatewayApi": False,
        "kserveIngressGateway": "kserve/kserve-ingress-gateway",
        "ingressGateway": "knative-serving/knative-ingress-gateway",
        "localGateway": "knative-serving/knative-local-gateway",
        "localGatewayService": "knative-local-gateway.istio-system.svc.cluster.local",
        "ingressDomain": "example.com",
        "ingressClassName": "istio",
        "domainTemplate": "{{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}",
        "urlScheme": "http",
        "disableIstioVirtualHost": False,
        "disableIngressCreation": True,
        "disableHTTPRouteTimeout": False,
    }
)

#: In installation order: a component comes after the ones it needs, and the Training
#: Operator before Katib (Katib's controller looks for the training CRDs when it starts).
COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            name="metrics-server",
            version="v0.8.1",
            what="resource metrics for kubectl top and the HorizontalPodAutoscaler",
            steps=(
                Apply(f"{GITHUB}/kubernetes-sigs/metrics-server/releases/download/v0.8.1/components.yaml"),
                # kind's kubelets serve self-signed certificates.
                Kubectl(("patch", "-n", "kube-system", "deployment", "metrics-server", "--type=json", "-p",
                         '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--kubelet-insecure-tls"}]')),
                Ready("kube-system", "metrics-server"),
            ),
            requests_mib=200,
            uses_mib=200,
            uses_source="metrics-server README: 100m CPU and 200 MiB serve up to 100 nodes",
            timeout_seconds=300,
        ),
        Component(
            name="cert-manager",
            version="v1.21.1",
            what="issues the TLS certificates for KServe's webhooks (1.21 supports Kubernetes 1.33 to 1.36)",
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
            timeout_seconds=300,
        ),
        Component(
            name="training-operator",
            version="v1.9.4",
            what="Kubeflow Training Operator: PyTorchJob, TFJob, XGBoostJob, ...",
            steps=(
                Apply(f"{GITHUB}/kubeflow/trainer.git/manifests/overlays/standalone?ref=v1.9.4", kustomize=True, server_side=True),
                Ready("kubeflow", "training-operator"),
            ),
            requests_mib=0,
            uses_mib=25,
            uses_source=COMMUNITY_TABLE + " (v1.9.2)",
            crds=("pytorchjobs.kubeflow.org", "tfjobs.kubeflow.org", "xgboostjobs.kubeflow.org"),
            timeout_seconds=300,
        ),
        Component(
            name="kfp",
            version="2.17.0",
            what="Kubeflow Pipelines, standalone: API server, UI, Argo Workflows, MySQL, SeaweedFS, ML Metadata",
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
            timeout_seconds=900,
            port_forward="kubectl -n kubeflow port-forward --address 127.0.0.1 svc/ml-pipeline-ui 8080:80",
        ),
        Component(
            name="katib",
            version="v0.19.0",
            what="Katib, standalone: controller, DB manager, MySQL, UI",
            steps=(
                Apply(f"{GITHUB}/kubeflow/katib.git/manifests/v1beta1/installs/katib-standalone?ref=v0.19.0", kustomize=True),
                # The DB manager restarts until MySQL answers: MySQL first.
                Ready("kubeflow", "katib-mysql"),
                Ready("kubeflow", "katib-db-manager"),
                Ready("kubeflow", "katib-controller"),
                Ready("kubeflow", "katib-ui"),
            ),
            requests_mib=0,
            uses_mib=476,
            uses_source=COMMUNITY_TABLE,
            namespace_labels=(("katib.kubeflow.org/metrics-collector-injection", "enabled"),),
            crds=("experiments.kubeflow.org", "suggestions.kubeflow.org", "trials.kubeflow.org"),
            timeout_seconds=600,
            port_forward="kubectl -n kubeflow port-forward --address 127.0.0.1 svc/katib-ui 8081:80",
        ),
        Component(
            name="kserve",
            version="v0.20.0",
            what="KServe in Standard (raw Deployment) mode: no Knative, no Istio, no Ingress",
            needs=("cert-manager",),
            steps=(
                # kserve.yaml leaves out its Namespace.
                Kubectl(("create", "namespace", "kserve")),
                Apply(f"{GITHUB}/kserve/kserve/releases/download/v0.20.0/kserve.yaml", server_side=True, retry=True,
                      crds=("inferenceservices.serving.kserve.io",)),
                Kubectl(("patch", "configmap", "inferenceservice-config", "-n", "kserve", "--type=merge", "-p",
                         json.dumps({"data": {"deploy": json.dumps({"defaultDeploymentMode": "Standard"}), "ingress": KSERVE_INGRESS}}))),
                # The controller reads its configuration when it starts.
                Kubectl(("rollout", "restart", "deployment/kserve-controller-manager", "-n", "kserve")),
                Ready("kserve", "kserve-controller-manager"),
                Ready("kserve", "llmisvc-controller-manager"),
                Ready("kserve", "kserve-localmodel-controller-manager"),
                # The serving runtimes pass through the controllers' webhooks: after they are ready.
                Apply(f"{GITHUB}/kserve/kserve/releases/download/v0.20.0/kserve-cluster-resources.yaml", server_side=True),
            ),
            requests_mib=700,
            uses_mib=1200,
            uses_source=COMMUNITY_TABLE + " (KServe 0.18); each InferenceService adds its model server (2 GiB by default)",
            crds=("inferenceservices.serving.kserve.io", "servingruntimes.serving.kserve.io", "clusterservingruntimes.serving.kserve.io"),
            timeout_seconds=600,
        ),
    )
}


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

_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "m": 10**-3}


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


# --- install ----------------------------------------------------------------------


def _apply(step: Apply) -> None:
    args = ["apply", "-k" if step.kustomize else "-f", step.source]
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


def install(names: list[str], force: bool = False) -> None:
    ordered = with_needs(names)
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
        for step in component.steps:
            if again and not isinstance(step, Ready):
                continue
            if isinstance(step, Apply):
                _apply(step)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_course.components", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the components, their pins and memory")
    for name, text in (("check", "will these fit on the cluster?"), ("install", "install these components")):
        p = sub.add_parser(name, help=text)
        p.add_argument("names", nargs="+", choices=list(COMPONENTS), metavar="NAME")
        if name == "install":
            p.add_argument("--force", action="store_true", help="install even when the memory check says it will not fit")
    sub.add_parser("status", help="which components are installed and ready")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for c in COMPONENTS.values():
                print(f"{c.name:18} {c.version:8} ~{c.uses_mib:5} MiB  {c.what}")
        elif args.command == "check":
            problems = check(args.names)
            print(problems[0] if problems else f"{', '.join(with_needs(args.names))}: fits")
            return 1 if problems else 0
        elif args.command == "install":
            install(args.names, force=args.force)
        else:
            for name, state in status():
                print(f"{name:18} {state}")
    except cluster.ClusterError as exc:
        print(f"[cluster] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
