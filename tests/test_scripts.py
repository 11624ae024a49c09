"""The everyday commands work as README.md says."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "scripts" / "course"


def course(*args, timeout=300):
    return subprocess.run([str(COURSE), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_command():
    out = course("help").stdout
    for command in ("lab", "test", "setup", "doctor", "book", "labs", "refresh", "run", "bench", "clean"):
        assert f"scripts/course {command}" in out


def test_unknown_command_fails_with_a_hint():
    result = course("frobnicate")
    assert result.returncode != 0 and "scripts/course help" in result.stderr


def test_setup_is_idempotent_and_fast_when_nothing_changed():
    assert course("setup").returncode == 0
    start = time.perf_counter()
    result = course("setup")
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stderr
    assert seconds < 5, f"a warm set-up took {seconds:.1f} s"


def test_doctor_command_reports_the_local_tier():
    result = course("doctor", "--tier", "local")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed for the local tier" in result.stdout


def test_run_one_lab_headless_with_a_parameter():
    result = course("run", "solutions/00-environment-check.ipynb", "-p", "n_rows", "321")
    assert result.returncode == 0, result.stdout + result.stderr
    executed = nbformat.read(ROOT / ".work/runs/00-environment-check.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "n_rows = 321" in injected[0].source
    outputs = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "321 trips written" in outputs


def test_run_names_a_missing_notebook():
    result = course("run", "solutions/nope.ipynb")
    assert result.returncode != 0 and "no notebook" in result.stdout


def test_lab_command_serves_jupyterlab_on_loopback_with_the_course_kernel():
    import json
    import re
    import socket
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(COURSE), "lab", "--no-browser", f"--ServerApp.port={port}", "--ServerApp.port_retries=0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", line)
            url = found and found.group(1)
        assert url, "JupyterLab did not start on 127.0.0.1"
        headers = {"Authorization": f"token {url}"}

        def get(path):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
            for _ in range(40):  # the URL is printed a moment before the server accepts connections
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        return json.load(response)
                except urllib.error.URLError as exc:
                    if not isinstance(exc.reason, ConnectionRefusedError):
                        raise
                    time.sleep(0.25)
            raise AssertionError(f"JupyterLab never answered on 127.0.0.1:{port}")

        assert "mlops-course" in get("/api/kernelspecs")["kernelspecs"]
        assert get("/api/contents/labs/00-environment-check.ipynb?content=0")["type"] == "notebook"
        if shutil.which("ss"):  # Linux: ask the kernel which address the server is bound to
            listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
            assert f"127.0.0.1:{port}" in listening and f"0.0.0.0:{port}" not in listening
    finally:
        proc.terminate()
        proc.wait(timeout=30)
