"""mlops_course.packaging without a cluster: the build context it writes (run here with this Python), what it refuses
and why, the Job it writes and how mutators edit it, and its messages for a missing daemon, a missing cluster and a
failed build (the last one against the real daemon, skipped with the doctor's reason where there is none)."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_course import containers, doctor, packaging

LAB = "test-packaging"


def train_small(n_rows: int = 600, seed: int = 7, learning_rate: float = 0.1) -> dict:
    """The course model on a few rows: what lab 6a ships, smaller."""
    from mlops_course import data, model, split

    trips = data.generate_trips(n_rows, seed=seed)
    assigned = split.hash_split(trips["trip_id"]).to_numpy()
    fitted = model.train(trips[assigned == "train"], seed=seed, learning_rate=learning_rate, max_iter=20)
    return model.evaluate(fitted, trips[assigned == "valid"])


def decorated(function):
    return function


@decorated
def shout(word: str = "hello") -> str:
    return word.upper()


def returns_a_set() -> set:
    return {1, 2}


GLOBAL_ROWS = 100


def uses_a_global() -> int:
    import math as m

    return m.floor(GLOBAL_ROWS / 3)


def default_from_outside(n=GLOBAL_ROWS):
    return n


def run_runner(context: packaging.Context, arguments: dict | None = None) -> subprocess.CompletedProcess:
    """The context's runner, run by this Python in the context folder, as the image's entrypoint runs it."""
    args = [json.dumps(arguments)] if arguments is not None else []
    return subprocess.run([sys.executable, "runner.py", *args], cwd=context.folder, capture_output=True, text=True,
                          timeout=120)


# --- stage 1: the build context -----------------------------------------------------------


def test_the_context_holds_the_function_a_runner_the_modules_pins_and_a_dockerfile(tmp_path):
    context = packaging.preprocess(train_small, tmp_path / "ctx", LAB, {"n_rows": 600})
    written = sorted(str(p.relative_to(context.folder)) for p in context.folder.rglob("*") if p.is_file())
    assert written == sorted(context.files)
    assert {"function.py", "runner.py", "requirements.txt", "Dockerfile", "mlops_course/model.py",
            "mlops_course/data.py", "mlops_course/split.py", "mlops_course/__init__.py"} <= set(written)
    assert "def train_small(n_rows: int = 600" in context.files["function.py"]
    pins = dict(line.split("==") for line in context.requirements)
    locked = doctor.locked_packages()
    assert {"numpy", "pandas", "scikit-learn"} <= set(pins)
    assert all(pins[name] == locked[name] for name in pins), "every requirement is pinned to uv.lock's version"
    dockerfile = context.files["Dockerfile"]
    assert dockerfile.startswith(f"FROM {containers.BASE_IMAGE}\n")
    assert containers.dockerfile_labels_lab(dockerfile, LAB), "the lab's label, for cleanup, right after FROM"
    assert dockerfile.index("RUN uv pip install -r requirements.txt") < dockerfile.index("COPY . ."), "packages before code"
    assert packaging.tag_is_content_hash(context.tag) and context.tag.startswith("mlops-course/fn-train-small:")


def test_the_runner_calls_the_function_with_json_arguments_and_prints_its_result(tmp_path):
    context = packaging.preprocess(train_small, tmp_path / "ctx", LAB)
    done = run_runner(context, {"n_rows": 600, "seed": 7})
    assert done.returncode == 0, done.stderr
    result = packaging.parse_result(done.stdout)
    assert result == train_small(600, 7), "the packaged function computes what the notebook's does"
    assert 0.5 < result["roc_auc"] <= 1


def test_the_tag_follows_the_code_not_the_arguments(tmp_path):
    first = packaging.preprocess(train_small, tmp_path / "a", LAB, {"n_rows": 600})
    again = packaging.preprocess(train_small, tmp_path / "b", LAB, {"n_rows": 900, "learning_rate": 0.3})
    other = packaging.preprocess(shout, tmp_path / "c", LAB)
    fewer = packaging.preprocess(train_small, tmp_path / "d", LAB, packages=["numpy", "pandas"])
    assert first.tag == again.tag, "arguments travel in the Job, not in the image"
    assert other.tag != first.tag and fewer.digest != first.digest


def test_decorators_are_left_out_of_the_shipped_source(tmp_path):
    context = packaging.preprocess(shout, tmp_path / "ctx", LAB, modules=(), packages=[])
    assert "@decorated" not in context.files["function.py"] and "def shout" in context.files["function.py"]
    assert not any(name.startswith("mlops_course/") for name in context.files)
    assert context.requirements == [] and context.files["requirements.txt"] == "\n"
    done = run_runner(context, {"word": "job"})
    assert packaging.parse_result(done.stdout) == "JOB"


def test_a_result_that_is_not_json_ends_the_runner_with_a_sentence(tmp_path):
    context = packaging.preprocess(returns_a_set, tmp_path / "ctx", LAB, modules=(), packages=[])
    done = run_runner(context)
    assert done.returncode == 1
    assert done.stderr.strip() == ("returns_a_set returned a set, which is not JSON: return numbers, strings, lists or "
                                   "dicts (write models and files to a volume)")


# --- stage 1: what it refuses ---------------------------------------------------------------


@pytest.mark.parametrize("function, names", [(uses_a_global, "GLOBAL_ROWS"), (default_from_outside, "GLOBAL_ROWS")])
def test_a_function_that_needs_the_notebook_is_refused_before_any_build(tmp_path, function, names):
    with pytest.raises(packaging.PackagingError) as error:
        packaging.preprocess(function, tmp_path / "ctx", LAB)
    assert str(error.value).startswith(f"{function.__name__} uses {names} from outside the function: import or define it "
                                       f"inside {function.__name__}")
    assert not (tmp_path / "ctx").exists(), "nothing is written for a function that cannot run alone"


def test_names_imported_or_assigned_inside_and_builtins_are_not_outside():
    source = packaging.function_source(train_small)
    assert packaging.outside_names(source, "train_small") == []
    nested = "def f(rows):\n    import json\n    total = sum(len(r) for r in rows)\n    return json.dumps([x for x in rows if x]), total, f\n"
    assert packaging.outside_names(nested, "f") == []
    assert packaging.outside_names("def g():\n    return helper(1) + CONSTANT\n", "g") == ["CONSTANT", "helper"]


def test_lambdas_closures_and_builtins_are_refused_with_what_to_do(tmp_path):
    def outer():
        k = 3

        def inner():
            return k

        return inner

    cases = [
        (lambda: 1, "a lambda has no name to call in the image: define the function with def"),
        (outer(), "inner uses k from the function it is defined in: define it at the top level of a cell, and pass "
                  "those values as arguments"),
        (len, "len is not a Python function (a builtin_function_or_method): package a function defined with def"),
    ]
    for function, message in cases:
        with pytest.raises(packaging.PackagingError) as error:
            packaging.preprocess(function, tmp_path / "ctx", LAB)
        assert str(error.value) == message


@pytest.mark.parametrize("arguments, says", [
    ({"rows": 5}, "train_small cannot take these arguments (got an unexpected keyword argument 'rows'): its signature is "
                  "train_small(n_rows"),
    ({"learning_rate": math.nan}, "the argument learning_rate=nan does not travel as JSON unchanged"),
    ({"n_rows": Path("rows.csv")}, "the argument n_rows=PosixPath('rows.csv') does not travel as JSON unchanged"),
    ({"seed": (1, 2)}, "the argument seed=(1, 2) does not travel as JSON unchanged"),
])
def test_arguments_are_checked_against_the_signature_and_for_json(tmp_path, arguments, says):
    with pytest.raises(packaging.PackagingError) as error:
        packaging.preprocess(train_small, tmp_path / "ctx", LAB, arguments)
    assert str(error.value).startswith(says)


def test_packages_and_modules_the_course_does_not_have_are_named(tmp_path):
    with pytest.raises(packaging.PackagingError) as error:
        packaging.preprocess(train_small, tmp_path / "ctx", LAB, packages=["torch"])
    assert str(error.value).startswith("torch is not in uv.lock: the image installs only packages pinned in the course lock")
    with pytest.raises(packaging.PackagingError) as error:
        packaging.preprocess(train_small, tmp_path / "ctx", LAB, modules=["model", "no_such_module"])
    assert str(error.value).startswith("there is no course module mlops_course.no_such_module: name one of ")
    assert "model" in str(error.value)


# --- stage 3: the Job, mutators and messages --------------------------------------------------


def test_the_job_runs_the_image_once_with_the_arguments_on_its_command_line():
    job = packaging.job_manifest("mlops-course/fn-train-small:0123456789ab", "train_small", LAB, {"n_rows": 600})
    assert job["metadata"]["generateName"] == "train-small-"
    assert job["metadata"]["labels"] == {containers.LABEL: LAB, packaging.FUNCTION_LABEL: "train-small"}
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["restartPolicy"] == "Never" and container["imagePullPolicy"] == "IfNotPresent"
    assert json.loads(container["args"][0]) == {"n_rows": 600} and "command" not in container
    assert packaging.job_manifest("x:1", "f", LAB, name="f-1")["metadata"] == {"name": "f-1", "labels": {
        containers.LABEL: LAB, packaging.FUNCTION_LABEL: "f"}}


def test_mutators_edit_a_copy_of_the_pod_template_in_order():
    job = packaging.job_manifest("x:1", "f", LAB)

    def memory(template):
        template["spec"]["containers"][0]["resources"]["limits"]["memory"] = "512Mi"

    def team(template):
        template["metadata"]["labels"]["team"] = "taxi"
        template["spec"]["containers"][0].setdefault("env", []).append({"name": "TEAM", "value": "taxi"})

    def replace(template):
        return {**template, "spec": {**template["spec"], "priorityClassName": "batch"}}

    mutated = packaging.mutate(job, [memory, team, replace])
    pod = mutated["spec"]["template"]
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
    assert pod["metadata"]["labels"]["team"] == "taxi" and pod["spec"]["priorityClassName"] == "batch"
    assert pod["spec"]["containers"][0]["env"] == [{"name": "TEAM", "value": "taxi"}]
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "1Gi", "the original stays"

    with pytest.raises(packaging.PackagingError) as error:
        packaging.mutate(job, [lambda template: "memory: 1Gi"])
    assert "returned str: edit the pod template in place and return None" in str(error.value)


def test_a_failed_job_is_one_message_with_the_reason_the_fix_and_the_log():
    message = packaging.failure_message("train-small-x1", "BackoffLimitExceeded", "train-small-x1-abcde", "Error",
                                        "exit code 1", ["Traceback (most recent call last):",
                                                        "ValueError: unknown model kind 'forest'"])
    first, *rest = message.splitlines()
    assert first == ("Job train-small-x1 failed (BackoffLimitExceeded): its pod train-small-x1-abcde ended with Error, "
                     "exit code 1. Fix: the function raised an exception: its log's last lines say which; fix it in the "
                     "notebook and run again.")
    assert rest[-1] == "    ValueError: unknown model kind 'forest'"
    oom = packaging.failure_message("j", "", "p", "OOMKilled", "exit code 137", [])
    assert "used more memory than its limit" in oom and "\n" not in oom


def test_the_pod_reason_comes_from_its_container_state():
    terminated = {"status": {"containerStatuses": [{"state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}}
    waiting = {"status": {"containerStatuses": [{"state": {"waiting": {"reason": "ErrImageNeverPull",
                                                                         "message": "image not present"}}}]}}
    evicted = {"status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"}}
    assert packaging.pod_reason(terminated) == ("OOMKilled", "exit code 137")
    assert packaging.pod_reason(waiting) == ("ErrImageNeverPull", "image not present")
    assert packaging.pod_reason(evicted) == ("Evicted", "low on memory")
    assert "ErrImageNeverPull" in packaging.HOPELESS


def test_the_result_is_read_from_the_runners_last_marked_line():
    log = f"training...\n{packaging.RESULT_MARKER}{{\"a\": 1}}\nbye\n"
    assert packaging.parse_result(log) == {"a": 1}
    assert packaging.parse_result("no result here\n") is None


# --- no daemon, no cluster --------------------------------------------------------------------


def test_no_docker_daemon_is_one_sentence_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    context = packaging.preprocess(shout, tmp_path / "ctx", LAB, modules=(), packages=[])
    with pytest.raises(containers.DaemonUnavailable) as error:
        packaging.build(context, LAB)
    assert error.value.kind == "no-daemon"
    assert str(error.value).startswith("No Docker daemon answers at unix://") and "Fix: start one." in str(error.value)


def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_cluster_that_does_not_answer_is_one_message_with_the_fix(tmp_path, monkeypatch):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed here (the next test covers that)")
    kubeconfig = tmp_path / "config"
    port = unused_port()
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: gone, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: nobody, user: {{token: none}}}}]
contexts: [{{name: gone, context: {{cluster: gone, user: nobody}}}}]
current-context: gone
""")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    with pytest.raises(packaging.ClusterUnavailable) as error:
        packaging.deploy("x:1", "f", "default", LAB)
    message = str(error.value)
    assert message.startswith(f"No Kubernetes cluster answers at https://127.0.0.1:{port} (")
    assert "refused" in message and message.endswith("cluster/up and check it with cluster/status (or point "
                                                                 "KUBECONFIG at yours), then rerun the notebook.")


