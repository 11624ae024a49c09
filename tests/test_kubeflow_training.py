"""The training operators run a real distributed job: a PyTorchJob (Training Operator
v1) with a master and a worker that meet at the master's Service, and a TrainJob
(Trainer v2, on JobSet) with two nodes that meet at node 0's headless Service; both
all-reduce a number and the gradients of a small linear model.

The job's program is the course's standard-library one
(cluster/components/images/dist-train): PyPI's torch is the CUDA build, about
3 GiB with its libraries, too big for CI's cluster; the operator's contract
(MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK and a headless Service per replica)
is the same for any program. Runs on whatever cluster the kubeconfig names.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from mlops_course import cluster

needs_operator = pytest.mark.kubeflow("training-operator")
needs_trainer = pytest.mark.kubeflow("trainer")

IMAGE = "mlops-course/dist-train:1"
CONTEXT = "cluster/components/images/dist-train"


def pytorch_job(name: str, args: list[str]) -> str:
    replica = {
        "replicas": 1,
        "restartPolicy": "Never",
        "template": {"spec": {"containers": [{
            "name": "pytorch",  # the operator finds the training container by this name
            "image": IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "args": args,
            "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        }]}},
    }
    return json.dumps({
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name},
        "spec": {"runPolicy": {"backoffLimit": 0}, "pytorchReplicaSpecs": {"Master": replica, "Worker": replica}},
    })


@pytest.fixture(scope="module")
def namespace():
    import subprocess

    from mlops_course import paths

    subprocess.run(["docker", "build", "--network", "host", "-q", "-t", IMAGE, str(paths.REPO_ROOT / CONTEXT)],
                   check=True, capture_output=True, timeout=600)
    cluster.load_images(IMAGE)
    name = f"training-smoke-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def wait_for_condition(kind: str, namespace: str, name: str, selector: str, done: tuple[str, ...],
                       timeout: float = 240) -> str:
    """The first of ``done`` that becomes true on ``kind/name``; a diagnosis of its pods if none does in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = cluster.kubectl_json("get", kind, name, "-n", namespace)
        reached = [c["type"] for c in job.get("status", {}).get("conditions", [])
                   if c["type"] in done and c["status"] == "True"]
        if reached:
            return reached[0]
        time.sleep(2)
    raise cluster.NotReadyError(f"{kind} {name} did not finish in {timeout:.0f} s:\n"
                                + cluster.diagnose(namespace, selector))


def logs(namespace: str, pod: str, container: str) -> str:
    return cluster.kubectl("logs", "-n", namespace, pod, "-c", container).stdout


def assert_both_ranks_reduced(first: str, second: str) -> None:
    assert "rank 0 of 2" in first and "rank 1 of 2" in second
    # 1 + 2: each rank contributed rank + 1, and both saw the sum.
    assert "rank 0: all_reduce(rank + 1) = 3" in first and "rank 1: all_reduce(rank + 1) = 3" in second
    assert "rank 0: done" in first and "rank 1: done" in second


# --- Training Operator v1: PyTorchJob --------------------------------------------------


def wait_for_pytorchjob(namespace: str, name: str) -> str:
    return wait_for_condition("pytorchjob", namespace, name, f"training.kubeflow.org/job-name={name}",
                              ("Succeeded", "Failed"))


@needs_operator
def test_a_master_and_a_worker_all_reduce_through_the_operators_rendezvous(namespace):
    start = time.monotonic()
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=pytorch_job("allreduce", ["--steps", "20"]))
    assert wait_for_pytorchjob(namespace, "allreduce") == "Succeeded"
    print(f"\n[training] PyTorchJob with 2 replicas Succeeded in {time.monotonic() - start:.0f} s")
    assert_both_ranks_reduced(logs(namespace, "allreduce-master-0", "pytorch"),
                              logs(namespace, "allreduce-worker-0", "pytorch"))


@needs_operator
def test_a_crashing_worker_fails_the_job_and_the_diagnosis_shows_its_log(namespace):
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=pytorch_job("crash", ["--fail-rank", "1"]))
    assert wait_for_pytorchjob(namespace, "crash") == "Failed"
    worker = cluster.kubectl("logs", "-n", namespace, "crash-worker-0", "-c", "pytorch", check=False)
    assert "rank 1" in worker.stdout + worker.stderr


# --- Trainer v2: TrainJob on a TrainingRuntime -----------------------------------------

#: A namespaced runtime shaped like the Trainer's own torch-distributed ClusterTrainingRuntime
#: (manifests/base/runtimes/torch_distributed.yaml at v2.3.0), with the course's CPU image in
#: place of the CUDA PyTorch one. The torch policy sets PET_NNODES, PET_NODE_RANK,
#: PET_MASTER_ADDR and PET_MASTER_PORT in the container named `node`.
RUNTIME = {
    "apiVersion": "trainer.kubeflow.org/v1alpha1",
    "kind": "TrainingRuntime",
    "metadata": {"name": "course-dist-train", "labels": {"trainer.kubeflow.org/framework": "torch"}},
    "spec": {
        "mlPolicy": {"numNodes": 1, "torch": {}},
        "template": {"spec": {"replicatedJobs": [{
            "name": "node",
            "template": {
                "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                # A failed node fails its Job at once (the Trainer's default is OnFailure, six retries).
                "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [{
                    "name": "node", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                    "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                }]}}},
            },
        }]}},
    },
}


def train_job(name: str, args: list[str]) -> str:
    return json.dumps({
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name},
        "spec": {
            "runtimeRef": {"apiGroup": "trainer.kubeflow.org", "kind": "TrainingRuntime", "name": "course-dist-train"},
            # One process per node: dist_train.py is one rank, not torchrun's launcher.
            "trainer": {"numNodes": 2, "numProcPerNode": 1, "args": args},
        },
    })


def wait_for_trainjob(namespace: str, name: str) -> str:
    return wait_for_condition("trainjob", namespace, name, f"jobset.sigs.k8s.io/jobset-name={name}",
                              ("Complete", "Failed"))


@needs_trainer
def test_a_trainjob_of_two_nodes_all_reduces_through_the_jobsets_headless_service(namespace):
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(RUNTIME))
    start = time.monotonic()
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=train_job("allreduce-v2", ["--steps", "20"]))
    assert wait_for_trainjob(namespace, "allreduce-v2") == "Complete"
    print(f"\n[training] TrainJob with 2 nodes Complete in {time.monotonic() - start:.0f} s")
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "jobset.sigs.k8s.io/jobset-name=allreduce-v2")["items"]
    by_index = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]: p["metadata"]["name"] for p in pods}
    assert sorted(by_index) == ["0", "1"], by_index
    assert_both_ranks_reduced(logs(namespace, by_index["0"], "node"), logs(namespace, by_index["1"], "node"))


@needs_trainer
def test_a_trainjob_whose_node_crashes_fails_and_says_so(namespace):
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(RUNTIME))
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=train_job("crash-v2", ["--fail-rank", "1"]))
    assert wait_for_trainjob(namespace, "crash-v2") == "Failed"
    job = cluster.kubectl_json("get", "trainjob", "crash-v2", "-n", namespace)
    failed = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and failed.get("message"), failed
