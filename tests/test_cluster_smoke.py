"""The cluster is real: pods get scheduled and run, a Service reaches them by
DNS name, a Job completes, logs and a port-forward on 127.0.0.1 work.

Runs against whatever cluster the current kubeconfig names (the offline
cluster in CI, kind on a laptop); skipped, with the doctor's reason, when none
is ready. The image mlops-course/hello:1 is built and loaded by cluster/.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest


pytestmark = pytest.mark.cluster

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      containers:
        - name: hello
          image: mlops-course/hello:1
          imagePullPolicy: Never
          args: [serve, -addr, ":8080"]
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
          resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports: [{port: 80, targetPort: 8080}]
"""

JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: fetch}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: fetch
          image: mlops-course/hello:1
          imagePullPolicy: Never
          args: [get, "http://hello.NAMESPACE.svc.cluster.local/"]
"""


def kubectl(*args, input=None, timeout=120, check=True):
    result = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def namespace():
    name = f"smoke-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def hello(namespace):
    kubectl("-n", namespace, "apply", "-f", "-", input=MANIFEST)
    kubectl("-n", namespace, "rollout", "status", "deployment/hello", "--timeout=120s", timeout=150)
    return namespace


def test_deployment_pods_are_scheduled_and_running(hello):
    pods = json.loads(kubectl("-n", hello, "get", "pods", "-l", "app=hello", "-o", "json"))["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["nodeName"]
        assert pod["status"]["podIP"]


def test_a_job_reaches_the_service_by_dns_name_and_completes(hello):
    kubectl("-n", hello, "apply", "-f", "-", input=JOB.replace("NAMESPACE", hello))
    kubectl("-n", hello, "wait", "--for=condition=complete", "job/fetch", "--timeout=120s", timeout=150)
    logs = kubectl("-n", hello, "logs", "job/fetch")
    assert re.search(rf"GET http://hello\.{hello}\.svc\.cluster\.local/: hello from hello-", logs), logs


def test_kubectl_logs_shows_the_server_starting(hello):
    assert "serving on :8080" in kubectl("-n", hello, "logs", "deployment/hello")


def test_port_forward_on_loopback_reaches_the_service(hello):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    forward = subprocess.Popen(
        ["kubectl", "-n", hello, "port-forward", "--address", "127.0.0.1", "svc/hello", f"{port}:80"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert "Forwarding from 127.0.0.1" in forward.stdout.readline()
        body = ""
        for _ in range(20):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    body = response.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert body.startswith("hello from hello-"), body
    finally:
        forward.terminate()
        forward.wait(timeout=10)