def test_no_kubectl_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(packaging.ClusterUnavailable) as error:
        packaging.require_cluster()
    assert str(error.value).startswith("kubectl is not installed: install it")


# --- a failing build, against the real daemon ---------------------------------------------------

@pytest.mark.docker
def test_a_failing_build_names_the_step_and_its_last_lines(tmp_path):
    context = packaging.preprocess(shout, tmp_path / "ctx", LAB, modules=(), packages=[])
    dockerfile = context.folder / "Dockerfile"
    lines = dockerfile.read_text().splitlines()
    lines.insert(2, "RUN python3 -c \"print('checking the data'); raise SystemExit('no rows to train on')\"")
    dockerfile.write_text("\n".join(lines) + "\n")
    client = containers.connect()
    try:
        with pytest.raises(containers.BuildError) as error:
            packaging.build(context, LAB, client, load=False)
        message = str(error.value)
        assert message.startswith(f"building {context.tag} failed at step 3/")
        assert "returned a non-zero code: 1" in message
        shown = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in error.value.log_tail]
        assert "checking the data" in shown and "no rows to train on" in shown, "the step's own output, not only its line"
    finally:
        containers.cleanup(LAB, client)


# --- the three stages against the real daemon and the real cluster ------------------------------

NAMESPACE = "test-packaging"


