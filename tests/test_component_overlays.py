"""The course's component overlays build, for each cluster they are applied on,
and on the offline cluster every image a component's workloads run is one the
machine makes (a Go binary packed under the upstream name, or an image the
course builds with Docker): a pod that would wait for an image nobody can pull
fails here, before any cluster is involved.

The overlays are built with kubectl's own kustomize from the pinned modules'
manifests (downloaded from the Go module proxy, as the installer does).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from mlops_course import components


@pytest.fixture(autouse=True, scope="module")
def own_staging_folder(tmp_path_factory):
    """Stage into a folder of this module's own: `scripts/course test` installs the components from the
    shared staging folder while these static tests run, and staging replaces that folder's contents."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(components, "CACHE", tmp_path_factory.mktemp("course-cache"))
        yield


def _overlays(component: components.Component) -> list[str]:
    return [step.source for step in component.steps
            if isinstance(step, components.Apply) and step.kustomize and not step.source.startswith("https://")]


#: (component, cluster) for every component installed from the course's overlays, on each cluster it runs on.
KUSTOMIZED = [(c.name, flavour) for c in components.COMPONENTS.values() for flavour in c.clusters if _overlays(c)]
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


def _containers(obj):
    """Every container spec under ``obj``, at any depth (pod templates, CronJob templates, CRs)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict) and "image" in c)
            else:
                yield from _containers(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _containers(item)


def _built(name: str, flavour: str, overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its kustomize) is not installed")
    folder = components.stage(components.COMPONENTS[name], flavour, overlay)
    result = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{name} on {flavour}: kubectl kustomize failed: {result.stderr.strip()[-800:]}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.mark.parametrize(("name", "flavour"), KUSTOMIZED, ids=[f"{n}-{f}" for n, f in KUSTOMIZED])
def test_the_overlays_build_and_run_only_images_this_cluster_can_have(name, flavour):
    component = components.COMPONENTS[name]
    # A component may be applied in several steps (KServe: CRDs, controller, runtimes): together they make it.
    objects = [o for overlay in _overlays(component) for o in _built(name, flavour, overlay)]
    kinds = {o["kind"] for o in objects}
    assert kinds & WORKLOADS, f"{name}: the overlay makes no workload"
    named = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for ready in component.deployments:
        assert ("Deployment", ready.deployment) in named, f"{name} waits for Deployment {ready.deployment}, which its overlay does not make"
    for crd in component.crds:
        assert ("CustomResourceDefinition", crd) in named, f"{name} names CRD {crd}, which its overlay does not make"
    requested = sum((o["spec"].get("replicas") or 1) * components.parse_quantity(memory) / 2**20
                    for o in objects if o["kind"] in ("Deployment", "StatefulSet")
                    for c in o["spec"]["template"]["spec"]["containers"]
                    if (memory := c.get("resources", {}).get("requests", {}).get("memory")))
    assert round(requested) == component.requests_mib, f"{name}: its pods request {requested:.0f} MiB, the course says {component.requests_mib}"
    if flavour != "offline":
        return
    available = set(components.offline_images())
    for o in objects:
        if o["kind"] not in WORKLOADS:
            continue
        for c in _containers(o):
            image = c["image"] if ":" in c["image"].rsplit("/", 1)[-1] else c["image"] + ":latest"
            assert image in available, (
                f"{name}: {o['kind']} {o['metadata']['name']} runs {c['image']}, which the offline cluster does not have "
                f"(not a packed binary, nor an image the course builds): add it to the component or to its offline overlay"
            )
            assert c.get("imagePullPolicy", "IfNotPresent") != "Always", f"{name}: {c['image']} is pulled Always"


def test_kserves_agent_image_is_pinned_and_packed_for_the_offline_cluster():
    """KServe adds its agent beside a predictor that names a model without a storageUri (a canary's):
    the image comes from inferenceservice-config, not from a workload, so it is checked here."""
    import json

    objects = _built("kserve", "offline", "kserve")
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "inferenceservice-config")
    agent = json.loads(config["data"]["agent"])
    assert agent["image"] == "kserve/agent:" + components.COMPONENTS["kserve"].version
    assert agent["image"] in components.offline_images()
