"""mlops_course.containers: the Docker helpers of the Part 2 labs.

The first half needs no daemon: error messages, engine names, the build log
parser, cgroup file parsing, the lock pins, the registry's configuration and
its port check. The second half (marked ``docker``, skipped with the doctor's
reason where no daemon answers) runs the error paths for real: a failing
build, a registry port that is taken, and cleanup by label.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import uuid

import pytest

from mlops_course import containers, doctor, faults, paths

#: A test against the real daemon: skipped with the doctor's reason when the docker tier is not ready.
docker_test = pytest.mark.docker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- connecting -----------------------------------------------------------------------

# What the docker SDK raised on the course's CI machine, as a user outside the docker group and with no daemon.
PERMISSION = "DockerException: Error while fetching server API version: ('Connection aborted.', PermissionError(13, 'Permission denied'))"
NO_SOCKET = "DockerException: Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))"
REFUSED = ("DockerException: Error while fetching server API version: HTTPConnectionPool(host='127.0.0.1', port=1): "
           "Max retries exceeded with url: /version (Caused by NewConnectionError(...: Failed to establish a new "
           "connection: [Errno 111] Connection refused'))")


def test_permission_denied_is_told_apart_from_no_daemon():
    kind, detail, fix = containers.explain_connection_error(PERMISSION, "unix:///var/run/docker.sock")
    assert kind == "permission"
    assert "may not use it" in detail and "usermod -aG docker" in fix and "log out" in fix
    for message in (NO_SOCKET, REFUSED):
        kind, detail, fix = containers.explain_connection_error(message, "unix:///var/run/docker.sock")
        assert kind == "no-daemon"
        assert "no Docker daemon answers" in detail
        assert "systemctl start docker" in fix and "Docker Desktop" in fix and "podman.socket" in fix


def test_timeouts_and_unknown_errors_are_explained_too():
    assert containers.explain_connection_error("ReadTimeout: Read timed out. (read timeout=15)", "unix:///x")[0] == "timeout"
    kind, detail, _ = containers.explain_connection_error("APIError: 500 Server Error: something odd", "unix:///x")
    assert kind == "other" and "something odd" in detail


def test_a_home_folder_in_the_daemon_address_is_not_printed():
    home = os.path.expanduser("~")
    if home in ("/", "~"):
        pytest.skip("no home folder")
    _, detail, _ = containers.explain_connection_error(NO_SOCKET, f"unix://{home}/.docker/run/docker.sock")
    assert home not in detail and "unix://~/.docker/run/docker.sock" in detail


def test_connect_to_no_daemon_raises_the_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    with pytest.raises(containers.DaemonUnavailable) as caught:
        containers.connect(timeout=5)
    assert caught.value.kind == "no-daemon"
    assert "Fix: start one" in str(caught.value)


def test_docker_host_follows_the_environment(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert containers.docker_host() == ("tcp://127.0.0.1:2375", None)


# The shapes of `GET /version` from each engine (trimmed): Debian's dockerd 20.10 (measured here),
# Docker Desktop and Podman's Docker-compatible API.
ENGINE = {"Platform": {"Name": ""}, "Version": "20.10.24+dfsg1", "ApiVersion": "1.41",
          "Components": [{"Name": "Engine", "Version": "20.10.24+dfsg1"}, {"Name": "containerd", "Version": "1.6.20"}]}
DESKTOP = {"Platform": {"Name": "Docker Desktop 4.37.1 (178610)"}, "Version": "27.4.0", "ApiVersion": "1.47",
           "Components": [{"Name": "Engine", "Version": "27.4.0"}, {"Name": "containerd", "Version": "1.7.21"}]}
PODMAN = {"Platform": {"Name": "linux/amd64/debian-12"}, "Version": "4.3.1", "ApiVersion": "1.41",
          "Components": [{"Name": "Podman Engine", "Version": "4.3.1"}, {"Name": "conmon", "Version": "2.1.6"}]}


@pytest.mark.parametrize("version, name", [(ENGINE, "Docker Engine"), (DESKTOP, "Docker Desktop"), (PODMAN, "Podman")])
def test_the_engine_is_named_from_its_version(version, name):
    assert containers.engine_name(version) == name
    assert containers.describe_engine(version).startswith(name)


def test_engine_descriptions_carry_the_versions():
    assert containers.describe_engine(ENGINE) == "Docker Engine 20.10.24+dfsg1 (API 1.41)"
    assert "4.37.1" in containers.describe_engine(DESKTOP) and "engine 27.4.0" in containers.describe_engine(DESKTOP)
    assert containers.describe_engine(PODMAN) == "Podman 4.3.1 (Docker API 1.41)"


# --- building -----------------------------------------------------------------------------

# The classic builder's messages for a build whose first steps came from the cache and whose last step failed.
FAILED_BUILD = [
    {"stream": "Step 1/4 : FROM python:3.11-slim"}, {"stream": "\n"}, {"stream": " ---> 693796ff0eed\n"},
    {"stream": "Step 2/4 : LABEL mlops-course.lab=t"}, {"stream": "\n"}, {"stream": " ---> Using cache\n"},
    {"stream": " ---> 09cae59f3cd5\n"},
    {"stream": "Step 3/4 : COPY a.txt /a.txt"}, {"stream": "\n"}, {"stream": " ---> 6cd015f6c5f4\n"},
    {"stream": "Step 4/4 : RUN python3 -c 'import sys; print(\"about to fail\"); sys.exit(3)'"}, {"stream": "\n"},
    {"stream": " ---> Running in a7acd1a07f61\n"}, {"stream": "about to fail\n"},
    {"stream": "Removing intermediate container a7acd1a07f61\n"},
    {"errorDetail": {"code": 3, "message": "The command '/bin/sh -c python3 ...' returned a non-zero code: 3"},
     "error": "The command '/bin/sh -c python3 ...' returned a non-zero code: 3"},
]


def test_the_build_log_says_which_steps_were_cached_and_what_failed():
    steps, image_id, error = containers.parse_build_log(FAILED_BUILD)
    assert [s.outcome for s in steps] == ["base", "cached", "built", "built"]
    assert steps[-1].output == ["about to fail"], "the builder's own lines are not the step's output"
    assert image_id is None and "non-zero code: 3" in error


def test_a_successful_build_log_gives_the_image_id():
    chunks = [{"stream": "Step 1/1 : FROM python:3.11-slim"}, {"stream": " ---> 693796ff0eed\n"},
              {"aux": {"ID": "sha256:abc"}}, {"stream": "Successfully built abc\n"}]
    steps, image_id, error = containers.parse_build_log(chunks)
    assert len(steps) == 1 and image_id == "sha256:abc" and error is None


def test_a_dockerfile_that_labels_its_images_is_recognised():
    assert containers.dockerfile_labels_lab("FROM x\nLABEL mlops-course.lab=02-registry\n", "02-registry")
    assert containers.dockerfile_labels_lab('FROM x\nlabel other=1 mlops-course.lab="02-registry"\n', "02-registry")
    assert not containers.dockerfile_labels_lab("FROM x\nLABEL mlops-course.lab=02-registry-b\n", "02-registry")
    assert not containers.dockerfile_labels_lab("FROM x\n# LABEL mlops-course.lab=02-registry\n", "02-registry")


def test_a_missing_dockerfile_is_a_build_error(tmp_path):
    with pytest.raises(containers.BuildError, match="no Dockerfile"):
        containers.build_image(None, tmp_path, "x:1", "t")


@pytest.mark.parametrize(
    "created_by, expected",
    [
        ('/bin/sh -c #(nop)  CMD ["python" "train.py"]', 'CMD ["python" "train.py"]'),
        ("/bin/sh -c #(nop) COPY file:" + "a" * 64 + " in /app/train.py ", "COPY file:aaaaaaaaaaaa… in /app/train.py"),
        ("/bin/sh -c pip install --no-cache-dir -r requirements.txt", "RUN pip install --no-cache-dir -r requirements.txt"),
        ("|1 VERSION=2 /bin/sh -c echo $VERSION", "RUN echo $VERSION"),
        ("RUN /bin/sh -c apt-get update # buildkit", "RUN /bin/sh -c apt-get update"),
        ("", "(imported: made by debootstrap)"),
    ],
)
def test_history_entries_read_like_dockerfile_lines(created_by, expected):
    assert containers.instruction(created_by, "made by debootstrap") == expected


def test_sizes_read_like_docker_images():
    assert [containers.human_size(n) for n in (15, 11_808, 21_620_833, 238_939_480, 2_500_000_000)] == [
        "15 B", "11.8 kB", "21.6 MB", "239 MB", "2.5 GB"]


# --- cgroups ----------------------------------------------------------------------------------


def test_memory_limits_from_both_cgroup_versions():
    assert containers.parse_memory_limit("134217728\n") == 128 * 2**20
    assert containers.parse_memory_limit("max") is None, "v2: no limit"
    assert containers.parse_memory_limit("9223372036854771712") is None, "v1: no limit"
    assert containers.parse_memory_limit(None) is None


def test_cpu_limits_from_both_cgroup_versions():
    assert containers.parse_cpu_v2("50000 100000") == 0.5
    assert containers.parse_cpu_v2("max 100000") is None
    assert containers.parse_cpu_v1("150000", "100000") == 1.5
    assert containers.parse_cpu_v1("-1", "100000") is None
    stat = containers.parse_cpu_stat("nr_periods 22\nnr_throttled 20\nthrottled_time 983416125\n")
    assert stat == {"nr_periods": 22, "nr_throttled": 20, "throttled_time": 983416125}


def test_the_cgroup_paths_are_the_kernels():
    assert containers.CGROUP_V2["memory"] == "/sys/fs/cgroup/memory.max"
    assert containers.CGROUP_V2["cpu"] == "/sys/fs/cgroup/cpu.max"
    assert containers.CGROUP_V1["memory"] == "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    assert containers.CGROUP_V1["cpu_quota"] == "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"


# --- pins, labels, registry ---------------------------------------------------------------------


def test_requirements_are_pinned_to_the_lock_for_linux():
    pins = dict(line.split("==") for line in containers.pinned_requirements(["numpy", "pandas", "scikit-learn"]))
    locked = doctor.locked_packages()
    for name in ("numpy", "pandas", "scikit-learn", "scipy", "joblib"):
        assert pins[name] == locked[name]
    assert "colorama" not in pins and "pywin32" not in pins, "Windows-only dependencies stay out of a Linux image"
    with pytest.raises(KeyError, match="not-a-package"):
        containers.pinned_requirements(["not-a-package"])


def test_everything_gets_the_labs_label():
    assert containers.labels("02-registry") == {"mlops-course.lab": "02-registry"}
    assert containers.label_filter("02-registry") == {"label": "mlops-course.lab=02-registry"}
    assert containers.describe_cleanup({"registry": 1, "containers": 1, "images": 3, "volumes": 0, "workdir": 1}) == (
        "removed the registry, 1 container, 3 images, the lab's work folder")
    assert containers.describe_cleanup({"registry": 0, "containers": 0}) == "nothing to remove"


def test_the_registry_listens_on_loopback_only(tmp_path):
    config = containers.registry_config(5055, tmp_path / "data")
    assert "addr: 127.0.0.1:5055" in config and "0.0.0.0" not in config
    assert f"rootdirectory: {tmp_path / 'data'}" in config


def test_a_taken_registry_port_is_a_clear_error_naming_who_holds_it():
    lab = f"test-port-{uuid.uuid4().hex[:8]}"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert containers.port_in_use(port)
        with pytest.raises(containers.PortTaken) as caught:
            containers.start_registry(lab, port=port)
    message = str(caught.value)
    assert f"127.0.0.1:{port} is taken by" in message and "registry_port parameter" in message
    if sys.platform == "linux":  # psutil sees this process's own sockets there; macOS needs root for any
        assert f"process {os.getpid()}" in message, "names the process that holds the port"
    assert not (paths.WORK_ROOT / lab).exists(), "nothing was started"
    assert not containers.port_in_use(port)


def test_stopping_a_registry_that_never_ran_is_harmless():
    lab = f"test-none-{uuid.uuid4().hex[:8]}"
    assert containers.stop_registry(lab) is False
    assert containers.stop_registry(lab) is False


# --- against a real daemon -----------------------------------------------------------------------


@pytest.fixture
def lab():
    """A lab name of the test's own; everything labelled with it is removed afterwards."""
    name = f"test-containers-{uuid.uuid4().hex[:8]}"
    yield name
    containers.cleanup(name, containers.connect())