@pytest.mark.docker
@pytest.mark.cluster
def test_a_function_runs_as_a_job_and_a_failing_one_ends_in_one_message(tmp_path):
    from mlops_course import cluster

    client = containers.connect()
    cluster.fresh_namespace(NAMESPACE, LAB)
    try:
        context, image, run = packaging.run(shout, NAMESPACE, LAB, {"word": "job"}, folder=tmp_path / "ctx",
                                            client=client, modules=(), packages=[])
        assert run.result == "JOB", run.log
        assert run.pod_spec["containers"][0]["image"] == image.tag == context.tag
        assert packaging.build(context, LAB, client).loaded == "", "an image already on the node is not loaded again"

        # The function raises in the pod: the Job fails at once (backoffLimit 0), and deploy says why.
        with pytest.raises(packaging.JobFailed) as failed:
            packaging.deploy(image.tag, "shout", NAMESPACE, LAB, {"word": 3})
        first, *rest = str(failed.value).splitlines()
        assert first.startswith(f"Job {failed.value.job} failed (BackoffLimitExceeded): its pod {failed.value.job}-")
        assert failed.value.reason == "Error" and "exit code 1. Fix: the function raised an exception" in first
        assert "AttributeError: 'int' object has no attribute 'upper'" in failed.value.log_tail[-1]

        # An image the node does not have: the pod never starts, and deploy says so instead of waiting it out.
        with pytest.raises(packaging.JobFailed) as missing:
            packaging.deploy("mlops-course/fn-never-built:000000000000", "shout", NAMESPACE, LAB, timeout=180)
        assert missing.value.reason in {"ErrImagePull", "ImagePullBackOff"}, str(missing.value)
        assert "load it into the cluster" in str(missing.value)
    finally:
        cluster.delete_namespace(NAMESPACE)
        containers.cleanup(LAB, client)


