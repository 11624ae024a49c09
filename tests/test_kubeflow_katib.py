"""Katib is real: an Experiment of three trials tunes the course model and succeeds with a best
trial, and an Experiment whose trials all fail ends Failed with a diagnosis that names the trial
and shows its log.

Runs against whatever cluster the current kubeconfig names, once Katib is installed
(``cluster/up katib``; the offline cluster in CI). The trial image and the Experiment are
lab 7b's, from :mod:`mlops_course.katib`; the image is built here (cached after the first build)
and loaded onto the node with :func:`mlops_course.cluster.load_images`.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
import yaml

from mlops_course import cluster, components, containers, katib

pytestmark = pytest.mark.kubeflow("katib")

# The trial image and the Experiment are lab 7b's (mlops_course.katib): the course model on a few
# thousand generated trips, a few seconds per trial, its metrics on stdout as name=value lines.
# A learner's typo: an option train.py does not have, so every trial exits at once with argparse's error.
TYPO = [arg.replace("--learning-rate", "--learning_rate") for arg in katib.COMMAND]


def experiment(name: str, command: list[str], max_trials: int) -> str:
    return yaml.safe_dump(katib.experiment(name, command, max_trials=max_trials))


@pytest.fixture(scope="module")
def trial_image(tmp_path_factory):
    """The trial image, built with the Docker SDK (cached after the first build) and put on the node."""
    context = katib.build_context(tmp_path_factory.mktemp("katib-trial") / "context")
    client = containers.connect()
    client.images.build(path=str(context), tag=katib.IMAGE, rm=True, labels=katib.IMAGE_LABELS)
    cluster.load_images(katib.IMAGE)
    return katib.IMAGE


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
    cluster.apply(experiment("tune-gbdt", katib.COMMAND, 3), namespace=namespace)
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
