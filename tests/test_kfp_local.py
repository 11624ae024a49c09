"""What Part 5 says about the pinned kfp (2.17.x) and its local runner, kept true.

Lab 5a and book/05-pipelines.md make claims about how ``kfp.local`` behaves:
which control flow it runs, what its cache re-uses, what it does with a
condition it cannot evaluate, and which v1 calls are gone. Each test below
runs the real SDK (SubprocessRunner in this environment, no mocks), so a kfp
upgrade that changes one of these behaviours fails here, before the chapter
says something untrue.

The components live at module level: the SDK reads a component's source with
``inspect.getsource``, which needs a file.
"""

# no "from __future__ import annotations": kfp reads the components' type hints as objects

import math
import warnings
from importlib import metadata
from pathlib import Path
from typing import List

import pytest
import yaml
from kfp import compiler, dsl, local
from kfp.dsl import Input, Metrics, Model, Output

from mlops_course import pipelines

BASE = dict(base_image="python:3.11-slim", install_kfp_package=False)


@dsl.component(**BASE)
def as_number(text: str) -> float:
    return float(text)


@dsl.component(**BASE)
def decide(decision: str) -> str:
    return decision


@dsl.component(**BASE)
def scored(seed: int, model: Output[Model], metrics: Output[Metrics]) -> float:
    with open(model.path, "w") as f:
        f.write(str(seed))
    metrics.log_metric("score", seed / 10)
    return seed / 10


@dsl.component(**BASE)
def plain(seed: int, model: Output[Model]) -> float:
    with open(model.path, "w") as f:
        f.write(str(seed))
    return seed / 10


@dsl.component(**BASE)
def best_of(values: List[float], models: Input[List[Model]]) -> str:
    index = max(range(len(values)), key=values.__getitem__)
    return f"{values[index]} {open(models[index].path).read()} {len(models)}"


@dsl.component(**BASE)
def fail():
    raise RuntimeError("this step fails on purpose")


@dsl.component(**BASE)
def final_state(status: dsl.PipelineTaskFinalStatus) -> str:
    return status.state


@dsl.pipeline(name="gate")
def gate(score: str = "0.8"):
    value = as_number(text=score)
    with dsl.If(value.output > 0.75):
        decide(decision="export")
    with dsl.Else():
        decide(decision="reject")


@dsl.pipeline(name="loop")
def loop(seeds: List[int] = [1, 3, 2]):
    notify = final_state()
    with dsl.ExitHandler(notify):
        with dsl.ParallelFor(seeds, parallelism=2) as seed:
            made = plain(seed=seed)
        best_of(values=dsl.Collected(made.outputs["Output"]), models=dsl.Collected(made.outputs["model"]))


@dsl.pipeline(name="failing")
def failing():
    notify = final_state()
    with dsl.ExitHandler(notify):
        fail()


@dsl.pipeline(name="cached")
def cached(seed: int = 4, other: int = 5):
    plain(seed=seed)
    scored(seed=seed)
    plain(seed=other).set_caching_options(enable_caching=False)


@pytest.fixture
def local_root(tmp_path):
    """kfp.local initialised with a fresh pipeline root; caching as the test asks."""

    def init(enable_caching: bool = False) -> Path:
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path), enable_caching=enable_caching)
        return tmp_path

    return init


def test_the_pinned_kfp_is_2_17():
    # the chapter and the lab describe 2.17.x; a bump must come with a fresh look at them
    assert metadata.version("kfp").startswith("2.17.")


def test_a_condition_that_cannot_be_evaluated_is_false_for_if_and_else(local_root):
    local_root()
    ok = pipelines.run(gate, score="0.8")
    assert ok.error is None and ok.executed() == ["as-number", "decide"]
    low = pipelines.run(gate, score="0.7")
    assert low.error is None and low.executed() == ["as-number", "decide-2"]
    nan = pipelines.run(gate, score="nan")
    assert nan.error is None, "the run still succeeds"
    assert nan.executed() == ["as-number"], "neither branch runs"
    assert len(nan.skipped()) == 2
    assert any("name 'nan' is not defined" in w for w in nan.evaluator_warnings())


def test_a_string_output_compared_with_a_number_compares_as_text(tmp_path):
    # The compiler quotes the number when the left side is a string: then '10' > '9' is false.
    @dsl.pipeline(name="text")
    def text(word: str = "10"):
        with dsl.If(word > 9):
            decide(decision="more")

    compiler.Compiler().compile(text, package_path=str(tmp_path / "text.yaml"))
    tasks = yaml.safe_load((tmp_path / "text.yaml").read_text())["root"]["dag"]["tasks"]
    assert tasks["condition-1"]["triggerPolicy"]["condition"] == "inputs.parameter_values['pipelinechannel--word'] > '9'"


