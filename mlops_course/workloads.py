"""What the later Kubernetes labs run on the cluster that is not their lesson.

Lab 3a builds the model server's two images and sends requests from a client pod
by hand; the labs after it use these helpers for the same two things:

- :func:`model_server_images` builds ``mlops-course/taxi-server:1`` and ``:2`` when
  Docker does not have them yet and puts them on the node. They are shared by the
  labs (labelled as the course's, not as one lab's), so a lab's cleanup leaves them,
  as it leaves the base image, and the next lab need not build them again.
- :class:`ClientPod` sends requests to a Service by its DNS name from a pod in the
  cluster, and returns every answer as a table. A port-forward reaches one pod, so
  what a Service does with many connections (spread them, switch them, split them)
  can only be seen from inside the cluster.
"""

from __future__ import annotations

import json
import time

from mlops_course import cluster, paths

IMAGE = "mlops-course/taxi-server"
#: The model each version of the image serves (lab 3a's two builds).
MODEL_KINDS = {1: "gbdt", 2: "logistic"}
#: The label that marks an image as the course's, shared between labs (containers.LABEL marks one lab's).
SHARED_LABEL = "mlops-course.shared"


def model_server_images(*versions: int) -> list[str]:
    """Build the model server's images that Docker lacks, put them all on the node, return their tags.

    ``docker build --build-arg MODEL_VERSION=N --build-arg MODEL_KIND=KIND -t mlops-course/taxi-server:N``,
    as lab 3a runs it, then ``kind load docker-image`` (or the offline cluster's import)."""
    import docker

    from mlops_course import containers

    client = containers.connect()
    tags = []
    for version in versions or tuple(MODEL_KINDS):
        tag = f"{IMAGE}:{version}"
        try:
            client.images.get(tag)
        except docker.errors.ImageNotFound:
            context = cluster.model_server_context(paths.workdir("taxi-server-image", fresh=True) / "context")
            client.images.build(path=str(context), tag=tag, rm=True, labels={SHARED_LABEL: "taxi-server"},
                                buildargs={"MODEL_VERSION": str(version), "MODEL_KIND": MODEL_KINDS[version]})
        tags.append(tag)
    cluster.load_images(*tags)
    return tags


#: Runs in the client pod (the model server's image has Python): sends requests for a number of
#: seconds or a number of requests, from some threads, and prints one JSON list of every answer.
CLIENT = r"""
import json, sys, threading, time, urllib.error, urllib.request
plan = json.loads(sys.argv[1])
data = json.dumps(plan["body"]).encode() if plan.get("body") is not None else None
records, lock, start = [], threading.Lock(), time.monotonic()
def more():
    with lock:
        if plan.get("count") and len(records) >= plan["count"]:
            return False
    return not plan.get("seconds") or time.monotonic() - start < plan["seconds"]
def work():
    while more():
        sent, row = time.time(), {}
        try:
            request = urllib.request.Request(plan["url"], data=data, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=plan.get("timeout", 5)) as answer:
                body = json.load(answer)
            row = {"ok": True, "status": answer.status, "version": body.get("version"), "pod": body.get("pod")}
        except urllib.error.HTTPError as exc:
            row = {"ok": False, "status": exc.code, "error": str(exc)}
        except Exception as exc:
            row = {"ok": False, "status": 0, "error": f"{type(exc).__name__}: {exc}"}
        row.update(sent=sent, ms=(time.time() - sent) * 1000)
        with lock:
            records.append(row)
        time.sleep(plan.get("interval", 0))
threads = [threading.Thread(target=work) for _ in range(plan.get("workers", 1))]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps(records))
"""


