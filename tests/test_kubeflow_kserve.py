"""KServe v0.20.0 in Standard mode serves the course model, and says why when it cannot.

The predictor image (cluster/components/images/kserve-predictor/) is built here with
Docker, labelled so that it is removed at the end, and put on the node with
``mlops_course.inference.predictor_image`` (which lab 8c uses too, with the port-forward,
the requests and the in-cluster client that reads which model answered). An InferenceService with it as a custom
container becomes Ready, and v1 and v2 requests through a port-forward on 127.0.0.1
answer exactly what the model in the image predicts.

The canary test asserts what ``spec.canary[]`` does in v0.20.0's Standard mode, read
from pkg/controller/v1beta1/inferenceservice/components/predictor.go
(reconcileCanaryDeployments) and pkg/apis/serving/v1beta1/inference_service_validation.go
(validateCanarySpecs):

- it needs the ``serving.kserve.io/deploymentMode: Standard`` annotation and a stable
  predictor with a ``model`` (a ServingRuntime) or a storageUri: the webhook rejects
  one on a custom container;
- each canary gets its own Deployment and Service, ``{isvc}-{predictor.name}-predictor``,
  whose selector picks only its own pods;
- ``trafficPercent`` splits no traffic: it only sizes the canary,
  ceil(stable minReplicas x percent / 100) replicas, and is reported in
  ``status.canaryStatuses``. Every request to the InferenceService's address reaches
  the stable model; the canary answers only on its own Service. (No Ingress or
  HTTPRoute is made in the course's configuration, and in v0.20.0 none carries
  weights either.)

Runs against whatever cluster the current kubeconfig names, in a namespace of its own
that is deleted at the end; skipped, with the doctor's reason, when KServe is not
installed (``cluster/up kserve``) or Docker cannot build the image.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import joblib
import numpy as np
import pytest

import conftest
from mlops_course import cluster, data, inference
from mlops_course.inference import forward, post, records, v2_inputs, wait_for_inference_service

pytestmark = pytest.mark.kubeflow("kserve")

#: Tagged for this test only, and labelled: the module removes it from Docker at the end.
TAG = "mlops-course/kserve-predictor:smoke"
BUILD_LABEL = "mlops-course.lab=test-kubeflow-kserve"
MODEL = "taxi-tip"
COLUMNS = inference.COLUMNS
RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


def kubectl(*args, input=None, timeout=120, check=True):
    result = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result


def kubectl_json(*args):
    return json.loads(kubectl(*args, "-o", "json").stdout)


def inference_service(name, predictor, canary=()):
    """An InferenceService in Standard mode, without an autoscaler (no HPA: fixed replicas)."""
    return json.dumps({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "annotations": {"serving.kserve.io/deploymentMode": "Standard",
                                                   "serving.kserve.io/autoscalerClass": "none"}},
        "spec": {"predictor": predictor, **({"canary": list(canary)} if canary else {})},
    })


def custom_predictor(image):
    return {"containers": [{
        "name": "kserve-container",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["--model_name", MODEL, "--enable_grpc", "false"],
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        # Ready when the model is loaded: the model server answers 503 here until then.
        "readinessProbe": {"httpGet": {"path": f"/v1/models/{MODEL}", "port": 8080}, "periodSeconds": 2},
        "resources": RESOURCES,
    }]}


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image():
    """The predictor image, built from the course's Dockerfile and put on the node."""
    docker_reason = conftest.tier_skip_reason("docker")
    if docker_reason is not None:
        pytest.skip(f"building the predictor image needs Docker: {docker_reason}")
    start = time.monotonic()
    said = inference.predictor_image(TAG, label=BUILD_LABEL, rebuild=True)
    print(f"\n[kserve] {said} ({time.monotonic() - start:.0f} s in all)")
    yield TAG
    subprocess.run(["docker", "rmi", "-f", TAG], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def models(image):
    """The pipelines inside the image, copied out: what the served model must answer."""
    container = subprocess.run(["docker", "create", "--label", BUILD_LABEL, image], capture_output=True, text=True,
                               check=True).stdout.strip()
    folder = Path(tempfile.mkdtemp(prefix="kserve-models-"))
    try:
        for kind in ("gbdt", "logistic"):
            subprocess.run(["docker", "cp", f"{container}:/models/{kind}.joblib", str(folder)], check=True, capture_output=True)
        yield {kind: joblib.load(folder / f"{kind}.joblib") for kind in ("gbdt", "logistic")}
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def trips():
    return data.generate_trips(25, seed=2026)


@pytest.fixture(scope="module")
def namespace():
    name = f"kserve-smoke-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def served(namespace, image):
    """The course model as a custom-container InferenceService, Ready; deleted after its tests."""
    kubectl("apply", "-n", namespace, "-f", "-", input=inference_service(MODEL, custom_predictor(image)))
    seconds = wait_for_inference_service(namespace, MODEL)
    print(f"\n[kserve] InferenceService {MODEL} Ready in {seconds:.0f} s")
    yield kubectl_json("get", "inferenceservice", MODEL, "-n", namespace)
    kubectl("delete", "inferenceservice", MODEL, "-n", namespace, "--wait=true", "--timeout=60s", check=False, timeout=90)


# --- the model served ------------------------------------------------------------------


def test_standard_mode_makes_a_deployment_and_a_cluster_ip_service_without_an_hpa(served, namespace):
    assert served["status"]["deploymentMode"] == "Standard"
    assert served["status"]["address"]["url"] == f"http://{MODEL}-predictor.{namespace}.svc.cluster.local"
    deployment = kubectl_json("get", "deployment", f"{MODEL}-predictor", "-n", namespace)
    assert deployment["spec"]["replicas"] == 1
    service = kubectl_json("get", "service", f"{MODEL}-predictor", "-n", namespace)
    assert service["spec"]["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(80, 8080)]
    assert kubectl("get", "hpa", "-n", namespace, "-o", "name").stdout.strip() == "", "autoscalerClass none makes no HPA"


def test_v1_predict_answers_what_the_model_in_the_image_predicts(served, namespace, models, trips):
    with forward(namespace, f"{MODEL}-predictor") as url:
        answer = post(f"{url}/v1/models/{MODEL}:predict", {"instances": records(trips)})
    expected = models["gbdt"].predict_proba(trips[COLUMNS])[:, 1]
    np.testing.assert_allclose(answer["predictions"], expected, rtol=1e-9, atol=0)


def test_v2_infer_answers_what_the_model_in_the_image_predicts(served, namespace, models, trips):
    with forward(namespace, f"{MODEL}-predictor") as url:
        with urllib.request.urlopen(f"{url}/v2/models/{MODEL}/ready", timeout=10) as response:
            assert json.loads(response.read()) == {"name": MODEL, "ready": True}
        answer = post(f"{url}/v2/models/{MODEL}/infer", {"id": "smoke-1", **v2_inputs(trips)})
    assert (answer["id"], answer["model_name"], answer["model_version"]) == ("smoke-1", MODEL, "gbdt")
    [output] = answer["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("probability", "FP64", [len(trips)])
    expected = models["gbdt"].predict_proba(trips[COLUMNS])[:, 1]
    np.testing.assert_allclose(output["data"], expected, rtol=1e-9, atol=0)


def test_a_bad_request_gets_a_400_that_names_the_missing_columns(served, namespace):
    with forward(namespace, f"{MODEL}-predictor") as url:
        with pytest.raises(inference.RequestError, match=r"answered 400: .*each trip needs pickup_time"):
            post(f"{url}/v1/models/{MODEL}:predict", {"instances": [{"fare": 12.5}]})


# --- a canary ----------------------------------------------------------------------------

CANARY = "tip-canary"
CANARY_PERCENT = 20


def runtime_predictor(**extra):
    """A predictor through the namespace's ServingRuntime ``taxi-tip`` (a canary needs a model, not containers)."""
    return {"model": {"modelFormat": {"name": MODEL}, "runtime": MODEL, "resources": RESOURCES, **extra}}


def serving_runtime(image):
    return json.dumps({
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": MODEL},
        "spec": {
            "supportedModelFormats": [{"name": MODEL, "version": "1", "autoSelect": True}],
            "protocolVersions": ["v1", "v2"],
            "containers": [{
                "name": "kserve-container",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "args": ["--model_name={{.Name}}", "--enable_grpc", "false"],
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8080}, "periodSeconds": 2},
            }],
        },
    })


LOGISTIC_CANARY = {"trafficPercent": CANARY_PERCENT,
                   "predictor": {"name": "logistic", **runtime_predictor(env=[{"name": "MODEL_KIND", "value": "logistic"}])}}

def test_a_canary_on_a_custom_container_is_rejected_by_the_webhook(served, namespace, image):
    result = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", check=False,
                     input=inference_service(CANARY, custom_predictor(image), canary=[LOGISTIC_CANARY]))
    assert result.returncode != 0
    assert "canary requires a stable predictor with a model" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def canary(namespace, image, served):
    # After the custom-container one is gone (its fixture ends first), to keep the node's memory for two pods.
    kubectl("delete", "inferenceservice", MODEL, "-n", namespace, "--wait=true", "--timeout=60s", check=False, timeout=90)
    kubectl("apply", "-n", namespace, "-f", "-", input=serving_runtime(image))
    kubectl("apply", "-n", namespace, "-f", "-", input=inference_service(CANARY, runtime_predictor(), canary=[LOGISTIC_CANARY]))
    start = time.monotonic()
    seconds = wait_for_inference_service(namespace, CANARY)
    # The InferenceService's Ready does not wait for its canaries: CanaryPredictorReady does.
    kubectl("wait", "-n", namespace, f"inferenceservice/{CANARY}", "--for=condition=CanaryPredictorReady", "--timeout=120s",
            timeout=150)
    print(f"\n[kserve] InferenceService {CANARY} Ready in {seconds:.0f} s, with its canary in {time.monotonic() - start:.0f} s")
    yield kubectl_json("get", "inferenceservice", CANARY, "-n", namespace)
    kubectl("delete", "inferenceservice", CANARY, "-n", namespace, "--wait=true", "--timeout=60s", check=False, timeout=90)


