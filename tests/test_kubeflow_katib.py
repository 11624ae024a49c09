"""Katib is real: an Experiment of three trials tunes the course model and succeeds with a best
trial, and an Experiment whose trials all fail ends Failed with a diagnosis that names the trial
and shows its log.

Runs against whatever cluster the current kubeconfig names, once Katib is installed
(``cluster/up katib``; the offline cluster in CI). The trial image is built here from the
course's base image and loaded onto the node with :func:`mlops_course.cluster.load_images`.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest

import conftest
from mlops_course import cluster, components, containers, paths

REASON = conftest.tier_skip_reason("kubeflow", ("katib",))
pytestmark = [pytest.mark.kubeflow, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

LAB = "test-katib"
TAG = "mlops-course/katib-trial:1"

# The trial: the course model on a few thousand generated trips, a few seconds per trial, and the
# metrics on stdout as name=value lines, the format of Katib's StdOut metrics collector.
TRAIN_PY = '''\
"""One Katib trial: train the course model with the given hyperparameters and print its metrics."""
import argparse

from mlops_course import data, model

parser = argparse.ArgumentParser()
parser.add_argument("--learning-rate", type=float, required=True)
parser.add_argument("--max-depth", type=int, required=True)
parser.add_argument("--max-iter", type=int, default=50)
parser.add_argument("--rows", type=int, default=3000)
args = parser.parse_args()

trips = data.generate_trips(args.rows, seed=7)
cut = int(len(trips) * 0.7)
fitted = model.train(trips.iloc[:cut], learning_rate=args.learning_rate, max_depth=args.max_depth,
                     max_iter=args.max_iter)
metrics = model.evaluate(fitted, trips.iloc[cut:])
print(f"roc_auc={metrics['roc_auc']}")
print(f"log_loss={metrics['log_loss']}")
'''

DOCKERFILE = f"""\
FROM {containers.BASE_IMAGE}
LABEL {containers.LABEL}={LAB}
RUN python3 -m pip install --no-cache-dir --break-system-packages uv==0.13.9
ENV UV_NATIVE_TLS=1 UV_NO_CACHE=1 UV_LINK_MODE=copy
RUN uv venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
COPY requirements.txt /app/
RUN uv pip install -r /app/requirements.txt
COPY mlops_course/ /app/mlops_course/
COPY train.py /app/
WORKDIR /app
"""

# Katib's StdOut collector wraps the command in `sh -c`, and its sidecar must find the main
# process running, so the trial runs a script file for seconds; backoffLimit 0 makes a failed
# trial fail at once instead of after retries. `retain` keeps a finished trial's Job and pod (Katib
# deletes them otherwise), so the diagnosis can read a failed trial's log.
EXPERIMENT = """
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: NAME}
spec:
  objective: {type: maximize, objectiveMetricName: roc_auc, additionalMetricNames: [log_loss]}
  algorithm: {algorithmName: random}
  parallelTrialCount: 1
  maxTrialCount: MAX_TRIALS
  maxFailedTrialCount: 1
  metricsCollectorSpec: {collector: {kind: StdOut}}
  parameters:
    - {name: learning_rate, parameterType: double, feasibleSpace: {min: "0.02", max: "0.3"}}
    - {name: max_depth, parameterType: int, feasibleSpace: {min: "2", max: "6"}}
  trialTemplate:
    primaryContainerName: training
    retain: true
    trialParameters:
      - {name: learningRate, reference: learning_rate}
      - {name: maxDepth, reference: max_depth}
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        backoffLimit: 0
        template:
          spec:
            restartPolicy: Never
            containers:
              - name: training
                image: IMAGE
                imagePullPolicy: Never
                command: COMMAND
                resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 512Mi}}
