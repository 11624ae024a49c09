"""The offline cluster's script refuses bad starting points with the fix, and
its tear-down cleans up whatever a failed or interrupted start left behind.

These run the real script against scratch state folders; they need Linux and
root (as the offline cluster does) and never touch a running cluster's state.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "cluster" / "offline" / "cluster.sh"

pytestmark = [
    pytest.mark.cluster,  # counted with the cluster tier in the tier table
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or os.geteuid() != 0,
        reason="the offline cluster needs Linux and root (CI has both); learners use kind",
    ),
]


def run(*args, env=None, timeout=120):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def listening(port: int) -> bool:
    """Whether anything on this machine listens on ``port`` (asks the kernel; sends nothing)."""
    return bool(subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout.strip())


def test_usage_is_explained():
    result = run("frobnicate")
    assert result.returncode != 0 and "usage:" in result.stderr


def test_up_refuses_a_port_in_use_and_names_it(tmp_path):
    # etcd's peer port: taken by us here, or by a running cluster's etcd.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if not listening(2380):
            s.bind(("127.0.0.1", 2380))
            s.listen()
        try:
            result = run("up", env={"CLUSTER_STATE": str(tmp_path / "state")}, timeout=600)
        finally:
            if (tmp_path / "state").exists():  # the refusal failed: leave no cluster behind
                run("down", env={"CLUSTER_STATE": str(tmp_path / "state")})
    assert result.returncode != 0, result.stderr
    assert "port" in result.stderr and "is in use" in result.stderr and "down" in result.stderr
    assert not (tmp_path / "state").exists(), "a refused start must leave nothing behind"


def test_up_refuses_when_memory_is_short(tmp_path):
    env = {"CLUSTER_STATE": str(tmp_path / "state"), "CLUSTER_MIN_MEMORY_MIB": str(10**9)}
    try:
        result = run("up", env=env, timeout=600)
    finally:
        if (tmp_path / "state").exists():
            run("down", env=env)
    assert result.returncode != 0, result.stderr
    assert "memory available" in result.stderr and "close other programs" in result.stderr


def test_down_cleans_up_a_half_started_cluster(tmp_path):
    state = tmp_path / "state"
    (state / "run").mkdir(parents=True)
    (state / "logs").mkdir()
    leftover = subprocess.Popen(["sleep", "300"], start_new_session=True)
    (state / "run" / "etcd.pid").write_text(str(leftover.pid))
    (state / "run" / "kubelet.pid").write_text("999999")  # a process that is already gone
    try:
        first = run("down", env={"CLUSTER_STATE": str(state)})
        assert first.returncode == 0, first.stderr
        assert leftover.wait(timeout=15) is not None, "down must stop the leftover process"
        assert not state.exists()
        again = run("down", env={"CLUSTER_STATE": str(state)})
        assert again.returncode == 0 and "cleaned up" in again.stderr
    finally:
        if leftover.poll() is None:
            leftover.kill()
