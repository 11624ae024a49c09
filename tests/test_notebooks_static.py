"""Every lab notebook follows the template, carries clean outputs, and its
student version is in sync; and each of those checks fails when broken."""

from __future__ import annotations

import copy
import re
import shutil

import pytest
from nbformat.v4 import new_code_cell, new_output

import notebooks

SOLUTION_PATHS = sorted(notebooks.SOLUTIONS.glob("*.ipynb"))
LAB_PATHS = sorted(notebooks.LABS.glob("*.ipynb"))


def test_there_are_labs():
    assert len(SOLUTION_PATHS) >= 2
    assert [p.name for p in SOLUTION_PATHS] == [p.name for p in LAB_PATHS]


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_solution_follows_the_template(path):
    assert notebooks.template_problems(notebooks.read(path)) == []


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_solution_outputs_are_clean(path):
    nb = notebooks.read(path)
    assert notebooks.hygiene_problems(nb, executed=not notebooks.ci_cannot_run(nb)) == []


@pytest.mark.parametrize("path", LAB_PATHS, ids=lambda p: p.name)
def test_student_notebook_is_clean(path):
    nb = notebooks.read(path)
    assert notebooks.hygiene_problems(nb, executed=False) == []
    text = "\n".join(c.source for c in nb.cells)
    assert notebooks.BEGIN not in text and notebooks.END not in text
    assert notebooks.PLACEHOLDER in text


def test_labs_are_in_sync_with_solutions():
    assert notebooks.generate(check=True) == [], "run scripts/course labs"


# --- the checks fail when broken -------------------------------------------------


@pytest.fixture
def solution():
    return notebooks.read(SOLUTION_PATHS[0])


def test_drift_check_fails_when_a_lab_is_edited_or_missing(tmp_path):
    solutions, labs = tmp_path / "solutions", tmp_path / "labs"
    shutil.copytree(notebooks.SOLUTIONS, solutions)
    shutil.copytree(notebooks.LABS, labs)
    assert notebooks.generate(check=True, solutions=solutions, labs=labs) == []

    edited = labs / SOLUTION_PATHS[0].name
    nb = notebooks.read(edited)
    nb.cells[0].source += "\nAn edit made in labs/ instead of solutions/."
    edited.write_text(notebooks.dumps(nb))
    (labs / "99-orphan.ipynb").write_text(notebooks.dumps(nb))
    (labs / SOLUTION_PATHS[1].name).unlink()

    drifted = notebooks.generate(check=True, solutions=solutions, labs=labs)
    assert len(drifted) == 3, drifted
    assert any("99-orphan" in d and "no source" in d for d in drifted)

    notebooks.generate(solutions=solutions, labs=labs)
    assert notebooks.generate(check=True, solutions=solutions, labs=labs) == []


def test_student_version_replaces_solutions_and_drops_outputs(solution):
    student = notebooks.student_version(solution)
    for before, after in zip(solution.cells, student.cells):
        if before.cell_type != "code":
            assert before == after
            continue
        assert after.outputs == [] and after.execution_count is None
        if "solution" in notebooks.tags(before):
            assert notebooks.PLACEHOLDER in after.source
            assert "exercise" in notebooks.tags(after) and "hide-input" not in notebooks.tags(after)


def test_strip_solution_keeps_indentation_and_rejects_unbalanced_markers():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    assert notebooks.strip_solution(source) == f"def f(x):\n    # YOUR CODE HERE\n    {notebooks.PLACEHOLDER}"
    for bad in ("### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION", "### BEGIN SOLUTION\n### BEGIN SOLUTION"):
        with pytest.raises(ValueError):
            notebooks.strip_solution(bad)