def test_each_canary_gets_its_own_deployment_and_service(canary, namespace):
    stable, candidate = f"{CANARY}-predictor", f"{CANARY}-logistic-predictor"
    deployments = {d["metadata"]["name"]: d for d in kubectl_json(
        "get", "deployments", "-n", namespace, "-l", f"serving.kserve.io/inferenceservice={CANARY}")["items"]}
    assert set(deployments) == {stable, candidate}
    # trafficPercent sizes the canary: ceil(1 stable replica x 20 / 100) = 1; the stable one keeps its 1.
    assert deployments[candidate]["spec"]["replicas"] == math.ceil(1 * CANARY_PERCENT / 100) == 1
    assert deployments[stable]["spec"]["replicas"] == 1
    env = {e["name"]: e.get("value") for e in deployments[candidate]["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    assert env.get("MODEL_KIND") == "logistic"
    for name in (stable, candidate):
        service = kubectl_json("get", "service", name, "-n", namespace)
        assert service["spec"]["selector"] == {"app": f"isvc.{name}"}, "each Service picks only its own Deployment's pods"
    [status] = canary["status"]["canaryStatuses"]
    assert (status["name"], status["ready"], status["trafficPercent"]) == ("logistic", True, CANARY_PERCENT), status
    assert canary["status"]["address"]["url"] == f"http://{stable}.{namespace}.svc.cluster.local"


def test_traffic_percent_splits_no_traffic_in_standard_mode(canary, namespace, image, models, trips):
    stable_url = canary["status"]["address"]["url"] + f"/v2/models/{CANARY}/infer"
    canary_url = f"http://{CANARY}-logistic-predictor.{namespace}.svc.cluster.local/v2/models/{CANARY}/infer"
    one_trip = v2_inputs(trips.head(1))
    # From a pod inside the cluster, through each Service's ClusterIP, as any client does: which model answered.
    seen = inference.versions_answered(namespace, f"client-{uuid.uuid4().hex[:5]}", image, [stable_url, canary_url],
                                       one_trip, count=20)
    # With a 20 % split, 20 requests would all miss the canary with probability 0.8**20, about 1 %.
    assert seen[stable_url] == ["gbdt"] * 20, "every request to the InferenceService's address reaches the stable model"
    assert seen[canary_url] == ["logistic"] * 20, "the canary answers on its own Service"
    with forward(namespace, f"{CANARY}-logistic-predictor") as url:
        answer = post(f"{url}/v2/models/{CANARY}/infer", v2_inputs(trips))
    expected = models["logistic"].predict_proba(trips[COLUMNS])[:, 1]
    np.testing.assert_allclose(answer["outputs"][0]["data"], expected, rtol=1e-9, atol=0)


# --- a fault ----------------------------------------------------------------------------


def test_a_missing_image_ends_in_a_diagnosis_not_a_hang(namespace, image):
    missing = image.rsplit(":", 1)[0] + ":not-built"
    kubectl("apply", "-n", namespace, "-f", "-", input=inference_service("no-image", custom_predictor(missing)))
    start = time.monotonic()
    try:
        with pytest.raises(cluster.NotReadyError) as raised:
            wait_for_inference_service(namespace, "no-image", timeout=150)
    finally:
        kubectl("delete", "inferenceservice", "no-image", "-n", namespace, "--wait=false", check=False)
    message = str(raised.value)
    assert time.monotonic() - start < 150, "the wait stops as soon as the image pull fails"
    assert "ErrImagePull" in message or "ImagePullBackOff" in message, message
    assert "fix: the node cannot pull the image" in message, message
    assert "event:" in message and missing in message, message
