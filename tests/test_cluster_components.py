"""The component installer and the waits behind it.

The first tests need no cluster: the install order, quantities, the memory
check's arithmetic, and how a pod's status is read. The cluster-tier tests make
real workloads fail to become ready in three ways (a readiness probe that never
passes, an image the node does not have, a pod too big for the node) and check
that the wait says which, and what to do, instead of just timing out.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
import yaml

import conftest
from mlops_course import cluster, components

ROOT = Path(__file__).resolve().parents[1]


def test_dependencies_come_first_and_once():
    order = list(components.COMPONENTS)
    for c in components.COMPONENTS.values():
        wanted = components.with_needs([c.name, *c.needs, c.name])
        assert wanted[-1] == c.name and len(wanted) == len(set(wanted)), wanted
        assert set(c.needs) <= set(wanted) and wanted == sorted(wanted, key=order.index)
    assert components.with_needs(["kserve", "cert-manager", "kfp"]) == ["cert-manager", "kfp", "kserve"]
    with pytest.raises(SystemExit, match="unknown component.*choose from"):
        components.with_needs(["kubeflow-everything"])


@pytest.mark.parametrize(
    ("text", "value"),
    [("512Mi", 512 * 2**20), ("2Gi", 2 * 2**30), ("1G", 1e9), ("250m", 0.25), ("1024", 1024), ("1.5Gi", 1.5 * 2**30),
     ("1915147648n", 1.915147648), ("250000u", 0.25)],
)
def test_kubernetes_quantities(text, value):
    assert components.parse_quantity(text) == pytest.approx(value)


def test_the_memory_check_refuses_what_does_not_fit_and_names_each_component():
    assert components.fit_problems(["katib"], free_mib=10_000) == []
    problems = components.fit_problems(["kfp", "katib"], free_mib=1000)
    assert len(problems) == 1
    need = components.COMPONENTS["kfp"].uses_mib + components.COMPONENTS["katib"].uses_mib
    assert f"about {need} MiB" in problems[0] and "1000 MiB left" in problems[0]
    assert "kfp ~" in problems[0] and "katib ~" in problems[0] and "Install fewer" in problems[0]


def test_every_component_is_pinned_and_waited_for():
    for c in components.COMPONENTS.values():
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", c.version), c.name
        assert c.deployments and c.timeout_seconds > 0 and c.uses_mib > 0, c.name
        assert c.modules[0].version == c.version if c.modules else True, f"{c.name}: its module is not at its version"
        for m in c.modules:
            assert re.fullmatch(r"v\d+\.\d+\.\d+", m.version), f"{c.name}: {m.path}@{m.version} is not a release"
        for step in c.steps:
            if isinstance(step, components.Apply) and step.source.startswith("https://"):
                assert c.version in step.source, f"{c.name}: {step.source} is not pinned to {c.version}"
            elif isinstance(step, components.Apply) and step.kustomize:
                assert c.modules, f"{c.name}: an overlay with no module to build on"
                overlay = components.OVERLAYS / step.source / "kustomization.yaml"
                assert overlay.is_file(), f"{c.name}: no overlay {overlay.relative_to(ROOT)}"
    order = list(components.COMPONENTS)
    for c in components.COMPONENTS.values():
        assert all(order.index(n) < order.index(c.name) for n in c.needs), f"{c.name} comes before what it needs"


def _pod(conditions=(), statuses=(), phase="Pending"):
    return {"metadata": {"name": "p"}, "status": {"phase": phase, "conditions": list(conditions), "containerStatuses": list(statuses)}}


def test_pod_problems_read_what_kubernetes_reports():
    ready = _pod([{"type": "Ready", "status": "True"}], phase="Running")
    assert components.cluster.pod_problems(ready) == []
    unschedulable = _pod([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes: Insufficient memory"}])
    assert [(p.reason, p.detail) for p in cluster.pod_problems(unschedulable)] == [("Unschedulable", "0/1 nodes: Insufficient memory")]
    pulling = _pod([{"type": "PodScheduled", "status": "True"}], [{"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}])
    assert cluster.pod_problems(pulling)[0].reason == "ImagePullBackOff"
    oom = _pod(
        [{"type": "PodScheduled", "status": "True"}],
        [{"name": "c", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"reason": "OOMKilled"}}}],
    )
    assert cluster.pod_problems(oom)[0].reason == "OOMKilled"
    probing = _pod([{"type": "PodScheduled", "status": "True"}], [{"name": "c", "ready": False, "state": {"running": {}}}], phase="Running")
    assert cluster.pod_problems(probing)[0].reason == "NotReady"
    for problem in ("Unschedulable", "ImagePullBackOff", "OOMKilled", "NotReady"):
        assert problem in cluster.FIXES


def test_the_kind_config_publishes_on_loopback_only_and_the_node_image_is_pinned_by_digest():
    config = yaml.safe_load((ROOT / "cluster/kind/kind-config.yaml").read_text())
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4" and config["kind"] == "Cluster"
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"
    mappings = [m for node in config["nodes"] for m in node.get("extraPortMappings", [])]
    assert mappings and all(m["listenAddress"] == "127.0.0.1" for m in mappings)
    script = (ROOT / "cluster/kind/cluster.sh").read_text()
    assert "KIND_VERSION=v0.32.0" in script
    image = re.search(r'KIND_NODE_IMAGE="\$\{KIND_NODE_IMAGE:-([^}]+)\}"', script).group(1)
    assert re.fullmatch(r"kindest/node(:v1\.\d+(\.\d+)?)?@sha256:[0-9a-f]{64}", image), image
    host_ports = re.search(r"HOST_PORTS=\(([^)]*)\)", script).group(1).split()
    assert sorted(int(p) for p in host_ports) == sorted(m["hostPort"] for m in mappings)
    readme = (ROOT / "cluster/README.md").read_text()
    assert image in readme, "cluster/README.md must show the pinned node image"


# --- on a real cluster ------------------------------------------------------------------

on_cluster = pytest.mark.cluster

NEVER_READY = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: server
          image: {image}
          imagePullPolicy: Never
          args: [serve, -addr, ":8080"]
          readinessProbe: {{httpGet: {{path: /, port: {probe_port}}}, periodSeconds: 1}}
          resources: {{requests: {{cpu: 10m, memory: {memory}}}, limits: {{memory: {limit}}}}}
"""