def _break(nb, how):
    nb = copy.deepcopy(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if how == "no check cell":
        for c in code:
            c.metadata["tags"] = [t for t in notebooks.tags(c) if t != "check"]
    elif how == "no summary":
        for c in nb.cells:
            if c.cell_type == "markdown":
                c.source = c.source.replace("## Summary", "## Recap")
    elif how == "code in parameters":
        next(c for c in code if "parameters" in notebooks.tags(c)).source += "\nprint('side effect')"
    elif how == "solution shown":
        c = next(c for c in code if "solution" in notebooks.tags(c))
        c.metadata["tags"] = ["solution"]
    elif how == "no tier":
        nb.metadata["course"]["tier"] = "gpu"
    elif how == "no doctor":
        code[0].source = "import pandas"
    elif how == "no time estimate":
        for c in nb.cells:
            if "## Prerequisites" in c.source:
                c.source = "## Prerequisites\n\nSome Python."
    elif how == "check without assert":
        next(c for c in code if "check" in notebooks.tags(c)).source = "print('looks fine')"
    elif how == "no cleanup":
        for c in code:
            c.metadata["tags"] = [t for t in notebooks.tags(c) if t != "cleanup"]
    elif how == "one exercise":
        for c in [c for c in code if "solution" in notebooks.tags(c)][1:]:
            c.metadata["tags"] = [t for t in notebooks.tags(c) if t not in ("solution", "hide-input")]
            c.source = c.source.replace(notebooks.BEGIN, "").replace(notebooks.END, "")
    elif how == "check not stated":
        for c in nb.cells:
            if c.cell_type == "markdown":
                c.source = re.sub(r"(?i)\bcheck", "verification", c.source).replace("assert", "claim")
    elif how == "result not named":
        cells = nb.cells
        first = next(i for i, c in enumerate(cells) if "solution" in notebooks.tags(c))
        check = next(c for c in cells[first:] if "check" in notebooks.tags(c))
        name = sorted(notebooks._solution_results(cells[first].source) & notebooks._asserted(check.source))[0]
        for c in cells[:first]:
            if c.cell_type == "markdown":
                c.source = re.sub(rf"`?\b{name}\b`?", "the result", c.source)
    elif how == "kubeflow require without components":
        nb.metadata["course"].update(tier="kubeflow", components=["katib"])
        code[0].source = code[0].source.replace('doctor.require("local")', 'doctor.require("kubeflow")')
    elif how == "kubeflow without components":
        nb.metadata["course"]["tier"] = "kubeflow"
        nb.metadata["course"].pop("components", None)
    return nb


@pytest.mark.parametrize(
    "how, expected",
    [
        ("no check cell", "no check cell"),
        ("no summary", "Summary"),
        ("code in parameters", "only assignments"),
        ("solution shown", "hide-input"),
        ("no tier", "tier must be one of"),
        ("no doctor", "doctor.require"),
        ("no time estimate", "time estimate"),
        ("check without assert", "must assert"),
        ("no cleanup", "no cleanup cell"),
        ("one exercise", "a lab has 2 to 4"),
        ("check not stated", "must say what its check"),
        ("result not named", "its instruction does not mention `"),
        ("kubeflow without components", "metadata.course.components"),
        ("kubeflow require without components", 'doctor.require("kubeflow", components=['),
    ],
)
def test_template_check_fails_when_broken(solution, how, expected):
    assert notebooks.template_problems(solution) == []
    problems = notebooks.template_problems(_break(solution, how))
    assert any(expected in p for p in problems), problems


def _with_output(nb, text, output_type="stream"):
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    if output_type == "stream":
        cell.outputs.append(new_output("stream", name="stdout", text=text))
    else:
        cell.outputs.append(new_output("error", ename="ValueError", evalue=text, traceback=[]))
    return nb


@pytest.mark.parametrize(
    "text, expected",
    [
        ("saved to /home/alice/course/model.pkl", "home folder"),
        ("saved to /Users/alice/model.pkl", "home folder"),
        (f"opened {notebooks.ROOT}/solutions", "absolute path of the course checkout"),
        ("http://127.0.0.1:8888/lab?token=0123456789abcdef0123", "Jupyter token"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "private key"),
        ("    client-key-data: LS0tLS1CRUdJTi", "kubeconfig credential"),
        ("wrote /tmp/tmpab12cd/data.csv", "temporary-folder"),
        ("x" * (notebooks.MAX_OUTPUT_BYTES + 10), "kB"),
    ],
)
def test_hygiene_check_fails_on_leaks_and_oversize_outputs(solution, text, expected):
    assert notebooks.hygiene_problems(solution, executed=True) == []
    problems = notebooks.hygiene_problems(_with_output(solution, text), executed=True)
    assert any(expected in p for p in problems), problems


def test_hygiene_check_fails_on_errors_reruns_and_student_outputs(solution):
    assert any("error output" in p for p in notebooks.hygiene_problems(_with_output(solution, "boom", "error"), True))
    rerun = copy.deepcopy(solution)
    next(c for c in rerun.cells if c.cell_type == "code").execution_count = 42
    assert any("top-to-bottom" in p for p in notebooks.hygiene_problems(rerun, True))
    student = notebooks.student_version(solution)
    assert notebooks.hygiene_problems(student, executed=False) == []
    assert any("no outputs" in p for p in notebooks.hygiene_problems(_with_output(student, "hi"), executed=False))
    with_run_metadata = copy.deepcopy(solution)
    with_run_metadata.metadata["papermill"] = {"input_path": "x.ipynb"}
    assert any("papermill" in p for p in notebooks.hygiene_problems(with_run_metadata, True))


def test_a_new_code_cell_without_tags_is_fine_but_solution_markers_need_the_tag(solution):
    nb = copy.deepcopy(solution)
    nb.cells.insert(5, new_code_cell("x = 1"))
    assert not any("cell 5" in p for p in notebooks.template_problems(nb))
    nb.cells[5].source = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    assert any("go together" in p for p in notebooks.template_problems(nb))


# --- committed outputs come from the code the notebook runs now ----------------------


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_committed_outputs_come_from_the_current_helpers(path):
    problems = notebooks.stale_problems(notebooks.read(path), path.name)
    assert problems == [], "\n".join(problems)


def test_imports_are_found_through_magics_relative_imports_and_aliases(tmp_path):
    package = tmp_path / "mlops_course"
    package.mkdir()
    for name in ("__init__", "alpha", "beta", "gamma"):
        (package / f"{name}.py").write_text("")
    source = (
        "%matplotlib inline\n!ls\nimport mlops_course.alpha as a\n"
        "from mlops_course import beta, not_a_module\n"
        "text = 'from mlops_course import gamma'  # a string, not an import\n"
    )
    assert notebooks.imported_modules(source, tmp_path) == {"mlops_course", "mlops_course.alpha", "mlops_course.beta"}
    assert notebooks.imported_modules("from . import gamma\nfrom .alpha import x", tmp_path, current="mlops_course.beta") == {
        "mlops_course", "mlops_course.gamma", "mlops_course.alpha"}
    # A cell that is not Python even without its magics: the import lines are still read.
    assert notebooks.imported_modules("from mlops_course import gamma\nif x:\n", tmp_path) == {"mlops_course", "mlops_course.gamma"}


@pytest.fixture
def checkout(tmp_path):
    """A copy of the helper package, to change without touching the real one."""
    shutil.copytree(notebooks.ROOT / "mlops_course", tmp_path / "mlops_course", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_stale_check_fails_when_a_helper_it_reaches_or_the_doctors_checks_change(checkout, monkeypatch):
    path = SOLUTION_PATHS[0]
    nb = copy.deepcopy(notebooks.read(path))
    nb.metadata["course"].pop(notebooks.SOURCE_HASHES, None)
    [missing] = notebooks.stale_problems(nb, path.name, checkout)
    assert f"run scripts/course refresh solutions/{path.name}" in missing

    nb.metadata["course"][notebooks.SOURCE_HASHES] = notebooks.source_hashes(nb, checkout)
    assert notebooks.stale_problems(nb, path.name, checkout) == []
    # Every lab reaches cluster.py only through the doctor, which imports it inside a function.
    assert "mlops_course/cluster.py" in nb.metadata["course"][notebooks.SOURCE_HASHES]
    with open(checkout / "mlops_course" / "cluster.py", "a") as f:
        f.write("\n# a change\n")
    [changed] = notebooks.stale_problems(nb, path.name, checkout)
    assert "mlops_course/cluster.py (changed)" in changed and f"refresh solutions/{path.name}" in changed

    nb.metadata["course"][notebooks.SOURCE_HASHES] = notebooks.source_hashes(nb, checkout)
    # Lab 0's case: a new environment adds a row to the doctor's table without a change to the notebook.
    monkeypatch.setitem(notebooks.doctor.KERNELS, "mlops-course-new", checkout / "envs" / "new" / ".venv")
    rows = notebooks.stale_problems(nb, path.name, checkout)
    assert any("doctor checks (changed)" in p for p in rows), rows
    if notebooks.doctor_tables(nb):  # and its table lacks the new row
        assert any("lacks env mlops-course-new" in p for p in rows), rows


def test_refresh_records_the_hashes_and_the_student_version_drops_them(tmp_path):
    scratch = tmp_path / SOLUTION_PATHS[0].name
    shutil.copy(SOLUTION_PATHS[0], scratch)
    hashes = notebooks.source_hashes(notebooks.read(scratch))
    notebooks.strip_run_metadata(scratch, hashes)
    nb = notebooks.read(scratch)
    assert nb.metadata["course"][notebooks.SOURCE_HASHES] == hashes
    assert notebooks.stale_problems(nb, scratch.name) == []
    assert notebooks.SOURCE_HASHES not in notebooks.student_version(nb).metadata["course"]


def test_five_exercises_are_too_many_and_each_needs_its_check(solution):
    nb = copy.deepcopy(solution)
    exercise = next(i for i, c in enumerate(nb.cells) if "solution" in notebooks.tags(c))
    for _ in range(3):
        nb.cells.insert(exercise, copy.deepcopy(nb.cells[exercise]))
    problems = notebooks.exercise_problems(nb)
    assert any("6 exercise(s)" in p or "5 exercise(s)" in p for p in problems), problems
    assert any("has no check cell after it" in p for p in problems), problems


def test_a_doctor_table_that_lacks_todays_rows_is_stale(solution):
    from mlops_course import doctor

    def with_table(names):
        nb = copy.deepcopy(solution)
        cell = next(c for c in nb.cells if c.cell_type == "code")
        table = doctor.format_table([doctor.Check(n, doctor.OK, "planted") for n in names])
        cell.outputs = [new_output("stream", name="stdout", text=table + "\n\nThe docker tier is ready.\n")]
        return nb

    today = doctor.check_names("docker")
    assert notebooks.doctor_table_problems(with_table(today)) == []
    # Lab 0's case: its committed table predated the TFDV environment and the registry port.
    old = [n for n in today if n not in ("env mlops-course-tfdv", "port 5055")]
    [problem] = notebooks.doctor_table_problems(with_table(old))
    expected = sorted({"port 5055"} | ({"env mlops-course-tfdv"} if "mlops-course-tfdv" in doctor.KERNELS else set()))
    assert f"lacks {', '.join(expected)}, which the doctor checks now" in problem
    [gone] = notebooks.doctor_table_problems(with_table([*today, "gpu"]))
    assert "shows gpu, which the doctor no longer checks" in gone
    stale = with_table(old)
    stale.metadata["course"][notebooks.SOURCE_HASHES] = notebooks.source_hashes(stale)
    assert any("run scripts/course refresh" in p and "lacks" in p for p in notebooks.stale_problems(stale, "x.ipynb"))
