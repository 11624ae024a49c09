"""The docker tier is real: an image builds from the course's base image, a
container runs in its own PID namespace under the memory limit it was given.

Runs against whatever daemon `docker` talks to (Docker Engine or Desktop on a
laptop; Debian's dockerd, started by `COURSE_PROVISION=1 scripts/course test`,
in CI); skipped, with the doctor's reason, when none answers.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest


pytestmark = pytest.mark.docker

DOCKERFILE = """\
FROM python:3.11-slim
RUN python3 -c "open('/built-by-run', 'w').write('layer from RUN')"
COPY probe.py /probe.py
CMD ["python3", "/probe.py"]
"""

PROBE = """\
import json, os, pathlib
def first(*paths):
    for p in paths:
        if pathlib.Path(p).exists():
            return pathlib.Path(p).read_text().strip()
print(json.dumps({
    "pid": os.getpid(),
    "hostname": os.uname().nodename,
    "built": pathlib.Path("/built-by-run").read_text(),
    "memory_limit": first("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
}))
"""


def docker(*args, timeout=300):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"docker {' '.join(args)} failed: {result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    context = tmp_path_factory.mktemp("image")
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "probe.py").write_text(PROBE)
    tag = f"mlops-course-smoke:{uuid.uuid4().hex[:8]}"
    docker("build", "-q", "-t", tag, str(context))
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def test_a_container_runs_isolated_under_its_memory_limit(image):
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    out = json.loads(docker("run", "--rm", "--name", name, "--hostname", name, "--memory", "64m", "--network", "none", image))
    assert out["pid"] == 1, "the container's process must be PID 1 of its own PID namespace"
    assert out["hostname"] == name
    assert out["built"] == "layer from RUN"
    assert int(out["memory_limit"]) == 64 * 2**20


def test_the_image_has_a_layer_per_filesystem_instruction(image):
    layers = json.loads(docker("image", "inspect", image))[0]["RootFS"]["Layers"]
    base = json.loads(docker("image", "inspect", "python:3.11-slim"))[0]["RootFS"]["Layers"]
    assert layers[: len(base)] == base, "the image starts with the base image's layers"
    assert len(layers) == len(base) + 2, "RUN and COPY each add one layer"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_published_port_answers_on_loopback_and_a_network_resolves_names():
    """What lab 2a and 2b rely on: -p 127.0.0.1:PORT:8000 reaches the container; names resolve on a user-defined network."""
    import time
    import urllib.request

    tag = uuid.uuid4().hex[:8]
    network, web, port = f"smoke-net-{tag}", f"smoke-web-{tag}", free_port()
    docker("network", "create", network)
    try:
        docker("run", "-d", "--name", web, "--network", network, "-p", f"127.0.0.1:{port}:8000",
               "python:3.11-slim", "python3", "-m", "http.server", "8000")
        assert docker("port", web, "8000/tcp").split() == [f"127.0.0.1:{port}"], "published on 127.0.0.1 only"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for _ in range(100):
            try:
                with opener.open(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    status = response.status
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"nothing answered on 127.0.0.1:{port}")
        assert status == 200
        by_name = docker("run", "--rm", "--network", network, "python:3.11-slim", "python3", "-c",
                         f"import urllib.request; print(urllib.request.urlopen('http://{web}:8000/', timeout=10).status)")
        assert by_name.strip() == "200"
    finally:
        subprocess.run(["docker", "rm", "-f", web], capture_output=True)
        subprocess.run(["docker", "network", "rm", network], capture_output=True)
