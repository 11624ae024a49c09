"""The everyday commands work as README.md says."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

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


def test_setup_turns_off_jupyterlabs_news_prompt():
    import json

    assert course("setup").returncode == 0
    overrides = json.loads((ROOT / ".venv/share/jupyter/lab/settings/overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"


def test_setup_registers_an_extra_kernel_without_the_kernelspec_may_not_be_found_warning():
    extra = sorted(p.parent for p in (ROOT / "envs").glob("*/uv.lock"))
    if not extra:
        pytest.skip("no extra environment: only the main kernel, which ipykernel never warns about")
    stamp = extra[0] / ".venv" / ".course-lock-sha256"
    saved = stamp.read_text()
    stamp.unlink()  # set-up installs this environment again, and registers its kernel
    try:
        result = course("setup")
    finally:
        if not stamp.exists():
            stamp.write_text(saved)
    assert result.returncode == 0, result.stderr
    assert f"installing the mlops-course-{extra[0].name} environment" in result.stderr, "the kernel was registered again"
    assert "may not be found" not in result.stderr and "WARNING" not in result.stderr, result.stderr
    assert (ROOT / f".venv/share/jupyter/kernels/mlops-course-{extra[0].name}/kernel.json").exists()


def test_doctor_command_reports_the_local_tier():
    result = course("doctor", "--tier", "local")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed for the local tier" in result.stdout


def test_run_one_lab_headless_with_a_parameter():
    result = course("run", "solutions/00-environment-check.ipynb", "-p", "n_rows", "3210")
    assert result.returncode == 0, result.stdout + result.stderr
    executed = nbformat.read(ROOT / ".work/runs/00-environment-check.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "n_rows = 3210" in injected[0].source
    outputs = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "3210 trips written" in outputs


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
        # No news prompt: the course's override is what JupyterLab serves as the default.
        notification = get("/lab/api/settings/@jupyterlab/apputils-extension:notification")
        assert notification["schema"]["properties"]["fetchNews"]["default"] == "false"
        assert get("/api/contents/labs/00-environment-check.ipynb?content=0")["type"] == "notebook"
        if shutil.which("ss"):  # Linux: ask the kernel which address the server is bound to
            listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
            assert f"127.0.0.1:{port}" in listening and f"0.0.0.0:{port}" not in listening
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- CI cannot go green by skipping ---------------------------------------------------------


def _shim(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


def _provisioning_run(tmp_path, packages_installed: bool):
    """``COURSE_PROVISION=1 scripts/course test`` on a machine where nothing can be provisioned:
    commands on PATH that fail as a broken machine's would, and an offline cluster that cannot
    start (its real script, with a scratch state folder and a memory floor no machine has).
    The running Docker daemon and its files are never touched."""
    import os
    import re

    shims = tmp_path / "bin"
    shims.mkdir()
    kind_version = re.search(r'KIND_VERSION="?(v[\d.]+)', (ROOT / "cluster/kind/cluster.sh").read_text()).group(1)
    _shim(shims, "docker", "exit 1")  # no daemon answers `docker info`
    _shim(shims, "kubectl", "echo 'The connection to the server localhost:8080 was refused' >&2; exit 1")
    _shim(shims, "kind", f"echo 'kind {kind_version} go1.24 linux/amd64'")
    _shim(shims, "dpkg-query", "printf 'install ok installed'" if packages_installed else "exit 1")
    _shim(shims, "apt-get", "echo 'E: Unable to locate package (planted)' >&2; exit 100")
    _shim(shims, "dockerd", "echo 'failed to start daemon: planted failure' >&2; exit 1")
    # Not this run's provisioning: the outer `scripts/course test` may still be bringing its cluster up.
    outer = ("COURSE_PROVISIONING", "COURSE_COMPONENTS", "COURSE_REQUIRED_TIERS")
    env = {
        **{k: v for k, v in os.environ.items() if k not in outer},
        "PATH": f"{shims}:{os.environ['PATH']}",
        "COURSE_PROVISION": "1",
        "COURSE_PROVISIONING_DIR": str(tmp_path / "provisioning"),
        "COURSE_DOCKERD_WAIT_SECONDS": "1",
        "COURSE_DOCKERD_PID_FILE": str(tmp_path / "dockerd.pid"),
        "COURSE_DOCKERD_LOG": str(tmp_path / "dockerd.log"),
        "COURSE_TIER_REPORT": str(tmp_path / "tier-report.json"),
        "CLUSTER_STATE": str(tmp_path / "cluster-state"),
        "CLUSTER_MIN_MEMORY_MIB": str(10**9),
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
    }
    result = subprocess.run([str(COURSE), "test", "tests/test_layout.py", "-q"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    return result, re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


def test_ci_fails_when_dockerd_never_answers_and_the_offline_cluster_cannot_start(tmp_path):
    result, out = _provisioning_run(tmp_path, packages_installed=True)
    assert result.returncode != 0, out
    assert "provisioning failed: the docker tier: dockerd did not answer in 1 s" in out
    assert "failed to start daemon: planted failure" in out, "the message quotes dockerd's last log line"
    assert "provisioning failed: the cluster tier: cluster/offline/cluster.sh up failed:" in out
    assert "CI FAILURE: provisioning did not bring up what this run was to test" in out
    assert re.search(r"\d+ passed", result.stdout), "the rest of the suite still runs"
    assert "tier      state" in result.stdout and "static    run" in result.stdout, "the tier table is printed"
    assert not (tmp_path / "cluster-state").exists()


def test_ci_fails_when_the_packages_a_tier_needs_cannot_be_installed(tmp_path):
    result, out = _provisioning_run(tmp_path, packages_installed=False)
    assert result.returncode != 0, out
    assert "provisioning failed: the docker tier: could not install docker.io debootstrap iptables with apt-get" in out
    assert "provisioning failed: the cluster tier: could not install containerd" in out
    assert "the tier will be skipped" not in out


def test_a_required_tier_that_is_skipped_fails_the_session_and_the_table_says_which(tmp_path):
    import json
    import os
    import sys

    env = {**os.environ, "COURSE_REQUIRED_TIERS": "cluster", "COURSE_TIER_REPORT": str(tmp_path / "report.json"),
           "KUBECONFIG": str(tmp_path / "no-kubeconfig")}
    env.pop("COURSE_PROVISION", None)
    result = subprocess.run([sys.executable, "-m", "pytest", "tests/test_layout.py", "-q"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILURE: the cluster tier was to be tested here and was skipped" in result.stdout
    rows = {r["tier"]: r for r in json.loads((tmp_path / "report.json").read_text())}
    assert rows["cluster"]["state"] == "skipped" and rows["cluster"]["required"]
    assert rows["static"]["passed"] >= 1 and rows["static"]["failed"] == 0
    table = subprocess.run([sys.executable, str(ROOT / "tests/conftest.py"), str(tmp_path / "report.json")],
                           capture_output=True, text=True).stdout
    assert "cluster   skipped!" in table and "FAILURE: the cluster tier was to be tested here" in table
    env["COURSE_REQUIRED_TIERS"] = ""
    again = subprocess.run([sys.executable, "-m", "pytest", "tests/test_layout.py", "-q"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, "the same session passes when no tier is required"


def test_the_tier_table_counts_notebook_cells_in_their_tier(tmp_path):
    import json
    import os
    import sys

    env = {**os.environ, "COURSE_TIER_REPORT": str(tmp_path / "report.json")}
    env.pop("COURSE_PROVISION", None)
    env.pop("COURSE_REQUIRED_TIERS", None)
    notebook = "solutions/00-environment-check.ipynb"
    result = subprocess.run([sys.executable, "-m", "pytest", "tests/test_layout.py", notebook, "-q"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cells = sum(1 for c in json.loads((ROOT / notebook).read_text())["cells"] if c["cell_type"] == "code")
    rows = {r["tier"]: r for r in json.loads((tmp_path / "report.json").read_text())}
    assert rows["local"]["passed"] == cells, "every code cell of the local lab is counted in the local tier"
    assert rows["static"]["passed"] >= 1


def test_a_required_tier_that_ran_no_test_is_a_failure():
    import conftest

    counts = {"docker": {"passed": 3, "failed": 0, "skipped": 0}}
    rows = conftest.tier_report(counts, {"local": None, "docker": None, "cluster": None, "kubeflow": None}, ["docker", "cluster"])
    assert [r["tier"] for r in conftest.unready_required(rows)] == ["cluster"]
    assert "FAILURE: the cluster tier was to be tested here (COURSE_REQUIRED_TIERS) and ran no test" in conftest.format_tier_report(rows)


def test_the_test_run_reports_each_lab_that_passed_with_its_runtime_and_budget():
    import conftest

    counter = conftest.TierCounter()
    for phase, seconds in (("setup", 4.0), ("call", 1.5)):
        counter.add_lab_time("solutions/01-reproducible-training.ipynb::Cell 0", seconds, "passed")
    counter.add_lab_time("solutions/01-reproducible-training.ipynb::Cell 1", 300.0, "passed")
    counter.add_lab_time("solutions/00-environment-check.ipynb::Cell 0", 2.0, "passed")
    counter.add_lab_time("solutions/00-environment-check.ipynb::Cell 1", 0.1, "failed")
    counter.add_lab_time("tests/test_layout.py::test_layout_from_course_md", 9.0, "passed")
    runtimes = conftest.lab_runtimes(counter, "2026-12-03")
    assert list(runtimes) == ["01-reproducible-training"], "a lab with a failing cell has no runtime; tests are no labs"
    run = runtimes["01-reproducible-training"]
    assert run["seconds"] == 305.5 and run["tier"] == "local" and run["date"] == "2026-12-03"
    table = conftest.format_lab_runtimes(runtimes)
    assert ("OVER BUDGET" in table) == (305.5 > run["budget_seconds"])


def _bench():
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import bench

    return bench


def test_bench_table_reads_a_rate_as_a_floor_and_a_latency_as_a_ceiling():
    table = _bench().table([("server: throughput (requests/s)", 12.0, 20), ("server: p50 latency (ms)", 12.0, 50),
                            ("book build", 70.0, 60)])
    assert "| server: throughput | 12.0 requests/s | at least 20 requests/s | UNDER TARGET |" in table
    assert "| server: p50 latency | 12.0 ms | 50 ms | ok |" in table
    assert "| book build | 70.0 s | 60 s | OVER TARGET |" in table


@pytest.mark.local
def test_bench_loads_the_model_server_on_loopback_and_reports_latency_and_throughput():
    from mlops_course import serving

    bench, rows = _bench(), []
    summaries = bench.bench_serving(rows, requests=30, seconds=5)
    assert len(summaries) == 3, summaries
    for label, summary in summaries.items():
        assert summary["errors"] == 0 and 0 < summary["requests"] <= 30, (label, summary)
        assert 0 < summary["p50 (ms)"] <= summary["p99 (ms)"], (label, summary)
    assert [what for what, *_ in rows if "throughput" in what][-1].endswith("(trips/s)")
    assert bench.table(rows).count("p99 latency") == 3
    assert serving.stop_all("bench") == [], "the bench stops the server it started"


# --- a tier provisioned beside the tests -----------------------------------------------------


def _provisioning_folder(tmp_path, monkeypatch, provisioner):
    folder = tmp_path / "provisioning"
    folder.mkdir()
    (folder / "tiers").write_text("cluster kubeflow\n")
    (folder / "pid").write_text(str(provisioner.pid))
    (folder / "log").write_text("[cluster] building\n")
    monkeypatch.setenv("COURSE_PROVISIONING", str(folder))
    return folder


def test_the_first_test_of_a_tier_waits_for_its_provisioning_and_shows_the_log(tmp_path, monkeypatch):
    import threading

    import conftest

    provisioner = subprocess.Popen(["sleep", "30"])
    try:
        folder = _provisioning_folder(tmp_path, monkeypatch, provisioner)

        def provision():
            time.sleep(1.5)
            with (folder / "log").open("a") as log:
                log.write("[cluster] cluster ready in 1 s\n")
            (folder / "cluster").write_text("ready: the offline cluster\n")

        threading.Thread(target=provision).start()
        lines: list[str] = []
        waiting = conftest.Provisioning()
        start = time.monotonic()
        waiting.wait("docker", lines.append)
        assert lines == [] and time.monotonic() - start < 1, "a tier nobody provisions is not waited for"
        waiting.wait("cluster", lines.append)
        assert time.monotonic() - start >= 1.5, "it returned before the tier's file was written"
        assert lines[0].startswith("[course] the cluster tier is being provisioned beside the tests: waiting")
        assert lines[1:3] == ["[cluster] building", "[cluster] cluster ready in 1 s"]
        assert lines[3].startswith("[course] the cluster tier: ready: the offline cluster (waited ")
        waiting.wait("cluster", lines.append)
        assert len(lines) == 4, "the second test of the tier does not wait or print again"
    finally:
        provisioner.kill()
        provisioner.wait()


def test_a_test_that_needs_some_components_waits_for_those_only(tmp_path, monkeypatch):
    import threading

    import conftest

    provisioner = subprocess.Popen(["sleep", "30"])
    try:
        folder = _provisioning_folder(tmp_path, monkeypatch, provisioner)
        (folder / "cluster").write_text("ready: the offline cluster\n")
        (folder / "kubeflow.metrics-server").write_text("ready: metrics-server, 9 s after the components started\n")

        def provision():
            time.sleep(1.5)
            (folder / "kubeflow.katib").write_text("ready: katib, 300 s after the components started\n")

        threading.Thread(target=provision).start()
        lines: list[str] = []
        waiting = conftest.Provisioning()
        start = time.monotonic()
        waiting.wait("kubeflow", lines.append, ("metrics-server",))
        assert time.monotonic() - start < 1, "a component that is ready is not waited for"
        assert lines[-1].startswith("[course] the kubeflow tier (metrics-server): ready: metrics-server, 9 s after")
        waiting.wait("kubeflow", lines.append, ("metrics-server",))
        shown = len(lines)
        waiting.wait("kubeflow", lines.append, ("metrics-server", "katib"))
        assert time.monotonic() - start >= 1.5, "it returned before Katib's file was written"
        assert lines[shown].startswith("[course] the kubeflow tier (metrics-server, katib) is being provisioned")
        assert lines[-1].startswith("[course] the kubeflow tier (metrics-server, katib): ready: metrics-server, 9 s")
        assert "kubeflow" not in waiting.ended, "the tier's other components may still be installing"
        (folder / "kubeflow").write_text("ready: the components\n")
        waiting.wait("kubeflow", lines.append)
        assert lines[-1].startswith("[course] the kubeflow tier: ready: the components (waited 0 s)")
        assert "kubeflow" in waiting.ended
    finally:
        provisioner.kill()
        provisioner.wait()


def test_a_provisioner_that_died_ends_the_wait_and_says_so(tmp_path, monkeypatch):
    import conftest

    provisioner = subprocess.Popen(["true"])
    provisioner.wait()
    _provisioning_folder(tmp_path, monkeypatch, provisioner)
    lines: list[str] = []
    start = time.monotonic()
    conftest.Provisioning().wait("kubeflow", lines.append)
    assert time.monotonic() - start < 5
    assert lines[-1].startswith("[course] the kubeflow tier: not provisioned (the provisioner ended)")


def test_the_suite_runs_tier_by_tier_so_that_provisioning_can_run_beside_the_first_tiers():
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_PROVISIONING", "COURSE_REQUIRED_TIERS")}
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    assert ids, result.stdout + result.stderr

    def first(prefix):
        return next(i for i, n in enumerate(ids) if n.startswith(prefix))

    def last(prefix):
        return max(i for i, n in enumerate(ids) if n.startswith(prefix))

    assert last("tests/test_workloads.py") < first("solutions/00-environment-check.ipynb"), "static tests first"
    assert last("solutions/09-what-if-analysis.ipynb") < first("tests/test_docker_smoke.py") < first(
        "solutions/02-build-and-run.ipynb"), "local labs, then the docker tier's tests, then its labs"
    assert last("solutions/08-model-server-docker.ipynb") < first("tests/test_cluster_smoke.py"), "docker, then cluster"
    assert last("solutions/06-function-to-job.ipynb") < first("tests/test_kubeflow_platform.py"), "cluster, then kubeflow"
    # The kubeflow tier by component, in installation order, each component's tests before its labs.
    assert last("solutions/04-notebook-server.ipynb") < first("solutions/03-autoscaling.ipynb") < first(
        "tests/test_kubeflow_training.py"), "the StorageClass's labs, then metrics-server's, then the operators'"
    assert last("tests/test_kubeflow_katib.py") < first("solutions/07-katib-experiment.ipynb") < first(
        "tests/test_kubeflow_kserve.py") < first("solutions/08-inference-service.ipynb"), "Katib, then KServe"
    assert ids.index(next(n for n in ids if "test_the_components_this_run_installed_are_ready" in n)) > first(
        "solutions/08-inference-service.ipynb"), "what needs every component comes last"