@pytest.fixture(scope="module")
def client():
    return containers.connect()


@docker_test
def test_a_failing_build_names_the_step_and_shows_its_output(client, lab, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {containers.BASE_IMAGE}\nLABEL mlops-course.lab={lab}\nRUN echo a first step\n"
        "RUN python3 -c \"import sys; print('about to fail'); sys.exit(3)\"\nCMD [\"true\"]\n"
    )
    with pytest.raises(containers.BuildError) as caught:
        containers.build_image(client, tmp_path, f"{lab}:1", lab)
    message = str(caught.value)
    assert "failed at step 4/5" in message and "sys.exit(3)" in message
    assert "returned a non-zero code: 3" in message
    assert "about to fail" in message and caught.value.log_tail == ["about to fail"]
    # The steps before the failure left labelled intermediate images: cleanup finds and removes them.
    assert containers.lab_objects(client, lab)["images"]
    removed = containers.cleanup(lab, client)
    assert removed["images"] >= 1 and not any(containers.lab_objects(client, lab).values())


@docker_test
def test_a_missing_base_image_says_how_to_get_it(client, lab, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM mlops-course-no-such-base:never\n")
    with pytest.raises(containers.BuildError) as caught:
        containers.build_image(client, tmp_path, f"{lab}:1", lab)
    message = str(caught.value)
    assert "failed at step 1/" in message and "`docker pull mlops-course-no-such-base:never`" in message
    assert containers._build_hint("pull access denied", containers.Step(1, f"FROM {containers.BASE_IMAGE}", "base")
                                  ).endswith("build it with scripts/build_base_image.sh")


@docker_test
def test_a_build_is_timed_and_a_rebuild_comes_from_the_cache(client, lab, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {containers.BASE_IMAGE}\nLABEL mlops-course.lab={lab}\nCOPY a.txt /a.txt\nCMD [\"cat\", \"/a.txt\"]\n")
    (tmp_path / "a.txt").write_text("one\n")
    first = containers.build_image(client, tmp_path, f"{lab}:1", lab)
    again = containers.build_image(client, tmp_path, f"{lab}:1", lab)
    (tmp_path / "a.txt").write_text("two\n")
    edited = containers.build_image(client, tmp_path, f"{lab}:2", lab)
    assert (first.built, first.cached) == (3, 0) and first.seconds > 0
    assert (again.built, again.cached) == (0, 3)
    assert [s.instruction for s in edited.steps if s.outcome == "built"] == ["COPY a.txt /a.txt", 'CMD ["cat", "/a.txt"]']
    table = containers.layers(edited.image)
    assert table["instruction"].iloc[-2].startswith("COPY file:") and table["bytes"].iloc[-2] == 4
    assert containers.disk_size([first.image, edited.image]) < first.image.attrs["Size"] + 1000


@docker_test
def test_a_dockerfile_without_the_label_gets_it_from_the_build(client, lab, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {containers.BASE_IMAGE}\nCMD [\"true\"]\n")
    build = containers.build_image(client, tmp_path, f"{lab}:1", lab)
    assert build.image.labels.get(containers.LABEL) == lab


@docker_test
def test_cgroup_limits_are_read_back_from_a_container(client, lab):
    box = client.containers.run(containers.BASE_IMAGE, ["sleep", "60"], detach=True, labels=containers.labels(lab),
                                mem_limit="96m", nano_cpus=250_000_000)
    limits = containers.cgroup_limits(box)
    assert limits.version in ("v1", "v2")
    assert limits.memory_limit == 96 * 2**20 and limits.cpus == 0.25


@docker_test
def test_cleanup_removes_exactly_the_labs_objects_and_is_safe_twice(client, lab):
    other = client.containers.create(containers.BASE_IMAGE, ["true"], labels={containers.LABEL: lab + "-other"})
    try:
        client.containers.create(containers.BASE_IMAGE, ["true"], labels=containers.labels(lab))
        client.volumes.create(f"{lab}-data", labels=containers.labels(lab))
        client.networks.create(f"{lab}-net", labels=containers.labels(lab))
        code, out, _ = containers.run_python(client, lab, "print('hello')")
        assert (code, out.strip()) == (0, "hello")
        paths.workdir(lab)
        removed = containers.cleanup(lab, client)
        assert removed == {"registry": 0, "containers": 2, "images": 0, "volumes": 1, "networks": 1, "workdir": 1}
        assert containers.cleanup(lab, client) == {
            "registry": 0, "containers": 0, "images": 0, "volumes": 0, "networks": 0, "workdir": 0}
        other.reload()  # still there
        client.images.get(containers.BASE_IMAGE)  # the base image is never touched
    finally:
        other.remove(force=True)


@docker_test
@pytest.mark.skipif(shutil.which(containers.REGISTRY_BINARY) is None, reason="no docker-registry command")
def test_a_registry_port_taken_by_another_labs_registry_is_named(client, lab):
    port = free_port()
    registry = containers.start_registry(lab, port=port, client=client, how="binary")
    assert registry.kind == "binary" and containers.registry_request(registry, "/v2/")[0] == 200
    with pytest.raises(containers.PortTaken) as caught:
        containers.start_registry(lab + "-second", port=port, client=client)
    assert f"the registry of lab {lab}" in str(caught.value) and "cleanup" in str(caught.value)
    check = doctor.check_docker_ports({port: "a test registry"})[0]
    assert check.status == doctor.WARNING and f"the registry of lab {lab}" in check.fix
    assert containers.cleanup(lab, client)["registry"] == 1
    assert not containers.port_in_use(port)
    assert containers.cleanup(lab, client)["registry"] == 0


@docker_test
@pytest.mark.skipif(shutil.which(containers.REGISTRY_BINARY) is None, reason="no docker-registry command")
def test_a_registry_started_by_an_earlier_kernel_is_stopped_by_its_pid(client, lab):
    port = free_port()
    registry = containers.start_registry(lab, port=port, client=client, how="binary")
    process = containers._STARTED.pop(registry.pid)  # as if the kernel that started it had been restarted
    assert containers.stop_registry(lab) is True
    assert process.wait(timeout=10) is not None  # ended (by its pid); reaped here, its parent
    assert not containers.port_in_use(port)
    assert not (paths.WORK_ROOT / lab / "registry" / "registry.pid").exists()


@docker_test
def test_a_missing_image_that_cannot_be_pulled_says_the_one_command_that_fixes_it(client):
    # A registry that does not exist: the pull fails wherever the test runs, online or not.
    port = free_port()
    name = f"127.0.0.1:{port}/mlops-course/no-such-base:1"
    with pytest.raises(containers.ImageMissing) as caught:
        containers.ensure_image(client, name)
    message = str(caught.value)
    assert message.startswith(f"The image {name} is not on this machine and could not be pulled")
    assert f"`docker pull {name}`" in message and message.count("\n") == 0, "one sentence, one command"
    assert containers.ensure_image(client, containers.BASE_IMAGE).id == client.images.get(containers.BASE_IMAGE).id


def test_the_base_images_fix_names_the_offline_builder_too(monkeypatch):
    import docker

    class Images:
        def get(self, name):
            raise docker.errors.ImageNotFound(name)

        def pull(self, repository, tag=None):
            raise docker.errors.APIError("pull access denied", explanation="dial tcp: lookup registry-1.docker.io: no such host")

    client = type("Client", (), {"images": Images()})()
    with pytest.raises(containers.ImageMissing) as caught:
        containers.ensure_image(client, containers.BASE_IMAGE)
    assert "`docker pull python:3.11-slim`" in str(caught.value) and "scripts/build_base_image.sh" in str(caught.value)


def test_a_taken_port_names_the_labs_parameter():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(containers.PortTaken, match="its serve_port parameter"):
            containers.require_free_port(port, "serve_port")
    assert containers.require_free_port(port, "serve_port") == port


@docker_test
def test_waiting_for_a_server_that_exits_says_so_with_its_log(client, lab):
    dead = client.containers.run(containers.BASE_IMAGE, ["sh", "-c", "echo 'cannot load the model' >&2; exit 3"],
                                 detach=True, labels=containers.labels(lab))
    with pytest.raises(containers.ContainerError, match="exited before .* answered; its log ends with:\ncannot load the model"):
        containers.wait_for_http(f"http://127.0.0.1:{free_port()}/health", timeout=30, container=dead)


# --- a connection lost mid-lab: one clear message (mlops_course.faults) ----------------------------


@pytest.fixture
def shell():
    """A real IPython shell with the course's handler installed, as a lab's kernel has it."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    assert faults.install(ip)
    yield ip
    ip.set_custom_exc((), None)
    InteractiveShell.clear_instance()


def run_cell(shell, code, capsys):
    result = shell.run_cell(code)
    return result, capsys.readouterr().out


def test_a_docker_daemon_that_is_gone_ends_in_one_clear_message(shell, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    # A client made while the socket was there, used after the daemon went away: the socket does not exist.
    result, out = run_cell(shell, f"import docker\nclient = docker.DockerClient(base_url='unix://{tmp_path}/docker.sock', "
                                  "version='1.41', timeout=5)\nclient.containers.list()", capsys)
    assert result.error_in_exec is not None, "the cell still fails, so a headless run stops there"
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1, out
    assert out.startswith("ConnectionError: Lost the connection to the Docker daemon at unix://")
    assert "its socket is gone" in out and "systemctl start docker" in out and "Docker Desktop" in out
    assert "rerun the notebook from the top: the lab cleans up what the last run left" in out


def test_the_sdks_first_request_failing_is_explained_the_same_way(shell, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    result, out = run_cell(shell, "import docker\ndocker.from_env()", capsys)
    assert type(result.error_in_exec).__name__ == "DockerException"
    assert out.startswith("DockerException: Lost the connection to the Docker daemon") and "Traceback" not in out


def test_a_model_server_that_stopped_is_named_by_its_address(shell, capsys):
    port = free_port()
    result, out = run_cell(shell, f"import requests\nrequests.post('http://127.0.0.1:{port}/predict', json={{}}, timeout=5)",
                           capsys)
    assert type(result.error_in_exec).__name__ == "ConnectionError"
    assert out.startswith(f"ConnectionError: Lost the connection to a server at http://127.0.0.1:{port}/predict "
                          "(connection refused)")
    assert "docker logs" in out and "rerun the notebook from the top" in out


def test_a_kubernetes_api_server_that_is_gone_is_named(shell, capsys):
    port = 6443 if not containers.port_in_use(6443) else None
    if port is None:
        pytest.skip("something listens on 127.0.0.1:6443 here")
    code = ("import urllib3\nurllib3.PoolManager(retries=urllib3.Retry(0)).request('GET', "
            "'https://127.0.0.1:6443/api/v1/namespaces', timeout=5)")
    result, out = run_cell(shell, code, capsys)
    assert type(result.error_in_exec).__name__ == "MaxRetryError"
    assert out.startswith("MaxRetryError: Lost the connection to the Kubernetes API server at https://127.0.0.1:6443")
    assert "kubectl cluster-info" in out and "cluster/up" in out


def test_other_errors_keep_their_traceback_and_course_errors_show_their_message(shell, capsys):
    result, out = run_cell(shell, "import docker\nraise docker.errors.NotFound('No such container: x')", capsys)
    assert "Traceback" in out and "Lost the connection" not in out, "a 404 is no lost connection"
    result, out = run_cell(shell, "1 / 0", capsys)
    assert "ZeroDivisionError" in out and "Traceback" in out
    result, out = run_cell(shell, "from mlops_course import containers\n"
                                  "raise containers.ImageMissing('The image x is not here. Fix: `docker pull x`.')", capsys)
    assert out.strip() == "ImageMissing: The image x is not here. Fix: `docker pull x`."


def test_an_api_error_whose_reason_is_text_keeps_its_own_traceback(shell, capsys):
    # The kubernetes client's ApiException and urllib's URLError keep a status text in .reason, where
    # urllib3's errors keep the exception behind them: the handler must read the one and pass the other.
    code = ("from kubernetes.client.exceptions import ApiException\n"
            "raise ApiException(status=404, reason='Not Found')")
    result, out = run_cell(shell, code, capsys)
    assert type(result.error_in_exec).__name__ == "ApiException"
    assert "custom exception handler" not in out and "AttributeError" not in out, out
    assert "Traceback" in out and "(404)" in out and "Lost the connection" not in out
    result, out = run_cell(shell, "import urllib.error\nraise urllib.error.URLError('[Errno 111] Connection refused')", capsys)
    assert "custom exception handler" not in out and "AttributeError" not in out, out
    assert out.startswith("URLError: Lost the connection to a server"), out


def test_a_read_that_timed_out_is_no_lost_connection():
    import requests

    slow = requests.exceptions.ReadTimeout("HTTPConnectionPool(host='localhost', port=None): Read timed out. (read timeout=5)")
    assert faults.explain(slow) is None, "the daemon answered the connection; the wait just ran out"
    refused = requests.exceptions.ConnectionError("HTTPConnectionPool(host='127.0.0.1', port=18000): Max retries exceeded")
    assert faults.explain(refused) is not None


def test_outside_ipython_install_does_nothing():
    assert faults.install() is False


# --- the tool on the page ---------------------------------------------------------------------------
#
# Part 2 teaches the docker SDK: its calls stand in the labs' own cells, each with the docker command
# beside it, before any helper does the same. A lab that hides one of them behind a helper fails here.

TOOL_ON_THE_PAGE = {
    "02-build-and-run.ipynb": [
        ("docker.from_env()", "docker version"),
        ("client.images.build(path=", "docker build -t taxi-train:1 ."),
        ("image.history()", "docker history taxi-train:1"),
        ('ports={"8000/tcp": ("127.0.0.1", serve_port)}', "-p 127.0.0.1:18000:8000"),
        ("server.logs()", "docker logs"),
        ("server.exec_run([", "docker exec"),
    ],
    "02-namespaces-and-cgroups.ipynb": [
        ('read(box, "/sys/fs/cgroup/memory.max")', "cgroup v2"),
        ('"/sys/fs/cgroup/memory/memory.limit_in_bytes"', "cgroup v1"),
        ('container.exec_run(["cat", path])', "docker exec CONTAINER cat PATH"),
        ("writer.diff()", "docker diff"),
        ("client.volumes.create(", "docker volume create"),
        ("client.networks.create(", "docker network create"),
    ],
    "02-registry.ipynb": [
        ("v1.tag(REPO, \"latest\")", "docker tag"),
        ("client.images.push(REPO, tag=\"latest\", stream=True, decode=True)", "docker push"),
        ("client.images.pull(REPO, tag=\"latest\")", "docker pull"),
        ('client.images.pull(f"{REPO}@{digest1}")', "docker pull 127.0.0.1:5055/course/taxi-train@sha256:"),
    ],
}


@pytest.mark.parametrize("notebook", sorted(TOOL_ON_THE_PAGE))
def test_the_sdk_calls_stand_in_the_lab_with_the_cli_beside_them(notebook):
    import json

    cells = json.loads((paths.REPO_ROOT / "solutions" / notebook).read_text())["cells"]
    lesson = ["".join(c["source"]) for c in cells if c["cell_type"] == "code" and "solution" not in c["metadata"].get("tags", [])]
    for call, cli in TOOL_ON_THE_PAGE[notebook]:
        cell = next((source for source in lesson if call in source), None)
        assert cell is not None, f"{notebook}: no lesson cell calls {call} itself"
        assert cli in cell, f"{notebook}: the cell with {call} does not show the command a practitioner types ({cli})"


def test_the_doctor_checks_the_port_lab_2a_publishes_its_model_server_on():
    cells = json.loads((paths.REPO_ROOT / "solutions" / "02-build-and-run.ipynb").read_text())["cells"]
    parameters = next("".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", []))
    default = re.search(r"^serve_port = ([\d_]+)", parameters, re.M)
    assert default and int(default.group(1)) == containers.SERVE_PORT, "lab 2a's serve_port default is containers.SERVE_PORT"
    assert containers.SERVE_PORT in doctor.DOCKER_PORTS
