"""The doctor finds real problems and says how to fix each."""

from __future__ import annotations

import platform
import socket

import pytest

from mlops_course import doctor


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


def test_too_little_memory_and_disk_fail_with_a_fix(monkeypatch):
    monkeypatch.setitem(doctor.MIN_MEMORY_GIB, "local", 10_000)
    monkeypatch.setitem(doctor.MIN_DISK_GIB, "local", 10**9)
    memory, disk = doctor.check_memory("local"), doctor.check_disk("local")
    assert memory.status == disk.status == doctor.FAILURE
    assert memory.fix and "prune" in disk.fix


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


def test_main_exits_non_zero_on_a_failure_and_prints_the_table(monkeypatch, capsys):
    assert doctor.main(["--tier", "local"]) == 0
    assert "All checks passed" in capsys.readouterr().out
    monkeypatch.setitem(doctor.MIN_MEMORY_GIB, "local", 10_000)
    assert doctor.main(["--tier", "local"]) == 1
    out = capsys.readouterr().out
    assert "memory" in out and "failure" in out and "fix:" in out


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


def test_a_tier_is_skipped_with_the_doctors_reason_exactly_when_it_is_not_ready():
    import conftest

    for tier in doctor.TIERS:
        problems = doctor.tier_problems(tier)
        reason = conftest.tier_skip_reason(tier)
        if problems:
            assert reason.startswith(f"{tier} tier not ready here")
            assert all(c.fix in reason for c in problems)
        else:
            assert reason is None
