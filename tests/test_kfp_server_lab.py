"""Labs 5b and 5c run lab 5a's pipeline elsewhere: in Docker, and on Kubeflow Pipelines.

Lab 5c (solutions/05-pipelines-kfp-server.ipynb) needs KFP's backend, which
runs only on kind (it cannot be built from Go modules, so the course's CI
cluster does not have it): the notebook is never executed in CI. What CI can
check is here:

- the shared pipeline (``mlops_course.taxi_pipeline``) is lab 5a's, compiled
  to the same spec;
- every pipeline of lab 5c's notebook compiles with the pinned SDK, with the
  components, DAG edges and parameters the lab relies on;
- the pipeline run locally gives the metrics recorded in
  ``taxi_pipeline.EXPECTED``, which lab 5c compares a cluster run with;
- the ML Metadata messages lab 5c reads a Metrics artifact with have ML
  Metadata's field numbers.
"""

import ast
import json
import sys
from pathlib import Path

import pytest
import yaml
from kfp import compiler, local

from mlops_course import components, pipelines, taxi_pipeline

ROOT = Path(__file__).resolve().parents[1]
LAB_5A = ROOT / "solutions" / "05-pipelines-local.ipynb"
LAB_5C = ROOT / "solutions" / "05-pipelines-kfp-server.ipynb"
IMAGE = "mlops-course/05-pipelines-kfp-server:1"


def code_cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def compile_to_dict(pipeline, tmp_path: Path, name: str = "p.yaml") -> dict:
    package = tmp_path / name
    compiler.Compiler().compile(pipeline, package_path=str(package))
    return yaml.safe_load(package.read_text())


def test_the_shared_pipeline_compiles_to_lab_5a_s_spec(tmp_path, monkeypatch):
    # Lab 5a's cells that define the components and the pipeline, as a module (kfp reads a component's source
    # with inspect.getsource, which needs a file), with the parameters cell's values.
    cells = code_cells(LAB_5A)
    params = next(c for c in cells if c.lstrip().startswith("n_rows ="))
    components = next(c for c in cells if "def load_trips(" in c)
    pipeline = next(c for c in cells if "def taxi_pipeline(" in c)
    pipeline = pipeline[: pipeline.index("package = ")]  # the definition, not its compilation
    header = "from typing import List, NamedTuple\nfrom kfp import dsl\nfrom kfp.dsl import Dataset, Input, Metrics, Model, Output\n"
    (tmp_path / "lab5a.py").write_text("\n".join([header, params, components, pipeline]))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("lab5a", None)
    import lab5a

    theirs = compile_to_dict(lab5a.taxi_pipeline, tmp_path, "5a.yaml")
    ours = compile_to_dict(taxi_pipeline.pipeline("python:3.11-slim"), tmp_path, "shared.yaml")
    assert ours == theirs, "mlops_course.taxi_pipeline must stay lab 5a's pipeline"
    assert taxi_pipeline.DEFAULTS == {name: p["defaultValue"] for name, p in theirs["root"]["inputDefinitions"]["parameters"].items()}


def test_the_pipeline_run_locally_gives_the_expected_metrics(tmp_path):
    # The numbers lab 5c (on a cluster) and lab 5b (in Docker) compare their runs with.
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    run = pipelines.run(taxi_pipeline.pipeline("python:3.11-slim"))
    assert run.error is None, run.error
    metrics = run.outputs["metrics"].metadata
    assert set(metrics) == set(taxi_pipeline.EXPECTED)
    assert taxi_pipeline.differences(metrics) == {}, f"the local run scored {metrics}, not taxi_pipeline.EXPECTED"
    assert run.outputs["margin"] == pytest.approx(metrics["baseline_log_loss"] - metrics["log_loss"])
    # and the comparison can fail
    assert set(taxi_pipeline.differences({**metrics, "roc_auc": metrics["roc_auc"] + 0.01})) == {"roc_auc"}
    assert set(taxi_pipeline.differences({})) == set(taxi_pipeline.EXPECTED)