"""
GOOD = '["/opt/venv/bin/python", "/app/train.py", "--learning-rate=${trialParameters.learningRate}", "--max-depth=${trialParameters.maxDepth}"]'
# A learner's typo: an option train.py does not have, so every trial exits at once with argparse's error.
TYPO = '["/opt/venv/bin/python", "/app/train.py", "--learning_rate=${trialParameters.learningRate}", "--max-depth=${trialParameters.maxDepth}"]'


def experiment(name: str, command: str, max_trials: int) -> str:
    return (EXPERIMENT.replace("NAME", name).replace("MAX_TRIALS", str(max_trials))
            .replace("IMAGE", TAG).replace("COMMAND", command))


@pytest.fixture(scope="module")
def trial_image(tmp_path_factory):
    """The trial image, built with the Docker SDK (cached after the first build) and put on the node."""
    context = tmp_path_factory.mktemp("katib-trial")
    (context / "mlops_course").mkdir()
    for module in ("__init__.py", "data.py", "model.py"):
        (context / "mlops_course" / module).write_text((paths.REPO_ROOT / "mlops_course" / module).read_text())
    (context / "train.py").write_text(TRAIN_PY)
    (context / "requirements.txt").write_text("\n".join(containers.pinned_requirements(["numpy", "pandas", "scikit-learn"])) + "\n")
    (context / "Dockerfile").write_text(DOCKERFILE)
    client = containers.connect()
    containers.build_image(client, context, TAG, LAB)
    cluster.load_images(TAG)
    return TAG


@pytest.fixture(scope="module")
def namespace():
    name = f"katib-smoke-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    # Katib's webhook adds the metrics collector only to pods in namespaces with this label.
    cluster.kubectl("label", "namespace", name, "katib.kubeflow.org/metrics-collector-injection=enabled")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_an_experiment_of_three_trials_succeeds_with_a_best_trial(namespace, trial_image):
    start = time.monotonic()
    cluster.apply(experiment("tune-gbdt", GOOD, 3), namespace=namespace)
    done = components.wait_for_experiment(namespace, "tune-gbdt", timeout=300)
    seconds = time.monotonic() - start
    status = done["status"]
    assert status["trialsSucceeded"] == 3, status
    assert status.get("trialsFailed", 0) == 0, status
    trials = cluster.kubectl_json("get", "trials", "-n", namespace, "-l", "katib.kubeflow.org/experiment=tune-gbdt")["items"]
    assert len(trials) == 3
    best = status["currentOptimalTrial"]
    assert best["bestTrialName"] in {t["metadata"]["name"] for t in trials}
    observed = {m["name"]: float(m["latest"]) for m in best["observation"]["metrics"]}
    assert 0.5 < observed["roc_auc"] <= 1, observed
    # The best trial is the best of the three, as each trial's own observation says.
    aucs = [float(m["latest"]) for t in trials for m in t["status"]["observation"]["metrics"] if m["name"] == "roc_auc"]
    assert observed["roc_auc"] == max(aucs), (observed, aucs)
    assert {p["name"] for p in best["parameterAssignments"]} == {"learning_rate", "max_depth"}
    print(f"Experiment succeeded in {seconds:.0f} s; best {best['bestTrialName']}: roc_auc {observed['roc_auc']} "
          f"with {json.dumps(best['parameterAssignments'])}")


def test_an_experiment_whose_trials_fail_ends_failed_and_the_diagnosis_names_the_trial(namespace, trial_image):
    cluster.apply(experiment("typo", TYPO, 2), namespace=namespace)
    with pytest.raises(cluster.ClusterError) as failure:
        components.wait_for_experiment(namespace, "typo", timeout=240)
    report = str(failure.value)
    assert report.startswith(f"Experiment {namespace}/typo is Failed: Experiment has failed because max failed count has reached"), report
    trials = cluster.kubectl_json("get", "trials", "-n", namespace, "-l", "katib.kubeflow.org/experiment=typo")["items"]
    assert trials and re.search(rf"^trial {re.escape(trials[0]['metadata']['name'])}: Failed", report, re.M), report
    assert "the following arguments are required: --learning-rate" in report, report


def test_the_diagnosis_of_an_experiment_that_does_not_exist_says_so(namespace):
    assert components.experiment_problem(namespace, "nothing").startswith(f"there is no Experiment {namespace}/nothing")
