"""Part 8's cluster plumbing: the KServe predictor image on the node, requests, and which model answered.

Lab 8c (an InferenceService, and the objects it stands for written by hand) and
``tests/test_kubeflow_kserve.py`` share what is not the lesson:

- :func:`predictor_image` builds ``cluster/components/images/kserve-predictor/``
  (its ``build.sh``: the course model behind KServe's Python model server, a
  gradient-boosted version and a logistic one in the same image) when Docker
  lacks it, and puts it on the cluster's node;
- :func:`records` and :func:`v2_inputs` turn trips into v1 instances and v2
  tensors, :func:`post` sends one request and says in one sentence what a
  refusal was;
- :func:`forward` is a ``kubectl port-forward`` on 127.0.0.1 at a free port;
- :func:`wait_for_inference_service` waits until an InferenceService is Ready,
  and stops at once, with the pods' diagnosis, when no wait can help;
- :func:`versions_answered` sends v2 requests from a pod inside the cluster,
  through a Service's name as any client does, and returns which model version
  answered each one: a port-forward reaches one pod only, so a split between
  pods can be seen only from inside.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

from mlops_course import cluster, faults, paths

PREDICTOR_DIR = paths.REPO_ROOT / "cluster" / "components" / "images" / "kserve-predictor"
#: The predictor image as the chapter names it; shared by the labs that serve it (a lab's cleanup leaves it).
IMAGE = "mlops-course/kserve-predictor:1"
#: What a request sends per trip: generate_trips' columns without the label (and the tip it comes from).
COLUMNS = ["pickup_time", "trip_miles", "trip_seconds", "fare", "payment_type", "company", "pickup_area", "dropoff_area"]
#: The pod reasons no amount of waiting fixes: a wait stops at once and says why.
HOPELESS = {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError"}
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 never goes through a proxy


class RequestError(faults.LabError):
    """A model server refused a request; the message has its status and its own words."""


def on_node(tag: str) -> bool:
    """Does a node of the cluster hold image ``tag`` already (``kubectl get nodes``' status.images)?"""
    wanted = {tag, f"docker.io/{tag}", f"docker.io/library/{tag}"}
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    return any(wanted & set(image.get("names") or []) for node in nodes for image in node["status"].get("images", []))


def predictor_image(tag: str = IMAGE, label: str | None = None, rebuild: bool = False) -> str:
    """Build the predictor image when Docker lacks ``tag`` (always with ``rebuild``), and put it on the node.

    ``cluster/components/images/kserve-predictor/build.sh TAG``, then ``kind load docker-image TAG
    --name mlops-course`` (the offline cluster's import in CI); an image Docker had already and the
    node holds already is not loaded again. ``label`` (``key=value``) labels a new image, for whoever
    removes it later. Returns one line saying what happened."""
    have = subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0
    if have and not rebuild and on_node(tag):
        return f"{tag} is built and on the node already"
    said = f"{tag} was built already"
    if rebuild or not have:
        env = {**os.environ, **({"BUILD_LABEL": label} if label else {})}
        built = subprocess.run([str(PREDICTOR_DIR / "build.sh"), tag], env=env, capture_output=True, text=True,
                               timeout=900)
        if built.returncode != 0:
            last = (built.stderr.strip() or built.stdout.strip()).splitlines()[-3:]
            raise cluster.ClusterError(f"building {tag} failed: {' '.join(last)}")
        said = built.stdout.strip()
    return f"{said}; on the node with {cluster.load_images(tag)}"


def records(trips) -> list[dict]:
    """The trips as v1 instances: one JSON object per trip, the pickup time as ISO text."""
    return json.loads(trips[COLUMNS].to_json(orient="records", date_format="iso"))


def v2_inputs(trips) -> dict:
    """The trips as v2 (Open Inference Protocol) inputs: one tensor per column, of shape [rows]."""
    def datatype(column):
        kind = trips[column].dtype.kind
        return "FP64" if kind == "f" else "INT64" if kind in "iu" else "BYTES"

    rows = records(trips)
    return {"inputs": [{"name": c, "shape": [len(rows)], "datatype": datatype(c), "data": [r[c] for r in rows]}
                       for c in COLUMNS]}


def post(url: str, body: dict, timeout: float = 30) -> dict:
    """POST ``body`` as JSON and return the parsed answer; :class:`RequestError` names a refusal's status."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RequestError(f"POST {url} answered {exc.code}: {exc.read().decode(errors='replace')[:500]}") from None


@contextlib.contextmanager
def forward(namespace: str, service: str, remote_port: int = 80):
    """``kubectl port-forward --address 127.0.0.1 svc/SERVICE PORT:80`` at a free port; yields its URL."""
    from mlops_course import serving

    with cluster.PortForward(namespace, f"svc/{service}", serving.free_port(), remote_port) as tunnel:
        yield tunnel.url


def wait_for_inference_service(namespace: str, name: str, timeout: float = 180) -> float:
    """Wait until InferenceService ``name`` is Ready; the seconds it took.

    Stops at once, with the course's diagnosis of its pods (reason, fix, events, logs),
    when a pod cannot start whatever the wait (an image the node cannot get, say)."""
    start = time.monotonic()
    selector = f"serving.kserve.io/inferenceservice={name}"
    while True:
        isvc = cluster.kubectl_json("get", "inferenceservice", name, "-n", namespace)
        ready = {c["type"]: c for c in isvc.get("status", {}).get("conditions", [])}.get("Ready", {})
        if ready.get("status") == "True":
            return time.monotonic() - start
        pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
        hopeless = [p for pod in pods for p in cluster.pod_problems(pod) if p.reason in HOPELESS]
        if hopeless or time.monotonic() - start > timeout:
            waited = time.monotonic() - start
            raise cluster.NotReadyError(
                f"InferenceService {namespace}/{name} is not Ready after {waited:.0f} s "
                f"({ready.get('reason', 'no Ready condition yet')}: {ready.get('message', '')}).\n"
                + cluster.diagnose(namespace, selector))
        time.sleep(1)


#: Runs in a pod from the predictor image (it has Python): sends the same v2 body `count` times to each
#: URL, one connection per request (so that kube-proxy chooses a pod for each), and prints one JSON
#: line per URL with the model version of every answer (or the error that came instead).
CLIENT = """
import json, sys, urllib.request
plan = json.loads(sys.argv[1])
body = json.dumps(plan["body"]).encode()
for url in plan["urls"]:
    seen = []
    for _ in range(plan["count"]):
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            seen.append(json.loads(urllib.request.urlopen(request, timeout=30).read())["model_version"])
        except Exception as exc:
            seen.append("error: " + type(exc).__name__)
    print(json.dumps({"url": url, "versions": seen}))
"""


def versions_answered(namespace: str, pod: str, image: str, urls: list[str], body: dict, count: int = 20,
                      timeout: float = 180) -> dict[str, list[str]]:
    """Send ``body`` ``count`` times to each URL from a pod in the cluster; the model version of each answer, per URL.

    ``kubectl run POD --image IMAGE --restart Never --command -- python -c CLIENT PLAN``, then
    ``kubectl wait --for=jsonpath={.status.phase}=Succeeded`` and ``kubectl logs`` (not ``kubectl run -i``,
    whose attach can miss what the pod prints before it connects). The pod is deleted afterwards."""
    plan = json.dumps({"urls": list(urls), "body": body, "count": count})
    cluster.kubectl("delete", "pod", pod, "-n", namespace, "--ignore-not-found", "--wait=true", timeout=90)
    cluster.kubectl("run", pod, "-n", namespace, "--image", image, "--image-pull-policy", "IfNotPresent",
                    "--restart", "Never",
                    "--overrides", json.dumps({"spec": {"containers": [{
                        "name": pod, "image": image, "command": ["python", "-c", CLIENT, plan],
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}]}}),
                    "--command", "--", "python", "-c", CLIENT, plan)
    try:
        done = cluster.kubectl("wait", "-n", namespace, f"pod/{pod}", "--for=jsonpath={.status.phase}=Succeeded",
                               f"--timeout={int(timeout)}s", timeout=timeout + 30, check=False)
        if done.returncode != 0:
            raise cluster.NotReadyError(f"the client pod {pod} did not finish in {timeout:.0f} s.\n"
                                        + cluster.diagnose(namespace, f"run={pod}"))
        lines = cluster.kubectl("logs", "-n", namespace, pod, timeout=60).stdout.strip().splitlines()
    finally:
        cluster.kubectl("delete", "pod", pod, "-n", namespace, "--ignore-not-found", "--wait=false", check=False)
    return {row["url"]: row["versions"] for row in map(json.loads, lines)}
