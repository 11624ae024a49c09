"""The doctor finds real problems and says how to fix each."""

from __future__ import annotations

import os
import platform
import shutil
import socket

import pytest

from mlops_course import containers, doctor


def test_local_tier_is_ready_on_the_test_machine():
    assert doctor.tier_problems("local") == [], doctor.format_table(doctor.checks_for("local"))


def test_a_taken_port_is_found_and_the_fix_names_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        [check] = doctor.check_ports({port: "a test server"}, required=True)
    assert check.status == doctor.FAILURE and str(port) in check.fix
    [free] = doctor.check_ports({port: "a test server"}, required=True)
    assert free.status == doctor.OK


def test_too_little_memory_and_disk_are_warnings_with_a_fix(monkeypatch):
    monkeypatch.setitem(doctor.MIN_MEMORY_GIB, "local", 10_000)
    monkeypatch.setitem(doctor.MIN_DISK_GIB, "local", 10**9)
    memory, disk = doctor.check_memory("local"), doctor.check_disk("local")
    assert memory.status == disk.status == doctor.WARNING
    assert memory.fix and "prune" in disk.fix
    assert "measured with what already runs" in memory.detail
    assert doctor.tier_problems("local") == [], "a threshold is not a missing capability: the tier still runs"


class _Usage:
    def __init__(self, free_gib):
        self.free, self.total, self.used = free_gib * 2**30, 100 * 2**30, (100 - free_gib) * 2**30


def test_a_working_docker_tier_with_8_gib_of_free_disk_is_not_skipped(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: _Usage(8))
    disk = doctor.check_disk("docker")
    assert disk.status == doctor.WARNING and "8 GiB free, the docker tier wants 10 GiB" in disk.detail
    problems = {c.name for c in doctor.tier_problems("docker")}
    assert "disk" not in problems and "docker disk" not in problems
    if not problems:  # a daemon answers here: the docker tier runs, and says why it warns
        import conftest

        assert conftest.skip_reason(doctor.tier_problems("docker"), "docker") is None


def test_memory_taken_by_dockerd_and_a_cluster_does_not_skip_the_cluster_tier(monkeypatch):
    import psutil

    class Memory:
        available = 2 * 2**30  # what is left once dockerd and the cluster run

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory())
    check = doctor.check_memory("cluster")
    assert check.status == doctor.WARNING and "2.0 GiB available, the cluster tier wants 6 GiB" in check.detail
    assert "memory" not in {c.name for c in doctor.failures(doctor.checks_for("cluster"))}


def test_missing_docker_command_says_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    check = doctor.check_docker()
    assert check.status == doctor.FAILURE and "install" in check.fix.lower()