# --- the lab does each stage by hand before the helper does it ------------------------------------

BY_HAND = [
    ("inspect.getsource(train_taxi_model)", "train.py"),
    ("client.images.build(path=str(context), tag=TAG", "docker build"),
    ("cluster.load_images(TAG)", "kind load docker-image"),
    ("batch.create_namespaced_job(namespace, yaml.safe_load(JOB))", "kubectl create -f job.yaml"),
    ("watcher.stream(batch.list_namespaced_job", "kubectl wait --for=condition=complete"),
    ("core.read_namespaced_pod_log(", "kubectl logs"),
]


LAB_6A = packaging.paths.REPO_ROOT / "solutions" / "06-function-to-job.ipynb"


def lab_cells() -> list[tuple[list[str], str]]:
    cells = json.loads(LAB_6A.read_text())["cells"]
    return [(c["metadata"].get("tags", []), "".join(c["source"])) for c in cells if c["cell_type"] == "code"]


@pytest.mark.parametrize("call, cli", BY_HAND)
def test_the_lab_makes_each_stages_calls_itself_with_the_command_beside_them(call, cli):
    lesson = [source for tags, source in lab_cells() if "solution" not in tags]
    cell = next((source for source in lesson if call in source), None)
    assert cell is not None, f"no lesson cell of lab 6a calls {call} itself"
    assert cli in cell, f"the cell with {call} does not show {cli}"
    first_helper = next(i for i, source in enumerate(lesson) if "packaging.run(" in source)
    assert lesson.index(cell) < first_helper, "by hand first, then the helper"
