"""Part 6's training jobs: the course model as a data-parallel logistic regression, and what runs it.

The model is the course model's linear variant, written out in NumPy so that its
training loop can be split over processes: each rank computes the gradient of the
log loss on its shard of the trips, the ranks all-reduce (sum) the gradients, and
every rank takes the same step. Full-batch gradient descent gives the same weights
whatever the number of ranks, so a run with one, two or three ranks can be compared
step for step; only the time differs.

- :func:`features` and :func:`gradient` are the model; ``cluster/images/taxi-train/train_dist.py``
  is the program each rank runs (on this machine, in a PyTorchJob, in a TrainJob);
- :func:`run_local` starts that program as ``world`` processes here, with the variables
  the operators set (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK), and parses what they print;
- :func:`job_image` builds ``mlops-course/taxi-dist-train:1`` from the course base image and
  puts it on the cluster's node;
- :func:`wait_for_job` waits for a PyTorchJob's or TrainJob's finishing condition and
  says why, with the pods' diagnosis, when none comes.

Imports of Docker and Kubernetes happen inside the functions that need them: the
program in the image imports this module with NumPy and pandas only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mlops_course import paths
from mlops_course.serving import free_port  # the ranks' master port, found as the model servers' ports are

#: The program every rank runs, and the all-reduce it imports (the operators' smoke-test program).
PROGRAM = paths.REPO_ROOT / "cluster" / "images" / "taxi-train" / "train_dist.py"
DIST_TRAIN = paths.REPO_ROOT / "cluster" / "components" / "images" / "dist-train" / "dist_train.py"
IMAGE = "mlops-course/taxi-dist-train:1"
#: One BLAS thread per rank: ranks that each spread over every core only fight for them.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# --- the model ----------------------------------------------------------------------


def features(trips) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The design matrix (with a bias column), the labels, and the column names, from generated trips.

    Sizes and durations as logarithms, the hour on a circle, the payment type and the
    company one-hot, and the two area facts the tips depend on; continuous columns
    standardised on the table given, so a learning rate near 1 suits every column."""
    import pandas as pd

    from mlops_course import data

    t = pd.to_datetime(trips["pickup_time"])
    hour = t.dt.hour.to_numpy() + t.dt.minute.to_numpy() / 60
    columns = {
        "log_miles": np.log1p(trips["trip_miles"].to_numpy(float)),
        "log_seconds": np.log1p(trips["trip_seconds"].to_numpy(float)),
        "log_fare": np.log1p(trips["fare"].to_numpy(float)),
        "hour_sin": np.sin(2 * np.pi * hour / 24),
        "hour_cos": np.cos(2 * np.pi * hour / 24),
    }
    for name, values in columns.items():
        columns[name] = (values - values.mean()) / values.std()
    columns["weekend"] = (t.dt.weekday.to_numpy() >= 5).astype(float)
    columns["generous_pickup"] = trips["pickup_area"].isin(data.GENEROUS_AREAS).to_numpy(float)
    columns["airport_dropoff"] = trips["dropoff_area"].isin(data.AIRPORT_AREAS).to_numpy(float)
    for kind in data.PAYMENT_TYPES:
        columns[f"payment={kind}"] = (trips["payment_type"] == kind).to_numpy(float)
    for company in data.COMPANIES:
        columns[f"company={company}"] = (trips["company"] == company).to_numpy(float)
    columns["bias"] = np.ones(len(trips))
    names = list(columns)
    return np.column_stack([columns[n] for n in names]), trips["big_tip"].to_numpy(float), names


def is_validation(n: int) -> np.ndarray:
    """Every fifth trip is held out: the same rows whatever the number of ranks."""
    return np.arange(n) % 5 == 0