def test_no_cluster_says_how_to_bring_one_up(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    check = doctor.check_cluster()
    assert check.status == doctor.FAILURE and "cluster/README.md" in check.fix


def test_wrong_kernel_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(doctor.KERNELS, "mlops-course", tmp_path / ".venv")
    check = doctor.check_kernel_environment()
    assert check.status == doctor.FAILURE and "Change Kernel" in check.fix
    with pytest.raises(doctor.CourseEnvironmentError, match="Change Kernel"):
        doctor.require("local")


def test_main_exits_non_zero_on_a_failure_and_prints_the_table(monkeypatch, capsys, tmp_path):
    assert doctor.main(["--tier", "local"]) == 0
    assert "All checks passed" in capsys.readouterr().out
    monkeypatch.setitem(doctor.KERNELS, "mlops-course-missing", tmp_path / ".venv")
    assert doctor.main(["--tier", "local"]) == 1
    out = capsys.readouterr().out
    assert "env mlops-course-missing" in out and "failure" in out and "fix: run scripts/course setup" in out


def test_unknown_tier_is_rejected():
    with pytest.raises(ValueError, match="local"):
        doctor.checks_for("gpu")


def test_lock_reading_respects_platform_markers():
    locked = doctor.locked_packages()
    assert "numpy" in locked and "mlops-course" in locked
    if platform.system() == "Linux":
        assert "pywinpty" not in locked and "appnope" not in locked


def test_inotify_limits_are_read_on_linux():
    checks = doctor.check_inotify()
    if platform.system() == "Linux":
        assert {c.name for c in checks} == {"max_user_watches", "max_user_instances"}
        assert all(c.status == doctor.OK or "sysctl" in c.fix for c in checks)
    else:
        assert checks == []


def test_a_tier_is_skipped_with_the_doctors_reason_exactly_when_a_check_fails(monkeypatch):
    import conftest

    planted = doctor.Check("docker", doctor.FAILURE, "no Docker daemon answers (planted)", "start the planted daemon")
    shown = [doctor.Check("memory", doctor.WARNING, "1.0 GiB available", "close programs"), doctor.Check("cpu", doctor.OK, "x86_64")]
    monkeypatch.setattr(doctor, "checks_for", lambda tier, components=(): shown + ([planted] if tier == "docker" else []))
    conftest.tier_skip_reason.cache_clear()
    try:
        assert conftest.tier_skip_reason("local") is None, "warnings and ok checks do not skip a tier"
        assert conftest.tier_skip_reason("docker") == (
            "docker tier not ready here: docker: no Docker daemon answers (planted) (fix: start the planted daemon)")
    finally:
        conftest.tier_skip_reason.cache_clear()


# --- the docker tier ------------------------------------------------------------------------


def test_the_docker_tier_checks_the_registry_port_and_the_local_tier_does_not():
    docker_names = {c.name for c in doctor.checks_for("docker")}
    assert {"port 5055", "docker"} <= docker_names
    assert "port 5055" not in {c.name for c in doctor.checks_for("local")}
    if "docker" not in {c.name for c in doctor.tier_problems("docker")}:
        assert {"docker disk", "registry"} <= docker_names


def _psutil_sees(port: int) -> bool:
    import psutil

    try:
        return any(c.laddr and c.laddr.port == port and c.pid == os.getpid() for c in psutil.net_connections(kind="tcp"))
    except psutil.Error:  # macOS without root: no one's sockets
        return False


def test_a_taken_registry_port_is_a_warning_that_names_the_holder():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        [check] = doctor.check_docker_ports({port: "a test registry"})
        visible = _psutil_sees(port)
    assert check.status == doctor.WARNING, "a warning: the lab itself stops with the same message"
    assert f"127.0.0.1:{port}" in check.fix
    if not visible:
        pytest.skip("psutil cannot list this process's sockets here, so no holder can be named")
    assert f"(process {os.getpid()})" in check.fix and "ss -ltnp" not in check.fix, check.fix


def test_a_holder_no_one_can_see_gets_the_command_that_finds_it(monkeypatch):
    monkeypatch.setattr(containers, "port_owner", lambda port, client=None: None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        [check] = doctor.check_docker_ports({port: "a test registry"})
    assert check.status == doctor.WARNING and f"ss -ltnp 'sport = :{port}'" in check.fix and "process" in check.fix


def test_no_docker_daemon_is_a_failure_that_says_how_to_start_one(monkeypatch, tmp_path):
    if shutil.which("docker") is None:
        pytest.skip("no docker command: check_docker stops before it asks a daemon")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    check = doctor.check_docker()
    assert check.status == doctor.FAILURE
    assert "no Docker daemon answers" in check.detail and "systemctl start docker" in check.fix


class FakeClient:
    """Stands in for docker.DockerClient where a test needs a given answer."""

    def __init__(self, version=None, images=()):
        self._version, self._images = version or {}, set(images)
        outer = self

        class Images:
            def get(self, name):
                if name not in outer._images:
                    raise LookupError(name)
                return name

        self.images = Images()

    def version(self):
        return self._version


def test_a_daemon_this_user_may_not_use_is_told_apart(monkeypatch):
    if shutil.which("docker") is None:
        pytest.skip("no docker command")
    message = "DockerException: ('Connection aborted.', PermissionError(13, 'Permission denied'))"

    def refuse(timeout=0):
        raise containers.DaemonUnavailable(*containers.explain_connection_error(message, "unix:///var/run/docker.sock"))

    monkeypatch.setattr(containers, "connect", refuse)
    check = doctor.check_docker()
    assert check.status == doctor.FAILURE and "may not use it" in check.detail and "docker group" in check.fix


@pytest.mark.parametrize("engine", ["Docker Engine", "Docker Desktop", "Podman"])
def test_the_doctor_says_which_engine_answered(monkeypatch, engine):
    if shutil.which("docker") is None:
        pytest.skip("no docker command")
    versions = {
        "Docker Engine": {"Platform": {"Name": "Docker Engine - Community"}, "ApiVersion": "1.47",
                          "Components": [{"Name": "Engine", "Version": "27.4.0"}]},
        "Docker Desktop": {"Platform": {"Name": "Docker Desktop 4.37.1 (178610)"}, "ApiVersion": "1.47",
                           "Components": [{"Name": "Engine", "Version": "27.4.0"}]},
        "Podman": {"Platform": {"Name": "linux/amd64/fedora-41"}, "ApiVersion": "1.41",
                   "Components": [{"Name": "Podman Engine", "Version": "5.3.1"}]},
    }
    monkeypatch.setattr(containers, "connect", lambda timeout=0: FakeClient(versions[engine]))
    check = doctor.check_docker()
    assert check.status == doctor.OK and check.detail.startswith(engine)


def test_little_room_under_dockers_data_folder_is_a_warning(monkeypatch, tmp_path):
    info = {"DockerRootDir": str(tmp_path)}
    monkeypatch.setattr(doctor, "DOCKER_ROOT_MIN_FREE_GIB", 10**9)
    check = doctor.check_docker_disk(info, "Docker Engine", "unix:///var/run/docker.sock")
    assert check.status == doctor.WARNING and "docker system prune" in check.fix
    monkeypatch.setattr(doctor, "DOCKER_ROOT_MIN_FREE_GIB", 0)
    assert doctor.check_docker_disk(info, "Docker Engine", "unix:///var/run/docker.sock").status == doctor.OK


def test_dockers_data_folder_is_not_measured_where_it_is_not_on_this_machine(monkeypatch, tmp_path):
    monkeypatch.setattr(doctor, "DOCKER_ROOT_MIN_FREE_GIB", 10**9)
    info = {"DockerRootDir": str(tmp_path)}
    for engine, host in (("Docker Desktop", "unix:///var/run/docker.sock"), ("Docker Engine", "tcp://10.0.0.5:2376"),
                         ("Docker Engine", "unix:///var/run/docker.sock")):
        if engine == "Docker Engine" and host.startswith("unix"):
            info = {"DockerRootDir": str(tmp_path / "not-here")}
        check = doctor.check_docker_disk(info, engine, host)
        assert check.status == doctor.OK and check.detail.startswith("not measured")


def test_no_registry_at_hand_is_a_warning_that_says_what_to_get(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    check = doctor.check_registry_tool(FakeClient())
    assert check.status == doctor.WARNING and "docker pull registry:2" in check.fix and "docker-registry" in check.fix
    assert doctor.check_registry_tool(FakeClient(images=["registry:2"])).status == doctor.OK


def test_the_list_of_check_names_holds_every_check_a_tier_shows_in_its_order():
    for tier in (*doctor.TIERS, "all"):
        names = doctor.check_names(tier)
        shown = ["kernel", *(c.name for c in doctor.checks_for(tier))]
        assert set(shown) <= set(names), f"doctor.check_names({tier!r}) lacks {set(shown) - set(names)}"
        assert shown == [n for n in names if n in shown], "the same order as the doctor's table"
    assert "port 5055" in doctor.check_names("docker") and "port 5055" not in doctor.check_names("local")
    assert {f"env {k}" for k in doctor.KERNELS} <= set(doctor.check_names("local"))



# --- the base image ---------------------------------------------------------------------------

BASE_FIX = "docker pull python:3.11-slim, or scripts/build_base_image.sh offline"


def test_a_missing_base_image_fails_when_it_cannot_be_pulled_and_warns_when_it_can():
    missing = doctor.check_base_image(FakeClient(), reachable=False)
    assert missing.status == doctor.FAILURE and missing.fix == BASE_FIX
    assert "python:3.11-slim is not here" in missing.detail
    pullable = doctor.check_base_image(FakeClient(), reachable=True)
    assert pullable.status == doctor.WARNING and "will pull it" in pullable.detail and pullable.fix == BASE_FIX
    assert doctor.check_base_image(FakeClient(images=["python:3.11-slim"]), reachable=False).status == doctor.OK


DOCKER_READY = "docker" not in {c.name for c in doctor.failures([doctor.check_docker()])}


@pytest.mark.docker
@pytest.mark.skipif(not DOCKER_READY, reason="no Docker daemon answers here")
def test_the_docker_tier_fails_on_the_real_daemon_when_the_base_image_is_missing(monkeypatch):
    checks = doctor.checks_for("docker")
    assert "base image" in {c.name for c in checks}
    real = doctor.check_base_image
    monkeypatch.setattr(doctor, "check_base_image",
                        lambda client=None: real(client, image="mlops-course-no-such-image:0", reachable=False))
    [problem] = [c for c in doctor.tier_problems("docker") if c.name == "base image"]
    assert "mlops-course-no-such-image:0 is not here" in problem.detail and problem.fix.startswith("docker pull mlops-course-no-such")


def test_an_unreachable_registry_is_told_apart_from_one_that_asks_for_a_token(tmp_path):
    assert doctor.registry_reachable(f"http://127.0.0.1:{_free_port()}/v2/", timeout=1) is False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the kubeflow tier ------------------------------------------------------------------------


def test_the_kubeflow_tier_fails_for_a_component_that_is_not_ready(monkeypatch):
    from mlops_course import components

    monkeypatch.setattr(doctor, "check_cluster", lambda: doctor.Check("cluster", doctor.OK, "context test is ready"))
    monkeypatch.setattr(components, "readiness", lambda names: {
        "cert-manager": "", "katib": "katib is not installed on this cluster: run cluster/up katib"})
    checks = doctor.checks_for("kubeflow", ["katib"])
    rows = {c.name: c for c in checks}
    assert rows["component cert-manager"].status == doctor.OK
    assert rows["component katib"].status == doctor.FAILURE
    assert rows["component katib"].detail == "katib is not installed on this cluster"
    assert rows["component katib"].fix == "run cluster/up katib"
    assert [c.name for c in doctor.failures(checks)] == ["component katib"]
    assert "component katib" in doctor.check_names("kubeflow", ["katib"])


def test_the_kubeflow_tier_asks_nothing_of_components_without_a_cluster(monkeypatch, tmp_path):
    from mlops_course import components

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setattr(components, "readiness", lambda names: pytest.fail("asked about components without a cluster"))
    names = [c.name for c in doctor.tier_problems("kubeflow", ["katib"])]
    assert "cluster" in names and not any(n.startswith("component") for n in names)


def test_a_kubeflow_lab_must_name_its_components():
    with pytest.raises(ValueError, match='components=\\["katib"\\]'):
        doctor.require("kubeflow")
    with pytest.raises(SystemExit):
        doctor.main(["--tier", "kubeflow"])