# --- lab 5c: its pipelines compile against the pinned SDK ---------------------------------------


def lab_5c_path() -> Path:
    """Lab 5c's notebook: published without outputs (no CI can install KFP's backend), so this is its test in CI."""
    assert LAB_5C.exists(), "lab 5c's notebook is missing"
    return LAB_5C


def lab_5c_namespace(tmp_path: Path) -> dict:
    """What lab 5c's cells define without a cluster: its parameters, and, from each cell that builds a pipeline,
    its imports, its constants and its pipeline objects (written to a module: kfp reads a component's source
    from a file)."""
    cells = code_cells(lab_5c_path())
    namespace: dict = {}
    params = next(c for c in cells if c.lstrip().startswith("n_rows ="))
    exec(compile(params, "parameters", "exec"), namespace)
    building = [c for c in cells if "@dsl.pipeline" in c or "taxi_pipeline.pipeline(" in c]
    assert building, "lab 5c builds no pipeline"
    for i, cell in enumerate(building):
        keep = [n for n in ast.parse(cell).body
                if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef))
                or (isinstance(n, ast.Assign) and (isinstance(n.value, ast.Constant) or "pipeline(" in ast.unparse(n.value)))]
        module = tmp_path / f"lab5c_{i}.py"
        module.write_text(ast.unparse(ast.Module(body=keep, type_ignores=[])))
        exec(compile(module.read_text(), str(module), "exec"), namespace)
    return namespace


def test_lab_5c_runs_the_shared_pipeline_in_its_own_image(tmp_path):
    lab = lab_5c_namespace(tmp_path)
    assert lab["IMAGE"] == IMAGE
    spec = compile_to_dict(lab["taxi_tips"], tmp_path)
    assert spec["pipelineInfo"]["name"] == lab["PIPELINE"]
    root = spec["root"]
    assert {name: p["defaultValue"] for name, p in root["inputDefinitions"]["parameters"].items()} == {
        "n_rows": lab["n_rows"], "seed": lab["seed"], "learning_rate": lab["learning_rate"]}
    tasks = root["dag"]["tasks"]
    assert set(tasks) == {"load-trips", "split-trips", "train-model", "evaluate-model", "condition-1"}
    edges = {name: sorted(t.get("dependentTasks", [])) for name, t in tasks.items()}
    assert edges == {"load-trips": [], "split-trips": ["load-trips"], "train-model": ["split-trips"],
                     "evaluate-model": ["split-trips", "train-model"], "condition-1": ["evaluate-model", "train-model"]}
    executors = spec["deploymentSpec"]["executors"]
    assert len(executors) == 5
    assert {e["container"]["image"] for e in executors.values()} == {IMAGE}, "every step runs in the lab's image"
    assert not any("pip install" in " ".join(e["container"]["command"]) for e in executors.values()), "no pip step"
    assert root["outputDefinitions"]["artifacts"]["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"


def test_lab_5c_is_never_run_here_and_says_why():
    nb = json.loads(lab_5c_path().read_text())
    course = nb["metadata"]["course"]
    assert course["tier"] == "kubeflow" and course["components"] == ["kfp"]
    assert "kfp" in components.COMPONENTS and components.COMPONENTS["kfp"].clusters == ("kind",)
    told = ["".join(c["source"]) for c in nb["cells"] if "not-run-in-ci" in c["metadata"].get("tags", [])]
    assert len(told) == 1 and "cannot install it" in told[0] and "tests/test_kfp_server_lab.py" in told[0]
    assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), "published without outputs"


def test_a_kubeflow_lab_that_needs_kfp_leaves_the_tier_to_the_others():
    """Lab 5c is skipped on its own: the kubeflow tier's state is what it is without it."""
    import types

    import conftest

    others = [p for p in sorted((ROOT / "solutions").glob("*.ipynb"))
              if conftest.notebook_tier(p) == "kubeflow" and p != LAB_5C]
    assert others, "no other kubeflow lab to compare with"
    items = [types.SimpleNamespace(fspath=p) for p in others]
    assert conftest.kubeflow_reason(items + [types.SimpleNamespace(fspath=LAB_5C)]) == conftest.kubeflow_reason(items)
    assert conftest.kind_only(("kfp",)) and not conftest.kind_only(("katib", "kserve"))


