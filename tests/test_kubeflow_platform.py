"""The platform pieces other components stand on: the default StorageClass and metrics-server.

Storage: on the offline cluster the course installs local-path-provisioner as the `standard`
default class; kind ships the same class itself, so the tests check whichever the cluster has.
Metrics: an HPA reads a CPU utilisation through metrics.k8s.io (the aggregation layer).
Test pods run the provisioner's own helper image, read from its ConfigMap: it is on the node
on both clusters (kind preloads its helper; cluster/offline/cluster.sh packs busybox) and has a shell.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest

from mlops_course import cluster

needs_storage = pytest.mark.kubeflow("local-path-provisioner")
needs_metrics = pytest.mark.kubeflow("metrics-server")


def kubectl(*args, input=None, timeout=120, check=True):
    result = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def namespace():
    name = f"platform-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def shell_image():
    config = json.loads(kubectl("-n", "local-path-storage", "get", "configmap", "local-path-config", "-o", "json"))
    for line in config["data"]["helperPod.yaml"].splitlines():
        if line.strip().startswith("image:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("local-path-config's helperPod.yaml names no image")


def run_pod(namespace, name, image, script, volumes="", mounts=""):
    """Run ``sh -c script`` to completion and return its log (shell built-ins only: busybox's applets vary)."""
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  containers:
    - name: sh
      image: {image}
      imagePullPolicy: IfNotPresent
      command: [/bin/sh, -c, {json.dumps(script)}]
      resources: {{requests: {{cpu: 10m, memory: 8Mi}}, limits: {{memory: 32Mi}}}}
      volumeMounts: [{mounts}]
  volumes: [{volumes}]
"""
    kubectl("-n", namespace, "apply", "-f", "-", input=manifest)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        phase = kubectl("-n", namespace, "get", "pod", name, "-o", "jsonpath={.status.phase}")
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(1)
    else:
        raise AssertionError(f"pod {name} did not finish in 120 s:\n{kubectl('-n', namespace, 'describe', 'pod', name)[-1500:]}")
    log = kubectl("-n", namespace, "logs", name)
    assert phase == "Succeeded", log
    kubectl("-n", namespace, "delete", "pod", name, "--wait=true")
    return log


@needs_storage
def test_the_default_class_is_standard_local_path_wait_for_first_consumer():
    classes = json.loads(kubectl("get", "storageclass", "-o", "json"))["items"]
    defaults = [c for c in classes if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert [c["metadata"]["name"] for c in defaults] == ["standard"]
    assert defaults[0]["provisioner"] == "rancher.io/local-path"
    assert defaults[0]["volumeBindingMode"] == "WaitForFirstConsumer"
    assert defaults[0].get("reclaimPolicy", "Delete") == "Delete"


@needs_storage
def test_a_volume_keeps_its_data_across_pods_and_goes_with_its_claim(namespace, shell_image):
    kubectl("-n", namespace, "apply", "-f", "-", input="""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
""")
    # WaitForFirstConsumer: no volume until a pod uses the claim.
    assert kubectl("-n", namespace, "get", "pvc", "data", "-o", "jsonpath={.status.phase}") == "Pending"
    token = uuid.uuid4().hex
    claim = "{name: data, persistentVolumeClaim: {claimName: data}}"
    mount = "{name: data, mountPath: /data}"
    run_pod(namespace, "writer", shell_image, f"echo {token} > /data/token", claim, mount)
    pvc = json.loads(kubectl("-n", namespace, "get", "pvc", "data", "-o", "json"))
    assert pvc["status"]["phase"] == "Bound"
    volume = pvc["spec"]["volumeName"]
    log = run_pod(namespace, "reader", shell_image, "read line < /data/token; echo \"$line\"", claim, mount)
    assert log.strip() == token

    pv = json.loads(kubectl("get", "pv", volume, "-o", "json"))
    path = (pv["spec"].get("hostPath") or pv["spec"].get("local"))["path"]
    parent, folder = path.rstrip("/").rsplit("/", 1)
    kubectl("-n", namespace, "delete", "pvc", "data", "--wait=true")
    deadline = time.monotonic() + 60
    while kubectl("get", "pv", volume, "--ignore-not-found", "-o", "name") and time.monotonic() < deadline:
        time.sleep(1)
    assert not kubectl("get", "pv", volume, "--ignore-not-found", "-o", "name"), f"PV {volume} outlived its claim"
    # The teardown helper pod removed the folder on the node: look from a pod that mounts its parent.
    log = run_pod(namespace, "looker", shell_image, f"[ -e /root/{folder} ] && echo present || echo absent",
                  f"{{name: root, hostPath: {{path: {parent}}}}}", "{name: root, mountPath: /root}")
    assert log.strip() == "absent", f"{path} is still on the node"


@needs_storage
def test_a_claim_on_a_missing_class_stays_pending_and_the_diagnosis_names_the_fix(namespace, shell_image):
    kubectl("-n", namespace, "apply", "-f", "-", input=f"""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: lost}}
spec:
  storageClassName: no-such-class
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 10Mi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: stuck, labels: {{app: stuck}}}}
spec:
  containers:
    - {{name: sh, image: {shell_image}, command: [/bin/sh, -c, "sleep 3600"]}}
  volumes: [{{name: v, persistentVolumeClaim: {{claimName: lost}}}}]
""")
    time.sleep(5)
    assert kubectl("-n", namespace, "get", "pvc", "lost", "-o", "jsonpath={.status.phase}") == "Pending"
    report = cluster.diagnose(namespace, "app=stuck")
    assert "no-such-class" in report and "kubectl get storageclass" in report, report
    kubectl("-n", namespace, "delete", "pod", "stuck", "--wait=false")
    kubectl("-n", namespace, "delete", "pvc", "lost", "--wait=false")


@needs_metrics
def test_kubectl_top_nodes_reads_the_node():
    apiservice = json.loads(kubectl("get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "json"))
    available = [c for c in apiservice["status"].get("conditions", []) if c["type"] == "Available"]
    assert available and available[0]["status"] == "True", available
    assert "%" in kubectl("top", "nodes")


@needs_metrics
def test_an_hpa_reads_the_cpu_utilisation_of_its_deployment(namespace):
    kubectl("-n", namespace, "apply", "-f", "-", input="""
apiVersion: apps/v1
kind: Deployment
metadata: {name: idle}
spec:
  replicas: 1
  selector: {matchLabels: {app: idle}}
  template:
    metadata: {labels: {app: idle}}
    spec:
      containers:
        - name: hello
          image: mlops-course/hello:1
          imagePullPolicy: IfNotPresent
          args: [serve, -addr, ":8080"]
          resources: {requests: {cpu: 20m, memory: 16Mi}, limits: {memory: 64Mi}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: idle}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: idle}
  minReplicas: 1
  maxReplicas: 2
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
""")
    kubectl("-n", namespace, "rollout", "status", "deployment/idle", "--timeout=120s", timeout=150)
    # metrics-server scrapes every 15 s and the HPA syncs every 15 s: a first value within about a minute.
    start, current = time.monotonic(), []
    while time.monotonic() - start < 120 and not current:
        hpa = json.loads(kubectl("-n", namespace, "get", "hpa", "idle", "-o", "json"))
        current = [m for m in hpa.get("status", {}).get("currentMetrics") or []
                   if m.get("resource", {}).get("current", {}).get("averageUtilization") is not None]
        time.sleep(3)
    assert current, f"the HPA read no CPU utilisation in 120 s: {hpa.get('status', {}).get('conditions')}"
    print(f"HPA's first CPU metric after {time.monotonic() - start:.0f} s")