@pytest.fixture
def namespace():
    name = f"course-test-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@on_cluster
@pytest.mark.parametrize(
    ("case", "fields", "reason", "fix"),
    [
        ("probe", {"image": "mlops-course/hello:1", "probe_port": 9, "memory": "16Mi", "limit": "64Mi"}, "NotReady", "readiness probe"),
        ("image", {"image": "mlops-course/not-built:1", "probe_port": 8080, "memory": "16Mi", "limit": "64Mi"}, "ErrImageNeverPull", "build it and load it"),
        ("memory", {"image": "mlops-course/hello:1", "probe_port": 8080, "memory": "1000Gi", "limit": "1000Gi"}, "Unschedulable", "Insufficient memory"),
    ],
)
def test_a_component_that_never_becomes_ready_is_diagnosed(namespace, case, fields, reason, fix):
    cluster.apply(NEVER_READY.format(name=f"never-{case}", **fields), namespace=namespace)
    with pytest.raises(cluster.NotReadyError) as error:
        cluster.wait_for_deployment(namespace, f"never-{case}", timeout=12, what=f"component never-{case}")
    message = str(error.value)
    print(message)
    assert f"component never-{case} was not ready after 12 s" in message
    assert f"pod never-{case}-" in message and reason in message
    assert fix in message


@on_cluster
def test_a_ready_deployment_is_waited_for_and_the_memory_check_reads_the_node(namespace):
    cluster.apply(NEVER_READY.format(name="ready", image="mlops-course/hello:1", probe_port=8080, memory="16Mi", limit="64Mi"), namespace=namespace)
    seconds = cluster.wait_for_deployment(namespace, "ready", timeout=120)
    assert 0 <= seconds < 120
    # kubectl describe node sums the same requests: the two must agree.
    described = cluster.kubectl("describe", "nodes").stdout
    allocatable = sum(components.parse_quantity(m) for m in re.findall(r"^Allocatable:(?:\n .*)*?\n  memory:\s+(\S+)", described, re.M))
    requested = sum(components.parse_quantity(m) for m in re.findall(r"^Allocated resources:(?:\n .*)*?\n  memory\s+(\S+)", described, re.M))
    assert allocatable > 0
    assert abs(components.node_memory_free_mib() - (allocatable - requested) / 2**20) <= 1