def test_the_skip_reason_says_kfp_cannot_be_built_offline():
    import conftest
    from mlops_course import doctor

    missing = [doctor.Check("component kfp", doctor.FAILURE, "kfp is not installed on this cluster", "run cluster/up kfp")]
    reason = conftest.skip_reason(missing, "kubeflow", ("kfp",))
    assert reason.startswith("kubeflow tier with kfp not ready here: component kfp: kfp is not installed")
    assert "kfp installs on kind only: its backend cannot be built offline" in reason
    katib = [doctor.Check("component katib", doctor.FAILURE, "katib is not installed on this cluster", "run cluster/up katib")]
    assert "offline" not in conftest.skip_reason(katib, "kubeflow", ("katib",)), "only for kind-only components"


# --- ML Metadata's messages ----------------------------------------------------------------------


def test_the_mlmd_request_and_answer_have_ml_metadata_s_field_numbers():
    Request, Response = taxi_pipeline._mlmd_messages()
    # GetArtifactsByIDRequest.artifact_ids = 1 (int64, repeated): tag 0x08, varint
    assert Request(artifact_ids=[7, 300]).SerializeToString() in (b"\x08\x07\x08\xac\x02", b"\x0a\x03\x07\xac\x02")

    def field(number: int, wire: int, payload: bytes) -> bytes:
        return bytes([number << 3 | wire]) + (bytes([len(payload)]) + payload if wire == 2 else payload)

    import struct

    # Value{double_value (2) = 0.8932}, Value{string_value (3) = "x"}, Value{int_value (1) = 5}
    double = field(2, 1, struct.pack("<d", 0.8932))
    entry = field(1, 2, b"roc_auc") + field(2, 2, double)
    entry2 = field(1, 2, b"note") + field(2, 2, field(3, 2, b"x"))
    entry3 = field(1, 2, b"rows") + field(2, 2, field(1, 0, b"\x05"))
    # Artifact{id (1) = 9, type_id (2) = 4 (not in the subset: skipped), uri (3), custom_properties (5)}
    artifact = field(1, 0, b"\x09") + field(2, 0, b"\x04") + field(3, 2, b"minio://mlpipeline/v2/artifacts/m") + \
        field(5, 2, entry) + field(5, 2, entry2) + field(5, 2, entry3)
    answer = field(1, 2, artifact)  # GetArtifactsByIDResponse.artifacts = 1
    assert taxi_pipeline.decode_artifacts(answer) == {
        9: {"uri": "minio://mlpipeline/v2/artifacts/m", "values": {"roc_auc": 0.8932, "note": "x", "rows": 5}}}
    assert Response.FromString(answer).artifacts[0].id == 9


def test_the_image_context_pins_kfp_and_the_course_packages(tmp_path):
    from mlops_course import doctor

    context = taxi_pipeline.image_context(tmp_path / "context", "python:3.11-slim", "05-pipelines-kfp-server")
    pins = dict(line.split("==") for line in (context / "requirements.txt").read_text().split())
    locked = doctor.locked_packages()
    for name in ("kfp", "numpy", "pandas", "scikit-learn"):
        assert pins[name] == locked[name]
    lines = (context / "Dockerfile").read_text().splitlines()
    assert lines[:2] == ["FROM python:3.11-slim", "LABEL mlops-course.lab=05-pipelines-kfp-server"]
    assert "ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1" in lines
    assert sorted(p.name for p in (context / "mlops_course").iterdir()) == sorted(taxi_pipeline.MODULES)
    # each step is a new container: the image carries the bytecode, or every step compiles its imports again
    assert "RUN uv pip install --compile-bytecode -r /opt/requirements.txt" in lines
    assert f"RUN python3 -m compileall -q {taxi_pipeline.COURSE_DIR}" in lines