class ClientPod:
    """A pod that sends requests to ``url`` from inside the cluster; :meth:`answers` is the table of them.

    ``kubectl run NAME --restart Never --image mlops-course/taxi-server:1 --command -- python -c CLIENT PLAN``,
    then ``kubectl wait --for=jsonpath={.status.phase}=Succeeded`` and ``kubectl logs``, as lab 3a does
    (not ``kubectl run -i``, whose attach can miss what the pod prints before it connects). Give
    ``seconds`` or ``count`` (or both: whichever comes first); ``body`` makes the requests POSTs."""

    def __init__(self, namespace: str, name: str, url: str, *, seconds: float | None = None, count: int | None = None,
                 workers: int = 1, interval: float = 0.0, body: dict | None = None, image: str = f"{IMAGE}:1"):
        if not seconds and not count:
            raise ValueError("give the client pod a number of seconds or a number of requests (or both)")
        self.namespace, self.name = namespace, name
        self.plan = {"url": url, "seconds": seconds, "count": count, "workers": workers, "interval": interval, "body": body}
        self.image = image

    def start(self, timeout: float = 60) -> "ClientPod":
        """Create the pod (an earlier one of the same name is replaced) and return once it runs."""
        cluster.kubectl("delete", "pod", self.name, "-n", self.namespace, "--ignore-not-found", "--wait=true", timeout=90)
        cluster.kubectl("run", self.name, "-n", self.namespace, "--restart", "Never", "--image", self.image,
                        "--image-pull-policy", "IfNotPresent", "--labels", "app=client", "--command", "--",
                        "python", "-c", CLIENT, json.dumps(self.plan))
        deadline = time.monotonic() + timeout
        while True:
            phase = cluster.kubectl("get", "pod", self.name, "-n", self.namespace, "-o", "jsonpath={.status.phase}",
                                    check=False).stdout
            if phase in ("Running", "Succeeded"):
                return self
            if phase == "Failed" or time.monotonic() > deadline:
                raise cluster.NotReadyError(f"client pod {self.name} did not start ({phase or 'no phase'}).\n"
                                            + cluster.diagnose(self.namespace, f"run={self.name}"))
            time.sleep(0.5)

    def answers(self, timeout: float | None = None):
        """Wait for the pod to finish, and return one row per request: sent (Unix time), seconds (since the
        first), ok, status, version, pod, ms (latency), error."""
        import pandas as pd

        timeout = timeout or (self.plan["seconds"] or 0) + 120
        result = cluster.kubectl("wait", "-n", self.namespace, f"pod/{self.name}",
                                 "--for=jsonpath={.status.phase}=Succeeded", f"--timeout={int(timeout)}s",
                                 timeout=timeout + 30, check=False)
        if result.returncode != 0:
            raise cluster.NotReadyError(f"client pod {self.name} did not finish in {timeout:.0f} s.\n"
                                        + cluster.diagnose(self.namespace, f"run={self.name}"))
        rows = json.loads(cluster.kubectl("logs", "-n", self.namespace, self.name, timeout=60).stdout)
        frame = pd.DataFrame(rows, columns=["sent", "ok", "status", "version", "pod", "ms", "error"])
        frame = frame.sort_values("sent", ignore_index=True)
        frame.insert(1, "seconds", (frame["sent"] - frame["sent"].min()).round(3))
        return frame


class PodContainer:
    """A pod's container, answering ``exec_run`` as a Docker container does, through ``kubectl exec``.

    Part 2's cgroup readers (:func:`mlops_course.containers.cgroup_limits`) then read a pod's limits
    as they read a container's: the kubelet turns a pod's limits into the same cgroup files."""

    def __init__(self, namespace: str, pod: str, container: str | None = None):
        self.namespace, self.pod, self.container = namespace, pod, container

    def exec_run(self, command: list[str]) -> tuple[int, bytes]:
        where = ["-c", self.container] if self.container else []
        result = cluster.kubectl("exec", "-n", self.namespace, self.pod, *where, "--", *command, check=False, timeout=30)
        return result.returncode, result.stdout.encode()


def memory_usage(container) -> int | None:
    """The bytes a container's cgroup charges now (``memory.current``, v1: ``memory.usage_in_bytes``)."""
    from mlops_course import containers

    for files in (containers.CGROUP_V2, containers.CGROUP_V1):
        text = containers.read_file(container, files["memory_usage"])
        if text and text.strip().isdigit():
            return int(text)
    return None