def test_the_github_workflow_brings_kind_up_runs_the_test_command_and_always_tears_down():
    workflow = yaml.safe_load((ROOT / ".github/workflows/cluster-tier.yml").read_text())
    steps = workflow["jobs"]["cluster-tier"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert runs.index("cluster/up $COURSE_COMPONENTS") < runs.index("scripts/course test")
    down = next(s for s in steps if s.get("run") == "cluster/down")
    assert down.get("if") == "always()"
    for command in ("cluster/up", "cluster/down", "cluster/status", "scripts/course"):
        assert (ROOT / command).is_file() and (ROOT / command).stat().st_mode & 0o111, command


def test_the_monday_run_installs_every_pinned_component_and_requires_the_kubeflow_tier():
    workflow = yaml.safe_load((ROOT / ".github/workflows/cluster-tier.yml").read_text())
    assert "schedule" in workflow.get(True, workflow.get("on", {}))  # YAML 1.1 reads the key `on` as True
    expression = workflow["env"]["COURSE_COMPONENTS"]
    scheduled = re.search(r"github.event_name == 'schedule' && '([^']*)'", expression).group(1).split()
    on_kind = [n for n, c in components.COMPONENTS.items() if "kind" in c.clusters]
    assert scheduled == on_kind, "the Monday run installs every component that kind runs, in order"
    steps = {s.get("name", ""): s for s in workflow["jobs"]["cluster-tier"]["steps"]}
    doctor = next(s for name, s in steps.items() if "kubeflow tier" in name)
    assert doctor["run"] == "scripts/course doctor --tier kubeflow --components $COURSE_COMPONENTS"
    test = next(s for s in steps.values() if s.get("run") == "scripts/course test")
    assert "'docker cluster kubeflow'" in test["env"]["COURSE_REQUIRED_TIERS"]


@pytest.mark.kubeflow
@pytest.mark.skipif(not __import__("os").environ.get("COURSE_COMPONENTS"), reason="COURSE_COMPONENTS names no installed component")
def test_the_components_this_run_installed_are_ready():
    names = __import__("os").environ["COURSE_COMPONENTS"].split()
    report = components.readiness(names)
    assert report == {n: "" for n in components.with_needs(names)}, report


def _kind() -> str | None:
    """kind v0.32.0 where cluster/up looks for it: on PATH, or where it installs it."""
    import os
    import shutil
    import subprocess

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlops-course/bin/kind"
    for kind in (shutil.which("kind"), str(cache)):
        if kind and Path(kind).is_file():
            if "kind v0.32.0 " in subprocess.run([kind, "version"], capture_output=True, text=True).stdout:
                return kind
    return None


@pytest.mark.skipif(_kind() is None, reason="kind v0.32.0 is not installed (cluster/up installs it with Go)")
@pytest.mark.skipif(conftest.tier_skip_reason("docker") is not None, reason="kind needs a Docker daemon")
@pytest.mark.parametrize("config", ["cluster/kind/kind-config.yaml", "misspelt"])
def test_kind_itself_accepts_the_config(config, tmp_path):
    """kind decodes the config strictly before it pulls the node image; the image
    named here does not exist, so kind stops right after the decoding (no cluster is made)."""
    import subprocess

    path = ROOT / config
    if config == "misspelt":  # the same config with one key misspelt: kind must refuse it
        path = tmp_path / "kind-config.yaml"
        path.write_text((ROOT / "cluster/kind/kind-config.yaml").read_text().replace("listenAddress", "listenAdress"))
    result = subprocess.run(
        [_kind(), "create", "cluster", "--name", "course-config-check", "--config", str(path), "--image", "mlops-course/absent-node-image:0"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    decoded = "unable to decode config" not in result.stderr
    assert decoded == (config != "misspelt"), result.stderr[-500:]
    if decoded:
        assert "Ensuring node image" in result.stderr


def _cluster_up(env: dict | None = None):
    import os
    import subprocess

    return subprocess.run([str(ROOT / "cluster/up")], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


@pytest.mark.skipif(__import__("shutil").which("docker") is None, reason="no docker client: cluster/up says to install Docker")
def test_cluster_up_without_a_docker_daemon_says_to_start_one():
    result = _cluster_up({"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 1
    assert "no Docker daemon answers: start Docker Desktop" in result.stderr


@pytest.mark.skipif(_kind() is None, reason="kind v0.32.0 is not installed (cluster/up installs it with Go)")
@pytest.mark.skipif(conftest.tier_skip_reason("docker") is not None, reason="cluster/up needs a Docker daemon")
def test_cluster_up_refuses_a_taken_node_port_before_creating_anything():
    import socket

    with socket.socket() as taken:
        try:
            taken.bind(("127.0.0.1", 30080))
        except OSError:
            pytest.skip("port 30080 is in use already")
        taken.listen()
        result = _cluster_up()
    assert result.returncode == 1
    assert "port 30080 on this machine is in use by python" in result.stderr and "run cluster/up again" in result.stderr


def test_the_readme_says_which_components_ci_runs_at_which_pin():
    readme = (ROOT / "README.md").read_text()
    for c in components.COMPONENTS.values():
        row = next((line for line in readme.splitlines() if re.match(rf"\| {re.escape(c.name)}( \(.*\))? \|", line)), None)
        assert row, f"README.md's components table has no row for {c.name}"
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1] == c.version, row
        assert cells[2].startswith("built from") == ("offline" in c.clusters), f"{c.name}: CI runs it iff it is built: {row}"
        assert (cells[3] == f"`cluster/up {c.name}`") == ("kind" in c.clusters), row


def test_the_cluster_readme_states_each_components_pin_and_memory():
    readme = (ROOT / "cluster/README.md").read_text()
    for c in components.COMPONENTS.values():
        row = next((line for line in readme.splitlines() if line.startswith(f"| {c.name} |")), None)
        assert row, f"cluster/README.md has no row for {c.name}"
        assert f"| {c.version} |" in row and f"| {c.requests_mib} | {c.uses_mib} |" in row, row


@on_cluster
def test_the_installer_applies_waits_is_idempotent_and_reports_a_component_that_never_becomes_ready(tmp_path, monkeypatch, capsys):
    """The installer's own path on a real cluster, with components made of the course's
    local image (the real ones need a registry): create a namespace, apply, wait."""
    namespace = f"course-test-{uuid.uuid4().hex[:6]}"
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    for path, name, probe_port in ((good, "server", 8080), (bad, "broken", 9)):
        manifest = NEVER_READY.format(name=name, image="mlops-course/hello:1", probe_port=probe_port, memory="16Mi", limit="64Mi")
        path.write_text(manifest.replace(f"metadata: {{name: {name}}}", f"metadata: {{name: {name}, namespace: {namespace}}}"))

    def component(name, manifest):
        steps = (
            components.Kubectl(("create", "namespace", namespace)),
            components.Apply(str(manifest)),  # kubectl apply -f reads a path as well as a URL
            components.Ready(namespace, name),
        )
        return components.Component(name=name, version="v1.0.0", what="a test component", steps=steps,
                                    requests_mib=16, uses_mib=16, uses_source="its manifest", timeout_seconds=12)

    monkeypatch.setattr(components, "COMPONENTS", {"server": component("server", good), "broken": component("broken", bad)})
    try:
        assert components.main(["install", "server"]) == 0
        assert components.main(["install", "server"]) == 0  # a second time: the namespace exists, nothing breaks
        assert components.status() == [("server", "v1.0.0 ready"), ("broken", "not installed")]
        out = capsys.readouterr().out
        assert f"{namespace}/server ready" in out
        assert components.main(["install", "broken"]) == 1
        err = capsys.readouterr().err
        assert "broken's broken was not ready after 12 s" in err and "NotReady" in err and "readiness probe" in err
        assert components.status()[1] == ("broken", "v1.0.0 NOT ready: cluster/up broken says why")
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@on_cluster
def test_the_doctor_answers_the_memory_question_before_an_install():
    from mlops_course import doctor

    check = doctor.check_components(["kserve", "katib"])
    fits = components.node_memory_free_mib() >= sum(components.COMPONENTS[n].uses_mib for n in ("katib", "kserve"))
    assert check.name == "components" and "katib, kserve" in check.detail  # in installation order
    assert check.status == (doctor.OK if fits else doctor.WARNING), check


def test_the_doctor_says_when_it_cannot_ask_the_cluster(monkeypatch, tmp_path):
    from mlops_course import doctor

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    if __import__("shutil").which("kubectl") is None:
        pytest.skip("no kubectl")
    check = doctor.check_components(["kfp"])
    assert check.status == doctor.WARNING and "cannot ask the cluster" in check.detail and "cluster/up" in check.fix



# --- the kubeflow tier: is a component installed and ready? ----------------------------------

KATIB = components.COMPONENTS["katib"]


def _deployment(name, ready=True, replicas=1):
    available = replicas if ready else 0
    return {"metadata": {"name": name, "generation": 1}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": 1, "updatedReplicas": replicas, "availableReplicas": available, "readyReplicas": available}}


def _katib(established=True, ready=True, crds=None, deployments=None):
    crds = {c: established for c in KATIB.crds} if crds is None else crds
    if deployments is None:
        deployments = {(r.namespace, r.deployment): _deployment(r.deployment, ready) for r in KATIB.deployments}
    return components.readiness_problem(KATIB, crds, deployments)


def test_the_reason_a_component_is_not_ready_says_what_is_missing_and_what_to_run():
    assert _katib() == ""
    assert _katib(crds={}, deployments={}) == "katib is not installed on this cluster: run cluster/up katib"
    partly = _katib(crds={"experiments.kubeflow.org": True})
    assert partly.startswith("katib is only partly installed (no CRD suggestions.kubeflow.org, CRD trials.kubeflow.org)")
    assert partly.endswith(": run cluster/up katib, which installs it again and waits for it")
    not_established = _katib(established=False)
    assert "katib is installed but not ready (CRD experiments.kubeflow.org is not established" in not_established
    unready = _katib(ready=False)
    assert "kubeflow/katib-controller has 0 of 1 replicas available" in unready
    assert unready.endswith(": cluster/up katib waits for it and says why it is not ready")


def test_every_kubeflow_component_names_the_crds_the_labs_use():
    for name in ("cert-manager", "training-operator", "kfp", "katib", "kserve"):
        assert components.COMPONENTS[name].crds, f"{name} names no CRD: the kubeflow tier cannot tell it is installed"
        assert all(c.count(".") >= 2 for c in components.COMPONENTS[name].crds), "CRD names are PLURAL.GROUP"


def test_a_kubeflow_lab_is_skipped_with_the_component_in_the_reason(monkeypatch):
    from mlops_course import doctor

    monkeypatch.setattr(doctor, "check_cluster", lambda: doctor.Check("cluster", doctor.OK, "context test is ready"))
    monkeypatch.setattr(components, "readiness", lambda names: {"katib": _katib(crds={}, deployments={})})
    conftest.tier_skip_reason.cache_clear()
    try:
        reason = conftest.tier_skip_reason("kubeflow", ("katib",))
    finally:
        conftest.tier_skip_reason.cache_clear()
    assert reason == ("kubeflow tier with katib not ready here: component katib: katib is not installed on this cluster "
                      "(fix: run cluster/up katib)")


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.course.test}}
spec:
  group: course.test
  scope: Namespaced
  names: {{plural: {plural}, singular: {singular}, kind: {kind}}}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
"""


@on_cluster
def test_on_the_real_cluster_a_bare_cluster_lacks_katib_and_the_kubeflow_tier_says_so():
    from mlops_course import doctor

    if components.installed(KATIB):
        pytest.skip("Katib is installed on this cluster")
    if "katib" in os.environ.get("COURSE_COMPONENTS", "").split():
        pytest.skip("this run installs Katib beside the cluster tier's tests")
    report = components.readiness(["katib"])
    assert list(report) == ["katib"]
    assert report["katib"] == "katib is not installed on this cluster: run cluster/up katib"
    [failure] = [c for c in doctor.tier_problems("kubeflow", ["katib"]) if c.name == "component katib"]
    assert failure.detail == "katib is not installed on this cluster" and failure.fix == "run cluster/up katib"


@on_cluster
def test_on_the_real_cluster_a_component_is_ready_only_with_its_crd_established_and_its_deployment_available(monkeypatch):
    suffix = uuid.uuid4().hex[:6]
    namespace, plural = f"course-test-{suffix}", f"widgets{suffix}"
    crd = f"{plural}.course.test"
    component = components.Component(
        name="widgets", version="v1.0.0", what="a test component", requests_mib=16, uses_mib=16, uses_source="its manifest",
        steps=(components.Ready(namespace, "server"),), crds=(crd,),
    )
    monkeypatch.setattr(components, "COMPONENTS", {"widgets": component})
    try:
        assert components.readiness(["widgets"]) == {"widgets": "widgets is not installed on this cluster: run cluster/up widgets"}
        cluster.apply(CRD.format(plural=plural, singular=f"widget{suffix}", kind=f"Widget{suffix}"))
        cluster.wait_for_crd(crd)
        cluster.kubectl("create", "namespace", namespace)
        assert "only partly installed (no Deployment " + namespace + "/server)" in components.readiness(["widgets"])["widgets"]
        never = NEVER_READY.format(name="server", image="mlops-course/hello:1", probe_port=9, memory="16Mi", limit="64Mi")
        cluster.apply(never, namespace=namespace)
        assert f"{namespace}/server has 0 of 1 replicas available" in components.readiness(["widgets"])["widgets"]
        ready = NEVER_READY.format(name="server", image="mlops-course/hello:1", probe_port=8080, memory="16Mi", limit="64Mi")
        cluster.apply(ready, namespace=namespace)
        cluster.wait_for_deployment(namespace, "server", timeout=120)
        assert components.readiness(["widgets"]) == {"widgets": ""}
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        cluster.kubectl("delete", "crd", crd, "--wait=false", check=False)