def gradient(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """The gradient of the summed log loss over these rows, and the summed loss itself."""
    p = 1 / (1 + np.exp(-(X @ w)))
    p = np.clip(p, 1e-12, 1 - 1e-12)
    loss = -float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return X.T @ (p - y), loss


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the share of (positive, negative) pairs the score orders correctly (ties count half)."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2
    ranks[order] = np.repeat(average, counts)
    positives = y == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# --- running the program here ---------------------------------------------------------


def program_env(**variables: str) -> dict[str, str]:
    """This machine's environment for a rank: the program's imports found, one BLAS thread, and ``variables``."""
    env = {**os.environ, **ONE_THREAD, **variables}
    env["PYTHONPATH"] = os.pathsep.join([str(DIST_TRAIN.parent), str(paths.REPO_ROOT)])
    return env


def parse_log(text: str) -> dict | None:
    """The ``RESULT {...}`` line a rank prints at the end, as a dict (None if it never got there)."""
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return None


def hide_temp(text: str) -> str:
    """``text`` with every path in the temporary folder (where the SDK's local-process backend makes
    its venvs) shown as ``$TMPDIR/...``: a notebook's outputs name no machine paths."""
    import re
    import tempfile

    return re.sub(re.escape(tempfile.gettempdir().rstrip("/")) + r"/", "$TMPDIR/", text)


def run_local(world: int, args: list[str], timeout: float = 300) -> dict:
    """Run the program as ``world`` processes on 127.0.0.1, as an operator would start its pods, and wait.

    Returns ``{"wall_s": ..., "ranks": [{"rank", "returncode", "log", "result"}, ...]}``."""
    port = str(free_port())
    start = time.monotonic()
    processes = [
        subprocess.Popen([sys.executable, str(PROGRAM), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=program_env(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, WORLD_SIZE=str(world), RANK=str(rank)))
        for rank in range(world)
    ]
    ranks = []
    for rank, process in enumerate(processes):
        try:
            out, _ = process.communicate(timeout=max(1.0, timeout - (time.monotonic() - start)))
        except subprocess.TimeoutExpired:
            for p in processes:
                p.kill()
            raise TimeoutError(f"rank {rank} of {world} did not finish in {timeout:.0f} s: "
                               "is another rank stuck waiting for it? (raise the timeout, or fewer rows)") from None
        ranks.append({"rank": rank, "returncode": process.returncode, "log": out, "result": parse_log(out)})
    return {"wall_s": time.monotonic() - start, "ranks": ranks}


def summary(run: dict, label: str) -> dict:
    """One row for a comparison table from a run's rank 0 (and the slowest rank's timings)."""
    results = [r["result"] for r in run["ranks"] if r["result"]]
    if len(results) != len(run["ranks"]):
        failed = next(r for r in run["ranks"] if not r["result"])
        raise RuntimeError(f"{label}: rank {failed['rank']} ended with code {failed['returncode']}: "
                           f"{failed['log'].strip().splitlines()[-1:]}")
    zero = results[0]
    return {
        "run": label, "world size": zero["world"], "train rows per rank": zero["rows"],
        "wall s": round(run["wall_s"], 2), "train loop s": round(max(r["train_s"] for r in results), 3),
        "compute ms/step": round(1000 * max(r["compute_s"] for r in results) / zero["steps"], 3),
        "compute CPU ms/step": round(1000 * max(r["compute_cpu_s"] for r in results) / zero["steps"], 3),
        "all-reduce ms/step": round(1000 * zero["allreduce_s"] / zero["steps"], 3),
        "train log loss": zero["train_log_loss"], "valid ROC AUC": zero["valid_roc_auc"],
    }


# --- the image, for the cluster ---------------------------------------------------------


def image_context(folder: Path) -> Path:
    """Stage the build context of :data:`IMAGE` in ``folder``: the Dockerfile and program of
    ``cluster/images/taxi-train``, the all-reduce module, the course modules the program imports,
    and NumPy and pandas pinned to uv.lock's versions."""
    from mlops_course import containers

    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(PROGRAM.parent, folder)
    shutil.copy(DIST_TRAIN, folder / DIST_TRAIN.name)
    (folder / "mlops_course").mkdir()
    for module in ("__init__.py", "paths.py", "data.py", "training.py"):
        shutil.copy(paths.REPO_ROOT / "mlops_course" / module, folder / "mlops_course" / module)
    (folder / "requirements.txt").write_text("\n".join(containers.pinned_requirements(["numpy", "pandas"])) + "\n")
    return folder


def job_image(lab: str, load: bool = True) -> str:
    """Build :data:`IMAGE` if Docker lacks it (``docker build -t mlops-course/taxi-dist-train:1 CONTEXT``),
    put it on the cluster's node when ``load``, and return its tag."""
    import docker

    from mlops_course import cluster, containers, workloads

    client = containers.connect()
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        context = image_context(paths.workdir(lab) / "image")
        # Shared between Part 6's labs, as the model server's images are between Part 3's: a lab's cleanup leaves it.
        client.images.build(path=str(context), tag=IMAGE, rm=True, labels={workloads.SHARED_LABEL: "taxi-dist-train"})
    if load:
        cluster.load_images(IMAGE)
    return IMAGE


# --- jobs on the cluster ------------------------------------------------------------------

#: (group, version, plural) of the kinds the labs create.
PYTORCHJOB = ("kubeflow.org", "v1", "pytorchjobs")
TRAINJOB = ("trainer.kubeflow.org", "v1alpha1", "trainjobs")


def true_conditions(job: dict) -> list[str]:
    return [c["type"] for c in job.get("status", {}).get("conditions", []) if c.get("status") == "True"]


def wait_for_job(custom, kind: tuple[str, str, str], namespace: str, name: str, done: tuple[str, ...],
                 selector: str, timeout: float = 300, poll: float = 1.0) -> tuple[dict, float]:
    """Poll a PyTorchJob or TrainJob until one of the conditions ``done`` is true; return it and the seconds waited.

    ``kubectl wait --for=condition=Succeeded pytorchjob/NAME``, with either outcome. When none comes in
    ``timeout`` the error names the pods that are not ready and why (:func:`mlops_course.cluster.diagnose`)."""
    from mlops_course import cluster

    start = time.monotonic()
    while True:
        job = custom.get_namespaced_custom_object(*kind[:2], namespace, kind[2], name)
        reached = [c for c in true_conditions(job) if c in done]
        if reached:
            return job, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise cluster.NotReadyError(f"{kind[2][:-1]} {name} reached none of {', '.join(done)} in {timeout:.0f} s "
                                        f"(conditions: {true_conditions(job) or 'none'}):\n" + cluster.diagnose(namespace, selector))
        time.sleep(poll)


def conditions(job: dict):
    """A job's conditions as a table, oldest first."""
    import pandas as pd

    rows = [{"type": c["type"], "status": c["status"], "reason": c.get("reason", ""), "message": c.get("message", ""),
             "since": c.get("lastTransitionTime", "")} for c in job.get("status", {}).get("conditions", [])]
    return pd.DataFrame(rows, columns=["type", "status", "reason", "message", "since"]).sort_values("since", kind="stable")


def env_of(pod, container: str) -> dict[str, str]:
    """A container's environment as the pod spec has it: values, or where a value comes from (``fieldRef``)."""
    for c in pod.spec.containers:
        if c.name == container:
            return {e.name: e.value if e.value is not None else
                    f"<{e.value_from.field_ref.field_path}>" if e.value_from and e.value_from.field_ref else "<from a source>"
                    for e in c.env or []}
    raise KeyError(f"pod {pod.metadata.name} has no container {container}")


def seconds_between(start: str, end: str) -> float:
    """Seconds between two API timestamps (RFC 3339, whole seconds)."""
    from datetime import datetime

    def parse(t):
        return datetime.fromisoformat(t.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()