@dsl.component(**BASE)
def double(x: float) -> float:
    return 2 * x


@dsl.pipeline(name="nan-onwards")
def nan_onwards():
    double(x=as_number(text="nan").output)


def test_a_nan_parameter_cannot_pass_to_the_next_step(local_root):
    # a parameter value travels as JSON (protobuf Value), which has no NaN
    local_root()
    with pytest.raises(Exception, match="NaN"):
        pipelines.run(nan_onwards)
    assert math.isnan(float("nan"))


def test_parallel_for_collected_and_exit_handler_run_locally(local_root):
    root = local_root()
    run = pipelines.run(loop)
    assert run.error is None
    ran = run.executed()
    assert ran.count("plain") == 3 and ran.index("best-of") > max(i for i, t in enumerate(ran) if t == "plain")
    assert ran[-1] == "final-state", "the exit task runs last"
    folder = pipelines.run_folders(root, "loop")[-1]
    assert pipelines.executor_output(folder / "best-of")["parameterValues"]["Output"] == "0.3 3 3"
    assert pipelines.executor_output(folder / "final-state")["parameterValues"]["Output"] == "SUCCEEDED"


def test_the_exit_handler_runs_after_a_failure_and_sees_it(local_root):
    root = local_root()
    run = pipelines.run(failing)
    assert run.error is not None and "fail" in run.error
    assert run.executed() == ["fail", "final-state"]
    folder = pipelines.run_folders(root, "failing")[-1]
    assert pipelines.executor_output(folder / "final-state")["parameterValues"]["Output"] == "FAILED"


def test_local_caching_is_off_by_default(local_root):
    local_root()
    first, second = pipelines.run(cached), pipelines.run(cached)
    assert first.cached() == [] and second.cached() == []
    assert sorted(second.executed()) == ["plain", "plain-2", "scored"]


def test_local_caching_skips_a_step_but_not_one_with_metrics_nor_one_that_opted_out(local_root):
    local_root(enable_caching=True)
    first, second = pipelines.run(cached), pipelines.run(cached)
    assert first.cached() == [] and sorted(first.executed()) == ["plain", "plain-2", "scored"]
    assert second.cached() == ["plain"]
    assert sorted(second.executed()) == ["plain-2", "scored"], "Metrics has no file, so its entry is a miss; plain-2 opted out"


def test_caching_options_are_recorded_per_task_in_the_spec(tmp_path):
    path = tmp_path / "cached.yaml"
    compiler.Compiler().compile(cached, package_path=str(path))
    tasks = yaml.safe_load(path.read_text())["root"]["dag"]["tasks"]
    assert tasks["plain"]["cachingOptions"] == {"enableCache": True}
    assert tasks["plain-2"]["cachingOptions"] == {}


def test_a_metrics_artifact_writes_no_file(local_root):
    local_root()
    run = pipelines.run(scored, seed=2)
    assert run.outputs["metrics"].metadata == {"score": 0.2}
    assert not Path(run.outputs["metrics"].path).exists()
    assert Path(run.outputs["model"].path).read_text() == "2"


# --- the v1 API of the study notes, and its v2 replacement (the chapter's migration table) ---


def test_v1_python_component_and_build_python_component_are_gone():
    assert not callable(dsl.python_component), "dsl.python_component is a module in v2, not a decorator"
    assert not hasattr(compiler, "build_python_component")
    import kfp.components

    assert not hasattr(kfp.components, "func_to_container_op")
    assert not hasattr(dsl, "ContainerOp")


def test_v2_compiles_to_yaml_only(tmp_path):
    with pytest.raises(ValueError, match="should end with"):
        compiler.Compiler().compile(gate, package_path=str(tmp_path / "gate.tar.gz"))
    compiler.Compiler().compile(gate, package_path=str(tmp_path / "gate.yaml"))
    spec = yaml.safe_load((tmp_path / "gate.yaml").read_text())
    assert spec["schemaVersion"] == "2.1.0" and "deploymentSpec" in spec


def test_dsl_condition_still_works_but_is_deprecated():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        @dsl.pipeline(name="old-condition")
        def old(score: float = 1.0):
            with dsl.Condition(score > 0.5):
                decide(decision="yes")

    assert any("dsl.Condition is deprecated" in str(w.message) for w in caught)


def test_a_lightweight_component_carries_its_source_and_no_pip_step():
    command = " ".join(decide.component_spec.implementation.container.command)
    assert "def decide(" in command and "pip install" not in command
    with_pip = dsl.component(base_image="python:3.11-slim")(decide.python_func)
    assert "pip install" in " ".join(with_pip.component_spec.implementation.container.command)
