"""The course's Katib trial, in one place for lab 7b and ``tests/test_kubeflow_katib.py``.

- :data:`TRAIN_PY` is the trial: the course model trained with the hyperparameters given as
  command-line options, its metrics printed as ``name=value`` lines, the format Katib's StdOut
  metrics collector reads. It also prints the majority-class baseline's scores on one line, as
  the course reports them beside every metric; a ``metricsFormat`` that accepts only lines that
  are nothing but ``name=value`` keeps them out of the observation.
- :func:`build_context` stages the trial image's build context (``train.py``, a Dockerfile, the
  course modules it imports, requirements pinned to ``uv.lock``); the image is shared by the lab
  and the test (labelled as the course's, like the model server's images), so a lab's cleanup
  leaves it and the next run finds its layers cached.
- :func:`experiment` is the Experiment for the course model that both create: two
  hyperparameters, the StdOut collector, and a trial template whose Job runs :data:`COMMAND`.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from mlops_course import containers, paths, workloads

IMAGE = "mlops-course/katib-trial:1"
#: The image is the course's, shared between the lab and the test: their cleanups leave it.
IMAGE_LABELS = {workloads.SHARED_LABEL: "katib-trial"}
#: The metric the Experiment maximises, and the one it records beside it: both are lines train.py prints.
OBJECTIVE, ADDITIONAL = "roc_auc", ["log_loss"]

TRAIN_PY = '''\
"""One Katib trial: train the course model with the given hyperparameters and print its metrics."""
import argparse

from mlops_course import data, model

parser = argparse.ArgumentParser(description="one Katib trial of the course model")
parser.add_argument("--learning-rate", type=float, required=True)
parser.add_argument("--max-depth", type=int, required=True)
parser.add_argument("--max-iter", type=int, default=50)
parser.add_argument("--rows", type=int, default=3000)
args = parser.parse_args()

trips = data.generate_trips(args.rows, seed=7)
cut = int(len(trips) * 0.7)
fitted = model.train(trips.iloc[:cut], learning_rate=args.learning_rate, max_depth=args.max_depth,
                     max_iter=args.max_iter)
scores = model.evaluate(fitted, trips.iloc[cut:])
print(f"trained on {cut} trips, scored on {len(trips) - cut}: learning rate {args.learning_rate}, depth {args.max_depth}")
print(f"majority-class baseline: roc_auc=0.5 log_loss={scores['baseline_log_loss']}")
print(f"roc_auc={scores['roc_auc']}")
print(f"log_loss={scores['log_loss']}")
'''

DOCKERFILE = f"""\
FROM {containers.BASE_IMAGE}
RUN python3 -m pip install --no-cache-dir --break-system-packages uv==0.13.9
ENV UV_NATIVE_TLS=1 UV_NO_CACHE=1 UV_LINK_MODE=copy
RUN uv venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
COPY requirements.txt /app/
RUN uv pip install -r /app/requirements.txt
COPY mlops_course/ /app/mlops_course/
COPY train.py /app/
WORKDIR /app
"""

#: The trial's command; Katib replaces each ``${trialParameters.X}`` with the trial's value.
COMMAND = ["python", "/app/train.py", "--learning-rate=${trialParameters.learningRate}",
           "--max-depth=${trialParameters.maxDepth}"]


def node_images(core, wait_for: str, timeout: float = 90) -> list[str]:
    """Every image name the nodes report (``kubectl get nodes -o yaml``, ``status.images``), once one ends with ``wait_for``.

    ``core`` is a ``kubernetes.client.CoreV1Api``. The kubelet reports an image loaded onto its
    node at its next status update, seconds after the load, so a listing taken at once can miss it.
    Returns the listing as it stands after ``timeout`` seconds otherwise, for the caller to check."""
    deadline = time.monotonic() + timeout
    while True:
        names = [n for node in core.list_node().items for image in node.status.images or [] for n in image.names or []]
        if any(n.endswith(wait_for) for n in names) or time.monotonic() > deadline:
            return names
        time.sleep(2)


def build_context(folder: Path) -> Path:
    """Write the trial image's build context into ``folder`` (made empty first) and return it."""
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "mlops_course").mkdir(parents=True)
    for module in ("__init__.py", "data.py", "model.py"):
        shutil.copy(paths.REPO_ROOT / "mlops_course" / module, folder / "mlops_course" / module)
    (folder / "train.py").write_text(TRAIN_PY)
    requirements = containers.pinned_requirements(["numpy", "pandas", "scikit-learn"])
    (folder / "requirements.txt").write_text("\n".join(requirements) + "\n")
    (folder / "Dockerfile").write_text(DOCKERFILE)
    return folder


def experiment(name: str, command: list[str] = COMMAND, *, max_trials: int = 3, parallel: int = 1,
               max_failed: int = 1, algorithm: str = "random", settings: dict[str, str] | None = None,
               metrics_format: list[str] | None = None, image: str = IMAGE, cpu: str = "100m") -> dict:
    """A Katib Experiment (``kubeflow.org/v1beta1``) that tunes the course model's learning rate and depth.

    The trials are Jobs running ``command`` in ``image`` (never pulled: it is put on the node),
    with ``backoffLimit: 0`` so that a failing trial fails at once instead of being retried while
    Katib counts it, and ``retain: true`` so that a finished trial's pod and log stay to be read.
    ``metrics_format`` is the StdOut collector's list of regular expressions (Katib's default,
    any ``name=number``, when None); ``settings`` the algorithm's settings."""
    collector: dict = {"collector": {"kind": "StdOut"}}
    if metrics_format:
        collector["source"] = {"filter": {"metricsFormat": list(metrics_format)}}
    algorithm_spec: dict = {"algorithmName": algorithm}
    if settings:
        algorithm_spec["algorithmSettings"] = [{"name": k, "value": str(v)} for k, v in settings.items()]
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": OBJECTIVE, "additionalMetricNames": ADDITIONAL},
            "algorithm": algorithm_spec,
            "maxTrialCount": max_trials,
            "parallelTrialCount": parallel,
            "maxFailedTrialCount": max_failed,
            "parameters": [
                {"name": "learning_rate", "parameterType": "double", "feasibleSpace": {"min": "0.02", "max": "0.3"}},
                {"name": "max_depth", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "6"}},
            ],
            "metricsCollectorSpec": collector,
            "trialTemplate": {
                "primaryContainerName": "training",
                "retain": True,
                "trialParameters": [
                    {"name": "learningRate", "reference": "learning_rate"},
                    {"name": "maxDepth", "reference": "max_depth"},
                ],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "backoffLimit": 0,
                        "template": {"spec": {
                            "restartPolicy": "Never",
                            "containers": [{
                                "name": "training",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "command": list(command),
                                "resources": {"requests": {"cpu": cpu, "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
                            }],
                        }},
                    },
                },
            },
        },
    }
